/* config.c - parse Kokoro's config.json (cJSON) into kt_config. */
#include "kt/config.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kt/io.h"

#include "config_default.inc"

#define CONFIG_MAX_BYTES (16u << 20)

/* Decodes one UTF-8 code point from s (NUL-terminated); returns its byte length, or 0 when invalid. */
static int utf8_decode(const unsigned char *s, uint32_t *cp)
{
    int n;
    uint32_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return c ? 1 : 0;
    }
    if ((c & 0xE0) == 0xC0) { n = 2; c &= 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 3; c &= 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 4; c &= 0x07; }
    else return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min_for_len[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return n;
}

/* Looks up a dotted key path ("plbert.hidden_size") for error messages. */
static const cJSON *get_item(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* Every integer of the config is range-checked against these bounds (generous multiples of
 * Kokoro's own values), so sizes derived from them cannot overflow or ask for absurd memory. */
#define CFG_DIM_MAX 16384    /* channels, hidden sizes, n_mels, vocabulary size */
#define CFG_LAYERS_MAX 64    /* layer counts */
#define CFG_KERNEL_MAX 1024  /* kernel sizes, dilations, upsample rates, n_fft */
#define CFG_POSITIONS_MAX 65536
#define CFG_DUR_MAX 1000     /* max_dur: duration classes per token */
#define CFG_UPSAMPLE_MAX 65536 /* hop size x the product of the upsample rates: samples per frame */

static kt_status get_int(const cJSON *obj, const char *prefix, const char *key, int required, int dflt,
                         int lo, int hi, int *out, kt_error *err)
{
    const cJSON *it = get_item(obj, key);
    if (!it) {
        if (required)
            return kt_error_set(err, KT_EFORMAT, "config: missing key \"%s%s\"", prefix, key);
        *out = dflt;
        return KT_OK;
    }
    double v = it->valuedouble;
    if (!cJSON_IsNumber(it) || v != floor(v) || v < lo || v > hi)
        return kt_error_set(err, KT_EFORMAT, "config: key \"%s%s\" must be an integer in %d..%d", prefix, key, lo,
                            hi);
    *out = (int)v;
    return KT_OK;
}

static kt_status get_double(const cJSON *obj, const char *prefix, const char *key, double *out, kt_error *err)
{
    const cJSON *it = get_item(obj, key);
    if (!it)
        return kt_error_set(err, KT_EFORMAT, "config: missing key \"%s%s\"", prefix, key);
    if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0.0 && it->valuedouble <= 1.0))
        return kt_error_set(err, KT_EFORMAT, "config: key \"%s%s\" must be a number in 0..1", prefix, key);
    *out = it->valuedouble;
    return KT_OK;
}

/* Reads an integer array of 1..KT_CONFIG_MAX_LIST entries. */
static kt_status int_list(const cJSON *arr, const char *name, int *out, int *n, kt_error *err)
{
    if (!cJSON_IsArray(arr))
        return kt_error_set(err, KT_EFORMAT, "config: key \"%s\" is not a list", name);
    int count = cJSON_GetArraySize(arr);
    if (count < 1 || count > KT_CONFIG_MAX_LIST)
        return kt_error_set(err, KT_EFORMAT, "config: key \"%s\" must have 1 to %d entries", name,
                            KT_CONFIG_MAX_LIST);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        double v = e->valuedouble;
        if (!cJSON_IsNumber(e) || v != floor(v) || v < 1 || v > CFG_KERNEL_MAX)
            return kt_error_set(err, KT_EFORMAT, "config: key \"%s\" must hold integers in 1..%d", name,
                                CFG_KERNEL_MAX);
        out[i++] = (int)v;
    }
    *n = count;
    return KT_OK;
}

static kt_status get_list(const cJSON *obj, const char *key, int *out, int *n, kt_error *err)
{
    char name[96];
    snprintf(name, sizeof name, "istftnet.%s", key);
    const cJSON *it = get_item(obj, key);
    if (!it)
        return kt_error_set(err, KT_EFORMAT, "config: missing key \"%s\"", name);
    return int_list(it, name, out, n, err);
}

static kt_status parse_istftnet(const cJSON *root, kt_istftnet_config *c, kt_error *err)
{
    const cJSON *o = get_item(root, "istftnet");
    const char *p = "istftnet.";
    int n2 = 0;
    kt_status st;
    if (!o)
        return kt_error_set(err, KT_EFORMAT, "config: missing key \"istftnet\"");
    if (!cJSON_IsObject(o))
        return kt_error_set(err, KT_EFORMAT, "config: key \"istftnet\" is not an object");
    if ((st = get_list(o, "upsample_rates", c->upsample_rates, &c->n_upsamples, err)) ||
        (st = get_list(o, "upsample_kernel_sizes", c->upsample_kernel_sizes, &n2, err)))
        return st;
    if (n2 != c->n_upsamples)
        return kt_error_set(err, KT_EFORMAT, "config: istftnet.upsample_kernel_sizes and upsample_rates differ in length");
    if ((st = get_list(o, "resblock_kernel_sizes", c->resblock_kernel_sizes, &c->n_resblock_kernels, err)))
        return st;
    const cJSON *dil = get_item(o, "resblock_dilation_sizes");
    if (!dil)
        return kt_error_set(err, KT_EFORMAT, "config: missing key \"istftnet.resblock_dilation_sizes\"");
    if (!cJSON_IsArray(dil) || cJSON_GetArraySize(dil) != c->n_resblock_kernels)
        return kt_error_set(err, KT_EFORMAT,
                            "config: istftnet.resblock_dilation_sizes must be a list with one list per kernel size");
    for (int i = 0; i < c->n_resblock_kernels; i++)
        if ((st = int_list(cJSON_GetArrayItem(dil, i), "istftnet.resblock_dilation_sizes",
                           c->resblock_dilation_sizes[i], &c->n_dilations[i], err)))
            return st;
    if ((st = get_int(o, p, "upsample_initial_channel", 1, 0, 1, CFG_DIM_MAX, &c->upsample_initial_channel, err)) ||
        (st = get_int(o, p, "gen_istft_n_fft", 1, 0, 2, CFG_KERNEL_MAX, &c->gen_istft_n_fft, err)) ||
        (st = get_int(o, p, "gen_istft_hop_size", 1, 0, 1, c->gen_istft_n_fft, &c->gen_istft_hop_size, err)))
        return st;
    int64_t up = c->gen_istft_hop_size;
    for (int i = 0; i < c->n_upsamples && up <= CFG_UPSAMPLE_MAX; i++)
        up *= c->upsample_rates[i];
    if (up > CFG_UPSAMPLE_MAX)
        return kt_error_set(err, KT_EFORMAT, "config: istftnet.gen_istft_hop_size times the upsample_rates must be "
                                             "at most %d samples per frame", CFG_UPSAMPLE_MAX);
    return KT_OK;
}

static kt_status parse_plbert(const cJSON *root, kt_plbert_config *c, kt_error *err)
{
    const cJSON *o = get_item(root, "plbert");
    const char *p = "plbert.";
    kt_status st;
    if (!o)
        return kt_error_set(err, KT_EFORMAT, "config: missing key \"plbert\"");
    if (!cJSON_IsObject(o))
        return kt_error_set(err, KT_EFORMAT, "config: key \"plbert\" is not an object");
    if ((st = get_int(o, p, "hidden_size", 1, 0, 1, CFG_DIM_MAX, &c->hidden_size, err)) ||
        (st = get_int(o, p, "num_attention_heads", 1, 0, 1, CFG_DIM_MAX, &c->num_attention_heads, err)) ||
        (st = get_int(o, p, "intermediate_size", 1, 0, 1, CFG_DIM_MAX, &c->intermediate_size, err)) ||
        (st = get_int(o, p, "max_position_embeddings", 1, 0, 1, CFG_POSITIONS_MAX, &c->max_position_embeddings,
                      err)) ||
        (st = get_int(o, p, "num_hidden_layers", 1, 0, 1, CFG_LAYERS_MAX, &c->num_hidden_layers, err)) ||
        (st = get_double(o, p, "dropout", &c->dropout, err)) ||
        (st = get_int(o, p, "embedding_size", 0, 128, 1, CFG_DIM_MAX, &c->embedding_size, err)))
        return st;
    if (c->num_attention_heads == 0 || c->hidden_size % c->num_attention_heads != 0)
        return kt_error_set(err, KT_EFORMAT, "config: plbert.hidden_size is not a multiple of num_attention_heads");
    return KT_OK;
}

static int vocab_cmp(const void *a, const void *b)
{
    uint32_t x = ((const kt_vocab_entry *)a)->codepoint, y = ((const kt_vocab_entry *)b)->codepoint;
    return x < y ? -1 : x > y;
}

static kt_status parse_vocab(const cJSON *root, kt_config *c, kt_error *err)
{
    const cJSON *o = get_item(root, "vocab"), *e;
    if (!o)
        return kt_error_set(err, KT_EFORMAT, "config: missing key \"vocab\"");
    if (!cJSON_IsObject(o))
        return kt_error_set(err, KT_EFORMAT, "config: key \"vocab\" is not an object");
    size_t n = (size_t)cJSON_GetArraySize(o), i = 0;
    c->vocab = calloc(n ? n : 1, sizeof *c->vocab);
    if (!c->vocab)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    cJSON_ArrayForEach(e, o) {
        const unsigned char *k = (const unsigned char *)e->string;
        uint32_t cp = 0;
        int len = utf8_decode(k, &cp);
        if (len == 0 || k[len] != '\0')
            return kt_error_set(err, KT_EFORMAT, "config: vocab key \"%s\" is not exactly one code point",
                                e->string);
        double v = e->valuedouble;
        if (!cJSON_IsNumber(e) || v != floor(v) || v < 1 || v >= c->n_token)
            return kt_error_set(err, KT_EFORMAT, "config: vocab id of \"%s\" is not an integer in 1..n_token-1",
                                e->string);
        c->vocab[i].codepoint = cp;
        c->vocab[i].id = (int)v;
        i++;
    }
    c->vocab_count = i;
    qsort(c->vocab, i, sizeof *c->vocab, vocab_cmp);
    for (size_t j = 1; j < i; j++)
        if (c->vocab[j].codepoint == c->vocab[j - 1].codepoint)
            return kt_error_set(err, KT_EFORMAT, "config: vocab has a duplicate key U+%04X", c->vocab[j].codepoint);
    return KT_OK;
}

static kt_status parse_top(const cJSON *r, kt_config *c, kt_error *err)
{
    const char *p = "";
    kt_status st;
    const cJSON *ms = get_item(r, "multispeaker");
    if ((st = get_int(r, p, "n_token", 1, 0, 2, CFG_DIM_MAX, &c->n_token, err)) ||
        (st = get_int(r, p, "hidden_dim", 1, 0, 1, CFG_DIM_MAX, &c->hidden_dim, err)) ||
        (st = get_int(r, p, "style_dim", 1, 0, 1, CFG_DIM_MAX, &c->style_dim, err)) ||
        (st = get_int(r, p, "n_layer", 1, 0, 1, CFG_LAYERS_MAX, &c->n_layer, err)) ||
        (st = get_int(r, p, "max_dur", 1, 0, 1, CFG_DUR_MAX, &c->max_dur, err)) ||
        (st = get_int(r, p, "dim_in", 1, 0, 1, CFG_DIM_MAX, &c->dim_in, err)) ||
        (st = get_int(r, p, "max_conv_dim", 1, 0, 1, CFG_DIM_MAX, &c->max_conv_dim, err)) ||
        (st = get_int(r, p, "n_mels", 1, 0, 1, CFG_DIM_MAX, &c->n_mels, err)) ||
        (st = get_int(r, p, "text_encoder_kernel_size", 1, 0, 1, CFG_KERNEL_MAX, &c->text_encoder_kernel_size,
                      err)) ||
        (st = get_double(r, p, "dropout", &c->dropout, err)) ||
        (st = get_int(r, p, "decoder_dim", 0, 1024, 1, CFG_DIM_MAX, &c->decoder_dim, err)) ||
        (st = get_int(r, p, "decoder_asr_res_dim", 0, 64, 1, CFG_DIM_MAX, &c->decoder_asr_res_dim, err)))
        return st;
    if (!ms)
        return kt_error_set(err, KT_EFORMAT, "config: missing key \"multispeaker\"");
    if (!cJSON_IsBool(ms))
        return kt_error_set(err, KT_EFORMAT, "config: key \"multispeaker\" is not true or false");
    c->multispeaker = cJSON_IsTrue(ms);
    if (c->n_token < 2)
        return kt_error_set(err, KT_EFORMAT, "config: n_token must be at least 2");
    return KT_OK;
}

kt_status kt_config_parse(const char *json, size_t len, kt_config *out, kt_error *err)
{
    kt_status st;
    memset(out, 0, sizeof *out);
    const char *end = NULL;
    if (memchr(json, '\0', len))
        return kt_error_set(err, KT_EFORMAT, "config: holds a NUL byte");
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root)
        return kt_error_set(err, KT_EFORMAT, "config: not valid JSON");
    while (end && end < json + len && strchr(" \t\r\n", *end))
        end++;
    if (end != json + len) {
        st = kt_error_set(err, KT_EFORMAT, "config: text after the JSON object");
        goto fail;
    }
    if (!cJSON_IsObject(root)) {
        st = kt_error_set(err, KT_EFORMAT, "config: the top level is not a JSON object");
        goto fail;
    }
    if ((st = parse_top(root, out, err)) || (st = parse_plbert(root, &out->plbert, err)) ||
        (st = parse_istftnet(root, &out->istftnet, err)) || (st = parse_vocab(root, out, err)))
        goto fail;
    cJSON_Delete(root);
    return KT_OK;
fail:
    cJSON_Delete(root);
    kt_config_free(out);
    return st;
}

kt_status kt_config_load(const char *path, kt_config *out, kt_error *err)
{
    kt_mapped_file f;
    memset(out, 0, sizeof *out);
    kt_status st = kt_file_map(path, &f, err);
    if (st)
        return st;
    if (f.size > CONFIG_MAX_BYTES)
        st = kt_error_set(err, KT_ELIMIT, "config: larger than %u bytes", CONFIG_MAX_BYTES);
    else if (f.size == 0)
        st = kt_error_set(err, KT_EFORMAT, "config: empty file");
    else
        st = kt_config_parse((const char *)f.data, (size_t)f.size, out, err);
    kt_file_unmap(&f);
    return st;
}

kt_status kt_config_default(kt_config *out, kt_error *err)
{
    return kt_config_parse(kt_config_default_json, sizeof kt_config_default_json - 1, out, err);
}

void kt_config_free(kt_config *c)
{
    if (!c)
        return;
    free(c->vocab);
    c->vocab = NULL;
    c->vocab_count = 0;
}

int kt_config_vocab_id(const kt_config *c, uint32_t codepoint)
{
    size_t lo = 0, hi = c->vocab_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t m = c->vocab[mid].codepoint;
        if (m == codepoint)
            return c->vocab[mid].id;
        if (m < codepoint)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}
