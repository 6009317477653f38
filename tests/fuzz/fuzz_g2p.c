/* fuzz_g2p.c - libFuzzer target: text -> phonemes through libespeak-ng and the Kokoro mapping,
 * then phonemes -> ids. The first byte picks the language. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kt/config.h"
#include "kt/g2p.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *langs[] = {"en-us", "en-gb", "fr", "es", "ja", "zh"};
    if (size < 1 || size > 4096)
        return 0;
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    kt_config c;
    kt_error err;
    if (kt_config_default(&c, &err) != KT_OK)
        __builtin_trap();
    char *ph = NULL, *dropped = NULL;
    if (kt_g2p_phonemize(text, langs[data[0] % 6], &c, &ph, &dropped, &err) == KT_OK) {
        int *ids = NULL;
        size_t n = 0;
        if (kt_utf8_count(ph) == (size_t)-1)
            __builtin_trap(); /* the output must be valid UTF-8 */
        if (kt_phonemes_to_ids(&c, ph, &ids, &n, &err) != KT_OK) /* every kept symbol is in the vocab */
            __builtin_trap();
        free(ids);
    }
    free(ph);
    free(dropped);
    kt_config_free(&c);
    free(text);
    return 0;
}
