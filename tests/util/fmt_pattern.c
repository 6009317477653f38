/* fmt_pattern.c - see fmt_pattern.h. */
#include "fmt_pattern.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

double fmt_pattern_value(kt_dtype d, int64_t i, int seed)
{
    int64_t r = (i * 37 + (int64_t)seed * 11) % 201 - 100;
    switch (d) {
    case KT_F32: case KT_F64: case KT_F16: case KT_BF16: return (double)r / 8.0;
    case KT_U8: return (double)((i * 37 + (int64_t)seed * 11) % 256);
    case KT_BOOL: return (i * 37 + (int64_t)seed * 11) % 3 == 0;
    default: return (double)r;
    }
}

static void store(kt_dtype d, unsigned char *p, double v)
{
    switch (d) {
    case KT_F32: { float f = (float)v; memcpy(p, &f, 4); break; }
    case KT_F64: memcpy(p, &v, 8); break;
    case KT_F16: { uint16_t h = kt_f32_to_f16((float)v); memcpy(p, &h, 2); break; }
    case KT_BF16: { uint16_t h = kt_f32_to_bf16((float)v); memcpy(p, &h, 2); break; }
    case KT_I8: p[0] = (unsigned char)(int8_t)v; break;
    case KT_I16: { int16_t x = (int16_t)v; memcpy(p, &x, 2); break; }
    case KT_I32: { int32_t x = (int32_t)v; memcpy(p, &x, 4); break; }
    case KT_I64: { int64_t x = (int64_t)v; memcpy(p, &x, 8); break; }
    case KT_U8: case KT_BOOL: p[0] = (unsigned char)v; break;
    default: break;
    }
}

void fmt_pattern_make(kt_tensor *t, kt_dtype d, int ndim, const int64_t *shape, int seed)
{
    kt_error err;
    assert_int_equal(kt_tensor_alloc(t, d, ndim, shape, &err), KT_OK);
    int64_t n = kt_tensor_numel(t);
    size_t es = kt_dtype_size(d);
    for (int64_t i = 0; i < n; i++)
        store(d, (unsigned char *)t->owned + i * (int64_t)es, fmt_pattern_value(d, i, seed));
}

void fmt_assert_same_values(const kt_tensor *t, const kt_tensor *want)
{
    assert_int_equal(t->dtype, want->dtype);
    assert_int_equal(t->ndim, want->ndim);
    for (int d = 0; d < t->ndim; d++)
        assert_int_equal(t->shape[d], want->shape[d]);
    int64_t n = kt_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        double a = kt_tensor_get_f64(t, i), b = kt_tensor_get_f64(want, i);
        if (a != b)
            fail_msg("element %lld: %g != %g", (long long)i, a, b);
    }
}

void fmt_tmp_path(char *buf, size_t n, const char *stem)
{
    snprintf(buf, n, "/tmp/kt_test_%ld_%s", (long)getpid(), stem);
}
