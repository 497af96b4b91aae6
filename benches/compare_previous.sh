#!/usr/bin/env bash
# Same-run speed of this build against another build of mnist-mlp (e.g.
# the commit before a change) at the tutorial shapes (H = 30 and 90,
# batch 20), on 1 thread, 2 threads and auto.
#
# Each round runs `bench` once per build and thread setting, the two builds
# back to back in alternating order, so both see the same machine load.
# The figure is the median over rounds of each round's ratio (this / other),
# which cancels the slow spells of this shared machine better than a ratio
# of medians; the medians are printed beside it. Fixed thread counts are
# the comparison proper: `auto` probes 1 against 2 threads every epoch, and
# where the machine is loaded its choice alone can swing an epoch by half.
#
#   bash benches/compare_previous.sh OTHER_BINARY [MNIST_DIR] [ROUNDS]
set -euo pipefail
other=$(realpath "$1")
data=${2:+$(realpath "$2")}
cd "$(dirname "$0")/.."
data=${data:-${MNIST_DIR:-./data/mnist}}
rounds=${3:-16}
cargo build --release --quiet
# The program's path moves where its buffers fall (through the heap: the
# path is its first argument, parsed into strings before the buffers are
# allocated), and on two threads that alone moved a build without aligned
# buffers (src/nn/aligned.rs) by 8%, faster under one folder and slower
# under another. So each round runs both builds from a folder of its own
# length (the same for both), and the rounds average over layouts.
copies=$(mktemp -d)
trap 'rm -rf "$copies"' EXIT
place() { # round: copies both builds into that round's folder
  local dir
  dir=$copies/$(printf 'd%.0s' $(seq $((1 + $1 * 11 % 40))))
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir/this" "$dir/that"
    cp ./target/release/mnist-mlp "$dir/this/mnist-mlp"
    cp "$other" "$dir/that/mnist-mlp"
  fi
  echo "$dir"
}
seconds() {
  "$1" bench --data-dir "$data" --hidden "$2" --threads "$3" --epochs 3 --json |
    python3 -c 'import json,sys; j = json.load(sys.stdin); print(j["seconds_per_epoch"], j["threads"])'
}
echo "| H | threads | other s/epoch | this s/epoch | this / other (median of $rounds rounds) | threads auto chose (other; this) |"
echo "|---|---|---|---|---|---|"
for h in 30 90; do
  for threads in 1 2 auto; do
    a=(); b=(); ca=(); cb=()
    for round in $(seq "$rounds"); do
      dir=$(place "$round")
      if [ $((round % 2)) -eq 1 ]; then
        read -r sa ta < <(seconds "$dir/that/mnist-mlp" "$h" "$threads")
        read -r sb tb < <(seconds "$dir/this/mnist-mlp" "$h" "$threads")
      else
        read -r sb tb < <(seconds "$dir/this/mnist-mlp" "$h" "$threads")
        read -r sa ta < <(seconds "$dir/that/mnist-mlp" "$h" "$threads")
      fi
      a+=("$sa"); b+=("$sb"); ca+=("$ta"); cb+=("$tb")
    done
    python3 - "$h" "$threads" "${a[*]}" "${b[*]}" "${ca[*]}" "${cb[*]}" <<'PY'
import statistics, sys
h, threads = sys.argv[1], sys.argv[2]
a, b = ([float(v) for v in arg.split()] for arg in sys.argv[3:5])
ratio = statistics.median(y / x for x, y in zip(a, b))
chosen = f"{sys.argv[5].replace(' ', '')}; {sys.argv[6].replace(' ', '')}" if threads == "auto" else ""
print(f"| {h} | {threads} | {statistics.median(a):.4f} | {statistics.median(b):.4f} | {ratio:.3f} | {chosen} |")
PY
  done
done
