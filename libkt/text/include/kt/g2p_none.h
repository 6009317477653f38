/* kt/g2p_none.h - text to phonemes in a build without espeak-ng (make ESPEAK=0). */
#ifndef KT_G2P_NONE_H
#define KT_G2P_NONE_H

#include "kt/error.h"

/* The error for text that a build without espeak-ng cannot turn into phonemes: there is no
 * lexicon yet, so every word is one it cannot convert. The one-line message names the words
 * (the first ones, when there are many) and points to phoneme input. Always an error:
 * KT_EUNSUPPORTED, or KT_EINVAL when text holds no word at all. */
kt_status kt_g2p_unconvertible(const char *text, const char *lang, kt_error *err);

#endif
