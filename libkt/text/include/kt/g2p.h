/* kt/g2p.h - text to Kokoro phonemes (libespeak-ng), chunking, phonemes to ids.
 *
 * English (en-us, en-gb, en-*) goes through misaki's lexicon and rules (kt/en.h); only
 * the words the lexicon cannot read, and all other languages, go to libespeak-ng.
 * Text is phonemized by libespeak-ng (IPA, stress marks, tie character '^', as
 * phonemizer's EspeakBackend does with tie='^', with_stress, preserve_punctuation
 * and language_switch='remove-flags'), then mapped to Kokoro's alphabet the way
 * upstream's espeak fallback does:
 *  - English (en-us; en-gb and other en-* variants use the British rules): the
 *    fallback replacement list, longest key first,
 *    then (\S)U+0329 -> ᵊ\1, the British or American specifics, then o->ɔ,
 *    ɾ->T, ʔ->t, and ^ deleted.
 *  - Other languages: a^ɪ->I a^ʊ->W d^z->ʣ d^ʒ->ʤ e^ɪ->A o^ʊ->O ə^ʊ->Q s^s->S
 *    t^s->ʦ t^ʃ->ʧ ɔ^ɪ->Y, then ^ and - deleted.
 * Punctuation (;:,.!?¡¿—…"«»“”(){}[]) is kept: the text between marks is
 * phonemized alone and the marks are put back, whitespace runs inside a mark
 * collapsed to one space; espeak's clauses within a segment are joined by a space.
 * Symbols not in the vocab are dropped and reported to the caller.
 *
 * Thread safety: libespeak-ng keeps process-global state (the current voice,
 * its buffers). kt serializes every call into it with one process-wide mutex,
 * the only mutable static state in libkt; other kt functions are unaffected.
 * libespeak-ng itself may print to stderr when its data files are broken. */
#ifndef KT_G2P_H
#define KT_G2P_H

#include <stddef.h>
#include <stdint.h>

#include "kt/config.h"
#include "kt/error.h"

/* Kokoro's per-call phoneme limit (max_position_embeddings - 2). */
#define KT_G2P_MAX_PHONEMES 510

/* The default language of a Kokoro voice name from its first letter (a en-us,
 * b en-gb, e es, f fr, h hi, i it, j ja, p pt-br, z zh); NULL when unknown.
 * Only the file name part of a path is looked at ("voices/af_heart.pt" -> en-us). */
const char *kt_g2p_lang_for_voice(const char *voice_name);

/* The espeak-ng voice used for a kt language code (en-us, en-gb, es, fr,
 * fr-fr, hi, it, pt-br, ja, zh, cmn); other codes are passed to espeak-ng as
 * they are. Returns NULL for NULL or an empty code. */
const char *kt_g2p_espeak_voice(const char *lang);

/* Phonemizes one text (any length, newlines treated as spaces) in lang and
 * maps it to Kokoro's alphabet. Letters of a script the language does not use
 * (e.g. Cyrillic under fr; each language keeps Latin plus its own script) are
 * replaced by spaces before espeak-ng sees them, since espeak-ng's mid-text
 * language switch is unsafe. With cfg, symbols outside cfg's vocab are
 * dropped; both kinds are reported: *dropped (if dropped != NULL) then receives a malloc'd UTF-8 string of
 * the distinct dropped symbols in first-seen order, or NULL when none was
 * dropped. *out receives the malloc'd UTF-8 phonemes (single spaces, trimmed).
 * Errors: KT_EINVAL for invalid UTF-8 or an unknown language; KT_EUNSUPPORTED
 * when espeak-ng cannot initialize; KT_ENOMEM. */
kt_status kt_g2p_phonemize(const char *text, const char *lang, const kt_config *cfg, char **out, char **dropped,
                           kt_error *err);

/* kt_g2p_phonemize for English (en-us, en-gb and other en-*) goes through misaki's
 * lexicon and rules (kt/en.h), espeak-ng reading only the words the lexicon does not
 * know; when the lexicon files are not found, espeak-ng reads everything. */
struct kt_en_lexicon;

/* kt_g2p_phonemize with a caller's English lexicon (e.g. with user entries; NULL opens
 * the built-in one per call). Other languages ignore lex. */
kt_status kt_g2p_phonemize_lex(const char *text, const char *lang, const struct kt_en_lexicon *lex,
                               const kt_config *cfg, char **out, char **dropped, kt_error *err);

/* One model call's worth of phonemes. */
typedef struct {
    char *phonemes;   /* UTF-8, owned */
    size_t n_symbols; /* code points in phonemes (<= max) */
} kt_chunk;

typedef struct {
    kt_chunk *items;
    size_t count;
} kt_chunk_list;

/* Frees the chunks and zeroes the list; safe on a zeroed list. */
void kt_chunk_list_free(kt_chunk_list *l);

/* Appends a chunk of the n bytes of UTF-8 phonemes at s (a copy). Errors: KT_EINVAL for
 * invalid UTF-8; KT_ENOMEM. */
kt_status kt_chunk_list_push(kt_chunk_list *l, const char *s, size_t n, kt_error *err);

/* Splits a phoneme string into chunks of at most max code points: first at
 * newlines, then (within a line, words being space-separated) by upstream's
 * waterfall rule: when the next word would overflow, cut after the last word
 * ending in one of !.?… (else :; else ,—), also taking a following ) ” " word,
 * if what remains fits; otherwise cut before the new word. A single word
 * longer than max is split hard. Nothing is dropped except the spaces at cuts.
 * Errors: KT_EINVAL for invalid UTF-8 or max < 1; KT_ENOMEM. */
kt_status kt_phonemes_chunk(const char *phonemes, size_t max, kt_chunk_list *out, kt_error *err);

/* Low latency when streaming: when the first chunk has more than max code points, splits it
 * in two at a word boundary, the first part holding at most max (cut after the last word
 * ending in !.?… else :; else ,— that keeps it within max, else after the last word that
 * fits; a first word longer than max becomes the first part alone). Nothing is dropped but
 * the spaces at the cut; the other chunks are unchanged. Errors: KT_EINVAL for max < 1;
 * KT_ENOMEM (the list is then unchanged). */
kt_status kt_chunk_list_split_first(kt_chunk_list *l, size_t max, kt_error *err);

/* Text to chunks: the text is split on newlines, each line phonemized
 * (kt_g2p_phonemize with cfg), then chunked with KT_G2P_MAX_PHONEMES.
 * Errors: those of kt_g2p_phonemize; KT_EINVAL "empty text" when the text is
 * only whitespace; KT_EINVAL "no pronounceable words" when the phonemes hold
 * nothing but punctuation and spaces. */
kt_status kt_g2p_text_chunks(const char *text, const char *lang, const kt_config *cfg, kt_chunk_list *out,
                             char **dropped, kt_error *err);

/* kt_g2p_text_chunks with a caller's English lexicon (NULL: the built-in one, opened per line). */
kt_status kt_g2p_text_chunks_lex(const char *text, const char *lang, const struct kt_en_lexicon *lex,
                                 const kt_config *cfg, kt_chunk_list *out, char **dropped, kt_error *err);

/* 1 if the code point is punctuation or space in Kokoro's alphabet, else 0. */
int kt_phoneme_is_punct(uint32_t cp);

/* 1 if phonemes hold a symbol other than punctuation and spaces (valid UTF-8 prefix scanned), else 0. */
int kt_phonemes_has_words(const char *phonemes);

/* The code point of UTF-8 text that ends at byte e (e > 0), *start set to where it begins
 * (no validation: for text already checked). */
uint32_t kt_utf8_before(const char *s, size_t e, size_t *start);

/* Number of code points in a UTF-8 string, or (size_t)-1 when invalid. */
size_t kt_utf8_count(const char *s);

/* Converts phonemes to token ids: one vocab id per code point (*n = code points), without
 * the boundary token 0 that kt_model_synthesize adds at both ends; the caller frees *ids. Errors: KT_EINVAL naming the first symbol that is not in
 * the vocab ("phoneme 'X' (U+XXXX) at position N is not in the vocabulary")
 * or invalid UTF-8; KT_ENOMEM. */
kt_status kt_phonemes_to_ids(const kt_config *cfg, const char *phonemes, int **ids, size_t *n, kt_error *err);

/* The voice pack row upstream uses for a phoneme string: code points - 1
 * (clamped to 0..rows-1). */
size_t kt_phonemes_voice_row(const char *phonemes, size_t rows);

/* The same for a string of n code points (0 counts as 1). */
size_t kt_voice_row(size_t n, size_t rows);

#endif
