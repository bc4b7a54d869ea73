/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * integ_main.c - the integration suite: the client side of every test,
 * against the kuptest service (provider program or kup_test module).
 * Run it through tests/integ/run.sh, which starts the service.
 */
#include "kt.h"

KT_MAIN()
