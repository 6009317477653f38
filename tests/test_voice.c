/* test_voice.c - blend expressions, weights, mixing, slerp, timbre/prosody, interpolation, packs. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kt/voice.h"

/* Parses one argument string; asserts success and returns the expression. */
static kt_blend_expr parse1(const char *s)
{
    kt_blend_expr e;
    kt_error err = {0};
    const char *args[1] = {s};
    kt_status st = kt_blend_parse(args, 1, &e, &err);
    if (st)
        fail_msg("parse '%s' failed: %s", s, err.msg);
    return e;
}

/* Parses s expecting failure; asserts the message holds each expected fragment. */
static void parse_fails(const char *s, const char *frag1, const char *frag2)
{
    kt_blend_expr e;
    kt_error err = {0};
    const char *args[1] = {s};
    kt_status st = kt_blend_parse(args, 1, &e, &err);
    if (st == KT_OK)
        fail_msg("parse '%s' should fail", s);
    assert_int_equal(st, KT_EINVAL);
    if (!strstr(err.msg, frag1) || (frag2 && !strstr(err.msg, frag2)))
        fail_msg("'%s': message '%s' lacks '%s' / '%s'", s, err.msg, frag1, frag2 ? frag2 : "");
    assert_null(e.terms);
    assert_int_equal(e.count, 0);
}

static void check_term(const kt_blend_expr *e, size_t i, const char *source, double w)
{
    assert_true(i < e->count);
    assert_string_equal(e->terms[i].source, source);
    assert_true(e->terms[i].weight == w);
}

static void test_parse_colon_weights(void **state)
{
    (void)state;
    kt_blend_expr e;
    const char *args[2] = {"af_heart:0.6", "am_adam:0.4"};
    kt_error err = {0};
    assert_int_equal(kt_blend_parse(args, 2, &e, &err), KT_OK);
    assert_int_equal(e.count, 2);
    check_term(&e, 0, "af_heart", 0.6);
    check_term(&e, 1, "am_adam", 0.4);
    assert_string_equal(e.terms[0].text, "af_heart:0.6");
    kt_blend_expr_free(&e);
    e = parse1("a:60,b:40");
    check_term(&e, 0, "a", 60);
    check_term(&e, 1, "b", 40);
    kt_blend_expr_free(&e);
    e = parse1("a:1e-3 b:-2.5E+1");
    check_term(&e, 0, "a", 1e-3);
    check_term(&e, 1, "b", -25);
    kt_blend_expr_free(&e);
}

static void test_parse_paren_plus_minus_comma(void **state)
{
    (void)state;
    kt_blend_expr e = parse1("af_bella(2)+af_sky(1)");
    assert_int_equal(e.count, 2);
    check_term(&e, 0, "af_bella", 2);
    check_term(&e, 1, "af_sky", 1);
    assert_string_equal(e.terms[1].text, "+af_sky(1)");
    kt_blend_expr_free(&e);
    e = parse1("a-b");
    assert_int_equal(e.count, 2);
    check_term(&e, 0, "a", 1);
    check_term(&e, 1, "b", -1);
    kt_blend_expr_free(&e);
    e = parse1("a(3) - b(0.5)");
    check_term(&e, 1, "b", -0.5);
    kt_blend_expr_free(&e);
    e = parse1("a:0.6-b:0.4");
    check_term(&e, 0, "a", 0.6);
    check_term(&e, 1, "b", -0.4);
    kt_blend_expr_free(&e);
    e = parse1("a,b, c");
    assert_int_equal(e.count, 3);
    check_term(&e, 2, "c", 1);
    kt_blend_expr_free(&e);
}

static void test_parse_paths_and_members(void **state)
{
    (void)state;
    kt_blend_expr e = parse1("./my-voice.pt:0.5 dir/x-y.safetensors(2)");
    check_term(&e, 0, "./my-voice.pt", 0.5);
    check_term(&e, 1, "dir/x-y.safetensors", 2);
    kt_blend_expr_free(&e);
    e = parse1("voices-v1.0.bin:af_heart:0.3 voices.npz:am_adam voices.bin:#2(4)");
    assert_int_equal(e.count, 3);
    check_term(&e, 0, "voices-v1.0.bin:af_heart", 0.3);
    check_term(&e, 1, "voices.npz:am_adam", 1);
    check_term(&e, 2, "voices.bin:#2", 4);
    kt_blend_expr_free(&e);
    e = parse1("v.npz:a-v.npz:b");
    check_term(&e, 0, "v.npz:a", 1);
    check_term(&e, 1, "v.npz:b", -1);
    kt_blend_expr_free(&e);
}

static void test_parse_malformed(void **state)
{
    (void)state;
    parse_fails("", "no voices", NULL);
    parse_fails("   ", "no voices", NULL);
    parse_fails("a:abc", "'a:abc'", "not a finite number");
    parse_fails("a:nan", "'a:nan'", "not a finite number");
    parse_fails("a:inf b", "'a:inf'", "not a finite number");
    parse_fails("a(1e999)", "a(1e999)", "not a finite number");
    parse_fails("a(x)", "'a(x)'", "not a finite number");
    parse_fails("a:", "'a:'", "empty weight");
    parse_fails("a()", "'a()'", "empty weight");
    parse_fails("a(2", "'a(2'", "missing ')'");
    parse_fails("a(2 b(3)", "'a(2'", "missing ')'");
    parse_fails("a(2)b", "'a(2)b'", "unexpected text");
    parse_fails("a)", "'a)'", "unbalanced");
    parse_fails("a:0.5:0.3", "a:0.5:0.3", "not a finite number");
    parse_fails("a,,b", "malformed term", "empty term");
    parse_fails(",a", "malformed term", "empty term");
    parse_fails("a+", "'+'", "missing voice after");
    parse_fails("a -", "'-'", "missing voice after");
    parse_fails("a,", "ends with ','", NULL);
    parse_fails("a+-b", "'+-b'", "two operators");
    parse_fails("(2)", "'(2)'", "missing voice name");
    parse_fails(":0.5", "':0.5'", "missing voice name");
    parse_fails("a:(2)", "a:(2)", "empty weight");
}

static kt_blend_expr weighted(const char *s, int normalize, kt_status want, const char *frag)
{
    kt_blend_expr e = parse1(s);
    kt_error err = {0};
    kt_status st = kt_blend_weights(&e, normalize, &err);
    assert_int_equal(st, want);
    if (frag && !strstr(err.msg, frag))
        fail_msg("'%s': message '%s' lacks '%s'", s, err.msg, frag);
    return e;
}

static void test_weights(void **state)
{
    (void)state;
    kt_blend_expr e = weighted("a:60,b:40", 1, KT_OK, NULL);
    assert_true(e.terms[0].used == 60.0 / 100.0 && e.terms[1].used == 40.0 / 100.0);
    kt_blend_expr_free(&e);
    e = weighted("a:60,b:40", 0, KT_OK, NULL);
    assert_true(e.terms[0].used == 60.0 && e.terms[1].used == 40.0);
    kt_blend_expr_free(&e);
    e = weighted("a,b,c", 1, KT_OK, NULL);
    for (size_t i = 0; i < 3; i++)
        assert_true(e.terms[i].used == 1.0 / 3.0);
    kt_blend_expr_free(&e);
    e = weighted("a(3)-b", 1, KT_OK, NULL);
    assert_true(e.terms[0].used == 1.5 && e.terms[1].used == -0.5);
    kt_blend_expr_free(&e);
    e = weighted("a-b", 1, KT_EINVAL, "sum to 0");
    kt_blend_expr_free(&e);
    e = weighted("a-b", 0, KT_OK, NULL);
    assert_true(e.terms[1].used == -1.0);
    kt_blend_expr_free(&e);
    e = weighted("a:0 b:0", 0, KT_EINVAL, "all weights are zero");
    kt_blend_expr_free(&e);
    e = weighted("a:0 b:0", 1, KT_EINVAL, "all weights are zero");
    kt_blend_expr_free(&e);
    e = weighted("a:1e308 b:1e308", 1, KT_EINVAL, "overflows");
    kt_blend_expr_free(&e);
}

/* A deterministic pseudo-random voice. */
static kt_voice make_voice(int64_t dim, unsigned seed)
{
    kt_voice v = {KT_VOICE_ROWS, dim, calloc((size_t)(KT_VOICE_ROWS * dim), sizeof(float))};
    assert_non_null(v.data);
    uint32_t x = seed * 2654435761u + 1;
    for (int64_t i = 0; i < v.rows * v.dim; i++) {
        x = x * 1664525u + 1013904223u;
        v.data[i] = (float)((double)(x >> 8) / (double)(1u << 24) - 0.5);
    }
    return v;
}

static double row_norm(const float *r, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)r[i] * r[i];
    return sqrt(s);
}

static void test_mix(void **state)
{
    (void)state;
    kt_voice a = make_voice(256, 1), b = make_voice(256, 2), c = make_voice(128, 3), out;
    const kt_voice *v[2] = {&a, &b};
    double w[2] = {0.3, 0.7};
    kt_error err = {0};
    assert_int_equal(kt_voice_mix(v, w, 2, &out, &err), KT_OK);
    for (int64_t i = 0; i < out.rows * out.dim; i += 97)
        assert_true(out.data[i] == (float)(0.0 + 0.3 * (double)a.data[i] + 0.7 * (double)b.data[i]));
    kt_voice_free(&out);
    v[1] = &c;
    assert_int_equal(kt_voice_mix(v, w, 2, &out, &err), KT_EINVAL);
    assert_non_null(strstr(err.msg, "differ in shape"));
    assert_null(out.data);
    kt_voice_free(&a);
    kt_voice_free(&b);
    kt_voice_free(&c);
}

static void test_slerp(void **state)
{
    (void)state;
    kt_voice a = make_voice(256, 4), b = make_voice(256, 5), o0, o1, oh;
    kt_error err = {0};
    assert_int_equal(kt_voice_slerp(&a, &b, 0.0, &o0, &err), KT_OK);
    assert_int_equal(kt_voice_slerp(&a, &b, 1.0, &o1, &err), KT_OK);
    assert_int_equal(kt_voice_slerp(&a, &b, 0.5, &oh, &err), KT_OK);
    for (int64_t i = 0; i < a.rows * a.dim; i++) {
        assert_true(fabs(o0.data[i] - a.data[i]) <= 1e-6);
        assert_true(fabs(o1.data[i] - b.data[i]) <= 1e-6);
    }
    for (int64_t r = 0; r < a.rows; r++) {
        double na = row_norm(a.data + r * 256, 256), nb = row_norm(b.data + r * 256, 256);
        double nh = row_norm(oh.data + r * 256, 256);
        assert_true(fabs(nh - 0.5 * (na + nb)) <= 1e-5 * (na + nb));
        /* halfway: equal angle to both rows */
        double da = 0, db = 0;
        for (int i = 0; i < 256; i++) {
            da += (double)oh.data[r * 256 + i] * a.data[r * 256 + i];
            db += (double)oh.data[r * 256 + i] * b.data[r * 256 + i];
        }
        assert_true(fabs(da / na - db / nb) <= 1e-4 * nh);
    }
    kt_voice_free(&oh);
    /* parallel rows fall back to lerp: b = 2a gives 1.5a at t=0.5 */
    for (int64_t i = 0; i < a.rows * a.dim; i++)
        b.data[i] = 2.0f * a.data[i];
    assert_int_equal(kt_voice_slerp(&a, &b, 0.5, &oh, &err), KT_OK);
    for (int64_t i = 0; i < a.rows * a.dim; i += 31)
        assert_true(fabs(oh.data[i] - 1.5 * a.data[i]) <= 1e-6);
    kt_voice_free(&oh);
    assert_int_equal(kt_voice_slerp(&a, &b, NAN, &oh, &err), KT_EINVAL);
    kt_voice_free(&a);
    kt_voice_free(&b);
    kt_voice_free(&o0);
    kt_voice_free(&o1);
}

static void test_split_and_interp(void **state)
{
    (void)state;
    kt_voice a = make_voice(256, 6), b = make_voice(256, 7), out, odd = make_voice(255, 8), series[5];
    kt_error err = {0};
    assert_int_equal(kt_voice_split(&a, &b, &out, &err), KT_OK);
    for (int64_t r = 0; r < a.rows; r++) {
        assert_memory_equal(out.data + r * 256, a.data + r * 256, 128 * sizeof(float));
        assert_memory_equal(out.data + r * 256 + 128, b.data + r * 256 + 128, 128 * sizeof(float));
    }
    kt_voice_free(&out);
    assert_int_equal(kt_voice_split(&odd, &odd, &out, &err), KT_EINVAL);
    memset(series, 0, sizeof series);
    assert_int_equal(kt_voice_interp(&a, &b, 5, 0, series, &err), KT_OK);
    assert_memory_equal(series[0].data, a.data, 510 * 256 * sizeof(float));
    assert_memory_equal(series[4].data, b.data, 510 * 256 * sizeof(float));
    for (int64_t i = 0; i < 510 * 256; i += 101)
        assert_true(series[2].data[i] == (float)(0.5 * (double)a.data[i] + 0.5 * (double)b.data[i]));
    for (int i = 0; i < 5; i++)
        kt_voice_free(&series[i]);
    assert_int_equal(kt_voice_interp(&a, &b, 1, 0, series, &err), KT_EINVAL);
    kt_voice_free(&a);
    kt_voice_free(&b);
    kt_voice_free(&odd);
}

static void test_from_tensor(void **state)
{
    (void)state;
    kt_tensor t;
    kt_voice v;
    kt_error err = {0};
    int64_t good[3] = {510, 1, 256}, flat[2] = {510, 256}, bad[3] = {511, 1, 256};
    assert_int_equal(kt_tensor_alloc(&t, KT_F32, 3, good, &err), KT_OK);
    assert_int_equal(kt_voice_from_tensor(&t, &v, &err), KT_OK);
    assert_int_equal(v.dim, 256);
    kt_voice_free(&v);
    ((float *)t.owned)[300] = NAN;
    assert_int_equal(kt_voice_from_tensor(&t, &v, &err), KT_EFORMAT);
    assert_non_null(strstr(err.msg, "non-finite"));
    kt_tensor_release(&t);
    assert_int_equal(kt_tensor_alloc(&t, KT_F16, 2, flat, &err), KT_OK);
    assert_int_equal(kt_voice_from_tensor(&t, &v, &err), KT_OK);
    kt_voice_free(&v);
    kt_tensor_release(&t);
    assert_int_equal(kt_tensor_alloc(&t, KT_F32, 3, bad, &err), KT_OK);
    assert_int_equal(kt_voice_from_tensor(&t, &v, &err), KT_EFORMAT);
    assert_non_null(strstr(err.msg, "[511,1,256]"));
    kt_tensor_release(&t);
    assert_int_equal(kt_tensor_alloc(&t, KT_I32, 2, flat, &err), KT_OK);
    assert_int_equal(kt_voice_from_tensor(&t, &v, &err), KT_EFORMAT);
    kt_tensor_release(&t);
}

static void test_resolve(void **state)
{
    (void)state;
    char dir[] = "/tmp/kt_test_voiceXXXXXX", path[128], *out = NULL;
    kt_error err = {0};
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/zz_voice.safetensors", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(kt_voice_resolve("zz_voice", dir, &out, &err), KT_OK);
    assert_string_equal(out, path);
    free(out);
    assert_int_equal(kt_voice_resolve("nobody", dir, &out, &err), KT_ENOTFOUND);
    assert_non_null(strstr(err.msg, "unknown voice 'nobody'"));
    assert_null(out);
    assert_int_equal(kt_voice_resolve("x/y.pt", dir, &out, &err), KT_OK);
    assert_string_equal(out, "x/y.pt");
    free(out);
    unlink(path);
    rmdir(dir);
}

static void test_names(void **state)
{
    (void)state;
    char buf[128];
    static const char *const spec[][2] = {
        {"af_heart", "af_heart"},
        {"voices/af_heart.pt", "af_heart"},
        {"m.safetensors:voices.bf_emma", "bf_emma"},
        {"voices-v1.0.bin:am_adam:0.3 af_heart:0.7", "am_adam"},
        {"af_bella(2)+af_sky(1)", "af_bella"},
    };
    for (size_t i = 0; i < sizeof spec / sizeof spec[0]; i++) {
        kt_voice_spec_name(spec[i][0], buf, sizeof buf);
        if (strcmp(buf, spec[i][1]))
            fail_msg("kt_voice_spec_name('%s') = '%s', want '%s'", spec[i][0], buf, spec[i][1]);
    }
    static const char *const member[][2] = {
        {"af_heart", "af_heart"},
        {"af_heart:0.6 am_adam:0.4", "af_heart_0.6_am_adam_0.4"},
        {"af_bella(2)+af_sky(1)", "af_bella_2_af_sky_1"},
        {"af_heart-am_adam", "af_heart_minus_am_adam"},
        {"voices/af_heart.pt:0.5 m.safetensors:voices.am_adam:0.5", "af_heart_0.5_am_adam_0.5"},
        {"voices.bin:#3", "voice_3"},
        {"::", "voice"},
    };
    for (size_t i = 0; i < sizeof member / sizeof member[0]; i++) {
        const char *args[1] = {member[i][0]};
        kt_voice_member_name(args, 1, buf, sizeof buf);
        if (strcmp(buf, member[i][1]))
            fail_msg("kt_voice_member_name('%s') = '%s', want '%s'", member[i][0], buf, member[i][1]);
    }
    kt_blend_expr e = parse1("m.safetensors:voices.af_heart:0.3 x.pth:am_adam k.pt:bf_emma(2) y.npy:z");
    assert_int_equal(e.count, 4);
    check_term(&e, 0, "m.safetensors:voices.af_heart", 0.3);
    check_term(&e, 1, "x.pth:am_adam", 1);
    check_term(&e, 2, "k.pt:bf_emma", 2);
    check_term(&e, 3, "y.npy:z", 1);
    kt_blend_expr_free(&e);
}

/* A model file with an embedded voice: found by name after the folder, as FILE:NAME and FILE:voices.NAME. */
static void test_model_voices(void **state)
{
    (void)state;
    char dir[] = "/tmp/kt_test_voiceXXXXXX", model[128], spec[160], *out = NULL;
    kt_error err = {0};
    kt_voice v = {0}, got = {0};
    kt_tensor_list l = {0};
    assert_non_null(mkdtemp(dir));
    snprintf(model, sizeof model, "%s/m.safetensors", dir);
    v.rows = KT_VOICE_ROWS;
    v.dim = 4;
    v.data = calloc(KT_VOICE_ROWS * 4, sizeof *v.data);
    assert_non_null(v.data);
    for (int i = 0; i < KT_VOICE_ROWS * 4; i++)
        v.data[i] = (float)i / 100.0f;
    kt_tensor t = kt_voice_tensor(&v);
    assert_int_equal(kt_tensor_list_add(&l, "decoder.weight", &t, &err), KT_OK); /* another tensor */
    assert_int_equal(kt_tensor_list_add(&l, KT_VOICE_PREFIX "af_x", &t, &err), KT_OK);
    assert_int_equal(kt_safetensors_write(model, &l, NULL, 0, &err), KT_OK);
    kt_tensor_list_free(&l);
    assert_int_equal(kt_voice_resolve_in("af_x", dir, model, &out, &err), KT_OK);
    snprintf(spec, sizeof spec, "%s:voices.af_x", model);
    assert_string_equal(out, spec);
    free(out);
    assert_int_equal(kt_voice_resolve_in("af_y", dir, model, &out, &err), KT_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no voices.af_y in"));
    for (int k = 0; k < 2; k++) {
        snprintf(spec, sizeof spec, "%s:%saf_x", model, k ? "" : KT_VOICE_PREFIX);
        assert_int_equal(kt_voice_load(spec, &got, &err), KT_OK);
        assert_memory_equal(got.data, v.data, KT_VOICE_ROWS * 4 * sizeof(float));
        kt_voice_free(&got);
    }
    kt_voice_free(&v);
    unlink(model);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_colon_weights),
        cmocka_unit_test(test_parse_paren_plus_minus_comma),
        cmocka_unit_test(test_parse_paths_and_members),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_weights),
        cmocka_unit_test(test_mix),
        cmocka_unit_test(test_slerp),
        cmocka_unit_test(test_split_and_interp),
        cmocka_unit_test(test_from_tensor),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_model_voices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
