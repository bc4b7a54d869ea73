# core/: the protocol engine, and its unit tests.
CORE_TEST := $(B)/tests/test_core

$(CORE_TEST): $(CORE_SRC) uspace/kup_plat.c tests/unit/test_core.c tests/unit/test_stream.c tests/unit/test_turn.c tests/unit/futex_host.h core/*.h include/*.h uspace/kup_plat.h tests/kt.h
	@mkdir -p $(dir $@)
	$(CC) $(KUP_CFLAGS) $(CFLAGS) $(CORE_SRC) uspace/kup_plat.c tests/unit/test_core.c tests/unit/test_stream.c tests/unit/test_turn.c -o $@ $(LDLIBS_THR)

ALL += $(CORE_TEST)
SUITES += unit
.PHONY: suite-unit
suite-unit: $(CORE_TEST)
	KUP_QUIET=1 $(CORE_TEST)
