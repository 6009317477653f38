#!/usr/bin/python3
"""check_flops.py - bench/flops.py's MAC counter against two independent counts.

1. The real config (../shared/kokoro/config.json; skipped without ../shared): every per-token and
   per-frame figure of the model's published cost table (a hook count made upstream), exactly where
   the table gives the exact number, to the printed rounding elsewhere (658.4 M MAC per frame, 79.4 M per token,
   52.7 GFLOP per audio second, the generator table).
2. The committed tiny model (fixtures/tiny): a forward pass of the PyTorch reference
   (tests/reference/kokoro_ref.py) with its conv, conv_t, linear, lstm and attention products
   counted from the shapes of the tensors actually used; the total must equal
   flops.utterance(cfg, T, F) for the T and F of that run, plus the one extra column the
   generator's last stage computes (ReflectionPad1d((1,0)) makes it 120F+1 columns).
"""
import json
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import flops  # noqa: E402
import kokoro_ref  # noqa: E402

SHARED = os.environ.get("KT_SHARED", os.path.join(ROOT, "..", "shared"))
failures = []


def check(name, got, want):
    ok = got == want
    print(f"{'ok  ' if ok else 'FAIL'} {name}: counted {got!r}, expected {want!r}")
    if not ok:
        failures.append(name)


def check_real_config():
    path = os.path.join(SHARED, "kokoro", "config.json")
    if not os.path.exists(path):
        print("skip: real config check (no", path + ")")
        return
    with open(path, encoding="utf-8") as f:
        cfg = json.load(f)
    tok = flops.per_token(cfg, 1)
    # spec 13, per token (exact)
    check("ALBERT per token", tok["ALBERT"], 66_158_592)
    check("ALBERT attention per token per T", tok["ALBERT attention (x T)"], 18_432)
    check("bert_encoder", tok["bert_encoder"], 393_216)
    check("TextEncoder", tok["TextEncoder"], 5_505_024)
    check("DurationEncoder", tok["DurationEncoder"], 5_505_024)
    check("duration LSTM", tok["duration LSTM"], 1_835_008)
    check("duration_proj", tok["duration_proj"], 25_600)
    fixed = sum(v for k, v in tok.items() if "x T" not in k)
    check("per token, rounded to 0.1 M", round(fixed / 1e6, 1), 79.4)
    # spec 13, per frame (exact)
    fr = flops.per_frame(cfg)
    check("predictor shared LSTM", fr["predictor shared LSTM"], 1_835_008)
    check("F0 branch", fr["predictor F0 branch"], 3_803_136)
    check("N branch", fr["predictor N branch"], 3_803_136)
    check("decoder encode/decode", fr["decoder encode/decode"], 34_155_718)
    gen = {k[len("generator "):]: v for k, v in fr.items() if k.startswith("generator ")}
    check("generator", sum(gen.values()), 614_850_560)
    table = {"resblocks 0-2": 165.2, "resblocks 3-5": 247.7, "noise_res.0": 55.1, "noise_res.1": 129.8}
    for k, want in table.items():
        check(f"generator {k} (M, rounded)", round(gen[k] / 1e6, 1), want)
    check("generator ups (M, rounded)", round((gen["ups.0"] + gen["ups.1"]) / 1e6, 1), 13.1)
    check("generator noise_convs (M, rounded)", round((gen["noise_convs.0"] + gen["noise_convs.1"]) / 1e6, 1), 1.7)
    check("generator conv_post (M, rounded)", round(gen["conv_post"] / 1e6, 1), 2.4)
    pf = sum(fr.values())
    check("per frame (M, rounded)", round(pf / 1e6, 1), 658.4)
    check("frames per second", flops.frames_per_second(cfg), 40.0)
    check("GFLOP per audio second (rounded)", round(2 * pf * 40 / 1e9, 1), 52.7)


class Counting(kokoro_ref.Kokoro):
    """The reference with every product counted from the shapes it really used."""

    macs = 0

    def conv(self, x, p, stride=1, pad=0, dil=1, groups=1):
        y = super().conv(x, p, stride, pad, dil, groups)
        w = self.w[p + ".weight"]                      # [Cout, Cin/g, k]
        self.macs += y.shape[1] * w.numel()
        return y

    def conv_t(self, x, p, stride, pad, out_pad=0, groups=1):
        w = self.w[p + ".weight"]                      # [Cin, Cout/g, k]
        self.macs += x.shape[1] * w.numel()
        return super().conv_t(x, p, stride, pad, out_pad, groups)

    def linear(self, x, p):
        if x.dim() == 2:   # style-only fc layers (1-D input) run once per utterance: not counted
            self.macs += x.shape[0] * self.w[p + ".weight"].numel()
        return super().linear(x, p)

    def lstm(self, x, p):
        for sfx in ("", "_reverse"):
            self.macs += x.shape[0] * (self.w[p + ".weight_ih_l0" + sfx].numel()
                                       + self.w[p + ".weight_hh_l0" + sfx].numel())
        return super().lstm(x, p)

    def albert(self, ids):
        orig = torch.Tensor.__matmul__
        me = self

        def mm(a, b):
            if a.dim() == 3 and b.dim() == 3:          # q k^T and p v, per head
                me.macs += a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]
            return orig(a, b)

        torch.Tensor.__matmul__ = mm
        try:
            return super().albert(ids)
        finally:
            torch.Tensor.__matmul__ = orig


def check_tiny_hook_count():
    tiny = os.path.join(ROOT, "fixtures", "tiny")
    cfg_path = os.path.join(tiny, "config.json")
    m = Counting.load(os.path.join(tiny, "kokoro-tiny.pth"), cfg_path)
    with open(cfg_path, encoding="utf-8") as f:
        cfg = json.load(f)
    pack = torch.load(os.path.join(tiny, "voices", "af_tiny.pt"))
    ps = "həlˈoʊ wˈɜːld, ðɪs ɪz ə tˈɛst."
    out = m.forward(ps, kokoro_ref.voice_row(pack, ps))
    T, F = out["ids"].shape[0], int(out["pred_dur"].sum())
    d = flops.Dims(cfg)
    gen = flops.generator_per_frame(d)
    nu, nk = len(d.up_rates), len(d.rb_kernels)
    last_cols = 2 * flops.prod(d.up_rates)             # columns per frame at the last stage
    last = [f"resblocks {(nu - 1) * nk}-{nu * nk - 1}", f"noise_res.{nu - 1}", f"noise_convs.{nu - 1}", "conv_post"]
    extra = sum(gen[k] for k in last) // last_cols
    print(f"tiny model: T={T} F={F}, hook count {m.macs:,} MAC")
    check("tiny utterance MACs (hook count)", m.macs, flops.utterance(cfg, T, F) + extra)


def main():
    torch.set_num_threads(1)
    check_real_config()
    check_tiny_hook_count()
    if failures:
        print(f"{len(failures)} check(s) failed: {', '.join(failures)}")
        return 1
    print("all flop counts agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
