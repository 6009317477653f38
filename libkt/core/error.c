/* error.c - kt_error helpers. */
#include "kt/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

kt_status kt_error_set(kt_error *err, kt_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void kt_error_prefix(kt_error *err, const char *prefix)
{
    char tmp[sizeof err->msg];
    size_t n;
    if (!err || !prefix)
        return;
    n = strlen(prefix);
    if (n > sizeof tmp - 3)
        n = sizeof tmp - 3;
    memcpy(tmp, prefix, n);
    tmp[n] = ':';
    tmp[n + 1] = ' ';
    size_t rest = strnlen(err->msg, sizeof err->msg - 1);
    if (rest > sizeof tmp - n - 3)
        rest = sizeof tmp - n - 3;
    memcpy(tmp + n + 2, err->msg, rest);
    tmp[n + 2 + rest] = '\0';
    memcpy(err->msg, tmp, sizeof tmp);
}

void kt_error_clear(kt_error *err)
{
    if (err) {
        err->code = KT_OK;
        err->msg[0] = '\0';
    }
}

const char *kt_status_name(kt_status code)
{
    switch (code) {
    case KT_OK: return "ok";
    case KT_EIO: return "io";
    case KT_EFORMAT: return "format";
    case KT_EUNSUPPORTED: return "unsupported";
    case KT_ENOMEM: return "nomem";
    case KT_EINVAL: return "invalid";
    case KT_ELIMIT: return "limit";
    case KT_ENOTFOUND: return "notfound";
    case KT_EUNSAFE: return "unsafe";
    case KT_ECANCELED: return "canceled";
    }
    return "unknown";
}
