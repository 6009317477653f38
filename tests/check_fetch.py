#!/usr/bin/python3
"""tools/fetch-models.sh against a local HTTP server on 127.0.0.1 (never another address) that
serves small files under the real names: a fresh download with curl and with wget, a rerun
that downloads nothing, a transfer cut in the middle (resumed with a Range request in the same
run), a partial file left by an earlier run (resumed), a server that ignores Range (the
download starts again), a corrupted file (a one-line sha256 error, exit 1, nothing under the
final name), a file without a recorded checksum (--strict refuses it) and bad command lines
(exit 2). The server answers for at most 300 s."""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "util"))
from local_http import Server  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tools", "fetch-models.sh")
TINY = os.path.join(ROOT, "fixtures", "tiny")

failures = []


def check(ok, what, detail=""):
    print("%s %s%s" % ("ok  " if ok else "FAIL", what, "" if ok else ": " + detail))
    if not ok:
        failures.append(what)


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def make_site(d):
    """The tiny fixture files under the real names, and a manifest with their sizes and sums."""
    site = os.path.join(d, "site")
    os.makedirs(os.path.join(site, "voices"))
    files = {"config.json": os.path.join(TINY, "config.json"),
             "kokoro-v1_0.pth": os.path.join(TINY, "kokoro-tiny.pth"),
             "voices/af_heart.pt": os.path.join(TINY, "voices", "af_tiny.pt"),
             "voices/am_adam.pt": os.path.join(TINY, "voices", "am_tiny.pt"),
             "voices/bf_emma.pt": os.path.join(TINY, "voices", "bf_tiny.pt")}
    lines = ["# test manifest"]
    for rel, src in files.items():
        shutil.copy(src, os.path.join(site, rel))
        lines.append("%s %d %s" % (rel, os.path.getsize(src), sha(src)))
    manifest = os.path.join(d, "manifest")
    with open(manifest, "w") as f:
        f.write("\n".join(lines) + "\n")
    return site, manifest, files


def fetch(args, env_extra=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    r = subprocess.run(["sh", SCRIPT] + args, capture_output=True, text=True, env=env, timeout=240,
                       stdin=subprocess.DEVNULL)
    return r.returncode, r.stderr


def same_tree(dest, site, rels):
    bad = [r for r in rels if not os.path.isfile(os.path.join(dest, r)) or
           open(os.path.join(dest, r), "rb").read() != open(os.path.join(site, r), "rb").read()]
    parts = [os.path.join(dp, n) for dp, _, ns in os.walk(dest) for n in ns if n.endswith(".part")]
    return not bad and not parts, "differ or missing: %s; left over: %s" % (bad, parts)


def main():
    with tempfile.TemporaryDirectory() as d:
        site, manifest, files = make_site(d)
        rels = list(files)
        with Server(site) as srv:
            common = ["--base-url", srv.url, "--manifest", manifest]
            for tool in ("curl", "wget"):
                if not shutil.which(tool):
                    print("skip %s: not installed" % tool)
                    continue
                env = {"KT_FETCH_TOOL": tool}
                dest = os.path.join(d, "fresh-" + tool)
                rc, err = fetch(common + ["--dir", dest], env)
                check(rc == 0, tool + ": a fresh download succeeds", err)
                ok, why = same_tree(dest, site, rels)
                check(ok, tool + ": every file arrives intact under its real name", why)
                n = len(srv.log)
                rc, err = fetch(common + ["--dir", dest], env)
                check(rc == 0 and len(srv.log) == n and "already there" in err,
                      tool + ": a rerun downloads nothing", err)

                dest = os.path.join(d, "cut-" + tool)
                srv.faults["kokoro-v1_0.pth"] = "cut"
                n = len(srv.log)
                rc, err = fetch(common + ["--dir", dest, "--voices", "none"], env)
                ranges = [r for p, r in srv.log[n:] if p == "kokoro-v1_0.pth" and r]
                ok, why = same_tree(dest, site, ["config.json", "kokoro-v1_0.pth"])
                check(rc == 0 and ok and ranges, tool + ": a transfer cut halfway is resumed with a Range request",
                      "rc %d, ranges %s, %s, %s" % (rc, ranges, why, err))

                dest = os.path.join(d, "part-" + tool)
                os.makedirs(os.path.join(dest, "voices"))
                src = os.path.join(site, "voices", "af_heart.pt")
                half = open(src, "rb").read()[: os.path.getsize(src) // 3]
                with open(os.path.join(dest, "voices", "af_heart.pt.part"), "wb") as f:
                    f.write(half)
                n = len(srv.log)
                rc, err = fetch(common + ["--dir", dest, "--voices", "af_heart"], env)
                ranges = [r for p, r in srv.log[n:] if p == "voices/af_heart.pt" and r]
                ok, why = same_tree(dest, site, ["config.json", "kokoro-v1_0.pth", "voices/af_heart.pt"])
                check(rc == 0 and ok and ranges == ["bytes=%d-" % len(half)],
                      tool + ": a .part left by an earlier run is resumed", "rc %d, ranges %s, %s, %s" %
                      (rc, ranges, why, err))
                check(not os.path.exists(os.path.join(dest, "voices", "am_adam.pt")),
                      tool + ": --voices fetches only the voices named")

                dest = os.path.join(d, "norange-" + tool)
                os.makedirs(os.path.join(dest, "voices"))
                with open(os.path.join(dest, "voices", "am_adam.pt.part"), "wb") as f:
                    f.write(open(os.path.join(site, "voices", "am_adam.pt"), "rb").read()[:1000])
                srv.faults["voices/am_adam.pt"] = "norange"
                rc, err = fetch(common + ["--dir", dest, "--voices", "am_adam"], env)
                srv.faults.pop("voices/am_adam.pt", None)
                ok, why = same_tree(dest, site, ["config.json", "kokoro-v1_0.pth", "voices/am_adam.pt"])
                check(rc == 0 and ok, tool + ": a server that cannot resume: the download starts again",
                      "rc %d, %s, %s" % (rc, why, err))

                dest = os.path.join(d, "bad-" + tool)
                srv.faults["voices/bf_emma.pt"] = "corrupt"
                rc, err = fetch(common + ["--dir", dest, "--voices", "bf_emma"], env)
                srv.faults.pop("voices/bf_emma.pt", None)
                lines = [x for x in err.splitlines() if "mismatch" in x]
                check(rc == 1 and len(lines) == 1 and "voices/bf_emma.pt: sha256 mismatch" in lines[0]
                      and err.strip().splitlines()[-1] == lines[0],
                      tool + ": a corrupted file stops with one sha256 mismatch line", err)
                left = os.listdir(os.path.join(dest, "voices"))
                check(left == [], tool + ": nothing is left under the final name or as .part", str(left))

            # a manifest entry without recorded checksum
            loose = os.path.join(d, "loose")
            with open(loose, "w") as f:
                f.write("config.json - -\n")
            dest = os.path.join(d, "loose-dir")
            rc, err = fetch(["--base-url", srv.url, "--manifest", loose, "--dir", dest])
            check(rc == 0 and "NOT verified" in err and sha(os.path.join(TINY, "config.json")) in err,
                  "an unrecorded checksum is downloaded, reported as not verified with its sha256", err)
            rc, err = fetch(["--base-url", srv.url, "--manifest", loose, "--dir", dest + "2", "--strict"])
            check(rc == 1 and not os.path.exists(os.path.join(dest + "2", "config.json")),
                  "--strict refuses a file without a recorded checksum", err)
            rc, err = fetch(common + ["--dir", os.path.join(d, "x"), "--voices", "af_nobody"])
            check(rc == 2 and "af_nobody" in err, "an unknown voice name is a usage error", err)
            rc, err = fetch(["--bogus"])
            check(rc == 2, "an unknown option exits 2", err)
            rc, err = fetch(common + ["--dir", os.path.join(d, "y"), "--base-url", srv.url + "/missing"])
            check(rc == 1 and "download failed" in err, "a missing file on the server exits 1", err)
    rc = subprocess.run(["sh", SCRIPT, "--help"], capture_output=True, text=True)
    check(rc.returncode == 0 and "examples:" in rc.stdout, "--help has examples")
    with open(os.path.join(ROOT, "tools", "kokoro-v1_0.manifest")) as f:
        rows = [l.split() for l in f if l.strip() and not l.startswith("#")]
    voices = [r for r in rows if r[0].startswith("voices/")]
    recorded = [r for r in rows if r[2] != "-"]
    check(len(voices) == 54 and all(len(r) == 3 for r in rows) and
          all(len(r[2]) == 64 and r[1].isdigit() for r in recorded),
          "the real manifest: 54 voices, well-formed rows (%d with recorded sums)" % len(recorded))
    if failures:
        print("check_fetch: %d failed: %s" % (len(failures), "; ".join(failures)))
        sys.exit(1)
    print("check_fetch: all passed")


main()
