#!/usr/bin/python3
"""check_layers.py - the layering of the sources (docs/architecture.md).

Every header lives in one folder (libkt/<layer>/include/kt/, formats/include/kt/, or the public
libkt/include/kt/). Fails when two folders include each other's headers, when a public header
includes an internal one, or when a public header declares a function without KT_API or lacks
extern "C".
"""
import collections
import glob
import os
import re
import sys


def folder(path):
    parts = path.split("/")
    if parts[0] == "formats":
        return "formats"
    return "public" if parts[1] == "include" else "libkt/" + parts[1]


def main():
    headers = glob.glob("libkt/*/include/kt/*.h") + glob.glob("libkt/include/kt/*.h") + glob.glob("formats/include/kt/*.h")
    where = {os.path.basename(h): folder(h) for h in headers}
    sources = headers + glob.glob("libkt/*/*.[ch]") + glob.glob("formats/*.c")
    edges = collections.defaultdict(list)
    for f in sources:
        for name in re.findall(r'#include "kt/([A-Za-z0-9_]+\.h)"', open(f, encoding="utf-8").read()):
            if name in where and where[name] != folder(f):
                edges[(folder(f), where[name])].append("%s includes kt/%s" % (f, name))
    failures = []
    for (a, b), why in sorted(edges.items()):
        if (b, a) in edges and a < b:
            failures.append("%s and %s include each other: %s; %s" % (a, b, why[0], edges[(b, a)][0]))
        if a == "public":
            failures.append("a public header includes an internal one: %s" % why[0])
    for h in glob.glob("libkt/include/kt/*.h"):
        text = open(h, encoding="utf-8").read()
        if "(" in text and 'extern "C"' not in text and os.path.basename(h) != "export.h":
            failures.append("%s: no extern \"C\" block" % h)
        body = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        for decl in re.findall(r"^[A-Za-z_][^;{}()#]*\bkt_[a-z0-9_]+\s*\([^;{}]*\)\s*;", body, flags=re.M):
            if not decl.startswith("KT_API") and "typedef" not in decl:
                failures.append("%s: exported function without KT_API: %s" % (h, decl.split("(")[0]))
        if re.search(r"\brestrict\b", body):
            failures.append("%s: 'restrict' is not C++" % h)
    for f in failures:
        print("FAIL:", f)
    if failures:
        sys.exit(1)
    print("ok   %d folders, %d cross-folder include edges, none both ways; public headers clean" %
          (len(set(where.values())), len(edges)))


if __name__ == "__main__":
    main()
