#!/bin/bash
# Fail (exit 1) when a kernel log has a line that means the kernel went
# wrong: WARNING, BUG, Oops, KASAN, lockdep, general protection, a call
# trace, a panic, or a hung task.  Expected and harmless: the taint note an
# unsigned out-of-tree module prints on first load.
# usage: tests/vm/check-klog.sh KERNEL.LOG
set -u
log=${1:?usage: check-klog.sh LOG}
pat='WARNING:|BUG:|BUG |Oops|KASAN|lockdep|possible circular locking|possible recursive locking|general protection|Call Trace|Kernel panic|hung_task|blocked for more than|UBSAN|refcount_t:|list_add corruption|list_del corruption|kernel BUG|RIP: '
bad=$(grep -aE "$pat" "$log" | grep -avE 'module verification failed' || true)
if [ -n "$bad" ]; then
	echo "# kernel log has failure lines ($log):"
	printf '%s\n' "$bad" | head -n 40 | sed 's/^/#   /'
	exit 1
fi
exit 0
