#!/bin/bash
# Compile every FreeBSD kernel source of KUP with clang against FreeBSD
# kernel header trees, the way bsd.kmod.mk would (kern.mk's C standard and
# warnings, -Werror), and check that the service modules need nothing from
# kup.ko that kup.ko does not export.  Prints TAP and "N passed, N failed"
# (one test per tree and source file, plus one export check per tree).
# A tree that also holds a userland include tree (TREE/usr/include, made by
# tests/freebsd/user-headers.sh) checks libkup's kernel backend and the
# core as FreeBSD userland code too.
#
# usage: compile-check.sh TREE...
#   TREE is an output directory of ../shared/tools/freebsd-headers.sh
#   (TREE/sys/sys/param.h and TREE/inc/machine), or a FreeBSD sys/ directory
#   (TREE/sys/param.h; machine/ and x86/ links are made under build/).
# With no usable tree it says why and prints "0 passed, 0 failed, 1 skipped".
set -u
cd "$(dirname "$0")/../.." || exit 1
B=${B:-build}
CLANG=${FBSD_CLANG:-clang}
TARGET=${FBSD_TARGET:-x86_64-unknown-freebsd12.1}

skip() {
	echo "# freebsd: skipped: $*"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
}

trees=()
for t in "$@"; do
	[ -n "$t" ] || continue
	if [ -f "$t/sys/sys/param.h" ] || [ -f "$t/sys/param.h" ]; then
		trees+=("$t")
	else
		echo "# freebsd: $t is not a FreeBSD header tree (no sys/param.h): ignored"
	fi
done
[ ${#trees[@]} -gt 0 ] || skip "no FreeBSD kernel header tree (make one with ../shared/tools/freebsd-headers.sh from a FreeBSD source snapshot; CI has none: it needs the network)"
command -v "$CLANG" >/dev/null || skip "$CLANG not installed (scripts/deps/freebsd.txt)"

# kup.ko, the protocol core compiled unchanged, and the service modules.
# core/'s files and kup.ko's exports, from their one places.
. tests/freebsd/lists.sh
kmod=(kernel/freebsd/*.c "${core[@]}" "${core_dev[@]}")
svc=()
for f in examples/echo/kup_echo.c tests/svc/kuptest_svc.c tests/vm/kupvt_mod.c; do
	[ -f "$f" ] && svc+=("$f")
done

# As sys/conf/kern.mk and kmod.mk build a module (amd64).
CFLAGS=(--target="$TARGET" -std=iso9899:1999 -O2 -pipe -D_KERNEL -DKLD_MODULE
	-nostdinc -fno-common -fno-strict-aliasing -ffreestanding -fwrapv
	-mno-red-zone -mno-mmx -mno-sse -msoft-float -mcmodel=kernel
	-fno-omit-frame-pointer -D__printf__=__freebsd_kprintf__
	-Wall -Wredundant-decls -Wnested-externs -Wstrict-prototypes
	-Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wundef
	-Wno-pointer-sign -Wmissing-include-dirs -Werror
	-DKDTRACE_HOOKS -include opt_global.h -Iinclude -Icore -Ikernel/freebsd -Itests/svc)

# libkup's kernel-device backend and what it needs, as FreeBSD userland.
user=(lib/kp_kdev.c uspace/kup_plat.c "${core[@]}" tests/freebsd/kp_prov_none.c)
UCFLAGS=(--target="$TARGET" -nostdinc -std=gnu11 -O2 -Wall -Wextra -Werror -Wshadow
	-Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter -D_GNU_SOURCE
	-DKP_HAVE_KDEV -Iinclude -Iuspace -Ilib -Icore)
resdir=$("$CLANG" -print-resource-dir)/include


n=0 pass=0 fail=0
for t in "${trees[@]}"; do
	tag=$(basename "$t")
	out=$B/freebsd/$tag
	mkdir -p "$out"
	if [ -f "$t/sys/sys/param.h" ]; then
		sys=$t/sys inc=$t/inc
	else
		sys=$t inc=$out/inc
		mkdir -p "$inc"
		ln -sfn "$(cd "$t" && pwd)/amd64/include" "$inc/machine"
		ln -sfn "$(cd "$t" && pwd)/x86/include" "$inc/x86"
		: >"$inc/opt_global.h"
	fi
	ver=$(sed -n 's/^#define[ \t]*__FreeBSD_version[ \t]*\([0-9]*\).*/\1/p' "$sys/sys/param.h")
	echo "# tree $tag: $t (__FreeBSD_version ${ver:-unknown})"
	objs_k=() objs_s=()
	for f in "${kmod[@]}" "${svc[@]}"; do
		n=$((n + 1))
		o=$out/$(basename "${f%.c}").o
		if log=$("$CLANG" "${CFLAGS[@]}" -I"$inc" -I"$sys" -I"$sys/contrib/ck/include" \
			-c "$f" -o "$o" 2>&1); then
			echo "ok $n - $tag: $f"
			pass=$((pass + 1))
			case "$f" in kernel/* | core/*) objs_k+=("$o") ;; *) objs_s+=("$o") ;; esac
		else
			echo "not ok $n - $tag: $f"
			sed 's/^/#   /' <<<"$log" | head -n 40
			fail=$((fail + 1))
		fi
	done
	if [ -d "$t/usr/include" ]; then
		mkdir -p "$out/user"
		for f in "${user[@]}"; do
			[ -f "$f" ] || continue
			n=$((n + 1))
			if log=$("$CLANG" "${UCFLAGS[@]}" -isystem "$t/usr/include" -isystem "$resdir" \
				-c "$f" -o "$out/user/$(basename "${f%.c}").o" 2>&1); then
				echo "ok $n - $tag userland: $f"
				pass=$((pass + 1))
			else
				echo "not ok $n - $tag userland: $f"
				sed 's/^/#   /' <<<"$log" | head -n 40
				fail=$((fail + 1))
			fi
		done
	fi
	# Every kup symbol a service module needs must be defined in kup.ko and exported.
	n=$((n + 1))
	missing=()
	if [ ${#objs_s[@]} -gt 0 ]; then
		defined=$(nm -g --defined-only "${objs_k[@]}" 2>/dev/null | awk '{print $3}' | sort -u)
		for s in $(nm -u "${objs_s[@]}" 2>/dev/null | awk '{print $2}' | grep -E '^kup' | sort -u); do
			grep -qx "$s" <<<"$defined" && grep -qx "$s" <<<"$exports" || missing+=("$s")
		done
	fi
	# ... and every call of kupdev.h is exported.
	for s in $(grep -oE '\b(kupdev_[a-z_]+|kup_strerror)\(' include/kupdev.h | tr -d '(' | sort -u); do
		grep -qx "$s" <<<"$exports" || missing+=("$s(in kupdev.h, not in EXPORT_SYMS)")
	done
	for s in $exports; do
		nm -g --defined-only "${objs_k[@]}" 2>/dev/null | awk '{print $3}' | grep -qx "$s" ||
			missing+=("$s(listed, not defined)")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		echo "ok $n - $tag: kupdev.h and the services' needs are in kup.ko's EXPORT_SYMS"
		pass=$((pass + 1))
	else
		echo "not ok $n - $tag: symbols not exported by kup.ko: ${missing[*]}"
		fail=$((fail + 1))
	fi
done
echo "1..$n"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
