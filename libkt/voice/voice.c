/* voice.c - voice packs: loading (alone or from bundles), name lookup, arithmetic, writing.
 * The expression parser and kt_blend_* live in voice_expr.c. */
#include "kt/voice.h"

#include "kt/cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

void kt_voice_free(kt_voice *v)
{
    if (!v)
        return;
    free(v->data);
    memset(v, 0, sizeof *v);
}

static kt_status voice_alloc(kt_voice *v, int64_t rows, int64_t dim, kt_error *err)
{
    memset(v, 0, sizeof *v);
    v->data = calloc((size_t)(rows * dim), sizeof *v->data);
    if (!v->data)
        return kt_error_set(err, KT_ENOMEM, "out of memory for a voice pack");
    v->rows = rows;
    v->dim = dim;
    return KT_OK;
}

static int is_float_dtype(kt_dtype d) { return d == KT_F32 || d == KT_F64 || d == KT_F16 || d == KT_BF16; }

static void shape_text(const kt_tensor *t, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < t->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "," : "", (long long)t->shape[i]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
}

kt_status kt_voice_from_tensor(const kt_tensor *t, kt_voice *out, kt_error *err)
{
    char shape[128];
    int ok3 = t->ndim == 3 && t->shape[1] == 1, ok2 = t->ndim == 2;
    int64_t dim = ok3 || ok2 ? t->shape[t->ndim - 1] : 0;
    memset(out, 0, sizeof *out);
    shape_text(t, shape, sizeof shape);
    if (!(ok3 || ok2) || t->shape[0] != KT_VOICE_ROWS || dim < 1 || dim > 65536)
        return kt_error_set(err, KT_EFORMAT, "not a voice pack: shape %s, expected [%d,1,D] or [%d,D]", shape,
                            KT_VOICE_ROWS, KT_VOICE_ROWS);
    if (!is_float_dtype(t->dtype))
        return kt_error_set(err, KT_EFORMAT, "not a voice pack: dtype %s, expected a float type",
                            kt_dtype_name(t->dtype));
    kt_status st = voice_alloc(out, KT_VOICE_ROWS, dim, err);
    if (!st)
        st = kt_tensor_to_f32(t, out->data, err);
    for (int64_t i = 0; !st && i < out->rows * out->dim; i++)
        if (!isfinite(out->data[i]))
            st = kt_error_set(err, KT_EFORMAT, "voice pack holds a non-finite value at row %lld",
                              (long long)(i / dim));
    if (st)
        kt_voice_free(out);
    return st;
}

kt_tensor kt_voice_tensor(const kt_voice *v)
{
    kt_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = KT_F32;
    t.ndim = 3;
    t.shape[0] = v->rows;
    t.shape[1] = 1;
    t.shape[2] = v->dim;
    t.stride[0] = v->dim;
    t.stride[1] = v->dim;
    t.stride[2] = 1;
    t.data = v->data;
    return t;
}

/* ---- bundles ---- */

void kt_voice_bundle_free(kt_voice_bundle *b)
{
    if (!b)
        return;
    for (size_t i = 0; b->names && i < b->count; i++)
        free(b->names[i]);
    free(b->names);
    free(b->views);
    kt_checkpoint_free(b->ckpt);
    memset(b, 0, sizeof *b);
}

static int is_stacked(const kt_tensor_list *l)
{
    return l->count == 1 && l->items[0].tensor.ndim == 3 && l->items[0].tensor.shape[1] == KT_VOICE_ROWS;
}

static char *member_name(const char *name)
{
    size_t n = strlen(name);
    if (n > 4 && strcmp(name + n - 4, ".npy") == 0)
        n -= 4;
    return strndup(name, n);
}

static kt_status bundle_members(kt_voice_bundle *b, kt_error *err)
{
    const kt_tensor_list *l = kt_checkpoint_tensors(b->ckpt);
    int stacked = is_stacked(l);
    size_t n = stacked ? (size_t)l->items[0].tensor.shape[0] : l->count;
    if (stacked) {
        /* every member of a stack is 510 rows of its own bytes: the file must hold them all
         * (a stride-0 stack could otherwise declare millions of members over one row) */
        const kt_tensor *s = &l->items[0].tensor;
        uint64_t member = (uint64_t)KT_VOICE_ROWS * (uint64_t)s->shape[2] * kt_dtype_size(s->dtype);
        uint64_t size = kt_checkpoint_file_size(b->ckpt);
        if (member && (uint64_t)s->shape[0] > size / member)
            return kt_error_set(err, KT_EFORMAT, "a stack of %lld voices of %llu bytes each does not fit the "
                                "file's %llu bytes", (long long)s->shape[0], (unsigned long long)member,
                                (unsigned long long)size);
    }
    b->names = calloc(n ? n : 1, sizeof *b->names);
    b->views = calloc(n ? n : 1, sizeof *b->views);
    if (!b->names || !b->views)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char idx[32];
        snprintf(idx, sizeof idx, "%zu", i);
        b->names[i] = stacked ? strdup(idx) : member_name(l->items[i].name);
        if (!b->names[i])
            return kt_error_set(err, KT_ENOMEM, "out of memory");
        b->count = i + 1;
        if (!stacked) {
            b->views[i] = l->items[i].tensor;
            b->views[i].owned = NULL; /* borrowed from the checkpoint */
            continue;
        }
        const kt_tensor *s = &l->items[0].tensor;
        kt_tensor *v = &b->views[i];
        v->dtype = s->dtype;
        v->ndim = 2;
        v->shape[0] = s->shape[1];
        v->shape[1] = s->shape[2];
        v->stride[0] = s->stride[1];
        v->stride[1] = s->stride[2];
        v->data = (const unsigned char *)s->data + (size_t)(s->stride[0] * (int64_t)i) * kt_dtype_size(s->dtype);
    }
    return KT_OK;
}

kt_status kt_voice_bundle_open(const char *path, kt_voice_bundle *b, kt_error *err)
{
    memset(b, 0, sizeof *b);
    kt_status st = kt_cli_checkpoint_open(path, &b->ckpt, err); /* "-": stdin */
    if (!st) {
        b->format = kt_checkpoint_format(b->ckpt);
        st = bundle_members(b, err);
    }
    if (st)
        kt_voice_bundle_free(b);
    return st;
}

/* 1 if member is "voices." + want (a voice embedded in a model file). */
static int is_embedded_as(const char *member, const char *want)
{
    return strncmp(member, KT_VOICE_PREFIX, sizeof KT_VOICE_PREFIX - 1) == 0 &&
           strcmp(member + sizeof KT_VOICE_PREFIX - 1, want) == 0;
}

long kt_voice_bundle_find(const kt_voice_bundle *b, const char *name)
{
    char *want = member_name(name[0] == '#' ? name + 1 : name);
    long found = -1;
    for (size_t i = 0; want && i < b->count && found < 0; i++)
        if (strcmp(b->names[i], want) == 0)
            found = (long)i;
    for (size_t i = 0; want && i < b->count && found < 0; i++)
        if (is_embedded_as(b->names[i], want))
            found = (long)i;
    free(want);
    return found;
}

/* Writes the members (minus the replaced one) and v as fmt: npz, safetensors or pth (a dict). */
static kt_status write_named_with(const kt_voice_bundle *b, kt_format fmt, const char *name, const kt_voice *v,
                                  const char *path, kt_error *err)
{
    kt_tensor_list l = {0};
    kt_status st = KT_OK;
    for (size_t i = 0; i < b->count && !st; i++)
        if (strcmp(b->names[i], name) != 0)
            st = kt_tensor_list_add(&l, b->names[i], &b->views[i], err);
    kt_tensor tv = kt_voice_tensor(v);
    if (!st)
        st = kt_tensor_list_add(&l, name, &tv, err);
    if (!st && fmt == KT_FORMAT_SAFETENSORS)
        st = kt_safetensors_write(path, &l, NULL, 0, err);
    else if (!st && fmt == KT_FORMAT_PTH)
        st = kt_pth_write(path, &l, 1, "archive", err);
    else if (!st)
        st = kt_npz_write(path, &l, err);
    kt_tensor_list_free(&l); /* every tensor is borrowed: frees names only */
    return st;
}

/* Writes a raw file of the members (the replaced one in place) and v. */
static kt_status write_raw_with(const kt_voice_bundle *b, long replace_at, const kt_voice *v, const char *path,
                                kt_error *err)
{
    kt_tensor_list l = {0};
    kt_status st = KT_OK;
    kt_tensor tv = kt_voice_tensor(v);
    for (size_t i = 0; i < b->count && !st; i++)
        st = kt_tensor_list_add(&l, b->names[i], (long)i == replace_at ? &tv : &b->views[i], err);
    if (!st && replace_at < 0)
        st = kt_tensor_list_add(&l, "new", &tv, err);
    if (!st)
        st = kt_voicebin_write(path, &l, err);
    kt_tensor_list_free(&l);
    return st;
}

static kt_status check_member_shapes(const kt_voice_bundle *b, const kt_voice *v, kt_error *err)
{
    for (size_t i = 0; i < b->count; i++) {
        const kt_tensor *t = &b->views[i];
        if (t->ndim < 2 || t->shape[0] != v->rows || t->shape[t->ndim - 1] != v->dim ||
            kt_tensor_numel(t) != v->rows * v->dim)
            return kt_error_set(err, KT_EINVAL, "bundle member '%s' is not shaped like the new voice [%lld,1,%lld]",
                                b->names[i], (long long)v->rows, (long long)v->dim);
    }
    return KT_OK;
}

kt_status kt_voice_bundle_write_with(const kt_voice_bundle *b, const char *name, const kt_voice *v, int replace,
                                     const char *path, kt_error *err)
{
    long at = kt_voice_bundle_find(b, name);
    kt_status st;
    if (!name[0])
        return kt_error_set(err, KT_EINVAL, "empty voice name");
    if (at >= 0 && !replace)
        return kt_error_set(err, KT_EINVAL, "the bundle already holds a voice '%s' (--force replaces it)", name);
    st = check_member_shapes(b, v, err);
    if (st)
        return st;
    if (b->format == KT_FORMAT_NPZ || b->format == KT_FORMAT_SAFETENSORS)
        return write_named_with(b, b->format, name, v, path, err);
    if (b->format == KT_FORMAT_PTH && (b->count == 0 || b->names[0][0]))
        return write_named_with(b, b->format, name, v, path, err);
    if (b->format == KT_FORMAT_VOICEBIN)
        return write_raw_with(b, at, v, path, err);
    return kt_error_set(err, KT_EUNSUPPORTED,
                        "can add voices only to an npz, safetensors, raw voices.bin or a .pth dict of voices, not "
                        "a %s holding one unnamed tensor", kt_format_name(b->format));
}

kt_status kt_voice_bundle_append(const char *path, const char *name, const kt_voice *v, int replace, kt_error *err)
{
    kt_voice_bundle b;
    struct stat sb;
    kt_status st;
    if (stat(path, &sb) != 0) { /* a new bundle: its format from the extension */
        memset(&b, 0, sizeof b);
        b.format = kt_format_from_extension(path);
        if (b.format != KT_FORMAT_NPZ && b.format != KT_FORMAT_SAFETENSORS && b.format != KT_FORMAT_VOICEBIN &&
            b.format != KT_FORMAT_PTH)
            return kt_error_set(err, KT_EINVAL, "cannot tell the bundle's format: use .npz, .safetensors, .pth "
                                                "or .bin (raw)");
        return kt_voice_bundle_write_with(&b, name, v, replace, path, err);
    }
    st = kt_voice_bundle_open(path, &b, err);
    if (!st)
        st = kt_voice_bundle_write_with(&b, name, v, replace, path, err);
    kt_voice_bundle_free(&b);
    return st;
}

/* ---- loading and lookup ---- */

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static kt_status load_single(const char *path, kt_voice *out, kt_error *err)
{
    kt_voice_bundle b;
    kt_status st = kt_voice_bundle_open(path, &b, err);
    if (st)
        return st;
    if (b.count == 1)
        st = kt_voice_from_tensor(&b.views[0], out, err);
    else
        st = kt_error_set(err, KT_EINVAL, "the file holds %zu voices; name one as FILE:NAME", b.count);
    kt_voice_bundle_free(&b);
    return st;
}

static kt_status load_member(const char *file, const char *member, kt_voice *out, kt_error *err)
{
    kt_voice_bundle b;
    kt_status st = kt_voice_bundle_open(file, &b, err);
    if (st)
        return st;
    long i = kt_voice_bundle_find(&b, member);
    if (i < 0)
        st = kt_error_set(err, KT_ENOTFOUND, "no voice '%s' in the bundle (%zu voices)", member, b.count);
    else
        st = kt_voice_from_tensor(&b.views[i], out, err);
    kt_voice_bundle_free(&b);
    return st;
}

kt_status kt_voice_load(const char *spec, kt_voice *out, kt_error *err)
{
    const char *colon = strrchr(spec, ':');
    memset(out, 0, sizeof *out);
    if (file_exists(spec) || !colon)
        return load_single(spec, out, err);
    char *file = strndup(spec, (size_t)(colon - spec));
    if (!file)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    kt_status st = load_member(file, colon + 1, out, err);
    free(file);
    return st;
}

const char *kt_voice_default_dir(void)
{
    const char *d = getenv("KT_VOICES");
    return d && d[0] ? d : "voices";
}

static int looks_like_path(const char *s)
{
    const char *base = strrchr(s, '/');
    base = base ? base + 1 : s;
    return strchr(s, '/') || strchr(s, ':') || strchr(base, '.') || file_exists(s);
}

kt_status kt_voice_resolve(const char *source, const char *dir, char **out, kt_error *err)
{
    return kt_voice_resolve_in(source, dir, NULL, out, err);
}

/* 1 if the tensor file at model holds a voice embedded as voices.NAME; 0 if not or unreadable. */
static int model_has_voice(const char *model, const char *name)
{
    kt_checkpoint *c = NULL;
    kt_error e;
    int found = 0;
    if (!file_exists(model) || kt_checkpoint_open(model, &c, &e))
        return 0;
    const kt_tensor_list *l = kt_checkpoint_tensors(c);
    for (size_t i = 0; i < l->count && !found; i++)
        found = is_embedded_as(l->items[i].name, name);
    kt_checkpoint_free(c);
    return found;
}

kt_status kt_voice_resolve_in(const char *source, const char *dir, const char *model, char **out, kt_error *err)
{
    static const char *const exts[] = {".pt", ".pth", ".safetensors", ".npy", ".bin"};
    *out = NULL;
    if (!source[0])
        return kt_error_set(err, KT_EINVAL, "empty voice name");
    if (looks_like_path(source)) {
        *out = strdup(source);
        return *out ? KT_OK : kt_error_set(err, KT_ENOMEM, "out of memory");
    }
    size_t n = strlen(dir) + (model ? strlen(model) : 0) + strlen(source) + 32;
    char *p = malloc(n);
    if (!p)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        snprintf(p, n, "%s/%s%s", dir, source, exts[i]);
        if (file_exists(p)) {
            *out = p;
            return KT_OK;
        }
    }
    if (model && model_has_voice(model, source)) {
        snprintf(p, n, "%s:%s%s", model, KT_VOICE_PREFIX, source);
        *out = p;
        return KT_OK;
    }
    free(p);
    if (model)
        return kt_error_set(err, KT_ENOTFOUND,
                            "unknown voice '%s' (no %s.pt, .pth, .safetensors, .npy or .bin in %s, and no "
                            "%s%s in %s)", source, source, dir, KT_VOICE_PREFIX, source, model);
    return kt_error_set(err, KT_ENOTFOUND, "unknown voice '%s' (no %s.pt, .pth, .safetensors, .npy or .bin in %s)",
                        source, source, dir);
}

/* The name part of one source: after the folder and a FILE: prefix, without "voices." or an extension. */
static void source_name(const char *s, size_t len, char *buf, size_t n)
{
    static const char *const exts[] = {".pt", ".pth", ".safetensors", ".npy", ".npz", ".bin"};
    const char *end = s + len;
    for (const char *p = s; p < end; p++)
        if (*p == '/' || *p == ':')
            s = p + 1;
    if ((size_t)(end - s) > sizeof KT_VOICE_PREFIX - 1 && !strncmp(s, KT_VOICE_PREFIX, sizeof KT_VOICE_PREFIX - 1))
        s += sizeof KT_VOICE_PREFIX - 1;
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t m = strlen(exts[i]);
        if ((size_t)(end - s) > m && !strncasecmp(end - m, exts[i], m)) {
            end -= m;
            break;
        }
    }
    if (s[0] == '#')
        s++;
    snprintf(buf, n, "%.*s", (int)(end > s ? end - s : 0), s);
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* Rewrites buf in place as a member name: letters, digits and '_' are kept, a '.' between
 * digits too, '-' becomes "_minus_", any other run of characters (a run of '_' too) one '_'; no
 * '_' at either end;
 * "voice" when nothing is left, "voice_" before a name that would not start with a letter
 * (FILE:MEMBER reads a digit after ':' as a weight). */
static void sanitize_name(char *buf, size_t n)
{
    char *in = strdup(buf);
    size_t w = 0;
    if (!in) {
        snprintf(buf, n, "voice");
        return;
    }
    for (size_t r = 0; in[r] && w + 8 < n; r++) {
        char c = in[r];
        if (is_letter(c) || is_digit(c) || (c == '.' && r > 0 && is_digit(in[r - 1]) && is_digit(in[r + 1])))
            buf[w++] = c;
        else if (c == '-')
            w += (size_t)snprintf(buf + w, n - w, "%sminus_", w && buf[w - 1] != '_' ? "_" : "");
        else if (w && buf[w - 1] != '_')
            buf[w++] = '_';
    }
    while (w && buf[w - 1] == '_')
        w--;
    buf[w] = '\0';
    if (!w)
        snprintf(buf, n, "voice");
    free(in);
    if (w && !is_letter(buf[0])) {
        memmove(buf + 6, buf, w + 1 < n - 6 ? w + 1 : n - 6);
        memcpy(buf, "voice_", 6);
        buf[n - 1] = '\0';
    }
}

int kt_voice_name_valid(const char *name)
{
    if (!is_letter(name[0]) && name[0] != '_')
        return 0;
    for (const char *p = name; *p; p++)
        if (!is_letter(*p) && !is_digit(*p) && *p != '_' && *p != '.')
            return 0;
    return strlen(name) < 256;
}

void kt_voice_spec_name(const char *spec, char *buf, size_t n)
{
    kt_blend_expr ex;
    kt_error e;
    const char *arg[1] = {spec};
    if (n == 0)
        return;
    buf[0] = '\0';
    if (kt_blend_parse(arg, 1, &ex, &e))
        return;
    source_name(ex.terms[0].source, strlen(ex.terms[0].source), buf, n);
    kt_blend_expr_free(&ex);
}

void kt_voice_member_name(const char *const *args, size_t nargs, char *buf, size_t n)
{
    kt_blend_expr ex;
    kt_error e;
    size_t k = 0;
    if (n < 8)
        return;
    buf[0] = '\0';
    if (!kt_blend_parse(args, nargs, &ex, &e)) {
        for (size_t i = 0; i < ex.count && k + 1 < n; i++) {
            /* the term as written, its source shortened to the voice's name */
            const kt_blend_term *t = &ex.terms[i];
            const char *src = strstr(t->text, t->source);
            char name[256];
            source_name(t->source, strlen(t->source), name, sizeof name);
            size_t pre = src ? (size_t)(src - t->text) : 0;
            const char *post = src ? src + strlen(t->source) : "";
            k += (size_t)snprintf(buf + k, n - k, "%s%.*s%s%s", i ? "_" : "", (int)pre, t->text, name, post);
        }
        kt_blend_expr_free(&ex);
    }
    sanitize_name(buf, n);
}

/* ---- arithmetic ---- */

static kt_status same_shape(const kt_voice *a, const kt_voice *b, kt_error *err)
{
    if (a->rows != b->rows || a->dim != b->dim)
        return kt_error_set(err, KT_EINVAL, "voice packs differ in shape: [%lld,1,%lld] and [%lld,1,%lld]",
                            (long long)a->rows, (long long)a->dim, (long long)b->rows, (long long)b->dim);
    return KT_OK;
}

kt_status kt_voice_mix(const kt_voice *const *v, const double *w, size_t n, kt_voice *out, kt_error *err)
{
    memset(out, 0, sizeof *out);
    if (n == 0)
        return kt_error_set(err, KT_EINVAL, "nothing to mix");
    for (size_t k = 1; k < n; k++)
        if (same_shape(v[0], v[k], err))
            return KT_EINVAL;
    kt_status st = voice_alloc(out, v[0]->rows, v[0]->dim, err);
    if (st)
        return st;
    int64_t total = out->rows * out->dim;
    for (int64_t i = 0; i < total; i++) {
        double acc = 0.0;
        for (size_t k = 0; k < n; k++)
            acc += w[k] * (double)v[k]->data[i];
        out->data[i] = (float)acc;
    }
    return KT_OK;
}

static double norm_of(const float *x, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)x[i] * (double)x[i];
    return sqrt(s);
}

/* One row of kt_voice_slerp. */
static void slerp_row(const float *a, const float *b, double t, int64_t n, float *out)
{
    double na = norm_of(a, n), nb = norm_of(b, n), dot = 0.0;
    if (na > 0.0 && nb > 0.0)
        for (int64_t i = 0; i < n; i++)
            dot += ((double)a[i] / na) * ((double)b[i] / nb);
    dot = dot > 1.0 ? 1.0 : dot < -1.0 ? -1.0 : dot;
    double omega = acos(dot), so = sin(omega);
    if (na == 0.0 || nb == 0.0 || so < 1e-7) {
        for (int64_t i = 0; i < n; i++)
            out[i] = (float)((1.0 - t) * (double)a[i] + t * (double)b[i]);
        return;
    }
    double ca = sin((1.0 - t) * omega) / so, cb = sin(t * omega) / so, mag = (1.0 - t) * na + t * nb;
    for (int64_t i = 0; i < n; i++)
        out[i] = (float)(mag * (ca * (double)a[i] / na + cb * (double)b[i] / nb));
}

kt_status kt_voice_slerp(const kt_voice *a, const kt_voice *b, double t, kt_voice *out, kt_error *err)
{
    memset(out, 0, sizeof *out);
    if (!isfinite(t))
        return kt_error_set(err, KT_EINVAL, "slerp position t is not a finite number");
    kt_status st = same_shape(a, b, err);
    if (!st)
        st = voice_alloc(out, a->rows, a->dim, err);
    for (int64_t r = 0; !st && r < a->rows; r++)
        slerp_row(a->data + r * a->dim, b->data + r * a->dim, t, a->dim, out->data + r * a->dim);
    return st;
}

kt_status kt_voice_split(const kt_voice *timbre, const kt_voice *prosody, kt_voice *out, kt_error *err)
{
    memset(out, 0, sizeof *out);
    kt_status st = same_shape(timbre, prosody, err);
    if (st)
        return st;
    if (timbre->dim % 2)
        return kt_error_set(err, KT_EINVAL, "a style row of %lld values has no timbre/prosody halves",
                            (long long)timbre->dim);
    st = voice_alloc(out, timbre->rows, timbre->dim, err);
    if (st)
        return st;
    int64_t h = timbre->dim / 2;
    for (int64_t r = 0; r < out->rows; r++) {
        memcpy(out->data + r * out->dim, timbre->data + r * out->dim, (size_t)h * sizeof(float));
        memcpy(out->data + r * out->dim + h, prosody->data + r * out->dim + h, (size_t)h * sizeof(float));
    }
    return KT_OK;
}

kt_status kt_voice_interp(const kt_voice *a, const kt_voice *b, int steps, int use_slerp, kt_voice *out,
                          kt_error *err)
{
    kt_status st = KT_OK;
    if (steps < 2)
        return kt_error_set(err, KT_EINVAL, "an interpolation needs at least 2 steps, not %d", steps);
    for (int i = 0; i < steps && !st; i++) {
        double t = (double)i / (double)(steps - 1);
        if (use_slerp) {
            st = kt_voice_slerp(a, b, t, &out[i], err);
        } else {
            const kt_voice *v[2] = {a, b};
            double w[2] = {1.0 - t, t};
            st = kt_voice_mix(v, w, 2, &out[i], err);
        }
    }
    for (int i = 0; st && i < steps; i++)
        kt_voice_free(&out[i]);
    return st;
}

/* ---- writing ---- */

/* The file's stem: basename without its last extension ("archive" if empty). */
static char *path_stem(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    return n ? strndup(base, n) : strdup("archive");
}

kt_status kt_voice_write(const kt_voice *v, const char *path, kt_format fmt, const kt_kv *meta, size_t nmeta,
                         kt_error *err)
{
    return kt_voice_write_named(v, path, fmt, NULL, meta, nmeta, err);
}

kt_status kt_voice_write_named(const kt_voice *v, const char *path, kt_format fmt, const char *member,
                               const kt_kv *meta, size_t nmeta, kt_error *err)
{
    kt_tensor t = kt_voice_tensor(v);
    kt_tensor_list l = {0};
    char *stem = path_stem(path);
    kt_status st = stem ? KT_OK : kt_error_set(err, KT_ENOMEM, "out of memory");
    if (fmt == KT_FORMAT_UNKNOWN)
        fmt = kt_format_from_extension(path);
    const char *name = fmt == KT_FORMAT_SAFETENSORS ? (member ? member : "voice")
                       : fmt == KT_FORMAT_NPZ ? (member ? member : stem) : "";
    if (!st)
        st = kt_tensor_list_add(&l, name, &t, err);
    if (st)
        goto done;
    switch (fmt) {
    case KT_FORMAT_PTH: st = kt_pth_write(path, &l, 0, stem, err); break;
    case KT_FORMAT_SAFETENSORS: st = kt_safetensors_write(path, &l, meta, nmeta, err); break;
    case KT_FORMAT_NPY: st = kt_npy_write(path, &t, err); break;
    case KT_FORMAT_NPZ: st = kt_npz_write(path, &l, err); break;
    case KT_FORMAT_VOICEBIN: st = kt_voicebin_write(path, &l, err); break;
    default: st = kt_error_set(err, KT_EINVAL, "no voice format for this name (use .pt, .safetensors, .npy, .bin)");
    }
done:
    kt_tensor_list_free(&l);
    free(stem);
    return st;
}
