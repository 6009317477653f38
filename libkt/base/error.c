/* error.c - kt_error helpers. */
#include "kt/error.h"
#include "kt/strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (at most n bytes) that is not a control
 * character (C0, DEL, C1); 0 when the byte at s must be escaped. */
static size_t printable_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len, i;
    uint32_t cp;
    if (c < 0x20 || c == 0x7f)
        return 0;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < 0xa0 || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

size_t kt_escape_text(char *dst, size_t cap, const char *src, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0, i = 0;
    if (cap == 0)
        return 0;
    while (i < n) {
        size_t k = printable_seq(s + i, n - i);
        if (k) {
            if (o + k >= cap)
                break;
            memcpy(dst + o, s + i, k);
            o += k;
            i += k;
        } else {
            if (o + 4 >= cap)
                break;
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[s[i] >> 4];
            dst[o++] = hex[s[i] & 15];
            i++;
        }
    }
    dst[o] = '\0';
    return o;
}

kt_status kt_error_set(kt_error *err, kt_status code, const char *fmt, ...)
{
    if (err) {
        char tmp[sizeof err->msg];
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(tmp, sizeof tmp, fmt, ap);
        va_end(ap);
        kt_escape_text(err->msg, sizeof err->msg, tmp, strlen(tmp));
    }
    return code;
}

void kt_error_prefix(kt_error *err, const char *prefix)
{
    char tmp[sizeof err->msg];
    size_t n;
    if (!err || !prefix)
        return;
    n = kt_escape_text(tmp, sizeof tmp - 2, prefix, strlen(prefix)); /* at most sizeof tmp - 3 */
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

void kt_usage_error(const char *tool, const char *msg, const char *arg)
{
    char a[256];
    if (arg) {
        kt_escape_text(a, sizeof a, arg, strlen(arg));
        fprintf(stderr, "%s: %s: %s (see '%s --help')\n", tool, msg, a, tool);
    } else {
        fprintf(stderr, "%s: %s (see '%s --help')\n", tool, msg, tool);
    }
}
