#!/usr/bin/env bash
# Downloads the official CIFAR-10 binary release, checks its MD5 and unpacks it.
# Usage: data/get_cifar10.sh [DEST]   (default: data/) -> DEST/cifar-10-batches-bin/
set -euo pipefail
DEST=${1:-"$(dirname "$0")"}
URL=https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
MD5=c32a1d4ab5d03f1284b67883e8d87530
mkdir -p "$DEST"
ARCHIVE="$DEST/cifar-10-binary.tar.gz"
if [[ ! -f "$ARCHIVE" ]]; then
  if command -v curl >/dev/null; then curl -fL --retry 3 -o "$ARCHIVE.part" "$URL"
  elif command -v wget >/dev/null; then wget -O "$ARCHIVE.part" "$URL"
  else echo "get_cifar10: need curl or wget" >&2; exit 1; fi
  mv "$ARCHIVE.part" "$ARCHIVE"
fi
echo "$MD5  $ARCHIVE" | md5sum -c --quiet - || { echo "get_cifar10: checksum mismatch for $ARCHIVE" >&2; exit 1; }
tar -xzf "$ARCHIVE" -C "$DEST"
for f in data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch; do
  size=$(stat -c %s "$DEST/cifar-10-batches-bin/$f.bin")
  [[ "$size" == 30730000 ]] || { echo "get_cifar10: $f.bin has $size bytes, expected 30730000" >&2; exit 1; }
done
echo "CIFAR-10 ready in $DEST/cifar-10-batches-bin"
