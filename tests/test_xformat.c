/* test_xformat.c - conversions chained through every non-PyTorch format
 * (safetensors -> npz -> npy -> safetensors, voicebin), values compared at each
 * step. Two extra modes serve tests/check_formats.py (numpy cross-checks):
 *   KT_XCHECK_WRITE=DIR test_xformat   writes kt-made files of the value pattern
 *                                      (tests/util/fmt_pattern.h) into DIR;
 *   KT_XCHECK_DUMP=1 test_xformat F... prints, per file, one JSON line
 *                                      {"file","format","tensors":[{"name","dtype","shape","values"}],"meta":{}}. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <math.h>
#include <unistd.h>

#include "kt/formats.h"
#include "kt/io.h"
#include "kt/zip.h"
#include "util/fmt_pattern.h"

static const kt_dtype all_dtypes[] = {KT_F32, KT_F64, KT_F16, KT_BF16, KT_I8,
                                      KT_I16, KT_I32, KT_I64, KT_U8,  KT_BOOL};
#define N_ALL (sizeof all_dtypes / sizeof all_dtypes[0])

/* ---------------------------------------------------------------- dump mode */

static kt_status read_any(const kt_mapped_file *f, kt_format *fmt, kt_read_result *r, kt_error *err)
{
    *fmt = kt_format_detect(f->data, f->size);
    switch (*fmt) {
    case KT_FORMAT_SAFETENSORS: return kt_safetensors_read(f->data, f->size, r, err);
    case KT_FORMAT_NPY: return kt_npy_read(f->data, f->size, r, err);
    case KT_FORMAT_NPZ: return kt_npz_read(f->data, f->size, r, err);
    case KT_FORMAT_VOICEBIN: return kt_voicebin_read(f->data, f->size, r, err);
    default: return kt_error_set(err, KT_EFORMAT, "format %s is not handled here", kt_format_name(*fmt));
    }
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void json_number(double v)
{
    if (isnan(v))
        fputs("NaN", stdout);
    else if (isinf(v))
        fputs(v > 0 ? "Infinity" : "-Infinity", stdout);
    else
        printf("%.17g", v);
}

static void dump_tensor(const kt_named_tensor *nt)
{
    const kt_tensor *t = &nt->tensor;
    fputs("{\"name\":", stdout);
    json_str(nt->name);
    printf(",\"dtype\":\"%s\",\"shape\":[", kt_dtype_name(t->dtype));
    for (int d = 0; d < t->ndim; d++)
        printf("%s%lld", d ? "," : "", (long long)t->shape[d]);
    fputs("],\"values\":[", stdout);
    int64_t n = kt_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        if (i)
            putchar(',');
        json_number(kt_tensor_get_f64(t, i));
    }
    fputs("]}", stdout);
}

static int dump_file(const char *path)
{
    kt_mapped_file f;
    kt_read_result r = {0};
    kt_error err;
    kt_format fmt = KT_FORMAT_UNKNOWN;
    kt_status st = kt_file_map(path, &f, &err);
    if (!st)
        st = read_any(&f, &fmt, &r, &err);
    fputs("{\"file\":", stdout);
    json_str(path);
    printf(",\"format\":\"%s\"", kt_format_name(fmt));
    if (st) {
        fputs(",\"error\":", stdout);
        json_str(err.msg);
    } else {
        fputs(",\"tensors\":[", stdout);
        for (size_t i = 0; i < r.tensors.count; i++) {
            if (i)
                putchar(',');
            dump_tensor(&r.tensors.items[i]);
        }
        fputs("],\"meta\":{", stdout);
        for (size_t i = 0; i < r.meta_count; i++) {
            if (i)
                putchar(',');
            json_str(r.meta[i].key);
            putchar(':');
            json_str(r.meta[i].value);
        }
        putchar('}');
    }
    fputs("}\n", stdout);
    kt_read_result_free(&r);
    kt_file_unmap(&f);
    return 0;
}

/* ---------------------------------------------------------------- write mode */

/* Tensors "t_<dtype>" of shape [2, 3, k+1] with seed k for the dtypes accepted by keep(). */
static void pattern_list(kt_tensor_list *l, int no_bf16)
{
    kt_error err;
    memset(l, 0, sizeof *l);
    for (size_t k = 0; k < N_ALL; k++) {
        if (no_bf16 && all_dtypes[k] == KT_BF16)
            continue;
        kt_tensor t;
        int64_t shape[3] = {2, 3, (int64_t)k + 1};
        char name[32];
        snprintf(name, sizeof name, "t_%s", kt_dtype_name(all_dtypes[k]));
        fmt_pattern_make(&t, all_dtypes[k], 3, shape, (int)k);
        assert_int_equal(kt_tensor_list_add(l, name, &t, &err), KT_OK);
    }
}

static void join(char *buf, size_t n, const char *dir, const char *file)
{
    snprintf(buf, n, "%s/%s", dir, file);
}

static void write_zip(const char *path, int nentries, int force64)
{
    kt_atomic_file af;
    kt_zip_writer *w;
    kt_error err;
    assert_int_equal(kt_atomic_open(&af, path, &err), KT_OK);
    assert_int_equal(kt_zip_writer_create(&af, 64, &w, &err), KT_OK);
    if (force64)
        kt_zip_writer_force_zip64(w);
    for (int i = 0; i < nentries; i++) {
        char name[32], data[64];
        snprintf(name, sizeof name, "archive/e%d", i);
        int len = snprintf(data, sizeof data, "entry %d", i);
        assert_int_equal(kt_zip_writer_add(w, name, data, (uint64_t)len, &err), KT_OK);
    }
    assert_int_equal(kt_zip_writer_finish(w, &err), KT_OK);
    assert_int_equal(kt_atomic_commit(&af, &err), KT_OK);
}

static void write_voices(const char *path)
{
    kt_tensor_list l = {0};
    kt_error err;
    int64_t shape[3] = {510, 1, 256};
    kt_dtype d[2] = {KT_F32, KT_F16};
    for (int k = 0; k < 2; k++) {
        kt_tensor t;
        char name[8];
        snprintf(name, sizeof name, "v%d", k);
        fmt_pattern_make(&t, d[k], 3, shape, k);
        assert_int_equal(kt_tensor_list_add(&l, name, &t, &err), KT_OK);
    }
    assert_int_equal(kt_voicebin_write(path, &l, &err), KT_OK);
    kt_tensor_list_free(&l);
}

/* The files tests/check_formats.py loads with numpy (see its docstring for the list). */
static void write_fixtures(const char *dir)
{
    char p[1024];
    kt_error err;
    kt_tensor_list l;
    pattern_list(&l, 0);
    kt_tensor base; /* plus a transposed view, to test strided writing */
    int64_t bs[2] = {4, 6};
    fmt_pattern_make(&base, KT_F32, 2, bs, 20);
    kt_tensor v = base;
    v.owned = NULL;
    v.shape[0] = 6;
    v.shape[1] = 4;
    v.stride[0] = 1;
    v.stride[1] = 6;
    assert_int_equal(kt_tensor_list_add(&l, "strided", &v, &err), KT_OK);
    kt_kv meta[2] = {{"format", "pt"}, {"note", "written by kt"}};
    join(p, sizeof p, dir, "kt.safetensors");
    assert_int_equal(kt_safetensors_write(p, &l, meta, 2, &err), KT_OK);
    kt_tensor_list_free(&l);

    pattern_list(&l, 1);
    assert_int_equal(kt_tensor_list_add(&l, "strided", &v, &err), KT_OK);
    join(p, sizeof p, dir, "kt.npz");
    assert_int_equal(kt_npz_write(p, &l, &err), KT_OK);
    for (size_t i = 0; i < l.count; i++) {
        char file[64];
        snprintf(file, sizeof file, "kt_%s.npy", l.items[i].name);
        join(p, sizeof p, dir, file);
        assert_int_equal(kt_npy_write(p, &l.items[i].tensor, &err), KT_OK);
    }
    kt_tensor_list_free(&l);
    kt_tensor_release(&base);

    join(p, sizeof p, dir, "kt_voices.bin");
    write_voices(p);
    join(p, sizeof p, dir, "kt_zip64.zip");
    write_zip(p, 5, 1);
    join(p, sizeof p, dir, "kt_many.zip");
    write_zip(p, 66000, 0);
}

/* ---------------------------------------------------------------- CMocka tests */

static void reread(const char *path, kt_format fmt, kt_mapped_file *f, kt_read_result *r)
{
    kt_error err;
    kt_format got;
    memset(r, 0, sizeof *r);
    assert_int_equal(kt_file_map(path, f, &err), KT_OK);
    if (read_any(f, &got, r, &err))
        fail_msg("%s: %s", path, err.msg);
    assert_int_equal(got, fmt);
}

/* safetensors -> npz -> per-tensor npy -> safetensors: every value survives every hop. */
static void test_chain(void **state)
{
    (void)state;
    kt_tensor_list src;
    kt_error err;
    char p1[128], p2[128], p3[128], p4[128];
    pattern_list(&src, 1);
    fmt_tmp_path(p1, sizeof p1, "chain.safetensors");
    fmt_tmp_path(p2, sizeof p2, "chain.npz");
    fmt_tmp_path(p3, sizeof p3, "chain.npy");
    fmt_tmp_path(p4, sizeof p4, "chain2.safetensors");
    assert_int_equal(kt_safetensors_write(p1, &src, NULL, 0, &err), KT_OK);
    kt_mapped_file f1, f2, f4;
    kt_read_result r1, r2, r4;
    reread(p1, KT_FORMAT_SAFETENSORS, &f1, &r1);
    assert_int_equal(kt_npz_write(p2, &r1.tensors, &err), KT_OK);
    reread(p2, KT_FORMAT_NPZ, &f2, &r2);
    kt_tensor_list back = {0};
    for (size_t i = 0; i < r2.tensors.count; i++) {
        kt_mapped_file f3;
        kt_read_result r3;
        assert_int_equal(kt_npy_write(p3, &r2.tensors.items[i].tensor, &err), KT_OK);
        reread(p3, KT_FORMAT_NPY, &f3, &r3);
        kt_tensor copy;
        assert_int_equal(kt_tensor_copy_contiguous(&r3.tensors.items[0].tensor, &copy, &err), KT_OK);
        assert_int_equal(kt_tensor_list_add(&back, r2.tensors.items[i].name, &copy, &err), KT_OK);
        kt_read_result_free(&r3);
        kt_file_unmap(&f3);
    }
    assert_int_equal(kt_safetensors_write(p4, &back, NULL, 0, &err), KT_OK);
    reread(p4, KT_FORMAT_SAFETENSORS, &f4, &r4);
    assert_int_equal(r4.tensors.count, src.count);
    for (size_t i = 0; i < src.count; i++) {
        long k = kt_tensor_list_find(&r4.tensors, src.items[i].name);
        assert_true(k >= 0);
        fmt_assert_same_values(&r4.tensors.items[k].tensor, &src.items[i].tensor);
    }
    /* same tensors, same order -> the two safetensors files are byte-identical */
    assert_int_equal(f1.size, f4.size);
    assert_memory_equal(f1.data, f4.data, f1.size);
    kt_read_result_free(&r1);
    kt_read_result_free(&r2);
    kt_read_result_free(&r4);
    kt_file_unmap(&f1);
    kt_file_unmap(&f2);
    kt_file_unmap(&f4);
    kt_tensor_list_free(&back);
    kt_tensor_list_free(&src);
    unlink(p1);
    unlink(p2);
    unlink(p3);
    unlink(p4);
}

/* Every truncation of a valid file is refused, and random byte corruptions never
 * crash a reader or leak (run under make SAN=1 to see memory errors). */
static void damage_one(const char *path, kt_format fmt)
{
    kt_mapped_file f;
    kt_error err;
    assert_int_equal(kt_file_map(path, &f, &err), KT_OK);
    unsigned char *buf = malloc(f.size);
    assert_non_null(buf);
    for (uint64_t n = 0; n < f.size; n++) {
        kt_read_result r = {0};
        kt_format got;
        memcpy(buf, f.data, (size_t)n);
        kt_mapped_file m = {buf, n};
        kt_status st = read_any(&m, &got, &r, &err);
        if (got == fmt && st == KT_OK)
            fail_msg("%s truncated to %llu bytes was accepted", path, (unsigned long long)n);
        kt_read_result_free(&r);
    }
    unsigned seed = 12345;
    for (int round = 0; round < 3000; round++) {
        kt_read_result r = {0};
        kt_format got;
        memcpy(buf, f.data, (size_t)f.size);
        for (int k = 0; k < 1 + round % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % (size_t)(round % 2 ? f.size : (f.size < 160 ? f.size : 160));
            seed = seed * 1103515245u + 12345u;
            buf[at] = (unsigned char)(seed >> 16);
        }
        kt_mapped_file m = {buf, f.size};
        (void)read_any(&m, &got, &r, &err);
        kt_read_result_free(&r);
    }
    free(buf);
    kt_file_unmap(&f);
}

static void test_damaged_files(void **state)
{
    (void)state;
    kt_tensor_list l;
    kt_error err;
    char p1[128], p2[128], p3[128];
    pattern_list(&l, 1);
    fmt_tmp_path(p1, sizeof p1, "dmg.safetensors");
    fmt_tmp_path(p2, sizeof p2, "dmg.npz");
    fmt_tmp_path(p3, sizeof p3, "dmg.npy");
    kt_kv meta[1] = {{"k", "v"}};
    assert_int_equal(kt_safetensors_write(p1, &l, meta, 1, &err), KT_OK);
    assert_int_equal(kt_npz_write(p2, &l, &err), KT_OK);
    assert_int_equal(kt_npy_write(p3, &l.items[0].tensor, &err), KT_OK);
    damage_one(p1, KT_FORMAT_SAFETENSORS);
    damage_one(p2, KT_FORMAT_NPZ);
    damage_one(p3, KT_FORMAT_NPY);
    unlink(p1);
    unlink(p2);
    unlink(p3);
    kt_tensor_list_free(&l);
}

int main(int argc, char **argv)
{
    const char *wdir = getenv("KT_XCHECK_WRITE");
    if (wdir && *wdir) {
        write_fixtures(wdir);
        return 0;
    }
    if (getenv("KT_XCHECK_DUMP")) {
        for (int i = 1; i < argc; i++)
            dump_file(argv[i]);
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_damaged_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
