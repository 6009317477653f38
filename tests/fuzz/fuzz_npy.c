/* fuzz_npy.c - libFuzzer target: the .npy reader and the .npz reader (zip of .npy members). */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kt_read_result r = {0};
    kt_error err;
    if (kt_npy_read(data, size, &r, &err) == KT_OK)
        fuzz_touch_and_free(&r);
    else
        kt_read_result_free(&r);
    kt_read_result r2 = {0};
    if (kt_npz_read(data, size, &r2, &err) == KT_OK)
        fuzz_touch_and_free(&r2);
    else
        kt_read_result_free(&r2);
    return 0;
}
