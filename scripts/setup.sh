#!/usr/bin/env bash
# Installs every Debian package cnnzoo needs (idempotent, non-interactive; root or sudo).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libeigen3-dev libcli11-dev libstb-dev libgtest-dev googletest nlohmann-json3-dev zlib1g-dev
  dataset-fashion-mnist
  libonnx-dev libprotobuf-dev libopencv-dnn-dev
  clang libclang-rt-14-dev libomp-dev
  libopenmpi-dev openmpi-bin
)
# Benchmarks and reference-data generation compare against PyTorch; the library and its
# tests never need it. CNNZOO_SETUP_TORCH=1 adds it.
if [[ "${CNNZOO_SETUP_TORCH:-0}" == "1" ]]; then
  PACKAGES+=(python3-torch python3-torchvision python3-numpy)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
