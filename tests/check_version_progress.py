#!/usr/bin/python3
"""--version on every tool (one line "TOOL VERSION", exit 0, whatever else is on the command line,
but not after "--"), the man pages generated from --help by help2man at build time, and
kt-synth's --progress=plain|bar|none and --quiet on the tiny fixture model."""
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "fixtures", "tiny")
BASE = ["-m", os.path.join(TINY, "kokoro-tiny.pth"), "-c", os.path.join(TINY, "config.json"),
        "--voices", os.path.join(TINY, "voices"), "-v", "af_tiny"]

BUILD = os.environ.get("KT_BUILD", "build")
TOOLS = ["kt-blend", "kt-convert", "kt-inspect", "kt-synth"]
failures = []


def check(ok, what):
    print("%s %s" % ("ok  " if ok else "FAIL", what))
    if not ok:
        failures.append(what)


def synth(args):
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([os.path.join(BUILD, "kt-synth")] + BASE + ["-o", os.path.join(tmp, "p.wav")] + args,
                           capture_output=True, timeout=120)
    return r.returncode, r.stderr.decode("utf-8", "replace")


def check_progress():
    text = "Hello, world! This is a test, with a second chunk."
    rc, se = synth(["--first-chunk", "6", "--progress=plain", text])
    lines = se.splitlines()
    check(rc == 0 and len(lines) == 2 and lines[0].startswith("kt-synth: chunk 1/2: ")
          and lines[1].startswith("kt-synth: chunk 2/2: ") and "s of audio" in lines[1],
          "--progress=plain: a line per chunk: %r" % se)
    rc, se = synth(["--first-chunk", "6", "--progress=bar", text])
    check(rc == 0 and se.count("\r") == 2 and "2/2 chunks" in se and "s left" in se and se.endswith("\n"),
          "--progress=bar: one bar redrawn per chunk: %r" % se)
    rc, se = synth([text])
    check(rc == 0 and se == "", "no progress when stderr is not a terminal: %r" % se)
    rc, se = synth(["--quiet", "--progress=plain", "Hello \u2713 world"])
    check(rc == 0 and se == "", "--quiet: no progress, no warning: %r" % se)
    rc, se = synth(["Hello \u2713 world"])
    check(rc == 0 and "warning" in se, "the same warning without --quiet: %r" % se.strip())
    rc, se = synth(["--progress=fancy", text])
    check(rc == 2 and "--progress takes" in se, "--progress=fancy: exit %d, %s" % (rc, se.splitlines()[0]))


def main():
    versions = set()
    for t in TOOLS:
        r = subprocess.run([os.path.join(BUILD, t), "--bogus", "--version"], capture_output=True, timeout=60)
        out = r.stdout.decode()
        words = out.split()
        check(r.returncode == 0 and out.count("\n") == 1 and len(words) == 2 and words[0] == t,
              "%s --version: exit %d, %r" % (t, r.returncode, out))
        versions.add(words[-1] if words else "")
        h = subprocess.run([os.path.join(BUILD, t), "--help"], capture_output=True, timeout=60)
        check(b"--version" in h.stdout, "%s --help lists --version" % t)
    check(len(versions) == 1, "one version for all tools: %s" % sorted(versions))
    r = subprocess.run([os.path.join(BUILD, "kt-synth"), "--print-phonemes", "--lang", "en-us", "--", "--version"],
                       capture_output=True, timeout=60)
    check(r.returncode == 0 and b"0.1" not in r.stdout, "kt-synth -- --version reads it as text: %r" % r.stdout)
    if shutil.which("help2man"):
        for t in TOOLS:
            page = os.path.join(BUILD, "man", t + ".1")
            text = open(page, encoding="utf-8").read() if os.path.exists(page) else ""
            check(".SH NAME" in text and ("%s \\-" % t) in text and ".SH DESCRIPTION" in text,
                  "%s: a man page with NAME and DESCRIPTION" % page)
    else:
        print("skip man pages: help2man is not installed")
    check_progress()
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
