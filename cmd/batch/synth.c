/* synth.c - the synthesis adapter of kt-synth --batch: the only file that calls the model.
 *
 * A kt_model serves one thread at a time, so every worker thread has a model of its own (the
 * first is loaded before any work, so a bad model is one error before anything runs). The
 * voices are loaded once each and shared read-only. The text path is kt-synth's: G2P per line
 * of text, chunks of at most 510 phonemes, each chunk synthesized with the voice row its length
 * selects, the audio joined. */
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "kt/config.h"
#include "kt/g2p.h"
#include "kt/kokoro.h"
#include "kt/voice.h"

typedef struct {
    char *spec;
    kt_voice v;
    kt_error err; /* code != KT_OK: the voice failed to load (remembered, not retried) */
} voice_entry;

struct batch_engine {
    const char *model_path, *voices, *lang;
    kt_config cfg;
    kt_model_params mp;
    kt_model *first; /* loaded by batch_engine_open, handed to the first worker */
    int style_size;
    pthread_mutex_t lock; /* guards first and the voice cache */
    voice_entry *voices_cache;
    size_t n_voices, cap_voices;
};

struct batch_synth {
    batch_engine *e;
    kt_model *m;
};

int batch_engine_open(const batch_opts *o, batch_engine **out)
{
    kt_error err;
    batch_engine *e = calloc(1, sizeof *e);
    const char *path = o->model ? o->model : getenv("KT_MODEL");
    *out = NULL;
    if (!e) {
        fprintf(stderr, "kt-synth: out of memory\n");
        return EXIT_OUTPUT;
    }
    pthread_mutex_init(&e->lock, NULL);
    e->voices = o->voices ? o->voices : kt_voice_default_dir();
    e->lang = o->lang;
    e->model_path = path;
    e->mp = kt_model_default_params();
    e->mp.n_threads = o->threads;
    e->mp.bf16 = o->bf16;
    if (!path || !*path) {
        batch_engine_free(e);
        fprintf(stderr, "kt-synth: no model: give -m kokoro-v1_0.pth or set KT_MODEL\n");
        return EXIT_USAGE;
    }
    kt_status st = o->config ? kt_config_load(o->config, &e->cfg, &err) : kt_config_default(&e->cfg, &err);
    if (st) {
        fprintf(stderr, "kt-synth: %s: %s\n", o->config ? o->config : "built-in config", err.msg);
        batch_engine_free(e);
        return st == KT_ENOMEM ? EXIT_OUTPUT : EXIT_MODEL;
    }
    if ((st = kt_model_load(path, &e->cfg, &e->mp, &e->first, &err))) {
        fprintf(stderr, "kt-synth: %s: %s\n", path, err.msg);
        batch_engine_free(e);
        return st == KT_ENOMEM ? EXIT_OUTPUT : EXIT_MODEL;
    }
    e->style_size = kt_model_style_size(e->first);
    *out = e;
    return 0;
}

void batch_engine_free(batch_engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n_voices; i++) {
        free(e->voices_cache[i].spec);
        kt_voice_free(&e->voices_cache[i].v);
    }
    free(e->voices_cache);
    kt_model_free(e->first);
    kt_config_free(&e->cfg);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

kt_status batch_synth_open(batch_engine *e, batch_synth **out, kt_error *err)
{
    batch_synth *s = calloc(1, sizeof *s);
    if (!s)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    s->e = e;
    pthread_mutex_lock(&e->lock);
    s->m = e->first;
    e->first = NULL;
    pthread_mutex_unlock(&e->lock);
    kt_status st = s->m ? KT_OK : kt_model_load(e->model_path, &e->cfg, &e->mp, &s->m, err);
    if (st) {
        free(s);
        return st;
    }
    *out = s;
    return KT_OK;
}

void batch_synth_free(batch_synth *s)
{
    if (!s)
        return;
    kt_model_free(s->m);
    free(s);
}

/* A voice name, file or blend expression, loaded once (and its failure remembered). */
static kt_status load_voice(const char *spec, const char *dir, kt_voice *v, kt_error *err)
{
    kt_blend_expr ex = {0};
    const char *args[1] = {spec};
    kt_status st = kt_blend_parse(args, 1, &ex, err);
    if (!st)
        st = kt_blend_weights(&ex, 1, err);
    if (!st)
        st = kt_blend_resolve(&ex, dir, err);
    if (!st)
        st = kt_blend_eval(&ex, v, err);
    kt_blend_expr_free(&ex);
    return st;
}

/* *out is a shallow copy: the cache array may move, the voice data does not. */
static kt_status voice_get(batch_engine *e, const char *spec, kt_voice *out, kt_error *err)
{
    kt_status st = KT_OK;
    pthread_mutex_lock(&e->lock);
    size_t i = 0;
    while (i < e->n_voices && strcmp(e->voices_cache[i].spec, spec))
        i++;
    if (i == e->n_voices) {
        if (e->n_voices == e->cap_voices) {
            size_t c = e->cap_voices ? e->cap_voices * 2 : 8;
            voice_entry *p = realloc(e->voices_cache, c * sizeof *p);
            if (!p) {
                st = kt_error_set(err, KT_ENOMEM, "out of memory");
                goto done;
            }
            e->voices_cache = p;
            e->cap_voices = c;
        }
        voice_entry *ve = &e->voices_cache[i];
        memset(ve, 0, sizeof *ve);
        if (!(ve->spec = strdup(spec))) {
            st = kt_error_set(err, KT_ENOMEM, "out of memory");
            goto done;
        }
        e->n_voices++;
        if (!load_voice(spec, e->voices, &ve->v, &ve->err) && ve->v.dim != e->style_size)
            kt_error_set(&ve->err, KT_EINVAL, "voice rows have %lld values but the model needs %d",
                         (long long)ve->v.dim, e->style_size);
    }
    if (e->voices_cache[i].err.code) {
        st = kt_error_set(err, e->voices_cache[i].err.code, "voice %s: %s", spec, e->voices_cache[i].err.msg);
        goto done;
    }
    *out = e->voices_cache[i].v;
done:
    pthread_mutex_unlock(&e->lock);
    return st;
}

/* Phonemes as given: every symbol must be in the vocabulary; then chunked. */
static kt_status phoneme_chunks(const kt_config *cfg, const char *text, kt_chunk_list *chunks, kt_error *err)
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
    return st;
}

static kt_status make_chunks(batch_engine *e, const batch_job *j, kt_chunk_list *chunks, char **warning,
                             kt_error *err)
{
    if (j->kind == INPUT_SSML)
        return kt_error_set(err, KT_EUNSUPPORTED, "ssml not supported in this build");
    if (j->kind == INPUT_PHONEMES)
        return phoneme_chunks(&e->cfg, j->input, chunks, err);
    const char *lang = j->lang ? j->lang : e->lang ? e->lang : kt_g2p_lang_for_voice(j->voice);
    if (!lang)
        return kt_error_set(err, KT_EINVAL, "cannot tell the language from the voice name %s; give \"lang\"",
                            j->voice);
    return kt_g2p_text_chunks(j->input, lang, &e->cfg, chunks, warning, err);
}

static int has_words(const kt_chunk_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        if (kt_phonemes_has_words(l->items[i].phonemes))
            return 1;
    return 0;
}

static kt_status append(float **audio, size_t *n, size_t *cap, const kt_synth_result *r, kt_error *err)
{
    if (*n + r->n_samples > *cap) {
        size_t c = *cap ? *cap : 1 << 16;
        while (c < *n + r->n_samples)
            c *= 2;
        float *a = realloc(*audio, c * sizeof *a);
        if (!a)
            return kt_error_set(err, KT_ENOMEM, "out of memory");
        *audio = a;
        *cap = c;
    }
    memcpy(*audio + *n, r->audio, r->n_samples * sizeof(float));
    *n += r->n_samples;
    return KT_OK;
}

static kt_status synth_chunk(batch_synth *s, const kt_voice *v, const char *ps, const kt_synth_params *sp,
                             kt_synth_result *r, kt_error *err)
{
    int *ids = NULL;
    size_t n = 0;
    kt_status st = kt_phonemes_to_ids(&s->e->cfg, ps, &ids, &n, err);
    if (!st) {
        size_t row = kt_phonemes_voice_row(ps, (size_t)v->rows);
        st = kt_model_synthesize(s->m, ids + 1, (int)(n - 2), v->data + row * (size_t)v->dim, sp, r, err);
    }
    free(ids);
    return st;
}

kt_status batch_synthesize(batch_synth *s, const batch_job *j, float **audio, size_t *n, char **warning,
                           kt_error *err)
{
    kt_chunk_list chunks = {0};
    kt_voice v = {0};
    kt_synth_params sp = kt_synth_default_params();
    size_t cap = 0;
    *audio = NULL;
    *n = 0;
    sp.speed = (float)j->speed;
    sp.seed = j->seed;
    kt_status st = voice_get(s->e, j->voice, &v, err);
    if (!st)
        st = make_chunks(s->e, j, &chunks, warning, err);
    if (!st && (chunks.count == 0 || !has_words(&chunks)))
        st = kt_error_set(err, KT_EINVAL, "nothing to say (no words)");
    for (size_t i = 0; !st && i < chunks.count; i++) {
        kt_synth_result r = {0};
        st = synth_chunk(s, &v, chunks.items[i].phonemes, &sp, &r, err);
        if (!st)
            st = append(audio, n, &cap, &r, err);
        kt_synth_result_free(&r);
    }
    kt_chunk_list_free(&chunks);
    if (st) {
        free(*audio);
        *audio = NULL;
        *n = 0;
    }
    return st;
}
