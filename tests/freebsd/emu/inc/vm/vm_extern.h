/* Emulated FreeBSD <vm/vm_extern.h>: see ../../kemu.h. */
#include "kemu.h"
