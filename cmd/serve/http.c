/* http.c - kt-serve's HTTP layer on libmicrohttpd (a thread per connection): routing, auth,
 * limits, OpenAI's error bodies, the speech endpoint (streamed as chunks are made), the access log
 * and a graceful stop. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "serve.h"

#define MAX_JSON_DEPTH 16
#define STREAM_BLOCK (16 * 1024)
#define DISCARD_MAX (8ull << 20) /* bytes of an oversized body read before the 413 */

struct kts_server {
    kts_options opt;
    kts_engine *engine;
    kts_pool *pool;
    kts_metrics metrics;
    kts_voices voices;
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock; /* in_flight and the access log */
    int in_flight, stopping, port;
};

/* One request, shared by the connection and (while streaming) its response: reference counted;
 * the last release writes the access-log line. */
typedef struct {
    kts_server *srv;
    int refs, status, too_big, bad_encoding, aborted, fd;
    double t0, first_byte;
    kts_bytes body;
    size_t bytes;
    unsigned long long received; /* body bytes read, kept or not */
    char method[16], path[256], voice[96], remote[64];
    int format, captioned;
    size_t chars;
    kts_job *job;
    struct MHD_Connection *conn; /* valid during the handler's calls */
} request;

/* ---- access log, request lifetime ---- */

static void access_log(const request *r)
{
    struct timespec ts;
    struct tm tm;
    char when[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + strlen(when), sizeof when - strlen(when), ".%03ldZ", ts.tv_nsec / 1000000);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "time", when);
    cJSON_AddStringToObject(j, "remote", r->remote);
    cJSON_AddStringToObject(j, "method", r->method);
    cJSON_AddStringToObject(j, "path", r->path);
    cJSON_AddNumberToObject(j, "status", r->status);
    cJSON_AddNumberToObject(j, "bytes", (double)r->bytes);
    cJSON_AddNumberToObject(j, "seconds", kts_now() - r->t0);
    if (r->job) {
        cJSON_AddStringToObject(j, "voice", r->voice);
        cJSON_AddStringToObject(j, "format", kts_format_name(r->format));
        cJSON_AddNumberToObject(j, "chars", (double)r->chars);
        cJSON_AddNumberToObject(j, "audio_seconds", (double)r->job->n_samples / 24000.0);
        if (r->first_byte > 0)
            cJSON_AddNumberToObject(j, "first_byte_seconds", r->first_byte - r->t0);
    }
    if (r->aborted)
        cJSON_AddBoolToObject(j, "aborted", 1);
    char *line = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (line) {
        pthread_mutex_lock(&r->srv->lock);
        fprintf(stderr, "%s\n", line);
        pthread_mutex_unlock(&r->srv->lock);
    }
    free(line);
}

static void request_release(request *r)
{
    if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL))
        return;
    kts_server *s = r->srv;
    kts_metrics_request(&s->metrics, r->status);
    access_log(r);
    if (r->job) {
        kts_job_cancel(r->job);
        kts_job_release(r->job);
    }
    kts_bytes_free(&r->body);
    free(r);
    pthread_mutex_lock(&s->lock);
    s->in_flight--;
    pthread_mutex_unlock(&s->lock);
}

static void copy_text(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

static request *request_new(kts_server *s, struct MHD_Connection *c, const char *method, const char *url)
{
    request *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->srv = s;
    r->refs = 1;
    r->status = 500;
    r->fd = -1;
    r->format = -1;
    r->t0 = kts_now();
    copy_text(r->method, sizeof r->method, method);
    copy_text(r->path, sizeof r->path, url);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci)
        r->fd = ci->connect_fd;
    ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr)
        getnameinfo(ci->client_addr, ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                              : sizeof(struct sockaddr_in),
                    r->remote, sizeof r->remote, NULL, 0, NI_NUMERICHOST);
    pthread_mutex_lock(&s->lock);
    s->in_flight++;
    pthread_mutex_unlock(&s->lock);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_RequestTerminationCode toe)
{
    request *r = *ctx;
    (void)cls;
    (void)c;
    if (!r)
        return;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        r->aborted = 1;
    *ctx = NULL;
    request_release(r);
}

/* 1 when the client closed its side (checked while a request waits for audio). */
static int client_gone(int fd)
{
    struct pollfd p = {fd, POLLRDHUP, 0};
    return fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* ---- responses ---- */

static enum MHD_Result queue(request *r, int status, struct MHD_Response *resp, const char *type)
{
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->status = status;
    return ok;
}

static enum MHD_Result send_copy(request *r, int status, const char *type, const void *data, size_t len)
{
    r->bytes = len;
    return queue(r, status, MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY), type);
}

/* Takes b's memory; header (may be NULL) and value: one more response header. */
static enum MHD_Result send_bytes_with(request *r, int status, const char *type, kts_bytes *b, const char *header,
                                      const char *value)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(b->len, b->data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        kts_bytes_free(b);
        return MHD_NO;
    }
    r->bytes = b->len;
    memset(b, 0, sizeof *b);
    if (header)
        MHD_add_response_header(resp, header, value);
    return queue(r, status, resp, type);
}

static enum MHD_Result send_bytes(request *r, int status, const char *type, kts_bytes *b)
{
    return send_bytes_with(r, status, type, b, NULL, NULL);
}

/* Takes j; header as in send_bytes_with. */
static enum MHD_Result send_json_with(request *r, int status, cJSON *j, const char *header, const char *value)
{
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!text)
        return MHD_NO;
    kts_bytes b = {(unsigned char *)text, strlen(text), strlen(text) + 1};
    return send_bytes_with(r, status, "application/json", &b, header, value);
}

static enum MHD_Result send_json(request *r, int status, cJSON *j) { return send_json_with(r, status, j, NULL, NULL); }

static const char *error_type(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    case 500: return "server_error";
    case 503: return "server_error";
    default: return "invalid_request_error";
    }
}

/* OpenAI's error body: {"error": {"message", "type", "param", "code"}}, with one more response
 * header when header is not NULL. */
static enum MHD_Result send_error_with(request *r, int status, const char *code, const char *param, const char *msg,
                                       const char *header, const char *value)
{
    cJSON *j = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(j, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", error_type(status));
    if (param)
        cJSON_AddStringToObject(e, "param", param);
    else
        cJSON_AddNullToObject(e, "param");
    if (code)
        cJSON_AddStringToObject(e, "code", code);
    else
        cJSON_AddNullToObject(e, "code");
    return send_json_with(r, status, j, header, value);
}

static enum MHD_Result send_error(request *r, int status, const char *code, const char *param, const char *msg)
{
    return send_error_with(r, status, code, param, msg, NULL, NULL);
}

/* 405 with the methods the path takes in Allow. */
static enum MHD_Result not_allowed(request *r, const char *allow)
{
    char msg[64];
    snprintf(msg, sizeof msg, "method not allowed: use %s", allow);
    return send_error_with(r, 405, NULL, NULL, msg, MHD_HTTP_HEADER_ALLOW, allow);
}

/* ---- auth ---- */

static int equal_ct(const char *a, size_t na, const char *b, size_t nb)
{
    volatile unsigned char acc = (unsigned char)(na != nb);
    for (size_t i = 0; i < nb; i++)
        acc |= (unsigned char)((i < na ? (unsigned char)a[i] : 0) ^ (unsigned char)b[i]);
    return acc == 0;
}

static int authorized(request *r)
{
    const char *key = r->srv->opt.api_key;
    if (!key || !*key)
        return 1;
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7))
        return 0;
    h += 7;
    while (*h == ' ')
        h++;
    return equal_ct(h, strlen(h), key, strlen(key));
}

/* ---- small endpoints ---- */

static enum MHD_Result get_models(request *r, const char *one)
{
    static const char *const ids[] = {"kokoro", "tts-1", "tts-1-hd"};
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; i < 3; i++) {
        if (one && strcmp(one, ids[i]))
            continue;
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "id", ids[i]);
        cJSON_AddStringToObject(m, "object", "model");
        cJSON_AddNumberToObject(m, "created", 1735689600);
        cJSON_AddStringToObject(m, "owned_by", "kt");
        if (one) {
            cJSON_Delete(list);
            return send_json(r, 200, m);
        }
        cJSON_AddItemToArray(list, m);
    }
    if (one) {
        cJSON_Delete(list);
        return send_error(r, 404, "model_not_found", "model", "the model does not exist (kokoro, tts-1, tts-1-hd)");
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "object", "list");
    cJSON_AddItemToObject(j, "data", list);
    return send_json(r, 200, j);
}

static enum MHD_Result get_voices(request *r)
{
    const kts_voices *v = &r->srv->voices;
    cJSON *j = cJSON_CreateObject(), *names = cJSON_AddArrayToObject(j, "voices");
    for (size_t i = 0; i < v->count; i++)
        cJSON_AddItemToArray(names, cJSON_CreateString(v->names[i]));
    cJSON *map = cJSON_AddObjectToObject(j, "openai");
    for (size_t i = 0; kts_openai_voices[i][0]; i++)
        cJSON_AddStringToObject(map, kts_openai_voices[i][0], kts_openai_voices[i][1]);
    return send_json(r, 200, j);
}

static enum MHD_Result get_metrics(request *r)
{
    kts_server *s = r->srv;
    kts_bytes b = {0};
    int queued, busy, in_flight;
    double mean;
    kts_pool_stats(s->pool, &queued, &busy, &mean);
    pthread_mutex_lock(&s->lock);
    in_flight = s->in_flight;
    pthread_mutex_unlock(&s->lock);
    if (kts_metrics_render(&s->metrics, queued, busy, s->opt.workers, in_flight, &b)) {
        kts_bytes_free(&b);
        return send_error(r, 500, NULL, NULL, "out of memory");
    }
    return send_bytes(r, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}

static enum MHD_Result get_health(request *r)
{
    cJSON *j = cJSON_CreateObject();
    int stopping = __atomic_load_n(&r->srv->stopping, __ATOMIC_ACQUIRE);
    cJSON_AddStringToObject(j, "status", stopping ? "stopping" : "healthy");
    return send_json(r, stopping ? 503 : 200, j);
}

/* ---- POST /v1/audio/speech ---- */

/* Deepest nesting of [ and { outside strings. */
static int json_depth(const unsigned char *s, size_t n)
{
    int depth = 0, max = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                max = depth;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return max;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

typedef struct {
    const char *input, *voice, *format;
    double speed;
    int stream;
} speech_args;

/* Reads the body's fields; on a problem sets *param and msg and returns the status. */
static int read_args(const cJSON *j, speech_args *a, const char **param, char *msg, size_t n)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(j, "input");
    const cJSON *voice = cJSON_GetObjectItemCaseSensitive(j, "voice");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "response_format");
    const cJSON *speed = cJSON_GetObjectItemCaseSensitive(j, "speed");
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(j, "stream");
#define BAD(p, ...) return (*param = (p), snprintf(msg, n, __VA_ARGS__), 400)
    if (model && !cJSON_IsNull(model)) {
        if (!cJSON_IsString(model))
            BAD("model", "'model' must be a string");
        if (strcmp(model->valuestring, "kokoro") && strcmp(model->valuestring, "tts-1") &&
            strcmp(model->valuestring, "tts-1-hd"))
            BAD("model", "model '%.64s' does not exist (kokoro, tts-1, tts-1-hd)", model->valuestring);
    }
    if (!cJSON_IsString(input))
        BAD("input", input ? "'input' must be a string" : "'input' is required");
    if (!cJSON_IsString(voice))
        BAD("voice", voice ? "'voice' must be a string" : "'voice' is required");
    if (fmt && !cJSON_IsNull(fmt) && !cJSON_IsString(fmt))
        BAD("response_format", "'response_format' must be a string");
    if (speed && !cJSON_IsNull(speed) && !cJSON_IsNumber(speed))
        BAD("speed", "'speed' must be a number");
    if (stream && !cJSON_IsNull(stream) && !cJSON_IsBool(stream))
        BAD("stream", "'stream' must be true or false");
    a->input = input->valuestring;
    a->voice = voice->valuestring;
    a->format = cJSON_IsString(fmt) ? fmt->valuestring : "mp3";
    a->speed = cJSON_IsNumber(speed) ? speed->valuedouble : 1.0;
    a->stream = cJSON_IsBool(stream) ? cJSON_IsTrue(stream) : 1;
    if (!(a->speed >= 0.25 && a->speed <= 4.0))
        BAD("speed", "'speed' must be between 0.25 and 4.0");
    if (!*a->input)
        BAD("input", "'input' is empty");
#undef BAD
    return 0;
}

static kts_job *job_new(request *r, const speech_args *a, int format, char *spec, const char *lang)
{
    kts_job *j = calloc(1, sizeof *j);
    if (!j || !(j->text = strdup(a->input))) {
        free(j);
        free(spec);
        return NULL;
    }
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->cond, NULL);
    j->refs = 1;
    j->voice = spec;
    j->req.text = j->text;
    j->req.voice = spec;
    j->req.lang = lang;
    j->req.speed = (float)a->speed;
    j->format = format;
    j->stream = a->stream && kts_format_streams(format);
    /* a small first chunk only helps a stream; a whole file keeps kt-synth's chunks */
    j->req.first_chunk = j->stream ? r->srv->opt.first_chunk : 0;
    j->deadline = r->t0 + r->srv->opt.timeout;
    return j;
}

/* Waits (j->lock held) until the worker signals j->cond, at most 100 ms, so that the caller
 * looks at the client and the deadline again. */
static void job_wait(kts_job *j)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 100 * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&j->cond, &j->lock, &until);
}

/* The stream's reader: hands out the job's bytes as the worker makes them. */
static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
    request *r = cls;
    kts_job *j = r->job;
    (void)pos;
    for (;;) {
        pthread_mutex_lock(&j->lock);
        size_t avail = j->out.len - j->out_off;
        if (avail) {
            size_t n = avail < max ? avail : max;
            memcpy(buf, j->out.data + j->out_off, n);
            j->out_off += n;
            if (j->out_off == j->out.len)
                j->out.len = j->out_off = 0;
            pthread_mutex_unlock(&j->lock);
            r->bytes += n;
            return (ssize_t)n;
        }
        int state = j->state, late = kts_now() > j->deadline;
        if (state == KTS_JOB_DONE || state == KTS_JOB_FAILED || late || j->canceled) {
            pthread_mutex_unlock(&j->lock);
            if (state != KTS_JOB_DONE)
                kts_job_cancel(j);
            return state == KTS_JOB_DONE ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
        }
        job_wait(j);
        pthread_mutex_unlock(&j->lock);
        if (client_gone(r->fd)) {
            kts_job_cancel(j);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
}

static void stream_done(void *cls) { request_release(cls); }

/* Waits until the job has bytes to stream, or ends, or the deadline passes, or the client leaves.
 * Returns the job's state, or -1 for a client that left, -2 for the deadline. */
static int wait_first(request *r)
{
    kts_job *j = r->job;
    for (;;) {
        pthread_mutex_lock(&j->lock);
        int state = j->state, ready = j->stream && j->out.len > 0;
        if (!ready && state != KTS_JOB_DONE && state != KTS_JOB_FAILED) {
            job_wait(j);
            state = j->state;
            ready = j->stream && j->out.len > 0;
        }
        pthread_mutex_unlock(&j->lock);
        if (ready || state == KTS_JOB_DONE || state == KTS_JOB_FAILED)
            return ready ? KTS_JOB_RUNNING : state;
        if (kts_now() > j->deadline)
            return -2;
        if (client_gone(r->fd))
            return -1;
    }
}

/* The captioned response: {"audio_format", "audio" (base64 of the encoded file), "timestamps"}. */
static enum MHD_Result send_captioned(request *r, kts_bytes *audio)
{
    kts_bytes o = {0};
    char *words = cJSON_PrintUnformatted(r->job->words);
    char head[96];
    snprintf(head, sizeof head, "{\"audio_format\":\"%s\",\"audio\":\"", kts_format_name(r->format));
    int bad = !words || kts_bytes_append(&o, head, strlen(head)) || kts_base64(&o, audio->data, audio->len) ||
              kts_bytes_append(&o, "\",\"timestamps\":", 15) || kts_bytes_append(&o, words, strlen(words)) ||
              kts_bytes_append(&o, "}", 1);
    free(words);
    kts_bytes_free(audio);
    if (bad) {
        kts_bytes_free(&o);
        return send_error(r, 500, NULL, NULL, "out of memory");
    }
    return send_bytes(r, 200, "application/json", &o);
}

static enum MHD_Result respond_job(request *r)
{
    kts_job *j = r->job;
    int state = wait_first(r);
    if (state == -1) {
        kts_job_cancel(j);
        r->status = 499;
        r->aborted = 1;
        return MHD_NO;
    }
    if (state == -2) {
        kts_job_cancel(j);
        return send_error(r, 503, "timeout", NULL, "the request did not finish before its deadline");
    }
    if (state == KTS_JOB_FAILED) {
        return send_error(r, j->status == 499 ? 500 : j->status, j->status == 503 ? "timeout" : NULL,
                          j->status == 400 ? "input" : NULL, j->err);
    }
    r->first_byte = kts_now();
    const char *mime = kts_format_mime(r->format);
    if (state == KTS_JOB_DONE && !j->stream) {
        pthread_mutex_lock(&j->lock);
        kts_bytes b = j->out;
        memset(&j->out, 0, sizeof j->out);
        pthread_mutex_unlock(&j->lock);
        return r->captioned ? send_captioned(r, &b) : send_bytes(r, 200, mime, &b);
    }
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, read_stream, r,
                                                                  stream_done);
    if (!resp)
        return MHD_NO;
    __atomic_add_fetch(&r->refs, 1, __ATOMIC_ACQ_REL);
    return queue(r, 200, resp, mime);
}

static enum MHD_Result too_busy(request *r)
{
    int queued, busy;
    double mean;
    char secs[32];
    kts_pool_stats(r->srv->pool, &queued, &busy, &mean);
    double wait = mean * (queued + 1) / (r->srv->opt.workers > 0 ? r->srv->opt.workers : 1);
    snprintf(secs, sizeof secs, "%d", wait < 1 ? 1 : wait > 600 ? 600 : (int)(wait + 0.999));
    return send_error_with(r, 429, "rate_limit_exceeded", NULL, "too many requests are waiting; retry later",
                           MHD_HTTP_HEADER_RETRY_AFTER, secs);
}

static enum MHD_Result post_speech(request *r)
{
    kts_server *s = r->srv;
    speech_args a;
    const char *param = NULL, *lang = NULL;
    char msg[KTS_ERR];
    char *spec = NULL;
    if (json_depth(r->body.data, r->body.len) > MAX_JSON_DEPTH)
        return send_error(r, 400, NULL, NULL, "the JSON body is nested too deeply");
    cJSON *j = cJSON_ParseWithLength((const char *)r->body.data, r->body.len);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return send_error(r, 400, NULL, NULL, "the body is not a JSON object");
    }
    int rc = read_args(j, &a, &param, msg, sizeof msg);
    if (!rc) {
        r->chars = utf8_chars(a.input);
        copy_text(r->voice, sizeof r->voice, a.voice);
        r->format = kts_format_parse(a.format);
        if (r->chars > s->opt.max_input)
            rc = 413, param = "input",
            snprintf(msg, sizeof msg, "'input' has %zu characters; the limit is %zu", r->chars, s->opt.max_input);
        else if (r->format < 0)
            rc = 400, param = "response_format",
            snprintf(msg, sizeof msg, "response_format '%.32s' is not one of mp3, opus, aac, flac, wav, pcm", a.format);
        else if (!kts_format_available(r->format))
            rc = 400, param = "response_format",
            snprintf(msg, sizeof msg, "response_format '%s' is not available in this build", a.format);
        else if ((rc = kts_voices_resolve(&s->voices, a.voice, &spec, &lang, msg, sizeof msg)))
            param = "voice";
    }
    if (!rc && !(r->job = job_new(r, &a, r->format, spec, lang)))
        rc = 500, snprintf(msg, sizeof msg, "out of memory");
    if (!rc && r->captioned) { /* the whole file with the words, not a stream */
        r->job->req.words = 1;
        r->job->stream = 0;
        r->job->req.first_chunk = 0;
        if (!(r->job->words = cJSON_CreateArray()))
            rc = 500, snprintf(msg, sizeof msg, "out of memory");
    }
    cJSON_Delete(j);
    if (rc)
        return send_error(r, rc, rc == 400 && param && !strcmp(param, "voice") ? "voice_not_found" : NULL, param, msg);
    if (kts_pool_submit(s->pool, r->job))
        return too_busy(r);
    /* waiting for synthesis is not idleness: the request's deadline bounds it, then the idle timeout */
    MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)(s->opt.timeout + s->opt.idle_timeout + 1));
    return respond_job(r);
}

/* ---- routing ---- */

static enum MHD_Result route(request *r, const char *url, const char *method)
{
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    if (r->too_big)
        return send_error(r, 413, NULL, NULL, "the request body is too large");
    if (r->bad_encoding)
        return send_error(r, 501, NULL, NULL, "only the chunked Transfer-Encoding is supported");
    if (!strcmp(url, "/") || !strcmp(url, "/index.html"))
        return get ? send_copy(r, 200, "text/html; charset=utf-8", kts_page_html, strlen(kts_page_html))
                   : not_allowed(r, "GET, HEAD");
    if (!strcmp(url, "/health"))
        return get ? get_health(r) : not_allowed(r, "GET, HEAD");
    if (!strcmp(url, "/metrics"))
        return get ? get_metrics(r) : not_allowed(r, "GET, HEAD");
    r->captioned = !strcmp(url, "/v1/audio/speech/captioned") || !strcmp(url, "/dev/captioned_speech");
    if (strncmp(url, "/v1/", 4) && !r->captioned)
        return send_error(r, 404, NULL, NULL, "not found");
    if (!authorized(r))
        return send_error(r, 401, "invalid_api_key", NULL, "invalid or missing API key (Authorization: Bearer KEY)");
    if (!strcmp(url, "/v1/audio/speech") || r->captioned)
        return post ? post_speech(r) : not_allowed(r, "POST");
    if (!strcmp(url, "/v1/models"))
        return get ? get_models(r, NULL) : not_allowed(r, "GET, HEAD");
    if (!strncmp(url, "/v1/models/", 11))
        return get ? get_models(r, url + 11) : not_allowed(r, "GET, HEAD");
    if (!strcmp(url, "/v1/audio/voices"))
        return get ? get_voices(r) : not_allowed(r, "GET, HEAD");
    return send_error(r, 404, NULL, NULL, "not found");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **ctx)
{
    kts_server *s = cls;
    request *r = *ctx;
    (void)version;
    if (!r) {
        if (!(r = request_new(s, c, method, url)))
            return MHD_NO;
        *ctx = r;
        r->conn = c;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
        unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;
        if (te && strcasecmp(te, "chunked")) { /* libmicrohttpd would read such a body until the client closes */
            r->bad_encoding = 1;
            return route(r, url, method);
        }
        if (len > s->opt.max_body) {
            r->too_big = 1;
            if (len > DISCARD_MAX) /* answer now and close; a body up to DISCARD_MAX is read and dropped */
                return route(r, url, method);
        }
        return MHD_YES;
    }
    r->conn = c;
    if (*upload_size) {
        r->received += *upload_size;
        if (r->too_big && r->received > DISCARD_MAX)
            return MHD_NO; /* an endless oversized body: close the connection */
        if (!r->too_big && (r->body.len + *upload_size > s->opt.max_body ||
                            kts_bytes_append(&r->body, upload, *upload_size))) {
            r->too_big = 1;
            kts_bytes_free(&r->body);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return route(r, url, method);
}

/* ---- start and stop ---- */

static int bind_address(const kts_options *o, struct sockaddr_storage *ss, int *ipv6, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[16];
    snprintf(port, sizeof port, "%d", o->port);
    int rc = getaddrinfo(o->host, port, &hints, &ai);
    if (rc || !ai) {
        snprintf(err, errlen, "%s: %s", o->host, rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *ipv6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    return 0;
}

static void server_free(kts_server *s)
{
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    kts_pool_stop(s->pool);
    kts_engine_close(s->engine);
    kts_voices_free(&s->voices);
    kts_metrics_destroy(&s->metrics);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int warm_samples(void *user, const float *x, size_t n)
{
    (void)user, (void)x, (void)n;
    return 0;
}

static int warm_stop(void *user)
{
    (void)user;
    return 0;
}

/* One short synthesis before listening, as other speech servers do at start: the first
 * request then finds the weights read in, a synthesis state with its threads and buffers,
 * and the G2P loaded. With af_heart when listed, else the first voice; a failure is only
 * reported (the requests report theirs). */
static void warm_up(kts_server *s)
{
    const kts_voices *v = &s->voices;
    const char *name = v->count ? v->names[0] : NULL, *lang = NULL;
    for (size_t i = 0; i < v->count; i++)
        if (!strcmp(v->names[i], "af_heart"))
            name = v->names[i];
    char *spec = NULL, msg[KTS_ERR] = "no voice";
    double t0 = kts_now();
    int rc = name ? kts_voices_resolve(v, name, &spec, &lang, msg, sizeof msg) : -1;
    if (!rc) {
        kts_synth_request r = {"Hello there.", spec, lang, 1.0f, s->opt.first_chunk, 0};
        rc = kts_engine_synthesize(s->engine, &r, warm_samples, NULL, warm_stop, NULL, msg, sizeof msg);
    }
    if (rc)
        fprintf(stderr, "kt-serve: warm-up synthesis failed: %s\n", msg);
    else
        fprintf(stderr, "kt-serve: warm-up synthesis with %s: %.2f s\n", name, kts_now() - t0);
    free(spec);
}

int kts_server_start(const kts_options *o, kts_server **out, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    int ipv6 = 0;
    kts_server *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->opt = *o;
    pthread_mutex_init(&s->lock, NULL);
    kts_metrics_init(&s->metrics);
    if (bind_address(o, &ss, &ipv6, err, errlen) || kts_voices_open(o->voices, &s->voices, err, errlen) ||
        kts_engine_open(o, &s->engine, err, errlen) ||
        kts_pool_start(s->engine, &s->metrics, o->workers, o->queue, &s->pool, err, errlen))
        goto fail;
    if (o->warm_up)
        warm_up(s);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                     MHD_USE_POLL | (ipv6 ? MHD_USE_IPv6 : 0);
    s->daemon = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &ss,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(o->idle_timeout + 0.5),
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(err, errlen, "cannot listen on %s port %d", o->host, o->port);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : o->port;
    *out = s;
    return 0;
fail:
    server_free(s);
    return -1;
}

int kts_server_port(const kts_server *s) { return s->port; }

void kts_server_stop(kts_server *s)
{
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
    double until = kts_now() + s->opt.drain;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        int busy = s->in_flight;
        pthread_mutex_unlock(&s->lock);
        if (!busy || kts_now() > until)
            break;
        usleep(20000);
    }
    server_free(s);
}
