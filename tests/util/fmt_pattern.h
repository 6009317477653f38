/* fmt_pattern.h - test helper for the format tests: tensors filled with a value
 * pattern that is exact in every dtype (also re-computed by tests/check_formats.py),
 * and a temporary-path helper. */
#ifndef KT_TEST_FMT_PATTERN_H
#define KT_TEST_FMT_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#include "kt/tensor.h"

/* Expected value of row-major element i of a pattern tensor of dtype d made with seed:
 * k = (i*37 + seed*11) % 201 - 100; floats k/8, signed ints k, u8 (i*37+seed*11) % 256,
 * bool ((i*37+seed*11) % 3 == 0). */
double fmt_pattern_value(kt_dtype d, int64_t i, int seed);

/* Allocates an owned contiguous tensor of dtype/shape filled with the pattern. */
void fmt_pattern_make(kt_tensor *t, kt_dtype d, int ndim, const int64_t *shape, int seed);

/* Fails the current test unless every element of t equals the element of want (as doubles). */
void fmt_assert_same_values(const kt_tensor *t, const kt_tensor *want);

/* A path "/tmp/kt_test_<pid>_<stem>" in buf. */
void fmt_tmp_path(char *buf, size_t n, const char *stem);

#endif
