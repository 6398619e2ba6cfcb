// SPDX-License-Identifier: MIT
/*
 * autoscaler: the edge around the pure engine (autoscale.c). It owns one entry per service that
 * has policies or was scaled by hand, kept sorted by name and matched against the registry (also
 * sorted) once per tick, so a tick is one pass over the services. Measurements go to the
 * histograms of the service's backends as the running configuration's plan lists them
 * (render.h): one backend is read directly, several are merged into a scratch histogram first.
 */
#include "flowproxy/autoscaler.h"
#include "flowproxy/daemon.h"
#include "flowproxy/histogram.h"
#include "flowproxy/log.h"
#include "flowproxy/loop.h"
#include "flowproxy/metrics.h"
#include "flowproxy/registry.h"
#include "flowproxy/render.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <strings.h>
#include <time.h>

#define HISTORY 8 /* decisions kept per service for the autoscale endpoint */
#define VIEWS	8 /* histogram views per service, one per distinct window its policies use */

struct record {
	long long wall_ms;
	const char *action; /* static */
	long from, to;
	char *reason;
	char *result;
};

struct job;
struct answer;

struct svc {
	char *name;
	uint64_t fingerprint; /* of its alert and scale parameters */
	bool parsed;
	struct autoscale_spec spec;
	char *error; /* limits that do not parse: nothing is decided */
	struct autoscale_state st;
	const char *scaler_kind; /* static, NULL: no scaler knows it */
	long wanted, running;
	struct job *job; /* a scale in flight */
	struct record history[HISTORY];
	size_t history_i, history_n;
	uint64_t n_up, n_down, n_at_limit, n_failed, n_alert;
	bool manual;   /* kept without policies: it was scaled by hand */
	uint64_t seen; /* the last tick that found it in the registry */

	size_t plan_first; /* where its backends were in the plan last time (a hint) */
	/* Its policies' windows, each kept up to date from tick to tick (histogram.h views). */
	struct {
		uint32_t window_ms;
		struct histogram_view *v;
	} views[VIEWS];
	size_t n_views;
};

struct job {
	struct autoscaler *a;
	char *service;
	struct autoscale_decision d;
	char *source;
	bool engine; /* decided by the engine (else a manual call) */
	const struct scaler *scaler;
	void *handle;
	autoscaler_done_fn cb;
	void *userdata;
	struct job *next;
};

struct autoscaler {
	struct loop *loop;
	struct daemon *d;
	const struct scaler_set *scalers;
	struct autoscaler_options o;
	struct loop_timer *timer;
	struct svc **v; /* sorted by name */
	size_t n;
	struct histogram *scratch; /* for services with several backends */
	uint32_t slice_ms, n_slices;
	struct autoscale_limits lim;
	bool acting;
	char *acting_who;
	struct job *jobs;
	struct answer *answers;
	struct loop_timer *answer_timer;
	uint64_t ticks;
	double last_tick_ms; /* how long the last tick took */
};

int autoscaler_parse_mode(const char *s, enum autoscaler_mode *ret)
{
	if (!strcasecmp(s, "on") || !strcasecmp(s, "true"))
		*ret = AUTOSCALER_ON;
	else if (!strcasecmp(s, "dry-run") || !strcasecmp(s, "dryrun"))
		*ret = AUTOSCALER_DRY_RUN;
	else if (!strcasecmp(s, "off") || !strcasecmp(s, "false"))
		*ret = AUTOSCALER_OFF;
	else
		return -EINVAL;
	return 0;
}

const char *autoscaler_mode_name(enum autoscaler_mode m)
{
	switch (m) {
	case AUTOSCALER_ON:
		return "on";
	case AUTOSCALER_DRY_RUN:
		return "dry-run";
	case AUTOSCALER_OFF:
		return "off";
	}
	return "?";
}

const struct scaler *scaler_find(const struct scaler_set *set, const char *service,
				 long *ret_wanted, long *ret_running)
{
	for (size_t i = 0; set && i < set->n; i++) {
		const struct scaler *s = &set->v[i];
		if (s->ops->replicas(s->impl, service, ret_wanted, ret_running) >= 0)
			return s;
	}
	return NULL;
}

static long long wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- services ---------------------------------------------------------------------------- */

static void svc_free(struct svc *s)
{
	if (!s)
		return;
	free(s->name);
	autoscale_spec_done(&s->spec);
	autoscale_state_done(&s->st);
	free(s->error);
	for (size_t i = 0; i < s->n_views; i++)
		histogram_view_free(s->views[i].v);
	for (size_t i = 0; i < HISTORY; i++) {
		free(s->history[i].reason);
		free(s->history[i].result);
	}
	free(s);
}

static size_t svc_index(const struct autoscaler *a, const char *name, bool *found)
{
	size_t lo = 0, hi = a->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(a->v[mid]->name, name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static struct svc *svc_get(struct autoscaler *a, const char *name, bool create)
{
	bool found;
	size_t i = svc_index(a, name, &found);

	if (found)
		return a->v[i];
	if (!create)
		return NULL;
	struct svc *s = xcalloc(1, sizeof(*s));
	s->name = xstrdup(name);
	autoscale_state_init(&s->st);
	a->v = xrealloc(a->v, (a->n + 1) * sizeof(*a->v));
	memmove(&a->v[i + 1], &a->v[i], (a->n - i) * sizeof(*a->v));
	a->v[i] = s;
	a->n++;
	return s;
}

/* (Re)reads s's policies when its parameters changed; logs what is refused, once per change. */
static void svc_refresh(struct autoscaler *a, struct svc *s, const struct service *svc)
{
	uint64_t fp = svc->policy_hash ? svc->policy_hash : params_policy_hash(&svc->raw);
	_cleanup_free_ char *err = NULL;

	if (s->parsed && fp == s->fingerprint)
		return;
	autoscale_spec_done(&s->spec);
	free(s->error);
	s->error = NULL;
	if (s->parsed) {
		/* New policies: their state starts again; the cooldowns are kept. */
		free(s->st.policies);
		s->st.policies = NULL;
		s->st.n_policies = 0;
	}
	s->parsed = true;
	s->fingerprint = fp;
	if (autoscale_parse(&svc->raw, &a->lim, &s->spec, &err) < 0) {
		log_error("autoscale: service '%s': %s: its policies are ignored", s->name, err);
		s->error = TAKE_PTR(err);
		return;
	}
	for (size_t i = 0; i < s->spec.rejected.n; i++)
		log_warn("autoscale: service '%s': %s (ignored)", s->name, s->spec.rejected.v[i]);
}

static void remember(struct svc *s, const char *action, long from, long to, const char *reason,
		     const char *result)
{
	struct record *r = &s->history[s->history_i];

	free(r->reason);
	free(r->result);
	r->wall_ms = wall_ms();
	r->action = action;
	r->from = from;
	r->to = to;
	r->reason = xstrdup(reason ? reason : "");
	r->result = xstrdup(result ? result : "");
	s->history_i = (s->history_i + 1) % HISTORY;
	if (s->history_n < HISTORY)
		s->history_n++;
}

static void notify(struct autoscaler *a, const char *text)
{
	if (a->o.notify)
		a->o.notify(a->o.notify_userdata, text);
}

/* ---- measurements ------------------------------------------------------------------------ */

struct measure_ctx {
	struct autoscaler *a;
	struct svc *s;
	struct histogram *h; /* the service's requests, NULL when it has none */
};

/* Whole milliseconds: "<= T" is "<= floor(T in ms)" for them, exact below 128 ms. */
static uint32_t threshold_ms(const struct autoscale_query *q)
{
	double t = floor(q->threshold_s * 1000.0 + 1e-9);

	return t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

/* A query without a view (a service with more distinct windows than VIEWS). */
static int measure_plain(struct histogram *h, uint64_t now, uint32_t window,
			 const struct autoscale_query *q, struct autoscale_sample *ret)
{
	ret->count = histogram_count(h, now, window);
	if (ret->count == 0)
		return 0;
	switch (q->kind) {
	case AUTOSCALE_RESP_TIME_ABOVE:
	case AUTOSCALE_RESP_TIME_BELOW:
		ret->value = (double)histogram_count_le(h, now, window, threshold_ms(q)) /
			     (double)ret->count;
		break;
	case AUTOSCALE_RESP_TIME_QUANTILE_ABOVE:
	case AUTOSCALE_RESP_TIME_QUANTILE_BELOW:
		ret->value = histogram_quantile(h, now, window, q->fraction) / 1000.0;
		break;
	case AUTOSCALE_RESP_TIME_SERVER_ERROR:
		ret->value = (double)histogram_count_5xx(h, now, window) / (double)ret->count;
		break;
	}
	return 0;
}

static int measure(void *userdata, const struct autoscale_query *q, struct autoscale_sample *ret)
{
	struct measure_ctx *c = userdata;
	uint64_t now = daemon_now_ms();
	uint32_t window = q->window_ms;

	if (!c->h)
		return -ENOENT;
	/*
	 * A query covers whole slices (the current one included): after a cut, only the slices
	 * that began after it, so that no request served before the cut is counted.
	 */
	if (c->s->st.cut_ms) {
		uint64_t cur = now / c->a->slice_ms, cut = c->s->st.cut_ms / c->a->slice_ms;
		uint64_t n = cur > cut ? cur - cut : 0;
		uint64_t max = n * c->a->slice_ms;
		if (window > max)
			window = (uint32_t)max;
		if (window == 0) {
			ret->count = 0;
			return 0;
		}
	}
	/* The policy's own view of its window (by its nominal window: a cut only shortens it). */
	struct histogram_view *v = NULL;
	for (size_t i = 0; i < c->s->n_views && !v; i++)
		if (c->s->views[i].window_ms == q->window_ms)
			v = c->s->views[i].v;
	if (!v && c->s->n_views < VIEWS) {
		v = histogram_view_new();
		c->s->views[c->s->n_views].window_ms = q->window_ms;
		c->s->views[c->s->n_views++].v = v;
	}
	if (!v)
		return measure_plain(c->h, now, window, q, ret);
	histogram_view_set(v, c->h, now, window);
	ret->count = histogram_view_count(v);
	if (ret->count == 0)
		return 0;
	switch (q->kind) {
	case AUTOSCALE_RESP_TIME_ABOVE:
	case AUTOSCALE_RESP_TIME_BELOW:
		ret->value =
			(double)histogram_view_count_le(v, threshold_ms(q)) / (double)ret->count;
		break;
	case AUTOSCALE_RESP_TIME_QUANTILE_ABOVE:
	case AUTOSCALE_RESP_TIME_QUANTILE_BELOW:
		ret->value = histogram_view_quantile(v, q->fraction) / 1000.0;
		break;
	case AUTOSCALE_RESP_TIME_SERVER_ERROR:
		ret->value = (double)histogram_view_count_5xx(v) / (double)ret->count;
		break;
	}
	return 0;
}

/*
 * s's backends in plan (consecutive, render.h): where they were last time when they still start
 * there, else a search of the whole plan. The search is O(backends): done for every service, a
 * tick would be quadratic (5 ms of a 1,000-service tick, bench/bench_autoscale.c).
 */
static size_t plan_backends(const struct render_plan *plan, struct svc *s, size_t *ret_first)
{
	size_t i = s->plan_first, n = 0;

	if (i < plan->n_backends && streq(plan->backends[i].service, s->name) &&
	    (i == 0 || !streq(plan->backends[i - 1].service, s->name))) {
		while (i + n < plan->n_backends && streq(plan->backends[i + n].service, s->name))
			n++;
		*ret_first = i;
		return n;
	}
	n = render_plan_service(plan, s->name, ret_first);
	if (n)
		s->plan_first = *ret_first;
	return n;
}

/* The histogram of s's requests: its one backend's, or its backends' merged into scratch. */
static struct histogram *service_histogram(struct autoscaler *a, struct svc *s)
{
	const struct render_plan *plan = daemon_plan(a->d);
	struct metrics *m = daemon_metrics(a->d);
	size_t first = 0, n;

	if (!plan || !m)
		return NULL;
	n = plan_backends(plan, s, &first);
	if (n == 1)
		return metrics_histogram(m, plan->backends[first].name);
	if (n == 0)
		return NULL;
	histogram_free(a->scratch);
	a->scratch = NULL;
	if (histogram_new(a->slice_ms, a->n_slices, &a->scratch) < 0)
		return NULL;
	for (size_t i = first; i < first + n; i++) {
		struct histogram *h = metrics_histogram(m, plan->backends[i].name);
		if (h)
			histogram_merge(a->scratch, h);
	}
	return a->scratch;
}

/* ---- carrying decisions out -------------------------------------------------------------- */

static const char *limit_word(const struct autoscale_decision *d, const struct autoscale_spec *sp)
{
	return d->from >= sp->max ? "maximum" : "minimum";
}

static void job_free(struct job *j)
{
	free(j->service);
	free(j->source);
	free(j);
}

static void job_unlink(struct autoscaler *a, struct job *j)
{
	for (struct job **p = &a->jobs; *p; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			return;
		}
}

static void on_scaled(void *userdata, int r, long from, long to, const char *message)
{
	struct job *j = userdata;
	struct autoscaler *a = j->a;
	struct svc *s = svc_get(a, j->service, false);
	uint64_t now = daemon_now_ms();
	_cleanup_free_ char *text = NULL;
	int status;

	job_unlink(a, j);
	if (s && s->job == j)
		s->job = NULL;
	if (r >= 0) {
		j->d.from = from;
		j->d.to = to;
		text = xasprintf("flowproxy scaled %s from %ld to %ld replicas (%s)%s%s",
				 j->service, from, to, j->source, j->d.reason[0] ? ": " : "",
				 j->d.reason);
		log_info("autoscale: %s", text + strlen("flowproxy "));
		if (s) {
			autoscale_scaled(&s->st, &j->d, now, false);
			remember(s, autoscale_action_name(j->d.action), from, to, j->d.reason,
				 "scaled");
			if (j->d.action == AUTOSCALE_ACT_UP)
				s->n_up++;
			else
				s->n_down++;
		}
		status = 200;
	} else if (r == -ERANGE) {
		text = xasprintf("flowproxy did not scale %s (%s): %s", j->service, j->source,
				 message);
		log_info("autoscale: %s", text + strlen("flowproxy "));
		if (s) {
			remember(s, "at-limit", from, from, j->d.reason, message);
			s->n_at_limit++;
		}
		status = 409;
	} else {
		text = xasprintf("flowproxy could not scale %s from %ld to %ld replicas (%s): %s",
				 j->service, j->d.from, j->d.to, j->source, message);
		log_error("autoscale: %s", text + strlen("flowproxy "));
		if (s) {
			autoscale_failed(&s->st, &j->d, now);
			remember(s, "failed", j->d.from, j->d.to, j->d.reason, message);
			s->n_failed++;
		}
		status = r == -ENOTSUP ? 409 : 502;
	}
	notify(a, text);
	if (j->cb)
		j->cb(j->userdata, status, text + strlen("flowproxy "), r >= 0 ? from : j->d.from,
		      r >= 0 ? to : j->d.to);
	job_free(j);
}

static struct job *job_new(struct autoscaler *a, struct svc *s, const struct autoscale_decision *d,
			   const char *source, bool engine)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->a = a;
	j->service = xstrdup(s->name);
	j->d = *d;
	j->source = xstrdup(source);
	j->engine = engine;
	j->next = a->jobs;
	a->jobs = j;
	return j;
}

/* Starts an UP or DOWN of d on s. Returns 0, or < 0 (then j is freed, with *reterr). */
static int job_start(struct autoscaler *a, struct svc *s, struct job *j, char **reterr)
{
	long wanted, running;
	const struct scaler *sc = scaler_find(a->scalers, s->name, &wanted, &running);

	if (!sc) {
		job_unlink(a, j);
		job_free(j);
		return errmsg_set(reterr, -ENOENT, "no scaler knows service '%s'", s->name);
	}
	j->scaler = sc;
	j->handle = sc->ops->scale(sc->impl, s->name, j->d.to - j->d.from, s->spec.min, s->spec.max,
				   on_scaled, j, reterr);
	if (!j->handle) {
		job_unlink(a, j);
		job_free(j);
		return -EIO;
	}
	s->job = j;
	return 0;
}

/* One decision of the engine for s. */
static void act(struct autoscaler *a, struct svc *s, const struct autoscale_decision *d)
{
	uint64_t now = daemon_now_ms();
	_cleanup_free_ char *text = NULL;

	switch (d->action) {
	case AUTOSCALE_ACT_NOTHING:
		return;
	case AUTOSCALE_ACT_ALERT:
		text = xasprintf("flowproxy alert on %s: %s", s->name, d->reason);
		log_warn("autoscale: alert on service '%s': %s", s->name, d->reason);
		remember(s, "alert", d->from, d->to, d->reason, "notified");
		s->n_alert++;
		notify(a, text);
		return;
	case AUTOSCALE_ACT_AT_LIMIT:
		text = xasprintf("flowproxy did not scale %s: it is at its %s of %ld replicas: %s",
				 s->name, limit_word(d, &s->spec), d->from, d->reason);
		log_info("autoscale: service '%s' is at its %s of %ld replicas: %s", s->name,
			 limit_word(d, &s->spec), d->from, d->reason);
		remember(s, "at-limit", d->from, d->to, d->reason, "notified");
		s->n_at_limit++;
		notify(a, text);
		return;
	case AUTOSCALE_ACT_UP:
	case AUTOSCALE_ACT_DOWN:
		break;
	}
	if (!a->acting) {
		/* Another replica of flowproxy acts: report only, and let it cool down alike. */
		remember(s, autoscale_action_name(d->action), d->from, d->to, d->reason,
			 a->acting_who ? a->acting_who : "standby");
		autoscale_scaled(&s->st, d, now, true);
		return;
	}
	if (a->o.mode == AUTOSCALER_DRY_RUN) {
		text = xasprintf("flowproxy would scale %s from %ld to %ld replicas (dry run): %s",
				 s->name, d->from, d->to, d->reason);
		log_info("autoscale: %s", text + strlen("flowproxy "));
		remember(s, autoscale_action_name(d->action), d->from, d->to, d->reason, "dry run");
		autoscale_scaled(&s->st, d, now, true);
		notify(a, text);
		return;
	}
	_cleanup_free_ char *err = NULL;
	struct job *j = job_new(a, s, d, "autoscale", true);
	if (job_start(a, s, j, &err) < 0) {
		text = xasprintf("flowproxy could not scale %s from %ld to %ld replicas: %s",
				 s->name, d->from, d->to, err);
		log_error("autoscale: %s", text + strlen("flowproxy "));
		remember(s, "failed", d->from, d->to, d->reason, err);
		s->n_failed++;
		autoscale_failed(&s->st, d, now);
		notify(a, text);
	}
}

struct answer {
	autoscaler_done_fn cb;
	void *userdata;
	int status;
	char *message;
	long from, to;
	struct answer *next;
};

/* Answers that were known at once, given from the loop (never inside autoscaler_scale). */
static void on_answers(void *userdata)
{
	struct autoscaler *a = userdata;

	while (a->answers) {
		struct answer *an = a->answers;
		a->answers = an->next;
		an->cb(an->userdata, an->status, an->message, an->from, an->to);
		free(an->message);
		free(an);
	}
}

static int answer_later(struct autoscaler *a, autoscaler_done_fn cb, void *userdata, int status,
			long from, long to, char *message)
{
	struct answer *an = xcalloc(1, sizeof(*an)), **tail = &a->answers;

	an->cb = cb;
	an->userdata = userdata;
	an->status = status;
	an->message = message;
	an->from = from;
	an->to = to;
	while (*tail)
		tail = &(*tail)->next;
	*tail = an;
	loop_timer_after(a->answer_timer, 0);
	return 0;
}

/* ---- the tick ---------------------------------------------------------------------------- */

static void tick_service(struct autoscaler *a, struct svc *s)
{
	struct autoscale_decision d[4];
	long wanted = 0, running = 0;
	const struct scaler *sc = scaler_find(a->scalers, s->name, &wanted, &running);

	s->scaler_kind = sc ? sc->kind : NULL;
	s->wanted = sc ? wanted : -1;
	s->running = sc ? running : -1;
	if (!sc || s->error || s->spec.n_policies == 0 || s->job)
		return;
	struct measure_ctx ctx = {a, s, service_histogram(a, s)};
	struct autoscale_input in = {wanted,  running, daemon_now_ms(), a->o.min_requests,
				     measure, &ctx};
	size_t n = autoscale_step(&s->spec, &s->st, &in, d, ARRAY_SIZE(d));
	for (size_t i = 0; i < n; i++)
		act(a, s, &d[i]);
}

void autoscaler_tick(struct autoscaler *a)
{
	const struct registry *reg = daemon_registry(a->d);
	size_t n = registry_count(reg);
	long long t0 = now_usec();
	uint64_t tick = ++a->ticks;

	/* The registry and a->v are both sorted by name (strcmp): one walk, no search. */
	for (size_t i = 0, j = 0; i < n; i++) {
		const struct service *svc = registry_at(reg, i);
		int c = 1;
		while (j < a->n && (c = strcmp(a->v[j]->name, svc->name)) < 0)
			j++;
		struct svc *s = j < a->n && c == 0 ? a->v[j] : NULL;
		if (!s) {
			bool has = false;
			for (size_t k = 0; k < svc->raw.n && !has; k++)
				has = !strncasecmp(svc->raw.v[k].key, "alertIf", 7);
			if (!has)
				continue;
			s = svc_get(a, svc->name, true); /* inserted at j */
		}
		j++;
		s->seen = tick;
		svc_refresh(a, s, svc);
		tick_service(a, s);
	}
	/* Services that are gone (a scale in flight keeps its entry until it ends). */
	size_t k = 0;
	for (size_t i = 0; i < a->n; i++) {
		struct svc *s = a->v[i];
		if (s->seen == tick || s->job || (s->manual && registry_get(reg, s->name)))
			a->v[k++] = s;
		else
			svc_free(s);
	}
	a->n = k;
	a->last_tick_ms = (double)(now_usec() - t0) / 1000.0;
}

static void on_timer(void *userdata)
{
	struct autoscaler *a = userdata;

	autoscaler_tick(a);
	loop_timer_after(a->timer, a->o.interval_ms);
}

int autoscaler_new(struct loop *loop, struct daemon *d, const struct scaler_set *scalers,
		   const struct autoscaler_options *o, struct autoscaler **ret, char **reterr)
{
	const struct config *cfg = daemon_config(d);
	struct autoscaler *a;

	if (o->interval_ms < 10)
		return errmsg_set(reterr, -EINVAL, "AUTOSCALE_INTERVAL must be at least 10 ms");
	a = xcalloc(1, sizeof(*a));
	a->loop = loop;
	a->d = d;
	a->scalers = scalers;
	a->o = *o;
	a->acting = true;
	a->slice_ms = (uint32_t)cfg->telemetry_slice_ms;
	a->n_slices = (uint32_t)((cfg->telemetry_window * 1000 + cfg->telemetry_slice_ms - 1) /
				 cfg->telemetry_slice_ms);
	a->lim.slice_ms = a->slice_ms;
	a->lim.max_window_ms = a->slice_ms * a->n_slices;
	a->timer = loop_timer_new(loop, on_timer, a);
	a->answer_timer = loop_timer_new(loop, on_answers, a);
	if (o->mode != AUTOSCALER_OFF)
		loop_timer_after(a->timer, o->interval_ms);
	*ret = a;
	return 0;
}

void autoscaler_free(struct autoscaler *a)
{
	if (!a)
		return;
	while (a->jobs) {
		struct job *j = a->jobs;
		a->jobs = j->next;
		if (j->handle && j->scaler)
			j->scaler->ops->cancel(j->scaler->impl, j->handle);
		if (j->cb)
			j->cb(j->userdata, 503, "flowproxy is stopping", j->d.from, j->d.from);
		job_free(j);
	}
	for (struct answer *an = a->answers; an; an = a->answers) {
		a->answers = an->next;
		an->cb(an->userdata, 503, "flowproxy is stopping", an->from, an->to);
		free(an->message);
		free(an);
	}
	loop_timer_free(a->timer);
	loop_timer_free(a->answer_timer);
	for (size_t i = 0; i < a->n; i++)
		svc_free(a->v[i]);
	free(a->v);
	histogram_free(a->scratch);
	free(a->acting_who);
	free(a);
}

void autoscaler_set_acting(struct autoscaler *a, bool acting, const char *who)
{
	if (a->acting != acting)
		log_info("autoscale: %s", acting ? "this flowproxy acts on services"
						 : "another flowproxy acts on services");
	a->acting = acting;
	free(a->acting_who);
	a->acting_who = who && *who ? xstrdup(who) : NULL;
}

/* ---- manual scales ----------------------------------------------------------------------- */

/* s's spec, parsed now if the service has no policies (the limits still count). */
static bool ensure_spec(struct autoscaler *a, struct svc *s, const struct service *svc)
{
	svc_refresh(a, s, svc);
	return !s->error;
}

long autoscaler_step_of(struct autoscaler *a, const char *service, enum autoscale_dir dir)
{
	const struct service *svc = registry_get(daemon_registry(a->d), service);
	struct autoscale_spec sp = {0};
	long step = 0;

	if (!svc || autoscale_parse(&svc->raw, &a->lim, &sp, NULL) < 0)
		return 0;
	step = dir == AUTOSCALE_UP ? sp.up_by : dir == AUTOSCALE_DOWN ? -sp.down_by : 0;
	autoscale_spec_done(&sp);
	return step;
}

int autoscaler_scale(struct autoscaler *a, const char *service, long delta, const char *source,
		     autoscaler_done_fn cb, void *userdata)
{
	const struct service *svc = registry_get(daemon_registry(a->d), service);
	long wanted = 0, running = 0;
	_cleanup_free_ char *err = NULL;

	if (!cb || delta == 0 || !service)
		return -EINVAL;
	if (!svc)
		return answer_later(a, cb, userdata, 404, 0, 0,
				    xasprintf("service '%s' is not known", service));
	const struct scaler *sc = scaler_find(a->scalers, service, &wanted, &running);
	if (!sc)
		return answer_later(a, cb, userdata, 404, 0, 0,
				    xasprintf("service '%s' has no scaler: it is not a swarm "
					      "service or a services-file entry with replicas",
					      service));
	struct svc *s = svc_get(a, service, true);
	s->manual = true;
	/* Reported at once, not from the next tick only. */
	s->scaler_kind = sc->kind;
	s->wanted = wanted;
	s->running = running;
	if (!ensure_spec(a, s, svc))
		return answer_later(a, cb, userdata, 400, wanted, wanted,
				    xasprintf("service '%s': %s", service, s->error));
	if (s->job)
		return answer_later(a, cb, userdata, 409, wanted, wanted,
				    xasprintf("service '%s' is being scaled already", service));
	struct autoscale_decision d = {0};
	d.action = delta > 0 ? AUTOSCALE_ACT_UP : AUTOSCALE_ACT_DOWN;
	d.from = wanted;
	d.to = wanted + delta;
	if (d.to > s->spec.max)
		d.to = s->spec.max;
	if (d.to < s->spec.min)
		d.to = s->spec.min;
	snprintf(d.reason, sizeof(d.reason), "%s asked for %+ld", source, delta);
	if ((delta > 0 && wanted >= s->spec.max) || (delta < 0 && wanted <= s->spec.min)) {
		char *msg = xasprintf("service '%s' is already at its %s of %ld replicas", service,
				      delta > 0 ? "maximum" : "minimum",
				      delta > 0 ? s->spec.max : s->spec.min);
		log_info("autoscale: %s (%s asked for %+ld)", msg, source, delta);
		remember(s, "at-limit", wanted, wanted, d.reason, msg);
		s->n_at_limit++;
		return answer_later(a, cb, userdata, 409, wanted, wanted, msg);
	}
	if (a->o.mode == AUTOSCALER_DRY_RUN) {
		char *msg = xasprintf("would scale %s from %ld to %ld replicas (dry run): %s",
				      service, d.from, d.to, d.reason);
		log_info("autoscale: %s", msg);
		remember(s, autoscale_action_name(d.action), d.from, d.to, d.reason, "dry run");
		_cleanup_free_ char *text = xasprintf("flowproxy %s", msg);
		notify(a, text);
		return answer_later(a, cb, userdata, 200, d.from, d.to, msg);
	}
	struct job *j = job_new(a, s, &d, source, false);
	j->cb = cb;
	j->userdata = userdata;
	if (job_start(a, s, j, &err) < 0)
		return answer_later(a, cb, userdata, 502, d.from, d.to,
				    xasprintf("could not scale %s: %s", service, err));
	return 0;
}

/* ---- reports ----------------------------------------------------------------------------- */

static cJSON *num_or_null(double v)
{
	return isnan(v) ? cJSON_CreateNull() : cJSON_CreateNumber(v);
}

static void duration_json(cJSON *o, const char *key, uint64_t ms)
{
	cJSON_AddNumberToObject(o, key, (double)ms / 1000.0);
}

static cJSON *svc_json(const struct autoscaler *a, const struct svc *s, uint64_t now)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "service", s->name);
	if (s->scaler_kind)
		cJSON_AddStringToObject(o, "scaler", s->scaler_kind);
	else
		cJSON_AddNullToObject(o, "scaler");
	cJSON *rep = cJSON_AddObjectToObject(o, "replicas");
	cJSON_AddItemToObject(rep, "wanted",
			      s->wanted >= 0 ? cJSON_CreateNumber((double)s->wanted)
					     : cJSON_CreateNull());
	cJSON_AddItemToObject(rep, "running",
			      s->running >= 0 ? cJSON_CreateNumber((double)s->running)
					      : cJSON_CreateNull());
	cJSON_AddBoolToObject(o, "converging", s->st.converging);
	cJSON_AddBoolToObject(o, "scaling", s->job != NULL);
	if (s->error) {
		cJSON_AddStringToObject(o, "error", s->error);
	} else {
		cJSON *lim = cJSON_AddObjectToObject(o, "limits");
		cJSON_AddNumberToObject(lim, "scaleMin", (double)s->spec.min);
		cJSON_AddNumberToObject(lim, "scaleMax", (double)s->spec.max);
		cJSON_AddNumberToObject(lim, "scaleUpBy", (double)s->spec.up_by);
		cJSON_AddNumberToObject(lim, "scaleDownBy", (double)s->spec.down_by);
		duration_json(lim, "scaleUpCooldown", s->spec.up_cooldown_ms);
		duration_json(lim, "scaleDownCooldown", s->spec.down_cooldown_ms);
	}
	if (s->st.scaled_up && now < s->st.last_up_ms + s->spec.up_cooldown_ms)
		duration_json(o, "upCoolingFor", s->st.last_up_ms + s->spec.up_cooldown_ms - now);
	cJSON *pols = cJSON_AddArrayToObject(o, "policies");
	for (size_t i = 0; i < s->spec.n_policies; i++) {
		const struct autoscale_policy *pol = &s->spec.policies[i];
		const struct autoscale_policy_state *ps =
			i < s->st.n_policies ? &s->st.policies[i] : NULL;
		cJSON *p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "key", pol->key);
		cJSON_AddStringToObject(p, "name", pol->name);
		cJSON_AddStringToObject(p, "alertIf", pol->expr);
		cJSON_AddStringToObject(p, "direction", autoscale_dir_name(pol->dir));
		duration_json(p, "alertFor", pol->for_ms);
		cJSON_AddStringToObject(p, "state",
					autoscale_state_name(ps ? ps->state : AUTOSCALE_NO_DATA));
		if (ps && (ps->state == AUTOSCALE_PENDING || ps->state == AUTOSCALE_FIRING))
			duration_json(p, "holdingFor", now - ps->since_ms);
		cJSON *terms = cJSON_AddArrayToObject(p, "terms");
		for (size_t t = 0; t < pol->n_terms; t++) {
			const struct autoscale_term *term = &pol->terms[t];
			cJSON *tj = cJSON_CreateObject();
			static const char *const ops[] = {"and", "or", "unless"};
			if (t)
				cJSON_AddStringToObject(tj, "op", ops[pol->ops[t - 1]]);
			cJSON_AddStringToObject(tj, "shortcut", autoscale_term_name(term->kind));
			duration_json(tj, "window", term->window_ms);
			if (term->kind != AUTOSCALE_RESP_TIME_SERVER_ERROR)
				cJSON_AddNumberToObject(tj, "seconds", term->threshold_s);
			if (term->kind == AUTOSCALE_RESP_TIME_QUANTILE_ABOVE ||
			    term->kind == AUTOSCALE_RESP_TIME_QUANTILE_BELOW)
				cJSON_AddNumberToObject(tj, "quantile", term->fraction);
			else
				cJSON_AddNumberToObject(tj, "fraction", term->fraction);
			cJSON_AddItemToObject(tj, "value", num_or_null(ps ? ps->values[t] : NAN));
			cJSON_AddNumberToObject(tj, "requests", ps ? (double)ps->counts[t] : 0);
			cJSON_AddBoolToObject(tj, "holds",
					      ps && autoscale_term_holds(term, ps->values[t]));
			cJSON_AddItemToArray(terms, tj);
		}
		cJSON_AddItemToArray(pols, p);
	}
	cJSON *rej = cJSON_AddArrayToObject(o, "rejected");
	for (size_t i = 0; i < s->spec.rejected.n; i++)
		cJSON_AddItemToArray(rej, cJSON_CreateString(s->spec.rejected.v[i]));
	cJSON *dec = cJSON_AddArrayToObject(o, "decisions");
	for (size_t k = 0; k < s->history_n; k++) {
		const struct record *r = &s->history[(s->history_i + HISTORY - 1 - k) % HISTORY];
		cJSON *dj = cJSON_CreateObject();
		char when[32];
		time_t secs = (time_t)(r->wall_ms / 1000);
		struct tm tm;
		gmtime_r(&secs, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		cJSON_AddStringToObject(dj, "at", when);
		cJSON_AddStringToObject(dj, "action", r->action);
		cJSON_AddNumberToObject(dj, "from", (double)r->from);
		cJSON_AddNumberToObject(dj, "to", (double)r->to);
		cJSON_AddStringToObject(dj, "reason", r->reason);
		cJSON_AddStringToObject(dj, "result", r->result);
		cJSON_AddItemToArray(dec, dj);
	}
	(void)a;
	return o;
}

cJSON *autoscaler_json(struct autoscaler *a)
{
	cJSON *o = cJSON_CreateObject();
	uint64_t now = daemon_now_ms();

	cJSON_AddStringToObject(o, "mode", autoscaler_mode_name(a->o.mode));
	cJSON_AddNumberToObject(o, "interval", (double)a->o.interval_ms / 1000.0);
	cJSON_AddNumberToObject(o, "minRequests", (double)a->o.min_requests);
	cJSON_AddBoolToObject(o, "acting", a->acting);
	if (a->acting_who)
		cJSON_AddStringToObject(o, "actingReplica", a->acting_who);
	cJSON_AddNumberToObject(o, "ticks", (double)a->ticks);
	cJSON_AddNumberToObject(o, "lastTickMs", a->last_tick_ms);
	cJSON *arr = cJSON_AddArrayToObject(o, "services");
	for (size_t i = 0; i < a->n; i++)
		cJSON_AddItemToArray(arr, svc_json(a, a->v[i], now));
	return o;
}

static void label_value(struct strbuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			strbuf_putc(b, '\\');
		if (*s == '\n') {
			strbuf_puts(b, "\\n");
			continue;
		}
		strbuf_putc(b, *s);
	}
}

void autoscaler_prometheus(struct autoscaler *a, struct strbuf *out)
{
	strbuf_puts(out, "# HELP flowproxy_autoscale_replicas Replicas of a service: wanted by "
			 "its scaler, and serving.\n# TYPE flowproxy_autoscale_replicas gauge\n");
	for (size_t i = 0; i < a->n; i++) {
		const struct svc *s = a->v[i];
		if (s->wanted < 0)
			continue;
		strbuf_puts(out, "flowproxy_autoscale_replicas{service=\"");
		label_value(out, s->name);
		strbuf_printf(out, "\",state=\"wanted\"} %ld\n", s->wanted);
		strbuf_puts(out, "flowproxy_autoscale_replicas{service=\"");
		label_value(out, s->name);
		strbuf_printf(out, "\",state=\"running\"} %ld\n", s->running);
	}
	strbuf_puts(out, "# HELP flowproxy_autoscale_policy_value A policy's measured value (the "
			 "fraction or the quantile in seconds of its shortcut).\n"
			 "# TYPE flowproxy_autoscale_policy_value gauge\n");
	for (size_t i = 0; i < a->n; i++) {
		const struct svc *s = a->v[i];
		for (size_t p = 0; p < s->spec.n_policies && p < s->st.n_policies; p++) {
			const struct autoscale_policy *pol = &s->spec.policies[p];
			for (size_t t = 0; t < pol->n_terms; t++) {
				double v = s->st.policies[p].values[t];
				if (isnan(v))
					continue;
				strbuf_puts(out, "flowproxy_autoscale_policy_value{service=\"");
				label_value(out, s->name);
				strbuf_printf(
					out, "\",policy=\"%s\",term=\"%zu\",shortcut=\"%s\"} %g\n",
					pol->key, t, autoscale_term_name(pol->terms[t].kind), v);
			}
		}
	}
	strbuf_puts(out, "# HELP flowproxy_autoscale_policy_firing 1 while a policy fires, 0 "
			 "otherwise.\n# TYPE flowproxy_autoscale_policy_firing gauge\n");
	for (size_t i = 0; i < a->n; i++) {
		const struct svc *s = a->v[i];
		for (size_t p = 0; p < s->spec.n_policies && p < s->st.n_policies; p++) {
			strbuf_puts(out, "flowproxy_autoscale_policy_firing{service=\"");
			label_value(out, s->name);
			strbuf_printf(out, "\",policy=\"%s\"} %d\n", s->spec.policies[p].key,
				      s->st.policies[p].state == AUTOSCALE_FIRING);
		}
	}
	strbuf_puts(out, "# HELP flowproxy_autoscale_actions_total Scaling actions by kind.\n"
			 "# TYPE flowproxy_autoscale_actions_total counter\n");
	for (size_t i = 0; i < a->n; i++) {
		const struct svc *s = a->v[i];
		const struct {
			const char *k;
			uint64_t v;
		} c[] = {{"up", s->n_up},
			 {"down", s->n_down},
			 {"at-limit", s->n_at_limit},
			 {"failed", s->n_failed},
			 {"alert", s->n_alert}};
		for (size_t k = 0; k < ARRAY_SIZE(c); k++) {
			strbuf_puts(out, "flowproxy_autoscale_actions_total{service=\"");
			label_value(out, s->name);
			strbuf_printf(out, "\",action=\"%s\"} %llu\n", c[k].k,
				      (unsigned long long)c[k].v);
		}
	}
}
