#!/usr/bin/python3
"""kt-synth with markup on the tiny fixture model: [pause:...] and <break> become silence of the
exact length between the chunks around them, SSML is never spoken, <phoneme> is used as given,
<prosody rate> changes the speed, --ssml/--no-markup force either reading, plain text keeps its
bytes, and invalid SSML fails with one line naming line and column (exit 1)."""
import json
import os
import subprocess
import sys
import tempfile
import wave

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("KT_BUILD", "build")
KT = os.path.join(BUILD, "kt-synth")
TINY = os.path.join(ROOT, "fixtures", "tiny")
BASE = ["-m", os.path.join(TINY, "kokoro-tiny.pth"), "-c", os.path.join(TINY, "config.json"),
        "--voices", os.path.join(TINY, "voices"), "-v", "af_tiny"]
failures = []


def check(ok, what):
    print("%s %s" % ("ok  " if ok else "FAIL", what))
    if not ok:
        failures.append(what)


def run(args):
    r = subprocess.run([KT] + BASE + args, capture_output=True, timeout=120)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def samples(tmp, *args):
    out = os.path.join(tmp, "m.wav")
    rc, so, se = run(["-o", out, "--json"] + list(args))
    if rc:
        return -1, None
    with wave.open(out, "rb") as w:
        frames = w.readframes(w.getnframes())
    return json.loads(so)["samples"], frames


def main():
    with tempfile.TemporaryDirectory() as tmp:
        hello, hf = samples(tmp, "Hello")
        world, wf = samples(tmp, "world.")
        for text in ("Hello [pause:0.5s] world.", "Hello [pause:500ms] world.",
                     "<speak>Hello <break time=\"500ms\"/> world.</speak>",
                     "Hello <break time=\"0.5s\"/> world.|--ssml"):
            args = text.split("|")
            n, frames = samples(tmp, *([args[1], args[0]] if len(args) > 1 else args))
            check(n == hello + 12000 + world and frames == hf + b"\0\0" * 12000 + wf,
                  "%s: %d samples = %d + 12000 of silence + %d, the same bytes" % (text, n, hello, world))
        n, vf = samples(tmp, "<speak>Hello <voice name=\"am_tiny\">world.</voice></speak>")
        r = subprocess.run([KT] + BASE[:-1] + ["am_tiny", "-o", os.path.join(tmp, "w.wav"), "world."],
                           capture_output=True, timeout=120)
        with wave.open(os.path.join(tmp, "w.wav"), "rb") as w:
            amf = w.readframes(w.getnframes())
        check(r.returncode == 0 and vf == hf + amf, "<voice name=am_tiny>: its span in that voice (%d samples)" % n)
        rc, so, se = run(["-o", os.path.join(tmp, "v.wav"), "<speak><voice name=\"nobody\">x</voice></speak>"])
        check(rc == 1 and "unknown voice 'nobody'" in se and se.count("\n") == 1, "an unknown <voice>: %s" % se.strip())
        n, _ = samples(tmp, "<speak><break time=\"1s\"/>Hello</speak>")
        check(n == 24000 + hello, "a leading <break>: %d = 24000 + %d" % (n, hello))
        rc, so, se = run(["--print-phonemes", "<speak><p>Hello</p> <phoneme alphabet=\"ipa\" ph=\"wˈɜɹld\">x</phoneme>"
                          " <sub alias=\"world\">W</sub> <say-as interpret-as=\"characters\">AB</say-as></speak>"])
        check(rc == 0 and "spˈik" not in so and "fənˈim" not in so and "wˈɜɹld" in so and so.count("\n") >= 2,
              "SSML never spoken, <phoneme> used as given: %r" % so)
        rc, so, se = run(["--print-phonemes", "--no-markup", "Hello [pause:1s]"])
        check(rc == 0 and "[pause" not in so and "pˈɔz" in so, "--no-markup reads [pause:1s] as words: %r" % so)
        rc, so, se = run(["--print-phonemes", "Hello [pause:1s] world"])
        check(rc == 0 and so.splitlines()[1] == "[pause:1s]", "--print-phonemes shows the pause: %r" % so)
        slow, _ = samples(tmp, "<speak><prosody rate=\"x-slow\">Hello</prosody></speak>")
        check(slow > hello * 1.5, "<prosody rate=x-slow>: %d samples against %d" % (slow, hello))
        plain, pf = samples(tmp, "Hello, world.")
        plain2, pf2 = samples(tmp, "--no-markup", "Hello, world.")
        check(pf == pf2 and plain > 0, "plain text: the same bytes with and without --no-markup")
        for text, words in (("<speak>Hello</spek>", "line 1, column 15: mismatched tag"),
                            ("<speak> </speak>", "no pronounceable words"),
                            ("<speak><break time=\"1s\"/></speak>", "no pronounceable words"),
                            ("<speak>\n<break time=\"1h\"/></speak>", "line 2, column 1: bad <break>"),
                            ("<speak><break time=\"3600s\"/></speak>", "longer than 60 s"),
                            ("x [pause:3600s]", "line 1, column 3: a pause of 3600 s"),
                            ("<speak>" + "<s>" * 10000 + "x", "nested deeper than 64"),
                            ("<speak>" + "a<break time=\"1ms\"/>" * 100000 + "</speak>", "more than 10000 pauses")):
            out, src = os.path.join(tmp, "bad.wav"), os.path.join(tmp, "in.txt")
            with open(src, "w") as f:
                f.write(text)
            rc, so, se = run(["-o", out, "-f", src])
            check(rc == 1 and se.count("\n") == 1 and words in se and not os.path.exists(out),
                  "%.40s: exit %d, %s" % (text, rc, se.strip()))
        rc, so, se = run(["--ssml", "--no-markup", "-o", os.path.join(tmp, "x.wav"), "x"])
        check(rc == 2, "--ssml with --no-markup: exit %d" % rc)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
