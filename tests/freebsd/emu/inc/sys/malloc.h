/* Emulated FreeBSD <sys/malloc.h>: see ../../kemu.h. */
#include "kemu.h"
