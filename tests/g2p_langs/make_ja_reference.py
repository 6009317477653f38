#!/usr/bin/python3
"""Makes tests/g2p_langs/ja.tsv: Japanese sentences and misaki's phonemes for them.

Sentences: 200 drawn (seeded) from Debian's manpages-ja (/usr/share/man/ja/man1), split at 。
and kept when 8 to 50 characters long without Latin letters, plus sentences with numbers written
here. Reference: misaki's JAG2P() (its cutlet path, as Kokoro-82M's pipeline builds it), run from
its sources outside this repository over Debian's MeCab with unidic-mecab (the same analyzer kt
uses):

  tests/g2p_langs/make_ja_reference.py --src DIR --stubs DIR --misaki-rev COMMIT

where DIR holds misaki/ and --stubs holds stand-ins: fugashi (a Tagger over libmecab.so.2 and
/var/lib/mecab/dic/unidic), jaconv.kata2hira, mojimoji (identity after NFKC), addict, pyopenjtalk.
"""
import argparse
import glob
import gzip
import os
import random
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OWN = [
    "今日は3本のペンを買いました。", "会議は10時に始まります。", "この町には25000人が住んでいます。",
    "彼は100メートルを走った。", "私の部屋は8階にあります。", "1年は365日です。", "駅まで7分かかります。",
    "りんごを2つください。", "この本は1500円でした。", "電車は6時30分に出発します。",
    "今年で40歳になりました。", "試験に98点を取った。", "東京は大きい都市です。", "明日は雨が降るでしょう。",
    "ありがとうございます。", "すみません、駅はどこですか？",
]


def man_sentences():
    out = set()
    for path in sorted(glob.glob("/usr/share/man/ja/man1/*.gz")):
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
            lines = [l for l in f.read().splitlines() if l and not l.startswith((".", "'", "\\\""))]
        text = re.sub(r"\\f[A-Z]|\\[-&e(][a-z]*|\\", "", "".join(lines))
        for s in re.findall(r"[^。]+。", text):
            s = s.strip()
            if 8 <= len(s) <= 50 and not re.search(r"[A-Za-zＡ-Ｚａ-ｚ<>=/_{}\[\]|*#$@^~`]", s) and \
                    sum("\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff" for c in s) >= 0.8 * len(s):
                out.add(s)
    return random.Random(1402).sample(sorted(out), 200)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--stubs", required=True)
    ap.add_argument("--misaki-rev", default="unknown")
    a = ap.parse_args()
    sys.path[:0] = [a.stubs, a.src]
    from misaki import ja
    g = ja.JAG2P()
    with open(os.path.join(HERE, "ja.tsv"), "w", encoding="utf-8") as f:
        f.write("# made by: tests/g2p_langs/make_ja_reference.py --misaki-rev %s (misaki's JAG2P(), "
                "MeCab 0.996 + unidic-mecab 3.1.1)\n" % a.misaki_rev)
        for s in man_sentences() + OWN:
            f.write("%s\t%s\n" % (s, g(s)[0]))


if __name__ == "__main__":
    main()
