#!/bin/sh
# kt-synth --batch against one kt-synth process per line: BENCH_BATCH_LINES short lines (default 200)
# with the full-size random-weight model. Figures only, never pass/fail.
BUILD=${1:-build}
. bench/common.sh
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (other programs on the cores lower every figure below)"
"$PY" bench/batch.py --build "$BUILD" --model "$MODEL" --config "$CONFIG" --voice "$VOICE" \
    --lines "${BENCH_BATCH_LINES:-200}" --work "$BUILD/bench/batch"
