# Linux: kup.ko, the modules built on it (kup_test.ko, kup_echo.ko), static
# in-VM test programs, and the VM suite (tests/vm, QEMU TCG + busybox).
#
# KDIR is the kernel build tree to build against.  Default: Debian's
# linux-headers fetched by tests/vm/fetch-kernel.sh into $(B)/vm (the
# kernel the VM suite boots).  For the running kernel of a real host:
#   make kup-modules KDIR=/lib/modules/$(uname -r)/build
KUP_TOP := $(CURDIR)
LINUX_B := $(abspath $(B))/linux
VM_B := $(abspath $(B))/vm
VM_KDIR_FILE := $(VM_B)/kdir
KDIR_CMD = $(if $(KDIR),$(KDIR),$$(cat $(VM_KDIR_FILE)))
# Kbuild must not see this make's command-line variables (CC=..., B=...).
KBUILD_MAKE = env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS -u MAKEOVERRIDES make --no-print-directory

KUP_KO := $(LINUX_B)/kup/kup.ko
KUP_SYMVERS := $(LINUX_B)/kup/Module.symvers
KUP_TEST_KO := $(LINUX_B)/kup_test/kup_test.ko
KUP_ECHO_KO := $(LINUX_B)/kup_echo/kup_echo.ko
LINUX_HDRS := $(wildcard kernel/linux/*.h) $(wildcard core/*.h) $(wildcard include/*.h)

DEPS_GROUPS += vm vm-debug

# The kernel the VM boots and modules build against: an image metapackage,
# or `debug`, the debug kernel tests/vm/debug-kernel.sh builds from source.
VM_KERNEL ?= linux-image-amd64
VM_ENV = KUP_VM_DIR=$(VM_B) KUP_VM_KERNEL=$(VM_KERNEL)
# Bounds of a whole VM run (seconds), and variables set in the guest.
VM_TIMEOUT ?= 600
VM_SOAK_TIMEOUT ?= 900
VM_GUEST_ENV ?=

ifeq ($(VM_KERNEL),debug)
# Asked on every run (instant once cached): a new cache key (config
# fragment, script, Debian's source version) gives a new tree, and the
# kdir file is rewritten only then, so the modules rebuild only then.
$(VM_KDIR_FILE): FORCE
	@mkdir -p $(VM_B)
	@$(VM_ENV) tests/vm/fetch-kernel.sh $(VM_B) >$@.tmp && \
		{ cmp -s $@.tmp $@ && rm $@.tmp || mv $@.tmp $@; }
FORCE:
else
$(VM_KDIR_FILE): tests/vm/fetch-kernel.sh
	@mkdir -p $(VM_B)
	$(VM_ENV) tests/vm/fetch-kernel.sh $(VM_B) >$@.tmp && mv $@.tmp $@
endif

KDIR_DEP := $(if $(KDIR),,$(VM_KDIR_FILE))

# Stage a module's sources into one directory under M= (symlinks) and build it.
# $(1): dir name, $(2): sources, $(3): Kbuild file, $(4): extra make args
# The directory starts empty: Kbuild does not rerun modpost for a client when
# only kup.ko's Module.symvers changed, and stale symbol CRCs break insmod.
define kup_kbuild
	@rm -rf $(LINUX_B)/$(1) && mkdir -p $(LINUX_B)/$(1)
	@ln -sf $(addprefix $(KUP_TOP)/,$(2)) $(LINUX_B)/$(1)/
	@cp $(3) $(LINUX_B)/$(1)/Kbuild
	$(KBUILD_MAKE) -C "$(KDIR_CMD)" M=$(LINUX_B)/$(1) KUP_TOP=$(KUP_TOP) $(4) modules
	@touch $@
endef

KUP_KSRC := $(wildcard kernel/linux/kup_*.c) $(CORE_SRC) $(CORE_DEV_SRC)
$(KUP_KO): $(KUP_KSRC) kernel/linux/Kbuild $(LINUX_HDRS) $(KDIR_DEP)
	$(call kup_kbuild,kup,$(KUP_KSRC),kernel/linux/Kbuild,)

.PHONY: kup-modules
kup-modules: $(KUP_KO)

# Modules built on kup.ko: KBUILD_EXTRA_SYMBOLS resolves the kupdev_* symbols.
KUP_XSYMS := KBUILD_EXTRA_SYMBOLS=$(KUP_SYMVERS)
KUPVT_KO := $(LINUX_B)/kupvt/kupvt.ko
$(KUPVT_KO): tests/vm/kupvt_mod.c tests/vm/Kbuild.kupvt $(KUP_KO) $(LINUX_HDRS)
	$(call kup_kbuild,kupvt,tests/vm/kupvt_mod.c,tests/vm/Kbuild.kupvt,$(KUP_XSYMS))
kup-modules: $(KUPVT_KO)

# The shared test service (tests/svc) and the echo example as modules.
$(KUP_TEST_KO): tests/svc/kuptest_svc.c tests/svc/kuptest_proto.h kernel/linux/Kbuild.svc $(KUP_KO) $(LINUX_HDRS)
	$(call kup_kbuild,kup_test,tests/svc/kuptest_svc.c,kernel/linux/Kbuild.svc,$(KUP_XSYMS) SVC_MOD=kup_test SVC_SRC=kuptest_svc SVC_INC=$(KUP_TOP)/tests/svc)
$(KUP_ECHO_KO): examples/echo/kup_echo.c kernel/linux/Kbuild.svc $(KUP_KO) $(LINUX_HDRS)
	$(call kup_kbuild,kup_echo,examples/echo/kup_echo.c,kernel/linux/Kbuild.svc,$(KUP_XSYMS) SVC_MOD=kup_echo SVC_SRC=kup_echo)
kup-modules: $(KUP_TEST_KO) $(KUP_ECHO_KO)

# make bench-vm's comparison modules (bench/vm): kupcmp.ko, the channels
# people use today (read/write through a kernel thread, ioctl, generic
# netlink; no kup.ko), and kupcmp_kup.ko, KUP's side of the comparison.
KUPCMP_KO := $(LINUX_B)/kupcmp/kupcmp.ko
KUPCMP_SRC := bench/vm/cmp_main.c bench/vm/cmp_chardev.c bench/vm/cmp_ioctl.c bench/vm/cmp_genl.c
$(KUPCMP_KO): $(KUPCMP_SRC) bench/vm/cmp.h bench/vm/cmp_abi.h bench/vm/Kbuild.cmp $(KDIR_DEP)
	$(call kup_kbuild,kupcmp,$(KUPCMP_SRC),bench/vm/Kbuild.cmp,)
KUPCMP_KUP_KO := $(LINUX_B)/kupcmp_kup/kupcmp_kup.ko
$(KUPCMP_KUP_KO): bench/vm/cmp_kup.c kernel/linux/Kbuild.svc $(KUP_KO) $(LINUX_HDRS)
	$(call kup_kbuild,kupcmp_kup,bench/vm/cmp_kup.c,kernel/linux/Kbuild.svc,$(KUP_XSYMS) SVC_MOD=kupcmp_kup SVC_SRC=cmp_kup)
kup-modules: $(KUPCMP_KO) $(KUPCMP_KUP_KO)

# Test programs for the VM: static, since the busybox initramfs has no libc.
VM_CFLAGS := $(KUP_CFLAGS) -O2 -g -static
VMTEST := $(LINUX_B)/vm/vmtest
VM_INTEG := $(LINUX_B)/vm/kup_integ
VM_ECHO_CLIENT := $(LINUX_B)/vm/echo_client
# tests.mk is read after this file: name the integration sources here.
VM_INTEG_SRC := $(sort $(wildcard tests/integ/*.c))
VM_INTEG_HDRS := $(wildcard tests/integ/*.h) tests/kt.h tests/svc/kuptest_proto.h include/kup.h
$(VMTEST): tests/vm/vmtest.c tests/vm/vm_proc.h tests/vm/vm_chan.h $(CORE_SRC) uspace/kup_plat.c tests/kt.h core/kup_core.h include/kup_abi.h uspace/kup_plat.h
	@mkdir -p $(dir $@)
	$(CC) $(VM_CFLAGS) $(CORE_SRC) uspace/kup_plat.c tests/vm/vmtest.c -o $@
VM_SOAK := $(LINUX_B)/vm/soak
$(VM_SOAK): tests/vm/soak.c tests/vm/vm_proc.h tests/vm/vm_chan.h $(CORE_SRC) uspace/kup_plat.c tests/kt.h core/kup_core.h include/kup_abi.h uspace/kup_plat.h
	@mkdir -p $(dir $@)
	$(CC) $(VM_CFLAGS) $(CORE_SRC) uspace/kup_plat.c tests/vm/soak.c -o $@ $(LDLIBS_THR)
$(VM_INTEG): $(VM_INTEG_SRC) $(VM_INTEG_HDRS) $(LIBKUP_SRC) $(LIBKUP_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(VM_CFLAGS) $(LIBKUP_CPPFLAGS) -Itests/svc -Itests/integ $(VM_INTEG_SRC) $(LIBKUP_SRC) \
		-o $@ $(LDLIBS_THR)
$(VM_ECHO_CLIENT): examples/echo/echo_client.c $(LIBKUP_SRC) $(LIBKUP_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(VM_CFLAGS) $(LIBKUP_CPPFLAGS) $< $(LIBKUP_SRC) -o $@ $(LDLIBS_THR)

VM_KUPCTL := $(LINUX_B)/vm/kupctl
$(VM_KUPCTL): tools/kupctl.c uspace/kup_stat_read.h $(LIBKUP_SRC) $(LIBKUP_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(VM_CFLAGS) $(LIBKUP_CPPFLAGS) tools/kupctl.c $(LIBKUP_SRC) -o $@ $(LDLIBS_THR)
# The guest side of make bench-vm (and its smoke in the VM suite).
VM_BENCH := $(LINUX_B)/vm/bench_vm
$(VM_BENCH): bench/vm/bench_vm.c bench/vm/cmp_abi.h $(LIBKUP_SRC) $(LIBKUP_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(VM_CFLAGS) $(LIBKUP_CPPFLAGS) -Ibench/vm $< $(LIBKUP_SRC) -o $@ $(LDLIBS_THR)

# VM_KUP_KO: the kup.ko the guest loads, VM_SUITE_OUT: where suite-vm's logs
# go (suite-deb runs suite-vm with the kup.ko DKMS built from kup-dkms).
VM_KUP_KO ?= $(KUP_KO)
VM_SUITE_OUT ?= $(VM_B)/suite
VM_MODS := $(VM_KUP_KO) $(KUPVT_KO) $(KUP_TEST_KO) $(KUP_ECHO_KO)
# The debug kernel's trimmed config has no networking (generic netlink) and
# no tracing: bench-vm's comparison modules stay out, and the guest suite
# skips them and the tracepoint test there (KUP_VM_LEAN=1), saying why.
ifneq ($(VM_KERNEL),debug)
VM_MODS += $(KUPCMP_KO) $(KUPCMP_KUP_KO)
endif
VM_PROGS := $(VMTEST) $(VM_INTEG) $(VM_ECHO_CLIENT) $(VM_SOAK) $(VM_BENCH) $(VM_KUPCTL)
VM_ARGS := $(foreach m,$(VM_MODS),-m $(m)) $(foreach p,$(VM_PROGS),-f $(p)) \
	-f tests/vm/guest-suite.sh:/bin/guest-suite.sh

# The VM suite: boot Debian's kernel, run tests/vm/guest-suite.sh in it.
# It runs after the native suites (SUITES_LAST, see the Makefile).
SUITES_LAST += vm
.PHONY: suite-vm vm-shell demo-vm
suite-vm: $(VM_MODS) $(VM_PROGS)
	@[ -z "$(KDIR)" ] || { echo "suite-vm boots Debian's kernel: build without KDIR"; exit 1; }
	@echo "# vm: $(VM_KERNEL) ($$(cat $(VM_B)/root/.fetched))"
	@$(VM_ENV) tests/vm/suite.sh $(VM_ARGS) -o $(VM_SUITE_OUT) -t $(VM_TIMEOUT) \
		-c '$(VM_GUEST_ENV) sh /bin/guest-suite.sh'

# The same suite on Debian 12's newer kernel line (6.12), built in its own tree.
SUITES_LAST += vm-6.12
.PHONY: suite-vm-6.12
suite-vm-6.12:
	@if tests/vm/kernel-available.sh linux-image-6.12-amd64 $(B)/k6.12/vm; then \
		$(MAKE) --no-print-directory suite-vm B=$(B)/k6.12 VM_KERNEL=linux-image-6.12-amd64; \
	else \
		echo "# skip reason: linux-image-6.12-amd64 is not in this machine's apt sources (bookworm-security)"; \
		echo "0 passed, 0 failed, 1 skipped"; \
	fi

# The same suite on the debug kernel (KASAN, lockdep, UBSAN, KFENCE, page
# poisoning): tests/vm/debug-kernel.sh builds it from Debian's
# linux-source-6.1 on the first run and caches it in ~/.cache/kup.  KASAN
# under TCG is slow: longer bounds for the VM and for every guest test.
SUITES_LAST += vm-debug
VM_DEBUG := B=$(B)/kdbg VM_KERNEL=debug VM_TIMEOUT=2400 VM_SOAK_TIMEOUT=7200 \
	VM_GUEST_ENV="KT_TIMEOUT_MUL=4 KUP_VM_LEAN=1"
.PHONY: suite-vm-debug soak-debug
suite-vm-debug:
	@$(MAKE) --no-print-directory suite-vm $(VM_DEBUG)

# The hostile-process soak (tests/vm/soak.c), long run: every count of issue
# 14 in full, on 6.1 and then on 6.12 when apt has it (suite-vm runs it with
# the counts divided by 20).  Logs in $(VM_B)/soak; SOAK_DIV=N divides the
# counts.  soak-6.1 and soak-6.12 run one kernel each.
.PHONY: soak soak-one soak-6.1 soak-6.12
soak:
	@rc=0; $(MAKE) --no-print-directory soak-6.1 || rc=1; \
	$(MAKE) --no-print-directory soak-6.12 || rc=1; exit $$rc

soak-6.1: soak-one

soak-one: $(VM_MODS) $(VM_PROGS)
	@[ -z "$(KDIR)" ] || { echo "soak boots Debian's kernel: build without KDIR"; exit 1; }
	@echo "# soak: $(VM_KERNEL) ($$(cat $(VM_B)/root/.fetched))"
	@$(VM_ENV) tests/vm/suite.sh $(VM_ARGS) -o $(VM_B)/soak -t $(VM_SOAK_TIMEOUT) \
		-c '$(VM_GUEST_ENV) SOAK_DIV=$(or $(SOAK_DIV),1) sh /bin/guest-suite.sh soak'

soak-debug:
	@$(MAKE) --no-print-directory soak-one $(VM_DEBUG)

soak-6.12:
	@if tests/vm/kernel-available.sh linux-image-6.12-amd64 $(B)/k6.12/vm; then \
		$(MAKE) --no-print-directory soak-one B=$(B)/k6.12 VM_KERNEL=linux-image-6.12-amd64; \
	else \
		echo "# skip reason: linux-image-6.12-amd64 is not in this machine's apt sources (bookworm-security)"; \
		echo "0 passed, 0 failed, 1 skipped"; \
	fi

# A shell in the VM with every module and test program (Ctrl-A X quits).
vm-shell: $(VM_MODS) $(VM_PROGS)
	@$(VM_ENV) tests/vm/run-vm.sh $(VM_ARGS) -o $(VM_B)/shell -i

# The echo demo against kup_echo.ko in the VM.
demo: demo-vm
demo-vm: deps
	@$(MAKE) --no-print-directory $(VM_MODS) $(VM_PROGS)
	@$(VM_ENV) tests/vm/run-vm.sh $(VM_ARGS) -o $(VM_B)/demo -t 300 -c 'sh /bin/guest-suite.sh demo'

# `make` builds the modules when a kernel tree is at hand (KDIR given, or the
# VM's headers fetched already); `make test` always builds them (suite vm).
ifneq ($(KDIR)$(wildcard $(VM_KDIR_FILE)),)
ALL += $(VM_MODS)
endif
