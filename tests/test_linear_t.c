/* test_linear_t.c - kt_linear_t_forward (kt/kernels.h): a linear layer on the direct
 * convolution kernel, x as the conv weight and w transposed in panels of 48 columns; and
 * kt_matvec, the one-row form; and kt_linear_t_forward_many, several linears of one input
 * in one dispatch with their biases.
 *
 * Each case compares the result with a double-precision product, and checks that the bytes
 * are the same at 1, 2 and 3 threads and with the AVX-512 and AVX2 kernels, and that nothing
 * is written outside y[n, out]. The shapes cover one row, rows not a multiple of the kernel's
 * 8, out not a multiple of 48 (a last panel of 1..47 columns: each narrow kernel) and in
 * not a multiple of anything. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kt/kernels.h"

#define GUARD 64
#define GUARD_VALUE 1234.5f

typedef struct {
    int n, in, out;
} shape;

static float next_value(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

/* y[n, out] with GUARD floats of GUARD_VALUE before and after; returns the start of y. */
static float *guarded(float *buf, size_t ny)
{
    for (size_t i = 0; i < ny + 2 * GUARD; i++)
        buf[i] = GUARD_VALUE;
    return buf + GUARD;
}

static void check_guard(const float *buf, size_t ny, const char *what)
{
    for (size_t i = 0; i < GUARD; i++)
        if (buf[i] != GUARD_VALUE || buf[GUARD + ny + i] != GUARD_VALUE)
            fail_msg("%s: a float outside y was written", what);
}

/* y with ex: checked against the double product, guard intact; the bytes go to out. */
static void run_case(kt_exec *ex, const shape *sh, const float *x, const float *wt, const double *ref,
                     const double *mag, float *out, const char *what)
{
    size_t ny = (size_t)sh->n * sh->out;
    float *buf = malloc(sizeof(float) * (ny + 2 * GUARD));
    float *scratch = malloc(sizeof(float) * kt_linear_t_scratch(sh->n, sh->in));
    assert_true(buf && scratch);
    float *y = guarded(buf, ny);
    kt_linear_t_forward(ex, wt, sh->out, sh->in, x, sh->n, y, scratch);
    check_guard(buf, ny, what);
    for (size_t e = 0; e < ny; e++)
        if (fabs((double)y[e] - ref[e]) > 1e-6 * mag[e] + 1e-30)
            fail_msg("%s n %d in %d out %d: y[%zu] = %.9g, double product %.9g", what, sh->n, sh->in, sh->out, e,
                     (double)y[e], ref[e]);
    memcpy(out, y, sizeof(float) * ny);
    free(buf);
    free(scratch);
}

static void test_linear_t(void **state)
{
    (void)state;
    /* out past a multiple of 48 by 1-8, 9-16, 17-24, 25-32 and more columns: each width of the
     * AVX-512 kernels' partial tiles; in 600 (two input blocks) adds to a partial tile */
    static const shape shapes[] = {{1, 5, 7},    {3, 33, 48},    {13, 64, 100}, {8, 17, 49},  {9, 768, 96},
                                   {20, 130, 200}, {97, 40, 95}, {2, 1, 1},     {11, 70, 60}, {6, 600, 70},
                                   {17, 90, 77}, {4, 600, 125},  {3, 9, 22}};
    const int isas[2] = {KT_ISA_AVX512, KT_ISA_AVX2};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const shape *sh = &shapes[s];
        size_t nx = (size_t)sh->n * sh->in, nw = (size_t)sh->out * sh->in, ny = (size_t)sh->n * sh->out;
        float *x = malloc(sizeof(float) * nx), *w = malloc(sizeof(float) * nw);
        float *wt = malloc(sizeof(float) * kt_linear_t_size(sh->out, sh->in));
        double *ref = calloc(ny, sizeof(double)), *mag = calloc(ny, sizeof(double));
        float *first = malloc(sizeof(float) * ny), *got = malloc(sizeof(float) * ny);
        assert_true(x && w && wt && ref && mag && first && got);
        uint32_t seed = 17u + (uint32_t)s;
        for (size_t i = 0; i < nx; i++)
            x[i] = next_value(&seed);
        for (size_t i = 0; i < nw; i++)
            w[i] = next_value(&seed);
        kt_exec *packer = NULL;
        kt_error perr;
        assert_int_equal(kt_exec_create(3, &packer, &perr), KT_OK);
        kt_linear_t_pack(packer, w, sh->out, sh->in, wt); /* the panels on 3 threads, as the load does */
        kt_exec_free(packer);
        for (int t = 0; t < sh->n; t++)
            for (int o = 0; o < sh->out; o++)
                for (int i = 0; i < sh->in; i++) {
                    double p = (double)x[(size_t)t * sh->in + i] * w[(size_t)o * sh->in + i];
                    ref[(size_t)t * sh->out + o] += p;
                    mag[(size_t)t * sh->out + o] += fabs(p);
                }
        int have_first = 0;
        for (int k = 0; k < 2; k++)
            for (int threads = 1; threads <= 3; threads++) {
                kt_exec *ex = NULL;
                kt_error err;
                assert_int_equal(kt_exec_create_isa(threads, isas[k], &ex, &err), KT_OK);
                if (kt_exec_isa(ex) != isas[k]) { /* the CPU lacks it */
                    kt_exec_free(ex);
                    continue;
                }
                char what[64];
                snprintf(what, sizeof what, "%s, %d threads", isas[k] == KT_ISA_AVX512 ? "AVX-512" : "AVX2", threads);
                run_case(ex, sh, x, wt, ref, mag, have_first ? got : first, what);
                if (have_first && memcmp(first, got, sizeof(float) * ny))
                    fail_msg("n %d in %d out %d: %s gives other bytes than the first run", sh->n, sh->in, sh->out,
                             what);
                have_first = 1;
                kt_exec_free(ex);
            }
        kt_exec *gen = NULL;
        kt_error err;
        assert_int_equal(kt_exec_create_isa(2, KT_ISA_GENERIC, &gen, &err), KT_OK);
        run_case(gen, sh, x, wt, ref, mag, got, "portable kernel"); /* its own sums: checked, not compared */
        kt_exec_free(gen);
        free(x), free(w), free(wt), free(ref), free(mag), free(first), free(got);
    }
}

/* kt_matvec: against a double product, and the same bytes on the portable, AVX2 and AVX-512
 * loops; columns around the 16 lanes (1, 15, 16, 17) and the model's 128 and 640. */
static void test_matvec(void **state)
{
    (void)state;
    static const int shapes[][2] = {{1, 1}, {3, 15}, {5, 16}, {7, 17}, {40, 128}, {9, 640}, {2, 33}};
    const int isas[3] = {KT_ISA_GENERIC, KT_ISA_AVX2, KT_ISA_AVX512};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int rows = shapes[s][0], cols = shapes[s][1];
        float *w = malloc(sizeof(float) * (size_t)rows * cols), *x = malloc(sizeof(float) * (size_t)cols);
        float *y = malloc(sizeof(float) * (size_t)(rows + 1)), *first = malloc(sizeof(float) * (size_t)rows);
        assert_true(w && x && y && first);
        uint32_t seed = 5u + (uint32_t)s;
        for (int i = 0; i < rows * cols; i++)
            w[i] = next_value(&seed);
        for (int i = 0; i < cols; i++)
            x[i] = next_value(&seed);
        int have_first = 0;
        for (int k = 0; k < 3; k++) {
            kt_exec *ex = NULL;
            kt_error err;
            assert_int_equal(kt_exec_create_isa(1, isas[k], &ex, &err), KT_OK);
            int isa = kt_exec_isa(ex);
            kt_exec_free(ex);
            if (isa != isas[k]) /* the CPU lacks it */
                continue;
            y[rows] = GUARD_VALUE;
            kt_matvec(isa, w, x, rows, cols, y);
            assert_true(y[rows] == GUARD_VALUE);
            for (int r = 0; r < rows; r++) {
                double ref = 0.0, mag = 0.0;
                for (int c = 0; c < cols; c++) {
                    ref += (double)w[(size_t)r * cols + c] * x[c];
                    mag += fabs((double)w[(size_t)r * cols + c] * x[c]);
                }
                if (fabs(y[r] - ref) > 1e-6 * mag + 1e-30)
                    fail_msg("matvec %d x %d isa %d: y[%d] = %.9g, double %.9g", rows, cols, isa, r, (double)y[r],
                             ref);
            }
            if (have_first && memcmp(first, y, sizeof(float) * (size_t)rows))
                fail_msg("matvec %d x %d: isa %d gives other bytes than the portable loop", rows, cols, isa);
            memcpy(first, y, sizeof(float) * (size_t)rows);
            have_first = 1;
        }
        free(w), free(x), free(y), free(first);
    }
}

/* The panels: panel p row i holds w[48 p + c, i] for c < 48, zeros past out. */
static void test_linear_t_panels(void **state)
{
    (void)state;
    enum { OUT = 50, IN = 3 };
    float w[OUT * IN];
    for (int i = 0; i < OUT * IN; i++)
        w[i] = (float)(i + 1);
    size_t n = kt_linear_t_size(OUT, IN);
    assert_int_equal(n, 2 * 48 * IN);
    float *wt = malloc(sizeof(float) * n);
    assert_non_null(wt);
    kt_linear_t_panels(w, OUT, IN, 0, 1, wt); /* in two calls: the second panel from its own start */
    kt_linear_t_panels(w, OUT, IN, 1, 2, wt);
    for (int p = 0; p < 2; p++)
        for (int i = 0; i < IN; i++)
            for (int c = 0; c < 48; c++) {
                int o = 48 * p + c;
                float want = o < OUT ? w[o * IN + i] : 0.0f;
                assert_true(wt[((size_t)p * IN + i) * 48 + c] == want);
            }
    free(wt);
}

/* kt_linear_t_forward_many: three linears of one input (out 50, 96 and 7, so panels of every
 * item end partial or whole, one item with no bias) in one dispatch give, at 1, 2 and 3 threads,
 * the bytes of kt_linear_t_forward on one thread on each and then y += b element by element, and
 * write nothing past each y. N x IN from 32 Ki floats has its row tiles packed by all threads. */
static void many_case(int N, int IN)
{
    enum { ITEMS = 3 };
    const int outs[ITEMS] = {50, 96, 7};
    uint32_t seed = 99u;
    float *x = malloc(sizeof(float) * N * IN), *scratch = malloc(sizeof(float) * kt_linear_t_scratch(N, IN));
    float *wt[ITEMS], *b[ITEMS], *want[ITEMS], *got[ITEMS];
    kt_exec *ex1 = NULL;
    kt_error err1;
    assert_true(x && scratch);
    assert_int_equal(kt_exec_create(1, &ex1, &err1), KT_OK);
    for (int i = 0; i < N * IN; i++)
        x[i] = next_value(&seed);
    for (int k = 0; k < ITEMS; k++) {
        float *w = malloc(sizeof(float) * (size_t)outs[k] * IN);
        wt[k] = malloc(sizeof(float) * kt_linear_t_size(outs[k], IN));
        b[k] = k == 1 ? NULL : malloc(sizeof(float) * (size_t)outs[k]);
        want[k] = malloc(sizeof(float) * (size_t)N * outs[k]);
        got[k] = malloc(sizeof(float) * ((size_t)N * outs[k] + GUARD));
        assert_true(w && wt[k] && want[k] && got[k] && (k == 1 || b[k]));
        for (int i = 0; i < outs[k] * IN; i++)
            w[i] = next_value(&seed);
        for (int o = 0; b[k] && o < outs[k]; o++)
            b[k][o] = next_value(&seed);
        kt_linear_t_panels(w, outs[k], IN, 0, (outs[k] + 47) / 48, wt[k]);
        free(w);
        kt_linear_t_forward(ex1, wt[k], outs[k], IN, x, N, want[k], scratch);
        for (int t = 0; b[k] && t < N; t++)
            for (int o = 0; o < outs[k]; o++)
                want[k][(size_t)t * outs[k] + o] += b[k][o];
    }
    for (int threads = 1; threads <= 3; threads++) {
        kt_exec *ex = NULL;
        kt_error err;
        assert_int_equal(kt_exec_create(threads, &ex, &err), KT_OK);
        kt_linear_t_item it[ITEMS];
        for (int k = 0; k < ITEMS; k++) {
            for (int g = 0; g < GUARD; g++)
                got[k][(size_t)N * outs[k] + g] = GUARD_VALUE;
            it[k] = (kt_linear_t_item){wt[k], b[k], outs[k], got[k]};
        }
        for (size_t i = 0; i < kt_linear_t_scratch(N, IN); i++) /* no packing left from the calls before */
            scratch[i] = GUARD_VALUE;
        kt_linear_t_forward_many(ex, it, ITEMS, IN, x, N, scratch);
        for (int k = 0; k < ITEMS; k++) {
            if (memcmp(got[k], want[k], sizeof(float) * (size_t)N * outs[k]))
                fail_msg("item %d (out %d) at %d threads: not the bytes of the single call plus the bias", k, outs[k],
                         threads);
            for (int g = 0; g < GUARD; g++)
                assert_true(got[k][(size_t)N * outs[k] + g] == GUARD_VALUE);
        }
        kt_exec_free(ex);
    }
    for (int k = 0; k < ITEMS; k++)
        free(wt[k]), free(b[k]), free(want[k]), free(got[k]);
    kt_exec_free(ex1);
    free(x), free(scratch);
}

static void test_linear_t_many(void **state)
{
    (void)state;
    many_case(13, 70);  /* one thread packs */
    many_case(61, 600); /* 8 row tiles (the last of 5 rows) packed by all threads */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_t_panels),
        cmocka_unit_test(test_matvec),
        cmocka_unit_test(test_linear_t),
        cmocka_unit_test(test_linear_t_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
