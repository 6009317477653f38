/* fuzz_blend.c - libFuzzer target: the blend expression parser and weight normalisation.
 * The input is split at NUL bytes into several argument strings, as kt-blend receives them. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kt/voice.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    const char *args[16];
    size_t nargs = 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    for (size_t i = 0, start = 0; i <= size && nargs < 16; i++)
        if (buf[i] == '\0') {
            args[nargs++] = buf + start;
            start = i + 1;
        }
    kt_blend_expr e = {0};
    kt_error err;
    if (kt_blend_parse(args, nargs, &e, &err) == KT_OK) {
        if (e.count == 0)
            __builtin_trap(); /* success promises at least one term */
        for (size_t i = 0; i < e.count; i++)
            if (!e.terms[i].text || !e.terms[i].source || !isfinite(e.terms[i].weight))
                __builtin_trap();
        if (kt_blend_weights(&e, (int)(size & 1), &err) == KT_OK)
            for (size_t i = 0; i < e.count; i++)
                if (!isfinite(e.terms[i].used))
                    __builtin_trap();
    }
    kt_blend_expr_free(&e);
    free(buf);
    return 0;
}
