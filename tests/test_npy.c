/* test_npy.c - .npy and .npz: round trips of every numpy dtype (strided, 0-d and
 * empty arrays included), header layout as numpy writes it, hand-made headers of
 * versions 1.0/2.0/3.0, Fortran order, big-endian data, and malformed headers each
 * refused with a one-line message. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <unistd.h>

#include "kt/formats.h"
#include "kt/io.h"
#include "kt/zip.h"
#include "util/fmt_pattern.h"

static const kt_dtype npy_dtypes[] = {KT_BOOL, KT_U8, KT_I8, KT_I16, KT_F16, KT_I32, KT_F32, KT_F64, KT_I64};
#define N_NPY (sizeof npy_dtypes / sizeof npy_dtypes[0])

static void read_file(const char *path, kt_format fmt, kt_mapped_file *f, kt_read_result *r)
{
    kt_error err;
    memset(r, 0, sizeof *r);
    assert_int_equal(kt_file_map(path, f, &err), KT_OK);
    assert_int_equal(kt_format_detect(f->data, f->size), fmt);
    kt_status st = fmt == KT_FORMAT_NPY ? kt_npy_read(f->data, f->size, r, &err)
                                        : kt_npz_read(f->data, f->size, r, &err);
    if (st)
        fail_msg("read %s: %s", path, err.msg);
}

static void npy_roundtrip(const kt_tensor *t, const char *want_shape)
{
    char path[128];
    kt_error err;
    fmt_tmp_path(path, sizeof path, "rt.npy");
    assert_int_equal(kt_npy_write(path, t, &err), KT_OK);
    kt_mapped_file f;
    kt_read_result r;
    read_file(path, KT_FORMAT_NPY, &f, &r);
    uint32_t hlen = (uint32_t)f.data[8] | (uint32_t)f.data[9] << 8;
    assert_int_equal(f.data[6], 1);
    assert_int_equal((10 + hlen) % 64, 0);
    assert_int_equal(f.data[10 + hlen - 1], '\n');
    assert_non_null(memmem(f.data + 10, hlen, want_shape, strlen(want_shape)));
    assert_int_equal(r.tensors.count, 1);
    assert_string_equal(r.tensors.items[0].name, "");
    fmt_assert_same_values(&r.tensors.items[0].tensor, t);
    if (kt_tensor_numel(t) > 0)
        assert_null(r.tensors.items[0].tensor.owned); /* borrowed from the aligned mapping */
    kt_read_result_free(&r);
    kt_file_unmap(&f);
    unlink(path);
}

static void test_npy_every_dtype(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_NPY; i++) {
        kt_tensor t;
        int64_t shape[2] = {3, 5};
        fmt_pattern_make(&t, npy_dtypes[i], 2, shape, (int)i);
        npy_roundtrip(&t, "'shape': (3, 5), }");
        kt_tensor_release(&t);
    }
}

static void test_npy_shapes(void **state)
{
    (void)state;
    kt_tensor t;
    fmt_pattern_make(&t, KT_F32, 0, NULL, 1);
    npy_roundtrip(&t, "'shape': (), }");
    kt_tensor_release(&t);
    int64_t s1[1] = {7};
    fmt_pattern_make(&t, KT_I64, 1, s1, 2);
    npy_roundtrip(&t, "'shape': (7,), }");
    kt_tensor_release(&t);
    int64_t s0[3] = {2, 0, 3};
    fmt_pattern_make(&t, KT_F32, 3, s0, 2);
    npy_roundtrip(&t, "'shape': (2, 0, 3), }");
    kt_tensor_release(&t);
    /* a strided view: every other column of a [4,6] */
    int64_t s2[2] = {4, 6};
    fmt_pattern_make(&t, KT_F16, 2, s2, 3);
    kt_tensor v = t;
    v.owned = NULL;
    v.shape[1] = 3;
    v.stride[1] = 2;
    npy_roundtrip(&v, "'descr': '<f2', 'fortran_order': False, 'shape': (4, 3), }");
    /* negative strides: rows reversed, starting at the last row */
    kt_tensor flip = t;
    flip.owned = NULL;
    flip.data = (const unsigned char *)t.data + 3 * 6 * 2;
    flip.stride[0] = -6;
    npy_roundtrip(&flip, "'shape': (4, 6), }");
    /* a broadcast-like view with stride 0 */
    kt_tensor rep = t;
    rep.owned = NULL;
    rep.stride[0] = 0;
    npy_roundtrip(&rep, "'shape': (4, 6), }");
    kt_tensor_release(&t);
}

static void test_npy_write_refusals(void **state)
{
    (void)state;
    kt_tensor t;
    kt_error err;
    char path[128];
    int64_t s[1] = {2};
    fmt_tmp_path(path, sizeof path, "bf16.npy");
    fmt_pattern_make(&t, KT_BF16, 1, s, 0);
    assert_int_equal(kt_npy_write(path, &t, &err), KT_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "bfloat16"));
    assert_int_equal(access(path, F_OK), -1);
    kt_tensor_release(&t);
}

/* An .npy image with the given version and header dict (padded as numpy would), then data. */
static unsigned char *npy_image(int major, const char *dict, const void *data, size_t dlen, size_t *size)
{
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t total = (pre + dl + 1 + 63) / 64 * 64, hlen = total - pre;
    unsigned char *p = calloc(1, total + dlen + 1);
    assert_non_null(p);
    memcpy(p, "\x93NUMPY", 6);
    p[6] = (unsigned char)major;
    p[7] = 0;
    p[8] = (unsigned char)hlen;
    p[9] = (unsigned char)(hlen >> 8);
    memcpy(p + pre, dict, dl);
    memset(p + pre + dl, ' ', hlen - dl - 1);
    p[total - 1] = '\n';
    if (dlen)
        memcpy(p + total, data, dlen);
    *size = total + dlen;
    return p;
}

static void test_npy_versions_and_orders(void **state)
{
    (void)state;
    kt_read_result r = {0};
    kt_error err;
    size_t n;
    int32_t v[6] = {0, 1, 2, 3, 4, 5};
    for (int major = 1; major <= 3; major++) {
        unsigned char *p = npy_image(major, "{\"descr\": \"<i4\", \"fortran_order\": False, \"shape\": (2L, 3L)}",
                                     v, sizeof v, &n);
        assert_int_equal(kt_npy_read(p, n, &r, &err), KT_OK);
        const kt_tensor *t = &r.tensors.items[0].tensor;
        assert_int_equal(t->ndim, 2);
        for (int i = 0; i < 6; i++)
            assert_true(kt_tensor_get_f64(t, i) == i);
        kt_read_result_free(&r);
        free(p);
    }
    /* Fortran order: memory is column-major, so row-major element (r,c) is v[c*2 + r] */
    unsigned char *p = npy_image(1, "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }", v, sizeof v, &n);
    assert_int_equal(kt_npy_read(p, n, &r, &err), KT_OK);
    const kt_tensor *t = &r.tensors.items[0].tensor;
    double want[6] = {0, 2, 4, 1, 3, 5};
    for (int i = 0; i < 6; i++)
        assert_true(kt_tensor_get_f64(t, i) == want[i]);
    kt_read_result_free(&r);
    free(p);
    /* big-endian: swapped into an owned copy */
    unsigned char be[8] = {0x3f, 0xf8, 0, 0, 0, 0, 0, 0}; /* 1.5 as big-endian double */
    p = npy_image(1, "{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }", be, 8, &n);
    assert_int_equal(kt_npy_read(p, n, &r, &err), KT_OK);
    assert_non_null(r.tensors.items[0].tensor.owned);
    assert_true(kt_tensor_get_f64(&r.tensors.items[0].tensor, 0) == 1.5);
    kt_read_result_free(&r);
    free(p);
}

static void expect_reject(int major, const char *dict, size_t dlen, kt_status code, const char *words)
{
    static const unsigned char zeros[64];
    size_t n;
    unsigned char *p = npy_image(major, dict, zeros, dlen, &n);
    kt_read_result r = {0};
    kt_error err;
    kt_status st = kt_npy_read(p, n, &r, &err);
    if (st != code || !strstr(err.msg, words))
        fail_msg("header %s: got %d \"%s\", want %d \"%s\"", dict, (int)st, err.msg, (int)code, words);
    assert_null(strchr(err.msg, '\n'));
    assert_int_equal(r.tensors.count, 0);
    free(p);
}

static void test_npy_malformed(void **state)
{
    (void)state;
    expect_reject(4, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4, KT_EUNSUPPORTED,
                  "version 4.0");
    expect_reject(1, "{'descr': '<f4', 'shape': (1,), }", 4, KT_EFORMAT, "lacks");
    expect_reject(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", 4, KT_EFORMAT,
                  "unknown key 'x'");
    expect_reject(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", 4,
                  KT_EUNSUPPORTED, "structured");
    expect_reject(1, "{'descr': '<u2', 'fortran_order': False, 'shape': (1,), }", 4, KT_EUNSUPPORTED, "'<u2'");
    expect_reject(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", 8, KT_EUNSUPPORTED, "'<c8'");
    expect_reject(1, "{'descr': '<f4', 'fortran_order': maybe, 'shape': (1,), }", 4, KT_EFORMAT,
                  "neither True nor False");
    expect_reject(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", 4, KT_EFORMAT,
                  "not a size");
    expect_reject(1, "{'descr': '<f4', 'fortran_order': False, 'shape': [1], }", 4, KT_EFORMAT, "not a tuple");
    expect_reject(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1 2), }", 4, KT_EFORMAT, "malformed");
    expect_reject(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 4,
                  KT_EUNSUPPORTED, "more than 8 dimensions");
    expect_reject(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }", 4,
                  KT_ELIMIT, "overflows");
    expect_reject(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 4,
                  KT_ELIMIT, "too large");
    expect_reject(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 8, KT_EFORMAT, "truncated");
    expect_reject(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x", 4, KT_EFORMAT,
                  "text after");
    expect_reject(1, "'descr'", 4, KT_EFORMAT, "not a dict");
    expect_reject(1, "{'descr: '<f4'}", 4, KT_EFORMAT, "quoted keys");

    kt_read_result r = {0};
    kt_error err;
    size_t n;
    unsigned char *p = npy_image(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", NULL, 0, &n);
    p[8] = 0xff; /* header length past the end */
    p[9] = 0xff;
    assert_int_equal(kt_npy_read(p, n, &r, &err), KT_EFORMAT);
    assert_non_null(strstr(err.msg, "runs past the end"));
    assert_int_equal(kt_npy_read(p, 7, &r, &err), KT_EFORMAT); /* too short for the magic */
    p[0] = 'X';
    assert_int_equal(kt_npy_read(p, n, &r, &err), KT_EFORMAT);
    assert_non_null(strstr(err.msg, "magic"));
    free(p);
}

static void make_list(kt_tensor_list *l, kt_tensor *base)
{
    kt_error err;
    memset(l, 0, sizeof *l);
    for (size_t i = 0; i < N_NPY; i++) {
        kt_tensor t;
        int64_t shape[3] = {2, (int64_t)i + 1, 3};
        char name[32];
        snprintf(name, sizeof name, "arr_%s", kt_dtype_name(npy_dtypes[i]));
        fmt_pattern_make(&t, npy_dtypes[i], 3, shape, (int)i);
        assert_int_equal(kt_tensor_list_add(l, name, &t, &err), KT_OK);
    }
    int64_t s[2] = {5, 4};
    fmt_pattern_make(base, KT_F32, 2, s, 9);
    kt_tensor v = *base; /* transpose */
    v.owned = NULL;
    v.shape[0] = 4;
    v.shape[1] = 5;
    v.stride[0] = 1;
    v.stride[1] = 4;
    assert_int_equal(kt_tensor_list_add(l, "nested/strided", &v, &err), KT_OK);
}

static void test_npz_roundtrip(void **state)
{
    (void)state;
    kt_tensor_list l;
    kt_tensor base;
    kt_error err;
    char path[128], path2[128];
    make_list(&l, &base);
    fmt_tmp_path(path, sizeof path, "rt.npz");
    fmt_tmp_path(path2, sizeof path2, "rt2.npz");
    assert_int_equal(kt_npz_write(path, &l, &err), KT_OK);
    assert_int_equal(kt_npz_write(path2, &l, &err), KT_OK);
    kt_mapped_file f, f2;
    kt_read_result r;
    read_file(path, KT_FORMAT_NPZ, &f, &r);
    assert_int_equal(r.tensors.count, l.count);
    for (size_t i = 0; i < l.count; i++) {
        assert_string_equal(r.tensors.items[i].name, l.items[i].name); /* file order, ".npy" dropped */
        fmt_assert_same_values(&r.tensors.items[i].tensor, &l.items[i].tensor);
        assert_null(r.tensors.items[i].tensor.owned); /* stored and aligned: borrowed */
    }
    assert_int_equal(kt_file_map(path2, &f2, &err), KT_OK);
    assert_int_equal(f.size, f2.size);
    assert_memory_equal(f.data, f2.data, f.size);
    kt_file_unmap(&f2);
    kt_read_result_free(&r);
    kt_file_unmap(&f);
    unlink(path);
    unlink(path2);

    /* bfloat16 is refused and nothing is left behind */
    kt_tensor t;
    int64_t s[1] = {2};
    fmt_pattern_make(&t, KT_BF16, 1, s, 0);
    assert_int_equal(kt_tensor_list_add(&l, "bf", &t, &err), KT_OK);
    assert_int_equal(kt_npz_write(path, &l, &err), KT_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "bf: "));
    assert_int_equal(access(path, F_OK), -1);
    kt_tensor_list_free(&l);
    kt_tensor_release(&base);
}

/* A zip holding one entry name -> bytes, for the npz refusals. */
static void one_entry_zip(const char *path, const char *name, const void *data, size_t len)
{
    kt_atomic_file af;
    kt_zip_writer *w;
    kt_error err;
    assert_int_equal(kt_atomic_open(&af, path, &err), KT_OK);
    assert_int_equal(kt_zip_writer_create(&af, 64, &w, &err), KT_OK);
    assert_int_equal(kt_zip_writer_add(w, name, data, len, &err), KT_OK);
    assert_int_equal(kt_zip_writer_finish(w, &err), KT_OK);
    assert_int_equal(kt_atomic_commit(&af, &err), KT_OK);
}

static void expect_npz_reject(const char *name, const void *data, size_t len, kt_status code, const char *words)
{
    char path[128];
    kt_mapped_file f;
    kt_read_result r = {0};
    kt_error err;
    fmt_tmp_path(path, sizeof path, "bad.npz");
    one_entry_zip(path, name, data, len);
    assert_int_equal(kt_file_map(path, &f, &err), KT_OK);
    kt_status st = kt_npz_read(f.data, f.size, &r, &err);
    if (st != code || !strstr(err.msg, words))
        fail_msg("npz entry %s: got %d \"%s\", want %d \"%s\"", name, (int)st, err.msg, (int)code, words);
    assert_null(strchr(err.msg, '\n'));
    assert_int_equal(r.tensors.count, 0);
    assert_null(r.aux);
    kt_file_unmap(&f);
    unlink(path);
}

static void test_npz_malformed(void **state)
{
    (void)state;
    size_t n;
    unsigned char *p = npy_image(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", "abcd", 4, &n);
    expect_npz_reject("x.npy", p, n, KT_EFORMAT, "x.npy: npy data is truncated");
    expect_npz_reject("notes.txt", "hello", 5, KT_EUNSUPPORTED, "not an .npy array");
    free(p);
    kt_read_result r = {0};
    kt_error err;
    assert_int_not_equal(kt_npz_read((const unsigned char *)"PK\x03\x04", 4, &r, &err), KT_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npy_every_dtype),  cmocka_unit_test(test_npy_shapes),
        cmocka_unit_test(test_npy_write_refusals), cmocka_unit_test(test_npy_versions_and_orders),
        cmocka_unit_test(test_npy_malformed),    cmocka_unit_test(test_npz_roundtrip),
        cmocka_unit_test(test_npz_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
