/* test_limits.c - every safety limit of the readers, each asserted by its status code and message:
 * pickle nesting depth, open MARKs, stack, memo, string length, values, tensors, ndim and
 * the dimension product; zip's cap, declared size and deflate ratio; npy and safetensors
 * ndim, product overflow and header size; the config file size; the pickle's memory budget,
 * the zip inflate budget, config value ranges and NUL bytes, duplicate safetensors metadata
 * keys, and the escaping that keeps every message on one line. The messages are the
 * readers' own one-line texts (docs/security.md lists them). */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "kt/checkpoint.h"
#include "kt/config.h"
#include "kt/formats.h"
#include "kt/io.h"
#include "kt/pickle.h"
#include "kt/zip.h"

#define MSG_HAS(err, s)                                                                                                \
    do {                                                                                                               \
        if (!strstr((err).msg, (s)))                                                                                   \
            fail_msg("message \"%s\" lacks \"%s\"", (err).msg, (s));                                                   \
    } while (0)

/* A growable byte buffer for assembling pickles. */
typedef struct {
    unsigned char d[8192];
    size_t n;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    assert_true(b->n + n <= sizeof b->d);
    memcpy(b->d + b->n, p, n);
    b->n += n;
}
/* appends a string literal, embedded NULs included */
#define PUTS(b, lit) put((b), (lit), sizeof(lit) - 1)
static void rep(buf *b, char c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put(b, &c, 1);
}

static void pickle_fails(const buf *b, const kt_pickle_limits *lim, kt_status code, const char *msg)
{
    kt_pickle_options opt = {lim, NULL, NULL};
    kt_value *root = (kt_value *)1;
    kt_error err;
    assert_int_equal(kt_pickle_parse(b->d, b->n, &opt, &root, NULL, &err), code);
    assert_int_equal(err.code, code);
    assert_null(root);
    MSG_HAS(err, msg);
}

/* _rebuild_tensor_v2(storage '0' of numel float32, 0, size, stride, False, OrderedDict()). */
static void tensor_pickle(buf *b, int ndim, const char *dim_op, size_t dim_len, unsigned numel)
{
    unsigned char k1[2] = {'K', 1};
    PUTS(b, "\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n(");
    PUTS(b, "(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuJ");
    put(b, &numel, 4); /* BININT, little-endian on every machine kt supports */
    PUTS(b, "tQK\x00(");
    for (int i = 0; i < ndim; i++)
        put(b, dim_op, dim_len);
    PUTS(b, "t(");
    for (int i = 0; i < ndim; i++)
        put(b, k1, 2);
    PUTS(b, "t\x89" "ccollections\nOrderedDict\n)RtR.");
}

static void t_pickle_depth(void **s)
{
    (void)s;
    buf b = {.n = 0};
    PUTS(&b, "\x80\x02");
    rep(&b, ']', 70);
    rep(&b, 'a', 69);
    PUTS(&b, ".");
    pickle_fails(&b, NULL, KT_ELIMIT, "pickle: containers nested deeper than 64");
    buf m = {.n = 0};
    PUTS(&m, "\x80\x02");
    rep(&m, '(', 70);
    pickle_fails(&m, NULL, KT_ELIMIT, "pickle: more than 64 open MARKs");
    /* 64 levels are fine */
    buf ok = {.n = 0};
    PUTS(&ok, "\x80\x02");
    rep(&ok, ']', 63);
    rep(&ok, 'a', 62);
    PUTS(&ok, ".");
    kt_value *root = NULL;
    kt_error err;
    assert_int_equal(kt_pickle_parse(ok.d, ok.n, NULL, &root, NULL, &err), KT_OK);
    kt_value_free(root);
}

static void t_pickle_memo_stack_values(void **s)
{
    (void)s;
    buf b = {.n = 0};
    PUTS(&b, "\x80\x02Nr\xff\xff\xff\xff.");
    pickle_fails(&b, NULL, KT_ELIMIT, "pickle: memo index 4294967295 exceeds the limit of 1048576");
    kt_pickle_limits lim;
    kt_pickle_default_limits(&lim);
    lim.max_stack = 4;
    buf st = {.n = 0};
    PUTS(&st, "\x80\x02NNNNNt.");
    pickle_fails(&st, &lim, KT_ELIMIT, "pickle: stack size exceeds the limit of 4");
    kt_pickle_default_limits(&lim);
    lim.max_values = 8;
    buf v = {.n = 0};
    PUTS(&v, "\x80\x02]");
    for (int i = 0; i < 10; i++)
        PUTS(&v, "Na");
    PUTS(&v, ".");
    pickle_fails(&v, &lim, KT_ELIMIT, "pickle: value count exceeds the limit of 8");
}

static void t_pickle_string_length(void **s)
{
    (void)s;
    buf b = {.n = 0};
    PUTS(&b, "\x80\x02X\xff\xff\xff\x7f" "abc.");
    pickle_fails(&b, NULL, KT_ELIMIT, "pickle: a 2147483647-byte string exceeds the 4 bytes left");
    buf y = {.n = 0};
    PUTS(&y, "\x80\x02\x8e\xff\xff\xff\xff\xff\xff\xff\x7f" "a.");
    pickle_fails(&y, NULL, KT_ELIMIT, "-byte string exceeds the 2 bytes left");
}

static void t_pickle_tensors_ndim_product(void **s)
{
    (void)s;
    const unsigned char k1[2] = {'K', 1};
    buf nine = {.n = 0};
    tensor_pickle(&nine, 9, (const char *)k1, 2, 1);
    pickle_fails(&nine, NULL, KT_ELIMIT, "pickle: tensor with more than 8 dimensions");

    /* sizes 2**62 x 4 x 4 (LONG1 of 8 bytes): the element count overflows 64 bits */
    buf big = {.n = 0};
    PUTS(&big, "\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n(");
    PUTS(&big, "(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x04tQK\x00(");
    PUTS(&big, "\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40K\x04K\x04t(K\x10K\x04K\x01t\x89");
    PUTS(&big, "ccollections\nOrderedDict\n)RtR.");
    pickle_fails(&big, NULL, KT_ELIMIT, "pickle: tensor dimension product overflows");

    /* a list of three one-element tensors against a limit of two */
    kt_pickle_limits lim;
    kt_pickle_default_limits(&lim);
    lim.max_tensors = 2;
    buf three = {.n = 0};
    buf one = {.n = 0};
    tensor_pickle(&one, 1, (const char *)k1, 2, 1);
    PUTS(&three, "\x80\x02(");
    for (int i = 0; i < 3; i++)
        put(&three, one.d + 2, one.n - 3); /* without the protocol header and STOP */
    PUTS(&three, "l.");
    pickle_fails(&three, &lim, KT_ELIMIT, "pickle: more than 2 tensors");
    lim.max_tensors = 3;
    kt_pickle_options opt = {&lim, NULL, NULL};
    kt_value *root = NULL;
    kt_error err;
    assert_int_equal(kt_pickle_parse(three.d, three.n, &opt, &root, NULL, &err), KT_OK);
    assert_int_equal(kt_value_len(root), 3);
    kt_value_free(root);
}

static void open_fails(const char *path, kt_status code, const char *msg)
{
    kt_checkpoint *c = (kt_checkpoint *)1;
    kt_error err;
    assert_int_equal(kt_checkpoint_open(path, &c, &err), code);
    assert_null(c);
    MSG_HAS(err, msg);
}

static void t_hostile_limits(void **s)
{
    (void)s;
    open_fails("fixtures/hostile/huge_dimensions.pth", KT_ELIMIT, "tensor dimension product overflows");
    open_fails("fixtures/hostile/reference_bomb.pth", KT_ELIMIT, "containers nested deeper than 64");
    open_fails("fixtures/hostile/deflate_bomb.pth", KT_EFORMAT,
               "zip: entry \"archive/data/0\" inflates past its declared 16 bytes");
    open_fails("fixtures/hostile/storage_entry_short.pth", KT_EFORMAT, "storage '0' has 16 bytes, needs 1600");
    open_fails("fixtures/fuzz/fuzz_npy/oom-deflate-declares-4gb.npz", KT_EFORMAT, "deflated bytes can hold");
}

/* A one-entry zip holding name -> data (deflated when deflate), built with kt's own writer for
 * stored entries; the deflated one is the hostile deflate bomb's layout from expected.json. */
static void t_zip_cap(void **s)
{
    (void)s;
    kt_mapped_file f;
    kt_error err;
    assert_int_equal(kt_file_map("fixtures/tiny/voices/af_tiny.pt", &f, &err), KT_OK);
    kt_zip *z = NULL;
    assert_int_equal(kt_zip_open(f.data, f.size, &z, &err), KT_OK);
    const kt_zip_entry *e = NULL;
    for (size_t i = 0; i < kt_zip_count(z); i++)
        if (kt_zip_entry_at(z, i)->size > 64)
            e = kt_zip_entry_at(z, i);
    assert_non_null(e);
    const unsigned char *p;
    uint64_t n;
    assert_int_equal(kt_zip_read(z, e, 64, &p, &n, &err), KT_ELIMIT);
    MSG_HAS(err, "over the limit of 64");
    assert_int_equal(kt_zip_read(z, e, e->size, &p, &n, &err), KT_OK);
    assert_int_equal(n, e->size);
    kt_zip_free(z);
    kt_file_unmap(&f);
}

static void npy_fails(const char *dict, kt_status code, const char *msg)
{
    unsigned char d[512];
    size_t hl = strlen(dict);
    size_t total = 10 + hl + 1;
    size_t pad = (64 - total % 64) % 64;
    memcpy(d, "\x93NUMPY\x01\x00", 8);
    d[8] = (unsigned char)((hl + pad + 1) & 0xff);
    d[9] = (unsigned char)((hl + pad + 1) >> 8);
    memcpy(d + 10, dict, hl);
    memset(d + 10 + hl, ' ', pad);
    d[10 + hl + pad] = '\n';
    memset(d + total + pad, 0, 16);
    kt_read_result r = {0};
    kt_error err;
    assert_int_equal(kt_npy_read(d, total + pad + 16, &r, &err), code);
    MSG_HAS(err, msg);
    kt_read_result_free(&r);
}

static void t_npy_limits(void **s)
{
    (void)s;
    npy_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }", KT_EUNSUPPORTED,
              "npy array has more than 8 dimensions");
    npy_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4), }", KT_ELIMIT,
              "npy shape product overflows");
    npy_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 99999999999999999999), }", KT_ELIMIT,
              "npy shape entry is too large");
}

static void st_fails(const char *json, uint64_t hlen, kt_status code, const char *msg)
{
    unsigned char d[1024];
    size_t jl = strlen(json);
    memcpy(d, &hlen, 8);
    memcpy(d + 8, json, jl);
    memset(d + 8 + jl, 0, 16);
    kt_read_result r = {0};
    kt_error err;
    assert_int_equal(kt_safetensors_read(d, 8 + jl + 16, &r, &err), code);
    MSG_HAS(err, msg);
    kt_read_result_free(&r);
}

static void t_safetensors_limits(void **s)
{
    (void)s;
    const char *nine = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}";
    st_fails(nine, strlen(nine), KT_EUNSUPPORTED, "tensor \"a\" has 9 dimensions (at most 8)");
    const char *big = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,4]}}";
    st_fails(big, strlen(big), KT_ELIMIT, "tensor \"a\": shape product overflows");
    /* the header cap needs a file larger than the cap: a sparse one */
    char path[] = "/tmp/kt_test_limits_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    uint64_t hlen = 100000008;
    assert_int_equal(write(fd, &hlen, 8), 8);
    assert_int_equal(write(fd, nine, strlen(nine)), (ssize_t)strlen(nine));
    assert_int_equal(ftruncate(fd, (off_t)(8 + hlen + 16)), 0);
    close(fd);
    kt_checkpoint *c = NULL;
    kt_error err;
    assert_int_equal(kt_checkpoint_open(path, &c, &err), KT_ELIMIT);
    MSG_HAS(err, "safetensors header of 100000008 bytes is over the 100 MB limit");
    unlink(path);
}

static void t_config_size(void **s)
{
    (void)s;
    char path[] = "/tmp/kt_test_limits_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (16 << 20) + 1), 0); /* sparse: no disk used */
    close(fd);
    kt_config c;
    kt_error err;
    assert_int_equal(kt_config_load(path, &c, &err), KT_ELIMIT);
    MSG_HAS(err, "config: larger than 16777216 bytes");
    unlink(path);
}

static void t_pickle_bytes(void **s)
{
    (void)s;
    kt_pickle_limits lim;
    kt_pickle_default_limits(&lim);
    assert_int_equal(lim.max_bytes, 0);
    lim.max_bytes = 4096;
    buf b = {.n = 0};
    PUTS(&b, "\x80\x02");
    rep(&b, '}', 200); /* 200 empty dicts left on the stack: ~100 bytes each */
    PUTS(&b, ".");
    pickle_fails(&b, &lim, KT_ELIMIT, "pickle: the parse needs more than 4096 bytes of memory");
}

/* A zip of one deflated entry "z" of n zero bytes. */
static unsigned char *zip_of_zeros(size_t n, size_t *len)
{
    unsigned char *zeros = calloc(n, 1), *comp = malloc(n / 100 + 4096), *out = NULL;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = zeros;
    zs.avail_in = (uInt)n;
    zs.next_out = comp;
    zs.avail_out = (uInt)(n / 100 + 4096);
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t c = zs.total_out;
    deflateEnd(&zs);
    uint32_t crc = (uint32_t)crc32(0, zeros, (uInt)n);
    unsigned char lh[31] = {'P', 'K', 3, 4, 20, 0, 0, 0, 8, 0}, ch[47] = {'P', 'K', 1, 2, 20, 0, 20, 0, 0, 0, 8, 0};
    unsigned char end[22] = {'P', 'K', 5, 6, 0, 0, 0, 0, 1, 0, 1, 0};
    uint32_t v[3] = {crc, (uint32_t)c, (uint32_t)n};
    memcpy(lh + 14, v, 12);
    lh[26] = 1;
    lh[30] = 'z';
    memcpy(ch + 16, v, 12);
    ch[28] = 1;
    ch[46] = 'z';
    uint32_t cd_size = 47, cd_off = (uint32_t)(31 + c);
    memcpy(end + 12, &cd_size, 4);
    memcpy(end + 16, &cd_off, 4);
    *len = 31 + c + 47 + 22;
    out = malloc(*len);
    memcpy(out, lh, 31);
    memcpy(out + 31, comp, c);
    memcpy(out + 31 + c, ch, 47);
    memcpy(out + 31 + c + 47, end, 22);
    free(zeros);
    free(comp);
    return out;
}

static void t_zip_inflate_budget(void **s)
{
    (void)s;
    kt_error err;
    const unsigned char *p;
    uint64_t n;
    size_t len;
    kt_zip *z = NULL;
    unsigned char *ok = zip_of_zeros((size_t)8 << 20, &len); /* within 16 MiB + 4 x size */
    assert_int_equal(kt_zip_open(ok, len, &z, &err), KT_OK);
    assert_int_equal(kt_zip_read(z, kt_zip_entry_at(z, 0), UINT64_MAX, &p, &n, &err), KT_OK);
    assert_int_equal(n, (uint64_t)8 << 20);
    kt_zip_free(z);
    free(ok);
    unsigned char *bad = zip_of_zeros((size_t)20 << 20, &len);
    assert_int_equal(kt_zip_open(bad, len, &z, &err), KT_OK);
    assert_int_equal(kt_zip_read(z, kt_zip_entry_at(z, 0), UINT64_MAX, &p, &n, &err), KT_ELIMIT);
    MSG_HAS(err, "zip: entry \"z\" inflates to 20971520 bytes; the archive's deflated entries may inflate to");
    kt_zip_free(z);
    free(bad);
}

/* Parses fixtures/tiny/config.json with from replaced by the to_len bytes of to; returns the status. */
static kt_status config_edit_n(const char *from, const char *to, size_t to_len, kt_error *err)
{
    kt_mapped_file f;
    kt_config c;
    assert_int_equal(kt_file_map("fixtures/tiny/config.json", &f, err), KT_OK);
    const char *at = memmem(f.data, (size_t)f.size, from, strlen(from));
    assert_non_null(at);
    size_t pre = (size_t)(at - (const char *)f.data), n = (size_t)f.size - strlen(from) + to_len;
    char *j = malloc(n + 1);
    memcpy(j, f.data, pre);
    memcpy(j + pre, to, to_len);
    memcpy(j + pre + to_len, at + strlen(from), (size_t)f.size - pre - strlen(from));
    kt_status st = kt_config_parse(j, n, &c, err);
    if (!st)
        kt_config_free(&c);
    free(j);
    kt_file_unmap(&f);
    return st;
}

static kt_status config_edit(const char *from, const char *to, kt_error *err)
{
    return config_edit_n(from, to, strlen(to), err);
}

static void t_config_ranges(void **s)
{
    (void)s;
    kt_error err;
    assert_int_equal(config_edit("\"gen_istft_hop_size\": 5", "\"gen_istft_hop_size\": 5", &err), KT_OK);
    assert_int_equal(config_edit("\"gen_istft_hop_size\": 5", "\"gen_istft_hop_size\": 1000000", &err), KT_EFORMAT);
    MSG_HAS(err, "config: key \"istftnet.gen_istft_hop_size\" must be an integer in 1..20");
    assert_int_equal(config_edit("\"hidden_dim\": 32", "\"hidden_dim\": 1073741824", &err), KT_EFORMAT);
    MSG_HAS(err, "config: key \"hidden_dim\" must be an integer in 1..16384");
    assert_int_equal(config_edit("[\n        1,", "[\n        1048576,", &err), KT_EFORMAT);
    MSG_HAS(err, "config: key \"istftnet.resblock_dilation_sizes\" must hold integers in 1..1024");
    assert_int_equal(config_edit_n("\"hidden_dim\": 32", "\"hidden_dim\": 32\0", 17, &err), KT_EFORMAT);
    MSG_HAS(err, "config: holds a NUL byte");
    assert_int_equal(config_edit("\"vocab\": {", "\"vocab\": {\"a\\nforged\": 3, ", &err), KT_EFORMAT);
    MSG_HAS(err, "config: vocab key \"a\\x0aforged\" is not exactly one code point");
    assert_null(strchr(err.msg, '\n'));
}

static void t_safetensors_duplicate_metadata(void **s)
{
    (void)s;
    const char *dup = "{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"},\"w\":{\"dtype\":\"F32\",\"shape\":[1],"
                      "\"data_offsets\":[0,4]}}";
    st_fails(dup, strlen(dup), KT_EFORMAT, "\"__metadata__\" holds the key \"a\" twice (duplicate key)");
}

static void t_messages_escaped(void **s)
{
    (void)s;
    kt_error err;
    kt_error_set(&err, KT_EINVAL, "name \"%s\"", "a\nb\x1b[31m\xc2\x9b\xff\xc3\xa9");
    assert_string_equal(err.msg, "name \"a\\x0ab\\x1b[31m\\xc2\\x9b\\xff\xc3\xa9\"");
    kt_error_prefix(&err, "t\r");
    assert_string_equal(err.msg, "t\\x0d: name \"a\\x0ab\\x1b[31m\\xc2\\x9b\\xff\xc3\xa9\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_pickle_depth),       cmocka_unit_test(t_pickle_memo_stack_values),
        cmocka_unit_test(t_pickle_string_length), cmocka_unit_test(t_pickle_tensors_ndim_product),
        cmocka_unit_test(t_hostile_limits),     cmocka_unit_test(t_zip_cap),
        cmocka_unit_test(t_npy_limits),         cmocka_unit_test(t_safetensors_limits),
        cmocka_unit_test(t_config_size),        cmocka_unit_test(t_pickle_bytes),
        cmocka_unit_test(t_zip_inflate_budget), cmocka_unit_test(t_config_ranges),
        cmocka_unit_test(t_safetensors_duplicate_metadata), cmocka_unit_test(t_messages_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
