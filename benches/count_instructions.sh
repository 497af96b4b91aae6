#!/usr/bin/env bash
# Instructions that one training epoch executes, this tree against another
# commit, at the tutorial shapes (H = 30 and 90, batch 20, one thread),
# counted by callgrind. Unlike seconds, a count is the same for the same
# binary and input whatever else this shared machine is doing, so a change
# of a fraction of a percent shows.
#
# valgrind 3.19 decodes no AVX-512, so both trees are built here for
# x86-64-v3 (AVX2), and under valgrind OpenBLAS picks its Haswell kernels:
# the count covers the same products and everything around them, not the
# kernels a native build runs.
#
#   bash benches/count_instructions.sh OTHER_COMMIT [MNIST_DIR]
set -euo pipefail
other=$1
data=${2:+$(realpath "$2")}
cd "$(dirname "$0")/.."
data=$(realpath "${data:-${MNIST_DIR:-./data/mnist}}")
command -v valgrind >/dev/null || { echo "needs valgrind: apt-get install -y valgrind" >&2; exit 2; }
work=$PWD/target/instruction-count
mkdir -p "$work"
export RUSTFLAGS="-C target-cpu=x86-64-v3"
CARGO_TARGET_DIR=$work/this cargo build --release --quiet
tree=$work/other-tree
git worktree remove --force "$tree" 2>/dev/null || rm -rf "$tree"
git worktree add --quiet --detach "$tree" "$other"
trap 'git worktree remove --force "$tree"' EXIT
(cd "$tree" && CARGO_TARGET_DIR=$work/other cargo build --release --quiet)

# OPENBLAS_NUM_THREADS set, so the program does not start itself again
# (valgrind would not follow it). Only the training step is counted.
count() { # build, hidden
  local log=$work/$1-h$2.log
  OPENBLAS_NUM_THREADS=1 valgrind --tool=callgrind --callgrind-out-file="$work/$1-h$2.callgrind" \
    --toggle-collect='*Member::run*' "$work/$1/release/mnist-mlp" train --data-dir "$data" \
    --hidden "$2" --threads 1 --epochs 1 >/dev/null 2>"$log"
  grep -o 'Collected : [0-9]*' "$log" | awk '{print $3}' >"$work/$1-h$2.count"
}
for h in 30 90; do
  count other "$h" &
  count this "$h"
  wait
done
echo "| H | other instructions / epoch | this | this / other |"
echo "|---|---|---|---|"
for h in 30 90; do
  python3 - "$h" "$(cat "$work/other-h$h.count")" "$(cat "$work/this-h$h.count")" <<'PY'
import sys
h, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print(f"| {h} | {a:,} | {b:,} | {b / a:.4f} |")
PY
done
