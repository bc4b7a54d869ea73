/* Emulated FreeBSD <sys/sdt.h>: see ../../kemu.h. */
#include "kemu.h"
