/* golden.h - test helper: tensors of a golden reference file (written by the PyTorch
 * reference) as float32 arrays. */
#ifndef KT_TEST_GOLDEN_H
#define KT_TEST_GOLDEN_H

#include <stddef.h>

#include "kt/checkpoint.h"

/* Tensor name of g as a malloc'd float32 array of *n elements (n may be NULL); NULL when it is
 * absent or cannot be read. */
float *golden_f32(const kt_checkpoint *g, const char *name, size_t *n);

/* golden_f32, failing the current test when the tensor is absent or unreadable. */
float *golden_f32_or_fail(const kt_checkpoint *g, const char *name, size_t *n);

/* The paths (n bytes each) of the full-size random-weight fixture in $KT_FIXTURES (default
 * build/fixtures; make fixtures writes it): model, config and golden folder. 0 when the model
 * and the folder are there; else -1 after printing "SKIP test: ... absent". */
int golden_full_paths(const char *test, char *model, char *cfg, char *dir, size_t n);

#endif
