#!/usr/bin/env bash
# The DFP HTTP API: shapes, status codes, config in text and JSON, reload, remove, validation
# errors, coalescing of concurrent reconfigures.
set -u
. "$(dirname "$0")/lib.sh"

backend a; PA=$BACKEND_PORT
fp_start || { ok 1 "flowproxy starts"; done_testing; }

out=$(api /v1/docker-flow-proxy/ping)
is "$(astatus)" 200 "ping answers 200"
like "$out" '^\{"Status":"OK","Message":"","ServiceName":"","AclName":""' "ping has DFP's Response shape"
like "$out" '"ServiceDest":null' "ping: ServiceDest null as in Go"
is "$(api /v1/docker-flow-proxy/successfulinitreload; echo "$(astatus)")" "200" "successfulinitreload is 200 once HAProxy runs"
like "$(api /v1/test)" '"Message":"Test v1"' "/v1/test"
like "$(api /v2/test)" '"Message":"Test v2"' "/v2/test"
out=$(api /v1/nothing)
is "$(astatus)" 404 "unknown path: 404"
is "$out" "404 page not found" "unknown path: mux's text"

out=$(api "/v1/docker-flow-proxy/reconfigure?servicePath=/a&port=1")
is "$(astatus)" 400 "missing serviceName: 400"
like "$out" '"Message":"serviceName parameter is mandatory."' "missing serviceName: DFP's message"
out=$(api "/v1/docker-flow-proxy/reconfigure?serviceName=x&port=1")
is "$(astatus)" 409 "http without path or domain: 409"
like "$out" 'servicePath or serviceDomain are mandatory' "409: DFP's message"
out=$(api "/v1/docker-flow-proxy/reconfigure?serviceName=x&servicePath=/x")
is "$(astatus)" 400 "missing port: 400"
like "$out" 'the port query is mandatory' "missing port: DFP's message"
# As DFP, a refused reconfigure echoes the service as it was read.
like "$out" '"AclName":"x"' "missing port: the parsed service is echoed (AclName)"
like "$out" '"ServicePath":\["/x"\]' "missing port: the parsed service is echoed (ServicePath)"

out=$(api "/v1/docker-flow-proxy/reconfigure?serviceName=svca&servicePath=/a&port=$PA&outboundHostname=127.0.0.1&addReqHeader=X-A%201")
is "$(astatus)" 200 "reconfigure: 200"
like "$out" '"Status":"OK","Message":"","ServiceName":"svca"' "reconfigure echoes the service name"
like "$out" '"ServicePath":\["/a"\]' "reconfigure echoes the parsed destination"

cfg=$(api /v1/docker-flow-proxy/config)
is "$(astatus)" 200 "config: 200"
like "$cfg" "backend svca-be${PA}_0" "config text has the backend with DFP's name"
like "$cfg" "acl url_svca${PA}_0 path_beg /a" "config text has DFP's ACL"
is "$cfg" "$(cat "$T/cfg/haproxy.cfg")" "config is the file HAProxy runs"
ctype=$(curl -s -o /dev/null -w '%{content_type}' "http://127.0.0.1:$APORT/v1/docker-flow-proxy/config")
like "$ctype" 'text/html' "config text has DFP's content type"
js=$(api "/v1/docker-flow-proxy/config?type=json")
like "$js" '^\{"svca":\{' "config?type=json is a map by service name"
like "$js" '"AddReqHeader":\["X-A 1"\]' "config?type=json carries the parameters"

w1=$(worker_pid)
is_set "$w1" "reload: the worker before is known"
out=$(api /v1/docker-flow-proxy/reload)
is "$(astatus)" 200 "reload: 200"
w2=$(worker_pid)
is_set "$w2" "reload: the worker after is known"
[ -n "$w1" ] && [ -n "$w2" ] && [ "$w1" != "$w2" ]; ok $? "reload: a new HAProxy worker runs ($w1 -> $w2)"

w1=$(worker_pid)
is_set "$w1" "the worker before an identical reconfigure is known"
api "/v1/docker-flow-proxy/reconfigure?serviceName=svca&servicePath=/a&port=$PA&outboundHostname=127.0.0.1&addReqHeader=X-A%201" >/dev/null
is "$(worker_pid)" "$w1" "an identical reconfigure causes no reload"

out=$(api "/v1/docker-flow-proxy/remove")
is "$(astatus)" 400 "remove without serviceName: 400"
like "$out" 'The serviceName query is mandatory' "remove: DFP's message"
out=$(api "/v1/docker-flow-proxy/remove?serviceName=ghost")
is "$(astatus)" 200 "remove of an unknown service: 200"
is "$(worker_pid)" "$w1" "remove of an unknown service: no reload"

# Coalescing: 20 concurrent reconfigures, fewer reloads than calls, every route served.
r0=$(master_reloads)
is_num "$r0" "the master's reload counter before"
cpids=()
for i in $(seq 20); do
	curl -s -m 60 -o "$T/c$i" -w '%{http_code}' "http://127.0.0.1:$APORT/v1/docker-flow-proxy/reconfigure?serviceName=c$i&servicePath=/c$i&port=$PA&outboundHostname=127.0.0.1" >"$T/s$i" &
	cpids+=($!)
done
wait "${cpids[@]}"
r1=$(master_reloads)
is_num "$r1" "the master's reload counter after"
okc=0
for i in $(seq 20); do [ "$(cat "$T/s$i")" = 200 ] && okc=$((okc + 1)); done
is "$okc" 20 "20 concurrent reconfigures all answered 200"
# At least one reload (20 new services), fewer than one per call.
[ -n "$r0" ] && [ -n "$r1" ] && [ "$r1" -gt "$r0" ] && [ $((r1 - r0)) -lt 20 ]
ok $? "concurrent reconfigures coalesced: $((${r1:-0} - ${r0:-0})) reloads for 20 calls"
served=0
for i in $(seq 20); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PPORT/c$i")" = 200 ] && served=$((served + 1))
done
is "$served" 20 "every coalesced service is routed"

# A batch with one bad service: the others land, the bad one gets the error.
cpids=()
api "/v1/docker-flow-proxy/reconfigure?serviceName=good1&servicePath=/good1&port=$PA&outboundHostname=127.0.0.1" >/dev/null &
cpids+=($!)
api "/v1/docker-flow-proxy/reconfigure?serviceName=bad&aclName=svca&servicePath=/bad&port=$PA&outboundHostname=127.0.0.1" >"$T/bad.out" &
cpids+=($!)
api "/v1/docker-flow-proxy/reconfigure?serviceName=good2&servicePath=/good2&port=$PA&outboundHostname=127.0.0.1" >/dev/null &
cpids+=($!)
wait "${cpids[@]}"
like "$(cat "$T/bad.out")" '"Status":"NOK".*bad' "in a batch, the bad service gets NOK naming it"
is "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PPORT/good1")" 200 "in a batch, good1 lands"
is "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PPORT/good2")" 200 "in a batch, good2 lands"

# Docker Flow Proxy's ZombieProcesses case: three quick reconfigures, then only the master and
# one worker are left (old workers go as soon as they are idle, not after hard-stop-after).
for i in 1 2 3; do
	api "/v1/docker-flow-proxy/reconfigure?serviceName=z$i&servicePath=/z$i&port=$PA&outboundHostname=127.0.0.1" >/dev/null
	is "$(astatus)" 200 "quick reconfigure $i"
done
mp=$(master_pid)
is_set "$mp" "the master is known"
sleep 5
procs=$(pgrep -c -P "$mp" -x haproxy)
is "$procs" 1 "5 s later the master has one worker left (DFP's ZombieProcesses case)"
is "$(master_cmd "show proc" | grep -c '^# old workers')" 0 "and no old worker"

# Stopping while a reconfigure waits for HAProxy (its master stopped meanwhile): flowproxy
# exits cleanly, and the waiting client sees its connection closed.
mp=$(master_cmd "show proc" | awk '$2 == "master" {print $1}')
kill -STOP "$mp"
curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$APORT/v1/docker-flow-proxy/reconfigure?serviceName=late&servicePath=/late&port=$PA&outboundHostname=127.0.0.1" >"$T/late.code" &
late=$!
sleep 0.5
kill -TERM "$FP_PID"
kill -CONT "$mp"
wait "$FP_PID"
is "$?" 0 "SIGTERM while a reconfigure is suspended: flowproxy exits 0"
FP_PID=
wait "$late"
is "$(cat "$T/late.code")" 000 "the suspended request's connection is closed unanswered"

done_testing
