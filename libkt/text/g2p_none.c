/* g2p_none.c - what text input says in a build without espeak-ng (see g2p_none.h). */
#include "kt/g2p_none.h"

#include <stdio.h>
#include <string.h>

/* A word character: ASCII letters and digits, the apostrophe, and every byte of a non-ASCII
 * UTF-8 sequence (letters of other scripts). */
static int word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '\'' || c >= 0x80;
}

kt_status kt_g2p_unconvertible(const char *text, const char *lang, kt_error *err)
{
    char list[200];
    size_t k = 0, words = 0;
    int cut = 0;
    const char *p = text;
    list[0] = '\0';
    while (*p) {
        while (*p && !word_byte((unsigned char)*p))
            p++;
        const char *w = p;
        while (*p && word_byte((unsigned char)*p))
            p++;
        size_t n = (size_t)(p - w);
        if (!n)
            break;
        words++;
        if (cut)
            continue;
        if (k + n + 8 >= sizeof list) { /* room for ", ..." */
            cut = 1;
            continue;
        }
        k += (size_t)snprintf(list + k, sizeof list - k, "%s%.*s", k ? ", " : "", (int)n, w);
    }
    if (!words)
        return kt_error_set(err, KT_EINVAL, "text without words");
    return kt_error_set(err, KT_EUNSUPPORTED,
                        "cannot convert %zu word%s to phonemes: %s%s (this build has no espeak-ng and no %s "
                        "lexicon; give Kokoro phonemes with --phonemes)",
                        words, words == 1 ? "" : "s", list, cut ? " ..." : "", lang ? lang : "");
}
