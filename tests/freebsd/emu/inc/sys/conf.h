/* Emulated FreeBSD <sys/conf.h>: see ../../kemu.h. */
#include "kemu.h"
