// SPDX-License-Identifier: MIT
/*
 * resolve: getaddrinfo on a detached thread per resolution. The thread owns its copy of the names
 * and one end of a socket pair; it sends one fixed-size answer and exits. The loop owns the other
 * end. Cancelling closes the loop's end: the thread's send then fails (MSG_NOSIGNAL, no SIGPIPE)
 * and it cleans up after itself, so no memory is shared between the two after the start.
 */
#include "flowproxy/resolve.h"
#include "flowproxy/loop.h"
#include "flowproxy/util.h"

#include <netdb.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

struct answer {
	int index; /* the first name that did not resolve, -1 when all did */
	int gai;   /* its getaddrinfo error */
};

struct job {
	char **names;
	size_t n;
	int fd;
};

struct resolve {
	struct loop_io *io;
	int fd;
	char **names;
	size_t n;
	resolve_done_fn cb;
	void *userdata;
};

static char **names_copy(const char *const *names, size_t n)
{
	char **v = xcalloc(n ? n : 1, sizeof(char *));

	for (size_t i = 0; i < n; i++)
		v[i] = xstrdup(names[i]);
	return v;
}

static void names_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static void *job_run(void *arg)
{
	struct job *j = arg;
	struct answer a = {-1, 0};

	for (size_t i = 0; i < j->n && a.index < 0; i++) {
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
		int e = getaddrinfo(j->names[i], NULL, &hints, &res);

		if (e) {
			a.index = (int)i;
			a.gai = e;
		} else {
			freeaddrinfo(res);
		}
	}
	/* Fails with EPIPE once the loop cancelled: nothing to do then. */
	(void)!send(j->fd, &a, sizeof(a), MSG_NOSIGNAL);
	close(j->fd);
	names_free(j->names, j->n);
	free(j);
	return NULL;
}

static void resolve_free(struct resolve *r)
{
	loop_io_free(r->io);
	close(r->fd);
	names_free(r->names, r->n);
	free(r);
}

static void on_answer(void *userdata, uint32_t events)
{
	struct resolve *r = userdata;
	struct answer a;
	ssize_t k = recv(r->fd, &a, sizeof(a), MSG_DONTWAIT);

	if (k < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (k != (ssize_t)sizeof(a))
		r->cb(r->userdata, -EIO, "", "the resolver thread ended without an answer");
	else if (a.index >= 0 && (size_t)a.index < r->n)
		r->cb(r->userdata, -ENXIO, r->names[a.index], gai_strerror(a.gai));
	else
		r->cb(r->userdata, 0, "", "");
	resolve_free(r);
}

struct resolve *resolve_start(struct loop *loop, const char *const *names, size_t n,
			      resolve_done_fn cb, void *userdata, int *ret_r)
{
	int sv[2];
	pthread_attr_t attr;
	pthread_t t;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		*ret_r = -errno;
		return NULL;
	}
	struct resolve *r = xcalloc(1, sizeof(*r));
	struct job *j = xcalloc(1, sizeof(*j));

	r->fd = sv[0];
	r->names = names_copy(names, n);
	r->n = n;
	r->cb = cb;
	r->userdata = userdata;
	j->fd = sv[1];
	j->names = names_copy(names, n);
	j->n = n;
	r->io = loop_io_add(loop, r->fd, EPOLLIN, on_answer, r);
	int e = r->io ? pthread_attr_init(&attr) : ENOMEM;
	if (e == 0) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		/* getaddrinfo needs little stack; the default 8 MiB would only be address space. */
		pthread_attr_setstacksize(&attr, 256 * 1024);
		e = pthread_create(&t, &attr, job_run, j);
		pthread_attr_destroy(&attr);
	}
	if (e != 0) {
		close(j->fd);
		names_free(j->names, j->n);
		free(j);
		resolve_free(r);
		*ret_r = -e;
		return NULL;
	}
	*ret_r = 0;
	return r;
}

void resolve_cancel(struct resolve *r)
{
	if (r)
		resolve_free(r);
}
