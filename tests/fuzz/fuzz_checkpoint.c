/* fuzz_checkpoint.c - libFuzzer target: any bytes through format detection and every reader. */
#include <stddef.h>
#include <stdint.h>

#include "kt/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kt_checkpoint *c = NULL;
    kt_error err;
    if (kt_checkpoint_open_memory(data, size, &c, &err) == KT_OK) {
        const kt_tensor_list *l = kt_checkpoint_tensors(c);
        volatile double sink = 0;
        for (size_t i = 0; i < l->count; i++) { /* touch the first and last element of each tensor */
            int64_t n = kt_tensor_numel(&l->items[i].tensor);
            if (n > 0)
                sink += kt_tensor_get_f64(&l->items[i].tensor, 0) + kt_tensor_get_f64(&l->items[i].tensor, n - 1);
        }
        (void)sink;
    }
    kt_checkpoint_free(c);
    return 0;
}
