// SPDX-License-Identifier: MIT
/*
 * lookup: getaddrinfo on a detached thread per lookup (lookup.h says why). What the threads
 * and the loop share is `struct lookup_shared`, reference-counted: each running thread and
 * each pending loop_post hold a reference, so that lookup_free may come while lookups still
 * run. A thread never touches a call after handing it over: it puts the finished call on the
 * shared `done` list under the mutex and posts one drain to the loop; the loop thread runs the
 * callbacks and frees the calls. `alive` and `cancelled` are written on the loop thread only.
 */
#include "flowproxy/lookup.h"
#include "flowproxy/loop.h"
#include "flowproxy/util.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>

struct lookup_shared {
	pthread_mutex_t mu;
	unsigned refs;
	bool alive; /* lookup_free not called yet */
	bool posted;
	size_t running;
	struct loop *loop;
	struct lookup_call *done; /* finished, callbacks to run */
};

struct lookup_call {
	struct lookup_shared *sh;
	char *name;
	lookup_done_fn cb;
	void *userdata;
	bool cancelled;
	int r;
	char **addrs;
	size_t n;
	char *err;
	struct lookup_call *next;
};

struct lookup {
	struct lookup_shared *sh;
};

static void shared_unref(struct lookup_shared *sh)
{
	bool last;

	pthread_mutex_lock(&sh->mu);
	last = --sh->refs == 0;
	pthread_mutex_unlock(&sh->mu);
	if (!last)
		return;
	pthread_mutex_destroy(&sh->mu);
	free(sh);
}

static void call_free(struct lookup_call *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->addrs[i]);
	free(c->addrs);
	free(c->name);
	free(c->err);
	free(c);
}

struct lookup *lookup_new(struct loop *loop)
{
	struct lookup *rs = xcalloc(1, sizeof(*rs));

	rs->sh = xcalloc(1, sizeof(*rs->sh));
	pthread_mutex_init(&rs->sh->mu, NULL);
	rs->sh->refs = 1;
	rs->sh->alive = true;
	rs->sh->loop = loop;
	return rs;
}

void lookup_free(struct lookup *rs)
{
	if (!rs)
		return;
	pthread_mutex_lock(&rs->sh->mu);
	rs->sh->alive = false;
	pthread_mutex_unlock(&rs->sh->mu);
	shared_unref(rs->sh);
	free(rs);
}

static int addr_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* On the lookup's thread: fills c->r, addrs and err. */
static void lookup(struct lookup_call *c)
{
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	int e = getaddrinfo(c->name, NULL, &hints, &res);

	if (e != 0) {
		c->r = e == EAI_NONAME || e == EAI_NODATA || e == EAI_ADDRFAMILY ? -ENXIO
		       : e == EAI_AGAIN						 ? -EAGAIN
										 : -EIO;
		c->err = xasprintf("cannot resolve '%s': %s", c->name,
				   e == EAI_SYSTEM ? strerror(errno) : gai_strerror(e));
		return;
	}
	for (struct addrinfo *ai = res; ai && c->n < LOOKUP_ADDRS_MAX; ai = ai->ai_next) {
		char ip[INET_ADDRSTRLEN];
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ai->ai_addr;

		if (ai->ai_family != AF_INET || !inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip)))
			continue;
		c->addrs = xrealloc(c->addrs, (c->n + 1) * sizeof(char *));
		c->addrs[c->n++] = xstrdup(ip);
	}
	freeaddrinfo(res);
	qsort(c->addrs, c->n, sizeof(char *), addr_cmp);
	size_t k = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (k > 0 && streq(c->addrs[k - 1], c->addrs[i]))
			free(c->addrs[i]);
		else
			c->addrs[k++] = c->addrs[i];
	}
	c->n = k;
	if (c->n == 0) {
		c->r = -ENXIO;
		c->err = xasprintf("cannot resolve '%s': no IPv4 address", c->name);
	}
}

/* On the loop: the callbacks of the finished lookups. */
static void on_drain(void *userdata)
{
	struct lookup_shared *sh = userdata;
	struct lookup_call *list;

	pthread_mutex_lock(&sh->mu);
	list = sh->done;
	sh->done = NULL;
	sh->posted = false;
	pthread_mutex_unlock(&sh->mu);
	/* Oldest first: the list was built by pushing at its head. */
	struct lookup_call *rev = NULL;
	while (list) {
		struct lookup_call *next = list->next;
		list->next = rev;
		rev = list;
		list = next;
	}
	while (rev) {
		struct lookup_call *c = rev;
		rev = c->next;
		/* A callback may call lookup_free: alive is read again for each call. */
		if (sh->alive && !c->cancelled && c->cb)
			c->cb(c->userdata, c->r, (const char *const *)c->addrs, c->n,
			      c->err ? c->err : "");
		call_free(c);
	}
	shared_unref(sh);
}

static void *thread_main(void *arg)
{
	struct lookup_call *c = arg;
	struct lookup_shared *sh = c->sh;

	lookup(c);
	pthread_mutex_lock(&sh->mu);
	sh->running--;
	if (sh->alive) {
		c->next = sh->done;
		sh->done = c;
		if (!sh->posted) {
			sh->posted = true;
			sh->refs++; /* the drain's */
			loop_post(sh->loop, on_drain, sh);
		}
		c = NULL;
	}
	pthread_mutex_unlock(&sh->mu);
	if (c)
		call_free(c);
	shared_unref(sh);
	return NULL;
}

int lookup_start(struct lookup *rs, const char *name, lookup_done_fn cb, void *userdata,
		 struct lookup_call **ret_call)
{
	struct lookup_shared *sh = rs->sh;
	struct lookup_call *c;
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;
	int e;

	if (!name || !*name || strlen(name) > 253)
		return -EINVAL;
	pthread_mutex_lock(&sh->mu);
	if (sh->running >= LOOKUP_INFLIGHT_MAX) {
		pthread_mutex_unlock(&sh->mu);
		return -EAGAIN;
	}
	sh->running++;
	sh->refs++; /* the thread's */
	pthread_mutex_unlock(&sh->mu);
	c = xcalloc(1, sizeof(*c));
	c->sh = sh;
	c->name = xstrdup(name);
	c->cb = cb;
	c->userdata = userdata;
	if (ret_call)
		*ret_call = c;
	/* Signals stay with the loop's thread; the lookup's thread blocks them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	e = pthread_create(&t, &attr, thread_main, c);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		pthread_mutex_lock(&sh->mu);
		sh->running--;
		sh->refs--;
		pthread_mutex_unlock(&sh->mu);
		call_free(c);
		if (ret_call)
			*ret_call = NULL;
		return -e;
	}
	return 0;
}

void lookup_cancel(struct lookup_call *c)
{
	/* The call belongs to its thread or to the drain until its callback would run. */
	if (c)
		c->cancelled = true;
}
