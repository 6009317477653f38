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
#include "kt/config.h"
#include "kt/g2p.h"
#include "kt/io.h"
#include "kt/kokoro.h"
#include "kt/markup.h"
#include "kt/voice.h"
#include "kt/version.h"

static const char usage[] =
    "usage: kt-synth [-m MODEL] [-c config.json] [-v VOICE] [--voices DIR] -o OUT [options] [TEXT...]\n"
    "\n"
    "Turn text (or Kokoro phonemes) into 24 kHz mono speech with the Kokoro-82M weights, in C.\n"
    "Text comes from the arguments, else from -f FILE, else from stdin. Long text is split at\n"
    "sentence and clause punctuation into chunks of at most 510 phonemes and the audio joined.\n"
    "\n"
    "options:\n"
    "  -m, --model FILE     weights, e.g. kokoro-v1_0.pth (default: $KT_MODEL)\n"
    "  -c, --config FILE    the model's config.json (default: the built-in Kokoro v1.0 config)\n"
    "  -v, --voice VOICE    a voice name looked up in --voices (af_heart), a voice file, or a blend\n"
    "                       expression as kt-blend takes it ('af_heart:0.6 am_adam:0.4'); default af_heart\n"
    "      --voices DIR     folder of voice packs (default: $KT_VOICES, else ./voices)\n"
    "  -o, --output FILE    the format from the extension: .wav (16-bit PCM), .flac, .ogg (Vorbis),\n"
    "                       .opus, .mp3, .pcm or .raw (s16le), .f32 (f32le); '-' streams to stdout\n"
    "                       (wav unless --format says pcm, pcm-f32, wav-f32, opus or mp3), chunk by\n"
    "                       chunk as each is synthesized\n"
    "      --format NAME    wav, wav-f32, flac, vorbis, opus, mp3, pcm, pcm-f32 (overrides the extension)\n"
    "      --rate HZ        output sample rate 8000..48000 (default 24000), resampled with libsoxr;\n"
    "                       opus takes 8000, 12000, 16000, 24000, 48000; mp3 also 11025, 22050,\n"
    "                       32000, 44100\n"
    "  -f, --file FILE      read the text from FILE ('-' for stdin)\n"
    "      --phonemes       the input is Kokoro phonemes, not text (no G2P)\n"
    "      --ssml           the input is SSML (default: when it starts with <speak>); else plain text\n"
    "                       where [pause:0.5s] or [pause:300ms] is a pause (docs/markup.md)\n"
    "      --no-markup      read the input as it is: no SSML, no [pause:...]\n"
    "      --lang LANG      en-us, en-gb, es, fr, hi, it, pt-br, ja, zh, or another espeak-ng language\n"
    "                       (default: from the voice's first letter: a en-us, b en-gb, e es, f fr,\n"
    "                       h hi, i it, j ja, p pt-br, z zh)\n"
    "      --print-phonemes print the phonemes, one chunk per line, and exit (no model needed)\n"
    "      --speed X        speaking rate, > 0 (default 1.0; 1.2 is faster)\n"
    "      --seed N         seed of the source noise (default 0); same input + seed = same bytes\n"
    "      --durations FILE write each phoneme's start and end in seconds as JSON\n"
    "      --threads N      threads (default: OpenBLAS's own choice, and all CPUs for kt's kernels)\n"
    "      --bf16           convolutions in bfloat16 (AVX512_BF16 dot products; ~2x faster, SNR ~40 dB\n"
    "                       against float32 compute; ignored on CPUs without them)\n"
    "      --first-chunk N  low latency when streaming: cut the first chunk at a word boundary after at\n"
    "                       most N phonemes (punctuation preferred), so the first audio comes sooner;\n"
    "                       the audio then has a chunk boundary there (default 0: off)\n"
    "      --progress=MODE  bar (a bar with the time left), plain (a line per chunk, for logs) or none;\n"
    "                       default auto: bar when stderr is a terminal, else none\n"
    "  -q, --quiet          no progress and no warnings (errors are still printed)\n"
    "      --json           print a JSON summary on stdout (on stderr with -o -): samples, seconds,\n"
    "                       chunks, load_seconds, first_audio_seconds (from the start of synthesis to\n"
    "                       the first chunk's samples), synthesis_seconds and synthesis_cpu_seconds\n"
    "                       (all threads), realtime_factor, chunk_seconds, peak_rss_bytes, threads,\n"
    "                       compute\n"
    "  -h, --help           this help\n"
    "      --version        print the version and exit\n"
    "\n"
    "examples:\n"
    "  kt-synth -m kokoro-v1_0.pth -c config.json --voices voices -v af_heart -o out.wav \"Hello world.\"\n"
    "  export KT_MODEL=$PWD/kokoro-v1_0.pth KT_VOICES=$PWD/voices\n"
    "  kt-synth -v bf_emma -f chapter.txt -o chapter.flac --durations chapter.json\n"
    "  echo \"Streaming to a player.\" | kt-synth -v af_heart --first-chunk 16 -o - | aplay\n"
    "  kt-synth -v 'af_heart:0.7 am_adam:0.3' --speed 1.1 -o mix.ogg \"Blended voices.\"\n"
    "  kt-synth --phonemes -v af_heart -o p.wav \"həlˈO wˈɜɹld\"\n"
    "  kt-synth --print-phonemes --lang fr \"Bonjour tout le monde.\"\n"
    "\n"
    "exit status: 0 success; 1 bad input (empty text, text without words, a phoneme outside the\n"
    "vocabulary, unknown voice or language, unreadable text file, invalid SSML or a markup limit);\n"
    "2 bad command line (an unknown --format, a --rate the format does not take); 3 output\n"
    "error or out of memory; 4 the weights or config are not Kokoro or do not match each other.\n";

enum { EXIT_INPUT = 1, EXIT_USAGE = 2, EXIT_OUTPUT = 3, EXIT_MODEL = 4 };
enum { PROGRESS_AUTO = 0, PROGRESS_BAR, PROGRESS_PLAIN, PROGRESS_NONE };

typedef struct {
    const char *model, *config, *voice, *voices, *output, *file, *lang, *durations, *format_name;
    int phonemes, print_phonemes, json, threads, bf16, first_chunk, rate, ssml, no_markup, quiet;
    int progress; /* PROGRESS_* */
    kt_audio_out_format format;
    double speed;
    uint32_t seed;
    char *text; /* owned */
} options;

static int fail_usage(const char *msg, const char *arg)
{
    if (arg)
        fprintf(stderr, "kt-synth: %s: %s\n", msg, arg);
    else
        fprintf(stderr, "kt-synth: %s\n", msg);
    fputs("try 'kt-synth --help'\n", stderr);
    return EXIT_USAGE;
}

static int parse_number(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static int parse_value_option(options *o, const char *a, const char *v)
{
    double x;
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
    else if (!strcmp(a, "-c") || !strcmp(a, "--config")) o->config = v;
    else if (!strcmp(a, "-v") || !strcmp(a, "--voice")) o->voice = v;
    else if (!strcmp(a, "--voices")) o->voices = v;
    else if (!strcmp(a, "-o") || !strcmp(a, "--output")) o->output = v;
    else if (!strcmp(a, "-f") || !strcmp(a, "--file")) o->file = v;
    else if (!strcmp(a, "--lang")) o->lang = v;
    else if (!strcmp(a, "--durations")) o->durations = v;
    else if (!strcmp(a, "--format")) o->format_name = v;
    else if (!strcmp(a, "--rate")) {
        if (parse_number(v, &x) || x < KT_AOUT_MIN_RATE || x > KT_AOUT_MAX_RATE || x != floor(x))
            return fail_usage("--rate must be an integer 8000..48000", v);
        o->rate = (int)x;
    }    else if (!strcmp(a, "--speed")) {
        if (parse_number(v, &o->speed) || o->speed <= 0)
            return fail_usage("--speed must be a number > 0", v);
    } else if (!strcmp(a, "--seed")) {
        if (parse_number(v, &x) || x < 0 || x > 4294967295.0 || x != floor(x))
            return fail_usage("--seed must be an integer 0..4294967295", v);
        o->seed = (uint32_t)x;
    } else if (!strcmp(a, "--threads")) {
        if (parse_number(v, &x) || x < 0 || x > 1024 || x != floor(x))
            return fail_usage("--threads must be an integer 0..1024", v);
        o->threads = (int)x;
    } else if (!strcmp(a, "--first-chunk")) {
        if (parse_number(v, &x) || x < 0 || x > KT_G2P_MAX_PHONEMES || x != floor(x))
            return fail_usage("--first-chunk must be an integer 0..510", v);
        o->first_chunk = (int)x;
    } else
        return -1;
    return 0;
}

static int takes_value(const char *a)
{
    static const char *const names[] = {"-m", "--model", "-c", "--config", "-v", "--voice", "--voices", "-o",
                                        "--output", "-f", "--file", "--lang", "--durations", "--speed", "--seed",
                                        "--threads", "--first-chunk", "--format", "--rate"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(a, names[i]))
            return 1;
    return 0;
}

static int is_flag(options *o, const char *a)
{
    if (!strcmp(a, "--phonemes")) o->phonemes = 1;
    else if (!strcmp(a, "--print-phonemes")) o->print_phonemes = 1;
    else if (!strcmp(a, "--json")) o->json = 1;
    else if (!strcmp(a, "--bf16")) o->bf16 = 1;
    else if (!strcmp(a, "--ssml")) o->ssml = 1;
    else if (!strcmp(a, "--no-markup")) o->no_markup = 1;
    else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) o->quiet = 1;
    else if (!strcmp(a, "--progress=auto")) o->progress = PROGRESS_AUTO;
    else if (!strcmp(a, "--progress=bar")) o->progress = PROGRESS_BAR;
    else if (!strcmp(a, "--progress=plain")) o->progress = PROGRESS_PLAIN;
    else if (!strcmp(a, "--progress=none")) o->progress = PROGRESS_NONE;
    else if (!strncmp(a, "--progress=", 11)) o->progress = -1;
    else return 0;
    return 1;
}

/* Appends s to the text being built from arguments (space-separated). */
static int text_append(options *o, const char *s)
{
    size_t old = o->text ? strlen(o->text) : 0, n = strlen(s);
    char *t = realloc(o->text, old + n + 2);
    if (!t)
        return -1;
    if (old)
        t[old++] = ' ';
    memcpy(t + old, s, n + 1);
    o->text = t;
    return 0;
}

/* 1 if the folder that would hold path exists and is writable. */
static int folder_writable(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return access(".", W_OK) == 0;
    if (slash == path)
        return access("/", W_OK) == 0;
    char *dir = strndup(path, (size_t)(slash - path));
    int ok = dir && access(dir, W_OK) == 0;
    free(dir);
    return ok;
}

/* The output format (--format, else the extension, else wav for stdout) and rate, checked. */
static int pick_format(options *o)
{
    kt_error e;
    int stdout_out = !strcmp(o->output, "-");
    if (o->format_name) {
        o->format = kt_audio_out_format_from_name(o->format_name);
        if (o->format == KT_AOUT_UNKNOWN)
            return fail_usage("unknown --format (use wav, wav-f32, flac, vorbis, opus, mp3, pcm or pcm-f32)",
                              o->format_name);
    } else {
        o->format = stdout_out ? KT_AOUT_WAV : kt_audio_out_format_from_path(o->output);
        if (o->format == KT_AOUT_UNKNOWN) {
            fprintf(stderr, "kt-synth: %s: unknown audio format (use .wav, .flac, .ogg, .opus, .mp3, .pcm, .raw, "
                            ".f32 or --format)\n", o->output);
            return EXIT_USAGE;
        }
    }
    if (!o->rate)
        o->rate = KT_SAMPLE_RATE;
    if (kt_audio_out_check_rate(o->format, o->rate, &e))
        return fail_usage(e.msg, NULL);
    if (stdout_out && (o->format == KT_AOUT_FLAC || o->format == KT_AOUT_VORBIS))
        return fail_usage("cannot stream this format to stdout (use wav, wav-f32, pcm, pcm-f32, opus or mp3)",
                          kt_audio_out_format_name(o->format));
    return 0;
}

static int parse_args(int argc, char **argv, options *o)
{
    int only_text = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_text || a[0] != '-' || !strcmp(a, "-")) {
            if (text_append(o, a))
                return fail_usage("out of memory", NULL);
            continue;
        }
        if (!strcmp(a, "--")) {
            only_text = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            exit(0);
        } else if (!is_flag(o, a)) {
            if (i + 1 >= argc)
                return fail_usage(takes_value(a) ? "option needs a value" : "unknown option", a);
            int r = parse_value_option(o, a, argv[i + 1]);
            if (r < 0)
                return fail_usage("unknown option", a);
            if (r > 0)
                return r;
            i++;
        }
    }
    if (o->progress < 0)
        return fail_usage("--progress takes auto, bar, plain or none", NULL);
    if (o->ssml && o->no_markup)
        return fail_usage("--ssml and --no-markup exclude each other", NULL);
    if (!o->print_phonemes && !o->output)
        return fail_usage("no output: give -o FILE (.wav, .flac, .ogg, .opus, .mp3, .pcm) or -o - for stdout", NULL);
    if (o->output && !o->print_phonemes) {
        int rc = pick_format(o);
        if (rc)
            return rc;
    }
    if (o->output && strcmp(o->output, "-") && !o->print_phonemes) {
        if (!folder_writable(o->output)) {
            fprintf(stderr, "kt-synth: %s: the folder does not exist or is not writable\n", o->output);
            return EXIT_OUTPUT;
        }
    }
    return 0;
}

/* Reads all of fp into a malloc'd NUL-terminated string. */
static char *read_all(FILE *fp)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *b = cap > ((size_t)1 << 30) ? NULL : realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                return NULL;
            }
            buf = b;
            cap *= 2;
        }
        size_t k = fread(buf + n, 1, cap - n - 1, fp);
        n += k;
        if (k == 0)
            break;
    }
    if (buf)
        buf[n] = '\0';
    return buf;
}

static int get_text(options *o)
{
    if (o->text)
        return 0;
    if (!o->file && isatty(0))
        return fail_usage("no text: give it as an argument, with -f FILE, or on stdin", NULL);
    FILE *fp = (!o->file || !strcmp(o->file, "-")) ? stdin : fopen(o->file, "rb");
    if (!fp) {
        fprintf(stderr, "kt-synth: %s: cannot open: %s\n", o->file, strerror(errno));
        return EXIT_INPUT;
    }
    o->text = read_all(fp);
    int bad = ferror(fp);
    if (fp != stdin)
        fclose(fp);
    if (!o->text || bad) {
        fprintf(stderr, "kt-synth: %s: cannot read the text\n", o->file ? o->file : "stdin");
        return o->text ? EXIT_INPUT : EXIT_OUTPUT;
    }
    return 0;
}

static int status_exit(kt_status st)
{
    return st == KT_ENOMEM || st == KT_EIO ? EXIT_OUTPUT : EXIT_INPUT;
}

/* ---- phonemes ------------------------------------------------------------------------------- */

static int has_words(const kt_chunk_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        if (kt_phonemes_has_words(l->items[i].phonemes))
            return 1;
    return 0;
}

/* Input phonemes: every symbol must be in the vocab; then chunked. */
static int phoneme_chunks(const options *o, const kt_config *cfg, kt_chunk_list *chunks)
{
    kt_error e;
    int *ids = NULL;
    size_t n = 0;
    char *flat = strdup(o->text);
    if (!flat)
        return fail_usage("out of memory", NULL);
    for (char *p = flat; *p; p++) /* line breaks separate chunks; they are not symbols */
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    kt_status st = kt_phonemes_to_ids(cfg, flat, &ids, &n, &e);
    free(flat);
    free(ids);
    if (st) {
        fprintf(stderr, "kt-synth: phonemes: %s\n", e.msg);
        return status_exit(st);
    }
    st = kt_phonemes_chunk(o->text, KT_G2P_MAX_PHONEMES, chunks, &e);
    if (st) {
        fprintf(stderr, "kt-synth: phonemes: %s\n", e.msg);
        return status_exit(st);
    }
    if (chunks->count == 0) {
        fprintf(stderr, "kt-synth: phonemes: empty input\n");
        return EXIT_INPUT;
    }
    if (!has_words(chunks)) {
        fprintf(stderr, "kt-synth: phonemes: nothing but punctuation\n");
        return EXIT_INPUT;
    }
    return 0;
}

static int split_first(const options *o, kt_chunk_list *chunks)
{
    kt_error e;
    kt_status st = kt_chunk_list_split_first(chunks, (size_t)o->first_chunk, &e);
    if (st)
        fprintf(stderr, "kt-synth: %s\n", e.msg);
    return st ? status_exit(st) : 0;
}

static int text_chunks(const options *o, const char *lang, const kt_config *cfg, kt_chunk_list *chunks)
{
    kt_error e;
    char *dropped = NULL;
    kt_status st = kt_g2p_text_chunks(o->text, lang, cfg, chunks, &dropped, &e);
    if (st) {
        if (o->file)
            fprintf(stderr, "kt-synth: %s: %s\n", o->file, e.msg);
        else
            fprintf(stderr, "kt-synth: %s\n", e.msg);
        return status_exit(st);
    }
    if (dropped && !o->quiet)
        fprintf(stderr, "kt-synth: warning: dropped what it cannot speak (another script, or not in the vocabulary): %s\n", dropped);
    free(dropped);
    return 0;
}

/* ---- markup --------------------------------------------------------------------------------- */

/* What the markup adds to each chunk: silence after it, a speed factor, a voice. */
typedef struct {
    double after; /* seconds of silence after the chunk */
    double speed; /* factor on --speed */
    char *voice;  /* the <voice name> in effect, owned; NULL: -v */
    int vi;       /* index of that voice in plan.loaded once loaded; -1: -v */
} plan_item;

typedef struct {
    double lead;       /* seconds of silence before the first chunk */
    plan_item *items;  /* one per chunk; NULL when the input has no markup */
    size_t n;
    kt_voice *loaded;  /* each voice <voice> names, loaded once */
    size_t n_loaded;
} plan;

static void plan_free(plan *pl)
{
    for (size_t i = 0; i < pl->n; i++)
        free(pl->items[i].voice);
    for (size_t i = 0; i < pl->n_loaded; i++)
        kt_voice_free(&pl->loaded[i]);
    free(pl->items);
    free(pl->loaded);
    memset(pl, 0, sizeof *pl);
}

/* Moves src's chunks to the end of dst, each with speed factor and voice (may be NULL). */
static int append_chunks(kt_chunk_list *dst, kt_chunk_list *src, plan *pl, double speed, const char *voice)
{
    size_t n = dst->count + src->count;
    kt_chunk *items = realloc(dst->items, (n ? n : 1) * sizeof *items);
    plan_item *pi = items ? realloc(pl->items, (n ? n : 1) * sizeof *pi) : NULL;
    if (items)
        dst->items = items;
    if (pi)
        pl->items = pi;
    for (size_t i = 0; pi && i < src->count; i++) {
        plan_item it = {.speed = speed, .vi = -1, .voice = voice ? strdup(voice) : NULL};
        dst->items[dst->count++] = src->items[i];
        src->items[i].phonemes = NULL;
        pl->items[pl->n++] = it;
        if (voice && !it.voice)
            pi = NULL;
    }
    kt_chunk_list_free(src);
    if (!pi) {
        fprintf(stderr, "kt-synth: out of memory\n");
        return EXIT_OUTPUT;
    }
    return 0;
}

/* 1 if s has a letter or digit (any non-ASCII byte counts): a segment worth phonemizing. */
static int has_word_chars(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p >= 0x80 || (*p >= '0' && *p <= '9') || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z'))
            return 1;
    return 0;
}

/* One text or phonemes segment to chunks appended to chunks. */
static int segment_chunks(const kt_segment *g, const char *lang, const kt_config *cfg, kt_chunk_list *chunks,
                          plan *pl, int quiet)
{
    kt_error e;
    kt_chunk_list part = {0};
    char *dropped = NULL;
    int *ids = NULL;
    size_t n;
    kt_status st;
    if (g->kind == KT_SEG_TEXT && !has_word_chars(g->text))
        return 0;
    if (g->kind == KT_SEG_PHONEMES) {
        st = kt_phonemes_to_ids(cfg, g->text, &ids, &n, &e);
        free(ids);
        if (!st)
            st = kt_phonemes_chunk(g->text, KT_G2P_MAX_PHONEMES, &part, &e);
    } else {
        st = kt_g2p_text_chunks(g->text, lang, cfg, &part, &dropped, &e);
    }
    if (st) {
        fprintf(stderr, "kt-synth: markup at bytes %zu..%zu: %s\n", g->start, g->end, e.msg);
        return status_exit(st);
    }
    if (dropped && !quiet)
        fprintf(stderr, "kt-synth: warning: dropped what it cannot speak (another script, or not in the vocabulary): %s\n", dropped);
    free(dropped);
    return append_chunks(chunks, &part, pl, g->rate, g->voice);
}

/* Text with markup (SSML or [pause:...]) to chunks, pauses and speeds. */
static int markup_chunks(const options *o, const char *lang, const kt_config *cfg, const kt_segment_list *segs,
                         kt_chunk_list *chunks, plan *pl)
{
    int rc = 0;
    for (size_t i = 0; i < segs->count && !rc; i++) {
        const kt_segment *g = &segs->items[i];
        if (g->kind == KT_SEG_PAUSE && chunks->count)
            pl->items[chunks->count - 1].after += g->seconds;
        else if (g->kind == KT_SEG_PAUSE)
            pl->lead += g->seconds;
        else if (g->kind == KT_SEG_TEXT || g->kind == KT_SEG_PHONEMES)
            rc = segment_chunks(g, lang, cfg, chunks, pl, o->quiet);
    }
    if (!rc && !has_words(chunks)) {
        fprintf(stderr, "kt-synth: no pronounceable words in the text\n");
        rc = EXIT_INPUT;
    }
    return rc;
}

/* Parses the markup; plain text without any goes the usual way (text_chunks). */
static int text_or_markup(const options *o, const char *lang, const kt_config *cfg, kt_chunk_list *chunks,
                          plan *pl)
{
    kt_error e;
    kt_segment_list segs;
    size_t len = strlen(o->text);
    kt_markup_mode mode = o->no_markup ? KT_MARKUP_NONE : o->ssml ? KT_MARKUP_SSML : KT_MARKUP_AUTO;
    kt_status st = kt_markup_parse(o->text, len, mode, &segs, &e);
    if (st) {
        fprintf(stderr, "kt-synth: %s: %s\n", o->file ? o->file : "markup", e.msg);
        return status_exit(st == KT_ENOMEM ? st : KT_EINVAL);
    }
    int ssml = mode == KT_MARKUP_SSML || (mode == KT_MARKUP_AUTO && kt_markup_is_ssml(o->text, len));
    int plain = mode == KT_MARKUP_NONE || (segs.count == 0 && !ssml) ||
                (segs.count == 1 && segs.items[0].kind == KT_SEG_TEXT && !strcmp(segs.items[0].text, o->text));
    int rc = plain ? text_chunks(o, lang, cfg, chunks) : markup_chunks(o, lang, cfg, &segs, chunks, pl);
    kt_segment_list_free(&segs);
    return rc;
}

/* After split_first made chunk 0 two chunks: the first half has no pause after it, the rest
 * of chunk 0's settings. */
static int plan_split_first(plan *pl, size_t count)
{
    if (!pl->items)
        return 0;
    plan_item *pi = realloc(pl->items, count * sizeof *pi);
    if (pi)
        pl->items = pi;
    char *voice = pi && pi[0].voice ? strdup(pi[0].voice) : NULL;
    if (!pi || (pi[0].voice && !voice)) {
        fprintf(stderr, "kt-synth: out of memory\n");
        return EXIT_OUTPUT;
    }
    memmove(pi + 1, pi, (count - 1) * sizeof *pi);
    pi[0].after = 0;
    pi[0].voice = voice;
    pl->n = count;
    return 0;
}

/* ---- voice ---------------------------------------------------------------------------------- */

/* Loads a voice name, file or blend expression into v. */
static int load_voice(const char *spec, const char *dir, kt_voice *v)
{
    kt_blend_expr ex = {0};
    kt_error e;
    const char *args[1] = {spec};
    kt_status st = kt_blend_parse(args, 1, &ex, &e);
    if (!st)
        st = kt_blend_weights(&ex, 1, &e);
    if (!st)
        st = kt_blend_resolve(&ex, dir, &e);
    if (!st)
        st = kt_blend_eval(&ex, v, &e);
    kt_blend_expr_free(&ex);
    if (st) {
        fprintf(stderr, "kt-synth: %s: %s\n", spec, e.msg);
        return st == KT_ENOMEM ? EXIT_OUTPUT : EXIT_INPUT;
    }
    return 0;
}

/* Loads each voice the markup names (once) and points its chunks at it. */
static int plan_voices(const options *o, const kt_model *m, plan *pl)
{
    const char *dir = o->voices ? o->voices : kt_voice_default_dir();
    for (size_t i = 0; i < pl->n; i++) {
        plan_item *it = &pl->items[i];
        for (size_t j = 0; it->voice && it->vi < 0 && j < i; j++)
            if (pl->items[j].voice && !strcmp(pl->items[j].voice, it->voice))
                it->vi = pl->items[j].vi;
        if (!it->voice || it->vi >= 0)
            continue;
        kt_voice *lv = realloc(pl->loaded, (pl->n_loaded + 1) * sizeof *lv);
        if (!lv) {
            fprintf(stderr, "kt-synth: out of memory\n");
            return EXIT_OUTPUT;
        }
        pl->loaded = lv;
        memset(&lv[pl->n_loaded], 0, sizeof *lv);
        int rc = load_voice(it->voice, dir, &lv[pl->n_loaded]);
        if (rc)
            return rc;
        it->vi = (int)pl->n_loaded++;
        if (lv[it->vi].dim != kt_model_style_size(m)) {
            fprintf(stderr, "kt-synth: %s: voice rows have %lld values but the model needs %d\n", it->voice,
                    (long long)lv[it->vi].dim, kt_model_style_size(m));
            return EXIT_INPUT;
        }
    }
    return 0;
}

/* ---- synthesis ------------------------------------------------------------------------------ */

typedef struct {
    size_t n;   /* samples at KT_SAMPLE_RATE so far */
    size_t out_frames; /* samples written at the output rate, known at the end */
    cJSON *dur; /* array of chunk objects, or NULL */
    kt_audio_writer *w;
    int streaming;
    double load_seconds;        /* config, voice and model ready to synthesize */
    double first_audio_seconds; /* start of synthesis to the first chunk's samples */
    double synthesis_cpu_seconds; /* process CPU time (all threads) spent synthesizing */
    double *chunk_seconds;      /* synthesis time of each chunk */
} sink;

static int sink_add(sink *s, const float *x, size_t n)
{
    kt_error e;
    if (kt_audio_writer_write(s->w, x, n, &e)) {
        fprintf(stderr, "kt-synth: %s: %s\n", s->streaming ? "-" : "output", e.msg);
        return EXIT_OUTPUT;
    }
    s->n += n;
    return 0;
}

/* Appends one chunk's timing to s->dur: each phoneme's [start, end) in seconds. */
static void add_durations(sink *s, const char *ps, const kt_synth_result *r, size_t offset)
{
    long frames = 0;
    for (int i = 0; i < r->n_tokens; i++)
        frames += r->durations[i];
    double spf = frames > 0 ? (double)r->n_samples / (double)frames : 0; /* samples per frame */
    double t0 = (double)offset / KT_SAMPLE_RATE;
    cJSON *c = cJSON_CreateObject(), *list = cJSON_CreateArray();
    cJSON_AddStringToObject(c, "phonemes", ps);
    cJSON_AddNumberToObject(c, "start", t0);
    cJSON_AddNumberToObject(c, "end", t0 + (double)r->n_samples / KT_SAMPLE_RATE);
    cJSON_AddItemToObject(c, "token_frames", cJSON_CreateIntArray(r->durations, r->n_tokens));
    cJSON_AddNumberToObject(c, "samples_per_frame", spf);
    long f = r->durations[0]; /* BOS frames come first */
    const unsigned char *p = (const unsigned char *)ps;
    for (int i = 1; i + 1 < r->n_tokens && *p; i++) {
        size_t len = 1;
        while (p[len] && (p[len] & 0xC0) == 0x80)
            len++;
        cJSON *ph = cJSON_CreateObject();
        char sym[8] = {0};
        memcpy(sym, p, len < 7 ? len : 7);
        cJSON_AddStringToObject(ph, "phoneme", sym);
        cJSON_AddNumberToObject(ph, "start", t0 + (double)f * spf / KT_SAMPLE_RATE);
        f += r->durations[i];
        cJSON_AddNumberToObject(ph, "end", t0 + (double)f * spf / KT_SAMPLE_RATE);
        cJSON_AddItemToArray(list, ph);
        p += len;
    }
    cJSON_AddItemToObject(c, "phoneme_times", list);
    cJSON_AddItemToArray(s->dur, c);
}

static int synth_chunk(kt_model *m, const kt_voice *v, const char *ps, const kt_synth_params *sp, sink *s)
{
    kt_error e;
    int *ids = NULL;
    size_t n = 0;
    kt_synth_result r = {0};
    kt_status st = kt_phonemes_to_ids(kt_model_config(m), ps, &ids, &n, &e);
    if (!st) {
        size_t row = kt_phonemes_voice_row(ps, (size_t)v->rows);
        st = kt_model_synthesize(m, ids + 1, (int)(n - 2), v->data + row * (size_t)v->dim, sp, &r, &e);
    }
    free(ids);
    if (st) {
        fprintf(stderr, "kt-synth: %s\n", e.msg);
        return status_exit(st);
    }
    if (s->dur)
        add_durations(s, ps, &r, s->n);
    int rc = sink_add(s, r.audio, r.n_samples);
    kt_synth_result_free(&r);
    return rc;
}

static int write_json_file(const char *path, cJSON *root)
{
    kt_error e;
    kt_atomic_file af;
    char *text = cJSON_Print(root);
    kt_status st = text ? kt_atomic_open(&af, path, &e) : kt_error_set(&e, KT_ENOMEM, "out of memory");
    if (!st) {
        st = kt_atomic_write(&af, text, strlen(text), &e);
        if (!st)
            st = kt_atomic_write(&af, "\n", 1, &e);
        st = st ? (kt_atomic_abort(&af), st) : kt_atomic_commit(&af, &e);
    }
    free(text);
    if (st) {
        fprintf(stderr, "kt-synth: %s: %s\n", path, e.msg);
        return EXIT_OUTPUT;
    }
    return 0;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of the whole process (every thread) so far. */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Appends seconds of silence. */
static int sink_silence(sink *s, double seconds)
{
    static const float zeros[4800];
    size_t n = (size_t)lround(seconds * KT_SAMPLE_RATE);
    for (size_t k; n > 0; n -= k) {
        k = n < 4800 ? n : 4800;
        int rc = sink_add(s, zeros, k);
        if (rc)
            return rc;
    }
    return 0;
}

/* Progress after chunk i of chunks (0-based) finished, t0 the start: a bar with the time left
 * (estimated from the phonemes done) or a line for logs. */
static void show_progress(int mode, const kt_chunk_list *chunks, size_t i, const sink *s, double t0)
{
    size_t total = 0, done = 0;
    for (size_t k = 0; k < chunks->count; k++) {
        total += chunks->items[k].n_symbols;
        if (k <= i)
            done += chunks->items[k].n_symbols;
    }
    double el = now_seconds() - t0, audio = (double)s->n / KT_SAMPLE_RATE;
    if (mode == PROGRESS_PLAIN) {
        fprintf(stderr, "kt-synth: chunk %zu/%zu: %zu phonemes, %.2f s of audio so far, %.2f s elapsed\n", i + 1,
                chunks->count, chunks->items[i].n_symbols, audio, el);
        return;
    }
    char bar[31];
    size_t fill = total ? done * 30 / total : 30;
    for (size_t k = 0; k < 30; k++)
        bar[k] = k < fill ? '#' : '.';
    bar[30] = '\0';
    double left = done ? el * (double)(total - done) / (double)done : 0;
    fprintf(stderr, "\rkt-synth: [%s] %zu/%zu chunks, %.1f s of audio, %.0f s left ", bar, i + 1, chunks->count,
            audio, left);
}

static int synth_all(const options *o, kt_model *m, const kt_voice *v, const kt_chunk_list *chunks, const plan *pl,
                     sink *s)
{
    kt_synth_params sp = kt_synth_default_params();
    kt_error e;
    int mode = o->quiet ? PROGRESS_NONE : o->progress == PROGRESS_AUTO ? (isatty(2) ? PROGRESS_BAR : PROGRESS_NONE)
                                                                       : o->progress;
    int progress = mode == PROGRESS_BAR;
    sp.speed = (float)o->speed;
    sp.seed = o->seed;
    kt_status st = s->streaming
                       ? kt_audio_writer_open_fd(1, o->format, KT_SAMPLE_RATE, o->rate, &s->w, &e)
                       : kt_audio_writer_open(o->output, o->format, KT_SAMPLE_RATE, o->rate, &s->w, &e);
    if (st) {
        fprintf(stderr, "kt-synth: %s: %s\n", o->output, e.msg);
        return EXIT_OUTPUT;
    }
    double t0 = now_seconds();
    if (pl->lead > 0 && sink_silence(s, pl->lead))
        return EXIT_OUTPUT;
    for (size_t i = 0; i < chunks->count; i++) {
        double tc = now_seconds();
        const plan_item *it = pl->items ? &pl->items[i] : NULL;
        sp.speed = (float)(o->speed * (it ? it->speed : 1.0));
        int rc = synth_chunk(m, it && it->vi >= 0 ? &pl->loaded[it->vi] : v, chunks->items[i].phonemes, &sp, s);
        if (!rc && it && it->after > 0)
            rc = sink_silence(s, it->after);
        if (s->chunk_seconds)
            s->chunk_seconds[i] = now_seconds() - tc;
        if (i == 0)
            s->first_audio_seconds = now_seconds() - t0;
        if (rc) {
            if (progress)
                fputc('\n', stderr);
            return rc;
        }
        if (mode != PROGRESS_NONE)
            show_progress(mode, chunks, i, s, t0);
    }
    if (progress)
        fputc('\n', stderr);
    return 0;
}

static int print_summary(const options *o, const char *lang, const kt_chunk_list *chunks, const sink *s,
                         double secs)
{
    size_t nsym = 0;
    for (size_t i = 0; i < chunks->count; i++)
        nsym += chunks->items[i].n_symbols;
    double dur = (double)s->n / KT_SAMPLE_RATE;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "output", o->output);
    cJSON_AddNumberToObject(j, "sample_rate", KT_SAMPLE_RATE);
    cJSON_AddNumberToObject(j, "samples", (double)s->n);
    cJSON_AddStringToObject(j, "format", kt_audio_out_format_name(o->format));
    cJSON_AddNumberToObject(j, "output_rate", o->rate);
    cJSON_AddNumberToObject(j, "output_samples", (double)s->out_frames);
    cJSON_AddNumberToObject(j, "seconds", dur);
    cJSON_AddNumberToObject(j, "chunks", (double)chunks->count);
    cJSON_AddNumberToObject(j, "phonemes", (double)nsym);
    cJSON_AddStringToObject(j, "voice", o->voice);
    if (lang)
        cJSON_AddStringToObject(j, "lang", lang);
    else
        cJSON_AddNullToObject(j, "lang");
    cJSON_AddNumberToObject(j, "speed", o->speed);
    cJSON_AddNumberToObject(j, "seed", o->seed);
    cJSON_AddNumberToObject(j, "threads", o->threads);
    cJSON_AddStringToObject(j, "compute", o->bf16 ? "bf16" : "f32");
    cJSON_AddNumberToObject(j, "load_seconds", s->load_seconds);
    cJSON_AddNumberToObject(j, "first_audio_seconds", s->first_audio_seconds);
    cJSON_AddNumberToObject(j, "synthesis_seconds", secs);
    cJSON_AddNumberToObject(j, "synthesis_cpu_seconds", s->synthesis_cpu_seconds);
    cJSON_AddNumberToObject(j, "realtime_factor", dur > 0 ? secs / dur : 0.0);
    cJSON *cs = cJSON_AddArrayToObject(j, "chunk_seconds");
    for (size_t i = 0; cs && s->chunk_seconds && i < chunks->count; i++)
        cJSON_AddItemToArray(cs, cJSON_CreateNumber(s->chunk_seconds[i]));
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cJSON_AddNumberToObject(j, "peak_rss_bytes", (double)ru.ru_maxrss * 1024.0);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text) {
        fprintf(stderr, "kt-synth: out of memory\n");
        return EXIT_OUTPUT;
    }
    FILE *f = s->streaming ? stderr : stdout; /* stdout carries the audio when streaming */
    fprintf(f, "%s\n", text);
    free(text);
    return fflush(f) == 0 ? 0 : EXIT_OUTPUT;
}

static int finish(const options *o, const char *lang, const kt_chunk_list *chunks, sink *s, double secs)
{
    kt_error e;
    kt_status st = kt_audio_writer_close(s->w, &s->out_frames, &e);
    s->w = NULL;
    if (st) {
        fprintf(stderr, "kt-synth: %s: %s\n", o->output, e.msg);
        return EXIT_OUTPUT;
    }
    if (o->durations) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddNumberToObject(root, "sample_rate", KT_SAMPLE_RATE);
        cJSON_AddItemReferenceToObject(root, "chunks", s->dur);
        int rc = write_json_file(o->durations, root);
        cJSON_Delete(root);
        if (rc)
            return rc;
    }
    if (o->json)
        return print_summary(o, lang, chunks, s, secs);
    return 0;
}

/* ---- main ----------------------------------------------------------------------------------- */

static int load_config(const options *o, kt_config *cfg)
{
    kt_error e;
    kt_status st = o->config ? kt_config_load(o->config, cfg, &e) : kt_config_default(cfg, &e);
    if (st) {
        fprintf(stderr, "kt-synth: %s: %s\n", o->config ? o->config : "built-in config", e.msg);
        return st == KT_ENOMEM ? EXIT_OUTPUT : EXIT_MODEL;
    }
    return 0;
}

static int load_model(const options *o, const kt_config *cfg, kt_model **m)
{
    kt_error e;
    const char *path = o->model ? o->model : getenv("KT_MODEL");
    if (!path || !*path)
        return fail_usage("no model: give -m kokoro-v1_0.pth or set KT_MODEL", NULL);
    kt_model_params mp = kt_model_default_params();
    mp.n_threads = o->threads;
    mp.bf16 = o->bf16;
    kt_status st = kt_model_load(path, cfg, &mp, m, &e);
    if (st) {
        fprintf(stderr, "kt-synth: %s: %s\n", path, e.msg);
        return st == KT_ENOMEM ? EXIT_OUTPUT : EXIT_MODEL;
    }
    return 0;
}

static int print_chunks(const kt_chunk_list *chunks, const plan *pl)
{
    if (pl->lead > 0)
        printf("[pause:%gs]\n", pl->lead);
    for (size_t i = 0; i < chunks->count; i++) {
        printf("%s\n", chunks->items[i].phonemes);
        if (pl->items && pl->items[i].after > 0)
            printf("[pause:%gs]\n", pl->items[i].after);
    }
    return fflush(stdout) == 0 ? 0 : EXIT_OUTPUT;
}

static int run(options *o)
{
    kt_config cfg = {0};
    kt_chunk_list chunks = {0};
    kt_model *m = NULL;
    kt_voice v = {0};
    sink s = {0};
    plan pl = {0};
    const char *lang = o->lang ? o->lang : kt_g2p_lang_for_voice(o->voice);
    int rc = get_text(o);
    if (!rc)
        rc = load_config(o, &cfg);
    if (rc)
        goto done;
    if (!o->phonemes && !lang) {
        fprintf(stderr, "kt-synth: %s: cannot tell the language from the voice name; give --lang\n", o->voice);
        rc = EXIT_INPUT;
        goto done;
    }
    rc = o->phonemes ? phoneme_chunks(o, &cfg, &chunks) : text_or_markup(o, lang, &cfg, &chunks, &pl);
    if (!rc && o->first_chunk > 0) {
        size_t before = chunks.count;
        rc = split_first(o, &chunks);
        if (!rc && chunks.count > before)
            rc = plan_split_first(&pl, chunks.count);
    }
    if (rc || o->print_phonemes) {
        if (!rc)
            rc = print_chunks(&chunks, &pl);
        goto done;
    }
    double tl = now_seconds();
    rc = load_voice(o->voice, o->voices ? o->voices : kt_voice_default_dir(), &v);
    if (!rc)
        rc = load_model(o, &cfg, &m);
    if (rc)
        goto done;
    s.load_seconds = now_seconds() - tl;
    if (!(s.chunk_seconds = calloc(chunks.count ? chunks.count : 1, sizeof *s.chunk_seconds))) {
        fprintf(stderr, "kt-synth: out of memory\n");
        rc = EXIT_OUTPUT;
        goto done;
    }
    if (v.dim != kt_model_style_size(m)) {
        fprintf(stderr, "kt-synth: %s: voice rows have %lld values but the model needs %d\n", o->voice,
                (long long)v.dim, kt_model_style_size(m));
        rc = EXIT_INPUT;
        goto done;
    }
    if ((rc = plan_voices(o, m, &pl)))
        goto done;
    s.streaming = !strcmp(o->output, "-");
    if (o->durations && !(s.dur = cJSON_CreateArray())) {
        rc = EXIT_OUTPUT;
        goto done;
    }
    double t0 = now_seconds(), c0 = cpu_seconds();
    rc = synth_all(o, m, &v, &chunks, &pl, &s);
    s.synthesis_cpu_seconds = cpu_seconds() - c0;
    if (!rc)
        rc = finish(o, o->phonemes ? o->lang : lang, &chunks, &s, now_seconds() - t0);
done:
    cJSON_Delete(s.dur);
    kt_audio_writer_abort(s.w);
    free(s.chunk_seconds);
    kt_voice_free(&v);
    kt_model_free(m);
    kt_chunk_list_free(&chunks);
    plan_free(&pl);
    kt_config_free(&cfg);
    return rc;
}

int main(int argc, char **argv)
{
    options o;
    memset(&o, 0, sizeof o);
    if (kt_version_asked(argc, argv)) {
        printf("kt-synth %s\n", kt_version());
        return 0;
    }
    o.speed = 1.0;
    o.voice = "af_heart";
    int rc = parse_args(argc, argv, &o);
    if (!rc)
        rc = run(&o);
    free(o.text);
    return rc;
}
