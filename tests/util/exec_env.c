/* exec_env.c - see exec_env.h. */
#include "exec_env.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Sets name to value (NULL: unsets it); returns a copy of its old value (NULL when unset). */
static char *swap_env(const char *name, const char *value)
{
    const char *old = getenv(name);
    char *keep = old ? strdup(old) : NULL;
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
    return keep;
}

kt_exec *exec_env_create(int threads, const char *isa, int amx_off)
{
    kt_exec *ex = NULL;
    kt_error err;
    char *old_isa = isa ? swap_env("KT_ISA", isa) : NULL, *old_amx = amx_off ? swap_env("KT_AMX", "off") : NULL;
    kt_status st = kt_exec_create(threads, &ex, &err);
    if (isa)
        free(swap_env("KT_ISA", old_isa));
    if (amx_off)
        free(swap_env("KT_AMX", old_amx));
    free(old_isa), free(old_amx);
    assert_int_equal(st, KT_OK);
    return ex;
}
