#!/usr/bin/env bash
# Instructions per multi-turn request, /v1/responses (SQLite history) next to the same turn
# as a chat completion, counted by valgrind's callgrind over scripts/turns_harness.py: the
# gateway's own path in one process, without the HTTP front end, so the figure does not move
# with the load of the machine. Instrumentation is on for the measured rounds only (the
# harness switches it with callgrind_control), so start-up and warm-up are left out.
# A few minutes; needs valgrind and `make proto tokenizers`.
#
#   [HISTORY=sqlite|memory] scripts/turns_icount.sh [TREE] [ROUNDS]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
tree="$(cd "${1:-$here}" && pwd)"
rounds="${2:-2}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

count() {
    PYTHONPATH="$tree" valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/cg.$1" \
        "$here/.venv/bin/python" "$tree/scripts/turns_harness.py" --only "$1" --rounds "$rounds" --history "${HISTORY:-sqlite}" --callgrind 2>&1 \
        | awk '/Collected :/ {print $4}'
}

declare -A per
for kind in chat responses; do
    per[$kind]=$(( $(count "$kind") / (64 * rounds) ))
    echo "$kind: ${per[$kind]} instructions per request"
done
awk -v c="${per[chat]}" -v r="${per[responses]}" 'BEGIN {printf "responses/chat: %.3f\n", r / c}'
