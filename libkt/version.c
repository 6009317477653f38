/* version.c - the library's version and the tools' --version check. */
#include "kt/version.h"

#include <string.h>

const char *kt_version(void)
{
    return KT_VERSION;
}

int kt_version_asked(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--version"))
            return 1;
    return 0;
}
