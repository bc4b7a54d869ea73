/* Emulated FreeBSD <sys/fcntl.h>: the libc header, then ../../kemu.h (FREAD, FWRITE). */
#include_next <sys/fcntl.h>
#include "kemu.h"
