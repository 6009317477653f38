/* run.c - kt-synth --batch: this shard's lines on worker threads, outputs, manifest, resume. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "kt/io.h"
#include "kt/kt.h"

typedef struct {
    const batch_opts *o;
    batch_jobs jobs;
    size_t *todo, n_todo;     /* this shard's jobs (indices into jobs) */
    batch_record *results;    /* one per todo entry */
    batch_records prev;       /* --resume: the earlier manifest, sorted by id */
    batch_engine *engine;
    char *manifest;
    int journal;              /* the manifest, appended to as lines finish */
    pthread_mutex_t lock;     /* guards next, stop, rc, the journal and stderr */
    size_t next;
    int stop, rc;
} run_ctx;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Creates the folder when missing and checks that a file can be made in it. */
static int check_out_dir(const char *dir)
{
    size_t n = strlen(dir) + 32;
    char *probe = malloc(n);
    if (!probe) {
        fprintf(stderr, "kt-synth: out of memory\n");
        return EXIT_OUTPUT;
    }
    if (mkdir(dir, 0777) && errno != EEXIST) {
        fprintf(stderr, "kt-synth: %s: cannot create the output folder: %s\n", dir, strerror(errno));
        free(probe);
        return EXIT_OUTPUT;
    }
    snprintf(probe, n, "%s/.kt-probe.XXXXXX", dir);
    int fd = mkstemp(probe);
    if (fd < 0) {
        fprintf(stderr, "kt-synth: %s: cannot write in the output folder: %s\n", dir, strerror(errno));
        free(probe);
        return EXIT_OUTPUT;
    }
    close(fd);
    unlink(probe);
    free(probe);
    return 0;
}

static int by_id(const void *a, const void *b)
{
    const batch_record *x = a, *y = b;
    if (!x->id || !y->id)
        return (x->id != NULL) - (y->id != NULL);
    return strcmp(x->id, y->id);
}

/* --resume: the earlier manifest (journal or compacted), latest record per line, sorted by id. */
static int load_previous(run_ctx *c)
{
    kt_error e;
    if (batch_manifest_read(c->manifest, &c->prev, &e)) {
        fprintf(stderr, "kt-synth: %s: %s\n", c->manifest, e.msg);
        return EXIT_INPUT;
    }
    batch_records_compact(&c->prev);
    if (c->prev.count > 1)
        qsort(c->prev.items, c->prev.count, sizeof *c->prev.items, by_id);
    return 0;
}

static const batch_record *previous(const run_ctx *c, const char *id)
{
    batch_record key = {.id = (char *)id};
    if (!id || !c->prev.count)
        return NULL;
    return bsearch(&key, c->prev.items, c->prev.count, sizeof key, by_id);
}

static char *output_name(const batch_job *j)
{
    size_t n = strlen(j->id) + 8;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s.%s", j->id, j->ext);
    return s;
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", dir, name);
    return s;
}

/* 1 when the earlier run's output of j is there, whole, and from the same line. */
static int still_good(const run_ctx *c, const batch_job *j, const batch_record *p, const char *name)
{
    char hex[KT_SHA256_HEX];
    if (!p || p->status != REC_OK || strcmp(p->job_sha256, j->job_sha256) || !p->output || strcmp(p->output, name))
        return 0;
    char *path = join(c->o->out_dir, name);
    int good = path && !kt_sha256_file(path, hex, NULL, NULL) && !strcmp(hex, p->sha256);
    free(path);
    return good;
}

/* Records a failure and says it on stderr (the caller holds no lock). */
static void fail_line(run_ctx *c, batch_record *r, const char *msg)
{
    r->status = REC_FAILED;
    r->error = strdup(msg);
    pthread_mutex_lock(&c->lock);
    fprintf(stderr, "kt-synth: %s:%ld: %s\n", c->o->jobs, r->line, msg);
    pthread_mutex_unlock(&c->lock);
}

/* Stops the batch: no new line starts. */
static void stop(run_ctx *c, int rc, const char *what, const char *msg)
{
    pthread_mutex_lock(&c->lock);
    if (!c->stop) {
        fprintf(stderr, "kt-synth: %s: %s; stopped (run again with --resume to finish)\n", what, msg);
        c->stop = 1;
        c->rc = rc;
    }
    pthread_mutex_unlock(&c->lock);
}

/* The Ogg stream serial number of an id: the first 4 bytes of its SHA-256. */
static uint32_t ogg_serial(const char *id)
{
    kt_sha256 h;
    unsigned char d[32];
    kt_sha256_init(&h);
    kt_sha256_update(&h, id, strlen(id));
    kt_sha256_final(&h, d);
    return (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
}

/* Ogg Vorbis: encoded under a hidden name beside the output, read back with the stream serial number
 * set from the id (libsndfile picks a random one), then written to path atomically. */
static kt_status write_ogg(const char *dir, const char *id, const char *path, const float *audio, size_t n,
                           kt_error *e)
{
    kt_mapped_file f = {0};
    kt_atomic_file af;
    unsigned char *copy = NULL;
    size_t size = 0;
    char *enc = malloc(strlen(dir) + strlen(id) + 16);
    if (!enc)
        return kt_error_set(e, KT_ENOMEM, "out of memory");
    sprintf(enc, "%s/.kt-enc-%s.ogg", dir, id);
    kt_status st = kt_audio_write(enc, audio, n, KT_SAMPLE_RATE, e);
    if (!st)
        st = kt_file_map(enc, &f, e);
    if (!st) {
        size = (size_t)f.size;
        if (!(copy = malloc(size ? size : 1)))
            st = kt_error_set(e, KT_ENOMEM, "out of memory");
        else if (memcpy(copy, f.data, size), batch_ogg_set_serial(copy, size, ogg_serial(id)))
            st = kt_error_set(e, KT_EFORMAT, "the Ogg encoder wrote pages kt cannot read");
    }
    kt_file_unmap(&f);
    unlink(enc);
    free(enc);
    if (!st && !(st = kt_atomic_open(&af, path, e))) {
        st = kt_atomic_write(&af, copy, size, e);
        st = st ? (kt_atomic_abort(&af), st) : kt_atomic_commit(&af, e);
    }
    free(copy);
    return st;
}

/* Writes the audio to DIR/name atomically and fills r. Returns -1 on an output error (batch stops). */
static int write_output(run_ctx *c, const batch_job *j, batch_record *r, const char *name, const float *audio,
                        size_t n)
{
    kt_error e;
    char *path = join(c->o->out_dir, name);
    kt_status st = !path ? kt_error_set(&e, KT_ENOMEM, "out of memory")
                   : strcmp(j->ext, "ogg") ? kt_audio_write(path, audio, n, KT_SAMPLE_RATE, &e)
                                           : write_ogg(c->o->out_dir, j->id, path, audio, n, &e);
    if (!st)
        st = kt_sha256_file(path, r->sha256, NULL, &e);
    if (st) {
        fail_line(c, r, e.msg);
        stop(c, EXIT_OUTPUT, path ? path : c->o->out_dir, e.msg);
        free(path);
        return -1;
    }
    free(path);
    r->status = REC_OK;
    r->output = strdup(name);
    r->samples = n;
    r->seconds = (double)n / KT_SAMPLE_RATE;
    return r->output ? 0 : -1;
}

static void synth_line(run_ctx *c, batch_synth *s, const batch_job *j, batch_record *r, const char *name)
{
    kt_error e;
    float *audio = NULL;
    size_t n = 0;
    char *warning = NULL;
    kt_status st = batch_synthesize(s, j, &audio, &n, &warning, &e);
    if (warning) {
        pthread_mutex_lock(&c->lock);
        fprintf(stderr, "kt-synth: %s:%ld: warning: %s\n", c->o->jobs, j->line, warning);
        pthread_mutex_unlock(&c->lock);
        free(warning);
    }
    if (st)
        fail_line(c, r, e.msg);
    else
        write_output(c, j, r, name, audio, n);
    free(audio);
}

/* Appends r to the manifest as one write (a crash leaves at most one cut line, which readers skip). */
static void journal(run_ctx *c, const batch_record *r)
{
    char *s = batch_record_json(r);
    size_t n = s ? strlen(s) : 0;
    if (s)
        s[n] = '\n'; /* the NUL becomes the newline; the length says where it ends */
    pthread_mutex_lock(&c->lock);
    ssize_t w = s ? write(c->journal, s, n + 1) : -1;
    int err = s ? errno : ENOMEM;
    pthread_mutex_unlock(&c->lock);
    free(s);
    if (w != (ssize_t)(n + 1))
        stop(c, EXIT_OUTPUT, c->manifest, w >= 0 ? "short write" : strerror(err));
}

static void run_one(run_ctx *c, batch_synth **s, size_t i)
{
    const batch_job *j = &c->jobs.items[c->todo[i]];
    batch_record *r = &c->results[i];
    double t0 = now_seconds();
    r->line = j->line;
    r->id = j->id ? strdup(j->id) : NULL;
    memcpy(r->job_sha256, j->job_sha256, KT_SHA256_HEX);
    char *name = j->id ? output_name(j) : NULL;
    const batch_record *p = c->o->resume && name ? previous(c, j->id) : NULL;
    if (j->error)
        fail_line(c, r, j->error);
    else if (!name)
        fail_line(c, r, "out of memory");
    else if (still_good(c, j, p, name)) {
        r->status = REC_OK;
        r->output = strdup(p->output);
        r->seconds = p->seconds;
        r->samples = p->samples;
        memcpy(r->sha256, p->sha256, KT_SHA256_HEX);
        r->kept = 1;
    } else {
        kt_error e;
        if (!*s && batch_synth_open(c->engine, s, &e)) {
            stop(c, e.code == KT_ENOMEM ? EXIT_OUTPUT : EXIT_MODEL, "model", e.msg);
            free(name);
            return;
        }
        synth_line(c, *s, j, r, name);
    }
    free(name);
    r->elapsed = r->kept ? 0 : now_seconds() - t0;
    if (!r->kept && r->status != REC_NONE)
        journal(c, r);
}

static void *worker(void *arg)
{
    run_ctx *c = arg;
    batch_synth *s = NULL;
    for (;;) {
        pthread_mutex_lock(&c->lock);
        size_t i = c->next;
        int done = c->stop || i >= c->n_todo;
        if (!done)
            c->next++;
        pthread_mutex_unlock(&c->lock);
        if (done)
            break;
        run_one(c, &s, i);
    }
    batch_synth_free(s);
    return NULL;
}

/* This shard's jobs: ordinal mod n == k. */
static int select_shard(run_ctx *c)
{
    long n = c->o->shard_n > 1 ? c->o->shard_n : 1, k = n > 1 ? c->o->shard_k : 0;
    c->todo = malloc((c->jobs.count ? c->jobs.count : 1) * sizeof *c->todo);
    if (!c->todo) {
        fprintf(stderr, "kt-synth: out of memory\n");
        return EXIT_OUTPUT;
    }
    for (size_t i = 0; i < c->jobs.count; i++)
        if (c->jobs.items[i].ordinal % (size_t)n == (size_t)k)
            c->todo[c->n_todo++] = i;
    c->results = calloc(c->n_todo ? c->n_todo : 1, sizeof *c->results);
    if (!c->results) {
        fprintf(stderr, "kt-synth: out of memory\n");
        return EXIT_OUTPUT;
    }
    return 0;
}

/* A record cut short by a crash ends the manifest without a newline: the next record starts a line. */
static int end_with_newline(run_ctx *c)
{
    struct stat st;
    char last = '\n';
    if (fstat(c->journal, &st) == 0 && st.st_size > 0 && pread(c->journal, &last, 1, st.st_size - 1) == 1 &&
        last != '\n' && write(c->journal, "\n", 1) != 1) {
        fprintf(stderr, "kt-synth: %s: cannot write the manifest: %s\n", c->manifest, strerror(errno));
        return EXIT_OUTPUT;
    }
    return 0;
}

static int open_journal(run_ctx *c)
{
    long n = c->o->shard_n > 1 ? c->o->shard_n : 1;
    if (!(c->manifest = batch_manifest_path(c->o->out_dir, c->o->shard_k, n))) {
        fprintf(stderr, "kt-synth: out of memory\n");
        return EXIT_OUTPUT;
    }
    int rc = c->o->resume ? load_previous(c) : 0;
    if (rc)
        return rc;
    c->journal = open(c->manifest, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | (c->o->resume ? 0 : O_TRUNC), 0644);
    if (c->journal < 0) {
        fprintf(stderr, "kt-synth: %s: cannot write the manifest: %s\n", c->manifest, strerror(errno));
        return EXIT_OUTPUT;
    }
    return end_with_newline(c);
}

static int run_workers(run_ctx *c)
{
    size_t n = (size_t)(c->o->workers > 0 ? c->o->workers : 1);
    if (n > c->n_todo)
        n = c->n_todo;
    pthread_t *t = calloc(n ? n : 1, sizeof *t);
    size_t started = 0;
    if (!t) {
        fprintf(stderr, "kt-synth: out of memory\n");
        return EXIT_OUTPUT;
    }
    while (started < n && pthread_create(&t[started], NULL, worker, c) == 0)
        started++;
    if (started == 0 && n > 0)
        worker(c); /* no thread could start: run the lines here */
    for (size_t i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    free(t);
    return 0;
}

/* The manifest rewritten as one record per line of this shard, in line order. */
static int compact_manifest(run_ctx *c)
{
    batch_records l = {0};
    kt_error e;
    int rc = 0;
    for (size_t i = 0; i < c->n_todo && !rc; i++)
        if (c->results[i].status != REC_NONE && batch_records_push(&l, &c->results[i]))
            rc = EXIT_OUTPUT;
    if (!rc && batch_manifest_write(c->manifest, &l, &e)) {
        fprintf(stderr, "kt-synth: %s: %s\n", c->manifest, e.msg);
        rc = EXIT_OUTPUT;
    }
    batch_records_free(&l);
    return rc;
}

static void summary(const run_ctx *c, double elapsed, double load)
{
    size_t ok = 0, failed = 0, kept = 0;
    double audio = 0;
    for (size_t i = 0; i < c->n_todo; i++) {
        const batch_record *r = &c->results[i];
        ok += r->status == REC_OK;
        failed += r->status == REC_FAILED;
        kept += r->kept;
        audio += r->status == REC_OK && !r->kept ? r->seconds : 0;
    }
    size_t made = ok - kept;
    fprintf(stderr, "kt-synth: %s: %zu of %zu lines in this shard: %zu ok (%zu kept from an earlier run), %zu failed; "
                    "%s\n", c->o->jobs, c->n_todo, c->jobs.count, ok, kept, failed, c->manifest);
    if (!c->o->json)
        return;
    printf("{\"lines\":%zu,\"shard_lines\":%zu,\"ok\":%zu,\"kept\":%zu,\"failed\":%zu,\"load_seconds\":%.6f,"
           "\"elapsed\":%.6f,\"audio_seconds\":%.6f,\"utterances_per_second\":%.6f,\"realtime_factor\":%.6f}\n",
           c->jobs.count, c->n_todo, ok, kept, failed, load, elapsed, audio, elapsed > 0 ? (double)made / elapsed : 0,
           audio > 0 ? elapsed / audio : 0);
    fflush(stdout);
}

int batch_run(const batch_opts *o)
{
    run_ctx c;
    memset(&c, 0, sizeof c);
    c.o = o;
    c.journal = -1;
    pthread_mutex_init(&c.lock, NULL);
    double t0 = now_seconds(), load = 0;
    int rc = batch_jobs_read(o->jobs, o->voice, &c.jobs);
    if (!rc)
        rc = select_shard(&c);
    if (!rc)
        rc = check_out_dir(o->out_dir);
    if (!rc)
        rc = batch_engine_open(o, &c.engine);
    load = now_seconds() - t0;
    if (!rc)
        rc = open_journal(&c);
    if (rc)
        goto fail;
    run_workers(&c);
    if (!c.stop) {
        summary(&c, now_seconds() - t0, load);
        for (size_t i = 0; i < c.n_todo && !rc; i++)
            rc = c.results[i].status == REC_FAILED ? EXIT_INPUT : 0;
        int wrc = compact_manifest(&c);
        rc = wrc ? wrc : rc;
    } else
        rc = c.rc;
fail:
    if (c.journal >= 0)
        close(c.journal);
    for (size_t i = 0; c.results && i < c.n_todo; i++)
        batch_record_clear(&c.results[i]);
    free(c.results);
    free(c.todo);
    free(c.manifest);
    batch_records_free(&c.prev);
    batch_engine_free(c.engine);
    batch_jobs_free(&c.jobs);
    pthread_mutex_destroy(&c.lock);
    return rc;
}
