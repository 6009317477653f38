/* common.c - what every reader shares: result cleanup, metadata, format detection. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kt/formats.h"

void kt_read_result_free(kt_read_result *r)
{
    if (!r)
        return;
    kt_tensor_list_free(&r->tensors);
    for (size_t i = 0; i < r->meta_count; i++) {
        free(r->meta[i].key);
        free(r->meta[i].value);
    }
    free(r->meta);
    kt_value_free(r->tree);
    if (r->aux_free)
        r->aux_free(r->aux);
    memset(r, 0, sizeof *r);
}

kt_status kt_read_result_add_meta(kt_read_result *r, const char *key, const char *value, kt_error *err)
{
    kt_kv *p = realloc(r->meta, (r->meta_count + 1) * sizeof *p);
    if (!p)
        return kt_error_set(err, KT_ENOMEM, "out of memory for metadata");
    r->meta = p;
    p[r->meta_count].key = strdup(key);
    p[r->meta_count].value = strdup(value);
    if (!p[r->meta_count].key || !p[r->meta_count].value) {
        free(p[r->meta_count].key);
        free(p[r->meta_count].value);
        return kt_error_set(err, KT_ENOMEM, "out of memory for metadata");
    }
    r->meta_count++;
    return KT_OK;
}

#define VOICE_ROW_BYTES (510u * 256u * 4u)

/* 1 if the zip's first local entry name ends in ".npy" (npz), judged from the local header. */
static int first_entry_is_npy(const unsigned char *d, uint64_t size)
{
    if (size < 30)
        return 0;
    uint32_t n = (uint32_t)d[26] | (uint32_t)d[27] << 8;
    if (n < 4 || 30 + (uint64_t)n > size)
        return 0;
    return memcmp(d + 30 + n - 4, ".npy", 4) == 0;
}

kt_format kt_format_detect(const unsigned char *d, uint64_t size)
{
    if (size >= 4 && memcmp(d, "PK\x03\x04", 4) == 0)
        return first_entry_is_npy(d, size) ? KT_FORMAT_NPZ : KT_FORMAT_PTH;
    if (size >= 6 && memcmp(d, "\x93NUMPY", 6) == 0)
        return KT_FORMAT_NPY;
    if (size >= 4 && d[0] == 0x80 && d[1] >= 2 && d[1] <= 5 && d[2] == 0x8a && d[3] == 0x0a)
        return KT_FORMAT_PTH_LEGACY;
    if (size >= 10) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--)
            n = n << 8 | d[i];
        if (n >= 2 && n <= size - 8 && d[8] == '{')
            return KT_FORMAT_SAFETENSORS;
    }
    if (size > 0 && size % VOICE_ROW_BYTES == 0)
        return KT_FORMAT_VOICEBIN;
    return KT_FORMAT_UNKNOWN;
}

const char *kt_format_name(kt_format f)
{
    switch (f) {
    case KT_FORMAT_PTH: return "pth";
    case KT_FORMAT_PTH_LEGACY: return "pth-legacy";
    case KT_FORMAT_SAFETENSORS: return "safetensors";
    case KT_FORMAT_NPY: return "npy";
    case KT_FORMAT_NPZ: return "npz";
    case KT_FORMAT_VOICEBIN: return "voicebin";
    case KT_FORMAT_UNKNOWN: break;
    }
    return "unknown";
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

kt_format kt_format_from_extension(const char *path)
{
    if (ends_with(path, ".pt") || ends_with(path, ".pth"))
        return KT_FORMAT_PTH;
    if (ends_with(path, ".safetensors"))
        return KT_FORMAT_SAFETENSORS;
    if (ends_with(path, ".npy"))
        return KT_FORMAT_NPY;
    if (ends_with(path, ".npz"))
        return KT_FORMAT_NPZ;
    if (ends_with(path, ".bin"))
        return KT_FORMAT_VOICEBIN;
    return KT_FORMAT_UNKNOWN;
}
