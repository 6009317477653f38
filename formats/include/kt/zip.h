/* kt/zip.h - zip archives over memory: a bounds-checked reader and a stored-only writer.
 *
 * Reader: parses the central directory (ZIP64 included) of an image already in
 * memory; entries may be stored (used in place, no copy) or deflated (inflated
 * with zlib into an owned buffer, never beyond the declared size or a cap).
 * Writer: stored entries only, each entry's data aligned to a chosen boundary
 * with an extra field (as torch.save does), CRC-32s computed, ZIP64 records
 * when needed, deterministic bytes (fixed timestamps). */
#ifndef KT_ZIP_H
#define KT_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "kt/error.h"
#include "kt/io.h"

typedef struct {
    char *name;            /* entry name, NUL-terminated copy */
    uint64_t local_offset; /* offset of the local header */
    uint64_t data_offset;  /* offset of the (possibly compressed) data */
    uint64_t comp_size;
    uint64_t size;         /* uncompressed size */
    uint32_t crc32;
    uint16_t method;       /* 0 stored, 8 deflate */
    uint16_t flags;
} kt_zip_entry;

typedef struct kt_zip kt_zip; /* opaque reader */

/* Parses the archive in [data, data+size). The bytes must outlive the reader. */
kt_status kt_zip_open(const unsigned char *data, uint64_t size, kt_zip **out, kt_error *err);

/* Frees the reader and every buffer it inflated. NULL is allowed. */
void kt_zip_free(kt_zip *z);

/* Number of entries and the i-th entry, in central-directory order. */
size_t kt_zip_count(const kt_zip *z);
const kt_zip_entry *kt_zip_entry_at(const kt_zip *z, size_t i);

/* The entry named name, or NULL. */
const kt_zip_entry *kt_zip_find(const kt_zip *z, const char *name);

/* Pointer to the entry's uncompressed bytes and their length: in place for a
 * stored entry, inflated into a buffer the reader owns for a deflated one
 * (verified against the declared size and CRC; capped at max_size bytes). */
kt_status kt_zip_read(kt_zip *z, const kt_zip_entry *e, uint64_t max_size,
                      const unsigned char **data, uint64_t *len, kt_error *err);

typedef struct kt_zip_writer kt_zip_writer; /* opaque writer */

/* Starts an archive written through af (already opened); entry data aligned to align bytes (e.g. 64). */
kt_status kt_zip_writer_create(kt_atomic_file *af, unsigned align, kt_zip_writer **out, kt_error *err);

/* Appends one stored entry with the given bytes. */
kt_status kt_zip_writer_add(kt_zip_writer *w, const char *name, const void *data, uint64_t len, kt_error *err);

/* Begins a stored entry whose bytes come in pieces (kt_zip_writer_append), for large tensors. */
kt_status kt_zip_writer_begin(kt_zip_writer *w, const char *name, uint64_t len, kt_error *err);
kt_status kt_zip_writer_append(kt_zip_writer *w, const void *data, uint64_t len, kt_error *err);
kt_status kt_zip_writer_end(kt_zip_writer *w, kt_error *err);

/* Writes the central directory and end records and frees the writer (the caller commits af). */
kt_status kt_zip_writer_finish(kt_zip_writer *w, kt_error *err);

/* Frees the writer without finishing (on failure). NULL is allowed. */
void kt_zip_writer_free(kt_zip_writer *w);

/* Makes every later entry and the end records use ZIP64 fields even when small
 * (as recent torch.save does for the end records); for tests and compatibility. */
void kt_zip_writer_force_zip64(kt_zip_writer *w);

/* CRC-32 (zlib's) continuing from crc. */
uint32_t kt_crc32(uint32_t crc, const void *data, size_t len);

#endif
