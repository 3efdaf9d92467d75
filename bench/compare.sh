#!/usr/bin/env bash
# Speed and peak memory of cnnzoo vs PyTorch (training and inference) on the CIFAR benchmark
# models, plus the machine's GEMM peak; writes docs/benchmarks.md. Usage: bench/compare.sh
#
# Settings (environment): THREADS (2), BATCH (128), MODELS (the seven below), REPS (10, minimum
# timed steps), MIN_SECONDS (3, minimum timed seconds per measurement), OUT (docs/benchmarks.md),
# GEMM_ARGS (extra bench_gemm_peak flags), LAYERS (the conv layers timed on their own: ResNet-56's
# three 3x3 shapes "channels:size", default "16:32 32:16 64:8"), CNNZOO, GEMM, CONV (the
# binaries, default build/cnnzoo, build/bench_gemm_peak, build/bench_conv_layer)
# and PyTorch (CNNZOO_SETUP_TORCH=1 scripts/setup.sh). Every measurement is its own process;
# cnnzoo and PyTorch alternate, ROUNDS times (default 2) per model and mode, and each side's
# best round is reported: on this (virtual) machine a slow phase of tens of seconds moves one
# measurement by 10-25%, and the best of alternating rounds keeps that from deciding a ratio.
# Smoke test:
#   MODELS=resnet20 BATCH=2 REPS=1 MIN_SECONDS=0 ROUNDS=1 GEMM_ARGS="--reps 1 --gflop-per-rep 0" \
#     OUT=/tmp/benchmarks.md bench/compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
BATCH=${BATCH:-128}
MODELS=${MODELS:-resnet20 resnet56 resnet110 preact-resnet164 wrn-16-4 densenet-bc-100-12 vgg16-cifar}
REPS=${REPS:-10}
MIN_SECONDS=${MIN_SECONDS:-3}
ROUNDS=${ROUNDS:-2}
OUT=${OUT:-docs/benchmarks.md}
GEMM_ARGS=${GEMM_ARGS:-}
LAYERS=${LAYERS:-16:32 32:16 64:8}
PY=/usr/bin/python3
CNNZOO=${CNNZOO:-build/cnnzoo}
GEMM=${GEMM:-build/bench_gemm_peak}
CONV=${CONV:-build/bench_conv_layer}
# glibc malloc tuned for PyTorch (no mmap/munmap churn of its large activation buffers).
TORCH_ENV=(env MALLOC_MMAP_THRESHOLD_=34359738368 MALLOC_TRIM_THRESHOLD_=68719476736
  MALLOC_TOP_PAD_=1073741824 OMP_NUM_THREADS="$THREADS")

for bin in "$CNNZOO" "$GEMM" "$CONV"; do
  [[ -x $bin ]] || { echo "compare.sh: $bin not found; build first (scripts/build.sh)" >&2; exit 1; }
done
RAW=$(mktemp -d)
trap 'rm -rf "$RAW"' EXIT
COMMAND="THREADS=$THREADS BATCH=$BATCH REPS=$REPS MIN_SECONDS=$MIN_SECONDS ROUNDS=$ROUNDS MODELS=\"$MODELS\" bench/compare.sh"

echo "== GEMM peak, $THREADS threads and 1"
# shellcheck disable=SC2086  # GEMM_ARGS is a list of flags
"$GEMM" --threads "$THREADS" --json $GEMM_ARGS | tee "$RAW/gemm.json"

for layer in $LAYERS; do
  args=(--threads "$THREADS" --batch "$BATCH" --cin "${layer%:*}" --cout "${layer%:*}"
    --hw "${layer#*:}" --reps "$REPS")
  echo "== conv layer $layer: cnnzoo, PyTorch"
  "$CONV" "${args[@]}" | tee "$RAW/conv.$layer.cnnzoo.txt"
  "${TORCH_ENV[@]}" "$PY" bench/conv_layer_torch.py "${args[@]}" | tee "$RAW/conv.$layer.torch.txt"
done

for m in $MODELS; do
  "$CNNZOO" summary "$m" --json > "$RAW/$m.summary.json"
  # The PyTorch model must have exactly cnnzoo's parameter count.
  "$PY" - "$m" "$RAW/$m.summary.json" <<'PY'
import json, sys
sys.path.insert(0, "bench")
import torch_models
name, summary = sys.argv[1], json.load(open(sys.argv[2]))
n = sum(p.numel() for p in torch_models.build(name).parameters())
if n != summary["params"]:
    sys.exit(f"compare.sh: {name}: PyTorch has {n} parameters, cnnzoo {summary['params']}")
PY
  for mode in train inference; do
    flag=()
    [[ $mode == train ]] && flag=(--train)
    args=(--model "$m" --batch "$BATCH" --threads "$THREADS" --reps "$REPS"
      --min-seconds "$MIN_SECONDS" --json "${flag[@]}")
    for ((r = 1; r <= ROUNDS; r++)); do
      echo "== $m $mode round $r: cnnzoo"
      "$CNNZOO" bench "${args[@]}" | tee "$RAW/$m.$mode.cnnzoo.$r.json"
      echo "== $m $mode round $r: PyTorch"
      "${TORCH_ENV[@]}" "$PY" bench/bench_torch.py "${args[@]}" | tee "$RAW/$m.$mode.torch.$r.json"
    done
  done
done

# Written to a temporary file next to OUT and renamed: a failed run leaves no half file.
mkdir -p "$(dirname "$OUT")"
TMP=$(mktemp "$OUT.XXXXXX")
trap 'rm -rf "$RAW" "$TMP"' EXIT
"$PY" - "$RAW" "$TMP" "$COMMAND" "$THREADS" "$BATCH" "$REPS" "$MIN_SECONDS" "$MODELS" "$LAYERS" \
  "$ROUNDS" <<'PY'
import datetime, json, os, re, subprocess, sys
import torch

raw, out, command, threads, batch, reps, min_s, models, layers, rounds = sys.argv[1:]
models, layers, rounds = models.split(), layers.split(), int(rounds)
load = lambda name: json.load(open(os.path.join(raw, name)))

def best(prefix):  # the round with the most images/s; peak memory: the largest of any round
    runs = [load(f"{prefix}.{r}.json") for r in range(1, rounds + 1)]
    top = dict(max(runs, key=lambda j: j["images_per_s"]))
    top["peak_rss_mb"] = max(j["peak_rss_mb"] for j in runs)
    return top
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                        text=True).stdout.strip() or "?"
gemm = load("gemm.json")
speed_target = {"preact-resnet164": 1.5, "densenet-bc-100-12": 1.5}

L = ["# Benchmarks: cnnzoo vs PyTorch on this CPU", "",
     "Generated by `bench/compare.sh`; do not edit by hand.", "",
     f"- command: `{command}`",
     f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
     f"cnnzoo commit `{commit}`",
     f"- machine: {nproc} cores (`nproc`), {cpu}",
     f"- PyTorch {torch.__version__} (`/usr/bin/python3`), glibc malloc tuned with "
     "`MALLOC_MMAP_THRESHOLD_=34359738368 MALLOC_TRIM_THRESHOLD_=68719476736 "
     "MALLOC_TOP_PAD_=1073741824`", "",
     f"Batch {batch}, {threads} threads, random 3x32x32 inputs, 10 classes. Each measurement is "
     "its own process. A training step is forward, "
     "cross-entropy, backward and an SGD step (momentum 0.9, weight decay 5e-4); inference is "
     "a forward pass in eval mode without autograd. Two warm-up steps, then the median step "
     f"time over at least {reps} steps and {min_s} s; images/s = batch / median step time. "
     f"cnnzoo and PyTorch alternate {rounds} time(s) per model and mode, and each side's best "
     "round is reported (peak memory: each side's largest). "
     "Achieved GFLOP/s = 2 x multiply-adds x images/s, times 3 for training (forward, input "
     "gradient, weight gradient). Peak memory is the process's peak resident set "
     "(`ru_maxrss`); PyTorch's includes the Python interpreter and libtorch. The PyTorch "
     "models are in `bench/torch_models.py`, with exactly cnnzoo's parameter counts "
     "(checked by the script).", "",
     "## GEMM peak", "",
     f"Single-precision Eigen GEMM, each thread multiplying its own matrices "
     f"(`build/bench_gemm_peak --threads {threads}`): **{gemm['peak_gflops']:.1f} GFLOP/s** "
     f"with {threads} threads, {gemm['peak_gflops_1']:.1f} GFLOP/s with 1.", "",
     f"| shape (y = w x col) | m x k x n | 1 thread GFLOP/s | {threads} threads GFLOP/s |",
     "| --- | --- | ---: | ---: |"]
for s in gemm["shapes"]:
    L.append(f"| {s['shape']} | {s['m']}x{s['k']}x{s['n']} | {s['gflops_1']:.1f} | "
             f"{s['gflops']:.1f} |")

def conv_line(path):  # "... fwd F ms  bwd B ms  total T ms  G GFLOP/s" (bench/conv_layer.sh)
    text = open(path).read()
    num = lambda key: float(re.search(key, text).group(1))
    return {k: num(rf"{k} ([0-9.]+) ms") for k in ("fwd", "bwd", "total")} | \
           {"gflops": num(r"([0-9.]+) GFLOP/s")}

L += ["", f"## ResNet-56's 3x3 conv layers (batch {batch}, {threads} threads)", "",
      "Each layer on its own (`bench/conv_layer.sh`): forward, then the input and weight "
      "gradients. GFLOP/s counts the direct convolution's 2 x multiply-adds x 3 passes, "
      "whatever algorithm computes them (cnnzoo uses Winograd F(4x4, 3x3) for the forward "
      "pass and the input gradient), as a share of the GEMM peak above. Target: >= 60%.", "",
      "| layer | cnnzoo fwd / bwd ms | PyTorch fwd / bwd ms | cnnzoo GFLOP/s | PyTorch GFLOP/s "
      "| cnnzoo % of GEMM peak | target |",
      "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
for layer in layers:
    c, hw = layer.split(":")
    ours = conv_line(os.path.join(raw, f"conv.{layer}.cnnzoo.txt"))
    theirs = conv_line(os.path.join(raw, f"conv.{layer}.torch.txt"))
    share = 100 * ours["gflops"] / gemm["peak_gflops"]
    L.append(f"| {c} -> {c} channels, {hw}x{hw} | {ours['fwd']:.2f} / {ours['bwd']:.2f} | "
             f"{theirs['fwd']:.2f} / {theirs['bwd']:.2f} | {ours['gflops']:.1f} | "
             f"{theirs['gflops']:.1f} | {share:.0f}% | {'met' if share >= 60 else 'missed'} |")

met = total = 0
for mode, title, passes in [("train", "Training", 3), ("inference", "Inference", 1)]:
    L += ["", f"## {title} (batch {batch}, {threads} threads)", "",
          "| model | fwd multiply-adds/image | cnnzoo images/s | PyTorch images/s | "
          "cnnzoo/PyTorch | cnnzoo GFLOP/s | PyTorch GFLOP/s | cnnzoo peak MB | "
          "PyTorch peak MB | targets |",
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for m in models:
        macs = load(f"{m}.summary.json")["macs"]
        ours, theirs = best(f"{m}.{mode}.cnnzoo"), best(f"{m}.{mode}.torch")
        a, b = ours["images_per_s"], theirs["images_per_s"]
        gf = lambda ips: 2 * passes * macs * ips / 1e9
        need = speed_target.get(m, 1.0) if mode == "train" else 1.0
        missed = ([f"speed < {need:.1f}x"] if a / b < need else []) + \
                 (["memory"] if ours["peak_rss_mb"] > theirs["peak_rss_mb"] else [])
        total += 1
        met += not missed
        L.append(f"| `{m}` | {macs / 1e6:.2f}M | {a:.1f} | {b:.1f} | {a / b:.2f}x | {gf(a):.1f} | "
                 f"{gf(b):.1f} | {ours['peak_rss_mb']:.0f} | {theirs['peak_rss_mb']:.0f} | "
                 f"{'met' if not missed else 'missed: ' + ', '.join(missed)} |")

L += ["", "## Targets", "",
      "Training >= 1.0x PyTorch's images/s on every model and >= 1.5x on `preact-resnet164` "
      "and `densenet-bc-100-12`; inference >= 1.0x; peak memory <= PyTorch's. "
      f"Met on {met} of {total} rows."]
open(out, "w").write("\n".join(L) + "\n")
PY
chmod 644 "$TMP"
mv "$TMP" "$OUT"
echo "== wrote $OUT"
