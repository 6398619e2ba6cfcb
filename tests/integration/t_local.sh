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

# Stopping: the same look-ups must find the backend and HAProxy first, or "gone" proves nothing.
pgrep -f -- "$TESTSERVER --name hello --port" >/dev/null; ok $? "a backend runs before flowproxy stops"
mp=$(master_pid)
is_set "$mp" "HAProxy's master runs before flowproxy stops"
kill -TERM "$FP_PID"; wait "$FP_PID"; FP_PID=
sleep 0.2
pgrep -f -- "$TESTSERVER --name hello --port" >/dev/null; [ $? -ne 0 ]; ok $? "backends stopped with flowproxy"
[ -n "$mp" ] && ! kill -0 "$mp" 2>/dev/null; ok $? "HAProxy stopped with flowproxy (master $mp gone)"

done_testing
