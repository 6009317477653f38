#!/usr/bin/python3
"""Makes tests/g2p_langs/zh.tsv: Mandarin sentences and misaki's phonemes for them.

Sentences: 200 drawn (seeded) from Debian's fortunes-zh (/usr/share/games/fortunes/chinese.u8),
split at 。！？ and kept when 6 to 40 characters long without Latin letters, plus sentences
with numbers, dates, percentages and money written here. Reference: misaki's ZHG2P(version=None),
as Kokoro-82M's pipeline builds it, run from sources outside this repository (misaki, pypinyin
0.55.0, cn2an; jieba from Debian's python3-jieba):

  tests/g2p_langs/make_zh_reference.py --src DIR --stubs DIR --misaki-rev COMMIT

where DIR holds misaki/, pypinyin/ and cn2an/ and --stubs holds stand-ins for modules that are
imported but not needed here (proces: its preprocessing leaves ASCII digits as they are;
ordered_set). Each line: the sentence, misaki's phonemes, and the same with '|' after each
syllable (misaki's per-syllable conversion, py2ipa, wrapped to mark its output).
"""
import argparse
import os
import random
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FORTUNES = "/usr/share/games/fortunes/chinese.u8"
OWN = [
    "我有3本书。", "今天是2024年3月5日。", "这件衣服卖199元。", "他跑了42.195公里。",
    "班里有45个学生，其中3/4是女生。", "今年的增长率是12.5%。", "气温降到了-5度。",
    "外面有30℃，太热了。", "会议在1998年召开。", "我家住在18楼。", "这本书一共有365页。",
    "2008年8月8日，北京举办了奥运会。", "他的工资是每月8000元。", "我们需要3-5天完成。",
    "这个城市有1200万人口。", "第1名的成绩是98分。", "大约有50%的人同意。", "火车10点开。",
    "他今年25岁了。", "价格从100元涨到了150元。", "这台电脑花了我6500元。", "我们一共走了20公里。",
    "他在2019年12月毕业。", "一年有12个月。", "这个湖深约0.8米。", "我买了2斤苹果。",
]


def fortune_sentences():
    with open(FORTUNES, encoding="utf-8", errors="replace") as f:
        text = re.sub(r"\x1b\[[0-9;]*m", "", f.read())
    out = set()
    for entry in text.split("\n%\n"):
        body = "".join(l.strip() for l in entry.splitlines() if not l.strip().startswith("--"))
        for s in re.findall(r"[^。！？]+[。！？]", body):
            if 6 <= len(s) <= 40 and not re.search(r"[A-Za-z]", s) and \
                    sum("\u4e00" <= c <= "\u9fff" for c in s) >= 0.7 * len(s):
                out.add(s)
    return random.Random(1401).sample(sorted(out), 200)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--stubs", required=True)
    ap.add_argument("--misaki-rev", default="unknown")
    a = ap.parse_args()
    sys.path[:0] = [a.stubs, a.src]
    sys.path.append("/usr/lib/python3/dist-packages")
    import logging
    import jieba
    jieba.setLogLevel(logging.WARNING)
    from misaki import zh
    g = zh.ZHG2P(version=None)
    plain_py2ipa = zh.ZHG2P.py2ipa
    with open(os.path.join(HERE, "zh.tsv"), "w", encoding="utf-8") as f:
        f.write("# made by: tests/g2p_langs/make_zh_reference.py --misaki-rev %s (misaki's ZHG2P(version=None), "
                "pypinyin 0.55.0, jieba %s)\n" % (a.misaki_rev, jieba.__version__))
        for s in fortune_sentences() + OWN:
            zh.ZHG2P.py2ipa = staticmethod(plain_py2ipa)
            ps = g(s)[0]
            zh.ZHG2P.py2ipa = staticmethod(lambda py: plain_py2ipa(py) + "|")
            marked = g(s)[0]
            f.write("%s\t%s\t%s\n" % (s, ps, marked))


if __name__ == "__main__":
    main()
