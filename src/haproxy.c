// SPDX-License-Identifier: MIT
/*
 * haproxy: the edge to the HAProxy process. It starts HAProxy 2.6 as our child in master-worker
 * mode (`haproxy -W -S <run_dir>/master.sock -f <config>`, management.txt §3 and §9.4), applies
 * configurations by writing the file atomically and sending `reload` on the master CLI, and
 * confirms the outcome from `show proc` (management.txt §9.4.1). The reload itself is the
 * validation: a configuration HAProxy rejects leaves the old worker serving, and we put the
 * previous file back. HAProxy's stdout/stderr come to us through one pipe; its [ALERT] lines are
 * what the caller gets when a configuration is rejected. The master is supervised through a
 * pidfd: a dead master is reaped and started again on the current file. A master left running by
 * a previous flowproxy is adopted rather than replaced, so a flowproxy restart drops no request.
 *
 * What `show proc` prints on the master CLI of 2.6.12 (verified by experiment, tabs shown as
 * columns):
 *
 *   #<PID>          <type>          <reloads>       <uptime>        <version>
 *   4287            master          2 [failed: 1]   0d00h00m04s     2.6.12-1+deb12u4
 *   # workers
 *   4364            worker          1               0d00h00m01s     2.6.12-1+deb12u4
 *   # old workers
 *   4290            worker          2               0d00h00m05s     2.6.12-1+deb12u4
 *   # programs
 *   (empty line)
 *
 * - The master's <reloads> counts every reload, good or rejected (the master re-execs itself in
 *   both cases and keeps its pid). "[failed: N]" counts rejected reloads since the last good
 *   load: 1, 2, ... after consecutive failures, back to 0 after the next good reload.
 * - "# workers" lists the current worker(s). After a good reload it lists only the new worker,
 *   whose <reloads> is 0; after a rejected one it still lists the previous worker, its <reloads>
 *   incremented (a worker's <reloads> is the number of reloads it survived).
 * - "# old workers" appears only while soft-stopped workers still hold connections.
 * - `reload` answers 0 bytes and the connection closes; the master then re-execs and for about
 *   15-40 ms its socket refuses connections (ECONNREFUSED, sometimes ECONNRESET). The first
 *   answer afterwards already carries the new counters and, after a good reload, the new worker.
 * - The master writes "[NOTICE] (pid) : Loading success." or "[ALERT] ... : config : parsing
 *   [file:line] : unknown keyword ..." lines followed by "[WARNING] (pid) : Loading failure!" on
 *   its stderr before its CLI answers again, so the ALERT lines are in our pipe by then.
 * - `@!<pid> show version` on the master CLI is forwarded to that worker and answers its version
 *   once the worker runs its event loop; "Can't find the target PID ..." for an unknown pid.
 * - The master does not die from SIGPIPE when nobody reads its stderr any more (verified), which
 *   is what lets a master outlive a flowproxy and be adopted.
 */
#include "flowproxy/haproxy.h"
#include "flowproxy/cli.h"
#include "flowproxy/log.h"
#include "flowproxy/loop.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

extern char **environ;

#define HAPROXY_CFG_MAX	      (64u << 20) /* a configuration file we read back */
#define HAPROXY_OUTPUT_MAX    (1u << 20)  /* `haproxy -c` output we keep */
#define HAPROXY_ALERTS_MAX    (64u << 10) /* [ALERT] lines collected during a start or reload */
#define HAPROXY_LINE_MAX      4096	  /* one stderr line; longer ones are cut */
#define HAPROXY_WORKERS_MAX   64
#define HAPROXY_POLL_MS	      2
#define HAPROXY_STOP_GRACE_MS 30000
#define HAPROXY_ADOPT_WAIT_MS 500
#define HAPROXY_FAIL_TAIL_MS  100 /* after a rejected reload: time for the ALERT lines to arrive */

/*
 * The steps of an operation. A start probes the master socket (adopt), or spawns a master and
 * polls until a worker answers. An apply or reload reads `show proc`, sends `reload`, polls
 * `show proc` until the master's reload counter moved, then checks that the new worker answers.
 */
enum step {
	STEP_IDLE = 0,
	STEP_ADOPT_PROBE, /* `show proc` on an existing master socket */
	STEP_STARTING,	  /* our master spawned: poll until a worker answers */
	STEP_BEFORE,	  /* `show proc` before the reload */
	STEP_RELOAD,	  /* `reload` sent */
	STEP_CONFIRM,	  /* poll `show proc` until the reload counter moved */
	STEP_WORKER,	  /* `@!<pid> show version`: does the new worker answer? */
	STEP_FAIL_TAIL,	  /* rejected: wait briefly for HAProxy's ALERT lines */
	STEP_EXPLAIN,	  /* rejected by an adopted master: `haproxy -c` for the message */
};

struct proc_state {
	pid_t master;
	unsigned reloads;
	unsigned failed;
	pid_t workers[HAPROXY_WORKERS_MAX];
	size_t n_workers;
};

struct haproxy {
	struct loop *loop;
	char *binary;
	char *config_path;
	char *run_dir;
	char *master_sock;
	int timeout_ms;
	int stop_ms;
	bool terminate_on_reload;

	pid_t master_pid; /* 0 when no master is known */
	bool own;	  /* we spawned master_pid: we reap it and stop it */
	int pidfd;	  /* master's pidfd, -1 when none */
	struct loop_io *pid_io;
	int err_rfd; /* read end of HAProxy's stdout/stderr pipe (non-blocking) */
	int err_wfd; /* write end, kept open so the pipe survives restarts and never HUPs */
	struct loop_io *err_io;

	pid_t worker_pid;
	unsigned reloads;
	unsigned failures;

	struct strbuf line;   /* a partial stderr line */
	struct strbuf alerts; /* [ALERT] lines, while collecting */
	bool collecting;
	bool saw_loading_end; /* "Loading success." or "Loading failure!" seen while collecting */

	/* The operation in flight. */
	enum step step;
	haproxy_done_fn done; /* NULL for a restart after the master died (supervision) */
	void *userdata;
	char *cfg; /* what is being applied (NULL: reload of the current file) */
	size_t cfg_len;
	char *prev; /* the file before it, put back on a rejection (NULL: none) */
	size_t prev_len;
	long long deadline;
	long long until; /* adopt probe: refused until; fail tail: wait until */
	struct proc_state before;
	bool reload_sent;	 /* `reload` went out: HAProxy may load the file any time now */
	pid_t candidate;	 /* STEP_WORKER */
	struct cli_call *call;	 /* the CLI call in flight */
	struct loop_timer *tick; /* next poll of the current step */
	struct haproxy_check *explain;
};

static void step_next(struct haproxy *h);

static long long deadline_after_ms(int ms)
{
	return now_usec() + (long long)ms * 1000;
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* ---- show proc ---------------------------------------------------------------------------- */

/* Splits a line on blanks into at most max tokens (in place); returns how many. */
static size_t split_blanks(char *s, char **tok, size_t max)
{
	size_t n = 0;

	while (n < max) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			break;
		tok[n++] = s;
		while (*s && *s != ' ' && *s != '\t')
			s++;
		if (*s)
			*s++ = '\0';
	}
	return n;
}

static int parse_uint(const char *s, unsigned *ret)
{
	long v;
	int r = parse_long(s, 0, 0x7fffffffL, &v);

	if (r < 0)
		return r;
	*ret = (unsigned)v;
	return 0;
}

/*
 * Parses the `show proc` reply shown at the top of this file. Accepts unknown sections and
 * extra columns; rejects (-EBADMSG) a reply without a well-formed master line. Only the first
 * HAPROXY_WORKERS_MAX current workers are kept.
 */
static int proc_parse(const char *reply, struct proc_state *st)
{
	enum { SEC_HEAD = 0, SEC_WORKERS, SEC_OTHER } sec = SEC_HEAD;
	bool master_seen = false;
	const char *p = reply;

	memset(st, 0, sizeof(*st));
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[512], *tok[8];
		size_t n;
		unsigned v;

		if (len >= sizeof(line))
			len = sizeof(line) - 1;
		memcpy(line, p, len);
		line[len] = '\0';
		p = nl ? nl + 1 : p + strlen(p);

		if (line[0] == '#') {
			if (str_startswith(line, "#<PID>"))
				continue;
			sec = streq(line, "# workers") ? SEC_WORKERS : SEC_OTHER;
			continue;
		}
		n = split_blanks(line, tok, ARRAY_SIZE(tok));
		if (n < 3 || parse_uint(tok[0], &v) < 0 || v == 0)
			continue;
		if (sec == SEC_HEAD && streq(tok[1], "master")) {
			st->master = (pid_t)v;
			if (parse_uint(tok[2], &st->reloads) < 0)
				return -EBADMSG;
			/* "[failed: N]" splits into "[failed:" and "N]". */
			if (n >= 5 && streq(tok[3], "[failed:") && str_endswith(tok[4], "]")) {
				tok[4][strlen(tok[4]) - 1] = '\0';
				if (parse_uint(tok[4], &st->failed) < 0)
					return -EBADMSG;
			}
			master_seen = true;
		} else if (sec == SEC_WORKERS && streq(tok[1], "worker") &&
			   st->n_workers < HAPROXY_WORKERS_MAX) {
			st->workers[st->n_workers++] = (pid_t)v;
		}
	}
	return master_seen ? 0 : -EBADMSG;
}

static bool proc_has_worker(const struct proc_state *st, pid_t pid)
{
	for (size_t i = 0; i < st->n_workers; i++)
		if (st->workers[i] == pid)
			return true;
	return false;
}

/* Errors a master CLI query meets while the master re-execs itself (see the top of the file). */
static bool cli_transient(int r)
{
	return r == -ECONNREFUSED || r == -ECONNRESET || r == -ENOENT || r == -EAGAIN ||
	       r == -EPIPE;
}

/* ---- HAProxy's output --------------------------------------------------------------------- */

static void output_line(struct haproxy *h, const char *l)
{
	if (strstr(l, "[ALERT]")) {
		log_warn("haproxy: %s", l);
		if (h->collecting && h->alerts.len + strlen(l) + 1 <= HAPROXY_ALERTS_MAX) {
			if (h->alerts.len)
				strbuf_putc(&h->alerts, '\n');
			strbuf_puts(&h->alerts, l);
		}
	} else if (strstr(l, "stopped (cumulated conns:")) {
		/* One per proxy of every old worker at every reload: noise at 1000 backends. */
		log_debug("haproxy: %s", l);
	} else if (strstr(l, "Former worker (") && strstr(l, "exited with code 0")) {
		/* The normal end of an old worker after a reload, printed as a WARNING. */
		log_info("haproxy: %s", l);
	} else if (strstr(l, "[WARNING]")) {
		log_warn("haproxy: %s", l);
	} else {
		log_info("haproxy: %s", l);
	}
	if (h->collecting && (strstr(l, "Loading success.") || strstr(l, "Loading failure!")))
		h->saw_loading_end = true;
}

/* Reads whatever HAProxy wrote, logs every complete line. Never blocks. */
static void output_drain(struct haproxy *h)
{
	char buf[16384];

	for (;;) {
		ssize_t n = read(h->err_rfd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				output_line(h, strbuf_str(&h->line));
				strbuf_reset(&h->line);
			} else if (h->line.len < HAPROXY_LINE_MAX) {
				strbuf_putc(&h->line, buf[i]);
			}
		}
	}
}

static void collect_begin(struct haproxy *h)
{
	output_drain(h);
	strbuf_reset(&h->alerts);
	h->saw_loading_end = false;
	h->collecting = true;
}

/* Ends collecting; returns the [ALERT] lines (caller frees; "" when none). */
static char *collect_end(struct haproxy *h)
{
	output_drain(h);
	h->collecting = false;
	return strbuf_steal(&h->alerts);
}

/* ---- process ------------------------------------------------------------------------------ */

static void on_master_exit(void *userdata, uint32_t events);

static void master_forget(struct haproxy *h)
{
	loop_io_free(h->pid_io);
	h->pid_io = NULL;
	if (h->pidfd >= 0)
		close(h->pidfd);
	h->pidfd = -1;
	h->master_pid = 0;
	h->worker_pid = 0;
	h->own = false;
}

static int master_track(struct haproxy *h, pid_t pid, bool own, char **reterr)
{
	int fd = pidfd_open_(pid);

	if (fd < 0)
		return errmsg_set(reterr, -errno, "pidfd_open(%d): %s", (int)pid, strerror(errno));
	h->pid_io = loop_io_add(h->loop, fd, EPOLLIN, on_master_exit, h);
	if (!h->pid_io) {
		int r = -errno;

		close(fd);
		return errmsg_set(reterr, r, "epoll: %s", strerror(-r));
	}
	h->pidfd = fd;
	h->master_pid = pid;
	h->own = own;
	return 0;
}

static bool master_exited(const struct haproxy *h)
{
	struct pollfd p = {.fd = h->pidfd, .events = POLLIN};

	if (h->pidfd < 0)
		return h->master_pid == 0;
	return poll(&p, 1, 0) > 0;
}

/* Reaps an exited master (ours: it has exited, so waitpid returns at once) and describes how it
 * ended; caller frees. */
static char *master_reap(struct haproxy *h)
{
	int status = 0;
	char *how;

	if (!h->own)
		how = xasprintf("master %d (adopted) exited", (int)h->master_pid);
	else if (waitpid(h->master_pid, &status, 0) < 0)
		how = xasprintf("master %d exited (waitpid: %s)", (int)h->master_pid,
				strerror(errno));
	else if (WIFSIGNALED(status))
		how = xasprintf("master %d killed by signal %d", (int)h->master_pid,
				WTERMSIG(status));
	else
		how = xasprintf("master %d exited with status %d", (int)h->master_pid,
				WEXITSTATUS(status));
	master_forget(h);
	return how;
}

static int spawn_master(struct haproxy *h, char **reterr)
{
	_cleanup_free_ char *sarg = xasprintf("%s,mode,600", h->master_sock);
	char *argv[] = {h->binary, "-W", "-S", sarg, "-f", h->config_path, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	pid_t pid;
	int r;

	/*
	 * -S <path>,mode,600 (management.txt §9.4): the master CLI can reload and reach every
	 * worker, so only our user may connect. No -D: the master stays our child so that we can
	 * reap it and learn at once when it dies.
	 */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, h->err_wfd, 1);
	posix_spawn_file_actions_adddup2(&fa, h->err_wfd, 2);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGHUP);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGQUIT);
	sigaddset(&dfl, SIGUSR1);
	sigaddset(&dfl, SIGUSR2);
	sigaddset(&dfl, SIGCHLD);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	/*
	 * Its own process group: a Ctrl-C meant for flowproxy must not stop HAProxy, which carries
	 * the traffic and outlives a flowproxy restart (it is adopted then).
	 */
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					      POSIX_SPAWN_SETPGROUP);
	r = posix_spawnp(&pid, h->binary, &fa, &at, argv, environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return errmsg_set(reterr, -r, "cannot run '%s': %s", h->binary, strerror(r));

	r = master_track(h, pid, true, reterr);
	if (r < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return r;
}

/* ---- operations ------------------------------------------------------------------------- */

/* Ends the operation: collecting stops, the callback runs (last: it may start the next one). */
static void op_end(struct haproxy *h, int r, const char *err)
{
	haproxy_done_fn done = h->done;
	void *userdata = h->userdata;

	free(collect_end(h));
	h->step = STEP_IDLE;
	h->done = NULL;
	loop_timer_stop(h->tick);
	free(h->cfg);
	h->cfg = NULL;
	free(h->prev);
	h->prev = NULL;
	if (r >= 0) {
		if (done)
			done(userdata, r, "");
	} else if (done) {
		done(userdata, r, err ? err : strerror(-r));
	} else {
		log_error("haproxy: %s", err ? err : strerror(-r));
	}
}

/* The file we wrote is put back to what it was (after a rejection or a dead master). */
static void restore_prev(struct haproxy *h)
{
	int w;

	if (!h->prev)
		return;
	w = write_file_atomic(h->config_path, h->prev, h->prev_len);
	if (w < 0)
		log_error("haproxy: cannot restore '%s': %s", h->config_path, strerror(-w));
}

static void op_fail(struct haproxy *h, int r, const char *fmt, ...) PRINTF_LIKE(3, 4);
static void op_fail(struct haproxy *h, int r, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	/* Rejected, or never reloaded: the file goes back to what HAProxy runs. */
	if (r == -EINVAL || r == -ESRCH || !h->reload_sent)
		restore_prev(h);
	if (r == -EINVAL)
		h->failures++;
	op_end(h, r, msg);
}

/* Polls the current step again in HAPROXY_POLL_MS (sooner when HAProxy writes something). */
static void tick_later(struct haproxy *h)
{
	loop_timer_after(h->tick, HAPROXY_POLL_MS);
}

static void on_tick(void *userdata)
{
	step_next(userdata);
}

static void cli_start(struct haproxy *h, const char *cmd, cli_done_fn cb)
{
	int left = (int)((h->deadline - now_usec()) / 1000);

	h->call = cli_call(h->loop, h->master_sock, cmd, left > 0 ? left : 1, cb, h);
}

/* The outcome is known: for a start or reload the worker pid is set. */
static void confirmed(struct haproxy *h)
{
	bool reload = h->step != STEP_STARTING && h->before.master != 0;

	if (reload)
		h->reloads++;
	/* -st: a worker stops at once on SIGTERM (management.txt §4), its connections cut. */
	for (size_t i = 0; reload && h->terminate_on_reload && i < h->before.n_workers; i++) {
		pid_t old = h->before.workers[i];
		if (old != h->worker_pid && kill(old, SIGTERM) < 0)
			log_warn("haproxy: cannot stop old worker %d: %m", (int)old);
	}
	op_end(h, 0, NULL);
}

static void on_worker_answer(void *userdata, const struct cli_result *res)
{
	struct haproxy *h = userdata;

	h->call = NULL;
	if (res->r == 0 && res->reply[0] >= '0' && res->reply[0] <= '9') {
		h->worker_pid = h->candidate;
		h->step = h->before.master ? STEP_CONFIRM : STEP_STARTING;
		confirmed(h);
		return;
	}
	/* Not yet in its event loop: poll `show proc` again. */
	h->step = h->before.master ? STEP_CONFIRM : STEP_STARTING;
	tick_later(h);
}

static void check_worker(struct haproxy *h, pid_t pid)
{
	char cmd[64];

	h->candidate = pid;
	h->step = STEP_WORKER;
	snprintf(cmd, sizeof(cmd), "@!%d show version", (int)pid);
	cli_start(h, cmd, on_worker_answer);
}

static void on_explained(void *userdata, int r, const char *err)
{
	struct haproxy *h = userdata;

	h->explain = NULL;
	op_fail(h, -EINVAL, "HAProxy rejected the configuration:\n%s",
		r < 0 && *err ? err : "(no message)");
}

/* A rejected reload: HAProxy's ALERT lines are the message (collected from its stderr). */
static void rejected(struct haproxy *h)
{
	_cleanup_free_ char *alerts = strbuf_steal(&h->alerts);

	if (!*alerts && h->cfg) {
		/* Adopted master: its stderr went to the flowproxy that started it. */
		h->step = STEP_EXPLAIN;
		h->explain = haproxy_validate(h, h->cfg, h->cfg_len, on_explained, h);
		if (h->explain)
			return;
	}
	op_fail(h, -EINVAL, "HAProxy rejected the configuration:\n%s",
		*alerts ? alerts : "(no message)");
}

static void on_show_proc(void *userdata, const struct cli_result *res)
{
	struct haproxy *h = userdata;
	struct proc_state st;

	h->call = NULL;
	if (res->r < 0 || proc_parse(res->reply, &st) < 0) {
		if (res->r < 0 && !cli_transient(res->r) && res->r != -ETIMEDOUT) {
			op_fail(h, res->r, "%s", res->err);
			return;
		}
		tick_later(h);
		return;
	}
	switch (h->step) {
	case STEP_STARTING:
		if (st.n_workers > 0) {
			check_worker(h, st.workers[0]);
			return;
		}
		break;
	case STEP_CONFIRM:
		if (st.reloads == h->before.reloads)
			break;
		if (st.failed > 0) {
			if (st.n_workers)
				h->worker_pid = st.workers[0];
			h->step = STEP_FAIL_TAIL;
			h->until = deadline_after_ms(HAPROXY_FAIL_TAIL_MS);
			step_next(h);
			return;
		}
		for (size_t i = 0; i < st.n_workers; i++) {
			if (!proc_has_worker(&h->before, st.workers[i])) {
				check_worker(h, st.workers[i]);
				return;
			}
		}
		break;
	default:
		break;
	}
	tick_later(h);
}

/* The master CLI took the whole deadline to say nothing: the master is stuck (or stopped). */
static void cli_silent(struct haproxy *h, const struct cli_result *res)
{
	op_fail(h, -ETIMEDOUT,
		"HAProxy reload not confirmed within %d ms: the master CLI does not answer (%s)",
		h->timeout_ms, res->err);
}

static void on_reload_sent(void *userdata, const struct cli_result *res)
{
	struct haproxy *h = userdata;

	h->call = NULL;
	/* Once the command is out, a reset while reading the (empty) reply still means the
	 * master got it: never send a second reload. */
	if (res->r == 0 || res->sent) {
		h->reload_sent = true;
		h->step = STEP_CONFIRM;
		tick_later(h);
		return;
	}
	if (res->r == -ETIMEDOUT) {
		cli_silent(h, res);
		return;
	}
	if (!cli_transient(res->r)) {
		op_fail(h, res->r, "%s", res->err);
		return;
	}
	/* The master is still re-executing from an earlier reload: from the top. */
	h->step = STEP_BEFORE;
	tick_later(h);
}

static void on_before(void *userdata, const struct cli_result *res)
{
	struct haproxy *h = userdata;

	h->call = NULL;
	if (res->r < 0 || proc_parse(res->reply, &h->before) < 0) {
		if (res->r == -ETIMEDOUT) {
			cli_silent(h, res);
			return;
		}
		if (res->r < 0 && !cli_transient(res->r)) {
			op_fail(h, res->r, "%s", res->err);
			return;
		}
		tick_later(h);
		return;
	}
	h->step = STEP_RELOAD;
	cli_start(h, "reload", on_reload_sent);
}

static void begin_reload(struct haproxy *h)
{
	h->reload_sent = false;
	collect_begin(h);
	h->deadline = deadline_after_ms(h->timeout_ms);
	memset(&h->before, 0, sizeof(h->before));
	h->step = STEP_BEFORE;
	step_next(h);
}

/*
 * Writes h->cfg, if there is one, keeping the previous file in h->prev for a rejection.
 * Returns false when the operation failed (and has ended).
 */
static bool write_cfg(struct haproxy *h)
{
	int r;

	if (!h->cfg)
		return true;
	free(h->prev);
	h->prev = NULL;
	r = read_file(h->config_path, HAPROXY_CFG_MAX, &h->prev, &h->prev_len);
	if (r < 0 && r != -ENOENT) {
		op_fail(h, r, "cannot read '%s': %s", h->config_path, strerror(-r));
		return false;
	}
	r = write_file_atomic(h->config_path, h->cfg, h->cfg_len);
	if (r < 0) {
		op_fail(h, r, "cannot write '%s': %s", h->config_path, strerror(-r));
		return false;
	}
	return true;
}

/* Writes h->cfg (keeping the previous file for a rejection) and reloads. */
static void write_and_reload(struct haproxy *h)
{
	if (write_cfg(h))
		begin_reload(h);
}

/* Spawns a master on h->cfg (or the current file) and waits for its worker. */
static void spawn_and_wait(struct haproxy *h)
{
	_cleanup_free_ char *err = NULL;
	struct stat st;
	int r;

	if (!write_cfg(h))
		return;
	/* A socket file nobody answers on was left by a dead master; HAProxy binds a new one. */
	if (lstat(h->master_sock, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(h->master_sock);
	collect_begin(h);
	r = spawn_master(h, &err);
	if (r < 0) {
		op_fail(h, r, "%s", err);
		return;
	}
	memset(&h->before, 0, sizeof(h->before));
	h->deadline = deadline_after_ms(h->timeout_ms);
	h->step = STEP_STARTING;
	tick_later(h);
}

static void on_adopt_probe(void *userdata, const struct cli_result *res)
{
	struct haproxy *h = userdata;
	_cleanup_free_ char *err = NULL;
	struct proc_state st;
	int r;

	h->call = NULL;
	if (res->r == 0 && proc_parse(res->reply, &st) == 0) {
		r = master_track(h, st.master, false, &err);
		if (r < 0) {
			op_fail(h, r, "%s", err);
			return;
		}
		h->worker_pid = st.n_workers ? st.workers[0] : 0;
		log_info("haproxy: adopted master %d already running on '%s'", (int)st.master,
			 h->master_sock);
		write_and_reload(h);
		return;
	}
	/*
	 * A socket file that refuses connections is a dead master's, or a live one re-executing
	 * for a reload (see the top of the file): give the latter time to answer rather than start
	 * a second HAProxy beside it.
	 */
	if (res->r == -ECONNREFUSED && now_usec() < h->until) {
		tick_later(h);
		return;
	}
	spawn_and_wait(h);
}

/* Runs the current step once: called by the tick, and when HAProxy writes or its master dies. */
static void step_next(struct haproxy *h)
{
	if (h->call || h->step == STEP_IDLE || h->step == STEP_EXPLAIN)
		return;
	if (h->step != STEP_ADOPT_PROBE && h->master_pid > 0 && master_exited(h)) {
		_cleanup_free_ char *how = master_reap(h);
		_cleanup_free_ char *alerts = strbuf_steal(&h->alerts);

		if (h->step == STEP_STARTING && h->before.master == 0)
			op_fail(h, -EINVAL, "HAProxy did not start (%s)%s%s", how,
				*alerts ? ":\n" : "", alerts);
		else
			op_fail(h, -ESRCH, "HAProxy %s during the reload", how);
		return;
	}
	if (h->step != STEP_FAIL_TAIL && h->step != STEP_ADOPT_PROBE && now_usec() >= h->deadline) {
		if (h->step == STEP_STARTING || (h->step == STEP_WORKER && !h->before.master))
			op_fail(h, -ETIMEDOUT,
				"HAProxy master %d started but no worker answered within %d ms",
				(int)h->master_pid, h->timeout_ms);
		else
			op_fail(h, -ETIMEDOUT, "HAProxy reload not confirmed within %d ms",
				h->timeout_ms);
		return;
	}
	switch (h->step) {
	case STEP_ADOPT_PROBE:
		cli_start(h, "show proc", on_adopt_probe);
		break;
	case STEP_BEFORE:
		cli_start(h, "show proc", on_before);
		break;
	case STEP_STARTING:
	case STEP_CONFIRM:
		cli_start(h, "show proc", on_show_proc);
		break;
	case STEP_FAIL_TAIL:
		/* The ALERT lines precede "Loading failure!"; they are normally there already. */
		if (h->own && !h->saw_loading_end && now_usec() < h->until) {
			tick_later(h);
			break;
		}
		rejected(h);
		break;
	default:
		break;
	}
}

/* HAProxy wrote something: log it, and let a waiting step look again at once. */
static void on_output(void *userdata, uint32_t events)
{
	struct haproxy *h = userdata;

	output_drain(h);
	if (h->step != STEP_IDLE && !h->call)
		loop_timer_after(h->tick, 0);
}

static void on_restarted(void *userdata, int r, const char *err)
{
	struct haproxy *h = userdata;

	if (r >= 0)
		log_info("haproxy: restarted, master %d, worker %d", (int)h->master_pid,
			 (int)h->worker_pid);
	else
		log_error("haproxy: restart failed: %s", err);
}

/* The master's pidfd is readable: it exited. An operation in flight notices by itself. */
static void on_master_exit(void *userdata, uint32_t events)
{
	struct haproxy *h = userdata;
	_cleanup_free_ char *how = NULL;

	if (h->step != STEP_IDLE) {
		if (!h->call)
			loop_timer_after(h->tick, 0);
		return;
	}
	output_drain(h);
	how = master_reap(h);
	log_warn("haproxy: %s; restarting it on '%s'", how, h->config_path);
	/* Supervision: no caller to tell; failures are logged by op_end. */
	h->done = on_restarted;
	h->userdata = h;
	spawn_and_wait(h);
}

static int op_begin(struct haproxy *h, const char *cfg, size_t len, haproxy_done_fn done,
		    void *userdata)
{
	if (h->step != STEP_IDLE)
		return -EBUSY;
	h->done = done;
	h->userdata = userdata;
	h->cfg = cfg ? xstrndup(cfg, len) : NULL;
	h->cfg_len = len;
	free(h->prev);
	h->prev = NULL;
	return 0;
}

int haproxy_start(struct haproxy *h, const char *cfg, size_t len, haproxy_done_fn done,
		  void *userdata)
{
	int r;

	if (h->master_pid > 0)
		return haproxy_apply(h, cfg, len, done, userdata);
	r = op_begin(h, cfg, len, done, userdata);
	if (r < 0)
		return r;
	h->step = STEP_ADOPT_PROBE;
	h->deadline = deadline_after_ms(h->timeout_ms);
	h->until = deadline_after_ms(HAPROXY_ADOPT_WAIT_MS);
	/* From the loop: the callback must never run inside this call. */
	loop_timer_after(h->tick, 0);
	return 0;
}

int haproxy_apply(struct haproxy *h, const char *cfg, size_t len, haproxy_done_fn done,
		  void *userdata)
{
	int r = op_begin(h, cfg, len, done, userdata);

	if (r < 0)
		return r;
	if (h->master_pid > 0 && master_exited(h)) {
		_cleanup_free_ char *how = master_reap(h);

		log_warn("haproxy: %s; starting it again on the new configuration", how);
	}
	if (h->master_pid == 0) {
		h->step = STEP_ADOPT_PROBE;
		h->deadline = deadline_after_ms(h->timeout_ms);
		h->until = deadline_after_ms(HAPROXY_ADOPT_WAIT_MS);
		loop_timer_after(h->tick, 0);
		return 0;
	}
	write_and_reload(h);
	return 0;
}

int haproxy_reload(struct haproxy *h, haproxy_done_fn done, void *userdata)
{
	int r;

	if (h->master_pid == 0)
		return -ESRCH;
	r = op_begin(h, NULL, 0, done, userdata);
	if (r < 0)
		return r;
	begin_reload(h);
	return 0;
}

bool haproxy_busy(const struct haproxy *h)
{
	return h->step != STEP_IDLE;
}

/* ---- haproxy -c ---------------------------------------------------------------------------- */

struct haproxy_check {
	struct loop *loop;
	haproxy_done_fn done;
	void *userdata;
	char *binary;
	char *tmp;
	pid_t pid;
	int rfd, pidfd;
	struct loop_io *out_io, *pid_io;
	struct loop_timer *timer;
	struct strbuf out;
	int timeout_ms;
	int result; /* set when known before the process runs */
	bool exited, eof, timed_out;
};

static void check_free(struct haproxy_check *c)
{
	loop_io_free(c->out_io);
	loop_io_free(c->pid_io);
	loop_timer_free(c->timer);
	if (c->rfd >= 0)
		close(c->rfd);
	if (c->pidfd >= 0)
		close(c->pidfd);
	if (c->pid > 0) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, NULL, 0);
	}
	if (c->tmp) {
		unlink(c->tmp);
		free(c->tmp);
	}
	free(c->binary);
	strbuf_done(&c->out);
	free(c);
}

static void check_finish(struct haproxy_check *c)
{
	_cleanup_(strbuf_done) struct strbuf alerts;
	int status = 0, r;

	strbuf_init(&alerts);
	if (c->pid > 0) {
		while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
			;
		c->pid = 0;
	}
	if (c->timed_out) {
		_cleanup_free_ char *m =
			xasprintf("'%s -c' took over %d ms", c->binary, c->timeout_ms);

		c->done(c->userdata, -ETIMEDOUT, m);
		check_free(c);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		c->done(c->userdata, 0, "");
		check_free(c);
		return;
	}
	/* Keep the ALERT lines (the reason), or everything if there are none. */
	for (const char *p = strbuf_str(&c->out); *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);

		if (memmem(p, l, "[ALERT]", 7)) {
			if (alerts.len)
				strbuf_putc(&alerts, '\n');
			strbuf_append(&alerts, p, l);
		}
		p += l + (nl ? 1 : 0);
	}
	r = -EINVAL;
	c->done(c->userdata, r, alerts.len ? strbuf_str(&alerts) : strbuf_str(&c->out));
	check_free(c);
}

static void check_maybe_done(struct haproxy_check *c)
{
	if (c->exited && c->eof)
		check_finish(c);
}

static void on_check_out(void *userdata, uint32_t events)
{
	struct haproxy_check *c = userdata;
	char buf[8192];

	for (;;) {
		ssize_t n = read(c->rfd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			loop_io_free(c->out_io);
			c->out_io = NULL;
			c->eof = true;
			check_maybe_done(c);
			return;
		}
		if (c->out.len + (size_t)n <= HAPROXY_OUTPUT_MAX)
			strbuf_append(&c->out, buf, (size_t)n);
	}
}

static void on_check_exit(void *userdata, uint32_t events)
{
	struct haproxy_check *c = userdata;

	loop_io_free(c->pid_io);
	c->pid_io = NULL;
	c->exited = true;
	check_maybe_done(c);
}

static void on_check_timer(void *userdata)
{
	struct haproxy_check *c = userdata;

	if (c->result < 0) {
		_cleanup_free_ char *m = strbuf_steal(&c->out);

		c->done(c->userdata, c->result, m);
		check_free(c);
		return;
	}
	c->timed_out = true;
	kill(c->pid, SIGKILL);
	check_finish(c);
}

/* A check that failed before the process ran reports from the loop, like the others. */
static struct haproxy_check *check_failed(struct haproxy_check *c, int r, const char *fmt, ...)
	PRINTF_LIKE(3, 4);
static struct haproxy_check *check_failed(struct haproxy_check *c, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	strbuf_reset(&c->out);
	strbuf_vprintf(&c->out, fmt, ap);
	va_end(ap);
	c->result = r;
	loop_timer_after(c->timer, 0);
	return c;
}

struct haproxy_check *haproxy_validate(struct haproxy *h, const char *cfg, size_t len,
				       haproxy_done_fn done, void *userdata)
{
	struct haproxy_check *c = xcalloc(1, sizeof(*c));
	_cleanup_free_ char *dir = xstrdup(h->config_path);
	char *slash = strrchr(dir, '/');
	posix_spawn_file_actions_t fa;
	int fds[2], r, fd;

	c->loop = h->loop;
	c->done = done;
	c->userdata = userdata;
	c->binary = xstrdup(h->binary);
	c->rfd = c->pidfd = -1;
	c->timeout_ms = h->timeout_ms;
	strbuf_init(&c->out);
	c->timer = loop_timer_new(h->loop, on_check_timer, c);
	/* Next to the real file, so that the check sees the same directory and file system. */
	if (slash)
		*slash = '\0';
	c->tmp = xasprintf("%s/.haproxy-check-XXXXXX", slash ? dir : ".");
	fd = mkostemp(c->tmp, O_CLOEXEC);
	if (fd < 0) {
		free(c->tmp);
		c->tmp = NULL;
		return check_failed(c, -errno, "mkostemp: %s", strerror(errno));
	}
	close(fd);
	r = write_file_atomic(c->tmp, cfg, len);
	if (r < 0)
		return check_failed(c, r, "cannot write '%s': %s", c->tmp, strerror(-r));
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return check_failed(c, -errno, "pipe2: %s", strerror(errno));
	c->rfd = fds[0];

	char *argv[] = {c->binary, "-c", "-f", c->tmp, NULL};

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
	r = posix_spawnp(&c->pid, c->binary, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (r != 0) {
		c->pid = 0;
		return check_failed(c, -r, "cannot run '%s': %s", c->binary, strerror(r));
	}
	c->pidfd = pidfd_open_(c->pid);
	c->out_io = loop_io_add(h->loop, c->rfd, EPOLLIN, on_check_out, c);
	c->pid_io =
		c->pidfd >= 0 ? loop_io_add(h->loop, c->pidfd, EPOLLIN, on_check_exit, c) : NULL;
	if (!c->out_io || !c->pid_io)
		return check_failed(c, -EIO, "cannot watch '%s -c'", c->binary);
	loop_timer_after(c->timer, c->timeout_ms);
	return c;
}

void haproxy_check_cancel(struct haproxy_check *c)
{
	if (c)
		check_free(c);
}

/* ---- API ---------------------------------------------------------------------------------- */

int haproxy_new(struct loop *loop, const struct haproxy_options *o, struct haproxy **ret,
		char **reterr)
{
	struct haproxy *h;
	int fds[2];

	if (!loop || !o || !str_set(o->config_path) || !str_set(o->run_dir))
		return errmsg_set(reterr, -EINVAL, "haproxy: config_path and run_dir are required");
	/* -S takes comma-separated bind options after the path. */
	if (strchr(o->run_dir, ','))
		return errmsg_set(reterr, -EINVAL, "haproxy: run_dir '%s' must not contain ','",
				  o->run_dir);

	h = xcalloc(1, sizeof(*h));
	h->loop = loop;
	h->binary = xstrdup(str_set(o->binary) ? o->binary : "haproxy");
	h->config_path = xstrdup(o->config_path);
	h->run_dir = xstrdup(o->run_dir);
	h->master_sock = xasprintf("%s/master.sock", o->run_dir);
	h->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
	h->stop_ms = o->stop_ms > 0 ? o->stop_ms : HAPROXY_STOP_GRACE_MS;
	h->terminate_on_reload = o->terminate_on_reload;
	h->pidfd = h->err_rfd = h->err_wfd = -1;
	strbuf_init(&h->line);
	strbuf_init(&h->alerts);
	h->tick = loop_timer_new(loop, on_tick, h);

	if (pipe2(fds, O_CLOEXEC) < 0) {
		int r = -errno;

		haproxy_free(h);
		return errmsg_set(reterr, r, "pipe2: %s", strerror(-r));
	}
	h->err_rfd = fds[0];
	h->err_wfd = fds[1];
	/*
	 * Both ends non-blocking: HAProxy must never block on a log line because flowproxy is slow
	 * to read (it would stop serving); a line lost when the pipe is full is the lesser harm.
	 */
	fcntl(h->err_rfd, F_SETFL, O_NONBLOCK);
	fcntl(h->err_wfd, F_SETFL, O_NONBLOCK);
	fcntl(h->err_rfd, F_SETPIPE_SZ, 256 * 1024);
	h->err_io = loop_io_add(loop, h->err_rfd, EPOLLIN, on_output, h);
	if (!h->err_io) {
		int r = -errno;

		haproxy_free(h);
		return errmsg_set(reterr, r, "epoll: %s", strerror(-r));
	}
	*ret = h;
	return 0;
}

void haproxy_free(struct haproxy *h)
{
	if (!h)
		return;
	cli_cancel(h->call);
	haproxy_check_cancel(h->explain);
	loop_timer_free(h->tick);
	if (h->master_pid > 0) {
		/*
		 * management.txt §4: SIGUSR1 is a soft stop: the workers finish their connections
		 * (hard-stop-after bounds that), then the master exits; SIGTERM after stop_ms, SIGKILL
		 * as the last resort. An adopted master is stopped too: a flowproxy that stops leaves
		 * no process behind. Only a crash leaves HAProxy serving, for the next one to adopt.
		 */
		const int sigs[] = {SIGUSR1, SIGTERM, SIGKILL};
		const int waits[] = {h->stop_ms, 1000, 1000};

		for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
			struct pollfd p = {.fd = h->pidfd, .events = POLLIN};

			kill(h->master_pid, sigs[i]);
			if (h->pidfd < 0 || poll(&p, 1, waits[i]) > 0)
				break;
			log_warn("haproxy: master %d still running after %d ms, sending signal %d",
				 (int)h->master_pid, waits[i],
				 sigs[i + 1 < ARRAY_SIZE(sigs) ? i + 1 : i]);
		}
		if (h->own)
			waitpid(h->master_pid, NULL, 0);
		output_drain(h);
	}
	master_forget(h);
	loop_io_free(h->err_io);
	if (h->err_rfd >= 0)
		close(h->err_rfd);
	if (h->err_wfd >= 0)
		close(h->err_wfd);
	strbuf_done(&h->line);
	strbuf_done(&h->alerts);
	free(h->cfg);
	free(h->prev);
	free(h->binary);
	free(h->config_path);
	free(h->run_dir);
	free(h->master_sock);
	free(h);
}

pid_t haproxy_master_pid(const struct haproxy *h)
{
	return h->master_pid;
}

pid_t haproxy_worker_pid(const struct haproxy *h)
{
	return h->worker_pid;
}

unsigned haproxy_reload_count(const struct haproxy *h)
{
	return h->reloads;
}

unsigned haproxy_reload_failures(const struct haproxy *h)
{
	return h->failures;
}

const char *haproxy_master_socket(const struct haproxy *h)
{
	return h->master_sock;
}
