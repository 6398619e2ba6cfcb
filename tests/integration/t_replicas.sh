#!/usr/bin/env bash
# Several flowproxy replicas as Docker Flow Proxy users run them: two instances, each with its
# own HAProxy, found as the addresses of tasks.<SERVICE_NAME> through the real resolver
# (getaddrinfo reads two /etc/hosts lines; Debian's host.conf has "multi on"). distribute=true
# on one reaches both, proven by routing through both HAProxys; the metrics CSV, concatenated;
# proxyInstanceName filtering, on the API and on labels from a (fake) Docker Engine; start-up
# from a (fake) Swarm Listener. The replicas' logs are printed on failure, or with SHOW_LOGS=1.
set -u
. "$(dirname "$0")/lib.sh"

if [ ! -w /etc/hosts ]; then
	echo "1..0 # SKIP /etc/hosts is not writable (the test names two replicas there)"
	exit 0
fi
SVC=fp-it-$RANDOM$RANDOM
TASKS=tasks.$SVC
hosts_clean() { # removes our lines, writing in place (/etc/hosts may be a bind mount)
	local kept
	kept=$(grep -v " $TASKS\$" /etc/hosts)
	printf '%s\n' "$kept" >/etc/hosts
}
trap 'hosts_clean; cleanup' EXIT
printf '127.0.0.2 %s\n127.0.0.3 %s\n' "$TASKS" "$TASKS" >>/etc/hosts
like "$(getent ahostsv4 "$TASKS" | awk '{print $1}' | sort -u | tr '\n' ' ')" \
	'^127\.0\.0\.2 127\.0\.0\.3 $' "$TASKS resolves to both replicas"

backend a; PA=$BACKEND_PORT
backend b; PB=$BACKEND_PORT
APORT=$(free_port)

# fp_run <name> <api ip> [VAR=value...]: a flowproxy replica with its own HAProxy, its frontend
# on PP_<name>, its API on <api ip>:APORT (the same port for every replica, as in a swarm).
fp_run() {
	local n=$1 ip=$2 pp
	shift 2
	pp=$(free_port)
	mkdir -p "$T/$n/cfg" "$T/$n/run"
	env SERVICE_NAME="$SVC" "$@" DEFAULT_PORTS="$pp" BIND_ADDRESS=127.0.0.1 CERTS_DIR="$T/$n/certs" \
		FLOWPROXY_SECRETS_DIR="$T/secrets" "$FLOWPROXY" server --ip "$ip" --port "$APORT" \
		--configs-path "$T/$n/cfg" --run-dir "$T/$n/run" >"$T/$n.log" 2>&1 &
	pids+=($!)
	eval "PID_$n=$! PP_$n=$pp IP_$n=$ip"
}
up() { # <ip>: the API answers ping
	curl -sf -m 2 -o /dev/null "http://$1:$APORT/v1/docker-flow-proxy/ping"
}
at() { # <ip> <path?query> -> body; status: $(astatus)
	local out
	out=$(curl -gs -m 30 -w '\n%{http_code}' "http://$1:$APORT$2")
	printf '%s' "${out##*$'\n'}" >"$T/.astatus"
	printf '%s' "${out%$'\n'*}"
}
through() { # <frontend port> <path> -> the backend's answer; status: $(hstatus)
	local out
	out=$(curl -gs -m 10 -w '\n%{http_code}' "http://127.0.0.1:$1$2")
	printf '%s' "${out##*$'\n'}" >"$T/.hstatus"
	printf '%s' "${out%$'\n'*}"
}
served() { # <ip>: HAProxy runs the first configuration
	[ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' \
		"http://$1:$APORT/v1/docker-flow-proxy/successfulinitreload")" = 200 ]
}
show() { for n in "$@"; do echo "# --- $n.log"; sed 's/^/#   /' "$T/$n.log"; done; }

# Both need API_TOKEN: the client's token is taken out of the query, and each replica sends the
# others its own, as a Bearer token.
TOK=tok-$RANDOM$RANDOM
fp_run one 127.0.0.2 API_TOKEN="$TOK"
fp_run two 127.0.0.3 API_TOKEN="$TOK" FILTER_PROXY_INSTANCE_NAME=true PROXY_INSTANCE_NAME=Edge
wait_for 20 served "$IP_one"; ok $? "replica one serves"
wait_for 20 served "$IP_two"; ok $? "replica two serves"

# --- distribute=true reaches both replicas ---------------------------------------------------
at "$IP_one" "/v1/docker-flow-proxy/reconfigure?serviceName=x&servicePath=/x&port=$PA&distribute=true" >/dev/null
is "$(astatus)" 401 "without the token: 401, nothing sent"

q="serviceName=svca&servicePath=/a&port=$PA&outboundHostname=127.0.0.1&proxyInstanceName=edge"
out=$(at "$IP_one" "/v1/docker-flow-proxy/reconfigure?$q&distribute=true&token=$TOK")
is "$(astatus)" 200 "reconfigure distribute=true: 200"
like "$out" '"Status":"OK","Message":"Distributed to all instances","ServiceName":"svca"' \
	"reconfigure distribute=true: DFP's answer"
like "$out" '"Distribute":true' "the answer's service has Distribute true"
like "$out" '"ProxyInstanceName":"edge"' "the answer echoes proxyInstanceName"
like "$(through "$PP_one" /a/x)" '^name=a path=/a/x' "routed through replica one's HAProxy"
like "$(through "$PP_two" /a/x)" '^name=a path=/a/x' "routed through replica two's HAProxy"
like "$(cat "$T/one.log")" "distribute: GET /v1/docker-flow-proxy/reconfigure of service 'svca' sent to 2 replica" \
	"replica one logs the fan-out to both"

# A service for another proxy instance: replica two (FILTER_PROXY_INSTANCE_NAME) ignores it.
q="serviceName=svcb&servicePath=/b&port=$PB&outboundHostname=127.0.0.1&proxyInstanceName=other"
out=$(at "$IP_two" "/v1/docker-flow-proxy/reconfigure?$q&distribute=true&token=$TOK")
is "$(astatus)" 200 "a service of another instance: 200 all the same"
like "$(through "$PP_one" /b)" '^name=b path=/b' "replica one (no filter) routes it"
through "$PP_two" /b >/dev/null
is "$(hstatus)" 503 "replica two (PROXY_INSTANCE_NAME=Edge) does not"
like "$(cat "$T/two.log")" "service 'svcb' ignored: its proxyInstanceName 'other' is not PROXY_INSTANCE_NAME 'Edge'" \
	"replica two says why"
# proxyInstanceName=edge matched Edge, case aside: svca went through replica two above.

# --- a refused service is sent nowhere -------------------------------------------------------
out=$(at "$IP_one" "/v1/docker-flow-proxy/reconfigure?serviceName=bad&servicePath=/bad&distribute=true&token=$TOK")
is "$(astatus)" 400 "distribute=true of an invalid service: 400 from the first replica"
unlike "$(cat "$T/two.log")" "service 'bad'" "replica two never heard of it"

# --- metrics: HAProxy's CSV, and every replica's with distribute=true --------------------------
csv=$(at "$IP_one" /v1/docker-flow-proxy/metrics)
is "$(astatus)" 200 "metrics: 200"
like "$(printf '%s' "$csv" | head -1)" '^# pxname,svname,qcur,qmax,scur' "metrics: HAProxy's CSV header"
like "$csv" $'\n''svca-be'"${PA}"'_0,BACKEND,' "metrics: the service's backend line"
csv=$(at "$IP_one" "/v1/docker-flow-proxy/metrics?distribute=true")
is "$(astatus)" 200 "metrics distribute=true: 200"
is "$(printf '%s\n' "$csv" | grep -c '^# pxname,')" 2 "metrics distribute=true: two replicas' CSV"
is "$(printf '%s\n' "$csv" | grep -c '^svcb-be')" 2 "svcb's lines come from replica one only (backend and server)"

# --- PUT /cert distribute=true: every replica loads and serves the certificate ------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=dist.test \
	-keyout "$T/dist.key" -out "$T/dist.crt" >/dev/null 2>&1
cat "$T/dist.crt" "$T/dist.key" >"$T/dist.pem"
put_cert() { # <ip> <query> -> body; status: $(astatus)
	local out
	out=$(curl -gs -m 30 -w '\n%{http_code}' -X PUT --data-binary @"$T/dist.pem" "http://$1:$APORT$2")
	printf '%s' "${out##*$'\n'}" >"$T/.astatus"
	printf '%s' "${out%$'\n'*}"
}
out=$(put_cert "$IP_one" "/v1/docker-flow-proxy/cert?certName=dist.pem&distribute=true&token=$TOK")
is "$(astatus)" 200 "PUT /cert distribute=true: 200"
like "$out" '"Status":"OK","Message":"Distributed to all instances"' "PUT /cert distribute=true: the answer"
cmp -s "$T/dist.pem" "$T/one/certs/dist.pem"; ok $? "replica one wrote the certificate"
cmp -s "$T/dist.pem" "$T/two/certs/dist.pem"; ok $? "replica two wrote the certificate"
like "$(at "$IP_two" "/v1/docker-flow-proxy/certs?token=$TOK")" '"ProxyServiceName":"dist.pem"' \
	"replica two lists it in GET /certs"
printf 'not a certificate' >"$T/bad.pem"
out=$(curl -gs -m 30 -w '\n%{http_code}' -X PUT --data-binary @"$T/bad.pem" \
	"http://$IP_one:$APORT/v1/docker-flow-proxy/cert?certName=bad.pem&distribute=true&token=$TOK")
is "${out##*$'\n'}" 400 "PUT /cert distribute=true of no certificate: 400 here, sent nowhere"
[ ! -e "$T/two/certs/bad.pem" ]; ok $? "replica two did not get it"
# A new replica takes its peers' certificates once its HAProxy runs (DFP's cert.Init).
fp_run three 127.0.0.7 API_TOKEN="$TOK" DNS_LOOKUP_PAUSE_MS=300
took() { cmp -s "$T/dist.pem" "$T/three/certs/dist.pem"; }
wait_for 20 took; ok $? "a new replica took the certificate its peers serve"
like "$(at "$IP_three" "/v1/docker-flow-proxy/certs?token=$TOK")" '"ProxyServiceName":"dist.pem"' \
	"the new replica lists it in GET /certs"
said() { grep -q 'took dist.pem from a peer' "$T/three.log"; }
wait_for 10 said; ok $? "and says so, once HAProxy serves it"
kill -TERM "$PID_three"; wait "$PID_three" 2>/dev/null

# --- remove distribute=true ---------------------------------------------------------------------
out=$(at "$IP_two" "/v1/docker-flow-proxy/remove?serviceName=svca&distribute=true&token=$TOK")
is "$(astatus)" 200 "remove distribute=true: 200"
like "$out" '"Status":"OK","Message":"Distributed to all instances","ServiceName":"svca"' \
	"remove distribute=true: DFP's answer"
like "$out" '"Distribute":true' "remove distribute=true: Distribute true"
through "$PP_one" /a >/dev/null
is "$(hstatus)" 503 "svca is gone from replica one"
through "$PP_two" /a >/dev/null
is "$(hstatus)" 503 "svca is gone from replica two"

# --- start-up from the Swarm Listener (LISTENER_ADDRESS) ---------------------------------------
LPORT=$(free_port)
cat >"$T/listener.json" <<JSON
[{"distribute":"true","port":"$PA","replicas":"1","serviceName":"svcl1","servicePath":"/l1","outboundHostname":"127.0.0.1"},
 {"distribute":"true","port":"$PB","replicas":"2","serviceName":"svcl2","servicePath":"/l2","outboundHostname":"127.0.0.1"},
 {"distribute":"true","serviceName":"badl","servicePath":"/x"}]
JSON
python3 "$SRC/tests/fake_listener.py" "$LPORT" --services "$T/listener.json" --fail-first 2 \
	>"$T/fake_listener.out" 2>"$T/fake_listener.log" &
pids+=($!)
wait_for 10 grep -q listening "$T/fake_listener.out"; ok $? "the fake Swarm Listener runs"
hits() { curl -s -m 2 "http://127.0.0.1:$LPORT/_fake/hits"; }
fp_run lis 127.0.0.5 LISTENER_ADDRESS="127.0.0.1:$LPORT" RELOAD_INTERVAL=300
wait_for 20 up 127.0.0.5; ok $? "the replica with LISTENER_ADDRESS answers"
seen=""
for _ in $(seq 200); do
	code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.5:$APORT/v1/docker-flow-proxy/successfulinitreload")
	case " $seen " in *" $code "*) ;; *) seen="$seen $code" ;; esac
	[ "$code" = 200 ] && break
	sleep 0.05
done
is "$seen" " 500 200" "successfulinitreload: 500 until the listener's services are in, then 200"
like "$(hits)" '"get": 3' "get-services asked until it answered (two 503s, then 200)"
like "$(through "$PP_lis" /l1)" '^name=a path=/l1' "the listener's first service is routed"
like "$(through "$PP_lis" /l2)" '^name=b path=/l2' "and its second"
st=$(at 127.0.0.5 /v1/flowproxy/status)
like "$st" '"reloads":1,' "both applied with one reload"
like "$(cat "$T/lis.log")" "LISTENER_ADDRESS http://127.0.0.1:$LPORT: service 'badl' skipped: .*port" \
	"a refused service is skipped, the log names it and the parameter"
like "$st" '"serviceName":"badl"' "and the status API lists it as rejected"
out=$(at 127.0.0.5 "/v1/docker-flow-proxy/reload?fromListener=true")
is "$(astatus)" 200 "reload?fromListener=true: 200"
like "$(hits)" '"notify": 1' "the listener was asked to resend its services (notify-services)"
is "$(at 127.0.0.5 /v1/flowproxy/status | grep -o '"reloads":[0-9]*')" '"reloads":1' \
	"reload?fromListener does not reload HAProxy itself"
gets() { hits | grep -o '"get": [0-9]*' | grep -o '[0-9]*$'; }
g=$(gets)
sleep 1
is "$(gets)" "$g" "without REPEAT_RELOAD the listener is not asked again after its answer"
kill -TERM "$PID_lis"; wait "$PID_lis" 2>/dev/null

# REPEAT_RELOAD=true keeps asking every RELOAD_INTERVAL; with two addresses each is tried
# RELOAD_ATTEMPTS times until it answers (the second one never does).
DEADPORT=$(free_port)
fp_run rep 127.0.0.5 LISTENER_ADDRESS="127.0.0.1:$LPORT,127.0.0.1:$DEADPORT" RELOAD_INTERVAL=200 \
	REPEAT_RELOAD=true RELOAD_ATTEMPTS=2
wait_for 20 up 127.0.0.5; ok $? "a replica with REPEAT_RELOAD answers"
g=$(gets)
sleep 1.5
is_num "$g" "the fake listener counts get-services"
n=$(gets)
[ "$n" -ge $((g + 3)) ]; ok $? "REPEAT_RELOAD=true: get-services again every RELOAD_INTERVAL ($g then $n)"
like "$(cat "$T/rep.log")" "127.0.0.1:$DEADPORT.*no more tries \(2 made\)" \
	"RELOAD_ATTEMPTS=2: the address that never answers is given up after 2 attempts"
kill -TERM "$PID_rep"; wait "$PID_rep" 2>/dev/null

# --- proxyInstanceName on labels read from the Docker API (SWARM=true, a fake engine) ---------
spec() { # <mine's proxyInstanceName>
	cat <<JSON
[{"name": "mine", "replicas": 1, "addresses": ["127.0.0.1/8"],
  "labels": {"com.df.notify": "true", "com.df.servicePath": "/mine", "com.df.port": "$PA",
             "com.df.proxyInstanceName": "$1"}},
 {"name": "theirs", "replicas": 1, "addresses": ["127.0.0.1/8"],
  "labels": {"com.df.notify": "true", "com.df.servicePath": "/theirs", "com.df.port": "$PB",
             "com.df.proxyInstanceName": "other"}}]
JSON
}
FPORT=$(free_port)
spec EDGE >"$T/spec.json"
python3 "$SRC/tests/fake_docker.py" "$FPORT" --spec "$T/spec.json" --network fp-fake --quiet \
	2>"$T/fake_docker.log" >"$T/fake_docker.out" &
pids+=($!)
wait_for 10 grep -q listening "$T/fake_docker.out"; ok $? "the fake Docker Engine runs"
fp_run sw 127.0.0.6 SWARM=true DOCKER_HOST="tcp://127.0.0.1:$FPORT" SWARM_NETWORKS=fp-fake \
	FILTER_PROXY_INSTANCE_NAME=true PROXY_INSTANCE_NAME=edge
wait_for 20 served 127.0.0.6; ok $? "a swarm-mode replica with FILTER_PROXY_INSTANCE_NAME serves"
like "$(through "$PP_sw" /mine)" '^name=a path=/mine' "the label proxyInstanceName=EDGE is routed by instance edge"
through "$PP_sw" /theirs >/dev/null
is "$(hstatus)" 503 "the label proxyInstanceName=other is not"
spec other | curl -s -m 5 -XPOST --data-binary @- "http://127.0.0.1:$FPORT/_fake/services" >/dev/null
gone() { through "$PP_sw" /mine >/dev/null; [ "$(hstatus)" = 503 ]; }
wait_for 10 gone; ok $? "a routed service whose label changes to another instance is removed"

# --- a replica down: the request fails, naming it ---------------------------------------------
kill -TERM "$PID_two"
wait "$PID_two" 2>/dev/null
out=$(at "$IP_one" "/v1/docker-flow-proxy/reconfigure?serviceName=svcc&servicePath=/c&port=$PA&outboundHostname=127.0.0.1&distribute=true&token=$TOK")
is "$(astatus)" 500 "a replica down: 500"
like "$out" '"Status":"NOK","Message":"Could not send distribute request to the following addresses: \[127\.0\.0\.3\]"' \
	"DFP's message names the replica that failed"
like "$(through "$PP_one" /c)" '^name=a path=/c' "the replica that answered applied it"

# --- SERVICE_NAME that does not resolve: applied here, said once ------------------------------
fp_run solo 127.0.0.4 SERVICE_NAME=fp-it-none-$RANDOM.invalid
wait_for 20 served 127.0.0.4; ok $? "a replica outside any swarm serves"
out=$(at 127.0.0.4 "/v1/docker-flow-proxy/reconfigure?serviceName=svcs&servicePath=/s&port=$PB&outboundHostname=127.0.0.1&distribute=true")
is "$(astatus)" 200 "distribute=true without tasks.<SERVICE_NAME>: 200"
like "$out" '"Status":"OK","Message":"","ServiceName":"svcs"' "answered as applied here"
like "$(through "$PP_solo" /s)" '^name=b path=/s' "and routed"
like "$(cat "$T/solo.log")" "Could not perform DNS lookup for tasks.fp-it-none-.*applied here only" \
	"the log says the name does not resolve"

# Each replica stops cleanly, and (in a sanitizer build) reports no error or leak at exit.
for n in one solo lis sw; do
	eval "p=\$PID_$n"
	kill -TERM "$p" 2>/dev/null
	wait "$p"
	is "$?" 0 "replica $n stops with status 0"
done
unlike "$(cat "$T"/{one,two,solo,lis,sw}.log)" 'Sanitizer|runtime error' "no sanitizer report in any replica's log"

[ "$tap_fail" -eq 0 ] && [ -z "${SHOW_LOGS:-}" ] || show one two solo lis sw
done_testing
