#!/usr/bin/python3
"""Faults while writing and reading: every tool that writes (kt-convert, kt-blend, kt-synth) must
never leave a partial file under the final name nor touch its input.

Cases, for each tool unless noted:
  - disk full, simulated with RLIMIT_FSIZE (prlimit): once with SIGXFSZ ignored (writes fail with
    EFBIG, like ENOSPC: the tool must exit non-zero with one line on stderr) and once with SIGXFSZ at
    its default action (the tool dies; kt's signal cleanup must remove the temp file);
  - disk full for real on a 64 KiB tmpfs (skipped with a message when mounting is not permitted);
  - an unwritable folder (mode 0555; as root the tool runs as nobody, since root ignores modes);
  - kt-convert on a 256 MB input killed mid-write with SIGTERM and SIGINT (temp file removed) and
    with SIGKILL (at most one temp file .NAME.tmpXXXXXX is left; documented in docs/security.md);
  - kt-convert's input truncated while it is being read: a clean error, success, or death by
    SIGBUS are all acceptable, a partial output or a leftover temp file are not;
  - output targets (as root, in a scratch folder): a character device (a null and a full device
    made with mknod, as /dev/null and /dev/full) and a FIFO are written in place and stay what
    they are; a symbolic link is refused and neither it nor its target changes; a replaced file
    keeps its mode 0600; kt-synth --durations naming a folder, or a full device, leaves no audio
    behind; stdout on a full device (--json, --print-phonemes) is a one-line error, and
    kt-convert removes the output it had written.
Each time: a pre-existing file under the final name keeps its bytes (or no file appears), and the
input's SHA-256 is unchanged. Prints every case; exit 0 when all pass.
"""
import glob
import hashlib
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("KT_BUILD", os.path.join(ROOT, "build"))
TINY = os.path.join(ROOT, "fixtures", "tiny")
failures = []


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def report(name, errors):
    print("%s %s" % ("ok  " if not errors else "FAIL", name))
    for e in errors:
        print("       " + e)
    if errors:
        failures.append(name)


def preexec(fsize=None, xfsz_ignored=False, user=None):
    def f():
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN if xfsz_ignored else signal.SIG_DFL)
        if user is not None:
            os.setgid(user)
            os.setuid(user)
    return f


def temps(out):
    d, b = os.path.split(out)
    return glob.glob(os.path.join(d, "." + b + ".tmp*"))


def check_outcome(out, before, inputs, allow_temp=False, want_fail=True, rc=None, stderr=b""):
    """Errors for the state after a failed (or killed) write."""
    errors = []
    if before is None and os.path.exists(out):
        errors.append("a file appeared under the final name %s (%d bytes)" % (out, os.path.getsize(out)))
    if before is not None and (not os.path.exists(out) or sha(out) != before):
        errors.append("the existing file under the final name was changed")
    left = temps(out)
    if left and not allow_temp:
        errors.append("temp file left: %s" % left)
    if allow_temp and len(left) > 1:
        errors.append("%d temp files left" % len(left))
    for path, digest in inputs.items():
        if sha(path) != digest:
            errors.append("input %s was changed" % path)
    if want_fail and rc == 0:
        errors.append("exit 0 although the write cannot have succeeded")
    if rc is not None and rc > 0:
        lines = stderr.decode(errors="replace").strip().splitlines()
        if len(lines) != 1:
            errors.append("%d lines on stderr, want 1: %r" % (len(lines), stderr[:300]))
    for t in temps(out):
        os.remove(t)
    return errors


def tools(work):
    """[(label, argv builder(out) -> list, inputs, output extension)] for each writing tool."""
    voice = os.path.join(TINY, "voices", "af_tiny.pt")
    model = os.path.join(TINY, "kokoro-tiny.pth")
    config = os.path.join(TINY, "config.json")
    return [
        ("kt-convert", lambda out: [os.path.join(BUILD, "kt-convert"), model, "-o", out], [model], ".safetensors"),
        ("kt-blend", lambda out: [os.path.join(BUILD, "kt-blend"), voice + ":0.5", voice + ":0.5", "-o", out],
         [voice], ".pt"),
        ("kt-synth", lambda out: [os.path.join(BUILD, "kt-synth"), "-m", model, "-c", config, "-v", voice,
                                  "--phonemes", "-o", out, "h\u0259l\u02c8O w\u02c8\u025c\u0279ld"],
         [model, voice], ".wav"),
    ]


def disk_full(work):
    for label, argv, inputs, ext in tools(work):
        digests = {p: sha(p) for p in inputs}
        for existing in (False, True):
            for ignored in (True, False):
                out = os.path.join(work, "out_" + label + ext)
                before = None
                if existing:
                    with open(out, "wb") as f:
                        f.write(b"previous contents\n")
                    before = sha(out)
                r = subprocess.run(argv(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120,
                                   preexec_fn=preexec(fsize=2048, xfsz_ignored=ignored))
                errors = check_outcome(out, before, digests, rc=r.returncode, stderr=r.stderr)
                if ignored and r.returncode < 0:
                    errors.append("killed by signal %d with SIGXFSZ ignored" % -r.returncode)
                report("%s: RLIMIT_FSIZE 2 KiB, SIGXFSZ %s, %s final file (exit %d)" % (
                    label, "ignored" if ignored else "default", "existing" if existing else "no",
                    r.returncode), errors)
                if os.path.exists(out):
                    os.remove(out)


def tmpfs_full(work):
    mnt = os.path.join(work, "small")
    os.mkdir(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    if r.returncode != 0:
        print("SKIP tmpfs disk-full cases: cannot mount a tmpfs here (not root or no CAP_SYS_ADMIN); "
              "the RLIMIT_FSIZE cases above cover the same code path")
        return
    try:
        for label, argv, inputs, ext in tools(work):
            digests = {p: sha(p) for p in inputs}
            out = os.path.join(mnt, "out" + ext)
            with open(os.path.join(mnt, "filler"), "wb") as f:  # leave ~8 KiB free
                try:
                    f.write(b"\0" * (56 << 10))
                except OSError:
                    pass
            r = subprocess.run(argv(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
            errors = check_outcome(out, None, digests, rc=r.returncode, stderr=r.stderr)
            if r.returncode < 0:
                errors.append("killed by signal %d on ENOSPC" % -r.returncode)
            elif b"No space left" not in r.stderr:
                errors.append("message does not say the disk is full: %r" % r.stderr.strip())
            report("%s: full 64 KiB tmpfs (exit %d): %s" % (label, r.returncode,
                                                            r.stderr.decode(errors="replace").strip()), errors)
            os.remove(os.path.join(mnt, "filler"))
    finally:
        subprocess.run(["umount", mnt])


def unwritable(work):
    folder = os.path.join(work, "readonly")
    os.mkdir(folder)
    os.chmod(folder, 0o555)
    os.chmod(work, 0o755)
    user = 65534 if os.geteuid() == 0 else None
    for label, argv, inputs, ext in tools(work):
        digests = {p: sha(p) for p in inputs}
        out = os.path.join(folder, "out" + ext)
        r = subprocess.run(argv(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120,
                           preexec_fn=preexec(user=user))
        errors = check_outcome(out, None, digests, rc=r.returncode, stderr=r.stderr)
        if r.returncode < 0:
            errors.append("killed by signal %d" % -r.returncode)
        if os.listdir(folder):
            errors.append("files appeared in the unwritable folder: %s" % os.listdir(folder))
        report("%s: unwritable folder%s (exit %d): %s" % (label, " as nobody" if user else "", r.returncode,
                                                         r.stderr.decode(errors="replace").strip()), errors)


def big_input(work):
    """A 256 MB safetensors file (64 float32 tensors of 1M values), written directly."""
    path = os.path.join(work, "big.safetensors")
    n, count = 1 << 20, 64
    header = {"t%02d" % i: {"dtype": "F32", "shape": [1024, 1024], "data_offsets": [i * n * 4, (i + 1) * n * 4]}
              for i in range(count)}
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    block = struct.pack("<f", 0.5) * n
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for _ in range(count):
            f.write(block)
    return path


def wait_for_temp(p, out, min_bytes, limit=60.0):
    """Waits until the temp file of out holds min_bytes; False when the process ended first."""
    t0 = time.time()
    while time.time() - t0 < limit:
        for t in temps(out):
            try:
                if os.path.getsize(t) >= min_bytes:
                    return True
            except OSError:
                pass
        if p.poll() is not None:
            return False
        time.sleep(0.002)
    return False


def killed(work, big):
    convert = os.path.join(BUILD, "kt-convert")
    digest = {big: sha(big)}
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):
        for existing in (False, True):
            out = os.path.join(work, "killed.pth")
            before = None
            if existing:
                with open(out, "wb") as f:
                    f.write(b"previous contents\n")
                before = sha(out)
            p = subprocess.Popen([convert, big, "-o", out], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            caught = wait_for_temp(p, out, 16 << 20)
            if caught:
                p.send_signal(sig)
            _, err = p.communicate(timeout=120)
            if not caught:
                report("kt-convert killed by %s" % sig.name, ["the write finished before it could be interrupted "
                                                             "(exit %d)" % p.returncode])
                continue
            errors = check_outcome(out, before, digest, allow_temp=(sig == signal.SIGKILL), want_fail=False)
            if p.returncode != -sig:
                errors.append("exit %d, want death by %s" % (p.returncode, sig.name))
            left = "" if sig != signal.SIGKILL else " (a leftover temp file is allowed and removed)"
            report("kt-convert killed mid-write by %s, %s final file%s" % (
                sig.name, "existing" if existing else "no", left), errors)
            if os.path.exists(out):
                os.remove(out)


def truncated_input(work, big):
    convert = os.path.join(BUILD, "kt-convert")
    src = os.path.join(work, "shrinking.safetensors")
    shutil.copyfile(big, src)
    out = os.path.join(work, "from_shrinking.pth")
    env = dict(os.environ)
    # under ASan, let kt's own SIGBUS handler run (ASan would otherwise take the signal)
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":handle_sigbus=0").lstrip(":")
    p = subprocess.Popen([convert, src, "-o", out], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env=env)
    caught = wait_for_temp(p, out, 4 << 20)
    if caught:
        os.truncate(src, os.path.getsize(src) // 3)
    _, err = p.communicate(timeout=120)
    errors = []
    if not caught:
        errors.append("conversion finished before the input could be truncated (exit %d)" % p.returncode)
    elif p.returncode == 0:
        # finished from pages already read: the output must then be complete and valid
        r = subprocess.run([os.path.join(BUILD, "kt-inspect"), out], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        if r.returncode != 0:
            errors.append("exit 0 but the output does not open: %s" % r.stderr.strip())
        os.remove(out)
    else:
        errors += check_outcome(out, None, {}, rc=p.returncode, stderr=err, want_fail=False)
        if p.returncode < 0 and p.returncode != -signal.SIGBUS:
            errors.append("died by signal %d, want SIGBUS or a clean error" % -p.returncode)
    how = "SIGBUS" if p.returncode == -signal.SIGBUS else "exit %d" % p.returncode
    report("kt-convert with its input truncated to 1/3 mid-read (%s)" % how, errors)


def one_line(r):
    lines = r.stderr.decode(errors="replace").strip().splitlines()
    return [] if len(lines) == 1 else ["%d lines on stderr, want 1: %r" % (len(lines), r.stderr[:300])]


def fifo_reader(path, got):
    """Reads path (a FIFO) to the end in a thread; got[0] receives the byte count."""
    import threading

    def run():
        with open(path, "rb") as f:
            got[0] = len(f.read())
    t = threading.Thread(target=run)
    t.start()
    return t


def fifo_unblock(path, t):
    """Ends a reader that still waits because no writer ever opened the FIFO."""
    t.join(0.2)
    if t.is_alive():
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        t.join()


def output_targets(work):
    import stat
    folder = os.path.join(work, "targets")
    os.mkdir(folder)
    can_mknod = os.geteuid() == 0
    for label, argv, inputs, ext in tools(work):
        ext = ".wav" if label == "kt-synth" else ".safetensors"
        if can_mknod:
            for dev, minor, want in (("null", 3, 0), ("full", 7, 3)):
                out = os.path.join(folder, dev + ext)
                os.mknod(out, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
                r = subprocess.run(argv(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
                errors = [] if r.returncode == want else ["exit %d, want %d" % (r.returncode, want)]
                errors += one_line(r) if want else []
                if not stat.S_ISCHR(os.lstat(out).st_mode):
                    errors.append("the device node was replaced by a regular file")
                if temps(out):
                    errors.append("temp file left: %s" % temps(out))
                report("%s: output is a %s device (exit %d)" % (label, dev, r.returncode), errors)
                os.remove(out)
        out = os.path.join(folder, "fifo" + ext)
        os.mkfifo(out)
        got = [None]
        t = fifo_reader(out, got)
        r = subprocess.run(argv(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
        fifo_unblock(out, t)
        errors = one_line(r) if r.returncode else ([] if got[0] else ["exit 0 but nothing reached the reader"])
        if r.returncode < 0:
            errors.append("killed by signal %d" % -r.returncode)
        if not stat.S_ISFIFO(os.lstat(out).st_mode):
            errors.append("the FIFO was replaced by a regular file")
        report("%s: output is a FIFO (exit %d, %s bytes read): %s" % (
            label, r.returncode, got[0], r.stderr.decode(errors="replace").strip()), errors)
        os.remove(out)
        target, link = os.path.join(folder, "target" + ext), os.path.join(folder, "link" + ext)
        with open(target, "wb") as f:
            f.write(b"previous contents\n")
        os.symlink(os.path.basename(target), link)
        r = subprocess.run(argv(link), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
        errors = one_line(r) + check_outcome(target, sha(target), {}, rc=r.returncode, stderr=r.stderr)
        if not os.path.islink(link):
            errors.append("the symbolic link was replaced")
        if b"symbolic link" not in r.stderr:
            errors.append("message does not say it is a link: %r" % r.stderr.strip())
        report("%s: output is a symbolic link (exit %d): %s" % (label, r.returncode,
                                                             r.stderr.decode(errors="replace").strip()), errors)
        os.remove(link)
        os.remove(target)
        out = os.path.join(folder, "private" + ext)
        with open(out, "wb") as f:
            f.write(b"previous contents\n")
        os.chmod(out, 0o600)
        r = subprocess.run(argv(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
        mode = stat.S_IMODE(os.stat(out).st_mode)
        errors = [] if r.returncode == 0 else ["exit %d" % r.returncode]
        if mode != 0o600:
            errors.append("mode %o after the overwrite, want 600" % mode)
        report("%s: a replaced file keeps its mode 600 (now %o)" % (label, mode), errors)
        os.remove(out)
    synth = tools(work)[2][1]
    out = os.path.join(folder, "with_durations.wav")
    for durations, what in (("/", "a folder"), (os.path.join(folder, "full.json"), "a full device")):
        if durations != "/":
            if not can_mknod:
                continue
            os.mknod(durations, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
        r = subprocess.run(synth(out) + ["--durations", durations], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=120)
        errors = one_line(r) + check_outcome(out, None, {}, rc=r.returncode, stderr=r.stderr)
        report("kt-synth --durations naming %s leaves no audio (exit %d): %s" % (
            what, r.returncode, r.stderr.decode(errors="replace").strip()), errors)
        if durations != "/":
            os.remove(durations)
    convert, blend = tools(work)[0][1], tools(work)[1][1]
    out = os.path.join(folder, "json.safetensors")
    cases = [("kt-convert --json", convert(out) + ["--json"], out),
             ("kt-blend --json", blend(os.path.join(folder, "json.pt")) + ["--json"], None),
             ("kt-synth --print-phonemes", [os.path.join(BUILD, "kt-synth"), "--print-phonemes", "Hello world."], None),
             ("kt-synth --json", tools(work)[2][1](os.path.join(folder, "json.wav")) + ["--json"],
              os.path.join(folder, "json.wav")),
             ("kt-inspect", [os.path.join(BUILD, "kt-inspect"), os.path.join(TINY, "voices", "af_tiny.pt")], None)]
    for label, args, written in cases:
        with open("/dev/full", "wb") as full:
            r = subprocess.run(args, stdout=full, stderr=subprocess.PIPE, timeout=120)
        errors = one_line(r) + ([] if r.returncode == 3 else ["exit %d, want 3" % r.returncode])
        if written and os.path.exists(written):
            errors.append("the output of the failed run was left: %s" % written)
        report("%s with stdout on /dev/full (exit %d): %s" % (label, r.returncode,
                                                             r.stderr.decode(errors="replace").strip()), errors)


def main():
    need = [os.path.join(BUILD, t) for t in ("kt-convert", "kt-blend", "kt-synth", "kt-inspect")]
    missing = [t for t in need if not os.access(t, os.X_OK)]
    if missing:
        print("check_faults: FAIL: not built: %s" % missing)
        return 1
    work = tempfile.mkdtemp(prefix="kt_faults_")
    try:
        disk_full(work)
        tmpfs_full(work)
        unwritable(work)
        big = big_input(work)
        killed(work, big)
        truncated_input(work, big)
        output_targets(work)
    finally:
        subprocess.run(["chmod", "-R", "u+w", work])
        shutil.rmtree(work, ignore_errors=True)
    print("check_faults: %d failures" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
