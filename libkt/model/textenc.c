/* textenc.c - TextEncoder: embedding, n_layer x (WN conv, LayerNorm, LeakyReLU 0.2), BiLSTM. */
#include <string.h>

#include "kokoro_impl.h"

size_t kt_textenc_need(const kt_model *m, int T)
{
    size_t n = kt_arena_round((size_t)m->hid * T);
    size_t conv = kt_conv_need(&m->tenc.conv[0], &m->tenc.pk[0], T);
    size_t lstm = kt_lstm_need(&m->tenc.lstm, T);
    return 3 * n + (conv > lstm ? conv : lstm);
}

kt_status kt_textenc_run(const kt_model *m, const int *ids, int T, float *t_en, kt_arena *a, kt_error *err)
{
    const kt_textenc_w *w = &m->tenc;
    int C = m->hid;
    size_t n = (size_t)C * T, mark = kt_arena_mark(a);
    float *x = kt_arena_take(a, n), *y = kt_arena_take(a, n), *z = kt_arena_take(a, n);
    kt_status st;
    if (!x || !y || !z)
        return kt_error_set(err, KT_ELIMIT, "internal: work buffer too small (text encoder)");
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++)
            x[(size_t)c * T + t] = w->emb[(size_t)ids[t] * C + c];
    for (int l = 0; l < m->n_layer; l++) {
        if ((st = kt_conv_run(&w->conv[l], &w->pk[l], x, T, y, a, err)))
            return st;
        kt_layernorm_channels(y, C, T, w->gamma[l], w->beta[l], 1e-5f);
        kt_leaky_relu(y, n, 0.2f);
        float *tmp = x;
        x = y;
        y = tmp;
    }
    kt_transpose(x, C, T, y);
    if ((st = kt_lstm_run(&w->lstm, y, T, z, a, err)))
        return st;
    kt_transpose(z, T, C, t_en);
    kt_arena_release(a, mark);
    return KT_OK;
}
