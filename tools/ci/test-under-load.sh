#!/usr/bin/env bash
# The README's test command with every CPU kept busy by another process meanwhile: the suite must pass on
# a loaded machine (no test may depend on the machine's speed). Usage: bash tools/ci/test-under-load.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done; }
trap stop EXIT
for _ in $(seq "$(nproc)"); do
  nice -n 0 bash -c 'while :; do :; done' &
  pids+=("$!")
done
echo "test-under-load: ${#pids[@]} busy loops running (pids ${pids[*]})"
bash tools/ci/test.sh
