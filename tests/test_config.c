/* test_config.c - config.json parsing: the real file, the embedded default, and malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kt/config.h"

/* A small but complete config; tests patch pieces of it. */
static const char *small_json(void)
{
    return "{\"istftnet\":{\"upsample_kernel_sizes\":[4,6],\"upsample_rates\":[2,3],"
           "\"gen_istft_hop_size\":5,\"gen_istft_n_fft\":20,"
           "\"resblock_dilation_sizes\":[[1,3],[1,3,5]],\"resblock_kernel_sizes\":[3,7],"
           "\"upsample_initial_channel\":16},"
           "\"dim_in\":8,\"dropout\":0.2,\"hidden_dim\":16,\"max_conv_dim\":16,\"max_dur\":50,"
           "\"multispeaker\":true,\"n_layer\":1,\"n_mels\":80,\"n_token\":20,\"style_dim\":8,"
           "\"text_encoder_kernel_size\":5,\"decoder_dim\":32,"
           "\"plbert\":{\"hidden_size\":16,\"num_attention_heads\":2,\"intermediate_size\":32,"
           "\"max_position_embeddings\":64,\"num_hidden_layers\":2,\"dropout\":0.1,\"embedding_size\":8},"
           "\"vocab\":{\"a\":3,\"\xc9\x99\":7,\" \":1,\"\xe2\x80\x94\":2}}";
}

static void check_real(const kt_config *c)
{
    assert_int_equal(c->n_token, 178);
    assert_int_equal(c->vocab_count, 114);
    assert_int_equal(c->hidden_dim, 512);
    assert_int_equal(c->style_dim, 128);
    assert_int_equal(c->n_layer, 3);
    assert_int_equal(c->max_dur, 50);
    assert_int_equal(c->dim_in, 64);
    assert_int_equal(c->n_mels, 80);
    assert_int_equal(c->text_encoder_kernel_size, 5);
    assert_true(c->multispeaker);
    assert_int_equal(c->decoder_dim, 1024);
    assert_int_equal(c->decoder_asr_res_dim, 64);
    assert_int_equal(c->plbert.hidden_size, 768);
    assert_int_equal(c->plbert.num_attention_heads, 12);
    assert_int_equal(c->plbert.intermediate_size, 2048);
    assert_int_equal(c->plbert.num_hidden_layers, 12);
    assert_int_equal(c->plbert.embedding_size, 128);
    assert_int_equal(c->istftnet.n_upsamples, 2);
    assert_int_equal(c->istftnet.upsample_rates[0], 10);
    assert_int_equal(c->istftnet.upsample_rates[1], 6);
    assert_int_equal(c->istftnet.upsample_kernel_sizes[0], 20);
    assert_int_equal(c->istftnet.upsample_kernel_sizes[1], 12);
    assert_int_equal(c->istftnet.n_resblock_kernels, 3);
    assert_int_equal(c->istftnet.resblock_kernel_sizes[2], 11);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(c->istftnet.n_dilations[i], 3);
        assert_int_equal(c->istftnet.resblock_dilation_sizes[i][2], 5);
    }
    assert_int_equal(c->istftnet.gen_istft_n_fft, 20);
    assert_int_equal(c->istftnet.gen_istft_hop_size, 5);
    assert_int_equal(kt_config_vocab_id(c, ';'), 1);
    assert_int_equal(kt_config_vocab_id(c, 0x2014), 9);  /* em dash */
    assert_int_equal(kt_config_vocab_id(c, 0x0303), 17); /* combining tilde */
    assert_int_equal(kt_config_vocab_id(c, 'A'), 24);
    assert_int_equal(kt_config_vocab_id(c, 'g'), -1);    /* ASCII g is not in the vocab (ɡ is) */
    assert_int_equal(kt_config_vocab_id(c, 0x10FFFF), -1);
    for (size_t i = 1; i < c->vocab_count; i++)
        assert_true(c->vocab[i - 1].codepoint < c->vocab[i].codepoint);
}

static void test_real_file(void **state)
{
    (void)state;
    const char *shared = getenv("KT_SHARED") ? getenv("KT_SHARED") : "../shared";
    char path[1024];
    snprintf(path, sizeof path, "%s/kokoro/config.json", shared);
    if (access(path, R_OK) != 0) {
        print_message("skipped: %s is absent\n", path);
        skip();
    }
    kt_config c;
    kt_error e;
    assert_int_equal(kt_config_load(path, &c, &e), KT_OK);
    check_real(&c);
    kt_config_free(&c);
}

static void test_default(void **state)
{
    (void)state;
    kt_config c;
    kt_error e;
    assert_int_equal(kt_config_default(&c, &e), KT_OK);
    check_real(&c);
    kt_config_free(&c);
}

static void test_small(void **state)
{
    (void)state;
    kt_config c;
    kt_error e;
    const char *j = small_json();
    assert_int_equal(kt_config_parse(j, strlen(j), &c, &e), KT_OK);
    assert_int_equal(c.plbert.embedding_size, 8);
    assert_int_equal(c.decoder_dim, 32);
    assert_int_equal(c.decoder_asr_res_dim, 64); /* absent: default */
    assert_int_equal(c.istftnet.n_dilations[0], 2);
    assert_int_equal(c.istftnet.n_dilations[1], 3);
    assert_int_equal(c.vocab_count, 4);
    assert_int_equal(kt_config_vocab_id(&c, 0x0259), 7);
    assert_int_equal(kt_config_vocab_id(&c, 0x2014), 2);
    assert_int_equal(kt_config_vocab_id(&c, ' '), 1);
    assert_int_equal(kt_config_vocab_id(&c, 'b'), -1);
    kt_config_free(&c);
    kt_config_free(&c); /* safe twice */
}

/* Replaces the first occurrence of from with to in the small config and expects a failure mentioning want. */
static void expect_fail(const char *from, const char *to, const char *want)
{
    const char *j = small_json();
    const char *at = strstr(j, from);
    assert_non_null(at);
    char buf[4096];
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - j), j, to, at + strlen(from));
    kt_config c;
    kt_error e;
    kt_error_clear(&e);
    assert_int_not_equal(kt_config_parse(buf, strlen(buf), &c, &e), KT_OK);
    if (!strstr(e.msg, want))
        fail_msg("message \"%s\" does not mention \"%s\"", e.msg, want);
    assert_null(c.vocab);
}

static void test_malformed(void **state)
{
    (void)state;
    kt_config c;
    kt_error e;
    assert_int_equal(kt_config_parse("{\"n_token\": ", 12, &c, &e), KT_EFORMAT);
    assert_non_null(strstr(e.msg, "JSON"));
    assert_int_equal(kt_config_parse("[1,2]", 5, &c, &e), KT_EFORMAT);
    /* length is honoured: the text is cut before its end */
    const char *j = small_json();
    assert_int_equal(kt_config_parse(j, strlen(j) - 1, &c, &e), KT_EFORMAT);
}

static void test_missing_keys(void **state)
{
    (void)state;
    expect_fail("\"n_token\":20,", "", "\"n_token\"");
    expect_fail("\"hidden_size\":16,", "", "\"plbert.hidden_size\"");
    expect_fail("\"gen_istft_n_fft\":20,", "", "\"istftnet.gen_istft_n_fft\"");
    expect_fail("\"resblock_dilation_sizes\"", "\"x\"", "\"istftnet.resblock_dilation_sizes\"");
    expect_fail("\"vocab\"", "\"vocabulary\"", "\"vocab\"");
    expect_fail("\"multispeaker\":true,", "", "\"multispeaker\"");
}

static void test_mistyped(void **state)
{
    (void)state;
    expect_fail("\"n_token\":20", "\"n_token\":\"20\"", "\"n_token\"");
    expect_fail("\"style_dim\":8", "\"style_dim\":8.5", "\"style_dim\"");
    expect_fail("\"upsample_rates\":[2,3]", "\"upsample_rates\":[2]", "upsample_kernel_sizes");
    expect_fail("\"resblock_dilation_sizes\":[[1,3],[1,3,5]]", "\"resblock_dilation_sizes\":[[1,3]]",
                "resblock_dilation_sizes");
    expect_fail("\"multispeaker\":true", "\"multispeaker\":1", "\"multispeaker\"");
    expect_fail("\"num_attention_heads\":2", "\"num_attention_heads\":3", "num_attention_heads");
}

static void test_vocab_errors(void **state)
{
    (void)state;
    /* two code points (ASCII + combining tilde) in one key */
    expect_fail("\"a\":3", "\"a\xcc\x83\":3", "one code point");
    expect_fail("\"a\":3", "\"\":3", "one code point");
    expect_fail("\"a\":3", "\"\xff\":3", "one code point"); /* invalid UTF-8 */
    expect_fail("\"a\":3", "\"\xc0\xa0\":3", "one code point"); /* overlong */
    expect_fail("\"a\":3", "\"a\":20", "n_token");  /* id out of range */
    expect_fail("\"a\":3", "\"a\":0", "n_token");   /* 0 is the padding id */
    expect_fail("\"a\":3", "\" \":3", "duplicate");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_file),   cmocka_unit_test(test_default),
        cmocka_unit_test(test_small),       cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_missing_keys), cmocka_unit_test(test_mistyped),
        cmocka_unit_test(test_vocab_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
