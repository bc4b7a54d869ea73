/* Emulated FreeBSD <sys/kernel.h>: see ../../kemu.h. */
#include "kemu.h"
