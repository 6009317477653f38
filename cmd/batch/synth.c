/* synth.c - the synthesis adapter of kt-synth --batch: the only file that calls the library.
 *
 * One kt_tts (kt/kt.h) is opened before any work and shared by every worker thread: its weights
 * are read-only, and each kt_tts_synthesize call has its own buffers and thread pool. A worker
 * collects the chunks' samples of one line into one buffer. */
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "kt/kt.h"

struct batch_engine {
    kt_tts *tts;
    const char *lang; /* --lang: the language of lines that name none */
};

struct batch_synth {
    batch_engine *e;
    float *audio;
    size_t n, cap;
    char *warning;
    int oom;
};

int batch_engine_open(const batch_opts *o, batch_engine **out)
{
    kt_error err;
    kt_tts_params p = kt_tts_default_params();
    batch_engine *e = calloc(1, sizeof *e);
    *out = NULL;
    if (!e) {
        fprintf(stderr, "kt-synth: out of memory\n");
        return EXIT_OUTPUT;
    }
    p.model_path = o->model ? o->model : getenv("KT_MODEL");
    p.config_path = o->config;
    p.voices_dir = o->voices;
    p.n_threads = o->threads; /* 0: the CPUs, shared by the workers chunk by chunk */
    p.share_threads = o->threads == 0;
    p.bf16 = o->bf16;
    e->lang = o->lang;
    if (!p.model_path || !*p.model_path) {
        free(e);
        fprintf(stderr, "kt-synth: no model: give -m kokoro-v1_0.pth or set KT_MODEL\n");
        return EXIT_USAGE;
    }
    kt_status st = kt_tts_open(&p, &e->tts, &err);
    if (st) {
        free(e);
        fprintf(stderr, "kt-synth: %s\n", err.msg);
        return st == KT_ENOMEM ? EXIT_OUTPUT : EXIT_MODEL;
    }
    *out = e;
    return 0;
}

void batch_engine_free(batch_engine *e)
{
    if (!e)
        return;
    kt_tts_close(e->tts);
    free(e);
}

kt_status batch_synth_open(batch_engine *e, batch_synth **out, kt_error *err)
{
    batch_synth *s = calloc(1, sizeof *s);
    if (!s)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    s->e = e;
    *out = s;
    return KT_OK;
}

void batch_synth_free(batch_synth *s)
{
    if (!s)
        return;
    free(s->audio);
    free(s->warning);
    free(s);
}

static int on_audio(void *user, const kt_tts_chunk *c)
{
    batch_synth *s = user;
    if (s->n + c->n_samples > s->cap) {
        size_t cap = s->cap ? s->cap : 1 << 16;
        while (cap < s->n + c->n_samples)
            cap *= 2;
        float *a = realloc(s->audio, cap * sizeof *a);
        if (!a) {
            s->oom = 1;
            return 1;
        }
        s->audio = a;
        s->cap = cap;
    }
    memcpy(s->audio + s->n, c->samples, c->n_samples * sizeof(float));
    s->n += c->n_samples;
    return 0;
}

static void on_warning(void *user, const char *message)
{
    batch_synth *s = user;
    if (!s->warning)
        s->warning = strdup(message);
}

kt_status batch_synthesize(batch_synth *s, const batch_job *j, float **audio, size_t *n, char **warning,
                           kt_error *err)
{
    kt_tts_synth_params p = kt_tts_default_synth_params();
    *audio = NULL;
    *n = 0;
    p.phonemes = j->kind == INPUT_PHONEMES;
    p.markup = j->kind == INPUT_SSML ? KT_TTS_MARKUP_SSML : KT_TTS_MARKUP_AUTO;
    p.lang = j->lang ? j->lang : s->e->lang;
    p.speed = (float)j->speed;
    p.seed = j->seed;
    p.on_audio = on_audio;
    p.on_warning = on_warning;
    p.user = s;
    s->n = 0;
    s->oom = 0;
    kt_status st = kt_tts_synthesize(s->e->tts, j->input, j->voice, &p, NULL, err);
    if (s->oom)
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
    *warning = s->warning;
    s->warning = NULL;
    if (st)
        return st;
    /* hand the buffer over; the next line grows a new one */
    *audio = s->audio;
    *n = s->n;
    s->audio = NULL;
    s->n = s->cap = 0;
    return KT_OK;
}
