#!/usr/bin/python3
"""flops.py - Kokoro's multiply-accumulates (MACs; FLOPs = 2 x MACs), counted from a config.json.

    flops.py CONFIG [--tokens T] [--frames F] [--json]

Counts the MACs of every matrix product and convolution in the forward pass from the layer
shapes the config implies (every network of the model, as docs/model.md lists them; per token
and per frame). Elementwise work (norms, activations, Snake, the harmonic
source, STFT/iSTFT) is not counted, nor are the style-only fc layers (once per utterance), as in
the spec. Without --tokens/--frames it prints the per-token and per-frame breakdowns and the cost
per second of audio; with them, the total for one utterance of T tokens (BOS/EOS included) and F
frames. Plain Python (no numpy/torch), importable: per_token(cfg, T), per_frame(cfg),
utterance(cfg, T, F), frames_per_second(cfg).
"""
import argparse
import json
import sys
from collections import OrderedDict


class Dims:
    """The dimensions of a config.json dict (optional keys default to upstream's constants)."""

    def __init__(self, cfg):
        pl, ist = cfg["plbert"], cfg["istftnet"]
        self.hidden = cfg["hidden_dim"]
        self.style = cfg["style_dim"]
        self.n_layer = cfg["n_layer"]
        self.max_dur = cfg["max_dur"]
        self.kernel = cfg["text_encoder_kernel_size"]
        self.decoder_dim = cfg.get("decoder_dim", 1024)
        self.asr_res = cfg.get("decoder_asr_res_dim", 64)
        self.bert_hidden = pl["hidden_size"]
        self.bert_inter = pl["intermediate_size"]
        self.bert_layers = pl["num_hidden_layers"]
        self.bert_emb = pl.get("embedding_size", 128)
        self.up_rates = list(ist["upsample_rates"])
        self.up_kernels = list(ist["upsample_kernel_sizes"])
        self.up_channel = ist["upsample_initial_channel"]
        self.rb_kernels = list(ist["resblock_kernel_sizes"])
        self.rb_dilations = [list(d) for d in ist["resblock_dilation_sizes"]]
        self.n_fft = ist["gen_istft_n_fft"]
        self.hop = ist["gen_istft_hop_size"]


def prod(xs):
    p = 1
    for x in xs:
        p *= x
    return p


def conv(cin, cout, k, groups=1):
    """MACs of one output column of a Conv1d (or one input column of a ConvTranspose1d)."""
    return cin // groups * cout * k


def bilstm(inp, h):
    """MACs of one time step of a 1-layer bidirectional LSTM (input and recurrent products)."""
    return 2 * 4 * h * (inp + h)


def adain_resblk(cin, cout, up):
    """MACs per INPUT column of AdainResBlk1d (spec 5.1); up doubles the columns after pool."""
    r = 2 if up else 1
    m = conv(cin, cin, 3, groups=cin) if up else 0       # depthwise pool, per input column
    m += r * conv(cin, cout, 3) + r * conv(cout, cout, 3)
    if cin != cout:
        m += r * conv(cin, cout, 1)
    return m


def resblock1(c, k, n_dil):
    """MACs per column of AdaINResBlock1 (spec 8.4): two C->C convs of width k per dilation."""
    return 2 * n_dil * conv(c, c, k)


def per_token(cfg, T):
    """OrderedDict part -> MACs per token for an utterance of T tokens (attention grows with T)."""
    d = Dims(cfg)
    B, H, S, Hl = d.bert_hidden, d.hidden, d.style, d.hidden // 2
    layer = 4 * B * B + 2 * B * d.bert_inter
    out = OrderedDict()
    out["ALBERT"] = d.bert_emb * B + d.bert_layers * layer
    out["ALBERT attention (x T)"] = d.bert_layers * 2 * B * T
    out["bert_encoder"] = B * H
    out["TextEncoder"] = d.n_layer * conv(H, H, d.kernel) + bilstm(H, Hl)
    out["DurationEncoder"] = d.n_layer * bilstm(H + S, Hl)
    out["duration LSTM"] = bilstm(H + S, Hl)
    out["duration_proj"] = H * d.max_dur
    return out


def frames_per_second(cfg):
    d = Dims(cfg)
    return 24000.0 / (2 * prod(d.up_rates) * d.hop)


def generator_per_frame(d):
    """OrderedDict generator part -> MACs per frame (spec 8.3; the decoder hands it 2 columns per
    frame, and ups.i multiplies the columns by upsample_rates[i])."""
    nu, nk = len(d.up_rates), len(d.rb_kernels)
    chans = [d.up_channel // 2 ** (i + 1) for i in range(nu)]
    g = OrderedDict()
    for i in range(nu):
        cols_in = 2 * prod(d.up_rates[:i])
        cols = cols_in * d.up_rates[i]
        cin = d.up_channel // 2 ** i
        rb = sum(resblock1(chans[i], k, len(dl)) for k, dl in zip(d.rb_kernels, d.rb_dilations))
        g[f"resblocks {i * nk}-{i * nk + nk - 1}"] = cols * rb
        # noise_res: kernel 7, dilations (1,3,5) before the last stage, 11 at the last (upstream)
        g[f"noise_res.{i}"] = cols * resblock1(chans[i], 7 if i + 1 < nu else 11, 3)
        g[f"ups.{i}"] = cols_in * conv(cin, chans[i], d.up_kernels[i])
        nk_conv = 2 * prod(d.up_rates[i + 1:]) if i + 1 < nu else 1
        g[f"noise_convs.{i}"] = cols * conv(d.n_fft + 2, chans[i], nk_conv)
    g["conv_post"] = 2 * prod(d.up_rates) * conv(chans[-1], d.n_fft + 2, 7)
    return g


def per_frame(cfg):
    """OrderedDict part -> MACs per frame (25 ms at the real config)."""
    d = Dims(cfg)
    H, S, Hl = d.hidden, d.style, d.hidden // 2
    D, A, U = d.decoder_dim, d.asr_res, d.up_channel
    out = OrderedDict()
    out["predictor shared LSTM"] = bilstm(H + S, Hl)
    branch = adain_resblk(H, H, False) + adain_resblk(H, Hl, True) + 2 * adain_resblk(Hl, Hl, False) \
        + 2 * conv(Hl, 1, 1)
    out["predictor F0 branch"] = branch
    out["predictor N branch"] = branch
    dec = adain_resblk(H + 2, D, False) + conv(H, A, 1)
    dec += 3 * adain_resblk(D + 2 + A, D, False) + adain_resblk(D + 2 + A, U, True)
    out["decoder encode/decode"] = dec
    out["decoder F0_conv/N_conv"] = 2 * conv(1, 1, 3)
    for k, v in generator_per_frame(d).items():
        out["generator " + k] = v
    return out


def utterance(cfg, T, F):
    """Total MACs of one utterance of T tokens and F frames (dense alignment not counted)."""
    tok = per_token(cfg, T)
    return T * sum(tok.values()) + F * sum(per_frame(cfg).values())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("config")
    ap.add_argument("--tokens", type=int)
    ap.add_argument("--frames", type=int)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    with open(a.config, encoding="utf-8") as f:
        cfg = json.load(f)
    fps = frames_per_second(cfg)
    frame = per_frame(cfg)
    pf = sum(frame.values())
    res = OrderedDict()
    res["frames_per_second"] = fps
    res["macs_per_frame"] = pf
    res["per_frame"] = frame
    res["per_token_at_T1"] = per_token(cfg, 1)
    res["gflop_per_audio_second_frame_side"] = 2 * pf * fps / 1e9
    if a.tokens is not None and a.frames is not None:
        res["utterance_macs"] = utterance(cfg, a.tokens, a.frames)
        res["utterance_gflop"] = 2 * res["utterance_macs"] / 1e9
        res["utterance_audio_seconds"] = a.frames / fps
    if a.json:
        print(json.dumps(res, indent=1))
        return 0
    print(f"per frame ({1000 / fps:.1f} ms of audio):")
    for k, v in frame.items():
        print(f"  {k:32s} {v:>14,d} MAC  {100 * v / pf:5.1f}%")
    print(f"  {'total':32s} {pf:>14,d} MAC  = {2 * pf * fps / 1e9:.2f} GFLOP per audio second")
    tok = per_token(cfg, 1)
    print("per token (attention: the line marked x T is multiplied by T):")
    for k, v in tok.items():
        print(f"  {k:32s} {v:>14,d} MAC")
    if "utterance_macs" in res:
        print(f"utterance T={a.tokens} F={a.frames} ({res['utterance_audio_seconds']:.2f} s): "
              f"{res['utterance_gflop']:.1f} GFLOP")
    return 0


if __name__ == "__main__":
    sys.exit(main())
