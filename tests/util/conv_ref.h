/* conv_ref.h - a random stride-1 Conv1d case and its output computed naively in double
 * precision, for the tests of the fast convolutions (Winograd, FFT). */
#ifndef KT_TEST_CONV_REF_H
#define KT_TEST_CONV_REF_H

#include <stddef.h>
#include <stdint.h>

#include "kt/kernels.h"
#include "kt/ops.h"

typedef struct {
    int cin, cout, k, dil, L;
} conv_case;

typedef struct {
    kt_conv1d c;        /* same padding: pad = dil (k - 1) / 2 */
    float *w, *b, *xp;  /* xp: the padded input, rows of Ls */
    float *wp;          /* w packed for the direct kernel (kt_conv_pack) */
    size_t Ls;
    double *ref, *mag;  /* [cout, L]: the output and the sum of |products| of each element */
} conv_data;

/* Uniform in [-0.5, 0.5) from the state s. */
float conv_lcg(uint32_t *s);

/* z = case cc with weights, bias and input drawn from seed (the input is zero-padded with room
 * for 16 more outputs than L); fails the test when out of memory. */
void conv_ref_make(const conv_case *cc, uint32_t seed, conv_data *z);
void conv_ref_free(conv_data *z);

/* Largest |y - ref| / mag over the L outputs of each row of y (row stride ldy; accumulate:
 * y was 0.25 (i % 7) at index i before the conv added to it); fails the test when a column
 * from L on was written (it must still be NaN, or its prior value when accumulating). */
double conv_ref_err(const conv_data *z, const float *y, int L, size_t ldy, int accumulate);

/* Root mean square of (y - ref) / mag over the outputs (columns < L of rows of stride ldy). */
double conv_ref_rms(const conv_data *z, const float *y, int L, size_t ldy);

/* A transformed weight of w[cout, cin, k] for output channel tiles t0 .. t1: from w itself, or
 * from its kt_conv_pack form (the kt_wino_pack_tiles and kt_fft_pack_tiles families). */
typedef void (*conv_pack_fn)(const float *w, int cout, int cin, int k, int t0, int t1, float *u);

/* For random weights of shapes[i] = {cout, cin, k}: the transformed weight (size(cout, cin, k)
 * floats) from w equals the one made tile 0 from w and the other tiles from the packed form. */
void conv_ref_check_pack(const int (*shapes)[3], size_t n, size_t (*size)(int, int, int), conv_pack_fn from_w,
                         conv_pack_fn from_packed);

/* y[cout, ldy] filled as conv_ref_err expects before a conv: 0.25 (i % 7), or NaN. */
float *conv_ref_out(const conv_data *z, size_t ldy, int accumulate);

/* The floats of scratch a conv takes on L columns or fewer on n_threads threads. */
typedef size_t (*conv_scratch_fn)(const kt_conv1d *c, int L, int n_threads);

/* Fails the test when scratch(c, L, n) gets smaller as L grows from 1 to lmax, for 1 to 3 threads
 * and each shapes[i] = {channels in = out, kernel, dilation} (same padding). */
void conv_ref_check_scratch_grows(conv_scratch_fn scratch, const int (*shapes)[3], size_t n, int lmax);

/* One conv of z on ex: y[cout, L] = the conv of the first L columns, with scratch scr. */
typedef void (*conv_run_fn)(kt_exec *ex, const conv_data *z, int L, float *y, float *scr);

/* Case cc (seed 5) on 2 threads, given the scratch of lmax columns (scratch(c, lmax, 2) floats)
 * with guard floats after it: fails the test when run writes into the guard or its error
 * (conv_ref_err) is above tol. */
void conv_ref_check_guarded(const conv_case *cc, conv_scratch_fn scratch, int lmax, conv_run_fn run, double tol);

#endif
