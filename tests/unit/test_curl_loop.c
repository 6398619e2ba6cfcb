// SPDX-License-Identifier: MIT
/*
 * curl_loop against a tiny HTTP/1.1 server on 127.0.0.1 driven by the same loop: one transfer
 * reported once with its private pointer and body, several held open at once and then answered,
 * a handle removed before its answer that is never reported (also when removed by another
 * transfer's callback), callbacks that start new transfers, a refused connection, and the
 * curl_loop freed with transfers in flight or from inside its own callback (ASan says whether
 * anything is left behind).
 */
#include "flowproxy/curl_loop.h"
#include "flowproxy/loop.h"
#include "flowproxy/util.h"

#include "tap.h"
#include "testlib.h"

static struct loop *L;

/* ---- the server -------------------------------------------------------------------------- */

/* Answers GET <path> with 200 and the path as body, except paths starting with /hold: those
 * wait for srv_release. Connection: close, one request per connection. */

#define SRV_CONNS_MAX 32

struct conn {
	int fd;
	struct loop_io *io;
	char req[4096];
	size_t len;
	bool held;
};

static struct {
	int lfd, port;
	struct loop_io *io;
	struct conn *conns[SRV_CONNS_MAX];
	int requests, held, closed_held;
} S;

static void conn_close(struct conn *c)
{
	for (int i = 0; i < SRV_CONNS_MAX; i++)
		if (S.conns[i] == c)
			S.conns[i] = NULL;
	if (c->held) {
		S.held--;
		S.closed_held++;
	}
	loop_io_free(c->io);
	close(c->fd);
	free(c);
}

static void conn_answer(struct conn *c)
{
	char *path = c->req + 4, *end = strchr(path, ' ');
	char out[512];
	int n;

	*end = '\0';
	n = snprintf(out, sizeof(out),
		     "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
		     strlen(path), path);
	if (write(c->fd, out, (size_t)n) != n)
		tap_diag("server: short write");
	if (c->held) {
		c->held = false;
		S.held--;
	}
	conn_close(c);
}

static void on_conn(void *userdata, uint32_t events)
{
	struct conn *c = userdata;
	ssize_t n = read(c->fd, c->req + c->len, sizeof(c->req) - 1 - c->len);

	if (n <= 0) {
		if (n == 0 || errno != EAGAIN)
			conn_close(c);
		return;
	}
	if (c->held) /* more after the request: not sent by curl */
		return;
	c->len += (size_t)n;
	c->req[c->len] = '\0';
	if (!strstr(c->req, "\r\n\r\n"))
		return;
	S.requests++;
	if (strncmp(c->req, "GET /hold", 9) == 0) {
		c->held = true;
		S.held++;
		return;
	}
	conn_answer(c);
}

static void on_accept(void *userdata, uint32_t events)
{
	int fd = accept4(S.lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct conn *c;
	int i;

	if (fd < 0)
		return;
	for (i = 0; i < SRV_CONNS_MAX && S.conns[i]; i++)
		;
	if (i == SRV_CONNS_MAX) {
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->io = loop_io_add(L, fd, EPOLLIN, on_conn, c);
	S.conns[i] = c;
}

static bool srv_start(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(sa);

	S.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (S.lfd < 0 || bind(S.lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(S.lfd, 64) < 0 || getsockname(S.lfd, (struct sockaddr *)&sa, &l) < 0)
		return false;
	S.port = ntohs(sa.sin_port);
	S.io = loop_io_add(L, S.lfd, EPOLLIN, on_accept, NULL);
	return S.io != NULL;
}

/* Answers every held request. */
static void srv_release(void)
{
	for (int i = 0; i < SRV_CONNS_MAX; i++)
		if (S.conns[i] && S.conns[i]->held)
			conn_answer(S.conns[i]);
}

static void srv_stop(void)
{
	for (int i = 0; i < SRV_CONNS_MAX; i++)
		if (S.conns[i])
			conn_close(S.conns[i]);
	loop_io_free(S.io);
	close(S.lfd);
}

static void srv_reset(void)
{
	S.requests = S.held = S.closed_held = 0;
}

/* ---- transfers --------------------------------------------------------------------------- */

struct xfer {
	struct curl_loop *cl;
	CURL *easy;
	char body[256];
	size_t len;
	int reports;
	CURLcode result;
	long status;
	void *priv;
	/* What the callback does besides recording. */
	struct xfer *remove_too[4]; /* remove (and clean up) these others */
	struct xfer *start;	    /* start this one */
	bool free_loop;		    /* curl_loop_free */
};

static int reports, afters;

static size_t body_write(char *ptr, size_t size, size_t n, void *userp)
{
	struct xfer *x = userp;

	n *= size;
	if (x->len + n >= sizeof(x->body))
		return 0;
	memcpy(x->body + x->len, ptr, n);
	x->len += n;
	x->body[x->len] = '\0';
	return n;
}

static void xfer_drop(struct xfer *x)
{
	if (!x->easy)
		return;
	curl_loop_remove(x->cl, x->easy);
	curl_easy_cleanup(x->easy);
	x->easy = NULL;
}

static void xfer_start(struct curl_loop *cl, struct xfer *x, int port, const char *path)
{
	_cleanup_free_ char *url = xasprintf("http://127.0.0.1:%d%s", port, path);

	x->cl = cl;
	x->easy = curl_easy_init();
	curl_easy_setopt(x->easy, CURLOPT_URL, url);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	if (curl_loop_add(cl, x->easy) < 0)
		tap_diag("curl_loop_add failed");
}

static void on_done(void *userdata, CURL *easy, void *priv, CURLcode result)
{
	struct xfer *x = priv;

	reports++;
	if (!x || x->easy != easy) {
		tap_diag("a report for a handle nobody owns");
		return;
	}
	x->reports++;
	x->result = result;
	x->priv = priv;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &x->status);
	xfer_drop(x);
	for (size_t i = 0; i < ARRAY_SIZE(x->remove_too); i++)
		if (x->remove_too[i])
			xfer_drop(x->remove_too[i]);
	if (x->start)
		xfer_start(x->cl, x->start, S.port, "/next");
	if (x->free_loop)
		curl_loop_free(x->cl);
}

static void on_after(void *userdata)
{
	afters++;
}

/* Iterates the loop until *flag reaches want, or 5 s. */
static bool run_until(const int *flag, int want)
{
	long long end = now_usec() + 5000000LL;

	while (*flag < want && now_usec() < end)
		loop_iterate(L, 50);
	return *flag >= want;
}

/* Iterates the loop for about ms. */
static void run_for(int ms)
{
	long long end = now_usec() + ms * 1000LL;

	while (now_usec() < end)
		loop_iterate(L, 10);
}

static struct curl_loop *cl_new(void)
{
	_cleanup_free_ char *err = NULL;
	struct curl_loop *cl = NULL;

	if (curl_loop_new(L, on_done, on_after, NULL, &cl, &err) < 0) {
		tap_diag("curl_loop_new: %s", err);
		exit(1);
	}
	reports = afters = 0;
	srv_reset();
	return cl;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_one(void)
{
	struct curl_loop *cl = cl_new();
	struct xfer x = {0};

	xfer_start(cl, &x, S.port, "/one");
	tap_is_int(x.reports, 0, "nothing is reported inside curl_loop_add");
	tap_ok(run_until(&x.reports, 1), "a transfer is reported");
	run_for(50);
	tap_is_int(x.reports, 1, "once");
	tap_is_int(x.result, CURLE_OK, "with CURLE_OK");
	tap_ok(x.priv == &x, "and its CURLOPT_PRIVATE pointer");
	tap_is_int(x.status, 200, "the server's status");
	tap_is_str(x.body, "/one", "and body came");
	tap_ok(afters > 0, "the after callback ran");
	curl_loop_free(cl);
}

static void test_parallel(void)
{
	struct curl_loop *cl = cl_new();
	struct xfer x[8] = {0};
	bool bodies = true, once = true;

	for (size_t i = 0; i < ARRAY_SIZE(x); i++) {
		_cleanup_free_ char *p = xasprintf("/hold%zu", i);

		xfer_start(cl, &x[i], S.port, p);
	}
	tap_ok(run_until(&S.held, 8), "8 transfers are in flight at once");
	tap_is_int(reports, 0, "none is reported before its answer");
	srv_release();
	tap_ok(run_until(&reports, 8), "all 8 are reported once answered");
	run_for(50);
	for (size_t i = 0; i < ARRAY_SIZE(x); i++) {
		char want[16];

		snprintf(want, sizeof(want), "/hold%zu", i);
		bodies = bodies && x[i].result == CURLE_OK && streq(x[i].body, want);
		once = once && x[i].reports == 1;
	}
	tap_ok(bodies, "each with its own body");
	tap_ok(once, "each once");
	curl_loop_free(cl);
}

static void test_remove(void)
{
	struct curl_loop *cl = cl_new();
	struct xfer a = {0}, b = {0};

	xfer_start(cl, &a, S.port, "/hold-a");
	xfer_start(cl, &b, S.port, "/hold-b");
	tap_ok(run_until(&S.held, 2), "two transfers wait for their answers");
	xfer_drop(&a);
	tap_ok(run_until(&S.closed_held, 1), "removing one closes its connection");
	srv_release();
	tap_ok(run_until(&b.reports, 1), "the other is reported");
	run_for(100);
	tap_is_int(a.reports, 0, "the removed one never is");
	tap_is_int(reports, 1, "nothing else is reported");
	curl_loop_free(cl);
}

/* The first one reported removes the others, answered at the same time: some may be finished in
 * the round being reported, and still none of them is reported. */
static void test_remove_from_callback(void)
{
	struct curl_loop *cl = cl_new();
	struct xfer x[4] = {0};
	int total = 0;

	for (size_t i = 0; i < ARRAY_SIZE(x); i++) {
		for (size_t j = 0, k = 0; j < ARRAY_SIZE(x); j++)
			if (j != i)
				x[i].remove_too[k++] = &x[j];
		xfer_start(cl, &x[i], S.port, "/hold");
	}
	tap_ok(run_until(&S.held, 4), "four transfers wait for their answers");
	srv_release();
	tap_ok(run_until(&reports, 1), "one is reported");
	run_for(100);
	for (size_t i = 0; i < ARRAY_SIZE(x); i++)
		total += x[i].reports;
	tap_is_int(total, 1, "the ones its callback removed are not");
	curl_loop_free(cl);
}

static void test_start_from_callback(void)
{
	struct curl_loop *cl = cl_new();
	struct xfer x[3] = {0};

	x[0].start = &x[1];
	x[1].start = &x[2];
	xfer_start(cl, &x[0], S.port, "/first");
	tap_ok(run_until(&reports, 3), "a callback starts a transfer, whose callback starts one");
	tap_is_str(x[2].body, "/next", "the last one came");
	tap_is_int(x[0].reports + x[1].reports + x[2].reports, 3, "each reported once");
	curl_loop_free(cl);
}

static void test_refused(void)
{
	struct curl_loop *cl = cl_new();
	struct xfer x = {0};

	xfer_start(cl, &x, free_port(), "/nobody");
	tap_ok(run_until(&x.reports, 1), "a refused connection is reported");
	tap_is_int(x.result, CURLE_COULDNT_CONNECT, "as CURLE_COULDNT_CONNECT");
	curl_loop_free(cl);
}

static void test_free_in_flight(void)
{
	struct curl_loop *cl = cl_new();
	struct xfer x[4] = {0};

	for (size_t i = 0; i < ARRAY_SIZE(x); i++)
		xfer_start(cl, &x[i], S.port, "/hold");
	tap_ok(run_until(&S.held, 4), "four transfers in flight");
	curl_loop_free(cl);
	/* The handles were detached, and are still the caller's. */
	for (size_t i = 0; i < ARRAY_SIZE(x); i++) {
		curl_easy_cleanup(x[i].easy);
		x[i].easy = NULL;
	}
	tap_ok(run_until(&S.closed_held, 4), "freeing closes their connections");
	tap_is_int(reports, 0, "and reports none");
	srv_reset();
}

static void test_free_from_callback(void)
{
	struct curl_loop *cl = cl_new();
	struct xfer x[4] = {0};
	int total = 0;

	for (size_t i = 0; i < ARRAY_SIZE(x); i++) {
		x[i].free_loop = true;
		xfer_start(cl, &x[i], S.port, "/hold");
	}
	tap_ok(run_until(&S.held, 4), "four transfers in flight");
	srv_release();
	tap_ok(run_until(&reports, 1), "one is reported, and its callback frees the curl_loop");
	afters = 0;
	run_for(100);
	for (size_t i = 0; i < ARRAY_SIZE(x); i++) {
		total += x[i].reports;
		curl_easy_cleanup(x[i].easy);
		x[i].easy = NULL;
	}
	tap_is_int(total, 1, "no other report follows");
	tap_is_int(afters, 0, "nor the after callback");
}

int main(void)
{
	if (loop_new(&L) < 0 || !srv_start())
		return tap_skip_all("cannot set up a loop and a server on 127.0.0.1");
	test_one();
	test_parallel();
	test_remove();
	test_remove_from_callback();
	test_start_from_callback();
	test_refused();
	test_free_in_flight();
	test_free_from_callback();
	srv_stop();
	loop_free(L);
	return tap_done();
}
