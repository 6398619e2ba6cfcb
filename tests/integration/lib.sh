# shellcheck shell=bash
# Integration test helpers: TAP output, free loopback ports, test backends, and a flowproxy with
# a real HAProxy in a temporary directory. Everything listens on 127.0.0.1 and is stopped on exit.

BUILD=${FLOWPROXY_BUILD_ROOT:?}
SRC=${FLOWPROXY_SOURCE_ROOT:?}
FLOWPROXY=$BUILD/flowproxy
TESTSERVER=$BUILD/tests/testserver
# Without these every helper below answers empty, and checks on empty answers prove nothing.
for c in curl socat ss; do
	command -v "$c" >/dev/null || { echo "Bail out! $c is not installed (scripts/setup-deps)"; exit 1; }
done
T=$(mktemp -d /tmp/fp-it.XXXXXX)
tap_n=0
tap_fail=0
pids=()

cleanup() {
	local p
	[ -n "${FP_PID:-}" ] && kill -TERM "$FP_PID" 2>/dev/null && wait "$FP_PID" 2>/dev/null
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	# A master left behind (test killed flowproxy hard) is stopped through its socket's pid.
	if [ -S "$T/run/master.sock" ]; then
		local mp
		mp=$(echo "show proc" | socat -t2 - "UNIX-CONNECT:$T/run/master.sock" 2>/dev/null |
			awk '$2 == "master" {print $1}')
		[ -n "$mp" ] && kill -TERM "$mp" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT

ok() { # <cond-exit-code> <name>
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_fail=$((tap_fail + 1))
	fi
}
# A comparison with an empty side proves nothing (two empty pids from a master that does not
# answer are "equal"): is refuses an empty want, unlike an empty got. Assert what is compared is
# there first (is_set, is_num), and that the server answered (served) before a negative check.
is() { # <got> <want, not empty> <name>
	if [ -z "$2" ]; then
		ok 1 "$3"
		printf 'got:  %s\nwant: (empty: nothing to compare with)\n' "$1" | sed 's/^/#   /'
		return 1
	fi
	if [ "$1" = "$2" ]; then ok 0 "$3"; else
		ok 1 "$3"
		printf 'got:  %s\nwant: %s\n' "$1" "$2" | sed 's/^/#   /'
	fi
}
like() { # <got> <extended regex, case-insensitive> <name>
	if printf '%s' "$1" | grep -Eiq -- "$2"; then ok 0 "$3"; else
		ok 1 "$3"
		printf 'got:  %s\nwant match: %s\n' "$(printf '%s' "$1" | head -c 600)" "$2" | sed 's/^/#   /'
	fi
}
unlike() { # <got, not empty> <extended regex, case-insensitive> <name>
	if [ -z "$1" ]; then
		ok 1 "$3"
		printf 'got:  (empty: nothing to look at)\nmust not match: %s\n' "$2" | sed 's/^/#   /'
		return 1
	fi
	if printf '%s' "$1" | grep -Eiq -- "$2"; then
		ok 1 "$3"
		printf 'got:  %s\nmust not match: %s\n' "$(printf '%s' "$1" | head -c 600)" "$2" | sed 's/^/#   /'
	else ok 0 "$3"; fi
}
is_set() { # <value> <name>: the value a later check relies on is there
	if [ -n "$1" ]; then ok 0 "$2"; else
		ok 1 "$2"
		echo "#   got: (empty)"
		return 1
	fi
}
is_num() { # <value> <name>: a non-negative integer, for arithmetic that follows
	case "$1" in
	'' | *[!0-9]*)
		ok 1 "$2"
		echo "#   got: '$1', want a number"
		return 1
		;;
	*) ok 0 "$2" ;;
	esac
}
done_testing() {
	echo "1..$tap_n"
	[ "$tap_fail" -eq 0 ]
	exit $?
}
diag() { echo "# $*"; }

# A free TCP port on 127.0.0.1: below the kernel's ephemeral range (where client connections
# take their local ports, which would make a later bind fail), unused by any socket now, and not
# handed out before in this run.
used_ports=" "
free_port() {
	local p
	while :; do
		p=$((10000 + RANDOM % 22000))
		case "$used_ports" in *" $p "*) continue ;; esac
		ss -Htan "sport = :$p" 2>/dev/null | grep -q . && continue
		used_ports="$used_ports$p "
		echo "$p"
		return
	done
}

# backend <name> [testserver args...] -> starts a test server, sets BACKEND_PORT
backend() {
	local port name=$1
	shift
	port=$(free_port)
	"$TESTSERVER" --name "$name" --port "$port" --addr 127.0.0.1 "$@" >"$T/backend-$name.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 200); do
		grep -q listening "$T/backend-$name.log" 2>/dev/null && break
		sleep 0.02
	done
	BACKEND_PORT=$port
}

# need_swarm_images: bails out unless a Docker Engine in swarm mode answers; builds the test
# images (scripts/build-test-image) out of this build.
need_swarm_images() {
	if ! docker info >/dev/null 2>&1 ||
		[ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
		echo "Bail out! no Docker Engine in swarm mode (scripts/start-docker starts one)"
		exit 1
	fi
	"$SRC/scripts/build-test-image" "$BUILD" >/dev/null || { echo "Bail out! test images"; exit 1; }
	FP_IMAGE=flowproxy-e2e:$(basename "$(realpath "$BUILD")")
}

# fp_service_create <name> <network> <run dir> [docker service create options...]: flowproxy from
# FP_IMAGE as a swarm service on an overlay network, the Docker socket mounted, its run directory
# (HAProxy's sockets) on the host, its ports 80 and 8080 published in host mode on PPORT and APORT
# (no routing mesh here), SWARM=true. The run directory must not be $T/run: cleanup would signal
# the pids found there, which are the container's.
fp_service_create() {
	local name=$1 net=$2 rundir=$3
	shift 3
	docker service create -d --name "$name" --network "$net" \
		--mount type=bind,src=/var/run/docker.sock,dst=/var/run/docker.sock \
		--mount "type=bind,src=$rundir,dst=/var/run/flowproxy" \
		--publish "mode=host,target=80,published=$PPORT" \
		--publish "mode=host,target=8080,published=$APORT" \
		-e SWARM=true "$@" "$FP_IMAGE" >/dev/null 2>&1
}

wait_for() { # <seconds> <command...>
	local end=$((SECONDS + $1))
	shift
	while [ $SECONDS -lt $end ]; do "$@" && return 0; sleep 0.25; done
	return 1
}
# The container IDs of a service's running tasks: a container's host name, so its answers' name.
containers() {
	docker ps -q --filter "label=com.docker.swarm.service.name=$1" --filter status=running | sort
}
api_up() { curl -sf -m 2 -o /dev/null "http://127.0.0.1:$APORT/v1/docker-flow-proxy/ping"; }
# The API answers at once; HAProxy serves once the swarm's services are in its first config.
initialized() {
	[ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' \
		"http://127.0.0.1:$APORT/v1/docker-flow-proxy/successfulinitreload")" = 200 ]
}

# clean_stale_vxlan: removes overlay vxlan devices a dockerd restart left in this (the host's)
# network namespace. The engine creates them here and moves them into the network's sandbox at
# once; one left behind, DOWN, makes every later task on that network fail with "error creating
# vxlan interface: file exists" (a Docker Engine bug seen after restarts on this kernel).
clean_stale_vxlan() {
	local dev
	for dev in $(ip -o link show type vxlan 2>/dev/null | awk -F': ' '$3 !~ /UP/ {print $2}' |
		cut -d@ -f1 | grep '^vx-'); do
		ip link del "$dev" 2>/dev/null && echo "# removed a stale vxlan device $dev" >&2
	done
	return 0
}

# fp_start [flowproxy args...]: starts flowproxy (env from the caller), waits for its API and for
# HAProxy to serve the first configuration (successfulinitreload). Secrets and certificates are
# read from $T, never from the machine's /run/secrets or /certs.
fp_start() {
	PPORT=${PPORT:-$(free_port)}
	APORT=${APORT:-$(free_port)}
	mkdir -p "$T/cfg" "$T/run"
	DEFAULT_PORTS=${DEFAULT_PORTS:-$PPORT} BIND_ADDRESS=127.0.0.1 FLOWPROXY_SECRETS_DIR=$T/secrets \
		CERTS_DIR=${CERTS_DIR:-$T/certs} \
		${FP_BIN:-$FLOWPROXY} ${FP_SUBCOMMAND:-server} --ip 127.0.0.1 --port "$APORT" \
		--configs-path "$T/cfg" --run-dir "$T/run" "$@" >"$T/flowproxy.log" 2>&1 &
	FP_PID=$!
	for _ in $(seq 500); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' \
			"http://127.0.0.1:$APORT/v1/docker-flow-proxy/successfulinitreload")" = 200 ] &&
			return 0
		kill -0 "$FP_PID" 2>/dev/null || break
		sleep 0.02
	done
	echo "# flowproxy did not start:"
	sed 's/^/#   /' "$T/flowproxy.log"
	return 1
}

# Bodies come from $(...) subshells, so the statuses are kept in files: $(astatus), $(hstatus).
astatus() { cat "$T/.astatus"; }
hstatus() { cat "$T/.hstatus"; }

api() { # <path?query> -> body; status: $(astatus)
	local out
	out=$(curl -gs -m 60 -w '\n%{http_code}' "http://127.0.0.1:$APORT$1")
	printf '%s' "${out##*$'\n'}" >"$T/.astatus"
	printf '%s' "${out%$'\n'*}"
}

get() { # <path> [curl args...] -> body through HAProxy; status: $(hstatus)
	local path=$1 out
	shift
	out=$(curl -gs -m 60 -w '\n%{http_code}' "$@" "http://127.0.0.1:$PPORT$path")
	printf '%s' "${out##*$'\n'}" >"$T/.hstatus"
	printf '%s' "${out%$'\n'*}"
}

# alive <pid>: the process runs (a zombie, exited and waiting for its parent to reap it, does not).
alive() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

master_cmd() { # <command> on HAProxy's master CLI
	echo "$1" | socat -t5 - "UNIX-CONNECT:$T/run/master.sock"
}

# show_proc_field <awk program> <what>: one field of the master's `show proc`; prints nothing,
# says why on stderr and fails when the master does not answer or lists no such process.
show_proc_field() {
	local out v
	out=$(master_cmd "show proc" 2>&1)
	v=$(printf '%s\n' "$out" | awk "$1")
	if [ -z "$v" ]; then
		echo "# no $2 in the master's show proc: $(printf '%s' "$out" | head -c 300 | tr '\n' ' ')" >&2
		return 1
	fi
	echo "$v"
}

worker_pid() { # the current worker's pid
	show_proc_field '/^# workers/ {w = 1; next} /^#/ {w = 0} w && $2 == "worker" {print $1; exit}' \
		"current worker"
}

master_reloads() { # the master's reload counter
	show_proc_field '$2 == "master" {print $3; exit}' "master reload counter"
}

master_pid() {
	show_proc_field '$2 == "master" {print $1; exit}' "master"
}
