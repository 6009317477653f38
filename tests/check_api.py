#!/usr/bin/python3
"""check_api.py - libkt as installed: `make install PREFIX=<tmp>`, then through pkg-config.

Checks that only the public headers are installed; that libkt.so has its soname and exports
exactly the symbols listed in tests/api/libkt.symbols (all kt_*); that the C++ program
tests/api/cxx_test.cpp compiles against kt/kt.h (-Wall -Wextra -Werror -pedantic), links and
synthesizes; and that the C example docs/example.c (at most 10 API calls) compiles, runs and
writes a WAV. Runs for the plain build only ($KT_BUILD = build; sanitizer builds skip it).
After an intended API change, update the list with:
    nm -D --defined-only build/libkt.so | awk '{print $3}' | sort > tests/api/libkt.symbols
"""
import os
import re
import subprocess
import sys
import tempfile
import wave

BUILD = os.environ.get("KT_BUILD", "build")
TINY = "fixtures/tiny"
CHECKS = 0


def check(cond, what):
    global CHECKS
    CHECKS += 1
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    print("ok  ", what)


def run(args, env=None):
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    return r.returncode, r.stdout.decode("utf-8", "replace")


def wav_frames(path):
    with wave.open(path, "rb") as w:
        return w.getnframes() if w.getframerate() == 24000 and w.getnchannels() == 1 else -1


def check_install(prefix):
    rc, out = run(["make", "--no-print-directory", "-s", "install", "PREFIX=" + prefix])
    check(rc == 0, "make install PREFIX=%s (%s)" % (prefix, out.strip()[-300:]))
    headers = sorted(os.listdir(os.path.join(prefix, "include", "kt")))
    check(headers == ["error.h", "export.h", "kt.h"], "only the public headers are installed: %s" % headers)
    lib = os.path.join(prefix, "lib", "libkt.so")
    rc, out = run(["readelf", "-d", lib])
    check(rc == 0 and "Library soname: [libkt.so.0]" in out, "libkt.so has the soname libkt.so.0")
    rc, out = run(["nm", "-D", "--defined-only", lib])
    got = sorted(line.split()[-1] for line in out.splitlines() if line.strip())
    want = [s for s in open("tests/api/libkt.symbols").read().split() if s]
    check(all(s.startswith("kt_") for s in got), "every exported symbol is kt_*: %s" %
          [s for s in got if not s.startswith("kt_")])
    added, removed = sorted(set(got) - set(want)), sorted(set(want) - set(got))
    check(not added and not removed, "exported symbols match tests/api/libkt.symbols (added %s, removed %s)" %
          (added, removed))


def build_with_pkgconfig(prefix, compiler, src, out, extra):
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
    rc, flags = run(["pkg-config", "--cflags", "--libs", "kt"], env=env)
    check(rc == 0 and "-lkt" in flags, "pkg-config --cflags --libs kt: %s" % flags.strip())
    rc, msg = run([compiler] + extra + [src, "-o", out] + flags.split())
    check(rc == 0, "%s %s compiles and links through pkg-config%s" % (compiler, src, ("\n" + msg) if rc else ""))


def main():
    if os.path.basename(os.path.normpath(BUILD)) != "build":
        print("skip: check_api installs the plain build only (KT_BUILD=%s)" % BUILD)
        return
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "prefix")
        check_install(prefix)
        env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(prefix, "lib"))
        model, config, voices = TINY + "/kokoro-tiny.pth", TINY + "/config.json", TINY + "/voices"

        cxx = os.path.join(tmp, "cxx_test")
        build_with_pkgconfig(prefix, "c++", "tests/api/cxx_test.cpp", cxx,
                             ["-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        wav = os.path.join(tmp, "cxx.wav")
        rc, out = run([cxx, model, config, voices, wav], env=env)
        n = int(out.split()[0]) if rc == 0 and out.split() else -1
        check(rc == 0 and n > 0 and wav_frames(wav) == n, "the C++ program synthesizes (%s)" % out.strip())

        src = open("docs/example.c").read()
        calls = re.findall(r"\b(kt_\w+)\s*\(", src)
        check(len(calls) <= 10, "docs/example.c makes %d API calls (at most 10)" % len(calls))
        ex = os.path.join(tmp, "example")
        build_with_pkgconfig(prefix, "cc", "docs/example.c", ex, ["-std=c11", "-Wall", "-Wextra", "-Werror"])
        wav = os.path.join(tmp, "example.wav")
        rc, out = run([ex, model, config, voices + "/af_tiny.pt", "Hello from the example.", wav], env=env)
        check(rc == 0 and wav_frames(wav) > 0, "docs/example.c writes a WAV (%s)" % out.strip())
    print("%d checks passed" % CHECKS)


if __name__ == "__main__":
    main()
