/* test_lowmem.c - the generator's low-memory schedule (long chunks: 3 whole stage buffers,
 * one resblock's first conv recomputed block by block for its exact AdaIN statistics, input
 * pages given back) must give the same bytes as the default schedule. KT_GEN_LOWMEM=0 at
 * load forces it on every chunk; the tiny model then runs it on inputs long enough for
 * several time blocks (3072 / 6144 columns) in the last stage. And the work buffer made in
 * advance (kt_model_params.work_frames): resident after load, big enough for the synthesis it
 * was made for, the same bytes. And the float32 weights a model reads from the checkpoint's
 * own pages (the LSTMs') are mapped into the process when the load returns.
 *
 * Files: $KT_TINY_MODEL (default fixtures/tiny/kokoro-tiny.pth), $KT_TINY_CONFIG
 * (default fixtures/tiny/config.json). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kt/checkpoint.h"
#include "kt/config.h"
#include "kt/kokoro.h"

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

static void assert_same(const kt_synth_result *a, const kt_synth_result *b)
{
    assert_int_equal(a->n_samples, b->n_samples);
    assert_true(a->n_samples > 0);
    assert_int_equal(memcmp(a->durations, b->durations, sizeof(int) * (size_t)a->n_tokens), 0);
    size_t diff = 0;
    for (size_t i = 0; i < a->n_samples; i++)
        diff += memcmp(&a->audio[i], &b->audio[i], sizeof(float)) != 0;
    if (diff)
        print_error("%zu of %zu samples differ\n", diff, a->n_samples);
    assert_int_equal(diff, 0);
}

/* Loads the tiny model with KT_GEN_LOWMEM = lowmem (NULL: unset) and params p (NULL: the
 * defaults) and synthesizes n ids reps times: every call must give the first call's bytes (a
 * low-memory call gives back the weights used before the generator and the next call binds
 * them again). */
static void synth(const char *lowmem, const kt_model_params *p, int n, int reps, kt_synth_result *r)
{
    kt_config cfg;
    kt_error err;
    kt_model *m = NULL;
    if (lowmem)
        setenv("KT_GEN_LOWMEM", lowmem, 1);
    else
        unsetenv("KT_GEN_LOWMEM");
    assert_int_equal(kt_config_load(env_or("KT_TINY_CONFIG", "fixtures/tiny/config.json"), &cfg, &err), KT_OK);
    assert_int_equal(kt_model_load(env_or("KT_TINY_MODEL", "fixtures/tiny/kokoro-tiny.pth"), &cfg, p, &m, &err),
                     KT_OK);
    unsetenv("KT_GEN_LOWMEM");
    int ns = kt_model_style_size(m), *ids = malloc(sizeof(int) * (size_t)n);
    float *style = malloc(sizeof(float) * (size_t)ns);
    assert_non_null(ids);
    assert_non_null(style);
    for (int i = 0; i < n; i++)
        ids[i] = 1 + (i * 37) % (cfg.n_token - 1);
    for (int i = 0; i < ns; i++)
        style[i] = 0.05f * (float)((i * 7) % 11 - 5);
    assert_int_equal(kt_model_synthesize(m, ids, n, style, NULL, r, &err), KT_OK);
    for (int k = 1; k < reps; k++) {
        kt_synth_result again;
        assert_int_equal(kt_model_synthesize(m, ids, n, style, NULL, &again, &err), KT_OK);
        assert_same(r, &again);
        kt_synth_result_free(&again);
    }
    free(ids);
    free(style);
    kt_model_free(m);
    kt_config_free(&cfg);
}

static void same_bytes(int n, const kt_model_params *p)
{
    kt_synth_result a, b;
    synth("1000000000000", p, n, 1, &a); /* the fast schedule whatever the default threshold */
    synth("0", p, n, 3, &b);
    print_message("%d ids: %zu samples\n", n, a.n_samples);
    assert_same(&a, &b);
    kt_synth_result_free(&a);
    kt_synth_result_free(&b);
}

static void test_lowmem_short(void **state)
{
    (void)state;
    same_bytes(3, NULL);
}

static void test_lowmem_long(void **state)
{
    (void)state;
    same_bytes(120, NULL);
}

/* bf16 compute with the generator's Winograd convolutions in bfloat16 (float32 where the CPU
 * lacks AVX512_BF16): the low-memory schedule sizes and splits their scratch the same way. */
static void test_lowmem_bf16_winograd(void **state)
{
    (void)state;
    kt_model_params p = kt_model_default_params();
    p.bf16 = 1;
    p.winograd = KT_WINOGRAD_BF16;
    same_bytes(120, &p);
}

/* Loads the tiny model with p. */
static kt_model *load_tiny(const kt_model_params *p, kt_config *cfg)
{
    kt_error err;
    kt_model *m = NULL;
    assert_int_equal(kt_config_load(env_or("KT_TINY_CONFIG", "fixtures/tiny/config.json"), cfg, &err), KT_OK);
    assert_int_equal(kt_model_load(env_or("KT_TINY_MODEL", "fixtures/tiny/kokoro-tiny.pth"), cfg, p, &m, &err),
                     KT_OK);
    return m;
}

/* Synthesizes n ids on m (s: on that state instead). */
static void synth_on(kt_model *m, kt_synth_state *s, const kt_config *cfg, int n, kt_synth_result *r)
{
    kt_error err;
    int ns = kt_model_style_size(m), ids[64];
    float style[512];
    assert_true(n <= 64 && ns <= 512);
    for (int i = 0; i < n; i++)
        ids[i] = 1 + (i * 37) % (cfg->n_token - 1);
    for (int i = 0; i < ns; i++)
        style[i] = 0.05f * (float)((i * 7) % 11 - 5);
    if (s)
        assert_int_equal(kt_synth_state_run(s, ids, n, style, NULL, r, &err), KT_OK);
    else
        assert_int_equal(kt_model_synthesize(m, ids, n, style, NULL, r, &err), KT_OK);
}

/* work_frames: a single-caller model makes the buffer at load with every page resident (the
 * largest kept one here: a fresh mapping, no page of it touched before); a synthesis that fits
 * keeps it; the bytes equal a model's without it. A shared model and its states make none in
 * advance: a state's comes with its first run. */
static void test_work_reserved(void **state)
{
    (void)state;
    kt_config cfg_a, cfg_b, cfg_c;
    kt_model_params p = kt_model_default_params();
    kt_model *plain = load_tiny(&p, &cfg_a);
    assert_int_equal(kt_model_work_floats(plain), 0);
    p.work_frames = 100000;
    kt_model *ready = load_tiny(&p, &cfg_b);
    size_t floats = kt_model_work_floats(ready), resident = kt_model_work_resident(ready);
    print_message("reserved %zu floats, %zu of %zu bytes resident\n", floats, resident, floats * sizeof(float));
    assert_true(floats >= ((size_t)4 << 20));
    assert_true(resident >= floats * sizeof(float));
    kt_synth_result a, b, c;
    synth_on(plain, NULL, &cfg_a, 40, &a);
    synth_on(ready, NULL, &cfg_b, 40, &b);
    assert_same(&a, &b);
    assert_int_equal(kt_model_work_floats(ready), floats);
    p.release_weights = 0;
    kt_model *shared = load_tiny(&p, &cfg_c);
    kt_synth_state *st = NULL;
    kt_error err;
    assert_int_equal(kt_model_work_floats(shared), 0);
    assert_int_equal(kt_synth_state_create(shared, &st, &err), KT_OK);
    assert_int_equal(kt_synth_state_work_floats(st), 0);
    synth_on(shared, st, &cfg_c, 40, &c);
    assert_same(&a, &c);
    assert_true(kt_synth_state_work_floats(st) > 0);
    assert_int_equal(kt_model_work_floats(shared), 0);
    kt_synth_result_free(&a);
    kt_synth_result_free(&b);
    kt_synth_result_free(&c);
    kt_synth_state_free(st);
    kt_model_free(plain);
    kt_model_free(ready);
    kt_model_free(shared);
    kt_config_free(&cfg_a);
    kt_config_free(&cfg_b);
    kt_config_free(&cfg_c);
}

/* KiB of the mappings of the file at the absolute path `path` present in this process's page
 * tables (the Rss lines of /proc/self/smaps); -1 when smaps cannot be read. */
static long mapped_kib(const char *path)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[4096];
    int in = 0;
    long kib = 0, v;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
            char *name = strchr(line, '/');
            size_t n = name ? strcspn(name, "\n") : 0;
            in = name && n == strlen(path) && strncmp(name, path, n) == 0;
        } else if (in && sscanf(line, "Rss: %ld kB", &v) == 1)
            kib += v;
    }
    fclose(f);
    return kib;
}

/* Bytes of the float32 LSTM recurrent matrices (weight_hh) in the checkpoint at path: a model
 * reads them in place from the file. */
static uint64_t lstm_hh_bytes(const char *path)
{
    kt_checkpoint *c = NULL;
    kt_error err;
    uint64_t sum = 0;
    assert_int_equal(kt_checkpoint_open(path, &c, &err), KT_OK);
    const kt_tensor_list *l = kt_checkpoint_tensors(c);
    for (size_t i = 0; i < l->count; i++)
        if (strstr(l->items[i].name, "lstm") && strstr(l->items[i].name, ".weight_hh") &&
            l->items[i].tensor.dtype == KT_F32)
            sum += kt_tensor_nbytes(&l->items[i].tensor);
    kt_checkpoint_free(c);
    return sum;
}

/* The full-size checkpoint's float32 LSTM recurrent matrices (12 MB, read in place from the
 * file) are in the process's page tables when kt_model_load returns, so the first synthesis
 * takes no page fault on them; without that read at load only ~8 MB of the file is mapped then,
 * not all of them. */
static void test_borrowed_read(void **state)
{
    (void)state;
    char model[512], cfgp[512], abs_model[4096];
    const char *fx = env_or("KT_FIXTURES", "build/fixtures");
    snprintf(model, sizeof model, "%s/kokoro-full.pth", fx);
    snprintf(cfgp, sizeof cfgp, "%s/kokoro-full-config.json", fx);
    if (access(model, R_OK) || access(cfgp, R_OK) || !realpath(model, abs_model) || mapped_kib(abs_model) < 0) {
        print_message("SKIP test_borrowed_read: %s, %s or /proc/self/smaps absent\n", model, cfgp);
        skip();
    }
    kt_config cfg;
    kt_error err;
    kt_model *m = NULL;
    assert_int_equal(kt_config_load(cfgp, &cfg, &err), KT_OK);
    assert_int_equal(kt_model_load(model, &cfg, NULL, &m, &err), KT_OK);
    long kib = mapped_kib(abs_model);
    uint64_t lstm = lstm_hh_bytes(model);
    print_message("%ld KiB of the file mapped after load; LSTM weight_hh %llu KiB\n", kib,
                  (unsigned long long)(lstm >> 10));
    assert_true(lstm >= ((uint64_t)10 << 20));
    assert_true((uint64_t)kib << 10 >= lstm);
    kt_model_free(m);
    kt_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lowmem_short),
        cmocka_unit_test(test_lowmem_long),
        cmocka_unit_test(test_lowmem_bf16_winograd),
        cmocka_unit_test(test_work_reserved),
        cmocka_unit_test(test_borrowed_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
