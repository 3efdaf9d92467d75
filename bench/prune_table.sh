#!/usr/bin/env bash
# Deep Compression on a shipped model: accuracy against sparsity (layer-wise magnitude
# pruning), before and after fine-tuning with the masks kept, and the compressed file size.
#   bench/prune_table.sh [WEIGHTS] [FINE_TUNE_EPOCHS] [THREADS]
# (default weights/resnet20-cifar10.safetensors, 2 epochs, 2 threads). Prints a markdown
# table; the runs go to runs/prune-table/.
set -euo pipefail
cd "$(dirname "$0")/.."
WEIGHTS=${1:-weights/resnet20-cifar10.safetensors}
EPOCHS=${2:-2}
THREADS=${3:-2}
CLI=${CNNZOO:-build/cnnzoo}
DATA=${CIFAR_DIR:-/tmp/cnnzoo-data/cifar10-jpg}
if [[ ! -d "$DATA" ]]; then
  mkdir -p "$(dirname "$DATA")"
  tar -xzf ../shared/data/cifar10-jpg.tar.gz -C "$(dirname "$DATA")"
fi
OUT=runs/prune-table
rm -rf "$OUT"
mkdir -p "$OUT"
acc() {  # accuracy in percent of a weights file on the CIFAR-10 test set
  "$CLI" eval --threads "$THREADS" --json --weights "$1" --data "$DATA" --dataset folder |
    /usr/bin/python3 -c 'import json,sys; print("%.2f" % (100 * json.load(sys.stdin)["accuracy"]))'
}
bytes() { stat -c %s "$1"; }
dense_bytes=$(bytes "$WEIGHTS")
echo "| sparsity | accuracy, pruned | accuracy, fine-tuned $EPOCHS epochs | accuracy, compressed (8-bit conv, 5-bit linear codes) | compressed bytes | float32 bytes / compressed |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
for s in 0 0.5 0.8 0.9 0.95; do
  p="$OUT/pruned-$s.safetensors"
  "$CLI" prune --threads "$THREADS" --weights "$WEIGHTS" --sparsity "$s" --output "$p" >/dev/null
  a_pruned=$(acc "$p")
  if [[ "$s" == "0" ]]; then
    tuned="$WEIGHTS"
    a_tuned="(not fine-tuned)"
  else
    "$CLI" train --resume-from-pruned "$p" --data "$DATA" --dataset folder --epochs "$EPOCHS" \
      --batch 128 --lr 0.01 --momentum 0.9 --nesterov --wd 5e-4 --schedule cosine \
      --augment crop,flip --threads "$THREADS" --seed 1 --no-progress --out "$OUT/tune-$s" >/dev/null
    tuned="$OUT/tune-$s/model.safetensors"
    a_tuned="$(acc "$tuned")%"
  fi
  c="$OUT/compressed-$s.safetensors"
  "$CLI" compress --threads "$THREADS" --weights "$tuned" --output "$c" >/dev/null
  a_c=$(acc "$c")
  size=$(bytes "$c")
  ratio=$(/usr/bin/python3 -c "print('%.1fx' % ($dense_bytes / $size))")
  echo "| $(/usr/bin/python3 -c "print('%g%%' % (100 * $s))") | $a_pruned% | $a_tuned | $a_c% | $size | $ratio |"
done
