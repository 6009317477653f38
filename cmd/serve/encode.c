/* encode.c - response bodies: 16-bit PCM and WAV chunk by chunk; FLAC, MP3 and Ogg/Opus whole,
 * through libsndfile writing into memory. */
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

#define RATE 24000

static const char *const names[KTS_NFORMATS] = {"mp3", "opus", "aac", "flac", "wav", "pcm"};
static const char *const mimes[KTS_NFORMATS] = {"audio/mpeg", "audio/ogg", "audio/aac", "audio/flac",
                                                "audio/wav", "audio/pcm"};

int kts_bytes_append(kts_bytes *b, const void *p, size_t n)
{
    if (n > ((size_t)1 << 31) - b->len)
        return -1;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    if (n && p)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void kts_bytes_free(kts_bytes *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

int kts_format_parse(const char *name)
{
    for (int i = 0; i < KTS_NFORMATS; i++)
        if (!strcmp(name, names[i]))
            return i;
    return -1;
}

const char *kts_format_name(int f) { return f >= 0 && f < KTS_NFORMATS ? names[f] : "?"; }
const char *kts_format_mime(int f) { return f >= 0 && f < KTS_NFORMATS ? mimes[f] : "application/octet-stream"; }

static int sndfile_format(int f)
{
    switch (f) {
    case KTS_FLAC: return SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
    case KTS_MP3: return SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III;
    case KTS_OPUS: return SF_FORMAT_OGG | SF_FORMAT_OPUS;
    default: return 0;
    }
}

int kts_format_available(int f)
{
    if (f == KTS_WAV || f == KTS_PCM)
        return 1;
    SF_INFO info = {.samplerate = RATE, .channels = 1, .format = sndfile_format(f)};
    return info.format && sf_format_check(&info);
}

int kts_format_streams(int f) { return f != KTS_AAC && kts_format_available(f); }

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

/* 44-byte PCM WAV header; data_bytes 0xFFFFFFFF means "unknown" (streaming). */
static int wav_header(kts_bytes *out, uint32_t data_bytes)
{
    unsigned char h[44];
    memcpy(h, "RIFF", 4);
    put_u32(h + 4, data_bytes == 0xFFFFFFFFu ? 0xFFFFFFFFu : 36 + data_bytes);
    memcpy(h + 8, "WAVEfmt ", 8);
    put_u32(h + 16, 16);
    put_u16(h + 20, 1);
    put_u16(h + 22, 1);
    put_u32(h + 24, RATE);
    put_u32(h + 28, RATE * 2);
    put_u16(h + 32, 2);
    put_u16(h + 34, 16);
    memcpy(h + 36, "data", 4);
    put_u32(h + 40, data_bytes);
    return kts_bytes_append(out, h, sizeof h);
}

int kts_encode_wav_stream_header(kts_bytes *out) { return wav_header(out, 0xFFFFFFFFu); }

int kts_encode_pcm16(kts_bytes *out, const float *x, size_t n)
{
    unsigned char buf[2048];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        v = v != v ? 0.0f : v > 1.0f ? 1.0f : v < -1.0f ? -1.0f : v;
        put_u16(buf + k, (uint16_t)(int16_t)lrintf(v * 32767.0f));
        k += 2;
        if (k == sizeof buf || i + 1 == n) {
            if (kts_bytes_append(out, buf, k))
                return -1;
            k = 0;
        }
    }
    return 0;
}

/* ---- libsndfile into memory ---- */

typedef struct {
    kts_bytes *b;
    sf_count_t pos;
} memfile;

static sf_count_t vio_len(void *u) { return (sf_count_t)((memfile *)u)->b->len; }

static sf_count_t vio_seek(sf_count_t off, int whence, void *u)
{
    memfile *m = u;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : (sf_count_t)m->b->len;
    if (base + off < 0)
        return -1;
    m->pos = base + off;
    return m->pos;
}

static sf_count_t vio_read(void *p, sf_count_t n, void *u)
{
    memfile *m = u;
    sf_count_t avail = (sf_count_t)m->b->len - m->pos;
    if (avail <= 0)
        return 0;
    if (n > avail)
        n = avail;
    memcpy(p, m->b->data + m->pos, (size_t)n);
    m->pos += n;
    return n;
}

static sf_count_t vio_write(const void *p, sf_count_t n, void *u)
{
    memfile *m = u;
    size_t end = (size_t)m->pos + (size_t)n;
    if (end > m->b->len) {
        size_t old = m->b->len;
        if (kts_bytes_append(m->b, NULL, end - old))
            return 0;
        memset(m->b->data + old, 0, end - old);
    }
    memcpy(m->b->data + m->pos, p, (size_t)n);
    m->pos += n;
    return n;
}

static sf_count_t vio_tell(void *u) { return ((memfile *)u)->pos; }

static int encode_sndfile(int f, const float *x, size_t n, kts_bytes *out, char *err, size_t errlen)
{
    SF_VIRTUAL_IO vio = {vio_len, vio_seek, vio_read, vio_write, vio_tell};
    memfile m = {out, 0};
    SF_INFO info = {.samplerate = RATE, .channels = 1, .format = sndfile_format(f)};
    SNDFILE *sf = sf_open_virtual(&vio, SFM_WRITE, &info, &m);
    float buf[4096];
    if (!sf) {
        snprintf(err, errlen, "cannot write %s: %s", names[f], sf_strerror(NULL));
        return -1;
    }
    for (size_t i = 0; i < n;) {
        size_t k = n - i < 4096 ? n - i : 4096;
        for (size_t j = 0; j < k; j++) {
            float v = x[i + j];
            buf[j] = v != v ? 0.0f : v > 1.0f ? 1.0f : v < -1.0f ? -1.0f : v;
        }
        if (sf_write_float(sf, buf, (sf_count_t)k) != (sf_count_t)k) {
            snprintf(err, errlen, "cannot write %s: %s", names[f], sf_strerror(sf));
            sf_close(sf);
            return -1;
        }
        i += k;
    }
    if (sf_close(sf)) {
        snprintf(err, errlen, "cannot finish %s", names[f]);
        return -1;
    }
    return 0;
}

int kts_encode_whole(int f, const float *x, size_t n, kts_bytes *out, char *err, size_t errlen)
{
    if (f == KTS_PCM)
        return kts_encode_pcm16(out, x, n);
    if (f == KTS_WAV) {
        if (n > (0xFFFFFFFFu - 36) / 2) {
            snprintf(err, errlen, "audio too long for WAV");
            return -1;
        }
        return wav_header(out, (uint32_t)(n * 2)) || kts_encode_pcm16(out, x, n) ? -1 : 0;
    }
    if (!kts_format_available(f)) {
        snprintf(err, errlen, "response_format '%s' is not available in this build", names[f]);
        return -1;
    }
    return encode_sndfile(f, x, n, out, err, errlen);
}

/* ---- streaming through libsndfile: bytes go to the request's buffer as the encoder makes them ---- */

struct kts_encoder {
    SNDFILE *sf;
    kts_bytes *out;   /* the request's buffer: bytes from *off on are not sent yet */
    size_t *off;
    uint64_t emitted; /* bytes appended so far (the stream's length) */
    uint64_t pos;     /* the encoder's write position */
};

static sf_count_t st_len(void *u) { return (sf_count_t)((kts_encoder *)u)->emitted; }

static sf_count_t st_seek(sf_count_t off, int whence, void *u)
{
    kts_encoder *e = u;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (sf_count_t)e->pos : (sf_count_t)e->emitted;
    if (base + off < 0)
        return -1;
    e->pos = (uint64_t)(base + off);
    return (sf_count_t)e->pos;
}

static sf_count_t st_read(void *p, sf_count_t n, void *u)
{
    (void)p;
    (void)n;
    (void)u;
    return 0;
}

/* A write at the end appends; one into bytes not yet sent patches them; bytes already sent stay
 * as they were (a streamed file's header keeps its "unknown length" values). */
static sf_count_t st_write(const void *p, sf_count_t n, void *u)
{
    kts_encoder *e = u;
    const unsigned char *src = p;
    uint64_t end = e->pos + (uint64_t)n, unsent = e->out->len - *e->off, first = e->emitted - unsent;
    for (uint64_t q = e->pos > first ? e->pos : first; q < end && q < e->emitted; q++)
        e->out->data[*e->off + (q - first)] = src[q - e->pos];
    if (end > e->emitted) {
        uint64_t from = e->pos > e->emitted ? e->pos : e->emitted;
        if (from > e->emitted && kts_bytes_append(e->out, NULL, from - e->emitted))
            return 0;
        if (kts_bytes_append(e->out, src + (from - e->pos), end - from))
            return 0;
        e->emitted = end;
    }
    e->pos = end;
    return n;
}

static sf_count_t st_tell(void *u) { return (sf_count_t)((kts_encoder *)u)->pos; }

int kts_encoder_open(int f, kts_bytes *out, size_t *off, kts_encoder **enc, char *err, size_t errlen)
{
    static SF_VIRTUAL_IO vio = {st_len, st_seek, st_read, st_write, st_tell};
    SF_INFO info = {.samplerate = RATE, .channels = 1, .format = sndfile_format(f)};
    kts_encoder *e = calloc(1, sizeof *e);
    *enc = NULL;
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    e->out = out;
    e->off = off;
    e->emitted = e->pos = out->len - *off;
    if (!info.format || !(e->sf = sf_open_virtual(&vio, SFM_WRITE, &info, e))) {
        snprintf(err, errlen, "cannot stream %s: %s", names[f], sf_strerror(NULL));
        free(e);
        return -1;
    }
    *enc = e;
    return 0;
}

int kts_encoder_write(kts_encoder *e, const float *x, size_t n)
{
    float buf[4096];
    for (size_t i = 0; i < n;) {
        size_t k = n - i < 4096 ? n - i : 4096;
        for (size_t j = 0; j < k; j++) {
            float v = x[i + j];
            buf[j] = v != v ? 0.0f : v > 1.0f ? 1.0f : v < -1.0f ? -1.0f : v;
        }
        if (sf_write_float(e->sf, buf, (sf_count_t)k) != (sf_count_t)k)
            return -1;
        i += k;
    }
    return 0;
}

int kts_encoder_close(kts_encoder *e)
{
    if (!e)
        return 0;
    int rc = e->sf && sf_close(e->sf) ? -1 : 0;
    free(e);
    return rc;
}

int kts_base64(kts_bytes *out, const unsigned char *p, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        char q[4] = {abc[v >> 18], abc[v >> 12 & 63], i + 1 < n ? abc[v >> 6 & 63] : '=', i + 2 < n ? abc[v & 63] : '='};
        if (kts_bytes_append(out, q, 4))
            return -1;
    }
    return 0;
}
