// SPDX-License-Identifier: MIT
/*
 * listener: the start-up fetches from the Swarm Listener and reload?fromListener
 * (listener.h). One `struct source` per address, with its retry timer and its request in
 * flight. The services of one answer are one `struct fetch`: submitted in one go (the daemon
 * batches what arrives in one loop round: one render, one reload), and counted until the daemon
 * has answered for each. A fetch outlives the listener if it must (its pointer to it cleared),
 * since the daemon's callbacks may come after listener_free.
 */
#include "flowproxy/listener.h"
#include "flowproxy/daemon.h"
#include "flowproxy/httpc.h"
#include "flowproxy/log.h"
#include "flowproxy/loop.h"
#include "flowproxy/query.h"

#include <cjson/cJSON.h>
#include <strings.h>

#define GET_SERVICES	"/v1/docker-flow-swarm-listener/get-services"
#define NOTIFY_SERVICES "/v1/docker-flow-swarm-listener/notify-services"

struct listener;

struct source {
	struct listener *l;
	char *base; /* http://host:port */
	char *get_url;
	long failures; /* in a row */
	bool stopped;  /* given up, or done without REPEAT_RELOAD */
	bool fetched;  /* one answer applied */
	struct loop_timer *timer;
	struct httpc_call *call;
};

struct fetch {
	struct listener *l; /* NULL once the listener is freed */
	char *base;
	size_t pending; /* the daemon's answers still to come, plus one while submitting */
	size_t n, refused, failed;
	struct fetch *prev, *next;
};

struct notify_call {
	struct listener *l;
	listener_notify_fn cb;
	void *userdata;
	size_t pending;
	struct strbuf failed;
	struct loop_timer *later; /* reports a call that sent nothing */
	struct notify_call *prev, *next;
};

struct notify_req {
	struct notify_call *call;
	char *base;
	struct httpc_call *req;
	struct notify_req *next; /* in l->notify_reqs */
	struct notify_req *prev;
};

struct listener {
	struct loop *loop;
	struct daemon *d;
	struct httpc *httpc;
	struct listener_options o;
	struct source *sources;
	size_t n_sources;
	bool initialized;
	struct fetch *fetches;
	struct notify_call *notifies;
	struct notify_req *notify_reqs;
};

/* ---- pure parts --------------------------------------------------------------------------- */

int listener_base_url(const char *address, char **ret, char **reterr)
{
	_cleanup_free_ char *a = NULL;
	const char *h, *port = NULL;
	size_t n;
	long p = LISTENER_PORT_DEFAULT;

	_cleanup_free_ char *shown = xstrdup(address);

	/* Messages show the address with its control bytes as '?'. */
	for (char *c = shown; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	address = shown;
	while (*address == ' ' || *address == '\t')
		address++;
	a = xstrdup(address);
	n = strlen(a);
	while (n && (a[n - 1] == ' ' || a[n - 1] == '\t'))
		a[--n] = '\0';
	while (n && a[n - 1] == '/')
		a[--n] = '\0';
	h = a;
	if (strncasecmp(h, "http://", 7) == 0)
		h += 7;
	else if (strstr(h, "://"))
		return errmsg_set(reterr, -EINVAL,
				  "listener address '%s' must be host[:port] or http://host[:port]",
				  address);
	for (const char *c = h; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f || strchr("/?#@\\\"'", *c))
			return errmsg_set(reterr, -EINVAL,
					  "listener address '%s' must be host[:port] or "
					  "http://host[:port], without a path",
					  address);
	/* An IPv6 literal keeps its colons inside brackets. */
	const char *host_end = h[0] == '[' ? strchr(h, ']') : NULL;
	const char *colon = strrchr(host_end ? host_end : h, ':');
	if (h[0] == '[' && (!host_end || host_end == h + 1))
		return errmsg_set(reterr, -EINVAL, "listener address '%s' has a bad IPv6 literal",
				  address);
	if (colon) {
		port = colon + 1;
		if (parse_long(port, 1, 65535, &p) < 0)
			return errmsg_set(reterr, -EINVAL,
					  "listener address '%s': '%s' is not a port number",
					  address, port);
	}
	size_t host_len = colon ? (size_t)(colon - h) : strlen(h);
	if (host_len == 0)
		return errmsg_set(reterr, -EINVAL, "listener address '%s' has no host", address);
	*ret = xasprintf("http://%.*s:%ld", (int)host_len, h, p);
	return 0;
}

static void params_free_n(struct params *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		params_done(&v[i]);
	free(v);
}

int listener_parse_services(const char *json, size_t len, struct params **ret, size_t *ret_n,
			    char **reterr)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	struct params *v = NULL;
	size_t n = 0;
	const cJSON *it;

	if (!root || !cJSON_IsArray(root)) {
		cJSON_Delete(root);
		return errmsg_set(reterr, -EBADMSG, "get-services: the answer is not a JSON array");
	}
	if (cJSON_GetArraySize(root) > LISTENER_SERVICES_MAX) {
		cJSON_Delete(root);
		return errmsg_set(reterr, -EMSGSIZE, "get-services: more than %d services",
				  LISTENER_SERVICES_MAX);
	}
	cJSON_ArrayForEach(it, root)
	{
		const cJSON *kv;

		if (!cJSON_IsObject(it)) {
			params_free_n(v, n);
			cJSON_Delete(root);
			return errmsg_set(reterr, -EBADMSG,
					  "get-services: service %zu is not a JSON object", n + 1);
		}
		v = xrealloc(v, (n + 1) * sizeof(*v));
		params_init(&v[n]);
		cJSON_ArrayForEach(kv, it)
		{
			char num[32];
			const char *val = NULL;

			if (!kv->string || v[n].n >= QUERY_PARAMS_MAX)
				continue;
			if (cJSON_IsString(kv))
				val = kv->valuestring;
			else if (cJSON_IsBool(kv))
				val = cJSON_IsTrue(kv) ? "true" : "false";
			else if (cJSON_IsNumber(kv)) {
				snprintf(num, sizeof(num), "%.17g", kv->valuedouble);
				val = num;
			}
			if (val)
				params_add(&v[n], kv->string, val);
		}
		n++;
	}
	cJSON_Delete(root);
	*ret = v;
	*ret_n = n;
	return 0;
}

/* ---- fetches ------------------------------------------------------------------------------ */

static void fetch_unlink(struct fetch *f)
{
	if (!f->l)
		return;
	if (f->prev)
		f->prev->next = f->next;
	else
		f->l->fetches = f->next;
	if (f->next)
		f->next->prev = f->prev;
	f->prev = f->next = NULL;
}

/* One answer's services are all dealt with. */
static void fetch_end(struct fetch *f)
{
	struct listener *l = f->l;

	if (l) {
		int lv = l->initialized ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
		log_msg((enum log_level)lv,
			"LISTENER_ADDRESS %s: %zu service(s) applied, %zu refused, %zu not "
			"applied by HAProxy",
			f->base, f->n - f->refused - f->failed, f->refused, f->failed);
		if (!l->initialized)
			log_info(
				"LISTENER_ADDRESS: the first services from the Swarm Listener are in "
				"(successfulinitreload answers 200)");
		l->initialized = true;
		fetch_unlink(f);
	}
	free(f->base);
	free(f);
}

static void on_applied(void *userdata, int status, const char *message, bool found)
{
	struct fetch *f = userdata;

	if (status != 200) {
		f->failed++;
		log_error("LISTENER_ADDRESS %s: %s", f->base, message);
	}
	if (--f->pending == 0)
		fetch_end(f);
}

static void apply(struct source *s, struct params *v, size_t n)
{
	struct listener *l = s->l;
	struct fetch *f = xcalloc(1, sizeof(*f));
	_cleanup_free_ char *src = xasprintf("LISTENER_ADDRESS %s", s->base);

	f->l = l;
	f->base = xstrdup(s->base);
	f->n = n;
	f->pending = 1;
	f->next = l->fetches;
	if (l->fetches)
		l->fetches->prev = f;
	l->fetches = f;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *err = NULL;
		const char *name = params_get(&v[i], "serviceName");

		f->pending++;
		if (daemon_submit_params(l->d, &v[i], src, NULL, 0, on_applied, f, NULL, NULL,
					 &err) < 0) {
			f->pending--;
			f->refused++;
			log_error("%s: service '%s' skipped: %s", src, name ? name : "", err);
			if (str_set(name))
				daemon_set_rejected(l->d, name, err);
		}
	}
	if (--f->pending == 0)
		fetch_end(f);
}

static void fetch_start(struct source *s);

static void on_timer(void *userdata)
{
	fetch_start(userdata);
}

static void on_services(void *userdata, const struct httpc_result *res)
{
	struct source *s = userdata;
	struct listener *l = s->l;
	_cleanup_free_ char *err = NULL;
	struct params *v = NULL;
	size_t n = 0;
	int r = res->r;

	s->call = NULL;
	if (r < 0)
		err = xstrdup(res->err);
	else if (res->status != 200)
		r = errmsg_set(&err, -EREMOTEIO, "GET %s: HTTP %ld", s->get_url, res->status);
	else
		r = listener_parse_services(res->body, res->len, &v, &n, &err);
	if (r >= 0) {
		s->failures = 0;
		s->fetched = true;
		apply(s, v, n);
		params_free_n(v, n);
		if (l->o.repeat && l->o.interval_ms > 0)
			loop_timer_after(s->timer, l->o.interval_ms);
		else
			s->stopped = true;
		return;
	}
	s->failures++;
	if (l->o.interval_ms <= 0 || (l->n_sources > 1 && s->failures >= l->o.attempts)) {
		log_error("LISTENER_ADDRESS %s: %s; no more tries (%ld made)", s->base, err,
			  s->failures);
		s->stopped = true;
		return;
	}
	/* Once per streak at warning level: a listener that is not up yet is common at start. */
	log_msg(s->failures == 1 ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG,
		"LISTENER_ADDRESS %s: %s; trying again every %ld ms (RELOAD_INTERVAL)", s->base,
		err, l->o.interval_ms);
	loop_timer_after(s->timer, l->o.interval_ms);
}

static void fetch_start(struct source *s)
{
	s->call = httpc_request(s->l->httpc, "GET", s->get_url, NULL, 0, NULL, LISTENER_TIMEOUT_MS,
				LISTENER_REPLY_MAX, on_services, s);
	if (!s->call) {
		log_error("LISTENER_ADDRESS %s: cannot request %s", s->base, s->get_url);
		s->stopped = true;
	}
}

int listener_new(struct loop *loop, struct daemon *d, const struct listener_options *o,
		 struct listener **ret, char **reterr)
{
	struct listener *l = xcalloc(1, sizeof(*l));
	_cleanup_free_ char *list = xstrdup(o->addresses ? o->addresses : "");
	char *save = NULL;
	int r;

	l->loop = loop;
	l->d = d;
	l->o = *o;
	l->o.addresses = NULL;
	for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *base = NULL;

		if (!tok[strspn(tok, " \t")])
			continue;
		if (l->n_sources >= LISTENER_ADDRS_MAX) {
			listener_free(l);
			return errmsg_set(reterr, -EMSGSIZE,
					  "LISTENER_ADDRESS: more than %d addresses",
					  LISTENER_ADDRS_MAX);
		}
		if ((r = listener_base_url(tok, &base, reterr)) < 0) {
			listener_free(l);
			return r;
		}
		l->sources = xrealloc(l->sources, (l->n_sources + 1) * sizeof(*l->sources));
		l->sources[l->n_sources++] = (struct source){.l = l, .base = base};
	}
	if (l->n_sources == 0) {
		listener_free(l);
		return errmsg_set(reterr, -EINVAL, "LISTENER_ADDRESS has no address");
	}
	if ((r = httpc_new(loop, &l->httpc, reterr)) < 0) {
		listener_free(l);
		return r;
	}
	for (size_t i = 0; i < l->n_sources; i++) {
		struct source *s = &l->sources[i];

		s->get_url = xasprintf("%s%s", s->base, GET_SERVICES);
		s->timer = loop_timer_new(loop, on_timer, s);
		/* DFP waits one interval before its first fetch; a listener that is up gives the
		 * routing at once here. */
		fetch_start(s);
	}
	*ret = l;
	return 0;
}

bool listener_initialized(const struct listener *l)
{
	return l->initialized;
}

/* ---- notify-services ---------------------------------------------------------------------- */

static void notify_end(struct notify_call *nc)
{
	struct listener *l = nc->l;

	if (nc->prev)
		nc->prev->next = nc->next;
	else
		l->notifies = nc->next;
	if (nc->next)
		nc->next->prev = nc->prev;
	if (nc->cb) {
		if (nc->failed.len) {
			_cleanup_free_ char *msg = xasprintf(
				"Could not notify the Swarm Listener: %s", strbuf_str(&nc->failed));
			nc->cb(nc->userdata, -EREMOTEIO, msg);
		} else {
			nc->cb(nc->userdata, 0, "");
		}
	}
	loop_timer_free(nc->later);
	strbuf_done(&nc->failed);
	free(nc);
}

static void on_notify_later(void *userdata)
{
	notify_end(userdata);
}

static void notify_req_free(struct listener *l, struct notify_req *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else
		l->notify_reqs = q->next;
	if (q->next)
		q->next->prev = q->prev;
	free(q->base);
	free(q);
}

static void on_notified(void *userdata, const struct httpc_result *res)
{
	struct notify_req *q = userdata;
	struct notify_call *nc = q->call;
	struct listener *l = nc->l;

	q->req = NULL;
	if (res->r < 0 || res->status != 200) {
		_cleanup_free_ char *why = res->r < 0 ? xstrdup(res->err)
						      : xasprintf("%s%s: HTTP %ld", q->base,
								  NOTIFY_SERVICES, res->status);
		log_warn("reload?fromListener: %s", why);
		strbuf_printf(&nc->failed, "%s%s", nc->failed.len ? "; " : "", why);
	} else {
		log_info("reload?fromListener: %s resends its services", q->base);
	}
	notify_req_free(l, q);
	if (--nc->pending == 0)
		notify_end(nc);
}

void listener_notify(struct listener *l, listener_notify_fn cb, void *userdata)
{
	struct notify_call *nc = xcalloc(1, sizeof(*nc));

	nc->l = l;
	nc->cb = cb;
	nc->userdata = userdata;
	strbuf_init(&nc->failed);
	nc->pending = 1;
	nc->next = l->notifies;
	if (l->notifies)
		l->notifies->prev = nc;
	l->notifies = nc;
	for (size_t i = 0; i < l->n_sources; i++) {
		struct notify_req *q = xcalloc(1, sizeof(*q));
		_cleanup_free_ char *url = xasprintf("%s%s", l->sources[i].base, NOTIFY_SERVICES);

		q->call = nc;
		q->base = xstrdup(l->sources[i].base);
		q->next = l->notify_reqs;
		if (l->notify_reqs)
			l->notify_reqs->prev = q;
		l->notify_reqs = q;
		nc->pending++;
		q->req = httpc_request(l->httpc, "GET", url, NULL, 0, NULL, LISTENER_TIMEOUT_MS,
				       64 << 10, on_notified, q);
		if (!q->req) {
			strbuf_printf(&nc->failed, "%scannot request %s",
				      nc->failed.len ? "; " : "", url);
			notify_req_free(l, q);
			nc->pending--;
		}
	}
	/* Answered from the loop even when nothing could be sent. */
	if (--nc->pending == 0) {
		nc->later = loop_timer_new(l->loop, on_notify_later, nc);
		loop_timer_after(nc->later, 0);
	}
}

void listener_free(struct listener *l)
{
	if (!l)
		return;
	while (l->notify_reqs) {
		struct notify_req *q = l->notify_reqs;
		httpc_cancel(q->req);
		notify_req_free(l, q);
	}
	while (l->notifies) {
		struct notify_call *nc = l->notifies;
		l->notifies = nc->next;
		loop_timer_free(nc->later);
		strbuf_done(&nc->failed);
		free(nc);
	}
	for (struct fetch *f = l->fetches; f; f = f->next)
		f->l = NULL;
	for (size_t i = 0; i < l->n_sources; i++) {
		httpc_cancel(l->sources[i].call);
		loop_timer_free(l->sources[i].timer);
		free(l->sources[i].base);
		free(l->sources[i].get_url);
	}
	free(l->sources);
	httpc_free(l->httpc);
	free(l);
}
