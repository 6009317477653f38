"""kokoro_ref.py - a PyTorch reference of the Kokoro-82M forward pass, written from
../shared/spec/kokoro-architecture.md (section numbers below refer to it).

Used only by tests and fixture generators (never at kt run time). Everything runs in
float32 on the CPU with batch 1, tensors laid out [channels, time] as in the spec.

Differences from upstream, on purpose, so C can reproduce the output exactly:
  * The harmonic source noise is not torch.randn: it is the counter-based generator of
    spec section 9 with a seed (seed_noise), and SineGen's rand_ini is 0.
  * The STFT / iSTFT are explicit DFTs computed in float64 and rounded to float32
    (spec 8.2 / 8.5); the DC and Nyquist imaginary parts are exactly +0.

Exact numeric recipe of the harmonic source (spec 8.1), all float32 unless stated:
  rad = (F0[j] * (k+1) / 24000) mod 1        (torch.remainder, floor-mod)
  phase = float32(cumsum_float64(rad over j)) * 2 * float32(pi)
  P = phase * 300 ; ph = linear upsampling x300 of P (F.interpolate; see upsample_linear
  for its bit-exact float32 recipe)

Usage:
    m = Kokoro.load("model.pth", "config.json")
    out = m.forward("hˈɛloʊ wˈɜːld", voice_pack[len(ps) - 1, 0], seed=0)
Each stage is a method taking injected inputs (albert, bert_encoder, duration_encoder,
durations, f0n, text_encoder, decoder, generator, source, stft, istft).
"""
import json
import math
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

SAMPLE_RATE = 24000
HARMONICS = 9            # harmonic_num 8 + the fundamental
SINE_AMP = 0.1
NOISE_STD = 0.003
VOICED_THRESHOLD = 10.0
RSQRT2 = float(np.float32(1.0 / math.sqrt(2.0)))
TOP_LEVEL = ("bert", "bert_encoder", "predictor", "decoder", "text_encoder")


# ----------------------------------------------------------------------------------------
# configuration


class Dims:
    """Every dimension the model uses, from a config.json dict (optional keys default to
    the values upstream hard-codes)."""

    def __init__(self, cfg):
        pl = cfg["plbert"]
        ist = cfg["istftnet"]
        self.n_token = cfg["n_token"]
        self.hidden = cfg["hidden_dim"]
        self.style = cfg["style_dim"]
        self.n_layer = cfg["n_layer"]
        self.max_dur = cfg["max_dur"]
        self.kernel = cfg["text_encoder_kernel_size"]
        self.decoder_dim = cfg.get("decoder_dim", 1024)
        self.asr_res = cfg.get("decoder_asr_res_dim", 64)
        self.bert_hidden = pl["hidden_size"]
        self.bert_heads = pl["num_attention_heads"]
        self.bert_inter = pl["intermediate_size"]
        self.bert_pos = pl["max_position_embeddings"]
        self.bert_layers = pl["num_hidden_layers"]
        self.bert_emb = pl.get("embedding_size", 128)
        self.up_rates = list(ist["upsample_rates"])
        self.up_kernels = list(ist["upsample_kernel_sizes"])
        self.up_channel = ist["upsample_initial_channel"]
        self.rb_kernels = list(ist["resblock_kernel_sizes"])
        self.rb_dilations = [list(d) for d in ist["resblock_dilation_sizes"]]
        self.n_fft = ist["gen_istft_n_fft"]
        self.hop = ist["gen_istft_hop_size"]
        self.upsample_scale = int(np.prod(self.up_rates)) * self.hop   # 300
        self.samples_per_frame = 2 * self.upsample_scale                 # 600
        self.vocab = cfg["vocab"]


def load_config(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ----------------------------------------------------------------------------------------
# deterministic noise (spec section 9, with a seed)


def _lowbias32(x):
    x = x.astype(np.uint32)
    x ^= x >> np.uint32(16)
    x *= np.uint32(0x7FEB352D)
    x ^= x >> np.uint32(15)
    x *= np.uint32(0x846CA68B)
    x ^= x >> np.uint32(16)
    return x


def seed_noise(n, seed=0):
    """n unit normals z[i], i = 0..n-1 (row-major over [samples, 9]), float32.
    Hash input x = (uint32)(2i + k) + (uint32)seed * 0x9E3779B9 (mod 2^32)."""
    i = np.arange(n, dtype=np.uint64)
    off = np.uint64((int(seed) * 0x9E3779B9) & 0xFFFFFFFF)
    mask = np.uint64(0xFFFFFFFF)
    x1 = ((np.uint64(2) * i + off) & mask).astype(np.uint32)
    x2 = ((np.uint64(2) * i + np.uint64(1) + off) & mask).astype(np.uint32)
    u1 = ((_lowbias32(x1) >> np.uint32(8)).astype(np.float64) + 0.5) / 16777216.0
    u2 = ((_lowbias32(x2) >> np.uint32(8)).astype(np.float64) + 0.5) / 16777216.0
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return torch.from_numpy(z.astype(np.float32))


# ----------------------------------------------------------------------------------------
# primitives (spec section 1)


def fold_weight_norm(g, v):
    """w = g * v / ||v||, the norm over all dims but 0, no epsilon (spec 1.1)."""
    norm = v.reshape(v.shape[0], -1).norm(dim=1)
    shape = [v.shape[0]] + [1] * (v.dim() - 1)
    return v * (g.reshape(shape) / norm.reshape(shape))


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def leaky(x, slope):
    return F.leaky_relu(x, slope)


def snake(x, alpha):
    """x + (1/alpha) sin^2(alpha x), alpha per channel [C] (x is [C,L])."""
    a = alpha.reshape(-1, 1)
    return x + (1.0 / a) * torch.sin(a * x).pow(2)


def instance_norm(x, eps=1e-5):
    """Per channel over time, biased variance (x is [C,L])."""
    mean = x.mean(dim=1, keepdim=True)
    var = (x - mean).pow(2).mean(dim=1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)


def channel_layer_norm(x, eps=1e-5):
    """LayerNorm over channels at each time step, no affine (x is [C,L])."""
    return F.layer_norm(x.t(), (x.shape[0],), eps=eps).t()


def lstm_dir(xw, w_hh, b_hh, reverse):
    """One LSTM direction. xw = W_ih x_t + b_ih for all t, [L,4H]; gate order i,f,g,o."""
    L = xw.shape[0]
    H = w_hh.shape[1]
    h = torch.zeros(H)
    c = torch.zeros(H)
    out = torch.zeros(L, H)
    steps = range(L - 1, -1, -1) if reverse else range(L)
    for t in steps:
        g = xw[t] + (w_hh @ h + b_hh)
        i = torch.sigmoid(g[0:H])
        f = torch.sigmoid(g[H:2 * H])
        gg = torch.tanh(g[2 * H:3 * H])
        o = torch.sigmoid(g[3 * H:4 * H])
        c = f * c + i * gg
        h = o * torch.tanh(c)
        out[t] = h
    return out


def upsample_linear(P, scale):
    """F.interpolate(mode='linear', align_corners=False, scale_factor=scale) of a [N,C]
    signal along N -> [N*scale, C] (spec 8.1). Bit-exact float32 recipe of torch 1.13 CPU:
      sc  = (double)(float)(1.0/scale)
      src = max(sc * (t + 0.5) - 0.5, 0)       in double
      i0 = floor(src), i1 = min(i0+1, N-1), lam = (float)(src - i0), w0 = 1.0f - lam
      out = fmaf(w0, P[i0], lam * P[i1])        (float32, one fused multiply-add)
    (tests/check_reference.py checks this recipe against F.interpolate bit for bit.)"""
    return F.interpolate(P.t()[None], scale_factor=scale, mode="linear",
                         align_corners=False)[0].t()


def upsample_linear_recipe(P, scale):
    """The recipe of upsample_linear written out in numpy (for the self-check)."""
    n = P.shape[0]
    t = np.arange(n * scale, dtype=np.float64)
    sc = float(np.float32(1.0 / scale))
    src = np.maximum(sc * (t + 0.5) - 0.5, 0.0)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, n - 1)
    lam = (src - i0).astype(np.float32)
    w0 = (np.float32(1.0) - lam).astype(np.float64)[:, None]
    Pn = P.numpy().astype(np.float64)
    l1 = (lam.astype(np.float64)[:, None] * Pn[i1]).astype(np.float32).astype(np.float64)
    return torch.from_numpy((w0 * Pn[i0] + l1).astype(np.float32))


# ----------------------------------------------------------------------------------------
# the model


class Kokoro:
    def __init__(self, cfg, state):
        """cfg: config.json dict. state: either the checkpoint dict of five state dicts
        (keys 'module.X') or a flat dict 'top.module.X'. Weight norm is folded here (the
        weight_g/weight_v pairs are replaced by '.weight')."""
        self.cfg = cfg
        self.d = Dims(cfg)
        flat = OrderedDict()
        if all(k in state for k in TOP_LEVEL) and isinstance(state["bert"], dict):
            for top in TOP_LEVEL:
                for k, v in state[top].items():
                    flat[top + "." + k] = v
        else:
            flat.update(state)
        self.w = {}
        for k, v in flat.items():
            k = k.replace(".module.", ".", 1)
            self.w[k] = v.detach().to(torch.float32)
        for k in list(self.w):
            if k.endswith(".weight_v"):
                base = k[: -len("_v")]
                self.w[base] = fold_weight_norm(self.w.pop(base + "_g"), self.w.pop(k))

    @classmethod
    def load(cls, model_path, config_path):
        cfg = load_config(config_path)
        state = torch.load(model_path, map_location="cpu")
        return cls(cfg, state)

    def has(self, name):
        return name in self.w

    # -- building blocks ------------------------------------------------------------------

    def linear(self, x, p):
        b = self.w.get(p + ".bias")
        y = x @ self.w[p + ".weight"].t()
        return y + b if b is not None else y

    def conv(self, x, p, stride=1, pad=0, dil=1, groups=1):
        return F.conv1d(x[None], self.w[p + ".weight"], self.w.get(p + ".bias"),
                        stride=stride, padding=pad, dilation=dil, groups=groups)[0]

    def conv_t(self, x, p, stride, pad, out_pad=0, groups=1):
        return F.conv_transpose1d(x[None], self.w[p + ".weight"], self.w.get(p + ".bias"),
                                  stride=stride, padding=pad, output_padding=out_pad,
                                  groups=groups)[0]

    def lstm(self, x, p):
        """Bidirectional 1-layer LSTM over x [L,I] -> [L,2H] (spec 1.4)."""
        outs = []
        for sfx, rev in (("", False), ("_reverse", True)):
            xw = x @ self.w[p + ".weight_ih_l0" + sfx].t() + self.w[p + ".bias_ih_l0" + sfx]
            outs.append(lstm_dir(xw, self.w[p + ".weight_hh_l0" + sfx],
                                 self.w[p + ".bias_hh_l0" + sfx], rev))
        return torch.cat(outs, dim=1)

    def adain(self, x, p, s):
        """AdaIN1d: (1+gamma) * instance_norm(x) + beta, gamma/beta = fc(s) halves."""
        h = self.linear(s, p + ".fc")
        C = x.shape[0]
        return (1.0 + h[:C, None]) * instance_norm(x) + h[C:, None]

    def adain_resblk(self, x, p, s):
        """AdainResBlk1d (spec 5.1); upsampling and the 1x1 shortcut follow from the keys."""
        up = self.has(p + ".pool.weight")
        r = leaky(self.adain(x, p + ".norm1", s), 0.2)
        if up:
            r = self.conv_t(r, p + ".pool", stride=2, pad=1, out_pad=1, groups=r.shape[0])
        r = self.conv(r, p + ".conv1", pad=1)
        r = leaky(self.adain(r, p + ".norm2", s), 0.2)
        r = self.conv(r, p + ".conv2", pad=1)
        sc = x
        if up:
            sc = torch.repeat_interleave(sc, 2, dim=1)
        if self.has(p + ".conv1x1.weight"):
            sc = self.conv(sc, p + ".conv1x1")
        return (r + sc) * RSQRT2

    def adain_resblock1(self, x, p, s, k, dils):
        """AdaINResBlock1 with Snake (spec 8.4)."""
        for j, dl in enumerate(dils):
            xt = snake(self.adain(x, f"{p}.adain1.{j}", s), self.w[f"{p}.alpha1.{j}"].flatten())
            xt = self.conv(xt, f"{p}.convs1.{j}", pad=dl * (k - 1) // 2, dil=dl)
            xt = snake(self.adain(xt, f"{p}.adain2.{j}", s), self.w[f"{p}.alpha2.{j}"].flatten())
            xt = self.conv(xt, f"{p}.convs2.{j}", pad=(k - 1) // 2)
            x = x + xt
        return x

    # -- text side ------------------------------------------------------------------------

    def ids(self, phonemes):
        """[0] + vocab ids of the known symbols + [0] (unknown characters dropped)."""
        if not isinstance(phonemes, str):
            ids = [int(i) for i in phonemes]
            return torch.tensor([0] + ids + [0], dtype=torch.int64)
        vocab = self.d.vocab
        return torch.tensor([0] + [vocab[c] for c in phonemes if c in vocab] + [0],
                            dtype=torch.int64)

    def albert(self, ids):
        """ALBERT last_hidden_state [T, hidden] (spec 2)."""
        d = self.d
        p = "bert.encoder.albert_layer_groups.0.albert_layers.0"
        T = ids.shape[0]
        e = (self.w["bert.embeddings.word_embeddings.weight"][ids]
             + self.w["bert.embeddings.token_type_embeddings.weight"][0])
        e = e + self.w["bert.embeddings.position_embeddings.weight"][:T]
        e = F.layer_norm(e, (d.bert_emb,), self.w["bert.embeddings.LayerNorm.weight"],
                         self.w["bert.embeddings.LayerNorm.bias"], eps=1e-12)
        h = self.linear(e, "bert.encoder.embedding_hidden_mapping_in")
        nh = d.bert_heads
        hd = d.bert_hidden // nh
        for _ in range(d.bert_layers):
            q = self.linear(h, p + ".attention.query").reshape(T, nh, hd).transpose(0, 1)
            k = self.linear(h, p + ".attention.key").reshape(T, nh, hd).transpose(0, 1)
            v = self.linear(h, p + ".attention.value").reshape(T, nh, hd).transpose(0, 1)
            att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd), dim=-1)
            ctx = (att @ v).transpose(0, 1).reshape(T, d.bert_hidden)
            a = F.layer_norm(h + self.linear(ctx, p + ".attention.dense"), (d.bert_hidden,),
                             self.w[p + ".attention.LayerNorm.weight"],
                             self.w[p + ".attention.LayerNorm.bias"], eps=1e-12)
            f = self.linear(gelu_new(self.linear(a, p + ".ffn")), p + ".ffn_output")
            h = F.layer_norm(f + a, (d.bert_hidden,), self.w[p + ".full_layer_layer_norm.weight"],
                             self.w[p + ".full_layer_layer_norm.bias"], eps=1e-12)
        return h

    def bert_encoder(self, bert_out):
        """[T, bert hidden] -> d_en [hidden, T] (spec 3)."""
        return self.linear(bert_out, "bert_encoder").t()

    def duration_encoder(self, d_en, s_pred):
        """DurationEncoder: d_en [H,T] -> d [T, H+S] (spec 4)."""
        T = d_en.shape[1]
        sb = s_pred.reshape(1, -1).expand(T, -1)
        x = torch.cat([d_en.t(), sb], dim=1)
        for l in range(self.d.n_layer):
            x = self.lstm(x, f"predictor.text_encoder.lstms.{2 * l}")
            h = self.linear(s_pred, f"predictor.text_encoder.lstms.{2 * l + 1}.fc")
            C = x.shape[1]
            x = (1.0 + h[:C]) * F.layer_norm(x, (C,), eps=1e-5) + h[C:]
            x = torch.cat([x, sb], dim=1)
        return x

    def durations(self, d, speed=1.0):
        """d [T, H+S] -> (lstm out [T,H], logits [T,max_dur], dur float [T], pred_dur int64 [T])."""
        x = self.lstm(d, "predictor.lstm")
        logits = self.linear(x, "predictor.duration_proj.linear_layer")
        dur = torch.sigmoid(logits).sum(dim=-1) / speed
        pred = torch.round(dur).clamp(min=1).to(torch.int64)
        return x, logits, dur, pred

    @staticmethod
    def alignment(pred_dur):
        """Token index of every frame [F] (int64)."""
        return torch.repeat_interleave(torch.arange(pred_dur.shape[0]), pred_dur)

    def f0n(self, en, s_pred, full=False):
        """F0Ntrain: en [H+S, F] -> F0 [2F], N [2F] (spec 5). With full=True also returns
        the shared LSTM output and the pre-projection activations."""
        x = self.lstm(en.t(), "predictor.shared").t()
        out = {"shared": x}
        for name in ("F0", "N"):
            h = x
            for i in range(3):
                h = self.adain_resblk(h, f"predictor.{name}.{i}", s_pred)
            out[name + "_pre"] = h
            out[name] = self.conv(h, f"predictor.{name}_proj")[0]
        if full:
            return out
        return out["F0"], out["N"]

    def text_encoder(self, ids):
        """TextEncoder: ids [T] -> t_en [H, T] (spec 6)."""
        x = self.w["text_encoder.embedding.weight"][ids].t()
        k = self.d.kernel
        for i in range(self.d.n_layer):
            x = self.conv(x, f"text_encoder.cnn.{i}.0", pad=k // 2)
            x = channel_layer_norm(x) * self.w[f"text_encoder.cnn.{i}.1.gamma"][:, None] \
                + self.w[f"text_encoder.cnn.{i}.1.beta"][:, None]
            x = leaky(x, 0.2)
        return self.lstm(x.t(), "text_encoder.lstm").t()

    # -- decoder and generator ------------------------------------------------------------

    def decoder(self, asr, F0, N, s_dec, seed=0, har=None):
        """Decoder (spec 7): asr [H,F], F0 [2F], N [2F] -> dict with F0c, Nc, encode,
        asr_res, decode0..3 and everything generator() returns (audio last)."""
        p = "decoder"
        out = OrderedDict()
        F0c = self.conv(F0[None], p + ".F0_conv", stride=2, pad=1)
        Nc = self.conv(N[None], p + ".N_conv", stride=2, pad=1)
        out["F0c"], out["Nc"] = F0c[0], Nc[0]
        x = self.adain_resblk(torch.cat([asr, F0c, Nc], dim=0), p + ".encode", s_dec)
        out["encode"] = x
        asr_res = self.conv(asr, p + ".asr_res.0")
        out["asr_res"] = asr_res
        for i in range(4):
            x = self.adain_resblk(torch.cat([x, asr_res, F0c, Nc], dim=0), f"{p}.decode.{i}", s_dec)
            out[f"decode{i}"] = x
        out.update(self.generator(x, s_dec, F0, seed=seed, har=har))
        return out

    def source(self, F0, seed=0):
        """Harmonic source (spec 8.1): F0 [2F] -> dict: noise [600F,9], sine_waves [600F,9]
        (sines*uv + noise), uv [600F], har_source [600F]."""
        up = self.d.upsample_scale
        n = F0.shape[0]
        k = torch.arange(1, HARMONICS + 1, dtype=torch.float32)
        fn = F0.reshape(-1, 1) * k                                 # [2F,9], one per block
        rad = torch.remainder(fn / float(SAMPLE_RATE), 1.0)
        phase = torch.cumsum(rad.double(), dim=0).float() * 2 * math.pi
        P = phase * up
        ph = upsample_linear(P, up)                                # [600F, 9]
        sines = SINE_AMP * torch.sin(ph)
        f0u = torch.repeat_interleave(F0, up)
        uv = (f0u > VOICED_THRESHOLD).to(torch.float32).reshape(-1, 1)
        amp = uv * NOISE_STD + (1.0 - uv) * SINE_AMP / 3.0
        z = seed_noise(n * up * HARMONICS, seed).reshape(n * up, HARMONICS)
        noise = amp * z
        sw = sines * uv + noise
        har = torch.tanh(sw @ self.w["decoder.generator.m_source.l_linear.weight"][0]
                         + self.w["decoder.generator.m_source.l_linear.bias"][0])
        return {"noise": noise, "sine_waves": sw, "uv": uv[:, 0], "har_source": har}

    def _window(self):
        n = self.d.n_fft
        return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)

    def stft(self, x):
        """torch.stft(n_fft, hop, periodic Hann, center, reflect) of x [L] -> (magnitude,
        phase), each [n_fft/2+1, L/hop+1], computed in float64 (spec 8.2)."""
        n, hop = self.d.n_fft, self.d.hop
        xd = x.double().numpy()
        xp = np.pad(xd, (n // 2, n // 2), mode="reflect")
        M = (xp.shape[0] - n) // hop + 1
        idx = np.arange(M)[:, None] * hop + np.arange(n)[None, :]
        frames = xp[idx] * self._window()[None, :]                  # [M, n]
        kk = np.arange(n // 2 + 1)
        ang = 2.0 * np.pi * np.outer(np.arange(n), kk) / n          # [n, K]
        re = frames @ np.cos(ang)
        im = -(frames @ np.sin(ang))
        im[:, 0] = 0.0
        if n % 2 == 0:
            im[:, n // 2] = 0.0
        mag = np.sqrt(re * re + im * im)
        ph = np.arctan2(im, re)
        return (torch.from_numpy(mag.T.astype(np.float32)),
                torch.from_numpy(ph.T.astype(np.float32)))

    def istft(self, spec, phase):
        """torch.istft of spec*exp(i*phase) (spec, phase [n_fft/2+1, M]) -> [hop*(M-1)],
        computed in float64; imaginary parts of DC/Nyquist ignored (spec 8.5)."""
        n, hop = self.d.n_fft, self.d.hop
        S = spec.double().numpy()
        Ph = phase.double().numpy()
        re, im = S * np.cos(Ph), S * np.sin(Ph)                    # [K, M]
        K, M = S.shape
        nn_ = np.arange(n)
        ang = 2.0 * np.pi * np.outer(np.arange(K), nn_) / n          # [K, n]
        wgt = np.full(K, 2.0)
        wgt[0] = 1.0
        if n % 2 == 0:
            wgt[K - 1] = 1.0
        im = im.copy()
        im[0] = 0.0
        if n % 2 == 0:
            im[K - 1] = 0.0
        y = ((wgt[:, None] * re).T @ np.cos(ang) - (wgt[:, None] * im).T @ np.sin(ang)) / n
        win = self._window()
        L = n + hop * (M - 1)
        out = np.zeros(L)
        env = np.zeros(L)
        for m in range(M):
            out[m * hop: m * hop + n] += win * y[m]
            env[m * hop: m * hop + n] += win * win
        out = out[n // 2: L - n // 2] / env[n // 2: L - n // 2]
        return torch.from_numpy(out.astype(np.float32))

    def generator(self, x, s_dec, F0, seed=0, har=None):
        """Generator (spec 8): x [C0, 2F], F0 [2F] -> dict: har_source, har [n_fft+2, M],
        gen_xs{i} (noise_res outputs), gen_up{i} (after ups/pad), gen_stage{i} (resblock
        average), gen_x (before leaky 0.01 + conv_post), conv_post, spec, phase, audio.
        har may be injected (then the source is not computed)."""
        d = self.d
        p = "decoder.generator"
        out = OrderedDict()
        if har is None:
            src = self.source(F0, seed)
            out["har_source"] = src["har_source"]
            mag, ph = self.stft(src["har_source"])
            har = torch.cat([mag, ph], dim=0)
        out["har"] = har
        nk = len(d.rb_kernels)
        nu = len(d.up_rates)
        for i in range(nu):
            x = leaky(x, 0.1)
            if i + 1 < nu:
                sf = int(np.prod(d.up_rates[i + 1:]))
                xs = self.conv(har, f"{p}.noise_convs.{i}", stride=sf, pad=(sf + 1) // 2)
                xs = self.adain_resblock1(xs, f"{p}.noise_res.{i}", s_dec, 7, [1, 3, 5])
            else:
                xs = self.conv(har, f"{p}.noise_convs.{i}")
                xs = self.adain_resblock1(xs, f"{p}.noise_res.{i}", s_dec, 11, [1, 3, 5])
            out[f"gen_xs{i}"] = xs
            u, k = d.up_rates[i], d.up_kernels[i]
            x = self.conv_t(x, f"{p}.ups.{i}", stride=u, pad=(k - u) // 2)
            if i == nu - 1:
                x = torch.cat([x[:, 1:2], x], dim=1)              # ReflectionPad1d((1,0))
            out[f"gen_up{i}"] = x
            x = x + xs
            acc = None
            for j in range(nk):
                r = self.adain_resblock1(x, f"{p}.resblocks.{i * nk + j}", s_dec,
                                         d.rb_kernels[j], d.rb_dilations[j])
                acc = r if acc is None else acc + r
            x = acc / nk
            out[f"gen_stage{i}"] = x
        out["gen_x"] = x
        y = self.conv(leaky(x, 0.01), f"{p}.conv_post", pad=3)
        out["conv_post"] = y
        K = d.n_fft // 2 + 1
        out["spec"] = torch.exp(y[:K])
        out["phase"] = torch.sin(y[K:])
        out["audio"] = self.istft(out["spec"], out["phase"])
        return out

    # -- whole model -----------------------------------------------------------------------

    def split_style(self, row):
        row = torch.as_tensor(row, dtype=torch.float32).reshape(-1)
        S = self.d.style
        return row[:S], row[S:2 * S]

    def forward(self, phonemes_or_ids, voice_row, speed=1.0, seed=0):
        """The whole forward pass (spec 0). voice_row: [2*style_dim] (pack[len(ps)-1]).
        Returns an OrderedDict of every intermediate."""
        with torch.no_grad():
            out = OrderedDict()
            ids = self.ids(phonemes_or_ids)
            s_dec, s_pred = self.split_style(voice_row)
            out["ids"] = ids
            out["style"] = torch.cat([s_dec, s_pred])
            out["bert_out"] = self.albert(ids)
            out["d_en"] = self.bert_encoder(out["bert_out"])
            out["d"] = self.duration_encoder(out["d_en"], s_pred)
            x, logits, dur, pred = self.durations(out["d"], speed)
            out["dur_lstm"], out["dur_logits"], out["dur"], out["pred_dur"] = x, logits, dur, pred
            tok = self.alignment(pred)
            out["tok"] = tok
            out["en"] = out["d"][tok].t().contiguous()
            fo = self.f0n(out["en"], s_pred, full=True)
            out["shared"] = fo["shared"]
            out["F0_pre"], out["N_pre"] = fo["F0_pre"], fo["N_pre"]
            out["F0"], out["N"] = fo["F0"], fo["N"]
            out["t_en"] = self.text_encoder(ids)
            out["asr"] = out["t_en"][:, tok].contiguous()
            out.update(self.decoder(out["asr"], out["F0"], out["N"], s_dec, seed=seed))
            return out


def voice_row(pack, phonemes):
    """pack [510,1,2S] -> the row for a phoneme string (len in code points, before vocab
    filtering) or for an id list (its length)."""
    n = len(phonemes)
    return pack[max(n, 1) - 1].reshape(-1)


# ----------------------------------------------------------------------------------------
# the key list a config implies (in the order of ../shared/kokoro/keys.tsv)


def expected_keys(cfg):
    """OrderedDict top -> OrderedDict('module.X' -> shape) for a config (keys.tsv order)."""
    d = Dims(cfg)
    H, S, Hl = d.hidden, d.style, d.hidden // 2
    res = OrderedDict((t, OrderedDict()) for t in TOP_LEVEL)

    def add(top, name, shape):
        res[top]["module." + name] = list(shape)

    def wn_conv(top, p, cout, cin, k, bias=True):
        if bias:
            add(top, p + ".bias", [cout])
        add(top, p + ".weight_g", [cout, 1, 1])
        add(top, p + ".weight_v", [cout, cin, k])

    def wn_convt(top, p, cin, cout_g, k, bias_n):
        add(top, p + ".bias", [bias_n])
        add(top, p + ".weight_g", [cin, 1, 1])
        add(top, p + ".weight_v", [cin, cout_g, k])

    def lin(top, p, o, i):
        add(top, p + ".weight", [o, i])
        add(top, p + ".bias", [o])

    def lstm(top, p, i, h):
        for sfx in ("", "_reverse"):
            add(top, p + ".weight_ih_l0" + sfx, [4 * h, i])
            add(top, p + ".weight_hh_l0" + sfx, [4 * h, h])
            add(top, p + ".bias_ih_l0" + sfx, [4 * h])
            add(top, p + ".bias_hh_l0" + sfx, [4 * h])

    def resblk(top, p, cin, cout, up):
        wn_conv(top, p + ".conv1", cout, cin, 3)
        wn_conv(top, p + ".conv2", cout, cout, 3)
        lin(top, p + ".norm1.fc", 2 * cin, S)
        lin(top, p + ".norm2.fc", 2 * cout, S)
        if cin != cout:
            wn_conv(top, p + ".conv1x1", cout, cin, 1, bias=False)
        if up:
            wn_convt(top, p + ".pool", cin, 1, 3, cin)

    def resblock1(top, p, c, k):
        for a in ("convs1", "convs2"):
            for j in range(3):
                wn_conv(top, f"{p}.{a}.{j}", c, c, k)
        for a in ("adain1", "adain2"):
            for j in range(3):
                lin(top, f"{p}.{a}.{j}.fc", 2 * c, S)
        for a in ("alpha1", "alpha2"):
            for j in range(3):
                add(top, f"{p}.{a}.{j}", [1, c, 1])

    # bert
    B, E = d.bert_hidden, d.bert_emb
    add("bert", "embeddings.word_embeddings.weight", [d.n_token, E])
    add("bert", "embeddings.position_embeddings.weight", [d.bert_pos, E])
    add("bert", "embeddings.token_type_embeddings.weight", [2, E])
    add("bert", "embeddings.LayerNorm.weight", [E])
    add("bert", "embeddings.LayerNorm.bias", [E])
    lin("bert", "encoder.embedding_hidden_mapping_in", B, E)
    L = "encoder.albert_layer_groups.0.albert_layers.0"
    add("bert", L + ".full_layer_layer_norm.weight", [B])
    add("bert", L + ".full_layer_layer_norm.bias", [B])
    for n in ("query", "key", "value", "dense"):
        lin("bert", f"{L}.attention.{n}", B, B)
    add("bert", L + ".attention.LayerNorm.weight", [B])
    add("bert", L + ".attention.LayerNorm.bias", [B])
    lin("bert", L + ".ffn", d.bert_inter, B)
    lin("bert", L + ".ffn_output", B, d.bert_inter)
    lin("bert", "pooler", B, B)
    # bert_encoder
    add("bert_encoder", "weight", [H, B])
    add("bert_encoder", "bias", [H])
    # predictor
    for l in range(d.n_layer):
        lstm("predictor", f"text_encoder.lstms.{2 * l}", H + S, Hl)
        lin("predictor", f"text_encoder.lstms.{2 * l + 1}.fc", 2 * H, S)
    lstm("predictor", "lstm", H + S, Hl)
    lin("predictor", "duration_proj.linear_layer", d.max_dur, H)
    lstm("predictor", "shared", H + S, Hl)
    for n in ("F0", "N"):
        resblk("predictor", f"{n}.0", H, H, False)
        resblk("predictor", f"{n}.1", H, Hl, True)
        resblk("predictor", f"{n}.2", Hl, Hl, False)
    for n in ("F0_proj", "N_proj"):
        add("predictor", n + ".weight", [1, Hl, 1])
        add("predictor", n + ".bias", [1])
    # decoder
    D, A, U = d.decoder_dim, d.asr_res, d.up_channel
    for i in range(4):
        resblk("decoder", f"decode.{i}", D + 2 + A, U if i == 3 else D, i == 3)
    resblk("decoder", "encode", H + 2, D, False)
    wn_conv("decoder", "F0_conv", 1, 1, 3)
    wn_conv("decoder", "N_conv", 1, 1, 3)
    wn_conv("decoder", "asr_res.0", A, H, 1)
    g = "generator"
    add("decoder", g + ".m_source.l_linear.weight", [1, HARMONICS])
    add("decoder", g + ".m_source.l_linear.bias", [1])
    nu = len(d.up_rates)
    chans = [U // (2 ** (i + 1)) for i in range(nu)]
    for i in range(nu):
        if i + 1 < nu:
            sf = int(np.prod(d.up_rates[i + 1:]))
            add("decoder", f"{g}.noise_convs.{i}.weight", [chans[i], d.n_fft + 2, 2 * sf])
        else:
            add("decoder", f"{g}.noise_convs.{i}.weight", [chans[i], d.n_fft + 2, 1])
        add("decoder", f"{g}.noise_convs.{i}.bias", [chans[i]])
    for i in range(nu):
        resblock1("decoder", f"{g}.noise_res.{i}", chans[i], 7 if i + 1 < nu else 11)
    for i in range(nu):
        wn_convt("decoder", f"{g}.ups.{i}", U // (2 ** i), chans[i], d.up_kernels[i], chans[i])
    for i in range(nu):
        for j, k in enumerate(d.rb_kernels):
            resblock1("decoder", f"{g}.resblocks.{i * len(d.rb_kernels) + j}", chans[i], k)
    wn_conv("decoder", g + ".conv_post", d.n_fft + 2, chans[-1], 7)
    # text_encoder
    add("text_encoder", "embedding.weight", [d.n_token, H])
    for i in range(d.n_layer):
        wn_conv("text_encoder", f"cnn.{i}.0", H, H, d.kernel)
        add("text_encoder", f"cnn.{i}.1.gamma", [H])
        add("text_encoder", f"cnn.{i}.1.beta", [H])
    lstm("text_encoder", "lstm", H, Hl)
    return res


def read_keys_tsv(path):
    """[(flat key, shape list)] from keys.tsv."""
    rows = []
    with open(path, encoding="utf-8") as f:
        next(f)
        for line in f:
            k, shape = line.rstrip("\n").split("\t")[:2]
            rows.append((k, json.loads(shape)))
    return rows


def flat_expected(cfg):
    res = []
    for top, sd in expected_keys(cfg).items():
        for k, shape in sd.items():
            res.append((top + "." + k, shape))
    return res
