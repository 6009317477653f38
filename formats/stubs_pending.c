/* stubs_pending.c - TEMPORARY: readers still being written. Each is replaced by its own file. */
#include "kt/formats.h"

