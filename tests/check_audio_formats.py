#!/usr/bin/python3
"""kt-synth's audio output decoded by ffmpeg (Debian's ffmpeg, a test-only dependency): every
format at several rates, written to a file and, for wav, pcm, opus and mp3, streamed through a
pipe (-o -). Each must decode to the length kt-synth reports within one codec frame (lossless:
exactly; a streamed MP3 carries no gapless tag, so its decoder adds the encoder delay, the
last frame's padding and the empty tag frame: within four frames), at the rate asked, and the lossless formats must hold the same
samples as each other. Bad formats and rates fail with a one-line message and exit 2."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("KT_BUILD", "build")
KT = os.path.join(BUILD, "kt-synth")
TINY = os.path.join(ROOT, "fixtures", "tiny")
BASE = ["-m", os.path.join(TINY, "kokoro-tiny.pth"), "-c", os.path.join(TINY, "config.json"),
        "--voices", os.path.join(TINY, "voices"), "-v", "af_tiny", "--first-chunk", "6"]
TEXT = "Hello, world! This is a test of every format, at every rate."
EXT = {"wav": ".wav", "wav-f32": ".wav", "flac": ".flac", "vorbis": ".ogg", "opus": ".opus", "mp3": ".mp3",
       "pcm": ".pcm", "pcm-f32": ".f32"}
RATES = [8000, 16000, 22050, 24000, 44100, 48000]
OPUS_RATES = {8000, 12000, 16000, 24000, 48000}
failures = []


def check(ok, what):
    print("%s %s" % ("ok  " if ok else "FAIL", what))
    if not ok:
        failures.append(what)


def frame(fmt, rate):
    """One codec frame in seconds (0: exact)."""
    if fmt == "mp3":
        return (1152 if rate >= 32000 else 576) / rate
    if fmt == "opus":
        return 0.020
    if fmt == "vorbis":
        return 2048 / rate
    return 0.0


def decode(path_or_bytes, fmt, rate):
    """(samples as float32 list-of-bytes, native rate) decoded by ffmpeg at the file's own rate."""
    args = ["ffmpeg", "-v", "error", "-nostdin"]
    if fmt in ("pcm", "pcm-f32"):
        args += ["-f", "s16le" if fmt == "pcm" else "f32le", "-ar", str(rate), "-ac", "1"]
    src = path_or_bytes if isinstance(path_or_bytes, str) else "pipe:0"
    args += ["-i", src, "-f", "f32le", "-ac", "1", "pipe:1"]
    r = subprocess.run(args, input=None if isinstance(path_or_bytes, str) else path_or_bytes,
                       capture_output=True, timeout=120)
    if r.returncode != 0:
        return None, 0
    return r.stdout, probe_rate(path_or_bytes, fmt, rate)


def probe_rate(path_or_bytes, fmt, rate):
    if fmt in ("pcm", "pcm-f32"):
        return rate
    if fmt == "opus":
        return 48000  # Opus always decodes at 48 kHz
    args = ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=sample_rate",
            "-of", "csv=p=0"]
    if isinstance(path_or_bytes, str):
        r = subprocess.run(args + [path_or_bytes], capture_output=True, timeout=60)
    else:
        r = subprocess.run(args + ["pipe:0"], input=path_or_bytes, capture_output=True, timeout=60)
    try:
        return int(r.stdout.decode().strip().split(",")[0])
    except ValueError:
        return 0


def run(args):
    r = subprocess.run([KT] + args, capture_output=True, timeout=120)
    return r.returncode, r.stdout, r.stderr.decode("utf-8", "replace")


def check_file(tmp, fmt, rate, decoded):
    out = os.path.join(tmp, "out-%s-%d%s" % (fmt, rate, EXT[fmt]))
    rc, so, se = run(BASE + ["--format", fmt, "--rate", str(rate), "--json", "-o", out, TEXT])
    if fmt == "opus" and rate not in OPUS_RATES:
        check(rc == 2 and se.count("\n") <= 2 and "opus takes" in se and not os.path.exists(out),
              "opus at %d Hz refused: exit %d, %s" % (rate, rc, se.strip().splitlines()[0]))
        return
    if rc != 0:
        check(False, "%s at %d Hz: exit %d: %s" % (fmt, rate, rc, se.strip()))
        return
    want = json.loads(so)["output_samples"]
    pcm, native = decode(out, fmt, rate)
    got = len(pcm) // 4 if pcm is not None else -1
    secs, want_secs = got / native if native else -1, want / rate
    tol = frame(fmt, rate)
    check(native == rate or fmt == "opus",
          "%s at %d Hz: ffprobe says %d Hz" % (fmt, rate, native))
    check(abs(secs - want_secs) <= tol + 1e-9,
          "%s at %d Hz: ffmpeg decodes %.4f s, kt wrote %.4f s (%d samples; tolerance %.4f s)" % (
              fmt, rate, secs, want_secs, want, tol))
    decoded[(fmt, rate)] = pcm


def check_lossless(decoded):
    for rate in RATES:
        s16 = [decoded.get((f, rate)) for f in ("wav", "flac", "pcm")]
        f32 = [decoded.get((f, rate)) for f in ("wav-f32", "pcm-f32")]
        check(None not in s16 and s16[0] == s16[2], "%d Hz: wav and pcm decode to the same samples" % rate)
        if None not in s16 and len(s16[0]) == len(s16[1]):  # libsndfile scales floats for FLAC by 32767
            a = struct.unpack("<%df" % (len(s16[0]) // 4), s16[0])
            b = struct.unpack("<%df" % (len(s16[1]) // 4), s16[1])
            worst = max(abs(x - y) for x, y in zip(a, b)) if a else 0
            check(worst <= 1.0 / 32768 + 1e-7, "%d Hz: flac within one step of wav (%.2e)" % (rate, worst))
        else:
            check(False, "%d Hz: flac and wav lengths differ" % rate)
        check(None not in f32 and f32[0] == f32[1], "%d Hz: wav-f32 and pcm-f32 decode to the same samples" % rate)
        if None in s16 or None in f32 or len(s16[0]) != len(f32[0]):
            check(False, "%d Hz: 16-bit and float lengths differ" % rate)
            continue
        a = struct.unpack("<%df" % (len(s16[0]) // 4), s16[0])
        b = struct.unpack("<%df" % (len(f32[0]) // 4), f32[0])
        worst = max(abs(x - y) for x, y in zip(a, b)) if a else 0
        check(worst <= 1.0 / 32768 + 1e-7, "%d Hz: 16-bit within one step of float (%.2e)" % (rate, worst))


def check_stream(tmp, fmt, rate, decoded):
    r = subprocess.run("%s %s --format %s --rate %d -o - '%s' | cat" % (
        KT, " ".join(BASE), fmt, rate, TEXT), shell=True, capture_output=True, timeout=120)
    if r.returncode != 0 or not r.stdout:
        check(False, "stream %s at %d Hz: %s" % (fmt, rate, r.stderr.decode().strip()))
        return
    pcm, native = decode(r.stdout, fmt, rate)
    ref = decoded.get((fmt, rate))
    got = len(pcm) // 4 if pcm is not None else -1
    want = len(ref) // 4 if ref is not None else -2
    if fmt in ("wav", "pcm"):
        check(pcm == ref, "stream %s at %d Hz: the file's samples (%d, %d)" % (fmt, rate, got, want))
        return
    file_secs = want / (48000 if fmt == "opus" else rate)
    secs = got / native if native else -1
    tol = frame(fmt, rate) * (4 if fmt == "mp3" else 1)
    check(abs(secs - file_secs) <= tol + 1e-9,
          "stream %s at %d Hz: ffmpeg decodes %.4f s, the file %.4f s (tolerance %.4f s)" % (
              fmt, rate, secs, file_secs, tol))


def check_errors(tmp):
    out = os.path.join(tmp, "bad.wav")
    cases = [
        (["--format", "aac", "-o", out], 2, "unknown --format"),
        (["--rate", "7999", "-o", out], 2, "--rate"),
        (["--rate", "48001", "-o", out], 2, "--rate"),
        (["--rate", "16k", "-o", out], 2, "--rate"),
        (["--rate", "44100", "-o", os.path.join(tmp, "bad.opus")], 2, "opus takes"),
        (["--rate", "10000", "-o", os.path.join(tmp, "bad.mp3")], 2, "mp3 takes"),
        (["--format", "flac", "-o", "-"], 2, "cannot stream"),
        (["-o", os.path.join(tmp, "bad.aac")], 2, "unknown audio format"),
        (["-o", os.path.join(tmp, "none", "x.mp3")], 3, "folder"),
    ]
    for args, code, words in cases:
        rc, so, se = run(BASE + args + [TEXT])
        check(rc == code and se.count("\n") <= 2 and words in se and not so,
              "%s: exit %d (want %d): %s" % (" ".join(args), rc, code, se.strip().splitlines()[0] if se else ""))
    left = [f for f in os.listdir(tmp) if f.startswith("bad") or f.startswith(".")]
    check(not left, "nothing written by the failures (%s)" % left)


def main():
    if not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
        print("FAIL ffmpeg/ffprobe not installed (Debian package ffmpeg; make deps-test)")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        decoded = {}
        for fmt in EXT:
            for rate in RATES:
                check_file(tmp, fmt, rate, decoded)
        check_lossless(decoded)
        for fmt in ("wav", "pcm", "opus", "mp3"):
            for rate in (16000, 24000, 48000):
                check_stream(tmp, fmt, rate, decoded)
        check_errors(tmp)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
