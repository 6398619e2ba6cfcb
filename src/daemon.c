// SPDX-License-Identifier: MIT
/*
 * daemon: the batch of pending operations and the apply pipeline (registry copy -> render ->
 * haproxy_apply -> keep or drop), on the loop (loop.h). Single-threaded: every caller (the HTTP
 * API, the provider, local mode) runs on the same loop, so nothing here needs a lock.
 */
#include "flowproxy/daemon.h"
#include "flowproxy/haproxy.h"
#include "flowproxy/labels.h"
#include "flowproxy/log.h"
#include "flowproxy/loop.h"
#include "flowproxy/metrics.h"
#include "flowproxy/render.h"
#include "flowproxy/slots.h"
#include "flowproxy/stats.h"
#include "flowproxy/telemetry.h"

#include <sys/stat.h>

struct op {
	enum daemon_op_kind kind;
	struct service *svc; /* PUT */
	char **addrs;
	size_t n_addrs;
	char *name;	 /* service name (PUT, REMOVE, RUNTIME) */
	char **commands; /* RUNTIME */
	size_t n_commands;
	daemon_done_fn done;
	void *userdata;
	bool found;
};

struct daemon {
	const struct config *cfg;
	struct loop *loop;
	struct render *render;
	struct haproxy *haproxy;
	struct loop_io *haproxy_io;
	struct registry reg;
	char *current_cfg;
	bool initialized;
	bool started;
	struct op *pending;
	size_t n_pending;
	struct loop_timer *flush_timer; /* armed when operations are pending */
	struct metrics *metrics;	/* NULL when telemetry is off */
	struct telemetry *telemetry;	/* NULL when telemetry is off */
	struct loop_timer *stats_timer;
	char *stats_socket;
	struct params rejected; /* service name -> why it is not applied (nobody else was told) */
};

static void on_flush(void *userdata)
{
	daemon_flush(userdata);
}

int daemon_new(struct loop *loop, const struct config *cfg, struct daemon **ret, char **reterr)
{
	struct daemon *d = xcalloc(1, sizeof(*d));
	int r;

	d->cfg = cfg;
	d->loop = loop;
	d->stats_socket = xasprintf("%s/stats.sock", cfg->run_dir);
	d->flush_timer = loop_timer_new(loop, on_flush, d);
	registry_init(&d->reg);
	params_init(&d->rejected);
	d->current_cfg = xstrdup("");
	r = render_new(cfg->templates_path, cfg->cfg_template_path, &d->render, reterr);
	if (r < 0) {
		daemon_free(d);
		return r;
	}
	*ret = d;
	return 0;
}

static void op_done(struct op *o)
{
	for (size_t i = 0; i < o->n_commands; i++)
		free(o->commands[i]);
	free(o->commands);
	service_free(o->svc);
	for (size_t i = 0; i < o->n_addrs; i++)
		free(o->addrs[i]);
	free(o->addrs);
	free(o->name);
}

void daemon_free(struct daemon *d)
{
	if (!d)
		return;
	telemetry_free(d->telemetry);
	metrics_free(d->metrics);
	loop_timer_free(d->stats_timer);
	loop_timer_free(d->flush_timer);
	free(d->stats_socket);
	loop_io_free(d->haproxy_io);
	haproxy_free(d->haproxy);
	for (size_t i = 0; i < d->n_pending; i++)
		op_done(&d->pending[i]);
	free(d->pending);
	registry_done(&d->reg);
	params_done(&d->rejected);
	render_free(d->render);
	free(d->current_cfg);
	free(d);
}

void daemon_submit(struct daemon *d, enum daemon_op_kind kind, struct service *svc,
		   const char *const *addrs, size_t n_addrs, const char *name, daemon_done_fn done,
		   void *userdata)
{
	struct op *o;

	d->pending = xrealloc(d->pending, (d->n_pending + 1) * sizeof(*d->pending));
	o = &d->pending[d->n_pending++];
	memset(o, 0, sizeof(*o));
	o->kind = kind;
	o->svc = svc;
	o->addrs = xcalloc(n_addrs ? n_addrs : 1, sizeof(char *));
	for (size_t i = 0; i < n_addrs; i++)
		o->addrs[i] = xstrdup(addrs[i]);
	o->n_addrs = n_addrs;
	o->name = xstrdup(svc ? svc->name : name);
	o->done = done;
	o->userdata = userdata;
	/* Everything submitted in this round of the loop goes into one batch. */
	if (!loop_timer_armed(d->flush_timer))
		loop_timer_after(d->flush_timer, 0);
}

void daemon_submit_runtime(struct daemon *d, const char *name, const char *const *addrs,
			   size_t n_addrs, char *const *commands, size_t n_commands)
{
	daemon_submit(d, DAEMON_OP_RUNTIME, NULL, addrs, n_addrs, name, NULL, NULL);
	struct op *o = &d->pending[d->n_pending - 1];
	o->commands = xcalloc(n_commands ? n_commands : 1, sizeof(char *));
	for (size_t i = 0; i < n_commands; i++)
		o->commands[i] = xstrdup(commands[i]);
	o->n_commands = n_commands;
}

const struct registry *daemon_registry(const struct daemon *d)
{
	return &d->reg;
}

const struct config *daemon_config(const struct daemon *d)
{
	return d->cfg;
}

const char *daemon_current_cfg(const struct daemon *d)
{
	return d->current_cfg;
}

bool daemon_initialized(const struct daemon *d)
{
	return d->initialized;
}

void daemon_labels_ctx(const struct daemon *d, struct labels_ctx *ret)
{
	ret->separator = d->cfg->separator;
	ret->domain_algo = d->cfg->service_domain_algo;
	ret->https_only = d->cfg->https_only;
	ret->users = d->cfg->users;
	ret->users_pass_encrypted = d->cfg->users_pass_encrypted;
}

int daemon_render(const struct daemon *d, const struct registry *reg, struct strbuf *out,
		  char **reterr)
{
	struct render_service *rs = NULL;

	registry_render_services(reg, &rs);
	int r = render_config(d->render, d->cfg, rs, registry_count(reg), out, reterr);
	free(rs);
	return r;
}

/* Tells the metrics which backends exist now, and which thresholds the labels mention. */
static void update_metrics(struct daemon *d)
{
	size_t cap = 0, n = 0, nt = 0;
	char **names = NULL;
	const char **services = NULL;
	uint32_t thresholds[256];

	if (!d->metrics)
		return;
	for (size_t i = 0; i < registry_count(&d->reg); i++)
		cap += registry_at(&d->reg, i)->n_dests;
	names = xcalloc(cap ? cap : 1, sizeof(*names));
	services = xcalloc(cap ? cap : 1, sizeof(*services));
	for (size_t i = 0; i < registry_count(&d->reg); i++) {
		const struct service *s = registry_at(&d->reg, i);
		for (size_t j = 0; j < s->n_dests; j++) {
			char *b = render_backend_name(s, &s->dests[j]);
			if (!b)
				continue;
			names[n] = b;
			services[n++] = s->name;
		}
		nt += labels_resp_time_thresholds(s, thresholds + nt, ARRAY_SIZE(thresholds) - nt);
	}
	metrics_set_backends(d->metrics, (const char *const *)names, services, n, thresholds, nt);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(services);
}

static void after_reload(struct daemon *d)
{
	update_metrics(d);
	if (d->telemetry)
		telemetry_on_reload(d->telemetry, (uint32_t)d->cfg->telemetry_grace_ms);
}

static bool runtime_only(const struct op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ops[i].kind != DAEMON_OP_RUNTIME)
			return false;
	return n > 0;
}

static int apply_runtime(struct daemon *d, const struct op *ops, size_t n, const struct strbuf *cfg,
			 char **reterr)
{
	_cleanup_free_ char *path = xasprintf("%s/haproxy.cfg", d->cfg->configs_path);
	int r;

	for (size_t i = 0; i < n; i++) {
		r = slots_apply(d->stats_socket, ops[i].commands, ops[i].n_commands, 5000, reterr);
		if (r < 0)
			return r;
		log_info("service '%s': %zu server change(s) applied without a reload", ops[i].name,
			 ops[i].n_commands);
	}
	/* The file always carries the live addresses, so that a later reload keeps them. */
	r = write_file_atomic(path, strbuf_str(cfg), cfg->len);
	if (r < 0)
		return errmsg_set(reterr, r, "cannot write '%s': %s", path, strerror(-r));
	return 0;
}

/* Applies ops[0..n) to a copy of the registry; on success the copy becomes the registry. */
static int apply_ops(struct daemon *d, struct op *ops, size_t n, bool force_reload, char **reterr)
{
	struct registry next;
	struct strbuf cfg;
	bool changed = false;
	int r;

	registry_init(&next);
	registry_copy(&next, &d->reg);
	for (size_t i = 0; i < n; i++) {
		struct op *o = &ops[i];
		if (o->kind == DAEMON_OP_PUT) {
			registry_put(&next, service_dup(o->svc), (const char *const *)o->addrs,
				     o->n_addrs);
			changed = true;
		} else if (o->kind == DAEMON_OP_REMOVE) {
			o->found = registry_remove(&next, o->name) > 0;
			changed |= o->found;
		} else if (o->kind == DAEMON_OP_RUNTIME) {
			const struct service *cur = registry_get(&next, o->name);
			if (cur) {
				registry_put(&next, service_dup(cur), (const char *const *)o->addrs,
					     o->n_addrs);
				changed = true;
			}
		}
	}
	if (!changed && !force_reload && d->started) {
		registry_done(&next);
		return 0;
	}
	strbuf_init(&cfg);
	r = daemon_render(d, &next, &cfg, reterr);
	if (r < 0)
		goto out;
	if (d->started && !force_reload && streq(strbuf_str(&cfg), d->current_cfg)) {
		/* Same bytes as what runs: nothing to reload. */
		r = 0;
	} else if (d->started && runtime_only(ops, n)) {
		/* Replicas changed: servers are re-pointed at run time, the file keeps up. */
		r = apply_runtime(d, ops, n, &cfg, reterr);
	} else if (d->started) {
		r = haproxy_apply(d->haproxy, strbuf_str(&cfg), cfg.len, reterr);
		if (r >= 0)
			r = 1;
	} else {
		r = 0; /* before start-up the registry only collects services */
	}
	if (r >= 0) {
		registry_done(&d->reg);
		d->reg = next;
		registry_init(&next);
		free(d->current_cfg);
		d->current_cfg = strbuf_steal(&cfg);
		if (d->started)
			d->initialized = true;
		if (r > 0)
			after_reload(d);
	}
out:
	strbuf_done(&cfg);
	registry_done(&next);
	return r;
}

void daemon_set_rejected(struct daemon *d, const char *name, const char *msg)
{
	if (msg)
		params_set(&d->rejected, name, msg);
	else
		params_remove(&d->rejected, name);
}

const struct params *daemon_rejected(const struct daemon *d)
{
	return &d->rejected;
}

static void op_finish(struct daemon *d, struct op *o, int status, const char *msg)
{
	if (o->done) {
		o->done(o->userdata, status, msg, o->found);
	} else if (status != 200) {
		log_error("%s", msg);
		if (o->name && o->kind == DAEMON_OP_PUT)
			daemon_set_rejected(d, o->name, msg);
	}
	if (status == 200 && o->name && (o->kind == DAEMON_OP_PUT || o->kind == DAEMON_OP_REMOVE))
		daemon_set_rejected(d, o->name, NULL);
}

static int status_for(int r)
{
	/* HAProxy rejected what the parameters produced: the request is at fault. */
	return r == -EINVAL ? 400 : 500;
}

void daemon_flush(struct daemon *d)
{
	struct op *ops = d->pending;
	size_t n = d->n_pending;
	bool reload = false;
	_cleanup_free_ char *err = NULL;
	int r;

	if (n == 0)
		return;
	d->pending = NULL;
	d->n_pending = 0;
	for (size_t i = 0; i < n; i++)
		reload |= ops[i].kind == DAEMON_OP_RELOAD;

	long long t0 = now_usec();
	r = apply_ops(d, ops, n, reload, &err);
	if (r >= 0) {
		log_debug("applied %zu operation(s) in %lld us", n, now_usec() - t0);
		for (size_t i = 0; i < n; i++)
			op_finish(d, &ops[i], 200, "");
	} else if (n == 1) {
		_cleanup_free_ char *msg = NULL;
		if (ops[0].kind == DAEMON_OP_RELOAD)
			msg = xasprintf("HAProxy reload failed: %s", err ? err : strerror(-r));
		else
			msg = xasprintf("service '%s' was not applied, HAProxy keeps the last good "
					"configuration: %s",
					ops[0].name, err ? err : strerror(-r));
		op_finish(d, &ops[0], status_for(r), msg);
	} else {
		/* Find the culprits: one operation at a time, so the good ones still land. */
		log_warn("a batch of %zu operations was rejected, applying them one by one", n);
		for (size_t i = 0; i < n; i++) {
			_cleanup_free_ char *e1 = NULL;
			int k = apply_ops(d, &ops[i], 1, ops[i].kind == DAEMON_OP_RELOAD, &e1);
			if (k >= 0) {
				op_finish(d, &ops[i], 200, "");
				continue;
			}
			_cleanup_free_ char *msg = xasprintf(
				"service '%s' was not applied, HAProxy keeps the last good "
				"configuration: %s",
				ops[i].name, e1 ? e1 : strerror(-k));
			op_finish(d, &ops[i], status_for(k), msg);
		}
	}
	for (size_t i = 0; i < n; i++)
		op_done(&ops[i]);
	free(ops);
}

static void on_haproxy(void *userdata, uint32_t events)
{
	struct daemon *d = userdata;

	haproxy_process_events(d->haproxy);
}

static int start_haproxy(struct daemon *d, char **reterr)
{
	struct haproxy_options o = {
		.binary = d->cfg->haproxy_bin,
		.config_path = NULL,
		.run_dir = d->cfg->run_dir,
		.timeout_ms = 10000,
	};
	_cleanup_free_ char *path = xasprintf("%s/haproxy.cfg", d->cfg->configs_path);
	int r;

	o.config_path = path;
	if (mkdir(d->cfg->configs_path, 0755) < 0 && errno != EEXIST)
		return errmsg_set(reterr, -errno, "cannot create '%s': %m", d->cfg->configs_path);
	if (mkdir(d->cfg->run_dir, 0755) < 0 && errno != EEXIST)
		return errmsg_set(reterr, -errno, "cannot create '%s': %m", d->cfg->run_dir);
	r = haproxy_new(&o, &d->haproxy, reterr);
	if (r < 0)
		return r;
	r = haproxy_start(d->haproxy, d->current_cfg, strlen(d->current_cfg), reterr);
	if (r >= 0)
		return r;
	if (r != -EINVAL || registry_count(&d->reg) == 0)
		return r;

	/*
	 * A service from the environment or the services file breaks the configuration: find it
	 * with haproxy -c (slow, but only on this path), drop it, start with the others.
	 */
	log_error("HAProxy rejected the start-up configuration: %s",
		  reterr && *reterr ? *reterr : "");
	struct registry good;
	registry_init(&good);
	for (size_t i = 0; i < registry_count(&d->reg); i++) {
		struct registry one;
		struct strbuf cfg;
		_cleanup_free_ char *e = NULL;
		const struct service *s = registry_at(&d->reg, i);

		registry_init(&one);
		registry_put(&one, service_dup(s), NULL, 0);
		strbuf_init(&cfg);
		int k = daemon_render(d, &one, &cfg, &e);
		if (k >= 0)
			k = haproxy_validate(d->haproxy, strbuf_str(&cfg), cfg.len, &e);
		if (k >= 0)
			registry_put(&good, service_dup(s), NULL, 0);
		else {
			log_error("service '%s' skipped: %s", s->name, e ? e : "rejected");
			daemon_set_rejected(d, s->name, e ? e : "rejected");
		}
		strbuf_done(&cfg);
		registry_done(&one);
	}
	registry_done(&d->reg);
	d->reg = good;
	struct strbuf cfg;
	strbuf_init(&cfg);
	r = daemon_render(d, &d->reg, &cfg, reterr);
	if (r >= 0) {
		free(d->current_cfg);
		d->current_cfg = strbuf_steal(&cfg);
		r = haproxy_start(d->haproxy, d->current_cfg, strlen(d->current_cfg), reterr);
	}
	strbuf_done(&cfg);
	return r;
}

static uint64_t now_ms(void)
{
	return (uint64_t)(now_usec() / 1000);
}

static void on_telemetry_line(void *userdata, const struct telemetry_line *l)
{
	struct daemon *d = userdata;

	metrics_record(d->metrics, l, now_ms());
}

static void on_stats_timer(void *userdata)
{
	struct daemon *d = userdata;
	struct stats_table t = {0};
	_cleanup_free_ char *err = NULL;

	loop_timer_after(d->stats_timer, d->cfg->stats_interval * 1000);
	if (stats_poll(d->stats_socket, 2000, &t, &err) < 0) {
		log_debug("show stat: %s", err ? err : "failed");
		return;
	}
	metrics_set_stats(d->metrics, &t);
}

static int start_telemetry(struct daemon *d, char **reterr)
{
	const struct config *c = d->cfg;
	uint32_t slices = (uint32_t)((c->telemetry_window * 1000 + c->telemetry_slice_ms - 1) /
				     c->telemetry_slice_ms);
	int r = metrics_new((uint32_t)c->telemetry_slice_ms, slices, &d->metrics);

	if (r < 0)
		return errmsg_set(reterr, r, "metrics: %s", strerror(-r));
	update_metrics(d);
	r = telemetry_new(d->loop, d->stats_socket, TELEMETRY_RING, on_telemetry_line, d,
			  &d->telemetry);
	if (r < 0)
		return errmsg_set(reterr, r, "telemetry: %s", strerror(-r));
	telemetry_connect(d->telemetry);
	if (c->stats_interval > 0) {
		d->stats_timer = loop_timer_new(d->loop, on_stats_timer, d);
		loop_timer_after(d->stats_timer, 100);
	}
	return 0;
}

const struct haproxy *daemon_haproxy(const struct daemon *d)
{
	return d->haproxy;
}

struct metrics *daemon_metrics(const struct daemon *d)
{
	return d->metrics;
}

struct telemetry *daemon_telemetry(const struct daemon *d)
{
	return d->telemetry;
}

uint64_t daemon_now_ms(void)
{
	return now_ms();
}

int daemon_start(struct daemon *d)
{
	_cleanup_free_ char *err = NULL;
	int r;

	/* Services queued before the start (environment, services file) go in the first config. */
	daemon_flush(d);
	if (!*d->current_cfg) {
		struct strbuf cfg;
		strbuf_init(&cfg);
		r = daemon_render(d, &d->reg, &cfg, &err);
		d->current_cfg = (free(d->current_cfg), strbuf_steal(&cfg));
		if (r < 0) {
			log_error("cannot render the configuration: %s", err);
			return r;
		}
	}
	r = start_haproxy(d, &err);
	if (r < 0) {
		log_error("cannot start HAProxy: %s", err ? err : strerror(-r));
		return r;
	}
	d->started = true;
	d->initialized = true;
	log_info("HAProxy runs with %zu service(s), worker pid %d", registry_count(&d->reg),
		 (int)haproxy_worker_pid(d->haproxy));
	if (d->cfg->telemetry) {
		r = start_telemetry(d, &err);
		if (r < 0) {
			log_error("cannot start telemetry: %s", err ? err : strerror(-r));
			return r;
		}
	}
	if (haproxy_event_fd(d->haproxy) >= 0)
		d->haproxy_io =
			loop_io_add(d->loop, haproxy_event_fd(d->haproxy), EPOLLIN, on_haproxy, d);
	return 0;
}
