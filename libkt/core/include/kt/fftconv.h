/* kt/fftconv.h - stride-1 Conv1d by FFT overlap-save on the packed direct kernel: fewer
 * multiply-adds than Winograd F(4,4) for kernels of 7 to 17 taps, for more weight memory.
 *
 * Output columns t = p + d q (d the dilation, p < d the phase) go in tiles of m = 32 - k + 1
 * consecutive q of one phase. A tile's 32 inputs xp[p + d (q0 + i)], i < 32, hold every tap
 * of its m outputs, which are the first m values of the tile's circular cross-correlation with
 * the kernel: the inverse real DFT of the product, bin by bin, of the tile's DFT and the
 * kernel's conjugate DFT. Of the 17 bins of a real 32-point DFT, bins 0 and 16 are real and
 * the 15 others complex; a complex product is done as three real ones, (a + ib)(c + id) =
 * (ac - bd) + i((a + b)(c + d) - ac - bd). That makes KT_FFT_PLANES = 47 real "planes": for
 * each, the products summed over input channels are a matrix product U_p[cout, cin] V_p[cin,
 * tiles], which runs on the packed direct kernel (one tap). The input transform (V) and the
 * output transform (combine the planes, inverse DFT) are radix-2 FFTs of 16 complex points
 * (two real values each), 16 tiles at a time in the lanes of a vector.
 *
 * Multiply-adds per output: 47 / m * cin instead of k * cin: 2.1 cin for k = 11 (Winograd
 * F(4,4): 5.25), 1.8 cin for k = 7 (3.5). U is made at load in double precision, with the
 * transforms' scale folded in: 47 cout x cin floats per conv, 47 / k times the direct weight.
 * The transforms are exact DFTs rounded in float32 (error of the order of the direct form's,
 * below Winograd's). Every output element is computed in an order that does not depend on the
 * thread count. */
#ifndef KT_FFTCONV_H
#define KT_FFTCONV_H

#include <stddef.h>

#include "kt/kernels.h"
#include "kt/ops.h"

#define KT_FFT_N 32      /* inputs per tile */
#define KT_FFT_PLANES 47 /* real products per tile and channel pair */
#define KT_FFT_KMAX 17   /* largest kernel (a tile then has 16 outputs) */

/* Floats of the transformed weight of a conv of cin -> cout channels. */
size_t kt_fft_pack_size(int cout, int cin);

/* u[kt_fft_pack_size] = the transformed weight of float32 w[cout, cin, k] (k <= KT_FFT_KMAX):
 * KT_FFT_PLANES packed weights (kt_conv_pack layout, one tap), one after the other, each
 * kt_conv_pack_size(cout, cin, 1) floats; output channel tiles (KT_PACK_MR rows) t0 .. t1 only
 * (to spread the work over threads). */
void kt_fft_pack_tiles(const float *w, int cout, int cin, int k, int t0, int t1, float *u);

/* The same from a weight packed by kt_conv_pack (wp[kt_conv_pack_size(cout, cin, k)]). */
void kt_fft_pack_tiles_packed(const float *wp, int cout, int cin, int k, int t0, int t1, float *u);

/* One tile's transforms: v[KT_FFT_PLANES] from the inputs x[KT_FFT_N]; the outputs
 * y[KT_FFT_N] (the first 32 - k + 1 are the conv's) from the plane products m[KT_FFT_PLANES];
 * u[KT_FFT_PLANES] from the taps g[k] (in double precision, then rounded). */
void kt_fft_input(const float *x, float *v);
void kt_fft_output(const float *m, float *y);
void kt_fft_kernel(const float *g, int k, float *u);

/* Floats of scratch kt_fft_conv_padded_ld takes for a conv c on L output columns or fewer, on an
 * exec of at most n_threads threads (never less for a larger L). */
size_t kt_fft_scratch(const kt_conv1d *c, int L, int n_threads);

/* 1 when kt_fft_conv_padded_ld on n_threads threads gives each thread whole passes of output
 * columns, 0 when the threads share each pass (its input transform split by input channel,
 * products and output transform by output rows: short convs). The bytes are the same either
 * way. */
int kt_fft_by_columns(const kt_conv1d *c, int L, int n_threads);

/* kt_conv1d_padded_ld (kt/kernels.h) with the transformed weight u of c (c->k <= KT_FFT_KMAX):
 * y[o, t] (+)= c->b[o] + sum over ci, j < k of c->w[o, ci, j] xp[ci, t + j c->dil], t < L, on
 * the padded input xp[cin, Ls] (positions from Ls on are read as zeros), y with row stride
 * ldy. scratch: kt_fft_scratch floats for at least kt_exec_threads(ex) threads. */
void kt_fft_conv_padded_ld(kt_exec *ex, const kt_conv1d *c, const float *u, const float *xp, size_t Ls, int L,
                           float *y, size_t ldy, int accumulate, float *scratch);

#endif
