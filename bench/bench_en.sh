#!/bin/sh
# English G2P: agreement with misaki's own output (tests/en fixtures, see tests/en/README.md),
# speed of kt-synth --print-phonemes on a 5 MB text (one thread; espeak-ng reads the words
# the lexicon does not know) and its peak memory.
BUILD=${1:-build}
if [ -x "$BUILD/tests/test_en" ]; then
    "$BUILD/tests/test_en" 2>&1 | grep -E "identical|read as misaki|lexicon open|MB in"
else
    echo "bench_en: $BUILD/tests/test_en not built (make tests-build); agreement skipped"
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
for lang in en-us en-gb; do
    : > "$tmp/text"
    while [ "$(wc -c < "$tmp/text")" -lt 5000000 ]; do
        cat tests/en/sentences.txt tests/en/sentences.txt tests/en/sentences.txt tests/en/sentences.txt >> "$tmp/text"
    done
    bytes=$(wc -c < "$tmp/text")
    /usr/bin/time -f "%U %S %e %M" -o "$tmp/t" "$BUILD/kt-synth" --print-phonemes --lang "$lang" -f "$tmp/text" \
        > "$tmp/out" || exit 1
    read -r user sys wall rss < "$tmp/t"
    awk -v b="$bytes" -v u="$user" -v s="$sys" -v w="$wall" -v r="$rss" -v l="$lang" -v n="$(wc -l < "$tmp/out")" \
        'BEGIN { printf "%s G2P (kt-synth --print-phonemes, one thread): %.1f MB of text, %.2f s CPU = %.2f MB/s (wall %.2f s on a shared machine), %d lines out, peak RSS %.1f MB\n", l, b / 1e6, u + s, b / 1e6 / (u + s), w, n, r / 1024 }'
done
