/* test_convert.c - kt_convert on a small safetensors checkpoint: q8 with weight norm folded
 * (the records, the file's metadata, the quantized tensors its reader lists), the way back to
 * float32, and where each kind of error is reported (max_output, voices folder, output). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kt/checkpoint.h"
#include "kt/convert.h"
#include "kt/quant.h"

typedef struct {
    char dir[64], in[128], q8[128], back[128];
} paths;

/* What the per-tensor callback saw. */
typedef struct {
    char names[8][64], kept[8][16], after[8][16];
    size_t n, last_done, last_total;
    int folded;
} seen;

static void on_tensor(void *user, const kt_convert_record *r, size_t done, size_t total)
{
    seen *s = user;
    if (s->n < 8) {
        snprintf(s->names[s->n], sizeof s->names[0], "%s", r->name);
        snprintf(s->kept[s->n], sizeof s->kept[0], "%s", r->kept ? r->kept : "-");
        snprintf(s->after[s->n], sizeof s->after[0], "%s", r->after);
    }
    s->n++;
    s->last_done = done;
    s->last_total = total;
    s->folded += r->folded;
}

static void add(kt_tensor_list *l, const char *name, int ndim, const int64_t *shape, float scale)
{
    kt_tensor t;
    kt_error err;
    assert_int_equal(kt_tensor_alloc(&t, KT_F32, ndim, shape, &err), KT_OK);
    float *x = t.owned;
    for (int64_t i = 0; i < kt_tensor_numel(&t); i++)
        x[i] = scale * (float)((i * 37) % 23 - 11);
    assert_int_equal(kt_tensor_list_add(l, name, &t, &err), KT_OK);
}

static int setup(void **state)
{
    static paths p;
    kt_tensor_list l = {0};
    kt_error err;
    const int64_t w[2] = {40, 32}, b[1] = {40}, g[3] = {40, 1, 1}, v[3] = {40, 4, 8};
    snprintf(p.dir, sizeof p.dir, "/tmp/kt_test_convert_XXXXXX");
    if (!mkdtemp(p.dir))
        return -1;
    snprintf(p.in, sizeof p.in, "%s/in.safetensors", p.dir);
    snprintf(p.q8, sizeof p.q8, "%s/q8.safetensors", p.dir);
    snprintf(p.back, sizeof p.back, "%s/back.safetensors", p.dir);
    add(&l, "enc.weight", 2, w, 0.01f);
    add(&l, "enc.bias", 1, b, 0.1f);
    add(&l, "dec.weight_g", 3, g, 0.5f);
    add(&l, "dec.weight_v", 3, v, 0.02f);
    kt_status st = kt_safetensors_write(p.in, &l, NULL, 0, &err);
    kt_tensor_list_free(&l);
    *state = &p;
    return st == KT_OK ? 0 : -1;
}

static int teardown(void **state)
{
    paths *p = *state;
    unlink(p->in), unlink(p->q8), unlink(p->back);
    rmdir(p->dir);
    return 0;
}

static kt_status convert(const char *in, const char *out, const kt_convert_params *p, kt_convert_result *res,
                         kt_error *err)
{
    kt_checkpoint *c = NULL;
    kt_status st = kt_checkpoint_open(in, &c, err);
    if (!st)
        st = kt_convert(c, out, p, res, err);
    kt_checkpoint_free(c);
    return st;
}

static size_t find(const seen *s, const char *name)
{
    for (size_t i = 0; i < s->n && i < 8; i++)
        if (!strcmp(s->names[i], name))
            return i;
    fail_msg("no record of %s", name);
    return 0;
}

static void test_q8_folded(void **state)
{
    paths *p = *state;
    seen s = {0};
    kt_convert_params cp = {.format = KT_FORMAT_SAFETENSORS, .dtype_given = 1, .scheme = KT_QUANT_Q8, .fold = 1,
                            .on_tensor = on_tensor, .user = &s};
    kt_convert_result res;
    kt_error err;
    assert_int_equal(convert(p->in, p->q8, &cp, &res, &err), KT_OK);
    assert_int_equal(res.tensors, 3); /* the weight_g/weight_v pair became dec.weight */
    assert_int_equal(s.n, 3);
    assert_int_equal(s.last_done, 3);
    assert_int_equal(s.last_total, 3);
    assert_int_equal(s.folded, 1);
    assert_string_equal(s.after[find(&s, "enc.weight")], "q8");
    assert_string_equal(s.after[find(&s, "dec.weight")], "q8");
    assert_string_equal(s.kept[find(&s, "enc.bias")], "1-d");
    assert_true(res.bytes_after < res.bytes_before);
    assert_true(res.max_abs_error > 0 && res.max_abs_error < 0.01);

    kt_checkpoint *c = NULL;
    assert_int_equal(kt_checkpoint_open(p->q8, &c, &err), KT_OK);
    assert_string_equal(kt_checkpoint_metadata(c, "kt.converter"), "kt-convert");
    assert_string_equal(kt_checkpoint_metadata(c, "kt.quant"), "q8");
    assert_string_equal(kt_checkpoint_metadata(c, "kt.weight_norm"), "folded");
    assert_non_null(kt_checkpoint_metadata(c, "kt.order"));
    kt_quant_info *q = NULL;
    size_t nq = 0;
    assert_int_equal(kt_quant_list(c, &q, &nq, &err), KT_OK);
    assert_int_equal(nq, 2);
    free(q);
    kt_qview v;
    assert_int_equal(kt_qview_open(c, "enc.weight", &v, &err), KT_OK);
    assert_int_equal(v.scheme, KT_QUANT_Q8);
    assert_int_equal(v.rows, 40);
    kt_checkpoint_free(c);
}

static void test_back_to_f32(void **state)
{
    paths *p = *state;
    seen s = {0};
    kt_convert_params cp = {.format = KT_FORMAT_SAFETENSORS, .on_tensor = on_tensor, .user = &s};
    kt_error err;
    assert_int_equal(convert(p->q8, p->back, &cp, NULL, &err), KT_OK); /* no dtype: q8 is decoded */
    assert_int_equal(s.n, 3);
    assert_string_equal(s.after[find(&s, "enc.weight")], "float32");
    kt_checkpoint *c = NULL;
    assert_int_equal(kt_checkpoint_open(p->back, &c, &err), KT_OK);
    assert_null(kt_checkpoint_metadata(c, "kt.quant"));
    assert_null(kt_checkpoint_metadata(c, "kt.quant.enc.weight"));
    assert_null(kt_checkpoint_find(c, "enc.weight.scale"));
    kt_checkpoint_free(c);
}

static void test_errors(void **state)
{
    paths *p = *state;
    char out[160];
    kt_convert_result res;
    kt_error err;
    snprintf(out, sizeof out, "%s/never.safetensors", p->dir);
    kt_convert_params cp = {.format = KT_FORMAT_SAFETENSORS, .dtype_given = 1, .scheme = KT_QUANT_Q4,
                            .max_output = 100};
    assert_int_equal(convert(p->in, out, &cp, &res, &err), KT_ELIMIT);
    assert_int_equal(res.failed_at, KT_CONVERT_AT_INPUT);
    assert_non_null(strstr(err.msg, "over the limit of 100"));
    assert_int_equal(access(out, F_OK), -1);
    cp.max_output = 0;
    cp.voices_dir = "/nonexistent-kt-voices";
    assert_int_equal(convert(p->in, out, &cp, &res, &err), KT_EIO);
    assert_int_equal(res.failed_at, KT_CONVERT_AT_VOICES);
    cp.voices_dir = NULL;
    assert_int_equal(convert(p->in, "/nonexistent-kt-dir/x.safetensors", &cp, &res, &err), KT_EIO);
    assert_int_equal(res.failed_at, KT_CONVERT_AT_OUTPUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q8_folded),
        cmocka_unit_test(test_back_to_f32),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
