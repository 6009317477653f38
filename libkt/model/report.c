/* report.c - the Kokoro structure report and tensor listings (text and JSON). */
#define _GNU_SOURCE
#include "kt/report.h"

#include <cJSON.h>
#include <dirent.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "kt/io.h"
#include "kt/quant.h"

kt_report_params kt_report_default_params(void)
{
    kt_report_params p = {0};
    return p;
}

kt_listing_params kt_listing_default_params(void)
{
    kt_listing_params p = {0};
    return p;
}

const char *kt_kokoro_component(const char *name)
{
    if (strstr(name, "text_encoder"))
        return "TEXT_ENCODER";
    if (strncmp(name, "bert_encoder.", 13) == 0)
        return "BERT_ENCODER";
    if (strncmp(name, "bert.", 5) == 0)
        return "BERT";
    if (strncmp(name, "decoder.", 8) == 0)
        return "DECODER";
    if (strncmp(name, "predictor.", 10) == 0)
        return "PREDICTOR";
    return "OTHER";
}

/* ---- shapes ---------------------------------------------------------------- */

/* Python tuple text of a shape: "(510, 1, 256)", "(256,)", "()". */
/* Totals over many tensors saturate instead of overflowing (stride-0 tensors may each
 * declare up to INT64_MAX elements without holding them). */
static int64_t add_sat(int64_t a, int64_t b) { return a > INT64_MAX - b ? INT64_MAX : a + b; }
static uint64_t add_sat_u(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

/* s escaped for text output (kt_strbuf_escaped), in tmp, which the caller frees. */
static const char *esc(kt_strbuf *tmp, const char *s)
{
    tmp->len = 0;
    if (tmp->data)
        tmp->data[0] = '\0';
    kt_strbuf_escaped(tmp, s);
    return tmp->data && !tmp->failed ? tmp->data : "?";
}

static void shape_tuple(const kt_tensor *t, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < t->ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (t->ndim == 1 && o < n)
        o += (size_t)snprintf(buf + o, n - o, ",");
    if (o < n)
        snprintf(buf + o, n - o, ")");
}

/* JSON-ish list text of a shape: "[510, 1, 256]". */
static void shape_list(const kt_tensor *t, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < t->ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (o < n)
        snprintf(buf + o, n - o, "]");
}

/* ---- Python json.dumps(indent=2) of a cJSON tree ---------------------------- */

static void put_utf8_escaped(kt_strbuf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    kt_strbuf_puts(b, "\"");
    while (*p) {
        uint32_t cp = *p;
        int extra = 0;
        if (cp >= 0xf0) { cp &= 0x07; extra = 3; }
        else if (cp >= 0xe0) { cp &= 0x0f; extra = 2; }
        else if (cp >= 0xc0) { cp &= 0x1f; extra = 1; }
        p++;
        for (int i = 0; i < extra && (*p & 0xc0) == 0x80; i++, p++)
            cp = cp << 6 | (*p & 0x3f);
        if (cp == '"') kt_strbuf_puts(b, "\\\"");
        else if (cp == '\\') kt_strbuf_puts(b, "\\\\");
        else if (cp == '\n') kt_strbuf_puts(b, "\\n");
        else if (cp == '\r') kt_strbuf_puts(b, "\\r");
        else if (cp == '\t') kt_strbuf_puts(b, "\\t");
        else if (cp == '\b') kt_strbuf_puts(b, "\\b");
        else if (cp == '\f') kt_strbuf_puts(b, "\\f");
        else if (cp < 0x20 || (cp >= 0x7f && cp < 0x10000)) kt_strbuf_printf(b, "\\u%04x", cp);
        else if (cp >= 0x10000) {
            cp -= 0x10000;
            kt_strbuf_printf(b, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
        } else {
            char c = (char)cp;
            kt_strbuf_append(b, &c, 1);
        }
    }
    kt_strbuf_puts(b, "\"");
}

static void put_number(kt_strbuf *b, double v)
{
    char buf[40];
    if (v == floor(v) && fabs(v) < 1e15) {
        kt_strbuf_printf(b, "%lld", (long long)v);
        return;
    }
    kt_format_double_repr(v, buf, sizeof buf);
    kt_strbuf_puts(b, buf);
}

/* Python's str() of a scalar JSON value, as "- **key**: value" prints it. */
static void put_python_scalar(kt_strbuf *b, const cJSON *v)
{
    if (cJSON_IsBool(v))
        kt_strbuf_puts(b, cJSON_IsTrue(v) ? "True" : "False");
    else if (cJSON_IsNull(v))
        kt_strbuf_puts(b, "None");
    else if (cJSON_IsNumber(v))
        put_number(b, v->valuedouble);
    else if (cJSON_IsString(v))
        kt_strbuf_puts(b, v->valuestring);
}

static void put_indent(kt_strbuf *b, int level)
{
    for (int i = 0; i < level; i++)
        kt_strbuf_puts(b, "  ");
}

static void put_json_pretty(kt_strbuf *b, const cJSON *v, int level)
{
    if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
        int obj = cJSON_IsObject(v);
        if (!v->child) {
            kt_strbuf_puts(b, obj ? "{}" : "[]");
            return;
        }
        kt_strbuf_puts(b, obj ? "{\n" : "[\n");
        for (const cJSON *c = v->child; c; c = c->next) {
            put_indent(b, level + 1);
            if (obj) {
                put_utf8_escaped(b, c->string);
                kt_strbuf_puts(b, ": ");
            }
            put_json_pretty(b, c, level + 1);
            kt_strbuf_puts(b, c->next ? ",\n" : "\n");
        }
        put_indent(b, level);
        kt_strbuf_puts(b, obj ? "}" : "]");
    } else if (cJSON_IsString(v)) {
        put_utf8_escaped(b, v->valuestring);
    } else if (cJSON_IsBool(v)) {
        kt_strbuf_puts(b, cJSON_IsTrue(v) ? "true" : "false");
    } else if (cJSON_IsNull(v)) {
        kt_strbuf_puts(b, "null");
    } else {
        put_number(b, v->valuedouble);
    }
}

/* ---- voices ------------------------------------------------------------------ */

typedef struct {
    char **names; /* sorted file names ending in .pt */
    size_t count;
} name_list;

static void name_list_free(name_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->names[i]);
    free(l->names);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static kt_status list_voice_files(const char *dir, name_list *out, kt_error *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t cap = 0;
    memset(out, 0, sizeof *out);
    if (!d)
        return kt_error_set(err, KT_EIO, "%s: cannot open voice folder", dir);
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 3, ".pt") != 0 || e->d_name[0] == '.')
            continue;
        if (out->count == cap) {
            cap = cap ? cap * 2 : 64;
            char **p = realloc(out->names, cap * sizeof *p);
            if (!p)
                goto nomem;
            out->names = p;
        }
        if (!(out->names[out->count] = strdup(e->d_name)))
            goto nomem;
        out->count++;
    }
    closedir(d);
    qsort(out->names, out->count, sizeof *out->names, cmp_str);
    return KT_OK;
nomem:
    closedir(d);
    name_list_free(out);
    return kt_error_set(err, KT_ENOMEM, "out of memory listing %s", dir);
}

static char *join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir);
    char *p = malloc(n + strlen(name) + 2);
    if (p)
        sprintf(p, "%s%s%s", dir, (n && dir[n - 1] == '/') ? "" : "/", name);
    return p;
}

/* Opens a voice file and returns its single tensor; errors name the file. */
static kt_status open_voice(const char *path, kt_checkpoint **ck, const kt_tensor **t, kt_error *err)
{
    kt_status st = kt_checkpoint_open(path, ck, err);
    if (st) {
        kt_error_prefix(err, path);
        return st;
    }
    const kt_tensor_list *l = kt_checkpoint_tensors(*ck);
    if (l->count != 1) {
        kt_checkpoint_free(*ck);
        *ck = NULL;
        return kt_error_set(err, KT_EFORMAT, "%s: a voice pack holds one tensor, this file has %zu", path,
                            l->count);
    }
    *t = &l->items[0].tensor;
    return KT_OK;
}

typedef struct {
    char shape[160];
    int count;
} shape_count;

static const char *language_of(char c)
{
    switch (c) {
    case 'a': case 'b': return "English";
    case 'e': return "Spanish";
    case 'f': return "French";
    case 'h': return "Hindi";
    case 'i': return "Italian";
    case 'j': return "Japanese";
    case 'p': return "Portuguese";
    case 'z': return "Chinese";
    }
    return NULL;
}

typedef struct {
    int have;
    kt_stats stats;
    int64_t shape[KT_MAX_DIMS];
    int ndim;
    char languages[256];
} voice_summary;

static void collect_languages(const name_list *voices, char *out, size_t n)
{
    static const char order[] = "abefhijpz";
    const char *seen[16];
    size_t nseen = 0, o = 0;
    out[0] = '\0';
    for (const char *c = order; *c; c++) {
        const char *lang = language_of(*c);
        int present = 0, dup = 0;
        for (size_t i = 0; i < voices->count; i++)
            present |= voices->names[i][0] == *c;
        for (size_t i = 0; i < nseen; i++)
            dup |= seen[i] == lang;
        if (!present || dup)
            continue;
        seen[nseen++] = lang;
        o += (size_t)snprintf(out + o, o < n ? n - o : 0, "%s%s", o ? ", " : "", lang);
    }
}

static kt_status report_voices(const char *dir, kt_strbuf *b, voice_summary *vs, kt_error *err)
{
    name_list voices;
    kt_checkpoint *ck = NULL;
    const kt_tensor *t;
    shape_count *shapes = NULL;
    size_t nshapes = 0;
    char *path = NULL, buf[160], num[32];
    kt_status st = list_voice_files(dir, &voices, err);
    if (st)
        return st;
    if (voices.count == 0) {
        name_list_free(&voices);
        return kt_error_set(err, KT_ENOTFOUND, "%s: no voice packs (*.pt) in this folder", dir);
    }
    size_t sample = 0;
    for (size_t i = 0; i < voices.count; i++)
        if (strcmp(voices.names[i], "af_heart.pt") == 0)
            sample = i;
    if (!(path = join_path(dir, voices.names[sample])))
        goto nomem;
    if ((st = open_voice(path, &ck, &t, err)))
        goto fail;
    if ((st = kt_tensor_stats(t, 1, &vs->stats, err)))
        goto fail;
    vs->have = 1;
    vs->ndim = t->ndim;
    memcpy(vs->shape, t->shape, sizeof vs->shape);
    {
        kt_strbuf tmp = {0};
        kt_strbuf_printf(b, "## Voice File Analysis (Sample: %s)\n\n", esc(&tmp, voices.names[sample]));
        kt_strbuf_printf(b, "- **File Path**: %s\n", esc(&tmp, path));
        kt_strbuf_free(&tmp);
    }
    kt_strbuf_printf(b, "- **File Size**: %.2f MB\n", (double)kt_checkpoint_file_size(ck) / (1024.0 * 1024.0));
    shape_tuple(t, buf, sizeof buf);
    kt_strbuf_printf(b, "- **Tensor Shape**: %s\n", buf);
    kt_strbuf_printf(b, "- **Data Type**: %s\n", kt_dtype_torch_name(t->dtype));
    kt_format_thousands(kt_tensor_numel(t), num, sizeof num);
    kt_strbuf_printf(b, "- **Total Elements**: %s\n\n", num);
    kt_strbuf_puts(b, "### Statistical Properties\n\n| Metric | Value |\n|--------|-------|\n");
    kt_strbuf_printf(b, "| Min | %.6f |\n| Max | %.6f |\n| Mean | %.6f |\n| Std Dev | %.6f |\n| Median | %.6f |\n\n",
                     vs->stats.min, vs->stats.max, vs->stats.mean, vs->stats.std, vs->stats.median);
    kt_strbuf_puts(b, "### Dimension Interpretation\n\n");
    if (t->ndim == 3) {
        kt_strbuf_printf(b, "- **Sequence Length**: %lld (max phoneme positions)\n", (long long)t->shape[0]);
        kt_strbuf_printf(b, "- **Batch Size**: %lld\n", (long long)t->shape[1]);
        kt_strbuf_printf(b, "- **Embedding Dimension**: %lld\n", (long long)t->shape[2]);
    }
    kt_strbuf_puts(b, "- **Purpose**: Pre-computed speaker embeddings for each timestep\n\n");
    kt_checkpoint_free(ck);
    ck = NULL;
    free(path);
    path = NULL;

    /* every voice's shape */
    for (size_t i = 0; i < voices.count; i++) {
        if (!(path = join_path(dir, voices.names[i])))
            goto nomem;
        if ((st = open_voice(path, &ck, &t, err)))
            goto fail;
        shape_tuple(t, buf, sizeof buf);
        size_t k = 0;
        while (k < nshapes && strcmp(shapes[k].shape, buf) != 0)
            k++;
        if (k == nshapes) {
            shape_count *p = realloc(shapes, (nshapes + 1) * sizeof *p);
            if (!p)
                goto nomem;
            shapes = p;
            snprintf(shapes[k].shape, sizeof shapes[k].shape, "%s", buf);
            shapes[k].count = 0;
            nshapes++;
        }
        shapes[k].count++;
        kt_checkpoint_free(ck);
        ck = NULL;
        free(path);
        path = NULL;
    }
    kt_strbuf_printf(b, "## All Voice Files Analysis\n\n- **Total Voices**: %zu\n\n### Shape Distribution\n\n",
                     voices.count);
    /* most common first, ties in order of first appearance */
    for (int done = 0; done < (int)nshapes; done++) {
        size_t best = 0;
        for (size_t k = 1; k < nshapes; k++)
            if (shapes[k].count > shapes[best].count)
                best = k;
        kt_strbuf_printf(b, "- Shape `%s`: %d voices\n", shapes[best].shape, shapes[best].count);
        shapes[best].count = -1;
    }
    kt_strbuf_puts(b, "\n");
    collect_languages(&voices, vs->languages, sizeof vs->languages);
    free(shapes);
    name_list_free(&voices);
    return KT_OK;
nomem:
    st = kt_error_set(err, KT_ENOMEM, "out of memory");
fail:
    kt_checkpoint_free(ck);
    free(path);
    free(shapes);
    name_list_free(&voices);
    return st;
}

/* ---- model ------------------------------------------------------------------- */

static const char *const components[] = {"BERT", "BERT_ENCODER", "TEXT_ENCODER", "DECODER", "PREDICTOR", "OTHER"};
#define NCOMP 6

typedef struct {
    int64_t keys[NCOMP];
    int64_t params[NCOMP];
    int64_t total;
} model_summary;

static int component_index(const char *name)
{
    const char *c = kt_kokoro_component(name);
    for (int i = 0; i < NCOMP; i++)
        if (strcmp(c, components[i]) == 0)
            return i;
    return NCOMP - 1;
}

/* Number of distinct top-level keys: the root dict's entries, i.e. distinct prefixes before the first '.'. */
static size_t count_top_level(const kt_tensor_list *l)
{
    size_t n = 0;
    for (size_t i = 0; i < l->count; i++) {
        const char *dot = strchr(l->items[i].name, '.');
        size_t len = dot ? (size_t)(dot - l->items[i].name) : strlen(l->items[i].name);
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strncmp(l->items[j].name, l->items[i].name, len) == 0 &&
                   (l->items[j].name[len] == '.' || l->items[j].name[len] == '\0');
        n += !seen;
    }
    return n;
}

static void report_component_detail(kt_strbuf *b, const kt_tensor_list *l, int comp, const model_summary *ms)
{
    char num[32];
    int shown = 0;
    kt_strbuf_printf(b, "#### %s\n\n", components[comp]);
    kt_format_thousands(ms->keys[comp], num, sizeof num);
    kt_strbuf_printf(b, "- **Number of Keys**: %s\n", num);
    kt_format_thousands(ms->params[comp], num, sizeof num);
    kt_strbuf_printf(b, "- **Total Parameters**: %s\n- **Sample Keys**:\n\n```\n", num);
    for (size_t i = 0; i < l->count && shown < 5; i++)
        if (component_index(l->items[i].name) == comp) {
            kt_strbuf_puts(b, "  ");
            kt_strbuf_escaped(b, l->items[i].name);
            kt_strbuf_puts(b, "\n");
            shown++;
        }
    if (ms->keys[comp] > 5)
        kt_strbuf_printf(b, "  ... and %lld more keys\n", (long long)(ms->keys[comp] - 5));
    kt_strbuf_puts(b, "```\n\n");
}

static kt_status report_model(const char *path, kt_strbuf *b, model_summary *ms, kt_error *err)
{
    kt_checkpoint *ck = NULL;
    char num[32];
    kt_status st = kt_checkpoint_open(path, &ck, err);
    if (st) {
        kt_error_prefix(err, path);
        return st;
    }
    const kt_tensor_list *l = kt_checkpoint_tensors(ck);
    memset(ms, 0, sizeof *ms);
    for (size_t i = 0; i < l->count; i++) {
        int c = component_index(l->items[i].name);
        int64_t n = kt_tensor_numel(&l->items[i].tensor);
        ms->keys[c]++;
        ms->params[c] = add_sat(ms->params[c], n);
        ms->total = add_sat(ms->total, n);
    }
    kt_format_thousands(ms->total, num, sizeof num);
    kt_strbuf_printf(b, "## Model Weights Analysis\n\n- **Total Parameters**: %s\n", num);
    kt_strbuf_printf(b, "- **Total Top-level Keys**: %zu\n\n", count_top_level(l));
    kt_strbuf_puts(b, "### Component Breakdown\n\n| Component | Keys | Parameters |\n|-----------|------|------------|\n");
    for (int c = 0; c < NCOMP; c++) {
        if (!ms->keys[c])
            continue;
        kt_format_thousands(ms->params[c], num, sizeof num);
        kt_strbuf_printf(b, "| %s | %lld | %s |\n", components[c], (long long)ms->keys[c], num);
    }
    kt_strbuf_puts(b, "\n### Detailed Component Structure\n\n");
    for (int c = 0; c < NCOMP; c++)
        if (ms->keys[c])
            report_component_detail(b, l, c, ms);
    kt_checkpoint_free(ck);
    return KT_OK;
}

/* ---- config ------------------------------------------------------------------ */

static kt_status load_json(const char *path, cJSON **out, kt_error *err)
{
    kt_mapped_file f;
    kt_status st = kt_file_map(path, &f, err);
    if (st) {
        kt_error_prefix(err, path);
        return st;
    }
    *out = cJSON_ParseWithLength((const char *)f.data, (size_t)f.size);
    kt_file_unmap(&f);
    if (!*out || !cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return kt_error_set(err, KT_EFORMAT, "%s: not a JSON object", path);
    }
    return KT_OK;
}

static void report_config(const cJSON *cfg, kt_strbuf *b)
{
    kt_strbuf_puts(b, "## Model Configuration\n\n");
    for (const cJSON *c = cfg->child; c; c = c->next) {
        if (cJSON_IsObject(c)) {
            kt_strbuf_puts(b, "### ");
            for (const char *p = c->string; *p; p++)
                kt_strbuf_printf(b, "%c", (*p >= 'a' && *p <= 'z') ? *p - 32 : *p);
            kt_strbuf_puts(b, "\n\n```json\n");
            put_json_pretty(b, c, 0);
            kt_strbuf_puts(b, "\n```\n\n");
        } else {
            kt_strbuf_printf(b, "- **%s**: ", c->string);
            put_python_scalar(b, c);
            kt_strbuf_puts(b, "\n");
        }
    }
    kt_strbuf_puts(b, "\n");
}

/* ---- summary ----------------------------------------------------------------- */

static int cfg_int(const cJSON *cfg, const char *obj, const char *key, int *out)
{
    const cJSON *o = obj ? cJSON_GetObjectItemCaseSensitive(cfg, obj) : cfg;
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    if (!cJSON_IsNumber(v))
        return 0;
    *out = v->valueint;
    return 1;
}

/* "6.3M" or "394K" as the report abbreviates parameter counts. */
static void abbrev(int64_t n, char *buf, size_t len)
{
    if (n >= 1000000)
        snprintf(buf, len, "%.1fM", (double)n / 1e6);
    else
        snprintf(buf, len, "%.0fK", (double)n / 1e3);
}

static void report_summary(kt_strbuf *b, const voice_summary *vs, const model_summary *ms, const cJSON *cfg)
{
    char a[32];
    int v;
    kt_strbuf_puts(b, "## Summary\n\n");
    if (vs) {
        kt_strbuf_puts(b, "### Voice Embeddings\n- **Shape**: [");
        for (int i = 0; i < vs->ndim; i++)
            kt_strbuf_printf(b, "%s%lld", i ? ", " : "", (long long)vs->shape[i]);
        kt_strbuf_puts(b, "]\n");
        if (vs->ndim == 3) {
            kt_strbuf_printf(b, "  - %lld sequence positions (max phoneme tokens)\n", (long long)vs->shape[0]);
            kt_strbuf_printf(b, "  - %lld batch size\n", (long long)vs->shape[1]);
            kt_strbuf_printf(b, "  - %lld-dimensional speaker embeddings\n", (long long)vs->shape[2]);
        }
        kt_strbuf_puts(b, "- **Purpose**: Pre-computed speaker characteristics at each timestep for conditioning the model\n");
        char mean[32];
        snprintf(mean, sizeof mean, "%.2f", vs->stats.mean);
        if (strcmp(mean, "-0.00") == 0 || strcmp(mean, "0.00") == 0)
            snprintf(mean, sizeof mean, "0");
        kt_strbuf_printf(b, "- **Value Range**: [%.2f, %.2f] with mean \u2248 %s\n\n", vs->stats.min, vs->stats.max, mean);
    }
    if (ms) {
        /* the headline truncates to one decimal (81,763,410 -> 81.7M), the parts round */
        kt_strbuf_printf(b, "### Model Architecture (%.1fM parameters)\n", floor((double)ms->total / 1e5) / 10.0);
        int layers = 0, hidden = 0, dim = 0, n = 1;
        int have_bert = cfg && cfg_int(cfg, "plbert", "num_hidden_layers", &layers) &&
                        cfg_int(cfg, "plbert", "hidden_size", &hidden);
        int have_dim = cfg && cfg_int(cfg, NULL, "hidden_dim", &dim);
        static const char *const labels[] = {"BERT", "BERT Encoder", "Text Encoder", "Decoder", "Predictor"};
        static const int order[] = {0, 1, 2, 3, 4};
        for (int k = 0; k < 5; k++) {
            int c = order[k];
            if (!ms->keys[c])
                continue;
            abbrev(ms->params[c], a, sizeof a);
            kt_strbuf_printf(b, "%d. **%s** (%s params) - ", n++, labels[c], a);
            if (c == 0 && have_bert)
                kt_strbuf_printf(b, "Linguistic encoder with %d layers, %d hidden dim\n", layers, hidden);
            else if (c == 0)
                kt_strbuf_puts(b, "Linguistic encoder\n");
            else if (c == 1 && have_dim)
                kt_strbuf_printf(b, "Maps BERT output to model hidden dimension (%d)\n", dim);
            else if (c == 1)
                kt_strbuf_puts(b, "Maps BERT output to model hidden dimension\n");
            else if (c == 2)
                kt_strbuf_puts(b, "Additional text processing with LSTMs\n");
            else if (c == 3)
                kt_strbuf_puts(b, "ISTFTNet vocoder for audio reconstruction\n");
            else
                kt_strbuf_puts(b, "Duration, F0, and prosody prediction\n");
        }
        kt_strbuf_puts(b, "\n");
    }
    if (cfg) {
        kt_strbuf_puts(b, "### Key Specifications\n");
        if (cfg_int(cfg, "plbert", "max_position_embeddings", &v))
            kt_strbuf_printf(b, "- **Max Sequence Length**: %d tokens\n", v);
        if (cfg_int(cfg, NULL, "n_mels", &v))
            kt_strbuf_printf(b, "- **Mel Spectrogram Dimension**: %d\n", v);
        if (cfg_int(cfg, NULL, "n_token", &v))
            kt_strbuf_printf(b, "- **Phoneme Vocabulary**: %d tokens\n", v);
        if (cfg_int(cfg, NULL, "style_dim", &v)) {
            kt_strbuf_printf(b, "- **Speaker Embedding Size**: %d", v);
            if (vs && vs->ndim > 0)
                kt_strbuf_printf(b, " (+ %lld-dim vectors in voice files)", (long long)vs->shape[vs->ndim - 1]);
            kt_strbuf_puts(b, "\n");
        }
        const cJSON *ms_item = cJSON_GetObjectItemCaseSensitive(cfg, "multispeaker");
        if (cJSON_IsBool(ms_item))
            kt_strbuf_printf(b, "- **Multispeaker Support**: %s\n", cJSON_IsTrue(ms_item) ? "Yes" : "No");
    }
    if (vs && vs->languages[0])
        kt_strbuf_printf(b, "- **Supported Languages**: %s\n", vs->languages);
    kt_strbuf_puts(b, "\n");
}

kt_status kt_structure_report(const kt_report_params *p, kt_strbuf *b, kt_error *err)
{
    voice_summary vs = {0};
    model_summary ms = {0};
    cJSON *cfg = NULL;
    kt_status st = KT_OK;
    char now[64];
    if (p->config_path && (st = load_json(p->config_path, &cfg, err)))
        return st;
    if (!p->generated) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        snprintf(now, sizeof now, "%lld.%06ld", (long long)tv.tv_sec, (long)tv.tv_usec);
    }
    kt_strbuf_printf(b, "# Kokoro-82M Model Structure Analysis Results\n\nGenerated: %s\n\n",
                     p->generated ? p->generated : now);
    if (p->voices_dir && (st = report_voices(p->voices_dir, b, &vs, err)))
        goto done;
    if (p->model_path && (st = report_model(p->model_path, b, &ms, err)))
        goto done;
    if (cfg)
        report_config(cfg, b);
    report_summary(b, vs.have ? &vs : NULL, p->model_path ? &ms : NULL, cfg);
    if (kt_strbuf_failed(b))
        st = kt_error_set(err, KT_ENOMEM, "out of memory building the report");
done:
    cJSON_Delete(cfg);
    return st;
}

/* ---- listings ---------------------------------------------------------------- */

static int listed(const kt_listing_params *p, const char *name)
{
    return !p->filter || fnmatch(p->filter, name, 0) == 0;
}

/* The kt-convert quantization recorded in the file's metadata, if any. */
static kt_status quantized_text(const kt_checkpoint *c, const kt_listing_params *p, kt_strbuf *b, kt_error *err)
{
    kt_quant_info *q = NULL;
    size_t n = 0;
    char shape[160];
    kt_status st = kt_quant_list(c, &q, &n, err);
    if (st || n == 0)
        return st;
    const char *scheme = kt_checkpoint_metadata(c, "kt.quant");
    size_t shown = 0;
    for (size_t i = 0; i < n; i++)
        shown += listed(p, q[i].name);
    kt_strbuf_printf(b, "%zu tensors quantized by kt-convert (%s: int codes in NAME, a scale per group in NAME.scale):\n",
                     shown, scheme ? scheme : "mixed");
    for (size_t i = 0; i < n; i++) {
        if (!listed(p, q[i].name))
            continue;
        kt_tensor view = {.ndim = q[i].ndim};
        memcpy(view.shape, q[i].shape, sizeof view.shape);
        shape_list(&view, shape, sizeof shape);
        kt_strbuf_puts(b, "  ");
        kt_strbuf_escaped(b, q[i].name);
        kt_strbuf_printf(b, "  %s  was %s %s  group %lld  %llu bytes\n",
                         kt_quant_scheme_name(q[i].scheme), kt_dtype_name(q[i].dtype), shape, (long long)q[i].group,
                         (unsigned long long)q[i].stored_bytes);
    }
    free(q);
    return KT_OK;
}

static void quantized_json(const kt_checkpoint *c, const kt_listing_params *p, kt_strbuf *b)
{
    kt_quant_info *q = NULL;
    size_t n = 0;
    int first = 1;
    kt_strbuf_puts(b, ", \"quantized\": [");
    if (kt_quant_list(c, &q, &n, NULL) == KT_OK) {
        for (size_t i = 0; i < n; i++) {
            if (!listed(p, q[i].name))
                continue;
            kt_strbuf_puts(b, first ? "" : ", ");
            first = 0;
            kt_strbuf_puts(b, "{\"name\": ");
            put_utf8_escaped(b, q[i].name);
            kt_strbuf_printf(b, ", \"scheme\": \"%s\", \"dtype\": \"%s\", \"shape\": [",
                             kt_quant_scheme_name(q[i].scheme), kt_dtype_name(q[i].dtype));
            for (int d = 0; d < q[i].ndim; d++)
                kt_strbuf_printf(b, "%s%lld", d ? ", " : "", (long long)q[i].shape[d]);
            kt_strbuf_printf(b, "], \"group\": %lld, \"stored_bytes\": %llu}", (long long)q[i].group,
                             (unsigned long long)q[i].stored_bytes);
        }
    }
    free(q);
    kt_strbuf_puts(b, "]");
}

/* --stats and --values read every element of the listed tensors: their total may be at most the
 * file's size + 2^24 elements (every stored element takes at least one byte of the file), so a
 * stride-0 tensor declaring 2^36 elements over one float cannot cost minutes or gigabytes. */
#define ELEMENTS_SLACK ((uint64_t)1 << 24)

static kt_status check_elements(const kt_checkpoint *c, const kt_listing_params *p, kt_error *err)
{
    const kt_tensor_list *l = kt_checkpoint_tensors(c);
    uint64_t total = 0, limit = add_sat_u(kt_checkpoint_file_size(c), ELEMENTS_SLACK);
    if (!p->stats && !p->values)
        return KT_OK;
    for (size_t i = 0; i < l->count; i++)
        if (listed(p, l->items[i].name))
            total = add_sat_u(total, (uint64_t)kt_tensor_numel(&l->items[i].tensor));
    if (total > limit)
        return kt_error_set(err, KT_ELIMIT, "--stats/--values would read %llu elements, more than the file's %llu "
                            "bytes + 16777216 (tensors with stride 0 repeat their values)",
                            (unsigned long long)total, (unsigned long long)kt_checkpoint_file_size(c));
    return KT_OK;
}

kt_status kt_tensor_listing_text(const kt_checkpoint *c, const kt_listing_params *p, kt_strbuf *b, kt_error *err)
{
    const kt_tensor_list *l = kt_checkpoint_tensors(c);
    char shape[160], num[32];
    int64_t total = 0, count = 0;
    uint64_t bytes = 0;
    size_t width = 4;
    kt_strbuf name = {0};
    kt_status cst = check_elements(c, p, err);
    if (cst)
        return cst;
    for (size_t i = 0; i < l->count; i++)
        if (listed(p, l->items[i].name) && strlen(l->items[i].name) > width)
            width = strlen(l->items[i].name);
    kt_strbuf_printf(b, "%-*s  %-8s  %-20s  %12s  %12s", (int)width, "name", "dtype", "shape", "numel", "bytes");
    if (p->stats)
        kt_strbuf_printf(b, "  %13s  %13s  %13s  %13s", "min", "max", "mean", "std");
    kt_strbuf_puts(b, "\n");
    for (size_t i = 0; i < l->count; i++) {
        const kt_named_tensor *nt = &l->items[i];
        if (!listed(p, nt->name))
            continue;
        shape_list(&nt->tensor, shape, sizeof shape);
        int64_t n = kt_tensor_numel(&nt->tensor);
        kt_strbuf_printf(b, "%-*s  %-8s  %-20s  %12lld  %12llu", (int)width,
                         nt->name[0] ? esc(&name, nt->name) : "(root)",
                         kt_dtype_name(nt->tensor.dtype), shape, (long long)n,
                         (unsigned long long)kt_tensor_nbytes(&nt->tensor));
        if (p->stats) {
            kt_stats s;
            kt_status st = kt_tensor_stats(&nt->tensor, 0, &s, err);
            if (st) {
                kt_strbuf_free(&name);
                return st;
            }
            kt_strbuf_printf(b, "  %13.6g  %13.6g  %13.6g  %13.6g", s.min, s.max, s.mean, s.std);
        }
        kt_strbuf_puts(b, "\n");
        total = add_sat(total, n);
        bytes = add_sat_u(bytes, kt_tensor_nbytes(&nt->tensor));
        count++;
    }
    kt_format_thousands(total, num, sizeof num);
    kt_strbuf_printf(b, "%lld tensors, %s parameters, %llu bytes (%.2f MiB), format %s\n", (long long)count, num,
                     (unsigned long long)bytes, (double)bytes / (1024.0 * 1024.0),
                     kt_format_name(kt_checkpoint_format(c)));
    kt_strbuf_free(&name);
    kt_status st = quantized_text(c, p, b, err);
    if (st)
        return st;
    return kt_strbuf_failed(b) ? kt_error_set(err, KT_ENOMEM, "out of memory") : KT_OK;
}

static void put_json_value(kt_strbuf *b, const kt_tensor *t, int64_t i)
{
    char buf[40];
    double v = kt_tensor_get_f64(t, i);
    switch (t->dtype) {
    case KT_BOOL:
        kt_strbuf_puts(b, v != 0 ? "true" : "false");
        return;
    case KT_F32: case KT_F64: case KT_F16: case KT_BF16:
        if (isnan(v) || isinf(v)) {
            kt_strbuf_printf(b, "\"%s\"", isnan(v) ? "nan" : v < 0 ? "-inf" : "inf");
            return;
        }
        kt_format_double_repr(v, buf, sizeof buf);
        kt_strbuf_puts(b, buf);
        return;
    case KT_I64: {
        /* read the exact integer: doubles lose precision above 2^53 */
        int64_t x;
        memcpy(&x, kt_tensor_element(t, i), 8);
        kt_strbuf_printf(b, "%lld", (long long)x);
        return;
    }
    default:
        kt_strbuf_printf(b, "%lld", (long long)v);
    }
}

static void put_json_stats(kt_strbuf *b, const kt_stats *s)
{
    char a[40], c[40], d[40], e[40];
    kt_format_double_repr(s->min, a, sizeof a);
    kt_format_double_repr(s->max, c, sizeof c);
    kt_format_double_repr(s->mean, d, sizeof d);
    kt_format_double_repr(s->std, e, sizeof e);
    kt_strbuf_printf(b, ", \"stats\": {\"min\": %s, \"max\": %s, \"mean\": %s, \"std\": %s, \"nonfinite\": %lld}",
                     s->count ? a : "null", s->count ? c : "null", s->count ? d : "null", s->count ? e : "null",
                     (long long)s->nonfinite);
}

kt_status kt_tensor_listing_json(const kt_checkpoint *c, const char *path, const kt_listing_params *p, kt_strbuf *b,
                                 kt_error *err)
{
    const kt_tensor_list *l = kt_checkpoint_tensors(c);
    int64_t total = 0, count = 0;
    uint64_t bytes = 0;
    size_t nmeta;
    const kt_kv *meta = kt_checkpoint_metadata_all(c, &nmeta);
    kt_status cst = check_elements(c, p, err);
    if (cst)
        return cst;
    kt_strbuf_puts(b, "{\"file\": ");
    put_utf8_escaped(b, path);
    kt_strbuf_printf(b, ", \"format\": \"%s\", \"file_bytes\": %llu, \"metadata\": {",
                     kt_format_name(kt_checkpoint_format(c)), (unsigned long long)kt_checkpoint_file_size(c));
    for (size_t i = 0; i < nmeta; i++) {
        kt_strbuf_puts(b, i ? ", " : "");
        put_utf8_escaped(b, meta[i].key);
        kt_strbuf_puts(b, ": ");
        put_utf8_escaped(b, meta[i].value);
    }
    kt_strbuf_puts(b, "}, \"tensors\": [");
    for (size_t i = 0; i < l->count; i++) {
        const kt_named_tensor *nt = &l->items[i];
        if (!listed(p, nt->name))
            continue;
        int64_t n = kt_tensor_numel(&nt->tensor);
        kt_strbuf_puts(b, count ? ",\n  {\"name\": " : "\n  {\"name\": ");
        put_utf8_escaped(b, nt->name);
        kt_strbuf_printf(b, ", \"dtype\": \"%s\", \"shape\": [", kt_dtype_name(nt->tensor.dtype));
        for (int d = 0; d < nt->tensor.ndim; d++)
            kt_strbuf_printf(b, "%s%lld", d ? ", " : "", (long long)nt->tensor.shape[d]);
        kt_strbuf_printf(b, "], \"numel\": %lld, \"bytes\": %llu", (long long)n,
                         (unsigned long long)kt_tensor_nbytes(&nt->tensor));
        if (p->stats) {
            kt_stats s;
            kt_status st = kt_tensor_stats(&nt->tensor, 0, &s, err);
            if (st)
                return st;
            put_json_stats(b, &s);
        }
        if (p->values) {
            kt_strbuf_puts(b, ", \"values\": [");
            for (int64_t k = 0; k < n; k++) {
                if (k)
                    kt_strbuf_puts(b, ", ");
                put_json_value(b, &nt->tensor, k);
            }
            kt_strbuf_puts(b, "]");
        }
        kt_strbuf_puts(b, "}");
        total = add_sat(total, n);
        bytes = add_sat_u(bytes, kt_tensor_nbytes(&nt->tensor));
        count++;
    }
    kt_strbuf_printf(b, "\n], \"count\": %lld, \"total_params\": %lld, \"total_bytes\": %llu", (long long)count,
                     (long long)total, (unsigned long long)bytes);
    quantized_json(c, p, b);
    kt_strbuf_puts(b, "}\n");
    return kt_strbuf_failed(b) ? kt_error_set(err, KT_ENOMEM, "out of memory") : KT_OK;
}
