/* sgemm_rate - OpenBLAS cblas_sgemm GFLOP/s at the shapes of Kokoro's convolutions as GEMMs.
 *
 *   cc -std=c11 -O2 bench/sgemm_rate.c $(pkg-config --cflags --libs openblas) -o sgemm_rate
 *   ./sgemm_rate [FRAMES]          (FRAMES: Kokoro frames of 25 ms, default 130 = 3.25 s of audio)
 *
 * A Conv1d(Cin -> Cout, k) over L columns is, after im2col, C[Cout, L] = W[Cout, Cin*k] x
 * X[Cin*k, L]: M = Cout, K = Cin*k, N = L. The shapes below are the convolutions that carry
 * most of the model's MACs (bench/flops.py counts them) for an utterance of FRAMES frames, plus a square
 * 1024 for reference. Each shape runs with 1 thread and with all cores (openblas_set_num_threads),
 * best of several runs. OPENBLAS_CORETYPE in the environment is left as it is and printed, with
 * the kernel set OpenBLAS chose.
 * Output: "sgemm name=... M= K= N= threads= gflops=" lines. */
#define _GNU_SOURCE
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

void openblas_set_num_threads(int num_threads);
char *openblas_get_corename(void);

typedef struct {
    const char *name;
    int m, k, n;
} shape;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fill(float *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
}

/* Best GFLOP/s of sgemm at shape s: repeats until about 0.15 s of work per run, 3 runs. */
static double rate(const shape *s, const float *a, const float *b, float *c)
{
    double flop = 2.0 * s->m * s->k * (double)s->n, best = 0;
    int reps = 1;
    double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->m, s->n, s->k, 1.0f, a, s->k, b, s->n, 0.0f, c,
                s->n);
    double t = now() - t0;
    if (t > 0 && t < 0.15)
        reps = (int)(0.15 / t) + 1;
    for (int r = 0; r < 3; r++) {
        t0 = now();
        for (int i = 0; i < reps; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->m, s->n, s->k, 1.0f, a, s->k, b, s->n, 0.0f,
                        c, s->n);
        t = (now() - t0) / reps;
        if (t > 0 && flop / t * 1e-9 > best)
            best = flop / t * 1e-9;
    }
    return best;
}

int main(int argc, char **argv)
{
    int F = argc > 1 ? atoi(argv[1]) : 130;
    if (F < 1 || F > 20000) {
        fprintf(stderr, "usage: sgemm_rate [FRAMES 1..20000, default 130]\n");
        return 2;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int all = ncpu < 1 ? 1 : (int)ncpu;
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf("sgemm OPENBLAS_CORETYPE=%s kernel=%s frames=%d\n", ct ? ct : "(unset)", openblas_get_corename(), F);
    const shape shapes[] = {
        {"resblocks.3-5 k3 (128ch)", 128, 128 * 3, 120 * F},
        {"resblocks.3-5 k11 (128ch)", 128, 128 * 11, 120 * F},
        {"resblocks.0-2 k3 (256ch)", 256, 256 * 3, 20 * F},
        {"resblocks.0-2 k11 (256ch)", 256, 256 * 11, 20 * F},
        {"decode conv1 (1090->1024 k3)", 1024, 1090 * 3, F},
        {"square 1024", 1024, 1024, 1024},
    };
    size_t na = 0, nb = 0, nc = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const shape *s = &shapes[i];
        if ((size_t)s->m * s->k > na) na = (size_t)s->m * s->k;
        if ((size_t)s->k * s->n > nb) nb = (size_t)s->k * s->n;
        if ((size_t)s->m * s->n > nc) nc = (size_t)s->m * s->n;
    }
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *c = malloc(nc * sizeof *c);
    if (!a || !b || !c) {
        fprintf(stderr, "sgemm_rate: out of memory\n");
        free(a), free(b), free(c);
        return 1;
    }
    fill(a, na, 1), fill(b, nb, 2), fill(c, nc, 3);
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const shape *s = &shapes[i];
        for (int nt = 1; nt <= all; nt = nt == all ? all + 1 : (nt * 2 > all ? all : nt * 2)) {
            openblas_set_num_threads(nt);
            printf("sgemm name=%s M=%d K=%d N=%d threads=%d gflops=%.1f\n", s->name, s->m, s->k, s->n, nt,
                   rate(s, a, b, c));
            fflush(stdout);
        }
    }
    free(a), free(b), free(c);
    return 0;
}
