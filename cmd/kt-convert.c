/* kt-convert - convert and quantize checkpoints: any format kt reads -> .safetensors, .pth or .npz. */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kt/checkpoint.h"
#include "kt/cli.h"
#include "kt/convert.h"
#include "kt/io.h"
#include "kt/quant.h"
#include "kt/strbuf.h"
#include "kt/version.h"

static const char usage[] =
    "usage: kt-convert IN -o OUT [--dtype f32|f16|bf16|q8|q4] [--fold-weight-norm|--no-fold-weight-norm]\n"
    "                  [--keep GLOB]... [--quantize-durations] [--voices DIR] [--json] [--force]\n"
    "\n"
    "Convert a checkpoint in any format kt reads (PyTorch .pth/.pt, legacy .pth, safetensors, npy,\n"
    "npz) to .safetensors, .pth (torch.load(weights_only=True) loads it) or .npz, chosen by OUT's\n"
    "extension. Tensor names keep their flat dotted form. The output is written atomically and\n"
    "its bytes depend only on the input and the options.\n"
    "\n"
    "options:\n"
    "  -o OUT                 output file (.safetensors, .pth/.pt or .npz; its folder must exist);\n"
    "                         '-' writes safetensors to stdout. IN '-' reads stdin\n"
    "  --dtype D              f32, f16, bf16 (float casts, round to nearest even),\n"
    "                         q8 (int8 per row, scale max|w|/127), q4 (4-bit in groups of 32,\n"
    "                         scale max|w|/7); q8/q4 need a .safetensors output, bf16 no .npz.\n"
    "                         Default: every tensor keeps its dtype (a quantized input is\n"
    "                         decoded to float32)\n"
    "  --fold-weight-norm     replace each X.weight_g/X.weight_v pair by X.weight = g*v/||v||\n"
    "                         (default for q8/q4)\n"
    "  --no-fold-weight-norm  keep weight_g/weight_v as they are\n"
    "  --keep GLOB            keep tensors whose flat name matches GLOB (fnmatch) in float32;\n"
    "                         may be repeated\n"
    "  --quantize-durations   q8/q4: quantize the duration path too (PL-BERT, bert_encoder,\n"
    "                         predictor.text_encoder, predictor.lstm, predictor.duration_proj),\n"
    "                         which otherwise stays float32 so that the predicted durations are\n"
    "                         those of the float32 model (a smaller file, other utterance lengths)\n"
    "  --voices DIR           embed every voice pack DIR/NAME.pt (.pth, .npy, .safetensors) as\n"
    "                         the tensor voices.NAME\n"
    "  --json                 print a JSON summary on stdout (per tensor: dtype and bytes before\n"
    "                         and after, max abs error after dequantization; totals)\n"
    "  --force                allow OUT to be the same file as IN\n"
    "  --max-output BYTES     refuse (before writing) an output whose tensors would exceed BYTES\n"
    "                         (default: 8 x the input files' size + 64 MiB; counted as elements x\n"
    "                         max(4, element size), so stride-0 tensors count what they expand to)\n"
    "  -h, --help             this help\n"
    "      --version          print the version and exit\n"
    "\n"
    "What stays float32 under f16, bf16, q8 and q4 (a rule, not a list): tensors of 1 dimension\n"
    "(biases, norm gamma/beta, LayerNorm weight and bias), Snake alphas (name contains 'alpha'),\n"
    "embeddings (name contains 'embedding'), weight_g, tensors with fewer than 1024 elements,\n"
    "voice packs (voices.*), and whatever --keep matches; under q8/q4 also the duration path\n"
    "(see --quantize-durations). Integer tensors are never changed.\n"
    "See docs/quantization.md for the storage layout of quantized tensors.\n"
    "\n"
    "examples:\n"
    "  kt-convert kokoro-v1_0.pth -o kokoro.safetensors\n"
    "  kt-convert kokoro-v1_0.pth -o kokoro-q8.safetensors --dtype q8 --voices voices/ --json\n"
    "  kt-convert kokoro.safetensors -o kokoro.pth\n"
    "  kt-convert voice.pt -o - | kt-inspect -\n"
    "\n"
    "exit status: 0 success, 1 the input could not be read or converted, 2 bad command line,\n"
    "3 the output could not be written.\n";

#define MAX_KEEP 64

typedef struct {
    const char *in, *out, *voices;
    const char *keep[MAX_KEEP];
    size_t nkeep;
    kt_quant_scheme scheme;
    int dtype_given; /* 0: every tensor keeps its dtype (quantized inputs are decoded to float32) */
    int fold;        /* -1: default by scheme */
    int json, force;
    int quant_durations; /* 1: q8/q4 also quantize the duration path (kt_quant_duration_path) */
    kt_format out_format;
    uint64_t max_output; /* 0: 8 x the inputs' size + 64 MiB */
} options;

/* The state of one run: the output's JSON summary and the progress on a terminal. */
typedef struct {
    options o;
    kt_checkpoint *ck;
    kt_convert_result res;
    cJSON *json, *jt;
    int tty;
} job;

/* ------------------------------------------------------------ command line */

static int want_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "kt-convert: %s needs a value (see --help)\n", argv[*i]);
        return 0;
    }
    (*i)++;
    return 1;
}

static int parse_option(int argc, char **argv, int *i, options *o)
{
    const char *a = argv[*i];
    if (strcmp(a, "--json") == 0)
        o->json = 1;
    else if (strcmp(a, "--force") == 0)
        o->force = 1;
    else if (strcmp(a, "--max-output") == 0) {
        char *end;
        if (!want_value(argc, argv, i))
            return 2;
        errno = 0;
        o->max_output = strtoull(argv[*i], &end, 10);
        if (errno || end == argv[*i] || *end || argv[*i][0] == '-' || o->max_output == 0) {
            kt_usage_error("kt-convert", "--max-output must be a byte count > 0", argv[*i]);
            return 2;
        }
    }
    else if (strcmp(a, "--fold-weight-norm") == 0)
        o->fold = 1;
    else if (strcmp(a, "--no-fold-weight-norm") == 0)
        o->fold = 0;
    else if (strcmp(a, "--quantize-durations") == 0)
        o->quant_durations = 1;
    else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
        if (!want_value(argc, argv, i))
            return 2;
        o->out = argv[*i];
    } else if (strcmp(a, "--voices") == 0) {
        if (!want_value(argc, argv, i))
            return 2;
        o->voices = argv[*i];
    } else if (strcmp(a, "--keep") == 0) {
        if (!want_value(argc, argv, i))
            return 2;
        if (o->nkeep == MAX_KEEP) {
            fprintf(stderr, "kt-convert: --keep: at most %d patterns\n", MAX_KEEP);
            return 2;
        }
        o->keep[o->nkeep++] = argv[*i];
    } else if (strcmp(a, "--dtype") == 0) {
        if (!want_value(argc, argv, i))
            return 2;
        o->dtype_given = 1;
        if (kt_quant_scheme_parse(argv[*i], &o->scheme)) {
            fprintf(stderr, "kt-convert: --dtype %s: unknown dtype (use f32, f16, bf16, q8 or q4)\n", argv[*i]);
            return 2;
        }
    } else {
        fprintf(stderr, "kt-convert: unknown option %s (see --help)\n", a);
        return 2;
    }
    return 0;
}

static int parse_args(int argc, char **argv, options *o)
{
    int only_files = 0;
    o->fold = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_files && strcmp(a, "--") == 0) {
            only_files = 1;
            continue;
        }
        if (!only_files && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
            fputs(usage, stdout);
            exit(0);
        }
        if (!only_files && a[0] == '-' && a[1] != '\0') {
            int rc = parse_option(argc, argv, &i, o);
            if (rc)
                return rc;
        } else if (!o->in) {
            o->in = a;
        } else {
            fprintf(stderr, "kt-convert: more than one input given: %s (see --help)\n", a);
            return 2;
        }
    }
    if (!o->in || !o->out) {
        fprintf(stderr, "kt-convert: %s (see --help)\n", !o->in ? "no input file given" : "no output given (-o OUT)");
        return 2;
    }
    if (o->fold < 0)
        o->fold = kt_quant_is_integer(o->scheme);
    if (kt_cli_is_stdio(o->out) && o->json) {
        fprintf(stderr, "kt-convert: --json prints on stdout, which -o - fills with the file (see --help)\n");
        return 2;
    }
    return 0;
}

/* Checks OUT before any work: its format, its folder, and that it is not IN. */
static int check_output(options *o)
{
    const char *why = NULL;
    o->out_format = kt_format_from_extension(o->out);
    if (o->out_format == KT_FORMAT_PTH_LEGACY)
        o->out_format = KT_FORMAT_PTH;
    if (o->out_format != KT_FORMAT_SAFETENSORS && o->out_format != KT_FORMAT_PTH && o->out_format != KT_FORMAT_NPZ)
        why = "unknown output format (use .safetensors, .pth, .pt or .npz)";
    else if (kt_quant_is_integer(o->scheme) && o->out_format != KT_FORMAT_SAFETENSORS)
        why = "q8 and q4 need a .safetensors output (only it records the scheme)";
    else if (o->scheme == KT_QUANT_BF16 && o->out_format == KT_FORMAT_NPZ)
        why = "numpy has no bfloat16: use .safetensors or .pth";
    if (why) {
        fprintf(stderr, "kt-convert: %s: %s\n", o->out, why);
        return 2;
    }
    kt_error e;
    if (kt_output_check(o->out, &e)) {
        fprintf(stderr, "kt-convert: %s: %s\n", o->out, e.msg);
        return 3;
    }
    if (!o->force && kt_same_file(o->in, o->out)) {
        fprintf(stderr, "kt-convert: %s: output is the input file (use --force to replace it)\n", o->out);
        return 2;
    }
    return 0;
}

/* ------------------------------------------------------------ progress and summary */

static void on_tensor(void *user, const kt_convert_record *r, size_t done, size_t total)
{
    job *j = user;
    if (j->jt) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", r->name);
        cJSON_AddStringToObject(o, "dtype_before", r->before);
        cJSON_AddStringToObject(o, "dtype_after", r->after);
        cJSON_AddNumberToObject(o, "bytes_before", (double)r->bytes_before);
        cJSON_AddNumberToObject(o, "bytes_after", (double)r->bytes_after);
        cJSON_AddNumberToObject(o, "max_abs_error", r->max_abs_error);
        if (r->kept)
            cJSON_AddStringToObject(o, "kept", r->kept);
        else
            cJSON_AddNullToObject(o, "kept");
        cJSON_AddBoolToObject(o, "folded", r->folded);
        cJSON_AddItemToArray(j->jt, o);
    }
    if (j->tty && ((done - 1) % 16 == 0 || done == total))
        fprintf(stderr, "\rkt-convert: %zu/%zu tensors", done, total);
    if (j->tty && done == total)
        fputc('\n', stderr);
}

static void print_summary(job *j)
{
    struct stat st;
    cJSON *tot = cJSON_CreateObject();
    cJSON_AddNumberToObject(tot, "tensors", (double)j->res.tensors);
    cJSON_AddNumberToObject(tot, "bytes_before", (double)j->res.bytes_before);
    cJSON_AddNumberToObject(tot, "bytes_after", (double)j->res.bytes_after);
    cJSON_AddNumberToObject(tot, "max_abs_error", j->res.max_abs_error);
    cJSON_AddNumberToObject(tot, "file_bytes_before", (double)kt_checkpoint_file_size(j->ck));
    cJSON_AddNumberToObject(tot, "file_bytes_after", stat(j->o.out, &st) == 0 ? (double)st.st_size : 0.0);
    cJSON_AddItemToObject(j->json, "totals", tot);
    char *s = cJSON_Print(j->json);
    if (s)
        puts(s);
    free(s);
}

/* ------------------------------------------------------------ main */

static kt_status run(job *j, int *rc, kt_error *err)
{
    const options *o = &j->o;
    kt_convert_params p = {o->out_format, o->dtype_given, o->scheme, o->fold, o->quant_durations, o->keep,
                           o->nkeep, o->voices, o->max_output, on_tensor, j};
    const char *where = o->in;
    kt_status st = kt_cli_checkpoint_open(o->in, &j->ck, err);
    if (!st) {
        j->tty = isatty(2);
        st = kt_convert(j->ck, o->out, &p, &j->res, err);
        where = j->res.failed_at == KT_CONVERT_AT_OUTPUT ? o->out
              : j->res.failed_at == KT_CONVERT_AT_VOICES ? o->voices : o->in;
    }
    if (st) {
        fprintf(stderr, "kt-convert: %s: %s\n", where, err->msg);
        *rc = where == o->out || st == KT_ENOMEM ? 3 : 1;
    }
    return st;
}

int main(int argc, char **argv)
{
    job j;
    kt_error err;
    int rc;
    if (kt_version_asked(argc, argv)) {
        printf("kt-convert %s\n", kt_version());
        return 0;
    }
    memset(&j, 0, sizeof j);
    kt_error_clear(&err);
    char *to_stdout = NULL; /* -o -: the temp file that goes to stdout */
    rc = parse_args(argc, argv, &j.o);
    if (!rc && kt_cli_is_stdio(j.o.out)) {
        if (kt_cli_temp_output(".safetensors", &to_stdout, &err)) {
            fprintf(stderr, "kt-convert: -: %s\n", err.msg);
            return 3;
        }
        j.o.out = to_stdout;
    }
    if (!rc)
        rc = check_output(&j.o);
    if (rc) {
        kt_cli_temp_remove(to_stdout);
        free(to_stdout);
        return rc;
    }
    if (j.o.json) {
        j.json = cJSON_CreateObject();
        cJSON_AddStringToObject(j.json, "input", j.o.in);
        cJSON_AddStringToObject(j.json, "output", j.o.out);
        cJSON_AddStringToObject(j.json, "dtype", j.o.dtype_given ? kt_quant_scheme_name(j.o.scheme) : "keep");
        cJSON_AddBoolToObject(j.json, "fold_weight_norm", j.o.fold);
        j.jt = cJSON_AddArrayToObject(j.json, "tensors");
    }
    if (!run(&j, &rc, &err) && j.json)
        print_summary(&j);
    if (to_stdout && !err.code && kt_cli_send_to_stdout(to_stdout, &err)) {
        fprintf(stderr, "kt-convert: -: %s\n", err.msg);
        rc = 3;
    }
    kt_cli_temp_remove(to_stdout);
    if (kt_stdout_close(&err) && !rc) {
        fprintf(stderr, "kt-convert: stdout: %s\n", err.msg);
        kt_output_remove(j.o.out); /* no output of a failed run stays behind */
        rc = 3;
    }
    free(to_stdout);
    cJSON_Delete(j.json);
    kt_checkpoint_free(j.ck);
    return err.code ? rc : 0;
}
