#!/usr/bin/python3
"""Japanese against misaki: for each sentence of tests/g2p_langs/ja.tsv (made by
make_ja_reference.py: misaki's JAG2P over the same MeCab + UniDic), kt's phonemes (libkt.so's
kt_g2p_phonemize, "ja") are compared with misaki's as Kokoro's tokenizer sees them (vocab symbols
only), and mora by mora (both cut into morae the same way, aligned with difflib). At least
MIN_MORAE of misaki's morae must be found identical. Without unidic-mecab the check is skipped.
"""
import ctypes
import difflib
import json
import os
import re
import subprocess
import sys

BUILD = os.environ.get("KT_BUILD", "build")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TSV = os.path.join(ROOT, "tests", "g2p_langs", "ja.tsv")
MIN_MORAE = 0.95
# a mora: consonants and glides, then a vowel and a length mark; or a moraic nasal, ʔ, or a symbol
MORA = re.compile(r"[^aeiouɯɨ\sɴʔ.,!?:;“”«»—…()\"]*[aeiouɯɨ]ː?|[ɴmŋɲn]|ʔ|ː|\S")


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


def morae(ps):
    return MORA.findall(ps.replace(" ", ""))


def kt_phonemizer():
    lib = ctypes.CDLL(os.path.join(BUILD, "libkt.so"))
    pp = ctypes.POINTER(ctypes.c_void_p)
    lib.kt_g2p_phonemize.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, pp, pp,
                                     ctypes.POINTER(KtError)]
    libc = ctypes.CDLL(None)
    libc.free.argtypes = [ctypes.c_void_p]

    def phonemize(text):
        out, dropped, err = ctypes.c_void_p(), ctypes.c_void_p(), KtError()
        if lib.kt_g2p_phonemize(text.encode(), b"ja", None, ctypes.byref(out), ctypes.byref(dropped),
                                ctypes.byref(err)):
            raise RuntimeError(err.msg.decode())
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
