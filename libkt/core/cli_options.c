/* cli_options.c - the tools' option parser and help lines, numbers, text input, one-line errors
 * (see kt/cli.h). */
#include "kt/cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int same(const char *name, const char *a) { return name && strcmp(name, a) == 0; }

/* 1 if a is "NAME=..." for opt's long name; *value then points after the '='. */
static int attached(const kt_cli_option *opt, const char *a, const char **value)
{
    size_t k = opt->name ? strlen(opt->name) : 0;
    if (opt->arg != KT_CLI_ATTACHED || k == 0 || strncmp(a, opt->name, k) != 0 || a[k] != '=')
        return 0;
    *value = a + k + 1;
    return 1;
}

int kt_cli_next(kt_cli_parser *p, const kt_cli_option *opts, size_t n, const char **value)
{
    *value = NULL;
    if (p->next >= p->argc)
        return KT_CLI_END;
    const char *a = p->argv[p->next++];
    if (!p->operands && strcmp(a, "--") == 0) {
        p->operands = 1;
        return kt_cli_next(p, opts, n, value);
    }
    if (p->operands || a[0] != '-' || a[1] == '\0')
        return *value = a, KT_CLI_OPERAND;
    for (size_t i = 0; i < n; i++) {
        if (attached(&opts[i], a, value))
            return (int)i;
        if (opts[i].arg == KT_CLI_ATTACHED || (!same(opts[i].alias, a) && !same(opts[i].name, a)))
            continue;
        if (opts[i].arg == KT_CLI_FLAG)
            return (int)i;
        if (p->next >= p->argc)
            return *value = a, KT_CLI_MISSING;
        *value = p->argv[p->next++];
        return (int)i;
    }
    *value = a;
    return KT_CLI_UNKNOWN;
}

static void print_option(FILE *f, const kt_cli_option *o, int column)
{
    const char *sep = o->arg == KT_CLI_ATTACHED ? "=" : " ";
    int w = fprintf(f, "  %s%s%s%s%s", o->alias ? o->alias : "    ", o->alias && o->name ? ", " : "",
                    o->name ? o->name : "", o->meta ? sep : "", o->meta ? o->meta : "");
    fprintf(f, "%*s", w < column ? column - w : 1, "");
    for (const char *h = o->help; *h; h++) {
        fputc(*h, f);
        if (*h == '\n')
            fprintf(f, "%*s", column, "");
    }
    fputc('\n', f);
}

void kt_cli_print_options(FILE *f, const kt_cli_option *opts, size_t n, int column)
{
    for (size_t i = 0; i < n; i++)
        print_option(f, &opts[i], column);
}

int kt_cli_number(const char *s, const kt_cli_number_rule *r, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(x) || !(x >= r->min && x <= r->max) || (r->integer && x != floor(x)))
        return -1;
    *out = x;
    return 0;
}

int kt_cli_append_word(char **text, const char *word)
{
    size_t n = *text ? strlen(*text) : 0;
    char *t = realloc(*text, n + strlen(word) + 2);
    if (!t)
        return -1;
    snprintf(t + n, strlen(word) + 2, "%s%s", n ? " " : "", word);
    *text = t;
    return 0;
}

kt_status kt_cli_read_text(const char *path, char **out, kt_error *err)
{
    size_t cap = 0;
    int in = !path || kt_cli_is_stdio(path);
    FILE *fp = in ? stdin : fopen(path, "rb");
    *out = NULL;
    if (!fp)
        return kt_error_set(err, KT_EIO, "%s: cannot open: %s", path, strerror(errno));
    int bad = getdelim(out, &cap, '\0', fp) < 0 && !feof(fp);
    if (!in)
        fclose(fp);
    if (*out && !bad)
        return KT_OK;
    kt_status st = *out ? KT_EIO : KT_ENOMEM;
    free(*out);
    *out = NULL;
    return kt_error_set(err, st, "%s: cannot read the text", path ? path : "stdin");
}

int kt_cli_fail(const char *tool, const char *message, int status)
{
    fprintf(stderr, "%s: %s\n", tool, message);
    return status;
}

int kt_cli_flush(const char *tool, FILE *f)
{
    if (fflush(f) == 0 && !ferror(f))
        return 0;
    fprintf(stderr, "%s: %s: write failed: %s\n", tool, f == stdout ? "stdout" : "stderr", strerror(errno));
    return KT_EXIT_OUTPUT;
}
