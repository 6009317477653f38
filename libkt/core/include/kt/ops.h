/* kt/ops.h - the numeric building blocks of the Kokoro forward pass.
 *
 * Layout conventions: a "sequence" x[L, C] is time-major (row t holds C
 * channels); a "signal" x[C, L] is channel-major (row c holds L samples). All
 * buffers are float32, contiguous. Functions that need scratch memory take it
 * from a kt_arena (a bump allocator filled once per utterance), so nothing here
 * calls malloc. GEMMs go through kt_sgemm (OpenBLAS, one thread per call). */
#ifndef KT_OPS_H
#define KT_OPS_H

#include <stddef.h>

#include "kt/error.h"

struct kt_exec;

/* A bump allocator over one caller-owned float buffer. ex is the execution context
 * (threads, ISA; kt/kernels.h) the forward functions use, NULL after kt_arena_init
 * (portable kernels, one thread). */
typedef struct {
    float *base;
    size_t cap;  /* floats */
    size_t used; /* floats */
    size_t high; /* high-water mark in floats */
    struct kt_exec *ex;
} kt_arena;

/* Initializes a over buf[cap] (buf may be NULL when cap is 0). */
void kt_arena_init(kt_arena *a, float *buf, size_t cap);

/* n floats (64-byte aligned when base is), or NULL when the arena is exhausted.
 * The memory is NOT zeroed. */
float *kt_arena_take(kt_arena *a, size_t n);

/* Current position, to give back everything taken after it with kt_arena_release. */
size_t kt_arena_mark(const kt_arena *a);
void kt_arena_release(kt_arena *a, size_t mark);

/* Floats kt_arena_take reserves for a request of n (n rounded up to the alignment). */
size_t kt_arena_round(size_t n);

/* Makes OpenBLAS run each call on the calling thread only (openblas_set_num_threads(1),
 * process-wide): kt_sgemm splits large products across kt's own threads instead, so that
 * results do not depend on the thread count (OpenBLAS's threaded driver blocks K otherwise
 * than its serial one). kt_model_synthesize calls it unless the model was loaded with
 * kt_model_params.blas_serial 0. */
void kt_blas_serial(void);

/* C[M, N] = alpha * op(A) . op(B), row-major, op(X) = X^T when tX is nonzero (A is then
 * stored [K, M], B [N, K]). With an ex of several threads, when each thread's slice gets at
 * least 48 rows and 2^20 multiply-adds, the rows of C are cut into contiguous slices
 * (starting at multiples of 48), one
 * serial OpenBLAS call per thread; each element is computed as one serial call computes it,
 * so the result is the same at any thread count (tests/test_threads, under several
 * OPENBLAS_CORETYPE kernels). ex NULL: one call. Not from inside a kt_exec task. */
void kt_sgemm(struct kt_exec *ex, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float *C, int ldc);

/* A linear layer: w[out, in] (PyTorch layout), b[out] or NULL. When w is NULL, qv is a
 * kt_qview (kt/quant.h) of the weight in its stored compact form (f16/bf16/q8/q4), used
 * row by row without expanding it (meant for the n = 1 style projections). */
typedef struct {
    const float *w;
    const float *b;
    int in, out;
    const void *qv;
} kt_linear;

/* y[n, out] = x[n, in] . w^T + b, on ex's threads (kt_sgemm; NULL: the caller's only); n = 1 on
 * the caller's thread with kt_matvec on ex's ISA (NULL: the portable loop), the same bytes on
 * every ISA. */
void kt_linear_forward(const kt_linear *l, const float *x, int n, float *y, struct kt_exec *ex);

/* y[n, out] += l's bias (nothing when l->b is NULL). */
void kt_linear_add_bias(const kt_linear *l, int n, float *y);

/* A Conv1d: w[cout, cin, k] (groups 1), b[cout] or NULL. */
typedef struct {
    const float *w;
    const float *b;
    int cin, cout, k, stride, pad, dil;
} kt_conv1d;

/* Output length floor((L + 2pad - dil(k-1) - 1)/stride) + 1 (may be <= 0 for too short L). */
int kt_conv1d_out_len(const kt_conv1d *c, int L);

/* Floats of scratch kt_conv1d_forward takes from the arena for input length L. */
size_t kt_conv1d_scratch(const kt_conv1d *c, int L);

/* y[cout, Lout] = conv(x[cin, L]) with zero padding (im2col in time blocks + sgemm).
 * y must not alias x. KT_ELIMIT when the arena is too small. */
kt_status kt_conv1d_forward(const kt_conv1d *c, const float *x, int L, float *y, kt_arena *a, kt_error *err);

/* A ConvTranspose1d: w[cin, cout, k] (groups 1), b[cout] or NULL; or, for the
 * depthwise form, w[C, 1, k] with cin == cout == C. */
typedef struct {
    const float *w;
    const float *b;
    int cin, cout, k, stride, pad, out_pad;
} kt_convt1d;

/* Output length (L-1)*stride - 2pad + k + out_pad. */
int kt_convt1d_out_len(const kt_convt1d *c, int L);

/* Floats of scratch kt_convt1d_forward takes for input length L. */
size_t kt_convt1d_scratch(const kt_convt1d *c, int L);

/* y[cout, Lout] = convtranspose(x[cin, L]) (sgemm into column blocks, then col2im). */
kt_status kt_convt1d_forward(const kt_convt1d *c, const float *x, int L, float *y, kt_arena *a, kt_error *err);

/* Depthwise (groups = C) transposed conv: y[c, Lout] from x[c, L] with w[C, 1, k]. */
void kt_dwconvt1d_forward(const kt_convt1d *c, const float *x, int L, float *y);

/* One bidirectional single-layer LSTM (PyTorch gate order i, f, g, o; h0 = c0 = 0).
 * For direction d (0 forward, 1 reverse): wih[d] [4H, in], whh[d] [4H, H],
 * b[d] [4H] = bias_ih + bias_hh; wiht[d], when not NULL, holds wih[d] as kt_linear_t panels
 * (kt/kernels.h) and is used in its place (wih[d] may then be NULL). */
typedef struct {
    const float *wih[2];
    const float *whh[2];
    const float *b[2];
    int in, hidden;
    const float *wiht[2];
} kt_lstm;

/* Floats of scratch kt_lstm_forward takes for L steps. */
size_t kt_lstm_scratch(const kt_lstm *l, int L);

/* y[L, 2H] = [h_fwd(t); h_bwd(t)] for the sequence x[L, in]. The input projection of all L
 * steps is one product per direction: on its panels (both directions in one
 * kt_linear_t_forward_many when both have them), else kt_sgemm on wih[d]. */
kt_status kt_lstm_forward(const kt_lstm *l, const float *x, int L, float *y, kt_arena *a, kt_error *err);

/* LayerNorm of each row of x[n, C] in place: (x - mean)/sqrt(var + eps) * g + b
 * (g, b may be NULL for no affine). Statistics in double. */
void kt_layernorm_rows(float *x, int n, int C, const float *g, const float *b, float eps);

/* x[t] = LayerNorm(x[t] + r[t]) for each row of x[n, C] (r NULL: LayerNorm alone), the rows
 * shared among ex's threads: the bytes of kt_add then kt_layernorm_rows. */
void kt_add_layernorm_rows_mt(struct kt_exec *ex, float *x, const float *r, int n, int C, const float *g,
                              const float *b, float eps);

/* LayerNorm over the channels of each time step of the signal x[C, L], in place. */
void kt_layernorm_channels(float *x, int C, int L, const float *g, const float *b, float eps);

/* AdaLayerNorm on rows x[n, C]: LayerNorm without affine (eps), then
 * (1 + gb[c]) * x + gb[C + c], where gb[2C] = fc(style). In place. */
void kt_adalayernorm_rows(float *x, int n, int C, const float *gb, float eps);

/* AdaIN1d on the signal x[C, L]: instance norm of each channel over time
 * (biased variance, eps), then (1 + gb[c]) * x + gb[C + c]. In place. */
void kt_adain1d(float *x, int C, int L, const float *gb, float eps);

/* Snake on the signal x[C, L]: x + (1/alpha[c]) * sin(alpha[c] * x)^2, in place. */
void kt_snake(float *x, int C, int L, const float *alpha);

/* d[i] += s[i] for i < n (d and s do not overlap), 4 elements a step so that the compiler
 * vectorises it: the bytes of the one-element loop. */
void kt_add(float *restrict d, const float *restrict s, size_t n);

/* x = x >= 0 ? x : slope * x, in place. */
void kt_leaky_relu(float *x, size_t n, float slope);

/* gelu_new: 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))), in place (kt_gelu, generic ISA). */
void kt_gelu_new(float *x, size_t n);

/* kt_leaky_relu, kt_gelu_new and kt_adain1d on each row of x[rows, n], the
 * work spread over ex's threads (NULL: the caller's): the same bytes as the serial forms,
 * whatever the thread count. Not to be called from inside a kt_exec task. */
void kt_leaky_relu_mt(struct kt_exec *ex, float *x, size_t n, float slope);
void kt_gelu_new_mt(struct kt_exec *ex, float *x, size_t n);
void kt_adain1d_mt(struct kt_exec *ex, float *x, int C, int L, const float *gb, float eps);

/* y[cols, rows] = x[rows, cols]^T. */
void kt_transpose(const float *x, int rows, int cols, float *y);

#endif
