// SPDX-License-Identifier: MIT
/*
 * scalers: local, webhook and docker behind the scaler interface (see scalers.h). A scale in
 * flight is an op; ops that know their outcome at once (local, or a refusal) are answered from
 * a zero timer, the others from their webhook or Docker callback.
 */
#include "flowproxy/scalers.h"
#include "flowproxy/daemon.h"
#include "flowproxy/docker.h"
#include "flowproxy/local.h"
#include "flowproxy/log.h"
#include "flowproxy/loop.h"
#include "flowproxy/provider.h"
#include "flowproxy/registry.h"
#include "flowproxy/webhook.h"

struct override {
	char *service;
	long base;  /* the replicas parameter when the webhook was called */
	long count; /* what the webhook was asked for */
};

struct op {
	struct scalers *s;
	char *service;
	scaler_done_fn cb;
	void *userdata;
	int r;
	long from, to;
	char *message;
	struct webhook_call *call;
	struct docker_req *req;
	struct op *next;
};

struct scalers {
	struct loop *loop;
	struct scalers_options o;
	char *scale_url;
	struct scaler_set set;
	struct loop_timer *timer; /* answers the ops in done */
	struct op *ops;		  /* in flight */
	struct op *done;	  /* known, to be answered from the loop */
	struct override *overrides;
	size_t n_overrides;
};

long scalers_clamp(long current, long delta, long min, long max)
{
	long to = current + delta;

	if (to > max)
		to = max;
	if (to < min)
		to = min;
	return to;
}

static struct op *op_new(struct scalers *s, const char *service, scaler_done_fn cb, void *ud)
{
	struct op *op = xcalloc(1, sizeof(*op));

	op->s = s;
	op->service = xstrdup(service);
	op->cb = cb;
	op->userdata = ud;
	op->next = s->ops;
	s->ops = op;
	return op;
}

static void op_free(struct op *op)
{
	free(op->service);
	free(op->message);
	free(op);
}

static bool op_unlink(struct op **list, struct op *op)
{
	for (struct op **p = list; *p; p = &(*p)->next)
		if (*p == op) {
			*p = op->next;
			return true;
		}
	return false;
}

static void op_answer(struct op *op)
{
	op->cb(op->userdata, op->r, op->from, op->to, op->message ? op->message : "");
	op_free(op);
}

/* The outcome is known: answered from the loop (FIFO). */
static void op_later(struct op *op, int r, long from, long to, char *message)
{
	struct scalers *s = op->s;
	struct op **tail = &s->done;

	op_unlink(&s->ops, op);
	op->r = r;
	op->from = from;
	op->to = to;
	free(op->message);
	op->message = message;
	op->next = NULL;
	while (*tail)
		tail = &(*tail)->next;
	*tail = op;
	loop_timer_after(s->timer, 0);
}

static void on_timer(void *userdata)
{
	struct scalers *s = userdata;

	while (s->done) {
		struct op *op = s->done;
		s->done = op->next;
		op_answer(op);
	}
}

static void cancel(void *impl, void *handle)
{
	struct scalers *s = impl;
	struct op *op = handle;

	if (!op_unlink(&s->ops, op) && !op_unlink(&s->done, op))
		return;
	webhook_cancel(op->call);
	docker_cancel(op->req);
	op_free(op);
}

static char *at_limit(const char *service, long delta, long min, long max)
{
	return xasprintf("service '%s' is already at its %s of %ld replicas", service,
			 delta > 0 ? "maximum" : "minimum", delta > 0 ? max : min);
}

/* ---- local ------------------------------------------------------------------------------- */

static int local_count(void *impl, const char *service, long *ret_wanted, long *ret_running)
{
	struct scalers *s = impl;

	return local_replicas(s->o.local, service, ret_wanted, ret_running);
}

static void *local_do(void *impl, const char *service, long delta, long min, long max,
		      scaler_done_fn cb, void *userdata, char **reterr)
{
	struct scalers *s = impl;
	long wanted = 0;
	char *err = NULL;

	if (local_replicas(s->o.local, service, &wanted, NULL) < 0) {
		errmsg_set(reterr, -ENOENT, "service '%s' has no local replicas", service);
		return NULL;
	}
	struct op *op = op_new(s, service, cb, userdata);
	long to = scalers_clamp(wanted, delta, min, max);
	if (to == wanted)
		op_later(op, -ERANGE, wanted, wanted, at_limit(service, delta, min, max));
	else if (local_scale(s->o.local, service, to, &err) < 0)
		op_later(op, -EIO, wanted, to, err);
	else
		op_later(op, 0, wanted, to, NULL);
	return op;
}

static const struct scaler_ops local_ops = {local_count, local_do, cancel};

/* ---- webhook ----------------------------------------------------------------------------- */

static struct override *override_find(struct scalers *s, const char *service)
{
	for (size_t i = 0; i < s->n_overrides; i++)
		if (streq(s->overrides[i].service, service))
			return &s->overrides[i];
	return NULL;
}

static int webhook_count(void *impl, const char *service, long *ret_wanted, long *ret_running)
{
	struct scalers *s = impl;
	const struct service *svc = registry_get(daemon_registry(s->o.d), service);

	if (!svc || !svc->has_replicas || svc->replicas < 0)
		return -ENOENT;
	long n = svc->replicas;
	struct override *ov = override_find(s, service);
	if (ov && ov->base == svc->replicas)
		n = ov->count; /* the webhook was asked for it; no reconfigure said otherwise */
	if (ret_wanted)
		*ret_wanted = n;
	if (ret_running)
		*ret_running = n;
	return 0;
}

static void on_webhook(void *userdata, const struct webhook_result *res)
{
	struct op *op = userdata;
	struct scalers *s = op->s;

	op->call = NULL;
	if (res->r < 0) {
		op_later(op, -EREMOTEIO, op->from, op->to,
			 xasprintf("scale webhook: %s", res->err));
		return;
	}
	const struct service *svc = registry_get(daemon_registry(s->o.d), op->service);
	struct override *ov = override_find(s, op->service);
	if (!ov) {
		s->overrides = xrealloc(s->overrides, (s->n_overrides + 1) * sizeof(*s->overrides));
		ov = &s->overrides[s->n_overrides++];
		ov->service = xstrdup(op->service);
	}
	ov->base = svc ? svc->replicas : op->from;
	ov->count = op->to;
	op_later(op, 0, op->from, op->to, NULL);
}

/* url with "service=<name>&scale=<±N>" added to its query (the name percent-encoded). */
static char *webhook_url(const char *url, const char *service, long delta)
{
	struct strbuf b;
	const char *hash = strchr(url, '#');
	size_t n = hash ? (size_t)(hash - url) : strlen(url);
	const char *sep = !memchr(url, '?', n)			   ? "?"
			  : url[n - 1] == '?' || url[n - 1] == '&' ? ""
								   : "&";

	strbuf_init(&b);
	strbuf_printf(&b, "%.*s%sservice=", (int)n, url, sep);
	for (const unsigned char *p = (const unsigned char *)service; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			strbuf_putc(&b, (char)*p);
		else
			strbuf_printf(&b, "%%%02X", *p);
	}
	strbuf_printf(&b, "&scale=%ld", delta);
	return strbuf_steal(&b);
}

static void *webhook_do(void *impl, const char *service, long delta, long min, long max,
			scaler_done_fn cb, void *userdata, char **reterr)
{
	struct scalers *s = impl;
	long wanted = 0;

	if (webhook_count(s, service, &wanted, NULL) < 0) {
		errmsg_set(reterr, -ENOENT, "service '%s' has no replicas parameter", service);
		return NULL;
	}
	struct op *op = op_new(s, service, cb, userdata);
	long to = scalers_clamp(wanted, delta, min, max);
	op->from = wanted;
	op->to = to;
	if (to == wanted) {
		op_later(op, -ERANGE, wanted, wanted, at_limit(service, delta, min, max));
		return op;
	}
	_cleanup_free_ char *url = webhook_url(s->scale_url, service, to - wanted);
	char *err = NULL;
	if (webhook_post(s->o.webhook, url, NULL, NULL, on_webhook, op, &op->call, &err) < 0)
		op_later(op, -EIO, wanted, to, xasprintf("scale webhook: %s", err));
	free(err);
	return op;
}

static const struct scaler_ops webhook_ops = {webhook_count, webhook_do, cancel};

/* ---- docker ------------------------------------------------------------------------------ */

static int docker_count(void *impl, const char *service, long *ret_wanted, long *ret_running)
{
	struct scalers *s = impl;

	return provider_replicas(s->o.provider, service, ret_wanted, ret_running);
}

static void on_docker(void *userdata, const struct docker_result *res)
{
	struct op *op = userdata;
	const struct docker_scale *sc = res->scale;
	long from = sc ? sc->old_replicas : op->from;

	op->req = NULL;
	if (res->r >= 0 && sc && sc->warnings)
		log_warn("swarm: scaling service '%s': %s", op->service, sc->warnings);
	if (res->r >= 0)
		op_later(op, 0, from, sc ? sc->new_replicas : op->to, NULL);
	else
		op_later(op, res->r, from, res->r == -ERANGE ? from : op->to, xstrdup(res->err));
}

static void *docker_do(void *impl, const char *service, long delta, long min, long max,
		       scaler_done_fn cb, void *userdata, char **reterr)
{
	struct scalers *s = impl;
	long wanted = 0;

	if (provider_replicas(s->o.provider, service, &wanted, NULL) < 0) {
		errmsg_set(reterr, -ENOENT, "service '%s' is not a labelled swarm service",
			   service);
		return NULL;
	}
	struct op *op = op_new(s, service, cb, userdata);
	op->from = wanted;
	op->to = scalers_clamp(wanted, delta, min, max);
	op->req = docker_scale_service(provider_docker(s->o.provider), service, delta, min, max,
				       on_docker, op);
	if (!op->req)
		op_later(op, -EIO, wanted, op->to, xstrdup("the Docker call could not start"));
	return op;
}

static const struct scaler_ops docker_ops = {docker_count, docker_do, cancel};

/* ---- the set ----------------------------------------------------------------------------- */

int scalers_new(struct loop *loop, const struct scalers_options *o, struct scalers **ret,
		char **reterr)
{
	struct scalers *s;

	if (str_set(o->scale_url)) {
		if (!o->webhook || !o->d)
			return errmsg_set(reterr, -EINVAL, "SCALE_WEBHOOK_URL needs a sender");
		_cleanup_free_ char *err = NULL;
		if (webhook_url_check(o->scale_url, &err) < 0)
			return errmsg_set(reterr, -EINVAL, "SCALE_WEBHOOK_URL: %s", err);
	}
	s = xcalloc(1, sizeof(*s));
	s->loop = loop;
	s->o = *o;
	s->timer = loop_timer_new(loop, on_timer, s);
	if (o->local)
		s->set.v[s->set.n++] = (struct scaler){"local", &local_ops, s};
	if (str_set(o->scale_url)) {
		s->scale_url = xstrdup(o->scale_url);
		s->set.v[s->set.n++] = (struct scaler){"webhook", &webhook_ops, s};
	}
	if (o->provider)
		s->set.v[s->set.n++] = (struct scaler){"docker", &docker_ops, s};
	*ret = s;
	return 0;
}

void scalers_free(struct scalers *s)
{
	if (!s)
		return;
	while (s->ops) {
		struct op *op = s->ops;
		s->ops = op->next;
		webhook_cancel(op->call);
		docker_cancel(op->req);
		op_free(op);
	}
	while (s->done) {
		struct op *op = s->done;
		s->done = op->next;
		op_free(op);
	}
	loop_timer_free(s->timer);
	for (size_t i = 0; i < s->n_overrides; i++)
		free(s->overrides[i].service);
	free(s->overrides);
	free(s->scale_url);
	free(s);
}

const struct scaler_set *scalers_set(const struct scalers *s)
{
	return &s->set;
}
