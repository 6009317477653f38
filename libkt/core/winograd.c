/* winograd.c - stride-1 Conv1d by nested Winograd F(4,4) on the packed direct kernel
 * (see kt/winograd.h). */
#include "kt/winograd.h"

#include <string.h>

#define NA KT_WINO_A
#define WM KT_WINO_M
#define WR KT_WINO_R
#define CHUNK 64       /* tiles transformed together (a fixed trip count the compiler vectorizes) */
#define BLOCK_COLS 768 /* tiles per point in one pass: the direct kernel's AVX-512 super-tile */
#define PAD_SLACK 64   /* columns past the tiles the direct kernel may read */

/* B^T, rows scaled to integers: row i is the Lagrange basis row of point i times SCALE[i]. */
static const float BT[NA][NA] = {
    {2, -1, -10, 5, 8, -4, 0}, {0, -2, -1, 9, 4, -4, 0},  {0, 2, -3, -7, 12, -4, 0}, {0, 2, 3, -4, -3, 2, 0},
    {0, -2, 5, 0, -5, 2, 0},   {0, 1, 0, -5, 0, 4, 0},    {0, -2, 1, 10, -5, -8, 4},
};
static const double SCALE[NA] = {2.0, 6.0, 18.0, 9.0 / 8.0, 15.0 / 8.0, 90.0, 4.0};
static const double POINT[NA - 1] = {0.0, 1.0, -1.0, 0.5, -0.5, 2.0}; /* the last point is infinity */

/* A^T: output i of a tile is sum over points of POINT^i (the point at infinity: output 3 only). */
static const float AT[WM][NA] = {
    {1, 1, 1, 1, 1, 1, 0},
    {0, 1, -1, 0.5f, -0.5f, 2, 0},
    {0, 1, 1, 0.25f, 0.25f, 4, 0},
    {0, 1, -1, 0.125f, -0.125f, 8, 1},
};

int kt_wino_pieces(int k) { return (k + WR - 1) / WR; }

size_t kt_wino_pack_size(int cout, int cin, int k) { return NA * kt_conv_pack_size(cout, cin, kt_wino_pieces(k)); }

/* G row i (scaled by 1 / SCALE[i]) applied to 4 taps, in double. */
static double g_row(int i, const double *g)
{
    if (i == NA - 1)
        return g[WR - 1] / SCALE[i];
    double s = 0.0, pw = 1.0;
    for (int r = 0; r < WR; r++, pw *= POINT[i])
        s += pw * g[r];
    return s / SCALE[i];
}

void kt_wino_kernel(const float *g, float *u)
{
    double gd[WR];
    for (int r = 0; r < WR; r++)
        gd[r] = g[r];
    for (int i = 0; i < NA; i++)
        u[i] = (float)g_row(i, gd);
}

void kt_wino_input(const float *d, float *v)
{
    for (int i = 0; i < NA; i++) {
        float s = 0.0f;
        for (int e = 0; e < NA; e++)
            s += BT[i][e] * d[e];
        v[i] = s;
    }
}

void kt_wino_output(const float *m, float *y)
{
    for (int i = 0; i < WM; i++) {
        float s = 0.0f;
        for (int e = 0; e < NA; e++)
            s += AT[i][e] * m[e];
        y[i] = s;
    }
}

/* u = the transformed weight of the tiles t0 .. t1 of row tiles; tap(o, ci, j) gives w[o, ci, j]. */
typedef float (*tap_fn)(const float *w, int cout, int cin, int k, int o, int ci, int j);

static float tap_plain(const float *w, int cout, int cin, int k, int o, int ci, int j)
{
    (void)cout;
    return w[((size_t)o * cin + ci) * k + j];
}

static float tap_packed(const float *wp, int cout, int cin, int k, int o, int ci, int j)
{
    (void)cout;
    size_t K = (size_t)cin * k, mt = (size_t)o / KT_PACK_MR;
    return wp[(mt * K + (size_t)ci * k + j) * KT_PACK_MR + (size_t)o % KT_PACK_MR];
}

static void pack_tiles(tap_fn tap, const float *w, int cout, int cin, int k, int t0, int t1, float *u)
{
    int kp = kt_wino_pieces(k);
    size_t psz = kt_conv_pack_size(cout, cin, kp), K = (size_t)cin * kp;
    for (int mt = t0; mt < t1; mt++)
        for (int ci = 0; ci < cin; ci++)
            for (int s = 0; s < kp; s++)
                for (int r = 0; r < KT_PACK_MR; r++) {
                    int o = mt * KT_PACK_MR + r;
                    double g[WR];
                    for (int q = 0; q < WR; q++) {
                        int j = s * WR + q;
                        g[q] = o < cout && j < k ? tap(w, cout, cin, k, o, ci, j) : 0.0;
                    }
                    size_t at = ((size_t)mt * K + (size_t)ci * kp + (size_t)s) * KT_PACK_MR + (size_t)r;
                    for (int i = 0; i < NA; i++)
                        u[(size_t)i * psz + at] = (float)g_row(i, g);
                }
}

void kt_wino_pack_tiles(const float *w, int cout, int cin, int k, int t0, int t1, float *u)
{
    pack_tiles(tap_plain, w, cout, cin, k, t0, t1, u);
}

void kt_wino_pack_tiles_packed(const float *wp, int cout, int cin, int k, int t0, int t1, float *u)
{
    pack_tiles(tap_packed, wp, cout, cin, k, t0, t1, u);
}

/* ---- the convolution ---------------------------------------------------------------- */

/* One pass: output columns s0 + t for t < n, tiles c < ncols (c = b d + p at t = 4 d b + p). */
typedef struct {
    const kt_conv1d *c;
    const float *xp;
    size_t Ls, Lv, ldy;
    int s0, n, ncols, acc;
    float *v; /* [NA][cin][Lv] */
    float *m; /* [NA][cout][ncols] */
    float *y;
} wino_job;

static int tile_len(int d) { return BLOCK_COLS / d * WM * d; }

static size_t v_len(const kt_conv1d *c, int ncols)
{
    return kt_arena_round((size_t)ncols + (size_t)c->dil * (size_t)(kt_wino_pieces(c->k) - 1) + PAD_SLACK);
}

size_t kt_wino_scratch(const kt_conv1d *c, int L)
{
    int d = c->dil, n = L < tile_len(d) ? L : tile_len(d), nb = (n + WM * d - 1) / (WM * d), ncols = nb * d;
    return NA * (kt_arena_round((size_t)c->cin * v_len(c, ncols)) + kt_arena_round((size_t)c->cout * ncols));
}

/* d7[e][i] = xp[pos(c0 + i) + d e] (0 from Ls on) for the tiles c0 .. c0 + CHUNK. */
static void gather(const wino_job *jb, const float *row, int c0, float d7[NA][CHUNK])
{
    int d = jb->c->dil;
    for (int i = 0; i < CHUNK; i++) {
        int c = c0 + i;
        size_t pos = (size_t)jb->s0 + (size_t)(c / d) * WM * d + (size_t)(c % d);
        for (int e = 0; e < NA; e++) {
            size_t q = pos + (size_t)e * d;
            d7[e][i] = q < jb->Ls ? row[q] : 0.0f;
        }
    }
}

static void input_part(void *p, size_t r0, size_t r1)
{
    const wino_job *jb = p;
    size_t plane = (size_t)jb->c->cin * jb->Lv;
    float d7[NA][CHUNK], v7[NA][CHUNK];
    for (size_t ci = r0; ci < r1; ci++)
        for (size_t c0 = 0; c0 < jb->Lv; c0 += CHUNK) {
            gather(jb, jb->xp + ci * jb->Ls, (int)c0, d7);
            for (int i = 0; i < NA; i++) {
                for (int t = 0; t < CHUNK; t++)
                    v7[i][t] = 0.0f;
                for (int e = 0; e < NA; e++)
                    if (BT[i][e] != 0.0f)
                        for (int t = 0; t < CHUNK; t++)
                            v7[i][t] += BT[i][e] * d7[e][t];
            }
            size_t n = jb->Lv - c0 < CHUNK ? jb->Lv - c0 : CHUNK;
            for (int i = 0; i < NA; i++)
                memcpy(jb->v + i * plane + ci * jb->Lv + c0, v7[i], sizeof(float) * n);
        }
}

static void output_part(void *p, size_t r0, size_t r1)
{
    const wino_job *jb = p;
    const kt_conv1d *c = jb->c;
    int d = c->dil;
    size_t plane = (size_t)c->cout * (size_t)jb->ncols;
    float m7[NA][CHUNK], y4[WM][CHUNK];
    for (size_t o = r0; o < r1; o++) {
        float *yr = jb->y + o * jb->ldy + jb->s0, bias = c->b ? c->b[o] : 0.0f;
        for (int c0 = 0; c0 < jb->ncols; c0 += CHUNK) {
            int n = jb->ncols - c0 < CHUNK ? jb->ncols - c0 : CHUNK;
            for (int e = 0; e < NA; e++) {
                memcpy(m7[e], jb->m + e * plane + o * (size_t)jb->ncols + c0, sizeof(float) * (size_t)n);
                memset(m7[e] + n, 0, sizeof(float) * (size_t)(CHUNK - n));
            }
            for (int i = 0; i < WM; i++) {
                for (int t = 0; t < CHUNK; t++)
                    y4[i][t] = 0.0f;
                for (int e = 0; e < NA; e++)
                    if (AT[i][e] != 0.0f)
                        for (int t = 0; t < CHUNK; t++)
                            y4[i][t] += AT[i][e] * m7[e][t];
            }
            for (int t = 0; t < n; t++) {
                int cc = c0 + t, pos = cc / d * WM * d + cc % d;
                for (int i = 0; i < WM && pos + i * d < jb->n; i++) {
                    float *q = yr + pos + i * d;
                    *q = (jb->acc ? *q + bias : bias) + y4[i][t];
                }
            }
        }
    }
}

/* The 7 point products: m_i[cout, ncols] = conv over tiles of v_i with U_i (kp taps, dilation d). */
static void point_products(kt_exec *ex, const wino_job *jb, const kt_wino *w)
{
    const kt_conv1d *c = jb->c;
    kt_conv1d inner = {NULL, NULL, c->cin, c->cout, w->kp, 1, 0, c->dil};
    size_t psz = kt_conv_pack_size(c->cout, c->cin, w->kp);
    for (int i = 0; i < NA; i++) {
        kt_packed pk = {KT_PACK_F32, w->u + i * psz, NULL, 0};
        kt_conv1d_padded_ld(ex, &inner, &pk, jb->v + (size_t)i * c->cin * jb->Lv, jb->Lv,
                            jb->ncols + c->dil * (w->kp - 1), jb->m + (size_t)i * c->cout * jb->ncols,
                            (size_t)jb->ncols, 0, NULL);
    }
}

void kt_wino_conv_padded_ld(kt_exec *ex, const kt_conv1d *c, const kt_wino *w, const float *xp, size_t Ls, int L,
                            float *y, size_t ldy, int accumulate, float *scratch)
{
    int d = c->dil, tl = tile_len(d);
    for (int s0 = 0; s0 < L; s0 += tl) {
        int n = L - s0 < tl ? L - s0 : tl, nb = (n + WM * d - 1) / (WM * d);
        wino_job jb = {c, xp, Ls, 0, ldy, s0, n, nb * d, accumulate, scratch, NULL, y};
        jb.Lv = v_len(c, jb.ncols);
        jb.m = scratch + NA * kt_arena_round((size_t)c->cin * jb.Lv);
        kt_exec_range(ex, (size_t)c->cin, jb.Lv, 16384, input_part, &jb);
        point_products(ex, &jb, w);
        kt_exec_range(ex, (size_t)c->cout, (size_t)n, 16384, output_part, &jb);
    }
}
