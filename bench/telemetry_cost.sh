#!/usr/bin/env bash
# The cost of the request stream to HAProxy: requests per second through HAProxy with telemetry
# on (ring + flowproxy reading every line) and off, same backend, same wrk settings, same run,
# alternating ROUNDS times. Prints each run and the median loss. Only 127.0.0.1 is used; each wrk
# run is bounded (DURATION seconds, CONNS connections).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DURATION=${DURATION:-8}
CONNS=${CONNS:-16}
ROUNDS=${ROUNDS:-3}
command -v wrk >/dev/null || scripts/setup-deps
T=$(mktemp -d /tmp/fp-tcost.XXXXXX)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
"$BUILD/tests/testserver" --name cost --port 0 --addr 127.0.0.1 >"$T/ts.out" &
TS=$!
FP=
trap 'kill $FP $TS 2>/dev/null; wait $FP 2>/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 100); do grep -q listening "$T/ts.out" && break; sleep 0.05; done
BPORT=$(awk '/listening/ {print $2}' "$T/ts.out")

run() { # <true|false> -> prints req/s
	local PPORT APORT lines
	PPORT=$(port)
	APORT=$(port)
	rm -rf "$T/cfg" "$T/run"
	TELEMETRY=$1 DEFAULT_PORTS=$PPORT BIND_ADDRESS=127.0.0.1 LOG_LEVEL=1 "$BUILD/flowproxy" server \
		--ip 127.0.0.1 --port "$APORT" --configs-path "$T/cfg" --run-dir "$T/run" 2>/dev/null &
	FP=$!
	for _ in $(seq 200); do curl -sf -o /dev/null "http://127.0.0.1:$APORT/v1/docker-flow-proxy/ping" && break; sleep 0.05; done
	curl -sf -o /dev/null "http://127.0.0.1:$APORT/v1/docker-flow-proxy/reconfigure?serviceName=cost&servicePath=/cost&port=$BPORT&outboundHostname=127.0.0.1"
	sleep 0.5
	wrk -t2 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$PPORT/cost" >"$T/wrk.out" 2>&1
	lines=$(curl -s "http://127.0.0.1:$APORT/metrics" | awk '/^flowproxy_telemetry_lines_total/ {print $2}')
	kill "$FP"
	wait "$FP" 2>/dev/null || true
	FP=
	printf '%s %s %s\n' "$(awk '/Requests\/sec/ {print $2}' "$T/wrk.out")" \
		"$(awk '/requests in/ {print $1}' "$T/wrk.out")" "${lines:-0}"
}
on=()
off=()
for r in $(seq "$ROUNDS"); do
	read -r rps reqs lines < <(run true)
	echo "round $r telemetry on : $rps req/s ($reqs requests, $lines lines read)"
	on+=("$rps")
	read -r rps reqs lines < <(run false)
	echo "round $r telemetry off: $rps req/s ($reqs requests)"
	off+=("$rps")
done
printf '%s\n' "${on[@]}" | sort -n >"$T/on"
printf '%s\n' "${off[@]}" | sort -n >"$T/off"
m_on=$(awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}' "$T/on")
m_off=$(awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}' "$T/off")
awk -v a="$m_on" -v b="$m_off" 'BEGIN { printf "median: on %.0f req/s, off %.0f req/s, cost %.1f%%\n", a, b, (b - a) / b * 100 }'
