/* tts.c - the text -> audio pipeline: config and model, G2P and chunking, the voice, chunk
 * synthesis on a per-call state, timings and callbacks. */
#define _GNU_SOURCE
#include "kt/kt.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kt/config.h"
#include "kt/g2p.h"
#include "kt/g2p_lang.h"
#include "kt/en.h"
#include "kt/kernels.h"
#include "kt/kokoro.h"
#include "kt/voice.h"
#include "tts_impl.h"

struct kt_tts {
    kt_model *model;
    char *voices_dir;   /* owned, or NULL for kt_voice_default_dir() */
    char *model_path;   /* owned: bare voice names are also looked up among its embedded voices */
    int single_caller;  /* calls hold lock and synthesize on the model itself */
    double load_seconds; /* kt_tts_open's time */
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
    mp.bf16 = p->bf16;
    mp.gen_lowmem = p->gen_lowmem;
    mp.release_weights = p->single_caller != 0;
    mp.blas_serial = !p->keep_blas_threads;
    if ((st = kt_model_load(p->model_path, &cfg, &mp, &t->model, err))) {
        kt_error_prefix(err, p->model_path);
        goto fail;
    }
    t->single_caller = p->single_caller != 0;
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

static kt_status make_chunks(const kt_config *cfg, const char *text, const char *voice,
                             const kt_tts_synth_params *p, kt_chunk_list *chunks, kt_error *err)
{
    const char *lang = p->lang;
    kt_status st;
    if (!text)
        return kt_error_set(err, KT_EINVAL, "empty text");
    if (p->first_chunk < 0 || p->first_chunk > KT_G2P_MAX_PHONEMES)
        return kt_error_set(err, KT_EINVAL, "first_chunk must be 0..%d", KT_G2P_MAX_PHONEMES);
    if (!p->phonemes && !lang && (st = voice_lang(voice, &lang, err)))
        return st;
    st = p->phonemes ? phoneme_chunks(text, cfg, chunks, err) : text_chunks(text, lang, cfg, p, chunks, err);
    if (!st && p->first_chunk > 0)
        st = kt_chunk_list_split_first(chunks, (size_t)p->first_chunk, err);
    return st;
}

kt_status kt_tts_phonemes(const char *config_path, const char *text, const char *voice,
                          const kt_tts_synth_params *p, char **out, kt_error *err)
{
    kt_tts_synth_params dp = kt_tts_default_synth_params();
    kt_config cfg = {0};
    kt_chunk_list chunks = {0};
    size_t len = 1;
    kt_status st;
    *out = NULL;
    if (!voice)
        voice = "af_heart";
    if ((st = load_config(config_path, &cfg, err)) || (st = make_chunks(&cfg, text, voice, p ? p : &dp, &chunks, err)))
        goto done;
    for (size_t i = 0; i < chunks.count; i++)
        len += strlen(chunks.items[i].phonemes) + 1;
    if (!(*out = malloc(len))) {
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
        goto done;
    }
    char *w = *out;
    for (size_t i = 0; i < chunks.count; i++)
        w += sprintf(w, "%s\n", chunks.items[i].phonemes);
    *w = '\0';
done:
    kt_chunk_list_free(&chunks);
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

/* One call's synthesis: on the model itself (single caller) or on a state of its own. */
typedef struct {
    kt_model *model;
    kt_synth_state *state;
} runner;

static kt_status run_ids(runner *r, const int *ids, int n, const float *style, const kt_synth_params *sp,
                         kt_synth_result *res, kt_error *err)
{
    if (r->state)
        return kt_synth_state_run(r->state, ids, n, style, sp, res, err);
    return kt_model_synthesize(r->model, ids, n, style, sp, res, err);
}

size_t kt_tts_chunk_units(const kt_tts_chunk *c, kt_tts_timing *units, char (*sym)[KT_TTS_UNIT_BYTES])
{
    double spf = c->samples_per_frame, t0 = (double)c->offset / KT_SAMPLE_RATE;
    long f = c->token_frames[0]; /* BOS frames come first */
    const unsigned char *p = (const unsigned char *)c->phonemes;
    size_t n = 0;
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

/* Synthesizes chunk i and hands it to the callbacks; *offset counts the samples so far. */
static kt_status synth_chunk(runner *r, const kt_voice *v, const kt_chunk_list *chunks, size_t i,
                             const kt_tts_synth_params *p, size_t *offset, kt_error *err)
{
    const char *ps = chunks->items[i].phonemes;
    kt_synth_params sp = kt_synth_default_params();
    kt_synth_result res = {0};
    double t0 = now_seconds();
    int *ids = NULL;
    size_t n = 0;
    sp.speed = p->speed > 0 ? p->speed : 1.0f; /* 0: the default (negative ones are refused before) */
    sp.seed = p->seed;
    kt_status st = kt_phonemes_to_ids(kt_model_config(r->model), ps, &ids, &n, err);
    if (!st) {
        size_t row = kt_phonemes_voice_row(ps, (size_t)v->rows);
        st = run_ids(r, ids, (int)n, v->data + row * (size_t)v->dim, &sp, &res, err);
    }
    free(ids);
    if (st)
        return st;
    long frames = 0;
    for (int k = 0; k < res.n_tokens; k++)
        frames += res.durations[k];
    kt_tts_chunk c = {i, chunks->count, ps, res.audio, res.n_samples, *offset, res.durations, res.n_tokens,
                      frames > 0 ? (double)res.n_samples / (double)frames : 0, now_seconds() - t0};
    if (p->on_timing)
        st = deliver_timing(&c, p, err);
    if (!st && p->on_audio && p->on_audio(p->user, &c))
        st = kt_error_set(err, KT_ECANCELED, "canceled");
    *offset += res.n_samples;
    kt_synth_result_free(&res);
    return st;
}

static kt_status synth_all(runner *r, const kt_voice *v, const kt_chunk_list *chunks, const kt_tts_synth_params *p,
                           kt_tts_stats *stats, kt_error *err)
{
    double t0 = now_seconds(), c0 = cpu_seconds();
    size_t offset = 0;
    kt_status st = KT_OK;
    for (size_t i = 0; i < chunks->count && !st; i++) {
        if (p->on_progress && p->on_progress(p->user, i, chunks->count))
            return kt_error_set(err, KT_ECANCELED, "canceled");
        st = synth_chunk(r, v, chunks, i, p, &offset, err);
        if (i == 0)
            stats->first_audio_seconds = now_seconds() - t0;
    }
    if (!st && p->on_progress && p->on_progress(p->user, chunks->count, chunks->count))
        st = kt_error_set(err, KT_ECANCELED, "canceled");
    stats->samples = offset;
    stats->synthesis_seconds = now_seconds() - t0;
    stats->synthesis_cpu_seconds = cpu_seconds() - c0;
    return st;
}

static kt_status synth_locked(kt_tts *t, const kt_voice *v, const kt_chunk_list *chunks,
                              const kt_tts_synth_params *p, kt_tts_stats *stats, kt_error *err)
{
    runner r = {t->model, NULL};
    kt_status st;
    if (t->single_caller) {
        pthread_mutex_lock(&t->lock);
        st = synth_all(&r, v, chunks, p, stats, err);
        pthread_mutex_unlock(&t->lock);
        return st;
    }
    if ((st = kt_synth_state_create(t->model, &r.state, err)))
        return st;
    st = synth_all(&r, v, chunks, p, stats, err);
    kt_synth_state_free(r.state);
    return st;
}

kt_status kt_tts_synthesize(kt_tts *t, const char *text, const char *voice, const kt_tts_synth_params *p,
                            kt_tts_stats *stats, kt_error *err)
{
    kt_tts_synth_params dp = kt_tts_default_synth_params();
    kt_tts_stats ds;
    kt_chunk_list chunks = {0};
    kt_voice v = {0};
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
    double tv = now_seconds(); /* the voice first: an unknown voice is named as such */
    if ((st = load_voice(t, voice, &v, err)))
        goto done;
    stats->voice_seconds = now_seconds() - tv;
    if ((st = make_chunks(kt_model_config(t->model), text, voice, p, &chunks, err)))
        goto done;
    stats->lang = p->lang;
    kt_error le; /* chunking above already refused a voice of no or mixed language */
    if (!stats->lang && !p->phonemes && voice_lang(voice, &stats->lang, &le))
        stats->lang = NULL;
    stats->chunks = chunks.count;
    for (size_t i = 0; i < chunks.count; i++)
        stats->phonemes += chunks.items[i].n_symbols;
    st = synth_locked(t, &v, &chunks, p, stats, err);
done:
    kt_voice_free(&v);
    kt_chunk_list_free(&chunks);
    return st;
}
