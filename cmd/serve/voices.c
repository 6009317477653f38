/* voices.c - the voices a server offers (a folder's packs or a bundle's members, listed once at
 * start) and the checking of a request's voice: names, OpenAI names and blends of listed voices
 * only, so nothing a client sends reaches the file system. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kt/g2p.h"
#include "kt/voice.h"
#include "serve.h"

#define MAX_TERMS 8
#define MAX_VOICES 4096

/* OpenAI's voice names and the Kokoro voice each stands for (documented in docs/kt-serve.md). */
const char *const kts_openai_voices[][2] = {
    {"alloy", "af_alloy"}, {"ash", "am_adam"},     {"ballad", "bm_george"}, {"coral", "af_heart"},
    {"echo", "am_echo"},   {"fable", "bm_fable"},  {"nova", "af_nova"},     {"onyx", "am_onyx"},
    {"sage", "af_sarah"},  {"shimmer", "af_sky"},  {"verse", "am_michael"}, {NULL, NULL}};

static int safe_name(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* The folder or bundle path is written into blend specs: keep it to characters the blend syntax reads
 * as a path. */
static int safe_path(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '.' || *s == '/' || *s == '-'))
            return 0;
    return 1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int add_name(kts_voices *v, const char *s, size_t n)
{
    if (!safe_name(s, n) || v->count >= MAX_VOICES)
        return 0;
    for (size_t i = 0; i < v->count; i++)
        if (strlen(v->names[i]) == n && !memcmp(v->names[i], s, n))
            return 0;
    char **a = realloc(v->names, (v->count + 1) * sizeof *a);
    if (!a)
        return -1;
    v->names = a;
    if (!(a[v->count] = strndup(s, n)))
        return -1;
    v->count++;
    return 0;
}

static const char *const exts[] = {".pt", ".pth", ".safetensors", ".npy", ".bin"};

static int list_dir(kts_voices *v, char *err, size_t errlen)
{
    DIR *d = opendir(v->dir);
    struct dirent *de;
    if (!d) {
        snprintf(err, errlen, "%s: cannot open the voices folder", v->dir);
        return -1;
    }
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        for (size_t k = 0; k < sizeof exts / sizeof exts[0]; k++) {
            size_t m = strlen(exts[k]);
            if (n > m && !strcmp(de->d_name + n - m, exts[k]) && add_name(v, de->d_name, n - m)) {
                closedir(d);
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        }
    }
    closedir(d);
    return 0;
}

static int list_bundle(kts_voices *v, char *err, size_t errlen)
{
    kt_voice_bundle b = {0};
    kt_error e;
    if (kt_voice_bundle_open(v->bundle, &b, &e)) {
        snprintf(err, errlen, "%s: %s", v->bundle, e.msg);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < b.count && !rc; i++)
        rc = add_name(v, b.names[i], strlen(b.names[i]));
    kt_voice_bundle_free(&b);
    if (rc)
        snprintf(err, errlen, "out of memory");
    return rc;
}

int kts_voices_open(const char *path, kts_voices *v, char *err, size_t errlen)
{
    char real[PATH_MAX];
    struct stat sb;
    memset(v, 0, sizeof *v);
    if (!realpath(path, real) || stat(real, &sb)) {
        snprintf(err, errlen, "%s: no such folder or file", path);
        return -1;
    }
    if (!safe_path(real)) {
        snprintf(err, errlen, "%s: the voices path may hold only letters, digits and _ . / -", real);
        return -1;
    }
    int is_dir = S_ISDIR(sb.st_mode);
    if (!(is_dir ? (v->dir = strdup(real)) : (v->bundle = strdup(real)))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (is_dir ? list_dir(v, err, errlen) : list_bundle(v, err, errlen))
        goto fail;
    if (v->count == 0) {
        snprintf(err, errlen, "%s: no voices found", real);
        goto fail;
    }
    qsort(v->names, v->count, sizeof *v->names, cmp_str);
    return 0;
fail:
    kts_voices_free(v);
    return -1;
}

void kts_voices_free(kts_voices *v)
{
    for (size_t i = 0; i < v->count; i++)
        free(v->names[i]);
    free(v->names);
    free(v->bundle);
    free(v->dir);
    memset(v, 0, sizeof *v);
}

static long find(const kts_voices *v, const char *name)
{
    for (size_t i = 0; i < v->count; i++)
        if (!strcmp(v->names[i], name))
            return (long)i;
    return -1;
}

/* A listed voice for name: itself, or an OpenAI name's voice, else the first listed voice of the
 * same kind (its two-letter prefix). -1 when none. */
static long lookup(const kts_voices *v, const char *name)
{
    long i = find(v, name);
    if (i >= 0)
        return i;
    for (size_t k = 0; kts_openai_voices[k][0]; k++) {
        if (strcmp(kts_openai_voices[k][0], name))
            continue;
        const char *target = kts_openai_voices[k][1];
        if ((i = find(v, target)) >= 0)
            return i;
        for (size_t j = 0; j < v->count; j++)
            if (!strncmp(v->names[j], target, 3))
                return (long)j;
    }
    return -1;
}

/* The loadable spec of voice i: its pack file in the folder, or BUNDLE:NAME. */
static int spec_of(const kts_voices *v, size_t i, char *out, size_t n)
{
    if (v->bundle)
        return snprintf(out, n, "%s:%s", v->bundle, v->names[i]) < (int)n ? 0 : -1;
    for (size_t k = 0; k < sizeof exts / sizeof exts[0]; k++) {
        struct stat sb;
        if (snprintf(out, n, "%s/%s%s", v->dir, v->names[i], exts[k]) >= (int)n)
            return -1;
        if (!stat(out, &sb) && S_ISREG(sb.st_mode))
            return 0;
    }
    return -1;
}

static int build_spec(const kts_voices *v, const kt_blend_expr *ex, char **spec, const char **lang, char *err,
                      size_t errlen)
{
    kts_bytes b = {0};
    char one[PATH_MAX + 160];
    for (size_t t = 0; t < ex->count; t++) {
        const char *src = ex->terms[t].source;
        long i = safe_name(src, strlen(src)) ? lookup(v, src) : -1;
        if (i < 0) {
            snprintf(err, errlen, "voice '%.64s' not found (GET /v1/audio/voices lists them)", src);
            goto fail;
        }
        if (t == 0)
            *lang = kt_g2p_lang_for_voice(v->names[i]);
        if (spec_of(v, (size_t)i, one, sizeof one - 40)) {
            snprintf(err, errlen, "voice '%.64s' is no longer available", src);
            goto fail;
        }
        char w[40];
        snprintf(w, sizeof w, ":%.17g%s", ex->terms[t].weight, t + 1 < ex->count ? " " : "");
        if (kts_bytes_append(&b, one, strlen(one)) || kts_bytes_append(&b, w, strlen(w)))
            goto oom;
    }
    if (kts_bytes_append(&b, "", 1))
        goto oom;
    *spec = (char *)b.data;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    kts_bytes_free(&b);
    return 500;
fail:
    kts_bytes_free(&b);
    return 400;
}

int kts_voices_resolve(const kts_voices *v, const char *request, char **spec, const char **lang, char *err,
                       size_t errlen)
{
    kt_blend_expr ex = {0};
    kt_error e;
    const char *args[1] = {request};
    *spec = NULL;
    *lang = NULL;
    if (strlen(request) > 512) {
        snprintf(err, errlen, "voice is longer than 512 characters");
        return 400;
    }
    if (kt_blend_parse(args, 1, &ex, &e) || kt_blend_weights(&ex, 1, &e)) {
        snprintf(err, errlen, "voice: %s", e.msg);
        kt_blend_expr_free(&ex);
        return 400;
    }
    int rc = 400;
    if (ex.count > MAX_TERMS)
        snprintf(err, errlen, "voice: at most %d voices in a blend", MAX_TERMS);
    else
        rc = build_spec(v, &ex, spec, lang, err, errlen);
    kt_blend_expr_free(&ex);
    return rc;
}
