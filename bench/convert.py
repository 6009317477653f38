#!/usr/bin/python3
"""convert.py - kt-convert and kt-synth per dtype on the full-size checkpoint.

    convert.py --build BUILD --model kokoro-full.pth --config config.json --voice VOICE
               --out DIR [--dtypes f32,f16,bf16,q8,q4] [--threads N]

For each dtype: kt-convert wall time and peak RSS, the .safetensors file size; then kt-synth on
that file with a fixed phoneme input and seed (an input of bench/synth.py, --input, default short): peak RSS,
synthesis wall time per second of audio, and the output's SNR (dB) and max abs difference
against kt-synth's output from the original f32 .pth for the same input and seed (and the SNR of
the STFT magnitudes, bench/audio_cmp.py, which a slow drift of the source phase does not hide). Where
kt-synth refuses the file the columns say "n/a (kt-synth cannot load DTYPE yet)" and kt-synth's
message is printed below the table; they fill in by themselves once kt-synth accepts it.
Audio is compared as the 16-bit WAV kt-synth writes, so the SNR cannot exceed about 96 dB and
the max abs difference is in units of full scale (1 LSB = 3.1e-5).
"""
import argparse
import math
import os
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import audio_cmp  # noqa: E402
from synth import INPUTS  # noqa: E402



def run(cmd):
    """-> (exit code, wall seconds, peak RSS KiB, stderr text)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read().decode(errors="replace")
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    p.stderr.close()
    return p.returncode, time.monotonic() - t0, ru.ru_maxrss, err.strip()


def read_wav16(path):
    """int16 samples of a 16-bit PCM mono WAV."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV file")
    pos = 12
    while pos + 8 <= len(data):
        tag, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if tag == b"data":
            return audio_cmp.pcm16(data[pos + 8:pos + 8 + size])
        pos += 8 + size + (size & 1)
    raise ValueError("no data chunk")


def db(x):
    return "inf (identical)" if x == math.inf else f"{x:.1f}"


def synth(a, model, wav):
    cmd = [os.path.join(a.build, "kt-synth"), "-m", model, "-c", a.config, "-v", a.voice, "--phonemes",
           "--seed", "0", "-o", wav, dict(INPUTS)[a.input]]
    if a.threads:
        cmd[1:1] = ["--threads", str(a.threads)]
    return run(cmd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--voice", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtypes", default="f32,f16,bf16,q8,q4")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--input", default="short", choices=[n for n, _ in INPUTS])
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    ref_wav = os.path.join(a.out, "ref-pth.wav")
    rc, wall, rss, err = synth(a, a.model, ref_wav)
    if rc != 0:
        print(f"kt-synth on the original .pth failed ({rc}): {err}")
        return 0
    ref = read_wav16(ref_wav)
    secs = len(ref) / 24000
    print(f"input: {a.input} ({len(dict(INPUTS)[a.input])} phonemes, {secs:.2f} s of audio), seed 0; "
          f"threads {a.threads or 'OpenBLAS default'}")
    print(f"original .pth (f32): kt-synth {wall:.2f} s ({wall / secs:.3f} s per audio second), "
          f"peak RSS {rss / 1024:.0f} MiB, file {os.path.getsize(a.model) / 2**20:.1f} MiB")
    head = ("dtype", "convert s", "convert RSS MiB", "file MiB", "synth RSS MiB", "audio s", "synth s per audio s",
            "SNR dB", "spectral SNR dB", "max abs diff")
    print(" | ".join(head))
    notes = []
    for dt in a.dtypes.split(","):
        path = os.path.join(a.out, f"kokoro-{dt}.safetensors")
        rc, cwall, crss, err = run([os.path.join(a.build, "kt-convert"), a.model, "-o", path, "--dtype", dt])
        if rc != 0:
            print(f"{dt} | kt-convert failed ({rc}): {err}")
            continue
        size = os.path.getsize(path) / 2**20
        cols = [dt, f"{cwall:.2f}", f"{crss / 1024:.0f}", f"{size:.1f}"]
        wav = os.path.join(a.out, f"out-{dt}.wav")
        rc, swall, srss, err = synth(a, path, wav)
        if rc != 0:
            na = f"n/a (kt-synth cannot load {dt} yet)"
            cols += [na, "n/a", "n/a", "n/a", "n/a", "n/a"]
            notes.append(f"{dt}: kt-synth exit {rc}: {err.splitlines()[-1] if err else ''}")
        else:
            out = read_wav16(wav)
            c = audio_cmp.compare(ref, out)
            cols += [f"{srss / 1024:.0f}", f"{len(out) / 24000:.2f}", f"{swall / (len(out) / 24000):.3f}"]
            if c is None:
                cols += [f"n/a (length {len(out)} vs {len(ref)} samples)", "n/a", "n/a"]
            else:
                cols += [db(c["snr_db"]), db(c["spec_snr_db"]), f"{c['max_abs']:.2e}"]
        print(" | ".join(cols), flush=True)
        os.unlink(path)  # 100-300 MB each; the sizes are printed above
    for n in notes:
        print("  " + n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
