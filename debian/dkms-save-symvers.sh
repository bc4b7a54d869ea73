#!/bin/sh
# DKMS POST_BUILD script of kup-dkms (run in DKMS's build directory, which
# DKMS deletes next): keep kup.ko's Module.symvers beside the built module,
# in /var/lib/dkms/kup/VERSION/KERNELVER/ARCH/, for modules built on kup.ko
# (KBUILD_EXTRA_SYMBOLS=...).  dkms remove deletes it with that directory.
# usage: dkms-save-symvers.sh KERNELVER ARCH
set -e
cp Module.symvers "../$1/$2/Module.symvers"
