#!/bin/bash
# suite-deb: the Debian packages, built and used the way a distribution
# would.  `make deb`, then each package's contents, lintian (no E: tag),
# DKMS building kup.ko from kup-dkms's files against Debian's kernel headers
# in build/vm and, where apt has them, 6.12's in build/k6.12/vm (DKMS trees
# under build/deb/check: the machine's /var/lib/dkms and /lib/modules are
# not touched), and the VM suite once with the kup.ko DKMS built for the VM.
# TAP, then the counts.  Every step runs under a timeout.
# usage: DEB_KDIR=HEADERS-TREE [DEB_KDIRS_MORE="TREE..."] tests/deb/run.sh
#   (make suite-deb sets them: the VM's kernel headers, and Debian 12's 6.12
#   headers, which suite-vm-6.12 uses too, where apt can get them)
set -u
cd "$(dirname "$0")/../.."
top=$PWD
B=${B:-build}
kdir=${DEB_KDIR:?DEB_KDIR: the kernel headers tree (make suite-deb)}
out=$B/deb
w=$top/$out/check
[[ $B == /* ]] && w=$B/deb/check
rm -rf "$w" && mkdir -p "$w/x" "$w/root"
log=$w/log
n=0 pass=0 fail=0

ok() { n=$((n + 1)); pass=$((pass + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $1"
	[ -f "$log" ] && sed 's/^/#   /' "$log" | tail -n 30
}
check() { # check NAME COMMAND...: one test per command, output in $log
	local name=$1; shift
	if "$@" >"$log" 2>&1; then ok "$name"; else not_ok "$name"; fi
}
finish() {
	echo "1..$n"
	echo "$pass passed, $fail failed"
	[ $fail -eq 0 ]
	exit $?
}

ver=$(dpkg-parsechangelog -S Version)
uver=${ver%-*}
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
t0=$(date +%s)
check "make deb builds the packages" timeout -k 10 900 make --no-print-directory deb B="$B"
echo "# make deb: $(($(date +%s) - t0)) s"
cp "$log" "$w/make-deb.log"
# A new API function that debian/*.symbols does not list yet: say so (it
# builds; docs/packaging.md says how to add it).
if grep -q "dpkg-gensymbols: warning" "$w/make-deb.log"; then
	echo "# symbols files out of date (add the new symbols with their version):"
	grep -E "^\+[^+]" "$w/make-deb.log" | sed 's/^/#   /'
fi
deb() { # deb PACKAGE: its .deb
	local a=$arch
	[ "$1" = kup-dkms ] && a=all
	echo "$out/${1}_${ver}_$a.deb"
}
pkgs=(kup-dkms libkup0 libkupdev0 libkup-dev kup-tools)
for p in "${pkgs[@]}"; do
	[ -f "$(deb "$p")" ] || { not_ok "$p: $(deb "$p") exists"; finish; }
	echo "# $(basename "$(deb "$p")"): $(stat -c %s "$(deb "$p")") bytes," \
		"installed $(dpkg-deb -f "$(deb "$p")" Installed-Size) KiB"
	dpkg-deb -c "$(deb "$p")" | awk '{ print $6 }' | sed 's|^\./|/|' >"$w/$p.list"
	dpkg-deb -x "$(deb "$p")" "$w/x/$p"
	dpkg-deb -x "$(deb "$p")" "$w/root"
done
has() { # has PACKAGE PATH...: each path is in the package's listing
	local p=$1 f; shift
	for f in "$@"; do grep -qxF "$f" "$w/$p.list" || { echo "$p lacks $f"; return 1; }; done
}
libdir=/usr/lib/$ma

# --- the shared libraries: SONAME, version node, symbols file -------------
solib() { # solib PACKAGE SONAME NODE
	local p=$1 so=$2 node=$3 f=$w/x/$1$libdir/$2 bad
	has "$p" "$libdir/$so" || return 1
	[ -f "$f" ] && [ ! -L "$f" ] || { echo "$so is not a file"; return 1; }
	readelf -d "$f" | grep -F "(SONAME)" | grep -qF "[$so]" || { readelf -d "$f" | grep SONAME; return 1; }
	# Every defined dynamic symbol carries the version node of the .map file.
	bad=$(objdump -T "$f" | awk '/DF|DO/ && $0 !~ /\*UND\*/' | grep -vF " $node ")
	[ -z "$bad" ] || { echo "symbols outside $node:"; echo "$bad"; return 1; }
	dpkg-deb -I "$(deb "$p")" symbols | grep -q "^$so $p " || { echo "no symbols file"; return 1; }
	! grep -qE '\.(a|so)$' "$w/$p.list" || { echo "development files in $p"; return 1; }
}
check "libkup0: libkup.so.0, SONAME libkup.so.0, every symbol in LIBKUP_0, symbols file" \
	solib libkup0 libkup.so.0 LIBKUP_0
check "libkupdev0: libkupdev.so.0, SONAME libkupdev.so.0, every symbol in LIBKUPDEV_0, symbols file" \
	solib libkupdev0 libkupdev.so.0 LIBKUPDEV_0

# --- libkup-dev ------------------------------------------------------------
hdrs=()
for h in $(make -s --no-print-directory deb-print-KUP_PUBLIC_HDRS B="$B"); do
	hdrs+=("/usr/include/$(basename "$h")")
done
check "libkup-dev: headers (${hdrs[*]##*/})" has libkup-dev "${hdrs[@]}"
check "libkup-dev: static libraries, .so links, pkg-config files" has libkup-dev \
	"$libdir/libkup.a" "$libdir/libkupdev.a" "$libdir/libkup.so" "$libdir/libkupdev.so" \
	"$libdir/pkgconfig/kup.pc" "$libdir/pkgconfig/kupdev.pc"
check "libkup-dev: .pc files name the multiarch libdir" \
	grep -qx "libdir=$libdir" "$w/x/libkup-dev$libdir/pkgconfig/kup.pc" "$w/x/libkup-dev$libdir/pkgconfig/kupdev.pc"
man3() { # every docs/man/*.3 and *.7 is in the package
	local m miss=0
	for m in docs/man/*.3 docs/man/*.7; do
		s=${m##*.}
		has libkup-dev "/usr/share/man/man$s/$(basename "$m").gz" || miss=1
	done
	echo "$(grep -c '/man3/.*\.3\.gz$' "$w/libkup-dev.list") section 3 pages"
	return $miss
}
check "libkup-dev: every section 3 and 7 man page of docs/man" man3
user_build() { # a client and a service built from the packages alone
	local pc="$w/root$libdir/pkgconfig" cf
	export PKG_CONFIG_SYSROOT_DIR=$w/root PKG_CONFIG_LIBDIR=$pc
	cf=(-std=gnu11 -Wall -Werror -D_GNU_SOURCE -O2)
	cc "${cf[@]}" examples/echo/echo_client.c -o "$w/echo_client" $(pkg-config --cflags --libs kup) -lpthread &&
	cc "${cf[@]}" examples/echo/kup_echo.c -o "$w/kup_echo" $(pkg-config --cflags --libs kupdev) -lpthread &&
	LD_LIBRARY_PATH=$w/root$libdir ldd "$w/echo_client" | grep -F "$w/root$libdir/libkup.so.0"
}
check "libkup-dev: the echo client and service build with pkg-config against the packages" user_build

# --- kup-tools -------------------------------------------------------------
kupctl_ok() {
	has kup-tools /usr/bin/kupctl /usr/share/man/man1/kupctl.1.gz || return 1
	local rc=0
	"$w/x/kup-tools/usr/bin/kupctl" >/dev/null 2>"$w/usage" || rc=$?
	[ $rc -eq 2 ] && grep -q "usage: kupctl" "$w/usage"
}
check "kup-tools: kupctl (runs: usage, exit 2) and kupctl(1)" kupctl_ok

# --- kup-dkms --------------------------------------------------------------
src=/usr/src/kup-$uver
dkms_files() { # the build's own lists, each in place
	local f obj miss=0
	for f in $(make -s --no-print-directory deb-print-KUP_KSRC B="$B"); do
		has kup-dkms "$src/$(basename "$f")" || miss=1
	done
	for f in $(make -s --no-print-directory deb-print-LINUX_HDRS B="$B"); do
		has kup-dkms "$src/$f" || miss=1
	done
	has kup-dkms "$src/dkms.conf" "$src/Kbuild" || miss=1
	cmp kernel/linux/Kbuild "$w/x/kup-dkms$src/Kbuild" || miss=1
	# Every object of the packaged Kbuild's kup-y (evaluated there, with
	# what it includes from KUP_TOP) has its source beside it.
	objs=$(printf 'include $(KUP_TOP)/Kbuild\nprint:\n\t@echo $(kup-y)\n' |
		make -s --no-print-directory -f - print KUP_TOP="$w/x/kup-dkms$src") || return 1
	[ -n "$objs" ] || { echo "Kbuild names no object"; return 1; }
	for obj in $objs; do
		[ -f "$w/x/kup-dkms$src/${obj%.o}.c" ] || { echo "no source for $obj"; miss=1; }
	done
	echo "kup-y: $objs"
	echo "$(grep -c '\.[ch]$' "$w/kup-dkms.list") source files"
	return $miss
}
check "kup-dkms: dkms.conf, Kbuild, kup.ko's sources (KUP_KSRC) and headers (LINUX_HDRS)" dkms_files
dkms_pkg() {
	grep -qx "PACKAGE_VERSION=\"$uver\"" "$w/x/kup-dkms$src/dkms.conf" &&
	dpkg-deb -f "$(deb kup-dkms)" Depends | grep -q dkms &&
	dpkg-deb -I "$(deb kup-dkms)" postinst | grep -q "dkms"
}
check "kup-dkms: version $uver in dkms.conf, depends on dkms, postinst runs it" dkms_pkg

# --- lintian ---------------------------------------------------------------
t0=$(date +%s)
timeout -k 10 600 nice lintian -I --tag-display-limit 0 "$out/kup_${ver}_$arch.changes" >"$w/lintian" 2>&1
echo "# lintian: $(($(date +%s) - t0)) s; $(grep -c '^E: ' "$w/lintian") errors," \
	"$(grep -c '^W: ' "$w/lintian") warnings, $(grep -c '^I: ' "$w/lintian") info"
grep -E '^[EWIP]: ' "$w/lintian" | sed 's/^/#   /'
lint_ok() { ! grep '^E: ' "$w/lintian"; }
check "lintian reports no errors" lint_ok

# --- DKMS: kup.ko for each kernel, from the package's files ---------------
# add once, then build and install for every kernel as the package's
# postinst does for the installed ones, but with DKMS's source, build and
# install trees under build/deb/check.  The first kernel is the VM's.
dk=(--sourcetree "$w/root/usr/src" --dkmstree "$w/dkms" --installtree "$w/modules")
abi_of() { local a; a=$(basename "$1"); echo "${a#linux-headers-}"; }
host_state() {
	local k
	ls -laR /var/lib/dkms 2>&1
	for k in $kdir ${DEB_KDIRS_MORE:-}; do ls -laR "/lib/modules/$(abi_of "$k")" 2>&1; done
}
host_state >"$w/host.before"
# sign_file: DKMS signs with /var/lib/dkms/mok.key where the kernel's
# sign-file exists; these modules stay unsigned, like the tree's.
export sign_file=/nonexistent
mkdir -p "$w/dkms" "$w/modules"
check "dkms add: kup $uver from kup-dkms's /usr/src/kup-$uver" timeout 120 dkms add -m kup -v "$uver" "${dk[@]}"
dkms_build() { # dkms_build KDIR ABI
	timeout -k 10 600 nice dkms build -m kup -v "$uver" -k "$2" --kernelsourcedir "$1" "${dk[@]}"
	local rc=$?
	cat "$w/dkms/kup/$uver/$2/$(uname -m)/log/make.log" 2>/dev/null
	return $rc
}
# Into the install tree's ABI/updates/dkms (DEST_MODULE_LOCATION), without
# depmod: it would write the machine's /lib/modules.
dkms_install() { # dkms_install ABI
	mkdir -p "$w/modules/$1"
	timeout -k 10 300 nice dkms install -m kup -v "$uver" -k "$1" --no-depmod "${dk[@]}" &&
	dkms status -m kup "${dk[@]}" | grep "$1" | grep -q installed
}
ko=
for k in $kdir ${DEB_KDIRS_MORE:-}; do
	abi=$(abi_of "$k")
	t0=$(date +%s)
	check "dkms build: kup.ko for $abi" dkms_build "$k" "$abi"
	echo "# dkms build for $abi: $(($(date +%s) - t0)) s"
	check "dkms install: kup.ko in the install tree's $abi/updates/dkms" dkms_install "$abi"
	mod=$(ls "$w/modules/$abi/updates/dkms/kup.ko"* 2>/dev/null | head -n1)
	out_ko=$w/ko/$abi/kup.ko	# the guest loads /mod/kup.ko
	mkdir -p "$w/ko/$abi"
	case $mod in
	*.xz) xz -dc "$mod" >"$out_ko" ;;
	*.zst) zstd -qdc "$mod" >"$out_ko" ;;
	*.gz) gzip -dc "$mod" >"$out_ko" ;;
	?*) cp "$mod" "$out_ko" ;;
	esac
	check "the installed kup.ko is for $abi (vermagic)" \
		bash -c "modinfo -F vermagic '$out_ko' | grep -q '^$abi '"
	check "DKMS's tree keeps kup.ko's Module.symvers for $abi (POST_BUILD)" \
		grep -q kupdev_create "$w/dkms/kup/$uver/$abi/$(uname -m)/Module.symvers"
	[ -n "$ko" ] || ko=$out_ko
done
# A module built on kup.ko, as a user of the package builds one: the echo
# service against /usr/src/kup-VERSION's headers and the Module.symvers
# DKMS kept; modpost must resolve every kupdev_* symbol.
client_build() { # client_build KDIR ABI
	local d=$w/client/$2 sv=$w/dkms/kup/$uver/$2/$(uname -m)/Module.symvers
	mkdir -p "$d" && cp examples/echo/kup_echo.c "$d/" && cp kernel/linux/Kbuild.svc "$d/Kbuild" &&
	timeout -k 10 600 nice make -C "$1" M="$d" KUP_TOP="$w/root/usr/src/kup-$uver" KBUILD_EXTRA_SYMBOLS="$sv" \
		SVC_MOD=kup_echo SVC_SRC=kup_echo modules >"$d/make.log" 2>&1
	local rc=$?
	cat "$d/make.log"
	[ $rc -eq 0 ] && ! grep -qiE 'undefined|WARNING' "$d/make.log" &&
		modinfo -F depends "$d/kup_echo.ko" | grep -qw kup
}
check "a client module (kup_echo.ko) builds on the packaged headers and DKMS's Module.symvers" \
	client_build "$kdir" "$(abi_of "$kdir")"
host_same() { host_state | diff "$w/host.before" -; }
check "the machine's /var/lib/dkms and /lib/modules are untouched" host_same

# --- the VM suite with the DKMS-built kup.ko ------------------------------
vm_suite() {
	timeout -k 10 1500 make --no-print-directory -s suite-vm B="$B" VM_KUP_KO="$ko" VM_SUITE_OUT="$w/vm" >"$w/vm.out" 2>&1
	local rc=$?
	sed 's/^/#   /' "$w/vm.out" | grep -vE '^#   ok ' | tail -n 25
	# The guest's /mod/kup.ko was this one.
	cmp "$ko" "$w/vm/initrd/mod/kup.ko" || rc=1
	tail -n 1 "$w/vm.out" | grep -qE '^[0-9]+ passed, 0 failed' || rc=1
	return $rc
}
t0=$(date +%s)
if vm_suite >"$log" 2>&1; then
	ok "VM suite with the DKMS-built kup.ko: $(tail -n 1 "$w/vm.out")"
else
	not_ok "VM suite with the DKMS-built kup.ko: $(tail -n 1 "$w/vm.out")"
fi
echo "# vm suite (DKMS kup.ko): $(($(date +%s) - t0)) s, logs $w/vm"
# The guest's client modules were built against the tree's kup.ko: the
# DKMS build exports the same symbols with the same CRCs.
abi=$(abi_of "$kdir")
same_crcs() {
	local tree
	tree=$(make -s --no-print-directory deb-print-KUP_SYMVERS B="$B")
	diff <(awk '{ print $1, $2 }' "$tree" | sort) \
		<(awk '{ print $1, $2 }' "$w/dkms/kup/$uver/$abi/$(uname -m)/Module.symvers" | sort)
}
check "DKMS's Module.symvers for $abi: the tree build's symbols and CRCs" same_crcs
finish
