# Sourced by the FreeBSD VM scripts: where the FreeBSD inputs are.
# Nothing here builds FreeBSD; the inputs are made by whoever runs the
# suite (docs/freebsd.md says how) and are only read.
#
#   KUP_FBSD_DIR       a folder holding the three inputs below by their
#                      default names (default ~/.cache/kup/freebsd)
#   KUP_FBSD_KERNEL    a FreeBSD amd64 kernel (ELF) with the PVH entry
#                      (options XENHVM) that QEMU's -kernel can boot
#                      (default $KUP_FBSD_DIR/kernel)
#   KUP_FBSD_SYSROOT   a sysroot with FreeBSD's usr/include and the static
#                      libraries (crt*.o, libc.a, libthr.a/libpthread.a,
#                      libm.a, libcompiler_rt.a/libgcc.a, libgcc_eh.a)
#                      (default $KUP_FBSD_DIR/sysroot)
#   KUP_FBSD_SRC       the kernel's source tree: SRC/sys/sys/param.h
#                      (default $KUP_FBSD_DIR/src)
#   KUP_FBSD_KERNBUILD optional: the kernel's build folder (opt_global.h
#                      and the other opt_*.h): modules are then built with
#                      the kernel's options (INVARIANTS, WITNESS...), as
#                      bsd.kmod.mk does with KERNBUILDDIR
#                      (default $KUP_FBSD_DIR/kernbuild when it exists)
KUP_FBSD_DIR=${KUP_FBSD_DIR:-${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/kup/freebsd}
KUP_FBSD_KERNEL=${KUP_FBSD_KERNEL:-$KUP_FBSD_DIR/kernel}
KUP_FBSD_SYSROOT=${KUP_FBSD_SYSROOT:-$KUP_FBSD_DIR/sysroot}
KUP_FBSD_SRC=${KUP_FBSD_SRC:-$KUP_FBSD_DIR/src}
if [ -z "${KUP_FBSD_KERNBUILD:-}" ] && [ -f "$KUP_FBSD_DIR/kernbuild/opt_global.h" ]; then
	KUP_FBSD_KERNBUILD=$KUP_FBSD_DIR/kernbuild
fi
KUP_FBSD_KERNBUILD=${KUP_FBSD_KERNBUILD:-}
KUP_FBSD_TARGET=${KUP_FBSD_TARGET:-x86_64-unknown-freebsd14.2}
KUP_FBSD_CLANG=${KUP_FBSD_CLANG:-clang}

# Print why the FreeBSD VM suite cannot run here (nothing when it can).
fbsd_vm_missing() {
	local t
	[ -f "$KUP_FBSD_KERNEL" ] || { echo "no FreeBSD kernel (KUP_FBSD_KERNEL=$KUP_FBSD_KERNEL)"; return; }
	[ -f "$KUP_FBSD_SYSROOT/usr/lib/libc.a" ] ||
		{ echo "no FreeBSD static sysroot (KUP_FBSD_SYSROOT=$KUP_FBSD_SYSROOT has no usr/lib/libc.a)"; return; }
	[ -f "$KUP_FBSD_SRC/sys/sys/param.h" ] ||
		{ echo "no FreeBSD kernel source (KUP_FBSD_SRC=$KUP_FBSD_SRC has no sys/sys/param.h)"; return; }
	for t in qemu-system-x86_64 xorriso "$KUP_FBSD_CLANG" ld.lld llvm-objcopy llvm-nm llvm-readelf; do
		command -v "$t" >/dev/null || { echo "$t not installed (scripts/deps.sh freebsd-vm)"; return; }
	done
}
