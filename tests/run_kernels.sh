#!/bin/sh
# make test-kernels: the checks whose numbers go through OpenBLAS or kt's kernels and threads,
# under every OpenBLAS kernel this CPU can execute (the environment's own, Haswell, Zen,
# SkylakeX) and on 1 and 2 CPUs (taskset: kt's threads and torch's follow the affinity mask).
# Every failure prints the command and environment that reproduce it. Ends with
# "N passed, N failed". The environment's own OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are never
# changed for the rest of the suite: each kernel is set for its own runs only.
BUILD=${1:-build}
export KT_BUILD="$BUILD"
export KT_FIXTURES="${KT_FIXTURES:-$BUILD/fixtures}"
export KT_SHARED="${KT_SHARED:-../shared}"
export PYTHON="${PYTHON:-/usr/bin/python3}"
C_TESTS="test_kokoro test_threads test_lowmem test_dtypes test_pack_i4 test_pack_i8q test_pack_bf16t"
PY_CHECKS="check_reference check_synth"

flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
has() { for f in "$@"; do case " $flags " in *" $f "*) ;; *) return 1 ;; esac; done; }
kernels="env"
has avx2 fma && kernels="$kernels Haswell Zen"
has avx512f avx512bw avx512vl avx512dq && kernels="$kernels SkylakeX"
ncpu=$(nproc 2>/dev/null || echo 1)
cpus="0"
[ "$ncpu" -ge 2 ] && cpus="0 0,1"
command -v taskset > /dev/null 2>&1 || cpus="all"

pass=0
fail=0
failed=""
mkdir -p "$BUILD/tests/kernels"
for k in $kernels; do
    for c in $cpus; do
        if [ "$k" = env ]; then kset=""; klabel="env:${OPENBLAS_CORETYPE:-unset}"; else kset="OPENBLAS_CORETYPE=$k"; klabel=$k; fi
        if [ "$c" = all ]; then pin=""; clabel="all CPUs"; else pin="taskset -c $c"; clabel="CPUs $c"; fi
        for t in $C_TESTS $PY_CHECKS; do
            case "$t" in
                check_*) cmd="$PYTHON tests/$t.py" ;;
                *) cmd="$BUILD/tests/$t" ;;
            esac
            log="$BUILD/tests/kernels/$t-$klabel-$c.log"
            if env $kset $pin $cmd > "$log" 2>&1; then
                pass=$((pass + 1)); echo "PASS $t [$klabel, $clabel]"
            else
                fail=$((fail + 1)); failed="$failed $t[$klabel,$clabel]"
                echo "FAIL $t [$klabel, $clabel]"; tail -20 "$log"
                echo "  reproduce: $kset KT_BUILD=$BUILD KT_FIXTURES=$KT_FIXTURES $pin $cmd"
            fi
        done
    done
done
[ -n "$failed" ] && echo "failed:$failed"
echo "kernels: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
