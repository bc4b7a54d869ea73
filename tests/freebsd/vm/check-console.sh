#!/bin/bash
# Fail (exit 1) when a FreeBSD console log has a line that means the
# kernel went wrong: a panic or fatal trap (a failed KASSERT of an
# INVARIANTS kernel panics), a WITNESS report (lock order reversal,
# sleeping or waiting with a non-sleepable lock held, a duplicate lock, a
# lock held at return to user space), a stack backtrace, INVARIANTS' own
# memory checks (use after free of UMA/malloc memory), a thread stuck.
# Expected and harmless: the boot banner's "WARNING: WITNESS option enabled,
# expect reduced performance." and the same for INVARIANTS.
# usage: tests/freebsd/vm/check-console.sh CONSOLE.LOG
set -u
log=${1:?usage: check-console.sh LOG}
pat='panic:|Fatal (double fault|trap)|lock order reversal|non-sleepable locks held|'
pat+='acquiring duplicate lock|held at userret|with the following|witness_|'
pat+='KDB: stack backtrace|KDB: enter|Stopped at|db> |Memory modified after free|'
pat+='was modified after free|memguard|page fault while in kernel mode|'
pat+='Sleeping thread .* owns a non-sleepable lock|exclusive sleep mutex .* recursed|'
pat+='unexpected relocation|kldload: .*error|link_elf_obj: symbol .* undefined|'
pat+='KLD .*: depends on .* - not available|WARNING: Device driver .* memattr'
bad=$(grep -aE "$pat" "$log" || true)
if [ -n "$bad" ]; then
	echo "# FreeBSD console has failure lines ($log):"
	printf '%s\n' "$bad" | head -n 40 | sed 's/^/#   /'
	exit 1
fi
exit 0
