#!/usr/bin/python3
"""es, fr, hi, it, pt-br against misaki: kt's phonemes for each line of tests/g2p_langs/LANG.tsv
(300 dictionary words, numbers, short phrases) must equal misaki's EspeakG2P output stored there
(tests/g2p_langs/make_reference.py says how it was made) for at least MIN_IDENTICAL of the lines.

Both sides are compared as Kokoro's tokenizer sees them: symbols outside config.json's vocab are
dropped, spaces collapsed. kt is called through libkt.so's kt_g2p_phonemize, one line at a time,
as misaki is. The espeak-ng version must be the one the reference was made with (the file's
second line); with another one the check is skipped with a note.
"""
import ctypes
import json
import os
import re
import subprocess
import sys

BUILD = os.environ.get("KT_BUILD", "build")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = os.path.join(ROOT, "tests", "g2p_langs")
LANGS = ("es", "fr", "hi", "it", "pt-br")
MIN_IDENTICAL = 0.98


class KtError(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("msg", ctypes.c_char * 512)]


def load_vocab():
    for p in (os.path.join(os.environ.get("KT_SHARED", "../shared"), "kokoro", "config.json"),
              os.path.join(ROOT, "fixtures", "tiny", "config.json")):
        if os.path.exists(p):
            with open(p, encoding="utf-8") as f:
                return set(json.load(f)["vocab"])
    return None


def tokens(ps, vocab):
    return re.sub(r"\s+", " ", "".join(c for c in ps if c in vocab or c.isspace())).strip()


def kt_phonemizer():
    lib = ctypes.CDLL(os.path.join(BUILD, "libkt.so"))
    lib.kt_g2p_phonemize.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p,
                                     ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p),
                                     ctypes.POINTER(KtError)]
    libc = ctypes.CDLL(None)
    libc.free.argtypes = [ctypes.c_void_p]

    def phonemize(text, lang):
        out, dropped, err = ctypes.c_void_p(), ctypes.c_void_p(), KtError()
        st = lib.kt_g2p_phonemize(text.encode(), lang.encode(), None, ctypes.byref(out), ctypes.byref(dropped),
                                  ctypes.byref(err))
        if st:
            return "<error %s>" % err.msg.decode()
        s = ctypes.string_at(out.value).decode("utf-8")
        libc.free(out)
        libc.free(dropped)
        return s
    return phonemize


def loadable(path):
    """1 if path loads into this Python (an ASan-instrumented libkt.so does not): checked apart."""
    r = subprocess.run([sys.executable, "-c", "import ctypes, sys; ctypes.CDLL(sys.argv[1])", path],
                       capture_output=True)
    return r.returncode == 0


def main():
    lib = os.path.join(BUILD, "libkt.so")
    if not os.path.exists(lib):
        print("FAIL: %s not built" % lib)
        return 1
    if not loadable(lib):
        print("skip: %s does not load into Python (a sanitizer build); the plain build is checked" % lib)
        return 0
    vocab = load_vocab()
    if vocab is None:
        print("FAIL: no config.json for the vocab")
        return 1
    version = subprocess.run(["espeak-ng", "--version"], capture_output=True).stdout.decode().strip()
    phonemize = kt_phonemizer()
    failures = 0
    for lang in LANGS:
        with open(os.path.join(DIR, lang + ".tsv"), encoding="utf-8") as f:
            lines = f.read().splitlines()
        if lines[1][2:] != version:
            print("skip %s: reference made with %r, this is %r" % (lang, lines[1][2:], version))
            continue
        rows = [l.split("\t") for l in lines if not l.startswith("#")]
        same = raw_same = 0
        for text, want in rows:
            raw = phonemize(text, lang)
            raw_same += raw == want
            got = tokens(raw, vocab)
            if got == tokens(want, vocab):
                same += 1
            else:
                print("  %-6s %s\n         kt:     %s\n         misaki: %s" % (lang, text, got, tokens(want, vocab)))
        ok = same >= MIN_IDENTICAL * len(rows)
        print("%s %-6s %d of %d lines identical to misaki (%.1f%%); before the vocab filter: %d"
              % ("ok  " if ok else "FAIL", lang, same, len(rows), 100.0 * same / len(rows), raw_same))
        failures += not ok
    print("%d languages, %d failures" % (len(LANGS), failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
