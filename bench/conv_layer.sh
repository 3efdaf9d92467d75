#!/usr/bin/env bash
# Times the same conv layer in cnnzoo (bench_conv_layer) and PyTorch (conv_layer_torch.py) with
# the same thread count and prints a small table. Builds nothing: build bench_conv_layer first.
# usage: bench/conv_layer.sh [--threads N --batch B --cin C --cout C --hw S --k K --stride S
#                             --groups G]
#        BUILD_DIR=build (default) selects the build directory.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${BUILD_DIR:-$here/../build}"
bin="$build/bench_conv_layer"
[[ -x "$bin" ]] || { echo "conv_layer.sh: $bin not found; build it first" >&2; exit 1; }

# Both programs default to 2 threads; pass it explicitly so they always agree.
args=("$@")
[[ " $* " == *" --threads "* ]] || args=(--threads 2 "${args[@]}")

cnnzoo_line="$("$bin" "${args[@]}")"
# PyTorch with glibc malloc tuned not to return memory to the OS after every step.
torch_line="$(MALLOC_MMAP_THRESHOLD_=34359738368 MALLOC_TRIM_THRESHOLD_=68719476736 \
  MALLOC_TOP_PAD_=1073741824 /usr/bin/python3 "$here/conv_layer_torch.py" "${args[@]}")"

echo "$cnnzoo_line" | sed -E 's/^cnnzoo +//; s/  fwd.*//'
printf '%-8s %9s %9s %10s %9s\n' impl "fwd ms" "bwd ms" "total ms" "GFLOP/s"
for line in "$cnnzoo_line" "$torch_line"; do
  echo "$line" | awk '{
    for (i = 1; i <= NF; ++i) {
      if ($i == "fwd") f = $(i + 1); if ($i == "bwd") b = $(i + 1)
      if ($i == "total") t = $(i + 1); if ($i == "GFLOP/s") g = $(i - 1)
    }
    printf "%-8s %9s %9s %10s %9s\n", $1, f, b, t, g }'
done
