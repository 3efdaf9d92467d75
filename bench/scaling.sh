#!/usr/bin/env bash
# Data-parallel scaling on this machine and on paper; writes the scaling section of
# docs/benchmarks.md.
#   1. Training images/s of 2 ranks x 1 thread (mpirun) against 1 process x 2 threads, same
#      global batch, same images (CIFAR-10 JPEGs, a subset per model), and the share of each
#      step the gradient allreduce takes.
#   2. A model of the speed-up on 2-64 machines on 10 and 25 Gb/s networks, from measured step
#      times (cnnzoo bench --train, this machine's cores standing for one machine) and the
#      allreduce's volume: a ring allreduce of P fp32 gradients moves 2 (N-1)/N x 4P bytes per
#      machine and takes 2 (N-1) network latencies; no overlap with the backward pass.
#   bench/scaling.sh       (settings: MODELS, BATCH (128), PAPER_MODELS, LATENCY_US (50), OUT)
# Needs a build with MPI (scripts/build.sh -DCNNZOO_MPI=ON) and the CIFAR-10 JPEGs (data/README).
set -euo pipefail
cd "$(dirname "$0")/.."
CNNZOO=${CNNZOO:-build/cnnzoo}
MODELS=${MODELS:-resnet20 resnet56 wrn-16-4}
PAPER_MODELS=${PAPER_MODELS:-resnet56 wrn-28-10 densenet-bc-100-12}
BATCH=${BATCH:-128}
LATENCY_US=${LATENCY_US:-50}
OUT=${OUT:-docs/benchmarks.md}
DATA=${DATA:-/tmp/cnnzoo-data/cifar10-jpg}
read -r -a MPIRUN <<< "${MPIRUN:-mpirun -np 2}"
[[ $(id -u) -eq 0 ]] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
[[ -x $CNNZOO ]] || { echo "scaling.sh: $CNNZOO not found; build first" >&2; exit 1; }
if [[ ! -d $DATA ]]; then
  tarball=../shared/data/cifar10-jpg.tar.gz
  [[ -f $tarball ]] || { echo "scaling.sh: no $DATA and no $tarball" >&2; exit 1; }
  mkdir -p "$(dirname "$DATA")"
  tar -xzf "$tarball" -C "$(dirname "$DATA")"
fi
RAW=$(mktemp -d)
trap 'rm -rf "$RAW"' EXIT

# Images per model: about ten seconds of training on this machine.
declare -A LIMIT=([resnet20]=6400 [resnet56]=2560 [wrn-16-4]=1536)
for m in $MODELS; do
  limit=${LIMIT[$m]:-1280}
  common=(train --model "$m" --data "$DATA" --dataset folder --limit-train "$limit"
    --limit-test 512 --epochs 1 --batch "$BATCH" --seed 1 --no-progress --checkpoint-minutes 0)
  for round in 1 2; do  # alternating, best of two: the machine has slow phases
    echo "== $m round $round: 1 process x 2 threads"
    "$CNNZOO" "${common[@]}" --threads 2 --out "$RAW/$m.one.$round" 2> "$RAW/$m.one.$round.log"
    echo "== $m round $round: 2 ranks x 1 thread"
    "${MPIRUN[@]}" "$CNNZOO" "${common[@]}" --threads 1 --out "$RAW/$m.two.$round" \
      2> "$RAW/$m.two.$round.log"
  done
done
for m in $PAPER_MODELS; do
  echo "== $m: step time at batch 64 (2 threads), parameters"
  "$CNNZOO" bench --model "$m" --train --batch 64 --threads 2 --reps 3 --min-seconds 5 --json \
    > "$RAW/$m.bench.json"
  "$CNNZOO" summary "$m" --json > "$RAW/$m.summary.json"
done

/usr/bin/python3 - "$RAW" "$OUT" "$MODELS" "$PAPER_MODELS" "$BATCH" "$LATENCY_US" <<'PY'
import csv, datetime, json, os, re, subprocess, sys
sys.path.insert(0, "bench")
import doc_sections

raw, out, models, paper, batch, latency_us = sys.argv[1:]
models, paper, batch, latency = models.split(), paper.split(), int(batch), float(latency_us) * 1e-6

def rate(run):  # training images/s of the run's epoch
    return float(list(csv.DictReader(open(os.path.join(raw, run, "metrics.csv"))))[-1]["images_per_s"])

def allreduce(run):  # (ms per step, % of the epoch) from rank 0's epoch line
    m = re.search(r"gradient allreduce: ([0-9.]+) ms per step \(([0-9.]+)% of the epoch\)",
                  open(os.path.join(raw, run + ".log")).read())
    return float(m.group(1)), float(m.group(2))

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                        text=True).stdout.strip() or "?"
L = [f"## Data-parallel scaling (`bench/scaling.sh`)", "",
     f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, cnnzoo commit "
     f"`{commit}`, {os.cpu_count()} cores, {cpu}; OpenMPI "
     + subprocess.run(["mpirun", "--version"], capture_output=True, text=True).stdout.split("\n")[0].split()[-1],
     "",
     f"### Two ranks against one process on this machine (global batch {batch})", "",
     "Training images/s of one epoch over a subset of the CIFAR-10 images, best of two "
     "alternating rounds: one process with 2 threads against `mpirun -np 2` with 1 thread per "
     "rank (the same cores, the same global batch; the ranks exchange gradients through shared "
     "memory). Allreduce: the time per step in the one `MPI_Allreduce` of the gradients (and "
     "the step's loss, accuracy and stop flags), its share of the epoch, on rank 0. Target: "
     ">= 0.9x.", "",
     "| model | parameters | 1 x 2 threads img/s | 2 x 1 thread img/s | ratio | allreduce ms/step | share of the step |",
     "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
for m in models:
    one = max(rate(f"{m}.one.{r}") for r in (1, 2))
    two_runs = [(rate(f"{m}.two.{r}"), r) for r in (1, 2)]
    two, best_round = max(two_runs)
    ms, share = allreduce(f"{m}.two.{best_round}")
    params = json.loads(subprocess.run(["build/cnnzoo", "summary", m, "--json"], capture_output=True,
                                       text=True).stdout)["params"]
    L.append(f"| `{m}` | {params / 1e6:.2f}M | {one:.1f} | {two:.1f} | {two / one:.2f}x | "
             f"{ms:.2f} | {share:.1f}% |")

L += ["", "### Model: speed-up on N machines", "",
      f"Weak scaling: every machine trains {batch} images per step (the global batch is "
      f"{batch} x N), a machine being this one's {os.cpu_count()} cores: step time t = "
      f"{batch} / (measured training images/s at 2 threads). A ring allreduce of P fp32 "
      "gradients sends and receives 2 (N-1)/N x 4P bytes per machine in 2 (N-1) rounds: "
      f"a = 2 (N-1)/N x 4P / bandwidth + 2 (N-1) x {latency_us} us. Without overlap "
      "(cnnzoo reduces after the backward pass) a step takes t + a: speed-up = N t / (t + a). "
      "Communication dominates where a > t.", "",
      "| model | parameters | step t (s) | network | " + " | ".join(f"N={n}" for n in (2, 4, 8, 16, 32, 64)) + " | a at N=64 (s) |",
      "| --- | ---: | ---: | --- | " + " | ".join("---:" for _ in range(6)) + " | ---: |"]
ns = (2, 4, 8, 16, 32, 64)
verdicts = []
for m in paper:
    ips = json.load(open(os.path.join(raw, f"{m}.bench.json")))["images_per_s"]
    params = json.load(open(os.path.join(raw, f"{m}.summary.json")))["params"]
    t = batch / ips
    for gbps in (10, 25):
        bw = gbps * 1e9 / 8
        allreduce_s = lambda n: 2 * (n - 1) / n * 4 * params / bw + 2 * (n - 1) * latency
        cells = [f"{n * t / (t + allreduce_s(n)):.1f}x" for n in ns]
        L.append(f"| `{m}` | {params / 1e6:.1f}M | {t:.2f} | {gbps} Gb/s | " + " | ".join(cells)
                 + f" | {allreduce_s(64):.3f} |")
        # The first N where the allreduce outlasts the step, here and on a machine 16x faster.
        first = lambda step: next((n for n in ns if allreduce_s(n) > step), None)
        verdicts.append((m, gbps, t, allreduce_s(64), first(t), first(t / 16)))
say = lambda n: f"from N={n}" if n else "never up to N=64"
L += ["", "Where communication dominates (allreduce longer than the step): "
      + "; ".join(f"`{m}` at {g} Gb/s: {say(f)} ({100 * a / t:.0f}% of the step at N=64), "
                  f"on a machine 16x faster: {say(f16)}" for m, g, t, a, f, f16 in verdicts)
      + ". The bandwidth term hardly grows with N (2 (N-1)/N tends to 2): a ring allreduce "
      "costs each machine about twice the gradients' bytes whatever N, so the speed-up stays "
      "near N t / (t + a) with a almost constant; what decides is the ratio of parameters to "
      "computation per image: " + ", ".join(
          f"`{m}` {ratio:.0f} multiply-adds per image per parameter" for m, ratio in
          ((m, json.load(open(os.path.join(raw, f"{m}.summary.json")))["macs"] /
            json.load(open(os.path.join(raw, f"{m}.summary.json")))["params"]) for m in paper))
      + " (the fewer, the sooner the network matters)."]
doc_sections.write(out, "scaling", L, ["# Benchmarks: cnnzoo vs PyTorch on this CPU", "",
                                       "The main tables: run `bench/compare.sh`."])
print("\n".join(L))
PY
echo "== wrote $OUT"
