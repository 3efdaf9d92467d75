#!/usr/bin/env bash
# A real training on two ranks (CTest, MPI builds): LeNet-5 on Fashion-MNIST, 2 epochs, global
# batch 64 on two ranks of one thread against one process of two threads; the final test
# accuracies must agree within 0.5 point.
#   FashionMnistOnTwoRanks.sh CNNZOO  (MPIRUN: the launcher, default "mpirun -np 2 --oversubscribe")
source "$(dirname "$0")/common.sh"
run=(train --model lenet5 --data "$DATA" --epochs 2 --batch 64 --seed 11 --no-progress --json)
accuracy() { grep -o '"final_test_acc": [0-9.e+-]*' "$1" | awk '{ print $2 }'; }

start=$(date +%s)
"$CNNZOO" "${run[@]}" --threads 2 --out "$WORK/one" > "$WORK/one.json" 2> "$WORK/one.log" ||
  { cat "$WORK/one.log"; echo "FAIL: the one-process run failed"; exit 1; }
middle=$(date +%s)
"${MPIRUN[@]}" "$CNNZOO" "${run[@]}" --threads 1 --out "$WORK/two" > "$WORK/two.json" 2> "$WORK/two.log" ||
  { cat "$WORK/two.log"; echo "FAIL: the two-rank run failed"; exit 1; }
end=$(date +%s)
one=$(accuracy "$WORK/one.json")
two=$(accuracy "$WORK/two.json")
echo "one process x 2 threads: ${one} ($((middle - start)) s); 2 ranks x 1 thread: ${two} ($((end - middle)) s)"
awk -v a="$one" -v b="$two" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d <= 0.005) }' ||
  { echo "FAIL: accuracies differ by more than 0.5 point"; exit 1; }
echo "PASS"
