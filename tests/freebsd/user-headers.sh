#!/bin/bash
# Assemble a FreeBSD userland include tree (what /usr/include holds) from a
# fetched FreeBSD source snapshot (a bare git dir), for compile-checking
# libkup's kernel backend: OUTDIR/usr/include.  Use the OUTDIR that
# ../shared/tools/freebsd-headers.sh made for the same snapshot; then
# compile-check.sh checks the userland files too.  Nothing from the
# snapshot is ever committed.
# usage: user-headers.sh GITDIR OUTDIR
set -eu
g=$1 out=$2
src=$out/user-src
inc=$out/usr/include
mkdir -p "$src" "$inc/sys" "$inc/machine" "$inc/x86"
git --git-dir="$g" --work-tree="$src" checkout HEAD -- include sys/sys sys/amd64/include \
	sys/x86/include sys/net sys/netinet sys/bsm sys/security
cp -r "$src/include/." "$inc/"
cp -r "$src/sys/sys/." "$inc/sys/"
cp -r "$src/sys/amd64/include/." "$inc/machine/"
cp -r "$src/sys/x86/include/." "$inc/x86/"
for d in net netinet bsm security; do
	mkdir -p "$inc/$d" && cp -r "$src/sys/$d/." "$inc/$d/"
done
# The links and the generated header that include/Makefile installs.
for i in $(sed -n 's/^LHDRS=//p; s/^PHDRS=//p' "$src/include/Makefile") \
	aio.h errno.h fcntl.h poll.h stdint.h syslog.h sched.h; do
	[ -f "$inc/sys/$i" ] && ln -sfn "sys/$i" "$inc/$i"
done
for i in float.h floatingpoint.h stdarg.h; do
	[ -f "$inc/machine/$i" ] && ln -sfn "machine/$i" "$inc/$i"
done
v=$(sed -n 's/^#define[ \t]*__FreeBSD_version[ \t]*\([0-9]*\).*/\1/p' "$inc/sys/param.h")
echo "#define __FreeBSD_version $v" >"$inc/osreldate.h"
rm -rf "$src"
echo "$inc"
