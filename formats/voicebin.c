/* voicebin.c - raw little-endian float32 voice packs (sherpa-onnx voices.bin holds
 * n x 510 x 256, a kokoro.js .bin file holds one pack). There is no header, so
 * the reader requires the size to be a whole number of packs and names them
 * "0", "1", ... with Kokoro's pack shape [510, 1, 256]. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt/formats.h"
#include "kt/tensor_emit.h"

#define PACK_ROWS 510
#define PACK_DIM 256
#define PACK_FLOATS ((uint64_t)PACK_ROWS * PACK_DIM)
#define PACK_BYTES (PACK_FLOATS * 4)

static kt_status add_pack(kt_read_result *out, const unsigned char *p, uint64_t index, kt_error *err)
{
    static const int64_t shape[3] = {PACK_ROWS, 1, PACK_DIM};
    kt_tensor t;
    char name[32];
    kt_status st;
    snprintf(name, sizeof name, "%" PRIu64, index);
    if ((uintptr_t)p % 4 == 0) {
        memset(&t, 0, sizeof t);
        t.dtype = KT_F32;
        t.ndim = 3;
        memcpy(t.shape, shape, sizeof shape);
        t.stride[0] = PACK_DIM;
        t.stride[1] = PACK_DIM;
        t.stride[2] = 1;
        t.data = p;
    } else {
        st = kt_tensor_alloc(&t, KT_F32, 3, shape, err);
        if (st)
            return st;
        memcpy(t.owned, p, PACK_BYTES);
    }
    st = kt_tensor_list_add(&out->tensors, name, &t, err);
    if (st)
        kt_tensor_release(&t);
    return st;
}

kt_status kt_voicebin_read(const unsigned char *data, uint64_t size, kt_read_result *out, kt_error *err)
{
    kt_status st = KT_OK;
    if (size == 0 || size % PACK_BYTES != 0)
        return kt_error_set(err, KT_EFORMAT,
                            "%" PRIu64 " bytes is not a whole number of 510x256 float32 voice packs (%" PRIu64
                            " bytes each)",
                            size, PACK_BYTES);
    for (uint64_t i = 0; i < size / PACK_BYTES && !st; i++)
        st = add_pack(out, data + i * PACK_BYTES, i, err);
    if (st)
        kt_read_result_free(out);
    return st;
}

/* Sends one pack as float32, converting other dtypes through a bounded buffer. */
static kt_status write_pack(kt_atomic_file *af, const kt_tensor *t, float *buf, kt_error *err)
{
    if (t->dtype == KT_F32)
        return kt_tensor_emit(t, kt_sink_atomic, af, err);
    kt_status st = kt_tensor_to_f32(t, buf, err);
    if (!st)
        st = kt_atomic_write(af, buf, PACK_BYTES, err);
    return st;
}

static kt_status check_pack(const kt_named_tensor *nt, kt_error *err)
{
    const kt_tensor *t = &nt->tensor;
    if (kt_dtype_size(t->dtype) == 0 || t->ndim < 0 || t->ndim > KT_MAX_DIMS)
        return kt_error_set(err, KT_EINVAL, "tensor \"%.200s\" is invalid", nt->name);
    if (t->dtype != KT_F32 && t->dtype != KT_F16 && t->dtype != KT_BF16 && t->dtype != KT_F64)
        return kt_error_set(err, KT_EINVAL, "tensor \"%.200s\" is %s, a voice pack is floating point", nt->name,
                            kt_dtype_name(t->dtype));
    if ((uint64_t)kt_tensor_numel(t) != PACK_FLOATS)
        return kt_error_set(err, KT_EINVAL,
                            "tensor \"%.200s\" has %" PRId64 " elements, a voice pack has 510x256 = %" PRIu64,
                            nt->name, kt_tensor_numel(t), PACK_FLOATS);
    return KT_OK;
}

kt_status kt_voicebin_write(const char *path, const kt_tensor_list *l, kt_error *err)
{
    kt_atomic_file af;
    float *buf = NULL;
    kt_status st = KT_OK;
    if (l->count == 0)
        return kt_error_set(err, KT_EINVAL, "no voice packs to write");
    for (size_t i = 0; i < l->count && !st; i++)
        st = check_pack(&l->items[i], err);
    if (st)
        return st;
    buf = malloc(PACK_BYTES);
    if (!buf)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    st = kt_atomic_open(&af, path, err);
    if (st)
        goto done;
    for (size_t i = 0; i < l->count && !st; i++)
        st = write_pack(&af, &l->items[i].tensor, buf, err);
    if (st)
        kt_atomic_abort(&af);
    else
        st = kt_atomic_commit(&af, err);
done:
    free(buf);
    return st;
}
