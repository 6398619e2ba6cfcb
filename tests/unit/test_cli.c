// SPDX-License-Identifier: MIT
/*
 * Unit tests for cli: a CLI call against a local unix socket that answers, never answers,
 * closes after reading, or is not there; deadlines, cancellation, and that the callback never
 * runs inside cli_call.
 */
#include "flowproxy/cli.h"
#include "flowproxy/loop.h"
#include "flowproxy/util.h"
#include "tap.h"

#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>

enum peer_mode { PEER_ANSWER = 0, PEER_SILENT, PEER_CLOSE, PEER_BIG };

struct peer {
	int lfd;
	enum peer_mode mode;
	char got[256];
};

static void *peer_run(void *arg)
{
	struct peer *p = arg;
	int fd = accept(p->lfd, NULL, NULL);
	size_t n = 0;
	ssize_t k;

	if (fd < 0)
		return NULL;
	/* Read the command up to the client's half-close. */
	while (n < sizeof(p->got) - 1 && (k = read(fd, p->got + n, sizeof(p->got) - 1 - n)) > 0)
		n += (size_t)k;
	p->got[n] = '\0';
	if (p->mode == PEER_ANSWER) {
		if (write(fd, "Pid: 42\n\n", 9) != 9)
			abort();
	} else if (p->mode == PEER_SILENT) {
		sleep(2);
	} else if (p->mode == PEER_BIG) {
		static char buf[1 << 16];
		memset(buf, 'x', sizeof(buf));
		for (int i = 0; i < 64; i++)
			if (write(fd, buf, sizeof(buf)) < 0)
				break;
	}
	close(fd);
	return NULL;
}

struct result {
	int calls;
	int r;
	bool sent;
	char reply[64];
	size_t len;
	long long at;
};

static void on_done(void *userdata, const struct cli_result *res)
{
	struct result *x = userdata;

	x->calls++;
	x->r = res->r;
	x->sent = res->sent;
	x->len = res->len;
	snprintf(x->reply, sizeof(x->reply), "%s", res->reply);
	x->at = now_usec();
}

static void run(struct loop *l, struct result *x, int ms)
{
	long long end = now_usec() + ms * 1000LL;

	while (!x->calls && now_usec() < end)
		loop_iterate(l, 50);
}

static int listen_at(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0)
		abort();
	return fd;
}

int main(void)
{
	char dir[] = "/tmp/fp-cli-XXXXXX";
	struct loop *l = NULL;
	char *path;
	pthread_t th;

	if (!mkdtemp(dir) || loop_new(&l) < 0)
		abort();
	path = xasprintf("%s/cli.sock", dir);

	/* A peer that answers: the reply, the command with its newline, the write side closed. */
	{
		struct peer p = {.lfd = listen_at(path), .mode = PEER_ANSWER};
		struct result x = {0};

		pthread_create(&th, NULL, peer_run, &p);
		cli_call(l, path, "show info", 2000, on_done, &x);
		tap_is_int(x.calls, 0, "the callback never runs inside cli_call");
		run(l, &x, 3000);
		pthread_join(th, NULL);
		tap_is_int(x.calls, 1, "one callback");
		tap_is_int(x.r, 0, "success");
		tap_is_str(x.reply, "Pid: 42\n\n", "the whole reply");
		tap_is_str(p.got, "show info\n", "the command, one line, then the half-close");
		tap_ok(x.sent, "sent");
		close(p.lfd);
	}

	/* A peer that never answers: -ETIMEDOUT at the deadline, not before, not much after. */
	{
		struct peer p = {.lfd = listen_at(path), .mode = PEER_SILENT};
		struct result x = {0};
		long long t0 = now_usec();

		pthread_create(&th, NULL, peer_run, &p);
		cli_call(l, path, "show stat", 300, on_done, &x);
		run(l, &x, 3000);
		tap_is_int(x.r, -ETIMEDOUT, "a silent peer: -ETIMEDOUT");
		tap_ok(x.at - t0 >= 290000 && x.at - t0 < 1000000, "at the deadline (%lld ms)",
		       (x.at - t0) / 1000);
		tap_ok(x.sent, "the command was sent");
		pthread_join(th, NULL);
		close(p.lfd);
	}

	/* Cancelled before it ends: the callback never runs, and the loop keeps no trace. */
	{
		struct peer p = {.lfd = listen_at(path), .mode = PEER_SILENT};
		struct result x = {0};
		struct cli_call *c;

		pthread_create(&th, NULL, peer_run, &p);
		c = cli_call(l, path, "show stat", 300, on_done, &x);
		loop_iterate(l, 20);
		cli_cancel(c);
		run(l, &x, 500);
		tap_is_int(x.calls, 0, "a cancelled call never calls back");
		pthread_join(th, NULL);
		close(p.lfd);
	}

	/* A peer that closes without a word: success with an empty reply (like `reload`). */
	{
		struct peer p = {.lfd = listen_at(path), .mode = PEER_CLOSE};
		struct result x = {0};

		pthread_create(&th, NULL, peer_run, &p);
		cli_call(l, path, "reload", 2000, on_done, &x);
		run(l, &x, 3000);
		pthread_join(th, NULL);
		tap_ok(x.r == 0 && x.len == 0 && x.sent, "a silent close: empty reply, sent");
		close(p.lfd);
	}

	/* Replies are read whole, however many reads they take (4 MiB here). */
	{
		struct peer p = {.lfd = listen_at(path), .mode = PEER_BIG};
		struct result x = {0};

		pthread_create(&th, NULL, peer_run, &p);
		cli_call(l, path, "show stat", 5000, on_done, &x);
		run(l, &x, 6000);
		pthread_join(th, NULL);
		tap_ok(x.r == 0 && x.len == 64u << 16, "a 4 MiB reply read whole (%zu bytes)",
		       x.len);
		close(p.lfd);
	}

	/* No socket, or nobody listening: connect()'s errno, from the loop. */
	{
		struct result x = {0};

		unlink(path);
		cli_call(l, path, "show info", 1000, on_done, &x);
		tap_is_int(x.calls, 0, "a failed connect is reported later, not inside the call");
		run(l, &x, 1000);
		tap_is_int(x.r, -ENOENT, "no socket file: -ENOENT");
		tap_ok(!x.sent, "not sent");

		int fd = listen_at(path);
		close(fd); /* the file stays, nobody listens */
		memset(&x, 0, sizeof(x));
		cli_call(l, path, "show info", 1000, on_done, &x);
		run(l, &x, 1000);
		tap_is_int(x.r, -ECONNREFUSED, "a dead socket file: -ECONNREFUSED");
		unlink(path);

		memset(&x, 0, sizeof(x));
		cli_call(l, path, "two\nlines", 1000, on_done, &x);
		run(l, &x, 1000);
		tap_is_int(x.r, -EINVAL, "a command with a newline is refused");
	}

	loop_free(l);
	rmdir(dir);
	free(path);
	return tap_done();
}
