#!/usr/bin/python3
"""synth.py - kt-synth against the PyTorch reference on the same phonemes, voice and seed.

    synth.py --build BUILD --model kokoro-full.pth --config config.json --voice VOICE.pt
             [--runs 3,1,1] [--json OUT.json]

For each input (short ~30 phonemes, paragraph ~230, long ~530 in two chunks) and each thread
count (1 and 2), runs
  * kt-synth fp32: `kt-synth --phonemes --threads N -o - --durations F` (streaming WAV). From
    outside it times the process (wall, and peak RSS from wait4()); from its --json summary
    (stderr when streaming) it takes the forward-only figures compared with the reference's:
    synthesis_seconds ("wall") and synthesis_cpu_seconds ("CPU"), plus "load" (model + voice,
    ready to synthesize) and "first audio" (start of synthesis to the first chunk's samples),
    shown with the first chunk's audio seconds. The short input also runs with
    `--first-chunk N` (--first-chunk, default 8): the first chunk cut after the first word(s).
  * the reference (tests/reference/kokoro_ref.py, eager torch, set_num_threads N,
    inference_mode), in a fresh process per input and thread count: model load time, then only
    the forward pass of each chunk is timed (the same chunks kt-synth makes, from
    --print-phonemes); peak RSS is that process's ru_maxrss. Unless --ref-malloc default, that
    process runs with glibc's MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ at 2 GiB (values
    already in the environment are kept): eager torch allocates a fresh tensor for every op, and
    with glibc's defaults each one above the mmap threshold is a new mapping whose pages fault in
    again; where page faults are slow this made the reference up to 6x slower than it can run.
Each is the best (minimum) of N runs, N per input from --runs. CPU s is the CPU time of the
synthesis (kt-synth) or of the forward passes (reference): on a machine shared with other programs
it is the steadier measure, and "kt speedup (CPU)" compares it. When kt-synth has --bf16 it
also runs that and --bf16-winograd (unless --bf16 off) and compares their audio with the f32 run's (bench/audio_cmp.py:
waveform SNR, max abs difference, and SNR of the STFT magnitudes); likewise kt-synth on
`kt-convert --dtype q8` of the model (unless --q8 off). kt-synth f32 runs its default
convolutions (the generator's resblock convs by Winograd F(4,4), kernel 11 at 128 channels by FFT) and, unless
--winograd off, also with KT_WINOGRAD=off (every conv direct, the form the FLOP floor counts),
the two alternating run by run; a line per input gives direct wall / Winograd wall. Prints a table and the floor:
the input's FLOPs (bench/flops.py, from the T and F of each chunk) over the FMA peak
(bench/fma_peak) and over the OpenBLAS sgemm rate (bench/sgemm_rate), both passed in through
--peak-gflops / --sgemm-gflops. Never pass/fail.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import audio_cmp  # noqa: E402
import flops  # noqa: E402

SAMPLE_RATE = 24000
WAV_HEADER = 44

# Kokoro phonemes (misaki/espeak style), written out so the input does not depend on the G2P.
INPUTS = [
    ("short", "həlˈO, ðɪs ɪz ə ʃˈɔɹt tˈɛst."),
    ("paragraph",
     "kəkˈɔɹO ɪz ən ˈOpənwˈAt tˈɛkst tə spˈiʧ mˈɑdᵊl wɪð ˈATi tˈu mˈɪliən pəɹɹˈæmɪTəɹz. "
     "dᵻspˈIt ɪts lˈItwAt ˈɑɹkɪtˌɛkʧəɹ, ɪt dᵻlˈɪvəɹz kˈɑmpəɹɹəbᵊl kwˈɔlᵻTi tə lˈɑɹʤəɹ "
     "mˈɑdᵊlz wˌIl bˌiɪŋ sɪɡnˈɪfɪkəntli fˈæstəɹ ænd mˈɔɹ kˈɔstɪfˈɪʃənt."),
    ("long",
     "ðɪ ˈOld lˈIthWs stˈʊd æt ðɪ ˈɛʤ ʌvðə klˈɪf, ɪts wˈIt pˈAnt pˈilɪŋ ˈæftəɹ dˈɛkAdz ʌv "
     "stˈɔɹmz. ˈɛvɹi ˈivnɪŋ ðə kˈipəɹ klˈImd ðə nˈæɹO stˈɛɹz, lˈɪt ðə ɡɹˈAt lˈæmp, ænd "
     "wˈɑʧt ðə bˈim swˈip əkɹˌɑs ðə dˈɑɹk wˈɔTəɹ. ʃˈɪps pˈæst fˈɑɹ ˈWt æt sˈi, ðɛɹ lˈIts "
     "blˈɪŋkɪŋ lˈIk slˈO stˈɑɹz. wˈʌn wˈɪntəɹ nˈIt ə smˈɔl fˈɪʃɪŋ bˈOt dɹˈɪftᵻd təwˈɔɹd ðə "
     "ɹˈɑks, ɪts ˈɛnʤɪn sˈIlənt ænd ɪts kɹˈu wˈAvɪŋ lˈæntəɹnz. ðə kˈipəɹ ɹˈæŋ ðə bˈɛl, ɹˈOd "
     "ˈWt θɹu ðə fɹˈizɪŋ spɹˈA, ænd ɡˈIdᵻd ðˌɛm ˌɪntʊ ðə hˈɑɹbəɹ bᵻfˌɔɹ dˈɔn. ɪnðə mˈɔɹnɪŋ "
     "ðə hˈOl vˈɪlɪʤ kˈAm tə θˈæŋk hˌɪm."),
]


# ---- kt-synth -------------------------------------------------------------------------------


def kt_chunks(a, text):
    r = subprocess.run([os.path.join(a.build, "kt-synth"), "--phonemes", "--print-phonemes", text],
                       capture_output=True, text=True, check=True)
    return [line for line in r.stdout.split("\n") if line.strip()]


def kt_run(a, text, threads, bf16=False, first_chunk=0, model=None, env=None):
    """One streaming kt-synth run -> dict of measurements and the PCM bytes (None on failure);
    bf16: False, True (--bf16) or "winograd" (--bf16-winograd); env: variables added to the environment."""
    with tempfile.TemporaryDirectory() as tmp:
        dur_path = os.path.join(tmp, "durations.json")
        cmd = [os.path.join(a.build, "kt-synth"), "-m", model or a.model, "-c", a.config, "-v", a.voice,
               "--phonemes", "--threads", str(threads), "-o", "-", "--durations", dur_path, "--json", text]
        if bf16:
            cmd.insert(-1, "--bf16-winograd" if bf16 == "winograd" else "--bf16")
        if first_chunk:
            cmd[-1:-1] = ["--first-chunk", str(first_chunk)]
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=dict(os.environ, **env) if env else None)
        n, t_header, t_audio, parts = 0, None, None, []
        fd = p.stdout.fileno()
        while True:
            b = os.read(fd, 1 << 16)
            if not b:
                break
            now = time.monotonic() - t0
            if t_header is None:
                t_header = now
            n += len(b)
            parts.append(b)
            if t_audio is None and n > WAV_HEADER:
                t_audio = now
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        err = p.stderr.read().decode(errors="replace")
        p.stdout.close()
        p.stderr.close()
        if p.returncode != 0:
            print(f"kt-synth failed ({p.returncode}): {err.strip()}", file=sys.stderr)
            return None
        with open(dur_path, encoding="utf-8") as f:
            dur = json.load(f)
    js = json.loads(err.strip().splitlines()[-1])  # --json goes to stderr with -o -
    chunks = [(len(c["token_frames"]), sum(c["token_frames"])) for c in dur["chunks"]]
    c0 = dur["chunks"][0]
    # forward-only figures, as the reference's: synthesis wall and CPU from kt-synth's --json
    return {"audio": (n - WAV_HEADER) / 2 / SAMPLE_RATE, "wall": js["synthesis_seconds"],
            "proc_wall": wall, "proc_cpu": ru.ru_utime + ru.ru_stime, "load": js["load_seconds"],
            "first": js["first_audio_seconds"], "first_proc": t_audio, "header_proc": t_header,
            "first_chunk_audio": c0["end"] - c0["start"], "rss_kib": ru.ru_maxrss,
            "cpu": js["synthesis_cpu_seconds"], "chunks_tf": chunks, "pcm": b"".join(parts)[WAV_HEADER:]}


def kt_q8_model(a, tmp):
    """kt-convert --dtype q8 of the model into tmp -> its path (None when the conversion fails)."""
    out = os.path.join(tmp, "q8.safetensors")
    r = subprocess.run([os.path.join(a.build, "kt-convert"), a.model, "-o", out, "--dtype", "q8"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"kt-convert --dtype q8 failed: {r.stderr.strip()}", file=sys.stderr)
        return None
    return out


def kt_has_bf16(a):
    r = subprocess.run([os.path.join(a.build, "kt-synth"), "--help"], capture_output=True, text=True)
    return "--bf16" in r.stdout + r.stderr


def kt_json_fields(a, text):
    """What `kt-synth --json` reports (one run of the short input, into a scratch .wav)."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [os.path.join(a.build, "kt-synth"), "-m", a.model, "-c", a.config, "-v", a.voice,
               "--phonemes", "-o", os.path.join(tmp, "out.wav"), "--json", text]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            return None
        return json.loads(r.stdout)


# ---- the PyTorch reference (worker process) -------------------------------------------------


def torch_worker(a):
    t_start = time.monotonic()
    import torch
    sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
    import kokoro_ref
    torch.set_num_threads(a.threads)
    t_import = time.monotonic() - t_start
    t0 = time.monotonic()
    m = kokoro_ref.Kokoro.load(a.model, a.config)
    pack = torch.load(a.voice)
    load = time.monotonic() - t0
    chunks = json.loads(a.chunks)
    runs = []
    for _ in range(a.n):
        total, first, cpu, samples, tf = 0.0, None, 0.0, 0, []
        for ps in chunks:
            row = kokoro_ref.voice_row(pack, ps)
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.monotonic()
            with torch.inference_mode():
                out = m.forward(ps, row, seed=0)
            dt = time.monotonic() - t0
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            cpu += (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
            total += dt
            if first is None:
                first = dt
            samples += out["audio"].shape[0]
            tf.append((int(out["ids"].shape[0]), int(out["pred_dur"].sum())))
        runs.append({"wall": total, "first": first, "cpu": cpu, "audio": samples / SAMPLE_RATE,
                     "chunks_tf": tf})
    print(json.dumps({"import": t_import, "load": load, "runs": runs,
                      "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
    return 0


REF_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(2**31 - 1), "MALLOC_TRIM_THRESHOLD_": str(2**31 - 1)}


def ref_env(a):
    """The reference's environment: glibc's heap kept for large tensors (--ref-malloc tuned)."""
    if a.ref_malloc != "tuned":
        return None
    return dict(REF_MALLOC, **os.environ)


def torch_runs(a, chunks, threads, n):
    cmd = [a.python, os.path.abspath(__file__), "--torch-worker", "--threads", str(threads),
           "--n", str(n), "--model", a.model, "--config", a.config, "--voice", a.voice,
           "--chunks", json.dumps(chunks, ensure_ascii=False)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=ref_env(a))
    if r.returncode != 0:
        print(f"reference failed: {r.stderr.strip()[-400:]}", file=sys.stderr)
        return None
    w = json.loads(r.stdout.strip().split("\n")[-1])
    best = min(w["runs"], key=lambda x: x["wall"])
    best = dict(best)
    best["first"] = min(x["first"] for x in w["runs"])
    best["cpu"] = min(x["cpu"] for x in w["runs"])
    best.update(load=w["load"], rss_kib=w["rss_kib"], import_s=w["import"])
    return best


# ---- the table ------------------------------------------------------------------------------


def best_of(results):
    ok = [r for r in results if r]
    if not ok:
        return None
    b = dict(min(ok, key=lambda r: r["wall"]))
    for k in ("load", "first", "first_proc", "cpu", "rss_kib", "proc_wall"):
        vals = [r.get(k) for r in ok if r.get(k) is not None]
        b[k] = min(vals) if vals else None
    return b


def fmt(x, f="{:.2f}"):
    return "n/a" if x is None else f.format(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build")
    ap.add_argument("--model", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--voice", required=True)
    ap.add_argument("--runs", default="3,1,1", help="best of N per input (short,paragraph,long); 0 skips")
    ap.add_argument("--threads-list", default="1,2")
    ap.add_argument("--peak-gflops", type=float, default=0, help="FMA peak, all cores")
    ap.add_argument("--peak1-gflops", type=float, default=0, help="FMA peak, one core")
    ap.add_argument("--sgemm-gflops", type=float, default=0, help="best OpenBLAS sgemm rate, all cores")
    ap.add_argument("--python", default=os.environ.get("PYTHON", "/usr/bin/python3"))
    ap.add_argument("--json")
    ap.add_argument("--bf16", default="auto", choices=["auto", "off"],
                    help="also run kt-synth --bf16 when kt-synth has it (auto)")
    ap.add_argument("--q8", default="on", choices=["on", "off"],
                    help="also run kt-synth on kt-convert --dtype q8 of the model (on)")
    ap.add_argument("--winograd", default="on", choices=["on", "off"],
                    help="also run kt-synth f32 with KT_WINOGRAD=off, alternating with the default (on)")
    ap.add_argument("--first-chunk", type=int, default=8,
                    help="also stream the short input with kt-synth --first-chunk N (0: no)")
    ap.add_argument("--ref-malloc", default="tuned", choices=["tuned", "default"],
                    help="run the reference with glibc's mmap and trim thresholds at 2 GiB (tuned)")
    ap.add_argument("--torch-worker", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n", type=int, default=1)
    ap.add_argument("--chunks")
    a = ap.parse_args()
    if a.torch_worker:
        return torch_worker(a)
    with open(a.config, encoding="utf-8") as f:
        cfg = json.load(f)
    runs = [int(x) for x in a.runs.split(",")]
    threads = [int(x) for x in a.threads_list.split(",")]
    bf16 = a.bf16 != "off" and kt_has_bf16(a)
    with tempfile.TemporaryDirectory() as qdir:
        q8 = kt_q8_model(a, qdir) if a.q8 == "on" else None
        return bench(a, cfg, runs, threads, bf16, q8)


def vs_f32(res, t, r):
    """Length and audio comparison of run r with the f32 run at t threads (None when no f32 run)."""
    if not res[("kt", t)]:
        return None
    c = audio_cmp.compare(audio_cmp.pcm16(res[("kt", t)]["pcm"]), audio_cmp.pcm16(r["pcm"]))
    return c, (len(r["pcm"]) // 2, len(res[("kt", t)]["pcm"]) // 2)


def bench(a, cfg, runs, threads, bf16, q8):
    js = kt_json_fields(a, INPUTS[0][1])
    print("kt-synth --json reports:", ", ".join(sorted(js)) if js else "n/a (run failed)")
    env = ref_env(a)
    print("reference allocator:", "glibc defaults" if env is None else
          ", ".join(f"{k}={env[k]}" for k in sorted(REF_MALLOC)))
    rows = []
    for (name, text), n in zip(INPUTS, runs):
        if n <= 0:  # --runs 3,0,0 skips the paragraph and the long input
            continue
        chunks = kt_chunks(a, text)
        print(f"\n{name}: {len(text)} phonemes, {len(chunks)} chunk(s), best of {n}", flush=True)
        res = {}
        for t in threads:
            if a.winograd == "on":  # default and direct convolutions, alternating
                pairs = [(kt_run(a, text, t), kt_run(a, text, t, env={"KT_WINOGRAD": "off"})) for _ in range(n)]
                res[("kt", t)] = best_of([p[0] for p in pairs])
                res[("kt-direct", t)] = best_of([p[1] for p in pairs])
            else:
                res[("kt", t)] = best_of([kt_run(a, text, t) for _ in range(n)])
            if bf16:
                res[("kt-bf16", t)] = best_of([kt_run(a, text, t, bf16=True) for _ in range(n)])
                res[("kt-bf16w", t)] = best_of([kt_run(a, text, t, bf16="winograd") for _ in range(n)])
            if q8:
                res[("kt-q8", t)] = best_of([kt_run(a, text, t, model=q8) for _ in range(n)])
            res[("torch", t)] = torch_runs(a, chunks, t, n)
            if name == "short" and a.first_chunk:
                res[("kt-first", t)] = best_of([kt_run(a, text, t, first_chunk=a.first_chunk) for _ in range(n)])
                if bf16:
                    res[("kt-bf16-first", t)] = best_of([kt_run(a, text, t, bf16=True, first_chunk=a.first_chunk)
                                                         for _ in range(n)])
                    res[("kt-bf16w-first", t)] = best_of([kt_run(a, text, t, bf16="winograd",
                                                                 first_chunk=a.first_chunk) for _ in range(n)])
                if q8:
                    res[("kt-q8-first", t)] = best_of([kt_run(a, text, t, model=q8, first_chunk=a.first_chunk)
                                                       for _ in range(n)])
        tf = next((r["chunks_tf"] for r in res.values() if r), [])
        macs = sum(flops.utterance(cfg, T, F) for T, F in tf)
        gflop = 2 * macs / 1e9
        for t in threads:
            engines = ("kt",) + (("kt-direct",) if ("kt-direct", t) in res else ())
            engines += (("kt-bf16", "kt-bf16w") if bf16 else ()) + (("kt-q8",) if q8 else ()) + ("torch",)
            engines += tuple(e for e in ("kt-first", "kt-bf16-first", "kt-bf16w-first", "kt-q8-first")
                             if (e, t) in res)
            for eng in engines:
                r = res[(eng, t)]
                if not r:
                    rows.append({"input": name, "engine": eng, "threads": t})
                    continue
                ref = res[("torch", t)] if not eng.endswith("-first") else None  # other chunks: no ratio
                own = eng.endswith("-first") or eng.startswith("kt-q8")  # its own chunks: its own FLOPs
                g = 2 * sum(flops.utterance(cfg, T, F) for T, F in r["chunks_tf"]) / 1e9 if own else gflop
                row = {"input": name, "phonemes": len(text), "chunks": len(chunks), "engine": eng,
                       "threads": t, "audio_s": r["audio"], "wall_s": r["wall"], "rtf": r["wall"] / r["audio"],
                       "process_wall_s": r.get("proc_wall"),
                       "cpu_s": r["cpu"], "rss_mib": r["rss_kib"] / 1024, "load_s": r["load"],
                       "first_audio_s": r["first"], "first_chunk_audio_s": r.get("first_chunk_audio"),
                       "first_audio_proc_s": r.get("first_proc"), "gflop": g,
                       "speedup_vs_torch": (ref["wall"] / r["wall"]) if (eng != "torch" and ref) else None,
                       "cpu_speedup_vs_torch": (ref["cpu"] / r["cpu"]) if (eng != "torch" and ref) else None}
                if eng in ("kt-bf16", "kt-bf16w", "kt-q8", "kt-direct") and vs_f32(res, t, r):
                    row["vs_f32"], row["len_vs_f32"] = vs_f32(res, t, r)
                peak = a.peak_gflops if t > 1 else (a.peak1_gflops or a.peak_gflops)
                row["floor_s"] = g / peak if peak else None
                row["x_floor"] = r["wall"] / row["floor_s"] if row["floor_s"] else None
                rows.append(row)
        print_table([r for r in rows if r["input"] == name])
        print_winograd([r for r in rows if r["input"] == name])
    print_floor(rows, a)
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"kt_synth_json_fields": sorted(js) if js else None, "rows": rows}, f, indent=1)
    return 0


HEAD = ("input", "engine", "thr", "audio s", "wall s", "RTF", "kt speedup", "CPU s", "kt speedup (CPU)",
        "process s", "peak RSS MiB",
        "load s", "first audio s (its audio s)", "x floor", "output vs f32")


def print_table(rows):
    print(" | ".join(HEAD))
    for r in rows:
        if "wall_s" not in r:
            print(f"{r['input']} | {r['engine']} | {r['threads']} | failed")
            continue
        eng = {"kt": "kt-synth f32", "kt-direct": "kt-synth f32 direct", "kt-bf16": "kt-synth bf16",
               "kt-bf16w": "kt-synth bf16 Winograd", "kt-q8": "kt-synth q8", "kt-first": "kt-synth f32 --first-chunk",
               "kt-bf16-first": "kt-synth bf16 --first-chunk",
               "kt-bf16w-first": "kt-synth bf16 Winograd --first-chunk",
               "kt-q8-first": "kt-synth q8 --first-chunk"}.get(r["engine"], "torch ref")
        first = fmt(r["first_audio_s"], "{:.3f}")
        if r.get("first_chunk_audio_s") is not None:
            first += f" ({r['first_chunk_audio_s']:.2f})"
        print(" | ".join([r["input"], eng, str(r["threads"]), fmt(r["audio_s"]), fmt(r["wall_s"]),
                          fmt(r["rtf"], "{:.3f}"), fmt(r["speedup_vs_torch"], "{:.2f}x"), fmt(r["cpu_s"]),
                          fmt(r["cpu_speedup_vs_torch"], "{:.2f}x"), fmt(r.get("process_wall_s")),
                          fmt(r["rss_mib"], "{:.0f}"), fmt(r["load_s"], "{:.3f}"), first,
                          fmt(r["x_floor"], "{:.1f}x"), vs_f32_cell(r)]), flush=True)


def print_winograd(rows):
    """Direct wall / default (Winograd) wall per thread count, with both x floor figures."""
    by = {(r["engine"], r["threads"]): r for r in rows if "wall_s" in r}
    for (eng, t), d in sorted(by.items()):
        w = by.get(("kt", t))
        if eng != "kt-direct" or not w:
            continue
        print(f"  f32 Winograd vs direct, {t} thread(s): wall {d['wall_s']:.2f} -> {w['wall_s']:.2f} s "
              f"({d['wall_s'] / w['wall_s']:.2f}x), CPU {d['cpu_s']:.2f} -> {w['cpu_s']:.2f} s "
              f"({d['cpu_s'] / w['cpu_s']:.2f}x); x floor {fmt(d['x_floor'], '{:.2f}x')} -> "
              f"{fmt(w['x_floor'], '{:.2f}x')}; kt speedup {fmt(d['speedup_vs_torch'], '{:.2f}x')} -> "
              f"{fmt(w['speedup_vs_torch'], '{:.2f}x')}", flush=True)


def vs_f32_cell(r):
    if "len_vs_f32" not in r:
        return ""
    n, m = r["len_vs_f32"]
    c = r["vs_f32"]
    if c is None:
        return f"length {n} vs {m} samples"
    return f"SNR {c['snr_db']:.1f} dB, max {c['max_abs']:.1e}, spectral SNR {c['spec_snr_db']:.1f} dB"


def print_floor(rows, a):
    print("\nfloor (model FLOPs / FMA peak; 'x floor' above = wall / floor at that thread count):")
    print(f"  FMA peak: {fmt(a.peak1_gflops or None, '{:.0f}')} GFLOP/s on 1 core, {fmt(a.peak_gflops or None, '{:.0f}')} on all "
          f"cores; best OpenBLAS sgemm at the conv shapes: {fmt(a.sgemm_gflops or None, '{:.0f}')} GFLOP/s")
    seen = set()
    for r in rows:
        if "gflop" not in r or r["input"] in seen:
            continue
        seen.add(r["input"])
        g, sec = r["gflop"], r["audio_s"]
        fl = g / a.peak_gflops if a.peak_gflops else None
        sg = g / a.sgemm_gflops if a.sgemm_gflops else None
        print(f"  {r['input']}: {g:.1f} GFLOP for {sec:.2f} s of audio ({g / sec:.1f} GFLOP per audio second); "
              f"floor {fmt(fl)} s (RTF {fmt(fl / sec if fl else None, '{:.3f}')}); "
              f"at the sgemm rate {fmt(sg)} s (RTF {fmt(sg / sec if sg else None, '{:.3f}')})")


if __name__ == "__main__":
    sys.exit(main())
