/* albert.c - the ALBERT text encoder (one shared layer applied num_hidden_layers times). */
#include <math.h>
#include <string.h>

#include "kokoro_impl.h"

#define ALBERT_EPS 1e-12f

#define N_LIN KT_ALBERT_LINEARS

/* The layer's linears: map_in, q, k, v, dense, ffn, ffn_out. */
static void linears(const kt_albert_w *w, kt_linear *out)
{
    const kt_linear *src[N_LIN];
    kt_albert_linear_list(w, src);
    for (int i = 0; i < N_LIN; i++)
        out[i] = *src[i];
}

/* Floats of T rows of input packed for the largest transposed linear (0: none). */
static size_t packed_x_need(const kt_albert_w *w, const kt_linear *l, int T)
{
    size_t xs = 0;
    for (int i = 0; i < N_LIN; i++)
        if (w->wt[i] && kt_linear_t_scratch(T, l[i].in) > xs)
            xs = kt_linear_t_scratch(T, l[i].in);
    return xs;
}

/* Score buffers of T x T: one per thread that takes heads. */
static int attn_slices(const kt_model *m)
{
    int cap = kt_exec_capacity(m->ex);
    return cap < m->heads ? cap : m->heads;
}

size_t kt_albert_need(const kt_model *m, int T)
{
    size_t t = (size_t)T, dec = 0;
    kt_linear l[N_LIN];
    linears(&m->bert, l);
    for (int i = 0; i < N_LIN; i++)
        if (!l[i].w)
            dec += kt_arena_round((size_t)l[i].out * l[i].in);
    return kt_arena_round(t * m->bert_e) + 5 * kt_arena_round(t * m->bert_h) + kt_arena_round(t * m->inter) +
           kt_arena_round((size_t)attn_slices(m) * t * t) + dec + kt_arena_round(packed_x_need(&m->bert, l, T));
}

/* Compact (f16/bf16/q8/q4) weights decoded into the arena once per call (the shared layer
 * runs num_hidden_layers times). */
static int decode_linears(kt_linear *l, kt_arena *a)
{
    for (int i = 0; i < N_LIN; i++) {
        if (l[i].w)
            continue;
        float *buf = kt_arena_take(a, (size_t)l[i].out * l[i].in);
        if (!buf)
            return -1;
        kt_qview_decode(l[i].qv, buf);
        l[i].w = buf;
    }
    return 0;
}

static void embed(const kt_model *m, const int *ids, int T, float *e)
{
    int E = m->bert_e;
    for (int t = 0; t < T; t++)
        for (int c = 0; c < E; c++)
            e[(size_t)t * E + c] = m->bert.word[(size_t)ids[t] * E + c] + m->bert.type[c] + m->bert.pos[(size_t)t * E + c];
    kt_layernorm_rows(e, T, E, m->bert.ln_g, m->bert.ln_b, ALBERT_EPS);
}

typedef struct {
    const float *q, *k, *v;
    float *sc, *ctx;
    int T, H, heads, slices, isa;
} attn_job;

/* The heads of this thread (at most slices threads take part, each with its own T x T scores):
 * softmax(q k^T / sqrt(d)) v per head, each product one serial kt_sgemm as on one thread. */
static void attention_task(void *p, int tid, int n)
{
    const attn_job *j = p;
    int m = n < j->slices ? n : j->slices, T = j->T, H = j->H, d = H / j->heads;
    if (tid >= m)
        return;
    float scale = 1.0f / sqrtf((float)d), *sc = j->sc + (size_t)tid * T * T;
    for (int h = j->heads * tid / m; h < j->heads * (tid + 1) / m; h++) {
        size_t off = (size_t)h * d;
        kt_sgemm(NULL, 0, 1, T, T, d, scale, j->q + off, H, j->k + off, H, sc, T);
        kt_softmax_rows(j->isa, sc, T, T);
        kt_sgemm(NULL, 0, 0, T, d, T, 1.0f, sc, T, j->v + off, H, j->ctx + off, H);
    }
}

/* ctx[T, H] = per head softmax(q k^T / sqrt(d)) v, the heads split between the threads (every
 * head's bytes as on one thread). */
static void attention(const kt_model *m, const float *q, const float *k, const float *v, int T, float *sc,
                      float *ctx, kt_exec *ex)
{
    attn_job j = {q, k, v, sc, ctx, T, m->bert_h, m->heads, attn_slices(m), kt_exec_isa(ex)};
    kt_exec_run(ex, attention_task, &j);
}

/* The linears of one call: transposed float32 weights on the direct kernel (xs: the packed
 * input), compact ones decoded and through OpenBLAS. */
typedef struct {
    kt_linear l[N_LIN];
    const float *const *wt; /* the model's kt_albert_w.wt */
    float *xs;
    kt_exec *ex;
} albert_lin;

/* y[n, out] = x[n, in] . w_i^T + b_i. */
static void lin_run(const albert_lin *al, int i, const float *x, int n, float *y)
{
    const kt_linear *l = &al->l[i];
    if (!al->wt[i]) {
        kt_linear_forward(l, x, n, y, al->ex);
        return;
    }
    kt_linear_t_item it = {al->wt[i], l->b, l->out, y};
    kt_linear_t_forward_many(al->ex, &it, 1, l->in, x, n, al->xs);
}

/* q, k, v = the linears 1, 2, 3 of x: one dispatch when all three are transposed float32. */
static void qkv_run(const albert_lin *al, const float *x, int n, float *q, float *k, float *v)
{
    if (!al->wt[1] || !al->wt[2] || !al->wt[3] || al->l[2].in != al->l[1].in || al->l[3].in != al->l[1].in) {
        lin_run(al, 1, x, n, q);
        lin_run(al, 2, x, n, k);
        lin_run(al, 3, x, n, v);
        return;
    }
    kt_linear_t_item it[3] = {{al->wt[1], al->l[1].b, al->l[1].out, q},
                              {al->wt[2], al->l[2].b, al->l[2].out, k},
                              {al->wt[3], al->l[3].b, al->l[3].out, v}};
    kt_linear_t_forward_many(al->ex, it, 3, al->l[1].in, x, n, al->xs);
}

kt_status kt_albert_run(const kt_model *m, const int *ids, int T, float *out, kt_arena *a, kt_error *err)
{
    const kt_albert_w *w = &m->bert;
    size_t n = (size_t)T * m->bert_h, mark = kt_arena_mark(a);
    albert_lin al;
    linears(w, al.l);
    al.wt = w->wt;
    size_t xs = packed_x_need(w, al.l, T);
    al.ex = a->ex;
    al.xs = xs ? kt_arena_take(a, xs) : NULL;
    if ((xs && !al.xs) || decode_linears(al.l, a))
        return kt_error_set(err, KT_ELIMIT, "internal: work buffer too small (albert)");
    float *e = kt_arena_take(a, (size_t)T * m->bert_e);
    float *q = kt_arena_take(a, n), *k = kt_arena_take(a, n), *v = kt_arena_take(a, n);
    float *att = kt_arena_take(a, n), *ctx = kt_arena_take(a, n);
    float *ff = kt_arena_take(a, (size_t)T * m->inter);
    float *sc = kt_arena_take(a, (size_t)attn_slices(m) * T * T);
    if (!e || !q || !k || !v || !att || !ctx || !ff || !sc)
        return kt_error_set(err, KT_ELIMIT, "internal: work buffer too small (albert)");
    embed(m, ids, T, e);
    lin_run(&al, 0, e, T, out);
    for (int l = 0; l < m->cfg.plbert.num_hidden_layers; l++) {
        qkv_run(&al, out, T, q, k, v);
        attention(m, q, k, v, T, sc, ctx, a->ex);
        lin_run(&al, 4, ctx, T, att);
        kt_add_layernorm_rows_mt(a->ex, att, out, T, m->bert_h, w->attn_ln_g, w->attn_ln_b, ALBERT_EPS);
        lin_run(&al, 5, att, T, ff);
        kt_gelu_new_mt(a->ex, ff, (size_t)T * m->inter);
        lin_run(&al, 6, ff, T, out);
        kt_add_layernorm_rows_mt(a->ex, out, att, T, m->bert_h, w->full_ln_g, w->full_ln_b, ALBERT_EPS);
    }
    kt_arena_release(a, mark);
    return KT_OK;
}
