/* Emulated FreeBSD <sys/sbuf.h>: see ../../kemu.h. */
#include "kemu.h"
