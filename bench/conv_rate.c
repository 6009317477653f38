/* conv_rate - the convolution kernels' rates at the generator's and decoder's shapes.
 *
 *   make BUILD=build build/bench/conv_rate &&
 *   build/bench/conv_rate [PEAK1 PEAKN [BF16_1 BF16_N [Q8_1 Q8_N [TILE_BF16_1 TILE_BF16_N [LOOP1 LOOPN]]]]]
 *
 * For each shape (channels in = out, kernel, dilation, output columns) it runs the direct
 * kernel (kt_conv1d_padded_ld) and, for the generator's resblock convs, Winograd F(4,4)
 * (kt_wino_conv_padded_ld; in bf16 from 4 taps, as the model runs them) on 1 thread and on every
 * CPU, best of 3 timed loops of at least 0.3 s each. It prints GFLOP/s counted in the direct
 * form's multiply-adds (2 FLOPs each), so the Winograd figure can pass the FMA peak; with the
 * FMA peaks (GFLOP/s on 1 core and on all, from bench/fma_peak) it also prints the direct
 * kernel's time over its floor. Where the CPU
 * has AVX512_BF16 it also times the bfloat16 forms (kt-synth --bf16 and --bf16-winograd): the
 * direct vdpbf16ps kernel's rate, and Winograd in bf16 over it (and where it has AMX-BF16
 * tiles, the tile kernel kt-synth --bf16 then runs: bf16_amx_gflops, and its speed over
 * vdpbf16ps); where it has AVX-512 VNNI, the q8 kernel (vpdpbusd, or tdpbsud where the CPU also
 * has AMX-INT8 and KT_AMX is not off, on 8-bit inputs quantized per call, as kt-synth runs a q8
 * file: q8_kernel=vnni|amx), counted in operations of the direct form too. With the bf16 and q8
 * dot-product peaks from bench/fma_peak (optional arguments 3 to 6; for q8 the peak of the
 * instruction its kernel runs; 7 and 8 the tdpbf16ps peak) each of those kernels' time over its
 * own floor is printed as well. With the rate of the float32 kernel's inner loop in L1
 * (arguments 9 and 10, bench/fma_peak's isa=avx512_conv_loop) it prints the direct kernel's time
 * over that loop's (direct_x_loop): what the kernel loses to the caches and to its blocking,
 * apart from what the core loses on the loop's own mix of loads and FMAs.
 * For kernels of 7 taps and more it also times FFT overlap-save (kt_fft_conv_padded_ld) and
 * prints its speed over Winograd's (the model runs kernel 11 at up to 128 channels that way on
 * AVX-512), and both again with
 * cold weights: each call on the next of COLD copies of the transformed weights, as in the
 * model, where every conv has weights of its own that the previous ones pushed out of the
 * caches (FFT's are 2.2x Winograd's). Figures only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kt/fftconv.h"
#include "kt/kernels.h"
#include "kt/quant.h"
#include "kt/winograd.h"

typedef struct {
    int ch, k, dil, cols;
    int resblock; /* a generator resblock conv: the model runs it by Winograd (float32) */
    const char *where;
} shape;

static const shape SHAPES[] = {
    {1024, 3, 1, 67, 0, "decoder, 1.7 s chunk"},
    {512, 3, 1, 134, 0, "decoder's last block"},
    {256, 3, 1, 1340, 1, "generator stage 0, k3"},
    {256, 7, 3, 1340, 1, "generator stage 0, k7"},
    {256, 11, 5, 1340, 1, "generator stage 0, k11"},
    {128, 3, 1, 8040, 1, "generator stage 1, k3"},
    {128, 7, 3, 8040, 1, "generator stage 1, k7"},
    {128, 11, 5, 8040, 1, "generator stage 1, k11"},
    {128, 11, 5, 4440, 1, "generator stage 1, k11, a 1.1 s first chunk"},
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define COLD 8 /* weight copies the cold loops cycle through */

typedef struct {
    kt_conv1d c;
    kt_packed pk, pkb, pkq; /* pkb: bf16 pairs (codes NULL: no bf16); pkq: q8 for VNNI (codes NULL: none) */
    kt_packed pkt;          /* bf16 for AMX tiles (codes NULL: none) */
    uint32_t *wbt;          /* pkt's words and its input's scratch */
    float *xpbt;
    uint32_t *wq8;           /* pkq's words, scales, row sums and the 8-bit input's scratch */
    float *sq8, *xq8;
    int32_t *sum8;
    kt_wino wq, wqb;
    float *w, *b, *wp, *u, *xp, *y, *ws, *wb, *ub, *xpb, *wsb;
    float *fu, *fs; /* FFT weight and scratch (NULL below 7 taps) */
    float *uc[COLD], *fuc[COLD]; /* copies of u and fu for the cold loops */
    size_t Ls;
    int L;
} conv_case;

static int make_case(const shape *s, conv_case *cc)
{
    int C = s->ch, k = s->k;
    size_t nw = (size_t)C * C * k;
    cc->L = s->cols;
    cc->w = malloc(sizeof(float) * nw);
    cc->b = calloc((size_t)C, sizeof(float));
    cc->c = (kt_conv1d){cc->w, cc->b, C, C, k, 1, s->dil * (k - 1) / 2, s->dil};
    cc->wp = malloc(sizeof(float) * kt_conv_pack_size(C, C, k));
    cc->Ls = kt_conv_pad_len(&cc->c, s->cols);
    cc->xp = calloc((size_t)C * cc->Ls, sizeof(float));
    cc->y = malloc(sizeof(float) * (size_t)C * s->cols);
    int wino = s->resblock;
    cc->u = wino ? malloc(sizeof(float) * kt_wino_pack_size(C, C, k)) : NULL;
    cc->ws = wino ? malloc(sizeof(float) * kt_wino_scratch(&cc->c, 0, s->cols, kt_usable_cpus())) : NULL;
    if (!cc->w || !cc->b || !cc->wp || !cc->xp || !cc->y || (wino && (!cc->u || !cc->ws)))
        return -1;
    for (size_t i = 0; i < nw; i++)
        cc->w[i] = 0.02f * sinf(0.1f * (float)i);
    for (size_t i = 0; i < (size_t)C * cc->Ls; i++)
        cc->xp[i] = cosf(0.01f * (float)i);
    kt_conv_pack(cc->w, C, C, k, cc->wp);
    if (k >= 7 && k <= KT_FFT_KMAX) {
        cc->fu = malloc(sizeof(float) * kt_fft_pack_size(C, C));
        cc->fs = malloc(sizeof(float) * kt_fft_scratch(&cc->c, s->cols, kt_usable_cpus()));
        if (!cc->fu || !cc->fs)
            return -1;
        kt_fft_pack_tiles(cc->w, C, C, k, 0, (C + KT_PACK_MR - 1) / KT_PACK_MR, cc->fu);
    }
    for (int i = 0; i < COLD && cc->fu; i++) {
        cc->uc[i] = malloc(sizeof(float) * kt_wino_pack_size(C, C, k));
        cc->fuc[i] = malloc(sizeof(float) * kt_fft_pack_size(C, C));
        if (!cc->uc[i] || !cc->fuc[i])
            return -1;
        kt_wino_pack_tiles(cc->w, C, C, k, 0, (C + KT_PACK_MR - 1) / KT_PACK_MR, cc->uc[i]);
        kt_fft_pack_tiles(cc->w, C, C, k, 0, (C + KT_PACK_MR - 1) / KT_PACK_MR, cc->fuc[i]);
    }
    cc->pk = (kt_packed){KT_PACK_F32, cc->wp, NULL, 0, NULL};
    cc->wq = (kt_wino){NULL, 0, 0, 0};
    if (cc->u) {
        kt_wino_pack_tiles(cc->w, C, C, k, 0, (C + KT_PACK_MR - 1) / KT_PACK_MR, cc->u);
        cc->wq = (kt_wino){cc->u, kt_wino_pieces(k), 0, 0};
    }
    return 0;
}

/* The bfloat16 forms of cc's weights and their scratch (tiles: also the AMX tile form); -1 when
 * out of memory. */
static int make_bf16(conv_case *cc, int tiles)
{
    int C = cc->c.cout, k = cc->c.k;
    cc->wb = malloc(sizeof(uint32_t) * kt_conv_pack_bf16x2_size(C, C, k));
    cc->xpb = malloc(sizeof(uint32_t) * ((size_t)C + 1) / 2 * cc->Ls);
    int wino = cc->u && k >= 4; /* bf16 compute keeps kernel 3 direct */
    cc->ub = wino ? malloc(sizeof(uint32_t) * kt_wino_pack_bf16_size(C, C, k)) : NULL;
    cc->wsb = wino ? malloc(sizeof(float) * kt_wino_scratch(&cc->c, 1, cc->L, kt_usable_cpus())) : NULL;
    if (!cc->wb || !cc->xpb || (wino && (!cc->ub || !cc->wsb)))
        return -1;
    kt_conv_pack_bf16x2(cc->w, C, C, k, (uint32_t *)(void *)cc->wb);
    cc->pkb = (kt_packed){KT_PACK_BF16X2, cc->wb, NULL, 0, NULL};
    if (tiles) {
        cc->wbt = malloc(sizeof(uint32_t) * kt_conv_pack_bf16t_size(C, C, k));
        cc->xpbt = malloc(sizeof(float) * kt_conv_input_form_floats(KT_PACK_BF16T, C, cc->Ls));
        if (!cc->wbt || !cc->xpbt)
            return -1;
        kt_conv_pack_bf16t(cc->w, C, C, k, 0, (C + KT_I8Q_ROWS - 1) / KT_I8Q_ROWS, cc->wbt);
        cc->pkt = (kt_packed){KT_PACK_BF16T, cc->wbt, NULL, 0, NULL};
    }
    if (cc->ub) {
        kt_wino_pack_bf16(cc->u, C, C, k, (uint32_t *)(void *)cc->ub);
        cc->wqb = (kt_wino){cc->ub, kt_wino_pieces(k), 1, 0};
    }
    return 0;
}

/* The q8 form of cc's weights with one scale per row, packed for vpdpbusd (KT_PACK_I8Q), and the
 * scratch of its 8-bit input; -1 when out of memory. */
static int make_q8(conv_case *cc)
{
    int C = cc->c.cout, k = cc->c.k;
    size_t K = (size_t)C * k;
    int8_t *q = malloc((size_t)C * K);
    float *s = malloc(sizeof(float) * (size_t)C);
    cc->wq8 = malloc(sizeof(uint32_t) * kt_conv_pack_i8q_words(C, C, k));
    cc->sq8 = malloc(sizeof(float) * kt_conv_pack_scales(C, C, k, (int)K));
    cc->sum8 = malloc(sizeof(int32_t) * kt_conv_pack_i8q_sums(C, C));
    cc->xq8 = malloc(sizeof(float) * kt_conv_input_form_floats(KT_PACK_I8Q, C, cc->Ls));
    int ok = q && s && cc->wq8 && cc->sq8 && cc->sum8 && cc->xq8;
    for (int o = 0; ok && o < C; o++) /* as kt-convert --dtype q8 writes a conv weight */
        kt_q8_quantize_row(cc->w + o * K, (int64_t)K, q + o * K, &s[o]);
    if (ok) {
        kt_conv_pack_i8q(q, s, C, C, k, cc->wq8, cc->sq8, cc->sum8);
        cc->pkq = (kt_packed){KT_PACK_I8Q, cc->wq8, cc->sq8, (int)K, cc->sum8};
    }
    free(q), free(s);
    return ok ? 0 : -1;
}

static void free_case(conv_case *cc)
{
    free(cc->wq8), free(cc->sq8), free(cc->sum8), free(cc->xq8);
    free(cc->w), free(cc->b), free(cc->wp), free(cc->u), free(cc->xp), free(cc->y), free(cc->ws);
    free(cc->wb), free(cc->ub), free(cc->xpb), free(cc->wsb), free(cc->fu), free(cc->fs), free(cc->wbt), free(cc->xpbt);
    for (int i = 0; i < COLD; i++)
        free(cc->uc[i]), free(cc->fuc[i]);
}

enum { DIRECT, WINOGRAD, FFT, Q8, TILES };

/* Seconds per call, best of 3 loops of at least 0.3 s; way: DIRECT, WINOGRAD, FFT, Q8 (the
 * direct kernel on the q8 form) or TILES (the bf16 tile form); bf16: the bf16 forms (direct and
 * Winograd); cold: Winograd or FFT on the COLD weight copies in turn. */
static double time_conv(kt_exec *ex, conv_case *cc, int way, int bf16, int cold)
{
    const kt_packed *pk = way == Q8 ? &cc->pkq : way == TILES ? &cc->pkt : bf16 ? &cc->pkb : &cc->pk;
    float *ws = bf16 ? cc->wsb : cc->ws;
    float *xpb = way == Q8 ? cc->xq8 : way == TILES ? cc->xpbt : bf16 ? cc->xpb : NULL;
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        int calls = 0;
        double t0 = now(), t;
        do {
            kt_wino wq = bf16 ? cc->wqb : cc->wq;
            if (cold)
                wq.u = cc->uc[calls % COLD];
            if (way == FFT)
                kt_fft_conv_padded_ld(ex, &cc->c, cold ? cc->fuc[calls % COLD] : cc->fu, cc->xp, cc->Ls, cc->L,
                                      cc->y, (size_t)cc->L, 0, cc->fs);
            else if (way == WINOGRAD)
                kt_wino_conv_padded_ld(ex, &cc->c, &wq, cc->xp, cc->Ls, cc->L, cc->y, (size_t)cc->L, 0, ws);
            else
                kt_conv1d_padded_ld(ex, &cc->c, pk, cc->xp, cc->Ls, cc->L, cc->y, (size_t)cc->L, 0, xpb);
            calls++;
            t = now() - t0;
        } while (t < 0.3);
        if (t / calls < best)
            best = t / calls;
    }
    return best;
}

int main(int argc, char **argv)
{
    double peak[2] = {argc > 1 ? atof(argv[1]) : 0.0, argc > 2 ? atof(argv[2]) : 0.0};
    double peak_bf16[2] = {argc > 3 ? atof(argv[3]) : 0.0, argc > 4 ? atof(argv[4]) : 0.0};
    double peak_vnni[2] = {argc > 5 ? atof(argv[5]) : 0.0, argc > 6 ? atof(argv[6]) : 0.0};
    double peak_tiles[2] = {argc > 7 ? atof(argv[7]) : 0.0, argc > 8 ? atof(argv[8]) : 0.0};
    double conv_loop[2] = {argc > 9 ? atof(argv[9]) : 0.0, argc > 10 ? atof(argv[10]) : 0.0};
    int threads[2] = {1, kt_usable_cpus()};
    int nt = threads[1] > 1 ? 2 : 1;
    for (int ti = 0; ti < nt; ti++) {
        kt_exec *ex = NULL;
        kt_error err;
        if (kt_exec_create(threads[ti], &ex, &err) != KT_OK) {
            fprintf(stderr, "conv_rate: %s\n", err.msg);
            return 1;
        }
        for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++) {
            const shape *s = &SHAPES[i];
            conv_case cc = {0};
            if (make_case(s, &cc) || (kt_exec_has_bf16(ex) && make_bf16(&cc, kt_exec_has_amx_bf16(ex))) ||
                (kt_exec_vnni_conv(ex, s->k) && make_q8(&cc))) {
                fprintf(stderr, "conv_rate: out of memory\n");
                return 1;
            }
            double flop = 2.0 * s->ch * s->ch * s->k * s->cols, td = time_conv(ex, &cc, DIRECT, 0, 0);
            printf("conv_rate threads=%d ch=%d k=%d dil=%d cols=%d direct_gflops=%.1f", threads[ti], s->ch, s->k,
                   s->dil, s->cols, flop / td * 1e-9);
            if (peak[ti] > 0)
                printf(" direct_x_floor=%.2f", td / (flop / (peak[ti] * 1e9)));
            if (conv_loop[ti] > 0)
                printf(" direct_x_loop=%.2f", td / (flop / (conv_loop[ti] * 1e9)));
            if (cc.u) {
                double tw = time_conv(ex, &cc, WINOGRAD, 0, 0);
                printf(" winograd_gflops_direct_form=%.1f winograd_speedup=%.2f", flop / tw * 1e-9, td / tw);
                if (cc.fu) {
                    double tf = time_conv(ex, &cc, FFT, 0, 0);
                    printf(" fft_gflops_direct_form=%.1f fft_over_winograd=%.2f", flop / tf * 1e-9, tw / tf);
                    double twc = time_conv(ex, &cc, WINOGRAD, 0, 1), tfc = time_conv(ex, &cc, FFT, 0, 1);
                    printf(" cold_winograd_gflops=%.1f cold_fft_gflops=%.1f cold_fft_over_winograd=%.2f",
                           flop / twc * 1e-9, flop / tfc * 1e-9, twc / tfc);
                }
            }
            if (cc.wb) {
                double tb = time_conv(ex, &cc, DIRECT, 1, 0);
                printf(" bf16_direct_gflops=%.1f", flop / tb * 1e-9);
                if (peak_bf16[ti] > 0)
                    printf(" bf16_x_floor=%.2f", tb / (flop / (peak_bf16[ti] * 1e9)));
                if (cc.ub)
                    printf(" bf16_winograd_speedup=%.2f", tb / time_conv(ex, &cc, WINOGRAD, 1, 0));
                if (cc.pkt.codes) {
                    double tt = time_conv(ex, &cc, TILES, 0, 0);
                    printf(" bf16_amx_gflops=%.1f bf16_amx_speedup=%.2f", flop / tt * 1e-9, tb / tt);
                    if (peak_tiles[ti] > 0)
                        printf(" bf16_amx_x_floor=%.2f", tt / (flop / (peak_tiles[ti] * 1e9)));
                }
            }
            if (cc.pkq.codes) {
                double tq = time_conv(ex, &cc, Q8, 0, 0);
                printf(" q8_kernel=%s q8_gops=%.1f", kt_exec_has_amx(ex) ? "amx" : "vnni", flop / tq * 1e-9);
                if (peak_vnni[ti] > 0)
                    printf(" q8_x_floor=%.2f", tq / (flop / (peak_vnni[ti] * 1e9)));
            }
            printf("  (%s)\n", s->where);
            fflush(stdout);
            free_case(&cc);
        }
        kt_exec_free(ex);
    }
    return 0;
}
