/* fuzz_config.c - libFuzzer target: config.json parsing. */
#include <stddef.h>
#include <stdint.h>

#include "kt/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kt_config c = {0};
    kt_error err;
    if (kt_config_parse((const char *)data, size, &c, &err) == KT_OK)
        (void)kt_config_vocab_id(&c, 'a');
    kt_config_free(&c);
    return 0;
}
