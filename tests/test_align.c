/* test_align.c - written words matched to phoneme words: one to one, numbers read as several
 * words, Chinese and Japanese words of several characters, dropped words, punctuation, phoneme
 * input, long texts, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kt/align.h"

/* The alignment as one line: each word's text, '=' and its phoneme words joined by '+'. */
static char *aligned(const char *text, const char *phonemes)
{
    kt_phoneme_word *pw = NULL;
    size_t npw = 0, nw = 0, cap = 4096;
    kt_align_word *w = NULL;
    kt_error err = {0};
    assert_int_equal(kt_phoneme_words(phonemes, &pw, &npw, &err), KT_OK);
    assert_int_equal(kt_align_words(text, strlen(text), pw, npw, 0, &w, &nw, &err), KT_OK);
    /* the phoneme words of a string, as byte ranges, to print them */
    char *out = calloc(cap, 1), *copy = strdup(phonemes);
    assert_non_null(out);
    char *words[256];
    size_t nwords = 0;
    for (char *t = strtok(copy, " "); t && nwords < 256; t = strtok(NULL, " "))
        if (strspn(t, ".,!?;:—…\"“”()") < strlen(t))
            words[nwords++] = t;
    assert_int_equal(nwords, npw);
    size_t next = 0;
    for (size_t i = 0; i < nw; i++) {
        assert_int_equal(w[i].pw_first, next); /* every phoneme word once, in order */
        next += w[i].pw_count;
        size_t o = strlen(out);
        snprintf(out + o, cap - o, "%s%.*s=", i ? " " : "", (int)(w[i].byte_end - w[i].byte_start),
                 text + w[i].byte_start);
        for (size_t k = 0; k < w[i].pw_count; k++) {
            o = strlen(out);
            snprintf(out + o, cap - o, "%s%s", k ? "+" : "", words[w[i].pw_first + k]);
        }
    }
    assert_int_equal(next, npw);
    free(copy), free(pw), free(w);
    return out;
}

static void expect(const char *text, const char *phonemes, const char *want)
{
    char *got = aligned(text, phonemes);
    if (strcmp(got, want))
        fail_msg("%s\n  got:  %s\n  want: %s", text, got, want);
    free(got);
}

static void test_phoneme_words(void **state)
{
    (void)state;
    kt_phoneme_word *pw = NULL;
    size_t n = 0;
    kt_error err = {0};
    assert_int_equal(kt_phoneme_words("həlˈO, wˈɜɹld! …", &pw, &n, &err), KT_OK);
    assert_int_equal(n, 2);
    assert_int_equal(pw[0].cp_start, 0);
    assert_int_equal(pw[0].cp_end, 5); /* the comma is not part of it */
    assert_true(pw[0].weight == 4);    /* the stress mark weighs nothing */
    assert_int_equal(pw[1].cp_start, 7);
    assert_int_equal(pw[1].cp_end, 13);
    /* tone arrows are punctuation in Kokoro's alphabet: not the edge of a word */
    assert_int_equal(kt_phoneme_words("ni↓xau↓", &pw, &n, &err), KT_OK);
    assert_int_equal(n, 3);
    assert_int_equal(pw[2].cp_end, 6);
    free(pw);
    pw = NULL, n = 0;
    assert_int_equal(kt_phoneme_words("a\xff", &pw, &n, &err), KT_EINVAL);
    free(pw);
}

static void test_one_to_one(void **state)
{
    (void)state;
    expect("Hello, world.", "həlˈO, wˈɜɹld.", "Hello,=həlˈO, world.=wˈɜɹld.");
    expect("  “Quoted” — text! ", "“kwˈOtᵻd” — tˈɛkst!", "“Quoted” —=“kwˈOtᵻd” text!=tˈɛkst!");
}

static void test_numbers(void **state)
{
    (void)state;
    expect("I paid $1,234 today.", "ˈI pˈAd wˈʌn θˈWzənd tˈu hˈʌndɹəd θˈɜɹdi fˈɔɹ dˈɑlɚz tədˈA.",
           "I=ˈI paid=pˈAd $1,234=wˈʌn+θˈWzənd+tˈu+hˈʌndɹəd+θˈɜɹdi+fˈɔɹ+dˈɑlɚz today.=tədˈA.");
    expect("In 2024 we met.", "ɪn twˈɛnti twˈɛnti fˈɔɹ wi mˈɛt.",
           "In=ɪn 2024=twˈɛnti+twˈɛnti+fˈɔɹ we=wi met.=mˈɛt.");
}

static void test_chinese_japanese(void **state)
{
    (void)state;
    expect("你好，世界。", "ni↓xau↓, ʂɨ↘ʨje↘.", "你好，=ni↓xau↓, 世界。=ʂɨ↘ʨje↘.");
    expect("我有三本书。", "wo↓ jou↓ san→ pən↓ ʂu→.", "我=wo↓ 有=jou↓ 三=san→ 本=pən↓ 书。=ʂu→.");
    expect("東京は大きい都市です。", "toːkʲoː βa oːkʲiː toɕi desɨ.",
           "東京=toːkʲoː は=βa 大きい=oːkʲiː 都市=toɕi です。=desɨ.");
}

static void test_dropped_and_extra(void **state)
{
    (void)state;
    /* a word of another script dropped by G2P: spoken as nothing */
    expect("你好 hello 世界", "ni↓xau↓ ʂɨ↘ʨje↘", "你好=ni↓xau↓ hello= 世界=ʂɨ↘ʨje↘");
    /* no written words at all, and no phoneme words */
    kt_align_word *w = NULL;
    size_t n = 7;
    kt_error err = {0};
    assert_int_equal(kt_align_words(" … ", 5, NULL, 0, 0, &w, &n, &err), KT_OK);
    assert_int_equal(n, 0);
    assert_null(w);
    kt_phoneme_word one = {0, 3, 3, 1, 0};
    assert_int_equal(kt_align_words("word", 4, &one, 0, 0, &w, &n, &err), KT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(w[0].pw_count, 0);
    free(w);
    assert_int_equal(kt_align_words("a\xc3", 3, &one, 1, 0, &w, &n, &err), KT_EINVAL);
    assert_null(w);
}

static void test_phoneme_input(void **state)
{
    (void)state;
    const char *ps = "həlˈO wˈɜɹld, ðɪs ɪz kˈA.";
    kt_phoneme_word *pw = NULL;
    size_t npw = 0, nw = 0;
    kt_align_word *w = NULL;
    kt_error err = {0};
    assert_int_equal(kt_phoneme_words(ps, &pw, &npw, &err), KT_OK);
    assert_int_equal(kt_align_words(ps, strlen(ps), pw, npw, 1, &w, &nw, &err), KT_OK);
    assert_int_equal(nw, npw);
    for (size_t i = 0; i < nw; i++)
        assert_int_equal(w[i].pw_count, 1);
    assert_memory_equal(ps + w[1].byte_start, "wˈɜɹld,", w[1].byte_end - w[1].byte_start);
    free(pw), free(w);
}

/* A text far longer than the band: still one to one, every word in place. */
static void test_long_text(void **state)
{
    (void)state;
    const size_t n = 3000;
    char *text = malloc(n * 16), *ps = malloc(n * 16);
    kt_phoneme_word *pw = calloc(n, sizeof *pw);
    assert_true(text && ps && pw);
    size_t a = 0, b = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = 1 + (i * 7) % 9;
        for (size_t k = 0; k < len; k++)
            text[a++] = 'a', ps[b++] = 'b';
        text[a++] = ' ', ps[b++] = ' ';
        pw[i].weight = (double)len;
    }
    text[a] = ps[b] = '\0';
    kt_align_word *w = NULL;
    size_t nw = 0;
    kt_error err = {0};
    assert_int_equal(kt_align_words(text, a, pw, n, 0, &w, &nw, &err), KT_OK);
    assert_int_equal(nw, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(w[i].pw_first, i);
    free(w), free(text), free(ps), free(pw);
}

/* Chinese sentences of tests/g2p_langs/zh.tsv (text, misaki's phonemes, the same with '|' after
 * each syllable): every word made of one phoneme word must have as many Han characters as that
 * word has syllables, i.e. the characters are grouped as the segmenter grouped them. */
static size_t han_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i + 2 < n; i++) {
        const unsigned char *b = (const unsigned char *)s + i;
        if ((b[0] & 0xF0) != 0xE0)
            continue;
        unsigned cp = (unsigned)(b[0] & 0x0F) << 12 | (unsigned)(b[1] & 0x3F) << 6 | (b[2] & 0x3F);
        c += (cp >= 0x3400 && cp <= 0x9FFF) || (cp >= 0xF900 && cp <= 0xFAFF);
        i += 2;
    }
    return c;
}

static void test_chinese_sentences(void **state)
{
    (void)state;
    FILE *f = fopen("tests/g2p_langs/zh.tsv", "r");
    assert_non_null(f);
    char line[8192];
    size_t words = 0, same = 0, sentences = 0;
    while (fgets(line, sizeof line, f)) {
        char *text = line, *ps = strchr(line, '\t'), *marked = ps ? strchr(ps + 1, '\t') : NULL;
        if (line[0] == '#' || !marked)
            continue;
        *ps++ = '\0', *marked++ = '\0';
        marked[strcspn(marked, "\n")] = '\0';
        kt_phoneme_word *pw = NULL;
        size_t npw = 0, nw = 0, syl[512] = {0}, k = 0;
        kt_align_word *w = NULL;
        kt_error err;
        assert_int_equal(kt_phoneme_words(ps, &pw, &npw, &err), KT_OK);
        assert_true(npw < 512);
        for (const char *m = marked; *m && k < 512; m++) { /* syllables of each spoken group */
            if (*m == ' ' && syl[k])
                k++;
            else if (*m == '|')
                syl[k]++;
        }
        assert_int_equal(kt_align_words(text, strlen(text), pw, npw, 0, &w, &nw, &err), KT_OK);
        for (size_t i = 0; i < nw; i++) {
            if (w[i].pw_count != 1)
                continue;
            words++;
            same += han_chars(text + w[i].byte_start, w[i].byte_end - w[i].byte_start) == syl[w[i].pw_first];
        }
        sentences++;
        free(pw), free(w);
    }
    fclose(f);
    printf("zh: %zu sentences, %zu of %zu words grouped as the segmenter did (%.1f%%)\n", sentences, same, words,
           100.0 * (double)same / (double)(words ? words : 1));
    assert_true(sentences >= 200);
    assert_true(same * 100 >= words * 95);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phoneme_words),     cmocka_unit_test(test_one_to_one),
        cmocka_unit_test(test_numbers),           cmocka_unit_test(test_chinese_japanese),
        cmocka_unit_test(test_dropped_and_extra), cmocka_unit_test(test_phoneme_input),
        cmocka_unit_test(test_long_text),         cmocka_unit_test(test_chinese_sentences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
