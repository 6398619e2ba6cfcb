// SPDX-License-Identifier: MIT
/*
 * local: the services file and the backend processes of local mode. The processes are children
 * of flowproxy; SIGCHLD reaches the loop (loop_signal), and only this module's own pids are
 * reaped (waitpid on each), so that HAProxy's supervision is not disturbed. A backend dies with
 * flowproxy, even a SIGKILLed one (PR_SET_PDEATHSIG): the next flowproxy starts its own on the
 * same ports (copies: on new ones, which it submits). A backend that exits is started again
 * after a growing delay (100 ms doubling to 5 s), at most LOCAL_RESTARTS_MAX times a minute.
 *
 * A replicated entry is a group of copies, each a small state machine on the loop (enum
 * copy_state) with one timer: started on a port picked here, probed with non-blocking connects
 * until it accepts, then submitted with the group's other serving copies as the service's
 * endpoints (daemon_submit_addrs: server slots re-pointed at run time). Scaled away, a copy is
 * drained: the endpoints without it are submitted, the daemon's registry shows when HAProxy runs
 * without it, `show stat` (stats_poll) when its sessions there are over; then it is stopped.
 * Nothing here waits: every step is a timer, a socket event or SIGCHLD.
 */
#include "flowproxy/local.h"
#include "flowproxy/daemon.h"
#include "flowproxy/log.h"
#include "flowproxy/loop.h"
#include "flowproxy/render.h"
#include "flowproxy/slots.h"
#include "flowproxy/stats.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#define LOCAL_ENTRIES_MAX    10000
#define LOCAL_RESTARTS_MAX   5
#define LOCAL_RESTART_MIN_MS 100
#define LOCAL_RESTART_MAX_MS 5000
#define LOCAL_STOP_GRACE_MS  2000
#define LOCAL_RECENT_PORTS   256
/* A copy serves once its port accepts a connection, probed this often, for at most this long. */
#define LOCAL_PROBE_MS	       50
#define LOCAL_START_TIMEOUT_MS 30000
/* A copy scaled away waits this often for HAProxy to run without it and its sessions to end;
 * this long in all, or LOCAL_DRAIN_BLIND_MS when its sessions cannot be counted. */
#define LOCAL_DRAIN_POLL_MS  100
#define LOCAL_DRAIN_MAX_MS   30000
#define LOCAL_DRAIN_BLIND_MS 2000

extern char **environ;

void local_file_done(struct local_file *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		params_done(&f->v[i].params);
		for (char **a = f->v[i].argv; a && *a; a++)
			free(*a);
		free(f->v[i].argv);
	}
	free(f->v);
	f->v = NULL;
	f->n = 0;
}

/* A key of the file made safe to quote in a message (it is logged): control bytes as \xNN, at
 * most 64 bytes. Caller frees. */
static char *key_shown(const char *k)
{
	struct strbuf b;

	strbuf_init(&b);
	for (size_t n = 0; *k; k++, n++) {
		unsigned char c = (unsigned char)*k;
		if (n == 64) {
			strbuf_puts(&b, "...");
			break;
		}
		if (c < 0x20 || c == 0x7f)
			strbuf_printf(&b, "\\x%02x", c);
		else
			strbuf_putc(&b, (char)c);
	}
	return strbuf_steal(&b);
}

/*
 * Decides whether entry e runs copies: an "exec" with "replicas" (0..LOCAL_REPLICAS_MAX), or
 * with {port} in an argument (1 copy). The count is then local's, not a routing parameter:
 * "replicas" leaves the parameters (DFP reads replicas=0 as "remove the service"). Without
 * "exec", "replicas" stays what it is in DFP.
 */
static int entry_replicas(struct local_entry *e, size_t idx, char **reterr)
{
	const char *v = params_get(&e->params, "replicas");
	const char *name = params_get(&e->params, "serviceName");
	bool token = false;
	long n = 1;

	if (!e->argv)
		return 0;
	for (char **a = e->argv; *a; a++)
		token |= strstr(*a, LOCAL_PORT_TOKEN) != NULL;
	if (!v && !token)
		return 0;
	if (!str_set(name))
		return errmsg_set(reterr, -EINVAL,
				  "services file: entry %zu: copies of \"exec\" need a serviceName",
				  idx);
	if (v && parse_long(v, 0, LOCAL_REPLICAS_MAX, &n) < 0) {
		_cleanup_free_ char *shown = key_shown(name);
		_cleanup_free_ char *vs = key_shown(v);
		return errmsg_set(
			reterr, -EINVAL,
			"services file: entry %zu ('%s'): \"replicas\" must be an integer "
			"from 0 to %d, not '%s'",
			idx, shown, LOCAL_REPLICAS_MAX, vs);
	}
	/* Labels are matched without regard to case: every spelling goes. */
	for (size_t i = 0; i < e->params.n;) {
		if (strcasecmp(e->params.v[i].key, "replicas") == 0)
			params_remove(&e->params, e->params.v[i].key);
		else
			i++;
	}
	e->replicated = true;
	e->replicas = n;
	return 0;
}

static int parse_entry(const cJSON *o, size_t idx, struct local_entry *e, char **reterr)
{
	const cJSON *it;

	params_init(&e->params);
	e->argv = NULL;
	if (!cJSON_IsObject(o))
		return errmsg_set(reterr, -EINVAL, "services file: entry %zu is not an object",
				  idx);
	cJSON_ArrayForEach(it, o)
	{
		if (streq(it->string, "exec")) {
			int n = cJSON_GetArraySize(it);
			if (!cJSON_IsArray(it) || n == 0)
				return errmsg_set(reterr, -EINVAL,
						  "services file: entry %zu: \"exec\" must be a "
						  "non-empty array of strings",
						  idx);
			/* A second "exec" replaces the first, as for duplicate JSON keys. */
			for (char **a = e->argv; a && *a; a++)
				free(*a);
			free(e->argv);
			e->argv = xcalloc((size_t)n + 1, sizeof(char *));
			for (int i = 0; i < n; i++) {
				const cJSON *s = cJSON_GetArrayItem(it, i);
				if (!cJSON_IsString(s))
					return errmsg_set(reterr, -EINVAL,
							  "services file: entry %zu: \"exec\" must "
							  "be an array of strings",
							  idx);
				e->argv[i] = xstrdup(s->valuestring);
			}
		} else if (cJSON_IsString(it)) {
			params_add(&e->params, it->string, it->valuestring);
		} else if (cJSON_IsBool(it)) {
			params_add(&e->params, it->string, cJSON_IsTrue(it) ? "true" : "false");
		} else if (cJSON_IsNumber(it)) {
			char num[64];
			double v = it->valuedouble;
			/* In range first: casting a larger double is undefined (found by fuzzing). */
			if (!(v > -9e18 && v < 9e18) || v != (double)(long long)v) {
				_cleanup_free_ char *k = key_shown(it->string);
				return errmsg_set(
					reterr, -EINVAL,
					"services file: entry %zu: '%s' must be an integer", idx,
					k);
			}
			snprintf(num, sizeof(num), "%lld", (long long)v);
			params_add(&e->params, it->string, num);
		} else {
			_cleanup_free_ char *k = key_shown(it->string);
			return errmsg_set(
				reterr, -EINVAL,
				"services file: entry %zu: '%s' must be a string, number or "
				"boolean",
				idx, k);
		}
	}
	return entry_replicas(e, idx, reterr);
}

/* Two entries running copies of one service would fight over its slots: the second is refused. */
static int check_unique(const struct local_file *f, size_t i, char **reterr)
{
	const struct local_entry *e = &f->v[i];
	const char *name = e->replicated ? params_get(&e->params, "serviceName") : NULL;

	for (size_t k = 0; name && k < i; k++) {
		const char *other = params_get(&f->v[k].params, "serviceName");
		if (f->v[k].replicated && streq(other, name)) {
			_cleanup_free_ char *shown = key_shown(name);
			return errmsg_set(reterr, -EINVAL,
					  "services file: entry %zu ('%s'): entry %zu runs copies "
					  "of this service already",
					  i, shown, k);
		}
	}
	return 0;
}

char **local_argv_expand(char *const *argv, int port)
{
	size_t argc = 0;
	char num[16], **v;

	snprintf(num, sizeof(num), "%d", port);
	while (argv[argc])
		argc++;
	v = xcalloc(argc + 1, sizeof(char *));
	for (size_t i = 0; i < argc; i++) {
		struct strbuf b;
		const char *a = argv[i], *t;

		strbuf_init(&b);
		strbuf_puts(&b, "");
		while ((t = strstr(a, LOCAL_PORT_TOKEN))) {
			strbuf_append(&b, a, (size_t)(t - a));
			strbuf_puts(&b, num);
			a = t + strlen(LOCAL_PORT_TOKEN);
		}
		strbuf_puts(&b, a);
		v[i] = strbuf_steal(&b);
	}
	return v;
}

void local_argv_free(char **argv)
{
	for (char **a = argv; a && *a; a++)
		free(*a);
	free(argv);
}

int local_parse(const char *json, size_t len, struct local_file *ret, char **reterr)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	const cJSON *list;
	int r = 0;

	ret->v = NULL;
	ret->n = 0;
	if (!root)
		return errmsg_set(reterr, -EINVAL, "services file: not valid JSON near byte %zu",
				  (size_t)(cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - json : 0));
	list = cJSON_IsArray(root) ? root : cJSON_GetObjectItemCaseSensitive(root, "services");
	if (!cJSON_IsArray(list)) {
		cJSON_Delete(root);
		return errmsg_set(reterr, -EINVAL,
				  "services file: expected an array or {\"services\": [...]}");
	}
	size_t n = (size_t)cJSON_GetArraySize(list);
	if (n > LOCAL_ENTRIES_MAX) {
		cJSON_Delete(root);
		return errmsg_set(reterr, -EMSGSIZE, "services file: more than %d entries",
				  LOCAL_ENTRIES_MAX);
	}
	ret->v = xcalloc(n ? n : 1, sizeof(*ret->v));
	for (size_t i = 0; i < n; i++) {
		ret->n = i + 1;
		r = parse_entry(cJSON_GetArrayItem(list, (int)i), i, &ret->v[i], reterr);
		if (r < 0)
			break;
		r = check_unique(ret, i, reterr);
		if (r < 0)
			break;
	}
	cJSON_Delete(root);
	if (r < 0)
		local_file_done(ret);
	return r;
}

enum copy_state {
	COPY_STARTING = 0, /* spawned; a replicated copy's port is probed until it accepts */
	COPY_RUNNING,	   /* serving (a replicated copy: one of HAProxy's servers) */
	COPY_WAITING,	   /* exited: started again when its timer fires */
	COPY_FAILED,	   /* exited too often, or could not be started: left stopped */
	COPY_DRAINING,	   /* scaled away: out of HAProxy's servers, its sessions ending */
	COPY_STOPPING,	   /* SIGTERM sent, SIGKILL when its timer fires */
};

struct group;

/* One process of an entry: the only one of a plain "exec", or a copy of a replicated one. */
struct copy {
	struct group *g;
	unsigned id; /* 1, 2, ... in the order the group made them */
	int port;    /* replicated: where it listens (0 before the first start); else 0 */
	pid_t pid;
	enum copy_state state;
	time_t window_start; /* restart policy: the minute restarts are counted in */
	int restarts;
	bool restart_after;	  /* STOPPING: killed for not accepting in time, started again */
	long long deadline;	  /* usec: STARTING: the start's end; DRAINING: the drain's end */
	long long applied_at;	  /* usec: DRAINING: when HAProxy was seen without it, 0 before */
	bool blind;		  /* DRAINING: the session count could not be read */
	struct loop_timer *timer; /* probe, restart delay, drain poll or SIGKILL, by state */
	int probe_fd;
	struct loop_io *probe_io;
	struct stats_poll *stats;
};

/* A services-file entry with "exec". */
struct group {
	struct local *l;
	char *name;
	char **argv; /* a copy owned here, with LOCAL_PORT_TOKEN when replicated */
	bool replicated;
	struct params params; /* replicated: what goes to the daemon with the endpoints */
	long wanted;	      /* replicated: copies wanted */
	unsigned next_id;
	struct copy **v; /* pointers: timers and probes hold them while v grows */
	size_t n;
};

struct local {
	struct loop *loop;
	struct daemon *d; /* NULL: endpoints go nowhere */
	char *source;
	char *stats_socket;
	struct group *v;
	size_t n;
	int recent[LOCAL_RECENT_PORTS]; /* ports handed out lately, not to hand out again */
	size_t n_recent;
};

static bool port_taken(const struct local *l, int port)
{
	for (size_t i = 0; i < ARRAY_SIZE(l->recent) && i < l->n_recent; i++)
		if (l->recent[i] == port)
			return true;
	for (size_t i = 0; i < l->n; i++)
		for (size_t k = 0; k < l->v[i].n; k++)
			if (l->v[i].v[k]->port == port)
				return true;
	return false;
}

/*
 * A port for a copy: one the kernel finds free on 127.0.0.1 now (bind to port 0, read it,
 * close), and that no copy holds or was given lately: the kernel may offer a port again as soon
 * as it is closed, before the copy it was meant for binds it. The port comes from the ephemeral
 * range, so an outgoing connection may take it before the copy binds: that copy then exits and
 * is started again on another port (the restart policy).
 */
static int pick_port(struct local *l)
{
	for (int tries = 0; tries < 64; tries++) {
		struct sockaddr_in sa = {.sin_family = AF_INET,
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t len = sizeof(sa);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = 0;

		if (fd < 0)
			return -errno;
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
			port = ntohs(sa.sin_port);
		close(fd);
		if (port <= 0)
			return -EADDRNOTAVAIL;
		if (port_taken(l, port))
			continue;
		l->recent[l->n_recent++ % ARRAY_SIZE(l->recent)] = port;
		return port;
	}
	return -EADDRINUSE;
}

/* The environment of a copy: flowproxy's, with PORT=<port> instead of any PORT of its own
 * (flowproxy's PORT is its API's port). The strings are environ's but the last (PORT=): free
 * with env_free. */
static char **env_with_port(int port)
{
	size_t n = 0, k = 0;
	char **v;

	while (environ[n])
		n++;
	v = xcalloc(n + 2, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		if (!str_startswith(environ[i], "PORT="))
			v[k++] = environ[i];
	v[k] = xasprintf("PORT=%d", port);
	return v;
}

static void env_free(char **v)
{
	size_t n = 0;

	if (!v)
		return;
	while (v[n])
		n++;
	if (n)
		free(v[n - 1]);
	free(v);
}

/*
 * Starts c's command as our child. The child asks for SIGTERM when flowproxy dies and gets the
 * default disposition of SIGPIPE back (flowproxy ignores it; exec would keep that). Its argv and
 * environment are made here, before fork: the child only calls what is safe after a fork in a
 * process with threads. An exec failure comes back through a close-on-exec pipe, so that it is
 * reported here, at once.
 */
static int spawn(struct copy *c)
{
	struct group *g = c->g;
	pid_t parent = getpid(), pid;
	int fds[2], err = 0;
	ssize_t n;
	char **argv = g->replicated ? local_argv_expand(g->argv, c->port) : g->argv;
	char **envp = g->replicated ? env_with_port(c->port) : environ;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		err = errno;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		err = errno;
		close(fds[0]);
		close(fds[1]);
		goto out;
	}
	if (pid == 0) {
		sigset_t none;

		close(fds[0]);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127); /* flowproxy is already gone */
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execvpe(argv[0], argv, envp);
		err = errno;
		if (write(fds[1], &err, sizeof(err)) < 0)
			_exit(126);
		_exit(127);
	}
	close(fds[1]);
	while ((n = read(fds[0], &err, sizeof(err))) < 0 && errno == EINTR)
		;
	close(fds[0]);
	if (n == sizeof(err)) {
		waitpid(pid, NULL, 0);
		goto out;
	}
	err = 0;
	c->pid = pid;
	if (g->replicated)
		log_info("service '%s': started backend copy %u on port %d (pid %d)", g->name,
			 c->id, c->port, (int)pid);
	else
		log_info("service '%s': started backend '%s' (pid %d)", g->name, g->argv[0],
			 (int)pid);
out:
	if (err)
		log_error("service '%s': cannot start '%s': %s", g->name, g->argv[0],
			  strerror(err));
	if (g->replicated) {
		local_argv_free(argv);
		env_free(envp);
	}
	return -err;
}

static bool serving(const struct copy *c)
{
	return c->state == COPY_RUNNING;
}

/*
 * Tells the daemon where the group's copies serve now: the running ones, as "127.0.0.1:<port>"
 * (slots.h endpoints), re-pointed at run time while they fit the rendered slots. The wanted count
 * sizes the slots of a re-rendering, so that the copies on their way fit too.
 */
static void group_submit(struct group *g)
{
	char **eps;
	size_t n = 0;

	if (!g->l->d || !g->replicated)
		return;
	eps = xcalloc(g->n ? g->n : 1, sizeof(char *));
	for (size_t i = 0; i < g->n; i++)
		if (serving(g->v[i]))
			eps[n++] = xasprintf("127.0.0.1:%d", g->v[i]->port);
	daemon_submit_addrs(g->l->d, &g->params, g->l->source, (const char *const *)eps, n,
			    (size_t)g->wanted);
	for (size_t i = 0; i < n; i++)
		free(eps[i]);
	free(eps);
}

static void probe_stop(struct copy *c)
{
	loop_io_free(c->probe_io);
	c->probe_io = NULL;
	if (c->probe_fd >= 0)
		close(c->probe_fd);
	c->probe_fd = -1;
}

static void copy_free(struct copy *c)
{
	if (!c)
		return;
	probe_stop(c);
	stats_poll_cancel(c->stats);
	loop_timer_free(c->timer);
	free(c);
}

/* Takes c out of its group and frees it: nothing of it runs or waits any more. */
static void copy_remove(struct copy *c)
{
	struct group *g = c->g;

	for (size_t i = 0; i < g->n; i++)
		if (g->v[i] == c) {
			memmove(&g->v[i], &g->v[i + 1], (g->n - i - 1) * sizeof(g->v[0]));
			g->n--;
			break;
		}
	copy_free(c);
}

/* The copy's port accepts connections: it serves from now on. */
static void copy_ready(struct copy *c)
{
	probe_stop(c);
	loop_timer_stop(c->timer);
	c->state = COPY_RUNNING;
	log_debug("service '%s': backend copy %u accepts connections on port %d", c->g->name, c->id,
		  c->port);
	group_submit(c->g);
}

static void on_probe(void *userdata, uint32_t events)
{
	struct copy *c = userdata;
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->probe_fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	probe_stop(c);
	if (err == 0)
		copy_ready(c);
}

/*
 * One non-blocking connect to the copy's port (a loopback connect completes at once or within
 * the round); the next one at the next tick, which also abandons a connect still pending.
 */
static void probe_start(struct copy *c)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((unsigned short)c->port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd;

	probe_stop(c);
	loop_timer_after(c->timer, LOCAL_PROBE_MS);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		copy_ready(c);
		return;
	}
	if (errno != EINPROGRESS) {
		close(fd);
		return;
	}
	c->probe_fd = fd;
	c->probe_io = loop_io_add(c->g->l->loop, fd, EPOLLOUT, on_probe, c);
	if (!c->probe_io)
		probe_stop(c);
}

/* Starts (or starts again) c: a replicated copy on a new port, probed until it accepts. */
static void copy_start(struct copy *c)
{
	struct group *g = c->g;

	if (g->replicated) {
		int port = pick_port(g->l);
		if (port < 0) {
			log_error("service '%s': no free port for backend copy %u: %s", g->name,
				  c->id, strerror(-port));
			c->state = COPY_FAILED;
			return;
		}
		c->port = port;
	}
	if (spawn(c) < 0) {
		c->state = COPY_FAILED;
		return;
	}
	if (!g->replicated) {
		c->state = COPY_RUNNING;
		return;
	}
	c->state = COPY_STARTING;
	c->deadline = now_usec() + LOCAL_START_TIMEOUT_MS * 1000LL;
	if (c->timer)
		loop_timer_after(c->timer, 0);
}

/* SIGTERM now, SIGKILL after LOCAL_STOP_GRACE_MS; a copy without a process just goes. */
static void copy_stop(struct copy *c)
{
	probe_stop(c);
	stats_poll_cancel(c->stats);
	c->stats = NULL;
	if (c->pid <= 0) {
		log_info("service '%s': stopped backend copy %u (not running)", c->g->name, c->id);
		copy_remove(c);
		return;
	}
	kill(c->pid, SIGTERM);
	c->state = COPY_STOPPING;
	if (c->timer)
		loop_timer_after(c->timer, LOCAL_STOP_GRACE_MS);
}

/* Whether HAProxy's configuration (the daemon's registry: what is applied) still has c. */
static bool in_haproxy(const struct copy *c)
{
	const struct daemon *d = c->g->l->d;
	const struct render_plan *rp = daemon_plan(d);
	const char *const *addrs = NULL;
	size_t first = 0, n_be = render_plan_service(rp, c->g->name, &first);
	int dport = n_be ? rp->backends[first].port : 0;
	size_t n = registry_get_addrs(daemon_registry(d), c->g->name, &addrs);

	for (size_t i = 0; i < n; i++) {
		char addr[INET6_ADDRSTRLEN];
		int port = 0;

		/* Canonical endpoints leave the port out when it is the destination's. */
		if (str_set(addrs[i]) && slots_endpoint_parse(addrs[i], dport, addr, &port) == 0 &&
		    streq(addr, "127.0.0.1") && port == c->port)
			return true;
	}
	return false;
}

static void on_drain_stats(void *userdata, int r, struct stats_table *t, const char *err)
{
	struct copy *c = userdata;
	const struct render_plan *rp = daemon_plan(c->g->l->d);
	size_t first = 0, n_be = render_plan_service(rp, c->g->name, &first);
	char addr[32];
	uint64_t scur = 0;

	c->stats = NULL;
	if (r < 0) {
		log_debug(
			"service '%s': backend copy %u: sessions unknown (%s), draining for %d ms",
			c->g->name, c->id, err, LOCAL_DRAIN_BLIND_MS);
		c->blind = true;
		loop_timer_after(c->timer, LOCAL_DRAIN_POLL_MS);
		return;
	}
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", c->port);
	for (size_t i = 0; i < t->n; i++) {
		const struct stats_row *row = &t->rows[i];
		bool ours = false;

		for (size_t j = first; j < first + n_be && !ours; j++)
			ours = streq(row->proxy, rp->backends[j].name);
		if (ours && !row->is_backend && streq(row->addr, addr))
			scur += row->scur;
	}
	if (scur == 0) {
		copy_stop(c);
		return;
	}
	loop_timer_after(c->timer, LOCAL_DRAIN_POLL_MS);
}

/*
 * A drain step: first HAProxy must run without the copy (its slot emptied at run time, or a
 * re-rendering applied), then its sessions there must end (scur of its server in `show stat`,
 * or LOCAL_DRAIN_BLIND_MS when that cannot be read); LOCAL_DRAIN_MAX_MS bounds it all.
 */
static void drain_poll(struct copy *c)
{
	long long now = now_usec();

	if (now >= c->deadline) {
		log_warn("service '%s': backend copy %u on port %d still busy after %d ms, "
			 "stopping it",
			 c->g->name, c->id, c->port, LOCAL_DRAIN_MAX_MS);
		copy_stop(c);
		return;
	}
	if (!c->applied_at) {
		if (in_haproxy(c)) {
			loop_timer_after(c->timer, LOCAL_DRAIN_POLL_MS);
			return;
		}
		c->applied_at = now;
	}
	if (c->blind) {
		if (now >= c->applied_at + LOCAL_DRAIN_BLIND_MS * 1000LL)
			copy_stop(c);
		else
			loop_timer_after(c->timer, LOCAL_DRAIN_POLL_MS);
		return;
	}
	if (!c->stats)
		c->stats = stats_poll(c->g->l->loop, c->g->l->stats_socket,
				      LOCAL_DRAIN_POLL_MS * 10, on_drain_stats, c);
}

/* Scales c away: a serving copy leaves HAProxy first and drains, any other just stops. */
static void copy_retire(struct copy *c)
{
	struct daemon *d = c->g->l->d;

	c->restart_after = false;
	if (c->state == COPY_STOPPING)
		return;
	if (c->state != COPY_RUNNING || !d || !daemon_haproxy(d) || !c->timer) {
		copy_stop(c);
		return;
	}
	c->state = COPY_DRAINING;
	c->deadline = now_usec() + LOCAL_DRAIN_MAX_MS * 1000LL;
	c->applied_at = 0;
	c->blind = false;
	group_submit(c->g);
	loop_timer_after(c->timer, LOCAL_DRAIN_POLL_MS);
}

static void on_copy_timer(void *userdata)
{
	struct copy *c = userdata;

	switch (c->state) {
	case COPY_STARTING:
		if (now_usec() < c->deadline) {
			probe_start(c);
			break;
		}
		log_warn("service '%s': backend copy %u does not accept connections on port %d "
			 "after %d ms, restarting it",
			 c->g->name, c->id, c->port, LOCAL_START_TIMEOUT_MS);
		c->restart_after = true;
		copy_stop(c); /* a starting copy has a process: c stays */
		break;
	case COPY_WAITING:
		copy_start(c);
		break;
	case COPY_DRAINING:
		drain_poll(c);
		break;
	case COPY_STOPPING:
		if (c->pid > 0)
			kill(c->pid, SIGKILL);
		break;
	case COPY_RUNNING:
	case COPY_FAILED:
		break;
	}
}

/* Whether c counts towards the copies wanted (a copy being scaled away does not). */
static bool active(const struct copy *c)
{
	return (c->state != COPY_DRAINING && c->state != COPY_STOPPING) || c->restart_after;
}

/* Which copy goes first when scaling down: one that serves nobody, then the newest. */
static int retire_rank(const struct copy *c)
{
	return c->state == COPY_RUNNING ? 2 : c->state == COPY_STARTING ? 1 : 0;
}

/* Starts or retires copies until as many are active as wanted. */
static void group_reconcile(struct group *g)
{
	size_t n_active = 0;

	for (size_t i = 0; i < g->n; i++)
		n_active += active(g->v[i]);
	while (n_active < (size_t)g->wanted) {
		struct copy *c = xcalloc(1, sizeof(*c));

		c->g = g;
		c->id = ++g->next_id;
		c->probe_fd = -1;
		c->window_start = time(NULL);
		c->timer = g->l->loop ? loop_timer_new(g->l->loop, on_copy_timer, c) : NULL;
		g->v = xrealloc(g->v, (g->n + 1) * sizeof(g->v[0]));
		g->v[g->n++] = c;
		n_active++;
		copy_start(c);
	}
	while (n_active > (size_t)g->wanted) {
		struct copy *victim = NULL;

		for (size_t i = 0; i < g->n; i++) {
			struct copy *c = g->v[i];
			if (active(c) &&
			    (!victim || retire_rank(c) < retire_rank(victim) ||
			     (retire_rank(c) == retire_rank(victim) && c->id > victim->id)))
				victim = c;
		}
		n_active--;
		copy_retire(victim);
	}
}

/* How a process ended, for a log line: "status 1", "signal 9". */
static const char *exit_how(int st, char buf[static 32])
{
	if (WIFSIGNALED(st))
		snprintf(buf, 32, "signal %d", WTERMSIG(st));
	else
		snprintf(buf, 32, "status %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return buf;
}

/* c's process is gone (status st): stopped as asked, or started again under the policy. */
static void copy_exited(struct copy *c, int st)
{
	struct group *g = c->g;
	bool was_serving = serving(c);
	char how_buf[32];
	const char *how = exit_how(st, how_buf);

	c->pid = 0;
	probe_stop(c);
	stats_poll_cancel(c->stats);
	c->stats = NULL;
	if (c->timer)
		loop_timer_stop(c->timer);
	if ((c->state == COPY_STOPPING && !c->restart_after) || c->state == COPY_DRAINING) {
		log_info("service '%s': stopped backend copy %u on port %d", g->name, c->id,
			 c->port);
		copy_remove(c);
		return;
	}
	c->restart_after = false;
	c->state = COPY_WAITING;
	if (was_serving)
		group_submit(g);
	time_t now = time(NULL);
	if (now - c->window_start > 60) {
		c->window_start = now;
		c->restarts = 0;
	}
	if (++c->restarts > LOCAL_RESTARTS_MAX) {
		c->state = COPY_FAILED;
		if (g->replicated)
			log_error("service '%s': backend copy %u exited (%s) too often, not "
				  "restarted",
				  g->name, c->id, how);
		else
			log_error("service '%s': backend exited (%s) too often, not restarted",
				  g->name, how);
		return;
	}
	long long delay = LOCAL_RESTART_MIN_MS << (c->restarts - 1);
	if (delay > LOCAL_RESTART_MAX_MS)
		delay = LOCAL_RESTART_MAX_MS;
	if (g->replicated)
		log_warn("service '%s': backend copy %u on port %d exited (%s), restarting in %lld "
			 "ms",
			 g->name, c->id, c->port, how, delay);
	else
		log_warn("service '%s': backend exited (%s), restarting in %lld ms", g->name, how,
			 delay);
	if (c->timer)
		loop_timer_after(c->timer, delay);
}

static void on_children(void *userdata)
{
	struct local *l = userdata;

	for (size_t i = 0; i < l->n; i++) {
		struct group *g = &l->v[i];
		/* Backwards: copy_exited may remove g->v[k]. */
		for (size_t k = g->n; k-- > 0;) {
			struct copy *c = g->v[k];
			int st;
			if (c->pid > 0 && waitpid(c->pid, &st, WNOHANG) == c->pid)
				copy_exited(c, st);
		}
	}
}

static struct group *group_find(const struct local *l, const char *service)
{
	for (size_t i = 0; l && service && i < l->n; i++)
		if (l->v[i].replicated && streq(l->v[i].name, service))
			return &l->v[i];
	return NULL;
}

int local_scale(struct local *l, const char *service, long replicas, char **reterr)
{
	struct group *g = group_find(l, service);

	if (!g)
		return errmsg_set(reterr, -ENOENT,
				  "service '%s' has no copies of a command in the services file",
				  service ? service : "");
	if (replicas < 0 || replicas > LOCAL_REPLICAS_MAX)
		return errmsg_set(reterr, -EINVAL,
				  "service '%s': replicas must be from 0 to %d, not %ld", service,
				  LOCAL_REPLICAS_MAX, replicas);
	if (replicas != g->wanted)
		log_info("service '%s': scaling from %ld to %ld copies", service, g->wanted,
			 replicas);
	g->wanted = replicas;
	group_reconcile(g);
	return 0;
}

int local_replicas(const struct local *l, const char *service, long *ret_wanted, long *ret_running)
{
	const struct group *g = group_find(l, service);
	long running = 0;

	if (!g)
		return -ENOENT;
	for (size_t i = 0; i < g->n; i++)
		running += serving(g->v[i]);
	if (ret_wanted)
		*ret_wanted = g->wanted;
	if (ret_running)
		*ret_running = running;
	return 0;
}

int local_start(struct loop *loop, struct daemon *d, const struct local_file *f, const char *source,
		struct local **ret, char **reterr)
{
	struct local *l = xcalloc(1, sizeof(*l));
	int r = loop ? loop_signal(loop, SIGCHLD, on_children, l) : 0;

	if (r < 0) {
		free(l);
		return errmsg_set(reterr, r, "SIGCHLD: %s", strerror(-r));
	}
	l->loop = loop;
	l->d = d;
	l->source = xstrdup(source ? source : "services file");
	if (d)
		l->stats_socket = xasprintf("%s/stats.sock", daemon_config(d)->run_dir);
	l->v = xcalloc(f->n ? f->n : 1, sizeof(*l->v));
	for (size_t i = 0; i < f->n; i++) {
		const struct local_entry *e = &f->v[i];
		if (!e->argv)
			continue;
		/* Copies serve only once their service is routed: with slots for all of them. */
		if (e->replicated && d &&
		    daemon_submit_service(d, &e->params, l->source, NULL, 0, (size_t)e->replicas) <
			    0)
			continue;
		struct group *g = &l->v[l->n++];
		const char *name = params_get(&e->params, "serviceName");
		size_t argc = 0;
		while (e->argv[argc])
			argc++;
		g->l = l;
		g->argv = xcalloc(argc + 1, sizeof(char *));
		for (size_t k = 0; k < argc; k++)
			g->argv[k] = xstrdup(e->argv[k]);
		g->name = xstrdup(name ? name : "?");
		g->replicated = e->replicated;
		params_init(&g->params);
		params_copy(&g->params, &e->params);
		g->wanted = e->replicated ? e->replicas : 1;
		group_reconcile(g);
	}
	*ret = l;
	return 0;
}

void local_free(struct local *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		for (size_t k = 0; k < l->v[i].n; k++) {
			struct copy *c = l->v[i].v[k];
			if (c->pid > 0)
				kill(c->pid, SIGTERM);
		}
	long long deadline = now_usec() + LOCAL_STOP_GRACE_MS * 1000LL;
	for (size_t i = 0; i < l->n; i++) {
		for (size_t k = 0; k < l->v[i].n; k++) {
			struct copy *c = l->v[i].v[k];
			while (c->pid > 0) {
				pid_t w = waitpid(c->pid, NULL, WNOHANG);
				if (w == c->pid || (w < 0 && errno == ECHILD)) {
					c->pid = 0;
					break;
				}
				if (now_usec() > deadline) {
					kill(c->pid, SIGKILL);
					waitpid(c->pid, NULL, 0);
					c->pid = 0;
					break;
				}
				poll(NULL, 0, 10);
			}
			copy_free(c);
		}
		free(l->v[i].v);
		local_argv_free(l->v[i].argv);
		free(l->v[i].name);
		params_done(&l->v[i].params);
	}
	free(l->v);
	free(l->source);
	free(l->stats_socket);
	free(l);
}
