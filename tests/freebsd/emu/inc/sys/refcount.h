/* Emulated FreeBSD <sys/refcount.h>: see ../../kemu.h. */
#include "kemu.h"
