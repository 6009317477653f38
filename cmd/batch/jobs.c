/* jobs.c - reading and checking the jobs file of kt-synth --batch. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "kt/kt.h"

void batch_jobs_free(batch_jobs *j)
{
    for (size_t i = 0; i < j->count; i++) {
        batch_job *b = &j->items[i];
        free(b->id);
        free(b->input);
        free(b->voice);
        free(b->lang);
        free(b->error);
    }
    free(j->items);
    memset(j, 0, sizeof *j);
}

int batch_id_check(const char *id, const char **why)
{
    size_t n = strlen(id);
    if (n == 0)
        *why = "an empty id";
    else if (n > BATCH_MAX_ID)
        *why = "an id longer than 200 bytes";
    else if (strchr(id, '/') || strchr(id, '\\'))
        *why = "a path separator in the id";
    else if (strstr(id, ".."))
        *why = "'..' in the id";
    else if (id[0] == '.')
        *why = "an id starting with '.' (hidden file)";
    else {
        for (const unsigned char *p = (const unsigned char *)id; *p; p++)
            if (*p < 0x20 || *p == 0x7f) {
                *why = "a control character in the id";
                return -1;
            }
        return 0;
    }
    return -1;
}

static int set_error(batch_job *j, const char *msg)
{
    if (!j->error)
        j->error = strdup(msg);
    return j->error ? 0 : -1;
}

static const char *string_field(const cJSON *o, const char *name, batch_job *j, int *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v || cJSON_IsNull(v))
        return NULL;
    if (!cJSON_IsString(v)) {
        char msg[96];
        snprintf(msg, sizeof msg, "\"%s\" must be a string", name);
        set_error(j, msg);
        *bad = 1;
        return NULL;
    }
    return v->valuestring;
}

static int only_space(const char *s)
{
    for (; *s; s++)
        if (!strchr(" \t\r\n\f\v", *s))
            return 0;
    return 1;
}

/* The input: exactly one of text, phonemes, ssml. */
static void parse_input(const cJSON *o, batch_job *j, int *bad)
{
    static const char *const names[] = {"text", "phonemes", "ssml"};
    int found = 0;
    for (int k = 0; k < 3; k++) {
        const char *s = string_field(o, names[k], j, bad);
        if (!s)
            continue;
        if (found++) {
            set_error(j, "give one of \"text\", \"phonemes\" or \"ssml\", not several");
            *bad = 1;
            return;
        }
        j->kind = k;
        if (!(j->input = strdup(s)))
            *bad = 1;
    }
    if (*bad)
        return;
    if (!found)
        set_error(j, "no \"text\", \"phonemes\" or \"ssml\"");
    else if (only_space(j->input))
        set_error(j, j->kind == INPUT_PHONEMES ? "empty phonemes" : j->kind == INPUT_SSML ? "empty ssml"
                                                                                           : "empty text");
}

static void parse_options(const cJSON *o, batch_job *j, const char *default_voice, int *bad)
{
    const char *voice = string_field(o, "voice", j, bad), *lang = string_field(o, "lang", j, bad);
    const char *format = string_field(o, "format", j, bad);
    j->voice = strdup(voice ? voice : default_voice);
    j->lang = lang ? strdup(lang) : NULL;
    if (!j->voice || (lang && !j->lang))
        *bad = 1;
    j->ext = "wav";
    if (format && (!strcmp(format, "flac") || !strcmp(format, "ogg") || !strcmp(format, "wav")))
        j->ext = !strcmp(format, "flac") ? "flac" : !strcmp(format, "ogg") ? "ogg" : "wav";
    else if (format)
        set_error(j, "\"format\" must be \"wav\", \"flac\" or \"ogg\"");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "speed");
    j->speed = 1.0;
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= KT_TTS_SPEED_MIN && v->valuedouble <= KT_TTS_SPEED_MAX))
            set_error(j, "\"speed\" must be a number in 0.1..10");
        else
            j->speed = v->valuedouble;
    }
    v = cJSON_GetObjectItemCaseSensitive(o, "seed");
    if (v && !cJSON_IsNull(v)) {
        double s = cJSON_IsNumber(v) ? v->valuedouble : -1;
        if (s < 0 || s > 4294967295.0 || s != floor(s))
            set_error(j, "\"seed\" must be an integer 0..4294967295");
        else
            j->seed = (uint32_t)s;
    }
}

/* Fills j from one line's JSON; a bad line only gets j->error. Returns -1 when out of memory. */
static int parse_line(const char *text, size_t len, const char *default_voice, batch_job *j)
{
    kt_sha256_hex(text, len, j->job_sha256);
    if (memchr(text, '\0', len))
        return set_error(j, "a NUL byte in the line");
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithOpts(text, &end, 1);
    if (!o || !cJSON_IsObject(o)) {
        char msg[64];
        /* cJSON reports where parsing stopped (the jobs are read on one thread) */
        snprintf(msg, sizeof msg, "malformed JSON at byte %zu", (size_t)(end && end >= text ? end - text : 0) + 1);
        cJSON_Delete(o);
        return set_error(j, o ? "not a JSON object" : msg);
    }
    int bad = 0;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (!id || !cJSON_IsString(id))
        set_error(j, "no \"id\" string");
    else if (!(j->id = strdup(id->valuestring)))
        bad = 1;
    if (!bad)
        parse_input(o, j, &bad);
    if (!bad)
        parse_options(o, j, default_voice, &bad);
    cJSON_Delete(o);
    return bad && !j->error ? -1 : 0;
}

static int push_job(batch_jobs *l, size_t *cap)
{
    if (l->count == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        batch_job *p = realloc(l->items, c * sizeof *p);
        if (!p)
            return -1;
        l->items = p;
        *cap = c;
    }
    memset(&l->items[l->count++], 0, sizeof(batch_job));
    return 0;
}

static int read_lines(FILE *fp, const char *path, const char *default_voice, batch_jobs *out)
{
    char *buf = NULL;
    size_t bufcap = 0, cap = 0;
    ssize_t n;
    long line = 0;
    int rc = 0;
    while ((n = getline(&buf, &bufcap, fp)) >= 0) {
        line++;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            buf[--n] = '\0';
        if (only_space(buf) && !memchr(buf, '\0', (size_t)n))
            continue;
        if (push_job(out, &cap)) {
            rc = -1;
            break;
        }
        batch_job *j = &out->items[out->count - 1];
        j->line = line;
        j->ordinal = out->count - 1;
        if ((size_t)n > BATCH_MAX_LINE)
            rc = set_error(j, "line longer than 64 MiB");
        else
            rc = parse_line(buf, (size_t)n, default_voice, j);
        if (rc)
            break;
    }
    free(buf);
    if (rc) {
        fprintf(stderr, "kt-synth: %s:%ld: out of memory\n", path, line);
        return EXIT_OUTPUT;
    }
    if (ferror(fp)) {
        fprintf(stderr, "kt-synth: %s: cannot read: %s\n", path, strerror(errno));
        return EXIT_INPUT;
    }
    return 0;
}

static int by_id(const void *a, const void *b)
{
    const batch_job *x = *(const batch_job *const *)a, *y = *(const batch_job *const *)b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* Unsafe or duplicate ids refuse the whole batch before anything runs. */
static int check_ids(const char *path, const batch_jobs *l)
{
    const batch_job **v = malloc((l->count ? l->count : 1) * sizeof *v);
    size_t n = 0;
    int rc = 0;
    if (!v) {
        fprintf(stderr, "kt-synth: out of memory\n");
        return EXIT_OUTPUT;
    }
    for (size_t i = 0; i < l->count && !rc; i++) {
        const char *why;
        if (!l->items[i].id)
            continue;
        if (batch_id_check(l->items[i].id, &why)) {
            fprintf(stderr, "kt-synth: %s:%ld: unsafe id \"%s\": %s; nothing was run\n", path, l->items[i].line,
                    l->items[i].id, why);
            rc = EXIT_INPUT;
        }
        v[n++] = &l->items[i];
    }
    if (!rc)
        qsort(v, n, sizeof *v, by_id);
    for (size_t i = 1; i < n && !rc; i++)
        if (!strcmp(v[i - 1]->id, v[i]->id)) {
            fprintf(stderr, "kt-synth: %s:%ld: duplicate id \"%s\" (first on line %ld); nothing was run\n", path,
                    v[i]->line, v[i]->id, v[i - 1]->line);
            rc = EXIT_INPUT;
        }
    free(v);
    return rc;
}

int batch_jobs_read(const char *path, const char *default_voice, batch_jobs *out)
{
    memset(out, 0, sizeof *out);
    FILE *fp = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!fp) {
        fprintf(stderr, "kt-synth: %s: cannot open: %s\n", path, strerror(errno));
        return EXIT_INPUT;
    }
    int rc = read_lines(fp, path, default_voice, out);
    if (fp != stdin)
        fclose(fp);
    if (!rc)
        rc = check_ids(path, out);
    if (rc)
        batch_jobs_free(out);
    return rc;
}
