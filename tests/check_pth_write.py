#!/usr/bin/python3
"""check_pth_write.py - files from kt's torch.save writer, loaded by PyTorch itself.

Runs $KT_BUILD/tests/test_pth_write with KT_PTH_WRITE_OUT=DIR so it leaves its files, then
torch.load(f, weights_only=True) each: the bare tensor (nest 0), the flat OrderedDict (nest 1)
and the dict of dicts (nest 2), every dtype, a transposed view, a 0-d and an empty tensor,
values recomputed here from the same formula. The pickle of the bare tensor must be the one
torch.save wrote for the real af_heart.pt, opcode for opcode once memo puts are ignored.
"""
import os
import pickletools
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import OrderedDict

import numpy as np
import torch

BUILD = os.environ.get("KT_BUILD", "build")
SHARED = os.environ.get("KT_SHARED", "../shared")
BIN = os.path.join(BUILD, "tests", "test_pth_write")

# name, torch dtype, shape as stored, transposed view
SAMPLES = [
    ("bert.embeddings.weight", torch.float32, (4, 3), True),
    ("decoder.conv.weight_g", torch.float16, (2, 1, 5), False),
    ("bert.pooler.bias", torch.float64, (7,), False),
    ("predictor.lstm.weight", torch.bfloat16, (3, 3), False),
    ("decoder.ids", torch.int64, (70000,), False),
    ("text.a.b.c", torch.int32, (2, 2), False),
    ("text.short", torch.int16, (5,), False),
    ("text.int8", torch.int8, (6,), False),
    ("text.u8", torch.uint8, (6,), False),
    ("text.mask", torch.bool, (2, 3), False),
    ("text.scalar", torch.float32, (), False),
    ("text.empty", torch.float32, (0, 3), False),
]


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def expected(k, dtype, shape, transpose):
    n = int(np.prod(shape)) if shape else 1
    i = np.arange(n, dtype=np.int64)
    if dtype == torch.bool:
        v = (i + k) % 3 == 0
    elif dtype == torch.uint8:
        v = (i * 7 + k * 3) % 23
    else:
        v = ((i * 7 + k * 3) % 23 - 11).astype(np.float64)
        if dtype.is_floating_point:
            v = v * 0.25
    t = torch.tensor(v.reshape(shape)).to(dtype)
    return t.t() if transpose else t


def compare(got, k, where):
    name, dtype, shape, tr = SAMPLES[k]
    want = expected(k, dtype, shape, tr)
    if got.dtype != dtype or tuple(got.shape) != tuple(want.shape) or not torch.equal(got, want):
        fail("%s: %s differs (%s %s vs %s %s)" % (where, name, got.dtype, tuple(got.shape), dtype,
                                                   tuple(want.shape)))


def ops_without_memo(data):
    return [(op.name, arg) for op, arg, _ in pickletools.genops(data) if op.name not in ("BINPUT", "LONG_BINPUT")]


def main():
    if not os.access(BIN, os.X_OK):
        fail("%s is not built" % BIN)
    d = tempfile.mkdtemp(prefix="kt_check_pth_write_")
    try:
        p = subprocess.run([BIN], env=dict(os.environ, KT_PTH_WRITE_OUT=d), capture_output=True, text=True)
        if p.returncode:
            fail("test_pth_write failed:\n" + p.stdout + p.stderr)
        flat = torch.load(os.path.join(d, "nest1.pth"), weights_only=True)
        if type(flat) is not OrderedDict or list(flat) != [s[0] for s in SAMPLES]:
            fail("nest 1: keys %s" % list(flat))
        for k in range(len(SAMPLES)):
            compare(flat[SAMPLES[k][0]], k, "nest 1")
        nested = torch.load(os.path.join(d, "nest2.pth"), weights_only=True)
        if list(nested) != ["bert", "decoder", "predictor", "text"]:
            fail("nest 2: groups %s" % list(nested))
        for k, (name, _, _, _) in enumerate(SAMPLES):
            group, rest = name.split(".", 1)
            compare(nested[group][rest], k, "nest 2")
        voice = torch.load(os.path.join(d, "nest0.pt"), weights_only=True)
        want = torch.tensor((np.arange(510 * 256) % 1000).astype(np.float32) / 512 - 1).reshape(510, 1, 256)
        if not torch.equal(voice, want) or voice.stride() != (256, 256, 1):
            fail("nest 0: the bare voice tensor differs")
        print("torch.load(weights_only=True): nest 0 voice, nest 1 (12 tensors), nest 2 (4 groups), "
              "10 dtypes, view, 0-d and empty tensors equal")
        real = os.path.join(SHARED, "kokoro", "voices", "af_heart.pt")
        if not os.path.exists(real):
            print("SKIP pickle comparison: %s is absent" % real)
            return 0
        theirs = zipfile.ZipFile(real).read("af_heart/data.pkl")
        ours = zipfile.ZipFile(os.path.join(d, "nest0.pt")).read("nest0/data.pkl")
        if ops_without_memo(ours) != ops_without_memo(theirs):
            fail("the bare-tensor pickle differs from torch.save's:\n%s\n%s" % (ops_without_memo(ours),
                                                                                 ops_without_memo(theirs)))
        print("pickle: same %d opcodes and arguments as torch.save's af_heart.pt (memo puts aside)"
              % len(ops_without_memo(ours)))
    finally:
        shutil.rmtree(d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
