#!/usr/bin/env python3
"""check_serve: kt-serve on the tiny random-weight model, over loopback only. The real openai npm
client for every response_format, streaming and a wrong key; hostile requests (malformed JSON, wrong
types, a 2 MB body, an unknown voice, a path as voice, deep JSON) each with its status and OpenAI's
error body while the server keeps serving; protocol errors (405 with Allow, 404, 413 and 501 with
OpenAI's body; the statuses libmicrohttpd answers by itself); 24 requests 8 at a time; a full queue (429 + Retry-After), the deadline (503), a
slow client, a client leaving mid-stream, descriptors and memory over many requests, the access log,
and SIGTERM finishing the request in flight. Under the sanitizer build the counts are smaller."""
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import NODE_DIR, SAN, Server, check, fail, npm_install  # noqa: E402

VOICE = "af_tiny"
MAGIC = {"mp3": ("494433", "fff"), "opus": ("4f676753",), "flac": ("664c6143",), "wav": ("52494646",)}


def error_body(body):
    e = json.loads(body)["error"]
    return isinstance(e["message"], str) and "type" in e and "param" in e and "code" in e


def openai_client(srv, key):
    r = subprocess.run(["node", os.path.join(NODE_DIR, "openai_client.mjs"), "http://127.0.0.1:%d/v1" % srv.port,
                        key, VOICE], capture_output=True, text=True, timeout=240)
    if r.returncode:
        fail("openai client: " + r.stderr[-2000:])
    res = json.loads(r.stdout.strip().splitlines()[-1])
    for fmt, info in res["formats"].items():
        ok = info["status"] == 200 and info["bytes"] > 100
        if fmt in MAGIC:
            ok = ok and any(info["head"].startswith(m) for m in MAGIC[fmt])
        check(ok, "openai audio.speech.create response_format=%s: %s" % (fmt, info))
    check(res["aac"]["status"] == 400, "aac (no Debian encoder in this build): 400 %s" % res["aac"])
    for fmt, s in res["stream"].items():
        check(s["status"] == 200 and s["transfer_encoding"] == "chunked" and s["chunks"] >= 2 and
              s["first_byte_seconds"] < 0.7 * s["total_seconds"], "openai client streams %s in chunks: %s" % (fmt, s))
    check(res["wrong_key"]["status"] == 401, "wrong API key: 401 %s" % res["wrong_key"])


def hostile(srv):
    cases = [
        ("malformed JSON", b'{"input": "hi", "voice": ', 400),
        ("not an object", b'["input"]', 400),
        ("input a number", {"input": 5, "voice": VOICE}, 400),
        ("voice a list", {"input": "hi", "voice": [VOICE]}, 400),
        ("speed a string", {"input": "hi", "voice": VOICE, "speed": "fast"}, 400),
        ("speed out of range", {"input": "hi", "voice": VOICE, "speed": 9}, 400),
        ("unknown model", {"model": "gpt-4", "input": "hi", "voice": VOICE}, 400),
        ("unknown format", {"input": "hi", "voice": VOICE, "response_format": "exe"}, 400),
        ("unknown voice", {"input": "hi", "voice": "zz_nobody"}, 400),
        ("a path as voice", {"input": "hi", "voice": "../../../etc/passwd"}, 400),
        ("a file:member as voice", {"input": "hi", "voice": "/etc/voices.bin:af_x"}, 400),
        ("empty input", {"input": "", "voice": VOICE}, 400),
        ("JSON nested 1000 deep", b'{"a":' * 1000 + b'1' + b'}' * 1000, 400),
        ("2 MB input", {"input": "a" * (2 << 20), "voice": VOICE}, 413),
        ("input over the character limit", {"input": "word " * 1000, "voice": VOICE}, 413),
    ]
    for name, body, want in cases:
        st, h, b = srv.speech(body)
        check(st == want and h.get("content-type") == "application/json" and error_body(b),
              "%s: %d with an OpenAI error body" % (name, st))
        st, _, b = srv.speech({"input": "Still serving.", "voice": VOICE, "response_format": "wav"})
        if st != 200:
            fail("after '%s' the server answered %d" % (name, st))
    check(True, "the server kept serving after each")
    st, _, b = srv.request("GET", "/v1/audio/speech")
    check(st == 405 and error_body(b), "GET on the speech endpoint: 405")
    st, _, b = srv.request("GET", "/nope")
    check(st == 404 and error_body(b), "unknown path: 404")
    st, _, b = srv.speech({"input": "Blend.", "voice": "af_tiny(2)+am_tiny(1)", "response_format": "wav"})
    check(st == 200 and b[:4] == b"RIFF", "blend af_tiny(2)+am_tiny(1): 200")
    st, _, b = srv.speech({"input": "Blend.", "voice": "af_tiny:0.6 am_tiny:0.4", "response_format": "pcm"})
    check(st == 200 and len(b) > 0, "blend 'af_tiny:0.6 am_tiny:0.4': 200")
    st, _, b = srv.speech({"input": "Alloy.", "voice": "alloy", "response_format": "wav"})
    check(st == 200, "OpenAI voice name alloy: 200 (mapped)")


def raw(port, data, timeout=10):
    """Sends data on a new connection and reads one response: (status, headers with lower-case
    names, body); (None, {}, b"") when the server closed the connection without answering."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out, lines, headers, body = b"", [], {}, b""
    try:
        s.sendall(data)
        while b"\r\n\r\n" not in out:
            b = s.recv(65536)
            if not b:
                break
            out += b
        head, _, body = out.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        want = int(headers.get("content-length", "0"))
        while out and len(body) < want:
            b = s.recv(65536)
            if not b:
                break
            body += b
    except (socket.timeout, ConnectionResetError, BrokenPipeError):
        pass
    finally:
        s.close()
    if not out.startswith(b"HTTP/"):
        return None, {}, b""
    return int(lines[0].split()[1]), headers, body


def protocol_errors(srv):
    """Requests refused before or outside the endpoints. Those kt-serve answers carry OpenAI's error
    body; those libmicrohttpd answers by itself (docs/kt-serve.md lists them) keep their status, and
    the server keeps serving after each."""
    ours = [
        ("unknown method FOO on /health", b"FOO /health HTTP/1.1\r\nHost: x\r\n\r\n", 405, "GET, HEAD"),
        ("OPTIONS on the speech endpoint", b"OPTIONS /v1/audio/speech HTTP/1.1\r\nHost: x\r\n\r\n", 405, "POST"),
        ("DELETE /v1/models", b"DELETE /v1/models HTTP/1.1\r\nHost: x\r\n\r\n", 405, "GET, HEAD"),
        ("PUT / (the page)", b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 405, "GET, HEAD"),
        ("unknown path under /v1/", b"GET /v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n", 404, None),
        ("a 20 KB path", b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 404, None),
        ("Content-Length of 1 TB, no body sent", b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\n"
         b"Content-Length: 1000000000000\r\n\r\n", 413, None),
        ("a chunked body over --max-body", b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n" + (b"8000\r\n" + b"a" * 0x8000 + b"\r\n") * 4 + b"0\r\n\r\n",
         413, None),
        ("Transfer-Encoding: gzip", b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"
         b"abc", 501, None),
    ]
    for name, data, want, allow in ours:
        st, h, b = raw(srv.port, data)
        check(st == want and h.get("content-type") == "application/json" and error_body(b) and
              (allow is None or h.get("allow") == allow),
              "%s: %s with an OpenAI error body%s" % (name, st, " and Allow: %s" % allow if allow else ""))
    mhd = [
        ("a request line over libmicrohttpd's 32 KiB", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        ("headers over libmicrohttpd's 32 KiB", b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: " + b"v" * 40000 +
         b"\r\n\r\n", 431),
        ("HTTP/2.0 in the request line", b"GET /health HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        ("no HTTP version", b"GET /health\r\n\r\n", 400),
        ("a header line without a colon", b"GET /health HTTP/1.1\r\nHost: x\r\nBroken\r\n\r\n", 400),
        ("Content-Length: abc", b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
        ("Content-Length over 64 bits", b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\n"
         b"Content-Length: 99999999999999999999999\r\n\r\n", 413),
        ("malformed chunked encoding", b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"zz\r\nabc\r\n0\r\n\r\n", 400),
        ("a chunk size over 64 bits", b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"FFFFFFFFFFFFFFFFFF\r\nabc\r\n", 413),
        ("not HTTP at all", b"HELLO\r\n\r\n", None),
    ]
    for name, data, want in mhd:
        st, h, b = raw(srv.port, data)
        check(st == want, "%s: libmicrohttpd answers %s itself" % (name, st if st else "nothing (closes)"))
        st, _, _ = srv.request("GET", "/health")
        if st != 200:
            fail("after '%s' the server answered %d" % (name, st))
    check(True, "the server kept serving after each")


def concurrent(srv, n, at_once):
    """n short requests, at_once at a time: every one 200 with whole audio."""
    lat, bad = [], []
    lock = threading.Lock()
    todo = list(range(n))

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                todo.pop()
            t0 = time.time()
            st, _, b = srv.speech({"input": "Several requests at once.", "voice": VOICE, "response_format": "wav"},
                                  timeout=120)
            with lock:
                lat.append(time.time() - t0)
                if st != 200 or b[:4] != b"RIFF" or len(b) <= 44:
                    bad.append(st)
    t0 = time.time()
    ts = [threading.Thread(target=worker) for _ in range(at_once)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    lat.sort()
    check(len(lat) == n and not bad, "%d requests, %d at a time: all 200 with audio in %.1f s (latency p50 %.3f s, "
          "p95 %.3f s)" % (n, at_once, time.time() - t0, lat[len(lat) // 2] if lat else 0,
                           lat[min(len(lat) - 1, int(0.95 * (len(lat) - 1) + 0.5))] if lat else 0))


def endpoints(srv):
    st, _, b = srv.request("GET", "/health")
    check(st == 200 and json.loads(b)["status"] == "healthy", "GET /health")
    st, _, b = srv.request("GET", "/v1/models")
    ids = [m["id"] for m in json.loads(b)["data"]]
    check(st == 200 and {"kokoro", "tts-1", "tts-1-hd"} <= set(ids), "GET /v1/models: %s" % ids)
    st, _, b = srv.request("GET", "/v1/audio/voices")
    check(st == 200 and json.loads(b)["voices"] == ["af_tiny", "am_tiny", "bf_tiny"], "GET /v1/audio/voices")
    st, h, b = srv.request("GET", "/metrics")
    text = b.decode()
    names = ["kt_requests_total{status=\"200\"}", "kt_queue_depth", "kt_audio_seconds_total",
             "kt_realtime_factor_bucket", "kt_realtime_factor_count"]
    check(st == 200 and h["content-type"].startswith("text/plain") and all(n in text for n in names),
          "GET /metrics has %s" % ", ".join(names))


def slow_and_gone(srv):
    # a slow client: sends half a request and stalls; the server drops it after the idle timeout
    t0 = time.time()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
    s.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"inp")
    st, _, _ = srv.speech({"input": "Meanwhile.", "voice": VOICE, "response_format": "wav"})
    check(st == 200, "a request while a slow client stalls: 200")
    try:
        data = s.recv(100)
    except (socket.timeout, ConnectionResetError):
        data = b"timeout"
    waited = time.time() - t0
    s.close()
    check(data != b"timeout" and waited < 10, "the stalled client is dropped after %.1f s" % waited)
    # a client that leaves mid-stream frees its worker within a chunk
    text = " ".join(["Sentence number %d keeps the worker busy for a while." % i for i in range(40)])
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    body = json.dumps({"input": text, "voice": VOICE, "response_format": "pcm"}).encode()
    s.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    first = s.recv(4096)
    check(first.startswith(b"HTTP/1.1 200"), "long stream started")
    s.close()
    t0 = time.time()
    busy = None
    while time.time() - t0 < 10:
        busy = srv.metric("kt_workers_busy")
        if busy == 0:
            break
        time.sleep(0.05)
    check(busy == 0, "client left mid-stream: worker free after %.2f s" % (time.time() - t0))


def queue_and_deadline():
    text = " ".join(["A long request number %d to fill the queue." % i for i in range(30)])
    with Server("--workers", "1", "--queue", "1") as srv:
        results = []

        def one():
            results.append(srv.speech({"input": text, "voice": VOICE, "response_format": "flac"}, timeout=120))
        ts = [threading.Thread(target=one) for _ in range(4)]
        for t in ts:
            t.start()
            time.sleep(0.05)
        for t in ts:
            t.join(150)
        codes = sorted(r[0] for r in results)
        busy = [r for r in results if r[0] == 429]
        check(200 in codes and busy and all(int(r[1]["retry-after"]) >= 1 and error_body(r[2]) for r in busy),
              "workers 1, queue 1, 4 at once: %s, 429s carry Retry-After" % codes)
    with Server("--timeout", "0.5") as srv:
        st, _, b = srv.speech({"input": text * 2, "voice": VOICE, "response_format": "flac", "stream": False})
        check(st == 503 and error_body(b), "a request past its deadline: 503")
        st, _, _ = srv.speech({"input": "Hi.", "voice": VOICE, "response_format": "wav"})
        check(st == 200, "and the next request is served")


def leaks(srv, n):
    pid = srv.proc.pid

    def fds():
        return len(os.listdir("/proc/%d/fd" % pid))

    def rss():
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0
    body = {"input": "Memory and descriptors stay flat.", "voice": VOICE, "response_format": "wav"}
    for _ in range(10):
        srv.speech(body)
    time.sleep(0.3)
    f0, r0 = fds(), rss()
    for i in range(n):
        st, _, _ = srv.speech(body)
        if st != 200:
            fail("request %d: %d" % (i, st))
    time.sleep(0.3)
    f1, r1 = fds(), rss()
    check(f1 <= f0, "descriptors over %d requests: %d -> %d" % (n, f0, f1))
    if not SAN:
        check(r1 <= r0 * 1.05, "resident memory over %d requests: %d -> %d KiB (< 5%%)" % (n, r0, r1))


def access_log_and_sigterm():
    with Server("--drain", "30") as srv:
        text = " ".join(["Finishing sentence %d before the stop." % i for i in range(12)])
        got = {}

        def long_one():
            got["r"] = srv.speech({"input": text, "voice": VOICE, "response_format": "wav", "stream": False},
                                  timeout=120)
        t = threading.Thread(target=long_one)
        t.start()
        time.sleep(0.3)
        rc = srv.stop(timeout=90)
        t.join(120)
        st, _, b = got.get("r", (0, {}, b""))
        check(rc == 0, "SIGTERM: exit status %s" % rc)
        check(st == 200 and b[:4] == b"RIFF" and len(b) > 44, "the request in flight at SIGTERM finished: %d" % st)
        lines = srv.access_lines()
        check(len(lines) == 1 and lines[0]["status"] == 200 and lines[0]["path"] == "/v1/audio/speech",
              "one JSON access-log line per request: %s" % lines)
        try:
            socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()
            refused = False
        except OSError:
            refused = True
        check(refused, "after the stop no connection is accepted")


def bundle():
    """--voices as an npz bundle (voices-v1.0.bin's format): its members are the voices."""
    import numpy as np
    import torch
    from serve_util import BUILD, ROOT, TINY
    path = os.path.join(ROOT, BUILD, "tests", "serve-voices.npz")
    np.savez(path, **{n: torch.load(os.path.join(TINY, "voices", n + ".pt")).numpy() for n in ("af_tiny", "am_tiny")})
    with Server(voices=path) as srv:
        st, _, b = srv.request("GET", "/v1/audio/voices")
        check(st == 200 and json.loads(b)["voices"] == ["af_tiny", "am_tiny"], "a bundle's members are the voices")
        st, _, b = srv.speech({"input": "From a bundle.", "voice": "af_tiny:0.5 am_tiny:0.5", "response_format": "wav"})
        check(st == 200 and b[:4] == b"RIFF", "a blend of bundle members: 200")


def compute():
    """--compute: an unknown form is refused; bf16-winograd reaches the library: the start-up line
    names it, and its audio differs from float32's where the CPU has AVX512_BF16 and kt's kernels
    may use it (else the bytes are float32's)."""
    exe = Server().args[0]
    r = subprocess.run([exe, "--compute", "f64", "-m", "x", "--voices", "y"], capture_output=True, text=True)
    check(r.returncode == 2 and "--compute takes f32, bf16 or bf16-winograd" in r.stderr,
          "--compute f64: usage error (exit 2)")
    body = {"input": "Two forms of compute.", "voice": VOICE, "response_format": "pcm"}
    out = {}
    for form in ("f32", "bf16-winograd"):
        with Server("--compute", form) as srv:
            st, _, b = srv.speech(body)
            check(st == 200 and len(b) > 1000, "--compute %s: 200 with audio" % form)
            first = [x for x in srv.read_log().splitlines() if "listening on" in x][0]
            check((form in first) == (form != "f32"), "--compute %s: the start-up line says %r" % (form, first))
            out[form] = b
    bf16 = " avx512_bf16" in open("/proc/cpuinfo").read() and os.environ.get("KT_ISA", "avx512") == "avx512"
    check((out["f32"] != out["bf16-winograd"]) == bf16,
          "bf16-winograd audio %s float32's (CPU with AVX512_BF16 in use: %s)" %
          ("differs from" if out["f32"] != out["bf16-winograd"] else "equals", bf16))


def warm_up():
    """--warm-up: on by default, one synthesis logged before the start-up line and not counted as a
    request; off logs none; another value is refused."""
    exe = Server().args[0]
    r = subprocess.run([exe, "--warm-up", "maybe", "-m", "x", "--voices", "y"], capture_output=True, text=True)
    check(r.returncode == 2 and "--warm-up takes on or off" in r.stderr, "--warm-up maybe: usage error (exit 2)")
    for extra in ((), ("--warm-up", "off")):
        with Server(*extra) as srv:
            log = srv.read_log().splitlines()
            warm = [i for i, x in enumerate(log) if x.startswith("kt-serve: warm-up synthesis with ")]
            listen = [i for i, x in enumerate(log) if "listening on" in x]
            if extra:
                check(not warm and listen, "--warm-up off: no warm-up synthesis")
            else:
                check(len(warm) == 1 and listen and warm[0] < listen[0] and re.search(r": \d+\.\d\d s$", log[warm[0]]),
                      "default: one warm-up synthesis before listening (%r)" % log[warm[0] if warm else 0])
            st, _, b = srv.request("GET", "/metrics")
            text = b.decode()
            check(st == 200 and "kt_requests_total{status=\"200\"}" not in text and
                  "kt_realtime_factor_count 0" in text,
                  "%s: the warm-up is not counted as a request" % ("--warm-up off" if extra else "default"))


def main():
    npm_install()
    with Server("--api-key", "secret-key", "--idle-timeout", "2", "--workers", "2") as srv:
        openai_client(srv, "secret-key")
        st, h, b = srv.request("GET", "/v1/models")
        check(st == 401 and error_body(b), "no key: 401")
    with Server("--idle-timeout", "2", "--workers", "2", "--max-input", "4096") as srv:
        endpoints(srv)
        hostile(srv)
        protocol_errors(srv)
        concurrent(srv, 8 if SAN else 24, 8)
        slow_and_gone(srv)
        n = 30 if SAN else 150
        leaks(srv, n)
        lines = srv.access_lines()
        other = [x for x in srv.read_log().splitlines() if not x.startswith("{") and not x.startswith("kt-serve: ")]
        check(all({"time", "method", "path", "status", "bytes", "seconds"} <= set(x) for x in lines) and
              len(lines) > n + 40 and not other, "every request logged as one JSON line (%d lines)" % len(lines))
    queue_and_deadline()
    access_log_and_sigterm()
    bundle()
    compute()
    warm_up()
    print("check_serve: all passed")


if __name__ == "__main__":
    main()
