/* pth_write.c - torch.save's zip layout: <folder>/data.pkl, byteorder, data/N, version.
 *
 * The pickle is protocol 2 with only what torch.load(weights_only=True) allows:
 * _rebuild_tensor_v2 over typed storages and collections.OrderedDict. One storage
 * per tensor, written contiguously, numbered in pickle order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt/formats.h"
#include "kt/io.h"
#include "kt/pickle_write.h"
#include "kt/zip.h"

#define PTH_ALIGN 64

/* Length of the group prefix of name for nest 2 (up to the first '.'), or 0 if it has none. */
static size_t group_len(const char *name)
{
    const char *dot = strchr(name, '.');
    return dot ? (size_t)(dot - name) : 0;
}

static kt_status check_names(const kt_tensor_list *l, int nest, kt_error *err)
{
    if (nest == 0 && l->count != 1)
        return kt_error_set(err, KT_EINVAL, "a bare-tensor .pth holds exactly one tensor, not %zu", l->count);
    for (size_t i = 0; nest > 0 && i < l->count; i++) {
        const char *name = l->items[i].name;
        if ((size_t)kt_tensor_list_find(l, name) != i)
            return kt_error_set(err, KT_EINVAL, "tensor name '%s' appears twice", name);
        size_t g = group_len(name);
        if (nest == 2 && (g == 0 || name[g + 1] == '\0'))
            return kt_error_set(err, KT_EINVAL, "tensor name '%s' has no '.' to split into group and key", name);
    }
    if (nest < 0 || nest > 2)
        return kt_error_set(err, KT_EINVAL, "nest must be 0, 1 or 2, not %d", nest);
    return KT_OK;
}

/* order[k] = index of the k-th tensor in pickle order: file order, grouped by prefix for nest 2. */
static kt_status make_order(const kt_tensor_list *l, int nest, size_t **out, kt_error *err)
{
    size_t *order = malloc((l->count ? l->count : 1) * sizeof *order);
    unsigned char *done = calloc(l->count ? l->count : 1, 1);
    size_t k = 0;
    if (!order || !done) {
        free(order);
        free(done);
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < l->count; i++) {
        if (done[i])
            continue;
        const char *a = l->items[i].name;
        size_t g = group_len(a);
        for (size_t j = i; j < l->count; j++) {
            const char *b = l->items[j].name;
            int same = nest == 2 ? (group_len(b) == g && memcmp(a, b, g) == 0) : j == i;
            if (same && !done[j]) {
                done[j] = 1;
                order[k++] = j;
            }
        }
    }
    free(done);
    *out = order;
    return KT_OK;
}

static kt_status pickle_tensor(kt_pkl *p, const kt_tensor_list *l, size_t idx, size_t key, kt_error *err)
{
    char skey[32];
    snprintf(skey, sizeof skey, "%zu", key);
    kt_status st = kt_pkl_torch_tensor(p, &l->items[idx].tensor, skey, err);
    if (st)
        kt_error_prefix(err, l->items[idx].name[0] ? l->items[idx].name : "tensor");
    return st;
}

/* Emits the group's name and an OrderedDict of its tensors order[*k .. end of group). */
static kt_status pickle_group(kt_pkl *p, const kt_tensor_list *l, const size_t *order, size_t *k,
                              kt_error *err)
{
    const char *first = l->items[order[*k]].name;
    size_t g = group_len(first);
    char *gname = strndup(first, g);
    if (!gname)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    kt_pkl_str(p, gname);
    free(gname);
    kt_pkl_ordered_dict(p);
    kt_pkl_op(p, '(');
    while (*k < l->count) {
        const char *name = l->items[order[*k]].name;
        if (group_len(name) != g || memcmp(name, first, g) != 0)
            break;
        kt_pkl_str(p, name + g + 1);
        kt_status st = pickle_tensor(p, l, order[*k], *k, err);
        if (st)
            return st;
        (*k)++;
    }
    kt_pkl_op(p, 'u');
    return KT_OK;
}

static kt_status build_pickle(kt_pkl *p, const kt_tensor_list *l, int nest, const size_t *order, kt_error *err)
{
    kt_status st = KT_OK;
    kt_pkl_proto(p, 2);
    if (nest == 0) {
        st = pickle_tensor(p, l, 0, 0, err);
    } else {
        kt_pkl_ordered_dict(p);
        kt_pkl_op(p, '(');
        for (size_t k = 0; k < l->count && !st;) {
            if (nest == 2) {
                st = pickle_group(p, l, order, &k, err);
            } else {
                kt_pkl_str(p, l->items[order[k]].name);
                st = pickle_tensor(p, l, order[k], k, err);
                k++;
            }
        }
        kt_pkl_op(p, 'u');
    }
    kt_pkl_op(p, '.');
    return st ? st : kt_pkl_check(p, err);
}

static kt_status add_entry(kt_zip_writer *w, const char *folder, const char *leaf, const void *data, uint64_t len,
                           kt_error *err)
{
    size_t n = strlen(folder) + strlen(leaf) + 2;
    char *name = malloc(n);
    if (!name)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    snprintf(name, n, "%s/%s", folder, leaf);
    kt_status st = kt_zip_writer_add(w, name, data, len, err);
    free(name);
    return st;
}

static kt_status add_storage(kt_zip_writer *w, const char *folder, size_t key, const kt_tensor *t, kt_error *err)
{
    char leaf[40];
    kt_tensor tmp = {0};
    const kt_tensor *src = t;
    kt_status st;
    snprintf(leaf, sizeof leaf, "data/%zu", key);
    if (!kt_tensor_is_contiguous(t)) {
        st = kt_tensor_copy_contiguous(t, &tmp, err);
        if (st)
            return st;
        src = &tmp;
    }
    st = add_entry(w, folder, leaf, src->data, kt_tensor_nbytes(src), err);
    kt_tensor_release(&tmp);
    return st;
}

static kt_status write_archive(kt_zip_writer *w, const char *folder, const kt_pkl *p, const kt_tensor_list *l,
                               const size_t *order, kt_error *err)
{
    kt_status st = add_entry(w, folder, "data.pkl", p->buf, p->len, err);
    if (!st)
        st = add_entry(w, folder, "byteorder", "little", 6, err);
    for (size_t k = 0; k < l->count && !st; k++)
        st = add_storage(w, folder, k, &l->items[order[k]].tensor, err);
    if (!st)
        st = add_entry(w, folder, "version", "3\n", 2, err);
    return st;
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

kt_status kt_pth_write(const char *path, const kt_tensor_list *l, int nest, const char *folder, kt_error *err)
{
    kt_pkl p;
    kt_atomic_file af;
    kt_zip_writer *w = NULL;
    size_t *order = NULL;
    int opened = 0;
    kt_status st;
    folder = folder ? folder : "archive";
    kt_pkl_init(&p);
    if (!host_is_little_endian())
        return kt_error_set(err, KT_EUNSUPPORTED, "writing .pth needs a little-endian host");
    if (!folder[0] || strchr(folder, '/') || strchr(folder, '\\'))
        return kt_error_set(err, KT_EINVAL, "bad archive folder name '%s'", folder);
    st = check_names(l, nest, err);
    if (!st)
        st = make_order(l, nest, &order, err);
    if (!st)
        st = build_pickle(&p, l, nest, order, err);
    if (!st)
        st = kt_atomic_open(&af, path, err);
    opened = st == KT_OK;
    if (!st)
        st = kt_zip_writer_create(&af, PTH_ALIGN, &w, err);
    if (!st)
        st = write_archive(w, folder, &p, l, order, err);
    if (!st) {
        st = kt_zip_writer_finish(w, err);
        w = NULL;
    }
    if (st)
        goto fail;
    st = kt_atomic_commit(&af, err);
    opened = 0;
    if (st)
        goto fail;
    free(order);
    kt_pkl_free(&p);
    return KT_OK;
fail:
    kt_zip_writer_free(w);
    if (opened)
        kt_atomic_abort(&af);
    free(order);
    kt_pkl_free(&p);
    return st;
}
