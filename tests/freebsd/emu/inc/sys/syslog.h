/* Emulated FreeBSD <sys/syslog.h>: see ../../kemu.h. */
#include "kemu.h"
