/* fma_peak - the machine's single-precision FMA peak in GFLOP/s, 1 thread and all cores.
 *
 *   cc -std=c11 -O2 -pthread bench/fma_peak.c -o fma_peak && ./fma_peak [SECONDS]
 *
 * Each thread runs a loop of fused multiply-adds on 16 (AVX-512) or 12 (AVX2) independent vector accumulators (enough
 * to cover the FMA latency on every FMA pipe), so the loop is throughput-bound. The AVX-512 and
 * AVX2 kernels are compiled with target attributes and chosen at run time with
 * __builtin_cpu_supports, so the binary runs on any x86-64. One FMA counts as 2 FLOPs.
 * Output: one line per (isa, threads), e.g. "fma_peak isa=avx512 threads=2 gflops=640.3 gflops_cpu=655.0":
 * gflops over wall time, and gflops_cpu over the CPU time the threads got (times the thread
 * count), which stays near the hardware peak when other programs share the cores.
 * Where the CPU has them, the same loop of the dot-product instructions the bfloat16 and q8 kernels
 * use: isa=avx512_bf16 (vdpbf16ps, 32 multiply-adds per instruction) and isa=avx512_vnni
 * (vpdpbusd, 64 multiply-adds of 8-bit integers); they too count 2 operations per multiply-add
 * under gflops, so each is the floor of its own kernel in the same unit; and where the CPU has
 * AMX tiles and Linux grants them, isa=amx_int8 (tdpbsud on four independent 16 x 16 int32
 * tiles, 16,384 multiply-adds per instruction) and isa=amx_bf16 (tdpbf16ps on four 16 x 16
 * float32 tiles, 8,192 multiply-adds), the floors of the q8 and bf16 kernels on tiles.
 * isa=avx512_conv_loop is no peak: the float32 direct conv kernel's inner loop (input loads,
 * weight broadcasts and FMAs) with every operand in L1, in FMA GFLOP/s; over the avx512 line it
 * shows how much of the FMA rate that mix of loads and FMAs keeps on this core. */
#define _GNU_SOURCE
#include <cpuid.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Independent accumulators per isa: 16 of the 32 zmm registers; 12 of the 16 ymm registers
 * (the two constants need registers too, and a spill would make the loop memory-bound). */
enum { ACC512 = 16, ACC256 = 12 };

enum { ISA_AVX2, ISA_AVX512, ISA_BF16, ISA_VNNI, ISA_AMX, ISA_AMX_BF16, ISA_CONV, N_ISA };

typedef struct {
    long iters;
    int isa; /* ISA_* */
    float sink;
    double cpu; /* thread CPU seconds */
} job;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* EACH12(F, ...) / EACH16(F, ...): F(i, ...) for i = 0 .. 11 / 15. */
#define EACH12(F, ...)                                                                                        \
    F(0, __VA_ARGS__) F(1, __VA_ARGS__) F(2, __VA_ARGS__) F(3, __VA_ARGS__) F(4, __VA_ARGS__)                 \
    F(5, __VA_ARGS__) F(6, __VA_ARGS__) F(7, __VA_ARGS__) F(8, __VA_ARGS__) F(9, __VA_ARGS__)                 \
    F(10, __VA_ARGS__) F(11, __VA_ARGS__)
#define EACH16(F, ...)                                                                                        \
    EACH12(F, __VA_ARGS__) F(12, __VA_ARGS__) F(13, __VA_ARGS__) F(14, __VA_ARGS__) F(15, __VA_ARGS__)

#define ACC_DECL(i, T, INIT, STEP, ADD) T r##i = INIT(i);
#define ACC_STEP(i, T, INIT, STEP, ADD) r##i = STEP(r##i); __asm__("" : "+v"(r##i)); /* kept in its register */
#define ACC_SUM(i, T, INIT, STEP, ADD) s = ADD(s, r##i);

/* The loop of every isa: accumulators r0.. of vector type T (EACH: how many) set to INIT(i),
 * `iters` times r = STEP(r) on each, then summed with ADD into T s (from ZERO). */
#define PEAK_LOOP(EACH, T, INIT, STEP, ADD, ZERO)                                                              \
    EACH(ACC_DECL, T, INIT, STEP, ADD)                                                                        \
    for (long n = 0; n < iters; n++) {                                                                        \
        EACH(ACC_STEP, T, INIT, STEP, ADD)                                                                    \
    }                                                                                                         \
    T s = ZERO;                                                                                               \
    EACH(ACC_SUM, T, INIT, STEP, ADD)

#define PS_INIT512(i) _mm512_set1_ps((float)(i) * 0.01f)
#define PS_INIT256(i) _mm256_set1_ps((float)(i) * 0.01f)
#define EPI_INIT512(i) _mm512_set1_epi32(i)
#define FMA512(r) _mm512_fmadd_ps(r, a, b)
#define FMA256(r) _mm256_fmadd_ps(r, a, b)
#define DPBF16(r) _mm512_dpbf16_ps(r, a, b)
#define DPBUSD(r) _mm512_dpbusd_epi32(r, a, b)

__attribute__((target("avx512f"))) static float run_avx512(long iters)
{
    const __m512 a = _mm512_set1_ps(0.9999999f), b = _mm512_set1_ps(1e-7f);
    PEAK_LOOP(EACH16, __m512, PS_INIT512, FMA512, _mm512_add_ps, _mm512_setzero_ps())
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float run_avx2(long iters)
{
    const __m256 a = _mm256_set1_ps(0.9999999f), b = _mm256_set1_ps(1e-7f);
    PEAK_LOOP(EACH12, __m256, PS_INIT256, FMA256, _mm256_add_ps, _mm256_setzero_ps())
    float v[8];
    _mm256_storeu_ps(v, s);
    return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}

__attribute__((target("avx512f,avx512bf16"))) static float run_bf16(long iters)
{
    const __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f7f3f7f), b = (__m512bh)_mm512_set1_epi32(0x33d633d6);
    PEAK_LOOP(EACH16, __m512, PS_INIT512, DPBF16, _mm512_add_ps, _mm512_setzero_ps())
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx512f,avx512vnni"))) static float run_vnni(long iters)
{
    const __m512i a = _mm512_set1_epi32(0x01020304), b = _mm512_set1_epi32(0x01ff01ff);
    PEAK_LOOP(EACH16, __m512i, EPI_INIT512, DPBUSD, _mm512_add_epi32, _mm512_setzero_si512())
    return (float)_mm512_reduce_add_epi32(s);
}

/* The float32 direct conv kernel's inner loop (libkt/core/kernels.c, kern_avx512) with every
 * operand in L1: per input channel and tap, 3 input vectors loaded (48 columns), 8 weights
 * broadcast (8 output rows) and 24 FMAs into 24 accumulators; CONV_CH channels of kernel 3 at
 * dilation 1 per pass (6 KB of weights, 8 KB of input). Its rate over the FMA peak is what the
 * kernel's own mix of loads and FMAs reaches on the core, before any cache miss. */
enum { CONV_CH = 32, CONV_K = 3, CONV_LD = 64 };

__attribute__((target("avx512f,fma"))) static float run_conv_loop(long iters)
{
    _Alignas(64) float w[CONV_CH * CONV_K * 8], x[CONV_CH * CONV_LD];
    for (int i = 0; i < CONV_CH * CONV_K * 8; i++)
        w[i] = 1e-4f * (float)(i % 7);
    for (int i = 0; i < CONV_CH * CONV_LD; i++)
        x[i] = 1e-3f * (float)(i % 5);
    __m512 c[8][3];
    for (int r = 0; r < 8; r++)
        for (int v = 0; v < 3; v++)
            c[r][v] = _mm512_setzero_ps();
    for (long n = 0; n < iters; n++) {
        const float *a = w;
        for (int ci = 0; ci < CONV_CH; ci++)
            for (int j = 0; j < CONV_K; j++, a += 8) {
                const float *b = x + ci * CONV_LD + j;
                __m512 x0 = _mm512_loadu_ps(b), x1 = _mm512_loadu_ps(b + 16), x2 = _mm512_loadu_ps(b + 32);
#pragma GCC unroll 8
                for (int r = 0; r < 8; r++) {
                    __m512 ar = _mm512_set1_ps(a[r]);
                    c[r][0] = _mm512_fmadd_ps(ar, x0, c[r][0]);
                    c[r][1] = _mm512_fmadd_ps(ar, x1, c[r][1]);
                    c[r][2] = _mm512_fmadd_ps(ar, x2, c[r][2]);
                }
            }
    }
    __m512 s = _mm512_setzero_ps();
    for (int r = 0; r < 8; r++)
        for (int v = 0; v < 3; v++)
            s = _mm512_add_ps(s, c[r][v]);
    return _mm512_reduce_add_ps(s);
}

/* AMX: tiles 0-3 the sums (int32 or float32), 4-5 and 6-7 the operands (16 rows x 64 bytes: the
 * signed and unsigned bytes, or bf16 pairs). */
#define AMX_TDP(c, a, b) __asm__ volatile("tdpbsud %%tmm" #b ", %%tmm" #a ", %%tmm" #c ::)
#define AMX_TDP_BF16(c, a, b) __asm__ volatile("tdpbf16ps %%tmm" #b ", %%tmm" #a ", %%tmm" #c ::)

static float run_amx(long iters, int bf16)
{
    _Alignas(64) unsigned char cfg[64] = {0}, buf[1024];
    _Alignas(64) int sums[256];
    cfg[0] = 1;
    for (int t = 0; t < 8; t++)
        cfg[16 + 2 * t] = 64, cfg[48 + t] = 16;
    for (int i = 0; i < 1024; i++) /* bf16: every value 2^-16 (0x3780), so the sums stay finite */
        buf[i] = bf16 ? (unsigned char)(i % 2 ? 0x37 : 0x80) : (unsigned char)(i * 7 + 1);
    __asm__ volatile("ldtilecfg (%0)" ::"r"(cfg) : "memory");
    __asm__ volatile("tilezero %%tmm0\n\ttilezero %%tmm1\n\ttilezero %%tmm2\n\ttilezero %%tmm3" ::);
    __asm__ volatile("tileloadd (%0,%1,1), %%tmm4\n\ttileloadd (%0,%1,1), %%tmm5\n\t"
                     "tileloadd (%0,%1,1), %%tmm6\n\ttileloadd (%0,%1,1), %%tmm7" ::"r"(buf), "r"(64L) : "memory");
    for (long n = 0; n < iters && !bf16; n++) {
        AMX_TDP(0, 4, 6);
        AMX_TDP(1, 4, 7);
        AMX_TDP(2, 5, 6);
        AMX_TDP(3, 5, 7);
    }
    for (long n = 0; n < iters && bf16; n++) {
        AMX_TDP_BF16(0, 4, 6);
        AMX_TDP_BF16(1, 4, 7);
        AMX_TDP_BF16(2, 5, 6);
        AMX_TDP_BF16(3, 5, 7);
    }
    __asm__ volatile("tilestored %%tmm0, (%0,%1,1)" ::"r"(sums), "r"(64L) : "memory");
    __asm__ volatile("tilerelease" ::: "memory");
    return (float)sums[0];
}

/* The CPU has AMX tiles with the dot products of CPUID.7.0:EDX bit `bit` (25 int8, 22 bf16)
 * and Linux lets this process use the tiles (asked once per process). */
static int amx_usable(int bit)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)) || !(d & (1u << bit)))
        return 0;
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0;
}

static void *worker(void *arg)
{
    job *j = arg;
    double c0 = cpu_now();
    switch (j->isa) {
    case ISA_AVX512: j->sink = run_avx512(j->iters); break;
    case ISA_BF16: j->sink = run_bf16(j->iters); break;
    case ISA_VNNI: j->sink = run_vnni(j->iters); break;
    case ISA_AMX: j->sink = run_amx(j->iters, 0); break;
    case ISA_AMX_BF16: j->sink = run_amx(j->iters, 1); break;
    case ISA_CONV: j->sink = run_conv_loop(j->iters); break;
    default: j->sink = run_avx2(j->iters); break;
    }
    j->cpu = cpu_now() - c0;
    return NULL;
}

/* Operations (2 per multiply-add) of one loop iteration for an isa. */
static double flops_per_iter(int isa)
{
    static const double lanes_madds[N_ISA] = {8, 16, 32, 64, 16 * 16 * 64, 16 * 16 * 32, 16}; /* per instruction */
    if (isa == ISA_CONV) /* 24 FMAs per channel and tap */
        return 2.0 * 24 * CONV_CH * CONV_K * lanes_madds[isa];
    int amx = isa == ISA_AMX || isa == ISA_AMX_BF16; /* four tiles */
    return 2.0 * (isa == ISA_AVX2 ? ACC256 : amx ? 4 : ACC512) * lanes_madds[isa];
}

/* Runs iters iterations on each of nt threads; returns the wall time in seconds and, in *cpu,
 * the CPU seconds the threads used in total. */
static double timed(int isa, int nt, long iters, double *cpu)
{
    pthread_t th[256];
    job jobs[256];
    double t0 = now();
    for (int i = 0; i < nt; i++) {
        jobs[i] = (job){.iters = iters, .isa = isa};
        if (pthread_create(&th[i], NULL, worker, &jobs[i]))
            return -1.0;
    }
    float s = 0;
    *cpu = 0;
    for (int i = 0; i < nt; i++) {
        pthread_join(th[i], NULL);
        s += jobs[i].sink;
        *cpu += jobs[i].cpu;
    }
    double t = now() - t0;
    if (s == 12345.0f) /* keeps the results alive */
        fputs("", stderr);
    return t;
}

/* Best of 3 runs of about `seconds` each: GFLOP/s over wall time (*wall) and per CPU second
 * times nt (*cpu: the rate the threads reach while they are on a core, which other load on
 * the machine does not lower). Returns 0 on success. */
static int peak(int isa, int nt, double seconds, double *wall, double *cpu)
{
    long iters = (long)(1e9 / flops_per_iter(isa)) + 1; /* a calibration run of ~1 GFLOP, whatever the loop */
    double c, t = timed(isa, 1, iters, &c);
    if (c > 0)
        iters = (long)(iters * seconds / c);
    if (iters < 1000)
        iters = 1000;
    *wall = *cpu = 0;
    for (int r = 0; r < 3; r++) {
        t = timed(isa, nt, iters, &c);
        if (t <= 0 || c <= 0)
            return -1;
        double fl = flops_per_iter(isa) * (double)iters * nt * 1e-9;
        if (fl / t > *wall)
            *wall = fl / t;
        if (fl / c * nt > *cpu)
            *cpu = fl / c * nt;
    }
    return 0;
}

static void report(const char *name, int isa, int nt, double seconds)
{
    double w, c;
    if (peak(isa, nt, seconds, &w, &c))
        printf("fma_peak isa=%s threads=%d error\n", name, nt);
    else
        printf("fma_peak isa=%s threads=%d gflops=%.1f gflops_cpu=%.1f\n", name, nt, w, c);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 0.3;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int all = ncpu < 1 ? 1 : ncpu > 256 ? 256 : (int)ncpu;
    if (seconds <= 0 || seconds > 60) {
        fprintf(stderr, "usage: fma_peak [SECONDS per run, default 0.3]\n");
        return 2;
    }
    __builtin_cpu_init();
    int have[N_ISA] = {__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"),
                       __builtin_cpu_supports("avx512f"), __builtin_cpu_supports("avx512bf16"),
                       __builtin_cpu_supports("avx512vnni"), amx_usable(25), amx_usable(22),
                       __builtin_cpu_supports("avx512f")};
    const char *name[N_ISA] = {"avx2", "avx512", "avx512_bf16", "avx512_vnni", "amx_int8", "amx_bf16", "avx512_conv_loop"};
    static const int order[N_ISA] = {ISA_AVX512, ISA_AVX2, ISA_BF16, ISA_VNNI, ISA_AMX, ISA_AMX_BF16, ISA_CONV};
    for (int o = 0; o < N_ISA; o++) {
        int isa = order[o];
        if (!have[isa]) {
            printf("fma_peak isa=%s threads=0 unsupported\n", name[isa]);
            continue;
        }
        report(name[isa], isa, 1, seconds);
        if (all > 1)
            report(name[isa], isa, all, seconds);
    }
    return 0;
}
