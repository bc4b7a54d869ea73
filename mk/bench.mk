# bench/: kupbench and `make bench` (not part of `make test`: numbers, not
# verdicts), plus the bench-smoke suite, a ~1-second run that checks only
# that the JSON is well-formed and complete.  No timing is asserted anywhere.
# Plots need gnuplot (scripts/deps/bench.txt), installed by `make bench` only.
BENCH := $(B)/bench/kupbench
BENCH_SRC := bench/kupbench.c bench/harness.c bench/refs.c bench/kup.c bench/report.c bench/stream.c bench/core.c
BENCH_OUT ?= $(B)/bench
BENCH_ARGS ?=
# `make bench-vm`, in one boot of the QEMU guest of tests/vm (TCG-emulated
# figures; see docs/bench.md): bench/vm/bench_vm.c, KUP's kernel path next to
# a chardev's read/write with a kernel thread, ioctl and generic netlink
# (kupcmp.ko), then kupbench's round trips against kup.ko + kup_echo.ko
# (BENCH_VM_ARGS; BENCH_VM_KUPBENCH=0 leaves it out).  A static kupbench,
# since the guest's busybox initramfs has no libc.
BENCH_STATIC := $(B)/bench/kupbench-static
BENCH_VM_ARGS ?= --time 150
BENCH_CMP_ARGS ?= -r 15 -t 60 -v
BENCH_VM_KUPBENCH ?= 1

# Literal paths: lib.mk and provider.mk are read after this file.
$(BENCH): $(BENCH_SRC) bench/bench.h include/kup.h include/kupdev.h include/kup_abi.h core/kup_core.h \
		$(B)/lib/libkup.a $(B)/lib/libkupdev.a
	@mkdir -p $(dir $@)
	$(CC) $(KUP_CFLAGS) $(CFLAGS) $(BENCH_SRC) $(B)/lib/libkup.a $(B)/lib/libkupdev.a \
		-o $@ $(LDLIBS_THR)

ALL += $(BENCH)
SUITES += bench-smoke

# `make bench-icount`: instructions per 8-byte round trip under callgrind
# (bench/icount.sh), the repeatable figure on this noisy machine.  Linked
# to the shared libraries, as an application is: the count includes the
# calls through the PLT, and no inlining across the library boundary.
# Core is compiled in as well, as the libraries compile it, for the count of
# the protocol alone.
ICOUNT := $(B)/bench/icount
$(ICOUNT): bench/icount.c $(CORE_SRC) uspace/kup_plat.c include/kup.h include/kupdev.h core/*.h \
		$(B)/lib/libkup.so $(B)/lib/libkupdev.so
	@mkdir -p $(dir $@)
	$(CC) $(KUP_CFLAGS) $(CFLAGS) $(LIB_LTO) bench/icount.c $(CORE_SRC) uspace/kup_plat.c -o $@ \
		-L$(B)/lib -lkupdev -lkup \
		-Wl,-rpath,'$$ORIGIN/../lib' $(LDLIBS_THR)
ALL += $(ICOUNT)

.PHONY: bench-icount
bench-icount: $(ICOUNT)
	@bench/icount.sh $(ICOUNT)

.PHONY: bench bench-vm suite-bench-smoke
bench: $(BENCH)
	@scripts/deps.sh bench || echo "bench: cannot install gnuplot-nox; numbers only"
	$(BENCH) --out $(BENCH_OUT) $(BENCH_ARGS)
	@if command -v gnuplot >/dev/null; then gnuplot $(BENCH_OUT)/plots.gp && \
		echo "plots: $(BENCH_OUT)/latency.svg $(BENCH_OUT)/throughput.svg"; \
	else echo "bench: no gnuplot, plots skipped ($(BENCH_OUT)/plots.gp)"; fi

# Library sources are compiled in (lib.mk/provider.mk lists, expanded at run time).
$(BENCH_STATIC): $(BENCH_SRC) bench/bench.h $(wildcard include/*.h core/*.[ch] lib/*.[ch] provider/*.[ch])
	@mkdir -p $(dir $@)
	$(CC) $(KUP_CFLAGS) $(KUPDEV_CPPFLAGS) $(LIBKUP_CPPFLAGS) $(CFLAGS) -static $(BENCH_SRC) \
		$(sort $(LIBKUP_SRC) $(KUPDEV_SRC)) -o $@ $(LDLIBS_THR)

# Module and guest-program paths are linux.mk's (read after this file).
bench-vm: $(BENCH_STATIC)
	@scripts/deps.sh vm
	@$(MAKE) --no-print-directory $(KUP_KO) $(KUP_ECHO_KO) $(KUPCMP_KO) $(KUPCMP_KUP_KO) $(VM_BENCH)
	BENCH_CMP_ARGS='$(BENCH_CMP_ARGS)' KUPBENCH=$(BENCH_VM_KUPBENCH) bench/vm-bench.sh $(BENCH_STATIC) \
		$(VM_BENCH) $(KUP_KO) $(KUP_ECHO_KO) $(KUPCMP_KO) $(KUPCMP_KUP_KO) $(BENCH_OUT)/vm $(BENCH_VM_ARGS)

suite-bench-smoke: $(BENCH)
	@bench/smoke.sh $(BENCH) $(B)/bench-smoke
