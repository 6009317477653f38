/* tensor.c - kt_tensor views, dtype helpers, half/bfloat16 conversion, named lists. */
#include "kt/tensor.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    const char *torch;
    size_t size;
} dtype_info[KT_DTYPE_COUNT] = {
    [KT_F32] = {"float32", "torch.float32", 4},  [KT_F64] = {"float64", "torch.float64", 8},
    [KT_F16] = {"float16", "torch.float16", 2},  [KT_BF16] = {"bfloat16", "torch.bfloat16", 2},
    [KT_I8] = {"int8", "torch.int8", 1},         [KT_I16] = {"int16", "torch.int16", 2},
    [KT_I32] = {"int32", "torch.int32", 4},      [KT_I64] = {"int64", "torch.int64", 8},
    [KT_U8] = {"uint8", "torch.uint8", 1},       [KT_BOOL] = {"bool", "torch.bool", 1},
};

size_t kt_dtype_size(kt_dtype d)
{
    return (unsigned)d < KT_DTYPE_COUNT ? dtype_info[d].size : 0;
}

const char *kt_dtype_name(kt_dtype d)
{
    return (unsigned)d < KT_DTYPE_COUNT ? dtype_info[d].name : "invalid";
}

const char *kt_dtype_torch_name(kt_dtype d)
{
    return (unsigned)d < KT_DTYPE_COUNT ? dtype_info[d].torch : "invalid";
}

int kt_dtype_parse(const char *name, kt_dtype *out)
{
    static const struct {
        const char *alias;
        kt_dtype d;
    } aliases[] = {{"f32", KT_F32}, {"fp32", KT_F32}, {"f64", KT_F64}, {"fp64", KT_F64},
                   {"f16", KT_F16}, {"fp16", KT_F16}, {"half", KT_F16}, {"bf16", KT_BF16},
                   {"i8", KT_I8},   {"u8", KT_U8},    {"i16", KT_I16},  {"i32", KT_I32},
                   {"i64", KT_I64}};
    for (int d = 0; d < KT_DTYPE_COUNT; d++)
        if (strcmp(name, dtype_info[d].name) == 0 || strcmp(name, dtype_info[d].torch) == 0) {
            *out = (kt_dtype)d;
            return 0;
        }
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcasecmp(name, aliases[i].alias) == 0) {
            *out = aliases[i].d;
            return 0;
        }
    return -1;
}

int64_t kt_tensor_numel(const kt_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

uint64_t kt_tensor_nbytes(const kt_tensor *t)
{
    return (uint64_t)kt_tensor_numel(t) * kt_dtype_size(t->dtype);
}

int kt_tensor_is_contiguous(const kt_tensor *t)
{
    int64_t expect = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != expect)
            return 0;
        expect *= t->shape[i];
    }
    return 1;
}

/* Offset in elements of row-major logical index i. */
static int64_t strided_offset(const kt_tensor *t, int64_t i)
{
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        int64_t n = t->shape[d];
        if (n == 0)
            return 0;
        off += (i % n) * t->stride[d];
        i /= n;
    }
    return off;
}

static double element_f64(kt_dtype dtype, const unsigned char *p)
{
    switch (dtype) {
    case KT_F32: { float v; memcpy(&v, p, 4); return v; }
    case KT_F64: { double v; memcpy(&v, p, 8); return v; }
    case KT_F16: { uint16_t v; memcpy(&v, p, 2); return kt_f16_to_f32(v); }
    case KT_BF16: { uint16_t v; memcpy(&v, p, 2); return kt_bf16_to_f32(v); }
    case KT_I8: return (int8_t)p[0];
    case KT_I16: { int16_t v; memcpy(&v, p, 2); return v; }
    case KT_I32: { int32_t v; memcpy(&v, p, 4); return v; }
    case KT_I64: { int64_t v; memcpy(&v, p, 8); return (double)v; }
    case KT_U8: return p[0];
    case KT_BOOL: return p[0] != 0;
    default: return 0;
    }
}

const void *kt_tensor_element(const kt_tensor *t, int64_t i)
{
    return (const unsigned char *)t->data + strided_offset(t, i) * (int64_t)kt_dtype_size(t->dtype);
}

double kt_tensor_get_f64(const kt_tensor *t, int64_t i)
{
    return element_f64(t->dtype, kt_tensor_element(t, i));
}

kt_status kt_tensor_to_f32(const kt_tensor *t, float *out, kt_error *err)
{
    int64_t n = kt_tensor_numel(t);
    if (kt_dtype_size(t->dtype) == 0)
        return kt_error_set(err, KT_EINVAL, "invalid dtype %d", (int)t->dtype);
    if (t->dtype == KT_F32 && kt_tensor_is_contiguous(t)) {
        if (n > 0)
            memcpy(out, t->data, (size_t)n * 4);
        return KT_OK;
    }
    for (int64_t i = 0; i < n; i++)
        out[i] = (float)kt_tensor_get_f64(t, i);
    return KT_OK;
}

kt_status kt_tensor_alloc(kt_tensor *out, kt_dtype dtype, int ndim, const int64_t *shape, kt_error *err)
{
    size_t es = kt_dtype_size(dtype);
    uint64_t n = 1;
    if (es == 0 || ndim < 0 || ndim > KT_MAX_DIMS)
        return kt_error_set(err, KT_EINVAL, "bad dtype or rank");
    memset(out, 0, sizeof *out);
    out->dtype = dtype;
    out->ndim = ndim;
    for (int i = ndim - 1; i >= 0; i--) {
        if (shape[i] < 0)
            return kt_error_set(err, KT_EINVAL, "negative dimension");
        out->shape[i] = shape[i];
        out->stride[i] = (int64_t)n;
        if (shape[i] && n > UINT64_MAX / 16 / (uint64_t)shape[i])
            return kt_error_set(err, KT_ELIMIT, "tensor too large");
        n *= (uint64_t)shape[i];
    }
    if (n * es > (uint64_t)SIZE_MAX / 2)
        return kt_error_set(err, KT_ELIMIT, "tensor too large");
    out->owned = calloc(n ? (size_t)(n * es) : 1, 1);
    if (!out->owned)
        return kt_error_set(err, KT_ENOMEM, "out of memory for %llu bytes", (unsigned long long)(n * es));
    out->data = out->owned;
    return KT_OK;
}

kt_status kt_tensor_copy_contiguous(const kt_tensor *t, kt_tensor *out, kt_error *err)
{
    size_t es = kt_dtype_size(t->dtype);
    kt_status st = kt_tensor_alloc(out, t->dtype, t->ndim, t->shape, err);
    if (st)
        return st;
    int64_t n = kt_tensor_numel(t);
    unsigned char *dst = out->owned;
    const unsigned char *src = t->data;
    if (kt_tensor_is_contiguous(t)) {
        if (n > 0)
            memcpy(dst, src, (size_t)n * es);
        return KT_OK;
    }
    for (int64_t i = 0; i < n; i++)
        memcpy(dst + i * (int64_t)es, src + strided_offset(t, i) * (int64_t)es, es);
    return KT_OK;
}

void kt_tensor_release(kt_tensor *t)
{
    if (!t)
        return;
    free(t->owned);
    memset(t, 0, sizeof *t);
}

float kt_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t kt_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
    if (ax >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00);
    if (ax < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
        if (ax < 0x33000000u)
            return (uint16_t)sign;
        uint32_t e = ax >> 23, man = (ax & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t h = ((ax >> 13) - ((127 - 15) << 10));
    uint32_t rem = ax & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
        h++;
    return (uint16_t)(sign | h);
}

float kt_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t kt_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

kt_status kt_tensor_list_add(kt_tensor_list *l, const char *name, const kt_tensor *t, kt_error *err)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        kt_named_tensor *p = realloc(l->items, cap * sizeof *p);
        if (!p)
            return kt_error_set(err, KT_ENOMEM, "out of memory for the tensor list");
        l->items = p;
        l->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return kt_error_set(err, KT_ENOMEM, "out of memory for a tensor name");
    l->items[l->count].name = copy;
    l->items[l->count].tensor = *t;
    l->count++;
    return KT_OK;
}

long kt_tensor_list_find(const kt_tensor_list *l, const char *name)
{
    for (size_t i = 0; i < l->count; i++)
        if (strcmp(l->items[i].name, name) == 0)
            return (long)i;
    return -1;
}

void kt_tensor_list_free(kt_tensor_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->count; i++) {
        free(l->items[i].name);
        kt_tensor_release(&l->items[i].tensor);
    }
    free(l->items);
    memset(l, 0, sizeof *l);
}
