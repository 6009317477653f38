/* pickle.c - restricted unpickler: builds a kt_value tree, never executes anything.
 *
 * Every value of one parse is registered in one arena and freed with it, so the
 * memo may share values freely. Globals resolve against a fixed allowlist; REDUCE,
 * NEWOBJ and BUILD are interpreted only for those. After STOP the reachable tree
 * is checked for cycles, depth and leftover globals. */
#include "kt/pickle.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- values */

enum { G_REBUILD_V2 = 1, G_REBUILD, G_PARAM, G_PARAM_STATE, G_ODICT, G_STORAGE, G_SIZE,
       G_ENCODE, G_BYTES, G_SET, G_FROZENSET };

struct tensor_data {
    kt_value *storage;
    int64_t offset;
    int ndim;
    int64_t shape[KT_MAX_DIMS];
    int64_t stride[KT_MAX_DIMS];
    int requires_grad;
};

typedef struct arena {
    kt_value **vals;
    size_t nvals, capvals;
    kt_value **stor; /* storages in first-reference order */
    size_t nstor, capstor;
    kt_value **stor_hash; /* open addressing on key; size capstor_hash (power of 2) */
    size_t capstor_hash;
    size_t ntensors;
    size_t max_depth;
    size_t pickle_bytes; /* size of the parsed pickle: bounds the bytes of tensor names */
} arena;

struct kt_value {
    kt_vkind kind;
    unsigned char color; /* cycle check: 0 white, 1 on the path, 2 done */
    unsigned height;     /* nesting levels below and including this value, once done */
    arena *a;
    union {
        int b;
        int64_t i;
        double f;
        struct {
            char *p;
            size_t len;
        } s;
        struct {
            kt_value **items; /* DICT: key, value pairs */
            size_t len, cap;  /* in items (DICT: 2 per pair) */
            kt_value *state;  /* DICT: BUILD state */
            int ordered;
        } c;
        struct tensor_data *t;
        struct {
            kt_dtype dtype;
            char *key;
            char *location;
            int64_t numel;
            const void *data;
            uint64_t nbytes;
            void *owned;
        } st;
        struct {
            int id;
            kt_dtype dtype; /* G_STORAGE */
            char *name;     /* "module.name", for messages */
        } g;
    } u;
};

static void value_release(kt_value *v)
{
    switch (v->kind) {
    case KT_V_STR:
    case KT_V_BYTES: free(v->u.s.p); break;
    case KT_V_LIST:
    case KT_V_TUPLE:
    case KT_V_SET:
    case KT_V_DICT: free(v->u.c.items); break;
    case KT_V_STORAGE:
        free(v->u.st.key);
        free(v->u.st.location);
        free(v->u.st.owned);
        break;
    case KT_V_GLOBAL: free(v->u.g.name); break;
    case KT_V_TENSOR: free(v->u.t); break;
    default: break;
    }
    free(v);
}

static void arena_free(arena *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nvals; i++)
        value_release(a->vals[i]);
    free(a->vals);
    free(a->stor);
    free(a->stor_hash);
    free(a);
}

void kt_value_free(struct kt_value *v)
{
    if (v)
        arena_free(v->a);
}

void kt_pickle_default_limits(kt_pickle_limits *l)
{
    l->max_depth = 64;
    l->max_stack = (size_t)1 << 20;
    l->max_memo = (size_t)1 << 20;
    l->max_tensors = (size_t)1 << 20;
    l->max_values = (size_t)1 << 22;
    l->max_bytes = 0;
}

/* The memory a parse of n pickle bytes may allocate when limits say 0: 8 MiB + 2 x n. */
static size_t default_max_bytes(size_t n)
{
    return ((size_t)8 << 20) + (n > SIZE_MAX / 4 ? SIZE_MAX / 2 : 2 * n);
}

/* ---------------------------------------------------------------- parser state */

typedef struct {
    const unsigned char *d;
    size_t n, pos;
    kt_pickle_limits lim;
    const kt_pickle_options *opt;
    arena *a;
    kt_value **stack;
    size_t sp, capstack;
    size_t *marks;
    size_t nmarks, capmarks;
    kt_value **memo;
    size_t capmemo, memo_count;
    size_t bytes; /* allocated so far (values, strings, containers, stack), against lim.max_bytes */
    kt_error *err;
} P;

#define FAIL(code, ...) kt_error_set(p->err, code, "pickle: " __VA_ARGS__)

/* Counts n more bytes of the parse against lim.max_bytes, before they are allocated. */
static kt_status charge(P *p, size_t n)
{
    if (n > p->lim.max_bytes - p->bytes)
        return FAIL(KT_ELIMIT, "the parse needs more than %zu bytes of memory (8 MiB + 2 x the %zu-byte pickle)",
                    p->lim.max_bytes, p->n);
    p->bytes += n;
    return KT_OK;
}

static kt_status grow(P *p, void **arr, size_t *cap, size_t need, size_t elem, size_t limit, const char *what)
{
    if (need > limit)
        return FAIL(KT_ELIMIT, "%s exceeds the limit of %zu", what, limit);
    if (need <= *cap)
        return KT_OK;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c = c > limit / 2 ? limit : c * 2;
    if (c > limit)
        c = limit;
    /* the memo table is the exception: one pointer per index, at most max_memo (see kt/pickle.h) */
    if ((void *)arr != (void *)&p->memo && charge(p, (c - *cap) * elem))
        return p->err->code;
    void *q = realloc(*arr, c * elem);
    if (!q)
        return FAIL(KT_ENOMEM, "out of memory for %s", what);
    *arr = q;
    *cap = c;
    return KT_OK;
}

static kt_value *new_value(P *p, kt_vkind kind)
{
    arena *a = p->a;
    if (grow(p, (void **)&a->vals, &a->capvals, a->nvals + 1, sizeof *a->vals, p->lim.max_values, "value count") ||
        charge(p, sizeof(kt_value) + 16))
        return NULL;
    kt_value *v = calloc(1, sizeof *v);
    if (!v) {
        FAIL(KT_ENOMEM, "out of memory");
        return NULL;
    }
    v->kind = kind;
    v->a = a;
    a->vals[a->nvals++] = v;
    return v;
}

static kt_status push(P *p, kt_value *v)
{
    if (!v)
        return p->err ? p->err->code : KT_ENOMEM;
    kt_status st = grow(p, (void **)&p->stack, &p->capstack, p->sp + 1, sizeof *p->stack, p->lim.max_stack,
                        "stack size");
    if (st)
        return st;
    p->stack[p->sp++] = v;
    return KT_OK;
}

static size_t mark_base(const P *p) { return p->nmarks ? p->marks[p->nmarks - 1] : 0; }

static kt_status pop(P *p, kt_value **out)
{
    if (p->sp == 0 || p->sp <= mark_base(p))
        return FAIL(KT_EFORMAT, "stack underflow at offset %zu", p->pos);
    *out = p->stack[--p->sp];
    return KT_OK;
}

static kt_status top(P *p, kt_value **out)
{
    if (p->sp == 0 || p->sp <= mark_base(p))
        return FAIL(KT_EFORMAT, "stack underflow at offset %zu", p->pos);
    *out = p->stack[p->sp - 1];
    return KT_OK;
}

/* Pops the topmost mark; *start receives the stack index of its first item. */
static kt_status pop_mark(P *p, size_t *start)
{
    if (p->nmarks == 0)
        return FAIL(KT_EFORMAT, "no MARK before offset %zu", p->pos);
    *start = p->marks[--p->nmarks];
    return KT_OK;
}

/* ---------------------------------------------------------------- input */

static kt_status need(P *p, uint64_t k)
{
    if (k > p->n - p->pos)
        return FAIL(KT_EFORMAT, "truncated at offset %zu (needs %llu more bytes)", p->pos,
                    (unsigned long long)k);
    return KT_OK;
}

static uint64_t rd_le(P *p, int k)
{
    uint64_t x = 0;
    for (int i = k - 1; i >= 0; i--)
        x = x << 8 | p->d[p->pos + i];
    p->pos += k;
    return x;
}

/* A text argument up to '\n' (exclusive); pos moves past the newline. */
static kt_status read_line(P *p, const char **s, size_t *len)
{
    const unsigned char *start = p->d + p->pos;
    const unsigned char *nl = memchr(start, '\n', p->n - p->pos);
    if (!nl)
        return FAIL(KT_EFORMAT, "unterminated text argument at offset %zu", p->pos);
    *s = (const char *)start;
    *len = (size_t)(nl - start);
    p->pos += *len + 1;
    return KT_OK;
}

static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : 9;
        if (k == 9 || (k == 1 && c < 0xc2) || (k == 3 && c > 0xf4) || k > n - i - 1)
            return 0;
        for (size_t j = 1; j <= k; j++)
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
        if ((k == 2 && c == 0xe0 && s[i + 1] < 0xa0) || (k == 3 && c == 0xf0 && s[i + 1] < 0x90) ||
            (k == 3 && c == 0xf4 && s[i + 1] > 0x8f))
            return 0; /* overlong or beyond U+10FFFF; surrogates pass (Python's surrogatepass) */
        i += k + 1;
    }
    return 1;
}

static kt_value *new_blob(P *p, kt_vkind kind, const void *src, size_t len)
{
    kt_value *v = new_value(p, kind);
    if (!v || charge(p, len + 16))
        return NULL;
    v->u.s.p = malloc(len + 1);
    if (!v->u.s.p) {
        FAIL(KT_ENOMEM, "out of memory for a %zu-byte string", len);
        return NULL;
    }
    if (len)
        memcpy(v->u.s.p, src, len);
    v->u.s.p[len] = 0;
    v->u.s.len = len;
    return v;
}

/* STR from UTF-8 bytes (validated) or BYTES. */
static kt_status push_blob(P *p, kt_vkind kind, const unsigned char *src, size_t len)
{
    if (kind == KT_V_STR && !utf8_valid(src, len))
        return FAIL(KT_EFORMAT, "invalid UTF-8 in a string at offset %zu", p->pos);
    return push(p, new_blob(p, kind, src, len));
}

/* Reads a k-byte little-endian length, then that many bytes. */
static kt_status op_blob(P *p, int k, kt_vkind kind)
{
    kt_status st = need(p, (uint64_t)k);
    if (st)
        return st;
    uint64_t len = rd_le(p, k);
    if (len > p->n - p->pos)
        return FAIL(KT_ELIMIT, "a %llu-byte string exceeds the %zu bytes left at offset %zu",
                    (unsigned long long)len, p->n - p->pos, p->pos);
    const unsigned char *s = p->d + p->pos;
    p->pos += (size_t)len;
    return push_blob(p, kind, s, (size_t)len);
}

/* ---------------------------------------------------------------- numbers */

static kt_value *new_int(P *p, int64_t x)
{
    kt_value *v = new_value(p, KT_V_INT);
    if (v)
        v->u.i = x;
    return v;
}

static kt_value *new_bool(P *p, int b)
{
    kt_value *v = new_value(p, KT_V_BOOL);
    if (v)
        v->u.b = b != 0;
    return v;
}

/* Parses a decimal integer (optional sign, optional trailing 'L'). */
static kt_status parse_dec(P *p, const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    uint64_t x = 0;
    if (len && s[len - 1] == 'L')
        len--;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    if (i == len)
        return FAIL(KT_EFORMAT, "bad integer at offset %zu", p->pos);
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return FAIL(KT_EFORMAT, "bad integer at offset %zu", p->pos);
        if (x > (UINT64_C(1) << 63) / 10 || x * 10 + (uint64_t)(s[i] - '0') > (UINT64_C(1) << 63) - !neg)
            return FAIL(KT_EUNSUPPORTED, "integer wider than 64 bits at offset %zu", p->pos);
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    *out = neg ? (int64_t)(0 - x) : (int64_t)x;
    return KT_OK;
}

static kt_status op_text_int(P *p, int is_long)
{
    const char *s;
    size_t len;
    int64_t x;
    kt_status st = read_line(p, &s, &len);
    if (st)
        return st;
    if (!is_long && len == 2 && s[0] == '0' && (s[1] == '0' || s[1] == '1'))
        return push(p, new_bool(p, s[1] == '1'));
    if ((st = parse_dec(p, s, len, &x)))
        return st;
    return push(p, new_int(p, x));
}

/* LONG1 / LONG4: little-endian two's complement of n <= 8 bytes. */
static kt_status op_long(P *p, int k)
{
    kt_status st = need(p, (uint64_t)k);
    if (st)
        return st;
    uint64_t n = rd_le(p, k);
    if (k == 4 && n > 0x7fffffff)
        return FAIL(KT_EFORMAT, "negative LONG4 length at offset %zu", p->pos);
    if ((st = need(p, n)))
        return st;
    if (n > 8)
        return FAIL(KT_EUNSUPPORTED, "integer wider than 64 bits at offset %zu", p->pos);
    uint64_t x = n ? rd_le(p, (int)n) : 0;
    if (n > 0 && n < 8 && (x >> (8 * n - 1) & 1))
        x |= ~UINT64_C(0) << (8 * n);
    int64_t v;
    memcpy(&v, &x, sizeof v);
    return push(p, new_int(p, v));
}

static kt_status op_binint(P *p, int k, int is_signed)
{
    kt_status st = need(p, (uint64_t)k);
    if (st)
        return st;
    uint64_t x = rd_le(p, k);
    int64_t v = (int64_t)x;
    if (is_signed && (x & 0x80000000u))
        v = (int64_t)x - ((int64_t)1 << 32);
    return push(p, new_int(p, v));
}

static kt_status op_float(P *p, int binary)
{
    double f;
    kt_status st;
    if (binary) {
        if ((st = need(p, 8)))
            return st;
        uint64_t x = 0;
        for (int i = 0; i < 8; i++)
            x = x << 8 | p->d[p->pos + i]; /* big-endian */
        p->pos += 8;
        memcpy(&f, &x, sizeof f);
    } else {
        const char *s;
        size_t len;
        char buf[64];
        if ((st = read_line(p, &s, &len)))
            return st;
        if (len == 0 || len >= sizeof buf)
            return FAIL(KT_EFORMAT, "bad float at offset %zu", p->pos);
        memcpy(buf, s, len);
        buf[len] = 0;
        char *end;
        f = strtod(buf, &end);
        if (*end)
            return FAIL(KT_EFORMAT, "bad float at offset %zu", p->pos);
    }
    kt_value *v = new_value(p, KT_V_FLOAT);
    if (v)
        v->u.f = f;
    return push(p, v);
}

/* ---------------------------------------------------------------- text strings */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static size_t put_utf8(char *o, uint32_t c)
{
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xc0 | c >> 6);
        o[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xe0 | c >> 12);
        o[1] = (char)(0x80 | (c >> 6 & 0x3f));
        o[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | c >> 18);
    o[1] = (char)(0x80 | (c >> 12 & 0x3f));
    o[2] = (char)(0x80 | (c >> 6 & 0x3f));
    o[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

/* Decodes n hex digits at s into *c; -1 when not hex. */
static int hexn(const char *s, size_t n, uint32_t *c)
{
    *c = 0;
    for (size_t i = 0; i < n; i++) {
        int h = hexval((unsigned char)s[i]);
        if (h < 0)
            return -1;
        *c = *c << 4 | (uint32_t)h;
    }
    return 0;
}

/* One backslash escape of a STRING repr at s[i] (after the backslash); appends to o. */
static int repr_escape(const char *s, size_t len, size_t *i, char *o, size_t *olen)
{
    static const char from[] = "\\'\"nrtabfv0", to[] = "\\'\"\n\r\t\a\b\f\v";
    char c = s[*i];
    uint32_t x;
    const char *f = c ? strchr(from, c) : NULL;
    if (f && c != '0') {
        o[(*olen)++] = to[f - from];
        *i += 1;
        return 0;
    }
    if (c == 'x' && *i + 3 <= len && hexn(s + *i + 1, 2, &x) == 0) {
        o[(*olen)++] = (char)x;
        *i += 3;
        return 0;
    }
    if (c >= '0' && c <= '7') {
        x = 0;
        size_t k = 0;
        while (k < 3 && *i + k < len && s[*i + k] >= '0' && s[*i + k] <= '7')
            x = x * 8 + (uint32_t)(s[*i + k++] - '0');
        o[(*olen)++] = (char)(x & 0xff);
        *i += k;
        return 0;
    }
    return -1;
}

/* STRING: a quoted Python 2 str repr, decoded then taken as UTF-8 (torch.load's encoding). */
static kt_status op_string(P *p)
{
    const char *s;
    size_t len, olen = 0;
    kt_status st = read_line(p, &s, &len);
    if (st)
        return st;
    if (len < 2 || (s[0] != '\'' && s[0] != '"') || s[len - 1] != s[0])
        return FAIL(KT_EFORMAT, "STRING argument not quoted at offset %zu", p->pos);
    char *o = malloc(len);
    if (!o)
        return FAIL(KT_ENOMEM, "out of memory");
    for (size_t i = 1; i < len - 1;) {
        if (s[i] != '\\') {
            o[olen++] = s[i++];
            continue;
        }
        i++;
        if (i >= len - 1 || repr_escape(s, len - 1, &i, o, &olen)) {
            free(o);
            return FAIL(KT_EFORMAT, "bad escape in STRING at offset %zu", p->pos);
        }
    }
    st = push_blob(p, KT_V_STR, (const unsigned char *)o, olen);
    free(o);
    return st;
}

/* UNICODE: raw-unicode-escape (latin-1 bytes plus \uXXXX and \UXXXXXXXX). */
static kt_status op_unicode(P *p)
{
    const char *s;
    size_t len, olen = 0;
    kt_status st = read_line(p, &s, &len);
    if (st)
        return st;
    char *o = malloc(2 * len + 1);
    if (!o)
        return FAIL(KT_ENOMEM, "out of memory");
    for (size_t i = 0; i < len;) {
        uint32_t c = (unsigned char)s[i];
        size_t k = 0;
        if (c == '\\' && i + 1 < len && (s[i + 1] == 'u' || s[i + 1] == 'U'))
            k = s[i + 1] == 'u' ? 4 : 8;
        if (k && (i + 2 + k > len || hexn(s + i + 2, k, &c) || c > 0x10ffff)) {
            free(o);
            return FAIL(KT_EFORMAT, "bad escape in UNICODE at offset %zu", p->pos);
        }
        i += k ? 2 + k : 1;
        olen += put_utf8(o + olen, c);
    }
    st = push_blob(p, KT_V_STR, (const unsigned char *)o, olen);
    free(o);
    return st;
}

/* ---------------------------------------------------------------- containers */

static kt_status cont_add(P *p, kt_value *c, kt_value *v)
{
    kt_status st = grow(p, (void **)&c->u.c.items, &c->u.c.cap, c->u.c.len + 1, sizeof *c->u.c.items, SIZE_MAX / 16,
                        "container size");
    if (st)
        return st;
    c->u.c.items[c->u.c.len++] = v;
    return KT_OK;
}

/* A new container of kind holding stack[start..sp) (popped). */
static kt_status collect(P *p, kt_vkind kind, size_t start)
{
    kt_value *c = new_value(p, kind);
    kt_status st = KT_OK;
    if (!c)
        return p->err->code;
    if (kind == KT_V_DICT && (p->sp - start) % 2)
        return FAIL(KT_EFORMAT, "odd number of items for a dict at offset %zu", p->pos);
    for (size_t i = start; i < p->sp && !st; i++)
        st = cont_add(p, c, p->stack[i]);
    p->sp = start;
    return st ? st : push(p, c);
}

static kt_status op_collect_mark(P *p, kt_vkind kind)
{
    size_t start = 0;
    kt_status st = pop_mark(p, &start);
    return st ? st : collect(p, kind, start);
}

static kt_status op_tuple_n(P *p, size_t n)
{
    if (p->sp < mark_base(p) + n)
        return FAIL(KT_EFORMAT, "stack underflow at offset %zu", p->pos);
    return collect(p, KT_V_TUPLE, p->sp - n);
}

static const char *kind_name(const kt_value *v) { return kt_vkind_name(v->kind); }

/* APPEND(S) / ADDITEMS / SETITEM(S): items stack[start..sp) go into the container below them. */
static kt_status add_items(P *p, size_t start, kt_vkind want)
{
    if (start == 0 || start <= mark_base(p))
        return FAIL(KT_EFORMAT, "stack underflow at offset %zu", p->pos);
    kt_value *c = p->stack[start - 1];
    kt_status st = KT_OK;
    if (c->kind != want)
        return FAIL(KT_EUNSAFE, "cannot add items to a %s (expected a %s) at offset %zu", kind_name(c),
                    kt_vkind_name(want), p->pos);
    if (want == KT_V_DICT && (p->sp - start) % 2)
        return FAIL(KT_EFORMAT, "odd number of items for SETITEMS at offset %zu", p->pos);
    for (size_t i = start; i < p->sp && !st; i++)
        st = cont_add(p, c, p->stack[i]);
    p->sp = start;
    return st;
}

static kt_status op_add_mark(P *p, kt_vkind want)
{
    size_t start = 0;
    kt_status st = pop_mark(p, &start);
    return st ? st : add_items(p, start, want);
}

static kt_status op_add_n(P *p, size_t n, kt_vkind want)
{
    if (p->sp < mark_base(p) + n)
        return FAIL(KT_EFORMAT, "stack underflow at offset %zu", p->pos);
    return add_items(p, p->sp - n, want);
}

/* ---------------------------------------------------------------- memo */

static kt_status memo_put(P *p, uint64_t idx)
{
    kt_value *v;
    kt_status st = top(p, &v);
    if (st)
        return st;
    if (idx >= p->lim.max_memo)
        return FAIL(KT_ELIMIT, "memo index %llu exceeds the limit of %zu", (unsigned long long)idx, p->lim.max_memo);
    size_t old = p->capmemo;
    if ((st = grow(p, (void **)&p->memo, &p->capmemo, (size_t)idx + 1, sizeof *p->memo, p->lim.max_memo,
                   "memo size")))
        return st;
    if (p->capmemo > old)
        memset(p->memo + old, 0, (p->capmemo - old) * sizeof *p->memo);
    if (!p->memo[idx])
        p->memo_count++;
    p->memo[idx] = v;
    return KT_OK;
}

static kt_status memo_get(P *p, uint64_t idx)
{
    if (idx >= p->capmemo || !p->memo[idx])
        return FAIL(KT_EFORMAT, "memo key %llu is not set at offset %zu", (unsigned long long)idx, p->pos);
    return push(p, p->memo[idx]);
}

static kt_status op_memo_bin(P *p, int k, int put)
{
    kt_status st = need(p, (uint64_t)k);
    if (st)
        return st;
    uint64_t idx = rd_le(p, k);
    return put ? memo_put(p, idx) : memo_get(p, idx);
}

static kt_status op_memo_text(P *p, int put)
{
    const char *s;
    size_t len;
    int64_t idx;
    kt_status st = read_line(p, &s, &len);
    if (!st)
        st = parse_dec(p, s, len, &idx);
    if (!st && idx < 0)
        st = FAIL(KT_EFORMAT, "negative memo key at offset %zu", p->pos);
    if (st)
        return st;
    return put ? memo_put(p, (uint64_t)idx) : memo_get(p, (uint64_t)idx);
}

/* ---------------------------------------------------------------- globals */

static const struct {
    const char *name;
    kt_dtype dtype;
} storage_types[] = {
    {"FloatStorage", KT_F32}, {"DoubleStorage", KT_F64}, {"HalfStorage", KT_F16},
    {"BFloat16Storage", KT_BF16}, {"CharStorage", KT_I8}, {"ShortStorage", KT_I16},
    {"IntStorage", KT_I32}, {"LongStorage", KT_I64}, {"ByteStorage", KT_U8},
    {"BoolStorage", KT_BOOL}, {"UntypedStorage", KT_U8},
};

static const struct {
    const char *name;
    kt_dtype dtype;
} dtype_names[] = {
    {"float32", KT_F32}, {"float", KT_F32}, {"float64", KT_F64}, {"double", KT_F64},
    {"float16", KT_F16}, {"half", KT_F16}, {"bfloat16", KT_BF16}, {"int8", KT_I8},
    {"int16", KT_I16}, {"short", KT_I16}, {"int32", KT_I32}, {"int", KT_I32},
    {"int64", KT_I64}, {"long", KT_I64}, {"uint8", KT_U8}, {"bool", KT_BOOL},
};

static const struct {
    const char *module, *name;
    int id;
} plain_globals[] = {
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_V2},
    {"torch._utils", "_rebuild_tensor", G_REBUILD},
    {"torch._utils", "_rebuild_parameter", G_PARAM},
    {"torch._utils", "_rebuild_parameter_with_state", G_PARAM_STATE},
    {"collections", "OrderedDict", G_ODICT},
    {"torch", "Size", G_SIZE},
    {"_codecs", "encode", G_ENCODE},
    {"builtins", "bytes", G_BYTES}, {"__builtin__", "bytes", G_BYTES},
    {"builtins", "set", G_SET}, {"__builtin__", "set", G_SET},
    {"builtins", "frozenset", G_FROZENSET}, {"__builtin__", "frozenset", G_FROZENSET},
};

static int eq(const char *s, size_t len, const char *lit) { return strlen(lit) == len && memcmp(s, lit, len) == 0; }

/* Resolves module.name against the allowlist and pushes a GLOBAL (or a STR for a dtype). */
static kt_status push_global(P *p, const char *mod, size_t mlen, const char *name, size_t nlen)
{
    int id = 0;
    kt_dtype dt = KT_F32;
    for (size_t i = 0; i < sizeof plain_globals / sizeof plain_globals[0] && !id; i++)
        if (eq(mod, mlen, plain_globals[i].module) && eq(name, nlen, plain_globals[i].name))
            id = plain_globals[i].id;
    int is_torch = eq(mod, mlen, "torch");
    for (size_t i = 0; i < sizeof storage_types / sizeof storage_types[0] && !id; i++)
        if ((is_torch || (i == 10 && eq(mod, mlen, "torch.storage"))) && eq(name, nlen, storage_types[i].name)) {
            id = G_STORAGE;
            dt = storage_types[i].dtype;
        }
    for (size_t i = 0; i < sizeof dtype_names / sizeof dtype_names[0] && !id && is_torch; i++)
        if (eq(name, nlen, dtype_names[i].name)) {
            char buf[32];
            int n = snprintf(buf, sizeof buf, "%s", kt_dtype_torch_name(dtype_names[i].dtype));
            return push(p, new_blob(p, KT_V_STR, buf, (size_t)n));
        }
    if (!id)
        return FAIL(KT_EUNSAFE, "forbidden global %.*s.%.*s", (int)(mlen > 200 ? 200 : mlen), mod,
                    (int)(nlen > 200 ? 200 : nlen), name);
    kt_value *v = new_value(p, KT_V_GLOBAL);
    if (!v)
        return p->err->code;
    v->u.g.id = id;
    v->u.g.dtype = dt;
    v->u.g.name = malloc(mlen + nlen + 2);
    if (!v->u.g.name)
        return FAIL(KT_ENOMEM, "out of memory");
    memcpy(v->u.g.name, mod, mlen);
    v->u.g.name[mlen] = '.';
    memcpy(v->u.g.name + mlen + 1, name, nlen);
    v->u.g.name[mlen + nlen + 1] = 0;
    return push(p, v);
}

static kt_status op_global(P *p)
{
    const char *mod, *name;
    size_t mlen, nlen;
    kt_status st = read_line(p, &mod, &mlen);
    if (!st)
        st = read_line(p, &name, &nlen);
    return st ? st : push_global(p, mod, mlen, name, nlen);
}

static kt_status op_stack_global(P *p)
{
    kt_value *mod, *name;
    kt_status st = pop(p, &name);
    if (!st)
        st = pop(p, &mod);
    if (st)
        return st;
    if (mod->kind != KT_V_STR || name->kind != KT_V_STR)
        return FAIL(KT_EFORMAT, "STACK_GLOBAL needs two strings at offset %zu", p->pos);
    return push_global(p, mod->u.s.p, mod->u.s.len, name->u.s.p, name->u.s.len);
}

/* INST names a class inline and instantiates it: never allowed. */
static kt_status op_inst(P *p)
{
    const char *mod, *name;
    size_t mlen, nlen;
    kt_status st = read_line(p, &mod, &mlen);
    if (!st)
        st = read_line(p, &name, &nlen);
    if (st)
        return st;
    return FAIL(KT_EUNSAFE, "forbidden INST of %.*s.%.*s", (int)(mlen > 200 ? 200 : mlen), mod,
                (int)(nlen > 200 ? 200 : nlen), name);
}

/* ---------------------------------------------------------------- storages and tensors */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static kt_value *storage_find(arena *a, const char *key)
{
    if (!a->capstor_hash)
        return NULL;
    for (size_t i = hash_str(key) & (a->capstor_hash - 1);; i = (i + 1) & (a->capstor_hash - 1)) {
        kt_value *v = a->stor_hash[i];
        if (!v || strcmp(v->u.st.key, key) == 0)
            return v;
    }
}

static kt_status storage_insert(P *p, kt_value *v)
{
    arena *a = p->a;
    kt_status st = grow(p, (void **)&a->stor, &a->capstor, a->nstor + 1, sizeof *a->stor, p->lim.max_values,
                        "storage count");
    if (st)
        return st;
    a->stor[a->nstor++] = v;
    if (a->nstor * 2 > a->capstor_hash) {
        size_t cap = a->capstor_hash ? a->capstor_hash * 2 : 64;
        kt_value **h = calloc(cap, sizeof *h);
        if (!h)
            return FAIL(KT_ENOMEM, "out of memory");
        free(a->stor_hash);
        a->stor_hash = h;
        a->capstor_hash = cap;
        for (size_t i = 0; i + 1 < a->nstor; i++) {
            size_t j = hash_str(a->stor[i]->u.st.key) & (cap - 1);
            while (h[j])
                j = (j + 1) & (cap - 1);
            h[j] = a->stor[i];
        }
    }
    size_t j = hash_str(v->u.st.key) & (a->capstor_hash - 1);
    while (a->stor_hash[j])
        j = (j + 1) & (a->capstor_hash - 1);
    a->stor_hash[j] = v;
    return KT_OK;
}

static char *dup_str(P *p, const kt_value *s)
{
    char *c = malloc(s->u.s.len + 1);
    if (!c) {
        FAIL(KT_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(c, s->u.s.p, s->u.s.len + 1);
    return c;
}

/* pid = ('storage', torch.XStorage, key, location, numel[, view_metadata]). */
static kt_status load_persid(P *p, kt_value *pid)
{
    if (pid->kind != KT_V_TUPLE)
        return FAIL(KT_EUNSUPPORTED, "persistent id is a %s, not a ('storage', ...) tuple", kind_name(pid));
    kt_value **it = pid->u.c.items;
    size_t n = pid->u.c.len;
    if (n < 5 || n > 6 || it[0]->kind != KT_V_STR || strcmp(it[0]->u.s.p, "storage"))
        return FAIL(KT_EUNSUPPORTED, "persistent id is not a ('storage', ...) tuple");
    if (it[1]->kind != KT_V_GLOBAL || it[1]->u.g.id != G_STORAGE)
        return FAIL(KT_EFORMAT, "persistent id without a storage type");
    if (it[2]->kind != KT_V_STR || it[3]->kind != KT_V_STR || it[4]->kind != KT_V_INT || it[4]->u.i < 0 ||
        strlen(it[2]->u.s.p) != it[2]->u.s.len)
        return FAIL(KT_EFORMAT, "malformed storage persistent id");
    for (const char *c = it[2]->u.s.p; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == '/')
            return FAIL(KT_EFORMAT, "storage key with a control character or '/'");
    if (n == 6 && it[5]->kind != KT_V_NONE)
        return FAIL(KT_EUNSUPPORTED, "storage views (legacy view_metadata) are not supported");
    kt_dtype dt = it[1]->u.g.dtype;
    int64_t numel = it[4]->u.i;
    if ((uint64_t)numel > (uint64_t)INT64_MAX / kt_dtype_size(dt))
        return FAIL(KT_ELIMIT, "storage of %lld elements is too large", (long long)numel);
    kt_value *s = storage_find(p->a, it[2]->u.s.p);
    if (s) {
        if (s->u.st.dtype != dt || s->u.st.numel != numel)
            return FAIL(KT_EFORMAT, "storage '%.100s' referenced with two types or sizes", s->u.st.key);
        return push(p, s);
    }
    if (!(s = new_value(p, KT_V_STORAGE)))
        return p->err->code;
    s->u.st.dtype = dt;
    s->u.st.numel = numel;
    if (!(s->u.st.key = dup_str(p, it[2])) || !(s->u.st.location = dup_str(p, it[3])))
        return p->err->code;
    kt_status st = storage_insert(p, s);
    if (!st && p->opt && p->opt->on_storage)
        st = p->opt->on_storage(p->opt->ctx, s, p->err);
    return st ? st : push(p, s);
}

static kt_status op_binpersid(P *p)
{
    kt_value *pid;
    kt_status st = pop(p, &pid);
    return st ? st : load_persid(p, pid);
}

static int is_seq(const kt_value *v) { return v->kind == KT_V_TUPLE || v->kind == KT_V_LIST; }

static kt_value *new_tensor(P *p)
{
    kt_value *t = new_value(p, KT_V_TENSOR);
    if (t && charge(p, sizeof *t->u.t + 16)) {
        t->kind = KT_V_NONE;
        return NULL;
    }
    if (t && !(t->u.t = calloc(1, sizeof *t->u.t))) {
        t->kind = KT_V_NONE;
        FAIL(KT_ENOMEM, "out of memory");
        return NULL;
    }
    return t;
}

/* Reads a size/stride tuple of non-negative ints into out; returns ndim or -1. */
static int read_dims(const kt_value *v, int64_t *out)
{
    if (!is_seq(v))
        return -1;
    if (v->u.c.len > KT_MAX_DIMS)
        return -2;
    for (size_t i = 0; i < v->u.c.len; i++) {
        const kt_value *x = v->u.c.items[i];
        if (x->kind != KT_V_INT || x->u.i < 0)
            return -1;
        out[i] = x->u.i;
    }
    return (int)v->u.c.len;
}

/* Checks shape/stride/offset against the storage: the last element must lie inside it. */
static kt_status check_fit(P *p, const kt_value *t)
{
    const kt_value *s = t->u.t->storage;
    int64_t numel = 1, span = 1, last = t->u.t->offset;
    /* span, the product with zero dimensions counted as 1: a zero dimension must not hide an
     * overflow of the others' product */
    for (int i = 0; i < t->u.t->ndim; i++) {
        int64_t w = t->u.t->shape[i] ? t->u.t->shape[i] : 1;
        if (span > INT64_MAX / 16 / w)
            return FAIL(KT_ELIMIT, "tensor dimension product overflows");
        span *= w;
        numel *= t->u.t->shape[i];
    }
    if (numel == 0)
        return KT_OK;
    if ((uint64_t)numel > (uint64_t)INT64_MAX / kt_dtype_size(s->u.st.dtype))
        return FAIL(KT_ELIMIT, "tensor dimension product overflows");
    for (int i = 0; i < t->u.t->ndim; i++) {
        int64_t d = t->u.t->shape[i] - 1, st = t->u.t->stride[i];
        if (st && d > (INT64_MAX - last) / st)
            return FAIL(KT_EFORMAT, "tensor strides overflow");
        last += d * st;
    }
    if (last >= s->u.st.numel)
        return FAIL(KT_EFORMAT, "tensor of %lld elements at offset %lld does not fit its storage '%.100s' of %lld",
                    (long long)numel, (long long)t->u.t->offset, s->u.st.key, (long long)s->u.st.numel);
    return KT_OK;
}

/* (storage, offset, size, stride[, requires_grad, hooks[, metadata]]) -> TENSOR. */
static kt_status rebuild_tensor(P *p, kt_value *args, size_t nargs_min, size_t nargs_max)
{
    kt_value **a = args->u.c.items;
    size_t n = args->u.c.len;
    if (n < nargs_min || n > nargs_max)
        return FAIL(KT_EFORMAT, "tensor rebuild with %zu arguments", n);
    if (a[0]->kind != KT_V_STORAGE || a[1]->kind != KT_V_INT || a[1]->u.i < 0)
        return FAIL(KT_EFORMAT, "tensor rebuild without a storage and offset");
    if (++p->a->ntensors > p->lim.max_tensors)
        return FAIL(KT_ELIMIT, "more than %zu tensors", p->lim.max_tensors);
    kt_value *t = new_tensor(p);
    if (!t)
        return p->err->code;
    t->u.t->storage = a[0];
    t->u.t->offset = a[1]->u.i;
    int nd = read_dims(a[2], t->u.t->shape), ns = read_dims(a[3], t->u.t->stride);
    if (nd == -2 || ns == -2)
        return FAIL(KT_ELIMIT, "tensor with more than %d dimensions", KT_MAX_DIMS);
    if (nd < 0 || ns != nd)
        return FAIL(KT_EFORMAT, "tensor size and stride are not matching tuples of non-negative ints");
    t->u.t->ndim = nd;
    if (n > 4)
        t->u.t->requires_grad = a[4]->kind == KT_V_BOOL && a[4]->u.b;
    kt_status st = check_fit(p, t);
    return st ? st : push(p, t);
}

/* (tensor, requires_grad, hooks[, state]) -> a TENSOR with requires_grad set. */
static kt_status rebuild_param(P *p, kt_value *args, size_t n_expected)
{
    kt_value **a = args->u.c.items;
    if (args->u.c.len != n_expected || a[0]->kind != KT_V_TENSOR)
        return FAIL(KT_EFORMAT, "parameter rebuild without a tensor");
    kt_value *t = new_tensor(p);
    if (!t)
        return p->err->code;
    *t->u.t = *a[0]->u.t;
    t->u.t->requires_grad = a[1]->kind == KT_V_BOOL && a[1]->u.b;
    return push(p, t);
}

/* ---------------------------------------------------------------- REDUCE, NEWOBJ, BUILD */

static kt_status new_container(P *p, kt_vkind kind, const kt_value *from, int ordered)
{
    kt_value *c = new_value(p, kind);
    kt_status st = KT_OK;
    if (!c)
        return p->err->code;
    c->u.c.ordered = ordered;
    if (from && !is_seq(from) && from->kind != KT_V_SET)
        return FAIL(KT_EFORMAT, "container built from a %s", kind_name(from));
    for (size_t i = 0; from && i < from->u.c.len && !st; i++) {
        kt_value *x = from->u.c.items[i];
        if (kind != KT_V_DICT) {
            st = cont_add(p, c, x);
            continue;
        }
        if (!is_seq(x) || x->u.c.len != 2)
            return FAIL(KT_EFORMAT, "OrderedDict item is not a pair");
        st = cont_add(p, c, x->u.c.items[0]);
        if (!st)
            st = cont_add(p, c, x->u.c.items[1]);
    }
    return st ? st : push(p, c);
}

/* _codecs.encode(str, 'latin1') -> BYTES (how protocol 2 stores bytes). */
static kt_status codecs_encode(P *p, const kt_value *args)
{
    kt_value **a = args->u.c.items;
    if (args->u.c.len != 2 || a[0]->kind != KT_V_STR || a[1]->kind != KT_V_STR ||
        (strcmp(a[1]->u.s.p, "latin1") && strcmp(a[1]->u.s.p, "latin-1")))
        return FAIL(KT_EUNSUPPORTED, "_codecs.encode other than (str, 'latin1')");
    const unsigned char *s = (const unsigned char *)a[0]->u.s.p;
    size_t n = a[0]->u.s.len, o = 0;
    kt_value *v = new_blob(p, KT_V_BYTES, s, n);
    if (!v)
        return p->err->code;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x80) {
            v->u.s.p[o++] = (char)s[i];
        } else if ((s[i] == 0xc2 || s[i] == 0xc3) && i + 1 < n) {
            v->u.s.p[o++] = (char)((s[i] & 3) << 6 | (s[i + 1] & 0x3f));
            i++;
        } else {
            return FAIL(KT_EFORMAT, "_codecs.encode of a character outside latin-1");
        }
    }
    v->u.s.p[o] = 0;
    v->u.s.len = o;
    return push(p, v);
}

static kt_status call_global(P *p, const kt_value *g, kt_value *args)
{
    size_t n = args->u.c.len;
    kt_value *a0 = n ? args->u.c.items[0] : NULL;
    switch (g->u.g.id) {
    case G_REBUILD_V2: return rebuild_tensor(p, args, 6, 7);
    case G_REBUILD: return rebuild_tensor(p, args, 4, 4);
    case G_PARAM: return rebuild_param(p, args, 3);
    case G_PARAM_STATE: return rebuild_param(p, args, 4);
    case G_ODICT:
        if (n > 1)
            break;
        return new_container(p, KT_V_DICT, a0, 1);
    case G_SIZE:
        if (n != 1)
            break;
        return new_container(p, KT_V_TUPLE, a0, 0);
    case G_ENCODE: return codecs_encode(p, args);
    case G_BYTES:
        if (n != 0)
            break;
        return push(p, new_blob(p, KT_V_BYTES, "", 0));
    case G_SET:
    case G_FROZENSET:
        if (n > 1)
            break;
        return new_container(p, KT_V_SET, a0, 0);
    default: break;
    }
    return FAIL(KT_EUNSAFE, "REDUCE of %s with %zu arguments is not allowed", g->u.g.name, n);
}

static kt_status op_reduce(P *p)
{
    kt_value *f, *args;
    kt_status st = pop(p, &args);
    if (!st)
        st = pop(p, &f);
    if (st)
        return st;
    if (f->kind != KT_V_GLOBAL)
        return FAIL(KT_EUNSAFE, "REDUCE on a %s", kind_name(f));
    if (args->kind != KT_V_TUPLE)
        return FAIL(KT_EFORMAT, "REDUCE arguments are a %s, not a tuple", kind_name(args));
    return call_global(p, f, args);
}

/* NEWOBJ / NEWOBJ_EX: cls.__new__(cls, *args), for OrderedDict and torch.Size only. */
static kt_status op_newobj(P *p, int ex)
{
    kt_value *cls, *args, *kw = NULL;
    kt_status st = ex ? pop(p, &kw) : KT_OK;
    if (!st)
        st = pop(p, &args);
    if (!st)
        st = pop(p, &cls);
    if (st)
        return st;
    if (cls->kind != KT_V_GLOBAL || (cls->u.g.id != G_ODICT && cls->u.g.id != G_SIZE))
        return FAIL(KT_EUNSAFE, "NEWOBJ of %s is not allowed",
                    cls->kind == KT_V_GLOBAL ? cls->u.g.name : kind_name(cls));
    if (args->kind != KT_V_TUPLE || (kw && (kw->kind != KT_V_DICT || kw->u.c.len)))
        return FAIL(KT_EFORMAT, "bad NEWOBJ arguments");
    if (cls->u.g.id == G_ODICT)
        return new_container(p, KT_V_DICT, NULL, 1);
    if (args->u.c.len != 1)
        return FAIL(KT_EFORMAT, "torch.Size NEWOBJ needs one tuple");
    return new_container(p, KT_V_TUPLE, args->u.c.items[0], 0);
}

/* BUILD: only a dict may receive state (a state_dict's {'_metadata': ...}). */
static kt_status op_build(P *p)
{
    kt_value *state, *obj;
    kt_status st = pop(p, &state);
    if (!st)
        st = top(p, &obj);
    if (st)
        return st;
    if (obj->kind != KT_V_DICT || (state->kind != KT_V_DICT && state->kind != KT_V_NONE))
        return FAIL(KT_EUNSAFE, "BUILD on a %s with a %s state is not allowed", kind_name(obj), kind_name(state));
    if (state->kind == KT_V_DICT)
        obj->u.c.state = state;
    return KT_OK;
}

/* ---------------------------------------------------------------- dispatch */

static kt_status op_simple_push(P *p, kt_vkind kind, int b)
{
    kt_value *v = kind == KT_V_BOOL ? new_bool(p, b) : new_value(p, kind);
    return push(p, v);
}

static kt_status op_mark(P *p)
{
    if (p->nmarks >= p->lim.max_depth)
        return FAIL(KT_ELIMIT, "more than %zu open MARKs", p->lim.max_depth);
    kt_status st = grow(p, (void **)&p->marks, &p->capmarks, p->nmarks + 1, sizeof *p->marks, SIZE_MAX / 16,
                        "mark stack");
    if (!st)
        p->marks[p->nmarks++] = p->sp;
    return st;
}

static kt_status op_pop(P *p)
{
    if (p->nmarks && p->sp == mark_base(p)) {
        p->nmarks--;
        return KT_OK;
    }
    kt_value *v;
    return pop(p, &v);
}

static kt_status op_dup(P *p)
{
    kt_value *v;
    kt_status st = top(p, &v);
    return st ? st : push(p, v);
}

static kt_status op_proto(P *p)
{
    kt_status st = need(p, 1);
    if (st)
        return st;
    unsigned v = p->d[p->pos++];
    if (v > 5)
        return FAIL(KT_EUNSUPPORTED, "pickle protocol %u", v);
    return KT_OK;
}

static kt_status op_frame(P *p)
{
    kt_status st = need(p, 8);
    if (st)
        return st;
    uint64_t len = rd_le(p, 8);
    return need(p, len);
}

static kt_status op_pop_mark(P *p)
{
    size_t start = 0;
    kt_status st = pop_mark(p, &start);
    if (!st)
        p->sp = start;
    return st;
}

static kt_status op_setitem(P *p) { return op_add_n(p, 2, KT_V_DICT); }
static kt_status op_append(P *p) { return op_add_n(p, 1, KT_V_LIST); }

static kt_status op_persid_text(P *p)
{
    const char *s;
    size_t len;
    kt_status st = read_line(p, &s, &len);
    return st ? st : FAIL(KT_EUNSUPPORTED, "text persistent ids (PERSID) are not supported");
}

static kt_status step(P *p, unsigned op)
{
    switch (op) {
    case 0x80: return op_proto(p);
    case 0x95: return op_frame(p);
    case '(': return op_mark(p);
    case '0': return op_pop(p);
    case '1': return op_pop_mark(p);
    case '2': return op_dup(p);
    case 'I': return op_text_int(p, 0);
    case 'L': return op_text_int(p, 1);
    case 'J': return op_binint(p, 4, 1);
    case 'K': return op_binint(p, 1, 0);
    case 'M': return op_binint(p, 2, 0);
    case 0x8a: return op_long(p, 1);
    case 0x8b: return op_long(p, 4);
    case 'F': return op_float(p, 0);
    case 'G': return op_float(p, 1);
    case 'S': return op_string(p);
    case 'V': return op_unicode(p);
    case 'T': return op_blob(p, 4, KT_V_STR);
    case 'U': return op_blob(p, 1, KT_V_STR);
    case 'X': return op_blob(p, 4, KT_V_STR);
    case 0x8c: return op_blob(p, 1, KT_V_STR);
    case 0x8d: return op_blob(p, 8, KT_V_STR);
    case 'B': return op_blob(p, 4, KT_V_BYTES);
    case 'C': return op_blob(p, 1, KT_V_BYTES);
    case 0x8e: return op_blob(p, 8, KT_V_BYTES);
    case 0x96: return op_blob(p, 8, KT_V_BYTES);
    case 'N': return op_simple_push(p, KT_V_NONE, 0);
    case 0x88: return op_simple_push(p, KT_V_BOOL, 1);
    case 0x89: return op_simple_push(p, KT_V_BOOL, 0);
    case ']': return op_simple_push(p, KT_V_LIST, 0);
    case ')': return op_simple_push(p, KT_V_TUPLE, 0);
    case '}': return op_simple_push(p, KT_V_DICT, 0);
    case 0x8f: return op_simple_push(p, KT_V_SET, 0);
    case 'a': return op_append(p);
    case 'e': return op_add_mark(p, KT_V_LIST);
    case 0x90: return op_add_mark(p, KT_V_SET);
    case 's': return op_setitem(p);
    case 'u': return op_add_mark(p, KT_V_DICT);
    case 'l': return op_collect_mark(p, KT_V_LIST);
    case 't': return op_collect_mark(p, KT_V_TUPLE);
    case 'd': return op_collect_mark(p, KT_V_DICT);
    case 0x91: return op_collect_mark(p, KT_V_SET);
    case 0x85: return op_tuple_n(p, 1);
    case 0x86: return op_tuple_n(p, 2);
    case 0x87: return op_tuple_n(p, 3);
    case 'c': return op_global(p);
    case 0x93: return op_stack_global(p);
    case 'R': return op_reduce(p);
    case 'b': return op_build(p);
    case 0x81: return op_newobj(p, 0);
    case 0x92: return op_newobj(p, 1);
    case 'p': return op_memo_text(p, 1);
    case 'q': return op_memo_bin(p, 1, 1);
    case 'r': return op_memo_bin(p, 4, 1);
    case 0x94: return memo_put(p, p->memo_count);
    case 'g': return op_memo_text(p, 0);
    case 'h': return op_memo_bin(p, 1, 0);
    case 'j': return op_memo_bin(p, 4, 0);
    case 'Q': return op_binpersid(p);
    case 'P': return op_persid_text(p);
    case 'i': return op_inst(p);
    case 'o': return FAIL(KT_EUNSAFE, "forbidden opcode OBJ at offset %zu", p->pos - 1);
    case 0x82:
    case 0x83:
    case 0x84: return FAIL(KT_EUNSAFE, "forbidden extension-registry opcode at offset %zu", p->pos - 1);
    case 0x97:
    case 0x98: return FAIL(KT_EUNSUPPORTED, "out-of-band buffers are not supported");
    default: break;
    }
    return FAIL(KT_EFORMAT, "unknown opcode 0x%02x at offset %zu", op, p->pos - 1);
}

/* ---------------------------------------------------------------- final checks */

/* Depth-first over the reachable tree: rejects cycles, bare globals, and nesting (the
 * longest path, not just the first one found to a shared value) deeper than the limit. */
static kt_status check_tree(P *p, kt_value *v, size_t depth, size_t *height)
{
    *height = 0;
    if (v->color == 2) {
        *height = v->height;
        return KT_OK;
    }
    if (v->color == 1)
        return FAIL(KT_EFORMAT, "a container contains itself");
    if (v->kind == KT_V_GLOBAL)
        return FAIL(KT_EUNSUPPORTED, "a bare global %s in the result", v->u.g.name);
    int is_cont = v->kind == KT_V_LIST || v->kind == KT_V_TUPLE || v->kind == KT_V_SET || v->kind == KT_V_DICT;
    if (!is_cont) {
        v->color = 2;
        return KT_OK;
    }
    if (depth >= p->lim.max_depth)
        return FAIL(KT_ELIMIT, "containers nested deeper than %zu", p->lim.max_depth);
    v->color = 1;
    kt_status st = KT_OK;
    size_t h = 0, hc;
    for (size_t i = 0; i <= v->u.c.len && !st; i++) {
        kt_value *c = i < v->u.c.len ? v->u.c.items[i] : v->kind == KT_V_DICT ? v->u.c.state : NULL;
        if (!c)
            continue;
        st = check_tree(p, c, depth + 1, &hc);
        h = hc > h ? hc : h;
    }
    if (!st && h + 1 > p->lim.max_depth)
        st = FAIL(KT_ELIMIT, "containers nested deeper than %zu", p->lim.max_depth);
    v->color = 2;
    v->height = (unsigned)(h + 1);
    *height = h + 1;
    return st;
}

kt_status kt_pickle_parse(const unsigned char *data, size_t size, const kt_pickle_options *opt, kt_value **out,
                          size_t *consumed, kt_error *err)
{
    kt_error local;
    P pp = {0}, *p = &pp;
    kt_status st = KT_OK;
    int stopped = 0;
    *out = NULL;
    p->d = data;
    p->n = data ? size : 0;
    p->opt = opt;
    p->err = err ? err : &local;
    kt_pickle_default_limits(&p->lim);
    if (opt && opt->limits)
        p->lim = *opt->limits;
    if (p->lim.max_bytes == 0)
        p->lim.max_bytes = default_max_bytes(p->n);
    if (p->lim.max_depth > 4096)
        p->lim.max_depth = 4096; /* the final check recurses */
    if (!(p->a = calloc(1, sizeof *p->a)))
        return kt_error_set(err, KT_ENOMEM, "pickle: out of memory");
    p->a->max_depth = p->lim.max_depth;
    p->a->pickle_bytes = p->n;
    while (!st && !stopped) {
        if (p->pos >= p->n) {
            st = FAIL(KT_EFORMAT, "ends without STOP");
            break;
        }
        unsigned op = p->d[p->pos++];
        if (op == '.')
            stopped = 1;
        else
            st = step(p, op);
    }
    kt_value *root = NULL;
    if (!st)
        st = pop(p, &root);
    size_t height;
    if (!st)
        st = check_tree(p, root, 0, &height);
    free(p->stack);
    free(p->marks);
    free(p->memo);
    if (st) {
        arena_free(p->a);
        return st;
    }
    *out = root;
    if (consumed)
        *consumed = p->pos;
    return KT_OK;
}

/* ---------------------------------------------------------------- accessors */

kt_vkind kt_value_kind(const kt_value *v) { return v ? v->kind : KT_V_NONE; }

const char *kt_vkind_name(kt_vkind k)
{
    static const char *const names[] = {"none", "bool",  "int",  "float",  "str",     "bytes",  "list",
                                        "tuple", "set", "dict", "tensor", "storage", "global"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "invalid";
}

int kt_value_bool(const kt_value *v) { return v && v->kind == KT_V_BOOL ? v->u.b : 0; }

int64_t kt_value_int(const kt_value *v)
{
    if (v && v->kind == KT_V_INT)
        return v->u.i;
    return v && v->kind == KT_V_BOOL ? v->u.b : 0;
}

double kt_value_float(const kt_value *v)
{
    if (v && v->kind == KT_V_FLOAT)
        return v->u.f;
    return v && v->kind == KT_V_INT ? (double)v->u.i : 0.0;
}

const char *kt_value_str(const kt_value *v, size_t *len)
{
    if (!v || (v->kind != KT_V_STR && v->kind != KT_V_BYTES))
        return NULL;
    if (len)
        *len = v->u.s.len;
    return v->u.s.p;
}

static int is_container(const kt_value *v)
{
    return v && (v->kind == KT_V_LIST || v->kind == KT_V_TUPLE || v->kind == KT_V_SET || v->kind == KT_V_DICT);
}

size_t kt_value_len(const kt_value *v)
{
    if (!is_container(v))
        return 0;
    return v->kind == KT_V_DICT ? v->u.c.len / 2 : v->u.c.len;
}

const kt_value *kt_value_item(const kt_value *v, size_t i)
{
    if (!is_container(v) || v->kind == KT_V_DICT || i >= v->u.c.len)
        return NULL;
    return v->u.c.items[i];
}

const kt_value *kt_value_dict_key(const kt_value *v, size_t i)
{
    if (!v || v->kind != KT_V_DICT || i >= v->u.c.len / 2)
        return NULL;
    return v->u.c.items[2 * i];
}

const kt_value *kt_value_dict_value(const kt_value *v, size_t i)
{
    if (!v || v->kind != KT_V_DICT || i >= v->u.c.len / 2)
        return NULL;
    return v->u.c.items[2 * i + 1];
}

const kt_value *kt_value_dict_get(const kt_value *v, const char *key)
{
    size_t n = strlen(key);
    for (size_t i = kt_value_len(v); v && v->kind == KT_V_DICT && i-- > 0;) {
        const kt_value *k = v->u.c.items[2 * i];
        if (k->kind == KT_V_STR && k->u.s.len == n && memcmp(k->u.s.p, key, n) == 0)
            return v->u.c.items[2 * i + 1];
    }
    return NULL;
}

int kt_value_dict_is_ordered(const kt_value *v) { return v && v->kind == KT_V_DICT && v->u.c.ordered; }

const kt_value *kt_value_dict_state(const kt_value *v)
{
    return v && v->kind == KT_V_DICT ? v->u.c.state : NULL;
}

kt_status kt_value_storage(const kt_value *v, kt_storage_info *out, kt_error *err)
{
    if (!v || v->kind != KT_V_STORAGE)
        return kt_error_set(err, KT_EINVAL, "pickle: not a storage");
    out->dtype = v->u.st.dtype;
    out->key = v->u.st.key;
    out->location = v->u.st.location;
    out->numel = v->u.st.numel;
    out->data = v->u.st.data;
    out->nbytes = v->u.st.nbytes;
    return KT_OK;
}

kt_status kt_value_storage_bind(kt_value *v, const void *data, uint64_t nbytes, void *owned, kt_error *err)
{
    if (!v || v->kind != KT_V_STORAGE) {
        free(owned);
        return kt_error_set(err, KT_EINVAL, "pickle: not a storage");
    }
    uint64_t want = (uint64_t)v->u.st.numel * kt_dtype_size(v->u.st.dtype);
    if (nbytes < want || (!data && want)) {
        free(owned);
        return kt_error_set(err, KT_EFORMAT, "storage '%.100s' has %llu bytes, needs %llu", v->u.st.key,
                            (unsigned long long)nbytes, (unsigned long long)want);
    }
    free(v->u.st.owned);
    v->u.st.data = data;
    v->u.st.nbytes = nbytes;
    v->u.st.owned = owned;
    return KT_OK;
}

size_t kt_pickle_storage_count(const kt_value *root) { return root ? root->a->nstor : 0; }

kt_value *kt_pickle_storage_at(const kt_value *root, size_t i)
{
    return root && i < root->a->nstor ? root->a->stor[i] : NULL;
}

kt_value *kt_pickle_storage_find(const kt_value *root, const char *key)
{
    return root && key ? storage_find(root->a, key) : NULL;
}

kt_status kt_value_tensor(const kt_value *v, kt_tensor *out, kt_error *err)
{
    if (!v || v->kind != KT_V_TENSOR)
        return kt_error_set(err, KT_EINVAL, "pickle: not a tensor");
    const struct tensor_data *t = v->u.t;
    const kt_value *s = t->storage;
    memset(out, 0, sizeof *out);
    out->dtype = s->u.st.dtype;
    out->ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++) {
        out->shape[i] = t->shape[i];
        out->stride[i] = t->stride[i];
    }
    if (s->u.st.data && kt_tensor_numel(out) > 0)
        out->data = (const unsigned char *)s->u.st.data + (uint64_t)t->offset * kt_dtype_size(s->u.st.dtype);
    return KT_OK;
}

const kt_value *kt_value_tensor_storage(const kt_value *v)
{
    return v && v->kind == KT_V_TENSOR ? v->u.t->storage : NULL;
}

int64_t kt_value_tensor_offset(const kt_value *v) { return v && v->kind == KT_V_TENSOR ? v->u.t->offset : 0; }

int kt_value_tensor_requires_grad(const kt_value *v)
{
    return v && v->kind == KT_V_TENSOR ? v->u.t->requires_grad : 0;
}

/* ---------------------------------------------------------------- flatten */

typedef struct {
    kt_tensor_list *out;
    char *name;
    size_t len, cap;
    size_t budget; /* nodes still allowed to visit (shared subtrees are walked once per path) */
    size_t name_bytes; /* bytes of tensor names still allowed (a memoized key may recur in many) */
    kt_error *err;
} flat;

static kt_status name_append(flat *f, const char *s, size_t n)
{
    size_t need = f->len + n + 2;
    if (need > f->cap) {
        size_t cap = f->cap ? f->cap : 128;
        while (cap < need)
            cap *= 2;
        char *q = realloc(f->name, cap);
        if (!q)
            return kt_error_set(f->err, KT_ENOMEM, "pickle: out of memory for a tensor name");
        f->name = q;
        f->cap = cap;
    }
    if (f->len)
        f->name[f->len++] = '.';
    memcpy(f->name + f->len, s, n);
    f->len += n;
    f->name[f->len] = 0;
    return KT_OK;
}

/* Python's repr of a float: shortest round-trip digits, ".0" for integral values. */
static void float_repr(double f, char *buf, size_t cap)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, f);
        if (strtod(buf, NULL) == f)
            break;
    }
    if (!strpbrk(buf, ".en") && strlen(buf) + 3 < cap)
        strcat(buf, ".0");
}

/* Spelling of a dict key in a flat name; -1 when the key cannot name anything. */
static int key_text(const kt_value *k, char *buf, size_t cap, const char **s, size_t *n)
{
    switch (k->kind) {
    case KT_V_STR:
    case KT_V_BYTES: *s = k->u.s.p; *n = k->u.s.len; return 0;
    case KT_V_INT: snprintf(buf, cap, "%lld", (long long)k->u.i); break;
    case KT_V_BOOL: snprintf(buf, cap, "%s", k->u.b ? "True" : "False"); break;
    case KT_V_NONE: snprintf(buf, cap, "None"); break;
    case KT_V_FLOAT: float_repr(k->u.f, buf, cap); break;
    default: return -1;
    }
    *s = buf;
    *n = strlen(buf);
    return 0;
}

static kt_status flat_walk(flat *f, const kt_value *v, int named);

/* Walks child under segment (s, n); restores the name afterwards. */
static kt_status flat_child(flat *f, const kt_value *child, const char *s, size_t n, int named)
{
    size_t keep = f->len;
    kt_status st = named ? name_append(f, s, n) : KT_OK;
    if (!st)
        st = flat_walk(f, child, named);
    f->len = keep;
    if (f->name)
        f->name[keep] = 0;
    return st;
}

static kt_status flat_walk(flat *f, const kt_value *v, int named)
{
    char buf[48];
    const char *s;
    size_t n;
    kt_status st = KT_OK;
    if (f->budget-- == 0)
        return kt_error_set(f->err, KT_ELIMIT, "pickle: the tree shares too many subtrees to name its tensors");
    if (v->kind == KT_V_TENSOR) {
        kt_tensor t;
        if (!named)
            return kt_error_set(f->err, KT_EUNSUPPORTED, "pickle: a tensor under a dict key that is a container");
        if (!v->u.t->storage->u.st.data && v->u.t->storage->u.st.numel > 0)
            return kt_error_set(f->err, KT_EFORMAT, "pickle: storage '%.100s' has no data",
                                v->u.t->storage->u.st.key);
        if (f->len + 1 > f->name_bytes)
            return kt_error_set(f->err, KT_ELIMIT, "pickle: the tensor names need more than 8 MiB + 2 x the "
                                                   "%zu-byte pickle", v->a->pickle_bytes);
        f->name_bytes -= f->len + 1;
        kt_value_tensor(v, &t, f->err);
        return kt_tensor_list_add(f->out, f->name ? f->name : "", &t, f->err);
    }
    if (v->kind == KT_V_DICT) {
        for (size_t i = 0; i + 1 < v->u.c.len && !st; i += 2) {
            int ok = key_text(v->u.c.items[i], buf, sizeof buf, &s, &n) == 0;
            st = flat_child(f, v->u.c.items[i + 1], ok ? s : "", ok ? n : 0, named && ok);
        }
        return st;
    }
    if (v->kind == KT_V_LIST || v->kind == KT_V_TUPLE) {
        for (size_t i = 0; i < v->u.c.len && !st; i++) {
            snprintf(buf, sizeof buf, "%zu", i);
            st = flat_child(f, v->u.c.items[i], buf, strlen(buf), named);
        }
    }
    return st;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(**(char *const *const *)a, **(char *const *const *)b);
}

/* Rejects two tensors with the same flat name among out->items[first..]. */
static kt_status check_unique(kt_tensor_list *l, size_t first, kt_error *err)
{
    size_t n = l->count - first;
    kt_status st = KT_OK;
    if (n < 2)
        return KT_OK;
    char **idx = malloc(n * sizeof *idx);
    char ***ptrs = malloc(n * sizeof *ptrs);
    if (!idx || !ptrs) {
        free(idx);
        free(ptrs);
        return kt_error_set(err, KT_ENOMEM, "pickle: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        idx[i] = l->items[first + i].name;
        ptrs[i] = &idx[i];
    }
    qsort(ptrs, n, sizeof *ptrs, cmp_names);
    for (size_t i = 1; i < n && !st; i++)
        if (strcmp(*ptrs[i - 1], *ptrs[i]) == 0)
            st = kt_error_set(err, KT_EFORMAT, "pickle: two tensors have the flat name '%.200s'", *ptrs[i]);
    free(idx);
    free(ptrs);
    return st;
}

kt_status kt_value_flatten(const kt_value *root, kt_tensor_list *out, kt_error *err)
{
    flat f = {out, NULL, 0, 0, 0, 0, err};
    size_t first = out->count;
    if (!root)
        return kt_error_set(err, KT_EINVAL, "pickle: no tree");
    f.budget = 2 * root->a->nvals + 1024;
    f.name_bytes = default_max_bytes(root->a->pickle_bytes);
    kt_status st = flat_walk(&f, root, 1);
    free(f.name);
    if (!st)
        st = check_unique(out, first, err);
    return st;
}
