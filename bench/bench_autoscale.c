// SPDX-License-Identifier: MIT
/*
 * bench_autoscale: the cost of one autoscaler tick, and what ticking does to telemetry
 * ingestion. A daemon is made the way main makes it (config_load, daemon_new, services through
 * daemon_submit_params, daemon_start: HAProxy runs, on 127.0.0.1 and a free port, because the
 * render plan and the per-backend metrics the autoscaler reads exist only once a configuration
 * is applied). Every service has three policies (an up, a down with an `unless`, a quantile up)
 * and limits; the scaler is in this file: 3 replicas wanted and running for every service, and a
 * scale that is only counted (the traffic is shaped so that no policy holds, so a tick measures
 * every term of every policy and decides nothing). Histograms are filled through metrics_record,
 * which is what the daemon's telemetry callback calls for every line.
 *
 *   bench_autoscale tick [services, 1000] [ticks, 200] [spaced ticks, 10]
 *     Back-to-back ticks (median, p90, max ms; per 1,000 services), then ticks one slice apart
 *     with a slice of traffic recorded between them (the steady state: slices rotate).
 *   bench_autoscale ingest [rounds, 7] [lines per run, 30000000]
 *     1,000 services: lines parsed and recorded on the daemon's loop, with the autoscaler
 *     ticking every 1 s on that loop and without it, alternating which goes first each round;
 *     ratio with/without per round, median and min-max.
 */
#include "flowproxy/autoscaler.h"
#include "flowproxy/config.h"
#include "flowproxy/daemon.h"
#include "flowproxy/log.h"
#include "flowproxy/loop.h"
#include "flowproxy/metrics.h"
#include "flowproxy/render.h"
#include "flowproxy/telemetry.h"

#include "testlib.h" /* free_port, remove_test_dir */

#include <cjson/cJSON.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef HAPROXY_BIN
#define HAPROXY_BIN "/usr/sbin/haproxy"
#endif

#define HISTORY_S 60 /* seconds of traffic recorded before the ticks */

/* ---- the scaler ---------------------------------------------------------------------------- */

static unsigned long scale_calls;

static int bench_replicas(void *impl, const char *service, long *ret_wanted, long *ret_running)
{
	*ret_wanted = 3;
	*ret_running = 3;
	return 0;
}

/* Counted, never finished: a service being scaled is skipped by later ticks (reported). */
static void *bench_scale(void *impl, const char *service, long delta, long min, long max,
			 scaler_done_fn cb, void *userdata, char **reterr)
{
	static int handle;

	scale_calls++;
	return &handle;
}

static void bench_cancel(void *impl, void *handle)
{
}

static const struct scaler_ops bench_ops = {bench_replicas, bench_scale, bench_cancel};

/* ---- traffic ------------------------------------------------------------------------------- */

static unsigned seed = 42;

static unsigned rnd(void)
{
	seed = seed * 1103515245u + 12345u;
	return seed >> 8;
}

/*
 * A response time (Tr) in ms: 15-44 ms for most, 0.5 % between 100 and 400 ms. So 99.5 % are
 * within 0.1 s (resp_time_above:0.1,..,0.99 does not hold), about a third within 25 ms
 * (resp_time_below:0.025,..,0.75 does not hold) and p90 is about 42 ms (quantile 0.9 above 0.2 s
 * does not hold).
 */
static int32_t resp_time(void)
{
	unsigned r = rnd();

	if (r % 1000 < 5)
		return (int32_t)(100 + (r >> 10) % 300);
	return (int32_t)(15 + (r >> 10) % 30);
}

/* rate requests per second to every backend of the plan, for the second that starts at t0. */
static void record_second(struct metrics *m, const struct render_plan *plan, uint64_t t0,
			  unsigned rate)
{
	struct telemetry_line l = {.kind = TELEMETRY_REQUEST, .tw = 0, .term = "----"};

	for (size_t b = 0; b < plan->n_backends; b++) {
		snprintf(l.backend, sizeof(l.backend), "%s", plan->backends[b].name);
		for (unsigned j = 0; j < rate; j++) {
			snprintf(l.server, sizeof(l.server), "web.%u", j % 3 + 1);
			l.status = rnd() % 500 ? 200 : 503;
			l.tc = (int32_t)(j & 1);
			l.tr = resp_time();
			l.ta = l.tr + 1;
			metrics_record(m, &l, t0 + (uint64_t)j * 1000 / rate);
		}
	}
}

/* ---- the daemon ---------------------------------------------------------------------------- */

struct bench {
	char dir[64];
	char *cfgdir, *rundir, *ports_env;
	struct config cfg;
	struct loop *loop;
	struct daemon *d;
	struct scaler_set scalers;
	bool started;
	int start_r;
	long applied, failed;
};

static void on_started(void *userdata, int r)
{
	struct bench *b = userdata;

	b->started = true;
	b->start_r = r;
}

static void on_applied(void *userdata, int status, const char *message, bool found)
{
	struct bench *b = userdata;

	b->applied++;
	if (status != 200 && b->failed++ == 0)
		fprintf(stderr, "bench_autoscale: %s\n", message);
}

/*
 * HAProxy started, then n services svc00000.. with path, port, three policies and limits, as one
 * reconfigure batch (services queued before the start are checked one by one against the whole
 * registry, which is quadratic in n: slow with 10,000).
 */
static int bench_start(struct bench *b, long n)
{
	_cleanup_free_ char *err = NULL;

	snprintf(b->dir, sizeof(b->dir), "/tmp/fp-bench-as.XXXXXX");
	if (!mkdtemp(b->dir)) {
		perror("mkdtemp");
		return -1;
	}
	b->cfgdir = xasprintf("%s/cfg", b->dir);
	b->rundir = xasprintf("%s/run", b->dir);
	b->ports_env = xasprintf("DEFAULT_PORTS=%d", free_port());
	char *argv[] = {"--configs-path", b->cfgdir,   "--run-dir", b->rundir,
			"--haproxy",	  HAPROXY_BIN, NULL};
	/* No `show stat` polling: it runs on the same loop and is not what is measured. */
	char *envp[] = {b->ports_env, "BIND_ADDRESS=127.0.0.1", "TELEMETRY=true",
			"STATS_INTERVAL=0", NULL};
	if (config_load(&b->cfg, 6, argv, envp, &err) < 0 || loop_new(&b->loop) < 0 ||
	    daemon_new(b->loop, &b->cfg, &b->d, &err) < 0) {
		fprintf(stderr, "bench_autoscale: %s\n", err ? err : "setup failed");
		return -1;
	}
	if (daemon_start(b->d, on_started, b, &err) < 0) {
		fprintf(stderr, "bench_autoscale: %s\n", err);
		return -1;
	}
	for (long long end = now_usec() + 120000000; !b->started && now_usec() < end;)
		loop_iterate(b->loop, 50);
	if (!b->started || b->start_r < 0 || !daemon_metrics(b->d)) {
		fprintf(stderr, "bench_autoscale: HAProxy did not start (%d)\n", b->start_r);
		return -1;
	}
	for (long i = 0; i < n; i++) {
		struct params p;
		char name[32], path[40];

		snprintf(name, sizeof(name), "svc%05ld", i);
		snprintf(path, sizeof(path), "/%s", name);
		params_init(&p);
		params_add(&p, "serviceName", name);
		params_add(&p, "servicePath", path);
		params_add(&p, "port", "8080");
		params_add(&p, "outboundHostname", "127.0.0.1");
		params_add(&p, "scaleMin", "2");
		params_add(&p, "scaleMax", "10");
		params_add(&p, "alertIf.1", "@resp_time_above:0.1,30s,0.99");
		params_add(&p, "alertFor.1", "10s");
		params_add(&p, "alertIf.2",
			   "@resp_time_below:0.025,30s,0.75_unless_@resp_time_above:0.1,30s,0.99");
		params_add(&p, "alertFor.2", "30s");
		params_add(&p, "alertIf.3", "@resp_time_quantile_above:0.9,0.2,30s");
		int r = daemon_submit_params(b->d, &p, "bench", NULL, 0, on_applied, b, NULL, NULL,
					     &err);
		params_done(&p);
		if (r < 0) {
			fprintf(stderr, "bench_autoscale: %s: %s\n", name, err);
			return -1;
		}
	}
	daemon_flush(b->d);
	for (long long end = now_usec() + 300000000; b->applied < n && now_usec() < end;)
		loop_iterate(b->loop, 50);
	if (b->applied < n || b->failed) {
		fprintf(stderr, "bench_autoscale: %ld of %ld services applied, %ld failed\n",
			b->applied, n, b->failed);
		return -1;
	}
	b->scalers.v[0] = (struct scaler){"bench", &bench_ops, NULL};
	b->scalers.n = 1;
	return 0;
}

static void bench_stop(struct bench *b)
{
	daemon_free(b->d);
	loop_free(b->loop);
	config_done(&b->cfg);
	if (b->rundir) {
		remove_test_dir(b->cfgdir);
		remove_test_dir(b->rundir);
		remove_test_dir(b->dir);
	}
	free(b->cfgdir);
	free(b->rundir);
	free(b->ports_env);
}

static int make_autoscaler(struct bench *b, enum autoscaler_mode mode, struct autoscaler **ret)
{
	struct autoscaler_options o = {mode, 1000, 10, NULL, NULL};
	_cleanup_free_ char *err = NULL;

	if (autoscaler_new(b->loop, b->d, &b->scalers, &o, ret, &err) < 0) {
		fprintf(stderr, "bench_autoscale: %s\n", err);
		return -1;
	}
	return 0;
}

/* CPU time of this thread in usec: what a tick costs, apart from other processes' turns. */
static long long cpu_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One tick: wall and CPU ms into *wall and *cpu. */
static void timed_tick(struct autoscaler *a, double *wall, double *cpu)
{
	long long t = now_usec(), c = cpu_usec();

	autoscaler_tick(a);
	*cpu = (double)(cpu_usec() - c) / 1000.0;
	*wall = (double)(now_usec() - t) / 1000.0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Sorts v and prints its median, p90 and max, and the median per 1,000 services. */
static void print_ms(const char *what, double *v, size_t n, long services)
{
	qsort(v, n, sizeof(*v), cmp_double);
	printf("%-36s median %8.3f ms  p90 %8.3f ms  max %8.3f ms  (%zu ticks; median %.3f ms per "
	       "1,000 services)\n",
	       what, v[n / 2], v[n * 9 / 10], v[n - 1], n, v[n / 2] * 1000.0 / (double)services);
}

/* What the policies saw on the first service: proof that they measured data. */
static void print_first_service(struct autoscaler *a)
{
	cJSON *j = autoscaler_json(a);
	cJSON *s = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "services"), 0);
	cJSON *pols = cJSON_GetObjectItem(s, "policies");
	cJSON *p;

	printf("  %s:", cJSON_GetStringValue(cJSON_GetObjectItem(s, "service")));
	cJSON_ArrayForEach(p, pols)
	{
		cJSON *t;
		printf(" %s=%s", cJSON_GetStringValue(cJSON_GetObjectItem(p, "key")),
		       cJSON_GetStringValue(cJSON_GetObjectItem(p, "state")));
		cJSON_ArrayForEach(t, cJSON_GetObjectItem(p, "terms")) printf(
			" [%.3f of %.0f]", cJSON_GetNumberValue(cJSON_GetObjectItem(t, "value")),
			cJSON_GetNumberValue(cJSON_GetObjectItem(t, "requests")));
	}
	printf("\n");
	cJSON_Delete(j);
}

/* The ticks on b's n services, rate requests per second per backend recorded first. */
static void tick_body(struct bench *b, struct autoscaler *a, long n, long ticks, long spaced,
		      unsigned rate)
{
	struct metrics *m = daemon_metrics(b->d);
	const struct render_plan *plan = daemon_plan(b->d);
	long long t0 = now_usec();
	/* HISTORY_S seconds up to now, "now" being when the recording ends (it takes a while). */
	uint64_t from = daemon_now_ms() - HISTORY_S * 1000;
	for (; from + 1000 <= daemon_now_ms(); from += 1000)
		record_second(m, plan, from, rate);
	printf("%ld services, %zu backends, %u req/s each for %d s recorded in %.1f s\n", n,
	       plan->n_backends, rate, HISTORY_S, (double)(now_usec() - t0) / 1e6);

	size_t nv = (size_t)(ticks > spaced ? ticks : spaced);
	double *v = xcalloc(nv, sizeof(*v)), *c = xcalloc(nv, sizeof(*c));
	autoscaler_tick(a); /* the first tick parses every service's policies */
	for (long i = 0; i < ticks; i++)
		timed_tick(a, &v[i], &c[i]);
	print_ms("back-to-back, wall", v, (size_t)ticks, n);
	print_ms("back-to-back, CPU", c, (size_t)ticks, n);
	for (long i = 0; i < spaced; i++) {
		/* The next slice, with a second's traffic in it, then the tick. */
		uint64_t slice = b->cfg.telemetry_slice_ms;
		usleep((useconds_t)((slice - daemon_now_ms() % slice) * 1000 + 2000));
		record_second(m, plan, daemon_now_ms(), rate);
		timed_tick(a, &v[i], &c[i]);
	}
	if (spaced > 0) {
		print_ms("one slice apart with traffic, wall", v, (size_t)spaced, n);
		print_ms("one slice apart with traffic, CPU", c, (size_t)spaced, n);
	}
	print_first_service(a);
	printf("  scale calls: %lu (expected 0: no policy holds)\n", scale_calls);
	free(v);
	free(c);
}

static int run_tick(long n, long ticks, long spaced, unsigned rate)
{
	struct bench b = {0};
	struct autoscaler *a = NULL;
	int ret = 1;

	if (bench_start(&b, n) >= 0 && make_autoscaler(&b, AUTOSCALER_OFF, &a) >= 0) {
		tick_body(&b, a, n, ticks, spaced, rate);
		ret = 0;
	}
	autoscaler_free(a);
	bench_stop(&b);
	return ret;
}

/* ---- ingestion ----------------------------------------------------------------------------- */

#define NLINES 4096
#define CHUNK  4096 /* lines per round of the loop */

struct line {
	char s[200];
	size_t len;
};

struct ingest {
	struct loop *loop;
	struct metrics *m;
	const struct line *lines;
	struct loop_timer *timer;
	uint64_t todo, done, bad;
};

/* One round's worth of lines, as the follower hands them to the daemon's callback. */
static void on_chunk(void *userdata)
{
	struct ingest *in = userdata;
	struct telemetry_line l;

	for (unsigned k = 0; k < CHUNK && in->done < in->todo; k++, in->done++) {
		const struct line *x = &in->lines[in->done % NLINES];
		if (telemetry_parse_line(x->s, x->len, &l) < 0)
			in->bad++;
		else
			metrics_record(in->m, &l, daemon_now_ms());
	}
	if (in->done < in->todo)
		loop_timer_after(in->timer, 0);
	else
		loop_quit(in->loop);
}

/*
 * Lines/s for todo lines ingested on the loop; *ret_ticks: the autoscaler's ticks meanwhile,
 * *ret_share: the part of the run they took (ticks x the last tick's time).
 */
static double ingest_run(struct bench *b, const struct line *lines, uint64_t todo, bool ticking,
			 uint64_t *ret_ticks, double *ret_share)
{
	struct ingest in = {b->loop, daemon_metrics(b->d), lines, NULL, todo, 0, 0};
	struct autoscaler *a = NULL;

	if (ticking && make_autoscaler(b, AUTOSCALER_ON, &a) < 0)
		exit(1);
	/* Policies parsed before the clock starts, as in a daemon that runs. */
	if (a)
		autoscaler_tick(a);
	in.timer = loop_timer_new(b->loop, on_chunk, &in);
	loop_timer_after(in.timer, 0);
	long long t0 = now_usec();
	loop_run(b->loop);
	double secs = (double)(now_usec() - t0) / 1e6;
	loop_timer_free(in.timer);
	*ret_ticks = 0;
	*ret_share = 0;
	if (a) {
		cJSON *j = autoscaler_json(a);
		*ret_ticks = (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "ticks")) - 1;
		*ret_share = (double)*ret_ticks *
			     cJSON_GetNumberValue(cJSON_GetObjectItem(j, "lastTickMs")) /
			     (secs * 1000.0);
		cJSON_Delete(j);
	}
	autoscaler_free(a);
	if (in.bad) {
		fprintf(stderr, "bench_autoscale: %llu lines did not parse\n",
			(unsigned long long)in.bad);
		exit(1);
	}
	return (double)todo / secs;
}

/* rounds of todo lines each side, on b's 1,000 services. */
static void ingest_body(struct bench *b, long rounds, long todo)
{
	static struct line lines[NLINES];
	double *ratio = xcalloc((size_t)rounds, sizeof(*ratio));

	const struct render_plan *plan = daemon_plan(b->d);
	for (int i = 0; i < NLINES; i++) {
		const char *be = plan->backends[rnd() % plan->n_backends].name;
		int32_t tr = resp_time();
		int n = snprintf(lines[i].s, sizeof(lines[i].s),
				 "fp1 %s web.%u %d 0 %u %d %d %u 0 ----", be, rnd() % 3 + 1,
				 rnd() % 500 ? 200 : 503, rnd() % 2, tr, tr + 1, rnd() % 40);
		lines[i].len = (size_t)n;
	}
	printf("ingestion: %ld services, %ld lines per run, e.g. '%s'\n", 1000L, todo, lines[0].s);
	uint64_t ticks = 0, none;
	double share = 0, nothing;
	/* Warm-up: every backend's histogram allocated, caches and frequency settled. */
	ingest_run(b, lines, (uint64_t)todo / 4, true, &ticks, &share);
	ingest_run(b, lines, (uint64_t)todo / 4, false, &none, &nothing);
	for (long r = 0; r < rounds; r++) {
		double on = 0, off = 0;
		/* Alternate which side goes first, so that a drift of the machine hits both. */
		for (int k = 0; k < 2; k++) {
			if ((k == 0) == (r % 2 == 0))
				on = ingest_run(b, lines, (uint64_t)todo, true, &ticks, &share);
			else
				off = ingest_run(b, lines, (uint64_t)todo, false, &none, &nothing);
		}
		ratio[r] = on / off;
		printf("round %ld: ticking %.3f M lines/s (%llu ticks, %.2f %% of the run), not "
		       "ticking %.3f M lines/s, ratio %.4f\n",
		       r + 1, on / 1e6, (unsigned long long)ticks, share * 100.0, off / 1e6,
		       ratio[r]);
	}
	qsort(ratio, (size_t)rounds, sizeof(*ratio), cmp_double);
	printf("ingestion ratio ticking/not ticking: median %.4f (min %.4f, max %.4f) over %ld "
	       "rounds\n",
	       ratio[rounds / 2], ratio[0], ratio[rounds - 1], rounds);
	free(ratio);
}

static int run_ingest(long rounds, long todo)
{
	struct bench b = {0};
	int ret = 1;

	if (bench_start(&b, 1000) >= 0) {
		ingest_body(&b, rounds, todo);
		ret = 0;
	}
	bench_stop(&b);
	return ret;
}

int main(int argc, char **argv)
{
	long a1, a2, a3;

	setvbuf(stdout, NULL, _IOLBF, 0);
	log_set_level(LOG_LEVEL_WARN);
	if (argc >= 2 && streq(argv[1], "tick")) {
		a1 = 1000;
		a2 = 200;
		a3 = 10;
		if ((argc > 2 && parse_long(argv[2], 1, 100000, &a1) < 0) ||
		    (argc > 3 && parse_long(argv[3], 1, 1000000, &a2) < 0) ||
		    (argc > 4 && parse_long(argv[4], 0, 1000, &a3) < 0))
			goto usage;
		return run_tick(a1, a2, a3, 100);
	}
	if (argc >= 2 && streq(argv[1], "ingest")) {
		a1 = 7;
		a2 = 30000000;
		if ((argc > 2 && parse_long(argv[2], 1, 1000, &a1) < 0) ||
		    (argc > 3 && parse_long(argv[3], 1000, 1000000000, &a2) < 0))
			goto usage;
		return run_ingest(a1, a2);
	}
usage:
	fprintf(stderr, "usage: bench_autoscale tick [services] [ticks] [spaced ticks]\n"
			"       bench_autoscale ingest [rounds] [lines per run]\n");
	return 2;
}
