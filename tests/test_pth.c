/* test_pth.c - the PyTorch checkpoint readers: the real voice packs (../shared), committed
 * torch-written fixtures (fixtures/pth, expected values from PyTorch in fixtures/pth/expected.json),
 * views sharing one storage, 0-d/empty tensors, the legacy format, big-endian data, and
 * corrupted or truncated files that must fail cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "kt/checkpoint.h"
#include "kt/io.h"
#include "kt/pickle.h"
#include "kt/zip.h"

#define FIX "fixtures/pth/"

static const char *shared_dir(void)
{
    const char *s = getenv("KT_SHARED");
    return s && *s ? s : "../shared";
}

static int voices_present(char *path, size_t cap, const char *voice)
{
    struct stat sb;
    snprintf(path, cap, "%s/kokoro/voices/%s", shared_dir(), voice);
    return stat(path, &sb) == 0;
}

static cJSON *load_expected(void)
{
    kt_mapped_file f;
    kt_error err;
    if (kt_file_map(FIX "expected.json", &f, &err))
        fail_msg("cannot map expected.json: %s", err.msg);
    cJSON *j = cJSON_ParseWithLength((const char *)f.data, (size_t)f.size);
    kt_file_unmap(&f);
    assert_non_null(j);
    return j;
}

static kt_checkpoint *open_ok(const char *path)
{
    kt_checkpoint *c = NULL;
    kt_error err;
    if (kt_checkpoint_open(path, &c, &err))
        fail_msg("%s: %s", path, err.msg);
    return c;
}

/* ------------------------------------------------------------ real voice packs */

static void t_voice_packs(void **state)
{
    (void)state;
    static const char *const voices[] = {"af_bella.pt", "af_heart.pt", "am_adam.pt", "am_michael.pt",
                                         "bf_emma.pt", "bm_george.pt", "ef_dora.pt", "ff_siwis.pt",
                                         "jf_alpha.pt", "zf_xiaobei.pt"};
    char path[1024];
    if (!voices_present(path, sizeof path, "af_heart.pt")) {
        print_message("SKIP t_voice_packs: %s/kokoro/voices not found (real voice packs absent)\n", shared_dir());
        skip();
    }
    for (size_t i = 0; i < sizeof voices / sizeof voices[0]; i++) {
        voices_present(path, sizeof path, voices[i]);
        kt_checkpoint *c = open_ok(path);
        const kt_tensor_list *l = kt_checkpoint_tensors(c);
        assert_int_equal(kt_checkpoint_format(c), KT_FORMAT_PTH);
        assert_int_equal(l->count, 1);
        assert_string_equal(l->items[0].name, "");
        const kt_tensor *t = &l->items[0].tensor;
        assert_int_equal(t->dtype, KT_F32);
        assert_int_equal(t->ndim, 3);
        assert_true(t->shape[0] == 510 && t->shape[1] == 1 && t->shape[2] == 256);
        assert_true(kt_tensor_is_contiguous(t));
        assert_null(t->owned); /* borrowed from the mapping, no copy */
        assert_int_equal(kt_value_kind(kt_checkpoint_tree(c)), KT_V_TENSOR);
        kt_checkpoint_free(c);
    }
}

static void t_af_heart_statistics(void **state)
{
    (void)state;
    char path[1024];
    if (!voices_present(path, sizeof path, "af_heart.pt")) {
        print_message("SKIP t_af_heart_statistics: %s/kokoro/voices/af_heart.pt not found\n", shared_dir());
        skip();
    }
    kt_checkpoint *c = open_ok(path);
    const kt_tensor *t = kt_checkpoint_find(c, "");
    assert_non_null(t);
    int64_t n = kt_tensor_numel(t);
    double mn = INFINITY, mx = -INFINITY, sum = 0, sq = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = kt_tensor_get_f64(t, i);
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
        sum += v;
    }
    double mean = sum / (double)n;
    for (int64_t i = 0; i < n; i++) {
        double d = kt_tensor_get_f64(t, i) - mean;
        sq += d * d;
    }
    /* reference values from ../shared/kokoro/README.md (6 decimals) */
    assert_true(fabs(mn - -1.509776) < 1e-6);
    assert_true(fabs(mx - 1.756575) < 1e-6);
    assert_true(fabs(mean - -0.004483) < 1e-6);
    assert_true(fabs(sqrt(sq / (double)n) - 0.152997) < 1e-6);
    kt_checkpoint_free(c);
}

/* ------------------------------------------------------------ fixtures vs expected.json */

static kt_dtype dtype_of(const char *name)
{
    kt_dtype d;
    if (kt_dtype_parse(name, &d))
        fail_msg("unknown dtype %s in expected.json", name);
    return d;
}

/* Compares every tensor of c with the expected rows (names in order, dtype, shape, values). */
static void compare_rows(const kt_checkpoint *c, const cJSON *rows, int check_strides)
{
    const kt_tensor_list *l = kt_checkpoint_tensors(c);
    assert_int_equal(l->count, (size_t)cJSON_GetArraySize(rows));
    size_t i = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, rows) {
        const kt_tensor *t = &l->items[i].tensor;
        assert_string_equal(l->items[i].name, cJSON_GetObjectItem(row, "name")->valuestring);
        assert_int_equal(t->dtype, dtype_of(cJSON_GetObjectItem(row, "dtype")->valuestring));
        const cJSON *shape = cJSON_GetObjectItem(row, "shape"), *stride = cJSON_GetObjectItem(row, "stride");
        assert_int_equal(t->ndim, cJSON_GetArraySize(shape));
        for (int d = 0; d < t->ndim; d++) {
            assert_true(t->shape[d] == (int64_t)cJSON_GetArrayItem(shape, d)->valuedouble);
            if (check_strides)
                assert_true(t->stride[d] == (int64_t)cJSON_GetArrayItem(stride, d)->valuedouble);
        }
        const cJSON *vals = cJSON_GetObjectItem(row, "values");
        assert_int_equal(kt_tensor_numel(t), cJSON_GetArraySize(vals));
        int64_t k = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, vals) {
            double got = kt_tensor_get_f64(t, k++);
            if (got != v->valuedouble)
                fail_msg("%s[%lld]: got %.17g, want %.17g", l->items[i].name, (long long)(k - 1), got,
                         v->valuedouble);
        }
        i++;
    }
}

static const kt_tensor *find(const kt_checkpoint *c, const char *name)
{
    const kt_tensor *t = kt_checkpoint_find(c, name);
    if (!t)
        fail_msg("no tensor %s", name);
    return t;
}

/* Views of one storage point into the same bytes: data differs by (offset difference) elements. */
static void check_shared(const kt_checkpoint *c)
{
    const unsigned char *base = find(c, "base")->data;
    assert_ptr_equal(find(c, "slice")->data, base + 8 * 4);
    assert_ptr_equal(find(c, "transposed")->data, base);
    assert_ptr_equal(find(c, "column")->data, base + 5 * 4);
    assert_ptr_equal(find(c, "expanded")->data, base);
    assert_ptr_equal(find(c, "bert.module.tied")->data, find(c, "bert.module.embeddings.weight")->data);
    assert_true(find(c, "expanded")->stride[1] == 0);
    assert_null(find(c, "empty")->data);
    assert_int_equal(find(c, "zero_d")->ndim, 0);
}

static void check_tree(const kt_checkpoint *c)
{
    const kt_value *root = kt_checkpoint_tree(c);
    assert_int_equal(kt_value_kind(root), KT_V_DICT);
    const kt_value *param = kt_value_dict_get(root, "param");
    assert_int_equal(kt_value_kind(param), KT_V_TENSOR);
    assert_int_equal(kt_value_tensor_requires_grad(param), 1);
    assert_int_equal(kt_value_tensor_requires_grad(kt_value_dict_get(root, "base")), 0);
    assert_int_equal(kt_value_kind(kt_value_dict_get(root, "bert")), KT_V_DICT);
    assert_int_equal(kt_value_kind(kt_value_dict_get(root, "list")), KT_V_LIST);
    assert_ptr_equal(kt_value_tensor_storage(kt_value_dict_get(root, "base")),
                     kt_value_tensor_storage(kt_value_dict_get(root, "slice")));
}

static void t_zip_fixture(void **state)
{
    (void)state;
    cJSON *j = load_expected();
    kt_checkpoint *c = open_ok(FIX "views.pth");
    assert_int_equal(kt_checkpoint_format(c), KT_FORMAT_PTH);
    compare_rows(c, cJSON_GetObjectItem(j, "content"), 1);
    check_shared(c);
    check_tree(c);
    /* torch aligns stored entries to 64 bytes, so every tensor is borrowed */
    const kt_tensor_list *l = kt_checkpoint_tensors(c);
    for (size_t i = 0; i < l->count; i++)
        assert_null(l->items[i].tensor.owned);
    kt_checkpoint_free(c);
    cJSON_Delete(j);
}

static void t_legacy_fixture(void **state)
{
    (void)state;
    cJSON *j = load_expected();
    kt_checkpoint *c = open_ok(FIX "legacy.pth");
    assert_int_equal(kt_checkpoint_format(c), KT_FORMAT_PTH_LEGACY);
    compare_rows(c, cJSON_GetObjectItem(j, "content"), 1);
    check_shared(c);
    check_tree(c);
    kt_checkpoint_free(c);
    c = open_ok(FIX "bare_legacy.pt");
    compare_rows(c, cJSON_GetObjectItem(j, "bare"), 1);
    assert_string_equal(kt_checkpoint_tensors(c)->items[0].name, "");
    kt_checkpoint_free(c);
    cJSON_Delete(j);
}

static void t_big_endian_fixture(void **state)
{
    (void)state;
    cJSON *j = load_expected();
    kt_checkpoint *c = open_ok(FIX "bigendian.pth");
    compare_rows(c, cJSON_GetObjectItem(j, "content"), 1);
    check_shared(c);
    kt_checkpoint_free(c);
    cJSON_Delete(j);
}

/* ------------------------------------------------------------ damaged files */

static unsigned char *read_all(const char *path, size_t *n)
{
    kt_mapped_file f;
    kt_error err;
    if (kt_file_map(path, &f, &err))
        fail_msg("%s: %s", path, err.msg);
    unsigned char *copy = malloc((size_t)f.size);
    assert_non_null(copy);
    memcpy(copy, f.data, (size_t)f.size);
    *n = (size_t)f.size;
    kt_file_unmap(&f);
    return copy;
}

/* Opens an in-memory image; returns the status (the handle is freed). */
static kt_status try_open(const unsigned char *d, size_t n, kt_error *err)
{
    kt_checkpoint *c = NULL;
    kt_status st = kt_checkpoint_open_memory(d, n, &c, err);
    if (!st) {
        const kt_tensor_list *l = kt_checkpoint_tensors(c);
        for (size_t i = 0; i < l->count; i++) /* touch every element the views cover */
            for (int64_t k = 0; k < kt_tensor_numel(&l->items[i].tensor); k++)
                (void)kt_tensor_get_f64(&l->items[i].tensor, k);
    } else {
        assert_null(c);
        assert_null(strchr(err->msg, '\n'));
        assert_true(strlen(err->msg) > 0);
    }
    kt_checkpoint_free(c);
    return st;
}

static void t_data_pkl_crc(void **state)
{
    (void)state;
    size_t n;
    unsigned char *d = read_all(FIX "views.pth", &n);
    kt_zip *z = NULL;
    kt_error err;
    assert_int_equal(kt_zip_open(d, n, &z, &err), KT_OK);
    const kt_zip_entry *e = kt_zip_find(z, "views/data.pkl");
    assert_non_null(e);
    assert_int_equal(e->method, 0);
    uint64_t off = e->data_offset + e->size / 2;
    kt_zip_free(z);
    d[off] ^= 0x01;
    assert_int_equal(try_open(d, n, &err), KT_EFORMAT);
    assert_non_null(strstr(err.msg, "CRC"));
    free(d);
}

static void t_truncated_prefixes(void **state)
{
    (void)state;
    static const char *const files[] = {FIX "views.pth", FIX "legacy.pth", FIX "bare_legacy.pt"};
    for (size_t f = 0; f < 3; f++) {
        size_t n;
        unsigned char *d = read_all(files[f], &n);
        kt_error err;
        for (size_t k = 1; k < n; k++) {
            unsigned char *cut = malloc(k); /* exact size so ASan sees any over-read */
            memcpy(cut, d, k);
            kt_status st = try_open(cut, k, &err);
            free(cut);
            if (st == KT_OK)
                fail_msg("%s cut to %zu of %zu bytes was accepted", files[f], k, n);
        }
        free(d);
    }
}

static void t_byte_flips(void **state)
{
    (void)state;
    static const char *const files[] = {FIX "legacy.pth", FIX "views.pth"};
    for (size_t f = 0; f < 2; f++) {
        size_t n;
        unsigned char *d = read_all(files[f], &n);
        kt_error err;
        for (size_t k = 0; k < n; k++) {
            for (int bit = 0; bit < 8; bit += 3) {
                d[k] ^= (unsigned char)(1u << bit);
                (void)try_open(d, n, &err); /* either way: no crash, no over-read */
                d[k] ^= (unsigned char)(1u << bit);
            }
        }
        free(d);
    }
}

static void t_bad_byteorder(void **state)
{
    (void)state;
    size_t n;
    unsigned char *d = read_all(FIX "bigendian.pth", &n);
    kt_zip *z = NULL;
    kt_error err;
    assert_int_equal(kt_zip_open(d, n, &z, &err), KT_OK);
    const kt_zip_entry *e = kt_zip_find(z, "views/byteorder");
    assert_non_null(e);
    assert_int_equal(e->size, 3);
    uint64_t off = e->data_offset;
    kt_zip_free(z);
    assert_memory_equal(d + off, "big", 3);
    memcpy(d + off, "BIG", 3); /* CRC is not checked for it: the reader must look at the text */
    assert_int_equal(try_open(d, n, &err), KT_EFORMAT);
    assert_non_null(strstr(err.msg, "byteorder"));
    free(d);
}

static void t_open_speed(void **state)
{
    (void)state;
    /* The full 327 MB kokoro checkpoint written by tests/reference/make_model.py --full, when present:
     * opening must take well under a second (no copies, no CRC over tensor data). */
    const char *fx = getenv("KT_FIXTURES");
    char path[1024];
    struct stat sb;
    snprintf(path, sizeof path, "%s/kokoro-full.pth", fx ? fx : "build/fixtures");
    if (stat(path, &sb) != 0) {
        print_message("SKIP t_open_speed: %s not found (make_model.py --full not run)\n", path);
        skip();
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    kt_checkpoint *c = open_ok(path);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
    print_message("opened %s (%zu tensors) in %.3f s\n", path, kt_checkpoint_tensors(c)->count, s);
    assert_true(kt_checkpoint_find(c, "bert.module.embeddings.word_embeddings.weight") != NULL);
    kt_checkpoint_free(c);
    assert_true(s < 0.5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_voice_packs),
        cmocka_unit_test(t_af_heart_statistics),
        cmocka_unit_test(t_zip_fixture),
        cmocka_unit_test(t_legacy_fixture),
        cmocka_unit_test(t_big_endian_fixture),
        cmocka_unit_test(t_data_pkl_crc),
        cmocka_unit_test(t_truncated_prefixes),
        cmocka_unit_test(t_byte_flips),
        cmocka_unit_test(t_bad_byteorder),
        cmocka_unit_test(t_open_speed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
