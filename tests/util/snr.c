/* snr.c - see snr.h. */
#include "snr.h"

#include <math.h>

double test_snr_db(const float *ref, const float *x, size_t n)
{
    double sig = 0, err = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)x[i] - ref[i];
        sig += (double)ref[i] * ref[i];
        err += e * e;
    }
    return err == 0 ? 300.0 : 10.0 * log10(sig / err);
}
