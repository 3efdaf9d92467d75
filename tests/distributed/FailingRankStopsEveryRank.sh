#!/usr/bin/env bash
# Data-parallel failure on one rank (CTest, MPI builds): rank 1 cannot read its data, or its data
# differ from rank 0's. Every rank must exit non-zero within seconds, with one line naming the
# rank and the cause, and no run files written.
#   FailingRankStopsEveryRank.sh CNNZOO   (mpirun from PATH; OpenMPI's MPMD form "A : B")
source "$(dirname "$0")/common.sh"
run=(train --model lenet5 --epochs 1 --batch 64 --threads 1 --no-progress --limit-train 2000
  --limit-test 200 --out "$WORK/run")

check_case() {  # name, expected text, then the arguments of rank 0 and rank 1 after "::"
  local name=$1 expect=$2
  shift 2
  local rank0=() rank1=() side=0
  for a in "$@"; do
    if [[ $a == "::" ]]; then side=1; continue; fi
    if ((side)); then rank1+=("$a"); else rank0+=("$a"); fi
  done
  rm -rf "$WORK/run"
  local start status=0
  start=$(date +%s%N)
  mpirun --oversubscribe -np 1 "$CNNZOO" "${run[@]}" "${rank0[@]}" : \
    -np 1 "$CNNZOO" "${run[@]}" "${rank1[@]}" > "$WORK/log" 2>&1 || status=$?
  local ms=$((($(date +%s%N) - start) / 1000000))
  echo "$name: exit status $status after $ms ms"
  grep "cnnzoo: error" "$WORK/log" || true
  [[ $status -ne 0 ]] || { cat "$WORK/log"; echo "FAIL: $name: exit status 0"; exit 1; }
  grep -q "cnnzoo: error on rank 1 of 2: .*$expect" "$WORK/log" ||
    { cat "$WORK/log"; echo "FAIL: $name: no line naming rank 1 and '$expect'"; exit 1; }
  ((ms < 30000)) || { echo "FAIL: $name: took $ms ms"; exit 1; }
  [[ ! -e $WORK/run/checkpoint.safetensors && ! -e $WORK/run/metrics.csv ]] ||
    { echo "FAIL: $name: run files were written"; exit 1; }
}

check_case "missing data on rank 1" "$WORK/nowhere" --data "$DATA" :: --data "$WORK/nowhere"
check_case "different data on rank 1" "differs from rank 0's" \
  --data "$DATA" --seed 1 :: --data "$DATA" --seed 2
echo "PASS"
