/* Emulated FreeBSD <vm/vm_object.h>: see ../../kemu.h. */
#include "kemu.h"
