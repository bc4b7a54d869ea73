/* Emulated FreeBSD <sys/event.h>: see ../../kemu.h. */
#include "kemu.h"
