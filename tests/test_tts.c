/* test_tts.c - the public API (kt/kt.h only): one-call synthesis, callbacks, cancel, and one
 * model shared by several threads at once (same samples as one caller alone; `make tsan-test`
 * runs this file under ThreadSanitizer).
 * Files: $KT_TINY_MODEL (default fixtures/tiny/kokoro-tiny.pth), $KT_TINY_CONFIG
 * (default fixtures/tiny/config.json), voices in fixtures/tiny/voices. Also markup through the
 * pipeline (pauses as silent chunks, <voice>, modes) and kt_tts_write_file's formats and rates. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static kt_tts *open_tiny_threads(int single_caller, size_t gen_lowmem, int n_threads, int share_threads)
{
    kt_tts_params p = kt_tts_default_params();
    kt_tts *t = NULL;
    kt_error err;
    p.model_path = env_or("KT_TINY_MODEL", "fixtures/tiny/kokoro-tiny.pth");
    p.config_path = env_or("KT_TINY_CONFIG", "fixtures/tiny/config.json");
    p.voices_dir = "fixtures/tiny/voices";
    p.n_threads = n_threads;
    p.single_caller = single_caller;
    p.gen_lowmem = gen_lowmem;
    p.share_threads = share_threads;
    if (kt_tts_open(&p, &t, &err))
        fail_msg("kt_tts_open: %s", err.msg);
    return t;
}

static kt_tts *open_tiny(int single_caller, size_t gen_lowmem) { return open_tiny_threads(single_caller, gen_lowmem, 2, 0); }

typedef struct {
    float *x;
    size_t n;
    size_t units;                 /* timed units seen */
    int min_threads, max_threads; /* over the chunks with speech */
} audio;

static int collect(void *user, const kt_tts_chunk *c)
{
    audio *a = user;
    float *x = realloc(a->x, (a->n + c->n_samples) * sizeof *x);
    if (!x)
        return 1;
    memcpy(x + a->n, c->samples, c->n_samples * sizeof *x);
    a->x = x;
    if (c->n_tokens && (!a->min_threads || c->threads < a->min_threads))
        a->min_threads = c->threads;
    if (c->n_tokens && c->threads > a->max_threads)
        a->max_threads = c->threads;
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
    size_t pauses, pause_samples, nonzero, samples;
} pause_count;

static int count_pauses(void *user, const kt_tts_chunk *c)
{
    pause_count *pc = user;
    if (c->n_tokens == 0) {
        pc->pauses++;
        pc->pause_samples += c->n_samples;
        for (size_t i = 0; i < c->n_samples; i++)
            pc->nonzero += c->samples[i] != 0;
    }
    pc->samples += c->n_samples;
    return 0;
}

static void test_markup_and_formats(void **state)
{
    (void)state;
    kt_tts *t = open_tiny(0, 0);
    kt_error err;
    kt_tts_stats st;
    pause_count pc = {0};
    kt_tts_synth_params p = kt_tts_default_synth_params();
    p.on_audio = count_pauses;
    p.user = &pc;
    if (kt_tts_synthesize(t, "Hello [pause:0.5s] world.", "af_tiny", &p, &st, &err))
        fail_msg("%s", err.msg);
    assert_true(pc.pauses == 1 && pc.pause_samples == 12000 && pc.nonzero == 0 && pc.samples == st.samples);
    assert_int_equal(st.chunks, 2);
    if (kt_tts_synthesize(t, "<speak>Hello <voice name=\"am_tiny\">world.</voice></speak>", "af_tiny", NULL, NULL,
                          &err))
        fail_msg("%s", err.msg);
    assert_int_equal(kt_tts_synthesize(t, "<speak><voice name=\"nobody\">x</voice></speak>", "af_tiny", NULL, NULL,
                                       &err), KT_ENOTFOUND);
    assert_int_equal(kt_tts_synthesize(t, "<speak>Hello</spek>", "af_tiny", NULL, NULL, &err), KT_EFORMAT);
    assert_non_null(strstr(err.msg, "line 1, column 15"));
    char *ph = NULL;
    assert_int_equal(kt_tts_phonemes(NULL, "Hello [pause:1s] world", "af_tiny", NULL, &ph, &err), KT_OK);
    assert_non_null(strstr(ph, "\n[pause:1s]\n"));
    kt_free(ph);
    p = kt_tts_default_synth_params();
    p.markup = KT_TTS_MARKUP_NONE;
    assert_int_equal(kt_tts_phonemes(NULL, "Hello [pause:1s] world", "af_tiny", &p, &ph, &err), KT_OK);
    assert_null(strstr(ph, "[pause"));
    kt_free(ph);
    char dir[] = "/tmp/kt_test_tts_XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/out.pcm", dir);
    p = kt_tts_default_synth_params();
    p.rate = 16000;
    if (kt_tts_write_file(t, "Hello world.", "af_tiny", &p, path, NULL, &st, &err))
        fail_msg("%s", err.msg);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_true(st.output_rate == 16000 && !strcmp(st.format, "pcm") && (size_t)sb.st_size == st.output_samples * 2);
    assert_true(st.output_samples + 1 >= st.samples * 2 / 3 && st.output_samples <= st.samples * 2 / 3 + 1);
    unlink(path);
    rmdir(dir);
    p.format = KT_TTS_FORMAT_OPUS;
    p.rate = 44100;
    assert_int_equal(kt_tts_output_check(&p, "x.opus", NULL, &err), KT_EINVAL);
    assert_non_null(strstr(err.msg, "opus takes"));
    p.format = KT_TTS_FORMAT_FLAC;
    p.rate = 0;
    assert_int_equal(kt_tts_output_check(&p, "-", NULL, &err), KT_EINVAL);
    assert_int_equal(kt_tts_output_check(NULL, "x.aac", NULL, &err), KT_EINVAL);
    kt_tts_close(t);
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
        assert_true(jobs[k].a.min_threads >= 1 && jobs[k].a.max_threads <= 3);
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
    /* threads shared: a lone call runs on all 3, concurrent ones on what is free; same bytes */
    kt_tts *share = open_tiny_threads(0, 0, 3, 1);
    audio lone;
    if (synth(share, 1, &lone, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(lone.min_threads, 3);
    assert_int_equal(lone.max_threads, 3);
    assert_int_equal(lone.n, ref[1].n);
    assert_memory_equal(lone.x, ref[1].x, ref[1].n * sizeof(float));
    free(lone.x);
    check_concurrent(share, ref);
    kt_tts_close(share);
    for (int k = 0; k < N_THREADS; k++)
        free(ref[k].x);
}

/* The speech chunks of one synthesis: their audio one after the other, the last one's token frames. */
typedef struct {
    float *x;
    size_t n, chunks;
    int *frames, n_tokens;
    double spf;
} spoken;

static int keep_chunk(void *user, const kt_tts_chunk *c)
{
    spoken *o = user;
    float *x = realloc(o->x, (o->n + c->n_samples + 1) * sizeof *x);
    int *f = malloc(((size_t)c->n_tokens + 1) * sizeof *f);
    if (!x || !f) {
        free(f);
        return 1;
    }
    memcpy(x + o->n, c->samples, c->n_samples * sizeof *x);
    o->x = x;
    o->n += c->n_samples;
    o->chunks += c->n_tokens > 0;
    memcpy(f, c->token_frames, (size_t)c->n_tokens * sizeof *f);
    free(o->frames);
    o->frames = f;
    o->n_tokens = c->n_tokens;
    o->spf = c->samples_per_frame;
    return c->trimmed != 0; /* nothing is cut from a lone chunk */
}

static spoken speak_slowly(kt_tts *t, const char *phonemes)
{
    spoken o = {0};
    kt_error err;
    kt_tts_synth_params p = kt_tts_default_synth_params();
    p.phonemes = 1;
    p.speed = 0.1f; /* the tiny model: ~1.2 s of audio per symbol */
    p.on_audio = keep_chunk;
    p.user = &o;
    if (kt_tts_synthesize(t, phonemes, "af_tiny", &p, NULL, &err))
        fail_msg("%s: %s", phonemes, err.msg);
    return o;
}

static void spoken_free(spoken *o)
{
    free(o->x);
    free(o->frames);
}

/* A chunk longer than KT_TTS_CHUNK_SECONDS_MAX: synthesized as its two parts around its space (the
 * same samples as each part alone), delivered as one chunk whose space token holds the frames of
 * the left part's end and the right part's start; without a space, cut between two symbols. */
static void test_long_chunk_parts(void **state)
{
    (void)state;
    const char *left = "h\u0259l\u02c8o\u028ah\u0259l\u02c8o\u028ah\u0259l\u02c8o\u028ah\u0259l\u02c8o\u028a";
    const char *right = "w\u02c8\u025c\u02d0ldw\u02c8\u025c\u02d0ldw\u02c8\u025c\u02d0ldw\u02c8\u025c\u02d0ld";
    char both[256], word[256];
    snprintf(both, sizeof both, "%s %s", left, right);
    snprintf(word, sizeof word, "%s%s", left, right);
    size_t max = (size_t)(KT_TTS_CHUNK_SECONDS_MAX * KT_SAMPLE_RATE);
    kt_tts *t = open_tiny(0, 0);
    spoken w = speak_slowly(t, both), a = speak_slowly(t, left), b = speak_slowly(t, right);
    assert_true(a.chunks == 1 && b.chunks == 1 && a.n <= max && b.n <= max); /* each part fits */
    assert_true(w.chunks == 1 && w.n > max);
    assert_int_equal(w.n, a.n + b.n);
    assert_memory_equal(w.x, a.x, a.n * sizeof(float));
    assert_memory_equal(w.x + a.n, b.x, b.n * sizeof(float));
    int na = a.n_tokens - 2, nb = b.n_tokens - 2;
    assert_int_equal(w.n_tokens, na + nb + 3);
    for (int k = 0; k <= na; k++)
        assert_int_equal(w.frames[k], a.frames[k]);
    assert_int_equal(w.frames[na + 1], a.frames[na + 1] + b.frames[0]);
    for (int k = 1; k <= nb + 1; k++)
        assert_int_equal(w.frames[na + 1 + k], b.frames[k]);
    spoken s = speak_slowly(t, word);
    long frames = 0;
    for (int k = 0; k < s.n_tokens; k++)
        frames += s.frames[k];
    assert_true(s.chunks == 1 && s.n > max && s.n_tokens == na + nb + 2);
    assert_true(frames > 0 && (double)frames * s.spf == (double)s.n && s.spf == w.spf);
    for (size_t i = 0; i < s.n; i++)
        assert_true(s.x[i] == s.x[i] && s.x[i] > -100.0f && s.x[i] < 100.0f);
    spoken_free(&w), spoken_free(&a), spoken_free(&b), spoken_free(&s);
    kt_tts_close(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_one_call),
        cmocka_unit_test(test_cancel_and_phonemes),
        cmocka_unit_test(test_markup_and_formats),
        cmocka_unit_test(test_shared_model),
        cmocka_unit_test(test_long_chunk_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
