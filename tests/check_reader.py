#!/usr/bin/python3
"""Cross-checks kt's checkpoint readers against PyTorch, value for value.

For every fixture listed in $KT_FIXTURES/manifest.json (tests/gen_fixtures.py; generated
into a temporary folder when absent) and every real voice pack in $KT_SHARED/kokoro/voices,
runs `$KT_BUILD/kt-inspect --json --values FILE` and compares with torch.load(FILE)
flattened (dict keys joined with '.', list/tuple items by index, a bare tensor named ""):
names and their order, dtype, shape, numel, bytes, every value bit for bit (NaN as "nan",
infinities as "inf"/"-inf"), total_params, total_bytes and the format.

For every file in fixtures/hostile: kt-inspect must exit with 1 or 2 (not a signal, not a
hang), print exactly one line on stderr naming the file and nothing on stdout, contain the
zip reader's message where expected.json gives one, and no pickle command may have run
(no /tmp/kt_hostile_pwned_* marker). Exit 0 when everything matches.
"""
import glob
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("KT_BUILD", os.path.join(ROOT, "build"))
FIXTURES = os.environ.get("KT_FIXTURES", os.path.join(BUILD, "fixtures"))
SHARED = os.environ.get("KT_SHARED", os.path.join(ROOT, "..", "shared"))
HOSTILE = os.path.join(ROOT, "fixtures", "hostile")
INSPECT = os.path.join(BUILD, "kt-inspect")
TIMEOUT = 30

DTYPES = {torch.float32: "float32", torch.float64: "float64", torch.float16: "float16",
          torch.bfloat16: "bfloat16", torch.int8: "int8", torch.int16: "int16", torch.int32: "int32",
          torch.int64: "int64", torch.uint8: "uint8", torch.bool: "bool"}
FLOATS = {"float32", "float64", "float16", "bfloat16"}


def key_name(k):
    """A dict key as kt names it (Python spelling for non-strings)."""
    if isinstance(k, str):
        return k
    if isinstance(k, float):
        return repr(k)
    return str(k)


def flatten(obj, prefix=None, out=None):
    """[(name, tensor)] in tree order; a bare root tensor is named ""."""
    out = [] if out is None else out
    if isinstance(obj, torch.Tensor):
        out.append(("" if prefix is None else prefix, obj))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, key_name(k) if prefix is None else prefix + "." + key_name(k), out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            flatten(v, str(i) if prefix is None else "%s.%d" % (prefix, i), out)
    return out


def run_inspect(path):
    return subprocess.run([INSPECT, "--json", "--values", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=TIMEOUT)


def compare_floats(got, ref):
    """got: JSON values, ref: tensor. Returns an error string or None."""
    want = ref.detach().double().contiguous().view(-1).numpy()
    vals = np.empty(len(got), dtype=np.float64)
    for i, v in enumerate(got):
        if isinstance(v, str):
            if v not in ("nan", "inf", "-inf"):
                return "value %d is the string %r" % (i, v)
            vals[i] = float(v)
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            return "value %d is %r, not a number" % (i, v)
        else:
            vals[i] = float(v)
    nan_got, nan_want = np.isnan(vals), np.isnan(want)
    if not np.array_equal(nan_got, nan_want):
        i = int(np.argmax(nan_got != nan_want))
        return "value %d: got %r, want %r" % (i, got[i], float(want[i]))
    ok = nan_got | (vals.view(np.int64) == want.view(np.int64))  # bit for bit: -0.0 differs from 0.0
    if not ok.all():
        i = int(np.argmin(ok))
        return "value %d: got %r, want %r" % (i, got[i], float(want[i]))
    return None


def compare_values(got, ref, dtype):
    if len(got) != ref.numel():
        return "%d values for %d elements" % (len(got), ref.numel())
    if dtype in FLOATS:
        return compare_floats(got, ref)
    want = ref.detach().contiguous().view(-1).tolist()
    for i, (g, w) in enumerate(zip(got, want)):
        if dtype == "bool":
            if not isinstance(g, bool) or g != w:
                return "value %d: got %r, want %r" % (i, g, w)
        elif isinstance(g, bool) or not isinstance(g, int) or g != w:
            return "value %d: got %r, want %r" % (i, g, w)
    return None


def compare_file(path, fmt, stats):
    """Returns a list of error strings for one readable file."""
    try:
        r = run_inspect(path)
    except subprocess.TimeoutExpired:
        return ["kt-inspect did not finish within %d s" % TIMEOUT]
    if r.returncode != 0:
        return ["kt-inspect exit %d: %s" % (r.returncode, r.stderr.decode(errors="replace").strip())]
    try:
        doc = json.loads(r.stdout)
    except ValueError as e:
        return ["kt-inspect printed invalid JSON: %s" % e]
    ref = flatten(torch.load(path, map_location="cpu"))
    errors = []
    got = doc.get("tensors", [])
    if fmt and doc.get("format") != fmt:
        errors.append("format %r, want %r" % (doc.get("format"), fmt))
    names_got, names_want = [t.get("name") for t in got], [n for n, _ in ref]
    if names_got != names_want:
        if sorted(names_got, key=str) == sorted(names_want, key=str):
            errors.append("tensor order differs: got %s, want %s" % (names_got[:8], names_want[:8]))
        else:
            errors.append("names differ: only kt %s; only torch %s" % (
                sorted(set(names_got) - set(names_want), key=str)[:8],
                sorted(set(names_want) - set(names_got), key=str)[:8]))
        return errors
    total_params = total_bytes = 0
    for t, (name, want) in zip(got, ref):
        dtype = DTYPES.get(want.dtype, str(want.dtype))
        label = "tensor %r" % name
        if t.get("dtype") != dtype:
            errors.append("%s: dtype %r, want %r" % (label, t.get("dtype"), dtype))
            continue
        if t.get("shape") != list(want.shape):
            errors.append("%s: shape %r, want %r" % (label, t.get("shape"), list(want.shape)))
            continue
        nbytes = want.numel() * want.element_size()
        if t.get("numel") != want.numel() or t.get("bytes") != nbytes:
            errors.append("%s: numel/bytes %r/%r, want %d/%d" % (label, t.get("numel"), t.get("bytes"),
                                                                 want.numel(), nbytes))
        e = compare_values(t.get("values", []), want, dtype)
        if e:
            errors.append("%s: %s" % (label, e))
        total_params += want.numel()
        total_bytes += nbytes
        stats["tensors"] += 1
        stats["values"] += want.numel()
        stats["dtypes"].add(dtype)
        if not want.is_contiguous():
            stats["strided"] += 1
    if doc.get("total_params") != total_params or doc.get("total_bytes") != total_bytes:
        errors.append("totals %r params / %r bytes, want %d / %d" % (doc.get("total_params"),
                                                                   doc.get("total_bytes"), total_params, total_bytes))
    return errors


def fixture_list():
    """[(path, format, covers)] from the manifest, generating the fixtures if needed."""
    folder = FIXTURES
    if not os.path.exists(os.path.join(folder, "manifest.json")):
        folder = tempfile.mkdtemp(prefix="kt_fixtures_")
        print("check_reader: %s has no manifest.json; generating fixtures into %s" % (FIXTURES, folder))
        subprocess.run([sys.executable, os.path.join(ROOT, "tests", "gen_fixtures.py"), "--out", folder],
                       check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    return [(os.path.join(folder, m["file"]), m["format"], m["covers"]) for m in manifest["files"]]


def markers(prefix):
    return glob.glob(prefix + "*")


def check_hostile(path, expect, prefix):
    errors = []
    for m in markers(prefix):
        os.remove(m)
    try:
        r = run_inspect(path)
    except subprocess.TimeoutExpired:
        return ["did not finish within %d s" % TIMEOUT]
    err = r.stderr.decode(errors="replace")
    lines = err.splitlines()
    if r.returncode < 0:
        errors.append("killed by signal %d (crash)" % -r.returncode)
    elif r.returncode not in (1, 2):
        errors.append("exit code %d, want 1 or 2" % r.returncode)
    if len(lines) != 1:
        errors.append("%d lines on stderr, want 1: %r" % (len(lines), err[:300]))
    elif path not in lines[0]:
        errors.append("stderr does not name the file: %r" % lines[0])
    if r.stdout:
        errors.append("%d bytes on stdout for a refused file" % len(r.stdout))
    needle = expect.get("message_contains")
    if needle and needle not in err:
        errors.append("message %r lacks %r" % (err.strip(), needle))
    if markers(prefix):
        errors.append("SIDE EFFECT: a pickle command ran and created %s" % markers(prefix))
    return errors


def main():
    if not os.access(INSPECT, os.X_OK):
        print("check_reader: FAIL: %s not built" % INSPECT)
        return 1
    failures = 0
    stats = {"tensors": 0, "values": 0, "dtypes": set(), "strided": 0}
    formats = {}
    files = fixture_list()
    voices = sorted(glob.glob(os.path.join(SHARED, "kokoro", "voices", "*.pt")))
    if not voices:
        print("check_reader: SKIP real voice packs: %s not found" % os.path.join(SHARED, "kokoro", "voices"))
    files += [(v, "pth", "real Kokoro voice pack") for v in voices]
    for path, fmt, covers in files:
        errors = compare_file(path, fmt, stats)
        formats[fmt] = formats.get(fmt, 0) + 1
        print("%s %s (%s)" % ("ok  " if not errors else "FAIL", os.path.basename(path), fmt))
        for e in errors[:10]:
            print("       " + e)
        failures += bool(errors)

    with open(os.path.join(HOSTILE, "expected.json")) as f:
        expected = json.load(f)
    hostile_files = sorted(expected["files"])
    on_disk = sorted(n for n in os.listdir(HOSTILE) if n not in ("README.md", "expected.json"))
    if on_disk != hostile_files:
        print("FAIL hostile corpus and expected.json disagree: %s vs %s" % (on_disk, hostile_files))
        failures += 1
    for name in hostile_files:
        path = os.path.join(os.path.relpath(HOSTILE), name)
        errors = check_hostile(path, expected["files"][name], expected["marker_prefix"])
        print("%s hostile %s" % ("ok  " if not errors else "FAIL", name))
        for e in errors:
            print("       " + e)
        failures += bool(errors)

    print("check_reader: compared %d files (%s) with torch %s: %d tensors, %d values, dtypes %s, "
          "%d non-contiguous views; %d hostile files refused-checked; %d failures" % (
              len(files), ", ".join("%d %s" % (n, f) for f, n in sorted(formats.items())), torch.__version__,
              stats["tensors"], stats["values"], ",".join(sorted(stats["dtypes"])), stats["strided"],
              len(hostile_files), failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
