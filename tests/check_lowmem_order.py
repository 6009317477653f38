#!/usr/bin/python3
"""The generator's low-memory schedule gives the default schedule's bytes whatever kernel its
recomputed resblock has. That schedule recomputes the first conv of a stage's first resblock in
blocks that start a halo before the default schedule's and runs the second conv on blocks of
its own, while a Winograd output depends on its place in its tile (and an FFT one on tiles of
32 - k + 1 columns, which those blocks do not line up with: the model keeps that resblock off
FFT). In Kokoro that resblock has kernel 3. Here the tiny model's resblocks 0 and 2 of each
stage are swapped (kernel sizes [11, 7, 3]), written by PyTorch, so that it has kernel 11, the
one FFT would take. kt-synth on a long chunk (several of the generator's 6,144-column blocks)
with KT_GEN_LOWMEM=0 (the low-memory schedule) and 1000000000 (the default one), on 1 and 2
threads, with KT_FFT on and off: every output of each must have the same bytes. Skips without
torch."""
import collections
import json
import os
import subprocess
import sys
import tempfile

BUILD = os.environ.get("KT_BUILD", "build")
MODEL = "fixtures/tiny/kokoro-tiny.pth"
CONFIG = "fixtures/tiny/config.json"
VOICE = "fixtures/tiny/voices/af_tiny.pt"
# one chunk of ~160 phonemes: ~640 frames, ~77,000 columns in the last stage
TEXT = " ".join(["ðɪs ɪz ɐ lˈɔŋ sˈɛntəns ðæt kˈiːps ɡˈoʊɪŋ"] * 4)


def swapped(i, n_kernels):
    """Resblock i with the first and last of each stage's kernels swapped."""
    j = i % n_kernels
    j = n_kernels - 1 if j == 0 else 0 if j == n_kernels - 1 else j
    return i - i % n_kernels + j


def make_model(tmp):
    import torch
    sd = torch.load(MODEL, map_location="cpu", weights_only=True)
    cfg = json.load(open(CONFIG, encoding="utf-8"))
    ks = cfg["istftnet"]["resblock_kernel_sizes"]
    cfg["istftnet"]["resblock_kernel_sizes"] = ks[::-1]
    cfg["istftnet"]["resblock_dilation_sizes"] = cfg["istftnet"]["resblock_dilation_sizes"][::-1]
    dec = sd["decoder"]
    out = collections.OrderedDict()
    for key in dec:  # the same keys in the same order, resblocks 0 and 2 (3 and 5) exchanged
        parts = key.split(".")
        src = key
        if len(parts) > 3 and parts[1] == "generator" and parts[2] == "resblocks":
            parts[3] = str(swapped(int(parts[3]), len(ks)))
            src = ".".join(parts)
        out[key] = dec[src]
    sd["decoder"] = out
    model, config = os.path.join(tmp, "tiny-swapped.pth"), os.path.join(tmp, "config.json")
    torch.save(sd, model)
    json.dump(cfg, open(config, "w", encoding="utf-8"))
    return model, config


def synth(model, config, out, threads, lowmem, fft):
    env = dict(os.environ, KT_GEN_LOWMEM=lowmem, KT_FFT=fft)
    cmd = [os.path.join(BUILD, "kt-synth"), "-m", model, "-c", config, "-v", VOICE, "--phonemes", "--threads",
           str(threads), "-o", out, "--json", TEXT]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL {' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
        sys.exit(1)
    js = json.loads(r.stdout)
    return open(out, "rb").read(), js


def main():
    try:
        import torch  # noqa: F401
    except ImportError:
        print("SKIP check_lowmem_order: no torch")
        return
    with tempfile.TemporaryDirectory() as tmp:
        model, config = make_model(tmp)
        first = {}
        for fft in ("on", "off"):
            runs = {}
            for threads in (1, 2):
                for lowmem in ("0", "1000000000"):
                    wav, js = synth(model, config, os.path.join(tmp, "out.wav"), threads, lowmem, fft)
                    runs[(threads, lowmem)] = wav
                    print(f"KT_FFT={fft} threads {threads} KT_GEN_LOWMEM={lowmem}: {js['samples']} samples, "
                          f"{js['chunks']} chunk(s), {len(wav)} bytes")
                    if js["chunks"] != 1 or js["samples"] < 3 * 6144 * 5:
                        print(f"FAIL the input must be one chunk of several generator blocks: {js}")
                        sys.exit(1)
            ref = runs[(1, "1000000000")]
            for k, wav in runs.items():
                if wav != ref:
                    print(f"FAIL KT_FFT={fft}: threads {k[0]}, KT_GEN_LOWMEM={k[1]} differs from 1 thread on the "
                          "default schedule")
                    sys.exit(1)
            first[fft] = ref
        print("FFT and Winograd outputs " + ("differ (the FFT convs ran)" if first["on"] != first["off"] else
                                             "are the same (no AVX-512: no FFT convs)"))
    print("PASS check_lowmem_order")


if __name__ == "__main__":
    main()
