"""Talks to build/tests/g2p_lines (libkt's G2P, one line in, one line out) for the
check_g2p_*.py scripts: G2P(lang).phonemize(text); the model's vocabulary and the phonemes as
its tokenizer sees them."""
import json
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_vocab():
    for p in (os.path.join(os.environ.get("KT_SHARED", "../shared"), "kokoro", "config.json"),
              os.path.join(ROOT, "fixtures", "tiny", "config.json")):
        if os.path.exists(p):
            with open(p, encoding="utf-8") as f:
                return set(json.load(f)["vocab"])
    return None


def ready(build):
    """The model's vocabulary when build/tests/g2p_lines and a config.json are there; else None
    after printing why (the check then fails)."""
    exe = os.path.join(build, "tests", "g2p_lines")
    if not os.path.exists(exe):
        print("FAIL: %s not built (make tests-build)" % exe)
        return None
    vocab = load_vocab()
    if vocab is None:
        print("FAIL: no config.json for the vocab")
    return vocab


def tokens(ps, vocab):
    return re.sub(r"\s+", " ", "".join(c for c in ps if c in vocab or c.isspace())).strip()


class G2P:
    def __init__(self, lang, build=None):
        exe = os.path.join(build or os.environ.get("KT_BUILD", "build"), "tests", "g2p_lines")
        self.p = subprocess.Popen([exe, lang], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, encoding="utf-8", bufsize=1)

    def phonemize(self, text):
        self.p.stdin.write(text.replace("\n", " ") + "\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline()
        if not out:
            raise RuntimeError("g2p_lines ended")
        out = out.rstrip("\n")
        if out.startswith("<error "):
            raise RuntimeError(out[7:-1])
        return out

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=60)
