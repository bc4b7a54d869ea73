/* Emulated FreeBSD <sys/time.h>: the libc header, then ../../kemu.h. */
#include_next <sys/time.h>
#include "kemu.h"
