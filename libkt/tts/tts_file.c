/* tts_file.c - kt_tts_write_file: synthesis into an audio file or a WAV stream on stdout, and
 * the optional timing JSON. */
#define _GNU_SOURCE
#include "kt/kt.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kt/audio.h"
#include "kt/io.h"
#include "tts_impl.h"

typedef struct {
    const kt_tts_synth_params *user; /* the caller's parameters: their callbacks run too */
    float *audio;
    size_t n, cap;
    int streaming, stream_open;
    kt_wav_stream stream;
    cJSON *dur; /* array of chunk objects, or NULL */
    kt_status st;
    kt_error err;
} sink;

static int sink_add(sink *s, const float *x, size_t n)
{
    if (s->streaming) {
        if ((!s->stream_open && kt_wav_stream_open(&s->stream, stdout, KT_SAMPLE_RATE, &s->err)) ||
            kt_wav_stream_write(&s->stream, x, n, &s->err)) {
            kt_error_prefix(&s->err, "-");
            return s->st = s->err.code;
        }
        s->stream_open = 1;
        return 0;
    }
    if (s->n + n > s->cap) {
        size_t cap = s->cap ? s->cap : 1 << 16;
        while (cap < s->n + n)
            cap *= 2;
        float *a = realloc(s->audio, cap * sizeof *a);
        if (!a)
            return s->st = kt_error_set(&s->err, KT_ENOMEM, "out of memory");
        s->audio = a;
        s->cap = cap;
    }
    memcpy(s->audio + s->n, x, n * sizeof *x);
    s->n += n;
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
    if ((s->dur && add_durations(s, c)) || sink_add(s, c->samples, c->n_samples))
        return 1;
    return s->user->on_audio ? s->user->on_audio(s->user->user, c) : 0;
}

static int on_timing(void *user, const kt_tts_timing *units, size_t n)
{
    sink *s = user;
    return s->user->on_timing(s->user->user, units, n);
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

static kt_status write_durations(const char *path, cJSON *chunks, kt_error *err)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    cJSON_AddNumberToObject(root, "sample_rate", KT_SAMPLE_RATE);
    cJSON_AddItemReferenceToObject(root, "chunks", chunks);
    kt_status st = write_json_file(path, root, err);
    cJSON_Delete(root);
    return st;
}

/* 1 if the folder that would hold path exists and is writable. */
static int folder_writable(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return access(slash ? "/" : ".", W_OK) == 0;
    char *dir = strndup(path, (size_t)(slash - path));
    int ok = dir && access(dir, W_OK) == 0;
    free(dir);
    return ok;
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
    return w;
}

kt_status kt_tts_write_file(kt_tts *tts, const char *text, const char *voice, const kt_tts_synth_params *p,
                            const char *path, const char *durations_path, kt_tts_stats *stats, kt_error *err)
{
    kt_tts_synth_params dp = kt_tts_default_synth_params();
    sink s;
    memset(&s, 0, sizeof s);
    s.user = p ? p : &dp;
    if (!path)
        return kt_error_set(err, KT_EINVAL, "no output file given");
    s.streaming = !strcmp(path, "-");
    if (!s.streaming && kt_audio_format_from_path(path) == KT_AUDIO_UNKNOWN)
        return kt_error_set(err, KT_EINVAL, "%s: unknown audio format (use .wav, .flac or .ogg)", path);
    if (!s.streaming && !folder_writable(path)) /* before the work, not after */
        return kt_error_set(err, KT_EIO, "%s: the folder does not exist or is not writable", path);
    if (durations_path && !(s.dur = cJSON_CreateArray()))
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    kt_tts_synth_params w = wrap(s.user, &s);
    kt_status st = kt_tts_synthesize(tts, text, voice, &w, stats, err);
    if (st == KT_ECANCELED && s.st) { /* the sink failed, not the caller */
        st = s.st;
        if (err)
            *err = s.err;
    }
    if (!st && !s.streaming && (st = kt_audio_write(path, s.audio, s.n, KT_SAMPLE_RATE, err)))
        kt_error_prefix(err, path);
    if (!st && durations_path)
        st = write_durations(durations_path, s.dur, err);
    cJSON_Delete(s.dur);
    free(s.audio);
    return st;
}
