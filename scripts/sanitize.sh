#!/usr/bin/env bash
# The sanitizer and fuzz jobs: one clang build with ASan + UBSan (build-san) of
#  - the loader, op, core and trainer test suites, which run in full, and
#  - the libFuzzer harnesses of tests/fuzz, each run for SECONDS (default 30) from seed
#    corpora that make_seeds writes;
# and one with ThreadSanitizer (build-tsan) of the test of concurrent inference on one model.
# A test failure, a sanitizer report, a crash, a hang or an exception other than
# cnnzoo::Error fails the script (fuzz inputs that fail are kept in build-san/).
# A longer campaign: scripts/sanitize.sh 300
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-30}
BUILD=${SANITIZE_BUILD_DIR:-build-san}
TSAN_BUILD=${TSAN_BUILD_DIR:-build-tsan}
TESTS=(test_tensor_autograd test_safetensors test_npy test_file test_idx test_cifar_binary
       test_image_io test_loader test_conv test_pool test_arith test_batchnorm test_activation
       test_linear test_loss test_shape test_dropout test_optim test_trainer test_weights
       test_classifier test_gradcheck)
# -O1 with line tables: the sanitizers' recommended level, and a third faster to compile than -O2 -g.
FLAGS=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG")
start=$(date +%s)
CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja "${FLAGS[@]}" \
  -DCNNZOO_FUZZ=ON -DCNNZOO_BUILD_CLI=OFF -DCNNZOO_BUILD_EXAMPLES=OFF -DCNNZOO_MPI=OFF \
  -DCNNZOO_BUILD_BENCH=OFF >/dev/null
fuzzers=$(cd tests/fuzz && ls fuzz_*.cpp | sed 's/\.cpp$//')
# shellcheck disable=SC2086
ninja -C "$BUILD" -j"$(nproc)" make_seeds $fuzzers "${TESTS[@]}" >/dev/null
echo "sanitize: built in $(( $(date +%s) - start )) s"

export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export CNNZOO_NUM_THREADS=2
for t in "${TESTS[@]}"; do
  # Tests of glibc malloc's behaviour (page faults, retained arenas) do not apply under
  # ASan's allocator.
  if ! (cd "$BUILD" && "./$t" --gtest_brief=1 \
          --gtest_filter='-*PageFaults*:*FreedHeap*:*ProcessAllocator*' >"$t.log" 2>&1); then
    echo "sanitize: $t FAILED under ASan/UBSan (see $BUILD/$t.log)" >&2
    tail -40 "$BUILD/$t.log" >&2
    exit 1
  fi
done
echo "sanitize: ${#TESTS[@]} test suites clean under ASan/UBSan ($(( $(date +%s) - start )) s)"

# Threads of one process sharing a loaded model: any data race is a failure. One OpenMP
# thread per caller, so that the only concurrency is the callers' own.
CC=clang CXX=clang++ cmake -S . -B "$TSAN_BUILD" -G Ninja "${FLAGS[@]}" \
  -DCNNZOO_TSAN=ON -DCNNZOO_BUILD_CLI=OFF -DCNNZOO_BUILD_EXAMPLES=OFF -DCNNZOO_MPI=OFF \
  -DCNNZOO_BUILD_BENCH=OFF >/dev/null
ninja -C "$TSAN_BUILD" -j"$(nproc)" test_classifier >/dev/null
if ! (cd "$TSAN_BUILD" && TSAN_OPTIONS=halt_on_error=1 CNNZOO_NUM_THREADS=1 ./test_classifier \
        --gtest_filter='Classifier.Concurrent*' >tsan.log 2>&1); then
  echo "sanitize: ThreadSanitizer found a problem in concurrent inference (see $TSAN_BUILD/tsan.log)" >&2
  tail -40 "$TSAN_BUILD/tsan.log" >&2
  exit 1
fi
echo "sanitize: concurrent inference clean under TSan ($(( $(date +%s) - start )) s)"

rm -rf "$BUILD/corpus"
"$BUILD/make_seeds" "$BUILD/corpus" >/dev/null
# Each harness is single-threaded: as many run at once as there are cores.
run_fuzzer() {
  local name=$1 corpus="$BUILD/corpus/${1#fuzz_}"
  mkdir -p "$corpus"
  # 2 GB of memory and 10 s per input at most: a blow-up or a hang is a finding.
  "$BUILD/$name" "$corpus" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$BUILD/$name-" -print_final_stats=1 >"$BUILD/$name.log" 2>&1
}
mapfile -t harnesses <<< "$fuzzers"
at_once=$(nproc)
for ((i = 0; i < ${#harnesses[@]}; i += at_once)); do
  batch=("${harnesses[@]:i:at_once}")
  pids=()
  for name in "${batch[@]}"; do
    run_fuzzer "$name" &
    pids+=($!)
  done
  for k in "${!batch[@]}"; do
    name=${batch[k]}
    log="$BUILD/$name.log"
    if ! wait "${pids[k]}"; then
      echo "fuzz: $name FAILED (see $log)" >&2
      tail -30 "$log" >&2
      exit 1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}')
    echo "fuzz: $name clean, $runs runs in ${SECONDS_EACH} s"
  done
done
echo "sanitize: done in $(( $(date +%s) - start )) s"
