/* kt/quant.h - weight quantization (q8, q4), float casts (f16, bf16), the
 * "what stays float32" rule, weight-norm folding, and row-wise decoding.
 *
 * Schemes (docs/quantization.md has the full description):
 *   q8  symmetric int8 per row (dim 0): scale[r] = max|w[r,:]| / 127,
 *       q = round(w / scale) clamped to [-127, 127]; w' = q * scale.
 *   q4  symmetric 4-bit in groups of 32 along the flattened row: scale[r,g] =
 *       max|group| / 7, q = round(w / scale) clamped to [-8, 7]; two values per
 *       byte, low nibble first; each row starts on a byte boundary; the last
 *       group of a row may be shorter than 32.
 * A tensor is seen as rows x cols with rows = shape[0] and cols = the product
 * of the other dims (a 0-d tensor is 1 x 1). Rounding is half to even.
 *
 * Storage (safetensors): a quantized tensor NAME is stored as NAME (q8: int8
 * with the original shape; q4: uint8 [rows, ceil(cols/2)]) plus NAME.scale
 * (float32; q8: [rows]; q4: [rows, ceil(cols/32)]), and the metadata key
 * "kt.quant.NAME" holds a JSON object such as
 *   {"scheme":"q4","dtype":"float32","shape":[512,256,20],"group":32}. */
#ifndef KT_QUANT_H
#define KT_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "kt/checkpoint.h"
#include "kt/error.h"
#include "kt/tensor.h"

typedef enum {
    KT_QUANT_F32 = 0, /* plain float32 (no quantization) */
    KT_QUANT_F16,     /* cast to IEEE half */
    KT_QUANT_BF16,    /* cast to bfloat16 */
    KT_QUANT_Q8,
    KT_QUANT_Q4
} kt_quant_scheme;

#define KT_Q4_GROUP 32
#define KT_QUANT_MIN_NUMEL 1024 /* tensors with fewer elements stay float32 */
#define KT_QUANT_META_PREFIX "kt.quant."

/* "f32", "f16", "bf16", "q8", "q4" ("invalid" otherwise). */
const char *kt_quant_scheme_name(kt_quant_scheme s);

/* Parses one of the names above (also "float32", "float16", "bfloat16"); 0 on success, -1 if unknown. */
int kt_quant_scheme_parse(const char *name, kt_quant_scheme *out);

/* 1 for q8 and q4 (stored as codes + scales), 0 for the float schemes. */
int kt_quant_is_integer(kt_quant_scheme s);

/* The keep rule. Returns NULL when tensor t named name may be cast or
 * quantized, else a short reason it stays as it is: "not float" (integer and
 * bool tensors are never touched), "1-d", "alpha" (Snake alphas), "embedding",
 * "weight_g", "small" (< KT_QUANT_MIN_NUMEL elements), "voice" (names starting
 * "voices."), or "--keep" (name matches one of the nkeep fnmatch globs). */
const char *kt_quant_keep_reason(const char *name, const kt_tensor *t, const char *const *keep, size_t nkeep);

/* 1 when the tensor named name is on Kokoro's duration path (PL-BERT, bert_encoder, the
 * predictor's text encoder, duration LSTM and duration projection; with or without the
 * ".module." level): kt-convert keeps these float32 under q8/q4, since the rounded sum of the
 * duration logits turns small weight errors into different utterance lengths. */
int kt_quant_duration_path(const char *name);

/* Rows (shape[0], 1 for 0-d) and cols (numel / rows) of t as the schemes see it. */
void kt_quant_rows_cols(const kt_tensor *t, int64_t *rows, int64_t *cols);

/* Number of q4 groups in a row of cols values: ceil(cols / 32). */
int64_t kt_q4_groups(int64_t cols);

/* Row kernels. Quantize n floats of w into q (q8: n bytes; q4: ceil(n/2)
 * bytes) and the scale(s) (q8: one; q4: kt_q4_groups(n)). Values must be
 * finite. An all-zero row or group gets scale 0 and codes 0. */
void kt_q8_quantize_row(const float *w, int64_t n, int8_t *q, float *scale);
void kt_q4_quantize_row(const float *w, int64_t n, uint8_t *q, float *scales);

/* Row decoders: out[i] = code[i] * scale of its row/group, for n values. */
void kt_q8_dequantize_row(const int8_t *restrict q, float scale, int64_t n, float *restrict out);
void kt_q4_dequantize_row(const uint8_t *restrict q, const float *restrict scales, int64_t n, float *restrict out);

/* The q4 code (-8..7) of element i of a packed row. */
int kt_q4_code(const uint8_t *q, int64_t i);

/* Quantizes a float tensor (float32/64/16/bf16, any strides) with q8 or q4
 * into two new owned tensors laid out as described at the top of this file.
 * Errors: not a float tensor, a NaN or Inf value, scheme not q8/q4. */
kt_status kt_quantize(const kt_tensor *src, kt_quant_scheme s, kt_tensor *codes, kt_tensor *scales, kt_error *err);

/* Casts a float tensor to a new owned contiguous float32, float16 or bfloat16
 * tensor (round to nearest even). Errors: not a float tensor, to not one of
 * those three, a finite value that overflows float16. */
kt_status kt_cast_float(const kt_tensor *src, kt_dtype to, kt_tensor *out, kt_error *err);

/* Weight-norm folding: out = g * v / ||v|| with the L2 norm over all dims of v
 * except dim 0, no epsilon (a zero row gives NaN, as in PyTorch). g must have
 * shape[0] elements in total (e.g. [C,1,1]). out is a new owned float32
 * tensor with v's shape. */
kt_status kt_weight_norm_fold(const kt_tensor *g, const kt_tensor *v, kt_tensor *out, kt_error *err);

/* A read-only row-addressable view of a weight in any stored form, for
 * matrix-vector code that decodes one row at a time (no full expansion). */
typedef struct {
    kt_quant_scheme scheme; /* F32, F16, BF16 (plain tensors) or Q8, Q4 */
    int ndim;
    int64_t shape[KT_MAX_DIMS]; /* logical shape */
    int64_t rows, cols;
    int64_t group;          /* values per scale: q8 cols, q4 32, floats cols */
    int64_t groups;         /* scales per row (0 for floats) */
    int64_t row_bytes;      /* bytes of codes per row */
    const uint8_t *codes;   /* rows * row_bytes bytes, borrowed */
    const float *scales;    /* rows * groups floats, borrowed; NULL for floats */
} kt_qview;

/* Makes a view of the tensor named name in c: a quantized tensor (per its
 * kt.quant.NAME metadata, checked against the stored codes and scales) or a
 * contiguous float32/float16/bfloat16 tensor. The view borrows from c.
 * Errors: KT_ENOTFOUND, KT_EFORMAT (inconsistent metadata or shapes),
 * KT_EUNSUPPORTED (other dtypes or a strided tensor). */
kt_status kt_qview_open(const kt_checkpoint *c, const char *name, kt_qview *out, kt_error *err);

/* Makes a view over tensors already in memory: codes and scales as kt_quantize
 * made them (scales NULL for the float schemes, whose codes tensor is the
 * contiguous float32/float16/bfloat16 weight), logical shape ndim/shape.
 * Errors: KT_EFORMAT when the dtypes or sizes do not match the scheme. */
kt_status kt_qview_from_tensors(kt_quant_scheme s, int ndim, const int64_t *shape, const kt_tensor *codes,
                                const kt_tensor *scales, kt_qview *out, kt_error *err);

/* Decodes row r (0 <= r < rows) into out (cols floats). */
void kt_qview_row(const kt_qview *v, int64_t r, float *out);

/* Dot product of row r with x (cols floats), without decoding the row to memory. */
float kt_qview_row_dot(const kt_qview *v, int64_t r, const float *x);

/* y[r] = row r . x for every row (y: rows floats). */
void kt_qview_matvec(const kt_qview *v, const float *x, float *y);

/* Decodes the whole tensor into out (rows * cols floats, row-major). */
void kt_qview_decode(const kt_qview *v, float *out);

/* One quantized tensor as recorded in a file's metadata. */
typedef struct {
    const char *name;           /* borrowed from the checkpoint */
    kt_quant_scheme scheme;     /* Q8 or Q4 */
    kt_dtype dtype;             /* dtype before quantization */
    int ndim;
    int64_t shape[KT_MAX_DIMS]; /* logical shape */
    int64_t group;              /* values per scale */
    uint64_t stored_bytes;      /* codes + scales */
} kt_quant_info;

/* Lists the quantized tensors of c in file order (the tensors that have a
 * kt.quant.NAME entry). *out is malloc'd (free() it; NULL when *count is 0).
 * Errors: KT_EFORMAT when an entry is malformed or does not match its tensors. */
kt_status kt_quant_list(const kt_checkpoint *c, kt_quant_info **out, size_t *count, kt_error *err);

/* The metadata entry that records the quantized tensor name (what kt_qview_open and
 * kt_quant_list read back): key "kt.quant.NAME", value the JSON object above for t (the
 * tensor before quantization, its dtype and logical shape) quantized with s. out->key and
 * out->value are malloc'd (the caller frees both). Errors: KT_EINVAL when s is not Q8 or Q4,
 * or the name or shape does not fit the entry; KT_ENOMEM. */
kt_status kt_quant_meta(const char *name, const kt_tensor *t, kt_quant_scheme s, kt_kv *out, kt_error *err);

/* 1 if name is the ".scale" companion of a quantized tensor listed in c's metadata. */
int kt_quant_is_scale_name(const kt_checkpoint *c, const char *name);

#endif
