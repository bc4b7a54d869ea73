/* Emulated FreeBSD <vm/vm_param.h>: see ../../kemu.h. */
#include "kemu.h"
