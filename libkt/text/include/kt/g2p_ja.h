/* kt/g2p_ja.h - Japanese text to Kokoro phonemes, as Kokoro-82M's pipeline reads it.
 *
 * The text is normalized (full-width ASCII to ASCII, 〜 before a number to から), numbers are
 * read in kana, MeCab with UniDic gives each word's kana reading (its pronunciation field,
 * else its kana field), words that together form an entry of misaki's word list are joined,
 * and each word's kana becomes phonemes by misaki's kana table (digraphs, sokuon ʔ, long
 * vowel ː, moraic nasal m/ŋ/ɲ/n/ɴ by the next kana); words are separated by spaces.
 *
 * Resources: MeCab (libmecab2) and the UniDic dictionary of the Debian package unidic-mecab
 * (/var/lib/mecab/dic/unidic, or the directory $KT_MECAB_DICDIR); the kana table and word
 * list are built in (libkt/text/g2p_ja_kana.inc, from misaki, Apache-2.0). */
#ifndef KT_G2P_JA_H
#define KT_G2P_JA_H

#include "kt/error.h"

/* Phonemizes UTF-8 text. *out gets the phonemes (malloc'd); *dropped (malloc'd, or NULL when
 * nothing was) the Latin letters and digits that were not read (they would be spelled as
 * English). Errors: KT_EUNSUPPORTED with a message naming the Debian package when the
 * dictionary is missing; KT_ENOMEM. */
kt_status kt_g2p_ja(const char *text, char **out, char **dropped, kt_error *err);

#endif
