/* Emulated FreeBSD <vm/vm.h>: see ../../kemu.h. */
#include "kemu.h"
