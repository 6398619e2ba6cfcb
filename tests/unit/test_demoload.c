// SPDX-License-Identifier: MIT
/*
 * demoload against a small HTTP server on the test's own loop (127.0.0.1): the pace, the fast
 * and slow phases (the delays asked for), the concurrency cap, the end after duration_s, and
 * that only loopback addresses are accepted.
 */
#include "flowproxy/demoload.h"
#include "flowproxy/loop.h"
#include "flowproxy/util.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

static int lfd;
static long delays[4096];
static size_t n_delays;
static bool answer = true;

/* The server runs on a thread of its own: its blocking recv must not stall the loop that
 * sends the requests. */
static void *serve(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			return NULL;
		struct timeval tv = {.tv_sec = 2};
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		char buf[1024];
		ssize_t r = recv(c, buf, sizeof(buf) - 1, 0);
		if (r > 0) {
			buf[r] = '\0';
			char *p = strstr(buf, "delay=");
			if (p && n_delays < ARRAY_SIZE(delays))
				delays[n_delays++] = strtol(p + 6, NULL, 10);
		}
		if (__atomic_load_n(&answer, __ATOMIC_ACQUIRE)) {
			static const char ok[] = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";
			if (send(c, ok, sizeof(ok) - 1, MSG_NOSIGNAL) < 0)
				tap_diag("send: %m");
			close(c);
		}
		/* else: leaked on purpose until the end, a backend that never answers */
	}
}

int main(void)
{
	struct loop *l;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	struct demoload *d = NULL;
	char *err = NULL;

	if (loop_new(&l) < 0)
		return 1;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 128) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) < 0)
		return 1;
	pthread_t th;
	if (pthread_create(&th, NULL, serve, NULL) != 0)
		return 1;

	struct demoload_options o = {
		"127.0.0.1", ntohs(sa.sin_port), "/demo", 50, 20, 1, 5, 100, 3};
	struct demoload_options bad = o;
	bad.addr = "10.0.0.1";
	tap_is_int(demoload_new(l, &bad, &d, &err), -EINVAL, "refuses an address off loopback");
	tap_is_str(err, "demo load: '10.0.0.1' is not a loopback address (127.0.0.0/8)",
		   "says why");
	free(err);
	err = NULL;

	tap_is_int(demoload_new(l, &o, &d, &err), 0, "starts");
	long long end = now_usec() + 3500000;
	while (now_usec() < end)
		loop_iterate(l, 50);
	struct demoload_stats st;
	demoload_get_stats(d, &st);
	tap_ok(st.done, "stops by itself after duration_s");
	tap_ok(st.sent >= 120 && st.sent <= 151, "paced at the rate (%llu sent in 3 s at 50/s)",
	       (unsigned long long)st.sent);
	tap_is_int((long long)st.ok, (long long)st.sent, "every request answered 200");
	size_t fast = 0, slow = 0, other = 0;
	for (size_t i = 0; i < n_delays; i++) {
		if (delays[i] == 5)
			fast++;
		else if (delays[i] >= 100 && delays[i] <= 200)
			slow++;
		else
			other++;
	}
	tap_ok(fast >= 60 && slow >= 30 && other == 0,
	       "fast, slow, fast phases of 1 s (%zu fast, %zu slow, %zu other)", fast, slow, other);
	demoload_free(d);

	/* A backend that never answers: the cap holds, the rest fail. */
	__atomic_store_n(&answer, false, __ATOMIC_RELEASE);
	o.concurrency = 5;
	o.duration_s = 1;
	tap_is_int(demoload_new(l, &o, &d, &err), 0, "starts against a stalled backend");
	end = now_usec() + 1200000;
	while (now_usec() < end)
		loop_iterate(l, 50);
	demoload_get_stats(d, &st);
	tap_ok(st.sent == 5 && st.ok == 0 && st.failed >= 40,
	       "at most 'concurrency' in flight (%llu sent, %llu failed)",
	       (unsigned long long)st.sent, (unsigned long long)st.failed);
	demoload_free(d);
	shutdown(lfd, SHUT_RDWR);
	pthread_join(th, NULL);
	close(lfd);
	loop_free(l);
	return tap_done();
}
