/* SPDX-License-Identifier: MIT */
/*
 * testlib: helpers the C tests share: a free loopback port, the test backend (tests/testserver)
 * started on one, leftover files, and the fixtures under tests/fixtures/.
 */
#pragma once

#include "flowproxy/cli.h"
#include "flowproxy/haproxy.h"
#include "flowproxy/loop.h"
#include "flowproxy/util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>

extern char **environ;

/* The contents of tests/fixtures/<name> (NUL-terminated, caller frees); exits the test when it
 * cannot be read. */
__attribute__((unused)) static char *read_fixture(const char *name, size_t *len)
{
	const char *root = getenv("FLOWPROXY_SOURCE_ROOT");
	_cleanup_free_ char *path = xasprintf("%s/tests/fixtures/%s", root ? root : ".", name);
	char *s = NULL;

	if (read_file(path, 64u << 20, &s, len) < 0) {
		printf("not ok - read fixture %s\n", path);
		exit(1);
	}
	return s;
}

__attribute__((unused)) static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int port = 0;

	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &l) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* Starts tests/testserver on 127.0.0.1 and reads its "listening <port>" line. */
__attribute__((unused)) static pid_t testserver_start(const char *name, int *ret_port)
{
	const char *root = getenv("FLOWPROXY_BUILD_ROOT");
	char *path = xasprintf("%s/tests/testserver", root ? root : ".");
	char *argv[] = {path, "--name", (char *)name, "--port", "0", "--addr", "127.0.0.1", NULL};
	posix_spawn_file_actions_t fa;
	char line[64] = "";
	size_t len = 0;
	int fds[2];
	pid_t pid = -1;

	if (pipe2(fds, O_CLOEXEC) < 0)
		abort();
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	if (posix_spawn(&pid, path, &fa, NULL, argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	while (pid > 0 && len < sizeof(line) - 1 && !strchr(line, '\n')) {
		struct pollfd p = {.fd = fds[0], .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, 5000) <= 0)
			break;
		n = read(fds[0], line + len, sizeof(line) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		line[len] = '\0';
	}
	close(fds[0]);
	*ret_port = 0;
	if (str_startswith(line, "listening "))
		*ret_port = (int)strtol(line + 10, NULL, 10);
	free(path);
	return pid;
}

/* Processes whose command line mentions dir (the haproxy and testservers a test started). */
__attribute__((unused)) static int leftovers_in(const char *dir)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d))) {
		char p[300], *cmd = NULL;
		size_t len = 0;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%s/cmdline", e->d_name);
		if (read_file(p, 1 << 16, &cmd, &len) == 0) {
			for (size_t i = 0; i + 1 < len; i++)
				if (!cmd[i])
					cmd[i] = ' ';
			if (len && strstr(cmd, dir))
				n++;
		}
		free(cmd);
	}
	if (d)
		closedir(d);
	return n;
}

/* Waits up to timeout_us for the processes of dir to be gone; returns how many are left. */
__attribute__((unused)) static int wait_no_leftovers(const char *dir, long long timeout_us)
{
	long long t0 = now_usec();

	while (leftovers_in(dir) > 0 && now_usec() - t0 < timeout_us)
		usleep(20000);
	return leftovers_in(dir);
}

/* Removes a test's temporary directory: its files (HAProxy's dot files too), then itself. */
__attribute__((unused)) static void remove_test_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char *p = xasprintf("%s/%s", dir, e->d_name);

		if (e->d_name[0] != '.' || str_startswith(e->d_name, ".haproxy"))
			unlink(p);
		free(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

struct test_cli_wait {
	bool done;
	int r;
	char *reply;
	char *err;
};

static void test_cli_done(void *userdata, const struct cli_result *res)
{
	struct test_cli_wait *w = userdata;

	w->done = true;
	w->r = res->r;
	w->reply = xstrdup(res->reply);
	w->err = xstrdup(res->err);
}

/*
 * One HAProxy CLI command, waited for (tests only: the daemon never waits). Returns cli.h's
 * result code; *ret gets the reply (caller frees), *reterr (may be NULL) the message.
 */
__attribute__((unused)) static int test_cli(const char *sock, const char *cmd, int timeout_ms,
					    char **ret, char **reterr)
{
	struct loop *l = NULL;
	struct test_cli_wait w = {0};

	if (loop_new(&l) < 0)
		abort();
	cli_call(l, sock, cmd, timeout_ms, test_cli_done, &w);
	while (!w.done)
		loop_iterate(l, 100);
	loop_free(l);
	*ret = w.reply;
	if (reterr) {
		free(*reterr);
		*reterr = w.err;
	} else {
		free(w.err);
	}
	return w.r;
}

/* HAProxy's operations report on the loop: these run it until the report (tests only). */
struct test_op_wait {
	bool done;
	int r;
	char *err;
};

__attribute__((unused)) static void test_op_done(void *userdata, int r, const char *err)
{
	struct test_op_wait *w = userdata;

	w->done = true;
	w->r = r;
	free(w->err);
	w->err = xstrdup(err);
}

/* Runs l until w is done (30 s at most); *err gets the message (caller frees). */
__attribute__((unused)) static int test_op_wait(struct loop *l, int started, struct test_op_wait *w,
						char **err)
{
	long long end = now_usec() + 30000000;

	if (started < 0)
		return started;
	while (!w->done && now_usec() < end)
		loop_iterate(l, 100);
	if (!w->done)
		return -ETIMEDOUT;
	free(*err);
	*err = w->err;
	return w->r;
}

__attribute__((unused)) static int test_haproxy_start(struct loop *l, struct haproxy *h,
						      const char *cfg, char **err)
{
	struct test_op_wait w = {0};

	return test_op_wait(l, haproxy_start(h, cfg, strlen(cfg), test_op_done, &w), &w, err);
}

__attribute__((unused)) static int test_haproxy_apply(struct loop *l, struct haproxy *h,
						      const char *cfg, char **err)
{
	struct test_op_wait w = {0};

	return test_op_wait(l, haproxy_apply(h, cfg, strlen(cfg), test_op_done, &w), &w, err);
}

__attribute__((unused)) static int test_haproxy_reload(struct loop *l, struct haproxy *h,
						       char **err)
{
	struct test_op_wait w = {0};

	return test_op_wait(l, haproxy_reload(h, test_op_done, &w), &w, err);
}

__attribute__((unused)) static int test_haproxy_validate(struct loop *l, struct haproxy *h,
							 const char *cfg, char **err)
{
	struct test_op_wait w = {0};

	haproxy_validate(h, cfg, strlen(cfg), test_op_done, &w);
	return test_op_wait(l, 0, &w, err);
}
