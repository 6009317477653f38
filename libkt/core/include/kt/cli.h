/* kt/cli.h - conventions the kt tools share: exit statuses and '-' for stdin or stdout.
 *
 * A path "-" names stdin where a tool reads a file and stdout where it writes one. Tensor
 * files are read by mapping, so stdin is first copied into a temp file (removed at once,
 * the mapping keeps its bytes); an output "-" is written to a temp file that is then copied
 * to stdout and removed, so nothing half-written reaches stdout on an error. Temp files go
 * to $TMPDIR, else /tmp. Nothing here prints. */
#ifndef KT_CLI_H
#define KT_CLI_H

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

#endif
