/* pickle_write.c - protocol-2 pickle emitter for the writers (torch.save's subset). */
#include "kt/pickle_write.h"

#include <stdlib.h>
#include <string.h>

void kt_pkl_init(kt_pkl *p) { memset(p, 0, sizeof *p); }

void kt_pkl_free(kt_pkl *p)
{
    free(p->buf);
    memset(p, 0, sizeof *p);
}

kt_status kt_pkl_check(const kt_pkl *p, kt_error *err)
{
    if (p->failed)
        return kt_error_set(err, KT_ENOMEM, "out of memory while writing the pickle");
    return KT_OK;
}

static void put(kt_pkl *p, const void *data, size_t n)
{
    if (p->failed)
        return;
    if (n > p->cap - p->len) {
        size_t cap = p->cap ? p->cap : 256;
        while (n > cap - p->len) {
            if (cap > SIZE_MAX / 2) {
                p->failed = 1;
                return;
            }
            cap *= 2;
        }
        unsigned char *b = realloc(p->buf, cap);
        if (!b) {
            p->failed = 1;
            return;
        }
        p->buf = b;
        p->cap = cap;
    }
    memcpy(p->buf + p->len, data, n);
    p->len += n;
}

static void put_le(kt_pkl *p, uint64_t v, int nbytes)
{
    unsigned char b[8];
    for (int i = 0; i < nbytes; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put(p, b, (size_t)nbytes);
}

void kt_pkl_op(kt_pkl *p, unsigned char op) { put(p, &op, 1); }

void kt_pkl_proto(kt_pkl *p, int version)
{
    kt_pkl_op(p, 0x80);
    kt_pkl_op(p, (unsigned char)version);
}

void kt_pkl_global(kt_pkl *p, const char *module, const char *name)
{
    kt_pkl_op(p, 'c');
    put(p, module, strlen(module));
    kt_pkl_op(p, '\n');
    put(p, name, strlen(name));
    kt_pkl_op(p, '\n');
}

/* LONG1: little-endian two's complement, the fewest bytes that keep the sign. */
static void put_long1(kt_pkl *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    int n = 8;
    while (n > 1) {
        unsigned char top = (unsigned char)(u >> (8 * (n - 1)));
        unsigned char next_sign = (unsigned char)(u >> (8 * (n - 2))) & 0x80;
        if ((top == 0x00 && !next_sign) || (top == 0xff && next_sign))
            n--;
        else
            break;
    }
    kt_pkl_op(p, 0x8a);
    kt_pkl_op(p, (unsigned char)n);
    put_le(p, u, n);
}

void kt_pkl_int(kt_pkl *p, int64_t v)
{
    if (v >= 0 && v < 256) {
        kt_pkl_op(p, 'K');
        kt_pkl_op(p, (unsigned char)v);
    } else if (v >= 0 && v < 65536) {
        kt_pkl_op(p, 'M');
        put_le(p, (uint64_t)v, 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        kt_pkl_op(p, 'J');
        put_le(p, (uint64_t)(uint32_t)(int32_t)v, 4);
    } else {
        put_long1(p, v);
    }
}

void kt_pkl_str(kt_pkl *p, const char *s)
{
    size_t n = strlen(s);
    if (n > UINT32_MAX) {
        p->failed = 1;
        return;
    }
    kt_pkl_op(p, 'X');
    put_le(p, (uint64_t)n, 4);
    put(p, s, n);
}

void kt_pkl_bool(kt_pkl *p, int v) { kt_pkl_op(p, v ? 0x88 : 0x89); }

void kt_pkl_int_tuple(kt_pkl *p, const int64_t *v, int n)
{
    static const unsigned char small[4] = {')', 0x85, 0x86, 0x87};
    if (n > 3)
        kt_pkl_op(p, '(');
    for (int i = 0; i < n; i++)
        kt_pkl_int(p, v[i]);
    kt_pkl_op(p, n <= 3 ? small[n] : 't');
}

const char *kt_pkl_torch_storage(kt_dtype dtype)
{
    switch (dtype) {
    case KT_F32: return "FloatStorage";
    case KT_F64: return "DoubleStorage";
    case KT_F16: return "HalfStorage";
    case KT_BF16: return "BFloat16Storage";
    case KT_I8: return "CharStorage";
    case KT_I16: return "ShortStorage";
    case KT_I32: return "IntStorage";
    case KT_I64: return "LongStorage";
    case KT_U8: return "ByteStorage";
    case KT_BOOL: return "BoolStorage";
    case KT_DTYPE_COUNT: break;
    }
    return NULL;
}

void kt_pkl_ordered_dict(kt_pkl *p)
{
    kt_pkl_global(p, "collections", "OrderedDict");
    kt_pkl_op(p, ')');
    kt_pkl_op(p, 'R');
}

kt_status kt_pkl_torch_tensor(kt_pkl *p, const kt_tensor *t, const char *key, kt_error *err)
{
    const char *storage = kt_pkl_torch_storage(t->dtype);
    int64_t stride[KT_MAX_DIMS], n = 1;
    if (!storage)
        return kt_error_set(err, KT_EUNSUPPORTED, "dtype %s has no PyTorch storage", kt_dtype_name(t->dtype));
    if (t->ndim < 0 || t->ndim > KT_MAX_DIMS)
        return kt_error_set(err, KT_EINVAL, "bad tensor rank %d", t->ndim);
    for (int i = t->ndim - 1; i >= 0; i--) {
        stride[i] = n; /* torch: contiguous strides treat a 0 dimension as 1 */
        n *= t->shape[i] > 1 ? t->shape[i] : 1;
    }
    kt_pkl_global(p, "torch._utils", "_rebuild_tensor_v2");
    kt_pkl_op(p, '(');
    kt_pkl_op(p, '(');
    kt_pkl_str(p, "storage");
    kt_pkl_global(p, "torch", storage);
    kt_pkl_str(p, key);
    kt_pkl_str(p, "cpu");
    kt_pkl_int(p, kt_tensor_numel(t));
    kt_pkl_op(p, 't');
    kt_pkl_op(p, 'Q');
    kt_pkl_int(p, 0);
    kt_pkl_int_tuple(p, t->shape, t->ndim);
    kt_pkl_int_tuple(p, stride, t->ndim);
    kt_pkl_bool(p, 0);
    kt_pkl_ordered_dict(p);
    kt_pkl_op(p, 't');
    kt_pkl_op(p, 'R');
    return kt_pkl_check(p, err);
}
