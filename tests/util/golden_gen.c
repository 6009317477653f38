/* golden_gen.c - see golden_gen.h. */
#include "golden_gen.h"

#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "golden.h"
#include "kt/kokoro_stages.h"

static void one_file(const char *path, const char *name, const kt_model *m, size_t max_audio,
                     void (*fn)(void *, const golden_gen *), void *user)
{
    kt_checkpoint *g;
    kt_error err;
    if (kt_checkpoint_open(path, &g, &err))
        fail_msg("%s: %s", path, err.msg);
    if (!kt_checkpoint_find(g, "har") || !kt_checkpoint_find(g, "audio")) {
        kt_checkpoint_free(g);
        return;
    }
    kt_stage_dims d;
    kt_stage_get_dims(m, &d);
    size_t np, na;
    float *dur = golden_f32_or_fail(g, "pred_dur", &np);
    golden_gen c = {name, 0, 0, golden_f32_or_fail(g, "decode3", NULL), golden_f32_or_fail(g, "har", NULL),
                    golden_f32_or_fail(g, "style", NULL), golden_f32_or_fail(g, "audio", &na)};
    for (size_t t = 0; t < np; t++)
        c.F += (int)dur[t];
    c.n = (size_t)c.F * d.samples_per_frame;
    if (c.n == na && c.n <= max_audio)
        fn(user, &c);
    else
        printf("  %-12s generator skipped (%zu samples)\n", name, c.n);
    free(dur), free(c.x), free(c.har), free(c.style), free(c.ref);
    kt_checkpoint_free(g);
}

void golden_gen_each(const char *dir, const kt_model *m, size_t max_audio,
                     void (*fn)(void *user, const golden_gen *g), void *user)
{
    DIR *dp = opendir(dir);
    struct dirent *e;
    int cases = 0;
    while (dp && (e = readdir(dp))) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 3, ".pt"))
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        one_file(path, e->d_name, m, max_audio, fn, user);
        cases++;
    }
    if (dp)
        closedir(dp);
    if (!cases)
        fail_msg("no golden cases in %s", dir);
}

typedef struct {
    const golden_gen_test *t;
    int isa;
    kt_model *m[3];
} run_ctx;

static void run_case(void *user, const golden_gen *c)
{
    const run_ctx *r = user;
    kt_error err;
    float *a[3];
    for (int i = 0; i < 3; i++) {
        a[i] = malloc(sizeof(float) * c->n);
        assert_non_null(a[i]);
        assert_int_equal(kt_stage_generator(r->m[i], c->x, c->F, c->style, c->har, a[i], &err), KT_OK);
    }
    r->t->check(r->isa, c, a);
    if (memcmp(a[1], a[2], sizeof(float) * c->n))
        fail_msg("%s: the generator differs between 1 and 2 threads", c->name);
    for (int i = 0; i < 3; i++)
        free(a[i]);
}

static kt_model *load_model(const golden_gen_test *t, int i, kt_config *cfg, const char *path, int isa)
{
    kt_model_params p = kt_model_default_params();
    kt_model *m = NULL;
    kt_error err;
    p.n_threads = i == 2 ? 2 : 1;
    p.max_isa = isa;
    t->params(i, &p);
    if (kt_model_load(path, cfg, &p, &m, &err))
        fail_msg("%s: %s", path, err.msg);
    return m;
}

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

void golden_gen_run(int full, int isa0, int isa1, const golden_gen_test *t)
{
    char model[512], cfg_path[512], dir[512];
    size_t max_audio = (size_t)1 << 30;
    if (full) {
        if (golden_full_paths("the generator on the full-size model", model, cfg_path, dir, sizeof model))
            skip();
        max_audio = getenv("KT_GOLDEN_FULL_ALL") ? max_audio : 40000;
    } else {
        snprintf(model, sizeof model, "%s", env_or("KT_TINY_MODEL", "fixtures/tiny/kokoro-tiny.pth"));
        snprintf(cfg_path, sizeof cfg_path, "%s", env_or("KT_TINY_CONFIG", "fixtures/tiny/config.json"));
        snprintf(dir, sizeof dir, "%s", env_or("KT_GOLDEN_DIR", "fixtures/tiny/golden"));
    }
    unsetenv("KT_WINOGRAD");
    unsetenv("KT_FFT");
    kt_config cfg;
    kt_error err;
    if (kt_config_load(cfg_path, &cfg, &err))
        fail_msg("%s: %s", cfg_path, err.msg);
    for (int isa = isa0; isa <= isa1; isa++) {
        kt_exec *ex;
        if (kt_exec_create_isa(1, isa, &ex, &err))
            fail_msg("%s", err.msg);
        int have = kt_exec_isa(ex) == isa;
        kt_exec_free(ex);
        if (!have) {
            printf("  the CPU lacks ISA %d's kernels: skipped\n", isa);
            continue;
        }
        run_ctx r = {t, isa, {NULL, NULL, NULL}};
        for (int i = 0; i < 3; i++)
            r.m[i] = load_model(t, i, &cfg, model, isa);
        golden_gen_each(dir, r.m[0], max_audio, run_case, &r);
        for (int i = 0; i < 3; i++)
            kt_model_free(r.m[i]);
    }
    kt_config_free(&cfg);
}

double golden_rel_diff(const float *a, const float *b, size_t n, double *abs_d)
{
    double md = 0.0, mr = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        md = d > md || isnan(d) ? (isnan(d) ? INFINITY : d) : md;
        mr = fabs(b[i]) > mr ? fabs(b[i]) : mr;
    }
    if (abs_d)
        *abs_d = md;
    return mr > 0 ? md / mr : md;
}
