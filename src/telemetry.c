// SPDX-License-Identifier: MIT
/*
 * telemetry: follows HAProxy's per-request lines through the worker stats socket.
 *
 * The base template sends one raw line per request (TELEMETRY_LOG_FORMAT) to the ring
 * TELEMETRY_RING; this module subscribes with `show events <ring> -w [-n]`, splits the stream
 * into lines, parses them (telemetry_parse_line, telemetry_parse.c) and hands each
 * request line and each "N events dropped" marker to a callback. Reference
 * haproxy-runtime-autoscaling.md §1.5 and docs/telemetry.md "The request stream":
 *
 *   - a `-w` stream is pinned to the worker it connected to and keeps that worker alive, so
 *     after a reload the follower opens a stream to the new worker and closes the old one after
 *     a grace period (telemetry_on_reload, or by itself on seeing "Proxy x stopped" lines);
 *   - every connection first asks `show info` for the worker's pid, so that a stream that ended
 *     (HAProxy 2.6's `stats timeout` closes waiting streams; a master restart changes the
 *     worker) is resumed the way that loses the fewest lines: a different worker is read from
 *     the start of its ring (it only holds lines never seen), the same worker with `-n` (its
 *     ring holds lines already counted: replaying them would count them twice);
 *   - the writer never blocks: when a reader lags, HAProxy drops new events and later writes
 *     "N events dropped" in-band, which is counted.
 *
 * The stream sockets are watched by the daemon's loop, and one loop timer serves reconnects,
 * grace periods and batched reads. Edge module: it logs where it handles an error, once per
 * failure streak.
 */
#include "flowproxy/telemetry.h"
#include "flowproxy/cli.h"
#include "flowproxy/log.h"
#include "flowproxy/loop.h"
#include "flowproxy/util.h"

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#define TELEMETRY_LINE_MAX	 4096  /* longer lines are counted bad and skipped */
#define TELEMETRY_BUF_SIZE	 65536 /* per stream: one read, plus a partial line */
#define TELEMETRY_STREAMS_MAX	 8     /* current + previous workers' streams */
#define TELEMETRY_BACKOFF_MIN_MS 50
#define TELEMETRY_BACKOFF_MAX_MS 2000
#define TELEMETRY_AUTO_GRACE_MS	 10000	   /* reloads noticed from "Proxy x stopped" lines */
#define TELEMETRY_HEALTHY_USEC	 1000000LL /* a stream that lived this long may be retried at once */
#define TELEMETRY_READS_MAX	 16	   /* reads per stream per telemetry_process_events */
#define TELEMETRY_RING_NAME_MAX	 64
/*
 * An old worker's stream is closed as soon as that worker carries no proxied connection any
 * more (`CurrConns: 0` in its `show info`, asked through the master CLI at once after the
 * reload, then every PROBE_MS), after DRAIN_MS more of reading: the log line of a request is in
 * the ring before its connection is released, and the worker answers `show info` from the same
 * event loop that sends us the ring. Our own stream is a CLI session, which CurrConns does not
 * count but which keeps the worker alive: closing it lets the worker exit. Every old worker
 * costs memory (a new worker touches several MB as it starts), so through a burst of reloads
 * they must go within milliseconds, not linger behind our streams.
 */
#define TELEMETRY_PROBE_MS	   20
#define TELEMETRY_DRAIN_MS	   10
#define TELEMETRY_PROBE_TIMEOUT_MS 1000
#define TELEMETRY_AVOID_RETRY_MS   5
#define TELEMETRY_AVOID_TRIES	   200
/*
 * HAProxy writes each event to the CLI as it comes, so reading on readiness would wake us once
 * per request. A stream that delivered data is instead read again after this pause, by the
 * timer: at most 1000/TELEMETRY_BATCH_MS wake-ups a second under load (the kernel buffer and
 * HAProxy's ring hold the lines meanwhile), and an idle stream goes back to readiness.
 */
#define TELEMETRY_BATCH_MS 10

/* "Proxy <name> stopped (cumulated conns: ...)": the worker is soft-stopping (a reload). */
static bool is_soft_stop(const char *line, size_t len)
{
	static const char stopped[] = " stopped (";
	const char *sp;

	if (len < 6 || memcmp(line, "Proxy ", 6) != 0)
		return false;
	sp = memchr(line + 6, ' ', len - 6);
	return sp && (size_t)(line + len - sp) >= sizeof(stopped) - 1 &&
	       memcmp(sp, stopped, sizeof(stopped) - 1) == 0;
}

/* ---- follower ----------------------------------------------------------------------------- */

enum stream_phase {
	STREAM_FREE = 0,
	STREAM_INFO,   /* `show info` sent, waiting for "Pid: " */
	STREAM_EVENTS, /* `show events <ring> -w` sent, lines flowing */
};

struct stream {
	enum stream_phase phase;
	int fd;
	struct loop_io *io;
	struct telemetry *t;
	int slot;
	uint32_t gen;	     /* bumped when the slot is reused */
	bool old;	     /* a previous worker's stream, closed at close_at */
	bool auto_grace;     /* old because of "Proxy x stopped" lines, not telemetry_on_reload */
	bool skipping;	     /* discarding the rest of an over-long line */
	bool stop_seen;	     /* soft-stop lines already acted on */
	pid_t pid;	     /* the worker, from `show info` */
	long long opened_at; /* usec */
	long long close_at;  /* usec, old streams */
	uint64_t good_lines;
	char first_bad[96]; /* first unparsable line, for the log when the stream fails */
	char *buf;	    /* TELEMETRY_BUF_SIZE bytes, owned */
	size_t len;
	bool paused;		/* EPOLLIN off, read by the timer at resume_at */
	long long resume_at;	/* usec */
	struct cli_call *probe; /* old streams: `@!<pid> show info` in flight */
	long long probe_at;	/* usec: the next probe */
	bool draining;		/* the worker has no connection left: closing at close_at */
};

struct telemetry {
	char *socket_path;
	char *master_socket; /* NULL: old streams close after their grace only */
	char *ring;
	telemetry_line_fn cb;
	void *userdata;
	struct loop *loop;
	struct loop_timer *timer;
	struct stream streams[TELEMETRY_STREAMS_MAX];
	int cur;     /* the stream being opened or followed, -1 none */
	pid_t avoid; /* a worker known to be old: an attempt that reaches it tries again */
	unsigned avoid_tries;
	int demoted; /* on a reload: the stream that was current, -1 none */
	int feeding; /* the stream whose lines are being handed out, -1 none */
	uint32_t demoted_gen;
	bool started;		/* telemetry_connect was called */
	pid_t pid;		/* worker of the last events stream, 0 before the first */
	long long reconnect_at; /* usec, 0 none */
	uint32_t backoff_ms;
	bool failing; /* a failure was logged; the next success logs the recovery */
	unsigned failures;
	struct telemetry_stats stats;
};

static void start_attempt(struct telemetry *t);
static void on_stream(void *userdata, uint32_t events);
static void arm_timer(struct telemetry *t);

static void stream_close(struct telemetry *t, int i)
{
	struct stream *s = &t->streams[i];

	cli_cancel(s->probe);
	loop_io_free(s->io);
	if (s->fd >= 0)
		close(s->fd);
	free(s->buf);
	*s = (struct stream){.fd = -1, .gen = s->gen + 1, .t = t, .slot = i};
	if (t->cur == i)
		t->cur = -1;
	if (t->demoted == i)
		t->demoted = -1;
}

/* A free slot; if none, the oldest previous-worker stream is closed early to make room. */
static int stream_alloc(struct telemetry *t)
{
	int victim = -1;

	for (int i = 0; i < TELEMETRY_STREAMS_MAX; i++) {
		if (t->streams[i].phase == STREAM_FREE)
			return i;
		if (t->streams[i].old && i != t->feeding &&
		    (victim < 0 || t->streams[i].close_at < t->streams[victim].close_at))
			victim = i;
	}
	if (victim < 0)
		return -1;
	log_warn("telemetry: too many old workers' streams, closing one early");
	stream_close(t, victim);
	return victim;
}

/* Connects slot i's new socket to the stats socket and sends cmd. Returns 0 or -errno. */
static int stream_open(struct telemetry *t, int i, const char *cmd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stream *s = &t->streams[i];
	size_t clen = strlen(cmd);
	ssize_t n;

	memcpy(sa.sun_path, t->socket_path, strlen(t->socket_path) + 1);
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -errno;
	/* A unix stream connect completes at once or fails (-EAGAIN: backlog full). */
	if (connect(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	/*
	 * One short command on a fresh socket fits its buffer. No shutdown(SHUT_WR) afterwards:
	 * any input, a half-close included, ends a `-w` stream (management.txt, show events).
	 */
	n = send(s->fd, cmd, clen, MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	if ((size_t)n != clen)
		return -EAGAIN;
	s->io = loop_io_add(t->loop, s->fd, EPOLLIN, on_stream, s);
	if (!s->io)
		return -errno;
	s->opened_at = now_usec();
	s->len = 0;
	return 0;
}

static void schedule_reconnect(struct telemetry *t, uint32_t delay_ms)
{
	t->reconnect_at = now_usec() + (long long)delay_ms * 1000;
}

static void backoff_next(struct telemetry *t)
{
	schedule_reconnect(t, t->backoff_ms);
	t->backoff_ms = t->backoff_ms * 2 > TELEMETRY_BACKOFF_MAX_MS ? TELEMETRY_BACKOFF_MAX_MS
								     : t->backoff_ms * 2;
}

/* The attempt in slot cur failed: log the first failure of a streak, retry after the backoff. */
static void attempt_failed(struct telemetry *t, const char *what, const char *why)
{
	if (t->cur >= 0)
		stream_close(t, t->cur);
	if (!t->failing)
		log_warn("telemetry: %s on '%s' failed: %s; retrying", what, t->socket_path, why);
	t->failing = true;
	t->failures++;
	t->stats.connected = false;
	backoff_next(t);
}

/* Opens a new connection that asks the worker's pid first. */
static void start_attempt(struct telemetry *t)
{
	int i, r;

	t->reconnect_at = 0;
	if (t->cur >= 0)
		stream_close(t, t->cur);
	i = stream_alloc(t);
	if (i < 0) {
		attempt_failed(t, "connect", "no stream slot");
		return;
	}
	t->cur = i;
	t->streams[i].phase = STREAM_INFO;
	t->streams[i].buf = xmalloc(TELEMETRY_BUF_SIZE);
	r = stream_open(t, i, "show info\n");
	if (r < 0)
		attempt_failed(t, "connect", strerror(-r));
}

/* The pid of the worker answering `show info` is known: open (or keep) the events stream. */
static void info_done(struct telemetry *t, pid_t pid)
{
	int i = t->cur, r;
	struct stream *s = &t->streams[i];
	bool from_start;
	char cmd[TELEMETRY_RING_NAME_MAX + 32];

	loop_io_free(s->io);
	s->io = NULL;
	close(s->fd);
	s->fd = -1;

	/*
	 * Just after a reload the old worker may still accept on the stats socket for a moment
	 * (its listeners close when the master's soft-stop signal reaches it): an attempt that
	 * reached it tries again shortly, up to TELEMETRY_AVOID_TRIES times.
	 */
	if (t->avoid && pid == t->avoid && t->avoid_tries++ < TELEMETRY_AVOID_TRIES) {
		stream_close(t, i);
		schedule_reconnect(t, TELEMETRY_AVOID_RETRY_MS);
		return;
	}
	t->avoid = 0;
	t->demoted = -1;

	/*
	 * First stream: skip history (header contract). A different worker than the last stream
	 * (reload, restart): its ring holds only lines we never saw, read it from the start. The
	 * same worker (its stream was closed under us, e.g. by `stats timeout`): -n, because a
	 * replay would count up to a whole ring twice while -n loses only what was written between
	 * the end of the old stream and now (trap 1 closes streams that were idle anyway).
	 */
	from_start = t->pid != 0 && pid != t->pid;
	snprintf(cmd, sizeof(cmd), "show events %s -w%s\n", t->ring, from_start ? "" : " -n");
	s->phase = STREAM_EVENTS;
	s->pid = pid;
	s->len = 0;
	r = stream_open(t, i, cmd);
	if (r < 0) {
		attempt_failed(t, "connect", strerror(-r));
		return;
	}
	if (t->pid != 0 && pid != t->pid)
		t->stats.reloads++;
	t->pid = pid;
	t->stats.connects++;
	t->stats.connected = true;
	if (t->failing)
		log_info("telemetry: following ring '%s' on '%s' again (worker %d, after %u "
			 "failures)",
			 t->ring, t->socket_path, (int)pid, t->failures);
	else
		log_debug("telemetry: following ring '%s' on '%s' (worker %d%s)", t->ring,
			  t->socket_path, (int)pid, from_start ? ", from its first event" : "");
	t->failing = false;
	t->failures = 0;
}

/* Looks for a complete "Pid: N" line in the `show info` reply so far. */
static int info_find_pid(const struct stream *s, pid_t *ret)
{
	const char *p = s->buf, *end = s->buf + s->len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		long v = 0;

		if (!nl)
			return -EAGAIN;
		if (nl - p > 5 && memcmp(p, "Pid: ", 5) == 0) {
			for (const char *q = p + 5; q < nl; q++) {
				if ((unsigned char)(*q - '0') >= 10 || v > 0x7fffffff / 10)
					return -EBADMSG;
				v = v * 10 + (*q - '0');
			}
			if (v <= 0)
				return -EBADMSG;
			*ret = (pid_t)v;
			return 0;
		}
		p = nl + 1;
	}
	return -EAGAIN;
}

static void demote_current(struct telemetry *t, uint32_t grace_ms, bool auto_grace)
{
	struct stream *s = &t->streams[t->cur];

	s->old = true;
	s->draining = false;
	s->auto_grace = auto_grace;
	s->close_at = now_usec() + (long long)grace_ms * 1000;
	s->probe_at = now_usec();
	t->demoted = t->cur;
	t->demoted_gen = s->gen;
	t->avoid = s->pid;
	t->avoid_tries = 0;
	t->cur = -1;
}

static void handle_line(struct telemetry *t, int i, const char *line, size_t len)
{
	struct stream *s = &t->streams[i];
	struct telemetry_line l;

	/* HAProxy ends a stream with an empty line. */
	if (len == 0)
		return;
	if (len > TELEMETRY_LINE_MAX || telemetry_parse_line(line, len, &l) < 0) {
		t->stats.bad_lines++;
		if (!s->good_lines && !s->first_bad[0]) {
			size_t n = len < sizeof(s->first_bad) - 1 ? len : sizeof(s->first_bad) - 1;

			for (size_t k = 0; k < n; k++)
				s->first_bad[k] =
					(unsigned char)(line[k] - 0x20) < 0x5f ? line[k] : '?';
			s->first_bad[n] = '\0';
		}
		return;
	}
	switch (l.kind) {
	case TELEMETRY_REQUEST:
		t->stats.lines++;
		break;
	case TELEMETRY_DROPPED:
		t->stats.dropped += l.dropped;
		break;
	case TELEMETRY_OTHER:
		t->stats.other_lines++;
		/* A reload nobody announced: follow the new worker as telemetry_on_reload would. */
		if (!s->old && !s->stop_seen && t->cur == i && is_soft_stop(line, len)) {
			s->stop_seen = true;
			t->stats.reloads_noticed++;
			demote_current(t, TELEMETRY_AUTO_GRACE_MS, true);
			t->backoff_ms = TELEMETRY_BACKOFF_MIN_MS;
			start_attempt(t);
		}
		return;
	}
	if (++s->good_lines == 1)
		t->backoff_ms = TELEMETRY_BACKOFF_MIN_MS;
	t->cb(t->userdata, &l);
}

/* Splits the buffer into lines; keeps a partial line (at most TELEMETRY_LINE_MAX bytes). */
static void stream_feed(struct telemetry *t, int i)
{
	struct stream *s = &t->streams[i];
	const char *p = s->buf, *end = s->buf + s->len, *nl;
	size_t rest;

	/* stream_alloc must not take this slot (and its buffer) from under us. */
	t->feeding = i;
	while ((nl = memchr(p, '\n', (size_t)(end - p)))) {
		if (s->skipping) {
			s->skipping = false;
			t->stats.bad_lines++;
		} else {
			handle_line(t, i, p, (size_t)(nl - p));
		}
		p = nl + 1;
	}
	t->feeding = -1;
	rest = (size_t)(end - p);
	if (s->skipping) {
		s->len = 0;
	} else if (rest > TELEMETRY_LINE_MAX) {
		s->skipping = true;
		s->len = 0;
	} else {
		memmove(s->buf, p, rest);
		s->len = rest;
	}
}

/* The stream in slot i ended (EOF or error). */
static void stream_ended(struct telemetry *t, int i, const char *why)
{
	struct stream *s = &t->streams[i];
	bool healthy;

	if (s->old || t->cur != i) {
		/* A previous worker exited (or hard-stop-after): nothing more will come. */
		stream_close(t, i);
		return;
	}
	if (s->phase == STREAM_INFO) {
		attempt_failed(t, "show info", s->len ? "no Pid in the reply" : why);
		return;
	}
	healthy = s->good_lines > 0 || now_usec() - s->opened_at >= TELEMETRY_HEALTHY_USEC;
	t->stats.disconnects++;
	t->stats.connected = false;
	if (!t->failing) {
		if (s->first_bad[0] && !s->good_lines)
			log_warn("telemetry: stream of ring '%s' on '%s' ended: '%s'; reconnecting",
				 t->ring, t->socket_path, s->first_bad);
		else
			log_warn("telemetry: stream of ring '%s' on '%s' ended (%s); reconnecting",
				 t->ring, t->socket_path, why);
		t->failing = true;
	}
	t->failures++;
	stream_close(t, i);
	if (healthy) {
		t->backoff_ms = TELEMETRY_BACKOFF_MIN_MS;
		start_attempt(t);
	} else {
		backoff_next(t);
	}
}

/* Reads what is there; returns the bytes read, or -1 when the stream ended or changed phase. */
static ssize_t stream_readable(struct telemetry *t, int i)
{
	ssize_t total = 0;

	for (int k = 0; k < TELEMETRY_READS_MAX; k++) {
		struct stream *s = &t->streams[i];
		ssize_t n;

		if (s->phase == STREAM_FREE || s->fd < 0)
			return -1;
		n = read(s->fd, s->buf + s->len, TELEMETRY_BUF_SIZE - s->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return total;
		if (n <= 0) {
			/* Lines before the EOF were complete; a partial one is counted bad. */
			if (s->phase == STREAM_EVENTS && s->len > 0)
				t->stats.bad_lines++;
			stream_ended(t, i, n == 0 ? "end of stream" : strerror(errno));
			return -1;
		}
		total += n;
		s->len += (size_t)n;
		if (s->phase == STREAM_INFO) {
			pid_t pid;
			int r = info_find_pid(s, &pid);

			if (r == 0) {
				info_done(t, pid);
				return -1;
			}
			if (r == -EBADMSG || s->len == TELEMETRY_BUF_SIZE) {
				attempt_failed(t, "show info", "no Pid in the reply");
				return -1;
			}
			continue;
		}
		stream_feed(t, i);
	}
	return total;
}

/* Switches readiness of stream i on (paused false) or off until now + TELEMETRY_BATCH_MS. */
static void stream_pause(struct telemetry *t, int i, bool paused)
{
	struct stream *s = &t->streams[i];

	if (s->phase != STREAM_EVENTS || s->fd < 0)
		return;
	if (s->paused != paused)
		loop_io_set(s->io, paused ? 0 : EPOLLIN);
	s->paused = paused;
	s->resume_at = paused ? now_usec() + TELEMETRY_BATCH_MS * 1000LL : 0;
}

/* After reading stream i: pause it if it delivered data, so the next read batches lines. */
static void stream_after_read(struct telemetry *t, int i, ssize_t got)
{
	if (got < 0 || t->streams[i].phase != STREAM_EVENTS)
		return;
	stream_pause(t, i, got > 0);
}

static void arm_timer(struct telemetry *t)
{
	long long when = t->reconnect_at;

	for (int i = 0; i < TELEMETRY_STREAMS_MAX; i++) {
		if (t->streams[i].phase != STREAM_FREE && t->streams[i].old &&
		    (when == 0 || t->streams[i].close_at < when))
			when = t->streams[i].close_at;
		if (t->streams[i].phase == STREAM_EVENTS && t->streams[i].old && t->master_socket &&
		    !t->streams[i].draining && !t->streams[i].probe &&
		    (when == 0 || t->streams[i].probe_at < when))
			when = t->streams[i].probe_at;
		if (t->streams[i].phase == STREAM_EVENTS && t->streams[i].paused &&
		    (when == 0 || t->streams[i].resume_at < when))
			when = t->streams[i].resume_at;
	}
	if (when > 0)
		loop_timer_at(t->timer, when);
	else
		loop_timer_stop(t->timer);
}

/* "CurrConns: <n>" in a `show info` reply; -1 when absent. */
static long curr_conns(const char *reply)
{
	const char *p = strstr(reply, "\nCurrConns: ");
	long v = 0;

	if (!p)
		return -1;
	for (p += 12; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (*p - '0');
	return *p == '\n' ? v : -1;
}

static void on_probe(void *userdata, const struct cli_result *res)
{
	struct stream *s = userdata;
	struct telemetry *t = s->t;
	long long now = now_usec();

	s->probe = NULL;
	s->probe_at = now + TELEMETRY_PROBE_MS * 1000LL;
	if (res->r == 0 && curr_conns(res->reply) == 0) {
		/* Nothing proxied left: read what it logged, then let it go. */
		s->draining = true;
		if (s->close_at > now + TELEMETRY_DRAIN_MS * 1000LL)
			s->close_at = now + TELEMETRY_DRAIN_MS * 1000LL;
	}
	arm_timer(t);
}

static void probe_old(struct telemetry *t, struct stream *s)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "@!%d show info", (int)s->pid);
	s->probe =
		cli_call(t->loop, t->master_socket, cmd, TELEMETRY_PROBE_TIMEOUT_MS, on_probe, s);
}

static void process_timers(struct telemetry *t)
{
	long long now = now_usec();

	for (int i = 0; i < TELEMETRY_STREAMS_MAX; i++) {
		struct stream *s = &t->streams[i];

		if (s->phase == STREAM_EVENTS && s->old && t->master_socket && s->pid > 0 &&
		    !s->draining && !s->probe && s->probe_at <= now)
			probe_old(t, s);

		if (s->phase == STREAM_EVENTS && s->paused && s->resume_at <= now)
			stream_after_read(t, i, stream_readable(t, i));
		if (s->phase == STREAM_FREE || !s->old || s->close_at > now)
			continue;
		/* Collect what the old worker already sent, then let it exit. */
		if (s->phase == STREAM_EVENTS)
			stream_readable(t, i);
		if (s->phase != STREAM_FREE && s->old)
			stream_close(t, i);
	}
	if (t->reconnect_at && t->reconnect_at <= now && t->started)
		start_attempt(t);
}

static void on_timer(void *userdata)
{
	struct telemetry *t = userdata;

	process_timers(t);
	arm_timer(t);
}

static void on_stream(void *userdata, uint32_t events)
{
	struct stream *s = userdata;
	struct telemetry *t = s->t;
	int i = s->slot;

	stream_after_read(t, i, stream_readable(t, i));
	arm_timer(t);
}

int telemetry_new(struct loop *loop, const char *stats_socket, const char *master_socket,
		  const char *ring, telemetry_line_fn cb, void *userdata, struct telemetry **ret)
{
	struct sockaddr_un sa;
	struct telemetry *t;

	if (!loop || !str_set(stats_socket) || strlen(stats_socket) >= sizeof(sa.sun_path) || !cb ||
	    !ret)
		return -EINVAL;
	if (!str_set(ring) || strlen(ring) > TELEMETRY_RING_NAME_MAX || strpbrk(ring, " \t\r\n;"))
		return -EINVAL;
	t = xcalloc(1, sizeof(*t));
	t->socket_path = xstrdup(stats_socket);
	t->master_socket = str_set(master_socket) ? xstrdup(master_socket) : NULL;
	t->ring = xstrdup(ring);
	t->cb = cb;
	t->userdata = userdata;
	t->loop = loop;
	t->cur = -1;
	t->demoted = -1;
	t->feeding = -1;
	t->backoff_ms = TELEMETRY_BACKOFF_MIN_MS;
	for (int i = 0; i < TELEMETRY_STREAMS_MAX; i++)
		t->streams[i] = (struct stream){.fd = -1, .t = t, .slot = i};
	t->timer = loop_timer_new(loop, on_timer, t);
	*ret = t;
	return 0;
}

void telemetry_free(struct telemetry *t)
{
	if (!t)
		return;
	for (int i = 0; i < TELEMETRY_STREAMS_MAX; i++)
		if (t->streams[i].phase != STREAM_FREE || t->streams[i].fd >= 0)
			stream_close(t, i);
	loop_timer_free(t->timer);
	free(t->socket_path);
	free(t->master_socket);
	free(t->ring);
	free(t);
}

int telemetry_connect(struct telemetry *t)
{
	if (!t)
		return -EINVAL;
	if (t->started)
		return 0;
	t->started = true;
	start_attempt(t);
	arm_timer(t);
	return 0;
}

void telemetry_on_reload(struct telemetry *t, uint32_t grace_ms, pid_t worker)
{
	long long close_at = now_usec() + (long long)grace_ms * 1000;

	if (!t || !t->started)
		return;
	/*
	 * Streams demoted on "Proxy x stopped" lines get the caller's grace instead, unless their
	 * worker was seen idle already: those close in a few milliseconds (found by bench/stall.py:
	 * the late announcement gave an idle old worker 30 s).
	 */
	for (int i = 0; i < TELEMETRY_STREAMS_MAX; i++)
		if (t->streams[i].phase != STREAM_FREE && t->streams[i].auto_grace) {
			t->streams[i].auto_grace = false;
			if (!t->streams[i].draining)
				t->streams[i].close_at = close_at;
		}
	/* Announced late: the stream already follows the new worker (soft-stop lines moved it). */
	if (worker > 0 && t->cur >= 0 && t->streams[t->cur].phase == STREAM_EVENTS &&
	    t->streams[t->cur].pid == worker) {
		arm_timer(t);
		return;
	}
	if (t->cur >= 0 && t->streams[t->cur].phase == STREAM_EVENTS)
		demote_current(t, grace_ms, false);
	t->backoff_ms = TELEMETRY_BACKOFF_MIN_MS;
	start_attempt(t);
	arm_timer(t);
}

void telemetry_probe_old(struct telemetry *t)
{
	long long now = now_usec();

	for (int i = 0; t && i < TELEMETRY_STREAMS_MAX; i++) {
		struct stream *s = &t->streams[i];

		if (s->phase == STREAM_EVENTS && s->old && !s->draining && !s->probe)
			s->probe_at = now;
	}
	if (t)
		arm_timer(t);
}

unsigned telemetry_old_busy(const struct telemetry *t)
{
	unsigned n = 0;

	for (int i = 0; t && i < TELEMETRY_STREAMS_MAX; i++)
		if (t->streams[i].phase != STREAM_FREE && t->streams[i].old &&
		    !t->streams[i].draining)
			n++;
	return n;
}

void telemetry_get_stats(const struct telemetry *t, struct telemetry_stats *ret)
{
	*ret = t->stats;
	ret->connected = t->cur >= 0 && t->streams[t->cur].phase == STREAM_EVENTS;
	ret->worker_pid = ret->connected ? (int)t->streams[t->cur].pid : 0;
	ret->old_streams = 0;
	for (int i = 0; i < TELEMETRY_STREAMS_MAX; i++)
		if (t->streams[i].phase != STREAM_FREE && t->streams[i].old)
			ret->old_streams++;
}
