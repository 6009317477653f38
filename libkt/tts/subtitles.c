/* subtitles.c - kt_tts_subtitles: word timings grouped into SubRip or WebVTT cues. */
#include "kt/kt.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kt/g2p.h"
#include "kt/strbuf.h"

#define LINE_CHARS 42 /* the usual limit of a subtitle line */
#define CUE_LINES 2

static size_t chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* The last code point of a word other than closing quotes and brackets. */
static uint32_t last_mark(const char *s)
{
    size_t e = strlen(s);
    while (e > 0) {
        size_t b;
        uint32_t c = kt_utf8_before(s, e, &b);
        if (!strchr(")]}\"'", (int)(c < 0x80 ? c : 1)) && c != 0x201D && c != 0x2019 && c != 0xBB &&
            c != 0x300D && c != 0x300F && c != 0xFF09)
            return c;
        e = b;
    }
    return 0;
}

static int ends_sentence(const char *w)
{
    uint32_t c = last_mark(w);
    return c == '.' || c == '!' || c == '?' || c == 0x2026 || c == 0x3002 || c == 0xFF01 || c == 0xFF1F;
}

static int ends_clause(const char *w)
{
    uint32_t c = last_mark(w);
    return c == ',' || c == ';' || c == ':' || c == 0x2014 || c == 0x2013 || c == 0x3001 || c == 0xFF0C ||
           c == 0xFF1B || c == 0xFF1A;
}

/* 1 when words a and b were written with white space between them (not so in Chinese and Japanese). */
static int spaced(const kt_tts_word *a, const kt_tts_word *b) { return b->byte_start != a->byte_end; }

/* Code points of words [a, b) joined as written. */
static size_t span_chars(const kt_tts_word *w, size_t a, size_t b)
{
    size_t n = 0;
    for (size_t i = a; i < b; i++)
        n += chars(w[i].text, strlen(w[i].text)) + (i > a && spaced(&w[i - 1], &w[i]));
    return n;
}

/* The end (exclusive) of the cue that starts at word a. */
static size_t cue_end(const kt_tts_word *w, size_t n, size_t a)
{
    size_t b = a + 1, clause = 0;
    for (; b < n && !ends_sentence(w[b - 1].text); b++) {
        if (ends_clause(w[b - 1].text))
            clause = b;
        if (span_chars(w, a, b + 1) > LINE_CHARS * CUE_LINES)
            return clause > a && span_chars(w, a, clause) * 2 >= span_chars(w, a, b) ? clause : b;
    }
    return b;
}

static void put_time(kt_strbuf *o, double t, char frac_sep)
{
    long long ms = llround(fmax(t, 0) * 1000);
    kt_strbuf_printf(o, "%02lld:%02lld:%02lld%c%03lld", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60, frac_sep,
                     ms % 1000);
}

/* A word's text; in WebVTT & < > are escaped. */
static void put_word(kt_strbuf *o, const char *s, int vtt)
{
    for (; *s; s++) {
        if (vtt && (*s == '&' || *s == '<' || *s == '>'))
            kt_strbuf_printf(o, "%s", *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : "&gt;");
        else
            kt_strbuf_printf(o, "%c", *s);
    }
}

/* The cue's words on one line, or two split at the space nearest the middle. */
static void put_lines(kt_strbuf *o, const kt_tts_word *w, size_t a, size_t b, int vtt)
{
    size_t total = span_chars(w, a, b), cut = b, best = (size_t)-1;
    for (size_t k = a + 1; total > LINE_CHARS && k < b; k++) {
        size_t left = span_chars(w, a, k), d = left * 2 > total ? left * 2 - total : total - left * 2;
        if (d < best)
            best = d, cut = k;
    }
    for (size_t i = a; i < b; i++) {
        if (i == cut)
            kt_strbuf_printf(o, "\n");
        else if (i > a && spaced(&w[i - 1], &w[i]))
            kt_strbuf_printf(o, " ");
        put_word(o, w[i].text, vtt);
    }
    kt_strbuf_printf(o, "\n\n");
}

kt_status kt_tts_subtitles(const kt_tts_word *words, size_t n, double audio_seconds, int format, char **out,
                           kt_error *err)
{
    kt_strbuf o = {0};
    int vtt = format == KT_TTS_SUBTITLES_VTT;
    double prev_end = 0;
    *out = NULL;
    if (format != KT_TTS_SUBTITLES_SRT && !vtt)
        return kt_error_set(err, KT_EINVAL, "unknown subtitle format %d", format);
    if (!words && n)
        return kt_error_set(err, KT_EINVAL, "no words");
    if (vtt)
        kt_strbuf_printf(&o, "WEBVTT\n\n");
    for (size_t a = 0, cue = 1; a < n; cue++) {
        size_t b = cue_end(words, n, a);
        double start = fmax(words[a].start, prev_end), end = b == n ? audio_seconds : words[b - 1].end;
        if (end < start + 0.001)
            end = start + 0.001;
        if (!vtt)
            kt_strbuf_printf(&o, "%zu\n", cue);
        put_time(&o, start, vtt ? '.' : ',');
        kt_strbuf_printf(&o, " --> ");
        put_time(&o, end, vtt ? '.' : ',');
        kt_strbuf_printf(&o, "\n");
        put_lines(&o, words, a, b, vtt);
        prev_end = end;
        a = b;
    }
    *out = kt_strbuf_failed(&o) ? NULL : o.data ? o.data : calloc(1, 1); /* no words, SubRip: empty */
    if (!*out) {
        kt_strbuf_free(&o);
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    }
    return KT_OK;
}
