#!/usr/bin/env bash
# Speed and peak memory of cnnzoo vs PyTorch (training and inference, fp32 and bf16) on the
# CIFAR benchmark models, batch-16 and batch-1 inference of ImageNet models, and the machine's
# FMA and GEMM peaks; writes docs/benchmarks.md. With --all-cifar: the sweep of every CIFAR
# model of the registry instead, written to the sweep section of the same file (each kind of
# run keeps the other's section).
#   bench/compare.sh [--all-cifar]
#
# Settings (environment): THREADS (2), BATCH (128; sweep 16), MODELS (the seven below; sweep:
# every CIFAR model), PRECISIONS ("fp32 bf16" on CPUs with AVX-512 BF16, else fp32; sweep:
# fp32), IMAGENET (resnet18 resnet50 densenet121 squeezenet1_1 inception_v3), IMAGENET_BATCH
# (16), REPS (10; sweep 3: minimum timed steps), MIN_SECONDS (3; sweep 1: minimum timed seconds
# per measurement), ROUNDS (2; sweep 1), OUT (docs/benchmarks.md), GEMM_ARGS (extra
# bench_gemm_peak flags), LAYERS (the conv layers timed on their own: ResNet-56's three 3x3
# shapes "channels:size", default "16:32 32:16 64:8"), CNNZOO, GEMM, CONV, DUMP (the binaries,
# default build/cnnzoo, build/bench_gemm_peak, build/bench_conv_layer, build/bench_graph_dump)
# and PyTorch (CNNZOO_SETUP_TORCH=1 scripts/setup.sh). Every measurement is its own process;
# cnnzoo and PyTorch alternate, ROUNDS times per model, mode and precision, and each side's
# best round is reported: on this (virtual) machine a slow phase of tens of seconds moves one
# measurement by 10-25%, and the best of alternating rounds keeps that from deciding a ratio.
# PyTorch models: bench/torch_models.py where written by hand, torchvision for ImageNet names,
# otherwise traced from cnnzoo's own forward pass (bench/torch_twin.py); the parameter counts
# are checked against cnnzoo's either way.
# Smoke test:
#   MODELS=resnet20 IMAGENET=squeezenet1_1 BATCH=2 IMAGENET_BATCH=1 REPS=1 MIN_SECONDS=0 \
#     ROUNDS=1 LAYERS=16:8 GEMM_ARGS="--reps 1 --gflop-per-rep 0" OUT=/tmp/benchmarks.md \
#     bench/compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SWEEP=0
case "${1:-}" in
  "") ;;
  --all-cifar) SWEEP=1 ;;
  *) echo "compare.sh: unknown argument '$1' (usage: bench/compare.sh [--all-cifar])" >&2; exit 2 ;;
esac
CNNZOO=${CNNZOO:-build/cnnzoo}
GEMM=${GEMM:-build/bench_gemm_peak}
CONV=${CONV:-build/bench_conv_layer}
DUMP=${DUMP:-build/bench_graph_dump}
for bin in "$CNNZOO" "$GEMM" "$CONV" "$DUMP"; do
  [[ -x $bin ]] || { echo "compare.sh: $bin not found; build first (scripts/build.sh)" >&2; exit 1; }
done
THREADS=${THREADS:-2}
if ((SWEEP)); then
  BATCH=${BATCH:-16}
  MODELS=${MODELS:-$("$CNNZOO" list | awk '$2 == "cifar" { print $1 }' | tr '\n' ' ')}
  PRECISIONS=${PRECISIONS:-fp32}
  IMAGENET=""
  REPS=${REPS:-3}
  MIN_SECONDS=${MIN_SECONDS:-1}
  ROUNDS=${ROUNDS:-1}
else
  BATCH=${BATCH:-128}
  MODELS=${MODELS:-resnet20 resnet56 resnet110 preact-resnet164 wrn-16-4 densenet-bc-100-12 vgg16-cifar}
  if grep -qw avx512_bf16 /proc/cpuinfo; then PRECISIONS=${PRECISIONS:-fp32 bf16}; fi
  PRECISIONS=${PRECISIONS:-fp32}
  IMAGENET=${IMAGENET-resnet18 resnet50 densenet121 squeezenet1_1 inception_v3}
  REPS=${REPS:-10}
  MIN_SECONDS=${MIN_SECONDS:-3}
  ROUNDS=${ROUNDS:-2}
fi
IMAGENET_BATCH=${IMAGENET_BATCH:-16}
OUT=${OUT:-docs/benchmarks.md}
GEMM_ARGS=${GEMM_ARGS:-}
LAYERS=${LAYERS:-16:32 32:16 64:8}
PY=/usr/bin/python3
export CNNZOO_GRAPH_DUMP=$DUMP  # for bench_torch.py's traced twins
# glibc malloc tuned for PyTorch (no mmap/munmap churn of its large activation buffers).
TORCH_ENV=(env MALLOC_MMAP_THRESHOLD_=34359738368 MALLOC_TRIM_THRESHOLD_=68719476736
  MALLOC_TOP_PAD_=1073741824 OMP_NUM_THREADS="$THREADS")

RAW=$(mktemp -d)
trap 'rm -rf "$RAW"' EXIT
if ((SWEEP)); then
  COMMAND="THREADS=$THREADS BATCH=$BATCH REPS=$REPS MIN_SECONDS=$MIN_SECONDS ROUNDS=$ROUNDS bench/compare.sh --all-cifar"
else
  COMMAND="THREADS=$THREADS BATCH=$BATCH REPS=$REPS MIN_SECONDS=$MIN_SECONDS ROUNDS=$ROUNDS PRECISIONS=\"$PRECISIONS\" MODELS=\"$MODELS\" IMAGENET=\"$IMAGENET\" IMAGENET_BATCH=$IMAGENET_BATCH bench/compare.sh"
fi

# Both sides, alternating, ROUNDS times: RAW/<model>.<mode>.<precision>.<side>.<round>.json
measure() {  # model mode precision batch
  local m=$1 mode=$2 prec=$3 batch=$4 flag=()
  [[ $mode == train ]] && flag=(--train)
  local args=(--model "$m" --batch "$batch" --threads "$THREADS" --reps "$REPS"
    --min-seconds "$MIN_SECONDS" --precision "$prec" --json "${flag[@]}")
  for ((r = 1; r <= ROUNDS; r++)); do
    echo "== $m $mode $prec round $r: cnnzoo"
    "$CNNZOO" bench "${args[@]}" | tee "$RAW/$m.$mode.$prec.cnnzoo.$r.json"
    echo "== $m $mode $prec round $r: PyTorch"
    "${TORCH_ENV[@]}" "$PY" bench/bench_torch.py "${args[@]}" | tee "$RAW/$m.$mode.$prec.torch.$r.json"
  done
}

if ((!SWEEP)); then
  echo "== FMA and GEMM peaks, $THREADS threads and 1"
  # shellcheck disable=SC2086  # GEMM_ARGS is a list of flags
  "$GEMM" --threads "$THREADS" --json $GEMM_ARGS | tee "$RAW/gemm.json"
  for layer in $LAYERS; do
    args=(--threads "$THREADS" --batch "$BATCH" --cin "${layer%:*}" --cout "${layer%:*}"
      --hw "${layer#*:}" --reps "$REPS")
    echo "== conv layer $layer: cnnzoo, PyTorch"
    "$CONV" "${args[@]}" | tee "$RAW/conv.$layer.cnnzoo.txt"
    "${TORCH_ENV[@]}" "$PY" bench/conv_layer_torch.py "${args[@]}" | tee "$RAW/conv.$layer.torch.txt"
  done
fi

for m in $MODELS; do
  "$CNNZOO" summary "$m" --json > "$RAW/$m.summary.json"
  # The PyTorch model must have exactly cnnzoo's parameter count.
  "$PY" - "$m" "$RAW/$m.summary.json" "$DUMP" > "$RAW/$m.twin" <<'PY'
import json, sys
sys.path.insert(0, "bench")
import torch_models, torch_twin
name, summary, dump = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3]
if name in torch_models.MODELS:
    model, kind = torch_models.build(name), "hand-written"
else:
    model, kind = torch_twin.build(name, binary=dump), "traced"
n = sum(p.numel() for p in model.parameters())
if n != summary["params"]:
    sys.exit(f"compare.sh: {name}: PyTorch has {n} parameters, cnnzoo {summary['params']}")
print(kind)
PY
  for prec in $PRECISIONS; do
    for mode in train inference; do measure "$m" "$mode" "$prec" "$BATCH"; done
  done
done
for m in $IMAGENET; do
  for prec in $PRECISIONS; do measure "$m" inference "$prec" "$IMAGENET_BATCH"; done
done

# Its section of OUT, replaced through a temporary file (bench/doc_sections.py): a failed run
# leaves the file as it was.
"$PY" bench/compare_report.py "$RAW" "$OUT" "$SWEEP" "$COMMAND" "$THREADS" "$BATCH" "$REPS" \
  "$MIN_SECONDS" "$ROUNDS" "$MODELS" "$PRECISIONS" "$IMAGENET" "$IMAGENET_BATCH" "$LAYERS"
echo "== wrote $OUT"
