/* test_sha256.c - SHA-256 against the FIPS 180-4 example vectors, split updates, and files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kt/sha256.h"

static void test_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *msg, *hex;
    } cases[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    char hex[KT_SHA256_HEX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kt_sha256_hex(cases[i].msg, strlen(cases[i].msg), hex);
        assert_string_equal(hex, cases[i].hex);
    }
}

/* One million 'a' fed in uneven pieces (every padding boundary is crossed on the way). */
static void test_million_a_in_pieces(void **state)
{
    (void)state;
    char block[997];
    memset(block, 'a', sizeof block);
    kt_sha256 s;
    unsigned char d[32];
    kt_sha256_init(&s);
    size_t left = 1000000, step = 1;
    while (left) {
        size_t k = step < left ? step : left;
        kt_sha256_update(&s, block, k);
        left -= k;
        step = step % sizeof block + 1;
    }
    kt_sha256_final(&s, d);
    static const unsigned char want[32] = {0xcd, 0xc7, 0x6e, 0x5c, 0x99, 0x14, 0xfb, 0x92, 0x81, 0xa1, 0xc7,
                                           0xe2, 0x84, 0xd7, 0x3e, 0x67, 0xf1, 0x80, 0x9a, 0x48, 0xa4, 0x97,
                                           0x20, 0x0e, 0x04, 0x6d, 0x39, 0xcc, 0xc7, 0x11, 0x2c, 0xd0};
    assert_memory_equal(d, want, 32);
}

static void test_file_and_missing_file(void **state)
{
    (void)state;
    char path[] = "/tmp/kt_sha256_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "abc", 3), 3);
    close(fd);
    char hex[KT_SHA256_HEX];
    uint64_t size = 0;
    kt_error e;
    assert_int_equal(kt_sha256_file(path, hex, &size, &e), KT_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(size, 3);
    unlink(path);
    assert_int_equal(kt_sha256_file(path, hex, &size, &e), KT_EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_million_a_in_pieces),
        cmocka_unit_test(test_file_and_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
