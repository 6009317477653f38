#!/usr/bin/python3
"""check_formats.py - kt's safetensors / npy / npz / voicebin / zip files against numpy and torch.

Direction 1 (kt writes, Python reads): `$KT_BUILD/tests/test_xformat` with KT_XCHECK_WRITE=DIR
writes kt.safetensors, kt.npz, kt_<name>.npy, kt_voices.bin, kt_zip64.zip (forced ZIP64) and
kt_many.zip (66000 entries). They are loaded here with numpy, zipfile and an independent
json+numpy safetensors parser (Debian has no python3-safetensors), and every value is compared
with the pattern of tests/util/fmt_pattern.h recomputed here.

Direction 2 (Python writes, kt reads): numpy/torch write .npy (every dtype, Fortran order,
big-endian, 0-d, empty), .npz (numpy.savez and savez_compressed), a kokoro-onnx style
voices-v1.0.bin (numpy.savez under a .bin name), a raw voices.bin and safetensors files laid
out as the reference library does (bfloat16 bits from torch). `test_xformat` with
KT_XCHECK_DUMP=1 prints what kt read as JSON; names, dtypes, shapes and values must match.
Exit 0 on pass."""
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

try:
    import torch
except ImportError:  # torch only adds the bfloat16 cross-check
    torch = None

BUILD = os.environ.get("KT_BUILD", "build")
TOOL = os.path.join(BUILD, "tests", "test_xformat")
FAILS = []
CHECKS = 0


def check(cond, what):
    global CHECKS
    CHECKS += 1
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)


DTYPES = ["float32", "float64", "float16", "bfloat16", "int8", "int16", "int32", "int64", "uint8", "bool"]
ST_NAMES = {"float32": "F32", "float64": "F64", "float16": "F16", "bfloat16": "BF16", "int8": "I8",
            "int16": "I16", "int32": "I32", "int64": "I64", "uint8": "U8", "bool": "BOOL"}
ST_RANK = {"BOOL": 0, "U8": 1, "I8": 2, "I16": 5, "U16": 6, "F16": 7, "BF16": 8, "I32": 9, "U32": 10,
           "F32": 11, "F64": 12, "I64": 13, "U64": 14}  # the reference's Dtype enum order
ST_NP = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I8": "i1", "I16": "<i2", "I32": "<i4", "I64": "<i8",
         "U8": "u1", "BOOL": "?", "BF16": "<u2"}


def pattern(dtype, shape, seed):
    """tests/util/fmt_pattern.h: k = (i*37 + seed*11) % 201 - 100, floats k/8, u8 mod 256, bool mod 3."""
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    i = np.arange(n, dtype=np.int64)
    base = i * 37 + seed * 11
    if dtype in ("float32", "float64", "float16", "bfloat16"):
        v = ((base % 201) - 100) / 8.0
    elif dtype == "uint8":
        v = base % 256
    elif dtype == "bool":
        v = (base % 3 == 0)
    else:
        v = (base % 201) - 100
    return v.astype(np.float64).reshape(shape)


def kt_pattern_tensors(no_bf16):
    """The tensors test_xformat's pattern_list() makes: t_<dtype> of shape [2, 3, k+1], seed k."""
    out = {}
    for k, d in enumerate(DTYPES):
        if no_bf16 and d == "bfloat16":
            continue
        out["t_" + d] = (d, [2, 3, k + 1], pattern(d, [2, 3, k + 1], k))
    out["strided"] = ("float32", [6, 4], pattern("float32", [4, 6], 20).T)
    return out


def to_f64(arr, st_dtype=None):
    if st_dtype == "BF16":
        return (arr.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return arr.astype(np.float64)


def read_safetensors(path):
    """Independent parser following the reference's strict rules."""
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    check(n % 8 == 0, "%s: header length %d is a multiple of 8" % (path, n))
    text = data[8:8 + n].decode("utf-8")
    check(text == text.rstrip(" ") + " " * (len(text) - len(text.rstrip(" "))), "header padded with spaces")
    header = json.loads(text)
    meta = header.pop("__metadata__", {})
    body = data[8 + n:]
    items = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"])
    pos = 0
    out = {}
    for name, info in items:
        b, e = info["data_offsets"]
        check(b == pos, "%s: %s starts where the previous tensor ended" % (path, name))
        pos = e
        arr = np.frombuffer(body[b:e], dtype=ST_NP[info["dtype"]])
        check(arr.size == int(np.prod(info["shape"], dtype=np.int64)), "%s: %s size" % (path, name))
        check(b % np.dtype(ST_NP[info["dtype"]]).itemsize == 0, "%s: %s aligned" % (path, name))
        out[name] = (info["dtype"], info["shape"], to_f64(arr, info["dtype"]).reshape(info["shape"]))
    check(pos == len(body), "%s: the last tensor ends at the end of the file" % path)
    order = [name for name, _ in items]
    want = sorted(order, key=lambda k: (-ST_RANK[header[k]["dtype"]], k.encode()))
    check(order == want, "%s: tensors in the reference's order (alignment desc, then name)" % path)
    check(list(header.keys()) == order, "%s: header keys in data order" % path)
    return out, meta


def kt_writes(tmp):
    d = os.path.join(tmp, "kt")
    os.mkdir(d)
    env = dict(os.environ, KT_XCHECK_WRITE=d)
    subprocess.run([TOOL], env=env, check=True)
    want = kt_pattern_tensors(False)

    got, meta = read_safetensors(os.path.join(d, "kt.safetensors"))
    check(meta == {"format": "pt", "note": "written by kt"}, "safetensors metadata %r" % meta)
    check(sorted(got) == sorted(want), "safetensors names %r" % sorted(got))
    for name, (dt, shape, vals) in want.items():
        if name in got:
            st_dt, st_shape, st_vals = got[name]
            check(st_dt == ST_NAMES[dt] and st_shape == shape, "safetensors %s: %s %r" % (name, st_dt, st_shape))
            check(np.array_equal(st_vals, vals), "safetensors %s values" % name)
    # the same tensors laid out by the reference rules here give the very same bytes
    st_path = os.path.join(d, "kt.safetensors")
    header = json.loads(open(st_path, "rb").read()[8:8 + struct.unpack("<Q", open(st_path, "rb").read(8))[0]])
    body = open(st_path, "rb").read()[8 + struct.unpack("<Q", open(st_path, "rb").read(8))[0]:]
    again = {k: (v["dtype"], body[v["data_offsets"][0]:v["data_offsets"][1]], v["shape"])
             for k, v in header.items() if k != "__metadata__"}
    write_st(os.path.join(d, "again.safetensors"), again, dict(sorted(meta.items())))
    check(open(os.path.join(d, "again.safetensors"), "rb").read() == open(st_path, "rb").read(),
          "kt.safetensors is byte-identical to the reference layout rebuilt in Python")
    print("kt.safetensors: %d tensors equal to the pattern (json+numpy parser), bytes equal the reference layout"
          % len(got))

    want = kt_pattern_tensors(True)
    npz_path = os.path.join(d, "kt.npz")
    with np.load(npz_path) as z:
        check(sorted(z.files) == sorted(want), "npz names %r" % z.files)
        for name, (dt, shape, vals) in want.items():
            a = z[name]
            check(a.dtype == np.dtype(dt) and list(a.shape) == shape, "npz %s: %s %r" % (name, a.dtype, a.shape))
            check(np.array_equal(a.astype(np.float64), vals), "npz %s values" % name)
    with zipfile.ZipFile(npz_path) as zf:
        check(zf.testzip() is None, "npz CRCs")
        for info in zf.infolist():
            check(info.compress_type == zipfile.ZIP_STORED, "npz entry %s stored" % info.filename)
    print("kt.npz: %d arrays equal in numpy.load, CRCs good" % len(want))

    for name, (dt, shape, vals) in want.items():
        a = np.load(os.path.join(d, "kt_%s.npy" % name))
        check(a.dtype == np.dtype(dt) and list(a.shape) == shape and np.array_equal(a.astype(np.float64), vals),
              "npy %s" % name)
        buf = io.BytesIO()
        np.save(buf, a)
        check(open(os.path.join(d, "kt_%s.npy" % name), "rb").read() == buf.getvalue(),
              "kt_%s.npy is byte-identical to numpy.save of the same array" % name)
    print("kt_*.npy: %d arrays equal in numpy.load, files byte-identical to numpy.save" % len(want))

    v = np.fromfile(os.path.join(d, "kt_voices.bin"), dtype="<f4").reshape(-1, 510, 1, 256)
    check(v.shape[0] == 2, "voices.bin holds 2 packs")
    for k in range(2):
        check(np.array_equal(v[k].astype(np.float64), pattern("float32", [510, 1, 256], k)), "voice pack %d" % k)
    print("kt_voices.bin: 2 packs equal")

    for zname, count in (("kt_zip64.zip", 5), ("kt_many.zip", 66000)):
        with zipfile.ZipFile(os.path.join(d, zname)) as zf:
            infos = zf.infolist()
            check(len(infos) == count, "%s has %d entries" % (zname, len(infos)))
            check(zf.testzip() is None, "%s CRCs" % zname)
            for i in (0, count // 2, count - 1):
                check(zf.read("archive/e%d" % i) == ("entry %d" % i).encode(), "%s entry %d" % (zname, i))
    print("kt_zip64.zip (forced ZIP64) and kt_many.zip (66000 entries): zipfile reads them, CRCs good")


def dump(paths):
    env = dict(os.environ, KT_XCHECK_DUMP="1")
    out = subprocess.run([TOOL] + paths, env=env, check=True, stdout=subprocess.PIPE).stdout
    return [json.loads(line) for line in out.decode().splitlines()]


def compare(rec, want, what):
    """want: list of (name, dtype, shape, float64 values) in the expected order (None: any order)."""
    if "error" in rec:
        check(False, "%s: kt refused it: %s" % (what, rec["error"]))
        return
    got = {t["name"]: t for t in rec["tensors"]}
    check([t["name"] for t in rec["tensors"]] == [w[0] for w in want], "%s: names/order %r" % (
        what, [t["name"] for t in rec["tensors"]]))
    for name, dt, shape, vals in want:
        t = got.get(name)
        if t is None:
            continue
        check(t["dtype"] == dt, "%s %s: dtype %s, want %s" % (what, name, t["dtype"], dt))
        check(t["shape"] == list(shape), "%s %s: shape %r, want %r" % (what, name, t["shape"], list(shape)))
        gv = np.array(t["values"], dtype=np.float64)
        wv = np.asarray(vals, dtype=np.float64).reshape(-1)
        check(gv.shape == wv.shape and np.array_equal(gv, wv, equal_nan=True), "%s %s values" % (what, name))


def write_st(path, tensors, meta=None):
    """safetensors as the reference writes it: sorted by (alignment desc, name), space padding."""
    order = sorted(tensors, key=lambda k: (-ST_RANK[tensors[k][0]], k.encode()))
    header, off, blobs = {}, 0, []
    if meta:
        header["__metadata__"] = meta
    for k in order:
        dt, arr_bytes, shape = tensors[k]
        header[k] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(arr_bytes)]}
        off += len(arr_bytes)
        blobs.append(arr_bytes)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    return order


def python_writes(tmp):
    d = os.path.join(tmp, "py")
    os.mkdir(d)
    rng = np.random.default_rng(1234)
    arrays = {
        "float32": rng.standard_normal((3, 4)).astype("<f4"),
        "float64": rng.standard_normal((2, 5)).astype("<f8"),
        "float16": rng.standard_normal((4, 3)).astype("<f2"),
        "int8": rng.integers(-128, 127, (7,)).astype("i1"),
        "int16": rng.integers(-30000, 30000, (2, 2, 2)).astype("<i2"),
        "int32": rng.integers(-2**31, 2**31 - 1, (3, 3)).astype("<i4"),
        "int64": rng.integers(-2**50, 2**50, (5,)).astype("<i8"),
        "uint8": rng.integers(0, 255, (2, 3)).astype("u1"),
        "bool": rng.integers(0, 2, (3, 2)).astype("?"),
    }
    files, wants = [], []
    for dt, a in arrays.items():
        p = os.path.join(d, "np_%s.npy" % dt)
        np.save(p, a)
        files.append(p)
        wants.append([("", dt, a.shape, a)])
    extra = {
        "fortran": np.asfortranarray(rng.standard_normal((3, 5)).astype("<f4")),
        "bigendian": rng.standard_normal((4, 2)).astype(">f8"),
        "bigendian_i4": rng.integers(-1000, 1000, (6,)).astype(">i4"),
        "scalar": np.array(2.5, dtype="<f4"),
        "empty": np.zeros((0, 3), dtype="<f4"),
    }
    for name, a in extra.items():
        p = os.path.join(d, "np_%s.npy" % name)
        np.save(p, a)
        files.append(p)
        wants.append([("", a.dtype.newbyteorder("=").name, a.shape, a)])
    p = os.path.join(d, "np_v2.npy")  # format 2.0 header, written through numpy's own API
    with open(p, "wb") as f:
        np.lib.format.write_array(f, arrays["float32"], version=(2, 0))
    files.append(p)
    wants.append([("", "float32", arrays["float32"].shape, arrays["float32"])])

    npz_want = [(k, a.dtype.name, a.shape, a) for k, a in arrays.items()]
    for fn, saver in (("savez.npz", np.savez), ("savez_compressed.npz", np.savez_compressed)):
        p = os.path.join(d, fn)
        saver(p, **arrays)
        files.append(p)
        wants.append(npz_want)

    # kokoro-onnx voices-v1.0.bin: numpy.savez of name -> float32 [510, 1, 256] under a .bin name
    voices = {n: rng.standard_normal((510, 1, 256)).astype("<f4") for n in ("af_heart", "am_adam", "zf_xiaobei")}
    p = os.path.join(d, "voices-v1.0.bin")
    with open(p, "wb") as f:
        np.savez(f, **voices)
    files.append(p)
    wants.append([(k, "float32", v.shape, v) for k, v in voices.items()])

    # sherpa-onnx voices.bin: raw n x 510 x 256 float32
    raw = rng.standard_normal((2, 510, 256)).astype("<f4")
    p = os.path.join(d, "voices.bin")
    raw.tofile(p)
    files.append(p)
    wants.append([(str(k), "float32", (510, 1, 256), raw[k]) for k in range(2)])

    # safetensors in the reference layout, bfloat16 bits and values from torch when present
    st = {}
    st_vals = {}
    for dt, a in arrays.items():
        st["w_" + dt] = (ST_NAMES[dt], a.tobytes(), a.shape)
        st_vals["w_" + dt] = (dt, a.shape, a)
    if torch is not None:
        tb = torch.randn(3, 7).to(torch.bfloat16)
        bits = tb.view(torch.int16).numpy().astype("<i2")
        st["w_bfloat16"] = ("BF16", bits.tobytes(), (3, 7))
        st_vals["w_bfloat16"] = ("bfloat16", (3, 7), tb.float().numpy())
    p = os.path.join(d, "py.safetensors")
    order = write_st(p, st, {"format": "pt", "source": "check_formats.py"})
    files.append(p)
    wants.append([(k,) + st_vals[k] for k in order])

    recs = dump(files)
    check(len(recs) == len(files), "one dump line per file")
    for rec, want, f in zip(recs, wants, files):
        compare(rec, want, os.path.basename(f))
    fmt = {os.path.basename(r["file"]): r["format"] for r in recs}
    check(fmt["voices-v1.0.bin"] == "npz", "voices-v1.0.bin detected as npz (%s)" % fmt["voices-v1.0.bin"])
    check(fmt["voices.bin"] == "voicebin", "voices.bin detected as voicebin")
    meta = recs[-1].get("meta", {})
    check(meta == {"format": "pt", "source": "check_formats.py"}, "safetensors metadata read: %r" % meta)
    print("numpy/torch-written files read by kt: %d files (%s)" % (len(files), ", ".join(
        sorted(set(fmt.values())))))


def main():
    if not os.access(TOOL, os.X_OK):
        print("check_formats: %s is missing; build with make tests-build" % TOOL)
        return 1
    with tempfile.TemporaryDirectory(prefix="kt_check_formats_") as tmp:
        kt_writes(tmp)
        python_writes(tmp)
    print("%d checks, %d failed" % (CHECKS, len(FAILS)))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
