/* kt/tensor_emit.h - what the format writers share: a tensor's elements as raw
 * little-endian bytes in row-major order (strided views gathered through a
 * bounded buffer, never a whole copy), byte sinks for an atomic output file
 * and for an open zip entry, and the duplicate-name check. */
#ifndef KT_TENSOR_EMIT_H
#define KT_TENSOR_EMIT_H

#include <stddef.h>

#include "kt/error.h"
#include "kt/io.h"
#include "kt/tensor.h"
#include "kt/zip.h"

/* Receives len bytes; returns KT_OK or an error (filled into err). */
typedef kt_status (*kt_byte_sink)(void *ctx, const void *data, size_t len, kt_error *err);

/* Sends t's kt_tensor_nbytes(t) bytes, row-major, to sink (in pieces of any size). */
kt_status kt_tensor_emit(const kt_tensor *t, kt_byte_sink sink, void *ctx, kt_error *err);

/* Sink writing to a kt_atomic_file (ctx). */
kt_status kt_sink_atomic(void *ctx, const void *data, size_t len, kt_error *err);

/* Sink appending to the open entry of a kt_zip_writer (ctx). */
kt_status kt_sink_zip(void *ctx, const void *data, size_t len, kt_error *err);

/* KT_EINVAL naming the first name that occurs twice in l, else KT_OK. */
kt_status kt_tensor_list_check_unique(const kt_tensor_list *l, kt_error *err);

#endif
