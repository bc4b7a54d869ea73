/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kupsvc.h - write a KUP service once and build it as a Linux module, a
 * FreeBSD module or a provider program (an ordinary process linked with
 * libkupdev).  Only what a service needs besides kupdev.h: an entry point,
 * threads, logging and memory.  The examples and the test services use it.
 *
 *   static int start(void) { ... kupdev_create ...; return 0; }
 *   static void stop(void) { ... kupdev_unload ...; }
 *   KUPSVC_DEFINE(kup_echo, start, stop);
 *
 * Module: start runs at load, stop at unload.  Provider program: main()
 * runs start, waits for SIGINT or SIGTERM (or KUPSVC_RUN_SECONDS seconds),
 * then runs stop and exits 0.  start returns 0 or a negative EKU code.
 *
 * Threads: kupsvc_thread_start runs fn(arg) in a kernel thread (a pthread
 * in a provider); kupsvc_thread_join waits for fn to return and frees the
 * handle.  A thread blocked in a kupdev_* call returns -EKU_SHUTDOWN once
 * the device is shut down, so stop() calls kupdev_shutdown, joins its
 * threads, and only then kupdev_unload (after which sc is invalid).
 *
 * Each host supplies kupsvc_host.h (kernel/linux, kernel/freebsd, provider).
 */
#ifndef KUPSVC_H
#define KUPSVC_H

#include "kupdev.h"

/*
 * The host header defines, as static inline functions or macros:
 *   struct kupsvc_thread *kupsvc_thread_start(int (*fn)(void *), void *arg,
 *                                             const char *name);  NULL on failure
 *   int   kupsvc_thread_join(struct kupsvc_thread *t);  fn's return value
 *   void *kupsvc_alloc(size_t len);     zeroed; may sleep; NULL on failure
 *   void  kupsvc_free(void *p);
 *   void  kupsvc_sleep_ms(unsigned int ms);
 *   kupsvc_log(fmt, ...)               printk / stderr, newline supplied by caller
 *   KUPSVC_DEFINE(name, start, stop)   module entry points, or main()
 */
#include "kupsvc_host.h"

#endif /* KUPSVC_H */
