/* kt/tensor.h - a strided n-d array view and a named list of them.
 *
 * A kt_tensor either borrows its bytes (from an mmap'd file that outlives it)
 * or owns them (owned != NULL, released by kt_tensor_release). Strides are in
 * elements; data points at the element with all indices 0. */
#ifndef KT_TENSOR_H
#define KT_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "kt/error.h"

typedef enum {
    KT_F32 = 0,
    KT_F64,
    KT_F16,
    KT_BF16,
    KT_I8,
    KT_I16,
    KT_I32,
    KT_I64,
    KT_U8,
    KT_BOOL,
    KT_DTYPE_COUNT
} kt_dtype;

#define KT_MAX_DIMS 8

typedef struct kt_tensor {
    kt_dtype dtype;
    int ndim;
    int64_t shape[KT_MAX_DIMS];
    int64_t stride[KT_MAX_DIMS]; /* in elements */
    const void *data;            /* element [0,...,0]; NULL only when numel == 0 */
    void *owned;                 /* buffer to free, or NULL when borrowed */
} kt_tensor;

/* Bytes per element of dtype (0 for an invalid dtype). */
size_t kt_dtype_size(kt_dtype dtype);

/* Short name: "float32", "float16", "bfloat16", "int8", ..., "bool". */
const char *kt_dtype_name(kt_dtype dtype);

/* PyTorch's name: "torch.float32", ... */
const char *kt_dtype_torch_name(kt_dtype dtype);

/* Parses a short name ("float32", also "f32", "F32", "fp16", "bf16") into *out; 0 on success, -1 if unknown. */
int kt_dtype_parse(const char *name, kt_dtype *out);

/* Number of elements (1 for a 0-d tensor). */
int64_t kt_tensor_numel(const kt_tensor *t);

/* Bytes of the elements the tensor covers when contiguous (numel * dtype size). */
uint64_t kt_tensor_nbytes(const kt_tensor *t);

/* 1 if the strides are row-major contiguous for the shape, else 0. */
int kt_tensor_is_contiguous(const kt_tensor *t);

/* Address of the element at row-major logical index i (0 <= i < numel). */
const void *kt_tensor_element(const kt_tensor *t, int64_t i);

/* Element at row-major logical index i (0 <= i < numel), converted to double. */
double kt_tensor_get_f64(const kt_tensor *t, int64_t i);

/* Writes all elements in row-major order as float32 into out (numel floats). */
kt_status kt_tensor_to_f32(const kt_tensor *t, float *out, kt_error *err);

/* Copies t into a new owned, contiguous tensor of the same dtype. */
kt_status kt_tensor_copy_contiguous(const kt_tensor *t, kt_tensor *out, kt_error *err);

/* Makes an owned, zero-filled contiguous tensor of dtype and shape. */
kt_status kt_tensor_alloc(kt_tensor *out, kt_dtype dtype, int ndim, const int64_t *shape, kt_error *err);

/* Frees the owned buffer, if any, and zeroes t. */
void kt_tensor_release(kt_tensor *t);

/* IEEE half and bfloat16 conversions (round to nearest even). */
float kt_f16_to_f32(uint16_t h);
uint16_t kt_f32_to_f16(float f);
float kt_bf16_to_f32(uint16_t h);
uint16_t kt_f32_to_bf16(float f);

/* A list of named tensors in insertion (file) order. The list owns the names
 * and releases owned tensor buffers on free. */
typedef struct {
    char *name;
    kt_tensor tensor;
} kt_named_tensor;

typedef struct {
    kt_named_tensor *items;
    size_t count;
    size_t cap;
} kt_tensor_list;

/* Appends a copy of name and takes t (its owned buffer moves into the list). */
kt_status kt_tensor_list_add(kt_tensor_list *l, const char *name, const kt_tensor *t, kt_error *err);

/* Index of the first tensor named name, or -1. */
long kt_tensor_list_find(const kt_tensor_list *l, const char *name);

/* Frees names and owned buffers, and zeroes the list. */
void kt_tensor_list_free(kt_tensor_list *l);

#endif
