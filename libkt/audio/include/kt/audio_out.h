/* kt/audio_out.h - a streaming audio writer: mono float samples in, any of eight encodings
 * out, at any rate from 8000 to 48000 Hz (resampled with libsoxr).
 *
 * Formats and the file extensions that select them (case-insensitive):
 *   KT_AOUT_WAV      "wav"      .wav          WAV, 16-bit PCM
 *   KT_AOUT_WAV_F32  "wav-f32"  (none)        WAV, 32-bit IEEE float
 *   KT_AOUT_FLAC     "flac"     .flac         FLAC, 16-bit
 *   KT_AOUT_VORBIS   "vorbis"   .ogg .oga     Ogg Vorbis (quality 0.6)
 *   KT_AOUT_OPUS     "opus"     .opus         Ogg Opus (8000, 12000, 16000, 24000, 48000 Hz only)
 *   KT_AOUT_MP3      "mp3"      .mp3          MPEG-1/2 Layer III (8000, 11025, 12000, 16000,
 *                                             22050, 24000, 32000, 44100, 48000 Hz only)
 *   KT_AOUT_PCM      "pcm"      .pcm .raw     raw signed 16-bit little-endian, no header
 *   KT_AOUT_PCM_F32  "pcm-f32"  .f32          raw 32-bit float little-endian, no header
 * Every encoding goes through libsndfile except the 44-byte header of a streamed WAV.
 *
 * Samples: 16-bit encodings clip to [-1, 1] (libsndfile's clipping conversion); the float
 * encodings clip to [-1, 1] too and write NaN as 0; the lossy encoders get the samples as
 * they are. When out_rate differs from in_rate the samples go through one libsoxr resampler
 * (high quality, one thread) fed chunk by chunk: the output is the same bytes whether the
 * input comes in one call or in many.
 *
 * Files are written to a temp file beside the target and renamed into place by
 * kt_audio_writer_close only when complete (see kt/io.h); on any failure nothing appears
 * under the target name. A writer opened on a file descriptor (for example stdout) streams:
 * it never seeks, writes each call's encoded bytes at once, and takes wav, wav-f32, pcm,
 * pcm-f32, opus and mp3 (a streamed WAV has a header whose sizes say "unknown", 0xFFFFFFFF;
 * a streamed MP3 has no gapless-playback tag). */
#ifndef KT_AUDIO_OUT_H
#define KT_AUDIO_OUT_H

#include <stddef.h>

#include "kt/error.h"

typedef enum {
    KT_AOUT_UNKNOWN = 0,
    KT_AOUT_WAV,
    KT_AOUT_WAV_F32,
    KT_AOUT_FLAC,
    KT_AOUT_VORBIS,
    KT_AOUT_OPUS,
    KT_AOUT_MP3,
    KT_AOUT_PCM,
    KT_AOUT_PCM_F32
} kt_audio_out_format;

#define KT_AOUT_MIN_RATE 8000
#define KT_AOUT_MAX_RATE 48000

typedef struct kt_audio_writer kt_audio_writer;

/* The format called name ("wav", "wav-f32", "flac", "vorbis", "opus", "mp3", "pcm", "pcm-f32";
 * case-insensitive; "ogg" is a synonym of "vorbis"), or KT_AOUT_UNKNOWN. */
kt_audio_out_format kt_audio_out_format_from_name(const char *name);

/* The format implied by the extension of path's last component, or KT_AOUT_UNKNOWN. */
kt_audio_out_format kt_audio_out_format_from_path(const char *path);

/* The canonical name of f ("wav", ...), or "unknown". */
const char *kt_audio_out_format_name(kt_audio_out_format f);

/* KT_OK when f can be written at rate Hz; else KT_EINVAL with a one-line message that lists
 * the rates f takes (8000..48000 for all, and the fixed sets of opus and mp3). */
kt_status kt_audio_out_check_rate(kt_audio_out_format f, int rate, kt_error *err);

/* Opens a writer of f at out_rate for samples arriving at in_rate, onto a temp file beside path.
 * in_rate: 1..384000; out_rate: see kt_audio_out_check_rate.
 * Errors: KT_EINVAL (unknown format, bad rate), KT_EIO (folder missing or unwritable,
 * libsndfile refused; its message is included), KT_ENOMEM. On error *out is NULL. */
kt_status kt_audio_writer_open(const char *path, kt_audio_out_format f, int in_rate, int out_rate,
                               kt_audio_writer **out, kt_error *err);

/* The same onto an open descriptor (not closed by the writer), streaming: see the top of this
 * file for the formats it takes (others: KT_EINVAL "cannot stream FORMAT: write a file"). */
kt_status kt_audio_writer_open_fd(int fd, kt_audio_out_format f, int in_rate, int out_rate,
                                  kt_audio_writer **out, kt_error *err);

/* Encodes n samples (n may be 0; x may be NULL then). Errors: KT_EIO (a failed write, for
 * example a closed pipe, or an encoder error), KT_ENOMEM. After an error only
 * kt_audio_writer_abort is useful. */
kt_status kt_audio_writer_write(kt_audio_writer *w, const float *x, size_t n, kt_error *err);

/* Flushes the resampler and the encoder, finishes the file (renames it into place) and frees w.
 * frames (may be NULL) gets the number of samples written at the output rate.
 * On error the temp file is removed; w is freed either way. w may be NULL (KT_OK). */
kt_status kt_audio_writer_close(kt_audio_writer *w, size_t *frames, kt_error *err);

/* Drops everything: removes the temp file, frees w. w may be NULL. */
void kt_audio_writer_abort(kt_audio_writer *w);

/* Samples written so far at the output rate (the resampler may still hold some). */
size_t kt_audio_writer_frames(const kt_audio_writer *w);

#endif
