/* Emulated FreeBSD <sys/lock.h>: see ../../kemu.h. */
#include "kemu.h"
