/* tts_impl.h - private to libkt/tts/: what the file writer shares with the pipeline. */
#ifndef KT_TTS_IMPL_H
#define KT_TTS_IMPL_H

#include "kt/kt.h"

/* The longest timed unit kept, in bytes (a phoneme symbol is one code point: up to 4). */
#define KT_TTS_UNIT_BYTES 8

/* The timed units of one chunk: one per phoneme symbol (at most n_tokens - 2), each with its
 * [start, end) in seconds from the start of the audio; texts point into sym. Returns the count. */
size_t kt_tts_chunk_units(const kt_tts_chunk *c, kt_tts_timing *units, char (*sym)[KT_TTS_UNIT_BYTES]);

/* A word as a JSON object: text, start, end (seconds), char_start, char_end, byte_start, byte_end. */
struct cJSON;
struct cJSON *kt_tts_word_json(const kt_tts_word *w);

#endif
