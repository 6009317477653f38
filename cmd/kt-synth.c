/* kt-synth - text or Kokoro phonemes to 24 kHz speech with the Kokoro-82M weights. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kt/audio_out.h"
#include "kt/cli.h"
#include "kt/io.h"
#include "kt/kt.h"
#include "kt/strbuf.h"
#include "kt/tts_cli.h"
#include "kt/version.h"

#include "batch/batch_main.h"

static const char usage_head[] =
    "usage: kt-synth [-m MODEL] [-c config.json] [-v VOICE] [--voices DIR] -o OUT [options] [TEXT...]\n\n"
    "Turn text (or Kokoro phonemes) into 24 kHz mono speech with the Kokoro-82M weights, in C.\n"
    "Text comes from the arguments or from -f FILE (not both), else from stdin ('-' too); '--'\n"
    "ends the options. Long text is split at sentence and clause punctuation into chunks of at\n"
    "most 510 phonemes and the audio joined; a chunk that would make more than 45 s of audio is\n"
    "synthesized in parts cut at a space (memory stays bounded).\n\noptions:\n";

static const char usage_tail[] =
    "\nexamples:\n"
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
    "\nexit status: 0 success; 1 bad input (empty text, text without words, a phoneme outside the\n"
    "vocabulary, unknown voice or language, unreadable text file, invalid SSML or a markup limit); 2 bad command line; 3 output\n"
    "error or out of memory; 4 the weights or config are not Kokoro or do not match each other.\n";


/* The options in the order of the help; --batch and --version are handled before parsing. */
enum { O_MODEL, O_CONFIG, O_VOICE, O_VOICES, O_OUTPUT, O_FORMAT, O_RATE, O_FILE, O_PHONEMES, O_SSML, O_NO_MARKUP,
       O_LANG, O_PRINT, O_LEXICON, O_SPEED, O_SEED, O_DURATIONS, O_SRT, O_VTT, O_SENTENCE_GAP, O_PARAGRAPH_GAP,
       O_THREADS, O_BF16, O_BF16_WINOGRAD, O_FIRST_CHUNK, O_JSON,
       O_PROGRESS, O_QUIET, O_BATCH, O_HELP, O_VERSION, N_OPTIONS };

static const kt_cli_option option_table[N_OPTIONS] = {
    {"-m", "--model", KT_CLI_VALUE, "FILE", "weights, e.g. kokoro-v1_0.pth (default: $KT_MODEL)"},
    {"-c", "--config", KT_CLI_VALUE, "FILE", "the model's config.json (default: the built-in Kokoro v1.0 config)"},
    {"-v", "--voice", KT_CLI_VALUE, "VOICE", "a voice name looked up in --voices, then among the voices embedded in\n"
     "MODEL (af_heart), a voice file or FILE:MEMBER, or a blend\n"
     "expression as kt-blend takes it ('af_heart:0.6 am_adam:0.4'); default af_heart"},
    {NULL, "--voices", KT_CLI_VALUE, "DIR", "folder of voice packs (default: $KT_VOICES, else ./voices)"},
    {"-o", "--output", KT_CLI_VALUE, "FILE", ".wav (16-bit PCM), .flac, .ogg (Vorbis), .opus, .mp3, .pcm/.raw (s16le) or\n"
     ".f32 (f32le); '-' streams to stdout (WAV unless --format) chunk by chunk"},
    {NULL, "--format", KT_CLI_VALUE, "FMT", "wav, wav-f32, flac, vorbis, opus, mp3, pcm or pcm-f32 (default: from -o)"},
    {NULL, "--rate", KT_CLI_VALUE, "HZ", "output sample rate, 8000..48000, resampled (default 24000; opus and mp3 take\n"
     "only their own rates; docs/audio.md)"},
    {"-f", "--file", KT_CLI_VALUE, "FILE", "read the text from FILE ('-' for stdin)"},
    {NULL, "--phonemes", KT_CLI_FLAG, NULL, "the input is Kokoro phonemes, not text (no G2P)"},
    {NULL, "--ssml", KT_CLI_FLAG, NULL, "the input is SSML (default: when it starts with <speak>); else plain text\n"
     "where [pause:0.5s] or [pause:300ms] is a pause (docs/markup.md)"},
    {NULL, "--no-markup", KT_CLI_FLAG, NULL, "read the input as it is: no SSML, no [pause:...]"},
    {NULL, "--lang", KT_CLI_VALUE, "LANG", "en-us, en-gb, es, fr, hi, it, pt-br, ja, zh, or another espeak-ng language\n"
     "(default: from the voice's first letter: a en-us, b en-gb, e es, f fr,\nh hi, i it, j ja, p pt-br, z zh)"},
    {NULL, "--print-phonemes", KT_CLI_FLAG, NULL, "print the phonemes, one chunk per line, and exit (no model needed)"},
    {NULL, "--lexicon", KT_CLI_VALUE, "FILE", "English: extra entries, one 'word<TAB>phonemes' a line, over the built-in\n"
     "lexicon (text may also say [word](/phonemes/) inline)"},
    {NULL, "--speed", KT_CLI_VALUE, "X", "speaking rate, 0.1..10 (default 1.0; 1.2 is faster)"},
    {NULL, "--seed", KT_CLI_VALUE, "N", "seed of the source noise (default 0); same input + seed = same bytes"},
    {NULL, "--durations", KT_CLI_VALUE, "FILE", "write each phoneme's and each word's start and end in seconds as JSON"},
    {NULL, "--srt", KT_CLI_VALUE, "FILE", "write subtitles (SubRip) from the word timings"},
    {NULL, "--vtt", KT_CLI_VALUE, "FILE", "write subtitles (WebVTT) from the word timings"},
    {NULL, "--sentence-gap", KT_CLI_VALUE, "S", "seconds of silence between sentences, 0..60, in place of the model's"},
    {NULL, "--paragraph-gap", KT_CLI_VALUE, "S", "seconds of silence between paragraphs (a blank line), 0..60"},
    {NULL, "--threads", KT_CLI_VALUE, "N", "threads (default: OpenBLAS's own choice, and all CPUs for kt's kernels)"},
    {NULL, "--bf16", KT_CLI_FLAG, NULL, "convolutions in bfloat16 where the CPU has AVX512_BF16, on AMX tiles where\n"
     "it has them (faster, SNR ~40 dB)"},
    {NULL, "--bf16-winograd", KT_CLI_FLAG, NULL, "--bf16, and the generator's kernel-7/11 convolutions by Winograd in\n"
     "bfloat16 (~1.3x faster than --bf16, generator SNR ~27 dB); on AMX tiles: as --bf16"},
    {NULL, "--first-chunk", KT_CLI_VALUE, "N", "low latency when streaming: cut the first chunk at a word boundary after at\n"
     "most N phonemes, so the first audio comes sooner (default 0: off)"},
    {NULL, "--json", KT_CLI_FLAG, NULL, "print a JSON summary on stdout (on stderr with -o -): samples, seconds,\n"
     "format, output_rate, output_samples, chunks, the times (load, first audio,\n"
     "synthesis, CPU of all threads), realtime_factor, peak_rss_bytes, words, ..."},
    {NULL, "--progress", KT_CLI_ATTACHED, "MODE", "bar (a bar with the time left), plain (a line per chunk, for logs) or none;\n"
     "default: bar when stderr is a terminal, else none"},
    {"-q", "--quiet", KT_CLI_FLAG, NULL, "no progress and no warnings (errors are still printed)"},
    {NULL, "--batch", KT_CLI_VALUE, "JOBS", "many utterances with one model load (see kt-synth --batch --help)"},
    {"-h", "--help", KT_CLI_FLAG, NULL, "this help"},
    {NULL, "--version", KT_CLI_FLAG, NULL, "print the version and exit"},
};

static const kt_cli_number_rule number_rules[N_OPTIONS] = {
    [O_SPEED] = {KT_TTS_SPEED_MIN, KT_TTS_SPEED_MAX, 0, "--speed must be a number in 0.1..10"},
    [O_SEED] = {0, 4294967295.0, 1, "--seed must be an integer 0..4294967295"},
    [O_THREADS] = {0, 1024, 1, "--threads must be an integer 0..1024"},
    [O_FIRST_CHUNK] = {0, 510, 1, "--first-chunk must be an integer 0..510"},
    [O_RATE] = {KT_TTS_RATE_MIN, KT_TTS_RATE_MAX, 1, "--rate must be an integer 8000..48000"},
    [O_SENTENCE_GAP] = {0, KT_TTS_GAP_MAX, 0, "--sentence-gap must be a number of seconds in 0..60"},
    [O_PARAGRAPH_GAP] = {0, KT_TTS_GAP_MAX, 0, "--paragraph-gap must be a number of seconds in 0..60"},
};

typedef struct {
    kt_tts_params tp;        /* model, config, voices, --bf16 */
    kt_tts_synth_params sp;  /* --phonemes, --lang, the callbacks */
    const char *voice, *output, *file, *durations, *format, *progress;
    int print_phonemes, json, quiet, ssml, no_markup, bf16_winograd;
    double speed, seed, threads, first_chunk, rate, gap[2]; /* gap: sentence, paragraph; < 0: not given */
    kt_tts_watch watch; /* the callbacks' state */
    char *text;         /* owned */
} options;

static int fail_usage(const char *msg, const char *arg)
{
    kt_usage_error("kt-synth", msg, arg);
    return KT_EXIT_USAGE;
}

static void help(void)
{
    fputs(usage_head, stdout);
    kt_cli_print_options(stdout, option_table, N_OPTIONS, 23);
    fputs(usage_tail, stdout);
    exit(0);
}

/* Sets option k to v: a string, a flag, or a number that must follow its rule. */
static int set_option(options *o, int k, const char *v)
{
    const char **str[N_OPTIONS] = {[O_MODEL] = &o->tp.model_path, [O_CONFIG] = &o->tp.config_path,
                                   [O_VOICE] = &o->voice, [O_VOICES] = &o->tp.voices_dir, [O_OUTPUT] = &o->output,
                                   [O_FORMAT] = &o->format, [O_FILE] = &o->file, [O_LANG] = &o->sp.lang,
                                   [O_LEXICON] = &o->sp.lexicon, [O_DURATIONS] = &o->durations,
                                   [O_PROGRESS] = &o->progress, [O_SRT] = &o->sp.srt_path,
                                   [O_VTT] = &o->sp.vtt_path};
    int *flag[N_OPTIONS] = {[O_PHONEMES] = &o->sp.phonemes, [O_PRINT] = &o->print_phonemes, [O_JSON] = &o->json,
                            [O_BF16] = &o->tp.bf16, [O_BF16_WINOGRAD] = &o->bf16_winograd, [O_SSML] = &o->ssml,
                            [O_NO_MARKUP] = &o->no_markup, [O_QUIET] = &o->quiet};
    double *num[N_OPTIONS] = {[O_RATE] = &o->rate, [O_SPEED] = &o->speed, [O_SEED] = &o->seed,
                              [O_THREADS] = &o->threads, [O_FIRST_CHUNK] = &o->first_chunk,
                              [O_SENTENCE_GAP] = &o->gap[0], [O_PARAGRAPH_GAP] = &o->gap[1]};
    if (k == O_HELP)
        help();
    if (str[k])
        *str[k] = v;
    else if (flag[k])
        *flag[k] = 1;
    else if (num[k] && kt_cli_number(v, &number_rules[k], num[k]))
        return fail_usage(number_rules[k].rule, v);
    return 0;
}

static int check_output(options *o)
{
    kt_error e;
    if (kt_tts_progress_choose(o->progress, o->quiet, &o->watch.mode))
        return fail_usage("--progress takes bar, plain or none", NULL);
    if (o->ssml && o->no_markup)
        return fail_usage("--ssml and --no-markup exclude each other", NULL);
    if (o->ssml || o->no_markup)
        o->sp.markup = o->ssml ? KT_TTS_MARKUP_SSML : KT_TTS_MARKUP_NONE;
    if (o->format && (o->sp.format = (int)kt_audio_out_format_from_name(o->format)) == KT_TTS_FORMAT_AUTO)
        return fail_usage("unknown --format (use wav, wav-f32, flac, vorbis, opus, mp3, pcm or pcm-f32)", o->format);
    o->sp.rate = (int)o->rate;
    o->sp.gaps = (o->gap[0] >= 0 ? KT_TTS_GAP_SENTENCE : 0) | (o->gap[1] >= 0 ? KT_TTS_GAP_PARAGRAPH : 0);
    o->sp.sentence_gap = o->gap[0], o->sp.paragraph_gap = o->gap[1];
    o->watch.keep_words = o->json;
    if (o->print_phonemes)
        return 0;
    if (!o->output)
        return fail_usage("no output: give -o FILE (.wav, .flac, .ogg, .opus, .mp3, .pcm) or -o - for stdout", NULL);
    kt_status st = kt_tts_output_check(&o->sp, o->output, o->durations, &e); /* before any work */
    if (st)
        kt_cli_fail("kt-synth", e.msg, 0);
    return st == KT_EINVAL ? KT_EXIT_USAGE : st ? KT_EXIT_OUTPUT : 0;
}

static int parse_args(int argc, char **argv, options *o)
{
    kt_cli_parser p = {argc, argv, 1, 0};
    const char *v;
    int k, rc;
    while ((k = kt_cli_next(&p, option_table, N_OPTIONS, &v)) != KT_CLI_END) {
        if (k == KT_CLI_OPERAND) { /* text words, joined by spaces */
            if (kt_cli_append_word(&o->text, v))
                return fail_usage("out of memory", NULL);
        } else if (k < 0) {
            return fail_usage(k == KT_CLI_UNKNOWN ? "unknown option" : "option needs a value", v);
        } else if ((rc = set_option(o, k, v))) {
            return rc;
        }
    }
    if (o->file && o->text)
        return fail_usage("give the text either as arguments or with -f FILE, not both", NULL);
    if (o->bf16_winograd)
        o->tp.bf16 = KT_BF16_WINOGRAD;
    if (o->text && !strcmp(o->text, "-")) { /* a lone '-' is stdin, like -f - */
        free(o->text);
        o->text = NULL;
        o->file = "-";
    }
    return check_output(o);
}

static int get_text(options *o)
{
    kt_error e;
    if (!o->file && isatty(0))
        return fail_usage("no text: give it as an argument, with -f FILE, or on stdin", NULL);
    kt_status st = kt_cli_read_text(o->file, &o->text, &e);
    return st ? kt_cli_fail("kt-synth", e.msg, st == KT_ENOMEM ? KT_EXIT_OUTPUT : KT_EXIT_INPUT) : 0;
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
        return kt_tts_fail("kt-synth", st, &e, 1);
    st = kt_tts_write_file(tts, o->text, o->voice, &o->sp, o->output, o->durations, &stats, &e);
    kt_tts_close(tts);
    if (st)
        return kt_tts_fail("kt-synth", st, &e, 0);
    kt_tts_run_info info = {o->output, o->voice, o->tp.bf16, o->speed, o->seed, o->threads};
    int rc = o->json ? kt_tts_print_summary("kt-synth", &info, &stats, &o->watch) : 0;
    if (rc && strcmp(o->output, "-")) { /* no output of a failed run stays behind */
        kt_output_remove(o->output);
        const char *also[] = {o->durations, o->sp.srt_path, o->sp.vtt_path};
        for (int i = 0; i < 3; i++)
            if (also[i])
                kt_output_remove(also[i]);
    }
    return rc;
}

static int print_phonemes(const options *o)
{
    kt_error e;
    char *out = NULL;
    kt_status st = kt_tts_phonemes(o->tp.config_path, o->text, o->voice, &o->sp, &out, &e);
    if (st)
        return kt_tts_fail("kt-synth", st, &e, 0);
    fputs(out, stdout);
    kt_free(out);
    return kt_cli_flush("kt-synth", stdout);
}

int main(int argc, char **argv)
{
    if (kt_batch_wanted(argc, argv))
        return kt_batch_main(argc, argv);
    options o = {.tp = kt_tts_default_params(), .sp = kt_tts_default_synth_params(), .voice = "af_heart",
                 .speed = 1.0, .gap = {-1, -1}, .watch = {.tool = "kt-synth"}};
    if (kt_version_asked(argc, argv))
        return printf("kt-synth %s\n", kt_version()) < 0 || fflush(stdout) ? KT_EXIT_OUTPUT : 0;
    int rc = parse_args(argc, argv, &o);
    if (!rc && !o.text)
        rc = get_text(&o);
    if (!rc) {
        o.sp.speed = (float)o.speed;
        o.sp.seed = (uint32_t)o.seed;
        o.sp.first_chunk = (int)o.first_chunk;
        kt_tts_watch_attach(&o.watch, &o.sp, !o.quiet);
        rc = o.print_phonemes ? print_phonemes(&o) : run(&o);
    }
    kt_tts_watch_free(&o.watch);
    free(o.text);
    kt_error e;
    if (kt_stdout_close(&e) && !rc) {
        fprintf(stderr, "kt-synth: stdout: %s\n", e.msg);
        rc = KT_EXIT_OUTPUT;
    }
    return rc;
}
