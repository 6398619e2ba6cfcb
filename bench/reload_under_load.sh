#!/usr/bin/env bash
# Reloads under load: wrk on loopback through HAProxy (keep-alive, then new connections) while
# 50 reconfigure calls each add a service and reload HAProxy. Prints wrk's request and error
# counts; the target is zero failed or reset requests. Only 127.0.0.1 is used; each wrk run is
# bounded (DURATION seconds, CONNS connections).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DURATION=${DURATION:-12}
CONNS=${CONNS:-32}
command -v wrk >/dev/null || scripts/setup-deps
T=$(mktemp -d /tmp/fp-load.XXXXXX)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PPORT=$(port); APORT=$(port)
"$BUILD/tests/testserver" --name load --port 0 --addr 127.0.0.1 >"$T/ts.out" &
TS=$!
for _ in $(seq 100); do grep -q listening "$T/ts.out" && break; sleep 0.05; done
BPORT=$(awk '/listening/ {print $2}' "$T/ts.out")
DEFAULT_PORTS=$PPORT BIND_ADDRESS=127.0.0.1 LOG_LEVEL=1 "$BUILD/flowproxy" server --ip 127.0.0.1 \
	--port "$APORT" --configs-path "$T/cfg" --run-dir "$T/run" &
FP=$!
trap 'kill $FP $TS 2>/dev/null; wait $FP 2>/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 200); do curl -sf -o /dev/null "http://127.0.0.1:$APORT/v1/docker-flow-proxy/ping" && break; sleep 0.05; done
curl -sf -o /dev/null "http://127.0.0.1:$APORT/v1/docker-flow-proxy/reconfigure?serviceName=load&servicePath=/load&port=$BPORT&outboundHostname=127.0.0.1"

run() { # <label> [wrk args]
	local label=$1
	shift
	wrk -t2 -c"$CONNS" -d"${DURATION}s" "$@" "http://127.0.0.1:$PPORT/load" >"$T/wrk.out" 2>&1 &
	local w=$!
	sleep 1
	local t0 i
	t0=$(date +%s%N)
	for i in $(seq 50); do
		curl -sf -o /dev/null "http://127.0.0.1:$APORT/v1/docker-flow-proxy/reconfigure?serviceName=$label$i&servicePath=/$label$i&port=$BPORT&outboundHostname=127.0.0.1"
	done
	local ms=$((($(date +%s%N) - t0) / 1000000))
	wait $w
	local reqs errs non2xx
	reqs=$(awk '/requests in/ {print $1}' "$T/wrk.out")
	errs=$(awk -F'[ ,]+' '/Socket errors/ {print $4+$6+$8+$10}' "$T/wrk.out")
	non2xx=$(awk '/Non-2xx/ {print $NF}' "$T/wrk.out")
	printf '%-12s %10s requests, %s socket errors (connect/read/write/timeout), %s non-2xx; 50 reconfigures in %d ms\n' \
		"$label" "$reqs" "${errs:-0}" "${non2xx:-0}" "$ms"
}
run keepalive
run newconn -H "Connection: close"
