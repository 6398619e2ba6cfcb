// SPDX-License-Identifier: MIT
/*
 * Unit tests for notify: the Listener's query encoding, and delivery with retries and
 * cancellation against a small HTTP receiver on 127.0.0.1 run by the test itself.
 */
#include "flowproxy/notify.h"
#include "tap.h"
#include "testlib.h"

#include <pthread.h>

static int lfd = -1;
static int served, fail_first;
static char last[4096];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* Answers every request: 500 to the first fail_first, then 200; remembers the request line. */
static void *receiver(void *arg)
{
	for (;;) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			return NULL;
		char buf[4096];
		ssize_t n = read(c, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			buf[strcspn(buf, "\r\n")] = '\0';
			pthread_mutex_lock(&mu);
			snprintf(last, sizeof(last), "%s", buf);
			bool fail = served < fail_first;
			served++;
			pthread_mutex_unlock(&mu);
			const char *r = fail ? "HTTP/1.0 500 Oops\r\nContent-Length: 0\r\n\r\n"
					     : "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
			if (write(c, r, strlen(r)) < 0) {
				/* the client gave up: nothing to do */
			}
		}
		close(c);
	}
}

static int wait_served(int want)
{
	for (int i = 0; i < 200; i++) {
		pthread_mutex_lock(&mu);
		int s = served;
		pthread_mutex_unlock(&mu);
		if (s >= want)
			return s;
		usleep(20000);
	}
	return served;
}

int main(void)
{
	struct params p;
	char *q;

	params_init(&p);
	params_add(&p, "serviceName", "web");
	params_add(&p, "alertIf", "@resp_time_above:0.1,5m,0.99");
	params_add(&p, "distribute", "true");
	params_add(&p, "servicePath", "/a b");
	q = notify_query(&p);
	tap_is_str(q,
		   "alertIf=%40resp_time_above%3A0.1%2C5m%2C0.99&distribute=true&"
		   "serviceName=web&servicePath=%2Fa+b",
		   "keys sorted, values escaped like Go's url.Values.Encode");
	free(q);

	struct notify *n = NULL;
	char *err = NULL;
	struct notify_options none = {"", "", "GET", "GET", 1, 1};
	tap_is_int(notify_new(&none, &n, &err), 0, "no URL: nothing to start");
	tap_ok(n == NULL, "no URL: no notifier");
	notify_service(n, true, "web", &p); /* a NULL notifier is a no-op */
	struct notify_options bad = {"ftp://x", "", "GET", "GET", 1, 1};
	tap_is_int(notify_new(&bad, &n, &err), -EINVAL, "a non-http URL is refused");

	int port = free_port();
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	tap_ok(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 16) == 0,
	       "receiver listens");
	pthread_t th;
	pthread_create(&th, NULL, receiver, NULL);

	char *cu = xasprintf("http://127.0.0.1:%d/create?x=1", port);
	char *ru = xasprintf("http://127.0.0.1:%d/remove", port);
	struct notify_options o = {cu, ru, "GET", "GET", 3, 1};
	tap_is_int(notify_new(&o, &n, &err), 0, "notifier starts");
	notify_service(n, true, "web", &p);
	tap_is_int(wait_served(1), 1, "a create notification is sent");
	tap_ok(strstr(last, "GET /create?x=1&alertIf=") == last,
	       "to the create URL, its query kept");
	tap_ok(strstr(last, "serviceName=web") != NULL, "with the service's parameters");

	/* A failing peer: retried once a second, up to success. */
	pthread_mutex_lock(&mu);
	fail_first = served + 2;
	pthread_mutex_unlock(&mu);
	notify_service(n, false, "web", &p);
	tap_is_int(wait_served(4), 4, "a failed notification is retried until it succeeds");
	tap_ok(strstr(last, "GET /remove?") == last, "the remove URL for a removal");
	notify_free(n);
	free(cu);
	free(ru);
	params_done(&p);
	free(err);
	shutdown(lfd, SHUT_RDWR);
	close(lfd);
	pthread_join(th, NULL);
	return tap_done();
}
