#!/usr/bin/python3
"""bench/stage_snr (what make bench prints for each compute path's error) on the tiny model and
its kt-convert --dtype q8 form: every path's row is there with finite figures, the float32 path
with Winograd and FFT is exact up to the generator, the bf16 and q8 rows stay above the bounds
test_dtypes holds the same stages to (or equal float32's where the CPU lacks the instruction),
and no path moves a predicted duration (ALBERT and the duration path stay float32 in bf16
compute and in q8 files). Skips when the tool is not built."""
import os
import re
import subprocess
import sys
import tempfile

BUILD = os.environ.get("KT_BUILD", "build")
TOOL = os.path.join(BUILD, "bench", "stage_snr")
MODEL = "fixtures/tiny/kokoro-tiny.pth"
CONFIG = "fixtures/tiny/config.json"
STAGES = ["ALBERT", "duration", "text enc", "F0", "N", "decoder", "generator"]
# (decoder, generator) lower bounds in dB: test_dtypes' for the same paths
BOUNDS = {
    "--bf16": (38, 32),
    "--bf16-winograd": (38, 22),
    "q8 file (VNNI)": (25, 20),
    "q8 file, float32 fallback (avx2)": (30, 25),
}
ROW = re.compile(r"^(.+?)\s*\|((?:\s*-?[0-9.]+\s*\|){7})\s*(\d+) of (\d+)(.*)$")


def fail(msg):
    print(f"FAIL {msg}")
    sys.exit(1)


def main():
    if not os.access(TOOL, os.X_OK):
        print(f"SKIP check_stage_snr: {TOOL} not built")
        return
    with tempfile.TemporaryDirectory() as tmp:
        q8 = os.path.join(tmp, "tiny-q8.safetensors")
        r = subprocess.run([os.path.join(BUILD, "kt-convert"), MODEL, "-o", q8, "--dtype", "q8"],
                           capture_output=True, text=True)
        if r.returncode:
            fail(f"kt-convert --dtype q8: {r.stderr.strip()}")
        r = subprocess.run([TOOL, MODEL, CONFIG, q8], capture_output=True, text=True, timeout=600)
    print(r.stdout, end="")
    if r.returncode:
        fail(f"stage_snr exited {r.returncode}: {r.stderr.strip()}")
    rows = {}
    for line in r.stdout.splitlines():
        m = ROW.match(line)
        if m:
            snr = [float(x) for x in m.group(2).strip().strip("|").split("|")]
            rows[m.group(1).strip()] = (snr, int(m.group(3)), int(m.group(4)), m.group(5))
    want = ["f32 (Winograd F(4,4), FFT)"] + list(BOUNDS)
    if sorted(rows) != sorted(want):
        fail(f"rows {sorted(rows)}, expected {sorted(want)}")
    for name, (snr, moved, total, note) in rows.items():
        if len(snr) != len(STAGES) or any(not (s == s) or s < 0 or s > 300 for s in snr):
            fail(f"{name}: figures {snr}")
        if moved != 0 or total < 2:
            fail(f"{name}: {moved} of {total} durations moved")
        if snr[0] != 300.0 or snr[1] != 300.0:
            fail(f"{name}: ALBERT / duration not exact: {snr[:2]}")
    f32 = rows["f32 (Winograd F(4,4), FFT)"][0]
    if any(s != 300.0 for s in f32[:6]) or f32[6] < 60:
        fail(f"f32 with Winograd/FFT: {f32}")
    for name, (dec, gen) in BOUNDS.items():
        snr, _, _, note = rows[name]
        if "float32" in note and "no " in note:  # the CPU lacks the instruction: float32's figures
            continue
        if snr[5] < dec or snr[6] < gen:
            fail(f"{name}: decoder {snr[5]} dB (min {dec}), generator {snr[6]} dB (min {gen})")
    print(f"check_stage_snr: {len(rows)} paths, every bound held, no duration moved")


if __name__ == "__main__":
    main()
