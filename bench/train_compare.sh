#!/usr/bin/env bash
# Trains the same model with cnnzoo and with PyTorch on the shared CIFAR-10 JPEG set, same
# recipe, same machine, one after the other, and prints final accuracy and seconds/epoch.
# Usage: bench/train_compare.sh [MODEL] [EPOCHS] [THREADS] [PRECISION]
#   (default resnet20 15 2 fp32; bf16: cnnzoo --precision bf16 against PyTorch's bf16 autocast)
# Needs: a build in build/ (scripts/build.sh) and PyTorch (CNNZOO_SETUP_TORCH=1 scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-resnet20}
EPOCHS=${2:-15}
THREADS=${3:-2}
PRECISION=${4:-fp32}
DATA=${CNNZOO_CIFAR10_JPG:-/tmp/cnnzoo-data/cifar10-jpg}
if [[ ! -d "$DATA/train" ]]; then
  mkdir -p "$(dirname "$DATA")"
  tar -xzf ../shared/data/cifar10-jpg.tar.gz -C "$(dirname "$DATA")"
fi
OUT=runs/compare-$MODEL-$PRECISION-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
echo "== cnnzoo $MODEL, $EPOCHS epochs, $THREADS threads, $PRECISION"
build/cnnzoo train --model "$MODEL" --data "$DATA" --dataset folder --epochs "$EPOCHS" \
  --batch 128 --lr 0.1 --momentum 0.9 --nesterov --wd 5e-4 --warmup 1 --schedule cosine \
  --augment crop,flip --threads "$THREADS" --precision "$PRECISION" --seed 0 --no-progress --out "$OUT/cnnzoo" | tee "$OUT/cnnzoo.log"
echo "== PyTorch $MODEL, $EPOCHS epochs, $THREADS threads, $PRECISION (glibc malloc tuned)"
MALLOC_MMAP_THRESHOLD_=34359738368 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824 \
  OMP_NUM_THREADS=$THREADS /usr/bin/python3 bench/train_cifar_torch.py --data "$DATA" --model "$MODEL" \
  --epochs "$EPOCHS" --threads "$THREADS" --precision "$PRECISION" --csv "$OUT/torch.csv" | tee "$OUT/torch.log"
/usr/bin/python3 - "$OUT" <<'PY'
import csv, statistics, sys
out = sys.argv[1]
ours = list(csv.DictReader(open(f"{out}/cnnzoo/metrics.csv")))
theirs = list(csv.DictReader(open(f"{out}/torch.csv")))
def row(name, rows):
    secs = statistics.median(float(r["seconds"]) for r in rows)
    return f"| {name} | {100*float(rows[-1]['test_acc']):.2f} | {100*max(float(r['test_acc']) for r in rows):.2f} | {secs:.1f} |"
print("| framework | final test acc % | best epoch % | median s/epoch (train) |")
print("| --- | ---: | ---: | ---: |")
print(row("cnnzoo", ours))
print(row("PyTorch 1.13 (tuned malloc)", theirs))
PY
