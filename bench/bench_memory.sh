#!/bin/sh
# Peak RSS of kt-synth on the full-size float32 checkpoint for the longest chunks it makes: one
# chunk of ~506 phonemes without punctuation (~40-52 s of audio on the random-weight model; the
# chunker cannot cut it before 510 phonemes), the same at --speed 0.5 and 0.25 (two and four
# times the audio: kt synthesizes a chunk of more than 45 s in parts, so the peak should not
# grow with it) and the paragraph of bench/synth.py. Prints the
# peak (kt-synth --json peak_rss_bytes and /usr/bin/time's maxrss when present), the audio
# length and the ratios to a 600 MB budget and to the weights file. Figures only, never pass/fail.
#   env: BENCH_MEM_THREADS (default 2)
BUILD=${1:-build}
. bench/common.sh
TH=${BENCH_MEM_THREADS:-2}
TMP=$(mktemp -d) || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM

# the inputs: the long text of bench/synth.py without its punctuation, cut to 506 symbols
"$PY" - "$TMP" <<'EOF' || exit 1
import importlib.util, os, sys
spec = importlib.util.spec_from_file_location("s", os.path.join("bench", "synth.py"))
s = importlib.util.module_from_spec(spec)
spec.loader.exec_module(s)
d = dict(s.INPUTS)
t = d["long"].replace(",", "").replace(".", "")
t = (t + " " + t)[:506].rstrip()
open(os.path.join(sys.argv[1], "nopunct.txt"), "w", encoding="utf-8").write(t)
open(os.path.join(sys.argv[1], "paragraph.txt"), "w", encoding="utf-8").write(d["paragraph"])
EOF

WEIGHTS=$(stat -c %s "$MODEL")
echo "model $MODEL ($WEIGHTS bytes), $TH threads"
echo "input | chunks | audio s | peak RSS MB (--json) | maxrss MB (time) | / 600 MB | / weights"
for run in paragraph:1 nopunct:1 nopunct:0.5 nopunct:0.25; do
    name=${run%%:*} speed=${run#*:}
    label=$name
    [ "$speed" = 1 ] || label="$name --speed $speed"
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f %M -o "$TMP/maxrss" "$BUILD/kt-synth" -m "$MODEL" -c "$CONFIG" -v "$VOICE" --phonemes \
            -f "$TMP/$name.txt" --speed "$speed" --threads "$TH" -o "$TMP/out.wav" --json >"$TMP/j.json" ||
            { echo "$label | failed"; continue; }
    else
        "$BUILD/kt-synth" -m "$MODEL" -c "$CONFIG" -v "$VOICE" --phonemes -f "$TMP/$name.txt" --speed "$speed" \
            --threads "$TH" -o "$TMP/out.wav" --json >"$TMP/j.json" || { echo "$label | failed"; continue; }
        echo 0 >"$TMP/maxrss"
    fi
    "$PY" - "$label" "$TMP/j.json" "$TMP/maxrss" "$WEIGHTS" <<'EOF'
import json, sys
name, jpath, mpath, weights = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
j = json.load(open(jpath, encoding="utf-8"))
peak = j["peak_rss_bytes"] / 1e6
t = open(mpath).read().split()
maxrss = int(t[-1]) * 1024 / 1e6 if t and t[-1].isdigit() and int(t[-1]) else None
print(f"{name} | {j['chunks']} | {j['seconds']:.2f} | {peak:.0f} | "
      f"{'n/a' if maxrss is None else f'{maxrss:.0f}'} | {peak / 600:.2f} | {peak * 1e6 / weights:.2f}")
EOF
done
