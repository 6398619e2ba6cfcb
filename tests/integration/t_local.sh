#!/usr/bin/env bash
# Local mode as the README runs it: the example services file, backends started by flowproxy.
set -u
. "$(dirname "$0")/lib.sh"

# The example's backends use fixed ports 9101-9104 and a build/ path: run from a copy that
# points at this build and at free ports.
sed -e "s#build/tests/testserver#$TESTSERVER#g" "$SRC/examples/services.json" >"$T/services.json"
for p in 9101 9102 9103 9104; do
	np=$(free_port)
	sed -i "s/$p/$np/g" "$T/services.json"
done
fp_start --services-file "$T/services.json" || { ok 1 "starts"; done_testing; }
for _ in $(seq 100); do get /hello >/dev/null; [ "$(hstatus)" = 200 ] && break; sleep 0.05; done
like "$(get /hello)" '^name=hello path=/hello' "example hello routed to the backend flowproxy started"
body=$(get /api/v1/users)
like "$body" '^name=api path=/users' "example api: path rewritten"
like "$body" 'X-Routed-By: flowproxy' "example api: header added"
get /private >/dev/null
is "$(hstatus)" 401 "example private: needs auth"
like "$(get /private -u admin:secret)" '^name=private' "example private: auth passes"
like "$(get / -H 'Host: example.localhost')" '^name=site' "example site: by domain"
like "$(get /unknown)" '^name=site' "example site: default backend"
like "$(cat "$T/flowproxy.log")" "started backend" "backends started by flowproxy"

# A backend that dies is started again.
bp=$(pgrep -f -- "$TESTSERVER --name hello --port" | head -1)
is_set "$bp" "the hello backend runs"
kill -9 "$bp"
for _ in $(seq 100); do
	np=$(pgrep -f -- "$TESTSERVER --name hello --port" | head -1)
	[ -n "$np" ] && [ "$np" != "$bp" ] && break
	sleep 0.05
done
[ -n "$np" ] && [ "$np" != "$bp" ]; ok $? "a dead backend is restarted"
for _ in $(seq 100); do get /hello >/dev/null; [ "$(hstatus)" = 200 ] && break; sleep 0.05; done
is "$(hstatus)" 200 "routing to the restarted backend"

# flowproxy killed hard: HAProxy keeps serving and is adopted by the next flowproxy; the
# backends die with the killed one, so the next one starts its own on the same ports.
hp=$(pgrep -f -- "$TESTSERVER --name hello --port" | head -1)
m1=$(master_cmd "show proc" | awk '$2 == "master" {print $1}')
[ -n "$hp" ] && [ -n "$m1" ]; ok $? "a backend ($hp) and HAProxy's master ($m1) run"
kill -9 "$FP_PID"; wait "$FP_PID" 2>/dev/null; FP_PID=
for _ in $(seq 150); do alive "$hp" || break; sleep 0.02; done
! alive "$hp"; ok $? "the backends die with a killed flowproxy"
alive "$m1"; ok $? "HAProxy keeps running without flowproxy"
fp_start --services-file "$T/services.json" || ok 1 "restarts"
is "$(master_cmd "show proc" | awk '$2 == "master" {print $1}')" "$m1" \
	"the restarted flowproxy adopts the running master"
for _ in $(seq 100); do get /hello >/dev/null; [ "$(hstatus)" = 200 ] && break; sleep 0.05; done
like "$(get /hello)" '^name=hello' "the new backends serve on the same ports"
like "$(cat "$T/flowproxy.log")" "started backend" "the restarted flowproxy started its backends"
unlike "$(cat "$T/flowproxy.log")" "too often|cannot start" "none of them failed"

# A stopped flowproxy leaves no process behind, though its HAProxy was adopted.
workers=$(master_cmd "show proc" | awk '$2 == "worker" {print $1}')
backends=$(pgrep -f -- "$TESTSERVER --name (hello|api|private|site) --port")
[ -n "$workers" ] && [ -n "$backends" ]; ok $? "workers ($workers) and backends known"
kill -TERM "$FP_PID"; wait "$FP_PID"; FP_PID=
left=
for p in $m1 $workers $backends; do alive "$p" && left="$left $p"; done
[ -z "$left" ]; ok $? "after SIGTERM no master, worker or backend is left"
[ -z "$left" ] || ps -o pid,ppid,stat,args -p "$(echo $left | tr " " ,)" | sed "s/^/#   /"
[ ! -S "$T/run/master.sock" ] || ! master_cmd "show proc" >/dev/null 2>&1; ok $? "HAProxy stopped with flowproxy"

done_testing
