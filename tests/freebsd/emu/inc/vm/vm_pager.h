/* Emulated FreeBSD <vm/vm_pager.h>: see ../../kemu.h. */
#include "kemu.h"
