/* en_lexicon.c - the mapped English lexicon (.ktlex) and user entries. See kt/en.h. */
#include "en_impl.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef KT_DATADIR
#define KT_DATADIR "/usr/local/share/kt"
#endif
#ifndef KT_SRCDATADIR
#define KT_SRCDATADIR "data"
#endif

typedef struct {
    char *word, *value; /* value: 'G' then the phonemes */
} user_entry;

struct kt_en_lexicon {
    const unsigned char *map;
    size_t size;
    uint32_t count;
    const unsigned char *index;   /* count u32 offsets into pool */
    const unsigned char *buckets; /* 65537 u32: index ranges per two-byte prefix */
    const char *pool;
    size_t pool_size;
    int british;
    user_entry *user;
    size_t n_user, cap_user;
};

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p)
{
    return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static kt_status lex_check(kt_en_lexicon *l, kt_error *err)
{
    if (l->size < 40 || memcmp(l->map, "KTLEX\0\0\2", 8))
        return kt_error_set(err, KT_EFORMAT, "not a kt English lexicon (rebuild it with tools/en_lexicon_build.py)");
    uint64_t ix = rd64(l->map + 16), pool = rd64(l->map + 24), bk = rd64(l->map + 32);
    if (bk > l->size || l->size - bk < 65537 * 4)
        return kt_error_set(err, KT_EFORMAT, "English lexicon: bad layout");
    l->buckets = l->map + bk;
    for (size_t p = 0; p < 65537; p++)
        if (rd32(l->buckets + 4 * p) > rd32(l->map + 8) || (p && rd32(l->buckets + 4 * p) < rd32(l->buckets + 4 * p - 4)))
            return kt_error_set(err, KT_EFORMAT, "English lexicon: bad buckets");
    l->count = rd32(l->map + 8);
    if (ix > l->size || pool > l->size || pool < ix || (pool - ix) / 4 < l->count || l->size == pool ||
        l->map[l->size - 1] != 0)
        return kt_error_set(err, KT_EFORMAT, "English lexicon: bad layout");
    l->index = l->map + ix;
    l->pool = (const char *)l->map + pool;
    l->pool_size = l->size - pool;
    for (uint32_t i = 0; i < l->count; i++)
        if (rd32(l->index + 4 * (size_t)i) >= l->pool_size)
            return kt_error_set(err, KT_EFORMAT, "English lexicon: bad offset");
    return KT_OK;
}

kt_status kt_en_lexicon_open(const char *path, int british, kt_en_lexicon **out, kt_error *err)
{
    kt_status st;
    struct stat sb;
    kt_en_lexicon *l = calloc(1, sizeof *l);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    *out = NULL;
    if (!l) {
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
        goto fail;
    }
    l->british = british;
    if (fd < 0 || fstat(fd, &sb) != 0 || sb.st_size <= 0) {
        st = kt_error_set(err, KT_EIO, "cannot open English lexicon %s", path);
        goto fail;
    }
    l->size = (size_t)sb.st_size;
    void *m = mmap(NULL, l->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
        st = kt_error_set(err, KT_EIO, "cannot map English lexicon %s", path);
        goto fail;
    }
    l->map = m;
    if ((st = lex_check(l, err)))
        goto fail;
    close(fd);
    *out = l;
    return KT_OK;
fail:
    if (fd >= 0)
        close(fd);
    kt_en_lexicon_close(l);
    return st;
}

kt_status kt_en_lexicon_open_lang(const char *lang, kt_en_lexicon **out, kt_error *err)
{
    char path[4096];
    const char *dirs[3] = {getenv("KT_DATA_DIR"), KT_DATADIR, KT_SRCDATADIR};
    *out = NULL;
    if (!lang || strncmp(lang, "en", 2) || (lang[2] && lang[2] != '-'))
        return kt_error_set(err, KT_EINVAL, "no English lexicon for language \"%s\"", lang ? lang : "");
    int british = strcmp(lang, "en-us") != 0;
    const char *file = british ? "en_gb.ktlex" : "en_us.ktlex";
    for (int i = 0; i < (dirs[0] ? 1 : 3); i++) { /* KT_DATA_DIR, when set, is the only place */
        if (!dirs[i] || !dirs[i][0])
            continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dirs[i], file) >= sizeof path)
            continue;
        if (access(path, R_OK) == 0)
            return kt_en_lexicon_open(path, british, out, err);
    }
    return kt_error_set(err, KT_EIO, "English lexicon %s not found (set KT_DATA_DIR)", file);
}

void kt_en_lexicon_close(kt_en_lexicon *l)
{
    if (!l)
        return;
    if (l->map)
        munmap((void *)l->map, l->size);
    for (size_t i = 0; i < l->n_user; i++) {
        free(l->user[i].word);
        free(l->user[i].value);
    }
    free(l->user);
    free(l);
}

int en_lex_british(const kt_en_lexicon *l)
{
    return l->british;
}

/* Compares key k (NUL-terminated) with w[0..n) as byte strings. */
static int key_cmp(const char *k, const char *w, size_t n)
{
    const unsigned char *a = (const unsigned char *)k, *b = (const unsigned char *)w;
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i])
            return a[i] ? (a[i] < b[i] ? -1 : 1) : -1;
    }
    return a[n] ? 1 : 0;
}

/* The stored value ('G' or 'S' first) of exactly w[0..n), or NULL. */
static const char *find_exact(const kt_en_lexicon *l, const char *w, size_t n)
{
    size_t lo = 0, hi = l->n_user;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(l->user[mid].word, w, n);
        if (!c)
            return l->user[mid].value;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (n == 0)
        return NULL;
    size_t pre = (size_t)(unsigned char)w[0] * 256 + (n > 1 ? (unsigned char)w[1] : 0);
    lo = rd32(l->buckets + 4 * pre), hi = rd32(l->buckets + 4 * pre + 4);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *k = l->pool + rd32(l->index + 4 * mid);
        int c = key_cmp(k, w, n);
        if (!c) {
            const char *v = k + n + 1;
            return (size_t)(v - l->pool) < l->pool_size ? v : NULL;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* misaki's case variant of a word: lower-case -> Capitalized, Capitalized -> lower-case
 * (ASCII, length >= 2); 0 when there is none. */
static int case_variant(const char *w, size_t n, char *v)
{
    int lower = 1, cap = n > 0 && w[0] >= 'A' && w[0] <= 'Z';
    for (size_t i = 0; i < n; i++) {
        if (w[i] >= 'A' && w[i] <= 'Z')
            lower = 0;
        if (i > 0 && w[i] >= 'A' && w[i] <= 'Z')
            cap = 0;
    }
    if (n < 2 || (!lower && !cap))
        return 0;
    memcpy(v, w, n);
    if (lower) {
        if (!(v[0] >= 'a' && v[0] <= 'z'))
            return 0;
        v[0] = (char)(v[0] - 32);
    } else {
        v[0] = (char)(v[0] + 32);
    }
    return 1;
}

static const char *lex_which(const kt_en_lexicon *l, const char *w, size_t n, char flag)
{
    const char *v = find_exact(l, w, n);
    if (v && v[0] == flag)
        return v + 1;
    char buf[64];
    if (n > sizeof buf || !case_variant(w, n, buf))
        return NULL;
    v = find_exact(l, buf, n);
    return v && v[0] == flag ? v + 1 : NULL;
}

const char *en_lex_gold(const kt_en_lexicon *l, const char *w, size_t n)
{
    return lex_which(l, w, n, 'G');
}

const char *en_lex_silver(const kt_en_lexicon *l, const char *w, size_t n)
{
    return lex_which(l, w, n, 'S');
}

int en_val_pick(const char *val, const char *tag, kt_strbuf *b)
{
    if (val[0] != '|') {
        kt_strbuf_puts(b, val);
        return 1;
    }
    size_t tl = strlen(tag);
    for (const char *p = val + 1; *p;) {
        const char *e = strchr(p, ';');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > tl && !memcmp(p, tag, tl) && p[tl] == ':') {
            if (p[tl + 1] == '~')
                return 0;
            kt_strbuf_append(b, p + tl + 1, len - tl - 1);
            return 1;
        }
        p += len + (e != NULL);
    }
    return -1;
}

static int user_cmp(const void *a, const void *b)
{
    return strcmp(((const user_entry *)a)->word, ((const user_entry *)b)->word);
}

kt_status kt_en_lexicon_add(kt_en_lexicon *l, const char *word, const char *phonemes, kt_error *err)
{
    if (!word[0] || !phonemes[0] || strpbrk(phonemes, "|;") || strlen(word) > 255)
        return kt_error_set(err, KT_EINVAL, "bad lexicon entry \"%s\"", word);
    if (l->n_user == l->cap_user) {
        size_t cap = l->cap_user ? l->cap_user * 2 : 16;
        user_entry *u = realloc(l->user, cap * sizeof *u);
        if (!u)
            return kt_error_set(err, KT_ENOMEM, "out of memory");
        l->user = u;
        l->cap_user = cap;
    }
    user_entry e = {strdup(word), malloc(strlen(phonemes) + 2)};
    if (!e.word || !e.value) {
        free(e.word);
        free(e.value);
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    }
    e.value[0] = 'G';
    strcpy(e.value + 1, phonemes);
    for (size_t i = 0; i < l->n_user; i++)
        if (!strcmp(l->user[i].word, word)) {
            free(l->user[i].word);
            free(l->user[i].value);
            l->user[i] = e;
            return KT_OK;
        }
    l->user[l->n_user++] = e;
    qsort(l->user, l->n_user, sizeof *l->user, user_cmp);
    return KT_OK;
}

kt_status kt_en_lexicon_load_tsv(kt_en_lexicon *l, const char *path, kt_error *err)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    size_t no = 0;
    kt_status st = KT_OK;
    if (!f)
        return kt_error_set(err, KT_EIO, "cannot open lexicon %s", path);
    while (!st && fgets(line, sizeof line, f)) {
        no++;
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0] || line[0] == '#')
            continue;
        char *tab = strchr(line, '\t');
        if (!tab || !tab[1]) {
            st = kt_error_set(err, KT_EINVAL, "%s:%zu: expected word<TAB>phonemes", path, no);
            break;
        }
        *tab = '\0';
        st = kt_en_lexicon_add(l, line, tab + 1, err);
    }
    fclose(f);
    return st;
}
