/* test_g2p.c - languages, phonemization properties, chunking rule, ids, thread safety.
 * The phoneme strings themselves are compared with the espeak-ng CLI in tests/check_g2p.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#include "kt/config.h"
#include "kt/g2p.h"

static kt_config cfg;

static int setup(void **state)
{
    (void)state;
    kt_error e;
    return kt_config_default(&cfg, &e) == KT_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    kt_config_free(&cfg);
    return 0;
}

static void test_languages(void **state)
{
    (void)state;
    assert_string_equal(kt_g2p_lang_for_voice("af_heart"), "en-us");
    assert_string_equal(kt_g2p_lang_for_voice("voices/bm_george.pt"), "en-gb");
    assert_string_equal(kt_g2p_lang_for_voice("ef_dora"), "es");
    assert_string_equal(kt_g2p_lang_for_voice("ff_siwis"), "fr");
    assert_string_equal(kt_g2p_lang_for_voice("hf_alpha"), "hi");
    assert_string_equal(kt_g2p_lang_for_voice("if_sara"), "it");
    assert_string_equal(kt_g2p_lang_for_voice("jf_alpha"), "ja");
    assert_string_equal(kt_g2p_lang_for_voice("pf_dora"), "pt-br");
    assert_string_equal(kt_g2p_lang_for_voice("zf_xiaobei"), "zh");
    assert_null(kt_g2p_lang_for_voice("xx_voice"));
    assert_null(kt_g2p_lang_for_voice("Af_heart"));
    assert_string_equal(kt_g2p_espeak_voice("fr"), "fr-fr");
    assert_string_equal(kt_g2p_espeak_voice("zh"), "cmn");
    assert_string_equal(kt_g2p_espeak_voice("en-gb"), "en-gb");
    assert_null(kt_g2p_espeak_voice(""));
}

/* Every symbol of s is in the vocab. */
static void assert_in_vocab(const char *s)
{
    int *ids;
    size_t n;
    kt_error e;
    if (kt_phonemes_to_ids(&cfg, s, &ids, &n, &e) != KT_OK)
        fail_msg("%s: %s", s, e.msg);
    free(ids);
}

static void test_phonemize_english(void **state)
{
    (void)state;
    char *out, *dropped;
    kt_error e;
    assert_int_equal(kt_g2p_phonemize("Hello, world. I bought a chair!", "en-us", &cfg, &out, &dropped, &e), KT_OK);
    assert_null(dropped);
    assert_in_vocab(out);
    assert_null(strchr(out, '^'));                 /* ties removed */
    assert_non_null(strstr(out, "\xcb\x88"));      /* primary stress kept */
    assert_non_null(strstr(out, ", "));            /* punctuation preserved in place */
    assert_non_null(strstr(out, ". "));
    assert_int_equal(out[strlen(out) - 1], '!');
    assert_non_null(strchr(out, 'I'));             /* a^ɪ -> I ("I", "bought"... at least the pronoun) */
    assert_null(strstr(out, "\xcb\x90"));          /* en-us deletes ː */
    free(out);
    /* en-gb keeps length marks */
    assert_int_equal(kt_g2p_phonemize("The bird heard a word.", "en-gb", &cfg, &out, NULL, &e), KT_OK);
    assert_non_null(strstr(out, "\xcb\x90"));
    free(out);
}

static void test_phonemize_dropped(void **state)
{
    (void)state;
    char *out, *dropped;
    kt_error e;
    /* ¿ is a preserved punctuation mark but not in Kokoro's vocab */
    assert_int_equal(kt_g2p_phonemize("\xc2\xbfQu\xc3\xa9 tal?", "es", &cfg, &out, &dropped, &e), KT_OK);
    assert_non_null(dropped);
    assert_string_equal(dropped, "\xc2\xbf");
    assert_in_vocab(out);
    assert_int_equal(out[strlen(out) - 1], '?');
    free(out);
    free(dropped);
    /* without a config nothing is dropped */
    assert_int_equal(kt_g2p_phonemize("\xc2\xbfQu\xc3\xa9 tal?", "es", NULL, &out, &dropped, &e), KT_OK);
    assert_null(dropped);
    assert_memory_equal(out, "\xc2\xbf", 2);
    free(out);
}

/* Letters of another script never reach espeak-ng (its mid-text language switch reads freed
 * memory): under fr the Armenian and Cyrillic letters are dropped, each listed once, and the
 * French words are phonemized as without them; under an unlisted espeak voice nothing is filtered. */
static void test_other_scripts_dropped(void **state)
{
    (void)state;
    char *out, *dropped, *plain, *pd;
    kt_error e;
    assert_int_equal(kt_g2p_phonemize("bonjour \xd5\xbc\xd5\xbc \xd0\xbf\xd1\x80 ami", "fr", &cfg, &out, &dropped, &e),
                     KT_OK);
    assert_non_null(dropped);
    assert_string_equal(dropped, "\xd5\xbc\xd0\xbf\xd1\x80");
    assert_int_equal(kt_g2p_phonemize("bonjour ami", "fr", &cfg, &plain, &pd, &e), KT_OK);
    assert_string_equal(out, plain);
    free(out);
    free(dropped);
    free(plain);
    free(pd);
    /* Devanagari is hi's own script: kept */
    assert_int_equal(kt_g2p_phonemize("\xe0\xa4\xa8\xe0\xa4\xae", "hi", &cfg, &out, &dropped, &e), KT_OK);
    assert_true(strlen(out) > 0);
    free(out);
    free(dropped);
}

/* Lines become separate chunks; dropped symbols are merged over lines, each once, in first-seen order. */
static void test_text_lines(void **state)
{
    (void)state;
    kt_chunk_list l;
    kt_error e;
    char *dropped = NULL;
    assert_int_equal(kt_g2p_text_chunks("\xc2\xbfQu\xc3\xa9?\n\n\xc2\xa1Hola! \xc2\xbfS\xc3\xad?", "es", &cfg, &l,
                                        &dropped, &e), KT_OK);
    assert_int_equal(l.count, 2);
    assert_non_null(dropped);
    assert_string_equal(dropped, "\xc2\xbf\xc2\xa1");
    for (size_t i = 0; i < l.count; i++)
        assert_in_vocab(l.items[i].phonemes);
    kt_chunk_list_free(&l);
    free(dropped);
}

static void test_phonemize_errors(void **state)
{
    (void)state;
    char *out, *dropped;
    kt_error e;
    assert_int_equal(kt_g2p_phonemize("hello", "xx-nonexistent", &cfg, &out, &dropped, &e), KT_EINVAL);
    assert_non_null(strstr(e.msg, "xx-nonexistent"));
    assert_null(out);
    assert_int_equal(kt_g2p_phonemize("bad \xff utf8", "en-us", &cfg, &out, &dropped, &e), KT_EINVAL);
    assert_int_equal(kt_g2p_phonemize("hello", "", &cfg, &out, &dropped, &e), KT_EINVAL);
    kt_chunk_list l;
    assert_int_equal(kt_g2p_text_chunks("  \n\t ", "en-us", &cfg, &l, NULL, &e), KT_EINVAL);
    assert_non_null(strstr(e.msg, "empty"));
    assert_int_equal(l.count, 0);
    assert_int_equal(kt_g2p_text_chunks("... !!! ?? ,", "en-us", &cfg, &l, NULL, &e), KT_EINVAL);
    assert_non_null(strstr(e.msg, "pronounceable"));
    /* after a failed language, a good one still works (espeak state recovers) */
    assert_int_equal(kt_g2p_phonemize("hello", "en-us", &cfg, &out, NULL, &e), KT_OK);
    assert_true(kt_phonemes_has_words(out));
    free(out);
}

/* Chunks phonemes with max and compares with the expected list (NULL-terminated). */
static void expect_chunks(const char *ps, size_t max, const char *const *want)
{
    kt_chunk_list l;
    kt_error e;
    assert_int_equal(kt_phonemes_chunk(ps, max, &l, &e), KT_OK);
    size_t n = 0;
    while (want[n])
        n++;
    if (l.count != n)
        fail_msg("\"%s\" max %zu: %zu chunks, expected %zu", ps, max, l.count, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(l.items[i].phonemes, want[i]);
        assert_int_equal(l.items[i].n_symbols, kt_utf8_count(want[i]));
        assert_true(l.items[i].n_symbols <= max);
    }
    kt_chunk_list_free(&l);
}

static void test_chunk_rule(void **state)
{
    (void)state;
    /* cut after the sentence end when the next word overflows */
    expect_chunks("aaa bbb. ccc ddd eee", 10, (const char *const[]){"aaa bbb.", "ccc ddd", "eee", NULL});
    /* a clause mark when there is no sentence end */
    expect_chunks("aa, bb; cc dd", 8, (const char *const[]){"aa, bb;", "cc dd", NULL});
    /* a sentence end is preferred over a later comma */
    expect_chunks("aa. bb, cc", 8, (const char *const[]){"aa.", "bb, cc", NULL});
    /* the cut is refused when the remainder would not fit: everything pending goes */
    expect_chunks("xx. yyyyy zzzzz", 10, (const char *const[]){"xx. yyyyy", "zzzzz", NULL});
    expect_chunks("xx. yyyyy zzzz", 10, (const char *const[]){"xx.", "yyyyy zzzz", NULL});
    /* a lone closing parenthesis goes with the cut */
    expect_chunks("aa. ) bb cc", 8, (const char *const[]){"aa. )", "bb cc", NULL});
    /* closing quotes attached to a word do not hide its sentence end */
    expect_chunks("aa.\xe2\x80\x9d bb cc", 8, (const char *const[]){"aa.\xe2\x80\x9d", "bb cc", NULL});
    /* an over-long word is split hard, nothing dropped */
    expect_chunks("abcdefghij", 4, (const char *const[]){"abcd", "efgh", "ij", NULL});
    /* newlines always cut; blank lines vanish */
    expect_chunks("ab\n\ncd\r\nef", 10, (const char *const[]){"ab", "cd", "ef", NULL});
    /* code points, not bytes: 5 symbols fit 5 */
    expect_chunks("\xc3\xb0\xc9\x99 \xc3\xb0\xc9\x99", 5, (const char *const[]){"\xc3\xb0\xc9\x99 \xc3\xb0\xc9\x99", NULL});
    expect_chunks("   ", 5, (const char *const[]){NULL});
    kt_chunk_list l;
    kt_error e;
    assert_int_equal(kt_phonemes_chunk("a", 0, &l, &e), KT_EINVAL);
    assert_int_equal(kt_phonemes_chunk("a\xc3", 5, &l, &e), KT_EINVAL);
}

/* kt_phonemes_chunk(ps, 510) then kt_chunk_list_split_first(max) gives want[]. */
static void expect_first(const char *ps, size_t max, const char *const *want)
{
    kt_chunk_list l;
    kt_error e;
    assert_int_equal(kt_phonemes_chunk(ps, 510, &l, &e), KT_OK);
    assert_int_equal(kt_chunk_list_split_first(&l, max, &e), KT_OK);
    size_t n = 0;
    while (want[n])
        n++;
    if (l.count != n)
        fail_msg("\"%s\" first %zu: %zu chunks, expected %zu", ps, max, l.count, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(l.items[i].phonemes, want[i]);
        assert_int_equal(l.items[i].n_symbols, kt_utf8_count(want[i]));
    }
    kt_chunk_list_free(&l);
}

static void test_split_first(void **state)
{
    (void)state;
    /* the longest run of words within max, punctuation preferred */
    expect_first("aa bb cc dd ee", 8, (const char *const[]){"aa bb cc", "dd ee", NULL});
    expect_first("aa, bb cc dd ee", 9, (const char *const[]){"aa,", "bb cc dd ee", NULL});
    expect_first("həlˈO, ðɪs ɪz ə ʃˈɔɹt tˈɛst.", 8, (const char *const[]){"həlˈO,", "ðɪs ɪz ə ʃˈɔɹt tˈɛst.", NULL});
    /* a first word longer than max goes alone, never cut inside */
    expect_first("abcdefgh ij", 4, (const char *const[]){"abcdefgh", "ij", NULL});
    /* already short enough, or one word: unchanged */
    expect_first("aa bb", 5, (const char *const[]){"aa bb", NULL});
    expect_first("abcdefgh", 3, (const char *const[]){"abcdefgh", NULL});
    /* only the first chunk is split; later ones keep their place */
    expect_first("aa bb cc\ndd ee", 2, (const char *const[]){"aa", "bb cc", "dd ee", NULL});
    kt_chunk_list l = {0};
    kt_error e;
    assert_int_equal(kt_chunk_list_split_first(&l, 4, &e), KT_OK);
    assert_int_equal(l.count, 0);
    assert_int_equal(kt_chunk_list_split_first(&l, 0, &e), KT_EINVAL);
}

/* A long English text: every chunk fits, and the chunks joined are the whole text's phonemes. */
static void test_long_text(void **state)
{
    (void)state;
    static const char *const sentences[] = {
        "The committee reviewed the proposal carefully, and after a long discussion it approved the budget.",
        "Rain fell over the harbor while the fishermen mended their nets; nobody expected the storm to pass so quickly.",
        "She opened the window, listened to the birds, and wrote three letters before breakfast!",
        "Why would anyone build a lighthouse on a hill so far from the sea?",
        "Engineers measured the bridge, the tunnel, the railway and the old canal \xe2\x80\x94 all of them twice.",
    };
    char *text = malloc(6000);
    size_t len = 0;
    for (int i = 0; len < 5000; i++) {
        const char *s = sentences[i % 5];
        memcpy(text + len, s, strlen(s));
        len += strlen(s);
        text[len++] = ' ';
    }
    text[len] = '\0';
    assert_true(len >= 5000);
    kt_chunk_list l;
    kt_error e;
    char *whole, *dropped = NULL;
    assert_int_equal(kt_g2p_text_chunks(text, "en-us", &cfg, &l, &dropped, &e), KT_OK);
    assert_int_equal(kt_g2p_phonemize(text, "en-us", &cfg, &whole, NULL, &e), KT_OK);
    assert_true(l.count >= 2);
    size_t total = 0;
    for (size_t i = 0; i < l.count; i++) {
        assert_true(l.items[i].n_symbols <= KT_G2P_MAX_PHONEMES);
        assert_true(l.items[i].n_symbols > 0);
        total += strlen(l.items[i].phonemes) + 1;
        /* each chunk but the last ends at a sentence or clause mark when one was available */
        if (i + 1 < l.count) {
            char last = l.items[i].phonemes[strlen(l.items[i].phonemes) - 1];
            assert_non_null(strchr(".!?;,", last) ? (void *)1 : strstr(l.items[i].phonemes, "\xe2\x80\x94"));
        }
    }
    char *joined = calloc(total + 1, 1);
    for (size_t i = 0; i < l.count; i++) {
        if (i)
            strcat(joined, " ");
        strcat(joined, l.items[i].phonemes);
    }
    assert_string_equal(joined, whole);
    print_message("5,000-character text: %zu chunks, %zu phonemes\n", l.count, kt_utf8_count(whole));
    free(joined);
    free(whole);
    free(dropped);
    kt_chunk_list_free(&l);
    free(text);
}

static void test_ids(void **state)
{
    (void)state;
    int *ids;
    size_t n;
    kt_error e;
    assert_int_equal(kt_phonemes_to_ids(&cfg, "h\xc9\x99 A", &ids, &n, &e), KT_OK);
    assert_int_equal(n, 4); /* no boundary tokens: kt_model_synthesize adds them */
    assert_int_equal(ids[0], kt_config_vocab_id(&cfg, 'h'));
    assert_int_equal(ids[1], kt_config_vocab_id(&cfg, 0x259));
    assert_int_equal(ids[2], 16); /* space */
    assert_int_equal(ids[3], 24); /* A */
    free(ids);
    assert_int_equal(kt_phonemes_to_ids(&cfg, "ab#c", &ids, &n, &e), KT_EINVAL);
    assert_non_null(strstr(e.msg, "'#'"));
    assert_non_null(strstr(e.msg, "position 3"));
    assert_null(ids);
    /* voice row: code points - 1, clamped */
    assert_int_equal(kt_phonemes_voice_row("h\xc9\x99 A", 510), 3);
    assert_int_equal(kt_phonemes_voice_row("a", 510), 0);
    assert_int_equal(kt_phonemes_voice_row("abcdef", 4), 3);
    assert_int_equal(kt_utf8_count("\xc3\xb0\xc9\x99"), 2);
    assert_int_equal(kt_utf8_count("\xc3"), (size_t)-1);
}

typedef struct {
    const char *lang, *text;
    char *out;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    kt_error e;
    for (int i = 0; i < 5; i++) {
        char *o = NULL;
        if (kt_g2p_phonemize(j->text, j->lang, &cfg, &o, NULL, &e) != KT_OK)
            return NULL;
        if (j->out && strcmp(j->out, o) != 0) {
            free(o);
            free(j->out);
            j->out = NULL;
            return NULL;
        }
        free(j->out);
        j->out = o;
    }
    return NULL;
}

/* Two threads in two languages at once give what each gives alone. */
static void test_threads(void **state)
{
    (void)state;
    job a = {"en-us", "The quick brown fox jumps over the lazy dog.", NULL};
    job b = {"fr", "Le renard brun saute par-dessus le chien paresseux.", NULL};
    char *ea, *eb;
    kt_error e;
    assert_int_equal(kt_g2p_phonemize(a.text, a.lang, &cfg, &ea, NULL, &e), KT_OK);
    assert_int_equal(kt_g2p_phonemize(b.text, b.lang, &cfg, &eb, NULL, &e), KT_OK);
    pthread_t ta, tb;
    pthread_create(&ta, NULL, worker, &a);
    pthread_create(&tb, NULL, worker, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_non_null(a.out);
    assert_non_null(b.out);
    assert_string_equal(a.out, ea);
    assert_string_equal(b.out, eb);
    free(a.out);
    free(b.out);
    free(ea);
    free(eb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_languages),     cmocka_unit_test(test_phonemize_english),
        cmocka_unit_test(test_phonemize_dropped), cmocka_unit_test(test_phonemize_errors),
        cmocka_unit_test(test_other_scripts_dropped),
        cmocka_unit_test(test_text_lines),
        cmocka_unit_test(test_chunk_rule),    cmocka_unit_test(test_long_text),
        cmocka_unit_test(test_split_first),
        cmocka_unit_test(test_ids),           cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
