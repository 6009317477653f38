/* test_threads.c - the output bytes do not depend on the thread count.
 *
 * OpenBLAS's threaded sgemm blocks the inner dimension K differently from its serial
 * one (0.3.21: a K remainder between GEMM_Q and 2 GEMM_Q is halved exactly instead of
 * rounded to the unroll; with OPENBLAS_CORETYPE=Haswell even K = 64 differs), and
 * ALBERT's attention (K = T tokens) made the same input give other audio at 1 and 2
 * threads. kt runs OpenBLAS on one thread per call and cuts large products across its
 * own threads (kt_sgemm, kt/ops.h); these checks compare 1, 2 and 3 threads bit for bit.
 * Run them under several OPENBLAS_CORETYPE values to check other kernels too.
 *
 * Files: $KT_TINY_MODEL (default fixtures/tiny/kokoro-tiny.pth), $KT_TINY_CONFIG
 * (default fixtures/tiny/config.json). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kt/config.h"
#include "kt/kernels.h"
#include "kt/kokoro.h"
#include "kt/kokoro_stages.h"
#include "kt/ops.h"

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

static float lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / 16777216.0f - 0.5f;
}

/* One shape: kt_sgemm with no exec (one OpenBLAS call) against 2 and 3 threads. */
static void sgemm_case(kt_exec **ex, int ta, int tb, int M, int N, int K)
{
    uint32_t s = 1u + (uint32_t)(M * 7 + N * 3 + K);
    size_t na = (size_t)M * K, nb = (size_t)N * K, nc = (size_t)M * N;
    float *a = malloc(sizeof(float) * na), *b = malloc(sizeof(float) * nb);
    float *c[3] = {malloc(sizeof(float) * nc), malloc(sizeof(float) * nc), malloc(sizeof(float) * nc)};
    assert_true(a && b && c[0] && c[1] && c[2]);
    for (size_t j = 0; j < na; j++)
        a[j] = lcg(&s);
    for (size_t j = 0; j < nb; j++)
        b[j] = lcg(&s);
    int lda = ta ? M : K, ldb = tb ? K : N;
    kt_sgemm(NULL, ta, tb, M, N, K, 0.7f, a, lda, b, ldb, c[0], N);
    for (int k = 1; k < 3; k++) {
        kt_sgemm(ex[k - 1], ta, tb, M, N, K, 0.7f, a, lda, b, ldb, c[k], N);
        if (memcmp(c[0], c[k], sizeof(float) * nc))
            fail_msg("kt_sgemm ta=%d tb=%d M=%d N=%d K=%d differs between 1 and %d threads", ta, tb, M, N, K, k + 1);
    }
    double ref = 0.0; /* and it is the product: one element in double */
    for (int i = 0; i < K; i++)
        ref += (double)(ta ? a[(size_t)i * M] : a[i]) * (tb ? b[i] : b[(size_t)i * N]);
    assert_true(fabs(0.7 * ref - c[0][0]) <= 1e-4 * (1.0 + fabs(ref)));
    free(a);
    free(b);
    for (int k = 0; k < 3; k++)
        free(c[k]);
}

static void test_sgemm_threads(void **state)
{
    (void)state;
    kt_exec *ex[2] = {NULL, NULL};
    kt_error err;
    assert_int_equal(kt_exec_create(2, &ex[0], &err), KT_OK);
    assert_int_equal(kt_exec_create(3, &ex[1], &err), KT_OK);
    kt_blas_serial();
    static const int ks[] = {64, 400, 452, 492, 511, 640, 769, 1000, 1542, 3270};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        sgemm_case(ex, 0, 1, 456, 40, ks[i]);  /* attention scores / linear: M split */
        sgemm_case(ex, 0, 0, 120, 700, ks[i]); /* conv as GEMM: N split */
    }
    sgemm_case(ex, 1, 0, 300, 257, 512); /* ConvTranspose1d's transposed weight */
    /* row counts whose slices could be short (a lone partial block, 49-95 rows, small slices) */
    static const int ms[] = {60, 97, 100, 150, 200, 245};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        sgemm_case(ex, 0, 1, ms[i], ms[i], 64);  /* attention scores at T = ms[i] */
        sgemm_case(ex, 0, 0, ms[i], 64, ms[i]);  /* attention context */
        sgemm_case(ex, 0, 1, ms[i], 768, 768);   /* ALBERT linear */
    }
    sgemm_case(ex, 0, 0, 492, 64, 492);  /* attention context at 492 tokens */
    kt_exec_free(ex[0]);
    kt_exec_free(ex[1]);
}

/* The tiny model on 450 ids (ALBERT's attention with K = 452) at 1, 2 and 3 threads. */
static void test_synth_threads(void **state)
{
    (void)state;
    kt_config cfg;
    kt_error err;
    kt_model *m[3] = {NULL, NULL, NULL};
    kt_synth_result r[3];
    assert_int_equal(kt_config_load(env_or("KT_TINY_CONFIG", "fixtures/tiny/config.json"), &cfg, &err), KT_OK);
    enum { N_IDS = 450 };
    int ids[N_IDS];
    for (int i = 0; i < N_IDS; i++)
        ids[i] = 1 + (i * 37) % (cfg.n_token - 1);
    float style[512];
    for (int k = 0; k < 3; k++) {
        kt_model_params p = kt_model_default_params();
        p.n_threads = k + 1;
        p.release_weights = k < 2; /* the 3-thread model also serves a kt_synth_state below */
        if (kt_model_load(env_or("KT_TINY_MODEL", "fixtures/tiny/kokoro-tiny.pth"), &cfg, &p, &m[k], &err))
            fail_msg("load: %s", err.msg);
        int ns = kt_model_style_size(m[k]);
        assert_true(ns <= 512);
        for (int i = 0; i < ns; i++)
            style[i] = 0.3f * sinf(0.7f * (float)i + 0.1f);
        if (kt_model_synthesize(m[k], ids, N_IDS, style, NULL, &r[k], &err))
            fail_msg("synthesize: %s", err.msg);
    }
    for (int k = 1; k < 3; k++) {
        assert_int_equal(r[0].n_tokens, r[k].n_tokens);
        assert_memory_equal(r[0].durations, r[k].durations, sizeof(int) * (size_t)r[0].n_tokens);
        assert_true(r[0].n_samples == r[k].n_samples && r[0].n_samples > 0);
        size_t nd = 0;
        for (size_t i = 0; i < r[0].n_samples; i++)
            nd += memcmp(&r[0].audio[i], &r[k].audio[i], sizeof(float)) != 0;
        if (nd)
            fail_msg("%zu of %zu samples differ between 1 and %d threads", nd, r[0].n_samples, k + 1);
    }
    kt_synth_state *st = NULL; /* a state of the 3-thread model, run on 2 of its threads */
    kt_synth_result rs;
    assert_int_equal(kt_model_threads(m[2]), 3);
    assert_int_equal(kt_synth_state_create(m[2], &st, &err), KT_OK);
    kt_synth_state_set_threads(st, 2);
    if (kt_synth_state_run(st, ids, N_IDS, style, NULL, &rs, &err))
        fail_msg("state run: %s", err.msg);
    assert_true(rs.n_samples == r[0].n_samples);
    assert_memory_equal(rs.audio, r[0].audio, sizeof(float) * rs.n_samples);
    kt_synth_result_free(&rs);
    kt_synth_state_free(st);
    for (int k = 0; k < 3; k++) {
        kt_synth_result_free(&r[k]);
        kt_model_free(m[k]);
    }
    kt_config_free(&cfg);
}

static void count_range(void *ctx, size_t i0, size_t i1)
{
    int *hits = ctx;
    for (size_t i = i0; i < i1; i++)
        hits[i]++;
}

/* kt_exec_range hands every index to exactly one call, below and above its minimum work. */
static void test_exec_range(void **state)
{
    (void)state;
    static const size_t ns[] = {1, 2, 3, 5, 7, 100, 1001};
    for (int t = 1; t <= 3; t++) {
        kt_exec *ex = NULL;
        kt_error err;
        assert_int_equal(kt_exec_create(t, &ex, &err), KT_OK);
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
            for (size_t min_work = 1; min_work <= 4; min_work += 3) {
                int hits[1001] = {0};
                kt_exec_range(ex, ns[i], 1, min_work, count_range, hits);
                for (size_t k = 0; k < 1001; k++)
                    if (hits[k] != (k < ns[i]))
                        fail_msg("threads %d n %zu: index %zu handed out %d times", t, ns[i], k, hits[k]);
            }
        kt_exec_free(ex);
    }
}

static void count_tids(void *ctx, int tid, int n)
{
    int *hits = ctx; /* hits[tid] for each call, hits[8] the n every call saw (summed) */
    hits[tid]++;
    __atomic_add_fetch(&hits[8], n, __ATOMIC_RELAXED);
}

/* kt_exec_set_threads: a run uses exactly the first n threads (clamped to 1..capacity) and
 * tells each of them n; the rest stay out of it. */
static void test_exec_set_threads(void **state)
{
    (void)state;
    kt_exec *ex = NULL;
    kt_error err;
    assert_int_equal(kt_exec_create(3, &ex, &err), KT_OK);
    assert_int_equal(kt_exec_capacity(ex), 3);
    static const int ask[] = {2, 1, 3, 0, 7, 2};
    static const int want[] = {2, 1, 3, 1, 3, 2};
    for (size_t i = 0; i < sizeof ask / sizeof ask[0]; i++) {
        int hits[9] = {0};
        kt_exec_set_threads(ex, ask[i]);
        assert_int_equal(kt_exec_threads(ex), want[i]);
        for (int r = 0; r < 5; r++)
            kt_exec_run(ex, count_tids, hits);
        for (int t = 0; t < 8; t++)
            if (hits[t] != (t < want[i] ? 5 : 0))
                fail_msg("asked %d threads: thread %d ran %d of 5 times", ask[i], t, hits[t]);
        assert_int_equal(hits[8], 5 * want[i] * want[i]);
    }
    assert_int_equal(kt_exec_capacity(ex), 3);
    kt_exec_free(ex);
    assert_int_equal(kt_exec_capacity(NULL), 1);
    kt_exec_set_threads(NULL, 2); /* ignored */
}

typedef struct {
    int hits[8], seen_n; /* runs each thread took part in; the n of every call, summed */
    int slow_tid;        /* this thread sleeps in its task (0: none) */
} handoff;

static void sleep_us(long us)
{
    struct timespec ts = {0, us * 1000L};
    nanosleep(&ts, NULL);
}

static void count_handoff(void *ctx, int tid, int n)
{
    handoff *h = ctx;
    __atomic_add_fetch(&h->hits[tid], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&h->seen_n, n, __ATOMIC_RELAXED);
    if (tid && tid == h->slow_tid)
        sleep_us(2000); /* longer than the owner spins and yields (~1.1 ms): it sleeps and is woken */
}

/* Thousands of runs back to back, the thread count changing between them and the pool crowded
 * (no yields in its waits) or not, some with a worker slower than the owner's wait (spin, then
 * yields) and some after the owner paused longer than the workers' wait:
 * every run hands each of its threads the task exactly once and returns after all of them. */
static void test_exec_handoff(void **state)
{
    (void)state;
    kt_exec *ex = NULL;
    kt_error err;
    assert_int_equal(kt_exec_create(3, &ex, &err), KT_OK);
    handoff h = {{0}, 0, 0};
    int want[8] = {0}, want_n = 0;
    uint32_t s = 12345;
    _Atomic int crowded = 0; /* the waits with and without the yields, in turns of 500 runs */
    kt_exec_set_crowded(ex, &crowded);
    for (int r = 0; r < 20000; r++) {
        s = s * 1664525u + 1013904223u;
        int n = 1 + (int)((s >> 8) % 3);
        kt_exec_set_threads(ex, n);
        crowded = r / 500 % 2;
        h.slow_tid = r % 997 == 5 ? n - 1 : 0;
        if (r % 1009 == 7)
            sleep_us(3000); /* longer than the workers spin and yield: they sleep */
        kt_exec_run(ex, count_handoff, &h);
        for (int t = 0; t < n; t++)
            want[t]++;
        want_n += n * n;
        int now = __atomic_load_n(&h.hits[n - 1], __ATOMIC_RELAXED);
        if (now != want[n - 1]) /* the run returned before its last thread was done */
            fail_msg("run %d on %d threads: thread %d ran %d times, expected %d", r, n, n - 1, now, want[n - 1]);
    }
    for (int t = 0; t < 8; t++)
        if (h.hits[t] != want[t])
            fail_msg("thread %d ran %d times, expected %d", t, h.hits[t], want[t]);
    assert_int_equal(h.seen_n, want_n);
    kt_exec_free(ex);
}

typedef struct {
    kt_claims cl;
    int units, done; /* done: units taken so far */
    int taken[64];   /* times each unit was taken */
    int by[64];      /* the thread that took it */
    int slow_tid;    /* after each unit, this thread waits until every unit is taken (-1: none) */
} claims_run;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void take_units(void *ctx, int tid, int n)
{
    claims_run *c = ctx;
    (void)n;
    for (int u; (u = kt_claims_take(&c->cl, tid)) >= 0;) {
        __atomic_add_fetch(&c->taken[u], 1, __ATOMIC_RELAXED);
        c->by[u] = tid;
        __atomic_add_fetch(&c->done, 1, __ATOMIC_RELEASE);
        double t0 = mono_s(); /* the others must take the rest of this thread's share; 5 s at most */
        while (tid == c->slow_tid && __atomic_load_n(&c->done, __ATOMIC_ACQUIRE) < c->units && mono_s() - t0 < 5.0)
            sleep_us(100);
    }
}

/* kt_claims: every unit is taken exactly once, for unit counts below, at and above the thread
 * count; when a thread stops after its first unit, the others take the rest of its share. */
static void test_claims(void **state)
{
    (void)state;
    static const int units[] = {0, 1, 2, 3, 7, 8, 40, 64};
    for (int t = 1; t <= 3; t++) {
        kt_exec *ex = NULL;
        kt_error err;
        assert_int_equal(kt_exec_create(t, &ex, &err), KT_OK);
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            for (int slow = -1; slow < t; slow++) {
                claims_run c;
                memset(&c, 0, sizeof c);
                c.units = units[i];
                c.slow_tid = t > 1 ? slow : -1;
                kt_claims_init(&c.cl, units[i], ex);
                kt_exec_run(ex, take_units, &c);
                for (int u = 0; u < 64; u++)
                    if (c.taken[u] != (u < units[i]))
                        fail_msg("%d threads, %d units: unit %d taken %d times", t, units[i], u, c.taken[u]);
                if (c.slow_tid < 0)
                    continue;
                int u0 = units[i] * slow / t, u1 = units[i] * (slow + 1) / t, helped = 0;
                for (int u = u0; u < u1; u++)
                    helped += c.by[u] != slow;
                if (u1 - u0 >= 2 && helped < u1 - u0 - 1)
                    fail_msg("%d threads, %d units: the others took %d of the slow thread's %d units", t, units[i],
                             helped, u1 - u0);
            }
        kt_exec_free(ex);
    }
}

/* Harmonic source (split by samples), STFT (by frames) and iSTFT (by output ranges, frames
 * over a range edge computed twice) at 1, 2 and 3 threads, lengths not divisible by 2 or 3. */
static void test_stages_threads(void **state)
{
    (void)state;
    kt_config cfg;
    kt_error err;
    assert_int_equal(kt_config_load(env_or("KT_TINY_CONFIG", "fixtures/tiny/config.json"), &cfg, &err), KT_OK);
    kt_stage_dims d;
    enum { F = 97, M = 4001 };
    float *f0 = malloc(sizeof(float) * 2 * F), *spec = malloc(sizeof(float) * 2 * 64 * M);
    float *src[3] = {NULL, NULL, NULL}, *har[3] = {NULL, NULL, NULL}, *au[3] = {NULL, NULL, NULL};
    assert_true(f0 && spec);
    uint32_t s = 7;
    for (int i = 0; i < 2 * F; i++) /* voiced and unvoiced stretches */
        f0[i] = (i / 10) % 3 ? 120.0f + 80.0f * lcg(&s) : 0.0f;
    for (int k = 0; k < 3; k++) {
        kt_model *m = NULL;
        kt_model_params p = kt_model_default_params();
        p.n_threads = k + 1;
        if (kt_model_load(env_or("KT_TINY_MODEL", "fixtures/tiny/kokoro-tiny.pth"), &cfg, &p, &m, &err))
            fail_msg("load: %s", err.msg);
        kt_stage_get_dims(m, &d);
        assert_true(d.n_fft + 2 <= 2 * 64);
        size_t n = (size_t)d.samples_per_frame * F, nf = n / (size_t)d.hop + 1, nb = (size_t)d.n_fft / 2 + 1;
        src[k] = malloc(sizeof(float) * n);
        har[k] = malloc(sizeof(float) * (size_t)(d.n_fft + 2) * nf);
        au[k] = malloc(sizeof(float) * (size_t)d.hop * (M - 1));
        assert_true(src[k] && har[k] && au[k]);
        s = 11;
        for (size_t i = 0; i < 2 * nb * M; i++)
            spec[i] = i < nb * M ? 1.0f + lcg(&s) : 6.0f * lcg(&s);
        assert_int_equal(kt_stage_source(m, f0, F, 5u, src[k], &err), KT_OK);
        assert_int_equal(kt_stage_stft(m, src[k], (int)n, har[k], &err), KT_OK);
        assert_int_equal(kt_stage_istft(m, spec, spec + nb * M, M, au[k], &err), KT_OK);
        if (k)
            if (memcmp(src[0], src[k], sizeof(float) * n) ||
                memcmp(har[0], har[k], sizeof(float) * (size_t)(d.n_fft + 2) * nf) ||
                memcmp(au[0], au[k], sizeof(float) * (size_t)d.hop * (M - 1)))
                fail_msg("source, STFT or iSTFT differ between 1 and %d threads", k + 1);
        kt_model_free(m);
    }
    double e = 0.0; /* and the audio is not all zeros */
    for (size_t i = 0; i < (size_t)d.hop * (M - 1); i++)
        e += fabs(au[0][i]);
    assert_true(e > 0.0);
    for (int k = 0; k < 3; k++) {
        free(src[k]);
        free(har[k]);
        free(au[k]);
    }
    free(f0);
    free(spec);
    kt_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exec_range),
        cmocka_unit_test(test_exec_set_threads),
        cmocka_unit_test(test_exec_handoff),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_stages_threads),
        cmocka_unit_test(test_sgemm_threads),
        cmocka_unit_test(test_synth_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
