/* kt/tts_cli.h - what a command-line tool prints around kt_tts: progress on stderr (a bar with
 * the time left, or a line per chunk), warnings, and the JSON summary of one synthesis. */
#ifndef KT_TTS_CLI_H
#define KT_TTS_CLI_H

#include <stddef.h>
#include <time.h>

#include "kt/kt.h"

typedef enum { KT_TTS_PROGRESS_NONE, KT_TTS_PROGRESS_BAR, KT_TTS_PROGRESS_PLAIN } kt_tts_progress_mode;

/* The state of the callbacks below, their `user`. Start with {tool, mode}; free with
 * kt_tts_watch_free. */
typedef struct {
    const char *tool;          /* the prefix of every line ("kt-synth") */
    kt_tts_progress_mode mode;
    struct timespec t0;        /* when the synthesis started */
    double *chunk_seconds;     /* each chunk's seconds of audio (not the pauses'), malloc'd */
    size_t n_chunks, cap;
    int keep_words;            /* 1: attach also collects the words for the summary */
    struct cJSON *words;       /* the words so far (an array), or NULL */
} kt_tts_watch;

/* The progress mode named name ("bar", "plain" or "none"; NULL: bar when stderr is a terminal,
 * else none), or none when quiet. Returns -1 for another name, else 0. */
int kt_tts_progress_choose(const char *name, int quiet, kt_tts_progress_mode *mode);

/* kt_tts_progress_fn: notes the start; ends the bar's line after the last chunk. */
int kt_tts_watch_progress(void *user, size_t done, size_t total);

/* kt_tts_audio_fn: records the chunk's seconds and prints the progress after it (nothing for a
 * pause, nor when the record cannot grow). Never stops the synthesis. */
int kt_tts_watch_audio(void *user, const kt_tts_chunk *c);

/* kt_tts_warning_fn: "TOOL: warning: MESSAGE" on stderr, the message escaped to one line. */
void kt_tts_watch_warning(void *user, const char *message);

/* kt_tts_words_fn: appends the words to w->words (as in the durations JSON). */
int kt_tts_watch_words(void *user, const kt_tts_word *words, size_t n);

/* Points p's callbacks at those above with w as their user (on_warning only if warnings,
 * on_words only if w->keep_words). */
void kt_tts_watch_attach(kt_tts_watch *w, kt_tts_synth_params *p, int warnings);

void kt_tts_watch_free(kt_tts_watch *w);

/* What the summary says besides the stats: the tool's own settings. */
typedef struct {
    const char *output, *voice; /* voice may be NULL */
    int bf16;
    double speed, seed, threads;
} kt_tts_run_info;

/* The JSON summary of one synthesis on one line, without a newline: output, voice, lang, compute,
 * format, the counts, settings and times (load_seconds counts the voice's loading too),
 * realtime_factor, output_rate, output_samples, chunk_seconds (from w), peak_rss_bytes and, when
 * w kept them, words.
 * Malloc'd (free()); NULL when out of memory. */
char *kt_tts_summary_json(const kt_tts_run_info *info, const kt_tts_stats *st, const kt_tts_watch *w);

/* Prints kt_tts_summary_json and a newline on stdout, or on stderr when info->output is "-"
 * (stdout carries the audio), and flushes it. Returns 0, or KT_EXIT_OUTPUT after a one-line
 * message "TOOL: ..." when out of memory or the write fails. */
int kt_tts_print_summary(const char *tool, const kt_tts_run_info *info, const kt_tts_stats *st,
                         const kt_tts_watch *w);

/* Prints "TOOL: MESSAGE" for a failed kt_tts call and returns the exit status (docs/cli.md):
 * KT_EXIT_OUTPUT when out of memory or, after the model was opened (opening 0), on KT_EIO;
 * else KT_EXIT_MODEL while opening the model, KT_EXIT_INPUT after. */
int kt_tts_fail(const char *tool, kt_status st, const kt_error *e, int opening);

#endif
