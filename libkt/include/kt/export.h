/* kt/export.h - the library version and the mark of exported functions.
 *
 * libkt is built with -fvisibility=hidden: only declarations marked KT_API are
 * exported from libkt.so. The soname carries KT_VERSION_MAJOR, which changes
 * when the ABI of these headers changes incompatibly. */
#ifndef KT_EXPORT_H
#define KT_EXPORT_H

#define KT_VERSION_MAJOR 0
#define KT_VERSION_MINOR 1
#define KT_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH, comparable with kt_version_number(). */
#define KT_VERSION_NUMBER (KT_VERSION_MAJOR * 10000 + KT_VERSION_MINOR * 100 + KT_VERSION_PATCH)

#if defined(__GNUC__)
#define KT_API __attribute__((visibility("default")))
#else
#define KT_API
#endif

#endif
