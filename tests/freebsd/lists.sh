# Sourced by the FreeBSD scripts (bash, from the top of the tree): the lists
# kernel/freebsd/Makefile takes from their one place.
#   core, core_dev  core/'s files (core/sources.mk: KUP_CORE, KUP_CORE_DEV)
#   exports         the symbols kup.ko exports: core/kup_syms.h, then the
#                   Makefile's own EXPORT_SYMS+= names
eval "$(sed -n 's/^\(KUP_CORE[A-Z_]*\) = \(.*\)/\1="\2"/p' core/sources.mk)"
core=() core_dev=()
for n in $KUP_CORE; do core+=("core/$n.c"); done
for n in $KUP_CORE_DEV; do core_dev+=("core/$n.c"); done
exports=$({
	sed -n 's/^KUP_SYM(\([a-z_]*\))$/\1/p' core/kup_syms.h
	sed -n '/^EXPORT_SYMS+=/,/^$/p' kernel/freebsd/Makefile | tr -s ' \t\\' '\n' |
		grep -E '^[a-z_][a-z0-9_]*$'
} | sort -u)
