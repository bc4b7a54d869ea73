# tests/fuzz: libFuzzer harnesses where the input is bytes.
#   fuzz_wire  the provider's socket protocol (kw_recv, on_conn, do_attach)
#   fuzz_ctl   core's kern side against the process's control words and data
# `make fuzz` runs each under libFuzzer (clang) for FUZZ_SECONDS, starting
# from the seed corpus in tests/fuzz/corpus/<harness>; new inputs stay in
# $(B)/fuzz/corpus.  `make test` (suite-fuzz) replays the committed corpus
# through the same harnesses built with $(CC) + ASan/UBSan and a plain
# main (tests/fuzz/replay_main.c), so it needs no libFuzzer runtime.
FUZZ_HARNESSES := fuzz_wire fuzz_ctl
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_REPLAY_FLAGS := -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
FUZZ_HDRS := tests/fuzz/fuzz.h core/kup_core.h include/kup_abi.h uspace/kup_plat.h mk/fuzz.mk

# The harness source first; the provider's kpv_dev.c is #included by fuzz_wire.c.
# CORE_DEV_SRC (core's kupdev_* layer, issue 11) is empty where common.mk has none.
FUZZ_SRC_fuzz_wire := tests/fuzz/fuzz_wire.c provider/kpv_chan.c provider/kpv_gate.c \
	uspace/kup_wire.c $(CORE_SRC) $(CORE_DEV_SRC) uspace/kup_plat.c
FUZZ_DEPS_fuzz_wire := provider/kpv_dev.c provider/kpv.h provider/kpv_gate.h uspace/kup_wire.h \
	include/kupdev.h
FUZZ_SRC_fuzz_ctl := tests/fuzz/fuzz_ctl.c $(CORE_SRC) uspace/kup_plat.c
FUZZ_DEPS_fuzz_ctl :=

FUZZ_REPLAY := $(patsubst %,$(B)/fuzz/replay_%,$(FUZZ_HARNESSES))
FUZZ_BIN := $(patsubst %,$(B)/fuzz/%,$(FUZZ_HARNESSES))

define fuzz_harness
$(B)/fuzz/replay_$(1): tests/fuzz/replay_main.c $(FUZZ_SRC_$(1)) $(FUZZ_DEPS_$(1)) $(FUZZ_HDRS)
	@mkdir -p $$(dir $$@)
	$(CC) $(KUP_CFLAGS) -Iprovider -Itests/fuzz $(FUZZ_REPLAY_FLAGS) tests/fuzz/replay_main.c \
		$(FUZZ_SRC_$(1)) -o $$@ $(LDLIBS_THR)

$(B)/fuzz/$(1): $(FUZZ_SRC_$(1)) $(FUZZ_DEPS_$(1)) $(FUZZ_HDRS)
	@mkdir -p $$(dir $$@)
	$(FUZZ_CC) $(KUP_CFLAGS) -Iprovider -Itests/fuzz $(FUZZ_FLAGS) $(FUZZ_SRC_$(1)) -o $$@ \
		$(LDLIBS_THR)
endef
$(foreach h,$(FUZZ_HARNESSES),$(eval $(call fuzz_harness,$(h))))

ALL += $(FUZZ_REPLAY)
SUITES += fuzz
.PHONY: fuzz suite-fuzz

suite-fuzz: $(FUZZ_REPLAY)
	@tests/fuzz/run.sh replay $(B)/fuzz $(FUZZ_HARNESSES)

fuzz: $(FUZZ_BIN)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh fuzz $(B)/fuzz $(FUZZ_HARNESSES)
