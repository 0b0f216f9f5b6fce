#!/usr/bin/env bash
# Instructions per short non-streaming chat request of the gateway's own path, counted by
# valgrind's callgrind. Runs of the same tree minutes apart agree within about 1% (within
# 3% over an hour: the worker's timing still steers a few of the loop's paths), however busy
# the machine is, so hot-path changes of a few percent can be compared by measuring the two
# trees one after the other (CPU seconds drift by up to 2x between runs on a shared VM).
#
#   scripts/request_icount.sh [TREE]      # TREE: a checkout to measure (default: this one)
#   LAUNCH_ARGS="--enable-trace --otlp-traces-endpoint HOST:PORT" scripts/request_icount.sh
#                                         # more `launch` flags for the measured gateway
#
# It runs scripts/request_harness.py under callgrind twice, with 50 and 250 measured
# requests after the same warm-up, and divides the difference by 200, so start-up cancels
# out. The mock worker runs outside valgrind. About 90 seconds; needs valgrind (Debian's
# package) and `make proto tokenizers` done in this checkout. Another TREE (a git worktree)
# needs the generated stubs in its sglang_gw/proto/ and a .cache/models link to this one's.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
tree="$(cd "${1:-$here}" && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

count() {
    PYTHONPATH="$tree" valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" \
        "$here/.venv/bin/python" "$tree/scripts/request_harness.py" --requests "$1" --rounds 1 \
        ${LAUNCH_ARGS:+--launch-args "$LAUNCH_ARGS"} 2>&1 \
        | awk '/Collected :/ {print $4}'
}

few="$(count 50)"
many="$(count 250)"
echo "$tree: $(( (many - few) / 200 )) instructions per request"
