/* voice_expr.c - blend expressions: "a:0.6 b:0.4", "a(2)+b(1)", "a-b", "a,b"; weights; evaluation. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kt/strbuf.h"
#include "kt/voice.h"

typedef struct {
    const char *s; /* the whole expression (arguments joined by spaces) */
    size_t pos;
    kt_blend_expr *out;
    kt_error *err;
} scanner;

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Characters that always end a voice source. */
static int ends_source(char c) { return !c || is_space(c) || c == ',' || c == '+' || c == '(' || c == ')' || c == ':'; }

/* The term text for messages: from start to the next space or comma. */
static kt_status term_error(scanner *sc, size_t start, kt_status code, const char *why)
{
    size_t end = start;
    while (sc->s[end] && !is_space(sc->s[end]) && sc->s[end] != ',')
        end++;
    return kt_error_set(sc->err, code, "malformed term '%.*s': %s", (int)(end - start), sc->s + start, why);
}

/* 1 if the word starting at p (up to a space, ',', '+', '(', ')' or ':') holds '.' or '/', so '-' is literal. */
static int word_is_path(const char *p)
{
    for (; !ends_source(*p); p++)
        if (*p == '.' || *p == '/')
            return 1;
    return 0;
}

static int ends_with_ci(const char *s, size_t n, const char *suffix)
{
    size_t m = strlen(suffix);
    return n >= m && strncasecmp(s + n - m, suffix, m) == 0;
}

/* A file that can hold members: every container kt reads and writes. */
static int is_bundle_name(const char *s, size_t n)
{
    static const char *const exts[] = {".npz", ".bin", ".safetensors", ".pth", ".pt", ".npy"};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (ends_with_ci(s, n, exts[i]))
            return 1;
    return 0;
}

/* A member name starts with a letter or '_' (raw bundles' indices with a digit: "voices.bin:3"
 * is therefore read as weight 3 unless the index is written "voices.bin:#3"). */
static int is_member_start(char c) { return isalpha((unsigned char)c) || c == '_' || c == '#'; }

/* Scans a source: a name or path, with an optional ":MEMBER" when the path so far names a bundle. */
static size_t scan_source(const char *s, size_t pos)
{
    int path = word_is_path(s + pos), member = 0;
    size_t start = pos;
    for (;;) {
        char c = s[pos];
        if (c == ':' && !member && is_bundle_name(s + start, pos - start) && is_member_start(s[pos + 1])) {
            member = 1;
            pos++;
            continue;
        }
        if (ends_source(c) || (c == '-' && (!path || member)))
            return pos;
        pos++;
    }
}

/* Parses text [a,b) as a finite number into *w; returns 0 on success. */
static int parse_number(const char *s, size_t a, size_t b, double *w)
{
    char buf[64];
    char *end;
    if (b <= a || b - a >= sizeof buf)
        return -1;
    memcpy(buf, s + a, b - a);
    buf[b - a] = '\0';
    if (is_space(buf[0]))
        return -1;
    *w = strtod(buf, &end);
    return *end == '\0' && isfinite(*w) ? 0 : -1;
}

/* ":NUMBER": the number runs to a space, ',', '(', ')' or a '+'/'-' that is not a leading or an exponent's sign. */
static size_t scan_colon_weight(const char *s, size_t pos)
{
    size_t start = pos;
    for (;; pos++) {
        char c = s[pos];
        if (!c || is_space(c) || c == ',' || c == '(' || c == ')')
            return pos;
        if ((c == '-' || c == '+') && pos > start && s[pos - 1] != 'e' && s[pos - 1] != 'E')
            return pos;
    }
}

static kt_status scan_weight(scanner *sc, size_t start, double *w)
{
    const char *s = sc->s;
    size_t a, b;
    if (s[sc->pos] == ':') {
        a = ++sc->pos;
        b = sc->pos = scan_colon_weight(s, a);
    } else if (s[sc->pos] == '(') {
        a = ++sc->pos;
        b = a;
        while (s[b] && s[b] != ')' && !is_space(s[b]) && s[b] != ',')
            b++;
        if (s[b] != ')')
            return term_error(sc, start, KT_EINVAL, "missing ')'");
        sc->pos = b + 1;
    } else {
        return KT_OK;
    }
    if (b == a)
        return term_error(sc, start, KT_EINVAL, "empty weight");
    if (parse_number(s, a, b, w))
        return kt_error_set(sc->err, KT_EINVAL, "term '%.*s': weight '%.*s' is not a finite number",
                            (int)(sc->pos - start), s + start, (int)(b - a), s + a);
    return KT_OK;
}

static kt_status add_term(scanner *sc, size_t start, size_t src_a, size_t src_b, double weight)
{
    kt_blend_expr *e = sc->out;
    kt_blend_term *t = realloc(e->terms, (e->count + 1) * sizeof *t);
    if (!t)
        return kt_error_set(sc->err, KT_ENOMEM, "out of memory");
    e->terms = t;
    t += e->count;
    memset(t, 0, sizeof *t);
    t->text = strndup(sc->s + start, sc->pos - start);
    t->source = strndup(sc->s + src_a, src_b - src_a);
    t->weight = weight;
    t->used = weight;
    e->count++;
    if (!t->text || !t->source)
        return kt_error_set(sc->err, KT_ENOMEM, "out of memory");
    return KT_OK;
}

/* One term: [sign] source [:w | (w)], starting at sc->pos (sign already consumed into sign). */
static kt_status scan_term(scanner *sc, size_t start, double sign)
{
    const char *s = sc->s;
    size_t a = sc->pos, b = scan_source(s, a);
    double w = 1.0;
    if (b == a)
        return term_error(sc, start, KT_EINVAL, s[a] ? "missing voice name" : "missing voice after the operator");
    sc->pos = b;
    kt_status st = scan_weight(sc, start, &w);
    if (st)
        return st;
    char c = s[sc->pos];
    if (c && !is_space(c) && c != ',' && c != '+' && c != '-')
        return term_error(sc, start, KT_EINVAL, c == ')' ? "unbalanced ')'" : "unexpected text after the weight");
    return add_term(sc, start, a, b, sign * w);
}

static kt_status scan_all(scanner *sc)
{
    const char *s = sc->s;
    int need_term = 0; /* after ',' or an operator a term must follow */
    for (;;) {
        while (is_space(s[sc->pos]))
            sc->pos++;
        char c = s[sc->pos];
        if (!c)
            return need_term ? kt_error_set(sc->err, KT_EINVAL, "malformed expression: it ends with '%c'",
                                            s[sc->pos - 1 - (is_space(s[sc->pos - 1]) ? 1 : 0)])
                             : KT_OK;
        if (c == ',') {
            if (need_term || sc->out->count == 0)
                return term_error(sc, sc->pos, KT_EINVAL, "empty term before ','");
            need_term = 1;
            sc->pos++;
            continue;
        }
        size_t start = sc->pos;
        double sign = 1.0;
        if (c == '+' || c == '-') {
            sign = c == '-' ? -1.0 : 1.0;
            sc->pos++;
            while (is_space(s[sc->pos]))
                sc->pos++;
            if (s[sc->pos] == '+' || s[sc->pos] == '-' || s[sc->pos] == ',')
                return term_error(sc, start, KT_EINVAL, "two operators in a row");
        }
        kt_status st = scan_term(sc, start, sign);
        if (st)
            return st;
        need_term = 0;
    }
}

static char *join_args(const char *const *args, size_t nargs)
{
    kt_strbuf b = {0};
    for (size_t i = 0; i < nargs; i++) {
        if (i)
            kt_strbuf_puts(&b, " ");
        kt_strbuf_puts(&b, args[i]);
    }
    if (kt_strbuf_failed(&b)) {
        kt_strbuf_free(&b);
        return NULL;
    }
    return b.data ? b.data : strdup("");
}

kt_status kt_blend_parse(const char *const *args, size_t nargs, kt_blend_expr *out, kt_error *err)
{
    memset(out, 0, sizeof *out);
    char *joined = join_args(args, nargs);
    if (!joined)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    scanner sc = {joined, 0, out, err};
    kt_status st = scan_all(&sc);
    if (!st && out->count == 0)
        st = kt_error_set(err, KT_EINVAL, "no voices to blend");
    if (st)
        kt_blend_expr_free(out);
    free(joined);
    return st;
}

void kt_blend_expr_free(kt_blend_expr *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->count; i++) {
        free(e->terms[i].text);
        free(e->terms[i].source);
        free(e->terms[i].path);
    }
    free(e->terms);
    memset(e, 0, sizeof *e);
}

/* The expression as written (terms joined by spaces, cut to fit), for messages. */
static void expr_text(const kt_blend_expr *e, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < e->count && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? " " : "", e->terms[i].text);
}

kt_status kt_blend_weights(kt_blend_expr *e, int normalize, kt_error *err)
{
    double sum = 0.0;
    int any = 0;
    char text[200];
    expr_text(e, text, sizeof text);
    for (size_t i = 0; i < e->count; i++) {
        sum += e->terms[i].weight;
        any |= e->terms[i].weight != 0.0;
    }
    if (!any)
        return kt_error_set(err, KT_EINVAL, "'%s': all weights are zero", text);
    if (normalize && !isfinite(sum))
        return kt_error_set(err, KT_EINVAL, "'%s': the weights' sum overflows", text);
    if (normalize && sum == 0.0)
        return kt_error_set(err, KT_EINVAL, "'%s': the weights sum to 0, so they cannot be normalised "
                                            "(--no-normalize keeps them as written)", text);
    for (size_t i = 0; i < e->count; i++) {
        e->terms[i].used = normalize ? e->terms[i].weight / sum : e->terms[i].weight;
        if (!isfinite(e->terms[i].used))
            return kt_error_set(err, KT_EINVAL, "term '%s': normalised weight is not finite", e->terms[i].text);
    }
    return KT_OK;
}

kt_status kt_blend_resolve(kt_blend_expr *e, const char *dir, kt_error *err)
{
    return kt_blend_resolve_in(e, dir, NULL, err);
}

kt_status kt_blend_resolve_in(kt_blend_expr *e, const char *dir, const char *model, kt_error *err)
{
    for (size_t i = 0; i < e->count; i++) {
        free(e->terms[i].path);
        e->terms[i].path = NULL;
        kt_status st = kt_voice_resolve_in(e->terms[i].source, dir, model, &e->terms[i].path, err);
        if (st) {
            if (st != KT_ENOTFOUND) {
                char pre[300];
                snprintf(pre, sizeof pre, "term '%s'", e->terms[i].text);
                kt_error_prefix(err, pre);
            }
            return st;
        }
    }
    return KT_OK;
}

/* Loads term i into v (its shape must match first's when i > 0). */
static kt_status load_term(const kt_blend_expr *e, size_t i, const kt_voice *first, kt_voice *v, kt_error *err)
{
    const kt_blend_term *t = &e->terms[i];
    kt_status st = t->path ? kt_voice_load(t->path, v, err) : kt_error_set(err, KT_EINVAL, "not resolved");
    if (!st && first && (v->rows != first->rows || v->dim != first->dim))
        st = kt_error_set(err, KT_EINVAL, "shape [%lld,1,%lld] differs from '%s' [%lld,1,%lld]", (long long)v->rows,
                          (long long)v->dim, e->terms[0].text, (long long)first->rows, (long long)first->dim);
    if (st) {
        char pre[300];
        snprintf(pre, sizeof pre, "term '%s'", t->text);
        kt_error_prefix(err, pre);
    }
    return st;
}

/* Term by term into one double accumulator (the sum kt_voice_mix computes, in the same
 * order, so the same bytes): memory is one voice and the accumulator, whatever the number
 * of terms. The first term's pack receives the result. */
kt_status kt_blend_eval(const kt_blend_expr *e, kt_voice *out, kt_error *err)
{
    kt_voice first = {0}, cur = {0};
    double *acc = NULL;
    size_t total = 0;
    memset(out, 0, sizeof *out);
    if (e->count == 0)
        return kt_error_set(err, KT_EINVAL, "nothing to mix");
    kt_status st = load_term(e, 0, NULL, &first, err);
    if (!st) {
        total = (size_t)(first.rows * first.dim);
        acc = calloc(total ? total : 1, sizeof *acc);
        if (!acc)
            st = kt_error_set(err, KT_ENOMEM, "out of memory");
    }
    for (size_t j = 0; !st && j < total; j++)
        acc[j] += e->terms[0].used * (double)first.data[j];
    for (size_t i = 1; !st && i < e->count; i++) {
        st = load_term(e, i, &first, &cur, err);
        for (size_t j = 0; !st && j < total; j++)
            acc[j] += e->terms[i].used * (double)cur.data[j];
        kt_voice_free(&cur);
    }
    for (size_t j = 0; !st && j < total; j++)
        first.data[j] = (float)acc[j];
    free(acc);
    if (st) {
        kt_voice_free(&first);
        return st;
    }
    *out = first;
    return KT_OK;
}
