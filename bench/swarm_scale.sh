#!/usr/bin/env bash
# Swarm scaling without reloads: flowproxy in swarm mode on the local one-node swarm, one
# labelled service scaled 1 -> 3 -> 1 ten times (20 scale operations). Prints the reloads they
# caused (HAProxy master's reload counter) and, for each scale-up, the time from the new tasks
# running (Docker's task status timestamps) to HAProxy having them as ready servers (stats
# socket). Sends no traffic to the tasks. Needs scripts/start-docker and a built tree.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-10}
scripts/start-docker
scripts/build-test-image "$BUILD" >/dev/null
T=$(mktemp -d /tmp/fp-swarm-bench.XXXXXX)
NET=fp-bench-net-$$
SVC=fp-bench-$$
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PPORT=$(port)
APORT=$(port)
docker network create -d overlay "$NET" >/dev/null
FP=
cleanup() {
	[ -n "$FP" ] && kill "$FP" 2>/dev/null && wait "$FP" 2>/dev/null
	docker service rm "$SVC" >/dev/null 2>&1 || true
	for _ in $(seq 50); do docker network rm "$NET" >/dev/null 2>&1 && break; sleep 0.2; done
	rm -rf "$T"
}
trap cleanup EXIT
SWARM=true SWARM_NETWORKS=$NET LOG_LEVEL=1 DEFAULT_PORTS=$PPORT BIND_ADDRESS=127.0.0.1 \
	"$BUILD/flowproxy" server --ip 127.0.0.1 --port "$APORT" --configs-path "$T/cfg" \
	--run-dir "$T/run" 2>"$T/fp.log" &
FP=$!
for _ in $(seq 200); do curl -sf -o /dev/null "http://127.0.0.1:$APORT/v1/docker-flow-proxy/ping" && break; sleep 0.05; done
docker service create -d --name "$SVC" --network "$NET" --replicas 1 --label com.df.notify=true \
	--label com.df.servicePath=/bench --label com.df.port=80 flowproxy-testserver:local >/dev/null 2>&1
be="${SVC}-be80_0"
ready() { echo "show servers state $be" | socat -t2 - "UNIX-CONNECT:$T/run/stats.sock" 2>/dev/null | awk 'NR > 2 && $6 == 2' | wc -l; }
reloads() { echo "show proc" | socat -t2 - "UNIX-CONNECT:$T/run/master.sock" | awk '$2 == "master" {print $3; exit}'; }
for _ in $(seq 600); do [ "$(ready)" = 1 ] && break; sleep 0.1; done
r0=$(reloads)
lat=()
for i in $(seq "$ROUNDS"); do
	docker service scale -d "$SVC=3" >/dev/null
	until [ "$(ready)" = 3 ]; do sleep 0.02; done
	seen=$(date +%s.%N)
	# When the last task reached "running", by Docker's own clock.
	running=$(docker service ps -q --filter desired-state=running "$SVC" | xargs docker inspect \
		--format '{{.Status.State}} {{.Status.Timestamp.UnixNano}}' | awk '$1 == "running" {print $2}' |
		sort -n | tail -1)
	lat+=("$(awk -v a="$seen" -v b="$running" 'BEGIN { printf "%.0f", a * 1000 - b / 1e6 }')")
	docker service scale -d "$SVC=1" >/dev/null
	until [ "$(ready)" = 1 ]; do sleep 0.02; done
done
r1=$(reloads)
sorted=$(printf '%s\n' "${lat[@]}" | sort -n)
median=$(printf '%s\n' "$sorted" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "scale operations: $((ROUNDS * 2)), HAProxy reloads caused: $((r1 - r0))"
echo "scale-up: last new task running -> HAProxy server ready (ms): median $median, all: $(echo $sorted)"
