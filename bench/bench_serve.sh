#!/bin/sh
# kt-serve over loopback on the full-size random-weight checkpoint: time to the first byte of a
# streamed answer whose first sentence is short (first request, no warm-up request; on
# BENCH_SERVE_TTFB_RUNS (5) fresh servers, with and without --warm-up, their median), then a load of
# BENCH_SERVE_REQUESTS (200) requests BENCH_SERVE_CONCURRENCY (8) at a time: p50/p95 latency and
# throughput; then resident memory and descriptors over BENCH_SERVE_RSS (1000) requests on the tiny
# model. Figures only, never pass/fail.
BUILD=${1:-build}
. bench/common.sh
B="$BUILD/bench"
mkdir -p "$B/serve-voices" || exit 1
ln -sf "$(realpath "$VOICE")" "$B/serve-voices/af_heart.pt" || exit 1
"$PY" bench/serve.py --build "$BUILD" --model "$MODEL" --config "$CONFIG" --voices "$B/serve-voices" \
    --requests "${BENCH_SERVE_REQUESTS:-200}" --concurrency "${BENCH_SERVE_CONCURRENCY:-8}" \
    --rss-requests "${BENCH_SERVE_RSS:-1000}" --ttfb-runs "${BENCH_SERVE_TTFB_RUNS:-5}"
