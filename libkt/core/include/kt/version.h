/* kt/version.h - the tools' --version check (kt_version() itself is public, in kt/kt.h). */
#ifndef KT_VERSION_H
#define KT_VERSION_H

#include "kt/kt.h"

/* 1 if argv holds "--version" before any "--", else 0: the tools then print
 * "TOOL VERSION" and exit 0 whatever else the command line says. */
int kt_version_asked(int argc, char **argv);

#endif
