/* manifest.c - the JSON-lines manifest of kt-synth --batch: records, reading, writing, merging. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "kt/grow.h"
#include "kt/io.h"

void batch_record_clear(batch_record *r)
{
    free(r->id);
    free(r->error);
    free(r->output);
    memset(r, 0, sizeof *r);
}

void batch_records_free(batch_records *l)
{
    for (size_t i = 0; i < l->count; i++)
        batch_record_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

int batch_records_push(batch_records *l, batch_record *r)
{
    void *p = l->items;
    if (kt_grow(&p, &l->cap, l->count + 1, sizeof *r))
        return -1;
    l->items = p;
    r->seq = l->count;
    l->items[l->count++] = *r;
    memset(r, 0, sizeof *r);
    return 0;
}

static void add_string_or_null(cJSON *o, const char *name, const char *s)
{
    if (s)
        cJSON_AddStringToObject(o, name, s);
    else
        cJSON_AddNullToObject(o, name);
}

/* Keys in a fixed order: line, id, status, error, output, seconds, samples, sha256, job_sha256, elapsed. */
char *batch_record_json(const batch_record *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    int ok = r->status == REC_OK;
    cJSON_AddNumberToObject(o, "line", (double)r->line);
    add_string_or_null(o, "id", r->id);
    cJSON_AddStringToObject(o, "status", ok ? "ok" : "failed");
    add_string_or_null(o, "error", ok ? NULL : r->error ? r->error : "failed");
    add_string_or_null(o, "output", ok ? r->output : NULL);
    if (ok) {
        cJSON_AddNumberToObject(o, "seconds", r->seconds);
        cJSON_AddNumberToObject(o, "samples", (double)r->samples);
    } else {
        cJSON_AddNullToObject(o, "seconds");
        cJSON_AddNullToObject(o, "samples");
    }
    add_string_or_null(o, "sha256", ok ? r->sha256 : NULL);
    add_string_or_null(o, "job_sha256", r->job_sha256[0] ? r->job_sha256 : NULL);
    cJSON_AddNumberToObject(o, "elapsed", r->elapsed);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static int copy_hex(const cJSON *o, const char *name, char hex[KT_SHA256_HEX])
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(v) || strlen(v->valuestring) != 64)
        return -1;
    memcpy(hex, v->valuestring, KT_SHA256_HEX);
    return 0;
}

static char *dup_string(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

static double number(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* 0 and *r filled from one manifest line; -1 when it is not a record. */
static int parse_record(const char *text, batch_record *r)
{
    memset(r, 0, sizeof *r);
    cJSON *o = cJSON_ParseWithOpts(text, NULL, 1);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "status");
    if (!cJSON_IsObject(o) || !cJSON_IsString(st) || number(o, "line") < 1) {
        cJSON_Delete(o);
        return -1;
    }
    r->line = (long)number(o, "line");
    r->status = !strcmp(st->valuestring, "ok") ? REC_OK : REC_FAILED;
    r->id = dup_string(o, "id");
    r->error = dup_string(o, "error");
    r->output = dup_string(o, "output");
    r->seconds = number(o, "seconds");
    r->samples = (uint64_t)number(o, "samples");
    r->elapsed = number(o, "elapsed");
    copy_hex(o, "job_sha256", r->job_sha256);
    int bad = r->status == REC_OK && (copy_hex(o, "sha256", r->sha256) || !r->output);
    cJSON_Delete(o);
    if (bad)
        batch_record_clear(r);
    return bad ? -1 : 0;
}

int batch_manifest_read(const char *path, batch_records *out, kt_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return errno == ENOENT ? 0 : (kt_error_set(err, KT_EIO, "cannot open: %s", strerror(errno)), -1);
    char *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    while (getline(&buf, &cap, fp) >= 0) {
        batch_record r;
        if (parse_record(buf, &r))
            continue;
        if (batch_records_push(out, &r)) {
            batch_record_clear(&r);
            rc = -1;
            kt_error_set(err, KT_ENOMEM, "out of memory");
            break;
        }
    }
    if (!rc && ferror(fp))
        rc = -1, kt_error_set(err, KT_EIO, "cannot read: %s", strerror(errno));
    free(buf);
    fclose(fp);
    return rc;
}

static int by_line_then_seq(const void *a, const void *b)
{
    const batch_record *x = a, *y = b;
    if (x->line != y->line)
        return (x->line > y->line) - (x->line < y->line);
    return (x->seq > y->seq) - (x->seq < y->seq);
}

void batch_records_compact(batch_records *l)
{
    size_t k = 0;
    if (l->count < 2)
        return;
    qsort(l->items, l->count, sizeof *l->items, by_line_then_seq);
    for (size_t i = 0; i < l->count; i++) {
        if (k > 0 && l->items[k - 1].line == l->items[i].line)
            batch_record_clear(&l->items[--k]);
        l->items[k++] = l->items[i];
    }
    l->count = k;
}

kt_status batch_manifest_write(const char *path, const batch_records *l, kt_error *err)
{
    kt_atomic_file af;
    kt_status st = kt_atomic_open(&af, path, err);
    for (size_t i = 0; !st && i < l->count; i++) {
        char *s = batch_record_json(&l->items[i]);
        st = s ? kt_atomic_write(&af, s, strlen(s), err) : kt_error_set(err, KT_ENOMEM, "out of memory");
        if (!st)
            st = kt_atomic_write(&af, "\n", 1, err);
        free(s);
        if (st)
            kt_atomic_abort(&af);
    }
    return st ? st : kt_atomic_commit(&af, err);
}

char *batch_manifest_path(const char *dir, long k, long n)
{
    size_t len = strlen(dir) + 64;
    char *p = malloc(len);
    if (!p)
        return NULL;
    if (n <= 1)
        snprintf(p, len, "%s/manifest.jsonl", dir);
    else
        snprintf(p, len, "%s/manifest.%ld-of-%ld.jsonl", dir, k, n);
    return p;
}

/* k and n when name is a shard manifest's ("manifest.K-of-N.jsonl"), else -1. */
static int shard_of_name(const char *name, long *k, long *n)
{
    char back[96];
    if (strlen(name) > 64 || sscanf(name, "manifest.%ld-of-%ld.jsonl", k, n) != 2 || *n < 2 || *k < 0 || *k >= *n)
        return -1;
    snprintf(back, sizeof back, "manifest.%ld-of-%ld.jsonl", *k, *n);
    return strcmp(back, name) ? -1 : 0;
}

/* Every shard manifest in dir, into one list (each shard's own later records winning). */
static int gather_shards(const char *dir, batch_records *all, long *n_shards)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "kt-synth: %s: cannot open: %s\n", dir, strerror(errno));
        return EXIT_INPUT;
    }
    unsigned char *seen = NULL;
    long n = 0, found = 0;
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        long k, nn;
        if (shard_of_name(de->d_name, &k, &nn))
            continue;
        if (n && nn != n) {
            fprintf(stderr, "kt-synth: %s: shard manifests of %ld and of %ld shards; remove the stale ones\n", dir,
                    n, nn);
            rc = EXIT_INPUT;
            break;
        }
        if (!n && (n = nn) && !(seen = calloc((size_t)n, 1))) {
            rc = EXIT_OUTPUT;
            break;
        }
        seen[k] = 1;
        found++;
        batch_records one = {0};
        kt_error e;
        char *path = batch_manifest_path(dir, k, n);
        if (!path || batch_manifest_read(path, &one, &e)) {
            fprintf(stderr, "kt-synth: %s: %s\n", path ? path : dir, path ? e.msg : "out of memory");
            rc = EXIT_INPUT;
        }
        batch_records_compact(&one);
        for (size_t i = 0; !rc && i < one.count; i++)
            if (batch_records_push(all, &one.items[i]))
                rc = EXIT_OUTPUT;
        batch_records_free(&one);
        free(path);
    }
    closedir(d);
    for (long k = 0; !rc && k < n; k++)
        if (!seen[k]) {
            fprintf(stderr, "kt-synth: %s: shard %ld of %ld has no manifest (found %ld of %ld)\n", dir, k, n, found,
                    n);
            rc = EXIT_INPUT;
        }
    if (!rc && !n) {
        fprintf(stderr, "kt-synth: %s: no shard manifests (manifest.K-of-N.jsonl)\n", dir);
        rc = EXIT_INPUT;
    }
    free(seen);
    *n_shards = n;
    return rc;
}

/* With the jobs file: every non-blank line must have a record. */
static int check_coverage(const batch_opts *o, const batch_records *all)
{
    batch_jobs jobs;
    int rc = batch_jobs_read(o->jobs, o->voice, &jobs);
    size_t r = 0;
    for (size_t i = 0; !rc && i < jobs.count; i++) {
        while (r < all->count && all->items[r].line < jobs.items[i].line)
            r++;
        if (r == all->count || all->items[r].line != jobs.items[i].line) {
            fprintf(stderr, "kt-synth: %s:%ld: no shard recorded this line; run its shard again with --resume\n",
                    o->jobs, jobs.items[i].line);
            rc = EXIT_INPUT;
        }
    }
    batch_jobs_free(&jobs);
    return rc;
}

int batch_merge(const batch_opts *o)
{
    batch_records all = {0};
    long n = 0;
    size_t before, failed = 0;
    kt_error e;
    char *out = NULL;
    int rc = gather_shards(o->out_dir, &all, &n);
    if (rc)
        goto done;
    before = all.count;
    batch_records_compact(&all);
    if (all.count != before) {
        fprintf(stderr, "kt-synth: %s: a line is recorded by two shards; were the shards run on different jobs "
                        "files?\n", o->out_dir);
        rc = EXIT_INPUT;
        goto done;
    }
    if (o->jobs && (rc = check_coverage(o, &all)))
        goto done;
    for (size_t i = 0; i < all.count; i++)
        failed += all.items[i].status != REC_OK;
    if (!(out = batch_manifest_path(o->out_dir, 0, 1)) || batch_manifest_write(out, &all, &e)) {
        fprintf(stderr, "kt-synth: %s: %s\n", out ? out : o->out_dir, out ? e.msg : "out of memory");
        rc = EXIT_OUTPUT;
        goto done;
    }
    fprintf(stderr, "kt-synth: merged %ld shards: %zu lines, %zu ok, %zu failed: %s\n", n, all.count,
            all.count - failed, failed, out);
    rc = failed ? EXIT_INPUT : 0;
done:
    free(out);
    batch_records_free(&all);
    return rc;
}
