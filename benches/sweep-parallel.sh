#!/usr/bin/env bash
# A sweep in N shards with GNU parallel, on this machine or over ssh, then
# one merge; the README's example.
#
#   bash benches/sweep-parallel.sh N OUT [sweep flags...]
#   HOSTS=node1,node2 bash benches/sweep-parallel.sh 8 OUT --seed 1,2,3 ...
#
# With HOSTS, parallel runs each shard over ssh on one of them (each host
# needs the binary on its PATH, the data, and OUT on a shared filesystem).
# Re-running the same command trains only what is not finished.
set -euo pipefail
n=${1:?usage: $0 N OUT [sweep flags...]}
out=${2:?usage: $0 N OUT [sweep flags...]}
shift 2
bin=${MNIST_MLP:-mnist-mlp}
hosts=()
if [ -n "${HOSTS:-}" ]; then hosts=(-S "$HOSTS"); fi
# Each shard trains one run at a time: N shards share the cores.
parallel "${hosts[@]}" --line-buffer --tag -j "${JOBS:-$n}" \
  "$bin" sweep --offline --jobs 1 --shard {}/"$n" --out "$out/shard-{}" "$@" ::: $(seq 1 "$n")
"$bin" merge --out "$out/merged" "$out"/shard-*
