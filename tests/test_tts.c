/* test_tts.c - the public API (kt/kt.h only): one-call synthesis, callbacks, cancel, and one
 * model shared by several threads at once (same samples as one caller alone; `make tsan-test`
 * runs this file under ThreadSanitizer).
 * Files: $KT_TINY_MODEL (default fixtures/tiny/kokoro-tiny.pth), $KT_TINY_CONFIG
 * (default fixtures/tiny/config.json), voices in fixtures/tiny/voices. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kt/kt.h"

#define N_THREADS 3

static const char *const texts[N_THREADS] = {"Hello world.", "A second voice, a second text.",
                                             "Three threads at once!"};
static const char *const voices[N_THREADS] = {"af_tiny", "am_tiny", "af_tiny:0.5 bf_tiny:0.5"};

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

static kt_tts *open_tiny(int single_caller, size_t gen_lowmem)
{
    kt_tts_params p = kt_tts_default_params();
    kt_tts *t = NULL;
    kt_error err;
    p.model_path = env_or("KT_TINY_MODEL", "fixtures/tiny/kokoro-tiny.pth");
    p.config_path = env_or("KT_TINY_CONFIG", "fixtures/tiny/config.json");
    p.voices_dir = "fixtures/tiny/voices";
    p.n_threads = 2;
    p.single_caller = single_caller;
    p.gen_lowmem = gen_lowmem;
    if (kt_tts_open(&p, &t, &err))
        fail_msg("kt_tts_open: %s", err.msg);
    return t;
}

typedef struct {
    float *x;
    size_t n;
    size_t units; /* timed units seen */
} audio;

static int collect(void *user, const kt_tts_chunk *c)
{
    audio *a = user;
    float *x = realloc(a->x, (a->n + c->n_samples) * sizeof *x);
    if (!x)
        return 1;
    memcpy(x + a->n, c->samples, c->n_samples * sizeof *x);
    a->x = x;
    a->n += c->n_samples;
    return 0;
}

static int count_units(void *user, const kt_tts_timing *u, size_t n)
{
    audio *a = user;
    for (size_t i = 0; i < n; i++)
        if (!(u[i].end >= u[i].start) || (i && u[i].start != u[i - 1].end))
            return 1;
    a->units += n;
    return 0;
}

static kt_status synth(kt_tts *t, int k, audio *a, kt_error *err)
{
    kt_tts_synth_params p = kt_tts_default_synth_params();
    p.lang = "en-us";
    p.on_audio = collect;
    p.on_timing = count_units;
    p.user = a;
    memset(a, 0, sizeof *a);
    return kt_tts_synthesize(t, texts[k], voices[k], &p, NULL, err);
}

static void test_version(void **state)
{
    (void)state;
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", KT_VERSION_MAJOR, KT_VERSION_MINOR, KT_VERSION_PATCH);
    assert_string_equal(kt_version(), want);
    assert_int_equal(kt_version_number(), KT_VERSION_NUMBER);
}

static void test_one_call(void **state)
{
    (void)state;
    kt_tts *t = open_tiny(0, 0);
    audio a;
    kt_error err;
    kt_tts_stats st;
    kt_tts_synth_params p = kt_tts_default_synth_params();
    p.on_audio = collect;
    p.user = &a;
    memset(&a, 0, sizeof a);
    if (kt_tts_synthesize(t, "Hello world.", "af_tiny", &p, &st, &err))
        fail_msg("%s", err.msg);
    assert_true(a.n > 0 && a.n == st.samples && st.chunks == 1 && st.phonemes > 0);
    assert_string_equal(st.lang, "en-us");
    free(a.x);
    assert_int_equal(kt_tts_synthesize(t, "", "af_tiny", NULL, NULL, &err), KT_EINVAL);
    assert_non_null(strstr(err.msg, "empty text"));
    assert_int_equal(kt_tts_synthesize(t, "Hi.", "af_nosuchvoice", NULL, NULL, &err), KT_ENOTFOUND);
    assert_non_null(strstr(err.msg, "af_nosuchvoice"));
    kt_tts_close(t);
}

static int stop_now(void *user, size_t done, size_t total)
{
    (void)user, (void)total;
    return done == 0;
}

static void test_cancel_and_phonemes(void **state)
{
    (void)state;
    kt_tts *t = open_tiny(0, 0);
    kt_error err;
    kt_tts_synth_params p = kt_tts_default_synth_params();
    p.on_progress = stop_now;
    assert_int_equal(kt_tts_synthesize(t, "Hello world.", "af_tiny", &p, NULL, &err), KT_ECANCELED);
    kt_tts_close(t);
    char *ph = NULL;
    assert_int_equal(kt_tts_phonemes(NULL, "Hello. World.", "af_tiny", NULL, &ph, &err), KT_OK);
    assert_non_null(strchr(ph, '\n'));
    kt_free(ph);
}

typedef struct {
    kt_tts *t;
    int k;
    audio a;
    kt_status st;
    kt_error err;
} job;

static void *run_job(void *p)
{
    job *j = p;
    j->st = synth(j->t, j->k, &j->a, &j->err);
    return NULL;
}

/* N_THREADS syntheses at once on t give the same samples as ref (one at a time). */
static void check_concurrent(kt_tts *t, audio *ref)
{
    job jobs[N_THREADS];
    pthread_t th[N_THREADS];
    for (int k = 0; k < N_THREADS; k++) {
        jobs[k].t = t;
        jobs[k].k = k;
        assert_int_equal(pthread_create(&th[k], NULL, run_job, &jobs[k]), 0);
    }
    for (int k = 0; k < N_THREADS; k++)
        pthread_join(th[k], NULL);
    for (int k = 0; k < N_THREADS; k++) {
        if (jobs[k].st)
            fail_msg("thread %d: %s", k, jobs[k].err.msg);
        assert_int_equal(jobs[k].a.n, ref[k].n);
        assert_int_equal(jobs[k].a.units, ref[k].units);
        assert_memory_equal(jobs[k].a.x, ref[k].x, ref[k].n * sizeof(float));
        free(jobs[k].a.x);
    }
}

static void test_shared_model(void **state)
{
    (void)state;
    audio ref[N_THREADS];
    kt_error err;
    kt_tts *one = open_tiny(1, 0); /* the single-caller reference, weights freed on long chunks */
    for (int k = 0; k < N_THREADS; k++)
        if (synth(one, k, &ref[k], &err))
            fail_msg("%s", err.msg);
    check_concurrent(one, ref); /* single caller: concurrent calls wait for each other */
    kt_tts_close(one);
    kt_tts *shared = open_tiny(0, 0);
    check_concurrent(shared, ref);
    kt_tts_close(shared);
    kt_tts *lowmem = open_tiny(0, 1); /* every chunk on the generator's low-memory schedule */
    check_concurrent(lowmem, ref);
    kt_tts_close(lowmem);
    kt_tts *release = open_tiny(1, 1); /* ... and the weights freed and bound again each chunk */
    check_concurrent(release, ref);
    kt_tts_close(release);
    for (int k = 0; k < N_THREADS; k++)
        free(ref[k].x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_one_call),
        cmocka_unit_test(test_cancel_and_phonemes),
        cmocka_unit_test(test_shared_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
