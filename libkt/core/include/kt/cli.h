/* kt/cli.h - conventions the kt tools share: exit statuses, '-' for stdin or stdout, and a
 * table-driven option parser with the help it prints.
 *
 * A path "-" names stdin where a tool reads a file and stdout where it writes one. Tensor
 * files are read by mapping, so stdin is first copied into a temp file (removed at once,
 * the mapping keeps its bytes); an output "-" is written to a temp file that is then copied
 * to stdout and removed, so nothing half-written reaches stdout on an error. Temp files go
 * to $TMPDIR, else /tmp. Only kt_cli_print_options, kt_cli_fail and kt_cli_flush print. */
#ifndef KT_CLI_H
#define KT_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "kt/checkpoint.h"
#include "kt/error.h"

/* Exit statuses, the same for every tool. */
enum {
    KT_EXIT_OK = 0,     /* success */
    KT_EXIT_INPUT = 1,  /* an input is missing, unreadable or invalid */
    KT_EXIT_USAGE = 2,  /* bad command line */
    KT_EXIT_OUTPUT = 3, /* an output could not be written, or out of memory */
    KT_EXIT_MODEL = 4   /* kt-synth: the weights or config are not Kokoro or do not match */
};

/* 1 if path is "-". */
int kt_cli_is_stdio(const char *path);

/* kt_checkpoint_open, where "-" reads all of stdin. */
kt_status kt_cli_checkpoint_open(const char *path, kt_checkpoint **out, kt_error *err);

/* A fresh path ending in ext (e.g. ".safetensors") inside a new private temp folder, for an
 * output "-": write it, then kt_cli_send_to_stdout. *out is malloc'd. */
kt_status kt_cli_temp_output(const char *ext, char **out, kt_error *err);

/* Copies the file at path (from kt_cli_temp_output) to stdout, flushes, then removes it and
 * its temp folder, also on error. */
kt_status kt_cli_send_to_stdout(const char *path, kt_error *err);

/* Removes a kt_cli_temp_output path and its folder (after a failed write). */
void kt_cli_temp_remove(const char *path);

/* How an option takes its value. */
typedef enum {
    KT_CLI_FLAG,    /* no value */
    KT_CLI_VALUE,   /* the next argument, whatever it is ("-o -", "--speed -1") */
    KT_CLI_ATTACHED /* only as NAME=VALUE in one argument ("--progress=bar"); NAME alone is unknown */
} kt_cli_arg;

/* One option of a tool: its names, how it takes a value, and its lines in the help. */
typedef struct {
    const char *alias; /* short form ("-m"), or NULL */
    const char *name;  /* long form ("--model"), or NULL */
    kt_cli_arg arg;
    const char *meta;  /* the value in the help ("FILE"), NULL for a flag */
    const char *help;  /* the help text; each '\n' starts a line under the first */
} kt_cli_option;

/* A walk over argv. Arguments that do not start with '-', a lone "-" and every argument after
 * "--" are operands; "--" itself is skipped. Start with {argc, argv, 1, 0}. */
typedef struct {
    int argc;
    char **argv;
    int next;     /* index of the next argument to read */
    int operands; /* 1 after "--" */
} kt_cli_parser;

enum {
    KT_CLI_END = -1,     /* no argument left */
    KT_CLI_OPERAND = -2, /* *value is the operand */
    KT_CLI_UNKNOWN = -3, /* *value is the argument that names no option */
    KT_CLI_MISSING = -4  /* *value is the option that needs a value and is last */
};

/* Reads the next argument: the index in opts[0..n) of the option it names (*value its value,
 * NULL for a flag), or one of KT_CLI_END, _OPERAND, _UNKNOWN, _MISSING. */
int kt_cli_next(kt_cli_parser *p, const kt_cli_option *opts, size_t n, const char **value);

/* Prints opts as the "options:" lines of a help: two spaces, "-m, " or four spaces, the long
 * name and its value ("--model FILE"; "--progress=MODE" for KT_CLI_ATTACHED), padded to column
 * `column` with at least one space, then the help; its further lines start at `column`. */
void kt_cli_print_options(FILE *f, const kt_cli_option *opts, size_t n, int column);

/* A number option's range: min..max, an integer if `integer`; rule is the tool's message when a
 * value does not follow it ("--seed must be an integer 0..4294967295"). */
typedef struct {
    double min, max;
    int integer;
    const char *rule;
} kt_cli_number_rule;

/* Parses all of s as a number that follows r into *out; 0 on success, -1 otherwise (not a
 * number, not finite, out of range or of strtod's range, not an integer when r wants one). */
int kt_cli_number(const char *s, const kt_cli_number_rule *r, double *out);

/* Appends word to the malloc'd *text (NULL: none yet), after a space unless *text is empty; the
 * operands of a tool that takes its text as words. 0, or -1 when out of memory (*text unchanged). */
int kt_cli_append_word(char **text, const char *word);

/* Reads the whole of path ("-" or NULL: stdin) up to a NUL byte into *out (malloc'd, even when
 * empty). Errors: KT_EIO "PATH: cannot open: REASON" or "PATH: cannot read the text" ("stdin:
 * ..." when path is NULL); KT_ENOMEM with the second message. Messages longer than kt_error's
 * are cut. */
kt_status kt_cli_read_text(const char *path, char **out, kt_error *err);

/* Prints "tool: message" (one line) on stderr and returns status, an exit status. */
int kt_cli_fail(const char *tool, const char *message, int status);

/* Flushes f (stdout or stderr): 0, or after "tool: stdout: write failed: REASON" KT_EXIT_OUTPUT. */
int kt_cli_flush(const char *tool, FILE *f);

#endif
