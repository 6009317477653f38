/* ops.c - numeric building blocks (see kt/ops.h). */
#include "kt/ops.h"

#include "kt/kernels.h"
#include "kt/quant.h"

#include <cblas.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <math.h>
#include <string.h>

#define ARENA_ALIGN 16 /* floats: 64 bytes */
#define CONV_TB 256    /* output columns per im2col block */

void openblas_set_num_threads(int n);

void kt_blas_serial(void) { openblas_set_num_threads(1); }

typedef struct {
    int ta, tb, M, N, K, lda, ldb, ldc, nb;
    float alpha;
    const float *A, *B;
    float *C;
} sgemm_job;

/* Products are cut along M only, in slices starting at multiples of SGEMM_SLICE. OpenBLAS
 * (column-major inside: our M is its N) computes an element in a way that depends on its
 * place in the kernel's tile (a partial last tile takes an edge kernel), so a slice must not
 * move an element within its tile: 48 is a multiple of the x86 sgemm unrolls (measured: the
 * Haswell/Zen kernels repeat every 12 rows, SkylakeX/Cooperlake every 16 or 32). Our N (its
 * M) cannot be cut: it is blocked by GEMM_P with a remainder halved as K is, so a cut moves
 * the block edges (Haswell: only N = 320, 640, 1024 gave the full call's columns).
 * A product with few rows (M < 2 SGEMM_SLICE: ALBERT's and the LSTMs' inputs on a short
 * sentence) is cut along N instead, into SGEMM_COLS columns at a time whatever the thread
 * count, so that its bytes do not depend on it either (they differ from one whole call's by
 * rounding). */
#define SGEMM_SLICE 48
#define SGEMM_COLS 128

/* Rows of C in the blocks b0 .. b1 of SGEMM_SLICE rows, the last block (index nb - 1) also
 * taking the M % SGEMM_SLICE rows after it: one serial OpenBLAS call. */
static void sgemm_rows(void *p, size_t b0, size_t b1)
{
    const sgemm_job *j = p;
    int r0 = (int)b0 * SGEMM_SLICE, r1 = (int)b1 == j->nb ? j->M : (int)b1 * SGEMM_SLICE;
    const float *A = j->A + (j->ta ? (size_t)r0 : (size_t)r0 * j->lda);
    cblas_sgemm(CblasRowMajor, j->ta ? CblasTrans : CblasNoTrans, j->tb ? CblasTrans : CblasNoTrans, r1 - r0, j->N,
                j->K, j->alpha, A, j->lda, j->B, j->ldb, 0.0f, j->C + (size_t)r0 * j->ldc, j->ldc);
}

/* Columns of C in the blocks b0 .. b1 of SGEMM_COLS columns (the last one shorter): one
 * serial OpenBLAS call each. */
static void sgemm_cols(void *p, size_t b0, size_t b1)
{
    const sgemm_job *j = p;
    for (size_t b = b0; b < b1; b++) {
        int c0 = (int)b * SGEMM_COLS, c1 = c0 + SGEMM_COLS < j->N ? c0 + SGEMM_COLS : j->N;
        const float *B = j->B + (j->tb ? (size_t)c0 * j->ldb : (size_t)c0);
        cblas_sgemm(CblasRowMajor, j->ta ? CblasTrans : CblasNoTrans, j->tb ? CblasTrans : CblasNoTrans, j->M,
                    c1 - c0, j->K, j->alpha, j->A, j->lda, B, j->ldb, 0.0f, j->C + c0, j->ldc);
    }
}

void kt_sgemm(kt_exec *ex, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float *C, int ldc)
{
    int threads = kt_exec_threads(ex), nb = M / SGEMM_SLICE;
    sgemm_job j = {ta, tb, M, N, K, lda, ldb, ldc, nb, alpha, A, B, C};
    if (M <= 0 || N <= 0)
        return;
    if (M < 2 * SGEMM_SLICE && N >= 2 * SGEMM_COLS) {
        kt_exec_range(ex, (size_t)(N + SGEMM_COLS - 1) / SGEMM_COLS, (size_t)M * K * SGEMM_COLS, 1 << 20, sgemm_cols, &j);
        return;
    }
    /* every thread's slice at least SGEMM_SLICE rows and 2^20 multiply-adds, so that no
     * slice is small enough for a small-matrix path the whole product would not take */
    if (threads < 2 || nb < threads || (double)(nb / threads) * SGEMM_SLICE * N * K < (double)(1 << 20)) {
        j.nb = 1;
        sgemm_rows(&j, 0, 1);
        return;
    }
    kt_exec_range(ex, (size_t)nb, 1, 0, sgemm_rows, &j);
}

void kt_arena_init(kt_arena *a, float *buf, size_t cap)
{
    a->base = buf;
    a->cap = cap;
    a->used = 0;
    a->high = 0;
    a->ex = NULL;
}

size_t kt_arena_round(size_t n) { return (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN; }

float *kt_arena_take(kt_arena *a, size_t n)
{
    size_t r = kt_arena_round(n ? n : 1);
    if (r > a->cap - a->used)
        return NULL;
    float *p = a->base + a->used;
    a->used += r;
    if (a->used > a->high)
        a->high = a->used;
    return p;
}

size_t kt_arena_mark(const kt_arena *a) { return a->used; }

void kt_arena_release(kt_arena *a, size_t mark)
{
    if (mark <= a->used)
        a->used = mark;
}

static kt_status arena_full(kt_error *err)
{
    return kt_error_set(err, KT_ELIMIT, "internal: work buffer too small");
}

typedef struct {
    const kt_linear *l;
    const float *x;
    float *y;
    int isa;
} matvec_job;

/* Rows r0 .. r1 of y = W x (float32 or compact W), each row's dot product alone. */
static void matvec_rows(void *ctx, size_t r0, size_t r1)
{
    const matvec_job *j = ctx;
    const kt_linear *l = j->l;
    if (l->w) {
        kt_matvec(j->isa, l->w + r0 * (size_t)l->in, j->x, (int)(r1 - r0), l->in, j->y + r0);
        return;
    }
    for (size_t r = r0; r < r1; r++)
        j->y[r] = kt_qview_row_dot(l->qv, (int64_t)r, j->x);
}

#define MATVEC_MIN_WORK (1 << 15) /* multiply-adds worth sharing among the threads */

void kt_linear_forward(const kt_linear *l, const float *x, int n, float *y, kt_exec *ex)
{
    if (n <= 0)
        return;
    if (!l->w || n == 1) { /* compact weights, or a style projection: one pass over the weights by rows */
        for (int t = 0; t < n; t++) {
            matvec_job j = {l, x + (size_t)t * l->in, y + (size_t)t * l->out, kt_exec_isa(ex)};
            kt_exec_range(ex, (size_t)l->out, (size_t)l->in, MATVEC_MIN_WORK, matvec_rows, &j);
        }
    } else
        kt_sgemm(ex, 0, 1, n, l->out, l->in, 1.0f, x, l->in, l->w, l->in, y, l->out);
    kt_linear_add_bias(l, n, y);
}

void kt_linear_add_bias(const kt_linear *l, int n, float *y)
{
    if (l->b)
        for (int t = 0; t < n; t++)
            for (int o = 0; o < l->out; o++)
                y[(size_t)t * l->out + o] += l->b[o];
}

int kt_conv1d_out_len(const kt_conv1d *c, int L)
{
    long num = (long)L + 2L * c->pad - (long)c->dil * (c->k - 1) - 1;
    if (num < 0)
        return 0;
    return (int)(num / c->stride + 1);
}

static int is_pointwise(const kt_conv1d *c) { return c->k == 1 && c->stride == 1 && c->pad == 0; }

size_t kt_conv1d_scratch(const kt_conv1d *c, int L)
{
    int lo = kt_conv1d_out_len(c, L);
    int tb = lo < CONV_TB ? lo : CONV_TB;
    if (is_pointwise(c) || lo <= 0)
        return 0;
    return kt_arena_round((size_t)c->cin * c->k * tb);
}

static void add_bias_rows(float *y, int C, int L, const float *b)
{
    if (!b)
        return;
    for (int o = 0; o < C; o++) {
        float *r = y + (size_t)o * L;
        for (int t = 0; t < L; t++)
            r[t] += b[o];
    }
}

/* col[(i*k + j), 0..nb) = x[i, (t0+t)*stride + j*dil - pad] (0 outside [0, L)). */
static void im2col_block(const kt_conv1d *c, const float *x, int L, int t0, int nb, float *col)
{
    for (int i = 0; i < c->cin; i++) {
        const float *xr = x + (size_t)i * L;
        for (int j = 0; j < c->k; j++) {
            float *row = col + ((size_t)i * c->k + j) * nb;
            long off = (long)j * c->dil - c->pad;
            if (c->stride == 1) {
                long lo = -off - t0, hi = (long)L - off - t0; /* valid t in [lo, hi) */
                if (lo < 0) lo = 0;
                if (hi > nb) hi = nb;
                if (hi < lo) hi = lo;
                if (lo > nb) lo = hi = nb;
                memset(row, 0, sizeof(float) * (size_t)lo);
                if (hi > lo)
                    memcpy(row + lo, xr + t0 + lo + off, sizeof(float) * (size_t)(hi - lo));
                memset(row + hi, 0, sizeof(float) * (size_t)(nb - hi));
            } else {
                for (int t = 0; t < nb; t++) {
                    long s = (long)(t0 + t) * c->stride + off;
                    row[t] = (s >= 0 && s < L) ? xr[s] : 0.0f;
                }
            }
        }
    }
}

kt_status kt_conv1d_forward(const kt_conv1d *c, const float *x, int L, float *y, kt_arena *a, kt_error *err)
{
    int lo = kt_conv1d_out_len(c, L);
    int ck = c->cin * c->k;
    if (lo <= 0)
        return KT_OK;
    if (is_pointwise(c)) {
        kt_sgemm(a->ex, 0, 0, c->cout, L, c->cin, 1.0f, c->w, c->cin, x, L, y, L);
        add_bias_rows(y, c->cout, L, c->b);
        return KT_OK;
    }
    int tb = lo < CONV_TB ? lo : CONV_TB;
    size_t mark = kt_arena_mark(a);
    float *col = kt_arena_take(a, (size_t)ck * tb);
    if (!col)
        return arena_full(err);
    for (int t0 = 0; t0 < lo; t0 += tb) {
        int nb = lo - t0 < tb ? lo - t0 : tb;
        im2col_block(c, x, L, t0, nb, col);
        kt_sgemm(a->ex, 0, 0, c->cout, nb, ck, 1.0f, c->w, ck, col, nb, y + t0, lo);
    }
    add_bias_rows(y, c->cout, lo, c->b);
    kt_arena_release(a, mark);
    return KT_OK;
}

int kt_convt1d_out_len(const kt_convt1d *c, int L)
{
    return (L - 1) * c->stride - 2 * c->pad + c->k + c->out_pad;
}

size_t kt_convt1d_scratch(const kt_convt1d *c, int L)
{
    int tb = L < CONV_TB ? L : CONV_TB;
    return kt_arena_round((size_t)c->cout * c->k * (tb > 0 ? tb : 1));
}

static void fill_bias(float *y, int C, int L, const float *b)
{
    for (int o = 0; o < C; o++) {
        float v = b ? b[o] : 0.0f;
        float *r = y + (size_t)o * L;
        for (int t = 0; t < L; t++)
            r[t] = v;
    }
}

kt_status kt_convt1d_forward(const kt_convt1d *c, const float *x, int L, float *y, kt_arena *a, kt_error *err)
{
    int lo = kt_convt1d_out_len(c, L);
    int cok = c->cout * c->k;
    int tb = L < CONV_TB ? L : CONV_TB;
    if (lo <= 0 || L <= 0)
        return KT_OK;
    fill_bias(y, c->cout, lo, c->b);
    size_t mark = kt_arena_mark(a);
    float *z = kt_arena_take(a, (size_t)cok * tb);
    if (!z)
        return arena_full(err);
    for (int t0 = 0; t0 < L; t0 += tb) {
        int nb = L - t0 < tb ? L - t0 : tb;
        /* z[(o*k + j), t] = sum_i w[i, o, j] x[i, t0 + t] */
        kt_sgemm(a->ex, 1, 0, cok, nb, c->cin, 1.0f, c->w, cok, x + t0, L, z, nb);
        for (int o = 0; o < c->cout; o++) {
            float *yr = y + (size_t)o * lo;
            for (int j = 0; j < c->k; j++) {
                const float *zr = z + ((size_t)o * c->k + j) * nb;
                for (int t = 0; t < nb; t++) {
                    long p = (long)(t0 + t) * c->stride + j - c->pad;
                    if (p >= 0 && p < lo)
                        yr[p] += zr[t];
                }
            }
        }
    }
    kt_arena_release(a, mark);
    return KT_OK;
}

void kt_dwconvt1d_forward(const kt_convt1d *c, const float *x, int L, float *y)
{
    int lo = kt_convt1d_out_len(c, L);
    if (lo <= 0 || L <= 0)
        return;
    fill_bias(y, c->cout, lo, c->b);
    for (int ch = 0; ch < c->cout; ch++) {
        const float *xr = x + (size_t)ch * L;
        const float *w = c->w + (size_t)ch * c->k;
        float *yr = y + (size_t)ch * lo;
        for (int t = 0; t < L; t++)
            for (int j = 0; j < c->k; j++) {
                long p = (long)t * c->stride + j - c->pad;
                if (p >= 0 && p < lo)
                    yr[p] += w[j] * xr[t];
            }
    }
}

static int lstm_panels(const kt_lstm *l) { return l->wiht[0] || l->wiht[1]; }

size_t kt_lstm_scratch(const kt_lstm *l, int L)
{
    size_t h4 = 4 * (size_t)l->hidden, n = L > 0 ? (size_t)L : 1;
    size_t xs = lstm_panels(l) ? kt_arena_round(kt_linear_t_scratch((int)n, l->in)) : 0;
    return 2 * (kt_arena_round(h4 * n) + kt_arena_round(h4) + 2 * kt_arena_round(l->hidden)) + xs;
}

/* Direction d over the L steps: the hidden state of a step is its output row in y (the zero
 * vector h0 before the first). */
static void lstm_direction(const kt_lstm *l, int d, const float *gx, int L, float *y, float *g, float *h0,
                           float *c, int isa)
{
    int H = l->hidden;
    const float *h = h0;
    memset(h0, 0, sizeof(float) * (size_t)H);
    memset(c, 0, sizeof(float) * (size_t)H);
    for (int s = 0; s < L; s++) {
        int t = d ? L - 1 - s : s;
        float *out = y + (size_t)t * 2 * H + (size_t)d * H;
        memcpy(g, gx + (size_t)t * 4 * H, sizeof(float) * 4 * (size_t)H);
        cblas_sgemv(CblasRowMajor, CblasNoTrans, 4 * H, H, 1.0f, l->whh[d], H, h, 1, 1.0f, g, 1);
        kt_lstm_cell(isa, g, c, out, H);
        h = out;
    }
}

typedef struct {
    const kt_lstm *l;
    int L, isa;
    float *y, *gx[2], *g[2], *h[2], *c[2];
} lstm_job;

/* The two directions are independent: thread d runs direction d (one thread: both). */
static void lstm_task(void *p, int tid, int n)
{
    const lstm_job *j = p;
    for (int d = 0; d < 2; d++)
        if (n < 2 || d == tid)
            lstm_direction(j->l, d, j->gx[d], j->L, j->y, j->g[d], j->h[d], j->c[d], j->isa);
}

kt_status kt_lstm_forward(const kt_lstm *l, const float *x, int L, float *y, kt_arena *a, kt_error *err)
{
    int H = l->hidden;
    if (L <= 0)
        return KT_OK;
    size_t mark = kt_arena_mark(a);
    lstm_job j = {l, L, kt_exec_isa(a->ex), y, {NULL, NULL}, {NULL, NULL}, {NULL, NULL}, {NULL, NULL}};
    for (int d = 0; d < 2; d++) {
        j.gx[d] = kt_arena_take(a, (size_t)L * 4 * H);
        j.g[d] = kt_arena_take(a, 4 * (size_t)H);
        j.h[d] = kt_arena_take(a, (size_t)H);
        j.c[d] = kt_arena_take(a, (size_t)H);
        if (!j.gx[d] || !j.g[d] || !j.h[d] || !j.c[d])
            return arena_full(err);
    }
    float *xs = NULL;
    if (lstm_panels(l) && !(xs = kt_arena_take(a, kt_linear_t_scratch(L, l->in))))
        return arena_full(err);
    kt_linear_t_item it[2] = {{l->wiht[0], l->b[0], 4 * H, j.gx[0]}, {l->wiht[1], l->b[1], 4 * H, j.gx[1]}};
    if (l->wiht[0] && l->wiht[1]) /* one dispatch, one packing of x */
        kt_linear_t_forward_many(a->ex, it, 2, l->in, x, L, xs);
    else
        for (int d = 0; d < 2; d++) {
            if (l->wiht[d]) {
                kt_linear_t_forward_many(a->ex, &it[d], 1, l->in, x, L, xs);
                continue;
            }
            kt_linear ih = {.w = l->wih[d], .b = l->b[d], .in = l->in, .out = 4 * H};
            kt_linear_forward(&ih, x, L, j.gx[d], a->ex);
        }
    kt_exec_run(a->ex, lstm_task, &j);
    kt_arena_release(a, mark);
    return KT_OK;
}

static void norm_row_stats(const float *x, int n, size_t stride, double *mean, double *inv, float eps)
{
    double s = 0.0, ss = 0.0;
    for (int i = 0; i < n; i++)
        s += x[i * stride];
    double m = s / n;
    for (int i = 0; i < n; i++) {
        double d = x[i * stride] - m;
        ss += d * d;
    }
    *mean = m;
    *inv = 1.0 / sqrt(ss / n + (double)eps);
}

void kt_layernorm_rows(float *x, int n, int C, const float *g, const float *b, float eps)
{
    for (int t = 0; t < n; t++) {
        float *r = x + (size_t)t * C;
        double m, inv;
        norm_row_stats(r, C, 1, &m, &inv, eps);
        for (int c = 0; c < C; c++) {
            float v = (float)((r[c] - m) * inv);
            r[c] = (g ? v * g[c] : v) + (b ? b[c] : 0.0f);
        }
    }
}

void kt_layernorm_channels(float *x, int C, int L, const float *g, const float *b, float eps)
{
    for (int t = 0; t < L; t++) {
        double m, inv;
        norm_row_stats(x + t, C, (size_t)L, &m, &inv, eps);
        for (int c = 0; c < C; c++) {
            float *p = x + (size_t)c * L + t;
            float v = (float)((*p - m) * inv);
            *p = (g ? v * g[c] : v) + (b ? b[c] : 0.0f);
        }
    }
}

void kt_adalayernorm_rows(float *x, int n, int C, const float *gb, float eps)
{
    for (int t = 0; t < n; t++) {
        float *r = x + (size_t)t * C;
        double m, inv;
        norm_row_stats(r, C, 1, &m, &inv, eps);
        for (int c = 0; c < C; c++)
            r[c] = (1.0f + gb[c]) * (float)((r[c] - m) * inv) + gb[C + c];
    }
}

void kt_adain1d(float *x, int C, int L, const float *gb, float eps)
{
    for (int c = 0; c < C; c++) {
        float *r = x + (size_t)c * L;
        double m, inv;
        norm_row_stats(r, L, 1, &m, &inv, eps);
        float sc = 1.0f + gb[c], sh = gb[C + c];
        for (int t = 0; t < L; t++)
            r[t] = sc * (float)((r[t] - m) * inv) + sh;
    }
}

void kt_snake(float *x, int C, int L, const float *alpha)
{
    for (int c = 0; c < C; c++) {
        float al = alpha[c], inv = 1.0f / al;
        float *r = x + (size_t)c * L;
        for (int t = 0; t < L; t++) {
            float s = sinf(al * r[t]);
            r[t] += inv * s * s;
        }
    }
}

void kt_add(float *restrict d, const float *restrict s, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int u = 0; u < 4; u++)
            d[i + u] += s[i + u];
    for (; i < n; i++)
        d[i] += s[i];
}

void kt_leaky_relu(float *x, size_t n, float slope)
{
    size_t i = 0;
#if defined(__SSE2__)
    /* negative lanes take v * slope, the others keep v untouched (a select, no branch) */
    const __m128 z = _mm_setzero_ps(), s = _mm_set1_ps(slope);
    for (; i + 4 <= n; i += 4) {
        __m128 v = _mm_loadu_ps(x + i), neg = _mm_cmplt_ps(v, z);
        _mm_storeu_ps(x + i, _mm_or_ps(_mm_and_ps(neg, _mm_mul_ps(v, s)), _mm_andnot_ps(neg, v)));
    }
#endif
    for (; i < n; i++)
        if (x[i] < 0.0f)
            x[i] *= slope;
}

void kt_gelu_new(float *x, size_t n) { kt_gelu(KT_ISA_GENERIC, x, n); }

#define MT_MIN 16384 /* elements below which a loop stays on the caller's thread */

typedef struct {
    float *x;
    float slope, eps;
    const float *gb;
    int C, L;
    int isa; /* KT_ISA_* of the exec */
} elt_job;

static void leaky_part(void *p, size_t i0, size_t i1)
{
    const elt_job *j = p;
    kt_leaky_relu(j->x + i0, i1 - i0, j->slope);
}

void kt_leaky_relu_mt(struct kt_exec *ex, float *x, size_t n, float slope)
{
    elt_job j = {x, slope, 0.0f, NULL, 0, 0, 0};
    kt_exec_range(ex, n, 1, MT_MIN, leaky_part, &j);
}

static void gelu_part(void *p, size_t i0, size_t i1)
{
    const elt_job *j = p;
    kt_gelu(j->isa, j->x + i0, i1 - i0);
}

void kt_gelu_new_mt(struct kt_exec *ex, float *x, size_t n)
{
    elt_job j = {x, 0.0f, 0.0f, NULL, 0, 0, kt_exec_isa(ex)};
    kt_exec_range(ex, n, 1, MT_MIN, gelu_part, &j);
}

typedef struct {
    float *x;
    const float *r, *g, *b;
    int C;
    float eps;
} add_norm_job;

static void add_norm_part(void *p, size_t t0, size_t t1)
{
    const add_norm_job *j = p;
    for (size_t t = t0; t < t1; t++) {
        float *row = j->x + t * (size_t)j->C;
        if (j->r)
            kt_add(row, j->r + t * (size_t)j->C, (size_t)j->C);
        kt_layernorm_rows(row, 1, j->C, j->g, j->b, j->eps);
    }
}

void kt_add_layernorm_rows_mt(struct kt_exec *ex, float *x, const float *r, int n, int C, const float *g,
                              const float *b, float eps)
{
    add_norm_job j = {x, r, g, b, C, eps};
    kt_exec_range(ex, (size_t)n, 4 * (size_t)C, MT_MIN, add_norm_part, &j); /* ~4 passes over a row */
}

/* rows i0 .. i1 of kt_adain1d: gb's scale and shift of row c at gb[c], gb[C + c] */
static void adain_part(void *p, size_t i0, size_t i1)
{
    const elt_job *j = p;
    for (size_t c = i0; c < i1; c++) {
        float g2[2] = {j->gb[c], j->gb[j->C + c]};
        kt_adain1d(j->x + c * (size_t)j->L, 1, j->L, g2, j->eps);
    }
}

void kt_adain1d_mt(struct kt_exec *ex, float *x, int C, int L, const float *gb, float eps)
{
    elt_job j = {x, 0.0f, eps, gb, C, L, 0};
    kt_exec_range(ex, (size_t)C, (size_t)L, MT_MIN, adain_part, &j);
}

void kt_transpose(const float *x, int rows, int cols, float *y)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            y[(size_t)c * rows + r] = x[(size_t)r * cols + c];
}
