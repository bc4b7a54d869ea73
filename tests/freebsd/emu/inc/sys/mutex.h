/* Emulated FreeBSD <sys/mutex.h>: see ../../kemu.h. */
#include "kemu.h"
