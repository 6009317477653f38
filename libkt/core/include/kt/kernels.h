/* kt/kernels.h - the hot convolution kernels of the Kokoro forward pass and the
 * execution context they run in (CPU feature dispatch + a small thread pool).
 *
 * Stride-1 Conv1d layers run as a direct convolution (no im2col): the input is
 * copied once into a zero-padded buffer xp[cin, Ls] and an MR x NR register-tile
 * micro-kernel (AVX-512, AVX2+FMA, or portable C, chosen at run time) reads its
 * rows at the tap offsets (AVX-512 tiles are 48 columns wide; a partial last tile of at most 24
 * runs on the AVX2 kernel, whose sums are the same). Weights are packed once at load into row tiles of
 * KT_PACK_MR output channels: wp[tile][ci][j][r] = w[tile*MR + r, ci, j] (zero
 * rows pad cout up to a multiple of MR). The output channels are split across
 * the pool's threads; the summation order does not depend on the thread count. */
#ifndef KT_KERNELS_H
#define KT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "kt/error.h"
#include "kt/ops.h"

#define KT_PACK_MR 8

enum { KT_ISA_GENERIC = 0, KT_ISA_AVX2 = 1, KT_ISA_AVX512 = 2 };

typedef struct kt_exec kt_exec;

/* Creates an execution context with n_threads workers in total (the caller's
 * thread included; <= 0 means the number of online CPUs, at most 8). The ISA is
 * the best the CPU supports, lowered (never raised) by env KT_ISA=generic|avx2|avx512.
 * KT_ENOMEM, or KT_EIO when a thread cannot be started. */
kt_status kt_exec_create(int n_threads, kt_exec **out, kt_error *err);

/* The CPUs in the process's affinity mask, else the online CPUs; at least 1. */
int kt_usable_cpus(void);

/* kt_exec_create with the ISA also capped at max_isa (KT_ISA_*). */
kt_status kt_exec_create_isa(int n_threads, int max_isa, kt_exec **out, kt_error *err);

/* Stops the workers and frees ex (NULL is fine). */
void kt_exec_free(kt_exec *ex);

/* The ISA in use (KT_ISA_*), and the number of threads; a NULL ex is generic, 1 thread. */
int kt_exec_isa(const kt_exec *ex);
int kt_exec_threads(const kt_exec *ex);

/* The threads ex was created with (a NULL ex: 1). */
int kt_exec_capacity(const kt_exec *ex);

/* The runs that follow use the first n threads of ex (clamped to 1..kt_exec_capacity); the
 * others stay asleep. Kernels split their work by kt_exec_threads, and their bytes do not depend
 * on it. Not while a run is in progress on ex. A NULL ex is ignored. */
void kt_exec_set_threads(kt_exec *ex, int n);

/* While *flag is nonzero (the owner runs more threads than there are CPUs, with other
 * callers), ex's threads sleep as soon as their short spin ends instead of yielding the CPU up
 * to 1 ms first. flag (NULL: never crowded) must outlive its use by ex; set it between runs. */
void kt_exec_set_crowded(kt_exec *ex, const _Atomic int *flag);

/* Runs fn(ctx, tid, n) on every thread of ex (tid 0 is the caller) and returns
 * when all are done. With a NULL ex, fn(ctx, 0, 1). Not reentrant. */
typedef void (*kt_task_fn)(void *ctx, int tid, int n);
void kt_exec_run(kt_exec *ex, kt_task_fn fn, void *ctx);

/* Work units 0 .. units-1 shared out among the n threads of the next kt_exec_run at run time:
 * share p holds units units * p / n up to units * (p + 1) / n. A thread takes the units of its
 * own share in order, then what is left of the others': one that finishes early or starts late
 * (a neighbour on its CPU, a wake-up) takes over work instead of waiting. Every unit is taken
 * exactly once; what a unit computes must not depend on the thread that takes it. */
#define KT_EXEC_MAX_THREADS 8
typedef struct {
    int units, n;
    _Atomic int next[KT_EXEC_MAX_THREADS];
} kt_claims;

/* Sets cl up for units units among the threads kt_exec_run(ex, ...) will pass to its tasks. */
void kt_claims_init(kt_claims *cl, int units, const kt_exec *ex);

/* The next unit for thread tid, or -1 when every unit is taken. */
int kt_claims_take(kt_claims *cl, int tid);

/* Calls fn(ctx, i0, i1) on contiguous ranges that cover [0, n) once, one range per thread
 * of ex (kt_exec_run); in the caller's thread alone, as fn(ctx, 0, n), when ex is NULL or
 * has one thread, n < 2, or the work n * unit (unit: elements per index, e.g. a row's
 * length) is below min_work. For work whose every index is computed on its own, so the
 * bytes do not depend on the thread count. Not reentrant. */
typedef void (*kt_range_fn)(void *ctx, size_t i0, size_t i1);
void kt_exec_range(kt_exec *ex, size_t n, size_t unit, size_t min_work, kt_range_fn fn, void *ctx);

/* A linear layer y[n, out] = x[n, in] . w[out, in]^T on the direct convolution kernel, with
 * x as the conv weight (n output channels, one tap) and w transposed as the signal, in panels
 * of 48 output features: wt[p][i][c] = w[48 p + c, i] (zeros past out), kt_linear_t_size
 * floats. The panels are split between ex's threads; each output is summed over i in order,
 * so the bytes depend neither on the thread count nor on AVX-512 against AVX2.
 * scratch: kt_linear_t_scratch(n, in) floats (x packed). No bias. */
size_t kt_linear_t_size(int out, int in);
size_t kt_linear_t_scratch(int n, int in);

/* Panels p0 .. p1 of wt from w[out, in]; kt_linear_t_pack: all of them, on ex's threads. */
void kt_linear_t_panels(const float *w, int out, int in, int p0, int p1, float *wt);
void kt_linear_t_pack(kt_exec *ex, const float *w, int out, int in, float *wt);

void kt_linear_t_forward(kt_exec *ex, const float *wt, int out, int in, const float *x, int n, float *y,
                         float *scratch);

/* Several linears of one input in one dispatch: items[i].y[n, out] = x[n, in] . w_i^T (+ b_i
 * when b is not NULL, added to each element after its sum), wt as for kt_linear_t_forward;
 * the same bytes as kt_linear_t_forward on each item and then the bias. */
typedef struct {
    const float *wt, *b;
    int out;
    float *y;
} kt_linear_t_item;
void kt_linear_t_forward_many(kt_exec *ex, const kt_linear_t_item *items, int count, int in, const float *x, int n,
                              float *scratch);

/* Packed conv weights: tiles of MR output channels, wp[tile][kk][r] (kk = ci*k + j),
 * zero rows padding cout to a multiple of MR. Stored as float32, as raw bfloat16 or
 * float16 bits, or as int8 codes with float32 scales (one per row and group of
 * `group` consecutive kk: q8 group = cin*k, q4 group = 32), laid out
 * scales[tile][g][r]. The compact forms are decoded block by block (a few KB) right
 * before the kernel uses them. */
enum { KT_PACK_F32 = 0, KT_PACK_BF16, KT_PACK_F16, KT_PACK_I8, KT_PACK_BF16X2, KT_PACK_I4, KT_PACK_I8Q, KT_PACK_BF16T };

/* KT_PACK_I4 is KT_PACK_I8 with 4-bit codes (-8..7, two's complement nibbles), two per
 * byte: element e of the tile order above is byte e / 2, low nibble when e is even. */

/* KT_PACK_BF16X2 is the bfloat16 COMPUTE form (needs kt_exec_has_bf16): 32-bit words
 * wp[tile][cp][j][r] = (w[tile*MR + r, 2cp, j], w[..., 2cp + 1, j]) as two bfloat16
 * (low half the even channel), cp < ceil(cin/2); the input is rounded to bfloat16
 * channel pairs the same way and vdpbf16ps sums each pair into float32. */

/* KT_PACK_BF16T is the bfloat16 compute form for AMX tiles (made for an exec where
 * kt_exec_has_amx_bf16 holds): the words of KT_PACK_BF16X2 (two bfloat16 of channels 2cp and
 * 2cp + 1, low half the even one, rounded the same way) laid out as KT_PACK_I8Q's quads are,
 * pairs for quads: wp[rt][b][j][n][pp] for output row 16 rt + n and pair cp = 16 b + pp, rows
 * padded to 16 and pairs to whole blocks of 16 with zeros. Its input is the bf16 pairs of the
 * padded input (kt_bf16_pairs), rows up to whole blocks (zero past cin). An exec without AMX-BF16
 * runs it on the float32 kernels (the bfloat16 weights decoded, the input not rounded). */

/* KT_PACK_I8Q is the integer compute form of a q8 weight with one scale per row (group = cin * k;
 * made for an exec where kt_exec_vnni_conv holds): 32-bit words whose byte i is the code of
 * channel 4q + i at tap j (0 past cin or cout), laid out wp[rt][b][j][n][qq] for output row
 * 16 rt + n and channel quad q = 16 b + qq: per row tile of 16, block of KT_VNNI_QUADS quads
 * and tap, one 16 x 16 word matrix, row n the 64 bytes of one output row (what an AMX tile
 * load takes, and what the VNNI kernel broadcasts from); cout is padded to a multiple of 16
 * and the quads to whole blocks with zero words. The scales as KT_PACK_I8's; sums[tile][b][r]
 * (tiles of KT_PACK_MR rows) the sum of row r's codes over block b (what the activations'
 * +128 offset adds to the integer sums). Any exec runs it: one without VNNI decodes it to
 * float32 as KT_PACK_I8. */
#define KT_VNNI_QUADS 16 /* channel quads per activation block: one scale per 64 input channels */
#define KT_I8Q_ROWS 16   /* output rows per weight tile of KT_PACK_I8Q */

typedef struct {
    int dtype;          /* KT_PACK_*; codes NULL: not packed */
    const void *codes;  /* tiles * MR * cin * k elements */
    const float *scales;
    int group;          /* KT_PACK_I8 / KT_PACK_I4 / KT_PACK_I8Q only */
    const int32_t *sums; /* KT_PACK_I8Q only */
} kt_packed;

/* Elements (codes) of a packed weight for w[cout, cin, k]. */
size_t kt_conv_pack_size(int cout, int cin, int k);

/* Packs float32 w[cout, cin, k] into wp[kt_conv_pack_size] (layout above). */
void kt_conv_pack(const float *w, int cout, int cin, int k, float *wp);

/* kt_conv_pack of the weight w[o, i] = (float)(v[o, i] * scale[o]) (the product in double, then
 * rounded): a weight-normed weight folded and packed in one pass, the same floats. */
void kt_conv_pack_scaled(const float *v, const double *scale, int cout, int cin, int k, float *wp);

/* Packs 16-bit codes (bfloat16 or float16 bits) u[cout, cin * k] the same way. */
void kt_conv_pack_u16(const uint16_t *u, int cout, int cin, int k, uint16_t *wp);

/* Packs int8 codes q[cout, cin * k] (row r's value i = q[r][i] * s[r * groups + i / group],
 * groups = ceil(cin * k / group)) into codes wp and scales sp[tiles * groups * MR]. */
void kt_conv_pack_i8(const int8_t *q, const float *s, int group, int cout, int cin, int k, int8_t *wp, float *sp);

/* Bytes of a KT_PACK_I4 weight for w[cout, cin, k]. */
size_t kt_conv_pack_i4_size(int cout, int cin, int k);

/* Packs q4 codes (row r's nibble i at codes[r * row_bytes + i / 2], low nibble first; value
 * code * s[r * groups + i / group]) into the nibbles wp[kt_conv_pack_i4_size] and scales sp
 * (as kt_conv_pack_i8). */
void kt_conv_pack_i4(const uint8_t *codes, size_t row_bytes, const float *s, int group, int cout, int cin, int k,
                     uint8_t *wp, float *sp);

/* Words of a KT_PACK_BF16X2 weight, and packs float32 w[cout, cin, k] into it. */
size_t kt_conv_pack_bf16x2_size(int cout, int cin, int k);
void kt_conv_pack_bf16x2(const float *w, int cout, int cin, int k, uint32_t *wp);
/* The same from a weight packed by kt_conv_pack (fp[kt_conv_pack_size(cout, cin, k)]). */
void kt_conv_pack_bf16x2_packed(const float *fp, int cout, int cin, int k, uint32_t *wp);

/* 1 when ex runs AVX512_BF16 dot products (KT_ISA below avx512 turns them off). */
int kt_exec_has_bf16(const kt_exec *ex);

/* 1 when ex runs q8 convolutions with AVX-512 VNNI integer dot products: weights with one scale
 * per row packed KT_PACK_I8Q (KT_PACK_I8 weights always take the float32 path on decoded
 * weights), the activations quantized to 8 bits per block of 64 input channels. KT_ISA below
 * avx512 or KT_VNNI=off turn them off. */
int kt_exec_has_vnni(const kt_exec *ex);

/* Words of a KT_PACK_BF16T weight for w[cout, cin, k]; packs the row tiles rt0 .. rt1 (16 rows
 * each) of float32 w[cout, cin, k] into their place in wp (so that threads can share the work). */
size_t kt_conv_pack_bf16t_size(int cout, int cin, int k);
void kt_conv_pack_bf16t(const float *w, int cout, int cin, int k, int rt0, int rt1, uint32_t *wp);

/* 1 when ex runs bfloat16 convolutions on AMX tiles (tdpbf16ps, float32 sums): the CPU has
 * AMX-BF16 and AVX512_BF16, the OS grants the tile state, and KT_AMX is not off. Weights are then
 * best packed KT_PACK_BF16T. */
int kt_exec_has_amx_bf16(const kt_exec *ex);

/* 1 when ex runs those q8 convolutions on AMX tiles (tdpbsud: the same integer sums, so the
 * same output bytes as the VNNI kernel): the CPU has AMX-INT8 and the OS grants this process
 * the tile state. KT_AMX=off (or no VNNI) turns them off. */
int kt_exec_has_amx(const kt_exec *ex);

/* 1 when ex runs a q8 convolution of kernel size k (one scale per row) with VNNI integer dot
 * products: its weight is then best packed as KT_PACK_I8Q. */
int kt_exec_vnni_conv(const kt_exec *ex, int k);

/* 32-bit words and row sums of a KT_PACK_I8Q weight for w[cout, cin, k]. */
size_t kt_conv_pack_i8q_words(int cout, int cin, int k);
size_t kt_conv_pack_i8q_sums(int cout, int cin);

/* Packs int8 codes q[cout, cin * k] with one scale per row s[cout] as KT_PACK_I8Q: words
 * wp[kt_conv_pack_i8q_words], scales sp[kt_conv_pack_scales(cout, cin, k, cin * k)], row sums
 * sums[kt_conv_pack_i8q_sums]. */
void kt_conv_pack_i8q(const int8_t *q, const float *s, int cout, int cin, int k, uint32_t *wp, float *sp,
                      int32_t *sums);
/* The same for the tiles of KT_I8Q_ROWS output rows rt0 .. rt1 only (their words, scales and
 * sums): disjoint ranges may be packed at once by different threads. */
void kt_conv_pack_i8q_tiles(const int8_t *q, const float *s, int cout, int cin, int k, int rt0, int rt1,
                            uint32_t *wp, float *sp, int32_t *sums);

/* Scales kt_conv_pack_i8 writes. */
size_t kt_conv_pack_scales(int cout, int cin, int k, int group);

/* Row length of the padded input for a stride-1 conv on length L: L + 2 pad plus
 * slack the kernels may read past the end (zeros). */
size_t kt_conv_pad_len(const kt_conv1d *c, int L);

/* Floats of scratch kt_conv1d_packed_forward takes for length L (all packed forms). */
size_t kt_conv1d_packed_scratch(const kt_conv1d *c, int L);

/* Floats of the scratch that holds the compute form of a padded input xp[cin, Ls] for weights
 * of dtype: the bfloat16 channel pairs (KT_PACK_BF16X2), the 8-bit channel quads and their block
 * scales (KT_PACK_I8Q); 0 for the other forms. kt_conv_input_scratch: the same for c on length L. */
size_t kt_conv_input_form_floats(int dtype, int cin, size_t Ls);
size_t kt_conv_input_scratch(const kt_conv1d *c, const kt_packed *wp, int L);

/* y[cout, Lout] (+)= conv(x[cin, L]) for a STRIDE-1 conv with packed weights wp
 * (c->w is not read). accumulate: y += bias + conv instead of y = bias + conv.
 * y must not alias x. KT_ELIMIT when the arena is too small. */
kt_status kt_conv1d_packed_forward(const kt_conv1d *c, const kt_packed *wp, const float *x, int L, float *y,
                                   int accumulate, kt_arena *a, kt_error *err);

/* The same on an already padded input xp[cin, Ls] (row c: c->pad zeros, the L
 * samples, zeros up to Ls >= kt_conv_pad_len(c, L)); scratch: kt_conv_input_form_floats(wp->dtype,
 * cin, Ls) floats for a KT_PACK_BF16X2 or KT_PACK_I8Q weight, else unused. NULL with KT_PACK_I8Q:
 * the call allocates its own (a fresh buffer on every call); NULL with KT_PACK_BF16X2 is an error. */
void kt_conv1d_padded(kt_exec *ex, const kt_conv1d *c, const kt_packed *wp, const float *xp, size_t Ls, int L,
                      float *y, int accumulate, float *scratch);

/* kt_conv1d_padded writing y with row stride ldy (>= the output length) instead of the
 * output length: the columns of a time block inside a longer y. */
void kt_conv1d_padded_ld(kt_exec *ex, const kt_conv1d *c, const kt_packed *wp, const float *xp, size_t Ls, int L,
                         float *y, size_t ldy, int accumulate, float *scratch);

/* out[cp, t] (row stride ldo words) = the bfloat16 pair (x[2cp, t], x[2cp + 1, t]) of x[rows, ldx]
 * (low half the even row; zero for the missing row of an odd count), each rounded to nearest
 * even, for pair rows cp0 <= cp < cp1 and t < n: the input form of KT_PACK_BF16X2 weights.
 * isa (KT_ISA_*) only picks the vector width: the words are the same on every ISA. */
void kt_bf16_pairs(int isa, const float *x, size_t ldx, int rows, int cp0, int cp1, size_t n, uint32_t *out,
                   size_t ldo);

/* kt_conv1d_padded_ld on the calling thread alone, for the output row tiles mt0 .. mt1 (rows
 * mt0 * KT_PACK_MR .. min(cout, mt1 * KT_PACK_MR)) with the kernels of isa (KT_ISA_*, at most
 * what the CPU has): the same bytes as the threaded call gives those rows. Weights of any
 * packed form (q8 takes the float32 path on decoded weights); with KT_PACK_BF16X2 (isa
 * KT_ISA_AVX512 and kt_exec_has_bf16), xp holds the input's bfloat16 pairs as kt_bf16_pairs
 * makes them, Ls 32-bit words per pair row. */
void kt_conv1d_padded_tiles(int isa, const kt_conv1d *c, const kt_packed *wp, const float *xp, size_t Ls, int L,
                            float *y, size_t ldy, int accumulate, int mt0, int mt1);

/* ConvTranspose1d as `stride` stride-1 convolutions over x (polyphase): phase p computes
 * the outputs s with (s + pad) % stride == p from the taps j = p + m*stride, m < taps =
 * ceil(k / stride), as a conv with weight W_p[o, i, n] = w[i, o, p + (taps-1-n)*stride]
 * (0 past k) and padding taps-1 on both sides; its output q lands at s = q*stride + p - pad. */
int kt_convt_phase_taps(const kt_convt1d *c);

/* Rows o0 .. o1 of W_p[cout, cin, taps] (float32) from c->w[cin, cout, k] (disjoint row ranges
 * may be written at once by different threads). */
void kt_convt_phase_weight_rows(const kt_convt1d *c, int p, int o0, int o1, float *w);

/* Floats of scratch kt_convt1d_phased_forward takes for input length L with the phase weights
 * ph (packed as it will be given them). */
size_t kt_convt1d_phased_scratch(const kt_convt1d *c, const kt_packed *ph, int L);

/* y[cout, Lout] = convtranspose(x[cin, L]) from the packed phase weights ph[stride]. */
kt_status kt_convt1d_phased_forward(const kt_convt1d *c, const kt_packed *ph, const float *x, int L, float *y,
                                    kt_arena *a, kt_error *err);

/* y[r] = sum_c w[r * cols + c] x[c] for r < rows, on the caller's thread: each sum in
 * KT_DOT_LANES lanes by fused multiply-add (column c in lane c % KT_DOT_LANES while whole groups
 * last, the rest in lane 0), then the lanes added in order, so every ISA gives the same bytes. */
#define KT_DOT_LANES 16
void kt_matvec(int isa, const float *w, const float *x, int rows, int cols, float *y);

/* x[i] = GELU(x[i]) in its tanh form (HF gelu_new), computed as x / (1 + e^(-2u)) with
 * u = sqrt(2/pi) (x + 0.044715 x^3) and an exponential of about 1 ulp; isa (KT_ISA_*) only picks
 * the vector width: every ISA gives the same bytes. */
void kt_gelu(int isa, float *x, size_t n);

/* One LSTM step from its gate pre-activations g[4H] (input, forget, cell, output):
 * c = sigmoid(f) c + sigmoid(i) tanh(g), h = sigmoid(o) tanh(c), for the H units (h must not
 * overlap g or c). sigmoid and tanh (as 2 sigmoid(2v) - 1) use kt_gelu's exponential; isa
 * (KT_ISA_*) only picks the vector width: every ISA gives the same bytes. */
void kt_lstm_cell(int isa, const float *g, float *c, float *h, int H);

/* softmax of each row of x[rows, n] in place: e^(x - row max) by kt_gelu's exponential (its
 * argument clamped to [-87, 88]), divided by their sum taken in double precision; isa (KT_ISA_*)
 * only picks the vector width: every ISA gives the same bytes. */
void kt_softmax_rows(int isa, float *x, int rows, int n);

/* z[j] = unit normal number i0 + j of the stream of seed (Box-Muller on two counters hashed
 * with lowbias32: u = ((h >> 8) + 0.5) / 2^24, z = sqrt(-2 ln u1) cos(2 pi u2) in double, then
 * float) for j < n; isa (KT_ISA_*) only picks the vector width: every ISA gives the same bytes. */
void kt_normals(int isa, uint64_t i0, size_t n, uint32_t seed, float *z);

/* xp[c, pad + t] = snake(AdaIN1d(x)[c, t]) for the signal x[C, L] with
 * gb[2C] = fc(style) (kt_adain1d then kt_snake, fused), zeros elsewhere in each
 * row of xp[C, Ls]. */
void kt_adain_snake_pad(kt_exec *ex, const float *x, int C, int L, const float *gb, const float *alpha, float eps,
                        int pad, float *xp, size_t Ls);

/* mi[2c] = mean and mi[2c + 1] = 1 / sqrt(var + eps) of row c of x[C, L] (the statistics
 * kt_adain_snake_pad uses), in one pass over the row: with the shift k = kt_stat_shift(row, L),
 * the sums of d = x - k and of d * d in double (kt_stat_sums), then mean = k + S1 / L and
 * var = S2 / L - (S1 / L)^2 (kt_stat_finish). The float results are those of that order on
 * every ISA and thread count. */
#define KT_STAT_LANES 16
#define KT_STAT_SHIFT_N 256

/* The shift of a row's sums: the mean of its first min(n, KT_STAT_SHIFT_N) values, as a float,
 * so that x - shift is small against x and the one-pass variance keeps its digits. */
float kt_stat_shift(const float *x, int n);

/* Adds d = x[i] - shift (in double) to s1[lane] and d * d to s2[lane] for i < n: element i in
 * lane i % KT_STAT_LANES while i < n rounded down to a multiple of KT_STAT_LANES, the rest in
 * lane 0. A row summed in consecutive blocks whose lengths, but the last's, are multiples of
 * KT_STAT_LANES gets the sums of one call on the whole row. */
void kt_stat_sums(const float *x, int n, float shift, int isa, double *s1, double *s2);

/* The mean and 1 / sqrt(var + eps) of a row of n values from its lane sums (lanes added in
 * order; a negative variance from rounding counts as 0). */
void kt_stat_finish(const double *s1, const double *s2, int n, float shift, float eps, float *mean, float *inv);

void kt_adain_stats(kt_exec *ex, const float *x, int C, int L, float eps, float *mi);

/* The columns t0 - pad .. t1 + pad of kt_adain_snake_pad's output for a signal of length L,
 * bit for bit, with the statistics mi of kt_adain_stats: xp[c, j] = snake(AdaIN1d(x)[c, t0 -
 * pad + j]) for 0 <= t0 - pad + j < L, zeros elsewhere up to Ls >= t1 - t0 + 2 pad
 * (0 <= t0 < t1 <= L). x holds the signal's columns from x0 on (x0 <= max(0, t0 - pad),
 * through min(L, t1 + pad)) with row stride ldx: the whole signal is x0 = 0, ldx = L.
 * Then kt_conv1d_padded_ld(..., xp, Ls, t1 - t0, y + t0, L, ...) gives output columns t0..t1. */
void kt_adain_snake_block(kt_exec *ex, const float *x, size_t ldx, int x0, int C, int L, const float *mi,
                          const float *gb, const float *alpha, int t0, int t1, int pad, float *xp, size_t Ls);

#endif
