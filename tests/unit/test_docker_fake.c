// SPDX-License-Identifier: MIT
/*
 * The docker module without a Docker Engine: hosts it refuses or cannot reach, and the events
 * follower against a fake daemon on a unix socket (version negotiation, a line over the cap, a
 * reconnect that asks since= the last event and drops what it replays), and a daemon that
 * accepts calls and never answers them: the loop keeps running, the call ends at its deadline,
 * a cancelled one never calls back. Runs everywhere; test_docker.c is the part against the real
 * engine.
 */
#include "flowproxy/docker.h"
#include "flowproxy/loop.h"

#include "tap.h"

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>

static struct loop *L;

struct call {
	int calls;
	int r;
	char *err;
	long long at;
};

static void on_call(void *userdata, const struct docker_result *res)
{
	struct call *c = userdata;

	c->calls++;
	c->r = res->r;
	free(c->err);
	c->err = xstrdup(res->err);
	c->at = now_usec();
}

static int call_wait(struct call *c, int ms, char **err)
{
	long long end = now_usec() + ms * 1000LL;

	while (!c->calls && now_usec() < end)
		loop_iterate(L, 100);
	free(*err);
	*err = c->calls ? TAKE_PTR(c->err) : xstrdup("no answer");
	return c->calls ? c->r : -ETIMEDOUT;
}

static int sync_ping(struct docker *d, char **err)
{
	struct call c = {0};

	docker_ping(d, on_call, &c);
	return call_wait(&c, 30000, err);
}

/*
 * A fake daemon on a unix socket for the follower's reconnect logic: /_ping, /version (1.43, so
 * 1.41 is negotiated), then two event streams. The first sends A, a line over the 64 KiB cap and
 * B, then closes; the second must ask since=100, replays A and B (to be dropped) and sends C.
 */
struct fake {
	int lfd, stop_fd;
	char since[2][32];
	int events_conns;
};

static void fake_send(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

#define EV(sec, frac)                                                                            \
	"{\"Type\":\"service\",\"Action\":\"update\",\"Actor\":{\"ID\":\"svc\",\"Attributes\":{" \
	"\"name\":\"n\"}},\"time\":" #sec ",\"timeNano\":" #sec #frac "}\n"

/* Accepts one connection and reads its request head into req (NUL-terminated); the fd. */
static int accept_request(int lfd, char *req, size_t cap)
{
	size_t len = 0;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	req[0] = '\0';
	while (fd >= 0 && len < cap - 1 && !strstr(req, "\r\n\r\n")) {
		ssize_t n = read(fd, req + len, cap - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
		req[len] = '\0';
	}
	return fd;
}

static void *fake_run(void *arg)
{
	struct fake *f = arg;

	for (int conn = 0; conn < 4; conn++) {
		char req[4096];
		int fd = accept_request(f->lfd, req, sizeof(req));

		if (fd < 0)
			return NULL;
		if (str_startswith(req, "GET /_ping ")) {
			fake_send(
				fd,
				"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK");
		} else if (str_startswith(req, "GET /version ")) {
			fake_send(
				fd,
				"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 44\r\n\r\n"
				"{\"ApiVersion\":\"1.43\",\"MinAPIVersion\":\"1.12\"}");
		} else if (str_startswith(req, "GET /v1.41/events?")) {
			const char *p = strstr(req, "since=");
			int k = f->events_conns++;

			if (p && k < 2)
				snprintf(f->since[k], sizeof(f->since[k]), "%.*s",
					 (int)strcspn(p + 6, "& "), p + 6);
			fake_send(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				      "Connection: close\r\n\r\n");
			fake_send(fd, EV(100, 000000001));
			if (k == 0) {
				char *big = xmalloc(70000);

				memset(big, 'x', 69999);
				big[69999] = '\0';
				fake_send(fd, big);
				fake_send(fd, "\n" EV(100, 000000002));
				free(big);
			} else {
				char c;

				fake_send(fd, EV(100, 000000002) EV(101, 000000003));
				if (read(f->stop_fd, &c, 1) < 0)
					c = 0; /* keeps the stream open until the test is done */
			}
		}
		close(fd);
	}
	return NULL;
}

static void on_fake_event(void *userdata, const struct docker_event *ev)
{
	struct strbuf *b = userdata;

	strbuf_printf(b, "%" PRId64 ";", ev->time_nano);
}

static void test_fake_reconnect(void)
{
	char dir[] = "/tmp/fp-docker-XXXXXX";
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct fake f = {.lfd = -1};
	struct docker *d = NULL;
	struct docker_events *ev = NULL;
	struct docker_events_stats st = {0};
	_cleanup_free_ char *err = NULL, *host = NULL;
	struct strbuf got;
	pthread_t th;
	int pfd[2];
	bool done = false;

	strbuf_init(&got);
	if (!mkdtemp(dir) || pipe2(pfd, O_CLOEXEC) < 0)
		abort();
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/d.sock", dir);
	f.stop_fd = pfd[0];
	f.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bind(f.lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(f.lfd, 8) < 0)
		abort();
	pthread_create(&th, NULL, fake_run, &f);
	host = xasprintf("unix://%s", sa.sun_path);
	tap_is_int(docker_new(L, host, &d, &err), 0, "fake: docker_new");
	if (!tap_is_int(sync_ping(d, &err), 0, "fake: docker_ping"))
		tap_diag("%s", err);
	tap_is_str(docker_api_version(d), "1.41", "fake: daemon 1.43 -> /v1.41");
	tap_is_int(docker_daemon_api_version(d), 143, "fake: daemon's own version kept");
	tap_is_int(docker_events_new(d, NULL, 100, on_fake_event, &got, &ev, &err), 0,
		   "fake: docker_events_new");
	for (long long end = now_usec() + 10000000; !done && now_usec() < end;) {
		loop_iterate(L, 100);
		docker_events_get_stats(ev, &st);
		done = st.events >= 3;
	}
	tap_is_str(strbuf_str(&got), "100000000001;100000000002;101000000003;",
		   "fake: A, B, C once each, replays dropped");
	tap_is_int((long long)st.bad_lines, 1, "fake: the 70 KB line dropped");
	tap_ok(st.connects == 2 && st.disconnects == 1 && st.connected,
	       "fake: reconnected once (%" PRIu64 " connects, %" PRIu64 " disconnects)",
	       st.connects, st.disconnects);
	tap_is_str(f.since[0], "100", "fake: first since= as given");
	tap_is_str(f.since[1], "100", "fake: reconnect since= the last event's second");
	docker_events_free(ev);
	/* Wakes the fake whether it waits in accept or holds the second stream open. */
	shutdown(f.lfd, SHUT_RDWR);
	if (write(pfd[1], "x", 1) < 0)
		abort();
	pthread_join(th, NULL);
	docker_free(d);
	close(pfd[0]);
	close(pfd[1]);
	close(f.lfd);
	unlink(sa.sun_path);
	rmdir(dir);
	strbuf_done(&got);
}

static void test_bad_host(void)
{
	struct docker *d = NULL;
	_cleanup_free_ char *err = NULL;

	tap_is_int(docker_new(L, "ftp://x", &d, &err), -EINVAL, "ftp:// host rejected");
	tap_ok(docker_new(L, "unix:///nonexistent/docker.sock", &d, &err) == 0,
	       "docker_new: no I/O");
	tap_is_int(sync_ping(d, &err), -ECONNREFUSED, "ping a missing socket: -ECONNREFUSED");
	tap_ok(err && strstr(err, "/nonexistent/docker.sock"), "message names the socket: %s",
	       err ? err : "");
	docker_free(d);
}

/* A daemon that answers /_ping and /version, then accepts every other call and never answers. */
struct stall {
	int lfd, stop_fd;
	int held[8];
	int n_held;
};

static void *stall_run(void *arg)
{
	struct stall *f = arg;

	for (;;) {
		char req[4096];
		int fd = accept_request(f->lfd, req, sizeof(req));

		if (fd < 0)
			return NULL;
		if (str_startswith(req, "GET /_ping ")) {
			fake_send(
				fd,
				"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK");
			close(fd);
		} else if (str_startswith(req, "GET /version ")) {
			fake_send(
				fd,
				"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 21\r\n\r\n"
				"{\"ApiVersion\":\"1.41\"}");
			close(fd);
		} else if (f->n_held < 8) {
			f->held[f->n_held++] = fd; /* accepted, read, never answered */
		} else {
			close(fd);
		}
	}
}

static void on_tick(void *userdata)
{
	*(long long *)userdata = now_usec();
}

static void test_stall(void)
{
	char dir[] = "/tmp/fp-docker-XXXXXX";
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stall f = {.lfd = -1};
	struct docker *d = NULL;
	struct call a = {0}, b = {0};
	_cleanup_free_ char *err = NULL, *host = NULL;
	pthread_t th;
	long long t0, ticked = 0;

	if (!mkdtemp(dir))
		abort();
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/d.sock", dir);
	f.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bind(f.lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(f.lfd, 8) < 0)
		abort();
	pthread_create(&th, NULL, stall_run, &f);
	host = xasprintf("unix://%s", sa.sun_path);
	tap_is_int(docker_new(L, host, &d, &err), 0, "stall: docker_new");
	tap_is_int(sync_ping(d, &err), 0, "stall: ping answered");

	/* Two calls the daemon never answers, and a 50 ms timer beside them. */
	struct loop_timer *tick = loop_timer_new(L, on_tick, &ticked);
	t0 = now_usec();
	docker_list_services(d, on_call, &a);
	struct docker_req *qb = docker_list_tasks(d, NULL, on_call, &b);
	loop_timer_after(tick, 50);
	while (!ticked && now_usec() - t0 < 2000000)
		loop_iterate(L, 100);
	tap_ok(ticked && ticked - t0 < 500000,
	       "the loop keeps running while the engine stalls (a 50 ms timer ran at %lld ms)",
	       ticked ? (ticked - t0) / 1000 : -1);
	tap_is_int(a.calls + b.calls, 0, "neither stalled call has reported yet");
	if (!b.calls)
		docker_cancel(qb); /* a handle is valid until its callback */
	tap_is_int(call_wait(&a, DOCKER_CALL_TIMEOUT_MS + 5000, &err), -ETIMEDOUT,
		   "the stalled call ends at its deadline with -ETIMEDOUT");
	tap_ok(a.at - t0 >= (DOCKER_CALL_TIMEOUT_MS - 100) * 1000 &&
		       a.at - t0 < (DOCKER_CALL_TIMEOUT_MS + 3000) * 1000,
	       "after %lld ms (deadline %ld ms)", (a.at - t0) / 1000, DOCKER_CALL_TIMEOUT_MS);
	tap_is_int(b.calls, 0, "the cancelled call never called back");
	loop_timer_free(tick);
	docker_free(d);
	shutdown(f.lfd, SHUT_RDWR);
	pthread_join(th, NULL);
	for (int i = 0; i < f.n_held; i++)
		close(f.held[i]);
	close(f.lfd);
	unlink(sa.sun_path);
	rmdir(dir);
	free(a.err);
	free(b.err);
}

int main(void)
{
	if (loop_new(&L) < 0)
		abort();
	test_bad_host();
	test_fake_reconnect();
	test_stall();
	loop_free(L);
	return tap_done();
}
