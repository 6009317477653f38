#!/usr/bin/env python3
"""Builds kt's English lexicon files from misaki's JSON lexicons.

usage: tools/en_lexicon_build.py DIR OUTDIR
  DIR holds us_gold.json, us_silver.json, gb_gold.json and gb_silver.json
  (misaki/data/ of hexgrad/misaki); OUTDIR receives en_us.ktlex and en_gb.ktlex.

A word of the gold dictionary is stored with gold's pronunciation ('G'),
otherwise with silver's ('S'). The case variants misaki adds to each dictionary
(a lower-case key also answers for its capitalized form and the reverse) are
not stored: the lookup in libkt/text/en_lexicon.c tries them.

File layout (little endian), read in place by libkt/text/en_lexicon.c:
  0  8 bytes  magic "KTLEX\\0\\0\\2"
  8  u32      entry count N
  12 u32      0
  16 u64      offset of the index
  24 u64      offset of the string pool
  32 u64      offset of the buckets
  buckets: 65537 u32; for the two-byte prefix p = 256 * first byte + second
         byte (0 for a one-byte key), the entries with prefix p are the index
         positions buckets[p] .. buckets[p + 1] - 1.
  index: N u32 offsets into the pool, sorted by the key's bytes; at each
         offset the key, a NUL byte, the value, a NUL byte.
  value: 'G' or 'S', then either the phonemes, or for words read by part of
         speech '|' followed by TAG:phonemes pairs joined by ';' (DEFAULT first;
         '~' stands for "no entry for this tag").
"""
import json
import os
import struct
import sys


def encode(flag, v):
    if isinstance(v, str):
        assert v and not set(v) & set('|;:~'), v
        return flag + v
    tags = ['DEFAULT'] + sorted(t for t in v if t != 'DEFAULT')
    parts = []
    for t in tags:
        ps = v[t]
        assert ps is None or (ps and not set(ps) & set('|;:~')), (t, ps)
        parts.append(t + ':' + ('~' if ps is None else ps))
    return flag + '|' + ';'.join(parts)


def build(gold, silver, out):
    entries = {k: encode('S', v) for k, v in silver.items()}
    entries.update({k: encode('G', v) for k, v in gold.items()})
    keys = sorted(entries, key=lambda k: k.encode())
    pool = bytearray()
    index = bytearray()
    for k in keys:
        assert '\0' not in k and k
        index += struct.pack('<I', len(pool))
        pool += k.encode() + b'\0' + entries[k].encode() + b'\0'

    buckets = [0] * 65537
    prefixes = []
    for k in keys:
        b = k.encode()
        prefixes.append(b[0] * 256 + (b[1] if len(b) > 1 else 0))
    i = 0
    for p in range(65537):
        while i < len(prefixes) and prefixes[i] < p:
            i += 1
        buckets[p] = i
    head = 40
    table = struct.pack('<65537I', *buckets)
    with open(out, 'wb') as f:
        f.write(b'KTLEX\0\0\2' + struct.pack('<IIQQQ', len(keys), 0, head + len(table),
                                                head + len(table) + len(index), head))
        f.write(table)
        f.write(index)
        f.write(pool)
    return len(keys)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    for dialect in ('us', 'gb'):
        with open(os.path.join(src, dialect + '_gold.json'), encoding='utf-8') as f:
            gold = json.load(f)
        with open(os.path.join(src, dialect + '_silver.json'), encoding='utf-8') as f:
            silver = json.load(f)
        out = os.path.join(dst, 'en_%s.ktlex' % dialect)
        n = build(gold, silver, out)
        print('%s: %d entries, %d bytes' % (out, n, os.path.getsize(out)))


if __name__ == '__main__':
    main()
