/* safetensors.c - the safetensors reader and writer.
 *
 * File: 8-byte little-endian header length N, N bytes of JSON (an object of
 * name -> {"dtype","shape","data_offsets":[begin,end]} plus an optional
 * "__metadata__" object of strings), then the data buffer the offsets index.
 * The reader checks every offset against the file and the shape, rejects
 * overlaps, and returns tensors in data order. The writer orders tensors as the
 * reference implementation does (descending dtype alignment, then name) and
 * pads the JSON with spaces to a multiple of 8. */
#include <inttypes.h>
#include <limits.h>
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

/* The header is read in one pass by the small JSON scanner below, not through a DOM: each
 * tensor entry goes straight into the result's list (about 200 bytes per tensor with its
 * name) plus a 32-byte record for the layout checks, so a header of many tiny tensors costs
 * a few times its own size, not the ~1 KB per tensor of a parsed JSON tree. Strings must be
 * valid JSON (no raw control characters, no \u0000, paired surrogates); numbers follow the
 * JSON grammar. */

typedef struct {
    const char *name; /* the list entry's name */
    uint64_t begin, end;
    size_t idx;       /* position in the list, from the first tensor of this header */
} st_info;

typedef struct {
    const unsigned char *s;
    size_t n, pos;
    char *str;        /* the last string read, decoded and NUL-terminated */
    size_t str_cap;
    kt_error *err;
} scan;

static int parse_dtype(const char *s, kt_dtype *out)
{
    for (int d = 0; d < KT_DTYPE_COUNT; d++)
        if (strcmp(s, st_dtypes[d].name) == 0) {
            *out = (kt_dtype)d;
            return 0;
        }
    return -1;
}

static kt_status bad_json(scan *c)
{
    return kt_error_set(c->err, KT_EFORMAT, "safetensors header is not valid JSON (at byte %zu)", c->pos);
}

static void ws(scan *c)
{
    while (c->pos < c->n && (c->s[c->pos] == ' ' || c->s[c->pos] == '\t' || c->s[c->pos] == '\n' ||
                             c->s[c->pos] == '\r'))
        c->pos++;
}

/* Consumes ch (after whitespace); 0 when it is not next. */
static int take(scan *c, char ch)
{
    ws(c);
    if (c->pos < c->n && c->s[c->pos] == (unsigned char)ch) {
        c->pos++;
        return 1;
    }
    return 0;
}

static int hex4(const unsigned char *p, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i], d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                      : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        *v = *v << 4 | (uint32_t)d;
    }
    return 0;
}

/* Reads a JSON string into c->str (decoded to UTF-8). */
static kt_status read_string(scan *c)
{
    size_t o = 0;
    if (!take(c, '"'))
        return bad_json(c);
    for (;;) {
        if (c->pos >= c->n)
            return bad_json(c);
        if (o + 5 > c->str_cap) { /* a step writes at most 4 bytes, then the NUL */
            size_t cap = c->str_cap ? 2 * c->str_cap : 256;
            char *p = realloc(c->str, cap);
            if (!p)
                return kt_error_set(c->err, KT_ENOMEM, "out of memory for the safetensors header");
            c->str = p;
            c->str_cap = cap;
        }
        unsigned char ch = c->s[c->pos++];
        if (ch == '"')
            break;
        if (ch < 0x20)
            return bad_json(c);
        if (ch != '\\') {
            c->str[o++] = (char)ch;
            continue;
        }
        if (c->pos >= c->n)
            return bad_json(c);
        ch = c->s[c->pos++];
        const char *simple = strchr("\"\\/bfnrt", ch);
        if (ch && simple) {
            static const char out[] = "\"\\/\b\f\n\r\t";
            c->str[o++] = out[simple - "\"\\/bfnrt"];
            continue;
        }
        uint32_t cp, lo;
        if (ch != 'u' || c->n - c->pos < 4 || hex4(c->s + c->pos, &cp))
            return bad_json(c);
        c->pos += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return bad_json(c);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (c->n - c->pos < 6 || c->s[c->pos] != '\\' || c->s[c->pos + 1] != 'u' ||
                hex4(c->s + c->pos + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                return bad_json(c);
            c->pos += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp == 0)
            return kt_error_set(c->err, KT_EFORMAT, "safetensors header holds a \\u0000 in a string");
        if (cp < 0x80) {
            c->str[o++] = (char)cp;
        } else if (cp < 0x800) {
            c->str[o++] = (char)(0xC0 | cp >> 6);
            c->str[o++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            c->str[o++] = (char)(0xE0 | cp >> 12);
            c->str[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            c->str[o++] = (char)(0x80 | (cp & 0x3F));
        } else {
            c->str[o++] = (char)(0xF0 | cp >> 18);
            c->str[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            c->str[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            c->str[o++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    c->str[o] = '\0';
    return KT_OK;
}

/* Reads a JSON number; *is_uint (and *v) when it is written as a plain non-negative integer of
 * at most 2^53 (no fraction, no exponent, as the reference implementation's u64 fields). */
static kt_status read_number(scan *c, int *is_uint, uint64_t *v)
{
    ws(c);
    size_t start = c->pos, i = c->pos;
    const unsigned char *s = c->s;
    if (i < c->n && s[i] == '-')
        i++;
    if (i < c->n && s[i] == '0')
        i++;
    else if (i < c->n && s[i] >= '1' && s[i] <= '9')
        while (i < c->n && s[i] >= '0' && s[i] <= '9')
            i++;
    else
        return bad_json(c);
    if (i < c->n && s[i] == '.') {
        if (++i >= c->n || s[i] < '0' || s[i] > '9')
            return bad_json(c);
        while (i < c->n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < c->n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < c->n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= c->n || s[i] < '0' || s[i] > '9')
            return bad_json(c);
        while (i < c->n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    c->pos = i;
    *is_uint = 0;
    uint64_t x = 0;
    for (size_t k = start; k < i; k++) { /* digits only: no sign, fraction or exponent (no locale) */
        if (s[k] < '0' || s[k] > '9' || x > (((uint64_t)1 << 53) - (uint64_t)(s[k] - '0')) / 10)
            return KT_OK;
        x = x * 10 + (uint64_t)(s[k] - '0');
    }
    *is_uint = 1;
    *v = x;
    return KT_OK;
}

/* Skips one JSON value of any kind, at most 64 containers deep. */
static kt_status skip_value(scan *c, int depth)
{
    int u;
    uint64_t v;
    if (depth > 64)
        return kt_error_set(c->err, KT_ELIMIT, "safetensors header nests deeper than 64");
    ws(c);
    if (c->pos >= c->n)
        return bad_json(c);
    unsigned char ch = c->s[c->pos];
    kt_status st = KT_OK;
    if (ch == '"')
        return read_string(c);
    if (ch == '{' || ch == '[') {
        char close = ch == '{' ? '}' : ']';
        c->pos++;
        if (take(c, close))
            return KT_OK;
        do {
            if (ch == '{' && ((st = read_string(c)) || !take(c, ':')))
                return st ? st : bad_json(c);
            if ((st = skip_value(c, depth + 1)))
                return st;
        } while (take(c, ','));
        return take(c, close) ? KT_OK : bad_json(c);
    }
    static const char *const words[] = {"true", "false", "null"};
    for (int k = 0; k < 3; k++) {
        size_t len = strlen(words[k]);
        if (c->n - c->pos >= len && memcmp(c->s + c->pos, words[k], len) == 0) {
            c->pos += len;
            return KT_OK;
        }
    }
    return read_number(c, &u, &v);
}

/* The next value, when it is an array of non-negative integers: at most max of them are
 * stored in out, all are counted in *count. *ok is 0 when it is not such an array (then
 * *bad_at is the first entry that is not a size, or -1 when the value is not an array). */
static kt_status read_uint_array(scan *c, uint64_t *out, int max, int *count, int *bad_at)
{
    int u;
    uint64_t v;
    kt_status st;
    *count = 0;
    *bad_at = -1;
    ws(c);
    if (c->pos >= c->n || c->s[c->pos] != '[') {
        *bad_at = -2;
        return skip_value(c, 1);
    }
    c->pos++;
    if (take(c, ']'))
        return KT_OK;
    do {
        ws(c);
        if (c->pos < c->n && (c->s[c->pos] == '-' || (c->s[c->pos] >= '0' && c->s[c->pos] <= '9'))) {
            if ((st = read_number(c, &u, &v)))
                return st;
        } else {
            u = 0;
            if ((st = skip_value(c, 2)))
                return st;
        }
        if (!u && *bad_at < 0)
            *bad_at = *count;
        if (u && *count < max)
            out[*count] = v;
        if (*count < INT_MAX)
            (*count)++;
    } while (take(c, ','));
    return take(c, ']') ? KT_OK : bad_json(c);
}

/* One tensor entry {"dtype", "shape", "data_offsets"} (other keys are skipped; a key given
 * twice is refused) into t; its offsets into ti. */
static kt_status read_info(scan *c, const char *name, kt_tensor *t, st_info *ti, uint64_t data_len)
{
    int have[3] = {0, 0, 0}, count, bad;
    uint64_t shape[KT_MAX_DIMS], offs[2];
    kt_status st;
    memset(t, 0, sizeof *t);
    ws(c);
    if (c->pos >= c->n || c->s[c->pos] != '{') {
        if ((st = skip_value(c, 1)))
            return st;
        return kt_error_set(c->err, KT_EFORMAT, "tensor \"%.200s\": needs \"dtype\", \"shape\" and \"data_offsets\"",
                            name);
    }
    c->pos++;
    if (!take(c, '}'))
        do {
            if ((st = read_string(c)) || !take(c, ':'))
                return st ? st : bad_json(c);
            int k = !strcmp(c->str, "dtype") ? 0 : !strcmp(c->str, "shape") ? 1 : !strcmp(c->str, "data_offsets") ? 2
                                                                                                                   : -1;
            if (k >= 0 && have[k]++)
                return kt_error_set(c->err, KT_EFORMAT, "tensor \"%.200s\": \"%s\" appears twice", name, c->str);
            if (k == 0) {
                ws(c);
                int is_str = c->pos < c->n && c->s[c->pos] == '"';
                if ((st = is_str ? read_string(c) : skip_value(c, 1)))
                    return st;
                if (!is_str)
                    return kt_error_set(c->err, KT_EFORMAT,
                                        "tensor \"%.200s\": needs \"dtype\", \"shape\" and \"data_offsets\"", name);
                if (parse_dtype(c->str, &t->dtype))
                    return kt_error_set(c->err, KT_EUNSUPPORTED, "tensor \"%.200s\": dtype \"%.40s\" is not supported",
                                        name, c->str);
            } else if (k == 1) {
                if ((st = read_uint_array(c, shape, KT_MAX_DIMS, &count, &bad)))
                    return st;
                if (bad == -2)
                    return kt_error_set(c->err, KT_EFORMAT, "tensor \"%.200s\": \"shape\" is not an array", name);
                if (count > KT_MAX_DIMS)
                    return kt_error_set(c->err, KT_EUNSUPPORTED, "tensor \"%.200s\" has %d dimensions (at most %d)",
                                        name, count, KT_MAX_DIMS);
                if (bad >= 0)
                    return kt_error_set(c->err, KT_EFORMAT, "tensor \"%.200s\": shape entry %d is not a size", name,
                                        bad);
                t->ndim = count;
                for (int d = 0; d < count; d++)
                    t->shape[d] = (int64_t)shape[d];
            } else if (k == 2) {
                if ((st = read_uint_array(c, offs, 2, &count, &bad)))
                    return st;
                if (count != 2 || bad != -1)
                    return kt_error_set(c->err, KT_EFORMAT, "tensor \"%.200s\": \"data_offsets\" is not [begin, end]",
                                        name);
            } else if ((st = skip_value(c, 2))) {
                return st;
            }
        } while (take(c, ','));
    if (!take(c, '}'))
        return bad_json(c);
    if (!have[0] || !have[1] || !have[2])
        return kt_error_set(c->err, KT_EFORMAT, "tensor \"%.200s\": needs \"dtype\", \"shape\" and \"data_offsets\"",
                            name);
    /* span, the product with zero dimensions counted as 1, bounds every stride too: a zero
     * dimension must not hide an overflow of the others (fuzz_safetensors) */
    uint64_t numel = 1, span = 1;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t v = (uint64_t)t->shape[d], w = v ? v : 1;
        if (span > (UINT64_MAX / 16) / w)
            return kt_error_set(c->err, KT_ELIMIT, "tensor \"%.200s\": shape product overflows", name);
        span *= w;
        numel *= v;
    }
    ti->begin = offs[0];
    ti->end = offs[1];
    if (ti->begin > ti->end || ti->end > data_len)
        return kt_error_set(c->err, KT_EFORMAT,
                            "tensor \"%.200s\": data_offsets [%" PRIu64 ", %" PRIu64 "] outside the %" PRIu64
                            "-byte data buffer",
                            name, ti->begin, ti->end, data_len);
    if (ti->end - ti->begin != numel * kt_dtype_size(t->dtype))
        return kt_error_set(c->err, KT_EFORMAT,
                            "tensor \"%.200s\": %" PRIu64 " data bytes for %" PRIu64 " elements of %s", name,
                            ti->end - ti->begin, numel, st_dtypes[t->dtype].name);
    int64_t stride = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        t->stride[d] = stride;
        stride *= t->shape[d];
    }
    return KT_OK;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "__metadata__": an object of strings, each key once (JSON allows a repeated key; which value
 * wins would be up to the reader, so a repeated key is refused, as for tensor names). */
static kt_status read_meta(scan *c, kt_read_result *out)
{
    kt_status st;
    size_t first = out->meta_count;
    ws(c);
    if (c->pos >= c->n || c->s[c->pos] != '{') {
        if ((st = skip_value(c, 1)))
            return st;
        return kt_error_set(c->err, KT_EFORMAT, "\"__metadata__\" is not an object");
    }
    c->pos++;
    if (!take(c, '}'))
        do {
            if ((st = read_string(c)) || !take(c, ':'))
                return st ? st : bad_json(c);
            char *key = strdup(c->str);
            if (!key)
                return kt_error_set(c->err, KT_ENOMEM, "out of memory for the safetensors metadata");
            ws(c);
            int is_str = c->pos < c->n && c->s[c->pos] == '"';
            st = is_str ? read_string(c) : skip_value(c, 1);
            if (!st && !is_str)
                st = kt_error_set(c->err, KT_EFORMAT, "\"__metadata__\" value of \"%.200s\" is not a string", key);
            if (!st)
                st = kt_read_result_add_meta(out, key, c->str, c->err);
            free(key);
            if (st)
                return st;
        } while (take(c, ','));
    if (!take(c, '}'))
        return bad_json(c);
    size_t n = out->meta_count - first;
    const char **keys = malloc((n ? n : 1) * sizeof *keys);
    if (!keys)
        return kt_error_set(c->err, KT_ENOMEM, "out of memory for the safetensors metadata");
    for (size_t i = 0; i < n; i++)
        keys[i] = out->meta[first + i].key;
    qsort(keys, n, sizeof *keys, cmp_str_ptr);
    st = KT_OK;
    for (size_t i = 1; i < n && !st; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
            st = kt_error_set(c->err, KT_EFORMAT, "\"__metadata__\" holds the key \"%.200s\" twice (duplicate key)",
                              keys[i]);
    free(keys);
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
    if (n < 2)
        return KT_OK;
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

/* Puts items[first..first+n) in the order of ti (sorted by offset), in place, then points each
 * tensor at its bytes: borrowed when aligned for its dtype, else copied. */
static kt_status place(kt_tensor_list *l, size_t first, st_info *ti, size_t n, const unsigned char *base,
                       kt_error *err)
{
    if (n == 0)
        return KT_OK;
    kt_named_tensor *it = l->items + first;
    for (size_t k = 0; k < n; k++) { /* it[k] becomes the old it[ti[k].idx], cycle by cycle */
        if (ti[k].idx == k)
            continue;
        kt_named_tensor tmp = it[k];
        size_t j = k;
        for (;;) {
            size_t src = ti[j].idx;
            ti[j].idx = j;
            if (src == k) {
                it[j] = tmp;
                break;
            }
            it[j] = it[src];
            j = src;
        }
    }
    for (size_t k = 0; k < n; k++) {
        kt_tensor *t = &it[k].tensor;
        const unsigned char *p = base + ti[k].begin;
        if ((uintptr_t)p % kt_dtype_size(t->dtype) == 0) {
            t->data = ti[k].end > ti[k].begin ? p : NULL;
            continue;
        }
        kt_tensor c;
        kt_status st = kt_tensor_alloc(&c, t->dtype, t->ndim, t->shape, err);
        if (st)
            return st;
        memcpy(c.owned, p, (size_t)(ti[k].end - ti[k].begin));
        *t = c;
    }
    return KT_OK;
}

/* Reads the header object at text[0..n) and fills out. */
static kt_status read_header(const char *text, size_t n, const unsigned char *base, uint64_t data_len,
                             kt_read_result *out, kt_error *err)
{
    scan c = {(const unsigned char *)text, n, 0, NULL, 0, err};
    st_info *ti = NULL;
    size_t k = 0, cap = 0, first = out->tensors.count;
    int have_meta = 0;
    kt_status st = take(&c, '{') ? KT_OK : bad_json(&c);
    if (!st && !take(&c, '}')) {
        do {
            if ((st = read_string(&c)) || (!take(&c, ':') && (st = bad_json(&c))))
                break;
            if (strcmp(c.str, "__metadata__") == 0) {
                st = have_meta++ ? kt_error_set(err, KT_EFORMAT, "\"__metadata__\" appears twice in the header "
                                                                 "(duplicate key)")
                                 : read_meta(&c, out);
                continue;
            }
            if (k == cap) {
                size_t nc = cap ? 2 * cap : 64;
                st_info *p = realloc(ti, nc * sizeof *ti);
                if (!p) {
                    st = kt_error_set(err, KT_ENOMEM, "out of memory for the safetensors header");
                    break;
                }
                ti = p;
                cap = nc;
            }
            kt_tensor t;
            char *name = strdup(c.str);
            if (!name) {
                st = kt_error_set(err, KT_ENOMEM, "out of memory for the safetensors header");
                break;
            }
            st = read_info(&c, name, &t, &ti[k], data_len);
            if (!st)
                st = kt_tensor_list_add(&out->tensors, name, &t, err);
            free(name);
            if (!st) {
                ti[k].name = out->tensors.items[out->tensors.count - 1].name;
                ti[k].idx = k;
                k++;
            }
        } while (!st && take(&c, ','));
        if (!st && !take(&c, '}'))
            st = bad_json(&c);
    }
    if (!st) {
        ws(&c);
        if (c.pos < n)
            st = kt_error_set(err, KT_EFORMAT, "safetensors header has text after the JSON object");
    }
    if (!st)
        st = check_layout(ti, k, err);
    if (!st)
        st = place(&out->tensors, first, ti, k, base, err);
    free(ti);
    free(c.str);
    return st;
}

kt_status kt_safetensors_read(const unsigned char *data, uint64_t size, kt_read_result *out, kt_error *err)
{
    kt_status st;
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
    st = read_header((const char *)data + 8, (size_t)n, data + 8 + n, size - 8 - n, out, err);
    if (st)
        goto fail;
    return KT_OK;
fail:
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
