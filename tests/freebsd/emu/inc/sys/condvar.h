/* Emulated FreeBSD <sys/condvar.h>: see ../../kemu.h. */
#include "kemu.h"
