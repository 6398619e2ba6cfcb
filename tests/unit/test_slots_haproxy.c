// SPDX-License-Identifier: MIT
/*
 * Integration test of slots_plan + slots_apply against the real HAProxy: a backend rendered with
 * 4 slots (2 serving testservers, 2 disabled) is scaled 2 -> 3 and 3 -> 1 through the stats
 * socket, with the worker unchanged; a plan that exceeds the slots asks for a reload, and the
 * re-rendered file carries the live addresses. Also error replies, and the cost of one connection
 * per command against one `;`-chained line. All traffic stays on 127.0.0.1 (tasks differ by port,
 * local-mode style); every process started here is stopped before the end.
 */
#include "flowproxy/haproxy.h"
#include "flowproxy/slots.h"
#include "tap.h"
#include "testlib.h"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>

#define HAPROXY_BIN "/usr/sbin/haproxy"

static struct loop *L;

static void on_applied(void *userdata, int r, const char *err)
{
	test_op_done(userdata, r, err);
}

/* slots_apply, waited for (tests only). */
static int apply_sync(const char *sock, char *const *cmds, size_t n, int timeout_ms, char **err)
{
	struct test_op_wait w = {0};

	slots_apply(L, sock, cmds, n, timeout_ms, on_applied, &w);
	return test_op_wait(L, 0, &w, err);
}
#define BE    "web-be8080_0"
#define NAMES 5

static char dir[] = "/tmp/fp-slots-XXXXXX";
static int fe_port, svc_port;
static const char *names[NAMES] = {"alpha", "beta", "gamma", "delta", "epsilon"};
static int ports[NAMES];
static pid_t pids[NAMES];

static void reap(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

/* GET / through the frontend with Connection: close; returns the whole reply (caller frees). */
static char *http_get(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((unsigned short)fe_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = 5};
	static const char req[] = "GET /s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
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
	return strbuf_steal(&b);
}

/*
 * Sends n requests; returns a bit mask of the testserver names that answered (bit i = names[i]),
 * with bit 31 set if any reply was not a 200 from a testserver.
 */
static unsigned who_answers(int n)
{
	unsigned mask = 0;

	for (int k = 0; k < n; k++) {
		char *r = http_get();
		bool known = false;

		for (int i = 0; i < NAMES; i++) {
			char want[32];

			snprintf(want, sizeof(want), "name=%s path=/s", names[i]);
			if (str_startswith(r, "HTTP/1.1 200") && strstr(r, want)) {
				mask |= 1u << i;
				known = true;
			}
		}
		if (!known) {
			mask |= 1u << 31;
			tap_diag("unexpected reply: '%.200s'", r);
		}
		free(r);
	}
	return mask;
}

static char *endpoint(int i)
{
	return xasprintf("127.0.0.1:%d", ports[i]);
}

/* A config whose backend renders n slots from assign (NULL: empty slot), as slots.h says. */
static char *make_cfg(char *const *assign, size_t n)
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
		      "\tdefault_backend " BE "\n"
		      "backend " BE "\n"
		      "\tbalance roundrobin\n",
		      dir, fe_port);
	for (size_t i = 0; i < n; i++) {
		char addr[INET6_ADDRSTRLEN];
		int port;

		if (assign[i] && slots_endpoint_parse(assign[i], svc_port, addr, &port) == 0)
			strbuf_printf(&b, "\tserver web_%zu %s:%d\n", i + 1, addr, port);
		else
			strbuf_printf(&b, "\tserver web_%zu " SLOTS_EMPTY_ADDR ":%d disabled\n",
				      i + 1, svc_port);
	}
	return strbuf_steal(&b);
}

/* The worker's pid from `show info` on the stats socket, 0 if unknown. */
static pid_t info_pid(const char *stats)
{
	char *r = NULL, *p;
	pid_t pid = 0;

	if (test_cli(stats, "show info", 5000, &r, NULL) == 0 && (p = strstr(r, "\nPid: ")))
		pid = (pid_t)strtol(p + 6, NULL, 10);
	free(r);
	return pid;
}

/* Plans current -> desired endpoints (of names[]), on n_slots slots. */
static int plan(char *const *current, size_t n_slots, const int *want, size_t n_want,
		struct slots_plan *ret)
{
	char *d[NAMES];
	char *err = NULL;
	struct slots_input in = {.backend = BE,
				 .prefix = "web",
				 .port = svc_port,
				 .n_slots = n_slots,
				 .current = (const char *const *)current,
				 .desired = (const char *const *)d,
				 .n_desired = n_want};
	int r;

	for (size_t i = 0; i < n_want; i++)
		d[i] = endpoint(want[i]);
	r = slots_plan(&in, ret, &err);
	if (r < 0)
		tap_diag("slots_plan: %s", err);
	for (size_t i = 0; i < n_want; i++)
		free(d[i]);
	free(err);
	return r;
}

static void timing(const char *stats)
{
	enum { N = 64, ROUNDS = 5 };
	char *cmds[N];
	long long t_each = 0, t_chain = 0;
	char *err = NULL;
	bool ok = true;

	for (int i = 0; i < N; i++)
		cmds[i] = xasprintf("set server " BE "/web_16 state maint");
	for (int k = 0; k < ROUNDS; k++) {
		long long t0 = now_usec();

		for (int i = 0; i < N; i++) {
			char *r = NULL;

			ok &= test_cli(stats, cmds[i], 5000, &r, NULL) == 0 && streq(r, "\n");
			free(r);
		}
		t_each += now_usec() - t0;
		t0 = now_usec();
		ok &= apply_sync(stats, cmds, N, 5000, &err) == 0;
		t_chain += now_usec() - t0;
	}
	tap_ok(ok, "timing rounds succeeded");
	tap_diag("%d commands: one connection each %.2f ms, chained (slots_apply) %.2f ms", N,
		 t_each / 1000.0 / ROUNDS, t_chain / 1000.0 / ROUNDS);
	for (int i = 0; i < N; i++)
		free(cmds[i]);
	free(err);
}

int main(void)
{
	struct haproxy_options o = {.binary = HAPROXY_BIN, .timeout_ms = 10000};
	struct haproxy *h = NULL;
	struct slots_plan p = {0}, p2 = {0};
	char *err = NULL, *cfg = NULL, *cfg_path, *stats, *cur[4] = {NULL};
	pid_t w1;
	int r;

	if (access(HAPROXY_BIN, X_OK) != 0)
		return tap_skip_all("haproxy not installed");
	if (!mkdtemp(dir) || loop_new(&L) < 0)
		abort();
	cfg_path = xasprintf("%s/haproxy.cfg", dir);
	stats = xasprintf("%s/stats.sock", dir);
	o.config_path = cfg_path;
	o.run_dir = dir;

	for (int i = 0; i < NAMES; i++)
		pids[i] = testserver_start(names[i], &ports[i]);
	fe_port = free_port();
	svc_port = free_port(); /* the "service port": nothing listens there */
	if (!tap_ok(ports[0] > 0 && ports[1] > 0 && ports[2] > 0 && ports[3] > 0 && ports[4] > 0 &&
			    fe_port > 0 && svc_port > 0,
		    "testservers listening"))
		goto out;

	/* 4 slots: alpha, beta, 2 disabled. */
	cur[0] = endpoint(0);
	cur[1] = endpoint(1);
	cur[2] = cur[3] = NULL;
	cfg = make_cfg(cur, 4);
	tap_is_int(haproxy_new(L, &o, &h, &err), 0, "haproxy_new");
	r = test_haproxy_start(L, h, cfg, &err);
	if (!tap_is_int(r, 0, "start with 4 slots"))
		tap_diag("%s", err);
	w1 = info_pid(stats);
	tap_ok(w1 > 0 && w1 == haproxy_worker_pid(h), "worker %d", (int)w1);
	tap_is_int(who_answers(8), 0x3, "alpha and beta answer");

	/* Scale 2 -> 3: gamma into slot 3. */
	{
		static const int want[] = {0, 1, 2};

		tap_is_int(plan(cur, 4, want, 3, &p), 0, "plan 2 -> 3");
		tap_ok(!p.reload && p.n_commands == 2, "fits: %zu commands", p.n_commands);
		for (size_t i = 0; i < p.n_commands; i++)
			tap_diag("%s", p.commands[i]);
		r = apply_sync(stats, p.commands, p.n_commands, 0, &err);
		if (!tap_is_int(r, 0, "apply 2 -> 3"))
			tap_diag("%s", err);
		tap_is_int(who_answers(12), 0x7, "alpha, beta and gamma answer");
		tap_is_int(info_pid(stats), w1, "same worker (no reload)");
		tap_is_int(haproxy_reload_count(h), 0, "no reload counted");
	}

	/* Scale 3 -> 1: only gamma stays; slots 1 and 2 go to maint. */
	{
		static const int want[] = {2};

		tap_is_int(plan(p.assign, p.n_slots, want, 1, &p2), 0, "plan 3 -> 1");
		tap_ok(!p2.reload && p2.n_commands == 2, "fits: %zu commands", p2.n_commands);
		r = apply_sync(stats, p2.commands, p2.n_commands, 0, &err);
		if (!tap_is_int(r, 0, "apply 3 -> 1"))
			tap_diag("%s", err);
		tap_is_int(who_answers(8), 0x4, "only gamma answers");
		tap_is_int(info_pid(stats), w1, "same worker (no reload)");
		slots_plan_done(&p);
		p = p2;
		memset(&p2, 0, sizeof(p2));
	}

	/* Replace gamma by delta (a rolling update: new address, same slot). */
	{
		static const int want[] = {3};

		tap_is_int(plan(p.assign, p.n_slots, want, 1, &p2), 0, "plan replace");
		r = apply_sync(stats, p2.commands, p2.n_commands, 0, &err);
		if (!tap_is_int(r, 0, "apply replace"))
			tap_diag("%s", err);
		tap_is_int(who_answers(6), 0x8, "only delta answers");
		slots_plan_done(&p);
		p = p2;
		memset(&p2, 0, sizeof(p2));
	}

	/* Exceed the slots: the planner asks for a reload; the re-rendered file carries them. */
	{
		static const int want[] = {0, 1, 2, 3, 4};
		pid_t w2;

		tap_is_int(plan(p.assign, p.n_slots, want, 5, &p2), 0, "plan 1 -> 5");
		tap_ok(p2.reload && p2.n_slots == slots_count_for(5) && p2.n_commands == 0,
		       "needs a reload with %zu slots, no commands", p2.n_slots);
		free(cfg);
		cfg = make_cfg(p2.assign, p2.n_slots);
		r = test_haproxy_apply(L, h, cfg, &err);
		if (!tap_is_int(r, 0, "reload with the new slots"))
			tap_diag("%s", err);
		w2 = info_pid(stats);
		tap_ok(w2 > 0 && w2 != w1, "new worker %d", (int)w2);
		tap_is_int(who_answers(20), 0x1f, "all five answer after the reload");
		slots_plan_done(&p);
		p = p2;
		memset(&p2, 0, sizeof(p2));
	}

	/* Error replies name the command; the ones before it were applied. */
	{
		char *bad[] = {"set server " BE "/web_16 state maint",
			       "set server " BE "/web_99 state ready",
			       "set server " BE "/web_16 state maint"};
		char *bad_addr[] = {"set server " BE "/web_16 addr 127.0.0.1 port 1"};
		char *nobe[] = {"set server nope/web_1 state ready"};

		r = apply_sync(stats, bad, 3, 0, &err);
		tap_ok(r == -EBADMSG && err && strstr(err, "web_99") &&
			       strstr(err, "No such server."),
		       "unknown server: -EBADMSG naming it (%s)", err ? err : "");
		r = apply_sync(stats, nobe, 1, 0, &err);
		tap_ok(r == -EBADMSG && err && strstr(err, "No such backend."),
		       "unknown backend: -EBADMSG (%s)", err ? err : "");
		r = apply_sync(stats, bad_addr, 1, 0, &err);
		tap_is_int(r, 0, "addr reply accepted");
		{
			char *semi[] = {"show info;shutdown frontend fe"};

			tap_is_int(apply_sync(stats, semi, 1, 0, &err), -EINVAL,
				   "a command with ';' is refused");
		}
		tap_is_int(apply_sync("/nonexistent/x.sock", bad, 1, 0, &err), -ENOENT,
			   "missing socket: -ENOENT");
		tap_is_int(apply_sync(stats, NULL, 0, 0, &err), 0, "no commands: nothing to do");
	}

	timing(stats);
	tap_is_int(who_answers(10), 0x1f, "still all five");

out:
	haproxy_free(h);
	loop_free(L);
	h = NULL;
	for (int i = 0; i < NAMES; i++)
		reap(pids[i]);
	/* Old or orphaned workers go within hard-stop-after. */
	tap_is_int(wait_no_leftovers(dir, 5000000), 0, "no process left");
	remove_test_dir(dir);
	slots_plan_done(&p);
	slots_plan_done(&p2);
	free(cur[0]);
	free(cur[1]);
	free(cfg);
	free(err);
	free(cfg_path);
	free(stats);
	return tap_done();
}
