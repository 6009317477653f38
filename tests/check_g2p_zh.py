#!/usr/bin/python3
"""Mandarin against misaki: for each sentence of tests/g2p_langs/zh.tsv (made by
make_zh_reference.py: misaki's ZHG2P as Kokoro-82M's pipeline builds it), kt's phonemes
(libkt's kt_g2p_phonemize through tests/g2p_lines, "zh") are compared with misaki's as Kokoro's tokenizer sees them
(vocab symbols only), and kt's syllables (kt_g2p_zh with a '|' after each) with misaki's
(aligned with difflib). At least MIN_SYLLABLES of misaki's syllables must be found identical.
Without python3-jieba the check is skipped with a note.
"""
import difflib
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from g2p_client import G2P, ready, tokens  # noqa: E402

BUILD = os.environ.get("KT_BUILD", "build")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TSV = os.path.join(ROOT, "tests", "g2p_langs", "zh.tsv")
MIN_SYLLABLES = 0.95


def syllables(marked):
    return [re.sub(r"^[\s,.!?:;“”()—…]+", "", s) for s in marked.split("|")[:-1]]


class Kt:
    """kt's Mandarin G2P through build/tests/g2p_lines: phonemes, and syllables marked with '|'."""
    def __init__(self):
        self.plain, self.mark = G2P("zh", BUILD), G2P("zh-marked", BUILD)

    def phonemize(self, text):
        return self.plain.phonemize(text)

    def marked(self, text):
        return self.mark.phonemize(text)


def main():
    vocab = ready(BUILD)
    if vocab is None:
        return 1
    kt = Kt()
    try:
        kt.phonemize("你好")
    except RuntimeError as e:
        print("skip: %s" % e)
        return 0
    with open(TSV, encoding="utf-8") as f:
        rows = [l.split("\t") for l in f.read().splitlines() if not l.startswith("#")]
    same = syl_same = syl_total = 0
    for text, want, want_marked in rows:
        got = tokens(kt.phonemize(text), vocab)
        ref_syl, got_syl = syllables(want_marked), syllables(kt.marked(text))
        m = sum(b.size for b in difflib.SequenceMatcher(None, ref_syl, got_syl, autojunk=False).get_matching_blocks())
        syl_same += m
        syl_total += len(ref_syl)
        if got == tokens(want, vocab):
            same += 1
        else:
            print("  %s\n     kt:     %s\n     misaki: %s" % (text, got, tokens(want, vocab)))
    ok = syl_same >= MIN_SYLLABLES * syl_total
    print("%s zh: %d of %d sentences identical to misaki (%.1f%%); %d of %d syllables (%.2f%%)"
          % ("ok  " if ok else "FAIL", same, len(rows), 100.0 * same / len(rows), syl_same, syl_total,
             100.0 * syl_same / syl_total))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
