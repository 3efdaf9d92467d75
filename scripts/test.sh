#!/usr/bin/env bash
# Sets up, builds and runs every test through CTest, then the sanitizer and fuzz jobs
# (scripts/sanitize.sh; CNNZOO_SKIP_SANITIZE=1 leaves them out).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# MPI is required here: its tests must run, not be left out for want of OpenMPI.
scripts/build.sh -DCNNZOO_MPI=ON
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j"$(nproc)" "$@"
cd - >/dev/null
# The sanitizer and fuzz jobs (ASan + UBSan, libFuzzer): CNNZOO_FUZZ_SECONDS per harness.
if [[ "${CNNZOO_SKIP_SANITIZE:-0}" != "1" ]]; then
  scripts/sanitize.sh "${CNNZOO_FUZZ_SECONDS:-8}"
fi
