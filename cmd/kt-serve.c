/* kt-serve - an OpenAI-compatible speech server over libkt (POST /v1/audio/speech and friends). */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serve/serve.h"

static const char usage[] =
    "usage: kt-serve -m MODEL [-c CONFIG] --voices DIR|BUNDLE [options]\n"
    "\n"
    "Serve Kokoro-82M speech over HTTP with OpenAI's audio API: POST /v1/audio/speech, GET /v1/models,\n"
    "GET /v1/audio/voices, GET /health, GET /metrics, and a web page at /. One copy of the weights is\n"
    "shared by every worker. Stops on SIGTERM or SIGINT after the requests in flight (exit 0).\n"
    "\n"
    "options:\n"
    "  -m, --model FILE       weights, e.g. kokoro-v1_0.pth (default: $KT_MODEL)\n"
    "  -c, --config FILE      the model's config.json (default: the built-in Kokoro v1.0 config)\n"
    "      --voices PATH      a folder of voice packs, or a bundle (voices-v1.0.bin) (default: $KT_VOICES)\n"
    "      --host ADDR        address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)\n"
    "      --port N           port (default 8880; 0 picks a free one, printed at start)\n"
    "      --workers N        syntheses at once (default: the CPUs)\n"
    "      --threads N        threads of each synthesis (default: shared: each sentence runs on the CPUs\n"
    "                         no other request is using when it starts, all of them for a lone request)\n"
    "      --queue N          requests that may wait for a worker; beyond them 429 (default 4 x workers)\n"
    "      --api-key KEY      require 'Authorization: Bearer KEY' on /v1/ (default: $KT_API_KEY)\n"
    "      --max-input N      characters of input per request, beyond them 413 (default 4096)\n"
    "      --max-body N       bytes of request body, beyond them 413 (default 65536)\n"
    "      --timeout S        per-request deadline in seconds, then 503 (default 120)\n"
    "      --idle-timeout S   close a connection idle this long (default 30)\n"
    "      --drain S          on SIGTERM, wait this long for requests in flight (default 30)\n"
    "      --max-connections N  open connections at most (default 64)\n"
    "      --first-chunk N    cut the first chunk at a word (punctuation preferred) after at most N phonemes,\n"
    "                         so the first audio comes sooner (default 100; 0: off)\n"
    "      --compute C        f32 (default), bf16 (convolutions in bfloat16 where the CPU has AVX512_BF16,\n"
    "                         as kt-synth --bf16) or bf16-winograd (as kt-synth --bf16-winograd)\n"
    "      --warm-up on|off   one short synthesis at start, before listening, so that the first request is\n"
    "                         as fast as the next ones (default on)\n"
    "  -h, --help             this help\n"
    "\n"
    "Every request is logged as one JSON line on stderr.\n"
    "exit status: 0 stopped by a signal; 1 cannot start (model, voices, address); 2 bad command line.\n";

static int fail_usage(const char *msg, const char *arg)
{
    fprintf(stderr, "kt-serve: %s%s%s\ntry 'kt-serve --help'\n", msg, arg ? ": " : "", arg ? arg : "");
    return 2;
}

static int number(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static const char *const compute_names[] = {"f32", "bf16", "bf16-winograd"}; /* KTS_COMPUTE_* */

static int set_option(kts_options *o, const char *a, const char *v)
{
    double x;
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
    else if (!strcmp(a, "-c") || !strcmp(a, "--config")) o->config = v;
    else if (!strcmp(a, "--voices")) o->voices = v;
    else if (!strcmp(a, "--host")) o->host = v;
    else if (!strcmp(a, "--api-key")) o->api_key = v;
    else if (!strcmp(a, "--compute")) {
        int k = 0;
        while (k < 3 && strcmp(v, compute_names[k]))
            k++;
        if (k == 3)
            return fail_usage("--compute takes f32, bf16 or bf16-winograd", v);
        o->compute = k;
    } else if (!strcmp(a, "--warm-up")) {
        if (strcmp(v, "on") && strcmp(v, "off"))
            return fail_usage("--warm-up takes on or off", v);
        o->warm_up = !strcmp(v, "on");
    }
#define NUM(name, lo, hi, dst, cast, integer)                                                                          \
    else if (!strcmp(a, name)) {                                                                                       \
        if (number(v, lo, hi, &x) || ((integer) && x != floor(x)))                                                     \
            return fail_usage(name " is out of range or not a number", v);                                            \
        dst = (cast)x;                                                                                                 \
    }
    NUM("--port", 0, 65535, o->port, int, 1)
    NUM("--workers", 1, 256, o->workers, int, 1)
    NUM("--threads", 1, 256, o->threads, int, 1)
    NUM("--queue", 1, 100000, o->queue, int, 1)
    NUM("--max-input", 1, 1e7, o->max_input, size_t, 1)
    NUM("--max-body", 64, 1e9, o->max_body, size_t, 1)
    NUM("--timeout", 0.1, 86400, o->timeout, double, 0)
    NUM("--idle-timeout", 1, 86400, o->idle_timeout, double, 0)
    NUM("--drain", 0, 86400, o->drain, double, 0)
    NUM("--max-connections", 1, 10000, o->max_connections, int, 1)
    NUM("--first-chunk", 0, 510, o->first_chunk, int, 1)
#undef NUM
    else return fail_usage("unknown option", a);
    return 0;
}

static int parse_args(int argc, char **argv, kts_options *o)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            exit(0);
        }
        if (i + 1 >= argc)
            return fail_usage(argv[i][0] == '-' ? "option needs a value" : "unexpected argument", argv[i]);
        int rc = set_option(o, argv[i], argv[i + 1]);
        if (rc)
            return rc;
        i++;
    }
    if (!o->model && !(o->model = getenv("KT_MODEL")))
        return fail_usage("no model: give -m kokoro-v1_0.pth or set KT_MODEL", NULL);
    if (!o->voices && !(o->voices = getenv("KT_VOICES")))
        return fail_usage("no voices: give --voices DIR or a bundle, or set KT_VOICES", NULL);
    if (!o->api_key && getenv("KT_API_KEY") && *getenv("KT_API_KEY"))
        o->api_key = getenv("KT_API_KEY");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        cpus = 1;
    if (!o->workers)
        o->workers = (int)cpus;
    if (!o->queue)
        o->queue = 4 * o->workers;
    return 0;
}

/* The signal handler only writes a byte to this pipe; main waits on it. */
static int stop_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    char c = (char)sig;
    int saved = errno;
    if (write(stop_pipe[1], &c, 1) < 0) {
    }
    errno = saved;
}

static int install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (pipe(stop_pipe) || sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL))
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int main(int argc, char **argv)
{
    kts_options o = {.host = "127.0.0.1", .port = 8880, .max_body = 65536, .max_input = 4096, .timeout = 120,
                     .idle_timeout = 30, .drain = 30, .max_connections = 64, .first_chunk = 100,
                     .warm_up = 1};
    char err[KTS_ERR];
    kts_server *s = NULL;
    char c;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    if (install_signals()) {
        fprintf(stderr, "kt-serve: cannot install the signal handlers\n");
        return 1;
    }
    if (kts_server_start(&o, &s, err, sizeof err)) {
        fprintf(stderr, "kt-serve: %s\n", err);
        return 1;
    }
    char threads[48] = "CPUs shared";
    if (o.threads)
        snprintf(threads, sizeof threads, "%d threads each", o.threads);
    fprintf(stderr, "kt-serve: listening on http://%s%s%s:%d/ (%d workers, %s%s%s, queue %d%s)\n",
            strchr(o.host, ':') ? "[" : "", o.host, strchr(o.host, ':') ? "]" : "", kts_server_port(s), o.workers,
            threads, o.compute ? ", " : "", o.compute ? compute_names[o.compute] : "", o.queue,
            o.api_key ? ", API key required" : "");
    while (read(stop_pipe[0], &c, 1) < 0 && errno == EINTR) {
    }
    fprintf(stderr, "kt-serve: stopping: finishing the requests in flight (at most %g s)\n", o.drain);
    kts_server_stop(s);
    fprintf(stderr, "kt-serve: stopped\n");
    return 0;
}
