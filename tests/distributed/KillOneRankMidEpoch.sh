#!/usr/bin/env bash
# Data-parallel failure (CTest, MPI builds): SIGKILL one of two ranks mid-epoch. Every rank must
# exit non-zero within seconds, the last checkpoint must stay whole, and --resume must then
# finish with the same weights, bit for bit, as a run that was never interrupted.
#   KillOneRankMidEpoch.sh CNNZOO     (MPIRUN: the launcher, default "mpirun -np 2 --oversubscribe")
source "$(dirname "$0")/common.sh"
# resnet20 on 3200 images: 50 steps of 64 per epoch, a few seconds; a checkpoint every 0.3 s.
run=(train --model resnet20 --data "$DATA" --limit-train 3200 --limit-test 500 --epochs 2
  --batch 64 --threads 1 --seed 5 --no-progress --checkpoint-minutes 0.005)

"${MPIRUN[@]}" "$CNNZOO" "${run[@]}" --out "$WORK/reference" > "$WORK/reference.log" 2>&1 ||
  { cat "$WORK/reference.log"; echo "FAIL: the uninterrupted run failed"; exit 1; }

"${MPIRUN[@]}" "$CNNZOO" "${run[@]}" --out "$WORK/run" > "$WORK/run.log" 2>&1 &
launcher=$!
# Mid-epoch: a checkpoint written, the first epoch not finished (no metrics row yet).
for _ in $(seq 600); do
  [[ -f $WORK/run/checkpoint.safetensors ]] && break
  sleep 0.05
done
[[ -f $WORK/run/checkpoint.safetensors && ! -s $WORK/run/metrics.csv ]] ||
  { cat "$WORK/run.log"; echo "FAIL: no mid-epoch checkpoint to kill the run after"; exit 1; }
sleep 0.5
victim=""
for p in /proc/[0-9]*; do
  if { tr '\0' '\n' < "$p/environ"; } 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 &&
    { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null | grep -q -- "$WORK/run"; then
    victim=${p#/proc/}
  fi
done
[[ -n $victim ]] || { echo "FAIL: rank 1 not found"; exit 1; }
killed_at=$(date +%s%N)
kill -9 "$victim"
status=0
wait "$launcher" || status=$?
elapsed_ms=$((($(date +%s%N) - killed_at) / 1000000))
elapsed="$((elapsed_ms / 1000)).$(printf %03d $((elapsed_ms % 1000)))"
echo "rank 1 (pid $victim) killed; mpirun exited with status $status after ${elapsed} s"
[[ $status -ne 0 ]] || { echo "FAIL: the run exited 0 after losing a rank"; exit 1; }
((elapsed_ms < 10000)) || { echo "FAIL: took ${elapsed} s to stop"; exit 1; }
for p in /proc/[0-9]*; do  # ([-]: the pattern must not find this grep itself)
  if { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null | grep -q -- "[-]-out $WORK/run"; then
    echo "FAIL: a process of the killed run is still alive: ${p#/proc/}"; exit 1
  fi
done

# The checkpoint left behind is whole: it loads and evaluates.
"$CNNZOO" eval --weights "$WORK/run/checkpoint.safetensors" --data "$DATA" --threads 1 \
  > "$WORK/eval.log" 2>&1 || { cat "$WORK/eval.log"; echo "FAIL: the checkpoint does not load"; exit 1; }

"${MPIRUN[@]}" "$CNNZOO" train --resume --out "$WORK/run" --no-progress > "$WORK/resume.log" 2>&1 ||
  { cat "$WORK/resume.log"; echo "FAIL: --resume failed"; exit 1; }
cmp "$WORK/reference/model.safetensors" "$WORK/run/model.safetensors" ||
  { echo "FAIL: the resumed run's weights differ from the uninterrupted run's"; exit 1; }
cmp <(cut -d, -f1-7 "$WORK/reference/metrics.csv") <(cut -d, -f1-7 "$WORK/run/metrics.csv") ||
  { cat "$WORK/reference/metrics.csv" "$WORK/run/metrics.csv"; echo "FAIL: the resumed run's metrics differ"; exit 1; }
echo "PASS: killed mid-epoch, every rank stopped in ${elapsed} s, resumed bit-exact"
