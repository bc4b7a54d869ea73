/* Emulated FreeBSD <sys/sx.h>: see ../../kemu.h. */
#include "kemu.h"
