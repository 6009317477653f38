/* test_pack_bf16t.c - bfloat16 conv weights in the AMX tile form (KT_PACK_BF16T) against a naive
 * convolution in double precision (tests/util/conv_ref.h) on random shapes: partial row tiles,
 * channel counts that leave a pair block part empty, columns that end inside a tile, dilation,
 * bias and accumulation. Where the CPU has AMX-BF16, the tile kernel must agree with the
 * vdpbf16ps kernel on KT_PACK_BF16X2 (the same bf16 products, summed in another order) and give
 * the same bytes at 1, 2 and 3 threads; everywhere, an exec without AMX (KT_AMX=off, or the ISA
 * capped at avx2) runs the same weight on the float32 kernels from its decoded bf16 values. */
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
#include "util/conv_ref.h"
#include "util/exec_env.h"

static const conv_case cases[] = {
    {8, 8, 3, 1, 37},     {13, 22, 7, 3, 150}, {128, 24, 11, 5, 301}, {64, 16, 3, 1, 2},  {66, 40, 1, 1, 45},
    {32, 32, 3, 3, 1500}, {128, 128, 7, 1, 97}, {514, 48, 3, 1, 67},  {22, 128, 7, 1, 40}, {96, 33, 5, 2, 15},
};

/* y[cout, L] (fresh, as conv_ref_out makes it) of z's conv with weight pk on ex. */
static float *run(kt_exec *ex, const conv_data *z, const kt_packed *pk, int L, int accumulate)
{
    float *y = conv_ref_out(z, (size_t)L, accumulate);
    size_t nf = kt_conv_input_form_floats(pk->dtype, z->c.cin, z->Ls);
    float *scr = malloc(sizeof(float) * (nf ? nf : 1));
    assert_true(y && scr);
    int lin = L + z->c.dil * (z->c.k - 1) - 2 * z->c.pad; /* the input length of L outputs */
    kt_conv1d_padded_ld(ex, &z->c, pk, z->xp, z->Ls, lin, y, (size_t)L, accumulate, scr);
    free(scr);
    return y;
}

static void test_conv(void **state)
{
    (void)state;
    kt_exec *amx[3], *vdp = exec_env_create(1, NULL, 1), *f32 = exec_env_create(2, "avx2", 0);
    for (int t = 0; t < 3; t++)
        amx[t] = exec_env_create(t + 1, NULL, 0);
    int tiles = kt_exec_has_amx_bf16(amx[0]), x2 = kt_exec_has_bf16(vdp);
    if (!tiles)
        printf("no AMX-BF16 here: only the float32 path of the tile form runs\n");
    for (size_t n = 0; n < sizeof cases / sizeof cases[0]; n++) {
        const conv_case *cc = &cases[n];
        conv_data z;
        conv_ref_make(cc, 29u + (uint32_t)n, &z);
        uint32_t *wt = malloc(sizeof(uint32_t) * kt_conv_pack_bf16t_size(cc->cout, cc->cin, cc->k));
        uint32_t *wx = malloc(sizeof(uint32_t) * kt_conv_pack_bf16x2_size(cc->cout, cc->cin, cc->k));
        assert_true(wt && wx);
        int nt = (cc->cout + KT_I8Q_ROWS - 1) / KT_I8Q_ROWS; /* packed in two calls, as threads do */
        kt_conv_pack_bf16t(z.w, cc->cout, cc->cin, cc->k, 0, nt / 2, wt);
        kt_conv_pack_bf16t(z.w, cc->cout, cc->cin, cc->k, nt / 2, nt, wt);
        kt_conv_pack_bf16x2(z.w, cc->cout, cc->cin, cc->k, wx);
        kt_packed pt = {KT_PACK_BF16T, wt, NULL, 0, NULL}, px = {KT_PACK_BF16X2, wx, NULL, 0, NULL};
        size_t ny = (size_t)cc->cout * cc->L;
        for (int acc = 0; acc <= 1; acc++) {
            /* float32 kernels (AVX2, and AVX-512 without AMX) on the decoded weight: bf16 weights
             * (each off by at most 2^-9 of itself), float32 input */
            float *yf = run(f32, &z, &pt, cc->L, acc), *yv = run(vdp, &z, &pt, cc->L, acc);
            double ef = conv_ref_err(&z, yf, cc->L, (size_t)cc->L, acc);
            double ev = conv_ref_err(&z, yv, cc->L, (size_t)cc->L, acc);
            printf("cin %d cout %d k %d dil %d L %d acc %d: error / sum |products|: float32 on the decoded weight "
                   "%.2e (avx2) %.2e (avx512)",
                   cc->cin, cc->cout, cc->k, cc->dil, cc->L, acc, ef, ev);
            if (ef > 2e-3 || ev > 2e-3)
                fail_msg("case %zu: the decoded tile form is off by %.3g / %.3g", n, ef, ev);
            free(yv);
            if (tiles) {
                float *y1 = run(amx[0], &z, &pt, cc->L, acc);
                double et = conv_ref_err(&z, y1, cc->L, (size_t)cc->L, acc);
                printf(", AMX %.2e", et);
                if (et > 4e-3) /* weights and input rounded to bf16: each product within ~2^-8 */
                    fail_msg("case %zu: the tile kernel is off by %.3g", n, et);
                for (int t = 1; t < 3; t++) {
                    float *yt = run(amx[t], &z, &pt, cc->L, acc);
                    if (memcmp(y1, yt, sizeof(float) * ny))
                        fail_msg("case %zu: 1 and %d threads differ", n, t + 1);
                    free(yt);
                }
                if (x2) { /* the same products in another order: float32 rounding apart */
                    float *yx = run(vdp, &z, &px, cc->L, acc);
                    double d = 0.0;
                    for (int o = 0; o < cc->cout; o++)
                        for (int i = 0; i < cc->L; i++) {
                            size_t e = (size_t)o * cc->L + (size_t)i;
                            double r = fabs((double)y1[e] - yx[e]) / (z.mag[e] > 0 ? z.mag[e] : 1.0);
                            d = r > d ? r : d;
                        }
                    printf(", AMX against vdpbf16ps %.2e", d);
                    if (d > 1e-5)
                        fail_msg("case %zu: the tile kernel and vdpbf16ps differ by %.3g", n, d);
                    free(yx);
                }
                free(y1);
            }
            printf("\n");
            free(yf);
        }
        free(wt), free(wx);
        conv_ref_free(&z);
    }
    for (int t = 0; t < 3; t++)
        kt_exec_free(amx[t]);
    kt_exec_free(vdp), kt_exec_free(f32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
