/* stage_snr - each compute path of kt against float32 with direct convolutions, stage by stage.
 *
 *   make build/bench/stage_snr && build/bench/stage_snr MODEL CONFIG [Q8_MODEL]
 *
 * MODEL is a float32 checkpoint (.pth or safetensors), Q8_MODEL its kt-convert --dtype q8 form.
 * The reference is MODEL with every convolution direct in float32. Each stage of every path gets
 * the reference's input of that stage (the reference's ALBERT output for the duration stage, its
 * decoder output for the generator; fixed pseudo-random inputs elsewhere), so each SNR is that
 * stage's own error, not the sum of the ones before it. End-to-end audio is not compared: the
 * harmonic source integrates F0, so any difference in F0 moves the phases of the whole waveform.
 * Prints one row per path: SNR in dB (300: identical) of ALBERT, the duration stage's features,
 * the text encoder, F0, N, the decoder and the generator, and how many of the predicted durations
 * differ from the reference's. Figures only, never pass/fail (tests/test_dtypes.c holds the
 * bounds). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt/config.h"
#include "kt/kernels.h"
#include "kt/kokoro.h"
#include "kt/kokoro_stages.h"

#include "../tests/util/snr.h"

#define T_IDS 64  /* tokens, BOS and EOS included */
#define FRAMES 96 /* 2.4 s of audio */
#define N_STAGES 7

static const char *const STAGE_NAMES[N_STAGES] = {"ALBERT", "duration", "text enc", "F0",
                                                  "N",      "decoder",  "generator"};

/* Every buffer of one pass over the stages: inputs (filled once, the reference's) and outputs. */
typedef struct {
    kt_stage_dims d;
    int ids[T_IDS], dur[T_IDS];
    float *bert, *dfeat, *durf, *t_en, *en, *f0, *nn, *asr, *x, *har, *audio, *s;
    size_t n_bert, n_dfeat, n_ten, n_en, n_x, n_har, n_audio;
} stage_io;

/* Values of a linear congruential stream in [-a, a). */
static void fill(float *x, size_t n, uint32_t seed, float a)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 22695477u + 1u;
        x[i] = a * ((float)(seed >> 9) / 4194304.0f - 1.0f);
    }
}

static void io_free(stage_io *io)
{
    float **bufs[] = {&io->bert, &io->dfeat, &io->durf, &io->t_en, &io->en, &io->f0, &io->nn,
                      &io->asr, &io->x, &io->har, &io->audio, &io->s};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) {
        free(*bufs[i]);
        *bufs[i] = NULL;
    }
}

/* Sizes io's buffers for model m and allocates them; 0 when out of memory. */
static int io_alloc(const kt_model *m, stage_io *io)
{
    memset(io, 0, sizeof *io);
    kt_stage_get_dims(m, &io->d);
    const kt_stage_dims *d = &io->d;
    int M = 2 * FRAMES * (d->samples_per_frame / d->hop / 2) + 1;
    io->n_bert = (size_t)T_IDS * d->bert_hidden;
    io->n_dfeat = (size_t)T_IDS * (d->hidden + d->style);
    io->n_ten = (size_t)d->hidden * T_IDS;
    io->n_en = (size_t)(d->hidden + d->style) * FRAMES;
    io->n_x = (size_t)d->gen_channels * 2 * FRAMES;
    io->n_har = (size_t)(d->n_fft + 2) * M;
    io->n_audio = (size_t)d->samples_per_frame * FRAMES;
    io->bert = malloc(sizeof(float) * io->n_bert);
    io->dfeat = malloc(sizeof(float) * io->n_dfeat);
    io->durf = malloc(sizeof(float) * T_IDS);
    io->t_en = malloc(sizeof(float) * io->n_ten);
    io->en = malloc(sizeof(float) * io->n_en);
    io->f0 = malloc(sizeof(float) * 2 * FRAMES);
    io->nn = malloc(sizeof(float) * 2 * FRAMES);
    io->asr = malloc(sizeof(float) * (size_t)d->hidden * FRAMES);
    io->x = malloc(sizeof(float) * io->n_x);
    io->har = malloc(sizeof(float) * io->n_har);
    io->audio = malloc(sizeof(float) * io->n_audio);
    io->s = malloc(sizeof(float) * 2 * (size_t)d->style);
    if (io->bert && io->dfeat && io->durf && io->t_en && io->en && io->f0 && io->nn && io->asr && io->x &&
        io->har && io->audio && io->s)
        return 1;
    io_free(io);
    return 0;
}

/* The fixed inputs: token ids, style, and the stage inputs no earlier stage gives here (the
 * decoder's F0 and N are the F0/N stage's outputs). */
static void io_inputs(stage_io *io)
{
    const kt_stage_dims *d = &io->d;
    io->ids[0] = io->ids[T_IDS - 1] = 0;
    for (int i = 1; i < T_IDS - 1; i++)
        io->ids[i] = 16 + (i * 37) % 140;
    fill(io->s, 2 * (size_t)d->style, 3, 0.3f);
    fill(io->en, io->n_en, 5, 1.0f);
    fill(io->asr, (size_t)d->hidden * FRAMES, 1, 1.0f);
    fill(io->har, io->n_har, 4, 1.0f);
    for (size_t i = 0; i < io->n_har / 2; i++) /* the magnitude rows: >= 0 */
        io->har[i] = fabsf(io->har[i]);
}

/* Runs every stage of m; inputs from ref (the reference's io, or io itself for the reference). */
static kt_status run_stages(kt_model *m, const stage_io *ref, stage_io *io, kt_error *err)
{
    const float *s_dec = ref->s, *s_pred = ref->s + ref->d.style;
    kt_status st = kt_stage_albert(m, ref->ids, T_IDS, io->bert, err);
    if (!st)
        st = kt_stage_duration(m, ref->bert, T_IDS, s_pred, 1.0f, io->dfeat, io->durf, io->dur, err);
    if (!st)
        st = kt_stage_textenc(m, ref->ids, T_IDS, io->t_en, err);
    if (!st)
        st = kt_stage_f0n(m, ref->en, FRAMES, s_pred, io->f0, io->nn, err);
    if (!st)
        st = kt_stage_decoder(m, ref->asr, ref->f0, ref->nn, FRAMES, s_dec, io->x, err);
    if (!st)
        st = kt_stage_generator(m, ref->x, FRAMES, s_dec, ref->har, io->audio, err);
    return st;
}

/* One path's row: SNR of each stage against ref, the durations that differ, then note. */
static void print_row(const char *label, const char *note, const stage_io *ref, const stage_io *io)
{
    double snr[N_STAGES] = {test_snr_db(ref->bert, io->bert, ref->n_bert),
                            test_snr_db(ref->dfeat, io->dfeat, ref->n_dfeat),
                            test_snr_db(ref->t_en, io->t_en, ref->n_ten),
                            test_snr_db(ref->f0, io->f0, 2 * FRAMES),
                            test_snr_db(ref->nn, io->nn, 2 * FRAMES),
                            test_snr_db(ref->x, io->x, ref->n_x),
                            test_snr_db(ref->audio, io->audio, ref->n_audio)};
    int moved = 0;
    for (int t = 0; t < T_IDS; t++)
        moved += io->dur[t] != ref->dur[t];
    printf("%-34s", label);
    for (int i = 0; i < N_STAGES; i++)
        printf(" | %9.1f", snr[i]);
    printf(" | %d of %d%s\n", moved, T_IDS, note);
}

typedef struct {
    const char *label;
    int q8; /* the Q8_MODEL file */
    int bf16, winograd, fft, max_isa;
    int needs; /* 1: AVX512_BF16, 2: VNNI (a note when the CPU lacks it) */
} path_spec;

static const path_spec PATHS[] = {
    {"f32 (Winograd F(4,4), FFT)", 0, 0, KT_WINOGRAD_DEFAULT, 1, KT_ISA_AVX512, 0},
    {"--bf16", 0, 1, 0, 0, KT_ISA_AVX512, 1},
    {"--bf16-winograd", 0, 1, KT_WINOGRAD_BF16, 0, KT_ISA_AVX512, 1},
    {"q8 file (VNNI)", 1, 0, KT_WINOGRAD_DEFAULT, 1, KT_ISA_AVX512, 2},
    {"q8 file, float32 fallback (avx2)", 1, 0, KT_WINOGRAD_DEFAULT, 1, KT_ISA_AVX2, 0},
};

static kt_model *load(const char *path, const kt_config *cfg, const path_spec *ps, kt_error *err)
{
    kt_model_params p = kt_model_default_params();
    kt_model *m = NULL;
    p.release_weights = 0;
    p.bf16 = ps->bf16;
    p.winograd = ps->winograd;
    p.fft = ps->fft;
    p.max_isa = ps->max_isa;
    return kt_model_load(path, cfg, &p, &m, err) ? NULL : m;
}

/* The note for a path whose instruction the CPU lacks (its row is then float32's), or that runs
 * on AMX tiles. */
static const char *note(const path_spec *ps)
{
    kt_exec *ex = NULL;
    kt_error err;
    if (!ps->needs || kt_exec_create_isa(1, ps->max_isa, &ex, &err))
        return "";
    int has = ps->needs == 1 ? kt_exec_has_bf16(ex) : kt_exec_has_vnni(ex);
    int amx = ps->needs == 1 ? kt_exec_has_amx_bf16(ex) : kt_exec_has_amx(ex);
    kt_exec_free(ex);
    if (!has)
        return ps->needs == 1 ? " (no AVX512_BF16 here: float32 ran)" : " (no VNNI here: float32 fallback)";
    if (amx)
        return ps->needs == 2                     ? " (on AMX tiles: the same bytes)"
               : ps->winograd == KT_WINOGRAD_BF16 ? " (AMX tiles: the convs stay direct)"
                                                  : " (on AMX tiles)";
    return "";
}

int main(int argc, char **argv)
{
    static const char usage[] = "usage: stage_snr MODEL CONFIG [Q8_MODEL]\n"
                                "  each compute path's stage SNR against float32 with direct convolutions\n";
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc < 3 || argc > 4) {
        fputs(usage, stderr);
        return 2;
    }
    kt_config cfg;
    kt_error err;
    if (kt_config_load(argv[2], &cfg, &err)) {
        fprintf(stderr, "stage_snr: %s: %s\n", argv[2], err.msg);
        return 1;
    }
    path_spec direct = {"f32, every conv direct", 0, 0, 0, 0, KT_ISA_AVX512, 0};
    stage_io ref = {0}, io = {0};
    kt_model *m = load(argv[1], &cfg, &direct, &err);
    int rc = 1;
    if (!m) {
        fprintf(stderr, "stage_snr: %s: %s\n", argv[1], err.msg);
        kt_config_free(&cfg);
        return 1;
    }
    if (!io_alloc(m, &ref) || !io_alloc(m, &io)) {
        fprintf(stderr, "stage_snr: out of memory\n");
        goto done;
    }
    io_inputs(&ref);
    if (run_stages(m, &ref, &ref, &err)) {
        fprintf(stderr, "stage_snr: %s: %s\n", argv[1], err.msg);
        goto done;
    }
    printf("stage SNR in dB against float32 with every convolution direct (%d tokens, %d frames; each stage on "
           "the reference's inputs)\n",
           T_IDS, FRAMES);
    printf("%-34s", "path");
    for (int i = 0; i < N_STAGES; i++)
        printf(" | %9s", STAGE_NAMES[i]);
    printf(" | durations moved\n");
    for (size_t i = 0; i < sizeof PATHS / sizeof *PATHS; i++) {
        const path_spec *ps = &PATHS[i];
        if (ps->q8 && argc < 4)
            continue;
        const char *path = ps->q8 ? argv[3] : argv[1];
        kt_model *pm = load(path, &cfg, ps, &err);
        if (!pm || run_stages(pm, &ref, &io, &err)) {
            printf("%-34s | failed: %s: %s\n", ps->label, path, err.msg);
            kt_model_free(pm);
            continue;
        }
        print_row(ps->label, note(ps), &ref, &io);
        kt_model_free(pm);
    }
    rc = 0;
done:
    io_free(&ref);
    io_free(&io);
    kt_model_free(m);
    kt_config_free(&cfg);
    return rc;
}
