/* test_voicebin.c - raw float32 voice packs (sherpa-onnx voices.bin, kokoro.js .bin):
 * round trips with float conversion and strided input, names and shapes on reading,
 * and the refusals (size not a whole number of packs, wrong element count, non-float). */
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
#include "util/fmt_pattern.h"

static void test_roundtrip(void **state)
{
    (void)state;
    kt_tensor_list l = {0};
    kt_error err;
    char path[128];
    int64_t s3[3] = {510, 1, 256}, s2[2] = {256, 510};
    kt_tensor a, b, c;
    fmt_pattern_make(&a, KT_F32, 3, s3, 0);
    fmt_pattern_make(&b, KT_F16, 3, s3, 1);
    fmt_pattern_make(&c, KT_F32, 2, s2, 2);
    kt_tensor ct = c; /* [510, 256] transposed view of a [256, 510] */
    ct.owned = NULL;
    ct.shape[0] = 510;
    ct.shape[1] = 256;
    ct.stride[0] = 1;
    ct.stride[1] = 510;
    assert_int_equal(kt_tensor_list_add(&l, "af_a", &a, &err), KT_OK);
    assert_int_equal(kt_tensor_list_add(&l, "af_b", &b, &err), KT_OK);
    assert_int_equal(kt_tensor_list_add(&l, "af_c", &ct, &err), KT_OK);
    fmt_tmp_path(path, sizeof path, "voices.bin");
    assert_int_equal(kt_voicebin_write(path, &l, &err), KT_OK);

    kt_mapped_file f;
    kt_read_result r = {0};
    assert_int_equal(kt_file_map(path, &f, &err), KT_OK);
    assert_int_equal(f.size, 3u * 510 * 256 * 4);
    assert_int_equal(kt_format_detect(f.data, f.size), KT_FORMAT_VOICEBIN);
    assert_int_equal(kt_voicebin_read(f.data, f.size, &r, &err), KT_OK);
    assert_int_equal(r.tensors.count, 3);
    const char *names[3] = {"0", "1", "2"};
    for (int k = 0; k < 3; k++) {
        const kt_tensor *t = &r.tensors.items[k].tensor;
        const kt_tensor *src = &l.items[k].tensor;
        assert_string_equal(r.tensors.items[k].name, names[k]);
        assert_int_equal(t->dtype, KT_F32);
        assert_int_equal(t->ndim, 3);
        assert_int_equal(t->shape[0], 510);
        assert_int_equal(t->shape[1], 1);
        assert_int_equal(t->shape[2], 256);
        assert_null(t->owned);
        for (int64_t i = 0; i < 510 * 256; i += 97)
            assert_true(kt_tensor_get_f64(t, i) == kt_tensor_get_f64(src, i));
        assert_true(kt_tensor_get_f64(t, 510 * 256 - 1) == kt_tensor_get_f64(src, 510 * 256 - 1));
    }
    kt_read_result_free(&r);

    /* an odd address is copied, not borrowed */
    unsigned char *odd = malloc(f.size + 1);
    assert_non_null(odd);
    memcpy(odd + 1, f.data, f.size);
    assert_int_equal(kt_voicebin_read(odd + 1, f.size, &r, &err), KT_OK);
    assert_non_null(r.tensors.items[2].tensor.owned);
    assert_true(kt_tensor_get_f64(&r.tensors.items[2].tensor, 1234) == kt_tensor_get_f64(&ct, 1234));
    kt_read_result_free(&r);

    /* sizes that are not whole packs */
    assert_int_equal(kt_voicebin_read(f.data, f.size - 4, &r, &err), KT_EFORMAT);
    assert_non_null(strstr(err.msg, "whole number"));
    assert_int_equal(kt_voicebin_read(f.data, 0, &r, &err), KT_EFORMAT);
    free(odd);
    kt_file_unmap(&f);
    unlink(path);
    kt_tensor_list_free(&l);
    kt_tensor_release(&c);
}

static void test_refusals(void **state)
{
    (void)state;
    kt_tensor_list l = {0};
    kt_error err;
    char path[128];
    fmt_tmp_path(path, sizeof path, "bad.bin");
    assert_int_equal(kt_voicebin_write(path, &l, &err), KT_EINVAL);
    kt_tensor t;
    int64_t s[3] = {511, 1, 256};
    fmt_pattern_make(&t, KT_F32, 3, s, 0);
    assert_int_equal(kt_tensor_list_add(&l, "big", &t, &err), KT_OK);
    assert_int_equal(kt_voicebin_write(path, &l, &err), KT_EINVAL);
    assert_non_null(strstr(err.msg, "130816 elements"));
    kt_tensor_list_free(&l);
    int64_t s2[3] = {510, 1, 256};
    fmt_pattern_make(&t, KT_I32, 3, s2, 0);
    assert_int_equal(kt_tensor_list_add(&l, "ints", &t, &err), KT_OK);
    assert_int_equal(kt_voicebin_write(path, &l, &err), KT_EINVAL);
    assert_non_null(strstr(err.msg, "int32"));
    assert_int_equal(access(path, F_OK), -1);
    kt_tensor_list_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
