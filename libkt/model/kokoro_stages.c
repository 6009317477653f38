/* kokoro_stages.c - stage entry points on injected inputs (kt/kokoro_stages.h). */
#include "kt/kokoro_stages.h"

#include <stdlib.h>

#include "kokoro_impl.h"

void kt_stage_get_dims(const kt_model *m, kt_stage_dims *d)
{
    d->hidden = m->hid;
    d->style = m->sty;
    d->bert_hidden = m->bert_h;
    d->max_dur = m->cfg.max_dur;
    d->gen_channels = m->uic;
    d->n_fft = m->n_fft;
    d->hop = m->hop;
    d->samples_per_frame = kt_kokoro_samples_per_frame(m);
}

/* One work buffer of `need` floats for a stage; freed by the caller with free(a->base). */
static kt_status arena_new(const kt_model *m, kt_arena *a, size_t need, kt_error *err)
{
    float *buf = malloc(sizeof(float) * (need ? need : 1));
    if (!buf)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    kt_arena_init(a, buf, need);
    a->ex = m->ex;
    kt_blas_serial();
    return KT_OK;
}

static kt_status check_ids(const kt_model *m, const int *ids, int T, kt_error *err)
{
    if (T < 1 || T > m->cfg.plbert.max_position_embeddings)
        return kt_error_set(err, KT_EINVAL, "bad token count %d", T);
    for (int t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= m->cfg.n_token)
            return kt_error_set(err, KT_EINVAL, "token id %d at position %d is outside the vocabulary", ids[t], t);
    return KT_OK;
}

static kt_status check_frames(int F, kt_error *err)
{
    return F < 1 ? kt_error_set(err, KT_EINVAL, "bad frame count %d", F) : KT_OK;
}

kt_status kt_stage_albert(kt_model *m, const int *ids, int T, float *out, kt_error *err)
{
    kt_arena a;
    kt_status st;
    if ((st = check_ids(m, ids, T, err)) || (st = kt_model_bind_released(m, err)) ||
        (st = arena_new(m, &a, kt_albert_need(m, T), err)))
        return st;
    st = kt_albert_run(m, ids, T, out, &a, err);
    free(a.base);
    return st;
}

kt_status kt_stage_textenc(kt_model *m, const int *ids, int T, float *t_en, kt_error *err)
{
    kt_arena a;
    kt_status st;
    if ((st = check_ids(m, ids, T, err)) || (st = kt_model_bind_released(m, err)) ||
        (st = arena_new(m, &a, kt_textenc_need(m, T), err)))
        return st;
    st = kt_textenc_run(m, ids, T, t_en, &a, err);
    free(a.base);
    return st;
}

kt_status kt_stage_duration(kt_model *m, const float *bert_out, int T, const float *s_pred, float speed,
                            float *d, float *dur, int *pred_dur, kt_error *err)
{
    kt_arena a;
    kt_status st;
    if (T < 1)
        return kt_error_set(err, KT_EINVAL, "bad token count %d", T);
    if (!(speed >= KT_SPEED_MIN && speed <= KT_SPEED_MAX))
        return kt_error_set(err, KT_EINVAL, "speed must be a number in %g..%g", (double)KT_SPEED_MIN,
                            (double)KT_SPEED_MAX);
    if ((st = kt_model_bind_released(m, err)) || (st = arena_new(m, &a, kt_duration_need(m, T), err)))
        return st;
    st = kt_duration_run(m, bert_out, T, s_pred, speed, d, dur, pred_dur, &a, err);
    free(a.base);
    return st;
}

kt_status kt_stage_f0n(kt_model *m, const float *en, int F, const float *s_pred, float *f0, float *n,
                       kt_error *err)
{
    kt_arena a;
    kt_status st;
    if ((st = check_frames(F, err)) || (st = kt_model_bind_released(m, err)) ||
        (st = arena_new(m, &a, kt_f0n_need(m, F), err)))
        return st;
    st = kt_f0n_run(m, en, F, s_pred, f0, n, &a, err);
    free(a.base);
    return st;
}

kt_status kt_stage_decoder(kt_model *m, const float *asr, const float *f0, const float *n, int F,
                           const float *s_dec, float *x, kt_error *err)
{
    kt_arena a;
    kt_status st;
    if ((st = check_frames(F, err)) || (st = kt_model_bind_released(m, err)) ||
        (st = arena_new(m, &a, kt_decoder_need(m, F), err)))
        return st;
    st = kt_decoder_run(m, asr, f0, n, F, s_dec, x, &a, err);
    free(a.base);
    return st;
}

kt_status kt_stage_source(const kt_model *m, const float *f0, int F, uint32_t seed, float *har_source,
                          kt_error *err)
{
    kt_status st = check_frames(F, err);
    if (!st)
        kt_source_run(m, f0, F, seed, har_source);
    return st;
}

kt_status kt_stage_stft(const kt_model *m, const float *x, int n, float *har, kt_error *err)
{
    if (n <= m->n_fft / 2)
        return kt_error_set(err, KT_EINVAL, "signal of %d samples is too short for the STFT", n);
    kt_stft_run(m, x, n, har);
    return KT_OK;
}

kt_status kt_stage_generator(kt_model *m, const float *x, int F, const float *s_dec, const float *har,
                             float *audio, kt_error *err)
{
    kt_arena a;
    kt_status st;
    if ((st = check_frames(F, err)) || (st = kt_model_bind_released(m, err)) ||
        (st = arena_new(m, &a, kt_generator_need(m, F), err)))
        return st;
    st = kt_generator_run(m, x, F, s_dec, har, 0, audio, &a, err);
    free(a.base);
    return st;
}

kt_status kt_stage_istft(const kt_model *m, const float *spec, const float *phase, int M, float *audio,
                         kt_error *err)
{
    if (M < 2)
        return kt_error_set(err, KT_EINVAL, "bad STFT frame count %d", M);
    kt_istft_run(m, spec, phase, M, audio);
    return KT_OK;
}
