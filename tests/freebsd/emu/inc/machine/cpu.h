/* Emulated FreeBSD <machine/cpu.h>: see ../../kemu.h. */
#include "kemu.h"
