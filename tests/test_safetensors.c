/* test_safetensors.c - safetensors writer and reader: round trips of every dtype,
 * strided inputs, metadata, the reference's tensor order and 8-byte header padding,
 * borrowing vs copying, and malformed headers each refused with a one-line message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <unistd.h>

#include "util/fmt_pattern.h"
#include "kt/formats.h"
#include "kt/io.h"

static const kt_dtype all_dtypes[] = {KT_BOOL, KT_U8, KT_I8, KT_I16, KT_F16, KT_BF16,
                                      KT_I32, KT_F32, KT_F64, KT_I64};

/* One tensor per dtype named "t_<dtype>", a transposed (strided) view, a scalar and an empty tensor. */
static void make_list(kt_tensor_list *l, kt_tensor *strided_base)
{
    kt_error err;
    memset(l, 0, sizeof *l);
    for (size_t i = 0; i < sizeof all_dtypes / sizeof all_dtypes[0]; i++) {
        kt_tensor t;
        int64_t shape[3] = {2, 3, (int64_t)i + 1};
        char name[32];
        snprintf(name, sizeof name, "t_%s", kt_dtype_name(all_dtypes[i]));
        fmt_pattern_make(&t, all_dtypes[i], 3, shape, (int)i);
        assert_int_equal(kt_tensor_list_add(l, name, &t, &err), KT_OK);
    }
    int64_t bshape[2] = {4, 6};
    fmt_pattern_make(strided_base, KT_F32, 2, bshape, 7);
    kt_tensor view = *strided_base; /* [6,4] transpose, borrowing the base */
    view.owned = NULL;
    view.shape[0] = 6;
    view.shape[1] = 4;
    view.stride[0] = 1;
    view.stride[1] = 6;
    assert_int_equal(kt_tensor_list_add(l, "a.strided", &view, &err), KT_OK);
    kt_tensor s;
    fmt_pattern_make(&s, KT_F64, 0, NULL, 3);
    assert_int_equal(kt_tensor_list_add(l, "scalar", &s, &err), KT_OK);
    int64_t zshape[2] = {0, 5};
    kt_tensor z;
    fmt_pattern_make(&z, KT_F32, 2, zshape, 0);
    assert_int_equal(kt_tensor_list_add(l, "empty", &z, &err), KT_OK);
}

static void test_roundtrip(void **state)
{
    (void)state;
    kt_tensor_list l;
    kt_tensor base;
    kt_error err;
    char path[128];
    make_list(&l, &base);
    kt_kv meta[2] = {{"format", "pt"}, {"by", "kt \"test\"\n"}};
    fmt_tmp_path(path, sizeof path, "rt.safetensors");
    assert_int_equal(kt_safetensors_write(path, &l, meta, 2, &err), KT_OK);

    kt_mapped_file f;
    kt_read_result r = {0};
    assert_int_equal(kt_file_map(path, &f, &err), KT_OK);
    assert_int_equal(kt_format_detect(f.data, f.size), KT_FORMAT_SAFETENSORS);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | f.data[i];
    assert_int_equal(n % 8, 0);
    assert_memory_equal(f.data + 8, "{\"__metadata__\":{\"by\":", 22); /* metadata first, keys sorted */
    assert_int_equal(kt_safetensors_read(f.data, f.size, &r, &err), KT_OK);
    assert_int_equal(r.tensors.count, l.count);
    for (size_t i = 0; i < l.count; i++) {
        long k = kt_tensor_list_find(&r.tensors, l.items[i].name);
        assert_true(k >= 0);
        fmt_assert_same_values(&r.tensors.items[k].tensor, &l.items[i].tensor);
        const kt_tensor *t = &r.tensors.items[k].tensor;
        if (kt_tensor_numel(t) > 0) { /* aligned in the mmap: borrowed, inside the file */
            assert_null(t->owned);
            assert_true((const unsigned char *)t->data >= f.data &&
                        (const unsigned char *)t->data + kt_tensor_nbytes(t) <= f.data + f.size);
        }
    }
    /* the reference's order: descending dtype alignment, then name (byte order) */
    const char *order[] = {"t_int64", "scalar", "t_float64", "a.strided", "empty", "t_float32", "t_int32",
                           "t_bfloat16", "t_float16", "t_int16", "t_int8", "t_uint8", "t_bool"};
    assert_int_equal(r.tensors.count, sizeof order / sizeof order[0]);
    for (size_t i = 0; i < r.tensors.count; i++)
        assert_string_equal(r.tensors.items[i].name, order[i]);
    assert_int_equal(r.meta_count, 2);
    assert_string_equal(r.meta[0].key, "by");
    assert_string_equal(r.meta[0].value, "kt \"test\"\n");
    assert_string_equal(r.meta[1].key, "format");
    kt_read_result_free(&r);
    kt_file_unmap(&f);

    /* deterministic: a second write gives the same bytes */
    char path2[128];
    fmt_tmp_path(path2, sizeof path2, "rt2.safetensors");
    assert_int_equal(kt_safetensors_write(path2, &l, meta, 2, &err), KT_OK);
    kt_mapped_file a, b;
    assert_int_equal(kt_file_map(path, &a, &err), KT_OK);
    assert_int_equal(kt_file_map(path2, &b, &err), KT_OK);
    assert_int_equal(a.size, b.size);
    assert_memory_equal(a.data, b.data, a.size);
    kt_file_unmap(&a);
    kt_file_unmap(&b);
    unlink(path);
    unlink(path2);
    kt_tensor_list_free(&l);
    kt_tensor_release(&base);
}

/* A file image: 8-byte length, the header text, then data_len bytes of data. */
static unsigned char *image(const char *header, size_t data_len, size_t *size)
{
    size_t h = strlen(header);
    unsigned char *p = calloc(1, 8 + h + data_len + 1);
    assert_non_null(p);
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(p + 8, header, h);
    for (size_t i = 0; i < data_len; i++)
        p[8 + h + i] = (unsigned char)i;
    *size = 8 + h + data_len;
    return p;
}

static void expect_reject(const char *header, size_t data_len, kt_status code, const char *words)
{
    size_t n;
    unsigned char *p = image(header, data_len, &n);
    kt_read_result r = {0};
    kt_error err;
    kt_status st = kt_safetensors_read(p, n, &r, &err);
    if (st != code || !strstr(err.msg, words))
        fail_msg("header %s: got %d \"%s\", want %d \"%s\"", header, (int)st, err.msg, (int)code, words);
    assert_null(strchr(err.msg, '\n'));
    assert_int_equal(r.tensors.count, 0); /* nothing left behind */
    free(p);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_reject("[1,2]", 0, KT_EFORMAT, "start with '{'");
    expect_reject("{\"a\":", 0, KT_EFORMAT, "not valid JSON");
    expect_reject("{}  x", 0, KT_EFORMAT, "text after the JSON object");
    expect_reject("{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, KT_EUNSUPPORTED,
                  "F8_E4M3");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 3, KT_EFORMAT,
                  "outside the 3-byte data buffer");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8, KT_EFORMAT,
                  "4 data bytes for 2 elements");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 8, KT_EFORMAT, "outside");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[2,10]}}",
                  12, KT_EFORMAT, "overlap");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                  "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                  8, KT_EFORMAT, "appears twice");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776,1099511627776],"
                  "\"data_offsets\":[0,4]}}",
                  4, KT_ELIMIT, "overflows");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, KT_EFORMAT,
                  "not a size");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, KT_EFORMAT,
                  "not a size");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4, KT_EFORMAT,
                  "not an array");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, KT_EFORMAT,
                  "not [begin, end]");
    expect_reject("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, KT_EFORMAT, "needs \"dtype\"");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
                  KT_EUNSUPPORTED, "9 dimensions");
    expect_reject("{\"__metadata__\":{\"k\":1}}", 0, KT_EFORMAT, "not a string");
    expect_reject("{\"__metadata__\":[]}", 0, KT_EFORMAT, "not an object");
    expect_reject("{\"a\":3}", 0, KT_EFORMAT, "needs");
}

static void test_bad_lengths(void **state)
{
    (void)state;
    kt_read_result r = {0};
    kt_error err;
    unsigned char small[5] = {1, 0, 0, 0, 0};
    assert_int_equal(kt_safetensors_read(small, sizeof small, &r, &err), KT_EFORMAT);
    assert_non_null(strstr(err.msg, "shorter"));
    size_t n;
    unsigned char *p = image("{}", 0, &n);
    p[0] = 200; /* header length past the end */
    assert_int_equal(kt_safetensors_read(p, n, &r, &err), KT_EFORMAT);
    assert_non_null(strstr(err.msg, "runs past the end"));
    memset(p, 0xff, 8); /* absurd length: no overflow in the check */
    assert_int_equal(kt_safetensors_read(p, n, &r, &err), KT_EFORMAT);
    free(p);
    p = image("{}  x   ", 0, &n);
    p[8 + 4] = '\0'; /* a NUL inside the declared header */
    assert_int_equal(kt_safetensors_read(p, n, &r, &err), KT_EFORMAT);
    free(p);
    /* an empty header is a valid empty file */
    p = image("{}      ", 0, &n);
    assert_int_equal(kt_safetensors_read(p, n, &r, &err), KT_OK);
    assert_int_equal(r.tensors.count, 0);
    kt_read_result_free(&r);
    free(p);
}

static void test_misaligned_copy(void **state)
{
    (void)state;
    /* data starts at 8 + 63 = 71: odd, so an F32 tensor cannot be borrowed and is copied */
    const char *h = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}         ";
    size_t n;
    unsigned char *p = image(h, 8, &n);
    assert_int_not_equal((8 + strlen(h)) % 4, 0);
    float v[2] = {1.5f, -2.25f};
    memcpy(p + n - 8, v, 8);
    kt_read_result r = {0};
    kt_error err;
    assert_int_equal(kt_safetensors_read(p, n, &r, &err), KT_OK);
    assert_int_equal(r.tensors.count, 1);
    assert_non_null(r.tensors.items[0].tensor.owned);
    assert_true(kt_tensor_get_f64(&r.tensors.items[0].tensor, 1) == -2.25);
    kt_read_result_free(&r);
    free(p);
}

static void test_write_errors(void **state)
{
    (void)state;
    kt_tensor_list l = {0};
    kt_tensor t;
    kt_error err;
    char path[128];
    int64_t shape[1] = {3};
    fmt_tmp_path(path, sizeof path, "bad.safetensors");
    fmt_pattern_make(&t, KT_F32, 1, shape, 0);
    assert_int_equal(kt_tensor_list_add(&l, "__metadata__", &t, &err), KT_OK);
    assert_int_equal(kt_safetensors_write(path, &l, NULL, 0, &err), KT_EINVAL);
    assert_non_null(strstr(err.msg, "__metadata__"));
    assert_int_equal(access(path, F_OK), -1);
    free(l.items[0].name);
    l.items[0].name = strdup("x");
    fmt_pattern_make(&t, KT_F32, 1, shape, 1);
    assert_int_equal(kt_tensor_list_add(&l, "x", &t, &err), KT_OK);
    assert_int_equal(kt_safetensors_write(path, &l, NULL, 0, &err), KT_EINVAL);
    assert_non_null(strstr(err.msg, "occurs twice"));
    free(l.items[1].name);
    l.items[1].name = strdup("y");
    kt_kv meta[2] = {{"k", "1"}, {"k", "2"}};
    assert_int_equal(kt_safetensors_write(path, &l, meta, 2, &err), KT_EINVAL);
    assert_non_null(strstr(err.msg, "metadata key"));
    assert_int_equal(kt_safetensors_write("/nonexistent-dir/x.safetensors", &l, NULL, 0, &err), KT_EIO);
    assert_int_equal(access(path, F_OK), -1);
    kt_tensor_list_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),       cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_bad_lengths),     cmocka_unit_test(test_misaligned_copy),
        cmocka_unit_test(test_write_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
