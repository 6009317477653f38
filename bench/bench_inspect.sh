#!/bin/sh
# Time kt-inspect on the full-size (327 MB) checkpoint: report and listing, best of 5, and peak RSS.
BUILD=${1:-build}
FULL="$KT_FIXTURES/kokoro-full.pth"
SHARED=${KT_SHARED:-../shared}
ms() { date +%s%N; }
best() { # command...
    b=999999
    for i in 1 2 3 4 5; do
        t0=$(ms); "$@" > /dev/null || return 1; t1=$(ms)
        d=$(( (t1 - t0) / 1000000 )); [ "$d" -lt "$b" ] && b=$d
    done
    echo "$b"
}
size=$(stat -c %s "$FULL")
echo "checkpoint: $FULL ($size bytes)"
if [ -d "$SHARED/kokoro/voices" ]; then
    r=$(best "$BUILD/kt-inspect" "$FULL" --voices "$SHARED/kokoro/voices" --config "$SHARED/kokoro/config.json")
    echo "structure report (model + 10 voices + config): best of 5 = $r ms"
fi
r=$(best "$BUILD/kt-inspect" "$FULL" --report)
echo "structure report (model only): best of 5 = $r ms"
r=$(best "$BUILD/kt-inspect" "$FULL")
echo "tensor listing (548 tensors): best of 5 = $r ms"
rss=$( { /usr/bin/time -f '%M' "$BUILD/kt-inspect" "$FULL" --report > /dev/null; } 2>&1 | tail -1)
echo "peak RSS of the model report: ${rss} KiB (mapped file: $((size / 1024)) KiB; only pages touched count)"
