/* audio_out.c - the streaming audio writer: libsoxr resampling, libsndfile encoding, onto a
 * temp file (renamed into place at close) or a descriptor (never seeking). */
#include "kt/audio_out.h"

#include <errno.h>
#include <math.h>
#include <sndfile.h>
#include <soxr.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "kt/io.h"

#define STAGE 4096 /* samples resampled or clipped per step */

struct kt_audio_writer {
    kt_audio_out_format fmt;
    SNDFILE *sf;
    soxr_t rs;            /* NULL when in_rate == out_rate */
    kt_atomic_file af;    /* file mode: af.final_path != NULL (af.tmp_path too unless a device or FIFO) */
    int fd;               /* stream mode: the descriptor, else -1 */
    sf_count_t pos;       /* stream mode: bytes written so far */
    int io_errno;         /* stream mode: errno of the first failed write, else 0 */
    size_t frames;        /* samples written at the output rate */
    float *hold;          /* Vorbis: every sample, encoded at close (see encode) */
    size_t n_hold, cap_hold;
    float stage[STAGE];
};

static const struct {
    const char *name;
    kt_audio_out_format fmt;
} names[] = {
    {"wav", KT_AOUT_WAV},   {"wav-f32", KT_AOUT_WAV_F32}, {"flac", KT_AOUT_FLAC}, {"vorbis", KT_AOUT_VORBIS},
    {"ogg", KT_AOUT_VORBIS}, {"opus", KT_AOUT_OPUS},     {"mp3", KT_AOUT_MP3},   {"pcm", KT_AOUT_PCM},
    {"pcm-f32", KT_AOUT_PCM_F32},
};

static const struct {
    const char *ext;
    kt_audio_out_format fmt;
} exts[] = {
    {".wav", KT_AOUT_WAV}, {".flac", KT_AOUT_FLAC}, {".ogg", KT_AOUT_VORBIS}, {".oga", KT_AOUT_VORBIS},
    {".opus", KT_AOUT_OPUS}, {".mp3", KT_AOUT_MP3}, {".pcm", KT_AOUT_PCM},   {".raw", KT_AOUT_PCM},
    {".f32", KT_AOUT_PCM_F32},
};

kt_audio_out_format kt_audio_out_format_from_name(const char *name)
{
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
        if (!strcasecmp(name, names[i].name))
            return names[i].fmt;
    return KT_AOUT_UNKNOWN;
}

kt_audio_out_format kt_audio_out_format_from_path(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    const char *dot = path ? strrchr(slash ? slash + 1 : path, '.') : NULL;
    for (size_t i = 0; dot && i < sizeof exts / sizeof exts[0]; i++)
        if (!strcasecmp(dot, exts[i].ext))
            return exts[i].fmt;
    return KT_AOUT_UNKNOWN;
}

const char *kt_audio_out_format_name(kt_audio_out_format f)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].fmt == f)
            return names[i].name;
    return "unknown";
}

static int in_set(int rate, const int *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == rate)
            return 1;
    return 0;
}

kt_status kt_audio_out_check_rate(kt_audio_out_format f, int rate, kt_error *err)
{
    static const int opus[] = {8000, 12000, 16000, 24000, 48000};
    static const int mp3[] = {8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000};
    if (f == KT_AOUT_UNKNOWN || !strcmp(kt_audio_out_format_name(f), "unknown"))
        return kt_error_set(err, KT_EINVAL, "unknown audio format");
    if (rate < KT_AOUT_MIN_RATE || rate > KT_AOUT_MAX_RATE)
        return kt_error_set(err, KT_EINVAL, "sample rate %d Hz is outside %d..%d", rate, KT_AOUT_MIN_RATE,
                            KT_AOUT_MAX_RATE);
    if (f == KT_AOUT_OPUS && !in_set(rate, opus, sizeof opus / sizeof opus[0]))
        return kt_error_set(err, KT_EINVAL, "opus takes 8000, 12000, 16000, 24000 or 48000 Hz, not %d", rate);
    if (f == KT_AOUT_MP3 && !in_set(rate, mp3, sizeof mp3 / sizeof mp3[0]))
        return kt_error_set(err, KT_EINVAL,
                            "mp3 takes 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100 or 48000 Hz, not %d",
                            rate);
    return KT_OK;
}

static int sf_format_of(kt_audio_out_format f)
{
    switch (f) {
    case KT_AOUT_WAV: return SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    case KT_AOUT_WAV_F32: return SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    case KT_AOUT_FLAC: return SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
    case KT_AOUT_VORBIS: return SF_FORMAT_OGG | SF_FORMAT_VORBIS;
    case KT_AOUT_OPUS: return SF_FORMAT_OGG | SF_FORMAT_OPUS;
    case KT_AOUT_MP3: return SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III;
    case KT_AOUT_PCM: return SF_FORMAT_RAW | SF_FORMAT_PCM_16 | SF_ENDIAN_LITTLE;
    case KT_AOUT_PCM_F32: return SF_FORMAT_RAW | SF_FORMAT_FLOAT | SF_ENDIAN_LITTLE;
    case KT_AOUT_UNKNOWN: break;
    }
    return 0;
}

static int is_float(kt_audio_out_format f)
{
    return f == KT_AOUT_WAV_F32 || f == KT_AOUT_PCM_F32;
}

static int is_wav(kt_audio_out_format f)
{
    return f == KT_AOUT_WAV || f == KT_AOUT_WAV_F32;
}

/* ---- stream mode: libsndfile virtual I/O on a descriptor, never seeking ---- */

static sf_count_t vio_len(void *user)
{
    return ((kt_audio_writer *)user)->pos;
}

/* Only a seek to where we already are succeeds: a pipe cannot go back. */
static sf_count_t vio_seek(sf_count_t offset, int whence, void *user)
{
    kt_audio_writer *w = user;
    sf_count_t to = whence == SEEK_SET ? offset : whence == SEEK_CUR ? w->pos + offset : w->pos + offset;
    return to == w->pos ? w->pos : -1;
}

static sf_count_t vio_read(void *ptr, sf_count_t count, void *user)
{
    (void)ptr, (void)count, (void)user;
    return 0;
}

static sf_count_t vio_write(const void *ptr, sf_count_t count, void *user)
{
    kt_audio_writer *w = user;
    const unsigned char *p = ptr;
    sf_count_t done = 0;
    while (!w->io_errno && done < count) {
        ssize_t k = write(w->fd, p + done, (size_t)(count - done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            w->io_errno = k < 0 ? errno : EIO;
        else
            done += k;
    }
    w->pos += done;
    return done;
}

static sf_count_t vio_tell(void *user)
{
    return ((kt_audio_writer *)user)->pos;
}

static void put_le(unsigned char *p, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* The 44-byte WAV header of a stream: sizes 0xFFFFFFFF ("unknown"), 16-bit PCM or 32-bit float. */
static kt_status write_stream_header(kt_audio_writer *w, int rate, kt_error *err)
{
    unsigned char h[44];
    int fl = w->fmt == KT_AOUT_WAV_F32, bytes = fl ? 4 : 2;
    memcpy(h, "RIFF", 4);
    put_le(h + 4, 0xFFFFFFFFu, 4);
    memcpy(h + 8, "WAVEfmt ", 8);
    put_le(h + 16, 16, 4);
    put_le(h + 20, fl ? 3 : 1, 2); /* IEEE float or PCM */
    put_le(h + 22, 1, 2);          /* mono */
    put_le(h + 24, (uint32_t)rate, 4);
    put_le(h + 28, (uint32_t)rate * (uint32_t)bytes, 4);
    put_le(h + 32, (uint32_t)bytes, 2);
    put_le(h + 34, (uint32_t)bytes * 8, 2);
    memcpy(h + 36, "data", 4);
    put_le(h + 40, 0xFFFFFFFFu, 4);
    if (vio_write(h, sizeof h, w) != (sf_count_t)sizeof h)
        return kt_error_set(err, KT_EIO, "cannot write audio stream: %s", strerror(w->io_errno));
    return KT_OK;
}

/* ---- opening ---- */

static kt_status check_args(kt_audio_out_format f, int in_rate, int out_rate, kt_error *err)
{
    if (!sf_format_of(f))
        return kt_error_set(err, KT_EINVAL, "unknown audio format");
    if (in_rate < 1 || in_rate > 384000)
        return kt_error_set(err, KT_EINVAL, "input sample rate %d Hz is outside 1..384000", in_rate);
    return kt_audio_out_check_rate(f, out_rate, err);
}

static kt_status new_writer(kt_audio_out_format f, int in_rate, int out_rate, kt_audio_writer **out,
                            kt_error *err)
{
    kt_audio_writer *w = calloc(1, sizeof *w);
    if (!w)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    w->fmt = f;
    w->fd = -1;
    if (in_rate != out_rate) {
        soxr_error_t e = NULL;
        soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
        soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
        soxr_runtime_spec_t rt = soxr_runtime_spec(1);
        w->rs = soxr_create((double)in_rate, (double)out_rate, 1, &e, &io, &q, &rt);
        if (!w->rs || e) {
            free(w);
            return kt_error_set(err, KT_EINVAL, "cannot resample %d Hz to %d Hz: %s", in_rate, out_rate,
                                e ? e : "libsoxr failed");
        }
    }
    *out = w;
    return KT_OK;
}

/* Settings after sf_open: clipping, the Vorbis quality kt has always used, and no PEAK chunk in
 * float WAV files (libsndfile stamps it with the time of writing: the same samples would give
 * other bytes a second later). */
static void configure(kt_audio_writer *w)
{
    sf_command(w->sf, SFC_SET_CLIPPING, NULL, SF_TRUE);
    sf_command(w->sf, SFC_SET_ADD_PEAK_CHUNK, NULL, SF_FALSE);
    if (w->fmt == KT_AOUT_VORBIS) {
        double quality = 0.6;
        sf_command(w->sf, SFC_SET_VBR_ENCODING_QUALITY, &quality, sizeof quality);
    }
}

static void free_writer(kt_audio_writer *w)
{
    if (w->rs)
        soxr_delete(w->rs);
    free(w->hold);
    free(w);
}

kt_status kt_audio_writer_open(const char *path, kt_audio_out_format f, int in_rate, int out_rate,
                               kt_audio_writer **out, kt_error *err)
{
    kt_audio_writer *w = NULL;
    *out = NULL;
    kt_status st = check_args(f, in_rate, out_rate, err);
    if (!st)
        st = new_writer(f, in_rate, out_rate, &w, err);
    if (st)
        return st;
    st = kt_atomic_open(&w->af, path, err);
    if (st)
        goto fail;
    SF_INFO info = {.samplerate = out_rate, .channels = 1, .format = sf_format_of(f)};
    /* libsndfile writes through the descriptor (it seeks to finish headers); the FILE stays empty */
    w->sf = sf_open_fd(fileno(w->af.fp), SFM_WRITE, &info, 0);
    if (!w->sf) {
        st = kt_error_set(err, KT_EIO, "cannot start audio file: %s", sf_strerror(NULL));
        goto fail;
    }
    configure(w);
    *out = w;
    return KT_OK;
fail:
    kt_atomic_abort(&w->af);
    free_writer(w);
    return st;
}

kt_status kt_audio_writer_open_fd(int fd, kt_audio_out_format f, int in_rate, int out_rate,
                                  kt_audio_writer **out, kt_error *err)
{
    kt_audio_writer *w = NULL;
    *out = NULL;
    kt_status st = check_args(f, in_rate, out_rate, err);
    if (!st && (f == KT_AOUT_FLAC || f == KT_AOUT_VORBIS))
        st = kt_error_set(err, KT_EINVAL, "cannot stream %s: write a file", kt_audio_out_format_name(f));
    if (!st)
        st = new_writer(f, in_rate, out_rate, &w, err);
    if (st)
        return st;
    w->fd = fd;
    if (is_wav(f) && (st = write_stream_header(w, out_rate, err)))
        goto fail;
    SF_VIRTUAL_IO vio = {vio_len, vio_seek, vio_read, vio_write, vio_tell};
    int sff = is_wav(f) ? (SF_FORMAT_RAW | (sf_format_of(f) & SF_FORMAT_SUBMASK) | SF_ENDIAN_LITTLE)
                        : sf_format_of(f);
    SF_INFO info = {.samplerate = out_rate, .channels = 1, .format = sff};
    w->sf = sf_open_virtual(&vio, SFM_WRITE, &info, w);
    if (!w->sf) {
        st = kt_error_set(err, KT_EIO, "cannot start audio stream: %s", sf_strerror(NULL));
        goto fail;
    }
    configure(w);
    *out = w;
    return KT_OK;
fail:
    free_writer(w);
    return st;
}

/* ---- writing ---- */

/* libvorbis's output depends on how the samples are cut into calls, so Vorbis samples are kept
 * and encoded at close in the same pieces whatever the calls were. */
static kt_status hold(kt_audio_writer *w, const float *x, size_t n, kt_error *err)
{
    if (n == 0)
        return KT_OK;
    if (n > w->cap_hold - w->n_hold) {
        size_t cap = w->cap_hold ? w->cap_hold : (size_t)1 << 16;
        while (cap - w->n_hold < n) {
            if (cap > SIZE_MAX / 2 / sizeof *w->hold)
                return kt_error_set(err, KT_ENOMEM, "out of memory");
            cap *= 2;
        }
        float *h = realloc(w->hold, cap * sizeof *h);
        if (!h)
            return kt_error_set(err, KT_ENOMEM, "out of memory");
        w->hold = h;
        w->cap_hold = cap;
    }
    memcpy(w->hold + w->n_hold, x, n * sizeof *x);
    w->n_hold += n;
    w->frames += n;
    return KT_OK;
}

static kt_status sf_put(kt_audio_writer *w, const float *x, size_t n, kt_error *err)
{
    if (n && sf_writef_float(w->sf, x, (sf_count_t)n) != (sf_count_t)n)
        return kt_error_set(err, KT_EIO, "cannot write audio: %s",
                            w->io_errno ? strerror(w->io_errno) : sf_strerror(w->sf));
    if (w->io_errno)
        return kt_error_set(err, KT_EIO, "cannot write audio: %s", strerror(w->io_errno));
    return KT_OK;
}

/* Encodes the held Vorbis samples in pieces of 2^20. */
static kt_status release(kt_audio_writer *w, kt_error *err)
{
    for (size_t done = 0; done < w->n_hold;) {
        size_t k = w->n_hold - done < ((size_t)1 << 20) ? w->n_hold - done : ((size_t)1 << 20);
        kt_status st = sf_put(w, w->hold + done, k, err);
        if (st)
            return st;
        done += k;
    }
    return KT_OK;
}

static kt_status encode(kt_audio_writer *w, const float *x, size_t n, kt_error *err)
{
    if (w->fmt == KT_AOUT_VORBIS)
        return hold(w, x, n, err);
    const float *src = x;
    if (n && is_float(w->fmt)) {
        for (size_t i = 0; i < n; i++) /* n <= STAGE: the callers cut */
            w->stage[i] = x[i] != x[i] ? 0.0f : x[i] > 1.0f ? 1.0f : x[i] < -1.0f ? -1.0f : x[i];
        src = w->stage;
    }
    kt_status st = sf_put(w, src, n, err);
    if (!st)
        w->frames += n;
    return st;
}

/* Feeds n input samples (x NULL: the end of the input) through the resampler and encodes what
 * comes out. soxr_process may take less than all the input when the output step is full. */
static kt_status resample(kt_audio_writer *w, const float *x, size_t n, kt_error *err)
{
    float out[STAGE];
    size_t done = 0;
    for (;;) {
        size_t idone = 0, odone = 0;
        soxr_error_t e = soxr_process(w->rs, x ? x + done : NULL, x ? n - done : 0, &idone, out, STAGE, &odone);
        if (e)
            return kt_error_set(err, KT_EIO, "cannot resample: %s", e);
        if (x && done < n && idone == 0 && odone == 0)
            return kt_error_set(err, KT_EIO, "cannot resample: libsoxr took no input");
        done += idone;
        kt_status st = encode(w, out, odone, err);
        if (st)
            return st;
        if ((!x || done >= n) && odone < STAGE)
            return KT_OK;
    }
}

kt_status kt_audio_writer_write(kt_audio_writer *w, const float *x, size_t n, kt_error *err)
{
    for (size_t i = 0; i < n;) {
        size_t k = n - i < STAGE ? n - i : STAGE;
        kt_status st = w->rs ? resample(w, x + i, k, err) : encode(w, x + i, k, err);
        if (st)
            return st;
        i += k;
    }
    return KT_OK;
}

kt_status kt_audio_writer_close(kt_audio_writer *w, size_t *frames, kt_error *err)
{
    if (frames)
        *frames = 0;
    if (!w)
        return KT_OK;
    kt_status st = w->rs ? resample(w, NULL, 0, err) : KT_OK;
    if (!st)
        st = release(w, err);
    if (frames)
        *frames = w->frames;
    if (sf_close(w->sf) != 0 && !st)
        st = kt_error_set(err, KT_EIO, "cannot finish audio: %s", sf_strerror(NULL));
    w->sf = NULL;
    if (w->io_errno && !st)
        st = kt_error_set(err, KT_EIO, "cannot write audio: %s", strerror(w->io_errno));
    if (w->af.final_path) /* a file, a device or a FIFO: commit closes and frees it */
        st = st ? (kt_atomic_abort(&w->af), st) : kt_atomic_commit(&w->af, err);
    free_writer(w);
    return st;
}

void kt_audio_writer_abort(kt_audio_writer *w)
{
    if (!w)
        return;
    if (w->sf)
        sf_close(w->sf);
    kt_atomic_abort(&w->af);
    free_writer(w);
}

size_t kt_audio_writer_frames(const kt_audio_writer *w)
{
    return w ? w->frames : 0;
}
