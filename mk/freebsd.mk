# FreeBSD: kup.ko and the service modules cannot be built or run here, so
# they get a compile check: clang --target=x86_64-unknown-freebsd12.1 with
# bsd.kmod.mk's flags, against FreeBSD kernel header trees made by
# ../shared/tools/freebsd-headers.sh from a FreeBSD source snapshot.
#
#   make freebsd-check [SYSDIR=TREE]   one tree, or every tree under FBSD_HEADERS
#   make suite-freebsd                 every tree under FBSD_HEADERS (TAP)
#
# No tree (CI: making one needs the network) is a skip that says why.
# On a FreeBSD machine use tests/freebsd/run.sh instead.
FBSD_HEADERS ?= /work/fbsd-headers
FBSD_TREES = $(if $(SYSDIR),$(SYSDIR),$(sort $(patsubst %/sys/sys/param.h,%,$(wildcard $(FBSD_HEADERS)/*/sys/sys/param.h))))

DEPS_GROUPS += freebsd
SUITES += freebsd

.PHONY: freebsd-check suite-freebsd
freebsd-check suite-freebsd:
	@B=$(B) tests/freebsd/compile-check.sh $(FBSD_TREES)

# kup.ko's sources and the core, unchanged, over a userspace emulation of
# the FreeBSD KPIs they use (tests/freebsd/emu): runs anywhere, CI included.
# libkup's kernel backend (lib/kp_kdev.c) is linked in too, its system calls
# routed to the emulated module (kemu_sys.h), to check the two against each
# other; tests/freebsd/kp_prov_none.c stands in for the provider backend.
FBSD_EMU := $(B)/tests/freebsd_emu
FBSD_EMU_SRC := tests/freebsd/emu/test_emu.c tests/freebsd/emu/kemu.c \
	tests/freebsd/emu/kemu_sys.c $(wildcard kernel/freebsd/*.c) $(CORE_SRC) $(CORE_DEV_SRC) \
	examples/echo/kup_echo.c
FBSD_EMU_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FBSD_EMU_FLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter \
	-Wno-sign-compare $(FBSD_EMU_SAN) -Itests/freebsd/emu/inc -Itests/freebsd/emu \
	-Iinclude -Icore -Ikernel/freebsd -Itests
# libkup's side, built as libkup builds it (uspace/kup_plat.h), kernel backend only.
FBSD_EMU_LIB_SRC := lib/kp_kdev.c lib/kp_api.c uspace/kup_plat.c uspace/kup_wire.c \
	tests/freebsd/kp_prov_none.c
FBSD_EMU_LIB_OBJ := $(patsubst %.c,$(B)/obj/fbemu/%.o,$(FBSD_EMU_LIB_SRC))
FBSD_EMU_LIB_FLAGS := $(KUP_CFLAGS) -DKP_HAVE_KDEV -Iprovider -O1 -g $(FBSD_EMU_SAN)

$(B)/obj/fbemu/lib/kp_kdev.o: FBSD_EMU_LIB_FLAGS += -include tests/freebsd/emu/kemu_sys.h
$(B)/obj/fbemu/%.o: %.c $(wildcard lib/*.h provider/*.h) core/kup_core.h include/*.h \
		tests/freebsd/emu/kemu_sys.h mk/freebsd.mk
	@mkdir -p $(dir $@)
	$(CC) $(FBSD_EMU_LIB_FLAGS) -c $< -o $@

$(FBSD_EMU): $(FBSD_EMU_SRC) $(FBSD_EMU_LIB_OBJ) $(wildcard tests/freebsd/emu/*.h \
		tests/freebsd/emu/inc/*/*.h kernel/freebsd/*.h) core/kup_core.h include/*.h \
		tests/kt.h mk/freebsd.mk
	@mkdir -p $(dir $@)
	$(CC) $(FBSD_EMU_FLAGS) $(FBSD_EMU_SRC) $(FBSD_EMU_LIB_OBJ) -o $@ $(LDLIBS_THR)

ALL += $(FBSD_EMU)
SUITES += freebsd-emu
.PHONY: suite-freebsd-emu
suite-freebsd-emu: $(FBSD_EMU)
	@ASAN_OPTIONS=detect_leaks=0 KUP_QUIET=1 $(FBSD_EMU)

# A real FreeBSD kernel under QEMU (tests/freebsd/vm): KUP's modules and
# static test programs built here with clang/lld against a FreeBSD kernel,
# sysroot and source tree someone provides (tests/freebsd/vm/inputs.sh,
# docs/freebsd.md); never FreeBSD itself.  Without them: a skip saying why.
SUITES_LAST += freebsd-vm
.PHONY: suite-freebsd-vm
suite-freebsd-vm:
	@B=$(B) tests/freebsd/vm/suite.sh

# The echo demo against kup_echo.ko on FreeBSD, where the inputs exist.
.PHONY: demo-freebsd-vm
demo: demo-freebsd-vm
demo-freebsd-vm:
	@B=$(B) tests/freebsd/vm/demo.sh

# The BSD Makefiles (BSDmakefile, bsd/, kernel/freebsd) and the port
# (ports/devel/kup): bmake with FreeBSD's share/mk, a cross build and a
# staged install checked against pkg-plist (tests/freebsd/port.sh), where
# the FreeBSD inputs exist; CI skips it.
SUITES += freebsd-port
.PHONY: suite-freebsd-port
suite-freebsd-port:
	@B=$(B) tests/freebsd/port.sh
