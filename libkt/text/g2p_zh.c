/* g2p_zh.c - Mandarin text to Kokoro phonemes (numerals, jieba's segmentation, pypinyin's
 * readings, pinyin to phonemes with tone arrows). See kt/g2p_zh.h. */
#include "kt/g2p_zh.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt/strbuf.h"

#include "g2p_table.h"

#include "g2p_zh_pinyin.inc"

/* ---- UTF-8 ------------------------------------------------------------------------------------ */

static size_t u8len(unsigned char c) { return g2p_u8len(c); }

/* The code point at s (n bytes left); *len gets its length. Invalid input reads as its byte. */
static uint32_t u8get(const char *s, size_t n, size_t *len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t k = u8len(u[0]);
    if (k > n)
        k = 1;
    uint32_t c = k == 1 ? u[0] : k == 2 ? u[0] & 0x1F : k == 3 ? u[0] & 0x0F : u[0] & 0x07;
    for (size_t i = 1; i < k; i++)
        c = (c << 6) | (u[i] & 0x3F);
    *len = k;
    return c;
}

static int is_han(uint32_t c) { return c >= 0x4E00 && c <= 0x9FFF; }

/* ---- resources -------------------------------------------------------------------------------- */

enum { HMM_B, HMM_E, HMM_M, HMM_S };
#define HMM_MIN_FLOAT (-3.14e100)

typedef struct {
    char *dict_text;       /* jieba's dict.txt, keys point into it */
    ztable freq;           /* jieba: word -> frequency, prefixes -> 0 */
    double log_total;      /* log of the sum of frequencies */
    double start[4], trans[4][4];
    double (*emit)[4];     /* [65536][4]: emission log-probabilities by BMP code point */
    ztable chars, phrases; /* pinyin of single characters; of phrases (with their prefixes) */
    kt_status status;
    char msg[512];
} zh_data;

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) != NULL) {
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
            *len = (size_t)n;
        }
    }
    fclose(f);
    return buf;
}

/* Loads "WORD FREQ TAG" lines (jieba's gen_pfdict): frequencies, every prefix as a 0 entry. */
static int load_dict(zh_data *d, char *text)
{
    double total = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n'), *sp = strchr(line, ' ');
        if (nl)
            *nl = '\0';
        if (sp && sp > line) {
            unsigned long f = strtoul(sp + 1, NULL, 10);
            zentry *e = zput(&d->freq, line, (size_t)(sp - line));
            if (!e || zput_prefixes(&d->freq, line, (size_t)(sp - line)))
                return -1;
            e = zfind(&d->freq, line, (size_t)(sp - line));
            e->vn = (uint32_t)f;
            total += (double)f;
        }
        line = nl ? nl + 1 : line + strlen(line);
    }
    d->log_total = log(total);
    return 0;
}

static int hmm_state(char c)
{
    return c == 'B' ? HMM_B : c == 'E' ? HMM_E : c == 'M' ? HMM_M : c == 'S' ? HMM_S : -1;
}

/* Reads jieba's finalseg tables (Python literals: 'B': num, 'B': {'E': num}, '\uXXXX': num).
 * kind 0: start, 1: transitions, 2: emissions. */
static void parse_probs(zh_data *d, const char *s, int kind)
{
    int outer = -1;
    for (const char *p = s; (p = strchr(p, '\'')) != NULL;) {
        const char *q = strchr(p + 1, '\'');
        if (!q)
            break;
        long key = -1;
        if (q - p == 2)
            key = hmm_state(p[1]);
        else if (q - p == 7 && p[1] == '\\' && p[2] == 'u')
            key = strtol(p + 3, NULL, 16);
        p = q + 1;
        while (*p == ' ' || *p == ':')
            p++;
        if (*p == '{') {
            outer = key >= 0 && key < 4 ? (int)key : -1;
            continue;
        }
        char *end;
        double v = strtod(p, &end);
        if (end == p || key < 0)
            continue;
        if (kind == 0 && key < 4)
            d->start[key] = v;
        else if (kind == 1 && outer >= 0 && key < 4)
            d->trans[outer][key] = v;
        else if (kind == 2 && outer >= 0 && key < 65536)
            d->emit[key][outer] = v;
        p = end;
    }
}

static int load_hmm(zh_data *d, const char *dir)
{
    static const char *const names[3] = {"prob_start.py", "prob_trans.py", "prob_emit.py"};
    char path[4096];
    if (!(d->emit = malloc(65536 * sizeof *d->emit)))
        return -1;
    for (size_t i = 0; i < 65536; i++)
        for (int s = 0; s < 4; s++)
            d->emit[i][s] = HMM_MIN_FLOAT;
    for (int s = 0; s < 4; s++) {
        d->start[s] = -INFINITY;
        for (int t = 0; t < 4; t++)
            d->trans[s][t] = -INFINITY;
    }
    for (int k = 0; k < 3; k++) {
        size_t len;
        snprintf(path, sizeof path, "%s/finalseg/%s", dir, names[k]);
        char *text = read_file(path, &len);
        if (!text)
            return -2;
        parse_probs(d, text, k);
        free(text);
    }
    return 0;
}

/* Indexes "KEY\tVALUE\n" lines of a built-in table; with_prefixes also adds each key's prefixes. */
static int load_pinyin(ztable *t, const char *s, int with_prefixes)
{
    while (*s) {
        const char *tab = strchr(s, '\t'), *nl = strchr(tab, '\n');
        zentry *e = zput(t, s, (size_t)(tab - s));
        if (!e || (with_prefixes && zput_prefixes(t, s, (size_t)(tab - s))))
            return -1;
        e = zfind(t, s, (size_t)(tab - s));
        e->v = tab + 1;
        e->vn = (uint32_t)(nl - tab - 1);
        s = nl + 1;
    }
    return 0;
}

static void zh_data_load(zh_data *d)
{
    const char *dir = getenv("KT_JIEBA_DIR");
    char path[4096];
    size_t len;
    int rc;
    if (!dir || !*dir)
        dir = "/usr/lib/python3/dist-packages/jieba";
    snprintf(path, sizeof path, "%s/dict.txt", dir);
    d->dict_text = read_file(path, &len);
    if (!d->dict_text || (rc = load_hmm(d, dir)) == -2) {
        d->status = KT_EUNSUPPORTED;
        snprintf(d->msg, sizeof d->msg,
                 "Mandarin needs jieba's dictionary (%.300s): install the Debian package python3-jieba "
                 "or set KT_JIEBA_DIR",
                 path);
        return;
    }
    if (rc || load_dict(d, d->dict_text) || load_pinyin(&d->chars, zh_char_pinyin, 0) ||
        load_pinyin(&d->phrases, zh_phrase_pinyin, 1)) {
        d->status = KT_ENOMEM;
        snprintf(d->msg, sizeof d->msg, "out of memory loading the Mandarin tables");
    }
}

/* The process-wide tables: read once, then only read. */
static zh_data zh_tables;
static pthread_once_t zh_once = PTHREAD_ONCE_INIT;

static void zh_init(void) { zh_data_load(&zh_tables); }

/* ---- Arabic numerals to Chinese numerals ------------------------------------------------------ */

static const char *const digit_cn[10] = {"零", "一", "二", "三", "四", "五", "六", "七", "八", "九"};
static const char *const unit_cn[16] = {"", "十", "百", "千", "万", "十", "百", "千",
                                        "亿", "十", "百", "千", "万", "十", "百", "千"};

static int isd(char c) { return c >= '0' && c <= '9'; }

static size_t digits_at(const char *s, size_t i, size_t n)
{
    size_t j = i;
    while (j < n && isd(s[j]))
        j++;
    return j - i;
}

/* Replaces every non-overlapping from (left to right) by to, in place (to is not longer). */
static void replace_in(char *s, const char *from, const char *to)
{
    size_t fn = strlen(from), tn = strlen(to);
    char *w = s;
    for (const char *r = s; *r;) {
        if (!strncmp(r, from, fn)) {
            memcpy(w, to, tn);
            w += tn;
            r += fn;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

/* The Chinese reading of the digits s[0..n) as an integer (cn2an's "low" mode). -1 when too long. */
static int integer_cn(const char *s, size_t n, char *out, size_t cap)
{
    while (n > 1 && s[0] == '0')
        s++, n--;
    if (n > 16 || cap < 256)
        return -1;
    char *o = out;
    *o = '\0';
    for (size_t i = 0; i < n; i++) {
        int d = s[i] - '0';
        size_t u = n - i - 1;
        if (d) {
            o += sprintf(o, "%s%s", digit_cn[d], unit_cn[u]);
            continue;
        }
        if (u % 4 == 0)
            o += sprintf(o, "%s%s", digit_cn[0], unit_cn[u]);
        if (i > 0 && (o - out < 3 || strcmp(o - 3, "零")))
            o += sprintf(o, "%s", digit_cn[0]);
    }
    replace_in(out, "零零", "零");
    replace_in(out, "零万", "万");
    replace_in(out, "零亿", "亿");
    replace_in(out, "亿万", "亿");
    size_t len = strlen(out), a = 0;
    while (len >= a + 3 && !strncmp(out + len - 3, "零", 3))
        len -= 3;
    while (a + 3 <= len && !strncmp(out + a, "零", 3))
        a += 3;
    memmove(out, out + a, len - a);
    out[len - a] = '\0';
    /* 万零X千 / 亿零X千: the zero is not read */
    for (char *p = out; *p; p += 3) {
        if ((!strncmp(p, "万", 3) || !strncmp(p, "亿", 3)) && !strncmp(p + 3, "零", 3) && p[6] && p[9] &&
            strncmp(p + 6, "零", 3) && !strncmp(p + 9, "千", 3)) {
            int digit = 0;
            for (int k = 1; k < 10; k++)
                digit |= !strncmp(p + 6, digit_cn[k], 3);
            if (digit)
                memmove(p + 3, p + 6, strlen(p + 6) + 1);
        }
    }
    if (!strncmp(out, "一十", 6))
        memmove(out, out + 3, strlen(out + 3) + 1);
    if (!*out)
        strcpy(out, "零");
    return 0;
}

/* cn2an's "low" reading of a number written "-?D+(.D+)?" (s[0..n)); -1 when it cannot. */
static int number_cn(const char *s, size_t n, kt_strbuf *b)
{
    char buf[512];
    int neg = n > 0 && s[0] == '-';
    size_t a = neg, dot = a;
    while (dot < n && s[dot] != '.')
        dot++;
    if (integer_cn(s + a, dot - a, buf, sizeof buf))
        return -1;
    if (neg)
        kt_strbuf_puts(b, "负");
    kt_strbuf_puts(b, buf);
    if (dot < n) {
        kt_strbuf_puts(b, "点");
        for (size_t i = dot + 1; i < n && i < dot + 17; i++)
            kt_strbuf_puts(b, digit_cn[s[i] - '0']);
    }
    return 0;
}

/* Writes number s[0..n) read in Chinese, or as written when it cannot be read. */
static void put_number(kt_strbuf *b, const char *s, size_t n)
{
    if (number_cn(s, n, b))
        kt_strbuf_append(b, s, n);
}

static const char *const measure_words[] = {
    "千克", "公斤", "厘米", "毫米", "公里", "毫升", "小时", "分钟", "斤", "克", "吨", "米", "升", "元", "角", "分", "个",
    "只",   "条",   "张",   "块",   "瓶",   "杯",   "份",   "本",   "辆", "台", "匹", "头", "位", "亩", "秒", "天", "半"};

static int measure_at(const char *s)
{
    for (size_t i = 0; i < sizeof measure_words / sizeof measure_words[0]; i++)
        if (!strncmp(s, measure_words[i], strlen(measure_words[i])))
            return 1;
    return 0;
}

/* Length of "D+(.D+)?" at s[i..n), the decimal part only when keep_dec; 0 when no digit. */
static size_t decimal_at(const char *s, size_t i, size_t n, int keep_dec)
{
    size_t d = digits_at(s, i, n);
    if (d && keep_dec && i + d < n && s[i + d] == '.' && digits_at(s, i + d + 1, n))
        d += 1 + digits_at(s, i + d + 1, n);
    return d;
}

typedef size_t (*num_pass)(const char *s, size_t i, size_t n, kt_strbuf *b);

/* "D(.D)?-D(.D)?" before a measure word: "X到Y". */
static size_t pass_range(const char *s, size_t i, size_t n, kt_strbuf *b)
{
    for (int k1 = 1; k1 >= 0; k1--) {
        size_t a = decimal_at(s, i, n, k1);
        if (!a || i + a >= n || s[i + a] != '-')
            continue;
        for (int k2 = 1; k2 >= 0; k2--) {
            size_t c = decimal_at(s, i + a + 1, n, k2);
            if (c && measure_at(s + i + a + 1 + c)) {
                put_number(b, s + i, a);
                kt_strbuf_puts(b, "到");
                put_number(b, s + i + a + 1, c);
                return a + 1 + c;
            }
        }
    }
    return 0;
}

/* "(D{2,4}年)?(D{1,2}月)?(D{1,2}日)?": year digits one by one, month and day as numbers. */
static size_t pass_date(const char *s, size_t i, size_t n, kt_strbuf *b)
{
    static const char *const marks[3] = {"年", "月", "日"};
    static const size_t lo[3] = {2, 1, 1}, hi[3] = {4, 2, 2};
    size_t j = i;
    kt_strbuf t = {0};
    for (int g = 0; g < 3; g++) {
        size_t d = digits_at(s, j, n);
        if (d < lo[g] || d > hi[g] || strncmp(s + j + d, marks[g], 3))
            continue;
        for (size_t k = 0; k < d; k++) {
            if (g == 0)
                kt_strbuf_puts(&t, digit_cn[s[j + k] - '0']);
        }
        if (g > 0)
            put_number(&t, s + j, d);
        kt_strbuf_puts(&t, marks[g]);
        j += d + 3;
    }
    if (j > i)
        kt_strbuf_append(b, t.data, t.len);
    kt_strbuf_free(&t);
    return j - i;
}

/* "D/D": "Y分之X". */
static size_t pass_fraction(const char *s, size_t i, size_t n, kt_strbuf *b)
{
    size_t a = digits_at(s, i, n);
    if (!a || i + a >= n || s[i + a] != '/')
        return 0;
    size_t c = digits_at(s, i + a + 1, n);
    if (!c)
        return 0;
    put_number(b, s + i + a + 1, c);
    kt_strbuf_puts(b, "分之");
    put_number(b, s + i, a);
    return a + 1 + c;
}

/* "-?D(.D)?%": "百分之X". */
static size_t pass_percent(const char *s, size_t i, size_t n, kt_strbuf *b)
{
    size_t m = i < n && s[i] == '-';
    for (int k = 1; k >= 0; k--) {
        size_t a = decimal_at(s, i + m, n, k);
        if (a && i + m + a < n && s[i + m + a] == '%') {
            kt_strbuf_puts(b, "百分之");
            put_number(b, s + i, m + a);
            return m + a + 1;
        }
    }
    return 0;
}

/* "D℃": "X摄氏度". */
static size_t pass_celsius(const char *s, size_t i, size_t n, kt_strbuf *b)
{
    size_t a = digits_at(s, i, n);
    if (!a || strncmp(s + i + a, "℃", 3))
        return 0;
    put_number(b, s + i, a);
    kt_strbuf_puts(b, "摄氏度");
    return a + 3;
}

/* "-?(D.)?D": the number. */
static size_t pass_number(const char *s, size_t i, size_t n, kt_strbuf *b)
{
    size_t m = i < n && s[i] == '-';
    size_t a = decimal_at(s, i + m, n, 1);
    if (!a)
        return 0;
    put_number(b, s + i, m + a);
    return m + a;
}

/* Runs one pass over *text: at each position the pass either rewrites a match or the byte is kept. */
static kt_status run_pass(char **text, num_pass pass)
{
    kt_strbuf b = {0};
    const char *s = *text;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = pass(s, i, n, &b);
        if (k) {
            i += k;
        } else {
            size_t len = u8len((unsigned char)s[i]);
            kt_strbuf_append(&b, s + i, len <= n - i ? len : n - i);
            i += len;
        }
    }
    if (kt_strbuf_failed(&b) || !b.data) {
        int empty = !kt_strbuf_failed(&b);
        kt_strbuf_free(&b);
        if (!empty)
            return KT_ENOMEM;
        (*text)[0] = '\0';
        return KT_OK;
    }
    free(*text);
    *text = b.data;
    return KT_OK;
}

/* Full-width digits become ASCII ones first. */
static void ascii_digits(char *s)
{
    char *w = s;
    for (const char *r = s; *r;) {
        if ((unsigned char)r[0] == 0xEF && (unsigned char)r[1] == 0xBC && (unsigned char)r[2] >= 0x90 &&
            (unsigned char)r[2] <= 0x99) {
            *w++ = (char)('0' + ((unsigned char)r[2] - 0x90));
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

static kt_status numbers_to_chinese(char **text)
{
    static const num_pass passes[] = {pass_range, pass_date, pass_fraction, pass_percent, pass_celsius,
                                      pass_number};
    ascii_digits(*text);
    for (size_t i = 0; i < sizeof passes / sizeof passes[0]; i++)
        if (run_pass(text, passes[i]))
            return KT_ENOMEM;
    return KT_OK;
}

/* ---- punctuation ------------------------------------------------------------------------------ */

static kt_status map_punctuation(char **text)
{
    static const char *const map[][2] = {
        {"、", ", "}, {"，", ", "}, {"。", ". "}, {"．", ". "}, {"！", "! "}, {"：", ": "}, {"；", "; "},
        {"？", "? "}, {"«", " “"},  {"»", "” "},  {"《", " “"}, {"》", "” "}, {"「", " “"}, {"」", "” "},
        {"【", " “"}, {"】", "” "}, {"（", " ("}, {"）", ") "},
    };
    kt_strbuf b = {0};
    for (const char *r = *text; *r;) {
        size_t k = 0;
        while (k < sizeof map / sizeof map[0] && strncmp(r, map[k][0], strlen(map[k][0])))
            k++;
        if (k < sizeof map / sizeof map[0]) {
            kt_strbuf_puts(&b, map[k][1]);
            r += strlen(map[k][0]);
        } else {
            kt_strbuf_append(&b, r, 1);
            r++;
        }
    }
    if (kt_strbuf_failed(&b)) {
        kt_strbuf_free(&b);
        return KT_ENOMEM;
    }
    free(*text);
    *text = b.data ? b.data : calloc(1, 1);
    return *text ? KT_OK : KT_ENOMEM;
}

/* ---- pinyin to phonemes ----------------------------------------------------------------------- */

typedef struct {
    const char *py, *ph; /* '0' in ph marks where the tone arrow goes */
} pymap;

static const pymap initials[] = {
    {"zh", "ꭧ"}, {"ch", "ꭧʰ"}, {"sh", "ʂ"}, {"b", "p"}, {"c", "ʦʰ"}, {"d", "t"},  {"f", "f"},
    {"g", "k"},  {"h", "x"},    {"j", "ʨ"}, {"k", "kʰ"}, {"l", "l"},   {"m", "m"}, {"n", "n"},
    {"p", "pʰ"}, {"q", "ʨʰ"},   {"r", "ɻ"}, {"s", "s"},  {"t", "tʰ"},  {"x", "ɕ"}, {"z", "ʦ"},
};

static const pymap finals[] = {
    {"a", "a0"},       {"ai", "ai0"},    {"an", "a0n"},    {"ang", "a0ŋ"},    {"ao", "au0"},
    {"e", "ɤ0"},       {"ei", "ei0"},    {"en", "ə0n"},    {"eng", "ə0ŋ"},    {"i", "i0"},
    {"ia", "ja0"},     {"ian", "jɛ0n"},  {"iang", "ja0ŋ"}, {"iao", "jau0"},   {"ie", "je0"},
    {"in", "i0n"},     {"iou", "jou0"},  {"ing", "i0ŋ"},   {"iong", "jʊ0ŋ"},  {"ong", "ʊ0ŋ"},
    {"ou", "ou0"},     {"u", "u0"},      {"uei", "wei0"},  {"ua", "wa0"},     {"uai", "wai0"},
    {"uan", "wa0n"},   {"uen", "wə0n"},  {"uang", "wa0ŋ"}, {"ueng", "wə0ŋ"},  {"uo", "wo0"},
    {"o", "wo0"},      {"ü", "y0"},      {"üe", "ɥe0"},    {"üan", "ɥɛ0n"},   {"ün", "y0n"},
};

/* Whole syllables read without initial + final: interjections and syllabic consonants. */
static const pymap wholes[] = {
    {"io", "jɔ0"}, {"ê", "ɛ0"}, {"er", "ɚ0"}, {"o", "ɔ0"},
    {"hm", "hm0"}, {"hng", "hŋ0"}, {"m", "m0"}, {"n", "n0"}, {"ng", "ŋ0"},
};

static const pymap *find_map(const pymap *m, size_t n, const char *py)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(m[i].py, py))
            return &m[i];
    return NULL;
}

/* The standard final of a syllable written without initial (yi -> i, wu -> u, yu -> ü, you -> iou). */
static void zero_initial_final(const char *py, char *fin, size_t cap)
{
    const char *rest = py + 1;
    if (py[0] == 'y') {
        if (rest[0] == 'u')
            snprintf(fin, cap, "ü%s", rest + 1);
        else if (rest[0] == 'i')
            snprintf(fin, cap, "%s", rest);
        else
            snprintf(fin, cap, "i%s", rest);
    } else if (py[0] == 'w') {
        snprintf(fin, cap, rest[0] == 'u' ? "%s" : "u%s", rest);
    } else {
        snprintf(fin, cap, "%s", py);
    }
    if (!find_map(finals, sizeof finals / sizeof finals[0], fin))
        snprintf(fin, cap, "%s", py);
}

/* The standard final after an initial (ju -> ü, niu -> iou, gui -> uei, lun -> uen). */
static void final_after(const char *init, const char *rest, char *fin, size_t cap)
{
    int jqx = !strcmp(init, "j") || !strcmp(init, "q") || !strcmp(init, "x");
    if (jqx && rest[0] == 'u')
        snprintf(fin, cap, "ü%s", rest + 1);
    else if (!strcmp(rest, "iu"))
        snprintf(fin, cap, "iou");
    else if (!strcmp(rest, "ui"))
        snprintf(fin, cap, "uei");
    else if (!strcmp(rest, "un"))
        snprintf(fin, cap, "uen");
    else
        snprintf(fin, cap, "%s", rest);
}

/* Appends ph with the tone's arrow in place of '0'. */
static void put_toned(kt_strbuf *b, const char *ph, int tone)
{
    static const char *const arrows[6] = {"", "→", "↗", "↓", "↘", ""};
    for (const char *p = ph; *p; p++) {
        if (*p == '0')
            kt_strbuf_puts(b, arrows[tone]);
        else
            kt_strbuf_append(b, p, 1);
    }
}

/* Appends the phonemes of one numbered-tone syllable ("zhong1", "lv4"); -1 when it is not pinyin. */
static int syllable_ipa(const char *py, size_t n, kt_strbuf *b)
{
    char s[32], fin[40];
    if (n < 2 || n >= sizeof s - 2 || py[n - 1] < '1' || py[n - 1] > '5')
        return -1;
    int tone = py[n - 1] - '0';
    size_t k = 0;
    for (size_t i = 0; i + 1 < n; i++) { /* v is ü */
        if (py[i] == 'v') {
            s[k++] = (char)0xC3;
            s[k++] = (char)0xBC;
        } else {
            s[k++] = py[i];
        }
    }
    s[k] = '\0';
    const pymap *w = find_map(wholes, sizeof wholes / sizeof wholes[0], s);
    if (w) {
        put_toned(b, w->ph, tone);
        return 0;
    }
    const pymap *ini = NULL;
    for (size_t i = 0; i < sizeof initials / sizeof initials[0] && !ini; i++)
        if (!strncmp(s, initials[i].py, strlen(initials[i].py)))
            ini = &initials[i];
    if (ini)
        final_after(ini->py, s + strlen(ini->py), fin, sizeof fin);
    else
        zero_initial_final(s, fin, sizeof fin);
    const pymap *f = find_map(finals, sizeof finals / sizeof finals[0], fin);
    if (!f)
        return -1;
    int apical = ini && !strcmp(fin, "i") &&
                 (!strcmp(ini->py, "zh") || !strcmp(ini->py, "ch") || !strcmp(ini->py, "sh") ||
                  !strcmp(ini->py, "r") || !strcmp(ini->py, "z") || !strcmp(ini->py, "c") || !strcmp(ini->py, "s"));
    if (ini)
        kt_strbuf_puts(b, ini->ph);
    put_toned(b, apical ? "ɨ0" : f->ph, tone);
    return 0;
}

/* Appends the phonemes of the space-separated syllables pys[0..n), each followed by '|' when mark. */
static void syllables_ipa(const char *pys, size_t n, kt_strbuf *b, kt_strbuf *dropped, const char *han,
                          size_t han_n, int mark)
{
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && pys[j] != ' ')
            j++;
        if (syllable_ipa(pys + i, j - i, b))
            kt_strbuf_append(dropped, han, han_n);
        else if (mark)
            kt_strbuf_puts(b, "|");
        i = j + 1;
    }
}

/* ---- segmentation ----------------------------------------------------------------------------- */

typedef struct {
    const char *s;  /* the Han run */
    size_t *off;    /* off[i]: byte offset of character i; off[n] = length */
    size_t n;       /* characters */
} zrun;

static size_t span_bytes(const zrun *r, size_t a, size_t b) { return r->off[b] - r->off[a]; }

/* The pinyin of the word r[a..b) (pypinyin's lazy_pinyin): longest phrase of the built-in
 * table at each position, else each character's first reading. */
static void word_ipa(const zh_data *d, const zrun *r, size_t a, size_t b, kt_strbuf *out, kt_strbuf *dropped,
                     int mark)
{
    size_t i = a;
    while (i < b) {
        size_t valid = 0, j = i + 1;
        for (; j <= b; j++) {
            zentry *e = zfind(&d->phrases, r->s + r->off[i], span_bytes(r, i, j));
            if (!e)
                break;
            if (e->v)
                valid = j;
        }
        if (valid) {
            zentry *e = zfind(&d->phrases, r->s + r->off[i], span_bytes(r, i, valid));
            syllables_ipa(e->v, e->vn, out, dropped, r->s + r->off[i], span_bytes(r, i, valid), mark);
            i = valid;
            continue;
        }
        /* no phrase: one character, or all the rest when the rest is only a phrase's prefix */
        size_t end = j > b ? b : i + 1;
        for (size_t c = i; c < end; c++) {
            zentry *e = zfind(&d->chars, r->s + r->off[c], span_bytes(r, c, c + 1));
            if (e)
                syllables_ipa(e->v, e->vn, out, dropped, r->s + r->off[c], span_bytes(r, c, c + 1), mark);
            else
                kt_strbuf_append(dropped, r->s + r->off[c], span_bytes(r, c, c + 1));
        }
        i = end;
    }
}

typedef struct {
    size_t *a; /* word boundaries: word k is [a[k], a[k+1]) */
    size_t n, cap;
    int failed;
} cuts;

static void cut_push(cuts *c, size_t end)
{
    if (c->failed)
        return;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        size_t *a = realloc(c->a, cap * sizeof *a);
        if (!a) {
            c->failed = 1;
            return;
        }
        c->a = a;
        c->cap = cap;
    }
    c->a[c->n++] = end;
}

static uint32_t run_cp(const zrun *r, size_t i)
{
    size_t len;
    return u8get(r->s + r->off[i], span_bytes(r, i, i + 1), &len);
}

static double emit_p(const zh_data *d, const zrun *r, size_t i, int state)
{
    uint32_t c = run_cp(r, i);
    return c < 65536 ? d->emit[c][state] : HMM_MIN_FLOAT;
}

/* jieba's finalseg: Viterbi over B/M/E/S for r[a..b), pushing word ends. */
static int hmm_cut(const zh_data *d, const zrun *r, size_t a, size_t b, cuts *out)
{
    static const int prev[4][2] = {[HMM_B] = {HMM_E, HMM_S}, [HMM_M] = {HMM_M, HMM_B},
                                   [HMM_S] = {HMM_S, HMM_E}, [HMM_E] = {HMM_B, HMM_M}};
    static const char names[4] = {'B', 'E', 'M', 'S'};
    size_t n = b - a;
    double *v = malloc(n * 4 * sizeof *v);
    int *back = malloc(n * 4 * sizeof *back), *path = malloc(n * sizeof *path);
    if (!v || !back || !path) {
        free(v), free(back), free(path);
        return -1;
    }
    for (int y = 0; y < 4; y++)
        v[y] = d->start[y] + emit_p(d, r, a, y);
    for (size_t t = 1; t < n; t++)
        for (int y = 0; y < 4; y++) {
            double em = emit_p(d, r, a + t, y), best = 0;
            int arg = -1;
            for (int k = 0; k < 2; k++) { /* max over (prob, state name), as Python compares tuples */
                int y0 = prev[y][k];
                double p = v[(t - 1) * 4 + y0] + d->trans[y0][y] + em;
                if (arg < 0 || p > best || (p == best && names[y0] > names[arg]))
                    best = p, arg = y0;
            }
            v[t * 4 + y] = best;
            back[t * 4 + y] = arg;
        }
    int last = v[(n - 1) * 4 + HMM_S] >= v[(n - 1) * 4 + HMM_E] ? HMM_S : HMM_E;
    for (size_t t = n; t-- > 0;) {
        path[t] = last;
        if (t)
            last = back[t * 4 + last];
    }
    size_t next = 0;
    for (size_t t = 0; t < n; t++)
        if (path[t] == HMM_E || path[t] == HMM_S) {
            cut_push(out, a + t + 1);
            next = t + 1;
        }
    if (next < n)
        cut_push(out, b);
    free(v), free(back), free(path);
    return 0;
}

static uint32_t freq_of(const zh_data *d, const zrun *r, size_t a, size_t b)
{
    zentry *e = zfind(&d->freq, r->s + r->off[a], span_bytes(r, a, b));
    return e ? e->vn : 0;
}

/* Flushes the pending single characters r[a..b) (jieba's buf): one word, HMM words, or characters. */
static int flush_buf(const zh_data *d, const zrun *r, size_t a, size_t b, cuts *out)
{
    if (b - a == 1 || (b > a && freq_of(d, r, a, b))) {
        for (size_t i = a; i < b; i++)
            cut_push(out, i + 1);
        return 0;
    }
    return b > a ? hmm_cut(d, r, a, b, out) : 0;
}

/* jieba's precise mode with HMM: the maximum-probability route over the dictionary's words. */
static int jieba_cut(const zh_data *d, const zrun *r, cuts *out)
{
    size_t n = r->n;
    double *rp = malloc((n + 1) * sizeof *rp);
    size_t *rx = malloc((n + 1) * sizeof *rx);
    int rc = 0;
    if (!rp || !rx) {
        free(rp), free(rx);
        return -1;
    }
    rp[n] = 0;
    for (size_t k = n; k-- > 0;) {
        double best = 0;
        size_t bx = k;
        int any = 0;
        for (size_t i = k; i < n; i++) {
            zentry *e = zfind(&d->freq, r->s + r->off[k], span_bytes(r, k, i + 1));
            if (!e)
                break;
            if (!e->vn)
                continue;
            double p = log((double)e->vn) - d->log_total + rp[i + 1];
            if (!any || p > best || (p == best && i > bx))
                best = p, bx = i;
            any = 1;
        }
        if (!any)
            best = -d->log_total + rp[k + 1], bx = k;
        rp[k] = best;
        rx[k] = bx;
    }
    size_t x = 0, buf = 0;
    while (x < n && !rc) {
        size_t y = rx[x] + 1;
        if (y - x == 1) {
            x = y;
            continue;
        }
        rc = flush_buf(d, r, buf, x, out);
        cut_push(out, y);
        x = buf = y;
    }
    if (!rc)
        rc = flush_buf(d, r, buf, n, out);
    free(rp), free(rx);
    return rc || out->failed ? -1 : 0;
}

/* Appends the phonemes of the Han run s[0..len): its words separated by spaces. */
static int han_run(const zh_data *d, const char *s, size_t len, kt_strbuf *out, kt_strbuf *dropped, int mark)
{
    zrun r = {s, malloc((len + 1) * sizeof(size_t)), 0};
    cuts c = {0};
    int rc = -1;
    if (!r.off)
        return -1;
    for (size_t i = 0; i < len; i += u8len((unsigned char)s[i]))
        r.off[r.n++] = i;
    r.off[r.n] = len;
    if (jieba_cut(d, &r, &c) == 0) {
        size_t a = 0;
        for (size_t k = 0; k < c.n; k++) {
            if (k)
                kt_strbuf_puts(out, " ");
            word_ipa(d, &r, a, c.a[k], out, dropped, mark);
            a = c.a[k];
        }
        rc = 0;
    }
    free(c.a);
    free(r.off);
    return rc;
}

/* Appends a run without Han characters as it is, except letters and digits (listed in dropped). */
static void other_run(const char *s, size_t len, kt_strbuf *out, kt_strbuf *dropped)
{
    for (size_t i = 0; i < len;) {
        size_t k;
        uint32_t c = u8get(s + i, len - i, &k);
        int alnum = (c < 0x80 && ((c | 0x20) - 'a' < 26 || (c >= '0' && c <= '9'))) ||
                    (c >= 0xC0 && c < 0x250 && c != 0xD7 && c != 0xF7);
        kt_strbuf_append(alnum ? dropped : out, s + i, k);
        i += k;
    }
}

/* ---- entry ------------------------------------------------------------------------------------ */

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

static kt_status read_text(const zh_data *d, const char *text, kt_strbuf *out, kt_strbuf *dropped, int mark)
{
    size_t n = strlen(text), a = 0, b = n;
    while (a < b && is_blank(text[a]))
        a++;
    while (b > a && is_blank(text[b - 1]))
        b--;
    for (size_t i = a; i < b;) {
        size_t k, j = i;
        int han = is_han(u8get(text + i, b - i, &k));
        while (j < b && is_han(u8get(text + j, b - j, &k)) == han)
            j += k;
        if (han) {
            if (han_run(d, text + i, j - i, out, dropped, mark))
                return KT_ENOMEM;
        } else {
            other_run(text + i, j - i, out, dropped);
        }
        i = j;
    }
    return kt_strbuf_failed(out) || kt_strbuf_failed(dropped) ? KT_ENOMEM : KT_OK;
}

kt_status kt_g2p_zh(const char *text, int mark_syllables, char **out, char **dropped, kt_error *err)
{
    kt_strbuf o = {0}, dr = {0};
    char *t = strdup(text);
    kt_status st;
    *out = NULL;
    *dropped = NULL;
    pthread_once(&zh_once, zh_init);
    if (zh_tables.status) {
        free(t);
        return kt_error_set(err, zh_tables.status, "%s", zh_tables.msg);
    }
    if (!t || numbers_to_chinese(&t) || map_punctuation(&t)) {
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
        goto fail;
    }
    if ((st = read_text(&zh_tables, t, &o, &dr, mark_syllables)) != KT_OK) {
        kt_error_set(err, st, "out of memory");
        goto fail;
    }
    *out = o.data ? o.data : strdup("");
    *dropped = dr.data;
    free(t);
    if (!*out) {
        free(*dropped);
        *dropped = NULL;
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    }
    return KT_OK;
fail:
    free(t);
    kt_strbuf_free(&o);
    kt_strbuf_free(&dr);
    return st;
}
