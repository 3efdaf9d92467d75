#!/usr/bin/env bash
# Inference images/s (batch B) and batch-1 latency of torchvision-compatible ImageNet models in
# cnnzoo and in PyTorch/torchvision, alternately in one run, same machine and thread count,
# PyTorch with glibc malloc tuned (its best configuration here). Prints a markdown table.
#   bench/infer_imagenet.sh [THREADS] [BATCH]        (default 2 16)
# Needs a build in build/ and CNNZOO_SETUP_TORCH=1 scripts/setup.sh for PyTorch.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
THREADS="${1:-2}"
BATCH="${2:-16}"
MODELS=(resnet18 resnet50 densenet121 squeezenet1_1 inception_v3)
field() { /usr/bin/python3 -c "import json,sys; print(json.loads(sys.stdin.read())['$1'])"; }

echo "| model | batch | cnnzoo images/s | PyTorch images/s | ratio | cnnzoo batch-1 ms | PyTorch batch-1 ms |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for m in "${MODELS[@]}"; do
  ours="$("$ROOT/build/cnnzoo" bench --model "$m" --batch "$BATCH" --threads "$THREADS" \
    --reps 5 --min-seconds 3 --json)"
  theirs="$(MALLOC_MMAP_THRESHOLD_=34359738368 MALLOC_TRIM_THRESHOLD_=68719476736 \
    MALLOC_TOP_PAD_=1073741824 OMP_NUM_THREADS="$THREADS" /usr/bin/python3 \
    "$ROOT/bench/bench_torch.py" --model "$m" --batch "$BATCH" --threads "$THREADS" \
    --reps 5 --min-seconds 3 --json)"
  oi=$(echo "$ours" | field images_per_s); ti=$(echo "$theirs" | field images_per_s)
  ol=$(echo "$ours" | field latency_ms); tl=$(echo "$theirs" | field latency_ms)
  awk -v m="$m" -v b="$BATCH" -v oi="$oi" -v ti="$ti" -v ol="$ol" -v tl="$tl" \
    'BEGIN { printf "| %s | %d | %.1f | %.1f | %.2f | %.1f | %.1f |\n", m, b, oi, ti, oi / ti, ol, tl }'
done
