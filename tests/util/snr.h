/* snr.h - signal-to-noise ratio of one float signal against a reference, for the tests and
 * bench/stage_snr. */
#ifndef KT_TEST_SNR_H
#define KT_TEST_SNR_H

#include <stddef.h>

/* 10 log10(sum ref^2 / sum (x - ref)^2) over n values, in double precision; 300 when x equals
 * ref exactly. */
double test_snr_db(const float *ref, const float *x, size_t n);

#endif
