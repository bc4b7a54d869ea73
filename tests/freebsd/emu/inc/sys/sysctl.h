/* Emulated FreeBSD <sys/sysctl.h>: see ../../kemu.h. */
#include "kemu.h"
