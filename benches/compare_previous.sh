#!/usr/bin/env bash
# Same-run speed of this build against another build of mnist-mlp (e.g.
# the commit before a change), alternating runs of `bench` so both see the
# same machine load: median s/epoch over ROUNDS rounds at the tutorial
# shapes (H = 30 and 90, batch 20, threads auto).
#
#   bash benches/compare_previous.sh OTHER_BINARY [MNIST_DIR] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
other=$1
data=${2:-../shared/data/mnist}
rounds=${3:-5}
cargo build --release --quiet
this=./target/release/mnist-mlp
echo "| H | batch | other s/epoch | this s/epoch | this / other |"
echo "|---|---|---|---|---|"
for h in 30 90; do
  a=(); b=()
  for _ in $(seq "$rounds"); do
    a+=("$("$other" bench --data-dir "$data" --hidden "$h" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds_per_epoch"])')")
    b+=("$("$this" bench --data-dir "$data" --hidden "$h" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds_per_epoch"])')")
  done
  python3 - "$h" "${a[*]}" "${b[*]}" <<'PY'
import statistics, sys
h, a, b = sys.argv[1], [float(v) for v in sys.argv[2].split()], [float(v) for v in sys.argv[3].split()]
ma, mb = statistics.median(a), statistics.median(b)
print(f"| {h} | 20 | {ma:.4f} | {mb:.4f} | {mb/ma:.2f} |")
PY
done
