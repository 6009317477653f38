/* kt/error.h - status codes and error messages shared by every kt module.
 *
 * Contract: every fallible function returns a kt_status (KT_OK == 0) and, when
 * given a non-NULL kt_error, fills it with the code and a one-line message that
 * does not name the file (the caller prefixes the path it knows). */
#ifndef KT_ERROR_H
#define KT_ERROR_H

#include <stddef.h>

#include "kt/export.h"

#ifdef __cplusplus
extern "C" {
#ifdef __cplusplus
}
#endif

#endif

typedef enum {
    KT_OK = 0,
    KT_EIO,          /* the operating system refused a read or write */
    KT_EFORMAT,      /* the bytes are not what the format says */
    KT_EUNSUPPORTED, /* a valid file using a feature kt does not support */
    KT_ENOMEM,       /* an allocation failed */
    KT_EINVAL,       /* a bad argument from the caller or the user */
    KT_ELIMIT,       /* a safety limit (size, depth, count) was exceeded */
    KT_ENOTFOUND,    /* a named thing (tensor, voice, key) does not exist */
    KT_EUNSAFE,      /* a pickle asked for something outside the allowlist */
    KT_ECANCELED     /* a callback asked to stop */
} kt_status;

typedef struct {
    kt_status code;
    char msg[512];
} kt_error;

/* Sets err (if non-NULL) to code and the printf-formatted message; returns code. */
KT_API kt_status kt_error_set(kt_error *err, kt_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Prefixes err->msg with "prefix: " (used to add context such as an entry name). */
KT_API void kt_error_prefix(kt_error *err, const char *prefix);

/* Clears err to KT_OK and an empty message. err may be NULL. */
KT_API void kt_error_clear(kt_error *err);

/* A short stable name for a status ("format", "io", ...). */
KT_API const char *kt_status_name(kt_status code);

#endif
