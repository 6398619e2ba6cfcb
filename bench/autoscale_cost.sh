#!/usr/bin/env bash
# The cost of one autoscaler tick with 100, 1,000 and 10,000 services, and the telemetry
# ingestion rate with the autoscaler ticking every second vs not, alternating ROUNDS times in one
# run (bench/bench_autoscale.c). Builds bench_autoscale in BUILD (a release build, set up when
# missing). Starts one HAProxy per size on 127.0.0.1 (a free port), stopped at the end.
#   SIZES=100,1000,10000 TICKS=200 SPACED=10 ROUNDS=7 LINES=30000000
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-release}
SIZES=${SIZES:-100,1000,10000}
TICKS=${TICKS:-200}
SPACED=${SPACED:-10}
ROUNDS=${ROUNDS:-7}
LINES=${LINES:-30000000}
[ -d "$BUILD" ] || meson setup "$BUILD" --buildtype=release -Dwerror=true >/dev/null
ninja -C "$BUILD" bench/bench_autoscale >/dev/null
# HAProxy's own notices on stop are not figures.
quiet() { "$@" 2> >(grep -v 'warn: haproxy' >&2); }
for n in ${SIZES//,/ }; do
	ticks=$TICKS
	[ "$n" -gt 2000 ] && ticks=$((TICKS / 10 > 10 ? TICKS / 10 : 10))
	echo "== tick, $n services"
	quiet "$BUILD/bench/bench_autoscale" tick "$n" "$ticks" "$SPACED"
done
echo "== ingestion, 1000 services"
quiet "$BUILD/bench/bench_autoscale" ingest "$ROUNDS" "$LINES"
