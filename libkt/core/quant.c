/* quant.c - q8/q4 quantization, float casts, the keep rule, weight-norm folding, row decoding. */
#include "kt/quant.h"

#include <cJSON.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const scheme_names[] = {"f32", "f16", "bf16", "q8", "q4"};

const char *kt_quant_scheme_name(kt_quant_scheme s)
{
    return (unsigned)s <= KT_QUANT_Q4 ? scheme_names[s] : "invalid";
}

int kt_quant_scheme_parse(const char *name, kt_quant_scheme *out)
{
    static const struct {
        const char *n;
        kt_quant_scheme s;
    } alias[] = {{"float32", KT_QUANT_F32}, {"float16", KT_QUANT_F16}, {"bfloat16", KT_QUANT_BF16}};
    for (int s = 0; s <= KT_QUANT_Q4; s++)
        if (strcmp(name, scheme_names[s]) == 0) {
            *out = (kt_quant_scheme)s;
            return 0;
        }
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (strcmp(name, alias[i].n) == 0) {
            *out = alias[i].s;
            return 0;
        }
    return -1;
}

int kt_quant_is_integer(kt_quant_scheme s) { return s == KT_QUANT_Q8 || s == KT_QUANT_Q4; }

static int is_float_dtype(kt_dtype d) { return d == KT_F32 || d == KT_F64 || d == KT_F16 || d == KT_BF16; }

const char *kt_quant_keep_reason(const char *name, const kt_tensor *t, const char *const *keep, size_t nkeep)
{
    if (!is_float_dtype(t->dtype))
        return "not float";
    if (t->ndim <= 1)
        return "1-d";
    if (strstr(name, "alpha"))
        return "alpha";
    if (strstr(name, "embedding"))
        return "embedding";
    if (strstr(name, "weight_g"))
        return "weight_g";
    if (kt_tensor_numel(t) < KT_QUANT_MIN_NUMEL)
        return "small";
    if (strncmp(name, "voices.", 7) == 0)
        return "voice";
    for (size_t i = 0; i < nkeep; i++)
        if (fnmatch(keep[i], name, 0) == 0)
            return "--keep";
    return NULL;
}

int kt_quant_duration_path(const char *name)
{
    static const char *const path[] = {"bert.*", "bert_encoder.*", "predictor.*text_encoder.*", "predictor.lstm.*",
                                       "predictor.module.lstm.*", "predictor.*duration_proj.*"};
    for (size_t i = 0; i < sizeof path / sizeof path[0]; i++)
        if (fnmatch(path[i], name, 0) == 0)
            return 1;
    return 0;
}

void kt_quant_rows_cols(const kt_tensor *t, int64_t *rows, int64_t *cols)
{
    int64_t c = 1;
    for (int i = 1; i < t->ndim; i++)
        c *= t->shape[i];
    *rows = t->ndim > 0 ? t->shape[0] : 1;
    *cols = c;
}

int64_t kt_q4_groups(int64_t cols) { return (cols + KT_Q4_GROUP - 1) / KT_Q4_GROUP; }

static float max_abs(const float *w, int64_t n)
{
    float m = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float a = fabsf(w[i]);
        if (a > m)
            m = a;
    }
    return m;
}

/* round(w / s) half to even, clamped to [lo, hi]; 0 when s is 0. */
static int quant_one(float w, float s, int lo, int hi)
{
    if (s == 0.0f)
        return 0;
    double r = nearbyint((double)w / (double)s);
    if (r < lo)
        r = lo;
    if (r > hi)
        r = hi;
    return (int)r;
}

void kt_q8_quantize_row(const float *w, int64_t n, int8_t *q, float *scale)
{
    float s = max_abs(w, n) / 127.0f;
    for (int64_t i = 0; i < n; i++)
        q[i] = (int8_t)quant_one(w[i], s, -127, 127);
    *scale = s;
}

void kt_q4_quantize_row(const float *w, int64_t n, uint8_t *q, float *scales)
{
    memset(q, 0, (size_t)((n + 1) / 2));
    for (int64_t g = 0; g * KT_Q4_GROUP < n; g++) {
        int64_t lo = g * KT_Q4_GROUP, len = n - lo < KT_Q4_GROUP ? n - lo : KT_Q4_GROUP;
        float s = max_abs(w + lo, len) / 7.0f;
        scales[g] = s;
        for (int64_t i = lo; i < lo + len; i++) {
            unsigned c = (unsigned)quant_one(w[i], s, -8, 7) & 0xFu;
            q[i >> 1] |= (uint8_t)(c << ((i & 1) * 4));
        }
    }
}

int kt_q4_code(const uint8_t *q, int64_t i)
{
    int nib = (q[i >> 1] >> ((i & 1) * 4)) & 0xF;
    return (nib ^ 8) - 8;
}

/* The decoders below work in fixed blocks of 8 so that -O2 (whose cost model skips loops
 * that need a scalar epilogue) still turns each block into vector code. */
void kt_q8_dequantize_row(const int8_t *restrict q, float scale, int64_t n, float *restrict out)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            out[i + k] = (float)q[i + k] * scale;
    for (; i < n; i++)
        out[i] = (float)q[i] * scale;
}

/* Sign-extends a 4-bit two's-complement nibble. */
static inline int nib_lo(uint8_t b) { return ((b & 0xF) ^ 8) - 8; }
static inline int nib_hi(uint8_t b) { return ((b >> 4) ^ 8) - 8; }

static inline float bf16_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

void kt_q4_dequantize_row(const uint8_t *restrict q, const float *restrict scales, int64_t n, float *restrict out)
{
    int64_t pairs = n / 2, k = 0; /* both values of a byte share a group (32 is even) */
    for (; k + 8 <= pairs; k += 8) { /* 8 bytes = 16 values, inside one group */
        float s = scales[k / (KT_Q4_GROUP / 2)];
        for (int j = 0; j < 8; j++) {
            out[2 * (k + j)] = (float)nib_lo(q[k + j]) * s;
            out[2 * (k + j) + 1] = (float)nib_hi(q[k + j]) * s;
        }
    }
    for (; k < pairs; k++) {
        float s = scales[k / (KT_Q4_GROUP / 2)];
        out[2 * k] = (float)nib_lo(q[k]) * s;
        out[2 * k + 1] = (float)nib_hi(q[k]) * s;
    }
    if (n & 1)
        out[n - 1] = (float)nib_lo(q[pairs]) * scales[(n - 1) / KT_Q4_GROUP];
}

/* The tensor as a malloc'd float32 buffer (row-major); checks it is float and finite when asked. */
static kt_status load_f32(const kt_tensor *t, int need_finite, float **out, kt_error *err)
{
    int64_t n = kt_tensor_numel(t);
    *out = NULL;
    if (!is_float_dtype(t->dtype))
        return kt_error_set(err, KT_EINVAL, "not a float tensor (%s)", kt_dtype_name(t->dtype));
    float *buf = malloc((size_t)(n > 0 ? n : 1) * sizeof *buf);
    if (!buf)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    kt_status st = kt_tensor_to_f32(t, buf, err);
    if (st)
        goto fail;
    for (int64_t i = 0; need_finite && i < n; i++)
        if (!isfinite(buf[i])) {
            st = kt_error_set(err, KT_EINVAL, "value %lld is %g; only finite values can be quantized", (long long)i,
                              (double)buf[i]);
            goto fail;
        }
    *out = buf;
    return KT_OK;
fail:
    free(buf);
    return st;
}

static kt_status alloc_quant_outputs(const kt_tensor *src, kt_quant_scheme s, int64_t rows, int64_t cols,
                                     kt_tensor *codes, kt_tensor *scales, kt_error *err)
{
    kt_status st;
    if (s == KT_QUANT_Q8) {
        st = kt_tensor_alloc(codes, KT_I8, src->ndim, src->shape, err);
        if (!st)
            st = kt_tensor_alloc(scales, KT_F32, 1, &rows, err);
    } else {
        int64_t cshape[2] = {rows, (cols + 1) / 2}, sshape[2] = {rows, kt_q4_groups(cols)};
        st = kt_tensor_alloc(codes, KT_U8, 2, cshape, err);
        if (!st)
            st = kt_tensor_alloc(scales, KT_F32, 2, sshape, err);
    }
    return st;
}

kt_status kt_quantize(const kt_tensor *src, kt_quant_scheme s, kt_tensor *codes, kt_tensor *scales, kt_error *err)
{
    int64_t rows, cols;
    float *w = NULL;
    kt_status st;
    memset(codes, 0, sizeof *codes);
    memset(scales, 0, sizeof *scales);
    if (!kt_quant_is_integer(s))
        return kt_error_set(err, KT_EINVAL, "scheme %s is not an integer quantization", kt_quant_scheme_name(s));
    kt_quant_rows_cols(src, &rows, &cols);
    st = load_f32(src, 1, &w, err);
    if (!st)
        st = alloc_quant_outputs(src, s, rows, cols, codes, scales, err);
    if (st)
        goto fail;
    for (int64_t r = 0; r < rows; r++) {
        float *sc = (float *)scales->owned;
        if (s == KT_QUANT_Q8)
            kt_q8_quantize_row(w + r * cols, cols, (int8_t *)codes->owned + r * cols, sc + r);
        else
            kt_q4_quantize_row(w + r * cols, cols, (uint8_t *)codes->owned + r * ((cols + 1) / 2),
                               sc + r * kt_q4_groups(cols));
    }
    free(w);
    return KT_OK;
fail:
    free(w);
    kt_tensor_release(codes);
    kt_tensor_release(scales);
    return st;
}

kt_status kt_cast_float(const kt_tensor *src, kt_dtype to, kt_tensor *out, kt_error *err)
{
    float *w = NULL;
    int64_t n = kt_tensor_numel(src);
    memset(out, 0, sizeof *out);
    if (to != KT_F32 && to != KT_F16 && to != KT_BF16)
        return kt_error_set(err, KT_EINVAL, "cannot cast to %s", kt_dtype_name(to));
    kt_status st = load_f32(src, 0, &w, err);
    if (!st)
        st = kt_tensor_alloc(out, to, src->ndim, src->shape, err);
    if (st)
        goto fail;
    for (int64_t i = 0; i < n; i++) {
        if (to == KT_F32) {
            ((float *)out->owned)[i] = w[i];
            continue;
        }
        uint16_t h = to == KT_F16 ? kt_f32_to_f16(w[i]) : kt_f32_to_bf16(w[i]);
        float back = to == KT_F16 ? kt_f16_to_f32(h) : kt_bf16_to_f32(h);
        if (isfinite(w[i]) && !isfinite(back)) {
            st = kt_error_set(err, KT_EINVAL, "value %g overflows %s", (double)w[i], kt_dtype_name(to));
            goto fail;
        }
        ((uint16_t *)out->owned)[i] = h;
    }
    free(w);
    return KT_OK;
fail:
    free(w);
    kt_tensor_release(out);
    return st;
}

kt_status kt_weight_norm_fold(const kt_tensor *g, const kt_tensor *v, kt_tensor *out, kt_error *err)
{
    float *gb = NULL, *vb = NULL;
    int64_t rows, cols;
    kt_status st;
    memset(out, 0, sizeof *out);
    if (v->ndim < 1 || kt_tensor_numel(g) != v->shape[0])
        return kt_error_set(err, KT_EINVAL, "weight_g has %lld values, weight_v has %lld rows",
                            (long long)kt_tensor_numel(g), (long long)(v->ndim ? v->shape[0] : 0));
    kt_quant_rows_cols(v, &rows, &cols);
    st = load_f32(g, 0, &gb, err);
    if (!st)
        st = load_f32(v, 0, &vb, err);
    if (!st)
        st = kt_tensor_alloc(out, KT_F32, v->ndim, v->shape, err);
    if (st)
        goto fail;
    for (int64_t r = 0; r < rows; r++) {
        const float *vr = vb + r * cols;
        float *o = (float *)out->owned + r * cols;
        double ss = 0.0;
        for (int64_t i = 0; i < cols; i++)
            ss += (double)vr[i] * vr[i];
        double f = (double)gb[r] / sqrt(ss);
        for (int64_t i = 0; i < cols; i++)
            o[i] = (float)(vr[i] * f);
    }
fail:
    free(gb);
    free(vb);
    if (st)
        kt_tensor_release(out);
    return st;
}

/* ---- metadata entries: {"scheme":"q8","dtype":"float32","shape":[...],"group":N} ---- */

typedef struct {
    kt_quant_scheme scheme;
    kt_dtype dtype;
    int ndim;
    int64_t shape[KT_MAX_DIMS];
    int64_t group;
} qentry;

static kt_status parse_shape(const cJSON *a, qentry *e, kt_error *err)
{
    int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1;
    if (n < 0 || n > KT_MAX_DIMS)
        return kt_error_set(err, KT_EFORMAT, "quant metadata: bad \"shape\"");
    e->ndim = n;
    for (int i = 0; i < n; i++) {
        const cJSON *d = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 4e12 ||
            d->valuedouble != floor(d->valuedouble))
            return kt_error_set(err, KT_EFORMAT, "quant metadata: bad dimension in \"shape\"");
        e->shape[i] = (int64_t)d->valuedouble;
    }
    return KT_OK;
}

static kt_status parse_entry(const char *json, qentry *e, kt_error *err)
{
    kt_status st = KT_OK;
    cJSON *root = cJSON_Parse(json);
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(root, "scheme");
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(root, "dtype");
    const cJSON *gr = cJSON_GetObjectItemCaseSensitive(root, "group");
    memset(e, 0, sizeof *e);
    if (!cJSON_IsObject(root) || !cJSON_IsString(sc) || kt_quant_scheme_parse(sc->valuestring, &e->scheme) ||
        !kt_quant_is_integer(e->scheme)) {
        st = kt_error_set(err, KT_EFORMAT, "quant metadata: missing or unknown \"scheme\"");
        goto done;
    }
    if (!cJSON_IsString(dt) || kt_dtype_parse(dt->valuestring, &e->dtype) || !is_float_dtype(e->dtype)) {
        st = kt_error_set(err, KT_EFORMAT, "quant metadata: missing or non-float \"dtype\"");
        goto done;
    }
    st = parse_shape(cJSON_GetObjectItemCaseSensitive(root, "shape"), e, err);
    if (!st && (!cJSON_IsNumber(gr) || gr->valuedouble < 0 || gr->valuedouble > 4e12))
        st = kt_error_set(err, KT_EFORMAT, "quant metadata: missing or bad \"group\"");
    if (!st)
        e->group = (int64_t)gr->valuedouble;
done:
    cJSON_Delete(root);
    return st;
}

static const char *meta_entry(const kt_checkpoint *c, const char *name)
{
    char key[1024];
    if (snprintf(key, sizeof key, "%s%s", KT_QUANT_META_PREFIX, name) >= (int)sizeof key)
        return NULL;
    return kt_checkpoint_metadata(c, key);
}

static kt_status find_contig(const kt_checkpoint *c, const char *name, kt_dtype dtype, int64_t numel,
                             const kt_tensor **out, kt_error *err)
{
    const kt_tensor *t = kt_checkpoint_find(c, name);
    *out = t;
    if (!t)
        return kt_error_set(err, KT_EFORMAT, "quantized tensor without its \"%s\"", name);
    if (t->dtype != dtype || kt_tensor_numel(t) != numel || !kt_tensor_is_contiguous(t))
        return kt_error_set(err, KT_EFORMAT, "\"%s\" is %s with %lld values, expected contiguous %s with %lld", name,
                            kt_dtype_name(t->dtype), (long long)kt_tensor_numel(t), kt_dtype_name(dtype),
                            (long long)numel);
    return KT_OK;
}

/* Fills v's geometry from the logical shape; 0 on success, -1 when too large (> 2^40 values). */
static int set_geometry(kt_qview *v, kt_quant_scheme s, int ndim, const int64_t *shape)
{
    const int64_t lim = INT64_C(1) << 40;
    v->scheme = s;
    v->ndim = ndim;
    v->rows = ndim > 0 ? shape[0] : 1;
    v->cols = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || shape[i] > lim)
            return -1;
        v->shape[i] = shape[i];
        if (i == 0)
            continue;
        if (shape[i] && v->cols > lim / shape[i])
            return -1;
        v->cols *= shape[i];
    }
    if (v->cols && v->rows > lim / v->cols)
        return -1;
    v->group = s == KT_QUANT_Q4 ? KT_Q4_GROUP : v->cols;
    v->groups = s == KT_QUANT_Q4 ? kt_q4_groups(v->cols) : s == KT_QUANT_Q8 ? 1 : 0;
    if (s == KT_QUANT_Q4)
        v->row_bytes = (v->cols + 1) / 2;
    else
        v->row_bytes = v->cols * (s == KT_QUANT_Q8 ? 1 : s == KT_QUANT_F32 ? 4 : 2);
    return 0;
}

static kt_status open_quantized(const kt_checkpoint *c, const char *name, const char *json, kt_qview *v,
                                kt_error *err)
{
    qentry e;
    const kt_tensor *codes, *scales;
    char sname[1024];
    kt_status st = parse_entry(json, &e, err);
    if (st)
        return st;
    if (set_geometry(v, e.scheme, e.ndim, e.shape) || e.group != v->group)
        return kt_error_set(err, KT_EFORMAT, "quant metadata: shape or group inconsistent with %s",
                            kt_quant_scheme_name(e.scheme));
    if (snprintf(sname, sizeof sname, "%s.scale", name) >= (int)sizeof sname)
        return kt_error_set(err, KT_ELIMIT, "tensor name too long");
    st = find_contig(c, name, e.scheme == KT_QUANT_Q8 ? KT_I8 : KT_U8, v->rows * v->row_bytes, &codes, err);
    if (!st)
        st = find_contig(c, sname, KT_F32, v->rows * v->groups, &scales, err);
    if (st)
        return st;
    v->codes = codes->data;
    v->scales = scales->data;
    return KT_OK;
}

kt_status kt_qview_open(const kt_checkpoint *c, const char *name, kt_qview *v, kt_error *err)
{
    const char *json = meta_entry(c, name);
    const kt_tensor *t;
    memset(v, 0, sizeof *v);
    if (json)
        return open_quantized(c, name, json, v, err);
    t = kt_checkpoint_find(c, name);
    if (!t)
        return kt_error_set(err, KT_ENOTFOUND, "no tensor named \"%s\"", name);
    if (t->dtype != KT_F32 && t->dtype != KT_F16 && t->dtype != KT_BF16)
        return kt_error_set(err, KT_EUNSUPPORTED, "\"%s\" is %s, not a weight kt can decode", name,
                            kt_dtype_name(t->dtype));
    if (!kt_tensor_is_contiguous(t))
        return kt_error_set(err, KT_EUNSUPPORTED, "\"%s\" is not contiguous", name);
    kt_quant_scheme s = t->dtype == KT_F32 ? KT_QUANT_F32 : t->dtype == KT_F16 ? KT_QUANT_F16 : KT_QUANT_BF16;
    if (set_geometry(v, s, t->ndim, t->shape))
        return kt_error_set(err, KT_ELIMIT, "\"%s\" is too large", name);
    v->codes = t->data;
    return KT_OK;
}

static int check_part(const kt_tensor *t, kt_dtype dtype, int64_t numel)
{
    return t && t->dtype == dtype && kt_tensor_numel(t) == numel && kt_tensor_is_contiguous(t);
}

kt_status kt_qview_from_tensors(kt_quant_scheme s, int ndim, const int64_t *shape, const kt_tensor *codes,
                                const kt_tensor *scales, kt_qview *v, kt_error *err)
{
    static const kt_dtype code_dtype[] = {KT_F32, KT_F16, KT_BF16, KT_I8, KT_U8};
    memset(v, 0, sizeof *v);
    if ((unsigned)s > KT_QUANT_Q4 || ndim < 0 || ndim > KT_MAX_DIMS || set_geometry(v, s, ndim, shape))
        return kt_error_set(err, KT_EINVAL, "bad scheme or shape for a weight view");
    int64_t ncodes = v->rows * (kt_quant_is_integer(s) ? v->row_bytes : v->cols);
    if (!check_part(codes, code_dtype[s], ncodes) ||
        (kt_quant_is_integer(s) ? !check_part(scales, KT_F32, v->rows * v->groups) : scales != NULL))
        return kt_error_set(err, KT_EFORMAT, "codes or scales do not match a %s tensor of this shape",
                            kt_quant_scheme_name(s));
    v->codes = codes->data;
    v->scales = scales ? scales->data : NULL;
    return KT_OK;
}

/* IEEE half to float: shift the exponent/mantissa into place and rescale by 2^112
 * (exact for normals and subnormals); values that land at or above 2^16 were Inf/NaN. */
static inline float f16_f32(uint16_t h)
{
    uint32_t u = (uint32_t)(h & 0x7FFF) << 13;
    float f;
    memcpy(&f, &u, sizeof f);
    f *= 0x1p112f;
    memcpy(&u, &f, sizeof u);
    u |= (f >= 65536.0f ? 0x7F800000u : 0u) | (uint32_t)(h & 0x8000) << 16;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Decodes values [i0, i0+n) of row r; q8 codes are left unscaled when unscaled is set.
 * For q4, i0 must be a multiple of KT_Q4_GROUP. */
static void decode_range(const kt_qview *v, int64_t r, int64_t i0, int64_t n, float *restrict out, int unscaled)
{
    const uint8_t *p = v->codes + r * v->row_bytes;
    const uint16_t *restrict h = (const uint16_t *)(const void *)p + i0;
    switch (v->scheme) {
    case KT_QUANT_F32: memcpy(out, (const float *)(const void *)p + i0, (size_t)n * sizeof *out); break;
    case KT_QUANT_F16: {
        int64_t i = 0;
        for (; i + 8 <= n; i += 8)
            for (int k = 0; k < 8; k++)
                out[i + k] = f16_f32(h[i + k]);
        for (; i < n; i++)
            out[i] = f16_f32(h[i]);
        break;
    }
    case KT_QUANT_BF16: {
        int64_t i = 0;
        for (; i + 8 <= n; i += 8)
            for (int k = 0; k < 8; k++)
                out[i + k] = bf16_f32(h[i + k]);
        for (; i < n; i++)
            out[i] = bf16_f32(h[i]);
        break;
    }
    case KT_QUANT_Q8: kt_q8_dequantize_row((const int8_t *)p + i0, unscaled ? 1.0f : v->scales[r], n, out); break;
    case KT_QUANT_Q4: kt_q4_dequantize_row(p + i0 / 2, v->scales + r * v->groups + i0 / KT_Q4_GROUP, n, out); break;
    }
}

void kt_qview_row(const kt_qview *v, int64_t r, float *out)
{
    decode_range(v, r, 0, v->cols, out, 0);
}

/* Dot product with 8 independent partial sums (lets the compiler vectorize under strict FP). */
static float dot_f32(const float *restrict w, const float *restrict x, int64_t n)
{
    float a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, s = 0.0f;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            a[k] += w[i + k] * x[i + k];
    for (; i < n; i++)
        s += w[i] * x[i];
    return s + ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
}

#define DOT_CHUNK 256 /* values decoded at a time (a multiple of KT_Q4_GROUP) */

float kt_qview_row_dot(const kt_qview *v, int64_t r, const float *x)
{
    float buf[DOT_CHUNK], acc = 0.0f;
    if (v->scheme == KT_QUANT_F32)
        return dot_f32((const float *)(const void *)(v->codes + r * v->row_bytes), x, v->cols);
    for (int64_t i0 = 0; i0 < v->cols; i0 += DOT_CHUNK) {
        int64_t n = v->cols - i0 < DOT_CHUNK ? v->cols - i0 : DOT_CHUNK;
        decode_range(v, r, i0, n, buf, 1);
        acc += dot_f32(buf, x + i0, n);
    }
    return v->scheme == KT_QUANT_Q8 ? acc * v->scales[r] : acc;
}

void kt_qview_matvec(const kt_qview *v, const float *x, float *y)
{
    for (int64_t r = 0; r < v->rows; r++)
        y[r] = kt_qview_row_dot(v, r, x);
}

void kt_qview_decode(const kt_qview *v, float *out)
{
    for (int64_t r = 0; r < v->rows; r++)
        kt_qview_row(v, r, out + r * v->cols);
}

/* ---- listing ---- */

static kt_status info_for(const kt_checkpoint *c, const char *name, const char *json, kt_quant_info *qi,
                          kt_error *err)
{
    kt_qview v;
    qentry e;
    kt_status st = parse_entry(json, &e, err);
    if (!st)
        st = open_quantized(c, name, json, &v, err);
    if (st) {
        kt_error_prefix(err, name);
        return st;
    }
    qi->name = name;
    qi->scheme = e.scheme;
    qi->dtype = e.dtype;
    qi->ndim = e.ndim;
    memcpy(qi->shape, e.shape, sizeof qi->shape);
    qi->group = e.group;
    qi->stored_bytes = (uint64_t)(v.rows * v.row_bytes) + (uint64_t)(v.rows * v.groups) * 4u;
    return KT_OK;
}

static size_t count_quant_meta(const kt_checkpoint *c)
{
    size_t n, k = 0, plen = strlen(KT_QUANT_META_PREFIX);
    const kt_kv *kv = kt_checkpoint_metadata_all(c, &n);
    for (size_t i = 0; i < n; i++)
        k += strncmp(kv[i].key, KT_QUANT_META_PREFIX, plen) == 0;
    return k;
}

kt_status kt_quant_list(const kt_checkpoint *c, kt_quant_info **out, size_t *count, kt_error *err)
{
    const kt_tensor_list *l = kt_checkpoint_tensors(c);
    size_t want = count_quant_meta(c), k = 0;
    kt_quant_info *a = NULL;
    kt_status st = KT_OK;
    *out = NULL;
    *count = 0;
    if (want == 0)
        return KT_OK;
    a = calloc(want, sizeof *a);
    if (!a)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    for (size_t i = 0; i < l->count && !st; i++) {
        const char *json = meta_entry(c, l->items[i].name);
        if (json && k < want)
            st = info_for(c, l->items[i].name, json, &a[k++], err);
    }
    if (!st && k != want)
        st = kt_error_set(err, KT_EFORMAT, "quant metadata names %zu tensors, %zu are present", want, k);
    if (st) {
        free(a);
        return st;
    }
    *out = a;
    *count = k;
    return KT_OK;
}

int kt_quant_is_scale_name(const kt_checkpoint *c, const char *name)
{
    size_t n = strlen(name);
    char base[1024];
    if (n <= 6 || n >= sizeof base || strcmp(name + n - 6, ".scale") != 0)
        return 0;
    memcpy(base, name, n - 6);
    base[n - 6] = '\0';
    return meta_entry(c, base) != NULL;
}

kt_status kt_quant_meta(const char *name, const kt_tensor *t, kt_quant_scheme s, kt_kv *out, kt_error *err)
{
    char val[512];
    int64_t rows, cols;
    size_t k;
    out->key = out->value = NULL;
    if (s != KT_QUANT_Q8 && s != KT_QUANT_Q4)
        return kt_error_set(err, KT_EINVAL, "%s: not a quantized scheme", name);
    kt_quant_rows_cols(t, &rows, &cols);
    k = (size_t)snprintf(val, sizeof val, "{\"scheme\":\"%s\",\"dtype\":\"%s\",\"shape\":[",
                         kt_quant_scheme_name(s), kt_dtype_name(t->dtype));
    for (int i = 0; i < t->ndim && k < sizeof val; i++)
        k += (size_t)snprintf(val + k, sizeof val - k, "%s%lld", i ? "," : "", (long long)t->shape[i]);
    if (k < sizeof val)
        k += (size_t)snprintf(val + k, sizeof val - k, "],\"group\":%lld}",
                              (long long)(s == KT_QUANT_Q4 ? KT_Q4_GROUP : cols));
    if (k >= sizeof val)
        return kt_error_set(err, KT_EINVAL, "%s: shape too long for a quant entry", name);
    size_t plen = strlen(KT_QUANT_META_PREFIX), nlen = strlen(name);
    out->key = malloc(plen + nlen + 1);
    out->value = strdup(val);
    if (!out->key || !out->value) {
        free(out->key);
        free(out->value);
        out->key = out->value = NULL;
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    }
    memcpy(out->key, KT_QUANT_META_PREFIX, plen);
    memcpy(out->key + plen, name, nlen + 1);
    return KT_OK;
}
