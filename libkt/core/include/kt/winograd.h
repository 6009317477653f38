/* kt/winograd.h - stride-1 Conv1d by nested Winograd F(4,4): fewer multiply-adds than the
 * direct kernel for the generator's resblock convolutions (kernel 3, 7, 11; dilation 1, 3, 5).
 *
 * The kernel is zero-padded to kp = ceil(k / 4) pieces of 4 taps. Output columns go in
 * tiles of 4 outputs, t, t + d, t + 2d, t + 3d (d the dilation); the tile's 7 inputs
 * xp[t + d e], e < 7, are transformed once (V = B^T D, 7 values per tile and input channel)
 * and serve every piece, because piece s reads the tile 4 d s positions further. Tiles
 * are numbered c = b d + p for the one at t = 4 d b + p, so that piece s reads tile c + s d.
 * For each of the 7 interpolation points the products summed over pieces and input
 * channels are a plain convolution over the tile number with kp taps and dilation d, with
 * weights U[cout, cin, kp] (G times the pieces' taps, made once at load); it runs on the
 * packed direct kernel (kt_conv1d_padded_ld). The output transform (A^T) gives the tile's
 * 4 outputs. At infinity the weight is each piece's fourth tap, zero in the last piece when 4
 * does not divide k: that plane leaves the last piece out (kt_wino_inf_pieces), and for k <= 3
 * the point is left out altogether (kt_wino_points); the outputs are those of the full form.
 * Multiply-adds per output: (6 kp + kt_wino_inf_pieces(k)) / 4 * cin instead of k * cin
 * (k = 3: 6/4, 7: 13/4, 11: 20/4).
 *
 * Points 0, 1, -1, 1/2, -1/2, 2 and infinity. B^T's rows are scaled to small integers (the
 * inverse scale goes into G, applied in double precision at load), so the input transform
 * is exact up to its sums' rounding; A^T holds powers of two. Every output element is
 * computed in an order that does not depend on the thread count. */
#ifndef KT_WINOGRAD_H
#define KT_WINOGRAD_H

#include <stddef.h>
#include <stdint.h>

#include "kt/kernels.h"
#include "kt/ops.h"

#define KT_WINO_M 4 /* outputs per tile */
#define KT_WINO_R 4 /* taps per kernel piece */
#define KT_WINO_A 7 /* interpolation points: inputs per tile */
#define KT_WINO_DMAX 16 /* largest dilation kt_wino_conv_padded_ld takes (others: the direct kernel) */

/* Transformed weight of one conv: kt_wino_points(k) packed float32 weights (kt_conv_pack layout)
 * one after the other: U_i[cout, cin, kp] for the finite points, each kt_conv_pack_size(cout,
 * cin, kp) floats, then at infinity U[cout, cin, kt_wino_inf_pieces(k)]; or, with bf16, the
 * same as bfloat16 pair packs (kt_conv_pack_bf16x2 layout, kt_conv_pack_bf16x2_size words
 * each): the products then run on vdpbf16ps with V rounded to bfloat16 pairs (needs
 * kt_exec_has_bf16 and the AVX-512 kernels). */
typedef struct {
    const float *u; /* NULL: none */
    int kp;
    int bf16;
    int fft; /* 1: u is the FFT form of the weight (kt_fft_pack_tiles, kt/fftconv.h) and the conv
                runs by kt_fft_conv_padded_ld; kp and bf16 unused */
} kt_wino;

/* Pieces of 4 taps for a kernel of k taps. */
int kt_wino_pieces(int k);

/* Pieces whose weight at the point at infinity is not zero: U there is a piece's fourth tap
 * (scaled), zero in the last piece when 4 does not divide k. The products at infinity are a
 * convolution over the tile number with this many taps (kernel 7: 1, 11: 2, 3: none). */
int kt_wino_inf_pieces(int k);

/* Interpolation points whose products a kernel of k taps needs: KT_WINO_A, or KT_WINO_A - 1
 * when kt_wino_inf_pieces(k) is 0 (k <= 3: that point is left out and the output transform
 * takes 0 for it; the outputs are those of the 7 points). V and the products hold that many
 * planes. */
int kt_wino_points(int k);

/* Floats of the transformed weight of w[cout, cin, k]. */
size_t kt_wino_pack_size(int cout, int cin, int k);

/* u[kt_wino_pack_size] = the transformed weight of float32 w[cout, cin, k], output
 * channel tiles (KT_PACK_MR rows) t0 .. t1 only (to spread the work over threads). */
void kt_wino_pack_tiles(const float *w, int cout, int cin, int k, int t0, int t1, float *u);

/* The same from a weight packed by kt_conv_pack (wp[kt_conv_pack_size(cout, cin, k)]). */
void kt_wino_pack_tiles_packed(const float *wp, int cout, int cin, int k, int t0, int t1, float *u);

/* 32-bit words of the bfloat16 form of the transformed weight of w[cout, cin, k]. */
size_t kt_wino_pack_bf16_size(int cout, int cin, int k);

/* ub[kt_wino_pack_bf16_size] = u[kt_wino_pack_size] (kt_wino_pack_tiles's float32 form) as
 * bfloat16 pair packs, each value rounded to nearest even. */
void kt_wino_pack_bf16(const float *u, int cout, int cin, int k, uint32_t *ub);

/* One tile's transforms: v = B^T d (d: 7 inputs), y = A^T m (m: 7 point values, y: 4
 * outputs), u = G g (g: 4 taps, in double precision, then rounded). */
void kt_wino_input(const float *d, float *v);
void kt_wino_output(const float *m, float *y);
void kt_wino_kernel(const float *g, float *u);

/* Floats of scratch kt_wino_conv_padded_ld takes for a conv c on L output columns or fewer, on
 * an exec of at most n_threads threads, with a float32 (bf16 0) or bfloat16 (1) weight (never
 * less for a larger L). */
size_t kt_wino_scratch(const kt_conv1d *c, int bf16, int L, int n_threads);
/* 1 when kt_wino_conv_padded_ld on n_threads threads gives each thread whole passes of output
 * columns (when the transformed weight is smaller than the conv's transformed input), 0 when
 * the threads split each pass's output rows. The bytes are the same either way. */
int kt_wino_by_columns(const kt_conv1d *c, const kt_wino *w, int L, int n_threads);

/* kt_conv1d_padded_ld (kt/kernels.h) with the transformed weight w of c: y[o, t] (+)=
 * c->b[o] + sum over ci, j < k of c->w[o, ci, j] xp[ci, t + j c->dil], t < L, on the padded
 * input xp[cin, Ls] (zeros past its data up to Ls; positions from Ls on are read as zeros),
 * y with row stride ldy; c->dil <= KT_WINO_DMAX. scratch: kt_wino_scratch floats for at least
 * kt_exec_threads(ex) threads. */
void kt_wino_conv_padded_ld(kt_exec *ex, const kt_conv1d *c, const kt_wino *w, const float *xp, size_t Ls, int L,
                            float *y, size_t ldy, int accumulate, float *scratch);

#endif
