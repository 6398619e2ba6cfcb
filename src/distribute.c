// SPDX-License-Identifier: MIT
/*
 * distribute: the fan-out (distribute.h). A call is a lookup of tasks.<SERVICE_NAME>, then one
 * httpc request per address, all at once; the callback runs when the last one is over. Both
 * steps report from the loop, so the callback never runs inside distribute_send.
 */
#include "flowproxy/distribute.h"
#include "flowproxy/httpc.h"
#include "flowproxy/loop.h"
#include "flowproxy/lookup.h"
#include "flowproxy/util.h"

#include <strings.h>

struct distribute {
	struct loop *loop;
	struct lookup *lk;
	struct httpc *httpc;
	char *service_name;
	long port;
	char *token;
	struct distribute_call *calls;
};

struct peer {
	struct distribute_call *call;
	char *addr;
	struct httpc_call *req;
	bool failed;
	char *body;
};

struct distribute_call {
	struct distribute *d;
	char *method;
	char *path;
	struct params query;
	char *body;
	size_t len;
	struct lookup_call *lookup;
	struct peer *peers;
	size_t n_peers, pending;
	struct loop_timer *fail; /* reports a lookup that could not start */
	int fail_r;
	distribute_done_fn cb;
	void *userdata;
	struct distribute_call *prev, *next;
};

char *distribute_lookup_name(const char *service_name)
{
	return xasprintf("tasks.%s", service_name);
}

static void encode(struct strbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			strbuf_append(b, (const char *)p, 1);
		} else {
			char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			strbuf_append(b, e, 3);
		}
	}
}

char *distribute_query(const struct params *q)
{
	struct strbuf b;
	bool forced = false;

	strbuf_init(&b);
	for (size_t i = 0; i < q->n; i++) {
		bool dist = strcasecmp(q->v[i].key, "distribute") == 0;

		if (dist && forced)
			continue;
		if (b.len)
			strbuf_puts(&b, "&");
		if (dist) {
			strbuf_puts(&b, "distribute=false");
			forced = true;
			continue;
		}
		encode(&b, q->v[i].key);
		strbuf_puts(&b, "=");
		encode(&b, q->v[i].value);
	}
	if (!forced)
		strbuf_puts(&b, b.len ? "&distribute=false" : "distribute=false");
	return strbuf_steal(&b);
}

char *distribute_url(const char *ip, long port, const char *path, const struct params *q)
{
	_cleanup_free_ char *query = distribute_query(q);

	return xasprintf("http://%s:%ld%s?%s", ip, port, path, query);
}

char *distribute_lookup_message(const char *service_name)
{
	return xasprintf("Could not perform DNS lookup for tasks.%s. If the proxy is not called "
			 "'proxy', you must set SERVICE_NAME=<name-of-the-proxy> on the proxy "
			 "service.",
			 service_name);
}

char *distribute_failed_message(const char *const *addrs, size_t n)
{
	struct strbuf b;

	strbuf_init(&b);
	strbuf_puts(&b, "Could not send distribute request to the following addresses: [");
	for (size_t i = 0; i < n; i++)
		strbuf_printf(&b, "%s%s", i ? " " : "", addrs[i]);
	strbuf_puts(&b, "]");
	return strbuf_steal(&b);
}

int distribute_new(struct loop *loop, const struct distribute_options *o, struct distribute **ret,
		   char **reterr)
{
	struct distribute *d = xcalloc(1, sizeof(*d));
	int r;

	d->loop = loop;
	if ((r = httpc_new(loop, &d->httpc, reterr)) < 0) {
		free(d);
		return r;
	}
	d->lk = lookup_new(loop);
	d->service_name = xstrdup(o->service_name);
	d->port = o->port;
	d->token = o->token && *o->token ? xstrdup(o->token) : NULL;
	*ret = d;
	return 0;
}

static void call_free(struct distribute_call *c)
{
	struct distribute *d = c->d;

	if (c->prev)
		c->prev->next = c->next;
	else
		d->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	lookup_cancel(c->lookup);
	loop_timer_free(c->fail);
	for (size_t i = 0; i < c->n_peers; i++) {
		httpc_cancel(c->peers[i].req);
		free(c->peers[i].addr);
		free(c->peers[i].body);
	}
	free(c->peers);
	params_done(&c->query);
	free(c->method);
	free(c->path);
	free(c->body);
	free(c);
}

void distribute_cancel(struct distribute_call *c)
{
	if (c)
		call_free(c);
}

void distribute_free(struct distribute *d)
{
	if (!d)
		return;
	while (d->calls)
		call_free(d->calls);
	lookup_free(d->lk);
	httpc_free(d->httpc);
	free(d->service_name);
	free(d->token);
	free(d);
}

/* Reports r (message: DFP's, or NULL) and frees c. */
static void call_report(struct distribute_call *c, int r, const char *message)
{
	const char **addrs = xcalloc(c->n_peers + 1, sizeof(char *));
	const char **bodies = xcalloc(c->n_peers + 1, sizeof(char *));
	const char **failed = xcalloc(c->n_peers + 1, sizeof(char *));
	_cleanup_free_ char *msg = NULL;
	size_t n_failed = 0;

	for (size_t i = 0; i < c->n_peers; i++) {
		addrs[i] = c->peers[i].addr;
		bodies[i] = c->peers[i].body ? c->peers[i].body : "";
		if (c->peers[i].failed)
			failed[n_failed++] = c->peers[i].addr;
	}
	if (r == 0 && n_failed) {
		r = -EREMOTEIO;
		message = msg = distribute_failed_message(failed, n_failed);
	}
	struct distribute_result res = {
		r, message ? message : "", addrs, c->n_peers, bodies, failed, n_failed};
	c->lookup = NULL;
	if (c->cb)
		c->cb(c->userdata, &res);
	free(addrs);
	free(bodies);
	free(failed);
	call_free(c);
}

static void on_answer(void *userdata, const struct httpc_result *res)
{
	struct peer *p = userdata;
	struct distribute_call *c = p->call;

	p->req = NULL;
	p->failed = res->r < 0 || res->status >= 300;
	p->body = xstrndup(res->body, res->len);
	if (--c->pending == 0)
		call_report(c, 0, NULL);
}

static void on_resolved(void *userdata, int r, const char *const *addrs, size_t n, const char *err)
{
	struct distribute_call *c = userdata;
	struct distribute *d = c->d;

	c->lookup = NULL;
	if (r < 0) {
		_cleanup_free_ char *msg = distribute_lookup_message(d->service_name);
		call_report(c, r == -EAGAIN ? -EAGAIN : -ENXIO, msg);
		return;
	}
	c->peers = xcalloc(n, sizeof(*c->peers));
	c->n_peers = n;
	c->pending = n;
	for (size_t i = 0; i < n; i++) {
		struct peer *p = &c->peers[i];
		_cleanup_free_ char *url = distribute_url(addrs[i], d->port, c->path, &c->query);

		p->call = c;
		p->addr = xstrdup(addrs[i]);
		p->req = httpc_request(d->httpc, c->method, url, c->body, c->len, d->token,
				       DISTRIBUTE_TIMEOUT_MS, DISTRIBUTE_REPLY_MAX, on_answer, p);
		if (!p->req) {
			p->failed = true;
			c->pending--;
		}
	}
	if (c->pending == 0)
		call_report(c, 0, NULL);
}

static void on_fail(void *userdata)
{
	struct distribute_call *c = userdata;

	on_resolved(c, c->fail_r, NULL, 0, "");
}

struct distribute_call *distribute_send(struct distribute *d, const char *method, const char *path,
					const struct params *query, const char *body, size_t len,
					distribute_done_fn cb, void *userdata)
{
	struct distribute_call *c = xcalloc(1, sizeof(*c));
	_cleanup_free_ char *name = distribute_lookup_name(d->service_name);
	int r;

	c->d = d;
	c->method = xstrdup(method);
	c->path = xstrdup(path);
	params_init(&c->query);
	params_copy(&c->query, query);
	if (body) {
		c->body = xmalloc(len + 1);
		memcpy(c->body, body, len);
		c->body[len] = '\0';
		c->len = len;
	}
	c->cb = cb;
	c->userdata = userdata;
	c->next = d->calls;
	if (d->calls)
		d->calls->prev = c;
	d->calls = c;
	r = lookup_start(d->lk, name, on_resolved, c, &c->lookup);
	if (r < 0) {
		/* Reported from the loop like any other outcome: a lookup that fails at once. */
		c->lookup = NULL;
		c->fail_r = r;
		c->fail = loop_timer_new(d->loop, on_fail, c);
		loop_timer_after(c->fail, 0);
	}
	return c;
}
