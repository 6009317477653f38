#!/usr/bin/python3
"""kt-synth --batch against one kt-synth process per line, on 200 short lines (1-4 words) with the
full-size model (bench/bench_batch.sh). Prints utterances per second and the real-time factor (wall
seconds / audio seconds) of each way, the speedup over separate runs, where the time of one separate
run goes, and whether every output file is byte-identical across the ways. Figures only.

The separate runs are timed on a sample of the lines (every k-th, --separate of them) and their wall
time extrapolated to all the lines; --separate equal to --lines runs every line. With --bf16 the same
comparison follows with --bf16 on both sides (a smaller sample, the default batch only)."""
import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import time

# 200 distinct utterances of 1 to 4 words, shortest first.
LINES = [
    'Yes.', 'No.', 'Thanks.', 'Hello.', 'Goodbye.', 'Sure.', 'Okay.', 'Maybe.', 'Wait.', 'Stop.', 'Ready?',
    'Done.', 'Welcome.', 'Sorry.', 'Please.', 'Absolutely.', 'Never.', 'Always.', 'Tomorrow.', 'Tonight.',
    'Perfect.', 'Great.', 'Really?', 'Listen.', 'Look.', 'Thank you.', 'Good morning.', 'Good night.',
    'See you.', 'Not yet.', 'Come here.', 'Sit down.', 'Stand up.', 'Hurry up.', 'Slow down.', 'Well done.',
    'Of course.', 'No problem.', 'Excuse me.', 'Take care.', 'Good luck.', 'Calm down.', 'Try again.',
    'Go ahead.', 'Me too.', 'Why not?', 'How much?', 'Where now?', 'Right away.', 'All set.', 'Nice work.',
    'Keep going.', 'Almost done.', 'Be careful.', 'Happy birthday.', 'Call me.', 'Open it.', 'Close the door.',
    'Turn it off.', 'Press start.', 'Fair enough.', 'Got it.', 'Not today.', 'Too late.', 'Watch out.',
    'Follow me.', 'Hold on.', 'Say cheese.', 'Cheers, mate.', 'Bless you.', 'Good afternoon.', 'Good evening.',
    'What time?', 'Which one?', 'Who called?', 'Lights on.', 'Lights off.', 'Next stop.', 'Last call.',
    'Check please.', 'Turn left here.', 'Turn right now.', 'Go straight ahead.', 'It is raining.',
    'The door is open.', 'Dinner is ready.', 'The bus is late.', 'I am home.', 'We are leaving.', 'Is it done?',
    'Are you sure?', 'Can you help?', 'Please sit down.', 'See you soon.', 'See you tomorrow.', 'Have a seat.',
    'Have a nice day.', 'Nice to meet you.', 'How are you?', 'I am fine.', 'What is this?', 'Where is it?',
    'When is lunch?', 'Call me later.', 'Send it now.', 'Read the sign.', 'Wash your hands.', 'Feed the cat.',
    'Water the plants.', 'Lock the door.', 'Mind the gap.', 'Keep it simple.', 'One moment, please.',
    'Just a minute.', 'That works for me.', 'Sounds good to me.', 'I love it.', 'I miss you.', 'I agree.',
    'I disagree.', 'Let us go.', 'Let me see.', 'Leave it there.', 'Bring it back.', 'Put it down.',
    'Pick it up.', 'Try it on.', 'Turn it up.', 'Sign here, please.', 'Enter your code.', 'Your order shipped.',
    'Payment received.', 'Battery is low.', 'Charging complete.', 'Update available.', 'Download finished.',
    'Connection lost.', 'Signal restored.', 'Meeting starts now.', 'Boarding has begun.', 'Gate closes soon.',
    'Doors are closing.', 'Mind the step.', 'Exit on left.', 'Arriving at platform two.', 'Left at the light.',
    'Take the second exit.', 'Recalculating the route.', 'You have arrived.', 'Destination on right.',
    'Traffic ahead, slow down.', 'Welcome back, friend.', 'Good to see you.', 'Long time, no see.',
    'Happy new year.', 'Merry Christmas, everyone.', 'Enjoy your meal.', 'Drive safely, please.', 'Sleep well.',
    'Sweet dreams.', 'Rise and shine.', 'Time for bed.', 'Coffee is ready.', 'The kettle boiled.',
    'Your table is ready.', 'Next customer, please.', 'Line two is open.', 'Please hold.', 'Your call matters.',
    'Press one now.', 'Leave a message.', 'Message sent.', 'New message received.', 'Alarm set.',
    'Timer finished.', 'Five minutes left.', 'Ten seconds remaining.', 'Halfway there.', 'Nearly home.',
    'Keep left.', 'Keep right.', 'No entry.', 'Stay behind the line.', 'Floor three.', 'Going up.',
    'Going down.', 'Doors opening.', 'Please stand clear.', 'Thank you very much.', 'You are welcome.',
    'My pleasure.', 'Not at all.', 'Any questions?', 'Good question.', 'Let me think.', 'I will check.',
    'Back in five.', 'Out of stock.', 'Sold out today.', 'Open all night.']


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd):
    """(wall seconds, stdout, CPU seconds of the process)."""
    c0, t0 = children_cpu(), time.monotonic()
    r = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return time.monotonic() - t0, r.stdout, children_cpu() - c0


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def separate(kt, base, a, ids, texts, sample, sep, flags):
    """One kt-synth process per sampled line (kt-synth's defaults: threads = the CPUs): per run its
    wall time, model load, voice, synthesis and audio seconds."""
    runs = []
    for i in sample:
        wall, out, cpu = timed([kt] + base + flags + ["-v", a.voice, "--json", "-o", os.path.join(sep, ids[i] + ".wav"),
                                                 texts[i]])
        s = json.loads(out)
        runs.append((wall, s["load_seconds"] - s["voice_seconds"], s["voice_seconds"], s["synthesis_seconds"],
                     s["seconds"], cpu))
    return runs


def batch(kt, base, jobs, out, flags):
    la = loadavg()
    wall, so, cpu = timed([kt, "--batch", jobs, "--out-dir", out, "--json"] + flags + base)
    s = json.loads(so)
    with open(os.path.join(out, "manifest.jsonl")) as f:
        el = [json.loads(l)["elapsed"] for l in f if l.strip()]
    return wall, s["load_seconds"], statistics.mean(el), s["audio_seconds"], cpu, (la + loadavg()) / 2


def compare(kt, base, a, ids, texts, jobs, n_sep, flags, variants, start, g2p):
    name = "bf16" if flags else "f32"
    n_sep = max(1, min(n_sep, a.lines))
    sample = sorted({i * a.lines // n_sep for i in range(n_sep)})
    sep = os.path.join(a.work, "separate-" + name)
    os.makedirs(sep)
    la = loadavg()
    runs = separate(kt, base, a, ids, texts, sample, sep, flags)
    la = (la + loadavg()) / 2
    rows = []
    for label, extra in variants:
        out = os.path.join(a.work, "batch-%s-%d" % (name, len(rows)))
        rows.append((label, out) + batch(kt, base, jobs, out, flags + extra))
    audio = rows[0][5]
    mean = [statistics.mean(r[k] for r in runs) for k in range(6)]
    sep_wall, sep_cpu = mean[0] * a.lines, mean[5] * a.lines
    sampled = n_sep != a.lines
    print()
    print("%s: %d lines of 1-4 words, %.1f s of audio (%.2f s per line)" % (name, a.lines, audio, audio / a.lines))
    print("separate runs: one kt-synth%s per line, default threads%s" % (
        " --bf16" if flags else "", ", %d of the %d lines timed (every %d-th), wall time extrapolated to %d" % (
            n_sep, a.lines, a.lines // n_sep, a.lines) if sampled else ""))
    print("  one run, mean of %d: %.3f s wall = process start and exit %.3f + model load %.3f + voice %.4f"
          " + synthesis %.3f + G2P, WAV and the rest %.3f (%.2f s of audio); model load %.0f%% of a run,"
          " synthesis %.0f%%" % (len(runs), mean[0], start, mean[1], mean[2], mean[3],
                                 mean[0] - start - mean[1] - mean[2] - mean[3], mean[4], 100 * mean[1] / mean[0],
                                 100 * mean[3] / mean[0]))
    if not flags:
        print("  (G2P with the lexicon opened, as a whole process: %.3f s)" % g2p)
    print("  %-42s %8s %14s %7s %8s %8s %8s %5s" % ("", "wall s", "utterances/s", "RTF", "speedup", "CPU s",
                                                   "speedup", "load"))
    print("  %-42s %8.1f %14.2f %7.3f %7.2fx %8.1f %7.2fx %5.1f%s" % (
        "separate runs" + (" (extrapolated)" if sampled else ""), sep_wall, a.lines / sep_wall, sep_wall / audio, 1.0,
        sep_cpu, 1.0, la, "   (%.1f s measured for %d runs)" % (mean[0] * len(runs), len(runs)) if sampled else ""))
    for label, out, wall, load, per_line, _, cpu, lb in rows:
        print("  %-42s %8.1f %14.2f %7.3f %7.2fx %8.1f %7.2fx %5.1f   (load once %.2f s, mean line %.3f s on its"
              " worker)" % (label, wall, a.lines / wall, wall / audio, sep_wall / wall, cpu, sep_cpu / cpu, lb, load,
                            per_line))
    print("  (speedup: separate runs' seconds / the batch's, wall and CPU; load: the load average while it ran,"
          " which counts kt's own threads too)")
    same_sep = all(sha(os.path.join(sep, ids[i] + ".wav")) == sha(os.path.join(r[1], ids[i] + ".wav"))
                   for i in sample for r in rows)
    same_batch = all(sha(os.path.join(rows[0][1], i + ".wav")) == sha(os.path.join(r[1], i + ".wav"))
                     for i in ids for r in rows[1:])
    print("  outputs: the sampled separate runs %s every batch run%s" % (
        "byte-identical to" if same_sep else "DIFFER from",
        "" if len(rows) < 2 else "; the batch runs %s" % ("byte-identical on every line" if same_batch
                                                          else "DIFFER")))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--voice", required=True)
    ap.add_argument("--lines", type=int, default=len(LINES))
    ap.add_argument("--separate", type=int, default=50, help="separate runs timed (a sample of the lines)")
    ap.add_argument("--bf16", action="store_true", help="the comparison again with --bf16 on both sides")
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    kt = os.path.join(a.build, "kt-synth")
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    jobs = os.path.join(a.work, "jobs.jsonl")
    texts = [LINES[i % len(LINES)] for i in range(a.lines)]
    ids = ["l%04d" % i for i in range(a.lines)]
    with open(jobs, "w") as f:
        for i, t in zip(ids, texts):
            f.write(json.dumps({"id": i, "text": t, "voice": a.voice}) + "\n")
    base = ["-m", a.model, "-c", a.config]
    nc = min(len(os.sched_getaffinity(0)), 8)
    start = min(timed([kt, "--version"])[0] for _ in range(5))
    g2p = min(timed([kt, "-c", a.config, "-v", "af_heart", "--print-phonemes", texts[-1]])[0] for _ in range(5))
    print("model %s, %d CPUs; a process that only starts and exits (kt-synth --version): %.3f s" % (
        a.model, len(os.sched_getaffinity(0)), start))
    default = ("--batch (default: %d workers, CPUs shared)" % nc, [])
    compare(kt, base, a, ids, texts, jobs, a.separate, [],
            [default, ("--batch --jobs 1 (%d threads)" % nc, ["--jobs", "1"])], start, g2p)
    if a.bf16:
        compare(kt, base, a, ids, texts, jobs, max(1, a.separate * 2 // 5), ["--bf16"], [default], start, g2p)


if __name__ == "__main__":
    main()
