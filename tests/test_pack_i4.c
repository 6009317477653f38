/* test_pack_i4.c - q4 conv weights packed as nibbles (KT_PACK_I4) must give the same
 * bytes as the same codes widened to int8 (KT_PACK_I8), on the detected ISA and on the
 * generic kernels, and both must match a plain double-precision convolution. */
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
#include "kt/ops.h"

static uint32_t next(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* One conv [cout, cin, k] (pad 1) with random q4 codes and scales of `group`, on the
 * ISA named by isa (NULL: detected): I4 and I8 outputs byte-equal, close to the reference. */
static void check(int cout, int cin, int k, int group, int L, const char *isa)
{
    size_t K = (size_t)cin * k, row_bytes = (K + 1) / 2, ng = (K + (size_t)group - 1) / (size_t)group;
    uint32_t seed = (uint32_t)(cout * 131 + cin * 17 + k + group);
    uint8_t *codes = calloc((size_t)cout * row_bytes, 1);
    int8_t *q = malloc((size_t)cout * K);
    float *s = malloc(sizeof(float) * (size_t)cout * ng), *bias = malloc(sizeof(float) * (size_t)cout);
    float *x = malloc(sizeof(float) * (size_t)cin * L);
    assert_true(codes && q && s && bias && x);
    for (int o = 0; o < cout; o++) {
        for (size_t i = 0; i < K; i++) {
            int v = (int)(next(&seed) % 16) - 8;
            q[(size_t)o * K + i] = (int8_t)v;
            codes[(size_t)o * row_bytes + i / 2] |= (uint8_t)(((unsigned)v & 0xFu) << (i % 2 * 4));
        }
        for (size_t g = 0; g < ng; g++)
            s[(size_t)o * ng + g] = 0.001f + (float)(next(&seed) % 1000) * 1e-4f;
        bias[o] = (float)(next(&seed) % 200) * 0.01f - 1.0f;
    }
    for (size_t i = 0; i < (size_t)cin * L; i++)
        x[i] = (float)(next(&seed) % 2000) * 0.001f - 1.0f;

    size_t nsc = kt_conv_pack_scales(cout, cin, k, group);
    int8_t *w8 = malloc(kt_conv_pack_size(cout, cin, k));
    uint8_t *w4 = malloc(kt_conv_pack_i4_size(cout, cin, k));
    float *s8 = malloc(sizeof(float) * nsc), *s4 = malloc(sizeof(float) * nsc);
    assert_true(w8 && w4 && s8 && s4);
    kt_conv_pack_i8(q, s, group, cout, cin, k, w8, s8);
    kt_conv_pack_i4(codes, row_bytes, s, group, cout, cin, k, w4, s4);
    assert_int_equal(memcmp(s8, s4, sizeof(float) * nsc), 0);

    kt_conv1d c = {NULL, bias, cin, cout, k, 1, 1, 1};
    kt_packed p8 = {KT_PACK_I8, w8, s8, group, NULL}, p4 = {KT_PACK_I4, w4, s4, group, NULL};
    int lo = kt_conv1d_out_len(&c, L);
    size_t cap = kt_conv1d_packed_scratch(&c, L) + 64;
    float *buf = malloc(sizeof(float) * cap), *y8 = malloc(sizeof(float) * (size_t)cout * lo);
    float *y4 = malloc(sizeof(float) * (size_t)cout * lo);
    assert_true(buf && y8 && y4);
    kt_exec *ex = NULL;
    kt_error err;
    if (isa)
        setenv("KT_ISA", isa, 1);
    assert_int_equal(kt_exec_create(2, &ex, &err), KT_OK);
    unsetenv("KT_ISA");
    kt_arena a;
    kt_arena_init(&a, buf, cap);
    a.ex = ex;
    assert_int_equal(kt_conv1d_packed_forward(&c, &p8, x, L, y8, 0, &a, &err), KT_OK);
    assert_int_equal(kt_conv1d_packed_forward(&c, &p4, x, L, y4, 0, &a, &err), KT_OK);
    assert_int_equal(memcmp(y8, y4, sizeof(float) * (size_t)cout * lo), 0);

    double worst = 0.0;
    for (int o = 0; o < cout; o++)
        for (int t = 0; t < lo; t++) {
            double acc = bias[o];
            for (int ci = 0; ci < cin; ci++)
                for (int j = 0; j < k; j++) {
                    int xi = t + j - 1;
                    size_t kk = (size_t)ci * k + j;
                    if (xi >= 0 && xi < L)
                        acc += (double)q[o * K + kk] * s[o * ng + kk / group] * x[(size_t)ci * L + xi];
                }
            double d = fabs(acc - y4[(size_t)o * lo + t]);
            worst = d > worst ? d : worst;
        }
    print_message("cout %d cin %d k %d group %d isa %s: max |I4 - reference| %.2e\n", cout, cin, k, group,
                  isa ? isa : "detected", worst);
    assert_true(worst < 1e-4);
    kt_exec_free(ex);
    free(codes), free(q), free(s), free(bias), free(x), free(w8), free(w4), free(s8), free(s4);
    free(buf), free(y8), free(y4);
}

static void test_i4_matches_i8_detected(void **state)
{
    (void)state;
    check(13, 7, 3, 32, 50, NULL);  /* odd K: rows of the file padded to a byte */
    check(24, 40, 3, 32, 700, NULL); /* several row tiles, 768-column super-tile */
    check(16, 33, 7, 8, 97, NULL);
}

static void test_i4_matches_i8_generic(void **state)
{
    (void)state;
    check(13, 7, 3, 32, 50, "generic");
    check(16, 33, 7, 8, 97, "generic");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_i4_matches_i8_detected),
        cmocka_unit_test(test_i4_matches_i8_generic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
