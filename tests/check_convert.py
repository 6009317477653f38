"""kt-convert against PyTorch and numpy.

Builds small checkpoints with torch.save (a Kokoro-like dict of dicts, a flat
dict with dotted names, a bare voice-pack tensor), converts them with
kt-convert, and checks with torch.load(weights_only=True), numpy and a
json+numpy safetensors parser:
  * pth -> safetensors -> pth is bit-exact at f32 and keeps the dict layout and order;
  * f16/bf16 casts equal torch's .half()/.bfloat16() bit for bit, keep-rule tensors stay float32;
  * q8/q4 codes and scales equal an independent numpy quantizer, error <= half a step;
  * weight-norm folding matches torch._weight_norm;
  * --json fields agree with the files; --voices, --keep, .npz output;
  * bad inputs give "kt-convert: PATH: ..." and leave no output file;
  * the same command gives the same sha256.
"""
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

BUILD = os.environ.get("KT_BUILD", "build")
KT = os.path.join(BUILD, "kt-convert")
FIX = os.environ.get("KT_FIXTURES", os.path.join(BUILD, "fixtures"))
TINY = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "tiny", "kokoro-tiny.pth"))
failures = []
PTH_PENDING = False


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
    return cond


def run(*args):
    return subprocess.run([KT] + [str(a) for a in args], capture_output=True, text=True)


def convert(*args):
    """Runs kt-convert and records a failure when it does not exit 0."""
    r = run(*args)
    check(r.returncode == 0, "kt-convert %s exits 0 (%s)" % (" ".join(map(str, args)), r.stderr.strip()))
    return r


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


ST_DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "BF16": np.uint16, "I8": np.int8,
             "U8": np.uint8, "I16": np.int16, "I32": np.int32, "I64": np.int64, "BOOL": np.bool_}


def read_safetensors(path):
    """(tensors {name: (st dtype, np array)}, metadata) parsed with json + numpy only."""
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = b[8 + n:]
    out = {}
    for name, info in header.items():
        lo, hi = info["data_offsets"]
        arr = np.frombuffer(data[lo:hi], dtype=ST_DTYPES[info["dtype"]]).reshape(info["shape"])
        out[name] = (info["dtype"], arr)
    return out, meta


def write_safetensors(path, named):
    """A safetensors file written with json + numpy, tensors in the given order (torch tensors, no bf16)."""
    names = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.int64: "I64"}
    header, blobs, off = {}, [], 0
    for n, t in named:
        b = t.contiguous().numpy().tobytes()
        header[n] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def bits_equal(a, b):
    a, b = a.detach().contiguous(), b.detach().contiguous()
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.is_floating_point:
        w = {2: torch.int16, 4: torch.int32, 8: torch.int64}[a.element_size()]
        return torch.equal(a.view(w), b.view(w))
    return torch.equal(a, b)


def flat(obj, prefix=""):
    """Flattens a loaded pth (tensor, dict, dict of dicts) into [(name, tensor)] in order."""
    if isinstance(obj, torch.Tensor):
        return [(prefix, obj)]
    out = []
    for k, v in obj.items():
        out += flat(v, prefix + "." + k if prefix else k)
    return out


def layout(obj):
    """The dict nesting of a loaded pth: tensor -> 'T', dict -> [(key, layout)]."""
    if isinstance(obj, torch.Tensor):
        return "T"
    return [(k, layout(v)) for k, v in obj.items()]


def make_inputs(d):
    g = torch.Generator().manual_seed(1234)

    def rn(*shape):
        return torch.randn(*shape, generator=g)

    kokoro_like = {
        "decoder": {
            "module.conv.bias": rn(64),
            "module.conv.weight_g": rn(64, 1, 1).abs() + 0.1,
            "module.conv.weight_v": rn(64, 40, 3),
            "module.ups.weight_g": rn(48, 1, 1).abs() + 0.1,
            "module.ups.weight_v": rn(48, 24, 5),
            "module.alpha1.0": rn(1, 64, 1),
            "module.lin.weight": rn(48, 70) * 3,          # 70 = 32 + 32 + 6: short last q4 group
            "module.small.weight": rn(8, 100),            # < 1024 elements
            "module.strided.weight": rn(50, 40).t(),      # saved with non-contiguous strides
        },
        "bert": {
            "module.embeddings.word_embeddings.weight": rn(100, 32),
            "module.attention.dense.weight": rn(64, 64),
            "module.LayerNorm.weight": rn(64),
            "module.position_ids": torch.arange(20).reshape(1, 20),
        },
    }
    kokoro_like["decoder"]["module.lin.weight"][5, 68] = 40.0  # a big value only in a short group
    kokoro_like["decoder"]["module.lin.weight"][7].zero_()       # an all-zero row
    flat1 = {"a.weight": rn(40, 30), "b.bias": rn(7), "c": rn(3, 3, 3).double()}
    voice = rn(20, 1, 256)
    paths = {"kokoro": os.path.join(d, "kokoro_like.pth"), "flat1": os.path.join(d, "flat1.pth"),
             "voice": os.path.join(d, "voice.pt"), "st": os.path.join(d, "kokoro_like_py.safetensors")}
    write_safetensors(paths["st"], flat(kokoro_like))
    torch.save(kokoro_like, paths["kokoro"])
    torch.save(flat1, paths["flat1"])
    torch.save(voice, paths["voice"])
    return paths, kokoro_like, flat1, voice


def pth_usable(path, d):
    """False (and a SKIP line) while the .pth reader is still a stub."""
    global PTH_PENDING
    r = run(path, "-o", os.path.join(d, "probe.safetensors"))
    if "reader pending" in r.stderr:
        PTH_PENDING = True
        print("SKIP .pth input checks: the .pth reader is not in this build yet (%s)" % r.stderr.strip())
        return False
    return True


def check_roundtrip(d, path, original, tag):
    st, back = os.path.join(d, tag + ".safetensors"), os.path.join(d, tag + "_back.pth")
    convert(path, "-o", st)
    convert(st, "-o", back)
    if not os.path.exists(back):
        return
    got = torch.load(back, weights_only=True)
    check(layout(got) == layout(original), "%s: pth -> safetensors -> pth keeps the dict layout and order" % tag)
    a, b = flat(original), flat(got)
    check(len(a) == len(b) and all(x[0] == y[0] and bits_equal(x[1], y[1]) for x, y in zip(a, b)),
          "%s: pth -> safetensors -> pth is bit-exact (%d tensors)" % (tag, len(a)))
    tensors, _ = read_safetensors(st)
    ok = all(np.array_equal(tensors[n][1], t.contiguous().numpy()) for n, t in a if t.dtype != torch.bfloat16)
    check(ok and len(tensors) == len(a), "%s: safetensors (json+numpy) equals torch.load of the input" % tag)


def check_casts(d, path, original):
    ref = dict(flat(original))
    for dt, tdt, name in (("f16", torch.float16, "F16"), ("bf16", torch.bfloat16, "BF16")):
        out = os.path.join(d, "cast_%s.safetensors" % dt)
        convert(path, "-o", out, "--dtype", dt)
        tensors, meta = read_safetensors(out)
        check(meta.get("kt.quant") == dt, "%s: metadata kt.quant = %s" % (dt, dt))
        for n in ("decoder.module.lin.weight", "bert.module.attention.dense.weight", "decoder.module.strided.weight"):
            want = ref[n].to(tdt).contiguous().view(torch.int16).numpy().view(np.uint16)
            got = tensors[n][1].view(np.uint16)
            check(tensors[n][0] == name and np.array_equal(got, want), "%s: %s equals torch's cast bit for bit" % (dt, n))
        for n in ("decoder.module.conv.bias", "decoder.module.alpha1.0", "decoder.module.small.weight",
                  "bert.module.embeddings.word_embeddings.weight", "bert.module.LayerNorm.weight"):
            check(tensors[n][0] == "F32" and np.array_equal(tensors[n][1], ref[n].numpy()),
                  "%s: keep rule leaves %s float32 and unchanged" % (dt, n))
        check(tensors["bert.module.position_ids"][0] == "I64", "%s: int64 tensor untouched" % dt)
        check("decoder.module.conv.weight_g" in tensors, "%s: weight norm not folded by default" % dt)
        back = os.path.join(d, "cast_%s.pth" % dt)
        convert(out, "-o", back)
        got = dict(flat(torch.load(back, weights_only=True)))
        check(got["decoder.module.lin.weight"].dtype == tdt, "%s -> pth without --dtype keeps %s" % (dt, tdt))
        convert(out, "-o", back, "--dtype", "f32")
        got = dict(flat(torch.load(back, weights_only=True)))
        check(bits_equal(got["decoder.module.lin.weight"], ref["decoder.module.lin.weight"].to(tdt).float()),
              "%s -> pth --dtype f32 widens to float32 exactly" % dt)


def np_q8(w):
    rows = w.reshape(w.shape[0], -1).astype(np.float32)
    scale = (np.abs(rows).max(axis=1) / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(scale[:, None] > 0, np.rint(rows.astype(np.float64) / scale[:, None].astype(np.float64)), 0)
    return np.clip(q, -127, 127).astype(np.int8), scale


def np_q4(w):
    rows = w.reshape(w.shape[0], -1).astype(np.float32)
    n = rows.shape[1]
    ng = (n + 31) // 32
    codes = np.zeros((rows.shape[0], n), np.int8)
    scales = np.zeros((rows.shape[0], ng), np.float32)
    for gi in range(ng):
        blk = rows[:, gi * 32:(gi + 1) * 32]
        s = (np.abs(blk).max(axis=1) / np.float32(7)).astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.where(s[:, None] > 0, np.rint(blk.astype(np.float64) / s[:, None].astype(np.float64)), 0)
        codes[:, gi * 32:(gi + 1) * 32] = np.clip(q, -8, 7)
        scales[:, gi] = s
    nib = (codes.astype(np.int16) & 0xF).astype(np.uint8)
    if n % 2:
        nib = np.concatenate([nib, np.zeros((nib.shape[0], 1), np.uint8)], axis=1)
    packed = (nib[:, 0::2] | (nib[:, 1::2] << 4)).astype(np.uint8)
    return packed, scales, codes


def folded(original, base):
    grp, key = base.split(".", 1)
    g, v = original[grp][key + ".weight_g"], original[grp][key + ".weight_v"]
    return torch._weight_norm(v, g, 0)


def check_quant(d, path, original):
    ref = dict(flat(original))
    fold_path = os.path.join(d, "fold_ref.safetensors")
    convert(path, "-o", fold_path, "--fold-weight-norm")
    fold_ref, _ = read_safetensors(fold_path)
    for scheme in ("q8", "q4"):
        out = os.path.join(d, "%s.safetensors" % scheme)
        r = convert(path, "-o", out, "--dtype", scheme, "--json", "--keep", "bert.*.attention.*")
        tensors, meta = read_safetensors(out)
        summary = json.loads(r.stdout) if r.returncode == 0 else {"tensors": [], "totals": {}}
        by_name = {t["name"]: t for t in summary["tensors"]}
        check(meta.get("kt.quant") == scheme and meta.get("kt.weight_norm") == "folded",
              "%s: metadata names the scheme and the folding" % scheme)
        check("decoder.module.conv.weight_g" not in tensors and "decoder.module.conv.weight" in tensors,
              "%s: weight norm folded by default" % scheme)
        # folded weights: kt's own f32 fold (checked against torch in check_fold_f32) is the quantizer's input
        targets = {"decoder.module.lin.weight": ref["decoder.module.lin.weight"],
                   "decoder.module.strided.weight": ref["decoder.module.strided.weight"],
                   "decoder.module.conv.weight": torch.from_numpy(fold_ref["decoder.module.conv.weight"][1].copy()),
                   "decoder.module.ups.weight": torch.from_numpy(fold_ref["decoder.module.ups.weight"][1].copy())}
        for n, t in targets.items():
            w = t.detach().contiguous().numpy()
            entry = json.loads(meta.get("kt.quant." + n, "{}"))
            check(entry.get("scheme") == scheme and entry.get("shape") == list(w.shape) and entry.get("dtype") == "float32"
                  and entry.get("group") == (32 if scheme == "q4" else int(np.prod(w.shape[1:]))),
                  "%s: %s metadata records scheme, shape, dtype, group" % (scheme, n))
            codes, scales = tensors[n][1], tensors[n + ".scale"][1]
            rows = w.reshape(w.shape[0], -1)
            if scheme == "q8":
                q, s = np_q8(w)
                check(tensors[n][0] == "I8" and codes.shape == w.shape and np.array_equal(codes.reshape(q.shape), q)
                      and np.array_equal(scales, s), "q8: %s codes and scales equal numpy's quantizer" % n)
                deq = codes.reshape(q.shape).astype(np.float32) * scales[:, None]
                step = np.repeat(scales[:, None], rows.shape[1], axis=1)
            else:
                packed, s, codes_np = np_q4(w)
                check(tensors[n][0] == "U8" and np.array_equal(codes, packed) and np.array_equal(scales, s),
                      "q4: %s packed codes %s and scales %s equal numpy's" % (n, codes.shape, scales.shape))
                deq = codes_np.astype(np.float32) * np.repeat(s, 32, axis=1)[:, :rows.shape[1]]
                step = np.repeat(s, 32, axis=1)[:, :rows.shape[1]]
            err = np.abs(deq.astype(np.float64) - rows.astype(np.float64))
            check(bool(np.all(err <= step.astype(np.float64) * (0.5 + 1e-6))), "%s: %s error <= half a step" % (scheme, n))
            if n in by_name:
                e = by_name[n]
                check(abs(e["max_abs_error"] - err.max()) <= 1e-6 * max(err.max(), 1e-30) + 1e-12
                      and e["dtype_after"] == scheme and e["dtype_before"] == "float32"
                      and e["bytes_after"] == codes.nbytes + scales.nbytes,
                      "%s: --json for %s: error %.3g, bytes %d" % (scheme, n, e["max_abs_error"], e["bytes_after"]))
        kept = tensors["bert.module.attention.dense.weight"]
        check(kept[0] == "F32" and by_name.get("bert.module.attention.dense.weight", {}).get("kept") == "--keep",
              "%s: --keep GLOB keeps a matching tensor float32" % scheme)
        check(by_name.get("decoder.module.conv.weight", {}).get("folded") is True and
              by_name["decoder.module.conv.weight"]["bytes_before"] == 4 * (64 + 64 * 40 * 3),
              "%s: --json marks the folded tensor with the pair's bytes" % scheme)
        tot = summary["totals"]
        check(tot.get("bytes_after") == sum(t["bytes_after"] for t in summary["tensors"]) and
              tot.get("bytes_before") == sum(t["bytes_before"] for t in summary["tensors"]) and
              tot.get("file_bytes_after") == os.path.getsize(out) and tot.get("tensors") == len(summary["tensors"]),
              "%s: --json totals add up (%s)" % (scheme, tot))
        # dequantizing back to f32 .pth gives exactly codes * scale
        back = os.path.join(d, "%s_back.pth" % scheme)
        convert(out, "-o", back)
        if os.path.exists(back):
            got = dict(flat(torch.load(back, weights_only=True)))
            w = ref["decoder.module.lin.weight"].numpy()
            if scheme == "q8":
                q, s = np_q8(w)
                deq = q.astype(np.float32) * s[:, None]
            else:
                _, s, c = np_q4(w)
                deq = c.astype(np.float32) * np.repeat(s, 32, axis=1)[:, :w.shape[1]]
            check(np.array_equal(got["decoder.module.lin.weight"].numpy(), deq),
                  "%s -> pth dequantizes to codes * scale exactly" % scheme)
            want = [n[:-2] if n.endswith(".weight_g") else n for n, _ in flat(original) if not n.endswith(".weight_v")]
            check(list(got) == want, "%s -> pth has every logical tensor in file order, folded pairs in place" % scheme)


def check_fold_f32(d, path, original):
    out = os.path.join(d, "fold.safetensors")
    convert(path, "-o", out, "--fold-weight-norm")
    tensors, _ = read_safetensors(out)
    for base in ("decoder.module.conv", "decoder.module.ups"):
        want = folded(original, base).detach().numpy()
        got = tensors[base + ".weight"][1]
        check(np.allclose(got, want, rtol=2e-6, atol=1e-7), "fold: %s.weight equals torch._weight_norm (max diff %.2g)"
              % (base, float(np.abs(got - want).max())))
    back = os.path.join(d, "fold.pth")
    convert(path, "-o", back, "--fold-weight-norm")
    names = [n for n, _ in flat(torch.load(back, weights_only=True))]
    check(names.index("decoder.module.conv.weight") == 1 and "decoder.module.conv.weight_v" not in names,
          "fold: X.weight takes the place of the weight_g/weight_v pair (%s)" % names[:4])


def check_voices_npz(d, path, kokoro_like, voice):
    vd = os.path.join(d, "voices")
    os.makedirs(vd, exist_ok=True)
    if PTH_PENDING:  # .npy voice packs need only the npy reader
        np.save(os.path.join(vd, "af_test.npy"), voice.numpy())
        np.save(os.path.join(vd, "bm_test.npy"), (voice * 2).numpy())
    else:
        torch.save(voice, os.path.join(vd, "af_test.pt"))
        torch.save(voice * 2, os.path.join(vd, "bm_test.pt"))
    open(os.path.join(vd, "README.txt"), "w").write("not a voice\n")
    out = os.path.join(d, "with_voices.safetensors")
    convert(path, "-o", out, "--dtype", "q8", "--voices", vd)
    tensors, _ = read_safetensors(out)
    check(tensors.get("voices.af_test", ("", None))[0] == "F32" and np.array_equal(tensors["voices.af_test"][1], voice.numpy())
          and np.array_equal(tensors["voices.bm_test"][1], (voice * 2).numpy()), "--voices embeds voices.NAME as float32")
    npz = os.path.join(d, "out.npz")
    convert(path, "-o", npz, "--dtype", "f16")
    z = np.load(npz)
    ref = dict(flat(kokoro_like))
    check(set(z.files) == set(ref) and z["decoder.module.lin.weight"].dtype == np.float16 and
          np.array_equal(z["decoder.module.lin.weight"], ref["decoder.module.lin.weight"].half().numpy()),
          ".npz output loads with numpy and equals torch's f16 cast")


def check_bad_inputs(d, path):
    junk = os.path.join(d, "junk.pth")
    open(junk, "wb").write(b"this is not a checkpoint at all\n" * 4)
    cases = [
        ([junk, "-o", os.path.join(d, "bad1.safetensors")], junk, os.path.join(d, "bad1.safetensors")),
        ([path, "-o", os.path.join(d, "bad2.safetensors"), "--dtype", "q3"], "--dtype q3", os.path.join(d, "bad2.safetensors")),
        ([path, "-o", os.path.join(d, "no_such_dir", "x.safetensors")], os.path.join(d, "no_such_dir", "x.safetensors"), None),
        ([path, "-o", os.path.join(d, "bad3.pth"), "--dtype", "q8"], os.path.join(d, "bad3.pth"), os.path.join(d, "bad3.pth")),
        ([path, "-o", path], path, None),
    ]
    before = sorted(os.listdir(d))
    mtime = os.path.getmtime(path)
    for args, where, outp in cases:
        r = run(*args)
        line = r.stderr.strip()
        check(r.returncode != 0 and line.startswith("kt-convert: %s: " % where) and "\n" not in line,
              "bad input rejected with one line, rc %d: %s" % (r.returncode, line))
        if outp:
            check(not os.path.exists(outp), "no output file for a failed run: " + os.path.basename(outp))
    check(sorted(os.listdir(d)) == before and os.path.getmtime(path) == mtime,
          "failed runs leave no files (temp or final) and do not touch the input")


def check_deterministic(d, path):
    for ext, extra in ((".safetensors", ["--dtype", "q4"]), (".pth", []), (".npz", [])):
        out = os.path.join(d, "det" + ext)
        convert(path, "-o", out, *extra)
        h1 = sha(out)
        os.remove(out)
        convert(path, "-o", out, *extra)
        check(sha(out) == h1, "same input and options give the same sha256 (%s %s)" % (ext, h1[:16]))


def check_tiny(d):
    if not os.path.exists(TINY):
        print("SKIP tiny fixture: %s absent" % TINY)
        return
    original = torch.load(TINY, weights_only=True)
    check_roundtrip(d, TINY, original, "tiny")
    out = os.path.join(d, "tiny_q8.safetensors")
    r = convert(TINY, "-o", out, "--dtype", "q8", "--json")
    if r.returncode == 0:
        s = json.loads(r.stdout)
        n_wg = sum(1 for n, _ in flat(original) if n.endswith(".weight_g"))
        check(len(s["tensors"]) == len(flat(original)) - n_wg,
              "tiny q8: %d tensors after folding %d pairs; %d -> %d bytes, max error %.3g"
              % (len(s["tensors"]), n_wg, s["totals"]["bytes_before"], s["totals"]["bytes_after"],
                 s["totals"]["max_abs_error"]))


def check_real_voices(d, path):
    """--voices with the real Kokoro voice packs (skipped without ../shared)."""
    vd = os.path.join(os.environ.get("KT_SHARED", "../shared"), "kokoro", "voices")
    if not os.path.isdir(vd):
        print("SKIP real voices: %s absent" % vd)
        return
    out = os.path.join(d, "real_voices.safetensors")
    convert(path, "-o", out, "--dtype", "q4", "--voices", vd)
    tensors, _ = read_safetensors(out)
    names = sorted(f[:-3] for f in os.listdir(vd) if f.endswith(".pt"))
    ok = all(np.array_equal(tensors["voices." + n][1], torch.load(os.path.join(vd, n + ".pt"), weights_only=True).numpy())
             for n in names)
    check(ok and len(names) > 0, "real voice packs embedded unchanged: %s" % ", ".join(names))


def main():
    if not os.path.exists(KT):
        print("FAIL: %s not built" % KT)
        return 1
    with tempfile.TemporaryDirectory() as d:
        paths, kokoro_like, flat1, voice = make_inputs(d)
        inputs = [paths["st"]]
        if pth_usable(paths["kokoro"], d):
            check_roundtrip(d, paths["kokoro"], kokoro_like, "kokoro_like")
            check_roundtrip(d, paths["flat1"], flat1, "flat1")
            check_roundtrip(d, paths["voice"], voice, "voice")
            inputs.append(paths["kokoro"])
        for src in inputs:
            print("-- input %s" % os.path.basename(src))
            check_casts(d, src, kokoro_like)
            check_quant(d, src, kokoro_like)
            check_fold_f32(d, src, kokoro_like)
            check_voices_npz(d, src, kokoro_like, voice)
            check_bad_inputs(d, src)
            check_deterministic(d, src)
        if not PTH_PENDING:
            check_tiny(d)
            check_real_voices(d, paths["kokoro"])
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
