// SPDX-License-Identifier: MIT
/*
 * The docker module without a Docker Engine: hosts it refuses or cannot reach, and the events
 * follower against a fake daemon on a unix socket (version negotiation, a line over the cap, a
 * reconnect that asks since= the last event and drops what it replays), and a daemon that
 * accepts calls and never answers them: the loop keeps running, the call ends at its deadline,
 * a cancelled one never calls back. Scaling against a scripted engine: the exact requests it
 * receives (method, path, API version, version query, body byte for byte), retries after "update
 * out of sequence" that apply the delta to the count read again, giving up after
 * DOCKER_SCALE_ATTEMPTS, no update for a global service, an unknown one or one at its limit, a
 * stalled update ending at its deadline while the loop runs on, cancellation at each step.
 * Runs everywhere; test_docker.c is the part against the real engine.
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

/* ---- scaling against a scripted engine ------------------------------------------------------ */

/* The spec the fake serves, with "Replicas" in places the scale must not touch. */
#define FAKE_SPEC                                                                           \
	"{\"Name\":\"web\",\"Labels\":{\"Replicas\":\"7\",\"q\":\"a\\\"b }\"},\"Mode\":{"   \
	"\"Replicated\":{\"Replicas\":%ld}},\"TaskTemplate\":{\"ContainerSpec\":{\"Env\":[" \
	"\"Replicas=9\"]}}}"
#define FAKE_SERVICE                                                                \
	"{\"ID\":\"svcid\",\"Version\":{\"Index\":%" PRIu64 "},\"Spec\":" FAKE_SPEC \
	",\"PreviousSpec\":{\"Mode\":{\"Replicated\":{\"Replicas\":1}}}}"
#define OUT_OF_SEQUENCE \
	"{\"message\":\"rpc error: code = Unknown desc = update out of sequence\"}\n"

enum sfake_kind { SFAKE_REPLICATED = 0, SFAKE_GLOBAL, SFAKE_GARBAGE };

struct sfake_script {
	enum sfake_kind kind;
	long counts[4]; /* the count each GET serves, the last one repeated */
	int n_counts;
	int conflicts; /* updates answered "out of sequence" before one is accepted; -1: all */
	bool stall_get, stall_post;
	const char *reply; /* the body of an accepted update; NULL: {"Warnings":null} */
};

struct sfake {
	struct sfake_script sc;
	int lfd;
	char dir[32], path[108];
	pthread_t th;
	pthread_mutex_t mu;
	int gets, posts, conflicts_sent;
	struct strbuf log; /* every API request: "METHOD path\n", a POST's body on the next line */
	int held[8];
	int n_held;
};

/* One request: head up to the blank line, then Content-Length bytes of body. */
static bool read_whole_request(int fd, struct strbuf *head, struct strbuf *body)
{
	struct strbuf b;
	const char *end = NULL, *cl;
	size_t need = 0;
	bool ok = false;

	strbuf_init(&b);
	for (;;) {
		char buf[4096];
		ssize_t n;

		if (!end && b.s && (end = strstr(b.s, "\r\n\r\n"))) {
			cl = strcasestr(b.s, "\r\nContent-Length:");
			need = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
		}
		if (end && b.len - (size_t)(end + 4 - b.s) >= need) {
			strbuf_append(head, b.s, (size_t)(end + 2 - b.s));
			strbuf_append(body, end + 4, need);
			ok = true;
			break;
		}
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		strbuf_append(&b, buf, (size_t)n);
		end = NULL; /* b.s may have moved */
	}
	strbuf_done(&b);
	return ok;
}

static void sfake_reply(int fd, int status, const char *body)
{
	char head[256];

	snprintf(head, sizeof(head),
		 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		 "Connection: close\r\n\r\n",
		 status, status == 200 ? "OK" : "Error", strlen(body));
	fake_send(fd, head);
	fake_send(fd, body);
}

static void sfake_hold(struct sfake *f, int fd)
{
	if (f->n_held < (int)ARRAY_SIZE(f->held))
		f->held[f->n_held++] = fd;
	else
		close(fd);
}

static void *sfake_run(void *arg)
{
	struct sfake *f = arg;

	for (;;) {
		struct strbuf head, body;
		char method[8] = "", path[512] = "";
		int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			return NULL;
		strbuf_init(&head);
		strbuf_init(&body);
		if (!read_whole_request(fd, &head, &body) ||
		    sscanf(head.s, "%7s %511s", method, path) != 2) {
			close(fd);
		} else if (streq(path, "/_ping")) {
			fake_send(
				fd,
				"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
				"OK");
			close(fd);
		} else if (streq(path, "/version")) {
			/* 1.43: reads are negotiated at 1.41, updates must go to /v1.43. */
			sfake_reply(fd, 200,
				    "{\"ApiVersion\":\"1.43\",\"MinAPIVersion\":\"1.12\"}");
			close(fd);
		} else {
			bool post = streq(method, "POST");
			_cleanup_free_ char *svc = NULL;
			int k;

			pthread_mutex_lock(&f->mu);
			strbuf_printf(&f->log, "%s %s\n", method, path);
			if (post)
				strbuf_printf(
					&f->log, "%s%s\n",
					strcasestr(head.s, "\r\nContent-Type: application/json\r\n")
						? ""
						: "(no JSON Content-Type) ",
					strbuf_str(&body));
			k = post ? f->posts++ : f->gets++;
			pthread_mutex_unlock(&f->mu);
			if (!post && !str_startswith(path, "/v1.43/services/web?")) {
				sfake_reply(fd, 404, "{\"message\":\"service nope not found\"}\n");
				close(fd);
			} else if (!post && f->sc.stall_get) {
				sfake_hold(f, fd);
			} else if (!post) {
				long n = f->sc.counts[k < f->sc.n_counts ? k : f->sc.n_counts - 1];

				if (f->sc.kind == SFAKE_GLOBAL)
					svc = xstrdup(
						"{\"ID\":\"g\",\"Version\":{\"Index\":5},\"Spec\":{"
						"\"Name\":\"web\",\"Mode\":{\"Global\":{}}}}");
				else if (f->sc.kind == SFAKE_GARBAGE)
					svc = xstrdup("{\"ID\":\"svcid\",\"Spec\":<html>");
				else
					svc = xasprintf(FAKE_SERVICE, (uint64_t)(100 + 10 * k), n);
				sfake_reply(fd, 200, svc);
				close(fd);
			} else if (f->sc.stall_post) {
				sfake_hold(f, fd);
			} else if (f->sc.conflicts < 0 || f->conflicts_sent < f->sc.conflicts) {
				f->conflicts_sent++;
				sfake_reply(fd, 500, OUT_OF_SEQUENCE);
				close(fd);
			} else {
				sfake_reply(fd, 200,
					    f->sc.reply ? f->sc.reply : "{\"Warnings\":null}\n");
				close(fd);
			}
		}
		strbuf_done(&head);
		strbuf_done(&body);
	}
}

static void sfake_start(struct sfake *f, const struct sfake_script *sc, struct docker **d)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_free_ char *err = NULL, *host = NULL;

	*f = (struct sfake){.sc = *sc, .lfd = -1};
	snprintf(f->dir, sizeof(f->dir), "/tmp/fp-docker-XXXXXX");
	if (!mkdtemp(f->dir))
		abort();
	snprintf(f->path, sizeof(f->path), "%s/d.sock", f->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	strbuf_init(&f->log);
	pthread_mutex_init(&f->mu, NULL);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(f->lfd, 16) < 0)
		abort();
	pthread_create(&f->th, NULL, sfake_run, f);
	host = xasprintf("unix://%s", f->path);
	if (docker_new(L, host, d, &err) < 0 || sync_ping(*d, &err) < 0) {
		printf("Bail out! the scripted engine: %s\n", err ? err : "?");
		exit(1);
	}
}

/* The requests seen so far (caller frees). */
static char *sfake_log(struct sfake *f)
{
	char *s;

	pthread_mutex_lock(&f->mu);
	s = xstrdup(strbuf_str(&f->log));
	pthread_mutex_unlock(&f->mu);
	return s;
}

static int sfake_requests(struct sfake *f)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = f->gets + f->posts;
	pthread_mutex_unlock(&f->mu);
	return n;
}

static void sfake_stop(struct sfake *f, struct docker *d)
{
	docker_free(d);
	shutdown(f->lfd, SHUT_RDWR);
	pthread_join(f->th, NULL);
	for (int i = 0; i < f->n_held; i++)
		close(f->held[i]);
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
	strbuf_done(&f->log);
	pthread_mutex_destroy(&f->mu);
}

/* A scale's report, copied. */
struct scall {
	int calls;
	int r;
	char *err;
	bool has_scale;
	struct docker_scale sc; /* warnings owned here */
	long long at;
};

static void on_scale(void *userdata, const struct docker_result *res)
{
	struct scall *c = userdata;

	c->calls++;
	c->r = res->r;
	free(c->err);
	c->err = xstrdup(res->err);
	c->has_scale = res->scale != NULL;
	if (res->scale) {
		c->sc = *res->scale;
		res->scale->warnings = NULL; /* taken over */
	}
	c->at = now_usec();
}

static void scall_done(struct scall *c)
{
	free(c->err);
	free(c->sc.warnings);
	*c = (struct scall){0};
}

static int scale_wait(struct scall *c, int ms)
{
	long long end = now_usec() + ms * 1000LL;

	while (!c->calls && now_usec() < end)
		loop_iterate(L, 100);
	return c->calls ? c->r : -ETIMEDOUT;
}

/* "GET ...\nPOST ...\n<body>\n" for each count an update is sent with, after the GET of index k. */
static void expect_get(struct strbuf *b)
{
	strbuf_puts(b, "GET /v1.43/services/web?insertDefaults=false\n");
}

static void expect_post(struct strbuf *b, int k, long n)
{
	strbuf_printf(b, "POST /v1.43/services/web/update?version=%d\n", 100 + 10 * k);
	strbuf_printf(b, FAKE_SPEC "\n", n);
}

static void test_scale_retries(void)
{
	struct sfake f;
	struct docker *d = NULL;
	struct scall c = {0};
	struct strbuf want;
	_cleanup_free_ char *got = NULL;
	/* Someone else scales the service between our reads: 2, then 4, then 5. */
	const struct sfake_script sc = {
		.counts = {2, 4, 5},
		.n_counts = 3,
		.conflicts = 2,
		.reply = "{\"Warnings\":[\"image x could not be accessed\",\"w2\"]}\n",
	};

	sfake_start(&f, &sc, &d);
	tap_ok(docker_scale_service(d, "web", 1, 1, 10, on_scale, &c) != NULL,
	       "scale: a handle at once");
	tap_is_int(c.calls, 0, "scale: no report inside the call");
	tap_is_int(scale_wait(&c, 20000), 0, "scale: out of sequence twice, then accepted");
	tap_ok(c.has_scale && c.sc.old_replicas == 5 && c.sc.new_replicas == 6,
	       "scale: +1 applied to the count the last read gave (5 -> 6, got %ld -> %ld)",
	       c.sc.old_replicas, c.sc.new_replicas);
	tap_is_int((long long)c.sc.version, 120, "scale: the version updated is the last read's");
	tap_is_int(c.sc.attempts, 3, "scale: three updates sent");
	tap_is_str(c.sc.warnings, "image x could not be accessed; w2",
		   "scale: warnings passed back");
	strbuf_init(&want);
	expect_get(&want);
	expect_post(&want, 0, 3);
	expect_get(&want);
	expect_post(&want, 1, 5);
	expect_get(&want);
	expect_post(&want, 2, 6);
	got = sfake_log(&f);
	if (!tap_is_str(got, strbuf_str(&want),
			"scale: GET, POST at the daemon's /v1.43, ?version= of each read, the spec "
			"byte for byte with only the count changed, three times"))
		tap_diag("%s", got);
	strbuf_done(&want);
	scall_done(&c);
	sfake_stop(&f, d);
}

static void test_scale_gives_up(void)
{
	struct sfake f;
	struct docker *d = NULL;
	struct scall c = {0};
	struct strbuf want;
	_cleanup_free_ char *got = NULL;
	const struct sfake_script sc = {.counts = {2}, .n_counts = 1, .conflicts = -1};

	sfake_start(&f, &sc, &d);
	docker_scale_service(d, "web", -1, 0, 10, on_scale, &c);
	tap_is_int(scale_wait(&c, 20000), -EBUSY, "always out of sequence: -EBUSY");
	tap_ok(c.err && strstr(c.err, "'web'") && strstr(c.err, "out of sequence 5 times"),
	       "  message: %s", c.err ? c.err : "");
	tap_ok(c.has_scale && c.sc.attempts == DOCKER_SCALE_ATTEMPTS && c.sc.old_replicas == 2 &&
		       c.sc.new_replicas == 2,
	       "  %d updates sent, none accepted", c.sc.attempts);
	strbuf_init(&want);
	for (int k = 0; k < DOCKER_SCALE_ATTEMPTS; k++) {
		expect_get(&want);
		expect_post(&want, k, 1);
	}
	got = sfake_log(&f);
	tap_is_str(got, strbuf_str(&want), "  five reads and five updates, nothing more");
	strbuf_done(&want);
	scall_done(&c);
	sfake_stop(&f, d);
}

/* Calls that end without an update, or with one chosen by the bounds. */
static void test_scale_table(void)
{
	static const struct {
		const char *what;
		struct sfake_script sc;
		const char *id;
		long delta, min, max;
		int want;
		const char *says; /* in the message */
		int posts;	  /* updates the fake must see */
		long sent;	  /* the count of the last one */
		bool has_scale;
	} cases[] = {
		{"at the maximum",
		 {.counts = {4}, .n_counts = 1},
		 "web",
		 1,
		 1,
		 4,
		 -ERANGE,
		 "service 'web' is already at its maximum of 4 replicas",
		 0,
		 0,
		 true},
		{"at the minimum",
		 {.counts = {2}, .n_counts = 1},
		 "web",
		 -1,
		 2,
		 4,
		 -ERANGE,
		 "service 'web' is already at its minimum of 2 replicas",
		 0,
		 0,
		 true},
		{"nothing to do",
		 {.counts = {3}, .n_counts = 1},
		 "web",
		 0,
		 2,
		 4,
		 -ERANGE,
		 "already has 3 replicas",
		 0,
		 0,
		 true},
		{"at the maximum after a conflict",
		 {.counts = {3, 4}, .n_counts = 2, .conflicts = 1},
		 "web",
		 1,
		 1,
		 4,
		 -ERANGE,
		 "maximum of 4",
		 1,
		 4,
		 true},
		{"clamped to the maximum",
		 {.counts = {2}, .n_counts = 1},
		 "web",
		 5,
		 1,
		 4,
		 0,
		 NULL,
		 1,
		 4,
		 true},
		{"above the maximum: brought down",
		 {.counts = {7}, .n_counts = 1},
		 "web",
		 1,
		 1,
		 4,
		 0,
		 NULL,
		 1,
		 4,
		 true},
		{"down to zero",
		 {.counts = {1}, .n_counts = 1},
		 "web",
		 -3,
		 0,
		 4,
		 0,
		 NULL,
		 1,
		 0,
		 true},
		{"global",
		 {.kind = SFAKE_GLOBAL, .counts = {1}, .n_counts = 1},
		 "web",
		 1,
		 1,
		 4,
		 -ENOTSUP,
		 "is global",
		 0,
		 0,
		 false},
		{"not JSON",
		 {.kind = SFAKE_GARBAGE, .counts = {1}, .n_counts = 1},
		 "web",
		 1,
		 1,
		 4,
		 -EBADMSG,
		 "cannot scale 'web'",
		 0,
		 0,
		 false},
		{"unknown service",
		 {.counts = {1}, .n_counts = 1},
		 "nope",
		 1,
		 1,
		 4,
		 -ENOENT,
		 "service nope not found",
		 0,
		 0,
		 false},
		{"update reply not JSON",
		 {.counts = {1}, .n_counts = 1, .reply = "<html>"},
		 "web",
		 1,
		 1,
		 4,
		 0,
		 NULL,
		 1,
		 2,
		 true},
		{"min over max",
		 {.counts = {1}, .n_counts = 1},
		 "web",
		 1,
		 5,
		 4,
		 -EINVAL,
		 "bounds",
		 0,
		 0,
		 false},
		{"negative min",
		 {.counts = {1}, .n_counts = 1},
		 "web",
		 1,
		 -1,
		 4,
		 -EINVAL,
		 "bounds",
		 0,
		 0,
		 false},
		{"no service",
		 {.counts = {1}, .n_counts = 1},
		 "",
		 1,
		 1,
		 4,
		 -EINVAL,
		 "without",
		 0,
		 0,
		 false},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct sfake f;
		struct docker *d = NULL;
		struct scall c = {0};
		_cleanup_free_ char *got = NULL, *last = NULL;
		int r, posts;

		sfake_start(&f, &cases[i].sc, &d);
		docker_scale_service(d, cases[i].id, cases[i].delta, cases[i].min, cases[i].max,
				     on_scale, &c);
		r = scale_wait(&c, 20000);
		if (!tap_is_int(r, cases[i].want, cases[i].what))
			tap_diag("%s", c.err ? c.err : "");
		if (cases[i].says)
			tap_ok(c.err && strstr(c.err, cases[i].says), "  message: %s",
			       c.err ? c.err : "");
		pthread_mutex_lock(&f.mu);
		posts = f.posts;
		pthread_mutex_unlock(&f.mu);
		tap_is_int(posts, cases[i].posts, "  updates the engine saw");
		got = sfake_log(&f);
		if (cases[i].posts) {
			/* The line after the last POST is its body. */
			const char *post = got, *next;

			while ((next = strstr(post + 1, "POST ")))
				post = next;
			last = xasprintf(FAKE_SPEC "\n", cases[i].sent);
			post = strchr(post, '\n');
			tap_ok(post && str_startswith(post + 1, last), "  the last update sets %ld",
			       cases[i].sent);
		}
		tap_is_int(c.has_scale, cases[i].has_scale,
			   "  res->scale only once a GET was read");
		if (cases[i].want == 0)
			tap_ok(c.sc.new_replicas == cases[i].sent &&
				       c.sc.attempts == cases[i].posts,
			       "  result: %ld -> %ld", c.sc.old_replicas, c.sc.new_replicas);
		if (cases[i].sc.reply)
			tap_ok(c.sc.warnings && strstr(c.sc.warnings, "did not parse"),
			       "  the unreadable reply is named in warnings: %s",
			       c.sc.warnings ? c.sc.warnings : "");
		scall_done(&c);
		sfake_stop(&f, d);
	}
}

static void test_scale_before_ping(void)
{
	struct docker *d = NULL;
	struct scall c = {0};
	_cleanup_free_ char *err = NULL;

	if (docker_new(L, "unix:///nonexistent/docker.sock", &d, &err) < 0)
		abort();
	docker_scale_service(d, "web", 1, 1, 4, on_scale, &c);
	tap_is_int(c.calls, 0, "scale before ping: reported from the loop, not the call");
	tap_is_int(scale_wait(&c, 5000), -ENOTCONN, "scale before ping: -ENOTCONN");
	scall_done(&c);
	docker_free(d);
}

/* An engine that answers the read and never the update; then one that never answers the read. */
static void test_scale_stall(void)
{
	struct sfake f;
	struct docker *d = NULL;
	struct scall c = {0}, c2 = {0};
	long long t0, ticked = 0;
	const struct sfake_script sc = {.counts = {2}, .n_counts = 1, .stall_post = true};
	struct loop_timer *tick = loop_timer_new(L, on_tick, &ticked);
	struct docker_req *q;

	sfake_start(&f, &sc, &d);
	t0 = now_usec();
	docker_scale_service(d, "web", 1, 1, 4, on_scale, &c);
	while (sfake_requests(&f) < 2 && now_usec() - t0 < 5000000)
		loop_iterate(L, 50);
	tap_is_int(sfake_requests(&f), 2, "stall: the read answered, the update sent");
	loop_timer_after(tick, 50);
	while (!ticked && now_usec() - t0 < 5000000)
		loop_iterate(L, 100);
	tap_ok(ticked && c.calls == 0,
	       "stall: the loop keeps running while the update hangs (a 50 ms timer ran)");

	/* A second scale, cancelled while its update hangs: never calls back. */
	q = docker_scale_service(d, "web", 1, 1, 4, on_scale, &c2);
	while (sfake_requests(&f) < 4 && now_usec() - t0 < 5000000)
		loop_iterate(L, 50);
	tap_is_int(sfake_requests(&f), 4, "stall: a second scale's update sent too");
	docker_cancel(q);

	tap_is_int(scale_wait(&c, DOCKER_CALL_TIMEOUT_MS + 5000), -ETIMEDOUT,
		   "stall: the hung update ends at its deadline with -ETIMEDOUT");
	tap_ok(c.at - t0 >= (DOCKER_CALL_TIMEOUT_MS - 200) * 1000 &&
		       c.at - t0 < (DOCKER_CALL_TIMEOUT_MS + 3000) * 1000,
	       "  after %lld ms (a transfer's deadline %ld ms)", (c.at - t0) / 1000,
	       DOCKER_CALL_TIMEOUT_MS);
	tap_ok(c.err && strstr(c.err, "POST /services/web/update?version=100") &&
		       strstr(c.err, "may or may not have been applied"),
	       "  message: %s", c.err ? c.err : "");
	tap_ok(c.has_scale && c.sc.attempts == 1 && c.sc.new_replicas == 2,
	       "  one update sent, none known to be accepted");
	tap_is_int(c2.calls, 0, "stall: the cancelled scale never called back");
	scall_done(&c);
	scall_done(&c2);
	sfake_stop(&f, d);

	/* Cancelled while its read hangs. */
	const struct sfake_script sg = {.counts = {2}, .n_counts = 1, .stall_get = true};
	sfake_start(&f, &sg, &d);
	q = docker_scale_service(d, "web", 1, 1, 4, on_scale, &c);
	t0 = now_usec();
	while (sfake_requests(&f) < 1 && now_usec() - t0 < 5000000)
		loop_iterate(L, 50);
	docker_cancel(q);
	for (long long end = now_usec() + 300000; now_usec() < end;)
		loop_iterate(L, 50);
	tap_ok(sfake_requests(&f) == 1 && c.calls == 0,
	       "stall: a scale cancelled during its read never calls back, nothing more sent");
	scall_done(&c);
	sfake_stop(&f, d);
	loop_timer_free(tick);
}

int main(void)
{
	if (loop_new(&L) < 0)
		abort();
	test_bad_host();
	test_fake_reconnect();
	test_stall();
	test_scale_retries();
	test_scale_gives_up();
	test_scale_table();
	test_scale_before_ping();
	test_scale_stall();
	loop_free(L);
	return tap_done();
}
