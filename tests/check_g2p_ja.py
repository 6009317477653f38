#!/usr/bin/python3
"""Japanese against misaki: for each sentence of tests/g2p_langs/ja.tsv (made by
make_ja_reference.py: misaki's JAG2P over the same MeCab + UniDic), kt's phonemes (libkt.so's
kt_g2p_phonemize, "ja") are compared with misaki's as Kokoro's tokenizer sees them (vocab symbols
only), and mora by mora (both cut into morae the same way, aligned with difflib). At least
MIN_MORAE of misaki's morae must be found identical. Without unidic-mecab the check is skipped.
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
TSV = os.path.join(ROOT, "tests", "g2p_langs", "ja.tsv")
MIN_MORAE = 0.95
# a mora: consonants and glides, then a vowel and a length mark; or a moraic nasal, ʔ, or a symbol
MORA = re.compile(r"[^aeiouɯɨ\sɴʔ.,!?:;“”«»—…()\"]*[aeiouɯɨ]ː?|[ɴmŋɲn]|ʔ|ː|\S")


def morae(ps):
    return MORA.findall(ps.replace(" ", ""))


def kt_phonemizer():
    """phonemize(text) in Japanese through build/tests/g2p_lines."""
    return G2P("ja", BUILD).phonemize


def main():
    vocab = ready(BUILD)
    if vocab is None:
        return 1
    phonemize = kt_phonemizer()
    try:
        phonemize("東京")
    except RuntimeError as e:
        print("skip: %s" % e)
        return 0
    with open(TSV, encoding="utf-8") as f:
        rows = [l.split("\t") for l in f.read().splitlines() if not l.startswith("#")]
    same = m_same = m_total = 0
    for text, want in rows:
        got, ref = tokens(phonemize(text), vocab), tokens(want, vocab)
        a, b = morae(ref), morae(got)
        m_same += sum(x.size for x in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks())
        m_total += len(a)
        if got == ref:
            same += 1
        else:
            print("  %s\n     kt:     %s\n     misaki: %s" % (text, got, ref))
    ok = m_same >= MIN_MORAE * m_total
    print("%s ja: %d of %d sentences identical to misaki (%.1f%%); %d of %d morae (%.2f%%)"
          % ("ok  " if ok else "FAIL", same, len(rows), 100.0 * same / len(rows), m_same, m_total,
             100.0 * m_same / m_total))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
