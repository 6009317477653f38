/* kt/kt.h - the public API of libkt: Kokoro-82M text to speech in C.
 *
 * One call turns text into 24 kHz mono audio:
 *
 *     kt_tts_params p = kt_tts_default_params();
 *     p.model_path = "kokoro-v1_0.pth";
 *     kt_tts *tts;
 *     if (kt_tts_open(&p, &tts, &err) == KT_OK)
 *         kt_tts_write_file(tts, "Hello world.", "af_heart", NULL, "hello.wav", &err);
 *     kt_tts_close(tts);
 *
 * A kt_tts holds the model (weights read-only after kt_tts_open) and is shared:
 * any number of threads may call kt_tts_synthesize on it at once, each call with
 * its own work buffers and thread pool. Only with single_caller set do calls wait
 * for each other (the model then frees weights during long chunks to save memory).
 *
 * Errors: every fallible function returns a kt_status (KT_OK == 0) and fills the
 * kt_error it is given (may be NULL) with the code and a one-line message. The
 * library never prints and never exits. Environment variables that change its
 * behaviour are listed in docs/environment.md. */
#ifndef KT_KT_H
#define KT_KT_H

#include <stddef.h>
#include <stdint.h>

#include "kt/error.h"
#include "kt/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Samples per second of all audio kt produces. */
#define KT_SAMPLE_RATE 24000

/* The library's version as "MAJOR.MINOR.PATCH" (of the library loaded, which may differ from
 * the KT_VERSION_* macros the caller was compiled with). */
KT_API const char *kt_version(void);

/* KT_VERSION_NUMBER of the library loaded. */
KT_API int kt_version_number(void);

/* ---- opening a model ------------------------------------------------------------------------ */

/* kt_tts_params.bf16: bfloat16 compute with the generator's Winograd convolutions in bfloat16 too. */
#define KT_BF16_WINOGRAD 2

typedef struct kt_tts kt_tts;

typedef struct {
    const char *model_path;  /* required: Kokoro weights (.pth, .safetensors or .npz; float32, bfloat16,
                                q8 or q4 as kt-convert writes them) */
    const char *config_path; /* the model's config.json; NULL: the built-in Kokoro v1.0 config */
    const char *voices_dir;  /* folder of voice packs for voice names; NULL: env KT_VOICES, else ./voices */
    int n_threads;           /* threads of each synthesis; 0: the online CPUs (at most 8) */
    int bf16;                /* 1: convolutions in bfloat16 where the CPU has AVX512_BF16, on AMX tiles where
                                it has them (faster, SNR ~40 dB); KT_BF16_WINOGRAD: also the generator's
                                kernel-7/11 convolutions by Winograd with bfloat16 products (faster again,
                                generator SNR ~27 dB; on AMX tiles the same as 1) */
    const char *isa;         /* highest instruction set of kt's kernels: "generic", "avx2" or "avx512";
                                NULL: the best the CPU has */
    size_t gen_lowmem;       /* generator buffers above this many floats use its low-memory schedule;
                                0: automatic */
    int single_caller;       /* 1: one synthesis at a time (concurrent calls wait for each other), and a long
                                chunk frees the weights it has finished with (lower peak memory; they are
                                bound again for the next chunk). 0: weights stay read-only, calls run at once */
    int keep_blas_threads;   /* 0: synthesis sets OpenBLAS to one thread, process-wide (kt threads the
                                products itself: the output does not depend on n_threads); 1: leave it */
    int share_threads;       /* 1 (not with single_caller): concurrent calls share n_threads CPUs: each chunk
                                runs on the CPUs no other call's chunk holds when it starts, at least one (a
                                lone call gets them all, calls under load one each). 0: every call has
                                n_threads of its own. The output bytes are the same either way */
} kt_tts_params;

/* Defaults: every field 0 / NULL (model_path must still be set). */
KT_API kt_tts_params kt_tts_default_params(void);

/* Loads the config and the weights and checks that they match.
 * Errors: KT_EINVAL for a NULL params or model_path, or an unknown isa; the errors of reading the
 * config or the weights (KT_EIO, KT_EFORMAT, KT_ENOTFOUND "not a Kokoro checkpoint: missing tensor
 * NAME", ...), the message prefixed by the file's path; KT_ENOMEM. On error *out is NULL. */
KT_API kt_status kt_tts_open(const kt_tts_params *p, kt_tts **out, kt_error *err);

/* Frees the model. No synthesis may be running on it. NULL is allowed. */
KT_API void kt_tts_close(kt_tts *tts);

/* ---- synthesis ------------------------------------------------------------------------------ */

/* One synthesized chunk (long input is split at punctuation into chunks of at most 510 phonemes). A
 * chunk the model would make longer than KT_TTS_CHUNK_SECONDS_MAX of audio is synthesized in parts,
 * cut at the space nearest the middle of its frames (at the middle symbol when it has none), each
 * part an utterance of its own, and delivered as one chunk (the space's frames are the pause between
 * the parts): the memory a synthesis takes stays bounded however slow the speed or long the words. */
#define KT_TTS_CHUNK_SECONDS_MAX 45.0

typedef struct {
    size_t index, count;      /* this chunk's number (from 0) and the number of chunks */
    const char *phonemes;     /* the chunk's phonemes (UTF-8) */
    const float *samples;     /* n_samples samples at KT_SAMPLE_RATE, valid during the callback */
    size_t n_samples;
    size_t offset;            /* samples of the chunks before this one */
    const int *token_frames;  /* frames per token; the first and last are the boundary tokens */
    int n_tokens;             /* code points of phonemes + 2 */
    double samples_per_frame; /* the model's samples / the sum of token_frames */
    double seconds;           /* the time this chunk took to synthesize */
    size_t trimmed;           /* samples of the model's audio cut before samples[0] (silence control):
                                 token frame f starts at offset - trimmed + f * samples_per_frame */
    int threads;              /* the threads its synthesis ran on (kt_tts_params.share_threads) */
} kt_tts_chunk;

/* A timed unit of the audio: for now one per phoneme symbol. */
typedef struct {
    const char *text;  /* the unit (UTF-8, NUL-terminated, valid during the callback) */
    double start, end; /* seconds from the start of the whole audio */
} kt_tts_timing;

/* A word of the input and when it is spoken (docs/timings.md). Words are what white space
 * separates in the text, with the punctuation attached to them; in Chinese and Japanese, the
 * characters G2P read as one word. Times come from the model's own durations (600 samples of
 * 24 kHz audio per frame), on the time line of the whole audio: pauses, gaps and earlier chunks
 * included. */
typedef struct {
    const char *text;            /* the word as written (UTF-8, valid during the callback) */
    size_t byte_start, byte_end; /* its bytes [start, end) in the text given to kt_tts_synthesize
                                    (for SSML: in the markup; a word markup rewrote, e.g. <sub>,
                                    gets the bytes of its whole element) */
    size_t char_start, char_end; /* the same in code points */
    double start, end;           /* seconds; start == end when the word was not spoken (e.g. a
                                    script the language cannot read) */
    size_t chunk;                /* the chunk whose audio holds the word's end */
} kt_tts_word;

/* Callbacks run on the thread that called kt_tts_synthesize, in chunk order. They return 0 to go
 * on; anything else stops the synthesis with KT_ECANCELED. */
typedef int (*kt_tts_audio_fn)(void *user, const kt_tts_chunk *chunk);
typedef int (*kt_tts_timing_fn)(void *user, const kt_tts_timing *units, size_t n);
typedef int (*kt_tts_words_fn)(void *user, const kt_tts_word *words, size_t n);
typedef int (*kt_tts_progress_fn)(void *user, size_t chunks_done, size_t chunks_total);
typedef void (*kt_tts_warning_fn)(void *user, const char *message);

/* The audio encodings of kt_tts_write_file (docs/audio.md). */
typedef enum {
    KT_TTS_FORMAT_AUTO = 0, /* from the file's extension; "-" streams WAV */
    KT_TTS_FORMAT_WAV,      /* WAV, 16-bit PCM (.wav) */
    KT_TTS_FORMAT_WAV_F32,  /* WAV, 32-bit float */
    KT_TTS_FORMAT_FLAC,     /* FLAC, 16-bit (.flac) */
    KT_TTS_FORMAT_VORBIS,   /* Ogg Vorbis (.ogg, .oga) */
    KT_TTS_FORMAT_OPUS,     /* Ogg Opus (.opus): 8000, 12000, 16000, 24000 or 48000 Hz */
    KT_TTS_FORMAT_MP3,      /* MP3 (.mp3): 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000 Hz */
    KT_TTS_FORMAT_PCM,      /* raw signed 16-bit little-endian (.pcm, .raw) */
    KT_TTS_FORMAT_PCM_F32   /* raw 32-bit float little-endian (.f32) */
} kt_tts_format;

/* The output rates kt_tts_write_file takes (both included); 0 means KT_SAMPLE_RATE. */
#define KT_TTS_RATE_MIN 8000
#define KT_TTS_RATE_MAX 48000

/* How the text is read (docs/markup.md). */
typedef enum {
    KT_TTS_MARKUP_AUTO = 0, /* SSML when it starts with <speak>, else plain text where [pause:0.5s] is a pause */
    KT_TTS_MARKUP_SSML,     /* always SSML (input without <speak> read as if wrapped in one) */
    KT_TTS_MARKUP_NONE      /* the text as it is */
} kt_tts_markup;

/* Silence control (kt_tts_synth_params.gaps): at the boundaries it names, the model's own silence
 * at the end of one chunk and the start of the next is cut (at the edges of their first and last
 * spoken phonemes, with 5 ms fades) and exactly the gap asked is put between them. Sentences
 * then each get a chunk of their own. A pause of the markup is put the same way. */
#define KT_TTS_GAP_SENTENCE 1  /* after each sentence: sentence_gap seconds */
#define KT_TTS_GAP_PARAGRAPH 2 /* after each paragraph (a blank line, SSML <p>): paragraph_gap seconds */
#define KT_TTS_GAP_MAX 60.0    /* the longest gap accepted */

/* The speaking rates accepted (both included). */
#define KT_TTS_SPEED_MIN 0.1 /* doubles, so that a parsed 0.1 is in range */
#define KT_TTS_SPEED_MAX 10.0

typedef struct {
    int phonemes;       /* 1: the text is Kokoro phonemes (no G2P; every symbol must be in the vocabulary) */
    const char *lang;   /* G2P language (en-us, en-gb, es, fr, hi, it, pt-br, ja, zh, or another espeak-ng
                           language); NULL: from the voice name's first letter (a en-us, b en-gb, ...) */
    float speed;        /* speaking rate, KT_TTS_SPEED_MIN..KT_TTS_SPEED_MAX; 0 means 1.0 */
    uint32_t seed;      /* seed of the source noise: same input and seed give the same samples */
    int first_chunk;    /* > 0: the first chunk is cut at a word boundary after at most this many phonemes,
                           so the first audio comes sooner (0..510) */
    const char *lexicon; /* English: a file of 'word<TAB>phonemes' lines read over the built-in lexicon
                            (NULL: none) */
    kt_tts_audio_fn on_audio;       /* each chunk's audio, in order */
    kt_tts_timing_fn on_timing;     /* each chunk's timed units, before its audio */
    kt_tts_progress_fn on_progress; /* before each chunk (done = chunks finished) and at the end */
    kt_tts_warning_fn on_warning;   /* e.g. symbols the model cannot speak, dropped from the text */
    void *user;                     /* passed to the callbacks */
    int markup;         /* kt_tts_markup; ignored for phonemes. Pauses come to on_audio as silent chunks
                           (n_tokens 0, phonemes ""); <voice name> spans use that voice, <prosody rate>
                           and <emphasis> multiply speed */
    int format;         /* kt_tts_write_file: kt_tts_format */
    int rate;           /* kt_tts_write_file: output rate, KT_TTS_RATE_MIN..KT_TTS_RATE_MAX (resampled);
                           0: KT_SAMPLE_RATE */
    kt_tts_words_fn on_words; /* each chunk's words (those whose end it holds), before its audio */
    int gaps;                 /* KT_TTS_GAP_SENTENCE | KT_TTS_GAP_PARAGRAPH; 0: the model's own pauses */
    double sentence_gap;      /* seconds, 0..KT_TTS_GAP_MAX (with KT_TTS_GAP_SENTENCE) */
    double paragraph_gap;     /* seconds, 0..KT_TTS_GAP_MAX (with KT_TTS_GAP_PARAGRAPH) */
    const char *srt_path;     /* kt_tts_write_file: subtitles as SubRip (NULL: none) */
    const char *vtt_path;     /* kt_tts_write_file: subtitles as WebVTT (NULL: none) */
} kt_tts_synth_params;

/* Defaults: every field 0 / NULL (speed 1.0, seed 0, no callbacks). */
KT_API kt_tts_synth_params kt_tts_default_synth_params(void);

/* What a synthesis did; times in seconds. */
typedef struct {
    size_t samples, chunks, phonemes;
    const char *lang;             /* the G2P language (p->lang, else from the voice), NULL for phonemes without one */
    double load_seconds;          /* kt_tts_open's loading of the config and the weights */
    double voice_seconds;         /* loading and blending the voice */
    double first_audio_seconds;   /* from the start of synthesis to the first chunk's samples */
    double synthesis_seconds;     /* the whole synthesis (after G2P and the voice) */
    double synthesis_cpu_seconds; /* process CPU time during it, all threads */
    size_t output_samples;        /* kt_tts_write_file: samples written at output_rate */
    int output_rate;              /* kt_tts_write_file: the file's rate */
    const char *format;           /* kt_tts_write_file: the encoding's name ("wav", "flac", ...) */
} kt_tts_stats;

/* Turns text into audio delivered through p->on_audio. voice: a voice name looked up in
 * voices_dir (af_heart), a voice file, or a blend expression ('af_heart:0.6 am_adam:0.4');
 * NULL means af_heart. p may be NULL for the defaults; stats may be NULL.
 * Errors: KT_EINVAL for empty text ("empty text"), text without words ("no pronounceable
 * words"), a phoneme outside the vocabulary, an unknown language, a voice that does not fit
 * the model, or a NULL tts; KT_ENOTFOUND for an unknown voice; KT_ECANCELED when a callback stopped it;
 * KT_ENOMEM. Messages name what they are about ("phonemes: ...", "VOICE: ..."). */
KT_API kt_status kt_tts_synthesize(kt_tts *tts, const char *text, const char *voice,
                                   const kt_tts_synth_params *p, kt_tts_stats *stats, kt_error *err);

/* kt_tts_synthesize into a file in p->format (KT_TTS_FORMAT_AUTO: from the extension: .wav, .flac,
 * .ogg, .opus, .mp3, .pcm, .raw, .f32) at p->rate, written to a temp file and renamed into place when
 * complete; "-" streams to stdout chunk by chunk (wav, wav-f32, pcm, pcm-f32, opus or mp3; AUTO: WAV).
 * p's callbacks are called too. durations_path (may be NULL) receives each chunk's phonemes and
 * token frames, each phoneme's start and end, and the words (kt_tts_word) as JSON (times at
 * KT_SAMPLE_RATE); p->srt_path and p->vtt_path receive subtitles (kt_tts_subtitles). Errors: those of
 * kt_tts_synthesize; KT_EINVAL for an unknown extension or format, a rate the format does not take,
 * or a format that cannot stream; KT_EIO when the folder is missing or not writable (checked before
 * synthesizing) or writing fails. */
KT_API kt_status kt_tts_write_file(kt_tts *tts, const char *text, const char *voice,
                                   const kt_tts_synth_params *p, const char *path, const char *durations_path,
                                   kt_tts_stats *stats, kt_error *err);

/* The checks kt_tts_write_file makes before synthesizing, for a caller that wants them before
 * opening a model: KT_EINVAL for an unknown extension or format, a rate the format does not take
 * (p->format, p->rate; p may be NULL) or a format that cannot stream to "-"; KT_EIO when the folder
 * of path or durations_path (may be NULL) is missing or not writable. Messages name the file. */
KT_API kt_status kt_tts_output_check(const kt_tts_synth_params *p, const char *path, const char *durations_path,
                                     kt_error *err);

/* The phonemes kt_tts_synthesize would speak, one chunk per line (malloc'd, the caller frees it
 * with kt_free), a markup pause as a line "[pause:Ns]", without loading a model: config_path NULL
 * means the built-in config. Only p->phonemes, p->lang, p->first_chunk, p->lexicon and p->markup are used; voice picks the language when p->lang is NULL.
 * Errors: those of kt_tts_synthesize about text and phonemes; those of reading the config. */
KT_API kt_status kt_tts_phonemes(const char *config_path, const char *text, const char *voice,
                                 const kt_tts_synth_params *p, char **out, kt_error *err);

/* ---- markup ----------------------------------------------------------------------------------- */

/* What the markup parser makes of an input (docs/markup.md): the pieces kt_tts_synthesize reads
 * in order. */
typedef enum {
    KT_TTS_SEG_TEXT = 1,  /* text: words to speak */
    KT_TTS_SEG_PHONEMES,  /* text: phonemes given by <phoneme ph>, spoken instead of G2P's */
    KT_TTS_SEG_PAUSE,     /* seconds of silence */
    KT_TTS_SEG_SENTENCE,  /* a sentence ends here (<s>) */
    KT_TTS_SEG_PARAGRAPH  /* a paragraph ends here (<p>, a blank line) */
} kt_tts_segment_kind;

typedef struct {
    int kind;          /* kt_tts_segment_kind */
    const char *text;  /* TEXT, PHONEMES: UTF-8; else NULL */
    size_t start, end; /* the bytes of the input it comes from: [start, end) */
    double seconds;    /* PAUSE: its length */
    double rate;       /* TEXT, PHONEMES: the factor on the speed (<prosody rate>, <emphasis>) */
    const char *voice; /* TEXT, PHONEMES: the <voice name> in effect, or NULL */
    int emphasis;      /* TEXT, PHONEMES: 0 none, 1 moderate, 2 strong, -1 reduced */
} kt_tts_segment;

typedef struct kt_tts_segments kt_tts_segments;

/* Parses len bytes of input as kt_tts_synthesize would with markup (kt_tts_markup): SSML with
 * libexpat, or plain text with [pause:...] and blank lines. Errors: KT_EFORMAT for malformed
 * SSML and KT_EINVAL for a bad value, both "line L, column C: ..."; KT_ELIMIT past a limit (depth,
 * pauses, size); KT_ENOMEM. On error *out is NULL. */
KT_API kt_status kt_tts_markup_parse(const char *input, size_t len, int markup, kt_tts_segments **out,
                                     kt_error *err);

/* The number of segments, and segment i (0 <= i < count; valid until kt_tts_segments_free). */
KT_API size_t kt_tts_segments_count(const kt_tts_segments *s);
KT_API const kt_tts_segment *kt_tts_segments_get(const kt_tts_segments *s, size_t i);

/* Frees the segments (NULL is allowed). */
KT_API void kt_tts_segments_free(kt_tts_segments *s);

/* ---- subtitles -------------------------------------------------------------------------------- */

/* Subtitle formats of kt_tts_subtitles. */
typedef enum {
    KT_TTS_SUBTITLES_SRT = 1, /* SubRip: numbered cues, 00:00:01,500 times */
    KT_TTS_SUBTITLES_VTT      /* WebVTT: a WEBVTT header, 00:00:01.500 times */
} kt_tts_subtitles_format;

/* Subtitle cues of at most two lines of about 42 characters from words in the order
 * kt_tts_synthesize gave them: a cue ends at a sentence end when it can, else at a clause end
 * (, ; : —), else where the words no longer fit; a cue lasts from its first word's start to its
 * last word's end, the last cue to audio_seconds. *out receives the text (malloc'd, free with
 * kt_free). Errors: KT_EINVAL for an unknown format or a NULL words with n > 0; KT_ENOMEM. */
KT_API kt_status kt_tts_subtitles(const kt_tts_word *words, size_t n, double audio_seconds, int format, char **out,
                                  kt_error *err);

/* Frees memory kt returned (NULL is allowed). */
KT_API void kt_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
