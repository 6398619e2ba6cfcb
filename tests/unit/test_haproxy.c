// SPDX-License-Identifier: MIT
/*
 * Integration test of src/haproxy.c against the real HAProxy: start, apply (new worker, new
 * routing), a rejected apply (message, old file back, old routing), master crash and restart,
 * adoption, haproxy_validate, cli.h's calls on the worker's stats socket. Backends are
 * tests/testserver processes; all traffic stays on 127.0.0.1, every process started here is
 * stopped before the end.
 */
#include "flowproxy/haproxy.h"
#include "flowproxy/loop.h"
#include "tap.h"
#include "testlib.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define HAPROXY_BIN "/usr/sbin/haproxy"

static char dir[] = "/tmp/fp-haproxy-XXXXXX";
static struct loop *L;

#define h_start(h, cfg, err)	 test_haproxy_start(L, h, cfg, err)
#define h_apply(h, cfg, err)	 test_haproxy_apply(L, h, cfg, err)
#define h_reload(h, err)	 test_haproxy_reload(L, h, err)
#define h_validate(h, cfg, err)	 test_haproxy_validate(L, h, cfg, err)
#define wait_op(started, w, err) test_op_wait(L, started, w, err)
#define on_done			 test_op_done

static int fe_port, alpha_port, beta_port;
static pid_t alpha_pid, beta_pid;

/* True while pid runs (a zombie, exited but not yet reaped by its parent, does not). */
static bool running(pid_t pid)
{
	char path[64], *stat = NULL, *p;
	bool r = false;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_file(path, 4096, &stat, NULL) == 0 && (p = strrchr(stat, ')')))
		r = p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
	free(stat);
	return r;
}

static void reap(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

/* GET path through the frontend with Connection: close; returns the whole reply (caller frees). */
static char *http_get(int port, const char *path)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((unsigned short)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = 5};
	char *req = xasprintf(
		"GET %s HTTP/1.1\r\nHost: test\r\nX-Test: 1\r\nConnection: close\r\n\r\n", path);
	struct strbuf b;
	char tmp[4096];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ssize_t n;

	strbuf_init(&b);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req))
		while ((n = read(fd, tmp, sizeof(tmp))) > 0 && b.len < (1 << 20))
			strbuf_append(&b, tmp, (size_t)n);
	close(fd);
	free(req);
	return strbuf_steal(&b);
}

/* True when GET path answers 200 with `want` in the reply. */
static bool http_has(const char *path, const char *want)
{
	char *r = http_get(fe_port, path);
	bool ok = str_startswith(r, "HTTP/1.1 200") && strstr(r, want);

	if (!ok)
		tap_diag("reply to %s: '%.300s'", path, r);
	free(r);
	return ok;
}

/* A config routing to def_be; extra backends pad it to n_backends. */
static char *make_cfg(const char *def_be, int n_backends, const char *extra)
{
	struct strbuf b;

	strbuf_init(&b);
	strbuf_printf(&b,
		      "global\n"
		      "\tstats socket %s/stats.sock mode 600 level admin\n"
		      "\thard-stop-after 3s\n"
		      "defaults\n"
		      "\tmode http\n"
		      "\ttimeout connect 2s\n"
		      "\ttimeout client 10s\n"
		      "\ttimeout server 10s\n"
		      "\toption idle-close-on-response\n"
		      "frontend fe\n"
		      "\tbind 127.0.0.1:%d\n"
		      "\tdefault_backend %s\n"
		      "backend be_alpha\n"
		      "\tserver s1 127.0.0.1:%d\n"
		      "backend be_beta\n"
		      "\tserver s1 127.0.0.1:%d\n",
		      dir, fe_port, def_be, alpha_port, beta_port);
	for (int i = 2; i < n_backends; i++)
		strbuf_printf(&b, "backend be_pad%d\n\tserver s1 127.0.0.1:%d\n", i, alpha_port);
	strbuf_puts(&b, extra ? extra : "");
	return strbuf_steal(&b);
}

static bool file_is(const char *path, const char *want)
{
	char *got = NULL;
	bool ok = read_file(path, 1 << 20, &got, NULL) == 0 && streq(got, want);

	free(got);
	return ok;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

/* Bare reload for comparison: write, `reload`, poll `show proc` until a new worker is listed. */
static long long bare_reload_usec(const char *cfg_path, const char *cfg, pid_t old_worker)
{
	char *sock = xasprintf("%s/master.sock", dir);
	char *r = NULL;
	long long t0 = now_usec(), t = -1;

	write_file_atomic(cfg_path, cfg, strlen(cfg));
	if (test_cli(sock, "reload", 5000, &r, NULL) == 0 || r) {
		while (now_usec() - t0 < 5000000) {
			char *p = NULL, *w;

			if (test_cli(sock, "show proc", 1000, &p, NULL) == 0 &&
			    (w = strstr(p, "# workers\n")) &&
			    (pid_t)strtol(w + 10, NULL, 10) != old_worker &&
			    (pid_t)strtol(w + 10, NULL, 10) > 0) {
				t = now_usec() - t0;
				free(p);
				break;
			}
			free(p);
			usleep(2000);
		}
	}
	free(r);
	free(sock);
	return t;
}

static void wait_for_restart(struct haproxy *h, pid_t old_master)
{
	long long t0 = now_usec();

	while (now_usec() - t0 < 10000000 && (haproxy_master_pid(h) == old_master ||
					      haproxy_master_pid(h) == 0 || haproxy_busy(h)))
		loop_iterate(L, 200);
}

int main(void)
{
	struct haproxy_options o = {.binary = HAPROXY_BIN, .timeout_ms = 10000};
	struct haproxy *h = NULL, *h2 = NULL, *h3 = NULL;
	char *err = NULL, *cfg_a, *cfg_b, *cfg_bad, *cfg_path, *bad_dir, *bad_path, *stats, *sock;
	char *reply = NULL, want[64];
	pid_t w1, w2, m1;
	int r;

	if (access(HAPROXY_BIN, X_OK) != 0)
		return tap_skip_all("haproxy not installed");
	if (!mkdtemp(dir) || loop_new(&L) < 0)
		abort();
	cfg_path = xasprintf("%s/haproxy.cfg", dir);
	stats = xasprintf("%s/stats.sock", dir);
	sock = xasprintf("%s/master.sock", dir);
	o.config_path = cfg_path;
	o.run_dir = dir;

	alpha_pid = testserver_start("alpha", &alpha_port);
	beta_pid = testserver_start("beta", &beta_port);
	fe_port = free_port();
	if (!tap_ok(alpha_port > 0 && beta_port > 0 && fe_port > 0, "testservers listening"))
		goto out;
	cfg_a = make_cfg("be_alpha", 2, NULL);
	cfg_b = make_cfg("be_beta", 2, NULL);
	cfg_bad = make_cfg("be_beta", 2, "\tbogus_keyword foo\n");

	/* Start. */
	tap_is_int(haproxy_new(L, &o, &h, &err), 0, "haproxy_new");
	r = h_start(h, cfg_a, &err);
	if (!tap_is_int(r, 0, "start"))
		tap_diag("%s", err);
	m1 = haproxy_master_pid(h);
	w1 = haproxy_worker_pid(h);
	tap_ok(m1 > 0 && w1 > 0 && w1 != m1, "master %d and worker %d known", (int)m1, (int)w1);
	tap_ok(http_has("/x/y?a=1&b=2", "name=alpha path=/x/y?a=1&b=2\n"), "routed to alpha");
	/* HAProxy's HTX lowercases header names on the way to HTTP/1 servers. */
	tap_ok(http_has("/h", "\nx-test: 1\n"), "request headers echoed");
	tap_ok(http_has("/health", "\r\n\r\nok"), "/health answers ok");
	tap_ok(!haproxy_busy(h), "idle after the start");

	/* A CLI call on the worker's stats socket. */
	r = test_cli(stats, "show info", 5000, &reply, &err);
	snprintf(want, sizeof(want), "\nPid: %d\n", (int)w1);
	tap_ok(r == 0 && strstr(reply, want), "show info on the stats socket names worker %d",
	       (int)w1);
	free(reply);
	reply = NULL;
	tap_ok(test_cli("/nonexistent/x.sock", "show info", 1000, &reply, &err) == -ENOENT && err &&
		       strstr(err, "/nonexistent/x.sock"),
	       "a CLI call on a missing socket: -ENOENT");
	free(reply);
	reply = NULL;

	/* A good apply: new worker, new routing. */
	r = h_apply(h, cfg_b, &err);
	if (!tap_is_int(r, 0, "apply routes to beta"))
		tap_diag("%s", err);
	w2 = haproxy_worker_pid(h);
	tap_ok(w2 > 0 && w2 != w1, "worker changed %d -> %d", (int)w1, (int)w2);
	tap_is_int(haproxy_master_pid(h), m1, "same master");
	tap_ok(http_has("/after", "name=beta path=/after\n"), "routed to beta");
	tap_is_int(haproxy_reload_count(h), 1, "reload count 1");

	/* A rejected apply: HAProxy's message, the old file back, the old worker still serving. */
	r = h_apply(h, cfg_bad, &err);
	tap_is_int(r, -EINVAL, "invalid config: -EINVAL");
	tap_ok(err && strstr(err, "unknown keyword 'bogus_keyword'") && strstr(err, "[ALERT]"),
	       "error carries HAProxy's ALERT");
	tap_diag("error: %s", err ? err : "");
	tap_ok(file_is(cfg_path, cfg_b), "previous config file restored");
	tap_is_int(haproxy_worker_pid(h), w2, "worker unchanged");
	tap_ok(http_has("/still", "name=beta path=/still\n"), "still routed to beta");
	tap_is_int(haproxy_reload_failures(h), 1, "failure count 1");
	tap_is_int(haproxy_reload_count(h), 1, "reload count still 1");

	/* Good again after a failure ("[failed: N]" resets). */
	r = h_apply(h, cfg_a, &err);
	tap_is_int(r, 0, "apply after a failure");
	tap_ok(http_has("/again", "name=alpha"), "routed to alpha again");

	/* haproxy_reload on the current file. */
	w1 = haproxy_worker_pid(h);
	tap_is_int(h_reload(h, &err), 0, "haproxy_reload");
	tap_ok(haproxy_worker_pid(h) != w1, "reload made a new worker");
	/* One operation at a time. */
	{
		struct test_op_wait w1w = {0};
		tap_is_int(haproxy_reload(h, on_done, &w1w), 0, "a reload starts");
		tap_is_int(haproxy_apply(h, cfg_a, strlen(cfg_a), on_done, NULL), -EBUSY,
			   "a second operation meanwhile: -EBUSY");
		tap_ok(!w1w.done, "the report never comes inside the call");
		tap_is_int(wait_op(0, &w1w, &err), 0, "the reload is confirmed");
	}

	/* Timing: apply of a 10-backend config vs a bare reload (write, reload, show proc). */
	{
		long long ta[9], tb[9];
		char *c10a = make_cfg("be_alpha", 10, NULL), *c10b = make_cfg("be_beta", 10, NULL);
		int ok = 1;

		for (int i = 0; i < 9; i++) {
			const char *c = i % 2 ? c10a : c10b;
			long long t0 = now_usec();

			ok &= h_apply(h, c, &err) == 0;
			ta[i] = now_usec() - t0;
			usleep(50000);
		}
		tap_ok(ok, "9 applies of a 10-backend config");
		for (int i = 0; i < 9; i++) {
			const char *c = i % 2 ? c10a : c10b;
			char *p = NULL, *w;
			pid_t ow = 0;

			if (test_cli(sock, "show proc", 1000, &p, NULL) == 0 &&
			    (w = strstr(p, "# workers\n")))
				ow = (pid_t)strtol(w + 10, NULL, 10);
			free(p);
			tb[i] = bare_reload_usec(cfg_path, c, ow);
			usleep(50000);
		}
		qsort(ta, 9, sizeof(ta[0]), cmp_ll);
		qsort(tb, 9, sizeof(tb[0]), cmp_ll);
		tap_diag(
			"10 backends: apply median %.1f ms (min %.1f, max %.1f); bare reload median "
			"%.1f ms (min %.1f, max %.1f)",
			ta[4] / 1000.0, ta[0] / 1000.0, ta[8] / 1000.0, tb[4] / 1000.0,
			tb[0] / 1000.0, tb[8] / 1000.0);
		/* Bare reloads bypassed h: resync the file and h's worker through an apply. */
		tap_is_int(h_apply(h, cfg_b, &err), 0, "apply after timing");
		free(c10a);
		free(c10b);
	}

	/* The master dies: haproxy_process_events notices through the event fd and restarts it. */
	m1 = haproxy_master_pid(h);
	kill(m1, SIGKILL);
	wait_for_restart(h, m1);
	tap_ok(haproxy_master_pid(h) > 0 && haproxy_master_pid(h) != m1,
	       "master restarted after SIGKILL (%d -> %d)", (int)m1, (int)haproxy_master_pid(h));
	tap_ok(http_has("/restarted", "name=beta path=/restarted\n"), "traffic after restart");
	r = test_cli(stats, "show info", 5000, &reply, &err);
	snprintf(want, sizeof(want), "\nPid: %d\n", (int)haproxy_worker_pid(h));
	tap_ok(r == 0 && strstr(reply, want), "stats socket served by the new worker");
	free(reply);
	reply = NULL;

	/* Adoption: a second object finds the running master and reloads it. */
	m1 = haproxy_master_pid(h);
	w1 = haproxy_worker_pid(h);
	tap_is_int(haproxy_new(L, &o, &h2, &err), 0, "second haproxy_new");
	r = h_start(h2, cfg_a, &err);
	if (!tap_is_int(r, 0, "second start adopts"))
		tap_diag("%s", err);
	tap_is_int(haproxy_master_pid(h2), m1, "adopted the running master");
	tap_ok(haproxy_worker_pid(h2) != w1 && haproxy_worker_pid(h2) > 0,
	       "adopted master reloaded");
	tap_ok(http_has("/adopted", "name=alpha path=/adopted\n"), "adopted: routed to alpha");
	r = h_apply(h2, cfg_bad, &err);
	tap_ok(r == -EINVAL && err && strstr(err, "bogus_keyword"),
	       "adopted: rejected apply explained");
	tap_ok(file_is(cfg_path, cfg_a), "adopted: previous file restored");
	/* A flowproxy that stops stops HAProxy, adopted or not (its own h restarts it next). */
	haproxy_free(h2);
	h2 = NULL;
	tap_ok(!running(m1), "freeing the adopter stops the adopted master");
	wait_for_restart(h, m1);
	tap_ok(haproxy_master_pid(h) > 0 && haproxy_master_pid(h) != m1,
	       "the first owner restarted it");
	tap_ok(http_has("/kept", "name=alpha"), "serving again");

	/* haproxy_validate. */
	tap_is_int(h_validate(h, cfg_b, &err), 0, "validate a good config");
	r = h_validate(h, cfg_bad, &err);
	tap_ok(r == -EINVAL && err && strstr(err, "bogus_keyword"), "validate a bad config");

	/* A start HAProxy rejects. */
	bad_dir = xasprintf("%s/bad", dir);
	bad_path = xasprintf("%s/haproxy.cfg", bad_dir);
	mkdir(bad_dir, 0700);
	{
		struct haproxy_options o3 = {
			.binary = HAPROXY_BIN, .config_path = bad_path, .run_dir = bad_dir};

		haproxy_new(L, &o3, &h3, &err);
		r = h_start(h3, cfg_bad, &err);
		tap_ok(r == -EINVAL && err && strstr(err, "bogus_keyword"),
		       "start with a bad config: -EINVAL with HAProxy's message");
		tap_is_int(haproxy_master_pid(h3), 0, "no master after a failed start");
		haproxy_free(h3);
		unlink(bad_path);
		rmdir(bad_dir);
	}

	/* Stop. */
	m1 = haproxy_master_pid(h);
	haproxy_free(h);
	h = NULL;
	tap_ok(kill(m1, 0) < 0 && errno == ESRCH, "master stopped and reaped");

	free(cfg_a);
	free(cfg_b);
	free(cfg_bad);
	free(bad_dir);
	free(bad_path);
out:
	haproxy_free(h);
	loop_free(L);
	reap(alpha_pid);
	reap(beta_pid);
	/* Old or orphaned workers go within hard-stop-after. */
	tap_is_int(wait_no_leftovers(dir, 5000000), 0, "no process left");
	remove_test_dir(dir);
	free(err);
	free(cfg_path);
	free(stats);
	free(sock);
	return tap_done();
}
