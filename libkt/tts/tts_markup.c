/* tts_markup.c - the markup parser behind the public API: kt_tts_markup_parse over kt/markup.h. */
#include "kt/kt.h"

#include <stdlib.h>

#include "kt/markup.h"

struct kt_tts_segments {
    kt_segment_list list;
    kt_tts_segment *view; /* one per list item, pointing into it */
};

_Static_assert(KT_TTS_SEG_TEXT == (int)KT_SEG_TEXT && KT_TTS_SEG_PARAGRAPH == (int)KT_SEG_PARAGRAPH,
               "kt_tts_segment_kind mirrors kt_segment_kind");

kt_status kt_tts_markup_parse(const char *input, size_t len, int markup, kt_tts_segments **out, kt_error *err)
{
    kt_markup_mode mode = markup == KT_TTS_MARKUP_AUTO   ? KT_MARKUP_AUTO
                          : markup == KT_TTS_MARKUP_SSML ? KT_MARKUP_SSML
                                                         : KT_MARKUP_NONE;
    kt_tts_segments *s;
    kt_status st;
    *out = NULL;
    if (markup < KT_TTS_MARKUP_AUTO || markup > KT_TTS_MARKUP_NONE)
        return kt_error_set(err, KT_EINVAL, "unknown markup mode %d", markup);
    if (!input && len)
        return kt_error_set(err, KT_EINVAL, "no input");
    if (!(s = calloc(1, sizeof *s)))
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    if ((st = kt_markup_parse(input ? input : "", len, mode, &s->list, err)))
        goto fail;
    if (!(s->view = calloc(s->list.count ? s->list.count : 1, sizeof *s->view))) {
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < s->list.count; i++) {
        const kt_segment *g = &s->list.items[i];
        s->view[i] = (kt_tts_segment){(int)g->kind, g->text, g->start, g->end, g->seconds, g->rate, g->voice,
                                      g->emphasis};
    }
    *out = s;
    return KT_OK;
fail:
    kt_tts_segments_free(s);
    return st;
}

size_t kt_tts_segments_count(const kt_tts_segments *s) { return s ? s->list.count : 0; }

const kt_tts_segment *kt_tts_segments_get(const kt_tts_segments *s, size_t i)
{
    return s && i < s->list.count ? &s->view[i] : NULL;
}

void kt_tts_segments_free(kt_tts_segments *s)
{
    if (!s)
        return;
    kt_segment_list_free(&s->list);
    free(s->view);
    free(s);
}
