/* kt-inspect - list the tensors of any checkpoint, or print Kokoro's structure report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt/checkpoint.h"
#include "kt/cli.h"
#include "kt/report.h"
#include "kt/version.h"

static const char usage[] =
    "usage: kt-inspect FILE [--stats] [--filter GLOB] [--json [--values]]\n"
    "       kt-inspect [MODEL] --voices DIR [--config config.json] [--generated TEXT]\n"
    "\n"
    "List every tensor of a checkpoint (PyTorch .pth/.pt, legacy .pth, safetensors, npy, npz,\n"
    "raw voices .bin; '-' reads stdin): name, dtype, shape, numel and bytes. With --voices or\n"
    "--config, print the Kokoro-82M structure report (voice statistics, component breakdown,\n"
    "configuration). '--' ends the options.\n"
    "\n"
    "options:\n"
    "  --stats          add min, max, mean and population std of each tensor\n"
    "  --filter GLOB    only tensors whose flat name matches GLOB (e.g. 'decoder.*.weight_g')\n"
    "  --json           machine-readable JSON on stdout instead of the table\n"
    "  --values         with --json: every value, exact (NaN/Inf as strings)\n"
    "  --voices DIR     report: the voice pack folder (sample: af_heart.pt, else the first)\n"
    "  --config FILE    report: the model's config.json\n"
    "  --report         report mode with only MODEL\n"
    "  --generated TEXT report: text of the 'Generated:' line (default: $SOURCE_DATE_EPOCH, else now)\n"
    "  -h, --help       this help\n"
    "      --version    print the version and exit\n"
    "\n"
    "examples:\n"
    "  kt-inspect kokoro-v1_0.pth --voices voices/ --config config.json\n"
    "  kt-inspect kokoro-v1_0.pth --filter 'decoder.module.generator.*' --stats\n"
    "  kt-inspect voices/af_heart.pt --json --values\n"
    "  kt-blend af_heart:0.5 am_adam:0.5 -o - | kt-inspect - --stats\n"
    "\n"
    "exit status: 0 success, 1 an input file could not be read or is not a tensor file,\n"
    "2 bad command line, 3 out of memory or output error.\n";

typedef struct {
    const char *file, *voices, *config, *filter, *generated;
    int stats, json, values, report;
} options;

static int parse_args(int argc, char **argv, options *o)
{
    int only_files = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (only_files || (a[0] == '-' && a[1] == '\0')) {
            if (o->file) {
                fprintf(stderr, "kt-inspect: more than one FILE given: %s (see --help)\n", a);
                return 2;
            }
            o->file = a;
        } else if (strcmp(a, "--") == 0) {
            only_files = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            exit(0);
        } else if (strcmp(a, "--stats") == 0) {
            o->stats = 1;
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
        } else if (strcmp(a, "--values") == 0) {
            o->values = 1;
        } else if (strcmp(a, "--report") == 0) {
            o->report = 1;
        } else if (strcmp(a, "--voices") == 0) {
            slot = &o->voices;
        } else if (strcmp(a, "--config") == 0) {
            slot = &o->config;
        } else if (strcmp(a, "--filter") == 0) {
            slot = &o->filter;
        } else if (strcmp(a, "--generated") == 0) {
            slot = &o->generated;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "kt-inspect: unknown option %s (see --help)\n", a);
            return 2;
        } else if (!o->file) {
            o->file = a;
        } else {
            fprintf(stderr, "kt-inspect: more than one FILE given: %s (see --help)\n", a);
            return 2;
        }
        if (slot) {
            if (++i >= argc) {
                fprintf(stderr, "kt-inspect: %s needs a value (see --help)\n", a);
                return 2;
            }
            *slot = argv[i];
        }
    }
    if (o->voices || o->config)
        o->report = 1;
    if (!o->file && !o->report) {
        fprintf(stderr, "kt-inspect: no FILE given (see --help)\n");
        return 2;
    }
    if (o->values && !o->json) {
        fprintf(stderr, "kt-inspect: --values needs --json\n");
        return 2;
    }
    return 0;
}

static int exit_code(kt_status st)
{
    return st == KT_ENOMEM ? 3 : 1;
}

static int run_report(const options *o, kt_strbuf *out)
{
    kt_report_params p = kt_report_default_params();
    kt_error err;
    p.model_path = o->file;
    p.voices_dir = o->voices;
    p.config_path = o->config;
    p.generated = o->generated ? o->generated : getenv("SOURCE_DATE_EPOCH");
    kt_status st = kt_structure_report(&p, out, &err);
    if (st) {
        fprintf(stderr, "kt-inspect: %s\n", err.msg);
        return exit_code(st);
    }
    return 0;
}

static int run_listing(const options *o, kt_strbuf *out)
{
    kt_checkpoint *ck = NULL;
    kt_error err;
    kt_listing_params p = kt_listing_default_params();
    p.filter = o->filter;
    p.stats = o->stats;
    p.values = o->values;
    kt_status st = kt_cli_checkpoint_open(o->file, &ck, &err);
    if (!st)
        st = o->json ? kt_tensor_listing_json(ck, o->file, &p, out, &err) : kt_tensor_listing_text(ck, &p, out, &err);
    kt_checkpoint_free(ck);
    if (st) {
        fprintf(stderr, "kt-inspect: %s: %s\n", o->file, err.msg);
        return exit_code(st);
    }
    return 0;
}

int main(int argc, char **argv)
{
    options o = {0};
    kt_strbuf out = {0};
    if (kt_version_asked(argc, argv)) {
        printf("kt-inspect %s\n", kt_version());
        return 0;
    }
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    rc = o.report ? run_report(&o, &out) : run_listing(&o, &out);
    if (rc == 0 && out.len && (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0)) {
        fprintf(stderr, "kt-inspect: cannot write the output\n");
        rc = 3;
    }
    kt_strbuf_free(&out);
    return rc;
}
