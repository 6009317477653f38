/* winograd.c - stride-1 Conv1d by nested Winograd F(4,4) on the packed direct kernel
 * (see kt/winograd.h). */
#include "kt/winograd.h"

#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define KT_WINO_X86 1
#include <immintrin.h>
#else
#define KT_WINO_X86 0
#endif

#define NA KT_WINO_A
#define WM KT_WINO_M
#define WR KT_WINO_R
#define CHUNK 64       /* tiles transformed together (a fixed trip count the compiler vectorizes) */
#define BLOCK_COLS 768 /* tiles per point in one pass: the direct kernel's AVX-512 super-tile */
#define PAD_SLACK 64   /* columns past the tiles the direct kernel may read */

/* B^T's row i is the Lagrange basis row of point i times SCALE[i] (INPUT7 below); G's row i
 * is divided by it. */
static const double SCALE[NA] = {2.0, 6.0, 18.0, 9.0 / 8.0, 15.0 / 8.0, 90.0, 4.0};
static const double POINT[NA - 1] = {0.0, 1.0, -1.0, 0.5, -0.5, 2.0}; /* the last point is infinity */

/* A^T: output i of a tile is the sum over points of POINT^i times the point's value, and
 * the point at infinity adds to output 3 only (OUTPUT4 below). */

int kt_wino_pieces(int k) { return (k + WR - 1) / WR; }

int kt_wino_inf_pieces(int k) { return kt_wino_pieces(k) - (k % WR != 0); }

int kt_wino_points(int k) { return kt_wino_inf_pieces(k) > 0 ? NA : NA - 1; }

/* Taps of point i's plane of U: every piece, or at infinity the pieces whose U there is not zero. */
static int plane_taps(int k, int i) { return i == NA - 1 ? kt_wino_inf_pieces(k) : kt_wino_pieces(k); }

/* Floats (bf16 0) or 32-bit words (bf16 1) of point i's plane of U. */
static size_t plane_size(int cout, int cin, int k, int i, int bf16)
{
    int taps = plane_taps(k, i);
    return bf16 ? kt_conv_pack_bf16x2_size(cout, cin, taps) : kt_conv_pack_size(cout, cin, taps);
}

/* Where point i's plane starts: the planes are one after the other, the point at infinity's last. */
static size_t plane_at(int cout, int cin, int k, int i, int bf16)
{
    return (size_t)i * plane_size(cout, cin, k, 0, bf16);
}

static size_t pack_total(int cout, int cin, int k, int bf16)
{
    int np = kt_wino_points(k);
    return plane_at(cout, cin, k, np - 1, bf16) + plane_size(cout, cin, k, np - 1, bf16);
}

size_t kt_wino_pack_size(int cout, int cin, int k) { return pack_total(cout, cin, k, 0); }

size_t kt_wino_pack_bf16_size(int cout, int cin, int k) { return pack_total(cout, cin, k, 1); }

void kt_wino_pack_bf16(const float *u, int cout, int cin, int k, uint32_t *ub)
{
    for (int i = 0; i < kt_wino_points(k); i++)
        kt_conv_pack_bf16x2_packed(u + plane_at(cout, cin, k, i, 0), cout, cin, plane_taps(k, i),
                                   ub + plane_at(cout, cin, k, i, 1));
}

/* G row i (scaled by 1 / SCALE[i]) applied to 4 taps, in double. */
static double g_row(int i, const double *g)
{
    if (i == NA - 1)
        return g[WR - 1] / SCALE[i];
    double p = POINT[i];
    return (((g[3] * p + g[2]) * p + g[1]) * p + g[0]) / SCALE[i];
}

/* o[r] = g_row(i, the taps g[.][r]) for the KT_PACK_MR rows of a tile: the same operations on
 * each row, compiled once per ISA (the rows in the lanes of a vector: one of 8 doubles with
 * AVX-512; no contraction into FMAs, so every ISA gives g_row's floats). */
#define G_ROWS(SUF, ATTR)                                                                                              \
    ATTR static void g_rows##SUF(int i, double g[WR][KT_PACK_MR], float *o)                                            \
    {                                                                                                                  \
        double p = i == NA - 1 ? 0.0 : POINT[i], sc = SCALE[i];                                                        \
        if (i == NA - 1)                                                                                               \
            for (int r = 0; r < KT_PACK_MR; r++)                                                                       \
                o[r] = (float)(g[WR - 1][r] / sc);                                                                     \
        else                                                                                                           \
            for (int r = 0; r < KT_PACK_MR; r++)                                                                       \
                o[r] = (float)((((g[3][r] * p + g[2][r]) * p + g[1][r]) * p + g[0][r]) / sc);                          \
    }

typedef void (*g_rows_fn)(int, double[WR][KT_PACK_MR], float *);
G_ROWS(_generic, )
#if KT_WINO_X86
G_ROWS(_avx512, __attribute__((target("avx512f"))))
#endif

/* The g_rows of the best ISA the CPU has (the floats are the same on every one). */
static g_rows_fn g_rows_for_cpu(void)
{
#if KT_WINO_X86
    if (__builtin_cpu_supports("avx512f"))
        return g_rows_avx512;
#endif
    return g_rows_generic;
}

void kt_wino_kernel(const float *g, float *u)
{
    double gd[WR];
    for (int r = 0; r < WR; r++)
        gd[r] = g[r];
    for (int i = 0; i < NA; i++)
        u[i] = (float)g_row(i, gd);
}

/* v = B^T d and y = A^T m for one tile, as expressions of the inputs D(e) (the vector
 * loops below compute every lane with these same operations, in this order). */
#define INPUT7(D, V)                                                                                                   \
    do {                                                                                                               \
        float d0_ = D(0), d1_ = D(1), d2_ = D(2), d3_ = D(3), d4_ = D(4), d5_ = D(5), d6_ = D(6);                      \
        V(0) = 2 * d0_ - d1_ - 10 * d2_ + 5 * d3_ + 8 * d4_ - 4 * d5_;                                                 \
        V(1) = -2 * d1_ - d2_ + 9 * d3_ + 4 * d4_ - 4 * d5_;                                                           \
        V(2) = 2 * d1_ - 3 * d2_ - 7 * d3_ + 12 * d4_ - 4 * d5_;                                                       \
        V(3) = 2 * d1_ + 3 * d2_ - 4 * d3_ - 3 * d4_ + 2 * d5_;                                                        \
        V(4) = -2 * d1_ + 5 * d2_ - 5 * d4_ + 2 * d5_;                                                                 \
        V(5) = d1_ - 5 * d3_ + 4 * d5_;                                                                                \
        V(6) = -2 * d1_ + d2_ + 10 * d3_ - 5 * d4_ - 8 * d5_ + 4 * d6_;                                                \
    } while (0)

#define OUTPUT4(M, Y)                                                                                                  \
    do {                                                                                                               \
        float a_ = M(1) - M(2), b_ = M(1) + M(2), c_ = M(3) - M(4), e_ = M(3) + M(4), m5_ = M(5);                      \
        Y(0) = b_ + e_ + m5_ + M(0);                                                                                   \
        Y(1) = a_ + 0.5f * c_ + 2 * m5_;                                                                               \
        Y(2) = b_ + 0.25f * e_ + 4 * m5_;                                                                              \
        Y(3) = a_ + 0.125f * c_ + 8 * m5_ + M(6);                                                                      \
    } while (0)

#define ELEM(e) d[e]
#define VOUT(i) v[i]
#define MVAL(e) m[e]
#define YOUT(i) y[i]

void kt_wino_input(const float *d, float *v) { INPUT7(ELEM, VOUT); }

void kt_wino_output(const float *m, float *y) { OUTPUT4(MVAL, YOUT); }

/* u = the transformed weight of the row tiles t0 .. t1, tap j of output o and input ci read
 * at w[(o / MR) ts + (o % MR) rs + ci cs + j js]. */
typedef struct {
    size_t ts, rs, cs, js;
} tap_layout;

static void pack_tiles(const tap_layout *l, const float *w, int cout, int cin, int k, int t0, int t1, float *u)
{
    int kp = kt_wino_pieces(k), ki = kt_wino_inf_pieces(k);
    size_t psz = plane_size(cout, cin, k, 0, 0), K = (size_t)cin * kp, Ki = (size_t)cin * ki;
    g_rows_fn g_rows = g_rows_for_cpu();
    for (int mt = t0; mt < t1; mt++) {
        int rows = cout - mt * KT_PACK_MR < KT_PACK_MR ? cout - mt * KT_PACK_MR : KT_PACK_MR;
        for (int ci = 0; ci < cin; ci++)
            for (int s = 0; s < kp; s++) {
                double g[WR][KT_PACK_MR]; /* the piece's taps of the tile's rows (zeros past cout, k) */
                for (int q = 0; q < WR; q++)
                    for (int r = 0; r < KT_PACK_MR; r++)
                        g[q][r] = r < rows && s * WR + q < k
                                      ? w[(size_t)mt * l->ts + (size_t)r * l->rs + (size_t)ci * l->cs +
                                          (size_t)(s * WR + q) * l->js]
                                      : 0.0;
                float *o = u + ((size_t)mt * K + (size_t)ci * kp + (size_t)s) * KT_PACK_MR;
                for (int i = 0; i < NA - 1; i++)
                    g_rows(i, g, o + (size_t)i * psz);
                if (s < ki) /* at infinity: the pieces whose fourth tap is there */
                    g_rows(NA - 1, g, u + (NA - 1) * psz + ((size_t)mt * Ki + (size_t)ci * ki + s) * KT_PACK_MR);
            }
    }
}

void kt_wino_pack_tiles(const float *w, int cout, int cin, int k, int t0, int t1, float *u)
{
    size_t row = (size_t)cin * k;
    tap_layout l = {KT_PACK_MR * row, row, (size_t)k, 1};
    pack_tiles(&l, w, cout, cin, k, t0, t1, u);
}

void kt_wino_pack_tiles_packed(const float *wp, int cout, int cin, int k, int t0, int t1, float *u)
{
    size_t K = (size_t)cin * k;
    tap_layout l = {K * KT_PACK_MR, 1, (size_t)k * KT_PACK_MR, KT_PACK_MR};
    pack_tiles(&l, wp, cout, cin, k, t0, t1, u);
}

/* ---- the convolution ---------------------------------------------------------------- */

/* One pass: output columns s0 + t for t < n, tiles c < ncols (c = b d + p at t = 4 d b + p). */
typedef struct {
    const kt_conv1d *c;
    const float *xp;
    size_t Ls, Lv, ldm, ldy; /* row lengths of xp, v, m (ncols rounded up to CHUNK), y */
    int s0, n, ncols, acc, isa;
    float *v;     /* [points][cin][Lv] (float32 weights; points: kt_wino_points(c->k)) */
    uint32_t *vb; /* bf16 weights: V as bfloat16 channel pairs, [points][ceil(cin / 2)][Lv], in place of v; else NULL */
    float *m;     /* [points][cout][ldm] */
    float *y;
} wino_job;

static int tile_len(int d) { return BLOCK_COLS / d * WM * d; }

static size_t v_len(const kt_conv1d *c, int ncols)
{
    size_t n = (size_t)ncols + (size_t)c->dil * (size_t)(kt_wino_pieces(c->k) - 1) + PAD_SLACK;
    return (n + CHUNK - 1) / CHUNK * CHUNK; /* whole chunks */
}

static size_t m_len(int ncols) { return ((size_t)ncols + CHUNK - 1) / CHUNK * CHUNK; }

/* Phase rows of one input row for the tiles c0 .. c0 + CHUNK: ph[r][i] = row[pos(c0 + i) + d r]
 * (tile c starts at pos(c) = s0 + 4 d (c / d) + c % d; 0 from Ls on), i < CHUNK + d, so
 * that the tile's inputs are ph[e][i] for e < 4 and ph[e - 4][i + d] after. */
#define PHW (CHUNK + KT_WINO_DMAX)
typedef float phase_rows[WM][PHW];

/* The vector loops, compiled once per ISA (no contraction into FMAs: every ISA gives the
 * same bytes): v7[i][t] = B^T row i of tile c0 + t's inputs; y4[i][t] = A^T row i of m7[.][t];
 * deinterleaving (dilation 1: ph[r][i] = src[4 i + r]) and interleaving (yi[4 t + i] =
 * y4[i][t]) the tiles of dilation 1; q[j] (+)= bias + yi[j] for a whole chunk of outputs. */
#define PH(e) (e < WM ? ph[e][t] : ph[e - WM][t + d])
#define V7(i) v##i[t]
#define M7(e) m7[e][t]
#define Y4(i) y4[i][t]
#define WINO_LOOPS(SUF, ATTR)                                                                                          \
    ATTR static void input_chunk##SUF(float (*restrict ph)[PHW], int d, float *restrict v0, float *restrict v1,       \
                                      float *restrict v2, float *restrict v3, float *restrict v4, float *restrict v5, \
                                      float *restrict v6)                                                              \
    {                                                                                                                  \
        for (int t = 0; t < CHUNK; t++)                                                                                \
            INPUT7(PH, V7);                                                                                            \
    }                                                                                                                  \
    ATTR static void output_chunk##SUF(const float *const *m7, float (*restrict y4)[CHUNK])                           \
    {                                                                                                                  \
        for (int t = 0; t < CHUNK; t++)                                                                                \
            OUTPUT4(M7, Y4);                                                                                           \
    }                                                                                                                  \
    ATTR static void add_row##SUF(float *restrict q, const float *restrict yi, float bias, int acc)                   \
    {                                                                                                                  \
        if (acc)                                                                                                       \
            for (int j = 0; j < WM * CHUNK; j++)                                                                       \
                q[j] = (q[j] + bias) + yi[j];                                                                          \
        else                                                                                                           \
            for (int j = 0; j < WM * CHUNK; j++)                                                                       \
                q[j] = bias + yi[j];                                                                                   \
    }

#define WINO_MOVES(SUF, ATTR)                                                                                          \
    ATTR static void deinterleave##SUF(const float *restrict src, float (*restrict ph)[PHW])                           \
    {                                                                                                                  \
        for (int i = 0; i < PHW; i++)                                                                                  \
            for (int r = 0; r < WM; r++)                                                                               \
                ph[r][i] = src[WM * i + r];                                                                            \
    }                                                                                                                  \
    ATTR static void interleave##SUF(float (*restrict y4)[CHUNK], float *restrict yi)                                 \
    {                                                                                                                  \
        for (int t = 0; t < CHUNK; t++)                                                                                \
            for (int i = 0; i < WM; i++)                                                                               \
                yi[WM * t + i] = y4[i][t];                                                                             \
    }

/* Dilated tiles (d > 1), in runs of d tiles: ph[r][i + u] = row[pos + d r + u] for the runs
 * that tile the n phase columns (every read inside the row), and y's outputs from y4 (q (+)=
 * bias + the outputs, only columns below lim). */
#define WINO_RUNS(SUF, ATTR)                                                                                           \
    ATTR static void runs_in##SUF(const float *restrict row, size_t pos, int p, int d, int n,                         \
                                  float (*restrict ph)[PHW])                                                           \
    {                                                                                                                  \
        for (int i = 0; i < n; pos += (size_t)(WM * d - p), p = 0) {                                                   \
            int run = d - p < n - i ? d - p : n - i;                                                                   \
            for (int r = 0; r < WM; r++)                                                                               \
                for (int u = 0; u < run; u++)                                                                          \
                    ph[r][i + u] = row[pos + (size_t)r * d + (size_t)u];                                               \
            i += run;                                                                                                  \
        }                                                                                                              \
    }                                                                                                                  \
    ATTR static void runs_out##SUF(float *restrict yr, int pos, int p, int d, int n, int lim, int acc, float bias,    \
                                   float (*restrict y4)[CHUNK])                                                        \
    {                                                                                                                  \
        for (int t = 0; t < n; pos += WM * d, p = 0) {                                                                 \
            int run = d - p < n - t ? d - p : n - t;                                                                   \
            for (int i = 0; i < WM; i++) {                                                                             \
                float *q = yr + pos + i * d + p;                                                                       \
                int m = pos + i * d + p + run <= lim ? run : lim - (pos + i * d + p);                                  \
                for (int u = 0; u < m; u++)                                                                            \
                    q[u] = (acc ? q[u] + bias : bias) + y4[i][t + u];                                                  \
            }                                                                                                          \
            t += run;                                                                                                  \
        }                                                                                                              \
    }

typedef struct {
    void (*in)(float (*restrict)[PHW], int, float *restrict, float *restrict, float *restrict, float *restrict,
               float *restrict, float *restrict, float *restrict);
    void (*out)(const float *const *, float (*restrict)[CHUNK]);
    void (*deint)(const float *restrict, float (*restrict)[PHW]);
    void (*inter)(float (*restrict)[CHUNK], float *restrict);
    void (*add)(float *restrict, const float *restrict, float, int);
    void (*runs_in)(const float *restrict, size_t, int, int, int, float (*restrict)[PHW]);
    void (*runs_out)(float *restrict, int, int, int, int, int, int, float, float (*restrict)[CHUNK]);
} wino_fns;

WINO_LOOPS(_generic, )
WINO_MOVES(_generic, )
WINO_RUNS(_generic, )
#if KT_WINO_X86
WINO_LOOPS(_avx2, __attribute__((target("avx2"))))
WINO_MOVES(_avx2, __attribute__((target("avx2"))))
WINO_RUNS(_avx2, __attribute__((target("avx2"))))
WINO_LOOPS(_avx512, __attribute__((target("avx512f"))))

/* runs_in and runs_out with a masked vector per run of d <= 16 values: the same copies, and
 * the same sums, as the loops of WINO_RUNS. */
__attribute__((target("avx512f"))) static void runs_in_zmm(const float *restrict row, size_t pos, int p, int d,
                                                           int n, float (*restrict ph)[PHW])
{
    for (int i = 0; i < n; pos += (size_t)(WM * d - p), p = 0) {
        int run = d - p < n - i ? d - p : n - i;
        __mmask16 m = (__mmask16)((1u << run) - 1);
        for (int r = 0; r < WM; r++)
            _mm512_mask_storeu_ps(ph[r] + i, m, _mm512_maskz_loadu_ps(m, row + pos + (size_t)r * d));
        i += run;
    }
}

__attribute__((target("avx512f"))) static void runs_out_zmm(float *restrict yr, int pos, int p, int d, int n, int lim,
                                                            int acc, float bias, float (*restrict y4)[CHUNK])
{
    const __m512 b = _mm512_set1_ps(bias);
    for (int t = 0; t < n; pos += WM * d, p = 0) {
        int run = d - p < n - t ? d - p : n - t;
        for (int i = 0; i < WM; i++) {
            float *q = yr + pos + i * d + p;
            int m = pos + i * d + p + run <= lim ? run : lim - (pos + i * d + p);
            if (m <= 0)
                continue;
            __mmask16 k = (__mmask16)((1u << m) - 1);
            __m512 base = acc ? _mm512_add_ps(_mm512_maskz_loadu_ps(k, q), b) : b;
            _mm512_mask_storeu_ps(q, k, _mm512_add_ps(base, _mm512_maskz_loadu_ps(k, y4[i] + t)));
        }
        t += run;
    }
}

/* deinterleave / interleave with AVX-512 two-source permutes, 16 tiles at a time. */
__attribute__((target("avx512f"))) static void deinterleave_zmm(const float *restrict src, float (*restrict ph)[PHW])
{
    const __m512i lo = _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(2));
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    for (int i = 0; i < PHW; i += 16) {
        const float *q = src + WM * i;
        __m512 a0 = _mm512_loadu_ps(q), a1 = _mm512_loadu_ps(q + 16);
        __m512 a2 = _mm512_loadu_ps(q + 32), a3 = _mm512_loadu_ps(q + 48);
        __m512 t0 = _mm512_permutex2var_ps(a0, lo, a1), t1 = _mm512_permutex2var_ps(a0, hi, a1);
        __m512 t2 = _mm512_permutex2var_ps(a2, lo, a3), t3 = _mm512_permutex2var_ps(a2, hi, a3);
        _mm512_storeu_ps(ph[0] + i, _mm512_permutex2var_ps(t0, ev, t2));
        _mm512_storeu_ps(ph[1] + i, _mm512_permutex2var_ps(t0, od, t2));
        _mm512_storeu_ps(ph[2] + i, _mm512_permutex2var_ps(t1, ev, t3));
        _mm512_storeu_ps(ph[3] + i, _mm512_permutex2var_ps(t1, od, t3));
    }
}

__attribute__((target("avx512f"))) static void interleave_zmm(float (*restrict y4)[CHUNK], float *restrict yi)
{
    const __m512i zl = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i zh = _mm512_add_epi32(zl, _mm512_set1_epi32(8));
    const __m512i pl = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
    const __m512i ph = _mm512_add_epi32(pl, _mm512_set1_epi32(8));
    for (int t = 0; t < CHUNK; t += 16) {
        __m512 y0 = _mm512_loadu_ps(y4[0] + t), y1 = _mm512_loadu_ps(y4[1] + t);
        __m512 y2 = _mm512_loadu_ps(y4[2] + t), y3 = _mm512_loadu_ps(y4[3] + t);
        __m512 s0 = _mm512_permutex2var_ps(y0, zl, y1), s1 = _mm512_permutex2var_ps(y0, zh, y1);
        __m512 s2 = _mm512_permutex2var_ps(y2, zl, y3), s3 = _mm512_permutex2var_ps(y2, zh, y3);
        float *q = yi + WM * t;
        _mm512_storeu_ps(q, _mm512_permutex2var_ps(s0, pl, s2));
        _mm512_storeu_ps(q + 16, _mm512_permutex2var_ps(s0, ph, s2));
        _mm512_storeu_ps(q + 32, _mm512_permutex2var_ps(s1, pl, s3));
        _mm512_storeu_ps(q + 48, _mm512_permutex2var_ps(s1, ph, s3));
    }
}
#endif

static const wino_fns *fns_for(int isa)
{
    static const wino_fns fns[3] = {
        {input_chunk_generic, output_chunk_generic, deinterleave_generic, interleave_generic, add_row_generic,
         runs_in_generic, runs_out_generic},
#if KT_WINO_X86
        {input_chunk_avx2, output_chunk_avx2, deinterleave_avx2, interleave_avx2, add_row_avx2, runs_in_avx2,
         runs_out_avx2},
        {input_chunk_avx512, output_chunk_avx512, deinterleave_zmm, interleave_zmm, add_row_avx512, runs_in_zmm,
         runs_out_zmm},
#endif
    };
    return KT_WINO_X86 && isa > 0 && isa <= 2 ? &fns[isa] : &fns[0];
}

static void phases(const wino_job *jb, const wino_fns *f, const float *row, int c0, phase_rows ph)
{
    int d = jb->c->dil, p = c0 % d, n = CHUNK + d;
    size_t pos = (size_t)jb->s0 + (size_t)(c0 / d) * WM * d + (size_t)p;
    if (d == 1 && pos + (size_t)WM * PHW <= jb->Ls) {
        f->deint(row + pos, ph);
        return;
    }
    if (pos + (size_t)(n / d + 1) * WM * d + (size_t)WM * d <= jb->Ls) { /* every read inside the row */
        f->runs_in(row, pos, p, d, n, ph);
        return;
    }
    for (int i = 0; i < n; i++) {
        for (int r = 0; r < WM; r++)
            ph[r][i] = pos + (size_t)r * d < jb->Ls ? row[pos + (size_t)r * d] : 0.0f;
        pos += ++p == d ? (size_t)(WM * d - d + 1) : 1;
        p = p == d ? 0 : p;
    }
}

/* V of input channels r0 .. r1. */
static void input_rows(const wino_job *jb, size_t r0, size_t r1)
{
    const wino_fns *f = fns_for(jb->isa);
    size_t plane = (size_t)jb->c->cin * jb->Lv;
    int np = kt_wino_points(jb->c->k);
    phase_rows ph;
    float *v7[NA], spare[CHUNK]; /* spare: V at infinity when that point is skipped */
    v7[NA - 1] = spare;
    for (size_t ci = r0; ci < r1; ci++)
        for (size_t c0 = 0; c0 < jb->Lv; c0 += CHUNK) { /* Lv: whole chunks */
            phases(jb, f, jb->xp + ci * jb->Ls, (int)c0, ph);
            for (int i = 0; i < np; i++)
                v7[i] = jb->v + i * plane + ci * jb->Lv + c0;
            f->in(ph, jb->c->dil, v7[0], v7[1], v7[2], v7[3], v7[4], v7[5], v7[6]);
        }
}

/* V as bfloat16 pairs (bf16 weights) for pair rows cp0 .. cp1: each chunk of the two channels'
 * tiles is transformed into a local block and rounded from there, so V is never stored in
 * float32. The values are those input_rows stores. */
static void input_pairs(const wino_job *jb, size_t cp0, size_t cp1)
{
    const wino_fns *f = fns_for(jb->isa);
    int cin = jb->c->cin;
    size_t ncp = ((size_t)cin + 1) / 2;
    phase_rows ph;
    float loc[NA][2][CHUNK];
    for (size_t cp = cp0; cp < cp1; cp++) {
        int rows = 2 * cp + 1 < (size_t)cin ? 2 : 1;
        for (size_t c0 = 0; c0 < jb->Lv; c0 += CHUNK) { /* Lv: whole chunks */
            for (int h = 0; h < rows; h++) {
                phases(jb, f, jb->xp + (2 * cp + (size_t)h) * jb->Ls, (int)c0, ph);
                f->in(ph, jb->c->dil, loc[0][h], loc[1][h], loc[2][h], loc[3][h], loc[4][h], loc[5][h], loc[6][h]);
            }
            for (int i = 0; i < kt_wino_points(jb->c->k); i++)
                kt_bf16_pairs(jb->isa, loc[i][0], CHUNK, rows, 0, 1, CHUNK, jb->vb + (i * ncp + cp) * jb->Lv + c0,
                              jb->Lv);
        }
    }
}

/* The transformed input of input channels r0 .. r1, or of pair rows r0 .. r1 for bf16 weights. */
static void input_part(void *p, size_t r0, size_t r1)
{
    const wino_job *jb = p;
    if (jb->vb)
        input_pairs(jb, r0, r1);
    else
        input_rows(jb, r0, r1);
}

/* Rows of the transformed input: input channels, or channel pairs for bf16 weights. */
static size_t v_rows(const wino_job *jb) { return jb->vb ? ((size_t)jb->c->cin + 1) / 2 : (size_t)jb->c->cin; }

/* The pass's whole transformed input. */
static void transform_all(const wino_job *jb) { input_part((void *)jb, 0, v_rows(jb)); }

/* y row yr (columns s0 ..): the outputs of tiles c0 .. c0 + n from y4 (acc: added, with the bias). */
static void scatter(const wino_job *jb, const wino_fns *f, float *yr, int c0, int n, float bias,
                    float y4[WM][CHUNK])
{
    int d = jb->c->dil, p = c0 % d, pos = c0 / d * WM * d;
    if (d == 1 && n == CHUNK && pos + WM * CHUNK <= jb->n) {
        float yi[WM * CHUNK];
        f->inter(y4, yi);
        f->add(yr + pos, yi, bias, jb->acc);
        return;
    }
    f->runs_out(yr, pos, p, d, n, jb->n, jb->acc, bias, y4); /* block by block: runs of d tiles */
}

static void output_rows(const wino_job *jb, size_t r0, size_t r1)
{
    const kt_conv1d *c = jb->c;
    const wino_fns *f = fns_for(jb->isa);
    size_t plane = (size_t)c->cout * jb->ldm;
    static const float zeros[CHUNK]; /* the products at infinity when that point is skipped */
    int np = kt_wino_points(c->k);
    const float *m7[NA];
    float y4[WM][CHUNK];
    m7[NA - 1] = zeros;
    for (size_t o = r0; o < r1; o++) {
        float *yr = jb->y + o * jb->ldy + jb->s0, bias = c->b ? c->b[o] : 0.0f;
        for (int c0 = 0; c0 < jb->ncols; c0 += CHUNK) { /* m rows: whole chunks, zeros past ncols */
            int n = jb->ncols - c0 < CHUNK ? jb->ncols - c0 : CHUNK;
            for (int e = 0; e < np; e++)
                m7[e] = jb->m + e * plane + o * jb->ldm + (size_t)c0;
            f->out(m7, y4);
            scatter(jb, f, yr, c0, n, bias, y4);
        }
    }
}

/* The point products of the output row tiles m0 .. m1 (m_i[cout, ncols] = conv over tiles of
 * v_i with U_i: kp taps, at infinity kt_wino_inf_pieces; dilation d), then those rows' output
 * transform. */
static void points_range(const wino_job *jb, const kt_wino *w, int m0, int m1)
{
    const kt_conv1d *c = jb->c;
    size_t vsz = w->bf16 ? ((size_t)c->cin + 1) / 2 * jb->Lv : (size_t)c->cin * jb->Lv;
    const float *v = w->bf16 ? (const float *)(const void *)jb->vb : jb->v; /* 32-bit words either way */
    int np = kt_wino_points(c->k);
    for (int i = 0; i < np; i++) {
        int taps = plane_taps(c->k, i);
        kt_conv1d inner = {NULL, NULL, c->cin, c->cout, taps, 1, 0, c->dil};
        kt_packed pk = {w->bf16 ? KT_PACK_BF16X2 : KT_PACK_F32, w->u + plane_at(c->cout, c->cin, c->k, i, w->bf16),
                        NULL, 0, NULL};
        kt_conv1d_padded_tiles(jb->isa, &inner, &pk, v + i * vsz, jb->Lv, jb->ncols + c->dil * (taps - 1),
                               jb->m + (size_t)i * c->cout * jb->ldm, jb->ldm, 0, m0, m1);
    }
    size_t r0 = (size_t)m0 * KT_PACK_MR, r1 = (size_t)m1 * KT_PACK_MR < (size_t)c->cout ? (size_t)m1 * KT_PACK_MR
                                                                                         : (size_t)c->cout;
    for (int i = 0; i < np; i++) /* the columns past ncols of these rows: zeros */
        for (size_t o = r0; o < r1; o++)
            memset(jb->m + ((size_t)i * c->cout + o) * jb->ldm + jb->ncols, 0,
                   sizeof(float) * (jb->ldm - (size_t)jb->ncols));
    if (r1 > r0)
        output_rows(jb, r0, r1);
}

/* ---- three ways to share a conv among threads ----------------------------------------
 * By columns: each thread takes whole passes of up to COL_TILES tiles and transforms,
 * multiplies and transforms back alone, in its own scratch, so only U is read by every
 * thread. Chosen when U is smaller than the transformed input of the whole conv (few
 * channels, many columns).
 * By rows otherwise (many channels, few columns): each pass of up to BLOCK_COLS tiles is
 * split by output row tiles, and every thread's rows read the whole transformed input V.
 * On up to ROWS_OWN_V threads each thread transforms the whole pass input itself into a V
 * of its own: the transform is a few percent of the products, and a V one core wrote and
 * another read costs more in cache traffic than doing it twice. With more threads the
 * transform is split by input channel and V shared.
 * All three compute every output element the same way. */

#define COL_TILES 384 /* tiles per pass of the column split */
#define ROWS_OWN_V 2  /* most threads that each transform the whole input of a pass */

typedef struct {
    int blocks; /* 4d-output blocks (d tiles each) per pass */
    int npass;
} col_plan;

static col_plan plan_columns(const kt_conv1d *c, int L, int n)
{
    int d = c->dil, blocks = (L + WM * d - 1) / (WM * d), bmax = COL_TILES / d > 0 ? COL_TILES / d : 1;
    int npass = (blocks + bmax - 1) / bmax;
    npass = (npass + n - 1) / n * n; /* whole rounds of n passes, as even as the blocks allow */
    int bpp = (blocks + npass - 1) / npass;
    return (col_plan){bpp, (blocks + bpp - 1) / bpp};
}

/* Scratch of one pass of ncols tiles with nv transformed inputs: the 7 product planes M
 * first, then each V. */
static size_t m_planes(const kt_conv1d *c, int ncols)
{
    return (size_t)kt_wino_points(c->k) * kt_arena_round((size_t)c->cout * m_len(ncols));
}

static size_t v_planes(const kt_conv1d *c, int ncols)
{
    return (size_t)kt_wino_points(c->k) * kt_arena_round((size_t)c->cin * v_len(c, ncols));
}

/* One transformed input: V, or its pair planes for bf16 weights. */
static size_t v_block(const kt_conv1d *c, int ncols, int bf16)
{
    return bf16 ? (size_t)kt_wino_points(c->k) * kt_arena_round(((size_t)c->cin + 1) / 2 * v_len(c, ncols))
                : v_planes(c, ncols);
}

static size_t pass_scratch(const kt_conv1d *c, int ncols, int nv, int bf16)
{
    return m_planes(c, ncols) + (size_t)nv * v_block(c, ncols, bf16);
}

int kt_wino_by_columns(const kt_conv1d *c, const kt_wino *w, int L, int n_threads)
{
    if (n_threads < 2 || L <= 0)
        return 0;
    double u = (double)c->cout * c->cin * w->kp, v = (double)c->cin * ((L + WM - 1) / WM); /* per point */
    return u <= v;
}

/* Tiles of a pass of n output columns at dilation d: whole 4d-output blocks of d tiles. */
static int pass_tiles(int d, int n) { return (n + WM * d - 1) / (WM * d) * d; }

/* Scratch of a call on up to L columns on n threads, either way: by rows, one pass of at most
 * tile_len(d) columns with a V per thread (up to ROWS_OWN_V); by columns, a pass of at most
 * min(blocks, COL_TILES / d) blocks per thread (plan_columns never gives more). Both bounds grow
 * with L, so a call on fewer columns never needs more than the scratch planned for L (a shorter
 * call can have longer passes: plan_columns shares the blocks out over whole rounds of passes). */
static size_t scratch_bound(const kt_conv1d *c, int bf16, int L, int n)
{
    int d = c->dil, blocks = (L + WM * d - 1) / (WM * d), bmax = COL_TILES / d > 0 ? COL_TILES / d : 1;
    size_t rows = pass_scratch(c, pass_tiles(d, L < tile_len(d) ? L : tile_len(d)), n <= ROWS_OWN_V ? n : 1, bf16);
    size_t cols = n > 1 ? (size_t)n * pass_scratch(c, (blocks < bmax ? blocks : bmax) * d, 1, bf16) : 0;
    return rows > cols ? rows : cols;
}

size_t kt_wino_scratch(const kt_conv1d *c, int bf16, int L, int n_threads)
{
    size_t s = 0; /* the most any thread count up to n_threads takes */
    for (int n = 1; n <= n_threads || n == 1; n++) {
        size_t t = scratch_bound(c, bf16 != 0, L, n);
        s = t > s ? t : s;
    }
    return s;
}

/* The pass of output columns s0 .. s0 + n (n <= the pass length) in scratch (M, then the
 * first V, or its pairs for bf16 weights). */
static wino_job pass_job(const kt_conv1d *c, int bf16, const float *xp, size_t Ls, int s0, int n, float *y,
                         size_t ldy, int acc, int isa, float *scratch)
{
    int ncols = pass_tiles(c->dil, n);
    wino_job jb = {c, xp, Ls, 0, m_len(ncols), ldy, s0, n, ncols, acc, isa, NULL, NULL, scratch, y};
    jb.Lv = v_len(c, jb.ncols);
    float *v = scratch + m_planes(c, jb.ncols);
    if (bf16)
        jb.vb = (uint32_t *)(void *)v;
    else
        jb.v = v;
    return jb;
}

/* Moves jb to the pass's V (and pairs) number i: each thread's own. */
static void use_v(wino_job *jb, int i)
{
    size_t step = v_block(jb->c, jb->ncols, jb->vb != NULL) * (size_t)i;
    if (jb->vb)
        jb->vb += step;
    else
        jb->v += step;
}

typedef struct {
    const kt_conv1d *c;
    const kt_wino *w;
    const float *xp;
    size_t Ls, ldy, per; /* per: each thread's scratch */
    int L, acc, isa, outs, npass; /* outs: output columns per pass */
    float *y, *scratch;
    kt_claims *cl; /* the passes */
} col_job;

static void columns_task(void *p, int tid, int n)
{
    const col_job *q = p;
    int nmt = (q->c->cout + KT_PACK_MR - 1) / KT_PACK_MR;
    (void)n;
    for (int s; (s = kt_claims_take(q->cl, tid)) >= 0;) {
        int s0 = s * q->outs, m = q->L - s0 < q->outs ? q->L - s0 : q->outs;
        wino_job jb = pass_job(q->c, q->w->bf16, q->xp, q->Ls, s0, m, q->y, q->ldy, q->acc, q->isa,
                               q->scratch + tid * q->per);
        transform_all(&jb);
        points_range(&jb, q->w, 0, nmt);
    }
}

typedef struct {
    const wino_job *jb;
    const kt_wino *w;
    int own_v; /* each thread transforms the whole input into its own V (the one after the previous) */
} rows_job;

static void rows_task(void *p, int tid, int n)
{
    const rows_job *r = p;
    wino_job jb = *r->jb;
    int nmt = (jb.c->cout + KT_PACK_MR - 1) / KT_PACK_MR;
    if (r->own_v) {
        use_v(&jb, tid);
        transform_all(&jb);
    }
    points_range(&jb, r->w, nmt * tid / n, nmt * (tid + 1) / n);
}

void kt_wino_conv_padded_ld(kt_exec *ex, const kt_conv1d *c, const kt_wino *w, const float *xp, size_t Ls, int L,
                            float *y, size_t ldy, int accumulate, float *scratch)
{
    int d = c->dil, n = kt_exec_threads(ex), isa = kt_exec_isa(ex);
    if (kt_wino_by_columns(c, w, L, n)) {
        col_plan pl = plan_columns(c, L, n);
        size_t per = pass_scratch(c, pl.blocks * d, 1, w->bf16);
        kt_claims cl;
        col_job q = {c, w, xp, Ls, ldy, per, L, accumulate, isa, pl.blocks * WM * d, pl.npass, y, scratch, &cl};
        kt_claims_init(&cl, pl.npass, ex);
        kt_exec_run(ex, columns_task, &q);
        return;
    }
    for (int s0 = 0; s0 < L; s0 += tile_len(d)) {
        int m = L - s0 < tile_len(d) ? L - s0 : tile_len(d);
        wino_job jb = pass_job(c, w->bf16, xp, Ls, s0, m, y, ldy, accumulate, isa, scratch);
        rows_job rj = {&jb, w, n <= ROWS_OWN_V};
        if (!rj.own_v)
            kt_exec_range(ex, v_rows(&jb), jb.Lv * (jb.vb ? 2 : 1), 16384, input_part, &jb);
        kt_exec_run(ex, rows_task, &rj);
    }
}
