#!/usr/bin/env bash
# layerout.distributed on a real Ray cluster of two nodes on the loopback
# address (one CPU each), started here and stopped on exit: each node is a
# `ray start --block` of ours, which stops the processes it started when it
# is terminated. Usage: test_ray.sh LAYEROUT_BINARY PYTHON_WITH_RAY WORK_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:?}; py=${2:?}; work=${3:?}
mkdir -p "$work"
ray=$(dirname "$py")/ray
export PYTHONPATH="$here/../../python${PYTHONPATH:+:$PYTHONPATH}"
export RAY_USAGE_STATS_ENABLED=0
# Ray's socket paths must stay short: its own temp folder under /tmp
tmp=$(mktemp -d /tmp/lo-ray.XXXXXX)
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pids=()
stop() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do timeout 60 tail --pid="$p" -f /dev/null || kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap stop EXIT
common=(--num-cpus 1 --node-ip-address 127.0.0.1 --object-store-memory 80000000 --block --disable-usage-stats)
"$ray" start --head --port "$port" --include-dashboard=false --temp-dir "$tmp" "${common[@]}" >"$work/head.log" 2>&1 &
pids+=($!)
for _ in $(seq 120); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.5; done
"$ray" start --address "127.0.0.1:$port" "${common[@]}" >"$work/worker.log" 2>&1 &
pids+=($!)
timeout 900 "$py" "$here/test_ray.py" "$bin" "$work" "127.0.0.1:$port" || { tail -20 "$work/head.log" "$work/worker.log"; exit 1; }
