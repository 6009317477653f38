/* fuzz_markup.c - libFuzzer target: the markup parser (SSML through libexpat, plain text with
 * pauses) on arbitrary bytes; the first byte picks the mode. Checks the parser's promises: spans
 * inside the input and in order, pauses within the limits, no boundary first or twice, no
 * whitespace-only text, rates within 0.25..4, one-line errors and an empty list on error. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kt/markup.h"

static int blank(const char *s)
{
    return s[strspn(s, " \t\r\n\f\v")] == '\0';
}

static void check_list(const kt_segment_list *l, size_t len)
{
    double total = 0;
    size_t pauses = 0, last_start = 0;
    for (size_t i = 0; i < l->count; i++) {
        const kt_segment *g = &l->items[i];
        int boundary = g->kind == KT_SEG_SENTENCE || g->kind == KT_SEG_PARAGRAPH;
        int text = g->kind == KT_SEG_TEXT || g->kind == KT_SEG_PHONEMES;
        if (g->start > g->end || g->end > len || g->start < last_start)
            abort();
        last_start = g->start;
        if (boundary && (i == 0 || l->items[i - 1].kind == KT_SEG_SENTENCE || l->items[i - 1].kind == KT_SEG_PARAGRAPH))
            abort();
        if (text && (!g->text || blank(g->text) || !(g->rate >= 0.25 && g->rate <= 4.0)))
            abort();
        if (!text && (g->text || g->voice))
            abort();
        if (g->kind == KT_SEG_PAUSE) {
            if (!(g->seconds > 0 && g->seconds <= KT_MARKUP_MAX_PAUSE))
                abort();
            total += g->seconds;
            pauses++;
        }
    }
    if (pauses > KT_MARKUP_MAX_PAUSES || total > KT_MARKUP_MAX_TOTAL_PAUSE)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    kt_markup_mode mode = (kt_markup_mode)(data[0] % 4);
    size_t len = size - 1;
    char *in = malloc(len ? len : 1); /* exactly len bytes: the parser must not read past them */
    if (!in)
        return 0;
    memcpy(in, data + 1, len);
    kt_segment_list l;
    kt_error err;
    if (kt_markup_parse(in, len, mode, &l, &err) == KT_OK) {
        check_list(&l, len);
        kt_segment_list_free(&l);
    } else if (l.count || l.items || !err.msg[0] || strchr(err.msg, '\n')) {
        abort();
    }
    (void)kt_markup_is_ssml(in, len);
    free(in);
    return 0;
}
