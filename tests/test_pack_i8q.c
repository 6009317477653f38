/* test_pack_i8q.c - q8 conv weights in the integer form (KT_PACK_I8Q). With VNNI, and with AMX
 * tiles where the CPU has them, the conv must give exactly the integer arithmetic it documents
 * (activations quantized per block of 64 channels, u8 x s8 sums, one float32 fused multiply-add
 * per block), bit for bit against a scalar model of it, at 1, 2 and 3 threads; without VNNI (an
 * AVX2 or generic exec) the same weight decodes to the bytes KT_PACK_I8 gives. */
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
#include "util/exec_env.h"

static uint32_t next(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

typedef struct {
    int cout, cin, k, pad, dil, L;
    int8_t *q;
    float *s, *bias, *x, *y0; /* y0: what an accumulating conv adds to */
} conv_case;

static void case_make(conv_case *z, int cout, int cin, int k, int dil, int L)
{
    uint32_t seed = (uint32_t)(cout * 131 + cin * 17 + k * 5 + dil + L);
    size_t K = (size_t)cin * k;
    *z = (conv_case){cout, cin, k, dil * (k - 1) / 2, dil, L, NULL, NULL, NULL, NULL, NULL};
    z->q = malloc((size_t)cout * K);
    z->s = malloc(sizeof(float) * (size_t)cout);
    z->bias = malloc(sizeof(float) * (size_t)cout);
    z->x = malloc(sizeof(float) * (size_t)cin * L);
    z->y0 = malloc(sizeof(float) * (size_t)cout * L);
    assert_true(z->q && z->s && z->bias && z->x && z->y0);
    for (size_t i = 0; i < (size_t)cout * K; i++)
        z->q[i] = (int8_t)((int)(next(&seed) % 255) - 127);
    for (int o = 0; o < cout; o++) {
        z->s[o] = 0.001f + (float)(next(&seed) % 1000) * 1e-5f;
        z->bias[o] = (float)(next(&seed) % 200) * 0.01f - 1.0f;
    }
    for (int c = 0; c < cin; c++) { /* rows of different ranges: the blocks get other scales */
        float amp = 0.1f + (float)(c % 7);
        for (int t = 0; t < L; t++)
            z->x[(size_t)c * L + t] = amp * ((float)(next(&seed) % 2001) * 0.001f - 1.0f);
    }
    for (size_t i = 0; i < (size_t)cout * L; i++)
        z->y0[i] = (float)(next(&seed) % 2000) * 0.001f - 1.0f;
}

static void case_free(conv_case *z) { free(z->q), free(z->s), free(z->bias), free(z->x), free(z->y0); }

/* The documented arithmetic, one output at a time. */
static void vnni_model(const conv_case *z, int accumulate, float *y)
{
    int nb = (z->cin + 4 * KT_VNNI_QUADS - 1) / (4 * KT_VNNI_QUADS);
    size_t K = (size_t)z->cin * z->k;
    for (int b = 0; b < nb; b++) {
        int c0 = 4 * KT_VNNI_QUADS * b, c1 = c0 + 4 * KT_VNNI_QUADS < z->cin ? c0 + 4 * KT_VNNI_QUADS : z->cin;
        float m = 0.0f;
        for (int c = c0; c < c1; c++)
            for (int t = 0; t < z->L; t++)
                m = fabsf(z->x[(size_t)c * z->L + t]) > m ? fabsf(z->x[(size_t)c * z->L + t]) : m;
        float inv = m > 0.0f ? 127.0f / m : 0.0f, xs = m / 127.0f;
        for (int o = 0; o < z->cout; o++)
            for (int t = 0; t < z->L; t++) {
                int64_t acc = 0;
                for (int c = c0; c < c1; c++)
                    for (int j = 0; j < z->k; j++) {
                        int xi = t + j * z->dil - z->pad, code = 0;
                        if (xi >= 0 && xi < z->L) {
                            float r = z->x[(size_t)c * z->L + xi] * inv;
                            r = r > 127.0f ? 127.0f : r < -127.0f ? -127.0f : r;
                            code = (int)lrintf(r);
                        }
                        acc += (int64_t)code * z->q[(size_t)o * K + (size_t)c * z->k + (size_t)j];
                    }
                float *e = y + (size_t)o * z->L + t;
                float base = b ? *e + 0.0f : accumulate ? z->y0[(size_t)o * z->L + t] + z->bias[o] : z->bias[o];
                *e = fmaf(z->s[o] * xs, (float)(int32_t)acc, base);
            }
    }
}

/* isa: KT_ISA for the exec (NULL: the CPU's best), amx_off: KT_AMX=off (the VNNI kernel);
 * *vnni: the exec runs the conv on integer dot products, *amx: on AMX tiles. */
static void run(const conv_case *z, const kt_packed *pk, const char *isa, int amx_off, int threads, int accumulate,
                float *y, int *vnni, int *amx)
{
    kt_conv1d c = {NULL, z->bias, z->cin, z->cout, z->k, 1, z->pad, z->dil};
    assert_int_equal(kt_conv1d_out_len(&c, z->L), z->L);
    size_t cap = kt_conv1d_packed_scratch(&c, z->L) + 64;
    float *buf = malloc(sizeof(float) * cap);
    assert_non_null(buf);
    kt_error err;
    kt_exec *ex = exec_env_create(threads, isa, amx_off);
    *vnni = kt_exec_vnni_conv(ex, z->k);
    *amx = *vnni && kt_exec_has_amx(ex);
    kt_arena a;
    kt_arena_init(&a, buf, cap);
    a.ex = ex;
    memcpy(y, z->y0, sizeof(float) * (size_t)z->cout * z->L);
    assert_int_equal(kt_conv1d_packed_forward(&c, pk, z->x, z->L, y, accumulate, &a, &err), KT_OK);

    /* the padded form with no scratch (the call allocates its own 8-bit input): the same bytes */
    size_t Ls = kt_conv_pad_len(&c, z->L), n = (size_t)z->cout * z->L;
    float *xp = calloc((size_t)z->cin * Ls, sizeof(float)), *y2 = malloc(sizeof(float) * n);
    assert_true(xp && y2);
    for (int ci = 0; ci < z->cin; ci++)
        memcpy(xp + (size_t)ci * Ls + z->pad, z->x + (size_t)ci * z->L, sizeof(float) * (size_t)z->L);
    memcpy(y2, z->y0, sizeof(float) * n);
    kt_conv1d_padded(ex, &c, pk, xp, Ls, z->L, y2, accumulate, NULL);
    assert_int_equal(memcmp(y, y2, sizeof(float) * n), 0);
    free(xp), free(y2);
    kt_exec_free(ex);
    free(buf);
}

static void check(int cout, int cin, int k, int dil, int L, int accumulate)
{
    conv_case z;
    case_make(&z, cout, cin, k, dil, L);
    size_t nsc = kt_conv_pack_scales(cout, cin, k, cin * k), n = (size_t)cout * L;
    int8_t *w8 = malloc(kt_conv_pack_size(cout, cin, k));
    uint32_t *wq = malloc(sizeof(uint32_t) * kt_conv_pack_i8q_words(cout, cin, k));
    int32_t *sums = malloc(sizeof(int32_t) * kt_conv_pack_i8q_sums(cout, cin));
    float *s8 = malloc(sizeof(float) * nsc), *sq = malloc(sizeof(float) * nsc);
    float *y8 = malloc(sizeof(float) * n), *yq = malloc(sizeof(float) * n), *ym = malloc(sizeof(float) * n);
    assert_true(w8 && wq && sums && s8 && sq && y8 && yq && ym);
    kt_conv_pack_i8(z.q, z.s, cin * k, cout, cin, k, w8, s8);
    kt_conv_pack_i8q(z.q, z.s, cout, cin, k, wq, sq, sums);
    assert_int_equal(memcmp(s8, sq, sizeof(float) * nsc), 0);
    kt_packed p8 = {KT_PACK_I8, w8, s8, cin * k, NULL}, pq = {KT_PACK_I8Q, wq, sq, cin * k, sums};
    int vn = 0, amx = 0;

    /* without VNNI: the integer form decodes to the same floats as the int8 tiles */
    static const char *const plain[] = {"avx2", "generic"};
    for (int i = 0; i < 2; i++) {
        run(&z, &p8, plain[i], 0, 2, accumulate, y8, &vn, &amx);
        assert_false(vn);
        run(&z, &pq, plain[i], 0, 2, accumulate, yq, &vn, &amx);
        assert_int_equal(memcmp(y8, yq, sizeof(float) * n), 0);
    }

    /* with VNNI, then AMX where the CPU has it: the documented integer arithmetic exactly, any
     * thread count */
    memcpy(ym, z.y0, sizeof(float) * n);
    vnni_model(&z, accumulate, ym);
    for (int amx_off = 1; amx_off >= 0; amx_off--) {
        run(&z, &pq, NULL, amx_off, 1, accumulate, yq, &vn, &amx);
        const char *path = amx ? "AMX" : "VNNI";
        if (!vn) {
            print_message("cout %d cin %d k %d: no AVX-512 VNNI here, the integer path not run\n", cout, cin, k);
            break;
        }
        if (!amx_off && !amx) {
            print_message("cout %d cin %d k %d: no AMX-INT8 here, the tile path not run\n", cout, cin, k);
            break;
        }
        size_t bad = 0;
        for (size_t i = 0; i < n; i++)
            bad += memcmp(&yq[i], &ym[i], sizeof(float)) != 0;
        print_message("%s cout %d cin %d k %d dil %d L %d acc %d: %zu of %zu outputs differ from the model\n", path,
                      cout, cin, k, dil, L, accumulate, bad, n);
        assert_int_equal(bad, 0);
        for (int t = 2; t <= 3; t++) {
            run(&z, &pq, NULL, amx_off, t, accumulate, y8, &vn, &amx);
            assert_int_equal(memcmp(y8, yq, sizeof(float) * n), 0);
        }
    }
    case_free(&z);
    free(w8), free(wq), free(sums), free(s8), free(sq), free(y8), free(yq), free(ym);
}

static void test_one_block(void **state)
{
    (void)state;
    check(13, 7, 3, 1, 50, 0); /* cin not a multiple of 4: zero codes past it */
    check(8, 64, 1, 1, 48, 1);  /* one whole tile, accumulating */
    check(16, 64, 3, 1, 80, 1); /* last tiles of 32 and 16 whole columns */
    check(16, 64, 3, 1, 64, 0);
}

static void test_several_blocks(void **state)
{
    (void)state;
    check(24, 130, 3, 1, 700, 0); /* 33 quads: 3 blocks, 3 row tiles */
    check(20, 128, 11, 5, 1700, 1); /* dilated, 3 time blocks of 768 columns */
    check(40, 68, 3, 3, 1000, 0);   /* 5 row tiles on many columns: each thread's rows in time blocks */
    check(16, 256, 7, 3, 97, 0);
    check(22, 128, 7, 1, 40, 0);  /* conv_post's rows: a partial 16-row tile */
    check(33, 514, 3, 1, 67, 1);  /* the decoder's 514 channels: a last block of one quad */
    check(64, 22, 1, 1, 1500, 1); /* a noise conv: 6 quads of one block, many columns */
    check(48, 96, 5, 2, 15, 0);   /* fewer columns than one tile */
}

/* kt_conv_pack_i8q_tiles on the tiles of 16 rows in pieces, last piece first, into buffers of
 * garbage: every word, scale and row sum of the whole packing. */
static void check_tiles(int cout, int cin, int k, int piece)
{
    conv_case z;
    case_make(&z, cout, cin, k, 1, 8);
    size_t nw = kt_conv_pack_i8q_words(cout, cin, k), ns = kt_conv_pack_i8q_sums(cout, cin);
    size_t nsc = kt_conv_pack_scales(cout, cin, k, cin * k);
    uint32_t *w1 = malloc(sizeof(uint32_t) * nw), *w2 = malloc(sizeof(uint32_t) * nw);
    int32_t *s1 = malloc(sizeof(int32_t) * ns), *s2 = malloc(sizeof(int32_t) * ns);
    float *c1 = malloc(sizeof(float) * nsc), *c2 = malloc(sizeof(float) * nsc);
    assert_true(w1 && w2 && s1 && s2 && c1 && c2);
    memset(w2, 0xAB, sizeof(uint32_t) * nw);
    memset(s2, 0xAB, sizeof(int32_t) * ns);
    memset(c2, 0xAB, sizeof(float) * nsc);
    kt_conv_pack_i8q(z.q, z.s, cout, cin, k, w1, c1, s1);
    int tiles = (cout + KT_I8Q_ROWS - 1) / KT_I8Q_ROWS;
    for (int t1 = tiles; t1 > 0; t1 -= piece)
        kt_conv_pack_i8q_tiles(z.q, z.s, cout, cin, k, t1 - piece > 0 ? t1 - piece : 0, t1, w2, c2, s2);
    assert_int_equal(memcmp(w1, w2, sizeof(uint32_t) * nw), 0);
    assert_int_equal(memcmp(s1, s2, sizeof(int32_t) * ns), 0);
    assert_int_equal(memcmp(c1, c2, sizeof(float) * nsc), 0);
    case_free(&z);
    free(w1), free(w2), free(s1), free(s2), free(c1), free(c2);
}

static void test_tiles(void **state)
{
    (void)state;
    check_tiles(13, 7, 3, 1);   /* one partial tile */
    check_tiles(40, 130, 3, 1); /* 3 tiles, the last of 8 rows */
    check_tiles(33, 514, 3, 2); /* a last tile of one row */
    check_tiles(64, 22, 1, 3);
    check_tiles(22, 128, 7, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_block),
        cmocka_unit_test(test_several_blocks),
        cmocka_unit_test(test_tiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
