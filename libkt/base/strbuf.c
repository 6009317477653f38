/* strbuf.c - growable text buffer. */
#include "kt/strbuf.h"

#include "kt/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reserve(kt_strbuf *b, size_t extra)
{
    if (b->failed)
        return 0;
    if (b->len + extra + 1 <= b->cap)
        return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return 0;
    }
    b->data = p;
    b->cap = cap;
    return 1;
}

void kt_strbuf_append(kt_strbuf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void kt_strbuf_puts(kt_strbuf *b, const char *s)
{
    kt_strbuf_append(b, s, strlen(s));
}

void kt_strbuf_printf(kt_strbuf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        kt_strbuf_append(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

int kt_strbuf_failed(const kt_strbuf *b) { return b->failed; }

void kt_strbuf_free(kt_strbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void kt_strbuf_escaped(kt_strbuf *b, const char *s)
{
    size_t n = strlen(s), i = 0;
    while (i < n) {
        char buf[256];
        size_t chunk = n - i < 60 ? n - i : 60; /* 60 bytes escape to at most 240 */
        while (chunk < n - i && chunk > 56 && ((unsigned char)s[i + chunk] & 0xc0) == 0x80)
            chunk--; /* never split a UTF-8 sequence */
        kt_escape_text(buf, sizeof buf, s + i, chunk);
        kt_strbuf_puts(b, buf);
        i += chunk;
    }
}
