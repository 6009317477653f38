/* checkpoint.c - format detection and dispatch; one handle per opened file. */
#include "kt/checkpoint.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kt/io.h"

struct kt_checkpoint {
    kt_mapped_file map; /* zeroed when opened from memory */
    uint64_t size;
    kt_format format;
    kt_read_result r;
};

static kt_status parse_image(kt_checkpoint *c, const unsigned char *data, uint64_t size, kt_error *err)
{
    c->size = size;
    if (size == 0)
        return kt_error_set(err, KT_EFORMAT, "empty file");
    c->format = kt_format_detect(data, size);
    switch (c->format) {
    case KT_FORMAT_PTH: return kt_pth_read(data, size, &c->r, err);
    case KT_FORMAT_PTH_LEGACY: return kt_pth_legacy_read(data, size, &c->r, err);
    case KT_FORMAT_SAFETENSORS: return kt_safetensors_read(data, size, &c->r, err);
    case KT_FORMAT_NPY: return kt_npy_read(data, size, &c->r, err);
    case KT_FORMAT_NPZ: return kt_npz_read(data, size, &c->r, err);
    case KT_FORMAT_VOICEBIN: return kt_voicebin_read(data, size, &c->r, err);
    case KT_FORMAT_UNKNOWN: break;
    }
    return kt_error_set(err, KT_EFORMAT, "not a tensor file kt knows (PyTorch .pth/.pt, safetensors, npy, npz)");
}

kt_status kt_checkpoint_open_memory(const void *data, uint64_t size, kt_checkpoint **out, kt_error *err)
{
    kt_checkpoint *c = calloc(1, sizeof *c);
    *out = NULL;
    if (!c)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    kt_status st = parse_image(c, data, size, err);
    if (st) {
        kt_checkpoint_free(c);
        return st;
    }
    *out = c;
    return KT_OK;
}

kt_status kt_checkpoint_open(const char *path, kt_checkpoint **out, kt_error *err)
{
    kt_checkpoint *c = calloc(1, sizeof *c);
    kt_status st;
    *out = NULL;
    if (!c)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    st = kt_file_map(path, &c->map, err);
    if (!st)
        st = parse_image(c, c->map.data, c->map.size, err);
    if (st) {
        kt_checkpoint_free(c);
        return st;
    }
    *out = c;
    return KT_OK;
}

void kt_checkpoint_free(kt_checkpoint *c)
{
    if (!c)
        return;
    kt_read_result_free(&c->r);
    kt_file_unmap(&c->map);
    free(c);
}

kt_format kt_checkpoint_format(const kt_checkpoint *c) { return c->format; }

uint64_t kt_checkpoint_file_size(const kt_checkpoint *c) { return c->size; }

const kt_tensor_list *kt_checkpoint_tensors(const kt_checkpoint *c) { return &c->r.tensors; }

const kt_tensor *kt_checkpoint_find(const kt_checkpoint *c, const char *name)
{
    long i = kt_tensor_list_find(&c->r.tensors, name);
    return i < 0 ? NULL : &c->r.tensors.items[i].tensor;
}

const char *kt_checkpoint_metadata(const kt_checkpoint *c, const char *key)
{
    for (size_t i = 0; i < c->r.meta_count; i++)
        if (strcmp(c->r.meta[i].key, key) == 0)
            return c->r.meta[i].value;
    return NULL;
}

const kt_kv *kt_checkpoint_metadata_all(const kt_checkpoint *c, size_t *count)
{
    *count = c->r.meta_count;
    return c->r.meta;
}

const struct kt_value *kt_checkpoint_tree(const kt_checkpoint *c) { return c->r.tree; }

void kt_checkpoint_release(const kt_checkpoint *c, const void *p, uint64_t n)
{
    const unsigned char *base = c->map.data, *q = p;
    long pg = sysconf(_SC_PAGESIZE);
    if (!base || !q || pg <= 0 || q < base || n > c->map.size || (uint64_t)(q - base) > c->map.size - n)
        return;
    uintptr_t lo = ((uintptr_t)q + (uintptr_t)pg - 1) / (uintptr_t)pg * (uintptr_t)pg;
    uintptr_t hi = ((uintptr_t)q + n) / (uintptr_t)pg * (uintptr_t)pg;
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

void kt_checkpoint_release_all(const kt_checkpoint *c)
{
    if (c && c->map.data && c->map.size)
        kt_checkpoint_release(c, c->map.data, c->map.size);
}
