/* io.c - mmap of inputs, atomic temp-file-and-rename outputs. */
#define _GNU_SOURCE
#include "kt/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

kt_status kt_file_map(const char *path, kt_mapped_file *out, kt_error *err)
{
    struct stat st;
    int fd;
    out->data = NULL;
    out->size = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kt_error_set(err, KT_EIO, "cannot open: %s", strerror(errno));
    if (fstat(fd, &st) != 0) {
        close(fd);
        return kt_error_set(err, KT_EIO, "cannot stat: %s", strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return kt_error_set(err, KT_EINVAL, "is a directory, not a file");
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return kt_error_set(err, KT_EINVAL, "not a regular file");
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return kt_error_set(err, KT_EIO, "cannot map: %s", strerror(errno));
        }
        out->data = p;
        out->size = (uint64_t)st.st_size;
    }
    close(fd);
    return KT_OK;
}

void kt_file_unmap(kt_mapped_file *f)
{
    if (f && f->data)
        munmap((void *)f->data, (size_t)f->size);
    if (f) {
        f->data = NULL;
        f->size = 0;
    }
}

static void atomic_free(kt_atomic_file *af)
{
    free(af->final_path);
    free(af->tmp_path);
    af->final_path = af->tmp_path = NULL;
    af->fp = NULL;
}

kt_status kt_atomic_open(kt_atomic_file *af, const char *final_path, kt_error *err)
{
    memset(af, 0, sizeof *af);
    size_t n = strlen(final_path);
    af->final_path = strdup(final_path);
    af->tmp_path = malloc(n + 32);
    if (!af->final_path || !af->tmp_path) {
        atomic_free(af);
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    }
    /* temp name beside the target: "<dir>/.<base>.tmpXXXXXX" */
    const char *slash = strrchr(final_path, '/');
    size_t dirlen = slash ? (size_t)(slash - final_path + 1) : 0;
    memcpy(af->tmp_path, final_path, dirlen);
    snprintf(af->tmp_path + dirlen, n + 32 - dirlen, ".%s.tmpXXXXXX", final_path + dirlen);
    int fd = mkstemp(af->tmp_path);
    if (fd < 0) {
        kt_status st = kt_error_set(err, KT_EIO, "cannot create output: %s", strerror(errno));
        atomic_free(af);
        return st;
    }
    fchmod(fd, 0644);
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        close(fd);
        unlink(af->tmp_path);
        atomic_free(af);
        return kt_error_set(err, KT_EIO, "cannot open output stream");
    }
    return KT_OK;
}

kt_status kt_atomic_write(kt_atomic_file *af, const void *buf, size_t n, kt_error *err)
{
    if (af->failed)
        return kt_error_set(err, KT_EIO, "write failed earlier");
    if (n && fwrite(buf, 1, n, af->fp) != n) {
        af->failed = 1;
        return kt_error_set(err, KT_EIO, "write failed: %s", strerror(errno));
    }
    return KT_OK;
}

kt_status kt_atomic_pad(kt_atomic_file *af, size_t n, kt_error *err)
{
    static const unsigned char zeros[256];
    while (n > 0) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        kt_status st = kt_atomic_write(af, zeros, k, err);
        if (st)
            return st;
        n -= k;
    }
    return KT_OK;
}

kt_status kt_atomic_commit(kt_atomic_file *af, kt_error *err)
{
    kt_status st = KT_OK;
    if (af->failed)
        st = kt_error_set(err, KT_EIO, "write failed: %s", strerror(errno));
    else if (fflush(af->fp) != 0 || fsync(fileno(af->fp)) != 0)
        st = kt_error_set(err, KT_EIO, "cannot flush output: %s", strerror(errno));
    if (fclose(af->fp) != 0 && !st)
        st = kt_error_set(err, KT_EIO, "cannot close output: %s", strerror(errno));
    af->fp = NULL;
    if (!st && rename(af->tmp_path, af->final_path) != 0)
        st = kt_error_set(err, KT_EIO, "cannot rename output into place: %s", strerror(errno));
    if (st)
        unlink(af->tmp_path);
    atomic_free(af);
    return st;
}

void kt_atomic_abort(kt_atomic_file *af)
{
    if (!af || !af->tmp_path)
        return;
    if (af->fp)
        fclose(af->fp);
    unlink(af->tmp_path);
    atomic_free(af);
}

int kt_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (stat(a, &sa) != 0 || stat(b, &sb) != 0)
        return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}
