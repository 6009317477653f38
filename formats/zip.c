/* zip.c - the zip reader half of kt/zip.h: central directory (ZIP64 included),
 * cross-checked against local headers, stored entries in place, deflated ones
 * inflated with zlib into reader-owned buffers (never past the declared size).
 *
 * Every byte read is bounds-checked against the image. Checks made at open:
 * end record found within the last 65535+22 bytes; the central directory lies
 * inside the file before the end records; the entry count fits the directory;
 * each entry's local header matches its name, lies inside the file and its data
 * ends before the central directory; no two entries share a name; no two
 * entries' [local header, data end) ranges overlap. Stored entries' CRCs are
 * not verified (they are used in place, untouched); deflated ones are. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "kt/zip.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOC64 0x07064b50u
#define EOCD_LEN 22u
#define LOC64_LEN 20u
#define EOCD64_LEN 56u
#define CENTRAL_LEN 46u
#define LOCAL_LEN 30u
#define MAX_COMMENT 65535u
#define DEFLATE_MAX_RATIO 1032u /* zlib's documented worst-case expansion of inflate */
#define NAME_SHOW 200 /* longest piece of an entry name quoted in a message */

struct kt_zip {
    const unsigned char *data;
    uint64_t size;
    kt_zip_entry *entries;
    size_t count;
    size_t *by_name;         /* entry indices sorted by name (for kt_zip_find) */
    unsigned char **inflated; /* per entry: owned inflated bytes, or NULL */
    uint64_t inflated_total;  /* declared bytes of the entries inflated so far */
};

/* What all deflated entries of one archive may inflate to together: 16 MiB + 4 x the
 * archive's size. torch.save stores its entries; a deflated archive whose data compress
 * better than that (zeros, repeated bytes) is refused rather than allowed to cost up to
 * 1032 x its size in memory. */
static uint64_t inflate_budget(uint64_t archive_size)
{
    return ((uint64_t)16 << 20) + (archive_size > UINT64_MAX / 8 ? UINT64_MAX / 2 : 4 * archive_size);
}

/* The central directory's place, from the end records. */
typedef struct {
    uint64_t count;
    uint64_t cd_offset;
    uint64_t cd_size;
    uint64_t cd_limit; /* the directory must end at or before this offset */
} zip_dir;

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* 1 if [off, off+len) lies inside [0, limit). */
static int in_bounds(uint64_t off, uint64_t len, uint64_t limit)
{
    return off <= limit && len <= limit - off;
}

uint32_t kt_crc32(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    uLong c = crc;
    while (len > 0) {
        uInt n = len > UINT_MAX ? UINT_MAX : (uInt)len;
        c = crc32(c, p, n);
        p += n;
        len -= n;
    }
    return (uint32_t)c;
}

/* 1 if the end record at off is self-consistent: its central directory ends
 * right before it, or a ZIP64 locator precedes it. */
static int eocd_consistent(const unsigned char *d, uint64_t off)
{
    uint64_t cd_end = (uint64_t)rd32(d + off + 16) + rd32(d + off + 12);
    return cd_end == off || (off >= LOC64_LEN && rd32(d + off - LOC64_LEN) == SIG_LOC64);
}

/* Offset of the end-of-central-directory record, scanning back at most 65535
 * comment bytes: the last signature whose comment fits the file and that is
 * self-consistent (so an end record quoted inside a comment is skipped), else
 * the last one whose comment fits (its errors are then reported). */
static kt_status find_eocd(const unsigned char *d, uint64_t size, uint64_t *out, kt_error *err)
{
    if (size < EOCD_LEN)
        return kt_error_set(err, KT_EFORMAT, "zip: file too small to be an archive (%llu bytes)",
                            (unsigned long long)size);
    uint64_t lowest = size - EOCD_LEN > MAX_COMMENT ? size - EOCD_LEN - MAX_COMMENT : 0;
    int found = 0;
    for (uint64_t off = size - EOCD_LEN + 1; off-- > lowest;) {
        if (d[off] != 'P' || rd32(d + off) != SIG_EOCD || off + EOCD_LEN + rd16(d + off + 20) > size)
            continue;
        if (eocd_consistent(d, off)) {
            *out = off;
            return KT_OK;
        }
        if (!found) {
            *out = off;
            found = 1;
        }
    }
    if (found)
        return KT_OK;
    return kt_error_set(err, KT_EFORMAT, "zip: no end-of-central-directory record (truncated or not a zip)");
}

/* Reads the ZIP64 end record located by the locator just before eocd. */
static kt_status read_zip64_end(const unsigned char *d, uint64_t eocd, zip_dir *dir, kt_error *err)
{
    uint64_t loc = eocd - LOC64_LEN;
    if (rd32(d + loc + 4) != 0 || rd32(d + loc + 16) > 1)
        return kt_error_set(err, KT_EUNSUPPORTED, "zip: multi-disk archives are not supported");
    uint64_t off = rd64(d + loc + 8);
    if (!in_bounds(off, EOCD64_LEN, loc))
        return kt_error_set(err, KT_EFORMAT, "zip: ZIP64 end record offset is out of bounds");
    const unsigned char *p = d + off;
    if (rd32(p) != SIG_EOCD64)
        return kt_error_set(err, KT_EFORMAT, "zip: bad ZIP64 end record signature");
    if (rd32(p + 16) != 0 || rd32(p + 20) != 0 || rd64(p + 24) != rd64(p + 32))
        return kt_error_set(err, KT_EUNSUPPORTED, "zip: multi-disk archives are not supported");
    dir->count = rd64(p + 32);
    dir->cd_size = rd64(p + 40);
    dir->cd_offset = rd64(p + 48);
    dir->cd_limit = off;
    return KT_OK;
}

/* A 32-bit end-record field agrees with its ZIP64 value (or is saturated). */
static int agrees(uint64_t v32, uint64_t sat, uint64_t v64) { return v32 == sat || v32 == v64; }

static kt_status read_end(const unsigned char *d, uint64_t size, zip_dir *dir, kt_error *err)
{
    uint64_t eocd = 0;
    kt_status st = find_eocd(d, size, &eocd, err);
    if (st)
        return st;
    const unsigned char *p = d + eocd;
    uint64_t n_disk = rd16(p + 8), n = rd16(p + 10), cd_size = rd32(p + 12), cd_off = rd32(p + 16);
    if ((rd16(p + 4) != 0 && rd16(p + 4) != 0xFFFF) || n_disk != n)
        return kt_error_set(err, KT_EUNSUPPORTED, "zip: multi-disk archives are not supported");
    if (eocd >= LOC64_LEN && rd32(d + eocd - LOC64_LEN) == SIG_LOC64) {
        if ((st = read_zip64_end(d, eocd, dir, err)))
            return st;
        if (!agrees(n, 0xFFFF, dir->count) || !agrees(cd_size, 0xFFFFFFFF, dir->cd_size) ||
            !agrees(cd_off, 0xFFFFFFFF, dir->cd_offset))
            return kt_error_set(err, KT_EFORMAT, "zip: ZIP64 end record disagrees with the end record");
    } else {
        if (n == 0xFFFF || cd_size == 0xFFFFFFFF || cd_off == 0xFFFFFFFF)
            return kt_error_set(err, KT_EFORMAT, "zip: end record needs a ZIP64 record that is missing");
        *dir = (zip_dir){n, cd_off, cd_size, eocd};
    }
    if (!in_bounds(dir->cd_offset, dir->cd_size, dir->cd_limit))
        return kt_error_set(err, KT_EFORMAT, "zip: central directory extends past end of file");
    if (dir->count > dir->cd_size / CENTRAL_LEN)
        return kt_error_set(err, KT_EFORMAT,
                            "zip: %llu entries cannot fit a %llu-byte central directory",
                            (unsigned long long)dir->count, (unsigned long long)dir->cd_size);
    return KT_OK;
}

/* Applies the ZIP64 extended-information extra field (id 1) to the saturated fields. */
static kt_status apply_zip64_extra(const unsigned char *x, uint32_t xlen, kt_zip_entry *e, kt_error *err)
{
    uint64_t *fields[3] = {&e->size, &e->comp_size, &e->local_offset};
    uint32_t pos = 0;
    while (pos + 4 <= xlen) {
        uint16_t id = rd16(x + pos), len = rd16(x + pos + 2);
        if ((uint32_t)len > xlen - pos - 4)
            return kt_error_set(err, KT_EFORMAT, "zip: extra field extends past its entry");
        if (id == 1) {
            uint32_t q = 0;
            for (int i = 0; i < 3; i++) {
                if (*fields[i] != 0xFFFFFFFFu)
                    continue;
                if (q + 8 > len)
                    return kt_error_set(err, KT_EFORMAT, "zip: ZIP64 extra field too short");
                *fields[i] = rd64(x + pos + 4 + q);
                q += 8;
            }
            return KT_OK;
        }
        pos += 4u + len;
    }
    if (e->size == 0xFFFFFFFFu || e->comp_size == 0xFFFFFFFFu || e->local_offset == 0xFFFFFFFFu)
        return kt_error_set(err, KT_EFORMAT, "zip: entry needs a ZIP64 extra field that is missing");
    return KT_OK;
}

/* Copies the entry name, refusing empty names and embedded NULs. */
static kt_status copy_name(const unsigned char *p, uint32_t n, char **out, kt_error *err)
{
    if (n == 0)
        return kt_error_set(err, KT_EFORMAT, "zip: entry with an empty name");
    if (memchr(p, 0, n))
        return kt_error_set(err, KT_EFORMAT, "zip: entry name contains a NUL byte");
    char *s = malloc(n + 1u);
    if (!s)
        return kt_error_set(err, KT_ENOMEM, "zip: out of memory for an entry name");
    memcpy(s, p, n);
    s[n] = '\0';
    *out = s;
    return KT_OK;
}

/* Parses the central entry at *pos (inside [*pos, end)) into e and advances *pos. */
static kt_status parse_central(const unsigned char *d, uint64_t *pos, uint64_t end, kt_zip_entry *e,
                               kt_error *err)
{
    if (!in_bounds(*pos, CENTRAL_LEN, end) || rd32(d + *pos) != SIG_CENTRAL)
        return kt_error_set(err, KT_EFORMAT, "zip: corrupt central directory entry");
    const unsigned char *p = d + *pos;
    uint32_t nlen = rd16(p + 28), xlen = rd16(p + 30), clen = rd16(p + 32);
    if (!in_bounds(*pos + CENTRAL_LEN, (uint64_t)nlen + xlen + clen, end))
        return kt_error_set(err, KT_EFORMAT, "zip: central directory entry extends past the directory");
    e->flags = rd16(p + 8);
    e->method = rd16(p + 10);
    e->crc32 = rd32(p + 16);
    e->comp_size = rd32(p + 20);
    e->size = rd32(p + 24);
    e->local_offset = rd32(p + 42);
    if (rd16(p + 34) != 0 && rd16(p + 34) != 0xFFFF)
        return kt_error_set(err, KT_EUNSUPPORTED, "zip: multi-disk archives are not supported");
    kt_status st = copy_name(p + CENTRAL_LEN, nlen, &e->name, err);
    if (!st)
        st = apply_zip64_extra(p + CENTRAL_LEN + nlen, xlen, e, err);
    *pos += CENTRAL_LEN + (uint64_t)nlen + xlen + clen;
    return st;
}

/* Checks what the entry claims on its own: no encryption, a known method, sane sizes. */
static kt_status check_entry_kind(const kt_zip_entry *e, kt_error *err)
{
    if (e->flags & 0x0041)
        return kt_error_set(err, KT_EUNSUPPORTED, "zip: entry \"%.*s\" is encrypted", NAME_SHOW, e->name);
    if (e->method != 0 && e->method != 8)
        return kt_error_set(err, KT_EUNSUPPORTED, "zip: entry \"%.*s\" uses compression method %u",
                            NAME_SHOW, e->name, (unsigned)e->method);
    if (e->method == 0 && e->comp_size != e->size)
        return kt_error_set(err, KT_EFORMAT, "zip: stored entry \"%.*s\" has different compressed and "
                            "uncompressed sizes", NAME_SHOW, e->name);
    /* inflate never expands more than 1032:1 (zlib's documented maximum), so a larger declared
     * size is a lie; refusing it here bounds what kt_zip_read allocates by the entry's own bytes */
    if (e->method == 8 && e->size / DEFLATE_MAX_RATIO > e->comp_size + 1)
        return kt_error_set(err, KT_EFORMAT, "zip: entry \"%.*s\" declares %llu bytes, more than its %llu "
                            "deflated bytes can hold", NAME_SHOW, e->name, (unsigned long long)e->size,
                            (unsigned long long)e->comp_size);
    return KT_OK;
}

/* Cross-checks the entry against its local header and sets data_offset. */
static kt_status check_local(const unsigned char *d, uint64_t cd_offset, kt_zip_entry *e, kt_error *err)
{
    if (!in_bounds(e->local_offset, LOCAL_LEN, cd_offset) || rd32(d + e->local_offset) != SIG_LOCAL)
        return kt_error_set(err, KT_EFORMAT, "zip: entry \"%.*s\" has no local header at its offset",
                            NAME_SHOW, e->name);
    const unsigned char *p = d + e->local_offset;
    uint32_t nlen = rd16(p + 26), xlen = rd16(p + 28);
    size_t name_len = strlen(e->name);
    if (nlen != name_len || !in_bounds(e->local_offset + LOCAL_LEN, nlen, cd_offset) ||
        memcmp(p + LOCAL_LEN, e->name, name_len) != 0)
        return kt_error_set(err, KT_EFORMAT, "zip: entry \"%.*s\" has a different name in its local header",
                            NAME_SHOW, e->name);
    if (rd16(p + 8) != e->method)
        return kt_error_set(err, KT_EFORMAT, "zip: entry \"%.*s\" has a different method in its local header",
                            NAME_SHOW, e->name);
    e->data_offset = e->local_offset + LOCAL_LEN + nlen + xlen;
    if (!in_bounds(e->data_offset, e->comp_size, cd_offset))
        return kt_error_set(err, KT_EFORMAT, "zip: entry \"%.*s\" data extends past the archive's data",
                            NAME_SHOW, e->name);
    if (!(rd16(p + 6) & 0x0008) && rd32(p + 18) != 0xFFFFFFFFu &&
        (rd32(p + 14) != e->crc32 || rd32(p + 18) != e->comp_size || rd32(p + 22) != e->size))
        return kt_error_set(err, KT_EFORMAT, "zip: entry \"%.*s\" local header disagrees with the central "
                            "directory", NAME_SHOW, e->name);
    return KT_OK;
}

/* qsort has no context argument: sort pairs that carry what they compare. */
typedef struct {
    const kt_zip_entry *e;
    size_t i;
} entry_ref;

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const entry_ref *)a)->e->name, ((const entry_ref *)b)->e->name);
}

static int cmp_offset(const void *a, const void *b)
{
    uint64_t x = ((const entry_ref *)a)->e->local_offset, y = ((const entry_ref *)b)->e->local_offset;
    return (x > y) - (x < y);
}

static kt_status check_overlaps(entry_ref *refs, size_t n, kt_error *err)
{
    qsort(refs, n, sizeof *refs, cmp_offset);
    for (size_t i = 1; i < n; i++) {
        const kt_zip_entry *a = refs[i - 1].e, *b = refs[i].e;
        if (a->data_offset + a->comp_size > b->local_offset)
            return kt_error_set(err, KT_EFORMAT, "zip: entries \"%.*s\" and \"%.*s\" overlap", NAME_SHOW,
                                a->name, NAME_SHOW, b->name);
    }
    return KT_OK;
}

/* Rejects duplicate names and overlapping entries; fills z->by_name. */
static kt_status check_set(kt_zip *z, kt_error *err)
{
    kt_status st = KT_OK;
    entry_ref *refs = malloc((z->count ? z->count : 1) * sizeof *refs);
    if (!refs)
        return kt_error_set(err, KT_ENOMEM, "zip: out of memory for the entry index");
    for (size_t i = 0; i < z->count; i++)
        refs[i] = (entry_ref){&z->entries[i], i};
    qsort(refs, z->count, sizeof *refs, cmp_name);
    for (size_t i = 0; i < z->count; i++) {
        z->by_name[i] = refs[i].i;
        if (i > 0 && strcmp(refs[i - 1].e->name, refs[i].e->name) == 0) {
            st = kt_error_set(err, KT_EFORMAT, "zip: two entries named \"%.*s\"", NAME_SHOW, refs[i].e->name);
            goto fail;
        }
    }
    st = check_overlaps(refs, z->count, err);
fail:
    free(refs);
    return st;
}

static kt_status parse_entries(kt_zip *z, const zip_dir *dir, kt_error *err)
{
    uint64_t pos = dir->cd_offset, end = dir->cd_offset + dir->cd_size;
    for (size_t i = 0; i < z->count; i++) {
        kt_zip_entry *e = &z->entries[i];
        kt_status st = parse_central(z->data, &pos, end, e, err);
        if (!st)
            st = check_entry_kind(e, err);
        if (!st)
            st = check_local(z->data, dir->cd_offset, e, err);
        if (st)
            return st;
    }
    return check_set(z, err);
}

kt_status kt_zip_open(const unsigned char *data, uint64_t size, kt_zip **out, kt_error *err)
{
    zip_dir dir = {0, 0, 0, 0};
    kt_zip *z = NULL;
    *out = NULL;
    kt_status st = read_end(data, size, &dir, err);
    if (st)
        return st;
    z = calloc(1, sizeof *z);
    if (!z)
        return kt_error_set(err, KT_ENOMEM, "zip: out of memory");
    z->data = data;
    z->size = size;
    z->count = (size_t)dir.count; /* bounded by cd_size / 46, so it fits */
    size_t alloc = z->count ? z->count : 1;
    z->entries = calloc(alloc, sizeof *z->entries);
    z->by_name = calloc(alloc, sizeof *z->by_name);
    z->inflated = calloc(alloc, sizeof *z->inflated);
    if (!z->entries || !z->by_name || !z->inflated) {
        st = kt_error_set(err, KT_ENOMEM, "zip: out of memory for %zu entries", z->count);
        goto fail;
    }
    if ((st = parse_entries(z, &dir, err)))
        goto fail;
    *out = z;
    return KT_OK;
fail:
    kt_zip_free(z);
    return st;
}

void kt_zip_free(kt_zip *z)
{
    if (!z)
        return;
    for (size_t i = 0; z->entries && i < z->count; i++) {
        free(z->entries[i].name);
        if (z->inflated)
            free(z->inflated[i]);
    }
    free(z->entries);
    free(z->by_name);
    free(z->inflated);
    free(z);
}

size_t kt_zip_count(const kt_zip *z) { return z ? z->count : 0; }

const kt_zip_entry *kt_zip_entry_at(const kt_zip *z, size_t i)
{
    return z && i < z->count ? &z->entries[i] : NULL;
}

const kt_zip_entry *kt_zip_find(const kt_zip *z, const char *name)
{
    if (!z || !name)
        return NULL;
    size_t lo = 0, hi = z->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const kt_zip_entry *e = &z->entries[z->by_name[mid]];
        int c = strcmp(name, e->name);
        if (c == 0)
            return e;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Runs inflate over the whole input into *out, which grows with the output (doubling from
 * 64 KiB) up to limit bytes, so a declared size the data does not back costs no memory. Sets
 * *produced and whether more output was pending past limit; -1 when growing failed. */
static int inflate_all(z_stream *s, const unsigned char *in, uint64_t in_len, unsigned char **out, uint64_t limit,
                       uint64_t *produced, int *overflow)
{
    uint64_t in_pos = 0, out_pos = 0, cap = 0;
    int rc = Z_OK;
    unsigned char spare;
    *overflow = 0;
    while (rc == Z_OK) {
        if (out_pos == cap && (cap < limit || !*out)) {
            uint64_t c = cap ? cap * 2 : ((uint64_t)1 << 16);
            c = c < limit ? c : limit;
            unsigned char *nb = realloc(*out, (size_t)c + 1);
            if (!nb)
                return -1;
            *out = nb;
            cap = c;
        }
        uint64_t in_left = in_len - in_pos, out_left = cap - out_pos;
        s->next_in = (Bytef *)(uintptr_t)(in + in_pos);
        s->avail_in = in_left > UINT_MAX ? UINT_MAX : (uInt)in_left;
        s->next_out = out_left ? *out + out_pos : &spare;
        s->avail_out = out_left ? (out_left > UINT_MAX ? UINT_MAX : (uInt)out_left) : 1;
        uInt ai = s->avail_in, ao = s->avail_out;
        rc = inflate(s, Z_NO_FLUSH);
        in_pos += ai - s->avail_in;
        if (!out_left && s->avail_out == 0) {
            *overflow = 1;
            break;
        }
        out_pos += out_left ? ao - s->avail_out : 0;
    } /* Z_BUF_ERROR: no progress possible, i.e. the input ran out before the stream ended */
    *produced = out_pos;
    return rc;
}

/* Inflates e into a new buffer (*out, owned by the caller on success) and verifies it. */
static kt_status inflate_entry(const kt_zip *z, const kt_zip_entry *e, unsigned char **out, kt_error *err)
{
    z_stream s;
    memset(&s, 0, sizeof s);
    *out = NULL;
    if (inflateInit2(&s, -MAX_WBITS) != Z_OK)
        return kt_error_set(err, KT_ENOMEM, "zip: cannot start inflate");
    uint64_t got = 0;
    int overflow = 0;
    int rc = inflate_all(&s, z->data + e->data_offset, e->comp_size, out, e->size, &got, &overflow);
    inflateEnd(&s);
    kt_status st = KT_OK;
    if (rc == -1)
        st = kt_error_set(err, KT_ENOMEM, "zip: out of memory inflating \"%.*s\" (%llu bytes)", NAME_SHOW, e->name,
                          (unsigned long long)e->size);
    else if (overflow)
        st = kt_error_set(err, KT_EFORMAT, "zip: entry \"%.*s\" inflates past its declared %llu bytes", NAME_SHOW,
                          e->name, (unsigned long long)e->size);
    else if (rc != Z_STREAM_END)
        st = kt_error_set(err, KT_EFORMAT, "zip: entry \"%.*s\" has corrupt or truncated deflate data", NAME_SHOW,
                          e->name);
    else if (got != e->size)
        st = kt_error_set(err, KT_EFORMAT, "zip: entry \"%.*s\" inflates to %llu bytes, declared %llu", NAME_SHOW,
                          e->name, (unsigned long long)got, (unsigned long long)e->size);
    else if (kt_crc32(0, *out, (size_t)e->size) != e->crc32)
        st = kt_error_set(err, KT_EFORMAT, "zip: entry \"%.*s\" fails its CRC-32 check", NAME_SHOW, e->name);
    if (st) {
        free(*out);
        *out = NULL;
    }
    return st;
}

kt_status kt_zip_read(kt_zip *z, const kt_zip_entry *e, uint64_t max_size, const unsigned char **data,
                      uint64_t *len, kt_error *err)
{
    if (!z || !e || e < z->entries || e >= z->entries + z->count)
        return kt_error_set(err, KT_EINVAL, "zip: entry does not belong to this archive");
    size_t i = (size_t)(e - z->entries);
    if (e->size > max_size)
        return kt_error_set(err, KT_ELIMIT, "zip: entry \"%.*s\" is %llu bytes, over the limit of %llu",
                            NAME_SHOW, e->name, (unsigned long long)e->size, (unsigned long long)max_size);
    if (e->method == 0) {
        *data = z->data + e->data_offset;
        *len = e->size;
        return KT_OK;
    }
    if (!z->inflated[i]) {
        if (e->size > SIZE_MAX - 1)
            return kt_error_set(err, KT_ELIMIT, "zip: entry \"%.*s\" is too large", NAME_SHOW, e->name);
        uint64_t budget = inflate_budget(z->size);
        if (e->size > budget - z->inflated_total)
            return kt_error_set(err, KT_ELIMIT, "zip: entry \"%.*s\" inflates to %llu bytes; the archive's deflated "
                                "entries may inflate to %llu bytes in all (16 MiB + 4 x its size)", NAME_SHOW,
                                e->name, (unsigned long long)e->size, (unsigned long long)budget);
        unsigned char *buf = NULL;
        kt_status st = inflate_entry(z, e, &buf, err);
        if (st)
            return st;
        z->inflated[i] = buf;
        z->inflated_total += e->size;
    }
    *data = z->inflated[i];
    *len = e->size;
    return KT_OK;
}
