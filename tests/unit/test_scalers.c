// SPDX-License-Identifier: MIT
/*
 * The scalers: the clamp every scaler applies, and the webhook scaler against a real HTTP
 * receiver on 127.0.0.1 (a thread of this test): which services it knows (a replicas
 * parameter), the URL it calls (service and step added to the configured query), the count it
 * reports after a scale until a reconfigure says otherwise, at a limit (no call), a receiver
 * that fails, cancel. The local scaler is tested through HAProxy (test_local_haproxy,
 * t_autoscale), the docker one against the real engine (t_autoscale_swarm).
 */
#include "flowproxy/config.h"
#include "flowproxy/daemon.h"
#include "flowproxy/loop.h"
#include "flowproxy/scalers.h"
#include "flowproxy/service.h"
#include "flowproxy/webhook.h"

#include "tap.h"
#include "testlib.h"

#include <pthread.h>
#include <signal.h>

static struct loop *L;

/* ---- the receiver: answers `status` to each request and keeps its request line ---------- */

static int lfd;
static int status = 200;
static int requests;
static char line[1024];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *serve(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			return NULL;
		struct timeval tv = {.tv_sec = 2};
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		char buf[4096];
		size_t n = 0;
		while (n < sizeof(buf) - 1) {
			ssize_t r = recv(c, buf + n, sizeof(buf) - 1 - n, 0);
			if (r <= 0)
				break;
			n += (size_t)r;
			buf[n] = '\0';
			if (strstr(buf, "\r\n\r\n"))
				break;
		}
		buf[n] = '\0';
		pthread_mutex_lock(&lock);
		snprintf(line, sizeof(line), "%.*s", (int)strcspn(buf, "\r\n"), buf);
		requests++;
		int st = status;
		pthread_mutex_unlock(&lock);
		char ans[128];
		int len = snprintf(
			ans, sizeof(ans),
			"HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", st);
		if (send(c, ans, (size_t)len, MSG_NOSIGNAL) < 0)
			tap_diag("send: %m");
		close(c);
	}
}

static void set_status(int st)
{
	pthread_mutex_lock(&lock);
	status = st;
	pthread_mutex_unlock(&lock);
}

static void last_line(char *out, size_t size, int *ret_requests)
{
	pthread_mutex_lock(&lock);
	snprintf(out, size, "%s", line);
	*ret_requests = requests;
	pthread_mutex_unlock(&lock);
}

/* ---- a scale and its end ----------------------------------------------------------------- */

struct outcome {
	bool done;
	int r;
	long from, to;
	char message[256];
};

static void on_done(void *userdata, int r, long from, long to, const char *message)
{
	struct outcome *o = userdata;

	o->done = true;
	o->r = r;
	o->from = from;
	o->to = to;
	snprintf(o->message, sizeof(o->message), "%s", message);
}

static void wait_done(struct outcome *o)
{
	for (long long end = now_usec() + 10000000; !o->done && now_usec() < end;)
		loop_iterate(L, 20);
}

static void submit(struct daemon *d, const char *name, const char *replicas)
{
	struct params p;
	_cleanup_free_ char *path = xasprintf("/%s", name);

	params_init(&p);
	params_add(&p, "serviceName", name);
	params_add(&p, "servicePath", path);
	params_add(&p, "port", "8080");
	if (replicas)
		params_add(&p, "replicas", replicas);
	daemon_submit_params(d, &p, "test", NULL, 0, NULL, NULL, NULL, NULL, NULL);
	params_done(&p);
	daemon_flush(d);
}

static void test_clamp(void)
{
	static const struct {
		long cur, delta, min, max, want;
	} t[] = {
		{3, 1, 2, 4, 4},  {4, 1, 2, 4, 4},  {3, 5, 2, 4, 4},  {3, -1, 2, 4, 2},
		{2, -1, 2, 4, 2}, {6, 1, 2, 4, 4},  {1, -1, 2, 4, 2}, {3, -10, 1, 5, 1},
		{0, 1, 1, 1, 1},  {5, 0, 1, 10, 5},
	};
	bool all = true;

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		long got = scalers_clamp(t[i].cur, t[i].delta, t[i].min, t[i].max);
		if (got != t[i].want) {
			tap_diag("%ld%+ld in [%ld, %ld]: got %ld, want %ld", t[i].cur, t[i].delta,
				 t[i].min, t[i].max, got, t[i].want);
			all = false;
		}
	}
	tap_ok(all, "clamp: current + delta within [min, max]; a count outside is brought in");
}

int main(void)
{
	struct config cfg;
	struct daemon *d = NULL;
	struct webhook *w = NULL;
	struct scalers *s = NULL;
	char *err = NULL;
	char got[1024];
	int n;

	signal(SIGPIPE, SIG_IGN);
	test_clamp();

	char dir[] = "/tmp/fp-scalers.XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char *argv[] = {"--configs-path", dir, "--run-dir", dir, NULL};
	char *envp[] = {"TELEMETRY=false", NULL};
	if (!tap_is_int(config_load(&cfg, 4, argv, envp, &err), 0, "config loads"))
		return tap_done();
	if (loop_new(&L) < 0 || daemon_new(L, &cfg, &d, &err) < 0 ||
	    webhook_new(L, NULL, &w, &err) < 0)
		return 1;

	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) < 0)
		return 1;
	pthread_t th;
	if (pthread_create(&th, NULL, serve, NULL) != 0)
		return 1;

	struct scalers_options bad = {NULL, d, w, "ftp://127.0.0.1/x", NULL};
	tap_is_int(scalers_new(L, &bad, &s, &err), -EINVAL, "a scale URL that is not http refused");
	tap_ok(err && strstr(err, "SCALE_WEBHOOK_URL"), "the message names SCALE_WEBHOOK_URL (%s)",
	       err ? err : "");
	free(err);
	err = NULL;

	struct scalers_options none = {NULL, d, w, "", NULL};
	tap_is_int(scalers_new(L, &none, &s, &err), 0, "no scaler configured");
	tap_is_int((long long)scalers_set(s)->n, 0, "an empty set");
	scalers_free(s);

	_cleanup_free_ char *url =
		xasprintf("http://127.0.0.1:%d/job/scale?token=abc#frag", ntohs(sa.sin_port));
	struct scalers_options o = {NULL, d, w, url, NULL};
	tap_is_int(scalers_new(L, &o, &s, &err), 0, "the webhook scaler");
	const struct scaler_set *set = scalers_set(s);
	tap_ok(set->n == 1 && streq(set->v[0].kind, "webhook"), "one scaler: webhook");
	const struct scaler *sc = &set->v[0];

	submit(d, "web", "3");
	submit(d, "plain", NULL);
	long wanted = -1, running = -1;
	tap_is_int(sc->ops->replicas(sc->impl, "web", &wanted, &running), 0, "knows 'web'");
	tap_ok(wanted == 3 && running == 3, "its count is the replicas parameter (%ld, %ld)",
	       wanted, running);
	tap_is_int(sc->ops->replicas(sc->impl, "plain", NULL, NULL), -ENOENT,
		   "a service without replicas is not its");
	tap_is_int(sc->ops->replicas(sc->impl, "nope", NULL, NULL), -ENOENT, "nor an unknown one");

	struct outcome out = {0};
	void *h = sc->ops->scale(sc->impl, "web", 1, 1, 5, on_done, &out, &err);
	tap_ok(h && !out.done, "a scale starts; its end comes later");
	wait_done(&out);
	tap_ok(out.done && out.r == 0 && out.from == 3 && out.to == 4,
	       "scaled 3 -> 4 once the receiver answered 2xx (r %d, %ld -> %ld)", out.r, out.from,
	       out.to);
	last_line(got, sizeof(got), &n);
	tap_is_str(got, "POST /job/scale?token=abc&service=web&scale=1 HTTP/1.1",
		   "the URL's own query kept, service and step added, the fragment dropped");
	sc->ops->replicas(sc->impl, "web", &wanted, &running);
	tap_ok(wanted == 4 && running == 4, "the count asked for is reported after (%ld)", wanted);

	out = (struct outcome){0};
	sc->ops->scale(sc->impl, "web", 5, 1, 5, on_done, &out, &err);
	wait_done(&out);
	last_line(got, sizeof(got), &n);
	tap_ok(out.r == 0 && out.from == 4 && out.to == 5 && strstr(got, "&scale=1 "),
	       "+5 at 4 of 5 asks for +1 (%s)", got);

	int before = n;
	out = (struct outcome){0};
	sc->ops->scale(sc->impl, "web", 1, 1, 5, on_done, &out, &err);
	wait_done(&out);
	last_line(got, sizeof(got), &n);
	tap_ok(out.r == -ERANGE && out.from == 5 && out.to == 5 && n == before,
	       "at the maximum: -ERANGE, no call (r %d, %d calls)", out.r, n - before);
	tap_is_str(out.message, "service 'web' is already at its maximum of 5 replicas",
		   "the message names the service and the limit");

	set_status(500);
	out = (struct outcome){0};
	sc->ops->scale(sc->impl, "web", -1, 1, 5, on_done, &out, &err);
	for (long long end = now_usec() + 20000000; !out.done && now_usec() < end;)
		loop_iterate(L, 20);
	tap_ok(out.done && out.r == -EREMOTEIO && strstr(out.message, "scale webhook"),
	       "a receiver that answers 500 fails the scale after its retries (%s)", out.message);
	sc->ops->replicas(sc->impl, "web", &wanted, NULL);
	tap_is_int(wanted, 5, "and the count stays");
	set_status(200);

	/* A reconfigure with another count wins over what the webhook was asked for. */
	submit(d, "web", "2");
	sc->ops->replicas(sc->impl, "web", &wanted, NULL);
	tap_is_int(wanted, 2, "a reconfigure's replicas replaces the remembered count");

	out = (struct outcome){0};
	h = sc->ops->scale(sc->impl, "web", 1, 1, 5, on_done, &out, &err);
	sc->ops->cancel(sc->impl, h);
	for (long long end = now_usec() + 500000; now_usec() < end;)
		loop_iterate(L, 20);
	tap_ok(!out.done, "a cancelled scale never calls back");

	h = sc->ops->scale(sc->impl, "plain", 1, 1, 5, on_done, &out, &err);
	tap_ok(!h && err && strstr(err, "'plain'"),
	       "a scale of a service it does not know does not start (%s)", err ? err : "");
	free(err);

	scalers_free(s);
	webhook_free(w);
	daemon_free(d);
	shutdown(lfd, SHUT_RDWR);
	pthread_join(th, NULL);
	close(lfd);
	loop_free(L);
	config_done(&cfg);
	remove_test_dir(dir);
	return tap_done();
}
