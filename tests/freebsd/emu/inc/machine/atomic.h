/* Emulated FreeBSD <machine/atomic.h>: see ../../kemu.h. */
#include "kemu.h"
