// SPDX-License-Identifier: MIT
/*
 * Integration test of src/telemetry.c against the real HAProxy 2.6: the ring and log-format of
 * docs/telemetry.md, requests with known ?delay values through HAProxy to tests/testserver,
 * a reload in the middle of traffic (lines lost <= what the counters admit), a reload nobody
 * announced (noticed from "Proxy x stopped"), a SIGKILLed master restarted by
 * haproxy_process_events, and a reader that stops reading while traffic goes on (HAProxy keeps
 * the oldest lines, drops the new ones and says so with "N events dropped"), the response time
 * recorded into the metrics of a queued request (maxconn 1) and of a server timeout, and a stream
 * closed under the follower by HAProxy (reconnected with -n: nothing counted twice). Only
 * 127.0.0.1; every process started here is stopped before the end. Timings are only compared
 * with what the client itself measured, with a margin for a loaded machine.
 */
#include "flowproxy/haproxy.h"
#include "flowproxy/loop.h"
#include "flowproxy/metrics.h"
#include "flowproxy/telemetry.h"
#include "tap.h"
#include "testlib.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#define HAPROXY_BIN "/usr/sbin/haproxy"
#define KEEP_MAX    64

static char dir[] = "/tmp/fp-telemetry-XXXXXX";
static int fe_port, ts_port;

/* What the callback saw. */
struct seen {
	uint64_t requests, markers, dropped;
	uint64_t by_status[600];
	uint64_t status_other;
	uint64_t alpha, beta;
	bool marker_before_204; /* a marker arrived before the first 204 line */
	uint64_t n204;
	struct telemetry_line keep[KEEP_MAX]; /* the first lines after a reset */
	size_t nkeep;
};
static struct seen seen;
static struct metrics *recorded; /* when set, every line is also recorded into it */

static void on_line(void *userdata, const struct telemetry_line *l)
{
	struct seen *s = userdata;

	if (recorded)
		metrics_record(recorded, l, (uint64_t)(now_usec() / 1000));
	if (l->kind == TELEMETRY_DROPPED) {
		s->markers++;
		s->dropped += l->dropped;
		if (!s->n204)
			s->marker_before_204 = true;
		return;
	}
	s->requests++;
	if (l->status >= 0 && l->status < 600)
		s->by_status[l->status]++;
	else
		s->status_other++;
	s->n204 += l->status == 204;
	s->alpha += streq(l->backend, "be_alpha");
	s->beta += streq(l->backend, "be_beta");
	if (s->nkeep < KEEP_MAX)
		s->keep[s->nkeep++] = *l;
}

static int fe_connect(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((unsigned short)fe_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = 10};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* GET path with Connection: close; returns the status code, -1 on a transport error. */
static int http_get(const char *path)
{
	char *req = xasprintf("GET %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n", path);
	char buf[4096];
	size_t len = 0;
	int fd = fe_connect(), status = -1;
	ssize_t n;

	if (fd >= 0 && send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req))
		while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0 &&
		       len + (size_t)n < sizeof(buf) - 1)
			len += (size_t)n;
	buf[len] = '\0';
	if (str_startswith(buf, "HTTP/1.1 "))
		status = (int)strtol(buf + 9, NULL, 10);
	if (fd >= 0)
		close(fd);
	free(req);
	return status;
}

/*
 * n pipelined keep-alive requests for path (answered by HAProxy itself), in batches. Returns
 * the number of responses counted.
 */
static long bulk_get(const char *path, long n)
{
	static const char pat[] = "HTTP/1.1 ";
	static char rbuf[1 << 16];
	size_t m = 0;
	char *one = xasprintf("GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path);
	size_t olen = strlen(one);
	struct strbuf batch;
	long done = 0;
	int fd = fe_connect();
	const long per = 200;

	strbuf_init(&batch);
	for (long i = 0; i < per; i++)
		strbuf_append(&batch, one, olen);
	while (fd >= 0 && done < n) {
		long k = n - done < per ? n - done : per, got = 0;

		if (send(fd, batch.s, (size_t)k * olen, MSG_NOSIGNAL) !=
		    (ssize_t)((size_t)k * olen))
			break;
		/* Count "HTTP/1.1 " status lines across reads ('H' occurs once in the pattern). */
		while (got < k) {
			ssize_t r = read(fd, rbuf, sizeof(rbuf));

			if (r <= 0)
				goto out;
			for (ssize_t i = 0; i < r; i++) {
				m = rbuf[i] == pat[m] ? m + 1 : rbuf[i] == 'H';
				if (m == 9) {
					got++;
					m = 0;
				}
			}
		}
		done += k;
	}
out:
	if (fd >= 0)
		close(fd);
	strbuf_done(&batch);
	free(one);
	return done;
}

/* A request on its own thread, timed by the client: from before connect to the last byte. */
struct timed_get {
	const char *path;
	int status;
	long long ms;
};

static void *timed_get_main(void *arg)
{
	struct timed_get *g = arg;
	long long t0 = now_usec();

	g->status = http_get(g->path);
	g->ms = (now_usec() - t0) / 1000;
	return NULL;
}

/* One command on the worker's stats socket; the whole answer (caller frees), NULL on error. */
static char *stats_cmd(const char *cmd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct strbuf out;
	char buf[4096];
	ssize_t n;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/stats.sock", dir);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) != (ssize_t)strlen(cmd)) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	strbuf_init(&out);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		strbuf_append(&out, buf, (size_t)n);
	close(fd);
	return strbuf_steal(&out);
}

/*
 * The pointers of the CLI sessions (fe=GLOBAL) older than a second in `show sess`: the
 * follower's stream once it has lived that long, not the connection asking (age=0s).
 */
static size_t old_cli_sessions(char ptrs[][32], size_t max)
{
	char *all = stats_cmd("show sess\n");
	size_t n = 0;

	for (char *line = all, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!strstr(line, " fe=GLOBAL ") || strstr(line, " age=0s ") || line[0] != '0')
			continue;
		if (n < max)
			snprintf(ptrs[n], sizeof(ptrs[n]), "%.*s", (int)strcspn(line, ":"), line);
		n++;
	}
	free(all);
	return n;
}

static char *make_cfg(const char *extra)
{
	return xasprintf("global\n"
			 "\tstats socket %s/stats.sock mode 600 level admin\n"
			 "\tstats timeout 24d\n"
			 "\thard-stop-after 10s\n"
			 "\tlog ring@" TELEMETRY_RING " local0 info\n"
			 "ring " TELEMETRY_RING "\n"
			 "\tformat raw\n"
			 "\tsize 1048576\n"
			 "\tmaxlen 1024\n"
			 "defaults\n"
			 "\tmode http\n"
			 "\tlog global\n"
			 "\tlog-format \"%s\"\n"
			 "\ttimeout connect 2s\n"
			 "\ttimeout client 10s\n"
			 "\ttimeout server 10s\n"
			 "frontend fe\n"
			 "\tbind 127.0.0.1:%d\n"
			 "\thttp-request return status 200 if { path_beg /fast/a }\n"
			 "\thttp-request return status 202 if { path_beg /fast/b }\n"
			 "\thttp-request return status 204 if { path_beg /fast/c }\n"
			 "\tuse_backend be_beta if { path_beg /beta }\n"
			 "\tuse_backend be_queue if { path_beg /queue }\n"
			 "\tuse_backend be_slow if { path_beg /slow }\n"
			 "\tdefault_backend be_alpha\n"
			 "backend be_alpha\n"
			 "\tserver s1 127.0.0.1:%d\n"
			 "backend be_beta\n"
			 "\tserver b1 127.0.0.1:%d\n"
			 /* One request at a time: a second one waits in the queue (Tw). */
			 "backend be_queue\n"
			 "\ttimeout queue 10s\n"
			 "\tserver q1 127.0.0.1:%d maxconn 1\n"
			 /* Answers later than this are HAProxy's 504, without Tr. */
			 "backend be_slow\n"
			 "\ttimeout server 300\n"
			 "\tserver w1 127.0.0.1:%d\n"
			 "%s",
			 dir, TELEMETRY_LOG_FORMAT, fe_port, ts_port, ts_port, ts_port, ts_port,
			 extra ? extra : "");
}

static struct loop *tloop;

/* Runs the loop (the follower) and HAProxy's events for up to ms, or until done() holds. */
static bool pump(struct haproxy *h, struct telemetry *t, int ms, bool (*done)(struct telemetry *))
{
	long long end = now_usec() + (long long)ms * 1000;

	for (;;) {
		if (done && done(t))
			return true;
		if (now_usec() >= end)
			return false;
		loop_iterate(tloop, 20);
	}
}

static uint64_t want_requests;
static bool got_requests(struct telemetry *t)
{
	return seen.requests >= want_requests;
}
static bool is_connected(struct telemetry *t)
{
	struct telemetry_stats st;

	telemetry_get_stats(t, &st);
	return st.connected;
}
static int want_pid;
static bool follows_pid(struct telemetry *t)
{
	struct telemetry_stats st;

	telemetry_get_stats(t, &st);
	return st.connected && st.worker_pid == want_pid;
}
static bool no_old_streams(struct telemetry *t)
{
	struct telemetry_stats st;

	telemetry_get_stats(t, &st);
	return st.old_streams == 0;
}

/* One request in a thread of its own. */
struct slow_req {
	const char *path;
	int status;
};

static void *slow_main(void *arg)
{
	struct slow_req *sr = arg;

	sr->status = http_get(sr->path);
	return NULL;
}

/* Background traffic during a reload. */
struct traffic {
	volatile bool stop;
	long sent, ok;
};

static void *traffic_main(void *arg)
{
	struct traffic *tr = arg;

	while (!tr->stop) {
		int st = http_get(tr->sent % 2 ? "/beta/r?delay=2" : "/r?delay=2");

		tr->sent++;
		tr->ok += st == 200;
	}
	return NULL;
}

static void reset_seen(void)
{
	memset(&seen, 0, sizeof(seen));
}

int main(void)
{
	struct haproxy_options o = {.binary = HAPROXY_BIN, .timeout_ms = 10000};
	struct haproxy *h = NULL;
	struct telemetry *t = NULL;
	struct telemetry_stats st0, st;
	char *err = NULL, *cfg = NULL, *cfg2 = NULL, *cfg_path = NULL, *stats_path = NULL,
	     *master_path = NULL;
	pid_t ts_pid, w1, m1;
	int r;

	if (access(HAPROXY_BIN, X_OK) != 0)
		return tap_skip_all("haproxy not installed");
	if (!mkdtemp(dir))
		abort();
	cfg_path = xasprintf("%s/haproxy.cfg", dir);
	stats_path = xasprintf("%s/stats.sock", dir);
	master_path = xasprintf("%s/master.sock", dir);
	o.config_path = cfg_path;
	o.run_dir = dir;
	ts_pid = testserver_start("alpha", &ts_port);
	fe_port = free_port();
	if (!tap_ok(ts_port > 0 && fe_port > 0, "testserver listening"))
		goto out;
	cfg = make_cfg(NULL);
	cfg2 = make_cfg("backend be_extra\n\tserver e1 127.0.0.1:9\n");

	if (loop_new(&tloop) < 0)
		abort();
	tap_is_int(
		telemetry_new(tloop, stats_path, master_path, TELEMETRY_RING, on_line, &seen, &t),
		0, "telemetry_new");
	tap_is_int(haproxy_new(tloop, &o, &h, &err), 0, "haproxy_new");
	r = test_haproxy_start(tloop, h, cfg, &err);
	if (!tap_is_int(r, 0, "haproxy start"))
		tap_diag("%s", err);

	/* A request before the first connection: -n skips it. */
	tap_is_int(http_get("/before"), 200, "request before telemetry_connect");
	tap_is_int(telemetry_connect(t), 0, "telemetry_connect");
	tap_ok(pump(h, t, 3000, is_connected), "connected");

	/* 1. Known delays, two backends: exactly N lines, right fields, Tr close to the delay. */
	{
		static const int delays[] = {0, 5, 10, 20, 40, 80, 120, 160, 200, 250};
		const int n = (int)ARRAY_SIZE(delays);
		int ok_fields = 1, ok_tr = 1;

		for (int i = 0; i < n; i++) {
			char path[64];

			snprintf(path, sizeof(path), "%s/d?delay=%d", i % 2 ? "/beta" : "",
				 delays[i]);
			if (http_get(path) != 200)
				ok_fields = 0;
		}
		want_requests = (uint64_t)n;
		pump(h, t, 3000, got_requests);
		pump(h, t, 200, NULL); /* nothing more should come */
		tap_is_int((long long)seen.requests, n, "exactly N request lines");
		for (int i = 0; i < n && i < (int)seen.nkeep; i++) {
			const struct telemetry_line *l = &seen.keep[i];
			bool beta = i % 2;

			if (!streq(l->backend, beta ? "be_beta" : "be_alpha") ||
			    !streq(l->server, beta ? "b1" : "s1") || l->status != 200 ||
			    !streq(l->term, "----") || l->tw < 0 || l->tc < 0) {
				ok_fields = 0;
				tap_diag("line %d: %s/%s %d %s", i, l->backend, l->server,
					 l->status, l->term);
			}
			/* Whole milliseconds; generous upper bound for a loaded machine. */
			if (l->tr < delays[i] || l->tr > delays[i] + 100 || l->ta < l->tr) {
				ok_tr = 0;
				tap_diag("line %d: delay %d ms, Tr %d, Ta %d", i, delays[i], l->tr,
					 l->ta);
			}
		}
		tap_ok(ok_fields, "backend, server, status, termination state");
		tap_ok(ok_tr, "Tr within [delay, delay + 100 ms], Ta >= Tr");
		telemetry_get_stats(t, &st);
		tap_ok(st.lines == (uint64_t)n && st.bad_lines == 0 && st.dropped == 0 &&
			       st.connects == 1 && st.disconnects == 0,
		       "counters: lines %llu, bad %llu, dropped %llu, connects %llu",
		       (unsigned long long)st.lines, (unsigned long long)st.bad_lines,
		       (unsigned long long)st.dropped, (unsigned long long)st.connects);
	}

	/*
	 * 1b. What the histograms hold (docs/telemetry.md, "From lines to answers"): a request that
	 * waited in be_queue's queue behind another is recorded with its queue wait (Tw + Tc + Tr),
	 * and a server timeout (no Tr) with the time until HAProxy's 504 (Ta), not 0. Compared
	 * with what the clients measured: at most that (plus rounding), at least that less 150 ms.
	 */
	{
		static const char *const bes[] = {"be_queue", "be_slow"};
		static const char *const svcs[] = {"queue", "slow"};
		struct timed_get g1 = {.path = "/queue/1?delay=600"};
		struct timed_get g2 = {.path = "/queue/2?delay=600"};
		struct timed_get g3 = {.path = "/slow/x?delay=1500"};
		pthread_t th1, th2;
		const struct telemetry_line *queued = NULL, *timed_out = NULL;
		uint64_t now, sum_q, sum_s;

		reset_seen();
		metrics_new(1000, 60, &recorded);
		metrics_set_backends(recorded, bes, svcs, 2, NULL, 0);
		pthread_create(&th1, NULL, timed_get_main, &g1);
		usleep(50000);
		pthread_create(&th2, NULL, timed_get_main, &g2);
		pthread_join(th1, NULL);
		pthread_join(th2, NULL);
		timed_get_main(&g3);
		want_requests = 3;
		pump(h, t, 3000, got_requests);
		now = (uint64_t)(now_usec() / 1000);
		tap_ok(g1.status == 200 && g2.status == 200 && g3.status == 504 &&
			       seen.requests == 3,
		       "queued pair answered 200, slow one 504, 3 lines (%d %d %d, %llu)",
		       g1.status, g2.status, g3.status, (unsigned long long)seen.requests);
		for (size_t i = 0; i < seen.nkeep; i++) {
			const struct telemetry_line *l = &seen.keep[i];

			if (streq(l->backend, "be_queue") && l->tw >= 200)
				queued = l;
			if (streq(l->backend, "be_slow"))
				timed_out = l;
		}
		if (!tap_ok(queued != NULL, "one request waited in the queue (Tw %d ms)",
			    queued ? queued->tw : -1))
			for (size_t i = 0; i < seen.nkeep; i++)
				tap_diag("%s Tw %d Tc %d Tr %d Ta %d", seen.keep[i].backend,
					 seen.keep[i].tw, seen.keep[i].tc, seen.keep[i].tr,
					 seen.keep[i].ta);
		sum_q = histogram_sum(metrics_histogram(recorded, "be_queue"), now, 0);
		tap_diag("queue: clients %lld + %lld ms, recorded %llu ms", g1.ms, g2.ms,
			 (unsigned long long)sum_q);
		tap_ok(sum_q <= (uint64_t)(g1.ms + g2.ms + 5) &&
			       sum_q + 150 >= (uint64_t)(g1.ms + g2.ms),
		       "recorded response times include the queue wait: %llu ms for %lld ms "
		       "measured",
		       (unsigned long long)sum_q, g1.ms + g2.ms);
		tap_ok(timed_out && timed_out->status == 504 && timed_out->tr == -1 &&
			       timed_out->ta >= 300,
		       "the server timeout's line: 504, Tr -1, Ta %d",
		       timed_out ? timed_out->ta : -1);
		sum_s = histogram_sum(metrics_histogram(recorded, "be_slow"), now, 0);
		tap_ok(sum_s >= 300 && sum_s <= (uint64_t)(g3.ms + 5),
		       "a request without Tr is recorded with Ta: %llu ms (timeout 300, client %lld)",
		       (unsigned long long)sum_s, g3.ms);
		metrics_free(recorded);
		recorded = NULL;
	}

	/* 2. Reload in the middle of traffic: no line lost that the counters do not admit. */
	{
		struct traffic tr = {0};
		pthread_t th;
		uint64_t lines200;

		reset_seen();
		telemetry_get_stats(t, &st0);
		w1 = haproxy_worker_pid(h);
		pthread_create(&th, NULL, traffic_main, &tr);
		pump(h, t, 300, NULL);
		r = test_haproxy_apply(tloop, h, cfg2, &err);
		if (!tap_is_int(r, 0, "apply under traffic"))
			tap_diag("%s", err);
		telemetry_on_reload(t, 1000, haproxy_worker_pid(h));
		pump(h, t, 300, NULL);
		tr.stop = true;
		pthread_join(th, NULL);
		want_pid = haproxy_worker_pid(h);
		tap_ok(pump(h, t, 3000, follows_pid), "follows the new worker %d (was %d)",
		       want_pid, (int)w1);
		want_requests = (uint64_t)tr.sent;
		pump(h, t, 3000, got_requests);
		tap_ok(pump(h, t, 5000, no_old_streams), "old stream closed after the grace");
		telemetry_get_stats(t, &st);
		lines200 = seen.by_status[200];
		tap_diag("reload: %ld sent, %ld answered 200, %llu lines (200: %llu), dropped %llu",
			 tr.sent, tr.ok, (unsigned long long)seen.requests,
			 (unsigned long long)lines200,
			 (unsigned long long)(st.dropped - st0.dropped));
		tap_ok(tr.ok > 0 && lines200 + (st.dropped - st0.dropped) >= (uint64_t)tr.ok,
		       "lost lines <= dropped counter");
		tap_is_int((long long)lines200, tr.ok, "no line lost across the reload");
		tap_is_int((long long)(st.reloads - st0.reloads), 1, "one reload counted");
		tap_is_int((long long)(st.disconnects - st0.disconnects), 0,
			   "no disconnect counted");
		{
			long long t0 = now_usec();

			/* The master reaps it; hard-stop-after (10 s) would be much later. */
			while (kill(w1, 0) == 0 && now_usec() - t0 < 3000000)
				usleep(10000);
		}
		tap_ok(kill(w1, 0) < 0, "the old worker exited once its stream was closed");
	}

	/*
	 * 2b. An old worker that still carries a request is followed until that request ends
	 * (its line is counted), and let go at once afterwards, long before the grace.
	 */
	{
		pthread_t th;
		struct slow_req sr = {.path = "/long?delay=1500"};

		reset_seen();
		w1 = haproxy_worker_pid(h);
		pthread_create(&th, NULL, slow_main, &sr);
		pump(h, t, 300, NULL);
		r = test_haproxy_reload(tloop, h, &err);
		tap_is_int(r, 0, "reload while a slow request runs");
		telemetry_on_reload(t, 30000, haproxy_worker_pid(h));
		pump(h, t, 600, NULL);
		telemetry_get_stats(t, &st);
		tap_ok(kill(w1, 0) == 0 && st.old_streams == 1,
		       "the old worker and its stream stay while it carries a request");
		pthread_join(th, NULL);
		long long done_at = now_usec();
		tap_is_int(sr.status, 200, "the slow request was answered");
		want_requests = 1;
		bool got = pump(h, t, 3000, got_requests);
		int tr_ms = seen.nkeep ? seen.keep[0].tr : -1;
		tap_ok(got && seen.by_status[200] == 1 && seen.nkeep == 1 && tr_ms >= 1400,
		       "its line was read from the old worker (Tr %d ms)", tr_ms);
		tap_ok(pump(h, t, 3000, no_old_streams), "then the old stream is closed");
		while (kill(w1, 0) == 0 && now_usec() - done_at < 3000000)
			pump(h, t, 10, NULL);
		tap_ok(kill(w1, 0) < 0 && now_usec() - done_at < 1500000,
		       "and the old worker exits %lld ms after its last request, not after the "
		       "30 s grace",
		       (now_usec() - done_at) / 1000);
	}

	/* 3. A reload nobody announced: "Proxy x stopped" lines move the follower. */
	{
		telemetry_get_stats(t, &st0);
		w1 = haproxy_worker_pid(h);
		r = test_haproxy_reload(tloop, h, &err);
		tap_is_int(r, 0, "unannounced reload");
		want_pid = haproxy_worker_pid(h);
		tap_ok(pump(h, t, 3000, follows_pid), "follows worker %d by itself", want_pid);
		telemetry_get_stats(t, &st);
		tap_is_int((long long)(st.reloads_noticed - st0.reloads_noticed), 1,
			   "reload noticed from soft-stop lines");
		/* The old worker has no connection: its stream goes long before the 10 s grace. */
		tap_ok(pump(h, t, 1500, no_old_streams), "the idle old worker's stream is closed");
		/* The late announcement re-uses the stream. */
		telemetry_on_reload(t, 100, haproxy_worker_pid(h));
		pump(h, t, 3000, follows_pid);
		telemetry_get_stats(t, &st);
		tap_ok(st.connected && st.worker_pid == want_pid, "still on worker %d", want_pid);
		tap_is_int((long long)(st.connects - st0.connects), 1, "one new stream, not two");
		reset_seen();
		want_requests = 3;
		for (int i = 0; i < 3; i++)
			http_get("/after-auto");
		tap_ok(pump(h, t, 3000, got_requests) && seen.requests == 3, "lines after it");
	}

	/* 4. The master dies; haproxy_process_events restarts it; the follower reconnects. */
	{
		telemetry_get_stats(t, &st0);
		m1 = haproxy_master_pid(h);
		kill(m1, SIGKILL);
		{
			long long t0 = now_usec();

			while (now_usec() - t0 < 10000000 &&
			       (haproxy_master_pid(h) == m1 || haproxy_master_pid(h) == 0))
				pump(h, t, 100, NULL);
		}
		want_pid = haproxy_worker_pid(h);
		tap_ok(haproxy_master_pid(h) != m1 && want_pid > 0, "master restarted");
		tap_ok(pump(h, t, 5000, follows_pid), "follower reconnected to worker %d",
		       want_pid);
		telemetry_get_stats(t, &st);
		tap_ok(st.disconnects > st0.disconnects, "disconnect counted (%llu)",
		       (unsigned long long)(st.disconnects - st0.disconnects));
		tap_ok(st.connects > st0.connects, "reconnect counted");
		reset_seen();
		want_requests = 5;
		for (int i = 0; i < 5; i++)
			http_get("/after-restart?delay=1");
		tap_ok(pump(h, t, 3000, got_requests) && seen.requests == 5,
		       "keeps counting after the restart (%llu)",
		       (unsigned long long)seen.requests);
	}

	/*
	 * 5. A reader slower than the traffic: the follower is not run while A (fits the ring)
	 * then B (far more than the ring and the socket buffers hold) are sent. HAProxy does not
	 * slow down, keeps what the reader has not read (all of A), drops new events and announces
	 * them in-band at the next write after room was made (C).
	 */
	{
		const long na = 2000, nb = 60000;
		long sa, sb, sc;
		long long t0;
		uint64_t lost;

		pump(h, t, 200, NULL);
		reset_seen();
		telemetry_get_stats(t, &st0);
		t0 = now_usec();
		sa = bulk_get("/fast/a", na);
		sb = bulk_get("/fast/b", nb);
		tap_diag("slow reader: %ld + %ld requests in %.0f ms while nothing was read", sa,
			 sb, (now_usec() - t0) / 1000.0);
		tap_ok(sa == na && sb == nb, "HAProxy answered everything while the reader slept");
		/* Read what is there, then one more request to get the drop announced. */
		pump(h, t, 1500, NULL);
		tap_is_int((long long)seen.by_status[200], na, "all of A (the oldest lines) kept");
		sc = http_get("/fast/c") == 204;
		want_requests = seen.requests + 1;
		pump(h, t, 2000, got_requests);
		pump(h, t, 200, NULL);
		telemetry_get_stats(t, &st);
		lost = st.dropped - st0.dropped;
		tap_diag("slow reader: B lines %llu, dropped %llu in %llu markers",
			 (unsigned long long)seen.by_status[202], (unsigned long long)lost,
			 (unsigned long long)seen.markers);
		tap_ok(lost > 0 && seen.markers > 0, "drops announced in-band");
		tap_is_int((long long)(seen.by_status[202] + lost), nb,
			   "B lines + dropped == B requests (exact accounting)");
		tap_ok(sc && seen.n204 == 1 && seen.marker_before_204,
		       "the last marker came before the next line");
		tap_is_int((long long)(st.connects - st0.connects), 0,
			   "the stream survived the stall");
		tap_is_int((long long)(st.bad_lines - st0.bad_lines), 0, "no bad lines");
	}

	/*
	 * 6. HAProxy closes the stream under the follower (here `shutdown session`; 2.6's `stats
	 * timeout` does it to idle streams): the same worker answers the reconnect, whose -n keeps
	 * the lines already counted from being read again from its ring.
	 */
	{
		char ptrs[4][32];
		size_t n;

		pump(h, t, 200, NULL);
		reset_seen();
		telemetry_get_stats(t, &st0);
		want_requests = 20;
		for (int i = 0; i < 20; i++)
			http_get("/six/before");
		pump(h, t, 3000, got_requests);
		tap_is_int((long long)seen.requests, 20, "20 lines before the stream is closed");
		/* The follower's session must be older than a second to tell it from ours. */
		pump(h, t, 1200, NULL);
		n = old_cli_sessions(ptrs, ARRAY_SIZE(ptrs));
		if (tap_is_int((long long)n, 1, "one long-lived CLI session: the follower's")) {
			char *cmd = xasprintf("shutdown session %s\n", ptrs[0]);
			char *reply = stats_cmd(cmd);

			tap_ok(reply && !strstr(reply, "No such"), "shutdown session %s", ptrs[0]);
			free(reply);
			free(cmd);
		}
		{
			long long t0 = now_usec();

			do {
				pump(h, t, 50, NULL);
				telemetry_get_stats(t, &st);
			} while (st.disconnects == st0.disconnects && now_usec() - t0 < 3000000);
		}
		want_pid = st0.worker_pid;
		tap_ok(pump(h, t, 3000, follows_pid), "reconnected to the same worker %d",
		       want_pid);
		pump(h, t, 500, NULL); /* a replay of the ring would arrive now */
		telemetry_get_stats(t, &st);
		tap_is_int((long long)(st.disconnects - st0.disconnects), 1,
			   "one disconnect counted");
		tap_is_int((long long)(st.reloads - st0.reloads), 0, "not counted as a reload");
		tap_is_int((long long)seen.requests, 20,
			   "each line counted once: the reconnect did not replay the ring");
		want_requests = 25;
		for (int i = 0; i < 5; i++)
			http_get("/six/after");
		pump(h, t, 3000, got_requests);
		pump(h, t, 200, NULL);
		tap_is_int((long long)seen.requests, 25, "lines after the reconnect counted");
	}

out:
	telemetry_free(t);
	haproxy_free(h);
	loop_free(tloop);
	if (ts_pid > 0) {
		kill(ts_pid, SIGTERM);
		waitpid(ts_pid, NULL, 0);
	}
	/* Old or orphaned workers go within hard-stop-after. */
	tap_is_int(wait_no_leftovers(dir, 12000000), 0, "no process left");
	remove_test_dir(dir);
	free(err);
	free(cfg);
	free(cfg2);
	free(cfg_path);
	free(stats_path);
	free(master_path);
	return tap_done();
}
