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
#include "flowproxy/log.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

#define HAPROXY_CLI_MAX	      (64u << 20) /* any CLI reply */
#define HAPROXY_CFG_MAX	      (64u << 20) /* a configuration file we read back */
#define HAPROXY_OUTPUT_MAX    (1u << 20)  /* `haproxy -c` output we keep */
#define HAPROXY_ALERTS_MAX    (64u << 10) /* [ALERT] lines collected during a start or reload */
#define HAPROXY_LINE_MAX      4096	  /* one stderr line; longer ones are cut */
#define HAPROXY_WORKERS_MAX   64
#define HAPROXY_POLL_MS	      2
#define HAPROXY_STOP_GRACE_MS 2000
#define HAPROXY_ADOPT_WAIT_MS 500

struct haproxy {
	char *binary;
	char *config_path;
	char *run_dir;
	char *master_sock;
	int timeout_ms;

	pid_t master_pid; /* 0 when no master is known */
	bool own;	  /* we spawned master_pid: we reap it and stop it */
	int pidfd;	  /* master's pidfd, -1 when none */
	int err_rfd;	  /* read end of HAProxy's stdout/stderr pipe (non-blocking) */
	int err_wfd;	  /* write end, kept open so the pipe survives restarts and never HUPs */
	int epfd;	  /* wraps pidfd and err_rfd for the caller's loop */

	pid_t worker_pid;
	unsigned reloads;
	unsigned failures;

	struct strbuf line;   /* a partial stderr line */
	struct strbuf alerts; /* [ALERT] lines, while collecting */
	bool collecting;
	bool saw_loading_end; /* "Loading success." or "Loading failure!" seen while collecting */
};

struct proc_state {
	pid_t master;
	unsigned reloads;
	unsigned failed;
	pid_t workers[HAPROXY_WORKERS_MAX];
	size_t n_workers;
};

static void strbuf_donep(struct strbuf *b)
{
	strbuf_done(b);
}

static long long deadline_after_ms(int ms)
{
	return now_usec() + (long long)ms * 1000;
}

/* Milliseconds left until deadline, rounded up, at least 0. */
static int ms_left(long long deadline)
{
	long long d = deadline - now_usec();

	if (d <= 0)
		return 0;
	return (int)((d + 999) / 1000);
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* ---- CLI ---------------------------------------------------------------------------------- */

/*
 * One non-interactive command (management.txt §9.3: one command per connection, ending with
 * "\n"). The write side is always shut down after the command: the master CLI waits for more
 * input otherwise (and the worker CLI does not mind). Errors from connect() are returned as they
 * are (-ECONNREFUSED, -ENOENT, -EAGAIN...) so that callers can tell a re-exec from a failure.
 */
static int cli_query_sent(const char *path, const char *cmd, long long deadline, char **ret,
			  bool *ret_sent, char **reterr)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t plen = strlen(path);
	_cleanup_free_ char *msg = NULL;
	_cleanup_(strbuf_donep) struct strbuf out;
	_cleanup_close_ int fd = -1;
	size_t off = 0, mlen;
	char tmp[65536];

	strbuf_init(&out);
	if (plen >= sizeof(sa.sun_path))
		return errmsg_set(reterr, -ENAMETOOLONG, "socket path '%s' is too long", path);
	memcpy(sa.sun_path, path, plen + 1);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return errmsg_set(reterr, -errno, "socket: %s", strerror(errno));
	/* A unix stream connect completes at once or fails (-EAGAIN when the backlog is full). */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return errmsg_set(reterr, -errno, "connect to '%s': %s", path, strerror(errno));

	msg = xasprintf("%s\n", cmd);
	mlen = strlen(msg);
	while (off < mlen) {
		ssize_t n = send(fd, msg + off, mlen - off, MSG_NOSIGNAL);

		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return errmsg_set(reterr, -errno, "send to '%s': %s", path,
					  strerror(errno));
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int left = ms_left(deadline);

		if (left == 0 || poll(&p, 1, left) == 0)
			return errmsg_set(reterr, -ETIMEDOUT, "'%s': timeout sending '%s'", path,
					  cmd);
	}
	shutdown(fd, SHUT_WR);
	if (ret_sent)
		*ret_sent = true;

	for (;;) {
		ssize_t n = read(fd, tmp, sizeof(tmp));

		if (n > 0) {
			if (out.len + (size_t)n > HAPROXY_CLI_MAX)
				return errmsg_set(reterr, -EMSGSIZE,
						  "'%s': reply to '%s' over %u bytes", path, cmd,
						  HAPROXY_CLI_MAX);
			strbuf_append(&out, tmp, (size_t)n);
			continue;
		}
		if (n == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return errmsg_set(reterr, -errno, "read from '%s': %s", path,
					  strerror(errno));
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int left = ms_left(deadline);

		if (left == 0 || poll(&p, 1, left) == 0)
			return errmsg_set(reterr, -ETIMEDOUT,
					  "'%s': timeout waiting for the reply to '%s'", path, cmd);
	}
	*ret = strbuf_steal(&out);
	return 0;
}

static int cli_query(const char *path, const char *cmd, long long deadline, char **ret,
		     char **reterr)
{
	return cli_query_sent(path, cmd, deadline, ret, NULL, reterr);
}

int haproxy_cli(const char *socket_path, const char *cmd, int timeout_ms, char **ret, char **reterr)
{
	if (!str_set(socket_path) || !cmd || strchr(cmd, '\n'))
		return errmsg_set(reterr, -EINVAL, "haproxy_cli: bad socket path or command");
	return cli_query(socket_path, cmd, deadline_after_ms(timeout_ms > 0 ? timeout_ms : 10000),
			 ret, reterr);
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

static int show_proc(struct haproxy *h, long long deadline, struct proc_state *st, char **reterr)
{
	_cleanup_free_ char *reply = NULL;
	int r = cli_query(h->master_sock, "show proc", deadline, &reply, reterr);

	if (r < 0)
		return r;
	if (proc_parse(reply, st) < 0)
		return errmsg_set(reterr, -EBADMSG, "unexpected 'show proc' reply from '%s'",
				  h->master_sock);
	return 0;
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

static void master_forget(struct haproxy *h)
{
	if (h->pidfd >= 0) {
		epoll_ctl(h->epfd, EPOLL_CTL_DEL, h->pidfd, NULL);
		close(h->pidfd);
	}
	h->pidfd = -1;
	h->master_pid = 0;
	h->worker_pid = 0;
	h->own = false;
}

static int master_track(struct haproxy *h, pid_t pid, bool own, char **reterr)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int fd = pidfd_open_(pid);

	if (fd < 0)
		return errmsg_set(reterr, -errno, "pidfd_open(%d): %s", (int)pid, strerror(errno));
	ev.data.fd = fd;
	if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int r = -errno;

		close(fd);
		return errmsg_set(reterr, r, "epoll_ctl: %s", strerror(-r));
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

/* Reaps an exited master (ours) and describes how it ended; caller frees. */
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

/*
 * Waits up to HAPROXY_POLL_MS for HAProxy output (drained and logged) or the master's exit.
 * Waiting on the pipe rather than sleeping wakes us as soon as "Loading success." is written.
 */
static void wait_tick(struct haproxy *h)
{
	struct pollfd p[2] = {{.fd = h->err_rfd, .events = POLLIN},
			      {.fd = h->pidfd, .events = POLLIN}};

	if (poll(p, h->pidfd >= 0 ? 2 : 1, HAPROXY_POLL_MS) > 0 && (p[0].revents & POLLIN))
		output_drain(h);
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

/* True when `@!<pid> show version` is answered by that worker (management.txt §9.4.1). */
static bool worker_answers(struct haproxy *h, pid_t pid, long long deadline)
{
	_cleanup_free_ char *reply = NULL;
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "@!%d show version", (int)pid);
	if (cli_query(h->master_sock, cmd, deadline, &reply, NULL) < 0)
		return false;
	return reply[0] >= '0' && reply[0] <= '9';
}

/*
 * Waits for the master we just spawned to list a worker that answers. A master that exits
 * meanwhile rejected the configuration (or could not bind): -EINVAL with its ALERT lines.
 */
static int wait_started(struct haproxy *h, long long deadline, char **reterr)
{
	for (;;) {
		struct proc_state st;

		wait_tick(h);
		if (master_exited(h)) {
			_cleanup_free_ char *how = master_reap(h);
			_cleanup_free_ char *alerts = collect_end(h);

			return errmsg_set(reterr, -EINVAL, "HAProxy did not start (%s)%s%s", how,
					  *alerts ? ":\n" : "", alerts);
		}
		if (show_proc(h, deadline, &st, NULL) == 0 && st.n_workers > 0 &&
		    worker_answers(h, st.workers[0], deadline)) {
			_cleanup_free_ char *alerts = collect_end(h);

			h->worker_pid = st.workers[0];
			return 0;
		}
		if (ms_left(deadline) == 0) {
			_cleanup_free_ char *alerts = collect_end(h);

			return errmsg_set(
				reterr, -ETIMEDOUT,
				"HAProxy master %d started but no worker answered within %d ms",
				(int)h->master_pid, h->timeout_ms);
		}
	}
}

static int start_process(struct haproxy *h, char **reterr)
{
	struct stat stt;
	int r;

	/* A socket file nobody answers on was left by a dead master; HAProxy binds a new one. */
	if (lstat(h->master_sock, &stt) == 0 && S_ISSOCK(stt.st_mode))
		unlink(h->master_sock);
	collect_begin(h);
	r = spawn_master(h, reterr);
	if (r < 0) {
		free(collect_end(h));
		return r;
	}
	return wait_started(h, deadline_after_ms(h->timeout_ms), reterr);
}

/* ---- reload ------------------------------------------------------------------------------- */

/*
 * Sends `reload` (management.txt §9.4.1) and reads `show proc` until the master's reload counter
 * moved. Returns 0 with the new worker in h->worker_pid, 1 when HAProxy rejected the file, -ESRCH
 * if the master died, -ETIMEDOUT, or another CLI error.
 */
static int reload_run(struct haproxy *h, long long deadline, char **reterr)
{
	struct proc_state before, st;
	bool sent = false;
	int r;

	for (;;) {
		if (master_exited(h))
			return errmsg_set(reterr, -ESRCH,
					  "HAProxy master %d exited during the reload",
					  (int)h->master_pid);
		if (ms_left(deadline) == 0)
			return errmsg_set(reterr, -ETIMEDOUT,
					  "HAProxy reload not confirmed within %d ms",
					  h->timeout_ms);
		if (!sent) {
			_cleanup_free_ char *reply = NULL;

			r = show_proc(h, deadline, &before, reterr);
			/*
			 * Once the command is out, a reset while reading the (empty) reply still
			 * means the master got it: never send a second reload.
			 */
			if (r == 0)
				r = cli_query_sent(h->master_sock, "reload", deadline, &reply,
						   &sent, reterr);
			if (r == 0 || sent) {
				sent = true;
				sent = true;
				continue;
			}
			/* ECONNREFUSED: the master is still re-executing from an earlier reload. */
			if (!cli_transient(r))
				return r;
			wait_tick(h);
			continue;
		}
		wait_tick(h);
		r = show_proc(h, deadline, &st, reterr);
		if (r < 0) {
			if (cli_transient(r))
				continue;
			return r;
		}
		if (st.reloads == before.reloads)
			continue;
		if (st.failed > 0) {
			if (st.n_workers)
				h->worker_pid = st.workers[0];
			return 1;
		}
		for (size_t i = 0; i < st.n_workers; i++) {
			if (proc_has_worker(&before, st.workers[i]) ||
			    !worker_answers(h, st.workers[i], deadline))
				continue;
			h->worker_pid = st.workers[i];
			return 0;
		}
	}
}

/*
 * reload_run with HAProxy's output collected: -EINVAL and the ALERT lines in *reterr (empty for
 * an adopted master, whose stderr is not ours) when HAProxy rejected the file.
 */
static int reload_confirm(struct haproxy *h, char **reterr)
{
	_cleanup_free_ char *alerts = NULL;
	int r;

	collect_begin(h);
	r = reload_run(h, deadline_after_ms(h->timeout_ms), reterr);
	if (r == 1) {
		/* The ALERT lines precede "Loading failure!"; they are normally there already. */
		long long d = deadline_after_ms(100);

		while (h->own && !h->saw_loading_end && ms_left(d) > 0)
			wait_tick(h);
	}
	alerts = collect_end(h);
	if (r == 1)
		return errmsg_set(reterr, -EINVAL, "%s", alerts);
	return r;
}

/*
 * Reloads and, when HAProxy rejects the file or dies meanwhile, puts prev back (NULL: nothing
 * to put back). cfg is the content being applied, used to explain a rejection when HAProxy's
 * own lines are not ours to read (adopted master).
 */
static int reload_or_restore(struct haproxy *h, const char *prev, size_t prev_len, const char *cfg,
			     size_t len, char **reterr)
{
	_cleanup_free_ char *err = NULL;
	int r = reload_confirm(h, &err);

	if (r >= 0) {
		h->reloads++;
		return 0;
	}
	if (r == -EINVAL) {
		h->failures++;
		if (!*err && cfg) {
			/* Adopted master: its stderr went to the flowproxy that started it. */
			free(err);
			err = NULL;
			haproxy_validate(h, cfg, len, &err);
			if (!err)
				err = xstrdup("HAProxy rejected the configuration (no message)");
		}
	}
	if ((r == -EINVAL || r == -ESRCH) && prev) {
		int w = write_file_atomic(h->config_path, prev, prev_len);

		if (w < 0)
			log_error("haproxy: cannot restore '%s' after a failed reload: %s",
				  h->config_path, strerror(-w));
	}
	if (r == -EINVAL)
		return errmsg_set(reterr, r, "HAProxy rejected the configuration:\n%s", err);
	return errmsg_set(reterr, r, "%s", err ? err : strerror(-r));
}

/* Adopts the master answering on master.sock, if any. Returns 1 adopted, 0 none, < 0 error. */
static int try_adopt(struct haproxy *h, char **reterr)
{
	/*
	 * A socket file that refuses connections is a dead master's, or a live one re-executing
	 * for a reload (see the top of the file): give the latter time to answer rather than start
	 * a second HAProxy beside it.
	 */
	long long refused_until = deadline_after_ms(HAPROXY_ADOPT_WAIT_MS);
	struct proc_state st;
	int r;

	for (;;) {
		r = show_proc(h, deadline_after_ms(h->timeout_ms), &st, NULL);
		if (r == 0)
			break;
		if (r != -ECONNREFUSED || ms_left(refused_until) == 0)
			return 0;
		poll(NULL, 0, HAPROXY_POLL_MS);
	}
	r = master_track(h, st.master, false, reterr);
	if (r < 0)
		return r;
	h->worker_pid = st.n_workers ? st.workers[0] : 0;
	log_info("haproxy: adopted master %d already running on '%s'", (int)st.master,
		 h->master_sock);
	return 1;
}

/* ---- API ---------------------------------------------------------------------------------- */

int haproxy_new(const struct haproxy_options *o, struct haproxy **ret, char **reterr)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct haproxy *h;
	int fds[2];

	if (!o || !str_set(o->config_path) || !str_set(o->run_dir))
		return errmsg_set(reterr, -EINVAL, "haproxy: config_path and run_dir are required");
	/* -S takes comma-separated bind options after the path. */
	if (strchr(o->run_dir, ','))
		return errmsg_set(reterr, -EINVAL, "haproxy: run_dir '%s' must not contain ','",
				  o->run_dir);

	h = xcalloc(1, sizeof(*h));
	h->binary = xstrdup(str_set(o->binary) ? o->binary : "haproxy");
	h->config_path = xstrdup(o->config_path);
	h->run_dir = xstrdup(o->run_dir);
	h->master_sock = xasprintf("%s/master.sock", o->run_dir);
	h->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
	h->pidfd = h->err_rfd = h->err_wfd = h->epfd = -1;
	strbuf_init(&h->line);
	strbuf_init(&h->alerts);

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

	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = h->err_rfd;
	if (h->epfd < 0 || epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->err_rfd, &ev) < 0) {
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
	if (h->own && h->master_pid > 0) {
		/*
		 * management.txt §4: SIGUSR1 is a soft stop (workers finish their connections, then
		 * the master exits); SIGTERM after the grace, SIGKILL as the last resort.
		 */
		static const int sigs[] = {SIGUSR1, SIGTERM, SIGKILL};
		static const int waits[] = {HAPROXY_STOP_GRACE_MS, 1000, 1000};

		for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
			struct pollfd p = {.fd = h->pidfd, .events = POLLIN};

			kill(h->master_pid, sigs[i]);
			if (h->pidfd < 0 || poll(&p, 1, waits[i]) > 0)
				break;
		}
		waitpid(h->master_pid, NULL, 0);
		output_drain(h);
	}
	master_forget(h);
	if (h->epfd >= 0)
		close(h->epfd);
	if (h->err_rfd >= 0)
		close(h->err_rfd);
	if (h->err_wfd >= 0)
		close(h->err_wfd);
	strbuf_done(&h->line);
	strbuf_done(&h->alerts);
	free(h->binary);
	free(h->config_path);
	free(h->run_dir);
	free(h->master_sock);
	free(h);
}

int haproxy_start(struct haproxy *h, const char *cfg, size_t len, char **reterr)
{
	_cleanup_free_ char *prev = NULL;
	size_t prev_len = 0;
	int r;

	if (h->master_pid > 0)
		return haproxy_apply(h, cfg, len, reterr);
	r = try_adopt(h, reterr);
	if (r < 0)
		return r;
	if (r > 0)
		return haproxy_apply(h, cfg, len, reterr);

	r = read_file(h->config_path, HAPROXY_CFG_MAX, &prev, &prev_len);
	if (r < 0 && r != -ENOENT)
		return errmsg_set(reterr, r, "cannot read '%s': %s", h->config_path, strerror(-r));
	r = write_file_atomic(h->config_path, cfg, len);
	if (r < 0)
		return errmsg_set(reterr, r, "cannot write '%s': %s", h->config_path, strerror(-r));
	r = start_process(h, reterr);
	if (r == -EINVAL && prev) {
		int w = write_file_atomic(h->config_path, prev, prev_len);

		if (w < 0)
			log_error("haproxy: cannot restore '%s' after a failed start: %s",
				  h->config_path, strerror(-w));
	}
	return r;
}

int haproxy_apply(struct haproxy *h, const char *cfg, size_t len, char **reterr)
{
	_cleanup_free_ char *prev = NULL;
	size_t prev_len = 0;
	int r;

	if (h->master_pid > 0 && master_exited(h)) {
		_cleanup_free_ char *how = master_reap(h);

		log_warn("haproxy: %s; starting it again on the new configuration", how);
	}
	if (h->master_pid == 0)
		return haproxy_start(h, cfg, len, reterr);

	r = read_file(h->config_path, HAPROXY_CFG_MAX, &prev, &prev_len);
	if (r < 0 && r != -ENOENT)
		return errmsg_set(reterr, r, "cannot read '%s': %s", h->config_path, strerror(-r));
	r = write_file_atomic(h->config_path, cfg, len);
	if (r < 0)
		return errmsg_set(reterr, r, "cannot write '%s': %s", h->config_path, strerror(-r));
	return reload_or_restore(h, prev, prev_len, cfg, len, reterr);
}

int haproxy_reload(struct haproxy *h, char **reterr)
{
	if (h->master_pid == 0)
		return errmsg_set(reterr, -ESRCH, "HAProxy is not running");
	return reload_or_restore(h, NULL, 0, NULL, 0, reterr);
}

int haproxy_validate(struct haproxy *h, const char *cfg, size_t len, char **reterr)
{
	_cleanup_free_ char *dir = xstrdup(h->config_path);
	_cleanup_free_ char *tmp = NULL;
	_cleanup_(strbuf_donep) struct strbuf out;
	_cleanup_(strbuf_donep) struct strbuf alerts;
	_cleanup_close_ int rfd = -1;
	long long deadline = deadline_after_ms(h->timeout_ms);
	char *slash = strrchr(dir, '/');
	posix_spawn_file_actions_t fa;
	int fds[2], status = 0, r, fd;
	pid_t pid;

	strbuf_init(&out);
	strbuf_init(&alerts);
	/* Next to the real file, so that the check sees the same directory and file system. */
	if (slash)
		*slash = '\0';
	tmp = xasprintf("%s/.haproxy-check-XXXXXX", slash ? dir : ".");
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return errmsg_set(reterr, -errno, "mkostemp: %s", strerror(errno));
	close(fd);
	r = write_file_atomic(tmp, cfg, len);
	if (r < 0) {
		unlink(tmp);
		return errmsg_set(reterr, r, "cannot write '%s': %s", tmp, strerror(-r));
	}
	if (pipe2(fds, O_CLOEXEC) < 0) {
		r = -errno;
		unlink(tmp);
		return errmsg_set(reterr, r, "pipe2: %s", strerror(-r));
	}
	rfd = fds[0];

	char *argv[] = {h->binary, "-c", "-f", tmp, NULL};

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
	r = posix_spawnp(&pid, h->binary, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (r != 0) {
		unlink(tmp);
		return errmsg_set(reterr, -r, "cannot run '%s': %s", h->binary, strerror(r));
	}

	for (;;) {
		struct pollfd p = {.fd = rfd, .events = POLLIN};
		char buf[8192];
		ssize_t n;
		int left = ms_left(deadline);

		if (left == 0 || poll(&p, 1, left) == 0) {
			kill(pid, SIGKILL);
			break;
		}
		n = read(rfd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out.len + (size_t)n <= HAPROXY_OUTPUT_MAX)
			strbuf_append(&out, buf, (size_t)n);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	unlink(tmp);
	if (ms_left(deadline) == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		return errmsg_set(reterr, -ETIMEDOUT, "'%s -c' took over %d ms", h->binary,
				  h->timeout_ms);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;

	/* Keep the ALERT lines (the reason), or everything if there are none. */
	for (const char *p = strbuf_str(&out); *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);

		if (memmem(p, l, "[ALERT]", 7)) {
			if (alerts.len)
				strbuf_putc(&alerts, '\n');
			strbuf_append(&alerts, p, l);
		}
		p += l + (nl ? 1 : 0);
	}
	return errmsg_set(reterr, -EINVAL, "%s",
			  alerts.len ? strbuf_str(&alerts) : strbuf_str(&out));
}

int haproxy_event_fd(struct haproxy *h)
{
	return h ? h->epfd : -1;
}

int haproxy_process_events(struct haproxy *h)
{
	_cleanup_free_ char *how = NULL;
	_cleanup_free_ char *err = NULL;
	struct epoll_event evs[4];
	int r;

	/* Level-triggered: emptying the pipe and reaping the master is what clears the fd. */
	while (epoll_wait(h->epfd, evs, ARRAY_SIZE(evs), 0) < 0 && errno == EINTR)
		;
	output_drain(h);
	if (h->master_pid == 0 || !master_exited(h))
		return 0;

	how = master_reap(h);
	log_warn("haproxy: %s; restarting it on '%s'", how, h->config_path);
	r = start_process(h, &err);
	if (r < 0) {
		log_error("haproxy: restart failed: %s", err ? err : strerror(-r));
		return r;
	}
	log_info("haproxy: restarted, master %d, worker %d", (int)h->master_pid,
		 (int)h->worker_pid);
	return 0;
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
