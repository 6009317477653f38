#!/usr/bin/python3
"""Word timings, subtitles and silence control through kt-synth, checked from outside:

- --srt and --vtt files parse with ffmpeg (Debian's, a test-only dependency), which writes them
  back out; the cues ffmpeg reads are those kt wrote, each of at most two lines of at most 42
  characters, and the last cue ends with the audio ffprobe measures (within one 25 ms frame);
- the words of --json and of --durations are the same, each one's code points point at its text
  in the input, and the times go forward;
- with --sentence-gap and --paragraph-gap the WAV holds runs of digital silence of the asked
  lengths (within 20 ms) between sentences and between paragraphs, and the words' times agree;
- words in Spanish (espeak-ng) and numbers read as several words keep their place.
Bad gap values fail with a one-line error and exit 2."""
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("KT_BUILD", "build")
KT = os.path.join(BUILD, "kt-synth")
TINY = os.path.join(ROOT, "fixtures", "tiny")
BASE = ["-m", os.path.join(TINY, "kokoro-tiny.pth"), "-c", os.path.join(TINY, "config.json"),
        "--voices", os.path.join(TINY, "voices"), "-v", "af_tiny"]
TEXT = ("Hello, world. This sentence is long enough that its subtitle has to be cut somewhere, "
        "after a clause, and then once more before it ends. I paid $1,234 today!\n\n"
        "A new paragraph starts here. It has two sentences.")
failures = []


def check(ok, what):
    print("%s %s" % ("ok  " if ok else "FAIL", what))
    if not ok:
        failures.append(what)


def run(args, **kw):
    return subprocess.run([KT] + BASE + args, capture_output=True, timeout=300, **kw)


def cue_times(text):
    """(start, end) of every cue of SubRip or WebVTT text, in seconds."""
    out = []
    t = r"(?:(\d+):)?(\d\d):(\d\d)[,.](\d{3})"  # WebVTT may leave out the hours
    for m in re.finditer(t + " --> " + t, text):
        g = [int(x or 0) for x in m.groups()]
        out.append((g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000, g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000))
    return out


def cue_lines(text):
    """The text lines of every cue."""
    cues = []
    for block in re.split(r"\n\n+", text.strip()):
        lines = block.split("\n")
        while lines and "-->" not in lines[0]:
            lines = lines[1:]
        if lines:
            cues.append(lines[1:])
    return cues


def ffmpeg_reads(path, fmt):
    r = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-f", fmt, "pipe:1"], capture_output=True,
                       timeout=60)
    return r.returncode == 0, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def audio_seconds(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
                       capture_output=True, timeout=60)
    return float(r.stdout.decode().strip() or "nan")


def zero_runs(wav, min_len):
    """Lengths (samples) of the runs of exact zeros of at least min_len samples in a 16-bit WAV."""
    with open(wav, "rb") as f:
        data = f.read()
    i = data.find(b"data")
    n = struct.unpack("<I", data[i + 4:i + 8])[0] // 2
    x = struct.unpack("<%dh" % n, data[i + 8:i + 8 + 2 * n])
    runs, cur = [], 0
    for v in x:
        if v == 0:
            cur += 1
        else:
            if cur >= min_len:
                runs.append(cur)
            cur = 0
    if cur >= min_len:
        runs.append(cur)
    return runs


def check_subtitles(tmp):
    wav, srt, vtt, dur = (os.path.join(tmp, n) for n in ("a.wav", "a.srt", "a.vtt", "a.json"))
    r = run(["-o", wav, "--srt", srt, "--vtt", vtt, "--durations", dur, "--json", TEXT])
    check(r.returncode == 0, "kt-synth --srt --vtt --durations --json exits 0 (%s)" % r.stderr.decode()[-200:])
    if r.returncode:
        return
    summary = json.loads(r.stdout)
    seconds = audio_seconds(wav)
    for path, fmt in ((srt, "srt"), (vtt, "webvtt")):
        ok, back, err = ffmpeg_reads(path, fmt)
        check(ok, "ffmpeg reads %s (%s)" % (os.path.basename(path), err.strip()[-200:]))
        mine = cue_times(open(path, encoding="utf-8").read())
        theirs = cue_times(back)
        check(len(mine) >= 5 and [round(a, 2) for a, _ in mine] == [round(a, 2) for a, _ in theirs],
              "%s: ffmpeg reads the %d cues kt wrote (%d)" % (fmt, len(mine), len(theirs)))
        check(abs(theirs[-1][1] - seconds) <= 0.025 if theirs else False,
              "%s: the last cue ends with the audio (%.3f s, audio %.3f s)" % (fmt, theirs[-1][1] if theirs else -1,
                                                                             seconds))
        check(all(b > a for a, b in mine) and all(mine[k][1] <= mine[k + 1][0] + 1e-9 for k in range(len(mine) - 1)),
              "%s: cues last and do not overlap" % fmt)
        lines = cue_lines(open(path, encoding="utf-8").read())
        check(all(1 <= len(c) <= 2 and all(len(l) <= 42 for l in c) for c in lines),
              "%s: every cue has one or two lines of at most 42 characters" % fmt)
    text_lines = " ".join(" ".join(c) for c in cue_lines(open(srt, encoding="utf-8").read()))
    check(text_lines == " ".join(TEXT.split()), "the cues hold the text, every word once, in order")
    words = summary.get("words", [])
    with open(dur, encoding="utf-8") as f:
        dwords = json.load(f)["words"]
    check(words == dwords and len(words) == len(TEXT.split()),
          "--json and --durations give the same %d words (text has %d)" % (len(words), len(TEXT.split())))
    check(all(TEXT[w["char_start"]:w["char_end"]] == w["text"] for w in words),
          "each word's code points point at its text in the input")
    check(all(w["start"] <= w["end"] for w in words) and
          all(words[k]["end"] <= words[k + 1]["start"] + 1e-9 for k in range(len(words) - 1)),
          "word times go forward")
    money = [w for w in words if w["text"] == "$1,234"]
    check(len(money) == 1 and money[0]["end"] - money[0]["start"] > 3 * (words[0]["end"] - words[0]["start"]) / 2,
          "$1,234 lasts as long as the words it is read as")


def check_gaps(tmp):
    wav, dur = os.path.join(tmp, "g.wav"), os.path.join(tmp, "g.json")
    r = run(["-o", wav, "--durations", dur, "--sentence-gap", "0.25", "--paragraph-gap", "0.7", TEXT])
    check(r.returncode == 0, "kt-synth --sentence-gap 0.25 --paragraph-gap 0.7 exits 0 (%s)" % r.stderr.decode()[-200:])
    if r.returncode:
        return
    runs = sorted(zero_runs(wav, int(0.2 * 24000)))
    gaps = [n / 24000 for n in runs]
    long_gaps = [g for g in gaps if g > 0.5]
    short_gaps = [g for g in gaps if g <= 0.5]
    check(len(long_gaps) == 1 and abs(long_gaps[0] - 0.7) <= 0.020,
          "one paragraph gap of 0.7 s in the audio (%s)" % ["%.3f" % g for g in long_gaps])
    check(len(short_gaps) == 3 and all(abs(g - 0.25) <= 0.020 for g in short_gaps),
          "three sentence gaps of 0.25 s in the audio (%s)" % ["%.3f" % g for g in short_gaps])
    with open(dur, encoding="utf-8") as f:
        words = json.load(f)["words"]
    between = [words[k + 1]["start"] - words[k]["end"] for k in range(len(words) - 1)
               if words[k]["text"][-1] in ".!"]
    check(len(between) == 4 and all(abs(b - 0.25) < 1e-4 or abs(b - 0.7) < 1e-4 for b in between),
          "the words say the same gaps (%s)" % ["%.4f" % b for b in between])
    for bad in ("-1", "61", "x", "nan"):
        r = run(["-o", wav, "--sentence-gap", bad, "Hi."])
        err = r.stderr.decode()
        check(r.returncode == 2 and err.count("\n") == 1 and "gap" in err,
              "--sentence-gap %s: exit 2 with one line (%s)" % (bad, err.strip()))


def check_spanish(tmp):
    dur = os.path.join(tmp, "es.json")
    text = "Hola, ¿cómo estás? Tengo 25 años."
    r = run(["--lang", "es", "-o", os.path.join(tmp, "es.wav"), "--durations", dur, text])
    check(r.returncode == 0, "Spanish text synthesizes (%s)" % r.stderr.decode()[-200:])
    if r.returncode:
        return
    with open(dur, encoding="utf-8") as f:
        words = json.load(f)["words"]
    check([w["text"] for w in words] == text.split(), "Spanish words: %s" % [w["text"] for w in words])
    check(all(w["end"] > w["start"] for w in words), "every Spanish word is spoken")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        check_subtitles(tmp)
        check_gaps(tmp)
        check_spanish(tmp)
    if failures:
        print("%d failed" % len(failures))
        sys.exit(1)
    print("all passed")


if __name__ == "__main__":
    main()
