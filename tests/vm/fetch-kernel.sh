#!/bin/bash
# Fetch Debian's kernel image and the matching headers into build/vm/kernel
# with `apt-get download` + `dpkg-deb -x`; the machine's /boot and /lib/modules
# are never touched.  Prints the KDIR (headers tree) on success.
# usage: tests/vm/fetch-kernel.sh OUTDIR   (e.g. build/vm)
# KUP_VM_KERNEL names the image metapackage to follow (default
# linux-image-amd64; linux-image-6.12-amd64 is Debian 12's newer kernel;
# debug is tests/vm/debug-kernel.sh's kernel).
# One OUTDIR holds one kernel.
set -eu
out=${1:?usage: fetch-kernel.sh OUTDIR}
meta=${KUP_VM_KERNEL:-linux-image-amd64}
# KUP_VM_KERNEL=debug: the debug kernel built from source (make suite-vm-debug).
[ "$meta" = debug ] && exec "$(dirname "$0")/debug-kernel.sh" "$out"
mkdir -p "$out/debs" "$out/root"
out=$(cd "$out" && pwd)
stamp=$out/root/.fetched

if [ ! -f "$stamp" ]; then
	# $meta is a metapackage: follow it to the versioned image.
	img=$(apt-cache depends "$meta" 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1)
	if [ -z "$img" ]; then
		apt-get update -qq >/dev/null
		img=$(apt-cache depends "$meta" | sed -n 's/.*Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1)
	fi
	[ -n "$img" ] || { echo "fetch-kernel: cannot resolve $meta" >&2; exit 1; }
	abi=${img#linux-image-}	  # 6.1.0-56-amd64, 6.12.117+deb12-amd64
	hdr=linux-headers-$abi
	common=$(apt-cache depends "$hdr" | sed -n 's/.*Depends: \(linux-headers-.*-common\)$/\1/p' | head -n1)
	kbuild=$(apt-cache depends "$hdr" | sed -n 's/.*Depends: \(linux-kbuild-[0-9][^ ]*\)$/\1/p' | head -n1)
	[ -n "$common" ] && [ -n "$kbuild" ] || { echo "fetch-kernel: cannot resolve $hdr deps" >&2; exit 1; }
	(cd "$out/debs" && rm -f ./*.deb && apt-get download -q "$img" "$hdr" "$common" "$kbuild" >/dev/null) || {
		apt-get update -qq >/dev/null
		(cd "$out/debs" && apt-get download -q "$img" "$hdr" "$common" "$kbuild" >/dev/null)
	}
	for d in "$out"/debs/*.deb; do dpkg-deb -x "$d" "$out/root"; done
	echo "$abi" >"$stamp"
fi
abi=$(cat "$stamp")
# The arch tree's Makefile includes the -common tree by an absolute /usr/src
# path: point it at this copy (again, in case the tree moved).
sed -i -E "s|^include .*/usr/src/|include $out/root/usr/src/|" \
	"$out/root/usr/src/linux-headers-$abi/Makefile"
echo "$out/root/usr/src/linux-headers-$abi"
