/* g2p.c - text to Kokoro phonemes through libespeak-ng, chunking, ids. See kt/g2p.h. */
#include "kt/g2p.h"
#include "kt/g2p_lang.h"
#include "kt/g2p_ja.h"
#include "kt/g2p_zh.h"

#include "kt/en.h"

#ifndef KT_ESPEAK
#define KT_ESPEAK 1
#endif
#if KT_ESPEAK
#include <espeak-ng/espeak_ng.h>
#include <espeak-ng/speak_lib.h>
#else
#include "kt/g2p_none.h"
#endif
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- code point buffers ---------------------------------------------------------------------- */

typedef struct {
    uint32_t *p;
    size_t n, cap;
    int failed;
} u32buf;

static void ub_push(u32buf *b, uint32_t c)
{
    if (b->failed)
        return;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        uint32_t *p = realloc(b->p, cap * sizeof *p);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    b->p[b->n++] = c;
}

static void ub_append(u32buf *b, const uint32_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ub_push(b, s[i]);
}

static void ub_free(u32buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Decodes one code point of s[0..n); returns its length, or 0 when invalid. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t len;
    uint32_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if ((c & 0xE0) == 0xC0) { len = 2; c &= 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; c &= 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; c &= 0x07; }
    else return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min_for_len[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

/* Appends the code points of UTF-8 text s to b; 0 on success, -1 on invalid UTF-8. */
static int utf8_decode_into(const char *s, u32buf *b)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s), i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = utf8_next(u + i, n - i, &cp);
        if (!k)
            return -1;
        ub_push(b, cp);
        i += k;
    }
    return 0;
}

static size_t utf8_put(uint32_t c, char *o)
{
    if (c < 0x80) { o[0] = (char)c; return 1; }
    if (c < 0x800) { o[0] = (char)(0xC0 | (c >> 6)); o[1] = (char)(0x80 | (c & 0x3F)); return 2; }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | (c >> 12)); o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (c >> 18)); o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3F)); o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* A malloc'd UTF-8 string of s[0..n), or NULL on allocation failure. */
static char *utf8_encode(const uint32_t *s, size_t n)
{
    char *o = malloc(n * 4 + 1);
    size_t k = 0;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++)
        k += utf8_put(s[i], o + k);
    o[k] = '\0';
    return o;
}

uint32_t kt_utf8_before(const char *s, size_t e, size_t *start)
{
    size_t b = e - 1;
    while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80)
        b--;
    const unsigned char *u = (const unsigned char *)s + b;
    uint32_t c = u[0] < 0x80 ? u[0] : u[0] < 0xE0 ? u[0] & 0x1F : u[0] < 0xF0 ? u[0] & 0x0F : u[0] & 0x07;
    for (size_t k = b + 1; k < e; k++)
        c = c << 6 | ((unsigned char)s[k] & 0x3F);
    *start = b;
    return c;
}

size_t kt_utf8_count(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s), i = 0, count = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = utf8_next(u + i, n - i, &cp);
        if (!k)
            return (size_t)-1;
        i += k;
        count++;
    }
    return count;
}

static int is_space(uint32_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0xA0 ||
           c == 0x2028 || c == 0x2029 || c == 0x3000 || (c >= 0x2000 && c <= 0x200A);
}

/* ---- languages ------------------------------------------------------------------------------- */

const char *kt_g2p_lang_for_voice(const char *voice_name)
{
    static const char *const by_letter[26] = {
        ['a' - 'a'] = "en-us", ['b' - 'a'] = "en-gb", ['e' - 'a'] = "es", ['f' - 'a'] = "fr",
        ['h' - 'a'] = "hi",    ['i' - 'a'] = "it",    ['j' - 'a'] = "ja", ['p' - 'a'] = "pt-br",
        ['z' - 'a'] = "zh",
    };
    if (!voice_name)
        return NULL;
    const char *base = strrchr(voice_name, '/');
    base = base ? base + 1 : voice_name;
    if (base[0] < 'a' || base[0] > 'z')
        return NULL;
    return by_letter[base[0] - 'a'];
}

const char *kt_g2p_espeak_voice(const char *lang)
{
    if (!lang || !lang[0])
        return NULL;
    if (!strcmp(lang, "fr"))
        return "fr-fr";
    if (!strcmp(lang, "zh"))
        return "cmn";
    return lang;
}

/* English variants get the English mapping: American rules for en-us, British ones for the others (en, en-gb, ...). */
static int lang_is_english(const char *voice)
{
    return !strncmp(voice, "en", 2) && (voice[2] == '\0' || voice[2] == '-');
}

/* ---- espeak-ng (process-global; serialized) -------------------------------------------------- */
#if KT_ESPEAK

/* libespeak-ng's state is process-global, so these mirror it: one lock, whether it
 * is initialized, and the voice currently selected in it. */
static pthread_mutex_t espeak_lock = PTHREAD_MUTEX_INITIALIZER;
static int espeak_ready;
static char espeak_voice[64];

static kt_status espeak_init_locked(kt_error *err)
{
    char msg[256];
    if (espeak_ready)
        return KT_OK;
    espeak_ng_InitializePath(NULL);
    espeak_ng_ERROR_CONTEXT ctx = NULL;
    espeak_ng_STATUS s = espeak_ng_Initialize(&ctx);
    if (s != ENS_OK) {
        espeak_ng_GetStatusCodeMessage(s, msg, sizeof msg);
        espeak_ng_ClearErrorContext(&ctx);
        return kt_error_set(err, KT_EUNSUPPORTED,
                            "espeak-ng cannot initialize (%s): install the Debian package espeak-ng-data", msg);
    }
    s = espeak_ng_InitializeOutput(ENOUTPUT_MODE_SYNCHRONOUS, 0, NULL);
    if (s != ENS_OK) {
        espeak_ng_GetStatusCodeMessage(s, msg, sizeof msg);
        return kt_error_set(err, KT_EUNSUPPORTED, "espeak-ng cannot initialize output: %s", msg);
    }
    espeak_ready = 1;
    return KT_OK;
}

static kt_status espeak_select_locked(const char *voice, kt_error *err)
{
    if (!strcmp(espeak_voice, voice))
        return KT_OK;
    espeak_VOICE props;
    memset(&props, 0, sizeof props);
    props.languages = voice;
    /* a file name (en-us) or, like the espeak-ng CLI, a language (en-gb, fr-fr) */
    if (strlen(voice) >= sizeof espeak_voice ||
        (espeak_ng_SetVoiceByName(voice) != ENS_OK && espeak_ng_SetVoiceByProperties(&props) != ENS_OK)) {
        espeak_voice[0] = '\0';
        return kt_error_set(err, KT_EINVAL, "unknown language \"%s\" (espeak-ng has no such voice)", voice);
    }
    strcpy(espeak_voice, voice);
    return KT_OK;
}

/* Appends espeak's IPA (tie '^') for text to out, clauses joined by a space,
 * language-switch flags "(..)" removed. Caller holds espeak_lock. */
static void espeak_phonemize_locked(const char *text, u32buf *out)
{
    const int mode = espeakPHONEMES_IPA | espeakPHONEMES_TIE | ('^' << 8);
    const void *ptr = text;
    const char *end = text + strlen(text);
    int first = 1;
    while (ptr && (const char *)ptr >= text && (const char *)ptr < end) { /* never trust espeak past end */
        const char *ph = espeak_TextToPhonemes(&ptr, espeakCHARS_UTF8, mode);
        if (!ph)
            break;
        u32buf tmp = {0};
        if (utf8_decode_into(ph, &tmp) == 0) {
            int depth = 0;
            size_t a = 0, b = tmp.n;
            while (a < b && is_space(tmp.p[a]))
                a++;
            while (b > a && is_space(tmp.p[b - 1]))
                b--;
            if (!first && a < b && out->n && out->p[out->n - 1] != ' ')
                ub_push(out, ' ');
            if (a < b)
                first = 0;
            for (size_t i = a; i < b; i++) {
                uint32_t c = tmp.p[i];
                if (c == '(')
                    depth++;
                else if (c == ')' && depth > 0)
                    depth--;
                else if (depth == 0)
                    ub_push(out, c == '\n' ? ' ' : c);
            }
        }
        if (tmp.failed)
            out->failed = 1;
        ub_free(&tmp);
    }
}
#else /* make ESPEAK=0: kt_g2p_phonemize fails with kt_g2p_unconvertible instead of reaching these */
static pthread_mutex_t espeak_lock = PTHREAD_MUTEX_INITIALIZER;
static kt_status espeak_init_locked(kt_error *err) { return kt_error_set(err, KT_EUNSUPPORTED, "no espeak-ng"); }
static kt_status espeak_select_locked(const char *voice, kt_error *err) { (void)voice, (void)err; return KT_OK; }
static void espeak_phonemize_locked(const char *text, u32buf *out) { (void)text, (void)out; }
#endif

/* ---- punctuation-preserving phonemization ---------------------------------------------------- */

static int is_mark(uint32_t c)
{
    static const uint32_t marks[] = {';', ':', ',', '.', '!', '?', 0xA1, 0xBF, 0x2014, 0x2026, '"',
                                     0xAB, 0xBB, 0x201C, 0x201D, '(', ')', '{', '}', '[', ']'};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        if (marks[i] == c)
            return 1;
    return 0;
}

/* Appends a mark group (marks and whitespace) with whitespace runs collapsed to one space. */
static void append_mark_group(u32buf *out, const uint32_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (is_space(s[i])) {
            if (out->n && out->p[out->n - 1] != ' ')
                ub_push(out, ' ');
        } else {
            ub_push(out, s[i]);
        }
    }
}

/* Phonemizes the word segment s[0..n) (no marks) with espeak into out. */
static kt_status phonemize_segment(const uint32_t *s, size_t n, u32buf *out, kt_error *err)
{
    size_t a = 0, b = n;
    while (a < b && is_space(s[a]))
        a++;
    while (b > a && is_space(s[b - 1]))
        b--;
    if (a == b)
        return KT_OK;
    char *text = utf8_encode(s + a, b - a);
    if (!text)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    /* control characters become spaces: espeak-ng reads 0x01 as the start of an embedded
     * command and can then run past the end of the text (found by fuzz_g2p) */
    for (char *q = text; *q; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7f)
            *q = ' ';
    espeak_phonemize_locked(text, out);
    free(text);
    return KT_OK;
}

/* The raw espeak IPA of text with punctuation put back. Caller holds espeak_lock. */
static kt_status phonemize_raw_locked(const u32buf *text, u32buf *out, kt_error *err)
{
    size_t i = 0, n = text->n;
    while (i < n) {
        size_t j = i;
        while (j < n && !is_mark(text->p[j]))
            j++;
        /* a mark group swallows the whitespace around it: back up over spaces before it */
        size_t seg_end = j;
        if (j < n)
            while (seg_end > i && is_space(text->p[seg_end - 1]))
                seg_end--;
        kt_status st = phonemize_segment(text->p + i, seg_end - i, out, err);
        if (st)
            return st;
        if (j >= n)
            break;
        size_t k = j;
        while (k < n && (is_mark(text->p[k]) || is_space(text->p[k])))
            k++;
        append_mark_group(out, text->p + seg_end, k - seg_end);
        i = k;
    }
    return out->failed ? kt_error_set(err, KT_ENOMEM, "out of memory") : KT_OK;
}

/* ---- mapping to Kokoro's alphabet ------------------------------------------------------------ */

typedef struct {
    const char *from, *to;
} rule;

/* Replaces every occurrence of from with to (left to right, non-overlapping), in place via tmp. */
static void replace_all(u32buf *s, const rule *r)
{
    u32buf from = {0}, to = {0}, res = {0};
    utf8_decode_into(r->from, &from);
    utf8_decode_into(r->to, &to);
    for (size_t i = 0; i < s->n;) {
        if (from.n && i + from.n <= s->n && !memcmp(s->p + i, from.p, from.n * sizeof *from.p)) {
            ub_append(&res, to.p, to.n);
            i += from.n;
        } else {
            ub_push(&res, s->p[i++]);
        }
    }
    if (from.failed || to.failed || res.failed) {
        s->failed = 1;
        ub_free(&res);
    } else {
        free(s->p);
        *s = res;
    }
    ub_free(&from);
    ub_free(&to);
}

static void apply_rules(u32buf *s, const rule *rules, size_t n)
{
    for (size_t i = 0; i < n; i++)
        replace_all(s, &rules[i]);
}

/* (\S)U+0329 -> ᵊ\1, then every remaining U+0329 deleted. */
static void syllabic_to_schwa(u32buf *s)
{
    u32buf res = {0};
    for (size_t i = 0; i < s->n; i++) {
        if (i + 1 < s->n && s->p[i + 1] == 0x329 && !is_space(s->p[i])) {
            ub_push(&res, 0x1D4A);
            ub_push(&res, s->p[i]);
            i++;
        } else if (s->p[i] != 0x329) {
            ub_push(&res, s->p[i]);
        }
    }
    free(s->p);
    *s = res;
}

static void map_english(u32buf *s, int british)
{
    /* upstream's EspeakFallback list, longest key first (equal lengths keep the list order) */
    static const rule fallback[] = {
        {"ʔˌn\xcc\xa9", "ʔn"}, {"ʔn\xcc\xa9", "ʔn"},
        {"a^ɪ", "I"}, {"a^ʊ", "W"}, {"d^ʒ", "ʤ"}, {"e^ɪ", "A"}, {"t^ʃ", "ʧ"}, {"ɔ^ɪ", "Y"}, {"ə^l", "ᵊl"},
        {"ʲo", "jo"}, {"ʲə", "jə"},
        {"e", "A"}, {"ʲ", ""}, {"ɚ", "əɹ"}, {"r", "ɹ"}, {"x", "k"}, {"ç", "k"}, {"ɐ", "ə"}, {"ɬ", "l"},
        {"\xcc\x83", ""},
    };
    static const rule gb[] = {{"e^ə", "ɛː"}, {"iə", "ɪə"}, {"ə^ʊ", "Q"}};
    static const rule us[] = {{"o^ʊ", "O"}, {"ɜːɹ", "ɜɹ"}, {"ɜː", "ɜɹ"}, {"ɪə", "iə"}, {"ː", ""}};
    static const rule tail[] = {{"o", "ɔ"}, {"ɾ", "T"}, {"ʔ", "t"}, {"^", ""}};
    /* British NEAR and SQUARE before the fallback list turns e into A */
    static const rule gb_first[] = {{"e^ə", "ɛː"}, {"i^ə", "ɪə"}};
    static const rule r_twice[] = {{"ɹɹ", "ɹ"}};
    if (british)
        apply_rules(s, gb_first, sizeof gb_first / sizeof gb_first[0]);
    apply_rules(s, fallback, sizeof fallback / sizeof fallback[0]);
    syllabic_to_schwa(s);
    if (british)
        apply_rules(s, gb, sizeof gb / sizeof gb[0]);
    else
        apply_rules(s, us, sizeof us / sizeof us[0]);
    apply_rules(s, tail, sizeof tail / sizeof tail[0]);
    apply_rules(s, r_twice, 1);
}

static void map_other(u32buf *s)
{
    /* upstream's EspeakG2P map in sorted key order */
    static const rule map[] = {
        {"a^ɪ", "I"}, {"a^ʊ", "W"}, {"d^z", "ʣ"}, {"d^ʒ", "ʤ"}, {"e^ɪ", "A"}, {"o^ʊ", "O"},
        {"s^s", "S"}, {"t^s", "ʦ"}, {"t^ʃ", "ʧ"}, {"ə^ʊ", "Q"}, {"ɔ^ɪ", "Y"}, {"^", ""}, {"-", ""},
    };
    apply_rules(s, map, sizeof map / sizeof map[0]);
}

/* Drops symbols outside the vocab (recording them in dropped), collapses spaces, trims. */
/* Appends c to set unless it is there already (first-seen order). */
static void push_distinct(u32buf *set, uint32_t c)
{
    for (size_t d = 0; d < set->n; d++)
        if (set->p[d] == c)
            return;
    ub_push(set, c);
}

static void filter_vocab(u32buf *s, const kt_config *cfg, u32buf *dropped)
{
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        uint32_t c = s->p[i];
        if (is_space(c)) {
            if (k > 0 && s->p[k - 1] != ' ')
                s->p[k++] = ' ';
            continue;
        }
        if (cfg && kt_config_vocab_id(cfg, c) < 0) {
            push_distinct(dropped, c);
            continue;
        }
        s->p[k++] = c;
    }
    while (k > 0 && s->p[k - 1] == ' ')
        k--;
    s->n = k;
}

/* 1 if c may reach espeak-ng under voice. Letters of another script make espeak-ng switch
 * language in the middle of the text, and that switch reads freed memory inside libespeak-ng
 * (fuzz_g2p: Armenian letters under fr, ja and cmn). So each voice gets the Latin script,
 * digits, punctuation and symbols, plus its own script; unknown voices get everything. */
static int script_allowed(uint32_t c, const char *voice)
{
    int cjk = (c >= 0x3000 && c < 0x3040) || (c >= 0x3400 && c < 0x4DC0) || (c >= 0x4E00 && c < 0xA000) ||
              (c >= 0xFF00 && c < 0xFFF0);
    if (c < 0x250 || (c >= 0x300 && c < 0x370) || (c >= 0x1E00 && c < 0x1F00) || (c >= 0x2000 && c < 0x2070) ||
        (c >= 0x20A0 && c < 0x20D0))
        return 1;
    if (!strcmp(voice, "hi"))
        return c >= 0x900 && c < 0x980;
    if (!strcmp(voice, "ja"))
        return cjk || (c >= 0x3040 && c < 0x3100);
    if (!strcmp(voice, "cmn"))
        return cjk || c == 0x2103; /* ℃ is read as 摄氏度 */
    static const char *const latin_only[] = {"es", "fr-fr", "fr", "it", "pt-br", "pt"};
    if (lang_is_english(voice))
        return 0;
    for (size_t i = 0; i < sizeof latin_only / sizeof latin_only[0]; i++)
        if (!strcmp(voice, latin_only[i]))
            return 0;
    return 1;
}

/* « and » become “ and ”, as misaki's EspeakG2P does before espeak-ng sees the text. */
static void angles_to_curly(u32buf *in)
{
    for (size_t i = 0; i < in->n; i++)
        if (in->p[i] == 0xAB || in->p[i] == 0xBB)
            in->p[i] = in->p[i] == 0xAB ? 0x201C : 0x201D;
}

/* Replaces the code points voice may not see with spaces and lists them in dropped. */
static void filter_scripts(u32buf *in, const char *voice, u32buf *dropped)
{
    for (size_t i = 0; i < in->n; i++)
        if (!script_allowed(in->p[i], voice)) {
            push_distinct(dropped, in->p[i]);
            in->p[i] = ' ';
        }
}

static kt_status kt_g2p_zh_text(const char *text, char **out, char **dropped, kt_error *err)
{
    return kt_g2p_zh(text, 0, out, dropped, err);
}

/* Mandarin and Japanese through their own readers (not espeak-ng): the phonemes into ph, what
 * was not read into drop. */
static kt_status phonemize_native(kt_status (*reader)(const char *, char **, char **, kt_error *), const u32buf *in,
                                  u32buf *ph, u32buf *drop, kt_error *err)
{
    char *raw = NULL, *dr = NULL, *text = utf8_encode(in->p, in->n);
    if (!text)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    kt_status st = reader(text, &raw, &dr, err);
    free(text);
    if (st)
        return st;
    u32buf d = {0};
    utf8_decode_into(raw, ph);
    if (dr)
        utf8_decode_into(dr, &d);
    for (size_t i = 0; i < d.n; i++)
        push_distinct(drop, d.p[i]);
    if (d.failed)
        drop->failed = 1;
    ub_free(&d);
    free(raw);
    free(dr);
    return KT_OK;
}

/* espeak-ng's IPA of in, mapped to Kokoro's alphabet, into ph. */
static kt_status phonemize_espeak(const char *voice, u32buf *in, u32buf *ph, kt_error *err)
{
    if (!lang_is_english(voice))
        angles_to_curly(in);
    pthread_mutex_lock(&espeak_lock);
    kt_status st = espeak_init_locked(err);
    if (!st)
        st = espeak_select_locked(voice, err);
    if (!st)
        st = phonemize_raw_locked(in, ph, err);
    pthread_mutex_unlock(&espeak_lock);
    if (st)
        return st;
    if (lang_is_english(voice))
        map_english(ph, strcmp(voice, "en-us") != 0);
    else
        map_other(ph);
    return KT_OK;
}

/* ---- English through misaki's lexicon (kt/en.h), espeak-ng for unknown words -------------------- */

typedef struct {
    const char *voice;
    u32buf *dropped; /* letters of other scripts, kept from espeak-ng */
} en_fallback_ctx;

/* kt_en_fallback_fn: one unknown word through espeak-ng and the English mapping. */
static int english_fallback(void *ctx, const char *word, char **out)
{
    const en_fallback_ctx *f = ctx;
    u32buf in = {0}, ph = {0};
    kt_error e;
    *out = NULL;
    if (utf8_decode_into(word, &in) != 0) {
        ub_free(&in);
        return -1;
    }
    filter_scripts(&in, f->voice, f->dropped);
    pthread_mutex_lock(&espeak_lock);
    kt_status st = espeak_init_locked(&e);
    if (!st)
        st = espeak_select_locked(f->voice, &e);
    if (!st)
        st = phonemize_raw_locked(&in, &ph, &e);
    pthread_mutex_unlock(&espeak_lock);
    if (!st) {
        map_english(&ph, strcmp(f->voice, "en-us") != 0);
        for (size_t i = 0; i < ph.n; i++) /* "3:30", "a.html": the marks inside one word are not pauses */
            if (is_mark(ph.p[i]))
                ph.p[i] = ' ';
        filter_vocab(&ph, NULL, &in);
        *out = ph.failed ? NULL : utf8_encode(ph.p, ph.n);
    }
    ub_free(&in);
    ub_free(&ph);
    return *out ? 0 : -1;
}

/* English text through the lexicon into ph (letters of other scripts that would reach
 * espeak-ng are listed in dropped instead); KT_ENOTFOUND
 * when the lexicon files are missing (the caller then uses espeak-ng alone). */
static kt_status phonemize_english(const u32buf *in, const char *voice, const kt_en_lexicon *user_lex, u32buf *ph,
                                   u32buf *dropped, kt_error *err)
{
    kt_en_lexicon *own = NULL;
    const kt_en_lexicon *lex = user_lex;
    en_fallback_ctx fb = {voice, dropped};
    char *text = NULL, *res = NULL;
    kt_status st = KT_OK;
    if (!lex) {
        kt_error quiet;
        if (kt_en_lexicon_open_lang(voice, &own, &quiet))
            return KT_ENOTFOUND;
        lex = own;
    }
    if (!(text = utf8_encode(in->p, in->n))) {
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
        goto done;
    }
    st = kt_en_phonemize(lex, text, english_fallback, &fb, &res, err);
    if (!st && utf8_decode_into(res, ph) != 0)
        st = kt_error_set(err, KT_EINVAL, "English phonemes are not valid UTF-8");
done:
    free(text);
    free(res);
    kt_en_lexicon_close(own);
    return st;
}

kt_status kt_g2p_phonemize(const char *text, const char *lang, const kt_config *cfg, char **out, char **dropped,
                           kt_error *err)
{
    return kt_g2p_phonemize_lex(text, lang, NULL, cfg, out, dropped, err);
}

kt_status kt_g2p_phonemize_lex(const char *text, const char *lang, const kt_en_lexicon *lex, const kt_config *cfg,
                               char **out, char **dropped, kt_error *err)
{
    u32buf in = {0}, ph = {0}, drop = {0};
    kt_status st = KT_OK;
    const char *voice = kt_g2p_espeak_voice(lang);
    *out = NULL;
    if (dropped)
        *dropped = NULL;
    if (!voice)
        return kt_error_set(err, KT_EINVAL, "no language given");
    if (utf8_decode_into(text, &in) != 0) {
        st = kt_error_set(err, KT_EINVAL, "text is not valid UTF-8");
        goto fail;
    }
    if (lang_is_english(voice) && (st = phonemize_english(&in, voice, lex, &ph, &drop, err)) != KT_ENOTFOUND) {
        if (st)
            goto fail;
        goto mapped;
    }
    st = KT_OK;
    filter_scripts(&in, voice, &drop);
    if (!strcmp(voice, "cmn"))
        st = phonemize_native(kt_g2p_zh_text, &in, &ph, &drop, err);
    else if (!strcmp(voice, "ja"))
        st = phonemize_native(kt_g2p_ja, &in, &ph, &drop, err);
    else
#if KT_ESPEAK
        st = phonemize_espeak(voice, &in, &ph, err);
#else
        st = kt_g2p_unconvertible(text, lang, err), (void)phonemize_espeak;
#endif
    if (st)
        goto fail;
mapped:
    filter_vocab(&ph, cfg, &drop);
    if (ph.failed || drop.failed || in.failed) {
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
        goto fail;
    }
    *out = utf8_encode(ph.p, ph.n);
    if (dropped && drop.n)
        *dropped = utf8_encode(drop.p, drop.n);
    if (!*out || (dropped && drop.n && !*dropped)) {
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
        goto fail;
    }
    ub_free(&in);
    ub_free(&ph);
    ub_free(&drop);
    return KT_OK;
fail:
    free(*out);
    *out = NULL;
    if (dropped) {
        free(*dropped);
        *dropped = NULL;
    }
    ub_free(&in);
    ub_free(&ph);
    ub_free(&drop);
    return st;
}

/* ---- chunking -------------------------------------------------------------------------------- */

void kt_chunk_list_free(kt_chunk_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i].phonemes);
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

kt_status kt_chunk_list_push(kt_chunk_list *l, const char *s, size_t n, kt_error *err)
{
    char *copy = strndup(s, n);
    size_t count = copy ? kt_utf8_count(copy) : 0;
    kt_chunk *items = copy ? realloc(l->items, (l->count + 1) * sizeof *items) : NULL;
    if (copy && count == (size_t)-1) {
        free(copy);
        return kt_error_set(err, KT_EINVAL, "invalid UTF-8 in phonemes");
    }
    if (!items) {
        free(copy);
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    }
    l->items = items;
    items[l->count++] = (kt_chunk){copy, count};
    return KT_OK;
}

int kt_phoneme_is_punct(uint32_t c)
{
    return c == ' ' || is_mark(c) || c == 0x2192 || c == 0x2193 || c == 0x2197 || c == 0x2198;
}

static kt_status chunk_add(kt_chunk_list *l, const uint32_t *s, size_t n, kt_error *err)
{
    while (n > 0 && s[0] == ' ')
        s++, n--;
    while (n > 0 && s[n - 1] == ' ')
        n--;
    if (n == 0)
        return KT_OK;
    kt_chunk *items = realloc(l->items, (l->count + 1) * sizeof *items);
    if (!items)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    l->items = items;
    items[l->count].phonemes = utf8_encode(s, n);
    items[l->count].n_symbols = n;
    if (!items[l->count].phonemes)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    l->count++;
    return KT_OK;
}

typedef struct {
    size_t start, len; /* a word: s[start .. start+len) */
} word;

/* The last non-closing symbol of a word (skipping ) ” "), or 0. */
static uint32_t word_end_symbol(const uint32_t *s, const word *w)
{
    for (size_t i = w->len; i > 0; i--) {
        uint32_t c = s[w->start + i - 1];
        if (c != ')' && c != 0x201D && c != '"')
            return c;
    }
    return 0;
}

static int in_set(uint32_t c, const uint32_t *set)
{
    for (; *set; set++)
        if (*set == c)
            return 1;
    return 0;
}

/* Length in code points of words[a..b) joined by single spaces. */
static size_t words_len(const word *w, size_t a, size_t b)
{
    size_t n = 0;
    for (size_t i = a; i < b; i++)
        n += w[i].len + (i > a);
    return n;
}

/* upstream's waterfall_last: how many of the pending words (w[0..np)) to emit when word np overflows. */
static size_t waterfall_cut(const uint32_t *s, const word *w, size_t np, size_t max)
{
    static const uint32_t sets[3][5] = {{'!', '.', '?', 0x2026, 0}, {':', ';', 0}, {',', 0x2014, 0}};
    for (int k = 0; k < 3; k++) {
        size_t z = np;
        while (z > 0 && !in_set(word_end_symbol(s, &w[z - 1]), sets[k]))
            z--;
        if (z == 0)
            continue;
        /* a lone closing word right after the cut goes with it */
        if (z < np && w[z].len == 1 && (s[w[z].start] == ')' || s[w[z].start] == 0x201D))
            z++;
        if (words_len(w, z, np + 1) <= max)
            return z;
    }
    return np;
}

/* Emits w[0..z) as one chunk (hard-splitting anything longer than max). */
static kt_status emit_words(const uint32_t *s, const word *w, size_t z, size_t max, kt_chunk_list *out,
                            kt_error *err)
{
    if (z == 0)
        return KT_OK;
    size_t a = w[0].start, b = w[z - 1].start + w[z - 1].len;
    kt_status st = KT_OK;
    while (!st && b - a > max) {
        st = chunk_add(out, s + a, max, err);
        a += max;
    }
    return st ? st : chunk_add(out, s + a, b - a, err);
}

/* The words of s[0..n) (separated by ' ') into w (room for n / 2 + 1); their count. */
static size_t split_words(const uint32_t *s, size_t n, word *w)
{
    size_t nw = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && s[i] == ' ')
            i++;
        if (i == n)
            break;
        size_t j = i;
        while (j < n && s[j] != ' ')
            j++;
        w[nw].start = i;
        w[nw].len = j - i;
        nw++;
        i = j;
    }
    return nw;
}

static kt_status chunk_line(const uint32_t *s, size_t n, size_t max, kt_chunk_list *out, kt_error *err)
{
    word *w = malloc((n / 2 + 2) * sizeof *w);
    size_t nw, np = 0;
    kt_status st = KT_OK;
    if (!w)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    nw = split_words(s, n, w);
    word *p = w; /* pending words are p[0..np) */
    for (size_t i = 0; i < nw && !st; i++) {
        np = (size_t)(&w[i] - p);
        if (np > 0 && words_len(p, 0, np + 1) > max) {
            size_t z = waterfall_cut(s, p, np, max);
            st = emit_words(s, p, z, max, out, err);
            p += z;
        }
    }
    if (!st)
        st = emit_words(s, p, (size_t)(&w[nw] - p), max, out, err);
    free(w);
    return st;
}

kt_status kt_phonemes_chunk(const char *phonemes, size_t max, kt_chunk_list *out, kt_error *err)
{
    u32buf s = {0};
    kt_status st = KT_OK;
    memset(out, 0, sizeof *out);
    if (max < 1)
        return kt_error_set(err, KT_EINVAL, "chunk size must be at least 1");
    if (utf8_decode_into(phonemes, &s) != 0) {
        ub_free(&s);
        return kt_error_set(err, KT_EINVAL, "phonemes are not valid UTF-8");
    }
    if (s.failed) {
        ub_free(&s);
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < s.n; i++) /* tabs and other blanks count as word separators */
        if (is_space(s.p[i]) && s.p[i] != '\n' && s.p[i] != '\r')
            s.p[i] = ' ';
    for (size_t i = 0; i < s.n && !st;) {
        size_t j = i;
        while (j < s.n && s.p[j] != '\n' && s.p[j] != '\r')
            j++;
        st = chunk_line(s.p + i, j - i, max, out, err);
        i = j + 1;
    }
    ub_free(&s);
    if (st)
        kt_chunk_list_free(out);
    return st;
}

kt_status kt_chunk_list_split_first(kt_chunk_list *l, size_t max, kt_error *err)
{
    if (max < 1)
        return kt_error_set(err, KT_EINVAL, "first chunk size must be at least 1");
    if (l->count == 0 || l->items[0].n_symbols <= max)
        return KT_OK;
    u32buf s = {0};
    kt_chunk_list two = {0};
    kt_status st = KT_OK;
    word *w = NULL;
    if (utf8_decode_into(l->items[0].phonemes, &s) != 0 || s.failed ||
        !(w = malloc((s.n / 2 + 2) * sizeof *w))) {
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
        goto done;
    }
    size_t nw = split_words(s.p, s.n, w), np = 1;
    while (np < nw && words_len(w, 0, np + 1) <= max)
        np++;
    size_t z = np < nw ? waterfall_cut(s.p, w, np, max) : np;
    if (z >= nw)
        goto done;
    size_t end0 = w[z - 1].start + w[z - 1].len, end1 = w[nw - 1].start + w[nw - 1].len;
    if ((st = chunk_add(&two, s.p + w[0].start, end0 - w[0].start, err)) ||
        (st = chunk_add(&two, s.p + w[z].start, end1 - w[z].start, err)))
        goto done;
    kt_chunk *items = realloc(l->items, (l->count + 1) * sizeof *items);
    if (!items) {
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
        goto done;
    }
    l->items = items;
    memmove(items + 2, items + 1, (l->count - 1) * sizeof *items);
    free(items[0].phonemes);
    items[0] = two.items[0];
    items[1] = two.items[1];
    l->count++;
    free(two.items);
    two.items = NULL;
    two.count = 0;
done:
    kt_chunk_list_free(&two);
    free(w);
    ub_free(&s);
    return st;
}

/* Appends list b's chunks to a (taking them). */
static kt_status chunks_take(kt_chunk_list *a, kt_chunk_list *b, kt_error *err)
{
    if (b->count == 0)
        return KT_OK;
    kt_chunk *items = realloc(a->items, (a->count + b->count) * sizeof *items);
    if (!items)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    memcpy(items + a->count, b->items, b->count * sizeof *items);
    a->items = items;
    a->count += b->count;
    free(b->items);
    b->items = NULL;
    b->count = 0;
    return KT_OK;
}

/* Merges the distinct symbols of add into *all (both malloc'd UTF-8 or NULL). */
static kt_status merge_dropped(char **all, char *add, kt_error *err)
{
    if (!add)
        return KT_OK;
    u32buf a = {0}, b = {0};
    if (*all)
        utf8_decode_into(*all, &a);
    utf8_decode_into(add, &b);
    for (size_t i = 0; i < b.n; i++) {
        size_t k = 0;
        while (k < a.n && a.p[k] != b.p[i])
            k++;
        if (k == a.n)
            ub_push(&a, b.p[i]);
    }
    char *res = a.failed || b.failed ? NULL : utf8_encode(a.p, a.n);
    ub_free(&a);
    ub_free(&b);
    free(add);
    if (!res)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    free(*all);
    *all = res;
    return KT_OK;
}

int kt_phonemes_has_words(const char *phonemes)
{
    u32buf s = {0};
    int found = 0;
    utf8_decode_into(phonemes, &s);
    for (size_t k = 0; k < s.n && !found; k++)
        found = !kt_phoneme_is_punct(s.p[k]) && !is_space(s.p[k]);
    ub_free(&s);
    return found;
}

static int has_words(const kt_chunk_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        if (kt_phonemes_has_words(l->items[i].phonemes))
            return 1;
    return 0;
}

/* Phonemizes and chunks one line of text, appending to out. */
static kt_status text_line(const char *line, const char *lang, const kt_en_lexicon *lex, const kt_config *cfg,
                           kt_chunk_list *out, char **dropped, kt_error *err)
{
    char *ph = NULL, *drop = NULL;
    kt_chunk_list part = {0};
    kt_status st = kt_g2p_phonemize_lex(line, lang, lex, cfg, &ph, &drop, err);
    if (!st)
        st = merge_dropped(dropped, drop, err);
    else
        free(drop);
    if (!st)
        st = kt_phonemes_chunk(ph, KT_G2P_MAX_PHONEMES, &part, err);
    if (!st)
        st = chunks_take(out, &part, err);
    kt_chunk_list_free(&part);
    free(ph);
    return st;
}

kt_status kt_g2p_text_chunks(const char *text, const char *lang, const kt_config *cfg, kt_chunk_list *out,
                             char **dropped, kt_error *err)
{
    kt_en_lexicon *own = NULL;
    kt_error quiet;
    const char *voice = kt_g2p_espeak_voice(lang);
    if (voice && lang_is_english(voice)) /* opened once for all lines; absent means espeak-ng alone */
        kt_en_lexicon_open_lang(voice, &own, &quiet);
    kt_status st = kt_g2p_text_chunks_lex(text, lang, own, cfg, out, dropped, err);
    kt_en_lexicon_close(own);
    return st;
}

kt_status kt_g2p_text_chunks_lex(const char *text, const char *lang, const kt_en_lexicon *lex, const kt_config *cfg,
                                 kt_chunk_list *out, char **dropped, kt_error *err)
{
    char *dummy = NULL, *copy = strdup(text);
    char **dr = dropped ? dropped : &dummy;
    kt_status st = KT_OK;
    memset(out, 0, sizeof *out);
    *dr = NULL;
    if (!copy)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    int blank = 1;
    for (const char *q = text; *q && blank; q++)
        blank = (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r' || *q == '\v' || *q == '\f');
    if (blank) {
        st = kt_error_set(err, KT_EINVAL, "empty text");
        goto fail;
    }
    for (char *line = copy; line && !st;) {
        char *nl = strpbrk(line, "\r\n");
        if (nl)
            *nl = '\0';
        st = text_line(line, lang, lex, cfg, out, dr, err);
        line = nl ? nl + 1 : NULL;
    }
    if (!st && !has_words(out))
        st = kt_error_set(err, KT_EINVAL, "no pronounceable words in the text");
    if (st)
        goto fail;
    free(copy);
    free(dummy);
    return KT_OK;
fail:
    free(copy);
    free(*dr);
    *dr = NULL;
    kt_chunk_list_free(out);
    return st;
}

/* ---- ids ------------------------------------------------------------------------------------- */

kt_status kt_phonemes_to_ids(const kt_config *cfg, const char *phonemes, int **ids, size_t *n, kt_error *err)
{
    u32buf s = {0};
    *ids = NULL;
    *n = 0;
    if (utf8_decode_into(phonemes, &s) != 0 || s.failed) {
        int oom = s.failed;
        ub_free(&s);
        return oom ? kt_error_set(err, KT_ENOMEM, "out of memory")
                   : kt_error_set(err, KT_EINVAL, "phonemes are not valid UTF-8");
    }
    int *v = malloc((s.n ? s.n : 1) * sizeof *v);
    if (!v) {
        ub_free(&s);
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < s.n; i++) {
        int id = kt_config_vocab_id(cfg, s.p[i]);
        if (id < 0) {
            char sym[8] = {0};
            utf8_put(s.p[i], sym);
            kt_error_set(err, KT_EINVAL, "phoneme '%s' (U+%04X) at position %zu is not in the vocabulary", sym,
                         s.p[i], i + 1);
            free(v);
            ub_free(&s);
            return KT_EINVAL;
        }
        v[i] = id;
    }
    *ids = v;
    *n = s.n;
    ub_free(&s);
    return KT_OK;
}

size_t kt_voice_row(size_t n, size_t rows)
{
    if (n == 0)
        n = 1;
    if (rows == 0)
        return 0;
    return n - 1 < rows ? n - 1 : rows - 1;
}

size_t kt_phonemes_voice_row(const char *phonemes, size_t rows)
{
    size_t n = kt_utf8_count(phonemes);
    return kt_voice_row(n == (size_t)-1 ? 1 : n, rows);
}
