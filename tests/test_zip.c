/* test_zip.c - the zip reader: real voice packs (when ../shared exists), archives
 * built here in memory (stored, deflated, ZIP64, data descriptors, comments), and
 * every malformed case the reader must refuse, each with its code and message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <dirent.h>
#include <zlib.h>

#include "kt/io.h"
#include "kt/zip.h"

/* ---- a tiny zip builder (independent of the reader) ---- */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    if (n)
        memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void put16(buf *b, uint32_t v)
{
    unsigned char x[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    put(b, x, 2);
}

static void put32(buf *b, uint32_t v)
{
    put16(b, v & 0xFFFF);
    put16(b, v >> 16);
}

static void put64(buf *b, uint64_t v)
{
    put32(b, (uint32_t)v);
    put32(b, (uint32_t)(v >> 32));
}

static void set32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void set16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

typedef struct {
    const char *name;
    const void *data;
    size_t len;
    int deflate;
    /* filled by build() */
    size_t local_off, cd_off, data_off, csize;
    uint32_t crc;
    unsigned char *payload;
} ent;

typedef struct {
    int zip64;       /* 0 none, 1 ZIP64 end records only (as torch), 2 every field saturated + extra fields */
    int descriptor;  /* flag 0x0808, local sizes/CRC zero, a data descriptor after the data */
    unsigned align;  /* pad data to this boundary with an extra field, 0 for none */
    const char *comment;
} zopts;

typedef struct {
    buf b;
    size_t cd_off, cd_size, eocd_off;
} archive;

/* Raw deflate of data through zlib's compress (zlib header and adler32 stripped). */
static unsigned char *deflate_raw(const void *data, size_t len, size_t *out_len)
{
    uLongf n = compressBound(len);
    unsigned char *z = malloc(n);
    assert_non_null(z);
    assert_int_equal(compress2(z, &n, data, len, 9), Z_OK);
    assert_true(n >= 6);
    memmove(z, z + 2, n - 6);
    *out_len = n - 6;
    return z;
}

static void put_local(buf *b, ent *e, const zopts *o)
{
    size_t nlen = strlen(e->name);
    size_t pad = 0;
    if (o->align) {
        size_t at = b->n + 30 + nlen + 4;
        pad = (o->align - at % o->align) % o->align;
    }
    e->local_off = b->n;
    put32(b, 0x04034b50);
    put16(b, o->zip64 ? 45 : 20);
    put16(b, o->descriptor ? 0x0808 : 0);
    put16(b, e->deflate ? 8 : 0);
    put16(b, 0);
    put16(b, 0x21);
    put32(b, o->descriptor ? 0 : e->crc);
    put32(b, o->descriptor ? 0 : (uint32_t)e->csize);
    put32(b, o->descriptor ? 0 : (uint32_t)e->len);
    put16(b, (uint32_t)nlen);
    put16(b, o->align ? (uint32_t)(4 + pad) : 0);
    put(b, e->name, nlen);
    if (o->align) {
        put16(b, 0x4246);
        put16(b, (uint32_t)pad);
        for (size_t i = 0; i < pad; i++)
            put(b, "Z", 1);
    }
    e->data_off = b->n;
    put(b, e->payload, e->csize);
    if (o->descriptor) {
        put32(b, 0x08074b50);
        put32(b, e->crc);
        if (o->zip64) {
            put64(b, e->csize);
            put64(b, e->len);
        } else {
            put32(b, (uint32_t)e->csize);
            put32(b, (uint32_t)e->len);
        }
    }
}

static void put_central(buf *b, ent *e, const zopts *o)
{
    size_t nlen = strlen(e->name);
    int sat = o->zip64 == 2;
    e->cd_off = b->n;
    put32(b, 0x02014b50);
    put16(b, 0x031e);
    put16(b, o->zip64 ? 45 : 20);
    put16(b, o->descriptor ? 0x0808 : 0);
    put16(b, e->deflate ? 8 : 0);
    put16(b, 0);
    put16(b, 0x21);
    put32(b, e->crc);
    put32(b, sat ? 0xFFFFFFFF : (uint32_t)e->csize);
    put32(b, sat ? 0xFFFFFFFF : (uint32_t)e->len);
    put16(b, (uint32_t)nlen);
    put16(b, sat ? 28 : 0);
    put16(b, 0);
    put16(b, 0);
    put16(b, 0);
    put32(b, 0);
    put32(b, sat ? 0xFFFFFFFF : (uint32_t)e->local_off);
    put(b, e->name, nlen);
    if (sat) {
        put16(b, 1);
        put16(b, 24);
        put64(b, e->len);
        put64(b, e->csize);
        put64(b, e->local_off);
    }
}

static void put_end(archive *a, size_t n, const zopts *o)
{
    buf *b = &a->b;
    int sat = o->zip64 == 2;
    if (o->zip64) {
        size_t at = b->n;
        put32(b, 0x06064b50);
        put64(b, 44);
        put16(b, 45);
        put16(b, 45);
        put32(b, 0);
        put32(b, 0);
        put64(b, n);
        put64(b, n);
        put64(b, a->cd_size);
        put64(b, a->cd_off);
        put32(b, 0x07064b50);
        put32(b, 0);
        put64(b, at);
        put32(b, 1);
    }
    size_t clen = o->comment ? strlen(o->comment) : 0;
    a->eocd_off = b->n;
    put32(b, 0x06054b50);
    put16(b, 0);
    put16(b, 0);
    put16(b, sat ? 0xFFFF : (uint32_t)n);
    put16(b, sat ? 0xFFFF : (uint32_t)n);
    put32(b, sat ? 0xFFFFFFFF : (uint32_t)a->cd_size);
    put32(b, sat ? 0xFFFFFFFF : (uint32_t)a->cd_off);
    put16(b, (uint32_t)clen);
    put(b, o->comment, clen);
}

static archive build(ent *es, size_t n, const zopts *o)
{
    archive a;
    memset(&a, 0, sizeof a);
    for (size_t i = 0; i < n; i++) {
        ent *e = &es[i];
        e->crc = (uint32_t)crc32(0, e->data, (uInt)e->len);
        if (e->deflate) {
            e->payload = deflate_raw(e->data, e->len, &e->csize);
        } else {
            e->payload = malloc(e->len + 1);
            assert_non_null(e->payload);
            memcpy(e->payload, e->data, e->len);
            e->csize = e->len;
        }
        put_local(&a.b, e, o);
        free(e->payload);
        e->payload = NULL;
    }
    a.cd_off = a.b.n;
    for (size_t i = 0; i < n; i++)
        put_central(&a.b, &es[i], o);
    a.cd_size = a.b.n - a.cd_off;
    put_end(&a, n, o);
    return a;
}

/* ---- helpers ---- */

static void expect_open_error(const unsigned char *d, size_t n, kt_status code, const char *needle)
{
    kt_zip *z = (kt_zip *)(uintptr_t)1;
    kt_error err;
    kt_error_clear(&err);
    kt_status st = kt_zip_open(d, n, &z, &err);
    if (st != code || !strstr(err.msg, needle))
        fail_msg("expected %s containing \"%s\", got %s: \"%s\"", kt_status_name(code), needle,
                 kt_status_name(st), err.msg);
    assert_null(z);
    assert_int_equal(err.code, code);
    assert_null(strchr(err.msg, '\n'));
    assert_true(strncmp(err.msg, "zip: ", 5) == 0);
}

static kt_zip *open_ok(const unsigned char *d, size_t n)
{
    kt_zip *z = NULL;
    kt_error err;
    kt_error_clear(&err);
    kt_status st = kt_zip_open(d, n, &z, &err);
    if (st)
        fail_msg("open failed: %s", err.msg);
    assert_non_null(z);
    return z;
}

static void expect_content(kt_zip *z, const char *name, const void *want, size_t len)
{
    const kt_zip_entry *e = kt_zip_find(z, name);
    if (!e)
        fail_msg("entry %s not found", name);
    const unsigned char *d = NULL;
    uint64_t n = 0;
    kt_error err;
    kt_status st = kt_zip_read(z, e, UINT64_MAX, &d, &n, &err);
    if (st)
        fail_msg("read %s failed: %s", name, err.msg);
    assert_int_equal(n, len);
    assert_memory_equal(d, want, len);
}

static unsigned char text1[] = "hello, zip reader";
static unsigned char big[70000];

static void fill_big(void)
{
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof big; i++) {
        x = x * 1103515245u + 12345u;
        big[i] = (unsigned char)((x >> 16) % 7 + 'a'); /* compressible but not trivial */
    }
}

/* ---- well-formed archives ---- */

static void run_variant(const zopts *o)
{
    fill_big();
    ent es[4] = {
        {.name = "archive/data.pkl", .data = text1, .len = sizeof text1},
        {.name = "archive/data/0", .data = big, .len = sizeof big, .deflate = 1},
        {.name = "archive/empty", .data = "", .len = 0},
        {.name = "archive/version", .data = "3\n", .len = 2, .deflate = 1},
    };
    archive a = build(es, 4, o);
    kt_zip *z = open_ok(a.b.p, a.b.n);
    assert_int_equal(kt_zip_count(z), 4);
    for (size_t i = 0; i < 4; i++) {
        const kt_zip_entry *e = kt_zip_entry_at(z, i);
        assert_non_null(e);
        assert_string_equal(e->name, es[i].name);
        assert_int_equal(e->local_offset, es[i].local_off);
        assert_int_equal(e->data_offset, es[i].data_off);
        assert_int_equal(e->size, es[i].len);
        assert_int_equal(e->comp_size, es[i].csize);
        assert_int_equal(e->crc32, es[i].crc);
        assert_int_equal(e->method, es[i].deflate ? 8 : 0);
        if (o->align)
            assert_int_equal(e->data_offset % o->align, 0);
        expect_content(z, es[i].name, es[i].data, es[i].len);
    }
    assert_null(kt_zip_entry_at(z, 4));
    assert_null(kt_zip_find(z, "archive/missing"));
    assert_null(kt_zip_find(z, "archive/data"));
    /* a stored entry is returned in place */
    const unsigned char *d;
    uint64_t n;
    kt_error err;
    assert_int_equal(kt_zip_read(z, kt_zip_find(z, "archive/data.pkl"), 100, &d, &n, &err), KT_OK);
    assert_ptr_equal(d, a.b.p + es[0].data_off);
    /* a deflated entry read twice gives the same owned buffer */
    const unsigned char *d1, *d2;
    const kt_zip_entry *e1 = kt_zip_find(z, "archive/data/0");
    assert_int_equal(kt_zip_read(z, e1, UINT64_MAX, &d1, &n, &err), KT_OK);
    assert_int_equal(kt_zip_read(z, e1, UINT64_MAX, &d2, &n, &err), KT_OK);
    assert_ptr_equal(d1, d2);
    assert_true(d1 < a.b.p || d1 >= a.b.p + a.b.n);
    /* the cap refuses an entry larger than it, before inflating */
    assert_int_equal(kt_zip_read(z, e1, sizeof big - 1, &d, &n, &err), KT_ELIMIT);
    assert_non_null(strstr(err.msg, "over the limit"));
    kt_zip_free(z);
    free(a.b.p);
}

static void test_plain(void **s)
{
    (void)s;
    zopts o = {0};
    run_variant(&o);
}

static void test_torch_layout(void **s)
{
    (void)s;
    zopts o = {.zip64 = 1, .descriptor = 1, .align = 64};
    run_variant(&o);
}

static void test_zip64_saturated(void **s)
{
    (void)s;
    zopts o = {.zip64 = 2, .descriptor = 1};
    run_variant(&o);
    zopts o2 = {.zip64 = 2, .align = 64, .comment = "a comment"};
    run_variant(&o2);
}

static void test_comment(void **s)
{
    (void)s;
    static char longc[65536];
    memset(longc, 'c', 65535);
    longc[0] = 'P'; /* bytes that look like a signature start must not confuse the scan */
    zopts o = {.comment = longc};
    run_variant(&o);
    zopts o2 = {.comment = "PK\x05\x06 inside"};
    run_variant(&o2);
}

/* A comment holding a whole fake end record must not be taken for the real one. */
static void test_fake_end_in_comment(void **s)
{
    (void)s;
    char fake[22];
    memset(fake, 'x', sizeof fake);
    memcpy(fake, "PK\x05\x06", 4);
    memset(fake + 4, 0, 18); /* 0 entries, 0-byte directory at 0, no comment */
    fill_big();
    ent es[1] = {{.name = "c/x", .data = text1, .len = sizeof text1}};
    zopts o = {0};
    archive a = build(es, 1, &o);
    set16(a.b.p + a.eocd_off + 20, 22);
    put(&a.b, fake, 22);
    kt_zip *z = open_ok(a.b.p, a.b.n);
    assert_int_equal(kt_zip_count(z), 1);
    expect_content(z, "c/x", text1, sizeof text1);
    kt_zip_free(z);
    /* bytes after the end record (no comment) that are no end record are tolerated */
    set16(a.b.p + a.eocd_off + 20, 0);
    a.b.p[a.eocd_off + 22] = 'Q';
    z = open_ok(a.b.p, a.b.n);
    assert_int_equal(kt_zip_count(z), 1);
    kt_zip_free(z);
    free(a.b.p);
}

static void test_empty_archive(void **s)
{
    (void)s;
    zopts o = {0};
    archive a = build(NULL, 0, &o);
    assert_int_equal(a.b.n, 22);
    kt_zip *z = open_ok(a.b.p, a.b.n);
    assert_int_equal(kt_zip_count(z), 0);
    assert_null(kt_zip_find(z, "x"));
    kt_zip_free(z);
    free(a.b.p);
}

static void test_crc32(void **s)
{
    (void)s;
    /* the published CRC-32 check value */
    assert_int_equal(kt_crc32(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(kt_crc32(kt_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
    assert_int_equal(kt_crc32(0, "", 0), 0);
    kt_zip_free(NULL);
    assert_int_equal(kt_zip_count(NULL), 0);
    assert_null(kt_zip_find(NULL, "a"));
}

/* ---- malformed archives ---- */

static archive two_entries(ent *es, int deflate_second)
{
    fill_big();
    es[0] = (ent){.name = "a/one", .data = text1, .len = sizeof text1};
    es[1] = (ent){.name = "a/two", .data = big, .len = 4000, .deflate = deflate_second};
    zopts o = {0};
    return build(es, 2, &o);
}

static void test_too_small_and_truncated(void **s)
{
    (void)s;
    expect_open_error(NULL, 0, KT_EFORMAT, "too small");
    expect_open_error((const unsigned char *)"PK\x05\x06", 4, KT_EFORMAT, "too small");
    ent es[2];
    archive a = two_entries(es, 1);
    for (size_t n = 0; n < a.b.n; n++) {
        unsigned char *copy = malloc(n ? n : 1); /* exact size so ASan sees any overread */
        memcpy(copy, a.b.p, n);
        kt_zip *z = NULL;
        kt_error err;
        kt_status st = kt_zip_open(copy, n, &z, &err);
        if (st == KT_OK)
            fail_msg("truncated to %zu of %zu bytes but opened", n, a.b.n);
        assert_int_equal(st, KT_EFORMAT);
        assert_null(z);
        free(copy);
    }
    free(a.b.p);
}

static void test_corrupt_central(void **s)
{
    (void)s;
    ent es[2];
    archive a = two_entries(es, 0);
    a.b.p[es[1].cd_off] ^= 0xFF;
    expect_open_error(a.b.p, a.b.n, KT_EFORMAT, "zip: corrupt central directory entry");
    free(a.b.p);

    a = two_entries(es, 0);
    set32(a.b.p + a.eocd_off + 16, (uint32_t)a.b.n); /* directory offset past the end */
    expect_open_error(a.b.p, a.b.n, KT_EFORMAT, "zip: central directory extends past end of file");
    free(a.b.p);

    a = two_entries(es, 0);
    set32(a.b.p + a.eocd_off + 12, (uint32_t)a.cd_size + 1000); /* size runs into the end record */
    expect_open_error(a.b.p, a.b.n, KT_EFORMAT, "zip: central directory extends past end of file");
    free(a.b.p);

    a = two_entries(es, 0);
    set16(a.b.p + es[0].cd_off + 28, 5000); /* name length past the directory */
    expect_open_error(a.b.p, a.b.n, KT_EFORMAT, "extends past the directory");
    free(a.b.p);
}

static void test_absurd_count(void **s)
{
    (void)s;
    ent es[2];
    archive a = two_entries(es, 0);
    set16(a.b.p + a.eocd_off + 8, 60000);
    set16(a.b.p + a.eocd_off + 10, 60000);
    expect_open_error(a.b.p, a.b.n, KT_EFORMAT, "60000 entries cannot fit");
    free(a.b.p);

    a = two_entries(es, 0);
    set16(a.b.p + a.eocd_off + 8, 3); /* 3 fit by size, but the third is not there */
    set16(a.b.p + a.eocd_off + 10, 3);
    /* 2 entries of 51 bytes = 102 bytes hold at most 2 minimal entries */
    expect_open_error(a.b.p, a.b.n, KT_EFORMAT, "3 entries cannot fit");
    free(a.b.p);
}

static void test_zip64_errors(void **s)
{
    (void)s;
    fill_big();
    ent es[1] = {{.name = "x/data", .data = big, .len = 100}};
    zopts o = {.zip64 = 2};
    archive a = build(es, 1, &o);
    kt_zip_free(open_ok(a.b.p, a.b.n));
    unsigned char *loc = a.b.p + a.eocd_off - 20;
    loc[0] = 'X'; /* locator gone: the saturated end record cannot be used */
    expect_open_error(a.b.p, a.b.n, KT_EFORMAT, "needs a ZIP64 record that is missing");
    loc[0] = 'P';
    set32(loc + 8, 0x7FFFFFF0); /* ZIP64 record offset out of bounds */
    expect_open_error(a.b.p, a.b.n, KT_EFORMAT, "ZIP64 end record offset is out of bounds");
    free(a.b.p);

    a = build(es, 1, &o);
    set16(a.b.p + es[0].cd_off + 30, 0); /* no extra field although fields are saturated */
    expect_open_error(a.b.p, a.b.n, KT_EFORMAT, "needs a ZIP64 extra field that is missing");
    free(a.b.p);

    zopts o1 = {.zip64 = 1};
    a = build(es, 1, &o1);
    set16(a.b.p + a.eocd_off + 10, 1);
    set16(a.b.p + a.eocd_off + 8, 1);
    set32(a.b.p + a.eocd_off + 12, (uint32_t)a.cd_size - 1); /* disagrees with the ZIP64 record */
    expect_open_error(a.b.p, a.b.n, KT_EFORMAT, "ZIP64 end record disagrees");
    free(a.b.p);
}

static void test_duplicate_names(void **s)
{
    (void)s;
    ent es[3] = {
        {.name = "d/x", .data = "1", .len = 1},
        {.name = "d/y", .data = "2", .len = 1},
        {.name = "d/x", .data = "3", .len = 1},
    };
    zopts o = {0};
    archive a = build(es, 3, &o);
    expect_open_error(a.b.p, a.b.n, KT_EFORMAT, "zip: two entries named \"d/x\"");
    free(a.b.p);
}

/* Entry "o/inner" whose local header and data sit inside entry "o/outer"'s data. */
static void test_overlap(void **s)
{
    (void)s;
    buf inner = {0};
    uint32_t crc = (uint32_t)crc32(0, (const Bytef *)"inner", 5);
    put32(&inner, 0x04034b50);
    put16(&inner, 20);
    put16(&inner, 0);
    put16(&inner, 0);
    put32(&inner, 0);
    put32(&inner, crc);
    put32(&inner, 5);
    put32(&inner, 5);
    put16(&inner, 7);
    put16(&inner, 0);
    put(&inner, "o/inner", 7);
    put(&inner, "inner", 5);
    ent es[2] = {
        {.name = "o/outer", .data = inner.p, .len = inner.n},
        {.name = "o/tail", .data = "t", .len = 1},
    };
    zopts o = {0};
    archive a = build(es, 2, &o);
    /* point the second central entry at the header inside the first entry and rename it */
    size_t cd1 = es[1].cd_off;
    buf b = {0};
    put(&b, a.b.p, cd1);
    unsigned char ce[46];
    memcpy(ce, a.b.p + cd1, 46);
    set32(ce + 16, crc);
    set32(ce + 20, 5);
    set32(ce + 24, 5);
    set16(ce + 28, 7);
    set32(ce + 42, (uint32_t)es[0].data_off);
    put(&b, ce, 46);
    put(&b, "o/inner", 7);
    size_t cd_size = b.n - a.cd_off;
    put32(&b, 0x06054b50);
    put32(&b, 0);
    put16(&b, 2);
    put16(&b, 2);
    put32(&b, (uint32_t)cd_size);
    put32(&b, (uint32_t)a.cd_off);
    put16(&b, 0);
    expect_open_error(b.p, b.n, KT_EFORMAT, "zip: entries \"o/outer\" and \"o/inner\" overlap");
    free(b.p);
    free(a.b.p);
    free(inner.p);
}

static void test_local_mismatch(void **s)
{
    (void)s;
    ent es[2];
    archive a = two_entries(es, 0);
    a.b.p[es[1].local_off + 30] = 'b'; /* "b/two" in the local header */
    expect_open_error(a.b.p, a.b.n, KT_EFORMAT, "different name in its local header");
    free(a.b.p);

    a = two_entries(es, 0);
    a.b.p[es[1].local_off] = 'Q';
    expect_open_error(a.b.p, a.b.n, KT_EFORMAT, "no local header at its offset");
    free(a.b.p);

    a = two_entries(es, 0);
    set32(a.b.p + es[1].cd_off + 42, (uint32_t)a.b.n + 5); /* local offset past the end */
    expect_open_error(a.b.p, a.b.n, KT_EFORMAT, "no local header at its offset");
    free(a.b.p);

    a = two_entries(es, 0);
    set32(a.b.p + es[1].cd_off + 20, 0x10000000); /* data range past the file */
    set32(a.b.p + es[1].cd_off + 24, 0x10000000);
    expect_open_error(a.b.p, a.b.n, KT_EFORMAT, "data extends past");
    free(a.b.p);

    a = two_entries(es, 0);
    set32(a.b.p + es[1].cd_off + 16, 0x12345678); /* no descriptor flag: local CRC must agree */
    expect_open_error(a.b.p, a.b.n, KT_EFORMAT, "local header disagrees");
    free(a.b.p);

    a = two_entries(es, 0);
    set16(a.b.p + es[1].cd_off + 10, 12); /* bzip2 */
    set16(a.b.p + es[1].local_off + 8, 12);
    expect_open_error(a.b.p, a.b.n, KT_EUNSUPPORTED, "compression method 12");
    free(a.b.p);

    a = two_entries(es, 0);
    set16(a.b.p + es[1].cd_off + 8, 1); /* encrypted */
    expect_open_error(a.b.p, a.b.n, KT_EUNSUPPORTED, "is encrypted");
    free(a.b.p);
}

static void read_expect(kt_zip *z, const char *name, kt_status code, const char *needle)
{
    const unsigned char *d;
    uint64_t n;
    kt_error err;
    kt_error_clear(&err);
    kt_status st = kt_zip_read(z, kt_zip_find(z, name), UINT64_MAX, &d, &n, &err);
    if (st != code || !strstr(err.msg, needle))
        fail_msg("expected \"%s\", got %s: \"%s\"", needle, kt_status_name(st), err.msg);
    assert_null(strchr(err.msg, '\n'));
}

static void test_crc_mismatch(void **s)
{
    (void)s;
    fill_big();
    ent es[1] = {{.name = "c/data", .data = big, .len = 5000, .deflate = 1}};
    zopts o = {.descriptor = 1};
    archive a = build(es, 1, &o);
    set32(a.b.p + es[0].cd_off + 16, es[0].crc ^ 1);
    kt_zip *z = open_ok(a.b.p, a.b.n);
    read_expect(z, "c/data", KT_EFORMAT, "zip: entry \"c/data\" fails its CRC-32 check");
    read_expect(z, "c/data", KT_EFORMAT, "CRC-32"); /* a failed read leaves nothing cached */
    kt_zip_free(z);
    free(a.b.p);
}

static void test_deflate_bomb(void **s)
{
    (void)s;
    size_t huge = 8u << 20;
    unsigned char *zeros = calloc(huge, 1);
    assert_non_null(zeros);
    ent es[1] = {{.name = "b/bomb", .data = zeros, .len = huge, .deflate = 1}};
    zopts o = {.descriptor = 1};
    archive a = build(es, 1, &o);
    free(zeros);
    set32(a.b.p + es[0].cd_off + 24, 1000); /* declares 1000 bytes */
    kt_zip *z = open_ok(a.b.p, a.b.n);
    assert_int_equal(kt_zip_find(z, "b/bomb")->size, 1000);
    read_expect(z, "b/bomb", KT_EFORMAT, "inflates past its declared 1000 bytes");
    kt_zip_free(z);
    free(a.b.p);
}

static void test_deflate_short_and_corrupt(void **s)
{
    (void)s;
    ent es[2];
    archive a = two_entries(es, 1);
    set32(a.b.p + es[1].cd_off + 24, 4001); /* declares one byte more than it holds */
    set32(a.b.p + es[1].local_off + 22, 4001);
    kt_zip *z = open_ok(a.b.p, a.b.n);
    read_expect(z, "a/two", KT_EFORMAT, "inflates to 4000 bytes, declared 4001");
    kt_zip_free(z);
    free(a.b.p);

    a = two_entries(es, 1);
    memset(a.b.p + es[1].data_off, 0xFF, 8); /* invalid block type */
    z = open_ok(a.b.p, a.b.n);
    read_expect(z, "a/two", KT_EFORMAT, "corrupt or truncated deflate data");
    kt_zip_free(z);
    free(a.b.p);

    a = two_entries(es, 1);
    size_t half = es[1].csize / 2; /* the stream stops early: shrink the compressed size */
    set32(a.b.p + es[1].cd_off + 20, (uint32_t)half);
    set32(a.b.p + es[1].local_off + 18, (uint32_t)half);
    z = open_ok(a.b.p, a.b.n);
    read_expect(z, "a/two", KT_EFORMAT, "corrupt or truncated deflate data");
    kt_zip_free(z);
    free(a.b.p);
}

static void test_read_foreign_entry(void **s)
{
    (void)s;
    ent es[2];
    archive a = two_entries(es, 0);
    kt_zip *z = open_ok(a.b.p, a.b.n);
    kt_zip_entry fake = *kt_zip_entry_at(z, 0);
    const unsigned char *d;
    uint64_t n;
    kt_error err;
    assert_int_equal(kt_zip_read(z, &fake, UINT64_MAX, &d, &n, &err), KT_EINVAL);
    assert_int_equal(kt_zip_read(z, NULL, UINT64_MAX, &d, &n, &err), KT_EINVAL);
    kt_zip_free(z);
    free(a.b.p);
}

/* Random byte damage never crashes; whatever opens can be read without faults. */
static void test_fuzz(void **s)
{
    (void)s;
    fill_big();
    ent es[3] = {
        {.name = "f/a", .data = text1, .len = sizeof text1, .deflate = 1},
        {.name = "f/b", .data = big, .len = 3000, .deflate = 1},
        {.name = "f/c", .data = big, .len = 300},
    };
    zopts o = {.zip64 = 1, .descriptor = 1, .align = 64};
    archive a = build(es, 3, &o);
    unsigned char *copy = malloc(a.b.n);
    uint32_t x = 7;
    int opened = 0;
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(copy, a.b.p, a.b.n);
        for (int k = 0; k < 1 + iter % 4; k++) {
            x = x * 1664525u + 1013904223u;
            size_t at = (x >> 8) % a.b.n;
            /* aim half the damage at the headers, where it matters */
            if (iter % 2 && a.b.n > a.cd_off)
                at = a.cd_off + (x >> 8) % (a.b.n - a.cd_off);
            copy[at] = (unsigned char)(x >> 24);
        }
        kt_zip *z = NULL;
        kt_error err;
        kt_error_clear(&err);
        if (kt_zip_open(copy, a.b.n, &z, &err) != KT_OK) {
            assert_true(err.msg[0] != '\0');
            continue;
        }
        opened++;
        for (size_t i = 0; i < kt_zip_count(z); i++) {
            const unsigned char *d;
            uint64_t n;
            const kt_zip_entry *e = kt_zip_entry_at(z, i);
            if (kt_zip_read(z, e, 1u << 20, &d, &n, &err) == KT_OK && n > 0)
                assert_true(kt_crc32(0, d, (size_t)n) == e->crc32 || e->method == 0);
        }
        kt_zip_free(z);
    }
    print_message("fuzz: %d of 20000 damaged archives still opened\n", opened);
    free(copy);
    free(a.b.p);
}

/* The committed zip-level files of fixtures/hostile, through the zip layer alone. */
static void test_hostile_corpus(void **s)
{
    (void)s;
    static const struct {
        const char *file, *needle;
    } cases[] = {
        {"truncated.pth", "no end-of-central-directory record"},
        {"corrupt_central_directory.pth", "corrupt central directory entry"},
        {"overlapping_entries.pth", "entries \"archive/pad\" and \"archive/data/0\" overlap"},
        {"duplicate_entries.pth", "two entries named \"archive/data/0\""},
        {"crc_mismatch.pth", "fails its CRC-32 check"},
        {"deflate_bomb.pth", "inflates past its declared 16 bytes"},
        {"empty.pth", "too small"},
    };
    FILE *probe = fopen("fixtures/hostile/README.md", "rb");
    if (!probe) {
        print_message("SKIP: fixtures/hostile not found (run from the repository root)\n");
        skip();
    }
    fclose(probe);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char path[256];
        snprintf(path, sizeof path, "fixtures/hostile/%s", cases[c].file);
        kt_mapped_file f = {0};
        kt_error err;
        kt_error_clear(&err);
        assert_int_equal(kt_file_map(path, &f, &err), KT_OK);
        kt_zip *z = NULL;
        kt_status st = kt_zip_open(f.data, f.size, &z, &err);
        for (size_t i = 0; st == KT_OK && i < kt_zip_count(z); i++) {
            const unsigned char *d;
            uint64_t n;
            st = kt_zip_read(z, kt_zip_entry_at(z, i), 1u << 20, &d, &n, &err);
        }
        if (st != KT_EFORMAT || !strstr(err.msg, cases[c].needle))
            fail_msg("%s: expected \"%s\", got %s: \"%s\"", path, cases[c].needle, kt_status_name(st), err.msg);
        kt_zip_free(z);
        kt_file_unmap(&f);
    }
}

/* ---- the real voice packs ---- */

static void test_real_voices(void **s)
{
    (void)s;
    const char *shared = getenv("KT_SHARED") ? getenv("KT_SHARED") : "../shared";
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/kokoro/voices", shared);
    DIR *dp = opendir(dir);
    if (!dp) {
        print_message("SKIP: %s not found (no ../shared outside the workplace)\n", dir);
        skip();
    }
    struct dirent *de;
    int seen = 0;
    while ((de = readdir(dp))) {
        size_t l = strlen(de->d_name);
        if (l < 4 || strcmp(de->d_name + l - 3, ".pt") != 0)
            continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        kt_mapped_file f = {0};
        kt_error err;
        assert_int_equal(kt_file_map(path, &f, &err), KT_OK);
        kt_zip *z = open_ok(f.data, f.size);
        assert_int_equal(kt_zip_count(z), 5);
        /* the folder is the part of the first entry's name before '/' */
        const kt_zip_entry *first = kt_zip_entry_at(z, 0);
        const char *slash = strchr(first->name, '/');
        assert_non_null(slash);
        int flen = (int)(slash - first->name);
        const char *want[5] = {"data.pkl", "byteorder", "data/0", "version", ".data/serialization_id"};
        for (size_t i = 0; i < 5; i++) {
            const kt_zip_entry *e = kt_zip_entry_at(z, i);
            char name[256];
            snprintf(name, sizeof name, "%.*s/%s", flen, first->name, want[i]);
            assert_string_equal(e->name, name);
            assert_ptr_equal(kt_zip_find(z, name), e);
            assert_int_equal(e->method, 0);
            assert_int_equal(e->flags, 0x0808);
            assert_int_equal(e->data_offset % 64, 0);
            const unsigned char *d;
            uint64_t n;
            assert_int_equal(kt_zip_read(z, e, UINT64_MAX, &d, &n, &err), KT_OK);
            assert_int_equal(kt_crc32(0, d, (size_t)n), e->crc32);
            if (i == 0)
                assert_true(n > 2 && d[0] == 0x80 && d[1] == 2 && d[n - 1] == '.');
            if (i == 1)
                assert_true(n == 6 && memcmp(d, "little", 6) == 0);
            if (i == 2)
                assert_int_equal(n, 510 * 256 * 4);
        }
        kt_zip_free(z);
        kt_file_unmap(&f);
        seen++;
    }
    closedir(dp);
    print_message("opened %d real voice packs\n", seen);
    assert_true(seen > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_torch_layout),
        cmocka_unit_test(test_zip64_saturated),
        cmocka_unit_test(test_comment),
        cmocka_unit_test(test_fake_end_in_comment),
        cmocka_unit_test(test_empty_archive),
        cmocka_unit_test(test_too_small_and_truncated),
        cmocka_unit_test(test_corrupt_central),
        cmocka_unit_test(test_absurd_count),
        cmocka_unit_test(test_zip64_errors),
        cmocka_unit_test(test_duplicate_names),
        cmocka_unit_test(test_overlap),
        cmocka_unit_test(test_local_mismatch),
        cmocka_unit_test(test_crc_mismatch),
        cmocka_unit_test(test_deflate_bomb),
        cmocka_unit_test(test_deflate_short_and_corrupt),
        cmocka_unit_test(test_read_foreign_entry),
        cmocka_unit_test(test_fuzz),
        cmocka_unit_test(test_hostile_corpus),
        cmocka_unit_test(test_real_voices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
