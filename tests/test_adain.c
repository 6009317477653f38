/* test_adain.c - kt_adain_stats (kt/kernels.h): each row's mean and 1 / sqrt(var + eps).
 *
 * Rows of lengths around the 16 summing lanes (1, 15, 16, 17, 33), and long ones with a large
 * mean against a small spread (where a one-pass variance would lose its digits): the values
 * must match a double-precision two-pass computation to float rounding, and the bytes must be
 * the same with the portable, AVX2 and AVX-512 loops and at 1 and 3 threads. */
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

static void check_case(int C, int L, float offset, float scale)
{
    uint32_t seed = 7u + (uint32_t)(C * 31 + L);
    float *x = malloc(sizeof(float) * (size_t)C * L), *mi = malloc(sizeof(float) * 2 * C);
    float *first = malloc(sizeof(float) * 2 * C);
    assert_true(x && mi && first);
    for (size_t i = 0; i < (size_t)C * L; i++)
        x[i] = offset * (float)(1 + i / (size_t)L) + scale * next_value(&seed);
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

static void test_adain_stats(void **state)
{
    (void)state;
    static const int lengths[] = {1, 15, 16, 17, 33, 1000, 8041};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        check_case(5, lengths[i], 0.0f, 1.0f);
        check_case(3, lengths[i], 100.0f, 0.01f); /* large mean, small spread */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adain_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
