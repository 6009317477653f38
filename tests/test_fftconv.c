/* test_fftconv.c - the FFT overlap-save convolution (kt/fftconv.h) against a naive direct
 * convolution in double precision: one tile's transforms for every kernel length it takes,
 * the weight from the packed form, then whole convolutions of random shapes (kernel 1 to 17,
 * dilation 1 to 5, lengths from 1 to several passes, channel counts that are not multiples of
 * 8), with bias and accumulation, on every ISA the CPU has: the same bytes at 1, 2 and 3
 * threads and with the AVX2 and AVX-512 kernels, both thread splits run, and the error below
 * the direct kernel's bound; the scratch of a longer call enough for every shorter one. Then the generator stage of the tiny and the full-size random-weight models
 * ($KT_FIXTURES/kokoro-full.pth and golden-full/, skipped when absent) on the golden inputs:
 * with the FFT convs (kt_model_params.fft) against the reference and against Winograd alone,
 * the same bytes at 1 and 2 threads; the FFT convs in use where the kernels are AVX-512, and
 * with the ISA capped at AVX2 the same bytes as Winograd alone (the fallback).
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


#include "kt/fftconv.h"
#include "kt/kernels.h"
#include "kt/kokoro.h"
#include "kt/kokoro_stages.h"
#include "util/conv_ref.h"
#include "util/golden_gen.h"

/* One tile: the output transform of the plane products of the kernel's and the input's
 * transforms is the first 32 - k + 1 values of the correlation of the input with the taps,
 * within float rounding of the transforms' scale (sum |taps| x max |input|: the DFT spreads
 * every input over every output). */
static void test_tile_transforms(void **state)
{
    (void)state;
    uint32_t s = 7u;
    for (int k = 1; k <= KT_FFT_KMAX; k++)
        for (int trial = 0; trial < 20; trial++) {
            float g[KT_FFT_KMAX], x[KT_FFT_N], u[KT_FFT_PLANES], v[KT_FFT_PLANES], m[KT_FFT_PLANES], y[KT_FFT_N];
            for (int t = 0; t < k; t++)
                g[t] = conv_lcg(&s);
            for (int i = 0; i < KT_FFT_N; i++)
                x[i] = 4.0f * conv_lcg(&s);
            kt_fft_kernel(g, k, u);
            kt_fft_input(x, v);
            for (int p = 0; p < KT_FFT_PLANES; p++)
                m[p] = u[p] * v[p];
            kt_fft_output(m, y);
            double gs = 0.0, xm = 0.0;
            for (int t = 0; t < k; t++)
                gs += fabs(g[t]);
            for (int i = 0; i < KT_FFT_N; i++)
                xm = fabs(x[i]) > xm ? fabs(x[i]) : xm;
            for (int j = 0; j + k <= KT_FFT_N; j++) {
                double ref = 0.0;
                for (int t = 0; t < k; t++)
                    ref += (double)g[t] * x[j + t];
                if (fabs(y[j] - ref) > 1e-6 * gs * xm)
                    fail_msg("k %d tile %d output %d: %.9g, direct %.9g", k, trial, j, y[j], ref);
            }
        }
}

/* The transformed weight from the packed direct form equals the one from w, tile by tile too. */
static size_t fft_size(int cout, int cin, int k)
{
    (void)k;
    return kt_fft_pack_size(cout, cin);
}

static void test_pack_from_packed(void **state)
{
    (void)state;
    static const int shapes[][3] = {{8, 8, 3}, {13, 5, 7}, {16, 24, 11}, {9, 3, 17}};
    conv_ref_check_pack(shapes, 4, fft_size, kt_fft_pack_tiles, kt_fft_pack_tiles_packed);
}

/* Every value of the packed FFT weight (the rows of a tile computed together, with the CPU's
 * best ISA) equals kt_fft_kernel on that row's taps, bit for bit. */
static void test_pack_one_row(void **state)
{
    (void)state;
    static const int shapes[][3] = {{8, 3, 11}, {13, 5, 7}, {9, 2, 17}};
    uint32_t seed = 5u;
    for (int sh = 0; sh < 3; sh++) {
        int cout = shapes[sh][0], cin = shapes[sh][1], k = shapes[sh][2];
        int tiles = (cout + KT_PACK_MR - 1) / KT_PACK_MR;
        size_t n = (size_t)cout * cin * k, psz = kt_conv_pack_size(cout, cin, 1);
        float *w = malloc(sizeof(float) * n), *u = malloc(sizeof(float) * kt_fft_pack_size(cout, cin));
        assert_true(w && u);
        for (size_t i = 0; i < n; i++)
            w[i] = conv_lcg(&seed);
        kt_fft_pack_tiles(w, cout, cin, k, 0, tiles, u);
        for (int o = 0; o < cout; o++)
            for (int ci = 0; ci < cin; ci++) {
                float ref[KT_FFT_PLANES];
                kt_fft_kernel(w + ((size_t)o * cin + ci) * k, k, ref);
                size_t at = ((size_t)(o / KT_PACK_MR) * cin + ci) * KT_PACK_MR + o % KT_PACK_MR;
                for (int p = 0; p < KT_FFT_PLANES; p++)
                    if (memcmp(&u[(size_t)p * psz + at], &ref[p], sizeof(float)))
                        fail_msg("shape %d row %d input %d plane %d: %.9g, one row %.9g", sh, o, ci, p,
                                 u[(size_t)p * psz + at], ref[p]);
            }
        free(w);
        free(u);
    }
}

/* y[cout, ldy] = prior + conv by FFT (accumulate) with weight u on ex; returns y. */
static float *run_fft(kt_exec *ex, const conv_data *z, const float *u, int L, size_t ldy, int accumulate)
{
    float *y = conv_ref_out(z, ldy, accumulate);
    float *scr = malloc(sizeof(float) * kt_fft_scratch(&z->c, L, kt_exec_threads(ex)));
    assert_non_null(scr);
    kt_fft_conv_padded_ld(ex, &z->c, u, z->xp, z->Ls, L, y, ldy, accumulate, scr);
    free(scr);
    return y;
}

static const conv_case cases[] = {
    {8, 8, 11, 1, 37},     {5, 13, 7, 3, 150},   {24, 16, 11, 5, 301},  {16, 24, 3, 5, 2},     {9, 8, 7, 1, 1},
    {16, 16, 11, 1, 3333}, {12, 10, 7, 5, 3100}, {32, 32, 17, 3, 2050}, {7, 9, 5, 2, 99},      {8, 8, 1, 1, 45},
    {16, 8, 12, 1, 77},    {8, 16, 4, 3, 4096},  {64, 64, 11, 5, 40},   {48, 40, 11, 3, 2500}, {128, 128, 11, 1, 700},
};

/* The bytes of every case on 1 thread with the AVX2 kernels (the AVX-512 ones must give the
 * same: the transforms do the same operations on every ISA, and the AVX-512 product kernel
 * gives the AVX2 one's bytes; the generic kernel sums in another order). */
typedef struct {
    float *y[sizeof cases / sizeof cases[0]][2];
    int have;
} isa_bytes;

static void conv_cases(int isa, isa_bytes *first)
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
        float *u = malloc(sizeof(float) * kt_fft_pack_size(cc->cout, cc->cin));
        assert_non_null(u);
        kt_fft_pack_tiles(z.w, cc->cout, cc->cin, cc->k, 0, (cc->cout + KT_PACK_MR - 1) / KT_PACK_MR, u);
        by[kt_fft_by_columns(&z.c, cc->L, 2)]++;
        for (int acc = 0; acc < 2; acc++) {
            size_t ldy = (size_t)cc->L + (acc ? 5 : 0), ny = (size_t)cc->cout * ldy;
            float *y[3];
            for (int t = 0; t < 3; t++)
                y[t] = run_fft(ex[t], &z, u, cc->L, ldy, acc);
            for (int t = 1; t < 3; t++)
                if (memcmp(y[0], y[t], sizeof(float) * ny))
                    fail_msg("isa %d case %zu: 1 and %d threads differ", isa, n, t + 1);
            if (first->have && memcmp(first->y[n][acc], y[0], sizeof(float) * ny))
                fail_msg("isa %d case %zu: bytes differ from the AVX2 kernels'", isa, n);
            double e = conv_ref_err(&z, y[0], cc->L, ldy, acc);
            if (!acc)
                printf("isa %d cin %d cout %d k %d dil %d L %d: max |error| / sum |products| fft %.2e, rms %.2e\n", isa,
                       cc->cin, cc->cout, cc->k, cc->dil, cc->L, e, conv_ref_rms(&z, y[0], cc->L, ldy));
            if (e > 1e-6) /* the direct kernel: up to 3.7e-7 on such cases, Winograd up to 1.2e-6 */
                fail_msg("isa %d case %zu (k %d dil %d L %d): error %.3g", isa, n, cc->k, cc->dil, cc->L, e);
            if (isa == KT_ISA_AVX2)
                first->y[n][acc] = y[0];
            else
                free(y[0]);
            for (int t = 1; t < 3; t++)
                free(y[t]);
        }
        free(u);
        conv_ref_free(&z);
    }
    first->have = isa == KT_ISA_AVX2;
    if (!by[0] || !by[1])
        fail_msg("the cases split %d convs by rows and %d by columns on 2 threads: both ways must be tested", by[0],
                 by[1]);
done:
    for (int i = 0; i < 3; i++)
        kt_exec_free(ex[i]);
}

/* Every ISA the CPU has; AVX-512 compared with AVX2's bytes. */
static void test_conv_isas(void **state)
{
    (void)state;
    isa_bytes first = {{{NULL}}, 0};
    for (int isa = KT_ISA_GENERIC; isa <= KT_ISA_AVX512; isa++)
        conv_cases(isa, &first);
    for (size_t n = 0; n < sizeof cases / sizeof cases[0]; n++)
        for (int acc = 0; acc < 2; acc++)
            free(first.y[n][acc]);
}

/* A call on fewer columns than its scratch was made for stays inside that scratch (a shorter
 * call's plan can have longer passes): kt_fft_scratch never shrinks as L grows, for kernel 11 at
 * the generator's channels and dilations on 1 to 3 threads; and a 128-channel conv (kernel 11,
 * dilation 1) on 529 columns on 2 threads, given the scratch of 705 columns and guard floats
 * after it, leaves the guard as it was. */
static void fft_run(kt_exec *ex, const conv_data *z, int L, float *y, float *scr)
{
    float *u = malloc(sizeof(float) * kt_fft_pack_size(z->c.cout, z->c.cin));
    assert_non_null(u);
    kt_fft_pack_tiles(z->w, z->c.cout, z->c.cin, z->c.k, 0, (z->c.cout + KT_PACK_MR - 1) / KT_PACK_MR, u);
    kt_fft_conv_padded_ld(ex, &z->c, u, z->xp, z->Ls, L, y, (size_t)L, 0, scr);
    free(u);
}

static void test_scratch_shorter(void **state)
{
    (void)state;
    static const int shapes[][3] = {{128, 11, 1}, {128, 11, 3}, {128, 11, 5}, {256, 11, 1}, {256, 11, 3}, {256, 11, 5}};
    conv_ref_check_scratch_grows(kt_fft_scratch, shapes, sizeof shapes / sizeof shapes[0], 6400);
    conv_case cc = {128, 128, 11, 1, 529};
    conv_ref_check_guarded(&cc, kt_fft_scratch, 705, fft_run, 1e-6);
}

/* ---- the generator stage on golden inputs ----------------------------------------------- */

/* Winograd alone on 1 thread, FFT on 1 thread, FFT on 2 threads. */
static void fft_params(int i, kt_model_params *p) { p->fft = i > 0; }

/* One golden case: the FFT convs in use with AVX-512 kernels, else not. */
static void generator_check(int isa, const golden_gen *c, float *const *a)
{
    int avx512 = isa == KT_ISA_AVX512;
    double fw = golden_rel_diff(a[1], a[0], c->n, NULL), fr = golden_rel_diff(a[1], c->ref, c->n, NULL);
    double wr = golden_rel_diff(a[0], c->ref, c->n, NULL);
    int same = !memcmp(a[0], a[1], sizeof(float) * c->n);
    printf("  %-12s %s generator (%d frames): fft - winograd rel %.3e; against the reference: winograd %.3e, "
           "fft %.3e\n",
           c->name, avx512 ? "avx512" : "avx2", c->F, fw, wr, fr);
    if (!(fr <= 1e-4) || !(fw <= 5e-5))
        fail_msg("%s: fft generator differs: %.3e from the reference, %.3e from winograd", c->name, fr, fw);
    if (avx512 && same)
        fail_msg("%s: the FFT convs did not run (the same bytes as Winograd alone)", c->name);
    if (!avx512 && !same)
        fail_msg("%s: without AVX-512 the FFT convs ran (bytes differ from Winograd alone)", c->name);
}

static const golden_gen_test GEN = {fft_params, generator_check};

static void test_generator_tiny(void **state)
{
    (void)state;
    golden_gen_run(0, KT_ISA_AVX2, KT_ISA_AVX512, &GEN);
}

static void test_generator_full(void **state)
{
    (void)state;
    golden_gen_run(1, KT_ISA_AVX2, KT_ISA_AVX512, &GEN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tile_transforms), cmocka_unit_test(test_pack_from_packed),
        cmocka_unit_test(test_pack_one_row),
        cmocka_unit_test(test_conv_isas),       cmocka_unit_test(test_scratch_shorter),
        cmocka_unit_test(test_generator_tiny),
        cmocka_unit_test(test_generator_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
