#!/usr/bin/python3
"""check_python.py - the ctypes binding (bindings/python/kt.py) on $KT_BUILD/libkt.so.

Synthesizes the tiny fixture model from Python: samples from synthesize() equal the WAV that
write() makes (to 16-bit rounding), timings cover the audio, errors raise KtError with libkt's
message, and no PyTorch is imported. Sanitizer builds skip it (their libkt.so needs the
sanitizer runtime preloaded).
"""
import os
import sys
import tempfile
import wave
from array import array

BUILD = os.environ.get("KT_BUILD", "build")
TINY = "fixtures/tiny"
CHECKS = 0


def check(cond, what):
    global CHECKS
    CHECKS += 1
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    print("ok  ", what)


def main():
    if os.path.basename(os.path.normpath(BUILD)) != "build":
        print("skip: check_python loads the plain build's libkt.so only (KT_BUILD=%s)" % BUILD)
        return
    os.environ["KT_LIB"] = os.path.abspath(os.path.join(BUILD, "libkt.so"))
    sys.path.insert(0, "bindings/python")
    import kt

    check(kt.version().count(".") == 2, "kt.version() = %s" % kt.version())
    with kt.TTS(TINY + "/kokoro-tiny.pth", config=TINY + "/config.json", voices_dir=TINY + "/voices") as tts:
        times = []
        x = tts.synthesize("Hello from Python.", voice="af_tiny", on_timing=times.extend)
        check(len(x) > 0 and all(abs(v) < 100 for v in x), "synthesize() gives %d finite samples" % len(x))
        check(times and times[-1][2] <= len(x) / kt.SAMPLE_RATE + 1e-9 and times[0][1] >= 0,
              "timings inside the audio (%d phonemes)" % len(times))
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "py.wav")
            tts.write("Hello from Python.", path, voice="af_tiny")
            with wave.open(path, "rb") as w:
                pcm = array("h", w.readframes(w.getnframes()))
            same = len(pcm) == len(x) and all(abs(a / 32767.0 - max(-1.0, min(1.0, b))) < 2e-4 for a, b in zip(pcm, x))
            check(same, "write() writes the same samples as synthesize() (%d, %d)" % (len(pcm), len(x)))
        try:
            tts.synthesize("Hi.", voice="af_nosuchvoice")
            check(False, "an unknown voice raises KtError")
        except kt.KtError as e:
            check(e.code == "notfound" and "af_nosuchvoice" in e.message, "an unknown voice raises KtError: %s" % e)
        ref = tts.synthesize("Sharing threads. A second sentence.", voice="af_tiny")
    with kt.TTS(TINY + "/kokoro-tiny.pth", config=TINY + "/config.json", voices_dir=TINY + "/voices", threads=2,
                share_threads=True) as tts:
        y = tts.synthesize("Sharing threads. A second sentence.", voice="af_tiny")
        check(len(y) > 0 and y == ref, "share_threads=True gives the same samples (%d, %d)" % (len(y), len(ref)))
    bf16 = " avx512_bf16" in open("/proc/cpuinfo").read() and os.environ.get("KT_ISA", "avx512") == "avx512"
    with kt.TTS(TINY + "/kokoro-tiny.pth", config=TINY + "/config.json", voices_dir=TINY + "/voices",
                bf16="winograd") as tts:
        y = tts.synthesize("Sharing threads. A second sentence.", voice="af_tiny")
        check(len(y) > 0 and (y != ref) == bf16,
              "bf16='winograd': %d samples, %s the float32 ones (AVX512_BF16 in use: %s)" %
              (len(y), "not" if y != ref else "equal to", bf16))
    try:
        kt.TTS(TINY + "/kokoro-tiny.pth", bf16="fast")
        check(False, "bf16='fast' raises ValueError")
    except ValueError:
        check(True, "bf16='fast' raises ValueError")
    ph = kt.phonemes("Hello. World.", voice="af_tiny")
    check(len(ph.splitlines()) >= 1 and ph.endswith("\n"), "kt.phonemes() without a model: %r" % ph)
    check("torch" not in sys.modules, "no PyTorch imported")
    print("%d checks passed" % CHECKS)


if __name__ == "__main__":
    main()
