/* generator.c - the iSTFTNet Generator trunk: noise convs + noise_res on the
 * source spectrum, transposed-conv upsampling, AdaINResBlock1 averages,
 * conv_post, exp/sin and the iSTFT. */
#include <math.h>
#include <string.h>

#include "kokoro_impl.h"

#define ADAIN_EPS 1e-5f

static kt_status too_small(kt_error *err)
{
    return kt_error_set(err, KT_ELIMIT, "internal: work buffer too small (generator)");
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* ---- element-wise and row loops spread over the threads (each element computed alone:
 * the bytes do not depend on the thread count) ---- */

/* Floats per channel of the low-memory statistics: 2 KT_STAT_LANES lane sums in double (S1 and
 * S2 of kt_stat_sums), then the shift. */
#define LM_ACC_FLOATS (4 * KT_STAT_LANES + 1)

#define PAR_MIN 16384 /* elements below which a loop stays on the caller's thread */

typedef struct {
    float *d;
    const float *s;
    float v;
    size_t ldd, lds, n; /* row copies: strides and row length */
} vec_job;

/* d[i] /= v, 4 elements a step on a restrict pointer, which the compiler turns into vector
 * instructions (the same operations, so the same bytes; kt_add is the sum's twin). */
static void div_floats(float *restrict d, size_t n, float v)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int u = 0; u < 4; u++)
            d[i + u] /= v;
    for (; i < n; i++)
        d[i] /= v;
}

static void add_part(void *p, size_t i0, size_t i1)
{
    const vec_job *j = p;
    kt_add(j->d + i0, j->s + i0, i1 - i0);
}

static void div_part(void *p, size_t i0, size_t i1)
{
    const vec_job *j = p;
    div_floats(j->d + i0, i1 - i0, j->v);
}

static void copy_part(void *p, size_t i0, size_t i1)
{
    const vec_job *j = p;
    memcpy(j->d + i0, j->s + i0, sizeof(float) * (i1 - i0));
}

static void rows_part(void *p, size_t i0, size_t i1)
{
    const vec_job *j = p;
    for (size_t c = i0; c < i1; c++)
        memcpy(j->d + c * j->ldd, j->s + c * j->lds, sizeof(float) * j->n);
}

static void exp_part(void *p, size_t i0, size_t i1)
{
    const vec_job *j = p;
    for (size_t k = i0; k < i1; k++)
        j->d[k] = expf(j->d[k]);
}

static void sin_part(void *p, size_t i0, size_t i1)
{
    const vec_job *j = p;
    for (size_t k = i0; k < i1; k++)
        j->d[k] = sinf(j->d[k]);
}

/* d[k] += s[k], d[k] /= v, d[k] = s[k], d[k] = expf(d[k]) or sinf(d[k]) for k < n. */
static void vec_run(kt_exec *ex, kt_range_fn fn, float *d, const float *s, float v, size_t n)
{
    vec_job j = {d, s, v, 0, 0, 0};
    kt_exec_range(ex, n, 1, PAR_MIN, fn, &j);
}

/* rows c < C: d[c * ldd ..] = s[c * lds ..], n floats each */
static void copy_rows(kt_exec *ex, float *d, size_t ldd, const float *s, size_t lds, int C, size_t n)
{
    vec_job j = {d, s, 0.0f, ldd, lds, n};
    kt_exec_range(ex, (size_t)C, n, PAR_MIN, rows_part, &j);
}

/* The resblock convs run in time blocks of GEN_BLOCK output columns (a multiple of the
 * kernels' 768-column super-tiles): only one block of the padded conv input is held. */
#define GEN_BLOCK 6144

/* Stage buffers of more floats than m->gen_lowmem switch to the low-memory schedule
 * (gen_stage_lm): 3 whole buffers instead of 4, for 2x the FLOPs of the first convs of
 * one resblock. */

static int blk_len(int L) { return L < GEN_BLOCK ? L : GEN_BLOCK; }

/* Floats of scratch of conv c by Winograd or FFT (w) on n columns (0: direct). */
static size_t fast_scratch(const kt_conv1d *c, const kt_wino *w, int n, int nt)
{
    if (!w->u)
        return 0;
    return w->fft ? kt_fft_scratch(c, n, nt) : kt_wino_scratch(c, w->bf16, n, nt);
}

/* Floats of Winograd / FFT scratch for the resblock's convs on blocks of n columns, on an exec
 * of nt threads at most (0: all direct). */
static size_t wino_need(const kt_gen_resblk *b, int n, int nt)
{
    size_t s = 0;
    for (int j = 0; j < b->n; j++) {
        s = max_sz(s, fast_scratch(&b->convs1[j], &b->wq1[j], n, nt));
        s = max_sz(s, fast_scratch(&b->convs2[j], &b->wq2[j], n, nt));
    }
    return s ? kt_arena_round(s) : 0;
}

/* Floats of the compute form of a block's padded conv input (rows of ls floats) for the direct
 * convs of b: bfloat16 pairs or 8-bit quads, 0 for float32 weights. */
static size_t blk_form_need(const kt_gen_resblk *b, size_t ls)
{
    size_t s = 0;
    for (int j = 0; j < b->n; j++) {
        s = max_sz(s, kt_conv_input_form_floats(b->pk1[j].dtype, b->ch, ls));
        s = max_sz(s, kt_conv_input_form_floats(b->pk2[j].dtype, b->ch, ls));
    }
    return s;
}

static size_t gen_resblk_scratch(const kt_gen_resblk *b, int L, int nt)
{
    size_t s = 0;
    int n = blk_len(L);
    for (int j = 0; j < b->n; j++)
        s = max_sz(s, max_sz(kt_conv_pad_len(&b->convs1[j], n), kt_conv_pad_len(&b->convs2[j], n)));
    return kt_arena_round((size_t)b->ch * s) + 2 * kt_arena_round(2 * (size_t)b->ch) + blk_form_need(b, s) +
           wino_need(b, n, nt);
}

/* Padded conv input of one block, its bf16 pairs (NULL unless the weights are bf16) and the
 * Winograd scratch (NULL unless a conv of the resblock runs by Winograd). */
typedef struct {
    float *xp, *xpb, *ws;
    size_t Ls;
} gen_blk;

/* y[., ldy] (+)= conv c on the padded block k (n columns): FFT or Winograd when wq has its
 * weight, else the direct kernel on pk. */
static void res_conv(kt_exec *ex, const kt_conv1d *c, const kt_packed *pk, const kt_wino *wq, const gen_blk *k,
                     int n, float *y, size_t ldy, int accumulate)
{
    if (wq->fft)
        kt_fft_conv_padded_ld(ex, c, wq->u, k->xp, k->Ls, n, y, ldy, accumulate, k->ws);
    else if (wq->u)
        kt_wino_conv_padded_ld(ex, c, wq, k->xp, k->Ls, n, y, ldy, accumulate, k->ws);
    else
        kt_conv1d_padded_ld(ex, c, pk, k->xp, k->Ls, n, y, ldy, accumulate, k->xpb);
}

/* Takes the block buffers of gen_blk from a for convs on blocks of n columns, lsmax their
 * padded length; 0 when the arena is too small. */
static int blk_take(const kt_gen_resblk *b, kt_arena *a, int n, size_t lsmax, gen_blk *k)
{
    size_t wn = wino_need(b, n, kt_exec_capacity(a->ex));
    *k = (gen_blk){kt_arena_take(a, (size_t)b->ch * lsmax), NULL, NULL, lsmax};
    size_t nf = blk_form_need(b, lsmax);
    if (nf && !(k->xpb = kt_arena_take(a, nf)))
        return 0;
    if (wn && !(k->ws = kt_arena_take(a, wn)))
        return 0;
    return k->xp != NULL;
}

/* y[C, L] (+)= c(snake(AdaIN(src))) with src's statistics mi, block by block (the same
 * bytes as kt_adain_snake_pad + kt_conv1d_padded on the whole signal). */
static void adain_conv_blocks(kt_exec *ex, const kt_gen_resblk *b, const float *src, int L, const float *mi,
                              const float *gb, const float *alpha, const kt_conv1d *c, const kt_packed *pk,
                              const kt_wino *wq, const gen_blk *k, float *y, int accumulate)
{
    for (int t0 = 0; t0 < L; t0 += GEN_BLOCK) {
        int t1 = L - t0 < GEN_BLOCK ? L : t0 + GEN_BLOCK;
        kt_adain_snake_block(ex, src, (size_t)L, 0, b->ch, L, mi, gb, alpha, t0, t1, c->pad, k->xp, k->Ls);
        res_conv(ex, c, pk, wq, k, t1 - t0, y + t0, (size_t)L, accumulate);
    }
}

/* x[C, L] += the n (adain, snake, dilated conv, adain, snake, conv) branches, in place:
 * AdaIN + Snake write the padded conv input of a block, the first conv writes t[C, L]
 * (caller's buffer, clobbered), the second conv adds into x. */
static kt_status gen_resblk_run(const kt_gen_resblk *b, float *x, int L, const float *s, float *t, kt_arena *a,
                                kt_error *err)
{
    size_t mark = kt_arena_mark(a), lsmax = 0;
    int n = blk_len(L);
    for (int j = 0; j < b->n; j++)
        lsmax = max_sz(lsmax, max_sz(kt_conv_pad_len(&b->convs1[j], n), kt_conv_pad_len(&b->convs2[j], n)));
    float *gb = kt_arena_take(a, 2 * (size_t)b->ch);
    float *mi = kt_arena_take(a, 2 * (size_t)b->ch);
    gen_blk k;
    if (!gb || !mi || !blk_take(b, a, n, lsmax, &k))
        return too_small(err);
    for (int j = 0; j < b->n; j++) {
        kt_linear_forward(&b->adain1[j], s, 1, gb, a->ex);
        kt_adain_stats(a->ex, x, b->ch, L, ADAIN_EPS, mi);
        adain_conv_blocks(a->ex, b, x, L, mi, gb, b->alpha1[j], &b->convs1[j], &b->pk1[j], &b->wq1[j], &k, t, 0);
        kt_linear_forward(&b->adain2[j], s, 1, gb, a->ex);
        kt_adain_stats(a->ex, t, b->ch, L, ADAIN_EPS, mi);
        adain_conv_blocks(a->ex, b, t, L, mi, gb, b->alpha2[j], &b->convs2[j], &b->pk2[j], &b->wq2[j], &k, x, 1);
    }
    kt_arena_release(a, mark);
    return KT_OK;
}

/* ---- low-memory resblock: the first conv's output is never held whole ----
 * Its AdaIN statistics come from a pass that computes it block by block (kt_stat_sums, in
 * kt_adain_stats' exact order), and a second pass recomputes it with the second conv's halo:
 * 2x the first conv's FLOPs, bit-identical output. */

/* Scratch of the low-memory path: two gb and two mi vectors, the padded conv input block,
 * its bf16 pairs, the first conv's output block with halo, two output blocks, the lane sums. */
#define LM_BLOCK 3072 /* smaller blocks: this path holds five of them */

static int lm_len(int L) { return L < LM_BLOCK ? L : LM_BLOCK; }

static size_t lm_halo(const kt_gen_resblk *b)
{
    int p = 0;
    for (int j = 0; j < b->n; j++)
        p = b->convs2[j].pad > p ? b->convs2[j].pad : p;
    return (size_t)p;
}

/* Output columns a tile of resblock b's first conv j covers (its outputs depend on their place in
 * it and on the zeros past a block's end): 4 d for Winograd, 0 for the direct kernel (every
 * output computed the same way). The binder keeps this resblock off FFT: the second conv's
 * blocks (LM_BLOCK) would not line up with its tiles of (32 - k + 1) d columns. */
static int lm_grid(const kt_gen_resblk *b, int j)
{
    return b->wq1[j].u ? KT_WINO_M * b->convs1[j].dil : 0;
}

/* Columns the first convs may compute past each end of a block (lm_first). */
static size_t lm_edge(const kt_gen_resblk *b)
{
    int e = 0;
    for (int j = 0; j < b->n; j++) {
        int g = lm_grid(b, j) - 1;
        e = g > e ? g : e;
    }
    return (size_t)e;
}

/* Columns of the first conv's output block: n with the second conv's halo and lm_edge each side. */
static size_t lm_span(const kt_gen_resblk *b, size_t n) { return n + 2 * lm_halo(b) + 2 * lm_edge(b); }

static size_t gen_resblk_lm_scratch(const kt_gen_resblk *b, int L, int nt)
{
    size_t n = (size_t)lm_len(L), ch = (size_t)b->ch, s = 0, hn = lm_span(b, n);
    for (int j = 0; j < b->n; j++)
        s = max_sz(s, max_sz(kt_conv_pad_len(&b->convs1[j], (int)hn), kt_conv_pad_len(&b->convs2[j], (int)n)));
    size_t bf = blk_form_need(b, s);
    return 4 * kt_arena_round(2 * ch) + kt_arena_round(ch * s) + bf + kt_arena_round(ch * hn) +
           2 * kt_arena_round(ch * n) + kt_arena_round(LM_ACC_FLOATS * ch) + wino_need(b, (int)hn, nt);
}

typedef struct {
    const kt_gen_resblk *b;
    int j, L;
    const float *x, *gb1, *mi1;
    gen_blk k;
    float *hw; /* [ch, ldh]: first conv output columns h0 .. h1 (lm_edge more before and after) */
    size_t ldh;
    int isa; /* the exec's, for kt_stat_sums */
} lm_ctx;

/* hw = the first conv's output columns [h0, h1), each the value adain_conv_blocks gives it. A
 * direct conv computes just those. A Winograd or FFT output depends on its place in a tile, and a
 * tile's inputs past a block's end are zeros: the conv runs on the tiles adain_conv_blocks runs
 * there (GEN_BLOCK blocks, tiles of lm_grid outputs from each block's start), from the tile
 * before h0 up to the tile after h1 or the block's end, writing up to lm_grid - 1 columns past
 * each end of hw's. */
static void lm_first(kt_exec *ex, const lm_ctx *q, int h0, int h1)
{
    const kt_conv1d *c = &q->b->convs1[q->j];
    const kt_wino *wq = &q->b->wq1[q->j];
    int g = lm_grid(q->b, q->j);
    for (int a = h0; a < h1;) {
        int o = a / GEN_BLOCK * GEN_BLOCK, e = o + GEN_BLOCK < q->L ? o + GEN_BLOCK : q->L, b = h1, a1 = a, b1 = h1;
        if (g) {
            b = h1 < e ? h1 : e;
            a1 = o + (a - o) / g * g;
            b1 = o + (b - o + g - 1) / g * g; /* the tile after b, or the block's end */
            b1 = b1 < e ? b1 : e;
        }
        kt_adain_snake_block(ex, q->x, (size_t)q->L, 0, q->b->ch, q->L, q->mi1, q->gb1, q->b->alpha1[q->j], a1, b1,
                             c->pad, q->k.xp, q->k.Ls);
        res_conv(ex, c, &q->b->pk1[q->j], wq, &q->k, b1 - a1, q->hw + (a1 - h0), q->ldh, 0);
        a = b;
    }
}

typedef struct {
    const lm_ctx *q;
    int n;
    float *shift;
    double *acc;
} lm_sum_job;

/* kt_adain_stats' sums of the next n columns of hw added to acc (KT_STAT_LANES for S1, then as
 * many for S2, per row); rows c0 .. c1. */
static void lm_sums_part(void *p, size_t c0, size_t c1)
{
    const lm_sum_job *jb = p;
    const lm_ctx *q = jb->q;
    for (size_t c = c0; c < c1; c++) {
        double *a = jb->acc + 2 * KT_STAT_LANES * c;
        kt_stat_sums(q->hw + c * q->ldh, jb->n, jb->shift[c], q->isa, a, a + KT_STAT_LANES);
    }
}

/* mi2 = the statistics of the first conv's output (one recompute pass; each row's shift from
 * its first block). */
static void lm_stats(kt_exec *ex, lm_ctx *q, double *acc, float *shift, float *mi2)
{
    int ch = q->b->ch;
    memset(acc, 0, sizeof(double) * 2 * KT_STAT_LANES * (size_t)ch);
    for (int t0 = 0; t0 < q->L; t0 += LM_BLOCK) {
        int t1 = q->L - t0 < LM_BLOCK ? q->L : t0 + LM_BLOCK;
        lm_first(ex, q, t0, t1);
        if (!t0)
            for (int c = 0; c < ch; c++)
                shift[c] = kt_stat_shift(q->hw + (size_t)c * q->ldh, t1);
        lm_sum_job jb = {q, t1 - t0, shift, acc};
        kt_exec_range(ex, (size_t)ch, 1, 0, lm_sums_part, &jb);
    }
    for (int c = 0; c < ch; c++) {
        const double *a = acc + 2 * KT_STAT_LANES * (size_t)c;
        kt_stat_finish(a, a + KT_STAT_LANES, q->L, shift[c], ADAIN_EPS, &mi2[2 * c], &mi2[2 * c + 1]);
    }
}

static void lm_put(kt_exec *ex, float *x, int L, int C, const float *ob, size_t ldo, int t0, int t1)
{
    copy_rows(ex, x + t0, (size_t)L, ob, ldo, C, (size_t)(t1 - t0));
}

/* gen_resblk_run without a whole-length buffer for the first conv's output. */
static kt_status gen_resblk_run_lm(const kt_gen_resblk *b, float *x, int L, const float *s, kt_arena *a,
                                   kt_error *err)
{
    size_t mark = kt_arena_mark(a), ch = (size_t)b->ch, n = (size_t)lm_len(L), hn = lm_span(b, n), lsmax = 0;
    for (int j = 0; j < b->n; j++)
        lsmax = max_sz(lsmax, max_sz(kt_conv_pad_len(&b->convs1[j], (int)hn), kt_conv_pad_len(&b->convs2[j], (int)n)));
    float *gb1 = kt_arena_take(a, 2 * ch), *gb2 = kt_arena_take(a, 2 * ch);
    float *mi1 = kt_arena_take(a, 2 * ch), *mi2 = kt_arena_take(a, 2 * ch);
    lm_ctx q = {b, 0, L, x, gb1, mi1, {NULL, NULL, NULL, 0}, NULL, hn, kt_exec_isa(a->ex)};
    if (!blk_take(b, a, (int)hn, lsmax, &q.k))
        return too_small(err);
    q.hw = kt_arena_take(a, ch * q.ldh);
    q.hw = q.hw ? q.hw + lm_edge(b) : NULL;
    float *ob[2] = {kt_arena_take(a, ch * n), kt_arena_take(a, ch * n)};
    double *acc = (double *)(void *)kt_arena_take(a, LM_ACC_FLOATS * ch);
    float *shift = (float *)(acc + 2 * KT_STAT_LANES * ch);
    if (!gb1 || !gb2 || !mi1 || !mi2 || !q.hw || !ob[1] || !acc)
        return too_small(err);
    for (int j = 0; j < b->n; j++) {
        const kt_conv1d *c2 = &b->convs2[j];
        int p2 = c2->pad, pend = -1, pt1 = 0;
        q.j = j;
        kt_linear_forward(&b->adain1[j], s, 1, gb1, a->ex);
        kt_linear_forward(&b->adain2[j], s, 1, gb2, a->ex);
        kt_adain_stats(a->ex, x, b->ch, L, ADAIN_EPS, mi1);
        lm_stats(a->ex, &q, acc, shift, mi2);
        for (int t0 = 0, nb = 0; t0 < L; t0 += LM_BLOCK, nb++) {
            int t1 = L - t0 < LM_BLOCK ? L : t0 + LM_BLOCK;
            int h0 = t0 - p2 > 0 ? t0 - p2 : 0, h1 = t1 + p2 < L ? t1 + p2 : L;
            float *o = ob[nb & 1];
            lm_first(a->ex, &q, h0, h1);
            if (pend >= 0) /* the previous block's output: x there is no longer read */
                lm_put(a->ex, x, L, b->ch, ob[(nb - 1) & 1], n, pend, pt1);
            kt_adain_snake_block(a->ex, q.hw, q.ldh, h0, b->ch, L, mi2, gb2, b->alpha2[j], t0, t1, p2, q.k.xp,
                                 q.k.Ls);
            copy_rows(a->ex, o, n, x + t0, (size_t)L, b->ch, (size_t)(t1 - t0));
            res_conv(a->ex, c2, &b->pk2[j], &b->wq2[j], &q.k, t1 - t0, o, n, 1);
            pend = t0;
            pt1 = t1;
        }
        lm_put(a->ex, x, L, b->ch, ob[((L + LM_BLOCK - 1) / LM_BLOCK - 1) & 1], n, pend, pt1);
    }
    kt_arena_release(a, mark);
    return KT_OK;
}

static size_t ups_need(const kt_model *m, int i, int L)
{
    const kt_generator_w *g = &m->gen;
    if (!g->ups_ph[i][0].codes)
        return kt_convt1d_scratch(&g->ups[i], L);
    return kt_convt1d_phased_scratch(&g->ups[i], g->ups_ph[i], L);
}

static kt_status ups_run(const kt_model *m, int i, const float *x, int L, float *y, kt_arena *a, kt_error *err)
{
    const kt_generator_w *g = &m->gen;
    if (!g->ups_ph[i][0].codes)
        return kt_convt1d_forward(&g->ups[i], x, L, y, a, err);
    return kt_convt1d_phased_forward(&g->ups[i], g->ups_ph[i], x, L, y, a, err);
}

/* Lengths of stage i: input L, after ups (+1 for the last stage's reflection pad). */
static int stage_out_len(const kt_model *m, int i, int L)
{
    int lu = kt_convt1d_out_len(&m->gen.ups[i], L);
    return i == m->n_ups - 1 ? lu + 1 : lu;
}

/* conv_post: packed, in time blocks of a padded copy of x (no whole padded copy). */
static size_t post_need(const kt_model *m, int L)
{
    const kt_conv1d *c = &m->gen.conv_post;
    const kt_packed *pk = &m->gen.pk_post;
    if (!pk->codes)
        return kt_conv_need(c, pk, L);
    size_t bf = kt_conv_input_scratch(c, pk, blk_len(L));
    return kt_arena_round((size_t)c->cin * kt_conv_pad_len(c, blk_len(L))) + bf;
}

static kt_status post_run(const kt_model *m, const float *x, int L, float *y, kt_arena *a, kt_error *err)
{
    const kt_conv1d *c = &m->gen.conv_post;
    const kt_packed *pk = &m->gen.pk_post;
    if (!pk->codes || c->stride != 1)
        return kt_conv_run(c, pk, x, L, y, a, err);
    size_t mark = kt_arena_mark(a), Ls = kt_conv_pad_len(c, blk_len(L));
    size_t nf = kt_conv_input_scratch(c, pk, blk_len(L));
    float *xp = kt_arena_take(a, (size_t)c->cin * Ls), *xpb = NULL;
    if (!xp || (nf && !(xpb = kt_arena_take(a, nf))))
        return too_small(err);
    for (int t0 = 0; t0 < L; t0 += GEN_BLOCK) {
        int t1 = L - t0 < GEN_BLOCK ? L : t0 + GEN_BLOCK, base = t0 - c->pad;
        int e0 = base > 0 ? base : 0, e1 = t1 + c->pad < L ? t1 + c->pad : L;
        for (size_t ci = 0; ci < (size_t)c->cin; ci++) {
            float *r = xp + ci * Ls;
            memset(r, 0, sizeof(float) * (size_t)(e0 - base));
            memcpy(r + (e0 - base), x + ci * L + e0, sizeof(float) * (size_t)(e1 - e0));
            memset(r + (e1 - base), 0, sizeof(float) * (Ls - (size_t)(e1 - base)));
        }
        kt_conv1d_padded_ld(a->ex, c, pk, xp, Ls, t1 - t0, y + t0, (size_t)L, 0, xpb);
    }
    kt_arena_release(a, mark);
    return KT_OK;
}

/* Floats of the largest stage buffer for input length L = 2F. */
static size_t gen_big(const kt_model *m, int L)
{
    size_t sz = (size_t)m->uic * L;
    for (int i = 0; i < m->n_ups; i++) {
        int lo = stage_out_len(m, i, L);
        sz = max_sz(sz, (size_t)(m->uic >> (i + 1)) * lo);
        L = lo;
    }
    return max_sz(sz, (size_t)(m->n_fft + 2) * L);
}

int kt_generator_lowmem(const kt_model *m, int F) { return gen_big(m, 2 * F) > m->gen_lowmem; }

/* gen_stage_lm runs a stage's resblocks in the order 1, 0, 2, ..., nk - 1: the place of
 * resblock j, and (swapping two places is its own inverse) the resblock at place j. */
static int lm_place(int nk, int j) { return nk < 2 ? 0 : j == 0 ? 1 : j == 1 ? 0 : j; }

int kt_generator_lm_recomputed(int nk, int j)
{
    int q = lm_place(nk, j); /* the first runs in t and the last in y, whole; the others in x */
    return q != 0 && q != nk - 1;
}

size_t kt_generator_need(const kt_model *m, int F)
{
    const kt_generator_w *g = &m->gen;
    int L = 2 * F, C = m->uic, M = kt_kokoro_stft_frames(m, F), nk = m->cfg.istftnet.n_resblock_kernels;
    int nt = kt_exec_capacity(m->ex);
    size_t big = (size_t)C * L, scr = 0;
    for (int i = 0; i < m->n_ups; i++) {
        int lo = stage_out_len(m, i, L), ls = kt_conv1d_out_len(&g->noise_convs[i], M), c = C >> (i + 1);
        big = max_sz(big, (size_t)c * (size_t)(lo > ls ? lo : ls));
        scr = max_sz(scr, max_sz(kt_conv_need(&g->noise_convs[i], &g->pk_noise[i], M), ups_need(m, i, L)));
        scr = max_sz(scr, gen_resblk_scratch(&g->noise_res[i], ls, nt));
        for (int j = 0; j < nk; j++)
            scr = max_sz(scr, max_sz(gen_resblk_scratch(&g->res[i * nk + j], lo, nt),
                                     gen_resblk_lm_scratch(&g->res[i * nk + j], lo, nt)));
        L = lo;
    }
    scr = max_sz(scr, post_need(m, L));
    big = max_sz(big, (size_t)(m->n_fft + 2) * L);
    return (kt_generator_lowmem(m, F) ? 3 : 4) * kt_arena_round(big) + scr;
}

static void reflect_pad_left1(const float *y, int C, int L, float *out)
{
    for (size_t c = 0; c < (size_t)C; c++) {
        out[c * (L + 1)] = y[c * L + 1];
        memcpy(out + c * (L + 1) + 1, y + c * L, sizeof(float) * (size_t)L);
    }
}

/* An arena over the free buffer buf[cap] when need fits in it, else a itself. */
static kt_arena *sub_arena(kt_arena *sub, kt_arena *a, float *buf, size_t cap, size_t need)
{
    if (need > cap)
        return a;
    kt_arena_init(sub, buf, cap);
    sub->ex = a->ex;
    return sub;
}

/* One upsampling stage: x[c_in, L] -> x[c_out, lo]. bufs = {y, acc, t} (each of the
 * largest stage size); x, dead after the upsampling, holds the resblocks' first-conv
 * outputs; acc becomes the new x and the old x buffer takes its place. */
static kt_status gen_stage(const kt_model *m, int i, float **x, int L, const float *s, const float *har, int M,
                           float **bufs, size_t bufsz, kt_arena *a, kt_error *err)
{
    const kt_generator_w *g = &m->gen;
    int c = m->uic >> (i + 1), nk = m->cfg.istftnet.n_resblock_kernels, lo = stage_out_len(m, i, L);
    float *y = bufs[0], *acc = bufs[1], *t = bufs[2];
    kt_status st;
    kt_leaky_relu_mt(a->ex, *x, (size_t)(c * 2) * L, 0.1f);
    if (kt_conv1d_out_len(&g->noise_convs[i], M) != lo)
        return kt_error_set(err, KT_EINVAL, "generator stage %d: source length %d != %d", i,
                            kt_conv1d_out_len(&g->noise_convs[i], M), lo);
    kt_arena sub; /* scratch of ups and of the noise conv in a buffer free at the time */
    size_t un = ups_need(m, i, L), nn = kt_conv_need(&g->noise_convs[i], &g->pk_noise[i], M);
    if (i == m->n_ups - 1) { /* acc is free until the resblocks: the unpadded ups output */
        if ((st = ups_run(m, i, *x, L, acc, sub_arena(&sub, a, t, bufsz, un), err)))
            return st;
        reflect_pad_left1(acc, c, lo - 1, y);
    } else if ((st = ups_run(m, i, *x, L, y, sub_arena(&sub, a, acc, bufsz, un), err)))
        return st;
    if ((st = kt_conv_run(&g->noise_convs[i], &g->pk_noise[i], har, M, t, sub_arena(&sub, a, acc, bufsz, nn), err)) ||
        (st = gen_resblk_run(&g->noise_res[i], t, lo, s, *x, a, err)))
        return st;
    size_t n = (size_t)c * lo;
    vec_run(a->ex, add_part, y, t, 0.0f, n);
    for (int j = 0; j < nk; j++) { /* acc = sum of resblock_j(y): the last one runs in place on y */
        float *r = j == 0 ? acc : j == nk - 1 ? y : t;
        if (r != y)
            vec_run(a->ex, copy_part, r, y, 0.0f, n);
        if ((st = gen_resblk_run(&g->res[i * nk + j], r, lo, s, *x, a, err)))
            return st;
        if (j)
            vec_run(a->ex, add_part, acc, r, 0.0f, n);
    }
    vec_run(a->ex, div_part, acc, NULL, (float)nk, n);
    bufs[1] = *x; /* rotate: acc becomes x */
    *x = acc;
    return KT_OK;
}

/* ups output u[C, L] (contiguous) -> [C, L + 1] with the left reflection pad, in place
 * (rows from the last: each moves to a higher address). */
static void reflect_pad_left1_inplace(float *u, int C, int L)
{
    for (size_t c = (size_t)C; c-- > 0;) {
        float first = u[c * L + 1];
        memmove(u + c * (L + 1) + 1, u + c * L, sizeof(float) * (size_t)L);
        u[c * (L + 1)] = first;
    }
}

/* gen_stage in 3 whole buffers: x (the input, then the first-conv outputs and the
 * recomputed resblock's working copy), bufs = {y, t}; t becomes the sum and the new x,
 * and x's buffer goes to bufs[1]. The resblock sum is formed as r1 + r0 (+ r2 ...), the
 * same float values as r0 + r1 (+ r2 ...). */
static kt_status gen_stage_lm(const kt_model *m, int i, float **x, int L, const float *s, const float *har, int M,
                              int drop_har, float **bufs, size_t bufsz, kt_arena *a, kt_error *err)
{
    const kt_generator_w *g = &m->gen;
    int c = m->uic >> (i + 1), nk = m->cfg.istftnet.n_resblock_kernels, lo = stage_out_len(m, i, L);
    float *y = bufs[0], *t = bufs[1], *h = *x;
    kt_status st;
    kt_leaky_relu_mt(a->ex, *x, (size_t)(c * 2) * L, 0.1f);
    if (kt_conv1d_out_len(&g->noise_convs[i], M) != lo)
        return kt_error_set(err, KT_EINVAL, "generator stage %d: source length %d != %d", i,
                            kt_conv1d_out_len(&g->noise_convs[i], M), lo);
    kt_arena sub; /* the scratch of ups and of the noise conv in a free stage buffer */
    if ((st = ups_run(m, i, *x, L, y, sub_arena(&sub, a, t, bufsz, ups_need(m, i, L)), err)))
        return st;
    if (i == m->n_ups - 1)
        reflect_pad_left1_inplace(y, c, lo - 1);
    if ((st = kt_conv_run(&g->noise_convs[i], &g->pk_noise[i], har, M, t,
                          sub_arena(&sub, a, h, bufsz, kt_conv_need(&g->noise_convs[i], &g->pk_noise[i], M)),
                          err)))
        return st;
    if (drop_har) /* its last use */
        kt_drop_pages(har, sizeof(float) * (size_t)(m->n_fft + 2) * M);
    if ((st = gen_resblk_run(&g->noise_res[i], t, lo, s, h, a, err)))
        return st;
    size_t n = (size_t)c * lo;
    vec_run(a->ex, add_part, y, t, 0.0f, n);
    for (int q = 0; q < nk; q++) { /* resblocks 1, 0, 2, ..., nk-1; the last in place on y */
        int j = lm_place(nk, q);
        float *r = q == 0 ? t : kt_generator_lm_recomputed(nk, j) ? h : y;
        if (r != y)
            vec_run(a->ex, copy_part, r, y, 0.0f, n);
        st = r == h ? gen_resblk_run_lm(&g->res[i * nk + j], r, lo, s, a, err)
                    : gen_resblk_run(&g->res[i * nk + j], r, lo, s, h, a, err);
        if (st)
            return st;
        if (q)
            vec_run(a->ex, add_part, t, r, 0.0f, n);
    }
    vec_run(a->ex, div_part, t, NULL, (float)nk, n);
    bufs[1] = *x;
    *x = t;
    return KT_OK;
}

kt_status kt_generator_run(kt_model *m, const float *x_in, int F, const float *s_dec, const float *har,
                           int drop, float *audio, kt_arena *a, kt_error *err)
{
    int L = 2 * F, M = kt_kokoro_stft_frames(m, F), nb = m->n_fft / 2 + 1;
    size_t mark = kt_arena_mark(a), sz = gen_big(m, L);
    int lm = sz > m->gen_lowmem, nbuf = lm ? 2 : 3;
    float *bufs[3] = {NULL, NULL, NULL}, *x = kt_arena_take(a, sz);
    for (int i = 0; i < nbuf; i++)
        bufs[i] = kt_arena_take(a, sz);
    kt_status st;
    if (!x || !bufs[nbuf - 1])
        return too_small(err);
    memcpy(x, x_in, sizeof(float) * (size_t)m->uic * L);
    drop = drop && lm;
    if (drop)
        kt_drop_pages(x_in, sizeof(float) * (size_t)m->uic * L);
    for (int i = 0; i < m->n_ups; i++) {
        size_t c = (size_t)(m->uic >> (i + 1)), lo = (size_t)stage_out_len(m, i, L), h2 = kt_arena_round(sz / 2);
        if (lm && i < m->n_ups - 1 && 2 * c * (size_t)L <= h2 && c * lo <= h2 && c * lo <= sz - h2) {
            /* a small (early) stage: the fast schedule, its 4th buffer in x's second half */
            float *b4[3] = {bufs[0], bufs[1], x + h2};
            if ((st = gen_stage(m, i, &x, L, s_dec, har, M, b4, sz - h2, a, err)))
                return st;
            bufs[0] = b4[0];
            bufs[1] = b4[1];
        } else if ((st = lm ? gen_stage_lm(m, i, &x, L, s_dec, har, M, drop && i == m->n_ups - 1, bufs, sz, a, err)
                            : gen_stage(m, i, &x, L, s_dec, har, M, bufs, sz, a, err)))
            return st;
        L = stage_out_len(m, i, L);
        if (drop && i == m->n_ups - 2) /* the earlier stages' weights, bound again next call */
            kt_model_release_early(m);
    }
    int c = m->uic >> m->n_ups;
    kt_leaky_relu_mt(a->ex, x, (size_t)c * L, 0.01f);
    float *post = bufs[0];
    if ((st = post_run(m, x, L, post, a, err)))
        return st;
    vec_run(a->ex, exp_part, post, NULL, 0.0f, (size_t)nb * L);
    vec_run(a->ex, sin_part, post + (size_t)nb * L, NULL, 0.0f, (size_t)nb * L);
    kt_istft_run(m, post, post + (size_t)nb * L, L, audio);
    kt_arena_release(a, mark);
    return KT_OK;
}
