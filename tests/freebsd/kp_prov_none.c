/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kp_prov_none.c - stands in for libkup's provider backend (lib/kp_prov.c,
 * Linux futexes) in the kernel-only libkup that tests/freebsd/run.sh links
 * into the integration suite on FreeBSD: every provider device is absent.
 */
#include "kp_backend.h"

static int none_open(struct kp_dev *dev)
{
	(void)dev;
	return -EKU_NOENT;
}

static int none_info(struct kp_dev *dev, struct kup_ioc_info *out)
{
	(void)dev;
	(void)out;
	return -EKU_NOENT;
}

static int none_attach(struct kp_dev *dev, struct kp_chan *chan)
{
	(void)dev;
	(void)chan;
	return -EKU_NOENT;
}

static void none_detach(struct kp_chan *chan)
{
	(void)chan;
}

static int none_sleep(struct kup_end *e, const uint32_t *tw, uint32_t seen, int64_t tmo)
{
	(void)e;
	(void)tw;
	(void)seen;
	(void)tmo;
	return -EKU_NOENT;
}

static void none_wake(struct kup_end *e, uint32_t bits)
{
	(void)e;
	(void)bits;
}

static int none_wait_notify(struct kp_dev *dev, uint32_t *seen, int64_t tmo)
{
	(void)dev;
	(void)seen;
	(void)tmo;
	return -EKU_NOENT;
}

static void none_close(struct kp_dev *dev)
{
	(void)dev;
}

const struct kp_backend_ops kp_prov_ops = {
    .name = "provider",
    .open = none_open,
    .info = none_info,
    .attach = none_attach,
    .detach = none_detach,
    .host = {.sleep = none_sleep, .wake = none_wake},
    .drain = NULL,
    .wait_notify = none_wait_notify,
    .close = none_close,
};
