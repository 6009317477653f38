/* fuzz_chunk.c - libFuzzer target: phoneme chunking (then kt_chunk_list_split_first) and ids
 * on arbitrary bytes. Checks the chunker's promises: every chunk fits, and no non-space symbol
 * is lost or added. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kt/config.h"
#include "kt/g2p.h"

/* Length in bytes of the whitespace character at s (the chunker's set: ASCII whitespace,
 * U+00A0, U+2000-U+200A, U+2028, U+2029, U+3000), or 0. */
static size_t space_len(const unsigned char *s)
{
    if (strchr(" \t\n\r\v\f", *s) && *s)
        return 1;
    if (s[0] == 0xC2 && s[1] == 0xA0)
        return 2;
    if (s[0] == 0xE2 && s[1] == 0x80 && s[2] && (s[2] <= 0x8A || s[2] == 0xA8 || s[2] == 0xA9))
        return s[2] >= 0x80 ? 3 : 0;
    if (s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80)
        return 3;
    return 0;
}

/* The bytes of s without the chunker's whitespace. */
static size_t squeeze(const char *s, char *out)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    while (*p) {
        size_t k = space_len(p);
        if (k) {
            p += k;
            continue;
        }
        out[n++] = (char)*p++;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t max = 1 + data[0] % 64;
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    kt_chunk_list l;
    kt_error err;
    if (kt_phonemes_chunk(text, max, &l, &err) == KT_OK) {
        char *a = malloc(size + 1), *b = malloc(size + 1);
        size_t na = squeeze(text, a), nb = 0, count = l.count, first = 1 + data[0] / 64 * 3;
        /* then the first chunk cut for streaming: later chunks unchanged, nothing lost */
        if (kt_chunk_list_split_first(&l, first, &err) != KT_OK || l.count < count || l.count > count + 1)
            abort();
        for (size_t i = 0; i < l.count; i++) {
            if (l.items[i].n_symbols > max || l.items[i].n_symbols != kt_utf8_count(l.items[i].phonemes))
                abort();
            nb += squeeze(l.items[i].phonemes, b + nb);
        }
        if (na != nb || memcmp(a, b, na) != 0)
            abort();
        free(a);
        free(b);
        kt_chunk_list_free(&l);
    }
    kt_config c;
    if (kt_config_default(&c, &err) == KT_OK) {
        int *ids = NULL;
        size_t n;
        if (kt_phonemes_to_ids(&c, text, &ids, &n, &err) == KT_OK && n != kt_utf8_count(text))
            abort(); /* one id per code point */
        free(ids);
        kt_config_free(&c);
    }
    free(text);
    return 0;
}
