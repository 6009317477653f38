/* kt/io.h - read-only file mapping and atomic (temp file + rename) output.
 *
 * kt_file_map maps a whole regular file read-only; the mapping stays valid
 * until kt_file_unmap, so tensors may borrow bytes from it. kt_atomic_* writes
 * a temp file in the destination's folder and renames it over the final name
 * only on commit, so no reader ever sees a half-written output. */
#ifndef KT_IO_H
#define KT_IO_H

#include <stdint.h>
#include <stdio.h>

#include "kt/error.h"

typedef struct {
    const unsigned char *data; /* NULL when size == 0 */
    uint64_t size;
} kt_mapped_file;

/* Maps path read-only. Errors: not found, a directory, not a regular file, empty is allowed (size 0). */
kt_status kt_file_map(const char *path, kt_mapped_file *out, kt_error *err);

/* Unmaps; safe on a zeroed struct. */
void kt_file_unmap(kt_mapped_file *f);

typedef struct {
    FILE *fp;        /* write here (buffered) */
    char *final_path;
    char *tmp_path;
    int failed;      /* set by kt_atomic_write on a short write */
} kt_atomic_file;

/* Creates a unique temp file beside final_path (same folder), mode 0644.
 * Errors when the folder does not exist or is not writable.
 * The first call installs a handler for SIGTERM, SIGINT, SIGHUP, SIGXFSZ and SIGBUS
 * (only those still at their default action) that unlinks the temp files being written
 * and re-raises the signal; SIGKILL may leave a ".NAME.tmpXXXXXX" (see docs/security.md). */
kt_status kt_atomic_open(kt_atomic_file *af, const char *final_path, kt_error *err);

/* Writes n bytes; records a failure for kt_atomic_commit. */
kt_status kt_atomic_write(kt_atomic_file *af, const void *buf, size_t n, kt_error *err);

/* Writes n zero bytes (padding). */
kt_status kt_atomic_pad(kt_atomic_file *af, size_t n, kt_error *err);

/* Flushes, fsyncs and renames the temp file to the final name. On any error
 * the temp file is removed and the final name is untouched. Always frees af. */
kt_status kt_atomic_commit(kt_atomic_file *af, kt_error *err);

/* Removes the temp file and frees af (use on any failure path). */
void kt_atomic_abort(kt_atomic_file *af);

/* 1 if a and b name the same existing file (same device and inode), else 0. */
int kt_same_file(const char *a, const char *b);

#endif
