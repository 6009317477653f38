/* fuzz_pickle.c - libFuzzer target: any bytes through the restricted unpickler, then every accessor. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "kt/pickle.h"

/* Binds every storage to a zeroed buffer when it is small enough (else it stays unbound). */
static kt_status bind_zeros(void *ctx, kt_value *s, kt_error *err)
{
    kt_storage_info info;
    (void)ctx;
    kt_status st = kt_value_storage(s, &info, err);
    uint64_t n = (uint64_t)info.numel * kt_dtype_size(info.dtype);
    if (st || n > ((uint64_t)1 << 20))
        return st;
    void *buf = calloc(1, n ? (size_t)n : 1);
    return buf ? kt_value_storage_bind(s, buf, n, buf, err) : KT_OK;
}

/* Visits every value through the public accessors. */
static double walk(const kt_value *v)
{
    double acc = 0;
    size_t len = 0;
    kt_tensor t;
    switch (kt_value_kind(v)) {
    case KT_V_DICT:
        for (size_t i = 0; i < kt_value_len(v); i++)
            acc += walk(kt_value_dict_key(v, i)) + walk(kt_value_dict_value(v, i));
        if (kt_value_dict_state(v))
            acc += walk(kt_value_dict_state(v));
        break;
    case KT_V_LIST:
    case KT_V_TUPLE:
    case KT_V_SET:
        for (size_t i = 0; i < kt_value_len(v); i++)
            acc += walk(kt_value_item(v, i));
        break;
    case KT_V_TENSOR:
        if (kt_value_tensor(v, &t, NULL) == KT_OK && t.data && kt_tensor_numel(&t) > 0)
            acc += kt_tensor_get_f64(&t, kt_tensor_numel(&t) - 1);
        break;
    case KT_V_STR:
    case KT_V_BYTES: acc += (double)(kt_value_str(v, &len) ? len : 0); break;
    default: acc += kt_value_float(v) + (double)kt_value_int(v); break;
    }
    return acc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kt_value *root = NULL;
    kt_error err;
    kt_pickle_options opt = {NULL, bind_zeros, NULL};
    if (kt_pickle_parse(data, size, &opt, &root, NULL, &err) == KT_OK) {
        volatile double sink = walk(root);
        kt_tensor_list l = {0};
        if (kt_value_flatten(root, &l, &err) == KT_OK)
            for (size_t i = 0; i < l.count; i++)
                if (kt_tensor_numel(&l.items[i].tensor) > 0)
                    sink += kt_tensor_get_f64(&l.items[i].tensor, 0);
        (void)sink;
        kt_tensor_list_free(&l);
    }
    kt_value_free(root);
    return 0;
}
