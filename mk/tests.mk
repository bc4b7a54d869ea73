# tests/: the integration suite and its test service, in three builds
# (native against the shared libraries, ASan+UBSan, TSan), and the install
# test.  The sanitizer builds compile libkup/libkupdev from their source
# lists (LIBKUP_SRC, KUPDEV_SRC) straight into each program.
KT_SVC_SRC := tests/svc/kuptest_svc.c
KT_SVC_HDRS := tests/svc/kuptest_proto.h include/kupsvc.h provider/kupsvc_host.h \
	include/kupdev.h include/kup_abi.h
INTEG_SRC := $(sort $(wildcard tests/integ/*.c))
INTEG_HDRS := tests/integ/kit.h tests/kt.h uspace/kup_stat_read.h tests/svc/kuptest_proto.h include/kup.h \
	include/kup_abi.h include/kupdev.h
TESTS_RPATH := -Wl,-rpath,'$$ORIGIN/../lib'

KT_SVC := $(B)/tests/kuptest_svc
INTEG := $(B)/tests/kup_integ
# integ_stat reads a provider's state over its socket (uspace/kup_stat_read.h):
# the native build, linked with libkup.so, compiles the wire code in too.
INTEG_WIRE := uspace/kup_wire.c core/kup_check.c

$(KT_SVC): $(KT_SVC_SRC) $(KT_SVC_HDRS) $(KUPDEV_SO) mk/tests.mk
	@mkdir -p $(dir $@)
	$(CC) $(KUP_CFLAGS) -Iprovider -Itests/svc $(CFLAGS) $(KT_SVC_SRC) -o $@ \
		-L$(B)/lib -lkupdev $(TESTS_RPATH) $(LDLIBS_THR)

$(INTEG): $(INTEG_SRC) $(INTEG_HDRS) $(INTEG_WIRE) uspace/kup_stat_read.h $(LIBKUP_SO) mk/tests.mk
	@mkdir -p $(dir $@)
	$(CC) $(KUP_CFLAGS) -Itests/svc -Itests/integ $(CFLAGS) $(INTEG_SRC) $(INTEG_WIRE) -o $@ \
		-L$(B)/lib -lkup $(TESTS_RPATH) $(LDLIBS_THR)

ALL += $(KT_SVC) $(INTEG)

# $(1): variant (asan, tsan); $(2): its compiler flags; $(3): the compiler.
define kt_sanitized
$(B)/$(1)/kuptest_svc: $(KT_SVC_SRC) $(KT_SVC_HDRS) $(KUPDEV_SRC) $(KUPDEV_HDRS) mk/tests.mk
	@mkdir -p $$(dir $$@)
	$(3) $(KUP_CFLAGS) $(KUPDEV_CPPFLAGS) -Itests/svc $(2) $(KT_SVC_SRC) $(KUPDEV_SRC) \
		-o $$@ $(LDLIBS_THR)

$(B)/$(1)/kup_integ: $(INTEG_SRC) $(INTEG_HDRS) $(LIBKUP_SRC) $(LIBKUP_HDRS) mk/tests.mk
	@mkdir -p $$(dir $$@)
	$(3) $(KUP_CFLAGS) $(KUPDEV_CPPFLAGS) $(LIBKUP_CPPFLAGS) -Itests/svc -Itests/integ $(2) $(INTEG_SRC) \
		$(LIBKUP_SRC) -o $$@ $(LDLIBS_THR)

$(B)/$(1)/kup_echo: examples/echo/kup_echo.c $(EX_HDRS) $(KUPDEV_SRC) $(KUPDEV_HDRS) mk/tests.mk
	@mkdir -p $$(dir $$@)
	$(3) $(KUP_CFLAGS) $(KUPDEV_CPPFLAGS) $(2) $$< $(KUPDEV_SRC) -o $$@ $(LDLIBS_THR)
endef

KT_ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
KT_TSAN_FLAGS := -O1 -g -fsanitize=thread -fno-omit-frame-pointer
# TSan with clang: gcc 12 refuses the core's seq_cst fences under -fsanitize=thread.
KT_TSAN_CC ?= clang
$(eval $(call kt_sanitized,asan,$(KT_ASAN_FLAGS),$(CC)))
$(eval $(call kt_sanitized,tsan,$(KT_TSAN_FLAGS),$(KT_TSAN_CC)))

# The runner starts the service (KUP_BACKEND=kernel: it is already loaded).
KT_RUN = KUPTEST_SVC=$(abspath $(B)/$(1)/kuptest_svc) KUPTEST_ECHO=$(abspath $(2)) \
	tests/integ/run.sh $(abspath $(B)/$(1)/kup_integ)

SUITES += integ integ-asan integ-tsan install
.PHONY: suite-integ suite-integ-asan suite-integ-tsan suite-install

suite-integ: $(INTEG) $(KT_SVC) $(ECHO_PROV)
	@$(call KT_RUN,tests,$(ECHO_PROV))

suite-integ-asan: $(B)/asan/kuptest_svc $(B)/asan/kup_integ $(B)/asan/kup_echo
	@ASAN_OPTIONS=abort_on_error=0:detect_leaks=1:exitcode=23 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	KT_TIMEOUT=60 $(call KT_RUN,asan,$(B)/asan/kup_echo)

suite-integ-tsan: $(B)/tsan/kuptest_svc $(B)/tsan/kup_integ $(B)/tsan/kup_echo
	@TSAN_OPTIONS=halt_on_error=1:exitcode=66:second_deadlock_stack=1 \
	KT_TIMEOUT=90 $(call KT_RUN,tsan,$(B)/tsan/kup_echo)

suite-install:
	@B=$(B) tests/install/run.sh

# kupctl list, stat and top against a provider device (tests/tools/kupctl.sh).
SUITES += kupctl
.PHONY: suite-kupctl
suite-kupctl: $(KUPCTL) $(ECHO_PROV) $(ECHO_CLIENT)
	@tests/tools/kupctl.sh $(KUPCTL) $(ECHO_PROV) $(ECHO_CLIENT)
