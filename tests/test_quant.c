/* test_quant.c - q8/q4 error bounds, packing, short last group, casts, keep rule, weight-norm fold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kt/formats.h"
#include "kt/quant.h"

#include <stdio.h>
#include <unistd.h>

/* A contiguous float32 tensor borrowing data. */
static kt_tensor view_f32(const float *data, int ndim, const int64_t *shape)
{
    kt_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = KT_F32;
    t.ndim = ndim;
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t.shape[i] = shape[i];
        t.stride[i] = s;
        s *= shape[i];
    }
    t.data = data;
    return t;
}

/* Deterministic pseudo-random values in [-a, a] with a varying per row (xorshift). */
static void fill(float *w, int64_t rows, int64_t cols, uint32_t seed)
{
    uint32_t x = seed ? seed : 1;
    for (int64_t r = 0; r < rows; r++) {
        float amp = 0.01f + (float)(r % 7) * 0.37f;
        for (int64_t i = 0; i < cols; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            w[r * cols + i] = amp * ((float)(x % 20001) / 10000.0f - 1.0f);
        }
    }
}

static float max_abs_ref(const float *w, int64_t n)
{
    float m = 0;
    for (int64_t i = 0; i < n; i++)
        m = fabsf(w[i]) > m ? fabsf(w[i]) : m;
    return m;
}

static void test_q8_half_step(void **state)
{
    (void)state;
    enum { R = 12, C = 300 };
    float *w = malloc(R * C * sizeof *w), *back = malloc(C * sizeof *back);
    int64_t shape[3] = {R, 20, 15};
    fill(w, R, C, 7);
    w[3 * C + 5] = 0.0f; /* zero row below */
    for (int i = 0; i < C; i++)
        w[4 * C + i] = 0.0f;
    kt_tensor t = view_f32(w, 3, shape), codes, scales;
    kt_error err;
    assert_int_equal(kt_quantize(&t, KT_QUANT_Q8, &codes, &scales, &err), KT_OK);
    assert_int_equal(codes.dtype, KT_I8);
    assert_int_equal(codes.ndim, 3);
    assert_int_equal(codes.shape[2], 15);
    assert_int_equal(scales.ndim, 1);
    assert_int_equal(scales.shape[0], R);
    const float *sc = scales.data;
    const int8_t *q = codes.data;
    for (int r = 0; r < R; r++) {
        float expect = max_abs_ref(w + r * C, C) / 127.0f;
        assert_true(sc[r] == expect);
        kt_q8_dequantize_row(q + r * C, sc[r], C, back);
        int saw_extreme = 0;
        for (int i = 0; i < C; i++) {
            assert_true(q[r * C + i] >= -127 && q[r * C + i] <= 127);
            saw_extreme |= q[r * C + i] == 127 || q[r * C + i] == -127;
            double e = fabs((double)back[i] - w[r * C + i]);
            assert_true(e <= sc[r] * (0.5 + 1e-5));
        }
        assert_true(r == 4 ? !saw_extreme && sc[r] == 0.0f : saw_extreme);
    }
    kt_tensor_release(&codes);
    kt_tensor_release(&scales);
    free(w);
    free(back);
}

/* Known values: max 127 gives scale 1, so the codes are the rounded values (half to even). */
static void test_q8_known_codes(void **state)
{
    (void)state;
    const float w[6] = {127.0f, -63.5f, 62.5f, 0.4f, 0.0f, -126.6f};
    int8_t q[6];
    float s;
    kt_q8_quantize_row(w, 6, q, &s);
    assert_true(s == 1.0f);
    assert_int_equal(q[0], 127);
    assert_int_equal(q[1], -64);
    assert_int_equal(q[2], 62);
    assert_int_equal(q[3], 0);
    assert_int_equal(q[4], 0);
    assert_int_equal(q[5], -127);
}

static void check_q4_rows(const float *w, int64_t rows, int64_t cols)
{
    int64_t shape[2] = {rows, cols};
    kt_tensor t = view_f32(w, 2, shape), codes, scales;
    kt_error err;
    float *back = malloc((size_t)cols * sizeof *back);
    int64_t ng = (cols + 31) / 32;
    assert_int_equal(kt_quantize(&t, KT_QUANT_Q4, &codes, &scales, &err), KT_OK);
    assert_int_equal(codes.dtype, KT_U8);
    assert_int_equal(codes.shape[0], rows);
    assert_int_equal(codes.shape[1], (cols + 1) / 2);
    assert_int_equal(scales.shape[1], ng);
    const float *sc = scales.data;
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *q = (const uint8_t *)codes.data + r * ((cols + 1) / 2);
        kt_q4_dequantize_row(q, sc + r * ng, cols, back);
        for (int64_t g = 0; g < ng; g++) {
            int64_t lo = g * 32, len = cols - lo < 32 ? cols - lo : 32;
            float s = sc[r * ng + g];
            assert_true(s == max_abs_ref(w + r * cols + lo, len) / 7.0f);
            for (int64_t i = lo; i < lo + len; i++) {
                int c = kt_q4_code(q, i);
                assert_true(c >= -8 && c <= 7);
                assert_true(fabs((double)back[i] - w[r * cols + i]) <= s * (0.5 + 1e-5));
            }
        }
        if (cols & 1) /* the unused high nibble of an odd row stays zero */
            assert_int_equal(q[cols / 2] >> 4, 0);
    }
    kt_tensor_release(&codes);
    kt_tensor_release(&scales);
    free(back);
}

static void test_q4_half_step(void **state)
{
    (void)state;
    float *w = malloc(9 * 256 * sizeof *w);
    fill(w, 9, 256, 11);
    check_q4_rows(w, 9, 256);
    free(w);
}

/* 70 = 32 + 32 + 6 (short last group), 45 (odd length: last byte half used), 5 (a single short group). */
static void test_q4_short_last_group(void **state)
{
    (void)state;
    static const int64_t lens[3] = {70, 45, 5};
    for (int k = 0; k < 3; k++) {
        float *w = malloc((size_t)(3 * lens[k]) * sizeof *w);
        fill(w, 3, lens[k], 3 + (uint32_t)k);
        w[lens[k] - 1] = 9.0f; /* a big value only in the last (short) group of row 0 */
        check_q4_rows(w, 3, lens[k]);
        free(w);
    }
}

static void test_q4_packing(void **state)
{
    (void)state;
    /* group max 7 -> scale 1: codes are the values themselves, packed low nibble first. */
    const float w[3] = {7.0f, -3.0f, 1.0f};
    uint8_t q[2] = {0xAA, 0xAA};
    float s;
    kt_q4_quantize_row(w, 3, q, &s);
    assert_true(s == 1.0f);
    assert_int_equal(q[0], 0xD7); /* -3 = 0xD high, 7 low */
    assert_int_equal(q[1], 0x01);
    assert_int_equal(kt_q4_code(q, 1), -3);
}

static void test_casts(void **state)
{
    (void)state;
    enum { N = 2000 };
    float w[N];
    int64_t shape[2] = {40, 50};
    fill(w, 40, 50, 5);
    w[0] = 65504.0f; /* largest half */
    w[1] = 1e-3f;
    kt_tensor t = view_f32(w, 2, shape), h, b;
    kt_error err;
    assert_int_equal(kt_cast_float(&t, KT_F16, &h, &err), KT_OK);
    assert_int_equal(kt_cast_float(&t, KT_BF16, &b, &err), KT_OK);
    assert_int_equal(h.dtype, KT_F16);
    assert_int_equal(b.dtype, KT_BF16);
    for (int i = 0; i < N; i++) {
        double a = fabs((double)w[i]);
        double eh = fabs((double)kt_f16_to_f32(((const uint16_t *)h.data)[i]) - w[i]);
        double eb = fabs((double)kt_bf16_to_f32(((const uint16_t *)b.data)[i]) - w[i]);
        /* normal range: relative error at most 2^-11 (half) and 2^-8 (bfloat16); f16 subnormals: 2^-25 absolute */
        assert_true(eh <= (a >= 6.103515625e-05 ? a * 0x1p-11 : 0x1p-25));
        assert_true(eb <= a * 0x1p-8);
    }
    kt_tensor_release(&h);
    kt_tensor_release(&b);
    w[2] = 70000.0f;
    assert_int_equal(kt_cast_float(&t, KT_F16, &h, &err), KT_EINVAL);
    assert_non_null(strstr(err.msg, "overflows"));
}

static void test_nonfinite_rejected(void **state)
{
    (void)state;
    float w[2048] = {0};
    int64_t shape[2] = {2, 1024};
    w[100] = NAN;
    kt_tensor t = view_f32(w, 2, shape), c, s;
    kt_error err;
    assert_int_equal(kt_quantize(&t, KT_QUANT_Q8, &c, &s, &err), KT_EINVAL);
    assert_null(c.owned);
    assert_null(s.owned);
}

static void test_keep_rule(void **state)
{
    (void)state;
    static float buf[4096];
    int64_t s1[1] = {4096}, s2[2] = {64, 64}, s3[3] = {1, 512, 1}, s4[2] = {8, 100};
    kt_tensor bias = view_f32(buf, 1, s1), mat = view_f32(buf, 2, s2), alpha = view_f32(buf, 3, s3),
              small = view_f32(buf, 2, s4), ints = view_f32(buf, 2, s2);
    ints.dtype = KT_I32;
    const char *keep[1] = {"bert.*.attention.*"};
    assert_string_equal(kt_quant_keep_reason("x.bias", &bias, NULL, 0), "1-d");
    assert_string_equal(kt_quant_keep_reason("x.LayerNorm.weight", &bias, NULL, 0), "1-d");
    assert_string_equal(kt_quant_keep_reason("x.gamma", &bias, NULL, 0), "1-d");
    assert_string_equal(kt_quant_keep_reason("gen.resblocks.0.alpha1.0", &alpha, NULL, 0), "alpha");
    assert_string_equal(kt_quant_keep_reason("bert.embeddings.word_embeddings.weight", &mat, NULL, 0), "embedding");
    assert_string_equal(kt_quant_keep_reason("g.ups.0.weight_g", &mat, NULL, 0), "weight_g");
    assert_string_equal(kt_quant_keep_reason("m.l_linear.weight", &small, NULL, 0), "small");
    assert_string_equal(kt_quant_keep_reason("voices.af_heart", &mat, NULL, 0), "voice");
    assert_string_equal(kt_quant_keep_reason("pos_ids", &ints, NULL, 0), "not float");
    assert_null(kt_quant_keep_reason("g.ups.0.weight_v", &mat, NULL, 0));
    assert_null(kt_quant_keep_reason("bert.encoder.attention.dense.weight", &mat, NULL, 0));
    assert_string_equal(kt_quant_keep_reason("bert.encoder.attention.dense.weight", &mat, keep, 1), "--keep");
    assert_null(kt_quant_keep_reason("bert.encoder.ffn.weight", &mat, keep, 1));
    int64_t edge[2] = {32, 32}; /* exactly 1024 elements is not small */
    kt_tensor e = view_f32(buf, 2, edge);
    assert_null(kt_quant_keep_reason("a.weight", &e, NULL, 0));
}

/* g = [2, -1], v = [[3,4,0],[1,2,2]] reshaped [2,3,1]: norms 5 and 3 -> w = [[1.2,1.6,0],[-1/3,-2/3,-2/3]]. */
static void test_weight_norm_fold(void **state)
{
    (void)state;
    const float g[2] = {2.0f, -1.0f}, v[6] = {3, 4, 0, 1, 2, 2};
    const float expect[6] = {1.2f, 1.6f, 0.0f, -1.0f / 3, -2.0f / 3, -2.0f / 3};
    int64_t gs[3] = {2, 1, 1}, vs[3] = {2, 3, 1};
    kt_tensor tg = view_f32(g, 3, gs), tv = view_f32(v, 3, vs), w;
    kt_error err;
    assert_int_equal(kt_weight_norm_fold(&tg, &tv, &w, &err), KT_OK);
    assert_int_equal(w.dtype, KT_F32);
    assert_int_equal(w.ndim, 3);
    assert_int_equal(w.shape[1], 3);
    for (int i = 0; i < 6; i++)
        assert_float_equal(((const float *)w.data)[i], expect[i], 1e-7);
    kt_tensor_release(&w);
    int64_t bad[3] = {3, 1, 1};
    tg = view_f32(v, 3, bad);
    assert_int_equal(kt_weight_norm_fold(&tg, &tv, &w, &err), KT_EINVAL);
}

static void test_scheme_names(void **state)
{
    (void)state;
    kt_quant_scheme s;
    assert_int_equal(kt_quant_scheme_parse("q4", &s), 0);
    assert_int_equal(s, KT_QUANT_Q4);
    assert_int_equal(kt_quant_scheme_parse("bfloat16", &s), 0);
    assert_int_equal(s, KT_QUANT_BF16);
    assert_int_equal(kt_quant_scheme_parse("q3", &s), -1);
    assert_string_equal(kt_quant_scheme_name(KT_QUANT_Q8), "q8");
    assert_int_equal(kt_q4_groups(70), 3);
    assert_int_equal(kt_q4_groups(64), 2);
}

/* Writes a q8 tensor, a q4 tensor (row of 70: short last group) and a float32 one to a
 * safetensors file with kt.quant.* metadata, reopens it, and reads them back through
 * kt_quant_list and kt_qview (row decode, row dot, matvec) against the in-memory codes. */
static void test_qview_roundtrip(void **state)
{
    (void)state;
    enum { R = 6, C = 70 };
    float w[R * C], x[C], y[R], row[C], ref[C];
    int64_t shape[2] = {R, C};
    fill(w, R, C, 21);
    for (int i = 0; i < C; i++)
        x[i] = (float)(i % 5) - 2.0f;
    kt_tensor t = view_f32(w, 2, shape), c8, s8, c4, s4;
    kt_error err;
    assert_int_equal(kt_quantize(&t, KT_QUANT_Q8, &c8, &s8, &err), KT_OK);
    assert_int_equal(kt_quantize(&t, KT_QUANT_Q4, &c4, &s4, &err), KT_OK);
    kt_tensor_list l = {0};
    kt_tensor plain = view_f32(w, 2, shape);
    assert_int_equal(kt_tensor_list_add(&l, "a.q8", &c8, &err), KT_OK);
    assert_int_equal(kt_tensor_list_add(&l, "a.q8.scale", &s8, &err), KT_OK);
    assert_int_equal(kt_tensor_list_add(&l, "b.q4", &c4, &err), KT_OK);
    assert_int_equal(kt_tensor_list_add(&l, "b.q4.scale", &s4, &err), KT_OK);
    assert_int_equal(kt_tensor_list_add(&l, "c.f32", &plain, &err), KT_OK);
    kt_kv meta[3] = {{"kt.quant", "q8"}, {NULL, NULL}, {NULL, NULL}}; /* the entries from the library's writer */
    assert_int_equal(kt_quant_meta("a.q8", &t, KT_QUANT_Q8, &meta[1], &err), KT_OK);
    assert_int_equal(kt_quant_meta("b.q4", &t, KT_QUANT_Q4, &meta[2], &err), KT_OK);
    assert_string_equal(meta[1].key, "kt.quant.a.q8");
    assert_string_equal(meta[1].value, "{\"scheme\":\"q8\",\"dtype\":\"float32\",\"shape\":[6,70],\"group\":70}");
    assert_string_equal(meta[2].value, "{\"scheme\":\"q4\",\"dtype\":\"float32\",\"shape\":[6,70],\"group\":32}");
    assert_int_equal(kt_quant_meta("c", &t, KT_QUANT_F16, &meta[0], &err), KT_EINVAL);
    meta[0].key = (char *)"kt.quant";
    meta[0].value = (char *)"q8";
    char path[] = "/tmp/kt_test_quant_XXXXXX.safetensors";
    int fd = mkstemps(path, 12);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(kt_safetensors_write(path, &l, meta, 3, &err), KT_OK);
    for (int k = 1; k < 3; k++)
        free(meta[k].key), free(meta[k].value);
    kt_checkpoint *ck = NULL;
    kt_status st = kt_checkpoint_open(path, &ck, &err);
    unlink(path);
    if (st == KT_EUNSUPPORTED) { /* the safetensors reader is still a stub in this build */
        kt_tensor_list_free(&l);
        skip();
    }
    assert_int_equal(st, KT_OK);

    kt_quant_info *qi = NULL;
    size_t n = 0;
    assert_int_equal(kt_quant_list(ck, &qi, &n, &err), KT_OK);
    assert_int_equal(n, 2);
    assert_true(kt_quant_is_scale_name(ck, "a.q8.scale"));
    assert_false(kt_quant_is_scale_name(ck, "c.f32"));
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(qi[k].ndim, 2);
        assert_int_equal(qi[k].shape[1], C);
        assert_int_equal(qi[k].dtype, KT_F32);
        if (strcmp(qi[k].name, "b.q4") == 0)
            assert_int_equal(qi[k].stored_bytes, R * 35 + R * 3 * 4);
    }
    free(qi);

    const char *names[3] = {"a.q8", "b.q4", "c.f32"};
    for (int k = 0; k < 3; k++) {
        kt_qview v;
        assert_int_equal(kt_qview_open(ck, names[k], &v, &err), KT_OK);
        assert_int_equal(v.rows, R);
        assert_int_equal(v.cols, C);
        kt_qview_matvec(&v, x, y);
        for (int r = 0; r < R; r++) {
            if (k == 0)
                kt_q8_dequantize_row((const int8_t *)c8.data + r * C, ((const float *)s8.data)[r], C, ref);
            else if (k == 1)
                kt_q4_dequantize_row((const uint8_t *)c4.data + r * 35, (const float *)s4.data + r * 3, C, ref);
            else
                memcpy(ref, w + r * C, sizeof ref);
            kt_qview_row(&v, r, row);
            double dot = 0.0;
            for (int i = 0; i < C; i++) {
                assert_true(row[i] == ref[i]);
                dot += (double)ref[i] * x[i];
            }
            assert_float_equal(y[r], dot, 1e-4 * (1.0 + fabs(dot)));
        }
    }
    kt_qview v;
    assert_int_equal(kt_qview_open(ck, "missing", &v, &err), KT_ENOTFOUND);
    kt_checkpoint_free(ck);
    kt_tensor_list_free(&l);
}

/* Metadata that does not match the stored tensors is a format error, not a crash. */
static void test_qview_bad_metadata(void **state)
{
    (void)state;
    int8_t codes[4 * 300] = {0};
    float scales[4] = {1, 1, 1, 1};
    kt_tensor c, s;
    int64_t cs[2] = {4, 300}, ss[1] = {4};
    c = view_f32((const float *)codes, 2, cs);
    c.dtype = KT_I8;
    s = view_f32(scales, 1, ss);
    kt_qview v;
    kt_error err;
    assert_int_equal(kt_qview_from_tensors(KT_QUANT_Q8, 2, cs, &c, &s, &v, &err), KT_OK);
    int64_t wrong[2] = {4, 301};
    assert_int_equal(kt_qview_from_tensors(KT_QUANT_Q8, 2, wrong, &c, &s, &v, &err), KT_EFORMAT);
    assert_int_equal(kt_qview_from_tensors(KT_QUANT_Q4, 2, cs, &c, &s, &v, &err), KT_EFORMAT);
    int64_t huge[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
    assert_int_not_equal(kt_qview_from_tensors(KT_QUANT_Q8, 2, huge, &c, &s, &v, &err), KT_OK);
}

/* A file whose kt.quant.* entries do not match its tensors: listing and opening fail cleanly. */
static void test_quant_list_malformed(void **state)
{
    (void)state;
    int8_t codes[2 * 600] = {0};
    float scales[2] = {0.5f, 0.25f};
    int64_t cs[2] = {2, 600}, ss[1] = {2};
    kt_tensor c = view_f32((const float *)(const void *)codes, 2, cs), s = view_f32(scales, 1, ss);
    c.dtype = KT_I8;
    kt_tensor_list l = {0};
    kt_error err;
    assert_int_equal(kt_tensor_list_add(&l, "w", &c, &err), KT_OK);
    assert_int_equal(kt_tensor_list_add(&l, "w.scale", &s, &err), KT_OK);
    static const char *const bad[4][2] = {
        {"kt.quant.w", "{\"scheme\":\"q8\",\"dtype\":\"float32\",\"shape\":[2,601],\"group\":601}"},
        {"kt.quant.w", "{\"scheme\":\"q4\",\"dtype\":\"float32\",\"shape\":[2,600],\"group\":32}"},
        {"kt.quant.w", "{\"scheme\":\"q9\",\"dtype\":\"float32\",\"shape\":[2,600],\"group\":600}"},
        {"kt.quant.missing", "{\"scheme\":\"q8\",\"dtype\":\"float32\",\"shape\":[2,600],\"group\":600}"},
    };
    for (int k = 0; k < 4; k++) {
        kt_kv meta[1] = {{(char *)bad[k][0], (char *)bad[k][1]}};
        char path[] = "/tmp/kt_test_quant_bad_XXXXXX.safetensors";
        int fd = mkstemps(path, 12);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(kt_safetensors_write(path, &l, meta, 1, &err), KT_OK);
        kt_checkpoint *ck = NULL;
        kt_status st = kt_checkpoint_open(path, &ck, &err);
        unlink(path);
        assert_int_equal(st, KT_OK);
        kt_quant_info *qi = NULL;
        size_t n = 0;
        assert_int_equal(kt_quant_list(ck, &qi, &n, &err), KT_EFORMAT);
        assert_null(qi);
        kt_qview v;
        if (k < 3)
            assert_int_equal(kt_qview_open(ck, "w", &v, &err), KT_EFORMAT);
        kt_checkpoint_free(ck);
    }
    kt_tensor_list_free(&l);
}

/* Every half and bfloat16 bit pattern decodes as tensor.c's reference conversion does. */
static void test_qview_half_patterns(void **state)
{
    (void)state;
    uint16_t *bits = malloc(65536 * sizeof *bits);
    float *out = malloc(65536 * sizeof *out);
    for (uint32_t i = 0; i < 65536; i++)
        bits[i] = (uint16_t)i;
    int64_t shape[2] = {1, 65536};
    kt_tensor t = view_f32((const float *)(const void *)bits, 2, shape);
    kt_qview v;
    kt_error err;
    for (int k = 0; k < 2; k++) {
        t.dtype = k ? KT_BF16 : KT_F16;
        assert_int_equal(kt_qview_from_tensors(k ? KT_QUANT_BF16 : KT_QUANT_F16, 2, shape, &t, NULL, &v, &err), KT_OK);
        kt_qview_row(&v, 0, out);
        for (uint32_t i = 0; i < 65536; i++) {
            float want = k ? kt_bf16_to_f32((uint16_t)i) : kt_f16_to_f32((uint16_t)i);
            if (isnan(want))
                assert_true(isnan(out[i]));
            else
                assert_memory_equal(&out[i], &want, sizeof want);
        }
    }
    free(bits);
    free(out);
}

/* Row dot products over several decode chunks and an odd tail, every scheme, against float64. */
static void test_qview_dot_chunks(void **state)
{
    (void)state;
    enum { R = 3, C = 1001 };
    float *w = malloc(R * C * sizeof *w), *x = malloc(C * sizeof *x), *row = malloc(C * sizeof *row);
    int64_t shape[2] = {R, C};
    fill(w, R, C, 99);
    for (int i = 0; i < C; i++)
        x[i] = (float)((i * 37) % 11) - 5.0f;
    kt_tensor t = view_f32(w, 2, shape);
    kt_error err;
    for (int s = KT_QUANT_F32; s <= KT_QUANT_Q4; s++) {
        kt_tensor codes, scales, *sp = NULL;
        if (s == KT_QUANT_Q8 || s == KT_QUANT_Q4) {
            assert_int_equal(kt_quantize(&t, (kt_quant_scheme)s, &codes, &scales, &err), KT_OK);
            sp = &scales;
        } else {
            assert_int_equal(kt_cast_float(&t, s == KT_QUANT_F16 ? KT_F16 : s == KT_QUANT_BF16 ? KT_BF16 : KT_F32,
                                           &codes, &err), KT_OK);
        }
        kt_qview v;
        assert_int_equal(kt_qview_from_tensors((kt_quant_scheme)s, 2, shape, &codes, sp, &v, &err), KT_OK);
        for (int r = 0; r < R; r++) {
            kt_qview_row(&v, r, row);
            double ref = 0.0, mag = 0.0;
            for (int i = 0; i < C; i++) {
                ref += (double)row[i] * x[i];
                mag += fabs((double)row[i] * x[i]);
            }
            assert_true(fabs(kt_qview_row_dot(&v, r, x) - ref) <= 1e-5 * mag + 1e-6);
        }
        kt_tensor_release(&codes);
        if (sp)
            kt_tensor_release(&scales);
    }
    free(w);
    free(x);
    free(row);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q8_half_step),   cmocka_unit_test(test_q8_known_codes),
        cmocka_unit_test(test_q4_half_step),   cmocka_unit_test(test_q4_short_last_group),
        cmocka_unit_test(test_q4_packing),     cmocka_unit_test(test_casts),
        cmocka_unit_test(test_nonfinite_rejected), cmocka_unit_test(test_keep_rule),
        cmocka_unit_test(test_weight_norm_fold), cmocka_unit_test(test_scheme_names),
        cmocka_unit_test(test_qview_roundtrip), cmocka_unit_test(test_qview_bad_metadata),
        cmocka_unit_test(test_qview_half_patterns), cmocka_unit_test(test_qview_dot_chunks),
        cmocka_unit_test(test_quant_list_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
