#!/usr/bin/python3
"""Mandarin against misaki: for each sentence of tests/g2p_langs/zh.tsv (made by
make_zh_reference.py: misaki's ZHG2P as Kokoro-82M's pipeline builds it), kt's phonemes
(libkt.so's kt_g2p_phonemize, "zh") are compared with misaki's as Kokoro's tokenizer sees them
(vocab symbols only), and kt's syllables (kt_g2p_zh with a '|' after each) with misaki's
(aligned with difflib). At least MIN_SYLLABLES of misaki's syllables must be found identical.
Without python3-jieba the check is skipped with a note.
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
TSV = os.path.join(ROOT, "tests", "g2p_langs", "zh.tsv")
MIN_SYLLABLES = 0.95


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


def syllables(marked):
    return [re.sub(r"^[\s,.!?:;“”()—…]+", "", s) for s in marked.split("|")[:-1]]


class Kt:
    def __init__(self):
        self.lib = ctypes.CDLL(os.path.join(BUILD, "libkt.so"))
        pp = ctypes.POINTER(ctypes.c_void_p)
        self.lib.kt_g2p_phonemize.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, pp, pp,
                                              ctypes.POINTER(KtError)]
        self.lib.kt_g2p_zh.argtypes = [ctypes.c_char_p, ctypes.c_int, pp, pp, ctypes.POINTER(KtError)]
        self.libc = ctypes.CDLL(None)
        self.libc.free.argtypes = [ctypes.c_void_p]

    def _take(self, st, out, dropped, err):
        if st:
            raise RuntimeError(err.msg.decode())
        s = ctypes.string_at(out.value).decode("utf-8")
        self.libc.free(out)
        self.libc.free(dropped)
        return s

    def phonemize(self, text):
        out, dropped, err = ctypes.c_void_p(), ctypes.c_void_p(), KtError()
        st = self.lib.kt_g2p_phonemize(text.encode(), b"zh", None, ctypes.byref(out), ctypes.byref(dropped),
                                       ctypes.byref(err))
        return self._take(st, out, dropped, err)

    def marked(self, text):
        out, dropped, err = ctypes.c_void_p(), ctypes.c_void_p(), KtError()
        st = self.lib.kt_g2p_zh(text.encode(), 1, ctypes.byref(out), ctypes.byref(dropped), ctypes.byref(err))
        return self._take(st, out, dropped, err)


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
