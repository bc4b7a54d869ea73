/* Emulated FreeBSD <sys/kthread.h>: see ../../kemu.h. */
#include "kemu.h"
