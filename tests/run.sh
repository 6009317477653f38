#!/bin/sh
# Runs the whole suite from the repository root: every CMocka binary in $BUILD/tests,
# then every tests/check_*.py cross-check (PyTorch/numpy). Prints "N passed, N failed".
BUILD=${1:-build}
export KT_BUILD="$BUILD"
export KT_FIXTURES="${KT_FIXTURES:-$BUILD/fixtures}"
export KT_SHARED="${KT_SHARED:-../shared}"
export PYTHON="${PYTHON:-/usr/bin/python3}"
pass=0
fail=0
failed=""
# the environment a failure depends on, printed with the command that reproduces it
envline="OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-} KT_ISA=${KT_ISA:-} CPUs=$(nproc 2>/dev/null)"
repro() { echo "  reproduce: KT_BUILD=$BUILD KT_FIXTURES=$KT_FIXTURES KT_SHARED=$KT_SHARED $1   [$envline]"; }
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    if "$t" > "$BUILD/tests/$name.log" 2>&1; then
        pass=$((pass + 1)); echo "PASS $name"
    else
        fail=$((fail + 1)); failed="$failed $name"; echo "FAIL $name"; tail -30 "$BUILD/tests/$name.log"
        repro "$t"
    fi
done
for s in tests/check_*.py; do
    [ -f "$s" ] || continue
    name=$(basename "$s" .py)
    mkdir -p "$BUILD/tests"
    if "$PYTHON" "$s" > "$BUILD/tests/$name.log" 2>&1; then
        pass=$((pass + 1)); echo "PASS $name"
    else
        fail=$((fail + 1)); failed="$failed $name"; echo "FAIL $name"; tail -30 "$BUILD/tests/$name.log"
        repro "$PYTHON $s"
    fi
done
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
