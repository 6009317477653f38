#!/usr/bin/python3
"""kt-synth --batch on the tiny fixture model: bad lines recorded with their number while the rest
proceed, ids refused before anything runs, an unwritable output folder, the same bytes whatever the
sharding and thread count (and the same as one kt-synth run), --merge, --resume after damage, shards
from Slurm and Kubernetes variables, and a disk filling up mid-batch (RLIMIT_FSIZE) that --resume
then completes. Prints every case; exit 0 when all pass."""
import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("KT_BUILD", "build")
KT = os.path.join(BUILD, "kt-synth")
TINY = os.path.join(ROOT, "fixtures", "tiny")
BASE = ["-m", os.path.join(TINY, "kokoro-tiny.pth"), "-c", os.path.join(TINY, "config.json"),
        "--voices", os.path.join(TINY, "voices")]
failures = []

SENTENCES = ["Hello world.", "The quick brown fox jumps over the lazy dog.", "Batch synthesis, one model load.",
             "Is this the right way?", "Numbers like twelve and forty two.", "A short one.",
             "Resume must finish what was cut short.", "Every shard writes the same bytes.",
             "Speech for a dataset of many lines.", "The end of the corpus, at last."]
VOICES = ["af_tiny", "am_tiny", "bf_tiny"]


def check(ok, what):
    print("%s %s" % ("ok  " if ok else "FAIL", what))
    if not ok:
        failures.append(what)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def corpus(n):
    lines = []
    for i in range(n):
        job = {"id": "u%03d" % i, "text": SENTENCES[i % len(SENTENCES)], "voice": VOICES[i % 3]}
        if i % 4 == 1:
            job["speed"] = 1.25
        if i % 5 == 2:
            job["format"] = "flac"
        elif i % 6 == 5:
            job["format"] = "ogg"
        lines.append(json.dumps(job))
    return lines


def write_jobs(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def run(args, env=None, preexec=None, timeout=300):
    e = dict(os.environ)
    for k in ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_STEP",
              "JOB_COMPLETION_INDEX"):
        e.pop(k, None)
    e.update(env or {})
    r = subprocess.run([KT] + args + BASE, capture_output=True, env=e, timeout=timeout, preexec_fn=preexec)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def manifest(path):
    """The records without the wall-clock field."""
    with open(path) as f:
        return [{k: v for k, v in json.loads(l).items() if k != "elapsed"} for l in f if l.strip()]


def outputs(folder):
    return {f: sha(os.path.join(folder, f)) for f in sorted(os.listdir(folder))
            if not f.startswith("manifest") and not f.startswith(".")}


def test_bad_lines(tmp):
    jobs = os.path.join(tmp, "bad.jsonl")
    write_jobs(jobs, ['{"id": "ok1", "text": "Hello world.", "voice": "af_tiny"}',
                      '{"id": "broken", "text": ',
                      '',
                      '{"id": "novoice", "text": "Hello.", "voice": "zz_nobody"}',
                      '{"id": "empty", "text": "  ", "voice": "af_tiny"}',
                      '{"id": "ssml1", "ssml": "<speak>Hi <break time=\\"1s\\"/></speak>", "voice": "af_tiny"}',
                      '{"id": "badssml", "ssml": "<speak>Hi <break></speak>", "voice": "af_tiny"}',
                      '{"text": "no id"}',
                      '{"id": "ok2", "phonemes": "h\u0259l\u02c8O w\u02c8\u025c\u0279ld", "voice": "am_tiny"}'])
    out = os.path.join(tmp, "bad")
    rc, so, se = run(["--batch", jobs, "--out-dir", out])
    recs = {r["line"]: r for r in manifest(os.path.join(out, "manifest.jsonl"))}
    want_failed = {2: "malformed JSON", 4: "unknown voice", 5: "empty text", 7: "line 1, column", 8: "id"}
    ok = rc == 1 and sorted(recs) == [1, 2, 4, 5, 6, 7, 8, 9]
    for line, words in want_failed.items():
        r = recs.get(line, {})
        ok = ok and r.get("status") == "failed" and words in (r.get("error") or "")
        ok = ok and ("bad.jsonl:%d: " % line) in se
    ok = ok and all(recs[l]["status"] == "ok" for l in (1, 6, 9))
    ok = ok and recs[6]["samples"] >= 24000  # the SSML line's one-second break is there
    ok = ok and sorted(os.listdir(out)) == ["manifest.jsonl", "ok1.wav", "ok2.wav", "ssml1.wav"]
    ok = ok and all(sha(os.path.join(out, recs[l]["output"])) == recs[l]["sha256"] for l in (1, 6, 9))
    check(ok, "bad lines recorded with their numbers, the rest done, exit 1 (exit %d): %s" % (
        rc, " | ".join(l for l in se.splitlines() if ":2:" in l or ":4:" in l)))


def test_refused_ids(tmp):
    for label, second in (("duplicate", '{"id": "x", "text": "Again."}'),
                          ("path separator", '{"id": "a/b", "text": "Hi."}'),
                          ("dot dot", '{"id": "..", "text": "Hi."}'),
                          ("backslash", '{"id": "a\\\\b", "text": "Hi."}')):
        jobs = os.path.join(tmp, "ids.jsonl")
        write_jobs(jobs, ['{"id": "x", "text": "Hello world.", "voice": "af_tiny"}', second])
        out = os.path.join(tmp, "ids_out")
        rc, so, se = run(["--batch", jobs, "--out-dir", out])
        lines = se.strip().splitlines()
        check(rc == 1 and len(lines) == 1 and "ids.jsonl:2:" in se and not os.path.exists(out),
              "%s id refused before anything runs (exit %d): %s" % (label, rc, se.strip()))


def test_unwritable(tmp):
    folder = os.path.join(tmp, "ro")
    os.mkdir(folder, 0o555)
    os.chmod(folder, 0o555)
    os.chmod(tmp, 0o755)
    jobs = os.path.join(tmp, "one.jsonl")
    write_jobs(jobs, ['{"id": "x", "text": "Hello world.", "voice": "af_tiny"}'])
    os.chmod(jobs, 0o644)

    def as_nobody():
        if os.geteuid() == 0:
            os.setgid(65534)
            os.setuid(65534)
    for out in (folder, os.path.join(folder, "sub")):
        rc, so, se = run(["--batch", jobs, "--out-dir", out], preexec=as_nobody)
        check(rc == 3 and len(se.strip().splitlines()) == 1 and not os.listdir(folder),
              "unwritable output folder: one line before any work (exit %d): %s" % (rc, se.strip()))


def test_bad_model(tmp):
    jobs = os.path.join(tmp, "one.jsonl")
    write_jobs(jobs, ['{"id": "x", "text": "Hello world.", "voice": "af_tiny"}'])
    out = os.path.join(tmp, "badmodel")
    r = subprocess.run([KT, "--batch", jobs, "--out-dir", out, "-m", os.path.join(tmp, "missing.pth")],
                       capture_output=True, timeout=60)
    se = r.stderr.decode("utf-8", "replace")
    check(r.returncode == 4 and len(se.strip().splitlines()) == 1 and not [f for f in os.listdir(out)],
          "a model that does not load: one line, exit 4, nothing written (exit %d): %s" % (r.returncode, se.strip()))


def test_identity(tmp, jobs, ref):
    rc, so, se = run(["--batch", jobs, "--out-dir", ref, "--jobs", "1"])
    check(rc == 0, "single process, 1 worker (exit %d) %s" % (rc, se.strip()[-200:]))
    ref_m, ref_o = manifest(os.path.join(ref, "manifest.jsonl")), outputs(ref)
    single = os.path.join(tmp, "single.wav")
    r = subprocess.run([KT] + BASE + ["-v", VOICES[0], "-o", single, SENTENCES[0]], capture_output=True)
    check(r.returncode == 0 and sha(single) == ref_o["u000.wav"], "a batch output equals one kt-synth run's")
    two = os.path.join(tmp, "two")
    rc, so, se = run(["--batch", jobs, "--out-dir", two, "--jobs", "3"])
    check(rc == 0 and manifest(os.path.join(two, "manifest.jsonl")) == ref_m and outputs(two) == ref_o,
          "3 worker threads: same manifest and bytes")
    dflt = os.path.join(tmp, "default")
    rc, so, se = run(["--batch", jobs, "--out-dir", dflt])
    check(rc == 0 and manifest(os.path.join(dflt, "manifest.jsonl")) == ref_m and outputs(dflt) == ref_o,
          "the default workers (one per CPU, 1 thread each): same manifest and bytes")
    sh = os.path.join(tmp, "sharded")
    for k in range(3):
        rc, so, se = run(["--batch", jobs, "--out-dir", sh, "--shard", "%d/3" % k, "--jobs", "2"])
        check(rc == 0 and os.path.exists(os.path.join(sh, "manifest.%d-of-3.jsonl" % k)), "shard %d/3" % k)
    rc, so, se = run(["--merge", "--out-dir", sh, "--batch", jobs])
    check(rc == 0 and manifest(os.path.join(sh, "manifest.jsonl")) == ref_m and outputs(sh) == ref_o,
          "3 shards merged: same manifest and bytes as one process (%s)" % se.strip())
    os.remove(os.path.join(sh, "manifest.1-of-3.jsonl"))
    rc, so, se = run(["--merge", "--out-dir", sh])
    check(rc == 1 and "shard 1 of 3" in se, "merge with a shard missing refused: %s" % se.strip())


def test_env_shards(tmp, jobs, ref):
    ref_m = manifest(os.path.join(ref, "manifest.jsonl"))
    slurm = os.path.join(tmp, "slurm")
    for task in (1, 2):  # an array --array=1-2: SLURM_ARRAY_TASK_MIN=1
        rc, so, se = run(["--batch", jobs, "--out-dir", slurm],
                         env={"SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_COUNT": "2",
                              "SLURM_ARRAY_TASK_MIN": "1"})
        check(rc == 0 and os.path.exists(os.path.join(slurm, "manifest.%d-of-2.jsonl" % (task - 1))),
              "shard from SLURM_ARRAY_TASK_ID=%d (exit %d)" % (task, rc))
    rc, so, se = run(["--merge", "--out-dir", slurm])
    check(rc == 0 and manifest(os.path.join(slurm, "manifest.jsonl")) == ref_m, "Slurm variables: merged = one process")
    k8s = os.path.join(tmp, "k8s")
    for i in range(2):
        rc, so, se = run(["--batch", jobs, "--out-dir", k8s, "--shards", "2"], env={"JOB_COMPLETION_INDEX": str(i)})
        check(rc == 0, "shard from JOB_COMPLETION_INDEX=%d with --shards 2" % i)
    rc, so, se = run(["--merge", "--out-dir", k8s])
    check(rc == 0 and manifest(os.path.join(k8s, "manifest.jsonl")) == ref_m, "Kubernetes index: merged = one process")
    rc, so, se = run(["--batch", jobs, "--out-dir", k8s, "--shards", "2"])
    check(rc == 2 and len(se.strip().splitlines()) == 2, "--shards without an index: usage error")
    # one task of a 3-shard array resubmitted alone (--array=1: Slurm says COUNT=1, MIN=1)
    sub = os.path.join(tmp, "subset")
    rc, so, se = run(["--batch", jobs, "--out-dir", sub, "--shards", "3"],
                     env={"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "1", "SLURM_ARRAY_TASK_MIN": "1"})
    got = manifest(os.path.join(sub, "manifest.1-of-3.jsonl")) if rc == 0 else []
    check(rc == 0 and got == ref_m[1::3], "--shards 3 with SLURM_ARRAY_TASK_ID=1 alone: shard 1 of 3")


def test_resume(tmp, jobs, ref):
    ref_m, ref_o = manifest(os.path.join(ref, "manifest.jsonl")), outputs(ref)
    out = os.path.join(tmp, "resume")
    shutil.copytree(ref, out)
    with open(os.path.join(out, "u003.wav"), "r+b") as f:  # truncated
        f.truncate(1000)
    os.remove(os.path.join(out, "u004.wav"))  # missing
    with open(os.path.join(out, "u005.ogg"), "r+b") as f:  # same size, other bytes
        f.seek(500)
        f.write(b"\x01\x02\x03\x04")
    with open(os.path.join(out, "manifest.jsonl"), "a") as f:  # a record cut short by a crash
        f.write('{"line": 3, "id": "u00')
    rc, so, se = run(["--batch", jobs, "--out-dir", out, "--resume", "--json"])
    s = json.loads(so) if rc == 0 else {}
    check(rc == 0 and s.get("kept") == len(ref_o) - 3 and s.get("ok") == len(ref_o),
          "--resume redid the truncated, missing and altered outputs only (kept %s of %d)" % (s.get("kept"), len(ref_o)))
    check(manifest(os.path.join(out, "manifest.jsonl")) == ref_m and outputs(out) == ref_o,
          "--resume: manifest and bytes equal the uninterrupted run")
    rc, so, se = run(["--batch", jobs, "--out-dir", out, "--resume", "--json"])
    s = json.loads(so) if rc == 0 else {}
    check(rc == 0 and s.get("kept") == len(ref_o), "--resume of a finished batch synthesizes nothing")


def test_disk_full(tmp, jobs, ref):
    ref_m, ref_o = manifest(os.path.join(ref, "manifest.jsonl")), outputs(ref)
    sizes = sorted(os.path.getsize(os.path.join(ref, f)) for f in ref_o)
    limit = sizes[len(sizes) // 2]  # about half the outputs do not fit
    for ignored in (True, False):
        out = os.path.join(tmp, "full_%d" % ignored)

        def pre():
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN if ignored else signal.SIG_DFL)
        rc, so, se = run(["--batch", jobs, "--out-dir", out, "--jobs", "2"], preexec=pre)
        left = [f for f in os.listdir(out) if f.startswith(".")]
        done = {}
        if os.path.exists(os.path.join(out, "manifest.jsonl")):
            for line in open(os.path.join(out, "manifest.jsonl")):
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if r["status"] == "ok":
                    done[r["output"]] = r["sha256"]
        whole = all(sha(os.path.join(out, f)) == h == ref_o[f] for f, h in done.items())
        want_rc = (rc == 3 and "stopped" in se) if ignored else rc == -signal.SIGXFSZ
        check(want_rc and whole and not left and len(done) < len(ref_o),
              "file size limit %d, SIGXFSZ %s: exit %d, %d recorded done, all whole, no temp files (%s)" % (
                  limit, "ignored" if ignored else "default", rc, len(done), se.strip().splitlines()[-1:]))
        rc, so, se = run(["--batch", jobs, "--out-dir", out, "--resume", "--json"])
        s = json.loads(so) if rc == 0 else {}
        check(rc == 0 and manifest(os.path.join(out, "manifest.jsonl")) == ref_m and outputs(out) == ref_o,
              "--resume after the disk filled up completes the batch (kept %s)" % s.get("kept"))


def test_tmpfs_full(tmp, jobs, ref):
    """A real ENOSPC: the output folder on a small tmpfs, then grown for --resume."""
    ref_m, ref_o = manifest(os.path.join(ref, "manifest.jsonl")), outputs(ref)
    mnt = os.path.join(tmp, "small")
    os.mkdir(mnt)
    size = sum(os.path.getsize(os.path.join(ref, f)) for f in ref_o) // 2
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % size, "tmpfs", mnt], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode != 0:
        print("SKIP full tmpfs: cannot mount a tmpfs here (not root or no CAP_SYS_ADMIN); the RLIMIT_FSIZE "
              "cases cover the same code path")
        return
    try:
        out = os.path.join(mnt, "out")
        rc, so, se = run(["--batch", jobs, "--out-dir", out, "--jobs", "2"])
        done = {}
        for line in open(os.path.join(out, "manifest.jsonl"), errors="replace"):
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if r["status"] == "ok":
                done[r["output"]] = r["sha256"]
        whole = all(sha(os.path.join(out, f)) == h == ref_o[f] for f, h in done.items())
        left = [f for f in os.listdir(out) if f.startswith(".")]
        check(rc == 3 and "No space left" in se and whole and not left and len(done) < len(ref_o),
              "tmpfs of %d bytes fills up: exit %d, %d recorded done, all whole, no temp files: %s" % (
                  size, rc, len(done), se.strip().splitlines()[-1:]))
        subprocess.run(["mount", "-o", "remount,size=%d" % (size * 4), mnt], check=True)
        rc, so, se = run(["--batch", jobs, "--out-dir", out, "--resume", "--json"])
        s = json.loads(so) if rc == 0 else {}
        check(rc == 0 and manifest(os.path.join(out, "manifest.jsonl")) == ref_m and outputs(out) == ref_o,
              "--resume on the grown tmpfs completes the batch (kept %s)" % s.get("kept"))
    finally:
        subprocess.run(["umount", mnt])


def main():
    if not os.path.exists(KT):
        print("kt-synth not built: %s" % KT)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        test_bad_lines(tmp)
        test_refused_ids(tmp)
        test_unwritable(tmp)
        test_bad_model(tmp)
        jobs = os.path.join(tmp, "jobs.jsonl")
        write_jobs(jobs, corpus(12))
        ref = os.path.join(tmp, "ref")
        test_identity(tmp, jobs, ref)
        test_env_shards(tmp, jobs, ref)
        test_resume(tmp, jobs, ref)
        test_disk_full(tmp, jobs, ref)
        test_tmpfs_full(tmp, jobs, ref)
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
