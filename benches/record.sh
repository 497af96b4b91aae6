#!/usr/bin/env bash
# Issue 21's figures: `--preset record` over seeds, trained side by side as
# one sweep (one run per core, one thread each, each run's model kept),
# then the committees of its first 2, 3, ... members. Prints a Markdown
# table: each run's test accuracy and wall time, their mean and spread,
# and each committee's test accuracy with the training time it took.
#
#   bash benches/record.sh [MNIST_DIR] [SEEDS] [OUT]
#
# SEEDS is a sweep list (default 1,2). OUT (default record) keeps the
# sweep's files and the models; re-run into it, it trains only what is
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${MNIST_DIR:-./data/mnist}}
seeds=${2:-1,2}
out=${3:-record}
cargo build --release --quiet
bin=./target/release/mnist-mlp
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
"$bin" sweep --offline --data-dir "$data" --out "$out" --save-models \
  --preset record --seed "$seeds" >/dev/null
models=$(find "$out/runs" -name '*.safetensors' | sort)
committee() { # the first K models: prints the committee's test accuracy
  local k=$1 args=()
  for m in $(echo "$models" | head -n "$k"); do args+=(--model "$m"); done
  "$bin" eval --offline --data-dir "$data" --json "${args[@]}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])'
}
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
for k in $(seq 2 "$(echo "$models" | wc -l)"); do
  echo "$k $(committee "$k")" >>"$rows"
done
python3 - "$out/results.csv" "$rows" <<'PY'
import csv, statistics as st, sys
runs = sorted(csv.DictReader(open(sys.argv[1])), key=lambda r: int(r["seed"]))
accs = [100 * float(r["final_test_acc"]) for r in runs]
secs = [float(r["seconds"]) for r in runs]
print("| run | seed | test accuracy | wall time |")
print("|---|---|---|---|")
for r, a, s in zip(runs, accs, secs):
    print(f"| record | {r['seed']} | {a:.2f}% | {s / 60:.1f} min |")
spread = st.stdev(accs) if len(accs) > 1 else 0.0
print(f"| record, mean ± std | {','.join(r['seed'] for r in runs)} | {st.mean(accs):.2f}% ± {spread:.2f} | {st.median(secs) / 60:.1f} min (median) |")
for line in open(sys.argv[2]):
    k, acc = line.split()
    k = int(k)
    print(f"| committee of seeds {','.join(r['seed'] for r in runs[:k])} | | {100 * float(acc):.2f}% | {sum(secs[:k]) / 60:.1f} min of training (runs side by side) |")
PY
