/* en_impl.h - shared internals of the English G2P (en_lexicon.c, en_g2p.c, en_numbers.c). */
#ifndef KT_EN_IMPL_H
#define KT_EN_IMPL_H

#include <stddef.h>

#include "kt/en.h"
#include "kt/strbuf.h"

/* Stress levels are misaki's times two: -4 strip, -2 demote, -1 demote (soft), 0, 1, 2, 4. */
#define EN_NO_STRESS 100

/* The raw value of word w[0..n) in the gold (incl. user entries) or silver dictionary,
 * with misaki's case variants; NULL when absent. */
const char *en_lex_gold(const kt_en_lexicon *lex, const char *w, size_t n);
const char *en_lex_silver(const kt_en_lexicon *lex, const char *w, size_t n);
int en_lex_british(const kt_en_lexicon *lex);

/* Appends the phonemes of a raw value for tag (a plain value ignores tag) to b and
 * returns 1; 0 when the tag is listed without phonemes, -1 when it is not listed. */
int en_val_pick(const char *val, const char *tag, kt_strbuf *b);

/* Number words: cardinal/ordinal/year of a decimal digit string, without "and",
 * words separated by single spaces, into b. */
void en_num_cardinal(const char *digits, size_t n, kt_strbuf *b);
void en_num_ordinal(const char *digits, size_t n, kt_strbuf *b);
void en_num_year(const char *digits, size_t n, kt_strbuf *b);

#endif
