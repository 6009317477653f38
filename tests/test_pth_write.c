/* test_pth_write.c - the torch.save writer: nest 0/1/2, every dtype, strided and empty tensors,
 * read back through kt's own reader; errors leave no file; equal input gives equal bytes.
 * With KT_PTH_WRITE_OUT=DIR the files stay in DIR for tests/check_pth_write.py (torch.load). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kt/checkpoint.h"
#include "kt/formats.h"
#include "kt/io.h"
#include "kt/zip.h"

/* Element i of sample tensor k, as a double (check_pth_write.py uses the same formula). */
static double sample_value(int k, int64_t i, kt_dtype d)
{
    if (d == KT_BOOL)
        return (double)((i + k) % 3 == 0);
    if (d == KT_U8)
        return (double)((i * 7 + k * 3) % 23);
    double v = (double)((i * 7 + k * 3) % 23) - 11.0;
    return d == KT_F32 || d == KT_F64 || d == KT_F16 || d == KT_BF16 ? v * 0.25 : v;
}

static void put_value(kt_tensor *t, int64_t i, double v)
{
    unsigned char *p = (unsigned char *)t->owned + (size_t)i * kt_dtype_size(t->dtype);
    switch (t->dtype) {
    case KT_F32: { float f = (float)v; memcpy(p, &f, 4); break; }
    case KT_F64: memcpy(p, &v, 8); break;
    case KT_F16: { uint16_t h = kt_f32_to_f16((float)v); memcpy(p, &h, 2); break; }
    case KT_BF16: { uint16_t h = kt_f32_to_bf16((float)v); memcpy(p, &h, 2); break; }
    case KT_I8: *(int8_t *)p = (int8_t)v; break;
    case KT_I16: { int16_t x = (int16_t)v; memcpy(p, &x, 2); break; }
    case KT_I32: { int32_t x = (int32_t)v; memcpy(p, &x, 4); break; }
    case KT_I64: { int64_t x = (int64_t)v; memcpy(p, &x, 8); break; }
    case KT_U8: case KT_BOOL: *p = (unsigned char)v; break;
    default: fail();
    }
}

typedef struct {
    const char *name;
    kt_dtype dtype;
    int ndim;
    int64_t shape[3];
    int transpose; /* store [a,b] values, expose the [b,a] transposed view */
} sample;

/* Interleaved groups on purpose: nest 2 must regroup them in first-seen order. */
static const sample samples[] = {
    {"bert.embeddings.weight", KT_F32, 2, {4, 3, 0}, 1},
    {"decoder.conv.weight_g", KT_F16, 3, {2, 1, 5}, 0},
    {"bert.pooler.bias", KT_F64, 1, {7, 0, 0}, 0},
    {"predictor.lstm.weight", KT_BF16, 2, {3, 3, 0}, 0},
    {"decoder.ids", KT_I64, 1, {70000, 0, 0}, 0},
    {"text.a.b.c", KT_I32, 2, {2, 2, 0}, 0},
    {"text.short", KT_I16, 1, {5, 0, 0}, 0},
    {"text.int8", KT_I8, 1, {6, 0, 0}, 0},
    {"text.u8", KT_U8, 1, {6, 0, 0}, 0},
    {"text.mask", KT_BOOL, 2, {2, 3, 0}, 0},
    {"text.scalar", KT_F32, 0, {0, 0, 0}, 0},
    {"text.empty", KT_F32, 2, {0, 3, 0}, 0},
};
#define NSAMPLES (sizeof samples / sizeof samples[0])

static void make_list(kt_tensor_list *l)
{
    kt_error err;
    memset(l, 0, sizeof *l);
    for (size_t k = 0; k < NSAMPLES; k++) {
        const sample *s = &samples[k];
        kt_tensor t;
        assert_int_equal(kt_tensor_alloc(&t, s->dtype, s->ndim, s->shape, &err), KT_OK);
        for (int64_t i = 0; i < kt_tensor_numel(&t); i++)
            put_value(&t, i, sample_value((int)k, i, s->dtype));
        if (s->transpose) { /* a strided view: the writer must store it contiguously */
            t.shape[0] = s->shape[1];
            t.shape[1] = s->shape[0];
            t.stride[0] = 1;
            t.stride[1] = s->shape[1];
        }
        assert_int_equal(kt_tensor_list_add(l, s->name, &t, &err), KT_OK);
    }
}

static char g_dir[256];

static const char *out_path(const char *leaf)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, leaf);
    return path;
}

static int setup(void **state)
{
    (void)state;
    const char *keep = getenv("KT_PTH_WRITE_OUT");
    if (keep && keep[0]) {
        snprintf(g_dir, sizeof g_dir, "%s", keep);
        return 0;
    }
    snprintf(g_dir, sizeof g_dir, "/tmp/kt_test_pth_writeXXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    const char *keep = getenv("KT_PTH_WRITE_OUT");
    if (keep && keep[0])
        return 0;
    const char *leaves[] = {"nest0.pt", "nest1.pth", "nest2.pth", "nest2_again.pth", "x.pth"};
    for (size_t i = 0; i < sizeof leaves / sizeof leaves[0]; i++)
        unlink(out_path(leaves[i]));
    rmdir(g_dir);
    return 0;
}

/* Every sample tensor is found under its name (prefix + name) with its dtype, shape and values. */
static void expect_samples(const kt_checkpoint *c, int nest)
{
    assert_int_equal(kt_checkpoint_tensors(c)->count, NSAMPLES);
    for (size_t k = 0; k < NSAMPLES; k++) {
        const sample *s = &samples[k];
        const kt_tensor *t = kt_checkpoint_find(c, s->name);
        if (!t)
            fail_msg("nest %d: '%s' missing", nest, s->name);
        assert_int_equal(t->dtype, s->dtype);
        assert_int_equal(t->ndim, s->ndim);
        for (int64_t i = 0; i < kt_tensor_numel(t); i++) {
            int64_t src = i;
            if (s->transpose) { /* logical [r][c] of the view is stored element [c][r] */
                int64_t r = i / s->shape[0], col = i % s->shape[0];
                src = col * s->shape[1] + r;
            }
            double want = sample_value((int)k, src, s->dtype), got = kt_tensor_get_f64(t, i);
            if (got != want)
                fail_msg("nest %d: %s[%lld] = %g, want %g", nest, s->name, (long long)i, got, want);
        }
    }
}

static void test_nest_1_and_2(void **state)
{
    (void)state;
    kt_tensor_list l;
    kt_checkpoint *c;
    kt_error err;
    make_list(&l);
    assert_int_equal(kt_pth_write(out_path("nest1.pth"), &l, 1, "flat", &err), KT_OK);
    assert_int_equal(kt_pth_write(out_path("nest2.pth"), &l, 2, NULL, &err), KT_OK);
    for (int nest = 1; nest <= 2; nest++) {
        assert_int_equal(kt_checkpoint_open(out_path(nest == 1 ? "nest1.pth" : "nest2.pth"), &c, &err), KT_OK);
        assert_int_equal(kt_checkpoint_format(c), KT_FORMAT_PTH);
        expect_samples(c, nest);
        kt_checkpoint_free(c);
    }
    kt_tensor_list_free(&l);
}

static void test_nest0_voice(void **state)
{
    (void)state;
    kt_tensor_list l = {0};
    kt_tensor t;
    kt_checkpoint *c;
    kt_error err;
    int64_t shape[3] = {510, 1, 256};
    assert_int_equal(kt_tensor_alloc(&t, KT_F32, 3, shape, &err), KT_OK);
    for (int64_t i = 0; i < 510 * 256; i++)
        ((float *)t.owned)[i] = (float)(i % 1000) / 512.0f - 1.0f;
    assert_int_equal(kt_tensor_list_add(&l, "", &t, &err), KT_OK);
    assert_int_equal(kt_pth_write(out_path("nest0.pt"), &l, 0, "nest0", &err), KT_OK);
    assert_int_equal(kt_checkpoint_open(out_path("nest0.pt"), &c, &err), KT_OK);
    const kt_tensor *r = kt_checkpoint_find(c, "");
    assert_non_null(r);
    assert_int_equal(r->ndim, 3);
    assert_int_equal(r->shape[0], 510);
    assert_int_equal(r->shape[2], 256);
    assert_true(kt_tensor_is_contiguous(r));
    assert_memory_equal(r->data, l.items[0].tensor.data, 510 * 256 * 4);
    /* the zip: entries in torch.save's order, data aligned to 64 */
    kt_mapped_file m;
    kt_zip *z;
    assert_int_equal(kt_file_map(out_path("nest0.pt"), &m, &err), KT_OK);
    assert_int_equal(kt_zip_open(m.data, m.size, &z, &err), KT_OK);
    const char *names[] = {"nest0/data.pkl", "nest0/byteorder", "nest0/data/0", "nest0/version"};
    assert_int_equal(kt_zip_count(z), 4);
    for (size_t i = 0; i < 4; i++) {
        const kt_zip_entry *e = kt_zip_entry_at(z, i);
        assert_string_equal(e->name, names[i]);
        assert_int_equal(e->method, 0);
        assert_int_equal(e->data_offset % 64, 0);
    }
    assert_memory_equal(m.data + kt_zip_find(z, "nest0/version")->data_offset, "3\n", 2);
    assert_memory_equal(m.data + kt_zip_find(z, "nest0/byteorder")->data_offset, "little", 6);
    kt_zip_free(z);
    kt_file_unmap(&m);
    kt_checkpoint_free(c);
    kt_tensor_list_free(&l);
}

static void test_deterministic(void **state)
{
    (void)state;
    kt_tensor_list l;
    kt_mapped_file a, b;
    kt_error err;
    make_list(&l);
    assert_int_equal(kt_pth_write(out_path("nest2.pth"), &l, 2, "archive", &err), KT_OK);
    assert_int_equal(kt_pth_write(out_path("nest2_again.pth"), &l, 2, "archive", &err), KT_OK);
    assert_int_equal(kt_file_map(out_path("nest2.pth"), &a, &err), KT_OK);
    assert_int_equal(kt_file_map(out_path("nest2_again.pth"), &b, &err), KT_OK);
    assert_int_equal(a.size, b.size);
    assert_memory_equal(a.data, b.data, a.size);
    kt_file_unmap(&a);
    kt_file_unmap(&b);
    kt_tensor_list_free(&l);
}

static void expect_refused(const kt_tensor_list *l, int nest, const char *folder, const char *frag)
{
    kt_error err = {0};
    assert_int_not_equal(kt_pth_write(out_path("x.pth"), l, nest, folder, &err), KT_OK);
    if (!strstr(err.msg, frag))
        fail_msg("message '%s' lacks '%s'", err.msg, frag);
    assert_int_not_equal(access(out_path("x.pth"), F_OK), 0);
}

static void test_errors_leave_no_file(void **state)
{
    (void)state;
    kt_tensor_list l, one = {0};
    kt_tensor t;
    kt_error err;
    int64_t shape[1] = {3};
    make_list(&l);
    expect_refused(&l, 0, NULL, "exactly one tensor");
    expect_refused(&l, 3, NULL, "nest must be");
    expect_refused(&l, 1, "a/b", "folder");
    expect_refused(&l, 1, "", "folder");
    assert_int_equal(kt_tensor_alloc(&t, KT_F32, 1, shape, &err), KT_OK);
    assert_int_equal(kt_tensor_list_add(&one, "nodot", &t, &err), KT_OK);
    expect_refused(&one, 2, NULL, "no '.'");
    assert_int_equal(kt_tensor_alloc(&t, KT_F32, 1, shape, &err), KT_OK);
    assert_int_equal(kt_tensor_list_add(&one, "nodot", &t, &err), KT_OK);
    expect_refused(&one, 1, NULL, "appears twice");
    kt_tensor_list_free(&one);
    kt_tensor_list_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nest_1_and_2),
        cmocka_unit_test(test_nest0_voice),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_errors_leave_no_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
