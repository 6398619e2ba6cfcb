#!/usr/bin/env bash
# Latency telemetry through a real HAProxy: a known mix of delays sent through HAProxy to a test
# backend; the stats API, /metrics and `flowproxy top` report the expected counts, quantiles and
# fractions; a reload in the middle loses no more lines than the counters admit.
set -u
. "$(dirname "$0")/lib.sh"

backend a; PA=$BACKEND_PORT
backend b; PB=$BACKEND_PORT
STATS_INTERVAL=1 fp_start || { ok 1 "flowproxy starts"; done_testing; }
api "/v1/docker-flow-proxy/reconfigure?serviceName=web&servicePath=/web&port=$PA&outboundHostname=127.0.0.1&alertIf.1=@resp_time_above:0.1,5m,0.99&alertIf.2=@resp_time_below:0.075,5m,0.75" >/dev/null
is "$(astatus)" 200 "service with alertIf labels accepted"
wait_connected() {
	for _ in $(seq 200); do
		api /v1/flowproxy/stats | grep -q '"connected":true' && return 0
		sleep 0.05
	done
	return 1
}
wait_connected; ok $? "the request stream is connected"

send() { # <count> <delay ms>
	local i
	for i in $(seq "$1"); do curl -s -o /dev/null "http://127.0.0.1:$PPORT/web/x?delay=$2"; done
}
send 60 5 &
p1=$!
send 30 150 &
p2=$!
wait $p1 $p2

# A reload in the middle of traffic: another service arrives while requests flow.
send 20 5 &
p3=$!
api "/v1/docker-flow-proxy/reconfigure?serviceName=other&servicePath=/other&port=$PB&outboundHostname=127.0.0.1" >/dev/null
is "$(astatus)" 200 "a reconfigure (reload) during traffic"
wait $p3
send 10 300

total=120
for _ in $(seq 100); do
	js=$(api /v1/flowproxy/stats)
	cnt=$(printf '%s' "$js" | sed -n 's/.*"name":"web-be[0-9]*_0","count":\([0-9]*\).*/\1/p')
	[ "${cnt:-0}" -ge $total ] && break
	sleep 0.1
done
dropped=$(printf '%s' "$js" | sed -n 's/.*"dropped":\([0-9]*\).*/\1/p')
bad=$(printf '%s' "$js" | sed -n 's/.*"bad_lines":\([0-9]*\).*/\1/p')
is_num "$cnt" "the stats API has the backend's count"
is_num "$dropped" "the stats API has the dropped counter"
is "$((${cnt:-0} + ${dropped:-0}))" "$total" "every request counted, or admitted as dropped (count $cnt, dropped $dropped)"
is "$cnt" "$total" "no line lost across the reload"
is "$bad" 0 "no line failed to parse"
like "$js" '"reloads":[1-9]' "the stream followed the new worker"
p50=$(printf '%s' "$js" | sed -n 's/.*"p50_ms":\([0-9.]*\).*/\1/p')
p90=$(printf '%s' "$js" | sed -n 's/.*"p90_ms":\([0-9.]*\).*/\1/p')
p99=$(printf '%s' "$js" | sed -n 's/.*"p99_ms":\([0-9.]*\).*/\1/p')
# 80 requests at 5 ms, 30 at 150 ms, 10 at 300 ms: p50 in the 5 ms group, p90 in the 150 ms
# group, p99 in the 300 ms group. The groups are far apart so that a loaded machine's extra
# milliseconds cannot move a request across a threshold.
awk -v v="$p50" 'BEGIN { exit !(v >= 5 && v < 75) }'; ok $? "p50 $p50 ms is in the 5 ms group"
awk -v v="$p90" 'BEGIN { exit !(v >= 150 && v < 250) }'; ok $? "p90 $p90 ms is in the 150 ms group"
awk -v v="$p99" 'BEGIN { exit !(v >= 300 && v < 400) }'; ok $? "p99 $p99 ms is in the 300 ms group"
f100=$(printf '%s' "$js" | sed -n 's/.*{"le_s":0.1,"fraction":\([0-9.]*\)}.*/\1/p')
is "$f100" "0.667" "fraction at or under 0.1 s (the alertIf threshold) is 80/120"
f75=$(printf '%s' "$js" | sed -n 's/.*{"le_s":0.075,"fraction":\([0-9.]*\)}.*/\1/p')
is "$f75" "0.667" "fraction at or under 0.075 s is 80/120"
like "$js" '"servers_up":1' "servers from show stat"

m=$(curl -s "http://127.0.0.1:$APORT/metrics")
like "$m" "http_server_resp_time_bucket\\{job=\"web\",backend=\"web-be${PA}_0\",code=\"200\",le=\"0.075\"\\} 80" "/metrics: bucket at the label's threshold"
like "$m" "http_server_resp_time_count\\{job=\"web\",backend=\"web-be${PA}_0\",code=\"200\"\\} 120" "/metrics: count by code"
like "$m" "haproxy_server_up\\{backend=\"web-be${PA}_0\",server=\"web\"\\} 1" "/metrics: server state"
like "$m" "flowproxy_telemetry_lines_total [0-9]+" "/metrics: stream counters"

out=$("$FLOWPROXY" top --api "http://127.0.0.1:$APORT" --once)
like "$out" "web +web-be${PA}_0 +120 " "flowproxy top prints the backend's row"

# HAProxy restarted under flowproxy: the stream reconnects and keeps counting.
mp=$(master_pid)
is_set "$mp" "HAProxy's master is known"
kill -9 "$mp"
for _ in $(seq 200); do
	curl -s -o /dev/null "http://127.0.0.1:$PPORT/web/y" && break
	sleep 0.05
done
wait_connected
send 5 1
for _ in $(seq 100); do
	js=$(api /v1/flowproxy/stats)
	c2=$(printf '%s' "$js" | sed -n 's/.*"name":"web-be[0-9]*_0","count":\([0-9]*\).*/\1/p')
	[ "${c2:-0}" -ge $((total + 5)) ] && break
	sleep 0.1
done
[ "${c2:-0}" -ge $((total + 5)) ]; ok $? "after a HAProxy restart the stream counts again ($c2)"
mp2=$(master_pid)
is_set "$mp2" "a master runs after the restart"
[ -n "$mp" ] && [ -n "$mp2" ] && [ "$mp2" != "$mp" ]; ok $? "it is a new master ($mp -> $mp2)"

done_testing
