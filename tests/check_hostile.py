#!/usr/bin/python3
"""Every tool that opens files refuses every hostile file cleanly, within a memory bound.

For each file of fixtures/hostile (expected.json) plus a few generated here (a legacy .pt whose
storage declares 2**40 elements, a pth whose pickle memo index is just under the limit, an npz
whose deflated member declares 1000x its compressed size, a safetensors header declaring 99 MB)
the tools run as a user would run them:
  kt-inspect FILE;  kt-blend FILE -o OUT.pt;  kt-convert FILE -o OUT.safetensors;
  kt-synth -m FILE ... -o OUT.wav;  kt-synth -m TINY -v FILE ... -o OUT.wav
Each must exit with 1..4 (never a signal, never 0, within 30 s), print one line on stderr that
names the file and holds expected.json's message (or "forbidden global" for an unsafe pickle),
create no output and run no pickle command (no /tmp/kt_hostile_pwned_* marker). Peak RSS
(getrusage of the child) must stay under the tool's RSS on an empty file + 4 x the file's size
+ 16 MB (64 MB under the sanitizers, whose shadow memory and quarantine add noise). A
child's peak RSS includes its parent's at fork time, so this checker imports neither torch nor
numpy (torch runs in a child to build the legacy file); the baseline absorbs Python's own RSS.
The memo file is valid (an empty dict) and may load; only its memory is checked. The files of
gen_hostile.LARGE (memo-key, value, stack and nesting floods, a storage that really inflates to
256 MiB, stride-0 tensors declaring 2**36 elements or a [5e6, 510, 32] voice stack, two stride-0
tensors whose element counts sum past int64, 200,000 tensors in one safetensors header, a
duplicate metadata key) are built here and run the same way; a file declaring many tensors is
allowed 512 bytes per declared tensor on top of the bound. round2() then checks one-line errors and
escaped names (tensor and npz member names with ANSI escapes, a config vocab key with a newline),
config range messages naming the key, NUL in config.json, out-of-range --speed/--threads/--seed/
--first-chunk (exit 2, one line), kt-convert's output bound and kt-inspect --stats/--values on a
2**36-element stride-0 tensor,
npz member names that are never paths, the RSS of a 10,000-term blend (one term's + the slack) and
the time of G2P on a 100,000-letter word.
Outside the sanitizer build, kt-inspect also runs under RLIMIT_AS = what it needs for a small
valid file + 8 x the file's size + 16 MB, and must still give the file's own message (not "out
of memory"): this counts every allocation, touched or not. Exit 0 when everything holds.
"""
import glob
import json
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_hostile  # noqa: E402  (stdlib only at import: no torch, no numpy)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("KT_BUILD", os.path.join(ROOT, "build"))
HOSTILE = os.path.join(ROOT, "fixtures", "hostile")
TINY = os.path.join(ROOT, "fixtures", "tiny")
SAN = os.path.basename(os.path.normpath(BUILD)).endswith("san")
SLACK = (64 if SAN else 16) << 20
TIMEOUT = 30
# Declared tensors each need a descriptor (kt's list entry and name, a layout record, and the
# tools' own per-tensor bookkeeping, e.g. kt-convert's): docs/security.md allows 512 bytes each.
PER_TENSOR = 1536 if SAN else 512  # ASan adds a redzone and a header to every small allocation
DECLARED_TENSORS = {"safetensors_200k_tensors.safetensors": 200_000}
# kt's own messages where expected.json (the pickle-level cases) gives none
KT_MESSAGES = {
    "empty.pth": "empty file",
    "huge_dimensions.pth": "pickle: tensor dimension product overflows",
    "negative_dimension.pth": "pickle: tensor size and stride are not matching tuples of non-negative ints",
    "reference_bomb.pth": "pickle: containers nested deeper than 64",
    "storage_entry_short.pth": "pth: storage '0' has 16 bytes, needs 1600",
    "storage_offset_past_end.pth": "pickle: tensor of 2 elements at offset 1000 does not fit its storage '0' of 4",
    "tensor_larger_than_storage.pth": "pickle: tensor of 100 elements at offset 0 does not fit its storage '0' of 4",
}


def run_limited(argv, as_bytes):
    """(exit code, stderr) of argv under RLIMIT_AS = as_bytes (address space: every allocation counts,
    touched or not)."""
    def lim():
        resource.setrlimit(resource.RLIMIT_AS, (as_bytes, as_bytes))
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=lim, env=env,
                       timeout=TIMEOUT)
    return r.returncode, r.stderr.decode(errors="replace").strip()


def min_address_space(argv):
    """The smallest RLIMIT_AS (to 1 MB) under which argv exits 0, by bisection."""
    lo, hi = 1 << 20, 8 << 30
    if run_limited(argv, hi)[0] != 0:
        return None
    while hi - lo > (1 << 20):
        mid = (lo + hi) // 2
        if run_limited(argv, mid)[0] == 0:
            hi = mid
        else:
            lo = mid
    return hi


def address_space_check(files):
    """kt-inspect under RLIMIT_AS = (what it needs for a small valid file) + 8 x size + 16 MB must
    still give each file's own message: no file makes kt reserve memory out of proportion."""
    inspect = os.path.join(BUILD, "kt-inspect")
    base = min_address_space([inspect, os.path.join(TINY, "voices", "af_tiny.pt")])
    if base is None:
        print("FAIL kt-inspect cannot read the tiny voice even without a limit")
        return 1
    print("kt-inspect needs %.0f MB of address space for a small valid file" % (base / 2**20))
    failures = 0
    for name, path, needle, may_succeed in files:
        limit = base + 8 * os.path.getsize(path) + (16 << 20) + 2 * PER_TENSOR * DECLARED_TENSORS.get(name, 0)
        rc, err = run_limited([inspect, path], limit)
        errors = []
        if rc < 0:
            errors.append("killed by signal %d" % -rc)
        if "out of memory" in err:
            errors.append("ran out of memory: %s" % err)
        elif needle and needle not in err:
            errors.append("message %r lacks %r" % (err, needle))
        if rc == 0 and not may_succeed:
            errors.append("exit 0")
        print("%s RLIMIT_AS %4.0f MB  %-38s %s" % ("ok  " if not errors else "FAIL", limit / 2**20, name,
                                                  err.splitlines()[0] if err else "exit %d" % rc))
        for e in errors:
            print("       " + e)
        failures += bool(errors)
    return failures


def run_measured(argv):
    """(exit code or -signal, stderr bytes, peak RSS in bytes) of argv."""
    env = os.environ
    if SAN:  # ASan keeps freed memory in a quarantine (256 MB by default) that RSS would count
        env = dict(env, ASAN_OPTIONS=(env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16").lstrip(":"))
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env)
        timer = threading.Timer(TIMEOUT, p.kill)
        timer.start()
        _, status, usage = os.wait4(p.pid, 0)
        timer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return p.returncode, err.read(), usage.ru_maxrss * 1024


def commands(path, out_dir):
    voice = os.path.join(TINY, "voices", "af_tiny.pt")
    model = os.path.join(TINY, "kokoro-tiny.pth")
    config = os.path.join(TINY, "config.json")
    synth = os.path.join(BUILD, "kt-synth")
    ph = "h\u0259l\u02c8O"
    return [
        ("kt-inspect", [os.path.join(BUILD, "kt-inspect"), path], None),
        ("kt-blend", [os.path.join(BUILD, "kt-blend"), path, "-o", os.path.join(out_dir, "o.pt")], "o.pt"),
        ("kt-convert", [os.path.join(BUILD, "kt-convert"), path, "-o", os.path.join(out_dir, "o.safetensors")],
         "o.safetensors"),
        ("kt-synth -m", [synth, "-m", path, "-c", config, "-v", voice, "--phonemes", "-o",
                         os.path.join(out_dir, "o.wav"), ph], "o.wav"),
        ("kt-synth -v", [synth, "-m", model, "-c", config, "-v", path, "--phonemes", "-o",
                         os.path.join(out_dir, "o2.wav"), ph], "o2.wav"),
    ]


LEGACY_SCRIPT = r"""
import struct, sys, torch
path = sys.argv[1]
torch.save({"w": torch.arange(7, dtype=torch.float32)}, path, _use_new_zipfile_serialization=False)
data = bytearray(open(path, "rb").read())
pos = len(data) - 7 * 4 - 8  # after the pickles: per storage an int64 element count, then the bytes
assert struct.unpack_from("<q", data, pos)[0] == 7, "unexpected legacy layout"
struct.pack_into("<q", data, pos, 1 << 40)
open(path, "wb").write(data)
"""


def generated(work):
    """Files built here that declare far more than they hold: [(name, path, message, may_succeed)].
    torch runs in a child process: this checker stays small, since a child's peak RSS as
    getrusage reports it includes the RSS of the parent it was forked from."""
    out = []
    legacy = os.path.join(work, "legacy_declares_2e40.pt")
    subprocess.run([sys.executable, "-c", LEGACY_SCRIPT, legacy], check=True)
    out.append(("legacy_declares_2e40.pt", legacy, "holds 1099511627776 elements, pickle says 7", False))
    # a pth whose pickle stores into memo slot 1048575 (just under the limit) before anything else
    memo = os.path.join(work, "memo_high_index.pth")
    with zipfile.ZipFile(memo, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}r\xff\xff\x0f\x00.")
        z.writestr("archive/version", b"3\n")
    out.append(("memo_high_index.pth", memo, None, True))  # valid: an empty dict
    # an npz whose deflated member declares ~1000x its compressed bytes but holds garbage
    npz = os.path.join(work, "npz_declares_1000x.npz")
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    comp = raw.compress(random.Random(6).randbytes(64 << 10)) + raw.flush()  # incompressible
    name = b"voice.npy"
    declared = len(comp) * 1000
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, 0, len(comp), declared, len(name), 0) + name
    cd = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, 0, len(comp), declared, len(name),
                     0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(cd), len(local) + len(comp), 0)
    open(npz, "wb").write(local + comp + cd + end)
    out.append(("npz_declares_1000x.npz", npz, "inflates to %d bytes; the archive's deflated entries may inflate "
                "to" % declared, False))
    # a safetensors file whose header length says 99 MB
    st = os.path.join(work, "safetensors_header_99mb.safetensors")
    open(st, "wb").write(struct.pack("<Q", 99_000_000) + b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}')
    out.append(("safetensors_header_99mb.safetensors", st, "not a tensor file kt knows", False))
    # gen_hostile.LARGE: small on disk, asking for far more memory than their size
    for name, build, needle, _ in gen_hostile.LARGE:
        path = os.path.join(work, name)
        with open(path, "wb") as f:
            f.write(build())
        out.append((name, path, needle, needle is None))
    return out


def st_file(path, names):
    """A safetensors file of one-float tensors with the given names."""
    h = json.dumps({n: {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]}
                    for i, n in enumerate(names)}).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + bytes(4 * len(names)))
    return path


def run_plain(argv, **kw):
    """(exit code, stdout bytes, stderr text); a run past 2 x TIMEOUT is killed and reported."""
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT * 2, **kw)
    except subprocess.TimeoutExpired:
        return -9, b"", "killed after %d s" % (TIMEOUT * 2)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace").strip()


def round2(work, out_dir):
    """Messages, configuration ranges, speed bounds, output bound, npz member names, blend
    expressions and G2P time. Returns the number of failures."""
    failures = 0

    def check(name, errors):
        nonlocal failures
        print("%s %s" % ("ok  " if not errors else "FAIL", name))
        for e in errors:
            print("       " + e)
        failures += bool(errors)

    def one_line(rc, err, want_rc=None, needle=None):
        errors = [] if len(err.splitlines()) == 1 else ["%d lines on stderr: %r" % (len(err.splitlines()), err)]
        if want_rc is not None and rc != want_rc:
            errors.append("exit %d, want %d" % (rc, want_rc))
        if needle and needle not in err:
            errors.append("message %r lacks %r" % (err, needle))
        return errors

    B = lambda t: os.path.join(BUILD, t)  # noqa: E731
    voice = os.path.join(TINY, "voices", "af_tiny.pt")
    model = os.path.join(TINY, "kokoro-tiny.pth")
    config = os.path.join(TINY, "config.json")
    synth = [B("kt-synth"), "-m", model, "-v", voice, "--phonemes", "-o", os.path.join(out_dir, "s.wav")]
    # names from files reach the terminal escaped, and errors stay on one line
    evil = st_file(os.path.join(work, "evil_names.safetensors"), ["\x1b[31mred\x1b[0m", "two\nlines", "\x9b2J"])
    rc, so, err = run_plain([B("kt-inspect"), evil])
    errors = [] if rc == 0 else ["exit %d: %s" % (rc, err)]
    if b"\x1b" in so or b"\xc2\x9b" in so or b"two\n" in so:
        errors.append("a control character from a tensor name reached stdout: %r" % so[:300])
    check("kt-inspect prints tensor names with control characters escaped", errors)
    npz = os.path.join(work, "evil_members.npz")
    head = b"{'descr': '<f4', 'fortran_order': False, 'shape': (510, 1, 16), }"
    head += b" " * (-(10 + len(head) + 1) % 64) + b"\n"
    with zipfile.ZipFile(npz, "w") as z:
        z.writestr("\x1b]0;title\x07.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head)) + head +
                   bytes(510 * 16 * 4))
    rc, so, err = run_plain([B("kt-blend"), "--list", npz])
    errors = [] if rc == 0 else ["exit %d: %s" % (rc, err)]
    if b"\x1b" in so or b"\x07" in so:
        errors.append("a control character from a member name reached stdout: %r" % so[:300])
    check("kt-blend --list prints member names with control characters escaped", errors)
    cfg = json.load(open(config))

    def bad_config(name, edit, needle):
        c = json.loads(json.dumps(cfg))
        edit(c)
        path = os.path.join(work, name)
        with open(path, "w") as f:
            json.dump(c, f)
        rc, _, err = run_plain([B("kt-synth"), "-m", model, "-c", path, "-v", voice, "--phonemes", "-o",
                                os.path.join(out_dir, "c.wav"), "h\u0259l\u02c8O"])
        check("config %s: %s" % (name, err), one_line(rc, err, 4, needle) +
              (["output left"] if os.listdir(out_dir) else []))
    bad_config("vocab_newline.json", lambda c: c["vocab"].update({"a\nkt-synth: forged": 3}), "\\x0a")
    bad_config("hop_huge.json", lambda c: c["istftnet"].update({"gen_istft_hop_size": 10 ** 6}),
               "istftnet.gen_istft_hop_size")
    bad_config("dilation_2e20.json", lambda c: c["istftnet"]["resblock_dilation_sizes"][0].__setitem__(0, 1 << 20),
               "istftnet.resblock_dilation_sizes")
    bad_config("hidden_dim_huge.json", lambda c: c.update({"hidden_dim": 1 << 30}), '"hidden_dim"')
    nul = os.path.join(work, "config_nul.json")
    with open(nul, "wb") as f:
        f.write(open(config, "rb").read().rstrip() + b"\x00")
    rc, _, err = run_plain([B("kt-synth"), "-m", model, "-c", nul, "-v", voice, "--phonemes", "-o",
                            os.path.join(out_dir, "c.wav"), "h\u0259l\u02c8O"])
    check("config with a NUL byte: %s" % err, one_line(rc, err, 4, "NUL"))
    # command-line values out of range: one line, exit 2, before any work
    for opt, val in (("--speed", "1e-10"), ("--speed", "4e-320"), ("--speed", "nan"), ("--speed", "11"),
                     ("--threads", "99999999999"), ("--seed", "-1"), ("--seed", "4294967296"),
                     ("--first-chunk", "-5")):
        rc, _, err = run_plain(synth + [opt, val, "h\u0259l\u02c8O"])
        check("kt-synth %s %s: %s" % (opt, val, err), one_line(rc, err, 2))
    # output size: a stride-0 tensor of 2**36 elements is refused before anything is written
    big = os.path.join(work, "stride0_2e36.pth")
    t0 = time.time()
    rc, _, err = run_plain([B("kt-convert"), big, "-o", os.path.join(out_dir, "big.safetensors")])
    dt = time.time() - t0
    check("kt-convert of a 2**36-element stride-0 tensor (%.2f s): %s" % (dt, err),
          one_line(rc, err, 1, "over the limit") + (["output left"] if os.listdir(out_dir) else []) +
          (["took %.1f s" % dt] if dt > 10 else []))
    for args in (["--stats"], ["--json", "--values"]):
        t0 = time.time()
        rc, _, err = run_plain([B("kt-inspect"), big] + args)
        dt = time.time() - t0
        check("kt-inspect %s of a 2**36-element stride-0 tensor (%.2f s): %s" % (" ".join(args), dt, err),
              one_line(rc, err, 1, "would read 68719476736 elements") + (["took %.1f s" % dt] if dt > 10 else []))
    # npz member names never become paths
    names = st_file(os.path.join(work, "path_names.safetensors"), ["../../escape", "/abs/name", "a\\b"])
    out = os.path.join(out_dir, "names.npz")
    rc, _, err = run_plain([B("kt-convert"), names, "-o", out])
    members = zipfile.ZipFile(out).namelist() if rc == 0 else []
    bad = [m for m in members if m.startswith("/") or "\\" in m or any(ord(c) < 32 for c in m)
           or any(part in ("", ".", "..") for part in m.split("/"))]
    check("npz members from hostile tensor names: %s" % members,
          (["exit %d: %s" % (rc, err)] if rc else []) + (["unsafe member names: %s" % bad] if bad else []))
    for f in os.listdir(out_dir):
        os.remove(os.path.join(out_dir, f))
    # a blend expression of 10,000 terms costs one voice, not 10,000
    terms = [os.path.relpath(voice) + ":1"] * 10000
    base = run_measured([B("kt-blend"), terms[0], "-o", os.path.join(out_dir, "b.pt")])[2]
    rc, err, rss = run_measured([B("kt-blend")] + terms + ["-o", os.path.join(out_dir, "b.pt")])
    allow = 4 * SLACK if SAN else SLACK  # ASan's allocator reuses freed blocks late (10,000 loads)
    check("kt-blend of 10,000 terms: peak RSS %.1f MB (one term: %.1f MB)" % (rss / 2**20, base / 2**20),
          ([] if rc == 0 else ["exit %d: %s" % (rc, err)]) +
          (["peak RSS over one term's + %d MB" % (allow >> 20)] if rss > base + allow else []))
    for f in os.listdir(out_dir):
        os.remove(os.path.join(out_dir, f))
    # G2P in linear time: a 100,000-letter word
    word = os.path.join(work, "word.txt")
    rnd = random.Random(19)
    with open(word, "w") as f:
        f.write("".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(100000)) + "\n")
    t0 = time.time()
    rc, so, err = run_plain([B("kt-synth"), "--print-phonemes", "-f", word])
    dt = time.time() - t0
    check("kt-synth --print-phonemes of a 100,000-letter word: %.2f s, %d bytes of phonemes" % (dt, len(so)),
          ([] if rc == 0 else ["exit %d: %s" % (rc, err)]) + (["took %.1f s" % dt] if dt > (60 if SAN else 10)
                                                              else []))
    return failures


def main():
    missing = [t for t in ("kt-inspect", "kt-blend", "kt-convert", "kt-synth")
               if not os.access(os.path.join(BUILD, t), os.X_OK)]
    if missing:
        print("check_hostile: FAIL: not built: %s" % missing)
        return 1
    with open(os.path.join(HOSTILE, "expected.json")) as f:
        expected = json.load(f)
    marker = expected.get("marker_prefix", "/tmp/kt_hostile_pwned_")
    work = tempfile.mkdtemp(prefix="kt_hostile_")
    out_dir = os.path.join(work, "out")
    os.mkdir(out_dir)
    failures = 0
    try:
        files = []
        for name in sorted(expected["files"]):
            e = expected["files"][name]
            needle = e.get("message_contains") or KT_MESSAGES.get(name) or (
                "pickle: forbidden global" if e.get("status") == "unsafe" else None)
            files.append((name, os.path.relpath(os.path.join(HOSTILE, name)), needle, False))
        files += generated(work)
        empty = os.path.join(work, "empty.pth")
        open(empty, "wb").close()
        base = {label: run_measured(argv)[2] for label, argv, _ in commands(empty, out_dir)}
        print("baseline peak RSS on an empty file: %s" % ", ".join("%s %.1f MB" % (k, v / 2**20)
                                                                   for k, v in base.items()))
        worst = 0.0
        for name, path, needle, may_succeed in files:
            size = os.path.getsize(path)
            for label, argv, out in commands(path, out_dir):
                for m in glob.glob(marker + "*"):
                    os.remove(m)
                rc, err, rss = run_measured(argv)
                text = err.decode(errors="replace").strip()
                lines = text.splitlines()
                errors = []
                if rc < 0:
                    errors.append("killed by signal %d (crash or hang)" % -rc)
                elif rc > 4 or (rc == 0 and not may_succeed):
                    errors.append("exit code %d, want 1..4" % rc)
                if rc == 0 and may_succeed:
                    pass
                elif not lines or len(lines) != 1:
                    errors.append("%d lines on stderr, want 1: %r" % (len(lines), text[:300]))
                elif path not in lines[0]:
                    errors.append("stderr does not name the file: %r" % lines[0])
                if needle and needle not in text:
                    errors.append("message %r lacks %r" % (text, needle))
                if out and os.path.exists(os.path.join(out_dir, out)) and rc != 0:
                    errors.append("an output file was written")
                if os.listdir(out_dir) and rc != 0:
                    errors.append("files left in the output folder: %s" % os.listdir(out_dir))
                for f in os.listdir(out_dir):
                    os.remove(os.path.join(out_dir, f))
                if glob.glob(marker + "*"):
                    errors.append("SIDE EFFECT: a pickle command ran")
                bound = base[label] + 4 * size + SLACK + PER_TENSOR * DECLARED_TENSORS.get(name, 0)
                if rss > bound:
                    errors.append("peak RSS %.1f MB over the bound %.1f MB (base + 4 x %d bytes + %d MB)" % (
                        rss / 2**20, bound / 2**20, size, SLACK >> 20))
                worst = max(worst, (rss - base[label]) / 2**20)
                print("%s %-12s %-38s exit %d, RSS +%.1f MB: %s" % ("ok  " if not errors else "FAIL", label, name,
                                                                  rc, (rss - base[label]) / 2**20,
                                                                  lines[0] if lines else ""))
                for e in errors:
                    print("       " + e)
                failures += bool(errors)
        failures += round2(work, out_dir)
        if SAN:
            print("SKIP RLIMIT_AS checks: the sanitizers reserve terabytes of address space")
        else:
            failures += address_space_check(files)
        print("check_hostile: %d files x %d tools, largest RSS over baseline %.1f MB, %d failures" % (
            len(files), len(commands(empty, out_dir)), worst, failures))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
