/* kt/sha256.h - SHA-256 (FIPS 180-4) of bytes and of files, for manifests and checks. */
#ifndef KT_SHA256_H
#define KT_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "kt/error.h"

#define KT_SHA256_HEX 65 /* 64 lowercase hex digits and a NUL */

typedef struct {
    uint32_t h[8];
    uint64_t len;          /* bytes hashed so far */
    unsigned char buf[64]; /* pending partial block */
    size_t fill;
} kt_sha256;

void kt_sha256_init(kt_sha256 *s);
void kt_sha256_update(kt_sha256 *s, const void *data, size_t n);
/* Writes the 32-byte digest; s must be initialized again before reuse. */
void kt_sha256_final(kt_sha256 *s, unsigned char digest[32]);

/* Lowercase hex of the digest of n bytes. */
void kt_sha256_hex(const void *data, size_t n, char hex[KT_SHA256_HEX]);

/* Lowercase hex of the digest of a whole file and its size in *size (may be NULL).
 * Errors: KT_EIO when the file cannot be opened or read (the message includes strerror). */
kt_status kt_sha256_file(const char *path, char hex[KT_SHA256_HEX], uint64_t *size, kt_error *err);

#endif
