"""kt-inspect's structure report against shared/spec/structure-report.md.

The full-size random-weight checkpoint (same keys, shapes and order as the real
kokoro-v1_0.pth, written by torch.save in `make fixtures`) must reproduce the
spec's model section exactly; the real voice packs must reproduce af_heart's
statistics exactly; the real config.json must reproduce the configuration
section exactly. Also checks listing mode against torch.load.
"""
import json
import os
import subprocess
import sys

import numpy as np
import torch

BUILD = os.environ.get("KT_BUILD", "build")
FIX = os.environ.get("KT_FIXTURES", os.path.join(BUILD, "fixtures"))
SHARED = os.environ.get("KT_SHARED", "../shared")
KT = os.path.join(BUILD, "kt-inspect")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def sections(text):
    """Split a report into {'## Title': body} by its level-2 headings."""
    out, cur = {}, None
    for line in text.split("\n"):
        if line.startswith("## "):
            cur = line
            out[cur] = []
        elif cur:
            out[cur].append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def run(args):
    return subprocess.run([KT] + args, capture_output=True, text=True)


def main():
    spec_path = os.path.join(SHARED, "spec", "structure-report.md")
    voices = os.path.join(SHARED, "kokoro", "voices")
    config = os.path.join(SHARED, "kokoro", "config.json")
    if not os.path.isdir(voices):
        print("SKIP: %s absent (../shared exists only in the workplace)" % voices)
        return 0
    spec = open(spec_path, encoding="utf-8").read().replace("\u00e2\u2030\u02c6", "\u2248")
    full = os.path.join(FIX, "kokoro-full.pth")
    check(os.path.exists(full), "full-size random checkpoint exists at " + full)
    if not os.path.exists(full):
        return 1
    r = run([full, "--voices", voices, "--config", config, "--generated", "1761520299.0449662"])
    check(r.returncode == 0, "report exits 0 (stderr: %s)" % r.stderr.strip())
    got, want = sections(r.stdout), sections(spec)
    check(list(got) == list(want), "same sections in the same order: %s" % list(got))
    for title in ["## Model Weights Analysis", "## Model Configuration"]:
        check(got.get(title) == want.get(title), "section %r identical to the spec" % title)
        if got.get(title) != want.get(title):
            import difflib
            print("\n".join(difflib.unified_diff(want.get(title, "").split("\n"), got.get(title, "").split("\n"), lineterm="")))
    # voice statistics table and file facts: identical; path and counts depend on the folder
    vg = got.get("## Voice File Analysis (Sample: af_heart.pt)", "")
    vw = want.get("## Voice File Analysis (Sample: af_heart.pt)", "")
    strip = lambda s: [l for l in s.split("\n") if not l.startswith("- **File Path**")]
    check(strip(vg) == strip(vw), "af_heart statistics, size, shape, dtype identical to the spec")
    check("- **File Path**: %s/af_heart.pt" % voices in vg, "File Path is the path as given")
    n = len([f for f in os.listdir(voices) if f.endswith(".pt")])
    check("- **Total Voices**: %d" % n in got.get("## All Voice Files Analysis", ""), "voice count %d" % n)
    summ_g = [l for l in got.get("## Summary", "").split("\n") if "Supported Languages" not in l]
    summ_w = [l for l in want.get("## Summary", "").split("\n") if "Supported Languages" not in l]
    check(summ_g == summ_w, "summary identical apart from the languages of the voices present")
    check(r.stdout.startswith("# Kokoro-82M Model Structure Analysis Results\n\nGenerated: 1761520299.0449662\n"),
          "title and Generated line")
    # af_heart stats recomputed independently with numpy (float64, ddof 0, even-count median)
    t = torch.load(os.path.join(voices, "af_heart.pt")).numpy().astype(np.float64).ravel()
    for name, v in [("Min", t.min()), ("Max", t.max()), ("Mean", t.mean()), ("Std Dev", t.std()), ("Median", np.median(t))]:
        check("| %s | %.6f |" % (name, v) in vg, "%s = %.6f matches numpy" % (name, v))
    # listing mode: names, shapes, dtypes and totals equal torch.load's
    r = run([full, "--json"])
    check(r.returncode == 0, "listing --json exits 0")
    js = json.loads(r.stdout)
    sd = torch.load(full)
    flat = [(top + "." + k, v) for top, d in sd.items() for k, v in d.items()]
    check([t["name"] for t in js["tensors"]] == [k for k, _ in flat], "listing names in file order equal torch.load's")
    check(all(list(t["shape"]) == list(v.shape) for t, (_, v) in zip(js["tensors"], flat)), "listing shapes equal")
    check(js["total_params"] == 81763410, "total params 81,763,410")
    # a kt-convert q8 file: the quantized tensors are listed with their logical (original) shapes
    import tempfile
    tiny = "fixtures/tiny/kokoro-tiny.pth"
    with tempfile.TemporaryDirectory() as tmp:
        q8 = os.path.join(tmp, "q8.safetensors")
        r = subprocess.run([os.path.join(BUILD, "kt-convert"), tiny, "-o", q8, "--dtype", "q8"], capture_output=True, text=True)
        check(r.returncode == 0, "kt-convert --dtype q8 on the tiny model (%s)" % r.stderr.strip())
        js = json.loads(run([q8, "--json"]).stdout)
        sd = torch.load(tiny)
        flat = {top + "." + k: v for top, d in sd.items() for k, v in d.items()}
        q = js.get("quantized", [])
        check(len(q) > 0, "quantized tensors listed: %d" % len(q))
        def orig_shape(name):
            if name in flat:
                return list(flat[name].shape)
            return list(flat[name[:-len("weight")] + "weight_v"].shape)  # folded weight-norm pair
        check(all(e["shape"] == orig_shape(e["name"]) and e["scheme"] == "q8" for e in q),
              "quantized entries carry the original shapes and scheme q8")
        text = run([q8]).stdout
        check("%d tensors quantized by kt-convert (q8" % len(q) in text, "text listing names the quantization")
    # bad inputs: one line naming the file, non-zero exit, no crash
    for bad, what in [("/nonexistent/x.pth", "missing file"), (SHARED, "a directory")]:
        r = run([bad])
        lines = r.stderr.strip().split("\n")
        check(r.returncode == 1 and len(lines) == 1 and bad in lines[0], "%s: one-line error naming it, exit 1" % what)
    r = run(["--bogus"])
    check(r.returncode == 2, "unknown option exits 2")
    print("%d checks failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
