#!/usr/bin/env bash
# Same-run speed table: the NumPy reference against `mnist-mlp bench` on 1
# and 2 threads, for H in {30, 90} and batch in {20, 128, 1000}, run one
# after the other so every ratio is taken under the same machine load.
# Prints a Markdown table (training seconds per epoch are medians).
#
#   bash benches/compare_numpy.sh [MNIST_DIR] [EPOCHS]
#
# Needs python3 with numpy (pip install numpy) and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/mnist}
epochs=${2:-5}
reference=../shared/anchors/numpy_reference.py
cargo build --release --quiet
bin=./target/release/mnist-mlp
median() { python3 -c 'import sys,json; v=sorted(json.loads(l)[sys.argv[1]] for l in sys.stdin); print(v[len(v)//2])' "$1"; }
field() { python3 -c 'import sys,json; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

echo "| H | batch | NumPy s/epoch | 1 thread s/epoch | 2 threads s/epoch | NumPy / 1 thread | NumPy / 2 threads | 2 threads / 1 thread | GFLOP/s 1 / 2 threads | sgemm peak GFLOP/s | achieved / peak (2 threads) | peak MB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for h in 30 90; do
  for b in 20 128 1000; do
    np=$(python3 "$reference" "$data" --epochs "$epochs" --hidden "$h" --bs "$b" --decay 0.1 | median train_s)
    one=$("$bin" bench --data-dir "$data" --epochs "$epochs" --hidden "$h" --batch-size "$b" --threads 1 --json)
    two=$("$bin" bench --data-dir "$data" --epochs "$epochs" --hidden "$h" --batch-size "$b" --threads 2 --json)
    python3 - "$h" "$b" "$np" "$one" "$two" <<'PY'
import json, sys
h, b, np_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
one, two = json.loads(sys.argv[4]), json.loads(sys.argv[5])
s1, s2 = one["seconds_per_epoch"], two["seconds_per_epoch"]
print(f"| {h} | {b} | {np_s:.3f} | {s1:.4f} | {s2:.4f} | {np_s/s1:.1f}x | {np_s/s2:.1f}x | {s2/s1:.2f} | "
      f"{one['achieved_gflops']:.0f} / {two['achieved_gflops']:.0f} | {two['peak_sgemm_gflops']:.0f} | "
      f"{100*two['achieved_over_peak']:.0f}% | {max(one['peak_rss_mb'], two['peak_rss_mb']):.0f} |")
PY
  done
done
