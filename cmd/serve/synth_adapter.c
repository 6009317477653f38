/* synth_adapter.c - kt-serve's only contact with the synthesis library: one kt_tts (weights loaded
 * once, read-only) shared by every worker; each call runs on a synthesis state of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt/kt.h"
#include "serve.h"

struct kts_engine {
    kt_tts *tts;
};

typedef struct {
    kts_samples_fn on_samples;
    kts_word_fn on_word;
    kts_stop_fn should_stop;
    void *user;
} call_ctx;

int kts_engine_open(const kts_options *o, kts_engine **out, char *err, size_t errlen)
{
    kt_tts_params p = kt_tts_default_params();
    kt_error e;
    kts_engine *en = calloc(1, sizeof *en);
    *out = NULL;
    if (!en) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    p.model_path = o->model;
    p.config_path = o->config;
    p.voices_dir = NULL; /* requests carry resolved specs (voices.c) */
    p.n_threads = o->threads; /* 0: the CPUs, shared by the workers chunk by chunk */
    p.share_threads = o->threads == 0;
    p.bf16 = o->compute == KTS_COMPUTE_BF16_WINOGRAD ? KT_BF16_WINOGRAD : o->compute == KTS_COMPUTE_BF16;
    if (kt_tts_open(&p, &en->tts, &e)) {
        snprintf(err, errlen, "%s", e.msg);
        free(en);
        return -1;
    }
    *out = en;
    return 0;
}

void kts_engine_close(kts_engine *e)
{
    if (!e)
        return;
    kt_tts_close(e->tts);
    free(e);
}

static int on_audio(void *user, const kt_tts_chunk *c)
{
    call_ctx *x = user;
    return x->on_samples(x->user, c->samples, c->n_samples);
}

static int on_words(void *user, const kt_tts_word *w, size_t n)
{
    call_ctx *x = user;
    for (size_t i = 0; i < n; i++)
        if (x->on_word(x->user, w[i].text, w[i].start, w[i].end, w[i].char_start, w[i].char_end))
            return 1;
    return 0;
}

static int on_progress(void *user, size_t done, size_t total)
{
    call_ctx *x = user;
    (void)done;
    (void)total;
    return x->should_stop(x->user);
}

static int status_http(kt_status st)
{
    switch (st) {
    case KT_EINVAL:
    case KT_ENOTFOUND:
        return 400;
    case KT_ELIMIT:
        return 413;
    default:
        return 500;
    }
}

int kts_engine_synthesize(kts_engine *e, const kts_synth_request *r, kts_samples_fn on_samples,
                          kts_word_fn on_word, kts_stop_fn should_stop, void *user, char *err, size_t errlen)
{
    call_ctx x = {on_samples, on_word, should_stop, user};
    kt_tts_synth_params p = kt_tts_default_synth_params();
    kt_error ke;
    p.lang = r->lang;
    p.speed = r->speed;
    p.first_chunk = r->first_chunk;
    p.on_audio = on_audio;
    p.on_progress = on_progress;
    p.on_words = r->words && on_word ? on_words : NULL;
    p.user = &x;
    kt_status st = kt_tts_synthesize(e->tts, r->text, r->voice, &p, NULL, &ke);
    if (st == KT_ECANCELED)
        return -1;
    if (st) {
        snprintf(err, errlen, "%s", ke.msg);
        return status_http(st);
    }
    return 0;
}
