/* tts.c - the text -> audio pipeline: config and model, G2P and chunking, the voice, chunk
 * synthesis on a per-call state, timings and callbacks. */
#define _GNU_SOURCE
#include "kt/kt.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kt/align.h"
#include "kt/config.h"
#include "kt/g2p.h"
#include "kt/g2p_lang.h"
#include "kt/grow.h"
#include "kt/en.h"
#include "kt/kernels.h"
#include "kt/kokoro.h"
#include "kt/markup.h"
#include "kt/strbuf.h"
#include "kt/voice.h"
#include "tts_impl.h"

struct kt_tts {
    kt_model *model;
    char *voices_dir;   /* owned, or NULL for kt_voice_default_dir() */
    char *model_path;   /* owned: bare voice names are also looked up among its embedded voices */
    int single_caller;  /* calls hold lock and synthesize on the model itself */
    int share_threads;  /* chunks take their threads from the free ones (kt_tts_params.share_threads) */
    int threads;        /* the model's threads */
    int threads_held;   /* share_threads: threads the running chunks hold (under lock) */
    _Atomic int crowded; /* share_threads: threads_held > threads (set under lock, read by the pools) */
    double load_seconds; /* kt_tts_open's time */
    kt_synth_state **idle; /* states of finished calls, for the next ones (under lock) */
    int n_idle, cap_idle;
    pthread_mutex_t lock;
};

#define KT_STR2(x) #x
#define KT_STR(x) KT_STR2(x)

const char *kt_version(void)
{
    return KT_STR(KT_VERSION_MAJOR) "." KT_STR(KT_VERSION_MINOR) "." KT_STR(KT_VERSION_PATCH);
}

int kt_version_number(void) { return KT_VERSION_NUMBER; }

void kt_free(void *p) { free(p); }

kt_tts_params kt_tts_default_params(void)
{
    kt_tts_params p;
    memset(&p, 0, sizeof p);
    return p;
}

kt_tts_synth_params kt_tts_default_synth_params(void)
{
    kt_tts_synth_params p;
    memset(&p, 0, sizeof p);
    return p;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of the whole process (every thread) so far. */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- open / close ---------------------------------------------------------------------------- */

static kt_status load_config(const char *path, kt_config *cfg, kt_error *err)
{
    kt_status st = path ? kt_config_load(path, cfg, err) : kt_config_default(cfg, err);
    if (st)
        kt_error_prefix(err, path ? path : "built-in config");
    return st;
}

static kt_status isa_param(const char *isa, int *out, kt_error *err)
{
    if (!isa)
        *out = KT_ISA_AVX512;
    else if (!strcmp(isa, "generic"))
        *out = KT_ISA_GENERIC;
    else if (!strcmp(isa, "avx2"))
        *out = KT_ISA_AVX2;
    else if (!strcmp(isa, "avx512"))
        *out = KT_ISA_AVX512;
    else
        return kt_error_set(err, KT_EINVAL, "unknown isa '%s' (generic, avx2 or avx512)", isa);
    return KT_OK;
}

/* A single-caller model's work buffer made at load, pages and all: for 3 s of audio, a short
 * sentence or a stream's first chunk, so that their synthesis takes no page faults in it
 * (kt_model_params.work_frames; shared models leave it to their states). */
#define TTS_WORK_FRAMES 120

kt_status kt_tts_open(const kt_tts_params *p, kt_tts **out, kt_error *err)
{
    kt_config cfg = {0};
    kt_model_params mp = kt_model_default_params();
    kt_status st;
    kt_tts *t = NULL;
    double t0 = now_seconds();
    *out = NULL;
    if (!p || !p->model_path)
        return kt_error_set(err, KT_EINVAL, "no model file given");
    if ((st = isa_param(p->isa, &mp.max_isa, err)) || (st = load_config(p->config_path, &cfg, err)))
        return st;
    if (!(t = calloc(1, sizeof *t)) || (p->voices_dir && !(t->voices_dir = strdup(p->voices_dir))) ||
        !(t->model_path = strdup(p->model_path))) {
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
        goto fail;
    }
    mp.n_threads = p->n_threads;
    mp.bf16 = p->bf16 != 0;
    if (p->bf16 == KT_BF16_WINOGRAD)
        mp.winograd = KT_WINOGRAD_BF16;
    mp.gen_lowmem = p->gen_lowmem;
    mp.release_weights = p->single_caller != 0;
    mp.blas_serial = !p->keep_blas_threads;
    mp.work_frames = TTS_WORK_FRAMES;
    if ((st = kt_model_load(p->model_path, &cfg, &mp, &t->model, err))) {
        kt_error_prefix(err, p->model_path);
        goto fail;
    }
    t->single_caller = p->single_caller != 0;
    t->share_threads = p->share_threads && !p->single_caller;
    t->threads = kt_model_threads(t->model);
    t->load_seconds = now_seconds() - t0;
    pthread_mutex_init(&t->lock, NULL);
    kt_config_free(&cfg);
    *out = t;
    return KT_OK;
fail:
    kt_config_free(&cfg);
    if (t) {
        free(t->voices_dir);
        free(t->model_path);
    }
    free(t);
    return st;
}

void kt_tts_close(kt_tts *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->lock);
    for (int i = 0; i < t->n_idle; i++)
        kt_synth_state_free(t->idle[i]);
    free(t->idle);
    kt_model_free(t->model);
    free(t->voices_dir);
    free(t->model_path);
    free(t);
}

/* ---- text and phonemes to chunks ------------------------------------------------------------- */

static int has_words(const kt_chunk_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        if (kt_phonemes_has_words(l->items[i].phonemes))
            return 1;
    return 0;
}

/* Input phonemes: every symbol must be in the vocab; then chunked. */
static kt_status phoneme_chunks(const char *text, const kt_config *cfg, kt_chunk_list *chunks, kt_error *err)
{
    int *ids = NULL;
    size_t n = 0;
    char *flat = strdup(text);
    if (!flat)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    for (char *p = flat; *p; p++) /* line breaks separate chunks; they are not symbols */
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    kt_status st = kt_phonemes_to_ids(cfg, flat, &ids, &n, err);
    free(flat);
    free(ids);
    if (!st)
        st = kt_phonemes_chunk(text, KT_G2P_MAX_PHONEMES, chunks, err);
    if (st)
        kt_error_prefix(err, "phonemes");
    else if (chunks->count == 0)
        st = kt_error_set(err, KT_EINVAL, "phonemes: empty input");
    else if (!has_words(chunks))
        st = kt_error_set(err, KT_EINVAL, "phonemes: nothing but punctuation");
    return st;
}

static kt_status text_chunks(const char *text, const char *lang, const kt_config *cfg,
                             const kt_tts_synth_params *p, kt_chunk_list *chunks, kt_error *err)
{
    char *dropped = NULL;
    kt_en_lexicon *lex = NULL;
    kt_status st = KT_OK;
    if (p->lexicon && !(st = kt_en_lexicon_open_lang(lang, &lex, err)) && (st = kt_en_lexicon_load_tsv(lex, p->lexicon, err)))
        kt_error_prefix(err, p->lexicon);
    if (!st)
        st = lex ? kt_g2p_text_chunks_lex(text, lang, lex, cfg, chunks, &dropped, err)
                 : kt_g2p_text_chunks(text, lang, cfg, chunks, &dropped, err);
    kt_en_lexicon_close(lex);
    if (!st && dropped && p->on_warning) {
        char msg[512];
        snprintf(msg, sizeof msg, "dropped what it cannot speak (another script, or not in the vocabulary): %s",
                 dropped);
        p->on_warning(p->user, msg);
    }
    free(dropped);
    return st;
}

/* The language of a voice specification (a name, file, bundle member, embedded voice or a
 * blend of one language); an error when it cannot be told or the blend mixes languages. */
static kt_status voice_lang(const char *voice, const char **lang, kt_error *err)
{
    kt_status st = kt_g2p_lang_for_spec(voice, lang, err);
    if (st) {
        kt_error_prefix(err, voice);
        return st;
    }
    if (!*lang)
        return kt_error_set(err, KT_EINVAL, "%s: cannot tell the language from the voice name; give the language",
                            voice);
    return KT_OK;
}

/* What markup and silence control add to each chunk. */
typedef struct {
    double after; /* seconds of silence after the chunk (markup pauses) */
    double rate;  /* factor on the speed */
    char *voice;  /* the <voice name> in effect, owned; NULL: the call's voice */
    size_t vi;    /* its index in the loaded voices (set by load_span_voices) */
    int boundary; /* what ends with the chunk: 0 nothing known, 1 a sentence, 2 a paragraph */
} chunk_extra;

/* A written word of the input and the phoneme words (numbered across all chunks) that speak it. */
typedef struct {
    char *text; /* owned */
    size_t byte_start, byte_end, char_start, char_end;
    size_t pw_first, pw_count;
} plan_word;

/* The chunks of one call, what markup adds to them and the words they speak. */
typedef struct {
    kt_chunk_list chunks;
    chunk_extra *extra; /* one per chunk */
    double lead;        /* seconds of silence before the first chunk */
    plan_word *words;
    size_t n_words, cap_words;
    size_t n_pw;        /* phoneme words in all chunks */
    const char *input;  /* the caller's text */
    size_t input_len;
    int split_sentences; /* each sentence a chunk of its own (silence control) */
} tts_plan;

static void plan_free(tts_plan *pl)
{
    for (size_t i = 0; pl->extra && i < pl->chunks.count; i++)
        free(pl->extra[i].voice);
    for (size_t i = 0; i < pl->n_words; i++)
        free(pl->words[i].text);
    free(pl->words);
    free(pl->extra);
    kt_chunk_list_free(&pl->chunks);
    memset(pl, 0, sizeof *pl);
}

static int ends_sentence(const char *phonemes);

/* Moves part's chunks to the end of pl, each with rate and voice (may be NULL). */
static kt_status plan_append(tts_plan *pl, kt_chunk_list *part, double rate, const char *voice, kt_error *err)
{
    size_t n = pl->chunks.count + part->count;
    kt_status st = KT_OK;
    kt_chunk *items = realloc(pl->chunks.items, (n ? n : 1) * sizeof *items);
    if (items)
        pl->chunks.items = items;
    chunk_extra *ex = items ? realloc(pl->extra, (n ? n : 1) * sizeof *ex) : NULL;
    if (ex)
        pl->extra = ex;
    for (size_t i = 0; i < part->count && ex && !st; i++) {
        chunk_extra e = {0, rate, voice ? strdup(voice) : NULL, 0, ends_sentence(part->items[i].phonemes)};
        if (voice && !e.voice)
            break;
        pl->extra[pl->chunks.count] = e;
        pl->chunks.items[pl->chunks.count++] = part->items[i];
        part->items[i].phonemes = NULL;
    }
    if (!ex || pl->chunks.count != n)
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
    kt_chunk_list_free(part);
    return st;
}

/* ---- sentences and words --------------------------------------------------------------------- */

static int is_closer(uint32_t c) { return c == ')' || c == '"' || c == 0x201D || c == 0x2019 || c == 0xBB; }

static int is_sentence_end(uint32_t c) { return c == '.' || c == '!' || c == '?' || c == 0x2026; }

/* 1 if the phonemes s[0..e) end a sentence: . ! ? or … before any closing quotes and brackets. */
static int ends_sentence_at(const char *s, size_t e)
{
    while (e > 0 && s[e - 1] == ' ')
        e--;
    while (e > 0) {
        size_t b;
        uint32_t c = kt_utf8_before(s, e, &b);
        if (!is_closer(c))
            return is_sentence_end(c);
        e = b;
    }
    return 0;
}

static int ends_sentence(const char *phonemes) { return ends_sentence_at(phonemes, strlen(phonemes)); }

/* Cuts each chunk of l after every word that ends a sentence. */
static kt_status split_sentences(kt_chunk_list *l, kt_error *err)
{
    kt_chunk_list out = {0};
    kt_status st = KT_OK;
    for (size_t i = 0; i < l->count && !st; i++) {
        const char *s = l->items[i].phonemes;
        size_t from = 0, len = strlen(s);
        for (size_t k = 0; k <= len && !st; k++) {
            if (k < len && !(s[k] == ' ' && ends_sentence_at(s + from, k - from)))
                continue;
            while (from < k && s[from] == ' ')
                from++;
            if (k > from)
                st = kt_chunk_list_push(&out, s + from, k - from, err);
            from = k + 1;
        }
    }
    if (st) {
        kt_chunk_list_free(&out);
        return st;
    }
    kt_chunk_list_free(l);
    *l = out;
    return KT_OK;
}

static kt_status push_word(tts_plan *pl, const plan_word *w, kt_error *err)
{
    void *v = pl->words;
    if (kt_grow(&v, &pl->cap_words, pl->n_words + 1, sizeof *w))
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    pl->words = v;
    pl->words[pl->n_words++] = *w;
    return KT_OK;
}

/* 1 if input byte h lies inside a markup tag (after a '<' not yet closed by '>'). */
static int in_tag(const char *input, size_t from, size_t h)
{
    while (h > from && input[h - 1] != '<' && input[h - 1] != '>')
        h--;
    return h > from && input[h - 1] == '<';
}

/* Where a written word of src (a segment read from input bytes [from, to)) is in the input: the
 * same bytes when src is that span, else the word searched for in the text between tags from
 * *cursor on. Returns 0 when it is not there (markup rewrote it). */
static int place_word(const tts_plan *pl, const char *src, int phonemes, size_t from, size_t to, size_t *cursor,
                      const kt_align_word *a, plan_word *w)
{
    size_t n = a->byte_end - a->byte_start, slen = strlen(src);
    if (to - from == slen && !memcmp(pl->input + from, src, slen)) {
        w->byte_start = from + a->byte_start, w->byte_end = from + a->byte_end;
        return 1;
    }
    for (size_t at = *cursor; !phonemes && at < to;) { /* <phoneme ph>: its words are in an attribute */
        const char *hit = memmem(pl->input + at, to - at, src + a->byte_start, n);
        if (!hit)
            break;
        size_t h = (size_t)(hit - pl->input);
        if (!in_tag(pl->input, from, h)) {
            w->byte_start = h, w->byte_end = h + n;
            *cursor = w->byte_end;
            return 1;
        }
        at = h + 1;
    }
    return 0;
}

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Words of one segment that were not found in the input get the bytes between the words around
 * them that were (the markup that made them: a <sub> element, a <say-as>, ...). */
static void place_rewritten(const tts_plan *pl, plan_word *w, const int *found, size_t n, size_t from, size_t to)
{
    for (size_t i = 0; i < n;) {
        if (found[i]) {
            i++;
            continue;
        }
        size_t j = i, a = i ? w[i - 1].byte_end : from, b;
        while (j < n && !found[j])
            j++;
        b = j < n ? w[j].byte_start : to;
        while (a < b && is_blank(pl->input[a]))
            a++;
        while (b > a && is_blank(pl->input[b - 1]))
            b--;
        for (; i < j; i++)
            w[i].byte_start = a, w[i].byte_end = b;
    }
}

/* The written words of src matched to the phoneme words of part (kt/align.h), appended to pl's. */
static kt_status add_words(tts_plan *pl, const kt_chunk_list *part, const char *src, int phonemes, size_t from,
                           size_t to, kt_error *err)
{
    kt_phoneme_word *pw = NULL;
    kt_align_word *aw = NULL;
    size_t npw = 0, naw = 0, cursor = from;
    kt_status st = KT_OK;
    for (size_t i = 0; i < part->count && !st; i++)
        st = kt_phoneme_words(part->items[i].phonemes, &pw, &npw, err);
    if (!st)
        st = kt_align_words(src, strlen(src), pw, npw, phonemes, &aw, &naw, err);
    int *found = st ? NULL : calloc(naw ? naw : 1, sizeof *found);
    size_t first = pl->n_words;
    if (!st && !found)
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
    for (size_t i = 0; !st && i < naw; i++) {
        plan_word w = {strndup(src + aw[i].byte_start, aw[i].byte_end - aw[i].byte_start), 0, 0, 0, 0,
                       pl->n_pw + aw[i].pw_first, aw[i].pw_count};
        found[i] = place_word(pl, src, phonemes, from, to, &cursor, &aw[i], &w);
        if (!w.text || (st = push_word(pl, &w, err))) {
            free(w.text);
            st = kt_error_set(err, KT_ENOMEM, "out of memory");
        }
    }
    if (!st)
        place_rewritten(pl, pl->words + first, found, naw, from, to);
    pl->n_pw += npw;
    free(pw), free(aw), free(found);
    return st;
}

/* The code point offsets of the words' bytes (one pass while they go forward). */
static void count_chars(tts_plan *pl)
{
    size_t byte = 0, chars = 0;
    for (size_t i = 0; i < pl->n_words; i++) {
        plan_word *w = &pl->words[i];
        size_t *b[2] = {&w->byte_start, &w->byte_end}, *c[2] = {&w->char_start, &w->char_end};
        for (int k = 0; k < 2; k++) {
            if (*b[k] < byte)
                byte = chars = 0;
            for (; byte < *b[k] && byte < pl->input_len; byte++)
                chars += ((unsigned char)pl->input[byte] & 0xC0) != 0x80;
            *c[k] = chars;
        }
    }
}

/* One piece of the input as chunks: sentences split when asked, words aligned, then appended. */
static kt_status plan_add(tts_plan *pl, kt_chunk_list *part, const char *src, int phonemes, size_t from, size_t to,
                          double rate, const char *voice, kt_error *err)
{
    kt_status st = KT_OK;
    if (pl->split_sentences)
        st = split_sentences(part, err);
    if (!st)
        st = add_words(pl, part, src, phonemes, from, to, err);
    if (!st)
        return plan_append(pl, part, rate, voice, err);
    kt_chunk_list_free(part);
    return st;
}

/* 1 if s has a letter or digit (any non-ASCII byte counts): a segment worth phonemizing. */
static int has_word_chars(const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c >= 0x80 || (*c >= '0' && *c <= '9') || ((*c | 0x20) >= 'a' && (*c | 0x20) <= 'z'))
            return 1;
    return 0;
}

/* Segments of markup to chunks, pauses, rates and voices. */
static kt_status markup_plan(const kt_segment_list *segs, const char *lang, const kt_config *cfg,
                             const kt_tts_synth_params *p, tts_plan *pl, kt_error *err)
{
    kt_status st = KT_OK;
    for (size_t i = 0; i < segs->count && !st; i++) {
        const kt_segment *g = &segs->items[i];
        kt_chunk_list part = {0};
        int edge = g->kind == KT_SEG_PARAGRAPH ? 2 : g->kind == KT_SEG_SENTENCE ? 1 : 0;
        chunk_extra *last = pl->chunks.count ? &pl->extra[pl->chunks.count - 1] : NULL;
        if (g->kind == KT_SEG_PAUSE && last)
            last->after += g->seconds;
        else if (g->kind == KT_SEG_PAUSE)
            pl->lead += g->seconds;
        if (last && edge > last->boundary)
            last->boundary = edge;
        if ((g->kind != KT_SEG_TEXT && g->kind != KT_SEG_PHONEMES) || !has_word_chars(g->text))
            continue;
        st = g->kind == KT_SEG_PHONEMES ? phoneme_chunks(g->text, cfg, &part, err)
                                        : text_chunks(g->text, lang, cfg, p, &part, err);
        if (st && st != KT_ENOMEM) {
            char where[64];
            snprintf(where, sizeof where, "markup at bytes %zu..%zu", g->start, g->end);
            kt_error_prefix(err, where);
        }
        if (!st)
            st = plan_add(pl, &part, g->text, g->kind == KT_SEG_PHONEMES, g->start, g->end, g->rate, g->voice, err);
        kt_chunk_list_free(&part);
    }
    if (!st && !has_words(&pl->chunks))
        st = kt_error_set(err, KT_EINVAL, "no pronounceable words in the text");
    return st;
}

/* Text with markup (SSML or [pause:...]) to a plan; text without any goes the plain way. */
static kt_status text_plan(const kt_config *cfg, const char *text, const char *lang, const kt_tts_synth_params *p,
                           tts_plan *pl, kt_error *err)
{
    size_t len = strlen(text);
    kt_markup_mode mode = p->markup == KT_TTS_MARKUP_SSML ? KT_MARKUP_SSML : KT_MARKUP_AUTO;
    kt_segment_list segs = {0};
    kt_chunk_list part = {0};
    kt_status st;
    if (p->markup == KT_TTS_MARKUP_NONE) {
        if ((st = text_chunks(text, lang, cfg, p, &part, err)))
            return st;
        return plan_add(pl, &part, text, 0, 0, len, 1.0, NULL, err);
    }
    if (p->markup != KT_TTS_MARKUP_AUTO && p->markup != KT_TTS_MARKUP_SSML)
        return kt_error_set(err, KT_EINVAL, "unknown markup mode %d", p->markup);
    st = kt_markup_parse(text, len, mode, &segs, err);
    if (st) {
        kt_error_prefix(err, "markup");
        return st;
    }
    int ssml = mode == KT_MARKUP_SSML || kt_markup_is_ssml(text, len);
    int plain = (segs.count == 0 && !ssml) ||
                (segs.count == 1 && segs.items[0].kind == KT_SEG_TEXT && !strcmp(segs.items[0].text, text));
    if (!plain)
        st = markup_plan(&segs, lang, cfg, p, pl, err);
    else if (!(st = text_chunks(text, lang, cfg, p, &part, err)))
        st = plan_add(pl, &part, text, 0, 0, len, 1.0, NULL, err);
    kt_segment_list_free(&segs);
    return st;
}

/* After the first chunk was cut in two: the first half has no pause after it, the rest of chunk
 * 0's settings. */
static kt_status plan_split_first(tts_plan *pl, size_t before, kt_error *err)
{
    size_t n = pl->chunks.count;
    if (!pl->extra || n == before)
        return KT_OK;
    chunk_extra *ex = realloc(pl->extra, n * sizeof *ex);
    if (!ex)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    pl->extra = ex;
    memmove(ex + 1, ex, (n - 1) * sizeof *ex);
    ex[0].after = 0;
    ex[0].boundary = 0;
    if (ex[1].voice && !(ex[0].voice = strdup(ex[1].voice))) {
        ex[0].voice = NULL;
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    }
    return KT_OK;
}

static kt_status make_plan(const kt_config *cfg, const char *text, const char *voice, const kt_tts_synth_params *p,
                           tts_plan *pl, kt_error *err)
{
    const char *lang = p->lang;
    kt_status st;
    if (!text)
        return kt_error_set(err, KT_EINVAL, "empty text");
    if (p->first_chunk < 0 || p->first_chunk > KT_G2P_MAX_PHONEMES)
        return kt_error_set(err, KT_EINVAL, "first_chunk must be 0..%d", KT_G2P_MAX_PHONEMES);
    if (!p->phonemes && !lang && (st = voice_lang(voice, &lang, err)))
        return st;
    pl->input = text;
    pl->input_len = strlen(text);
    pl->split_sentences = (p->gaps & KT_TTS_GAP_SENTENCE) != 0;
    if (p->phonemes) {
        kt_chunk_list part = {0};
        if (!(st = phoneme_chunks(text, cfg, &part, err)))
            st = plan_add(pl, &part, text, 1, 0, pl->input_len, 1.0, NULL, err);
    } else {
        st = text_plan(cfg, text, lang, p, pl, err);
    }
    size_t before = pl->chunks.count;
    if (!st && p->first_chunk > 0 && !(st = kt_chunk_list_split_first(&pl->chunks, (size_t)p->first_chunk, err)))
        st = plan_split_first(pl, before, err);
    if (!st)
        count_chars(pl);
    return st;
}

kt_status kt_tts_phonemes(const char *config_path, const char *text, const char *voice,
                          const kt_tts_synth_params *p, char **out, kt_error *err)
{
    kt_tts_synth_params dp = kt_tts_default_synth_params();
    kt_config cfg = {0};
    tts_plan pl = {0};
    kt_strbuf b = {0};
    kt_status st;
    *out = NULL;
    if (!voice)
        voice = "af_heart";
    if ((st = load_config(config_path, &cfg, err)) || (st = make_plan(&cfg, text, voice, p ? p : &dp, &pl, err)))
        goto done;
    if (pl.lead > 0)
        kt_strbuf_printf(&b, "[pause:%gs]\n", pl.lead);
    for (size_t i = 0; i < pl.chunks.count; i++) {
        kt_strbuf_printf(&b, "%s\n", pl.chunks.items[i].phonemes);
        if (pl.extra && pl.extra[i].after > 0)
            kt_strbuf_printf(&b, "[pause:%gs]\n", pl.extra[i].after);
    }
    if (kt_strbuf_failed(&b) || !b.data)
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
    else
        *out = b.data, b.data = NULL; /* the buffer's text, now the caller's */
done:
    kt_strbuf_free(&b);
    plan_free(&pl);
    kt_config_free(&cfg);
    return st;
}

/* ---- voice ----------------------------------------------------------------------------------- */

/* Loads a voice name, file or blend expression into v and checks it fits the model. A bare name
 * is looked up in the voice folder, then among the voices embedded in the model file. */
static kt_status load_voice(const kt_tts *t, const char *spec, kt_voice *v, kt_error *err)
{
    kt_blend_expr ex = {0};
    const char *args[1] = {spec};
    kt_status st = kt_blend_parse(args, 1, &ex, err);
    if (!st)
        st = kt_blend_weights(&ex, 1, err);
    if (!st)
        st = kt_blend_resolve_in(&ex, t->voices_dir ? t->voices_dir : kt_voice_default_dir(), t->model_path, err);
    if (!st)
        st = kt_blend_eval(&ex, v, err);
    kt_blend_expr_free(&ex);
    if (!st && v->dim != kt_model_style_size(t->model))
        st = kt_error_set(err, KT_EINVAL, "voice rows have %lld values but the model needs %d", (long long)v->dim,
                          kt_model_style_size(t->model));
    if (st)
        kt_error_prefix(err, spec);
    return st;
}

/* ---- synthesis ------------------------------------------------------------------------------- */

/* One call's synthesis: on the model itself (single caller) or on a state of its own;
 * share: the kt_tts whose free threads each chunk takes (share_threads). */
typedef struct {
    kt_model *model;
    kt_synth_state *state;
    kt_tts *share;
    int threads; /* the threads of the last run */
} runner;

/* threads_held += d, and the crowded flag that follows from it (under lock). */
static void threads_held_add(kt_tts *t, int d)
{
    t->threads_held += d;
    atomic_store_explicit(&t->crowded, t->threads_held > t->threads, memory_order_relaxed);
}

/* share_threads: the threads no running chunk holds, at least one, now held by the caller. */
static int threads_take(kt_tts *t)
{
    pthread_mutex_lock(&t->lock);
    int n = t->threads - t->threads_held;
    if (n < 1)
        n = 1;
    threads_held_add(t, n);
    pthread_mutex_unlock(&t->lock);
    return n;
}

static void threads_give(kt_tts *t, int n)
{
    pthread_mutex_lock(&t->lock);
    threads_held_add(t, -n);
    pthread_mutex_unlock(&t->lock);
}

static kt_status run_ids(runner *r, const int *ids, int n, const float *style, const kt_synth_params *sp,
                         kt_synth_result *res, kt_error *err)
{
    r->threads = kt_model_threads(r->model);
    if (!r->state)
        return kt_model_synthesize(r->model, ids, n, style, sp, res, err);
    if (!r->share)
        return kt_synth_state_run(r->state, ids, n, style, sp, res, err);
    int held = r->threads = threads_take(r->share);
    kt_synth_state_set_threads(r->state, held);
    kt_status st = kt_synth_state_run(r->state, ids, n, style, sp, res, err);
    threads_give(r->share, held);
    return st;
}

/* ---- bounded chunks (KT_TTS_CHUNK_SECONDS_MAX) ---- */

/* Where to cut n >= 2 ids whose tokens last d[] frames (BOS first): *cut = the space (id space_id)
 * whose middle frame is nearest the middle of all (*drop 1: the space goes), else the ids up to
 * the one holding the middle frame (*drop 0); both parts keep at least one id. */
static void split_point(const int *ids, int space_id, size_t n, const int *d, size_t *cut, int *drop)
{
    long total = 0, before = d[0], best = -1;
    size_t mid = 0;
    for (size_t t = 0; t < n + 2; t++)
        total += d[t];
    *drop = 0;
    for (size_t k = 0; k < n; k++) {
        long dist = labs(2 * before + d[k + 1] - total); /* twice the distance of k's middle frame */
        if (ids[k] == space_id && k > 0 && k + 1 < n && (best < 0 || dist < best)) {
            best = dist;
            *cut = k;
            *drop = 1;
        }
        before += d[k + 1];
        if (!mid && 2 * before >= total)
            mid = k + 1;
    }
    if (!*drop)
        *cut = mid < 1 ? 1 : mid > n - 1 ? n - 1 : mid;
}

/* out = part a then part b (dropped space between them when drop: its frames are a's end token's
 * and b's start token's; else those go to a's last and b's first code point). */
static kt_status join_parts(const kt_synth_result *a, const kt_synth_result *b, int drop, kt_synth_result *out,
                            kt_error *err)
{
    int na = a->n_tokens - 2, nb = b->n_tokens - 2, k = 0;
    kt_synth_result_free(out);
    out->audio = malloc(sizeof(float) * (a->n_samples + b->n_samples));
    out->durations = malloc(sizeof(int) * (size_t)(na + nb + drop + 2));
    if (!out->audio || !out->durations) {
        kt_synth_result_free(out);
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    }
    memcpy(out->audio, a->audio, sizeof(float) * a->n_samples);
    memcpy(out->audio + a->n_samples, b->audio, sizeof(float) * b->n_samples);
    int *d = out->durations;
    for (int t = 0; t <= na; t++)
        d[k++] = a->durations[t];
    if (drop)
        d[k++] = a->durations[na + 1] + b->durations[0];
    else
        d[k - 1] += a->durations[na + 1];
    int first = k;
    for (int t = 1; t <= nb + 1; t++)
        d[k++] = b->durations[t];
    if (!drop)
        d[first] += b->durations[0];
    out->n_tokens = k;
    out->n_samples = a->n_samples + b->n_samples;
    return KT_OK;
}

/* The n ids with voice v: one synthesis when its audio is at most KT_TTS_CHUNK_SECONDS_MAX, else the
 * two parts of split_point (cut at a space, id space_id; -1: none), each bounded the same way. */
static kt_status run_bounded(runner *r, const kt_voice *v, int space_id, const int *ids, size_t n, kt_synth_params *sp,
                             kt_synth_result *res, kt_error *err)
{
    size_t row = kt_voice_row(n, (size_t)v->rows), cut = 0;
    int drop = 0;
    sp->max_samples = n >= 2 ? (size_t)(KT_TTS_CHUNK_SECONDS_MAX * KT_SAMPLE_RATE) : 0;
    kt_status st = run_ids(r, ids, (int)n, v->data + row * (size_t)v->dim, sp, res, err);
    if (st || res->audio || !sp->max_samples)
        return st;
    split_point(ids, space_id, n, res->durations, &cut, &drop);
    kt_synth_result a = {0}, b = {0};
    if (!(st = run_bounded(r, v, space_id, ids, cut, sp, &a, err)) &&
        !(st = run_bounded(r, v, space_id, ids + cut + drop, n - cut - (size_t)drop, sp, &b, err)))
        st = join_parts(&a, &b, drop, res, err);
    kt_synth_result_free(&a);
    kt_synth_result_free(&b);
    if (st)
        kt_synth_result_free(res);
    return st;
}

size_t kt_tts_chunk_units(const kt_tts_chunk *c, kt_tts_timing *units, char (*sym)[KT_TTS_UNIT_BYTES])
{
    double spf = c->samples_per_frame, t0 = ((double)c->offset - (double)c->trimmed) / KT_SAMPLE_RATE;
    long f = c->token_frames[0]; /* BOS frames come first */
    const unsigned char *p = (const unsigned char *)c->phonemes;
    size_t n = 0;
    if (c->n_tokens < 2 || !c->token_frames) /* a pause: no units */
        return 0;
    for (int i = 1; i + 1 < c->n_tokens && *p; i++, n++) {
        size_t len = 1;
        while (p[len] && (p[len] & 0xC0) == 0x80)
            len++;
        memset(sym[n], 0, KT_TTS_UNIT_BYTES);
        memcpy(sym[n], p, len < KT_TTS_UNIT_BYTES - 1 ? len : KT_TTS_UNIT_BYTES - 1);
        units[n].text = sym[n];
        units[n].start = t0 + (double)f * spf / KT_SAMPLE_RATE;
        f += c->token_frames[i];
        units[n].end = t0 + (double)f * spf / KT_SAMPLE_RATE;
        p += len;
    }
    return n;
}

static kt_status deliver_timing(const kt_tts_chunk *c, const kt_tts_synth_params *p, kt_error *err)
{
    size_t cap = c->n_tokens > 2 ? (size_t)c->n_tokens - 2 : 1;
    kt_tts_timing *units = malloc(cap * sizeof *units);
    char(*sym)[KT_TTS_UNIT_BYTES] = malloc(cap * sizeof *sym);
    kt_status st = KT_OK;
    if (!units || !sym)
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
    else if (p->on_timing(p->user, units, kt_tts_chunk_units(c, units, sym)))
        st = kt_error_set(err, KT_ECANCELED, "canceled");
    free(units);
    free(sym);
    return st;
}

/* The voices of one call: the call's own, then each one <voice name> spans use, loaded once. */
typedef struct {
    kt_voice *items;
    size_t count;
} voice_set;

static void voice_set_free(voice_set *vs)
{
    for (size_t i = 0; i < vs->count; i++)
        kt_voice_free(&vs->items[i]);
    free(vs->items);
    memset(vs, 0, sizeof *vs);
}

/* Loads the call's voice as vs->items[0] and each voice the plan's spans name, once. */
static kt_status load_voices(const kt_tts *t, const char *voice, tts_plan *pl, voice_set *vs, kt_error *err)
{
    size_t n = 1;
    for (size_t i = 0; pl->extra && i < pl->chunks.count; i++)
        n += pl->extra[i].voice != NULL;
    if (!(vs->items = calloc(n, sizeof *vs->items)))
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    kt_status st = load_voice(t, voice, &vs->items[0], err);
    vs->count = 1;
    for (size_t i = 0; !st && pl->extra && i < pl->chunks.count; i++) {
        chunk_extra *e = &pl->extra[i];
        if (!e->voice)
            continue;
        for (size_t j = 0; j < i && !e->vi; j++)
            if (pl->extra[j].voice && !strcmp(pl->extra[j].voice, e->voice))
                e->vi = pl->extra[j].vi;
        if (!e->vi && !(st = load_voice(t, e->voice, &vs->items[vs->count], err)))
            e->vi = vs->count++;
    }
    return st;
}

/* Hands seconds of silence to on_audio as a chunk without tokens; *offset counts the samples. */
static kt_status deliver_silence(double seconds, size_t index, size_t count, const kt_tts_synth_params *p,
                                 size_t *offset, kt_error *err)
{
    size_t n = (size_t)lround(seconds * KT_SAMPLE_RATE);
    float *zeros = calloc(n ? n : 1, sizeof *zeros);
    kt_status st = KT_OK;
    if (!zeros)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    kt_tts_chunk c = {index, count, "", zeros, n, *offset, NULL, 0, 0, 0, 0, 0};
    if (n && p->on_audio && p->on_audio(p->user, &c))
        st = kt_error_set(err, KT_ECANCELED, "canceled");
    *offset += n;
    free(zeros);
    return st;
}

/* The words of one call as their chunks are spoken: each phoneme word's time, and the next word
 * to hand to on_words. */
typedef struct {
    double *pw_start, *pw_end; /* seconds, per phoneme word */
    size_t pw_done;            /* phoneme words timed so far */
    size_t next;               /* the next plan word to deliver */
    double last_end;           /* the end of the last word delivered */
} word_clock;

/* Silence control of chunk i: *head, *tail 1 when the model's silence before its first / after
 * its last spoken phoneme is cut; returns the silence to put after it. */
static double chunk_gap(const tts_plan *pl, const kt_tts_synth_params *p, size_t i, int *tail)
{
    const chunk_extra *e = &pl->extra[i];
    int last = i + 1 == pl->chunks.count;
    *tail = 0;
    if (!p->gaps || last)
        return e->after;
    *tail = 1;
    if (e->after > 0)
        return e->after;
    if (e->boundary == 2 && (p->gaps & KT_TTS_GAP_PARAGRAPH))
        return p->paragraph_gap;
    if (e->boundary >= 1 && (p->gaps & KT_TTS_GAP_SENTENCE))
        return p->sentence_gap;
    *tail = 0;
    return 0;
}

/* Cumulative frames of tokens: f[t] = frames before token t (t = 0..n). */
static long *frame_starts(const int *d, int n)
{
    long *f = malloc(((size_t)n + 1) * sizeof *f);
    if (f) {
        f[0] = 0;
        for (int t = 0; t < n; t++)
            f[t + 1] = f[t] + d[t];
    }
    return f;
}

/* The samples of the model's audio to cut before (*h) and after (*t) its spoken phonemes, with
 * a 5 ms fade on what stays. */
#define FADE_SAMPLES (KT_SAMPLE_RATE / 200)
static void trim_chunk(const kt_phoneme_word *pw, size_t npw, float *x, size_t n, const long *f, double spf,
                       int head, int tail, size_t *h, size_t *t)
{
    *h = *t = 0;
    if (npw == 0)
        return;
    size_t a = head ? (size_t)lround((double)f[pw[0].cp_start + 1] * spf) : 0;
    size_t b = tail ? (size_t)lround((double)f[pw[npw - 1].cp_end + 1] * spf) : n;
    if (b > n)
        b = n;
    if (a >= b)
        return;
    for (size_t k = 0; head && a && k < FADE_SAMPLES && a + k < b; k++)
        x[a + k] *= (float)k / FADE_SAMPLES;
    for (size_t k = 0; tail && b < n && k < FADE_SAMPLES && b - k > a; k++)
        x[b - 1 - k] *= (float)k / FADE_SAMPLES;
    *h = a, *t = n - b;
}

/* Times the phoneme words pw of a chunk (start of its first symbol to the end of its last). */
static void time_words(word_clock *wc, const tts_plan *pl, const kt_tts_chunk *c, const kt_phoneme_word *pw,
                       size_t npw, const long *f)
{
    double t0 = (double)c->offset - (double)c->trimmed, lo = (double)c->offset, hi = lo + (double)c->n_samples;
    for (size_t k = 0; k < npw && wc->pw_done < pl->n_pw; k++, wc->pw_done++) {
        double s = t0 + (double)f[pw[k].cp_start + 1] * c->samples_per_frame;
        double e = t0 + (double)f[pw[k].cp_end + 1] * c->samples_per_frame;
        wc->pw_start[wc->pw_done] = fmin(fmax(s, lo), hi) / KT_SAMPLE_RATE;
        wc->pw_end[wc->pw_done] = fmin(fmax(e, lo), hi) / KT_SAMPLE_RATE;
    }
}

/* Hands on_words the words whose phoneme words are all timed (all words when final). */
static kt_status deliver_words(word_clock *wc, const tts_plan *pl, const kt_tts_synth_params *p, size_t chunk,
                               int final, kt_error *err)
{
    size_t from = wc->next, n = 0;
    while (wc->next < pl->n_words &&
           (final || pl->words[wc->next].pw_first + pl->words[wc->next].pw_count <= wc->pw_done))
        wc->next++;
    if (wc->next == from)
        return KT_OK;
    kt_tts_word *v = malloc((wc->next - from) * sizeof *v);
    if (!v)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    for (size_t i = from; i < wc->next; i++, n++) {
        const plan_word *w = &pl->words[i];
        double s = w->pw_count ? wc->pw_start[w->pw_first] : wc->last_end;
        double e = w->pw_count ? wc->pw_end[w->pw_first + w->pw_count - 1] : wc->last_end;
        v[n] = (kt_tts_word){w->text, w->byte_start, w->byte_end, w->char_start, w->char_end, s, e, chunk};
        wc->last_end = e;
    }
    kt_status st = p->on_words(p->user, v, n) ? kt_error_set(err, KT_ECANCELED, "canceled") : KT_OK;
    free(v);
    return st;
}

/* Synthesizes chunk i and hands it to the callbacks; *offset counts the samples so far; *head
 * says whether to cut the model's silence before its speech, and is set for the next chunk. */
static kt_status synth_chunk(runner *r, const kt_voice *v, const tts_plan *pl, size_t i, const kt_tts_synth_params *p,
                             word_clock *wc, size_t *offset, int *head, double *gap, kt_error *err)
{
    const kt_chunk_list *chunks = &pl->chunks;
    const char *ps = chunks->items[i].phonemes;
    kt_synth_params sp = kt_synth_default_params();
    kt_synth_result res = {0};
    double t0 = now_seconds();
    int *ids = NULL, tail = 0;
    long *f = NULL;
    kt_phoneme_word *pw = NULL; /* the chunk's phoneme words: where speech starts and ends, word times */
    size_t n = 0, h = 0, t = 0, npw = 0;
    sp.speed = (float)((p->speed > 0 ? p->speed : 1.0f) * pl->extra[i].rate); /* 0: the default (negative ones refused before) */
    sp.seed = p->seed;
    const kt_config *cfg = kt_model_config(r->model);
    kt_status st = kt_phonemes_to_ids(cfg, ps, &ids, &n, err);
    if (!st)
        st = run_bounded(r, v, kt_config_vocab_id(cfg, ' '), ids, n, &sp, &res, err);
    free(ids);
    if (!st && !(f = frame_starts(res.durations, res.n_tokens)))
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
    if (!st)
        st = kt_phoneme_words(ps, &pw, &npw, err);
    if (st)
        goto done;
    double spf = f[res.n_tokens] > 0 ? (double)res.n_samples / (double)f[res.n_tokens] : 0;
    *gap = chunk_gap(pl, p, i, &tail);
    trim_chunk(pw, npw, res.audio, res.n_samples, f, spf, *head, tail, &h, &t);
    *head = tail;
    kt_tts_chunk c = {i, chunks->count, ps, res.audio + h, res.n_samples - h - t, *offset, res.durations,
                      res.n_tokens, spf, now_seconds() - t0, h, r->threads};
    if (p->on_words) {
        time_words(wc, pl, &c, pw, npw, f);
        st = deliver_words(wc, pl, p, i, 0, err);
    }
    if (!st && p->on_timing)
        st = deliver_timing(&c, p, err);
    if (!st && p->on_audio && p->on_audio(p->user, &c))
        st = kt_error_set(err, KT_ECANCELED, "canceled");
    *offset += c.n_samples;
done:
    free(f);
    free(pw);
    kt_synth_result_free(&res);
    return st;
}

static kt_status synth_all(runner *r, const voice_set *vs, const tts_plan *pl, const kt_tts_synth_params *p,
                           kt_tts_stats *stats, kt_error *err)
{
    const kt_chunk_list *chunks = &pl->chunks;
    double t0 = now_seconds(), c0 = cpu_seconds();
    size_t offset = 0;
    int head = 0;
    word_clock wc = {0};
    kt_status st = KT_OK;
    if (p->on_words && (!(wc.pw_start = malloc((pl->n_pw + 1) * sizeof(double))) ||
                        !(wc.pw_end = malloc((pl->n_pw + 1) * sizeof(double)))))
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
    if (!st && pl->lead > 0)
        st = deliver_silence(pl->lead, 0, chunks->count, p, &offset, err);
    for (size_t i = 0; i < chunks->count && !st; i++) {
        const chunk_extra *e = &pl->extra[i];
        double gap = 0;
        if (p->on_progress && p->on_progress(p->user, i, chunks->count)) {
            st = kt_error_set(err, KT_ECANCELED, "canceled");
            break;
        }
        st = synth_chunk(r, &vs->items[e->vi], pl, i, p, &wc, &offset, &head, &gap, err);
        if (i == 0)
            stats->first_audio_seconds = now_seconds() - t0;
        if (!st && gap > 0)
            st = deliver_silence(gap, i, chunks->count, p, &offset, err);
    }
    if (!st && p->on_words)
        st = deliver_words(&wc, pl, p, chunks->count ? chunks->count - 1 : 0, 1, err);
    if (!st && p->on_progress && p->on_progress(p->user, chunks->count, chunks->count))
        st = kt_error_set(err, KT_ECANCELED, "canceled");
    free(wc.pw_start), free(wc.pw_end);
    stats->samples = offset;
    stats->synthesis_seconds = now_seconds() - t0;
    stats->synthesis_cpu_seconds = cpu_seconds() - c0;
    return st;
}

/* A synthesis state of its own for a call: one a finished call left (its threads started and
 * its work buffer mapped already), else a new one (with share_threads, its pool told when the
 * chunks oversubscribe the CPUs). */
static kt_status state_take(kt_tts *t, kt_synth_state **out, kt_error *err)
{
    pthread_mutex_lock(&t->lock);
    *out = t->n_idle ? t->idle[--t->n_idle] : NULL;
    pthread_mutex_unlock(&t->lock);
    if (*out)
        return KT_OK;
    kt_status st = kt_synth_state_create(t->model, out, err);
    if (!st && t->share_threads)
        kt_synth_state_set_crowded(*out, &t->crowded);
    return st;
}

/* Keeps s for the next call (there are never more idle states than calls at one time). */
static void state_give(kt_tts *t, kt_synth_state *s)
{
    pthread_mutex_lock(&t->lock);
    if (t->n_idle == t->cap_idle) {
        int cap = t->cap_idle ? 2 * t->cap_idle : 4;
        kt_synth_state **g = realloc(t->idle, sizeof *g * (size_t)cap);
        if (g) {
            t->idle = g;
            t->cap_idle = cap;
        }
    }
    if (t->n_idle < t->cap_idle) {
        t->idle[t->n_idle++] = s;
        s = NULL;
    }
    pthread_mutex_unlock(&t->lock);
    kt_synth_state_free(s);
}

static kt_status synth_locked(kt_tts *t, const voice_set *vs, const tts_plan *pl, const kt_tts_synth_params *p,
                              kt_tts_stats *stats, kt_error *err)
{
    runner r = {t->model, NULL, t->share_threads ? t : NULL, 0};
    kt_status st;
    if (t->single_caller) {
        pthread_mutex_lock(&t->lock);
        st = synth_all(&r, vs, pl, p, stats, err);
        pthread_mutex_unlock(&t->lock);
        return st;
    }
    if ((st = state_take(t, &r.state, err)))
        return st;
    st = synth_all(&r, vs, pl, p, stats, err);
    state_give(t, r.state);
    return st;
}

static kt_status check_gaps(const kt_tts_synth_params *p, kt_error *err)
{
    if (p->gaps & ~(KT_TTS_GAP_SENTENCE | KT_TTS_GAP_PARAGRAPH))
        return kt_error_set(err, KT_EINVAL, "unknown gaps flags %d", p->gaps);
    double g[2] = {p->sentence_gap, p->paragraph_gap};
    const char *name[2] = {"sentence", "paragraph"};
    for (int k = 0; k < 2; k++)
        if ((p->gaps & (1 << k)) && !(g[k] >= 0 && g[k] <= KT_TTS_GAP_MAX))
            return kt_error_set(err, KT_EINVAL, "%s gap must be 0..%g seconds", name[k], KT_TTS_GAP_MAX);
    return KT_OK;
}

kt_status kt_tts_synthesize(kt_tts *t, const char *text, const char *voice, const kt_tts_synth_params *p,
                            kt_tts_stats *stats, kt_error *err)
{
    kt_tts_synth_params dp = kt_tts_default_synth_params();
    kt_tts_stats ds;
    tts_plan pl = {0};
    voice_set vs = {0};
    kt_status st;
    if (!p)
        p = &dp;
    if (!stats)
        stats = &ds;
    memset(stats, 0, sizeof *stats);
    if (!t)
        return kt_error_set(err, KT_EINVAL, "no model (kt_tts_open first)");
    stats->load_seconds = t->load_seconds;
    if (!voice)
        voice = "af_heart";
    if (p->speed != 0 && !(p->speed >= KT_TTS_SPEED_MIN && p->speed <= KT_TTS_SPEED_MAX))
        return kt_error_set(err, KT_EINVAL, "speed must be 0.1..10 (0: the default 1.0)");
    if ((st = check_gaps(p, err)))
        return st;
    kt_voice first = {0}; /* the voice first: an unknown voice is named as such, not as text its
                             language cannot read */
    st = load_voice(t, voice, &first, err);
    kt_voice_free(&first);
    if (st)
        goto done;
    if ((st = make_plan(kt_model_config(t->model), text, voice, p, &pl, err)))
        goto done;
    double tv = now_seconds();
    if ((st = load_voices(t, voice, &pl, &vs, err)))
        goto done;
    stats->voice_seconds = now_seconds() - tv;
    stats->lang = p->lang;
    kt_error le; /* chunking above already refused a voice of no or mixed language */
    if (!stats->lang && !p->phonemes && voice_lang(voice, &stats->lang, &le))
        stats->lang = NULL;
    stats->chunks = pl.chunks.count;
    for (size_t i = 0; i < pl.chunks.count; i++)
        stats->phonemes += pl.chunks.items[i].n_symbols;
    st = synth_locked(t, &vs, &pl, p, stats, err);
done:
    voice_set_free(&vs);
    plan_free(&pl);
    return st;
}
