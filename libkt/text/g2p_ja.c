/* g2p_ja.c - Japanese text to Kokoro phonemes (MeCab + UniDic readings, misaki's kana table).
 * See kt/g2p_ja.h. */
#include "kt/g2p_ja.h"

#include <mecab.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kt/strbuf.h"

#include "g2p_table.h"
#include "g2p_ja_kana.inc"

/* ---- UTF-8 ------------------------------------------------------------------------------------ */

static uint32_t u8at(const char *s, size_t *len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t k = g2p_u8len(u[0]);
    for (size_t i = 1; i < k; i++)
        if ((u[i] & 0xC0) != 0x80)
            k = 1;
    uint32_t c = k == 1 ? u[0] : k == 2 ? u[0] & 0x1F : k == 3 ? u[0] & 0x0F : u[0] & 0x07;
    for (size_t i = 1; i < k; i++)
        c = (c << 6) | (u[i] & 0x3F);
    *len = k;
    return c;
}

static void put_cp(kt_strbuf *b, uint32_t c)
{
    char o[4];
    size_t n;
    if (c < 0x80) { o[0] = (char)c; n = 1; }
    else if (c < 0x800) { o[0] = (char)(0xC0 | (c >> 6)); o[1] = (char)(0x80 | (c & 0x3F)); n = 2; }
    else if (c < 0x10000) {
        o[0] = (char)(0xE0 | (c >> 12)); o[1] = (char)(0x80 | ((c >> 6) & 0x3F)); o[2] = (char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        o[0] = (char)(0xF0 | (c >> 18)); o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((c >> 6) & 0x3F)); o[3] = (char)(0x80 | (c & 0x3F));
        n = 4;
    }
    kt_strbuf_append(b, o, n);
}

/* ---- built-in tables -------------------------------------------------------------------------- */

typedef struct {
    ztable kana;  /* kana (one or two) or punctuation -> phonemes */
    ztable words; /* misaki's word list */
    int failed;
} ja_data;

static ja_data ja_tables;
static pthread_once_t ja_once = PTHREAD_ONCE_INIT;

static int load_lines(ztable *t, const char *s, int with_values)
{
    while (*s) {
        const char *nl = strchr(s, '\n'), *tab = with_values ? memchr(s, '\t', (size_t)(nl - s)) : nl;
        zentry *e = zput(t, s, (size_t)(tab - s));
        if (!e)
            return -1;
        e = zfind(t, s, (size_t)(tab - s));
        e->v = with_values ? tab + 1 : s;
        e->vn = with_values ? (uint32_t)(nl - tab - 1) : 0;
        s = nl + 1;
    }
    return 0;
}

static void ja_init(void)
{
    ja_tables.failed = load_lines(&ja_tables.kana, ja_kana_table, 1) || load_lines(&ja_tables.words, ja_words, 0);
}

/* The kana table's phonemes for key k[0..n), or NULL. */
static const zentry *kana(const char *k, size_t n) { return n ? zfind(&ja_tables.kana, k, n) : NULL; }

/* ---- normalization and numbers ---------------------------------------------------------------- */

static const char *const num_kana[10] = {"ゼロ", "いち", "に", "さん", "よん", "ご", "ろく", "なな", "はち", "きゅう"};

static void one(kt_strbuf *b, char d) { kt_strbuf_puts(b, num_kana[d - '0']); }

static void two(kt_strbuf *b, const char *s)
{
    if (s[0] == '0') {
        one(b, s[1]);
        return;
    }
    if (s[0] != '1')
        one(b, s[0]);
    kt_strbuf_puts(b, "じゅう");
    if (s[1] != '0')
        one(b, s[1]);
}

static void three(kt_strbuf *b, const char *s)
{
    static const char *const hundreds[10] = {NULL, "ひゃく", NULL, "さんびゃく", NULL, NULL, "ろっぴゃく", NULL, "はっぴゃく", NULL};
    if (hundreds[s[0] - '0']) {
        kt_strbuf_puts(b, hundreds[s[0] - '0']);
    } else {
        one(b, s[0]);
        kt_strbuf_puts(b, "ひゃく");
    }
    if (!strncmp(s + 1, "00", 2))
        return;
    if (s[1] == '0')
        one(b, s[2]);
    else
        two(b, s + 1);
}

/* Four digits (leading zeros skipped); stand_alone: a lone 1000 is せん, else いっせん. */
static void four(kt_strbuf *b, const char *s, int stand_alone)
{
    size_t n = 4;
    if (!strncmp(s, "0000", 4))
        return;
    while (s[0] == '0')
        s++, n--;
    if (n == 1) { one(b, s[0]); return; }
    if (n == 2) { two(b, s); return; }
    if (n == 3) { three(b, s); return; }
    if (s[0] == '1')
        kt_strbuf_puts(b, stand_alone ? "せん" : "いっせん");
    else if (s[0] == '3')
        kt_strbuf_puts(b, "さんぜん");
    else if (s[0] == '8')
        kt_strbuf_puts(b, "はっせん");
    else {
        one(b, s[0]);
        kt_strbuf_puts(b, "せん");
    }
    if (!strncmp(s + 1, "000", 3))
        return;
    if (s[1] == '0')
        two(b, s + 2);
    else
        three(b, s + 1);
}

/* An integer of up to 9 digits in hiragana (misaki's num2kana); longer ones are not read. */
static void number_kana(kt_strbuf *b, const char *s, size_t n)
{
    char d[16];
    while (n > 1 && s[0] == '0')
        s++, n--;
    if (n > 9)
        return;
    memcpy(d, s, n);
    d[n] = '\0';
    if (n == 1) { one(b, d[0]); return; }
    if (n == 2) { two(b, d); return; }
    if (n == 3) { three(b, d); return; }
    if (n == 4) { four(b, d, 1); return; }
    size_t h = n - 4;
    if (h == 1)
        one(b, d[0]);
    else if (h == 2)
        two(b, d);
    else if (h == 3)
        three(b, d);
    else if (h == 4)
        four(b, d, 0);
    if (h == 5) {
        one(b, d[0]);
        kt_strbuf_puts(b, "おく");
        four(b, d + 1, 0);
        if (strncmp(d + 1, "0000", 4))
            kt_strbuf_puts(b, "まん");
    } else {
        kt_strbuf_puts(b, "まん");
    }
    four(b, d + h, 0);
}

static int is_digit_cp(uint32_t c) { return (c >= '0' && c <= '9') || (c >= 0xFF10 && c <= 0xFF19); }

/* 〜 before a digit -> から, small katakana extensions -> katakana, full-width ASCII -> ASCII,
 * ideographic space -> space, … -> ... (as NFKC does), then each run of digits -> " " + its kana reading. */
static char *normalize(const char *text)
{
    static const char ext[] = "クシストヌハヒフヘホムラリルレロ"; /* for U+31F0..U+31FF */
    kt_strbuf a = {0}, b = {0};
    for (const char *p = text; *p;) {
        size_t k, k2;
        uint32_t c = u8at(p, &k);
        if ((c == 0x301C || c == 0xFF5E) && p[k] && is_digit_cp(u8at(p + k, &k2)))
            kt_strbuf_puts(&a, "から");
        else if (c >= 0x31F0 && c <= 0x31FF)
            kt_strbuf_append(&a, ext + 3 * (c - 0x31F0), 3);
        else if (c >= 0xFF01 && c <= 0xFF5E)
            put_cp(&a, c - 0xFEE0);
        else if (c == 0x3000)
            put_cp(&a, ' ');
        else if (c == 0x2026)
            kt_strbuf_puts(&a, "...");
        else
            kt_strbuf_append(&a, p, k);
        p += k;
    }
    for (const char *p = a.data ? a.data : ""; *p;) {
        size_t n = 0;
        while (p[n] >= '0' && p[n] <= '9')
            n++;
        if (n) {
            kt_strbuf_puts(&b, " ");
            number_kana(&b, p, n);
            p += n;
        } else {
            kt_strbuf_append(&b, p++, 1);
        }
    }
    kt_strbuf_free(&a);
    if (kt_strbuf_failed(&b)) {
        kt_strbuf_free(&b);
        return NULL;
    }
    return b.data ? b.data : calloc(1, 1);
}

/* ---- words from MeCab ------------------------------------------------------------------------- */

typedef struct {
    kt_strbuf surface, hira;
    int char_type; /* 6 for a dictionary word (or unknown katakana), else MeCab's character class */
} jword;

typedef struct {
    jword *w;
    size_t n, cap;
} jwords;

static void jwords_free(jwords *ws)
{
    for (size_t i = 0; i < ws->n; i++) {
        kt_strbuf_free(&ws->w[i].surface);
        kt_strbuf_free(&ws->w[i].hira);
    }
    free(ws->w);
    memset(ws, 0, sizeof *ws);
}

static jword *jwords_add(jwords *ws)
{
    if (ws->n == ws->cap) {
        size_t cap = ws->cap ? ws->cap * 2 : 32;
        jword *w = realloc(ws->w, cap * sizeof *w);
        if (!w)
            return NULL;
        ws->w = w;
        ws->cap = cap;
    }
    memset(&ws->w[ws->n], 0, sizeof ws->w[0]);
    return &ws->w[ws->n++];
}

/* Field idx of a MeCab CSV feature into out (quotes removed); 0 when absent or "*". */
static int csv_field(const char *f, int idx, kt_strbuf *out)
{
    for (int i = 0; *f || i <= idx; i++) {
        kt_strbuf v = {0};
        int quoted = *f == '"';
        if (quoted)
            f++;
        while (*f && (quoted ? !(f[0] == '"' && f[1] != '"') : *f != ',')) {
            if (quoted && f[0] == '"')
                f++;
            kt_strbuf_append(&v, f++, 1);
        }
        if (quoted && *f == '"')
            f++;
        if (i == idx) {
            int ok = !(v.len == 1 && v.data[0] == '*');
            if (ok && v.len)
                kt_strbuf_append(out, v.data, v.len);
            kt_strbuf_free(&v);
            return ok;
        }
        kt_strbuf_free(&v);
        if (*f != ',')
            return 0;
        f++;
    }
    return 0;
}

/* Katakana (ァ..ヶ, ヽヾ) to hiragana. */
static void kata2hira(kt_strbuf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k;
        uint32_t c = u8at(s + i, &k);
        if (k > n - i)
            k = n - i;
        if (c >= 0x30A1 && c <= 0x30F6)
            put_cp(out, c - 0x60);
        else if (c == 0x30FD || c == 0x30FE)
            put_cp(out, c - 0x30FD + 0x309D);
        else
            kt_strbuf_append(out, s + i, k);
        i += k;
    }
}

/* UniDic fields: 9 pronunciation, 20 kana. */
static int add_node(jwords *ws, const mecab_node_t *nd)
{
    jword *w = jwords_add(ws);
    kt_strbuf r = {0};
    if (!w)
        return -1;
    kt_strbuf_append(&w->surface, nd->surface, nd->length);
    if (!(csv_field(nd->feature, 9, &r) && r.len) && !(csv_field(nd->feature, 20, &r) && r.len))
        kt_strbuf_append(&r, nd->surface, nd->length);
    kata2hira(&w->hira, r.data ? r.data : "", r.len);
    kt_strbuf_free(&r);
    w->char_type = nd->char_type == 7 || nd->stat != MECAB_UNK_NODE ? 6 : nd->char_type;
    return kt_strbuf_failed(&w->surface) || kt_strbuf_failed(&w->hira) ? -1 : 0;
}

static const char *dict_dir(void)
{
    const char *d = getenv("KT_MECAB_DICDIR");
    return d && *d ? d : "/var/lib/mecab/dic/unidic";
}

static kt_status analyze(const char *text, jwords *ws, kt_error *err)
{
    char arg[600], sys[600];
    snprintf(sys, sizeof sys, "%.500s/sys.dic", dict_dir());
    if (access(sys, R_OK))
        return kt_error_set(err, KT_EUNSUPPORTED,
                            "Japanese needs MeCab's UniDic dictionary (%s): install the Debian package "
                            "unidic-mecab or set KT_MECAB_DICDIR",
                            sys);
    snprintf(arg, sizeof arg, "-d %.500s", dict_dir());
    mecab_t *m = mecab_new2(arg);
    if (!m)
        return kt_error_set(err, KT_EUNSUPPORTED, "MeCab cannot open %s: %s", dict_dir(), mecab_strerror(NULL));
    kt_status st = KT_OK;
    const mecab_node_t *nd = mecab_sparse_tonode(m, text);
    for (; nd && !st; nd = nd->next)
        if (nd->stat != MECAB_BOS_NODE && nd->stat != MECAB_EOS_NODE && add_node(ws, nd))
            st = kt_error_set(err, KT_ENOMEM, "out of memory");
    mecab_destroy(m);
    return st;
}

/* ---- kana to phonemes ------------------------------------------------------------------------- */

/* 1 if s[0..n) occurs in set (n > 0). Sets hold whole UTF-8 characters, so a match is one. */
static int in_set(const char *set, const char *s, size_t n)
{
    size_t m = strlen(set);
    for (size_t i = 0; n && i + n <= m; i++)
        if (!memcmp(set + i, s, n))
            return 1;
    return 0;
}

/* The dakuten form of a kana (か -> が), or NULL. */
static const char *dakuten(const char *k, size_t n)
{
    static const char plain[] = "かきくけこさしすせそたちつてとはひふへほ";
    static const char voiced[] = "がぎぐげござじずぜぞだぢづでどばびぶべぼ";
    for (size_t i = 0; n == 3 && i + 3 < sizeof plain; i += 3)
        if (!memcmp(plain + i, k, 3))
            return voiced + i;
    return NULL;
}

static void put_entry(kt_strbuf *b, const zentry *e)
{
    if (e)
        kt_strbuf_append(b, e->v, e->vn);
}

/* The phonemes of kana kk (kn bytes) between pk and nk (NULL at the ends). */
static void kana_mapping(kt_strbuf *b, const char *pk, size_t pn, const char *kk, size_t kn, const char *nk,
                         size_t nn)
{
    char pair[16];
    if (in_set("〃々ゝゞヽ", kk, kn)) {
        if (in_set("ゝヽ", kk, kn) && pk)
            kt_strbuf_append(b, pk, pn);
        else if (!strncmp(kk, "ゞ", kn) && pk && dakuten(pk, pn))
            put_entry(b, kana(dakuten(pk, pn), 3));
        return;
    }
    if (pk && pn + kn < sizeof pair) {
        memcpy(pair, pk, pn);
        memcpy(pair + pn, kk, kn);
        if (kana(pair, pn + kn)) {
            put_entry(b, kana(pair, pn + kn));
            return;
        }
    }
    if (nk && kn + nn < sizeof pair) {
        memcpy(pair, kk, kn);
        memcpy(pair + kn, nk, nn);
        if (kana(pair, kn + nn))
            return;
    }
    int small_next = nk && in_set("ゃゅょぁぃぅぇぉ", nk, nn);
    if (small_next) {
        const zentry *e = kana(kk, kn);
        if (!strncmp(kk, "っ", kn) || !e || !e->vn)
            return;
        size_t cut = e->vn - 1; /* all but the last code point */
        while (cut > 0 && ((unsigned char)e->v[cut] & 0xC0) == 0x80)
            cut--;
        kt_strbuf_append(b, e->v, cut);
        put_entry(b, kana(nk, nn));
        return;
    }
    if (in_set("ゃゅょぁぃぅぇぉ", kk, kn))
        return;
    if (!strncmp(kk, "ー", kn) && kn == 3) {
        kt_strbuf_puts(b, "ː");
        return;
    }
    if (!strncmp(kk, "っ", kn) && kn == 3) {
        kt_strbuf_puts(b, "ʔ");
        return;
    }
    if (!strncmp(kk, "ん", kn) && kn == 3) {
        const zentry *t = nk ? kana(nk, nn) : NULL;
        const char *v = t && t->vn ? t->v : NULL;
        if (v && strchr("mpb", v[0]))
            kt_strbuf_puts(b, "m");
        else if (v && (v[0] == 'k' || !strncmp(v, "ɡ", 2)))
            kt_strbuf_puts(b, "ŋ");
        else if (v && (!strncmp(v, "ɲ", 2) || !strncmp(v, "ʨ", 2) || !strncmp(v, "ʥ", 2)))
            kt_strbuf_puts(b, "ɲ");
        else if (v && (strchr("ntdz", v[0]) || !strncmp(v, "ɾ", 2)))
            kt_strbuf_puts(b, "n");
        else
            kt_strbuf_puts(b, "ɴ");
        return;
    }
    put_entry(b, kana(kk, kn));
}

static int is_ascii(const kt_strbuf *s)
{
    for (size_t i = 0; i < s->len; i++)
        if ((unsigned char)s->data[i] >= 0x80)
            return 0;
    return 1;
}

/* The phonemes of one word: ASCII as it is (letters and digits dropped), symbols through the
 * table, dictionary words by their kana, anything else nothing. */
static void word_phonemes(const jword *w, kt_strbuf *b, kt_strbuf *dropped)
{
    const char *s = w->surface.data ? w->surface.data : "";
    if (is_ascii(&w->surface)) {
        for (size_t i = 0; i < w->surface.len; i++) {
            char c = s[i];
            int alnum = ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9');
            kt_strbuf_append(alnum ? dropped : b, &s[i], 1);
        }
        return;
    }
    if (w->char_type == 3) {
        for (size_t i = 0, k; i < w->surface.len; i += k) {
            u8at(s + i, &k);
            const zentry *e = kana(s + i, k);
            if (e)
                put_entry(b, e);
            else
                kt_strbuf_append(b, s + i, k);
        }
        return;
    }
    if (w->char_type != 6)
        return;
    const char *h = w->hira.data ? w->hira.data : "";
    size_t n = w->hira.len, pk = 0, pn = 0;
    for (size_t i = 0, k; i < n; i += k) {
        size_t nn = 0;
        u8at(h + i, &k);
        if (i + k < n)
            u8at(h + i + k, &nn);
        kana_mapping(b, pn ? h + pk : NULL, pn, h + i, k, nn ? h + i + k : NULL, nn);
        pk = i;
        pn = k;
    }
}

/* Joins runs of words of one character class that form an entry of the word list (longest first). */
static int group_words(const jwords *in, jwords *out)
{
    for (size_t i = 0; i < in->n;) {
        size_t z = i + 1, j = 0;
        while (z < in->n && in->w[z].char_type == in->w[i].char_type)
            z++;
        for (size_t e = z; e > i && !j; e--) {
            kt_strbuf s = {0};
            for (size_t k = i; k < e; k++)
                kt_strbuf_append(&s, in->w[k].surface.data, in->w[k].surface.len);
            if (s.len && zfind(&ja_tables.words, s.data, s.len))
                j = e;
            kt_strbuf_free(&s);
        }
        if (!j)
            j = i + 1;
        jword *g = jwords_add(out);
        if (!g)
            return -1;
        g->char_type = in->w[i].char_type;
        for (size_t k = i; k < j; k++) {
            kt_strbuf_append(&g->surface, in->w[k].surface.data, in->w[k].surface.len);
            kt_strbuf_append(&g->hira, in->w[k].hira.data, in->w[k].hira.len);
        }
        i = j;
    }
    return 0;
}

/* 1 if s (n bytes) occurs in set as a substring (an empty s always does). */
static int part_of(const char *set, const char *s, size_t n) { return !n || in_set(set, s, n); }

typedef struct {
    kt_strbuf text;
    int space;
} jtok;

/* Tokens with misaki's spacing: a space after each word, none before closing punctuation. */
static void spaced_tokens(const jwords *ws, jtok *t, kt_strbuf *dropped)
{
    for (size_t i = 0; i < ws->n; i++) {
        const kt_strbuf *sf = &ws->w[i].surface;
        word_phonemes(&ws->w[i], &t[i].text, dropped);
        const char *r = t[i].text.data ? t[i].text.data : "";
        size_t rn = t[i].text.len;
        if (part_of("「『«", sf->data, sf->len) || part_of("([", r, rn)) {
            if (i)
                t[i - 1].space = 1;
        } else if (part_of("」』»", sf->data, sf->len) || part_of("]).,?!:", r, rn)) {
            if (i)
                t[i - 1].space = 0;
            t[i].space = 1;
        } else {
            t[i].space = !(rn == 1 && r[0] == ' ');
        }
    }
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* Joins the tokens (っ removed), collapses spaces, ( ) -> « », and drops a space before ʔ (unless
 * after punctuation) and after ʔ (unless before an opening quote). */
static void join_tokens(const jtok *t, size_t n, kt_strbuf *out)
{
    kt_strbuf a = {0}, b = {0};
    for (size_t i = 0; i < n; i++) {
        const char *s = t[i].text.data ? t[i].text.data : "";
        for (size_t k = 0; k < t[i].text.len; k++) {
            if (!strncmp(s + k, "っ", 3) && k + 3 <= t[i].text.len)
                k += 2;
            else
                kt_strbuf_append(&a, s + k, 1);
        }
        if (t[i].space)
            kt_strbuf_puts(&a, " ");
    }
    const char *s = a.data ? a.data : "";
    size_t x = 0, y = a.len;
    while (x < y && is_ws(s[x]))
        x++;
    while (y > x && is_ws(s[y - 1]))
        y--;
    for (size_t i = x; i < y; i++) {
        if (is_ws(s[i])) {
            if (!b.len || b.data[b.len - 1] != ' ')
                kt_strbuf_puts(&b, " ");
        } else if (s[i] == '(' || s[i] == ')') {
            kt_strbuf_puts(&b, s[i] == '(' ? "«" : "»");
        } else {
            kt_strbuf_append(&b, s + i, 1);
        }
    }
    const char *c = b.data ? b.data : "";
    for (size_t i = 0; i < b.len; i++) {
        if (c[i] == ' ') {
            size_t k;
            int next_glottal = i + 1 < b.len && !strncmp(c + i + 1, "ʔ", 2);
            int prev_glottal = i >= 2 && !strncmp(c + i - 2, "ʔ", 2);
            int prev_punct = 0, next_open = 0;
            if (i > 0) {
                size_t p = i - 1;
                while (p > 0 && ((unsigned char)c[p] & 0xC0) == 0x80)
                    p--;
                u8at(c + p, &k);
                prev_punct = in_set("!\",.:;?»—…”", c + p, k);
            }
            if (i + 1 < b.len) {
                u8at(c + i + 1, &k);
                next_open = in_set("\"«“", c + i + 1, k);
            }
            if ((!prev_punct && next_glottal) || (prev_glottal && !next_open))
                continue;
        }
        kt_strbuf_append(out, c + i, 1);
    }
    kt_strbuf_free(&a);
    kt_strbuf_free(&b);
}

static kt_status read_words(const jwords *ws, kt_strbuf *out, kt_strbuf *dropped)
{
    jwords g = {0};
    jtok *t = NULL;
    kt_status st = KT_ENOMEM;
    if (group_words(ws, &g) == 0 && (t = calloc(g.n + 1, sizeof *t)) != NULL) {
        spaced_tokens(&g, t, dropped);
        join_tokens(t, g.n, out);
        st = KT_OK;
    }
    for (size_t i = 0; t && i < g.n; i++)
        kt_strbuf_free(&t[i].text);
    free(t);
    jwords_free(&g);
    return st;
}

kt_status kt_g2p_ja(const char *text, char **out, char **dropped, kt_error *err)
{
    jwords ws = {0};
    kt_strbuf o = {0}, dr = {0};
    char *norm = NULL;
    kt_status st;
    *out = NULL;
    *dropped = NULL;
    pthread_once(&ja_once, ja_init);
    if (ja_tables.failed)
        return kt_error_set(err, KT_ENOMEM, "out of memory loading the Japanese tables");
    if (!(norm = normalize(text))) {
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
        goto fail;
    }
    if ((st = analyze(norm, &ws, err)) != KT_OK)
        goto fail;
    if ((st = read_words(&ws, &o, &dr)) != KT_OK || kt_strbuf_failed(&o) || kt_strbuf_failed(&dr)) {
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
        goto fail;
    }
    *out = o.data ? o.data : strdup("");
    *dropped = dr.data;
    free(norm);
    jwords_free(&ws);
    if (!*out) {
        free(*dropped);
        *dropped = NULL;
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    }
    return KT_OK;
fail:
    free(norm);
    jwords_free(&ws);
    kt_strbuf_free(&o);
    kt_strbuf_free(&dr);
    return st;
}
