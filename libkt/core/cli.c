/* cli.c - '-' as stdin or stdout for the tools (see kt/cli.h). */
#include "kt/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int kt_cli_is_stdio(const char *path) { return path && path[0] == '-' && path[1] == '\0'; }

static const char *temp_dir(void)
{
    const char *d = getenv("TMPDIR");
    return d && d[0] ? d : "/tmp";
}

/* Copies all of in to out; -1 on a read or write error. */
static int copy_stream(FILE *in, FILE *out)
{
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            return -1;
    return ferror(in) ? -1 : 0;
}

kt_status kt_cli_checkpoint_open(const char *path, kt_checkpoint **out, kt_error *err)
{
    if (!kt_cli_is_stdio(path))
        return kt_checkpoint_open(path, out, err);
    *out = NULL;
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s/kt-stdin-XXXXXX", temp_dir()) >= sizeof tmp)
        return kt_error_set(err, KT_EINVAL, "$TMPDIR is too long");
    int fd = mkstemp(tmp);
    if (fd < 0)
        return kt_error_set(err, KT_EIO, "cannot create a temp file for stdin in %s: %s", temp_dir(),
                            strerror(errno));
    FILE *f = fdopen(fd, "wb");
    int bad = !f || copy_stream(stdin, f) != 0;
    if (f ? fclose(f) != 0 : close(fd) != 0)
        bad = 1;
    kt_status st = bad ? kt_error_set(err, KT_EIO, "cannot copy stdin to a temp file in %s", temp_dir())
                       : kt_checkpoint_open(tmp, out, err);
    unlink(tmp); /* the mapping keeps the bytes */
    return st;
}

kt_status kt_cli_temp_output(const char *ext, char **out, kt_error *err)
{
    char dir[4096];
    *out = NULL;
    if ((size_t)snprintf(dir, sizeof dir, "%s/kt-stdout-XXXXXX", temp_dir()) >= sizeof dir)
        return kt_error_set(err, KT_EINVAL, "$TMPDIR is too long");
    if (!mkdtemp(dir))
        return kt_error_set(err, KT_EIO, "cannot create a temp folder in %s: %s", temp_dir(), strerror(errno));
    size_t n = strlen(dir) + strlen(ext) + 8;
    char *p = malloc(n);
    if (!p) {
        rmdir(dir);
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    }
    snprintf(p, n, "%s/out%s", dir, ext);
    *out = p;
    return KT_OK;
}

void kt_cli_temp_remove(const char *path)
{
    if (!path)
        return;
    unlink(path);
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path)) : NULL;
    if (dir)
        rmdir(dir);
    free(dir);
}

kt_status kt_cli_send_to_stdout(const char *path, kt_error *err)
{
    FILE *f = fopen(path, "rb");
    kt_status st = KT_OK;
    if (!f)
        st = kt_error_set(err, KT_EIO, "cannot read back the output: %s", strerror(errno));
    else if (copy_stream(f, stdout) != 0 || fflush(stdout) != 0)
        st = kt_error_set(err, KT_EIO, "cannot write to stdout");
    if (f)
        fclose(f);
    kt_cli_temp_remove(path);
    return st;
}
