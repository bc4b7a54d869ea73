/* Emulated FreeBSD <sys/systm.h>: see ../../kemu.h. */
#include "kemu.h"
