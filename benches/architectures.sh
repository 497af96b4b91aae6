#!/usr/bin/env bash
# The README's table of architectures: test accuracy after E epochs and
# training seconds per epoch (median), one run each at the default seed,
# one after the other so the timings share the machine's load.
#
#   bash benches/architectures.sh [MNIST_DIR] [EPOCHS]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${MNIST_DIR:-./data/mnist}}
epochs=${2:-10}
cargo build --release --quiet
bin=./target/release/mnist-mlp
runs=(
  "--hidden 30"
  "--hidden 100"
  "--hidden 800"
  "--hidden 100 --activation relu --output softmax"
  "--hidden 800 --activation relu --output softmax --optimizer momentum"
  "--hidden 800 --activation relu --output softmax --optimizer adam"
  "--hidden 800-800 --activation relu --output softmax --optimizer sgd --lr 0.1"
  "--hidden 800-800 --activation relu --output softmax --optimizer momentum"
  "--hidden 800-800 --activation relu --output softmax --optimizer adam"
  "--hidden 800-800 --activation relu --output softmax --optimizer adam --dropout 0.2 --batch-size 128 --schedule cosine"
)
echo "| flags (over the defaults; $epochs epochs) | test accuracy | best epoch | train s/epoch |"
echo "|---|---|---|---|"
tmp=$(mktemp)
for flags in "${runs[@]}"; do
  # Status 1 is a run that ended diverged: a row like the others.
  # shellcheck disable=SC2086
  "$bin" train --offline --data-dir "$data" --epochs "$epochs" $flags --metrics-out "$tmp" >/dev/null 2>&1 || [ $? -eq 1 ]
  python3 - "$tmp" "$flags" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
best = max(rows, key=lambda r: r["test_acc"])
secs = sorted(r["train_seconds"] for r in rows)[len(rows) // 2]
diverged = " (diverged)" if rows[-1]["diverged"] else ""
print(f"| `{sys.argv[2]}` | {100*rows[-1]['test_acc']:.2f}%{diverged} | {100*best['test_acc']:.2f}% (epoch {best['epoch']}) | {secs:.2f} |")
PY
done
rm -f "$tmp"
