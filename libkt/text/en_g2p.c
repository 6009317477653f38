/* en_g2p.c - English text to phonemes: tokens, a rule-based part-of-speech choice, glued
 * groups (pieces without space between them), context from right to left, fallback for
 * unknown words. See kt/en.h and docs/english.md. */
#include "en_word.h"

#include <stdlib.h>
#include <string.h>

#define MAX_FALLBACK_BYTES 200 /* longer unknown groups are read in pieces of this size */
#define MAX_MARKUP 256          /* longest [words] and (/phonemes/) of inline markup */

typedef struct {
    en_tok *t;
    size_t n, cap;
    int failed;
} toks;

typedef struct {
    size_t a, b; /* subtokens [a, b) */
    int list;    /* a glued group (misaki's word list) */
} group;

typedef struct {
    const kt_en_lexicon *L;
    kt_en_fallback_fn fb;
    void *fb_ctx;
    toks sub;
    group *g;
    size_t ng, capg;
    int failed;
} run;

static en_tok *tok_push(toks *v, const char *s, size_t n)
{
    if (v->failed)
        return NULL;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        en_tok *t = realloc(v->t, cap * sizeof *t);
        if (!t) {
            v->failed = 1;
            return NULL;
        }
        v->t = t;
        v->cap = cap;
    }
    en_tok *t = &v->t[v->n];
    memset(t, 0, sizeof *t);
    t->text = en_dupn(s, n);
    t->stress = EN_NO_STRESS;
    t->is_head = 1;
    if (!t->text) {
        v->failed = 1;
        return NULL;
    }
    v->n++;
    return t;
}

static void toks_free(toks *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->t[i].text);
        free(v->t[i].ps);
    }
    free(v->t);
    memset(v, 0, sizeof *v);
}

/* ---- characters ------------------------------------------------------------------------------ */

static int up(char c) { return c >= 'A' && c <= 'Z'; }
static int lo(char c) { return (c >= 'a' && c <= 'z') || (unsigned char)c >= 0x80; }
static int letter(char c) { return up(c) || lo(c); }
static int digit(char c) { return c >= '0' && c <= '9'; }

static int utf8_valid(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        size_t len = *u < 0x80 ? 1 : (*u & 0xE0) == 0xC0 ? 2 : (*u & 0xF0) == 0xE0 ? 3 : (*u & 0xF8) == 0xF0 ? 4 : 0;
        uint32_t c = len == 1 ? *u : len == 2 ? *u & 0x1Fu : len == 3 ? *u & 0x0Fu : *u & 0x07u;
        static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (!len)
            return 0;
        for (size_t i = 1; i < len; i++) {
            if ((u[i] & 0xC0) != 0x80)
                return 0;
            c = c << 6 | (u[i] & 0x3F);
        }
        if (c < min[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return 0;
        u += len;
    }
    return 1;
}

/* Copies text with ‘ ’ as ', “ ” kept, dashes – as -, controls and other blanks as spaces. */
static char *normalize(const char *s)
{
    size_t n = strlen(s);
    char *o = malloc(n + 1), *q = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n;) {
        const unsigned char *u = (const unsigned char *)s + i;
        if (u[0] == 0xE2 && u[1] == 0x80 && (u[2] == 0x98 || u[2] == 0x99)) {
            *q++ = '\'';
            i += 3;
        } else if (u[0] == 0xE2 && u[1] == 0x80 && u[2] == 0x93) {
            *q++ = '-';
            i += 3;
        } else if (u[0] == 0xC2 && u[1] == 0xA0) {
            *q++ = ' ';
            i += 2;
        } else if (u[0] == 0xE2 && u[1] == 0x80 && (u[2] <= 0x8A || u[2] == 0xA8 || u[2] == 0xA9)) {
            *q++ = ' ';
            i += 3;
        } else {
            *q++ = u[0] < 0x20 || u[0] == 0x7F ? ' ' : (char)u[0];
            i++;
        }
    }
    *q = '\0';
    return o;
}

/* ---- spaCy-like tokens ----------------------------------------------------------------------- */

static int starts_with(const char *s, const char *e, const char *p)
{
    size_t n = strlen(p);
    return (size_t)(e - s) >= n && !memcmp(s, p, n);
}

/* Length of a leading mark at s (0 if none): ( [ { " “ « and currency symbols. */
static size_t lead_mark(const char *s, const char *e)
{
    static const char *const m[] = {"(", "[", "{", "\"", "“", "«", "$", "£", "€"};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (starts_with(s, e, m[i]))
            return strlen(m[i]);
    return 0;
}

static int ends_with(const char *s, const char *e, const char *p)
{
    size_t n = strlen(p);
    return (size_t)(e - s) >= n && !memcmp(e - n, p, n);
}

/* Length of a trailing mark ending at e (0 if none). A final period stays on dotted
 * abbreviations (U.S., e.g.) and on words the lexicon knows with it (Dr., etc.). */
static size_t trail_mark(const kt_en_lexicon *L, const char *s, const char *e)
{
    static const char *const m[] = {"...", "…", ",", ";", ":", "!", "?", "\"", "”", "»", ")", "]", "}", "."};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        if (!ends_with(s, e, m[i]))
            continue;
        if (!strcmp(m[i], ".") && e - s > 1) {
            if (en_lex_gold(L, s, (size_t)(e - s)) || en_lex_silver(L, s, (size_t)(e - s)))
                return 0;
            int dotted = e - s >= 4 && e[-3] == '.' && letter(e[-2]) && letter(e[-4]);
            if (dotted)
                return 0;
        }
        return strlen(m[i]);
    }
    return 0;
}

/* The phonemes of a punctuation token, or NULL when text is not one. */
static const char *punct_ps(const char *s, size_t n, int leading)
{
    static const char *const m[][2] = {{"...", "..."}, {"…", "…"}, {",", ","}, {";", ";"}, {":", ":"},
                                       {"!", "!"},     {"?", "?"},   {".", "."}, {"“", "“"}, {"”", "”"},
                                       {"(", "("},     {")", ")"},   {"—", "—"}, {"«", "“"}, {"»", "”"},
                                       {"[", ""},      {"]", ""},    {"{", ""},  {"}", ""}};
    if (n == 1 && s[0] == '"')
        return leading ? "“" : "”";
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (strlen(m[i][0]) == n && !memcmp(s, m[i][0], n))
            return m[i][1];
    return NULL;
}

static void push_mark(toks *v, const char *s, size_t n, int leading, int ws)
{
    en_tok *t = tok_push(v, s, n);
    if (!t)
        return;
    const char *ps = punct_ps(s, n, leading);
    t->ws = ws;
    if (ps) {
        t->punct = 1;
        t->ps = strdup(ps);
        if (!t->ps)
            v->failed = 1;
    } else { /* currency symbol */
        t->currency = s[0] == '$' ? '$' : starts_with(s, s + n, "£") ? 'L' : 'E';
        t->punct = 2;
        t->ps = strdup("");
        if (!t->ps)
            v->failed = 1;
    }
}

/* The middle of a chunk: split at , ; ! ? between non-digits, at : not between digits, and at — or --. */
static void push_body(toks *v, const char *s, const char *e)
{
    const char *start = s;
    for (const char *p = s; p < e;) {
        size_t k = 0;
        if (starts_with(p, e, "—"))
            k = strlen("—");
        else if (starts_with(p, e, "--"))
            k = 2;
        else if (p > s && p + 1 < e && strchr(",;!?:", *p) && !(digit(p[-1]) && digit(p[1]) && (*p == ',' || *p == ':')) &&
                 !(*p == ':' && p[1] == '/'))
            k = 1;
        if (!k) {
            p++;
            continue;
        }
        if (p > start)
            tok_push(v, start, (size_t)(p - start));
        if (k == 2 && p[0] == '-')
            push_mark(v, "—", strlen("—"), 0, 0);
        else
            push_mark(v, p, k, 0, 0);
        p += k;
        start = p;
    }
    if (e > start)
        tok_push(v, start, (size_t)(e - start));
}

static void split_chunk(const kt_en_lexicon *L, toks *v, const char *s, const char *e, int ws)
{
    size_t first = v->n, k, marks[64], nm = 0;
    while (s < e && (k = lead_mark(s, e)) && (size_t)(e - s) > k) {
        push_mark(v, s, k, 1, 0);
        s += k;
    }
    const char *te = e;
    while (te > s && nm < 64 && (k = trail_mark(L, s, te))) {
        marks[nm++] = k;
        te -= k;
    }
    if (te - s == 1 && s[0] == '-')
        push_mark(v, "—", strlen("—"), 0, 0);
    else
        push_body(v, s, te);
    for (const char *p = te; nm > 0; p += k) {
        k = marks[--nm];
        push_mark(v, p, k, 0, 0);
    }
    if (v->n > first && !v->failed)
        v->t[v->n - 1].ws = ws;
}

/* ---- inline markup [words](/phonemes/) ------------------------------------------------------- */

/* If s starts a markup link, its parts and total length; else 0. */
static size_t markup_at(const char *s, const char **w, size_t *wn, const char **f, size_t *fn)
{
    if (s[0] != '[')
        return 0;
    const char *close = memchr(s + 1, ']', strnlen(s + 1, MAX_MARKUP)); /* bounded: linear time */
    if (!close || close == s + 1 || memchr(s + 1, '[', (size_t)(close - s - 1)) || close[1] != '(')
        return 0;
    const char *end = memchr(close + 2, ')', strnlen(close + 2, MAX_MARKUP));
    if (!end)
        return 0;
    *w = s + 1;
    *wn = (size_t)(close - s - 1);
    *f = close + 2;
    *fn = (size_t)(end - close - 2);
    return (size_t)(end - s + 1);
}

/* Applies a markup feature to token t: /phonemes/ or a stress level. */
static void apply_feature(toks *v, en_tok *t, const char *f, size_t fn)
{
    if (fn > 1 && f[0] == '/' && f[fn - 1] == '/') {
        while (fn > 1 && f[fn - 1] == '/')
            fn--;
        free(t->ps);
        t->ps = en_dupn(f + 1, fn - 1);
        t->punct = 3;
        if (!t->ps)
            v->failed = 1;
        return;
    }
    char num[8] = {0};
    if (fn == 0 || fn >= sizeof num)
        return;
    memcpy(num, f, fn);
    if (!strcmp(num, "0.5") || !strcmp(num, "+0.5"))
        t->stress = 1;
    else if (!strcmp(num, "-0.5"))
        t->stress = -1;
    else {
        char *end;
        long x = strtol(num, &end, 10);
        if (!*end && x >= -2 && x <= 2)
            t->stress = (int)x * 2;
    }
}

static void tokenize(const kt_en_lexicon *L, toks *v, const char *s)
{
    while (*s && !v->failed) {
        while (*s == ' ')
            s++;
        if (!*s)
            break;
        const char *w, *f;
        size_t wn, fn, m = markup_at(s, &w, &wn, &f, &fn);
        if (m) {
            en_tok *t = tok_push(v, w, wn);
            if (t) {
                t->ws = s[m] == ' ' || !s[m];
                apply_feature(v, t, f, fn);
            }
            s += m;
            continue;
        }
        const char *e = s;
        while (*e && *e != ' ' && !(e > s && e[0] == '[' && markup_at(e, &w, &wn, &f, &fn)))
            e++;
        split_chunk(L, v, s, e, *e == ' ' || !*e);
        s = e;
    }
}

/* ---- part of speech -------------------------------------------------------------------------- */

static int word_in(const char *w, const char *const *set)
{
    for (; *set; set++)
        if (!strcmp(w, *set))
            return 1;
    return 0;
}

static void lower_copy(const char *w, char *o, size_t cap)
{
    size_t i = 0;
    for (; w[i] && i + 1 < cap; i++)
        o[i] = up(w[i]) ? (char)(w[i] + 32) : w[i];
    o[i] = '\0';
}

static const char *const modals[] = {"to", "will", "would", "can", "could", "should", "must", "might", "may", "shall",
                                     "do", "does", "did", "don't", "doesn't", "didn't", "won't", "can't", "cannot",
                                     "let's", "please", "wouldn't", "couldn't", "shouldn't", "i'll", "we'll",
                                     "you'll", "they'll", "i'd", "we'd", NULL};
static const char *const dets[] = {"the", "a", "an", "this", "that", "these", "those", "my", "your", "his", "her",
                                   "its", "our", "their", "some", "any", "no", "every", "each", "another", "one",
                                   "first", "last", "new", "old", "good", "great", NULL};
static const char *const bes[] = {"is", "are", "was", "were", "be", "been", "being", "am", "it's", "that's",
                                  "isn't", "wasn't", "aren't", "weren't", NULL};
static const char *const haves[] = {"have", "has", "had", "having", "i've", "we've", "you've", "they've", NULL};
static const char *const subjects[] = {"i", "you", "we", "they", "he", "she", "it", "who", "people", "children",
                                       "kids", "students", "men", "women", NULL};
static const char *const skip_adv[] = {"always", "never", "often", "just", "also", "still", "really", "usually",
                                       "sometimes", "then", "not", "already", "now", "even", NULL};
static const char *const past_cues[] = {"yesterday", "ago", "last", "was", "were", "had", "did", "earlier",
                                        "before", NULL};
static const char *const function_next[] = {"of", "and", "or", "to", "in", "on", "at", "is", "was", "are", "were",
                                            "for", "with", "by", "from", "the", "a", "an", "that", NULL};

static const char *const objects[] = {"the", "a", "an", "this", "that", "these", "those", "it", "them", "me", "us",
                                      "him", "her", "your", "my", "our", "their", "his", "its", "some", "all", NULL};
static const char *const number_words[] = {"hundred", "thousand", "million", "billion", "trillion", NULL};

/* The word token before i, skipping adverbs (a few); NULL at a sentence start or punctuation. */
static const char *prev_word(const toks *v, size_t i, char *buf, size_t cap)
{
    for (size_t skipped = 0; i > 0 && skipped < 4; skipped++) {
        const en_tok *p = &v->t[i - 1];
        if (p->punct)
            return NULL;
        lower_copy(p->text, buf, cap);
        size_t n = strlen(buf);
        if (!word_in(buf, skip_adv) && !(n > 4 && !strcmp(buf + n - 2, "ly")))
            return buf;
        i--;
    }
    return NULL;
}

static int sentence_past(const toks *v, size_t i)
{
    char b[32];
    size_t a = i, z = i;
    while (a > 0 && i - a < 40 && !(v->t[a - 1].punct == 1 && strchr(".!?", v->t[a - 1].text[0])))
        a--;
    while (z < v->n && z - i < 40 && !(v->t[z].punct == 1 && strchr(".!?", v->t[z].text[0])))
        z++;
    for (size_t k = a; k < z; k++) {
        lower_copy(v->t[k].text, b, sizeof b);
        if (word_in(b, past_cues))
            return 1;
    }
    return 0;
}

/* 1 if the lexicon reads word differently as a past participle */
static int lists_vbn(const kt_en_lexicon *L, const char *word)
{
    const char *v = en_lex_gold(L, word, strlen(word));
    return v && v[0] == '|' && strstr(v, ";VBN:");
}

static const char *tag_for(const kt_en_lexicon *L, const toks *v, size_t i)
{
    char w[32], pb[32], nb[32];
    const en_tok *t = &v->t[i];
    if (t->punct)
        return t->punct == 2 ? "$" : ".";
    lower_copy(t->text, w, sizeof w);
    int digits = 0;
    for (const char *p = t->text; *p; p++)
        digits |= digit(*p);
    if (digits || word_in(w, number_words))
        return "CD";
    if (!strcmp(t->text, "I"))
        return "PRP";
    if (!strcmp(w, "a") || !strcmp(w, "an") || !strcmp(w, "the"))
        return "DT";
    if (!strcmp(w, "to"))
        return "TO";
    int last = i + 1 >= v->n || v->t[i + 1].punct;
    if (!strcmp(w, "in") || !strcmp(w, "by") || !strcmp(w, "vs") || !strcmp(w, "vs."))
        return last ? "RB" : "IN";
    const char *val = en_lex_gold(L, t->text, strlen(t->text));
    if (!val && strlen(t->text) < sizeof w)
        val = en_lex_gold(L, w, strlen(w));
    if (!val || val[0] != '|') /* the choice only matters for words read by part of speech */
        return "NN";
    const char *p = prev_word(v, i, pb, sizeof pb);
    if (!p && last) /* a word standing alone: its plain reading */
        return NULL;
    if (last)
        nb[0] = '\0';
    else
        lower_copy(v->t[i + 1].text, nb, sizeof nb);
    if (!p) /* an imperative opens a sentence with its object after it: "Close the door." */
        return (i == 0 || (v->t[i - 1].punct == 1 && strchr(".!?", v->t[i - 1].text[0]))) && word_in(nb, objects)
                   ? "VB"
                   : "NN";
    if (word_in(p, modals))
        return "VB";
    if (word_in(p, haves))
        return "VBN";
    if (word_in(p, bes)) /* a participle if the lexicon reads one, else a predicate adjective */
        return lists_vbn(L, t->text) ? "VBN" : "JJ";
    if (word_in(p, dets) || !strcmp(p, "of"))
        return nb[0] && !word_in(nb, function_next) && letter(nb[0]) ? "JJ" : "NN";
    if (word_in(p, subjects))
        return sentence_past(v, i) ? "VBD" : "VBP";
    return "NN";
}

/* ---- misaki's subtokens ---------------------------------------------------------------------- */

static size_t number_run(const char *s, size_t i, size_t n)
{
    size_t k = i;
    for (;;) {
        if (k + 2 < n + 0 && digit(s[k]) && (s[k + 1] == ',' || s[k + 1] == '.') && digit(s[k + 2]))
            k += 3;
        else if (k + 1 < n && digit(s[k]) && digit(s[k + 1]))
            k += 2;
        else if (k + 1 < n && (s[k] == ',' || s[k] == '.') && digit(s[k + 1]))
            k += 2;
        else if (k < n && digit(s[k]))
            k += 1;
        else
            return k - i;
    }
}

/* The length of the subtoken at s[i..n), 0 to skip one byte. */
static size_t subtoken_len(const char *s, size_t i, size_t n)
{
    size_t k = i;
    if (i == 0 && s[0] == '\'') {
        while (k < n && s[k] == '\'')
            k++;
        return k - i;
    }
    if (i + 2 < n && up(s[i]) && up(s[i + 1]) && lo(s[i + 2]) && !((unsigned char)s[i + 2] >= 0x80))
        return 1;
    size_t m = (i == 0 && s[0] == '-') ? number_run(s, 1, n) : 0;
    if (m)
        return m + 1;
    if ((m = number_run(s, i, n)))
        return m;
    if (s[i] == '-' || s[i] == '_') {
        while (k < n && (s[k] == '-' || s[k] == '_'))
            k++;
        return k - i;
    }
    if (s[i] == '\'') {
        while (k < n && s[k] == '\'')
            k++;
        if (k - i >= 2 || k == n)
            return k - i;
        return 0;
    }
    if (letter(s[i])) {
        /* lower-case letter followed by an upper-case one ends a piece (camelCase) */
        for (k = i; k < n && (letter(s[k]) || (s[k] == '\'' && k + 1 < n && letter(s[k + 1]))); k++)
            if (lo(s[k]) && k + 1 < n && up(s[k + 1]))
                return k + 1 - i;
        k = i;
        while (k < n && letter(s[k]))
            k++;
        while (k + 1 < n && s[k] == '\'' && letter(s[k + 1]))
            k += 2;
        return k - i;
    }
    /* any other character, whole (UTF-8) */
    k = i + 1;
    while (k < n && ((unsigned char)s[k] & 0xC0) == 0x80)
        k++;
    return k - i;
}

/* ---- groups ---------------------------------------------------------------------------------- */

static int group_push(run *r, size_t a, size_t b, int list)
{
    if (r->ng == r->capg) {
        size_t cap = r->capg ? r->capg * 2 : 64;
        group *g = realloc(r->g, cap * sizeof *g);
        if (!g)
            return -1;
        r->g = g;
        r->capg = cap;
    }
    r->g[r->ng++] = (group){a, b, list};
    return 0;
}

/* Subtokens of every token, currency marks, and misaki's grouping of glued pieces. */
static void retokenize(run *r, toks *v)
{
    char currency = 0;
    int open = 0; /* the last group is a list still open for glued pieces */
    for (size_t i = 0; i < v->n && !r->sub.failed && !r->failed; i++) {
        en_tok *t = &v->t[i];
        size_t first = r->sub.n;
        if (t->ps) {
            en_tok *s = tok_push(&r->sub, t->text, strlen(t->text));
            if (!s)
                break;
            s->ps = strdup(t->ps);
            s->punct = t->punct;
            s->tag = t->tag;
            s->stress = t->stress;
            s->ws = t->ws;
            if (t->punct == 2)
                currency = t->currency;
        } else {
            const char *w = t->text;
            size_t n = strlen(w);
            for (size_t k = 0; k < n;) {
                size_t len = subtoken_len(w, k, n);
                if (!len) {
                    k++;
                    continue;
                }
                en_tok *s = tok_push(&r->sub, w + k, len);
                if (!s)
                    break;
                s->tag = t->tag;
                s->stress = t->stress;
                k += len;
            }
            if (r->sub.n > first)
                r->sub.t[r->sub.n - 1].ws = t->ws;
        }
        for (size_t j = first; j < r->sub.n; j++) {
            en_tok *s = &r->sub.t[j];
            if (s->ps) {
                r->failed |= group_push(r, j, j + 1, 0);
                open = 0;
                continue;
            }
            if (currency) {
                if (!s->tag || strcmp(s->tag, "CD"))
                    currency = 0;
                else if (j + 1 == r->sub.n && (i + 1 == v->n || !v->t[i + 1].tag || strcmp(v->t[i + 1].tag, "CD")))
                    s->currency = currency;
            }
            if (open) {
                s->is_head = 0;
                r->g[r->ng - 1].b = j + 1;
            } else {
                r->failed |= group_push(r, j, j + 1, !s->ws);
            }
            open = r->g[r->ng - 1].list && !s->ws;
        }
    }
}

/* ---- phonemes, right to left ----------------------------------------------------------------- */

static void next_ctx(en_ctx *ctx, const char *ps, const char *text)
{
    const unsigned char *p = (const unsigned char *)(ps ? ps : "");
    while (*p) {
        uint32_t c;
        size_t len = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : 4;
        c = len == 1 ? *p : len == 2 ? (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F)
                          : len == 3 ? (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F)
                                     : 0xFFFD;
        if (c == ';' || c == ':' || c == ',' || c == '.' || c == '!' || c == '?' || c == 0x2014 || c == 0x2026) {
            ctx->future_vowel = -1;
            break;
        }
        if (en_is_vowel(c) || en_is_consonant(c)) {
            ctx->future_vowel = en_is_vowel(c);
            break;
        }
        p += len;
    }
    ctx->future_to = !strcmp(text, "to") || !strcmp(text, "To");
}

static int weight(const char *s)
{
    int w = 0;
    for (; *s; s++)
        w += up(*s) ? 2 : 1;
    return w;
}

/* The merged token of subtokens [a, b) (text concatenated). */
static int merge(const toks *v, size_t a, size_t b, en_tok *m, char *buf, size_t cap)
{
    size_t k = 0;
    int best = -1, stress_set = 0;
    memset(m, 0, sizeof *m);
    m->stress = EN_NO_STRESS;
    for (size_t i = a; i < b; i++) {
        const en_tok *t = &v->t[i];
        size_t n = strlen(t->text);
        if (k + n >= cap)
            return -1;
        memcpy(buf + k, t->text, n);
        k += n;
        if (weight(t->text) > best) {
            best = weight(t->text);
            m->tag = t->tag;
        }
        if (t->stress != EN_NO_STRESS) {
            if (stress_set && m->stress != t->stress)
                stress_set = 2;
            else if (!stress_set)
                stress_set = 1, m->stress = t->stress;
        }
        if (t->currency)
            m->currency = t->currency;
    }
    if (stress_set == 2)
        m->stress = EN_NO_STRESS;
    buf[k] = '\0';
    m->text = buf;
    m->is_head = v->t[a].is_head;
    return 0;
}

static int all_junk(const char *s)
{
    for (; *s; s++)
        if (!strchr("',-._/", *s))
            return 0;
    return 1;
}

static void set_ps(run *r, en_tok *t, char *ps)
{
    free(t->ps);
    t->ps = ps;
    if (!ps)
        r->failed = 1;
}

/* A group too long for one fallback call (a 100,000-letter "word"): its text read in pieces of
 * at most MAX_FALLBACK_BYTES, cut between UTF-8 characters, the phonemes joined; linear time. */
static char *fallback_pieces(run *r, size_t a, size_t b)
{
    size_t n = 0, k = 0, len = 0;
    for (size_t i = a; i < b; i++)
        n += strlen(r->sub.t[i].text);
    char *text = malloc(n + 1), *out = NULL;
    if (!text)
        return NULL;
    for (size_t i = a; i < b; i++) {
        size_t m = strlen(r->sub.t[i].text);
        memcpy(text + k, r->sub.t[i].text, m);
        k += m;
    }
    text[n] = '\0';
    for (size_t at = 0; at < n;) {
        size_t end = at + MAX_FALLBACK_BYTES < n ? at + MAX_FALLBACK_BYTES : n;
        while (end > at + 1 && end < n && ((unsigned char)text[end] & 0xC0) == 0x80)
            end--; /* not inside a character */
        char piece[MAX_FALLBACK_BYTES + 1], *ps = NULL;
        memcpy(piece, text + at, end - at);
        piece[end - at] = '\0';
        at = end;
        if (r->fb(r->fb_ctx, piece, &ps) != 0 || !ps) {
            free(ps);
            continue; /* an unreadable piece is left out */
        }
        size_t pn = strlen(ps);
        char *grown = realloc(out, len + pn + 1);
        if (!grown) {
            free(ps);
            free(out);
            free(text);
            return NULL;
        }
        out = grown;
        memcpy(out + len, ps, pn + 1);
        len += pn;
        free(ps);
    }
    free(text);
    return out ? out : strdup("");
}

static void fallback_group(run *r, size_t a, size_t b)
{
    char buf[MAX_FALLBACK_BYTES + 1];
    en_tok m;
    char *ps = NULL;
    int merged = merge(&r->sub, a, b, &m, buf, sizeof buf) == 0;
    if (merged && r->fb && r->fb(r->fb_ctx, buf, &ps) != 0) {
        free(ps); /* an unreadable word is left out */
        ps = NULL;
    } else if (!merged && r->fb) {
        ps = fallback_pieces(r, a, b);
    }
    set_ps(r, &r->sub.t[a], ps ? ps : strdup(""));
    for (size_t j = a + 1; j < b; j++)
        set_ps(r, &r->sub.t[j], strdup(""));
}

static void restress(run *r, en_tok *t)
{
    t->ps = en_stress(t->ps, -1);
    if (!t->ps)
        r->failed = 1;
}

/* misaki demotes the half of a group's stressed pieces that sort first by (has a primary
 * stress, stress weight, position): the unstressed and light ones. */
static void demote_half(run *r, const size_t *idx, size_t k)
{
    toks *v = &r->sub;
    size_t order[64];
    int key_p[64], key_w[64];
    for (size_t j = 0; j < k; j++) {
        order[j] = j;
        key_p[j] = strstr(v->t[idx[j]].ps, "ˈ") != NULL;
        int w = 0;
        for (const unsigned char *p = (const unsigned char *)v->t[idx[j]].ps; *p; p++)
            if ((*p & 0xC0) != 0x80) /* diphthongs and affricates (ʤ ʧ) weigh 2 */
                w += (*p < 0x80 && strchr("AIOQWY", *p)) || (p[0] == 0xCA && (p[1] == 0xA4 || p[1] == 0xA7)) ? 2 : 1;
        key_w[j] = w;
    }
    for (size_t x = 1; x < k; x++) /* insertion sort: k <= 64 */
        for (size_t y = x; y > 0; y--) {
            size_t p = order[y - 1], q = order[y];
            if (key_p[p] > key_p[q] || (key_p[p] == key_p[q] && key_w[p] > key_w[q]) ||
                (key_p[p] == key_p[q] && key_w[p] == key_w[q] && p > q)) {
                order[y - 1] = q;
                order[y] = p;
            }
        }
    for (size_t j = 0; j < k / 2; j++)
        restress(r, &v->t[idx[order[j]]]);
}

/* misaki's stress balance inside a glued group, and where spaces go. */
static void resolve(run *r, size_t a, size_t b)
{
    toks *v = &r->sub;
    int cls = 0, prespace = 0;
    for (size_t i = a; i < b; i++)
        for (const char *p = v->t[i].text; *p; p++) {
            if (*p == '/')
                prespace = 1;
            if (!strchr("',-._/", *p))
                cls |= letter(*p) ? 1 : digit(*p) ? 2 : 4;
        }
    prespace |= cls != 1 && cls != 2 && cls != 4 && cls != 0;
    for (size_t i = a; i < b; i++)
        if (i > a && v->t[i].ps)
            v->t[i].prespace = prespace;
    if (prespace)
        return;
    size_t idx[64], k = 0, primaries = 0;
    for (size_t i = a; i < b && k < 64; i++)
        if (v->t[i].ps && v->t[i].ps[0]) {
            idx[k++] = i;
            primaries += strstr(v->t[i].ps, "ˈ") != NULL;
        }
    if (k == 2 && strlen(v->t[idx[0]].text) == 1) {
        restress(r, &v->t[idx[1]]);
        return;
    }
    if (k < 2 || primaries <= (k + 1) / 2)
        return;
    demote_half(r, idx, k);
}

static int any_fixed(const toks *v, size_t a, size_t b)
{
    for (size_t i = a; i < b; i++)
        if (v->t[i].ps)
            return 1;
    return 0;
}

/* The first piece of a span ending at right: spans of more than MAX_SPAN pieces are
 * never in the lexicon, and the bound keeps long glued groups linear. */
#define MAX_SPAN 16
static size_t span_start(size_t a, size_t right)
{
    return right - a > MAX_SPAN ? right - MAX_SPAN : a;
}

static void do_list(run *r, size_t a, size_t b, en_ctx *ctx)
{
    toks *v = &r->sub;
    size_t right = b, left = span_start(a, right);
    char buf[256];
    while (left < right && !r->failed) {
        en_tok m;
        char *ps = NULL;
        if (!any_fixed(v, left, right) && merge(v, left, right, &m, buf, sizeof buf) == 0)
            ps = en_word_token(r->L, &m, ctx);
        if (ps) {
            set_ps(r, &v->t[left], ps);
            for (size_t j = left + 1; j < right; j++)
                set_ps(r, &v->t[j], strdup(""));
            next_ctx(ctx, ps, buf);
            right = left;
            left = span_start(a, right);
        } else if (left + 1 < right) {
            left++;
        } else {
            right--;
            en_tok *t = &v->t[right];
            if (!t->ps) {
                if (!all_junk(t->text)) {
                    fallback_group(r, a, b);
                    return;
                }
                set_ps(r, t, strdup(""));
            }
            left = span_start(a, right);
        }
    }
    resolve(r, a, b);
}

static void phonemize_groups(run *r)
{
    en_ctx ctx = {-1, 0};
    for (size_t gi = r->ng; gi > 0 && !r->failed; gi--) {
        group *g = &r->g[gi - 1];
        en_tok *t = &r->sub.t[g->a];
        if (g->list) {
            do_list(r, g->a, g->b, &ctx);
            continue;
        }
        if (!t->ps) {
            char *ps = en_word_token(r->L, t, &ctx);
            if (ps)
                set_ps(r, t, ps);
            else if (all_junk(t->text))
                set_ps(r, t, strdup(""));
            else
                fallback_group(r, g->a, g->b);
        }
        next_ctx(&ctx, t->ps, t->text);
    }
}

static char *join(run *r)
{
    kt_strbuf b = {0};
    for (size_t gi = 0; gi < r->ng; gi++) {
        group *g = &r->g[gi];
        for (size_t i = g->a; i < g->b; i++) {
            const en_tok *t = &r->sub.t[i];
            if (t->prespace && b.len && b.data[b.len - 1] != ' ' && t->ps && t->ps[0])
                kt_strbuf_puts(&b, " ");
            if (t->ps)
                kt_strbuf_puts(&b, t->ps);
        }
        if (r->sub.t[g->b - 1].ws && b.len && b.data[b.len - 1] != ' ')
            kt_strbuf_puts(&b, " ");
    }
    while (b.len && b.data[b.len - 1] == ' ')
        b.data[--b.len] = '\0';
    if (b.failed) {
        kt_strbuf_free(&b);
        return NULL;
    }
    return b.data ? b.data : strdup("");
}

kt_status kt_en_phonemize(const kt_en_lexicon *lex, const char *text, kt_en_fallback_fn fallback, void *fb_ctx,
                          char **out, kt_error *err)
{
    run r = {lex, fallback, fb_ctx, {0}, NULL, 0, 0, 0};
    toks v = {0};
    char *norm = NULL;
    kt_status st = KT_OK;
    *out = NULL;
    if (!utf8_valid(text))
        return kt_error_set(err, KT_EINVAL, "text is not valid UTF-8");
    if (!(norm = normalize(text)))
        goto oom;
    tokenize(lex, &v, norm);
    for (size_t i = 0; i < v.n && !v.failed; i++)
        v.t[i].tag = tag_for(lex, &v, i);
    if (v.failed)
        goto oom;
    retokenize(&r, &v);
    if (r.sub.failed || r.failed)
        goto oom;
    phonemize_groups(&r);
    if (r.failed || !(*out = join(&r)))
        goto oom;
    en_final_map(*out);
    goto done;
oom:
    st = kt_error_set(err, KT_ENOMEM, "out of memory");
done:
    free(norm);
    toks_free(&v);
    toks_free(&r.sub);
    free(r.g);
    return st;
}
