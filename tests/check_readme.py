#!/usr/bin/python3
"""Runs README.md's commands, so the README cannot drift from the tools: the ```sh block of
"Quick start" and every ```sh block of "Usage", in order, in one POSIX shell in a temp folder,
with the built tools first on PATH. The real files are replaced by the full-size random-weight
checkpoint (KT_FIXTURES/kokoro-full.pth, from make fixtures) and the real config and voice packs
(KT_SHARED/kokoro, else random packs under the real names), which `make models` fetches from a
local HTTP server on 127.0.0.1 through tools/fetch-models.sh, checked against the real manifest's
rows (the .pth row is the fixture's). `make run` and `make install` are not run (they install
packages and build; the suite runs on a build), `aplay` only checks that it gets a WAV.
Skipped, saying so, without the full-size fixture or without espeak-ng (make ESPEAK=0)."""
import array
import hashlib
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "util"))
from local_http import Server  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(os.environ.get("KT_BUILD", "build"))
FIXTURES = os.path.abspath(os.environ.get("KT_FIXTURES", os.path.join(BUILD, "fixtures")))
SHARED = os.path.abspath(os.environ.get("KT_SHARED", os.path.join(ROOT, "..", "shared")))
NOT_RUN = ("make run", "make install")  # install packages / build: the suite already built


def sections(text):
    """{heading: body} for the '## ' sections of a markdown text."""
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def sh_blocks(body):
    return re.findall(r"^```sh\n(.*?)^```", body, flags=re.M | re.S)


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_site(d, needed_voices):
    """The files to serve under their real names, and a manifest for them."""
    site = os.path.join(d, "site")
    os.makedirs(os.path.join(site, "voices"))
    real = {}
    with open(os.path.join(ROOT, "tools", "kokoro-v1_0.manifest")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                p, size, digest = line.split()
                real[p] = (size, digest)
    rows = []
    os.symlink(os.path.join(FIXTURES, "kokoro-full.pth"), os.path.join(site, "kokoro-v1_0.pth"))
    shared = os.path.join(SHARED, "kokoro")
    have_shared = os.path.isfile(os.path.join(shared, "config.json"))
    if have_shared:
        shutil.copy(os.path.join(shared, "config.json"), os.path.join(site, "config.json"))
    else:
        shutil.copy(os.path.join(FIXTURES, "kokoro-full-config.json"), os.path.join(site, "config.json"))
    rng = random.Random(0)
    for v in sorted(needed_voices):
        src = os.path.join(shared, "voices", v + ".pt")
        dst = os.path.join(site, "voices", v + ".pt")
        if os.path.isfile(src):
            shutil.copy(src, dst)
        else:  # a random pack under the real name, written by kt-blend from raw float32
            raw = os.path.join(d, v + ".bin")
            array.array("f", (rng.gauss(0, 0.15) for _ in range(510 * 256))).tofile(open(raw, "wb"))
            subprocess.run([os.path.join(BUILD, "kt-blend"), raw, "-o", dst], check=True)
    for dp, _, names in os.walk(site):
        for n in sorted(names):
            path = os.path.join(dp, n)
            rel = os.path.relpath(path, site)
            size, digest = str(os.path.getsize(path)), sha(path)
            recorded = real.get(rel, ("-", "-"))
            if have_shared and recorded[1] != "-" and recorded != (size, digest):
                print("FAIL: %s of KT_SHARED does not match tools/kokoro-v1_0.manifest: %s %s" % (rel, size, digest))
                sys.exit(1)
            rows.append("%s %s %s" % (rel, size, digest))
    manifest = os.path.join(d, "manifest")
    with open(manifest, "w") as f:
        f.write("\n".join(rows) + "\n")
    return site, manifest, have_shared


def main():
    full = os.path.join(FIXTURES, "kokoro-full.pth")
    if not os.path.isfile(full):
        print("check_readme: SKIPPED: needs the full-size random-weight model %s (make fixtures)" % full)
        return
    probe = subprocess.run([os.path.join(BUILD, "kt-synth"), "--print-phonemes", "Hello."], capture_output=True)
    if probe.returncode != 0:
        print("check_readme: SKIPPED: kt-synth converts no text here (built with ESPEAK=0?): %s"
              % probe.stderr.decode().strip())
        return
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    secs = sections(text)
    quick = sh_blocks(secs.get("Quick start", ""))
    usage = sh_blocks(secs.get("Usage", ""))
    if len(quick) != 1 or not usage:
        print("FAIL: README.md needs one ```sh block under '## Quick start' and ```sh blocks under '## Usage'")
        sys.exit(1)
    mk = open(os.path.join(ROOT, "Makefile")).read()
    if not re.search(r"^models:\n\t@?sh tools/fetch-models\.sh\s*$", mk, flags=re.M):
        print("FAIL: the Makefile's models target is not 'sh tools/fetch-models.sh', which this test runs for it")
        sys.exit(1)
    lines = [l for b in quick + usage for l in b.splitlines() if l.strip() and not l.lstrip().startswith("#")]
    script = ["set -e",
              'aplay() { if [ $# -gt 0 ]; then cat "$1"; else cat; fi > "$KT_PLAYED"; '
              '[ "$(head -c 4 "$KT_PLAYED")" = RIFF ] || { echo "aplay: not a WAV" >&2; return 1; }; }']
    for l in lines:
        cmd = l.split("#")[0].strip() if l.strip().startswith("make ") else l
        if cmd in NOT_RUN:
            script.append("echo '## not run here: %s'" % cmd)
            continue
        if cmd == "make models":
            cmd = 'sh "$KT_ROOT/tools/fetch-models.sh"'
        script.append("echo '$ %s'" % l.replace("'", "'\\''"))
        script.append(cmd)
    voices = set(re.findall(r"\b([abefhijpz][fm]_[a-z]+)\b", "\n".join(lines)))
    with tempfile.TemporaryDirectory() as d:
        site, manifest, have_shared = make_site(d, voices)
        work = os.path.join(d, "work")
        os.makedirs(work)
        with open(os.path.join(d, "readme.sh"), "w") as f:
            f.write("\n".join(script) + "\n")
        with Server(site, deadline=900) as srv:
            env = dict(os.environ, PATH=BUILD + os.pathsep + os.environ["PATH"], KT_ROOT=ROOT,
                       KT_MODELS_URL=srv.url, KT_MODELS_MANIFEST=manifest, KT_PLAYED=os.path.join(d, "played"),
                       TMPDIR=d)
            for k in ("KT_MODEL", "KT_VOICES", "KT_MODELS_DIR", "KT_MODELS_VOICES"):
                env.pop(k, None)
            r = subprocess.run(["sh", os.path.join(d, "readme.sh")], cwd=work, env=env, capture_output=True,
                               text=True, timeout=1800)
        out = r.stdout + r.stderr
        if r.returncode != 0:
            ran = [l for l in r.stdout.splitlines() if l.startswith("$ ")]
            print(out[-4000:])
            print("FAIL: README command failed (exit %d): %s" % (r.returncode, ran[-1] if ran else "?"))
            sys.exit(1)
        models = os.path.join(work, "models")
        wavs = ["hello.wav", "out.wav", "p.wav", "q8.wav", "mine.wav"]
        missing = [w for w in wavs if not os.path.isfile(os.path.join(models, w))]
        if missing or open(os.path.join(models, "hello.wav"), "rb").read(4) != b"RIFF":
            print(out[-4000:])
            print("FAIL: the README's commands ran but left no %s in models/" % missing)
            sys.exit(1)
        print("check_readme: %d README commands ran (%s voices), %d not run: %s" %
              (len(lines) - len([l for l in lines if l.split("#")[0].strip() in NOT_RUN]),
               "real" if have_shared else "random", len(NOT_RUN), ", ".join(NOT_RUN)))


main()
