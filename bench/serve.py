#!/usr/bin/env python3
"""kt-serve figures over loopback (never pass/fail): time to first byte, latency under load,
throughput, and memory/descriptors over many requests. Every server listens on 127.0.0.1 on a free
port and is stopped at the end."""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
os.environ.setdefault("KT_BUILD", "build")
import serve_util  # noqa: E402

SHORT_FIRST = "Hi there! " + " ".join(
    ["This longer sentence follows the short one, so the first chunk is small and the rest streams after it."] * 3)
LOAD_TEXT = "The quick brown fox jumps over the lazy dog."


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def ttfb(srv, label):
    """The first request after start (no warm-up request; the server's own warm-up synthesis at start
    is on unless --warm-up off): seconds to the first byte of a streamed pcm answer whose first
    sentence is short, and to its end. Returns the first."""
    c = srv.conn(300)
    body = json.dumps({"model": "kokoro", "input": SHORT_FIRST, "voice": "af_heart", "response_format": "pcm"})
    t0 = time.perf_counter()
    c.request("POST", "/v1/audio/speech", body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    r.read1(1) if hasattr(r, "read1") else r.read(1)
    first = time.perf_counter() - t0
    n = 1 + len(r.read())
    total = time.perf_counter() - t0
    c.close()
    print("time to first byte, %s: %.3f s; whole answer %.2f s for %.2f s of audio"
          % (label, first, total, n / 48000))
    return first


def ttfb_fresh(server, runs, label, *extra):
    """ttfb on runs fresh servers (a single figure swings with the machine): each, then the median."""
    xs = []
    for i in range(runs):
        with server(*extra) as srv:
            xs.append(ttfb(srv, "%s, server %d of %d" % (label, i + 1, runs)))
    print("time to first byte, %s: median %.3f s over %d fresh servers (min %.3f, max %.3f)"
          % (label, pct(xs, 50), runs, min(xs), max(xs)))
    return pct(xs, 50)


def synth_reference(a, runs):
    """The first chunk alone ("Hi there!") synthesized by kt-synth in a fresh process, as a server
    without warm-up does it first (f32, the CPUs' threads, a voice from the same folder): the median
    of its own first_audio_seconds over runs. Set against the first byte with --warm-up off it shows
    the server's own share; on its own, how fast the machine is in this minute."""
    exe = os.path.join(a.build, "kt-synth")
    voice = os.path.join(a.voices, sorted(os.listdir(a.voices))[0])
    xs = []
    out = os.path.join(a.build, "bench", "serve-first-chunk.wav")
    for _ in range(runs):
        r = subprocess.run([exe, "-m", a.model, "-c", a.config, "-v", voice, "-o", out, "--json", "-q",
                            SHORT_FIRST.split("!")[0] + "!"], capture_output=True, text=True, timeout=300)
        if r.returncode:
            print("kt-synth reference run failed: %s" % r.stderr.strip())
            return None
        xs.append(json.loads(r.stdout)["first_audio_seconds"])
    os.remove(out)
    print("the first chunk alone, kt-synth in a fresh process: median %.3f s over %d runs (min %.3f, max %.3f)"
          % (pct(xs, 50), runs, min(xs), max(xs)))
    return pct(xs, 50)


def load(srv, n, conc):
    lat, codes, audio = [], {}, [0]
    lock = threading.Lock()
    todo = list(range(n))

    def worker():
        c = None
        while True:
            with lock:
                if not todo:
                    break
                todo.pop()
            t0 = time.perf_counter()
            st, _, b = srv.speech({"input": LOAD_TEXT, "voice": "af_heart", "response_format": "pcm"}, timeout=300)
            dt = time.perf_counter() - t0
            with lock:
                lat.append(dt)
                codes[st] = codes.get(st, 0) + 1
                if st == 200:
                    audio[0] += len(b) / 48000
        return c
    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker) for _ in range(conc)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.perf_counter() - t0
    print("load: %d requests, %d at a time: statuses %s" % (n, conc, codes))
    print("  latency p50 %.3f s, p95 %.3f s, max %.3f s" % (pct(lat, 50), pct(lat, 95), max(lat)))
    print("  throughput %.2f requests/s, %.2f s of audio per second (%.1fx real time), wall %.1f s"
          % (n / wall, audio[0] / wall, audio[0] / wall, wall))


def memory(n):
    with serve_util.Server("--workers", str(os.cpu_count() or 2)) as srv:
        pid = srv.proc.pid

        def rss():
            with open("/proc/%d/status" % pid) as f:
                return next(int(x.split()[1]) for x in f if x.startswith("VmRSS:"))
        body = {"input": LOAD_TEXT, "voice": "af_tiny", "response_format": "wav"}
        for _ in range(20):
            srv.speech(body)
        r0, f0 = rss(), len(os.listdir("/proc/%d/fd" % pid))
        for _ in range(n):
            srv.speech(body)
        r1, f1 = rss(), len(os.listdir("/proc/%d/fd" % pid))
        print("memory over %d requests (tiny model, after 20 warm-up): RSS %d -> %d KiB (%+.2f%%), descriptors %d -> %d"
              % (n, r0, r1, 100.0 * (r1 - r0) / r0, f0, f1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--model", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--voices", required=True)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rss-requests", type=int, default=1000)
    ap.add_argument("--ttfb-runs", type=int, default=5, help="fresh servers timed for the defaults' first byte")
    a = ap.parse_args()
    os.environ["KT_BUILD"] = a.build
    serve_util.BUILD = a.build

    class Full(serve_util.Server):
        def __init__(self, *extra):
            super().__init__(*extra)
            self.args[self.args.index("-m") + 1] = a.model
            self.args[self.args.index("-c") + 1] = a.config
            self.args[self.args.index("--voices") + 1] = a.voices
    print("load average: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    with Full("--queue", "64") as srv:
        print("\n".join(x for x in srv.read_log().strip().splitlines() if x.startswith("kt-serve: ")))
        print("f32 weights (%s); the first request after start, no warm-up request; input %d characters whose "
              "first sentence is 'Hi there!'; response_format pcm, streamed" % (os.path.basename(a.model),
                                                                                len(SHORT_FIRST)))
        ttfb(srv, "--first-chunk 100, CPUs shared, --warm-up on (the defaults)")
        load(srv, a.requests, a.concurrency)
    if a.ttfb_runs > 1:
        ttfb_fresh(Full, a.ttfb_runs, "the defaults")
        cold = ttfb_fresh(Full, a.ttfb_runs, "--warm-up off", "--warm-up", "off")
        ref = synth_reference(a, a.ttfb_runs)
        if ref:
            print("time to first byte with --warm-up off / the same first synthesis in kt-synth: %.2f" % (cold / ref))
    with Full("--first-chunk", "0") as srv:
        ttfb(srv, "--first-chunk 0 (whole sentences)")
    with Full("--threads", "1") as srv:
        ttfb(srv, "--threads 1 (each request on one CPU)")
    if " avx512_bf16" in open("/proc/cpuinfo").read():
        for compute in ("bf16", "bf16-winograd"):
            with Full("--compute", compute) as srv:
                ttfb(srv, "--compute %s (f32 weights, bfloat16 convolutions)" % compute)
    if a.rss_requests:
        memory(a.rss_requests)


if __name__ == "__main__":
    main()
