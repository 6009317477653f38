/* kernels.c - direct stride-1 convolution with packed weights, fused AdaIN+Snake,
 * runtime ISA dispatch and the thread pool (see kt/kernels.h). */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "kt/kernels.h"

#include "kt/tensor.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#define KT_X86 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define KT_X86 0
#endif

#define MR KT_PACK_MR
#define NR_MAX 48
#define PAD_SLACK 64          /* floats past L + 2 pad a kernel may read */
#define A_BUDGET (64 * 1024)  /* floats of packed weights per input-channel block (L2) */
#define T_SUPER 16            /* column tiles per time block */
#define KK_MAX 512            /* kk values per decoded weight block */
#define B_BUDGET (128 * 1024) /* floats of input a lone time block may read in one channel block */
#define MAX_THREADS KT_EXEC_MAX_THREADS
#define ROWS_G 4              /* row tiles of the rows kernel (kern_rows_n) */
#define ROWS_NC 12            /* its columns at most */
/* Bytes ahead the rows kernel prefetches each of its 4 weight streams (the decoder's weights, read
 * once per chunk from memory): `kt_stage_decoder` on 45 frames 14.4-15.6 against 15.1-16.1 ms. */
#define ROWS_A_AHEAD 4096
/* Input rows the AVX-512 float32 kernel prefetches ahead of the one it reads: a linear layer on a
 * few rows streams its weights through it as the input (kt_linear_t_forward), ~150 KB per panel
 * read once from L3 or memory, faster with the prefetch than on the hardware's alone (ALBERT on
 * 3 tokens: 6.5 against 8.6 ms); the generator's convs, their input in L1 or L2, the same. */
#define B_AHEAD 16

/* ---- execution context ------------------------------------------------------------ */

/* One worker's mailbox: the owner fills fn, ctx and n, then publishes them by storing a new
 * go; the worker reads them after it sees go change and before it counts itself done, and
 * the owner writes the mailbox again only after every worker of the run is done. */
typedef struct {
    kt_task_fn fn;
    void *ctx;
    int n;
    _Atomic unsigned go;
} mailbox;

struct kt_exec {
    int isa, bf16, vnni, amx, amx_bf16; /* the instructions its kernels use */
    int n, cap, n_started;              /* n: threads a run uses (kt_exec_set_threads), cap: created */
    pthread_t th[MAX_THREADS];
    pthread_mutex_t mu; /* with the two condition variables: for sleeping after a spin */
    pthread_cond_t cv_start, cv_done;
    unsigned gen;         /* runs started (the owner's thread only) */
    _Atomic int pending;  /* workers of the current run not yet done */
    _Atomic int stop;
    _Atomic(const _Atomic int *) crowded; /* kt_exec_set_crowded: nonzero while the CPUs are oversubscribed */
    mailbox box[MAX_THREADS];
};

typedef struct {
    kt_exec *ex;
    int tid;
} worker_arg;

/* Both sides of a run wait for the other by spinning SPIN_PAUSES pauses (about 0.1 ms), then
 * by yielding the CPU in a loop up to SPIN_YIELD_NS from the start, and only then sleep on a
 * condition variable: the runs of one forward pass follow each other closely, a thread that
 * finished its share early often waits longer than 0.1 ms for the next run, and waking a
 * sleeping thread (a futex, on a virtual machine an interrupt to an idle virtual CPU) costs
 * more than that. While the owner says the CPUs are oversubscribed (kt_exec_set_crowded) the
 * waits skip the yields: a thread that yields keeps its CPU busy to the scheduler, so a thread
 * waiting in another CPU's queue is not moved to it, where a sleeping one leaves it idle. */
#define SPIN_PAUSES 4096
#define SPIN_YIELD_NS 1000000L

static inline void cpu_pause(void)
{
#if KT_X86
    _mm_pause();
#endif
}

static long long mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int crowded(const kt_exec *ex)
{
    const _Atomic int *f = atomic_load_explicit(&ex->crowded, memory_order_acquire);
    return f && atomic_load_explicit(f, memory_order_relaxed);
}

/* Spins, then yields (unless ex is crowded), until ready(arg) (returns 1) or the time is up
 * (returns 0). */
static int spin_wait(const kt_exec *ex, int (*ready)(const void *), const void *arg)
{
    for (int i = 0; i < SPIN_PAUSES; i++) {
        if (ready(arg))
            return 1;
        cpu_pause();
    }
    long long end = mono_ns() + SPIN_YIELD_NS;
    while (!crowded(ex)) {
        sched_yield();
        for (int i = 0; i < 64; i++) {
            if (ready(arg))
                return 1;
            cpu_pause();
        }
        if (mono_ns() >= end)
            break;
    }
    return ready(arg);
}

static int detect_isa(int cap)
{
    int isa = KT_ISA_GENERIC;
#if KT_X86 && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        isa = KT_ISA_AVX2;
    if (__builtin_cpu_supports("avx512f"))
        isa = KT_ISA_AVX512;
#endif
    if (cap < isa)
        isa = cap < KT_ISA_GENERIC ? KT_ISA_GENERIC : cap;
    const char *e = getenv("KT_ISA");
    if (e) {
        int want = !strcmp(e, "generic") ? KT_ISA_GENERIC : !strcmp(e, "avx2") ? KT_ISA_AVX2 : KT_ISA_AVX512;
        if (want < isa)
            isa = want;
    }
    return isa;
}

typedef struct {
    kt_exec *ex;
    const mailbox *mb;
    unsigned seen;
} worker_wake;

/* A run newer than seen is in the mailbox, or the pool stops. */
static int worker_ready(const void *p)
{
    const worker_wake *w = p;
    return atomic_load_explicit(&w->mb->go, memory_order_acquire) != w->seen ||
           atomic_load_explicit(&w->ex->stop, memory_order_acquire);
}

/* Every worker of the current run is done. */
static int run_done(const void *p)
{
    return !atomic_load_explicit(&((const kt_exec *)p)->pending, memory_order_acquire);
}

/* Waits until the worker's mailbox holds a run newer than seen (0) or the pool stops (1). */
static int worker_wait(kt_exec *ex, const mailbox *mb, unsigned seen)
{
    worker_wake w = {ex, mb, seen};
    if (spin_wait(ex, worker_ready, &w))
        return atomic_load_explicit(&mb->go, memory_order_acquire) == seen;
    pthread_mutex_lock(&ex->mu);
    while (atomic_load_explicit(&mb->go, memory_order_acquire) == seen && !atomic_load(&ex->stop))
        pthread_cond_wait(&ex->cv_start, &ex->mu);
    pthread_mutex_unlock(&ex->mu);
    return atomic_load_explicit(&mb->go, memory_order_acquire) == seen;
}

static void *worker(void *p)
{
    kt_exec *ex = ((worker_arg *)p)->ex;
    mailbox *mb = &ex->box[((worker_arg *)p)->tid];
    int tid = ((worker_arg *)p)->tid;
    unsigned seen = 0;
    while (!worker_wait(ex, mb, seen)) {
        seen = atomic_load_explicit(&mb->go, memory_order_acquire);
        mb->fn(mb->ctx, tid, mb->n);
        if (atomic_fetch_sub_explicit(&ex->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&ex->mu); /* the owner may be about to sleep on cv_done */
            pthread_cond_signal(&ex->cv_done);
            pthread_mutex_unlock(&ex->mu);
        }
    }
    return NULL;
}

static worker_arg *worker_args(kt_exec *ex)
{
    /* one struct per worker, allocated right after ex */
    return (worker_arg *)(ex + 1);
}

int kt_usable_cpus(void)
{
#ifdef CPU_COUNT
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
#endif
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    return nc > 0 ? (int)nc : 1;
}

#if KT_X86 && defined(__GNUC__)
enum { AMX_BF16_BIT = 22, AMX_INT8_BIT = 25 }; /* CPUID.7.0:EDX */

/* The CPUID.7.0:EDX bits of the AMX dot products (AMX_*_BIT) the CPU has, 0 unless it has the
 * tiles and the kernel lets this process use them (Linux asks each process to request the tile
 * data state once; the grant covers all its threads). */
static unsigned amx_features(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)))
        return 0;
#if defined(__linux__) && defined(__x86_64__)
    enum { ARCH_GET_XCOMP_PERM = 0x1022, ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    unsigned long perm = 0;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0 ||
        syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &perm) != 0 || !((perm >> XFEATURE_XTILEDATA) & 1u))
        return 0;
    return d & (1u << AMX_BF16_BIT | 1u << AMX_INT8_BIT);
#else
    return 0;
#endif
}
#endif

kt_status kt_exec_create(int n_threads, kt_exec **out, kt_error *err)
{
    return kt_exec_create_isa(n_threads, KT_ISA_AVX512, out, err);
}

kt_status kt_exec_create_isa(int n_threads, int max_isa, kt_exec **out, kt_error *err)
{
    *out = NULL;
    if (n_threads <= 0) /* the CPUs this process may run on (taskset, cgroups' cpusets) */
        n_threads = kt_usable_cpus();
    if (n_threads > MAX_THREADS)
        n_threads = MAX_THREADS;
    kt_exec *ex = calloc(1, sizeof *ex + sizeof(worker_arg) * MAX_THREADS);
    if (!ex)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    ex->isa = detect_isa(max_isa);
#if KT_X86 && defined(__GNUC__)
    ex->bf16 = ex->isa == KT_ISA_AVX512 && __builtin_cpu_supports("avx512bf16");
    const char *vn = getenv("KT_VNNI");
    ex->vnni = ex->isa == KT_ISA_AVX512 && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") &&
               !(vn && !strcmp(vn, "off"));
    const char *am = getenv("KT_AMX");
    unsigned amx = (ex->vnni || ex->bf16) && !(am && !strcmp(am, "off")) ? amx_features() : 0;
    ex->amx = ex->vnni && (amx >> AMX_INT8_BIT & 1u);
    ex->amx_bf16 = ex->bf16 && (amx >> AMX_BF16_BIT & 1u);
#endif
    ex->n = ex->cap = n_threads;
    pthread_mutex_init(&ex->mu, NULL);
    pthread_cond_init(&ex->cv_start, NULL);
    pthread_cond_init(&ex->cv_done, NULL);
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = worker_args(ex) + i;
        wa->ex = ex;
        wa->tid = i;
        if (pthread_create(&ex->th[i], NULL, worker, wa)) {
            ex->n = i; /* the workers started so far */
            kt_exec_free(ex);
            return kt_error_set(err, KT_EIO, "cannot start a worker thread");
        }
        ex->n_started = i;
    }
    *out = ex;
    return KT_OK;
}

void kt_exec_free(kt_exec *ex)
{
    if (!ex)
        return;
    pthread_mutex_lock(&ex->mu);
    atomic_store(&ex->stop, 1);
    pthread_cond_broadcast(&ex->cv_start);
    pthread_mutex_unlock(&ex->mu);
    for (int i = 1; i <= ex->n_started; i++)
        pthread_join(ex->th[i], NULL);
    pthread_mutex_destroy(&ex->mu);
    pthread_cond_destroy(&ex->cv_start);
    pthread_cond_destroy(&ex->cv_done);
    free(ex);
}

int kt_exec_isa(const kt_exec *ex) { return ex ? ex->isa : KT_ISA_GENERIC; }

int kt_exec_threads(const kt_exec *ex) { return ex ? ex->n : 1; }

int kt_exec_capacity(const kt_exec *ex) { return ex ? ex->cap : 1; }

void kt_exec_set_threads(kt_exec *ex, int n)
{
    if (!ex)
        return;
    pthread_mutex_lock(&ex->mu);
    ex->n = n < 1 ? 1 : n > ex->cap ? ex->cap : n;
    pthread_mutex_unlock(&ex->mu);
}

void kt_exec_set_crowded(kt_exec *ex, const _Atomic int *flag)
{
    if (ex)
        atomic_store_explicit(&ex->crowded, flag, memory_order_release);
}

int kt_exec_has_bf16(const kt_exec *ex) { return ex ? ex->bf16 : 0; }

int kt_exec_has_vnni(const kt_exec *ex) { return ex ? ex->vnni : 0; }

int kt_exec_has_amx(const kt_exec *ex) { return ex ? ex->amx : 0; }

int kt_exec_has_amx_bf16(const kt_exec *ex) { return ex ? ex->amx_bf16 : 0; }

void kt_exec_run(kt_exec *ex, kt_task_fn fn, void *ctx)
{
    if (!ex || ex->n <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    int n = ex->n;
    unsigned g = ++ex->gen;
    atomic_store_explicit(&ex->pending, n - 1, memory_order_relaxed);
    for (int i = 1; i < n; i++) {
        ex->box[i].fn = fn;
        ex->box[i].ctx = ctx;
        ex->box[i].n = n;
    }
    pthread_mutex_lock(&ex->mu); /* a worker checks go under mu before it sleeps */
    for (int i = 1; i < n; i++)
        atomic_store_explicit(&ex->box[i].go, g, memory_order_release);
    pthread_cond_broadcast(&ex->cv_start);
    pthread_mutex_unlock(&ex->mu);
    fn(ctx, 0, n);
    if (!spin_wait(ex, run_done, ex)) {
        pthread_mutex_lock(&ex->mu);
        while (atomic_load_explicit(&ex->pending, memory_order_acquire))
            pthread_cond_wait(&ex->cv_done, &ex->mu);
        pthread_mutex_unlock(&ex->mu);
    }
}

typedef struct {
    kt_range_fn fn;
    void *ctx;
    size_t n;
} range_job;

static void range_task(void *p, int tid, int n)
{
    const range_job *j = p;
    size_t i0 = j->n / n * tid + j->n % n * tid / n, i1 = j->n / n * (tid + 1) + j->n % n * (tid + 1) / n;
    if (i1 > i0)
        j->fn(j->ctx, i0, i1);
}

void kt_exec_range(kt_exec *ex, size_t n, size_t unit, size_t min_work, kt_range_fn fn, void *ctx)
{
    if (!n)
        return;
    if (!ex || ex->n <= 1 || n < 2 || (double)n * unit < (double)min_work) {
        fn(ctx, 0, n);
        return;
    }
    range_job j = {fn, ctx, n};
    kt_exec_run(ex, range_task, &j);
}

/* ---- work shared out at run time (kt_claims) ------------------------------------------ */

/* The threads a kt_exec_run of ex passes to its tasks. */
static int run_threads(const kt_exec *ex) { return !ex || ex->n <= 1 ? 1 : ex->n; }

void kt_claims_init(kt_claims *cl, int units, const kt_exec *ex)
{
    cl->units = units;
    cl->n = run_threads(ex);
    for (int p = 0; p < cl->n; p++)
        atomic_init(&cl->next[p], (int)((long)units * p / cl->n));
}

int kt_claims_take(kt_claims *cl, int tid)
{
    for (int k = 0; k < cl->n; k++) {
        int p = (tid + k) % cl->n, end = (int)((long)cl->units * (p + 1) / cl->n);
        if (atomic_load_explicit(&cl->next[p], memory_order_relaxed) >= end)
            continue;
        int u = atomic_fetch_add_explicit(&cl->next[p], 1, memory_order_relaxed);
        if (u < end)
            return u;
    }
    return -1;
}

/* ---- packing ------------------------------------------------------------------------ */

size_t kt_conv_pack_size(int cout, int cin, int k)
{
    size_t tiles = ((size_t)cout + MR - 1) / MR;
    return tiles * MR * (size_t)cin * k;
}

#if KT_X86 && defined(__GNUC__)
/* dst[j * ldd + r] = src[r * lds + j] (times scale[r] in double, rounded to float, when scale is
 * not NULL) for r, j < 8: an 8 x 8 transpose of ymm rows, the products those of the scalar loops. */
__attribute__((target("avx2"))) static void transpose8(const float *src, size_t lds, const double *scale, float *dst,
                                                      size_t ldd)
{
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++) {
        r[i] = _mm256_loadu_ps(src + (size_t)i * lds);
        if (scale) {
            __m256d s = _mm256_set1_pd(scale[i]);
            __m128 lo = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(r[i])), s));
            __m128 hi = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(r[i], 1)), s));
            r[i] = _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
        }
    }
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) { /* rows i, i + 1 from t[i], t[i + 2]; rows i + 2, i + 3 from t[i + 1], t[i + 3] */
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(dst + (size_t)i * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
        _mm256_storeu_ps(dst + (size_t)(i + 4) * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
    }
}

static int have_avx2(void) { return __builtin_cpu_supports("avx2"); }
#endif

/* kt_conv_pack of w, each row o times scale[o] in double when scale is not NULL: whole row tiles
 * 8 kk at a time by transposes where the CPU has AVX2, the rest one value at a time. */
static void pack_f32_rows(const float *w, const double *scale, int cout, int cin, int k, float *wp)
{
    size_t K = (size_t)cin * k, tiles = ((size_t)cout + MR - 1) / MR;
#if KT_X86 && defined(__GNUC__)
    int vec = have_avx2();
#endif
    for (size_t mt = 0; mt < tiles; mt++) {
        size_t kk = 0;
#if KT_X86 && defined(__GNUC__)
        if (vec && (mt + 1) * MR <= (size_t)cout)
            for (; kk + 8 <= K; kk += 8)
                transpose8(w + mt * MR * K + kk, K, scale ? scale + mt * MR : NULL, wp + (mt * K + kk) * MR, MR);
#endif
        for (; kk < K; kk++)
            for (int r = 0; r < MR; r++) {
                size_t o = mt * MR + r;
                float x = o < (size_t)cout ? w[o * K + kk] : 0.0f;
                wp[(mt * K + kk) * MR + r] = scale && o < (size_t)cout ? (float)(x * scale[o]) : x;
            }
    }
}

void kt_conv_pack(const float *w, int cout, int cin, int k, float *wp) { pack_f32_rows(w, NULL, cout, cin, k, wp); }

void kt_conv_pack_scaled(const float *v, const double *scale, int cout, int cin, int k, float *wp)
{
    pack_f32_rows(v, scale, cout, cin, k, wp);
}

void kt_conv_pack_u16(const uint16_t *u, int cout, int cin, int k, uint16_t *wp)
{
    size_t K = (size_t)cin * k, tiles = ((size_t)cout + MR - 1) / MR;
    for (size_t mt = 0; mt < tiles; mt++)
        for (size_t kk = 0; kk < K; kk++)
            for (int r = 0; r < MR; r++) {
                size_t o = mt * MR + r;
                wp[(mt * K + kk) * MR + r] = o < (size_t)cout ? u[o * K + kk] : 0;
            }
}

static uint32_t bf16_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16; /* round to nearest even (finite values) */
}

size_t kt_conv_pack_bf16x2_size(int cout, int cin, int k)
{
    return (((size_t)cout + MR - 1) / MR) * MR * (((size_t)cin + 1) / 2) * (size_t)k;
}

/* wp = the bf16 pairs of the weight whose tap j of output o and input c is read at
 * w[o cs_o + c cs_c + j cs_j] (zeros past cout and cin). */
static void pack_pairs(const float *w, size_t cs_o, size_t cs_c, size_t cs_j, int cout, int cin, int k,
                       uint32_t *wp)
{
    size_t tiles = ((size_t)cout + MR - 1) / MR, ncp = ((size_t)cin + 1) / 2;
    for (size_t mt = 0; mt < tiles; mt++)
        for (size_t cp = 0; cp < ncp; cp++)
            for (int j = 0; j < k; j++)
                for (int r = 0; r < MR; r++) {
                    size_t o = mt * MR + r, c0 = 2 * cp, c1 = c0 + 1;
                    const float *t = w + o * cs_o + (size_t)j * cs_j;
                    uint32_t lo = o < (size_t)cout ? bf16_bits(t[c0 * cs_c]) : 0;
                    uint32_t hi = o < (size_t)cout && c1 < (size_t)cin ? bf16_bits(t[c1 * cs_c]) : 0;
                    wp[((mt * ncp + cp) * k + j) * MR + r] = lo | hi << 16;
                }
}

void kt_conv_pack_bf16x2(const float *w, int cout, int cin, int k, uint32_t *wp)
{
    pack_pairs(w, (size_t)cin * k, (size_t)k, 1, cout, cin, k, wp);
}

void kt_conv_pack_bf16x2_packed(const float *fp, int cout, int cin, int k, uint32_t *wp)
{
    /* fp[(o / MR) K MR + (c k + j) MR + o % MR], K = cin k: fixed strides only inside a tile,
     * so tile by tile */
    size_t K = (size_t)cin * k, tiles = ((size_t)cout + MR - 1) / MR, per = kt_conv_pack_bf16x2_size(MR, cin, k);
    for (size_t mt = 0; mt < tiles; mt++) {
        int rows = cout - (int)(mt * MR) < MR ? cout - (int)(mt * MR) : MR;
        pack_pairs(fp + mt * K * MR, 1, (size_t)k * MR, MR, rows, cin, k, wp + mt * per);
    }
}

size_t kt_conv_pack_scales(int cout, int cin, int k, int group)
{
    size_t K = (size_t)cin * k, tiles = ((size_t)cout + MR - 1) / MR;
    return tiles * ((K + (size_t)group - 1) / (size_t)group) * MR;
}

void kt_conv_pack_i8(const int8_t *q, const float *s, int group, int cout, int cin, int k, int8_t *wp, float *sp)
{
    size_t K = (size_t)cin * k, tiles = ((size_t)cout + MR - 1) / MR, ng = (K + (size_t)group - 1) / (size_t)group;
    for (size_t mt = 0; mt < tiles; mt++)
        for (int r = 0; r < MR; r++) {
            size_t o = mt * MR + r;
            for (size_t kk = 0; kk < K; kk++)
                wp[(mt * K + kk) * MR + r] = o < (size_t)cout ? q[o * K + kk] : 0;
            for (size_t g = 0; g < ng; g++)
                sp[(mt * ng + g) * MR + r] = o < (size_t)cout ? s[o * ng + g] : 0.0f;
        }
}

#define VQ_QUADS KT_VNNI_QUADS

#define QR KT_I8Q_ROWS
_Static_assert(KT_I8Q_ROWS == 2 * MR && KT_VNNI_QUADS == 16, "an I8Q tile is two row tiles by one quad block");

/* Quad blocks of cin channels; the word of KT_PACK_I8Q for output row o, quad qd, tap j (nqb
 * blocks), which is also that of KT_PACK_BF16T for pair qd (nqb pair blocks). */
static size_t i8q_blocks(size_t cin) { return ((cin + 3) / 4 + VQ_QUADS - 1) / VQ_QUADS; }

static size_t i8q_word(size_t nqb, int k, size_t o, size_t qd, int j)
{
    return (((o / QR * nqb + qd / VQ_QUADS) * (size_t)k + (size_t)j) * QR + o % QR) * VQ_QUADS + qd % VQ_QUADS;
}

/* Blocks of 16 channel pairs of cin channels (KT_PACK_BF16T). */
static size_t bf16t_blocks(size_t cin) { return ((cin + 1) / 2 + VQ_QUADS - 1) / VQ_QUADS; }

size_t kt_conv_pack_bf16t_size(int cout, int cin, int k)
{
    return ((size_t)cout + QR - 1) / QR * QR * bf16t_blocks((size_t)cin) * VQ_QUADS * (size_t)k;
}

void kt_conv_pack_bf16t(const float *w, int cout, int cin, int k, int rt0, int rt1, uint32_t *wp)
{
    size_t nb = bf16t_blocks((size_t)cin), per = kt_conv_pack_bf16t_size(QR, cin, k);
    memset(wp + (size_t)rt0 * per, 0, sizeof(uint32_t) * (size_t)(rt1 - rt0) * per);
    for (size_t o = (size_t)rt0 * QR; o < (size_t)rt1 * QR && o < (size_t)cout; o++)
        for (size_t b = 0; b < nb; b++) /* a pair block and tap at a time: 16 consecutive words */
            for (int j = 0; j < k; j++) {
                uint32_t *dst = wp + i8q_word(nb, k, o, b * VQ_QUADS, j);
                for (size_t cp = b * VQ_QUADS; cp < (b + 1) * VQ_QUADS && 2 * cp < (size_t)cin; cp++) {
                    const float *t = w + (o * (size_t)cin + 2 * cp) * (size_t)k + (size_t)j;
                    uint32_t lo = bf16_bits(t[0]), hi = 2 * cp + 1 < (size_t)cin ? bf16_bits(t[k]) : 0;
                    dst[cp % VQ_QUADS] = lo | hi << 16;
                }
            }
}

size_t kt_conv_pack_i8q_words(int cout, int cin, int k)
{
    return ((size_t)cout + QR - 1) / QR * QR * i8q_blocks((size_t)cin) * VQ_QUADS * (size_t)k;
}

size_t kt_conv_pack_i8q_sums(int cout, int cin)
{
    return ((size_t)cout + MR - 1) / MR * i8q_blocks((size_t)cin) * MR;
}

/* Row o's words, all taps: the word of quad qd, tap j holds the codes of channels 4 qd .. 4 qd + 3
 * at tap j (zeros past cin), the first in its low byte; one quad block and tap at a time (16
 * consecutive words). */
static void i8q_row_words(const int8_t *row, int cin, int k, size_t nb, size_t o, uint32_t *wp)
{
    for (size_t b = 0; b < nb; b++)
        for (int j = 0; j < k; j++) {
            uint8_t c[4 * VQ_QUADS];
            for (size_t i = 0; i < 4 * VQ_QUADS; i++) {
                size_t ch = b * 4 * VQ_QUADS + i;
                c[i] = ch < (size_t)cin ? (uint8_t)row[ch * (size_t)k + (size_t)j] : 0;
            }
            uint32_t *dst = wp + i8q_word(nb, k, o, b * VQ_QUADS, j);
            for (size_t qd = 0; qd < VQ_QUADS; qd++)
                dst[qd] = (uint32_t)c[4 * qd] | (uint32_t)c[4 * qd + 1] << 8 | (uint32_t)c[4 * qd + 2] << 16 |
                          (uint32_t)c[4 * qd + 3] << 24;
        }
}

void kt_conv_pack_i8q_tiles(const int8_t *q, const float *s, int cout, int cin, int k, int rt0, int rt1,
                            uint32_t *wp, float *sp, int32_t *sums)
{
    size_t K = (size_t)cin * k, nb = i8q_blocks((size_t)cin), per = kt_conv_pack_i8q_words(QR, cin, k);
    size_t tiles = ((size_t)cout + MR - 1) / MR, blk = (size_t)VQ_QUADS * 4 * (size_t)k; /* codes of a quad block */
    memset(wp + (size_t)rt0 * per, 0, sizeof(uint32_t) * (size_t)(rt1 - rt0) * per);
    for (size_t mt = (size_t)rt0 * (QR / MR); mt < (size_t)rt1 * (QR / MR) && mt < tiles; mt++)
        for (int r = 0; r < MR; r++) {
            size_t o = mt * MR + r;
            sp[mt * MR + r] = o < (size_t)cout ? s[o] : 0.0f;
            for (size_t b = 0; b < nb; b++) { /* the row's sum over each quad block: all its codes */
                int32_t sum = 0;
                for (size_t e = b * blk; o < (size_t)cout && e < (b + 1) * blk && e < K; e++)
                    sum += q[o * K + e];
                sums[(mt * nb + b) * MR + r] = sum;
            }
            if (o < (size_t)cout)
                i8q_row_words(q + o * K, cin, k, nb, o, wp);
        }
}

void kt_conv_pack_i8q(const int8_t *q, const float *s, int cout, int cin, int k, uint32_t *wp, float *sp,
                      int32_t *sums)
{
    kt_conv_pack_i8q_tiles(q, s, cout, cin, k, 0, (cout + QR - 1) / QR, wp, sp, sums);
}

size_t kt_conv_pack_i4_size(int cout, int cin, int k) { return (kt_conv_pack_size(cout, cin, k) + 1) / 2; }

void kt_conv_pack_i4(const uint8_t *codes, size_t row_bytes, const float *s, int group, int cout, int cin, int k,
                     uint8_t *wp, float *sp)
{
    size_t K = (size_t)cin * k, tiles = ((size_t)cout + MR - 1) / MR, ng = (K + (size_t)group - 1) / (size_t)group;
    memset(wp, 0, kt_conv_pack_i4_size(cout, cin, k));
    for (size_t mt = 0; mt < tiles; mt++)
        for (int r = 0; r < MR; r++) {
            size_t o = mt * MR + r;
            for (size_t kk = 0; o < (size_t)cout && kk < K; kk++) {
                size_t e = (mt * K + kk) * MR + r;
                unsigned nib = (codes[o * row_bytes + kk / 2] >> (kk % 2 * 4)) & 0xFu;
                wp[e / 2] |= (uint8_t)(nib << (e % 2 * 4));
            }
            for (size_t g = 0; g < ng; g++)
                sp[(mt * ng + g) * MR + r] = o < (size_t)cout ? s[o * ng + g] : 0.0f;
        }
}

size_t kt_conv_pad_len(const kt_conv1d *c, int L) { return kt_arena_round((size_t)L + 2 * (size_t)c->pad + PAD_SLACK); }

size_t kt_conv_input_form_floats(int dtype, int cin, size_t Ls)
{
    if (dtype == KT_PACK_BF16X2)
        return kt_arena_round(((size_t)cin + 1) / 2 * Ls);
    if (dtype == KT_PACK_BF16T) /* the pairs of whole blocks (the AMX kernel reads them all) */
        return kt_arena_round(bf16t_blocks((size_t)cin) * VQ_QUADS * Ls);
    if (dtype == KT_PACK_I8Q) /* the quads of whole blocks (the AMX kernel reads them all), the block scales */
        return kt_arena_round(i8q_blocks((size_t)cin) * VQ_QUADS * Ls) + kt_arena_round(i8q_blocks((size_t)cin));
    return 0;
}

size_t kt_conv_input_scratch(const kt_conv1d *c, const kt_packed *wp, int L)
{
    return kt_conv_input_form_floats(wp->dtype, c->cin, kt_conv_pad_len(c, L));
}

size_t kt_conv1d_packed_scratch(const kt_conv1d *c, int L)
{
    size_t Ls = kt_conv_pad_len(c, L), bf = kt_conv_input_form_floats(KT_PACK_BF16X2, c->cin, Ls);
    size_t q8 = kt_conv_input_form_floats(KT_PACK_I8Q, c->cin, Ls);
    size_t bt = kt_conv_input_form_floats(KT_PACK_BF16T, c->cin, Ls);
    bf = bf > q8 ? bf : q8;
    return kt_arena_round((size_t)c->cin * Ls) + (bf > bt ? bf : bt);
}

/* ---- micro-kernels: C[8, NR] = (load ? C : 0) + bias8 + A-panel . B-rows -------------- */

typedef void (*kern_fn)(const float *A, const float *B, size_t ldb, int nci, int k, int dil, float *C, size_t ldc,
                        int load, const float *bias8);

static void kern_generic(const float *A, const float *B, size_t ldb, int nci, int k, int dil, float *C, size_t ldc,
                         int load, const float *bias8)
{
    float acc[MR][8];
    for (int r = 0; r < MR; r++)
        for (int t = 0; t < 8; t++)
            acc[r][t] = (load ? C[r * ldc + t] : 0.0f) + (bias8 ? bias8[r] : 0.0f);
    for (int ci = 0; ci < nci; ci++)
        for (int j = 0; j < k; j++, A += MR) {
            const float *bp = B + (size_t)ci * ldb + (size_t)j * dil;
            for (int r = 0; r < MR; r++)
                for (int t = 0; t < 8; t++)
                    acc[r][t] += A[r] * bp[t];
        }
    for (int r = 0; r < MR; r++)
        for (int t = 0; t < 8; t++)
            C[r * ldc + t] = acc[r][t];
}

/* CALL with `taps` equal to k, a constant the compiler sees for 1, 2 and 3 taps (the point products
 * of Winograd and FFT, the linears, kernel-3 convs): the kernels' loop over taps unrolled for
 * them, the same operations in the same order. */
#define WITH_TAPS(k, CALL)                                                                                     \
    do {                                                                                                       \
        if ((k) == 1) {                                                                                        \
            const int taps = 1;                                                                                \
            CALL;                                                                                              \
        } else if ((k) == 2) {                                                                                 \
            const int taps = 2;                                                                                \
            CALL;                                                                                              \
        } else if ((k) == 3) {                                                                                 \
            const int taps = 3;                                                                                \
            CALL;                                                                                              \
        } else {                                                                                               \
            const int taps = (k);                                                                              \
            CALL;                                                                                              \
        }                                                                                                      \
    } while (0)

#if KT_X86 && defined(__GNUC__)
/* 4 rows x 24 columns per pass (12 accumulators), two passes for the 8-row panel. */
__attribute__((target("avx2,fma"), always_inline)) static inline void kern_avx2_half_k(const float *A, const float *B,
                                                                                    size_t ldb, int nci, int k, int dil,
                                                                                    float *C, size_t ldc, int load,
                                                                                    const float *bias4)
{
    __m256 c[4][3];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
        __m256 b0 = _mm256_set1_ps(bias4 ? bias4[r] : 0.0f);
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++)
            c[r][v] = load ? _mm256_add_ps(_mm256_loadu_ps(C + r * ldc + 8 * v), b0) : b0;
    }
    for (int ci = 0; ci < nci; ci++) {
        const float *b0 = B + (size_t)ci * ldb;
        for (int j = 0; j < k; j++, A += MR) {
            const float *bp = b0 + (size_t)j * dil;
            __m256 x0 = _mm256_loadu_ps(bp), x1 = _mm256_loadu_ps(bp + 8), x2 = _mm256_loadu_ps(bp + 16);
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                __m256 a = _mm256_broadcast_ss(A + r);
                c[r][0] = _mm256_fmadd_ps(a, x0, c[r][0]);
                c[r][1] = _mm256_fmadd_ps(a, x1, c[r][1]);
                c[r][2] = _mm256_fmadd_ps(a, x2, c[r][2]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++)
            _mm256_storeu_ps(C + r * ldc + 8 * v, c[r][v]);
}

/* kern_avx2_half_k with the tap count known to the compiler for 1, 2 and 3 taps (WITH_TAPS). */
__attribute__((target("avx2,fma"))) static void kern_avx2_half(const float *A, const float *B, size_t ldb, int nci,
                                                               int k, int dil, float *C, size_t ldc, int load,
                                                               const float *bias4)
{
    WITH_TAPS(k, kern_avx2_half_k(A, B, ldb, nci, taps, dil, C, ldc, load, bias4));
}

static void kern_avx2(const float *A, const float *B, size_t ldb, int nci, int k, int dil, float *C, size_t ldc,
                      int load, const float *bias8)
{
    kern_avx2_half(A, B, ldb, nci, k, dil, C, ldc, load, bias8);
    kern_avx2_half(A + 4, B, ldb, nci, k, dil, C + 4 * ldc, ldc, load, bias8 ? bias8 + 4 : NULL);
}

/* 8 rows x (16 V + 8 Y) columns: V zmm and Y (0 or 1) ymm accumulators per row. Every output
 * element gets the same FMAs in the same order whatever the width, so narrow tiles give the bytes
 * of full ones; a ymm costs half a zmm where AVX-512 runs at the AVX2 rate, as much where it runs
 * at twice it, so 24 columns as one zmm and one ymm is the cheapest on both. */
__attribute__((target("avx512f,fma"), always_inline)) static inline void
kern_avx512_v(const float *A, const float *B, size_t ldb, int nci, int k, int dil, float *C, size_t ldc, int load,
              const float *bias8, const int V, const int Y)
{
    __m512 c[MR][3];
    __m256 h[MR];
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
        __m512 b0 = _mm512_set1_ps(bias8 ? bias8[r] : 0.0f);
#pragma GCC unroll 3
        for (int v = 0; v < V; v++)
            c[r][v] = load ? _mm512_add_ps(_mm512_loadu_ps(C + r * ldc + 16 * v), b0) : b0;
        if (Y)
            h[r] = load ? _mm256_add_ps(_mm256_loadu_ps(C + r * ldc + 16 * V), _mm512_castps512_ps256(b0))
                        : _mm512_castps512_ps256(b0);
    }
    for (int ci = 0; ci < nci; ci++) {
        const float *b0 = B + (size_t)ci * ldb;
#pragma GCC unroll 3
        for (int v = 0; v < V; v++) /* rows past B's end: a prefetch never faults (an integer address) */
            _mm_prefetch((const char *)((uintptr_t)b0 + sizeof(float) * (B_AHEAD * ldb + 16 * (size_t)v)),
                         _MM_HINT_T0);
        for (int j = 0; j < k; j++, A += MR) {
            const float *bp = b0 + (size_t)j * dil;
            __m512 x[3];
            __m256 xh = _mm256_setzero_ps();
#pragma GCC unroll 3
            for (int v = 0; v < V; v++)
                x[v] = _mm512_loadu_ps(bp + 16 * v);
            if (Y)
                xh = _mm256_loadu_ps(bp + 16 * V);
#pragma GCC unroll 8
            for (int r = 0; r < MR; r++) {
                __m512 a = _mm512_set1_ps(A[r]);
#pragma GCC unroll 3
                for (int v = 0; v < V; v++)
                    c[r][v] = _mm512_fmadd_ps(a, x[v], c[r][v]);
                if (Y)
                    h[r] = _mm256_fmadd_ps(_mm512_castps512_ps256(a), xh, h[r]);
            }
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
#pragma GCC unroll 3
        for (int v = 0; v < V; v++)
            _mm512_storeu_ps(C + r * ldc + 16 * v, c[r][v]);
        if (Y)
            _mm256_storeu_ps(C + r * ldc + 16 * V, h[r]);
    }
}

/* Partial tiles of at most 8, 16, 24 and 32 columns. */
#define KERN_NARROW(name, V, Y)                                                                          \
    __attribute__((target("avx512f,fma"))) static void name(const float *A, const float *B, size_t ldb,  \
                                                            int nci, int k, int dil, float *C, size_t ldc, \
                                                            int load, const float *bias8)              \
    {                                                                                                    \
        kern_avx512_v(A, B, ldb, nci, k, dil, C, ldc, load, bias8, V, Y);                                \
    }
KERN_NARROW(kern_avx512_8, 0, 1)
KERN_NARROW(kern_avx512_16, 1, 0)
KERN_NARROW(kern_avx512_24, 1, 1)
KERN_NARROW(kern_avx512_32, 2, 0)

/* 8 rows x 48 columns (24 zmm accumulators). */
__attribute__((target("avx512f,fma"))) static void kern_avx512(const float *A, const float *B, size_t ldb, int nci,
                                                               int k, int dil, float *C, size_t ldc, int load,
                                                               const float *bias8)
{
    WITH_TAPS(k, kern_avx512_v(A, B, ldb, nci, taps, dil, C, ldc, load, bias8, 3, 0));
}

/* ---- columns that leave a column tile partly empty ----
 * 67 output columns fill 48 + 24 lanes of the column kernels, 37 fill 48: up to a third of the
 * FMAs' lanes idle on the decoder's few columns. The rows kernel puts the vector along the output
 * channels instead: ROWS_G packed row tiles (32 rows, each row tile's weights [kk][MR] as packed)
 * by N <= ROWS_NC columns, each column's 32 rows in two zmm accumulators and every input value
 * broadcast. Each element gets the same FMAs in the same order as in kern_avx512_v (its bias, or
 * C plus its bias, then one FMA per kk), so it gives the same bytes, with no lane idle whatever
 * the column count. C is written (and read, when load) through a transposing buffer. */

/* The zmm of lo[0 .. 8) and hi[0 .. 8). */
__attribute__((target("avx512f"), always_inline)) static inline __m512 two_halves(const float *lo, const float *hi)
{
    __m512d v = _mm512_castpd256_pd512(_mm256_castps_pd(_mm256_loadu_ps(lo)));
    return _mm512_castpd_ps(_mm512_insertf64x4(v, _mm256_castps_pd(_mm256_loadu_ps(hi)), 1));
}

/* The rows kernel's body as NAME(..., N) with the target attribute ATTR: X(p) is the vector of
 * one input value (or bf16 pair) at p, MADD(c, a, x) its accumulation into c with the weights a. */
#define KERN_ROWS_BODY(NAME, ATTR, X, MADD)                                                                     \
    __attribute__((target(ATTR), always_inline)) static inline void NAME(                                       \
        const float *A, size_t lda, const float *B, size_t ldb, int nci, int k, int dil, float *C, size_t ldc,  \
        int rows, int load, const float *bias, const int N)                                                     \
    {                                                                                                           \
        float buf[ROWS_NC][ROWS_G * MR];                                                                        \
        __m512 c[ROWS_NC][2];                                                                                   \
        if (load)                                                                                               \
            for (int r = 0; r < ROWS_G * MR; r++)                                                               \
                for (int t = 0; t < N; t++)                                                                     \
                    buf[t][r] = r < rows ? C[(size_t)r * ldc + (size_t)t] : 0.0f;                               \
        __m512 b0 = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();                                         \
        __m512 b1 = bias ? _mm512_loadu_ps(bias + 16) : _mm512_setzero_ps();                                    \
        _Pragma("GCC unroll 12") for (int t = 0; t < N; t++)                                                    \
        {                                                                                                       \
            c[t][0] = load ? _mm512_add_ps(_mm512_loadu_ps(buf[t]), b0) : b0;                                   \
            c[t][1] = load ? _mm512_add_ps(_mm512_loadu_ps(buf[t] + 16), b1) : b1;                              \
        }                                                                                                       \
        const float *A0 = A, *A1 = A + lda, *A2 = A + 2 * lda, *A3 = A + 3 * lda;                               \
        for (int ci = 0; ci < nci; ci++) {                                                                      \
            const float *bc = B + (size_t)ci * ldb;                                                             \
            _mm_prefetch((const char *)((uintptr_t)A0 + ROWS_A_AHEAD), _MM_HINT_T0);                            \
            _mm_prefetch((const char *)((uintptr_t)A1 + ROWS_A_AHEAD), _MM_HINT_T0);                            \
            _mm_prefetch((const char *)((uintptr_t)A2 + ROWS_A_AHEAD), _MM_HINT_T0);                            \
            _mm_prefetch((const char *)((uintptr_t)A3 + ROWS_A_AHEAD), _MM_HINT_T0);                            \
            for (int j = 0; j < k; j++, A0 += MR, A1 += MR, A2 += MR, A3 += MR) {                               \
                const float *bp = bc + (size_t)j * dil;                                                         \
                __m512 a0 = two_halves(A0, A1), a1 = two_halves(A2, A3);                                        \
                _Pragma("GCC unroll 12") for (int t = 0; t < N; t++)                                            \
                {                                                                                               \
                    c[t][0] = MADD(c[t][0], a0, X(bp + t));                                                     \
                    c[t][1] = MADD(c[t][1], a1, X(bp + t));                                                     \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
        _Pragma("GCC unroll 12") for (int t = 0; t < N; t++)                                                    \
        {                                                                                                       \
            _mm512_storeu_ps(buf[t], c[t][0]);                                                                  \
            _mm512_storeu_ps(buf[t] + 16, c[t][1]);                                                             \
        }                                                                                                       \
        for (int r = 0; r < rows; r++)                                                                          \
            for (int t = 0; t < N; t++)                                                                         \
                C[(size_t)r * ldc + (size_t)t] = buf[t][r];                                                     \
    }

#define ROWS_X_F32(p) _mm512_set1_ps(*(p))
#define ROWS_MADD_F32(c, a, x) _mm512_fmadd_ps(a, x, c)
/* a bf16 pair: the 32-bit word at p; vdpbf16ps adds both products of each lane's pairs to it */
#define ROWS_X_BF16(p) _mm512_castsi512_ps(_mm512_set1_epi32(*(const int32_t *)(const void *)(p)))
#define ROWS_MADD_BF16(c, a, x) _mm512_dpbf16_ps(c, (__m512bh)(a), (__m512bh)(x))
KERN_ROWS_BODY(kern_rows_n, "avx512f,fma", ROWS_X_F32, ROWS_MADD_F32)
KERN_ROWS_BODY(kern_rows_bf16_n, "avx512f,avx512bf16", ROWS_X_BF16, ROWS_MADD_BF16)

typedef void (*kern_rows_fn)(const float *A, size_t lda, const float *B, size_t ldb, int nci, int k, int dil,
                             float *C, size_t ldc, int rows, int load, const float *bias);
#define KERN_ROWS(N)                                                                                           \
    __attribute__((target("avx512f,fma"))) static void kern_rows_##N(                                          \
        const float *A, size_t lda, const float *B, size_t ldb, int nci, int k, int dil, float *C, size_t ldc, \
        int rows, int load, const float *bias)                                                                 \
    {                                                                                                          \
        kern_rows_n(A, lda, B, ldb, nci, k, dil, C, ldc, rows, load, bias, N);                                 \
    }                                                                                                          \
    __attribute__((target("avx512f,avx512bf16"))) static void kern_rows_bf16_##N(                              \
        const float *A, size_t lda, const float *B, size_t ldb, int nci, int k, int dil, float *C, size_t ldc, \
        int rows, int load, const float *bias)                                                                 \
    {                                                                                                          \
        kern_rows_bf16_n(A, lda, B, ldb, nci, k, dil, C, ldc, rows, load, bias, N);                            \
    }
KERN_ROWS(1)
KERN_ROWS(2)
KERN_ROWS(3)
KERN_ROWS(4)
KERN_ROWS(5)
KERN_ROWS(6)
KERN_ROWS(7)
KERN_ROWS(8)
KERN_ROWS(9)
KERN_ROWS(10)
KERN_ROWS(11)
KERN_ROWS(12)
/* [0]: float32, [1]: bf16 pairs; index N - 1 */
static const kern_rows_fn KERN_ROWS_N[2][ROWS_NC] = {
    {kern_rows_1, kern_rows_2, kern_rows_3, kern_rows_4, kern_rows_5, kern_rows_6, kern_rows_7, kern_rows_8,
     kern_rows_9, kern_rows_10, kern_rows_11, kern_rows_12},
    {kern_rows_bf16_1, kern_rows_bf16_2, kern_rows_bf16_3, kern_rows_bf16_4, kern_rows_bf16_5, kern_rows_bf16_6,
     kern_rows_bf16_7, kern_rows_bf16_8, kern_rows_bf16_9, kern_rows_bf16_10, kern_rows_bf16_11, kern_rows_bf16_12}};

#endif

#if KT_X86 && defined(__GNUC__)
/* bfloat16 pairs: A and B hold 32-bit words (two bf16 each); nci counts channel pairs. */
__attribute__((target("avx512f,avx512bf16"), always_inline)) static inline void kern_bf16_k(
    const float *Af, const float *Bf, size_t ldb, int nci, int k, int dil, float *C, size_t ldc, int load,
    const float *bias8)
{
    const uint32_t *A = (const uint32_t *)(const void *)Af, *B = (const uint32_t *)(const void *)Bf;
    __m512 c[MR][3];
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
        __m512 b0 = _mm512_set1_ps(bias8 ? bias8[r] : 0.0f);
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++)
            c[r][v] = load ? _mm512_add_ps(_mm512_loadu_ps(C + r * ldc + 16 * v), b0) : b0;
    }
    for (int ci = 0; ci < nci; ci++) {
        const uint32_t *b0 = B + (size_t)ci * ldb;
        for (int j = 0; j < k; j++, A += MR) {
            const uint32_t *bp = b0 + (size_t)j * dil;
            __m512bh x0 = (__m512bh)_mm512_loadu_si512(bp), x1 = (__m512bh)_mm512_loadu_si512(bp + 16);
            __m512bh x2 = (__m512bh)_mm512_loadu_si512(bp + 32);
#pragma GCC unroll 8
            for (int r = 0; r < MR; r++) {
                __m512bh a = (__m512bh)_mm512_set1_epi32((int)A[r]);
                c[r][0] = _mm512_dpbf16_ps(c[r][0], a, x0);
                c[r][1] = _mm512_dpbf16_ps(c[r][1], a, x1);
                c[r][2] = _mm512_dpbf16_ps(c[r][2], a, x2);
            }
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++)
            _mm512_storeu_ps(C + r * ldc + 16 * v, c[r][v]);
}

/* kern_bf16_k with the tap count known to the compiler for 1, 2 and 3 taps (WITH_TAPS). */
__attribute__((target("avx512f,avx512bf16"))) static void kern_bf16(const float *Af, const float *Bf, size_t ldb,
                                                                   int nci, int k, int dil, float *C, size_t ldc,
                                                                   int load, const float *bias8)
{
    WITH_TAPS(k, kern_bf16_k(Af, Bf, ldb, nci, taps, dil, C, ldc, load, bias8));
}
#endif

/* Columns of the AVX2 kernel's tile. It computes every element as the AVX-512 kernels do (the
 * same FMAs in the same order), so the two give the same bytes. */
#define AVX2_NR 24

static kern_fn kernel_for(int isa, int *nr)
{
#if KT_X86 && defined(__GNUC__)
    if (isa == KT_ISA_AVX512) {
        *nr = 48;
        return kern_avx512;
    }
    if (isa == KT_ISA_AVX2) {
        *nr = AVX2_NR;
        return kern_avx2;
    }
#else
    (void)isa;
#endif
    *nr = 8;
    return kern_generic;
}

/* ---- the direct convolution driver ----------------------------------------------------- */

typedef struct {
    const kt_conv1d *c;
    const kt_packed *wp;
    const float *xp;
    float *xpb; /* bfloat16 channel pairs (KT_PACK_BF16X2) */
    size_t Ls;
    int lo, acc, isa;
    float *y;
    size_t ldy; /* row stride of y (>= lo) */
    kt_claims *cl; /* conv_task's units (conv_units) */
    int mode, ucols; /* conv_units: UNITS_* and the columns of a unit */
    int utiles;      /* UNITS_TILES: the row tiles of a unit */
    int rt;          /* rows of a row tile: MR, or QR for the AMX kernel */
} conv_job;

/* The bias a tile's first pass adds, rows row0 .. row0 + rows (zeros past them), in bias8; NULL
 * when it adds none. */
static const float *tile_bias(const conv_job *jb, int row0, int rows, int first, float *bias8)
{
    if (!first || !jb->c->b)
        return NULL;
    for (int r = 0; r < MR; r++)
        bias8[r] = r < rows ? jb->c->b[row0 + r] : 0.0f;
    return bias8;
}

/* A partial tile goes through tmp[MR * NR_MAX] (row stride ld): in (what it adds to, zeros
 * elsewhere), only when the kernel accumulates (else it writes every element), and back out
 * to C. */
static void tile_in(float *tmp, int ld, const float *C, size_t ldy, int rows, int cols)
{
    memset(tmp, 0, sizeof(float) * MR * NR_MAX);
    for (int r = 0; r < rows; r++)
        memcpy(tmp + r * ld, C + (size_t)r * ldy, sizeof(float) * (size_t)cols);
}

static void tile_out(float *C, size_t ldy, const float *tmp, int ld, int rows, int cols)
{
    for (int r = 0; r < rows; r++)
        memcpy(C + (size_t)r * ldy, tmp + r * ld, sizeof(float) * (size_t)cols);
}

/* One tile of rows x cols at (row0, t0); partial tiles go through a local buffer. */
static void conv_tile(kern_fn kern, int nr, const conv_job *jb, const float *A, const float *B, int nci, int row0,
                      int t0, int cols, int first)
{
    const kt_conv1d *c = jb->c;
    int rows = c->cout - row0 < MR ? c->cout - row0 : MR, load = first ? jb->acc : 1;
    float bias8[MR], *C = jb->y + (size_t)row0 * jb->ldy + t0, tmp[MR * NR_MAX];
    const float *bp = tile_bias(jb, row0, rows, first, bias8);
    if (rows == MR && cols == nr) {
        kern(A, B, jb->Ls, nci, c->k, c->dil, C, jb->ldy, load, bp);
        return;
    }
    if (load)
        tile_in(tmp, nr, C, jb->ldy, rows, cols);
    kern(A, B, jb->Ls, nci, c->k, c->dil, tmp, (size_t)nr, load, bp);
    tile_out(C, jb->ldy, tmp, nr, rows, cols);
}

#if KT_X86 && defined(__GNUC__)
/* The kernel for a partial float32 AVX-512 tile of cols <= 32 columns: the narrowest that covers
 * it (8 to 32 columns in steps of 8), its width in *nr. */
static kern_fn narrow_kernel(int cols, int *nr)
{
    static const kern_fn narrow[4] = {kern_avx512_8, kern_avx512_16, kern_avx512_24, kern_avx512_32};
    int w = (cols + 7) / 8;
    *nr = 8 * w;
    return narrow[w - 1];
}
#endif

/* out[0 .. n*MR) = the packed weight values kk0 .. kk0+n of row tile mt (K = cin * k), as float32. */
static void decode_block(const kt_packed *p, size_t mt, size_t K, int k, size_t kk0, size_t n, float *out)
{
    size_t base = (mt * K + kk0) * MR, m = n * MR;
    if (p->dtype == KT_PACK_I8Q) { /* byte ch % 4 of the word of row mt * MR + r, quad ch / 4, tap j */
        const uint8_t *q = (const uint8_t *)p->codes;
        size_t nb = i8q_blocks(K / (size_t)k);
        const float *sc = p->scales + mt * MR;
        for (size_t i = 0; i < n; i++) {
            size_t ch = (kk0 + i) / (size_t)k, j = (kk0 + i) % (size_t)k;
            for (int r = 0; r < MR; r++)
                out[i * MR + r] = (float)(int8_t)q[i8q_word(nb, k, mt * MR + (size_t)r, ch / 4, (int)j) * 4 + ch % 4] *
                                  sc[r];
        }
    } else if (p->dtype == KT_PACK_BF16T) { /* half ch % 2 of the word of row mt * MR + r, pair ch / 2, tap j */
        const uint32_t *w = (const uint32_t *)p->codes;
        size_t nb = bf16t_blocks(K / (size_t)k);
        for (size_t i = 0; i < n; i++) {
            size_t ch = (kk0 + i) / (size_t)k, j = (kk0 + i) % (size_t)k;
            for (int r = 0; r < MR; r++) {
                uint32_t b = (w[i8q_word(nb, k, mt * MR + (size_t)r, ch / 2, (int)j)] >> (16 * (ch % 2))) << 16;
                memcpy(out + i * MR + r, &b, 4);
            }
        }
    } else if (p->dtype == KT_PACK_BF16) {
        const uint16_t *u = (const uint16_t *)p->codes + base;
        for (size_t i = 0; i < m; i++) {
            uint32_t b = (uint32_t)u[i] << 16;
            memcpy(out + i, &b, 4);
        }
    } else if (p->dtype == KT_PACK_F16) {
        const uint16_t *u = (const uint16_t *)p->codes + base;
        for (size_t i = 0; i < m; i++)
            out[i] = kt_f16_to_f32(u[i]);
    } else if (p->dtype == KT_PACK_I4) {
        const uint8_t *q = (const uint8_t *)p->codes;
        size_t ng = (K + (size_t)p->group - 1) / (size_t)p->group;
        for (size_t i = 0; i < n; i++) {
            const float *sc = p->scales + (mt * ng + (kk0 + i) / (size_t)p->group) * MR;
            for (int r = 0; r < MR; r++) {
                size_t e = base + i * MR + (size_t)r;
                int v = (int)((q[e / 2] >> (e % 2 * 4)) & 0xFu);
                out[i * MR + r] = (float)((v ^ 8) - 8) * sc[r];
            }
        }
    } else {
        const int8_t *q = (const int8_t *)p->codes + base;
        size_t ng = (K + (size_t)p->group - 1) / (size_t)p->group;
        for (size_t i = 0; i < n; i++) {
            const float *sc = p->scales + (mt * ng + (kk0 + i) / (size_t)p->group) * MR;
            for (int r = 0; r < MR; r++)
                out[i * MR + r] = (float)q[i * MR + r] * sc[r];
        }
    }
}

#if KT_X86 && defined(__GNUC__)
__attribute__((target("avx512f,f16c"))) static void decode_block_avx512(const kt_packed *p, size_t mt, size_t K,
                                                                       int k, size_t kk0, size_t n, float *out)
{
    size_t base = (mt * K + kk0) * MR, m = n * MR, i = 0;
    if (p->dtype == KT_PACK_I8Q || p->dtype == KT_PACK_BF16T) {
        decode_block(p, mt, K, k, kk0, n, out);
        return;
    }
    if (p->dtype == KT_PACK_BF16) {
        const uint16_t *u = (const uint16_t *)p->codes + base;
        for (; i + 16 <= m; i += 16) {
            __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(u + i)));
            _mm512_storeu_ps(out + i, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
        }
    } else if (p->dtype == KT_PACK_F16) {
        const uint16_t *u = (const uint16_t *)p->codes + base;
        for (; i + 16 <= m; i += 16)
            _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(u + i))));
    } else {
        const int8_t *q = (const int8_t *)p->codes + base;
        const uint8_t *q4 = (const uint8_t *)p->codes + base / 2; /* base: a multiple of MR */
        size_t ng = (K + (size_t)p->group - 1) / (size_t)p->group, g = (size_t)p->group;
        const __m128i lo4 = _mm_set1_epi8(0x0F), sign = _mm_set1_epi8(8);
        for (; i + 16 <= m; i += 16) {
            size_t kk = kk0 + i / MR;
            __m256 s0 = _mm256_loadu_ps(p->scales + (mt * ng + kk / g) * MR);
            __m256 s1 = _mm256_loadu_ps(p->scales + (mt * ng + (kk + 1) / g) * MR);
            __m512 sc = _mm512_castpd_ps(
                _mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(s0)), _mm256_castps_pd(s1), 1));
            __m128i b;
            if (p->dtype == KT_PACK_I4) { /* 8 bytes -> 16 signed nibbles, low nibble first */
                __m128i raw = _mm_loadl_epi64((const __m128i *)(const void *)(q4 + i / 2));
                b = _mm_unpacklo_epi8(_mm_and_si128(raw, lo4), _mm_and_si128(_mm_srli_epi16(raw, 4), lo4));
                b = _mm_sub_epi8(_mm_xor_si128(b, sign), sign);
            } else
                b = _mm_loadu_si128((const __m128i *)(const void *)(q + i));
            __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b));
            _mm512_storeu_ps(out + i, _mm512_mul_ps(v, sc));
        }
    }
    if (i < m) /* an odd number of kk: the last 8 values */
        decode_block(p, mt, K, k, kk0 + i / MR, (m - i) / MR, out + i);
}
#endif

#if KT_X86 && defined(__GNUC__)
/* Columns t0 .. t1 of the row tiles mg .. mg + ROWS_G (or to the last row) for the input channel
 * block ci0 .. ci0 + nci on the rows kernel, in runs of at most ROWS_NC columns as even as they
 * can be (fewer accumulators than 8 would wait on the FMA latency). */
static void rows_part(const conv_job *jb, int mg, size_t K, int ci0, int nci, int t0, int t1)
{
    const kt_conv1d *c = jb->c;
    int row0 = mg * MR, rows = c->cout - row0 < ROWS_G * MR ? c->cout - row0 : ROWS_G * MR;
    int first = ci0 == 0, load = first ? jb->acc : 1, n = t1 - t0, runs = (n + ROWS_NC - 1) / ROWS_NC;
    float bias[ROWS_G * MR];
    const float *bp = NULL;
    if (first && c->b) {
        for (int r = 0; r < ROWS_G * MR; r++)
            bias[r] = r < rows ? c->b[row0 + r] : 0.0f;
        bp = bias;
    }
    const float *A = (const float *)jb->wp->codes + ((size_t)mg * K + (size_t)ci0 * c->k) * MR;
    int bf = jb->wp->dtype == KT_PACK_BF16X2;
    const float *xp = bf ? jb->xpb : jb->xp;
    for (int p = 0, t = t0; p < runs; p++) {
        int w = n * (p + 1) / runs - n * p / runs;
        KERN_ROWS_N[bf][w - 1](A, K * MR, xp + (size_t)ci0 * jb->Ls + t, jb->Ls, nci, c->k, c->dil,
                               jb->y + (size_t)row0 * jb->ldy + t, jb->ldy, rows, load, bp);
        t += w;
    }
}
#endif

/* The row tiles m0 .. m1 of the conv, output columns c0 .. c1 (c0 a multiple of the kernel's
 * tile width: every column gets the same sums in the same order whatever the range). */
static void conv_part(const conv_job *jb, int m0, int m1, int c0, int c1)
{
    const kt_conv1d *c = jb->c;
    int nr, nmt = (c->cout + MR - 1) / MR;
    kern_fn kern = kernel_for(jb->isa, &nr);
    int bf = jb->wp->dtype == KT_PACK_BF16X2, nch = bf ? (c->cin + 1) / 2 : c->cin;
#if KT_X86 && defined(__GNUC__)
    int narrow = !bf && kern == kern_avx512; /* partial float32 AVX-512 tiles on a narrower kernel */
    if (bf)
        kern = kern_bf16;
#endif
    const float *xp = bf ? jb->xpb : jb->xp;
    size_t K = (size_t)nch * c->k;
    /* input channels per block: with several time blocks, all row tiles' weights of a block
     * stay in L2 for the next time block (A_BUDGET); with one, nothing is read twice, and
     * longer blocks store and reload the output tiles less often */
    int ts_len = nr * T_SUPER;
    int kc = jb->lo <= ts_len ? KK_MAX / c->k : (int)(A_BUDGET / ((size_t)nmt * MR * c->k));
    if (kc > KK_MAX / c->k)
        kc = KK_MAX / c->k;
    /* one time block (few columns: the decoder, the predictor) whose whole input fits in L2: all
     * input channels in one block, so that each row tile's weights are one front-to-back stream
     * instead of pieces KK_MAX apart (the same sums in the same order either way) */
    if (jb->lo <= ts_len && (jb->wp->dtype == KT_PACK_F32 || bf) &&
        (size_t)nch * (size_t)(jb->lo + (c->k - 1) * c->dil) <= B_BUDGET)
        kc = nch;
    if (kc < 1)
        kc = 1;
    if (kc > nch)
        kc = nch;
    float abuf[MR * KK_MAX];
    for (int ts = c0; ts < c1; ts += ts_len) {
        int te = c1 - ts < ts_len ? c1 : ts + ts_len;
        /* a partly empty last column tile: its columns tr .. te of the row tiles m0 .. mg1 go to
         * the rows kernel (float32 weights on AVX-512, or bf16 pairs) */
        int tr = te, mg1 = m0;
#if KT_X86 && defined(__GNUC__)
        if (((narrow && jb->wp->dtype == KT_PACK_F32) || bf) && (te - ts) % nr) {
            tr = ts + (te - ts) / nr * nr;
            mg1 = m0 + (m1 - m0) / ROWS_G * ROWS_G;
        }
#endif
        for (int ci0 = 0; ci0 < nch; ci0 += kc) {
            int nci = nch - ci0 < kc ? nch - ci0 : kc;
#if KT_X86 && defined(__GNUC__)
            for (int mg = m0; mg < mg1; mg += ROWS_G)
                rows_part(jb, mg, K, ci0, nci, tr, te);
#endif
            for (int mt = m0; mt < m1; mt++) {
                const float *A = (const float *)jb->wp->codes + ((size_t)mt * K + (size_t)ci0 * c->k) * MR;
                if (jb->wp->dtype != KT_PACK_F32 && !bf) {
#if KT_X86 && defined(__GNUC__)
                    if (jb->isa == KT_ISA_AVX512)
                        decode_block_avx512(jb->wp, (size_t)mt, K, c->k, (size_t)ci0 * c->k, (size_t)nci * c->k,
                                            abuf);
                    else
#endif
                        decode_block(jb->wp, (size_t)mt, K, c->k, (size_t)ci0 * c->k, (size_t)nci * c->k, abuf);
                    A = abuf;
                }
                for (int t0 = ts, tend = mt < mg1 ? tr : te; t0 < tend; t0 += nr) {
                    int cols = te - t0 < nr ? te - t0 : nr;
                    const float *B = xp + (size_t)ci0 * jb->Ls + t0;
                    kern_fn tk = kern;
                    int tw = nr;
#if KT_X86 && defined(__GNUC__)
                    if (narrow && cols <= 32) /* a narrow last tile: less work, same bytes */
                        tk = narrow_kernel(cols, &tw);
#endif
                    conv_tile(tk, tw, jb, A, B, nci, mt * MR, t0, cols, ci0 == 0);
                }
            }
        }
    }
}

static void conv_rows(const conv_job *jb, int m0, int m1) { conv_part(jb, m0, m1, 0, jb->lo); }

/* How a conv's work is cut into units for n threads, with column tiles nr wide (sets jb->mode
 * and jb->ucols, returns the number of units):
 * UNITS_TILES: one time block of few columns (the decoder, the predictor): a unit is a row tile.
 * UNITS_BLOCKS: many columns: thread p's share is its rows (the row tiles nmt * p / n ..) in
 *   time blocks of jb->ucols columns, so that its weights stay in its cache from block to block;
 *   unit u is block u % nb of share u / nb.
 * UNITS_COLUMNS: fewer than two row tiles per thread (conv_post's 22 rows, a projection's one):
 *   a unit is jb->ucols columns of every row.
 * One thread: one unit, the whole conv. */
enum { UNITS_TILES, UNITS_BLOCKS, UNITS_COLUMNS };
#define UNITS_MIN 8 /* time blocks a thread's share is cut into at least (when its columns allow) */

static int units_for(conv_job *jb, int n, int nr)
{
    int nmt = (jb->c->cout + jb->rt - 1) / jb->rt, ntile = (jb->lo + nr - 1) / nr;
    if (n == 1) { /* one unit: the whole conv */
        jb->mode = UNITS_BLOCKS;
        jb->ucols = jb->lo;
        return 1;
    }
    if (nmt < 2 * n && ntile >= 2 * n) {
        int t = ntile / (4 * n); /* at least four units per thread when the columns allow */
        jb->mode = UNITS_COLUMNS;
        jb->ucols = nr * (t < 1 ? 1 : t > T_SUPER ? T_SUPER : t);
        return (jb->lo + jb->ucols - 1) / jb->ucols;
    }
    if (jb->lo <= nr * T_SUPER) { /* groups of ROWS_G row tiles for the rows kernel, when there are enough */
        jb->mode = UNITS_TILES;
        jb->utiles = nmt >= 4 * ROWS_G * n ? ROWS_G : 1;
        return (nmt + jb->utiles - 1) / jb->utiles;
    }
    int t = T_SUPER; /* blocks of T_SUPER tiles, halved while a share has fewer than UNITS_MIN */
    while (t > 1 && (ntile + t - 1) / t < UNITS_MIN)
        t /= 2;
    jb->mode = UNITS_BLOCKS;
    jb->ucols = nr * t;
    return n * ((jb->lo + jb->ucols - 1) / jb->ucols);
}

/* jb's units for the threads of ex's runs, shared out by jb->cl (kt_claims). */
static void conv_units(const kt_exec *ex, conv_job *jb, int nr)
{
    kt_claims_init(jb->cl, units_for(jb, run_threads(ex), nr), ex);
}

/* The row tiles m[0] .. m[1] and columns c[0] .. c[1] of unit u of n threads (conv_units). */
static void unit_span(const conv_job *jb, int u, int n, int m[2], int c[2])
{
    int nmt = (jb->c->cout + jb->rt - 1) / jb->rt;
    if (jb->mode == UNITS_TILES) {
        m[0] = u * jb->utiles, m[1] = m[0] + jb->utiles < nmt ? m[0] + jb->utiles : nmt, c[0] = 0, c[1] = jb->lo;
        return;
    }
    int nb = (jb->lo + jb->ucols - 1) / jb->ucols, b = jb->mode == UNITS_COLUMNS ? u : u % nb;
    c[0] = b * jb->ucols;
    c[1] = c[0] + jb->ucols < jb->lo ? c[0] + jb->ucols : jb->lo;
    m[0] = jb->mode == UNITS_COLUMNS ? 0 : nmt * (u / nb) / n;
    m[1] = jb->mode == UNITS_COLUMNS ? nmt : nmt * (u / nb + 1) / n;
}

/* Thread tid of n: the units it takes (conv_units). */
static void conv_task(void *p, int tid, int n)
{
    const conv_job *jb = p;
    int m[2], c[2];
    for (int u; (u = kt_claims_take(jb->cl, tid)) >= 0;) {
        unit_span(jb, u, n, m, c);
        conv_part(jb, m[0], m[1], c[0], c[1]);
    }
}

void kt_conv1d_padded_tiles(int isa, const kt_conv1d *c, const kt_packed *wp, const float *xp, size_t Ls, int L,
                            float *y, size_t ldy, int accumulate, int mt0, int mt1)
{
    float *pairs = wp->dtype == KT_PACK_BF16X2 ? (float *)(uintptr_t)xp : NULL; /* only read */
    conv_job jb = {c, wp, xp, pairs, Ls, kt_conv1d_out_len(c, L), accumulate, isa, y, ldy, NULL, 0, 0, 1, MR};
    if (jb.lo > 0 && mt1 > mt0)
        conv_rows(&jb, mt0, mt1);
}

/* ---- a linear layer as a k = 1 convolution with the roles swapped ----------------------
 * y[n, out] = x[n, in] . w^T is the convolution whose "weights" are x (n output channels,
 * in input channels, one tap) over the "signal" w transposed (in rows, out columns): the n
 * rows of x are packed into row tiles like a conv weight, and the out features run along
 * the direct kernel's columns, 48 at a time, so a few rows still fill its tiles. The signal
 * is stored as panels of 48 columns, wt[p][i][c] = w[48 p + c, i], each read front to back
 * by one kernel call (one stream instead of one per row). */

#define LT_COLS NR_MAX

size_t kt_linear_t_size(int out, int in) { return (size_t)((out + LT_COLS - 1) / LT_COLS) * LT_COLS * (size_t)in; }

size_t kt_linear_t_scratch(int n, int in) { return kt_conv_pack_size(n, in, 1); }

void kt_linear_t_panels(const float *w, int out, int in, int p0, int p1, float *wt)
{
#if KT_X86 && defined(__GNUC__)
    int vec = have_avx2();
#endif
    for (int p = p0; p < p1; p++) {
        float *q = wt + (size_t)p * LT_COLS * in;
        int i0 = 0;
#if KT_X86 && defined(__GNUC__)
        if (vec && (p + 1) * LT_COLS <= out) /* a whole panel: 8 x 8 blocks */
            for (; i0 + 8 <= in; i0 += 8)
                for (int c = 0; c < LT_COLS; c += 8)
                    transpose8(w + (size_t)(p * LT_COLS + c) * in + i0, (size_t)in, NULL, q + (size_t)i0 * LT_COLS + c,
                               LT_COLS);
#endif
        for (int i = i0; i < in; i++)
            for (int c = 0; c < LT_COLS; c++) {
                int o = p * LT_COLS + c;
                q[(size_t)i * LT_COLS + c] = o < out ? w[(size_t)o * in + i] : 0.0f;
            }
    }
}

typedef struct {
    const float *w;
    int out, in;
    float *wt;
} panels_job;

static void panels_part(void *p, size_t p0, size_t p1)
{
    const panels_job *j = p;
    kt_linear_t_panels(j->w, j->out, j->in, (int)p0, (int)p1, j->wt);
}

void kt_linear_t_pack(kt_exec *ex, const float *w, int out, int in, float *wt)
{
    panels_job j = {w, out, in, wt};
    kt_exec_range(ex, (size_t)(out + LT_COLS - 1) / LT_COLS, (size_t)LT_COLS * in, 0, panels_part, &j);
}

typedef struct {
    const kt_conv1d *c;
    const kt_packed *pk;
    const kt_linear_t_item *items;
    int count, panels, isa;
    kt_claims cl; /* the panels */
} linear_t_job;

/* The rows of x packed as row tiles (kt_conv_pack with one tap), the tiles split between the
 * threads: x was mostly written by the threads of the op before, half of it in the other core's
 * cache, and one thread alone would fetch all of it while the others wait. */
typedef struct {
    const float *x;
    int n, in;
    float *xs;
} rows_pack_job;

#define PACK_MIN_WORK (1u << 15) /* floats below which one thread packs alone */

/* Row tiles t0 .. t1: kt_conv_pack of their rows, written where they sit in the whole packing
 * (tiles are contiguous in both layouts). */
static void rows_pack_part(void *p, size_t t0, size_t t1)
{
    const rows_pack_job *j = p;
    int r0 = (int)t0 * MR, r1 = (int)t1 * MR < j->n ? (int)t1 * MR : j->n;
    kt_conv_pack(j->x + (size_t)r0 * j->in, r1 - r0, j->in, 1, j->xs + kt_conv_pack_size(r0, j->in, 1));
}

/* y[r, c] += b[c] for r < rows, c < cols (rows ldy apart). */
static void add_bias_cols(float *restrict y, size_t ldy, int rows, const float *restrict b, int cols)
{
    for (int t = 0; t < rows; t++) {
        float *restrict r = y + (size_t)t * ldy;
        if (cols == LT_COLS)
            for (int c = 0; c < LT_COLS; c++) /* a constant count the compiler vectorizes */
                r[c] += b[c];
        else
            for (int c = 0; c < cols; c++)
                r[c] += b[c];
    }
}

/* Panel q of the concatenated panels of the items: *item and the panel's index within it. */
static const kt_linear_t_item *panel_item(const linear_t_job *j, int q, int *local)
{
    for (int i = 0; i < j->count; i++) {
        int np = (j->items[i].out + LT_COLS - 1) / LT_COLS;
        if (q < np) {
            *local = q;
            return &j->items[i];
        }
        q -= np;
    }
    return NULL;
}

/* The panels of all items this thread takes, every row (a column's sums do not depend on the
 * thread), each panel's bias added to its columns right after. */
static void linear_t_task(void *p, int tid, int n)
{
    linear_t_job *j = p;
    int nmt = (j->c->cout + MR - 1) / MR, rows = j->c->cout;
    (void)n;
    for (int q; (q = kt_claims_take(&j->cl, tid)) >= 0;) {
        int lq = 0;
        const kt_linear_t_item *it = panel_item(j, q, &lq);
        int c0 = lq * LT_COLS, cols = it->out - c0 < LT_COLS ? it->out - c0 : LT_COLS;
        float *y = it->y + c0;
        kt_conv1d_padded_tiles(j->isa, j->c, j->pk, it->wt + (size_t)c0 * j->c->cin, LT_COLS, cols, y,
                               (size_t)it->out, 0, 0, nmt);
        if (it->b)
            add_bias_cols(y, (size_t)it->out, rows, it->b + c0, cols);
    }
}

void kt_linear_t_forward_many(kt_exec *ex, const kt_linear_t_item *items, int count, int in, const float *x, int n,
                              float *scratch)
{
    int panels = 0;
    for (int i = 0; i < count; i++)
        panels += (items[i].out + LT_COLS - 1) / LT_COLS;
    if (n <= 0 || panels <= 0)
        return;
    kt_conv1d c = {NULL, NULL, in, n, 1, 1, 0, 1};
    rows_pack_job pj = {x, n, in, scratch};
    kt_exec_range(ex, ((size_t)n + MR - 1) / MR, (size_t)MR * in, PACK_MIN_WORK, rows_pack_part, &pj);
    kt_packed pk = {KT_PACK_F32, scratch, NULL, 0, NULL};
    linear_t_job j = {&c, &pk, items, count, panels, kt_exec_isa(ex), {0}};
    kt_claims_init(&j.cl, panels, ex);
    kt_exec_run(ex, linear_t_task, &j);
}

void kt_linear_t_forward(kt_exec *ex, const float *wt, int out, int in, const float *x, int n, float *y,
                         float *scratch)
{
    kt_linear_t_item it = {wt, NULL, out, y};
    kt_linear_t_forward_many(ex, &it, 1, in, x, n, scratch);
}

#if KT_X86 && defined(__GNUC__)
/* bf16_bits of 16 floats at once (the same integer rounding). */
__attribute__((target("avx512f"))) static __m512i bf16_bits16(const float *x)
{
    __m512i u = _mm512_castps_si512(_mm512_loadu_ps(x));
    __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    return _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7FFF)), odd), 16);
}

/* o[t] = the pair of x0[t], x1[t] (x1 NULL: zeros) for whole vectors of t < n; returns where they end. */
__attribute__((target("avx512f"))) static size_t pairs_row_avx512(const float *x0, const float *x1, size_t n,
                                                                     uint32_t *o)
{
    size_t t = 0;
    for (; t + 16 <= n; t += 16) {
        __m512i hi = x1 ? _mm512_slli_epi32(bf16_bits16(x1 + t), 16) : _mm512_setzero_si512();
        _mm512_storeu_si512((void *)(o + t), _mm512_or_si512(bf16_bits16(x0 + t), hi));
    }
    return t;
}
#endif

void kt_bf16_pairs(int isa, const float *x, size_t ldx, int rows, int cp0, int cp1, size_t n, uint32_t *out,
                   size_t ldo)
{
    for (int cp = cp0; cp < cp1; cp++) {
        const float *x0 = x + (size_t)2 * cp * ldx, *x1 = 2 * cp + 1 < rows ? x0 + ldx : NULL;
        uint32_t *o = out + (size_t)cp * ldo;
        size_t t = 0;
#if KT_X86 && defined(__GNUC__)
        if (isa == KT_ISA_AVX512)
            t = pairs_row_avx512(x0, x1, n, o);
#else
        (void)isa;
#endif
        for (; t < n; t++)
            o[t] = bf16_bits(x0[t]) | (x1 ? bf16_bits(x1[t]) << 16 : 0u);
    }
}

/* xpb[cp, t] = bf16 pair (xp[2cp, t], xp[2cp + 1, t]) for the rows of this thread. */
static void pairs_task(void *p, int tid, int n)
{
    const conv_job *jb = p;
    int ncp = (jb->c->cin + 1) / 2, c0 = (int)((long)ncp * tid / n), c1 = (int)((long)ncp * (tid + 1) / n);
    kt_bf16_pairs(jb->isa, jb->xp, jb->Ls, jb->c->cin, c0, c1, jb->Ls, (uint32_t *)(void *)jb->xpb, jb->Ls);
}

/* ---- q8 with integer dot products (AVX-512 VNNI vpdpbusd) --------------------------------
 * Activations are quantized per block of VQ_QUADS * 4 input channels (one scale, max|x|/127
 * over the block's padded rows) to u8 = code + 128, four channels to a 32-bit word
 * (xq[quad][t]); the weights come packed four channels to a word per tap (KT_PACK_I8Q, made at
 * load). vpdpbusd sums the u8 x s8 products into int32; the +128 comes out with the packed row
 * sums of the block, and each block's int32 sums enter the float32 output at once. */

#define VQ_KMAX 32 /* the largest kernel packed KT_PACK_I8Q */

int kt_exec_vnni_conv(const kt_exec *ex, int k) { return kt_exec_has_vnni(ex) && k >= 1 && k <= VQ_KMAX; }

typedef struct {
    const conv_job *jb;
    uint32_t *xq; /* [nquad rounded up to whole blocks][Ls] */
    float *xs;    /* one scale per block */
    int nquad, amx; /* amx: the AMX kernel reads the block's quads past nquad (zero words) */
} vnni_job;

static int quant_code(float x, float inv)
{
    float r = x * inv;
    r = r > 127.0f ? 127.0f : r < -127.0f ? -127.0f : r;
    return (int)lrintf(r);
}

#if KT_X86 && defined(__GNUC__)
/* max |x| over rows c0 .. c1 of xp[., Ls]: the scalar loop's value (max is exact in any order,
 * and a NaN is skipped by both) */
__attribute__((target("avx512f"))) static float absmax_rows_avx512(const float *xp, size_t Ls, int c0, int c1)
{
    __m512 mx = _mm512_setzero_ps();
    float m = 0.0f;
    for (int ch = c0; ch < c1; ch++) {
        const float *x = xp + (size_t)ch * Ls;
        size_t t = 0;
        for (; t + 16 <= Ls; t += 16)
            mx = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + t)), mx);
        for (; t < Ls; t++) {
            float a = fabsf(x[t]);
            m = a > m ? a : m;
        }
    }
    float v = _mm512_reduce_max_ps(mx);
    return v > m ? v : m;
}

/* o[t] for whole vectors of t < n, as quant_block's scalar loop makes them (the same product,
 * clamp and round to nearest even; the low byte of each code kept); rows[i] NULL: channel
 * past cin. Returns where they end. */
__attribute__((target("avx512f"))) static size_t quad_words_avx512(const float *const rows[4], size_t n, float inv,
                                                                   uint32_t *o)
{
    const __m512 s = _mm512_set1_ps(inv), lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
    const __m512i off = _mm512_set1_epi32(128), low = _mm512_set1_epi32(0xFF);
    size_t t = 0;
    for (; t + 16 <= n; t += 16) {
        __m512i w = _mm512_setzero_si512();
        for (int i = 0; i < 4; i++) {
            __m512i c = off;
            if (rows[i]) {
                __m512 r = _mm512_min_ps(hi, _mm512_max_ps(lo, _mm512_mul_ps(_mm512_loadu_ps(rows[i] + t), s)));
                c = _mm512_and_si512(_mm512_add_epi32(_mm512_cvtps_epi32(r), off), low);
            }
            w = _mm512_or_si512(w, _mm512_slli_epi32(c, 8 * i));
        }
        _mm512_storeu_si512((void *)(o + t), w);
    }
    return t;
}
#endif

static void quant_block(const vnni_job *v, int b)
{
    const conv_job *jb = v->jb;
    int cin = jb->c->cin, q0 = b * VQ_QUADS, q1 = q0 + VQ_QUADS < v->nquad ? q0 + VQ_QUADS : v->nquad;
    int c1 = 4 * q1 < cin ? 4 * q1 : cin;
    float m = 0.0f;
#if KT_X86 && defined(__GNUC__)
    m = absmax_rows_avx512(jb->xp, jb->Ls, 4 * q0, c1);
#else
    for (int ch = 4 * q0; ch < c1; ch++)
        for (size_t t = 0; t < jb->Ls; t++) {
            float a = fabsf(jb->xp[(size_t)ch * jb->Ls + t]);
            m = a > m ? a : m;
        }
#endif
    float inv = m > 0.0f ? 127.0f / m : 0.0f;
    v->xs[b] = m / 127.0f;
    for (int q = q0; q < q1; q++) {
        uint32_t *o = v->xq + (size_t)q * jb->Ls;
        size_t t0 = 0;
#if KT_X86 && defined(__GNUC__)
        const float *rows[4];
        for (int i = 0; i < 4; i++)
            rows[i] = 4 * q + i < cin ? jb->xp + (size_t)(4 * q + i) * jb->Ls : NULL;
        t0 = quad_words_avx512(rows, jb->Ls, inv, o);
#endif
        for (size_t t = t0; t < jb->Ls; t++) {
            uint32_t w = 0;
            for (int i = 0; i < 4; i++) {
                int ch = 4 * q + i, code = ch < cin ? quant_code(jb->xp[(size_t)ch * jb->Ls + t], inv) : 0;
                w |= (uint32_t)(uint8_t)(code + 128) << (8 * i);
            }
            o[t] = w;
        }
    }
    if (v->amx && q1 == v->nquad && q1 % VQ_QUADS) /* the last block's missing quads (zero weights) */
        memset(v->xq + (size_t)q1 * jb->Ls, 0, sizeof(uint32_t) * (VQ_QUADS - q1 % VQ_QUADS) * jb->Ls);
}

static void quant_task(void *p, int tid, int n)
{
    const vnni_job *v = p;
    int nb = (v->nquad + VQ_QUADS - 1) / VQ_QUADS;
    for (int b = nb * tid / n; b < nb * (tid + 1) / n; b++)
        quant_block(v, b);
}

#if KT_X86 && defined(__GNUC__)
/* C[8, 16 V] = (load ? C : 0) + bias8 + scale8 * (sum of u8 x s8 - off8), the sums over nq quads x
 * k taps (row r's word for quad q, tap j at A[j * 256 + r * 16 + q]: KT_PACK_I8Q); the last
 * vector's columns masked by `last` (loaded and stored only there). */
__attribute__((target("avx512f,avx512bw,avx512vnni"), always_inline)) static inline void
kern_vnni_v(const uint32_t *A, const uint32_t *B, size_t ldb, int nq, int k, int dil, float *C, size_t ldc, int load,
            const float *bias8, const float *scale8, const int32_t *off8, const int V, __mmask16 last)
{
    __m512i acc[MR][3];
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 3
        for (int v = 0; v < V; v++)
            acc[r][v] = _mm512_setzero_si512();
    for (int q = 0; q < nq; q++) {
        const uint32_t *b0 = B + (size_t)q * ldb;
        for (int j = 0; j < k; j++) {
            const uint32_t *bp = b0 + (size_t)j * dil, *aj = A + (size_t)j * QR * VQ_QUADS + q;
            __m512i x[3];
#pragma GCC unroll 3
            for (int v = 0; v < V; v++)
                x[v] = _mm512_loadu_si512(bp + 16 * v);
#pragma GCC unroll 8
            for (int r = 0; r < MR; r++) {
                __m512i a = _mm512_set1_epi32((int)aj[r * VQ_QUADS]);
#pragma GCC unroll 3
                for (int v = 0; v < V; v++)
                    acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], x[v], a);
            }
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
        __m512 s = _mm512_set1_ps(scale8[r]), b = _mm512_set1_ps(bias8 ? bias8[r] : 0.0f);
        __m512i off = _mm512_set1_epi32(off8[r]);
#pragma GCC unroll 3
        for (int v = 0; v < V; v++) {
            __mmask16 m = v == V - 1 ? last : (__mmask16)0xFFFF;
            float *c = C + r * ldc + 16 * v;
            __m512 base = load ? _mm512_add_ps(_mm512_maskz_loadu_ps(m, c), b) : b;
            __m512 d = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][v], off));
            _mm512_mask_storeu_ps(c, m, _mm512_fmadd_ps(s, d, base));
        }
    }
}

/* 48, 32 and 16 columns (the narrower ones for a tile's last columns: less work, same bytes). */
#define KERN_VNNI(name, V)                                                                                    \
    __attribute__((target("avx512f,avx512bw,avx512vnni"))) static void name(                                 \
        const uint32_t *A, const uint32_t *B, size_t ldb, int nq, int k, int dil, float *C, size_t ldc, int load, \
        const float *bias8, const float *scale8, const int32_t *off8, __mmask16 last)                         \
    {                                                                                                         \
        kern_vnni_v(A, B, ldb, nq, k, dil, C, ldc, load, bias8, scale8, off8, V, last);                       \
    }
KERN_VNNI(kern_vnni, 3)
KERN_VNNI(kern_vnni_32, 2)
KERN_VNNI(kern_vnni_16, 1)

/* One tile of rows x cols at (row0, t0): whole rows straight into C (a narrower kernel and a masked
 * last vector when cols < 48), a partial row tile through a local buffer. */
static void vnni_tile(const conv_job *jb, const uint32_t *A, const uint32_t *B, int nq, int row0, int t0, int cols,
                      int first, const float *scale8, const int32_t *off8)
{
    const kt_conv1d *c = jb->c;
    int rows = c->cout - row0 < MR ? c->cout - row0 : MR, load = first ? jb->acc : 1;
    float bias8[MR], *C = jb->y + (size_t)row0 * jb->ldy + t0, tmp[MR * NR_MAX];
    const float *bp = tile_bias(jb, row0, rows, first, bias8);
    if (rows == MR) {
        int V = (cols + 15) / 16;
        __mmask16 last = cols % 16 ? (__mmask16)((1u << (cols % 16)) - 1) : (__mmask16)0xFFFF;
        if (V == 3)
            kern_vnni(A, B, jb->Ls, nq, c->k, c->dil, C, jb->ldy, load, bp, scale8, off8, last);
        else if (V == 2)
            kern_vnni_32(A, B, jb->Ls, nq, c->k, c->dil, C, jb->ldy, load, bp, scale8, off8, last);
        else
            kern_vnni_16(A, B, jb->Ls, nq, c->k, c->dil, C, jb->ldy, load, bp, scale8, off8, last);
        return;
    }
    if (load)
        tile_in(tmp, NR_MAX, C, jb->ldy, rows, cols);
    kern_vnni(A, B, jb->Ls, nq, c->k, c->dil, tmp, NR_MAX, load, bp, scale8, off8, (__mmask16)0xFFFF);
    tile_out(C, jb->ldy, tmp, NR_MAX, rows, cols);
}

/* Row tiles m0 .. m1, columns c0 .. c1 (c0 a multiple of NR_MAX) of a q8 conv. */
static void vnni_part(const vnni_job *v, int m0, int m1, int c0, int c1)
{
    const conv_job *jb = v->jb;
    const kt_conv1d *c = jb->c;
    int nb = (v->nquad + VQ_QUADS - 1) / VQ_QUADS, ts_len = NR_MAX * T_SUPER;
    int32_t off8[MR];
    float sc8[MR];
    for (int ts = c0; ts < c1; ts += ts_len) {
        int te = c1 - ts < ts_len ? c1 : ts + ts_len;
        for (int q0 = 0; q0 < v->nquad; q0 += VQ_QUADS) {
            int q1 = q0 + VQ_QUADS < v->nquad ? q0 + VQ_QUADS : v->nquad;
            for (int mt = m0; mt < m1; mt++) {
                const uint32_t *ap = (const uint32_t *)jb->wp->codes +
                                     i8q_word((size_t)nb, c->k, (size_t)mt * MR, (size_t)q0, 0);
                const int32_t *rsum = jb->wp->sums + ((size_t)mt * nb + q0 / VQ_QUADS) * MR;
                for (int r = 0; r < MR; r++) {
                    sc8[r] = jb->wp->scales[(size_t)mt * MR + r] * v->xs[q0 / VQ_QUADS];
                    off8[r] = 128 * rsum[r];
                }
                for (int t0 = ts; t0 < te; t0 += NR_MAX) {
                    int cols = te - t0 < NR_MAX ? te - t0 : NR_MAX;
                    vnni_tile(jb, ap, v->xq + (size_t)q0 * jb->Ls + t0, q1 - q0, mt * MR, t0, cols, q0 == 0, sc8,
                              off8);
                }
            }
        }
    }
}

/* Thread tid of n: the units it takes (conv_units with NR_MAX-column tiles). */
static void vnni_task(void *p, int tid, int n)
{
    const vnni_job *v = p;
    int m[2], c[2];
    for (int u; (u = kt_claims_take(v->jb->cl, tid)) >= 0;) {
        unit_span(v->jb, u, n, m, c);
        vnni_part(v, m[0], m[1], c[0], c[1]);
    }
}

#include "conv_amx.inc"
#endif

/* The q8 convolution with vpdpbusd when ex has it and the weight is q8 per row; 0 when it
 * does not apply (or its buffer cannot be had), so the caller takes the float32 path. */
#if KT_X86 && defined(__GNUC__)
static int conv_vnni(kt_exec *ex, conv_job *jb)
{
    const kt_conv1d *c = jb->c;
    if (!kt_exec_vnni_conv(ex, c->k) || jb->wp->dtype != KT_PACK_I8Q)
        return 0;
    vnni_job v = {jb, NULL, NULL, (c->cin + 3) / 4, kt_exec_has_amx(ex)};
    float *own = NULL, *buf = jb->xpb; /* kt_conv_input_form_floats' layout: the words, then the scales */
    if (!buf && !(buf = own = malloc(sizeof(float) * kt_conv_input_form_floats(KT_PACK_I8Q, c->cin, jb->Ls))))
        return 0;
    v.xq = (uint32_t *)(void *)buf;
    v.xs = buf + kt_arena_round(i8q_blocks((size_t)c->cin) * VQ_QUADS * jb->Ls);
    kt_exec_run(ex, quant_task, &v);
    if (v.amx) {
        jb->rt = QR;
        conv_units(ex, jb, AMX_COLS);
        kt_exec_run(ex, amx_task, &v);
    } else {
        conv_units(ex, jb, NR_MAX);
        kt_exec_run(ex, vnni_task, &v);
    }
    free(own);
    return 1;
}

/* The bfloat16 convolution on AMX tiles when ex has them and the weight is KT_PACK_BF16T; 0 when it
 * does not apply (or its buffer cannot be had), so the caller takes the float32 path. */
static int conv_amx_bf16(kt_exec *ex, conv_job *jb)
{
    const kt_conv1d *c = jb->c;
    if (!kt_exec_has_amx_bf16(ex) || jb->wp->dtype != KT_PACK_BF16T)
        return 0;
    float *own = NULL;
    if (!jb->xpb && !(jb->xpb = own = malloc(sizeof(float) * kt_conv_input_form_floats(KT_PACK_BF16T, c->cin, jb->Ls))))
        return 0;
    size_t ncp = ((size_t)c->cin + 1) / 2, npad = bf16t_blocks((size_t)c->cin) * VQ_QUADS;
    kt_exec_run(ex, pairs_task, jb);
    memset(jb->xpb + ncp * jb->Ls, 0, sizeof(float) * (npad - ncp) * jb->Ls); /* the last block's missing pairs */
    jb->rt = QR;
    conv_units(ex, jb, AMX_COLS);
    kt_exec_run(ex, amx_bf16_task, jb);
    free(own);
    return 1;
}
#else
static int conv_vnni(kt_exec *ex, conv_job *jb) { return (void)ex, (void)jb, 0; }
static int conv_amx_bf16(kt_exec *ex, conv_job *jb) { return (void)ex, (void)jb, 0; }
#endif

void kt_conv1d_padded(kt_exec *ex, const kt_conv1d *c, const kt_packed *wp, const float *xp, size_t Ls, int L,
                      float *y, int accumulate, float *scratch)
{
    int lo = kt_conv1d_out_len(c, L);
    kt_conv1d_padded_ld(ex, c, wp, xp, Ls, L, y, lo > 0 ? (size_t)lo : 0, accumulate, scratch);
}

void kt_conv1d_padded_ld(kt_exec *ex, const kt_conv1d *c, const kt_packed *wp, const float *xp, size_t Ls, int L,
                         float *y, size_t ldy, int accumulate, float *scratch)
{
    kt_claims cl;
    int lo = kt_conv1d_out_len(c, L);
    conv_job jb = {c, wp, xp, scratch, Ls, lo, accumulate, kt_exec_isa(ex), y, ldy, &cl, 0, 0, 1, MR};
    if (jb.lo <= 0 || conv_vnni(ex, &jb) || conv_amx_bf16(ex, &jb))
        return;
    if (wp->dtype == KT_PACK_BF16X2)
        kt_exec_run(ex, pairs_task, &jb);
    int nr;
    kernel_for(jb.isa, &nr);
    conv_units(ex, &jb, nr);
    kt_exec_run(ex, conv_task, &jb);
}

/* Rows of a zero-padded copy of x[C, L] (pad zeros, x's row, zeros to Ls), or of the
 * transposed conv's scatter (phase_add), spread over the threads by rows. */
typedef struct {
    const float *x;
    float *xp;
    int L, pad;
    size_t Ls;
    const kt_convt1d *ct; /* phase_add: y[o, q*stride + p - pad] += tmp[o, q] */
    int p, lo, lq;
} rows_job;

static void pad_rows_part(void *ctx, size_t i0, size_t i1)
{
    const rows_job *j = ctx;
    for (size_t i = i0; i < i1; i++) {
        float *r = j->xp + i * j->Ls;
        memset(r, 0, sizeof(float) * (size_t)j->pad);
        memcpy(r + j->pad, j->x + i * j->L, sizeof(float) * (size_t)j->L);
        memset(r + j->pad + j->L, 0, sizeof(float) * (j->Ls - (size_t)j->pad - j->L));
    }
}

static void pad_rows(kt_exec *ex, const float *x, int C, int L, int pad, float *xp, size_t Ls)
{
    rows_job j = {x, xp, L, pad, Ls, NULL, 0, 0, 0};
    kt_exec_range(ex, (size_t)C, Ls, 16384, pad_rows_part, &j);
}

kt_status kt_conv1d_packed_forward(const kt_conv1d *c, const kt_packed *wp, const float *x, int L, float *y,
                                   int accumulate, kt_arena *a, kt_error *err)
{
    size_t Ls = kt_conv_pad_len(c, L), mark = kt_arena_mark(a);
    if (c->stride != 1)
        return kt_error_set(err, KT_EINVAL, "internal: packed conv needs stride 1");
    float *xp = kt_arena_take(a, (size_t)c->cin * Ls);
    size_t nf = kt_conv_input_scratch(c, wp, L);
    float *xpb = nf ? kt_arena_take(a, nf) : NULL;
    if (!xp || (nf && !xpb))
        return kt_error_set(err, KT_ELIMIT, "internal: work buffer too small (conv)");
    pad_rows(a->ex, x, c->cin, L, c->pad, xp, Ls);
    kt_conv1d_padded(a->ex, c, wp, xp, Ls, L, y, accumulate, xpb);
    kt_arena_release(a, mark);
    return KT_OK;
}

/* ---- ConvTranspose1d by phases ------------------------------------------------------------ */

int kt_convt_phase_taps(const kt_convt1d *c) { return (c->k + c->stride - 1) / c->stride; }

void kt_convt_phase_weight_rows(const kt_convt1d *c, int p, int o0, int o1, float *w)
{
    int M = kt_convt_phase_taps(c);
    for (int i = 0; i < c->cin; i++) /* c->w read front to back: rows o of input i are adjacent */
        for (int o = o0; o < o1; o++)
            for (int n = 0; n < M; n++) {
                int j = p + (M - 1 - n) * c->stride;
                w[((size_t)o * c->cin + i) * M + n] = j < c->k ? c->w[((size_t)i * c->cout + o) * c->k + j] : 0.0f;
            }
}

static kt_conv1d phase_conv(const kt_convt1d *c)
{
    int M = kt_convt_phase_taps(c);
    return (kt_conv1d){NULL, NULL, c->cin, c->cout, M, 1, M - 1, 1};
}

size_t kt_convt1d_phased_scratch(const kt_convt1d *c, const kt_packed *ph, int L)
{
    kt_conv1d pc = phase_conv(c);
    size_t n = kt_arena_round((size_t)c->cin * kt_conv_pad_len(&pc, L));
    n += kt_arena_round((size_t)c->cout * (size_t)(L + pc.k - 1));
    return n + kt_conv_input_scratch(&pc, &ph[0], L);
}

/* Output rows [o0, o1): bias (p < 0) or the scatter-add of phase p's rows tmp[o, lq]. */
static void phase_add_part(void *ctx, size_t o0, size_t o1)
{
    const rows_job *j = ctx;
    const kt_convt1d *c = j->ct;
    int p = j->p, lo = j->lo, lq = j->lq;
    if (p < 0) {
        for (size_t o = o0; o < o1; o++)
            for (int s = 0; s < lo; s++)
                j->xp[o * lo + s] = c->b ? c->b[o] : 0.0f;
        return;
    }
    int q0 = 0; /* first q with s = q*stride + p - pad >= 0 */
    while ((long)q0 * c->stride + p - c->pad < 0)
        q0++;
    for (size_t o = o0; o < o1; o++) {
        const float *tr = j->x + o * lq;
        float *yr = j->xp + o * lo;
        for (int q = q0; q < lq; q++) {
            long sidx = (long)q * c->stride + p - c->pad;
            if (sidx >= lo)
                break;
            yr[sidx] += tr[q];
        }
    }
}

kt_status kt_convt1d_phased_forward(const kt_convt1d *c, const kt_packed *ph, const float *x, int L, float *y,
                                    kt_arena *a, kt_error *err)
{
    kt_conv1d pc = phase_conv(c);
    int lo = kt_convt1d_out_len(c, L), lq = L + pc.k - 1;
    size_t Ls = kt_conv_pad_len(&pc, L), mark = kt_arena_mark(a), nf = kt_conv_input_scratch(&pc, &ph[0], L);
    if (lo <= 0 || L <= 0)
        return KT_OK;
    float *xp = kt_arena_take(a, (size_t)c->cin * Ls), *tmp = kt_arena_take(a, (size_t)c->cout * lq);
    float *xpb = nf ? kt_arena_take(a, nf) : NULL;
    if (!xp || !tmp || (nf && !xpb))
        return kt_error_set(err, KT_ELIMIT, "internal: work buffer too small (transposed conv)");
    pad_rows(a->ex, x, c->cin, L, pc.pad, xp, Ls);
    rows_job j = {tmp, y, 0, 0, 0, c, -1, lo, lq};
    kt_exec_range(a->ex, (size_t)c->cout, (size_t)lo, 16384, phase_add_part, &j);
    for (int p = 0; p < c->stride; p++) {
        kt_conv1d_padded(a->ex, &pc, &ph[p], xp, Ls, L, tmp, 0, xpb);
        j.p = p;
        kt_exec_range(a->ex, (size_t)c->cout, (size_t)lo, 16384, phase_add_part, &j);
    }
    kt_arena_release(a, mark);
    return KT_OK;
}

/* ---- a matrix times one vector ----------------------------------------------------------- */

#define DOT_LANES KT_DOT_LANES

static float lanes_sum(const float *a)
{
    float t = 0.0f;
    for (int u = 0; u < DOT_LANES; u++)
        t += a[u];
    return t;
}

static void matvec_generic(const float *w, const float *x, int rows, int cols, float *y)
{
    for (int r = 0; r < rows; r++) {
        const float *wr = w + (size_t)r * cols;
        float a[DOT_LANES] = {0};
        int i = 0;
        for (; i + DOT_LANES <= cols; i += DOT_LANES)
            for (int u = 0; u < DOT_LANES; u++)
                a[u] = fmaf(wr[i + u], x[i + u], a[u]);
        for (; i < cols; i++)
            a[0] = fmaf(wr[i], x[i], a[0]);
        y[r] = lanes_sum(a);
    }
}

#if KT_X86 && defined(__GNUC__)
__attribute__((target("avx2,fma"))) static void matvec_avx2(const float *w, const float *x, int rows, int cols,
                                                             float *y)
{
    for (int r = 0; r < rows; r++) {
        const float *wr = w + (size_t)r * cols;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        float a[DOT_LANES];
        int i = 0;
        for (; i + DOT_LANES <= cols; i += DOT_LANES) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(wr + i), _mm256_loadu_ps(x + i), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(wr + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        }
        _mm256_storeu_ps(a, a0);
        _mm256_storeu_ps(a + 8, a1);
        for (; i < cols; i++)
            a[0] = fmaf(wr[i], x[i], a[0]);
        y[r] = lanes_sum(a);
    }
}

__attribute__((target("avx512f,fma"))) static void matvec_avx512(const float *w, const float *x, int rows, int cols,
                                                                  float *y)
{
    for (int r = 0; r < rows; r++) {
        const float *wr = w + (size_t)r * cols;
        __m512 acc = _mm512_setzero_ps();
        float a[DOT_LANES];
        int i = 0;
        for (; i + DOT_LANES <= cols; i += DOT_LANES)
            acc = _mm512_fmadd_ps(_mm512_loadu_ps(wr + i), _mm512_loadu_ps(x + i), acc);
        _mm512_storeu_ps(a, acc);
        for (; i < cols; i++)
            a[0] = fmaf(wr[i], x[i], a[0]);
        y[r] = lanes_sum(a);
    }
}
#endif

void kt_matvec(int isa, const float *w, const float *x, int rows, int cols, float *y)
{
#if KT_X86 && defined(__GNUC__)
    if (isa == KT_ISA_AVX512) {
        matvec_avx512(w, x, rows, cols, y);
        return;
    }
    if (isa == KT_ISA_AVX2) {
        matvec_avx2(w, x, rows, cols, y);
        return;
    }
#else
    (void)isa;
#endif
    matvec_generic(w, x, rows, cols, y);
}

/* ---- fused AdaIN1d + Snake into a padded buffer ------------------------------------------- */

/* A row's mean and 1 / sqrt(variance + eps) in kt_adain_stats' order (kt/kernels.h): one pass of
 * shifted sums. The AVX2 and AVX-512 loops add the same values in the same lanes as the portable
 * one, so all three give the same bytes. */
#define STAT_LANES KT_STAT_LANES

float kt_stat_shift(const float *x, int n)
{
    int k = n < KT_STAT_SHIFT_N ? n : KT_STAT_SHIFT_N;
    double s = 0.0;
    for (int i = 0; i < k; i++)
        s += x[i];
    return k ? (float)(s / k) : 0.0f;
}

static void stat_sums_generic(const float *x, int n, float k, double *s1, double *s2)
{
    int i = 0;
    for (; i + STAT_LANES <= n; i += STAT_LANES)
        for (int u = 0; u < STAT_LANES; u++) {
            double d = (double)x[i + u] - (double)k;
            s1[u] += d;
            s2[u] += d * d;
        }
    for (; i < n; i++) {
        double d = (double)x[i] - (double)k;
        s1[0] += d;
        s2[0] += d * d;
    }
}

#if KT_X86 && defined(__GNUC__)
/* stat_sums_generic's full groups of 16 with vectors of W doubles (16 / W of them per sum): the
 * same adds in the same lanes, compiled for AVX2 (W 4) and AVX-512 (W 8). */
#define STAT_SUMS(SUF, ATTR, W)                                                                                        \
    ATTR static void stat_sums##SUF(const float *x, int n, float k, double *s1, double *s2)                            \
    {                                                                                                                  \
        typedef double vd __attribute__((vector_size(8 * (W))));                                                       \
        typedef float vf __attribute__((vector_size(4 * (W))));                                                        \
        vd a1[STAT_LANES / (W)], a2[STAT_LANES / (W)], vk = {0};                                                       \
        vk += (double)k;                                                                                               \
        memcpy(a1, s1, sizeof a1);                                                                                     \
        memcpy(a2, s2, sizeof a2);                                                                                     \
        int i = 0;                                                                                                     \
        for (; i + STAT_LANES <= n; i += STAT_LANES)                                                                   \
            for (int g = 0; g < STAT_LANES / (W); g++) {                                                               \
                vf f;                                                                                                  \
                memcpy(&f, x + i + (W) * g, sizeof f);                                                                 \
                vd d = __builtin_convertvector(f, vd) - vk;                                                            \
                a1[g] += d;                                                                                            \
                a2[g] += d * d;                                                                                        \
            }                                                                                                          \
        memcpy(s1, a1, sizeof a1);                                                                                     \
        memcpy(s2, a2, sizeof a2);                                                                                     \
        stat_sums_generic(x + i, n - i, k, s1, s2);                                                                    \
    }
STAT_SUMS(_avx2, __attribute__((target("avx2"))), 4)
STAT_SUMS(_avx512, __attribute__((target("avx512f"))), 8)
#endif

void kt_stat_sums(const float *x, int n, float shift, int isa, double *s1, double *s2)
{
#if KT_X86 && defined(__GNUC__)
    if (isa == KT_ISA_AVX512) {
        stat_sums_avx512(x, n, shift, s1, s2);
        return;
    }
    if (isa >= KT_ISA_AVX2) {
        stat_sums_avx2(x, n, shift, s1, s2);
        return;
    }
#else
    (void)isa;
#endif
    stat_sums_generic(x, n, shift, s1, s2);
}

void kt_stat_finish(const double *s1, const double *s2, int n, float shift, float eps, float *mean, float *inv)
{
    double t1 = 0.0, t2 = 0.0;
    for (int u = 0; u < STAT_LANES; u++) {
        t1 += s1[u];
        t2 += s2[u];
    }
    double d = t1 / n, var = t2 / n - d * d;
    *mean = (float)((double)shift + d);
    *inv = (float)(1.0 / sqrt((var > 0.0 ? var : 0.0) + (double)eps));
}

static void row_stats(const float *x, int n, float eps, int isa, float *mean, float *inv)
{
    double s1[STAT_LANES] = {0}, s2[STAT_LANES] = {0};
    float k = kt_stat_shift(x, n);
    kt_stat_sums(x, n, k, isa, s1, s2);
    kt_stat_finish(s1, s2, n, k, eps, mean, inv);
}

typedef struct {
    const float *x, *gb, *alpha;
    int C, L, pad, isa;
    float eps;
    float *xp;
    size_t Ls;
} snake_job;

/* scalar: y = sc*(x - m)*inv + sh; y + sin(al y)^2 / al */
static void snake_row_generic(const float *x, int n, float m, float inv, float sc, float sh, float al, float *out)
{
    float ia = 1.0f / al;
    for (int t = 0; t < n; t++) {
        float v = sc * ((x[t] - m) * inv) + sh, s = sinf(al * v);
        out[t] = v + ia * s * s;
    }
}

#if KT_X86 && defined(__GNUC__)
/* sin(z)^2 = sin(r)^2 with r = z - pi round(z / pi) in [-pi/2, pi/2]; odd Taylor
 * polynomial to r^11 (|error| < 6e-8 there). */
#define SIN_C3 -1.6666667e-1f
#define SIN_C5 8.3333333e-3f
#define SIN_C7 -1.9841270e-4f
#define SIN_C9 2.7557319e-6f
#define SIN_C11 -2.5052108e-8f
#define PI_HI 3.14159274e+00f
#define PI_LO -8.74227766e-08f
#define INV_PI 3.18309886e-01f

__attribute__((target("avx512f"))) static inline __m512 sin2_avx512(__m512 z)
{
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(z, _mm512_set1_ps(INV_PI)), _MM_FROUND_TO_NEAREST_INT);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(PI_HI), z);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(PI_LO), r);
    __m512 r2 = _mm512_mul_ps(r, r), p = _mm512_set1_ps(SIN_C11);
    p = _mm512_fmadd_ps(p, r2, _mm512_set1_ps(SIN_C9));
    p = _mm512_fmadd_ps(p, r2, _mm512_set1_ps(SIN_C7));
    p = _mm512_fmadd_ps(p, r2, _mm512_set1_ps(SIN_C5));
    p = _mm512_fmadd_ps(p, r2, _mm512_set1_ps(SIN_C3));
    __m512 s = _mm512_fmadd_ps(_mm512_mul_ps(p, r2), r, r);
    return _mm512_mul_ps(s, s);
}

/* Floats ahead of the one read that the Snake loops prefetch: a block's row segment starts a
 * new stream that the hardware prefetcher picks up late, and on a whole-length signal larger
 * than the caches the loop waited on memory (2x the time per element on 128 x 72,960). */
#define SNAKE_AHEAD 512
__attribute__((target("avx512f"))) static void snake_row_avx512(const float *x, int n, float m, float inv, float sc,
                                                                float sh, float al, float *out)
{
    __m512 vm = _mm512_set1_ps(m), vinv = _mm512_set1_ps(inv), vsc = _mm512_set1_ps(sc), vsh = _mm512_set1_ps(sh);
    __m512 val = _mm512_set1_ps(al), via = _mm512_set1_ps(1.0f / al);
    for (int t = 0; t < n; t += 16) {
        __mmask16 k = n - t >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - t)) - 1);
        _mm_prefetch((const char *)(x + t + SNAKE_AHEAD), _MM_HINT_T0);
        __m512 v = _mm512_maskz_loadu_ps(k, x + t);
        v = _mm512_fmadd_ps(vsc, _mm512_mul_ps(_mm512_sub_ps(v, vm), vinv), vsh);
        v = _mm512_fmadd_ps(via, sin2_avx512(_mm512_mul_ps(val, v)), v);
        _mm512_mask_storeu_ps(out + t, k, v);
    }
}

__attribute__((target("avx2,fma"))) static inline __m256 sin2_avx2(__m256 z)
{
    __m256 n = _mm256_round_ps(_mm256_mul_ps(z, _mm256_set1_ps(INV_PI)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(PI_HI), z);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(PI_LO), r);
    __m256 r2 = _mm256_mul_ps(r, r), p = _mm256_set1_ps(SIN_C11);
    p = _mm256_fmadd_ps(p, r2, _mm256_set1_ps(SIN_C9));
    p = _mm256_fmadd_ps(p, r2, _mm256_set1_ps(SIN_C7));
    p = _mm256_fmadd_ps(p, r2, _mm256_set1_ps(SIN_C5));
    p = _mm256_fmadd_ps(p, r2, _mm256_set1_ps(SIN_C3));
    __m256 s = _mm256_fmadd_ps(_mm256_mul_ps(p, r2), r, r);
    return _mm256_mul_ps(s, s);
}

__attribute__((target("avx2,fma"))) static void snake_row_avx2(const float *x, int n, float m, float inv, float sc,
                                                              float sh, float al, float *out)
{
    __m256 vm = _mm256_set1_ps(m), vinv = _mm256_set1_ps(inv), vsc = _mm256_set1_ps(sc), vsh = _mm256_set1_ps(sh);
    __m256 val = _mm256_set1_ps(al), via = _mm256_set1_ps(1.0f / al);
    int t = 0;
    for (; t + 8 <= n; t += 8) {
        _mm_prefetch((const char *)(x + t + SNAKE_AHEAD), _MM_HINT_T0);
        __m256 v = _mm256_loadu_ps(x + t);
        v = _mm256_fmadd_ps(vsc, _mm256_mul_ps(_mm256_sub_ps(v, vm), vinv), vsh);
        v = _mm256_fmadd_ps(via, sin2_avx2(_mm256_mul_ps(val, v)), v);
        _mm256_storeu_ps(out + t, v);
    }
    snake_row_generic(x + t, n - t, m, inv, sc, sh, al, out + t);
}

/* snake_row_avx2 on ALL n elements through the polynomial (masked last vector): the values
 * snake_row_avx2 gives the elements before the scalar tail of its row. */
__attribute__((target("avx2,fma"))) static void snake_span_avx2(const float *x, int n, float m, float inv, float sc,
                                                               float sh, float al, float *out)
{
    __m256 vm = _mm256_set1_ps(m), vinv = _mm256_set1_ps(inv), vsc = _mm256_set1_ps(sc), vsh = _mm256_set1_ps(sh);
    __m256 val = _mm256_set1_ps(al), via = _mm256_set1_ps(1.0f / al);
    for (int t = 0; t < n; t += 8) {
        __m256i k = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - t), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        _mm_prefetch((const char *)(x + t + SNAKE_AHEAD), _MM_HINT_T0);
        __m256 v = _mm256_maskload_ps(x + t, k);
        v = _mm256_fmadd_ps(vsc, _mm256_mul_ps(_mm256_sub_ps(v, vm), vinv), vsh);
        v = _mm256_fmadd_ps(via, sin2_avx2(_mm256_mul_ps(val, v)), v);
        _mm256_maskstore_ps(out + t, k, v);
    }
}
#endif

static void snake_task(void *p, int tid, int n)
{
    const snake_job *jb = p;
    int c0 = (int)((long)jb->C * tid / n), c1 = (int)((long)jb->C * (tid + 1) / n);
    for (int c = c0; c < c1; c++) {
        const float *xr = jb->x + (size_t)c * jb->L;
        float *out = jb->xp + (size_t)c * jb->Ls, m, inv;
        row_stats(xr, jb->L, jb->eps, jb->isa, &m, &inv);
        float sc = 1.0f + jb->gb[c], sh = jb->gb[jb->C + c], al = jb->alpha[c];
        memset(out, 0, sizeof(float) * (size_t)jb->pad);
#if KT_X86 && defined(__GNUC__)
        if (jb->isa == KT_ISA_AVX512)
            snake_row_avx512(xr, jb->L, m, inv, sc, sh, al, out + jb->pad);
        else if (jb->isa == KT_ISA_AVX2)
            snake_row_avx2(xr, jb->L, m, inv, sc, sh, al, out + jb->pad);
        else
#endif
            snake_row_generic(xr, jb->L, m, inv, sc, sh, al, out + jb->pad);
        memset(out + jb->pad + jb->L, 0, sizeof(float) * (jb->Ls - (size_t)jb->pad - jb->L));
    }
}

void kt_adain_snake_pad(kt_exec *ex, const float *x, int C, int L, const float *gb, const float *alpha, float eps,
                        int pad, float *xp, size_t Ls)
{
    snake_job jb = {x, gb, alpha, C, L, pad, kt_exec_isa(ex), eps, xp, Ls};
    kt_exec_run(ex, snake_task, &jb);
}

/* ---- AdaIN + Snake on a time block (statistics of the whole signal computed first) ---- */

typedef struct {
    const float *x, *gb, *alpha;
    int C, L, isa;
    float eps;
    float *mi; /* [2C]: mean, 1/std */
    int t0, t1, pad;
    float *xp;
    size_t Ls, ldx; /* x: row stride ldx, first column x0 */
    int x0;
} snake_blk_job;

static void stats_task(void *p, int tid, int n)
{
    const snake_blk_job *jb = p;
    int c0 = (int)((long)jb->C * tid / n), c1 = (int)((long)jb->C * (tid + 1) / n);
    for (int c = c0; c < c1; c++)
        row_stats(jb->x + (size_t)c * jb->L, jb->L, jb->eps, jb->isa, &jb->mi[2 * c], &jb->mi[2 * c + 1]);
}

void kt_adain_stats(kt_exec *ex, const float *x, int C, int L, float eps, float *mi)
{
    snake_blk_job jb = {x, NULL, NULL, C, L, kt_exec_isa(ex), eps, mi, 0, 0, 0, NULL, 0, (size_t)L, 0};
    kt_exec_run(ex, stats_task, &jb);
}

/* Elements [e0, e1) of a row of full length L (x points at its element x0) into out, each
 * with the value the whole-row kernel (snake_task) gives it. */
static void snake_part(const snake_blk_job *jb, const float *x, int e0, int e1, float m, float inv, float sc,
                       float sh, float al, float *out)
{
#if KT_X86 && defined(__GNUC__)
    x -= jb->x0;
    if (jb->isa == KT_ISA_AVX512) {
        snake_row_avx512(x + e0, e1 - e0, m, inv, sc, sh, al, out);
        return;
    }
    if (jb->isa == KT_ISA_AVX2) { /* the whole row: polynomial before L & ~7, sinf after */
        int eb = jb->L & ~7, a1 = e1 < eb ? e1 : eb, b0 = e0 > eb ? e0 : eb;
        if (a1 > e0)
            snake_span_avx2(x + e0, a1 - e0, m, inv, sc, sh, al, out);
        if (e1 > b0)
            snake_row_generic(x + b0, e1 - b0, m, inv, sc, sh, al, out + (b0 - e0));
        return;
    }
#else
    x -= jb->x0;
#endif
    snake_row_generic(x + e0, e1 - e0, m, inv, sc, sh, al, out);
}

static void snake_blk_task(void *p, int tid, int n)
{
    const snake_blk_job *jb = p;
    int c0 = (int)((long)jb->C * tid / n), c1 = (int)((long)jb->C * (tid + 1) / n);
    int base = jb->t0 - jb->pad, e0 = base > 0 ? base : 0, e1 = jb->t1 + jb->pad < jb->L ? jb->t1 + jb->pad : jb->L;
    for (int c = c0; c < c1; c++) {
        float *out = jb->xp + (size_t)c * jb->Ls;
        float sc = 1.0f + jb->gb[c], sh = jb->gb[jb->C + c], al = jb->alpha[c];
        memset(out, 0, sizeof(float) * (size_t)(e0 - base));
        snake_part(jb, jb->x + (size_t)c * jb->ldx, e0, e1, jb->mi[2 * c], jb->mi[2 * c + 1], sc, sh, al,
                   out + (e0 - base));
        memset(out + (e1 - base), 0, sizeof(float) * (jb->Ls - (size_t)(e1 - base)));
    }
}

void kt_adain_snake_block(kt_exec *ex, const float *x, size_t ldx, int x0, int C, int L, const float *mi,
                          const float *gb, const float *alpha, int t0, int t1, int pad, float *xp, size_t Ls)
{
    snake_blk_job jb = {x, gb, alpha, C, L, kt_exec_isa(ex), 0.0f, (float *)mi, t0, t1, pad, xp, Ls, ldx, x0};
    kt_exec_run(ex, snake_blk_task, &jb);
}

/* ---- the exponential, and GELU (tanh form) as x / (1 + e^(-2u)) ---------------------------
 * 0.5 x (1 + tanh u) = x / (1 + e^(-2u)) with u = sqrt(2/pi) (x + 0.044715 x^3). e^a: a clamped
 * to [-87, 88], n = rint(a log2 e), r = a - n ln 2 in two steps, e^r by a degree-7 polynomial
 * (Cephes expf's coefficients, about 1 ulp), times 2^n built in the exponent bits. Each step is
 * one rounded operation (multiply, add, fused multiply-add or divide) in the same order in the
 * scalar and the vector code, so every ISA gives the same bytes. */
#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_C 0.044715f
#define EXP_LOG2E 1.44269504088896341f
#define EXP_LN2_HI 0.693359375f
#define EXP_LN2_LO -2.12194440e-4f
#define EXP_P0 1.9875691500e-4f
#define EXP_P1 1.3981999507e-3f
#define EXP_P2 8.3334519073e-3f
#define EXP_P3 4.1665795894e-2f
#define EXP_P4 1.6666665459e-1f
#define EXP_P5 5.0000001201e-1f

/* e^a for a clamped to [-87, 88] (a NaN becomes -87), the exponential of every function below */
static float exp_clamped(float a)
{
    a = fminf(fmaxf(a, -87.0f), 88.0f);
    float n = nearbyintf(a * EXP_LOG2E);
    float r = fmaf(n, -EXP_LN2_HI, a);
    r = fmaf(n, -EXP_LN2_LO, r);
    float p = fmaf(EXP_P0, r, EXP_P1);
    p = fmaf(p, r, EXP_P2);
    p = fmaf(p, r, EXP_P3);
    p = fmaf(p, r, EXP_P4);
    p = fmaf(p, r, EXP_P5);
    float e = fmaf(p, r * r, r) + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return e * s;
}

static float gelu_one(float v)
{
    float c = GELU_C * v * v * v, u = GELU_K * (v + c);
    return v / (1.0f + exp_clamped(-2.0f * u)); /* a NaN becomes -87: no NaN to int */
}

#if KT_X86 && defined(__GNUC__)
__attribute__((target("avx2,fma"))) static inline __m256 exp_clamped_avx2(__m256 a)
{
    a = _mm256_min_ps(_mm256_max_ps(a, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    __m256 nf = _mm256_round_ps(_mm256_mul_ps(a, _mm256_set1_ps(EXP_LOG2E)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fmadd_ps(nf, _mm256_set1_ps(-EXP_LN2_HI), a);
    r = _mm256_fmadd_ps(nf, _mm256_set1_ps(-EXP_LN2_LO), r);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(EXP_P0), r, _mm256_set1_ps(EXP_P1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P5));
    __m256 e = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(nf), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(e, _mm256_castsi256_ps(bits));
}

__attribute__((target("avx2,fma"))) static size_t gelu_avx2(float *x, size_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 c = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(GELU_C), v), v), v);
        __m256 u = _mm256_mul_ps(_mm256_set1_ps(GELU_K), _mm256_add_ps(v, c));
        __m256 d = _mm256_add_ps(one, exp_clamped_avx2(_mm256_mul_ps(_mm256_set1_ps(-2.0f), u)));
        _mm256_storeu_ps(x + i, _mm256_div_ps(v, d));
    }
    return i;
}
#endif

void kt_gelu(int isa, float *x, size_t n)
{
    size_t i = 0;
#if KT_X86 && defined(__GNUC__)
    if (isa >= KT_ISA_AVX2)
        i = gelu_avx2(x, n);
#else
    (void)isa;
#endif
    for (; i < n; i++)
        x[i] = gelu_one(x[i]);
}

/* ---- the LSTM cell --------------------------------------------------------------------------
 * sigmoid(v) = 1 / (1 + e^-v) and tanh(v) = 2 sigmoid(2v) - 1 on exp_clamped, the same
 * operations in the scalar and the vector code. */

static float sigmoid_one(float v) { return 1.0f / (1.0f + exp_clamped(-v)); }

static float tanh_one(float v) { return 2.0f * sigmoid_one(2.0f * v) - 1.0f; }

static void lstm_cell_one(const float *g, float *c, float *h, int H, int j)
{
    float ig = sigmoid_one(g[j]), fg = sigmoid_one(g[H + j]);
    float gg = tanh_one(g[2 * H + j]), og = sigmoid_one(g[3 * H + j]);
    float cj = fg * c[j] + ig * gg;
    c[j] = cj;
    h[j] = og * tanh_one(cj);
}

#if KT_X86 && defined(__GNUC__)
__attribute__((target("avx2,fma"))) static inline __m256 sigmoid_avx2(__m256 v)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp_clamped_avx2(_mm256_sub_ps(_mm256_setzero_ps(), v))));
}

__attribute__((target("avx2,fma"))) static inline __m256 tanh_avx2(__m256 v)
{
    const __m256 two = _mm256_set1_ps(2.0f);
    return _mm256_sub_ps(_mm256_mul_ps(two, sigmoid_avx2(_mm256_mul_ps(two, v))), _mm256_set1_ps(1.0f));
}

__attribute__((target("avx2,fma"))) static int lstm_cell_avx2(const float *g, float *c, float *h, int H)
{
    int j = 0;
    for (; j + 8 <= H; j += 8) {
        __m256 ig = sigmoid_avx2(_mm256_loadu_ps(g + j)), fg = sigmoid_avx2(_mm256_loadu_ps(g + H + j));
        __m256 gg = tanh_avx2(_mm256_loadu_ps(g + 2 * H + j)), og = sigmoid_avx2(_mm256_loadu_ps(g + 3 * H + j));
        __m256 cj = _mm256_add_ps(_mm256_mul_ps(fg, _mm256_loadu_ps(c + j)), _mm256_mul_ps(ig, gg));
        _mm256_storeu_ps(c + j, cj);
        _mm256_storeu_ps(h + j, _mm256_mul_ps(og, tanh_avx2(cj)));
    }
    return j;
}
#endif

void kt_lstm_cell(int isa, const float *g, float *c, float *h, int H)
{
    int j = 0;
#if KT_X86 && defined(__GNUC__)
    if (isa >= KT_ISA_AVX2)
        j = lstm_cell_avx2(g, c, h, H);
#else
    (void)isa;
#endif
    for (; j < H; j++)
        lstm_cell_one(g, c, h, H, j);
}

/* ---- softmax rows ---------------------------------------------------------------------------
 * Each row: its maximum (exact in any order), e = exp_clamped(x - max) in place, their sum in
 * SOFTMAX_LANES double lanes (value i in lane i % SOFTMAX_LANES, the lanes then added in order:
 * the same scalar loop for every ISA), then each e times (float)(1 / sum). */
#define SOFTMAX_LANES 4

static float row_max(const float *x, int n)
{
    float mx = x[0];
    for (int i = 1; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    return mx;
}

#if KT_X86 && defined(__GNUC__)
__attribute__((target("avx2,fma"))) static int softmax_exp_avx2(float *x, int n, float mx)
{
    __m256 m = _mm256_set1_ps(mx);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, exp_clamped_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), m)));
    return i;
}
#endif

static void softmax_row(int isa, float *x, int n)
{
    float mx = row_max(x, n);
    int i = 0;
#if KT_X86 && defined(__GNUC__)
    if (isa >= KT_ISA_AVX2)
        i = softmax_exp_avx2(x, n, mx);
#else
    (void)isa;
#endif
    for (; i < n; i++)
        x[i] = exp_clamped(x[i] - mx);
    double lane[SOFTMAX_LANES] = {0.0};
    for (i = 0; i < n; i++)
        lane[i % SOFTMAX_LANES] += x[i];
    double sum = 0.0;
    for (int u = 0; u < SOFTMAX_LANES; u++)
        sum += lane[u];
    float inv = (float)(1.0 / sum);
    for (i = 0; i < n; i++)
        x[i] *= inv;
}

void kt_softmax_rows(int isa, float *x, int rows, int n)
{
    if (n <= 0)
        return;
    for (int r = 0; r < rows; r++)
        softmax_row(isa, x + (size_t)r * n, n);
}

/* ---- unit normal numbers of the source's noise ----------------------------------------------
 * Number i of the stream: Box-Muller on two hashed counters, u1 and u2 in (0, 1) with 24 bits,
 * z = sqrt(-2 ln u1) cos(2 pi u2) in double precision, then rounded to float. ln by the reduction
 * to m in [sqrt(1/2), sqrt(2)) and the odd series of s = (m - 1) / (m + 1) (fdlibm's
 * coefficients); cos(2 pi u2) exactly reduced on u2 (a multiple of 2^-25) to a quarter period
 * and Taylor series to x^18 / x^19 on |x| <= pi/4. Each step one rounded operation, no fused
 * multiply-add, in the same order in the portable and the AVX2 code: the same bytes on every ISA,
 * and within a double rounding of the libm formula (so almost always its float). */
#define NRM_SQRT2 1.41421356237309504880
#define NRM_LN2_HI 6.93147180369123816490e-01
#define NRM_LN2_LO 1.90821492927058770002e-10
#define NRM_LG1 6.666666666666735130e-01
#define NRM_LG2 3.999999999940941908e-01
#define NRM_LG3 2.857142874366239149e-01
#define NRM_LG4 2.222219843214978396e-01
#define NRM_LG5 1.818357216161805012e-01
#define NRM_LG6 1.531383769920937332e-01
#define NRM_LG7 1.479819860511658591e-01
#define NRM_TWO_PI 6.28318530717958647692
/* 1/(2k)! and 1/(2k+1)! with alternating signs, k = 1 .. 9 */
static const double NRM_COS[9] = {-1.0 / 2, 1.0 / 24, -1.0 / 720, 1.0 / 40320, -1.0 / 3628800, 1.0 / 479001600,
                                  -1.0 / 87178291200.0, 1.0 / 20922789888000.0, -1.0 / 6402373705728000.0};
static const double NRM_SIN[9] = {-1.0 / 6, 1.0 / 120, -1.0 / 5040, 1.0 / 362880, -1.0 / 39916800,
                                  1.0 / 6227020800.0, -1.0 / 1307674368000.0, 1.0 / 355687428096000.0,
                                  -1.0 / 121645100408832000.0};

static uint32_t nrm_hash(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static double nrm_log(double u)
{
    uint64_t b;
    memcpy(&b, &u, sizeof b);
    double dk = (double)((int)((b >> 52) & 0x7ff) - 1023), m;
    b = (b & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
    memcpy(&m, &b, sizeof m);
    if (m > NRM_SQRT2) {
        m = m * 0.5;
        dk = dk + 1.0;
    }
    double f = m - 1.0, s = f / (2.0 + f), z = s * s;
    double r = NRM_LG7;
    r = NRM_LG6 + z * r;
    r = NRM_LG5 + z * r;
    r = NRM_LG4 + z * r;
    r = NRM_LG3 + z * r;
    r = NRM_LG2 + z * r;
    r = NRM_LG1 + z * r;
    r = z * r;
    double hfsq = 0.5 * f * f;
    return dk * NRM_LN2_HI - ((hfsq - (s * (hfsq + r) + dk * NRM_LN2_LO)) - f);
}

/* cos(2 pi x2) (sine 0) or sin (sine 1) of x = 2 pi t, |t| <= 1/8, from x and x^2. */
static double nrm_series(double x, double x2, int sine)
{
    const double *c = sine ? NRM_SIN : NRM_COS;
    double p = c[8];
    for (int k = 7; k >= 0; k--)
        p = c[k] + x2 * p;
    return sine ? x + x * (x2 * p) : 1.0 + x2 * p;
}

/* cos(2 pi u) for u in (0, 1) a multiple of 2^-25. */
static double nrm_cos2pi(double u)
{
    double w = fabs(u - 0.5); /* cos(2 pi u) = -cos(2 pi w) */
    int b = w > 0.125 && w <= 0.375, c = w > 0.375;
    double t = b ? 0.25 - w : c ? 0.5 - w : w, x = t * NRM_TWO_PI, v = nrm_series(x, x * x, b);
    return c ? v : -v;
}

static float nrm_one(uint64_t i, uint32_t seed)
{
    uint32_t off = seed * 0x9E3779B9U;
    uint32_t h1 = nrm_hash((uint32_t)(2 * i) + off), h2 = nrm_hash((uint32_t)(2 * i + 1) + off);
    double u1 = ((double)(h1 >> 8) + 0.5) / 16777216.0, u2 = ((double)(h2 >> 8) + 0.5) / 16777216.0;
    return (float)(sqrt(-2.0 * nrm_log(u1)) * nrm_cos2pi(u2));
}

#if KT_X86 && defined(__GNUC__)
__attribute__((target("avx2"))) static __m256i nrm_hash8(__m256i x)
{
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
    x = _mm256_mullo_epi32(x, _mm256_set1_epi32(0x7feb352d));
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 15));
    x = _mm256_mullo_epi32(x, _mm256_set1_epi32((int)0x846ca68bU));
    return _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
}

__attribute__((target("avx2"))) static __m256d nrm_log4(__m256d u)
{
    __m256i b = _mm256_castpd_si256(u);
    __m256i e = _mm256_sub_epi64(_mm256_srli_epi64(b, 52), _mm256_set1_epi64x(1023));
    /* e (small) as a double: the bits of 1.5 * 2^52 + e, minus 1.5 * 2^52 */
    __m256d dk = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_add_epi64(e, _mm256_set1_epi64x(0x4338000000000000LL))),
                               _mm256_set1_pd(6755399441055744.0));
    __m256i mb = _mm256_or_si256(_mm256_and_si256(b, _mm256_set1_epi64x(0x000fffffffffffffLL)),
                                 _mm256_set1_epi64x(0x3ff0000000000000LL));
    __m256d m = _mm256_castsi256_pd(mb), big = _mm256_cmp_pd(m, _mm256_set1_pd(NRM_SQRT2), _CMP_GT_OQ);
    m = _mm256_blendv_pd(m, _mm256_mul_pd(m, _mm256_set1_pd(0.5)), big);
    dk = _mm256_blendv_pd(dk, _mm256_add_pd(dk, _mm256_set1_pd(1.0)), big);
    __m256d one = _mm256_set1_pd(1.0), f = _mm256_sub_pd(m, one);
    __m256d s = _mm256_div_pd(f, _mm256_add_pd(_mm256_set1_pd(2.0), f)), z = _mm256_mul_pd(s, s);
    __m256d r = _mm256_set1_pd(NRM_LG7);
    r = _mm256_add_pd(_mm256_set1_pd(NRM_LG6), _mm256_mul_pd(z, r));
    r = _mm256_add_pd(_mm256_set1_pd(NRM_LG5), _mm256_mul_pd(z, r));
    r = _mm256_add_pd(_mm256_set1_pd(NRM_LG4), _mm256_mul_pd(z, r));
    r = _mm256_add_pd(_mm256_set1_pd(NRM_LG3), _mm256_mul_pd(z, r));
    r = _mm256_add_pd(_mm256_set1_pd(NRM_LG2), _mm256_mul_pd(z, r));
    r = _mm256_add_pd(_mm256_set1_pd(NRM_LG1), _mm256_mul_pd(z, r));
    r = _mm256_mul_pd(z, r);
    __m256d hfsq = _mm256_mul_pd(_mm256_mul_pd(_mm256_set1_pd(0.5), f), f);
    __m256d in = _mm256_add_pd(_mm256_mul_pd(s, _mm256_add_pd(hfsq, r)), _mm256_mul_pd(dk, _mm256_set1_pd(NRM_LN2_LO)));
    return _mm256_sub_pd(_mm256_mul_pd(dk, _mm256_set1_pd(NRM_LN2_HI)), _mm256_sub_pd(_mm256_sub_pd(hfsq, in), f));
}

__attribute__((target("avx2"))) static __m256d nrm_cos2pi4(__m256d u)
{
    __m256d w = _mm256_andnot_pd(_mm256_set1_pd(-0.0), _mm256_sub_pd(u, _mm256_set1_pd(0.5)));
    __m256d gt1 = _mm256_cmp_pd(w, _mm256_set1_pd(0.125), _CMP_GT_OQ);
    __m256d c = _mm256_cmp_pd(w, _mm256_set1_pd(0.375), _CMP_GT_OQ), b = _mm256_andnot_pd(c, gt1);
    __m256d t = _mm256_blendv_pd(w, _mm256_sub_pd(_mm256_set1_pd(0.5), w), c);
    t = _mm256_blendv_pd(t, _mm256_sub_pd(_mm256_set1_pd(0.25), w), b);
    __m256d x = _mm256_mul_pd(t, _mm256_set1_pd(NRM_TWO_PI)), x2 = _mm256_mul_pd(x, x);
    __m256d pc = _mm256_set1_pd(NRM_COS[8]), ps = _mm256_set1_pd(NRM_SIN[8]);
    for (int k = 7; k >= 0; k--) {
        pc = _mm256_add_pd(_mm256_set1_pd(NRM_COS[k]), _mm256_mul_pd(x2, pc));
        ps = _mm256_add_pd(_mm256_set1_pd(NRM_SIN[k]), _mm256_mul_pd(x2, ps));
    }
    __m256d vc = _mm256_add_pd(_mm256_set1_pd(1.0), _mm256_mul_pd(x2, pc));
    __m256d vs = _mm256_add_pd(x, _mm256_mul_pd(x, _mm256_mul_pd(x2, ps)));
    __m256d v = _mm256_blendv_pd(vc, vs, b);
    return _mm256_blendv_pd(_mm256_xor_pd(v, _mm256_set1_pd(-0.0)), v, c);
}

/* z[j] for whole groups of 8 numbers; returns how many it made. */
__attribute__((target("avx2"))) static size_t normals_avx2(uint64_t i0, size_t n, uint32_t seed, float *z)
{
    uint32_t off = seed * 0x9E3779B9U;
    const __m256i lane2 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    const __m256d half = _mm256_set1_pd(0.5);
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256i base = _mm256_add_epi32(_mm256_set1_epi32((int)((uint32_t)(2 * (i0 + j)) + off)), lane2);
        __m256i h1 = _mm256_srli_epi32(nrm_hash8(base), 8);
        __m256i h2 = _mm256_srli_epi32(nrm_hash8(_mm256_add_epi32(base, _mm256_set1_epi32(1))), 8);
        for (int q = 0; q < 2; q++) {
            __m128i a = q ? _mm256_extracti128_si256(h1, 1) : _mm256_castsi256_si128(h1);
            __m128i c = q ? _mm256_extracti128_si256(h2, 1) : _mm256_castsi256_si128(h2);
            __m256d u1 = _mm256_div_pd(_mm256_add_pd(_mm256_cvtepi32_pd(a), half), _mm256_set1_pd(16777216.0));
            __m256d u2 = _mm256_div_pd(_mm256_add_pd(_mm256_cvtepi32_pd(c), half), _mm256_set1_pd(16777216.0));
            __m256d r = _mm256_sqrt_pd(_mm256_mul_pd(_mm256_set1_pd(-2.0), nrm_log4(u1)));
            _mm_storeu_ps(z + j + 4 * q, _mm256_cvtpd_ps(_mm256_mul_pd(r, nrm_cos2pi4(u2))));
        }
    }
    return j;
}
#endif

void kt_normals(int isa, uint64_t i0, size_t n, uint32_t seed, float *z)
{
    size_t j = 0;
#if KT_X86 && defined(__GNUC__)
    if (isa >= KT_ISA_AVX2)
        j = normals_avx2(i0, n, seed, z);
#else
    (void)isa;
#endif
    for (; j < n; j++)
        z[j] = nrm_one(i0 + j, seed);
}
