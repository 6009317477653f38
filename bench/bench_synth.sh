#!/bin/sh
# kt-synth fp32 against the PyTorch reference (1 and 2 threads) on three phoneme inputs, with the
# machine's FMA peak and OpenBLAS sgemm rate for the floor; then each compute path's error stage by
# stage against float32 (bench/stage_snr.c). Figures only, never pass/fail.
#   env: BENCH_RUNS=3,1,1 (best of N for short,paragraph,long; 0 skips), BENCH_THREADS=1,2,
#        BENCH_BF16=auto|off (also kt-synth --bf16 when it has that option),
#        BENCH_Q8=on|off (also kt-synth on kt-convert --dtype q8 of the model),
#        BENCH_WINOGRAD=on|off (also kt-synth f32 with KT_WINOGRAD=off: every conv direct),
#        BENCH_REF_MALLOC=tuned|default (the reference with glibc's heap kept for large tensors,
#        or with glibc's defaults; bench/synth.py)
BUILD=${1:-build}
. bench/common.sh
B="$BUILD/bench"
mkdir -p "$B" || exit 1

cc -std=c11 -O2 -Wall -Wextra -pthread bench/fma_peak.c -o "$B/fma_peak" || exit 1
# shellcheck disable=SC2046
cc -std=c11 -O2 -Wall -Wextra bench/sgemm_rate.c $(pkg-config --cflags --libs openblas) -o "$B/sgemm_rate" || exit 1

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (other programs on the cores lower every figure below)"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}"
echo
"$B/fma_peak" | tee "$B/fma.txt"
"$B/sgemm_rate" | tee "$B/sgemm.txt"

# peaks for the floor: the best of the wall and the per-CPU-second rate (the latter is what the
# cores deliver while a thread is on them; it matters when other programs share the machine)
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
peak_of() { # isa threads
    line=$(grep "isa=$1 threads=$2 " "$B/fma.txt")
    w=$(echo "$line" | field gflops); c=$(echo "$line" | field gflops_cpu)
    echo "${w:-0} ${c:-0}" | awk '{print ($2 > $1 ? $2 : $1)}'
}
isa=avx512; grep -q 'isa=avx512 threads=1 gflops' "$B/fma.txt" || isa=avx2
NC=$(nproc)
P1=$(peak_of $isa 1)
PN=$P1; [ "$NC" -gt 1 ] && PN=$(peak_of $isa "$NC")
SG=$(grep "threads=$NC " "$B/sgemm.txt" | field gflops | sort -g | tail -1)
P1=${BENCH_PEAK1_GFLOPS:-$P1}; PN=${BENCH_PEAK_GFLOPS:-$PN}
# the bf16 and q8 kernels' own floors: the vdpbf16ps and vpdpbusd peaks (0 where the CPU lacks them);
# for q8 the tdpbsud peak where the CPU has AMX-INT8 tiles (kt runs q8 on them unless KT_AMX=off)
B1=$(peak_of avx512_bf16 1); BN=$B1; [ "$NC" -gt 1 ] && BN=$(peak_of avx512_bf16 "$NC")
q8isa=avx512_vnni
grep -q 'isa=amx_int8 threads=1 gflops' "$B/fma.txt" && [ "${KT_AMX:-on}" != off ] && q8isa=amx_int8
V1=$(peak_of $q8isa 1); VN=$V1; [ "$NC" -gt 1 ] && VN=$(peak_of $q8isa "$NC")
T1=$(peak_of amx_bf16 1); TN=$T1; [ "$NC" -gt 1 ] && TN=$(peak_of amx_bf16 "$NC")
# the float32 direct kernel's inner loop with its operands in L1 (0 without AVX-512)
L1=$(peak_of avx512_conv_loop 1); LN=$L1; [ "$NC" -gt 1 ] && LN=$(peak_of avx512_conv_loop "$NC")

if [ -x "$BUILD/bench/conv_rate" ]; then # built by make bench
    echo
    echo "convolution kernels at the model's shapes (x floor: time over FLOPs / FMA peak; bf16 and q8 over"
    echo "the vdpbf16ps and $q8isa peaks, bf16 on AMX tiles over the amx_bf16 peak; x loop: f32 direct over"
    echo "its own inner loop with the operands in L1, the avx512_conv_loop line)"
    "$BUILD/bench/conv_rate" "$P1" "$PN" "$B1" "$BN" "$V1" "$VN" "$T1" "$TN" "$L1" "$LN"
fi
echo
echo "model $MODEL, voice $VOICE, FMA peak ($isa) $P1 GFLOP/s per core, $PN on $NC cores, sgemm best $SG"
"$PY" bench/synth.py --build "$BUILD" --model "$MODEL" --config "$CONFIG" --voice "$VOICE" \
    --runs "${BENCH_RUNS:-3,1,1}" --threads-list "${BENCH_THREADS:-1,2}" --bf16 "${BENCH_BF16:-auto}" --q8 "${BENCH_Q8:-on}" \
    --winograd "${BENCH_WINOGRAD:-on}" --ref-malloc "${BENCH_REF_MALLOC:-tuned}" \
    --peak-gflops "$PN" --peak1-gflops "$P1" --sgemm-gflops "${SG:-0}" --json "$B/synth.json"

if [ -x "$BUILD/bench/stage_snr" ]; then # built by make bench
    echo
    Q8="$B/stage-q8.safetensors"
    [ "${BENCH_Q8:-on}" = on ] && "$BUILD/kt-convert" "$MODEL" -o "$Q8" --dtype q8 >/dev/null || Q8=""
    # shellcheck disable=SC2086
    "$BUILD/bench/stage_snr" "$MODEL" "$CONFIG" $Q8
    rm -f "$B/stage-q8.safetensors" # 84 MB
fi
