/* fuzz_pth.c - libFuzzer target: the torch.save readers (zip layout and legacy) called directly. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kt_read_result r = {0};
    kt_error err;
    if (kt_pth_read(data, size, &r, &err) == KT_OK)
        fuzz_touch_and_free(&r);
    else
        kt_read_result_free(&r);
    kt_read_result r2 = {0};
    if (kt_pth_legacy_read(data, size, &r2, &err) == KT_OK)
        fuzz_touch_and_free(&r2);
    else
        kt_read_result_free(&r2);
    return 0;
}
