#!/bin/sh
# make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="fuzz_zip fuzz_npy"] [FUZZ_JOBS=2]
# Builds libkt once with clang (-fsanitize=fuzzer-no-link,address,undefined), links every
# tests/fuzz/fuzz_*.c (or the FUZZ_TARGETS given) as a libFuzzer binary and runs each for
# FUZZ_SECONDS, FUZZ_JOBS targets at a time, on a seed corpus from fixtures/ (plus
# fixtures/fuzz/<target>/, which also holds the regression inputs of past crashes).
# FUZZ_OUT (default build-fuzz) holds the binaries and corpora; crashes land in $FUZZ_OUT/crashes/.
# A summary line per target gives executions, coverage and peak RSS. Leaks inside libespeak-ng
# are suppressed (tests/fuzz/lsan.supp). Exit 1 when any target found a crash.
set -e
SECONDS_EACH=${1:-60}
JOBS=${FUZZ_JOBS:-2}
OUT=${FUZZ_OUT:-build-fuzz}
PKGS="zlib libcjson sndfile openblas espeak-ng soxr expat"
mkdir -p "$OUT/crashes" "$OUT/obj"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
INCLUDES="-Ilibkt/include -Iformats/include"
for d in libkt/*/include; do INCLUDES="$INCLUDES -I$d"; done # every layer's internal headers
CFLAGS="-std=c11 -g -O1 -fno-omit-frame-pointer $SAN -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 \
 $INCLUDES $(pkg-config --cflags $PKGS)"
LIBS="$(pkg-config --libs $PKGS) $(mecab-config --libs) -lm -lpthread"
export LSAN_OPTIONS="suppressions=$(pwd)/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

# The library, once (objects rebuilt only when their source or a header is newer).
for src in libkt/*/*.c formats/*.c; do
    obj="$OUT/obj/$(echo "$src" | tr / _).o"
    if [ ! -f "$obj" ] || [ -n "$(find "$src" libkt formats/include -newer "$obj" 2>/dev/null | head -1)" ]; then
        echo "$src $obj"
    fi
done | xargs -r -P "$JOBS" -n 2 sh -c 'clang '"$CFLAGS"' -fsanitize=fuzzer-no-link -c "$0" -o "$1"'
rm -f "$OUT/libkt-fuzz.a"
ar rcs "$OUT/libkt-fuzz.a" "$OUT"/obj/*.o

TARGETS=${FUZZ_TARGETS:-$(ls tests/fuzz/fuzz_*.c | sed 's|.*/||; s|\.c$||')}
for name in $TARGETS; do
    clang $CFLAGS -fsanitize=fuzzer -o "$OUT/$name" "tests/fuzz/$name.c" "$OUT/libkt-fuzz.a" $LIBS
done

# Seeds: files from fixtures/ that suit the target, then fixtures/fuzz/<target>/.
seed() {
    corpus="$OUT/corpus-$1"
    mkdir -p "$corpus"
    case "$1" in
    fuzz_config) pat='-name config.json' ;;
    fuzz_pickle) pat='-name *.pkl' ;;
    fuzz_safetensors) pat='-name *.safetensors' ;;
    fuzz_npy) pat='( -name *.npy -o -name *.npz )' ;;
    fuzz_zip) pat='( -name *.pth -o -name *.npz )' ;;
    fuzz_pth) pat='( -name *.pth -o -name *.pt )' ;;
    fuzz_blend|fuzz_g2p|fuzz_chunk|fuzz_markup) pat='-name *.none' ;;
    *) pat='( -name *.pt -o -name *.pth -o -name *.npy -o -name *.npz -o -name *.safetensors -o -name *.bin )' ;;
    esac
    set -f # the patterns go to find unexpanded
    # shellcheck disable=SC2086
    find fixtures -path fixtures/fuzz -prune -o -type f -size -2M $pat -exec cp {} "$corpus/" \; 2>/dev/null || true
    set +f
    if [ -d "fixtures/fuzz/$1" ]; then
        find "fixtures/fuzz/$1" -type f ! -name README.md -exec cp {} "$corpus/" \;
    fi
}

run() {
    name=$1
    echo "== $name for ${SECONDS_EACH}s"
    if ! "$OUT/$name" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=20 \
        -artifact_prefix="$OUT/crashes/$name-" -print_final_stats=1 "$OUT/corpus-$name" >"$OUT/$name.log" 2>&1; then
        echo "FAIL $name: crash input in $OUT/crashes/"
        grep -A30 "ERROR: \|runtime error\|deadly signal" "$OUT/$name.log" | head -40
        return 1
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$name.log")
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$OUT/$name.log")
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$OUT/$name.log" | tail -1)
    echo "ok   $name: $execs executions, $cov, peak RSS ${rss} MB"
}

for name in $TARGETS; do seed "$name"; done
status=0
set -- $TARGETS
while [ $# -gt 0 ]; do
    pids=""
    i=0
    while [ $i -lt "$JOBS" ] && [ $# -gt 0 ]; do
        run "$1" > "$OUT/$1.summary" 2>&1 &
        pids="$pids $!"
        shift
        i=$((i + 1))
    done
    for p in $pids; do wait "$p" || status=1; done
done
for name in $TARGETS; do cat "$OUT/$name.summary"; done
exit $status
