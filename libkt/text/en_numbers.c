/* en_numbers.c - English number words (cardinals, ordinals, years) from digit strings. */
#include "en_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "en_word.h"

static const char *const ones[20] = {"zero",    "one",     "two",       "three",    "four",
                                     "five",    "six",     "seven",     "eight",    "nine",
                                     "ten",     "eleven",  "twelve",    "thirteen", "fourteen",
                                     "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"};
static const char *const tens[10] = {"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
                                     "ninety"};
static const char *const scales[] = {"", "thousand", "million", "billion", "trillion", "quadrillion",
                                     "quintillion"};

static void word(kt_strbuf *b, const char *w)
{
    if (b->len && b->data[b->len - 1] != ' ')
        kt_strbuf_puts(b, " ");
    kt_strbuf_puts(b, w);
}

/* 0 < v < 1000 */
static void below_1000(unsigned v, kt_strbuf *b)
{
    if (v >= 100) {
        word(b, ones[v / 100]);
        word(b, "hundred");
        v %= 100;
    }
    if (v >= 20) {
        word(b, tens[v / 10]);
        v %= 10;
    }
    if (v)
        word(b, ones[v]);
}

void en_num_cardinal(const char *d, size_t n, kt_strbuf *b)
{
    while (n > 1 && d[0] == '0')
        d++, n--;
    if (n > 21) { /* beyond the named scales: digit by digit */
        for (size_t i = 0; i < n; i++)
            word(b, ones[d[i] - '0']);
        return;
    }
    if (n == 1 && d[0] == '0') {
        word(b, "zero");
        return;
    }
    size_t groups = (n + 2) / 3, first = n - (groups - 1) * 3;
    for (size_t g = 0, pos = 0; g < groups; g++) {
        size_t len = g == 0 ? first : 3;
        unsigned v = 0;
        for (size_t i = 0; i < len; i++)
            v = v * 10 + (unsigned)(d[pos + i] - '0');
        pos += len;
        if (v) {
            below_1000(v, b);
            if (groups - 1 - g)
                word(b, scales[groups - 1 - g]);
        }
    }
}

/* Turns the last word of b into its ordinal. */
static void ordinalize(kt_strbuf *b)
{
    static const char *const irregular[][2] = {{"one", "first"},   {"two", "second"}, {"three", "third"},
                                               {"five", "fifth"},  {"eight", "eighth"}, {"nine", "ninth"},
                                               {"twelve", "twelfth"}};
    if (!b->len || b->failed)
        return;
    char *last = strrchr(b->data, ' ');
    last = last ? last + 1 : b->data;
    for (size_t i = 0; i < sizeof irregular / sizeof irregular[0]; i++)
        if (!strcmp(last, irregular[i][0])) {
            b->len = (size_t)(last - b->data);
            b->data[b->len] = '\0';
            kt_strbuf_puts(b, irregular[i][1]);
            return;
        }
    if (b->data[b->len - 1] == 'y') {
        b->data[--b->len] = '\0';
        kt_strbuf_puts(b, "ieth");
    } else {
        kt_strbuf_puts(b, "th");
    }
}

void en_num_ordinal(const char *d, size_t n, kt_strbuf *b)
{
    en_num_cardinal(d, n, b);
    ordinalize(b);
}

void en_num_year(const char *d, size_t n, kt_strbuf *b)
{
    unsigned v = 0;
    for (size_t i = 0; i < n && i < 4; i++)
        v = v * 10 + (unsigned)(d[i] - '0');
    unsigned high = v / 100, low = v % 100;
    if (n != 4 || high == 0 || (high % 10 == 0 && low < 10)) {
        en_num_cardinal(d, n, b);
        return;
    }
    below_1000(high, b);
    if (low == 0) {
        word(b, "hundred");
    } else {
        if (low < 10)
            word(b, "oh");
        below_1000(low, b);
    }
}

/* ---- numbers as phonemes --------------------------------------------------------------------- */

static int digits_only(const char *w, size_t n)
{
    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (w[i] < '0' || w[i] > '9')
            return 0;
    return 1;
}

int en_is_number(const char *w, size_t n, int is_head)
{
    static const char *const suffixes[] = {"ing", "'d", "ed", "'s", "st", "nd", "rd", "th", "s"};
    int digit = 0;
    for (size_t i = 0; i < n; i++)
        digit |= w[i] >= '0' && w[i] <= '9';
    if (!digit)
        return 0;
    for (size_t k = 0; k < sizeof suffixes / sizeof suffixes[0]; k++) {
        size_t l = strlen(suffixes[k]);
        if (n >= l && !memcmp(w + n - l, suffixes[k], l)) {
            n -= l;
            break;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (!(w[i] >= '0' && w[i] <= '9') && w[i] != ',' && w[i] != '.' && !(is_head && i == 0 && w[i] == '-'))
            return 0;
    return 1;
}

typedef struct {
    const kt_en_lexicon *L;
    kt_strbuf out;
} numout;

/* Appends the phonemes of each word of text (letters only; "and" skipped). */
static void say_words(numout *o, const char *text)
{
    const char *p = text;
    while (*p) {
        while (*p && !(*p >= 'a' && *p <= 'z'))
            p++;
        const char *s = p;
        while (*p >= 'a' && *p <= 'z')
            p++;
        size_t n = (size_t)(p - s);
        if (!n || (n == 3 && !memcmp(s, "and", 3)))
            continue;
        int point = n == 5 && !memcmp(s, "point", 5);
        char *ps = en_lookup(o->L, s, n, NULL, point ? -4 : EN_NO_STRESS, NULL);
        if (!ps) {
            o->out.failed = 1;
            continue;
        }
        if (o->out.len)
            kt_strbuf_puts(&o->out, " ");
        kt_strbuf_puts(&o->out, ps);
        free(ps);
    }
}

static void say_lookup(numout *o, const char *w, int stress)
{
    char *ps = en_lookup(o->L, w, strlen(w), NULL, stress, NULL);
    if (!ps) {
        o->out.failed = 1;
        return;
    }
    if (o->out.len)
        kt_strbuf_puts(&o->out, " ");
    kt_strbuf_puts(&o->out, ps);
    free(ps);
}

static void say_cardinal(numout *o, const char *d, size_t n)
{
    kt_strbuf b = {0};
    en_num_cardinal(d, n, &b);
    if (b.data)
        say_words(o, b.data);
    kt_strbuf_free(&b);
}

static void say_digits(numout *o, const char *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (d[i] >= '0' && d[i] <= '9')
            say_words(o, ones[d[i] - '0']);
}

static void say_float(numout *o, const char *d, size_t n)
{
    const char *dot = memchr(d, '.', n);
    size_t ni = dot ? (size_t)(dot - d) : n, nf = dot ? n - ni - 1 : 0;
    if (ni == 0)
        say_words(o, "zero");
    else
        say_cardinal(o, d, ni);
    while (nf && dot[nf] == '0')
        nf--;
    if (nf) {
        say_words(o, "point");
        say_digits(o, dot + 1, nf);
    }
}

/* a digit string read in a group (not at its head): 0xx and long ones digit by digit, 3 digits as "x oh y" */
static void say_tail_digits(numout *o, const char *d, size_t n)
{
    if (d[0] == '0' || n > 3) {
        say_digits(o, d, n);
    } else if (n == 3 && !(d[1] == '0' && d[2] == '0')) {
        say_digits(o, d, 1);
        if (d[1] == '0') {
            char *ps = en_lookup(o->L, "O", 1, NULL, -4, NULL);
            if (ps) {
                kt_strbuf_puts(&o->out, " ");
                kt_strbuf_puts(&o->out, ps);
            }
            free(ps);
            say_digits(o, d + 2, 1);
        } else {
            say_cardinal(o, d + 1, 2);
        }
    } else {
        say_cardinal(o, d, n);
    }
}

static void say_money(numout *o, const char *d, size_t n, char currency)
{
    const char *units[2] = {currency == '$' ? "dollar" : currency == 'L' ? "pound" : "euro",
                            currency == 'L' ? "pence" : "cent"};
    const char *dot = memchr(d, '.', n);
    size_t len[2] = {dot ? (size_t)(dot - d) : n, dot ? n - (size_t)(dot - d) - 1 : 0};
    const char *part[2] = {d, dot ? dot + 1 : NULL};
    int np = dot ? 2 : 1, zero[2];
    for (int i = 0; i < 2; i++) {
        zero[i] = 1;
        for (size_t k = 0; i < np && k < len[i]; k++)
            zero[i] &= part[i][k] == '0';
    }
    int from = 0, to = np;
    if (np == 2 && zero[1])
        to = 1;
    else if (np == 2 && zero[0])
        from = 1;
    for (int i = from; i < to; i++) {
        if (i > from)
            say_lookup(o, "and", EN_NO_STRESS);
        if (len[i])
            say_cardinal(o, part[i], len[i]);
        else
            say_words(o, "zero");
        int one = !zero[i] && len[i] && part[i][len[i] - 1] == '1';
        for (size_t k = 0; one && k + 1 < len[i]; k++)
            one = part[i][k] == '0';
        char *ps;
        if (!one && strcmp(units[i], "pence")) {
            ps = en_lookup(o->L, units[i], strlen(units[i]), NULL, EN_NO_STRESS, NULL);
            ps = en_suffix_s(ps, en_lex_british(o->L));
        } else {
            ps = en_lookup(o->L, units[i], strlen(units[i]), NULL, EN_NO_STRESS, NULL);
        }
        if (ps) {
            kt_strbuf_puts(&o->out, " ");
            kt_strbuf_puts(&o->out, ps);
        }
        free(ps);
    }
}

static int is_ordinal_suffix(const char *s, size_t n)
{
    return n == 2 && (!memcmp(s, "st", 2) || !memcmp(s, "nd", 2) || !memcmp(s, "rd", 2) || !memcmp(s, "th", 2));
}

/* A digit string with commas removed into buf (at most cap-1 bytes); its length. */
static size_t no_commas(const char *w, size_t n, char *buf, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        if (w[i] != ',')
            buf[k++] = w[i];
    buf[k] = '\0';
    return k;
}

static void say_dotted(numout *o, const char *w, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && w[j] != '.')
            j++;
        const char *p = w + i;
        size_t len = j - i;
        int nonzero_tail = 0;
        for (size_t k = 1; k < len; k++)
            nonzero_tail |= p[k] != '0';
        if (len && (p[0] == '0' || (len != 2 && nonzero_tail)))
            say_digits(o, p, len);
        else if (len)
            say_cardinal(o, p, len);
        i = j + 1;
    }
}

static void say_number(numout *o, const char *w, size_t n, char currency, int is_head, const char *suf, size_t ns)
{
    char buf[128];
    size_t dots = 0;
    for (size_t i = 0; i < n; i++)
        dots += w[i] == '.';
    if (n && w[0] == '-') {
        say_lookup(o, "minus", EN_NO_STRESS);
        w++, n--;
    }
    n = no_commas(w, n, buf, sizeof buf);
    if (!n)
        return;
    if (digits_only(buf, n) && is_ordinal_suffix(suf, ns)) {
        kt_strbuf b = {0};
        en_num_ordinal(buf, n, &b);
        if (b.data)
            say_words(o, b.data);
        kt_strbuf_free(&b);
    } else if (!o->out.len && n == 4 && !currency && digits_only(w, n)) {
        kt_strbuf b = {0};
        en_num_year(buf, n, &b);
        if (b.data)
            say_words(o, b.data);
        kt_strbuf_free(&b);
    } else if (!is_head && !dots) {
        say_tail_digits(o, buf, n);
    } else if (dots > 1 || !is_head) {
        say_dotted(o, buf, n);
    } else if (currency && (!dots || n - (size_t)((char *)memchr(buf, '.', n) - buf) - 1 < 3)) {
        say_money(o, buf, n, currency);
    } else if (!dots) {
        say_cardinal(o, buf, n);
    } else if (buf[0] == '.') {
        say_words(o, "point");
        say_digits(o, buf + 1, n - 1);
    } else {
        say_float(o, buf, n);
    }
}

char *en_number(const kt_en_lexicon *L, const char *w, size_t n, char currency, int is_head)
{
    numout o = {L, {0}};
    size_t ns = 0;
    while (ns < n && ((w[n - 1 - ns] >= 'a' && w[n - 1 - ns] <= 'z') || w[n - 1 - ns] == '\''))
        ns++;
    const char *suf = w + n - ns;
    if (n - ns > 100) { /* too long to be read as a quantity */
        say_digits(&o, w, n - ns);
    } else {
        say_number(&o, w, n - ns, currency, is_head, suf, ns);
    }
    if (o.out.failed || !o.out.data) {
        kt_strbuf_free(&o.out);
        return NULL;
    }
    char *ps = o.out.data;
    int br = en_lex_british(L);
    if ((ns == 1 && suf[0] == 's') || (ns == 2 && !memcmp(suf, "'s", 2)))
        return en_suffix_s(ps, br);
    if (ns == 2 && (!memcmp(suf, "ed", 2) || !memcmp(suf, "'d", 2)))
        return en_suffix_ed(ps, br);
    if (ns == 3 && !memcmp(suf, "ing", 3))
        return en_suffix_ing(ps, br);
    return ps;
}
