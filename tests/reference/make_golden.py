#!/usr/bin/python3
"""make_golden.py - golden reference outputs of the Kokoro forward pass, stage by stage.

    make_golden.py --model M --config C --voices DIR --out OUT [--full-cases]

Runs tests/reference/kokoro_ref.py on fixed phoneme strings and voices and writes one
torch.save dict per case (name -> tensor; float32, int64 for ids/durations/indices) to
OUT/<case>.pt, plus OUT/index.json (phonemes, voice, seed, speed, key shapes) and
OUT/README.md. The voice packs are looked up by name in DIR; for a tiny model the
*_tiny packs are used, otherwise the real packs (af_heart, am_adam, bf_emma).

Levels (to keep the committed tiny files small):
  text  text side and predictor, through asr
  mid   text + decoder blocks (F0c .. decode3) + har_source + audio
  full  mid + har, gen_xs0, gen_up0, gen_stage0, gen_x, spec, phase
  all   full + gen_xs1, gen_up1, conv_post
The full-size golden data (written into the build folder) uses 'all' for every case.
"""
import argparse
import json
import os
import sys
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kokoro_ref as kr  # noqa: E402

# (name, phonemes, voice index (0,1,2), seed, speed, tiny level)
CASES = [
    ("short", "hˈɛloʊ wˈɜːld", 2, 0, 1.0, "full"),
    ("oov", "ðɪs ɪz 42 good θˈɪŋz#!", 1, 12345, 1.1, "mid"),
    ("long", "ðə nˈɔːθ wˈɪnd ænd ðə sˈʌn wɜː dɪspjˈuːtɪŋ wˌɪʧ wʌz ðə stɹˈɔŋɡɚ, wˌɛn ɐ "
     "tɹˈævəlɚ kˈeɪm ɐlˈɔŋ ɹˈæpt ɪn ɐ wˈɔːm klˈoʊk.", 0, 0, 1.0, "text"),
]
TINY_VOICES = ("af_tiny", "am_tiny", "bf_tiny")
REAL_VOICES = ("af_heart", "am_adam", "bf_emma")
FULL_CASES = [(n, p, v, s, sp, "all") for (n, p, v, s, sp, _) in CASES]

TEXT_KEYS = ["ids", "style", "bert_out", "d_en", "d", "dur_lstm", "dur_logits", "dur",
             "pred_dur", "tok", "en", "shared", "F0_pre", "N_pre", "F0", "N", "t_en", "asr"]
DEC_KEYS = ["F0c", "Nc", "encode", "asr_res", "decode0", "decode1", "decode2", "decode3"]
MID_KEYS = TEXT_KEYS + DEC_KEYS + ["har_source", "audio"]
FULL_KEYS = MID_KEYS + ["har", "gen_xs0", "gen_up0", "gen_stage0", "gen_x", "spec", "phase"]
ALL_KEYS = FULL_KEYS + ["gen_xs1", "gen_up1", "conv_post"]
LEVELS = {"text": TEXT_KEYS, "mid": MID_KEYS, "full": FULL_KEYS, "all": ALL_KEYS}
Z_HEAD = 1024


def case_dict(model, ps, pack, seed, speed, level):
    row = kr.voice_row(pack, ps)
    out = model.forward(ps, row, speed=speed, seed=seed)
    res = OrderedDict()
    res["phonemes_cp"] = torch.tensor([ord(c) for c in ps], dtype=torch.int64)
    res["voice_row_index"] = torch.tensor([len(ps) - 1], dtype=torch.int64)
    res["seed"] = torch.tensor([seed], dtype=torch.int64)
    res["speed"] = torch.tensor([speed], dtype=torch.float32)
    res["z_head"] = kr.seed_noise(Z_HEAD, seed)
    for k in LEVELS[level]:
        v = out[k]
        v = v.to(torch.int64) if v.dtype in (torch.int32, torch.int64) else v.to(torch.float32)
        res[k] = v.contiguous().clone()
    return res


def run(model_path, config_path, voices_dir, out_dir, cases=CASES):
    os.makedirs(out_dir, exist_ok=True)
    model = kr.Kokoro.load(model_path, config_path)
    tiny = os.path.exists(os.path.join(voices_dir, TINY_VOICES[0] + ".pt"))
    names = TINY_VOICES if tiny else REAL_VOICES
    index = OrderedDict()
    for name, ps, vi, seed, speed, level in cases:
        pack = torch.load(os.path.join(voices_dir, names[vi] + ".pt"), map_location="cpu")
        res = case_dict(model, ps, pack, seed, speed, level)
        path = os.path.join(out_dir, name + ".pt")
        torch.save(res, path)
        F = int(res["pred_dur"].sum())
        f0 = res["F0"]
        info = OrderedDict(phonemes=ps, voice=names[vi] + ".pt", seed=seed, speed=speed,
                           level=level, n_phonemes=len(ps), T=int(res["ids"].numel()), F=F,
                           voiced_fraction=round(float((f0 > 10).float().mean()), 4),
                           keys=OrderedDict((k, list(v.shape)) for k, v in res.items()))
        index[name] = info
        msg = f"{path}: T={info['T']} F={F} voiced={info['voiced_fraction']}"
        if "audio" in res:
            a = res["audio"]
            msg += f" audio {a.numel()} rms {float(a.pow(2).mean().sqrt()):.4f}"
        print(msg, f"{os.path.getsize(path)} bytes")
    with open(os.path.join(out_dir, "index.json"), "w", encoding="utf-8") as f:
        json.dump(index, f, ensure_ascii=False, indent=1)
        f.write("\n")
    return index


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--voices", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--full-cases", action="store_true", help="every case at level 'all'")
    args = ap.parse_args()
    torch.set_num_threads(1)
    run(args.model, args.config, args.voices, args.out, FULL_CASES if args.full_cases else CASES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
