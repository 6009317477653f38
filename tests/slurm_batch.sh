#!/bin/sh
# kt-synth --batch on a real Slurm: installs Debian's slurm-wlm and munge (when missing), starts a
# private munged and a single-node slurmctld + slurmd on 127.0.0.1 (ports of its own, every file in
# a temp folder), submits tools/slurm/kt-batch.sbatch as a 4-task array over a 40-line corpus with
# the tiny random-weight model, merges with a dependent job, and checks that the merged manifest
# and every output's SHA-256 equal a single-process run. The daemons are always stopped (trap);
# every wait is bounded. Run as root: make test-slurm (CI runs it after make test).
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${1:-build}
KT="$ROOT/$BUILD/kt-synth"
TINY="$ROOT/fixtures/tiny"
[ -x "$KT" ] || { echo "slurm_batch: $KT not built (make first)"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "slurm_batch: needs root (munged, slurmd)"; exit 1; }
sh tools/install-deps.sh slurm-wlm munge

TMP=$(mktemp -d /tmp/kt-slurm.XXXXXX)
export SLURM_CONF="$TMP/slurm.conf"
stop_pid() { # stop the daemon whose pid is in $1: TERM, then KILL after 10 s
    [ -s "$1" ] || return 0
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null || return 0
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 20 ]; do sleep 0.5; i=$((i + 1)); done
    kill -9 "$pid" 2>/dev/null || true
}
cleanup() {
    rc=$?
    trap - EXIT INT TERM
    [ -n "${JOB:-}" ] && timeout 10 scancel "$JOB" "${MERGE:-}" 2>/dev/null || true
    stop_pid "$TMP/slurmd.pid"
    stop_pid "$TMP/slurmctld.pid"
    stop_pid "$TMP/munged.pid"
    if [ $rc -ne 0 ]; then
        for f in "$TMP"/slurmctld.log "$TMP"/slurmd.log "$TMP"/task-*.log "$TMP"/merge.log; do
            [ -f "$f" ] && { echo "== $f"; tail -15 "$f"; }
        done
    fi
    rm -rf "$TMP"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "FAIL slurm_batch: $*"; exit 1; }
wait_for() { # wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds
    t=$1; what=$2; shift 2; i=0
    while ! "$@" >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -le $((t * 2)) ] || fail "timed out after ${t}s waiting for $what"
        sleep 0.5
    done
}

# munge, private: its own key, socket, pid and log
dd if=/dev/urandom of="$TMP/munge.key" bs=1024 count=1 2>/dev/null
chmod 400 "$TMP/munge.key"
munged --force --socket="$TMP/munge.sock" --key-file="$TMP/munge.key" --pid-file="$TMP/munged.pid" \
    --log-file="$TMP/munged.log" --seed-file="$TMP/munged.seed" 2>/dev/null || fail "munged did not start"
wait_for 10 "munged" sh -c "munge -S '$TMP/munge.sock' -n | unmunge -S '$TMP/munge.sock'"

# slurm.conf: one node (this machine) on 127.0.0.1, two free ports
set -- $(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1", 0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
HOST=$(hostname -s)
MEM=$(awk '/MemTotal/ {m = int($2 / 1024) - 512; print (m > 1024 ? m : 1024)}' /proc/meminfo)
mkdir -p "$TMP/state" "$TMP/spool"
cat > "$SLURM_CONF" <<CONF
ClusterName=ktci
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$1
SlurmdPort=$2
AuthType=auth/munge
AuthInfo=socket=$TMP/munge.sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$TMP/state
SlurmdSpoolDir=$TMP/spool
SlurmctldPidFile=$TMP/slurmctld.pid
SlurmdPidFile=$TMP/slurmd.pid
SlurmctldLogFile=$TMP/slurmctld.log
SlurmdLogFile=$TMP/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$MEM State=UNKNOWN
PartitionName=kt Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start"
wait_for 60 "the node to be idle" sh -c 'timeout 10 sinfo -h -o %t | grep -q idle'
echo "ok   slurmctld + slurmd on 127.0.0.1:$1/$2, node $HOST idle"

# a 40-line corpus and the single-process reference (outside any Slurm environment)
python3 - "$TMP/jobs.jsonl" <<'PY'
import json, sys
words = "the quick brown fox jumps over a lazy dog while seven bright stars shine on quiet hills".split()
with open(sys.argv[1], "w") as f:
    for i in range(40):
        job = {"id": "utt%02d" % i, "text": " ".join(words[i % 9: i % 9 + 3 + i % 5]).capitalize() + ".",
               "voice": ["af_tiny", "am_tiny", "bf_tiny"][i % 3]}
        if i % 7 == 3:
            job["format"] = "flac"
        if i % 5 == 4:
            job["speed"] = 1.2
        f.write(json.dumps(job) + "\n")
PY
ARGS="-c $TINY/config.json --voices $TINY/voices -m $TINY/kokoro-tiny.pth"
env -u SLURM_ARRAY_TASK_ID -u SLURM_ARRAY_TASK_COUNT -u SLURM_ARRAY_TASK_MIN -u SLURM_ARRAY_TASK_STEP \
    timeout 300 "$KT" --batch "$TMP/jobs.jsonl" --out-dir "$TMP/ref" $ARGS 2>"$TMP/ref.log" \
    || { cat "$TMP/ref.log"; fail "the single-process run failed"; }

# the documented array script, 4 tasks, then the merge as a dependent job
export KT_JOBS="$TMP/jobs.jsonl" KT_OUT="$TMP/out" KT_SYNTH="$KT" KT_MODEL="$TINY/kokoro-tiny.pth"
export KT_VOICES="$TINY/voices" KT_ARGS="-c $TINY/config.json"
JOB=$(timeout 20 sbatch --parsable --array=0-3 --cpus-per-task=1 --chdir="$TMP" --output="$TMP/task-%a.log" \
    tools/slurm/kt-batch.sbatch) || fail "sbatch of the array failed"
MERGE=$(timeout 20 sbatch --parsable --dependency=afterany:"$JOB" --chdir="$TMP" --output="$TMP/merge.log" \
    --wrap "'$KT' --merge --out-dir '$TMP/out' --batch '$TMP/jobs.jsonl'") || fail "sbatch of the merge failed"
echo "ok   submitted array $JOB (4 tasks) and merge $MERGE"
wait_for 240 "the jobs to finish" sh -c "[ -z \"\$(timeout 10 squeue -h -j $JOB,$MERGE)\" ]"

for k in 0 1 2 3; do
    [ -f "$TMP/out/manifest.$k-of-4.jsonl" ] || fail "task $k wrote no manifest.$k-of-4.jsonl"
done
python3 - "$TMP/ref" "$TMP/out" <<'PY' || fail "merged manifest or outputs differ from the single-process run"
import hashlib, json, os, sys
ref, out = sys.argv[1], sys.argv[2]
def manifest(d):
    with open(os.path.join(d, "manifest.jsonl")) as f:
        return [{k: v for k, v in json.loads(l).items() if k != "elapsed"} for l in f]
def files(d):
    return {n: hashlib.sha256(open(os.path.join(d, n), "rb").read()).hexdigest()
            for n in os.listdir(d) if not n.startswith("manifest")}
a, b = manifest(ref), manifest(out)
assert len(a) == 40 and all(r["status"] == "ok" for r in a), "reference incomplete"
assert a == b, "manifests differ"
fa, fb = files(ref), files(out)
assert fa == fb and len(fa) == 40, "files differ: %s" % sorted(set(fa.items()) ^ set(fb.items()))[:4]
assert all(fa[r["output"]] == r["sha256"] for r in b), "a manifest hash does not match its file"
print("ok   4-task array on Slurm: merged manifest (40 lines) and the 40 files' SHA-256 equal one process's")
PY
grep -q "merged 4 shards: 40 lines, 40 ok" "$TMP/merge.log" || fail "merge job: $(cat "$TMP/merge.log")"
echo "slurm_batch: all passed"
