/* Emulated FreeBSD <sys/selinfo.h>: see ../../kemu.h. */
#include "kemu.h"
