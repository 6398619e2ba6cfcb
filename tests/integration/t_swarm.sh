#!/usr/bin/env bash
# The swarm provider against the real Docker Engine (one-node swarm): a labelled service is
# routed to its tasks' addresses, scaling re-points server slots without a reload, a label change
# re-routes with one reload, a broken label is reported and skipped, removal deletes the route.
# flowproxy runs on the host here, so no request is sent to the tasks (their addresses are
# private): HAProxy's configuration and runtime state are read instead. t_e2e.sh runs flowproxy
# in a container on the overlay network and sends requests through it.
set -u
. "$(dirname "$0")/lib.sh"

need_swarm_images
NET=fp-it-net-$$
SVC=fp-it-web-$$
BAD=fp-it-bad-$$
docker network create -d overlay "$NET" >/dev/null
swarm_cleanup() {
	docker service rm "$SVC" "$BAD" >/dev/null 2>&1
	for _ in $(seq 50); do docker network rm "$NET" >/dev/null 2>&1 && break; sleep 0.2; done
}
trap 'swarm_cleanup; cleanup' EXIT

# A receiver for the Swarm Listener's notifications: it records each request line.
NPORT=$(free_port)
cat >"$T/receiver.sh" <<EOS
#!/bin/sh
head -1 >>"$T/notified"
printf 'HTTP/1.0 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n'
EOS
chmod +x "$T/receiver.sh"
socat "TCP-LISTEN:$NPORT,bind=127.0.0.1,fork,reuseaddr" EXEC:"$T/receiver.sh" &
pids+=($!)
SWARM=true SWARM_NETWORKS=$NET RESYNC_INTERVAL=5 \
	DF_NOTIFY_CREATE_SERVICE_URL="http://127.0.0.1:$NPORT/create" \
	DF_NOTIFY_REMOVE_SERVICE_URL="http://127.0.0.1:$NPORT/remove" \
	fp_start || { ok 1 "flowproxy starts"; done_testing; }
ok 0 "flowproxy starts in swarm mode"

docker service create -d --name "$SVC" --network "$NET" --replicas 1 \
	--label com.df.notify=true --label com.df.servicePath=/web --label com.df.port=80 \
	flowproxy-testserver:local >/dev/null 2>&1
addrs() { docker service ps -q --filter desired-state=running "$SVC" | xargs -r docker inspect \
	--format '{{range .NetworksAttachments}}{{if eq .Network.Spec.Name "'"$NET"'"}}{{range .Addresses}}{{.}} {{end}}{{end}}{{end}}' |
	tr ' ' '\n' | sed 's#/.*##' | grep . | sort; }
wait_for() { # <seconds> <command...>
	local end=$((SECONDS + $1))
	shift
	while [ $SECONDS -lt $end ]; do "$@" && return 0; sleep 0.25; done
	return 1
}
be="${SVC}-be80_0"
has_route() { api /v1/docker-flow-proxy/config | grep -q "use_backend $be"; }
# The negative checks below hold only while the API answers with a configuration.
no_route() {
	local cfg
	cfg=$(api /v1/docker-flow-proxy/config)
	[ "$(astatus)" = 200 ] && printf '%s' "$cfg" | grep -q '^frontend ' &&
		! printf '%s' "$cfg" | grep -q "use_backend $be"
}
# running_servers <backend>: how many of its servers HAProxy has running (srv_op_state 2); fails
# (prints nothing) when the stats socket does not answer with the backend's server lines, so that
# "0 running" is never read from an empty answer.
running_servers() {
	local out
	out=$(echo "show servers state $1" | socat -t2 - "UNIX-CONNECT:$T/run/stats.sock" 2>/dev/null)
	printf '%s\n' "$out" | awk -v be="$1" 'NR > 2 && $2 == be {n++} END {if (n) exit 0; exit 1}' ||
		return 1
	printf '%s\n' "$out" | awk 'NR > 2 && $6 == 2' | wc -l
}
wait_for 60 has_route; ok $? "a new service is routed"
a1=$(addrs)
is_set "$a1" "the task has an address on $NET"
wait_for 30 bash -c "curl -s 'http://127.0.0.1:$APORT/v1/docker-flow-proxy/config' | grep -q 'server ${SVC}_1 $a1:80'"
ok $? "its server is the task's address ($a1)"
notified_create() { grep -q "GET /create?distribute=true&port=80&replicas=1&serviceName=$SVC&servicePath=%2Fweb" "$T/notified" 2>/dev/null; }
wait_for 30 notified_create; ok $? "DF_NOTIFY_CREATE_SERVICE_URL told, with the Listener's parameters"
gs=$(api /v1/docker-flow-swarm-listener/get-services)
like "$gs" "\\{\"distribute\":\"true\",\"port\":\"80\",\"replicas\":\"1\",\"serviceName\":\"$SVC\",\"servicePath\":\"/web\"\\}" "get-services answers the Listener's maps"

w1=$(worker_pid)
is_set "$w1" "the worker before scaling is known"
docker service scale -d "$SVC=3" >/dev/null
three() { [ "$(addrs | wc -l)" = 3 ] && [ "$(running_servers "$be")" = 3 ]; }
wait_for 90 three; ok $? "scaling 1 -> 3: three servers running in HAProxy"
is "$(worker_pid)" "$w1" "scaling causes no reload (same worker)"
a3=$(addrs)
is "$(printf '%s\n' "$a3" | grep -c .)" 3 "three task addresses to look for"
for a in $a3; do
	grep -q " $a:80$" "$T/cfg/haproxy.cfg"; ok $? "the file carries task address $a"
done

docker service scale -d "$SVC=1" >/dev/null
one() { [ "$(running_servers "$be")" = 1 ]; }
wait_for 90 one; ok $? "scaling 3 -> 1: one server left running"
is "$(worker_pid)" "$w1" "scaling down causes no reload"

docker service scale -d "$SVC=0" >/dev/null
zero() { [ "$(running_servers "$be")" = 0 ]; }
wait_for 90 zero; ok $? "scaling to 0: no server left running"
has_route; ok $? "scaling to 0 keeps the route (it is not a removal)"
is "$(worker_pid)" "$w1" "scaling to 0 causes no reload"

docker service update -d --label-add com.df.servicePath=/moved "$SVC" >/dev/null
moved() { api /v1/docker-flow-proxy/config | grep -q "path_beg /moved"; }
wait_for 60 moved; ok $? "a label change re-routes"
# The API has the new configuration before the new worker has taken over: wait for it.
new_worker() { w2=$(worker_pid) && [ -n "$w1" ] && [ "$w2" != "$w1" ]; }
wait_for 30 new_worker; ok $? "a label change reloads ($w1 -> $w2)"

docker service create -d --name "$BAD" --network "$NET" --replicas 1 \
	--label com.df.notify=true --label 'com.df.servicePath=/bad path' --label com.df.port=80 \
	flowproxy-testserver:local >/dev/null 2>&1
logged() { grep -q "service '$BAD' skipped: .*servicePath" "$T/flowproxy.log"; }
wait_for 60 logged; ok $? "a service with a broken label is logged with its name and label"
st=$(api /v1/flowproxy/status)
# The engine is shared: other labelled services (another test run's) may be there too.
like "$st" "\"rejected\":\[[^]]*\{\"serviceName\":\"$BAD\",\"message\":\"servicePath '/bad path' must not contain spaces\"\}" \
	"the status API reports it"
nsvc=$(docker service ls -q --filter label=com.df.notify=true | wc -l)
like "$st" "\"swarm\":\{\"dockerApi\":\"1\.[0-9]+\",\"services\":$nsvc,.*\"events\":\{\"connected\":true" \
	"the status API shows the swarm's state ($nsvc labelled services)"
has_route; ok $? "the other service keeps its route"

docker service rm "$SVC" >/dev/null
wait_for 60 no_route; ok $? "removing the service removes its route"
docker service rm "$BAD" >/dev/null
unreported() {
	local st
	st=$(api /v1/flowproxy/status)
	[ "$(astatus)" = 200 ] && printf '%s' "$st" | grep -q '"rejected":' && ! printf '%s' "$st" | grep -q "$BAD"
}
wait_for 60 unreported; ok $? "a removed broken service is no longer reported"
notified_remove() { grep -q "GET /remove?distribute=true&port=80&serviceName=$SVC&servicePath=%2Fmoved" "$T/notified" 2>/dev/null; }
wait_for 30 notified_remove; ok $? "DF_NOTIFY_REMOVE_SERVICE_URL told about the removal"

done_testing
