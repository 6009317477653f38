/* test_adain.c - kt_adain_stats (kt/kernels.h): each row's mean and 1 / sqrt(var + eps).
 *
 * Rows of lengths around the 16 summing lanes (1, 15, 16, 17, 33), long ones with a large
 * mean against a small spread (where an unshifted one-pass variance would lose its digits),
 * and rows whose first values (the shift's) sit far from the rest: the values must match a
 * double-precision two-pass computation to float rounding, and the bytes must be the same with
 * the portable, AVX2 and AVX-512 loops and at 1 and 3 threads. kt_stat_sums over blocks (the
 * generator's low-memory schedule) must give the bytes of one call on the whole row. */
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

static float next_value(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / 16777216.0f - 0.5f;
}

/* Double-precision mean and 1 / sqrt(var + eps) of one row. */
static void ref_stats(const float *x, int n, float eps, double *mean, double *inv)
{
    double s = 0.0, q = 0.0;
    for (int i = 0; i < n; i++)
        s += x[i];
    double m = s / n;
    for (int i = 0; i < n; i++)
        q += (x[i] - m) * (x[i] - m);
    *mean = m;
    *inv = 1.0 / sqrt(q / n + (double)eps);
}

/* step: the first KT_STAT_SHIFT_N values of each row offset by step (the shift far from the
 * row's mean). */
static void check_case_step(int C, int L, float offset, float scale, float step)
{
    uint32_t seed = 7u + (uint32_t)(C * 31 + L);
    float *x = malloc(sizeof(float) * (size_t)C * L), *mi = malloc(sizeof(float) * 2 * C);
    float *first = malloc(sizeof(float) * 2 * C);
    assert_true(x && mi && first);
    for (size_t i = 0; i < (size_t)C * L; i++)
        x[i] = offset * (float)(1 + i / (size_t)L) + scale * next_value(&seed) +
               (i % (size_t)L < KT_STAT_SHIFT_N ? step : 0.0f);
    const float eps = 1e-5f;
    const int isas[3] = {KT_ISA_GENERIC, KT_ISA_AVX2, KT_ISA_AVX512}, threads[2] = {1, 3};
    int have_first = 0;
    for (int k = 0; k < 3; k++)
        for (int t = 0; t < 2; t++) {
            kt_exec *ex = NULL;
            kt_error err;
            assert_int_equal(kt_exec_create_isa(threads[t], isas[k], &ex, &err), KT_OK);
            if (kt_exec_isa(ex) != isas[k]) { /* the CPU lacks it */
                kt_exec_free(ex);
                continue;
            }
            kt_adain_stats(ex, x, C, L, eps, mi);
            kt_exec_free(ex);
            for (int c = 0; c < C; c++) {
                double m, inv;
                ref_stats(x + (size_t)c * L, L, eps, &m, &inv);
                if (fabs(mi[2 * c] - m) > 1e-6 * (fabs(m) + scale) || fabs(mi[2 * c + 1] - inv) > 1e-6 * inv)
                    fail_msg("C %d L %d isa %d row %d: mean %.9g 1/std %.9g, double %.9g %.9g", C, L, isas[k], c,
                             (double)mi[2 * c], (double)mi[2 * c + 1], m, inv);
            }
            if (have_first && memcmp(first, mi, sizeof(float) * 2 * C))
                fail_msg("C %d L %d: isa %d at %d threads gives other bytes than the first run", C, L, isas[k],
                         threads[t]);
            if (!have_first)
                memcpy(first, mi, sizeof(float) * 2 * C);
            have_first = 1;
        }
    free(x);
    free(mi);
    free(first);
}

static void check_case(int C, int L, float offset, float scale) { check_case_step(C, L, offset, scale, 0.0f); }

static void test_adain_stats(void **state)
{
    (void)state;
    static const int lengths[] = {1, 15, 16, 17, 33, 1000, 8041};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        check_case(5, lengths[i], 0.0f, 1.0f);
        check_case(3, lengths[i], 100.0f, 0.01f); /* large mean, small spread */
        check_case_step(2, lengths[i], 0.0f, 0.01f, 50.0f); /* the shift 5,000 spreads from the rest */
    }
    check_case_step(2, 100000, 0.0f, 0.01f, -300.0f);
}

/* One row's sums in blocks of 3,072 (the last shorter) equal those of one call, on every ISA. */
static void test_stat_blocks(void **state)
{
    (void)state;
    const int L = 3 * 3072 + 1001;
    uint32_t seed = 99u;
    float *x = malloc(sizeof(float) * L);
    assert_non_null(x);
    for (int i = 0; i < L; i++)
        x[i] = 3.0f + next_value(&seed);
    const int isas[3] = {KT_ISA_GENERIC, KT_ISA_AVX2, KT_ISA_AVX512};
    float first[2] = {0, 0};
    for (int k = 0; k < 3; k++) {
        kt_exec *ex = NULL;
        kt_error err;
        assert_int_equal(kt_exec_create_isa(1, isas[k], &ex, &err), KT_OK);
        int have = kt_exec_isa(ex) == isas[k];
        kt_exec_free(ex);
        if (!have) /* the CPU lacks it */
            continue;
        double a1[KT_STAT_LANES] = {0}, a2[KT_STAT_LANES] = {0}, b1[KT_STAT_LANES] = {0}, b2[KT_STAT_LANES] = {0};
        float shift = kt_stat_shift(x, L), ma, ia, mb, ib;
        kt_stat_sums(x, L, shift, isas[k], a1, a2);
        for (int t0 = 0; t0 < L; t0 += 3072)
            kt_stat_sums(x + t0, L - t0 < 3072 ? L - t0 : 3072, shift, isas[k], b1, b2);
        kt_stat_finish(a1, a2, L, shift, 1e-5f, &ma, &ia);
        kt_stat_finish(b1, b2, L, shift, 1e-5f, &mb, &ib);
        assert_memory_equal(a1, b1, sizeof a1);
        assert_memory_equal(a2, b2, sizeof a2);
        assert_true(ma == mb && ia == ib);
        if (k && (first[0] != ma || first[1] != ia))
            fail_msg("isa %d: mean %.9g 1/std %.9g, the portable loop %.9g %.9g", isas[k], (double)ma, (double)ia,
                     (double)first[0], (double)first[1]);
        first[0] = ma;
        first[1] = ia;
    }
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adain_stats),
        cmocka_unit_test(test_stat_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
