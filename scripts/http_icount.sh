#!/usr/bin/env bash
# Instructions per request of the gateway with its HTTP front end (uvicorn as `launch` sets it
# up), counted by valgrind's callgrind over scripts/http_harness.py: the measured requests only
# (the harness switches instrumentation on and off with callgrind_control), the client and the
# mock worker outside valgrind. Short non-streaming chats by default; STREAM=1 for 256-token
# streamed chats (then the count moves more between runs: timing decides how many tokens
# share a worker read). About two minutes; needs valgrind and `make proto tokenizers`.
#
#   [STREAM=1] [REQUESTS=N] [LAUNCH_ARGS="..."] scripts/http_icount.sh [TREE]
#   EXTRA_PATH=DIR HARNESS_ARGS="--server granian" scripts/http_icount.sh
#                         # granian instead of uvicorn, installed with `pip install --target DIR granian`
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
tree="$(cd "${1:-$here}" && pwd)"
requests="${REQUESTS:-$([ -n "${STREAM:-}" ] && echo 40 || echo 300)}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

total="$(PYTHONPATH="$tree${EXTRA_PATH:+:$EXTRA_PATH}" valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/cg.out" \
    "$here/.venv/bin/python" "$tree/scripts/http_harness.py" --callgrind --requests "$requests" \
    ${STREAM:+--stream} ${HARNESS_ARGS:-} ${LAUNCH_ARGS:+--launch-args "$LAUNCH_ARGS"} 2>&1 | awk '/Collected :/ {print $4}')"
echo "$tree: $(( total / requests )) instructions per ${STREAM:+streamed }request"
