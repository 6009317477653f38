/* kt/kokoro.h - Kokoro-82M inference: load a checkpoint, turn phoneme ids into audio.
 *
 * A kt_model holds the checkpoint mapping, the weights in the forms the kernels
 * read (float32, bfloat16, int8 or 4-bit packed; weight-norm pairs folded at
 * load) and the dimensions of its kt_config. Synthesis runs the
 * whole forward pass (ALBERT, predictor, text encoder, decoder, iSTFTNet
 * generator) for one utterance; all work buffers are allocated once per call.
 * kt_model_synthesize on the model itself serves one thread at a time (it uses the
 * model's thread pool). For concurrent callers, load the model with release_weights 0
 * and give each thread a kt_synth_state: the states share the weights read-only and
 * each has its own thread pool. The library never prints or exits. */
#ifndef KT_KOKORO_H
#define KT_KOKORO_H

#include <stddef.h>
#include <stdint.h>

#include "kt/config.h"
#include "kt/error.h"
#include "kt/kernels.h"
#include "kt/tensor.h"

#define KT_SAMPLE_RATE 24000

typedef struct kt_model kt_model;

#define KT_WINOGRAD_DEFAULT 1 /* kt_model_params.winograd of kt_model_default_params */
#define KT_WINOGRAD_BF16 2    /* kt_model_params.winograd: in bfloat16 compute (bf16 1) as well */

typedef struct {
    int n_threads; /* threads (OpenBLAS and kt's own pool) while synthesizing; 0 = OpenBLAS's default / all CPUs */
    int bf16;      /* 1: stride-1 convolutions in bfloat16 (weights and inputs rounded, float32 sums) with
                      AVX512_BF16 dot products when the CPU has them (else ignored) */
    int max_isa;   /* highest instruction set of kt's kernels (KT_ISA_GENERIC, _AVX2, _AVX512): the best
                      the CPU has up to this one; env KT_ISA lowers it further */
    size_t gen_lowmem; /* generator stage buffers of more floats run its low-memory schedule; 0: automatic
                          (about 13 s of audio, less for compact files); env KT_GEN_LOWMEM overrides */
    int release_weights; /* 1: a long chunk frees the weights it has finished with (about 200 MB for
                            Kokoro) and the next call binds them again; no kt_synth_state can then be
                            made. 0: weights are read-only after load */
    int blas_serial; /* 1: synthesis sets OpenBLAS to one thread (process-wide; kt threads the products
                        itself, so the output does not depend on the thread count); 0: leave OpenBLAS as is */
    int winograd; /* 1: the generator's float32 resblock convolutions of kernel 3, 7 and 11 run as
                     Winograd F(4,4) (about half the multiply-adds; kt/winograd.h; their weights take
                     ~1.9-2x the memory); KT_WINOGRAD_BF16: those of kernel 7 and 11 in bf16 compute as
                     well (products in bfloat16: faster, larger error); 0: direct. Env
                     KT_WINOGRAD=on|bf16|off overrides */
    int fft; /* 1: of those, the convolutions of kernel 11 at up to 128 channels run by FFT overlap-save
                instead (kt/fftconv.h: fewer multiply-adds still, within float32 noise of the direct
                form), in float32 compute with the AVX-512 kernels (elsewhere Winograd is faster);
                their weights take ~2.2x Winograd's memory. 0: Winograd. Env KT_FFT=on|off overrides */
    int work_frames; /* > 0 with release_weights 1 (the model synthesizes itself): the work buffer of a
                        synthesis of this many frames (40 per second of audio), at most the largest one
                        kept between calls (about 3.5 s of audio for Kokoro), is made at load and its
                        pages touched by the pool's threads, so that a first synthesis that fits takes no
                        page faults in it. kt_synth_states make theirs on their first run. 0 (default):
                        the first synthesis makes it */
} kt_model_params;

/* Default load parameters (n_threads 0, bf16 0, max_isa KT_ISA_AVX512, gen_lowmem 0,
 * release_weights 1, blas_serial 1, winograd KT_WINOGRAD_DEFAULT, fft 1, work_frames 0). */
kt_model_params kt_model_default_params(void);

/* Opens weights_path (a Kokoro .pth, or any format kt_checkpoint_open reads),
 * checks that every tensor the config implies exists with the implied shape,
 * folds weight norm and returns the model in *out. cfg is copied (the caller
 * keeps ownership; NULL means the real Kokoro v1.0 config); p may be NULL for the defaults.
 * Errors: KT_ENOTFOUND "not a Kokoro checkpoint: missing tensor NAME" for the
 * first missing tensor; KT_EFORMAT "config does not match weights: NAME has
 * shape [..] but the config implies [..]" for the first shape mismatch, or a
 * non-float tensor; any kt_checkpoint_open error; KT_ENOMEM. */
kt_status kt_model_load(const char *weights_path, const kt_config *cfg, const kt_model_params *p,
                        kt_model **out, kt_error *err);

/* Lists every tensor kt_model_load requires for cfg, in binding order, with the shape
 * the config implies (dtype float32, data NULL) appended to out (the caller frees it
 * with kt_tensor_list_free). Errors: KT_EUNSUPPORTED for a config kt cannot run. */
kt_status kt_kokoro_expected_tensors(const kt_config *cfg, kt_tensor_list *out, kt_error *err);

/* Frees the model, its folded weights and the checkpoint mapping. NULL is allowed. */
void kt_model_free(kt_model *m);

/* The model's copy of its config. */
const kt_config *kt_model_config(const kt_model *m);

/* Number of floats in one style vector (voice row): 2 * style_dim (256 for Kokoro). */
int kt_model_style_size(const kt_model *m);

/* The threads of the model's pool and of each kt_synth_state (n_threads resolved). */
int kt_model_threads(const kt_model *m);

/* Floats of the work buffer m keeps between kt_model_synthesize calls (0: none), and how many of
 * its bytes are resident in memory (mincore; 0 where it is not available). For tests and memory
 * reports. */
size_t kt_model_work_floats(const kt_model *m);
size_t kt_model_work_resident(const kt_model *m);

/* Largest n_ids kt_model_synthesize accepts (max_position_embeddings - 2 = 510). */
int kt_model_max_ids(const kt_model *m);

/* The speaking rates kt_model_synthesize accepts (both included): a token lasts at most
 * max_dur / speed frames, so the bounds keep every duration an ordinary int. */
#define KT_SPEED_MIN 0.1f
#define KT_SPEED_MAX 10.0f

typedef struct {
    float speed;   /* divides the predicted durations before rounding; default 1.0,
                      KT_SPEED_MIN..KT_SPEED_MAX */
    uint32_t seed; /* seed of the harmonic source's noise (a counter-based generator: the same seed gives
                      the same samples at any thread count); default 0 */
    size_t max_samples; /* > 0: when the predicted durations make more samples, nothing is synthesized:
                           the call returns KT_OK with the durations and n_tokens set, audio NULL and
                           n_samples 0 (the caller splits the input); default 0, no limit but the model's */
} kt_synth_params;

/* Default synthesis parameters (speed 1.0, seed 0, max_samples 0). */
kt_synth_params kt_synth_default_params(void);

typedef struct {
    float *audio;     /* owned, n_samples float32 samples at KT_SAMPLE_RATE */
    size_t n_samples; /* 600 * total frames for Kokoro (hop * prod(upsample_rates) per frame) */
    int *durations;   /* owned, frames per token including BOS and EOS (n_tokens entries) */
    int n_tokens;     /* n_ids + 2 */
} kt_synth_result;

/* Frees what the result owns and zeroes it; safe on a zeroed result. */
void kt_synth_result_free(kt_synth_result *r);

/* Synthesizes the phoneme ids (vocab ids 1..n_token-1, WITHOUT the BOS/EOS 0s,
 * which this function adds) with style = the voice row (2*style_dim floats:
 * the first style_dim drive the decoder, the rest the predictor). p may be
 * NULL for the defaults. On success *out owns the audio and durations (the
 * durations only when p->max_samples stopped it); on error *out is zeroed.
 * Errors: KT_EINVAL for n_ids < 1 ("empty input"), an id outside 1..n_token-1
 * (the message names its position and value), a NULL style or one with a
 * non-finite value, speed <= 0 or not finite; KT_ELIMIT for n_ids > kt_model_max_ids; KT_ENOMEM. */
kt_status kt_model_synthesize(kt_model *m, const int *ids, int n_ids, const float *style,
                              const kt_synth_params *p, kt_synth_result *out, kt_error *err);

/* Per-caller synthesis state over a shared model: its own thread pool (the model's
 * n_threads and ISA), the weights read from the model. Any number of states may run at
 * once from different threads; the model must outlive them.
 * Errors: KT_EINVAL when the model was loaded with release_weights 1; KT_ENOMEM; KT_EIO. */
typedef struct kt_synth_state kt_synth_state;
kt_status kt_synth_state_create(const kt_model *m, kt_synth_state **out, kt_error *err);

/* Frees the state (not the model). NULL is allowed. */
void kt_synth_state_free(kt_synth_state *s);

/* The next runs on s use n of its pool's threads (1 .. the model's n_threads); the output
 * bytes do not depend on it. Not while a run is in progress on s. */
void kt_synth_state_set_threads(kt_synth_state *s, int n);

/* While *flag is nonzero, the threads of s sleep as soon as they run out of work instead of
 * yielding the CPU for up to 1 ms first (kt_exec_set_crowded): for callers that share the CPUs
 * and hold more threads than there are CPUs. flag (NULL: never) must outlive s's runs. */
void kt_synth_state_set_crowded(kt_synth_state *s, const _Atomic int *flag);

/* Floats of the work buffer s keeps between runs (0: none); kt_model_work_floats of its view. */
size_t kt_synth_state_work_floats(const kt_synth_state *s);

/* kt_model_synthesize on the state: same contract, same output bytes. */
kt_status kt_synth_state_run(kt_synth_state *s, const int *ids, int n_ids, const float *style,
                             const kt_synth_params *p, kt_synth_result *out, kt_error *err);

#endif
