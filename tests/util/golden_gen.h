/* golden_gen.h - test helper: the generator stage's inputs and output in the golden files of a
 * folder (written by the PyTorch reference), for the tests of the generator's convolutions. */
#ifndef KT_TEST_GOLDEN_GEN_H
#define KT_TEST_GOLDEN_GEN_H

#include <stddef.h>

#include "kt/config.h"
#include "kt/kokoro.h"

typedef struct {
    const char *name;             /* the file's name */
    int F;                        /* frames (the sum of pred_dur) */
    size_t n;                     /* output samples */
    float *x, *har, *style, *ref; /* decode3, har, style, audio */
} golden_gen;

/* fn(user, case) for each .pt file of dir that holds har and audio, its samples n from m's
 * samples per frame; a case of more than max_audio samples is printed as skipped. Fails the
 * test when dir holds no .pt file. */
void golden_gen_each(const char *dir, const kt_model *m, size_t max_audio,
                     void (*fn)(void *user, const golden_gen *g), void *user);

/* Three models of one ISA (model i on 1 thread, 1 thread and 2 threads, its other parameters
 * set by params) and the check of their generator outputs a[0 .. 3) on a case. */
typedef struct {
    void (*params)(int i, kt_model_params *p);
    void (*check)(int isa, const golden_gen *c, float *const *a);
} golden_gen_test;

/* For each ISA from isa0 to isa1 that kt's kernels run on this CPU: the three models, their
 * generator stage on each golden case (golden_gen_each) checked by t->check, and models 1 and 2
 * (1 and 2 threads) giving the same bytes. The cases are the tiny model's (full 0:
 * $KT_TINY_CONFIG, $KT_TINY_MODEL, $KT_GOLDEN_DIR, defaults under fixtures/tiny/) or the
 * full-size random-weight model's (full 1: golden_full_paths, the test skipped when absent; only
 * cases of at most 40,000 samples unless $KT_GOLDEN_FULL_ALL is set). Env KT_WINOGRAD and KT_FFT
 * are unset first (the models' parameters decide). */
void golden_gen_run(int full, int isa0, int isa1, const golden_gen_test *t);

/* max |a - b| over max |b| (a NaN difference: infinity); *abs_d (may be NULL): max |a - b|. */
double golden_rel_diff(const float *a, const float *b, size_t n, double *abs_d);

#endif
