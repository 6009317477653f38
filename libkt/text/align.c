/* align.c - written words matched to phoneme words by a banded dynamic programme. See kt/align.h. */
#include "kt/align.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kt/g2p.h"
#include "kt/grow.h"

#define BAND 64                /* columns either side of the diagonal the programme looks at */
#define MAX_UNITS 100000       /* beyond this on either side: proportional matching */
#define SKIP_COST 2.0          /* a written unit that was not spoken, or a phoneme word without one */

/* Decodes one code point of s[0..n); returns its length, or 0 when invalid. */
static size_t next_cp(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len = s[0] < 0x80 ? 1 : (s[0] >> 5) == 6 ? 2 : (s[0] >> 4) == 14 ? 3 : (s[0] >> 3) == 30 ? 4 : 0;
    if (!len || len > n)
        return 0;
    uint32_t c = len == 1 ? s[0] : s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3F);
    }
    if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
        (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

/* ---- phoneme words --------------------------------------------------------------------------- */

static int is_stress(uint32_t c) { return c == 0x2C8 || c == 0x2CC; }

static int is_tone(uint32_t c) { return c == 0x2192 || c == 0x2193 || c == 0x2197 || c == 0x2198; }

/* Vowels of Kokoro's alphabet (misaki's diphthong letters A I O W Y Q among them). */
static int is_vowel(uint32_t c)
{
    static const uint32_t v[] = {'a', 'e', 'i', 'o', 'u', 'y', 'A', 'I', 'O', 'W', 'Y', 'Q', 0xE6, 0xF8, 0x153,
                                 0x250, 0x251, 0x252, 0x254, 0x258, 0x259, 0x25A, 0x25B, 0x25C, 0x25E, 0x264,
                                 0x268, 0x26A, 0x26F, 0x275, 0x276, 0x28A, 0x28C, 0x28F, 0x1D4A};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (v[i] == c)
            return 1;
    return 0;
}

static int push_pw(kt_phoneme_word **v, size_t *n, size_t *cap, kt_phoneme_word w)
{
    void *p = *v;
    if (kt_grow(&p, cap, *n + 1, sizeof w))
        return -1;
    *v = p;
    (*v)[(*n)++] = w;
    return 0;
}

kt_status kt_phoneme_words(const char *phonemes, kt_phoneme_word **words, size_t *n, kt_error *err)
{
    const unsigned char *s = (const unsigned char *)phonemes;
    size_t len = strlen(phonemes), cap = *n, cp = 0;
    kt_phoneme_word w = {0, 0, 0, 0, 0};
    int open = 0, in_vowel = 0;
    for (size_t i = 0; i <= len; cp++) {
        uint32_t c = ' ';
        size_t k = i < len ? next_cp(s + i, len - i, &c) : 1;
        if (!k)
            return kt_error_set(err, KT_EINVAL, "invalid UTF-8 in phonemes at byte %zu", i);
        int gap = c == ' ' || c == '\n' || c == '\t' || c == '\r';
        if (gap && open && push_pw(words, n, &cap, w))
            return kt_error_set(err, KT_ENOMEM, "out of memory");
        if (gap)
            open = 0;
        else if (is_tone(c) && open) { /* a tone arrow ends a syllable */
            w.tones++;
            in_vowel = 0;
        } else if (!kt_phoneme_is_punct(c)) {
            if (!open)
                w = (kt_phoneme_word){cp, cp, 0, 0, 0}, open = 1, in_vowel = 0;
            w.cp_end = cp + 1;
            w.weight += is_stress(c) ? 0 : 1;
            if (w.weight == 0)
                w.weight = 0.5;
            w.syllables += is_vowel(c) && !in_vowel;
            in_vowel = is_vowel(c) || (in_vowel && is_stress(c));
        }
        i += k;
    }
    return KT_OK;
}

/* ---- written units --------------------------------------------------------------------------- */

typedef struct {
    size_t b0, b1; /* bytes */
    double w;      /* estimated phoneme symbols; 0: punctuation only */
    int cjk;       /* 1 a Han or Hangul character, 2 kana: takes only punctuation after it */
    int numeric;   /* holds a digit or a symbol read as words: may become many phoneme words */
} unit;

typedef struct {
    unit *u;
    size_t n, cap;
} units;

static int is_space(uint32_t c)
{
    return c == ' ' || (c >= 9 && c <= 13) || c == 0xA0 || c == 0x3000 || (c >= 0x2000 && c <= 0x200B);
}

static int is_cjk(uint32_t c)
{
    return (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xF900 && c <= 0xFAFF) ||
           (c >= 0x20000 && c <= 0x2FFFF) || (c >= 0x3040 && c <= 0x30FA) || (c >= 0x31F0 && c <= 0x31FF) ||
           (c >= 0xFF66 && c <= 0xFF9D) || (c >= 0xAC00 && c <= 0xD7AF);
}

static int is_written_punct(uint32_t c)
{
    if (c < 0x80)
        return strchr("!\"'(),-.:;?[]{}`_*", (int)c) != NULL && c != 0;
    return c == 0xAB || c == 0xBB || c == 0xA1 || c == 0xBF || (c >= 0x2010 && c <= 0x2027) ||
           (c >= 0x3001 && c <= 0x3003) || (c >= 0x3008 && c <= 0x3011) || (c >= 0x3014 && c <= 0x301F) ||
           c == 0x30FB || c == 0xFF01 || c == 0xFF02 || c == 0xFF08 || c == 0xFF09 || c == 0xFF0C ||
           c == 0xFF0E || c == 0xFF1A || c == 0xFF1B || c == 0xFF1F || c == 0xFF62 || c == 0xFF63 || c == 0xFF64;
}

static int is_digit(uint32_t c) { return (c >= '0' && c <= '9') || (c >= 0xFF10 && c <= 0xFF19); }

/* $ % & @ # + = ...: ASCII that is neither a letter, a digit nor punctuation, read as words. */
static int is_symbol(uint32_t c)
{
    return c < 0x80 && !is_digit(c) && !((c | 0x20) >= 'a' && (c | 0x20) <= 'z') && !is_written_punct(c);
}

/* The phoneme symbols a written character is worth, roughly (only ratios matter). */
static double char_weight(uint32_t c, int phonemes)
{
    if (phonemes)
        return kt_phoneme_is_punct(c) ? 0 : is_stress(c) ? 0 : 1;
    if (is_written_punct(c))
        return 0;
    if (is_digit(c))
        return 4;
    if ((c >= 0x3040 && c <= 0x30FF) || (c >= 0xFF66 && c <= 0xFF9F))
        return 2;
    if (is_cjk(c))
        return 3.5;
    if (is_symbol(c))
        return 3;
    return 1;
}

static int units_push(units *v, unit u)
{
    void *p = v->u;
    if (kt_grow(&p, &v->cap, v->n + 1, sizeof u))
        return -1;
    v->u = p;
    v->u[v->n++] = u;
    return 0;
}

/* Cuts text into units (see the top of kt/align.h). Returns 0, -1 out of memory, -2 bad UTF-8. */
static int cut_units(const char *text, size_t len, int phonemes, units *v)
{
    const unsigned char *s = (const unsigned char *)text;
    unit cur = {0, 0, 0, 0, 0};
    int open = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t k = next_cp(s + i, len - i, &c);
        if (!k)
            return -2;
        double w = char_weight(c, phonemes);
        int cjk = phonemes || !is_cjk(c) ? 0 : (c >= 0x3040 && c <= 0x30FF) || c >= 0xFF66 ? 2 : 1, cont = c == 0x30FC; /* ー lengthens the kana before it */
        int space = phonemes ? (c == ' ' || (c >= 9 && c <= 13)) : is_space(c);
        int close = space || (open && cur.cjk && cur.w > 0 && w > 0 && !cont) || (open && cjk && cur.w > 0);
        if (close && open && units_push(v, cur))
            return -1;
        if (close)
            open = 0;
        if (!space) {
            if (!open)
                cur = (unit){i, i, 0, 0, 0}, open = 1;
            cur.b1 = i + k;
            cur.w += w;
            cur.cjk = cur.cjk ? cur.cjk : cjk;
            cur.numeric |= !phonemes && (is_digit(c) || is_symbol(c));
        }
        i += k;
    }
    if (open && units_push(v, cur))
        return -1;
    /* punctuation-only units join the unit before (or the first one after) */
    size_t o = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (v->u[i].w > 0)
            v->u[o++] = v->u[i];
        else if (o > 0)
            v->u[o - 1].b1 = v->u[i].b1;
        else if (i + 1 < v->n)
            v->u[i + 1].b0 = v->u[i].b0;
    }
    v->n = o;
    return 0;
}

/* ---- the programme --------------------------------------------------------------------------- */

typedef struct {
    unsigned char a, b;
} bead;

static size_t make_beads(bead *bd)
{
    size_t n = 0;
    bd[n++] = (bead){1, 1};
    bd[n++] = (bead){1, 0};
    bd[n++] = (bead){0, 1};
    for (unsigned char k = 2; k <= KT_ALIGN_MAX_GROUP; k++) {
        bd[n++] = (bead){1, k};
        bd[n++] = (bead){k, 1};
    }
    return n;
}

typedef struct {
    const units *su;
    const double *sw, *pw; /* prefix sums of the weights of units and phoneme words */
    const double *syl;     /* prefix sums of the phoneme words' syllables */
    double ratio;          /* phoneme symbols per unit of written weight */
    int tonal;             /* the phonemes carry tone arrows: a Han character is one syllable */
} costs;

static double bead_cost(const costs *c, bead b, size_t i, size_t j)
{
    if (!b.a || !b.b)
        return SKIP_COST;
    double ls = c->sw[i] - c->sw[i - b.a], lp = c->pw[j] - c->pw[j - b.b];
    double t = log((lp + 1) / (c->ratio * ls + 1)), extra = 0;
    int all_han = c->tonal;
    for (size_t k = i - b.a; all_han && k < i; k++)
        all_han = c->su->u[k].cjk == 1;
    if (all_han) /* Mandarin: a character is a syllable, so the counts must agree */
        return 2 * fabs((double)b.a - (c->syl[j] - c->syl[j - b.b])) + 0.05 * (b.a - 1) + 0.5 * (b.b - 1);
    if (b.b > 1) /* a number or symbol is read as several words more often than a word is */
        extra = c->su->u[i - 1].numeric ? 0.05 * (b.b - 1) : 0.5 + 0.25 * (b.b - 2);
    if (b.a > 1) {
        int all_cjk = 1, kana_han = 0; /* Japanese words rarely run from kana into kanji */
        for (size_t k = i - b.a; k < i; k++) {
            all_cjk &= c->su->u[k].cjk != 0;
            kana_han += k > i - b.a && c->su->u[k - 1].cjk == 2 && c->su->u[k].cjk == 1;
        }
        extra = all_cjk ? 0.1 * (b.a - 1) + 0.3 * kana_han : 2 + 0.5 * (b.a - 2);
    }
    return t * t + extra;
}

/* The band of row i: columns [*lo, *hi]. */
static void band(size_t i, size_t m, size_t n, size_t *lo, size_t *hi)
{
    size_t jc = (size_t)((double)i * (double)n / (double)m + 0.5);
    *lo = jc > BAND ? jc - BAND : 0;
    *hi = jc + BAND < n ? jc + BAND : n;
}

/* Fills path (m + n entries at most) with the beads of the best alignment, in reverse; returns
 * their count, 0 when no path was found, (size_t)-1 when out of memory. */
static size_t best_path(const costs *c, size_t m, size_t n, const bead *bd, size_t nb, bead *path)
{
    const size_t W = 2 * BAND + 1, R = KT_ALIGN_MAX_GROUP + 1;
    unsigned char *bp = malloc((m + 1) * W);
    double *dp = malloc(R * W * sizeof *dp);
    size_t np = 0;
    if (!bp || !dp) {
        free(bp), free(dp);
        return (size_t)-1;
    }
    for (size_t i = 0; i <= m; i++) {
        size_t lo, hi;
        band(i, m, n, &lo, &hi);
        double *row = dp + (i % R) * W;
        for (size_t j = lo; j <= hi; j++) {
            double best = i == 0 && j == 0 ? 0 : INFINITY;
            unsigned char arg = 0xFF;
            for (size_t k = 0; k < nb && (i || j); k++) {
                if (bd[k].a > i || bd[k].b > j || (size_t)bd[k].a > m)
                    continue;
                size_t pi = i - bd[k].a, pj = j - bd[k].b, plo, phi;
                band(pi, m, n, &plo, &phi);
                if (pj < plo || pj > phi)
                    continue;
                double v = dp[(pi % R) * W + (pj - plo)] + bead_cost(c, bd[k], i, j);
                if (v < best)
                    best = v, arg = (unsigned char)k;
            }
            row[j - lo] = best;
            bp[i * W + (j - lo)] = arg;
        }
    }
    for (size_t i = m, j = n; i || j;) {
        size_t lo, hi;
        band(i, m, n, &lo, &hi);
        unsigned char k = bp[i * W + (j - lo)];
        if (k == 0xFF) {
            np = 0;
            break;
        }
        path[np++] = bd[k];
        i -= bd[k].a, j -= bd[k].b;
    }
    free(bp), free(dp);
    return np;
}

/* Proportional matching for very long texts: unit i takes the phoneme words whose share of the
 * phoneme weight falls where its share of the written weight does. */
static size_t proportional_path(const costs *c, size_t m, size_t n, bead *path)
{
    size_t np = 0, j = 0;
    for (size_t i = 1; i <= m; i++) {
        size_t to = i == m ? n : j;
        while (to < n && c->pw[to + 1] / c->pw[n] <= c->sw[i] / c->sw[m] + 1e-12)
            to++;
        for (size_t k = 0; k < (to > j ? to - j - 1 : 0); k++)
            path[np++] = (bead){0, 1};
        path[np++] = (bead){1, (unsigned char)(to > j)};
        j = to;
    }
    for (size_t a = 0, b = np - 1; np && a < b; a++, b--) { /* reverse, as best_path leaves it */
        bead t = path[a];
        path[a] = path[b], path[b] = t;
    }
    return np;
}

/* Words from the path (reversed beads): a bead with written units is a word; a phoneme word
 * without one joins the word before, or the first word when none is before. */
static size_t path_words(const units *su, const bead *path, size_t np, kt_align_word *out)
{
    size_t i = 0, j = 0, nw = 0, pending = 0;
    for (size_t k = np; k-- > 0;) {
        bead b = path[k];
        if (!b.a && nw) {
            out[nw - 1].pw_count += b.b;
        } else if (!b.a) {
            pending += b.b;
        } else {
            out[nw++] = (kt_align_word){su->u[i].b0, su->u[i + b.a - 1].b1, j - pending, b.b + pending};
            pending = 0;
        }
        i += b.a, j += b.b;
    }
    return nw;
}

kt_status kt_align_words(const char *text, size_t len, const kt_phoneme_word *pws, size_t n_pw, int phonemes,
                         kt_align_word **out, size_t *n_out, kt_error *err)
{
    units su = {0};
    double *sw = NULL, *pw = NULL, *syl = NULL;
    int tonal = 0;
    bead *path = NULL, bd[3 + 2 * KT_ALIGN_MAX_GROUP];
    kt_status st = KT_OK;
    *out = NULL, *n_out = 0;
    int r = cut_units(text, len, phonemes, &su);
    if (r)
        st = r == -2 ? kt_error_set(err, KT_EINVAL, "invalid UTF-8 in the text") : kt_error_set(err, KT_ENOMEM, "out of memory");
    size_t m = su.n, n = n_pw, nb = make_beads(bd);
    if (st || m == 0)
        goto done;
    sw = calloc(m + 1, sizeof *sw), pw = calloc(n + 1, sizeof *pw), syl = calloc(n + 1, sizeof *syl);
    path = malloc((m + n) * sizeof *path);
    *out = malloc(m * sizeof **out);
    if (!sw || !pw || !syl || !path || !*out) {
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < m; i++)
        sw[i + 1] = sw[i] + su.u[i].w;
    for (size_t j = 0; j < n; j++) {
        pw[j + 1] = pw[j] + pws[j].weight;
        syl[j + 1] = syl[j] + (pws[j].syllables > pws[j].tones ? pws[j].syllables : pws[j].tones);
        tonal |= pws[j].tones > 0;
    }
    costs c = {&su, sw, pw, syl, n && sw[m] > 0 ? pw[n] / sw[m] : 1, tonal && !phonemes};
    size_t np = m > MAX_UNITS || n > MAX_UNITS ? 0 : best_path(&c, m, n, bd, nb, path);
    if (np == (size_t)-1) {
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
        goto done;
    }
    if (np == 0)
        np = proportional_path(&c, m, n, path);
    *n_out = path_words(&su, path, np, *out);
done:
    if (st) {
        free(*out);
        *out = NULL;
    }
    free(su.u), free(sw), free(pw), free(syl), free(path);
    return st;
}
