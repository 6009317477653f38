/* test_regressions.c - replays every file of fixtures/fuzz/<target>/ (the seeds and every input
 * that once crashed a fuzz target) through that target's own LLVMFuzzerTestOneInput, compiled
 * in here under another name. Under `make test`'s ASan+UBSan pass a regression is an ASan
 * report; in the plain build a target's own checks (__builtin_trap, abort) still fire.
 * The hostile corpus (fixtures/hostile/) is replayed through fuzz_checkpoint as well. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#define LLVMFuzzerTestOneInput fuzz_blend_one
#include "fuzz/fuzz_blend.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_checkpoint_one
#include "fuzz/fuzz_checkpoint.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_chunk_one
#include "fuzz/fuzz_chunk.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_config_one
#include "fuzz/fuzz_config.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_g2p_one
#include "fuzz/fuzz_g2p.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_markup_one
#include "fuzz/fuzz_markup.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_npy_one
#include "fuzz/fuzz_npy.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_pickle_one
#include "fuzz/fuzz_pickle.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_pth_one
#include "fuzz/fuzz_pth.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_safetensors_one
#include "fuzz/fuzz_safetensors.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_zip_one
#include "fuzz/fuzz_zip.c"
#undef LLVMFuzzerTestOneInput

typedef int (*fuzz_fn)(const uint8_t *data, size_t size);

/* Reads a whole file; NULL on failure. */
static uint8_t *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0, k;
    do {
        if (n == cap) {
            uint8_t *b = realloc(buf, cap = cap ? cap * 2 : 4096);
            if (!b)
                break;
            buf = b;
        }
        k = fread(buf + n, 1, cap - n, f);
        n += k;
    } while (k > 0);
    fclose(f);
    *size = n;
    return buf;
}

/* Replays every regular file of dir (README.md and expected.json excepted); returns the count. */
static size_t replay_dir(const char *dir, fuzz_fn fn)
{
    DIR *d = opendir(dir);
    size_t count = 0;
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char path[4096];
        struct stat st;
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "README.md") || !strcmp(e->d_name, "expected.json"))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        size_t size = 0;
        uint8_t *data = slurp(path, &size);
        assert_non_null(data);
        fn(data, size);
        free(data);
        count++;
    }
    closedir(d);
    return count;
}

static void replay(const char *target, fuzz_fn fn)
{
    char dir[256];
    snprintf(dir, sizeof dir, "fixtures/fuzz/%s", target);
    size_t n = replay_dir(dir, fn);
    printf("%s: replayed %zu file(s) from %s\n", target, n, dir);
}

static void t_blend(void **s) { (void)s; replay("fuzz_blend", fuzz_blend_one); }
static void t_chunk(void **s) { (void)s; replay("fuzz_chunk", fuzz_chunk_one); }
static void t_config(void **s) { (void)s; replay("fuzz_config", fuzz_config_one); }
static void t_g2p(void **s) { (void)s; replay("fuzz_g2p", fuzz_g2p_one); }
static void t_markup(void **s) { (void)s; replay("fuzz_markup", fuzz_markup_one); }
static void t_npy(void **s) { (void)s; replay("fuzz_npy", fuzz_npy_one); }
static void t_pickle(void **s) { (void)s; replay("fuzz_pickle", fuzz_pickle_one); }
static void t_pth(void **s) { (void)s; replay("fuzz_pth", fuzz_pth_one); }
static void t_safetensors(void **s) { (void)s; replay("fuzz_safetensors", fuzz_safetensors_one); }
static void t_zip(void **s) { (void)s; replay("fuzz_zip", fuzz_zip_one); }

static void t_checkpoint(void **s)
{
    (void)s;
    replay("fuzz_checkpoint", fuzz_checkpoint_one);
    size_t n = replay_dir("fixtures/hostile", fuzz_checkpoint_one);
    printf("fuzz_checkpoint: replayed %zu hostile file(s)\n", n);
    assert_true(n >= 19); /* the corpus must be where the test expects it */
}

/* Every target in tests/fuzz/ must be replayed here: a new fuzz_X.c needs its #include and test. */
static void t_every_target_listed(void **s)
{
    (void)s;
    static const char *listed[] = {"fuzz_blend", "fuzz_checkpoint", "fuzz_chunk", "fuzz_config", "fuzz_g2p",
                                   "fuzz_markup", "fuzz_npy",   "fuzz_pickle",     "fuzz_pth",   "fuzz_safetensors", "fuzz_zip"};
    DIR *d = opendir("tests/fuzz");
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "fuzz_", 5) != 0 || n < 3 || strcmp(e->d_name + n - 2, ".c") != 0)
            continue;
        int found = 0;
        for (size_t i = 0; i < sizeof listed / sizeof listed[0]; i++)
            found |= strlen(listed[i]) == n - 2 && strncmp(listed[i], e->d_name, n - 2) == 0;
        if (!found)
            fail_msg("tests/fuzz/%s is not replayed by test_regressions.c", e->d_name);
    }
    closedir(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_blend),  cmocka_unit_test(t_checkpoint), cmocka_unit_test(t_chunk),
        cmocka_unit_test(t_config), cmocka_unit_test(t_g2p),        cmocka_unit_test(t_npy),
        cmocka_unit_test(t_pickle), cmocka_unit_test(t_pth),        cmocka_unit_test(t_safetensors),
        cmocka_unit_test(t_zip),    cmocka_unit_test(t_markup),     cmocka_unit_test(t_every_target_listed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
