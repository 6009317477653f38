/* en_word.c - one English word to phonemes: lexicon lookup with case handling, stress,
 * special words, morphology (-s, -ed, -ing) and numbers. See kt/en.h and docs/english.md. */
#include "en_word.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PRIMARY 0x2C8u   /* ˈ */
#define SECONDARY 0x2CCu /* ˌ */

/* ---- phoneme strings as code points ---------------------------------------------------------- */

typedef struct {
    uint32_t p[512];
    size_t n;
} ustr; /* phonemes of one word are short; longer strings are left unstressed */

static size_t dec1(const unsigned char *s, uint32_t *c)
{
    if (s[0] < 0x80) { *c = s[0]; return 1; }
    if ((s[0] & 0xE0) == 0xC0 && s[1]) { *c = (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F); return 2; }
    if ((s[0] & 0xF0) == 0xE0 && s[1] && s[2]) {
        *c = (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
        return 3;
    }
    if ((s[0] & 0xF8) == 0xF0 && s[1] && s[2] && s[3]) {
        *c = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 | (uint32_t)(s[2] & 0x3F) << 6 |
             (s[3] & 0x3F);
        return 4;
    }
    *c = 0xFFFD;
    return 1;
}

static int to_ustr(const char *s, ustr *u)
{
    const unsigned char *p = (const unsigned char *)s;
    u->n = 0;
    while (*p) {
        if (u->n == sizeof u->p / sizeof u->p[0])
            return -1;
        p += dec1(p, &u->p[u->n++]);
    }
    return 0;
}

static char *from_ustr(const ustr *u)
{
    char *o = malloc(u->n * 4 + 1), *q = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < u->n; i++) {
        uint32_t c = u->p[i];
        if (c < 0x80) *q++ = (char)c;
        else if (c < 0x800) { *q++ = (char)(0xC0 | c >> 6); *q++ = (char)(0x80 | (c & 0x3F)); }
        else if (c < 0x10000) {
            *q++ = (char)(0xE0 | c >> 12); *q++ = (char)(0x80 | ((c >> 6) & 0x3F)); *q++ = (char)(0x80 | (c & 0x3F));
        } else {
            *q++ = (char)(0xF0 | c >> 18); *q++ = (char)(0x80 | ((c >> 12) & 0x3F));
            *q++ = (char)(0x80 | ((c >> 6) & 0x3F)); *q++ = (char)(0x80 | (c & 0x3F));
        }
    }
    *q = '\0';
    return o;
}

int en_is_vowel(uint32_t c)
{
    static const uint32_t v[] = {'A', 'I', 'O', 'Q', 'W', 'Y', 'a', 'i', 'u', 0xE6, 0x251, 0x252, 0x254, 0x259,
                                 0x25B, 0x25C, 0x26A, 0x28A, 0x28C, 0x1D7B};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (v[i] == c)
            return 1;
    return 0;
}

int en_is_consonant(uint32_t c)
{
    static const uint32_t v[] = {'b', 'd', 'f', 'h', 'j', 'k', 'l', 'm', 'n', 'p', 's', 't', 'v', 'w', 'z',
                                 0xF0, 0x14B, 0x261, 0x279, 0x27E, 0x283, 0x292, 0x2A4, 0x2A7, 0x3B8};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (v[i] == c)
            return 1;
    return 0;
}

static int has_cp(const ustr *u, uint32_t c)
{
    for (size_t i = 0; i < u->n; i++)
        if (u->p[i] == c)
            return 1;
    return 0;
}

static void drop_cp(ustr *u, uint32_t c)
{
    size_t k = 0;
    for (size_t i = 0; i < u->n; i++)
        if (u->p[i] != c)
            u->p[k++] = u->p[i];
    u->n = k;
}

static void swap_cp(ustr *u, uint32_t a, uint32_t b)
{
    for (size_t i = 0; i < u->n; i++)
        if (u->p[i] == a)
            u->p[i] = b;
}

/* Puts mark before the first vowel (the word has no stress marks); 0 when it has no vowel. */
static int mark_first_vowel(ustr *u, uint32_t mark)
{
    size_t j = 0;
    while (j < u->n && !en_is_vowel(u->p[j]))
        j++;
    if (j == u->n || u->n == sizeof u->p / sizeof u->p[0])
        return 0;
    memmove(u->p + j + 1, u->p + j, (u->n - j) * sizeof u->p[0]);
    u->p[j] = mark;
    u->n++;
    return 1;
}

static void stress_u(ustr *u, int s)
{
    int pri = has_cp(u, PRIMARY), sec = has_cp(u, SECONDARY);
    if (s == EN_NO_STRESS)
        return;
    if (s < -2) {
        drop_cp(u, PRIMARY);
        drop_cp(u, SECONDARY);
    } else if (s == -2 || ((s == 0 || s == -1) && pri)) {
        drop_cp(u, SECONDARY);
        swap_cp(u, PRIMARY, SECONDARY);
    } else if ((s == 0 || s == 1 || s == 2) && !pri && !sec) {
        mark_first_vowel(u, SECONDARY);
    } else if (s >= 2 && !pri && sec) {
        swap_cp(u, SECONDARY, PRIMARY);
    } else if (s > 2 && !pri && !sec) {
        mark_first_vowel(u, PRIMARY);
    }
}

/* misaki's stress adjustment (levels times two, EN_NO_STRESS for none): a new string; ps is freed. */
char *en_stress(char *ps, int s)
{
    ustr u;
    if (!ps || s == EN_NO_STRESS || to_ustr(ps, &u))
        return ps;
    stress_u(&u, s);
    char *o = from_ustr(&u);
    free(ps);
    return o;
}

/* ---- small string helpers -------------------------------------------------------------------- */

static char *dupn(const char *s, size_t n)
{
    char *o = malloc(n + 1);
    if (o) {
        memcpy(o, s, n);
        o[n] = '\0';
    }
    return o;
}

static char *cat2(char *a, const char *b)
{
    if (!a)
        return NULL;
    size_t na = strlen(a), nb = strlen(b);
    char *o = realloc(a, na + nb + 1);
    if (!o) {
        free(a);
        return NULL;
    }
    memcpy(o + na, b, nb + 1);
    return o;
}

static int is_up(char c) { return c >= 'A' && c <= 'Z'; }
static int is_lo(char c) { return c >= 'a' && c <= 'z'; }

/* Python's word == word.lower() / word == word.upper() for ASCII text. */
static int all_lower(const char *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (is_up(w[i]))
            return 0;
    return 1;
}

static int all_upper(const char *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (is_lo(w[i]))
            return 0;
    return 1;
}

/* Python's isalpha (bytes >= 0x80 count as letters) */
static int all_alpha(const char *w, size_t n)
{
    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_up(w[i]) && !is_lo(w[i]) && !((unsigned char)w[i] >= 0x80))
            return 0;
    return 1;
}

/* all characters are letters, ' or - (misaki's LEXICON_ORDS) */
static int lexicon_chars(const char *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_up(w[i]) && !is_lo(w[i]) && w[i] != '\'' && w[i] != '-')
            return 0;
    return 1;
}

static int eq(const char *w, size_t n, const char *s)
{
    return strlen(s) == n && !memcmp(w, s, n);
}

static int ends(const char *w, size_t n, const char *s)
{
    size_t k = strlen(s);
    return n >= k && !memcmp(w + n - k, s, k);
}

static int starts(const char *t, const char *p)
{
    return t && !strncmp(t, p, strlen(p));
}

/* ---- lookup ---------------------------------------------------------------------------------- */

static const char *parent_tag(const char *t)
{
    if (starts(t, "VB")) return "VERB";
    if (starts(t, "NN")) return "NOUN";
    if (starts(t, "ADV") || starts(t, "RB")) return "ADV";
    if (starts(t, "ADJ") || starts(t, "JJ")) return "ADJ";
    return t;
}

static char *pick(const char *val, const char *tag, const en_ctx *ctx)
{
    kt_strbuf b = {0};
    int r = -1;
    if (val[0] == '|' && ctx && ctx->future_vowel < 0)
        r = en_val_pick(val, "None", &b);
    if (r < 0 && tag)
        r = en_val_pick(val, tag, &b);
    if (r < 0 && tag)
        r = en_val_pick(val, parent_tag(tag), &b);
    if (r < 0)
        r = en_val_pick(val, "DEFAULT", &b);
    if (r <= 0 || b.failed) {
        kt_strbuf_free(&b);
        return NULL;
    }
    return b.data;
}

static int in_gold(const kt_en_lexicon *L, const char *w, size_t n)
{
    return en_lex_gold(L, w, n) != NULL;
}

/* Spelled letter by letter (an acronym); NULL when a letter has no entry. */
static char *get_nnp(const kt_en_lexicon *L, const char *w, size_t n)
{
    char *ps = calloc(1, 1);
    for (size_t i = 0; i < n && ps; i++) {
        if (!is_up(w[i]) && !is_lo(w[i]))
            continue;
        char c = is_lo(w[i]) ? (char)(w[i] - 32) : w[i];
        const char *v = en_lex_gold(L, &c, 1);
        if (!v || v[0] == '|') {
            free(ps);
            return NULL;
        }
        ps = cat2(ps, v);
    }
    ustr u;
    if (!ps || to_ustr(ps, &u))
        return ps;
    stress_u(&u, 0);
    for (size_t i = u.n; i > 0; i--)
        if (u.p[i - 1] == SECONDARY) {
            u.p[i - 1] = PRIMARY;
            break;
        }
    free(ps);
    return from_ustr(&u);
}

char *en_lookup(const kt_en_lexicon *L, const char *w, size_t n, const char *tag, int stress, const en_ctx *ctx)
{
    char low[72];
    int nnp = 0;
    if (n >= sizeof low)
        return NULL;
    if (all_upper(w, n) && !in_gold(L, w, n)) {
        for (size_t i = 0; i < n; i++)
            low[i] = is_up(w[i]) ? (char)(w[i] + 32) : w[i];
        w = low;
        nnp = tag && !strcmp(tag, "NNP");
    }
    const char *v = en_lex_gold(L, w, n);
    if (!v && !nnp)
        v = en_lex_silver(L, w, n);
    char *ps = v ? pick(v, tag, ctx) : NULL;
    if (!ps || (nnp && !strstr(ps, "ˈ"))) {
        char *sp = get_nnp(L, w, n);
        if (sp) {
            free(ps);
            return sp;
        }
    }
    return en_stress(ps, stress);
}

static int is_known(const kt_en_lexicon *L, const char *w, size_t n)
{
    if (in_gold(L, w, n) || en_lex_silver(L, w, n) || (n == 1 && strchr("%&+@", w[0])))
        return 1;
    if (!all_alpha(w, n) || !lexicon_chars(w, n))
        return 0;
    if (n == 1)
        return 1;
    if (all_upper(w, n) && n < 72) {
        char low[72];
        for (size_t i = 0; i < n; i++)
            low[i] = (char)(w[i] + 32);
        if (in_gold(L, low, n))
            return 1;
    }
    return all_upper(w + 1, n - 1);
}

/* ---- morphology ------------------------------------------------------------------------------ */

/* The last code point of ps, and the one before it (0 when absent). */
static void last2(const char *ps, uint32_t *a, uint32_t *b)
{
    ustr u;
    *a = *b = 0;
    if (to_ustr(ps, &u) || !u.n)
        return;
    *a = u.p[u.n - 1];
    *b = u.n > 1 ? u.p[u.n - 2] : 0;
}

static int cp_in(uint32_t c, const char *set)
{
    ustr u;
    return !to_ustr(set, &u) && c && has_cp(&u, c);
}

char *en_suffix_s(char *stem, int british)
{
    uint32_t a, b;
    if (!stem || !stem[0]) {
        free(stem);
        return NULL;
    }
    last2(stem, &a, &b);
    if (cp_in(a, "ptkfθ"))
        return cat2(stem, "s");
    if (cp_in(a, "szʃʒʧʤ"))
        return cat2(stem, british ? "ɪz" : "ᵻz");
    return cat2(stem, "z");
}

/* drops the last code point of s (ASCII 't' here) */
static void chop(char *s)
{
    size_t n = strlen(s);
    if (n)
        s[n - 1] = '\0';
}

char *en_suffix_ed(char *stem, int british)
{
    uint32_t a, b;
    if (!stem || !stem[0]) {
        free(stem);
        return NULL;
    }
    last2(stem, &a, &b);
    if (cp_in(a, "pkfθʃsʧ"))
        return cat2(stem, "t");
    if (a == 'd')
        return cat2(stem, british ? "ɪd" : "ᵻd");
    if (a != 't')
        return cat2(stem, "d");
    if (british || !b)
        return cat2(stem, "ɪd");
    if (cp_in(b, "AIOWYiuæɑəɛɪɹʊʌ")) {
        chop(stem);
        return cat2(stem, "ɾᵻd");
    }
    return cat2(stem, "ᵻd");
}

char *en_suffix_ing(char *stem, int british)
{
    uint32_t a, b;
    if (!stem || !stem[0]) {
        free(stem);
        return NULL;
    }
    last2(stem, &a, &b);
    if (british) {
        if (a == 0x259 || a == 0x2D0) {
            free(stem);
            return NULL;
        }
    } else if (a == 't' && cp_in(b, "AIOWYiuæɑəɛɪɹʊʌ")) {
        chop(stem);
        return cat2(stem, "ɾɪŋ");
    }
    return cat2(stem, "ɪŋ");
}

static char *stem_s(const kt_en_lexicon *L, const char *w, size_t n, const char *tag, int stress, const en_ctx *ctx)
{
    char buf[72];
    size_t k;
    if (n < 3 || w[n - 1] != 's' || n >= sizeof buf)
        return NULL;
    if (!ends(w, n, "ss") && is_known(L, w, n - 1))
        k = n - 1;
    else if ((ends(w, n, "'s") || (n > 4 && ends(w, n, "es") && !ends(w, n, "ies"))) && is_known(L, w, n - 2))
        k = n - 2;
    else {
        memcpy(buf, w, n - 3);
        buf[n - 3] = 'y';
        if (!(n > 4 && ends(w, n, "ies") && is_known(L, buf, n - 2)))
            return NULL;
        return en_suffix_s(en_lookup(L, buf, n - 2, tag, stress, ctx), en_lex_british(L));
    }
    return en_suffix_s(en_lookup(L, w, k, tag, stress, ctx), en_lex_british(L));
}

static char *stem_ed(const kt_en_lexicon *L, const char *w, size_t n, const char *tag, int stress, const en_ctx *ctx)
{
    size_t k;
    if (n < 4 || w[n - 1] != 'd')
        return NULL;
    if (!ends(w, n, "dd") && is_known(L, w, n - 1))
        k = n - 1;
    else if (n > 4 && ends(w, n, "ed") && !ends(w, n, "eed") && is_known(L, w, n - 2))
        k = n - 2;
    else
        return NULL;
    return en_suffix_ed(en_lookup(L, w, k, tag, stress, ctx), en_lex_british(L));
}

static int doubled_ing(const char *w, size_t n)
{
    if (n < 5)
        return 0;
    if (ends(w, n, "cking"))
        return 1;
    char c = w[n - 4];
    return c == w[n - 5] && strchr("bcdgklmnprstvxz", c) && c;
}

static char *stem_ing(const kt_en_lexicon *L, const char *w, size_t n, const char *tag, int stress, const en_ctx *ctx)
{
    char buf[72];
    if (n < 5 || !ends(w, n, "ing") || n >= sizeof buf)
        return NULL;
    memcpy(buf, w, n - 3);
    buf[n - 3] = 'e';
    if (n > 5 && is_known(L, w, n - 3))
        return en_suffix_ing(en_lookup(L, w, n - 3, tag, stress, ctx), en_lex_british(L));
    if (is_known(L, buf, n - 2))
        return en_suffix_ing(en_lookup(L, buf, n - 2, tag, stress, ctx), en_lex_british(L));
    if (n > 5 && doubled_ing(w, n) && is_known(L, w, n - 4))
        return en_suffix_ing(en_lookup(L, w, n - 4, tag, stress, ctx), en_lex_british(L));
    return NULL;
}

/* ---- special words --------------------------------------------------------------------------- */

static int tag_is(const char *tag, const char *t)
{
    return tag && !strcmp(tag, t);
}

static char *special(const kt_en_lexicon *L, const char *w, size_t n, const char *tag, int stress,
                     const en_ctx *ctx, int *hit)
{
    static const char *const symbols[][2] = {{"%", "percent"}, {"&", "and"}, {"+", "plus"}, {"@", "at"}};
    *hit = 1;
    if (tag_is(tag, "ADD") && (eq(w, n, ".") || eq(w, n, "/")))
        return en_lookup(L, w[0] == '.' ? "dot" : "slash", w[0] == '.' ? 3 : 5, NULL, -1, ctx);
    for (size_t i = 0; i < 4; i++)
        if (eq(w, n, symbols[i][0]))
            return en_lookup(L, symbols[i][1], strlen(symbols[i][1]), NULL, EN_NO_STRESS, ctx);
    /* dotted initials: U.S., e.g. */
    size_t s = 0, e = n, longest = 0, run = 0;
    int inner_dot = 0, letters = 1;
    while (s < e && w[s] == '.') s++;
    while (e > s && w[e - 1] == '.') e--;
    for (size_t i = s; i < e; i++)
        inner_dot |= w[i] == '.';
    for (size_t i = 0; i < n; i++) {
        if (w[i] == '.') { run = 0; continue; }
        letters &= is_up(w[i]) || is_lo(w[i]) || (unsigned char)w[i] >= 0x80;
        if (++run > longest) longest = run;
    }
    if (inner_dot && letters && longest > 0 && longest < 3)
        return get_nnp(L, w, n);
    if (eq(w, n, "a") || eq(w, n, "A"))
        return strdup(tag_is(tag, "DT") ? "ɐ" : "ˈA");
    if (eq(w, n, "am") || eq(w, n, "Am") || eq(w, n, "AM")) {
        if (starts(tag, "NN"))
            return get_nnp(L, w, n);
        if (ctx->future_vowel < 0 || !eq(w, n, "am") || (stress != EN_NO_STRESS && stress > 0))
            return pick(en_lex_gold(L, "am", 2), NULL, NULL);
        return strdup("ɐm");
    }
    if (eq(w, n, "an") || eq(w, n, "An") || eq(w, n, "AN")) {
        if (eq(w, n, "AN") && starts(tag, "NN"))
            return get_nnp(L, w, n);
        return strdup("ɐn");
    }
    if (eq(w, n, "I") && tag_is(tag, "PRP"))
        return strdup("ˌI");
    if ((eq(w, n, "by") || eq(w, n, "By") || eq(w, n, "BY")) && tag && !strcmp(parent_tag(tag), "ADV"))
        return strdup("bˈI");
    if (eq(w, n, "to") || eq(w, n, "To") || (eq(w, n, "TO") && (tag_is(tag, "TO") || tag_is(tag, "IN")))) {
        if (ctx->future_vowel < 0)
            return pick(en_lex_gold(L, "to", 2), NULL, NULL);
        return strdup(ctx->future_vowel ? "tʊ" : "tə");
    }
    if (eq(w, n, "in") || eq(w, n, "In") || (eq(w, n, "IN") && !tag_is(tag, "NNP")))
        return strdup(ctx->future_vowel < 0 || !tag_is(tag, "IN") ? "ˈɪn" : "ɪn");
    if (eq(w, n, "the") || eq(w, n, "The") || (eq(w, n, "THE") && tag_is(tag, "DT")))
        return strdup(ctx->future_vowel == 1 ? "ði" : "ðə");
    if (tag_is(tag, "IN") && (eq(w, n, "vs") || eq(w, n, "vs.") || eq(w, n, "Vs") || eq(w, n, "VS") ||
                              eq(w, n, "Vs.") || eq(w, n, "VS.")))
        return en_lookup(L, "versus", 6, NULL, EN_NO_STRESS, ctx);
    if (eq(w, n, "used") || eq(w, n, "Used") || eq(w, n, "USED")) {
        const char *v = en_lex_gold(L, "used", 4);
        int vbd = (tag_is(tag, "VBD") || tag_is(tag, "JJ")) && ctx->future_to;
        return v ? pick(v, vbd ? "VBD" : "DEFAULT", NULL) : NULL;
    }
    *hit = 0;
    return NULL;
}

/* ---- a word ---------------------------------------------------------------------------------- */

static char *get_word(const kt_en_lexicon *L, const char *w, size_t n, const char *tag, int stress,
                      const en_ctx *ctx)
{
    int hit;
    char *ps = special(L, w, n, tag, stress, ctx, &hit);
    char low[72], buf[72];
    if (hit)
        return ps;
    if (n >= sizeof low)
        return NULL;
    for (size_t i = 0; i < n; i++)
        low[i] = is_up(w[i]) ? (char)(w[i] + 32) : w[i];
    int alpha = 1;
    for (size_t i = 0; i < n; i++)
        alpha &= w[i] == '\'' || is_up(w[i]) || is_lo(w[i]) || (unsigned char)w[i] >= 0x80;
    if (n > 1 && alpha && !all_lower(w, n) && (!tag_is(tag, "NNP") || n > 7) && !in_gold(L, w, n) &&
        !en_lex_silver(L, w, n) && (all_upper(w, n) || all_lower(w + 1, n - 1))) {
        char *t = NULL;
        int known = in_gold(L, low, n) || en_lex_silver(L, low, n);
        if (!known && ((t = stem_s(L, low, n, tag, stress, ctx)) || (t = stem_ed(L, low, n, tag, stress, ctx)) ||
                       (t = stem_ing(L, low, n, tag, stress, ctx))))
            known = 1;
        free(t);
        if (known)
            w = low;
    }
    if (is_known(L, w, n))
        return en_lookup(L, w, n, tag, stress, ctx);
    if (n > 2 && ends(w, n, "s'")) {
        memcpy(buf, w, n - 2);
        memcpy(buf + n - 2, "'s", 2);
        if (is_known(L, buf, n))
            return en_lookup(L, buf, n, tag, stress, ctx);
    }
    if (n > 1 && w[n - 1] == '\'' && is_known(L, w, n - 1))
        return en_lookup(L, w, n - 1, tag, stress, ctx);
    if ((ps = stem_s(L, w, n, tag, stress, ctx)) || (ps = stem_ed(L, w, n, tag, stress, ctx)))
        return ps;
    return stem_ing(L, w, n, tag, stress == EN_NO_STRESS ? 1 : stress, ctx);
}

static char *append_currency(const kt_en_lexicon *L, char *ps, char currency)
{
    const char *unit = currency == '$' ? "dollars" : currency == 'L' ? "pounds" : currency == 'E' ? "euros" : NULL;
    if (!ps || !unit)
        return ps;
    char *u = stem_s(L, unit, strlen(unit), NULL, EN_NO_STRESS, NULL);
    if (!u)
        return ps;
    ps = cat2(ps, " ");
    ps = cat2(ps, u);
    free(u);
    return ps;
}

char *en_word_token(const kt_en_lexicon *L, const en_tok *t, const en_ctx *ctx)
{
    const char *w = t->text;
    size_t n = strlen(w);
    int stress = all_lower(w, n) ? EN_NO_STRESS : all_upper(w, n) ? 4 : 1;
    char *ps = get_word(L, w, n, t->tag, stress, ctx);
    if (ps)
        return en_stress(append_currency(L, ps, t->currency), t->stress);
    if (en_is_number(w, n, t->is_head))
        return en_stress(en_number(L, w, n, t->currency, t->is_head), t->stress);
    return NULL;
}

char *en_word_plain(const kt_en_lexicon *L, const char *w)
{
    en_tok t = {0};
    en_ctx ctx = {-1, 0};
    t.text = (char *)w;
    t.stress = EN_NO_STRESS;
    t.is_head = 1;
    return en_word_token(L, &t, &ctx);
}

void en_final_map(char *s)
{
    char *q = s;
    for (const char *p = s; *p;) {
        if ((unsigned char)p[0] == 0xC9 && (unsigned char)p[1] == 0xBE) {
            *q++ = 'T';
            p += 2;
        } else if ((unsigned char)p[0] == 0xCA && (unsigned char)p[1] == 0x94) {
            *q++ = 't';
            p += 2;
        } else {
            *q++ = *p++;
        }
    }
    *q = '\0';
}

char *kt_en_word(const kt_en_lexicon *lex, const char *word)
{
    char *ps = en_word_plain(lex, word);
    if (ps)
        en_final_map(ps);
    return ps;
}

char *en_dupn(const char *s, size_t n)
{
    return dupn(s, n);
}
