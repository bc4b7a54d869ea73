/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_syms.h - the one list of symbols the kern-side hosts export: the
 * kupdev_* API of include/kupdev.h and kup_strerror.  kup.ko for Linux
 * expands it into EXPORT_SYMBOL_GPL lines (kernel/linux/kup_mod.c),
 * kup.ko for FreeBSD reads it into EXPORT_SYMS (kernel/freebsd/Makefile),
 * and the provider's version script is generated from it (mk/provider.mk).
 * Keep to one KUP_SYM(name) per line, nothing else on it.
 */
KUP_SYM(kupdev_create)
KUP_SYM(kupdev_create_attr)
KUP_SYM(kupdev_wait_channel)
KUP_SYM(kupdev_wait_channel_timed)
KUP_SYM(kupdev_claim_channel)
KUP_SYM(kupdev_shutdown)
KUP_SYM(kupdev_unload)
KUP_SYM(kupdev_notify)
KUP_SYM(kupdev_send)
KUP_SYM(kupdev_send_timed)
KUP_SYM(kupdev_receive)
KUP_SYM(kupdev_recv)
KUP_SYM(kupdev_recv_shared_untrusted)
KUP_SYM(kupdev_send_recv)
KUP_SYM(kupdev_unlock_channel)
KUP_SYM(kupdev_pass)
KUP_SYM(kupdev_pass_timed)
KUP_SYM(kupdev_send_buf)
KUP_SYM(kupdev_send_commit)
KUP_SYM(kupdev_set_spin)
KUP_SYM(kupdev_capacity)
KUP_SYM(kupdev_channel_count)
KUP_SYM(kupdev_attached)
KUP_SYM(kupdev_last_error)
KUP_SYM(kupdev_stats)
KUP_SYM(kupdev_stream_send)
KUP_SYM(kupdev_stream_recv)
KUP_SYM(kupdev_stream_max)
KUP_SYM(kup_strerror)
