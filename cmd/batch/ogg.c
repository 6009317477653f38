/* ogg.c - a fixed Ogg stream serial number, so that the same samples give the same .ogg bytes.
 *
 * libsndfile gives each Ogg stream a random serial number (RFC 3533 section 6: any 32-bit value
 * unique within the physical stream). Every page header carries it at byte 14, and the page's
 * CRC (byte 22; polynomial 0x04c11db7, initial value 0, no reflection, computed over the page
 * with the CRC field zeroed) covers it, so both are rewritten page by page. */
#include <stdlib.h>
#include <string.h>

#include "batch.h"

static uint32_t crc_update(uint32_t crc, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint32_t)p[i] << 24;
        for (int b = 0; b < 8; b++)
            crc = crc & 0x80000000u ? (crc << 1) ^ 0x04c11db7u : crc << 1;
    }
    return crc;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

int batch_ogg_set_serial(unsigned char *buf, size_t n, uint32_t serial)
{
    size_t pos = 0;
    if (n == 0)
        return -1;
    while (pos < n) {
        if (n - pos < 27 || memcmp(buf + pos, "OggS", 4) || buf[pos + 4] != 0)
            return -1;
        size_t nseg = buf[pos + 26], len = 27 + nseg;
        if (n - pos < len)
            return -1;
        for (size_t i = 0; i < nseg; i++)
            len += buf[pos + 27 + i];
        if (n - pos < len)
            return -1;
        unsigned char *page = buf + pos;
        put_le32(page + 14, serial);
        put_le32(page + 22, 0);
        put_le32(page + 22, crc_update(0, page, len));
        pos += len;
    }
    return 0;
}
