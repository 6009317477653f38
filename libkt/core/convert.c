/* convert.c - checkpoint conversion: cast, quantize, fold weight norm, embed voices, write
 * (see kt/convert.h). */
#include "kt/convert.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt/grow.h"
#include "kt/pickle.h"

/* One tensor of the logical source: a view (borrowed) or an owned tensor. */
typedef struct {
    char *name;
    kt_tensor t;
    char before[16];       /* dtype name or scheme before conversion */
    uint64_t bytes_before;
    int folded;
    int pending;  /* a weight-norm fold still to compute: t is weight_v, g is weight_g */
    kt_tensor g;
} item;

typedef struct {
    item *v;
    size_t n, cap;
} items;

typedef struct {
    kt_kv *kv;
    size_t n, cap;
} metas;

typedef struct {
    const kt_convert_params *o;
    const char *path; /* the output */
    kt_checkpoint *ck;
    kt_checkpoint **voices;
    size_t nvoices;
    items src;
    kt_tensor_list out;
    metas meta;
    uint64_t total_before, total_after;
    double max_err;
    int folded_any;
} job;

/* ------------------------------------------------------------ containers */

static int items_push(items *l, const char *name, const kt_tensor *t, const char *before, uint64_t bytes)
{
    void *v = l->v;
    if (kt_grow(&v, &l->cap, l->n + 1, sizeof *l->v))
        return -1;
    l->v = v;
    item *it = &l->v[l->n];
    memset(it, 0, sizeof *it);
    it->name = strdup(name);
    if (!it->name)
        return -1;
    it->t = *t;
    snprintf(it->before, sizeof it->before, "%s", before);
    it->bytes_before = bytes;
    l->n++;
    return 0;
}

static void items_free(items *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        kt_tensor_release(&l->v[i].t);
        kt_tensor_release(&l->v[i].g);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

static long items_find(const items *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].name && strcmp(l->v[i].name, name) == 0)
            return (long)i;
    return -1;
}

static int meta_add(metas *m, const char *key, const char *value)
{
    void *kv = m->kv;
    if (kt_grow(&kv, &m->cap, m->n + 1, sizeof *m->kv))
        return -1;
    m->kv = kv;
    m->kv[m->n].key = strdup(key);
    m->kv[m->n].value = strdup(value);
    if (!m->kv[m->n].key || !m->kv[m->n].value) {
        free(m->kv[m->n].key);
        free(m->kv[m->n].value);
        return -1;
    }
    m->n++;
    return 0;
}

static void metas_free(metas *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->kv[i].key);
        free(m->kv[i].value);
    }
    free(m->kv);
    memset(m, 0, sizeof *m);
}

/* A borrowed view of t (the list that receives it must not free its bytes). */
static kt_tensor view_of(const kt_tensor *t)
{
    kt_tensor v = *t;
    v.owned = NULL;
    return v;
}

/* ------------------------------------------------------------ reading the input */

/* Adds the decoded float32 form of the quantized tensor name. */
static kt_status add_dequantized(job *j, const char *name, kt_error *err)
{
    kt_qview v;
    kt_tensor t;
    kt_status st = kt_qview_open(j->ck, name, &v, err);
    if (!st)
        st = kt_tensor_alloc(&t, KT_F32, v.ndim, v.shape, err);
    if (st) {
        kt_error_prefix(err, name);
        return st;
    }
    kt_qview_decode(&v, t.owned);
    uint64_t bytes = (uint64_t)(v.rows * v.row_bytes) + (uint64_t)(v.rows * v.groups) * 4u;
    if (items_push(&j->src, name, &t, kt_quant_scheme_name(v.scheme), bytes)) {
        kt_tensor_release(&t);
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    }
    return KT_OK;
}

static kt_status load_source(job *j, kt_error *err)
{
    const kt_tensor_list *l = kt_checkpoint_tensors(j->ck);
    for (size_t i = 0; i < l->count; i++) {
        const char *name = l->items[i].name;
        const kt_tensor *t = &l->items[i].tensor;
        kt_status st = KT_OK;
        if (kt_quant_is_scale_name(j->ck, name))
            continue;
        char key[1024];
        snprintf(key, sizeof key, "%s%s", KT_QUANT_META_PREFIX, name);
        if (kt_checkpoint_metadata(j->ck, key)) {
            st = add_dequantized(j, name, err);
        } else {
            kt_tensor v = view_of(t);
            if (items_push(&j->src, name, &v, kt_dtype_name(t->dtype), kt_tensor_nbytes(t)))
                st = kt_error_set(err, KT_ENOMEM, "out of memory");
        }
        if (st)
            return st;
    }
    return KT_OK;
}

typedef struct {
    const char *name;
    size_t pos;
} name_pos;

static int cmp_name_pos(const void *a, const void *b)
{
    return strcmp(((const name_pos *)a)->name, ((const name_pos *)b)->name);
}

typedef struct {
    size_t rank, index;
    item it;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Sorts the source items by their position in the order array; names not in it keep file order, last. */
static kt_status apply_order(job *j, const cJSON *arr, kt_error *err)
{
    size_t n = (size_t)cJSON_GetArraySize(arr), k = 0;
    name_pos *np = malloc((n ? n : 1) * sizeof *np);
    ranked *r = malloc((j->src.n ? j->src.n : 1) * sizeof *r);
    kt_status st = KT_OK;
    if (!np || !r) {
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
        goto done;
    }
    for (const cJSON *e = arr->child; e; e = e->next)
        if (cJSON_IsString(e)) {
            np[k].name = e->valuestring;
            np[k].pos = k;
            k++;
        }
    qsort(np, k, sizeof *np, cmp_name_pos);
    for (size_t i = 0; i < j->src.n; i++) {
        name_pos key = {j->src.v[i].name, 0}, *hit = bsearch(&key, np, k, sizeof *np, cmp_name_pos);
        r[i].rank = hit ? hit->pos : k;
        r[i].index = i;
        r[i].it = j->src.v[i];
    }
    qsort(r, j->src.n, sizeof *r, cmp_ranked);
    for (size_t i = 0; i < j->src.n; i++)
        j->src.v[i] = r[i].it;
done:
    free(np);
    free(r);
    return st;
}

/* Restores the tensor order an earlier conversion recorded in "kt.order" (safetensors sorts by name). */
static kt_status restore_order(job *j, kt_error *err)
{
    const char *s = kt_checkpoint_metadata(j->ck, "kt.order");
    if (!s || j->src.n > 100000)
        return KT_OK;
    cJSON *arr = cJSON_Parse(s);
    kt_status st = KT_OK;
    if (cJSON_IsArray(arr) && (size_t)cJSON_GetArraySize(arr) <= 100000)
        st = apply_order(j, arr, err);
    cJSON_Delete(arr);
    return st;
}

/* ------------------------------------------------------------ weight-norm folding */

/* 1 if name ends with suffix; *base_len receives the length before it. */
static int has_suffix(const char *name, const char *suffix, size_t *base_len)
{
    size_t n = strlen(name), k = strlen(suffix);
    if (n < k || strcmp(name + n - k, suffix) != 0)
        return 0;
    *base_len = n - k;
    return 1;
}

/* Index of the partner of a weight_g/weight_v item (or -1), and the folded name in out. */
static long wn_partner(const items *l, const char *name, int *is_g, char *out, size_t cap)
{
    size_t b;
    char other[1024];
    if (has_suffix(name, ".weight_g", &b))
        *is_g = 1;
    else if (has_suffix(name, ".weight_v", &b))
        *is_g = 0;
    else
        return -1;
    if (b + 16 > cap || b + 16 > sizeof other)
        return -1;
    snprintf(other, sizeof other, "%.*s.weight_%c", (int)b, name, *is_g ? 'v' : 'g');
    snprintf(out, cap, "%.*s.weight", (int)b, name);
    return items_find(l, other);
}

/* Appends to dst the pending fold of src[i] and src[p] (a g/v pair), moving both tensors into it;
 * the fold itself is computed just before the tensor is converted (fold_now), so only one
 * folded tensor is in memory at a time. */
static kt_status fold_pair(job *j, size_t i, size_t p, int i_is_g, const char *wname, items *dst, kt_error *err)
{
    item *g = &j->src.v[i_is_g ? i : p], *v = &j->src.v[i_is_g ? p : i];
    if (items_find(&j->src, wname) >= 0)
        return kt_error_set(err, KT_EFORMAT, "cannot fold weight norm: %s already exists", wname);
    if (items_push(dst, wname, &v->t, v->before, g->bytes_before + v->bytes_before))
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    item *it = &dst->v[dst->n - 1];
    it->g = g->t;
    it->folded = it->pending = 1;
    g->t.owned = v->t.owned = NULL; /* moved */
    j->folded_any = 1;
    return KT_OK;
}

static kt_status fold_now(item *it, kt_error *err)
{
    kt_tensor w;
    kt_status st = kt_weight_norm_fold(&it->g, &it->t, &w, err);
    if (st)
        return st;
    kt_tensor_release(&it->g);
    kt_tensor_release(&it->t);
    it->t = w;
    it->pending = 0;
    return KT_OK;
}

/* Replaces every X.weight_g/X.weight_v pair by X.weight at the place of the first of the two. */
static kt_status fold_weight_norm(job *j, kt_error *err)
{
    items dst = {0};
    unsigned char *used = calloc(j->src.n ? j->src.n : 1, 1);
    kt_status st = used ? KT_OK : kt_error_set(err, KT_ENOMEM, "out of memory");
    for (size_t i = 0; i < j->src.n && !st; i++) {
        char wname[1024];
        int is_g = 0;
        if (used[i])
            continue;
        long p = wn_partner(&j->src, j->src.v[i].name, &is_g, wname, sizeof wname);
        if (p >= 0) {
            used[p] = 1;
            st = fold_pair(j, i, (size_t)p, is_g, wname, &dst, err);
            continue;
        }
        if (items_push(&dst, j->src.v[i].name, &j->src.v[i].t, j->src.v[i].before, j->src.v[i].bytes_before)) {
            st = kt_error_set(err, KT_ENOMEM, "out of memory");
            break;
        }
        j->src.v[i].t.owned = NULL; /* moved */
    }
    free(used);
    if (st) { /* dst owns what was moved into it; src keeps the rest */
        items_free(&dst);
        return st;
    }
    items_free(&j->src);
    j->src = dst;
    return KT_OK;
}

/* ------------------------------------------------------------ voices */

static int voice_ext(const char *name, size_t *stem)
{
    static const char *const ext[] = {".pt", ".pth", ".npy", ".safetensors"};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (has_suffix(name, ext[i], stem) && *stem > 0 && name[0] != '.')
            return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The voice pack file names of dir, sorted (so the output does not depend on readdir order). */
static int list_voices(const char *dir, char ***out, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t cap = 0, stem;
    *out = NULL;
    *n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (!voice_ext(e->d_name, &stem))
            continue;
        if (*n == cap) {
            char **v = realloc(*out, (cap = cap ? 2 * cap : 16) * sizeof *v);
            if (!v)
                break;
            *out = v;
        }
        if (((*out)[*n] = strdup(e->d_name)) != NULL)
            (*n)++;
    }
    closedir(d);
    if (*n)
        qsort(*out, *n, sizeof **out, cmp_str);
    return 0;
}

static kt_status add_voice(job *j, const char *dir, const char *file, kt_error *err)
{
    char path[4096], name[1024];
    size_t stem = 0;
    kt_checkpoint *c = NULL;
    voice_ext(file, &stem);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(name, sizeof name, "voices.%.*s", (int)stem, file);
    kt_status st = kt_checkpoint_open(path, &c, err);
    if (!st && kt_checkpoint_tensors(c)->count != 1)
        st = kt_error_set(err, KT_EFORMAT, "a voice pack holds one tensor, this file has %zu",
                          kt_checkpoint_tensors(c)->count);
    if (st) {
        kt_error_prefix(err, file);
        kt_checkpoint_free(c);
        return st;
    }
    j->voices[j->nvoices++] = c;
    const kt_tensor *t = &kt_checkpoint_tensors(c)->items[0].tensor;
    kt_tensor v = view_of(t);
    if (items_find(&j->src, name) >= 0)
        return kt_error_set(err, KT_EINVAL, "%s already exists in the input", name);
    if (items_push(&j->src, name, &v, kt_dtype_name(t->dtype), kt_tensor_nbytes(t)))
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    return KT_OK;
}

static kt_status add_voices(job *j, kt_error *err)
{
    char **files;
    size_t n;
    kt_status st = KT_OK;
    if (list_voices(j->o->voices_dir, &files, &n))
        return kt_error_set(err, KT_EIO, "cannot read the folder: %s", strerror(errno));
    j->voices = calloc(n ? n : 1, sizeof *j->voices);
    if (!j->voices)
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
    else if (n == 0)
        st = kt_error_set(err, KT_ENOTFOUND, "no voice packs (*.pt, *.pth, *.npy, *.safetensors)");
    for (size_t i = 0; i < n && !st; i++)
        st = add_voice(j, j->o->voices_dir, files[i], err);
    for (size_t i = 0; i < n; i++)
        free(files[i]);
    free(files);
    return st;
}

/* Refuses, before any conversion or write, an output larger than max_output (default 8 x
 * the inputs' size + 64 MiB): each tensor counts elements x max(4, element size) bytes, an upper
 * bound of what it becomes in any output dtype. A stride-0 tensor counts what it expands to. */
static kt_status check_output_size(const job *j, kt_error *err)
{
    uint64_t in = kt_checkpoint_file_size(j->ck), need = 0, limit = j->o->max_output;
    for (size_t i = 0; i < j->nvoices; i++)
        in += kt_checkpoint_file_size(j->voices[i]);
    if (!limit)
        limit = (in > UINT64_MAX / 16 ? UINT64_MAX / 2 : 8 * in) + ((uint64_t)64 << 20);
    for (size_t i = 0; i < j->src.n; i++) {
        const kt_tensor *t = &j->src.v[i].t;
        uint64_t size = kt_dtype_size(t->dtype) > 4 ? kt_dtype_size(t->dtype) : 4;
        uint64_t n = (uint64_t)kt_tensor_numel(t);
        if (n > (UINT64_MAX - need) / size) {
            need = UINT64_MAX;
            break;
        }
        need += n * size;
    }
    if (need > limit)
        return kt_error_set(err, KT_ELIMIT, "the output would hold %llu bytes of tensors, over the limit of %llu "
                            "(%s; raise it with --max-output BYTES)", (unsigned long long)need,
                            (unsigned long long)limit, j->o->max_output ? "--max-output" : "8 x the input + 64 MiB");
    return KT_OK;
}

/* ------------------------------------------------------------ conversion */

static double max_diff(const kt_qview *v, const double *ref)
{
    float *row = malloc((size_t)(v->cols ? v->cols : 1) * sizeof *row);
    double m = 0.0;
    if (!row)
        return NAN;
    for (int64_t r = 0; r < v->rows; r++) {
        kt_qview_row(v, r, row);
        for (int64_t i = 0; i < v->cols; i++) {
            double d = fabs((double)row[i] - ref[r * v->cols + i]);
            if (d > m || isnan(d))
                m = d;
        }
    }
    free(row);
    return m;
}

/* The values of a float tensor as doubles, row-major (exact for every float dtype). */
static double *reference(const kt_tensor *t, kt_error *err)
{
    int64_t n = kt_tensor_numel(t);
    double *ref = malloc((size_t)(n ? n : 1) * sizeof *ref);
    float *f = t->dtype == KT_F64 ? NULL : malloc((size_t)(n ? n : 1) * sizeof *f);
    if (!ref || (t->dtype != KT_F64 && !f)) {
        kt_error_set(err, KT_ENOMEM, "out of memory");
        goto fail;
    }
    if (t->dtype == KT_F64) {
        for (int64_t i = 0; i < n; i++)
            ref[i] = kt_tensor_get_f64(t, i);
        return ref;
    }
    if (kt_tensor_to_f32(t, f, err))
        goto fail;
    for (int64_t i = 0; i < n; i++)
        ref[i] = f[i];
    free(f);
    return ref;
fail:
    free(ref);
    free(f);
    return NULL;
}

/* Max |after - before| of a float tensor stored as `after` with scheme s (scales for q8/q4). */
static kt_status measure(const kt_tensor *before, kt_quant_scheme s, const kt_tensor *after, const kt_tensor *scales,
                         double *out, kt_error *err)
{
    kt_qview v;
    double *ref = reference(before, err);
    kt_status st = ref ? kt_qview_from_tensors(s, before->ndim, before->shape, after, scales, &v, err) : err->code;
    if (!st)
        *out = max_diff(&v, ref);
    free(ref);
    return st;
}

static kt_status out_add(job *j, const char *name, kt_tensor *t, kt_error *err)
{
    kt_status st = kt_tensor_list_add(&j->out, name, t, err);
    if (st)
        kt_tensor_release(t);
    return st;
}

/* The quant metadata entry of a quantized tensor (kt_quant_meta). */
static kt_status quant_meta(job *j, const char *name, const kt_tensor *t, kt_quant_scheme s, kt_error *err)
{
    kt_kv kv;
    kt_status st = kt_quant_meta(name, t, s, &kv, err);
    if (!st && meta_add(&j->meta, kv.key, kv.value))
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
    free(kv.key);
    free(kv.value);
    return st;
}

static kt_status add_quantized(job *j, const item *it, kt_quant_scheme s, uint64_t *bytes, double *e,
                               kt_error *err)
{
    kt_tensor codes, scales;
    char sname[1100];
    snprintf(sname, sizeof sname, "%s.scale", it->name);
    if (items_find(&j->src, sname) >= 0)
        return kt_error_set(err, KT_EINVAL, "cannot quantize: the input already has a tensor %s", sname);
    kt_status st = kt_quantize(&it->t, s, &codes, &scales, err);
    if (st)
        return st;
    st = measure(&it->t, s, &codes, &scales, e, err);
    *bytes = kt_tensor_nbytes(&codes) + kt_tensor_nbytes(&scales);
    if (st) {
        kt_tensor_release(&codes);
        kt_tensor_release(&scales);
        return st;
    }
    st = out_add(j, it->name, &codes, err);
    if (!st)
        st = out_add(j, sname, &scales, err);
    else
        kt_tensor_release(&scales);
    if (!st)
        st = quant_meta(j, it->name, &it->t, s, err);
    return st;
}

static kt_status add_cast(job *j, const item *it, kt_quant_scheme s, uint64_t *bytes, double *e, kt_error *err)
{
    kt_dtype to = s == KT_QUANT_F16 ? KT_F16 : s == KT_QUANT_BF16 ? KT_BF16 : KT_F32;
    kt_tensor c;
    if (it->t.dtype == to) { /* nothing to convert: pass the view through */
        kt_tensor v = view_of(&it->t);
        *bytes = kt_tensor_nbytes(&v);
        *e = 0.0;
        return out_add(j, it->name, &v, err);
    }
    kt_status st = kt_cast_float(&it->t, to, &c, err);
    if (!st)
        st = measure(&it->t, s, &c, NULL, e, err);
    if (st) {
        kt_tensor_release(&c);
        return st;
    }
    *bytes = kt_tensor_nbytes(&c);
    return out_add(j, it->name, &c, err);
}

static kt_status convert_item(job *j, const item *it, kt_convert_record *r, kt_error *err)
{
    const char *keep = kt_quant_keep_reason(it->name, &it->t, j->o->keep, j->o->nkeep);
    kt_quant_scheme s = j->o->scheme;
    if (!keep && kt_quant_is_integer(s) && !j->o->quantize_durations && kt_quant_duration_path(it->name))
        keep = "duration path";
    uint64_t bytes = 0;
    double e = 0.0;
    kt_status st;
    const char *after;
    int not_float = keep && strcmp(keep, "not float") == 0;
    if (not_float || !j->o->dtype_given) {
        kt_tensor v = view_of(&it->t);
        bytes = kt_tensor_nbytes(&v);
        after = kt_dtype_name(v.dtype);
        st = out_add(j, it->name, &v, err);
    } else {
        if (keep)
            s = KT_QUANT_F32;
        if (kt_quant_is_integer(s))
            st = add_quantized(j, it, s, &bytes, &e, err);
        else
            st = add_cast(j, it, s, &bytes, &e, err);
        after = kt_quant_is_integer(s) ? kt_quant_scheme_name(s)
                                       : kt_dtype_name(s == KT_QUANT_F16 ? KT_F16 : s == KT_QUANT_BF16 ? KT_BF16 : KT_F32);
    }
    if (st) {
        kt_error_prefix(err, it->name);
        return st;
    }
    j->total_before += it->bytes_before;
    j->total_after += bytes;
    if (e > j->max_err || isnan(e))
        j->max_err = e;
    *r = (kt_convert_record){it->name, it->before, after, it->bytes_before, bytes, e,
                             not_float || s != j->o->scheme ? keep : NULL, it->folded};
    return KT_OK;
}

static kt_status convert_all(job *j, kt_error *err)
{
    for (size_t i = 0; i < j->src.n; i++) {
        item *it = &j->src.v[i];
        size_t before = j->out.count;
        kt_status st = it->pending ? fold_now(it, err) : KT_OK;
        if (st) {
            kt_error_prefix(err, it->name);
            return st;
        }
        kt_convert_record r;
        st = convert_item(j, it, &r, err);
        if (st)
            return st;
        if (j->o->on_tensor)
            j->o->on_tensor(j->o->user, &r, i + 1, j->src.n);
        /* a folded or decoded source whose output is a new buffer is no longer needed */
        if (it->t.owned && j->out.items[before].tensor.data != it->t.data)
            kt_tensor_release(&it->t);
    }
    return KT_OK;
}

/* ------------------------------------------------------------ metadata, nesting, writing */

/* The dict nesting of a .pth input (or one an earlier conversion recorded), -1 when unknown. */
static int source_nest(const job *j)
{
    const char *m = kt_checkpoint_metadata(j->ck, "kt.pth.nest");
    const kt_value *root = kt_checkpoint_tree(j->ck);
    if (m && m[0] >= '0' && m[0] <= '2' && m[1] == '\0')
        return m[0] - '0';
    if (!root)
        return -1;
    if (kt_value_kind(root) == KT_V_TENSOR)
        return 0;
    if (kt_value_kind(root) != KT_V_DICT || kt_value_len(root) == 0)
        return -1;
    for (size_t i = 0; i < kt_value_len(root); i++)
        if (kt_value_kind(kt_value_dict_value(root, i)) != KT_V_DICT)
            return 1;
    return 2;
}

/* 1 if every output name splits at its first '.' into a non-empty group and key. */
static int names_split(const kt_tensor_list *l)
{
    for (size_t i = 0; i < l->count; i++) {
        const char *d = strchr(l->items[i].name, '.');
        if (!d || d == l->items[i].name || d[1] == '\0')
            return 0;
    }
    return l->count > 0;
}

static int output_nest(const job *j)
{
    int n = source_nest(j);
    if (n == 0 && j->out.count == 1)
        return 0;
    if (n == 1 || (n == 2 && names_split(&j->out)))
        return n;
    if (j->out.count == 1 && j->out.items[0].name[0] == '\0')
        return 0;
    return names_split(&j->out) ? 2 : 1;
}

static kt_status order_meta(job *j, kt_error *err)
{
    cJSON *arr = cJSON_CreateArray();
    char *s = NULL;
    for (size_t i = 0; arr && i < j->src.n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(j->src.v[i].name));
    if (arr)
        s = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    int bad = !s || meta_add(&j->meta, "kt.order", s);
    free(s);
    return bad ? kt_error_set(err, KT_ENOMEM, "out of memory") : KT_OK;
}

/* File-level metadata (safetensors only): the source's own pairs, then kt's. */
static kt_status file_meta(job *j, kt_error *err)
{
    size_t n;
    const kt_kv *kv = kt_checkpoint_metadata_all(j->ck, &n);
    char nest[4];
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(kv[i].key, "kt.", 3) != 0)
            bad |= meta_add(&j->meta, kv[i].key, kv[i].value);
    bad |= meta_add(&j->meta, "kt.converter", "kt-convert");
    if (j->o->dtype_given)
        bad |= meta_add(&j->meta, "kt.quant", kt_quant_scheme_name(j->o->scheme));
    if (j->folded_any)
        bad |= meta_add(&j->meta, "kt.weight_norm", "folded");
    snprintf(nest, sizeof nest, "%d", source_nest(j));
    if (source_nest(j) >= 0)
        bad |= meta_add(&j->meta, "kt.pth.nest", nest);
    if (bad)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    return order_meta(j, err);
}

static kt_status write_output(job *j, kt_error *err)
{
    kt_status st = KT_OK;
    switch (j->o->format) {
    case KT_FORMAT_SAFETENSORS:
        st = file_meta(j, err);
        if (!st)
            st = kt_safetensors_write(j->path, &j->out, j->meta.kv, j->meta.n, err);
        return st;
    case KT_FORMAT_PTH: return kt_pth_write(j->path, &j->out, output_nest(j), "archive", err);
    case KT_FORMAT_NPZ: return kt_npz_write(j->path, &j->out, err);
    default: return kt_error_set(err, KT_EINVAL, "unknown output format");
    }
}

/* The steps in order; *stage says which input an error is about. */
static kt_status convert_job(job *j, kt_convert_stage *stage, kt_error *err)
{
    kt_status st = load_source(j, err);
    if (!st)
        st = restore_order(j, err);
    if (!st && j->o->fold)
        st = fold_weight_norm(j, err);
    if (!st && j->o->voices_dir) {
        *stage = KT_CONVERT_AT_VOICES;
        st = add_voices(j, err);
    }
    if (st)
        return st;
    *stage = KT_CONVERT_AT_INPUT;
    st = check_output_size(j, err);
    if (!st)
        st = convert_all(j, err);
    if (st)
        return st;
    *stage = KT_CONVERT_AT_OUTPUT;
    return write_output(j, err);
}

kt_status kt_convert(kt_checkpoint *in, const char *path, const kt_convert_params *p, kt_convert_result *res,
                     kt_error *err)
{
    job j;
    kt_convert_stage stage = KT_CONVERT_AT_INPUT;
    memset(&j, 0, sizeof j);
    j.o = p;
    j.path = path;
    j.ck = in;
    kt_status st = convert_job(&j, &stage, err);
    if (res)
        *res = (kt_convert_result){j.src.n, j.total_before, j.total_after, j.max_err, stage};
    kt_tensor_list_free(&j.out);
    items_free(&j.src);
    metas_free(&j.meta);
    for (size_t i = 0; i < j.nvoices; i++)
        kt_checkpoint_free(j.voices[i]);
    free(j.voices);
    return st;
}
