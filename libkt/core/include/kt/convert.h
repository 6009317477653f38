/* kt/convert.h - checkpoint conversion: every tensor of an open checkpoint cast (f32, f16, bf16)
 * or quantized (q8, q4; kt/quant.h) and written as .safetensors, .pth or .npz; what kt-convert
 * does after its command line (docs/quantization.md).
 *
 * Under a scheme the keep rule (kt_quant_keep_reason) leaves tensors float32, and under q8/q4
 * the duration path too unless quantize_durations. Quantized inputs are decoded to float32
 * first; a "kt.order" recorded by an earlier conversion restores the tensor order. A
 * .safetensors output records, beside the tensors, one "kt.quant.NAME" entry per quantized
 * tensor (kt_quant_meta, read back by kt_qview_open and kt_quant_list), the input's own
 * metadata pairs (but "kt.*"), "kt.converter" = "kt-convert", "kt.quant" = the scheme (when
 * given), "kt.weight_norm" = "folded" (when a pair was folded), "kt.pth.nest" (the dict nesting
 * of a .pth input) and "kt.order" (the tensor names in order). The bytes depend only on the
 * input and the parameters. */
#ifndef KT_CONVERT_H
#define KT_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "kt/checkpoint.h"
#include "kt/error.h"
#include "kt/formats.h"
#include "kt/quant.h"

/* One converted tensor, as the per-tensor callback sees it (valid during the call). */
typedef struct {
    const char *name;
    const char *before, *after;  /* dtype or scheme names ("float32", "q8") */
    uint64_t bytes_before, bytes_after;
    double max_abs_error;        /* after decoding, against the input values */
    const char *kept;            /* why it was not converted to the scheme (kt_quant_keep_reason,
                                    "duration path"), or NULL */
    int folded;                  /* made from a weight_g/weight_v pair */
} kt_convert_record;

typedef struct {
    kt_format format;       /* KT_FORMAT_SAFETENSORS (q8 and q4 need it), _PTH or _NPZ (not bf16) */
    int dtype_given;        /* 0: every tensor keeps its dtype (quantized inputs are decoded) */
    kt_quant_scheme scheme; /* with dtype_given */
    int fold;               /* 1: replace each X.weight_g/X.weight_v pair by X.weight */
    int quantize_durations; /* 1: q8/q4 quantize the duration path too */
    const char *const *keep; /* fnmatch globs of names kept float32 */
    size_t nkeep;
    const char *voices_dir; /* NULL, or embed every voice pack DIR/NAME.pt (.pth, .npy,
                               .safetensors) as voices.NAME */
    uint64_t max_output;    /* refuse more bytes of tensors than this (elements x max(4, element
                               size)); 0: 8 x the input files' size + 64 MiB */
    void (*on_tensor)(void *user, const kt_convert_record *r, size_t done, size_t total);
    void *user;
} kt_convert_params;

/* Where a conversion failed: reading or converting the input, reading voices_dir, or writing. */
typedef enum { KT_CONVERT_AT_INPUT, KT_CONVERT_AT_VOICES, KT_CONVERT_AT_OUTPUT } kt_convert_stage;

typedef struct {
    size_t tensors;                    /* tensors converted (after folding, with the voices) */
    uint64_t bytes_before, bytes_after; /* of the tensors */
    double max_abs_error;
    kt_convert_stage failed_at;        /* set on an error */
} kt_convert_result;

/* Converts in into path (written atomically) as p says; p->on_tensor (may be NULL) is called
 * after each tensor; res (may be NULL) receives the totals, and on an error where it failed.
 * Errors: KT_EFORMAT, KT_EINVAL (a name that would exist twice after folding, quantizing or
 * adding voices; a value a scheme cannot take), KT_ENOTFOUND (no voice packs), KT_ELIMIT (over
 * max_output, checked before any conversion; the message names kt-convert's --max-output),
 * KT_EIO, KT_ENOMEM; messages name the tensor or voice file. */
kt_status kt_convert(kt_checkpoint *in, const char *path, const kt_convert_params *p, kt_convert_result *res,
                     kt_error *err);

#endif
