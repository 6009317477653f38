#!/usr/bin/python3
"""--version on every tool (one line "TOOL VERSION", exit 0, whatever else is on the command line,
but not after "--"), and the man pages generated from --help by help2man at build time."""
import os
import shutil
import subprocess
import sys

BUILD = os.environ.get("KT_BUILD", "build")
TOOLS = ["kt-blend", "kt-convert", "kt-inspect", "kt-synth"]
failures = []


def check(ok, what):
    print("%s %s" % ("ok  " if ok else "FAIL", what))
    if not ok:
        failures.append(what)


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
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
