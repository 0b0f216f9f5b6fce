#!/usr/bin/env bash
# Instructions per token of the parse stage (the output processor, in process), counted by
# valgrind's callgrind over scripts/parse_harness.py: 41 runs of a 256-token stream less one
# run, so start-up drops out. Arguments after TREE go to the harness (--tools,
# --no-reasoning, --tool-parser NAME). Deterministic: no worker, no timing.
#
#   scripts/parse_icount.sh [TREE] [--tools] [--no-reasoning] [--tool-parser NAME]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
tree="$(cd "${1:-$here}" && pwd)"
shift || true
count() {
    PYTHONPATH="$tree" valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        "$here/.venv/bin/python" "$here/scripts/parse_harness.py" "$@" 2>&1 | awk '/Collected :/ {print $4}'
}
one="$(count 1 "$@")"
many="$(count 41 "$@")"
echo "$tree $*: $(( (many - one) / 40 / 256 )) instructions per token"
