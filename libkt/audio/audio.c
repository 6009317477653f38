/* audio.c - audio output through libsndfile (files) and a hand-written WAV stream (pipes). */
#include "kt/audio.h"

#include <errno.h>
#include <math.h>
#include <sndfile.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "kt/io.h"

kt_audio_format kt_audio_format_from_path(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    if (!dot)
        return KT_AUDIO_UNKNOWN;
    if (!strcasecmp(dot, ".wav"))
        return KT_AUDIO_WAV;
    if (!strcasecmp(dot, ".flac"))
        return KT_AUDIO_FLAC;
    if (!strcasecmp(dot, ".ogg") || !strcasecmp(dot, ".oga"))
        return KT_AUDIO_OGG;
    return KT_AUDIO_UNKNOWN;
}

static int sf_format_of(kt_audio_format f)
{
    switch (f) {
    case KT_AUDIO_WAV: return SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    case KT_AUDIO_FLAC: return SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
    case KT_AUDIO_OGG: return SF_FORMAT_OGG | SF_FORMAT_VORBIS;
    case KT_AUDIO_UNKNOWN: break;
    }
    return 0;
}

/* Writes samples to the open temp file's descriptor with libsndfile. */
static kt_status sf_write_all(int fd, int format, const float *samples, size_t n, int sample_rate, kt_error *err)
{
    SF_INFO info;
    memset(&info, 0, sizeof info);
    info.samplerate = sample_rate;
    info.channels = 1;
    info.format = format;
    SNDFILE *sf = sf_open_fd(fd, SFM_WRITE, &info, 0);
    if (!sf)
        return kt_error_set(err, KT_EIO, "cannot start audio file: %s", sf_strerror(NULL));
    sf_command(sf, SFC_SET_CLIPPING, NULL, SF_TRUE);
    if (format == (SF_FORMAT_OGG | SF_FORMAT_VORBIS)) {
        double quality = 0.6;
        sf_command(sf, SFC_SET_VBR_ENCODING_QUALITY, &quality, sizeof quality);
    }
    kt_status st = KT_OK;
    size_t done = 0;
    while (done < n) {
        sf_count_t k = (sf_count_t)(n - done < (1u << 20) ? n - done : (1u << 20));
        if (sf_writef_float(sf, samples + done, k) != k) {
            st = kt_error_set(err, KT_EIO, "cannot write audio: %s", sf_strerror(sf));
            break;
        }
        done += (size_t)k;
    }
    if (sf_close(sf) != 0 && !st)
        st = kt_error_set(err, KT_EIO, "cannot finish audio file");
    return st;
}

kt_status kt_audio_write(const char *path, const float *samples, size_t n, int sample_rate, kt_error *err)
{
    kt_atomic_file af;
    int format = sf_format_of(kt_audio_format_from_path(path));
    if (!format)
        return kt_error_set(err, KT_EINVAL, "unknown audio format: use .wav, .flac or .ogg");
    if (sample_rate <= 0)
        return kt_error_set(err, KT_EINVAL, "sample rate must be positive");
    kt_status st = kt_atomic_open(&af, path, err);
    if (st)
        return st;
    if (af.direct && kt_audio_format_from_path(path) == KT_AUDIO_WAV) {
        /* a device or FIFO cannot seek back to finish a header: stream it as kt-synth -o - does
         * (16-bit PCM, length fields 0xFFFFFFFF); libsndfile refuses FLAC and OGG there */
        kt_wav_stream ws;
        st = kt_wav_stream_open(&ws, af.fp, sample_rate, err);
        if (!st)
            st = kt_wav_stream_write(&ws, samples, n, err);
        if (st)
            goto fail;
        return kt_atomic_commit(&af, err);
    }
    /* libsndfile writes through the descriptor (it seeks to finish headers); the FILE stays empty */
    st = sf_write_all(fileno(af.fp), format, samples, n, sample_rate, err);
    if (st)
        goto fail;
    return kt_atomic_commit(&af, err);
fail:
    kt_atomic_abort(&af);
    return st;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static void put_le16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

/* float -> 16-bit exactly as libsndfile does with clipping on (scale by 2^31, round, keep the
 * high 16 bits), so the stream and a .wav file of the same audio hold the same samples. */
static int16_t to_pcm16(float x)
{
    double scaled = (double)x * 2147483648.0;
    if (x != x) /* NaN */
        return 0;
    if (scaled >= 2147483647.0)
        return 32767;
    if (scaled <= -2147483648.0)
        return -32768;
    return (int16_t)floor((double)lrint(scaled) / 65536.0);
}

kt_status kt_wav_stream_open(kt_wav_stream *s, FILE *fp, int sample_rate, kt_error *err)
{
    unsigned char h[44];
    s->fp = fp;
    s->n_written = 0;
    if (sample_rate <= 0)
        return kt_error_set(err, KT_EINVAL, "sample rate must be positive");
    memcpy(h, "RIFF", 4);
    put_le32(h + 4, 0xFFFFFFFFu); /* unknown length */
    memcpy(h + 8, "WAVEfmt ", 8);
    put_le32(h + 16, 16);
    put_le16(h + 20, 1); /* PCM */
    put_le16(h + 22, 1); /* mono */
    put_le32(h + 24, (uint32_t)sample_rate);
    put_le32(h + 28, (uint32_t)sample_rate * 2);
    put_le16(h + 32, 2);
    put_le16(h + 34, 16);
    memcpy(h + 36, "data", 4);
    put_le32(h + 40, 0xFFFFFFFFu);
    if (fwrite(h, 1, sizeof h, fp) != sizeof h || fflush(fp) != 0)
        return kt_error_set(err, KT_EIO, "cannot write audio stream: %s", strerror(errno));
    return KT_OK;
}

kt_status kt_wav_stream_write(kt_wav_stream *s, const float *samples, size_t n, kt_error *err)
{
    unsigned char buf[4096];
    size_t i = 0;
    while (i < n) {
        size_t k = 0;
        for (; i < n && k + 2 <= sizeof buf; i++, k += 2) {
            put_le16(buf + k, (uint16_t)to_pcm16(samples[i]));
        }
        if (fwrite(buf, 1, k, s->fp) != k)
            return kt_error_set(err, KT_EIO, "cannot write audio stream: %s", strerror(errno));
    }
    if (fflush(s->fp) != 0)
        return kt_error_set(err, KT_EIO, "cannot write audio stream: %s", strerror(errno));
    s->n_written += n;
    return KT_OK;
}
