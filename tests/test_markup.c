/* test_markup.c - the SSML subset and the plain-text pause syntax: every element, every error
 * (one line, with line and column), the limits, and input offsets that point at the source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kt/markup.h"

/* Segments as one line: T:text H:phonemes P:seconds | (sentence) ¶ (paragraph), space-separated. */
static char *dump(const kt_segment_list *l)
{
    size_t cap = 64;
    for (size_t i = 0; i < l->count; i++)
        cap += (l->items[i].text ? strlen(l->items[i].text) : 0) + 32;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t n = 0;
    s[0] = '\0';
    for (size_t i = 0; i < l->count; i++) {
        const kt_segment *g = &l->items[i];
        const char *sep = i ? " " : "";
        switch (g->kind) {
        case KT_SEG_TEXT: n += (size_t)snprintf(s + n, cap - n, "%sT:%s", sep, g->text); break;
        case KT_SEG_PHONEMES: n += (size_t)snprintf(s + n, cap - n, "%sH:%s", sep, g->text); break;
        case KT_SEG_PAUSE: n += (size_t)snprintf(s + n, cap - n, "%sP:%g", sep, g->seconds); break;
        case KT_SEG_SENTENCE: n += (size_t)snprintf(s + n, cap - n, "%s|", sep); break;
        case KT_SEG_PARAGRAPH: n += (size_t)snprintf(s + n, cap - n, "%s#", sep); break;
        }
    }
    return s;
}

static void expect(const char *in, kt_markup_mode mode, const char *want)
{
    kt_segment_list l;
    kt_error e;
    kt_status st = kt_markup_parse(in, strlen(in), mode, &l, &e);
    if (st)
        fail_msg("%s: %s", in, e.msg);
    char *got = dump(&l);
    if (strcmp(got, want))
        fail_msg("%s\n  got  %s\n  want %s", in, got, want);
    for (size_t i = 0; i < l.count; i++)
        assert_true(l.items[i].start <= l.items[i].end && l.items[i].end <= strlen(in));
    free(got);
    kt_segment_list_free(&l);
}

/* Parses in, expects an error of code whose message contains words (and no newline). */
static void expect_error(const char *in, size_t len, kt_markup_mode mode, kt_status code, const char *words)
{
    kt_segment_list l;
    kt_error e;
    kt_status st = kt_markup_parse(in, len, mode, &l, &e);
    if (st != code)
        fail_msg("%.60s: status %d, want %d (%s)", in, st, code, st ? e.msg : "ok");
    if (!strstr(e.msg, words))
        fail_msg("%.60s: message '%s' lacks '%s'", in, e.msg, words);
    assert_null(strchr(e.msg, '\n'));
    assert_int_equal(l.count, 0);
    assert_null(l.items);
}

static void test_plain_text(void **state)
{
    (void)state;
    expect("Hello world.", KT_MARKUP_AUTO, "T:Hello world.");
    expect("Hello [pause:0.5s] world.", KT_MARKUP_AUTO, "T:Hello  P:0.5 T: world.");
    expect("a[pause:300ms]b[PAUSE:2]c[pause: 1.5s ]d", KT_MARKUP_AUTO, "T:a P:0.3 T:b P:2 T:c P:1.5 T:d");
    expect("[pause:1s][pause:1s]", KT_MARKUP_AUTO, "P:1 P:1");
    expect("a [pause:0s] b", KT_MARKUP_AUTO, "T:a  T: b");
    expect("one.\n\ntwo.\n \n\nthree.", KT_MARKUP_AUTO, "T:one. # T:two. # T:three.");
    expect("[not a pause] [pause:1s", KT_MARKUP_AUTO, "T:[not a pause] [pause:1s");
    expect("   \n\t", KT_MARKUP_AUTO, "");
    expect("", KT_MARKUP_AUTO, "");
    expect("a <break time=\"1s\"/> b", KT_MARKUP_AUTO, "T:a <break time=\"1s\"/> b");
    expect("<speak>no [pause:1s]</speak>", KT_MARKUP_TEXT, "T:<speak>no  P:1 T:</speak>");
    expect("a [pause:1s]\n\nb", KT_MARKUP_NONE, "T:a [pause:1s]\n\nb");
    expect_error("a [pause:1h] b", 14, KT_MARKUP_AUTO, KT_EINVAL, "line 1, column 3: bad pause");
    expect_error("a\nb [pause:-1s]", 15, KT_MARKUP_AUTO, KT_EINVAL, "line 2, column 3");
    expect_error("a\n b\0c", 6, KT_MARKUP_AUTO, KT_EINVAL, "line 2, column 3: a NUL byte");
    expect_error("ab\0", 3, KT_MARKUP_NONE, KT_EINVAL, "line 1, column 3: a NUL byte");
}

static void test_offsets(void **state)
{
    (void)state;
    const char *in = "Hi [pause:1s] there";
    kt_segment_list l;
    kt_error e;
    assert_int_equal(kt_markup_parse(in, strlen(in), KT_MARKUP_AUTO, &l, &e), KT_OK);
    assert_int_equal(l.count, 3);
    assert_int_equal(l.items[0].start, 0);
    assert_int_equal(l.items[0].end, 3);
    assert_int_equal(l.items[1].start, 3);
    assert_int_equal(l.items[1].end, 13);
    assert_int_equal(l.items[2].start, 13);
    assert_int_equal(l.items[2].end, 19);
    kt_segment_list_free(&l);
    /* SSML: text spans point at the source bytes (entities included), elements at their whole span */
    in = "<speak>A &amp; B<break time='2s'/><sub alias=\"World Wide Web\">WWW</sub></speak>";
    assert_int_equal(kt_markup_parse(in, strlen(in), KT_MARKUP_AUTO, &l, &e), KT_OK);
    assert_int_equal(l.count, 3);
    assert_string_equal(l.items[0].text, "A & B");
    assert_int_equal(l.items[0].start, 7);
    assert_int_equal(l.items[0].end, 16);
    assert_memory_equal(in + l.items[1].start, "<break", 6);
    assert_int_equal(l.items[1].end - l.items[1].start, strlen("<break time='2s'/>"));
    assert_string_equal(l.items[2].text, "World Wide Web");
    assert_memory_equal(in + l.items[2].start, "<sub", 4);
    assert_memory_equal(in + l.items[2].end - 6, "</sub>", 6);
    kt_segment_list_free(&l);
}

static void test_detection(void **state)
{
    (void)state;
    assert_true(kt_markup_is_ssml("<speak>x</speak>", 16));
    assert_true(kt_markup_is_ssml("\xEF\xBB\xBF  \n<?xml version=\"1.0\"?>\n<speak version=\"1.1\">", 45));
    assert_true(kt_markup_is_ssml("<!-- c --><speak/>", 18));
    assert_false(kt_markup_is_ssml("<speaker>", 9));
    assert_false(kt_markup_is_ssml("Say <speak>", 11));
    assert_false(kt_markup_is_ssml("<speak", 5));
    /* forced SSML without a root: read as if wrapped */
    expect("Hello <break time=\"1s\"/> world", KT_MARKUP_SSML, "T:Hello  P:1 T: world");
    expect("<p>one</p><p>two</p>", KT_MARKUP_SSML, "T:one # T:two #");
    expect("<?xml version=\"1.0\"?><speak>x</speak>", KT_MARKUP_SSML, "T:x");
}

static void test_break(void **state)
{
    (void)state;
    expect("<speak>Hello <break time=\"1s\"/> world.</speak>", KT_MARKUP_AUTO, "T:Hello  P:1 T: world.");
    expect("<speak>a<break time=\"250ms\"/>b<break/>c<break strength=\"x-strong\"/>d</speak>", KT_MARKUP_AUTO,
           "T:a P:0.25 T:b P:0.4 T:c P:1 T:d");
    expect("<speak>a<break strength=\"none\"/>b<break strength=\"weak\" time=\"3s\"/></speak>", KT_MARKUP_AUTO,
           "T:a T:b P:3");
    expect("<speak>a<break strength=\"x-weak\"/><break strength=\"weak\"/><break strength=\"medium\"/>"
           "<break strength=\"strong\"/></speak>", KT_MARKUP_AUTO, "T:a P:0.1 P:0.2 P:0.4 P:0.7");
    expect_error("<speak>a<break time=\"1 h\"/></speak>", 35, KT_MARKUP_AUTO, KT_EINVAL, "line 1, column 9: bad <break>");
    expect_error("<speak>a<break strength=\"loud\"/></speak>", 40, KT_MARKUP_AUTO, KT_EINVAL, "bad <break>");
}

static void test_p_s(void **state)
{
    (void)state;
    expect("<speak><p><s>One.</s><s>Two.</s></p><p>Three.</p>Four.</speak>", KT_MARKUP_AUTO,
           "T:One. | T:Two. # T:Three. # T:Four.");
    expect("<speak>Intro <s>In.</s> out</speak>", KT_MARKUP_AUTO, "T:Intro  | T:In. | T: out");
    expect("<speak><paragraph><sentence>x</sentence></paragraph></speak>", KT_MARKUP_AUTO, "T:x #");
}

static void test_phoneme_sub(void **state)
{
    (void)state;
    expect("<speak>I say <phoneme alphabet=\"ipa\" ph=\"təmˈɑːtəʊ\">tomato</phoneme>.</speak>", KT_MARKUP_AUTO,
           "T:I say  H:təmˈɑːtəʊ T:.");
    expect("<speak><phoneme ph=\"hˈi\">he</phoneme></speak>", KT_MARKUP_AUTO, "H:hˈi");
    expect("<speak><phoneme alphabet=\"x-sampa\" ph=\"h@\">huh</phoneme></speak>", KT_MARKUP_AUTO, "T:huh");
    expect("<speak><sub alias=\"World Wide Web Consortium\">W3C</sub></speak>", KT_MARKUP_AUTO,
           "T:World Wide Web Consortium");
    expect_error("<speak><phoneme>x</phoneme></speak>", 35, KT_MARKUP_AUTO, KT_EINVAL, "needs ph");
    expect_error("<speak><sub>x</sub></speak>", 27, KT_MARKUP_AUTO, KT_EINVAL, "needs alias");
    expect_error("<speak><sub alias=\"a\">x<break/></sub></speak>", 45, KT_MARKUP_AUTO, KT_EFORMAT,
                 "may only contain text");
}

static void test_say_as(void **state)
{
    (void)state;
    expect("<speak><say-as interpret-as=\"characters\">NASA</say-as></speak>", KT_MARKUP_AUTO, "T:N A S A");
    expect("<speak><say-as interpret-as=\"spell-out\">ab ç</say-as></speak>", KT_MARKUP_AUTO, "T:a b ç");
    expect("<speak><say-as interpret-as=\"cardinal\">12,345</say-as></speak>", KT_MARKUP_AUTO, "T:12345");
    expect("<speak><say-as interpret-as=\"cardinal\">many</say-as></speak>", KT_MARKUP_AUTO, "T:many");
    expect("<speak><say-as interpret-as=\"ordinal\">1</say-as> <say-as interpret-as=\"ordinal\">12</say-as> "
           "<say-as interpret-as=\"ordinal\">23</say-as> <say-as interpret-as=\"ordinal\">102</say-as></speak>",
           KT_MARKUP_AUTO, "T:1st T:12th T:23rd T:102nd");
    expect("<speak><say-as interpret-as=\"digits\">2024</say-as></speak>", KT_MARKUP_AUTO, "T:2 0 2 4");
    expect("<speak><say-as interpret-as=\"date\">2024-03-05</say-as></speak>", KT_MARKUP_AUTO,
           "T:March 5th, 2024");
    expect("<speak><say-as interpret-as=\"date\" format=\"dmy\">21/12/1999</say-as></speak>", KT_MARKUP_AUTO,
           "T:December 21st, 1999");
    expect("<speak><say-as interpret-as=\"date\" format=\"md\">7/4</say-as></speak>", KT_MARKUP_AUTO, "T:July 4th");
    expect("<speak><say-as interpret-as=\"date\">13/45/2000</say-as></speak>", KT_MARKUP_AUTO, "T:13/45/2000");
    expect("<speak><say-as interpret-as=\"time\">14:30</say-as> <say-as interpret-as=\"time\">9:05</say-as> "
           "<say-as interpret-as=\"time\">7:00</say-as></speak>", KT_MARKUP_AUTO,
           "T:14 30 T:9 oh 5 T:7 o'clock");
    expect("<speak><say-as interpret-as=\"telephone\">+1 (555) 123-4567</say-as></speak>", KT_MARKUP_AUTO,
           "T:plus 1, 5 5 5, 1 2 3, 4 5 6 7");
    expect("<speak><say-as interpret-as=\"unknown-kind\">x y</say-as></speak>", KT_MARKUP_AUTO, "T:x y");
}

static void test_prosody_voice_emphasis(void **state)
{
    (void)state;
    const char *in = "<speak>a<prosody rate=\"slow\">b<prosody rate=\"200%\">c</prosody></prosody>"
                     "<voice name=\"am_adam:0.6 af_heart:0.4\">d<emphasis level=\"strong\">e</emphasis></voice>"
                     "<emphasis>f</emphasis><emphasis level=\"reduced\">g</emphasis>"
                     "<prosody rate=\"+50%\">h</prosody><prosody rate=\"x-fast\"><prosody rate=\"4\">i</prosody>"
                     "</prosody><prosody pitch=\"high\">j</prosody></speak>";
    kt_segment_list l;
    kt_error e;
    assert_int_equal(kt_markup_parse(in, strlen(in), KT_MARKUP_AUTO, &l, &e), KT_OK);
    static const double rates[] = {1, 0.75, 1.5, 1, 0.85, 0.92, 1.1, 1.5, 4, 1};
    static const int emph[] = {0, 0, 0, 0, 2, 1, -1, 0, 0, 0};
    assert_int_equal(l.count, 10);
    for (size_t i = 0; i < l.count; i++) {
        assert_int_equal(l.items[i].kind, KT_SEG_TEXT);
        assert_int_equal(l.items[i].text[0], 'a' + (int)i);
        if (l.items[i].rate < rates[i] - 1e-9 || l.items[i].rate > rates[i] + 1e-9)
            fail_msg("segment %zu: rate %g, want %g", i, l.items[i].rate, rates[i]);
        assert_int_equal(l.items[i].emphasis, emph[i]);
        if (i == 3 || i == 4)
            assert_string_equal(l.items[i].voice, "am_adam:0.6 af_heart:0.4");
        else
            assert_null(l.items[i].voice);
    }
    kt_segment_list_free(&l);
    expect_error("<speak><prosody rate=\"warp\">x</prosody></speak>", 47, KT_MARKUP_AUTO, KT_EINVAL, "bad <prosody");
    expect_error("<speak><prosody rate=\"-100%\">x</prosody></speak>", 48, KT_MARKUP_AUTO, KT_EINVAL, "bad <prosody");
    expect_error("<speak><voice>x</voice></speak>", 31, KT_MARKUP_AUTO, KT_EINVAL, "needs name");
    expect_error("<speak><emphasis level=\"loud\">x</emphasis></speak>", 50, KT_MARKUP_AUTO, KT_EINVAL,
                 "bad <emphasis");
}

static void test_unknown_and_markup_never_spoken(void **state)
{
    (void)state;
    expect("<speak>a <mark name=\"m\"/>b <foo>c</foo> <!-- no --> <![CDATA[<d>]]></speak>", KT_MARKUP_AUTO,
           "T:a  T:b  T:c T:  <d>");
    expect("<speak xmlns=\"http://www.w3.org/2001/10/synthesis\" xml:lang=\"en-US\" version=\"1.0\">\n"
           "  <p>\n    Hi.\n  </p>\n</speak>\n", KT_MARKUP_AUTO, "T:\n    Hi.\n   #");
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("<speak>a</spek>", 15, KT_MARKUP_AUTO, KT_EFORMAT, "line 1, column 11: mismatched tag");
    expect_error("<speak>\n  <p>a\n</speak>", 23, KT_MARKUP_AUTO, KT_EFORMAT, "line 3, column 3");
    expect_error("<speak>a &nbsp; b</speak>", 25, KT_MARKUP_AUTO, KT_EFORMAT, "undefined entity");
    expect_error("<speak>a", 8, KT_MARKUP_AUTO, KT_EFORMAT, "line 1");
    expect_error("<speak>a</speak><speak>", 23, KT_MARKUP_AUTO, KT_EFORMAT, "junk after document element");
    expect_error("<?xml version=\"1.0\"?><p>x</p>", 29, KT_MARKUP_SSML, KT_EFORMAT, "root element must be <speak>");
    expect_error("<?xml version=\"1.0\"?><!DOCTYPE speak [<!ENTITY a \"b\">]><speak>&a;</speak>", 73,
                 KT_MARKUP_AUTO, KT_EFORMAT, "DOCTYPE is not allowed");
    expect_error("<speak>\xff</speak>", 16, KT_MARKUP_AUTO, KT_EFORMAT, "line 1, column 8");
    expect_error("<speak>a\0b</speak>", 17, KT_MARKUP_AUTO, KT_EFORMAT, "line 1");
    /* errors after the wrap point at the user's own column */
    expect_error("x <break time=\"z\"/>", 19, KT_MARKUP_SSML, KT_EINVAL, "line 1, column 3: bad <break>");
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* Repeats unit n times between head and tail. */
static char *repeat(const char *head, const char *unit, size_t n, const char *tail, size_t *len)
{
    size_t h = strlen(head), u = strlen(unit), t = strlen(tail);
    char *s = malloc(h + u * n + t + 1);
    assert_non_null(s);
    memcpy(s, head, h);
    for (size_t i = 0; i < n; i++)
        memcpy(s + h + i * u, unit, u);
    memcpy(s + h + u * n, tail, t + 1);
    *len = h + u * n + t;
    return s;
}

static void test_limits(void **state)
{
    (void)state;
    size_t len;
    double t0 = now();
    /* nesting 10,000 deep */
    char *open = repeat("<speak>", "<prosody rate=\"fast\">", 10000, "x", &len);
    expect_error(open, len, KT_MARKUP_AUTO, KT_ELIMIT, "nested deeper than 64");
    free(open);
    open = repeat("<speak>", "<p>", 63, "x", &len);
    char *ok = malloc(len + 63 * 4 + 9);
    memcpy(ok, open, len);
    for (int i = 0; i < 63; i++)
        memcpy(ok + len + (size_t)i * 4, "</p>", 4);
    memcpy(ok + len + 63 * 4, "</speak>", 9);
    expect(ok, KT_MARKUP_AUTO, "T:x #");
    free(ok);
    free(open);
    /* 100,000 breaks: SSML and plain text */
    char *many = repeat("<speak>", "a<break time=\"10ms\"/>", 100000, "</speak>", &len);
    expect_error(many, len, KT_MARKUP_AUTO, KT_ELIMIT, "more than 10000 pauses");
    free(many);
    many = repeat("", "a[pause:10ms]", 100000, "", &len);
    expect_error(many, len, KT_MARKUP_AUTO, KT_ELIMIT, "more than 10000 pauses");
    free(many);
    /* 10,000 breaks are fine */
    many = repeat("<speak>", "<break time=\"1ms\"/>", 10000, "</speak>", &len);
    kt_segment_list l;
    kt_error e;
    assert_int_equal(kt_markup_parse(many, len, KT_MARKUP_AUTO, &l, &e), KT_OK);
    assert_int_equal(l.count, 10000);
    kt_segment_list_free(&l);
    free(many);
    /* a pause of an hour, and pauses adding up to over an hour */
    expect_error("<speak><break time=\"3600s\"/></speak>", 36, KT_MARKUP_AUTO, KT_ELIMIT, "longer than 60 s");
    expect_error("x [pause:3600000ms]", 19, KT_MARKUP_AUTO, KT_ELIMIT, "line 1, column 3: a pause of 3600 s");
    expect_error("<speak><break time=\"99999999999999999999s\"/></speak>", 52, KT_MARKUP_AUTO, KT_EINVAL, "bad <break>");
    many = repeat("", "[pause:60s]", 61, "", &len);
    expect_error(many, len, KT_MARKUP_AUTO, KT_ELIMIT, "add up to more than 3600 s");
    free(many);
    /* input size */
    expect_error("x", KT_MARKUP_MAX_INPUT + 1, KT_MARKUP_AUTO, KT_ELIMIT, "over");
    double secs = now() - t0;
    if (secs > 20)
        fail_msg("the limits took %.1f s", secs);
}

static void test_duration(void **state)
{
    (void)state;
    double s;
    assert_int_equal(kt_markup_duration("1.5s", 4, &s), 0);
    assert_true(s == 1.5);
    assert_int_equal(kt_markup_duration("250ms", 5, &s), 0);
    assert_true(s == 0.25);
    assert_int_equal(kt_markup_duration("2", 1, &s), 0);
    assert_true(s == 2);
    assert_int_equal(kt_markup_duration(".5s", 3, &s), 0);
    assert_true(s == 0.5);
    assert_int_equal(kt_markup_duration(".s", 2, &s), -1);
    assert_int_equal(kt_markup_duration("5.s", 3, &s), 0);
    assert_int_equal(kt_markup_duration("", 0, &s), -1);
    assert_int_equal(kt_markup_duration("-1s", 3, &s), -1);
    assert_int_equal(kt_markup_duration("1m", 2, &s), -1);
    assert_int_equal(kt_markup_duration("1e3s", 4, &s), -1);
    assert_int_equal(kt_markup_duration("1234567890123s", 14, &s), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_text),
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_detection),
        cmocka_unit_test(test_break),
        cmocka_unit_test(test_p_s),
        cmocka_unit_test(test_phoneme_sub),
        cmocka_unit_test(test_say_as),
        cmocka_unit_test(test_prosody_voice_emphasis),
        cmocka_unit_test(test_unknown_and_markup_never_spoken),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_duration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
