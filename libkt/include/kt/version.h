/* kt/version.h - the version of kt (the library and its tools). */
#ifndef KT_VERSION_H
#define KT_VERSION_H

#define KT_VERSION "0.1.0"

/* KT_VERSION as compiled into the library (may differ from the header a program was built with). */
const char *kt_version(void);

/* 1 if argv holds "--version" before any "--", else 0: the tools then print
 * "TOOL VERSION" and exit 0 whatever else the command line says. */
int kt_version_asked(int argc, char **argv);

#endif
