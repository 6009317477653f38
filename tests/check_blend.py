#!/usr/bin/python3
"""check_blend.py - kt-blend against PyTorch and numpy on the real Kokoro voice packs.

Blends must equal the numpy float64 computation rounded to float32, value for value; every
output format must load in torch/numpy and every torch/numpy-written format must load in kt;
bad inputs must fail with the right message and leave no file; equal inputs give equal bytes.
Needs $KT_SHARED/kokoro/voices (skipped with a message when absent) and $KT_BUILD/kt-blend.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

BUILD = os.environ.get("KT_BUILD", "build")
SHARED = os.environ.get("KT_SHARED", "../shared")
VOICES = os.path.join(SHARED, "kokoro", "voices")
TOOL = os.path.join(BUILD, "kt-blend")
CHECKS = 0


def check(cond, what):
    global CHECKS
    CHECKS += 1
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


def run(args, ok=True, env_voices=True):
    env = dict(os.environ)
    if env_voices:
        env["KT_VOICES"] = VOICES
    p = subprocess.run([TOOL] + args, capture_output=True, text=True, env=env)
    if ok and p.returncode != 0:
        print("FAIL: kt-blend", " ".join(args), "exited", p.returncode, p.stderr)
        sys.exit(1)
    return p


def pack(name):
    return torch.load(os.path.join(VOICES, name + ".pt"), weights_only=True).numpy()


def reference(voices, weights, normalize=True):
    """The blend in float64, accumulated in term order, rounded to float32 once."""
    s = 0.0
    for w in weights:
        s += w
    used = [w / s for w in weights] if normalize else list(weights)
    acc = np.zeros(voices[0].shape, dtype=np.float64)
    for v, w in zip(voices, used):
        acc = acc + w * v.astype(np.float64)
    return acc.astype(np.float32)


def same(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        check(info["dtype"] == "F32", "safetensors dtype F32")
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + a:8 + n + b], dtype="<f4").reshape(info["shape"])
    return out, meta


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        raw = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def load_any(path):
    """Reads a kt-blend output with torch/numpy only."""
    ext = os.path.splitext(path)[1]
    if ext in (".pt", ".pth"):
        return torch.load(path, weights_only=True).numpy()
    if ext == ".npy":
        return np.load(path)
    if ext == ".npz":
        z = np.load(path)
        check(len(z.files) == 1, "npz output holds one array")
        return z[z.files[0]]
    if ext == ".bin":
        return np.fromfile(path, dtype="<f4").reshape(510, 1, -1)
    if ext == ".safetensors":
        t, _ = read_safetensors(path)
        check(len(t) == 1, "safetensors output holds one tensor")
        return next(iter(t.values()))
    raise ValueError(path)


def test_blend_exact(d):
    heart, adam, bella, emma, alpha = (pack(n) for n in ("af_heart", "am_adam", "af_bella", "bf_emma", "jf_alpha"))
    out = os.path.join(d, "mix.pt")
    run(["af_heart:0.6", "am_adam:0.4", "-o", out])
    got = torch.load(out, weights_only=True)
    check(tuple(got.shape) == (510, 1, 256) and got.dtype == torch.float32, "mix.pt shape/dtype")
    check(same(got.numpy(), reference([heart, adam], [0.6, 0.4])), "af_heart:0.6 am_adam:0.4 == numpy")
    run(["af_bella(2)+bf_emma(1)-jf_alpha(0.5)", "-o", out])
    check(same(load_any(out), reference([bella, emma, alpha], [2, 1, -0.5])), "a(2)+b(1)-c(0.5) == numpy")
    run(["af_heart,am_adam,af_bella", "-o", out])
    check(same(load_any(out), reference([heart, adam, bella], [1, 1, 1])), "a,b,c == numpy")
    run(["af_heart:0.7", "am_adam:0.6", "--no-normalize", "-o", out])
    check(same(load_any(out), reference([heart, adam], [0.7, 0.6], False)), "--no-normalize == numpy")
    run(["af_heart-am_adam", "--no-normalize", "-o", out])
    check(same(load_any(out), reference([heart, adam], [1, -1], False)), "a-b --no-normalize == numpy")
    print("blend: 5 expressions equal numpy float64->float32 value for value")


def test_output_formats(d):
    ref = reference([pack("af_heart"), pack("am_adam")], [0.3, 0.7])
    for ext in ("pt", "pth", "safetensors", "npy", "npz", "bin"):
        out = os.path.join(d, "f." + ext)
        run(["af_heart:0.3", "am_adam:0.7", "-o", out])
        check(same(load_any(out), ref), "torch/numpy read kt's ." + ext)
        # and kt reads it back: a single-term blend reproduces the values
        back = os.path.join(d, "back_%s.npy" % ext)
        run([out, "-o", back])
        check(same(np.load(back), ref), "kt reads its own ." + ext)
    _, meta = read_safetensors(os.path.join(d, "f.safetensors"))
    recipe = json.loads(meta["kt.recipe"])
    check(recipe["mode"] == "blend" and [t["voice"] for t in recipe["blend"]] == ["af_heart", "am_adam"],
          "safetensors metadata carries the recipe")
    out = os.path.join(d, "g.npy")
    run(["af_heart:0.3", "am_adam:0.7", "--format", "bin", "-o", out])
    check(os.path.getsize(out) == 510 * 256 * 4, "--format bin overrides the extension")
    run(["af_heart:0.3", "am_adam:0.7", "--recipe", "-o", os.path.join(d, "r.pt")])
    side = json.load(open(os.path.join(d, "r.pt.json")))
    check([t["used"] for t in side["blend"]] == [0.3, 0.7], "--recipe sidecar weights")
    print("formats: pt, pth, safetensors, npy, npz, bin read by torch/numpy and by kt; recipe recorded")


def test_foreign_inputs(d):
    heart, adam, emma = pack("af_heart"), pack("am_adam"), pack("bf_emma")
    t = torch.from_numpy(heart)
    torch.save(t, os.path.join(d, "h_zip.pt"))
    torch.save(t, os.path.join(d, "h_legacy.pt"), _use_new_zipfile_serialization=False)
    torch.save({"voice": t}, os.path.join(d, "h_dict.pth"))
    np.save(os.path.join(d, "h.npy"), heart)
    heart.tofile(os.path.join(d, "h.bin"))
    write_safetensors(os.path.join(d, "h.safetensors"), {"af_heart": heart})
    with open(os.path.join(d, "voices-v1.0.bin"), "wb") as f:  # a file object: savez adds no ".npz"
        np.savez(f, af_heart=heart, am_adam=adam)
    np.stack([heart[:, 0], adam[:, 0], emma[:, 0]]).astype("<f4").tofile(os.path.join(d, "voices.bin"))
    for name in ("h_zip.pt", "h_legacy.pt", "h_dict.pth", "h.npy", "h.bin", "h.safetensors"):
        out = os.path.join(d, "from.npy")
        run([os.path.join(d, name) + ":0.6", "am_adam:0.4", "-o", out])
        check(same(np.load(out), reference([heart, adam], [0.6, 0.4])), "kt reads torch/numpy " + name)
    npz = os.path.join(d, "voices-v1.0.bin")
    out = os.path.join(d, "from.pt")
    run([npz + ":am_adam:0.25", npz + ":af_heart:0.75", "-o", out])
    check(same(load_any(out), reference([adam, heart], [0.25, 0.75])), "npz bundle members as terms")
    raw = os.path.join(d, "voices.bin")
    run([raw + ":#2(1)+" + raw + ":#0(3)", "-o", out])
    check(same(load_any(out), reference([emma, heart], [1, 3])), "raw bundle members as terms")
    run(["--extract", "am_adam", npz, "-o", out])
    check(same(load_any(out), adam), "--extract from the npz is exact")
    run(["--extract", "2", raw, "-o", out])
    check(same(load_any(out), emma), "--extract from the raw bundle is exact")
    listing = json.loads(run(["--list", npz, "--json"]).stdout)
    check([v["name"] for v in listing["voices"]] == ["af_heart", "am_adam"], "--list npz names")
    listing = json.loads(run(["--list", raw, "--json"]).stdout)
    check([v["name"] for v in listing["voices"]] == ["0", "1", "2"], "--list raw indices")
    print("inputs: torch zip/legacy/dict .pt, npy, raw bin, safetensors, npz and raw bundles read by kt")


def test_append(d):
    heart, adam, emma = pack("af_heart"), pack("am_adam"), pack("bf_emma")
    npz = os.path.join(d, "bundle.npz")
    np.savez(npz, af_heart=heart, am_adam=adam)
    run(["af_heart:0.5", "am_adam:0.5", "--append", npz, "--name", "mix"])
    z = np.load(npz)
    check(z.files == ["af_heart", "am_adam", "mix"], "appended npz members: %s" % z.files)
    check(same(z["af_heart"], heart) and same(z["am_adam"], adam), "npz members kept exactly")
    check(same(z["mix"], reference([heart, adam], [0.5, 0.5])), "appended npz member == numpy")
    before = open(npz, "rb").read()
    p = run(["bf_emma", "--append", npz, "--name", "mix"], ok=False)
    check(p.returncode == 1 and "already holds a voice 'mix'" in p.stderr, "append to a taken name fails")
    check(open(npz, "rb").read() == before, "the bundle is untouched after a failed append")
    run(["bf_emma", "--append", npz, "--name", "mix", "--force"])
    check(same(np.load(npz)["mix"], emma), "--force replaces a member")
    raw = os.path.join(d, "sherpa.bin")
    np.stack([heart[:, 0], adam[:, 0]]).astype("<f4").tofile(raw)
    run(["af_heart:0.5", "bf_emma:0.5", "--append", raw, "--name", "x"])
    r = np.fromfile(raw, dtype="<f4").reshape(-1, 510, 256)
    check(r.shape[0] == 3 and same(r[0], heart[:, 0]) and same(r[1], adam[:, 0]), "raw bundle kept")
    check(same(r[2], reference([heart, emma], [0.5, 0.5])[:, 0]), "appended raw voice == numpy")
    new = os.path.join(d, "new.npz")
    run(["af_heart:0.6", "am_adam:0.4", "--append", new])
    run(["bf_emma", "--append", new, "--name", "emma"])
    z = np.load(new)
    check(z.files == ["af_heart_0.6_am_adam_0.4", "emma"], "a missing bundle is created; names: %s" % z.files)
    check(same(z["emma"], emma), "member of the created bundle is exact")
    one = os.path.join(d, "one.npz")
    run(["af_bella(2)+af_heart(1)", "-o", one])
    check(np.load(one).files == ["af_bella_2_af_heart_1"], "-o one.npz: member named after the expression, "
          "not the file: %s" % np.load(one).files)
    st = os.path.join(d, "named.safetensors")
    run(["af_heart", "-o", st, "--name", "heart"])
    t, _ = read_safetensors(st)
    check(list(t) == ["heart"] and same(t["heart"], heart), "--name names the safetensors tensor: %s" % list(t))
    p = run(["af_heart", "-o", st, "--name", "two words"], ok=False)
    check(p.returncode == 2, "--name with a space is a usage error")
    print("append: npz and raw bundles grow by the blend; taken names refused unless --force; a missing "
          "bundle is created; members named by --name or the expression")


def slerp_ref(a, b, t):
    a, b = a.astype(np.float64)[:, 0], b.astype(np.float64)[:, 0]
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    ua, ub = a / na[:, None], b / nb[:, None]
    om = np.arccos(np.clip((ua * ub).sum(1), -1, 1))
    so = np.sin(om)
    d = (np.sin((1 - t) * om) / so)[:, None] * ua + (np.sin(t * om) / so)[:, None] * ub
    return (((1 - t) * na + t * nb)[:, None] * d)[:, None, :]


def test_slerp_split_interp(d):
    heart, adam, george = pack("af_heart"), pack("am_adam"), pack("bm_george")
    out = os.path.join(d, "s.pt")
    run(["--slerp", "af_heart", "am_adam", "--t", "0.3", "-o", out])
    got = load_any(out).astype(np.float64)
    err = np.abs(got - slerp_ref(heart, adam, 0.3)).max()
    check(err < 1e-6, "slerp t=0.3 vs numpy (max err %g)" % err)
    want = 0.7 * np.linalg.norm(heart[:, 0].astype(np.float64), axis=1) + 0.3 * np.linalg.norm(
        adam[:, 0].astype(np.float64), axis=1)
    check(np.abs(np.linalg.norm(got[:, 0], axis=1) - want).max() < 1e-5, "slerp row norms interpolate")
    run(["--slerp", "af_heart", "am_adam", "--t", "0", "-o", out])
    check(np.abs(load_any(out) - heart).max() < 1e-6, "slerp t=0 is A")
    run(["--timbre", "af_heart", "--prosody", "am_adam:0.5,bm_george:0.5", "-o", out])
    got = load_any(out)
    check(same(got[..., :128], heart[..., :128]), "timbre half from af_heart")
    check(same(got[..., 128:], reference([adam, george], [0.5, 0.5])[..., 128:]), "prosody half from the blend")
    series = os.path.join(d, "series")
    run(["--interp", "af_heart", "am_adam", "--steps", "5", "-o", series + "/", "--format", "npy"])
    names = sorted(os.listdir(series))
    check(names == ["af_heart_am_adam_%02d.npy" % i for i in range(5)], "interp file names %s" % names)
    for i in range(5):
        t = i / 4
        check(same(np.load(os.path.join(series, names[i])), reference([heart, adam], [1 - t, t], False)),
              "interp step %d == numpy" % i)
    print("slerp (max err %.2g), timbre/prosody halves, 5-step interp checked" % err)


def listing(d):
    return sorted(os.listdir(d))


def test_errors(d):
    bad = os.path.join(d, "bad")
    os.makedirs(bad)
    np.save(os.path.join(bad, "small.npy"), np.zeros((510, 1, 128), np.float32))
    shutil.copy(os.path.join(VOICES, "af_heart.pt"), os.path.join(bad, "mine.pt"))
    out = os.path.join(bad, "out.pt")
    small = os.path.join(bad, "small.npy")
    cases = [
        (["af_heart(2", "-o", out], 2, "malformed term 'af_heart(2': missing ')'"),
        (["af_heart:0.5:", "-o", out], 2, "is not a finite number"),
        (["af_heart,,am_adam", "-o", out], 2, "empty term"),
        (["af_heart+", "-o", out], 2, "missing voice after"),
        (["af_heart:nan", "am_adam", "-o", out], 2, "term 'af_heart:nan': weight 'nan' is not a finite number"),
        (["af_heart(inf)", "-o", out], 2, "weight 'inf' is not a finite number"),
        (["nobody:0.5", "af_heart", "-o", out], 1, "unknown voice 'nobody'"),
        (["af_heart:0", "am_adam:0", "-o", out], 2, "all weights are zero"),
        (["af_heart-am_adam", "-o", out], 2, "'af_heart -am_adam': the weights sum to 0"),
        (["af_heart", small, "-o", out], 1, "term '%s': shape [510,1,128] differs from 'af_heart'" % small),
        (["af_heart", "-o", os.path.join(bad, "out.wav")], 2, "cannot tell the format"),
        (["--interp", "af_heart", "am_adam", "--steps", "1", "-o", bad + "/s/"], 2, "--steps 1"),
        (["--slerp", "af_heart", "am_adam", "--t", "x", "-o", out], 2, "--t x is not a finite number"),
        (["af_heart", "--bogus", "-o", out], 2, "unknown option --bogus"),
        (["af_heart:0.5", os.path.join(bad, "mine.pt") + ":0.5", "-o", os.path.join(bad, "mine.pt")], 2,
         "is an input (term"),
        (["af_heart", "-o", os.path.join(bad, "nodir", "x.pt")], 3, "nodir"),
    ]
    before = listing(bad)
    mine = open(os.path.join(bad, "mine.pt"), "rb").read()
    for args, code, msg in cases:
        p = run(args, ok=False)
        check(p.returncode == code, "%s: exit %d, want %d (%s)" % (args, p.returncode, code, p.stderr.strip()))
        check(msg in p.stderr, "%s: message %r lacks %r" % (args, p.stderr.strip(), msg))
        check(listing(bad) == before, "%s: no file appears (%s)" % (args, listing(bad)))
    check(open(os.path.join(bad, "mine.pt"), "rb").read() == mine, "the input is not overwritten")
    run(["af_heart:0.5", os.path.join(bad, "mine.pt") + ":0.5", "-o", os.path.join(bad, "mine.pt"), "--force"])
    check(open(os.path.join(bad, "mine.pt"), "rb").read() != mine, "--force overwrites the input")
    print("errors: %d bad inputs fail with their message and leave no file" % len(cases))


def test_deterministic(d):
    for ext in ("pt", "safetensors", "npy", "npz", "bin"):
        outs = []
        for sub in ("d1", "d2"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
            outs.append(os.path.join(d, sub, "mix." + ext))
            run(["af_heart:0.6", "am_adam:0.4", "-o", outs[-1], "--recipe"])
        check(open(outs[0], "rb").read() == open(outs[1], "rb").read(), "same inputs, same bytes (.%s)" % ext)
    print("determinism: byte-identical outputs for pt, safetensors, npy, npz, bin")


def main():
    if not os.path.isdir(VOICES):
        print("SKIP: %s is absent (the real voice packs are needed)" % VOICES)
        return 0
    if not os.access(TOOL, os.X_OK):
        print("FAIL: %s is not built" % TOOL)
        return 1
    d = tempfile.mkdtemp(prefix="kt_check_blend_")
    try:
        test_blend_exact(d)
        test_output_formats(d)
        test_foreign_inputs(d)
        test_append(d)
        test_slerp_split_interp(d)
        test_errors(d)
        test_deterministic(d)
    finally:
        shutil.rmtree(d)
    print("check_blend: %d checks passed" % CHECKS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
