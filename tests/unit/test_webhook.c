// SPDX-License-Identifier: MIT
/*
 * The webhook sender against a real HTTP receiver on 127.0.0.1 that this test runs on a thread
 * of its own: the request as sent (method, path with its query, headers, body), retries of 5xx
 * until a 2xx, giving up after the bounded retries, a 4xx that is not retried, a receiver that
 * never answers (the deadline fires while a 10 ms loop timer keeps ticking), a refused
 * connection, a full queue that drops its oldest waiting message, cancel and free with
 * messages in flight. Also the pure parts: URL checks, redaction, Slack's body, options.
 */
#include "flowproxy/loop.h"
#include "flowproxy/webhook.h"

#include "tap.h"
#include "testlib.h"

#include <pthread.h>
#include <sys/time.h>

static struct loop *L;

/* ---- the receiver ------------------------------------------------------------------------ */

#define RECV_HUNG_MAX 16

struct recv {
	int lfd, port, stop[2];
	pthread_t thread;
	pthread_mutex_t lock;
	/* What to answer: statuses[i] to the i-th request, the last one to any after; hang:
	 * read the request and never answer (the connection stays open). */
	int statuses[8];
	int n_statuses;
	bool hang;
	/* What came. */
	int requests;
	int closed_hung;	 /* hung connections the client closed */
	char head[8192];	 /* the last request's head */
	char body[8192];	 /* and its body */
	int hung[RECV_HUNG_MAX]; /* only the receiver's thread closes them */
	int n_hung;
	bool release; /* asks the thread to close the hung connections */
};

static struct recv R;

static void recv_script(bool hang, int n, const int *statuses)
{
	pthread_mutex_lock(&R.lock);
	R.hang = hang;
	R.n_statuses = n;
	for (int i = 0; i < n; i++)
		R.statuses[i] = statuses[i];
	R.requests = 0;
	R.closed_hung = 0;
	R.head[0] = R.body[0] = '\0';
	pthread_mutex_unlock(&R.lock);
}

static int recv_requests(void)
{
	pthread_mutex_lock(&R.lock);
	int n = R.requests;
	pthread_mutex_unlock(&R.lock);
	return n;
}

static int recv_closed_hung(void)
{
	pthread_mutex_lock(&R.lock);
	int n = R.closed_hung;
	pthread_mutex_unlock(&R.lock);
	return n;
}

/* Reads one request (head, then Content-Length bytes of body) from fd; false on EOF/error. */
static bool read_request(int fd, char *head, size_t cap, char *body, size_t bcap)
{
	size_t len = 0, blen = 0, want = 0;
	char *end = NULL, *cl;

	head[0] = body[0] = '\0';
	while (len < cap - 1 && !(end = strstr(head, "\r\n\r\n"))) {
		ssize_t n = read(fd, head + len, cap - 1 - len);

		if (n <= 0)
			return false;
		len += (size_t)n;
		head[len] = '\0';
	}
	if (!end)
		return false;
	blen = len - (size_t)(end + 4 - head);
	memcpy(body, end + 4, blen < bcap - 1 ? blen : bcap - 1);
	end[2] = '\0'; /* the head keeps its last CRLF */
	cl = strcasestr(head, "\r\nContent-Length:");
	if (cl)
		want = strtoul(cl + strlen("\r\nContent-Length:"), NULL, 10);
	while (blen < want && blen < bcap - 1) {
		ssize_t n = read(fd, body + blen, bcap - 1 - blen);

		if (n <= 0)
			return false;
		blen += (size_t)n;
	}
	body[blen < bcap - 1 ? blen : bcap - 1] = '\0';
	return true;
}

static void recv_one(int fd)
{
	char head[8192], body[8192];
	struct timeval tv = {.tv_sec = 5};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (!read_request(fd, head, sizeof(head), body, sizeof(body))) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&R.lock);
	int i = R.requests++;
	int status = R.n_statuses ? R.statuses[i < R.n_statuses ? i : R.n_statuses - 1] : 200;
	bool hang = R.hang;
	memcpy(R.head, head, sizeof(head));
	memcpy(R.body, body, sizeof(body));
	if (hang && R.n_hung < RECV_HUNG_MAX)
		R.hung[R.n_hung++] = fd;
	else
		hang = false;
	pthread_mutex_unlock(&R.lock);
	if (hang)
		return;
	char *reply = xasprintf("HTTP/1.1 %d X\r\nContent-Length: 11\r\nConnection: close\r\n\r\n"
				"reply %d\nxx",
				status, status);
	if (write(fd, reply, strlen(reply)) < 0)
		perror("write");
	free(reply);
	close(fd);
}

static void *recv_run(void *arg)
{
	for (;;) {
		struct pollfd p[2 + RECV_HUNG_MAX] = {{.fd = R.lfd, .events = POLLIN},
						      {.fd = R.stop[0], .events = POLLIN}};
		int n;

		pthread_mutex_lock(&R.lock);
		if (R.release) {
			for (int i = 0; i < R.n_hung; i++)
				close(R.hung[i]);
			R.n_hung = 0;
			R.release = false;
		}
		n = R.n_hung;
		for (int i = 0; i < n; i++)
			p[2 + i] = (struct pollfd){.fd = R.hung[i], .events = POLLIN};
		pthread_mutex_unlock(&R.lock);
		if (poll(p, (nfds_t)(2 + n), 20) < 0)
			continue;
		if (p[1].revents)
			break;
		/* A hung connection that becomes readable was closed by the client. */
		for (int i = n - 1; i >= 0; i--) {
			char c;

			if (!p[2 + i].revents || read(p[2 + i].fd, &c, 1) > 0)
				continue;
			/* Only this thread changes the array, so index i is still that fd. */
			pthread_mutex_lock(&R.lock);
			close(R.hung[i]);
			R.hung[i] = R.hung[--R.n_hung];
			R.closed_hung++;
			pthread_mutex_unlock(&R.lock);
		}
		if (p[0].revents & POLLIN) {
			int fd = accept4(R.lfd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0)
				recv_one(fd);
		}
	}
	return arg;
}

static void recv_start(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(sa);

	pthread_mutex_init(&R.lock, NULL);
	R.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (R.lfd < 0 || bind(R.lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(R.lfd, 64) < 0 || getsockname(R.lfd, (struct sockaddr *)&sa, &l) < 0 ||
	    pipe2(R.stop, O_CLOEXEC) < 0) {
		printf("Bail out! cannot listen on 127.0.0.1\n");
		exit(1);
	}
	R.port = ntohs(sa.sin_port);
	pthread_create(&R.thread, NULL, recv_run, NULL);
}

static void recv_stop(void)
{
	if (write(R.stop[1], "x", 1) < 0)
		perror("write");
	pthread_join(R.thread, NULL);
	for (int i = 0; i < R.n_hung; i++)
		close(R.hung[i]);
	close(R.lfd);
	close(R.stop[0]);
	close(R.stop[1]);
	pthread_mutex_destroy(&R.lock);
}

/* Closes the connections the receiver holds unanswered, so the next test starts clean. */
static void recv_release(void)
{
	bool pending = true;

	pthread_mutex_lock(&R.lock);
	R.release = true;
	pthread_mutex_unlock(&R.lock);
	for (int i = 0; i < 500 && pending; i++) {
		usleep(2000);
		pthread_mutex_lock(&R.lock);
		pending = R.release;
		pthread_mutex_unlock(&R.lock);
	}
}

/* ---- helpers ----------------------------------------------------------------------------- */

struct outcome {
	int calls;
	int r;
	long status;
	unsigned attempts;
	char err[512];
	long long at;
	struct webhook *free_me; /* freed from the callback */
};

static void on_done(void *userdata, const struct webhook_result *res)
{
	struct outcome *o = userdata;

	o->calls++;
	o->r = res->r;
	o->status = res->status;
	o->attempts = res->attempts;
	snprintf(o->err, sizeof(o->err), "%s", res->err);
	o->at = now_usec();
	if (o->free_me)
		webhook_free(TAKE_PTR(o->free_me));
}

/* Runs the loop until *flag is non-zero or ms pass. */
static void run_until(const int *flag, int ms)
{
	long long end = now_usec() + ms * 1000LL;

	while (!*flag && now_usec() < end)
		loop_iterate(L, 10);
}

static void run_for(int ms)
{
	long long end = now_usec() + ms * 1000LL;

	while (now_usec() < end)
		loop_iterate(L, 10);
}

static char *url_to(const char *path)
{
	return xasprintf("http://127.0.0.1:%d%s", R.port, path);
}

/* Fast options: short delays and deadlines. */
static struct webhook_options fast(void)
{
	struct webhook_options o = WEBHOOK_OPTIONS_DEFAULT;

	o.connect_timeout_ms = 1000;
	o.timeout_ms = 2000;
	o.retry_delay_ms = 20;
	return o;
}

static struct webhook *sender(const struct webhook_options *o)
{
	struct webhook *w = NULL;
	char *err = NULL;

	if (webhook_new(L, o, &w, &err) < 0) {
		printf("Bail out! webhook_new: %s\n", err);
		exit(1);
	}
	return w;
}

/* ---- pure parts -------------------------------------------------------------------------- */

static void test_urls(void)
{
	static const struct {
		const char *url;
		int r;
		const char *name;
	} checks[] = {
		{"http://127.0.0.1:8080/hook", 0, "http with a port"},
		{"https://hooks.slack.com/services/T0/B0/xyz", 0, "https (Slack)"},
		{"HTTPS://example.com", 0, "the scheme in any case"},
		{"http://user:pw@example.com/x?token=1", 0, "user information and a query"},
		{"ftp://example.com/x?token=SECRET", -EINVAL, "ftp is refused"},
		{"hooks.slack.com/services/x?token=SECRET", -EINVAL, "no scheme is refused"},
		{"http:/example.com", -EINVAL, "http:/ is refused"},
		{"http://", -EINVAL, "no host is refused"},
		{"http://user@/x?token=SECRET", -EINVAL, "user information without a host"},
		{"http://:80/x", -EINVAL, "a port without a host"},
		{"http://exa mple.com/?token=SECRET", -EINVAL, "a space is refused"},
		{"http://example.com/\r\nX-Evil: 1?token=SECRET", -EINVAL, "CR LF are refused"},
		{"", -EINVAL, "an empty URL is refused"},
	};
	static const struct {
		const char *url, *shown;
	} redacts[] = {
		{"https://hooks.slack.com/services/T0/B0/xyz",
		 "https://hooks.slack.com/services/T0/B0/xyz"},
		{"http://jenkins:8080/job/scale/buildWithParameters?token=DevOps22&service=s&scale=1",
		 "http://jenkins:8080/job/scale/buildWithParameters"},
		{"https://user:pass@host.example/p#frag", "https://host.example/p"},
		{"http://host?token=x", "http://host"},
		{"http://a@b@host/p@q", "http://host/p@q"},
		{"host/path?token=x", "host/path"},
		{"http://h/\x01x", "http://h/?x"},
	};
	char *err = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(checks); i++) {
		int r = webhook_url_check(checks[i].url, &err);

		tap_is_int(r, checks[i].r, checks[i].name);
		if (r < 0)
			tap_ok(err && !strstr(err, "SECRET") && !strstr(err, "pw"),
			       "  its message does not show the query: %s", err ? err : "(none)");
	}
	webhook_url_check("gopher://h/x", &err);
	tap_ok(err && strstr(err, "'gopher://h/x'") && strstr(err, "http:// and https://"),
	       "a refused scheme is named with what is accepted: %s", err);
	char *long_url = xmalloc(WEBHOOK_URL_MAX + 32);
	memset(long_url, 'a', WEBHOOK_URL_MAX + 31);
	memcpy(long_url, "http://h/", 9);
	long_url[WEBHOOK_URL_MAX + 31] = '\0';
	tap_is_int(webhook_url_check(long_url, &err), -EMSGSIZE, "a URL over the cap is refused");
	char *shown = webhook_url_redact(long_url);
	tap_ok(strlen(shown) <= 200, "a redacted URL is at most 200 bytes (%zu)", strlen(shown));
	free(shown);
	free(long_url);
	for (size_t i = 0; i < ARRAY_SIZE(redacts); i++) {
		shown = webhook_url_redact(redacts[i].url);
		tap_is_str(shown, redacts[i].shown, "redacted as scheme://host/path");
		free(shown);
	}
	free(err);
	err = NULL;

	/* A list, checked as webhook_notify checks it, nothing sent. */
	tap_is_int(webhook_urls_check(" http://a/x , https://b/y?token=s,,", &err), 2,
		   "a list: two URLs, spaces and empty items ignored");
	tap_is_int(webhook_urls_check("", &err), 0, "an empty list: none");
	tap_is_int(webhook_urls_check("http://a/x, ftp://b/y", &err), -EINVAL,
		   "a list with a bad URL is refused");
	tap_ok(err && strstr(err, "ftp://b/y"), "naming it (%s)", err ? err : "");
	free(err);
}

static void test_slack_body(void)
{
	char *b = webhook_slack_body("go-demo scaled \"up\"\nfrom 2 to 3 \\ ok");

	tap_is_str(b, "{\"text\":\"go-demo scaled \\\"up\\\"\\nfrom 2 to 3 \\\\ ok\"}",
		   "the Slack body is JSON-escaped");
	free(b);
	b = webhook_slack_body(NULL);
	tap_is_str(b, "{\"text\":\"\"}", "no text: an empty one");
	free(b);
}

static void test_options(void)
{
	struct webhook_options o = WEBHOOK_OPTIONS_DEFAULT;
	struct webhook *w = NULL;
	char *err = NULL;

	o.retries = WEBHOOK_RETRIES_MAX + 1;
	tap_is_int(webhook_new(L, &o, &w, &err), -EINVAL, "retries over the cap are refused");
	tap_ok(err && strstr(err, "retries"), "the message names the option: %s", err);
	o = WEBHOOK_OPTIONS_DEFAULT;
	o.parallel = o.queue_max + 1;
	tap_is_int(webhook_new(L, &o, &w, &err), -EINVAL, "more transfers than the queue holds");
	o = WEBHOOK_OPTIONS_DEFAULT;
	o.timeout_ms = 0;
	tap_is_int(webhook_new(L, &o, &w, &err), -EINVAL, "an attempt always has a deadline");
	tap_is_int(webhook_new(L, NULL, &w, &err), 0, "NULL options: the defaults");
	webhook_free(w);
	free(err);
}

/* ---- against the receiver ----------------------------------------------------------------- */

static void test_delivery(void)
{
	struct webhook_options o = fast();
	struct webhook *w = sender(&o);
	struct outcome out = {0};
	struct webhook_stats st;
	_cleanup_free_ char *url = url_to("/hook?token=abc&x=1");
	char *err = NULL;
	char *body = webhook_slack_body("hello \"world\"");

	recv_script(false, 0, NULL);
	tap_is_int(webhook_post(w, url, "application/json", body, on_done, &out, NULL, &err), 0,
		   "a JSON post is queued");
	tap_is_int(out.calls, 0, "the callback does not run inside webhook_post");
	run_until(&out.calls, 5000);
	tap_is_int(out.calls, 1, "the callback ran once");
	tap_is_int(out.r, 0, "delivered");
	tap_is_int(out.status, 200, "status 200");
	tap_is_int(out.attempts, 1, "in one attempt");
	tap_is_str(out.err, "", "no message on success");
	pthread_mutex_lock(&R.lock);
	tap_ok(str_startswith(R.head, "POST /hook?token=abc&x=1 HTTP/1.1\r\n"),
	       "POST with the path and query as given");
	tap_ok(strcasestr(R.head, "\r\nContent-Type: application/json\r\n") != NULL,
	       "Content-Type: application/json");
	tap_ok(strcasestr(R.head, "\r\nExpect:") == NULL, "no Expect: 100-continue");
	tap_ok(strcasestr(R.head, "\r\nUser-Agent: flowproxy/") != NULL, "flowproxy's User-Agent");
	tap_is_str(R.body, body, "the body as given");
	pthread_mutex_unlock(&R.lock);

	/* A Jenkins-style trigger: POST without a body or Content-Type. */
	out = (struct outcome){0};
	free(url);
	url = url_to("/job/scale/buildWithParameters?token=t0k&service=go-demo&scale=1");
	tap_is_int(webhook_post(w, url, NULL, NULL, on_done, &out, NULL, &err), 0,
		   "a bodiless post is queued");
	run_until(&out.calls, 5000);
	tap_is_int(out.r, 0, "the bodiless post is delivered");
	pthread_mutex_lock(&R.lock);
	tap_ok(str_startswith(R.head, "POST /job/scale/buildWithParameters?token=t0k&service=go-"
				      "demo&scale=1 HTTP/1.1\r\n"),
	       "POST to the trigger with its query");
	tap_ok(strcasestr(R.head, "\r\nContent-Length: 0\r\n") != NULL, "Content-Length: 0");
	tap_ok(strcasestr(R.head, "\r\nContent-Type:") == NULL, "no Content-Type without a body");
	pthread_mutex_unlock(&R.lock);
	webhook_get_stats(w, &st);
	tap_is_int((long long)st.sent, 2, "sent counts both");
	tap_is_int((long long)(st.failed + st.retried + st.dropped), 0, "nothing failed");
	tap_is_int((long long)st.queued, 0, "the queue is empty");
	webhook_free(w);
	free(body);
	free(err);
}

static void test_retries(void)
{
	struct webhook_options o = fast();
	struct webhook *w = sender(&o);
	struct outcome out = {0};
	struct webhook_stats st;
	_cleanup_free_ char *url = url_to("/r?token=SECRET");
	char *err = NULL;

	recv_script(false, 3, (int[]){500, 500, 200});
	long long t0 = now_usec();
	webhook_post(w, url, "application/json", "{}", on_done, &out, NULL, &err);
	run_until(&out.calls, 5000);
	tap_is_int(out.r, 0, "500, 500, 200: delivered");
	tap_is_int(out.attempts, 3, "after two retries");
	tap_is_int(recv_requests(), 3, "the receiver saw three requests");
	tap_is_int(out.calls, 1, "one callback");
	tap_ok(out.at - t0 >= 60 * 1000, "the retries waited 20 + 40 ms (%lld ms)",
	       (out.at - t0) / 1000);
	webhook_get_stats(w, &st);
	tap_is_int((long long)st.sent, 1, "sent 1");
	tap_is_int((long long)st.retried, 2, "retried 2");
	tap_is_int((long long)st.failed, 0, "failed 0");

	out = (struct outcome){0};
	recv_script(false, 1, (int[]){500});
	webhook_post(w, url, "application/json", "{}", on_done, &out, NULL, &err);
	run_until(&out.calls, 5000);
	tap_is_int(out.r, -EREMOTEIO, "always 500: given up");
	tap_is_int(out.status, 500, "with the last status");
	tap_is_int(out.attempts, 4, "after the first attempt and 3 retries");
	tap_is_int(recv_requests(), 4, "the receiver saw four requests");
	tap_ok(strstr(out.err, "HTTP 500: reply 500") && strstr(out.err, "4 attempts") &&
		       strstr(out.err, "http://127.0.0.1:") && strstr(out.err, "/r: "),
	       "the message has the URL, the status, the answer and the attempts: %s", out.err);
	tap_ok(!strstr(out.err, "SECRET"), "the message does not show the query");
	run_for(100);
	tap_is_int(out.calls, 1, "no callback after the last");
	webhook_get_stats(w, &st);
	tap_is_int((long long)st.failed, 1, "failed 1");
	tap_is_int((long long)st.retried, 5, "retried 5 in all");

	out = (struct outcome){0};
	recv_script(false, 2, (int[]){404, 200});
	webhook_post(w, url, NULL, NULL, on_done, &out, NULL, &err);
	run_until(&out.calls, 5000);
	tap_is_int(out.r, -EREMOTEIO, "404: failed");
	tap_is_int(out.attempts, 1, "404 is not retried");
	tap_is_int(recv_requests(), 1, "the receiver saw one request");

	out = (struct outcome){0};
	recv_script(false, 3, (int[]){429, 408, 204});
	webhook_post(w, url, NULL, NULL, on_done, &out, NULL, &err);
	run_until(&out.calls, 5000);
	tap_is_int(out.r, 0, "429, 408, then 204: delivered");
	tap_is_int(out.attempts, 3, "429 and 408 are retried");

	out = (struct outcome){0};
	recv_script(false, 1, (int[]){302});
	webhook_post(w, url, NULL, NULL, on_done, &out, NULL, &err);
	run_until(&out.calls, 5000);
	tap_ok(out.r == -EREMOTEIO && out.attempts == 1, "a redirect is not followed or retried");
	webhook_free(w);
	free(err);
}

struct ticker {
	struct loop_timer *t;
	int ticks;
	long long last, max_gap;
};

static void on_tick(void *userdata)
{
	struct ticker *k = userdata;
	long long now = now_usec();

	if (k->last && now - k->last > k->max_gap)
		k->max_gap = now - k->last;
	k->last = now;
	k->ticks++;
	loop_timer_after(k->t, 10);
}

static void test_deadline(void)
{
	struct webhook_options o = fast();
	struct webhook *w;
	struct outcome out = {0};
	struct ticker k = {0};
	_cleanup_free_ char *url = url_to("/hang");
	char *err = NULL;

	o.timeout_ms = 500;
	o.retries = 0;
	w = sender(&o);
	recv_script(true, 0, NULL);
	k.t = loop_timer_new(L, on_tick, &k);
	loop_timer_after(k.t, 10);
	long long t0 = now_usec();
	webhook_post(w, url, "application/json", "{}", on_done, &out, NULL, &err);
	run_until(&out.calls, 5000);
	long long took = (out.at - t0) / 1000;
	tap_is_int(out.r, -ETIMEDOUT, "a receiver that never answers: the deadline fires");
	tap_is_int(recv_requests(), 1, "the request did reach it");
	tap_ok(took >= 450 && took < 2000, "at the deadline (%lld ms for 500)", took);
	tap_ok(k.ticks >= 20, "a 10 ms loop timer kept ticking meanwhile (%d ticks)", k.ticks);
	/* A loop blocked by the call would show one gap as long as the deadline. */
	tap_ok(k.max_gap < 250 * 1000, "the loop was never blocked (longest gap %lld ms)",
	       k.max_gap / 1000);
	loop_timer_free(k.t);
	recv_release();
	webhook_free(w);
	free(err);
}

static void test_refused(void)
{
	struct webhook_options o = fast();
	struct webhook *w;
	struct outcome out = {0};
	_cleanup_free_ char *url = xasprintf("http://127.0.0.1:%d/x?token=SECRET", free_port());
	char *err = NULL;

	o.retries = 2;
	o.retry_delay_ms = 10;
	w = sender(&o);
	webhook_post(w, url, NULL, NULL, on_done, &out, NULL, &err);
	run_until(&out.calls, 5000);
	tap_is_int(out.r, -ECONNREFUSED, "connection refused");
	tap_is_int(out.attempts, 3, "retried twice");
	tap_is_int(out.status, 0, "no status");
	tap_ok(!strstr(out.err, "SECRET") && strstr(out.err, "/x: "),
	       "the message shows the URL without its query: %s", out.err);
	webhook_free(w);
	free(err);
}

static void test_queue(void)
{
	struct webhook_options o = fast();
	struct webhook *w;
	struct outcome out[6] = {0};
	struct webhook_stats st;
	_cleanup_free_ char *url = url_to("/q");
	char *err = NULL;
	int r = 0;

	o.queue_max = 3;
	o.parallel = 1;
	w = sender(&o);
	recv_script(true, 0, NULL);
	for (int i = 0; i < 5; i++)
		r |= webhook_post(w, url, NULL, NULL, on_done, &out[i], NULL, &err);
	tap_is_int(r, 0, "five posts to a queue of three are all accepted");
	tap_is_int(out[1].calls + out[2].calls, 0, "drops are reported from the loop, later");
	run_for(200);
	tap_ok(out[1].calls == 1 && out[1].r == -ENOBUFS, "the oldest waiting message is dropped");
	tap_ok(out[2].calls == 1 && out[2].r == -ENOBUFS, "then the next oldest");
	tap_ok(strstr(out[1].err, "dropped") != NULL, "the message says so: %s", out[1].err);
	tap_ok(out[0].calls + out[3].calls + out[4].calls == 0,
	       "the one in flight and the newest wait");
	webhook_get_stats(w, &st);
	tap_is_int((long long)st.dropped, 2, "dropped 2");
	tap_is_int((long long)st.queued, 3, "3 queued");
	tap_is_int((long long)st.in_flight, 1, "1 in flight");
	tap_is_int(recv_requests(), 1, "one transfer at a time");

	/* Everything queued in flight: a new message is refused at once. */
	struct webhook_options o1 = fast();
	struct webhook *w1;
	o1.queue_max = 1;
	o1.parallel = 1;
	w1 = sender(&o1);
	webhook_post(w1, url, NULL, NULL, on_done, &out[5], NULL, &err);
	run_for(100);
	tap_is_int(webhook_post(w1, url, NULL, NULL, on_done, &out[5], NULL, &err), -ENOBUFS,
		   "a full queue with nothing waiting refuses the new message");
	tap_ok(err && strstr(err, "all in flight"), "and says why: %s", err);

	/* Free with messages in flight and waiting: no callback, nothing leaks (ASan). */
	webhook_free(w);
	webhook_free(w1);
	run_for(100);
	tap_ok(out[0].calls + out[3].calls + out[4].calls + out[5].calls == 0,
	       "webhook_free abandons its messages without calling back");
	recv_release();
	free(err);
}

static void test_cancel(void)
{
	struct webhook_options o = fast();
	struct webhook *w = sender(&o);
	struct outcome out[3] = {0};
	struct webhook_call *c = NULL, *c2 = NULL;
	_cleanup_free_ char *url = url_to("/c");
	char *err = NULL;

	recv_script(true, 0, NULL);
	webhook_post(w, url, NULL, NULL, on_done, &out[0], &c, &err);
	for (int i = 0; i < 500 && recv_requests() < 1; i++)
		loop_iterate(L, 10);
	tap_is_int(recv_requests(), 1, "the message is in flight");
	webhook_cancel(c);
	for (int i = 0; i < 500 && recv_closed_hung() < 1; i++)
		loop_iterate(L, 10);
	tap_is_int(recv_closed_hung(), 1, "cancel closes its connection");
	run_for(100);
	tap_is_int(out[0].calls, 0, "a cancelled message never calls back");

	/* Cancelled before it started: never sent. */
	recv_script(false, 0, NULL);
	webhook_post(w, url, NULL, NULL, on_done, &out[1], &c, &err);
	webhook_cancel(c);
	webhook_post(w, url, NULL, NULL, on_done, &out[2], &c2, &err);
	run_until(&out[2].calls, 5000);
	run_for(50);
	tap_is_int(out[1].calls, 0, "cancelled at once: no callback");
	tap_is_int(out[2].calls, 1, "the other one is delivered");
	tap_is_int(recv_requests(), 1, "only it was sent");
	webhook_free(w);
	recv_release();
	free(err);
}

static void test_free_in_callback(void)
{
	struct webhook_options o = fast();
	struct webhook *w;
	struct outcome out[4] = {0};
	_cleanup_free_ char *url = url_to("/f");
	char *err = NULL;

	/* A in flight, B and C dropped by C and D: B's and C's callbacks run in one pass, and
	 * B's frees the sender. */
	o.queue_max = 2;
	o.parallel = 1;
	w = sender(&o);
	recv_script(true, 0, NULL);
	out[1].free_me = w;
	for (int i = 0; i < 4; i++)
		webhook_post(w, url, NULL, NULL, on_done, &out[i], NULL, &err);
	run_for(200);
	tap_ok(out[1].calls == 1 && out[1].r == -ENOBUFS, "the first dropped message calls back");
	tap_is_int(out[2].calls, 0, "webhook_free from a callback: the next one does not");
	tap_is_int(out[0].calls + out[3].calls, 0, "nor any other");
	recv_release();
	free(err);
}

static void test_notify(void)
{
	struct webhook_options o = fast();
	struct webhook *w = sender(&o);
	struct webhook_stats st;
	struct strbuf prom;
	char *urls = xasprintf(" http://127.0.0.1:%d/a?token=1 ,, http://127.0.0.1:%d/b ,", R.port,
			       R.port);
	char *bad = xasprintf("http://127.0.0.1:%d/a, ftp://h/x?token=SECRET", R.port);
	char *err = NULL;

	recv_script(false, 0, NULL);
	tap_is_int(webhook_notify(w, bad, "x", &err), -EINVAL, "a list with a bad URL is refused");
	tap_ok(err && strstr(err, "ftp://h/x") && !strstr(err, "SECRET"),
	       "the message names the URL without its query: %s", err);
	webhook_get_stats(w, &st);
	tap_is_int((long long)st.queued, 0, "and nothing was queued");
	tap_is_int(webhook_notify(w, urls, "scaled \"go-demo\" to 3", &err), 2,
		   "a list of two URLs: two posts");
	tap_is_int(webhook_notify(w, "", "x", &err), 0, "an empty list: none");
	for (int i = 0; i < 500 && recv_requests() < 2; i++)
		loop_iterate(L, 10);
	run_for(50);
	tap_is_int(recv_requests(), 2, "each URL received the message");
	pthread_mutex_lock(&R.lock);
	tap_is_str(R.body, "{\"text\":\"scaled \\\"go-demo\\\" to 3\"}", "as Slack's JSON body");
	tap_ok(strcasestr(R.head, "\r\nContent-Type: application/json\r\n") != NULL,
	       "with Content-Type: application/json");
	pthread_mutex_unlock(&R.lock);
	webhook_get_stats(w, &st);
	tap_is_int((long long)st.sent, 2, "both sent");
	strbuf_init(&prom);
	webhook_prometheus(w, "notify", &prom);
	tap_ok(strstr(strbuf_str(&prom), "\nflowproxy_webhook_sent_total{sender=\"notify\"} 2\n") &&
		       strstr(strbuf_str(&prom),
			      "# TYPE flowproxy_webhook_dropped_total counter\n"),
	       "the counters in Prometheus' format");
	strbuf_done(&prom);
	webhook_free(w);
	free(urls);
	free(bad);
	free(err);
}

int main(void)
{
	/* The receiver is on loopback: a proxy from the environment must not be asked. */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	if (loop_new(&L) < 0) {
		printf("Bail out! loop_new\n");
		return 1;
	}
	recv_start();
	test_urls();
	test_slack_body();
	test_options();
	test_delivery();
	test_retries();
	test_deadline();
	test_refused();
	test_queue();
	test_cancel();
	test_free_in_callback();
	test_notify();
	recv_stop();
	loop_free(L);
	return tap_done();
}
