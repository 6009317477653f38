#!/usr/bin/python3
"""Writes the format fixtures for kt's readers into DIR (run with /usr/bin/python3, torch 1.13).

    /usr/bin/python3 tests/gen_fixtures.py --out DIR

Every file is written by torch.save itself, or by rewriting a torch.save archive
with the zip layout of another writer (recent PyTorch, Python's zipfile with
deflate). DIR/manifest.json lists each file, its format and what it covers.
Output is deterministic: seeded values, fixed timestamps, fixed serialization ids.
"""
import argparse
import collections
import io
import json
import os
import pickle
import random
import struct
import sys
import tempfile
import zipfile
import zlib

import torch

# ---------------------------------------------------------------------------
# zip writing in PyTorch's own layout (shared with tests/gen_hostile.py)

ALIGN = 64


def torch_zip_bytes(entries, align=ALIGN, descriptors=True, zip64_end=True, version_needed=0):
    """A stored zip of entries [(name, bytes)] laid out as PyTorch writes it:
    flag 0x0808 with data descriptors (local CRC and sizes zero), every entry's data
    aligned to `align` by an "FB" extra field padded with 'Z', zero timestamps, and
    ZIP64 end records (end record + locator) although not needed."""
    out = bytearray()
    central = []
    for name, data in entries:
        nb = name.encode()
        crc = zlib.crc32(data) & 0xFFFFFFFF
        off = len(out)
        pad = 0
        if align:
            start = off + 30 + len(nb) + 4
            pad = (-start) % align
        flags = 0x0808 if descriptors else 0x0800
        local_crc, local_size = (0, 0) if descriptors else (crc, len(data))
        extra = (struct.pack("<HH", 0x4246, pad) + b"Z" * pad) if align else b""
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, version_needed, flags, 0, 0, 0,
                           local_crc, local_size, local_size, len(nb), len(extra))
        out += nb + extra + data
        if descriptors:
            out += struct.pack("<IIII", 0x08074B50, crc, len(data), len(data))
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0, version_needed, flags, 0, 0, 0,
                                   crc, len(data), len(data), len(nb), 0, 0, 0, 0, 0, off) + nb)
    cd_off = len(out)
    for c in central:
        out += c
    cd_size = len(out) - cd_off
    n = len(entries)
    if zip64_end:
        z64 = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 0x031E, 0x2D, 0, 0, n, n, cd_size, cd_off)
        out += struct.pack("<IIQI", 0x07064B50, 0, z64, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, cd_size, cd_off, 0)
    return bytes(out)


def zip_entries(data):
    """[(name, bytes)] of a zip image, in central-directory order."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def torch_save_bytes(obj, stem=None, **kw):
    """torch.save's bytes. With stem, saved to a file STEM.pth, so the archive's folder
    is STEM (torch's own naming); without, to a buffer (folder "archive")."""
    if stem is None:
        buf = io.BytesIO()
        torch.save(obj, buf, **kw)
        return buf.getvalue()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, stem + ".pth")
        torch.save(obj, path, **kw)
        with open(path, "rb") as f:
            return f.read()


def legacy_save_bytes(obj):
    """torch.save(_use_new_zipfile_serialization=False) made deterministic: torch names
    each storage by its memory address and writes them sorted by that name; here the
    names become "0", "1", ... in order of first appearance and the storages follow
    that order. Bytes otherwise exactly as torch writes them."""
    names = {}      # torch's key -> new key
    elsize = {}     # torch's key -> element size
    marks = {}

    class Pickler(pickle._Pickler):
        @property
        def persistent_id(self):
            return self._pid

        @persistent_id.setter
        def persistent_id(self, fn):
            def renamed(o):
                r = fn(o)
                if r is None or r[0] != "storage":
                    return r
                key = names.setdefault(r[2], str(len(names)))
                elsize[r[2]] = r[1]().element_size()
                return (r[0], r[1], key) + tuple(r[3:])
            self._pid = renamed

    class Module:
        pass

    mod = Module()
    mod.__name__ = "kt_deterministic_pickle"
    mod.Pickler = Pickler

    def dump(o, f, protocol):
        if isinstance(o, list) and names and sorted(o) == sorted(names):
            marks["torch_order"] = list(o)
            pickle._Pickler(f, protocol).dump(sorted(names.values(), key=int))
            marks["data"] = f.tell()
        else:
            pickle._Pickler(f, protocol).dump(o)

    mod.dump = dump
    buf = io.BytesIO()
    torch.save(obj, buf, pickle_module=mod, _use_new_zipfile_serialization=False)
    data = buf.getvalue()
    if "data" not in marks:
        return data
    pos, blocks = marks["data"], {}
    for key in marks["torch_order"]:
        (numel,) = struct.unpack_from("<q", data, pos)
        end = pos + 8 + numel * elsize[key]
        blocks[names[key]] = data[pos:end]
        pos = end
    assert pos == len(data), "legacy storage blocks do not cover the file"
    return data[:marks["data"]] + b"".join(blocks[k] for k in sorted(blocks, key=int))


def rename_folder(entries, folder):
    return [(folder + "/" + n.split("/", 1)[1], d) for n, d in entries]


def recent_layout(entries, serial):
    """Rewrites torch-1.13 entries in the order recent PyTorch writes (the real voice
    packs): data.pkl, byteorder, data/*, version, .data/serialization_id."""
    folder = entries[0][0].split("/", 1)[0]
    by = dict(entries)
    pkl = by[folder + "/data.pkl"]
    data = [(n, d) for n, d in entries if n.startswith(folder + "/data/")]
    out = [(folder + "/data.pkl", pkl), (folder + "/byteorder", b"little")] + data
    out.append((folder + "/version", by[folder + "/version"]))
    out.append((folder + "/.data/serialization_id", serial.encode()))
    return out


def deflated_zip_bytes(entries):
    """The same entries recompressed with deflate by Python's zipfile (fixed timestamps)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


# ---------------------------------------------------------------------------
# the objects saved


def dtype_tensors():
    g = torch.Generator().manual_seed(1)
    f32 = torch.randn(2, 5, generator=g)
    f32 = torch.cat([f32.flatten(), torch.tensor([float("nan"), float("inf"), float("-inf"), -0.0,
                                                   1e-45, 3.4028234663852886e38, 0.1, 1 / 3])])
    f64 = torch.cat([torch.randn(6, generator=g, dtype=torch.float64),
                     torch.tensor([1e-310, -1e308, float("nan"), 0.1, 2 / 3], dtype=torch.float64)])
    f16 = torch.cat([torch.randn(6, generator=g).half(),
                     torch.tensor([65504.0, 6e-8, -0.0, float("inf"), float("nan"), 0.1], dtype=torch.float16)])
    bf16 = torch.cat([torch.randn(6, generator=g).bfloat16(),
                      torch.tensor([3.0e38, 1e-40, float("-inf"), 0.1], dtype=torch.bfloat16)])
    return collections.OrderedDict([
        ("float32", f32.reshape(3, 6)),
        ("float64", f64),
        ("float16", f16.reshape(2, 6)),
        ("bfloat16", bf16.reshape(2, 5)),
        ("int8", torch.tensor([-128, -1, 0, 1, 127], dtype=torch.int8)),
        ("int16", torch.tensor([[-32768, -2], [3, 32767]], dtype=torch.int16)),
        ("int32", torch.tensor([-2**31, -7, 0, 7, 2**31 - 1], dtype=torch.int32)),
        ("int64", torch.tensor([-2**63, -2**53 - 1, 0, 2**53 + 1, 2**63 - 1], dtype=torch.int64)),
        ("uint8", torch.arange(0, 256, 17, dtype=torch.uint8)),
        ("bool", torch.tensor([[True, False, True], [False, False, True]])),
    ])


def view_tensors():
    g = torch.Generator().manual_seed(2)
    base = torch.randn(4, 6, generator=g)
    return collections.OrderedDict([
        ("base", base),
        ("rows", base[1:3]),                    # storage offset 6, contiguous
        ("transposed", base.t()),               # strides (1, 6)
        ("step", base[:, 1::2]),                # strides (6, 2), offset 1
        ("column", base[:, 4]),                 # stride (6,), offset 4
        ("permuted", torch.arange(24, dtype=torch.int32).reshape(2, 3, 4).permute(2, 0, 1)),
        ("expanded", torch.tensor([1.5, -2.5]).unsqueeze(0).expand(3, 2)),  # stride 0
        ("half_t", torch.randn(3, 5, generator=g).half().t()),
    ])


def shared_tensors():
    g = torch.Generator().manual_seed(3)
    flat = torch.randn(30, generator=g, dtype=torch.float64)
    return {
        "flat": flat,
        "matrix": flat.view(5, 6),
        "tail": flat[20:],
        "odd": flat[1::2],
        "again": flat,
    }


def scalar_empty_tensors():
    return collections.OrderedDict([
        ("scalar_f32", torch.tensor(2.5)),
        ("scalar_i64", torch.tensor(-42)),
        ("scalar_bool", torch.tensor(True)),
        ("empty_1d", torch.zeros(0)),
        ("empty_3d", torch.zeros(3, 0, 2, dtype=torch.int16)),
        ("one", torch.ones(1, 1, 1)),
    ])


def nested_object():
    g = torch.Generator().manual_seed(4)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return {
        "model": {"encoder": {"weight": r(3, 2), "bias": r(3)},
                  "decoder": collections.OrderedDict([("weight", r(2, 3)), ("scale", torch.tensor(0.5))])},
        "list": [r(2), r(1, 2), {"inner": r(2, 2)}],
        "tuple": (r(3), torch.arange(4)),
        "epoch": 7,
        "lr": 0.001,
        "name": "kokoro-like",
        "nothing": None,
        "flags": [True, False],
        "bytes_like": "\u00e9t\u00e9 \u2603",
        "empty_dict": {},
        "empty_list": [],
    }


class TinyModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(10, 4)
        self.conv = torch.nn.utils.weight_norm(torch.nn.Conv1d(4, 6, 3, padding=1))
        self.norm = torch.nn.BatchNorm1d(6)
        self.lstm = torch.nn.LSTM(6, 3, batch_first=True, bidirectional=True)
        self.out = torch.nn.Linear(6, 2)


# ---------------------------------------------------------------------------


def build_all(seed):
    """[(file name, bytes, format, covers)]"""
    torch.manual_seed(seed)
    random.seed(seed)
    files = []

    def add(name, data, fmt, covers):
        files.append((name, data, fmt, covers))

    dt = dtype_tensors()
    add("dtypes.pth", torch_save_bytes(dt, "dtypes"), "pth",
        "every dtype: float32/64/16, bfloat16, int8/16/32/64, uint8, bool; NaN, inf, -0, subnormals, extremes")
    add("views.pth", torch_save_bytes(view_tensors(), "views"), "pth",
        "views: slices with storage offsets, transpose/permute (non-contiguous strides), step slices, "
        "expand (stride 0), all sharing storages")
    add("shared_storage.pth", torch_save_bytes(shared_tensors(), "shared_storage"), "pth",
        "five tensors over one float64 storage (view, slice, strided slice, the same tensor twice)")
    add("scalars_empty.pth", torch_save_bytes(scalar_empty_tensors()), "pth",
        "0-d tensors (float, int64, bool) and empty tensors (0,) and (3,0,2)")
    add("nested.pth", torch_save_bytes(nested_object(), "nested"), "pth",
        "dict of dicts, OrderedDict, lists/tuples of tensors, dict inside a list, "
        "ints/floats/strings/None/bools/empty containers alongside")
    g = torch.Generator().manual_seed(5)
    add("parameter.pt", torch_save_bytes(torch.nn.Parameter(torch.randn(3, 4, generator=g))), "pth",
        "an nn.Parameter saved directly (bare root, name \"\"; torch._utils._rebuild_parameter)")
    add("bare_tensor.pt", torch_save_bytes(torch.randn(5, 1, 8, generator=g)), "pth",
        "a bare tensor at the root, voice-pack shaped")
    model = TinyModel()
    add("state_dict.pth", torch_save_bytes(model.state_dict(), "state_dict"), "pth",
        "a model state_dict (Embedding, weight_norm Conv1d weight_g/weight_v, BatchNorm with int64 "
        "num_batches_tracked, bidirectional LSTM, Linear)")
    legacy_obj = collections.OrderedDict([("w", dt["float32"]), ("i", dt["int64"]), ("h", dt["float16"]),
                                          ("t", view_tensors()["transposed"]),
                                          ("nested", {"b": dt["bool"], "s": torch.tensor(3.0)})])
    add("legacy.pth", legacy_save_bytes(legacy_obj), "pth-legacy",
        "legacy (non-zip) torch.save: dtypes, a transposed view, a 0-d tensor, a nested dict")
    add("legacy_bare.pt", legacy_save_bytes(torch.randn(4, 1, 8, generator=g)), "pth-legacy",
        "legacy torch.save of a bare tensor")
    add("protocol4.pth", torch_save_bytes(nested_object(), pickle_protocol=4), "pth",
        "pickle protocol 4 (FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL) of a nested object")
    add("protocol4_dtypes.pth", torch_save_bytes(dt, pickle_protocol=4), "pth",
        "pickle protocol 4 with every dtype")

    # recent PyTorch's layout, rebuilt from torch-1.13 archives
    def serial():
        return "".join(random.choice("0123456789") for _ in range(40))

    voice = torch.randn(6, 1, 16, generator=g)
    v_entries = zip_entries(torch_save_bytes(voice))
    add("recent_voice.pt", torch_zip_bytes(recent_layout(rename_folder(v_entries, "recent_voice"), serial())),
        "pth", "recent PyTorch zip layout as in the real voice packs: byteorder and .data/serialization_id "
        "entries, flag 0x0808 data descriptors, 64-byte alignment, ZIP64 end records; bare tensor")
    n_entries = zip_entries(torch_save_bytes(view_tensors()))
    add("recent_views.pth", torch_zip_bytes(recent_layout(rename_folder(n_entries, "recent_views"), serial())),
        "pth", "recent PyTorch zip layout with several storages and views")
    add("deflated.pth", deflated_zip_bytes(zip_entries(torch_save_bytes(dt))), "pth",
        "every entry deflated (method 8) by Python's zipfile, no alignment, no ZIP64 records")
    add("deflated_nested.pth", deflated_zip_bytes(zip_entries(torch_save_bytes(nested_object()))), "pth",
        "deflated entries, nested containers")
    add("folder_mismatch.pt", torch_zip_bytes(rename_folder(v_entries, "some_other_voice")), "pth",
        "archive folder 'some_other_voice' differs from the file stem")
    add("folder_archive.pth", torch_save_bytes(shared_tensors()), "pth",
        "written to a buffer: archive folder is 'archive', not the file stem")
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="folder to write into (created)")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    manifest = []
    for name, data, fmt, covers in build_all(args.seed):
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(data)
        manifest.append({"file": name, "format": fmt, "bytes": len(data), "covers": covers})
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump({"generator": "tests/gen_fixtures.py", "torch": torch.__version__, "files": manifest}, f,
                  indent=1)
        f.write("\n")
    print("gen_fixtures: wrote %d files into %s" % (len(manifest), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
