#!/usr/bin/env bash
# HTTP/1.1 "Hello, World!" comparison in one run: monocle's `hello_server`
# example (one event loop) against hyper 1.x on tokio's current-thread runtime
# (`benches/src/bin/hyper_hello.rs`). Each server is pinned to one core, wrk to
# the other; for each load the two servers run back to back.
#
#   benches/http.sh                  # from the repository root, or anywhere
#
# Environment knobs (defaults in brackets):
#   DURATION [5s]     length of each wrk run
#   REPS [3]          runs of each load per server, alternating the servers
#                     (the table shows medians and the per-rep ratios)
#   WARMUP [2s]       wrk warm-up per server before the measured runs
#   CONNS ["64 512"]  keep-alive connection counts, one plain run each
#   PIPE_CONNS [64]   connections of the pipelined run
#   PIPE_DEPTH [16]   requests per write in the pipelined run
#   SERVER_CPU [0]    core of the server under test; WRK_CPU [1] core of wrk
#   MONOCLE_PORT [18080], HYPER_PORT [18081]
#   SKIP_BUILD [0]    1: use the binaries already in target/release
#   MONOCLE_SERVER    the monocle server binary [target/release/examples/hello_server]
#
# Per run it prints requests/s, p99 latency, and the server's CPU time per
# request (utime+stime from /proc/PID/stat before and after the run, divided
# by the requests wrk completed): wrk saturates its own core before a fast
# server saturates its, so requests/s alone can hide a difference. With GNU
# time installed it also shows how busy wrk's core was.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DURATION="${DURATION:-5s}"
REPS="${REPS:-3}"
WARMUP="${WARMUP:-2s}"
CONNS="${CONNS:-64 512}"
PIPE_CONNS="${PIPE_CONNS:-64}"
PIPE_DEPTH="${PIPE_DEPTH:-16}"
SERVER_CPU="${SERVER_CPU:-0}"
WRK_CPU="${WRK_CPU:-1}"
MONOCLE_PORT="${MONOCLE_PORT:-18080}"
HYPER_PORT="${HYPER_PORT:-18081}"
SKIP_BUILD="${SKIP_BUILD:-0}"
LUA="$ROOT/benches/wrk/pipeline.lua"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/release"
CLK_TCK="$(getconf CLK_TCK)"
MONOCLE_SERVER="${MONOCLE_SERVER:-$TARGET/examples/hello_server}"

# ------------------------------------------------------------------ tools

if ! command -v wrk >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "wrk is missing: installing it with apt-get" >&2
        apt-get update -qq
        apt-get install -y -qq wrk >/dev/null
    else
        echo "wrk is missing: install it (sudo apt-get install -y wrk) and run again" >&2
        exit 1
    fi
fi
for tool in taskset getconf; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$tool is missing" >&2; exit 1; }
done

if [ "$SKIP_BUILD" != 1 ]; then
    echo "building (release): hello_server example, hyper_hello" >&2
    cargo build --release --example hello_server
    cargo build --release -p monocle-benches --bin hyper_hello
fi

# ------------------------------------------------------------------ servers

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -f "${WRK_TIMES:-}"
}
trap cleanup EXIT INT TERM

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Waits until 127.0.0.1:$1 answers GET / with "Hello, World!".
wait_ready() {
    local port=$1 name=$2 i
    for i in $(seq 1 100); do
        # The braces keep 2>/dev/null from sticking to the shell, as a bare
        # `exec ... 2>/dev/null` would.
        if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
            printf 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
            local reply
            reply="$(timeout 2 cat <&3 || true)"
            exec 3<&- 3>&-
            if [[ "$reply" == "HTTP/1.1 200"* && "$reply" == *"Hello, World!"* ]]; then
                return 0
            fi
            echo "$name on port $port answered unexpectedly:" >&2
            printf '%s\n' "$reply" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "$name did not start listening on port $port" >&2
    exit 1
}

for port in "$MONOCLE_PORT" "$HYPER_PORT"; do
    if port_in_use "$port"; then
        echo "port $port is in use; set MONOCLE_PORT / HYPER_PORT" >&2
        exit 1
    fi
done

taskset -c "$SERVER_CPU" "$MONOCLE_SERVER" "$MONOCLE_PORT" 1 >/dev/null 2>&1 &
MONOCLE_PID=$!
PIDS+=("$MONOCLE_PID")
taskset -c "$SERVER_CPU" "$TARGET/hyper_hello" "$HYPER_PORT" >/dev/null 2>&1 &
HYPER_PID=$!
PIDS+=("$HYPER_PID")
wait_ready "$MONOCLE_PORT" monocle
wait_ready "$HYPER_PORT" hyper

# What each server sends per request: wrk parses every byte of it, so the two
# should match for the load generator's work to be the same.
if command -v curl >/dev/null 2>&1; then
    for peer in "monocle:$MONOCLE_PORT" "hyper:$HYPER_PORT"; do
        size="$(curl -s -o /dev/null -w '%{size_header} B head + %{size_download} B body' \
            "http://127.0.0.1:${peer#*:}/")"
        echo "${peer%%:*} response: $size"
    done
fi

# ------------------------------------------------------------------ measuring

# utime + stime of a process, in clock ticks (fields 14 and 15 of
# /proc/PID/stat, counted after the parenthesised command name).
cpu_ticks() {
    local stat
    stat="$(cat "/proc/$1/stat")"
    stat="${stat##*) }"
    # shellcheck disable=SC2086
    set -- $stat
    echo $(( ${12} + ${13} ))
}

# wrk's latency ("1.23ms", "850.00us", "1.01s") in microseconds.
to_us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") f = 1; else if (u == "ms") f = 1000; else if (u == "s") f = 1000000;
        else if (u == "m") f = 60000000; else f = -1
        # wrk reports 0.00us percentiles in pipelined runs: no usable sample.
        if (f < 0 || n == 0) print "n/a"; else printf "%.0f", n * f }'
}

RESULTS=()

# wrk's own CPU time, through GNU time when it is installed: at 100% the
# load generator, not the server, sets requests/s.
WRK_TIMED=()
WRK_TIMES="$(mktemp)"
if [ -x /usr/bin/time ]; then
    WRK_TIMED=(/usr/bin/time -f '%U %S %e' -o "$WRK_TIMES")
else
    echo "note: /usr/bin/time is missing (apt-get install -y time): wrk's CPU share is not shown" >&2
fi

# run_load NAME SERVER REP PID PORT CONNS [wrk args...]
run_load() {
    local load=$1 server=$2 rep=$3 pid=$4 port=$5 conns=$6
    shift 6
    local before after out rps reqs p99 errors
    # The run_load arguments after CONNS go to wrk before the default URL;
    # the pipelined run passes its own URL and `-- DEPTH`, and wrk takes the
    # first URL it is given.
    before="$(cpu_ticks "$pid")"
    out="$(taskset -c "$WRK_CPU" "${WRK_TIMED[@]}" wrk -t1 -c"$conns" -d"$DURATION" --latency "$@" "http://127.0.0.1:$port/")"
    after="$(cpu_ticks "$pid")"
    rps="$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")"
    reqs="$(awk '/requests in/ { print $1 }' <<<"$out")"
    p99="$(to_us "$(awk '$1 == "99%" { print $2 }' <<<"$out")")"
    errors="$(awk '/Non-2xx|Socket errors/ { sub(/^ +/, ""); printf "%s; ", $0 }' <<<"$out")"
    local cpu_us wrk_busy=n/a
    cpu_us="$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$reqs" \
        'BEGIN { if (n > 0) printf "%.2f", t * 1000000 / hz / n; else print "nan" }')"
    # wrk's user+system time over its wall time, in percent of its core.
    if [ ${#WRK_TIMED[@]} -gt 0 ]; then
        wrk_busy="$(awk '{ if ($3 > 0) printf "%.1f", ($1 + $2) * 100 / $3; else print "n/a" }' "$WRK_TIMES")"
    fi
    printf '  %-14s %-8s rep %-3s %12s req/s  p99 %8s us  cpu %6s us/req  wrk busy %5s%%  %s\n' \
        "$load" "$server" "$rep" "$rps" "$p99" "$cpu_us" "$wrk_busy" "${errors:-}" >&2
    RESULTS+=("$load $server $rep $rps $p99 $cpu_us $reqs $((after - before)) $wrk_busy ${errors// /_}")
}

echo "warming up (${WARMUP} per server)" >&2
taskset -c "$WRK_CPU" wrk -t1 -c64 -d"$WARMUP" "http://127.0.0.1:$MONOCLE_PORT/" >/dev/null
taskset -c "$WRK_CPU" wrk -t1 -c64 -d"$WARMUP" "http://127.0.0.1:$HYPER_PORT/" >/dev/null

LOADS=()
for c in $CONNS; do
    LOADS+=("c$c:$c")
done
LOADS+=("c${PIPE_CONNS}-pipe${PIPE_DEPTH}:$PIPE_CONNS:pipe")

# One load on one server: run_server LOAD SERVER REP CONNS PIPE
run_server() {
    local load=$1 server=$2 rep=$3 conns=$4 pipe=$5 pid port
    if [ "$server" = monocle ]; then
        pid=$MONOCLE_PID port=$MONOCLE_PORT
    else
        pid=$HYPER_PID port=$HYPER_PORT
    fi
    if [ "$pipe" = pipe ]; then
        # wrk takes the script's arguments after the URL and `--`.
        run_load "$load" "$server" "$rep" "$pid" "$port" "$conns" -s "$LUA" \
            "http://127.0.0.1:$port/" -- "$PIPE_DEPTH"
    else
        run_load "$load" "$server" "$rep" "$pid" "$port" "$conns"
    fi
}

for spec in "${LOADS[@]}"; do
    IFS=: read -r load conns pipe <<<"$spec"
    echo "load $load" >&2
    for rep in $(seq 1 "$REPS"); do
        # Alternate which server goes first, so a drift in background load
        # does not always favour the same one.
        if [ $((rep % 2)) = 1 ]; then
            order="monocle hyper"
        else
            order="hyper monocle"
        fi
        for server in $order; do
            run_server "$load" "$server" "$rep" "$conns" "${pipe:-}"
        done
    done
done

# ------------------------------------------------------------------ report

echo
echo "HTTP/1.1 hello world: monocle hello_server (1 loop) vs hyper 1.x on tokio current-thread"
echo "servers on core $SERVER_CPU, wrk -t1 on core $WRK_CPU, $DURATION per run, $REPS runs per load and server"
echo "(medians over the runs; \"wins\": runs in which monocle did better than hyper in the same rep)"
echo
printf '%s\n' "${RESULTS[@]}" | awk -v loads="$(for s in "${LOADS[@]}"; do printf '%s ' "${s%%:*}"; done)" '
    function median(list,    n, a, i, j, t) {
        n = split(list, a, " ")
        if (n == 0) return "n/a"
        for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
        return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function fmt(v, d) { return (v == "n/a") ? v : sprintf("%." d "f", v) }
    {
        # load server rep rps p99 cpu reqs ticks wrk_busy errors
        key = $1 SUBSEP $3
        if ($2 == "monocle") { mr[key] = $4; mp[key] = $5; mc[key] = $6; mw[key] = $9 } else { hr[key] = $4; hp[key] = $5; hc[key] = $6; hw[key] = $9 }
        reps[$1] = (reps[$1] < $3) ? $3 : reps[$1]
    }
    END {
        printf "%-14s %11s %11s %16s %9s %9s %9s %8s %8s %16s %7s %7s\n", "load", "monocle r/s", "hyper r/s", "m/h r/s (wins)", "m p99 us", "h p99 us", "m/h p99", "m cpu", "h cpu", "m/h cpu (wins)", "m wrk%", "h wrk%"
        n = split(loads, L, " ")
        for (k = 1; k <= n; k++) {
            l = L[k]; lm = lh = lr = pm = ph = cm = ch = cr = wm = wh = ""; rw = cw = runs = 0; pr = ""
            for (r = 1; r <= reps[l]; r++) {
                key = l SUBSEP r
                if (!(key in mr) || !(key in hr)) continue
                runs++
                lm = lm " " mr[key]; lh = lh " " hr[key]; lr = lr " " (mr[key] / hr[key])
                if (mr[key] > hr[key]) rw++
                if (mp[key] != "n/a") { pm = pm " " mp[key] }
                if (hp[key] != "n/a") { ph = ph " " hp[key] }
                if (mp[key] != "n/a" && hp[key] != "n/a") pr = pr " " (mp[key] / hp[key])
                cm = cm " " mc[key]; ch = ch " " hc[key]; cr = cr " " (mc[key] / hc[key])
                if (mc[key] < hc[key]) cw++
                if (mw[key] != "n/a") wm = wm " " mw[key]
                if (hw[key] != "n/a") wh = wh " " hw[key]
            }
            if (runs == 0) continue
            printf "%-14s %11.0f %11.0f %10s (%d/%d) %9s %9s %9s %8s %8s %10s (%d/%d) %7s %7s\n", l,
                median(lm), median(lh), fmt(median(lr), 3), rw, runs,
                fmt(median(pm), 0), fmt(median(ph), 0), fmt(median(pr), 3),
                fmt(median(cm), 2), fmt(median(ch), 2), fmt(median(cr), 3), cw, runs,
                fmt(median(wm), 1), fmt(median(wh), 1)
        }
    }'
echo
echo "m/h: monocle / hyper, the median of the per-rep ratios. r/s above 1 and p99, cpu below 1 mean monocle is better."
echo "pipelined rows: r/s counts responses; wrk's latency percentiles are not usable there (n/a)."
echo "wrk%: wrk's CPU time over its run, in percent of its core; near 100 the load generator, not the server, sets r/s."
echo
for line in "${RESULTS[@]}"; do
    read -r load server rep rps p99 cpu reqs ticks wrk_busy errors <<<"$line"
    echo "RESULT load=$load server=$server rep=$rep rps=$rps p99_us=$p99 cpu_us_per_req=$cpu requests=$reqs cpu_ticks=$ticks wrk_busy_pct=$wrk_busy errors=${errors:-none}"
done
