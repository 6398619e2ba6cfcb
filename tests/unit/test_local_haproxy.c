// SPDX-License-Identifier: MIT
/*
 * Integration test of local mode's copies against the real HAProxy: the daemon and local run on
 * one loop, as main wires them, from a services file whose entry runs 3 copies of testserver on
 * ports flowproxy picks ({port}; each answers with its port in its name, so every answer says
 * which copy served it). Requests through HAProxy reach all 3; local_scale to 5 and back to 1
 * changes HAProxy's servers with no reload (the same worker, the master's reload count
 * unchanged); during the scale-down a client loop sees no failure and slow requests in flight
 * on the copies that go are answered (the drain waits for them); the stopped copies' processes
 * are gone; the oldest copy is the one kept; PORT is in the copies' environment. All traffic
 * stays on 127.0.0.1; every process started here is stopped before the end.
 */
#include "flowproxy/config.h"
#include "flowproxy/daemon.h"
#include "flowproxy/local.h"
#include "tap.h"
#include "testlib.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#define HAPROXY_BIN "/usr/sbin/haproxy"
#define SVC	    "r"
#define MAXC	    8
/* A copy that accepts on $PORT and ignores SIGTERM; its command line carries this marker. */
#define STUBBORN                                                     \
	"#fp-stubborn\\n"                                            \
	"import os, signal, socket\\n"                               \
	"signal.signal(signal.SIGTERM, signal.SIG_IGN)\\n"           \
	"s = socket.socket()\\n"                                     \
	"s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\\n" \
	"s.bind(('127.0.0.1', int(os.environ['PORT'])))\\n"          \
	"s.listen(16)\\n"                                            \
	"while True: s.accept()[0].close()\\n"

static struct loop *L;
static struct daemon *D;
static struct local *LOC;
static int fe_port;

/* GET path through HAProxy with Connection: close: the whole reply (caller frees), "" when the
 * connection failed. */
static char *http_get(const char *path)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((unsigned short)fe_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = 10};
	struct strbuf b;
	char tmp[4096];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	_cleanup_free_ char *req =
		xasprintf("GET %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n", path);
	ssize_t n;

	strbuf_init(&b);
	strbuf_puts(&b, "");
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req))
		while ((n = read(fd, tmp, sizeof(tmp))) > 0 && b.len < (1 << 20))
			strbuf_append(&b, tmp, (size_t)n);
	close(fd);
	return strbuf_steal(&b);
}

/* The copy port a reply of a copy of SVC names ("name=r<port> "), 0 for any other reply. */
static int served_by(const char *reply)
{
	const char *p = strstr(reply, "\r\n\r\nname=" SVC);

	if (!str_startswith(reply, "HTTP/1.1 200") || !p)
		return 0;
	return (int)strtol(p + strlen("\r\n\r\nname=" SVC), NULL, 10);
}

/* The endpoints HAProxy runs for SVC (the daemon's registry: what is applied), as ports. */
static size_t applied_ports(int *ports, size_t max)
{
	const char *const *a = NULL;
	size_t n = registry_get_addrs(daemon_registry(D), SVC, &a), k = 0;

	for (size_t i = 0; i < n && k < max; i++) {
		const char *colon = a[i] ? strrchr(a[i], ':') : NULL;
		if (colon)
			ports[k++] = (int)strtol(colon + 1, NULL, 10);
	}
	return k;
}

static bool has_port(const int *ports, size_t n, int port)
{
	for (size_t i = 0; i < n; i++)
		if (ports[i] == port)
			return true;
	return false;
}

/* Sends n requests; fills the distinct copy ports that answered; counts other replies. */
static size_t who_answers(int n, int *ports, size_t max, int *ret_bad)
{
	size_t k = 0;

	*ret_bad = 0;
	for (int i = 0; i < n; i++) {
		_cleanup_free_ char *r = http_get("/" SVC);
		int p = served_by(r);
		if (!p) {
			(*ret_bad)++;
			tap_diag("unexpected reply: '%.200s'", r);
		} else if (!has_port(ports, k, p) && k < max) {
			ports[k++] = p;
		}
	}
	return k;
}

static long running(void)
{
	long wanted = -1, run = -1;

	local_replicas(LOC, SVC, &wanted, &run);
	return run;
}

/* Runs the loop until cond holds (true) or timeout_ms passed (false). */
static bool run_until(bool (*cond)(long), long arg, int timeout_ms)
{
	long long end = now_usec() + timeout_ms * 1000LL;

	while (!cond(arg) && now_usec() < end)
		loop_iterate(L, 20);
	return cond(arg);
}

/* n copies run and HAProxy has exactly their n endpoints. */
static bool serving_n(long n)
{
	int ports[MAXC];

	return running() == n && (long)applied_ports(ports, MAXC) == n;
}

static long running_of(const char *service)
{
	long run = -1;

	local_replicas(LOC, service, NULL, &run);
	return run;
}

/* One copy of SVC runs, in HAProxy, on a port other than old. */
static bool replaced(long old)
{
	int ports[MAXC];

	return serving_n(1) && applied_ports(ports, MAXC) == 1 && ports[0] != old;
}

/* The pid of the process whose command line is the copy on port (0 if none runs). */
static pid_t copy_pid(int port)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	char want[64];
	pid_t pid = 0;

	snprintf(want, sizeof(want), "--name " SVC "%d ", port);
	while (d && (e = readdir(d)) && !pid) {
		char p[300], *cmd = NULL;
		size_t len = 0;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%s/cmdline", e->d_name);
		if (read_file(p, 1 << 16, &cmd, &len) == 0) {
			for (size_t i = 0; i + 1 < len; i++)
				if (!cmd[i])
					cmd[i] = ' ';
			if (len && strstr(cmd, "testserver") && strstr(cmd, want))
				pid = (pid_t)strtol(e->d_name, NULL, 10);
		}
		free(cmd);
	}
	if (d)
		closedir(d);
	return pid;
}

/* The python process of the "stubborn" entry (0 if none runs). */
static pid_t stubborn_pid(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t pid = 0;

	while (d && (e = readdir(d)) && !pid) {
		char p[300], *cmd = NULL;
		size_t len = 0;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%s/cmdline", e->d_name);
		if (read_file(p, 1 << 16, &cmd, &len) == 0 && len &&
		    memmem(cmd, len, "#fp-stubborn", 12))
			pid = (pid_t)strtol(e->d_name, NULL, 10);
		free(cmd);
	}
	if (d)
		closedir(d);
	return pid;
}

/* Alive and not a zombie. */
static bool alive(pid_t pid)
{
	char p[64], *st = NULL, *s;
	size_t len = 0;
	bool yes = false;

	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	if (pid > 0 && read_file(p, 4096, &st, &len) == 0 && (s = strrchr(st, ')')))
		yes = s[1] == ' ' && s[2] != 'Z' && s[2] != 'X';
	free(st);
	return yes;
}

static pid_t gone_pids[MAXC];
static size_t n_gone;

static bool all_gone(long unused)
{
	for (size_t i = 0; i < n_gone; i++)
		if (alive(gone_pids[i]))
			return false;
	return true;
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

/* The master's reload counter (`show proc`, third field of the master's line), -1 if unknown. */
static long master_reloads(const char *master)
{
	char *r = NULL;
	long n = -1;

	if (test_cli(master, "show proc", 5000, &r, NULL) == 0) {
		for (char *line = r; line && *line;
		     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
			int pid;
			char type[32];
			long reloads;
			if (sscanf(line, "%d %31s %ld", &pid, type, &reloads) == 3 &&
			    streq(type, "master"))
				n = reloads;
		}
	}
	free(r);
	return n;
}

/* A client loop through HAProxy, on a thread of its own, until stop. */
static atomic_bool stop;
static atomic_int n_ok, n_failed;

static void *client(void *arg)
{
	while (!atomic_load(&stop)) {
		_cleanup_free_ char *r = http_get("/" SVC);
		if (served_by(r)) {
			atomic_fetch_add(&n_ok, 1);
		} else {
			atomic_fetch_add(&n_failed, 1);
			tap_diag("client loop: unexpected reply: '%.200s'", r);
		}
		poll(NULL, 0, 5);
	}
	return NULL;
}

/* A request the copy answers after 1.5 s: in flight while its copy is scaled away. */
static void *slow(void *arg)
{
	_cleanup_free_ char *r = http_get("/" SVC "?delay=1500");

	*(int *)arg = served_by(r);
	if (!*(int *)arg)
		tap_diag("slow request: unexpected reply: '%.200s'", r);
	return NULL;
}

/* The copies through HAProxy: up, to 5, back to 1. Returns the port of the copy kept. */
static int scenario(const char *stats, const char *master)
{
	int ports[MAXC], bad = 0, kept = 0;
	char *err = NULL;

	/* Up: 3 copies, each in HAProxy once it accepts; all 3 answer. */
	tap_ok(run_until(serving_n, 3, 15000), "3 copies run, HAProxy has their 3 endpoints");
	{
		int applied[MAXC];
		size_t na = applied_ports(applied, MAXC);
		size_t k = who_answers(30, ports, MAXC, &bad);
		bool same = k == na;
		for (size_t i = 0; i < k; i++)
			same &= has_port(applied, na, ports[i]);
		tap_is_int((long long)k, 3, "requests reach 3 distinct copies");
		tap_is_int(bad, 0, "every request answered by a copy");
		tap_ok(same, "the copies answering are the endpoints HAProxy has");
	}
	int first3[3] = {ports[0], ports[1], ports[2]};
	{
		_cleanup_free_ char *reply = http_get("/env");
		const char *p = strstr(reply, "name=env");
		long a = 0, b = 0;
		for (int i = 0; i < 100 && !p; i++) {
			loop_iterate(L, 50);
			free(reply);
			reply = http_get("/env");
			p = strstr(reply, "name=env");
		}
		if (p)
			sscanf(p, "name=env%ld-%ld", &a, &b);
		tap_ok(a > 0 && a == b, "PORT in the environment is the copy's port (%ld, %ld)", a,
		       b);
	}

	pid_t w1 = info_pid(stats);
	long reloads0 = master_reloads(master);
	unsigned counted0 = haproxy_reload_count(daemon_haproxy(D));
	tap_ok(w1 > 0 && w1 == haproxy_worker_pid(daemon_haproxy(D)), "worker %d", (int)w1);
	tap_ok(reloads0 >= 0, "the master's reload count: %ld", reloads0);

	/* local_scale's refusals. */
	tap_is_int(local_scale(LOC, "nope", 2, &err), -ENOENT, "unknown service: -ENOENT");
	tap_ok(err && strstr(err, "'nope'"), "  the message names it: %s", err);
	tap_is_int(local_scale(LOC, SVC, 1025, &err), -EINVAL, "1025 copies: -EINVAL");
	tap_is_int(local_scale(LOC, SVC, -1, &err), -EINVAL, "-1 copies: -EINVAL");
	tap_is_int(local_replicas(LOC, "nope", NULL, NULL), -ENOENT, "local_replicas: -ENOENT");

	/* 3 -> 5, no reload. */
	tap_is_int(local_scale(LOC, SVC, 5, &err), 0, "scale to 5");
	{
		long wanted = 0;
		local_replicas(LOC, SVC, &wanted, NULL);
		tap_is_int(wanted, 5, "5 wanted");
	}
	tap_ok(run_until(serving_n, 5, 15000), "5 copies run, HAProxy has their 5 endpoints");
	size_t k5 = who_answers(40, ports, MAXC, &bad);
	tap_is_int((long long)k5, 5, "requests reach 5 distinct copies");
	tap_is_int(bad, 0, "every request answered by a copy");
	tap_is_int(info_pid(stats), w1, "same worker after scaling up");
	tap_is_int(master_reloads(master), reloads0, "the master did not reload");
	tap_is_int(haproxy_reload_count(daemon_haproxy(D)), counted0, "no reload by flowproxy");

	/* 5 -> 1 under a client loop, with slow requests in flight on every copy. */
	n_gone = 0;
	pid_t pids[MAXC];
	for (size_t i = 0; i < k5; i++)
		pids[i] = copy_pid(ports[i]);
	tap_ok(pids[0] > 0 && pids[1] > 0 && pids[2] > 0 && pids[3] > 0 && pids[4] > 0,
	       "the 5 copies' processes found");
	pthread_t cl, sl[5];
	int slow_port[5] = {0};
	atomic_store(&stop, false);
	pthread_create(&cl, NULL, client, NULL);
	for (int i = 0; i < 5; i++)
		pthread_create(&sl[i], NULL, slow, &slow_port[i]);
	/* The slow requests reach HAProxy and their copies before the scale-down. */
	for (long long end = now_usec() + 300000; now_usec() < end;)
		loop_iterate(L, 20);
	tap_is_int(local_scale(LOC, SVC, 1, &err), 0, "scale to 1");
	tap_ok(run_until(serving_n, 1, 20000), "1 copy runs, HAProxy has its endpoint");
	int last[MAXC];
	size_t nl = applied_ports(last, MAXC);
	for (size_t i = 0; i < k5; i++)
		if (nl != 1 || ports[i] != last[0])
			gone_pids[n_gone++] = pids[i];
		else
			kept = ports[i];
	tap_is_int((long long)n_gone, 4, "4 copies to stop");
	tap_ok(run_until(all_gone, 0, 20000), "the 4 stopped copies' processes are gone");
	tap_ok(alive(copy_pid(kept)), "the kept copy runs");
	for (int i = 0; i < 5; i++)
		pthread_join(sl[i], NULL);
	/* More of the client loop once the copies are gone: their slots are really out. */
	for (long long end = now_usec() + 500000; now_usec() < end;)
		loop_iterate(L, 20);
	atomic_store(&stop, true);
	pthread_join(cl, NULL);
	int slow_ok = 0;
	for (int i = 0; i < 5; i++)
		slow_ok += slow_port[i] > 0;
	tap_is_int(slow_ok, 5, "the slow requests in flight during the drain all answered");
	tap_ok(atomic_load(&n_ok) > 20, "the client loop ran: %d requests", atomic_load(&n_ok));
	tap_is_int(atomic_load(&n_failed), 0, "no request failed during the scale-down");
	tap_ok(has_port(first3, 3, kept), "the copy kept is one of the oldest three (port %d)",
	       kept);
	tap_is_int(who_answers(10, ports, MAXC, &bad), 1, "requests reach the one copy left");
	tap_is_int(bad, 0, "every request answered by it");
	tap_is_int(info_pid(stats), w1, "same worker after scaling down");
	tap_is_int(master_reloads(master), reloads0, "the master did not reload");
	tap_is_int(haproxy_reload_count(daemon_haproxy(D)), counted0, "no reload by flowproxy");

	/* A copy that dies is started again on a new port, and HAProxy follows. */
	pid_t kp = copy_pid(kept);
	tap_ok(kp > 0 && kill(kp, SIGKILL) == 0, "the kept copy killed");
	tap_ok(run_until(replaced, kept, 10000), "a new copy serves instead, on another port");
	nl = applied_ports(last, MAXC);
	kept = nl == 1 ? last[0] : 0;
	tap_ok(kept > 0 && who_answers(5, ports, MAXC, &bad) == 1 && ports[0] == kept && !bad,
	       "requests reach the restarted copy");
	tap_is_int(info_pid(stats), w1, "same worker after the restart");
	tap_is_int(haproxy_reload_count(daemon_haproxy(D)), counted0, "no reload by flowproxy");

	/* A copy that ignores SIGTERM: killed once the grace is over. */
	{
		long long t0 = now_usec();
		pid_t sp;

		for (long long end = t0 + 10000000; now_usec() < end && running_of("stubborn") < 1;)
			loop_iterate(L, 20);
		sp = stubborn_pid();
		tap_ok(sp > 0 && running_of("stubborn") == 1, "the stubborn copy runs (pid %d)",
		       (int)sp);
		t0 = now_usec();
		tap_is_int(local_scale(LOC, "stubborn", 0, &err), 0, "stubborn: scale to 0");
		n_gone = 0;
		gone_pids[n_gone++] = sp;
		tap_ok(run_until(all_gone, 0, 10000), "the stubborn copy is gone");
		long long ms = (now_usec() - t0) / 1000;
		tap_ok(ms >= 1900, "  killed after the grace (%lld ms), not at SIGTERM", ms);
	}

	free(err);
	return kept;
}

static void on_started(void *userdata, int r)
{
	*(int *)userdata = r < 0 ? r : 1;
}

int main(void)
{
	static char dir[] = "/tmp/fp-local-XXXXXX";
	const char *build = getenv("FLOWPROXY_BUILD_ROOT");
	struct config cfg = {0};
	struct local_file file = {0};
	char *err = NULL;
	int started = 0, kept = 0;
	int r;

	if (access(HAPROXY_BIN, X_OK) != 0)
		return tap_skip_all("haproxy not installed");
	if (!mkdtemp(dir) || loop_new(&L) < 0)
		abort();
	signal(SIGPIPE, SIG_IGN);
	fe_port = free_port();

	_cleanup_free_ char *cfgdir = xasprintf("%s/cfg", dir);
	_cleanup_free_ char *rundir = xasprintf("%s/run", dir);
	_cleanup_free_ char *stats = xasprintf("%s/stats.sock", rundir);
	_cleanup_free_ char *master = xasprintf("%s/master.sock", rundir);
	_cleanup_free_ char *ports_env = xasprintf("DEFAULT_PORTS=%d", fe_port);
	char *argv[] = {"--configs-path", cfgdir,      "--run-dir", rundir,
			"--haproxy",	  HAPROXY_BIN, NULL};
	char *envp[] = {ports_env, "BIND_ADDRESS=127.0.0.1", "TELEMETRY=false", NULL};
	r = config_load(&cfg, 6, argv, envp, &err);
	if (!tap_is_int(r, 0, "config loads"))
		return tap_done();

	/* 3 copies named after their port; a copy that shows its PORT; a plain entry. */
	/* Copies' output goes to stderr (>&2), not into the TAP stream on stdout. */
	_cleanup_free_ char *json = xasprintf(
		"[{\"serviceName\":\"" SVC "\",\"servicePath\":\"/" SVC "\",\"port\":\"8080\","
		"\"replicas\":3,\"exec\":[\"/bin/sh\",\"-c\",\"exec %s/tests/testserver --name " SVC
		"{port} --port {port} >&2\"]},"
		"{\"serviceName\":\"env\",\"servicePath\":\"/env\",\"port\":8081,"
		"\"exec\":[\"/bin/sh\",\"-c\",\"exec %s/tests/testserver --name env$PORT-{port} "
		"--port {port} >&2\"]},"
		"{\"serviceName\":\"stubborn\",\"servicePath\":\"/s\",\"port\":8082,"
		"\"replicas\":1,\"exec\":[\"python3\",\"-c\",\"" STUBBORN "\"]}]",
		build, build);
	r = local_parse(json, strlen(json), &file, &err);
	tap_is_int(r, 0, "the services file parses");
	tap_ok(file.n == 3 && file.v[0].replicated && file.v[0].replicas == 3 &&
		       file.v[1].replicated && file.v[1].replicas == 1,
	       "3 copies of r, 1 of env");

	tap_is_int(daemon_new(L, &cfg, &D, &err), 0, "daemon_new");
	r = local_start(L, D, &file, "services file", &LOC, &err);
	if (!tap_is_int(r, 0, "local_start"))
		goto out;
	daemon_flush(D);
	r = daemon_start(D, on_started, &started, &err);
	tap_is_int(r, 0, "daemon_start");
	for (long long end = now_usec() + 20000000; !started && now_usec() < end;)
		loop_iterate(L, 50);
	if (!tap_is_int(started, 1, "HAProxy serves"))
		goto out;

	kept = scenario(stats, master);
out:
	daemon_free(D);
	local_free(LOC);
	/* Nothing left: HAProxy stopped, every copy gone. */
	tap_ok(wait_no_leftovers(dir, 5000000) == 0, "HAProxy stopped");
	tap_ok(!kept || !alive(copy_pid(kept)), "the last copy stopped with local_free");
	local_file_done(&file);
	loop_free(L);
	config_done(&cfg);
	free(err);
	remove_test_dir(cfgdir);
	remove_test_dir(rundir);
	remove_test_dir(dir);
	return tap_done();
}
