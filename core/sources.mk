# core/'s sources, listed once.  GNU make (mk/common.mk), Kbuild
# (kernel/linux/Kbuild), bmake (kernel/freebsd/Makefile) and the FreeBSD
# compile check read this file; keep to plain "NAME = words" lines.
#   KUP_CORE      the protocol: every host, libkup included
#   KUP_CORE_DEV  the kupdev_* API over kup_os.h: the kern-side hosts only
KUP_CORE = kup_core kup_err kup_check kup_stream
KUP_CORE_DEV = kupdev_chan kupdev_dev kup_stat
