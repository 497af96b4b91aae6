#!/usr/bin/env bash
# Same-run speed table: the NumPy reference against `mnist-mlp bench` on 1
# and 2 threads and with the thread count left to it (auto), for H in
# {30, 90} and batch in {20, 128, 1000}, run one after the other so every
# ratio is taken under the same machine load.
# Prints a Markdown table (training seconds per epoch are medians).
#
#   bash benches/compare_numpy.sh [MNIST_DIR] [EPOCHS]
#
# Needs python3 with numpy (pip install numpy) and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${MNIST_DIR:-./data/mnist}}
epochs=${2:-5}
reference=benches/numpy_reference.py
cargo build --release --quiet
bin=./target/release/mnist-mlp
median() { python3 -c 'import sys,json; v=sorted(json.loads(l)[sys.argv[1]] for l in sys.stdin); print(v[len(v)//2])' "$1"; }
field() { python3 -c 'import sys,json; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

echo "| H | batch | NumPy s/epoch | 1 thread | 2 threads | auto (threads) | NumPy / 1 thread | NumPy / auto | 2 threads / 1 thread | GFLOP/s 1 thread / auto | sgemm peak GFLOP/s | achieved / peak: 1 thread, auto | peak MB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for h in 30 90; do
  for b in 20 128 1000; do
    np=$(python3 "$reference" "$data" --epochs "$epochs" --hidden "$h" --bs "$b" --decay 0.1 | median train_s)
    one=$("$bin" bench --data-dir "$data" --epochs "$epochs" --hidden "$h" --batch-size "$b" --threads 1 --json)
    two=$("$bin" bench --data-dir "$data" --epochs "$epochs" --hidden "$h" --batch-size "$b" --threads 2 --json)
    auto=$("$bin" bench --data-dir "$data" --epochs "$epochs" --hidden "$h" --batch-size "$b" --json)
    python3 - "$h" "$b" "$np" "$one" "$two" "$auto" <<'PY'
import json, sys
h, b, np_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
one, two, auto = (json.loads(a) for a in sys.argv[4:7])
s1, s2, sa = one["seconds_per_epoch"], two["seconds_per_epoch"], auto["seconds_per_epoch"]
rss = max(r["peak_rss_mb"] for r in (one, two, auto))
print(f"| {h} | {b} | {np_s:.3f} | {s1:.4f} | {s2:.4f} | {sa:.4f} ({auto['threads']}) | {np_s/s1:.1f}x | {np_s/sa:.1f}x | {s2/s1:.2f} | "
      f"{one['achieved_gflops']:.0f} / {auto['achieved_gflops']:.0f} | {auto['peak_sgemm_gflops']:.0f} | "
      f"{100*one['achieved_over_peak']:.0f}%, {100*auto['achieved_over_peak']:.0f}% | {rss:.0f} |")
PY
  done
done
