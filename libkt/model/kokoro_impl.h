/* kokoro_impl.h - PRIVATE to libkt: the Kokoro model's weights and the forward
 * stages that work inside one arena. Not installed; tests use kt/kokoro_stages.h. */
#ifndef KT_KOKORO_IMPL_H
#define KT_KOKORO_IMPL_H

#include "kt/checkpoint.h"
#include "kt/config.h"
#include "kt/fftconv.h"
#include "kt/kernels.h"
#include "kt/kokoro.h"
#include "kt/ops.h"
#include "kt/quant.h"
#include "kt/winograd.h"

#define KT_MAX_LAYERS 8    /* text encoder CNN depth / duration encoder layers */
#define KT_MAX_UPS 4       /* generator upsample stages */
#define KT_MAX_STRIDE 16   /* ConvTranspose1d strides run by phases (larger: sgemm + col2im) */
#define KT_MAX_DIL 4       /* dilations per AdaINResBlock1 */
/* Smallest resblock kernel run by Winograd F(4,4) when kt_model_params.winograd is on: in
 * float32 compute kernel 3 as well (one piece of 4 taps whose last one is zero: 6 points, 1.5
 * products per output instead of 3); in bfloat16 compute (KT_WINOGRAD_BF16) from
 * KT_WINO_BF16_MIN_K. */
#define KT_WINO_MIN_K 3
#define KT_WINO_BF16_MIN_K 5
/* Resblock convs run by FFT overlap-save instead of Winograd when kt_model_params.fft is on:
 * kernels of KT_FFT_MIN_K taps and more at up to KT_FFT_MAX_CH channels (at kernel 7, and at 256
 * channels, the FFT's transforms cost what its fewer products save; 256 channels would also
 * take 12 MB per conv). */
#define KT_FFT_MIN_K 11
#define KT_FFT_MAX_CH 128
#define KT_HARMONICS 9     /* SineGen harmonic_num 8 + 1 (hard-coded upstream) */
#define KT_SOURCE_SR 24000 /* SineGen sampling rate (hard-coded upstream) */
/* Default of kt_model.gen_lowmem (~13 s of audio for Kokoro); kt_model_params.gen_lowmem
 * and env KT_GEN_LOWMEM=N (floats) at load override it (tests: 0 runs every chunk on the low-memory schedule). Compact
 * weight files lower it: one stage buffer may hold at most a quarter of the file's bytes
 * (KT_GEN_LOWMEM_SHARE), so that the fast schedule's 4th buffer never dominates the peak,
 * but not below KT_GEN_LOWMEM_FLOOR (tiny test models keep the fast schedule). */
#define KT_GEN_LOWMEM_DEFAULT ((size_t)8 << 20)
#define KT_GEN_LOWMEM_SHARE 4
#define KT_GEN_LOWMEM_FLOOR ((size_t)1 << 20)

/* AdainResBlk1d (StyleTTS2): predictor F0/N blocks, decoder encode/decode. */
typedef struct {
    int din, dout, up;
    kt_linear norm1, norm2; /* fc: style -> [2*din], [2*dout] */
    kt_convt1d pool;        /* depthwise, only when up */
    kt_conv1d conv1, conv2;
    kt_conv1d sc; /* conv1x1 without bias, only when din != dout */
    kt_packed pk1, pk2, pksc; /* packed weights (kt/kernels.h) of conv1, conv2, sc */
} kt_adain_resblk;

/* AdaINResBlock1 (iSTFTNet generator resblocks and noise_res). */
typedef struct {
    int ch, k, n;
    kt_linear adain1[KT_MAX_DIL], adain2[KT_MAX_DIL];
    const float *alpha1[KT_MAX_DIL], *alpha2[KT_MAX_DIL];
    kt_conv1d convs1[KT_MAX_DIL], convs2[KT_MAX_DIL];
    kt_packed pk1[KT_MAX_DIL], pk2[KT_MAX_DIL]; /* packed weights (codes NULL where wq1 / wq2 is set) */
    kt_wino wq1[KT_MAX_DIL], wq2[KT_MAX_DIL];   /* Winograd weights (kt/winograd.h); u NULL: direct */
} kt_gen_resblk;

/* A BiLSTM whose matrices may stay compact (f16/bf16/q8/q4 kt_qview, q[d][0] input, q[d][1]
 * hidden; NULL: l's float32 pointer); decoded into the arena for each run. */
typedef struct {
    kt_lstm l;
    const kt_qview *q[2][2];
} kt_lstm_w;

#define KT_ALBERT_LINEARS 7 /* map_in, q, k, v, dense, ffn, ffn_out */

typedef struct {
    const float *word, *pos, *type, *ln_g, *ln_b;
    kt_linear map_in, q, k, v, dense, ffn, ffn_out;
    const float *attn_ln_g, *attn_ln_b, *full_ln_g, *full_ln_b;
    /* The float32 linears' weights transposed for kt_linear_t_forward (kt/kernels.h), in the
     * order above; NULL where the weight stays compact (decoded per call, OpenBLAS). */
    const float *wt[KT_ALBERT_LINEARS];
} kt_albert_w;

/* src[i] = ALBERT's linear i, in the order of kt_albert_w.wt. */
static inline void kt_albert_linear_list(const kt_albert_w *w, const kt_linear *src[KT_ALBERT_LINEARS])
{
    const kt_linear *all[KT_ALBERT_LINEARS] = {&w->map_in, &w->q, &w->k, &w->v, &w->dense, &w->ffn, &w->ffn_out};
    for (int i = 0; i < KT_ALBERT_LINEARS; i++)
        src[i] = all[i];
}

typedef struct {
    const float *emb; /* [n_token, hid] */
    kt_conv1d conv[KT_MAX_LAYERS];
    kt_packed pk[KT_MAX_LAYERS];
    const float *gamma[KT_MAX_LAYERS], *beta[KT_MAX_LAYERS];
    kt_lstm_w lstm;
} kt_textenc_w;

typedef struct {
    kt_linear bert_enc;
    kt_lstm_w dlstm[KT_MAX_LAYERS]; /* DurationEncoder lstms.{0,2,4} */
    kt_linear daln[KT_MAX_LAYERS]; /* DurationEncoder lstms.{1,3,5}.fc */
    kt_lstm_w lstm;
    kt_linear dur_proj;
    kt_lstm_w shared;
    kt_adain_resblk f0[3], n[3];
    kt_conv1d f0_proj, n_proj;
    kt_packed pk_f0_proj, pk_n_proj;
} kt_predictor_w;

typedef struct {
    kt_conv1d f0_conv, n_conv, asr_res;
    kt_packed pk_f0_conv, pk_n_conv, pk_asr; /* codes NULL for the strided ones */
    kt_adain_resblk encode, decode[4];
} kt_decoder_w;

typedef struct {
    kt_linear l_linear; /* [1, 9] */
    kt_conv1d noise_convs[KT_MAX_UPS];
    kt_packed pk_noise[KT_MAX_UPS]; /* codes NULL for the strided ones */
    kt_gen_resblk noise_res[KT_MAX_UPS];
    kt_convt1d ups[KT_MAX_UPS];
    kt_packed ups_ph[KT_MAX_UPS][KT_MAX_STRIDE]; /* phase weights; [i][0].codes NULL: ups[i].w */
    kt_gen_resblk res[KT_MAX_UPS * KT_MAX_DIL];
    kt_conv1d conv_post;
    kt_packed pk_post;
    float window[64]; /* periodic Hann of n_fft */
} kt_generator_w;

/* Weight buffers a model owns: small ones from malloc (bytes[i] 0), large ones mapped
 * (bytes[i] their mapped length) so that freeing them gives the memory back to the system. */
typedef struct {
    float **p;
    size_t *bytes;
    size_t n, cap;
} kt_owned;

struct kt_model {
    kt_config cfg;
    kt_checkpoint *ckpt;
    int n_threads;
    kt_exec *ex; /* ISA dispatch + thread pool, created at load */
    int bf16;    /* stride-1 convs packed as KT_PACK_BF16X2 (bfloat16 compute) */
    int winograd; /* generator resblock convs of kernel >= KT_WINO_MIN_K by Winograd F(4,4) */
    int fft;      /* ... and of kernel >= KT_FFT_MIN_K at <= KT_FFT_MAX_CH channels by FFT overlap-save */
    size_t gen_lowmem; /* stage buffers of more floats run the generator's low-memory schedule */
    kt_owned keep;  /* folded / converted / packed weights of the generator's last stage */
    kt_owned early; /* ... of its stages before the last: freed on long chunks once run */
    kt_owned pre;   /* ... of everything before the generator: freed on long chunks */
    int pre_bound, early_bound; /* 0: released; kt_model_synthesize binds them again first */
    int release_weights; /* kt_model_params.release_weights: 0 leaves every weight bound */
    int blas_serial;     /* kt_model_params.blas_serial */
    float *work;         /* the frame side's work buffer, kept between calls (see work_take) */
    size_t work_cap;     /* its floats */
    int work_frames;     /* kt_model_params.work_frames */
    /* derived dimensions */
    int hid, sty, n_layer, bert_h, bert_e, heads, inter, dec_dim, asr_dim, uic, n_ups, n_fft, hop, up_total;
    kt_albert_w bert;
    kt_textenc_w tenc;
    kt_predictor_w pred;
    kt_decoder_w dec;
    kt_generator_w gen;
};

/* Binds again the weights a long chunk released (release_pre in kokoro.c, and
 * kt_model_release_early): the same folding and packing as at load, so the same floats (only
 * ENOMEM can fail: names and shapes were checked at load). KT_OK at once when all are bound. */
kt_status kt_model_bind_released(kt_model *m, kt_error *err);

/* Frees the weights of the generator's stages before the last (its low-memory schedule calls
 * it once they have run); kt_model_bind_released binds them again. */
void kt_model_release_early(kt_model *m);

/* A Conv1d with its packed weights wp (wp->codes NULL: c->w and im2col + sgemm). */
size_t kt_conv_need(const kt_conv1d *c, const kt_packed *wp, int L);
kt_status kt_conv_run(const kt_conv1d *c, const kt_packed *wp, const float *x, int L, float *y, kt_arena *a,
                      kt_error *err);

/* Scratch and run of a kt_lstm_w (kt_lstm_forward on the decoded matrices). */
size_t kt_lstm_need(const kt_lstm_w *w, int L);
kt_status kt_lstm_run(const kt_lstm_w *w, const float *x, int L, float *y, kt_arena *a, kt_error *err);

/* Samples per frame (2 * prod(upsample_rates) * hop: 600 for Kokoro). */
int kt_kokoro_samples_per_frame(const kt_model *m);
/* STFT frames of the harmonic source for F frames: n_samples / hop + 1. */
int kt_kokoro_stft_frames(const kt_model *m, int F);

/* Stages inside an arena (outputs in caller buffers; scratch from a). Each
 * *_need returns the floats of scratch it takes (an upper bound). */
size_t kt_albert_need(const kt_model *m, int T);
kt_status kt_albert_run(const kt_model *m, const int *ids, int T, float *out, kt_arena *a, kt_error *err);

size_t kt_textenc_need(const kt_model *m, int T);
kt_status kt_textenc_run(const kt_model *m, const int *ids, int T, float *t_en, kt_arena *a, kt_error *err);

size_t kt_duration_need(const kt_model *m, int T);
kt_status kt_duration_run(const kt_model *m, const float *bert_out, int T, const float *s_pred, float speed,
                          float *d, float *dur, int *pred_dur, kt_arena *a, kt_error *err);

size_t kt_f0n_need(const kt_model *m, int F);
kt_status kt_f0n_run(const kt_model *m, const float *en, int F, const float *s_pred, float *f0, float *n,
                     kt_arena *a, kt_error *err);

size_t kt_adain_resblk_need(const kt_adain_resblk *b, int sty, int L);
kt_status kt_adain_resblk_run(const kt_adain_resblk *b, const float *x, int L, const float *s, float *y,
                              kt_arena *a, kt_error *err);

size_t kt_decoder_need(const kt_model *m, int F);
kt_status kt_decoder_run(const kt_model *m, const float *asr, const float *f0, const float *n, int F,
                         const float *s_dec, float *x_out, kt_arena *a, kt_error *err);

size_t kt_source_need(const kt_model *m, int F);
void kt_source_run(const kt_model *m, const float *f0, int F, uint32_t seed, float *har_source);

void kt_stft_run(const kt_model *m, const float *x, int n, float *har);
void kt_istft_run(const kt_model *m, const float *spec, const float *phase, int frames, float *audio);

size_t kt_generator_need(const kt_model *m, int F);
/* 1 when F frames run the generator's low-memory schedule (long chunks). */
int kt_generator_lowmem(const kt_model *m, int F);
/* 1 when that schedule recomputes the first conv of resblock j (of a stage's nk) block by block. */
int kt_generator_lm_recomputed(int nk, int j);
/* drop: on the low-memory schedule the whole pages of x and har are given back to the
 * system after their last use (their contents are then undefined). */
kt_status kt_generator_run(kt_model *m, const float *x, int F, const float *s_dec, const float *har,
                           int drop, float *audio, kt_arena *a, kt_error *err);

/* Gives the whole pages inside [p, p + bytes) of an anonymous buffer back to the system
 * (madvise MADV_DONTNEED: they read as zeros afterwards). */
void kt_drop_pages(const void *p, size_t bytes);

#endif
