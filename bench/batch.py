#!/usr/bin/python3
"""kt-synth --batch against one kt-synth process per line, on N short lines (bench/bench_batch.sh).
Prints utterances per second and the real-time factor (wall seconds / audio seconds) of each way,
the speedup over separate runs, and whether every output file is byte-identical across the ways."""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import time

LINES = ["Yes.", "No, thank you.", "Good morning.", "See you soon.", "Right away.", "Hello there.",
         "Not today.", "Well done.", "Turn left here.", "It is raining.", "Come in.", "One moment, please.",
         "That works.", "Call me later.", "Almost there."]


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--voice", required=True)
    ap.add_argument("--lines", type=int, default=200)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    kt = os.path.join(a.build, "kt-synth")
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    jobs = os.path.join(a.work, "jobs.jsonl")
    texts = [LINES[i % len(LINES)] for i in range(a.lines)]
    with open(jobs, "w") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": "l%04d" % i, "text": t, "voice": a.voice}) + "\n")
    base = ["-m", a.model, "-c", a.config]
    nc = os.cpu_count() or 1

    sep = os.path.join(a.work, "separate")
    os.makedirs(sep)
    t0 = time.monotonic()
    for i, t in enumerate(texts):
        subprocess.run([kt] + base + ["-v", a.voice, "-o", os.path.join(sep, "l%04d.wav" % i), t], check=True,
                       stdout=subprocess.DEVNULL)
    sep_wall = time.monotonic() - t0
    ref = {n: sha(os.path.join(sep, n)) for n in os.listdir(sep)}

    rows = [("separate runs (one process per line)", sep_wall, None)]
    audio = 0.0
    for label, extra in (("--batch --jobs 1", ["--jobs", "1"]),
                         ("--batch --jobs %d --threads 1" % nc, ["--jobs", str(nc), "--threads", "1"])):
        out = os.path.join(a.work, "batch_%s" % extra[1])
        t0 = time.monotonic()
        r = subprocess.run([kt, "--batch", jobs, "--out-dir", out, "--json"] + extra + base, check=True,
                           capture_output=True, text=True)
        wall = time.monotonic() - t0
        s = json.loads(r.stdout)
        audio = s["audio_seconds"]
        same = all(sha(os.path.join(out, n)) == h for n, h in ref.items())
        rows.append((label, wall, (s["load_seconds"], same)))
    print("%d lines of 1-4 words (%.1f s of audio), model %s" % (a.lines, audio, a.model))
    for label, wall, extra in rows:
        line = "%-44s %7.1f s  %6.2f utterances/s  RTF %.3f  speedup %.2fx" % (
            label, wall, a.lines / wall, wall / audio if audio else 0, sep_wall / wall)
        if extra:
            line += "  (load %.2f s, outputs %s)" % (extra[0], "byte-identical to the separate runs" if extra[1]
                                                     else "DIFFER from the separate runs")
        print(line)


if __name__ == "__main__":
    main()
