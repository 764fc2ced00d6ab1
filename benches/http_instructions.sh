#!/usr/bin/env bash
# User-space instructions per request of monocle's hello_server and of
# hyper_hello, counted by valgrind's callgrind over a fixed number of
# keep-alive requests. Unlike requests/s on a shared machine, the count does
# not move from run to run, so small changes in the per-request work show.
# It leaves out the kernel, which does the same work for both servers (one
# recv and one send per request; see benches/README.md).
#
#   benches/http_instructions.sh          # after building both (see http.sh)
#
# Environment: REQUESTS [20000], CONNS [64], WARMUP_REQUESTS [2000],
# MONOCLE_PORT [18380], HYPER_PORT [18381], SKIP_BUILD [0].
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
REQUESTS="${REQUESTS:-20000}"
CONNS="${CONNS:-64}"
WARMUP_REQUESTS="${WARMUP_REQUESTS:-2000}"
MONOCLE_PORT="${MONOCLE_PORT:-18380}"
HYPER_PORT="${HYPER_PORT:-18381}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/release"
CLIENT="$ROOT/benches/wrk/fixed_requests.py"

for tool in valgrind callgrind_control python3; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "$tool is missing (apt-get install -y valgrind python3)" >&2
        exit 1
    }
done
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release --example hello_server
    cargo build --release -p monocle-benches --bin hyper_hello
fi

OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

# count NAME BINARY PORT: prints the instructions per request.
count() {
    local name=$1 bin=$2 port=$3 pid i
    valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file="$OUT/$name" "$bin" "$port" 1 >/dev/null 2>&1 &
    pid=$!
    for i in $(seq 1 200); do
        { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null && { exec 3<&- 3>&-; break; }
        sleep 0.1
    done
    python3 "$CLIENT" "$port" "$CONNS" "$WARMUP_REQUESTS" >/dev/null
    callgrind_control -i on "$pid" >/dev/null
    python3 "$CLIENT" "$port" "$CONNS" "$REQUESTS" >/dev/null
    callgrind_control -i off "$pid" >/dev/null
    callgrind_control -d "$pid" >/dev/null
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    # Every thread's and every dump's totals.
    cat "$OUT/$name"* | awk -v n="$REQUESTS" '/^(summary|totals):/ { s += $2 } END { printf "%.0f", s / n }'
}

m="$(count monocle "$TARGET/examples/hello_server" "$MONOCLE_PORT")"
h="$(count hyper "$TARGET/hyper_hello" "$HYPER_PORT")"
echo "user-space instructions per request ($REQUESTS keep-alive GET /, $CONNS connections, callgrind)"
printf '  monocle %8s\n  hyper   %8s\n  m/h     %8s\n' "$m" "$h" "$(awk -v a="$m" -v b="$h" 'BEGIN { printf "%.3f", a / b }')"
echo "RESULT instructions_per_request monocle=$m hyper=$h ratio=$(awk -v a="$m" -v b="$h" 'BEGIN { printf "%.3f", a / b }')"
