// SPDX-License-Identifier: MIT
/*
 * testserver: a small HTTP/1.1 backend for the integration tests and benchmarks.
 *
 *   testserver --name NAME --port PORT [--addr 127.0.0.1] [--record FILE]
 *
 * A NAME of "@hostname" stands for the host name (a container's, distinct per Swarm task).
 *
 * Port 0 picks a free port. Once listening it prints "listening <port>" on stdout. Every request
 * is answered 200 text/plain with a body that lets tests see what HAProxy forwarded:
 *
 *   name=<NAME> path=<path as received, query included>
 *   <every request header line as received>
 *
 * `/health` answers "ok". `?delay=<ms>` anywhere in the query delays the answer. Keep-alive is
 * supported (wrk can load it); request heads over 64 KiB get 400 and the connection is closed.
 * One thread per connection. Exits on SIGTERM or SIGINT.
 *
 * With --record, the body of every request that has one is appended to FILE as one line (its
 * first RECORD_MAX bytes, CR and LF turned into spaces), before the answer is sent: a test that
 * got the answer finds the line. A webhook receiver for notification tests.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX   (64 * 1024)	      /* request line + headers */
#define BODY_MAX   (16 * 1024 * 1024) /* request bodies are read and dropped */
#define DELAY_MAX  600000	      /* ms */
#define RECORD_MAX (64 * 1024)	      /* bytes of a body kept by --record */

static const char *server_name = "testserver";
static int record_fd = -1;
static pthread_mutex_t record_lock = PTHREAD_MUTEX_INITIALIZER;

struct conn {
	int fd;
	char buf[HEAD_MAX];
	size_t len; /* bytes in buf */
};

static bool send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static void send_simple(int fd, const char *status, const char *body)
{
	char out[512];
	int n = snprintf(out, sizeof(out),
			 "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n%s",
			 status, strlen(body), body);

	send_all(fd, out, (size_t)n);
}

/* Value of the query parameter "delay" in ms, 0 when absent or malformed. */
static long query_delay(const char *path, size_t len)
{
	const char *q = memchr(path, '?', len);
	const char *end = path + len;

	if (!q)
		return 0;
	for (const char *p = q + 1; p < end;) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;

		if (e - p > 6 && memcmp(p, "delay=", 6) == 0) {
			long v = 0;

			for (const char *d = p + 6; d < e; d++) {
				if (*d < '0' || *d > '9')
					return 0;
				v = v * 10 + (*d - '0');
				if (v > DELAY_MAX)
					return DELAY_MAX;
			}
			return v;
		}
		p = e + 1;
	}
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Case-insensitive search for token in a comma-separated header value. */
static bool value_has_token(const char *v, size_t n, const char *token)
{
	size_t tl = strlen(token);

	for (size_t i = 0; i + tl <= n; i++)
		if (strncasecmp(v + i, token, tl) == 0)
			return true;
	return false;
}

/* Appends one recorded body line to the --record file; one write, so lines never mix. */
static void record_body(char *rec, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (rec[i] == '\r' || rec[i] == '\n')
			rec[i] = ' ';
	rec[n] = '\n';
	pthread_mutex_lock(&record_lock);
	if (write(record_fd, rec, n + 1) < 0)
		fprintf(stderr, "testserver: --record: %s\n", strerror(errno));
	pthread_mutex_unlock(&record_lock);
}

/*
 * Reads and drops n body bytes, some of which may already be in c->buf after the head. The
 * first RECORD_MAX go to rec (RECORD_MAX + 1 bytes, or NULL), their count to *ret_kept.
 */
static bool drop_body(struct conn *c, size_t head_len, unsigned long long n, char *rec,
		      size_t *ret_kept)
{
	size_t have = c->len - head_len;
	char tmp[16384];
	size_t kept = 0;

	if (have >= n) {
		if (rec) {
			kept = n < RECORD_MAX ? (size_t)n : RECORD_MAX;
			memcpy(rec, c->buf + head_len, kept);
			*ret_kept = kept;
		}
		memmove(c->buf, c->buf + head_len + n, have - n);
		c->len = have - n;
		return true;
	}
	if (rec) {
		kept = have < RECORD_MAX ? have : RECORD_MAX;
		memcpy(rec, c->buf + head_len, kept);
	}
	n -= have;
	c->len = 0;
	while (n > 0) {
		ssize_t r = recv(c->fd, tmp, n < sizeof(tmp) ? n : sizeof(tmp), 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		if (rec && kept < RECORD_MAX) {
			size_t k = (size_t)r < RECORD_MAX - kept ? (size_t)r : RECORD_MAX - kept;

			memcpy(rec + kept, tmp, k);
			kept += k;
		}
		n -= (unsigned long long)r;
	}
	if (rec)
		*ret_kept = kept;
	return true;
}

/*
 * Handles the request whose head is c->buf[0, head_len) (ending in CRLFCRLF). Returns false
 * when the connection must be closed.
 */
static bool handle_request(struct conn *c, size_t head_len)
{
	const char *head = c->buf;
	const char *eol = strstr(head, "\r\n");
	const char *sp1, *sp2;
	unsigned long long content_length = 0;
	bool keep_alive, http10, chunked = false, conn_close = false, conn_keep = false;
	char *resp, *body;
	size_t body_len, resp_len;
	FILE *f;

	sp1 = memchr(head, ' ', (size_t)(eol - head));
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (!sp1 || !sp2 || sp2 == sp1 + 1) {
		send_simple(c->fd, "400 Bad Request", "bad request line\n");
		return false;
	}
	http10 = (size_t)(eol - sp2 - 1) == 8 && memcmp(sp2 + 1, "HTTP/1.0", 8) == 0;

	f = open_memstream(&body, &body_len);
	if (!f)
		return false;
	fprintf(f, "name=%s path=%.*s\n", server_name, (int)(sp2 - sp1 - 1), sp1 + 1);
	for (const char *l = eol + 2; l < head + head_len - 2;) {
		const char *e = strstr(l, "\r\n");
		size_t n = (size_t)(e - l);
		const char *colon = memchr(l, ':', n);

		fprintf(f, "%.*s\n", (int)n, l);
		if (colon) {
			size_t kl = (size_t)(colon - l);
			const char *v = colon + 1;
			size_t vl = (size_t)(e - v);

			if (kl == 14 && strncasecmp(l, "Content-Length", 14) == 0)
				content_length = strtoull(v, NULL, 10);
			else if (kl == 17 && strncasecmp(l, "Transfer-Encoding", 17) == 0)
				chunked = value_has_token(v, vl, "chunked");
			else if (kl == 10 && strncasecmp(l, "Connection", 10) == 0) {
				conn_close = value_has_token(v, vl, "close");
				conn_keep = value_has_token(v, vl, "keep-alive");
			}
		}
		l = e + 2;
	}
	fclose(f);

	if (chunked || content_length > BODY_MAX) {
		free(body);
		send_simple(c->fd, "400 Bad Request", "unsupported request body\n");
		return false;
	}
	char *rec = record_fd >= 0 && content_length > 0 ? malloc(RECORD_MAX + 1) : NULL;
	size_t rec_len = 0;

	if (!drop_body(c, head_len, content_length, rec, &rec_len)) {
		free(rec);
		free(body);
		return false;
	}
	if (rec)
		record_body(rec, rec_len);
	free(rec);

	long delay = query_delay(sp1 + 1, (size_t)(sp2 - sp1 - 1));
	size_t plen = (size_t)(sp2 - sp1 - 1);
	const char *qm = memchr(sp1 + 1, '?', plen);
	size_t path_only = qm ? (size_t)(qm - sp1 - 1) : plen;

	if (delay > 0)
		sleep_ms(delay);
	if (path_only == 7 && memcmp(sp1 + 1, "/health", 7) == 0) {
		free(body);
		body = strdup("ok");
		if (!body)
			return false;
		body_len = 2;
	}

	keep_alive = http10 ? conn_keep : !conn_close;
	f = open_memstream(&resp, &resp_len);
	if (!f) {
		free(body);
		return false;
	}
	fprintf(f,
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
		"Connection: %s\r\n\r\n",
		body_len, keep_alive ? "keep-alive" : "close");
	fwrite(body, 1, body_len, f);
	fclose(f);
	free(body);
	bool ok = send_all(c->fd, resp, resp_len);

	free(resp);
	return ok && keep_alive;
}

static void *conn_thread(void *arg)
{
	struct conn *c = arg;

	for (;;) {
		char *end = NULL;

		/* A whole head may already be buffered (pipelining). */
		if (c->len >= 4) {
			c->buf[c->len < HEAD_MAX ? c->len : HEAD_MAX - 1] = '\0';
			end = strstr(c->buf, "\r\n\r\n");
		}
		if (end) {
			if (!handle_request(c, (size_t)(end - c->buf) + 4))
				break;
			continue;
		}
		if (c->len >= HEAD_MAX - 1) {
			send_simple(c->fd, "400 Bad Request", "request head too large\n");
			break;
		}
		ssize_t n = recv(c->fd, c->buf + c->len, HEAD_MAX - 1 - c->len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		c->len += (size_t)n;
	}
	close(c->fd);
	free(c);
	return NULL;
}

static void *accept_thread(void *arg)
{
	int lfd = *(int *)arg;
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		struct conn *c;
		pthread_t t;
		int one = 1;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOMEM ||
			    errno == ENOBUFS)
				sleep_ms(10);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = malloc(sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->len = 0;
		if (pthread_create(&t, &attr, conn_thread, c) != 0) {
			close(fd);
			free(c);
			sleep_ms(10);
		}
	}
	return NULL;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: testserver --name NAME --port PORT [--addr 127.0.0.1] [--record FILE]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1";
	long port = -1;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t salen = sizeof(sa);
	sigset_t set;
	pthread_t t;
	int lfd, one = 1, sig;

	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--name") == 0) {
			server_name = argv[++i];
			if (strcmp(server_name, "@hostname") == 0) {
				static char host[256];

				if (gethostname(host, sizeof(host) - 1) == 0)
					server_name = host;
			}
		} else if (strcmp(argv[i], "--port") == 0) {
			char *end;

			errno = 0;
			port = strtol(argv[++i], &end, 10);
			if (errno || *end || port < 0 || port > 65535)
				usage();
		} else if (strcmp(argv[i], "--addr") == 0) {
			addr = argv[++i];
		} else if (strcmp(argv[i], "--record") == 0) {
			const char *file = argv[++i];

			record_fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
			if (record_fd < 0) {
				fprintf(stderr, "testserver: %s: %s\n", file, strerror(errno));
				return 1;
			}
		} else {
			usage();
		}
	}
	if (port < 0)
		usage();

	/* SIGTERM/SIGINT are taken by sigwait below; every thread inherits the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	sa.sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "testserver: bad address '%s'\n", addr);
		return 2;
	}
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1024) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0) {
		fprintf(stderr, "testserver: %s:%ld: %s\n", addr, port, strerror(errno));
		return 1;
	}
	if (pthread_create(&t, NULL, accept_thread, &lfd) != 0) {
		fprintf(stderr, "testserver: pthread_create failed\n");
		return 1;
	}
	printf("listening %u\n", (unsigned)ntohs(sa.sin_port));
	fflush(stdout);

	while (sigwait(&set, &sig) != 0)
		;
	_exit(0);
}
