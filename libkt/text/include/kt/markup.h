/* kt/markup.h - speech markup: an SSML subset (parsed with libexpat) and an inline pause syntax
 * for plain text, turned into a flat list of segments a synthesis pipeline consumes in order.
 *
 * Input that starts with <speak (after whitespace, a UTF-8 BOM or an <?xml?> declaration) is
 * SSML; other input is plain text, where "[pause:0.5s]" or "[pause:300ms]" is a pause and a
 * blank line ends a paragraph. KT_MARKUP_SSML forces SSML (input without a <speak> root is read
 * as if wrapped in one); KT_MARKUP_NONE takes the whole input as one text segment.
 *
 * SSML elements (docs/markup.md has the details):
 *   <speak>                      the root (required; xml:lang and version are ignored)
 *   <p>, <s>                     KT_SEG_PARAGRAPH / KT_SEG_SENTENCE boundaries at both ends
 *   <break time="500ms|1.5s" strength="none|x-weak|weak|medium|strong|x-strong"/>  a pause
 *   <phoneme alphabet="ipa" ph="...">text</phoneme>   KT_SEG_PHONEMES with ph; text is not spoken
 *   <sub alias="...">text</sub>  the alias is spoken instead of the text
 *   <say-as interpret-as="characters|spell-out|cardinal|number|ordinal|digits|date|time|telephone"
 *           format="mdy|dmy|ymd|...">  the content rewritten as words for English G2P
 *   <prosody rate="x-slow|slow|medium|fast|x-fast|default|N%|+N%|-N%|N">  rate factor (nested
 *                                rates multiply; the product is clamped to 0.25..4)
 *   <voice name="...">           the span's voice: a voice name or a blend expression
 *   <emphasis level="strong|moderate|none|reduced">  strong x0.85 and moderate (the default)
 *                                x0.92 rate, reduced x1.1; the level is also kept in the segment
 * Unknown elements are ignored and their text spoken; a DOCTYPE is refused; markup is never
 * part of a text segment.
 *
 * Limits (each a one-line KT_ELIMIT error): input over KT_MARKUP_MAX_INPUT bytes, nesting deeper
 * than KT_MARKUP_MAX_DEPTH, a pause over KT_MARKUP_MAX_PAUSE seconds, more than
 * KT_MARKUP_MAX_PAUSES pauses, pauses totalling over KT_MARKUP_MAX_TOTAL_PAUSE seconds, more
 * than KT_MARKUP_MAX_SEGMENTS segments. Malformed SSML is KT_EFORMAT, a bad attribute value
 * KT_EINVAL, as is a NUL byte in plain text; these messages start with "line L, column C: "
 * (1-based; libexpat's column count for SSML, bytes for plain text). */
#ifndef KT_MARKUP_H
#define KT_MARKUP_H

#include <stddef.h>

#include "kt/error.h"

#define KT_MARKUP_MAX_INPUT ((size_t)64 << 20)
#define KT_MARKUP_MAX_DEPTH 64
#define KT_MARKUP_MAX_PAUSE 60.0
#define KT_MARKUP_MAX_PAUSES 10000
#define KT_MARKUP_MAX_TOTAL_PAUSE 3600.0
#define KT_MARKUP_MAX_SEGMENTS 1000000

typedef enum {
    KT_MARKUP_AUTO = 0, /* SSML when the input starts with <speak, else plain text with pauses */
    KT_MARKUP_SSML,     /* always SSML */
    KT_MARKUP_TEXT,     /* always plain text with inline pauses */
    KT_MARKUP_NONE      /* no markup at all: one text segment */
} kt_markup_mode;

typedef enum {
    KT_SEG_TEXT = 1, /* text: words to speak */
    KT_SEG_PHONEMES, /* text: IPA phonemes given by <phoneme ph>, to be used instead of G2P */
    KT_SEG_PAUSE,    /* seconds of silence */
    KT_SEG_SENTENCE, /* a sentence ends here */
    KT_SEG_PARAGRAPH /* a paragraph ends here */
} kt_segment_kind;

typedef struct {
    kt_segment_kind kind;
    char *text;        /* TEXT, PHONEMES: NUL-terminated UTF-8, owned; else NULL */
    size_t start, end; /* the bytes of the input this segment comes from: [start, end) */
    double seconds;    /* PAUSE: > 0 and <= KT_MARKUP_MAX_PAUSE */
    double rate;       /* TEXT, PHONEMES: speaking-rate factor in effect (1 = as asked) */
    char *voice;       /* TEXT, PHONEMES: the <voice name> in effect, owned; NULL: the caller's */
    int emphasis;      /* TEXT, PHONEMES: 0 none, 1 moderate, 2 strong, -1 reduced */
} kt_segment;

typedef struct {
    kt_segment *items;
    size_t count, cap;
} kt_segment_list;

/* Parses len bytes of input (UTF-8; need not be NUL-terminated) into out (zeroed first).
 * Boundaries never start the list or repeat (a paragraph end absorbs a sentence end); text
 * segments that are only whitespace are dropped; adjacent pauses stay separate.
 * Errors: see the top of this file. On error out is empty. */
kt_status kt_markup_parse(const char *input, size_t len, kt_markup_mode mode, kt_segment_list *out,
                          kt_error *err);

/* 1 if KT_MARKUP_AUTO would read input as SSML. */
int kt_markup_is_ssml(const char *input, size_t len);

/* Parses a duration: "N" or "Ns" seconds, "Nms" milliseconds (N: digits with an optional
 * fraction). Returns 0 and sets *seconds, or -1 for anything else (negative, empty, overflow). */
int kt_markup_duration(const char *s, size_t len, double *seconds);

/* Frees every segment and zeroes l. l may be zeroed already. */
void kt_segment_list_free(kt_segment_list *l);

#endif
