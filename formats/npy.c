/* npy.c - numpy .npy (format 1.0/2.0/3.0) and .npz (zip of NAME.npy) readers and writers.
 *
 * An .npy file: "\x93NUMPY", major, minor, header length (2 bytes in 1.0,
 * 4 in 2.0/3.0), a Python dict literal {'descr': '<f4', 'fortran_order':
 * False, 'shape': (510, 1, 256), } padded with spaces and '\n', then the raw
 * array. Fortran-order arrays are returned as column-major strided views;
 * big-endian arrays are byte-swapped into an owned copy. Writers produce format
 * 1.0 (2.0 when the header needs it) with the header padded to 64 bytes, as
 * numpy does; .npz output is a stored zip (numpy.savez) aligned to 64 bytes. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt/formats.h"
#include "kt/tensor_emit.h"
#include "kt/zip.h"

#define NPY_ALIGN 64
#define NPZ_MAX_ENTRY (UINT64_C(1) << 40) /* cap on one inflated .npy entry */

static const struct {
    const char *code; /* type character and size, after the byte-order character */
    kt_dtype dtype;
} npy_types[] = {
    {"f4", KT_F32}, {"f8", KT_F64}, {"f2", KT_F16}, {"i1", KT_I8}, {"i2", KT_I16},
    {"i4", KT_I32}, {"i8", KT_I64}, {"u1", KT_U8},  {"b1", KT_BOOL},
};

/* ---------------------------------------------------------------- header parsing */

typedef struct {
    const char *p, *end;
} cursor;

typedef struct {
    kt_dtype dtype;
    int big_endian;
    int fortran;
    int ndim;
    int64_t shape[KT_MAX_DIMS];
    int have_descr, have_order, have_shape;
} npy_header;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int accept(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted Python string without escapes, copied into buf (NUL-terminated). */
static int parse_str(cursor *c, char *buf, size_t n)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return -1;
    char q = *c->p++;
    size_t k = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || k + 1 >= n)
            return -1;
        buf[k++] = *c->p++;
    }
    if (c->p >= c->end)
        return -1;
    c->p++;
    buf[k] = '\0';
    return 0;
}

static int parse_word(cursor *c, const char *w)
{
    size_t n = strlen(w);
    skip_ws(c);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0)
        return -1;
    c->p += n;
    return 0;
}

static kt_status parse_descr(cursor *c, npy_header *h, kt_error *err)
{
    char s[64];
    if (parse_str(c, s, sizeof s))
        return kt_error_set(err, KT_EUNSUPPORTED, "npy 'descr' is not a simple type string (structured arrays are not supported)");
    char order = s[0];
    if (order != '<' && order != '>' && order != '|' && order != '=')
        return kt_error_set(err, KT_EUNSUPPORTED, "npy dtype '%s' is not supported", s);
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (strcmp(s + 1, npy_types[i].code) == 0) {
            h->dtype = npy_types[i].dtype;
            h->big_endian = order == '>' && kt_dtype_size(h->dtype) > 1;
            h->have_descr = 1;
            return KT_OK;
        }
    return kt_error_set(err, KT_EUNSUPPORTED, "npy dtype '%s' is not supported", s);
}

static kt_status parse_shape(cursor *c, npy_header *h, kt_error *err)
{
    if (!accept(c, '('))
        return kt_error_set(err, KT_EFORMAT, "npy 'shape' is not a tuple");
    h->ndim = 0;
    while (!accept(c, ')')) {
        skip_ws(c);
        uint64_t v = 0;
        int digits = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (v > (UINT64_C(1) << 62) / 10)
                return kt_error_set(err, KT_ELIMIT, "npy shape entry is too large");
            v = v * 10 + (uint64_t)(*c->p++ - '0');
            digits++;
        }
        if (!digits)
            return kt_error_set(err, KT_EFORMAT, "npy 'shape' holds something that is not a size");
        if (c->p < c->end && *c->p == 'L') /* Python 2 long */
            c->p++;
        if (h->ndim == KT_MAX_DIMS)
            return kt_error_set(err, KT_EUNSUPPORTED, "npy array has more than %d dimensions", KT_MAX_DIMS);
        h->shape[h->ndim++] = (int64_t)v;
        if (!accept(c, ',')) {
            if (!accept(c, ')'))
                return kt_error_set(err, KT_EFORMAT, "npy 'shape' tuple is malformed");
            break;
        }
    }
    h->have_shape = 1;
    return KT_OK;
}

static kt_status parse_entry(cursor *c, npy_header *h, kt_error *err)
{
    char key[32];
    if (parse_str(c, key, sizeof key) || !accept(c, ':'))
        return kt_error_set(err, KT_EFORMAT, "npy header is not a dict of quoted keys");
    if (strcmp(key, "descr") == 0)
        return parse_descr(c, h, err);
    if (strcmp(key, "shape") == 0)
        return parse_shape(c, h, err);
    if (strcmp(key, "fortran_order") == 0) {
        if (parse_word(c, "True") == 0)
            h->fortran = 1;
        else if (parse_word(c, "False") == 0)
            h->fortran = 0;
        else
            return kt_error_set(err, KT_EFORMAT, "npy 'fortran_order' is neither True nor False");
        h->have_order = 1;
        return KT_OK;
    }
    return kt_error_set(err, KT_EFORMAT, "npy header has an unknown key '%s'", key);
}

static kt_status parse_dict(const char *text, size_t len, npy_header *h, kt_error *err)
{
    cursor c = {text, text + len};
    memset(h, 0, sizeof *h);
    if (!accept(&c, '{'))
        return kt_error_set(err, KT_EFORMAT, "npy header is not a dict");
    while (!accept(&c, '}')) {
        kt_status st = parse_entry(&c, h, err);
        if (st)
            return st;
        if (!accept(&c, ',')) {
            if (!accept(&c, '}'))
                return kt_error_set(err, KT_EFORMAT, "npy header dict is malformed");
            break;
        }
    }
    skip_ws(&c);
    if (c.p != c.end)
        return kt_error_set(err, KT_EFORMAT, "npy header has text after the dict");
    if (!h->have_descr || !h->have_order || !h->have_shape)
        return kt_error_set(err, KT_EFORMAT, "npy header lacks 'descr', 'fortran_order' or 'shape'");
    return KT_OK;
}

/* ---------------------------------------------------------------- reader */

/* Splits an .npy image into its parsed header and the offset of the array data. */
static kt_status read_preamble(const unsigned char *d, uint64_t size, npy_header *h, uint64_t *data_off,
                               kt_error *err)
{
    if (size < 10 || memcmp(d, "\x93NUMPY", 6) != 0)
        return kt_error_set(err, KT_EFORMAT, "not an npy file (no \\x93NUMPY magic)");
    unsigned major = d[6];
    uint64_t hlen, start;
    if (major == 1) {
        hlen = (uint64_t)d[8] | (uint64_t)d[9] << 8;
        start = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12)
            return kt_error_set(err, KT_EFORMAT, "npy header is truncated");
        hlen = (uint64_t)d[8] | (uint64_t)d[9] << 8 | (uint64_t)d[10] << 16 | (uint64_t)d[11] << 24;
        start = 12;
    } else {
        return kt_error_set(err, KT_EUNSUPPORTED, "npy format version %u.%u is not supported", major, d[7]);
    }
    if (hlen > size - start)
        return kt_error_set(err, KT_EFORMAT, "npy header length %" PRIu64 " runs past the end of the file", hlen);
    *data_off = start + hlen;
    return parse_dict((const char *)d + start, (size_t)hlen, h, err);
}

/* Row-major (or column-major for Fortran order) element strides. */
static void set_strides(kt_tensor *t, int fortran)
{
    int64_t s = 1;
    if (fortran) {
        for (int i = 0; i < t->ndim; i++) {
            t->stride[i] = s;
            s *= t->shape[i];
        }
    } else {
        for (int i = t->ndim - 1; i >= 0; i--) {
            t->stride[i] = s;
            s *= t->shape[i];
        }
    }
}

static void byteswap(unsigned char *p, uint64_t n, size_t es)
{
    for (uint64_t i = 0; i < n; i++, p += es)
        for (size_t a = 0, b = es - 1; a < b; a++, b--) {
            unsigned char x = p[a];
            p[a] = p[b];
            p[b] = x;
        }
}

/* Parses one .npy image and appends it to out under name. */
static kt_status npy_parse(const unsigned char *d, uint64_t size, const char *name, kt_read_result *out,
                           kt_error *err)
{
    npy_header h;
    uint64_t off = 0, numel = 1;
    kt_status st = read_preamble(d, size, &h, &off, err);
    if (st)
        return st;
    size_t es = kt_dtype_size(h.dtype);
    /* span, the product with zero dimensions counted as 1, bounds every stride too: a zero
     * dimension must not hide an overflow of the others (fuzz_npy) */
    uint64_t span = 1;
    for (int i = 0; i < h.ndim; i++) {
        uint64_t v = (uint64_t)h.shape[i], w = v ? v : 1;
        if (span > (UINT64_MAX / 16) / w)
            return kt_error_set(err, KT_ELIMIT, "npy shape product overflows");
        span *= w;
        numel *= v;
    }
    if (numel * es > size - off)
        return kt_error_set(err, KT_EFORMAT, "npy data is truncated: %" PRIu64 " bytes for %" PRIu64
                            " needed", size - off, numel * es);
    kt_tensor t;
    const unsigned char *p = d + off;
    if (!h.big_endian && (uintptr_t)p % es == 0) {
        memset(&t, 0, sizeof t);
        t.dtype = h.dtype;
        t.ndim = h.ndim;
        memcpy(t.shape, h.shape, sizeof h.shape);
        t.data = numel ? p : NULL;
    } else {
        st = kt_tensor_alloc(&t, h.dtype, h.ndim, h.shape, err);
        if (st)
            return st;
        memcpy(t.owned, p, (size_t)(numel * es));
        if (h.big_endian)
            byteswap(t.owned, numel, es);
    }
    set_strides(&t, h.fortran);
    st = kt_tensor_list_add(&out->tensors, name, &t, err);
    if (st)
        kt_tensor_release(&t);
    return st;
}

kt_status kt_npy_read(const unsigned char *data, uint64_t size, kt_read_result *out, kt_error *err)
{
    kt_status st = npy_parse(data, size, "", out, err);
    if (st)
        kt_read_result_free(out);
    return st;
}

static void free_zip(void *z) { kt_zip_free(z); }

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static kt_status npz_entry(kt_zip *z, const kt_zip_entry *e, kt_read_result *out, kt_error *err)
{
    if (!ends_with(e->name, ".npy"))
        return kt_error_set(err, KT_EUNSUPPORTED, "npz entry \"%.200s\" is not an .npy array", e->name);
    const unsigned char *p;
    uint64_t len;
    kt_status st = kt_zip_read(z, e, NPZ_MAX_ENTRY, &p, &len, err);
    if (st)
        return st;
    size_t n = strlen(e->name) - 4;
    char *name = malloc(n + 1);
    if (!name)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    memcpy(name, e->name, n);
    name[n] = '\0';
    st = npy_parse(p, len, name, out, err);
    free(name);
    return st;
}

kt_status kt_npz_read(const unsigned char *data, uint64_t size, kt_read_result *out, kt_error *err)
{
    kt_zip *z = NULL;
    kt_status st = kt_zip_open(data, size, &z, err);
    if (st)
        goto fail;
    out->aux = z; /* inflated entries live as long as the result */
    out->aux_free = free_zip;
    for (size_t i = 0; i < kt_zip_count(z) && !st; i++) {
        const kt_zip_entry *e = kt_zip_entry_at(z, i);
        if (ends_with(e->name, "/"))
            continue; /* a folder entry */
        st = npz_entry(z, e, out, err);
        if (st)
            kt_error_prefix(err, e->name);
    }
    if (st)
        goto fail;
    return KT_OK;
fail:
    if (!out->aux)
        kt_zip_free(z);
    kt_read_result_free(out);
    return st;
}

/* ---------------------------------------------------------------- writers */

/* Builds the .npy preamble (magic, version, length, padded dict) for t into buf (>= 256 bytes + dims). */
static kt_status npy_preamble(const kt_tensor *t, char *buf, size_t cap, size_t *len, kt_error *err)
{
    const char *code = NULL;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (npy_types[i].dtype == t->dtype)
            code = npy_types[i].code;
    if (!code)
        return kt_error_set(err, KT_EUNSUPPORTED, "npy cannot hold %s (numpy has no such dtype)",
                            kt_dtype_name(t->dtype));
    char dict[512];
    int n = snprintf(dict, sizeof dict, "{'descr': '%c%s', 'fortran_order': False, 'shape': (",
                     kt_dtype_size(t->dtype) == 1 ? '|' : '<', code);
    for (int i = 0; i < t->ndim; i++) /* Python's tuple repr: (), (3,), (2, 3) */
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%s%" PRId64, i ? ", " : "", t->shape[i]);
    n += snprintf(dict + n, sizeof dict - (size_t)n, "%s), }", t->ndim == 1 ? "," : "");
    size_t total = 10 + (size_t)n + 1; /* magic+version+length, dict, '\n' */
    total = (total + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    if (total > cap)
        return kt_error_set(err, KT_ELIMIT, "npy header too long");
    size_t hlen = total - 10;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    memcpy(buf + 10, dict, (size_t)n);
    memset(buf + 10 + n, ' ', hlen - (size_t)n - 1);
    buf[total - 1] = '\n';
    *len = total;
    return KT_OK;
}

/* Writes the .npy image of t (preamble, then the row-major data) to sink. */
static kt_status npy_emit(const kt_tensor *t, kt_byte_sink sink, void *ctx, kt_error *err)
{
    char pre[1024];
    size_t len;
    kt_status st = npy_preamble(t, pre, sizeof pre, &len, err);
    if (!st)
        st = sink(ctx, pre, len, err);
    if (!st)
        st = kt_tensor_emit(t, sink, ctx, err);
    return st;
}

static kt_status check_tensor(const kt_tensor *t, kt_error *err)
{
    if (kt_dtype_size(t->dtype) == 0 || t->ndim < 0 || t->ndim > KT_MAX_DIMS)
        return kt_error_set(err, KT_EINVAL, "invalid tensor (dtype %d, rank %d)", (int)t->dtype, t->ndim);
    return KT_OK;
}

kt_status kt_npy_write(const char *path, const kt_tensor *t, kt_error *err)
{
    kt_atomic_file af;
    kt_status st = check_tensor(t, err);
    if (st)
        return st;
    char pre[1024];
    size_t len;
    st = npy_preamble(t, pre, sizeof pre, &len, err); /* refuse unsupported dtypes before creating a file */
    if (st)
        return st;
    st = kt_atomic_open(&af, path, err);
    if (st)
        return st;
    st = npy_emit(t, kt_sink_atomic, &af, err);
    if (st) {
        kt_atomic_abort(&af);
        return st;
    }
    return kt_atomic_commit(&af, err);
}

/* One "NAME.npy" entry, streamed into the zip with its size known up front. */
/* The npz member for a tensor name: NAME.npy where '\\' and control characters become '_' and
 * every '/'-separated part that is empty, "." or ".." becomes "_" or "__", so a member is a
 * relative path that stays inside its folder when unpacked (no absolute path, no ".."),
 * whatever the input's names; "a/b" keeps its folder as numpy writes it, and the empty name
 * stays ".npy". malloc'd, NULL when
 * out of memory. */
static char *npz_member(const char *tensor_name)
{
    size_t n = strlen(tensor_name), o = 0;
    char *name = malloc(2 * n + 6); /* an empty part grows to "_" */
    if (!name)
        return NULL;
    for (size_t i = 0; i <= n; i++) {
        size_t e = i;
        while (e < n && tensor_name[e] != '/')
            e++;
        size_t len = e - i;
        if ((len == 0 && n > 0) || (len && len <= 2 && !strncmp(tensor_name + i, "..", len)))
            for (size_t k = 0; k < (len ? len : 1); k++)
                name[o++] = '_';
        else
            for (size_t k = i; k < e; k++) {
                unsigned char c = (unsigned char)tensor_name[k];
                name[o++] = c == '\\' || c < 0x20 || c == 0x7f ? '_' : (char)c;
            }
        if (e < n)
            name[o++] = '/';
        i = e;
    }
    memcpy(name + o, ".npy", 5);
    return name;
}

static int cmp_member(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Two tensor names that become one member (e.g. "a/b" and "a_b") are refused. */
static kt_status check_members(const kt_tensor_list *l, kt_error *err)
{
    kt_status st = KT_OK;
    char **m = calloc(l->count ? l->count : 1, sizeof *m);
    if (!m)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    for (size_t i = 0; i < l->count && !st; i++)
        if (!(m[i] = npz_member(l->items[i].name)))
            st = kt_error_set(err, KT_ENOMEM, "out of memory");
    if (!st)
        qsort(m, l->count, sizeof *m, cmp_member);
    for (size_t i = 1; i < l->count && !st; i++)
        if (strcmp(m[i - 1], m[i]) == 0)
            st = kt_error_set(err, KT_EINVAL, "two tensors become the npz member \"%.200s\"", m[i]);
    for (size_t i = 0; i < l->count; i++)
        free(m[i]);
    free(m);
    return st;
}

static kt_status npz_add(kt_zip_writer *w, const kt_named_tensor *nt, kt_error *err)
{
    char pre[1024];
    size_t len;
    kt_status st = check_tensor(&nt->tensor, err);
    if (!st)
        st = npy_preamble(&nt->tensor, pre, sizeof pre, &len, err);
    if (st)
        return st;
    char *name = npz_member(nt->name);
    if (!name)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    st = kt_zip_writer_begin(w, name, len + kt_tensor_nbytes(&nt->tensor), err);
    free(name);
    if (!st)
        st = npy_emit(&nt->tensor, kt_sink_zip, w, err);
    if (!st)
        st = kt_zip_writer_end(w, err);
    return st;
}

kt_status kt_npz_write(const char *path, const kt_tensor_list *l, kt_error *err)
{
    kt_atomic_file af;
    kt_zip_writer *w = NULL;
    kt_status st = kt_tensor_list_check_unique(l, err);
    if (!st)
        st = check_members(l, err);
    if (st)
        return st;
    st = kt_atomic_open(&af, path, err);
    if (st)
        return st;
    st = kt_zip_writer_create(&af, NPY_ALIGN, &w, err);
    for (size_t i = 0; i < l->count && !st; i++) {
        st = npz_add(w, &l->items[i], err);
        if (st)
            kt_error_prefix(err, l->items[i].name);
    }
    if (!st) {
        st = kt_zip_writer_finish(w, err);
        w = NULL;
    }
    if (st) {
        kt_zip_writer_free(w);
        kt_atomic_abort(&af);
        return st;
    }
    return kt_atomic_commit(&af, err);
}
