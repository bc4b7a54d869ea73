#!/bin/bash
# The BSD Makefiles (BSDmakefile, bsd/, kernel/freebsd) and the port
# (ports/devel/kup), checked on Linux (make suite-freebsd-port):
#
#  1. the port's files: the variables a port must set, COMMENT's rules,
#     pkg-descr, distinfo's form, the version against lib/kup.pc.in and
#     debian/changelog, pkg-plist sorted and every entry made from a file
#     of the tree or a product the BSD Makefiles name;
#  2. Debian's bmake reading the BSD Makefiles with FreeBSD's own share/mk
#     (as /usr/share/mk is installed: the files share/mk/Makefile lists),
#     -V queries: libkup's and kupctl's sources against the GNU build's
#     LIBKUP_SRC (less the Linux-only provider backend), the headers against
#     KUP_PUBLIC_HDRS, the man pages against docs/man, kup.ko's sources and
#     EXPORT_SYMS against core/sources.mk and core/kup_syms.h, VERSION_MAP,
#     the install directories under PREFIX; then `make -n` from the top;
#     libkup built natively from bsd/lib's SRCS and -D flags (no provider
#     backend: provider names are EKU_NOENT);
#  3. with a FreeBSD sysroot, clang and lld: the tree as a distfile would
#     hold it is built by bmake with those Makefiles, cross (clang
#     --target=x86_64-unknown-freebsd14.2), installed with DESTDIR as a
#     port stages it, and the staged files must be pkg-plist exactly;
#     libkup.so.0 exports the kernproxy_* API at LIBKUP_0 only, kup.ko's
#     globals are its EXPORT_SYMS, kup.pc points at PREFIX, and kup_echo.c
#     builds as a module against the installed headers alone.
#
# The FreeBSD inputs (tests/freebsd/vm/inputs.sh: the source tree for
# share/mk and sys/, the sysroot) are made by whoever runs it; nothing of
# FreeBSD is in the tree.  Without them (CI) it says why and prints
# "0 passed, 0 failed, 1 skipped".  Prints TAP and "N passed, N failed".
# shellcheck disable=SC2046,SC2015 # word lists are split on purpose; ok/notok return 0
set -u
# GNU make's MAKEFLAGS (run under `make -s suite-...`: "s --no-print-directory")
# is not bmake's: bmake reads it from the environment and stops at the long
# option.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cd "$top" || exit 1
. "$here/vm/inputs.sh"
B=${B:-build}
case $B in /*) ;; *) B=$top/$B ;; esac
work=$B/freebsd-port
port=ports/devel/kup
SHAREMK=$KUP_FBSD_SRC/share/mk

skip() {
	echo "# freebsd-port: skipped: $*"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
}
[ -f "$SHAREMK/bsd.lib.mk" ] && [ -f "$SHAREMK/Makefile" ] ||
	skip "no FreeBSD share/mk (KUP_FBSD_SRC=$KUP_FBSD_SRC has no share/mk/bsd.lib.mk; CI has none: docs/freebsd.md)"
[ -f "$KUP_FBSD_SRC/sys/conf/kmod.mk" ] || skip "no FreeBSD sys/ in KUP_FBSD_SRC=$KUP_FBSD_SRC"
command -v bmake >/dev/null || skip "bmake not installed (scripts/deps.sh freebsd)"

tn=0 pass=0 fail=0
ok() { tn=$((tn + 1)); pass=$((pass + 1)); echo "ok $tn - $*"; }
notok() { tn=$((tn + 1)); fail=$((fail + 1)); echo "not ok $tn - $*"; }
# check NAME EXPECTED ACTUAL: equal word lists (order ignored).
check() {
	local a b
	a=$(tr -s ' \t' '\n\n' <<<"$2" | sed '/^$/d' | LC_ALL=C sort)
	b=$(tr -s ' \t' '\n\n' <<<"$3" | sed '/^$/d' | LC_ALL=C sort)
	if [ "$a" = "$b" ]; then
		ok "$1"
	else
		notok "$1"
		diff <(echo "$a") <(echo "$b") | sed 's/^/#   /' | head -n 20
	fi
}
rm -rf "$work"
mkdir -p "$work"

# --- 1. the port's files -------------------------------------------------
pm=$port/Makefile
pv() { sed -n "s/^$1=[[:space:]]*//p" "$pm"; }
missing=()
for v in PORTNAME DISTVERSION CATEGORIES MASTER_SITES MAINTAINER COMMENT WWW LICENSE USES \
	USE_LDCONFIG MAKEFILE; do
	[ -n "$(pv "$v")" ] || missing+=("$v")
done
[ "$(tail -n 1 "$pm")" = ".include <bsd.port.mk>" ] || missing+=(".include <bsd.port.mk> last")
grep -qE '^[A-Z_]+(\+|\?)?= ' "$pm" && missing+=("VAR=<tab> style")
[ ${#missing[@]} -eq 0 ] && ok "$pm sets every variable a port needs" ||
	notok "$pm: missing or malformed: ${missing[*]}"
uses=$(pv USES)
[[ " $uses " == *" kmod "* && " $uses " == *" uidfix "* ]] && [ "$(pv LICENSE)" = BSD2CLAUSE ] &&
	[ "$(pv USE_LDCONFIG)" = yes ] && [ "$(pv MAKEFILE)" = BSDmakefile ] && [ -f "$(pv MAKEFILE)" ] &&
	[[ " $(pv CATEGORIES) " != *" kld "* ]] &&
	ok "port: USES=kmod uidfix (it adds CATEGORIES kld), USE_LDCONFIG, LICENSE=BSD2CLAUSE, MAKEFILE=BSDmakefile (present)" ||
	notok "port: USES ($uses), CATEGORIES, USE_LDCONFIG, LICENSE or MAKEFILE"
c=$(pv COMMENT)
if [ ${#c} -le 70 ] && [[ $c == [A-Z]* ]] && [[ $c != *. ]] && ! [[ $c =~ ^(A|An|The)\  ]]; then
	ok "COMMENT: capitalised, no article, no full stop, ${#c} <= 70 characters"
else
	notok "COMMENT breaks the Porter's Handbook rules: '$c'"
fi
if [ -s "$port/pkg-descr" ] && ! grep -q '^WWW:' "$port/pkg-descr" &&
	[ "$(awk 'length > 80' "$port/pkg-descr" | wc -l)" -eq 0 ]; then
	ok "pkg-descr: present, lines <= 80 columns, no WWW line (WWW is in the Makefile)"
else
	notok "pkg-descr: missing, long lines or a WWW: line"
fi
ver=$(pv DISTVERSION)
pcver=$(sed -n 's/^Version: //p' lib/kup.pc.in)
debver=$(sed -n '1s/^kup (\([^)-]*\).*/\1/p' debian/changelog)
[ "$ver" = "$pcver" ] && [ "$ver" = "$debver" ] && ok "DISTVERSION $ver = kup.pc.in's Version = debian/changelog's" ||
	notok "versions differ: port $ver, kup.pc.in $pcver, debian/changelog $debver"
dist=$(pv PORTNAME)-$ver.tar.gz
if [ "$(wc -l <"$port/distinfo")" -eq 3 ] && grep -qE '^TIMESTAMP = [0-9]+$' "$port/distinfo" &&
	grep -qE "^SHA256 \($dist\) = [0-9a-f]{64}$" "$port/distinfo" &&
	grep -qE "^SIZE \($dist\) = [0-9]+$" "$port/distinfo"; then
	ok "distinfo: TIMESTAMP, SHA256 and SIZE of $dist (placeholder values: $port/README.md)"
else
	notok "distinfo is not TIMESTAMP/SHA256/SIZE lines for $dist"
fi
plist=$port/pkg-plist
if LC_ALL=C sort -c "$plist" 2>/dev/null && [ -z "$(sort "$plist" | uniq -d)" ]; then
	ok "pkg-plist sorted, no duplicates"
else
	notok "pkg-plist not sorted or has duplicates"
fi

# --- 2. the BSD Makefiles read by bmake with FreeBSD's share/mk -----------
# share/mk as FreeBSD installs it (/usr/share/mk): the files of
# share/mk/Makefile's FILES, linked (src.*.mk, read only inside the source
# tree, would change what bsd.*.mk do).
mk=$work/mk
mkdir -p "$mk"
for f in $(sed -n '/^FILES=/,/^$/p' "$SHAREMK/Makefile" | tr -s ' \t\\' '\n\n\n' |
	grep -E '\.(mk|sh|awk)$|README$'); do
	case $f in '${SRCTOP}'/*) src=$KUP_FBSD_SRC/${f#\$\{SRCTOP\}/} ;; *) src=$SHAREMK/$f ;; esac
	[ -f "$src" ] && ln -sfn "$src" "$mk/$(basename "$f")"
done
SYSDIR=$KUP_FBSD_SRC/sys
BM=(bmake -m "$mk" MACHINE=amd64 MACHINE_ARCH=amd64 SYSDIR="$SYSDIR")
# q DIR VAR...: bmake -V with every VAR expanded.
q() {
	local d=$1 v
	shift
	for v in "$@"; do printf ' -V ${%s}' "$v"; done | xargs "${BM[@]}" -C "$d" 2>"$work/q.err"
}
base() { for w in "$@"; do basename "$w"; done; }
gnu() { make -s --no-print-directory --eval 'kup-port-print-%: ; @echo $($*)' "kup-port-print-$1"; }

gnu_lib=$(base $(gnu LIBKUP_SRC) | grep -vx kp_prov.c)
lib=$(q bsd/lib SRCS)
if [ -n "$lib" ]; then
	check "bsd/lib SRCS = mk/lib.mk's LIBKUP_SRC without lib/kp_prov.c" "$gnu_lib" "$lib"
else
	notok "bmake cannot read bsd/lib/Makefile"
	sed 's/^/#   /' "$work/q.err" | head -n 20
fi
check "bsd/kupctl SRCS = tools/kupctl.c + libkup's sources, as mk/lib.mk links it" \
	"kupctl.c $gnu_lib" "$(q bsd/kupctl SRCS)"
check "bsd/lib INCS = mk/lib.mk's KUP_PUBLIC_HDRS + kernel/freebsd/kupsvc_host.h" \
	"$(base $(gnu KUP_PUBLIC_HDRS)) kupsvc_host.h" "$(base $(q bsd/lib INCS))"
for h in $(q bsd/lib INCS); do [ -f "$h" ] || notok "INCS: $h does not exist"; done
check "bsd/lib MAN + bsd/kupctl MAN = docs/man" "$(cd docs/man && ls)" \
	"$(q bsd/lib MAN) $(q bsd/kupctl MAN)"
read -r vmap shlib soname < <(q bsd/lib VERSION_MAP SHLIB_NAME SHLIB_LINK | tr '\n' ' ')
[ "$(realpath -m "$vmap")" = "$top/lib/libkup.map" ] && [ "$shlib" = libkup.so.0 ] && [ "$soname" = libkup.so ] &&
	ok "bsd/lib: libkup.so.0 (SHLIB_MAJOR 0), libkup.so, VERSION_MAP lib/libkup.map" ||
	notok "bsd/lib: SHLIB_NAME $shlib, SHLIB_LINK $soname, VERSION_MAP $vmap"
dirs=$(q bsd/lib LIBDIR INCLUDEDIR LIBDATADIR MANDIR | tr '\n' ' ')
dirs2=$(q bsd/kupctl BINDIR MANDIR | tr '\n' ' ')
[ "$dirs" = "/usr/local/lib /usr/local/include /usr/local/libdata /usr/local/share/man/man " ] &&
	[ "$dirs2" = "/usr/local/bin /usr/local/share/man/man " ] &&
	[ "$("${BM[@]}" -C bsd/lib PREFIX=/opt/kup -V '${LIBDIR}')" = /opt/kup/lib ] &&
	ok "install directories under PREFIX (/usr/local by default, PREFIX=/opt/kup moves them)" ||
	notok "install directories: lib: $dirs; kupctl: $dirs2"
. tests/freebsd/lists.sh
check "kernel/freebsd SRCS = kernel/freebsd/*.c + core/sources.mk's KUP_CORE and KUP_CORE_DEV" \
	"$(base kernel/freebsd/*.c "${core[@]}" "${core_dev[@]}")" "$(q kernel/freebsd SRCS:M*.c)"
check "kernel/freebsd EXPORT_SYMS = core/kup_syms.h + the kupsvc_fbsd_* helpers" \
	"$exports" "$(q kernel/freebsd EXPORT_SYMS)"
[ "$(q kernel/freebsd KMOD KMODDIR | tr '\n' ' ')" = "kup /boot/modules " ] &&
	ok "kernel/freebsd: KMOD kup, KMODDIR /boot/modules (the port's %%KMODDIR%%)" ||
	notok "kernel/freebsd: KMOD/KMODDIR: $(q kernel/freebsd KMOD KMODDIR | tr '\n' ' ')"
# libkup as bsd/lib builds it (its SRCS and CFLAGS' -D flags), natively:
# without the provider backend a provider name, socket or forced provider
# is a device that does not exist, and nothing needs kp_prov_ops.
srcs=()
for f in $lib; do
	for d in lib uspace core; do [ -f "$d/$f" ] && srcs+=("$d/$f"); done
done
defs=$(q bsd/lib CFLAGS | tr ' ' '\n' | grep -E '^-D')
cat >"$work/noprov.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "kup.h"
int main(int argc, char **argv)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int s = socket(AF_UNIX, SOCK_STREAM, 0), bad = 0;

	if (argc < 2)
		return 2;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", argv[1]);
	unlink(a.sun_path);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)))
		return 2;
	if (kernproxy_open("kup_port_nosuch") || kernproxy_errno != EKU_NOENT)
		bad |= 4;
	if (kernproxy_open(argv[1]) || kernproxy_errno != EKU_NOENT)
		bad |= 8;
	setenv("KUP_BACKEND", "provider", 1);
	if (kernproxy_open("kup_port_nosuch") || kernproxy_errno != EKU_NOENT)
		bad |= 16;
	unlink(a.sun_path);
	return bad;
}
EOF
# shellcheck disable=SC2086 # the -D flags are words
if cc -std=gnu11 -Wall -Werror $defs -Iinclude -Iuspace -Ilib -Icore "$work/noprov.c" "${srcs[@]}" \
	-o "$work/noprov" -lpthread 2>"$work/noprov.log" && KUP_QUIET=1 "$work/noprov" "$work/noprov.sock"; then
	ok "libkup built as bsd/lib builds it ($(echo $defs)): provider names are EKU_NOENT, no kp_prov_ops"
else
	notok "libkup without its provider backend (exit $?, $work/noprov.log)"
	head -n 10 "$work/noprov.log" | sed 's/^/#   /'
fi
sub=$(bmake -m "$mk" -f BSDmakefile -V '${SUBDIR}')
want=$(for m in bsd/*/Makefile; do dirname "$m"; done; echo kernel/freebsd)
check "BSDmakefile SUBDIR = every bsd/*/Makefile + kernel/freebsd" "$want" "$sub"
if "${BM[@]}" -f BSDmakefile -n all >"$work/dry.log" 2>&1 &&
	grep -q 'libkup.so.0' "$work/dry.log" && grep -q 'kupctl' "$work/dry.log" &&
	grep -q 'kup.ko' "$work/dry.log"; then
	ok "make -n all from the top: lib, kupctl and kup.ko, no parse error"
else
	notok "make -n all from the top ($work/dry.log)"
	sed 's/^/#   /' "$work/dry.log" | grep -v '^#   clang' | tail -n 15
fi

# --- 3. cross build, staged install, pkg-plist ----------------------------
why=
[ -f "$KUP_FBSD_SYSROOT/usr/lib/libc.a" ] || why="no FreeBSD sysroot (KUP_FBSD_SYSROOT=$KUP_FBSD_SYSROOT)"
for t in "$KUP_FBSD_CLANG" ld.lld llvm-ar llvm-ranlib llvm-objcopy llvm-nm llvm-readelf llvm-strip original-awk; do
	[ -n "$why" ] || command -v "$t" >/dev/null || why="$t not installed (scripts/deps.sh freebsd freebsd-vm)"
done
if [ -n "$why" ]; then
	echo "# freebsd-port: build and install not checked: $why"
	echo "1..$((tn + 1))"
	echo "$pass passed, $fail failed, 1 skipped"
	[ "$fail" -eq 0 ]
	exit
fi

# The tree as the distfile holds it (tracked files and new unignored ones,
# as make deb copies it), unpacked as a port's WRKSRC.
wrk=$work/work/kup-$ver
mkdir -p "$wrk"
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$wrk" 2>/dev/null
(cd "$wrk" && find . ! -type d | LC_ALL=C sort) >"$work/dist.files"
stage=$work/stage
bin=$work/bin
mkdir -p "$bin" "$stage" "$work/stubs"
# FreeBSD's install(1), the options bsd.*.mk use: -l (links), -s (strip),
# -d, -m; -C/-S/-T/-U ignored.  Like FreeBSD's, it makes no directory the
# Makefiles did not ask for; -o and -g must name the building user and
# group (names of our own here), as a port built by a user with
# USES=uidfix needs: it sets only BINOWN, LIBOWN, SHAREOWN and their groups,
# so every owner the Makefiles use must follow those.
cat >"$bin/install" <<'EOF'
#!/bin/bash
mode= link= strip= dir=
while getopts 'Cbcdg:l:M:m:o:pSsT:UvB:D:f:h:N:' o; do
	case $o in
	d) dir=1 ;; m) mode=$OPTARG ;; l) link=$OPTARG ;; s) strip=1 ;;
	o) [ "$OPTARG" = "$KUP_PORT_OWN" ] || { echo "install: -o $OPTARG: not the building user" >&2; exit 67; } ;;
	g) [ "$OPTARG" = "$KUP_PORT_GRP" ] || { echo "install: -g $OPTARG: not the building group" >&2; exit 67; } ;;
	*) ;;
	esac
done
shift $((OPTIND - 1))
if [ -n "$dir" ]; then exec mkdir -p -m "${mode:-755}" "$@"; fi
if [ -n "$link" ]; then
	t=$2; [ -d "$t" ] && t=$t/$(basename "$1")
	[ -d "$(dirname "$t")" ] || { echo "install: $(dirname "$t"): no such directory" >&2; exit 71; }
	exec ln -sfn "$1" "$t"
fi
dest=${!#}
if [ $# -gt 2 ] || [ "${dest%/}" != "$dest" ]; then
	[ -d "$dest" ] || { echo "install: $dest: not a directory" >&2; exit 71; }
else
	[ -d "$(dirname "$dest")" ] || { echo "install: $(dirname "$dest"): no such directory" >&2; exit 71; }
fi
exec /usr/bin/install -m "${mode:-755}" ${strip:+-s --strip-program=llvm-strip} "$@"
EOF
# FreeBSD's xargs -J (kmod.mk: kmod_syms.awk ... | xargs -J% objcopy % kup.ko).
cat >"$bin/xargs" <<'EOF'
#!/bin/bash
if [[ ${1:-} == -J* ]]; then
	r=${1#-J}; shift
	[ -n "$r" ] || { r=$1; shift; }
	mapfile -t w < <(tr -s ' \t' '\n\n' | sed '/^$/d')
	[ ${#w[@]} -gt 0 ] || exit 0
	a=()
	for x in "$@"; do if [ "$x" = "$r" ]; then a+=("${w[@]}"); else a+=("$x"); fi; done
	exec "${a[@]}"
fi
exec /usr/bin/xargs "$@"
EOF
chmod +x "$bin/install" "$bin/xargs"
# The sysroot has static libraries only: empty stand-ins let libkup.so link
# (a shared library may leave symbols undefined); kupctl links statically.
echo 'void kup_port_stub(void); void kup_port_stub(void) {}' >"$work/stubs/stub.c"
for l in c gcc_s thr pthread; do
	"$KUP_FBSD_CLANG" --target="$KUP_FBSD_TARGET" -shared -nostdlib -fpic -fuse-ld=lld \
		-Wl,-soname,lib$l.so "$work/stubs/stub.c" -o "$work/stubs/lib$l.so" || why="stub lib$l.so"
done
me=kup-port-user grp=kup-port-group
export KUP_PORT_OWN=$me KUP_PORT_GRP=$grp
XB=("${BM[@]}" CC="$KUP_FBSD_CLANG --target=$KUP_FBSD_TARGET --sysroot=$KUP_FBSD_SYSROOT"
	LD="$(command -v ld.lld)" AR=llvm-ar RANLIB=llvm-ranlib OBJCOPY=llvm-objcopy NM=llvm-nm STRIPBIN=llvm-strip
	AWK=original-awk INSTALL="$bin/install" NO_SHARED=yes
	BINOWN="$me" BINGRP="$grp" LIBOWN="$me" LIBGRP="$grp" SHAREOWN="$me" SHAREGRP="$grp"
	NO_XREF=yes)
# Objects next to the sources, as in a port's WRKSRC (no MAKEOBJDIRPREFIX).
export LDFLAGS="-L$work/stubs" PATH=$bin:$PATH
unset MAKEOBJDIRPREFIX MAKEOBJDIR
(cd "$wrk" && "${XB[@]}" -j"$(nproc)" all) >"$work/build.log" 2>&1
rc=$?
if [ $rc -eq 0 ]; then
	ok "bmake builds kup.ko, libkup and kupctl from the distfile tree (cross, $KUP_FBSD_TARGET)"
else
	notok "bmake build ($work/build.log)"
	grep -v '^clang\|^gzip' "$work/build.log" | tail -n 20 | sed 's/^/#   /'
fi
# Everything the build left in the tree is ignored by the repository's
# .gitignore (an in-tree build on FreeBSD leaves git status clean).
new=$(cd "$wrk" && find . ! -type d | LC_ALL=C sort | comm -13 "$work/dist.files" - | sed 's|^\./||')
kept=$(git check-ignore --no-index -v -n --stdin <<<"$new" | awk '/^::/ {print $2}')
[ -n "$new" ] && [ -z "$kept" ] && ok "the $(wc -l <<<"$new") files the build left in the tree are all in .gitignore" ||
	notok "build products .gitignore does not ignore: $(echo $kept)"
(cd "$wrk" && "${XB[@]}" install DESTDIR="$stage") >"$work/install.log" 2>&1 &&
	ok "make install DESTDIR=stage (an empty tree, as a port stages)" || {
	notok "make install ($work/install.log)"
	tail -n 20 "$work/install.log" | sed 's/^/#   /'
}
staged=$(cd "$stage" && find . ! -type d | sed -e 's|^\./||' -e 's|^boot/modules/|/%%KMODDIR%%/|' \
	-e 's|^usr/local/||' | LC_ALL=C sort)
check "the staged files are pkg-plist, exactly" "$(cat "$plist")" "$staged"
P=$stage/usr/local
so=$P/lib/libkup.so.0
if [ -f "$so" ]; then
	[ "$(llvm-readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')" = libkup.so.0 ] &&
		[ "$(readlink "$P/lib/libkup.so")" = libkup.so.0 ] &&
		ok "libkup.so.0: SONAME libkup.so.0, libkup.so links to it" || notok "libkup.so.0's SONAME or link"
	syms=$(llvm-nm -D --defined-only "$so" | awk '$2 ~ /[TDBRW]/ {print $3}' | sed 's/@.*//' | grep -v '^LIBKUP_0$')
	vers=$(llvm-readelf --dyn-syms "$so" | awk '$5 == "GLOBAL" && $7 != "UND" {print $8}' |
		grep -v '^LIBKUP_0$' | sed -n 's/.*@@*//p' | sort -u)
	api=$(grep -oE '\bkernproxy_[a-z_]+\(' include/kup.h | tr -d '(' | sort -u)
	check "libkup.so.0 exports kup.h's kernproxy_* calls, nothing else" "$api" "$syms"
	[ "$vers" = LIBKUP_0 ] && ok "every export has version LIBKUP_0 (lib/libkup.map)" ||
		notok "symbol versions: $vers"
	# bsd.lib.mk links without --no-undefined (the GNU build uses it): no
	# symbol of KUP's own may be left undefined, only the C library's.
	und=$(llvm-nm -D --undefined-only "$so" | awk '{print $2}' | grep -E '^(kp_|kup|kw_|kernproxy_)')
	[ -z "$und" ] && ok "libkup.so.0 leaves none of KUP's own symbols undefined" ||
		notok "libkup.so.0 needs KUP symbols it does not define: $und"
else
	notok "no libkup.so.0 staged"
fi
ko=$stage/boot/modules/kup.ko
[ -f "$ko" ] && check "kup.ko's global symbols are its EXPORT_SYMS (kmod.mk made the rest local)" \
	"$exports" "$(llvm-nm -g --defined-only "$ko" | awk '{print $3}')" || notok "no kup.ko staged"
[ -f "$P/bin/kupctl" ] && llvm-readelf -h "$P/bin/kupctl" | grep -q 'OS/ABI:.*FreeBSD' &&
	ok "kupctl: a FreeBSD executable" || notok "kupctl missing or not a FreeBSD executable"
pc=$P/libdata/pkgconfig/kup.pc
[ -f "$pc" ] && grep -qx 'libdir=/usr/local/lib' "$pc" && grep -qx 'includedir=/usr/local/include' "$pc" &&
	grep -qx "Version: $ver" "$pc" && ok "kup.pc: PREFIX's libdir and includedir, version $ver" ||
	notok "kup.pc ($pc)"
# A service module builds against the installed headers alone (and kup.ko's
# EXPORT_SYMS, checked above): kup_echo.c with bsd.kmod.mk.
mod=$work/svc
mkdir -p "$mod"
cp examples/echo/kup_echo.c "$mod/"
printf 'KMOD=\tkup_echo\nSRCS=\tkup_echo.c\nCFLAGS+=\t-I%s\n.include <bsd.kmod.mk>\n' "$P/include" >"$mod/Makefile"
if (cd "$mod" && "${XB[@]}" all) >"$work/svc.log" 2>&1 && [ -f "$mod/kup_echo.ko" ]; then
	ok "kup_echo.ko builds with bsd.kmod.mk against the installed headers"
else
	notok "kup_echo.ko against the installed headers ($work/svc.log)"
	grep -v '^clang' "$work/svc.log" | tail -n 15 | sed 's/^/#   /'
fi
echo "1..$tn"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
