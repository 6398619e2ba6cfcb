#!/usr/bin/env bash
# HAProxy supervision: a killed master is restarted; a flowproxy restart adopts the running
# HAProxy without dropping the routes it serves; start-up services from DFP_SERVICE_* and a
# services file, the DFP entry point (argv[0] docker-flow-proxy).
set -u
. "$(dirname "$0")/lib.sh"

backend a; PA=$BACKEND_PORT
backend b; PB=$BACKEND_PORT
cat >"$T/services.json" <<JSON
{"services": [
  {"serviceName": "filesvc", "servicePath": "/file", "port": $PA, "outboundHostname": "127.0.0.1"},
  {"serviceName": "broken", "servicePath": "/broken x", "port": $PA}
]}
JSON
export DFP_SERVICE_SERVICE_NAME=envsvc DFP_SERVICE_SERVICE_PATH=/env DFP_SERVICE_PORT=$PB \
	DFP_SERVICE_OUTBOUND_HOSTNAME=127.0.0.1
export DFP_SERVICE_1_SERVICE_NAME=envsvc1 DFP_SERVICE_1_SERVICE_PATH=/other DFP_SERVICE_1_PORT=$PA \
	DFP_SERVICE_1_OUTBOUND_HOSTNAME=127.0.0.1
ln -s "$FLOWPROXY" "$T/docker-flow-proxy"
FP_BIN=$T/docker-flow-proxy fp_start --services-file "$T/services.json" || { ok 1 "starts"; done_testing; }
ok 0 "docker-flow-proxy server starts"
like "$(get /file)" '^name=a' "services file service routed"
like "$(get /env)" '^name=b' "DFP_SERVICE_* service routed"
like "$(get /other)" '^name=a' "DFP_SERVICE_1_* service routed"
json=$(api '/v1/docker-flow-proxy/config?type=json')
like "$json" '"envsvc":\{[^}]*"Replicas":-1' "a DFP_SERVICE_* service has DFP's Replicas -1"
like "$json" '"envsvc":\{.*"IsGlobal":false' "and is not global"
like "$(cat "$T/flowproxy.log")" "service 'broken' skipped: .*servicePath" "an invalid file entry is logged with service and parameter"
get /broken >/dev/null
is "$(hstatus)" 503 "the invalid entry is not routed"

# Kill the master: flowproxy restarts it.
m1=$(master_pid)
is_set "$m1" "HAProxy's master is known"
kill -9 "$m1"
for _ in $(seq 250); do
	m2=$(master_cmd "show proc" 2>/dev/null | awk '$2 == "master" {print $1}')
	[ -n "$m2" ] && [ "$m2" != "$m1" ] && break
	sleep 0.02
done
[ -n "$m1" ] && [ -n "$m2" ] && [ "$m2" != "$m1" ]; ok $? "a killed master is restarted ($m1 -> $m2)"
for _ in $(seq 100); do get /file >/dev/null; [ "$(hstatus)" = 200 ] && break; sleep 0.05; done
like "$(get /file)" '^name=a' "routing works again after the restart"
like "$(cat "$T/flowproxy.log")" "master.*(exit|died|killed|signal)" "the restart is logged"

# Restart flowproxy hard: HAProxy keeps serving, the new flowproxy adopts it.
api "/v1/docker-flow-proxy/reconfigure?serviceName=late&servicePath=/late&port=$PB&outboundHostname=127.0.0.1" >/dev/null
kill -9 "$FP_PID"
wait "$FP_PID" 2>/dev/null
FP_PID=
like "$(get /late)" '^name=b' "HAProxy keeps serving while flowproxy is down"
FP_BIN=$T/docker-flow-proxy fp_start --services-file "$T/services.json" || ok 1 "restart"
m3=$(master_pid)
is "$m3" "$m2" "the restarted flowproxy adopts the running master"
like "$(get /file)" '^name=a' "after adoption, start-up services routed"

done_testing
