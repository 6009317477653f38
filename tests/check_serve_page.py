#!/usr/bin/env python3
"""check_serve_page: kt-serve's web page in a real browser (Debian's chromium, headless, driven by
puppeteer-core): text typed, Synthesize pressed, the audio element gets a playable duration and the
words of the captioned endpoint are shown, the one being spoken highlighted; a blend
made with the sliders plays too. The server listens on 127.0.0.1 and a free port and is stopped."""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import NODE_DIR, Server, check, fail, npm_install  # noqa: E402


def main():
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(chromium):
        fail("chromium is not installed (Debian package chromium; make deps-test installs it)")
    npm_install()
    with Server("--workers", "2") as srv:
        st, h, b = srv.request("GET", "/")
        check(st == 200 and h["content-type"].startswith("text/html") and b"Synthesize" in b, "GET / serves the page")
        r = subprocess.run(["node", os.path.join(NODE_DIR, "page.mjs"), "http://127.0.0.1:%d/" % srv.port],
                           capture_output=True, text=True, timeout=240, env=dict(os.environ, CHROMIUM=chromium))
        if r.returncode:
            fail("browser: " + r.stderr[-3000:])
        out = json.loads(r.stdout.strip().splitlines()[-1])
        print(json.dumps(out))
        check(out["voices"] == ["af_tiny", "am_tiny", "bf_tiny"], "the voice picker lists the server's voices")
        check(not out["plain"]["error"] and out["plain"]["duration"] > 0.3,
              "typed text -> Synthesize -> <audio> plays %.2f s" % out["plain"]["duration"])
        check(out["words"]["words"] == ["Typed", "in", "a", "real", "browser.", "Then", "spoken."],
              "the page shows the words of the captioned endpoint: %s" % out["words"]["words"])
        check(out["words"]["spoken"] == ["a"], "seeking into 'a' highlights it alone: %s" % out["words"]["spoken"])
        check(out["expr"] == "af_tiny:0.50 am_tiny:0.50", "blend sliders make '%s'" % out["expr"])
        check(not out["blend"]["error"] and out["blend"]["duration"] > 0.3 and out["blend"]["download"] == "speech.mp3",
              "the blend as mp3 plays %.2f s and downloads as speech.mp3" % out["blend"]["duration"])
        check(out["empty"] == "error" and not out["page_errors"], "empty text shows an error; no script errors")
    print("check_serve_page: all passed")


if __name__ == "__main__":
    main()
