#!/bin/sh
# kt-convert per dtype (f32 f16 bf16 q8 q4) on the full-size checkpoint: time, RSS, file size;
# and kt-synth on each converted file: RSS, time per audio second, SNR and max abs difference
# against the f32 output (n/a where kt-synth cannot load the dtype yet). Figures only.
#   env: BENCH_DTYPES=f32,f16,bf16,q8,q4  BENCH_CONVERT_THREADS=N (kt-synth --threads; default all)
#        BENCH_CONVERT_INPUT=short|paragraph|long (the bench_synth input synthesized; default short)
BUILD=${1:-build}
. bench/common.sh
"$PY" bench/convert.py --build "$BUILD" --model "$MODEL" --config "$CONFIG" --voice "$VOICE" \
    --out "$BUILD/bench/convert" --dtypes "${BENCH_DTYPES:-f32,f16,bf16,q8,q4}" \
    --threads "${BENCH_CONVERT_THREADS:-$(nproc)}" --input "${BENCH_CONVERT_INPUT:-short}"
