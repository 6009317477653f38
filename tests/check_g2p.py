#!/usr/bin/python3
"""Cross-check kt-synth's G2P against espeak-ng, with the mapping re-implemented here.

Upstream (misaki through phonemizer) calls libespeak-ng's espeak_TextToPhonemes, so the reference
does the same through ctypes (IPA, tie '^', clause by clause), independently of kt's C code. The
text is split at punctuation (phonemizer's preserve_punctuation marks), each piece phonemized, its
clauses joined by spaces, language-switch flags "(..)" removed, the punctuation put back
(whitespace runs in a mark group collapsed to one space), and the espeak-to-Kokoro mapping
applied (English: the espeak fallback list longest key first, (\\S)U+0329 -> ᵊ\\1,
American/British specifics, o->ɔ ɾ->T ʔ->t, ^ deleted; other languages: EspeakG2P's map, ^ and -
deleted). Symbols outside config.json's vocab are dropped. The result must equal
`kt-synth --print-phonemes`. The same is also done with the `espeak-ng -q --ipa --tie=^` program
and reported: the program runs espeak's whole synthesis path, which re-stresses some clauses
(a lone "was", a sentence-final "wasn't it") and gives other tone output for cmn, so that
comparison is informational. English is checked on this espeak-ng path (the lexicon hidden by
KT_DATA_DIR); tests/test_en.c checks English through the lexicon against misaki.
A 5,000-character text must come out whole: its chunks (<= 510 symbols each) joined equal the
reference phonemes of the whole text.
"""
import ctypes
import json
import os
import re
import shutil
import subprocess
import sys

BUILD = os.environ.get("KT_BUILD", "build")
KT_SYNTH = os.path.join(BUILD, "kt-synth")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MARKS = ';:,.!?¡¿—…"«»“”(){}[]'
MARK_GROUP = re.compile(r"\s*[" + re.escape(MARKS) + r"][" + re.escape(MARKS) + r"\s]*")

ESPEAK_VOICE = {"fr": "fr-fr", "zh": "cmn"}

EN_FALLBACK = {
    "ʔˌn\u0329": "ʔn", "ʔn\u0329": "ʔn",
    "a^ɪ": "I", "a^ʊ": "W", "d^ʒ": "ʤ", "e^ɪ": "A", "t^ʃ": "ʧ", "ɔ^ɪ": "Y", "ə^l": "ᵊl",
    "ʲo": "jo", "ʲə": "jə",
    "e": "A", "ʲ": "", "ɚ": "əɹ", "r": "ɹ", "x": "k", "ç": "k", "ɐ": "ə", "ɬ": "l", "\u0303": "",
}
OTHER_MAP = {"a^ɪ": "I", "a^ʊ": "W", "d^z": "ʣ", "d^ʒ": "ʤ", "e^ɪ": "A", "o^ʊ": "O", "ə^ʊ": "Q",
             "s^s": "S", "t^s": "ʦ", "t^ʃ": "ʧ", "ɔ^ɪ": "Y"}

SENTENCES = {
    "en-us": ["Hello, world! The quick brown fox jumps over the lazy dog.",
              "I bought a strange chair; the pilot's language was my joy. Button, kitten, bottle: little things.",
              "Nobody heard the bird, but the water (and the butter) was “fine”."],
    "en-gb": ["Hello, world! Go home, dear; the bird heard nothing.",
              "Our tour of the castle was rather short, wasn't it?"],
    "es": ["¿Qué tal? Muy bien, gracias.", "El perro corre en el parque con los niños."],
    "fr": ["Bonjour, je m'appelle Jean.", "Un bon vin blanc, s'il vous plaît!"],
    "hi": ["नमस्ते दुनिया।", "आप कैसे हैं?"],
    "it": ["Ciao, come stai?", "Il gatto dorme sul divano."],
    "pt-br": ["Olá, tudo bem?", "O menino joga futebol na praia."],
}


def load_vocab():
    for p in (os.path.join(os.environ.get("KT_SHARED", "../shared"), "kokoro", "config.json"),
              os.path.join(ROOT, "fixtures", "tiny", "config.json")):
        if os.path.exists(p):
            with open(p, encoding="utf-8") as f:
                return set(json.load(f)["vocab"]), p
    return None, None


class Espeak:
    """libespeak-ng through ctypes, called the way phonemizer's wrapper calls it."""

    def __init__(self):
        self.lib = ctypes.CDLL("libespeak-ng.so.1")
        if self.lib.espeak_Initialize(2, 0, None, 0x8000) <= 0:  # synchronous, don't exit
            raise RuntimeError("espeak_Initialize failed")
        self.lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self.lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
        self.voice = None
        self.cache = {}

    def set_voice(self, voice):
        if voice == self.voice:
            return
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            class Voice(ctypes.Structure):
                _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_char_p),
                            ("identifier", ctypes.c_char_p), ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte),
                            ("variant", ctypes.c_ubyte), ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int),
                            ("spare", ctypes.c_void_p)]
            v = Voice(languages=voice.encode())
            if self.lib.espeak_SetVoiceByProperties(ctypes.byref(v)) != 0:
                raise RuntimeError("espeak-ng has no voice " + voice)
        self.voice = voice

    def __call__(self, text, voice):
        key = (text, voice)
        if key not in self.cache:
            self.set_voice(voice)
            buf = ctypes.create_string_buffer(text.encode("utf-8"))
            ptr = ctypes.c_void_p(ctypes.addressof(buf))
            clauses = []
            while ptr.value and buf.raw[ptr.value - ctypes.addressof(buf)] != 0:
                r = self.lib.espeak_TextToPhonemes(ctypes.byref(ptr), 1, 0x02 | 0x80 | (ord("^") << 8))
                clauses.append(r.decode("utf-8").strip())
            self.cache[key] = re.sub(r"\([^)]*\)", "", " ".join(c for c in clauses if c))
        return self.cache[key]


class EspeakCli:
    """The espeak-ng program, for the informational comparison."""

    def __init__(self):
        self.cache = {}

    def __call__(self, text, voice):
        key = (text, voice)
        if key not in self.cache:
            out = subprocess.run(["espeak-ng", "-q", "--ipa", "--tie=^", "-v", voice, text],
                                 capture_output=True, check=True).stdout.decode("utf-8")
            lines = [ln.strip() for ln in out.split("\n") if ln.strip()]
            self.cache[key] = re.sub(r"\([^)]*\)", "", " ".join(lines))
        return self.cache[key]


def raw_phonemes(line, voice, espeak):
    """espeak IPA of one line with punctuation preserved."""
    out = ""
    pos = 0
    for m in MARK_GROUP.finditer(line):
        seg = line[pos:m.start()].strip()
        if seg:
            out += espeak(seg, voice)
        for c in m.group(0):
            if c.isspace():
                if out and not out.endswith(" "):
                    out += " "
            else:
                out += c
        pos = m.end()
    seg = line[pos:].strip()
    if seg:
        out += espeak(seg, voice)
    return out


def map_english(ps, british):
    if british:  # NEAR and SQUARE before the list turns e into A
        ps = ps.replace("e^ə", "ɛː").replace("i^ə", "ɪə")
    for old, new in sorted(EN_FALLBACK.items(), key=lambda kv: -len(kv[0])):
        ps = ps.replace(old, new)
    ps = re.sub(r"(\S)\u0329", r"ᵊ\1", ps).replace("\u0329", "")
    if british:
        ps = ps.replace("e^ə", "ɛː").replace("iə", "ɪə").replace("ə^ʊ", "Q")
    else:
        ps = ps.replace("o^ʊ", "O").replace("ɜːɹ", "ɜɹ").replace("ɜː", "ɜɹ").replace("ɪə", "iə").replace("ː", "")
    ps = ps.replace("o", "ɔ").replace("ɾ", "T").replace("ʔ", "t").replace("^", "")
    while "ɹɹ" in ps:
        ps = ps.replace("ɹɹ", "ɹ")
    return ps


def map_other(ps):
    for old, new in sorted(OTHER_MAP.items()):
        ps = ps.replace(old, new)
    return ps.replace("^", "").replace("-", "")


def expected(text, lang, vocab, espeak):
    voice = ESPEAK_VOICE.get(lang, lang)
    ps = raw_phonemes(text.replace("\n", " "), voice, espeak)
    ps = map_english(ps, lang == "en-gb") if lang in ("en-us", "en-gb") else map_other(ps)
    ps = "".join(c if c.isspace() or c in vocab else "" for c in ps)
    return re.sub(r"\s+", " ", ps).strip()


def kt_phonemes(args, stdin=None):
    # English is checked here on its espeak-ng path: an empty KT_DATA_DIR hides the lexicon
    # (tests/test_en.c checks the lexicon path against misaki)
    env = dict(os.environ, KT_DATA_DIR=os.path.join(ROOT, "tests", "en", "no-lexicon"))
    r = subprocess.run([KT_SYNTH, "--print-phonemes"] + args, capture_output=True, input=stdin, env=env)
    if r.returncode != 0:
        raise RuntimeError("kt-synth failed (%d): %s" % (r.returncode, r.stderr.decode()))
    return [ln for ln in r.stdout.decode("utf-8").split("\n") if ln]


def long_text():
    words = ("river mountain garden library window engine silver morning harbor teacher "
             "lantern orchard village compass meadow thunder blanket kitchen pencil ladder").split()
    sentences = []
    i = 0
    while sum(len(s) + 1 for s in sentences) < 5000:
        w = [words[(i * 7 + k * 3) % len(words)] for k in range(9)]
        punct = [".", "!", "?", ";"][i % 4]
        sentences.append("The %s and the %s, near a %s by the %s, saw %s %s %s with %s and %s%s"
                         % tuple(w + [punct]))
        i += 1
    return " ".join(sentences)


def main():
    if not os.path.exists(KT_SYNTH):
        print("FAIL: %s not built" % KT_SYNTH)
        return 1
    vocab, vocab_path = load_vocab()
    if vocab is None:
        print("FAIL: no config.json for the vocab")
        return 1
    print("vocab from %s (%d symbols)" % (vocab_path, len(vocab)))
    ref = Espeak()
    cli = EspeakCli() if shutil.which("espeak-ng") else None
    failures = 0
    compared = 0
    cli_agree = 0
    for lang, sentences in SENTENCES.items():
        for text in sentences:
            want = expected(text, lang, vocab, ref)
            got = " ".join(kt_phonemes(["-c", vocab_path, "--lang", lang, text]))
            compared += 1
            ok = got == want
            print("%s %-6s %s\n        kt:      %s\n        library: %s" % ("ok  " if ok else "FAIL", lang, text, got, want))
            if cli:
                by_cli = expected(text, lang, vocab, cli)
                cli_agree += by_cli == got
                if by_cli != got:
                    print("        (program: %s)" % by_cli)
            failures += not ok
    if cli:
        print("info: the espeak-ng program's output, mapped, equals kt's for %d of %d sentences" % (cli_agree, compared))
    else:
        print("info: the espeak-ng program is not installed; the informational comparison is skipped")
    # the voice's first letter picks the language
    got = kt_phonemes(["-c", vocab_path, "-v", "bf_emma", "Go home, dear."])
    want = expected("Go home, dear.", "en-gb", vocab, ref)
    print("%s voice bf_emma -> en-gb: %s" % ("ok  " if got == [want] else "FAIL", got))
    failures += got != [want]
    # a 5,000-character text comes out whole, in chunks of at most 510 symbols
    text = long_text()
    chunks = kt_phonemes(["-c", vocab_path, "--lang", "en-us", "-f", "-"], stdin=text.encode())
    want = expected(text, "en-us", vocab, ref)
    sizes = [len(c) for c in chunks]
    whole = " ".join(chunks) == want
    fit = all(0 < s <= 510 for s in sizes)
    words_in = all(expected(w, "en-us", vocab, ref) in " ".join(chunks)
                   for w in set(re.findall(r"[a-z]{5,}", text)))
    print("%s %d-character text: %d chunks of %s symbols; joined == reference: %s; every long word's phonemes present: %s"
          % ("ok  " if whole and fit and words_in else "FAIL", len(text), len(chunks), sizes, whole, words_in))
    failures += not (whole and fit and words_in)
    print("%d sentences compared, %d failures" % (compared, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
