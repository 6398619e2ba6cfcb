// SPDX-License-Identifier: MIT
/*
 * demoload: one loop timer paces the requests; each request is a non-blocking socket on the
 * loop (connect, write the whole request, read to EOF) with a deadline. HTTP/1.0 with
 * `Connection: close` keeps each request one connection, so a failure is one count.
 */
#include "flowproxy/demoload.h"
#include "flowproxy/log.h"
#include "flowproxy/loop.h"
#include "flowproxy/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEMOLOAD_REQ_TIMEOUT_MS 10000

struct req {
	struct demoload *d;
	int fd;
	struct loop_io *io;
	char buf[256];
	size_t len, off;
	bool connected, got_status_ok;
	char head[16];
	size_t head_len;
	long long deadline_ms;
	struct req *next;
};

struct demoload {
	struct loop *loop;
	struct demoload_options o;
	struct sockaddr_in sa;
	struct loop_timer *pace, *reaper;
	long long start_ms;
	struct req *reqs;
	long in_flight;
	struct demoload_stats st;
	unsigned seed;
};

static long long mono_ms(void)
{
	return now_usec() / 1000;
}

static void req_end(struct req *q, bool ok)
{
	struct demoload *d = q->d;

	for (struct req **p = &d->reqs; *p; p = &(*p)->next)
		if (*p == q) {
			*p = q->next;
			break;
		}
	loop_io_free(q->io);
	close(q->fd);
	if (ok)
		d->st.ok++;
	else
		d->st.failed++;
	d->in_flight--;
	free(q);
}

static void on_io(void *userdata, uint32_t events)
{
	struct req *q = userdata;

	if (!q->connected) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
			req_end(q, false);
			return;
		}
		q->connected = true;
	}
	if (q->off < q->len) {
		ssize_t w = send(q->fd, q->buf + q->off, q->len - q->off, MSG_NOSIGNAL);
		if (w < 0 && errno != EAGAIN) {
			req_end(q, false);
			return;
		}
		if (w > 0)
			q->off += (size_t)w;
		if (q->off == q->len)
			loop_io_set(q->io, EPOLLIN);
		return;
	}
	for (;;) {
		char b[4096];
		ssize_t r = recv(q->fd, b, sizeof(b), 0);
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			/* "HTTP/1.x 200": only the status line's code matters. */
			bool ok = r == 0 && q->head_len >= 12 && !memcmp(q->head + 9, "200", 3);
			req_end(q, ok);
			return;
		}
		size_t take = (size_t)r;
		if (take > sizeof(q->head) - q->head_len)
			take = sizeof(q->head) - q->head_len;
		memcpy(q->head + q->head_len, b, take);
		q->head_len += take;
	}
}

static void start_one(struct demoload *d, long long now)
{
	long phase = (now - d->start_ms) / 1000 / d->o.phase_s;
	bool slow = phase % 2 == 1;
	long delay = d->o.fast_ms;

	if (phase != d->st.phase) {
		d->st.phase = (int)phase;
		log_info("demo load: %s responses now (the backend waits %ld ms%s) for %ld s",
			 slow ? "slow" : "fast", slow ? d->o.slow_ms : d->o.fast_ms,
			 slow ? " to twice that" : "", d->o.phase_s);
	}
	if (slow) {
		d->seed = d->seed * 1103515245u + 12345u;
		delay = d->o.slow_ms + (long)((d->seed >> 8) % (unsigned)(d->o.slow_ms + 1));
	}
	if (d->in_flight >= d->o.concurrency) {
		d->st.failed++;
		return;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		d->st.failed++;
		return;
	}
	struct req *q = xcalloc(1, sizeof(*q));
	q->d = d;
	q->fd = fd;
	q->deadline_ms = now + DEMOLOAD_REQ_TIMEOUT_MS;
	int n = snprintf(
		q->buf, sizeof(q->buf),
		"GET %s?delay=%ld HTTP/1.0\r\nHost: 127.0.0.1\r\nUser-Agent: flowproxy-demo-load\r\n"
		"Connection: close\r\n\r\n",
		d->o.path, delay);
	q->len = n > 0 && (size_t)n < sizeof(q->buf) ? (size_t)n : 0;
	d->st.sent++;
	d->in_flight++;
	q->next = d->reqs;
	d->reqs = q;
	if (connect(fd, (struct sockaddr *)&d->sa, sizeof(d->sa)) < 0 && errno != EINPROGRESS) {
		q->io = NULL;
		req_end(q, false);
		return;
	}
	q->io = loop_io_add(d->loop, fd, EPOLLOUT, on_io, q);
	if (!q->io)
		req_end(q, false);
}

static void on_pace(void *userdata)
{
	struct demoload *d = userdata;
	long long now = mono_ms();

	if (now - d->start_ms >= d->o.duration_s * 1000) {
		if (!d->st.done)
			log_info("demo load: done after %ld s (%llu requests, %llu failed)",
				 d->o.duration_s, (unsigned long long)d->st.sent,
				 (unsigned long long)d->st.failed);
		d->st.done = true;
		return;
	}
	start_one(d, now);
	loop_timer_after(d->pace, 1000 / d->o.rate > 0 ? 1000 / d->o.rate : 1);
}

/* Requests past their deadline fail (a backend that never answers). */
static void on_reap(void *userdata)
{
	struct demoload *d = userdata;
	long long now = mono_ms();

	for (struct req *q = d->reqs, *next; q; q = next) {
		next = q->next;
		if (now >= q->deadline_ms)
			req_end(q, false);
	}
	loop_timer_after(d->reaper, 500);
}

int demoload_new(struct loop *loop, const struct demoload_options *o, struct demoload **ret,
		 char **reterr)
{
	struct demoload *d;
	struct in_addr ia;

	if (!o->addr || inet_pton(AF_INET, o->addr, &ia) != 1 || (ntohl(ia.s_addr) >> 24) != 127)
		return errmsg_set(reterr, -EINVAL,
				  "demo load: '%s' is not a loopback address (127.0.0.0/8)",
				  o->addr ? o->addr : "");
	if (o->port < 1 || o->port > 65535 || o->rate < 1 || o->rate > 1000 || o->concurrency < 1 ||
	    o->phase_s < 1 || o->duration_s < 1 || o->fast_ms < 0 || o->slow_ms < 0 || !o->path ||
	    o->path[0] != '/' || strlen(o->path) > 128)
		return errmsg_set(reterr, -EINVAL, "demo load: bad options");
	d = xcalloc(1, sizeof(*d));
	d->loop = loop;
	d->o = *o;
	d->sa.sin_family = AF_INET;
	d->sa.sin_port = htons((uint16_t)o->port);
	d->sa.sin_addr = ia;
	d->start_ms = mono_ms();
	d->seed = 42;
	d->st.phase = -1;
	d->pace = loop_timer_new(loop, on_pace, d);
	d->reaper = loop_timer_new(loop, on_reap, d);
	loop_timer_after(d->pace, 0);
	loop_timer_after(d->reaper, 500);
	*ret = d;
	return 0;
}

void demoload_free(struct demoload *d)
{
	if (!d)
		return;
	while (d->reqs)
		req_end(d->reqs, false);
	loop_timer_free(d->pace);
	loop_timer_free(d->reaper);
	free(d);
}

void demoload_get_stats(const struct demoload *d, struct demoload_stats *ret)
{
	*ret = d->st;
}
