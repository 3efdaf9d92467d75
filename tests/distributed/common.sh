# Sourced by the data-parallel test scripts: CNNZOO (the CLI, the script's first argument), the
# launcher MPIRUN (an array, from $MPIRUN or "mpirun -np 2 --oversubscribe"), DATA (Debian's
# Fashion-MNIST) and WORK (a scratch directory removed at exit).
set -euo pipefail
CNNZOO=$1
read -r -a MPIRUN <<< "${MPIRUN:-mpirun -np 2 --oversubscribe}"
DATA=/usr/share/datasets/fashion-mnist
[[ -d $DATA ]] || { echo "FAIL: $DATA missing (apt-get install dataset-fashion-mnist)"; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
