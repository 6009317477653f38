/* pth.c - PyTorch checkpoints: the zip serialization and the legacy (pre-1.6) stream.
 *
 * Both unpickle the main pickle with the restricted unpickler and bind each storage
 * to its bytes. Storage bytes are borrowed from the file image when they are stored,
 * little-endian and aligned for their dtype; otherwise they are copied (and byte-swapped
 * for a big-endian file). Only data.pkl is CRC-checked; tensor data is never touched. */
#include <stdlib.h>
#include <string.h>

#include "kt/formats.h"
#include "kt/pickle.h"
#include "kt/zip.h"

#define PTH_MAX_PICKLE ((uint64_t)1 << 30)

/* Copies n bytes (big-endian elements of size es when swap) into a new buffer. */
static void *copy_bytes(const unsigned char *src, uint64_t n, size_t es, int swap)
{
    if (n > SIZE_MAX - 1)
        return NULL;
    unsigned char *dst = malloc(n ? (size_t)n : 1);
    if (!dst)
        return NULL;
    if (!swap || es == 1) {
        if (n)
            memcpy(dst, src, (size_t)n);
        return dst;
    }
    for (uint64_t i = 0; i + es <= n; i += es)
        for (size_t j = 0; j < es; j++)
            dst[i + j] = src[i + es - 1 - j];
    return dst;
}

/* Binds storage s to bytes [p, p+n): borrowed when possible, else an owned (swapped) copy. */
static kt_status bind_bytes(kt_value *s, const unsigned char *p, uint64_t n, int big_endian, kt_error *err)
{
    kt_storage_info info;
    kt_status st = kt_value_storage(s, &info, err);
    if (st)
        return st;
    size_t es = kt_dtype_size(info.dtype);
    uint64_t want = (uint64_t)info.numel * es;
    if (n < want)
        return kt_error_set(err, KT_EFORMAT, "pth: storage '%.100s' has %llu bytes, needs %llu", info.key,
                            (unsigned long long)n, (unsigned long long)want);
    if (!big_endian && (uintptr_t)p % es == 0)
        return kt_value_storage_bind(s, p, n, NULL, err);
    void *copy = copy_bytes(p, want, es, big_endian);
    if (!copy)
        return kt_error_set(err, KT_ENOMEM, "pth: out of memory copying storage '%.100s'", info.key);
    return kt_value_storage_bind(s, copy, want, copy, err);
}

/* Keeps an error message on one line (entry names and keys come from the file). */
static kt_status fail_clean(kt_read_result *out, kt_status st, kt_error *err)
{
    for (char *c = err ? err->msg : NULL; c && *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    kt_read_result_free(out);
    return st;
}

/* ------------------------------------------------------------ zip serialization */

typedef struct {
    kt_zip *zip;
    char *folder; /* "archive" (no trailing slash); "" when data.pkl is at the root */
    int big_endian;
} zip_ctx;

static void zip_aux_free(void *aux) { kt_zip_free(aux); }

/* The zip entry "<folder>/<rest>" (or "<rest>" at the root), or NULL. */
static const kt_zip_entry *entry_in(const zip_ctx *c, const char *rest, kt_error *err, kt_status *st)
{
    size_t n = strlen(c->folder) + strlen(rest) + 2;
    char *name = malloc(n);
    *st = KT_OK;
    if (!name) {
        *st = kt_error_set(err, KT_ENOMEM, "pth: out of memory");
        return NULL;
    }
    strcpy(name, c->folder);
    if (*c->folder)
        strcat(name, "/");
    strcat(name, rest);
    const kt_zip_entry *e = kt_zip_find(c->zip, name);
    free(name);
    return e;
}

static kt_status zip_storage(void *ctx, kt_value *s, kt_error *err)
{
    const zip_ctx *c = ctx;
    kt_storage_info info;
    kt_status st = kt_value_storage(s, &info, err);
    if (st)
        return st;
    size_t klen = strlen(info.key);
    char *rest = malloc(klen + 6);
    if (!rest)
        return kt_error_set(err, KT_ENOMEM, "pth: out of memory");
    memcpy(rest, "data/", 5);
    memcpy(rest + 5, info.key, klen + 1);
    const kt_zip_entry *e = entry_in(c, rest, err, &st);
    free(rest);
    if (st)
        return st;
    if (!e)
        return kt_error_set(err, KT_EFORMAT, "pth: storage '%.100s' has no entry data/%.100s", info.key, info.key);
    const unsigned char *p;
    uint64_t n;
    if ((st = kt_zip_read(c->zip, e, e->size, &p, &n, err)))
        return st;
    return bind_bytes(s, p, n, c->big_endian, err);
}

/* Finds the one entry named "<folder>/data.pkl" (folder without '/') or "data.pkl". */
static kt_status find_folder(zip_ctx *c, const kt_zip_entry **pkl, kt_error *err)
{
    static const char suffix[] = "data.pkl";
    const size_t sl = sizeof suffix - 1;
    *pkl = NULL;
    for (size_t i = 0; i < kt_zip_count(c->zip); i++) {
        const kt_zip_entry *e = kt_zip_entry_at(c->zip, i);
        size_t n = strlen(e->name);
        if (n < sl || strcmp(e->name + n - sl, suffix) != 0)
            continue;
        if (n > sl && (e->name[n - sl - 1] != '/' || memchr(e->name, '/', n - sl - 1)))
            continue;
        if (*pkl)
            return kt_error_set(err, KT_EFORMAT, "pth: two data.pkl entries (%.100s, %.100s)", (*pkl)->name,
                                e->name);
        *pkl = e;
    }
    if (!*pkl)
        return kt_error_set(err, KT_EFORMAT, "pth: zip archive without a data.pkl entry");
    size_t fl = strlen((*pkl)->name) - sl;
    c->folder = malloc(fl + 1);
    if (!c->folder)
        return kt_error_set(err, KT_ENOMEM, "pth: out of memory");
    memcpy(c->folder, (*pkl)->name, fl);
    c->folder[fl ? fl - 1 : 0] = 0;
    return KT_OK;
}

/* Reads <folder>/byteorder ("little" or "big"; absent means little). */
static kt_status read_byteorder(zip_ctx *c, kt_error *err)
{
    kt_status st;
    const kt_zip_entry *e = entry_in(c, "byteorder", err, &st);
    const unsigned char *p;
    uint64_t n;
    if (st || !e)
        return st;
    if ((st = kt_zip_read(c->zip, e, 64, &p, &n, err)))
        return st;
    if (n == 6 && memcmp(p, "little", 6) == 0)
        return KT_OK;
    if (n == 3 && memcmp(p, "big", 3) == 0) {
        c->big_endian = 1;
        return KT_OK;
    }
    return kt_error_set(err, KT_EFORMAT, "pth: byteorder entry is neither 'little' nor 'big'");
}

static kt_status read_pickle_entry(zip_ctx *c, const kt_zip_entry *e, const unsigned char **p, uint64_t *n,
                                   kt_error *err)
{
    kt_status st = kt_zip_read(c->zip, e, PTH_MAX_PICKLE, p, n, err);
    if (st)
        return st;
    if (e->method == 0 && kt_crc32(0, *p, (size_t)*n) != e->crc32)
        return kt_error_set(err, KT_EFORMAT, "pth: data.pkl fails its CRC-32 check");
    return KT_OK;
}

kt_status kt_pth_read(const unsigned char *data, uint64_t size, kt_read_result *out, kt_error *err)
{
    zip_ctx c = {0};
    const kt_zip_entry *pkl;
    const unsigned char *p;
    uint64_t n;
    kt_value *root = NULL;
    kt_status st = kt_zip_open(data, size, &c.zip, err);
    if (st)
        goto fail;
    out->aux = c.zip;
    out->aux_free = zip_aux_free;
    if ((st = find_folder(&c, &pkl, err)) || (st = read_byteorder(&c, err)) ||
        (st = read_pickle_entry(&c, pkl, &p, &n, err)))
        goto fail;
    kt_pickle_options opt = {NULL, zip_storage, &c};
    if ((st = kt_pickle_parse(p, (size_t)n, &opt, &root, NULL, err)))
        goto fail;
    out->tree = root;
    if ((st = kt_value_flatten(root, &out->tensors, err)))
        goto fail;
    free(c.folder);
    return KT_OK;
fail:
    free(c.folder);
    if (!out->aux)
        kt_zip_free(c.zip);
    return fail_clean(out, st, err);
}

/* ------------------------------------------------------------ legacy stream */

/* The magic-number pickle: PROTO n, optional FRAME, LONG1 of 0x1950a86a20f9469cfc6c, STOP. */
static kt_status skip_magic(const unsigned char *d, uint64_t size, uint64_t *pos, kt_error *err)
{
    static const unsigned char magic[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                          0x20, 0x6a, 0xa8, 0x50, 0x19, '.'};
    uint64_t i = 0;
    if (size >= 2 && d[0] == 0x80)
        i = 2;
    if (size >= i + 9 && d[i] == 0x95)
        i += 9;
    if (size < i + sizeof magic || memcmp(d + i, magic, sizeof magic) != 0)
        return kt_error_set(err, KT_EFORMAT, "pth-legacy: missing the torch.save magic number");
    *pos = i + sizeof magic;
    return KT_OK;
}

/* Parses one pickle at *pos (no storages expected) and advances *pos. */
static kt_status next_pickle(const unsigned char *d, uint64_t size, uint64_t *pos, const kt_pickle_options *opt,
                             kt_value **out, kt_error *err)
{
    size_t used = 0;
    uint64_t left = size - *pos;
    kt_status st = kt_pickle_parse(d + *pos, left > SIZE_MAX ? SIZE_MAX : (size_t)left, opt, out, &used, err);
    if (!st)
        *pos += used;
    return st;
}

/* protocol_version must be 1001; sys_info's little_endian picks the byte order. */
static kt_status legacy_header(const unsigned char *d, uint64_t size, uint64_t *pos, int *big_endian, kt_error *err)
{
    kt_value *v = NULL;
    kt_status st = next_pickle(d, size, pos, NULL, &v, err);
    if (st)
        return st;
    int ok = kt_value_kind(v) == KT_V_INT && kt_value_int(v) == 1001;
    kt_value_free(v);
    if (!ok)
        return kt_error_set(err, KT_EUNSUPPORTED, "pth-legacy: protocol version is not 1001");
    if ((st = next_pickle(d, size, pos, NULL, &v, err)))
        return st;
    const kt_value *le = kt_value_dict_get(v, "little_endian");
    ok = kt_value_kind(v) == KT_V_DICT && kt_value_kind(le) == KT_V_BOOL;
    *big_endian = ok && !kt_value_bool(le);
    kt_value_free(v);
    if (!ok)
        return kt_error_set(err, KT_EFORMAT, "pth-legacy: sys_info is not a dict with little_endian");
    return KT_OK;
}

/* After the key list: per key, an 8-byte element count then the raw elements. */
static kt_status legacy_storages(const unsigned char *d, uint64_t size, uint64_t pos, kt_value *root,
                                 const kt_value *keys, int big_endian, kt_error *err)
{
    if (kt_value_kind(keys) != KT_V_LIST)
        return kt_error_set(err, KT_EFORMAT, "pth-legacy: storage key list is not a list");
    for (size_t i = 0; i < kt_value_len(keys); i++) {
        const char *key = kt_value_str(kt_value_item(keys, i), NULL);
        kt_value *s = key && kt_value_kind(kt_value_item(keys, i)) == KT_V_STR ? kt_pickle_storage_find(root, key)
                                                                               : NULL;
        kt_storage_info info;
        if (!s)
            return kt_error_set(err, KT_EFORMAT, "pth-legacy: storage key %zu is not used by the pickle", i);
        kt_value_storage(s, &info, err);
        if (info.data)
            return kt_error_set(err, KT_EFORMAT, "pth-legacy: storage '%.100s' listed twice", key);
        if (size - pos < 8)
            return kt_error_set(err, KT_EFORMAT, "pth-legacy: truncated before storage '%.100s'", key);
        uint64_t count = 0;
        for (int b = 0; b < 8; b++)
            count |= (uint64_t)d[pos + (big_endian ? 7 - b : b)] << (8 * b);
        pos += 8;
        size_t es = kt_dtype_size(info.dtype);
        if (count != (uint64_t)info.numel)
            return kt_error_set(err, KT_EFORMAT, "pth-legacy: storage '%.100s' holds %llu elements, pickle says %lld",
                                key, (unsigned long long)count, (long long)info.numel);
        uint64_t nbytes = count * es;
        if (nbytes > size - pos)
            return kt_error_set(err, KT_EFORMAT, "pth-legacy: storage '%.100s' runs past the end of the file", key);
        kt_status st = bind_bytes(s, d + pos, nbytes, big_endian, err);
        if (st)
            return st;
        pos += nbytes;
    }
    return KT_OK;
}

kt_status kt_pth_legacy_read(const unsigned char *data, uint64_t size, kt_read_result *out, kt_error *err)
{
    uint64_t pos = 0;
    int big_endian = 0;
    kt_value *root = NULL, *keys = NULL;
    kt_status st = skip_magic(data, size, &pos, err);
    if (st || (st = legacy_header(data, size, &pos, &big_endian, err)))
        goto fail;
    if ((st = next_pickle(data, size, &pos, NULL, &root, err)))
        goto fail;
    out->tree = root;
    if ((st = next_pickle(data, size, &pos, NULL, &keys, err)) ||
        (st = legacy_storages(data, size, pos, root, keys, big_endian, err)))
        goto fail;
    kt_value_free(keys);
    keys = NULL;
    if ((st = kt_value_flatten(root, &out->tensors, err)))
        goto fail;
    return KT_OK;
fail:
    kt_value_free(keys);
    return fail_clean(out, st, err);
}
