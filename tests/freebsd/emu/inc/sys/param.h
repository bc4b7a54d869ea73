/* Emulated FreeBSD <sys/param.h>: see ../../kemu.h. */
#include "kemu.h"
