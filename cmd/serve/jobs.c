/* jobs.c - the bounded queue of speech jobs and the workers that synthesize them. A job is shared
 * by its connection and its worker (reference counted); the worker appends encoded bytes (or, for
 * whole-file formats, samples) and the connection takes them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "serve.h"

struct kts_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    kts_engine *engine;
    kts_metrics *metrics;
    kts_job **ring;
    int cap, head, count, busy, stopping, n_threads;
    pthread_t *threads;
    double job_seconds; /* sum over finished jobs, for Retry-After */
    long jobs_done;
};

double kts_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void kts_job_release(kts_job *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->lock);
    int last = --j->refs == 0;
    pthread_mutex_unlock(&j->lock);
    if (!last)
        return;
    pthread_mutex_destroy(&j->lock);
    pthread_cond_destroy(&j->cond);
    kts_bytes_free(&j->out);
    cJSON_Delete(j->words);
    free(j->pcm);
    free(j->text);
    free(j->voice);
    free(j);
}

void kts_job_cancel(kts_job *j)
{
    pthread_mutex_lock(&j->lock);
    j->canceled = 1;
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->lock);
}

static void job_finish(kts_job *j, int state, int status, const char *msg)
{
    pthread_mutex_lock(&j->lock);
    j->state = state;
    j->status = status;
    if (msg)
        snprintf(j->err, sizeof j->err, "%s", msg);
    j->finished = kts_now();
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->lock);
}

/* Worker side: stop when the client left or the deadline passed. */
static int job_stop(void *user)
{
    kts_job *j = user;
    pthread_mutex_lock(&j->lock);
    int stop = j->canceled || kts_now() > j->deadline;
    pthread_mutex_unlock(&j->lock);
    return stop;
}

static int keep_pcm(kts_job *j, const float *x, size_t n)
{
    if (j->n_pcm + n > j->cap_pcm) {
        size_t cap = j->cap_pcm ? j->cap_pcm : 1 << 16;
        while (cap < j->n_pcm + n)
            cap *= 2;
        float *p = realloc(j->pcm, cap * sizeof *p);
        if (!p)
            return -1;
        j->pcm = p;
        j->cap_pcm = cap;
    }
    memcpy(j->pcm + j->n_pcm, x, n * sizeof *x);
    j->n_pcm += n;
    return 0;
}

static int job_samples(void *user, const float *x, size_t n)
{
    kts_job *j = user;
    int rc;
    pthread_mutex_lock(&j->lock);
    if (j->n_samples == 0)
        j->first_audio = kts_now();
    j->n_samples += n;
    if (j->stream && (j->format == KTS_WAV || j->format == KTS_PCM)) {
        rc = j->format == KTS_WAV && j->n_samples == n ? kts_encode_wav_stream_header(&j->out) : 0;
        rc = rc || kts_encode_pcm16(&j->out, x, n);
    } else if (j->stream) {
        char err[KTS_ERR];
        rc = !j->enc && kts_encoder_open(j->format, &j->out, &j->out_off, &j->enc, err, sizeof err);
        rc = rc || kts_encoder_write(j->enc, x, n);
    } else {
        rc = keep_pcm(j, x, n);
    }
    int stop = rc || j->canceled || kts_now() > j->deadline;
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->lock);
    return stop;
}

/* One word's timestamp, in the shape Kokoro-FastAPI's captioned speech gives it. */
static int job_word(void *user, const char *text, double start, double end, size_t char_start, size_t char_end)
{
    kts_job *j = user;
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "word", text) || !cJSON_AddNumberToObject(o, "start_time", start) ||
        !cJSON_AddNumberToObject(o, "end_time", end) ||
        !cJSON_AddNumberToObject(o, "char_start", (double)char_start) ||
        !cJSON_AddNumberToObject(o, "char_end", (double)char_end)) {
        cJSON_Delete(o);
        return 1;
    }
    pthread_mutex_lock(&j->lock);
    cJSON_AddItemToArray(j->words, o);
    pthread_mutex_unlock(&j->lock);
    return 0;
}

static void run_job(kts_pool *p, kts_job *j)
{
    char err[KTS_ERR] = "";
    pthread_mutex_lock(&j->lock);
    int late = j->canceled || kts_now() > j->deadline;
    j->state = KTS_JOB_RUNNING;
    j->started = kts_now();
    pthread_mutex_unlock(&j->lock);
    if (late) {
        job_finish(j, KTS_JOB_FAILED, 503, "the request waited past its deadline");
        return;
    }
    int rc = kts_engine_synthesize(p->engine, &j->req, job_samples, job_word, job_stop, j, err, sizeof err);
    if (rc < 0)
        rc = j->canceled ? 499 : 503;
    if (rc == 503)
        snprintf(err, sizeof err, "synthesis did not finish before the request's deadline");
    if (j->enc) {
        pthread_mutex_lock(&j->lock);
        int bad = kts_encoder_close(j->enc);
        j->enc = NULL;
        pthread_mutex_unlock(&j->lock);
        if (bad && !rc) {
            rc = 500;
            snprintf(err, sizeof err, "cannot finish the %s stream", kts_format_name(j->format));
        }
    }
    if (!rc && !j->stream) {
        kts_bytes out = {0};
        rc = kts_encode_whole(j->format, j->pcm, j->n_pcm, &out, err, sizeof err) ? 500 : 0;
        pthread_mutex_lock(&j->lock);
        kts_bytes_free(&j->out);
        j->out = out;
        pthread_mutex_unlock(&j->lock);
    }
    if (!rc) {
        double secs = (double)j->n_samples / 24000.0;
        kts_metrics_synthesis(p->metrics, secs, kts_now() - j->started,
                              j->first_audio > 0 ? j->first_audio - j->started : -1);
    }
    job_finish(j, rc ? KTS_JOB_FAILED : KTS_JOB_DONE, rc, rc ? err : NULL);
}

static void *worker(void *arg)
{
    kts_pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (!p->count && !p->stopping)
            pthread_cond_wait(&p->cond, &p->lock);
        if (p->stopping) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        kts_job *j = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        p->busy++;
        pthread_mutex_unlock(&p->lock);
        double t0 = kts_now();
        run_job(p, j);
        kts_job_release(j);
        pthread_mutex_lock(&p->lock);
        p->busy--;
        p->job_seconds += kts_now() - t0;
        p->jobs_done++;
        pthread_mutex_unlock(&p->lock);
    }
}

int kts_pool_start(kts_engine *e, kts_metrics *m, int workers, int queue, kts_pool **out, char *err,
                   size_t errlen)
{
    kts_pool *p = calloc(1, sizeof *p);
    *out = NULL;
    if (!p || !(p->ring = calloc((size_t)queue, sizeof *p->ring)) ||
        !(p->threads = calloc((size_t)workers, sizeof *p->threads))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    p->engine = e;
    p->metrics = m;
    p->cap = queue;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    for (; p->n_threads < workers; p->n_threads++)
        if (pthread_create(&p->threads[p->n_threads], NULL, worker, p)) {
            snprintf(err, errlen, "cannot start worker %d", p->n_threads + 1);
            kts_pool_stop(p);
            return -1;
        }
    *out = p;
    return 0;
fail:
    if (p) {
        free(p->ring);
        free(p->threads);
    }
    free(p);
    return -1;
}

void kts_pool_stop(kts_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    for (; p->count > 0; p->count--) {
        kts_job *j = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        job_finish(j, KTS_JOB_FAILED, 503, "the server is shutting down");
        kts_job_release(j);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p->ring);
    free(p->threads);
    free(p);
}

int kts_pool_submit(kts_pool *p, kts_job *j)
{
    pthread_mutex_lock(&p->lock);
    int ok = p->count < p->cap && !p->stopping;
    if (ok) {
        pthread_mutex_lock(&j->lock);
        j->refs++;
        pthread_mutex_unlock(&j->lock);
        p->ring[(p->head + p->count) % p->cap] = j;
        p->count++;
        pthread_cond_signal(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
    return ok ? 0 : -1;
}

void kts_pool_stats(kts_pool *p, int *queued, int *busy, double *mean_job_seconds)
{
    pthread_mutex_lock(&p->lock);
    *queued = p->count;
    *busy = p->busy;
    *mean_job_seconds = p->jobs_done ? p->job_seconds / (double)p->jobs_done : 1.0;
    pthread_mutex_unlock(&p->lock);
}
