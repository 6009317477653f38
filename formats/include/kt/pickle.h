/* kt/pickle.h - a restricted unpickler for torch.save files that never executes anything.
 *
 * kt_pickle_parse reads one pickle (protocols 0-5) from memory and builds a
 * tree of kt_value. Only an allowlist of globals is recognised (torch's tensor
 * and parameter rebuild functions, collections.OrderedDict, the torch.*Storage
 * classes, torch dtypes, torch.Size, _codecs.encode); anything else is a
 * KT_EUNSAFE error naming it ("pickle: forbidden global os.system"). REDUCE,
 * BUILD and NEWOBJ are interpreted for the allowed globals only: a tensor
 * rebuild becomes a TENSOR value, OrderedDict() an ordered DICT, and so on.
 *
 * Persistent ids of the form ('storage', torch.XStorage, key, location, numel
 * [, view_metadata]) become STORAGE values (one per key; a second reference to
 * the same key yields the same value). Their bytes are bound by the caller
 * (kt_value_storage_bind), from the on_storage callback or later. A TENSOR
 * borrows from its storage's bytes; its shape, strides and offset are checked
 * against the storage's element count when it is rebuilt.
 *
 * Every value of one parse lives in one arena: the tree may share values (the
 * memo) and kt_value_free(root) releases all of them at once. Cycles are
 * rejected, so every walk over the tree terminates. */
#ifndef KT_PICKLE_H
#define KT_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "kt/error.h"
#include "kt/formats.h"
#include "kt/tensor.h"

typedef enum {
    KT_V_NONE = 0,
    KT_V_BOOL,
    KT_V_INT,     /* int64 (LONG/LONG1/LONG4 of up to 8 bytes) */
    KT_V_FLOAT,   /* double */
    KT_V_STR,     /* UTF-8 with a length (NUL-terminated too) */
    KT_V_BYTES,
    KT_V_LIST,
    KT_V_TUPLE,
    KT_V_SET,     /* set or frozenset, items in pickle order */
    KT_V_DICT,    /* ordered by insertion; keys of any kind */
    KT_V_TENSOR,
    KT_V_STORAGE,
    KT_V_GLOBAL   /* an allowed class or function; only ever an intermediate */
} kt_vkind;

typedef struct kt_value kt_value;

/* Safety limits of one parse; exceeding any is a KT_ELIMIT error. */
typedef struct {
    size_t max_depth;   /* container nesting depth of the finished tree and open MARKs */
    size_t max_stack;   /* values on the stack */
    size_t max_memo;    /* highest memo index + 1 */
    size_t max_tensors; /* TENSOR values built */
    size_t max_values;  /* values allocated in total */
    size_t max_bytes;   /* bytes the parse may allocate (values, strings, containers, stack; not the
                           memo table); 0: 8 MiB + 2 x the pickle's size */
} kt_pickle_limits;

/* Fills l with the defaults (depth 64, stack 2^20, memo 2^20, tensors 2^20, values 2^22,
 * bytes 0: 8 MiB + 2 x the pickle's size). */
void kt_pickle_default_limits(kt_pickle_limits *l);

/* Called once per distinct storage key when its persistent id is loaded; may
 * bind the bytes at once (kt_value_storage_bind). A non-OK status aborts the parse. */
typedef kt_status (*kt_storage_fn)(void *ctx, kt_value *storage, kt_error *err);

typedef struct {
    const kt_pickle_limits *limits; /* NULL: defaults */
    kt_storage_fn on_storage;       /* NULL: storages stay unbound until the caller binds them */
    void *ctx;
} kt_pickle_options;

/* Parses the pickle starting at data (at most size bytes) up to its STOP.
 * On success *out is the root (free with kt_value_free) and *consumed (if
 * non-NULL) the bytes read including STOP. opt may be NULL. On error *out is
 * NULL and err holds a one-line "pickle: ..." message. */
kt_status kt_pickle_parse(const unsigned char *data, size_t size, const kt_pickle_options *opt,
                          kt_value **out, size_t *consumed, kt_error *err);

/* kt_value_free (declared in kt/formats.h) frees every value of the parse that
 * produced v; call it once, on the root. */

/* Kind of v, and its short name ("none", "bool", "int", ..., "storage"). */
kt_vkind kt_value_kind(const kt_value *v);
const char *kt_vkind_name(kt_vkind k);

/* Scalars: the value for BOOL (0/1), INT, FLOAT (an INT is converted; else 0). */
int kt_value_bool(const kt_value *v);
int64_t kt_value_int(const kt_value *v);
double kt_value_float(const kt_value *v);

/* STR or BYTES: pointer to the bytes (NUL-terminated) and their length in *len
 * (if non-NULL); NULL for other kinds. */
const char *kt_value_str(const kt_value *v, size_t *len);

/* Number of items of a LIST, TUPLE, SET or DICT (pairs); 0 for other kinds. */
size_t kt_value_len(const kt_value *v);

/* The i-th item of a LIST, TUPLE or SET, or NULL when out of range / another kind. */
const kt_value *kt_value_item(const kt_value *v, size_t i);

/* The i-th key / value of a DICT in insertion order, or NULL. */
const kt_value *kt_value_dict_key(const kt_value *v, size_t i);
const kt_value *kt_value_dict_value(const kt_value *v, size_t i);

/* The value under the STR key key (last assignment wins), or NULL. */
const kt_value *kt_value_dict_get(const kt_value *v, const char *key);

/* 1 if the DICT came from collections.OrderedDict, else 0. */
int kt_value_dict_is_ordered(const kt_value *v);

/* The state a BUILD gave a DICT (a state_dict's {"_metadata": ...}), or NULL. */
const kt_value *kt_value_dict_state(const kt_value *v);

/* A storage: element type, persistent-id key and location, element count, and
 * the bound bytes (data NULL until bound; nbytes >= numel * dtype size). */
typedef struct {
    kt_dtype dtype;
    const char *key;
    const char *location;
    int64_t numel;
    const void *data;
    uint64_t nbytes;
} kt_storage_info;

/* Fills *out for a STORAGE value; KT_EINVAL for another kind. */
kt_status kt_value_storage(const kt_value *v, kt_storage_info *out, kt_error *err);

/* Binds the bytes of a STORAGE value: nbytes must be >= numel * dtype size.
 * owned (may be NULL) is a malloc'd buffer the tree frees; on error it is freed too. */
kt_status kt_value_storage_bind(kt_value *v, const void *data, uint64_t nbytes, void *owned, kt_error *err);

/* Every STORAGE value of the parse that produced root, in first-reference order. */
size_t kt_pickle_storage_count(const kt_value *root);
kt_value *kt_pickle_storage_at(const kt_value *root, size_t i);

/* The STORAGE value with persistent-id key key in root's parse, or NULL. */
kt_value *kt_pickle_storage_find(const kt_value *root, const char *key);

/* A TENSOR as a borrowed view (owned NULL; data NULL when empty or the storage
 * is unbound). KT_EINVAL for another kind. */
kt_status kt_value_tensor(const kt_value *v, kt_tensor *out, kt_error *err);

/* The STORAGE a TENSOR views, its element offset, and its requires_grad flag. */
const kt_value *kt_value_tensor_storage(const kt_value *v);
int64_t kt_value_tensor_offset(const kt_value *v);
int kt_value_tensor_requires_grad(const kt_value *v);

/* Appends every TENSOR under root to out in tree order with flat dotted names:
 * dict keys (STR as is, INT/BOOL/NONE/FLOAT in decimal/Python spelling)
 * joined with '.', list/tuple items by index, a bare tensor at the root named "".
 * Tensors borrow (see kt_value_tensor). Errors: an unbound storage, a
 * container as a dict key above a tensor, two tensors with the same name. */
kt_status kt_value_flatten(const kt_value *root, kt_tensor_list *out, kt_error *err);

#endif
