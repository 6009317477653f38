/* test_activations.c - kt_gelu, kt_lstm_cell, kt_softmax_rows and kt_normals (kt/kernels.h),
 * kt_leaky_relu / kt_leaky_relu_mt (kt/ops.h).
 *
 * GELU: against the tanh form in double precision over [-12, 12] and at the clamp edges, and
 * the same bytes from the portable loop and the AVX2 one (every length 0 .. 40, so every tail).
 * LSTM cell: c and h against the formulas in double precision (gates over [-12, 12], some at
 * +-100, c over [-4, 4]), and the same bytes from the portable loop and the AVX2 one (every H 0 .. 40).
 * Softmax: against double precision (rows of 1 .. 300 values spread over [-30, 30], one of them
 * -inf), each row summing to 1, the same bytes from the portable loop and the AVX2 one (three
 * rows of every length 1 .. 40).
 * Leaky ReLU: element by element the scalar rule (negatives times the slope, everything else
 * untouched: -0, denormals, infinities, NaN), at every length 0 .. 40 and on 1 and 3 threads.
 * Normal numbers: the same bytes from the portable and the AVX2 loops (every length 0 .. 40 and
 * offset, and 200,000 in a row), and the float of the libm formula (double log, cos, sqrt) for
 * at least 99.999% of them (all, in practice) and within one float step for all. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kt/kernels.h"
#include "kt/ops.h"

#define GUARD_VALUE 1234.5f

/* 0.5 v (1 + tanh u) = v / (1 + e^(-2u)): the second form keeps its digits in double where
 * 1 + tanh u cancels (u below about -18). */
static double gelu_ref(double v) { return v / (1.0 + exp(-2.0 * 0.7978845608028654 * (v + 0.044715 * v * v * v))); }

/* The ISAs this CPU runs, as kt_exec_create_isa caps them. */
static int have_isa(int want)
{
    kt_exec *ex = NULL;
    kt_error err;
    assert_int_equal(kt_exec_create_isa(1, want, &ex, &err), KT_OK);
    int isa = kt_exec_isa(ex);
    kt_exec_free(ex);
    return isa == want;
}

/* Each step rounds once, so the error is a few float steps of the value, plus what the rounding
 * of a = -2u (about 3 steps of a) does through e^a: up to |a| times that where e^a dominates. */
static void test_gelu_accuracy(void **state)
{
    (void)state;
    enum { N = 48001 };
    float *x = malloc(sizeof(float) * N), *in = malloc(sizeof(float) * N);
    assert_true(x && in);
    for (int i = 0; i < N; i++)
        x[i] = in[i] = -12.0f + 24.0f * (float)i / (N - 1);
    kt_gelu(KT_ISA_GENERIC, x, N);
    double worst = 0.0;
    for (int i = 0; i < N; i++) {
        double v = in[i], ref = gelu_ref(v);
        double a = fabs(2.0 * 0.7978845608028654 * (v + 0.044715 * v * v * v));
        double err = fabs(x[i] - ref), bound = 3e-7 * fabs(ref) * (1.0 + a) + 1e-36;
        if (err > bound)
            fail_msg("gelu(%.9g) = %.9g, double %.9g (error %.3g > %.3g)", v, (double)x[i], ref, err, bound);
        if (fabs(ref) > 1e-30 && err / (fabs(ref) * (1.0 + a)) > worst)
            worst = err / (fabs(ref) * (1.0 + a));
    }
    printf("  gelu on [-12, 12], values above 1e-30: worst error / (|value| (1 + |2u|)) %.3g\n", worst);
    float edge[6] = {0.0f, -0.0f, 40.0f, -40.0f, 1e-30f, -1e-30f};
    kt_gelu(KT_ISA_GENERIC, edge, 6);
    assert_true(edge[0] == 0.0f && edge[1] == 0.0f);
    assert_true(edge[2] == 40.0f);
    assert_true(fabsf(edge[3]) < 1e-30f);
    assert_float_equal(edge[4], 0.5e-30f, 1e-36);
    assert_float_equal(edge[5], -0.5e-30f, 1e-36);
    float one[2] = {1.0f, -3.0f};
    kt_gelu(KT_ISA_GENERIC, one, 2);
    assert_float_equal(one[0], 0.8411920071, 1e-6); /* HF gelu_new(1) */
    assert_float_equal(one[1], -0.0036375, 1e-6);
    free(x), free(in);
}

static void test_gelu_isa_bytes(void **state)
{
    (void)state;
    if (!have_isa(KT_ISA_AVX2)) {
        printf("  no AVX2 here: the vector loop is not run\n");
        return;
    }
    float a[41], b[41];
    uint32_t seed = 7u;
    for (int n = 0; n <= 40; n++) {
        for (int i = 0; i < 41; i++) {
            seed = seed * 1664525u + 1013904223u;
            a[i] = b[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * (i % 3 ? 8.0f : 200.0f);
        }
        if (n >= 12) { /* NaN and infinities: the same bytes too (NaN keeps its payload) */
            a[3] = b[3] = NAN;
            a[9] = b[9] = INFINITY;
            a[11] = b[11] = -INFINITY;
        }
        a[n] = b[n] = GUARD_VALUE;
        kt_gelu(KT_ISA_GENERIC, a, (size_t)n);
        kt_gelu(KT_ISA_AVX2, b, (size_t)n);
        assert_true(a[n] == GUARD_VALUE && b[n] == GUARD_VALUE);
        if (memcmp(a, b, sizeof(float) * (size_t)n))
            fail_msg("gelu on %d values: AVX2 gives other bytes than the portable loop", n);
    }
}

static double sigmoid_ref(double v) { return 1.0 / (1.0 + exp(-v)); }

/* g[4H] over [-12, 12] with every seventh at +-100, c[H] over [-4, 4] */
static void lstm_inputs(uint32_t *seed, int H, float *g, float *c)
{
    for (int i = 0; i < 4 * H; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        float u = (float)(*seed >> 8) / 16777216.0f - 0.5f;
        g[i] = i % 7 == 6 ? (u < 0.0f ? -100.0f : 100.0f) : 24.0f * u;
    }
    for (int j = 0; j < H; j++) {
        *seed = *seed * 1664525u + 1013904223u;
        c[j] = 8.0f * ((float)(*seed >> 8) / 16777216.0f - 0.5f);
    }
}

static void test_lstm_cell_accuracy(void **state)
{
    (void)state;
    enum { H = 4096 };
    float *g = malloc(sizeof(float) * 4 * H), *c = malloc(sizeof(float) * H), *c0 = malloc(sizeof(float) * H);
    float *h = malloc(sizeof(float) * H);
    assert_true(g && c && c0 && h);
    uint32_t seed = 5u;
    lstm_inputs(&seed, H, g, c);
    memcpy(c0, c, sizeof(float) * H);
    kt_lstm_cell(KT_ISA_GENERIC, g, c, h, H);
    double worst_c = 0.0, worst_h = 0.0;
    for (int j = 0; j < H; j++) {
        double rc = sigmoid_ref(g[H + j]) * c0[j] + sigmoid_ref(g[j]) * tanh(g[2 * H + j]);
        double rh = sigmoid_ref(g[3 * H + j]) * tanh(rc);
        double ec = fabs(c[j] - rc) / (1.0 + fabs(rc)), eh = fabs(h[j] - rh);
        if (ec > 1e-6 || eh > 1e-6)
            fail_msg("lstm cell unit %d: c %.9g (double %.9g), h %.9g (double %.9g)", j, (double)c[j], rc,
                     (double)h[j], rh);
        worst_c = ec > worst_c ? ec : worst_c;
        worst_h = eh > worst_h ? eh : worst_h;
    }
    printf("  lstm cell, %d units: worst |c - double| / (1 + |c|) %.3g, worst |h - double| %.3g\n", H, worst_c,
           worst_h);
    float g1[4] = {0.0f, 0.0f, 0.0f, 0.0f}, c1 = 1.0f, h1;
    kt_lstm_cell(KT_ISA_GENERIC, g1, &c1, &h1, 1);
    assert_float_equal(c1, 0.5f, 1e-7);                    /* sigmoid(0) 1 + sigmoid(0) tanh(0) */
    assert_float_equal(h1, 0.5 * tanh(0.5), 1e-7);
    free(g), free(c), free(c0), free(h);
}

static void test_lstm_cell_isa_bytes(void **state)
{
    (void)state;
    if (!have_isa(KT_ISA_AVX2)) {
        printf("  no AVX2 here: the vector loop is not run\n");
        return;
    }
    float g[4 * 40], ca[41], cb[41], ha[41], hb[41];
    uint32_t seed = 9u;
    for (int n = 0; n <= 40; n++) {
        lstm_inputs(&seed, n, g, ca);
        memcpy(cb, ca, sizeof(float) * (size_t)n);
        ca[n] = cb[n] = ha[n] = hb[n] = GUARD_VALUE;
        kt_lstm_cell(KT_ISA_GENERIC, g, ca, ha, n);
        kt_lstm_cell(KT_ISA_AVX2, g, cb, hb, n);
        assert_true(ca[n] == GUARD_VALUE && ha[n] == GUARD_VALUE);
        assert_true(cb[n] == GUARD_VALUE && hb[n] == GUARD_VALUE);
        size_t b = sizeof(float) * (size_t)n;
        if (memcmp(ca, cb, b) || memcmp(ha, hb, b))
            fail_msg("lstm cell of %d units: AVX2 gives other bytes than the portable loop", n);
    }
}

static void softmax_inputs(uint32_t *seed, float *x, int n, float spread)
{
    for (int i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        x[i] = spread * ((float)(*seed >> 8) / 16777216.0f - 0.5f);
    }
}

static void test_softmax_accuracy(void **state)
{
    (void)state;
    float x[300], in[300];
    double ref[300];
    uint32_t seed = 3u;
    double worst = 0.0;
    for (int n = 1; n <= 300; n += n < 40 ? 1 : 37) {
        softmax_inputs(&seed, x, n, 60.0f);
        if (n > 5)
            x[n / 2] = -INFINITY;
        double mx = -INFINITY, sum = 0.0;
        for (int i = 0; i < n; i++)
            mx = x[i] > mx ? x[i] : mx;
        for (int i = 0; i < n; i++) {
            in[i] = x[i];
            sum += ref[i] = exp((double)x[i] - mx);
        }
        kt_softmax_rows(KT_ISA_GENERIC, x, 1, n);
        double total = 0.0;
        for (int i = 0; i < n; i++) {
            /* a few float steps, plus what the rounding of x - max does through e^(x - max) */
            double want = ref[i] / sum, err = fabs(x[i] - want), a = mx - in[i];
            if (err > (isinf(a) ? 0.0 : 3e-7 * want * (1.0 + a)) + 1e-37) /* -inf: e^-87 / sum at most */
                fail_msg("softmax of %d values, value %d: %.9g, double %.9g", n, i, (double)x[i], want);
            worst = want > 1e-30 && err / (want * (1.0 + a)) > worst ? err / (want * (1.0 + a)) : worst;
            total += x[i];
        }
        if (fabs(total - 1.0) > 1e-6)
            fail_msg("softmax of %d values sums to %.9g", n, total);
    }
    printf("  softmax: worst error / (value (1 + max - x)) %.3g (values above 1e-30)\n", worst);
}

static void test_softmax_isa_bytes(void **state)
{
    (void)state;
    if (!have_isa(KT_ISA_AVX2)) {
        printf("  no AVX2 here: the vector loop is not run\n");
        return;
    }
    float a[3 * 41], b[3 * 41];
    uint32_t seed = 13u;
    for (int n = 1; n <= 40; n++) {
        softmax_inputs(&seed, a, 3 * n, 20.0f);
        memcpy(b, a, sizeof(float) * 3 * (size_t)n);
        a[3 * n] = b[3 * n] = GUARD_VALUE;
        kt_softmax_rows(KT_ISA_GENERIC, a, 3, n);
        kt_softmax_rows(KT_ISA_AVX2, b, 3, n);
        assert_true(a[3 * n] == GUARD_VALUE && b[3 * n] == GUARD_VALUE);
        if (memcmp(a, b, sizeof(float) * 3 * (size_t)n))
            fail_msg("softmax of 3 rows of %d values: AVX2 gives other bytes than the portable loop", n);
    }
}

static float leaky_one(float v, float slope) { return v < 0.0f ? v * slope : v; }

static void test_leaky_relu(void **state)
{
    (void)state;
    const float special[8] = {-0.0f, 0.0f, 1e-42f, -1e-42f, INFINITY, -INFINITY, NAN, -2.5f};
    float x[41], want[41];
    uint32_t seed = 11u;
    for (int threads = 1; threads <= 3; threads += 2) {
        kt_exec *ex = NULL;
        kt_error err;
        assert_int_equal(kt_exec_create(threads, &ex, &err), KT_OK);
        for (int n = 0; n <= 40; n++) {
            for (int i = 0; i < 41; i++) {
                seed = seed * 1664525u + 1013904223u;
                x[i] = i % 5 == 4 ? special[(seed >> 8) % 8] : (float)(seed >> 8) / 16777216.0f - 0.5f;
                want[i] = i < n ? leaky_one(x[i], 0.2f) : x[i];
            }
            if (n % 2)
                kt_leaky_relu(x, (size_t)n, 0.2f);
            else
                kt_leaky_relu_mt(ex, x, (size_t)n, 0.2f);
            if (memcmp(x, want, sizeof x))
                fail_msg("leaky relu on %d values, %d threads: not the scalar rule's bytes", n, threads);
        }
        enum { BIG = 100003 }; /* enough for the threads to split it */
        float *y = malloc(sizeof(float) * BIG), *w = malloc(sizeof(float) * BIG);
        assert_true(y && w);
        for (int i = 0; i < BIG; i++) {
            seed = seed * 1664525u + 1013904223u;
            y[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
            w[i] = leaky_one(y[i], 0.01f);
        }
        kt_leaky_relu_mt(ex, y, BIG, 0.01f);
        assert_memory_equal(y, w, sizeof(float) * BIG);
        free(y), free(w);
        kt_exec_free(ex);
    }
}

static uint32_t hash_ref(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

/* The stream's number i with libm's double log and cos. */
static float normal_ref(uint64_t i, uint32_t seed)
{
    uint32_t off = seed * 0x9E3779B9U;
    uint32_t h1 = hash_ref((uint32_t)(2 * i) + off), h2 = hash_ref((uint32_t)(2 * i + 1) + off);
    double u1 = ((h1 >> 8) + 0.5) / 16777216.0, u2 = ((h2 >> 8) + 0.5) / 16777216.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2));
}

static void test_normals(void **state)
{
    (void)state;
    enum { BIG = 200000 };
    float *a = malloc(sizeof(float) * (BIG + 1)), *b = malloc(sizeof(float) * (BIG + 1));
    assert_true(a && b);
    int avx2 = have_isa(KT_ISA_AVX2);
    for (uint32_t seed = 0; seed < 3; seed++) {
        size_t same = 0;
        a[BIG] = GUARD_VALUE;
        kt_normals(KT_ISA_GENERIC, 1000u * seed, BIG, seed, a);
        assert_true(a[BIG] == GUARD_VALUE);
        for (size_t i = 0; i < BIG; i++) {
            float r = normal_ref(1000u * seed + i, seed);
            same += a[i] == r;
            if (fabsf(a[i] - r) > 1.2e-7f * fabsf(r))
                fail_msg("normal %zu of seed %u: %.9g, libm formula %.9g", i, seed, (double)a[i], (double)r);
        }
        printf("  seed %u: %zu of %d numbers the libm formula's float\n", seed, same, BIG);
        assert_true(same >= (size_t)BIG - BIG / 100000);
        if (!avx2)
            continue;
        b[BIG] = GUARD_VALUE;
        kt_normals(KT_ISA_AVX2, 1000u * seed, BIG, seed, b);
        assert_true(b[BIG] == GUARD_VALUE);
        assert_memory_equal(a, b, sizeof(float) * BIG);
        for (int n = 0; n <= 40; n++) {
            b[n] = GUARD_VALUE;
            kt_normals(KT_ISA_AVX2, 7u + (uint64_t)n, (size_t)n, seed, b);
            kt_normals(KT_ISA_GENERIC, 7u + (uint64_t)n, (size_t)n, seed, a);
            assert_true(b[n] == GUARD_VALUE);
            if (memcmp(a, b, sizeof(float) * (size_t)n))
                fail_msg("normals from %d, %d of them: AVX2 gives other bytes than the portable loop", 7 + n, n);
        }
    }
    free(a), free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gelu_accuracy),
        cmocka_unit_test(test_gelu_isa_bytes),
        cmocka_unit_test(test_lstm_cell_accuracy),
        cmocka_unit_test(test_lstm_cell_isa_bytes),
        cmocka_unit_test(test_softmax_accuracy),
        cmocka_unit_test(test_softmax_isa_bytes),
        cmocka_unit_test(test_leaky_relu),
        cmocka_unit_test(test_normals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
