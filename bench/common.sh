# bench/common.sh - sourced by bench/bench_*.sh (after BUILD is set): the fixtures folder, the
# Python with torch, the full-size checkpoint and its config, and the voice (the real af_heart
# pack from ../shared when present, else a random [510,1,256] pack generated once).
FIX=${KT_FIXTURES:-$BUILD/fixtures}
SHARED=${KT_SHARED:-../shared}
PY=${PYTHON:-/usr/bin/python3}
MODEL="$FIX/kokoro-full.pth"
CONFIG="$FIX/kokoro-full-config.json"
[ -f "$CONFIG" ] || CONFIG="$SHARED/kokoro/config.json"
VOICE="$SHARED/kokoro/voices/af_heart.pt"
if [ ! -f "$VOICE" ]; then
    VOICE="$FIX/bench-voice.pt"
    if [ ! -f "$VOICE" ]; then
        echo "no real voice pack: a random [510,1,256] pack -> $VOICE"
        "$PY" -c "import torch,sys; g=torch.Generator().manual_seed(7); torch.save(0.3*torch.randn(510,1,256,generator=g), sys.argv[1])" "$VOICE" || exit 1
    fi
fi
