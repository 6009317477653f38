#!/bin/sh
# kt-synth --batch against one kt-synth process per line: 200 distinct short lines (1-4 words) with
# the full-size random-weight model. BENCH_BATCH_LINES (200) lines; BENCH_BATCH_SEPARATE (50) of them
# are run as separate processes and their wall time extrapolated (set it to the line count to run
# every line); with BENCH_BF16 not off and a CPU with AVX512_BF16 the comparison follows with
# --bf16 on both sides. Figures only, never pass/fail.
BUILD=${1:-build}
. bench/common.sh
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (other programs on the cores lower every figure below)"
BF16=
[ "${BENCH_BF16:-auto}" != off ] && grep -q avx512_bf16 /proc/cpuinfo && BF16=--bf16
"$PY" bench/batch.py --build "$BUILD" --model "$MODEL" --config "$CONFIG" --voice "$VOICE" \
    --lines "${BENCH_BATCH_LINES:-200}" --separate "${BENCH_BATCH_SEPARATE:-50}" $BF16 --work "$BUILD/bench/batch"
