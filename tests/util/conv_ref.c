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

void conv_ref_check_scratch_grows(conv_scratch_fn scratch, const int (*shapes)[3], size_t n, int lmax)
{
    for (int nt = 1; nt <= 3; nt++)
        for (size_t i = 0; i < n; i++) {
            int ch = shapes[i][0], k = shapes[i][1], d = shapes[i][2];
            kt_conv1d c = {NULL, NULL, ch, ch, k, 1, d * (k - 1) / 2, d};
            size_t prev = 0;
            for (int L = 1; L <= lmax; L++) {
                size_t s = scratch(&c, L, nt);
                if (s < prev)
                    fail_msg("%d threads, %d channels, kernel %d, dilation %d: %zu floats for %d columns, %zu for %d",
                             nt, ch, k, d, s, L, prev, L - 1);
                prev = s;
            }
        }
}

#define GUARD ((size_t)1 << 18) /* guard floats after the scratch */

void conv_ref_check_guarded(const conv_case *cc, conv_scratch_fn scratch, int lmax, conv_run_fn run, double tol)
{
    conv_data z;
    kt_exec *ex = NULL;
    kt_error err;
    conv_ref_make(cc, 5u, &z);
    assert_int_equal(kt_exec_create(2, &ex, &err), KT_OK);
    size_t ns = scratch(&z.c, lmax, kt_exec_threads(ex));
    float *scr = malloc(sizeof(float) * (ns + GUARD)), *y = conv_ref_out(&z, (size_t)cc->L, 0);
    assert_non_null(scr);
    for (size_t i = 0; i < GUARD; i++)
        scr[ns + i] = (float)i;
    run(ex, &z, cc->L, y, scr);
    for (size_t i = 0; i < GUARD; i++)
        if (scr[ns + i] != (float)i)
            fail_msg("a conv on %d columns wrote %zu floats past the scratch of %d columns", cc->L, i + 1, lmax);
    double e = conv_ref_err(&z, y, cc->L, (size_t)cc->L, 0);
    if (!(e <= tol))
        fail_msg("a conv on %d columns with the scratch of %d: error %.3g", cc->L, lmax, e);
    free(scr);
    free(y);
    kt_exec_free(ex);
    conv_ref_free(&z);
}
