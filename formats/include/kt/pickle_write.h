/* kt/pickle_write.h - emit Python pickle (protocol 2) opcodes into a growing buffer.
 *
 * Only the opcodes torch.load(weights_only=True) accepts (torch 1.13 and newer)
 * are offered. The buffer is sticky on failure: once an allocation fails every
 * later call is a no-op and kt_pkl_check reports the error, so a caller can emit
 * a whole pickle and check once. Output bytes depend only on the calls made. */
#ifndef KT_PICKLE_WRITE_H
#define KT_PICKLE_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "kt/error.h"
#include "kt/tensor.h"

typedef struct {
    unsigned char *buf; /* owned; len bytes written */
    size_t len;
    size_t cap;
    int failed;         /* an allocation failed */
} kt_pkl;

/* Starts an empty buffer (no allocation yet). */
void kt_pkl_init(kt_pkl *p);

/* Frees the buffer and zeroes p. */
void kt_pkl_free(kt_pkl *p);

/* KT_OK, or KT_ENOMEM if any earlier call could not grow the buffer. */
kt_status kt_pkl_check(const kt_pkl *p, kt_error *err);

/* PROTO n (write first). */
void kt_pkl_proto(kt_pkl *p, int version);

/* A single opcode byte without argument: MARK '(', TUPLE 't', EMPTY_TUPLE ')',
 * REDUCE 'R', SETITEMS 'u', BINPERSID 'Q', STOP '.', NEWFALSE 0x89, ... */
void kt_pkl_op(kt_pkl *p, unsigned char op);

/* GLOBAL "module\nname\n". */
void kt_pkl_global(kt_pkl *p, const char *module, const char *name);

/* An int with the shortest opcode: BININT1, BININT2, BININT, else LONG1. */
void kt_pkl_int(kt_pkl *p, int64_t v);

/* BINUNICODE of a NUL-terminated UTF-8 string. */
void kt_pkl_str(kt_pkl *p, const char *s);

/* NEWTRUE / NEWFALSE. */
void kt_pkl_bool(kt_pkl *p, int v);

/* A tuple of ints (EMPTY_TUPLE, TUPLE1..3 or MARK ... TUPLE), as torch.Size/stride. */
void kt_pkl_int_tuple(kt_pkl *p, const int64_t *v, int n);

/* PyTorch's storage class name for dtype ("FloatStorage", "HalfStorage", ...), NULL if none. */
const char *kt_pkl_torch_storage(kt_dtype dtype);

/* The call torch.save emits for a contiguous tensor whose bytes live in storage key
 * (the entry data/<key>): torch._utils._rebuild_tensor_v2(
 *   persistent_id(('storage', torch.<Storage>, key, 'cpu', numel)), 0, shape, stride,
 *   False, collections.OrderedDict()). The value is left on the stack. t's own strides
 * are ignored (the data is written contiguously); EUNSUPPORTED for a dtype torch lacks. */
kt_status kt_pkl_torch_tensor(kt_pkl *p, const kt_tensor *t, const char *key, kt_error *err);

/* collections.OrderedDict() on the stack (call it, then MARK, pairs, SETITEMS). */
void kt_pkl_ordered_dict(kt_pkl *p);

#endif
