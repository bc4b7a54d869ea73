/* Emulated FreeBSD <vm/vm_page.h>: see ../../kemu.h. */
#include "kemu.h"
