"""Helpers for the kt-serve checks: start a server on 127.0.0.1 and a free port (it picks one and
prints it), talk to it, and always stop it (SIGTERM, then SIGKILL), with timeouts everywhere."""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("KT_BUILD", "build")
SAN = "san" in os.path.basename(BUILD.rstrip("/"))
TINY = os.path.join(ROOT, "fixtures", "tiny")
NODE_DIR = os.path.join(ROOT, "tests", "node")


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok   " + msg)


def npm_install():
    """Installs the test-only npm packages (openai, puppeteer-core) from package-lock.json once."""
    if os.path.isdir(os.path.join(NODE_DIR, "node_modules", "openai")) and \
            os.path.isdir(os.path.join(NODE_DIR, "node_modules", "puppeteer-core")):
        return
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=300,
                   stdout=subprocess.DEVNULL, env=dict(os.environ, PUPPETEER_SKIP_DOWNLOAD="1"))


class Server:
    """kt-serve on the tiny random-weight model; use as a context manager."""

    def __init__(self, *extra, env=None, voices=None):
        exe = os.path.join(ROOT, BUILD, "kt-serve") if not os.path.isabs(BUILD) else os.path.join(BUILD, "kt-serve")
        self.log_path = os.path.join(ROOT, BUILD, "tests", "kt-serve-%d.log" % os.getpid())
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        self.args = [exe, "-m", os.path.join(TINY, "kokoro-tiny.pth"), "-c", os.path.join(TINY, "config.json"),
                     "--voices", voices or os.path.join(TINY, "voices"), "--host", "127.0.0.1", "--port", "0"] + list(extra)
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.port = None

    def __enter__(self):
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=self.log, env=self.env)
        deadline = time.time() + 60
        while time.time() < deadline and self.port is None:
            if self.proc.poll() is not None:
                fail("kt-serve exited at start: " + self.read_log())
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", self.read_log())
            if m:
                self.port = int(m.group(1))
            time.sleep(0.05)
        if self.port is None:
            self.stop()
            fail("kt-serve did not start within 60 s")
        return self

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def access_lines(self):
        out = []
        for line in self.read_log().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def stop(self, timeout=60):
        """SIGTERM and wait; returns the exit status (SIGKILL after timeout)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            return None

    def __exit__(self, *exc):
        self.stop()
        self.log.close()

    def conn(self, timeout=60):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=60):
        """(status, headers dict, body bytes)."""
        c = self.conn(timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            c.request(method, path, body=body, headers=headers or {"Content-Type": "application/json"})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def speech(self, body, headers=None, timeout=60):
        return self.request("POST", "/v1/audio/speech", body, headers, timeout)

    def metric(self, name):
        st, _, body = self.request("GET", "/metrics")
        for line in body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None
