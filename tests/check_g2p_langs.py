#!/usr/bin/python3
"""es, fr, hi, it, pt-br against misaki: kt's phonemes for each line of tests/g2p_langs/LANG.tsv
(300 dictionary words, numbers, short phrases) must equal misaki's EspeakG2P output stored there
(tests/g2p_langs/make_reference.py says how it was made) for at least MIN_IDENTICAL of the lines.

Both sides are compared as Kokoro's tokenizer sees them: symbols outside config.json's vocab are
dropped, spaces collapsed. kt is called through libkt's kt_g2p_phonemize through tests/g2p_lines, one line at a time,
as misaki is. The espeak-ng version must be the one the reference was made with (the file's
second line); with another one the check is skipped with a note.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from g2p_client import G2P, ready, tokens  # noqa: E402

BUILD = os.environ.get("KT_BUILD", "build")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = os.path.join(ROOT, "tests", "g2p_langs")
LANGS = ("es", "fr", "hi", "it", "pt-br")
MIN_IDENTICAL = 0.98


def kt_phonemizer():
    """phonemize(text, lang) through build/tests/g2p_lines (one process per language)."""
    procs = {}

    def phonemize(text, lang):
        if lang not in procs:
            procs[lang] = G2P(lang, BUILD)
        try:
            return procs[lang].phonemize(text)
        except RuntimeError as e:
            return "<error %s>" % e
    return phonemize


def main():
    vocab = ready(BUILD)
    if vocab is None:
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
