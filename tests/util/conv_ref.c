/* conv_ref.c - see conv_ref.h. */
#include "conv_ref.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>

#include <cmocka.h>

#include "kt/kernels.h"

float conv_lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / 16777216.0f - 0.5f;
}

void conv_ref_make(const conv_case *cc, uint32_t seed, conv_data *z)
{
    int pad = cc->dil * (cc->k - 1) / 2;
    z->c = (kt_conv1d){NULL, NULL, cc->cin, cc->cout, cc->k, 1, pad, cc->dil};
    z->Ls = kt_conv_pad_len(&z->c, cc->L + 16);
    size_t nw = (size_t)cc->cout * cc->cin * cc->k;
    z->w = malloc(sizeof(float) * nw);
    z->b = malloc(sizeof(float) * (size_t)cc->cout);
    z->xp = calloc((size_t)cc->cin * z->Ls, sizeof(float));
    z->wp = malloc(sizeof(float) * kt_conv_pack_size(cc->cout, cc->cin, cc->k));
    z->ref = malloc(sizeof(double) * (size_t)cc->cout * cc->L);
    z->mag = malloc(sizeof(double) * (size_t)cc->cout * cc->L);
    assert_true(z->w && z->b && z->xp && z->wp && z->ref && z->mag);
    uint32_t s = seed;
    for (size_t i = 0; i < nw; i++)
        z->w[i] = conv_lcg(&s) / sqrtf((float)(cc->cin * cc->k));
    for (int o = 0; o < cc->cout; o++)
        z->b[o] = conv_lcg(&s);
    for (int ci = 0; ci < cc->cin; ci++)
        for (int t = 0; t < cc->L; t++)
            z->xp[(size_t)ci * z->Ls + pad + t] = 3.0f * conv_lcg(&s);
    z->c.w = z->w;
    z->c.b = z->b;
    kt_conv_pack(z->w, cc->cout, cc->cin, cc->k, z->wp);
    for (int o = 0; o < cc->cout; o++)
        for (int t = 0; t < cc->L; t++) {
            double acc = z->b[o], mag = fabs(z->b[o]);
            for (int ci = 0; ci < cc->cin; ci++)
                for (int j = 0; j < cc->k; j++) {
                    double p = (double)z->w[((size_t)o * cc->cin + ci) * cc->k + j] *
                               z->xp[(size_t)ci * z->Ls + t + (size_t)j * cc->dil];
                    acc += p;
                    mag += fabs(p);
                }
            z->ref[(size_t)o * cc->L + t] = acc;
            z->mag[(size_t)o * cc->L + t] = mag;
        }
}

void conv_ref_free(conv_data *z)
{
    free(z->w);
    free(z->b);
    free(z->xp);
    free(z->wp);
    free(z->ref);
    free(z->mag);
}

double conv_ref_err(const conv_data *z, const float *y, int L, size_t ldy, int accumulate)
{
    double worst = 0.0;
    for (int o = 0; o < z->c.cout; o++) {
        for (int t = 0; t < L; t++) {
            size_t i = (size_t)o * ldy + t;
            double prior = accumulate ? 0.25 * (double)(i % 7) : 0.0;
            double e = fabs(y[i] - (z->ref[(size_t)o * L + t] + prior)) / (z->mag[(size_t)o * L + t] + 1e-30);
            worst = e > worst || isnan(e) ? (isnan(e) ? INFINITY : e) : worst;
        }
        for (size_t t = (size_t)L; t < ldy; t++)
            if (accumulate ? y[(size_t)o * ldy + t] != 0.25f * (float)(((size_t)o * ldy + t) % 7)
                           : !isnan(y[(size_t)o * ldy + t]))
                fail_msg("column %zu past L = %d written", t, L);
    }
    return worst;
}

double conv_ref_rms(const conv_data *z, const float *y, int L, size_t ldy)
{
    double s = 0.0;
    for (int o = 0; o < z->c.cout; o++)
        for (int t = 0; t < L; t++) {
            double e = (y[(size_t)o * ldy + t] - z->ref[(size_t)o * L + t]) / (z->mag[(size_t)o * L + t] + 1e-30);
            s += e * e;
        }
    return sqrt(s / ((double)z->c.cout * L));
}

void conv_ref_check_pack(const int (*shapes)[3], size_t n, size_t (*size)(int, int, int), conv_pack_fn from_w,
                         conv_pack_fn from_packed)
{
    for (size_t i = 0; i < n; i++) {
        int cout = shapes[i][0], cin = shapes[i][1], k = shapes[i][2], tiles = (cout + KT_PACK_MR - 1) / KT_PACK_MR;
        size_t nw = (size_t)cout * cin * k, nu = size(cout, cin, k);
        float *w = malloc(sizeof(float) * nw), *wp = malloc(sizeof(float) * kt_conv_pack_size(cout, cin, k));
        float *u0 = malloc(sizeof(float) * nu), *u1 = malloc(sizeof(float) * nu);
        assert_true(w && wp && u0 && u1);
        uint32_t s = 3u + (uint32_t)i;
        for (size_t j = 0; j < nw; j++)
            w[j] = conv_lcg(&s);
        kt_conv_pack(w, cout, cin, k, wp);
        from_w(w, cout, cin, k, 0, tiles, u0);
        from_w(w, cout, cin, k, 0, 1, u1); /* tile by tile gives the same */
        from_packed(wp, cout, cin, k, 1, tiles, u1);
        assert_memory_equal(u0, u1, sizeof(float) * nu);
        free(w);
        free(wp);
        free(u0);
        free(u1);
    }
}

float *conv_ref_out(const conv_data *z, size_t ldy, int accumulate)
{
    float *y = malloc(sizeof(float) * (size_t)z->c.cout * ldy);
    assert_non_null(y);
    for (size_t i = 0; i < (size_t)z->c.cout * ldy; i++)
        y[i] = accumulate ? 0.25f * (float)(i % 7) : NAN;
    return y;
}
