/* test_pickle.c - the restricted unpickler: one test per opcode on hand-assembled bytes,
 * tensor rebuilds against bound storages, flat names, every limit, every refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "kt/pickle.h"

#define PK(lit) (const unsigned char *)(lit), sizeof(lit) - 1

/* Parses bytes that must succeed; fails the test with the message otherwise. */
static kt_value *ok_parse(const unsigned char *d, size_t n)
{
    kt_error err;
    kt_value *v = NULL;
    size_t used = 0;
    kt_status st = kt_pickle_parse(d, n, NULL, &v, &used, &err);
    if (st)
        fail_msg("parse failed: %s", err.msg);
    assert_int_equal(used, n);
    return v;
}

/* Parses bytes that must fail with code; returns the message. */
static kt_error bad_parse_opt(const unsigned char *d, size_t n, const kt_pickle_options *opt, kt_status code)
{
    kt_error err;
    kt_value *v = (kt_value *)1;
    kt_status st = kt_pickle_parse(d, n, opt, &v, NULL, &err);
    if (st != code)
        fail_msg("expected %s, got %s: %s", kt_status_name(code), kt_status_name(st), st ? err.msg : "ok");
    assert_null(v);
    assert_non_null(strstr(err.msg, "pickle: "));
    assert_null(strchr(err.msg, '\n'));
    return err;
}

static kt_error bad_parse(const unsigned char *d, size_t n, kt_status code)
{
    return bad_parse_opt(d, n, NULL, code);
}

static void expect_int(const unsigned char *d, size_t n, int64_t want)
{
    kt_value *v = ok_parse(d, n);
    assert_int_equal(kt_value_kind(v), KT_V_INT);
    assert_true(kt_value_int(v) == want);
    kt_value_free(v);
}

static void expect_str(const unsigned char *d, size_t n, kt_vkind kind, const char *want, size_t wlen)
{
    kt_value *v = ok_parse(d, n);
    size_t len = 99;
    assert_int_equal(kt_value_kind(v), kind);
    const char *s = kt_value_str(v, &len);
    assert_int_equal(len, wlen);
    assert_memory_equal(s, want, wlen);
    assert_int_equal(s[len], 0);
    kt_value_free(v);
}

/* ------------------------------------------------------------ framing */

static void t_proto_frame_stop(void **state)
{
    (void)state;
    kt_value *v = ok_parse(PK("\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00N."));
    assert_int_equal(kt_value_kind(v), KT_V_NONE);
    kt_value_free(v);
    /* consumed stops at STOP even when bytes follow */
    size_t used = 0;
    kt_error err;
    assert_int_equal(kt_pickle_parse(PK("N.garbage"), NULL, &v, &used, &err), KT_OK);
    assert_int_equal(used, 2);
    kt_value_free(v);
    bad_parse(PK("\x80\x06N."), KT_EUNSUPPORTED);
    bad_parse(PK("\x95\xff\x00\x00\x00\x00\x00\x00\x00N."), KT_EFORMAT);
    bad_parse(PK("N"), KT_EFORMAT);
    bad_parse(PK(""), KT_EFORMAT);
    bad_parse(PK("."), KT_EFORMAT);
    bad_parse(PK("\xff."), KT_EFORMAT);
}

/* ------------------------------------------------------------ numbers */

static void t_int_text(void **state)
{
    (void)state;
    expect_int(PK("I42\n."), 42);
    expect_int(PK("I-7\n."), -7);
    expect_int(PK("I9223372036854775807\n."), INT64_MAX);
    kt_value *v = ok_parse(PK("I01\n."));
    assert_int_equal(kt_value_kind(v), KT_V_BOOL);
    assert_int_equal(kt_value_bool(v), 1);
    kt_value_free(v);
    bad_parse(PK("I9223372036854775808\n."), KT_EUNSUPPORTED);
    bad_parse(PK("I4x\n."), KT_EFORMAT);
    bad_parse(PK("I42"), KT_EFORMAT);
}

static void t_binint(void **state)
{
    (void)state;
    expect_int(PK("J\xff\xff\xff\xff."), -1);
    expect_int(PK("J\x00\x00\x00\x80."), INT32_MIN);
    expect_int(PK("K\xff."), 255);
    expect_int(PK("M\x00\x01."), 256);
    bad_parse(PK("J\x01\x02"), KT_EFORMAT);
}

static void t_long(void **state)
{
    (void)state;
    expect_int(PK("L12345678901L\n."), 12345678901LL);
    expect_int(PK("L-9223372036854775808L\n."), INT64_MIN);
    expect_int(PK("\x8a\x02\xff\x7f."), 32767);
    expect_int(PK("\x8a\x01\xff."), -1);
    expect_int(PK("\x8a\x00."), 0);
    expect_int(PK("\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80."), INT64_MIN);
    expect_int(PK("\x8b\x03\x00\x00\x00\x00\x00\x80."), -8388608);
    bad_parse(PK("\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01."), KT_EUNSUPPORTED);
    bad_parse(PK("\x8b\xff\xff\xff\x7f."), KT_EFORMAT);
}

static void t_float(void **state)
{
    (void)state;
    kt_value *v = ok_parse(PK("F1.5\n."));
    assert_int_equal(kt_value_kind(v), KT_V_FLOAT);
    assert_true(kt_value_float(v) == 1.5);
    kt_value_free(v);
    v = ok_parse(PK("G\xc0\x04\x00\x00\x00\x00\x00\x00.")); /* -2.5 big-endian */
    assert_true(kt_value_float(v) == -2.5);
    kt_value_free(v);
    bad_parse(PK("F1.5x\n."), KT_EFORMAT);
    bad_parse(PK("G\x00\x00."), KT_EFORMAT);
}

/* ------------------------------------------------------------ strings and bytes */

static void t_string_ops(void **state)
{
    (void)state;
    expect_str(PK("S'a\\nb\\x41\\''\n."), KT_V_STR, "a\nbA'", 5);
    expect_str(PK("S\"q\"\n."), KT_V_STR, "q", 1);
    expect_str(PK("T\x03\x00\x00\x00" "abc."), KT_V_STR, "abc", 3);
    expect_str(PK("U\x02hi."), KT_V_STR, "hi", 2);
    bad_parse(PK("Sabc\n."), KT_EFORMAT);
    bad_parse(PK("S'a\\q'\n."), KT_EFORMAT);
}

static void t_unicode_ops(void **state)
{
    (void)state;
    expect_str(PK("V\\u00e9x\\U0001F600\n."), KT_V_STR, "\xc3\xa9x\xf0\x9f\x98\x80", 7);
    expect_str(PK("V\xe9\n."), KT_V_STR, "\xc3\xa9", 2); /* raw latin-1 byte */
    expect_str(PK("X\x02\x00\x00\x00\xc3\xa9."), KT_V_STR, "\xc3\xa9", 2);
    expect_str(PK("\x8c\x01" "a."), KT_V_STR, "a", 1);
    expect_str(PK("\x8d\x02\x00\x00\x00\x00\x00\x00\x00ok."), KT_V_STR, "ok", 2);
    expect_str(PK("X\x00\x00\x00\x00."), KT_V_STR, "", 0);
    bad_parse(PK("X\x01\x00\x00\x00\xff."), KT_EFORMAT);     /* invalid UTF-8 */
    bad_parse(PK("X\x02\x00\x00\x00\xc0\x80."), KT_EFORMAT); /* overlong */
    bad_parse(PK("V\\u00g9\n."), KT_EFORMAT);
}

static void t_bytes_ops(void **state)
{
    (void)state;
    expect_str(PK("B\x03\x00\x00\x00\x00\xff\x01."), KT_V_BYTES, "\x00\xff\x01", 3);
    expect_str(PK("C\x01\xfe."), KT_V_BYTES, "\xfe", 1);
    expect_str(PK("\x8e\x01\x00\x00\x00\x00\x00\x00\x00z."), KT_V_BYTES, "z", 1);
    expect_str(PK("\x96\x01\x00\x00\x00\x00\x00\x00\x00y."), KT_V_BYTES, "y", 1);
}

static void t_string_length_limit(void **state)
{
    (void)state;
    bad_parse(PK("X\xff\xff\xff\xff" "abc."), KT_ELIMIT);
    bad_parse(PK("B\x10\x00\x00\x00" "abc."), KT_ELIMIT);
    bad_parse(PK("\x8e\xff\xff\xff\xff\xff\xff\xff\xff" "a."), KT_ELIMIT);
    bad_parse(PK("\x8d\x00\x00\x00\x00\x00\x00\x00\x80" "a."), KT_ELIMIT);
    bad_parse(PK("C\x05" "ab."), KT_ELIMIT);
    bad_parse(PK("U\x05" "ab."), KT_ELIMIT);
}

/* ------------------------------------------------------------ constants */

static void t_none_true_false(void **state)
{
    (void)state;
    kt_value *v = ok_parse(PK("(N\x88\x89t."));
    assert_int_equal(kt_value_kind(v), KT_V_TUPLE);
    assert_int_equal(kt_value_len(v), 3);
    assert_int_equal(kt_value_kind(kt_value_item(v, 0)), KT_V_NONE);
    assert_int_equal(kt_value_kind(kt_value_item(v, 1)), KT_V_BOOL);
    assert_int_equal(kt_value_bool(kt_value_item(v, 1)), 1);
    assert_int_equal(kt_value_bool(kt_value_item(v, 2)), 0);
    assert_null(kt_value_item(v, 3));
    kt_value_free(v);
}

/* ------------------------------------------------------------ containers */

static void t_list_ops(void **state)
{
    (void)state;
    kt_value *v = ok_parse(PK("]K\x01" "a(K\x02K\x03" "e."));
    assert_int_equal(kt_value_kind(v), KT_V_LIST);
    assert_int_equal(kt_value_len(v), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(kt_value_int(kt_value_item(v, (size_t)i)), i + 1);
    kt_value_free(v);
    v = ok_parse(PK("(K\x07K\x08l."));
    assert_int_equal(kt_value_kind(v), KT_V_LIST);
    assert_int_equal(kt_value_int(kt_value_item(v, 1)), 8);
    kt_value_free(v);
    bad_parse(PK("}K\x01" "a."), KT_EUNSAFE); /* APPEND to a dict */
    bad_parse(PK("K\x01" "a."), KT_EFORMAT);  /* APPEND with nothing below */
}

static void t_tuple_ops(void **state)
{
    (void)state;
    kt_value *v = ok_parse(PK(")."));
    assert_int_equal(kt_value_kind(v), KT_V_TUPLE);
    assert_int_equal(kt_value_len(v), 0);
    kt_value_free(v);
    v = ok_parse(PK("(K\x01K\x02K\x03K\x04t."));
    assert_int_equal(kt_value_len(v), 4);
    kt_value_free(v);
    v = ok_parse(PK("K\x01\x85K\x02K\x03\x86K\x04K\x05K\x06\x87\x87."));
    assert_int_equal(kt_value_len(v), 3);
    assert_int_equal(kt_value_len(kt_value_item(v, 0)), 1);
    assert_int_equal(kt_value_len(kt_value_item(v, 1)), 2);
    assert_int_equal(kt_value_int(kt_value_item(kt_value_item(v, 2), 2)), 6);
    kt_value_free(v);
    bad_parse(PK("K\x01\x86."), KT_EFORMAT);
    bad_parse(PK("(K\x01\x86."), KT_EFORMAT); /* TUPLE2 may not eat the mark */
}

static void t_dict_ops(void **state)
{
    (void)state;
    kt_value *v = ok_parse(PK("}\x8c\x01" "bK\x02s(\x8c\x01" "aK\x01K\x05K\x06u."));
    assert_int_equal(kt_value_kind(v), KT_V_DICT);
    assert_int_equal(kt_value_len(v), 3);
    assert_string_equal(kt_value_str(kt_value_dict_key(v, 0), NULL), "b"); /* insertion order kept */
    assert_string_equal(kt_value_str(kt_value_dict_key(v, 1), NULL), "a");
    assert_int_equal(kt_value_int(kt_value_dict_key(v, 2)), 5);
    assert_int_equal(kt_value_int(kt_value_dict_get(v, "a")), 1);
    assert_null(kt_value_dict_get(v, "zz"));
    assert_int_equal(kt_value_dict_is_ordered(v), 0);
    assert_null(kt_value_dict_key(v, 3));
    kt_value_free(v);
    v = ok_parse(PK("(\x8c\x01xK\x09" "d."));
    assert_int_equal(kt_value_int(kt_value_dict_value(v, 0)), 9);
    kt_value_free(v);
    bad_parse(PK("(K\x01" "d."), KT_EFORMAT);
    bad_parse(PK("}(K\x01u."), KT_EFORMAT);
    bad_parse(PK("]K\x01K\x02s."), KT_EUNSAFE);
}

static void t_set_ops(void **state)
{
    (void)state;
    kt_value *v = ok_parse(PK("\x8f(K\x01K\x02\x90."));
    assert_int_equal(kt_value_kind(v), KT_V_SET);
    assert_int_equal(kt_value_len(v), 2);
    kt_value_free(v);
    v = ok_parse(PK("(K\x03\x91."));
    assert_int_equal(kt_value_kind(v), KT_V_SET);
    assert_int_equal(kt_value_int(kt_value_item(v, 0)), 3);
    kt_value_free(v);
}

static void t_stack_ops(void **state)
{
    (void)state;
    expect_int(PK("K\x01K\x02" "0."), 1);         /* POP */
    expect_int(PK("K\x01(K\x02K\x03" "1."), 1); /* POP_MARK */
    expect_int(PK("K\x01(0."), 1);               /* POP of an empty mark pops the mark */
}

static void t_dup(void **state)
{
    (void)state;
    kt_value *v = ok_parse(PK("K\x05" "2\x86."));
    assert_ptr_equal(kt_value_item(v, 0), kt_value_item(v, 1));
    kt_value_free(v);
}

static void t_memo_ops(void **state)
{
    (void)state;
    static const unsigned char c0[] = "\x8c\x01sp7\n0g7\ng7\n\x86.";
    static const unsigned char c1[] = "\x8c\x01sq\x03" "0h\x03h\x03\x86.";
    static const unsigned char c2[] = "\x8c\x01sr\x00\x00\x01\x00" "0j\x00\x00\x01\x00j\x00\x00\x01\x00\x86.";
    static const unsigned char c3[] = "\x80\x04\x8c\x01s\x94" "0h\x00h\x00\x86.";
    const unsigned char *cases[] = {c0, c1, c2, c3};
    size_t lens[] = {sizeof c0 - 1, sizeof c1 - 1, sizeof c2 - 1, sizeof c3 - 1};
    for (size_t i = 0; i < 4; i++) {
        kt_value *v = ok_parse(cases[i], lens[i]);
        assert_int_equal(kt_value_len(v), 2);
        assert_ptr_equal(kt_value_item(v, 0), kt_value_item(v, 1));
        assert_string_equal(kt_value_str(kt_value_item(v, 0), NULL), "s");
        kt_value_free(v);
    }
    bad_parse(PK("h\x05."), KT_EFORMAT);
    bad_parse(PK("g-1\n."), KT_EFORMAT);
    bad_parse(PK("q\x00."), KT_EFORMAT); /* PUT on an empty stack */
}

static void t_memo_limit(void **state)
{
    (void)state;
    bad_parse(PK("Nr\xff\xff\xff\xff."), KT_ELIMIT);
    kt_pickle_limits lim;
    kt_pickle_default_limits(&lim);
    lim.max_memo = 4;
    kt_pickle_options opt = {&lim, NULL, NULL};
    bad_parse_opt(PK("Nq\x04."), &opt, KT_ELIMIT);
    kt_value *v = NULL;
    assert_int_equal(kt_pickle_parse(PK("Nq\x03."), &opt, &v, NULL, NULL), KT_OK);
    kt_value_free(v);
}

static void t_stack_limit(void **state)
{
    (void)state;
    kt_pickle_limits lim;
    kt_pickle_default_limits(&lim);
    lim.max_stack = 4;
    kt_pickle_options opt = {&lim, NULL, NULL};
    kt_value *v = NULL;
    assert_int_equal(kt_pickle_parse(PK("(NNNNt."), &opt, &v, NULL, NULL), KT_OK);
    kt_value_free(v);
    bad_parse_opt(PK("(NNNNNt."), &opt, KT_ELIMIT);
}

static void t_depth_limit(void **state)
{
    (void)state;
    kt_pickle_limits lim;
    kt_pickle_default_limits(&lim);
    lim.max_depth = 3;
    kt_pickle_options opt = {&lim, NULL, NULL};
    kt_value *v = NULL;
    /* [[[]]]: depth 3 is allowed, [[[[]]]] is not */
    assert_int_equal(kt_pickle_parse(PK("]]]aa."), &opt, &v, NULL, NULL), KT_OK);
    kt_value_free(v);
    bad_parse_opt(PK("]]]]aaa."), &opt, KT_ELIMIT);
    bad_parse_opt(PK("((((N."), &opt, KT_ELIMIT); /* open MARKs */
    /* the default limit holds against a long chain of nested lists */
    unsigned char buf[300];
    size_t n = 0;
    for (int i = 0; i < 100; i++)
        buf[n++] = ']';
    for (int i = 0; i < 99; i++)
        buf[n++] = 'a';
    buf[n++] = '.';
    bad_parse(buf, n, KT_ELIMIT);
}

static void t_depth_through_shared_values(void **state)
{
    (void)state;
    /* L = [[[]]] (3 levels) memoized, then root = [L, [[L]]]: the longest path is 6 levels
     * although L is first reached at depth 1 */
    static const unsigned char d[] = "]]]aaq\x00" "0(h\x00]]h\x00" "aal.";
    kt_pickle_limits lim;
    kt_pickle_default_limits(&lim);
    lim.max_depth = 5;
    kt_pickle_options opt = {&lim, NULL, NULL};
    bad_parse_opt(d, sizeof d - 1, &opt, KT_ELIMIT);
    lim.max_depth = 6;
    kt_value *v = NULL;
    assert_int_equal(kt_pickle_parse(d, sizeof d - 1, &opt, &v, NULL, NULL), KT_OK);
    kt_value_free(v);
}

static void t_messages_one_line(void **state)
{
    (void)state;
    kt_error e = bad_parse(PK("\x8c\x03o\ns\x8c\x06sys\ntm\x93."), KT_EUNSAFE);
    assert_null(strchr(e.msg, '\n'));
    assert_non_null(strstr(e.msg, "o\\x0as.sys\\x0atm"));
}

static void t_cycle(void **state)
{
    (void)state;
    bad_parse(PK("]q\x00h\x00" "a."), KT_EFORMAT);
    bad_parse(PK("]2a."), KT_EFORMAT);
    /* sharing without a cycle is fine */
    kt_value *v = ok_parse(PK("]q\x00(h\x00h\x00l."));
    assert_ptr_equal(kt_value_item(v, 0), kt_value_item(v, 1));
    kt_value_free(v);
}

static void t_underflow_and_marks(void **state)
{
    (void)state;
    bad_parse(PK("0."), KT_EFORMAT);
    bad_parse(PK("t."), KT_EFORMAT);
    bad_parse(PK("1."), KT_EFORMAT);
    bad_parse(PK("(."), KT_EFORMAT);
}

/* ------------------------------------------------------------ globals */

static void t_forbidden_globals(void **state)
{
    (void)state;
    kt_error e = bad_parse(PK("cos\nsystem\n."), KT_EUNSAFE);
    assert_string_equal(e.msg, "pickle: forbidden global os.system");
    e = bad_parse(PK("\x8c\x08" "builtins\x8c\x04" "eval\x93."), KT_EUNSAFE);
    assert_non_null(strstr(e.msg, "builtins.eval"));
    bad_parse(PK("ctorch\nload\n."), KT_EUNSAFE);
    bad_parse(PK("ctorch._utils\n_rebuild_device_tensor_from_numpy\n."), KT_EUNSAFE);
    bad_parse(PK("ctorch\nComplexFloatStorage\n."), KT_EUNSAFE);
    bad_parse(PK("cposix\nsystem\n(\x8c\x02lstR."), KT_EUNSAFE);
    e = bad_parse(PK("ios\nsystem\n."), KT_EUNSAFE); /* INST */
    assert_non_null(strstr(e.msg, "os.system"));
    bad_parse(PK("(]o."), KT_EUNSAFE);          /* OBJ */
    bad_parse(PK("\x82\x01."), KT_EUNSAFE);     /* EXT1 */
    bad_parse(PK("N\x97."), KT_EUNSUPPORTED);   /* NEXT_BUFFER */
    bad_parse(PK("ctorch\nFloatStorage\n."), KT_EUNSUPPORTED); /* a bare class in the result */
}

static void t_forbidden_reduce_build(void **state)
{
    (void)state;
    bad_parse(PK("\x8c\x01x)R."), KT_EUNSAFE);                         /* REDUCE on a str */
    bad_parse(PK("ctorch\nFloatStorage\n(K\x01tR."), KT_EUNSAFE);     /* calling a storage class */
    bad_parse(PK("ccollections\nOrderedDict\n(K\x01K\x02tR."), KT_EUNSAFE);
    bad_parse(PK("ctorch._utils\n_rebuild_tensor_v2\n)\x81."), KT_EUNSAFE); /* NEWOBJ */
    bad_parse(PK("\x8c\x01x)\x81."), KT_EUNSAFE);
    bad_parse(PK("]}b."), KT_EUNSAFE);                                  /* BUILD on a list */
    bad_parse(PK("}]b."), KT_EUNSAFE);                                  /* BUILD with a list state */
    bad_parse(PK("ccollections\nOrderedDict\nK\x01R."), KT_EFORMAT);   /* args not a tuple */
}

static void t_ordered_dict(void **state)
{
    (void)state;
    /* OrderedDict() then SETITEMS, then BUILD with a state_dict's {'_metadata': {}} */
    kt_value *v = ok_parse(PK("\x80\x02" "ccollections\nOrderedDict\n)R(\x8c\x01kK\x01u}\x8c\x09_metadata}sb."));
    assert_int_equal(kt_value_kind(v), KT_V_DICT);
    assert_int_equal(kt_value_dict_is_ordered(v), 1);
    assert_int_equal(kt_value_int(kt_value_dict_get(v, "k")), 1);
    assert_non_null(kt_value_dict_get(kt_value_dict_state(v), "_metadata"));
    kt_value_free(v);
    /* STACK_GLOBAL + NEWOBJ, and OrderedDict([(k, v)]) */
    v = ok_parse(PK("\x8c\x0b" "collections\x8c\x0b" "OrderedDict\x93)\x81."));
    assert_int_equal(kt_value_dict_is_ordered(v), 1);
    kt_value_free(v);
    v = ok_parse(PK("ccollections\nOrderedDict\n(\x8c\x01" "aK\x02\x86l\x85R."));
    assert_int_equal(kt_value_int(kt_value_dict_get(v, "a")), 2);
    kt_value_free(v);
}

static void t_size_codecs_dtype(void **state)
{
    (void)state;
    kt_value *v = ok_parse(PK("ctorch\nSize\nK\x02K\x03\x86\x85R."));
    assert_int_equal(kt_value_kind(v), KT_V_TUPLE);
    assert_int_equal(kt_value_int(kt_value_item(v, 1)), 3);
    kt_value_free(v);
    /* protocol 2 bytes: _codecs.encode('\u00e9a', 'latin1') -> b'\xe9a' */
    expect_str(PK("c_codecs\nencode\nX\x03\x00\x00\x00\xc3\xa9" "aX\x06\x00\x00\x00latin1\x86R."), KT_V_BYTES,
               "\xe9" "a", 2);
    expect_str(PK("c__builtin__\nbytes\n)R."), KT_V_BYTES, "", 0);
    bad_parse(PK("c_codecs\nencode\nX\x01\x00\x00\x00" "aX\x05\x00\x00\x00utf-8\x86R."), KT_EUNSUPPORTED);
    expect_str(PK("ctorch\nbfloat16\n."), KT_V_STR, "torch.bfloat16", 14);
}

static void t_persid_text(void **state)
{
    (void)state;
    bad_parse(PK("P0\n."), KT_EUNSUPPORTED);
    bad_parse(PK("\x8c\x01xQ."), KT_EUNSUPPORTED);
}

/* ------------------------------------------------------------ tensors */

typedef struct {
    unsigned char d[2048];
    size_t n;
} pk;

static void raw(pk *b, const void *s, size_t n)
{
    assert_true(b->n + n <= sizeof b->d);
    memcpy(b->d + b->n, s, n);
    b->n += n;
}

#define RAW(b, lit) raw(b, lit, sizeof(lit) - 1)

static void ustr(pk *b, const char *s)
{
    unsigned char h[5] = {'X', (unsigned char)strlen(s), 0, 0, 0};
    raw(b, h, 5);
    raw(b, s, strlen(s));
}

static void small_int(pk *b, int64_t v)
{
    unsigned char h[3] = {'M', (unsigned char)(v & 0xff), (unsigned char)(v >> 8)};
    assert_true(v >= 0 && v < 65536);
    raw(b, h, 3);
}

static void int_tuple(pk *b, int n, const int64_t *v)
{
    RAW(b, "(");
    for (int i = 0; i < n; i++)
        small_int(b, v[i]);
    RAW(b, "t");
}

/* Pushes _rebuild_tensor_v2(('storage', cls, key, 'cpu', numel), offset, size, stride, False, OrderedDict()). */
static void tensor(pk *b, const char *cls, const char *key, int64_t numel, int64_t offset, int nd,
                   const int64_t *size, const int64_t *stride)
{
    RAW(b, "ctorch._utils\n_rebuild_tensor_v2\n((");
    ustr(b, "storage");
    RAW(b, "ctorch\n");
    raw(b, cls, strlen(cls));
    RAW(b, "\n");
    ustr(b, key);
    ustr(b, "cpu");
    small_int(b, numel);
    RAW(b, "tQ");
    small_int(b, offset);
    int_tuple(b, nd, size);
    int_tuple(b, nd, stride);
    RAW(b, "\x89" "ccollections\nOrderedDict\n)RtR");
}

static const float six[6] = {0, 1, 2, 3, 4, 5};

static kt_status bind_six(void *ctx, kt_value *s, kt_error *err)
{
    int *calls = ctx;
    (*calls)++;
    kt_storage_info info;
    kt_status st = kt_value_storage(s, &info, err);
    if (st)
        return st;
    return kt_value_storage_bind(s, six, info.numel <= 6 ? sizeof six : 0, NULL, err);
}

static kt_value *parse_bound(pk *b, int *calls, kt_status want, kt_error *err)
{
    kt_pickle_options opt = {NULL, bind_six, calls};
    kt_value *v = NULL;
    RAW(b, ".");
    kt_status st = kt_pickle_parse(b->d, b->n, &opt, &v, NULL, err);
    if (st != want)
        fail_msg("expected %s, got %s: %s", kt_status_name(want), kt_status_name(st), st ? err->msg : "");
    return v;
}

static void t_tensor_view(void **state)
{
    (void)state;
    pk b = {{0}, 0};
    int calls = 0;
    kt_error err;
    int64_t size[2] = {2, 2}, stride[2] = {3, 1};
    RAW(&b, "\x80\x02");
    tensor(&b, "FloatStorage", "0", 6, 1, 2, size, stride);
    kt_value *v = parse_bound(&b, &calls, KT_OK, &err);
    assert_int_equal(kt_value_kind(v), KT_V_TENSOR);
    kt_tensor t;
    assert_int_equal(kt_value_tensor(v, &t, &err), KT_OK);
    assert_int_equal(t.dtype, KT_F32);
    assert_int_equal(t.ndim, 2);
    assert_null(t.owned);
    float out[4];
    assert_int_equal(kt_tensor_to_f32(&t, out, &err), KT_OK);
    assert_true(out[0] == 1 && out[1] == 2 && out[2] == 4 && out[3] == 5);
    assert_int_equal(kt_value_tensor_offset(v), 1);
    assert_int_equal(kt_value_tensor_requires_grad(v), 0);
    assert_int_equal(kt_pickle_storage_count(v), 1);
    kt_storage_info info;
    assert_int_equal(kt_value_storage(kt_value_tensor_storage(v), &info, &err), KT_OK);
    assert_string_equal(info.key, "0");
    assert_string_equal(info.location, "cpu");
    assert_int_equal(info.numel, 6);
    kt_value_free(v);
}

static void t_tensor_shared_storage(void **state)
{
    (void)state;
    pk b = {{0}, 0};
    int calls = 0;
    kt_error err;
    int64_t s1[1] = {3}, st1[1] = {1}, s2[1] = {2}, st2[1] = {2};
    RAW(&b, "\x80\x02(");
    tensor(&b, "FloatStorage", "k", 6, 0, 1, s1, st1);
    tensor(&b, "FloatStorage", "k", 6, 1, 1, s2, st2);
    RAW(&b, "l");
    kt_value *v = parse_bound(&b, &calls, KT_OK, &err);
    assert_int_equal(calls, 1); /* one storage, loaded once */
    assert_ptr_equal(kt_value_tensor_storage(kt_value_item(v, 0)), kt_value_tensor_storage(kt_value_item(v, 1)));
    kt_tensor t;
    kt_value_tensor(kt_value_item(v, 1), &t, &err);
    assert_true(kt_tensor_get_f64(&t, 0) == 1.0 && kt_tensor_get_f64(&t, 1) == 3.0);
    kt_value_free(v);
    /* the same key with another type is an error */
    pk c = {{0}, 0};
    RAW(&c, "(");
    tensor(&c, "FloatStorage", "k", 6, 0, 1, s1, st1);
    tensor(&c, "IntStorage", "k", 6, 0, 1, s1, st1);
    RAW(&c, "l");
    assert_null(parse_bound(&c, &calls, KT_EFORMAT, &err));
}

static void t_tensor_0d_and_empty(void **state)
{
    (void)state;
    pk b = {{0}, 0};
    int calls = 0;
    kt_error err;
    int64_t sz[2] = {0, 3}, st[2] = {3, 1};
    RAW(&b, "(");
    tensor(&b, "FloatStorage", "a", 6, 4, 0, NULL, NULL);
    tensor(&b, "FloatStorage", "e", 0, 0, 2, sz, st);
    RAW(&b, "t");
    kt_value *v = parse_bound(&b, &calls, KT_OK, &err);
    kt_tensor t;
    kt_value_tensor(kt_value_item(v, 0), &t, &err);
    assert_int_equal(t.ndim, 0);
    assert_int_equal(kt_tensor_numel(&t), 1);
    assert_true(kt_tensor_get_f64(&t, 0) == 4.0);
    kt_value_tensor(kt_value_item(v, 1), &t, &err);
    assert_int_equal(kt_tensor_numel(&t), 0);
    assert_null(t.data);
    kt_value_free(v);
}

static void t_tensor_does_not_fit(void **state)
{
    (void)state;
    int calls = 0;
    kt_error err;
    int64_t size[2] = {2, 2}, stride[2] = {3, 1}, big[1] = {7}, one[1] = {1};
    pk b = {{0}, 0};
    tensor(&b, "FloatStorage", "0", 6, 2, 2, size, stride); /* last element 6 of 6 */
    assert_null(parse_bound(&b, &calls, KT_EFORMAT, &err));
    assert_non_null(strstr(err.msg, "does not fit"));
    pk c = {{0}, 0};
    tensor(&c, "FloatStorage", "0", 6, 0, 1, big, one);
    assert_null(parse_bound(&c, &calls, KT_EFORMAT, &err));
    pk d = {{0}, 0};
    tensor(&d, "FloatStorage", "0", 6, 6, 0, NULL, NULL); /* 0-d at offset 6 */
    assert_null(parse_bound(&d, &calls, KT_EFORMAT, &err));
    pk e = {{0}, 0};
    tensor(&e, "FloatStorage", "0", 0, 0, 1, one, one); /* empty storage, one element */
    assert_null(parse_bound(&e, &calls, KT_EFORMAT, &err));
}

static void t_tensor_dims_limit(void **state)
{
    (void)state;
    int calls = 0;
    kt_error err;
    int64_t s9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    pk b = {{0}, 0};
    tensor(&b, "FloatStorage", "0", 6, 0, 9, s9, s9);
    assert_null(parse_bound(&b, &calls, KT_ELIMIT, &err));
    /* dimension product overflow: 8 dims of 60000 */
    int64_t s8[8], z8[8] = {0};
    for (int i = 0; i < 8; i++)
        s8[i] = 60000;
    pk c = {{0}, 0};
    tensor(&c, "FloatStorage", "0", 6, 0, 8, s8, z8);
    assert_null(parse_bound(&c, &calls, KT_ELIMIT, &err));
    /* no elements (a zero dimension), but the other dimensions' product overflows: refused too,
     * so that no stride or contiguity check multiplies them */
    s8[0] = 0;
    pk z = {{0}, 0};
    tensor(&z, "FloatStorage", "0", 6, 0, 8, s8, z8);
    assert_null(parse_bound(&z, &calls, KT_ELIMIT, &err));
    assert_non_null(strstr(err.msg, "overflows"));
    /* stride sum overflow on an otherwise small tensor */
    pk d = {{0}, 0};
    RAW(&d, "ctorch._utils\n_rebuild_tensor\n((");
    ustr(&d, "storage");
    RAW(&d, "ctorch\nFloatStorage\n");
    ustr(&d, "0");
    ustr(&d, "cpu");
    RAW(&d, "K\x06tQK\x00(K\x02K\x02t(\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7fK\x01ttR");
    assert_null(parse_bound(&d, &calls, KT_EFORMAT, &err));
    /* mismatched size/stride lengths, negative stride */
    pk e = {{0}, 0};
    RAW(&e, "ctorch._utils\n_rebuild_tensor\n((");
    ustr(&e, "storage");
    RAW(&e, "ctorch\nFloatStorage\n");
    ustr(&e, "0");
    ustr(&e, "cpu");
    RAW(&e, "K\x06tQK\x00K\x02\x85K\x01K\x01\x86tR");
    assert_null(parse_bound(&e, &calls, KT_EFORMAT, &err));
    pk f = {{0}, 0};
    RAW(&f, "ctorch._utils\n_rebuild_tensor\n((");
    ustr(&f, "storage");
    RAW(&f, "ctorch\nFloatStorage\n");
    ustr(&f, "0");
    ustr(&f, "cpu");
    RAW(&f, "K\x06tQK\x00K\x02\x85J\xff\xff\xff\xff\x85tR");
    assert_null(parse_bound(&f, &calls, KT_EFORMAT, &err));
}

static void t_tensor_count_limit(void **state)
{
    (void)state;
    kt_pickle_limits lim;
    kt_pickle_default_limits(&lim);
    lim.max_tensors = 1;
    int calls = 0;
    kt_pickle_options opt = {&lim, bind_six, &calls};
    int64_t s[1] = {1}, st[1] = {1};
    pk b = {{0}, 0};
    RAW(&b, "(");
    tensor(&b, "FloatStorage", "0", 6, 0, 1, s, st);
    tensor(&b, "FloatStorage", "0", 6, 1, 1, s, st);
    RAW(&b, "l.");
    bad_parse_opt(b.d, b.n, &opt, KT_ELIMIT);
}

static void t_bind_error_aborts(void **state)
{
    (void)state;
    pk b = {{0}, 0};
    int calls = 0;
    kt_error err;
    int64_t s[1] = {2}, st[1] = {1};
    tensor(&b, "DoubleStorage", "0", 6, 0, 1, s, st); /* 48 bytes needed, 24 supplied */
    assert_null(parse_bound(&b, &calls, KT_EFORMAT, &err));
    assert_non_null(strstr(err.msg, "needs 48"));
}

static void t_parameter(void **state)
{
    (void)state;
    pk b = {{0}, 0};
    int calls = 0;
    kt_error err;
    int64_t s[1] = {2}, st[1] = {1};
    RAW(&b, "ctorch._utils\n_rebuild_parameter\n(");
    tensor(&b, "HalfStorage", "0", 4, 0, 1, s, st);
    RAW(&b, "\x88" "ccollections\nOrderedDict\n)RtR");
    kt_value *v = parse_bound(&b, &calls, KT_OK, &err);
    assert_int_equal(kt_value_kind(v), KT_V_TENSOR);
    assert_int_equal(kt_value_tensor_requires_grad(v), 1);
    kt_tensor t;
    kt_value_tensor(v, &t, &err);
    assert_int_equal(t.dtype, KT_F16);
    kt_value_free(v);
    /* _rebuild_tensor (4 arguments) */
    pk c = {{0}, 0};
    RAW(&c, "ctorch._utils\n_rebuild_tensor\n((");
    ustr(&c, "storage");
    RAW(&c, "ctorch\nLongStorage\n");
    ustr(&c, "9");
    ustr(&c, "cpu");
    RAW(&c, "K\x01tQK\x00))tR");
    v = parse_bound(&c, &calls, KT_OK, &err);
    kt_value_tensor(v, &t, &err);
    assert_int_equal(t.dtype, KT_I64);
    assert_int_equal(t.ndim, 0);
    kt_value_free(v);
}

static void t_storage_bind_size(void **state)
{
    (void)state;
    kt_error err;
    int64_t s[1] = {2}, st[1] = {1};
    pk b = {{0}, 0};
    tensor(&b, "FloatStorage", "0", 100, 0, 1, s, st);
    RAW(&b, ".");
    kt_value *v = NULL;
    assert_int_equal(kt_pickle_parse(b.d, b.n, NULL, &v, NULL, &err), KT_OK);
    kt_value *stor = kt_pickle_storage_at(v, 0);
    assert_non_null(stor);
    assert_null(kt_pickle_storage_at(v, 1));
    assert_int_equal(kt_value_storage_bind(stor, six, sizeof six, NULL, &err), KT_EFORMAT);
    kt_tensor_list l = {0};
    assert_int_equal(kt_value_flatten(v, &l, &err), KT_EFORMAT); /* unbound storage */
    assert_non_null(strstr(err.msg, "no data"));
    kt_tensor_list_free(&l);
    kt_value_free(v);
}

/* ------------------------------------------------------------ flatten */

static void t_flatten_names(void **state)
{
    (void)state;
    pk b = {{0}, 0};
    int calls = 0;
    kt_error err;
    int64_t s[1] = {1}, st[1] = {1};
    /* {'bert': {'module.w': T0, 'x': [T1, (T2,)]}, 3: T3, 'n': None} */
    RAW(&b, "\x80\x02}(");
    ustr(&b, "bert");
    RAW(&b, "}(");
    ustr(&b, "module.w");
    tensor(&b, "FloatStorage", "0", 6, 0, 1, s, st);
    ustr(&b, "x");
    RAW(&b, "(");
    tensor(&b, "FloatStorage", "0", 6, 1, 1, s, st);
    tensor(&b, "FloatStorage", "0", 6, 2, 1, s, st);
    RAW(&b, "\x85lu");
    RAW(&b, "K\x03");
    tensor(&b, "FloatStorage", "0", 6, 3, 1, s, st);
    ustr(&b, "n");
    RAW(&b, "Nu");
    kt_value *v = parse_bound(&b, &calls, KT_OK, &err);
    kt_tensor_list l = {0};
    assert_int_equal(kt_value_flatten(v, &l, &err), KT_OK);
    assert_int_equal(l.count, 4);
    assert_string_equal(l.items[0].name, "bert.module.w");
    assert_string_equal(l.items[1].name, "bert.x.0");
    assert_string_equal(l.items[2].name, "bert.x.1.0");
    assert_string_equal(l.items[3].name, "3");
    for (int i = 0; i < 4; i++) {
        assert_null(l.items[i].tensor.owned);
        assert_true(kt_tensor_get_f64(&l.items[i].tensor, 0) == (double)i);
    }
    kt_tensor_list_free(&l);
    kt_value_free(v);
}

static void t_flatten_root_and_dupes(void **state)
{
    (void)state;
    int calls = 0;
    kt_error err;
    int64_t s[1] = {1}, st[1] = {1};
    pk b = {{0}, 0};
    tensor(&b, "FloatStorage", "0", 6, 5, 1, s, st);
    kt_value *v = parse_bound(&b, &calls, KT_OK, &err);
    kt_tensor_list l = {0};
    assert_int_equal(kt_value_flatten(v, &l, &err), KT_OK);
    assert_int_equal(l.count, 1);
    assert_string_equal(l.items[0].name, "");
    assert_true(kt_tensor_get_f64(&l.items[0].tensor, 0) == 5.0);
    kt_tensor_list_free(&l);
    kt_value_free(v);
    /* {'a.b': T, 'a': {'b': T}} -> two tensors named a.b */
    pk c = {{0}, 0};
    RAW(&c, "}(");
    ustr(&c, "a.b");
    tensor(&c, "FloatStorage", "0", 6, 0, 1, s, st);
    ustr(&c, "a");
    RAW(&c, "}");
    ustr(&c, "b");
    tensor(&c, "FloatStorage", "0", 6, 0, 1, s, st);
    RAW(&c, "su");
    v = parse_bound(&c, &calls, KT_OK, &err);
    assert_int_equal(kt_value_flatten(v, &l, &err), KT_EFORMAT);
    assert_non_null(strstr(err.msg, "a.b"));
    kt_tensor_list_free(&l);
    kt_value_free(v);
    /* a tensor under a tuple key cannot be named */
    pk d = {{0}, 0};
    RAW(&d, "}K\x01\x85");
    tensor(&d, "FloatStorage", "0", 6, 0, 1, s, st);
    RAW(&d, "s");
    v = parse_bound(&d, &calls, KT_OK, &err);
    assert_int_equal(kt_value_flatten(v, &l, &err), KT_EUNSUPPORTED);
    kt_tensor_list_free(&l);
    kt_value_free(v);
}

static void t_voice_pack_pickle(void **state)
{
    (void)state;
    /* the exact opcode sequence of a Kokoro voice pack's data.pkl (protocol 2), shape (510,1,256) */
    static const unsigned char d[] =
        "\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\nq\x00((X\x07\x00\x00\x00storageq\x01"
        "ctorch\nFloatStorage\nq\x02X\x01\x00\x00\x00" "0q\x03X\x03\x00\x00\x00" "cpuq\x04J\x00\xfe\x01\x00tq\x05"
        "QK\x00M\xfe\x01K\x01M\x00\x01\x87q\x06M\x00\x01M\x00\x01K\x01\x87q\x07\x89"
        "ccollections\nOrderedDict\nq\x08)Rq\x09tq\x0aRq\x0b.";
    kt_value *v = ok_parse(d, sizeof d - 1);
    kt_tensor t;
    kt_error err;
    assert_int_equal(kt_value_tensor(v, &t, &err), KT_OK);
    assert_int_equal(t.ndim, 3);
    assert_true(t.shape[0] == 510 && t.shape[1] == 1 && t.shape[2] == 256);
    assert_true(t.stride[0] == 256 && t.stride[1] == 256 && t.stride[2] == 1);
    kt_storage_info info;
    kt_value_storage(kt_pickle_storage_at(v, 0), &info, &err);
    assert_int_equal(info.numel, 130560);
    kt_value_free(v);
}

static void t_truncations_never_crash(void **state)
{
    (void)state;
    /* every prefix of a real pickle fails cleanly */
    static const unsigned char d[] =
        "\x80\x02}q\x00(X\x01\x00\x00\x00" "aq\x01" "ccollections\nOrderedDict\nq\x02)Rq\x03"
        "(X\x01\x00\x00\x00wq\x04" "ctorch._utils\n_rebuild_tensor_v2\nq\x05((X\x07\x00\x00\x00storage"
        "ctorch\nFloatStorage\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x02tQK\x00K\x02\x85K\x01\x85"
        "\x89h\x02)RtRub.";
    for (size_t n = 0; n + 1 < sizeof d - 1; n++) {
        kt_value *v = (kt_value *)1;
        kt_error err;
        assert_int_not_equal(kt_pickle_parse(d, n, NULL, &v, NULL, &err), KT_OK);
        assert_null(v);
    }
    /* the full one: BUILD with a non-dict state on a dict at the end -> refused */
    kt_value *v;
    kt_error err;
    assert_int_equal(kt_pickle_parse(d, sizeof d - 1, NULL, &v, NULL, &err), KT_EUNSAFE);
}

/* ------------------------------------------------------------ Python's own pickler */

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    static unsigned char buf[65536];
    *n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

/* fixtures/fuzz/fuzz_pickle/plain_p*.pkl: the object in that folder's README, in protocols 0, 2, 4, 5. */
static void t_python_protocols(void **state)
{
    (void)state;
    static const char *const files[] = {"plain_p0.pkl", "plain_p2.pkl", "plain_p4.pkl", "plain_p5.pkl"};
    for (size_t f = 0; f < 4; f++) {
        char path[256];
        size_t n;
        snprintf(path, sizeof path, "fixtures/fuzz/fuzz_pickle/%s", files[f]);
        const unsigned char *d = slurp(path, &n);
        kt_value *v = ok_parse(d, n);
        assert_int_equal(kt_value_kind(v), KT_V_DICT);
        assert_int_equal(kt_value_len(v), 5);
        static const char *const keys[] = {"a", "o", "e", "l", "d"};
        for (size_t i = 0; i < 5; i++)
            assert_string_equal(kt_value_str(kt_value_dict_key(v, i), NULL), keys[i]);
        const kt_value *a = kt_value_dict_get(v, "a");
        assert_int_equal(kt_value_len(a), 16);
        assert_int_equal(kt_value_int(kt_value_item(a, 0)), 1);
        assert_int_equal(kt_value_int(kt_value_item(a, 1)), -2);
        assert_true(kt_value_float(kt_value_item(a, 2)) == 3.5);
        assert_int_equal(kt_value_kind(kt_value_item(a, 3)), KT_V_NONE);
        assert_int_equal(kt_value_kind(kt_value_item(a, 4)), KT_V_BOOL);
        assert_int_equal(kt_value_bool(kt_value_item(a, 4)), 1);
        assert_int_equal(kt_value_bool(kt_value_item(a, 5)), 0);
        assert_string_equal(kt_value_str(kt_value_item(a, 6), NULL), "s\xc3\xa9");
        assert_int_equal(kt_value_kind(kt_value_item(a, 7)), KT_V_BYTES);
        assert_string_equal(kt_value_str(kt_value_item(a, 7), NULL), "by");
        for (size_t i = 0; i < 4; i++) {
            const kt_value *t = kt_value_item(a, 8 + i);
            assert_int_equal(kt_value_kind(t), KT_V_TUPLE);
            assert_int_equal(kt_value_len(t), i + 1);
            assert_int_equal(kt_value_int(kt_value_item(t, i)), (int64_t)i + 1);
        }
        assert_int_equal(kt_value_kind(kt_value_item(a, 12)), KT_V_SET);
        assert_int_equal(kt_value_len(kt_value_item(a, 12)), 2);
        assert_int_equal(kt_value_kind(kt_value_item(a, 13)), KT_V_SET);
        assert_int_equal(kt_value_int(kt_value_item(kt_value_item(a, 13), 0)), 3);
        assert_true(kt_value_int(kt_value_item(a, 14)) == ((int64_t)1 << 40));
        assert_true(kt_value_int(kt_value_item(a, 15)) == INT64_MIN);
        const kt_value *o = kt_value_dict_get(v, "o");
        assert_int_equal(kt_value_dict_is_ordered(o), 1);
        assert_int_equal(kt_value_int(kt_value_dict_get(o, "k")), 1);
        assert_int_equal(kt_value_kind(kt_value_dict_get(v, "e")), KT_V_TUPLE);
        assert_int_equal(kt_value_kind(kt_value_dict_get(v, "l")), KT_V_LIST);
        assert_int_equal(kt_value_len(kt_value_dict_get(v, "d")), 0);
        kt_value_free(v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_proto_frame_stop),
        cmocka_unit_test(t_int_text),
        cmocka_unit_test(t_binint),
        cmocka_unit_test(t_long),
        cmocka_unit_test(t_float),
        cmocka_unit_test(t_string_ops),
        cmocka_unit_test(t_unicode_ops),
        cmocka_unit_test(t_bytes_ops),
        cmocka_unit_test(t_string_length_limit),
        cmocka_unit_test(t_none_true_false),
        cmocka_unit_test(t_list_ops),
        cmocka_unit_test(t_tuple_ops),
        cmocka_unit_test(t_dict_ops),
        cmocka_unit_test(t_set_ops),
        cmocka_unit_test(t_stack_ops),
        cmocka_unit_test(t_dup),
        cmocka_unit_test(t_memo_ops),
        cmocka_unit_test(t_memo_limit),
        cmocka_unit_test(t_stack_limit),
        cmocka_unit_test(t_depth_limit),
        cmocka_unit_test(t_depth_through_shared_values),
        cmocka_unit_test(t_messages_one_line),
        cmocka_unit_test(t_cycle),
        cmocka_unit_test(t_underflow_and_marks),
        cmocka_unit_test(t_forbidden_globals),
        cmocka_unit_test(t_forbidden_reduce_build),
        cmocka_unit_test(t_ordered_dict),
        cmocka_unit_test(t_size_codecs_dtype),
        cmocka_unit_test(t_persid_text),
        cmocka_unit_test(t_tensor_view),
        cmocka_unit_test(t_tensor_shared_storage),
        cmocka_unit_test(t_tensor_0d_and_empty),
        cmocka_unit_test(t_tensor_does_not_fit),
        cmocka_unit_test(t_tensor_dims_limit),
        cmocka_unit_test(t_tensor_count_limit),
        cmocka_unit_test(t_bind_error_aborts),
        cmocka_unit_test(t_parameter),
        cmocka_unit_test(t_storage_bind_size),
        cmocka_unit_test(t_flatten_names),
        cmocka_unit_test(t_flatten_root_and_dupes),
        cmocka_unit_test(t_voice_pack_pickle),
        cmocka_unit_test(t_truncations_never_crash),
        cmocka_unit_test(t_python_protocols),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
