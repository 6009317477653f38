/* test_dtypes.c - kt_model_load on kt-convert's outputs (f32, f32 with folded weight
 * norm, f16, bf16, q8, q4) of the tiny fixture model, and the error each dtype adds.
 *
 * The converted files are written by kt_convert, what kt-convert runs, into a temp folder
 * (the test skips when the model is missing). Checks:
 *   - f32 safetensors synthesizes the same bytes as the .pth; folded f32 within 1e-5;
 *   - every dtype loads and synthesizes finite audio;
 *   - on the full-size random checkpoint ($KT_FIXTURES/kokoro-full.pth, golden-full/), q8 predicts
 *     the f32 durations token for token (kt-convert keeps the duration path float32); printed
 *     beside how many tokens move when --quantize-durations quantizes that path too;
 *   - on the same injected inputs (deterministic pseudo-random decoder/generator inputs
 *     and style), the decoder and generator stages of each dtype stay within an SNR
 *     bound of the f32 model. End-to-end audio is not compared sample by sample: the
 *     harmonic source integrates F0, so any weight change moves the phases (see
 *     docs/model.md); the stage SNRs isolate the weights' own error.
 * Thresholds are the measured values (printed) minus a margin; see docs/model.md. */
#include <math.h>
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
#include "kt/convert.h"
#include "kt/kokoro.h"
#include "kt/kernels.h"
#include "kt/kokoro_stages.h"
#include "util/snr.h"

#define N_DT 6
static const char *DT[N_DT] = {"f32", "f32fold", "f16", "bf16", "q8", "q4"};
static const kt_quant_scheme SCHEME[N_DT] = {KT_QUANT_F32, KT_QUANT_F32, KT_QUANT_F16, KT_QUANT_BF16, KT_QUANT_Q8,
                                             KT_QUANT_Q4};
/* Minimum SNR (dB) of the decoder / generator output vs the f32 model: the values measured
 * on the tiny model (f16 62.8 / 57.7, bf16 45.2 / 39.8, q8 35.8 / 30.5, q4 13.0 / 8.3;
 * folded f32 identical) minus about 5 dB. */
static const double MIN_SNR_DEC[N_DT] = {200, 100, 57, 40, 30, 8};
/* bf16 compute, measured on the tiny model 43.7 / 37.5 dB (full size: see docs/model.md), minus ~5 dB */
static const double MIN_SNR_BF16_DEC = 38, MIN_SNR_BF16_GEN = 32;
/* bf16 compute with the generator's Winograd convolutions in bfloat16 too: measured 43.7 / 26.8 dB
 * on the tiny model, 42.4 / 27.2 dB at full size. */
static const double MIN_SNR_BF16W_GEN = 22;
static const double MIN_SNR_GEN[N_DT] = {200, 100, 52, 34, 25, 4};
/* q8 with AVX-512 VNNI (activations quantized to 8 bits too; the upsamplers' phase weights
 * quantized again per output row), measured on the tiny model 29.4 / 23.5 dB, minus ~4 dB; the
 * bounds above are those of the float32 fallback. */
static const double MIN_SNR_VNNI_DEC = 25, MIN_SNR_VNNI_GEN = 20;
#define I_Q8 4

typedef struct {
    char dir[256];
    char path[N_DT][320];
    kt_config cfg;
} suite;

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

/* Converts model into out as kt-convert MODEL -o OUT --dtype s does; fold: --fold-weight-norm (the
 * default for q8 and q4), quantize_durations: --quantize-durations. */
static kt_status convert(const char *model, const char *out, kt_quant_scheme s, int fold, int quantize_durations,
                         kt_error *err)
{
    kt_convert_params p = {.format = KT_FORMAT_SAFETENSORS, .dtype_given = 1, .scheme = s,
                           .fold = fold || kt_quant_is_integer(s), .quantize_durations = quantize_durations};
    kt_checkpoint *in = NULL;
    kt_status st = kt_checkpoint_open(model, &in, err);
    if (!st)
        st = kt_convert(in, out, &p, NULL, err);
    kt_checkpoint_free(in);
    return st;
}

static int setup(void **state)
{
    static suite s;
    kt_error err;
    const char *model = env_or("KT_TINY_MODEL", "fixtures/tiny/kokoro-tiny.pth");
    if (access(model, R_OK) != 0) {
        printf("SKIP test_dtypes: %s absent\n", model);
        *state = NULL;
        return 0;
    }
    snprintf(s.dir, sizeof s.dir, "/tmp/kt_dtypes_XXXXXX");
    if (!mkdtemp(s.dir))
        return -1;
    for (int i = 0; i < N_DT; i++) {
        snprintf(s.path[i], sizeof s.path[i], "%s/tiny-%s.safetensors", s.dir, DT[i]);
        if (convert(model, s.path[i], SCHEME[i], i == 1, 0, &err)) {
            printf("convert %s to %s: %s\n", model, DT[i], err.msg);
            return -1;
        }
    }
    if (kt_config_load(env_or("KT_TINY_CONFIG", "fixtures/tiny/config.json"), &s.cfg, &err))
        return -1;
    *state = &s;
    return 0;
}

static int teardown(void **state)
{
    suite *s = *state;
    if (!s)
        return 0;
    for (int i = 0; i < N_DT; i++)
        unlink(s->path[i]);
    rmdir(s->dir);
    kt_config_free(&s->cfg);
    return 0;
}

/* Deterministic values in [-a, a). */
static void fill(float *x, size_t n, uint32_t seed, float a)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = a * ((float)(seed >> 8) / 8388608.0f - 1.0f);
    }
}

/* The model at path with params p (NULL: the defaults). */
static kt_model *load_p(const suite *s, const char *path, const kt_model_params *p)
{
    kt_model *m = NULL;
    kt_error err;
    if (kt_model_load(path, &s->cfg, p, &m, &err) != KT_OK)
        fail_msg("load %s: %s", path, err.msg);
    return m;
}

static kt_model *load(const suite *s, const char *path) { return load_p(s, path, NULL); }

static void synth(kt_model *m, kt_synth_result *r)
{
    int ids[12] = {50, 83, 156, 102, 16, 43, 56, 135, 61, 4, 68, 16};
    int ns = kt_model_style_size(m);
    float *style = malloc(sizeof(float) * (size_t)ns);
    kt_error err;
    fill(style, (size_t)ns, 7, 0.3f);
    assert_int_equal(kt_model_synthesize(m, ids, 12, style, NULL, r, &err), KT_OK);
    free(style);
}

static void test_f32_same_bytes(void **state)
{
    suite *s = *state;
    if (!s)
        skip();
    kt_model *a = load(s, env_or("KT_TINY_MODEL", "fixtures/tiny/kokoro-tiny.pth"));
    kt_model *b = load(s, s->path[0]), *c = load(s, s->path[1]);
    kt_synth_result ra, rb, rc;
    synth(a, &ra);
    synth(b, &rb);
    synth(c, &rc);
    assert_int_equal(ra.n_samples, rb.n_samples);
    assert_memory_equal(ra.audio, rb.audio, sizeof(float) * ra.n_samples);
    assert_int_equal(ra.n_samples, rc.n_samples);
    double snr = test_snr_db(ra.audio, rc.audio, ra.n_samples);
    printf("  f32 safetensors: same bytes as the .pth (%zu samples); folded f32: end-to-end SNR %.1f dB\n",
           ra.n_samples, snr);
    kt_synth_result_free(&ra);
    kt_synth_result_free(&rb);
    kt_synth_result_free(&rc);
    kt_model_free(a);
    kt_model_free(b);
    kt_model_free(c);
}

/* Decoder and generator outputs of model m on fixed inputs (F frames). */
static void stages(kt_model *m, int F, float *x_out, float *audio)
{
    kt_stage_dims d;
    kt_error err;
    kt_stage_get_dims(m, &d);
    int M = 2 * F * (d.samples_per_frame / d.hop / 2) + 1;
    size_t nasr = (size_t)d.hidden * F, nh = (size_t)(d.n_fft + 2) * M;
    float *asr = malloc(sizeof(float) * nasr), *f0 = malloc(sizeof(float) * 2 * F), *n = malloc(sizeof(float) * 2 * F);
    float *s = malloc(sizeof(float) * d.style), *har = malloc(sizeof(float) * nh);
    fill(asr, nasr, 1, 1.0f);
    fill(n, 2 * (size_t)F, 2, 1.0f);
    fill(s, (size_t)d.style, 3, 0.3f);
    for (int i = 0; i < 2 * F; i++)
        f0[i] = 120.0f + 40.0f * sinf(0.1f * (float)i);
    fill(har, nh, 4, 1.0f);
    for (size_t i = 0; i < nh / 2; i++) /* magnitudes >= 0 */
        har[i] = fabsf(har[i]);
    assert_int_equal(kt_stage_decoder(m, asr, f0, n, F, s, x_out, &err), KT_OK);
    assert_int_equal(kt_stage_generator(m, x_out, F, s, har, audio, &err), KT_OK);
    free(asr);
    free(f0);
    free(n);
    free(s);
    free(har);
}

/* Decoder output x[nx] and generator audio a[na] of one model (stages() on F frames). */
typedef struct {
    size_t nx, na;
    float *x, *a;
} stage_out;

static stage_out stage_outputs(kt_model *m, int F)
{
    kt_stage_dims d;
    kt_stage_get_dims(m, &d);
    stage_out o = {(size_t)d.gen_channels * 2 * F, (size_t)d.samples_per_frame * F, NULL, NULL};
    o.x = malloc(sizeof(float) * o.nx);
    o.a = malloc(sizeof(float) * o.na);
    assert_true(o.x && o.a);
    stages(m, F, o.x, o.a);
    return o;
}

static void stage_out_free(stage_out *o)
{
    free(o->x);
    free(o->a);
}

/* m synthesizes the fixed ids to finite samples; their count. */
static size_t synth_finite(kt_model *m)
{
    kt_synth_result r;
    synth(m, &r);
    for (size_t k = 0; k < r.n_samples; k++)
        assert_true(isfinite(r.audio[k]));
    size_t n = r.n_samples;
    kt_synth_result_free(&r);
    return n;
}

/* 1 when a model loaded with ISA cap max_isa runs q8 convolutions with VNNI. */
static int vnni_at(int max_isa)
{
    kt_exec *ex;
    kt_error err;
    assert_int_equal(kt_exec_create_isa(1, max_isa, &ex, &err), KT_OK);
    int v = kt_exec_has_vnni(ex);
    kt_exec_free(ex);
    return v;
}

static int amx_bf16_here(void)
{
    kt_exec *ex;
    kt_error err;
    assert_int_equal(kt_exec_create(1, &ex, &err), KT_OK);
    int v = kt_exec_has_amx_bf16(ex);
    kt_exec_free(ex);
    return v;
}

static void test_dtype_errors(void **state)
{
    suite *s = *state;
    if (!s)
        skip();
    const int F = 40;
    kt_model *ref = load(s, s->path[0]);
    stage_out o0 = stage_outputs(ref, F);
    for (int i = 1; i < N_DT; i++) {
        kt_model *m = load(s, s->path[i]);
        size_t n = synth_finite(m);
        stage_out o1 = stage_outputs(m, F);
        double sd = test_snr_db(o0.x, o1.x, o0.nx), sg = test_snr_db(o0.a, o1.a, o0.na);
        int vn = i == I_Q8 && vnni_at(KT_ISA_AVX512);
        double md = vn ? MIN_SNR_VNNI_DEC : MIN_SNR_DEC[i], mg = vn ? MIN_SNR_VNNI_GEN : MIN_SNR_GEN[i];
        printf("  %-8s decoder SNR %6.1f dB (min %g), generator SNR %6.1f dB (min %g); synthesis %zu samples%s\n",
               DT[i], sd, md, sg, mg, n, vn ? " (VNNI integer dot products)" : "");
        assert_true(sd >= md);
        assert_true(sg >= mg);
        stage_out_free(&o1);
        kt_model_free(m);
    }
    stage_out_free(&o0);
    kt_model_free(ref);
}

/* The model in path loaded with p against the float32 model: decoder and generator stage SNR
 * at least min_dec and min_gen (printed after label; exact_note too when the decoder matches to
 * 200 dB or more, may be NULL), and a finite synthesis. */
/* Checks the model at path loaded with p against the float32 one on fixed decoder inputs;
 * returns the generator SNR. */
static double check_against_f32(suite *s, const char *path, const kt_model_params *p, const char *label,
                                double min_dec, double min_gen, const char *exact_note)
{
    const int F = 40;
    kt_model *ref = load(s, s->path[0]), *m = NULL;
    kt_error err;
    assert_int_equal(kt_model_load(path, &s->cfg, p, &m, &err), KT_OK);
    stage_out o0 = stage_outputs(ref, F), o1 = stage_outputs(m, F);
    double sd = test_snr_db(o0.x, o1.x, o0.nx), sg = test_snr_db(o0.a, o1.a, o0.na);
    printf("  %s: decoder SNR %6.1f dB (min %g), generator SNR %6.1f dB (min %g)%s\n", label, sd, min_dec, sg,
           min_gen, exact_note && sd >= 200 ? exact_note : "");
    assert_true(sd >= min_dec);
    assert_true(sg >= min_gen);
    synth_finite(m);
    stage_out_free(&o0);
    stage_out_free(&o1);
    kt_model_free(ref);
    kt_model_free(m);
    return sg;
}

/* q8 on the float32 fallback (ISA capped at AVX2: decoded weights, float32 FMAs), whatever
 * the CPU; the default path above uses VNNI where the CPU has it. */
static void test_q8_fallback(void **state)
{
    suite *s = *state;
    if (!s)
        skip();
    kt_model_params p = kt_model_default_params();
    p.max_isa = KT_ISA_AVX2;
    assert_false(vnni_at(KT_ISA_AVX2));
    check_against_f32(s, s->path[I_Q8], &p, "q8 float32 fallback (ISA cap avx2)", MIN_SNR_DEC[I_Q8],
                      MIN_SNR_GEN[I_Q8], NULL);
}

/* The bfloat16 compute path (kt_model_params.bf16) against float32 compute, same f32 weights;
 * then with the generator's kernel-7/11 convolutions by Winograd in bfloat16 too
 * (KT_WINOGRAD_BF16): its own bound, and below the generator SNR of the direct form (the
 * Winograd path ran) where the CPU has AVX512_BF16, except on AMX-BF16 tiles, where those convs
 * stay direct (the same SNR). */
static void test_bf16_compute(void **state)
{
    suite *s = *state;
    if (!s)
        skip();
    const char *no_bf16 = " (CPU without AVX512_BF16: float32 was used)";
    kt_model_params p = kt_model_default_params();
    p.bf16 = 1;
    double direct = check_against_f32(s, s->path[0], &p, "bf16 compute", MIN_SNR_BF16_DEC, MIN_SNR_BF16_GEN, no_bf16);
    p.winograd = KT_WINOGRAD_BF16;
    double wino = check_against_f32(s, s->path[0], &p, "bf16 compute, Winograd", MIN_SNR_BF16_DEC,
                                    MIN_SNR_BF16W_GEN, no_bf16);
    if (amx_bf16_here()) {
        if (wino != direct)
            fail_msg("bf16 Winograd generator SNR %.1f dB, direct %.1f: AMX-BF16 tiles, yet not the direct path",
                     wino, direct);
    } else if (direct < 200 && !getenv("KT_WINOGRAD") && wino > direct - 3.0)
        fail_msg("bf16 Winograd generator SNR %.1f dB, direct %.1f: the Winograd path did not run", wino, direct);
}

/* Without the AVX-512 kernels (ISA capped at avx2, as on a CPU without AVX512_BF16) bf16
 * compute with Winograd falls back to float32 compute, Winograd included: the stage outputs are
 * the float32 model's at that ISA, byte for byte. */
static void test_bf16_fallback(void **state)
{
    suite *s = *state;
    if (!s)
        skip();
    kt_model_params p = kt_model_default_params();
    p.max_isa = KT_ISA_AVX2;
    kt_model *f = load_p(s, s->path[0], &p);
    p.bf16 = 1;
    p.winograd = KT_WINOGRAD_BF16;
    kt_model *b = load_p(s, s->path[0], &p);
    stage_out o0 = stage_outputs(f, 40), o1 = stage_outputs(b, 40);
    assert_memory_equal(o0.x, o1.x, sizeof(float) * o0.nx);
    assert_memory_equal(o0.a, o1.a, sizeof(float) * o0.na);
    printf("  bf16 Winograd with the ISA capped at avx2: the float32 model's stage outputs\n");
    stage_out_free(&o0);
    stage_out_free(&o1);
    kt_model_free(f);
    kt_model_free(b);
}

/* ---- durations of the full-size checkpoint under q8 ------------------------------------ */

static int *golden_ints(const kt_checkpoint *g, const char *name, size_t *n)
{
    const kt_tensor *t = kt_checkpoint_find(g, name);
    if (!t)
        fail_msg("golden tensor %s missing", name);
    *n = (size_t)kt_tensor_numel(t);
    int *v = malloc(sizeof(int) * (*n ? *n : 1));
    assert_non_null(v);
    for (size_t i = 0; i < *n; i++)
        v[i] = (int)kt_tensor_get_f64(t, (int64_t)i);
    return v;
}

/* Tokens of the golden case at path whose predicted duration under m differs from the
 * reference's pred_dur (the f32 model's, checked by test_kokoro); *n_tok their number. */
static int duration_mismatches(kt_model *m, const char *path, size_t *n_tok)
{
    kt_checkpoint *g;
    kt_error err;
    if (kt_checkpoint_open(path, &g, &err))
        fail_msg("%s: %s", path, err.msg);
    size_t nids, np, ns;
    int *ids = golden_ints(g, "ids", &nids), *ref = golden_ints(g, "pred_dur", &np);
    const kt_tensor *st = kt_checkpoint_find(g, "style");
    assert_non_null(st);
    ns = (size_t)kt_tensor_numel(st);
    kt_stage_dims d;
    kt_stage_get_dims(m, &d);
    float *style = malloc(sizeof(float) * ns), *bert = malloc(sizeof(float) * nids * (size_t)d.bert_hidden);
    float *dd = malloc(sizeof(float) * nids * (size_t)(d.hidden + d.style)), *dur = malloc(sizeof(float) * nids);
    int *pd = malloc(sizeof(int) * nids), T = (int)nids, bad = 0;
    const kt_tensor *sp = kt_checkpoint_find(g, "speed");
    float speed = sp ? (float)kt_tensor_get_f64(sp, 0) : 1.0f;
    assert_int_equal(kt_tensor_to_f32(st, style, &err), KT_OK);
    assert_int_equal(np, nids);
    assert_int_equal(kt_stage_albert(m, ids, T, bert, &err), KT_OK);
    assert_int_equal(kt_stage_duration(m, bert, T, style + d.style, speed, dd, dur, pd, &err), KT_OK);
    for (int i = 0; i < T; i++)
        bad += pd[i] != ref[i];
    *n_tok = nids;
    free(ids), free(ref), free(style), free(bert), free(dd), free(dur), free(pd);
    kt_checkpoint_free(g);
    return bad;
}

static void test_q8_durations_full(void **state)
{
    suite *s = *state;
    const char *fx = env_or("KT_FIXTURES", "build/fixtures");
    char model[512], cfgp[512], q8[2][400];
    const char *cases[] = {"short", "oov", "long"};
    snprintf(model, sizeof model, "%s/kokoro-full.pth", fx);
    snprintf(cfgp, sizeof cfgp, "%s/kokoro-full-config.json", fx);
    if (!s || access(model, R_OK) || access(cfgp, R_OK)) {
        printf("SKIP test_q8_durations_full: %s or %s absent\n", model, cfgp);
        skip();
    }
    kt_config cfg;
    kt_error err;
    assert_int_equal(kt_config_load(cfgp, &cfg, &err), KT_OK);
    for (int v = 0; v < 2; v++) { /* 0: as kt-convert writes q8; 1: the duration path quantized too */
        snprintf(q8[v], sizeof q8[v], "%s/full-q8-%d.safetensors", s->dir, v);
        if (convert(model, q8[v], KT_QUANT_Q8, 0, v, &err) != KT_OK)
            fail_msg("convert %s: %s", model, err.msg);
        kt_model *m = NULL;
        if (kt_model_load(q8[v], &cfg, NULL, &m, &err) != KT_OK)
            fail_msg("load %s: %s", q8[v], err.msg);
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            char g[1024];
            size_t n;
            snprintf(g, sizeof g, "%s/golden-full/%s.pt", fx, cases[c]);
            if (access(g, R_OK))
                continue;
            int bad = duration_mismatches(m, g, &n);
            printf("  full-size q8%s %-6s %d of %zu token durations differ from f32\n",
                   v ? " --quantize-durations" : "", cases[c], bad, n);
            if (v == 0)
                assert_int_equal(bad, 0);
        }
        kt_model_free(m);
        unlink(q8[v]);
    }
    kt_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32_same_bytes),
        cmocka_unit_test(test_dtype_errors),
        cmocka_unit_test(test_bf16_compute),
        cmocka_unit_test(test_bf16_fallback),
        cmocka_unit_test(test_q8_fallback),
        cmocka_unit_test(test_q8_durations_full),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
