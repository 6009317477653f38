/* kt/g2p_zh.h - Mandarin text to Kokoro phonemes, as Kokoro-82M's pipeline reads it.
 *
 * Arabic numerals become Chinese numerals (dates: year digits one by one; fractions,
 * percentages, degrees Celsius, decimals, negatives), Chinese punctuation becomes
 * Kokoro's, runs of Han characters are cut into words by jieba's algorithm (its
 * dictionary, maximum-probability route, HMM for unknown words), each word gets the
 * pinyin of pypinyin's data (longest phrase first, else each character's first
 * reading), and each syllable becomes initial + final with the tone as an arrow after
 * the nucleus (1 →, 2 ↗, 3 ↓, 4 ↘, neutral none). Words are separated by spaces.
 *
 * Resources: jieba's dict.txt and finalseg/prob_*.py from the Debian package
 * python3-jieba (or the directory $KT_JIEBA_DIR), read once per process; the pinyin
 * tables are built in (libkt/text/g2p_zh_pinyin.inc, from pypinyin's data, MIT). */
#ifndef KT_G2P_ZH_H
#define KT_G2P_ZH_H

#include "kt/error.h"

/* Phonemizes UTF-8 text. *out gets the phonemes (malloc'd), each syllable followed by '|'
 * when mark_syllables (for comparisons by syllable); *dropped (malloc'd, or NULL
 * when nothing was) the characters that were not read: Latin letters (they would be
 * spelled as English), characters without pinyin. Errors: KT_EUNSUPPORTED with a
 * message naming the Debian package when jieba's data is missing; KT_ENOMEM. */
kt_status kt_g2p_zh(const char *text, int mark_syllables, char **out, char **dropped, kt_error *err);

#endif
