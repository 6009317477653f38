/* fuzz_safetensors.c - libFuzzer target: the safetensors reader (JSON header, offsets, dtypes). */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kt_read_result r = {0};
    kt_error err;
    if (kt_safetensors_read(data, size, &r, &err) == KT_OK)
        fuzz_touch_and_free(&r);
    else
        kt_read_result_free(&r);
    return 0;
}
