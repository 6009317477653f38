/* kt/formats.h - the contract every file-format reader in formats/ fulfils.
 *
 * A reader parses bytes already in memory (an mmap of the whole file) and
 * fills a kt_read_result: tensors in file order with flat dotted names
 * ("bert.module.embeddings.word_embeddings.weight"; a bare tensor at the
 * root is named ""), optional string metadata, and optionally the value tree.
 * Tensors borrow from data when they can (stored, aligned, little-endian) and
 * own a copy otherwise; data must outlive the result. Every offset and size
 * is bounds-checked against size: a reader never reads outside [data, data+size). */
#ifndef KT_FORMATS_H
#define KT_FORMATS_H

#include <stdint.h>

#include "kt/error.h"
#include "kt/tensor.h"

struct kt_value; /* the pickle value tree, see kt/pickle.h */

typedef enum {
    KT_FORMAT_UNKNOWN = 0,
    KT_FORMAT_PTH,        /* torch.save zip serialization */
    KT_FORMAT_PTH_LEGACY, /* torch.save with _use_new_zipfile_serialization=False */
    KT_FORMAT_SAFETENSORS,
    KT_FORMAT_NPY,
    KT_FORMAT_NPZ,
    KT_FORMAT_VOICEBIN    /* raw float32 n x 510 x 256 (sherpa-onnx voices.bin, kokoro.js .bin) */
} kt_format;

typedef struct {
    char *key;
    char *value;
} kt_kv;

typedef struct {
    kt_tensor_list tensors;
    kt_kv *meta;           /* owned; may be NULL */
    size_t meta_count;
    struct kt_value *tree; /* owned; pth only, else NULL */
    void *aux;             /* reader-owned extra buffers (decompressed entries), freed by kt_read_result_free */
    void (*aux_free)(void *aux);
} kt_read_result;

/* Frees a value tree (implemented by the pickle module). NULL is allowed. */
void kt_value_free(struct kt_value *v);

/* Frees everything the result owns (tensors' owned buffers, names, meta, tree, aux). */
void kt_read_result_free(kt_read_result *r);

/* Appends a copy of key/value to the result's metadata. */
kt_status kt_read_result_add_meta(kt_read_result *r, const char *key, const char *value, kt_error *err);

/* Guesses the format from the first bytes (and, for VOICEBIN, the size). */
kt_format kt_format_detect(const unsigned char *data, uint64_t size);

/* Name of a format: "pth", "pth-legacy", "safetensors", "npy", "npz", "voicebin". */
const char *kt_format_name(kt_format f);

/* Format implied by a path's extension (.pt .pth .safetensors .npy .npz .bin), or UNKNOWN. */
kt_format kt_format_from_extension(const char *path);

/* Readers: each parses the whole file image [data, data+size) into out (zeroed by the caller). */
kt_status kt_pth_read(const unsigned char *data, uint64_t size, kt_read_result *out, kt_error *err);
kt_status kt_pth_legacy_read(const unsigned char *data, uint64_t size, kt_read_result *out, kt_error *err);
kt_status kt_safetensors_read(const unsigned char *data, uint64_t size, kt_read_result *out, kt_error *err);
kt_status kt_npy_read(const unsigned char *data, uint64_t size, kt_read_result *out, kt_error *err);
kt_status kt_npz_read(const unsigned char *data, uint64_t size, kt_read_result *out, kt_error *err);
kt_status kt_voicebin_read(const unsigned char *data, uint64_t size, kt_read_result *out, kt_error *err);

/* Writers: each writes atomically (temp file beside path, then rename); on error
 * nothing appears at path. Tensors may be strided and of any dtype the format holds;
 * bytes are deterministic for the same input. */

/* torch.save zip layout that torch.load(weights_only=True) accepts.
 * nest 0: the single tensor of l is the root (a voice pack); nest 1: one dict
 * name -> tensor; nest 2: a dict of dicts split at the first '.' of each name
 * (Kokoro's layout: "bert" -> {"module.embeddings...": tensor}). folder is the
 * archive's top folder name (e.g. the file's stem; "archive" when NULL). */
kt_status kt_pth_write(const char *path, const kt_tensor_list *l, int nest, const char *folder, kt_error *err);

/* safetensors with optional __metadata__ string pairs (sorted by name as the format requires). */
kt_status kt_safetensors_write(const char *path, const kt_tensor_list *l, const kt_kv *meta, size_t nmeta,
                               kt_error *err);

/* One array as .npy (format 1.0, little-endian, C order). */
kt_status kt_npy_write(const char *path, const kt_tensor *t, kt_error *err);

/* Several arrays as .npz (stored zip of NAME.npy entries, as numpy.savez). */
kt_status kt_npz_write(const char *path, const kt_tensor_list *l, kt_error *err);

/* Raw float32 concatenation of every tensor (sherpa-onnx voices.bin, kokoro.js .bin). */
kt_status kt_voicebin_write(const char *path, const kt_tensor_list *l, kt_error *err);

#endif
