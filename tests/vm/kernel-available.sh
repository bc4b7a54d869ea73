#!/bin/bash
# Exit 0 when the kernel image metapackage $1 is fetched into OUTDIR $2
# already or can be fetched from the configured apt sources (an `apt-get
# update` is tried once).  Debian 12's 6.12 line comes from
# bookworm-security: a machine without that source cannot boot it.
set -u
meta=${1:?usage: kernel-available.sh META OUTDIR}
out=${2:?usage: kernel-available.sh META OUTDIR}
[ -f "$out/root/.fetched" ] && exit 0
has() { apt-cache depends "$meta" 2>/dev/null | grep -q 'Depends: linux-image-[0-9]'; }
has && exit 0
apt-get update -qq >/dev/null 2>&1
has
