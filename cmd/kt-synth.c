/* kt-synth - text or Kokoro phonemes to 24 kHz speech with the Kokoro-82M weights. */
#include <cjson/cJSON.h>
#include <sys/resource.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kt/audio.h"
#include "kt/io.h"
#include "kt/kt.h"
#include "kt/strbuf.h"

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
    "  -o, --output FILE    .wav (16-bit PCM), .flac or .ogg (Vorbis); '-' streams WAV to stdout,\n"
    "                       chunk by chunk as each is synthesized\n"
    "  -f, --file FILE      read the text from FILE ('-' for stdin)\n"
    "      --phonemes       the input is Kokoro phonemes, not text (no G2P)\n"
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
    "      --bf16           convolutions in bfloat16 (AVX512_BF16 dot products; ~2x faster, SNR ~40 dB\n"
    "                       against float32 compute; ignored on CPUs without them)\n"
    "      --first-chunk N  low latency when streaming: cut the first chunk at a word boundary after at\n"
    "                       most N phonemes (punctuation preferred), so the first audio comes sooner;\n"
    "                       the audio then has a chunk boundary there (default 0: off)\n"
    "      --json           print a JSON summary on stdout (on stderr with -o -): samples, seconds,\n"
    "                       chunks, load_seconds, first_audio_seconds (from the start of synthesis to\n"
    "                       the first chunk's samples), synthesis_seconds and synthesis_cpu_seconds\n"
    "                       (all threads), realtime_factor, chunk_seconds, peak_rss_bytes, threads,\n"
    "                       compute\n"
    "      --batch JOBS     many utterances with one model load (see kt-synth --batch --help)\n"
    "  -h, --help           this help\n"
    "\n"
    "examples:\n"
    "  kt-synth -m kokoro-v1_0.pth --voices voices -v af_heart -o out.wav \"Hello world.\"\n"
    "  kt-synth -m kokoro-q8.safetensors -v af_heart -o out.wav \"Voices from kt-convert --voices.\"\n"
    "  export KT_MODEL=$PWD/kokoro-v1_0.pth KT_VOICES=$PWD/voices\n"
    "  kt-synth -v bf_emma -f chapter.txt -o chapter.flac --durations chapter.json\n"
    "  echo \"Streaming to a player.\" | kt-synth -v af_heart --first-chunk 16 -o - | aplay\n"
    "  kt-synth -v 'af_heart:0.7 am_adam:0.3' --speed 1.1 -o mix.ogg \"Blended voices.\"\n"
    "  kt-synth --phonemes -v af_heart -o p.wav \"həlˈO wˈɜɹld\"\n"
    "  kt-synth --print-phonemes --lang fr \"Bonjour tout le monde.\"\n"
    "\n"
    "exit status: 0 success; 1 bad input (empty text, text without words, a phoneme outside the\n"
    "vocabulary, unknown voice or language, unreadable text file); 2 bad command line; 3 output\n"
    "error or out of memory; 4 the weights or config are not Kokoro or do not match each other.\n";

enum { EXIT_INPUT = 1, EXIT_USAGE = 2, EXIT_OUTPUT = 3, EXIT_MODEL = 4 };

typedef struct {
    kt_tts_params tp;        /* model, config, voices, --bf16 */
    kt_tts_synth_params sp;  /* --phonemes, --lang, the callbacks */
    const char *voice, *output, *file, *durations;
    int print_phonemes, json;
    double speed, seed, threads, first_chunk;
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
                                            "--speed", "--seed", "--threads", "--first-chunk"};
enum { N_STRING_OPTIONS = 14, N_VALUE_OPTIONS = 18 };

static int value_index(const char *a)
{
    for (int i = 0; i < N_VALUE_OPTIONS; i++)
        if (!strcmp(a, value_options[i]))
            return i;
    return -1;
}

/* Sets value option i; a number must be an integer 0..max (max < 0: the speed, KT_TTS_SPEED_MIN..MAX). */
static int set_value(options *o, int i, const char *v)
{
    const char **str[] = {&o->tp.model_path, &o->tp.model_path, &o->tp.config_path, &o->tp.config_path, &o->voice,
                          &o->voice, &o->tp.voices_dir, &o->output, &o->output, &o->file, &o->file, &o->sp.lang,
                          &o->durations, &o->sp.lexicon};
    static const char *const rule[] = {"--speed must be a number in 0.1..10", "--seed must be an integer 0..4294967295",
                                       "--threads must be an integer 0..1024", "--first-chunk must be an integer 0..510"};
    static const double max[] = {-1, 4294967295.0, 1024, 510};
    double *num[] = {&o->speed, &o->seed, &o->threads, &o->first_chunk};
    if (i < N_STRING_OPTIONS)
        return *str[i] = v, 0;
    i -= N_STRING_OPTIONS;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(x) || (max[i] < 0 ? !(x >= KT_TTS_SPEED_MIN && x <= KT_TTS_SPEED_MAX) : x < 0 || x > max[i] || x != floor(x)))
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
    else return 0;
    return 1;
}

static int check_output(const options *o)
{
    if (!o->print_phonemes && !o->output)
        return fail_usage("no output: give -o FILE (.wav, .flac, .ogg) or -o - for stdout", NULL);
    if (!o->print_phonemes && strcmp(o->output, "-") && kt_audio_format_from_path(o->output) == KT_AUDIO_UNKNOWN)
        return fprintf(stderr, "kt-synth: %s: unknown audio format (use .wav, .flac or .ogg)\n", o->output), EXIT_USAGE;
    const char *paths[] = {o->print_phonemes || !strcmp(o->output, "-") ? NULL : o->output,
                           o->print_phonemes ? NULL : o->durations};
    for (size_t i = 0; i < 2; i++) { /* every output checked before any work (kt_output_check) */
        kt_error e;
        if (paths[i] && kt_output_check(paths[i], &e))
            return fprintf(stderr, "kt-synth: %s: %s\n", paths[i], e.msg), EXIT_OUTPUT;
    }
    return 0;
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
    int progress;         /* print chunk i/n on stderr */
    cJSON *chunk_seconds; /* each chunk's time, for --json */
} watch;

static int on_progress(void *user, size_t done, size_t total)
{
    if (((watch *)user)->progress && done < total)
        fprintf(stderr, "\rkt-synth: chunk %zu/%zu", done + 1, total);
    else if (((watch *)user)->progress)
        fputc('\n', stderr);
    return 0;
}

static int on_audio(void *user, const kt_tts_chunk *c)
{
    cJSON_AddItemToArray(((watch *)user)->chunk_seconds, cJSON_CreateNumber(c->seconds));
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
    const char *keys[] = {"output", "voice", "lang", "compute"}, *strs[] = {o->output, o->voice, st->lang,
                                                                             o->tp.bf16 ? "bf16" : "f32"};
    for (size_t i = 0; i < 4; i++) /* lang is null for phonemes without --lang */
        cJSON_AddItemToObject(j, keys[i], strs[i] ? cJSON_CreateString(strs[i]) : cJSON_CreateNull());
    const char *names[] = {"sample_rate", "samples", "seconds", "chunks", "phonemes", "speed", "seed", "threads",
                           "load_seconds", "first_audio_seconds", "synthesis_seconds", "synthesis_cpu_seconds",
                           "realtime_factor"};
    double values[] = {KT_SAMPLE_RATE, (double)st->samples, dur, (double)st->chunks, (double)st->phonemes, o->speed,
                       o->seed, o->threads, st->load_seconds + st->voice_seconds, st->first_audio_seconds, secs,
                       st->synthesis_cpu_seconds, dur > 0 ? secs / dur : 0.0};
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
    options o = {kt_tts_default_params(), kt_tts_default_synth_params(), "af_heart", NULL, NULL, NULL, 0, 0, 1.0,
                 0, 0, 0, NULL};
    watch w = {isatty(2), cJSON_CreateArray()};
    int rc = parse_args(argc, argv, &o);
    if (!rc && !o.text)
        rc = get_text(&o);
    if (!rc) {
        o.sp.speed = (float)o.speed;
        o.sp.seed = (uint32_t)o.seed;
        o.sp.first_chunk = (int)o.first_chunk;
        o.sp.on_audio = on_audio;
        o.sp.on_progress = on_progress;
        o.sp.on_warning = on_warning;
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
