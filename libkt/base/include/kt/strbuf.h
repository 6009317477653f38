/* kt/strbuf.h - a growable NUL-terminated byte buffer for building text output.
 *
 * Functions never fail silently: on allocation failure the buffer is marked
 * failed (kt_strbuf_failed) and later appends do nothing. */
#ifndef KT_STRBUF_H
#define KT_STRBUF_H

#include <stddef.h>

typedef struct {
    char *data; /* NUL-terminated; NULL until the first append */
    size_t len;
    size_t cap;
    int failed;
} kt_strbuf;

/* Appends printf-formatted text. */
void kt_strbuf_printf(kt_strbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Appends n bytes. */
void kt_strbuf_append(kt_strbuf *b, const char *s, size_t n);

/* Appends a NUL-terminated string. */
void kt_strbuf_puts(kt_strbuf *b, const char *s);

/* Appends a name taken from a file, escaped as kt_escape_text does (control characters
 * and invalid UTF-8 as \xNN), so it cannot reach a terminal as an escape sequence or
 * a line break. */
void kt_strbuf_escaped(kt_strbuf *b, const char *s);

/* 1 if an allocation failed at any point. */
int kt_strbuf_failed(const kt_strbuf *b);

/* Frees the buffer and zeroes it. */
void kt_strbuf_free(kt_strbuf *b);

/* Copies n bytes of src to dst (cap bytes, always NUL-terminated) with every byte that
 * could move a terminal's cursor or start an escape sequence written as \xNN: control
 * characters (C0, DEL, and C1 as UTF-8) and bytes that are not valid UTF-8. Stops before
 * a sequence that does not fit. Returns the length written. Every kt_error message and
 * every name from a file that kt prints passes through it, so each stays one line. */
size_t kt_escape_text(char *dst, size_t cap, const char *src, size_t n);

/* Prints one line on stderr for a bad command line: "TOOL: MSG: ARG (see 'TOOL --help')",
 * ARG (may be NULL) escaped as kt_escape_text does. */
void kt_usage_error(const char *tool, const char *msg, const char *arg);

#endif
