/* kt/voice.h - Kokoro voice packs and the blend algebra behind kt-blend.
 *
 * A voice pack is 510 style rows of D floats (D = 256 for Kokoro-82M: the first
 * half drives the decoder, "timbre", the second the prosody predictor). Packs
 * load from any format kt reads, alone or as a member of a bundle
 * ("voices-v1.0.bin:af_heart" for kokoro-onnx's npz, "voices.bin:3" for
 * sherpa-onnx's raw n x 510 x D file). Blends are computed in double and rounded
 * to float32 once. Functions return errors and never print; nothing is global. */
#ifndef KT_VOICE_H
#define KT_VOICE_H

#include <stddef.h>
#include <stdint.h>

#include "kt/checkpoint.h"
#include "kt/error.h"
#include "kt/formats.h"
#include "kt/tensor.h"

#define KT_VOICE_ROWS 510

/* The prefix of voice packs embedded in a model file (kt-convert --voices): "voices.af_heart". */
#define KT_VOICE_PREFIX "voices."

typedef struct {
    int64_t rows; /* KT_VOICE_ROWS */
    int64_t dim;  /* values per row (256) */
    float *data;  /* rows * dim, row-major, owned */
} kt_voice;

/* Frees v's data and zeroes it. NULL is allowed. */
void kt_voice_free(kt_voice *v);

/* Copies a [510,1,D] or [510,D] floating-point tensor into out (float32).
 * Errors: other shapes, non-float dtypes, non-finite values. */
kt_status kt_voice_from_tensor(const kt_tensor *t, kt_voice *out, kt_error *err);

/* A borrowed float32 [510,1,D] view of v (valid while v lives), as the real packs are shaped. */
kt_tensor kt_voice_tensor(const kt_voice *v);

/* ---- bundles: files holding several packs ---- */

typedef struct {
    kt_checkpoint *ckpt; /* the open file; views borrow from it */
    kt_format format;
    size_t count;
    char **names;        /* member names: tensor names, or "0".."n-1" for a raw n x 510 x D file */
    kt_tensor *views;    /* one [510,1,D] or [510,D] view per member */
} kt_voice_bundle;

/* Opens path ("-": stdin) and lists its voices. A file of one tensor shaped [n,510,D] (raw
 * voices.bin) has members "0".."n-1"; otherwise each tensor is a member (an
 * npz's "NAME.npy" is named NAME). Members are not validated here. */
kt_status kt_voice_bundle_open(const char *path, kt_voice_bundle *b, kt_error *err);

/* Index of the member called name, or -1. The one naming rule of FILE:MEMBER: MEMBER is the
 * member's name as kt-blend --list prints it (the tensor's name; an npz member without ".npy";
 * a raw voices.bin's index, also written "#3"), and a voice embedded in a model file as
 * "voices.NAME" also answers to NAME. An exact name wins over the "voices." form. */
long kt_voice_bundle_find(const kt_voice_bundle *b, const char *name);

/* Frees the bundle and closes its file. Safe on a zeroed struct. */
void kt_voice_bundle_free(kt_voice_bundle *b);

/* Writes the bundle's members plus v as name to path (atomically): an npz (name ->
 * [510,1,D]) when the bundle is an npz, likewise a safetensors or a .pth dict of voices,
 * raw float32 concatenation when it is raw
 * (v then goes last; its index is the old count). An existing member of the same
 * name is replaced when replace is set, else it is an error. path may be the
 * bundle's own file. */
kt_status kt_voice_bundle_write_with(const kt_voice_bundle *b, const char *name, const kt_voice *v, int replace,
                                     const char *path, kt_error *err);

/* Adds v as name to the bundle at path (kt_voice_bundle_write_with, in place); a missing
 * bundle is created, its format from the extension: .npz, .safetensors, .pth (a dict of
 * tensors) or .bin (raw float32, members by index). */
kt_status kt_voice_bundle_append(const char *path, const char *name, const kt_voice *v, int replace, kt_error *err);

/* ---- loading ---- */

/* Loads spec: a file holding one pack, or "FILE:MEMBER" of a bundle (the whole
 * spec is tried as a file first). Errors say what is wrong, not the path. */
kt_status kt_voice_load(const char *spec, kt_voice *out, kt_error *err);

/* The voice folder to use when the caller names none: $KT_VOICES if set and
 * non-empty, else "voices". */
const char *kt_voice_default_dir(void);

/* Resolves a term's source to a loadable spec (malloc'd into *out): a path or
 * FILE:MEMBER is kept as is (it has a '/', a ':' or an extension, or names an
 * existing file); a bare NAME becomes DIR/NAME.pt, .pth, .safetensors, .npy or
 * .bin, the first that exists. KT_ENOTFOUND for an unknown voice. */
kt_status kt_voice_resolve(const char *source, const char *dir, char **out, kt_error *err);

/* As kt_voice_resolve, and a bare NAME found neither in dir is then looked up among the
 * voices embedded in the tensor file model (NULL: none), as the tensor voices.NAME that
 * kt-convert --voices writes; the spec is then "MODEL:voices.NAME". */
kt_status kt_voice_resolve_in(const char *source, const char *dir, const char *model, char **out, kt_error *err);

/* The voice's name in spec (a name, path, FILE:MEMBER or blend expression, whose first term
 * counts), without folder, FILE: part, "voices." prefix or extension: "af_heart" for
 * "m.safetensors:voices.af_heart", "voices/af_heart.pt" and "af_heart:0.6 am_adam:0.4".
 * Written to buf (always terminated); "" when spec does not parse. */
void kt_voice_spec_name(const char *spec, char *buf, size_t n);

/* A member name for the voice the expression args make: the terms as written, each source
 * shortened to its voice name, sanitized to letters, digits, '_' (and '.' between digits;
 * '-' is "minus"): "af_heart:0.6 am_adam:0.4" -> "af_heart_0.6_am_adam_0.4". Never empty;
 * starts with a letter. n >= 8. */
void kt_voice_member_name(const char *const *args, size_t nargs, char *buf, size_t n);

/* 1 if name can be a member name that FILE:MEMBER reaches in an expression: a letter or '_'
 * first, then letters, digits, '_' and '.', fewer than 256 characters. */
int kt_voice_name_valid(const char *name);

/* ---- blend expressions ---- */

typedef struct {
    char *text;    /* the term as written, e.g. "af_bella(2)" or "-am_adam" */
    char *source;  /* voice name, path or FILE:MEMBER */
    char *path;    /* resolved spec (kt_blend_resolve), else NULL */
    double weight; /* as written, sign applied (1 when none) */
    double used;   /* the weight applied in the blend (after normalising) */
} kt_blend_term;

typedef struct {
    kt_blend_term *terms;
    size_t count;
} kt_blend_expr;

/* Parses one or more argument strings into terms. Accepted forms, mixable:
 *   "af_heart:0.6 am_adam:0.4", "af_bella(2)+af_sky(1)", "a-b" (b weighted -1),
 *   "a,b" (each 1), paths and FILE:MEMBER as sources.
 * A '-' inside a word holding '.' or '/' is part of a path (subtract paths with
 * FILE:-1). Errors (KT_EINVAL) name the term: malformed term, weight that is not a
 * finite number, empty expression. */
kt_status kt_blend_parse(const char *const *args, size_t nargs, kt_blend_expr *out, kt_error *err);

/* Frees every term and zeroes e. */
void kt_blend_expr_free(kt_blend_expr *e);

/* Sets each term's used weight: divided by the sum of weights when normalize,
 * as written otherwise. Errors: all weights zero; a zero or non-finite sum when
 * normalising; a non-finite result. */
kt_status kt_blend_weights(kt_blend_expr *e, int normalize, kt_error *err);

/* Resolves every term's source against dir (kt_voice_resolve); errors name the term. */
kt_status kt_blend_resolve(kt_blend_expr *e, const char *dir, kt_error *err);

/* The same, also finding bare names among the voices embedded in model (kt_voice_resolve_in). */
kt_status kt_blend_resolve_in(kt_blend_expr *e, const char *dir, const char *model, kt_error *err);

/* Loads every resolved term and writes sum(used_k * pack_k) into out.
 * Call kt_blend_weights and kt_blend_resolve first. Errors name the term:
 * a load failure, or a shape different from the first term's. */
kt_status kt_blend_eval(const kt_blend_expr *e, kt_voice *out, kt_error *err);

/* ---- voice arithmetic (all shapes must agree; out is allocated) ---- */

/* out = round_f32(sum_k w[k] * v[k]), accumulated in double in k order. */
kt_status kt_voice_mix(const kt_voice *const *v, const double *w, size_t n, kt_voice *out, kt_error *err);

/* Row-wise spherical interpolation from a (t=0) to b (t=1): direction by slerp of
 * the unit rows, length interpolated linearly; plain lerp where a row is zero or
 * the rows are (anti)parallel. t may be any finite number. */
kt_status kt_voice_slerp(const kt_voice *a, const kt_voice *b, double t, kt_voice *out, kt_error *err);

/* out's first dim/2 values per row from timbre, the rest from prosody (dim must be even). */
kt_status kt_voice_split(const kt_voice *timbre, const kt_voice *prosody, kt_voice *out, kt_error *err);

/* steps >= 2 voices from a to b inclusive at t = i/(steps-1): lerp, or slerp when
 * use_slerp. out must hold steps zeroed voices; on error all are freed. */
kt_status kt_voice_interp(const kt_voice *a, const kt_voice *b, int steps, int use_slerp, kt_voice *out,
                          kt_error *err);

/* Writes v to path in format fmt (UNKNOWN: from the extension): pth (a bare
 * [510,1,D] tensor, archive folder = file stem), safetensors (tensor "voice",
 * with meta), npy [510,1,D], npz (member = file stem), voicebin (raw float32). */
kt_status kt_voice_write(const kt_voice *v, const char *path, kt_format fmt, const kt_kv *meta, size_t nmeta,
                         kt_error *err);

/* kt_voice_write with the member's name where the format names it: the npz member and the
 * safetensors tensor are called member (NULL: as kt_voice_write). */
kt_status kt_voice_write_named(const kt_voice *v, const char *path, kt_format fmt, const char *member,
                               const kt_kv *meta, size_t nmeta, kt_error *err);

#endif
