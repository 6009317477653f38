/* predictor.c - ProsodyPredictor: DurationEncoder, duration head, F0/N branches,
 * and the AdainResBlk1d block they share with the decoder. */
#include <math.h>
#include <string.h>

#include "kokoro_impl.h"

#define RSQRT2 0.70710677f /* float32 rsqrt(2), as upstream */
#define ADAIN_EPS 1e-5f

static kt_status too_small(kt_error *err, const char *what)
{
    return kt_error_set(err, KT_ELIMIT, "internal: work buffer too small (%s)", what);
}

/* ---- BiLSTM with compact matrices ---------------------------------------------------- */

static size_t lstm_mat_size(const kt_lstm *l, int hh) { return 4 * (size_t)l->hidden * (hh ? l->hidden : l->in); }

size_t kt_lstm_need(const kt_lstm_w *w, int L)
{
    size_t n = kt_lstm_scratch(&w->l, L);
    for (int d = 0; d < 2; d++)
        for (int hh = 0; hh < 2; hh++)
            if (w->q[d][hh])
                n += kt_arena_round(lstm_mat_size(&w->l, hh));
    return n;
}

typedef struct {
    const kt_qview *q[4];
    float *out[4];
    int n;
} decode_job;

/* Rows i0 .. i1 of the job's matrices one after the other. */
static void decode_rows(void *ctx, size_t i0, size_t i1)
{
    const decode_job *j = ctx;
    size_t base = 0;
    for (int m = 0; m < j->n; m++) {
        size_t rows = (size_t)j->q[m]->rows;
        for (size_t i = i0 > base ? i0 : base; i < i1 && i < base + rows; i++)
            kt_qview_row(j->q[m], (int64_t)(i - base), j->out[m] + (i - base) * (size_t)j->q[m]->cols);
        base += rows;
    }
}

kt_status kt_lstm_run(const kt_lstm_w *w, const float *x, int L, float *y, kt_arena *a, kt_error *err)
{
    kt_lstm l = w->l;
    size_t mark = kt_arena_mark(a), rows = 0;
    decode_job j = {{NULL}, {NULL}, 0};
    for (int d = 0; d < 2; d++)
        for (int hh = 0; hh < 2; hh++) {
            if (!w->q[d][hh])
                continue;
            float *buf = kt_arena_take(a, lstm_mat_size(&l, hh));
            if (!buf)
                return too_small(err, "lstm");
            j.q[j.n] = w->q[d][hh];
            j.out[j.n++] = buf;
            rows += (size_t)w->q[d][hh]->rows;
            if (hh)
                l.whh[d] = buf;
            else
                l.wih[d] = buf;
        }
    if (j.n) /* compact matrices decoded on every thread, by rows */
        kt_exec_range(a->ex, rows, (size_t)l.in, 1 << 16, decode_rows, &j);
    kt_status st = kt_lstm_forward(&l, x, L, y, a, err);
    kt_arena_release(a, mark);
    return st;
}

/* ---- AdainResBlk1d ---------------------------------------------------------------- */

size_t kt_adain_resblk_need(const kt_adain_resblk *b, int sty, int L)
{
    (void)sty;
    size_t lo = (size_t)(b->up ? 2 * L : L), li = lo;
    size_t n = kt_arena_round(2 * (size_t)b->din) + kt_arena_round(2 * (size_t)b->dout);
    n += kt_arena_round((size_t)b->din * L) + kt_arena_round((size_t)b->dout * lo);
    if (b->up)
        n += 2 * kt_arena_round((size_t)b->din * lo);
    if (b->din != b->dout)
        n += kt_arena_round((size_t)b->dout * lo);
    size_t c1 = kt_conv_need(&b->conv1, &b->pk1, (int)li), c2 = kt_conv_need(&b->conv2, &b->pk2, (int)lo);
    size_t c3 = b->din != b->dout ? kt_conv_need(&b->sc, &b->pksc, (int)lo) : 0;
    c1 = c1 > c2 ? c1 : c2;
    return n + (c1 > c3 ? c1 : c3);
}

static void style_fc(kt_exec *ex, const kt_linear *fc, const float *s, float *gb)
{
    kt_linear_forward(fc, s, 1, gb, ex);
}

static void upsample2(const float *x, int C, int L, float *y)
{
    for (size_t c = 0; c < (size_t)C; c++)
        for (int t = 0; t < L; t++)
            y[c * 2 * L + 2 * t] = y[c * 2 * L + 2 * t + 1] = x[c * L + t];
}

/* res = conv2(lrelu(AdaIN2(conv1(pool(lrelu(AdaIN1(x))))))) into y. */
static kt_status resblk_residual(const kt_adain_resblk *b, const float *x, int L, const float *s, float *y,
                                 kt_arena *a, kt_error *err)
{
    int lo = b->up ? 2 * L : L;
    float *gb1 = kt_arena_take(a, 2 * (size_t)b->din), *gb2 = kt_arena_take(a, 2 * (size_t)b->dout);
    float *r = kt_arena_take(a, (size_t)b->din * L), *h = kt_arena_take(a, (size_t)b->dout * lo);
    float *p = b->up ? kt_arena_take(a, (size_t)b->din * lo) : r;
    kt_status st;
    if (!gb1 || !gb2 || !r || !h || !p)
        return too_small(err, "resblock");
    style_fc(a->ex, &b->norm1, s, gb1);
    style_fc(a->ex, &b->norm2, s, gb2);
    memcpy(r, x, sizeof(float) * (size_t)b->din * L);
    kt_adain1d_mt(a->ex, r, b->din, L, gb1, ADAIN_EPS);
    kt_leaky_relu_mt(a->ex, r, (size_t)b->din * L, 0.2f);
    if (b->up)
        kt_dwconvt1d_forward(&b->pool, r, L, p);
    if ((st = kt_conv_run(&b->conv1, &b->pk1, p, lo, h, a, err)))
        return st;
    kt_adain1d_mt(a->ex, h, b->dout, lo, gb2, ADAIN_EPS);
    kt_leaky_relu_mt(a->ex, h, (size_t)b->dout * lo, 0.2f);
    return kt_conv_run(&b->conv2, &b->pk2, h, lo, y, a, err);
}

kt_status kt_adain_resblk_run(const kt_adain_resblk *b, const float *x, int L, const float *s, float *y,
                              kt_arena *a, kt_error *err)
{
    int lo = b->up ? 2 * L : L;
    size_t n = (size_t)b->dout * lo, mark = kt_arena_mark(a);
    kt_status st = resblk_residual(b, x, L, s, y, a, err);
    if (st)
        return st;
    const float *u = x;
    if (b->up) {
        float *t = kt_arena_take(a, (size_t)b->din * lo);
        if (!t)
            return too_small(err, "resblock");
        upsample2(x, b->din, L, t);
        u = t;
    }
    if (b->din != b->dout) {
        float *t = kt_arena_take(a, n);
        if (!t)
            return too_small(err, "resblock");
        if ((st = kt_conv_run(&b->sc, &b->pksc, u, lo, t, a, err)))
            return st;
        u = t;
    }
    for (size_t i = 0; i < n; i++)
        y[i] = (y[i] + u[i]) * RSQRT2;
    kt_arena_release(a, mark);
    return KT_OK;
}

/* ---- text side: DurationEncoder and durations ------------------------------------ */

size_t kt_duration_need(const kt_model *m, int T)
{
    size_t wide = kt_arena_round((size_t)T * (m->hid + m->sty));
    size_t lstm = kt_lstm_need(&m->pred.lstm, T);
    return wide + 2 * kt_arena_round((size_t)T * m->hid) + kt_arena_round(2 * (size_t)m->hid) +
           kt_arena_round((size_t)T * m->cfg.max_dur) + lstm;
}

/* x[t] = [y[t] (C floats), s (S floats)]. */
static void concat_style(const float *y, int T, int C, const float *s, int S, float *x)
{
    for (int t = 0; t < T; t++) {
        memcpy(x + (size_t)t * (C + S), y + (size_t)t * C, sizeof(float) * (size_t)C);
        memcpy(x + (size_t)t * (C + S) + C, s, sizeof(float) * (size_t)S);
    }
}

static void durations(const kt_model *m, const float *logits, int T, float speed, float *dur, int *pred)
{
    int D = m->cfg.max_dur;
    for (int t = 0; t < T; t++) {
        float sum = 0.0f;
        for (int j = 0; j < D; j++)
            sum += 1.0f / (1.0f + expf(-logits[(size_t)t * D + j]));
        dur[t] = sum / speed;
        float r = rintf(dur[t]); /* round half to even, like torch.round */
        pred[t] = !(r >= 1.0f) ? 1 : r > (float)(1 << 24) ? 1 << 24 : (int)r; /* never an out-of-range cast */
    }
}

kt_status kt_duration_run(const kt_model *m, const float *bert_out, int T, const float *s_pred, float speed,
                          float *d, float *dur, int *pred_dur, kt_arena *a, kt_error *err)
{
    const kt_predictor_w *w = &m->pred;
    int C = m->hid, S = m->sty;
    size_t mark = kt_arena_mark(a);
    float *y = kt_arena_take(a, (size_t)T * C), *x = kt_arena_take(a, (size_t)T * C);
    float *gb = kt_arena_take(a, 2 * (size_t)C), *lg = kt_arena_take(a, (size_t)T * m->cfg.max_dur);
    kt_status st;
    if (!y || !x || !gb || !lg)
        return too_small(err, "duration");
    kt_linear_forward(&w->bert_enc, bert_out, T, y, a->ex); /* d_en^T [T, C] */
    concat_style(y, T, C, s_pred, S, d);
    for (int l = 0; l < m->n_layer; l++) {
        if ((st = kt_lstm_run(&w->dlstm[l], d, T, y, a, err)))
            return st;
        style_fc(a->ex, &w->daln[l], s_pred, gb);
        kt_adalayernorm_rows(y, T, C, gb, ADAIN_EPS);
        concat_style(y, T, C, s_pred, S, d);
    }
    if ((st = kt_lstm_run(&w->lstm, d, T, x, a, err)))
        return st;
    kt_linear_forward(&w->dur_proj, x, T, lg, a->ex);
    durations(m, lg, T, speed, dur, pred_dur);
    kt_arena_release(a, mark);
    return KT_OK;
}

/* ---- frame side: F0 and N ------------------------------------------------------- */

size_t kt_f0n_need(const kt_model *m, int F)
{
    size_t wide = kt_arena_round((size_t)F * (m->hid + m->sty));
    size_t n = wide + 3 * kt_arena_round((size_t)m->hid * 2 * F) + kt_lstm_need(&m->pred.shared, F);
    size_t rb = 0;
    for (int i = 0; i < 3; i++) {
        size_t r = kt_adain_resblk_need(&m->pred.f0[i], m->sty, i == 0 ? F : (i == 1 ? F : 2 * F));
        if (r > rb)
            rb = r;
    }
    size_t pj = kt_conv_need(&m->pred.f0_proj, &m->pred.pk_f0_proj, 2 * F);
    return n + (rb > pj ? rb : pj);
}

static kt_status branch(const kt_adain_resblk *blk, const kt_conv1d *proj, const kt_packed *pk, const float *x, int F,
                        const float *s, float *out, float *b1, float *b2, kt_arena *a, kt_error *err)
{
    kt_status st;
    if ((st = kt_adain_resblk_run(&blk[0], x, F, s, b1, a, err)))
        return st;
    if ((st = kt_adain_resblk_run(&blk[1], b1, F, s, b2, a, err)))
        return st;
    if ((st = kt_adain_resblk_run(&blk[2], b2, 2 * F, s, b1, a, err)))
        return st;
    return kt_conv_run(proj, pk, b1, 2 * F, out, a, err);
}

kt_status kt_f0n_run(const kt_model *m, const float *en, int F, const float *s_pred, float *f0, float *n,
                     kt_arena *a, kt_error *err)
{
    const kt_predictor_w *w = &m->pred;
    int W = m->hid + m->sty;
    size_t mark = kt_arena_mark(a);
    float *xt = kt_arena_take(a, (size_t)F * W), *x = kt_arena_take(a, (size_t)m->hid * 2 * F);
    float *b1 = kt_arena_take(a, (size_t)m->hid * 2 * F), *b2 = kt_arena_take(a, (size_t)m->hid * 2 * F);
    kt_status st;
    if (!xt || !x || !b1 || !b2)
        return too_small(err, "F0/N");
    kt_transpose(en, W, F, xt);
    if ((st = kt_lstm_run(&w->shared, xt, F, b1, a, err)))
        return st;
    kt_transpose(b1, F, m->hid, x);
    if ((st = branch(w->f0, &w->f0_proj, &w->pk_f0_proj, x, F, s_pred, f0, b1, b2, a, err)))
        return st;
    if ((st = branch(w->n, &w->n_proj, &w->pk_n_proj, x, F, s_pred, n, b1, b2, a, err)))
        return st;
    kt_arena_release(a, mark);
    return KT_OK;
}
