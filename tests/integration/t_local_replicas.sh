#!/usr/bin/env bash
# Local mode's copies through the flowproxy binary: examples/replicas.json runs 3 copies of a
# test server on ports flowproxy picks, HAProxy reaches all 3, a killed copy is replaced on a new
# port without a reload, the plain entry beside them is served as before, and SIGTERM leaves no
# copy behind.
set -u
. "$(dirname "$0")/lib.sh"

# The example's plain backend uses a fixed port and a build/ path: run from a copy that points at
# this build and at a free port.
np=$(free_port)
sed -e "s#build/tests/testserver#$TESTSERVER#g" -e "s/9101/$np/g" "$SRC/examples/replicas.json" \
	>"$T/services.json"
fp_start --services-file "$T/services.json" || { ok 1 "starts"; done_testing; }

# web-<port> names the copy that answered.
copies() { # <requests> -> the distinct copies that answered, sorted
	for _ in $(seq "$1"); do get /web | head -1; done | sed -n 's/^name=\(web-[0-9]*\) .*/\1/p' |
		sort -u
}
for _ in $(seq 100); do [ "$(copies 6 | wc -l)" -ge 3 ] && break; sleep 0.05; done
got=$(copies 12)
is "$(printf '%s\n' "$got" | wc -l)" 3 "requests reach 3 distinct copies"
log=$(cat "$T/flowproxy.log")
for c in 1 2 3; do
	like "$log" "service 'web': started backend copy $c on port [0-9]+ \(pid [0-9]+\)" \
		"copy $c started, its port logged"
done
for p in $(printf '%s\n' "$got" | sed 's/web-//'); do
	like "$log" "copy [0-9] on port $p " "the copy on port $p is one flowproxy started"
done
like "$(get /hello)" '^name=hello path=/hello' "the plain entry is routed as before"

reloads=$(master_reloads)
worker=$(worker_pid)
is_num "$reloads" "the master's reload count is read"
is_set "$worker" "the worker is known"

# A copy killed hard is started again on another port; HAProxy follows at run time.
victim=$(printf '%s\n' "$got" | head -1)
vp=$(pgrep -f -- "--name $victim --port" | head -1)
is_set "$vp" "the copy $victim runs"
kill -9 "$vp"
for _ in $(seq 100); do
	now=$(copies 6)
	[ "$(printf '%s\n' "$now" | wc -l)" -ge 3 ] && ! printf '%s\n' "$now" | grep -qx "$victim" && break
	sleep 0.05
done
now=$(copies 12)
is "$(printf '%s\n' "$now" | wc -l)" 3 "3 copies answer again"
! printf '%s\n' "$now" | grep -qx "$victim"; ok $? "the killed copy's port is out of HAProxy"
like "$(cat "$T/flowproxy.log")" "copy [0-9] on port ${victim#web-} exited \(signal 9\), restarting" \
	"the exit is logged"
is "$(master_reloads)" "$reloads" "no reload"
is "$(worker_pid)" "$worker" "same worker"

# SIGTERM: nothing is left.
procs=$(pgrep -f -- "$TESTSERVER --name (web-[0-9]+|hello) --port")
is "$(printf '%s\n' "$procs" | wc -l)" 4 "3 copies and the plain backend run"
kill -TERM "$FP_PID"; wait "$FP_PID"; FP_PID=
left=
for p in $procs; do alive "$p" && left="$left $p"; done
[ -z "$left" ]; ok $? "after SIGTERM no copy is left"

done_testing
