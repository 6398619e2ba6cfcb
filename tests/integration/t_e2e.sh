#!/usr/bin/env bash
# End to end on the real one-node swarm: flowproxy and its HAProxy in a container (the image
# flowproxy-e2e:<build dir>, FROM scratch out of this build), run as a swarm service on an overlay
# network with the Docker socket mounted and its ports published in host mode; test services
# from flowproxy-testserver:local, whose every answer names the task's container. Requests go
# only to the published ports on 127.0.0.1; HAProxy reaches the tasks inside the overlay.
set -u
. "$(dirname "$0")/lib.sh"

need_swarm_images
clean_stale_vxlan
NET=fp-e2e-net-$$
PRIV=fp-e2e-private-$$
FP=fp-e2e-proxy-$$
WEB=fp-e2e-web-$$
BAD=fp-e2e-bad-$$
OTHER=fp-e2e-other-$$
PPORT=$(free_port)
APORT=$(free_port)
# Not $T/run: lib.sh's cleanup would signal the pids found there, which are the container's.
RUNDIR=$T/fprun
mkdir -p "$RUNDIR"

e2e_cleanup() {
	docker service rm "$FP" "$WEB" "$BAD" "$OTHER" >/dev/null 2>&1
	for _ in $(seq 100); do docker network rm "$NET" "$PRIV" >/dev/null 2>&1 && break; sleep 0.2; done
}
trap 'e2e_cleanup; cleanup' EXIT

status_json() { curl -s -m 5 "http://127.0.0.1:$APORT/v1/flowproxy/status"; }
worker() { status_json | grep -o '"workerPid":[0-9]*' | cut -d: -f2; }
# name_of <path>: the name in one answer through HAProxy, empty unless it is a 200.
name_of() {
	curl -s -m 20 -w '\n%{http_code}' "http://127.0.0.1:$PPORT$1" |
		awk 'NR == 1 {n = $1; sub(/^name=/, "", n)} /^[0-9][0-9][0-9]$/ {c = $1} END {if (c == 200) print n}'
}
# names <n> <path>: the distinct names of n answers, sorted.
names() {
	for _ in $(seq "$1"); do name_of "$2"; done | sort -u | grep .
}
served() { [ -n "$(name_of "$1")" ]; }
# Not served means HAProxy answered, with its 503 for a request no route takes: a proxy that does
# not answer at all is no evidence that a route is gone.
not_served() {
	[ "$(curl -s -m 20 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PPORT$1")" = 503 ]
}
ready_servers() { # <backend>: servers HAProxy has in state "running" (srv_op_state 2)
	echo "show servers state $1" | socat -t2 - "UNIX-CONNECT:$RUNDIR/stats.sock" 2>/dev/null |
		awk 'NR > 2 && $6 == 2' | wc -l
}
# The routing part of the configuration: everything but the server lines, then the addresses
# of the enabled servers, sorted (slot names and spare slots depend on history, not on state).
routing() {
	local cfg
	cfg=$(curl -s -m 5 "http://127.0.0.1:$APORT/v1/docker-flow-proxy/config")
	printf '%s\n' "$cfg" | grep -v '^    server '
	printf '%s\n' "$cfg" | awk '$1 == "server" && !/ disabled$/ {print $3}' | sort
}
# Background clients, each sending one request at a time on path until load_stop; they write
# "status seconds" lines.
load_start() { # <path> [clients]
	rm -f "$T/load.stop"
	: >"$T/load.out"
	LOAD_PIDS=()
	for _ in $(seq "${2:-1}"); do
		(while [ ! -e "$T/load.stop" ]; do
			curl -s -m 30 -o /dev/null -w '%{http_code} %{time_total}\n' "http://127.0.0.1:$PPORT$1"
		done >>"$T/load.out") &
		LOAD_PIDS+=($!)
	done
}
load_stop() { # -> "<requests> <failed> <slowest seconds>"; the failures go to the TAP output
	touch "$T/load.stop"
	wait "${LOAD_PIDS[@]}"
	awk '$1 != 200' "$T/load.out" | sort | uniq -c | sed 's/^/# failed: /' >&2
	awk '{n++; if ($1 != 200) f++; if ($2 > m) m = $2} END {printf "%d %d %s\n", n, f, m}' \
		"$T/load.out"
}

# The test services are also on a network flowproxy is not on (and on it first): flowproxy finds
# its own container's networks and routes to the tasks' addresses on those.
docker network create -d overlay "$NET" >/dev/null
docker network create -d overlay "$PRIV" >/dev/null
fp_service_create "$FP" "$NET" "$RUNDIR" -e RESYNC_INTERVAL=30 -e ASAN_OPTIONS=detect_leaks=1
wait_for 90 api_up && wait_for 30 initialized
ok $? "flowproxy runs as a swarm service in its container (API on the published port)"
found_net() { docker service logs "$FP" 2>&1 | grep -q "routing to tasks on this container's networks: $NET\$"; }
wait_for 30 found_net
ok $? "it found its own network (no SWARM_NETWORKS)"

# A new service is routed.
docker service create -d --name "$WEB" --network "$PRIV" --network "$NET" --replicas 1 \
	--label com.df.notify=true --label com.df.servicePath=/web --label com.df.port=80 \
	flowproxy-testserver:local >/dev/null 2>&1
wait_for 60 served /web
ok $? "a new service is routed"
is "$(name_of /web)" "$(containers "$WEB" | cut -c1-12)" "its answer comes from its task's container"

# A label change re-routes, with one reload.
w0=$(worker)
is_set "$w0" "the worker before the label change is known"
docker service update -d --label-add com.df.servicePath=/moved "$WEB" >/dev/null 2>&1
wait_for 60 served /moved
ok $? "a label change re-routes: the new path is served"
not_served /web
ok $? "the old path is not served any more"
w=$(worker)
[ -n "$w0" ] && [ -n "$w" ] && [ "$w" != "$w0" ]
ok $? "a label change reloads HAProxy ($w0 -> $w)"

# Scaling 1 -> 3 spreads requests over three tasks, no reload.
be="${WEB}-be80_0"
w1=$(worker)
is_set "$w1" "the worker before scaling is known"
docker service scale -d "$WEB=3" >/dev/null 2>&1
three() { [ "$(containers "$WEB" | wc -l)" = 3 ] && [ "$(ready_servers "$be")" = 3 ]; }
wait_for 90 three
ok $? "scaling 1 -> 3: three tasks, three servers ready in HAProxy"
is "$(names 30 /moved | tr '\n' ' ')" "$(containers "$WEB" | cut -c1-12 | tr '\n' ' ')" \
	"30 requests are spread over the three tasks"
is "$(worker)" "$w1" "scaling up causes no reload (same HAProxy worker)"

# Scaling 3 -> 1 under load: no failed request, traffic only to the task left.
load_start /moved
sleep 0.5
docker service scale -d "$WEB=1" >/dev/null 2>&1
one() { [ "$(containers "$WEB" | wc -l)" = 1 ] && [ "$(ready_servers "$be")" = 1 ]; }
wait_for 90 one
ok $? "scaling 3 -> 1: one task, one server ready"
sleep 1
read -r n failed slowest < <(load_stop)
[ "${n:-0}" -gt 0 ]; ok $? "requests were sent during the scale-down ($n)"
is "$failed" 0 "no failed request during the scale-down ($n requests, slowest ${slowest}s)"
is "$(names 10 /moved)" "$(containers "$WEB" | cut -c1-12)" "requests go only to the task left"
is "$(worker)" "$w1" "scaling down causes no reload"

# A killed task: no failed request, no traffic to it, its replacement gets traffic. Two clients
# with slow requests (300 ms) keep both tasks busy, so the kill cuts a request short: HAProxy
# sends it again to the other task (retry-on empty-response, for GET, HEAD and OPTIONS).
docker service scale -d "$WEB=2" >/dev/null 2>&1
two() { [ "$(containers "$WEB" | wc -l)" = 2 ] && [ "$(ready_servers "$be")" = 2 ]; }
wait_for 90 two
ok $? "scaled to 2"
victim=$(containers "$WEB" | head -1)
is_set "$victim" "a task container to kill"
load_start '/moved?delay=300' 2
sleep 0.5
docker kill "$victim" >/dev/null
replaced() { two && ! containers "$WEB" | grep -q "$victim"; }
wait_for 90 replaced
ok $? "the killed task is replaced, and HAProxy has two servers ready again"
sleep 1
read -r n failed slowest < <(load_stop)
[ "${n:-0}" -gt 0 ]; ok $? "requests were sent while a task was killed ($n)"
is "$failed" 0 "no failed request while a task was killed ($n requests, slowest ${slowest}s)"
got=$(names 20 /moved)
unlike "$got" "^${victim:0:12}\$" "no request goes to the killed task"
is "$got" "$(containers "$WEB" | cut -c1-12)" "requests go to the task left and the replacement"
is "$(worker)" "$w1" "a killed and replaced task causes no reload"

# A service with broken labels is reported; the others keep working.
docker service create -d --name "$BAD" --network "$NET" --replicas 1 \
	--label com.df.notify=true --label 'com.df.servicePath=/bad path' --label com.df.port=80 \
	flowproxy-testserver:local >/dev/null 2>&1
docker service create -d --name "$OTHER" --network "$NET" --replicas 1 \
	--label com.df.notify=true --label com.df.servicePath=/other --label com.df.port=80 \
	flowproxy-testserver:local >/dev/null 2>&1
reported() { status_json | grep -q "\"serviceName\":\"$BAD\",\"message\":\"servicePath '/bad path'"; }
wait_for 60 reported
ok $? "the broken service is reported by the status API, with the label at fault"
logged() { docker service logs "$FP" 2>&1 | grep -q "service '$BAD' skipped: servicePath"; }
wait_for 30 logged
ok $? "and logged with its name and label"
wait_for 60 served /other
ok $? "a service created alongside it is routed"
served /moved
ok $? "the first service keeps its route"

# Restarting flowproxy rebuilds the same configuration from the swarm.
before=$(routing)
like "$before" "use_backend ${WEB}-be80_0" "the configuration before the restart has the routes"
old=$(containers "$FP")
is_set "$old" "flowproxy's container before the restart is known"
docker service update -d --force "$FP" >/dev/null 2>&1
restarted() { local c; c=$(containers "$FP"); [ -n "$c" ] && [ "$c" != "$old" ] && initialized; }
wait_for 120 restarted
ok $? "flowproxy restarted in a new container"
same() { [ "$(routing)" = "$before" ]; }
wait_for 60 same
ok $? "after the restart flowproxy rebuilt the same configuration from the swarm"
[ "$(routing)" = "$before" ] || diff <(echo "$before") <(routing) | sed 's/^/#   /'
like "$(status_json)" '"reloads":0,' "it started HAProxy once with every service (no reload)"
served /moved && served /other
ok $? "both services are served after the restart"

# Restarting dockerd loses nothing: every container restarts (swarm mode has no live restore),
# tasks come back with new addresses, flowproxy comes back and routes them all.
dpid=$(pidof dockerd | awk '{print $1}')
if [ -n "$dpid" ]; then
	mapfile -d '' dcmd <"/proc/$dpid/cmdline"
	# Its children (the containerd it manages) must be gone too before a new one starts.
	children=$(awk -v p="$dpid" '$4 == p {print $1}' /proc/[0-9]*/stat 2>/dev/null)
	restart_at=$(date +%s)
	kill -TERM "$dpid"
	for p in $dpid $children; do
		for _ in $(seq 600); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	done
	# A supervisor may start it again by itself; start it only if nothing did.
	sleep 1
	if ! pidof dockerd >/dev/null; then
		(setsid "${dcmd[@]}" </dev/null >>/tmp/flowproxy-dockerd.log 2>&1 &)
	fi
	engine_up() { [ "$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null)" = active ]; }
	wait_for 120 engine_up
	ok $? "dockerd restarted (same command line) and is back in the swarm"
else
	ok 1 "dockerd runs on this machine (needed to restart it)"
fi
back() { clean_stale_vxlan; api_up && served /moved && served /other; }
wait_for 180 back
ok $? "after the dockerd restart both services are served again"
same_routes() { [ "$(routing | grep -v '^[0-9]')" = "$(echo "$before" | grep -v '^[0-9]')" ]; }
wait_for 60 same_routes
ok $? "with the same routes and backends"
two_again() { [ "$(ready_servers "$be")" = 2 ] && [ "$(containers "$WEB" | wc -l)" = 2 ]; }
wait_for 90 two_again
ok $? "and one ready server per task"
# Every container running now (flowproxy's, the tasks') started after dockerd was stopped.
started=$( (containers "$FP"; containers "$WEB") | xargs docker inspect -f '{{.State.StartedAt}}')
old_ones=$(for s in $started; do [ "$(date -d "$s" +%s)" -ge "${restart_at:-0}" ] || echo "$s"; done)
[ -n "$started" ] && [ -z "$old_ones" ]
ok $? "flowproxy and the tasks all run in restarted containers"
[ -z "$old_ones" ] || diag "restart at $(date -u -d @"$restart_at") ; started: $started"
is "$(names 20 /moved)" "$(containers "$WEB" | cut -c1-12)" "requests reach the new tasks"
wait_for 30 reported
ok $? "the broken service is still reported"

# Removing a service removes its route.
docker service rm "$OTHER" >/dev/null
wait_for 60 not_served /other
ok $? "removing a service removes its route"
served /moved
ok $? "the other service keeps its route"

# flowproxy stops cleanly; with a sanitizer build its report would be in the logs.
docker service scale -d "$FP=0" >/dev/null 2>&1
stopped() { [ -z "$(containers "$FP")" ]; }
wait_for 60 stopped
last=$(docker ps -aq --filter "label=com.docker.swarm.service.name=$FP" | head -1)
is "$(docker inspect -f '{{.State.ExitCode}}' "$last" 2>&1)" 0 "flowproxy exits 0 on SIGTERM"
# The last container's own log is complete once it exited (the service's log may still lag).
last_log=$(docker logs "$last" 2>&1)
like "$last_log" "signal 15: stopping" "its logs run to the end"
logs=$(docker service logs "$FP" 2>&1; echo "$last_log")
unlike "$logs" "AddressSanitizer|LeakSanitizer|runtime error:" "no sanitizer report in flowproxy's logs"

done_testing
