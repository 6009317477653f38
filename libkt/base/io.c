/* io.c - mmap of inputs, atomic temp-file-and-rename outputs. */
#define _GNU_SOURCE
#include "kt/io.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
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

/* ---- temp-file cleanup on a fatal signal ----
 * The only mutable static state of io.c, and only what a signal handler needs: the
 * paths of the temp files being written (so a SIGTERM, SIGINT, SIGHUP, SIGXFSZ or
 * SIGBUS can unlink them before the process dies) and a once-flag for installing
 * the handler. A slot holds a pointer owned by a kt_atomic_file; it is cleared
 * before that string is freed. SIGKILL cannot be caught: it may leave a temp file
 * (".NAME.tmpXXXXXX"), never a partial file under the final name. */
#define TMP_SLOTS 64
static _Atomic(char *) tmp_slots[TMP_SLOTS];
static atomic_int handlers_installed;
static const int cleanup_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGXFSZ, SIGBUS};

/* Async-signal-safe: unlink the registered temps, then let the signal do what it would have done.
 * SA_RESETHAND already restored the default action; the raise is delivered when we return
 * (a synchronous SIGBUS simply faults again). */
static void on_fatal_signal(int sig)
{
    int saved = errno;
    for (size_t i = 0; i < TMP_SLOTS; i++) {
        char *p = atomic_load(&tmp_slots[i]);
        if (p)
            unlink(p);
    }
    raise(sig);
    errno = saved;
}

/* Installs on_fatal_signal for each cleanup signal still at its default action (a
 * program's own handler, or an ignored signal, is left alone). Once per process. */
static void install_handlers(void)
{
    if (atomic_exchange(&handlers_installed, 1))
        return;
    for (size_t i = 0; i < sizeof cleanup_signals / sizeof cleanup_signals[0]; i++) {
        struct sigaction old, sa;
        if (sigaction(cleanup_signals[i], NULL, &old) != 0 || (old.sa_flags & SA_SIGINFO) ||
            old.sa_handler != SIG_DFL)
            continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal_signal;
        sa.sa_flags = SA_RESETHAND;
        sigemptyset(&sa.sa_mask);
        sigaction(cleanup_signals[i], &sa, NULL);
    }
}

/* Puts p in a free slot (when all are taken the file just is not cleaned up on a signal). */
static void track_tmp(char *p)
{
    install_handlers();
    for (size_t i = 0; i < TMP_SLOTS; i++) {
        char *expect = NULL;
        if (atomic_compare_exchange_strong(&tmp_slots[i], &expect, p))
            return;
    }
}

static void untrack_tmp(const char *p)
{
    for (size_t i = 0; p && i < TMP_SLOTS; i++) {
        char *expect = (char *)p;
        if (atomic_compare_exchange_strong(&tmp_slots[i], &expect, NULL))
            return;
    }
}

static void atomic_free(kt_atomic_file *af)
{
    untrack_tmp(af->tmp_path);
    free(af->final_path);
    free(af->tmp_path);
    af->final_path = af->tmp_path = NULL;
    af->fp = NULL;
    af->direct = 0;
}

/* The folder part of path ("." when there is none), malloc'd; NULL when out of memory. */
static char *folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* What kt_atomic_open would do with path: 0 a new or replaced regular file (*st_out holds the
 * existing file's stat, st_mode 0 when there is none), 1 a character device or FIFO written in
 * place, or an error. Symbolic links are refused, never followed or replaced. */
static kt_status classify_target(const char *path, struct stat *st_out, int *direct, kt_error *err)
{
    struct stat st;
    size_t n = strlen(path);
    memset(st_out, 0, sizeof *st_out);
    *direct = 0;
    if (n == 0)
        return kt_error_set(err, KT_EINVAL, "empty output name");
    if (path[n - 1] == '/')
        return kt_error_set(err, KT_EINVAL, "names a folder, not a file");
    if (lstat(path, &st) == 0) {
        if (S_ISLNK(st.st_mode))
            return kt_error_set(err, KT_EINVAL, "is a symbolic link; kt does not write through links "
                                                "(name the file it points to)");
        if (S_ISDIR(st.st_mode))
            return kt_error_set(err, KT_EINVAL, "is a directory, not a file");
        if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) {
            *direct = 1;
            return KT_OK;
        }
        if (!S_ISREG(st.st_mode))
            return kt_error_set(err, KT_EINVAL, "is not a regular file, character device or FIFO");
        *st_out = st;
    } else if (errno != ENOENT) {
        return kt_error_set(err, KT_EIO, "cannot stat: %s", strerror(errno));
    }
    char *dir = folder_of(path);
    if (!dir)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    struct stat ds;
    kt_status rc = KT_OK;
    if (stat(dir, &ds) != 0 || !S_ISDIR(ds.st_mode))
        rc = kt_error_set(err, KT_EIO, "the folder does not exist");
    else if (access(dir, W_OK) != 0)
        rc = kt_error_set(err, KT_EIO, "cannot create output: %s", strerror(errno));
    free(dir);
    return rc;
}

kt_status kt_output_check(const char *path, kt_error *err)
{
    struct stat st;
    int direct;
    return classify_target(path, &st, &direct, err);
}

/* Opens a character device or FIFO for writing in place (no temp file, no rename). */
static kt_status open_direct(kt_atomic_file *af, const char *path, kt_error *err)
{
    struct stat st;
    int fd = open(path, O_WRONLY | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return kt_error_set(err, KT_EIO, "cannot open output: %s", strerror(errno));
    if (fstat(fd, &st) != 0 || !(S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
        close(fd);
        return kt_error_set(err, KT_EIO, "the output changed while it was opened");
    }
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        close(fd);
        return kt_error_set(err, KT_EIO, "cannot open output stream");
    }
    af->direct = 1;
    return KT_OK;
}

kt_status kt_atomic_open(kt_atomic_file *af, const char *final_path, kt_error *err)
{
    struct stat old;
    int direct;
    memset(af, 0, sizeof *af);
    kt_status cst = classify_target(final_path, &old, &direct, err);
    if (cst)
        return cst;
    size_t n = strlen(final_path);
    af->final_path = strdup(final_path);
    if (af->final_path && direct) {
        cst = open_direct(af, final_path, err);
        if (cst)
            atomic_free(af);
        return cst;
    }
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
    int fd;
    {
        /* block the cleanup signals until the new temp is registered, so none slips between */
        sigset_t block, old_mask;
        sigemptyset(&block);
        for (size_t i = 0; i < sizeof cleanup_signals / sizeof cleanup_signals[0]; i++)
            sigaddset(&block, cleanup_signals[i]);
        pthread_sigmask(SIG_BLOCK, &block, &old_mask);
        fd = mkstemp(af->tmp_path);
        if (fd >= 0)
            track_tmp(af->tmp_path);
        pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    }
    if (fd < 0) {
        kt_status st = kt_error_set(err, KT_EIO, "cannot create output: %s", strerror(errno));
        atomic_free(af);
        return st;
    }
    if (old.st_mode) {
        /* a replaced file keeps its owner and group (when permitted) and its rwx bits; set-id and
         * sticky bits are not carried over to new contents */
        if (fchown(fd, old.st_uid, old.st_gid) != 0 && fchown(fd, (uid_t)-1, old.st_gid) != 0)
            old.st_mode &= ~(mode_t)S_IRWXG; /* the new file is not in the old group: no group rights */
        fchmod(fd, old.st_mode & 0777);
    } else {
        fchmod(fd, 0644);
    }
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
    else if (fflush(af->fp) != 0 || (!af->direct && fsync(fileno(af->fp)) != 0))
        st = kt_error_set(err, KT_EIO, "cannot flush output: %s", strerror(errno));
    if (fclose(af->fp) != 0 && !st)
        st = kt_error_set(err, KT_EIO, "cannot close output: %s", strerror(errno));
    af->fp = NULL;
    if (!st && !af->direct && rename(af->tmp_path, af->final_path) != 0)
        st = kt_error_set(err, KT_EIO, "cannot rename output into place: %s", strerror(errno));
    if (st && !af->direct)
        unlink(af->tmp_path);
    atomic_free(af);
    return st;
}

void kt_atomic_abort(kt_atomic_file *af)
{
    if (!af || !af->final_path)
        return;
    if (af->fp)
        fclose(af->fp);
    if (af->tmp_path)
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

kt_status kt_stdout_close(kt_error *err)
{
    int bad = ferror(stdout);
    if (fflush(stdout) != 0)
        bad = 1;
    if (fclose(stdout) != 0)
        bad = 1;
    if (bad)
        return kt_error_set(err, KT_EIO, "write failed: %s", errno ? strerror(errno) : "error on the stream");
    return KT_OK;
}

void kt_output_remove(const char *path)
{
    struct stat st;
    if (path && lstat(path, &st) == 0 && S_ISREG(st.st_mode))
        unlink(path);
}
