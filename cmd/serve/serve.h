/* serve.h - kt-serve's parts: options, the synthesis adapter, encoders, voices, jobs and workers,
 * metrics, the HTTP layer. Everything lives in one kts_server; nothing is global. */
#ifndef KT_SERVE_H
#define KT_SERVE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define KTS_ERR 256

enum { KTS_COMPUTE_F32, KTS_COMPUTE_BF16, KTS_COMPUTE_BF16_WINOGRAD }; /* --compute */

typedef struct {
    const char *model, *config, *voices, *host, *api_key;
    int port, workers, threads, queue, first_chunk;
    int compute; /* KTS_COMPUTE_* */
    int warm_up; /* 1: one short synthesis at start, before listening */
    size_t max_body, max_input;
    double timeout, drain, idle_timeout;
    int max_connections;
} kts_options;

/* ---- synthesis adapter (synth_adapter.c): the only file that talks to the synthesis library ---- */

typedef struct kts_engine kts_engine;

typedef struct {
    const char *text;
    const char *voice; /* a validated spec built by voices.c */
    const char *lang;  /* G2P language, or NULL: from the voice */
    float speed;
    int first_chunk;
    int words; /* 1: hand each word and its times to on_word */
} kts_synth_request;

/* A spoken word: as written, its seconds and its code points in the input. */
typedef int (*kts_word_fn)(void *user, const char *text, double start, double end, size_t char_start,
                           size_t char_end);

/* on_samples returns 0 to go on; should_stop returns non-zero to cancel (both called per chunk). */
typedef int (*kts_samples_fn)(void *user, const float *x, size_t n);
typedef int (*kts_stop_fn)(void *user);

int kts_engine_open(const kts_options *o, kts_engine **out, char *err, size_t errlen);
void kts_engine_close(kts_engine *e);
/* 0 on success, -1 when canceled, else the HTTP status the failure maps to (400, 413, 500). */
int kts_engine_synthesize(kts_engine *e, const kts_synth_request *r, kts_samples_fn on_samples,
                          kts_word_fn on_word, kts_stop_fn should_stop, void *user, char *err, size_t errlen);

/* ---- encoders (encode.c) ---- */

typedef enum { KTS_MP3, KTS_OPUS, KTS_AAC, KTS_FLAC, KTS_WAV, KTS_PCM, KTS_NFORMATS } kts_format;

typedef struct {
    unsigned char *data;
    size_t len, cap;
} kts_bytes;

int kts_bytes_append(kts_bytes *b, const void *p, size_t n);
void kts_bytes_free(kts_bytes *b);

/* -1 for an unknown name. */
int kts_format_parse(const char *name);
const char *kts_format_name(int f);
const char *kts_format_mime(int f);
/* 1 when this build can write the format; 1 when it can be sent chunk by chunk as made. */
int kts_format_available(int f);
int kts_format_streams(int f);
/* Streaming: the WAV header with unknown sizes; samples as 16-bit little-endian PCM. */
int kts_encode_wav_stream_header(kts_bytes *out);
int kts_encode_pcm16(kts_bytes *out, const float *x, size_t n);
/* Streaming the libsndfile formats (mp3, opus, flac): encoded bytes are appended to out as they are
 * made (out's bytes from *off on are unsent; the caller holds whatever lock guards out). */
typedef struct kts_encoder kts_encoder;
int kts_encoder_open(int f, kts_bytes *out, size_t *off, kts_encoder **e, char *err, size_t errlen);
int kts_encoder_write(kts_encoder *e, const float *x, size_t n);
/* Flushes the encoder and frees e (NULL is allowed). */
int kts_encoder_close(kts_encoder *e);
/* Whole audio into format f. 0 on success. */
int kts_encode_whole(int f, const float *x, size_t n, kts_bytes *out, char *err, size_t errlen);
/* Appends the base64 (RFC 4648, padded) of n bytes to out. 0, or -1 out of memory. */
int kts_base64(kts_bytes *out, const unsigned char *p, size_t n);

/* ---- voices (voices.c) ---- */

typedef struct {
    char **names; /* sorted, [A-Za-z0-9_] only */
    size_t count;
    char *bundle; /* owned path when --voices is a bundle file, else NULL */
    char *dir;    /* owned folder path otherwise */
} kts_voices;

int kts_voices_open(const char *path, kts_voices *v, char *err, size_t errlen);
void kts_voices_free(kts_voices *v);
/* Turns a request's voice (a name, an OpenAI name, a blend) into a spec naming only listed voices
 * (malloc'd into *spec) and the G2P language of its first voice (static string or NULL).
 * 0, or 400/404 with a message. */
int kts_voices_resolve(const kts_voices *v, const char *request, char **spec, const char **lang, char *err,
                       size_t errlen);
/* The OpenAI voice table (name -> Kokoro voice), NULL-terminated pairs. */
extern const char *const kts_openai_voices[][2];

/* ---- metrics (metrics.c) ---- */

#define KTS_RTF_BUCKETS 8
typedef struct {
    pthread_mutex_t lock;
    uint64_t by_status[600];
    double audio_seconds;
    uint64_t rtf_count[KTS_RTF_BUCKETS + 1];
    double rtf_sum;
    uint64_t rtf_n;
    uint64_t ttfb_count[KTS_RTF_BUCKETS + 1];
    double ttfb_sum;
    uint64_t ttfb_n;
    uint64_t rejected_queue_full;
} kts_metrics;

void kts_metrics_init(kts_metrics *m);
void kts_metrics_destroy(kts_metrics *m);
void kts_metrics_request(kts_metrics *m, int status);
void kts_metrics_synthesis(kts_metrics *m, double audio_seconds, double synth_seconds, double ttfb);
/* Prometheus text exposition into out (queue depth and busy workers given). */
int kts_metrics_render(kts_metrics *m, int queue_depth, int busy, int workers, int in_flight, kts_bytes *out);

/* ---- jobs and workers (jobs.c) ---- */

enum { KTS_JOB_QUEUED, KTS_JOB_RUNNING, KTS_JOB_DONE, KTS_JOB_FAILED };

typedef struct kts_job {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int refs;
    /* request */
    kts_synth_request req;
    char *text, *voice;
    int format, stream;
    double deadline; /* monotonic seconds */
    /* results */
    int state, status; /* status: HTTP status of a failure */
    char err[KTS_ERR];
    int canceled;
    kts_bytes out;  /* encoded bytes; those from out_off on are not yet taken by the connection */
    size_t out_off;
    kts_encoder *enc; /* streaming mp3, opus, flac */
    float *pcm;     /* whole-file formats: all samples */
    size_t n_pcm, cap_pcm, n_samples;
    double started, first_audio, finished;
    struct cJSON *words; /* req.words: the timestamps, an array of {word, start_time, end_time, ...} */
} kts_job;

typedef struct kts_pool kts_pool;

int kts_pool_start(kts_engine *e, kts_metrics *m, int workers, int queue, kts_pool **out, char *err,
                   size_t errlen);
/* Stops the workers (queued jobs fail with 503) and frees the pool. */
void kts_pool_stop(kts_pool *p);
/* Queues j (taking a reference). 0, or -1 when the queue is full. */
int kts_pool_submit(kts_pool *p, kts_job *j);
void kts_pool_stats(kts_pool *p, int *queued, int *busy, double *mean_job_seconds);
void kts_job_release(kts_job *j);
void kts_job_cancel(kts_job *j);

double kts_now(void);

/* ---- the server (http.c) ---- */

typedef struct kts_server kts_server;

int kts_server_start(const kts_options *o, kts_server **out, char *err, size_t errlen);
int kts_server_port(const kts_server *s);
/* Stops accepting, waits for requests in flight up to o->drain seconds, then stops. */
void kts_server_stop(kts_server *s);

/* ---- the web page (page.c) ---- */
extern const char kts_page_html[];

#endif
