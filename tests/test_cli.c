/* test_cli.c - the tools' command-line layer: the option parser (flags, values, NAME=VALUE, "--",
 * operands, unknown options, a missing value), the help lines it prints, numbers, text input,
 * and kt_tts's progress choice and JSON summary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "kt/cli.h"
#include "kt/tts_cli.h"

enum { O_MODEL, O_QUIET, O_PROGRESS, O_SPEED, N_OPTS };

static const kt_cli_option opts[N_OPTS] = {
    {"-m", "--model", KT_CLI_VALUE, "FILE", "weights\nsecond line"},
    {"-q", "--quiet", KT_CLI_FLAG, NULL, "no progress"},
    {NULL, "--progress", KT_CLI_ATTACHED, "MODE", "bar, plain or none"},
    {NULL, "--speed", KT_CLI_VALUE, "X", "a rate"},
};

/* Runs the parser over args (argv[0] is the tool) and writes "k:value" per result into out. */
static void walk(char **args, int argc, char *out, size_t cap)
{
    kt_cli_parser p = {argc, args, 1, 0};
    const char *v;
    int k;
    out[0] = '\0';
    while ((k = kt_cli_next(&p, opts, N_OPTS, &v)) != KT_CLI_END) {
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "%d:%s ", k, v ? v : "-");
        if (k == KT_CLI_UNKNOWN || k == KT_CLI_MISSING)
            break;
    }
}

static void test_combined(void **state)
{
    (void)state;
    char *args[] = {"kt", "-m", "a.pth", "hello", "-q", "--progress=bar", "--speed", "-1", "-", "--", "-q", "--"};
    char out[512];
    walk(args, 12, out, sizeof out);
    assert_string_equal(out, "0:a.pth -2:hello 1:- 2:bar 3:-1 -2:- -2:-q -2:-- ");
}

static void test_long_and_short_names(void **state)
{
    (void)state;
    char *args[] = {"kt", "--model", "x", "--quiet", "--progress=", "--model", "--quiet"};
    char out[256];
    walk(args, 7, out, sizeof out);
    assert_string_equal(out, "0:x 1:- 2: 0:--quiet ");
}

static void test_unknown_option(void **state)
{
    (void)state;
    char *a1[] = {"kt", "-q", "--nope", "-q"}, *a2[] = {"kt", "--model=x"}, *a3[] = {"kt", "--progress", "bar"},
         *a4[] = {"kt", "-mx"};
    char out[256];
    walk(a1, 4, out, sizeof out);
    assert_string_equal(out, "1:- -3:--nope ");
    walk(a2, 2, out, sizeof out); /* NAME=VALUE only for KT_CLI_ATTACHED */
    assert_string_equal(out, "-3:--model=x ");
    walk(a3, 3, out, sizeof out); /* an attached option alone names nothing */
    assert_string_equal(out, "-3:--progress ");
    walk(a4, 2, out, sizeof out);
    assert_string_equal(out, "-3:-mx ");
}

static void test_missing_value(void **state)
{
    (void)state;
    char *args[] = {"kt", "text", "--speed"};
    char out[256];
    walk(args, 3, out, sizeof out);
    assert_string_equal(out, "-2:text -4:--speed ");
}

static void test_help_lines(void **state)
{
    (void)state;
    char buf[1024] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    assert_non_null(f);
    kt_cli_print_options(f, opts, N_OPTS, 23);
    fclose(f);
    assert_string_equal(buf, "  -m, --model FILE     weights\n"
                             "                       second line\n"
                             "  -q, --quiet          no progress\n"
                             "      --progress=MODE  bar, plain or none\n"
                             "      --speed X        a rate\n");
    memset(buf, 0, sizeof buf);
    f = fmemopen(buf, sizeof buf - 1, "w");
    kt_cli_print_options(f, opts, 1, 8); /* a name wider than the column: one space */
    fclose(f);
    assert_string_equal(buf, "  -m, --model FILE weights\n        second line\n");
}

static void test_numbers(void **state)
{
    (void)state;
    const kt_cli_number_rule seed = {0, 4294967295.0, 1, "seed"}, speed = {0.1f, 10.0f, 0, "speed"};
    double x = -7;
    assert_int_equal(kt_cli_number("42", &seed, &x), 0);
    assert_true(x == 42);
    assert_int_equal(kt_cli_number("4294967295", &seed, &x), 0);
    const char *bad_seed[] = {"", "1.5", "-1", "4294967296", "12x", "nan", "inf", " ", "1e999"};
    for (size_t i = 0; i < sizeof bad_seed / sizeof bad_seed[0]; i++)
        assert_int_equal(kt_cli_number(bad_seed[i], &seed, &x), -1);
    assert_true(x == 4294967295.0); /* unchanged by a bad value */
    assert_int_equal(kt_cli_number("1.25", &speed, &x), 0);
    assert_true(x == 1.25);
    assert_int_equal(kt_cli_number("0.1", &speed, &x), -1); /* below 0.1f, the float the range holds */
    assert_int_equal(kt_cli_number("10.5", &speed, &x), -1);
}

static void test_append_word(void **state)
{
    (void)state;
    char *t = NULL;
    assert_int_equal(kt_cli_append_word(&t, ""), 0);
    assert_string_equal(t, "");
    assert_int_equal(kt_cli_append_word(&t, "Hello"), 0);
    assert_int_equal(kt_cli_append_word(&t, "world."), 0);
    assert_string_equal(t, "Hello world.");
    free(t);
}

static void test_read_text(void **state)
{
    (void)state;
    char path[] = "/tmp/kt_test_cli_XXXXXX", *t = NULL;
    kt_error e;
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "two\nlines\0after", 15), 15);
    close(fd);
    assert_int_equal(kt_cli_read_text(path, &t, &e), KT_OK);
    assert_string_equal(t, "two\nlines"); /* up to a NUL byte */
    free(t);
    unlink(path);
    assert_int_equal(kt_cli_read_text(path, &t, &e), KT_EIO);
    assert_null(t);
    assert_non_null(strstr(e.msg, ": cannot open: "));
}

static void test_progress_choose(void **state)
{
    (void)state;
    kt_tts_progress_mode m = KT_TTS_PROGRESS_BAR;
    assert_int_equal(kt_tts_progress_choose("plain", 0, &m), 0);
    assert_int_equal(m, KT_TTS_PROGRESS_PLAIN);
    assert_int_equal(kt_tts_progress_choose("bar", 1, &m), 0);
    assert_int_equal(m, KT_TTS_PROGRESS_NONE);
    assert_int_equal(kt_tts_progress_choose("none", 0, &m), 0);
    assert_int_equal(m, KT_TTS_PROGRESS_NONE);
    assert_int_equal(kt_tts_progress_choose("fast", 1, &m), -1);
    assert_int_equal(kt_tts_progress_choose("", 0, &m), -1);
    assert_int_equal(kt_tts_progress_choose(NULL, 0, &m), 0);
    assert_int_equal(m, isatty(2) ? KT_TTS_PROGRESS_BAR : KT_TTS_PROGRESS_NONE);
}

static void test_summary_json(void **state)
{
    (void)state;
    kt_tts_watch w = {.tool = "kt-test", .mode = KT_TTS_PROGRESS_NONE};
    kt_tts_chunk pause = {0}, c = {0};
    c.n_tokens = 7, c.count = 1, c.seconds = 0.5;
    assert_int_equal(kt_tts_watch_progress(&w, 0, 1), 0);
    assert_int_equal(kt_tts_watch_audio(&w, &pause), 0); /* a pause is not a chunk */
    assert_int_equal(kt_tts_watch_audio(&w, &c), 0);
    assert_int_equal(w.n_chunks, 1);
    kt_tts_run_info info = {"out.wav", NULL, 1, 1.5, 7, 2};
    kt_tts_stats st = {0};
    st.samples = 48000, st.synthesis_seconds = 1.0, st.format = "wav", st.output_rate = 24000;
    char *s = kt_tts_summary_json(&info, &st, &w);
    assert_non_null(s);
    assert_null(strchr(s, '\n'));
    cJSON *j = cJSON_Parse(s);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "output")->valuestring, "out.wav");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "voice")));
    assert_string_equal(cJSON_GetObjectItem(j, "compute")->valuestring, "bf16");
    assert_true(cJSON_GetObjectItem(j, "seconds")->valuedouble == 2.0);
    assert_true(cJSON_GetObjectItem(j, "realtime_factor")->valuedouble == 0.5);
    assert_true(cJSON_GetObjectItem(j, "seed")->valuedouble == 7);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "chunk_seconds")), 1);
    assert_non_null(cJSON_GetObjectItem(j, "peak_rss_bytes"));
    assert_string_equal(j->child->string, "output"); /* the keys in their order */
    cJSON_Delete(j);
    free(s);
    kt_tts_watch_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_combined),     cmocka_unit_test(test_long_and_short_names),
        cmocka_unit_test(test_unknown_option), cmocka_unit_test(test_missing_value),
        cmocka_unit_test(test_help_lines),   cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_append_word),  cmocka_unit_test(test_read_text),
        cmocka_unit_test(test_progress_choose), cmocka_unit_test(test_summary_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
