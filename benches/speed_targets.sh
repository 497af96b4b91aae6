#!/usr/bin/env bash
# Issue 17's speed targets, measured in one run so that every ratio is taken
# under the same machine load. Prints a Markdown table of medians; the CPU
# and OpenBLAS kernels come first.
#
#   bash benches/speed_targets.sh [MNIST_DIR] [REPEATS]
#
# Rows: the subnormal penalty (this binary against itself with FTZ/DAZ set
# from outside by an LD_PRELOAD constructor, built here with cc), the
# tutorial shapes against the NumPy reference (float64, needs numpy), two
# threads against one, and the deep shapes against two cores' sgemm peak
# (2 x the single-thread peak bench measures in the same run).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${MNIST_DIR:-./data/mnist}}
repeats=${2:-3}
reference=benches/numpy_reference.py
cargo build --release --quiet
bin=./target/release/mnist-mlp
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/ftz.c" <<'C'
#include <pmmintrin.h>
#include <xmmintrin.h>
__attribute__((constructor)) static void flush(void) {
  _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
  _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
}
C
cc -O2 -shared -fPIC "$work/ftz.c" -o "$work/libftz.so"

# bench NAME [ENV...] -- FLAGS...: appends one JSON line per repeat to $work/NAME
bench() {
  local name=$1; shift
  local env=()
  while [ "$1" != "--" ]; do env+=("$1"); shift; done
  shift
  for _ in $(seq "$repeats"); do
    env "${env[@]}" "$bin" bench --offline --data-dir "$data" --json "$@" >> "$work/$name"
  done
}
numpy() { # NAME H BATCH
  for _ in $(seq "$repeats"); do
    python3 "$reference" "$data" --epochs 2 --hidden "$2" --bs "$3" --decay 0.1 \
      | python3 -c 'import sys,json; v=[json.loads(l)["train_s"] for l in sys.stdin]; print(json.dumps({"seconds_per_epoch": sorted(v)[len(v)//2]}))' >> "$work/$1"
  done
}

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
tut=(--epochs 3 --batch-size 20)
for h in 30 90; do
  bench "h$h-1" -- "${tut[@]}" --hidden "$h" --threads 1
  bench "h$h-1-ftz" LD_PRELOAD="$work/libftz.so" -- "${tut[@]}" --hidden "$h" --threads 1
  bench "h$h-2" -- "${tut[@]}" --hidden "$h" --threads 2
  bench "h$h-auto" -- "${tut[@]}" --hidden "$h"
  numpy "h$h-numpy" "$h" 20
done
bench h90b128-1 -- --epochs 3 --hidden 90 --batch-size 128 --threads 1
bench h90b128-2 -- --epochs 3 --hidden 90 --batch-size 128 --threads 2
deep=(--epochs 2 --batch-size 128 --activation relu --output softmax --threads 2)
bench deep-sgd -- "${deep[@]}" --hidden 1024-1024 --optimizer sgd --lr 0.05
bench deep-adam -- "${deep[@]}" --hidden 1024-1024 --optimizer adam --lr 0.001
bench fast-adam -- "${deep[@]}" --hidden 512 --optimizer adam --lr 0.001

python3 - "$work" <<'PY'
import json, os, sys
work = sys.argv[1]
def runs(name):
    return [json.loads(l) for l in open(os.path.join(work, name))]
def med(name, key="seconds_per_epoch"):
    v = sorted(r[key] for r in runs(name))
    return v[len(v) // 2]
def of_peak(name):
    v = sorted(r["achieved_gflops"] / (2 * r["peak_sgemm_gflops"]) for r in runs(name))
    return v[len(v) // 2]
kernels = runs("h30-1")[0]["openblas_core"]
print(f"OpenBLAS kernels: {kernels}\n")
print("| target | measured | goal |")
print("|---|---|---|")
for h in (30, 90):
    r = med(f"h{h}-1") / med(f"h{h}-1-ftz")
    print(f"| H={h} batch 20, 1 thread, against FTZ/DAZ forced from outside | {r:.2f}x ({med(f'h{h}-1'):.4f} / {med(f'h{h}-1-ftz'):.4f} s) | at most 1.10x |")
for h, goal in ((30, 10), (90, 8)):
    r = med(f"h{h}-numpy") / med(f"h{h}-auto")
    threads = runs(f"h{h}-auto")[-1]["threads"]
    print(f"| H={h} batch 20, default threads ({threads}), speed-up over NumPy | {r:.1f}x ({med(f'h{h}-numpy'):.3f} / {med(f'h{h}-auto'):.4f} s) | at least {goal}x |")
for name, label, goal in (("h30", "H=30 batch 20", 0.80), ("h90b128", "H=90 batch 128", 0.60)):
    r = med(f"{name}-2") / med(f"{name}-1")
    print(f"| {label}: 2 threads / 1 thread | {r:.2f} ({med(f'{name}-2'):.4f} / {med(f'{name}-1'):.4f} s) | at most {goal:.2f} |")
for name, label, goal in (("deep-sgd", "784-1024-1024-10 SGD", 75), ("deep-adam", "784-1024-1024-10 Adam", 75), ("fast-adam", "784-512-10 Adam", 65)):
    print(f"| {label}, batch 128, 2 threads, of two cores' sgemm peak | {100*of_peak(name):.0f}% ({med(name, 'achieved_gflops'):.0f} GFLOP/s, peak {med(name, 'peak_sgemm_gflops'):.0f} per core) | at least {goal}% |")
PY
