#!/usr/bin/env bash
# Autoscaling on the real one-node swarm, Docker Flow Monitor's tutorial with windows of seconds:
# flowproxy in its container (as in t_e2e.sh) scales a test service of 3 replicas with the
# tutorial's policies through the docker scaler. Fast traffic scales it down to its scaleMin of 2
# and it stays there; slow requests scale it up to its scaleMax of 4 and no further; a label
# added meanwhile by someone else is kept, and no task is restarted by a scale. A receiver on the
# same overlay network (the test server with --record) gets each notification. Requests go only
# to the published ports on 127.0.0.1, at a bounded rate.
set -u
. "$(dirname "$0")/lib.sh"

need_swarm_images
clean_stale_vxlan
P=fp-as-e2e-$$
NET=$P-net
FP=$P-proxy
SVC=$P-demo
RCV=$P-notify
PPORT=$(free_port)
APORT=$(free_port)
RUNDIR=$T/fprun
mkdir -p "$RUNDIR"
# This test never restarts dockerd, but another run may (t_e2e.sh does): every container then
# restarts, and the checks that follow do not hold. Such a run says so.
dockerd0=$(pidof dockerd)
LOAD_END=$((SECONDS + 200)) # no load generator outlives this, whatever happens to the test

as_cleanup() {
	touch "$T/fast.stop" "$T/slow.stop" "$T/update.stop"
	wait
	docker service rm "$FP" "$SVC" "$RCV" >/dev/null 2>&1
	for _ in $(seq 100); do docker network rm "$NET" >/dev/null 2>&1 && break; sleep 0.2; done
}
trap 'as_cleanup; cleanup' EXIT

replicas() { docker service inspect -f '{{.Spec.Mode.Replicated.Replicas}}' "$SVC" 2>/dev/null; }
# Every task of the service, ever (scaling down shuts tasks down; they stay listed), and those
# that run now.
all_tasks() { docker service ps -q "$SVC" 2>/dev/null | sort; }
running_tasks() {
	docker service ps -q --filter desired-state=running "$SVC" 2>/dev/null | sort
}
autoscale_json() { curl -s -m 5 "http://127.0.0.1:$APORT/v1/flowproxy/autoscale"; }
# This service's part of the autoscale report (the services array holds one object per service).
report() { autoscale_json | grep -o "{\"service\":\"$SVC\".*"; }
fp_logs() { docker service logs --raw "$FP" 2>&1; }
# The notifications the receiver recorded, one per line (its file, read out of its container).
notified() {
	local c
	c=$(containers "$RCV" | head -1)
	[ -n "$c" ] && docker cp "$c:/notify.log" - 2>/dev/null | tar -xO 2>/dev/null
}
served() {
	[ "$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PPORT/demo")" = 200 ]
}

# load <name> <pause seconds> <max delay ms, 0: none>: one client, one request at a time (each
# delayed by 150 ms up to the max, at random, if there is one), until
# $T/<name>.stop or LOAD_END; "status seconds" lines in $T/<name>.out.
load() {
	local name=$1 pause=$2 delay=$3
	rm -f "$T/$name.stop"
	(while [ ! -e "$T/$name.stop" ] && [ $SECONDS -lt $LOAD_END ]; do
		q=
		[ "$delay" -gt 0 ] && q="?delay=$((150 + RANDOM % (delay - 150)))"
		curl -s -m 30 -o /dev/null -w '%{http_code} %{time_total}\n' \
			"http://127.0.0.1:$PPORT/demo$q"
		sleep "$pause"
	done >>"$T/$name.out") &
}
load_failed() { awk '$1 != 200' "$T"/*.out 2>/dev/null | wc -l; }

# sample_replicas <seconds>: samples the replica count twice a second; prints the
# highest and the lowest seen ("max min").
sample_replicas() {
	local end=$((SECONDS + $1)) hi=0 lo=999 n
	while [ $SECONDS -lt $end ]; do
		n=$(replicas)
		case "$n" in '' | *[!0-9]*) ;; *)
			[ "$n" -gt "$hi" ] && hi=$n
			[ "$n" -lt "$lo" ] && lo=$n
			;;
		esac
		sleep 0.5
	done
	echo "$hi $lo"
}

docker network create -d overlay "$NET" >/dev/null

# The receiver first: flowproxy is told its address on the overlay network (no VIPs here).
docker service create -d --name "$RCV" --network "$NET" --endpoint-mode dnsrr \
	flowproxy-testserver:local --record /notify.log >/dev/null 2>&1
rcv_up() { [ -n "$(containers "$RCV")" ]; }
wait_for 60 rcv_up
ok $? "the notification receiver runs"
rcv_ip=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" \
	"$(containers "$RCV" | head -1)" 2>/dev/null)
is_set "$rcv_ip" "its address on the overlay network is known" || done_testing

# Windows of 2 s in slices of 250 ms, evaluated 4 times a second; debug logs show the scaler's
# retries.
fp_service_create "$FP" "$NET" "$RUNDIR" -e SERVICE_NAME="$FP" \
	-e AUTOSCALE_INTERVAL=250ms -e TELEMETRY_SLICE_MS=250 -e TELEMETRY_WINDOW=30 \
	-e AUTOSCALE_MIN_REQUESTS=10 -e "NOTIFY_WEBHOOK_URL=http://$rcv_ip/notify" -e LOG_LEVEL=3
wait_for 90 api_up && wait_for 30 initialized
ok $? "flowproxy runs as a swarm service in its container"

# The tutorial's service, its windows and durations in seconds instead of minutes.
docker service create -d --name "$SVC" --network "$NET" --replicas 3 \
	--label com.df.notify=true --label com.df.servicePath=/demo --label com.df.port=80 \
	--label com.df.scaleMin=2 --label com.df.scaleMax=4 \
	--label com.df.scaleUpCooldown=2s --label com.df.scaleDownCooldown=3s \
	--label com.df.alertName.1=resptimeabove \
	--label 'com.df.alertIf.1=@resp_time_above:0.1,2s,0.99' --label com.df.alertFor.1=1s \
	--label com.df.alertName.2=resptimebelow \
	--label 'com.df.alertIf.2=@resp_time_below:0.025,2s,0.75_unless_@resp_time_above:0.1,2s,0.99' \
	--label com.df.alertFor.2=1s \
	flowproxy-testserver:local >/dev/null 2>&1
three_run() { [ "$(running_tasks | wc -l)" = 3 ] && [ "$(containers "$SVC" | wc -l)" = 3 ]; }
wait_for 90 three_run && wait_for 60 served
ok $? "the service runs 3 tasks and is routed"
has_policies() { report | grep -q '"alertIf":"@resp_time_below'; }
wait_for 30 has_policies
ok $? "the autoscaler has its policies"
like "$(report)" '"scaler":"docker"' "it is scaled by the docker scaler"
unlike "$(report)" '"rejected":\[[^]]' "no policy is rejected"
first_tasks=$(all_tasks)
is "$(echo "$first_tasks" | grep -c .)" 3 "three tasks before any scale"

# 1. Fast requests only (~15 a second): the down policy fires, 3 -> 2; at 2 (scaleMin) it stays.
load fast 0.05 0
at2() { [ "$(replicas)" = 2 ] && [ "$(running_tasks | wc -l)" = 2 ]; }
wait_for 60 at2
ok $? "fast traffic scales the service down to 2"
like "$(fp_logs)" "autoscale: scaled $SVC from 3 to 2 replicas \(autoscale\): resptimebelow" \
	"the scale down is logged with its policy"
min_logged() { fp_logs | grep -q "service '$SVC' is at its minimum of 2 replicas"; }
wait_for 30 min_logged
ok $? "at its minimum the down policy only reports the limit"
read -r hi lo < <(sample_replicas 6)
is "$hi $lo" "2 2" "it stays at 2 under fast traffic for 6 s (no flapping)"
like "$(report)" '"wanted":2,"running":2' "the autoscale endpoint shows 2 wanted, 2 running"
is "$(fp_logs | grep -c "service '$SVC' is at its minimum")" 1 \
	"one at-limit report for the whole episode, not one per tick"
# The tasks of the slots a scale down removes are deleted; a restart would add one in its slot.
is "$(comm -13 <(echo "$first_tasks") <(all_tasks) | grep -c .)" 0 \
	"the scale down started no task"
is "$(all_tasks | grep -c .)" 2 "two of the first three tasks are left"
survivors=$(running_tasks)
survivor_containers=$(containers "$SVC")

# 2. Slow requests beside the fast ones (6 clients, random delays up to 2.5 s): fewer than 99 %
# within 0.1 s, so up, and not down (its _unless_ holds); 2 -> 3 -> 4, never 5. Meanwhile
# someone else changes the service: a label, which restarts no task.
for _ in 1 2 3 4 5 6; do load slow 0 2500; done
rm -f "$T/update.stop"
(i=0
while [ ! -e "$T/update.stop" ] && [ $SECONDS -lt $LOAD_END ] && [ $i -lt 60 ]; do
	i=$((i + 1))
	# The CLI does not retry an "update out of sequence" (the scaler's update came first).
	for _ in 1 2 3 4 5; do
		docker service update -d --label-add "other=$i" "$SVC" >/dev/null 2>&1 &&
			{ echo "$i" >"$T/update.last"; break; }
		sleep 0.2
	done
	sleep 0.25
done) &
at4() { [ "$(replicas)" = 4 ] && [ "$(running_tasks | wc -l)" = 4 ]; }
wait_for 90 at4
ok $? "slow traffic scales the service up to 4"
max_logged() { fp_logs | grep -q "service '$SVC' is at its maximum of 4 replicas"; }
wait_for 30 max_logged
ok $? "at its maximum the up policy only reports the limit"
read -r hi lo < <(sample_replicas 5)
is "$hi $lo" "4 4" "it stays at 4 under slow traffic for 5 s"
touch "$T/update.stop"
sleep 2
logs=$(fp_logs)
diag "flowproxy's log: $(echo "$logs" | wc -l) lines"
like "$logs" "scaled $SVC from 2 to 3 replicas \(autoscale\): resptimeabove" "2 -> 3 is logged"
like "$logs" "scaled $SVC from 3 to 4 replicas \(autoscale\): resptimeabove" "3 -> 4 is logged"
unlike "$logs" "scaled $SVC from [0-9]+ to 5 |scaled $SVC from 4 to" "never beyond 4"
unlike "$logs" "could not scale $SVC" "no scale failed"
# Rare here (the scaler's read and write are a millisecond apart); test_docker forces them.
diag "scaler retries after an update out of sequence: $(echo "$logs" | grep -ci 'out of sequence')"

last=$(cat "$T/update.last" 2>/dev/null)
is_set "$last" "label updates succeeded while the scaler worked"
fmt='{{index .Spec.Labels "other"}} {{.Spec.Mode.Replicated.Replicas}}'
both=$(docker service inspect -f "$fmt" "$SVC")
is "$both" "$last 4" "the service has both the other change (other=$last) and the scaled count"
like "$(report)" '"wanted":4,"running":4' "the autoscale endpoint shows 4 wanted, 4 running"
# A scale adds or removes tasks; a restart would be a new task in a slot that had one.
is "$(all_tasks | grep -c .)" 4 "four tasks: the two from before the scale up, two it added"
missing=$(comm -23 <(echo "$survivors") <(running_tasks))
is "${missing:-none}" none "the two tasks from before the scale up still run"
missing=$(comm -23 <(echo "$survivor_containers") <(containers "$SVC"))
is "${missing:-none}" none "in the same containers"
restarts=$(containers "$SVC" | xargs docker inspect -f '{{.RestartCount}}' | sort -u)
is "$restarts" 0 "no container of the service restarted"

# 3. Fast requests again: back down to 2, one step per scaleDownCooldown.
touch "$T/slow.stop"
wait_for 90 at2
ok $? "fast traffic alone scales it back down to 2"
touch "$T/fast.stop"
wait
is "$(load_failed)" 0 "no request failed ($(cat "$T"/*.out | wc -l) requests)"

# 4. The receiver got a Slack-style POST for each event, in order.
n=$(notified)
is_set "$n" "the receiver recorded notifications" || n=
like "$n" "^\{\"text\": ?\"flowproxy scaled $SVC from 3 to 2 replicas" "the first scale down"
like "$n" "\"flowproxy did not scale $SVC: it is at its minimum of 2 replicas" "the lower limit"
like "$n" "\"flowproxy scaled $SVC from 2 to 3 replicas \(autoscale\): resptimeabove" \
	"the scale up to 3, with its policy"
like "$n" "\"flowproxy scaled $SVC from 3 to 4 replicas" "the scale up to 4"
like "$n" "\"flowproxy did not scale $SVC: it is at its maximum of 4 replicas" "the upper limit"
like "$n" "\"flowproxy scaled $SVC from 4 to 3 replicas" "the scale down from 4"
like "$n" "\"flowproxy scaled $SVC from 3 to 2 replicas.*" "the scale down to 2"
is "$(echo "$n" | grep -c "at its maximum")" 1 "one notification for the upper limit's episode"
# One word per notification: 3>2 for a scale, min or max for a limit (fast traffic may reach the
# lower limit once more before it stops).
events=$(echo "$n" | sed -n -e 's/.*scaled [^ ]* from \([0-9]*\) to \([0-9]*\) .*/\1>\2/p' \
	-e 's/.*at its \(min\|max\)imum of .*/\1/p' | tr '\n' ' ')
like "$events" '^3>2 min 2>3 3>4 max 4>3 3>2 (min )?$' "the notifications came in event order"
unlike "$n" "could not scale|to 5 replicas" "no failure, nothing beyond 4"
printf '%s\n' "$n" | sed 's/^/# notified: /'
# What flowproxy saw, when something went wrong.
[ "$tap_fail" -eq 0 ] || fp_logs | grep -E 'autoscale|swarm|reload' | tail -80 | sed 's/^/# fp: /'
[ "$(pidof dockerd)" = "$dockerd0" ] ||
	diag "dockerd was restarted during this run (pid $dockerd0 -> $(pidof dockerd)), not by it"

done_testing
