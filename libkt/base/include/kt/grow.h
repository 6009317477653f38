/* kt/grow.h - room in a growable array. */
#ifndef KT_GROW_H
#define KT_GROW_H

#include <stddef.h>

/* Makes *items (an array of *cap elements of size bytes, realloc'd; NULL with *cap 0 at first)
 * hold at least need elements, doubling its capacity (at least 16). Returns 0, or -1 when out of
 * memory or the size would overflow; *items and *cap are then unchanged. */
int kt_grow(void **items, size_t *cap, size_t need, size_t size);

#endif
