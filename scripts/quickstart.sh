#!/usr/bin/env bash
# Sets up, builds, and trains LeNet-5 on Fashion-MNIST (real data from Debian's
# dataset-fashion-mnist) for one epoch with the cnnzoo CLI, printing the test accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
OUT=runs/quickstart-lenet5
rm -rf "$OUT"
build/cnnzoo train --model lenet5 --set activation=relu --set pool=max \
  --data /usr/share/datasets/fashion-mnist --dataset fashion-mnist \
  --epochs 1 --batch 64 --lr 0.05 --momentum 0.9 --wd 5e-4 --schedule cosine \
  --augment none --seed 1 --out "$OUT"
echo "next: build/cnnzoo eval --weights $OUT/model.safetensors --data /usr/share/datasets/fashion-mnist"
echo "      build/cnnzoo predict --weights $OUT/model.safetensors IMAGE.png; open $OUT/curves.svg"
