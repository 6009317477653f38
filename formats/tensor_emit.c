/* tensor_emit.c - raw row-major bytes of (possibly strided) tensors for the writers. */
#include "kt/tensor_emit.h"

#include <stdlib.h>
#include <string.h>

#define GATHER_BYTES 65536

kt_status kt_sink_atomic(void *ctx, const void *data, size_t len, kt_error *err)
{
    return kt_atomic_write(ctx, data, len, err);
}

kt_status kt_sink_zip(void *ctx, const void *data, size_t len, kt_error *err)
{
    return kt_zip_writer_append(ctx, data, len, err);
}

typedef struct {
    unsigned char buf[GATHER_BYTES];
    size_t used;
    kt_byte_sink sink;
    void *ctx;
} gather;

static kt_status gather_put(gather *g, const void *p, size_t n, kt_error *err)
{
    if (g->used + n > sizeof g->buf) {
        kt_status st = g->sink(g->ctx, g->buf, g->used, err);
        if (st)
            return st;
        g->used = 0;
    }
    if (n >= sizeof g->buf)
        return g->sink(g->ctx, p, n, err);
    memcpy(g->buf + g->used, p, n);
    g->used += n;
    return KT_OK;
}

/* One innermost row starting at p: contiguous rows go as one piece, others element by element. */
static kt_status emit_row(gather *g, const unsigned char *p, int64_t n, int64_t stride, size_t es, kt_error *err)
{
    if (stride == 1)
        return gather_put(g, p, (size_t)n * es, err);
    for (int64_t i = 0; i < n; i++) {
        kt_status st = gather_put(g, p + i * stride * (int64_t)es, es, err);
        if (st)
            return st;
    }
    return KT_OK;
}

static kt_status emit_strided(const kt_tensor *t, gather *g, kt_error *err)
{
    size_t es = kt_dtype_size(t->dtype);
    int last = t->ndim - 1;
    int64_t idx[KT_MAX_DIMS] = {0};
    const unsigned char *base = t->data;
    for (;;) {
        int64_t off = 0;
        for (int d = 0; d < last; d++)
            off += idx[d] * t->stride[d];
        kt_status st = emit_row(g, base + off * (int64_t)es, t->shape[last], t->stride[last], es, err);
        if (st)
            return st;
        int d = last - 1;
        while (d >= 0 && ++idx[d] == t->shape[d])
            idx[d--] = 0;
        if (d < 0)
            return KT_OK;
    }
}

kt_status kt_tensor_emit(const kt_tensor *t, kt_byte_sink sink, void *ctx, kt_error *err)
{
    size_t es = kt_dtype_size(t->dtype);
    if (es == 0 || t->ndim < 0 || t->ndim > KT_MAX_DIMS)
        return kt_error_set(err, KT_EINVAL, "invalid tensor (dtype %d, rank %d)", (int)t->dtype, t->ndim);
    int64_t n = kt_tensor_numel(t);
    if (n <= 0)
        return KT_OK;
    if (t->ndim == 0 || kt_tensor_is_contiguous(t))
        return sink(ctx, t->data, (size_t)n * es, err);
    gather *g = malloc(sizeof *g);
    if (!g)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    g->used = 0;
    g->sink = sink;
    g->ctx = ctx;
    kt_status st = emit_strided(t, g, err);
    if (!st && g->used)
        st = sink(ctx, g->buf, g->used, err);
    free(g);
    return st;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

kt_status kt_tensor_list_check_unique(const kt_tensor_list *l, kt_error *err)
{
    if (l->count < 2)
        return KT_OK;
    char **names = malloc(l->count * sizeof *names);
    if (!names)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    for (size_t i = 0; i < l->count; i++)
        names[i] = l->items[i].name;
    qsort(names, l->count, sizeof *names, cmp_name);
    kt_status st = KT_OK;
    for (size_t i = 1; i < l->count && !st; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            st = kt_error_set(err, KT_EINVAL, "tensor name \"%.200s\" occurs twice", names[i]);
    free(names);
    return st;
}
