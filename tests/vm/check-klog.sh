#!/bin/bash
# Fail (exit 1) when a kernel log has a line that means the kernel went
# wrong: WARNING, BUG, Oops, KASAN, lockdep, general protection, a call
# trace, a panic, a hung task, or a debug kernel's report (UBSAN, KFENCE,
# sleeping in atomic context, debugobjects, page poisoning, usercopy,
# fortify, RCU stalls).  Expected and harmless: the taint note an
# unsigned out-of-tree module prints on first load, and the debug kernel's
# boot note that RCU lockdep checking is on.
# usage: tests/vm/check-klog.sh KERNEL.LOG
set -u
log=${1:?usage: check-klog.sh LOG}
pat='WARNING:|BUG:|BUG |Oops|KASAN|lockdep|possible circular locking|possible recursive locking|general protection|Call Trace|Kernel panic|hung_task|blocked for more than|UBSAN|refcount_t:|list_add corruption|list_del corruption|kernel BUG|RIP: '
# The debug kernel's reports (make suite-vm-debug); most begin with BUG: or
# WARNING: too, named here so that none depends on that.
pat+='|KFENCE|inconsistent lock state|suspicious RCU usage|non-static key|sleeping function called from invalid context|scheduling while atomic|ODEBUG|pagealloc: |usercopy:|detected buffer overflow|detected stall'
bad=$(grep -aE "$pat" "$log" | grep -avE 'module verification failed|RCU lockdep checking is enabled' || true)
if [ -n "$bad" ]; then
	echo "# kernel log has failure lines ($log):"
	printf '%s\n' "$bad" | head -n 40 | sed 's/^/#   /'
	exit 1
fi
exit 0
