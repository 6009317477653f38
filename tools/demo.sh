#!/bin/sh
# make run: the main job on the project's own bundled fixtures (a tiny random-weight Kokoro with
# the real key layout, and three tiny voices), so it needs no download. Outputs go to $BUILD/demo/.
BUILD=${1:-build}
T=fixtures/tiny
OUT="$BUILD/demo"
set -e
mkdir -p "$OUT"
run() { echo; echo "\$ $*"; "$@"; }
run "$BUILD/kt-inspect" $T/kokoro-tiny.pth --voices $T/voices --config $T/config.json
run "$BUILD/kt-blend" --voices $T/voices af_tiny:0.6 am_tiny:0.4 -o "$OUT/mix.pt" --force
run "$BUILD/kt-synth" -m $T/kokoro-tiny.pth -c $T/config.json --voices $T/voices -v af_tiny \
    -o "$OUT/hello.wav" --durations "$OUT/hello.json" "Hello world. This is kt speaking."
run "$BUILD/kt-synth" -m $T/kokoro-tiny.pth -c $T/config.json -v "$OUT/mix.pt" --phonemes \
    -o "$OUT/mix.flac" "hˈɛloʊ wˈɜːld"
run "$BUILD/kt-convert" $T/kokoro-tiny.pth -o "$OUT/kokoro-tiny-q8.safetensors" --dtype q8 --force
run "$BUILD/kt-inspect" "$OUT/kokoro-tiny-q8.safetensors" --filter 'decoder.module.generator.conv_post*'
echo
echo "demo outputs in $OUT/ (the tiny model has random weights: the audio is noise-like, not speech;"
echo "point kt-synth at the real kokoro-v1_0.pth for speech, see README.md)"
