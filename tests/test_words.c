/* test_words.c - word timings, silence control and subtitles through the public API (kt/kt.h):
 * every word of the input with its bytes and code points, times that agree with the phoneme
 * timings and lie inside their chunk's audio (across chunks, pauses and speeds), gaps of exactly
 * the length asked, and SubRip/WebVTT cues. Files as in test_tts.c (the tiny fixture model). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kt/kt.h"

#define MAX_WORDS 64
#define MAX_CHUNKS 64
#define MAX_UNITS 1024

typedef struct {
    kt_tts_word w[MAX_WORDS];
    char text[MAX_WORDS][64];
    size_t n;
    size_t offset[MAX_CHUNKS], samples[MAX_CHUNKS], chunks; /* spoken chunks (pauses not counted) */
    size_t silent;                                          /* samples of pause and gap chunks */
    double unit_start[MAX_UNITS], unit_end[MAX_UNITS];      /* phoneme timings */
    size_t units;
    size_t total;
} seen;

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

static kt_tts *open_tiny(void)
{
    kt_tts_params p = kt_tts_default_params();
    kt_tts *t = NULL;
    kt_error err;
    p.model_path = env_or("KT_TINY_MODEL", "fixtures/tiny/kokoro-tiny.pth");
    p.config_path = env_or("KT_TINY_CONFIG", "fixtures/tiny/config.json");
    p.voices_dir = "fixtures/tiny/voices";
    p.n_threads = 2;
    if (kt_tts_open(&p, &t, &err))
        fail_msg("kt_tts_open: %s", err.msg);
    return t;
}

static int on_words(void *user, const kt_tts_word *w, size_t n)
{
    seen *s = user;
    for (size_t i = 0; i < n && s->n < MAX_WORDS; i++, s->n++) {
        s->w[s->n] = w[i];
        snprintf(s->text[s->n], sizeof s->text[0], "%s", w[i].text);
        s->w[s->n].text = s->text[s->n];
    }
    return 0;
}

static int on_audio(void *user, const kt_tts_chunk *c)
{
    seen *s = user;
    assert_int_equal(c->offset, s->total); /* chunks follow each other without holes */
    s->total += c->n_samples;
    if (!c->n_tokens) {
        s->silent += c->n_samples;
        return 0;
    }
    assert_true(s->chunks < MAX_CHUNKS);
    s->offset[s->chunks] = c->offset;
    s->samples[s->chunks++] = c->n_samples;
    return 0;
}

static int on_timing(void *user, const kt_tts_timing *u, size_t n)
{
    seen *s = user;
    for (size_t i = 0; i < n && s->units < MAX_UNITS; i++, s->units++)
        s->unit_start[s->units] = u[i].start, s->unit_end[s->units] = u[i].end;
    return 0;
}

static seen *run(kt_tts *t, const char *text, kt_tts_synth_params *p)
{
    seen *s = calloc(1, sizeof *s);
    kt_error err;
    assert_non_null(s);
    p->on_words = on_words;
    p->on_audio = on_audio;
    p->on_timing = on_timing;
    p->user = s;
    if (kt_tts_synthesize(t, text, "af_tiny", p, NULL, &err))
        fail_msg("%s: %s", text, err.msg);
    return s;
}

/* Every word: its text at its bytes, code points that match, times in order, inside its chunk's
 * audio, and each spoken word starting and ending where a phoneme does. */
static void check_words(const char *text, const seen *s, const char *const *want, size_t n_want)
{
    assert_int_equal(s->n, n_want);
    double prev = 0;
    for (size_t i = 0; i < s->n; i++) {
        const kt_tts_word *w = &s->w[i];
        assert_string_equal(w->text, want[i]);
        assert_memory_equal(text + w->byte_start, w->text, w->byte_end - w->byte_start);
        size_t cps = 0;
        for (size_t b = 0; b < w->byte_start; b++)
            cps += ((unsigned char)text[b] & 0xC0) != 0x80;
        assert_int_equal(w->char_start, cps);
        assert_true(w->start >= prev - 1e-12 && w->end >= w->start);
        prev = w->end;
        if (w->end == w->start)
            continue;
        size_t k = 0; /* the chunk that holds it */
        while (k < s->chunks && (double)(s->offset[k] + s->samples[k]) / KT_SAMPLE_RATE < w->end - 1e-9)
            k++;
        assert_true(k < s->chunks);
        assert_true(w->start >= (double)s->offset[k] / KT_SAMPLE_RATE - 1e-9);
        int starts = 0, ends = 0;
        for (size_t u = 0; u < s->units; u++) {
            starts |= fabs(s->unit_start[u] - w->start) < 1e-9;
            ends |= fabs(s->unit_end[u] - w->end) < 1e-9;
        }
        assert_true(starts && ends);
    }
}

static void test_plain_words(void **state)
{
    kt_tts *t = *state;
    const char *text = "Hello, world. I paid $1,234 today!\nIs it “fine”?";
    const char *want[] = {"Hello,", "world.", "I", "paid", "$1,234", "today!", "Is", "it", "“fine”?"};
    kt_tts_synth_params p = kt_tts_default_synth_params();
    seen *s = run(t, text, &p);
    check_words(text, s, want, 9);
    assert_int_equal(s->w[8].char_end, strlen("Hello, world. I paid $1,234 today!\nIs it ") + 7);
    free(s);
    /* faster, and cut into several chunks: the same words, still inside their chunks */
    p = kt_tts_default_synth_params();
    p.speed = 1.7f;
    p.first_chunk = 8;
    s = run(t, text, &p);
    assert_true(s->chunks >= 2);
    check_words(text, s, want, 9);
    free(s);
}

static void test_pauses_and_markup(void **state)
{
    kt_tts *t = *state;
    const char *text = "Wait [pause:0.5s] for it.";
    const char *want[] = {"Wait", "for", "it."};
    kt_tts_synth_params p = kt_tts_default_synth_params();
    seen *s = run(t, text, &p);
    check_words(text, s, want, 3);
    assert_int_equal(s->silent, KT_SAMPLE_RATE / 2);
    assert_true(s->w[1].start - s->w[0].end >= 0.5);
    free(s);
    const char *ssml = "<speak>Say <sub alias=\"World Wide Web\">WWW</sub> &amp; more.</speak>";
    s = run(t, ssml, &p);
    assert_int_equal(s->n, 6);
    assert_string_equal(s->w[1].text, "World"); /* the alias is what is spoken ... */
    assert_int_equal(s->w[1].byte_start, strlen("<speak>Say ")); /* ... at the bytes of its element */
    assert_int_equal(s->w[1].byte_end, strlen("<speak>Say <sub alias=\"World Wide Web\">WWW</sub>"));
    assert_string_equal(s->w[4].text, "&");
    assert_memory_equal(ssml + s->w[5].byte_start, "more.", 5);
    free(s);
}

static void test_gaps(void **state)
{
    kt_tts *t = *state;
    const char *text = "One thing. Two things!\n\nA new paragraph.";
    kt_tts_synth_params p = kt_tts_default_synth_params();
    p.gaps = KT_TTS_GAP_SENTENCE | KT_TTS_GAP_PARAGRAPH;
    p.sentence_gap = 0.3;
    p.paragraph_gap = 0.8;
    seen *s = run(t, text, &p);
    assert_int_equal(s->chunks, 3); /* a chunk per sentence */
    assert_int_equal(s->n, 7);
    /* the silence between the last phoneme of one sentence and the first of the next */
    assert_true(fabs(s->w[2].start - s->w[1].end - 0.3) < 1.0 / KT_SAMPLE_RATE);
    assert_true(fabs(s->w[4].start - s->w[3].end - 0.8) < 1.0 / KT_SAMPLE_RATE);
    assert_int_equal(s->silent, (size_t)(0.3 * KT_SAMPLE_RATE + 0.8 * KT_SAMPLE_RATE));
    free(s);
    kt_error err;
    p.sentence_gap = -1;
    assert_int_equal(kt_tts_synthesize(t, text, "af_tiny", &p, NULL, &err), KT_EINVAL);
    assert_non_null(strstr(err.msg, "sentence gap"));
    p.sentence_gap = 0.1;
    p.gaps = 4;
    assert_int_equal(kt_tts_synthesize(t, text, "af_tiny", &p, NULL, &err), KT_EINVAL);
}

static void test_other_scripts(void **state)
{
    kt_tts *t = *state;
    /* Mandarin with a Latin word it drops: the word is kept, not spoken (start == end) */
    const char *text = "你好 hello 世界。";
    kt_tts_synth_params p = kt_tts_default_synth_params();
    p.lang = "zh";
    seen *s = calloc(1, sizeof *s);
    p.on_words = on_words;
    p.on_audio = on_audio;
    p.on_timing = on_timing;
    p.user = s;
    kt_error err;
    kt_status st = kt_tts_synthesize(t, text, "af_tiny", &p, NULL, &err);
    if (st == KT_EUNSUPPORTED || (st && strstr(err.msg, "jieba"))) { /* no Mandarin data here */
        free(s);
        skip();
    }
    assert_int_equal(st, KT_OK);
    const char *want[] = {"你好", "hello", "世界。"};
    check_words(text, s, want, 3);
    assert_true(s->w[1].start == s->w[1].end);
    free(s);
}

static kt_tts_word word(const char *text, size_t b, double start, double end)
{
    kt_tts_word w = {text, b, b + strlen(text), b, b + strlen(text), start, end, 0};
    return w;
}

static void test_subtitles(void **state)
{
    (void)state;
    kt_tts_word w[] = {word("Hello,", 0, 0.1, 0.5), word("world.", 7, 0.6, 1.0), word("A", 14, 1.5, 1.6),
                       word("<b>&", 16, 1.7, 1.9), word("c", 21, 2.0, 2.2)};
    char *out = NULL;
    kt_error err;
    assert_int_equal(kt_tts_subtitles(w, 5, 2.5, KT_TTS_SUBTITLES_SRT, &out, &err), KT_OK);
    assert_string_equal(out, "1\n00:00:00,100 --> 00:00:01,000\nHello, world.\n\n"
                             "2\n00:00:01,500 --> 00:00:02,500\nA <b>& c\n\n");
    kt_free(out);
    assert_int_equal(kt_tts_subtitles(w, 5, 3725.25, KT_TTS_SUBTITLES_VTT, &out, &err), KT_OK);
    assert_string_equal(out, "WEBVTT\n\n00:00:00.100 --> 00:00:01.000\nHello, world.\n\n"
                             "00:00:01.500 --> 01:02:05.250\nA &lt;b&gt;&amp; c\n\n");
    kt_free(out);
    /* a long sentence: cues of at most two lines of 42, cut after a clause when it can */
    kt_tts_word many[40];
    char buf[40][16];
    size_t b = 0;
    for (int i = 0; i < 40; i++) {
        snprintf(buf[i], sizeof buf[i], i == 9 ? "word%d," : i == 39 ? "word%d." : "word%d", i);
        many[i] = word(buf[i], b, i * 0.5, i * 0.5 + 0.4);
        b += strlen(buf[i]) + 1;
    }
    assert_int_equal(kt_tts_subtitles(many, 40, 20.0, KT_TTS_SUBTITLES_SRT, &out, &err), KT_OK);
    assert_non_null(strstr(out, "word9,\n\n2\n")); /* the first cue ends at the comma */
    size_t cues = 0, line = 0;
    for (const char *c = out; *c; c++) {
        line = *c == '\n' ? 0 : line + 1;
        assert_true(line <= 42 || strstr(c - line, " --> ") != NULL);
        cues += !strncmp(c, " --> ", 5);
    }
    assert_true(cues >= 4);
    assert_non_null(strstr(out, "--> 00:00:20,000\n")); /* the last cue ends with the audio */
    kt_free(out);
    assert_int_equal(kt_tts_subtitles(w, 5, 1, 9, &out, &err), KT_EINVAL);
    assert_int_equal(kt_tts_subtitles(NULL, 0, 1, KT_TTS_SUBTITLES_SRT, &out, &err), KT_OK);
    assert_string_equal(out, "");
    kt_free(out);
}

/* The markup parser through the public API: the segments kt_tts_synthesize reads. */
static void test_markup_api(void **state)
{
    (void)state;
    const char *ssml = "<speak><p>Hi <break time=\"250ms\"/><prosody rate=\"slow\">there</prosody>.</p></speak>";
    kt_tts_segments *s = NULL;
    kt_error err;
    assert_int_equal(kt_tts_markup_parse(ssml, strlen(ssml), KT_TTS_MARKUP_AUTO, &s, &err), KT_OK);
    assert_int_equal(kt_tts_segments_count(s), 5);
    const kt_tts_segment *g = kt_tts_segments_get(s, 0);
    assert_int_equal(g->kind, KT_TTS_SEG_TEXT);
    assert_string_equal(g->text, "Hi ");
    assert_memory_equal(ssml + g->start, "Hi ", 3);
    assert_int_equal(kt_tts_segments_get(s, 1)->kind, KT_TTS_SEG_PAUSE);
    assert_true(kt_tts_segments_get(s, 1)->seconds == 0.25);
    assert_true(kt_tts_segments_get(s, 2)->rate < 1);
    assert_int_equal(kt_tts_segments_get(s, 4)->kind, KT_TTS_SEG_PARAGRAPH);
    assert_null(kt_tts_segments_get(s, 5));
    kt_tts_segments_free(s);
    const char *bad = "<speak>\n  <break time=\"1s\"></speak>";
    assert_int_equal(kt_tts_markup_parse(bad, strlen(bad), KT_TTS_MARKUP_AUTO, &s, &err), KT_EFORMAT);
    assert_null(s);
    assert_non_null(strstr(err.msg, "line 2, column"));
    assert_int_equal(kt_tts_markup_parse("a", 1, 7, &s, &err), KT_EINVAL);
    kt_tts_segments_free(NULL);
}

static int setup(void **state)
{
    *state = open_tiny();
    return 0;
}

static int teardown(void **state)
{
    kt_tts_close(*state);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_words), cmocka_unit_test(test_pauses_and_markup), cmocka_unit_test(test_gaps),
        cmocka_unit_test(test_other_scripts), cmocka_unit_test(test_subtitles), cmocka_unit_test(test_markup_api),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
