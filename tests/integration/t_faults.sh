#!/usr/bin/env bash
# Faults of the parties flowproxy calls, through a real HAProxy: a Docker Engine that stalls,
# one that answers slowly, one that drops the connection mid-answer, one that answers garbage or
# 500 (tests/fake_docker.py stands in for the engine, to inject them), and HAProxy's master CLI
# not answering (its master stopped with SIGSTOP). During each fault the API answers at once,
# a reconfigure is served, and telemetry keeps counting every request; once the fault ends the
# state converges (a service added to the swarm meanwhile is routed).
set -u
. "$(dirname "$0")/lib.sh"

backend a; PA=$BACKEND_PORT
FPORT=$(free_port)
python3 "$SRC/tests/fake_docker.py" "$FPORT" --services 1 --service-port "$PA" \
	--addr 127.0.0.1/8 --network fp-fake --quiet 2>"$T/fake.log" >"$T/fake.out" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$T/fake.out" 2>/dev/null && break; sleep 0.05; done
fake() { curl -s -m 5 -XPOST "http://127.0.0.1:$FPORT/_fake/$1" "${@:2}"; }

SWARM=true DOCKER_HOST=tcp://127.0.0.1:$FPORT SWARM_NETWORKS=fp-fake RESYNC_INTERVAL=2 \
	STATS_INTERVAL=1 fp_start || { ok 1 "flowproxy starts against the fake engine"; done_testing; }
ok 0 "flowproxy starts against the fake engine"
for _ in $(seq 100); do get /svc0 >/dev/null; [ "$(hstatus)" = 200 ] && break; sleep 0.05; done
like "$(get /svc0)" '^name=a' "the engine's service is routed to its task"

# The /ping answer time in ms, or 99999 when it failed.
ping_ms() {
	local t
	t=$(curl -s -m 20 -o /dev/null -w '%{http_code} %{time_total}' \
		"http://127.0.0.1:$APORT/v1/docker-flow-proxy/ping")
	case "$t" in 200\ *) awk -v s="${t#* }" 'BEGIN {printf "%d\n", s * 1000}' ;; *) echo 99999 ;; esac
}
# Requests svc0's backend has counted in telemetry (the stats API, whole window).
counted() {
	api "/v1/flowproxy/stats" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sum(b["count"] for s in d.get("services", []) if s.get("name") == "svc0"
          for b in s.get("backends", [])))' 2>/dev/null
}

reconfigure_served() { # <label>: a reconfigure is applied in under 3 s and served
	local label=$1 t0 t1
	t0=$(date +%s%N)
	api "/v1/docker-flow-proxy/reconfigure?serviceName=f-$label&servicePath=/f-$label&port=$PA&outboundHostname=127.0.0.1" >/dev/null
	t1=$(date +%s%N)
	is "$(astatus)" 200 "$label: a reconfigure is applied"
	[ $(((t1 - t0) / 1000000)) -lt 3000 ]; ok $? "$label: in $(((t1 - t0) / 1000000)) ms"
	like "$(get "/f-$label")" '^name=a' "$label: and served"
}

telemetry_counts() { # <label>: 20 requests through HAProxy are 20 more in the histograms
	local label=$1 c0 c1
	c0=$(counted)
	is_num "$c0" "$label: telemetry answers"
	for _ in $(seq 20); do get /svc0 >/dev/null; done
	sleep 1.5
	c1=$(counted)
	is_num "$c1" "$label: telemetry still answers"
	[ -n "$c0" ] && [ -n "$c1" ] && [ $((c1 - c0)) -eq 20 ]
	ok $? "$label: telemetry counted the 20 requests ($c0 -> $c1)"
}

# during <label> [noreconfigure]: while a fault lasts, the API answers fast, a reconfigure is
# served, and every request through HAProxy is counted.
during() {
	local label=$1 worst=0 ms
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		ms=$(ping_ms)
		[ "$ms" -gt "$worst" ] && worst=$ms
		sleep 0.2
	done
	[ "$worst" -lt 500 ]; ok $? "$label: /ping answers at once (slowest of 10: $worst ms)"
	[ "${2:-}" = noreconfigure ] || reconfigure_served "$label"
	telemetry_counts "$label"
}

# converge <label> <service>: after the fault, a service added to the swarm during it is routed.
converge() {
	local label=$1 svc=$2
	for _ in $(seq 150); do get "/$svc" >/dev/null; [ "$(hstatus)" = 200 ] && break; sleep 0.1; done
	is "$(hstatus)" 200 "$label: once the engine answers again, '$svc' added meanwhile is routed"
}

spec() { # <names...>: the fake engine's services, each routed on /<name> to backend a
	local out="[" sep=""
	for n in "$@"; do
		out="$out$sep{\"name\":\"$n\",\"labels\":{\"com.df.notify\":\"true\",\"com.df.servicePath\":\"/$n\",\"com.df.port\":\"$PA\"},\"replicas\":1,\"addresses\":[\"127.0.0.1/8\"]}"
		sep=,
	done
	echo "$out]"
}

services=(svc0)
n=0
for mode in stall "slow&delay=8000" drop garbage 500; do
	label=${mode%%&*}
	n=$((n + 1))
	fake "mode?m=$mode" >/dev/null
	during "$label"
	# A service appears in the swarm while the engine misbehaves (events carry it too).
	services+=("late$n")
	fake services -d "$(spec "${services[@]}")" >/dev/null
	sleep 3
	fake "mode?m=normal" >/dev/null
	converge "$label" "late$n"
done
like "$(api /v1/flowproxy/status)" '"resyncFailures":[1-9]' "the failed resyncs are counted"

# Scaling is applied at run time, also while the engine answers slowly: svc0 goes from one task
# to three (the fake engine's task addresses), the worker stays, HAProxy has the three servers.
fake "mode?m=slow&delay=2000" >/dev/null
w0=$(worker_pid)
is_set "$w0" "the worker before the scaling"
scaled="[{\"name\":\"svc0\",\"labels\":{\"com.df.notify\":\"true\",\"com.df.servicePath\":\"/svc0\",\"com.df.port\":\"$PA\"},\"replicas\":3,\"addresses\":[\"127.0.0.1/8\",\"127.0.0.2/8\",\"127.0.0.3/8\"]}"
for n in "${services[@]:1}"; do
	scaled="$scaled,{\"name\":\"$n\",\"labels\":{\"com.df.notify\":\"true\",\"com.df.servicePath\":\"/$n\",\"com.df.port\":\"$PA\"},\"replicas\":1,\"addresses\":[\"127.0.0.1/8\"]}"
done
fake services -d "$scaled]" >/dev/null
servers_up() { # svc0's servers HAProxy has at a task address, ready (srv_op_state 2)
	echo "show servers state svc0-be${PA}_0" | socat -t2 - "UNIX-CONNECT:$T/run/stats.sock" |
		awk 'NR > 2 && $6 == 2 && $5 ~ /^127\.0\.0\.[123]$/' | wc -l
}
for _ in $(seq 100); do [ "$(servers_up)" = 3 ] && break; sleep 0.1; done
is "$(servers_up)" 3 "scaled to three tasks: three servers ready at their addresses"
is "$(worker_pid)" "$w0" "without a reload (the same worker)"
fake "mode?m=normal" >/dev/null
unlike "$(cat "$T/flowproxy.log")" "AddressSanitizer|runtime error" "no sanitizer report"

# HAProxy's master CLI does not answer: the API still does; the reload fails at its deadline
# with a message; telemetry keeps counting (the worker serves); once it answers, all is well.
m=$(master_pid)
is_set "$m" "HAProxy's master is known"
kill -STOP "$m"
(api "/v1/docker-flow-proxy/reconfigure?serviceName=cli-stuck&servicePath=/cli-stuck&port=$PA&outboundHostname=127.0.0.1" >"$T/stuck.body"; astatus >"$T/stuck.status") &
stuck=$!
sleep 0.5
during cli noreconfigure
wait "$stuck"
is "$(cat "$T/stuck.status")" 500 "a reload the master never confirms fails"
like "$(cat "$T/stuck.body")" "not confirmed within" "with a message that says so"
kill -CONT "$m"
get /cli-stuck >/dev/null
is "$(hstatus)" 503 "the failed service is not routed"
api "/v1/docker-flow-proxy/reconfigure?serviceName=cli-back&servicePath=/cli-back&port=$PA&outboundHostname=127.0.0.1" >/dev/null
is "$(astatus)" 200 "after the master answers again, a reconfigure works"
like "$(get /cli-back)" '^name=a' "and is served"
like "$(get /svc0)" '^name=a' "the swarm's services are still served"

done_testing
