/* g2p_table.h - a string-keyed hash table for the G2P tables (keys and values point into text
 * that outlives the table), shared by g2p_zh.c and g2p_ja.c. Internal to libkt. */
#ifndef KT_G2P_TABLE_H
#define KT_G2P_TABLE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Length of the UTF-8 sequence starting with byte c (1 for stray bytes). */
static inline size_t g2p_u8len(unsigned char c)
{
    return c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}


typedef struct {
    const char *k; /* key bytes (not NUL-terminated); NULL for an empty slot */
    const char *v; /* value bytes (pinyin), or NULL for a key that is only a prefix */
    uint32_t kn;   /* key length */
    uint32_t vn;   /* value length, or a jieba word's frequency */
} zentry;

typedef struct {
    zentry *e;
    size_t cap, n; /* cap is a power of two */
} ztable;

static inline uint64_t zhash(const char *k, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 1099511628211ULL;
    return h;
}

static inline zentry *zfind(const ztable *t, const char *k, size_t n)
{
    if (!t->cap)
        return NULL;
    for (size_t i = zhash(k, n) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        zentry *e = &t->e[i];
        if (!e->k)
            return NULL;
        if (e->kn == n && !memcmp(e->k, k, n))
            return e;
    }
}

static inline int zgrow(ztable *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1 << 16;
    zentry *e = calloc(cap, sizeof *e);
    if (!e)
        return -1;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->e[i].k)
            continue;
        size_t j = zhash(t->e[i].k, t->e[i].kn) & (cap - 1);
        while (e[j].k)
            j = (j + 1) & (cap - 1);
        e[j] = t->e[i];
    }
    free(t->e);
    t->e = e;
    t->cap = cap;
    return 0;
}

/* The entry for key k, added (value NULL, 0) when absent; NULL when out of memory. */
static inline zentry *zput(ztable *t, const char *k, size_t n)
{
    zentry *e = zfind(t, k, n);
    if (e)
        return e;
    if ((t->n + 1) * 2 > t->cap && zgrow(t))
        return NULL;
    size_t i = zhash(k, n) & (t->cap - 1);
    while (t->e[i].k)
        i = (i + 1) & (t->cap - 1);
    t->e[i].k = k;
    t->e[i].kn = (uint32_t)n;
    t->n++;
    return &t->e[i];
}

/* Adds every proper prefix of k (by character) as a key, if absent. */
static inline int zput_prefixes(ztable *t, const char *k, size_t n)
{
    for (size_t i = g2p_u8len((unsigned char)k[0]); i < n; i += g2p_u8len((unsigned char)k[i]))
        if (!zput(t, k, i))
            return -1;
    return 0;
}

static inline void zfree(ztable *t)
{
    free(t->e);
    memset(t, 0, sizeof *t);
}

#endif
