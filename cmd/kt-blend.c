/* kt-blend - blend, interpolate, split, convert and bundle Kokoro voice packs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "kt/cli.h"
#include "kt/io.h"
#include "kt/strbuf.h"
#include "kt/voice.h"
#include "kt/version.h"

static const char usage[] =
    "usage: kt-blend EXPR... -o OUT [--no-normalize] [options]\n"
    "       kt-blend --slerp A B [--t T] -o OUT\n"
    "       kt-blend --timbre EXPR --prosody EXPR -o OUT\n"
    "       kt-blend --interp A B --steps N [--spherical] -o DIR/\n"
    "       kt-blend --list BUNDLE\n"
    "       kt-blend --extract NAME BUNDLE -o OUT\n"
    "       kt-blend EXPR... --append BUNDLE [--name NAME]\n"
    "\n"
    "Mix Kokoro voice packs (510 style rows of 256 values) and write the result as a file\n"
    "PyTorch, kokoro-onnx, sherpa-onnx or kokoro.js loads.\n"
    "\n"
    "An expression is one or more terms; a term is a voice NAME (looked up in --voices DIR as\n"
    "NAME.pt, .pth, .safetensors, .npy or .bin), a PATH, or FILE:MEMBER (any file kt reads; MEMBER\n"
    "as --list prints it: voices-v1.0.bin:af_heart, kokoro-q8.safetensors:af_heart for the voice\n"
    "embedded as voices.af_heart, a raw voices.bin member by index as voices.bin:#3), with an\n"
    "optional weight:\n"
    "  af_heart:0.6 am_adam:0.4     weights after ':'\n"
    "  af_bella(2)+af_sky(1)        weights in parentheses, joined by '+'\n"
    "  af_heart-am_adam             subtraction (weight -1; needs --no-normalize alone)\n"
    "  af_heart,am_adam             equal weights\n"
    "Weights are divided by their sum (so they sum to 1) unless --no-normalize. The mix is\n"
    "computed in double precision and rounded to float32 once. A '-' inside a path is part of\n"
    "the path: subtract a path with PATH:-1.\n"
    "\n"
    "modes:\n"
    "  --slerp A B       spherical interpolation row by row (lengths interpolated linearly)\n"
    "  --t T             slerp position, 0 = A, 1 = B (default 0.5)\n"
    "  --timbre EXPR     the first half of each style row (decoder: timbre) from EXPR ...\n"
    "  --prosody EXPR    ... the second half (prosody predictor: duration, pitch, energy) from EXPR\n"
    "  --interp A B      a series of --steps N voices from A to B inclusive, into folder DIR\n"
    "                    (named A_B_00.EXT ...); --spherical uses slerp instead of a linear mix\n"
    "  --list BUNDLE     list the voices (members) a file holds ('-': stdin)\n"
    "  --extract NAME    copy voice NAME out of the bundle given as the argument\n"
    "  --append BUNDLE   add the result to BUNDLE (.npz, .safetensors, a .pth of named voices, or\n"
    "                    raw .bin), creating it when missing (--force replaces a member)\n"
    "  --name NAME       the member's name in an .npz, .safetensors or --append bundle (default:\n"
    "                    the expression, sanitized: 'af_heart:0.6 am_adam:0.4' -> af_heart_0.6_am_adam_0.4)\n"
    "\n"
    "options:\n"
    "  -o, --output OUT  output file; its extension picks the format: .pt/.pth (a bare tensor\n"
    "                    like the real packs), .safetensors, .npy, .npz, .bin (raw float32);\n"
    "                    '-' writes to stdout (.pt unless --format)\n"
    "  --format F        pt, safetensors, npy, npz or bin, whatever the extension\n"
    "  --voices DIR      where voice names are found (default $KT_VOICES, then ./voices)\n"
    "  --no-normalize    use the weights as written\n"
    "  --recipe          also write OUT.json with the terms, weights and mode (safetensors\n"
    "                    outputs always carry it in their metadata as kt.recipe)\n"
    "  --force           allow overwriting a file that is also an input\n"
    "  --json            print a JSON summary on stdout\n"
    "  -h, --help        this help\n"
    "      --version     print the version and exit\n"
    "\n"
    "examples:\n"
    "  kt-blend af_heart:0.6 am_adam:0.4 -o mix.pt\n"
    "  kt-blend 'af_bella(2)+af_sky(1)' -o bella_sky.safetensors --recipe\n"
    "  kt-blend --slerp af_heart am_adam --t 0.3 -o slerp.pt\n"
    "  kt-blend --timbre af_heart --prosody 'am_adam:0.5,bm_george:0.5' -o x.pt\n"
    "  kt-blend --interp af_heart am_adam --steps 5 -o series/\n"
    "  kt-blend --list voices-v1.0.bin\n"
    "  kt-blend --extract af_heart voices-v1.0.bin -o af_heart.pt\n"
    "  kt-blend af_heart:0.5 am_adam:0.5 --append voices-v1.0.bin --name mix_1\n"
    "  kt-blend af_heart:0.5 am_adam:0.5 --append my-voices.npz        # created when missing\n"
    "  kt-blend af_heart:0.5 am_adam:0.5 -o - | kt-inspect - --stats\n"
    "  kt-blend --no-normalize -o d.pt -- -am_adam af_heart:2        # '--' ends the options\n"
    "\n"
    "Outputs are written to a temp file and renamed; nothing is written on any error.\n"
    "exit status: 0 success, 1 an input is missing or unreadable or the packs do not fit,\n"
    "2 bad command line or expression, 3 out of memory or output error.\n";

typedef struct {
    const char **pos; /* positional arguments (terms, or the bundle for --extract) */
    int npos;
    const char *out, *voices, *format, *timbre, *prosody, *list, *extract, *append, *name;
    const char *a, *b, *t_text, *steps_text;
    int slerp, interp, no_normalize, recipe, force, json, spherical;
    double t;
    int steps;
    kt_format fmt;
    char member[256]; /* the output's member name: --name, else from the voice expression */
} options;

static int usage_error(const char *fmt, const char *arg)
{
    fputs("kt-blend: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (see --help)\n", stderr);
    return 2;
}

/* The value slot an option fills, or NULL if it takes none. */
static const char **value_slot(options *o, const char *a)
{
    static const char *const names[] = {"-o", "--output", "--voices", "--format", "--timbre", "--prosody",
                                        "--list", "--extract", "--append", "--name", "--t", "--steps"};
    const char **slots[] = {&o->out, &o->out, &o->voices, &o->format, &o->timbre, &o->prosody,
                            &o->list, &o->extract, &o->append, &o->name, &o->t_text, &o->steps_text};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(a, names[i]) == 0)
            return slots[i];
    return NULL;
}

static int *flag_slot(options *o, const char *a)
{
    static const char *const names[] = {"--no-normalize", "--recipe", "--force", "--json", "--spherical"};
    int *slots[] = {&o->no_normalize, &o->recipe, &o->force, &o->json, &o->spherical};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(a, names[i]) == 0)
            return slots[i];
    return NULL;
}

/* A term may start with '-' only as "-NAME" inside a longer expression; a lone option-like word is an option. */
static int is_option(const char *a) { return a[0] == '-' && a[1] != '\0'; }

static int parse_pair(options *o, int argc, char **argv, int *i, int *flag)
{
    if (*i + 2 >= argc)
        return usage_error("%s needs two voices", argv[*i]);
    *flag = 1;
    o->a = argv[++*i];
    o->b = argv[++*i];
    return 0;
}

static int parse_args(int argc, char **argv, options *o)
{
    int only_pos = 0;
    o->pos = calloc((size_t)argc, sizeof *o->pos);
    if (!o->pos)
        return 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = value_slot(o, a);
        int *flag = flag_slot(o, a), rc = 0;
        if (only_pos) {
            o->pos[o->npos++] = a;
        } else if (strcmp(a, "--") == 0) {
            only_pos = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return -1;
        } else if (strcmp(a, "--slerp") == 0 || strcmp(a, "--interp") == 0) {
            rc = parse_pair(o, argc, argv, &i, a[2] == 's' ? &o->slerp : &o->interp);
        } else if (flag) {
            *flag = 1;
        } else if (slot) {
            if (++i >= argc)
                return usage_error("%s needs a value", a);
            *slot = argv[i];
        } else if (is_option(a)) {
            return usage_error("unknown option %s", a);
        } else {
            o->pos[o->npos++] = a;
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_number_opt(const char *text, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(text, &end);
    return errno == 0 && end != text && *end == '\0' && *out == *out && *out - *out == 0 ? 0 : -1;
}

static int check_format(options *o)
{
    static const char *const names[] = {"pt", "pth", "safetensors", "npy", "npz", "bin"};
    static const kt_format fmts[] = {KT_FORMAT_PTH, KT_FORMAT_PTH, KT_FORMAT_SAFETENSORS,
                                     KT_FORMAT_NPY, KT_FORMAT_NPZ, KT_FORMAT_VOICEBIN};
    o->fmt = KT_FORMAT_UNKNOWN;
    if (o->format) {
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strcmp(o->format, names[i]) == 0)
                o->fmt = fmts[i];
        if (o->fmt == KT_FORMAT_UNKNOWN)
            return usage_error("unknown --format %s (pt, safetensors, npy, npz, bin)", o->format);
    } else if (o->out && !o->interp && !kt_cli_is_stdio(o->out)) {
        o->fmt = kt_format_from_extension(o->out);
        if (o->fmt == KT_FORMAT_UNKNOWN)
            return usage_error("cannot tell the format of %s: use .pt, .safetensors, .npy, .npz, .bin "
                               "or --format", o->out);
    } else {
        o->fmt = KT_FORMAT_PTH;
    }
    return 0;
}

static int count_modes(const options *o)
{
    return (o->npos > 0 && !o->extract) + o->slerp + o->interp + (o->timbre || o->prosody) + (o->list != NULL) +
           (o->extract != NULL);
}

static int check_targets(const options *o)
{
    if (o->list)
        return o->out || o->append ? usage_error("%s takes no output", "--list") : 0;
    if (!o->out == !o->append)
        return usage_error("%s", o->out ? "give -o or --append, not both" : "no output: give -o OUT or --append BUNDLE");
    if (o->json && o->out && kt_cli_is_stdio(o->out))
        return usage_error("%s prints on stdout, which -o - fills with the voice", "--json");
    if (o->interp && o->out && kt_cli_is_stdio(o->out))
        return usage_error("%s writes files into a folder, not to stdout", "--interp");
    if (o->append && o->interp)
        return usage_error("%s writes files, not a bundle", "--interp");
    if (o->name && o->interp)
        return usage_error("%s names one voice; --interp names its files itself", "--name");
    if (o->name && !kt_voice_name_valid(o->name))
        return usage_error("--name %s: use letters, digits, '_' and '.', starting with a letter or '_'", o->name);
    if (o->append && (o->recipe || o->format))
        return usage_error("%s writes the bundle's own format and no recipe", "--append");
    return 0;
}

static int check_mode_args(options *o)
{
    if (count_modes(o) != 1)
        return usage_error("%s", count_modes(o) ? "choose one of: terms, --slerp, --timbre/--prosody, --interp, "
                                                  "--list, --extract"
                                                : "nothing to do: give voices to blend");
    if ((o->timbre != NULL) != (o->prosody != NULL))
        return usage_error("%s", "--timbre and --prosody go together");
    if (o->extract && o->npos != 1)
        return usage_error("%s needs exactly one BUNDLE argument", "--extract");
    if ((o->slerp || o->interp || o->timbre || o->list) && o->npos)
        return usage_error("unexpected argument %s", o->pos[0]);
    o->t = 0.5;
    if (o->t_text && (!o->slerp || parse_number_opt(o->t_text, &o->t)))
        return usage_error(o->slerp ? "--t %s is not a finite number" : "--t %s goes with --slerp", o->t_text);
    o->steps = 0;
    if (o->interp && !o->steps_text)
        return usage_error("%s needs --steps N", "--interp");
    if (o->steps_text) {
        double s;
        if (!o->interp || parse_number_opt(o->steps_text, &s) || s < 2 || s > 10000 || s != (int)s)
            return usage_error(o->interp ? "--steps %s: give a whole number from 2 to 10000"
                                         : "--steps %s goes with --interp", o->steps_text);
        o->steps = (int)s;
    }
    if (o->spherical && !o->interp)
        return usage_error("%s goes with --interp", "--spherical");
    return check_targets(o);
}

/* The member name of the output: --name, else made from the voice expression as written. */
static void member_name(options *o)
{
    const char *args[4];
    if (o->name) {
        snprintf(o->member, sizeof o->member, "%s", o->name);
    } else if (o->npos && !o->extract) {
        kt_voice_member_name(o->pos, (size_t)o->npos, o->member, sizeof o->member);
    } else {
        size_t n = 0;
        if (o->extract)
            args[n++] = o->extract;
        else if (o->slerp || o->interp) {
            args[n++] = o->a;
            args[n++] = o->b;
            args[n++] = o->slerp ? "slerp" : "interp";
            if (o->slerp)
                args[n++] = o->t_text ? o->t_text : "0.5";
        } else if (o->timbre) {
            args[n++] = o->timbre;
            args[n++] = "timbre";
            args[n++] = o->prosody;
            args[n++] = "prosody";
        }
        kt_voice_member_name(args, n, o->member, sizeof o->member);
    }
}

/* ---- evaluation ---- */

typedef struct {
    const char *label;   /* "blend", "a", "b", "timbre", "prosody" */
    kt_blend_expr expr;
    kt_voice voice;
} group;

typedef struct {
    group g[2];
    int ng;
    kt_voice result;
    kt_voice *series; /* --interp */
} work;

static int status_exit(kt_status st) { return st == KT_ENOMEM ? 3 : 1; }

static int eval_group(const options *o, group *g, const char *const *args, size_t n)
{
    kt_error err = {0};
    kt_status st = kt_blend_parse(args, n, &g->expr, &err);
    if (!st)
        st = kt_blend_weights(&g->expr, !o->no_normalize, &err);
    if (st) {
        fprintf(stderr, "kt-blend: %s\n", err.msg);
        return st == KT_ENOMEM ? 3 : 2;
    }
    st = kt_blend_resolve(&g->expr, o->voices ? o->voices : kt_voice_default_dir(), &err);
    if (!st)
        st = kt_blend_eval(&g->expr, &g->voice, &err);
    if (st) {
        fprintf(stderr, "kt-blend: %s\n", err.msg);
        return status_exit(st);
    }
    return 0;
}

static int eval_extract(const options *o, work *w)
{
    kt_voice_bundle b;
    kt_error err = {0};
    kt_status st = kt_voice_bundle_open(o->pos[0], &b, &err);
    long i = st ? -1 : kt_voice_bundle_find(&b, o->extract);
    if (!st && i < 0)
        st = kt_error_set(&err, KT_ENOTFOUND, "no voice '%s' in the bundle (see --list)", o->extract);
    if (!st)
        st = kt_voice_from_tensor(&b.views[i], &w->result, &err);
    kt_voice_bundle_free(&b);
    if (st) {
        fprintf(stderr, "kt-blend: %s: %s\n", o->pos[0], err.msg);
        return status_exit(st);
    }
    return 0;
}

static int combine(const options *o, work *w)
{
    kt_error err = {0};
    kt_status st = KT_OK;
    if (o->slerp)
        st = kt_voice_slerp(&w->g[0].voice, &w->g[1].voice, o->t, &w->result, &err);
    else if (o->timbre)
        st = kt_voice_split(&w->g[0].voice, &w->g[1].voice, &w->result, &err);
    else if (o->interp) {
        w->series = calloc((size_t)o->steps, sizeof *w->series);
        st = w->series ? kt_voice_interp(&w->g[0].voice, &w->g[1].voice, o->steps, o->spherical, w->series, &err)
                       : kt_error_set(&err, KT_ENOMEM, "out of memory");
    } else {
        w->result = w->g[0].voice;
        memset(&w->g[0].voice, 0, sizeof w->g[0].voice);
    }
    if (st) {
        fprintf(stderr, "kt-blend: %s\n", err.msg);
        return status_exit(st);
    }
    return 0;
}

static int evaluate(const options *o, work *w)
{
    int rc;
    if (o->extract)
        return eval_extract(o, w);
    if (o->npos) {
        w->ng = 1;
        w->g[0].label = "blend";
        rc = eval_group(o, &w->g[0], o->pos, (size_t)o->npos);
    } else {
        const char *x = o->timbre ? o->timbre : o->a, *y = o->timbre ? o->prosody : o->b;
        w->ng = 2;
        w->g[0].label = o->timbre ? "timbre" : "a";
        w->g[1].label = o->timbre ? "prosody" : "b";
        rc = eval_group(o, &w->g[0], &x, 1);
        if (!rc)
            rc = eval_group(o, &w->g[1], &y, 1);
    }
    return rc ? rc : combine(o, w);
}

static void work_free(work *w, int steps)
{
    for (int i = 0; i < 2; i++) {
        kt_blend_expr_free(&w->g[i].expr);
        kt_voice_free(&w->g[i].voice);
    }
    kt_voice_free(&w->result);
    for (int i = 0; w->series && i < steps; i++)
        kt_voice_free(&w->series[i]);
    free(w->series);
}

/* ---- recipe and summary JSON ---- */

static const char *mode_name(const options *o)
{
    return o->extract ? "extract" : o->slerp ? "slerp" : o->timbre ? "timbre-prosody" : o->interp ? "interp" : "blend";
}

static cJSON *terms_json(const kt_blend_expr *e)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < e->count; i++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "term", e->terms[i].text);
        cJSON_AddStringToObject(t, "voice", e->terms[i].source);
        cJSON_AddStringToObject(t, "file", e->terms[i].path ? e->terms[i].path : "");
        cJSON_AddNumberToObject(t, "weight", e->terms[i].weight);
        cJSON_AddNumberToObject(t, "used", e->terms[i].used);
        cJSON_AddItemToArray(arr, t);
    }
    return arr;
}

/* The recipe of one output (step >= 0 for a member of an --interp series). */
static cJSON *recipe_json(const options *o, const work *w, int step)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "tool", "kt-blend");
    cJSON_AddStringToObject(r, "mode", mode_name(o));
    if (o->extract) {
        cJSON_AddStringToObject(r, "bundle", o->pos[0]);
        cJSON_AddStringToObject(r, "voice", o->extract);
        return r;
    }
    cJSON_AddBoolToObject(r, "normalize", !o->no_normalize);
    for (int i = 0; i < w->ng; i++)
        cJSON_AddItemToObject(r, w->g[i].label, terms_json(&w->g[i].expr));
    if (o->slerp)
        cJSON_AddNumberToObject(r, "t", o->t);
    if (o->interp)
        cJSON_AddStringToObject(r, "method", o->spherical ? "slerp" : "linear");
    if (o->interp && step >= 0)
        cJSON_AddNumberToObject(r, "t", (double)step / (double)(o->steps - 1));
    return r;
}

/* ---- outputs ---- */

/* The file a term's spec reads ("B.npz:x" -> "B.npz" unless the whole spec is a file). */
static char *spec_file(const char *spec)
{
    struct stat st;
    const char *colon = strrchr(spec, ':');
    if (!colon || stat(spec, &st) == 0)
        return strdup(spec);
    return strndup(spec, (size_t)(colon - spec));
}

/* 1 (after a message) if path is one of the inputs and --force is not given. */
static int clobbers_input(const options *o, const work *w, const char *path)
{
    if (o->force)
        return 0;
    for (int g = 0; g < w->ng; g++)
        for (size_t i = 0; i < w->g[g].expr.count; i++) {
            char *f = spec_file(w->g[g].expr.terms[i].path ? w->g[g].expr.terms[i].path : "");
            int same = f && kt_same_file(f, path);
            free(f);
            if (same) {
                fprintf(stderr, "kt-blend: %s: is an input (term '%s'); --force overwrites it\n", path,
                        w->g[g].expr.terms[i].text);
                return 1;
            }
        }
    if (o->extract && kt_same_file(o->pos[0], path)) {
        fprintf(stderr, "kt-blend: %s: is the input bundle; --force overwrites it\n", path);
        return 1;
    }
    return 0;
}

typedef struct {
    char *path;
    kt_atomic_file side; /* the --recipe sidecar, committed after the output */
    int side_open;
} out_file;

static kt_status open_sidecar(out_file *f, const char *json, kt_error *err)
{
    size_t n = strlen(f->path) + 6;
    char *p = malloc(n);
    if (!p)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    snprintf(p, n, "%s.json", f->path);
    kt_status st = kt_atomic_open(&f->side, p, err);
    free(p);
    if (st)
        return st;
    f->side_open = 1;
    st = kt_atomic_write(&f->side, json, strlen(json), err);
    if (!st)
        st = kt_atomic_write(&f->side, "\n", 1, err);
    return st;
}

/* Writes v to f->path (recipe JSON in the safetensors metadata, and a sidecar with --recipe). */
static kt_status write_one(const options *o, const kt_voice *v, const char *recipe, out_file *f, kt_error *err)
{
    kt_kv meta = {"kt.recipe", (char *)recipe};
    kt_status st = o->recipe ? open_sidecar(f, recipe, err) : KT_OK;
    if (!st)
        st = kt_voice_write_named(v, f->path, o->fmt, o->interp ? NULL : o->member, &meta, 1, err);
    return st;
}

static const char *format_ext(kt_format f)
{
    switch (f) {
    case KT_FORMAT_SAFETENSORS: return "safetensors";
    case KT_FORMAT_NPY: return "npy";
    case KT_FORMAT_NPZ: return "npz";
    case KT_FORMAT_VOICEBIN: return "bin";
    default: return "pt";
    }
}

/* A short label for a voice expression in a file name: the first term's name or member. */
static void expr_stem(const char *expr, char *buf, size_t n)
{
    const char *s = strrchr(expr, '/');
    s = s ? s + 1 : expr;
    const char *colon = strchr(s, ':');
    if (colon && (colon[1] == '#' || colon[1] == '_' || (colon[1] >= 'a' && colon[1] <= 'z') ||
                  (colon[1] >= 'A' && colon[1] <= 'Z')))
        s = colon + 1 + (colon[1] == '#');
    size_t k = 0;
    while (s[k] && k + 1 < n && !strchr(".:(,+- ", s[k])) {
        buf[k] = s[k];
        k++;
    }
    buf[k] = '\0';
    if (!k)
        snprintf(buf, n, "voice");
}

static char *series_path(const options *o, int i)
{
    char a[64], b[64];
    size_t n = strlen(o->out) + 160;
    char *p = malloc(n);
    if (!p)
        return NULL;
    expr_stem(o->a, a, sizeof a);
    expr_stem(o->b, b, sizeof b);
    size_t len = strlen(o->out);
    snprintf(p, n, "%s%s%s_%s_%02d.%s", o->out, len && o->out[len - 1] == '/' ? "" : "/", a, b, i,
             format_ext(o->fmt));
    return p;
}

static void print_json(cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    if (s)
        printf("%s\n", s);
    free(s);
}

static void add_summary_output(cJSON *outs, const char *path, kt_format fmt, const kt_voice *v)
{
    cJSON *x = cJSON_CreateObject();
    cJSON *shape = cJSON_CreateArray();
    cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)v->rows));
    cJSON_AddItemToArray(shape, cJSON_CreateNumber(1));
    cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)v->dim));
    cJSON_AddStringToObject(x, "path", path);
    cJSON_AddStringToObject(x, "format", kt_format_name(fmt));
    cJSON_AddItemToObject(x, "shape", shape);
    cJSON_AddItemToArray(outs, x);
}

/* Writes outputs n files (series or one), undoing the committed ones on failure. */
static int write_files(const options *o, const work *w, char **paths, const kt_voice *voices, int n)
{
    out_file *f = calloc((size_t)n, sizeof *f);
    kt_error err = {0};
    kt_status st = f ? KT_OK : kt_error_set(&err, KT_ENOMEM, "out of memory");
    int done = 0;
    for (int i = 0; !st && i < n; i++) {
        cJSON *r = recipe_json(o, w, o->interp ? i : -1);
        char *text = r ? (o->recipe ? cJSON_Print(r) : cJSON_PrintUnformatted(r)) : NULL;
        cJSON_Delete(r);
        f[i].path = paths[i];
        st = text ? write_one(o, &voices[i], text, &f[i], &err) : kt_error_set(&err, KT_ENOMEM, "out of memory");
        free(text);
        if (!st && f[i].side_open) {
            f[i].side_open = 0;
            st = kt_atomic_commit(&f[i].side, &err);
            if (st)
                kt_output_remove(paths[i]);
        }
        if (st) {
            fprintf(stderr, "kt-blend: %s: %s\n", paths[i], err.msg);
            if (f[i].side_open)
                kt_atomic_abort(&f[i].side);
        } else {
            done = i + 1;
        }
    }
    for (int i = 0; st && i < done; i++) { /* nothing stays behind on an error */
        kt_output_remove(paths[i]);
        if (o->recipe) {
            char side[4096];
            snprintf(side, sizeof side, "%s.json", paths[i]);
            kt_output_remove(side);
        }
    }
    free(f);
    return st ? (st == KT_ENOMEM || st == KT_EIO ? 3 : 1) : 0;
}

/* --interp: makes the folder (removed again on failure when this run made it) and writes the series. */
static int write_series(const options *o, const work *w, cJSON *outs)
{
    char **paths = calloc((size_t)o->steps, sizeof *paths);
    int made = 0, rc = paths ? 0 : 3;
    struct stat st;
    char *dir = strdup(o->out);
    size_t dl = dir ? strlen(dir) : 0;
    while (dl > 1 && dir[dl - 1] == '/')
        dir[--dl] = '\0';
    if (!rc && dir && stat(dir, &st) != 0) {
        if (mkdir(dir, 0755) != 0) {
            fprintf(stderr, "kt-blend: %s: cannot create the folder: %s\n", dir, strerror(errno));
            rc = 3;
        }
        made = rc == 0;
    } else if (!rc && dir && !S_ISDIR(st.st_mode)) {
        rc = usage_error("--interp writes into a folder; %s is a file", o->out);
    }
    for (int i = 0; !rc && i < o->steps; i++) {
        paths[i] = series_path(o, i);
        rc = !paths[i] ? 3 : clobbers_input(o, w, paths[i]) ? 2 : 0;
    }
    if (!rc)
        rc = write_files(o, w, paths, w->series, o->steps);
    for (int i = 0; !rc && i < o->steps; i++)
        add_summary_output(outs, paths[i], o->fmt, &w->series[i]);
    if (rc && made)
        rmdir(dir);
    for (int i = 0; paths && i < o->steps; i++)
        free(paths[i]);
    free(paths);
    free(dir);
    return rc;
}

static int write_append(const options *o, const work *w, cJSON *outs)
{
    kt_error err = {0};
    kt_status st = kt_voice_bundle_append(o->append, o->member, &w->result, o->force, &err);
    if (st) {
        fprintf(stderr, "kt-blend: %s: %s\n", o->append, err.msg);
        return st == KT_ENOMEM || st == KT_EIO ? 3 : 1;
    }
    add_summary_output(outs, o->append, kt_format_from_extension(o->append), &w->result);
    return 0;
}

static int write_outputs(const options *o, const work *w, cJSON *outs)
{
    if (o->interp)
        return write_series(o, w, outs);
    if (o->append)
        return write_append(o, w, outs);
    if (clobbers_input(o, w, o->out))
        return 2;
    char *path = (char *)o->out, *tmp = NULL;
    kt_error err = {0};
    char ext[16];
    snprintf(ext, sizeof ext, ".%s", format_ext(o->fmt));
    if (kt_cli_is_stdio(o->out) && kt_cli_temp_output(ext, &tmp, &err)) {
        fprintf(stderr, "kt-blend: -: %s\n", err.msg);
        return 3;
    }
    int rc = write_files(o, w, tmp ? &tmp : &path, &w->result, 1);
    if (!rc && tmp && kt_cli_send_to_stdout(tmp, &err)) {
        fprintf(stderr, "kt-blend: -: %s\n", err.msg);
        rc = 3;
    }
    kt_cli_temp_remove(tmp);
    free(tmp);
    if (!rc)
        add_summary_output(outs, o->out, o->fmt, &w->result);
    return rc;
}

/* ---- --list ---- */

static int run_list(const options *o)
{
    kt_voice_bundle b;
    kt_error err = {0};
    kt_status st = kt_voice_bundle_open(o->list, &b, &err);
    if (st) {
        fprintf(stderr, "kt-blend: %s: %s\n", o->list, err.msg);
        return status_exit(st);
    }
    cJSON *j = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    cJSON_AddStringToObject(j, "bundle", o->list);
    cJSON_AddStringToObject(j, "format", kt_format_name(b.format));
    for (size_t i = 0; i < b.count; i++) {
        const kt_tensor *t = &b.views[i];
        cJSON *x = cJSON_CreateObject(), *shape = cJSON_CreateArray();
        for (int d = 0; d < t->ndim; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        cJSON_AddStringToObject(x, "name", b.names[i]);
        cJSON_AddStringToObject(x, "dtype", kt_dtype_name(t->dtype));
        cJSON_AddItemToObject(x, "shape", shape);
        cJSON_AddItemToArray(arr, x);
        if (!o->json) {
            char shape[160];
            size_t k = (size_t)snprintf(shape, sizeof shape, "[");
            for (int d = 0; d < t->ndim && k < sizeof shape; d++)
                k += (size_t)snprintf(shape + k, sizeof shape - k, "%s%lld", d ? "," : "", (long long)t->shape[d]);
            kt_strbuf name = {0};
            kt_strbuf_escaped(&name, b.names[i][0] ? b.names[i] : "(the file's only voice)");
            printf("%-24s %-8s %s]\n", name.data ? name.data : "?", kt_dtype_name(t->dtype), shape);
            kt_strbuf_free(&name);
        }
    }
    cJSON_AddItemToObject(j, "voices", arr);
    if (o->json)
        print_json(j);
    else
        printf("%zu voice%s (%s)\n", b.count, b.count == 1 ? "" : "s", kt_format_name(b.format));
    cJSON_Delete(j);
    kt_voice_bundle_free(&b);
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    work w;
    if (kt_version_asked(argc, argv)) {
        printf("kt-blend %s\n", kt_version());
        return 0;
    }
    memset(&o, 0, sizeof o);
    memset(&w, 0, sizeof w);
    int rc = parse_args(argc, argv, &o);
    if (!rc)
        rc = check_mode_args(&o);
    if (!rc)
        rc = o.list ? 0 : check_format(&o);
    if (!rc)
        member_name(&o);
    if (!rc && o.list)
        rc = run_list(&o);
    else if (!rc)
        rc = evaluate(&o, &w);
    if (!rc && !o.list) {
        cJSON *summary = recipe_json(&o, &w, -1), *outs = cJSON_CreateArray();
        cJSON_AddItemToObject(summary, "outputs", outs);
        rc = write_outputs(&o, &w, outs);
        if (!rc && o.json)
            print_json(summary);
        cJSON_Delete(summary);
    }
    work_free(&w, o.steps);
    free(o.pos);
    kt_error e;
    if (kt_stdout_close(&e) && rc <= 0) {
        fprintf(stderr, "kt-blend: stdout: %s\n", e.msg);
        rc = 3;
    }
    return rc < 0 ? 0 : rc;
}
