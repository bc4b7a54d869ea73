/* Emulated FreeBSD <sys/rwlock.h>: see ../../kemu.h. */
#include "kemu.h"
