/* stats.c - tensor statistics and number formatting shared by reports. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt/report.h"

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static double median_of(float *v, int64_t n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_float);
    if (n % 2)
        return v[n / 2];
    return ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2.0;
}

kt_status kt_tensor_stats(const kt_tensor *t, int want_median, kt_stats *out, kt_error *err)
{
    int64_t n = kt_tensor_numel(t);
    float *copy = NULL;
    memset(out, 0, sizeof *out);
    if (want_median && n > 0) {
        copy = malloc((size_t)n * sizeof *copy);
        if (!copy)
            return kt_error_set(err, KT_ENOMEM, "out of memory for the median of %lld values", (long long)n);
    }
    double sum = 0, mn = INFINITY, mx = -INFINITY;
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = kt_tensor_get_f64(t, i);
        if (!isfinite(v)) {
            out->nonfinite++;
            continue;
        }
        if (copy)
            copy[k] = (float)v;
        k++;
        sum += v;
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
    }
    out->count = k;
    if (k == 0) {
        free(copy);
        return KT_OK;
    }
    out->min = mn;
    out->max = mx;
    out->mean = sum / (double)k;
    double ss = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = kt_tensor_get_f64(t, i);
        if (isfinite(v))
            ss += (v - out->mean) * (v - out->mean);
    }
    out->std = sqrt(ss / (double)k);
    if (copy)
        out->median = median_of(copy, k);
    free(copy);
    return KT_OK;
}

void kt_format_double_repr(double v, char *buf, size_t n)
{
    char digits[40];
    int prec, exp10;
    if (isnan(v)) {
        snprintf(buf, n, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, n, v < 0 ? "-inf" : "inf");
        return;
    }
    if (v == 0) {
        snprintf(buf, n, signbit(v) ? "-0.0" : "0.0");
        return;
    }
    /* shortest %.Ne that reads back exactly */
    for (prec = 0; prec < 17; prec++) {
        snprintf(digits, sizeof digits, "%.*e", prec, v);
        if (strtod(digits, NULL) == v)
            break;
    }
    snprintf(digits, sizeof digits, "%.*e", prec, v);
    char *e = strchr(digits, 'e');
    exp10 = atoi(e + 1);
    *e = '\0';
    /* mantissa digits without sign and point */
    char mant[40];
    size_t m = 0;
    int neg = digits[0] == '-';
    for (char *p = digits + neg; *p; p++)
        if (*p != '.')
            mant[m++] = *p;
    mant[m] = '\0';
    char out[64];
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    if (exp10 >= 16 || exp10 < -4) {
        out[o++] = mant[0];
        if (m > 1) {
            out[o++] = '.';
            for (size_t i = 1; i < m; i++)
                out[o++] = mant[i];
        }
        o += (size_t)snprintf(out + o, sizeof out - o, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    } else if (exp10 < 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = -1; i > exp10; i--)
            out[o++] = '0';
        for (size_t i = 0; i < m; i++)
            out[o++] = mant[i];
    } else {
        for (int i = 0; i <= exp10; i++)
            out[o++] = (size_t)i < m ? mant[i] : '0';
        out[o++] = '.';
        if ((size_t)exp10 + 1 >= m)
            out[o++] = '0';
        for (size_t i = (size_t)exp10 + 1; i < m; i++)
            out[o++] = mant[i];
    }
    out[o] = '\0';
    snprintf(buf, n, "%s", out);
}

void kt_format_thousands(int64_t v, char *buf, size_t n)
{
    char raw[32], out[48];
    int len = snprintf(raw, sizeof raw, "%lld", (long long)(v < 0 ? -v : v));
    size_t o = 0;
    if (v < 0)
        out[o++] = '-';
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = raw[i];
    }
    out[o] = '\0';
    snprintf(buf, n, "%s", out);
}
