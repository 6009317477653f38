/* kt-synth - text or Kokoro phonemes to 24 kHz speech with the Kokoro-82M weights. */
#include <cjson/cJSON.h>
#include <sys/resource.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kt/audio_out.h"
#include "kt/io.h"
#include "kt/kt.h"
#include "kt/strbuf.h"
#include "kt/version.h"

#include "batch/batch_main.h"

static const char usage[] =
    "usage: kt-synth [-m MODEL] [-c config.json] [-v VOICE] [--voices DIR] -o OUT [options] [TEXT...]\n"
    "\n"
    "Turn text (or Kokoro phonemes) into 24 kHz mono speech with the Kokoro-82M weights, in C.\n"
    "Text comes from the arguments or from -f FILE (not both), else from stdin ('-' too); '--'\n"
    "ends the options. Long text is split at sentence and clause punctuation into chunks of at\n"
    "most 510 phonemes and the audio joined.\n"
    "\n"
    "options:\n"
    "  -m, --model FILE     weights, e.g. kokoro-v1_0.pth (default: $KT_MODEL)\n"
    "  -c, --config FILE    the model's config.json (default: the built-in Kokoro v1.0 config)\n"
    "  -v, --voice VOICE    a voice name looked up in --voices, then among the voices embedded in\n"
    "                       MODEL (af_heart), a voice file or FILE:MEMBER, or a blend\n"
    "                       expression as kt-blend takes it ('af_heart:0.6 am_adam:0.4'); default af_heart\n"
    "      --voices DIR     folder of voice packs (default: $KT_VOICES, else ./voices)\n"
    "  -o, --output FILE    .wav (16-bit PCM), .flac, .ogg (Vorbis), .opus, .mp3, .pcm/.raw (s16le) or\n"
    "                       .f32 (f32le); '-' streams to stdout (WAV unless --format) chunk by chunk\n"
    "      --format FMT     wav, wav-f32, flac, vorbis, opus, mp3, pcm or pcm-f32 (default: from -o)\n"
    "      --rate HZ        output sample rate, 8000..48000, resampled (default 24000; opus and mp3 take\n"
    "                       only their own rates; docs/audio.md)\n"
    "  -f, --file FILE      read the text from FILE ('-' for stdin)\n"
    "      --phonemes       the input is Kokoro phonemes, not text (no G2P)\n"
    "      --ssml           the input is SSML (default: when it starts with <speak>); else plain text\n"
    "                       where [pause:0.5s] or [pause:300ms] is a pause (docs/markup.md)\n"
    "      --no-markup      read the input as it is: no SSML, no [pause:...]\n"
    "      --lang LANG      en-us, en-gb, es, fr, hi, it, pt-br, ja, zh, or another espeak-ng language\n"
    "                       (default: from the voice's first letter: a en-us, b en-gb, e es, f fr,\n"
    "                       h hi, i it, j ja, p pt-br, z zh)\n"
    "      --print-phonemes print the phonemes, one chunk per line, and exit (no model needed)\n"
    "      --lexicon FILE   English: extra entries, one 'word<TAB>phonemes' a line, over the built-in\n"
    "                       lexicon (text may also say [word](/phonemes/) inline)\n"
    "      --speed X        speaking rate, 0.1..10 (default 1.0; 1.2 is faster)\n"
    "      --seed N         seed of the source noise (default 0); same input + seed = same bytes\n"
    "      --durations FILE write each phoneme's start and end in seconds as JSON\n"
    "      --threads N      threads (default: OpenBLAS's own choice, and all CPUs for kt's kernels)\n"
    "      --bf16           convolutions in bfloat16 where the CPU has AVX512_BF16 (faster, SNR ~40 dB)\n"
    "      --first-chunk N  low latency when streaming: cut the first chunk at a word boundary after at\n"
    "                       most N phonemes, so the first audio comes sooner (default 0: off)\n"
    "      --json           print a JSON summary on stdout (on stderr with -o -): samples, seconds,\n"
    "                       format, output_rate, output_samples, chunks, the times (load, first audio,\n"
    "                       synthesis, CPU of all threads), realtime_factor, peak_rss_bytes, ...\n"
    "      --progress=MODE  bar (a bar with the time left), plain (a line per chunk, for logs) or none;\n"
    "                       default: bar when stderr is a terminal, else none\n"
    "  -q, --quiet          no progress and no warnings (errors are still printed)\n"
    "      --batch JOBS     many utterances with one model load (see kt-synth --batch --help)\n"
    "  -h, --help           this help\n"
    "      --version        print the version and exit\n"
    "\n"
    "examples:\n"
    "  kt-synth -m kokoro-v1_0.pth --voices voices -v af_heart -o out.wav \"Hello world.\"\n"
    "  kt-synth -m kokoro-q8.safetensors -v af_heart -o out.wav \"Voices from kt-convert --voices.\"\n"
    "  export KT_MODEL=$PWD/kokoro-v1_0.pth KT_VOICES=$PWD/voices\n"
    "  kt-synth -v bf_emma -f chapter.txt -o chapter.flac --durations chapter.json\n"
    "  echo \"Streaming to a player.\" | kt-synth -v af_heart --first-chunk 16 -o - | aplay\n"
    "  kt-synth -v 'af_heart:0.7 am_adam:0.3' --speed 1.1 -o mix.ogg \"Blended voices.\"\n"
    "  kt-synth -v af_heart -o pause.mp3 --rate 44100 \"Wait [pause:1s] for it.\"\n"
    "  kt-synth -v af_heart -o s.wav '<speak>Hi <break time=\"300ms\"/> there.</speak>'\n"
    "  kt-synth --phonemes -v af_heart -o p.wav \"həlˈO wˈɜɹld\"\n"
    "  kt-synth --print-phonemes --lang fr \"Bonjour tout le monde.\"\n"
    "\n"
    "exit status: 0 success; 1 bad input (empty text, text without words, a phoneme outside the\n"
    "vocabulary, unknown voice or language, unreadable text file, invalid SSML or a markup limit); 2 bad command line; 3 output\n"
    "error or out of memory; 4 the weights or config are not Kokoro or do not match each other.\n";

enum { PROGRESS_AUTO, PROGRESS_BAR, PROGRESS_PLAIN, PROGRESS_NONE, PROGRESS_BAD };
enum { EXIT_INPUT = 1, EXIT_USAGE = 2, EXIT_OUTPUT = 3, EXIT_MODEL = 4 };

typedef struct {
    kt_tts_params tp;        /* model, config, voices, --bf16 */
    kt_tts_synth_params sp;  /* --phonemes, --lang, the callbacks */
    const char *voice, *output, *file, *durations;
    const char *format;
    int print_phonemes, json, quiet, progress, markup; /* PROGRESS_*; markup: 1 --ssml, 2 --no-markup */
    double speed, seed, threads, first_chunk, rate;
    char *text; /* owned */
} options;

static int fail_usage(const char *msg, const char *arg)
{
    kt_usage_error("kt-synth", msg, arg);
    return EXIT_USAGE;
}

/* The options that take a value: N_STRING_OPTIONS strings, then the numbers. */
static const char *const value_options[] = {"-m", "--model", "-c", "--config", "-v", "--voice", "--voices", "-o",
                                            "--output", "-f", "--file", "--lang", "--durations", "--lexicon",
                                            "--format", "--speed", "--seed", "--threads", "--first-chunk", "--rate"};
enum { N_STRING_OPTIONS = 15, N_VALUE_OPTIONS = 20 };

static int value_index(const char *a)
{
    for (int i = 0; i < N_VALUE_OPTIONS; i++)
        if (!strcmp(a, value_options[i]))
            return i;
    return -1;
}

/* Sets value option i; a number must be an integer min..max (max < 0: the speed, KT_TTS_SPEED_MIN..MAX). */
static int set_value(options *o, int i, const char *v)
{
    const char **str[] = {&o->tp.model_path, &o->tp.model_path, &o->tp.config_path, &o->tp.config_path, &o->voice,
                          &o->voice, &o->tp.voices_dir, &o->output, &o->output, &o->file, &o->file, &o->sp.lang,
                          &o->durations, &o->sp.lexicon, &o->format};
    static const char *const rule[] = {"--speed must be a number in 0.1..10", "--seed must be an integer 0..4294967295",
                                       "--threads must be an integer 0..1024", "--first-chunk must be an integer 0..510",
                                       "--rate must be an integer 8000..48000"};
    static const double min[] = {0, 0, 0, 0, KT_TTS_RATE_MIN}, max[] = {-1, 4294967295.0, 1024, 510, KT_TTS_RATE_MAX};
    double *num[] = {&o->speed, &o->seed, &o->threads, &o->first_chunk, &o->rate};
    if (i < N_STRING_OPTIONS)
        return *str[i] = v, 0;
    i -= N_STRING_OPTIONS;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(x) || (max[i] < 0 ? !(x >= KT_TTS_SPEED_MIN && x <= KT_TTS_SPEED_MAX) : x < min[i] || x > max[i] || x != floor(x)))
        return fail_usage(rule[i], v);
    *num[i] = x;
    return 0;
}

static int is_flag(options *o, const char *a)
{
    if (!strcmp(a, "--phonemes")) o->sp.phonemes = 1;
    else if (!strcmp(a, "--print-phonemes")) o->print_phonemes = 1;
    else if (!strcmp(a, "--json")) o->json = 1;
    else if (!strcmp(a, "--bf16")) o->tp.bf16 = 1;
    else if (!strcmp(a, "--ssml")) o->markup |= 1, o->sp.markup = KT_TTS_MARKUP_SSML;
    else if (!strcmp(a, "--no-markup")) o->markup |= 2, o->sp.markup = KT_TTS_MARKUP_NONE;
    else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) o->quiet = 1;
    else if (!strcmp(a, "--progress=bar")) o->progress = PROGRESS_BAR;
    else if (!strcmp(a, "--progress=plain")) o->progress = PROGRESS_PLAIN;
    else if (!strcmp(a, "--progress=none")) o->progress = PROGRESS_NONE;
    else if (!strncmp(a, "--progress=", 11)) o->progress = PROGRESS_BAD;
    else return 0;
    return 1;
}

static int check_output(options *o)
{
    kt_error e;
    if (o->progress == PROGRESS_BAD)
        return fail_usage("--progress takes bar, plain or none", NULL);
    if (o->markup == 3)
        return fail_usage("--ssml and --no-markup exclude each other", NULL);
    if (o->format && (o->sp.format = (int)kt_audio_out_format_from_name(o->format)) == KT_TTS_FORMAT_AUTO)
        return fail_usage("unknown --format (use wav, wav-f32, flac, vorbis, opus, mp3, pcm or pcm-f32)", o->format);
    o->sp.rate = (int)o->rate;
    if (o->print_phonemes)
        return 0;
    if (!o->output)
        return fail_usage("no output: give -o FILE (.wav, .flac, .ogg, .opus, .mp3, .pcm) or -o - for stdout", NULL);
    kt_status st = kt_tts_output_check(&o->sp, o->output, o->durations, &e); /* before any work */
    if (st)
        fprintf(stderr, "kt-synth: %s\n", e.msg);
    return st == KT_EINVAL ? EXIT_USAGE : st ? EXIT_OUTPUT : 0;
}

static int parse_args(int argc, char **argv, options *o)
{
    int only_text = 0, rc;
    size_t cap = 1;
    for (int i = 1; i < argc; i++)
        cap += strlen(argv[i]) + 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_text || a[0] != '-' || !strcmp(a, "-")) { /* text words, joined by spaces */
            if (!o->text && !(o->text = calloc(cap, 1)))
                return fail_usage("out of memory", NULL);
            strcat(strcat(o->text, *o->text ? " " : ""), a);
        } else if (!strcmp(a, "--")) {
            only_text = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            exit(0);
        } else if (!is_flag(o, a)) {
            int k = value_index(a);
            if (k < 0 || i + 1 >= argc)
                return fail_usage(k < 0 ? "unknown option" : "option needs a value", a);
            if ((rc = set_value(o, k, argv[++i])))
                return rc;
        }
    }
    if (o->file && o->text)
        return fail_usage("give the text either as arguments or with -f FILE, not both", NULL);
    if (o->text && !strcmp(o->text, "-")) { /* a lone '-' is stdin, like -f - */
        free(o->text);
        o->text = NULL;
        o->file = "-";
    }
    return check_output(o);
}

static int get_text(options *o)
{
    size_t cap = 0;
    if (!o->file && isatty(0))
        return fail_usage("no text: give it as an argument, with -f FILE, or on stdin", NULL);
    FILE *fp = (!o->file || !strcmp(o->file, "-")) ? stdin : fopen(o->file, "rb");
    if (!fp)
        return fprintf(stderr, "kt-synth: %s: cannot open: %s\n", o->file, strerror(errno)), EXIT_INPUT;
    int bad = getdelim(&o->text, &cap, '\0', fp) < 0 && !feof(fp); /* the whole text (up to a NUL byte) */
    if (fp != stdin)
        fclose(fp);
    if (!o->text || bad) {
        fprintf(stderr, "kt-synth: %s: cannot read the text\n", o->file ? o->file : "stdin");
        return o->text ? EXIT_INPUT : EXIT_OUTPUT;
    }
    return 0;
}

typedef struct {
    int progress;         /* PROGRESS_BAR, _PLAIN or _NONE */
    struct timespec t0;   /* when synthesis started */
    cJSON *chunk_seconds; /* each chunk's time, for --json */
} watch;

static int on_progress(void *user, size_t done, size_t total)
{
    watch *w = user;
    if (done == 0)
        clock_gettime(CLOCK_MONOTONIC, &w->t0);
    if (done == total && w->progress == PROGRESS_BAR)
        fputc('\n', stderr);
    return 0;
}

/* After each chunk (not a pause): its time for --json, and the progress: a line for logs, or a
 * bar with the time left estimated from the chunks done. */
static int on_audio(void *user, const kt_tts_chunk *c)
{
    static const char full[] = "##############################", empty[] = "..............................";
    watch *w = user;
    struct timespec ts;
    if (c->n_tokens == 0 || !cJSON_AddItemToArray(w->chunk_seconds, cJSON_CreateNumber(c->seconds)))
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double el = (double)(ts.tv_sec - w->t0.tv_sec) + (ts.tv_nsec - w->t0.tv_nsec) * 1e-9;
    double audio = (double)(c->offset + c->n_samples) / KT_SAMPLE_RATE;
    size_t done = c->index + 1;
    int fill = (int)(done * 30 / c->count);
    if (w->progress == PROGRESS_PLAIN)
        fprintf(stderr, "kt-synth: chunk %zu/%zu: %d phonemes, %.2f s of audio so far, %.2f s elapsed\n", done,
                c->count, c->n_tokens - 2, audio, el);
    else if (w->progress == PROGRESS_BAR)
        fprintf(stderr, "\rkt-synth: [%.*s%.*s] %zu/%zu chunks, %.1f s of audio, %.0f s left ", fill, full, 30 - fill,
                empty, done, c->count, audio, el * (double)(c->count - done) / (double)done);
    return 0;
}

static void on_warning(void *user, const char *msg)
{
    char shown[1024]; /* the warning may quote the input: escaped, one line */
    (void)user;
    kt_escape_text(shown, sizeof shown, msg, strlen(msg));
    fprintf(stderr, "kt-synth: warning: %s\n", shown);
}

/* 0 when f was written and flushed; else a message naming it and EXIT_OUTPUT. */
static int flushed(FILE *f)
{
    if (fflush(f) == 0 && !ferror(f))
        return 0;
    fprintf(stderr, "kt-synth: %s: write failed: %s\n", f == stdout ? "stdout" : "stderr", strerror(errno));
    return EXIT_OUTPUT;
}

static int print_summary(const options *o, const kt_tts_stats *st, const watch *w)
{
    double dur = (double)st->samples / KT_SAMPLE_RATE, secs = st->synthesis_seconds;
    struct rusage ru;
    cJSON *j = cJSON_CreateObject();
    const char *keys[] = {"output", "voice", "lang", "compute", "format"},
               *strs[] = {o->output, o->voice, st->lang, o->tp.bf16 ? "bf16" : "f32", st->format};
    for (size_t i = 0; i < 5; i++) /* lang is null for phonemes without --lang */
        cJSON_AddItemToObject(j, keys[i], strs[i] ? cJSON_CreateString(strs[i]) : cJSON_CreateNull());
    const char *names[] = {"sample_rate", "samples", "seconds", "chunks", "phonemes", "speed", "seed", "threads",
                           "load_seconds", "voice_seconds", "first_audio_seconds", "synthesis_seconds", "synthesis_cpu_seconds",
                           "realtime_factor", "output_rate", "output_samples"};
    double values[] = {KT_SAMPLE_RATE, (double)st->samples, dur, (double)st->chunks, (double)st->phonemes, o->speed,
                       o->seed, o->threads, st->load_seconds + st->voice_seconds, st->voice_seconds, st->first_audio_seconds, secs,
                       st->synthesis_cpu_seconds, dur > 0 ? secs / dur : 0.0, st->output_rate,
                       (double)st->output_samples};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        cJSON_AddNumberToObject(j, names[i], values[i]);
    cJSON_AddItemReferenceToObject(j, "chunk_seconds", w->chunk_seconds);
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cJSON_AddNumberToObject(j, "peak_rss_bytes", (double)ru.ru_maxrss * 1024.0);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text)
        return fprintf(stderr, "kt-synth: out of memory\n"), EXIT_OUTPUT;
    FILE *f = strcmp(o->output, "-") ? stdout : stderr; /* stdout carries the audio when streaming */
    fprintf(f, "%s\n", text);
    free(text);
    return flushed(f);
}

/* Prints err and gives the exit status for st (model: whether the model was being opened). */
static int fail(kt_status st, const kt_error *e, int model)
{
    fprintf(stderr, "kt-synth: %s\n", e->msg);
    return st == KT_ENOMEM || (st == KT_EIO && !model) ? EXIT_OUTPUT : model ? EXIT_MODEL : EXIT_INPUT;
}

static int run(options *o)
{
    kt_tts *tts = NULL;
    kt_tts_stats stats;
    kt_error e;
    if (!o->tp.model_path && !(o->tp.model_path = getenv("KT_MODEL")))
        o->tp.model_path = "";
    if (!*o->tp.model_path)
        return fail_usage("no model: give -m kokoro-v1_0.pth or set KT_MODEL", NULL);
    o->tp.n_threads = (int)o->threads;
    o->tp.single_caller = 1; /* one synthesis: free weights during long chunks */
    kt_status st = kt_tts_open(&o->tp, &tts, &e);
    if (st)
        return fail(st, &e, 1);
    st = kt_tts_write_file(tts, o->text, o->voice, &o->sp, o->output, o->durations, &stats, &e);
    kt_tts_close(tts);
    if (st)
        return fail(st, &e, 0);
    int rc = o->json ? print_summary(o, &stats, o->sp.user) : 0;
    if (rc && strcmp(o->output, "-")) { /* no output of a failed run stays behind */
        kt_output_remove(o->output);
        if (o->durations)
            kt_output_remove(o->durations);
    }
    return rc;
}

static int print_phonemes(const options *o)
{
    kt_error e;
    char *out = NULL;
    kt_status st = kt_tts_phonemes(o->tp.config_path, o->text, o->voice, &o->sp, &out, &e);
    if (st)
        return fail(st, &e, 0);
    fputs(out, stdout);
    kt_free(out);
    return flushed(stdout);
}

int main(int argc, char **argv)
{
    if (kt_batch_wanted(argc, argv))
        return kt_batch_main(argc, argv);
    options o = {kt_tts_default_params(), kt_tts_default_synth_params(), "af_heart", NULL, NULL, NULL, NULL, 0, 0,
                 0, PROGRESS_AUTO, 0, 1.0, 0, 0, 0, 0, NULL};
    if (kt_version_asked(argc, argv))
        return printf("kt-synth %s\n", kt_version()) < 0 || fflush(stdout) ? EXIT_OUTPUT : 0;
    int rc = parse_args(argc, argv, &o);
    int auto_progress = isatty(2) ? PROGRESS_BAR : PROGRESS_NONE;
    watch w = {o.quiet ? PROGRESS_NONE : o.progress == PROGRESS_AUTO ? auto_progress : o.progress, {0, 0},
               cJSON_CreateArray()};
    if (!rc && !o.text)
        rc = get_text(&o);
    if (!rc) {
        o.sp.speed = (float)o.speed;
        o.sp.seed = (uint32_t)o.seed;
        o.sp.first_chunk = (int)o.first_chunk;
        o.sp.on_audio = on_audio;
        o.sp.on_progress = on_progress;
        o.sp.on_warning = o.quiet ? NULL : on_warning;
        o.sp.user = &w;
        rc = o.print_phonemes ? print_phonemes(&o) : run(&o);
    }
    cJSON_Delete(w.chunk_seconds);
    free(o.text);
    kt_error e;
    if (kt_stdout_close(&e) && !rc) {
        fprintf(stderr, "kt-synth: stdout: %s\n", e.msg);
        rc = EXIT_OUTPUT;
    }
    return rc;
}
