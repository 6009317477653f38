#!/bin/sh
# make bench: prints figures and ratios (never pass/fail). Runs every bench/bench_*.sh in order.
BUILD=${1:-build}
export KT_BUILD="$BUILD"
export KT_FIXTURES="${KT_FIXTURES:-$BUILD/fixtures}"
export PYTHON="${PYTHON:-/usr/bin/python3}"
mkdir -p "$KT_FIXTURES"
if [ ! -f "$KT_FIXTURES/kokoro-full.pth" ]; then
    echo "bench: generating the full-size random-weight checkpoint" >&2
    "$PYTHON" tests/reference/make_model.py --out "$KT_FIXTURES" --full || exit 1
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for b in bench/bench_*.sh; do
    [ -f "$b" ] || continue
    echo
    echo "== $(basename "$b" .sh)"
    sh "$b" "$BUILD"
done
