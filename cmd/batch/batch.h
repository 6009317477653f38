/* batch.h - kt-synth --batch: many utterances from a JSON-lines file with one model load.
 *
 * jobs.c reads and checks the jobs file, manifest.c reads, writes and merges manifests,
 * synth.c is the one place that calls the synthesis library, run.c drives the worker
 * threads, main.c parses the command line. docs/batch.md describes the behaviour. */
#ifndef KT_BATCH_H
#define KT_BATCH_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kt/audio.h"
#include "kt/error.h"
#include "kt/sha256.h"

#define BATCH_MAX_ID 200             /* bytes of an id */
#define BATCH_MAX_LINE (64u << 20)   /* bytes of one jobs line */
#define BATCH_DEFAULT_WORKERS 8      /* --jobs when not given: the CPUs, at most this many */

enum { EXIT_INPUT = 1, EXIT_USAGE = 2, EXIT_OUTPUT = 3, EXIT_MODEL = 4 };
enum { INPUT_TEXT, INPUT_PHONEMES, INPUT_SSML };

typedef struct {
    const char *jobs, *out_dir, *model, *config, *voices, *voice, *lang;
    int resume, merge, workers, threads, bf16, json;
    long shard_k, shard_n; /* -1 when not given */
    long shards;           /* --shards N (with JOB_COMPLETION_INDEX); 0 when not given */
} batch_opts;

/* One non-blank line of the jobs file. */
typedef struct {
    long line;       /* 1-based line number in the file */
    size_t ordinal;  /* position among the non-blank lines: decides the shard */
    char *id;        /* NULL when the line has no usable id */
    int kind;        /* INPUT_* */
    char *input;     /* text, phonemes or SSML */
    char *voice, *lang;
    double speed;
    uint32_t seed;
    const char *ext; /* "wav", "flac" or "ogg" */
    char job_sha256[KT_SHA256_HEX]; /* of the line's bytes: a changed line is redone on --resume */
    char *error;     /* a bad line: why it cannot run (it is recorded, not run) */
} batch_job;

typedef struct {
    batch_job *items;
    size_t count;
} batch_jobs;

/* What happened to one line; also one manifest record. */
typedef enum { REC_NONE = 0, REC_OK, REC_FAILED } rec_status;
typedef struct {
    long line;
    char *id;         /* may be NULL (a line without an id) */
    rec_status status;
    char *error;      /* failed: the message */
    char *output;     /* ok: file name inside the output folder */
    double seconds;   /* ok: audio duration */
    uint64_t samples; /* ok */
    char sha256[KT_SHA256_HEX]; /* ok: of the output file */
    char job_sha256[KT_SHA256_HEX];
    double elapsed;   /* wall seconds spent on the line (0 when kept from an earlier run) */
    int kept;         /* kept from an earlier run by --resume */
    size_t seq;       /* order of arrival (the later of two records of a line wins) */
} batch_record;

typedef struct {
    batch_record *items;
    size_t count, cap;
} batch_records;

/* ---- jobs.c ---- */
/* Reads every line of path; bad lines get job->error. Refuses (one line on stderr,
 * EXIT_INPUT) an unreadable file, duplicate ids and unsafe ids. */
int batch_jobs_read(const char *path, const char *default_voice, batch_jobs *out);
void batch_jobs_free(batch_jobs *j);
/* 0 when id is safe as a file name stem, else -1 with the reason in *why. */
int batch_id_check(const char *id, const char **why);

/* ---- manifest.c ---- */
void batch_record_clear(batch_record *r);
void batch_records_free(batch_records *r);
/* Moves r into the list (r is zeroed). Returns -1 when out of memory. */
int batch_records_push(batch_records *l, batch_record *r);
/* One manifest line (JSON, no newline), malloc'd; NULL when out of memory. */
char *batch_record_json(const batch_record *r);
/* Reads a manifest; unparsable lines (a write cut short) are skipped. A missing file is
 * an empty list. Returns -1 (message in err) when the file cannot be read. */
int batch_manifest_read(const char *path, batch_records *out, kt_error *err);
/* Sorts by line (for equal lines the later record wins) and drops the superseded ones. */
void batch_records_compact(batch_records *l);
/* Writes the records, one per line, to path atomically. */
kt_status batch_manifest_write(const char *path, const batch_records *l, kt_error *err);
/* The manifest name of a shard (manifest.jsonl when n <= 1), malloc'd inside dir. */
char *batch_manifest_path(const char *dir, long k, long n);
/* kt-synth --merge: the shards' manifests into DIR/manifest.jsonl. */
int batch_merge(const batch_opts *o);

/* ---- synth.c: the synthesis adapter ---- */
typedef struct batch_engine batch_engine; /* shared by the workers: model, config, voices */
typedef struct batch_synth batch_synth;   /* one per worker thread */
/* Loads the config and the model once. Errors print one line and return EXIT_MODEL/EXIT_OUTPUT/EXIT_USAGE. */
int batch_engine_open(const batch_opts *o, batch_engine **out);
void batch_engine_free(batch_engine *e);
kt_status batch_synth_open(batch_engine *e, batch_synth **out, kt_error *err);
void batch_synth_free(batch_synth *s);
/* Synthesizes one job into *audio (malloc'd, *n samples at KT_SAMPLE_RATE). *warning may receive a
 * malloc'd note (symbols dropped by G2P). */
kt_status batch_synthesize(batch_synth *s, const batch_job *j, float **audio, size_t *n, char **warning,
                           kt_error *err);

/* ---- ogg.c ---- */
/* Sets the serial number of every page of a single-stream Ogg file in buf (and the pages' CRCs).
 * Returns -1 when buf is not a sequence of whole Ogg pages (then it may be partly changed). */
int batch_ogg_set_serial(unsigned char *buf, size_t n, uint32_t serial);

/* ---- run.c ---- */
int batch_run(const batch_opts *o);

#endif
