/* Emulated FreeBSD <sys/module.h>: see ../../kemu.h. */
#include "kemu.h"
