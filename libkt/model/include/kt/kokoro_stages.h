/* kt/kokoro_stages.h - each stage of the Kokoro forward pass on injected inputs
 * (for tests and debugging: feed a stage the reference's input, compare its output).
 *
 * Layouts follow spec/kokoro-architecture.md: sequences [T, C] time-major,
 * signals [C, L] channel-major, T counts BOS and EOS, F is the frame count.
 * Every function allocates its own work buffer (one malloc) and frees it; the
 * caller provides the output buffers. All return KT_EINVAL for bad sizes or
 * ids outside 0..n_token-1, KT_ENOMEM when the work buffer cannot be allocated. */
#ifndef KT_KOKORO_STAGES_H
#define KT_KOKORO_STAGES_H

#include <stddef.h>
#include <stdint.h>

#include "kt/error.h"
#include "kt/kokoro.h"

/* Dimensions a caller needs to size stage buffers. */
typedef struct {
    int hidden;          /* hidden_dim (512) */
    int style;           /* style_dim (128) */
    int bert_hidden;     /* plbert.hidden_size (768) */
    int max_dur;         /* 50 */
    int gen_channels;    /* istftnet.upsample_initial_channel (512): decoder output channels */
    int n_fft, hop;      /* 20, 5 */
    int samples_per_frame; /* 600 */
} kt_stage_dims;

/* Fills d from the model's config. */
void kt_stage_get_dims(const kt_model *m, kt_stage_dims *d);

/* The text-side, decoder and generator stages take a non-const model: a long
 * kt_model_synthesize gives weights' memory back while its generator runs, and they bind
 * them again first. */

/* ALBERT: ids[T] (with BOS/EOS) -> out[T, bert_hidden]. */
kt_status kt_stage_albert(kt_model *m, const int *ids, int T, float *out, kt_error *err);

/* TextEncoder: ids[T] -> t_en[hidden, T]. */
kt_status kt_stage_textenc(kt_model *m, const int *ids, int T, float *t_en, kt_error *err);

/* bert_encoder + DurationEncoder + duration head: bert_out[T, bert_hidden], s_pred[style]
 * -> d[T, hidden + style], dur[T] (sum of sigmoids / speed), pred_dur[T] (>= 1). */
kt_status kt_stage_duration(kt_model *m, const float *bert_out, int T, const float *s_pred, float speed,
                            float *d, float *dur, int *pred_dur, kt_error *err);

/* F0Ntrain: en[hidden + style, F], s_pred -> f0[2F], n[2F]. */
kt_status kt_stage_f0n(kt_model *m, const float *en, int F, const float *s_pred, float *f0, float *n,
                       kt_error *err);

/* Decoder front (F0/N convs, encode, asr_res, decode.0-3): asr[hidden, F], f0[2F],
 * n[2F], s_dec[style] -> x[gen_channels, 2F] (the generator's input). */
kt_status kt_stage_decoder(kt_model *m, const float *asr, const float *f0, const float *n, int F,
                           const float *s_dec, float *x, kt_error *err);

/* Harmonic source: f0[2F] -> har_source[samples_per_frame * F] with noise seed. */
kt_status kt_stage_source(const kt_model *m, const float *f0, int F, uint32_t seed, float *har_source,
                          kt_error *err);

/* The first n unit normals of the harmonic-source noise stream for seed (lowbias32 hash of the
 * index and seed, Box-Muller; the PyTorch reference draws the same stream). */
void kt_stage_noise(uint32_t seed, size_t n, float *z);

/* STFT of x[n] -> har[n_fft + 2, n/hop + 1]: magnitudes (n_fft/2+1 rows), then phases. */
kt_status kt_stage_stft(const kt_model *m, const float *x, int n, float *har, kt_error *err);

/* Generator trunk: x[gen_channels, 2F], s_dec, har[n_fft + 2, M = 2F*prod(rates) + 1]
 * -> audio[samples_per_frame * F]. */
kt_status kt_stage_generator(kt_model *m, const float *x, int F, const float *s_dec, const float *har,
                             float *audio, kt_error *err);

/* iSTFT of spec * exp(i phase) (each [n_fft/2 + 1, M]) -> audio[hop * (M - 1)]. */
kt_status kt_stage_istft(const kt_model *m, const float *spec, const float *phase, int M, float *audio,
                         kt_error *err);

#endif
