#!/usr/bin/python3
"""Makes tests/g2p_langs/LANG.tsv: a word list per espeak language and misaki's phonemes for it.

Words: 300 drawn (seeded) from Debian's word lists (wspanish, wfrench, witalian, wbrazilian;
aspell-hi's master list for Hindi), plus numbers and a few short phrases. Reference: misaki's
EspeakG2P (misaki/espeak.py) over phonemizer on the system libespeak-ng, run from their sources
outside this repository:

  tests/g2p_langs/make_reference.py --misaki DIR --phonemizer DIR --stubs DIR --misaki-rev COMMIT

where DIR/misaki/espeak.py, DIR/phonemizer/ are the sources and --stubs holds stand-ins for the
modules those sources import but do not use here (segments, dlinfo, espeakng_loader). Each call
gets one line, as misaki's pipeline gets one text. The file's first lines record the command and
the espeak-ng version.
"""
import argparse
import importlib.util
import os
import random
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LANGS = {"es": "/usr/share/dict/spanish", "fr": "/usr/share/dict/french", "it": "/usr/share/dict/italian",
         "pt-br": "/usr/share/dict/brazilian", "hi": None}
ESPEAK = {"fr": "fr-fr"}  # the espeak language Kokoro's pipeline gives EspeakG2P
EXTRA = {
    "es": ["0", "7", "13", "21", "45", "100", "365", "1000", "2024", "3,5", "Tengo 25 años.",
           "Son las 10:30.", "«Hola», dijo él.", "¿Qué tal? (Muy bien)", "Cuesta 99 euros."],
    "fr": ["0", "7", "13", "21", "45", "100", "365", "1000", "2024", "3,5", "J'ai 25 ans.",
           "Il est 10 h 30.", "« Bonjour », dit-il.", "Ça va ? (Très bien)", "Ça coûte 99 euros."],
    "it": ["0", "7", "13", "21", "45", "100", "365", "1000", "2024", "3,5", "Ho 25 anni.",
           "Sono le 10:30.", "«Ciao», disse lui.", "Come stai? (Bene)", "Costa 99 euro."],
    "pt-br": ["0", "7", "13", "21", "45", "100", "365", "1000", "2024", "3,5", "Tenho 25 anos.",
              "São 10:30.", "«Olá», disse ele.", "Tudo bem? (Sim)", "Custa 99 reais."],
    "hi": ["0", "7", "13", "21", "45", "100", "365", "1000", "2024", "३", "मेरी उम्र 25 साल है।",
           "नमस्ते, आप कैसे हैं?", "यह 99 रुपये का है।", "भारत (देश)", "१९४७"],
}


def words_for(lang):
    if lang == "hi":
        out = subprocess.run(["aspell", "-d", "hi", "dump", "master"], capture_output=True, check=True)
        pool = out.stdout.decode("utf-8").split()
    else:
        with open(LANGS[lang], encoding="utf-8", errors="replace") as f:
            pool = [w.strip() for w in f]
    pool = sorted(set(w for w in pool if w.isalpha() and len(w) >= 2))
    return random.Random(1400 + len(lang)).sample(pool, 300) + EXTRA[lang]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--misaki", required=True)
    ap.add_argument("--phonemizer", required=True)
    ap.add_argument("--stubs", required=True)
    ap.add_argument("--misaki-rev", default="unknown", help="the misaki commit the sources are from")
    a = ap.parse_args()
    sys.path[:0] = [a.stubs, a.phonemizer]
    sys.path.append("/usr/lib/python3/dist-packages")
    from phonemizer.backend.espeak.wrapper import EspeakWrapper
    EspeakWrapper.set_data_path = staticmethod(lambda p: None)  # the system data path is used
    spec = importlib.util.spec_from_file_location("espeak", os.path.join(a.misaki, "misaki", "espeak.py"))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    version = subprocess.run(["espeak-ng", "--version"], capture_output=True).stdout.decode().strip()
    for lang in LANGS:
        g = m.EspeakG2P(language=ESPEAK.get(lang, lang))
        with open(os.path.join(HERE, lang + ".tsv"), "w", encoding="utf-8") as f:
            f.write("# made by: tests/g2p_langs/make_reference.py --misaki-rev %s"
                    " (misaki's EspeakG2P(language=%r))\n" % (a.misaki_rev, ESPEAK.get(lang, lang)))
            f.write("# %s\n" % version)
            for w in words_for(lang):
                f.write("%s\t%s\n" % (w, g(w)[0]))


if __name__ == "__main__":
    main()
