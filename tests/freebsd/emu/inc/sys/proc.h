/* Emulated FreeBSD <sys/proc.h>: see ../../kemu.h. */
#include "kemu.h"
