/* safetensors.c - the safetensors reader and writer.
 *
 * File: 8-byte little-endian header length N, N bytes of JSON (an object of
 * name -> {"dtype","shape","data_offsets":[begin,end]} plus an optional
 * "__metadata__" object of strings), then the data buffer the offsets index.
 * The reader checks every offset against the file and the shape, rejects
 * overlaps, and returns tensors in data order. The writer orders tensors as the
 * reference implementation does (descending dtype alignment, then name) and
 * pads the JSON with spaces to a multiple of 8. */
#include <cJSON.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt/formats.h"
#include "kt/tensor_emit.h"

#define MAX_HEADER (100u * 1000u * 1000u) /* the reference implementation's limit */

/* safetensors name and the reference's Dtype enum position (its alignment order). */
static const struct {
    const char *name;
    int rank;
} st_dtypes[KT_DTYPE_COUNT] = {
    [KT_F32] = {"F32", 11}, [KT_F64] = {"F64", 12}, [KT_F16] = {"F16", 7}, [KT_BF16] = {"BF16", 8},
    [KT_I8] = {"I8", 2},    [KT_I16] = {"I16", 5},  [KT_I32] = {"I32", 9}, [KT_I64] = {"I64", 13},
    [KT_U8] = {"U8", 1},    [KT_BOOL] = {"BOOL", 0},
};

/* ---------------------------------------------------------------- reader */

typedef struct {
    const char *name;
    kt_dtype dtype;
    int ndim;
    int64_t shape[KT_MAX_DIMS];
    uint64_t begin, end;
} st_info;

static int parse_dtype(const char *s, kt_dtype *out)
{
    for (int d = 0; d < KT_DTYPE_COUNT; d++)
        if (strcmp(s, st_dtypes[d].name) == 0) {
            *out = (kt_dtype)d;
            return 0;
        }
    return -1;
}

/* A JSON number that is a non-negative integer below 2^53 (exact in a double). */
static int json_uint(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j))
        return -1;
    double v = j->valuedouble;
    if (!(v >= 0) || v > 9007199254740992.0 || v != (double)(uint64_t)v)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

static kt_status parse_shape(const cJSON *js, st_info *ti, uint64_t *numel, kt_error *err)
{
    if (!cJSON_IsArray(js))
        return kt_error_set(err, KT_EFORMAT, "tensor \"%.200s\": \"shape\" is not an array", ti->name);
    int n = cJSON_GetArraySize(js);
    if (n > KT_MAX_DIMS)
        return kt_error_set(err, KT_EUNSUPPORTED, "tensor \"%.200s\" has %d dimensions (at most %d)", ti->name,
                            n, KT_MAX_DIMS);
    uint64_t prod = 1;
    int i = 0;
    for (const cJSON *d = js->child; d; d = d->next, i++) {
        uint64_t v;
        if (json_uint(d, &v))
            return kt_error_set(err, KT_EFORMAT, "tensor \"%.200s\": shape entry %d is not a size", ti->name, i);
        if (v != 0 && prod > (UINT64_MAX / 16) / v)
            return kt_error_set(err, KT_ELIMIT, "tensor \"%.200s\": shape product overflows", ti->name);
        prod *= v;
        ti->shape[i] = (int64_t)v;
    }
    ti->ndim = n;
    *numel = prod;
    return KT_OK;
}

static kt_status parse_info(const cJSON *j, st_info *ti, uint64_t data_len, kt_error *err)
{
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(j, "dtype");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(j, "data_offsets");
    ti->name = j->string;
    if (!cJSON_IsObject(j) || !cJSON_IsString(jd) || !jo)
        return kt_error_set(err, KT_EFORMAT, "tensor \"%.200s\": needs \"dtype\", \"shape\" and \"data_offsets\"",
                            ti->name);
    if (parse_dtype(jd->valuestring, &ti->dtype))
        return kt_error_set(err, KT_EUNSUPPORTED, "tensor \"%.200s\": dtype \"%.40s\" is not supported", ti->name,
                            jd->valuestring);
    uint64_t numel = 0;
    kt_status st = parse_shape(cJSON_GetObjectItemCaseSensitive(j, "shape"), ti, &numel, err);
    if (st)
        return st;
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 || json_uint(jo->child, &ti->begin) ||
        json_uint(jo->child->next, &ti->end))
        return kt_error_set(err, KT_EFORMAT, "tensor \"%.200s\": \"data_offsets\" is not [begin, end]", ti->name);
    if (ti->begin > ti->end || ti->end > data_len)
        return kt_error_set(err, KT_EFORMAT,
                            "tensor \"%.200s\": data_offsets [%" PRIu64 ", %" PRIu64 "] outside the %" PRIu64
                            "-byte data buffer",
                            ti->name, ti->begin, ti->end, data_len);
    if (ti->end - ti->begin != numel * kt_dtype_size(ti->dtype))
        return kt_error_set(err, KT_EFORMAT,
                            "tensor \"%.200s\": %" PRIu64 " data bytes for %" PRIu64 " elements of %s", ti->name,
                            ti->end - ti->begin, numel, st_dtypes[ti->dtype].name);
    return KT_OK;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The metadata pairs, each key once (JSON allows a repeated key; which value wins would be
 * up to the reader, so a repeated key is refused, as for tensor names). */
static kt_status parse_meta(const cJSON *j, kt_read_result *out, kt_error *err)
{
    size_t n = 0;
    kt_status st = KT_OK;
    if (!cJSON_IsObject(j))
        return kt_error_set(err, KT_EFORMAT, "\"__metadata__\" is not an object");
    for (const cJSON *m = j->child; m; m = m->next)
        n++;
    const char **keys = malloc((n ? n : 1) * sizeof *keys);
    if (!keys)
        return kt_error_set(err, KT_ENOMEM, "out of memory for the safetensors metadata");
    n = 0;
    for (const cJSON *m = j->child; m && !st; m = m->next) {
        if (!cJSON_IsString(m))
            st = kt_error_set(err, KT_EFORMAT, "\"__metadata__\" value of \"%.200s\" is not a string", m->string);
        else
            keys[n++] = m->string;
    }
    if (!st)
        qsort(keys, n, sizeof *keys, cmp_str_ptr);
    for (size_t i = 1; i < n && !st; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
            st = kt_error_set(err, KT_EFORMAT, "\"__metadata__\" holds the key \"%.200s\" twice (duplicate key)",
                              keys[i]);
    free(keys);
    for (const cJSON *m = j->child; m && !st; m = m->next)
        st = kt_read_result_add_meta(out, m->string, m->valuestring, err);
    return st;
}

static int cmp_offset(const void *a, const void *b)
{
    const st_info *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_info_name(const void *a, const void *b)
{
    return strcmp(((const st_info *)a)->name, ((const st_info *)b)->name);
}

/* Names unique, then (sorted by offset) no two tensors share a byte. */
static kt_status check_layout(st_info *ti, size_t n, kt_error *err)
{
    qsort(ti, n, sizeof *ti, cmp_info_name);
    for (size_t i = 1; i < n; i++)
        if (strcmp(ti[i - 1].name, ti[i].name) == 0)
            return kt_error_set(err, KT_EFORMAT, "tensor \"%.200s\" appears twice in the header", ti[i].name);
    qsort(ti, n, sizeof *ti, cmp_offset);
    for (size_t i = 1; i < n; i++)
        if (ti[i].begin < ti[i - 1].end)
            return kt_error_set(err, KT_EFORMAT, "tensors \"%.200s\" and \"%.200s\" overlap in the data buffer",
                                ti[i - 1].name, ti[i].name);
    return KT_OK;
}

/* Adds one tensor, borrowing its bytes when aligned for its dtype, else copying them. */
static kt_status add_tensor(kt_read_result *out, const st_info *ti, const unsigned char *base, kt_error *err)
{
    kt_tensor t;
    size_t es = kt_dtype_size(ti->dtype);
    const unsigned char *p = base + ti->begin;
    kt_status st = KT_OK;
    if ((uintptr_t)p % es == 0) {
        memset(&t, 0, sizeof t);
        t.dtype = ti->dtype;
        t.ndim = ti->ndim;
        int64_t stride = 1;
        for (int d = ti->ndim - 1; d >= 0; d--) {
            t.shape[d] = ti->shape[d];
            t.stride[d] = stride;
            stride *= ti->shape[d];
        }
        t.data = ti->end > ti->begin ? p : NULL;
    } else {
        st = kt_tensor_alloc(&t, ti->dtype, ti->ndim, ti->shape, err);
        if (st)
            return st;
        memcpy(t.owned, p, (size_t)(ti->end - ti->begin));
    }
    st = kt_tensor_list_add(&out->tensors, ti->name, &t, err);
    if (st)
        kt_tensor_release(&t);
    return st;
}

/* Parses the JSON header (already bounds-checked) and fills out. */
static kt_status read_header(const cJSON *root, const unsigned char *base, uint64_t data_len, kt_read_result *out,
                             kt_error *err)
{
    if (!cJSON_IsObject(root))
        return kt_error_set(err, KT_EFORMAT, "safetensors header is not a JSON object");
    size_t n = 0, k = 0;
    for (const cJSON *j = root->child; j; j = j->next)
        n++;
    st_info *ti = calloc(n ? n : 1, sizeof *ti);
    if (!ti)
        return kt_error_set(err, KT_ENOMEM, "out of memory for the safetensors header");
    kt_status st = KT_OK;
    int have_meta = 0;
    for (const cJSON *j = root->child; j && !st; j = j->next) {
        if (strcmp(j->string, "__metadata__") == 0 && have_meta++)
            st = kt_error_set(err, KT_EFORMAT, "\"__metadata__\" appears twice in the header (duplicate key)");
        else if (strcmp(j->string, "__metadata__") == 0)
            st = parse_meta(j, out, err);
        else
            st = parse_info(j, &ti[k++], data_len, err);
    }
    if (!st)
        st = check_layout(ti, k, err);
    for (size_t i = 0; i < k && !st; i++)
        st = add_tensor(out, &ti[i], base, err);
    free(ti);
    return st;
}

kt_status kt_safetensors_read(const unsigned char *data, uint64_t size, kt_read_result *out, kt_error *err)
{
    kt_status st;
    cJSON *root = NULL;
    if (size < 8)
        return kt_error_set(err, KT_EFORMAT, "file is shorter than the 8-byte safetensors header length");
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | data[i];
    if (n > size - 8) {
        st = kt_error_set(err, KT_EFORMAT, "safetensors header length %" PRIu64 " runs past the end of the file",
                          n);
        goto fail;
    }
    if (n > MAX_HEADER) {
        st = kt_error_set(err, KT_ELIMIT, "safetensors header of %" PRIu64 " bytes is over the 100 MB limit", n);
        goto fail;
    }
    if (n < 2 || data[8] != '{') {
        st = kt_error_set(err, KT_EFORMAT, "safetensors header does not start with '{'");
        goto fail;
    }
    const char *text = (const char *)data + 8, *end = NULL;
    root = cJSON_ParseWithLengthOpts(text, (size_t)n, &end, 0);
    if (!root) {
        st = kt_error_set(err, KT_EFORMAT, "safetensors header is not valid JSON");
        goto fail;
    }
    for (; end && end < text + n; end++)
        if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r') {
            st = kt_error_set(err, KT_EFORMAT, "safetensors header has text after the JSON object");
            goto fail;
        }
    st = read_header(root, data + 8 + n, size - 8 - n, out, err);
    if (st)
        goto fail;
    cJSON_Delete(root);
    return KT_OK;
fail:
    cJSON_Delete(root);
    kt_read_result_free(out);
    return st;
}

/* ---------------------------------------------------------------- writer */

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_u64(sbuf *b, uint64_t v)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%" PRIu64, v);
    sb_str(b, tmp);
}

/* A JSON string literal, escaped as serde_json does (quote, backslash, control characters). */
static void sb_json(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            sb_put(b, esc, 2);
        } else if (c < 0x20) {
            const char *named = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : c == '\b' ? "\\b"
                                : c == '\f' ? "\\f" : NULL;
            if (named) {
                sb_str(b, named);
            } else {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                sb_str(b, esc);
            }
        } else {
            sb_put(b, (const char *)&c, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static int cmp_write_order(const void *a, const void *b)
{
    const kt_named_tensor *x = *(const kt_named_tensor *const *)a, *y = *(const kt_named_tensor *const *)b;
    int rx = st_dtypes[x->tensor.dtype].rank, ry = st_dtypes[y->tensor.dtype].rank;
    if (rx != ry)
        return rx > ry ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_kv(const void *a, const void *b)
{
    return strcmp(((const kt_kv *)a)->key, ((const kt_kv *)b)->key);
}

static kt_status put_meta(sbuf *b, const kt_kv *meta, size_t nmeta, kt_error *err)
{
    kt_kv *sorted = malloc((nmeta ? nmeta : 1) * sizeof *sorted);
    if (!sorted)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    memcpy(sorted, meta, nmeta * sizeof *sorted);
    qsort(sorted, nmeta, sizeof *sorted, cmp_kv);
    kt_status st = KT_OK;
    sb_str(b, "\"__metadata__\":{");
    for (size_t i = 0; i < nmeta && !st; i++) {
        if (i > 0 && strcmp(sorted[i - 1].key, sorted[i].key) == 0)
            st = kt_error_set(err, KT_EINVAL, "metadata key \"%.200s\" occurs twice", sorted[i].key);
        if (i > 0)
            sb_put(b, ",", 1);
        sb_json(b, sorted[i].key);
        sb_put(b, ":", 1);
        sb_json(b, sorted[i].value);
    }
    sb_put(b, "}", 1);
    free(sorted);
    return st;
}

static void put_tensor(sbuf *b, const kt_named_tensor *nt, uint64_t begin, uint64_t end)
{
    sb_json(b, nt->name);
    sb_str(b, ":{\"dtype\":\"");
    sb_str(b, st_dtypes[nt->tensor.dtype].name);
    sb_str(b, "\",\"shape\":[");
    for (int d = 0; d < nt->tensor.ndim; d++) {
        if (d)
            sb_put(b, ",", 1);
        sb_u64(b, (uint64_t)nt->tensor.shape[d]);
    }
    sb_str(b, "],\"data_offsets\":[");
    sb_u64(b, begin);
    sb_put(b, ",", 1);
    sb_u64(b, end);
    sb_str(b, "]}");
}

/* The padded header for the tensors in write order. */
static kt_status build_header(sbuf *b, kt_named_tensor **order, size_t n, const kt_kv *meta, size_t nmeta,
                              kt_error *err)
{
    kt_status st = KT_OK;
    uint64_t off = 0;
    sb_put(b, "{", 1);
    if (nmeta)
        st = put_meta(b, meta, nmeta, err);
    for (size_t i = 0; i < n && !st; i++) {
        const kt_tensor *t = &order[i]->tensor;
        if (kt_dtype_size(t->dtype) == 0)
            return kt_error_set(err, KT_EINVAL, "tensor \"%.200s\" has an invalid dtype", order[i]->name);
        if (strcmp(order[i]->name, "__metadata__") == 0)
            return kt_error_set(err, KT_EINVAL, "a tensor cannot be named \"__metadata__\" in safetensors");
        if (i || nmeta)
            sb_put(b, ",", 1);
        put_tensor(b, order[i], off, off + kt_tensor_nbytes(t));
        off += kt_tensor_nbytes(t);
    }
    sb_put(b, "}", 1);
    while (!st && b->n % 8)
        sb_put(b, " ", 1);
    if (!st && b->oom)
        st = kt_error_set(err, KT_ENOMEM, "out of memory for the safetensors header");
    return st;
}

kt_status kt_safetensors_write(const char *path, const kt_tensor_list *l, const kt_kv *meta, size_t nmeta,
                               kt_error *err)
{
    kt_atomic_file af = {0};
    sbuf b = {0};
    int opened = 0;
    kt_named_tensor **order = malloc((l->count ? l->count : 1) * sizeof *order);
    kt_status st = order ? KT_OK : kt_error_set(err, KT_ENOMEM, "out of memory");
    if (!st)
        st = kt_tensor_list_check_unique(l, err);
    if (st)
        goto fail;
    for (size_t i = 0; i < l->count; i++) {
        order[i] = &l->items[i];
        if ((unsigned)l->items[i].tensor.dtype >= KT_DTYPE_COUNT) {
            st = kt_error_set(err, KT_EINVAL, "tensor \"%.200s\" has an invalid dtype", l->items[i].name);
            goto fail;
        }
    }
    qsort(order, l->count, sizeof *order, cmp_write_order);
    st = build_header(&b, order, l->count, meta, nmeta, err);
    if (st)
        goto fail;
    st = kt_atomic_open(&af, path, err);
    if (st)
        goto fail;
    opened = 1;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)b.n >> (8 * i));
    st = kt_atomic_write(&af, len8, 8, err);
    if (!st)
        st = kt_atomic_write(&af, b.p, b.n, err);
    for (size_t i = 0; i < l->count && !st; i++)
        st = kt_tensor_emit(&order[i]->tensor, kt_sink_atomic, &af, err);
    if (st)
        goto fail;
    opened = 0;
    st = kt_atomic_commit(&af, err);
fail:
    if (opened)
        kt_atomic_abort(&af);
    free(b.p);
    free(order);
    return st;
}
