/* tts_file.c - kt_tts_write_file: synthesis into an audio file or a WAV stream on stdout, and
 * the optional timing JSON. */
#define _GNU_SOURCE
#include "kt/kt.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kt/audio_out.h"
#include "kt/grow.h"
#include "kt/io.h"
#include "tts_impl.h"

typedef struct {
    const kt_tts_synth_params *user; /* the caller's parameters: their callbacks run too */
    const char *path;           /* the file, or "-" for stdout */
    kt_audio_out_format format; /* checked against rate before the work */
    int rate, streaming;
    kt_audio_writer *w;         /* opened with the first samples */
    cJSON *dur; /* array of chunk objects, or NULL */
    kt_tts_word *words; /* kept for the durations and subtitles (texts owned), or NULL */
    size_t n_words, cap_words;
    int keep_words;
    kt_status st;
    kt_error err;
} sink;

static int on_words(void *user, const kt_tts_word *w, size_t n)
{
    sink *s = user;
    void *v = s->words;
    if (s->keep_words && kt_grow(&v, &s->cap_words, s->n_words + n, sizeof *w))
        return s->st = kt_error_set(&s->err, KT_ENOMEM, "out of memory");
    s->words = v;
    for (size_t i = 0; s->keep_words && i < n; i++) {
        s->words[s->n_words] = w[i];
        if (!(s->words[s->n_words].text = strdup(w[i].text)))
            return s->st = kt_error_set(&s->err, KT_ENOMEM, "out of memory");
        s->n_words++;
    }
    return s->user->on_words ? s->user->on_words(s->user->user, w, n) : 0;
}

static void free_words(sink *s)
{
    for (size_t i = 0; i < s->n_words; i++)
        free((char *)s->words[i].text);
    free(s->words);
}

static int sink_add(sink *s, const float *x, size_t n)
{
    kt_status st = KT_OK;
    if (!s->w)
        st = s->streaming ? kt_audio_writer_open_fd(1, s->format, KT_SAMPLE_RATE, s->rate, &s->w, &s->err)
                          : kt_audio_writer_open(s->path, s->format, KT_SAMPLE_RATE, s->rate, &s->w, &s->err);
    if (!st)
        st = kt_audio_writer_write(s->w, x, n, &s->err);
    if (st) {
        kt_error_prefix(&s->err, s->path);
        return s->st = st;
    }
    return 0;
}

/* Appends one chunk's timing to s->dur: each phoneme's [start, end) in seconds. */
static int add_durations(sink *s, const kt_tts_chunk *c)
{
    size_t cap = c->n_tokens > 2 ? (size_t)c->n_tokens - 2 : 1;
    kt_tts_timing *units = malloc(cap * sizeof *units);
    char(*sym)[KT_TTS_UNIT_BYTES] = malloc(cap * sizeof *sym);
    double t0 = (double)c->offset / KT_SAMPLE_RATE;
    cJSON *o = cJSON_CreateObject(), *list = cJSON_CreateArray();
    if (!units || !sym || !o || !list) {
        free(units);
        free(sym);
        cJSON_Delete(o);
        cJSON_Delete(list);
        return s->st = kt_error_set(&s->err, KT_ENOMEM, "out of memory");
    }
    cJSON_AddStringToObject(o, "phonemes", c->phonemes);
    cJSON_AddNumberToObject(o, "start", t0);
    cJSON_AddNumberToObject(o, "end", t0 + (double)c->n_samples / KT_SAMPLE_RATE);
    cJSON_AddItemToObject(o, "token_frames", cJSON_CreateIntArray(c->token_frames, c->n_tokens));
    cJSON_AddNumberToObject(o, "samples_per_frame", c->samples_per_frame);
    size_t n = kt_tts_chunk_units(c, units, sym);
    for (size_t i = 0; i < n; i++) {
        cJSON *ph = cJSON_CreateObject();
        cJSON_AddStringToObject(ph, "phoneme", units[i].text);
        cJSON_AddNumberToObject(ph, "start", units[i].start);
        cJSON_AddNumberToObject(ph, "end", units[i].end);
        cJSON_AddItemToArray(list, ph);
    }
    cJSON_AddItemToObject(o, "phoneme_times", list);
    cJSON_AddItemToArray(s->dur, o);
    free(units);
    free(sym);
    return 0;
}

static int on_audio(void *user, const kt_tts_chunk *c)
{
    sink *s = user;
    if ((s->dur && c->n_tokens > 0 && add_durations(s, c)) || sink_add(s, c->samples, c->n_samples))
        return 1;
    return s->user->on_audio ? s->user->on_audio(s->user->user, c) : 0;
}

static int on_timing(void *user, const kt_tts_timing *units, size_t n)
{
    sink *s = user;
    return s->user->on_timing(s->user->user, units, n);
}

cJSON *kt_tts_word_json(const kt_tts_word *w)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "text", w->text);
    cJSON_AddNumberToObject(o, "start", w->start);
    cJSON_AddNumberToObject(o, "end", w->end);
    cJSON_AddNumberToObject(o, "char_start", (double)w->char_start);
    cJSON_AddNumberToObject(o, "char_end", (double)w->char_end);
    cJSON_AddNumberToObject(o, "byte_start", (double)w->byte_start);
    cJSON_AddNumberToObject(o, "byte_end", (double)w->byte_end);
    return o;
}

static int on_progress(void *user, size_t done, size_t total)
{
    sink *s = user;
    return s->user->on_progress(s->user->user, done, total);
}

static void on_warning(void *user, const char *msg)
{
    sink *s = user;
    s->user->on_warning(s->user->user, msg);
}

static kt_status write_json_file(const char *path, cJSON *root, kt_error *err)
{
    kt_atomic_file af;
    char *text = cJSON_Print(root);
    kt_status st = text ? kt_atomic_open(&af, path, err) : kt_error_set(err, KT_ENOMEM, "out of memory");
    if (!st) {
        st = kt_atomic_write(&af, text, strlen(text), err);
        if (!st)
            st = kt_atomic_write(&af, "\n", 1, err);
        st = st ? (kt_atomic_abort(&af), st) : kt_atomic_commit(&af, err);
    }
    free(text);
    if (st)
        kt_error_prefix(err, path);
    return st;
}

static kt_status write_durations(const char *path, cJSON *chunks, const sink *s, kt_error *err)
{
    cJSON *root = cJSON_CreateObject(), *words = cJSON_CreateArray();
    if (!root || !words) {
        cJSON_Delete(root), cJSON_Delete(words);
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    }
    cJSON_AddNumberToObject(root, "sample_rate", KT_SAMPLE_RATE);
    cJSON_AddItemReferenceToObject(root, "chunks", chunks);
    for (size_t i = 0; i < s->n_words; i++)
        cJSON_AddItemToArray(words, kt_tts_word_json(&s->words[i]));
    cJSON_AddItemToObject(root, "words", words);
    kt_status st = write_json_file(path, root, err);
    cJSON_Delete(root);
    return st;
}

static kt_status write_subtitles(const char *path, const sink *s, double seconds, int format, kt_error *err)
{
    kt_atomic_file af;
    char *text = NULL;
    kt_status st = kt_tts_subtitles(s->words, s->n_words, seconds, format, &text, err);
    if (!st && !(st = kt_atomic_open(&af, path, err))) {
        st = kt_atomic_write(&af, text, strlen(text), err);
        st = st ? (kt_atomic_abort(&af), st) : kt_atomic_commit(&af, err);
    }
    free(text);
    if (st)
        kt_error_prefix(err, path);
    return st;
}

/* The wrapped parameters: the sink's callbacks, which call the caller's. */
static kt_tts_synth_params wrap(const kt_tts_synth_params *p, sink *s)
{
    kt_tts_synth_params w = *p;
    w.user = s;
    w.on_audio = on_audio;
    w.on_timing = p->on_timing ? on_timing : NULL;
    w.on_progress = p->on_progress ? on_progress : NULL;
    w.on_warning = p->on_warning ? on_warning : NULL;
    w.on_words = p->on_words || s->keep_words ? on_words : NULL;
    return w;
}

_Static_assert(KT_TTS_FORMAT_WAV == (int)KT_AOUT_WAV && KT_TTS_FORMAT_PCM_F32 == (int)KT_AOUT_PCM_F32,
               "kt_tts_format mirrors kt_audio_out_format");

/* The format and rate of the output, checked before any work. */
static kt_status pick_format(const kt_tts_synth_params *p, sink *s, kt_error *err)
{
    kt_error e;
    if (p->format < KT_TTS_FORMAT_AUTO || p->format > KT_TTS_FORMAT_PCM_F32)
        return kt_error_set(err, KT_EINVAL, "unknown format %d", p->format);
    s->format = p->format ? (kt_audio_out_format)p->format
                          : s->streaming ? KT_AOUT_WAV : kt_audio_out_format_from_path(s->path);
    if (s->format == KT_AOUT_UNKNOWN)
        return kt_error_set(err, KT_EINVAL, "%s: unknown audio format (use .wav, .flac, .ogg, .opus, .mp3, .pcm, "
                            ".raw, .f32 or a format)", s->path);
    s->rate = p->rate ? p->rate : KT_SAMPLE_RATE;
    if (kt_audio_out_check_rate(s->format, s->rate, &e))
        return kt_error_set(err, KT_EINVAL, "%s", e.msg);
    if (s->streaming && (s->format == KT_AOUT_FLAC || s->format == KT_AOUT_VORBIS))
        return kt_error_set(err, KT_EINVAL, "cannot stream %s to stdout (use wav, wav-f32, pcm, pcm-f32, opus or mp3)",
                            kt_audio_out_format_name(s->format));
    return KT_OK;
}

/* Sets up s for path and checks every output before the work, not after. */
static kt_status check_outputs(const kt_tts_synth_params *p, sink *s, const char *path, const char *durations_path,
                               kt_error *err)
{
    kt_status st;
    if (!path)
        return kt_error_set(err, KT_EINVAL, "no output file given");
    s->path = path;
    s->streaming = !strcmp(path, "-");
    if ((st = pick_format(p, s, err)))
        return st;
    const char *outs[] = {s->streaming ? NULL : path, durations_path, p->srt_path, p->vtt_path};
    for (size_t i = 0; i < 4; i++)
        if (outs[i] && (st = kt_output_check(outs[i], err)))
            return kt_error_prefix(err, outs[i]), st;
    return KT_OK;
}

kt_status kt_tts_output_check(const kt_tts_synth_params *p, const char *path, const char *durations_path,
                              kt_error *err)
{
    kt_tts_synth_params dp = kt_tts_default_synth_params();
    sink s;
    memset(&s, 0, sizeof s);
    return check_outputs(p ? p : &dp, &s, path, durations_path, err);
}

kt_status kt_tts_write_file(kt_tts *tts, const char *text, const char *voice, const kt_tts_synth_params *p,
                            const char *path, const char *durations_path, kt_tts_stats *stats, kt_error *err)
{
    kt_tts_synth_params dp = kt_tts_default_synth_params();
    kt_tts_stats ds;
    sink s;
    kt_status st;
    memset(&s, 0, sizeof s);
    s.user = p ? p : &dp;
    if (!stats)
        stats = &ds;
    if ((st = check_outputs(s.user, &s, path, durations_path, err)))
        return st;
    if (durations_path && !(s.dur = cJSON_CreateArray()))
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    s.keep_words = durations_path || s.user->srt_path || s.user->vtt_path;
    kt_tts_synth_params w = wrap(s.user, &s);
    st = kt_tts_synthesize(tts, text, voice, &w, stats, err);
    if (st == KT_ECANCELED && s.st) { /* the sink failed, not the caller */
        st = s.st;
        if (err)
            *err = s.err;
    }
    if (!st && !s.w && sink_add(&s, NULL, 0)) { /* no samples: an empty file of the format */
        st = s.st;
        if (err)
            *err = s.err;
    }
    const char *outs[] = {s.streaming ? NULL : path, durations_path, s.user->srt_path, s.user->vtt_path};
    int written[4] = {0};
    if (!st) {
        st = kt_audio_writer_close(s.w, &stats->output_samples, err);
        s.w = NULL;
        if (st)
            kt_error_prefix(err, path);
        written[0] = !st;
    }
    stats->output_rate = s.rate;
    stats->format = kt_audio_out_format_name(s.format);
    double seconds = (double)stats->samples / KT_SAMPLE_RATE;
    if (!st && durations_path)
        written[1] = !(st = write_durations(durations_path, s.dur, &s, err));
    if (!st && outs[2])
        written[2] = !(st = write_subtitles(outs[2], &s, seconds, KT_TTS_SUBTITLES_SRT, err));
    if (!st && outs[3])
        written[3] = !(st = write_subtitles(outs[3], &s, seconds, KT_TTS_SUBTITLES_VTT, err));
    for (size_t i = 0; st && i < 4; i++) /* no output of a failed run stays behind */
        if (written[i] && outs[i])
            kt_output_remove(outs[i]);
    kt_audio_writer_abort(s.w);
    cJSON_Delete(s.dur);
    free_words(&s);
    return st;
}
