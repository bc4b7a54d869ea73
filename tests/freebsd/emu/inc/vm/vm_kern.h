/* Emulated FreeBSD <vm/vm_kern.h>: see ../../kemu.h. */
#include "kemu.h"
