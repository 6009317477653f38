/* zip_write.c - the stored-only zip writer (kt/zip.h, writer half).
 *
 * Layout per entry: local header, ZIP64 extra (only when the size needs it, or
 * when forced), then torch.save's alignment extra ("FB", length, 'Z' padding)
 * so the entry's data starts on an align-byte boundary, then the data. The
 * local header always carries the real CRC and sizes (no data descriptor):
 * streamed entries get their CRC patched in place once the data is written.
 * Timestamps are fixed (1980-01-01 00:00) so equal inputs give equal bytes. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <zlib.h>

#include "kt/zip.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_END 0x06054b50u
#define SIG_END64 0x06064b50u
#define SIG_LOC64 0x07064b50u
#define MAX32 0xFFFFFFFFu
#define MAX16 0xFFFFu
#define DOS_TIME 0u
#define DOS_DATE 0x21u /* 1980-01-01 */
#define FLAG_UTF8 0x0800u
#define MAX_ALIGN 4096u

typedef struct {
    char *name;
    uint64_t offset; /* of the local header */
    uint64_t size;
    uint32_t crc;
} zw_entry;

struct kt_zip_writer {
    kt_atomic_file *af;
    unsigned align;
    int force64;
    int failed;
    uint64_t pos; /* bytes written so far */
    zw_entry *entries;
    size_t count, cap;
    /* the entry being streamed */
    int open;
    uint64_t want, got, crc_pos;
    uint32_t crc;
};

static void le16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void le32(unsigned char *p, uint32_t v)
{
    le16(p, v & 0xFFFF);
    le16(p + 2, v >> 16);
}

static void le64(unsigned char *p, uint64_t v)
{
    le32(p, (uint32_t)v);
    le32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t crc_update(uint32_t crc, const void *data, uint64_t len)
{
    const unsigned char *p = data;
    while (len > 0) {
        size_t k = len > (1u << 30) ? (1u << 30) : (size_t)len;
        crc = (uint32_t)crc32_z(crc, p, k);
        p += k;
        len -= k;
    }
    return crc;
}

static kt_status put(kt_zip_writer *w, const void *data, uint64_t len, kt_error *err)
{
    const unsigned char *p = data;
    while (len > 0) {
        size_t k = len > (1u << 30) ? (1u << 30) : (size_t)len;
        kt_status st = kt_atomic_write(w->af, p, k, err);
        if (st) {
            w->failed = 1;
            return st;
        }
        p += k;
        len -= k;
        w->pos += k;
    }
    return KT_OK;
}

kt_status kt_zip_writer_create(kt_atomic_file *af, unsigned align, kt_zip_writer **out, kt_error *err)
{
    *out = NULL;
    if (!af || !af->fp)
        return kt_error_set(err, KT_EINVAL, "zip writer needs an open output");
    if (af->direct) /* patch_crc seeks back into what was written */
        return kt_error_set(err, KT_EINVAL, "a zip archive (.pth, .npz) cannot be written to a device or FIFO");
    if (align > MAX_ALIGN)
        return kt_error_set(err, KT_EINVAL, "zip alignment %u is larger than %u", align, MAX_ALIGN);
    kt_zip_writer *w = calloc(1, sizeof *w);
    if (!w)
        return kt_error_set(err, KT_ENOMEM, "out of memory for the zip writer");
    w->af = af;
    w->align = align;
    *out = w;
    return KT_OK;
}

void kt_zip_writer_force_zip64(kt_zip_writer *w)
{
    if (w)
        w->force64 = 1;
}

void kt_zip_writer_free(kt_zip_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->count; i++)
        free(w->entries[i].name);
    free(w->entries);
    free(w);
}

static kt_status usable(kt_zip_writer *w, int want_open, kt_error *err)
{
    if (!w)
        return kt_error_set(err, KT_EINVAL, "no zip writer");
    if (w->failed)
        return kt_error_set(err, KT_EIO, "zip writer failed earlier");
    if (w->open != want_open)
        return kt_error_set(err, KT_EINVAL, want_open ? "no zip entry is open" : "a zip entry is still open");
    return KT_OK;
}

static kt_status push_entry(kt_zip_writer *w, const char *name, uint64_t size, kt_error *err)
{
    if (w->count == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        zw_entry *p = realloc(w->entries, cap * sizeof *p);
        if (!p)
            return kt_error_set(err, KT_ENOMEM, "out of memory for the zip directory");
        w->entries = p;
        w->cap = cap;
    }
    zw_entry *e = &w->entries[w->count];
    e->name = strdup(name);
    if (!e->name)
        return kt_error_set(err, KT_ENOMEM, "out of memory for a zip entry name");
    e->offset = w->pos;
    e->size = size;
    e->crc = 0;
    w->count++;
    return KT_OK;
}

/* Writes the local header of a new entry (crc may be patched later). */
static kt_status write_local(kt_zip_writer *w, const char *name, uint64_t size, uint32_t crc, kt_error *err)
{
    size_t nlen = strlen(name);
    if (nlen == 0 || nlen > MAX16)
        return kt_error_set(err, KT_EINVAL, "zip entry name length %zu is out of range", nlen);
    int z64 = w->force64 || size >= MAX32;
    size_t x64 = z64 ? 20 : 0, fb = w->align > 1 ? 4 : 0, pad = 0;
    if (fb) {
        uint64_t start = w->pos + 30 + nlen + x64 + fb;
        pad = (size_t)((w->align - start % w->align) % w->align);
    }
    unsigned char h[30], x[20 + 4 + MAX_ALIGN];
    le32(h, SIG_LOCAL);
    le16(h + 4, z64 ? 45 : 20);
    le16(h + 6, FLAG_UTF8);
    le16(h + 8, 0);
    le16(h + 10, DOS_TIME);
    le16(h + 12, DOS_DATE);
    le32(h + 14, crc);
    le32(h + 18, z64 ? MAX32 : (uint32_t)size);
    le32(h + 22, z64 ? MAX32 : (uint32_t)size);
    le16(h + 26, (uint32_t)nlen);
    le16(h + 28, (uint32_t)(x64 + fb + pad));
    if (z64) {
        le16(x, 1);
        le16(x + 2, 16);
        le64(x + 4, size);
        le64(x + 12, size);
    }
    if (fb) {
        x[x64] = 'F';
        x[x64 + 1] = 'B';
        le16(x + x64 + 2, (uint32_t)pad);
        memset(x + x64 + 4, 'Z', pad);
    }
    kt_status st = push_entry(w, name, size, err);
    if (!st)
        st = put(w, h, 30, err);
    if (!st)
        st = put(w, name, nlen, err);
    if (!st)
        st = put(w, x, x64 + fb + pad, err);
    return st;
}

kt_status kt_zip_writer_add(kt_zip_writer *w, const char *name, const void *data, uint64_t len, kt_error *err)
{
    kt_status st = usable(w, 0, err);
    if (st)
        return st;
    uint32_t crc = crc_update(0, data, len);
    st = write_local(w, name, len, crc, err);
    if (!st)
        st = put(w, data, len, err);
    if (st) {
        w->failed = 1;
        return st;
    }
    w->entries[w->count - 1].crc = crc;
    return KT_OK;
}

kt_status kt_zip_writer_begin(kt_zip_writer *w, const char *name, uint64_t len, kt_error *err)
{
    kt_status st = usable(w, 0, err);
    if (st)
        return st;
    uint64_t header = w->pos;
    st = write_local(w, name, len, 0, err);
    if (st) {
        w->failed = 1;
        return st;
    }
    w->open = 1;
    w->want = len;
    w->got = 0;
    w->crc = 0;
    w->crc_pos = header + 14;
    return KT_OK;
}

kt_status kt_zip_writer_append(kt_zip_writer *w, const void *data, uint64_t len, kt_error *err)
{
    kt_status st = usable(w, 1, err);
    if (st)
        return st;
    if (len > w->want - w->got) {
        w->failed = 1;
        return kt_error_set(err, KT_EINVAL, "zip entry data exceeds its declared %llu bytes",
                            (unsigned long long)w->want);
    }
    w->crc = crc_update(w->crc, data, len);
    w->got += len;
    return put(w, data, len, err);
}

/* Overwrites the 4 CRC bytes of the open entry's local header, then returns to the end. */
static kt_status patch_crc(kt_zip_writer *w, kt_error *err)
{
    unsigned char b[4];
    FILE *fp = w->af->fp;
    le32(b, w->crc);
    if (fseeko(fp, (off_t)w->crc_pos, SEEK_SET) != 0 || fwrite(b, 1, 4, fp) != 4 ||
        fseeko(fp, 0, SEEK_END) != 0 || (uint64_t)ftello(fp) != w->pos) {
        w->failed = 1;
        w->af->failed = 1;
        return kt_error_set(err, KT_EIO, "cannot seek in the zip output");
    }
    return KT_OK;
}

kt_status kt_zip_writer_end(kt_zip_writer *w, kt_error *err)
{
    kt_status st = usable(w, 1, err);
    if (st)
        return st;
    w->open = 0;
    if (w->got != w->want) {
        w->failed = 1;
        return kt_error_set(err, KT_EINVAL, "zip entry got %llu of its declared %llu bytes",
                            (unsigned long long)w->got, (unsigned long long)w->want);
    }
    st = patch_crc(w, err);
    if (!st)
        w->entries[w->count - 1].crc = w->crc;
    return st;
}

static kt_status write_central(kt_zip_writer *w, const zw_entry *e, kt_error *err)
{
    size_t nlen = strlen(e->name);
    int big_size = w->force64 || e->size >= MAX32, big_off = w->force64 || e->offset >= MAX32;
    unsigned char h[46], x[4 + 24];
    size_t xn = 0;
    if (big_size || big_off) {
        xn = 4;
        if (big_size) {
            le64(x + xn, e->size);
            le64(x + xn + 8, e->size);
            xn += 16;
        }
        if (big_off) {
            le64(x + xn, e->offset);
            xn += 8;
        }
        le16(x, 1);
        le16(x + 2, (uint32_t)(xn - 4));
    }
    le32(h, SIG_CENTRAL);
    le16(h + 4, xn ? 45 : 20);
    le16(h + 6, xn ? 45 : 20);
    le16(h + 8, FLAG_UTF8);
    le16(h + 10, 0);
    le16(h + 12, DOS_TIME);
    le16(h + 14, DOS_DATE);
    le32(h + 16, e->crc);
    le32(h + 20, big_size ? MAX32 : (uint32_t)e->size);
    le32(h + 24, big_size ? MAX32 : (uint32_t)e->size);
    le16(h + 28, (uint32_t)nlen);
    le16(h + 30, (uint32_t)xn);
    memset(h + 32, 0, 10); /* comment length, disk, internal and external attributes */
    le32(h + 42, big_off ? MAX32 : (uint32_t)e->offset);
    kt_status st = put(w, h, 46, err);
    if (!st)
        st = put(w, e->name, nlen, err);
    if (!st)
        st = put(w, x, xn, err);
    return st;
}

/* The ZIP64 end record and its locator. */
static kt_status write_end64(kt_zip_writer *w, uint64_t cd_off, uint64_t cd_size, kt_error *err)
{
    unsigned char r[56 + 20];
    uint64_t rec = w->pos;
    le32(r, SIG_END64);
    le64(r + 4, 44);
    le16(r + 12, 45);
    le16(r + 14, 45);
    le32(r + 16, 0);
    le32(r + 20, 0);
    le64(r + 24, w->count);
    le64(r + 32, w->count);
    le64(r + 40, cd_size);
    le64(r + 48, cd_off);
    le32(r + 56, SIG_LOC64);
    le32(r + 60, 0);
    le64(r + 64, rec);
    le32(r + 72, 1);
    return put(w, r, sizeof r, err);
}

static kt_status write_end(kt_zip_writer *w, kt_error *err)
{
    uint64_t cd_off = w->pos;
    kt_status st = KT_OK;
    for (size_t i = 0; i < w->count && !st; i++)
        st = write_central(w, &w->entries[i], err);
    if (st)
        return st;
    uint64_t cd_size = w->pos - cd_off;
    int many = w->count >= MAX16, big_size = cd_size >= MAX32, big_off = cd_off >= MAX32;
    if (w->force64 || many || big_size || big_off)
        st = write_end64(w, cd_off, cd_size, err);
    if (st)
        return st;
    unsigned char r[22];
    le32(r, SIG_END);
    le16(r + 4, 0);
    le16(r + 6, 0);
    le16(r + 8, many ? MAX16 : (uint32_t)w->count);
    le16(r + 10, many ? MAX16 : (uint32_t)w->count);
    le32(r + 12, big_size ? MAX32 : (uint32_t)cd_size);
    le32(r + 16, big_off ? MAX32 : (uint32_t)cd_off);
    le16(r + 20, 0);
    return put(w, r, sizeof r, err);
}

kt_status kt_zip_writer_finish(kt_zip_writer *w, kt_error *err)
{
    kt_status st = usable(w, 0, err);
    if (!st)
        st = write_end(w, err);
    kt_zip_writer_free(w);
    return st;
}
