/* fuzz_zip.c - libFuzzer target: the zip reader (central directory, local headers, inflate, CRC). */
#include <stddef.h>
#include <stdint.h>

#include "kt/zip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kt_zip *z = NULL;
    kt_error err;
    if (kt_zip_open(data, size, &z, &err) != KT_OK)
        return 0;
    volatile unsigned sink = 0;
    for (size_t i = 0; i < kt_zip_count(z); i++) {
        const kt_zip_entry *e = kt_zip_entry_at(z, i);
        const unsigned char *p;
        uint64_t n;
        if (kt_zip_find(z, e->name) == NULL)
            __builtin_trap(); /* every listed entry must be found by its name */
        if (kt_zip_read(z, e, (uint64_t)1 << 24, &p, &n, &err) == KT_OK && n > 0)
            sink += p[0] + p[n - 1];
    }
    (void)sink;
    kt_zip_free(z);
    return 0;
}
