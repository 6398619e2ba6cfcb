// SPDX-License-Identifier: MIT
/*
 * cli: HAProxy CLI commands as non-blocking calls (cli.h). A call is a small state machine on
 * the loop: connect (a unix stream connect completes at once or fails), send while the socket
 * is writable, shut the write side down, read until the end of the stream, then report. One
 * loop timer is the deadline; a zero timer delivers results that are known at once (a failed
 * connect), so the callback never runs inside cli_call.
 */
#include "flowproxy/cli.h"
#include "flowproxy/loop.h"
#include "flowproxy/util.h"

#include <sys/socket.h>
#include <sys/un.h>

struct cli_call {
	struct loop *l;
	cli_done_fn cb;
	void *userdata;
	int fd;
	struct loop_io *io;
	struct loop_timer *timer; /* the deadline, or "report now" once done */
	char *path;
	char *cmd; /* for messages */
	char *msg; /* the command + "\n" */
	size_t off, mlen;
	struct strbuf out;
	bool sent;
	bool done; /* result fixed; waiting for the timer to report it */
	int r;
	char *err;
};

static void call_free(struct cli_call *c)
{
	loop_io_free(c->io);
	loop_timer_free(c->timer);
	if (c->fd >= 0)
		close(c->fd);
	strbuf_done(&c->out);
	free(c->path);
	free(c->cmd);
	free(c->msg);
	free(c->err);
	free(c);
}

static void report(struct cli_call *c)
{
	struct cli_result res = {
		.r = c->r,
		.sent = c->sent,
		.reply = c->r < 0 ? "" : strbuf_str(&c->out),
		.len = c->r < 0 ? 0 : c->out.len,
		.err = c->err ? c->err : "",
	};

	c->cb(c->userdata, &res);
	call_free(c);
}

/* Fixes the outcome and reports it from the next round of the loop. */
static void finish(struct cli_call *c, int r, char *err)
{
	c->done = true;
	c->r = r;
	free(c->err);
	c->err = err;
	loop_io_free(c->io);
	c->io = NULL;
	loop_timer_after(c->timer, 0);
}

static void on_timer(void *userdata)
{
	struct cli_call *c = userdata;

	if (c->done) {
		report(c);
		return;
	}
	finish(c, -ETIMEDOUT,
	       xasprintf("'%s': no %s to '%.200s' in time", c->path,
			 c->sent ? "reply" : "room to send", c->cmd));
}

static void on_io(void *userdata, uint32_t events)
{
	struct cli_call *c = userdata;
	char buf[65536];

	while (!c->sent) {
		ssize_t n = send(c->fd, c->msg + c->off, c->mlen - c->off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			finish(c, -errno, xasprintf("send to '%s': %s", c->path, strerror(errno)));
			return;
		}
		c->off += (size_t)n;
		if (c->off == c->mlen) {
			c->sent = true;
			shutdown(c->fd, SHUT_WR);
			loop_io_set(c->io, EPOLLIN);
		}
	}
	for (;;) {
		ssize_t n = read(c->fd, buf, sizeof(buf));

		if (n > 0) {
			if (c->out.len + (size_t)n > CLI_REPLY_MAX) {
				finish(c, -EMSGSIZE,
				       xasprintf("'%s': reply to '%.200s' over %u bytes", c->path,
						 c->cmd, CLI_REPLY_MAX));
				return;
			}
			strbuf_append(&c->out, buf, (size_t)n);
			continue;
		}
		if (n == 0) {
			finish(c, 0, NULL);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return;
		finish(c, -errno, xasprintf("read from '%s': %s", c->path, strerror(errno)));
		return;
	}
}

struct cli_call *cli_call(struct loop *l, const char *socket_path, const char *cmd, int timeout_ms,
			  cli_done_fn cb, void *userdata)
{
	struct cli_call *c = xcalloc(1, sizeof(*c));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t plen = socket_path ? strlen(socket_path) : 0;

	c->l = l;
	c->cb = cb;
	c->userdata = userdata;
	c->fd = -1;
	c->path = xstrdup(socket_path ? socket_path : "");
	c->cmd = xstrdup(cmd ? cmd : "");
	c->msg = xasprintf("%s\n", c->cmd);
	c->mlen = strlen(c->msg);
	strbuf_init(&c->out);
	c->timer = loop_timer_new(l, on_timer, c);
	loop_timer_after(c->timer, timeout_ms > 0 ? timeout_ms : 10000);
	strbuf_puts(&c->out, "");

	if (!cmd || strchr(cmd, '\n') || plen == 0) {
		finish(c, -EINVAL, xstrdup("cli: bad socket path or command"));
		return c;
	}
	if (plen >= sizeof(sa.sun_path)) {
		finish(c, -ENAMETOOLONG, xasprintf("socket path '%s' is too long", c->path));
		return c;
	}
	memcpy(sa.sun_path, socket_path, plen + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0) {
		finish(c, -errno, xasprintf("socket: %s", strerror(errno)));
		return c;
	}
	/* A unix stream connect completes at once or fails (-EAGAIN when the backlog is full). */
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		finish(c, -errno, xasprintf("connect to '%s': %s", c->path, strerror(errno)));
		return c;
	}
	c->io = loop_io_add(l, c->fd, EPOLLOUT | EPOLLIN, on_io, c);
	if (!c->io)
		finish(c, -errno, xasprintf("epoll: %s", strerror(errno)));
	return c;
}

void cli_cancel(struct cli_call *c)
{
	if (c)
		call_free(c);
}
