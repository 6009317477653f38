/* fftconv.c - stride-1 Conv1d by FFT overlap-save on the packed direct kernel (see
 * kt/fftconv.h). */
#include "kt/fftconv.h"

#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define KT_FFT_X86 1
#include <immintrin.h>
#else
#define KT_FFT_X86 0
#endif

#define FN KT_FFT_N
#define FH (KT_FFT_N / 2) /* points of the complex FFT */
#define NP KT_FFT_PLANES
#define LW 16        /* tiles transformed together, one per vector lane */
#define COLS_MAX 96  /* tile columns of a pass (47 planes of V and of M, ~2.7 MB each at 128 channels) */
#define COL_ALIGN 24 /* the direct kernel reads whole tiles of 48 columns, a last one of 24 */
#define BMIN 48      /* tiles of a phase per pass at least: each pass reads k - 1 inputs twice per phase */
#define PLANE_RE(f) (2 + 3 * ((f) - 1)) /* bin f (1 .. 15): real, imaginary, their sum; bins 0, 16: planes 0, 1 */

typedef float lanes __attribute__((vector_size(LW * sizeof(float))));

/* cos and sin of 2 pi j / 32, j < 32, rounded to float */
static const float C32[FN] = {
    1.0f, 0.980785280403230449126f, 0.923879532511286756128f, 0.831469612302545237079f, 0.707106781186547524401f,
    0.555570233019602224743f, 0.382683432365089771728f, 0.195090322016128267848f, 0.0f, -0.195090322016128267848f,
    -0.382683432365089771728f, -0.555570233019602224743f, -0.707106781186547524401f, -0.831469612302545237079f,
    -0.923879532511286756128f, -0.980785280403230449126f, -1.0f, -0.980785280403230449126f,
    -0.923879532511286756128f, -0.831469612302545237079f, -0.707106781186547524401f, -0.555570233019602224743f,
    -0.382683432365089771728f, -0.195090322016128267848f, 0.0f, 0.195090322016128267848f, 0.382683432365089771728f,
    0.555570233019602224743f, 0.707106781186547524401f, 0.831469612302545237079f, 0.923879532511286756128f,
    0.980785280403230449126f};
static const float S32[FN] = {
    0.0f, 0.195090322016128267848f, 0.382683432365089771728f, 0.555570233019602224743f, 0.707106781186547524401f,
    0.831469612302545237079f, 0.923879532511286756128f, 0.980785280403230449126f, 1.0f, 0.980785280403230449126f,
    0.923879532511286756128f, 0.831469612302545237079f, 0.707106781186547524401f, 0.555570233019602224743f,
    0.382683432365089771728f, 0.195090322016128267848f, 0.0f, -0.195090322016128267848f, -0.382683432365089771728f,
    -0.555570233019602224743f, -0.707106781186547524401f, -0.831469612302545237079f, -0.923879532511286756128f,
    -0.980785280403230449126f, -1.0f, -0.980785280403230449126f, -0.923879532511286756128f,
    -0.831469612302545237079f, -0.707106781186547524401f, -0.555570233019602224743f, -0.382683432365089771728f,
    -0.195090322016128267848f};

/* ---- the transformed weight ----------------------------------------------------------- */

/* cos and sin of 2 pi j / 32 in double, from the first octant by symmetry (exact literals). */
static void unit(int j, double *c, double *s)
{
    static const double OCT[9] = {1.0, 0.98078528040323044913, 0.92387953251128675613, 0.83146961230254523708,
                                  0.70710678118654752440, 0.55557023301960222474, 0.38268343236508977173,
                                  0.19509032201612826785, 0.0};
    j &= FN - 1;
    int q = j / 8, r = j % 8;
    double ca = OCT[r], sa = OCT[8 - r]; /* cos and sin of r pi / 16 */
    double cs[4][2] = {{ca, sa}, {-sa, ca}, {-ca, -sa}, {sa, -ca}};
    *c = cs[q][0];
    *s = cs[q][1];
}

/* u[plane] from taps g[k]: G_f = sum_t g[t] e^{+2 pi i f t / 32} / 64, the conjugate DFT (the
 * products then give the cross-correlation) with the scale of the two transforms (the input
 * spectrum comes out doubled, the inverse FFT unnormalized and doubled again). */
static void kernel_planes(const double *g, int k, float *u, size_t stride)
{
    for (int f = 0; f <= FH; f++) {
        double re = 0.0, im = 0.0, c, s;
        for (int t = 0; t < k; t++) {
            unit(f * t, &c, &s);
            re += g[t] * c;
            im += g[t] * s;
        }
        re /= 64.0;
        im /= 64.0;
        if (f == 0 || f == FH) {
            u[(f == 0 ? 0 : 1) * stride] = (float)re;
            continue;
        }
        int p = PLANE_RE(f);
        u[(size_t)p * stride] = (float)re;
        u[(size_t)(p + 1) * stride] = (float)im;
        u[(size_t)(p + 2) * stride] = (float)(re + im);
    }
}

void kt_fft_kernel(const float *g, int k, float *u)
{
    double gd[KT_FFT_KMAX];
    for (int t = 0; t < k; t++)
        gd[t] = g[t];
    kernel_planes(gd, k, u, 1);
}

size_t kt_fft_pack_size(int cout, int cin) { return NP * kt_conv_pack_size(cout, cin, 1); }

/* Tap j of output o and input ci read at w[(o / MR) ts + (o % MR) rs + ci cs + j js]. */
typedef struct {
    size_t ts, rs, cs, js;
} tap_layout;

/* kernel_planes for the KT_PACK_MR rows of a tile at once (taps g[t][r], row r's planes at
 * u + r), with cos and sin of 2 pi j / 32 from tables made by unit(): each row's operations are
 * kernel_planes', in the lanes of a vector, compiled once per ISA (no contraction into FMAs, so
 * every ISA gives kernel_planes' floats). */
#define PLANES_ROWS(SUF, ATTR)                                                                                         \
    ATTR static void planes_rows##SUF(const double (*g)[KT_PACK_MR], int k, const double *cs, const double *sn,      \
                                      float *u, size_t stride)                                                         \
    {                                                                                                                  \
        for (int f = 0; f <= FH; f++) {                                                                                \
            double re[KT_PACK_MR], im[KT_PACK_MR];                                                                     \
            for (int r = 0; r < KT_PACK_MR; r++)                                                                       \
                re[r] = im[r] = 0.0;                                                                                   \
            for (int t = 0; t < k; t++) {                                                                              \
                double c = cs[(f * t) & (FN - 1)], s = sn[(f * t) & (FN - 1)];                                         \
                for (int r = 0; r < KT_PACK_MR; r++) {                                                                 \
                    re[r] += g[t][r] * c;                                                                              \
                    im[r] += g[t][r] * s;                                                                              \
                }                                                                                                      \
            }                                                                                                          \
            for (int r = 0; r < KT_PACK_MR; r++) {                                                                     \
                re[r] /= 64.0;                                                                                         \
                im[r] /= 64.0;                                                                                         \
            }                                                                                                          \
            if (f == 0 || f == FH) {                                                                                   \
                for (int r = 0; r < KT_PACK_MR; r++)                                                                   \
                    u[(f == 0 ? 0 : 1) * stride + (size_t)r] = (float)re[r];                                           \
                continue;                                                                                              \
            }                                                                                                          \
            float *q = u + (size_t)PLANE_RE(f) * stride;                                                               \
            for (int r = 0; r < KT_PACK_MR; r++) {                                                                     \
                q[r] = (float)re[r];                                                                                   \
                q[stride + (size_t)r] = (float)im[r];                                                                  \
                q[2 * stride + (size_t)r] = (float)(re[r] + im[r]);                                                    \
            }                                                                                                          \
        }                                                                                                              \
    }

typedef void (*planes_rows_fn)(const double (*)[KT_PACK_MR], int, const double *, const double *, float *, size_t);
PLANES_ROWS(_generic, )
#if KT_FFT_X86
PLANES_ROWS(_avx512, __attribute__((target("avx512f"))))
#endif

static void pack_tiles(const tap_layout *l, const float *w, int cout, int cin, int k, int t0, int t1, float *u)
{
    size_t psz = kt_conv_pack_size(cout, cin, 1);
    double g[KT_FFT_KMAX][KT_PACK_MR], cs[FN], sn[FN];
    planes_rows_fn rows = planes_rows_generic;
#if KT_FFT_X86
    if (__builtin_cpu_supports("avx512f"))
        rows = planes_rows_avx512;
#endif
    for (int j = 0; j < FN; j++)
        unit(j, &cs[j], &sn[j]);
    for (int mt = t0; mt < t1; mt++)
        for (int ci = 0; ci < cin; ci++) {
            for (int r = 0; r < KT_PACK_MR; r++) {
                int o = mt * KT_PACK_MR + r;
                for (int j = 0; j < k; j++)
                    g[j][r] = o < cout ? w[(size_t)mt * l->ts + (size_t)r * l->rs + (size_t)ci * l->cs +
                                           (size_t)j * l->js]
                                       : 0.0;
            }
            rows((const double (*)[KT_PACK_MR])g, k, cs, sn, u + ((size_t)mt * cin + (size_t)ci) * KT_PACK_MR, psz);
        }
}

void kt_fft_pack_tiles(const float *w, int cout, int cin, int k, int t0, int t1, float *u)
{
    tap_layout l = {(size_t)KT_PACK_MR * cin * k, (size_t)cin * k, (size_t)k, 1};
    pack_tiles(&l, w, cout, cin, k, t0, t1, u);
}

void kt_fft_pack_tiles_packed(const float *wp, int cout, int cin, int k, int t0, int t1, float *u)
{
    tap_layout l = {(size_t)KT_PACK_MR * cin * k, 1, (size_t)k * KT_PACK_MR, KT_PACK_MR};
    pack_tiles(&l, wp, cout, cin, k, t0, t1, u);
}

/* ---- the vector loops, once per ISA ----------------------------------------------------- */

typedef struct {
    void (*in)(const float *restrict, int, int, int, float *const *);
    void (*out)(const float *const *, float (*restrict)[FN]);
    void (*add)(float *restrict, const float *restrict, int, float, int);
} lane_fns;

#define LANE_ZMM 0
#define LANE_ATTR
#define LANE_FN(name) name##_generic
#include "fftconv_lanes.inc"
#undef LANE_ATTR
#undef LANE_FN
#if KT_FFT_X86
#define LANE_ATTR __attribute__((target("avx2")))
#define LANE_FN(name) name##_avx2
#include "fftconv_lanes.inc"
#undef LANE_ATTR
#undef LANE_FN
#undef LANE_ZMM
#define LANE_ZMM 1
#define LANE_ATTR __attribute__((target("avx512f")))
#define LANE_FN(name) name##_avx512
#include "fftconv_lanes.inc"
#undef LANE_ATTR
#undef LANE_FN
#endif

static const lane_fns *fns_for(int isa)
{
    static const lane_fns fns[3] = {
        {input_group_generic, output_group_generic, add_outputs_generic},
#if KT_FFT_X86
        {input_group_avx2, output_group_avx2, add_outputs_avx2},
        {input_group_avx512, output_group_avx512, add_outputs_avx512},
#endif
    };
    return KT_FFT_X86 && isa > 0 && isa <= 2 ? &fns[isa] : &fns[0];
}

void kt_fft_input(const float *x, float *v)
{
    float src[FN + (LW - 1)] = {0}, planes[NP][LW], *dst[NP];
    memcpy(src, x, sizeof(float) * FN);
    for (int p = 0; p < NP; p++)
        dst[p] = planes[p];
    input_group_generic(src, 0, 1, LW, dst); /* every lane the same tile */
    for (int p = 0; p < NP; p++)
        v[p] = planes[p][0];
}

void kt_fft_output(const float *m, float *y)
{
    float planes[NP][LW];
    const float *src[NP];
    float out[LW][FN];
    for (int p = 0; p < NP; p++) {
        for (int l = 0; l < LW; l++)
            planes[p][l] = m[p];
        src[p] = planes[p];
    }
    output_group_generic(src, out);
    for (int j = 0; j < FN; j++)
        y[j] = out[0][j];
}

/* ---- the convolution ------------------------------------------------------------------ */

/* Passes: each takes bp tiles of every phase, tile b of phase p in column p bp + b of the
 * planes; the pass count is the one (from the fewest passes of at most COLS_MAX columns) that
 * gives each thread the least work: product columns in whole kernel tiles, and tiles to
 * transform. The products run on lv columns (d bp rounded up to whole kernel tiles, zeros past
 * d bp); plane rows are ld = lv + LW floats apart, so that the last phase's last group of LW
 * lanes has room. Pass s covers q = s bp m .. (s + 1) bp m of every phase, that is output
 * columns d s bp m .. d (s + 1) bp m. The tiles start at multiples of m whatever the pass
 * length, so every output is computed the same way on any thread count. */
typedef struct {
    int m, bp, npass;
    size_t lv, ld, rlen; /* rlen: floats of a phase row the pass's lane groups read */
} fft_plan;

/* Work of a pass of b tiles per phase at dilation d: product columns in whole kernel tiles,
 * and the input and output transforms, in groups of LW tiles, at ~1/2 a product column each. */
static long pass_cost(int d, int b)
{
    long cols = (long)(d * b + COL_ALIGN - 1) / COL_ALIGN * COL_ALIGN;
    return 2 * cols + (long)d * ((b + LW - 1) / LW * LW);
}

/* The plan of passes of bp tiles per phase for nb tiles per phase at dilation d, m outputs a tile. */
static fft_plan plan_of(int d, int m, int nb, int bp)
{
    fft_plan pl = {m, bp, (nb + bp - 1) / bp, 0, 0, 0};
    pl.lv = ((size_t)d * bp + COL_ALIGN - 1) / COL_ALIGN * COL_ALIGN;
    pl.ld = pl.lv + LW;
    pl.rlen = (size_t)m * ((bp + LW - 1) / LW * LW - 1) + FN;
    return pl;
}

static fft_plan plan_for(const kt_conv1d *c, int L, int n)
{
    int d = c->dil, m = FN - c->k + 1, lp = (L + d - 1) / d, nb = (lp + m - 1) / m;
    int bmax = COLS_MAX / d > BMIN ? COLS_MAX / d : BMIN, np0 = (nb + bmax - 1) / bmax, np = np0;
    long best = -1;
    for (int t = np0; t <= np0 + 2 * n && t <= nb; t++) { /* the least work per thread */
        long cost = (long)((t + n - 1) / n) * pass_cost(d, (nb + t - 1) / t);
        if (best < 0 || cost < best) {
            best = cost;
            np = t;
        }
    }
    np = np > 0 ? np : 1;
    return plan_of(d, m, nb, (nb + np - 1) / np);
}

/* One thread's scratch: the product planes M[NP][cout][ld], the transformed input
 * V[NP][cin][ld] (each plane one block: the products read and write consecutive rows ld
 * apart, as Winograd's do; the transforms read and write NP rows a plane apart) and a phase
 * row. */
static size_t m_size(const kt_conv1d *c, const fft_plan *pl) { return kt_arena_round(NP * (size_t)c->cout * pl->ld); }
static size_t v_size(const kt_conv1d *c, const fft_plan *pl) { return kt_arena_round(NP * (size_t)c->cin * pl->ld); }

static size_t per_thread(const kt_conv1d *c, const fft_plan *pl)
{
    return m_size(c, pl) + v_size(c, pl) + kt_arena_round(pl->rlen);
}

/* Scratch of a call on up to L columns on n threads, by columns or by rows: a pass never has more
 * than min(nb, bmax) tiles per phase (plan_for takes at least ceil(nb / bmax) passes), and the
 * bound grows with L, so a call on fewer columns never needs more than the scratch planned for L
 * (a shorter call's plan can have longer passes). */
static size_t scratch_bound(const kt_conv1d *c, int L, int n)
{
    int d = c->dil, m = FN - c->k + 1, lp = (L + d - 1) / d, nb = (lp + m - 1) / m;
    int bmax = COLS_MAX / d > BMIN ? COLS_MAX / d : BMIN, bp = nb < bmax ? nb : bmax;
    fft_plan pl = plan_of(d, m, nb, bp > 0 ? bp : 1);
    return (size_t)n * per_thread(c, &pl); /* by columns; by rows one per_thread and n - 1 phase rows */
}

size_t kt_fft_scratch(const kt_conv1d *c, int L, int n_threads)
{
    size_t s = 0; /* the most any thread count up to n_threads takes */
    for (int n = 1; n <= n_threads || n == 1; n++) {
        size_t t = scratch_bound(c, L, n);
        s = t > s ? t : s;
    }
    return s;
}

typedef struct {
    const kt_conv1d *c;
    const float *u, *xp;
    size_t Ls, ldy, per;
    int L, acc, isa;
    fft_plan pl;
    float *y, *scratch;
    kt_claims *cl; /* by columns: the passes */
} fft_job;

/* V of pass s: for each input channel and phase, LW tiles at a time (the valid lanes stored),
 * read in place when the pass's inputs are inside the row, else from a copy of the phase row
 * with zeros past Ls; zeros from column d bp to lv. */
static void pass_input(const fft_job *q, const lane_fns *f, int s, int ci0, int ci1, float *v, float *ph)
{
    const kt_conv1d *c = q->c;
    int d = c->dil, m = q->pl.m, bp = q->pl.bp;
    size_t ld = q->pl.ld, pv = (size_t)c->cin * ld, used = (size_t)d * bp, pos0 = (size_t)d * s * bp * m;
    float *dst[NP];
    for (int ci = ci0; ci < ci1; ci++) {
        const float *row = q->xp + (size_t)ci * q->Ls;
        float *vc = v + (size_t)ci * ld;
        for (int p = 0; p < d; p++) {
            size_t pos = pos0 + (size_t)p;
            const float *src = row + pos;
            int sd = d; /* src's stride */
            if (pos + (q->pl.rlen - 1) * d >= q->Ls) {
                size_t n_in = pos < q->Ls ? (q->Ls - pos + (size_t)d - 1) / (size_t)d : 0;
                n_in = n_in < q->pl.rlen ? n_in : q->pl.rlen;
                for (size_t i = 0; i < n_in; i++)
                    ph[i] = src[i * d];
                memset(ph + n_in, 0, sizeof(float) * (q->pl.rlen - n_in));
                src = ph;
                sd = 1;
            }
            for (int b0 = 0; b0 < bp; b0 += LW) {
                for (int e = 0; e < NP; e++)
                    dst[e] = vc + (size_t)e * pv + (size_t)p * bp + (size_t)b0;
                f->in(src + (size_t)m * b0 * sd, m, sd, bp - b0 < LW ? bp - b0 : LW, dst);
            }
        }
        for (int e = 0; e < NP && q->pl.lv > used; e++)
            memset(vc + (size_t)e * pv + used, 0, sizeof(float) * (q->pl.lv - used));
    }
}

/* y rows o0 .. o1 of pass s from its product planes M. */
static void pass_output(const fft_job *q, const lane_fns *f, int s, int o0, int o1, const float *mp)
{
    const kt_conv1d *c = q->c;
    int d = c->dil, m = q->pl.m, bp = q->pl.bp;
    size_t ld = q->pl.ld, pm = (size_t)c->cout * ld, q0 = (size_t)s * bp * m;
    const float *src[NP];
    float out[LW][FN];
    for (int o = o0; o < o1; o++) {
        float *yr = q->y + (size_t)o * q->ldy, bias = c->b ? c->b[o] : 0.0f;
        const float *mo = mp + (size_t)o * ld;
        for (int p = 0; p < d; p++)
            for (int b0 = 0; b0 < bp; b0 += LW) {
                for (int e = 0; e < NP; e++)
                    src[e] = mo + (size_t)e * pm + (size_t)p * bp + (size_t)b0;
                f->out(src, out);
                for (int l = 0; l < LW && b0 + l < bp; l++) {
                    size_t t = (size_t)p + (size_t)d * (q0 + (size_t)m * (size_t)(b0 + l));
                    if (d == 1) {
                        int n = t + (size_t)m <= (size_t)q->L ? m : t < (size_t)q->L ? (int)((size_t)q->L - t) : 0;
                        f->add(yr + t, out[l], n, bias, q->acc);
                        continue;
                    }
                    for (int j = 0; j < m && t < (size_t)q->L; j++, t += (size_t)d)
                        yr[t] = (q->acc ? yr[t] + bias : bias) + out[l][j];
                }
            }
    }
}

/* The products of pass s for output row tiles mt0 .. mt1 (V and M in scratch), then those
 * rows' output transform. */
static void pass_rows(const fft_job *q, const lane_fns *f, int s, int mt0, int mt1, float *mp, const float *v)
{
    const kt_conv1d *c = q->c;
    size_t ld = q->pl.ld, psz = kt_conv_pack_size(c->cout, c->cin, 1);
    kt_conv1d inner = {NULL, NULL, c->cin, c->cout, 1, 1, 0, 1};
    for (int e = 0; e < NP; e++) {
        kt_packed pk = {KT_PACK_F32, q->u + e * psz, NULL, 0, NULL};
        kt_conv1d_padded_tiles(q->isa, &inner, &pk, v + e * c->cin * ld, ld, (int)q->pl.lv, mp + e * c->cout * ld, ld,
                               0, mt0, mt1);
    }
    int o1 = mt1 * KT_PACK_MR < c->cout ? mt1 * KT_PACK_MR : c->cout;
    if (mt0 * KT_PACK_MR < o1)
        pass_output(q, f, s, mt0 * KT_PACK_MR, o1, mp);
}

/* ---- two ways to share a conv among threads -------------------------------------------
 * By columns, when there are passes enough for every thread (choose): each thread takes whole
 * passes and transforms, multiplies and transforms back alone, in its own scratch (only U is
 * shared). By rows otherwise (short convs): the passes of the one-thread plan one after the
 * other, each transformed by input channel into one V, then multiplied and transformed back
 * by output row tile. Each output element is computed the same way either way. */

static int by_columns(const fft_plan *pl, int n) { return n > 1 && pl->npass >= n; }

/* The plan and the way for n threads: by columns when that gives no thread more work than an
 * even share of the one-thread plan's (plus a tenth, the cost of the second dispatch per pass). */
static fft_plan choose(const kt_conv1d *c, int L, int n, int *columns)
{
    fft_plan pn = plan_for(c, L, n), p1 = plan_for(c, L, 1);
    long cn = (long)((pn.npass + n - 1) / n) * pass_cost(c->dil, pn.bp);
    long c1 = (long)p1.npass * pass_cost(c->dil, p1.bp) * 11 / (10 * n);
    *columns = by_columns(&pn, n) && cn <= c1;
    return *columns ? pn : p1;
}

static void passes_task(void *p, int tid, int n)
{
    const fft_job *q = p;
    const lane_fns *f = fns_for(q->isa);
    int nmt = (q->c->cout + KT_PACK_MR - 1) / KT_PACK_MR;
    float *mp = q->scratch + (size_t)tid * q->per, *v = mp + m_size(q->c, &q->pl), *ph = v + v_size(q->c, &q->pl);
    (void)n;
    for (int s; (s = kt_claims_take(q->cl, tid)) >= 0;) {
        pass_input(q, f, s, 0, q->c->cin, v, ph);
        pass_rows(q, f, s, 0, nmt, mp, v);
    }
}

typedef struct {
    const fft_job *q;
    int s;
} rows_job;

static void rows_input_task(void *p, int tid, int n)
{
    const rows_job *r = p;
    const fft_job *q = r->q;
    float *v = q->scratch + m_size(q->c, &q->pl);
    float *ph = v + v_size(q->c, &q->pl) + (size_t)tid * kt_arena_round(q->pl.rlen);
    pass_input(q, fns_for(q->isa), r->s, q->c->cin * tid / n, q->c->cin * (tid + 1) / n, v, ph);
}

static void rows_products_task(void *p, int tid, int n)
{
    const rows_job *r = p;
    const fft_job *q = r->q;
    int nmt = (q->c->cout + KT_PACK_MR - 1) / KT_PACK_MR;
    pass_rows(q, fns_for(q->isa), r->s, nmt * tid / n, nmt * (tid + 1) / n, q->scratch,
              q->scratch + m_size(q->c, &q->pl));
}

int kt_fft_by_columns(const kt_conv1d *c, int L, int n_threads)
{
    int columns;
    choose(c, L, n_threads, &columns);
    return columns;
}

void kt_fft_conv_padded_ld(kt_exec *ex, const kt_conv1d *c, const float *u, const float *xp, size_t Ls, int L,
                           float *y, size_t ldy, int accumulate, float *scratch)
{
    if (L <= 0)
        return;
    int n = kt_exec_threads(ex), columns;
    kt_claims cl;
    fft_job q = {c, u, xp, Ls, ldy, 0, L, accumulate, kt_exec_isa(ex), choose(c, L, n, &columns), y, scratch, &cl};
    if (columns) {
        q.per = per_thread(c, &q.pl);
        kt_claims_init(&cl, q.pl.npass, ex);
        kt_exec_run(ex, passes_task, &q);
        return;
    }
    for (int s = 0; s < q.pl.npass; s++) {
        rows_job r = {&q, s};
        kt_exec_run(ex, rows_input_task, &r);
        kt_exec_run(ex, rows_products_task, &r);
    }
}
