/* kt/audio.h - writing mono float audio: whole files (libsndfile) and a WAV stream.
 *
 * kt_audio_write picks the container from the file name's extension (.wav:
 * 16-bit PCM WAV, .flac: 16-bit FLAC, .ogg/.oga: Ogg Vorbis), writes a temp
 * file beside the target and renames it into place only when complete.
 * Samples are clipped to [-1, 1] before conversion. The stream writer is for
 * pipes (`-o -`): a 16-bit PCM WAV header whose sizes say "unknown" (0xFFFFFFFF),
 * then samples appended as they come, never seeking. */
#ifndef KT_AUDIO_H
#define KT_AUDIO_H

#include <stddef.h>
#include <stdio.h>

#include "kt/error.h"

typedef enum {
    KT_AUDIO_UNKNOWN = 0,
    KT_AUDIO_WAV,
    KT_AUDIO_FLAC,
    KT_AUDIO_OGG
} kt_audio_format;

/* The format implied by path's extension (case-insensitive), or KT_AUDIO_UNKNOWN. */
kt_audio_format kt_audio_format_from_path(const char *path);

/* Writes n mono samples at sample_rate to path, atomically.
 * Errors: KT_EINVAL for an unknown extension ("unknown audio format: use .wav,
 * .flac or .ogg") or sample_rate <= 0; KT_EIO when the folder is missing or
 * unwritable or libsndfile fails (its message is included); KT_ENOMEM. */
kt_status kt_audio_write(const char *path, const float *samples, size_t n, int sample_rate, kt_error *err);

typedef struct {
    FILE *fp;
    size_t n_written; /* samples written so far */
} kt_wav_stream;

/* Writes the streaming WAV header (16-bit PCM mono, sizes 0xFFFFFFFF) to fp.
 * Errors: KT_EIO when the write fails (for example a closed pipe). */
kt_status kt_wav_stream_open(kt_wav_stream *s, FILE *fp, int sample_rate, kt_error *err);

/* Appends n samples (clipped, 16-bit) and flushes fp so a reader gets them now.
 * Errors: KT_EIO when the write fails. */
kt_status kt_wav_stream_write(kt_wav_stream *s, const float *samples, size_t n, kt_error *err);

#endif
