#!/usr/bin/python3
"""kt-synth end to end on the tiny fixture model (fixtures/tiny): output formats, --speed (durations
against the PyTorch reference in tests/reference/kokoro_ref.py), stdout streaming (the same samples
as the file), --durations, --json, --seed, text sources, KT_MODEL/KT_VOICES, blends, and every
bad input the issue lists (each must fail with a one-line message, the documented exit status
and no output file)."""
import json
import os
import struct
import subprocess
import sys
import tempfile
import wave

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("KT_BUILD", "build")
KT = os.path.join(BUILD, "kt-synth")
TINY = os.path.join(ROOT, "fixtures", "tiny")
MODEL = os.path.join(TINY, "kokoro-tiny.pth")
CONFIG = os.path.join(TINY, "config.json")
VOICES = os.path.join(TINY, "voices")
BASE = ["-m", MODEL, "-c", CONFIG, "--voices", VOICES]

failures = []


def check(ok, what):
    print("%s %s" % ("ok  " if ok else "FAIL", what))
    if not ok:
        failures.append(what)


def run(args, stdin=None, env=None):
    r = subprocess.run([KT] + args, input=stdin, capture_output=True, env=env, timeout=120)
    return r.returncode, r.stdout, r.stderr.decode("utf-8", "replace")


def wav_samples(path):
    with wave.open(path, "rb") as w:
        assert w.getframerate() == 24000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        return w.readframes(w.getnframes())


def test_formats(tmp):
    text = "Hello, world! This is a test."
    for ext, magic in ((".wav", b"RIFF"), (".flac", b"fLaC"), (".ogg", b"OggS")):
        out = os.path.join(tmp, "f" + ext)
        rc, so, se = run(BASE + ["-v", "af_tiny", "-o", out, "--json", text])
        ok = rc == 0 and open(out, "rb").read(4) == magic
        summary = json.loads(so) if rc == 0 else {}
        if ext == ".wav" and ok:
            ok = len(wav_samples(out)) // 2 == summary["samples"] and summary["sample_rate"] == 24000
            cs = summary.get("chunk_seconds", [])
            timing_ok = (len(cs) == summary["chunks"] and 0 < summary["load_seconds"] < 60
                         and 0 < summary["first_audio_seconds"] <= summary["synthesis_seconds"] + 1e-9
                         and abs(sum(cs) - summary["synthesis_seconds"]) < 0.05
                         and 0 < summary["synthesis_cpu_seconds"] < 60
                         and summary["peak_rss_bytes"] > 1 << 20 and summary["compute"] == "f32")
            check(timing_ok, "--json timings: load %s, first audio %s, chunks %s, peak RSS %s" % (
                summary.get("load_seconds"), summary.get("first_audio_seconds"), cs, summary.get("peak_rss_bytes")))
        check(ok, "%s output (%s), --json summary %s" % (ext, se.strip() or "no message", summary.get("samples")))
    left = [f for f in os.listdir(tmp) if f.startswith(".")]
    check(not left, "no temp files left behind (%s)" % left)


_ref_model = []


def reference_durations(phonemes, voice, speed):
    sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
    import torch
    import kokoro_ref
    if not _ref_model:
        _ref_model.append(kokoro_ref.Kokoro.load(MODEL, CONFIG))
    model = _ref_model[0]
    pack = torch.load(os.path.join(VOICES, voice + ".pt"), map_location="cpu")
    row = kokoro_ref.voice_row(pack, phonemes)
    out = model.forward(phonemes, row, speed=speed)
    return [int(x) for x in out["pred_dur"].reshape(-1).tolist()], int(out["audio"].numel())


def synth_durations(tmp, text, speed, name):
    out = os.path.join(tmp, name + ".wav")
    dur = os.path.join(tmp, name + ".json")
    rc, so, se = run(BASE + ["-v", "af_tiny", "-o", out, "--speed", str(speed), "--durations", dur, text])
    if rc != 0:
        return None, None, se
    return json.load(open(dur, encoding="utf-8")), len(wav_samples(out)) // 2, se


def test_speed_and_durations(tmp):
    text = "The quick brown fox jumps over the lazy dog."
    ps = run(BASE + ["--print-phonemes", "-v", "af_tiny", text])[1].decode("utf-8").strip()
    totals = {}
    frames = {}
    for speed in (0.5, 1.0, 2.0):
        d, n, se = synth_durations(tmp, text, speed, "speed%g" % speed)
        if d is None:
            check(False, "--speed %g: %s" % (speed, se.strip()))
            return
        chunk = d["chunks"][0]
        frames[speed] = chunk["token_frames"]
        totals[speed] = n
        try:
            ref, ref_n = reference_durations(chunk["phonemes"], "af_tiny", speed)
            check(ref == chunk["token_frames"] and ref_n == n,
                  "--speed %g: durations equal the PyTorch reference (%d tokens, %d frames), samples %d vs %d"
                  % (speed, len(ref), sum(ref), n, ref_n))
        except ImportError as e:
            check(False, "--speed %g: reference unavailable (%s)" % (speed, e))
        times = chunk["phoneme_times"]
        mono = all(a["end"] == b["start"] for a, b in zip(times, times[1:])) and all(t["end"] > t["start"] for t in times)
        check(chunk["phonemes"] == ps and len(times) == len(ps) and "".join(t["phoneme"] for t in times) == ps and mono,
              "--speed %g --durations: %d phonemes, contiguous increasing times, same phonemes as --print-phonemes"
              % (speed, len(times)))
    check(totals[0.5] > totals[1.0] > totals[2.0],
          "--speed 0.5 / 1 / 2 give %d > %d > %d samples" % (totals[0.5], totals[1.0], totals[2.0]))
    check(all(a >= b >= c for a, b, c in zip(frames[0.5], frames[1.0], frames[2.0])),
          "each token's frames shrink as speed grows")


def test_stream(tmp):
    text = "First line, first chunk.\nSecond line, second chunk!"
    out = os.path.join(tmp, "file.wav")
    dur = os.path.join(tmp, "stream.json")
    rc1, _, se1 = run(BASE + ["-v", "af_tiny", "-o", out, "--durations", dur, text])
    rc2, data, se2 = run(BASE + ["-v", "af_tiny", "-o", "-", text])
    if rc1 or rc2:
        check(False, "stream: %s %s" % (se1.strip(), se2.strip()))
        return
    hdr = data[:44]
    riff, size, wavefmt = hdr[:4], struct.unpack("<I", hdr[4:8])[0], hdr[8:16]
    rate = struct.unpack("<I", hdr[24:28])[0]
    dsize = struct.unpack("<I", hdr[40:44])[0]
    check(riff == b"RIFF" and wavefmt == b"WAVEfmt " and size == 0xFFFFFFFF and dsize == 0xFFFFFFFF and rate == 24000,
          "-o - writes a streaming WAV header (sizes 0xFFFFFFFF, 24000 Hz)")
    ref = wav_samples(out)
    check(data[44:] == ref, "-o - streams the same %d samples as the .wav file" % (len(ref) // 2))
    d = json.load(open(dur, encoding="utf-8"))
    ch = d["chunks"]
    check(len(ch) == 2 and abs(ch[0]["end"] - ch[1]["start"]) < 1e-9 and abs(ch[1]["end"] - len(ref) / 2 / 24000) < 1e-6,
          "two lines give two chunks with contiguous offsets ending at the audio's end")
    rc, so, se = run(BASE + ["-v", "af_tiny", "-o", "-", "--json", text])
    try:
        summary = json.loads(se.strip().splitlines()[-1])
    except (ValueError, IndexError):
        summary = {}
    check(rc == 0 and so == data and summary.get("samples") == len(ref) // 2 and summary.get("chunks") == 2
          and 0 < summary.get("first_audio_seconds", 0) <= summary.get("synthesis_seconds", 0),
          "--json with -o - prints the summary on stderr, stdout is the same audio (%s)" % se.strip()[:120])


def test_first_chunk(tmp):
    ph = "həlˈO, ðɪs ɪz ə ʃˈɔɹt tˈɛst. ænd ə sˈɛkənd sˈɛntəns."
    rc, so, se = run(["--phonemes", "--print-phonemes", "--first-chunk", "8", ph])
    lines = so.decode("utf-8").splitlines() if rc == 0 else []
    check(lines == ["həlˈO,", "ðɪs ɪz ə ʃˈɔɹt tˈɛst. ænd ə sˈɛkənd sˈɛntəns."],
          "--first-chunk 8 cuts the first chunk after 'həlˈO,' (%s)" % lines)
    rc0, so0, _ = run(["--phonemes", "--print-phonemes", ph])
    check(rc0 == 0 and so0.decode("utf-8").splitlines() == [ph], "without it the input is one chunk")
    dur = os.path.join(tmp, "first.json")
    rc, data, se = run(BASE + ["-v", "af_tiny", "--phonemes", "--first-chunk", "8", "-o", "-", "--durations", dur,
                               "--json", ph])
    ok = rc == 0
    if ok:
        summary = json.loads(se.strip().splitlines()[-1])
        ch = json.load(open(dur, encoding="utf-8"))["chunks"]
        ok = (summary["chunks"] == 2 and [c["phonemes"] for c in ch] == lines
              and len(summary["chunk_seconds"]) == 2
              and abs(summary["first_audio_seconds"] - summary["chunk_seconds"][0]) < 0.05
              and (len(data) - 44) // 2 == summary["samples"])
    check(ok, "streaming with --first-chunk: two chunks, first audio after the first (%s)" % se.strip()[:160])
    for bad in ["-1", "511", "x"]:
        rc, so, se = run(BASE + ["-v", "af_tiny", "--first-chunk", bad, "-o", os.path.join(tmp, "n.wav"), "hi"])
        check(rc == 2 and "--first-chunk must be" in se.splitlines()[0] and not os.path.exists(os.path.join(tmp, "n.wav")),
              "--first-chunk %s is refused, no file (%s)" % (bad, se.splitlines()[0]))


def test_determinism_and_sources(tmp):
    text = "Same input, same bytes."
    a, b, c = (os.path.join(tmp, n + ".wav") for n in "abc")
    run(BASE + ["-v", "af_tiny", "-o", a, text])
    run(BASE + ["-v", "af_tiny", "-o", b, text])
    run(BASE + ["-v", "af_tiny", "--seed", "7", "-o", c, text])
    check(open(a, "rb").read() == open(b, "rb").read(), "same input and seed give the same bytes")
    check(open(a, "rb").read() != open(c, "rb").read(), "--seed 7 changes the audio")
    txt = os.path.join(tmp, "t.txt")
    with open(txt, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    d, e = os.path.join(tmp, "d.wav"), os.path.join(tmp, "e.wav")
    run(BASE + ["-v", "af_tiny", "-o", d, "-f", txt])
    run(BASE + ["-v", "af_tiny", "-o", e], stdin=text.encode())
    check(wav_samples(a) == wav_samples(d) == wav_samples(e), "text from an argument, -f FILE and stdin agree")
    env = dict(os.environ, KT_MODEL=MODEL, KT_VOICES=VOICES)
    f = os.path.join(tmp, "env.wav")
    rc, _, se = run(["-c", CONFIG, "-v", "af_tiny", "-o", f, text], env=env)
    check(rc == 0 and wav_samples(f) == wav_samples(a), "KT_MODEL and KT_VOICES stand in for -m and --voices %s" % se.strip())
    g = os.path.join(tmp, "g.wav")
    rc, _, se = run(BASE + ["-v", "af_tiny:0.5 am_tiny:0.5", "-o", g, text])
    check(rc == 0 and wav_samples(g) != wav_samples(a), "a blend expression as --voice %s" % se.strip())
    h = os.path.join(tmp, "h.wav")
    rc, _, se = run(BASE + ["-v", os.path.join(VOICES, "af_tiny.pt"), "-o", h, text])
    check(rc == 0 and wav_samples(h) == wav_samples(a), "a voice file path as --voice %s" % se.strip())
    ph = run(BASE + ["--print-phonemes", "-v", "af_tiny", text])[1].decode().strip()
    i = os.path.join(tmp, "i.wav")
    rc, _, se = run(BASE + ["-v", "af_tiny", "--phonemes", "-o", i, ph])
    check(rc == 0 and wav_samples(i) == wav_samples(a), "--phonemes with G2P's own output gives the same audio %s" % se.strip())


def test_bad_inputs(tmp):
    bad_cfg = os.path.join(tmp, "bad_config.json")
    cfg = json.load(open(CONFIG, encoding="utf-8"))
    cfg["hidden_dim"] = cfg["hidden_dim"] * 2
    json.dump(cfg, open(bad_cfg, "w", encoding="utf-8"))
    out = os.path.join(tmp, "bad.wav")
    cases = [
        ("unknown voice", BASE + ["-v", "af_nosuchvoice", "-o", out, "Hello."], 1, "af_nosuchvoice"),
        ("weights that are not Kokoro", ["-m", os.path.join(VOICES, "af_tiny.pt"), "-c", CONFIG, "--voices", VOICES,
                                         "-v", "af_tiny", "-o", out, "Hello."], 4, "missing tensor bert."),
        ("config not matching the weights", ["-m", MODEL, "-c", bad_cfg, "--voices", VOICES, "-v", "af_tiny",
                                             "-o", out, "Hello."], 4, "does not match"),
        ("empty text", BASE + ["-v", "af_tiny", "-o", out, ""], 1, "empty"),
        ("whitespace-only text", BASE + ["-v", "af_tiny", "-o", out, " \n\t "], 1, "empty"),
        ("text of only symbols", BASE + ["-v", "af_tiny", "-o", out, "... !!! ?? ;"], 1, "no pronounceable"),
        ("a phoneme outside the vocab", BASE + ["-v", "af_tiny", "--phonemes", "-o", out, "hə#lO"], 1, "'#'"),
        ("unknown output format", BASE + ["-v", "af_tiny", "-o", os.path.join(tmp, "x.aac"), "Hi."], 2, "x.aac"),
        ("missing output folder", BASE + ["-v", "af_tiny", "-o", os.path.join(tmp, "no", "x.wav"), "Hi."], 3, "folder"),
        ("missing model", ["-m", os.path.join(tmp, "none.pth"), "-c", CONFIG, "--voices", VOICES, "-v", "af_tiny",
                           "-o", out, "Hi."], 4, "none.pth"),
        ("unknown language", BASE + ["-v", "af_tiny", "--lang", "qq-zz", "-o", out, "Hi."], 1, "qq-zz"),
        ("bad --speed", BASE + ["-v", "af_tiny", "--speed", "-1", "-o", out, "Hi."], 2, "--speed"),
        ("--speed under 0.1", BASE + ["-v", "af_tiny", "--speed", "0.0999", "-o", out, "Hi."], 2, "--speed"),
        ("unknown option", BASE + ["--frobnicate", "-o", out, "Hi."], 2, "--frobnicate"),
        ("no model at all", ["-c", CONFIG, "--voices", VOICES, "-v", "af_tiny", "-o", out, "Hi."], 2, "KT_MODEL"),
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("KT_MODEL", "KT_VOICES")}
    for what, args, want_rc, want_msg in cases:
        rc, so, se = run(args, env=env)
        lines = se.strip().split("\n")
        ok = rc == want_rc and want_msg in lines[0] and lines[0].startswith("kt-synth: ") and not os.path.exists(out)
        check(ok, "%s: exit %d (want %d): %s" % (what, rc, want_rc, lines[0]))
    for edge in ("0.1", "10"):  # the ends of the documented range are taken
        rc, so, se = run(BASE + ["-v", "af_tiny", "--speed", edge, "-o", out, "Hi."], env=env)
        check(rc == 0 and os.path.getsize(out) > 44, "--speed %s is accepted: exit %d %s" % (edge, rc, se.strip()))
        os.remove(out)
    rc, so, se = run(["--help"])
    check(rc == 0 and b"exit status" in so and b"examples" in so, "--help documents examples and exit status")


def main():
    if not os.path.exists(KT):
        print("FAIL: %s is not built" % KT)
        return 1
    if not os.path.exists(MODEL):
        print("FAIL: the tiny fixture model %s is missing" % MODEL)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        test_formats(tmp)
        test_speed_and_durations(tmp)
        test_stream(tmp)
        test_first_chunk(tmp)
        test_determinism_and_sources(tmp)
        test_bad_inputs(tmp)
    print("%d failures" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
