#!/usr/bin/env bash
# The API's limits (docs/api.md "Limits"): a slow or idle client costs only its own connections.
# A flood of 3,000 half requests from one address leaves /ping and reconfigure from another
# answering at once; a client over its per-address limit has its extra connections closed while
# its first ones work; a client that sends a byte now and then is cut at the request deadline; a
# request suspended until HAProxy serves it is not. Each client role has its own loopback
# address (slowclient.py binds it): 127.0.0.1 floods, .2 is the well-behaved client, .3 goes over
# its limit, .4 trickles, and .5 joins the flood when a second flowproxy, without a per-client
# limit and with a 5 s deadline, must hold 3,000 at once and come back from its overall limit.
# slowclient.py needs only Python 3, which meson itself runs on.
set -u
. "$(dirname "$0")/lib.sh"

SLOW="python3 $SRC/tests/integration/slowclient.py"

# timed <source address> <path?query> -> "<status> <seconds>", at most 5 s.
timed() {
	curl -gs --interface "$1" -m 5 -o "$T/timed.out" -w '%{http_code} %{time_total}' \
		"http://127.0.0.1:$APORT$2"
}
# fast <"status seconds"> <name>: 200 within a second.
fast() {
	awk -v c="${1% *}" -v s="${1#* }" 'BEGIN { exit !(c == 200 && s < 1.0) }'
	ok $? "$2 (status ${1% *} in ${1#* } s)"
}
# field <json> <key> -> the number after "key":
field() { printf '%s' "$1" | grep -o "\"$2\":[0-9]*" | head -1 | cut -d: -f2; }
# flood <count> [source] -> holds count half requests from source (127.0.0.1), sets FLOOD_PID
# and $T/flood.ready (what the client saw) once all are opened.
flood() {
	rm -f "$T/flood.ready"
	$SLOW hold --src "${2:-127.0.0.1}" --port "$APORT" --count "$1" --ready "$T/flood.ready" \
		>"$T/flood.log" 2>&1 &
	FLOOD_PID=$!
	pids+=("$FLOOD_PID")
	for _ in $(seq 600); do
		[ -e "$T/flood.ready" ] && break
		sleep 0.05
	done
	diag "flood from ${2:-127.0.0.1}: $(cat "$T/flood.ready" 2>/dev/null || echo "not ready after 30 s")"
}
flood_stop() { # [pid]
	kill -TERM "${1:-$FLOOD_PID}" 2>/dev/null
	wait "${1:-$FLOOD_PID}" 2>/dev/null
}
# log_count <regex> -> lines of flowproxy's log that match
log_count() { grep -Ec -- "$1" "$T/flowproxy.log"; }

backend a; PA=$BACKEND_PORT
fp_start || { ok 1 "flowproxy starts"; done_testing; }

st=$(api /v1/flowproxy/status)
like "$st" '"api":\{"connections":[0-9]+,"connMax":4096,"connPerClient":64,"requestTimeout":10,' \
	"status shows the API's default limits"

# A normal request with a body still works, an oversized one is still refused.
head -c 3000 /dev/urandom | base64 >"$T/body"
is "$(curl -s -m 5 -o /dev/null -w '%{http_code}' --data-binary @"$T/body" \
	"http://127.0.0.1:$APORT/v1/docker-flow-proxy/ping")" 200 "a POST with a 4 KB body answers 200"
head -c 70000 /dev/zero >"$T/big"
is "$(curl -s -m 5 -o /dev/null -w '%{http_code}' --data-binary @"$T/big" \
	"http://127.0.0.1:$APORT/v1/docker-flow-proxy/ping")" 413 "a body over 64 KiB still answers 413"

# (a) 3,000 connections from 127.0.0.1, half a request line on each, held.
flood 3000
flood_t0=$(date +%s.%N)
# (c) meanwhile 127.0.0.4 sends one header byte a second; it must be cut at the deadline.
$SLOW drip --src 127.0.0.4 --port "$APORT" --drip 100 --max 20 \
	--head 'GET /v1/docker-flow-proxy/ping HTTP/1.1\r\nHost: x\r\nX-Slow: ' >"$T/drip.out" 2>&1 &
drip_pid=$!
pids+=("$drip_pid")

# (b) from another address, while the flood holds: /ping and a reconfigure answer at once.
fast "$(timed 127.0.0.2 /v1/docker-flow-proxy/ping)" "during the flood, /ping from 127.0.0.2"
fast "$(timed 127.0.0.2 "/v1/docker-flow-proxy/reconfigure?serviceName=x&servicePath=/x&port=$PA&outboundHostname=127.0.0.1")" \
	"during the flood, a reconfigure from 127.0.0.2"
like "$(get /x)" '^name=a' "the reconfigured route is served through HAProxy"
st=$(curl -s --interface 127.0.0.2 -m 5 "http://127.0.0.1:$APORT/v1/flowproxy/status")
like "$(cat "$T/flood.ready" 2>/dev/null)" '^open=3000 closed=2936 ' \
	"the flood keeps 64 connections (its limit), the other 2,936 are closed"
[ "$(field "$st" connections)" -le 70 ] 2>/dev/null
ok $? "the server holds the flood's 64 connections, not 3,000 ($(field "$st" connections) in all)"

# (d) 69 connections from 127.0.0.3: the last 5 are closed, the first 64 answer.
out=$($SLOW limit --src 127.0.0.3 --port "$APORT" --count 69)
is "$out" "open=64 closed=5 answered=64 first_closed=64" \
	"over its limit a client's extra connections are closed, its first ones answer"
is "$(log_count 'client 127\.0\.0\.1 holds 64 connections, its limit')" 1 \
	"the flood's 2,936 refusals are logged once, with its address"
is "$(log_count 'client 127\.0\.0\.3 holds 64 connections, its limit')" 1 \
	"another client over its limit is logged once too"

# (e) the flood process still holds its sockets, but the deadline (10 s from accept) has cut
# them on the server: 127.0.0.1 is served again.
while awk -v t0="$flood_t0" -v now="$(date +%s.%N)" 'BEGIN { exit !(now - t0 < 12) }'; do
	sleep 0.2
done
fast "$(timed 127.0.0.1 /v1/docker-flow-proxy/ping)" \
	"within the deadline + 2 s, the flooding address is served again"
is "$(log_count 'client 127\.0\.0\.1 did not complete a request within 10 s')" 1 \
	"the 64 connections cut at the deadline are logged once"
wait "$drip_pid"
out=$(cat "$T/drip.out")
diag "trickle: $out"
like "$out" '^closed after=(9\.[5-9]|1[01]\.)' \
	"a client sending a header byte a second is cut at the 10 s deadline (within 12 s)"
is "$(log_count 'client 127\.0\.0\.4 did not complete a request within 10 s')" 1 \
	"the trickling client is logged once, with its address"

flood_stop
fast "$(timed 127.0.0.1 /v1/docker-flow-proxy/ping)" "after the flood, /ping from 127.0.0.1"
fast "$(timed 127.0.0.1 "/v1/docker-flow-proxy/reconfigure?serviceName=y&servicePath=/y&port=$PA&outboundHostname=127.0.0.1")" \
	"after the flood, a reconfigure from 127.0.0.1"
like "$(get /y)" '^name=a' "and its route is served"
st=$(api /v1/flowproxy/status)
[ "$(field "$st" refused)" -ge 2941 ] && [ "$(field "$st" timedOut)" -ge 65 ] 2>/dev/null
ok $? "status counts the refused and the timed-out connections ($(field "$st" refused), $(field "$st" timedOut))"

# No per-client limit and a 5 s deadline: the overall limit alone must leave room.
kill -TERM "$FP_PID"
wait "$FP_PID"
FP_PID=
unset APORT PPORT
API_CONN_PER_CLIENT=0 API_REQUEST_TIMEOUT=5 fp_start ||
	{ ok 1 "flowproxy starts with API_CONN_PER_CLIENT=0"; done_testing; }
backend b; PB=$BACKEND_PORT
if [ "$(ulimit -Hn)" -ge 8192 ]; then
	flood 3000
	flood1=$FLOOD_PID
	st=$(curl -s --interface 127.0.0.2 -m 5 "http://127.0.0.1:$APORT/v1/flowproxy/status")
	[ "$(field "$st" connections)" -ge 3001 ] 2>/dev/null
	ok $? "without a per-client limit the server holds all 3,000 ($(field "$st" connections))"
	fast "$(timed 127.0.0.2 /v1/docker-flow-proxy/ping)" "with 3,000 held, /ping from 127.0.0.2"
	fast "$(timed 127.0.0.2 "/v1/docker-flow-proxy/reconfigure?serviceName=z&servicePath=/z&port=$PB&outboundHostname=127.0.0.1")" \
		"with 3,000 held, a reconfigure from 127.0.0.2"
	like "$(get /z)" '^name=b' "and its route is served"
	# 1,200 more from 127.0.0.5 fill the overall limit (4,096); once they all go, the API
	# must accept again (MHD stops listening at its limit and needs a run to resume).
	flood 1200 127.0.0.5
	is "$(log_count 'API: 4096 connections, the limit \(API_CONN_MAX\)')" 1 \
		"reaching the overall limit is logged once"
	flood_stop "$flood1"
	flood_stop
	fast "$(timed 127.0.0.2 /v1/docker-flow-proxy/ping)" \
		"after the overall limit was reached and its connections went, /ping answers"
else
	ok 0 "3,000 held # SKIP the hard open-files limit is $(ulimit -Hn)"
fi

# A request suspended until HAProxy serves it is not cut by the deadline: HAProxy's master is
# stopped for 7 s (deadline 5 s + the sweep's second + 1), the reconfigure waits, then answers.
mp=$(master_cmd "show proc" | awk '$2 == "master" {print $1}')
kill -STOP "$mp"
curl -gs -m 30 -o "$T/susp.out" -w '%{http_code} %{time_total}' \
	"http://127.0.0.1:$APORT/v1/docker-flow-proxy/reconfigure?serviceName=s&servicePath=/s&port=$PB&outboundHostname=127.0.0.1" \
	>"$T/susp.code" &
susp_pid=$!
sleep 1
fast "$(timed 127.0.0.2 /v1/docker-flow-proxy/ping)" "while a reconfigure waits for HAProxy, /ping answers"
sleep 6
kill -CONT "$mp"
wait "$susp_pid"
out=$(cat "$T/susp.code")
awk -v c="${out% *}" -v s="${out#* }" 'BEGIN { exit !(c == 200 && s >= 6.5) }'
ok $? "a reconfigure suspended past the deadline still answers 200 (status ${out% *} in ${out#* } s)"
like "$(get /s)" '^name=b' "and its route is served"

# Each request on a kept-alive connection has its own deadline, from the end of the one before.
out=$($SLOW again --src 127.0.0.4 --port "$APORT" --count 4 --interval 3 --linger --max 10)
like "$out" '^answered=4 ' "4 requests 3 s apart on one connection, 9 s in all, are all answered ($out)"
# ... and a silent one is closed by that deadline (5-6 s), before MHD's inactivity timeout (7 s).
like "$out" ' closed=[56]\.' "a kept-alive connection silent after its answer is closed at the deadline"

# The deadline covers the body: one that arrives in time is answered, one too slow is cut.
out=$($SLOW drip --src 127.0.0.4 --port "$APORT" --drip 3 --max 10 \
	--head 'POST /v1/docker-flow-proxy/ping HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n')
like "$out" '^status=200 ' "a body that arrives a byte a second within the deadline is answered ($out)"
out=$($SLOW drip --src 127.0.0.4 --port "$APORT" --drip 20 --max 15 \
	--head 'POST /v1/docker-flow-proxy/ping HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n')
like "$out" '^closed after=[4-6]\.' "a body still arriving at the 5 s deadline is cut ($out)"

done_testing
