#!/bin/bash
# Build the debug kernel of `make suite-vm-debug` once and cache it: Debian's
# linux-source-6.1 (apt-get download + dpkg-deb -x, nothing installed),
# `make tinyconfig` + tests/vm/debug-kernel.config (KASAN, lockdep, UBSAN,
# KFENCE, page poisoning...), bzImage and a tree out-of-tree modules build
# against.  Prints that tree (the KDIR) on stdout.
#
# usage: tests/vm/debug-kernel.sh [OUTDIR]
#   OUTDIR: lay the kernel out the way fetch-kernel.sh does (root/.fetched
#   and root/boot/vmlinuz-LABEL, a link into the cache) so run-vm.sh boots
#   it; fetch-kernel.sh comes here when KUP_VM_KERNEL=debug.
#
# Cache: ${XDG_CACHE_HOME:-~/.cache}/kup/linux-debug/VERSION-HASH, where
# VERSION is the package's Debian version and HASH covers the config
# fragment, this script and the compiler; a new key builds again (old
# entries stay: remove the directory to reclaim the space).  The build
# runs in a temporary directory renamed into place at the end, under a
# lock, so an interrupted or concurrent build is never used.
# KUP_DEBUG_KERNEL_CACHE overrides the cache directory, KUP_DEBUG_KERNEL_JOBS
# the number of compile jobs (default: every CPU, at nice 10).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-}
pkg=linux-source-6.1
frag=$here/debug-kernel.config
cache=${KUP_DEBUG_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kup/linux-debug}
jobs=${KUP_DEBUG_KERNEL_JOBS:-$(nproc)}
say() { echo "debug-kernel: $*" >&2; }

candidate() { apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: //p'; }
ver=$(candidate)
if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
	apt-get update -qq >/dev/null
	ver=$(candidate)
fi
[ -n "$ver" ] && [ "$ver" != "(none)" ] || { say "$pkg is not in this machine's apt sources"; exit 1; }
cc_id=$(${CC:-gcc} --version | head -n1)
hash=$( { cat "$frag" "$0"; echo "$cc_id"; } | sha256sum | cut -c1-12)
key=$ver-$hash
dir=$cache/$key

build() {
	local tmp=$cache/.build-$key t0 src
	rm -rf "$cache"/.build-*	# left by an interrupted build (we hold the lock)
	mkdir -p "$tmp"
	t0=$(date +%s)
	say "building $pkg $ver with $(basename "$frag") ($jobs jobs, log $tmp/build.log)"
	(cd "$tmp" && apt-get download -q "$pkg=$ver" >/dev/null 2>"$tmp/apt.err") || {
		apt-get update -qq >/dev/null
		(cd "$tmp" && apt-get download -q "$pkg=$ver" >/dev/null)
	}
	dpkg-deb -x "$tmp"/"$pkg"_*.deb "$tmp/pkg"
	src=$(ls "$tmp"/pkg/usr/src/linux-source-*.tar.xz)
	tar -xf "$src" -C "$tmp"
	mv "$tmp"/linux-source-6.1 "$tmp/linux"
	rm -rf "$tmp/pkg" "$tmp"/*.deb "$tmp/apt.err"

	cd "$tmp/linux"
	{
		make tinyconfig
		scripts/kconfig/merge_config.sh -m .config "$frag"
		make olddefconfig
	} >"$tmp/config.log" 2>&1 || { tail -n 20 "$tmp/config.log" >&2; exit 1; }
	# Every line of the fragment must survive: a dropped option (an unmet
	# dependency) would silently build a kernel without that check.
	local bad=0 l s
	while read -r l; do
		case "$l" in
		CONFIG_*) grep -qxF "$l" .config || { say "config: $l did not stick"; bad=1; } ;;
		'# CONFIG_'*' is not set')
			s=${l#\# }; s=${s%% *}
			! grep -q "^$s=" .config || { say "config: $s is still set"; bad=1; } ;;
		esac
	done <"$frag"
	[ $bad -eq 0 ] || exit 1

	# vmlinux, bzImage, and Module.symvers for modpost.
	nice -n 10 make -j"$jobs" all >"$tmp/build.log" 2>&1 || { tail -n 40 "$tmp/build.log" >&2; exit 1; }
	cp arch/x86/boot/bzImage .config "$tmp/"
	# External modules need the configured tree, its generated headers,
	# scripts and objtool, Module.symvers: not the kernel's objects.
	find . \( -name '*.o' -o -name '*.a' -o -name '.tmp_vmlinux*' \) -type f -delete
	echo "$pkg $ver, $(basename "$frag") $hash, built in $(($(date +%s) - t0)) s" >"$tmp/info"
	cd "$cache"
	mv -T "$tmp" "$dir"
	say "$(cat "$dir/info")"
}

if [ ! -f "$dir/info" ]; then
	mkdir -p "$cache"
	exec 9>"$cache/.lock"
	flock 9
	# Not `[ -f ] || build`: set -e does not apply in a function run there.
	if [ ! -f "$dir/info" ]; then build; fi
	exec 9>&-
fi

if [ -n "$out" ]; then
	mkdir -p "$out/root/boot"
	label=$ver-debug-$hash
	ln -sfn "$dir/bzImage" "$out/root/boot/vmlinuz-$label"
	echo "$label" >"$out/root/.fetched"
fi
echo "$dir/linux"
