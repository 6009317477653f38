/* kt/checkpoint.h - open any supported tensor file and look tensors up by name.
 *
 * kt_checkpoint_open maps the file once, detects its format from its bytes
 * (never from its name), and exposes every tensor under its flat dotted name in
 * file order. Tensors borrow from the mapping where possible and stay valid
 * until kt_checkpoint_free. */
#ifndef KT_CHECKPOINT_H
#define KT_CHECKPOINT_H

#include <stdint.h>

#include "kt/error.h"
#include "kt/formats.h"
#include "kt/tensor.h"

typedef struct kt_checkpoint kt_checkpoint;

/* Opens path (pth zip, pth legacy, safetensors, npy, npz, voicebin). On error
 * *out is NULL and err holds a one-line reason without the path. */
kt_status kt_checkpoint_open(const char *path, kt_checkpoint **out, kt_error *err);

/* Same for a file image already in memory (the bytes must outlive the handle). */
kt_status kt_checkpoint_open_memory(const void *data, uint64_t size, kt_checkpoint **out, kt_error *err);

/* Frees the handle, its tensors and the mapping. NULL is allowed. */
void kt_checkpoint_free(kt_checkpoint *c);

/* The detected format. */
kt_format kt_checkpoint_format(const kt_checkpoint *c);

/* Size of the file in bytes. */
uint64_t kt_checkpoint_file_size(const kt_checkpoint *c);

/* All tensors with their flat names, in file order. */
const kt_tensor_list *kt_checkpoint_tensors(const kt_checkpoint *c);

/* The tensor named name, or NULL. */
const kt_tensor *kt_checkpoint_find(const kt_checkpoint *c, const char *name);

/* String metadata (safetensors __metadata__), or NULL when absent. */
const char *kt_checkpoint_metadata(const kt_checkpoint *c, const char *key);

/* All metadata pairs; *count receives their number. */
const kt_kv *kt_checkpoint_metadata_all(const kt_checkpoint *c, size_t *count);

/* Says that the bytes [p, p + n) will not be read again soon: when they lie in
 * c's file mapping, the whole pages inside the range are dropped from memory
 * (madvise MADV_DONTNEED; a later read maps them in again from the file).
 * No-op for bytes outside the mapping (e.g. decompressed or in-memory data). */
void kt_checkpoint_release(const kt_checkpoint *c, const void *p, uint64_t n);

/* kt_checkpoint_release over the whole file mapping: every tensor borrowed from it stays
 * valid, its pages are mapped in again (from the page cache) when next read. */
void kt_checkpoint_release_all(const kt_checkpoint *c);

/* The unpickled value tree (pth formats), or NULL for other formats. */
const struct kt_value *kt_checkpoint_tree(const kt_checkpoint *c);

#endif
