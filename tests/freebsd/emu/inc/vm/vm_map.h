/* Emulated FreeBSD <vm/vm_map.h>: see ../../kemu.h. */
#include "kemu.h"
