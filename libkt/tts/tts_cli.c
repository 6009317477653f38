/* tts_cli.c - progress, warnings and the JSON summary a tool prints around kt_tts (see kt/tts_cli.h). */
#include "kt/tts_cli.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kt/cli.h"
#include "kt/grow.h"
#include "kt/strbuf.h"
#include "tts_impl.h"

int kt_tts_progress_choose(const char *name, int quiet, kt_tts_progress_mode *mode)
{
    static const char *const names[] = {"none", "bar", "plain"}; /* in kt_tts_progress_mode's order */
    int m = name ? -1 : isatty(2) ? KT_TTS_PROGRESS_BAR : KT_TTS_PROGRESS_NONE;
    for (int i = 0; name && i < 3; i++)
        if (strcmp(name, names[i]) == 0)
            m = i;
    if (m < 0)
        return -1;
    *mode = quiet ? KT_TTS_PROGRESS_NONE : (kt_tts_progress_mode)m;
    return 0;
}

int kt_tts_watch_progress(void *user, size_t done, size_t total)
{
    kt_tts_watch *w = user;
    if (done == 0)
        clock_gettime(CLOCK_MONOTONIC, &w->t0);
    if (done == total && w->mode == KT_TTS_PROGRESS_BAR)
        fputc('\n', stderr);
    return 0;
}

/* Appends seconds to w->chunk_seconds; -1 when it cannot grow. */
static int record(kt_tts_watch *w, double seconds)
{
    void *v = w->chunk_seconds;
    if (kt_grow(&v, &w->cap, w->n_chunks + 1, sizeof seconds))
        return -1;
    w->chunk_seconds = v;
    w->chunk_seconds[w->n_chunks++] = seconds;
    return 0;
}

/* The progress after a chunk: a line for logs, or a bar with the time left estimated from the
 * chunks done. */
int kt_tts_watch_audio(void *user, const kt_tts_chunk *c)
{
    static const char full[] = "##############################", empty[] = "..............................";
    kt_tts_watch *w = user;
    struct timespec ts;
    if (c->n_tokens == 0 || record(w, c->seconds))
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double el = (double)(ts.tv_sec - w->t0.tv_sec) + (ts.tv_nsec - w->t0.tv_nsec) * 1e-9;
    double audio = (double)(c->offset + c->n_samples) / KT_SAMPLE_RATE;
    size_t done = c->index + 1;
    int fill = (int)(done * 30 / c->count);
    if (w->mode == KT_TTS_PROGRESS_PLAIN)
        fprintf(stderr, "%s: chunk %zu/%zu: %d phonemes, %.2f s of audio so far, %.2f s elapsed\n", w->tool, done,
                c->count, c->n_tokens - 2, audio, el);
    else if (w->mode == KT_TTS_PROGRESS_BAR)
        fprintf(stderr, "\r%s: [%.*s%.*s] %zu/%zu chunks, %.1f s of audio, %.0f s left ", w->tool, fill, full,
                30 - fill, empty, done, c->count, audio, el * (double)(c->count - done) / (double)done);
    return 0;
}

void kt_tts_watch_warning(void *user, const char *message)
{
    const kt_tts_watch *w = user;
    char shown[1024]; /* the warning may quote the input */
    kt_escape_text(shown, sizeof shown, message, strlen(message));
    fprintf(stderr, "%s: warning: %s\n", w->tool, shown);
}

int kt_tts_watch_words(void *user, const kt_tts_word *words, size_t n)
{
    kt_tts_watch *w = user;
    if (!w->words && !(w->words = cJSON_CreateArray()))
        return 1;
    for (size_t i = 0; i < n; i++) {
        cJSON *o = kt_tts_word_json(&words[i]);
        if (!o || !cJSON_AddItemToArray(w->words, o)) {
            cJSON_Delete(o);
            return 1;
        }
    }
    return 0;
}

void kt_tts_watch_attach(kt_tts_watch *w, kt_tts_synth_params *p, int warnings)
{
    p->on_words = w->keep_words ? kt_tts_watch_words : NULL;
    p->on_audio = kt_tts_watch_audio;
    p->on_progress = kt_tts_watch_progress;
    p->on_warning = warnings ? kt_tts_watch_warning : NULL;
    p->user = w;
}

void kt_tts_watch_free(kt_tts_watch *w)
{
    free(w->chunk_seconds);
    cJSON_Delete(w->words);
    w->words = NULL;
    w->chunk_seconds = NULL;
    w->n_chunks = w->cap = 0;
}

static const char *bf16_name(int bf16)
{
    return bf16 == KT_BF16_WINOGRAD ? "bf16-winograd" : bf16 ? "bf16" : "f32";
}

static void add_strings(cJSON *j, const kt_tts_run_info *info, const kt_tts_stats *st)
{
    const char *keys[] = {"output", "voice", "lang", "compute", "format"},
               *strs[] = {info->output, info->voice, st->lang, bf16_name(info->bf16), st->format};
    for (size_t i = 0; i < 5; i++) /* lang is null for phonemes without a language */
        cJSON_AddItemToObject(j, keys[i], strs[i] ? cJSON_CreateString(strs[i]) : cJSON_CreateNull());
}

static void add_numbers(cJSON *j, const kt_tts_run_info *info, const kt_tts_stats *st)
{
    double dur = (double)st->samples / KT_SAMPLE_RATE, secs = st->synthesis_seconds;
    const char *names[] = {"sample_rate", "samples", "seconds", "chunks", "phonemes", "speed", "seed", "threads",
                           "load_seconds", "voice_seconds", "first_audio_seconds", "synthesis_seconds",
                           "synthesis_cpu_seconds", "realtime_factor", "output_rate", "output_samples"};
    double values[] = {KT_SAMPLE_RATE, (double)st->samples, dur, (double)st->chunks, (double)st->phonemes,
                       info->speed, info->seed, info->threads, st->load_seconds + st->voice_seconds,
                       st->voice_seconds, st->first_audio_seconds, secs, st->synthesis_cpu_seconds, dur > 0 ? secs / dur : 0.0,
                       st->output_rate, (double)st->output_samples};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        cJSON_AddNumberToObject(j, names[i], values[i]);
}

char *kt_tts_summary_json(const kt_tts_run_info *info, const kt_tts_stats *st, const kt_tts_watch *w)
{
    struct rusage ru;
    cJSON *j = cJSON_CreateObject();
    cJSON *chunks = cJSON_CreateArray();
    for (size_t i = 0; chunks && i < w->n_chunks; i++)
        cJSON_AddItemToArray(chunks, cJSON_CreateNumber(w->chunk_seconds[i]));
    add_strings(j, info, st);
    add_numbers(j, info, st);
    if (!cJSON_AddItemToObject(j, "chunk_seconds", chunks))
        cJSON_Delete(chunks);
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cJSON_AddNumberToObject(j, "peak_rss_bytes", (double)ru.ru_maxrss * 1024.0);
    if (w->words)
        cJSON_AddItemReferenceToObject(j, "words", w->words);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return text;
}

int kt_tts_print_summary(const char *tool, const kt_tts_run_info *info, const kt_tts_stats *st,
                         const kt_tts_watch *w)
{
    char *text = kt_tts_summary_json(info, st, w);
    if (!text)
        return kt_cli_fail(tool, "out of memory", KT_EXIT_OUTPUT);
    FILE *f = kt_cli_is_stdio(info->output) ? stderr : stdout;
    fprintf(f, "%s\n", text);
    free(text);
    return kt_cli_flush(tool, f);
}

int kt_tts_fail(const char *tool, kt_status st, const kt_error *e, int opening)
{
    int output = st == KT_ENOMEM || (st == KT_EIO && !opening);
    return kt_cli_fail(tool, e->msg, output ? KT_EXIT_OUTPUT : opening ? KT_EXIT_MODEL : KT_EXIT_INPUT);
}
