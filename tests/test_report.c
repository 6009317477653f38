/* test_report.c - number formatting, the component rule and statistics behind kt-inspect. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kt/report.h"

/* Expected strings are Python 3.11's repr() of the same doubles. */
static void test_double_repr_matches_python(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *py;
    } cases[] = {
        {0.1, "0.1"},         {100.0, "100.0"},
        {1e-05, "1e-05"},     {1e16, "1e+16"},
        {1e15, "1000000000000000.0"}, {123456789.0, "123456789.0"},
        {-0.004483, "-0.004483"}, {1.5e-300, "1.5e-300"},
        {-2.5, "-2.5"},       {1e22, "1e+22"},
        {0.0001, "0.0001"},   {0.00012345, "0.00012345"},
        {1234567.0, "1234567.0"}, {5e-324, "5e-324"},
        {1.7976931348623157e+308, "1.7976931348623157e+308"}, {-0.0, "-0.0"},
    };
    char buf[40];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kt_format_double_repr(cases[i].v, buf, sizeof buf);
        assert_string_equal(buf, cases[i].py);
    }
}

static void test_thousands(void **state)
{
    (void)state;
    char buf[32];
    kt_format_thousands(81763410, buf, sizeof buf);
    assert_string_equal(buf, "81,763,410");
    kt_format_thousands(999, buf, sizeof buf);
    assert_string_equal(buf, "999");
    kt_format_thousands(1000, buf, sizeof buf);
    assert_string_equal(buf, "1,000");
    kt_format_thousands(-1234567, buf, sizeof buf);
    assert_string_equal(buf, "-1,234,567");
    kt_format_thousands(0, buf, sizeof buf);
    assert_string_equal(buf, "0");
}

/* The rule applied to shared/kokoro/keys.tsv gives the spec's component table. */
static void test_component_rule_on_real_keys(void **state)
{
    (void)state;
    const char *shared = getenv("KT_SHARED") ? getenv("KT_SHARED") : "../shared";
    char path[512], line[1024];
    snprintf(path, sizeof path, "%s/kokoro/keys.tsv", shared);
    FILE *f = fopen(path, "r");
    if (!f) {
        print_message("SKIP: %s absent (no ../shared outside the workplace)\n", path);
        skip();
    }
    const char *names[] = {"BERT", "BERT_ENCODER", "TEXT_ENCODER", "DECODER", "PREDICTOR", "OTHER"};
    long keys[6] = {0}, params[6] = {0};
    assert_non_null(fgets(line, sizeof line, f)); /* header */
    while (fgets(line, sizeof line, f)) {
        char *tab1 = strchr(line, '\t');
        assert_non_null(tab1);
        *tab1 = '\0';
        char *tab2 = strchr(tab1 + 1, '\t');
        assert_non_null(tab2);
        long numel = strtol(tab2 + 1, NULL, 10);
        const char *c = kt_kokoro_component(line);
        for (int i = 0; i < 6; i++)
            if (strcmp(c, names[i]) == 0) {
                keys[i]++;
                params[i] += numel;
            }
    }
    fclose(f);
    /* figures from shared/spec/structure-report.md */
    long want_keys[6] = {25, 2, 54, 375, 92, 0};
    long want_params[6] = {6292480, 393728, 11520000, 53276190, 10281012, 0};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(keys[i], want_keys[i]);
        assert_int_equal(params[i], want_params[i]);
    }
}

static void test_stats_population_std_and_even_median(void **state)
{
    (void)state;
    float v[] = {4, 1, 3, 2, NAN};
    kt_tensor t = {.dtype = KT_F32, .ndim = 1, .shape = {5}, .stride = {1}, .data = v};
    kt_stats s;
    kt_error err;
    assert_int_equal(kt_tensor_stats(&t, 1, &s, &err), KT_OK);
    assert_int_equal(s.count, 4);
    assert_int_equal(s.nonfinite, 1);
    assert_true(s.min == 1 && s.max == 4);
    assert_true(s.mean == 2.5);
    assert_true(s.median == 2.5);                    /* mean of the two middle values */
    assert_true(s.std > 1.1180339 && s.std < 1.1180340); /* sqrt(1.25): ddof 0 */
}

static void test_stats_strided_view(void **state)
{
    (void)state;
    float v[] = {1, 100, 2, 100, 3, 100};
    kt_tensor t = {.dtype = KT_F32, .ndim = 1, .shape = {3}, .stride = {2}, .data = v};
    kt_stats s;
    assert_int_equal(kt_tensor_stats(&t, 1, &s, NULL), KT_OK);
    assert_true(s.max == 3 && s.median == 2 && s.count == 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_double_repr_matches_python),
        cmocka_unit_test(test_thousands),
        cmocka_unit_test(test_component_rule_on_real_keys),
        cmocka_unit_test(test_stats_population_std_and_even_median),
        cmocka_unit_test(test_stats_strided_view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
