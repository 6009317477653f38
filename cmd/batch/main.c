/* main.c - the command line of kt-synth --batch and --merge. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "kt/kernels.h"
#include "kt/kt.h"
#include "batch_main.h"

static const char usage[] =
    "usage: kt-synth --batch JOBS.jsonl --out-dir DIR [-m MODEL] [-c config.json] [--voices DIR]\n"
    "                [-v VOICE] [--lang LANG] [--shard K/N | --shards N] [--resume] [--jobs N] [--json]\n"
    "       kt-synth --merge --out-dir DIR [--batch JOBS.jsonl]\n"
    "\n"
    "Synthesizes every line of a JSON-lines file with one model load: {\"id\": ..., \"text\" | \"phonemes\" |\n"
    "\"ssml\": ..., \"voice\", \"speed\", \"lang\", \"format\": wav|flac|ogg, \"seed\"}. Each output is DIR/ID.EXT,\n"
    "written atomically; DIR/manifest.jsonl (DIR/manifest.K-of-N.jsonl for a shard) records every line.\n"
    "\n"
    "options:\n"
    "  --batch FILE     the jobs, one JSON object per line ('-' for stdin)\n"
    "  --out-dir DIR    where outputs and the manifest go (created when missing)\n"
    "  --shard K/N      run only shard K (0..N-1) of N: the lines whose position among the non-blank\n"
    "                   lines is K mod N (default: from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT)\n"
    "  --shards N       N shards, this one JOB_COMPLETION_INDEX (a Kubernetes indexed Job), else\n"
    "                   SLURM_ARRAY_TASK_ID (to resubmit only some tasks of an array)\n"
    "  --resume         keep the outputs an earlier run recorded whose bytes still match the manifest;\n"
    "                   redo the rest\n"
    "  --merge          write DIR/manifest.jsonl from the shards' manifests (with --batch: check that\n"
    "                   every line was recorded)\n"
    "  --jobs N         worker threads, each synthesizing one line at a time (default: the CPUs, at most 8)\n"
    "  -v, --voice V    voice of the lines that name none (default af_heart)\n"
    "  --lang LANG      language of the lines that name none (default: from the voice)\n"
    "  --threads N      threads of each line's synthesis (default: with a job per CPU, the CPUs the\n"
    "                   other jobs leave free when a chunk starts, at least 1; else CPUs / jobs, 1 to 8)\n"
    "  -m, -c, --voices, --bf16, --bf16-winograd: as for one utterance\n"
    "  --json           print a JSON summary on stdout (lines, ok, failed, utterances_per_second, ...)\n"
    "\n"
    "exit status: 0 every line done; 1 a line failed or the jobs were refused (duplicate or unsafe id);\n"
    "2 bad command line; 3 output error (the batch stops; --resume finishes it); 4 bad model.\n";

int kt_batch_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) /* after "--" everything is text */
        if (!strcmp(argv[i], "--batch") || !strcmp(argv[i], "--merge"))
            return 1;
    return 0;
}

static int fail_usage(const char *msg, const char *arg)
{
    if (arg)
        fprintf(stderr, "kt-synth: %s: %s\n", msg, arg);
    else
        fprintf(stderr, "kt-synth: %s\n", msg);
    fputs("try 'kt-synth --batch --help'\n", stderr);
    return EXIT_USAGE;
}

/* A whole decimal number in [lo, hi], else -1. */
static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = s && *s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_shard(const char *s, batch_opts *o)
{
    const char *slash = strchr(s, '/');
    char k[32];
    if (!slash || (size_t)(slash - s) >= sizeof k)
        return -1;
    memcpy(k, s, (size_t)(slash - s));
    k[slash - s] = '\0';
    if (parse_long(slash + 1, 1, 1000000, &o->shard_n) || parse_long(k, 0, o->shard_n - 1, &o->shard_k))
        return -1;
    return 0;
}

static int value_option(batch_opts *o, const char *a, const char *v)
{
    long x;
    if (!strcmp(a, "--batch")) o->jobs = v;
    else if (!strcmp(a, "--out-dir")) o->out_dir = v;
    else if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
    else if (!strcmp(a, "-c") || !strcmp(a, "--config")) o->config = v;
    else if (!strcmp(a, "-v") || !strcmp(a, "--voice")) o->voice = v;
    else if (!strcmp(a, "--voices")) o->voices = v;
    else if (!strcmp(a, "--lang")) o->lang = v;
    else if (!strcmp(a, "--shard")) {
        if (parse_shard(v, o))
            return fail_usage("--shard must be K/N with 0 <= K < N", v);
    } else if (!strcmp(a, "--shards")) {
        if (parse_long(v, 1, 1000000, &o->shards))
            return fail_usage("--shards must be an integer 1..1000000", v);
    } else if (!strcmp(a, "--jobs")) {
        if (parse_long(v, 1, 256, &x))
            return fail_usage("--jobs must be an integer 1..256", v);
        o->workers = (int)x;
    } else if (!strcmp(a, "--threads")) {
        if (parse_long(v, 0, 1024, &x))
            return fail_usage("--threads must be an integer 0..1024", v);
        o->threads = (int)x;
    } else
        return -1;
    return 0;
}

static int parse_args(int argc, char **argv, batch_opts *o)
{
    for (int i = 1; i < argc; i++) /* before the values: "--batch --help" asks for help */
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            exit(0);
        }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--merge")) o->merge = 1;
        else if (!strcmp(a, "--resume")) o->resume = 1;
        else if (!strcmp(a, "--bf16")) o->bf16 = 1;
        else if (!strcmp(a, "--bf16-winograd")) o->bf16 = KT_BF16_WINOGRAD;
        else if (!strcmp(a, "--json")) o->json = 1;
        else if (!strcmp(a, "--batch") && i + 1 >= argc) return fail_usage("option needs a value", a);
        else if (i + 1 < argc) {
            int r = value_option(o, a, argv[i + 1]);
            if (r < 0)
                return fail_usage("not a batch option", a);
            if (r > 0)
                return r;
            i++;
        } else
            return fail_usage("not a batch option, or it needs a value", a);
    }
    if (!o->out_dir)
        return fail_usage("no output folder: give --out-dir DIR", NULL);
    if (!o->merge && !o->jobs)
        return fail_usage("no jobs: give --batch JOBS.jsonl", NULL);
    return 0;
}

/* The shard from --shard, else --shards with JOB_COMPLETION_INDEX, else a Slurm job array. */
static int resolve_shard(batch_opts *o)
{
    const char *id = getenv("SLURM_ARRAY_TASK_ID"), *count = getenv("SLURM_ARRAY_TASK_COUNT");
    const char *min = getenv("SLURM_ARRAY_TASK_MIN"), *step = getenv("SLURM_ARRAY_TASK_STEP");
    long i, n, lo = 0, st = 1;
    if (o->shard_n > 0)
        return 0;
    if (o->shards > 0) { /* the index: a Kubernetes completion index, else the Slurm task id itself */
        const char *index = getenv("JOB_COMPLETION_INDEX") ? getenv("JOB_COMPLETION_INDEX") : id;
        if (parse_long(index, 0, o->shards - 1, &o->shard_k))
            return fail_usage("--shards N needs JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID set to 0..N-1 (or give "
                              "--shard K/N)", index);
        o->shard_n = o->shards;
        return 0;
    }
    if (!id || !count)
        return 0;
    if (parse_long(id, 0, 100000000, &i) || parse_long(count, 1, 1000000, &n) ||
        (min && parse_long(min, 0, i, &lo)) || (step && parse_long(step, 1, 100000000, &st)) || (i - lo) % st ||
        (i - lo) / st >= n)
        return fail_usage("cannot tell the shard from SLURM_ARRAY_TASK_ID/_COUNT/_MIN/_STEP; give --shard K/N",
                          id);
    o->shard_k = (i - lo) / st;
    o->shard_n = n;
    return 0;
}

int kt_batch_main(int argc, char **argv)
{
    batch_opts o;
    memset(&o, 0, sizeof o);
    o.voice = "af_heart";
    o.shard_k = -1;
    o.shard_n = -1;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    if (o.merge)
        return batch_merge(&o);
    if ((rc = resolve_shard(&o)))
        return rc;
    if (o.shard_n <= 1)
        o.shard_k = 0;
    /* One single-threaded worker per CPU by default (at most BATCH_DEFAULT_WORKERS): a short line
     * keeps several threads of one synthesis poorly busy, while lines on separate workers never
     * wait for each other. */
    int cpus = kt_usable_cpus();
    if (!o.workers)
        o.workers = cpus < BATCH_DEFAULT_WORKERS ? cpus : BATCH_DEFAULT_WORKERS;
    /* With a worker per CPU, the workers share the CPUs chunk by chunk (threads 0): the last
     * lines of a batch, or a lone long one, run on the CPUs the others have left free. */
    if (!o.threads && o.workers < cpus) /* at most 8, as for one utterance */
        o.threads = cpus / o.workers > 8 ? 8 : cpus / o.workers > 1 ? cpus / o.workers : 1;
    return batch_run(&o);
}
