#!/bin/sh
# make fuzz [FUZZ_SECONDS=60]: builds every tests/fuzz/fuzz_*.c with clang's libFuzzer + ASan + UBSan
# and runs each for FUZZ_SECONDS with a seed corpus from fixtures/. Crashes land in build-fuzz/crashes/.
set -e
SECONDS_EACH=${1:-60}
OUT=build-fuzz
mkdir -p "$OUT/crashes"
CFLAGS="-std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_DEFAULT_SOURCE \
 -D_FILE_OFFSET_BITS=64 -Ilibkt/include -Iformats/include $(pkg-config --cflags zlib libcjson sndfile openblas espeak-ng)"
LIBS="$(pkg-config --libs zlib libcjson sndfile openblas espeak-ng) -lm -lpthread"
SRC=$(ls libkt/*.c formats/*.c)
status=0
for t in tests/fuzz/fuzz_*.c; do
    name=$(basename "$t" .c)
    clang $CFLAGS -o "$OUT/$name" "$t" $SRC $LIBS
    corpus="$OUT/corpus-$name"
    mkdir -p "$corpus"
    case "$name" in
    fuzz_config) cp fixtures/tiny/config.json "$corpus/" 2>/dev/null || true ;;
    *) find fixtures -type f -size -2M \( -name '*.pt' -o -name '*.pth' -o -name '*.npy' -o -name '*.npz' \
           -o -name '*.safetensors' -o -name '*.bin' -o -name '*.pkl' \) -exec cp {} "$corpus/" \; 2>/dev/null || true ;;
    esac
    [ -d "fixtures/fuzz/$name" ] && cp fixtures/fuzz/$name/* "$corpus/" 2>/dev/null
    echo "== $name for ${SECONDS_EACH}s"
    if ! "$OUT/$name" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -artifact_prefix="$OUT/crashes/$name-" \
        -print_final_stats=1 "$corpus" 2>"$OUT/$name.log"; then
        status=1
        tail -40 "$OUT/$name.log"
    fi
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$OUT/$name.log" | sed "s/^/$name /"
done
exit $status
