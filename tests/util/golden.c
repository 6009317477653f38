/* golden.c - see golden.h. */
#include "golden.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "kt/tensor.h"

float *golden_f32(const kt_checkpoint *g, const char *name, size_t *n)
{
    const kt_tensor *t = kt_checkpoint_find(g, name);
    kt_error err;
    if (!t)
        return NULL;
    size_t k = (size_t)kt_tensor_numel(t);
    float *buf = malloc(sizeof(float) * (k ? k : 1));
    if (!buf || kt_tensor_to_f32(t, buf, &err)) {
        free(buf);
        return NULL;
    }
    if (n)
        *n = k;
    return buf;
}

float *golden_f32_or_fail(const kt_checkpoint *g, const char *name, size_t *n)
{
    float *buf = golden_f32(g, name, n);
    if (!buf)
        fail_msg("golden tensor %s missing or unreadable", name);
    return buf;
}

int golden_full_paths(const char *test, char *model, char *cfg, char *dir, size_t n)
{
    const char *fxd = getenv("KT_FIXTURES");
    if (!fxd || !*fxd)
        fxd = "build/fixtures";
    snprintf(model, n, "%s/kokoro-full.pth", fxd);
    snprintf(cfg, n, "%s/kokoro-full-config.json", fxd);
    snprintf(dir, n, "%s/golden-full", fxd);
    FILE *f = fopen(model, "rb");
    DIR *dp = opendir(dir);
    if (f)
        fclose(f);
    if (dp)
        closedir(dp);
    if (f && dp)
        return 0;
    printf("SKIP %s: %s or %s absent (make fixtures writes them)\n", test, model, dir);
    return -1;
}
