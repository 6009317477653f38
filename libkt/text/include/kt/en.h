/* kt/en.h - English (en-us, en-gb) text to Kokoro phonemes the way Kokoro-82M was trained.
 *
 * The lexicon is misaki's gold and silver dictionaries per dialect (data/en_us.ktlex,
 * data/en_gb.ktlex, built by tools/en_lexicon_build.py), mapped read-only. Words are
 * looked up with misaki's case handling, morphology (-s, -es, -ies, 's, -ed, -ing), stress
 * and context rules (the, a, an, to, in, I, used); numbers, currency amounts, years,
 * ordinals, decimals and digit strings are spelled out; words the lexicon cannot answer
 * go to a caller-supplied fallback (kt_g2p_phonemize uses espeak-ng). See docs/english.md.
 *
 * A lexicon is immutable once opened except through kt_en_lexicon_add (user entries), so
 * one lexicon may serve several threads when nothing is added concurrently. */
#ifndef KT_EN_H
#define KT_EN_H

#include <stddef.h>

#include "kt/error.h"

typedef struct kt_en_lexicon kt_en_lexicon;

/* Maps a .ktlex file. british selects the dialect rules. Errors: KT_EIO when the file
 * cannot be opened or mapped; KT_EFORMAT when it is not a lexicon; KT_ENOMEM. */
kt_status kt_en_lexicon_open(const char *path, int british, kt_en_lexicon **out, kt_error *err);

/* Opens the built-in lexicon of lang ("en-us" or "en-gb"; other en-* use en-gb) from
 * $KT_DATA_DIR when it is set (and only there), else from the first of the installed data
 * directory and the source tree's data/ that has it. Errors: those of kt_en_lexicon_open;
 * KT_EINVAL for another language. */
kt_status kt_en_lexicon_open_lang(const char *lang, kt_en_lexicon **out, kt_error *err);

void kt_en_lexicon_close(kt_en_lexicon *lex);

/* Adds a user entry (word -> phonemes) that wins over the built-in lexicon. */
kt_status kt_en_lexicon_add(kt_en_lexicon *lex, const char *word, const char *phonemes, kt_error *err);

/* Adds the entries of a TSV file (word TAB phonemes per line; blank lines and lines
 * starting with '#' are skipped). Errors: KT_EIO; KT_EINVAL naming the bad line. */
kt_status kt_en_lexicon_load_tsv(kt_en_lexicon *lex, const char *path, kt_error *err);

/* The phonemes of one word as misaki's lexicon answers it without context (NULL when
 * unknown); malloc'd. */
char *kt_en_word(const kt_en_lexicon *lex, const char *word);

/* Phonemes of an unknown word (malloc'd into *out, NULL when there are none); 0 on success. */
typedef int (*kt_en_fallback_fn)(void *ctx, const char *word, char **out);

/* Phonemizes one text (UTF-8, newlines taken as spaces). Inline markup
 * [word](/phonemes/) gives a word's phonemes directly. Punctuation ;:,.!?—…"“”() is
 * kept. *out receives the malloc'd phonemes. Errors: KT_EINVAL for invalid UTF-8;
 * KT_ENOMEM. */
kt_status kt_en_phonemize(const kt_en_lexicon *lex, const char *text, kt_en_fallback_fn fallback, void *fb_ctx,
                          char **out, kt_error *err);

#endif
