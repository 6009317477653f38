/* e2e_synth - kt's whole forward pass on a golden case's own inputs, for tests/check_e2e.py.
 *
 *   e2e_synth CONFIG MODEL THREADS OUT.f32 GOLDEN.pt [GOLDEN.pt ...]
 *
 * For each golden file (written by tests/reference/make_golden.py) synthesizes its token ids
 * with its style row, seed and speed, and writes the audio as raw float32 to OUT.f32 with the
 * case's index appended (OUT.f32.0, OUT.f32.1, ...). Prints one JSON line per case on stdout:
 * {"case": PATH, "samples": N, "durations": [...]}. The model is loaded once; THREADS is kt's
 * thread count (KT_ISA and OPENBLAS_CORETYPE are taken from the environment as given).
 * Exit 0 on success, 1 with a one-line message otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt/checkpoint.h"
#include "kt/config.h"
#include "kt/kokoro.h"
#include "kt/tensor.h"
#include "util/golden.h"


static int write_f32(const char *path, const float *x, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(x, sizeof(float), n, f);
    return (fclose(f) != 0 || w != n) ? -1 : 0;
}

/* One case: synthesize, write OUT.f32.<index>, print the JSON line. 0 on success. */
static int run_case(kt_model *m, const char *path, const char *out, int index)
{
    kt_checkpoint *g = NULL;
    kt_error err;
    float *ids = NULL, *style = NULL, *seed = NULL, *speed = NULL;
    int *tok = NULL, rc = -1;
    size_t n_ids = 0, n_style = 0, n1 = 0, n2 = 0;
    kt_synth_result r = {0};
    if (kt_checkpoint_open(path, &g, &err)) {
        fprintf(stderr, "e2e_synth: %s: %s\n", path, err.msg);
        return -1;
    }
    ids = golden_f32(g, "ids", &n_ids);
    style = golden_f32(g, "style", &n_style);
    seed = golden_f32(g, "seed", &n1);
    speed = golden_f32(g, "speed", &n2);
    if (!ids || !style || !seed || !speed || n_ids < 3 || n1 != 1 || n2 != 1) {
        fprintf(stderr, "e2e_synth: %s: not a golden case (ids, style, seed, speed)\n", path);
        goto fail;
    }
    tok = malloc(sizeof(int) * n_ids);
    if (!tok)
        goto fail;
    for (size_t i = 0; i < n_ids; i++)
        tok[i] = (int)ids[i];
    kt_synth_params p = kt_synth_default_params();
    p.seed = (uint32_t)(int64_t)seed[0];
    p.speed = speed[0];
    /* the golden's ids carry the boundary tokens; the model takes the phoneme ids alone */
    if (kt_model_synthesize(m, tok + 1, (int)n_ids - 2, style, &p, &r, &err)) {
        fprintf(stderr, "e2e_synth: %s: %s\n", path, err.msg);
        goto fail;
    }
    char name[4096];
    snprintf(name, sizeof name, "%s.%d", out, index);
    if (write_f32(name, r.audio, r.n_samples)) {
        fprintf(stderr, "e2e_synth: %s: cannot write\n", name);
        goto fail;
    }
    printf("{\"case\": \"%s\", \"samples\": %zu, \"durations\": [", path, r.n_samples);
    for (int i = 0; i < r.n_tokens; i++)
        printf("%s%d", i ? ", " : "", r.durations[i]);
    printf("]}\n");
    rc = 0;
fail:
    kt_synth_result_free(&r);
    free(ids), free(style), free(seed), free(speed), free(tok);
    kt_checkpoint_free(g);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: e2e_synth CONFIG MODEL THREADS OUT.f32 GOLDEN.pt [GOLDEN.pt ...]\n");
        return 2;
    }
    kt_config cfg;
    kt_model *m = NULL;
    kt_error err;
    if (kt_config_load(argv[1], &cfg, &err)) {
        fprintf(stderr, "e2e_synth: %s: %s\n", argv[1], err.msg);
        return 1;
    }
    kt_model_params mp = kt_model_default_params();
    mp.n_threads = atoi(argv[3]);
    if (kt_model_load(argv[2], &cfg, &mp, &m, &err)) {
        fprintf(stderr, "e2e_synth: %s: %s\n", argv[2], err.msg);
        kt_config_free(&cfg);
        return 1;
    }
    int rc = 0;
    for (int i = 5; i < argc && rc == 0; i++)
        rc = run_case(m, argv[i], argv[4], i - 5) ? 1 : 0;
    kt_model_free(m);
    kt_config_free(&cfg);
    return rc;
}
