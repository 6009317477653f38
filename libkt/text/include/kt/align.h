/* kt/align.h - which phonemes belong to which written word: the words of a text matched to the
 * phoneme words G2P made of it, for word timings and subtitles.
 *
 * G2P does not keep the link between what it read and what it wrote (a number becomes several
 * words, a Chinese word several characters, a word of another script nothing), so the link is
 * found afterwards, as sentence aligners do: both sides are cut into units, each unit gets a
 * weight (phoneme symbols on one side, an estimate from its letters on the other), and a dynamic
 * programme finds the monotonic grouping of least cost. One written unit may take up to
 * KT_ALIGN_MAX_GROUP phoneme words and one phoneme word up to KT_ALIGN_MAX_GROUP written units;
 * a written unit may take none (it was dropped) and a phoneme word may have no written unit (it
 * joins the word before). Where both sides have as many units of similar length, the result is
 * one to one.
 *
 * Written units: runs of characters between white space; inside a run each Han, kana or Hangul
 * character is a unit of its own (with the punctuation that follows it). A run of punctuation
 * only joins the unit before it (or, at the start, the one after). */
#ifndef KT_ALIGN_H
#define KT_ALIGN_H

#include <stddef.h>

#include "kt/error.h"

#define KT_ALIGN_MAX_GROUP 8

/* A phoneme word of a phoneme string: a space-separated group holding a symbol that is not
 * punctuation; [cp_start, cp_end) are the code points from its first to past its last such
 * symbol, weight the count of those symbols other than stress marks, syllables its groups of
 * vowels (a tone arrow ends one), tones its tone arrows. */
typedef struct {
    size_t cp_start, cp_end;
    double weight;
    int syllables, tones;
} kt_phoneme_word;

/* Appends the phoneme words of phonemes (valid UTF-8) to *words (realloc'd; *n counts them).
 * Errors: KT_EINVAL for invalid UTF-8; KT_ENOMEM. */
kt_status kt_phoneme_words(const char *phonemes, kt_phoneme_word **words, size_t *n, kt_error *err);

/* A written word: bytes [byte_start, byte_end) of the text, spoken as phoneme words
 * [pw_first, pw_first + pw_count) (pw_count 0: it was not spoken). */
typedef struct {
    size_t byte_start, byte_end;
    size_t pw_first, pw_count;
} kt_align_word;

/* Aligns the text's written units with n_pw phoneme words (in order). Where the phonemes carry
 * tone arrows (Mandarin), a Han character counts as one syllable.
 * phonemes: 1 when the text is itself phonemes (its units are then weighed by their symbols).
 * *out receives the written words in order (malloc'd; NULL and 0 when the text has none);
 * every phoneme word belongs to exactly one of them when there is at least one. Long texts
 * (more than about 100,000 units on either side) are matched in proportion to the weights.
 * Errors: KT_EINVAL for invalid UTF-8; KT_ENOMEM. */
kt_status kt_align_words(const char *text, size_t len, const kt_phoneme_word *pw, size_t n_pw, int phonemes,
                         kt_align_word **out, size_t *n_out, kt_error *err);

#endif
