#!/bin/sh
# make run: the main job on the project's own bundled fixtures.
BUILD=${1:-build}
set -e
echo "== kt-inspect fixtures/tiny/kokoro-tiny.pth --voices fixtures/tiny/voices --config fixtures/tiny/config.json"
"$BUILD/kt-inspect" fixtures/tiny/kokoro-tiny.pth --voices fixtures/tiny/voices --config fixtures/tiny/config.json
