#!/usr/bin/python3
"""Writes the hostile corpus: small files every kt reader must refuse cleanly.

    /usr/bin/python3 tests/gen_hostile.py --out fixtures/hostile

The output is committed (fixtures/hostile/, described in its README.md, with the
expected errors in expected.json for tests/check_reader.py). Pickles are built
opcode by opcode here; no hostile file is ever unpickled by this script. A control
archive built with the same helpers is checked to load with torch.load, so each
hostile file differs from a valid one only by its defect. Deterministic output.
"""
import argparse
import json
import os
import struct
import sys
import zlib

MARKER = "/tmp/kt_hostile_pwned_"  # a command that ran would create MARKER + name

# ---------------------------------------------------------------------------
# pickle protocol 2, by opcode


def glob(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def text(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def integer(n):
    if 0 <= n < 256:
        return b"K" + bytes([n])
    if 0 <= n < 65536:
        return b"M" + struct.pack("<H", n)
    if -2**31 <= n < 2**31:
        return b"J" + struct.pack("<i", n)
    nbytes = (n.bit_length() + 8) // 8
    return b"\x8a" + bytes([nbytes]) + n.to_bytes(nbytes, "little", signed=True)


def tup(items):
    return b"(" + b"".join(items) + b"t"


def call(func, args):
    """func(*args) by REDUCE."""
    return func + tup(args) + b"R"


def tensor(key, storage_numel, offset, shape, stride, storage="FloatStorage"):
    """torch._utils._rebuild_tensor_v2 on persistent storage KEY, as torch.save writes it."""
    pid = tup([text("storage"), glob("torch", storage), text(key), text("cpu"), integer(storage_numel)]) + b"Q"
    args = [pid, integer(offset), tup([integer(d) for d in shape]), tup([integer(s) for s in stride]),
            b"\x89", call(glob("collections", "OrderedDict"), [])]
    return call(glob("torch._utils", "_rebuild_tensor_v2"), args)


def dict_of(pairs):
    return b"}(" + b"".join(text(k) + v for k, v in pairs) + b"u"


def pickle2(body):
    return b"\x80\x02" + body + b"."


def system_call(module, name, arg):
    return pickle2(call(glob(module, name), [text(arg)]))


# ---------------------------------------------------------------------------
# zips


def local_header(name, data, method=0, crc=None, size=None):
    nb = name.encode()
    crc = zlib.crc32(data) & 0xFFFFFFFF if crc is None else crc
    return struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data),
                       len(data) if size is None else size, len(nb), 0) + nb


def build_zip(items):
    """items: dicts with name, payload (bytes as stored), and optional method, crc, size
    (uncompressed), local_at (use a local header already present at that offset).
    Returns (bytes, [central entry offsets])."""
    out = bytearray()
    cent = []
    for it in items:
        name, payload = it["name"], it["payload"]
        crc = it.get("crc", zlib.crc32(payload) & 0xFFFFFFFF)
        size = it.get("size", len(payload))
        if "local_at" in it:
            off = it["local_at"]
        else:
            off = len(out)
            out += local_header(name, payload, it.get("method", 0), crc, size) + payload
        cent.append((name.encode(), it.get("method", 0), crc, len(payload), size, off))
    cd_off = len(out)
    offs = []
    for nb, method, crc, csize, size, off in cent:
        offs.append(len(out))
        out += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x031E, 20, 0, method, 0, 0x21, crc, csize,
                           size, len(nb), 0, 0, 0, 0, 0, off) + nb
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(cent), len(cent), len(out) - cd_off, cd_off, 0)
    return bytes(out), offs


def raw_deflate(data):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def torch_like(pkl, storages, folder="archive"):
    """A stored archive FOLDER/{data.pkl, data/KEY..., version}."""
    items = [{"name": folder + "/data.pkl", "payload": pkl}]
    items += [{"name": "%s/data/%s" % (folder, k), "payload": v} for k, v in storages]
    items.append({"name": folder + "/version", "payload": b"3\n"})
    return build_zip(items)[0]


FOUR_FLOATS = struct.pack("<4f", 1.0, -2.0, 0.5, 3.25)


def control():
    """A valid file: {"w": float32 (2,2) over storage "0"}."""
    return torch_like(pickle2(dict_of([("w", tensor("0", 4, 0, (2, 2), (2, 1)))])), [("0", FOUR_FLOATS)])


def with_tensor(t):
    return torch_like(pickle2(dict_of([("w", t)])), [("0", FOUR_FLOATS)])


# ---------------------------------------------------------------------------


def overlapping():
    """archive/data/0's local header and data lie inside archive/pad's data."""
    pkl = pickle2(dict_of([("w", tensor("0", 4, 0, (4,), (1,)))]))
    inner = local_header("archive/data/0", FOUR_FLOATS) + FOUR_FLOATS
    head, _ = build_zip([{"name": "archive/data.pkl", "payload": pkl}])
    pad_off = head.index(b"PK\x01\x02")  # where the next local header would go
    pad_local = local_header("archive/pad", inner)
    items = [{"name": "archive/data.pkl", "payload": pkl},
             {"name": "archive/pad", "payload": inner},
             {"name": "archive/data/0", "payload": FOUR_FLOATS, "local_at": pad_off + len(pad_local)},
             {"name": "archive/version", "payload": b"3\n"}]
    return build_zip(items)[0]


def duplicate():
    pkl = pickle2(dict_of([("w", tensor("0", 4, 0, (4,), (1,)))]))
    items = [{"name": "archive/data.pkl", "payload": pkl},
             {"name": "archive/data/0", "payload": FOUR_FLOATS},
             {"name": "archive/data/0", "payload": FOUR_FLOATS[::-1]},
             {"name": "archive/version", "payload": b"3\n"}]
    return build_zip(items)[0]


def crc_mismatch():
    pkl = pickle2(dict_of([("w", tensor("0", 4, 0, (4,), (1,)))]))
    items = [{"name": "archive/data.pkl", "payload": raw_deflate(pkl), "method": 8, "size": len(pkl),
              "crc": (zlib.crc32(pkl) ^ 0x5A5A5A5A) & 0xFFFFFFFF},
             {"name": "archive/data/0", "payload": FOUR_FLOATS},
             {"name": "archive/version", "payload": b"3\n"}]
    return build_zip(items)[0]


def deflate_bomb():
    """archive/data/0 declares the 16 bytes its tensor needs; it inflates to 2 MiB."""
    pkl = pickle2(dict_of([("w", tensor("0", 4, 0, (4,), (1,)))]))
    zeros = bytes(2 << 20)
    items = [{"name": "archive/data.pkl", "payload": pkl},
             {"name": "archive/data/0", "payload": raw_deflate(zeros), "method": 8, "size": 16,
              "crc": zlib.crc32(bytes(16))},
             {"name": "archive/version", "payload": b"3\n"}]
    return build_zip(items)[0]


def corrupt_central():
    data, offs = build_zip([{"name": "archive/data.pkl",
                             "payload": pickle2(dict_of([("w", tensor("0", 4, 0, (4,), (1,)))]))},
                            {"name": "archive/data/0", "payload": FOUR_FLOATS},
                            {"name": "archive/version", "payload": b"3\n"}])
    b = bytearray(data)
    b[offs[1]:offs[1] + 4] = b"PK\x09\x09"
    return bytes(b)


def reference_bomb(levels=100):
    """A value tree of ~2**(levels+1) tensor leaves in about a kilobyte: a dict whose
    value "lI" is a list holding "l(I-1)" twice (memo BINGET). A reader that walks it
    naively never finishes; it must refuse (a count or size limit)."""
    assert levels < 256
    pairs = [("l0", tensor("0", 4, 0, (4,), (1,)) + b"q\x00")]
    for i in range(1, levels + 1):
        prev = b"h" + bytes([i - 1])
        pairs.append(("l%d" % i, b"](" + prev + prev + b"e" + b"q" + bytes([i])))
    return torch_like(pickle2(dict_of(pairs)), [("0", FOUR_FLOATS)])


def legacy_os_system():
    magic = pickle2(integer(0x1950A86A20F9469CFC6C))
    return magic + system_call("os", "system", "touch " + MARKER + "legacy_os_system")


HOSTILE = [
    # file, builder, expected kt status, substring the message must contain (zip-level only), what
    ("empty.pth", lambda: b"", None, None, "an empty file (0 bytes)"),
    ("truncated.pth", lambda: control()[:len(control()) * 3 // 5], "format",
     "no end-of-central-directory record", "a valid archive cut at 60% of its length"),
    ("corrupt_central_directory.pth", corrupt_central, "format", "corrupt central directory entry",
     "the second central directory entry's signature overwritten"),
    ("deflate_bomb.pth", deflate_bomb, "format", "inflates past its declared 16 bytes",
     "archive/data/0 deflated: declares 16 bytes (the tensor's size), inflates to 2 MiB of zeros"),
    ("crc_mismatch.pth", crc_mismatch, "format", "fails its CRC-32 check",
     "archive/data.pkl deflated with a wrong CRC-32 in both headers"),
    ("overlapping_entries.pth", overlapping, "format", "overlap",
     "archive/data/0's local header and data lie inside archive/pad's data"),
    ("duplicate_entries.pth", duplicate, "format", "two entries named",
     "two entries named archive/data/0 with different bytes"),
    ("os_system.pth", lambda: torch_like(system_call("os", "system", "touch " + MARKER + "os_system"), []),
     "unsafe", None, "data.pkl: GLOBAL os system + REDUCE('touch ...')"),
    ("posix_system.pth", lambda: torch_like(system_call("posix", "system", "touch " + MARKER + "posix"), []),
     "unsafe", None, "data.pkl: GLOBAL posix system + REDUCE (os.system under its real module)"),
    ("builtins_eval.pth", lambda: torch_like(system_call(
        "builtins", "eval", "__import__('os').system('touch %seval')" % MARKER), []),
     "unsafe", None, "data.pkl: GLOBAL builtins eval + REDUCE on an expression that runs a command"),
    ("subprocess_popen.pth", lambda: torch_like(pickle2(call(glob("subprocess", "Popen"), [
        b"](" + text("touch") + text(MARKER + "popen") + b"e"])), []),
     "unsafe", None, "data.pkl: GLOBAL subprocess Popen + REDUCE(['touch', ...])"),
    ("reduce_not_allowed.pth", lambda: torch_like(pickle2(dict_of([
        ("w", tensor("0", 4, 0, (4,), (1,))),
        ("c", call(glob("collections", "Counter"), [text("abc")]))])), [("0", FOUR_FLOATS)]),
     "unsafe", None, "a valid tensor beside REDUCE on collections.Counter (harmless, but not allowed)"),
    ("legacy_os_system.pt", legacy_os_system, "unsafe", None,
     "legacy format: the magic number, then GLOBAL os system + REDUCE as the protocol-version pickle"),
    ("tensor_larger_than_storage.pth", lambda: with_tensor(tensor("0", 4, 0, (100,), (1,))), "format", None,
     "a float32 tensor of shape (100,) over a 4-element (16-byte) storage"),
    ("storage_offset_past_end.pth", lambda: with_tensor(tensor("0", 4, 1000, (2,), (1,))), "format", None,
     "storage offset 1000 into a 4-element storage"),
    ("storage_entry_short.pth", lambda: with_tensor(tensor("0", 400, 0, (400,), (1,))), "format", None,
     "the pickle declares a 400-element storage; archive/data/0 holds 16 bytes"),
    ("huge_dimensions.pth", lambda: with_tensor(tensor("0", 4, 0, (2**62, 4, 4), (16, 4, 1))), "format", None,
     "shape (2**62, 4, 4): the element count overflows 64 bits"),
    ("negative_dimension.pth", lambda: with_tensor(tensor("0", 4, 0, (-4,), (1,))), "format", None,
     "shape (-4,)"),
    ("safetensors_duplicate_metadata.safetensors", lambda: safetensors_dup_meta(), "format", "duplicate key",
     "safetensors whose __metadata__ holds the key \"a\" twice (\"1\", then \"2\")"),
    ("reference_bomb.pth", reference_bomb, "limit", None,
     "~2**101 tensor leaves in ~2 KB: dict values l1..l100, each a list holding the previous level twice (memo)"),
]


# ---------------------------------------------------------------------------
# Large hostile files: built at test time by tests/check_hostile.py (too big to commit).
# Each is small on disk but asks a careless reader for far more memory or time than
# its size: LARGE lists (builder, message the refusal must contain or None when the
# file may load, what).


def memo_key_refs(key_bytes=1 << 20, refs=1000):
    """A 1 MiB string memoized once and used as the key of 1000 one-tensor dicts: a reader
    that copies the key into every tensor name needs 1000 x 1 MiB."""
    key = text("k" * key_bytes) + b"r" + struct.pack("<I", 1)
    t = tensor("0", 4, 0, (4,), (1,)) + b"r" + struct.pack("<I", 2)
    items = [b"}" + key + t + b"s"]
    items += [b"}" + b"j" + struct.pack("<I", 1) + b"j" + struct.pack("<I", 2) + b"s"] * (refs - 1)
    return torch_like(pickle2(b"](" + b"".join(items) + b"e"), [("0", FOUR_FLOATS)])


def value_flood(n=4 << 20):
    """n empty tuples made and dropped (')' then POP): 2 bytes per value."""
    return torch_like(pickle2(b")0" * n + dict_of([])), [])


def stack_flood(n=(1 << 20) - 16):
    """n values left on the stack (EMPTY_DICT), then STOP."""
    return torch_like(pickle2(b"}" * n), [])


def nesting_flood(n=1 << 20):
    """n lists, each appended into the one before (EMPTY_LIST, then APPEND at the end)."""
    return torch_like(pickle2(b"]" * n + b"a" * (n - 1)), [])


def storage_inflates(nbytes=256 << 20):
    """One deflated storage that really inflates to nbytes (zeros), declared honestly: a
    float32 tensor of nbytes / 4 elements."""
    n = nbytes // 4
    pkl = pickle2(dict_of([("w", tensor("0", n, 0, (n,), (1,)))]))
    zeros = bytes(nbytes)
    items = [{"name": "archive/data.pkl", "payload": pkl},
             {"name": "archive/data/0", "payload": raw_deflate(zeros), "method": 8, "size": nbytes,
              "crc": zlib.crc32(zeros)},
             {"name": "archive/version", "payload": b"3\n"}]
    return build_zip(items)[0]


def stride0_voice(rows=5_000_000):
    """A voice-shaped tensor [rows, 510, 32]... declared over one float by stride 0."""
    return with_tensor(tensor("0", 4, 0, (rows, 510, 32), (0, 0, 0)))


def stride0_huge(n=1 << 36):
    """A float32 tensor of 2**36 elements over one float (stride 0): 256 GiB when written out."""
    return with_tensor(tensor("0", 4, 0, (n,), (0,)))


def safetensors_many(n=200_000):
    """n zero-size tensors in one safetensors header."""
    hdr = "{" + ",".join('"t%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}' % i for i in range(n)) + "}"
    b = hdr.encode()
    return struct.pack("<Q", len(b)) + b


def stride0_sum_overflows():
    """Two float32 tensors of 2**62 elements each over one float (stride 0): their element
    counts fit int64, their sum does not."""
    n = 1 << 62
    return torch_like(pickle2(dict_of([("a", tensor("0", 4, 0, (n,), (0,))), ("b", tensor("0", 4, 0, (n,), (0,)))])),
                      [("0", FOUR_FLOATS)])


def safetensors_dup_meta():
    hdr = b'{"__metadata__":{"a":"1","a":"2"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    return struct.pack("<Q", len(hdr)) + hdr + FOUR_FLOATS[:4]


LARGE = [
    ("memo_key_1000_refs.pth", memo_key_refs, "tensor names",
     "a 1 MiB dict key memoized once, then the key of 1000 one-tensor dicts"),
    ("pickle_value_flood.pth", value_flood, "pickle: the parse needs more than",
     "4M empty tuples made and popped (8 MB of opcodes)"),
    ("pickle_stack_flood.pth", stack_flood, "pickle: the parse needs more than",
     "1M empty dicts left on the stack"),
    ("pickle_nesting_flood.pth", nesting_flood, "pickle: the parse needs more than",
     "1M empty lists appended into each other"),
    ("storage_inflates_256m.pth", storage_inflates, "inflate",
     "a deflated storage that really inflates to 256 MiB of zeros (honestly declared)"),
    ("stride0_voice.pth", stride0_voice, None, "a [5e6, 510, 32] tensor over one float by stride 0"),
    ("stride0_2e36.pth", stride0_huge, None, "a float32 tensor of 2**36 elements over one float (stride 0)"),
    ("stride0_sum_overflows.pth", stride0_sum_overflows, None,
     "two tensors of 2**62 elements over one float: the parameter total overflows int64"),
    ("safetensors_200k_tensors.safetensors", safetensors_many, None, "200,000 zero-size tensors"),
]


def check_control():
    """The builders make files torch accepts when nothing is wrong."""
    try:
        import io
        import torch
    except ImportError:
        return "torch not available: control not checked"
    t = torch.load(io.BytesIO(control()))
    assert t["w"].tolist() == [[1.0, -2.0], [0.5, 3.25]], t
    return "control archive loads with torch %s" % torch.__version__


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    expected = {}
    for name, build, code, needle, what in HOSTILE:
        data = build()
        assert len(data) <= 8192, (name, len(data))
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(data)
        expected[name] = {"status": code, "message_contains": needle, "what": what, "bytes": len(data)}
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        json.dump({"marker_prefix": MARKER, "files": expected}, f, indent=1, sort_keys=True)
        f.write("\n")
    print("gen_hostile: wrote %d files into %s; %s" % (len(HOSTILE), args.out, check_control()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
