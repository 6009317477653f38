/* test_en.c - English G2P against misaki's own output (tests/en/, made by
 * tests/reference/misaki_en_ref.py; see tests/en/README.md), markup, user entries, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kt/en.h"
#include "kt/g2p.h"

#define MAX_LINES 1024

typedef struct {
    char *buf;
    char *col[MAX_LINES][4];
    size_t n;
} tsv;

static int tsv_load(const char *path, tsv *t)
{
    FILE *f = fopen(path, "rb");
    memset(t, 0, sizeof *t);
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    t->buf = malloc((size_t)sz + 1);
    if (!t->buf || fread(t->buf, 1, (size_t)sz, f) != (size_t)sz) {
        fclose(f);
        return -1;
    }
    fclose(f);
    t->buf[sz] = '\0';
    for (char *line = t->buf; line && *line && t->n < MAX_LINES;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *c = line;
        for (int k = 0; k < 4; k++) {
            t->col[t->n][k] = c;
            char *tab = c ? strchr(c, '\t') : NULL;
            if (tab)
                *tab = '\0';
            c = tab ? tab + 1 : NULL;
        }
        t->n++;
        line = nl ? nl + 1 : NULL;
    }
    return 0;
}

/* code points of s without stress marks into u; their count */
static size_t unstressed(const char *s, uint32_t *u, size_t cap)
{
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p && n < cap) {
        uint32_t c;
        size_t len = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : 4;
        c = len == 1 ? *p : len == 2 ? (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F)
                          : (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
        if (c != 0x2C8 && c != 0x2CC)
            u[n++] = c;
        p += len;
    }
    return n;
}

static size_t edit_distance(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    size_t *row = malloc((nb + 1) * sizeof *row);
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    size_t d = row[nb];
    free(row);
    return d;
}

static void check_words(const char *dialect, const char *lang, double goal)
{
    char path[256];
    tsv t;
    kt_en_lexicon *lex = NULL;
    kt_error e;
    snprintf(path, sizeof path, "tests/en/misaki_%s_words.tsv", dialect);
    assert_int_equal(tsv_load(path, &t), 0);
    assert_int_equal(kt_en_lexicon_open_lang(lang, &lex, &e), KT_OK);
    size_t same = 0, total = 0;
    for (size_t i = 0; i < t.n; i++) {
        if (!t.col[i][1] || strstr(t.col[i][1], "\xE2\x9D\x93"))
            continue; /* misaki's lexicon has no answer (its fallback would read it) */
        char *ps = kt_en_word(lex, t.col[i][0]);
        total++;
        if (ps && !strcmp(ps, t.col[i][1]))
            same++;
        else if (getenv("KT_EN_VERBOSE"))
            printf("  %s: %s | misaki %s\n", t.col[i][0], ps ? ps : "(none)", t.col[i][1]);
        free(ps);
    }
    printf("en-%s words identical to misaki: %zu/%zu (%.1f%%)\n", dialect, same, total, 100.0 * same / total);
    assert_true(total >= 300);
    assert_true(same >= goal * total);
    kt_en_lexicon_close(lex);
    free(t.buf);
}

static void check_sentences(const char *dialect, const char *lang, size_t goal_same, double goal_per)
{
    char path[256];
    tsv t;
    kt_error e;
    static uint32_t a[8192], b[8192];
    snprintf(path, sizeof path, "tests/en/misaki_%s_sentences.tsv", dialect);
    assert_int_equal(tsv_load(path, &t), 0);
    size_t same = 0, total = 0, dist = 0, len = 0;
    for (size_t i = 0; i < t.n; i++) {
        if (!t.col[i][1] || strstr(t.col[i][1], "\xE2\x9D\x93"))
            continue;
        char *ps = NULL;
        assert_int_equal(kt_g2p_phonemize(t.col[i][0], lang, NULL, &ps, NULL, &e), KT_OK);
        total++;
        if (!strcmp(ps, t.col[i][1]))
            same++;
        else if (getenv("KT_EN_VERBOSE"))
            printf("  %s\n    kt     %s\n    misaki %s\n", t.col[i][0], ps, t.col[i][1]);
        size_t na = unstressed(ps, a, 8192), nb = unstressed(t.col[i][1], b, 8192);
        dist += edit_distance(a, na, b, nb);
        len += nb;
        free(ps);
    }
    double per = (double)dist / (double)len;
    printf("en-%s sentences identical to misaki: %zu/%zu, phoneme error rate (stress ignored) %.4f\n", dialect, same,
           total, per);
    assert_true(total >= 60);
    assert_true(same >= goal_same);
    assert_true(per <= goal_per);
    free(t.buf);
}

static void test_words_us(void **state)
{
    (void)state;
    check_words("us", "en-us", 0.97);
}

static void test_words_gb(void **state)
{
    (void)state;
    check_words("gb", "en-gb", 0.97);
}

static void test_sentences_us(void **state)
{
    (void)state;
    check_sentences("us", "en-us", 40, 0.02);
}

static void test_sentences_gb(void **state)
{
    (void)state;
    check_sentences("gb", "en-gb", 40, 0.02);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words_us),
        cmocka_unit_test(test_words_gb),
        cmocka_unit_test(test_sentences_us),
        cmocka_unit_test(test_sentences_gb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
