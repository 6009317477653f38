/* decoder.c - the iSTFTNet Decoder front: F0/N convs, encode, asr_res, decode.0-3. */
#include <string.h>

#include "kokoro_impl.h"

size_t kt_decoder_need(const kt_model *m, int F)
{
    const kt_decoder_w *w = &m->dec;
    int wide = m->dec_dim + 2 + m->asr_dim;
    size_t n = 2 * kt_arena_round((size_t)F) + kt_arena_round((size_t)(m->hid + 2) * F);
    n += kt_arena_round((size_t)m->dec_dim * F) + kt_arena_round((size_t)m->asr_dim * F);
    n += kt_arena_round((size_t)wide * F);
    size_t rb = kt_adain_resblk_need(&w->encode, m->sty, F);
    for (int i = 0; i < 4; i++) {
        size_t r = kt_adain_resblk_need(&w->decode[i], m->sty, F);
        if (r > rb)
            rb = r;
    }
    size_t c = kt_conv_need(&w->f0_conv, &w->pk_f0_conv, 2 * F);
    return n + (rb > c ? rb : c);
}

/* dst rows: a[ca, F], then b[cb, F], ... (channel-major concatenation). */
static float *put_rows(float *dst, const float *src, int C, int F)
{
    memcpy(dst, src, sizeof(float) * (size_t)C * F);
    return dst + (size_t)C * F;
}

kt_status kt_decoder_run(const kt_model *m, const float *asr, const float *f0, const float *n, int F,
                         const float *s_dec, float *x_out, kt_arena *a, kt_error *err)
{
    const kt_decoder_w *w = &m->dec;
    int wide = m->dec_dim + 2 + m->asr_dim;
    size_t mark = kt_arena_mark(a);
    float *f0c = kt_arena_take(a, (size_t)F), *nc = kt_arena_take(a, (size_t)F);
    float *cat0 = kt_arena_take(a, (size_t)(m->hid + 2) * F), *x = kt_arena_take(a, (size_t)m->dec_dim * F);
    float *ar = kt_arena_take(a, (size_t)m->asr_dim * F), *cat = kt_arena_take(a, (size_t)wide * F);
    kt_status st;
    if (!f0c || !nc || !cat0 || !x || !ar || !cat)
        return kt_error_set(err, KT_ELIMIT, "internal: work buffer too small (decoder)");
    if ((st = kt_conv_run(&w->f0_conv, &w->pk_f0_conv, f0, 2 * F, f0c, a, err)) ||
        (st = kt_conv_run(&w->n_conv, &w->pk_n_conv, n, 2 * F, nc, a, err)))
        return st;
    put_rows(put_rows(put_rows(cat0, asr, m->hid, F), f0c, 1, F), nc, 1, F);
    if ((st = kt_adain_resblk_run(&w->encode, cat0, F, s_dec, x, a, err)))
        return st;
    if ((st = kt_conv_run(&w->asr_res, &w->pk_asr, asr, F, ar, a, err)))
        return st;
    for (int i = 0; i < 4; i++) {
        float *p = put_rows(cat, x, m->dec_dim, F);
        put_rows(put_rows(put_rows(p, ar, m->asr_dim, F), f0c, 1, F), nc, 1, F);
        if ((st = kt_adain_resblk_run(&w->decode[i], cat, F, s_dec, i < 3 ? x : x_out, a, err)))
            return st;
    }
    kt_arena_release(a, mark);
    return KT_OK;
}
