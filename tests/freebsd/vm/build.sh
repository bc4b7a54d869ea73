#!/bin/bash
# Build KUP for a FreeBSD test VM, from Linux, with clang and lld:
#   OUT/mod/kup.ko, kup_test.ko, kup_echo.ko, kupvt.ko   the modules, as bsd.kmod.mk
#       builds them (kern.mk's flags, ld -r with the kmod linker script,
#       symbols outside EXPORT_SYMS made local), but without the stack
#       protector: Debian's clang reaches __stack_chk_guard through the GOT
#       (R_X86_64_REX_GOTPCRELX), which FreeBSD 14's kernel linker refuses
#       ("unexpected relocation type 42").  Every module is checked for
#       relocations the kernel linker cannot apply.
#   OUT/bin/kup_integ, echo_client, kupctl, vmtest, OUT/sbin/init (kupinit)
#       static FreeBSD programs (--sysroot, -fuse-ld=lld).
# Inputs: tests/freebsd/vm/inputs.sh.  usage: build.sh OUT
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
out=${1:?usage: build.sh OUT}
. "$here/inputs.sh"
why=$(fbsd_vm_missing)
[ -z "$why" ] || { echo "build.sh: $why" >&2; exit 2; }
cd "$top"
mkdir -p "$out/mod" "$out/bin" "$out/sbin" "$out/obj"
sys=$KUP_FBSD_SRC/sys
inc=$out/obj/inc
mkdir -p "$inc"
ln -sfn "$sys/amd64/include" "$inc/machine"
ln -sfn "$sys/x86/include" "$inc/x86"
opt=()
if [ -n "$KUP_FBSD_KERNBUILD" ]; then
	opt=(-DHAVE_KERNEL_OPTION_HEADERS -include "$KUP_FBSD_KERNBUILD/opt_global.h" -I"$KUP_FBSD_KERNBUILD")
else
	: >"$inc/opt_global.h"
	opt=(-include "$inc/opt_global.h")
fi

# sys/conf/kern.mk and kmod.mk (amd64), less -fstack-protector.
KCFLAGS=(--target="$KUP_FBSD_TARGET" -c -O2 -pipe -fno-strict-aliasing -nostdinc
	-I"$inc" -I"$sys" -I"$sys/contrib/ck/include" -D_KERNEL -DKLD_MODULE "${opt[@]}"
	-fno-common -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer
	-mcmodel=kernel -mno-red-zone -mno-mmx -mno-sse -msoft-float -mno-aes -mno-avx
	-fno-asynchronous-unwind-tables -ffreestanding -fwrapv -fno-stack-protector
	-Wall -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wundef
	-Wno-pointer-sign -D__printf__=__freebsd_kprintf__ -Wmissing-include-dirs
	-Wno-unknown-pragmas -std=gnu99 -Werror
	-Ikernel/freebsd -Iinclude -Icore -Itests/svc)

# kmod NAME "EXPORTED SYMBOLS" SOURCES...
kmod() {
	local name=$1 exports=$2 objs=() f o s bad
	shift 2
	for f in "$@"; do
		o=$out/obj/$name.$(basename "${f%.c}").o
		"$KUP_FBSD_CLANG" "${KCFLAGS[@]}" "$f" -o "$o"
		objs+=("$o")
	done
	ld.lld -m elf_x86_64_fbsd --warn-common -T "$sys/conf/ldscript.kmod.amd64" -r \
		-o "$out/mod/$name.ko" "${objs[@]}"
	# As kmod_syms.awk: every defined global not exported becomes local.
	local loc=()
	for s in $(llvm-nm -g --defined-only "$out/mod/$name.ko" | awk '{print $3}'); do
		grep -qxF "$s" <<<"$exports" || loc+=("--localize-symbol=$s")
	done
	[ ${#loc[@]} -eq 0 ] || llvm-objcopy "${loc[@]}" "$out/mod/$name.ko"
	bad=$(llvm-readelf -r "$out/mod/$name.ko" | grep -oE 'R_X86_64_(REX_)?GOTPCRELX?|R_X86_64_GOT[A-Z0-9_]*' | sort -u | tr '\n' ' ')
	if [ -n "$bad" ]; then
		echo "build.sh: $name.ko has relocations FreeBSD's kernel linker refuses: $bad" >&2
		return 1
	fi
}
# core/'s files and kup.ko's exports, from their one places.
. tests/freebsd/lists.sh
kmod kup "$exports" kernel/freebsd/*.c "${core[@]}" "${core_dev[@]}"
kmod kup_test "" tests/svc/kuptest_svc.c
kmod kup_echo "" examples/echo/kup_echo.c
kmod kupvt "" tests/vm/kupvt_mod.c

# Static FreeBSD programs.
UCFLAGS=(--target="$KUP_FBSD_TARGET" --sysroot="$KUP_FBSD_SYSROOT" -fuse-ld=lld -static
	-std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE -DKP_HAVE_KDEV
	-Iinclude -Iuspace -Ilib -Icore -Iprovider -Itests -Itests/svc -Itests/integ)
LIBKUP=(lib/kp_api.c lib/kp_loop.c lib/kp_kdev.c uspace/kup_plat.c uspace/kup_wire.c
	"${core[@]}" tests/freebsd/kp_prov_none.c)
"$KUP_FBSD_CLANG" "${UCFLAGS[@]}" tests/integ/*.c "${LIBKUP[@]}" -o "$out/bin/kup_integ" -lpthread
"$KUP_FBSD_CLANG" "${UCFLAGS[@]}" examples/echo/echo_client.c "${LIBKUP[@]}" -o "$out/bin/echo_client" -lpthread
"$KUP_FBSD_CLANG" "${UCFLAGS[@]}" tools/kupctl.c "${LIBKUP[@]}" -o "$out/bin/kupctl" -lpthread
"$KUP_FBSD_CLANG" "${UCFLAGS[@]}" tests/vm/vmtest.c "${core[@]}" \
	uspace/kup_plat.c -o "$out/bin/vmtest" -lpthread
"$KUP_FBSD_CLANG" "${UCFLAGS[@]}" tests/freebsd/vm/kupinit.c -o "$out/sbin/init"
echo "build.sh: modules and programs in $out"
