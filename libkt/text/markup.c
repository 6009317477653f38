/* markup.c - SSML subset (libexpat) and plain text with inline pauses, to a flat segment list. */
#include "kt/markup.h"

#include <expat.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kt/strbuf.h"

/* ---- segment list ---- */

typedef struct {
    kt_segment_list *out;
    size_t n_pauses;
    double total_pause;
} seg_sink;

static void seg_free(kt_segment *s)
{
    free(s->text);
    free(s->voice);
}

void kt_segment_list_free(kt_segment_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->count; i++)
        seg_free(&l->items[i]);
    free(l->items);
    l->items = NULL;
    l->count = l->cap = 0;
}

/* Appends *s (taking its strings, freed on failure). */
static kt_status seg_push(seg_sink *k, kt_segment *s, kt_error *err)
{
    kt_segment_list *l = k->out;
    if (l->count >= KT_MARKUP_MAX_SEGMENTS) {
        seg_free(s);
        return kt_error_set(err, KT_ELIMIT, "more than %d segments", KT_MARKUP_MAX_SEGMENTS);
    }
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        kt_segment *items = realloc(l->items, cap * sizeof *items);
        if (!items) {
            seg_free(s);
            return kt_error_set(err, KT_ENOMEM, "out of memory");
        }
        l->items = items;
        l->cap = cap;
    }
    l->items[l->count++] = *s;
    return KT_OK;
}

/* A sentence or paragraph end: never first, never twice (a paragraph absorbs a sentence). */
static kt_status seg_boundary(seg_sink *k, kt_segment_kind kind, size_t at, kt_error *err)
{
    kt_segment_list *l = k->out;
    if (l->count == 0)
        return KT_OK;
    kt_segment *last = &l->items[l->count - 1];
    if (last->kind == KT_SEG_PARAGRAPH || last->kind == KT_SEG_SENTENCE) {
        if (kind == KT_SEG_PARAGRAPH)
            last->kind = KT_SEG_PARAGRAPH;
        return KT_OK;
    }
    kt_segment s = {.kind = kind, .start = at, .end = at};
    return seg_push(k, &s, err);
}

static kt_status seg_pause(seg_sink *k, double seconds, size_t start, size_t end, kt_error *err)
{
    if (!(seconds <= KT_MARKUP_MAX_PAUSE))
        return kt_error_set(err, KT_ELIMIT, "a pause of %g s is longer than %g s", seconds, KT_MARKUP_MAX_PAUSE);
    if (seconds <= 0)
        return KT_OK;
    if (++k->n_pauses > KT_MARKUP_MAX_PAUSES)
        return kt_error_set(err, KT_ELIMIT, "more than %d pauses", KT_MARKUP_MAX_PAUSES);
    k->total_pause += seconds;
    if (k->total_pause > KT_MARKUP_MAX_TOTAL_PAUSE)
        return kt_error_set(err, KT_ELIMIT, "pauses add up to more than %g s", KT_MARKUP_MAX_TOTAL_PAUSE);
    kt_segment s = {.kind = KT_SEG_PAUSE, .start = start, .end = end, .seconds = seconds};
    return seg_push(k, &s, err);
}

static int all_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r\n\f\v", s[i]))
            return 0;
    return 1;
}

/* A text or phonemes segment of n bytes of s (dropped when only whitespace). */
static kt_status seg_text(seg_sink *k, kt_segment_kind kind, const char *s, size_t n, size_t start, size_t end,
                          double rate, const char *voice, int emphasis, kt_error *err)
{
    if (all_space(s, n))
        return KT_OK;
    kt_segment seg = {.kind = kind, .start = start, .end = end, .rate = rate, .emphasis = emphasis};
    seg.text = strndup(s, n);
    seg.voice = voice ? strdup(voice) : NULL;
    if (!seg.text || (voice && !seg.voice)) {
        seg_free(&seg);
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    }
    return seg_push(k, &seg, err);
}

/* ---- durations ---- */

int kt_markup_duration(const char *s, size_t len, double *seconds)
{
    size_t i = 0, digits = 0;
    double v = 0, scale = 1;
    for (; i < len && s[i] >= '0' && s[i] <= '9' && digits < 12; i++, digits++)
        v = v * 10 + (s[i] - '0');
    if (i < len && s[i] == '.')
        for (i++; i < len && s[i] >= '0' && s[i] <= '9' && digits < 24; i++, digits++)
            v += (s[i] - '0') * (scale /= 10);
    if (!digits)
        return -1;
    if (i == len || (len - i == 1 && (s[i] == 's' || s[i] == 'S'))) {
        *seconds = v;
        return 0;
    }
    if (len - i == 2 && !strncasecmp(s + i, "ms", 2)) {
        *seconds = v / 1000.0;
        return 0;
    }
    return -1;
}

/* ---- detection ---- */

static size_t skip_space(const char *s, size_t len, size_t i)
{
    while (i < len && strchr(" \t\r\n", s[i]) && s[i])
        i++;
    return i;
}

/* After a BOM, whitespace, comments and <?...?> declarations: the index of what follows. */
static size_t first_tag(const char *s, size_t len)
{
    size_t i = len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3) ? 3 : 0;
    for (;;) {
        i = skip_space(s, len, i);
        int pi = len - i >= 2 && !memcmp(s + i, "<?", 2), comment = len - i >= 4 && !memcmp(s + i, "<!--", 4);
        if (!pi && !comment)
            return i;
        const char *close = pi ? "?>" : "-->";
        size_t j = i + 2;
        while (j + strlen(close) <= len && memcmp(s + j, close, strlen(close)))
            j++;
        if (j + strlen(close) > len)
            return len;
        i = j + strlen(close);
    }
}

static int starts(const char *s, size_t len, size_t i, const char *word)
{
    size_t n = strlen(word);
    return len - i > n && !memcmp(s + i, word, n) && strchr(" \t\r\n/>", s[i + n]) && s[i + n];
}

int kt_markup_is_ssml(const char *input, size_t len)
{
    size_t i = first_tag(input, len);
    return (len - i == 6 && !memcmp(input + i, "<speak", 6)) || starts(input, len, i, "<speak") ||
           starts(input, len, i, "<!DOCTYPE speak");
}

/* SSML without a <speak> root (and without an XML declaration, which must come first) is read
 * as if wrapped in one. */
static int needs_root(const char *s, size_t len)
{
    size_t i = len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3) ? 3 : 0;
    i = skip_space(s, len, i);
    return !kt_markup_is_ssml(s, len) && !(len - i >= 5 && !memcmp(s + i, "<?xml", 5));
}

/* ---- plain text: [pause:...] and blank lines ---- */

/* Line and column (1-based, bytes) of offset at in s. */
static void line_col(const char *s, size_t at, unsigned long *line, unsigned long *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < at; i++) {
        if (s[i] == '\n') {
            ++*line;
            *col = 1;
        } else {
            ++*col;
        }
    }
}

/* If s[i..] is "[pause:DUR]", its length and seconds; 0 if not a pause tag; -1 for a bad one. */
static long pause_tag(const char *s, size_t len, size_t i, double *secs)
{
    if (len - i < 8 || strncasecmp(s + i, "[pause:", 7))
        return 0;
    size_t lim = len - i < 40 ? len - i : 40;
    const char *rb = memchr(s + i + 7, ']', lim - 7);
    if (!rb)
        return 0;
    size_t a = i + 7, b = (size_t)(rb - s);
    while (a < b && s[a] == ' ')
        a++;
    while (b > a && s[b - 1] == ' ')
        b--;
    if (kt_markup_duration(s + a, b - a, secs))
        return -1;
    return (long)((size_t)(rb - s) + 1 - i);
}

/* Length of a blank line run starting at s[i] == '\n' ("\n", spaces, "\n"), or 0. */
static size_t blank_line(const char *s, size_t len, size_t i)
{
    if (s[i] != '\n')
        return 0;
    size_t j = i + 1;
    while (j < len && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r'))
        j++;
    if (j >= len || s[j] != '\n')
        return 0;
    while (j < len && strchr(" \t\r\n", s[j]) && s[j])
        j++;
    return j - i;
}

static kt_status parse_text(const char *s, size_t len, seg_sink *k, kt_error *err)
{
    size_t from = 0;
    for (size_t i = 0; i < len;) {
        double secs = 0;
        long tag = s[i] == '[' ? pause_tag(s, len, i, &secs) : 0;
        size_t blank = tag ? 0 : blank_line(s, len, i);
        kt_status st = KT_OK;
        if (tag < 0) {
            unsigned long line, col;
            line_col(s, i, &line, &col);
            return kt_error_set(err, KT_EINVAL, "line %lu, column %lu: bad pause: use [pause:0.5s] or [pause:300ms]",
                                line, col);
        }
        if (!tag && !blank) {
            i++;
            continue;
        }
        st = seg_text(k, KT_SEG_TEXT, s + from, i - from, from, i, 1.0, NULL, 0, err);
        if (!st && tag)
            st = seg_pause(k, secs, i, i + (size_t)tag, err);
        if (!st && blank)
            st = seg_boundary(k, KT_SEG_PARAGRAPH, i, err);
        if (st) {
            unsigned long line, col;
            char msg[sizeof err->msg];
            line_col(s, i, &line, &col);
            snprintf(msg, sizeof msg, "%s", err->msg);
            return kt_error_set(err, st, "line %lu, column %lu: %s", line, col, msg);
        }
        i += tag ? (size_t)tag : blank;
        from = i;
    }
    return seg_text(k, KT_SEG_TEXT, s + from, len - from, from, len, 1.0, NULL, 0, err);
}

/* ---- SSML ---- */

enum { EL_OTHER, EL_SPEAK, EL_P, EL_S, EL_BREAK, EL_PHONEME, EL_SUB, EL_SAYAS, EL_PROSODY, EL_VOICE, EL_EMPH };

typedef struct {
    int el;
    double rate;
    const char *voice; /* borrowed: owned by the frame that set it (own_voice) */
    char *own_voice;
    int emphasis;
    size_t start; /* offset of the start tag */
} frame;

typedef struct {
    XML_Parser p;
    const char *in;
    size_t shift;     /* bytes of the "<speak>" added in front when wrapping */
    seg_sink sink;
    kt_error *err;
    kt_status st;
    int depth;
    frame stack[KT_MARKUP_MAX_DEPTH + 1];
    kt_strbuf text;   /* pending character data */
    size_t t_start, t_end;
    int capture;      /* inside phoneme/sub/say-as: text collected in cap */
    kt_strbuf cap;
    char *cap_attr;   /* ph, alias, or interpret-as */
    char *cap_format; /* say-as format */
} ssml;

static size_t pos(ssml *x)
{
    XML_Index i = XML_GetCurrentByteIndex(x->p);
    return i < (XML_Index)x->shift ? 0 : (size_t)i - x->shift;
}

static size_t pos_end(ssml *x)
{
    return pos(x) + (size_t)XML_GetCurrentByteCount(x->p);
}

/* Records the first error with "line L, column C: " in front and stops the parser. */
static void fail(ssml *x, kt_status st, const char *msg)
{
    if (x->st)
        return;
    unsigned long line = (unsigned long)XML_GetCurrentLineNumber(x->p);
    unsigned long col = (unsigned long)XML_GetCurrentColumnNumber(x->p) + 1;
    if (line == 1 && col > x->shift)
        col -= x->shift;
    x->st = kt_error_set(x->err, st, "line %lu, column %lu: %s", line, col, msg);
    XML_StopParser(x->p, XML_FALSE);
}

static void check(ssml *x, kt_status st)
{
    if (st) {
        char msg[sizeof x->err->msg];
        snprintf(msg, sizeof msg, "%s", x->err->msg);
        fail(x, st, msg);
    }
}

static const char *attr(const char **atts, const char *name)
{
    for (size_t i = 0; atts[i]; i += 2)
        if (!strcmp(atts[i], name))
            return atts[i + 1];
    return NULL;
}

static int element_of(const char *name)
{
    static const char *const names[] = {"speak",   "p",   "s",      "break",   "phoneme",
                                        "sub",     "say-as", "prosody", "voice", "emphasis"};
    static const int ids[] = {EL_SPEAK, EL_P, EL_S, EL_BREAK, EL_PHONEME, EL_SUB, EL_SAYAS, EL_PROSODY, EL_VOICE, EL_EMPH};
    if (!strcmp(name, "paragraph"))
        return EL_P;
    if (!strcmp(name, "sentence"))
        return EL_S;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (!strcmp(name, names[i]))
            return ids[i];
    return EL_OTHER;
}

/* Emits the pending character data as one text segment. */
static void flush_text(ssml *x)
{
    if (x->st || !x->text.len)
        return;
    if (kt_strbuf_failed(&x->text)) {
        fail(x, KT_ENOMEM, "out of memory");
        return;
    }
    frame *f = &x->stack[x->depth];
    check(x, seg_text(&x->sink, KT_SEG_TEXT, x->text.data, x->text.len, x->t_start, x->t_end, f->rate, f->voice,
                      f->emphasis, x->err));
    x->text.len = 0;
}

static void on_text(void *ud, const XML_Char *s, int len)
{
    ssml *x = ud;
    if (x->st || len <= 0)
        return;
    kt_strbuf *b = x->capture ? &x->cap : &x->text;
    if (!x->capture && !x->text.len)
        x->t_start = pos(x);
    kt_strbuf_append(b, s, (size_t)len);
    if (!x->capture)
        x->t_end = pos_end(x);
    if (kt_strbuf_failed(b))
        fail(x, KT_ENOMEM, "out of memory");
}

/* ---- attribute values ---- */

static int break_seconds(const char **atts, double *secs)
{
    static const char *const names[] = {"none", "x-weak", "weak", "medium", "strong", "x-strong"};
    static const double values[] = {0, 0.1, 0.2, 0.4, 0.7, 1.0};
    const char *t = attr(atts, "time"), *s = attr(atts, "strength");
    if (t)
        return kt_markup_duration(t, strlen(t), secs);
    if (!s) {
        *secs = 0.4;
        return 0;
    }
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        if (!strcmp(s, names[i])) {
            *secs = values[i];
            return 0;
        }
    return -1;
}

static int parse_rate(const char *v, double *rate)
{
    static const char *const names[] = {"x-slow", "slow", "medium", "default", "fast", "x-fast"};
    static const double values[] = {0.5, 0.75, 1.0, 1.0, 1.25, 1.5};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        if (!strcmp(v, names[i])) {
            *rate = values[i];
            return 0;
        }
    char *end;
    double d = strtod(v, &end);
    if (end == v || !isfinite(d))
        return -1;
    if (*end == '%' && !end[1])
        d = (v[0] == '+' || v[0] == '-') ? 1.0 + d / 100.0 : d / 100.0;
    else if (*end)
        return -1;
    if (!(d > 0.0) || d > 100.0)
        return -1;
    *rate = d;
    return 0;
}

static int parse_emphasis(const char *v, int *level, double *factor)
{
    if (!v || !strcmp(v, "moderate")) {
        *level = 1;
        *factor = 0.92;
    } else if (!strcmp(v, "strong")) {
        *level = 2;
        *factor = 0.85;
    } else if (!strcmp(v, "reduced")) {
        *level = -1;
        *factor = 1.1;
    } else if (!strcmp(v, "none")) {
        *level = 0;
        *factor = 1.0;
    } else {
        return -1;
    }
    return 0;
}

static double clamp_rate(double r)
{
    return r < 0.25 ? 0.25 : r > 4.0 ? 4.0 : r;
}

/* ---- elements ---- */

static void start_capture(ssml *x, const char *a, const char *format)
{
    x->capture = 1;
    x->cap.len = 0;
    free(x->cap_attr);
    free(x->cap_format);
    x->cap_attr = a ? strdup(a) : NULL;
    x->cap_format = format ? strdup(format) : NULL;
    if ((a && !x->cap_attr) || (format && !x->cap_format))
        fail(x, KT_ENOMEM, "out of memory");
}

static void start_element_attrs(ssml *x, frame *f, const char **atts)
{
    double v;
    const char *a;
    switch (f->el) {
    case EL_P:
    case EL_S:
        check(x, seg_boundary(&x->sink, f->el == EL_P ? KT_SEG_PARAGRAPH : KT_SEG_SENTENCE, f->start, x->err));
        break;
    case EL_BREAK:
        if (break_seconds(atts, &v))
            fail(x, KT_EINVAL, "bad <break>: time is like 500ms or 1.5s; strength none, x-weak, weak, medium, "
                               "strong or x-strong");
        else
            check(x, seg_pause(&x->sink, v, f->start, pos_end(x), x->err));
        break;
    case EL_PHONEME:
        a = attr(atts, "alphabet");
        if (!attr(atts, "ph") || !*attr(atts, "ph"))
            fail(x, KT_EINVAL, "<phoneme> needs ph=\"...\"");
        else
            start_capture(x, a && strcasecmp(a, "ipa") ? NULL : attr(atts, "ph"), NULL);
        break;
    case EL_SUB:
        if (!attr(atts, "alias"))
            fail(x, KT_EINVAL, "<sub> needs alias=\"...\"");
        else
            start_capture(x, attr(atts, "alias"), NULL);
        break;
    case EL_SAYAS:
        start_capture(x, attr(atts, "interpret-as"), attr(atts, "format"));
        break;
    case EL_PROSODY:
        if ((a = attr(atts, "rate")) && parse_rate(a, &v))
            fail(x, KT_EINVAL, "bad <prosody rate>: x-slow, slow, medium, fast, x-fast, default, N%, +N%, -N% or N");
        else if (a)
            f->rate = clamp_rate(f->rate * v);
        break;
    case EL_VOICE:
        if (!(a = attr(atts, "name")) || !*a)
            fail(x, KT_EINVAL, "<voice> needs name=\"...\"");
        else if (!(f->voice = f->own_voice = strdup(a)))
            fail(x, KT_ENOMEM, "out of memory");
        break;
    case EL_EMPH:
        if (parse_emphasis(attr(atts, "level"), &f->emphasis, &v))
            fail(x, KT_EINVAL, "bad <emphasis level>: strong, moderate, none or reduced");
        else
            f->rate = clamp_rate(f->rate * v);
        break;
    default:
        break;
    }
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    ssml *x = ud;
    if (x->st)
        return;
    if (x->capture) {
        fail(x, KT_EFORMAT, "<phoneme>, <sub> and <say-as> may only contain text");
        return;
    }
    flush_text(x);
    if (x->depth >= KT_MARKUP_MAX_DEPTH) {
        fail(x, KT_ELIMIT, "elements nested deeper than 64");
        return;
    }
    int el = element_of(name);
    if (x->depth == 0 && el != EL_SPEAK) {
        fail(x, KT_EFORMAT, "the root element must be <speak>");
        return;
    }
    frame *f = &x->stack[++x->depth];
    *f = x->stack[x->depth - 1];
    f->own_voice = NULL;
    f->el = el;
    f->start = pos(x);
    start_element_attrs(x, f, atts);
}

/* ---- say-as ---- */

static void spell(kt_strbuf *b, const char *s, size_t n, int digits_only)
{
    for (size_t i = 0; i < n;) {
        size_t k = 1;
        while (i + k < n && ((unsigned char)s[i + k] & 0xC0) == 0x80)
            k++;
        int keep = digits_only ? (s[i] >= '0' && s[i] <= '9') : !strchr(" \t\r\n", s[i]);
        if (keep) {
            if (b->len)
                kt_strbuf_append(b, " ", 1);
            kt_strbuf_append(b, s + i, k);
        }
        i += k;
    }
}

static const char *ordinal_suffix(unsigned long v)
{
    if (v % 100 >= 11 && v % 100 <= 13)
        return "th";
    return v % 10 == 1 ? "st" : v % 10 == 2 ? "nd" : v % 10 == 3 ? "rd" : "th";
}

/* Up to 3 numbers separated by - / . or ':' ; returns how many (0 when anything else is there). */
static int numbers(const char *s, size_t n, unsigned long v[3], size_t len[3])
{
    int k = 0;
    size_t i = 0;
    while (i < n && strchr(" \t\r\n", s[i]))
        i++;
    while (i < n && k < 3) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v[k] = 0;
        len[k] = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9' && len[k] < 9; i++, len[k]++)
            v[k] = v[k] * 10 + (unsigned long)(s[i] - '0');
        k++;
        if (i < n && strchr("-/.:", s[i]))
            i++;
        else
            break;
    }
    while (i < n && strchr(" \t\r\n", s[i]))
        i++;
    return i == n ? k : 0;
}

static void say_date(kt_strbuf *b, const char *s, size_t n, const char *format)
{
    static const char *const months[] = {"January", "February", "March",     "April",   "May",      "June",
                                         "July",    "August",   "September", "October", "November", "December"};
    unsigned long v[3];
    size_t len[3];
    int k = numbers(s, n, v, len);
    const char *f = format ? format : (k == 3 && len[0] == 4 ? "ymd" : "mdy");
    unsigned long y = 0, m = 0, d = 0;
    int has_y = 0, has_d = 0;
    if (k < 2 || (int)strlen(f) != k || strspn(f, "ymd") != (size_t)k) {
        kt_strbuf_append(b, s, n);
        return;
    }
    for (int i = 0; i < k; i++) {
        if (f[i] == 'y')
            y = v[i], has_y = 1;
        else if (f[i] == 'm')
            m = v[i];
        else
            d = v[i], has_d = 1;
    }
    if (m < 1 || m > 12 || (has_d && (d < 1 || d > 31))) {
        kt_strbuf_append(b, s, n);
        return;
    }
    kt_strbuf_puts(b, months[m - 1]);
    if (has_d)
        kt_strbuf_printf(b, " %lu%s", d, ordinal_suffix(d));
    if (has_y)
        kt_strbuf_printf(b, has_d ? ", %lu" : " %lu", y);
}

static void say_time(kt_strbuf *b, const char *s, size_t n)
{
    unsigned long v[3];
    size_t len[3];
    int k = numbers(s, n, v, len);
    if (k < 2 || v[0] > 24 || v[1] > 59) {
        kt_strbuf_append(b, s, n);
        return;
    }
    if (v[1] == 0)
        kt_strbuf_printf(b, "%lu o'clock", v[0]);
    else if (v[1] < 10)
        kt_strbuf_printf(b, "%lu oh %lu", v[0], v[1]);
    else
        kt_strbuf_printf(b, "%lu %lu", v[0], v[1]);
}

static void say_telephone(kt_strbuf *b, const char *s, size_t n)
{
    int group = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            kt_strbuf_printf(b, "%s%c", b->len ? (group ? ", " : " ") : "", s[i]);
            group = 0;
        } else if (s[i] == '+') {
            kt_strbuf_puts(b, b->len ? " plus" : "plus");
        } else if (strchr("-. ()/", s[i])) {
            group = b->len > 0;
        }
    }
}

/* Cardinal: a number without its group separators; ordinal: with an English suffix. */
static void say_number(kt_strbuf *b, const char *s, size_t n, int ordinal)
{
    unsigned long v = 0;
    size_t digits = 0, i = 0;
    while (i < n && strchr(" \t\r\n", s[i]))
        i++;
    for (; i < n && ((s[i] >= '0' && s[i] <= '9') || (s[i] == ',' && digits)); i++)
        if (s[i] != ',' && digits < 18)
            v = v * 10 + (unsigned long)(s[i] - '0'), digits++;
    while (i < n && strchr(" \t\r\n", s[i]))
        i++;
    if (!digits || i != n || digits >= 18) {
        kt_strbuf_append(b, s, n);
        return;
    }
    kt_strbuf_printf(b, "%lu%s", v, ordinal ? ordinal_suffix(v) : "");
}

static void say_as(kt_strbuf *b, const char *how, const char *format, const char *s, size_t n)
{
    if (!how)
        kt_strbuf_append(b, s, n);
    else if (!strcmp(how, "characters") || !strcmp(how, "spell-out") || !strcmp(how, "verbatim"))
        spell(b, s, n, 0);
    else if (!strcmp(how, "digits"))
        spell(b, s, n, 1);
    else if (!strcmp(how, "cardinal") || !strcmp(how, "number"))
        say_number(b, s, n, 0);
    else if (!strcmp(how, "ordinal"))
        say_number(b, s, n, 1);
    else if (!strcmp(how, "date"))
        say_date(b, s, n, format);
    else if (!strcmp(how, "time"))
        say_time(b, s, n);
    else if (!strcmp(how, "telephone"))
        say_telephone(b, s, n);
    else
        kt_strbuf_append(b, s, n);
}

/* The end of phoneme, sub or say-as: one segment for the whole element. */
static void end_capture(ssml *x, frame *f)
{
    kt_strbuf out = {0};
    const char *content = x->cap.data ? x->cap.data : "";
    kt_segment_kind kind = KT_SEG_TEXT;
    x->capture = 0;
    if (f->el == EL_PHONEME && x->cap_attr) {
        kind = KT_SEG_PHONEMES;
        kt_strbuf_puts(&out, x->cap_attr);
    } else if (f->el == EL_SUB) {
        kt_strbuf_puts(&out, x->cap_attr);
    } else if (f->el == EL_SAYAS) {
        say_as(&out, x->cap_attr, x->cap_format, content, x->cap.len);
    } else {
        kt_strbuf_append(&out, content, x->cap.len); /* phoneme in another alphabet: its text */
    }
    if (kt_strbuf_failed(&out) || kt_strbuf_failed(&x->cap))
        fail(x, KT_ENOMEM, "out of memory");
    else if (out.len)
        check(x, seg_text(&x->sink, kind, out.data, out.len, f->start, pos_end(x), f->rate, f->voice, f->emphasis,
                          x->err));
    kt_strbuf_free(&out);
}

static void on_end(void *ud, const XML_Char *name)
{
    ssml *x = ud;
    (void)name;
    if (x->st)
        return;
    frame *f = &x->stack[x->depth];
    if (x->capture)
        end_capture(x, f);
    else
        flush_text(x);
    if (!x->st && (f->el == EL_P || f->el == EL_S))
        check(x, seg_boundary(&x->sink, f->el == EL_P ? KT_SEG_PARAGRAPH : KT_SEG_SENTENCE, pos_end(x), x->err));
    free(f->own_voice);
    f->own_voice = NULL;
    x->depth--;
}

static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid, int internal)
{
    (void)name, (void)sysid, (void)pubid, (void)internal;
    fail(ud, KT_EFORMAT, "a DOCTYPE is not allowed");
}

static void ssml_free(ssml *x)
{
    for (int d = x->depth; d > 0; d--)
        free(x->stack[d].own_voice);
    kt_strbuf_free(&x->text);
    kt_strbuf_free(&x->cap);
    free(x->cap_attr);
    free(x->cap_format);
    if (x->p)
        XML_ParserFree(x->p);
}

static kt_status parse_ssml(const char *s, size_t len, int wrap, seg_sink *k, kt_error *err)
{
    static const char open[] = "<speak>", close[] = "</speak>";
    ssml x;
    memset(&x, 0, sizeof x);
    x.in = s;
    x.sink = *k;
    x.err = err;
    x.shift = wrap ? sizeof open - 1 : 0;
    x.stack[0].rate = 1.0;
    x.p = XML_ParserCreate("UTF-8");
    if (!x.p)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    XML_SetUserData(x.p, &x);
    XML_SetElementHandler(x.p, on_start, on_end);
    XML_SetCharacterDataHandler(x.p, on_text);
    XML_SetStartDoctypeDeclHandler(x.p, on_doctype);
    int ok = (!wrap || XML_Parse(x.p, open, (int)x.shift, 0) == XML_STATUS_OK) &&
             XML_Parse(x.p, s, (int)len, !wrap) == XML_STATUS_OK &&
             (!wrap || XML_Parse(x.p, close, (int)sizeof close - 1, 1) == XML_STATUS_OK);
    if (!ok && !x.st) {
        unsigned long line = (unsigned long)XML_GetCurrentLineNumber(x.p);
        unsigned long col = (unsigned long)XML_GetCurrentColumnNumber(x.p) + 1;
        if (line == 1 && col > x.shift)
            col -= x.shift;
        x.st = kt_error_set(err, KT_EFORMAT, "line %lu, column %lu: %s", line, col,
                            XML_ErrorString(XML_GetErrorCode(x.p)));
    }
    k->n_pauses = x.sink.n_pauses;
    k->total_pause = x.sink.total_pause;
    ssml_free(&x);
    return x.st;
}

kt_status kt_markup_parse(const char *input, size_t len, kt_markup_mode mode, kt_segment_list *out,
                          kt_error *err)
{
    kt_error local;
    memset(out, 0, sizeof *out);
    seg_sink k = {.out = out};
    if (!err)
        err = &local; /* the messages are built from err->msg */
    if (len > KT_MARKUP_MAX_INPUT)
        return kt_error_set(err, KT_ELIMIT, "markup input of %zu bytes is over %zu", len, KT_MARKUP_MAX_INPUT);
    int ssml_in = mode == KT_MARKUP_SSML || (mode == KT_MARKUP_AUTO && kt_markup_is_ssml(input, len));
    kt_status st;
    const char *nul = ssml_in ? NULL : memchr(input, '\0', len);
    if (nul) {
        unsigned long line, col;
        line_col(input, (size_t)(nul - input), &line, &col);
        return kt_error_set(err, KT_EINVAL, "line %lu, column %lu: a NUL byte in the text", line, col);
    }
    if (mode == KT_MARKUP_NONE)
        st = seg_text(&k, KT_SEG_TEXT, input, len, 0, len, 1.0, NULL, 0, err);
    else if (ssml_in)
        st = parse_ssml(input, len, needs_root(input, len), &k, err);
    else
        st = parse_text(input, len, &k, err);
    if (st)
        kt_segment_list_free(out);
    return st;
}
