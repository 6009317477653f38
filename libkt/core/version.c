/* version.c - the tools' --version check. */
#include "kt/version.h"

#include <string.h>

int kt_version_asked(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--version"))
            return 1;
    return 0;
}
