/* kt/io.h - read-only file mapping and atomic (temp file + rename) output.
 *
 * kt_file_map maps a whole regular file read-only; the mapping stays valid
 * until kt_file_unmap, so tensors may borrow bytes from it. kt_atomic_* writes
 * a temp file in the destination's folder and renames it over the final name
 * only on commit, so no reader ever sees a half-written output. A character
 * device or FIFO (/dev/null, /dev/stdout, a named pipe) is written in place
 * instead; symbolic links, folders and other special files are refused. */
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
    char *tmp_path;  /* NULL when writing in place (character device or FIFO) */
    int failed;      /* set by kt_atomic_write on a short write */
    int direct;      /* 1: writing straight to a character device or FIFO */
} kt_atomic_file;

/* Checks that final_path can be an output, without creating anything: a regular file
 * (new or replaced), a character device or a FIFO, in a folder that exists and is
 * writable. Refused: a symbolic link (never followed, never replaced), a folder, a
 * name ending in '/', block devices and sockets. Tools check every output with this
 * before doing any work, so a bad second output leaves no first output behind. */
kt_status kt_output_check(const char *path, kt_error *err);

/* Creates a unique temp file beside final_path (same folder): mode 0644 for a new file;
 * a replaced file keeps its owner and group (when permitted) and its rwx bits (not set-id or
 * sticky bits; no group bits when the group cannot be kept). A character
 * device or FIFO is opened for writing in place (a FIFO blocks until it has a reader).
 * Errors as kt_output_check.
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

/* Removes a committed output when a later output of the same run failed; only a regular
 * file is removed (a device or FIFO written in place is left alone). */
void kt_output_remove(const char *path);

/* Flushes and closes stdout; an error if any write to it failed (e.g. /dev/full). */
kt_status kt_stdout_close(kt_error *err);

/* 1 if a and b name the same existing file (same device and inode), else 0. */
int kt_same_file(const char *a, const char *b);

#endif
