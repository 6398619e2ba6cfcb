// SPDX-License-Identifier: MIT
/*
 * bench_telemetry: telemetry_parse_line throughput on one core, on lines shaped like the ring's
 * (TELEMETRY_LOG_FORMAT with varied names, timers and states, a few markers and soft-stop
 * lines): parse only, then parse + a trivial callback through a function pointer, the way the
 * follower hands lines out, then parse + record into the per-backend metrics (1000 backends,
 * 5-minute window of 1 s slices), which is what the daemon does with every line.
 *
 *   bench_telemetry [seconds per run, default 2]
 */
#include "flowproxy/metrics.h"
#include "flowproxy/telemetry.h"
#include "flowproxy/util.h"

#define NLINES 4096

struct line {
	char s[160];
	size_t len;
};

static uint64_t sink_tr;
static void on_line(void *userdata, const struct telemetry_line *l)
{
	uint64_t *sum = userdata;

	*sum += (uint64_t)(l->tr > 0 ? l->tr : 0) + (uint64_t)l->status;
}

static struct metrics *bench_metrics;
static uint64_t bench_now = 1000000;

/* Recording the way the daemon does: a clock read every 1024 lines is close to its cost. */
static void on_line_record(void *userdata, const struct telemetry_line *l)
{
	uint64_t *n = userdata;

	if ((++*n & 1023) == 0)
		bench_now = (uint64_t)(now_usec() / 1000);
	metrics_record(bench_metrics, l, bench_now);
}

static void make_lines(struct line *lines)
{
	static const char *const terms[] = {"----", "----", "----", "sH--", "SC--", "CD--"};
	unsigned seed = 42;

	for (int i = 0; i < NLINES; i++) {
		int n;

		seed = seed * 1103515245u + 12345u;
		if (i % 1000 == 999)
			n = snprintf(lines[i].s, sizeof(lines[i].s), "%u events dropped",
				     (seed >> 16) % 5000);
		else if (i % 1000 == 998)
			n = snprintf(lines[i].s, sizeof(lines[i].s),
				     "Proxy be_svc%u stopped (cumulated conns: FE: 0, BE: 12).",
				     (seed >> 16) % 300);
		else
			n = snprintf(lines[i].s, sizeof(lines[i].s),
				     "fp1 be_service-%u web.%u %d %u %u %u %u %u %u %s",
				     (seed >> 8) % 1000, (seed >> 4) % 3 + 1,
				     (seed >> 20) % 50 ? 200 : 503, (seed >> 3) % 3,
				     (seed >> 5) % 2, (seed >> 7) % 900, (seed >> 9) % 1200,
				     (seed >> 11) % 40, (seed >> 13) % 4, terms[(seed >> 17) % 6]);
		lines[i].len = (size_t)n;
	}
}

static void run(const struct line *lines, double secs, telemetry_line_fn cb, const char *name)
{
	struct telemetry_line l;
	uint64_t n = 0, bad = 0, sum = 0;
	long long t0 = now_usec(), t;
	size_t bytes = 0;

	do {
		for (int i = 0; i < NLINES; i++) {
			if (telemetry_parse_line(lines[i].s, lines[i].len, &l) < 0)
				bad++;
			else if (cb)
				cb(&sum, &l);
			bytes += lines[i].len;
		}
		n += NLINES;
		t = now_usec();
	} while (t - t0 < (long long)(secs * 1e6));
	sink_tr += sum;
	printf("%-26s %8.2f M lines/s  %7.1f MB/s  (%llu lines, %llu bad)\n", name,
	       (double)n / ((double)(t - t0) / 1e6) / 1e6,
	       (double)bytes / ((double)(t - t0) / 1e6) / 1e6, (unsigned long long)n,
	       (unsigned long long)bad);
}

int main(int argc, char **argv)
{
	static struct line lines[NLINES];
	telemetry_line_fn volatile cb = on_line; /* not inlined: a real indirect call */
	double secs = argc > 1 ? strtod(argv[1], NULL) : 2.0;

	if (secs <= 0)
		secs = 2.0;
	make_lines(lines);
	printf("telemetry_parse_line, one core, %d distinct lines, e.g. '%s'\n", NLINES,
	       lines[0].s);
	run(lines, secs, NULL, "parse only");
	run(lines, secs, cb, "parse + callback");

	static char names[1000][32];
	const char *bv[1000], *sv[1000];
	for (int i = 0; i < 1000; i++) {
		snprintf(names[i], sizeof(names[i]), "be_service-%d", i);
		bv[i] = names[i];
		sv[i] = names[i];
	}
	metrics_new(1000, 300, &bench_metrics);
	metrics_set_backends(bench_metrics, bv, sv, 1000, NULL, 0);
	telemetry_line_fn volatile rec = on_line_record;
	run(lines, secs, rec, "parse + record (metrics)");
	metrics_free(bench_metrics);
	return sink_tr == 1 ? 1 : 0;
}
