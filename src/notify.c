// SPDX-License-Identifier: MIT
/*
 * notify: a queue shared with one sender thread. The loop appends (notify_service) one item per
 * URL; the thread sends the first item that is due, and puts a failed one back with the time of
 * its next attempt, so a failing peer delays nobody else. A newer notification for a service
 * marks its older items cancelled, which ends their retries.
 */
#include "flowproxy/notify.h"
#include "flowproxy/http.h"
#include "flowproxy/log.h"

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* One notification to one URL. */
struct item {
	bool create;
	char *name;
	char *url; /* with the query */
	const char *method;
	const char *base; /* the configured URL, for messages */
	long attempt;
	long long next_at; /* usec: not before (retries) */
	uint64_t gen;	   /* order of notify_service calls */
	struct item *next;
	bool cancelled;
};

struct notify {
	char **create_urls, **remove_urls;
	char **create_methods, **remove_methods;
	size_t n_create, n_remove, n_create_m, n_remove_m;
	long retries, interval_s;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct item *head, *tail;
	uint64_t gen;
	bool stop;
};

static size_t split(const char *csv, char ***ret)
{
	char **v = NULL;
	size_t n = 0;

	while (csv && *csv) {
		size_t len = strcspn(csv, ",");
		while (len && *csv == ' ') {
			csv++;
			len--;
		}
		if (len) {
			v = xrealloc(v, (n + 1) * sizeof(char *));
			v[n++] = xstrndup(csv, len);
		}
		csv += len + (csv[len] == ',');
	}
	*ret = v;
	return n;
}

static void free_v(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void item_free(struct item *it)
{
	if (!it)
		return;
	free(it->name);
	free(it->url);
	free(it);
}

static int cmp_param(const void *a, const void *b)
{
	return strcmp(((const struct param *)a)->key, ((const struct param *)b)->key);
}

/* Go's url.QueryEscape: unreserved bytes kept, space as '+', the rest %XX. */
static void query_escape(struct strbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			strbuf_putc(b, (char)c);
		} else if (c == ' ') {
			strbuf_putc(b, '+');
		} else {
			strbuf_putc(b, '%');
			strbuf_putc(b, hex[c >> 4]);
			strbuf_putc(b, hex[c & 15]);
		}
	}
}

char *notify_query(const struct params *params)
{
	struct param *v = xcalloc(params->n ? params->n : 1, sizeof(*v));
	struct strbuf b;

	memcpy(v, params->v, params->n * sizeof(*v));
	qsort(v, params->n, sizeof(*v), cmp_param);
	strbuf_init(&b);
	for (size_t i = 0; i < params->n; i++) {
		if (i)
			strbuf_putc(&b, '&');
		query_escape(&b, v[i].key);
		strbuf_putc(&b, '=');
		query_escape(&b, v[i].value);
	}
	free(v);
	return strbuf_steal(&b);
}

static void enqueue_locked(struct notify *n, struct item *it)
{
	it->next = NULL;
	if (n->tail)
		n->tail->next = it;
	else
		n->head = it;
	n->tail = it;
}

/* Takes the first item that is due; with none due, *ret_wait_us says how long to wait (-1: no
 * item). Called locked. */
static struct item *take_due_locked(struct notify *n, long long now, long long *ret_wait_us)
{
	struct item *prev = NULL;

	*ret_wait_us = -1;
	for (struct item *it = n->head; it; prev = it, it = it->next) {
		if (it->cancelled || it->next_at <= now) {
			if (prev)
				prev->next = it->next;
			else
				n->head = it->next;
			if (n->tail == it)
				n->tail = prev;
			it->next = NULL;
			return it;
		}
		if (*ret_wait_us < 0 || it->next_at - now < *ret_wait_us)
			*ret_wait_us = it->next_at - now;
	}
	return NULL;
}

/*
 * One attempt. A failure is put back with a due time, so that one slow or failing peer never
 * holds up the notifications of other services.
 */
static void attempt(struct notify *n, struct item *it)
{
	struct strbuf body;
	_cleanup_free_ char *err = NULL;
	int status = 0;

	strbuf_init(&body);
	int r = http_request(it->method, it->url, 10000, &status, &body, &err);
	strbuf_done(&body);
	if (r >= 0 && (status == 200 || (it->create && status == 409))) {
		log_debug("service '%s': notified %s", it->name, it->base);
		item_free(it);
		return;
	}
	if (it->attempt > n->retries || n->interval_s <= 0) {
		log_warn("service '%s': %s notification to %s failed after %ld attempt(s): %s",
			 it->name, it->create ? "create" : "remove", it->base, it->attempt,
			 r < 0 ? err : "unexpected status");
		item_free(it);
		return;
	}
	it->attempt++;
	it->next_at = now_usec() + n->interval_s * 1000000LL;
	pthread_mutex_lock(&n->lock);
	bool superseded = n->stop;
	/* A newer notification for the service arrived while this one was on the wire. */
	for (struct item *q = n->head; q && !superseded; q = q->next)
		superseded = streq(q->name, it->name) && q->gen > it->gen;
	if (superseded)
		item_free(it);
	else
		enqueue_locked(n, it);
	pthread_mutex_unlock(&n->lock);
}

static void *sender(void *arg)
{
	struct notify *n = arg;

	pthread_mutex_lock(&n->lock);
	while (!n->stop) {
		long long wait_us;
		struct item *it = take_due_locked(n, now_usec(), &wait_us);

		if (!it) {
			if (wait_us < 0) {
				pthread_cond_wait(&n->cond, &n->lock);
			} else {
				struct timespec ts;
				clock_gettime(CLOCK_REALTIME, &ts);
				long long ns = ts.tv_nsec + (wait_us % 1000000) * 1000;
				ts.tv_sec += wait_us / 1000000 + ns / 1000000000;
				ts.tv_nsec = ns % 1000000000;
				pthread_cond_timedwait(&n->cond, &n->lock, &ts);
			}
			continue;
		}
		if (it->cancelled) {
			item_free(it);
			continue;
		}
		pthread_mutex_unlock(&n->lock);
		attempt(n, it);
		pthread_mutex_lock(&n->lock);
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

int notify_new(const struct notify_options *o, struct notify **ret, char **reterr)
{
	struct notify *n = xcalloc(1, sizeof(*n));

	n->n_create = split(o->create_urls, &n->create_urls);
	n->n_remove = split(o->remove_urls, &n->remove_urls);
	n->n_create_m = split(o->create_methods, &n->create_methods);
	n->n_remove_m = split(o->remove_methods, &n->remove_methods);
	n->retries = o->retries;
	n->interval_s = o->retry_interval_s;
	for (size_t i = 0; i < n->n_create + n->n_remove; i++) {
		const char *u =
			i < n->n_create ? n->create_urls[i] : n->remove_urls[i - n->n_create];
		if (!str_startswith(u, "http://")) {
			int r = errmsg_set(reterr, -EINVAL,
					   "notification URL '%s' must start with http://", u);
			notify_free(n);
			return r;
		}
	}
	*ret = NULL;
	if (n->n_create + n->n_remove == 0) {
		notify_free(n);
		return 0;
	}
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->cond, NULL);
	if (pthread_create(&n->thread, NULL, sender, n) != 0) {
		free_v(n->create_urls, n->n_create);
		free_v(n->remove_urls, n->n_remove);
		free_v(n->create_methods, n->n_create_m);
		free_v(n->remove_methods, n->n_remove_m);
		free(n);
		return errmsg_set(reterr, -EAGAIN, "cannot start the notification thread");
	}
	*ret = n;
	return 0;
}

void notify_free(struct notify *n)
{
	if (!n)
		return;
	if (n->n_create + n->n_remove > 0 && n->thread) {
		pthread_mutex_lock(&n->lock);
		n->stop = true;
		pthread_cond_signal(&n->cond);
		pthread_mutex_unlock(&n->lock);
		pthread_join(n->thread, NULL);
		while (n->head) {
			struct item *it = n->head;
			n->head = it->next;
			item_free(it);
		}
		pthread_mutex_destroy(&n->lock);
		pthread_cond_destroy(&n->cond);
	}
	free_v(n->create_urls, n->n_create);
	free_v(n->remove_urls, n->n_remove);
	free_v(n->create_methods, n->n_create_m);
	free_v(n->remove_methods, n->n_remove_m);
	free(n);
}

void notify_service(struct notify *n, bool create, const char *name, const struct params *params)
{
	if (!n || (create ? n->n_create : n->n_remove) == 0)
		return;
	_cleanup_free_ char *query = notify_query(params);
	char **urls = create ? n->create_urls : n->remove_urls;
	char **methods = create ? n->create_methods : n->remove_methods;
	size_t nu = create ? n->n_create : n->n_remove;
	size_t nm = create ? n->n_create_m : n->n_remove_m;

	pthread_mutex_lock(&n->lock);
	/* A newer notification for the service supersedes what is queued or being retried. */
	for (struct item *q = n->head; q; q = q->next)
		if (streq(q->name, name))
			q->cancelled = true;
	n->gen++;
	for (size_t i = 0; i < nu; i++) {
		struct item *it = xcalloc(1, sizeof(*it));
		it->gen = n->gen;
		it->create = create;
		it->name = xstrdup(name);
		it->base = urls[i];
		it->method = nm ? methods[i < nm ? i : nm - 1] : "GET";
		it->url = xasprintf("%s%c%s", urls[i], strchr(urls[i], '?') ? '&' : '?', query);
		it->attempt = 1;
		enqueue_locked(n, it);
	}
	pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->lock);
}
