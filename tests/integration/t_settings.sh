#!/usr/bin/env bash
# Settings (DFP's environment variables) proven through a real HAProxy: every variable that
# changes the rendered configuration is set to a non-default value and its effect is observed on
# the wire, on HAProxy's stats socket or in flowproxy's output. Compatible settings share one
# flowproxy start (each costs a HAProxy start): one for most of them (stats port, EXTRA_*,
# BIND_PORTS, RESOLVERS, timeouts, hard-stop, DEBUG, capture, compression, CHECK_RESOLVERS), one
# for a custom base template with a stats page in defaults (STATS_*_ENV, DEBUG_ERRORS_ONLY,
# TERMINATE_ON_RELOAD, DISPLAY_CONFIG_ON_ERROR, SKIP_ADDRESS_VALIDATION), one for a tcp frontend
# (DEFAULT_REQ_MODE, TIMEOUT_CLIENT, DEFAULT_PROTOCOL); refused values need no HAProxy.
set -u
. "$(dirname "$0")/lib.sh"

backend a; PA=$BACKEND_PORT
backend b; PB=$BACKEND_PORT
SLOWCLIENT=$SRC/tests/integration/slowclient.py

recon() { api "/v1/docker-flow-proxy/reconfigure?$1"; }
stats_cmd() { echo "$1" | socat -t5 - "UNIX-CONNECT:$T/run/stats.sock"; }
fp_stop() {
	kill -TERM "$FP_PID" 2>/dev/null
	wait "$FP_PID" 2>/dev/null
	FP_PID=
	PPORT= APORT=
	rm -rf "$T/run" "$T/cfg"
}

# --- start 1: most settings at once ---
SPORT=$(free_port)
XPORT=$(free_port)
STATS_USER=admin STATS_PASS=s3cret STATS_URI=/mystats STATS_PORT=$SPORT \
	EXTRA_GLOBAL='node fp-settings-node, description settings under test' \
	EXTRA_FRONTEND='http-response set-header X-Extra-Frontend yes' \
	BIND_PORTS=$XPORT \
	RESOLVERS='nameserver dnsone 127.0.0.1:53,nameserver dnstwo 127.0.0.2:5353' \
	HARD_STOP_AFTER=2s TIMEOUT_SERVER=1 TIMEOUT_HTTP_REQUEST=1 \
	DEBUG=true CAPTURE_REQUEST_HEADER=X-Trace:16,Referer:5 CHECK_RESOLVERS=true \
	COMPRESSION_ALGO=gzip COMPRESSION_TYPE='text/plain text/html' \
	fp_start || { ok 1 "flowproxy starts with non-default settings"; done_testing; }
ok 0 "flowproxy starts with non-default settings"

# Stats page on its own port and URI, behind basic auth.
curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SPORT/mystats" >"$T/code"
is "$(cat "$T/code")" 401 "STATS_PORT/STATS_URI: the stats page asks for credentials"
curl -s -o "$T/stats.html" -w '%{http_code}' -u admin:s3cret "http://127.0.0.1:$SPORT/mystats" >"$T/code"
is "$(cat "$T/code")" 200 "STATS_USER/STATS_PASS: the right credentials open the stats page"
like "$(cat "$T/stats.html")" 'Statistics Report' "the stats page is HAProxy's report"
curl -s -o /dev/null -w '%{http_code}' -u admin:wrong "http://127.0.0.1:$SPORT/mystats" >"$T/code"
is "$(cat "$T/code")" 401 "STATS_PASS: a wrong password is refused"
get /mystats -u admin:s3cret >/dev/null
is "$(hstatus)" 503 "STATS_PORT: the stats page is not on the main port"

# EXTRA_GLOBAL: both comma-separated lines reach global (show info prints node and description).
info=$(stats_cmd "show info")
like "$info" '^Node: fp-settings-node' "EXTRA_GLOBAL: first line (node) in global"
like "$info" '^Description: settings under test' "EXTRA_GLOBAL: second line (description) in global"

# RESOLVERS: the lines of resolvers docker.
res=$(stats_cmd "show resolvers docker")
like "$res" 'nameserver dnsone' "RESOLVERS: first nameserver"
like "$res" 'nameserver dnstwo' "RESOLVERS: second nameserver"

# EXTRA_FRONTEND: a response header set in frontend services.
recon "serviceName=svca&servicePath=/a&port=$PA&outboundHostname=127.0.0.1" >/dev/null
is "$(astatus)" 200 "a service on the default port"
hdrs=$(curl -s -D - -o /dev/null "http://127.0.0.1:$PPORT/a")
like "$hdrs" '^HTTP/1.1 200' "the service answers through the default port"
like "$hdrs" 'X-Extra-Frontend: yes' "EXTRA_FRONTEND: the frontend's set-header is applied"

# COMPRESSION_ALGO/COMPRESSION_TYPE: text/plain answers are gzipped for a client that accepts it.
hdrs=$(curl -s -D - -o "$T/gz" -H 'Accept-Encoding: gzip' "http://127.0.0.1:$PPORT/a")
like "$hdrs" 'Content-Encoding: gzip' "COMPRESSION_ALGO=gzip: the answer is compressed"
like "$(gzip -dc <"$T/gz" 2>&1)" '^name=a path=/a' "the compressed answer is the backend's"
hdrs=$(curl -s -D - -o /dev/null "http://127.0.0.1:$PPORT/a")
unlike "$hdrs" 'Content-Encoding' "no compression for a client without Accept-Encoding"

# DEBUG: one line per request on stdout, in HAProxy's httplog format, with the headers of
# CAPTURE_REQUEST_HEADER.
curl -s -o /dev/null -H 'X-Trace: trace-abc' "http://127.0.0.1:$PPORT/a/debugged"
for _ in $(seq 100); do grep -q 'HAPRoxy: .*/a/debugged' "$T/flowproxy.log" && break; sleep 0.02; done
line=$(grep 'HAPRoxy: .*/a/debugged' "$T/flowproxy.log" | head -1)
like "$line" "^HAPRoxy: 127\.0\.0\.1:[0-9]+ \[[^]]+\] services svca-be${PA}_0/svca [0-9/]+ 200 " \
	"DEBUG: the request's line is printed (client, frontend, backend/server, status)"
like "$line" '\{trace-abc\|\} .*"GET /a/debugged HTTP/1.1"$' \
	"CAPTURE_REQUEST_HEADER: the captured header is in the line, then the request"
unlike "$(grep 'HAPRoxy:' "$T/flowproxy.log" | head -1)" 'fp1 ' "DEBUG: the telemetry fields are not printed"

# CHECK_RESOLVERS: every server is health-checked (a plain TCP check here).
for _ in $(seq 50); do stats_cmd "show stat" | grep "^svca-be${PA}_0,svca," | grep -q L4OK && break; sleep 0.05; done
like "$(stats_cmd "show stat" | grep "^svca-be${PA}_0,svca,")" 'L4OK' "CHECK_RESOLVERS=true: the server is checked"

# BIND_PORTS: an extra port of frontend services, where a srcPort service is routed.
recon "serviceName=svcx&servicePath=/x&srcPort=$XPORT&port=$PB&outboundHostname=127.0.0.1" >/dev/null
is "$(astatus)" 200 "a service with srcPort on the BIND_PORTS port"
body=$(curl -s "http://127.0.0.1:$XPORT/x/1")
like "$body" '^name=b path=/x/1' "BIND_PORTS: the extra port answers, srcPort routes to b"
get /x/1 >/dev/null
is "$(hstatus)" 503 "srcPort: the service is not routed on the default port"
like "$(curl -s "http://127.0.0.1:$XPORT/a")" '^name=a' "BIND_PORTS: a service without srcPort answers there too"

# Regex values reach HAProxy with their backslashes: \d and \. mean what they mean in PCRE.
recon "serviceName=rx&servicePath=^/v%5Cd%2B/file%5C.txt$&pathType=path_reg&port=$PB&outboundHostname=127.0.0.1" >/dev/null
is "$(astatus)" 200 "path_reg with \\d and \\. accepted"
like "$(get /v12/file.txt)" '^name=b path=/v12/file.txt' "path_reg: \\d+ matches digits, \\. a dot"
get /v12/fileXtxt >/dev/null
is "$(hstatus)" 503 "path_reg: \\. does not match any character"
get /vab/file.txt >/dev/null
is "$(hstatus)" 503 "path_reg: \\d does not match letters"
recon "serviceName=rr&servicePath=/rr&reqPathSearchReplace=^/rr/%5Cd%2B%5C.json,/n/num&port=$PA&outboundHostname=127.0.0.1" >/dev/null
is "$(astatus)" 200 "reqPathSearchReplace with \\d and \\. accepted"
like "$(get /rr/42.json)" '^name=a path=/n/num' "reqPathSearchReplace: \\d+ and \\. match as in PCRE"
like "$(get /rr/42xjson)" '^name=a path=/rr/42xjson' "reqPathSearchReplace: \\. matches only a dot"

# TIMEOUT_SERVER: a slow answer gets 504, a fast one passes.
get "/a?delay=1500" >/dev/null
is "$(hstatus)" 504 "TIMEOUT_SERVER=1: a 1.5 s answer times out with 504"
get "/a?delay=10" >/dev/null
is "$(hstatus)" 200 "TIMEOUT_SERVER=1: a fast answer passes"

# TIMEOUT_HTTP_REQUEST: a client that sends its head slowly gets 408 after about 1 s.
out=$(python3 "$SLOWCLIENT" drip --src 127.0.0.1 --port "$PPORT" \
	--head 'GET /a HTTP/1.1\r\nHost: x\r\nX-Slow: ' --drip 40 --interval 0.1 --max 4)
like "$out" '(closed|status=408) after=(0\.9|1\.[0-4])' "TIMEOUT_HTTP_REQUEST=1: a slow head is cut after 1 s ($out)"

# HARD_STOP_AFTER: an old worker with a request still in flight is stopped after 2 s (the
# service's own timeoutServer keeps TIMEOUT_SERVER out of the way).
recon "serviceName=long&servicePath=/long&timeoutServer=30&port=$PA&outboundHostname=127.0.0.1" >/dev/null
w1=$(worker_pid)
is_set "$w1" "hard-stop: the worker before the reload is known"
curl -s -o /dev/null -w '%{http_code}' -m 15 "http://127.0.0.1:$PPORT/long?delay=10000" >"$T/long.code" &
lpid=$!
sleep 0.3
t0=$SECONDS
recon "serviceName=other&servicePath=/other&port=$PB&outboundHostname=127.0.0.1" >/dev/null
is "$(astatus)" 200 "hard-stop: a reconfigure reloads HAProxy"
w2=$(worker_pid)
[ -n "$w1" ] && [ -n "$w2" ] && [ "$w1" != "$w2" ]; ok $? "hard-stop: a new worker serves ($w1 -> $w2)"
alive "$w1"; ok $? "hard-stop: the old worker lives on while its request is in flight"
for _ in $(seq 60); do alive "$w1" || break; sleep 0.1; done
! alive "$w1"; ok $? "HARD_STOP_AFTER=2s: the old worker is stopped (after $((SECONDS - t0)) s, not 10)"
wait "$lpid"
like "$(cat "$T/long.code")" '^(000|502)$' "hard-stop: the long request was cut, not answered"
fp_stop

# --- start 2: a custom base template (TEMPLATES_PATH + relative CFG_TEMPLATE_PATH), stats in
# defaults without credentials (none) read through STATS_*_ENV, DEBUG of errors only in a format
# of one's own, TERMINATE_ON_RELOAD, DISPLAY_CONFIG_ON_ERROR ---
mkdir -p "$T/tmpl"
cp "$SRC/templates/backend.tmpl" "$T/tmpl/"
sed 's/^    option  forwardfor$/&\n    http-response set-header X-Custom-Template mine/' \
	"$SRC/templates/haproxy.tmpl" >"$T/tmpl/custom.tmpl"
grep -q X-Custom-Template "$T/tmpl/custom.tmpl"; ok $? "the custom template differs from the stock one"
mkdir -p "$T/secrets"
echo /hidden-stats >"$T/secrets/dfp_my_stats_uri"
TEMPLATES_PATH=$T/tmpl CFG_TEMPLATE_PATH=custom.tmpl STATS_USER=admin STATS_PASS=admin \
	STATS_USER_ENV=MY_STATS_USER STATS_PASS_ENV=MY_STATS_PASS STATS_URI_ENV=MY_STATS_URI \
	MY_STATS_USER=none MY_STATS_PASS=none \
	DEBUG=true DEBUG_ERRORS_ONLY=true DEBUG_HTTP_FORMAT='custom-format %ST %{+Q}r' \
	TERMINATE_ON_RELOAD=true DISPLAY_CONFIG_ON_ERROR=true SKIP_ADDRESS_VALIDATION=false \
	fp_start || { ok 1 "flowproxy starts with a custom template"; done_testing; }
ok 0 "flowproxy starts with a custom template"
recon "serviceName=svca&servicePath=/app&port=$PA&outboundHostname=127.0.0.1" >/dev/null
hdrs=$(curl -s -D - "http://127.0.0.1:$PPORT/app")
like "$hdrs" 'name=a path=/app' "custom template: the service is routed"
like "$hdrs" 'X-Custom-Template: mine' "TEMPLATES_PATH/CFG_TEMPLATE_PATH: the custom base template is used"
body=$(get /hidden-stats)
is "$(hstatus)" 200 "STATS_*_ENV: user and password none (from MY_STATS_*): the stats page without credentials"
like "$body" 'Statistics Report' "STATS_URI_ENV: the URI from the secret dfp_my_stats_uri"
get '/admin?stats' >/dev/null
is "$(hstatus)" 503 "STATS_URI_ENV: not at the default URI"

# SKIP_ADDRESS_VALIDATION=false: a reconfigure whose address does not resolve is refused. The name
# has a label over 63 bytes, which the resolver refuses without asking any DNS server.
bad=$(printf 'x%.0s' $(seq 70)).test
out=$(recon "serviceName=unres&servicePath=/unres&port=$PA&outboundHostname=$bad")
is "$(astatus)" 500 "SKIP_ADDRESS_VALIDATION=false: an outboundHostname that does not resolve is refused"
like "$out" "Could not resolve the address '$bad' of service 'unres'" "the message names the address and the service"
get /unres >/dev/null
is "$(hstatus)" 503 "the refused service is not routed"
recon "serviceName=localhost&servicePath=/byname&port=$PA" >/dev/null
is "$(astatus)" 200 "SKIP_ADDRESS_VALIDATION=false: a serviceName that resolves (localhost) is accepted"
like "$(get /byname)" '^name=a path=/byname' "and routed"

# DEBUG_ERRORS_ONLY: a 200 is not printed, a 503 is, in DEBUG_HTTP_FORMAT.
# The reconfigure just before reloaded HAProxy; the request stream follows the new worker from
# then on, so a request may go before it does: ask again until one line comes (5 s at most).
get /app/fine >/dev/null
for _ in $(seq 100); do
	get /nowhere >/dev/null
	grep -q 'HAPRoxy: custom-format 503 "GET /nowhere' "$T/flowproxy.log" && break
	sleep 0.05
done
like "$(grep 'HAPRoxy:' "$T/flowproxy.log")" '^HAPRoxy: custom-format 503 "GET /nowhere HTTP/1.1"$' \
	"DEBUG_HTTP_FORMAT: the line in the given format"
# Now that the stream follows the worker: a 200, then a 503 as a marker; the marker is printed,
# the 200 before it is not.
get /app/fine >/dev/null
get /marker >/dev/null
for _ in $(seq 100); do grep -q 'HAPRoxy: custom-format 503 "GET /marker' "$T/flowproxy.log" && break; sleep 0.05; done
like "$(cat "$T/flowproxy.log")" 'HAPRoxy: custom-format 503 "GET /marker' "DEBUG: the marker after the 200 is printed"
unlike "$(cat "$T/flowproxy.log")" 'HAPRoxy: .*/app/fine' "DEBUG_ERRORS_ONLY: a 200 is not printed"

# TERMINATE_ON_RELOAD: the old worker is stopped at the reload, its request cut.
recon "serviceName=long&servicePath=/long&timeoutServer=30&port=$PA&outboundHostname=127.0.0.1" >/dev/null
w1=$(worker_pid)
is_set "$w1" "terminate: the worker before the reload is known"
curl -s -o /dev/null -w '%{http_code}' -m 15 "http://127.0.0.1:$PPORT/long?delay=5000" >"$T/long.code" &
lpid=$!
sleep 0.3
recon "serviceName=other&servicePath=/other&port=$PB&outboundHostname=127.0.0.1" >/dev/null
is "$(astatus)" 200 "terminate: a reconfigure reloads HAProxy"
for _ in $(seq 50); do alive "$w1" || break; sleep 0.02; done
! alive "$w1"; ok $? "TERMINATE_ON_RELOAD: the old worker is stopped at once, with a request in flight"
wait "$lpid"
like "$(cat "$T/long.code")" '^(000|502)$' "terminate: the request in flight was cut"

# DISPLAY_CONFIG_ON_ERROR: the rejected file is logged (two backends of one name here).
recon "serviceName=clash&aclName=svca&servicePath=/clash&port=$PA&outboundHostname=127.0.0.1" >/dev/null
is "$(astatus)" 400 "a configuration HAProxy rejects"
like "$(cat "$T/flowproxy.log")" "rejected haproxy.cfg:[0-9]+: backend svca-be${PA}_0" \
	"DISPLAY_CONFIG_ON_ERROR: the rejected configuration is logged"
fp_stop

# --- start 3: DEFAULT_REQ_MODE=tcp, TIMEOUT_CLIENT, an absolute CFG_TEMPLATE_PATH, DEFAULT_PROTOCOL ---
sed 's/^global$/&\n    node abs-template/' "$SRC/templates/haproxy.tmpl" >"$T/abs.tmpl"
DEFAULT_REQ_MODE=tcp CFG_TEMPLATE_PATH=$T/abs.tmpl DEFAULT_PROTOCOL=tcp TIMEOUT_CLIENT=1 \
	EXTRA_FRONTEND='tcp-request inspect-delay 10s,tcp-request content accept if { req.len gt 100000 }' \
	DFP_SERVICE_SERVICE_NAME=envtcp DFP_SERVICE_PORT=$PA DFP_SERVICE_OUTBOUND_HOSTNAME=127.0.0.1 \
	DFP_SERVICE_SERVICE_PATH=/envtcp fp_start || { ok 1 "flowproxy starts with DEFAULT_REQ_MODE=tcp"; done_testing; }
ok 0 "flowproxy starts with DEFAULT_REQ_MODE=tcp"
like "$(stats_cmd "show info")" '^Node: abs-template' "CFG_TEMPLATE_PATH: an absolute path is used as is"
like "$(cat "$T/cfg/haproxy.cfg")" 'frontend services' "the configuration has frontend services"
code=$(curl -s -o /dev/null -w '%{http_code}' -m 3 "http://127.0.0.1:$PPORT/")
is "$code" 000 "DEFAULT_REQ_MODE=tcp: the port speaks no HTTP (no 503 page, the connection closes)"
# TIMEOUT_CLIENT: a client that sends nothing while the frontend waits for content (up to 10 s)
# is cut after 1 s.
out=$(python3 "$SLOWCLIENT" drip --src 127.0.0.1 --port "$PPORT" --head 'x' --drip 0 --max 5)
like "$out" 'closed after=(0\.9|1\.[0-4])' "TIMEOUT_CLIENT=1: an idle client is cut after 1 s, not at the 10 s inspect-delay ($out)"
unlike "$(cat "$T/cfg/haproxy.cfg")" 'use_backend envtcp-be' "DEFAULT_PROTOCOL=tcp: the environment service is not an HTTP route"
like "$(cat "$T/flowproxy.log")" "envtcp.*reqMode|reqMode.*envtcp|envtcp" "DEFAULT_PROTOCOL=tcp: the environment service got reqMode tcp"
fp_stop

# --- refused values: flowproxy does not start, the message names the variable ---
refuse() { # <VAR=value> <message regex>
	local out
	out=$(env "$1" "$FLOWPROXY" server --ip 127.0.0.1 --port "$(free_port)" \
		--configs-path "$T/cfg" --run-dir "$T/run" 2>&1)
	local rc=$?
	[ "$rc" -ne 0 ]; ok $? "$1: flowproxy refuses to start"
	like "$out" "$2" "$1: the message names the variable"
}
refuse TIMEOUT_SERVER=20s 'TIMEOUT_SERVER'
refuse DEBUG=maybe 'DEBUG'
refuse CHECK_RESOLVERS=yes-please 'CHECK_RESOLVERS'
refuse COMPRESSION_ALGO=brotli "COMPRESSION_ALGO: 'brotli' is not one of"
refuse CAPTURE_REQUEST_HEADER=X-Trace 'CAPTURE_REQUEST_HEADER'
refuse DEFAULT_REQ_MODE=udp "DEFAULT_REQ_MODE: 'udp' is not one of http\|tcp"
refuse STATS_USER_ENV=not-a-name 'STATS_USER_ENV'
refuse SKIP_ADDRESS_VALIDATION=nope "SKIP_ADDRESS_VALIDATION: 'nope' is not a boolean"
refuse HARD_STOP_AFTER=soon "HARD_STOP_AFTER: 'soon' is not a time"

done_testing
