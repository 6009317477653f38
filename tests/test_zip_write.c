/* test_zip_write.c - the stored zip writer: entry data alignment through the 'FB'
 * extra field, CRC-32s against zlib, streamed entries byte-identical to whole
 * ones, forced ZIP64 records, more than 65535 entries, deterministic bytes, and
 * every misuse refused. Archives are checked with a small independent parser
 * here and read back through the kt zip reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <unistd.h>
#include <zlib.h>

#include "kt/io.h"
#include "kt/zip.h"

static uint32_t rd16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const unsigned char *p) { return rd16(p) | rd16(p + 2) << 16; }
static uint64_t rd64(const unsigned char *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static void tmp_path(char *buf, size_t n, const char *stem)
{
    snprintf(buf, n, "/tmp/kt_test_zipw_%ld_%s.zip", (long)getpid(), stem);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)sz + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return p;
}

/* payload i: len bytes of a simple pattern that differs per entry */
static unsigned char *payload(int i, size_t len)
{
    unsigned char *p = malloc(len ? len : 1);
    assert_non_null(p);
    for (size_t k = 0; k < len; k++)
        p[k] = (unsigned char)(k * 7 + (size_t)i * 13 + 1);
    return p;
}

/* Writes entries "e0".."e{n-1}" of sizes sizes[i]; streamed != 0 sends them in 3 pieces. */
static void write_archive(const char *path, unsigned align, int n, const size_t *sizes, int streamed, int force64)
{
    kt_atomic_file af;
    kt_zip_writer *w;
    kt_error err;
    assert_int_equal(kt_atomic_open(&af, path, &err), KT_OK);
    assert_int_equal(kt_zip_writer_create(&af, align, &w, &err), KT_OK);
    if (force64)
        kt_zip_writer_force_zip64(w);
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "archive/data/e%d", i);
        unsigned char *p = payload(i, sizes[i]);
        if (!streamed) {
            assert_int_equal(kt_zip_writer_add(w, name, p, sizes[i], &err), KT_OK);
        } else {
            size_t a = sizes[i] / 3, b = sizes[i] / 2;
            assert_int_equal(kt_zip_writer_begin(w, name, sizes[i], &err), KT_OK);
            assert_int_equal(kt_zip_writer_append(w, p, a, &err), KT_OK);
            assert_int_equal(kt_zip_writer_append(w, p + a, b - a, &err), KT_OK);
            assert_int_equal(kt_zip_writer_append(w, p + b, sizes[i] - b, &err), KT_OK);
            assert_int_equal(kt_zip_writer_end(w, &err), KT_OK);
        }
        free(p);
    }
    assert_int_equal(kt_zip_writer_finish(w, &err), KT_OK);
    assert_int_equal(kt_atomic_commit(&af, &err), KT_OK);
}

static const size_t sizes5[5] = {0, 1, 100, 4096, 70001};

/* Walks the local headers independently of the reader: alignment, 'FB' padding, CRC, data. */
static void check_locals(const unsigned char *d, size_t n, unsigned align, int count, const size_t *sizes,
                         int expect64)
{
    size_t off = 0;
    for (int i = 0; i < count; i++) {
        assert_true(off + 30 <= n);
        assert_int_equal(rd32(d + off), 0x04034b50u);
        assert_int_equal(rd16(d + off + 8), 0); /* stored */
        uint32_t nlen = rd16(d + off + 26), xlen = rd16(d + off + 28);
        const unsigned char *x = d + off + 30 + nlen, *xe = x + xlen;
        uint64_t csize = rd32(d + off + 18), usize = rd32(d + off + 22);
        int saw_fb = 0, saw64 = 0;
        while (x + 4 <= xe) {
            uint32_t id = rd16(x), len = rd16(x + 2);
            assert_true(x + 4 + len <= xe);
            if (id == 1) {
                saw64 = 1;
                assert_int_equal(len, 16);
                usize = rd64(x + 4);
                csize = rd64(x + 12);
            } else if (id == ('F' | 'B' << 8)) {
                saw_fb = 1;
                for (uint32_t k = 0; k < len; k++)
                    assert_int_equal(x[4 + k], 'Z');
            }
            x += 4 + len;
        }
        assert_ptr_equal(x, xe);
        assert_int_equal(saw_fb, align > 1);
        assert_int_equal(saw64, expect64);
        size_t data = off + 30 + nlen + xlen;
        if (align > 1)
            assert_int_equal(data % align, 0);
        assert_int_equal(usize, sizes[i]);
        assert_int_equal(csize, sizes[i]);
        assert_true(data + sizes[i] <= n);
        unsigned char *p = payload(i, sizes[i]);
        assert_memory_equal(d + data, p, sizes[i] ? sizes[i] : 0);
        assert_int_equal(rd32(d + off + 14), (uint32_t)crc32(0, p, (uInt)sizes[i]));
        free(p);
        off = data + sizes[i];
    }
    assert_int_equal(rd32(d + off), 0x02014b50u); /* the central directory follows */
}

static void check_with_reader(const unsigned char *d, size_t n, int count, const size_t *sizes)
{
    kt_zip *z;
    kt_error err;
    assert_int_equal(kt_zip_open(d, n, &z, &err), KT_OK);
    assert_int_equal(kt_zip_count(z), (size_t)count);
    for (int i = 0; i < count; i++) {
        char name[32];
        snprintf(name, sizeof name, "archive/data/e%d", i);
        const kt_zip_entry *e = kt_zip_entry_at(z, (size_t)i); /* central-directory order */
        assert_non_null(e);
        assert_string_equal(e->name, name);
        const unsigned char *p;
        uint64_t len;
        assert_int_equal(kt_zip_read(z, e, sizes[i], &p, &len, &err), KT_OK);
        assert_int_equal(len, sizes[i]);
        unsigned char *want = payload(i, sizes[i]);
        if (len)
            assert_memory_equal(p, want, len);
        free(want);
    }
    kt_zip_free(z);
}

static void run_case(unsigned align, int force64)
{
    char pa[128], pb[128];
    size_t na, nb;
    tmp_path(pa, sizeof pa, "whole");
    tmp_path(pb, sizeof pb, "streamed");
    write_archive(pa, align, 5, sizes5, 0, force64);
    write_archive(pb, align, 5, sizes5, 1, force64);
    unsigned char *a = slurp(pa, &na), *b = slurp(pb, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na); /* streaming gives the same bytes */
    check_locals(a, na, align, 5, sizes5, force64);
    check_with_reader(a, na, 5, sizes5);
    /* the end record: a ZIP64 end record and locator precede it only when forced */
    assert_int_equal(rd32(a + na - 22), 0x06054b50u);
    assert_int_equal(rd16(a + na - 22 + 10), 5);
    assert_int_equal(na >= 22 + 20 && rd32(a + na - 42) == 0x07064b50u, force64);
    free(a);
    free(b);
    unlink(pa);
    unlink(pb);
}

static void test_align64(void **s) { (void)s; run_case(64, 0); }
static void test_align_none(void **s) { (void)s; run_case(0, 0); }
static void test_align_odd(void **s) { (void)s; run_case(24, 0); }
static void test_forced_zip64(void **s) { (void)s; run_case(64, 1); }

static void test_deterministic(void **s)
{
    (void)s;
    char pa[128], pb[128];
    size_t na, nb;
    tmp_path(pa, sizeof pa, "det1");
    tmp_path(pb, sizeof pb, "det2");
    write_archive(pa, 64, 5, sizes5, 0, 0);
    sleep(1); /* a timestamp that followed the clock would now differ */
    write_archive(pb, 64, 5, sizes5, 0, 0);
    unsigned char *a = slurp(pa, &na), *b = slurp(pb, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    free(a);
    free(b);
    unlink(pa);
    unlink(pb);
}

static void test_many_entries(void **s)
{
    (void)s;
    enum { N = 70000 };
    char p[128];
    size_t n;
    size_t *sizes = calloc(N, sizeof *sizes);
    assert_non_null(sizes);
    for (int i = 0; i < N; i++)
        sizes[i] = (size_t)(i % 3);
    tmp_path(p, sizeof p, "many");
    write_archive(p, 64, N, sizes, 0, 0);
    unsigned char *d = slurp(p, &n);
    assert_int_equal(rd16(d + n - 22 + 8), 0xFFFF); /* count saturated ... */
    assert_int_equal(rd32(d + n - 42), 0x07064b50u); /* ... and a ZIP64 locator */
    uint64_t rec = rd64(d + n - 42 + 8);
    assert_true(rec + 56 <= n);
    assert_int_equal(rd32(d + rec), 0x06064b50u);
    assert_int_equal(rd64(d + rec + 32), (uint64_t)N);
    check_with_reader(d, n, N, sizes);
    free(d);
    free(sizes);
    unlink(p);
}

/* Opens an output and a writer for the misuse tests. */
static kt_zip_writer *open_writer(kt_atomic_file *af, const char *stem)
{
    char p[128];
    kt_zip_writer *w;
    kt_error err;
    tmp_path(p, sizeof p, stem);
    assert_int_equal(kt_atomic_open(af, p, &err), KT_OK);
    assert_int_equal(kt_zip_writer_create(af, 64, &w, &err), KT_OK);
    return w;
}

static void test_misuse(void **s)
{
    (void)s;
    kt_atomic_file af;
    kt_error err;
    kt_zip_writer *w;
    unsigned char buf[8] = {0};

    w = open_writer(&af, "misuse1");
    assert_int_equal(kt_zip_writer_begin(w, "a", 4, &err), KT_OK);
    assert_int_equal(kt_zip_writer_add(w, "b", buf, 1, &err), KT_EINVAL); /* entry still open */
    assert_non_null(strstr(err.msg, "still open"));
    kt_zip_writer_free(w);
    kt_atomic_abort(&af);

    w = open_writer(&af, "misuse2");
    assert_int_equal(kt_zip_writer_begin(w, "a", 4, &err), KT_OK);
    assert_int_equal(kt_zip_writer_append(w, buf, 5, &err), KT_EINVAL); /* more than declared */
    assert_non_null(strstr(err.msg, "exceeds"));
    assert_int_equal(kt_zip_writer_finish(w, &err), KT_EIO); /* poisoned */
    kt_atomic_abort(&af);

    w = open_writer(&af, "misuse3");
    assert_int_equal(kt_zip_writer_begin(w, "a", 4, &err), KT_OK);
    assert_int_equal(kt_zip_writer_append(w, buf, 3, &err), KT_OK);
    assert_int_equal(kt_zip_writer_end(w, &err), KT_EINVAL); /* fewer than declared */
    assert_non_null(strstr(err.msg, "3 of its declared 4"));
    kt_zip_writer_free(w);
    kt_atomic_abort(&af);

    w = open_writer(&af, "misuse4");
    assert_int_equal(kt_zip_writer_append(w, buf, 1, &err), KT_EINVAL); /* nothing open */
    assert_int_equal(kt_zip_writer_end(w, &err), KT_EINVAL);
    assert_int_equal(kt_zip_writer_add(w, "", buf, 1, &err), KT_EINVAL); /* empty name */
    assert_non_null(strstr(err.msg, "name length"));
    kt_zip_writer_free(w);
    kt_atomic_abort(&af);

    w = open_writer(&af, "misuse5");
    assert_int_equal(kt_zip_writer_begin(w, "a", 1, &err), KT_OK);
    assert_int_equal(kt_zip_writer_finish(w, &err), KT_EINVAL); /* finish with an entry open */
    kt_atomic_abort(&af);

    assert_int_equal(kt_zip_writer_create(NULL, 64, &w, &err), KT_EINVAL);
    w = open_writer(&af, "misuse6");
    kt_zip_writer_free(w);
    assert_int_equal(kt_zip_writer_create(&af, 1u << 20, &w, &err), KT_EINVAL); /* absurd alignment */
    assert_null(w);
    kt_atomic_abort(&af);
    kt_zip_writer_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_align64),       cmocka_unit_test(test_align_none),
        cmocka_unit_test(test_align_odd),     cmocka_unit_test(test_forced_zip64),
        cmocka_unit_test(test_deterministic), cmocka_unit_test(test_many_entries),
        cmocka_unit_test(test_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
