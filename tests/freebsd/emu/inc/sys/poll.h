/* Emulated FreeBSD <sys/poll.h>: the libc header, then ../../kemu.h. */
#include_next <sys/poll.h>
#include "kemu.h"
