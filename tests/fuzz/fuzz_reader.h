/* fuzz_reader.h - shared by the per-reader libFuzzer targets: touches every tensor a reader returned. */
#ifndef KT_FUZZ_READER_H
#define KT_FUZZ_READER_H

#include "kt/formats.h"

/* Reads the first and last element of every tensor (so ASan sees any view past its bytes), then frees r. */
static void fuzz_touch_and_free(kt_read_result *r)
{
    volatile double sink = 0;
    for (size_t i = 0; i < r->tensors.count; i++) {
        const kt_tensor *t = &r->tensors.items[i].tensor;
        int64_t n = kt_tensor_numel(t);
        if (n > 0 && t->data)
            sink += kt_tensor_get_f64(t, 0) + kt_tensor_get_f64(t, n - 1);
    }
    (void)sink;
    kt_read_result_free(r);
}

#endif
