/* test_winograd.c - the nested Winograd F(4,4) convolution (kt/winograd.h) against a naive
 * direct convolution in double precision: one tile's transforms, then whole convolutions of
 * random shapes (kernel 3, 7, 11 and others; dilation 1, 3, 5; lengths that are not multiples
 * of 4 and that span several passes), with bias and accumulation, on every ISA the CPU has,
 * and the same bytes at 1, 2 and 3 threads. Also the packed direct kernel on the same cases,
 * to print both paths' error beside each other, and on few output rows (the threads sharing
 * the columns) at 1, 2 and 3 threads; a weight-normed weight packed in one pass
 * (kt_conv_pack_scaled) against folding then packing; the scratch of a longer call enough for
 * every shorter one (kernel 3 takes 6 points). Then the generator stage of the tiny model and of
 * the full-size random-weight model ($KT_FIXTURES/kokoro-full.pth and golden-full/, skipped when
 * absent) on the golden inputs with each ISA's kernels (kt_model_params.max_isa), Winograd
 * against direct and each against the reference: max abs and relative difference, and the same
 * bytes at 1 and 2 threads.
 *
 * Files: $KT_TINY_MODEL, $KT_TINY_CONFIG, $KT_GOLDEN_DIR (defaults under fixtures/tiny/). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>


#include "kt/checkpoint.h"
#include "kt/config.h"
#include "kt/kernels.h"
#include "kt/kokoro.h"
#include "kt/kokoro_stages.h"
#include "kt/ops.h"
#include "kt/winograd.h"
#include "util/conv_ref.h"
#include "util/golden.h"
#include "util/golden_gen.h"

/* One tile: A^T [(G g) . (B^T d)] is the 4-output correlation of d with g. */
static void test_tile_transforms(void **state)
{
    (void)state;
    uint32_t s = 7u;
    for (int trial = 0; trial < 200; trial++) {
        float g[KT_WINO_R], d[KT_WINO_A], u[KT_WINO_A], v[KT_WINO_A], m[KT_WINO_A], y[KT_WINO_M];
        for (int r = 0; r < KT_WINO_R; r++)
            g[r] = conv_lcg(&s);
        for (int e = 0; e < KT_WINO_A; e++)
            d[e] = 4.0f * conv_lcg(&s);
        kt_wino_kernel(g, u);
        kt_wino_input(d, v);
        for (int i = 0; i < KT_WINO_A; i++)
            m[i] = u[i] * v[i];
        kt_wino_output(m, y);
        for (int i = 0; i < KT_WINO_M; i++) {
            double ref = 0.0, mag = 0.0;
            for (int r = 0; r < KT_WINO_R; r++) {
                ref += (double)g[r] * d[i + r];
                mag += fabs((double)g[r] * d[i + r]);
            }
            if (fabs(y[i] - ref) > 1e-5 * mag + 1e-12)
                fail_msg("tile %d output %d: %.9g, direct %.9g", trial, i, y[i], ref);
        }
    }
}

/* The Winograd weight of case z (the caller frees it). */
static float *wino_weight(const conv_data *z)
{
    int tiles = (z->c.cout + KT_PACK_MR - 1) / KT_PACK_MR;
    float *u = malloc(sizeof(float) * kt_wino_pack_size(z->c.cout, z->c.cin, z->c.k));
    assert_non_null(u);
    kt_wino_pack_tiles(z->w, z->c.cout, z->c.cin, z->c.k, 0, tiles, u);
    return u;
}

/* y[cout, ldy] = prior + conv by Winograd (accumulate) with weight w on ex; returns y. */
static float *run_wino_w(kt_exec *ex, const conv_data *z, const kt_wino *w, int L, size_t ldy, int accumulate)
{
    float *y = conv_ref_out(z, ldy, accumulate);
    float *scr = malloc(sizeof(float) * kt_wino_scratch(&z->c, w->bf16, L, kt_exec_threads(ex)));
    assert_non_null(scr);
    kt_wino_conv_padded_ld(ex, &z->c, w, z->xp, z->Ls, L, y, ldy, accumulate, scr);
    free(scr);
    return y;
}

static float *run_wino(kt_exec *ex, const conv_data *z, const float *u, int L, size_t ldy, int accumulate)
{
    kt_wino w = {u, kt_wino_pieces(z->c.k), 0, 0};
    return run_wino_w(ex, z, &w, L, ldy, accumulate);
}

/* conv_ref_err of the direct kernel's output of z (float32 weights, or their bf16 pairs); *rms its
 * conv_ref_rms. */
static double direct_err_pk(kt_exec *ex, const conv_data *z, int L, int bf16, double *rms)
{
    uint32_t *wb = bf16 ? malloc(sizeof(uint32_t) * kt_conv_pack_bf16x2_size(z->c.cout, z->c.cin, z->c.k)) : NULL;
    float *y = malloc(sizeof(float) * (size_t)z->c.cout * L);
    int lin = L + z->c.dil * (z->c.k - 1) - 2 * z->c.pad; /* the input length of L outputs */
    float *scr = bf16 ? malloc(sizeof(uint32_t) * (((size_t)z->c.cin + 1) / 2) * z->Ls) : NULL; /* pairs of xp */
    assert_true(y && (!bf16 || (wb && scr)));
    if (bf16)
        kt_conv_pack_bf16x2(z->w, z->c.cout, z->c.cin, z->c.k, wb);
    kt_packed pk = {bf16 ? KT_PACK_BF16X2 : KT_PACK_F32, bf16 ? (const void *)wb : (const void *)z->wp, NULL, 0, NULL};
    kt_conv1d_padded_ld(ex, &z->c, &pk, z->xp, z->Ls, lin, y, (size_t)L, 0, scr);
    double e = conv_ref_err(z, y, L, (size_t)L, 0);
    if (rms)
        *rms = conv_ref_rms(z, y, L, (size_t)L);
    free(y);
    free(wb);
    free(scr);
    return e;
}

static double direct_err(kt_exec *ex, const conv_data *z, int L) { return direct_err_pk(ex, z, L, 0, NULL); }

static const conv_case cases[] = {
    {8, 8, 3, 1, 37},    {5, 13, 7, 3, 150},  {24, 16, 11, 5, 301}, {16, 24, 3, 5, 2},   {9, 8, 7, 1, 1},
    {16, 16, 11, 1, 3333}, {12, 10, 7, 5, 3100}, {32, 32, 3, 3, 6150}, {7, 9, 5, 2, 99},  {8, 8, 1, 1, 45},
    {16, 8, 12, 1, 77},  {8, 16, 4, 3, 4096}, {64, 64, 11, 5, 40}, {48, 40, 7, 3, 250},
};

static void conv_cases(int isa)
{
    int by[2] = {0, 0}; /* cases on 2 threads split by rows, by columns: both ways must run */
    kt_exec *ex[3] = {NULL, NULL, NULL};
    kt_error err;
    for (int i = 0; i < 3; i++)
        assert_int_equal(kt_exec_create_isa(i + 1, isa, &ex[i], &err), KT_OK);
    if (kt_exec_isa(ex[0]) != isa)
        goto done;
    for (size_t n = 0; n < sizeof cases / sizeof cases[0]; n++) {
        const conv_case *cc = &cases[n];
        conv_data z;
        conv_ref_make(cc, 11u + (uint32_t)n, &z);
        float *u = wino_weight(&z);
        kt_wino wq = {u, kt_wino_pieces(cc->k), 0, 0};
        by[kt_wino_by_columns(&z.c, &wq, cc->L, 2)]++;
        for (int acc = 0; acc < 2; acc++) {
            size_t ldy = (size_t)cc->L + (acc ? 5 : 0);
            float *y[3];
            for (int t = 0; t < 3; t++)
                y[t] = run_wino(ex[t], &z, u, cc->L, ldy, acc);
            for (int t = 1; t < 3; t++)
                if (memcmp(y[0], y[t], sizeof(float) * (size_t)cc->cout * ldy))
                    fail_msg("isa %d case %zu: 1 and %d threads differ", isa, n, t + 1);
            double e = conv_ref_err(&z, y[0], cc->L, ldy, acc);
            if (!acc)
                printf("isa %d cin %d cout %d k %d dil %d L %d: max |error| / sum |products| winograd %.2e, "
                       "direct %.2e\n",
                       isa, cc->cin, cc->cout, cc->k, cc->dil, cc->L, e, direct_err(ex[1], &z, cc->L));
            if (e > 2e-6)
                fail_msg("isa %d case %zu (k %d dil %d L %d): error %.3g", isa, n, cc->k, cc->dil, cc->L, e);
            for (int t = 0; t < 3; t++)
                free(y[t]);
        }
        free(u);
        conv_ref_free(&z);
    }
    if (!by[0] || !by[1])
        fail_msg("the cases split %d convs by rows and %d by columns on 2 threads: both ways must be tested", by[0],
                 by[1]);
done:
    for (int i = 0; i < 3; i++)
        kt_exec_free(ex[i]);
}

static void test_conv_generic(void **state)
{
    (void)state;
    conv_cases(KT_ISA_GENERIC);
}

static void test_conv_avx2(void **state)
{
    (void)state;
    conv_cases(KT_ISA_AVX2);
}

static void test_conv_avx512(void **state)
{
    (void)state;
    conv_cases(KT_ISA_AVX512);
}

/* ex[0], ex[1] = 2-thread execs at isa0 and isa1 (always made: the caller frees both); 0, with a
 * line naming what, when the CPU lacks one of the two. */
static int two_isas(kt_exec *ex[2], int isa0, int isa1, const char *what)
{
    kt_error err;
    assert_int_equal(kt_exec_create_isa(2, isa0, &ex[0], &err), KT_OK);
    assert_int_equal(kt_exec_create_isa(2, isa1, &ex[1], &err), KT_OK);
    if (kt_exec_isa(ex[0]) == isa0 && kt_exec_isa(ex[1]) == isa1)
        return 1;
    printf("%s: this CPU lacks AVX-512 or AVX2, nothing to compare\n", what);
    return 0;
}

/* Winograd on the AVX2 and AVX-512 loops gives the same bytes (dilated tiles move in runs of d
 * values: masked vectors on AVX-512, scalar loops elsewhere), with and without accumulation. */
static void test_conv_isas_same(void **state)
{
    (void)state;
    kt_exec *ex[2];
    if (!two_isas(ex, KT_ISA_AVX2, KT_ISA_AVX512, "Winograd ISAs"))
        goto done;
    int dilated = 0;
    for (size_t n = 0; n < sizeof cases / sizeof cases[0]; n++) {
        const conv_case *cc = &cases[n];
        conv_data z;
        conv_ref_make(cc, 11u + (uint32_t)n, &z);
        float *u = wino_weight(&z);
        for (int acc = 0; acc < 2; acc++) {
            size_t ldy = (size_t)cc->L + (acc ? 5 : 0);
            float *y[2];
            for (int i = 0; i < 2; i++)
                y[i] = run_wino(ex[i], &z, u, cc->L, ldy, acc);
            if (memcmp(y[0], y[1], sizeof(float) * (size_t)cc->cout * ldy))
                fail_msg("case %zu (k %d dil %d L %d, accumulate %d): AVX2 and AVX-512 differ", n, cc->k, cc->dil,
                         cc->L, acc);
            free(y[0]);
            free(y[1]);
        }
        dilated += cc->dil > 1;
        free(u);
        conv_ref_free(&z);
    }
    assert_true(dilated >= 5);
done:
    kt_exec_free(ex[0]);
    kt_exec_free(ex[1]);
}

/* Products in bfloat16 (U and V rounded to bf16 pairs, vdpbf16ps): 1, 2 and 3 threads give the
 * same bytes, both thread splits run, and the error stays within a small multiple of the
 * direct bf16 kernel's (weights and input rounded to bf16) on the same case: Winograd's
 * transforms add the rounding of 7 transformed values per tile to that of the taps (measured:
 * rms 3.7-4.5x, max 4.5-7.4x the direct kernel's on these cases). */
static void test_conv_bf16(void **state)
{
    (void)state;
    kt_exec *ex[3] = {NULL, NULL, NULL};
    kt_error err;
    int by[2] = {0, 0};
    for (int i = 0; i < 3; i++)
        assert_int_equal(kt_exec_create_isa(i + 1, KT_ISA_AVX512, &ex[i], &err), KT_OK);
    if (kt_exec_isa(ex[0]) != KT_ISA_AVX512 || !kt_exec_has_bf16(ex[0])) {
        printf("bf16 Winograd: this CPU lacks AVX512_BF16, nothing to run\n");
        goto done;
    }
    for (size_t n = 0; n < sizeof cases / sizeof cases[0]; n++) {
        const conv_case *cc = &cases[n];
        if (cc->k < KT_WINO_R) /* one piece mostly of zeros: not a conv the model runs this way */
            continue;
        conv_data z;
        conv_ref_make(cc, 11u + (uint32_t)n, &z);
        float *u = wino_weight(&z);
        uint32_t *ub = malloc(sizeof(uint32_t) * kt_wino_pack_bf16_size(cc->cout, cc->cin, cc->k));
        assert_true(ub != NULL);
        kt_wino_pack_bf16(u, cc->cout, cc->cin, cc->k, ub);
        kt_wino wq = {(const float *)(const void *)ub, kt_wino_pieces(cc->k), 1, 0};
        by[kt_wino_by_columns(&z.c, &wq, cc->L, 2)]++;
        for (int acc = 0; acc < 2; acc++) {
            size_t ldy = (size_t)cc->L + (acc ? 5 : 0);
            float *y[3];
            for (int t = 0; t < 3; t++)
                y[t] = run_wino_w(ex[t], &z, &wq, cc->L, ldy, acc);
            for (int t = 1; t < 3; t++)
                if (memcmp(y[0], y[t], sizeof(float) * (size_t)cc->cout * ldy))
                    fail_msg("bf16 case %zu: 1 and %d threads differ", n, t + 1);
            double e = conv_ref_err(&z, y[0], cc->L, ldy, acc), rd = 0.0;
            double ed = direct_err_pk(ex[1], &z, cc->L, 1, &rd), rw = acc ? 0.0 : conv_ref_rms(&z, y[0], cc->L, ldy);
            if (!acc)
                printf("bf16 cin %d cout %d k %d dil %d L %d: error / sum |products|, max and rms: winograd %.2e "
                       "%.2e, direct bf16 %.2e %.2e\n",
                       cc->cin, cc->cout, cc->k, cc->dil, cc->L, e, rw, ed, rd);
            if (e > 10.0 * ed || (!acc && rw > 6.0 * rd))
                fail_msg("bf16 case %zu (k %d dil %d L %d): error max %.3g rms %.3g against direct bf16 %.3g %.3g", n,
                         cc->k, cc->dil, cc->L, e, rw, ed, rd);
            for (int t = 0; t < 3; t++)
                free(y[t]);
        }
        free(ub);
        free(u);
        conv_ref_free(&z);
    }
    if (!by[0] || !by[1])
        fail_msg("bf16: %d convs by rows and %d by columns on 2 threads: both ways must be tested", by[0], by[1]);
done:
    for (int i = 0; i < 3; i++)
        kt_exec_free(ex[i]);
}

/* The packed direct kernel at every output length 1 .. 100: the AVX-512 tiles (48 columns, a
 * partial last tile on a narrower kernel, or on the rows kernel for groups of 32 rows: the
 * second case's 260 rows, 32 row tiles in groups and one of 4 rows alone) give the same bytes
 * as the AVX2 kernel's, with and without accumulation, and the products within float rounding
 * of the reference. */
static void direct_isas_case(kt_exec *const ex[2], const conv_case *cc, uint32_t seed);

static void test_direct_isas(void **state)
{
    (void)state;
    kt_exec *ex[2];
    if (!two_isas(ex, KT_ISA_AVX512, KT_ISA_AVX2, "direct kernel ISAs"))
        goto done;
    static const conv_case cases[] = {{6, 11, 3, 2, 100}, {5, 260, 3, 2, 100}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        direct_isas_case(ex, &cases[i], 5u + (uint32_t)i);
done:
    kt_exec_free(ex[0]);
    kt_exec_free(ex[1]);
}

static void direct_isas_case(kt_exec *const ex[2], const conv_case *cc, uint32_t seed)
{
    conv_data z;
    conv_ref_make(cc, seed, &z);
    kt_packed pk = {KT_PACK_F32, z.wp, NULL, 0, NULL};
    for (int n = 1; n <= cc->L; n++)
        for (int acc = 0; acc < 2; acc++) {
            size_t ldy = (size_t)n + 3, ny = (size_t)cc->cout * ldy;
            float *y[2] = {malloc(sizeof(float) * ny), malloc(sizeof(float) * ny)};
            assert_true(y[0] && y[1]);
            for (int i = 0; i < 2; i++) {
                for (size_t e = 0; e < ny; e++)
                    y[i][e] = 0.25f * (float)(e % 7);
                kt_conv1d_padded_ld(ex[i], &z.c, &pk, z.xp, z.Ls, n, y[i], ldy, acc, NULL);
            }
            if (memcmp(y[0], y[1], sizeof(float) * ny))
                fail_msg("%d rows, %d output columns (accumulate %d): the AVX-512 and AVX2 kernels differ", cc->cout,
                         n, acc);
            free(y[0]);
            free(y[1]);
        }
    double e = direct_err(ex[0], &z, cc->L);
    if (e > 2e-6)
        fail_msg("direct kernel, %d rows, 100 columns: error %.3g", cc->cout, e);
    conv_ref_free(&z);
}

/* The rows kernel (a partial last column tile of float32 or bf16-pair weights on AVX-512, for
 * groups of 4 row tiles) against the column kernels on the same CPU: the first n columns of a
 * 96-column output (two whole tiles of 48) equal the output of length n, for n = 1 .. 95, with
 * and without accumulation, at 1 and 2 threads. 264 rows: 33 row tiles, so one is left out of
 * the groups; 7 input channels: the bf16 pairs end with a half-empty one. */
static void test_direct_rows(void **state)
{
    (void)state;
    kt_exec *ex[2] = {NULL, NULL};
    kt_error err;
    for (int i = 0; i < 2; i++)
        assert_int_equal(kt_exec_create_isa(i + 1, KT_ISA_AVX512, &ex[i], &err), KT_OK);
    if (kt_exec_isa(ex[0]) != KT_ISA_AVX512) {
        printf("rows kernel: this CPU lacks AVX-512, nothing to compare\n");
        goto done;
    }
    conv_case cc = {7, 264, 3, 2, 96};
    conv_data z;
    conv_ref_make(&cc, 77u, &z);
    uint32_t *wb = malloc(sizeof(uint32_t) * kt_conv_pack_bf16x2_size(cc.cout, cc.cin, cc.k));
    float *scr = malloc(sizeof(uint32_t) * (((size_t)cc.cin + 1) / 2) * z.Ls);
    size_t ny = (size_t)cc.cout * (size_t)cc.L;
    float *full = malloc(sizeof(float) * ny), *y = malloc(sizeof(float) * ny);
    assert_true(wb && scr && full && y);
    kt_conv_pack_bf16x2(z.w, cc.cout, cc.cin, cc.k, wb);
    int ran = 0, bf16 = kt_exec_has_bf16(ex[0]);
    for (int bf = 0; bf <= bf16; bf++) {
        kt_packed pk = {bf ? KT_PACK_BF16X2 : KT_PACK_F32, bf ? (const void *)wb : (const void *)z.wp, NULL, 0, NULL};
        for (int t = 0; t < 2; t++)
            for (int acc = 0; acc < 2; acc++) {
                for (size_t e = 0; e < ny; e++)
                    full[e] = 0.25f * (float)(e % 7);
                kt_conv1d_padded_ld(ex[t], &z.c, &pk, z.xp, z.Ls, cc.L, full, (size_t)cc.L, acc, scr);
                for (int n = 1; n < cc.L; n++) {
                    for (size_t e = 0; e < ny; e++)
                        y[e] = 0.25f * (float)(e % 7);
                    kt_conv1d_padded_ld(ex[t], &z.c, &pk, z.xp, z.Ls, n, y, (size_t)cc.L, acc, scr);
                    for (int r = 0; r < cc.cout; r++)
                        if (memcmp(y + (size_t)r * cc.L, full + (size_t)r * cc.L, sizeof(float) * (size_t)n))
                            fail_msg("%s, %d threads, accumulate %d: row %d of %d columns differs from the same "
                                     "columns of %d",
                                     bf ? "bf16" : "float32", t + 1, acc, r, n, cc.L);
                }
                ran++;
            }
    }
    printf("rows kernel: %d runs of lengths 1 .. %d (float32%s)\n", ran, cc.L - 1, bf16 ? " and bf16" : "");
    assert_int_equal(ran, 4 * (1 + bf16));
    free(wb);
    free(scr);
    free(full);
    free(y);
    conv_ref_free(&z);
done:
    kt_exec_free(ex[0]);
    kt_exec_free(ex[1]);
}

/* The packed direct kernel however its work is shared among threads: fewer output row tiles
 * than two per thread (conv_post's 22 rows, a projection's one: blocks of columns), many
 * columns (each thread's rows in time blocks, the others taking what is left) and few columns
 * (row tiles): the same bytes at 1, 2 and 3 threads on every ISA the CPU has, with and without
 * accumulation, and the products within float rounding of the reference. */
static void test_direct_shares(void **state)
{
    (void)state;
    static const conv_case few[] = {{128, 22, 7, 1, 2000}, {16, 1, 3, 1, 777}, {8, 11, 3, 3, 146}, {4, 5, 1, 1, 96},
                                    {24, 40, 3, 3, 1000}, {16, 64, 3, 1, 1500}, {32, 48, 3, 1, 67},
                                    {12, 264, 3, 1, 67}};
    static const int isas[] = {KT_ISA_GENERIC, KT_ISA_AVX2, KT_ISA_AVX512};
    int ran = 0;
    for (size_t s = 0; s < sizeof isas / sizeof isas[0]; s++) {
        kt_exec *ex[3] = {NULL, NULL, NULL};
        kt_error err;
        for (int i = 0; i < 3; i++)
            assert_int_equal(kt_exec_create_isa(i + 1, isas[s], &ex[i], &err), KT_OK);
        for (size_t n = 0; kt_exec_isa(ex[0]) == isas[s] && n < sizeof few / sizeof few[0]; n++) {
            conv_data z;
            conv_ref_make(&few[n], 31u + (uint32_t)n, &z);
            kt_packed pk = {KT_PACK_F32, z.wp, NULL, 0, NULL};
            for (int acc = 0; acc < 2; acc++) {
                size_t ldy = (size_t)few[n].L + 2;
                float *y[3];
                for (int t = 0; t < 3; t++) {
                    y[t] = conv_ref_out(&z, ldy, acc);
                    kt_conv1d_padded_ld(ex[t], &z.c, &pk, z.xp, z.Ls, few[n].L, y[t], ldy, acc, NULL);
                }
                for (int t = 1; t < 3; t++)
                    if (memcmp(y[0], y[t], sizeof(float) * (size_t)few[n].cout * ldy))
                        fail_msg("isa %d, %d rows by %d columns: 1 and %d threads differ", isas[s], few[n].cout,
                                 few[n].L, t + 1);
                double e = conv_ref_err(&z, y[1], few[n].L, ldy, acc);
                if (e > 2e-6)
                    fail_msg("isa %d, %d rows by %d columns: error %.3g", isas[s], few[n].cout, few[n].L, e);
                for (int t = 0; t < 3; t++)
                    free(y[t]);
                ran++;
            }
            conv_ref_free(&z);
        }
        for (int i = 0; i < 3; i++)
            kt_exec_free(ex[i]);
    }
    assert_true(ran >= 16); /* the generic kernel runs everywhere */
}

/* The transformed weight from the packed direct form equals the one from w. */
static void test_pack_from_packed(void **state)
{
    (void)state;
    static const int shapes[][3] = {{8, 8, 3}, {13, 5, 7}, {16, 24, 11}};
    conv_ref_check_pack(shapes, 3, kt_wino_pack_size, kt_wino_pack_tiles, kt_wino_pack_tiles_packed);
}

/* Every value of the packed transformed weight (the rows of a tile computed together, with the
 * CPU's best ISA) equals kt_wino_kernel on that row's 4 taps, bit for bit; the pieces left
 * out at infinity (kt_wino_inf_pieces: the last one when 4 does not divide k; kernel 3 its only
 * one) have a zero weight there, and a kernel of 8 keeps every piece. */
static void test_pack_one_row(void **state)
{
    (void)state;
    static const int shapes[][3] = {{8, 3, 7}, {13, 5, 11}, {21, 2, 3}, {16, 3, 8}};
    uint32_t seed = 11u;
    for (int sh = 0; sh < 4; sh++) {
        int cout = shapes[sh][0], cin = shapes[sh][1], k = shapes[sh][2], kp = kt_wino_pieces(k);
        int tiles = (cout + KT_PACK_MR - 1) / KT_PACK_MR;
        size_t n = (size_t)cout * cin * k, psz = kt_conv_pack_size(cout, cin, kp);
        float *w = malloc(sizeof(float) * n), *u = malloc(sizeof(float) * kt_wino_pack_size(cout, cin, k));
        assert_true(w && u);
        for (size_t i = 0; i < n; i++)
            w[i] = conv_lcg(&seed);
        kt_wino_pack_tiles(w, cout, cin, k, 0, tiles, u);
        for (int o = 0; o < cout; o++)
            for (int ci = 0; ci < cin; ci++)
                for (int sp = 0; sp < kp; sp++) {
                    float g[KT_WINO_R], ref[KT_WINO_A];
                    for (int q = 0; q < KT_WINO_R; q++)
                        g[q] = sp * KT_WINO_R + q < k ? w[((size_t)o * cin + ci) * k + sp * KT_WINO_R + q] : 0.0f;
                    kt_wino_kernel(g, ref);
                    int ki = kt_wino_inf_pieces(k), last = KT_WINO_A - 1;
                    if (sp >= ki && ref[last] != 0.0f) /* the pieces left out at infinity: zeros there */
                        fail_msg("shape %d row %d input %d piece %d left out at infinity but %.9g", sh, o, ci, sp,
                                 ref[last]);
                    size_t at = (((size_t)(o / KT_PACK_MR) * cin + ci) * kp + sp) * KT_PACK_MR + o % KT_PACK_MR;
                    for (int i = 0; i < last; i++)
                        if (memcmp(&u[(size_t)i * psz + at], &ref[i], sizeof(float)))
                            fail_msg("shape %d row %d input %d piece %d point %d: %.9g, one row %.9g", sh, o, ci,
                                     sp, i, u[(size_t)i * psz + at], ref[i]);
                    size_t ai = (size_t)last * psz + (((size_t)(o / KT_PACK_MR) * cin + ci) * ki + sp) * KT_PACK_MR +
                                o % KT_PACK_MR; /* infinity: ki pieces */
                    if (sp < ki && memcmp(&u[ai], &ref[last], sizeof(float)))
                        fail_msg("shape %d row %d input %d piece %d at infinity: %.9g, one row %.9g", sh, o, ci, sp,
                                 u[ai], ref[last]);
                }
        free(w);
        free(u);
    }
}

/* kt_conv_pack_scaled gives the bytes of folding w = (float)(v * scale) first and packing w with
 * kt_conv_pack, on row counts that fill the last row tile and that do not, and each packed value
 * is the one its place in the layout names (whole row tiles go through 8 x 8 transposes where the
 * CPU has AVX2, the rest through the scalar loop). */
static void test_pack_scaled(void **state)
{
    (void)state;
    static const int shapes[][3] = {{8, 4, 3}, {13, 5, 7}, {21, 3, 11}, {16, 8, 1}, {40, 19, 1}};
    uint32_t seed = 7;
    for (int s = 0; s < 5; s++) {
        int cout = shapes[s][0], cin = shapes[s][1], k = shapes[s][2];
        size_t n = (size_t)cout * cin * k, np = kt_conv_pack_size(cout, cin, k);
        float *v = malloc(sizeof(float) * n), *w = malloc(sizeof(float) * n);
        float *a = malloc(sizeof(float) * np), *b = malloc(sizeof(float) * np);
        double *sc = malloc(sizeof(double) * (size_t)cout);
        assert_true(v && w && a && b && sc);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1664525u + 1013904223u;
            v[i] = (float)((int32_t)seed) * 0x1p-31f;
        }
        for (int o = 0; o < cout; o++)
            sc[o] = 0.1 + 1.0 / (3.0 + o); /* not a power of two: the product rounds */
        for (size_t i = 0; i < n; i++)
            w[i] = (float)(v[i] * sc[i / ((size_t)cin * k)]);
        kt_conv_pack(w, cout, cin, k, a);
        memset(b, 0xff, sizeof(float) * np);
        kt_conv_pack_scaled(v, sc, cout, cin, k, b);
        assert_memory_equal(a, b, sizeof(float) * np);
        size_t K = (size_t)cin * k; /* the layout, value by value: [row tile][kk][row], zeros past cout */
        for (size_t e = 0; e < np; e++) {
            size_t r = e % KT_PACK_MR, kk = e / KT_PACK_MR % K, o = e / KT_PACK_MR / K * KT_PACK_MR + r;
            float want = o < (size_t)cout ? (float)(v[o * K + kk] * sc[o]) : 0.0f;
            if (memcmp(&b[e], &want, sizeof want))
                fail_msg("%d x %d x %d: packed value %zu (row %zu, kk %zu) is %.9g, not %.9g", cout, cin, k, e, o, kk,
                         (double)b[e], (double)want);
        }
        free(v);
        free(w);
        free(a);
        free(b);
        free(sc);
    }
}

/* A call on fewer columns than its scratch was made for stays inside that scratch (a shorter
 * call's passes can be longer than a longer call's: the column split shares blocks out over whole
 * rounds of passes). kt_wino_scratch never shrinks as L grows, on the generator's shapes at 1 to 3
 * threads; and a 256-channel kernel-3 conv on 513 columns on 2 threads (by rows, 2 V's), given
 * the scratch of 1,024 columns (by columns) and guard floats after it, leaves the guard as it was. */
static size_t wino_scratch_f32(const kt_conv1d *c, int L, int n) { return kt_wino_scratch(c, 0, L, n); }

static void wino_run(kt_exec *ex, const conv_data *z, int L, float *y, float *scr)
{
    float *u = wino_weight(z);
    kt_wino w = {u, kt_wino_pieces(z->c.k), 0, 0};
    kt_wino_conv_padded_ld(ex, &z->c, &w, z->xp, z->Ls, L, y, (size_t)L, 0, scr);
    free(u);
}

static void test_scratch_shorter(void **state)
{
    (void)state;
    static const int shapes[][3] = {{128, 3, 1}, {128, 3, 3}, {128, 3, 5}, {128, 7, 1}, {128, 7, 3}, {128, 7, 5},
                                    {128, 11, 1}, {128, 11, 3}, {128, 11, 5}, {256, 3, 1}, {256, 3, 3}, {256, 3, 5},
                                    {256, 7, 1}, {256, 7, 3}, {256, 7, 5}, {256, 11, 1}, {256, 11, 3}, {256, 11, 5}};
    conv_ref_check_scratch_grows(wino_scratch_f32, shapes, sizeof shapes / sizeof shapes[0], 6400);
    conv_case cc = {256, 256, 3, 1, 513};
    conv_ref_check_guarded(&cc, wino_scratch_f32, 1024, wino_run, 1e-5);
}

/* ---- the generator stage on golden inputs, both paths ---------------------------------- */

/* Direct on 1 thread, Winograd on 1 thread, Winograd on 2 threads (FFT off: Winograd itself;
 * test_fftconv checks the FFT convs). */
static void wino_params(int i, kt_model_params *p)
{
    p->winograd = i > 0;
    p->fft = 0;
}

/* One golden case: Winograd against direct and against the reference. */
static void generator_check(int isa, const golden_gen *c, float *const *a)
{
    static const char *names[3] = {"generic", "avx2", "avx512"};
    double ad, rd = golden_rel_diff(a[1], a[0], c->n, &ad), er = golden_rel_diff(a[0], c->ref, c->n, NULL);
    double wr = golden_rel_diff(a[1], c->ref, c->n, NULL);
    printf("  %-12s %-7s generator (%d frames): winograd - direct max abs %.3e rel %.3e; against the "
           "reference: direct rel %.3e, winograd rel %.3e\n",
           c->name, names[isa], c->F, ad, rd, er, wr);
    if (!(rd <= 5e-5) || !(wr <= 1e-4)) /* direct vs the reference: 2e-6 to 1e-5 */
        fail_msg("%s: winograd generator differs: %.3e from direct, %.3e from the reference", c->name, rd, wr);
}

static const golden_gen_test GEN = {wino_params, generator_check};

static void test_generator_tiny(void **state)
{
    (void)state;
    golden_gen_run(0, KT_ISA_GENERIC, KT_ISA_AVX512, &GEN);
}

static void test_generator_full(void **state)
{
    (void)state;
    golden_gen_run(1, KT_ISA_GENERIC, KT_ISA_AVX512, &GEN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tile_transforms), cmocka_unit_test(test_pack_from_packed),
        cmocka_unit_test(test_pack_scaled),     cmocka_unit_test(test_pack_one_row),
        cmocka_unit_test(test_conv_generic),    cmocka_unit_test(test_conv_avx2),
        cmocka_unit_test(test_conv_avx512),     cmocka_unit_test(test_conv_isas_same),
        cmocka_unit_test(test_conv_bf16),      cmocka_unit_test(test_scratch_shorter),
        cmocka_unit_test(test_direct_isas),     cmocka_unit_test(test_direct_shares),
        cmocka_unit_test(test_direct_rows),     cmocka_unit_test(test_generator_tiny),
        cmocka_unit_test(test_generator_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
