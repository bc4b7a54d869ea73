/* Emulated FreeBSD <vm/pmap.h>: see ../../kemu.h. */
#include "kemu.h"
