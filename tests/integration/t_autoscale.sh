#!/usr/bin/env bash
# The autoscaler through a real HAProxy in local mode, with short windows (2 s over 250 ms
# slices, alertFor 1 s, cooldowns 2-3 s, a tick every 200 ms): slow answers scale a service up
# within alertFor + window + a tick, to its scaleMax and no further, with one "at its maximum"
# notification; answers between the thresholds do nothing; fast answers scale it down to its
# scaleMin and no further. Notifications reach a local receiver as Slack's {"text": ...}. The
# scale and Alertmanager endpoints answer 400/404/409/200 and the copies follow; API_TOKEN
# guards them; the webhook scaler calls SCALE_WEBHOOK_URL; dry-run scales nothing; policies
# that cannot be evaluated are listed under rejected and the service is still routed.
set -u
. "$(dirname "$0")/lib.sh"
for c in jq python3; do
	command -v "$c" >/dev/null || { echo "Bail out! $c is not installed"; exit 1; }
done
HELPER="python3 $SRC/tests/integration/autoscale_helper.py"

now_ms() { date +%s%3N; }

call() { # <path?query> [curl args...] -> body from the API; status: $(astatus)
	local path=$1 out
	shift
	out=$(curl -gs -m 60 -w '\n%{http_code}' "$@" "http://127.0.0.1:$APORT$path")
	printf '%s' "${out##*$'\n'}" >"$T/.astatus"
	printf '%s' "${out%$'\n'*}"
}
svc_json() { # <service> -> its object in the autoscale endpoint
	call /v1/flowproxy/autoscale | jq -c --arg s "$1" '.services[] | select(.service == $s)'
}
wanted() { svc_json "$1" | jq -r '.replicas.wanted // empty'; }
running() { svc_json "$1" | jq -r '.replicas.running // empty'; }
serves() { # <service> <n>: n copies wanted and serving
	local j
	j=$(svc_json "$1")
	[ "$(jq -r '.replicas.wanted' <<<"$j")" = "$2" ] && [ "$(jq -r '.replicas.running' <<<"$j")" = "$2" ]
}
logged() { grep -Eq -- "$1" "$T/flowproxy.log"; }
nlogged() { grep -Ec -- "$1" "$T/flowproxy.log"; }

# Every wait samples SAMPLE_SVC's replicas (wanted running) into $T/samples, when set.
SAMPLE_SVC=
sample() {
	[ -n "$SAMPLE_SVC" ] || return 0
	svc_json "$SAMPLE_SVC" | jq -r '"\(.replicas.wanted) \(.replicas.running)"' >>"$T/samples"
}
wait_until() { # <seconds> <command...>: polls every 100 ms; fails once the seconds are over
	local deadline=$(($(now_ms) + $1 * 1000))
	shift
	while sample; ! "$@"; do
		[ "$(now_ms)" -ge "$deadline" ] && return 1
		sleep 0.1
	done
}
hold() { # <seconds>: sampling meanwhile
	local deadline=$(($(now_ms) + $1 * 1000))
	while [ "$(now_ms)" -lt "$deadline" ]; do
		sample
		sleep 0.2
	done
}

# The receiver of notifications and scale webhooks: one JSON line per request in $T/received.
RPORT=$(free_port)
$HELPER receiver --port "$RPORT" --out "$T/received" >"$T/receiver.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do grep -q listening "$T/receiver.log" 2>/dev/null && break; sleep 0.05; done
grep -q listening "$T/receiver.log"; ok $? "the local receiver listens"
texts() { # <path> -> the "text" of each notification POSTed to it, one a line
	[ -f "$T/received" ] || return 0
	jq -r --arg p "$1" 'select(.path == $p) | .body | fromjson? | .text // empty' "$T/received"
}
ntexts() { texts "$1" | grep -Ec -- "$2"; }
noted() { [ "$(ntexts "$1" "$2")" -ge 1 ]; }

LOAD_PID=
load_start() { # <path> <out>: 20 requests a second through HAProxy, for at most 90 s
	$HELPER load --port "$PPORT" --path "$1" --rate 20 --seconds 90 --out "$2" &
	LOAD_PID=$!
	pids+=("$LOAD_PID")
}
load_stop() {
	[ -n "$LOAD_PID" ] && kill -TERM "$LOAD_PID" 2>/dev/null && wait "$LOAD_PID" 2>/dev/null
	LOAD_PID=
}
names_since() { # <file> <ms> -> the copies that answered requests sent since then, sorted
	awk -v t="$2" '$1 >= t && $2 == 200 {print $3}' "$1" | sort -u
}
answered_by() { names_since "$1" "$2" | grep -qx -- "$3"; } # <file> <ms> <copy>
copy_name() { # <service> <copy number> -> its name, from the port its start was logged with
	sed -n "s/.*service '$1': started backend copy $2 on port \([0-9]*\) .*/$1-\1/p" \
		"$T/flowproxy.log" | tail -1
}
copies() { # <path> <requests> -> the distinct copies that answered, one a line
	for _ in $(seq "$2"); do get "$1" | head -1; done | sed -n 's/^name=\([^ ]*\) .*/\1/p' | sort -u
}
stop_fp() {
	load_stop
	kill -TERM "$FP_PID" 2>/dev/null
	wait "$FP_PID" 2>/dev/null
	FP_PID=
	mv "$T/flowproxy.log" "$T/flowproxy-$1.log"
	PPORT='' APORT=''
}

# The two policies of the example's demo, on short windows.
POLICIES='"scaleUpCooldown": "2s", "scaleDownCooldown": "3s",
  "alertName.1": "slow", "alertIf.1": "@resp_time_above:0.1,2s,0.9", "alertFor.1": "1s",
  "alertName.2": "fast", "alertFor.2": "1s",
  "alertIf.2": "@resp_time_below:0.05,2s,0.9_unless_@resp_time_above:0.1,2s,0.9"'
copies_entry() { # <name> <replicas> <extra parameters, JSON members ending with a comma>
	printf '{"serviceName": "%s", "servicePath": "/%s", "port": "8080", "replicas": %s, %s
  "exec": ["%s", "--name", "%s-{port}", "--port", "{port}"]}' "$1" "$1" "$2" "$3" "$TESTSERVER" "$1"
}
# ---- one flowproxy: the engine, the endpoints, rejected policies ------------------------------
backend plain
PP=$BACKEND_PORT
cat >"$T/services.json" <<EOF
{"services": [
 $(copies_entry as 2 "\"scaleMin\": \"2\", \"scaleMax\": \"4\", $POLICIES,"),
 $(copies_entry man 2 '"scaleMin": "2", "scaleMax": "4",'),
 $(copies_entry am 1 '"scaleMin": "1", "scaleMax": "5", "scaleUpBy": "2",'),
 {"serviceName": "plain", "servicePath": "/plain", "port": "$PP", "outboundHostname": "127.0.0.1"},
 {"serviceName": "memsvc", "servicePath": "/mem", "port": "$PP", "outboundHostname": "127.0.0.1",
  "alertIf": "@service_mem_limit:0.8", "alertFor": "1s"},
 {"serviceName": "badsvc", "servicePath": "/bad", "port": "$PP", "outboundHostname": "127.0.0.1",
  "alertIf.1": "@resp_time_above:0.1,2s", "alertIf.2": "@resp_time_above:0.1,2s,0.9_nand_x"}
]}
EOF
AUTOSCALE_INTERVAL=200ms TELEMETRY_SLICE_MS=250 TELEMETRY_WINDOW=10 AUTOSCALE_MIN_REQUESTS=10 \
	NOTIFY_WEBHOOK_URL="http://127.0.0.1:$RPORT/notify-a" \
	fp_start --services-file "$T/services.json" || { ok 1 "flowproxy starts"; done_testing; }
wait_until 30 serves as 2; ok $? "as: 2 copies serve"
# man and am have no policies: the report lists them once scaled; HAProxy shows their copies.
n_copies() { [ "$(copies "$1" "$(($2 * 3))" | grep -c .)" = "$2" ]; }
wait_until 30 n_copies /man 2; ok $? "man: 2 copies answer"
wait_until 30 n_copies /am 1; ok $? "am: 1 copy answers"

# 10. Policies that cannot be evaluated: listed, logged, and the service routed all the same.
get /mem >/dev/null
is "$(hstatus)" 200 "memsvc (alertIf @service_mem_limit) is routed"
get /bad >/dev/null
is "$(hstatus)" 200 "badsvc (malformed alertIf) is routed"
listed() { [ -n "$(svc_json memsvc)" ] && [ -n "$(svc_json badsvc)" ]; }
wait_until 10 listed
like "$(svc_json memsvc | jq -c .rejected)" '^\["alertIf: .*service_mem_limit.*not evaluable' \
	"memsvc's policy is listed under rejected"
is "$(svc_json memsvc | jq '.policies | length')" 0 "and is not evaluated"
rej=$(svc_json badsvc | jq -c .rejected)
like "$rej" '"alertIf\.1: ' "badsvc's alertIf.1 (two values) is rejected"
like "$rej" '"alertIf\.2: ' "badsvc's alertIf.2 (_nand_) is rejected"
like "$(cat "$T/flowproxy.log")" "autoscale: service 'memsvc': alertIf: .*\(ignored\)" \
	"the rejected policy is logged with its service"

# 1. Slow answers scale up within alertFor + window + one tick.
as1=$(copy_name as 1) as2=$(copy_name as 2)
is_set "$as1$as2" "as: the first copies' names are known"
t_start=$(now_ms)
load_start "/as?delay=200" "$T/slow.log"
SAMPLE_SVC=as
wait_until 30 logged "autoscale: scaled as from 2 to 3 replicas \(autoscale\): slow \(alertIf\.1\)"
ok $? "slow answers: as scaled from 2 to 3"
t_up=$(now_ms)
t_first=$(head -1 "$T/slow.log" | cut -d' ' -f1)
is_num "$t_first" "the first slow request's time is known"
took=$((t_up - ${t_first:-$t_start}))
# alertFor 1 s + the 2 s window + a 200 ms tick, and 2.5 s for a busy machine.
diag "scaled up ${took} ms after the first slow request"
[ "$took" -ge 1000 ] && [ "$took" -le 5700 ]
ok $? "the scale came after alertFor and within alertFor + window + tick (+2.5 s): ${took} ms"
as3=$(copy_name as 3)
is_set "$as3" "as: copy 3 started"
wait_until 20 answered_by "$T/slow.log" "$t_up" "$as3"
ok $? "the new copy $as3 answers"

# 2. Kept slow: up to scaleMax, then one "at its maximum" notification, and no further.
wait_until 30 logged "autoscale: scaled as from 3 to 4 replicas"
ok $? "still slow: as scaled from 3 to 4"
wait_until 30 logged "autoscale: service 'as' is at its maximum of 4 replicas: slow"
ok $? "at scaleMax: 'at its maximum of 4 replicas' logged"
hold 5 # two up cooldowns and more: a notification per tick or per cooldown would show
load_stop
is "$(nlogged "service 'as' is at its maximum")" 1 "one at-maximum log line in the episode"
wait_until 10 noted /notify-a "did not scale as: it is at its maximum of 4 replicas"
is "$(ntexts /notify-a "at its maximum")" 1 "exactly one at-maximum notification arrived"
most=$(cut -d' ' -f1 "$T/samples" | sort -n | tail -1)
is_num "$most" "as: replicas wanted were sampled ($(wc -l <"$T/samples") samples)"
[ "${most:-9}" -le 4 ]; ok $? "replicas wanted never above scaleMax 4 (at most $most)"
slow_names=$(names_since "$T/slow.log" 0)
is "$(printf '%s\n' "$slow_names" | grep -c .)" 4 "4 distinct copies answered the slow load"
is "$(nlogged "autoscale: scaled as from 4 to")" 0 "no scale beyond 4"

# 4. Between the thresholds (every answer within 0.1 s, none within 0.05 s): nothing happens.
load_start "/as?delay=70" "$T/mid.log"
hold 3 # the slow answers leave the 2 s window
before=$(svc_json as | jq -c .decisions)
lines=$(nlogged "autoscale: .*\bas\b")
is_set "$before" "as: decisions are listed"
hold 8 # 1 s alertFor + 3 s cooldowns, twice over
after=$(svc_json as)
is "$(jq -c .decisions <<<"$after")" "$before" "between the thresholds: the decisions are unchanged"
is "$(nlogged "autoscale: .*\bas\b")" "$lines" "and no autoscale line was logged"
is "$(jq -r .replicas.wanted <<<"$after")" 4 "as still wants 4"
is "$(jq -r '[.policies[].state] | join(",")' <<<"$after")" ok,ok "both policies are ok (measured)"
n_mid=$(jq '.policies[0].terms[0].requests' <<<"$after")
is_num "$n_mid" "the slow policy counts requests"
[ "${n_mid:-0}" -ge 10 ]; ok $? "the window held enough requests to decide ($n_mid)"
load_stop

# 3. Fast answers: down to scaleMin, one step at a time, and not below.
: >"$T/samples"
load_start "/as" "$T/fast.log"
wait_until 30 logged "autoscale: scaled as from 4 to 3 replicas \(autoscale\): fast \(alertIf\.2\)"
ok $? "fast answers: as scaled from 4 to 3"
wait_until 30 logged "autoscale: scaled as from 3 to 2 replicas"
ok $? "still fast: as scaled from 3 to 2"
wait_until 30 logged "autoscale: service 'as' is at its minimum of 2 replicas: fast"
ok $? "at scaleMin: 'at its minimum of 2 replicas' logged"
t_min=$(now_ms)
hold 7 # two more down cooldowns
load_stop
least=$(cut -d' ' -f1 "$T/samples" | sort -n | head -1)
is_num "$least" "as: replicas wanted were sampled ($(wc -l <"$T/samples") samples)"
[ "${least:-0}" -ge 2 ]; ok $? "replicas wanted never below scaleMin 2 (at least $least)"
is "$(nlogged "autoscale: scaled as from 2 to [01] ")" 0 "no scale below 2"
is "$(nlogged "service 'as' is at its minimum")" 1 "one at-minimum log line"
is "$(names_since "$T/fast.log" $((t_min + 1000)) | grep -c .)" 2 "2 copies answer at scaleMin"
is "$(running as)" 2 "2 copies run"

# 5. The notifications: Slack's {"text": ...} naming the service, the counts and the policy.
wait_until 10 noted /notify-a "at its minimum"
bad=$(jq -c --arg p /notify-a 'select(.path == $p) | (.body | try fromjson catch null) as $b |
	select(.method != "POST" or ($b | type) != "object" or ($b | keys) != ["text"] or
		($b.text | type) != "string")' "$T/received")
n_notes=$(jq -r 'select(.path == "/notify-a") | .path' "$T/received" | grep -c .)
[ "$n_notes" -ge 5 ]; ok $? "notifications arrived ($n_notes)"
[ -z "$bad" ]; ok $? "each is a POST of a JSON object with one string member, text" ||
	diag "not so: $bad"
notes=$(texts /notify-a)
like "$notes" '^flowproxy scaled as from 2 to 3 replicas \(autoscale\): slow \(alertIf\.1\): resp_time_above: [0-9.]+% of [0-9]+ requests within 0\.1s over 2s < 90%, for 1s$' \
	"the scale up names the service, 2 and 3, the policy and its measure"
like "$notes" '^flowproxy scaled as from 4 to 3 replicas \(autoscale\): fast \(alertIf\.2\): resp_time_below: [0-9.]+% of [0-9]+ requests within 0\.05s over 2s > 90% unless resp_time_above: ' \
	"the scale down names the service, 4 and 3, and the policy"
like "$notes" '^flowproxy did not scale as: it is at its maximum of 4 replicas: slow \(alertIf\.1\)' \
	"the at-maximum notification names the service, the limit and the policy"
like "$notes" '^flowproxy did not scale as: it is at its minimum of 2 replicas: fast \(alertIf\.2\)' \
	"the at-minimum notification too"
is "$(ntexts /notify-a '^flowproxy scaled as ')" 4 "one notification per scale of as (2 up, 2 down)"

# 6. The scale endpoint.
SAMPLE_SVC=
out=$(call "/v1/flowproxy/scale?scale=1")
is "$(astatus)" 400 "scale without service: 400"
call "/v1/flowproxy/scale?service=man&scale=0" >/dev/null
is "$(astatus)" 400 "scale=0: 400"
out=$(call "/v1/flowproxy/scale?service=man&scale=abc")
is "$(astatus)" 400 "scale=abc: 400"
like "$out" "non-zero whole number" "and says what scale must be"
call "/v1/flowproxy/scale?service=man" >/dev/null
is "$(astatus)" 400 "no scale: 400"
out=$(call "/v1/flowproxy/scale?service=nosuch&scale=1")
is "$(astatus)" 404 "an unknown service: 404"
like "$out" "nosuch" "the 404 names the service"
out=$(call "/v1/flowproxy/scale?service=plain&scale=1")
is "$(astatus)" 404 "a service without copies or replicas: 404"
like "$out" "no scaler" "and says it has no scaler"
out=$(call "/v1/flowproxy/scale?service=man&scale=-1")
is "$(astatus)" 409 "-1 at scaleMin: 409"
like "$out" "\"message\":\"service 'man' is already at its minimum of 2 replicas\"" "with a message"
out=$(call "/v1/flowproxy/scale?service=man&scale=%2B5")
is "$(astatus)" 200 "+5 at 2 of 4: 200"
is "$(jq -c '[.from, .to]' <<<"$out")" "[2,4]" "clamped: from 2 to 4"
wait_until 30 serves man 4; ok $? "man: 4 copies serve"
is "$(copies /man 16 | grep -c .)" 4 "4 copies of man answer through HAProxy"
out=$(call "/v1/flowproxy/scale?service=man&scale=1")
is "$(astatus)" 409 "+1 at scaleMax: 409"
like "$out" "already at its maximum of 4 replicas" "with a message"
out=$(call "/v1/flowproxy/scale?service=man&scale=-2" -X POST)
is "$(astatus)" 200 "POST -2 at 4: 200"
is "$(jq -c '[.from, .to]' <<<"$out")" "[4,2]" "from 4 to 2"
wait_until 30 serves man 2; ok $? "man: 2 copies serve"
is "$(copies /man 12 | grep -c .)" 2 "2 copies of man answer through HAProxy"
wait_until 10 noted /notify-a "^flowproxy scaled man from 4 to 2 replicas \(scale endpoint\)"
ok $? "the scale endpoint's scales are notified too"

# 7. The Alertmanager receiver.
am_body() { # <status> <service> <scale>: an Alertmanager v4 webhook body with one alert
	printf '{"version": "4", "groupKey": "{}:{service=\\"%s\\"}", "status": "%s",
 "receiver": "flowproxy", "groupLabels": {"service": "%s"}, "commonLabels": {"service": "%s"},
 "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093", "truncatedAlerts": 0,
 "alerts": [{"status": "%s", "labels": {"alertname": "%sresptimeabove", "service": "%s",
  "scale": "%s"}, "annotations": {}, "startsAt": "2024-05-01T10:00:00Z",
  "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "0123456789abcdef"}]}' \
		"$2" "$1" "$2" "$2" "$1" "$2" "$2" "$3"
}
am() { # <body> [curl args...] -> the answer; status: $(astatus)
	local body=$1
	shift
	call /v1/flowproxy/alertmanager -X POST -H 'Content-Type: application/json' \
		--data-binary "$body" "$@"
}
out=$(am "$(am_body firing am up)")
is "$(astatus)" 200 "alertmanager: a firing scale=up alert: 200"
is "$(jq -c '[.actions[] | [.service, .scale, .status, .from, .to]]' <<<"$out")" \
	'[["am","up",200,1,3]]' "it scaled am by its scaleUpBy 2, from 1 to 3"
wait_until 30 serves am 3; ok $? "am: 3 copies serve"
out=$(am "$(am_body resolved am up)")
is "$(astatus)" 200 "a resolved alert: 200"
is "$(jq -c '[(.actions | length), .ignored]' <<<"$out")" "[0,1]" "nothing done, one ignored"
is "$(wanted am)" 3 "am still wants 3"
out=$(am "$(am_body firing am down)")
is "$(jq -c '[.actions[] | [.status, .from, .to]]' <<<"$out")" '[[200,3,2]]' \
	"a firing scale=down alert scales by -scaleDownBy: 3 to 2"
out=$(am "$(am_body firing nosuch up)")
is "$(astatus)" 200 "an alert for an unknown service: still 200"
is "$(jq -r '.actions[0].status' <<<"$out")" 404 "with 404 for that action"
call /v1/flowproxy/alertmanager >/dev/null
is "$(astatus)" 405 "GET on the Alertmanager receiver: 405"
stop_fp a

# ---- the webhook scaler and API_TOKEN -------------------------------------------------------
TOKEN="as-$RANDOM$RANDOM"
backend x
cat >"$T/services.json" <<EOF
{"services": [
 {"serviceName": "x", "servicePath": "/x", "port": "$BACKEND_PORT", "outboundHostname": "127.0.0.1",
  "replicas": "3", "scaleMax": "5"}
]}
EOF
API_TOKEN=$TOKEN SCALE_WEBHOOK_URL="http://127.0.0.1:$RPORT/job/scale?x=1" \
	fp_start --services-file "$T/services.json" || { ok 1 "flowproxy starts"; done_testing; }
get /x >/dev/null
is "$(hstatus)" 200 "x (replicas 3, no exec) is routed"
hooks() { jq -r 'select(.path | startswith("/job/")) | "\(.method) \(.path)"' "$T/received"; }

# 8. API_TOKEN guards the scale and Alertmanager endpoints; the autoscale report stays open.
call "/v1/flowproxy/scale?service=x&scale=1" >/dev/null
is "$(astatus)" 401 "scale without the token: 401"
call "/v1/flowproxy/scale?service=x&scale=1&token=wrong-$TOKEN" >/dev/null
is "$(astatus)" 401 "scale with a wrong token: 401"
am "$(am_body firing x up)" >/dev/null
is "$(astatus)" 401 "alertmanager without the token: 401"
out=$(call /v1/flowproxy/autoscale)
is "$(astatus)" 200 "the autoscale report needs no token"
sleep 0.3
is "$(hooks | grep -c .)" 0 "the refused calls reached no webhook"

# 11. The webhook scaler.
out=$(call "/v1/flowproxy/scale?service=x&scale=1&token=$TOKEN")
is "$(astatus)" 200 "scale with ?token=: 200"
is "$(jq -c '[.from, .to]' <<<"$out")" "[3,4]" "the answer says from 3 to 4"
is "$(hooks)" "POST /job/scale?x=1&service=x&scale=1" \
	"the webhook got one POST with service and scale added to its query"
# The report fills in a service scaled by hand at its next tick (AUTOSCALE_INTERVAL, 1 s).
reported() { [ "$(svc_json "$1" | jq -r '"\(.scaler) \(.replicas.wanted)"')" = "$2" ]; }
wait_until 10 reported x "webhook 4"
ok $? "the report: x is scaled by the webhook scaler and wants 4"
out=$(call "/v1/flowproxy/scale?service=x&scale=%2B3" -H "Authorization: Bearer $TOKEN")
is "$(astatus)" 200 "scale with Authorization: Bearer: 200"
is "$(jq -c '[.from, .to]' <<<"$out")" "[4,5]" "+3 at 4 of 5: from 4 to 5"
is "$(hooks | tail -1)" "POST /job/scale?x=1&service=x&scale=1" "the webhook is asked for the step left"
out=$(am "$(am_body firing x up)" -H "Authorization: Bearer $TOKEN")
is "$(astatus)" 200 "alertmanager with Authorization: Bearer: 200"
is "$(jq -r '.actions[0].status' <<<"$out")" 409 "x at its maximum: 409 for that action"
out=$(call "/v1/flowproxy/alertmanager?token=$TOKEN" -X POST -H 'Content-Type: application/json' \
	--data-binary "$(am_body firing x down)")
is "$(astatus)" 200 "alertmanager with ?token=: 200"
is "$(jq -c '[.actions[] | [.status, .from, .to]]' <<<"$out")" '[[200,5,4]]' "x: from 5 to 4"
is "$(hooks | tail -1)" "POST /job/scale?x=1&service=x&scale=-1" "the webhook is asked for -1"
is "$(hooks | grep -c .)" 3 "three webhook calls in all"
get /x >/dev/null
is "$(hstatus)" 200 "x is still routed"
unlike "$(cat "$T/flowproxy.log")" "$TOKEN" "the token is not logged"
stop_fp b

# ---- 9. AUTOSCALE=dry-run ---------------------------------------------------------------------
cat >"$T/services.json" <<EOF
{"services": [
 $(copies_entry dry 2 "\"scaleMin\": \"2\", \"scaleMax\": \"4\", $POLICIES,")
]}
EOF
AUTOSCALE=dry-run AUTOSCALE_INTERVAL=200ms TELEMETRY_SLICE_MS=250 TELEMETRY_WINDOW=10 \
	AUTOSCALE_MIN_REQUESTS=10 NOTIFY_WEBHOOK_URL="http://127.0.0.1:$RPORT/notify-c" \
	fp_start --services-file "$T/services.json" || { ok 1 "flowproxy starts"; done_testing; }
wait_until 30 serves dry 2; ok $? "dry: 2 copies serve"
: >"$T/samples"
SAMPLE_SVC=dry
load_start "/dry?delay=200" "$T/dry.log"
wait_until 30 logged "autoscale: would scale dry from 2 to 3 replicas \(dry run\): slow \(alertIf\.1\)"
ok $? "dry run: 'would scale dry from 2 to 3 replicas (dry run)' logged"
hold 4 # two up cooldowns: what it would do again, never done
load_stop
like "$(call /v1/flowproxy/autoscale | jq -r .mode)" '^dry-run$' "the report says dry-run"
wait_until 10 noted /notify-c "^flowproxy would scale dry from 2 to 3 replicas \(dry run\): slow \(alertIf\.1\)"
ok $? "and notified as 'would scale dry from 2 to 3 replicas (dry run)'"
is "$(nlogged "autoscale: scaled dry")" 0 "nothing was scaled"
is "$(nlogged "service 'dry': started backend copy 3")" 0 "no copy was started"
is "$(cut -d' ' -f1 "$T/samples" | sort -u | tr '\n' ' ')" "2 " "replicas wanted stayed 2 throughout"
is "$(names_since "$T/dry.log" 0 | grep -c .)" 2 "2 copies answered the whole load"
is "$(svc_json dry | jq -r '.decisions[0].result')" "dry run" "the decision's result is 'dry run'"
out=$(call "/v1/flowproxy/scale?service=dry&scale=1")
is "$(astatus)" 200 "dry run: the scale endpoint answers 200"
like "$out" "would scale dry from 2 to 3 replicas \(dry run\)" "saying what it would do"
is "$(wanted dry)" 2 "and dry still wants 2"
stop_fp c

done_testing
