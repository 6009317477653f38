#!/usr/bin/python3
"""make_model.py - random-weight Kokoro checkpoints with the real file's keys and order.

    make_model.py --out DIR [--full] [--tiny] [--golden-voices DIR]

--full  writes DIR/kokoro-full.pth (exactly the shapes of ../shared/kokoro/keys.tsv, ~327 MB)
        and DIR/kokoro-full-config.json (the real config). Skipped when the file is already
        there with the right size. Unless --no-golden, also writes the full-size golden data
        into DIR/golden-full/ (make_golden.py; voices from ../shared/kokoro/voices).
--tiny  writes DIR/tiny/kokoro-tiny.pth, DIR/tiny/config.json and
        DIR/tiny/voices/{af,am,bf}_tiny.pt (the committed copy: --out fixtures --tiny).
Default: both.

Recipe (same for both sizes, deterministic): every tensor is drawn from its own
torch.Generator seeded by crc32(key) ^ SEED, scaled to keep activations near unit size;
weight_g is the target row norm times U[0.5,1.5] (never ||weight_v||); LayerNorm gammas
U[0.5,1.5], betas N(0,0.1); Snake alphas U[0.3,2]. Then three calibration passes through
the reference (kokoro_ref.py) on fixed phoneme strings and style rows:
  1. duration_proj: a shared direction gives per-token variation, then the bias is set by
     bisection so the mean duration is 3.5 frames/token;
  2. F0_proj / N_proj: from the measured pre-projection activations, F0 = 120 +- 80 Hz
     (mean +- std over the calibration frames) and N = 0 +- 1;
  3. conv_post: weight_g rows rescaled so the log-magnitude rows have std 0.7 and the phase
     rows std 1.5, then the magnitude bias shifted so the audio RMS is 0.08.

Determinism across BLAS kernels and thread counts: the calibration passes run float32 matrix
products whose rounding depends on the OpenBLAS kernel (AVX2 and AVX-512 kernels differ by
~1e-7 relative). Every calibrated scalar is therefore rounded to CALIB_BITS significant bits
(coarse()), a grid ~1e4 times coarser than that noise, so every kernel lands on the same value
and the checkpoint's bytes do not depend on the machine. The conv_post pass feeds the decoder
the harmonic source's STFT magnitude with its phase rows set to zero: the phase of near-zero
bins is decided by float rounding (a +-pi flip), which would make the statistics chaotic
(~2e-3 apart between kernels) instead of continuous in the inputs.
"""
import argparse
import copy
import json
import math
import os
import sys
import time
import zipfile
import zlib
from collections import OrderedDict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kokoro_ref as kr  # noqa: E402

SEED = 20240611
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SHARED = os.environ.get("KT_SHARED", os.path.join(ROOT, "..", "shared"))

TINY_DIMS = {
    "hidden_dim": 32,
    "style_dim": 16,
    "decoder_dim": 64,
    "decoder_asr_res_dim": 8,
    "plbert": {"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64,
               "embedding_size": 16},
    "istftnet": {"upsample_initial_channel": 32},
}

CALIB_PHONEMES = [
    "hˈɛloʊ wˈɜːld",
    "ðə kwˈɪk bɹˈaʊn fˈɑks dʒˈʌmps ˈoʊvɚ ðə lˈeɪzi dˈɔɡ.",
    "ɪn ðə bɪɡˈɪnɪŋ, ðə jˈunɪvˌɜːs wʌz kɹiˈeɪtᵻd. ðɪs hɐz mˌeɪd ɐ lˈɑːt ʌv pˈiːpəl "
    "vˈɛɹi ˈæŋɡɹi ænd bˌɪn wˈaɪdli ɹɪɡˈɑːɹdᵻd æz ɐ bˈæd mˈuːv.",
]
CALIB_VOICE_SEED = 999
N_CALIB_VOICES = 12      # duration calibration: every string with each of these voices
N_F0_VOICES = 4          # F0/N calibration voices; conv_post uses the first one
N_CONV_POST_STRINGS = 2  # conv_post calibration: the first strings with the first voice
DUR_TARGET = 3.5
DUR_COMMON_STD = 0.3     # logit std (over all calibration tokens) of the direction shared by all outputs
DUR_EACH_STD = 0.2       # logit std of each output's own direction
MAG_STD, PHASE_STD = 0.7, 1.5
F0_MEAN, F0_STD = 120.0, 80.0
N_MEAN, N_STD = 0.0, 1.0
AUDIO_RMS = 0.08
CALIB_BITS = 6           # significant bits kept of every calibrated scalar (grid ~1.6%)


def coarse(x, bits=CALIB_BITS):
    """x rounded to `bits` significant bits (a float; 0 stays 0)."""
    m, e = math.frexp(float(x))
    return math.ldexp(round(m * 2 ** bits) / 2 ** bits, e)


# ----------------------------------------------------------------------------------------
# configs


def base_config():
    """The real config.json (from ../shared, else the committed tiny config's vocab with
    the real dimensions)."""
    p = os.path.join(SHARED, "kokoro", "config.json")
    if os.path.exists(p):
        return kr.load_config(p)
    cfg = kr.load_config(os.path.join(ROOT, "fixtures", "tiny", "config.json"))
    for k in ("decoder_dim", "decoder_asr_res_dim"):
        cfg.pop(k, None)
    cfg["plbert"].pop("embedding_size", None)
    cfg.update({"hidden_dim": 512, "style_dim": 128})
    cfg["plbert"].update({"hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 2048})
    cfg["istftnet"]["upsample_initial_channel"] = 512
    return cfg


def tiny_config(full):
    cfg = copy.deepcopy(full)
    out = OrderedDict()
    for k, v in cfg.items():          # keep the real key order, insert the extra keys
        if k == "vocab":
            out["decoder_dim"] = TINY_DIMS["decoder_dim"]
            out["decoder_asr_res_dim"] = TINY_DIMS["decoder_asr_res_dim"]
        out[k] = v
    out["hidden_dim"] = TINY_DIMS["hidden_dim"]
    out["style_dim"] = TINY_DIMS["style_dim"]
    out["plbert"].update(TINY_DIMS["plbert"])
    out["istftnet"].update(TINY_DIMS["istftnet"])
    return out


# ----------------------------------------------------------------------------------------
# random tensors


def gen_for(key, salt=0):
    g = torch.Generator()
    g.manual_seed((zlib.crc32(key.encode()) ^ SEED ^ (salt * 0x51ED27)) & 0x7FFFFFFFFFFF)
    return g


def randn(key, shape, salt=0):
    return torch.randn(shape, generator=gen_for(key, salt))


def uniform(key, shape, lo, hi, salt=0):
    return lo + (hi - lo) * torch.rand(shape, generator=gen_for(key, salt))


def make_voice(dim, seed):
    """A voice pack [510,1,dim]: a base vector N(0,0.15) plus a slow per-row drift."""
    g = torch.Generator()
    g.manual_seed(SEED + seed)
    base = 0.15 * torch.randn(dim, generator=g)
    amp = 0.05 * torch.randn(dim, generator=g)
    freq = 0.005 + 0.02 * torch.rand(dim, generator=g)
    ph = 2 * math.pi * torch.rand(dim, generator=g)
    r = torch.arange(510, dtype=torch.float32).reshape(-1, 1)
    pack = base + amp * torch.sin(r * freq + ph) + 0.01 * torch.randn(510, dim, generator=g)
    return pack.reshape(510, 1, dim).to(torch.float32).contiguous()


def init_tensor(flat, shape, shapes, strides):
    """One tensor of the recipe. flat is 'top.module.name'."""
    name = flat.split(".module.", 1)[1]
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "weight_v":
        return randn(flat, shape) * float(uniform(flat, [1], 0.3, 3.0, salt=1))
    if leaf == "weight_g":
        base = flat[: -len("_g")]
        vshape = shapes[base + "_v"]
        gain = 1.0
        if base.endswith(".pool.weight") or ".ups." in base:   # ConvTranspose1d: dim 0 = input
            stride = strides.get(base, 2)
            gain = math.sqrt(vshape[1] * stride / (1 if base.endswith(".pool.weight") else vshape[0]))
        if base.endswith("F0_conv.weight"):
            gain = 0.01                                        # F0 is in Hz
        return gain * uniform(flat, shape, 0.5, 1.5)
    if leaf in ("gamma",) or (leaf == "weight" and "LayerNorm" in name) or \
            (leaf == "weight" and "layer_norm" in name):
        return uniform(flat, shape, 0.5, 1.5)
    if leaf == "beta" or (leaf == "bias" and ("LayerNorm" in name or "layer_norm" in name)):
        return 0.1 * randn(flat, shape)
    if ".alpha" in name:
        return uniform(flat, shape, 0.3, 2.0)
    if "_l0" in leaf:                                          # LSTM
        k = 1.0 / math.sqrt(shape[-1] if "weight_hh" in leaf else shapes[flat.replace(
            "bias_ih", "weight_hh").replace("bias_hh", "weight_hh").replace(
            "weight_ih", "weight_hh")][1])
        return uniform(flat, shape, -k, k)
    if "embeddings.weight" in name or name == "embedding.weight":
        return randn(flat, shape)
    if leaf == "bias":
        return (0.2 if name.endswith(".fc.bias") else 0.05) * randn(flat, shape)
    if leaf == "weight" and "m_source" in name:
        return randn(flat, shape)
    if leaf == "weight" or ".alpha" not in name:               # linear / plain conv
        fan_in = int(np.prod(shape[1:]))
        return randn(flat, shape) / math.sqrt(fan_in)
    raise ValueError("no recipe for " + flat)


def build_state(cfg):
    exp = kr.expected_keys(cfg)
    shapes = {}
    for top, sd in exp.items():
        for k, s in sd.items():
            shapes[top + "." + k] = s
    d = kr.Dims(cfg)
    strides = {}
    for i, u in enumerate(d.up_rates):
        strides[f"decoder.module.generator.ups.{i}.weight"] = u
    state = OrderedDict()
    for top, sd in exp.items():
        state[top] = OrderedDict()
        for k, s in sd.items():
            t = init_tensor(top + "." + k, s, shapes, strides)
            assert list(t.shape) == s, (k, t.shape, s)
            state[top][k] = t.to(torch.float32).contiguous()
    return state


# ----------------------------------------------------------------------------------------
# calibration


def calib_cases(model, cfg):
    """Every calibration string with every calibration voice (voice index v in the case)."""
    cases = []
    for v in range(N_CALIB_VOICES):
        pack = make_voice(2 * cfg["style_dim"], CALIB_VOICE_SEED + v)
        for ps in CALIB_PHONEMES:
            row = kr.voice_row(pack, ps)
            ids = model.ids(ps)
            s_dec, s_pred = model.split_style(row)
            d = model.duration_encoder(model.bert_encoder(model.albert(ids)), s_pred)
            cases.append({"ps": ps, "v": v, "ids": ids, "s_dec": s_dec, "s_pred": s_pred, "d": d})
    return cases


def sync(model, state, top, *names):
    """Copies plain (not weight-normed) tensors from the state into the reference model."""
    for n in names:
        model.w[top + "." + n] = state[top]["module." + n]


def calibrate(state, cfg, verbose=True):
    P = state["predictor"]
    Dc = state["decoder"]
    t0 = [time.time()]

    def tick(what):
        if verbose:
            print(f"  [{what}: {time.time() - t0[0]:.1f} s]")
        t0[0] = time.time()
    with torch.no_grad():
        model = kr.Kokoro(cfg, state)
        tick("fold")
        cases = calib_cases(model, cfg)
        tick("text side")
        # 1. durations
        xs = torch.cat([model.lstm(c["d"], "predictor.lstm") for c in cases])   # [Ttot,H]
        lens = [cs["d"].shape[0] for cs in cases]
        W = P["module.duration_proj.linear_layer.weight"]
        nd, H = W.shape
        # In a random model the LSTM output varies far more between utterances/voices than
        # between the tokens of one utterance, so the logit scale is set on the total
        # spread: per-utterance means stay within ~x1.5 of the target.
        c = randn("calib.dur.common", [H])
        c = c * coarse(DUR_COMMON_STD / float((xs @ c).std()))
        e = randn("calib.dur.each", [nd, H])
        e = e * coarse(DUR_EACH_STD / float((xs @ e.t()).std()))
        W = (c.reshape(1, -1) + e).contiguous()
        jitter = 0.3 * randn("calib.dur.bias", [nd])
        logits = xs @ W.t() + jitter

        def mean_dur(b):
            return float(torch.sigmoid(logits + b).sum(dim=1).mean())
        lo, hi = -20.0, 20.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if mean_dur(mid) < DUR_TARGET:
                lo = mid
            else:
                hi = mid
        b = coarse(0.5 * (lo + hi))
        P["module.duration_proj.linear_layer.weight"] = W
        P["module.duration_proj.linear_layer.bias"] = (jitter + b).contiguous()
        sync(model, state, "predictor", "duration_proj.linear_layer.weight",
             "duration_proj.linear_layer.bias")
        tick("durations")
        if verbose:
            per = [float(t.mean()) for t in torch.split(torch.sigmoid(logits + b).sum(dim=1), lens)]
            print(f"  durations: bias {b:.3f}, mean per utterance min {min(per):.2f} "
                  f"max {max(per):.2f} over {len(per)} (string, voice) pairs")
        cases_f0 = [cs for cs in cases if cs["v"] < N_F0_VOICES]
        cases = [cs for cs in cases if cs["v"] == 0]
        # 2. F0 / N projections
        pres = {"F0": [], "N": []}
        for cs in cases_f0:
            _, _, dur, pred = model.durations(cs["d"])
            cs["dur"], cs["pred_dur"] = dur, pred
            tok = model.alignment(pred)
            fo = model.f0n(cs["d"][tok].t(), cs["s_pred"], full=True)
            for n in pres:
                pres[n].append(fo[n + "_pre"])
                cs[n + "_pre"] = fo[n + "_pre"]
        for n, (mean, std) in (("F0", (F0_MEAN, F0_STD)), ("N", (N_MEAN, N_STD))):
            pre = torch.cat(pres[n], dim=1)                    # [Hl, frames]
            r = randn("calib." + n, [pre.shape[0]])
            p = r @ pre
            scale = coarse(std / float(p.std()))
            w = r * scale
            bias = coarse(mean - float(p.mean()) * scale)
            P[f"module.{n}_proj.weight"] = w.reshape(1, -1, 1).contiguous()
            P[f"module.{n}_proj.bias"] = torch.tensor([bias], dtype=torch.float32)
            sync(model, state, "predictor", f"{n}_proj.weight", f"{n}_proj.bias")
        tick("F0/N")
        # 3. conv_post: one decoder pass; conv_post is linear in each weight_g row and the
        # audio is linear in exp(magnitude bias), so both corrections are applied exactly
        # to the stored conv_post output without running the decoder again.
        K = cfg["istftnet"]["gen_istft_n_fft"] // 2 + 1
        gk = "module.generator.conv_post.weight_g"
        bk = "module.generator.conv_post.bias"
        cases = cases[:N_CONV_POST_STRINGS]
        for cs in cases:
            cs["F0"], cs["N"] = (model.conv(cs[n + "_pre"], f"predictor.{n}_proj")[0]
                                 for n in ("F0", "N"))
            tok = model.alignment(cs["pred_dur"])
            cs["asr"] = model.text_encoder(cs["ids"])[:, tok]
            mag, _ = model.stft(model.source(cs["F0"])["har_source"])
            har = torch.cat([mag, torch.zeros_like(mag)], dim=0)    # phase rows zeroed
            cs["y"] = model.decoder(cs["asr"], cs["F0"], cs["N"], cs["s_dec"], har=har)["conv_post"]
        b0 = Dc[bk].reshape(-1, 1)
        pre = torch.cat([cs["y"] for cs in cases], dim=1) - b0
        target = torch.cat([torch.full([K], MAG_STD), torch.full([pre.shape[0] - K], PHASE_STD)])
        scale = torch.tensor([coarse(v) for v in (target / pre.std(dim=1)).tolist()]).reshape(-1, 1)
        Dc[gk] = (Dc[gk] * scale.reshape(-1, 1, 1)).contiguous()
        sq, n = 0.0, 0
        for cs in cases:
            cs["y"] = (cs["y"] - b0) * scale + b0
            a = model.istft(torch.exp(cs["y"][:K]), torch.sin(cs["y"][K:]))
            sq += float((a.double() ** 2).sum())
            n += a.numel()
        delta = coarse(math.log(AUDIO_RMS / math.sqrt(sq / n)))
        bias = Dc[bk].clone()
        bias[:K] += delta
        Dc[bk] = bias.contiguous()
        tick("conv_post")
        if verbose:
            for cs in cases_f0:
                if cs["v"] != 0:
                    continue
                dur = cs["dur"]
                f0 = cs["F0_pre"]
                f0 = model.w["predictor.F0_proj.weight"].reshape(-1) @ f0 \
                    + model.w["predictor.F0_proj.bias"]
                line = (f"  calib T={dur.numel():3d} F={int(cs['pred_dur'].sum()):4d} "
                        f"dur mean {float(dur.mean()):.2f} min {float(dur.min()):.2f} "
                        f"max {float(dur.max()):.2f} | F0 mean {float(f0.mean()):.1f} "
                        f"std {float(f0.std()):.1f} voiced {float((f0 > 10).float().mean()):.2f}")
                if "y" in cs:
                    y = cs["y"].clone()
                    y[:K] += delta
                    a = model.istft(torch.exp(y[:K]), torch.sin(y[K:]))
                    line += (f" | audio rms {float(a.pow(2).mean().sqrt()):.4f} "
                             f"peak {float(a.abs().max()):.3f} finite {bool(torch.isfinite(a).all())}")
                print(line)
    return state


# ----------------------------------------------------------------------------------------


def expected_size_ok(path, cfg):
    """True when path is a zip with one storage per expected key and at least the
    expected number of data bytes."""
    try:
        exp = kr.flat_expected(cfg)
        nbytes = sum(4 * int(np.prod(s)) for _, s in exp)
        if os.path.getsize(path) < nbytes:
            return False
        with zipfile.ZipFile(path) as z:
            data = [n for n in z.namelist() if "/data/" in n]
            total = sum(z.getinfo(n).file_size for n in data)
        return len(data) == len(exp) and total == nbytes
    except (OSError, zipfile.BadZipFile):
        return False


def recipe_stamp():
    """A hash of the scripts that define the random model: a checkpoint made by another
    recipe is regenerated even when its size is right."""
    import hashlib
    h = hashlib.sha256()
    for name in ("make_model.py", "kokoro_ref.py"):
        with open(os.path.join(HERE, name), "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16] + "\n"


def make(cfg, path, verbose=True):
    t = time.time()
    state = build_state(cfg)
    if verbose:
        print(f"  [random weights: {time.time() - t:.1f} s]")
    state = calibrate(state, cfg, verbose)
    t = time.time()
    torch.save(state, path)
    if verbose:
        print(f"  [save: {time.time() - t:.1f} s]")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--no-golden", action="store_true", help="skip the full-size golden data")
    args = ap.parse_args()
    if not args.full and not args.tiny:
        args.full = args.tiny = True
    os.makedirs(args.out, exist_ok=True)
    # One thread: the reference is dominated by small matrix-vector steps (LSTMs), where
    # torch's thread pool only adds overhead, badly so on a busy machine.
    torch.set_num_threads(1)
    full_cfg = base_config()
    if args.tiny:
        cfg = tiny_config(full_cfg)
        tdir = os.path.join(args.out, "tiny")
        os.makedirs(tdir, exist_ok=True)
        with open(os.path.join(tdir, "config.json"), "w", encoding="utf-8") as f:
            json.dump(cfg, f, ensure_ascii=False, indent=2)
            f.write("\n")
        print("tiny model ->", os.path.join(tdir, "kokoro-tiny.pth"))
        make(cfg, os.path.join(tdir, "kokoro-tiny.pth"))
        vdir = os.path.join(tdir, "voices")
        os.makedirs(vdir, exist_ok=True)
        for i, name in enumerate(("af_tiny", "am_tiny", "bf_tiny")):
            torch.save(make_voice(2 * cfg["style_dim"], CALIB_VOICE_SEED + i), os.path.join(vdir, name + ".pt"))
    if args.full:
        path = os.path.join(args.out, "kokoro-full.pth")
        with open(os.path.join(args.out, "kokoro-full-config.json"), "w", encoding="utf-8") as f:
            json.dump(full_cfg, f, ensure_ascii=False, indent=2)
            f.write("\n")
        stamp_path = path + ".recipe"
        same_recipe = os.path.exists(stamp_path) and open(stamp_path).read() == recipe_stamp()
        if same_recipe and expected_size_ok(path, full_cfg):
            print("full model present:", path)
        else:
            print("full model ->", path)
            make(full_cfg, path)
            with open(stamp_path, "w") as f:
                f.write(recipe_stamp())
        if not args.no_golden:
            vdir = os.path.join(SHARED, "kokoro", "voices")
            gdir = os.path.join(args.out, "golden-full")
            if not os.path.isdir(vdir):
                print("full golden skipped: no voice packs at", vdir)
            else:
                st = os.stat(path)
                stamp = f"{st.st_size} {st.st_mtime_ns}\n"
                done = os.path.join(gdir, "DONE")
                if os.path.exists(done) and open(done).read() == stamp:
                    print("full golden present:", gdir)
                else:
                    import make_golden
                    make_golden.run(path, os.path.join(args.out, "kokoro-full-config.json"), vdir,
                                    gdir, make_golden.FULL_CASES)
                    with open(done, "w") as f:
                        f.write(stamp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
