// SPDX-License-Identifier: MIT
/*
 * daemon: the batch of pending operations and the apply pipeline (registry copy -> render ->
 * haproxy_apply -> keep or drop), on the loop (loop.h). Single-threaded: every caller (the HTTP
 * API, the provider, local mode) runs on the same loop, so nothing here needs a lock.
 *
 * One batch is in flight at a time. Its HAProxy reload (or its run-time server commands) is a
 * call on the loop; operations submitted meanwhile wait in `pending` and form the next batch,
 * applied as soon as the current one ends. A batch that HAProxy rejects is retried one
 * operation at a time, each its own step on the loop.
 */
#include "flowproxy/daemon.h"
#include "flowproxy/certs.h"
#include "flowproxy/haproxy.h"
#include "flowproxy/labels.h"
#include "flowproxy/log.h"
#include "flowproxy/loop.h"
#include "flowproxy/metrics.h"
#include "flowproxy/render.h"
#include "flowproxy/slots.h"
#include "flowproxy/snippets.h"
#include "flowproxy/stats.h"
#include "flowproxy/telemetry.h"

#include <strings.h>
#include <sys/stat.h>

#define DAEMON_RUNTIME_TIMEOUT_MS 5000
#define DAEMON_STATS_TIMEOUT_MS	  2000
/*
 * A reload waits (at most this long) for the previous old worker to be let go by the
 * telemetry follower. Each HAProxy worker holds several MB; through a burst of reloads,
 * workers would pile up faster than they exit and exhaust a small container (20 MB in the
 * Docker Flow Proxy stacks users run). A reload after a quiet moment never waits: the old worker
 * of the last one is gone within milliseconds.
 */
#define DAEMON_RELOAD_WAIT_MS 150
#define DAEMON_RELOAD_POLL_MS 2

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

/* The operations being applied now. */
struct batch {
	struct op *ops;
	size_t n;
	bool one_by_one; /* HAProxy rejected them together: now ops[i] alone */
	size_t i;
	bool force_reload;
	struct registry next; /* what the step in flight makes, kept if HAProxy takes it */
	char *cfg;	      /* its rendering */
	struct render_plan plan;
	bool reloads; /* the step in flight reloads (else: run-time commands only) */
	long long t0;
	long long wait_since; /* usec: waiting for the old workers to go, 0 when not */
	bool rerender;	      /* operations joined while it waited: render the step again */
	/* A reload reads the snippet files again (snippets.h): the set its step renders with,
	 * which becomes the one in force if HAProxy takes it. */
	struct snippets snippets;
	bool has_snippets;
	bool step_snippets; /* the step in flight renders with b->snippets */
};

struct daemon {
	const struct config *cfg;
	struct loop *loop;
	struct render *render;
	struct haproxy *haproxy;
	struct registry reg;
	char *current_cfg;	 /* what HAProxy runs, "" before the start */
	struct render_plan plan; /* what current_cfg has: backends and routing rules */
	char *start_cfg;	 /* what the start in flight applies */
	struct render_plan start_plan;
	bool initialized;
	bool started;
	bool starting;
	daemon_started_fn started_cb;
	void *started_userdata;
	struct op *pending;
	size_t n_pending;
	struct loop_timer *flush_timer; /* armed when operations are pending */
	struct loop_timer *step_timer;	/* the batch in flight waits for old workers to go */
	struct batch *cur;		/* the batch in flight, NULL when idle */
	struct slots_apply *runtime;	/* its run-time server commands in flight */
	struct metrics *metrics;	/* NULL when telemetry is off */
	struct telemetry *telemetry;	/* NULL when telemetry is off */
	struct loop_timer *stats_timer;
	struct stats_poll *stats_call;
	char *stats_socket;
	/* The snippet files in force: read at the start and by every reload, kept while HAProxy
	 * takes them, so a broken file never blocks the other services' updates. */
	struct snippets snippets;
	bool snippets_dropped;	/* the start-up configuration failed with them: started without */
	struct params rejected; /* service name -> why it is not applied (nobody else was told) */
	/* Start-up: finding the services HAProxy rejects, one `haproxy -c` each. */
	struct registry probe_good;
	size_t probe_i;
	bool probed;
	struct haproxy_check *probe;
	struct certs_state certs; /* what the last rendering found of the certificates */
	daemon_put_fn put;	  /* daemon_set_put: the last step of daemon_submit_params */
};

static void batch_step(struct daemon *d);
static void batch_launch(struct daemon *d);

static void on_flush(void *userdata)
{
	daemon_flush(userdata);
}

/* The batch in flight waited for an old worker: launch it, or render it again with the
 * operations it took in meanwhile. */
static void on_step(void *userdata)
{
	struct daemon *d = userdata;

	if (d->cur->rerender) {
		d->cur->rerender = false;
		batch_step(d);
	} else {
		batch_launch(d);
	}
}

/*
 * The error pages the base template names (ERRORFILES_PATH): HAProxy refuses a configuration
 * whose errorfile is missing, so a missing page is said once at the start, not at every reload.
 */
static int check_errorfiles(const char *dir, char **reterr)
{
	static const char *const codes[] = {"400", "403", "405", "408", "429",
					    "500", "502", "503", "504"};

	if (!str_set(dir) || streq(dir, "none"))
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(codes); i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s.http", dir, codes[i]);
		if (access(path, R_OK) < 0)
			return errmsg_set(reterr, -errno,
					  "ERRORFILES_PATH: cannot read '%s': %m "
					  "(ERRORFILES_PATH=none uses HAProxy's own pages)",
					  path);
	}
	return 0;
}

static int put_plain(struct daemon *d, struct service *svc, const char *const *addrs,
		     size_t n_addrs, daemon_done_fn done, void *userdata, char **reterr);

int daemon_new(struct loop *loop, const struct config *cfg, struct daemon **ret, char **reterr)
{
	struct daemon *d = xcalloc(1, sizeof(*d));
	int r;

	d->put = put_plain;
	d->cfg = cfg;
	d->loop = loop;
	d->stats_socket = xasprintf("%s/stats.sock", cfg->run_dir);
	d->flush_timer = loop_timer_new(loop, on_flush, d);
	d->step_timer = loop_timer_new(loop, on_step, d);
	registry_init(&d->reg);
	registry_init(&d->probe_good);
	params_init(&d->rejected);
	snippets_init(&d->snippets);
	d->current_cfg = xstrdup("");
	d->certs.unbound = -1;
	r = check_errorfiles(cfg->errorfiles_path, reterr);
	if (r < 0) {
		daemon_free(d);
		return r;
	}
	r = render_new(cfg->templates_path, cfg->cfg_template_path, &d->render, reterr);
	if (r < 0) {
		daemon_free(d);
		return r;
	}
	_cleanup_free_ char *err = NULL;
	if (snippets_load(cfg->templates_path, &d->snippets, &err) < 0)
		log_error("snippet files are not used: %s", err);
	else if (d->snippets.n)
		log_info("%zu snippet file(s) from '%s'", d->snippets.n, cfg->templates_path);
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

static void batch_free(struct batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++)
		op_done(&b->ops[i]);
	free(b->ops);
	registry_done(&b->next);
	free(b->cfg);
	render_plan_done(&b->plan);
	snippets_done(&b->snippets);
	free(b);
}

void daemon_free(struct daemon *d)
{
	if (!d)
		return;
	slots_apply_cancel(d->runtime);
	stats_poll_cancel(d->stats_call);
	haproxy_check_cancel(d->probe);
	telemetry_free(d->telemetry);
	metrics_free(d->metrics);
	loop_timer_free(d->stats_timer);
	loop_timer_free(d->flush_timer);
	loop_timer_free(d->step_timer);
	free(d->stats_socket);
	haproxy_free(d->haproxy);
	batch_free(d->cur);
	for (size_t i = 0; i < d->n_pending; i++)
		op_done(&d->pending[i]);
	free(d->pending);
	registry_done(&d->reg);
	registry_done(&d->probe_good);
	params_done(&d->rejected);
	snippets_done(&d->snippets);
	render_free(d->render);
	certs_state_done(&d->certs);
	free(d->current_cfg);
	free(d->start_cfg);
	render_plan_done(&d->plan);
	render_plan_done(&d->start_plan);
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

bool daemon_instance_matches(const struct daemon *d, const struct params *p)
{
	const char *pin = params_get(p, "proxyInstanceName");

	/* DFP compares with strings.EqualFold; a service without the parameter matches nothing. */
	return !d->cfg->filter_proxy_instance_name ||
	       strcasecmp(pin ? pin : "", d->cfg->proxy_instance_name) == 0;
}

static int put_plain(struct daemon *d, struct service *svc, const char *const *addrs,
		     size_t n_addrs, daemon_done_fn done, void *userdata, char **reterr)
{
	daemon_submit(d, DAEMON_OP_PUT, svc, addrs, n_addrs, NULL, done, userdata);
	return 0;
}

void daemon_set_put(struct daemon *d, daemon_put_fn fn)
{
	d->put = fn ? fn : put_plain;
}

int daemon_submit_params(struct daemon *d, const struct params *p, const char *source,
			 const char *const *addrs, size_t n_addrs, daemon_done_fn done,
			 void *userdata, struct service **ret_svc, int *ret_status, char **reterr)
{
	struct labels_ctx ctx;
	struct service *svc = NULL;
	_cleanup_free_ char *err = NULL;
	int status = 400;

	daemon_labels_ctx(d, &ctx);
	int k = labels_parse(p, &ctx, &svc, &status, &err);
	if (k >= 0) {
		/* Custom templates are read now, so that an unreadable one is refused now. */
		status = 400;
		k = snippets_service_templates(svc, d->cfg->templates_path, &err);
	}
	if (k < 0) {
		const char *name = params_get(p, "serviceName");

		service_free(svc);

		if (!done) {
			/* Nobody waits for an answer: the log and the status API say it. */
			log_error("%s: service '%s' skipped: %s", source, name ? name : "", err);
			if (str_set(name))
				daemon_set_rejected(d, name, err);
		}
		if (ret_status)
			*ret_status = status;
		return errmsg_set(reterr, -EINVAL, "%s", err);
	}
	if (ret_svc)
		*ret_svc = service_dup(svc);
	if (!daemon_instance_matches(d, p)) {
		/*
		 * FILTER_PROXY_INSTANCE_NAME: another proxy's service. It is not routed here, and if
		 * it was (its proxyInstanceName changed), it goes: a removal, a no-op when unknown.
		 */
		const char *pin = params_get(p, "proxyInstanceName");
		/* Said when someone asked or something goes; a watched service that stays
		 * ignored is not logged at each change of its tasks. */
		enum log_level lv =
			done || registry_get(&d->reg, svc->name) ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG;
		log_msg(lv,
			"%s: service '%s' ignored: its proxyInstanceName '%s' is not "
			"PROXY_INSTANCE_NAME '%s'",
			source, svc->name, pin ? pin : "", d->cfg->proxy_instance_name);
		daemon_submit(d, DAEMON_OP_REMOVE, NULL, NULL, 0, svc->name, done, userdata);
		service_free(svc);
		return 0;
	}
	if (svc->has_replicas && svc->replicas == 0) {
		/* DFP: replicas=0 on a replicated service means removal. */
		daemon_submit(d, DAEMON_OP_REMOVE, NULL, NULL, 0, svc->name, done, userdata);
		service_free(svc);
		return 0;
	}
	/* serviceCert is written, once HAProxy loads it, before the service is queued. */
	_cleanup_free_ char *name = xstrdup(svc->name);
	int r = d->put(d, svc, addrs, n_addrs, done, userdata, &err);
	if (r < 0) {
		if (!done) {
			log_error("%s: service '%s' skipped: %s", source, name, err);
			daemon_set_rejected(d, name, err);
		}
		if (ret_svc) {
			service_free(*ret_svc);
			*ret_svc = NULL;
		}
		if (ret_status)
			*ret_status = 500;
		return errmsg_set(reterr, r, "%s", err);
	}
	return 0;
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

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The slots for a new or reconfigured service: its endpoints first, then empty slots. */
static char **initial_slots(const char *const *addrs, size_t n, size_t n_expected, size_t *ret_n)
{
	size_t slots = slots_count_for(n > n_expected ? n : n_expected);
	char **v = xcalloc(slots ? slots : 1, sizeof(char *));

	for (size_t i = 0; i < slots; i++)
		v[i] = xstrdup(i < n ? addrs[i] : "");
	*ret_n = slots;
	return v;
}

int daemon_submit_service(struct daemon *d, const struct params *p, const char *source,
			  const char *const *addrs, size_t n_addrs, size_t n_expected)
{
	size_t n_slots;
	char **slots = initial_slots(addrs, n_addrs, n_expected, &n_slots);
	int r = daemon_submit_params(d, p, source, (const char *const *)slots, n_slots, NULL, NULL,
				     NULL, NULL, NULL);

	free_strv(slots, n_slots);
	return r;
}

/* Whether op o decides the slots of service name: 1 with its slots, -1 when it re-renders it. */
static int op_slots(const struct op *o, const char *name, const char *const **ret, size_t *ret_n)
{
	if (o->kind == DAEMON_OP_RELOAD || !o->name || !streq(o->name, name))
		return 0;
	if (o->kind != DAEMON_OP_RUNTIME)
		return -1;
	*ret = (const char *const *)o->addrs;
	*ret_n = o->n_addrs;
	return 1;
}

/*
 * The slots service name will have once what is queued and in flight is applied, so that
 * endpoint changes submitted in quick succession plan from each other, not from a registry that
 * has not caught up yet: the last queued or in-flight RUNTIME operation's, else the registry's.
 * False when an operation queued or in flight re-renders the service (PUT, REMOVE), or when it
 * is unknown: only a new rendering places the endpoints then.
 */
static bool latest_slots(const struct daemon *d, const char *name, const char *const **ret,
			 size_t *ret_n)
{
	int k;

	for (size_t i = d->n_pending; i-- > 0;)
		if ((k = op_slots(&d->pending[i], name, ret, ret_n)) != 0)
			return k > 0;
	for (size_t i = d->cur ? d->cur->n : 0; i-- > 0;)
		if ((k = op_slots(&d->cur->ops[i], name, ret, ret_n)) != 0)
			return k > 0;
	if (!registry_get(&d->reg, name))
		return false;
	*ret_n = registry_get_addrs(&d->reg, name, ret);
	return true;
}

int daemon_submit_addrs(struct daemon *d, const struct params *p, const char *source,
			const char *const *addrs, size_t n_addrs, size_t n_expected)
{
	/* While HAProxy starts, what it starts with is what the commands will apply to. */
	const struct render_plan *rp = d->starting ? &d->start_plan : &d->plan;
	const char *name = params_get(p, "serviceName");
	const char *const *cur = NULL;
	size_t n_cur = 0, first = 0, n_be;
	char **cmds = NULL;
	size_t n_cmds = 0;
	struct slots_plan plan = {0};
	bool reload = false;

	if (!str_set(name) || !latest_slots(d, name, &cur, &n_cur) ||
	    (n_be = render_plan_service(rp, name, &first)) == 0)
		return daemon_submit_service(d, p, source, addrs, n_addrs, n_expected);
	for (size_t j = first; j < first + n_be && !reload; j++) {
		const struct render_backend *be = &rp->backends[j];
		_cleanup_free_ char *err = NULL;

		if (be->n_slots != n_cur) {
			/* Not task slots (DNS, VIP) or not what the registry holds: re-render. */
			reload = true;
			break;
		}
		struct slots_input in = {be->name, be->service, be->port, n_cur,
					 cur,	   addrs,	n_addrs};
		slots_plan_done(&plan);
		if (n_cur == 0 || slots_plan(&in, &plan, &err) < 0) {
			if (err)
				log_warn("%s: service '%s': %s", source, name, err);
			reload = true;
			break;
		}
		reload = plan.reload;
		for (size_t k = 0; k < plan.n_commands; k++) {
			cmds = xrealloc(cmds, (n_cmds + 1) * sizeof(char *));
			cmds[n_cmds++] = xstrdup(plan.commands[k]);
		}
	}
	int r = 0;
	if (reload || !plan.assign) {
		r = daemon_submit_service(d, p, source, addrs, n_addrs, n_expected);
	} else {
		char **assign = xcalloc(plan.n_slots ? plan.n_slots : 1, sizeof(char *));
		for (size_t i = 0; i < plan.n_slots; i++)
			assign[i] = xstrdup(plan.assign[i] ? plan.assign[i] : "");
		daemon_submit_runtime(d, name, (const char *const *)assign, plan.n_slots, cmds,
				      n_cmds);
		free_strv(assign, plan.n_slots);
	}
	slots_plan_done(&plan);
	free_strv(cmds, n_cmds);
	return r;
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

/* usersSecret: <secrets dir>/dfp_users_<name>, at most 64 KiB (labels_ctx.read_users_secret). */
static int read_users_secret(void *arg, const char *name, char **ret, char **reterr)
{
	const struct daemon *d = arg;
	_cleanup_free_ char *path = xasprintf("%s/dfp_users_%s", d->cfg->secrets_dir, name);
	size_t len = 0;
	int r = read_file(path, 64 * 1024, ret, &len);

	if (r < 0)
		return errmsg_set(reterr, r, "usersSecret '%s': cannot read %s: %s", name, path,
				  strerror(-r));
	return 0;
}

void daemon_labels_ctx(const struct daemon *d, struct labels_ctx *ret)
{
	ret->separator = d->cfg->separator;
	ret->domain_algo = d->cfg->service_domain_algo;
	ret->https_only = d->cfg->https_only;
	ret->users = d->cfg->users;
	ret->users_pass_encrypted = d->cfg->users_pass_encrypted;
	ret->deny_backend_extra = !d->cfg->allow_backend_extra;
	ret->read_users_secret = read_users_secret;
	ret->secret_arg = (void *)d;
	ret->ca_file = str_set(d->cfg->ca_file);
	ret->default_ports = d->cfg->default_ports;
	ret->bind_ports = d->cfg->bind_ports;
	ret->api_port = d->cfg->port;
	/* The stats frontend binds STATS_PORT only with credentials, and not when it is 80. */
	ret->stats_port = str_set(d->cfg->stats_user) && str_set(d->cfg->stats_pass)
				  ? d->cfg->stats_port
				  : NULL;
}

static int render_registry(struct daemon *d, const struct registry *reg, const struct snippets *sn,
			   struct strbuf *out, struct render_plan *ret_plan, char **reterr)
{
	struct render_service *rs = NULL;

	/* Certificates come and go (PUT /cert, serviceCert, files): each rendering looks. */
	certs_refresh(&d->certs, d->cfg, d->render);
	registry_render_services(reg, &rs);
	int r = render_config_snippets(d->render, d->cfg, rs, registry_count(reg), sn, out,
				       ret_plan, reterr);
	free(rs);
	return r;
}

const struct render_plan *daemon_plan(const struct daemon *d)
{
	return &d->plan;
}

/* Tells the metrics which backends exist now (the plan), and which thresholds labels mention. */
static void update_metrics(struct daemon *d)
{
	const char **names, **services;
	uint32_t thresholds[256];
	size_t nt = 0, n = d->plan.n_backends;

	if (!d->metrics)
		return;
	names = xcalloc(n ? n : 1, sizeof(*names));
	services = xcalloc(n ? n : 1, sizeof(*services));
	for (size_t i = 0; i < n; i++) {
		names[i] = d->plan.backends[i].name;
		services[i] = d->plan.backends[i].service;
	}
	for (size_t i = 0; i < registry_count(&d->reg); i++)
		nt += labels_resp_time_thresholds(registry_at(&d->reg, i), thresholds + nt,
						  ARRAY_SIZE(thresholds) - nt);
	metrics_set_backends(d->metrics, names, services, n, thresholds, nt);
	free(names);
	free(services);
}

static void after_reload(struct daemon *d)
{
	update_metrics(d);
	if (d->telemetry)
		telemetry_on_reload(d->telemetry, (uint32_t)d->cfg->telemetry_grace_ms,
				    haproxy_worker_pid(d->haproxy));
}

static bool runtime_only(const struct op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ops[i].kind != DAEMON_OP_RUNTIME)
			return false;
	return n > 0;
}

/*
 * Applies ops[0..n) to a copy of the registry (into *next). Returns whether anything changed;
 * REMOVE operations learn whether their service was there.
 */
static bool ops_to_registry(const struct registry *cur, struct op *ops, size_t n,
			    struct registry *next)
{
	bool changed = false;

	registry_init(next);
	registry_copy(next, cur);
	for (size_t i = 0; i < n; i++) {
		struct op *o = &ops[i];
		if (o->kind == DAEMON_OP_PUT) {
			registry_put(next, service_dup(o->svc), (const char *const *)o->addrs,
				     o->n_addrs);
			changed = true;
		} else if (o->kind == DAEMON_OP_REMOVE) {
			o->found = registry_remove(next, o->name) > 0;
			changed |= o->found;
		} else if (o->kind == DAEMON_OP_RUNTIME) {
			const struct service *s = registry_get(next, o->name);
			if (s) {
				registry_put(next, service_dup(s), (const char *const *)o->addrs,
					     o->n_addrs);
				changed = true;
			}
		}
	}
	return changed;
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

/* Keeps what the step in flight made: its registry and configuration become the current ones. */
static void batch_commit(struct daemon *d, struct batch *b, bool reloaded)
{
	registry_done(&d->reg);
	d->reg = b->next;
	registry_init(&b->next);
	free(d->current_cfg);
	d->current_cfg = b->cfg ? TAKE_PTR(b->cfg) : xstrdup("");
	render_plan_done(&d->plan);
	d->plan = b->plan;
	b->plan = (struct render_plan){0};
	if (b->step_snippets) {
		snippets_move(&d->snippets, &b->snippets);
		b->has_snippets = b->step_snippets = false;
	}
	d->initialized = true;
	if (reloaded)
		after_reload(d);
}

static void batch_end(struct daemon *d)
{
	batch_free(d->cur);
	d->cur = NULL;
	/* What arrived meanwhile is the next batch. */
	if (d->n_pending && !loop_timer_armed(d->flush_timer))
		loop_timer_after(d->flush_timer, 0);
}

/*
 * DISPLAY_CONFIG_ON_ERROR: the file HAProxy rejected, one log line per line, numbered as in
 * HAProxy's [ALERT] lines. Passwords (stats auth, userlist users) are not logged.
 */
static void log_rejected_config(const char *cfg)
{
	static const char *const secret_words[] = {"stats auth ", "insecure-password ",
						   " password "};
	unsigned n = 1;

	for (const char *p = cfg; *p; n++) {
		size_t len = strcspn(p, "\n");
		size_t show = len;
		for (size_t i = 0; i < ARRAY_SIZE(secret_words); i++) {
			const char *w = memmem(p, len, secret_words[i], strlen(secret_words[i]));
			if (w && (size_t)(w - p) + strlen(secret_words[i]) < show)
				show = (size_t)(w - p) + strlen(secret_words[i]);
		}
		log_info("rejected haproxy.cfg:%u: %.*s%s", n, (int)show, p,
			 show < len ? "<hidden>" : "");
		p += len + (p[len] == '\n');
	}
}

/* The step in flight is over: r >= 0 applied, else err says why. */
static void batch_result(struct daemon *d, int r, const char *err)
{
	struct batch *b = d->cur;

	if (r == -EINVAL && b->cfg && d->cfg->display_config_on_error)
		log_rejected_config(b->cfg);
	registry_done(&b->next);
	registry_init(&b->next);
	free(b->cfg);
	b->cfg = NULL;
	render_plan_done(&b->plan);
	if (b->one_by_one) {
		struct op *o = &b->ops[b->i];

		if (r >= 0) {
			op_finish(d, o, 200, "");
		} else {
			_cleanup_free_ char *msg = xasprintf(
				"service '%s' was not applied, HAProxy keeps the last good "
				"configuration: %s",
				o->name, err);
			op_finish(d, o, status_for(r), msg);
		}
		if (++b->i < b->n) {
			batch_step(d);
			return;
		}
	} else if (r >= 0) {
		log_debug("applied %zu operation(s) in %lld us", b->n, now_usec() - b->t0);
		for (size_t i = 0; i < b->n; i++)
			op_finish(d, &b->ops[i], 200, "");
	} else if (b->n == 1) {
		_cleanup_free_ char *msg = NULL;
		if (b->ops[0].kind == DAEMON_OP_RELOAD)
			msg = xasprintf("HAProxy reload failed: %s", err);
		else
			msg = xasprintf("service '%s' was not applied, HAProxy keeps the last good "
					"configuration: %s",
					b->ops[0].name, err);
		op_finish(d, &b->ops[0], status_for(r), msg);
	} else {
		/* Find the culprits: one operation at a time, so the good ones still land. */
		log_warn("a batch of %zu operations was rejected, applying them one by one", b->n);
		b->one_by_one = true;
		b->i = 0;
		batch_step(d);
		return;
	}
	batch_end(d);
}

/* err, and which user file the line HAProxy complains about comes from. Caller frees. */
static char *blamed(const struct render_plan *p, const char *err)
{
	_cleanup_free_ char *why = render_plan_blame(p, err);

	return why ? xasprintf("%s (%s)", err, why) : xstrdup(err);
}

static void on_applied(void *userdata, int r, const char *err)
{
	struct daemon *d = userdata;
	struct batch *b = d->cur;
	_cleanup_free_ char *msg = NULL;

	if (r >= 0)
		batch_commit(d, b, true);
	else
		err = msg = blamed(&b->plan, err);
	batch_result(d, r, err);
}

static void on_runtime_applied(void *userdata, int r, const char *err)
{
	struct daemon *d = userdata;
	struct batch *b = d->cur;
	_cleanup_free_ char *path = xasprintf("%s/haproxy.cfg", d->cfg->configs_path);
	_cleanup_free_ char *msg = NULL;
	const struct op *ops = b->one_by_one ? &b->ops[b->i] : b->ops;
	size_t n = b->one_by_one ? 1 : b->n;

	d->runtime = NULL;
	if (r >= 0) {
		/* The file always carries the live addresses, so that a later reload keeps them. */
		r = write_file_atomic(path, b->cfg, strlen(b->cfg));
		if (r < 0)
			err = msg = xasprintf("cannot write '%s': %s", path, strerror(-r));
	}
	if (r >= 0) {
		for (size_t i = 0; i < n; i++)
			log_info("service '%s': %zu server change(s) applied without a reload",
				 ops[i].name, ops[i].n_commands);
		batch_commit(d, b, false);
	}
	batch_result(d, r, err);
}

/* Moves the pending operations into batch b, which has not reached HAProxy yet. */
static void batch_absorb(struct daemon *d, struct batch *b)
{
	b->ops = xrealloc(b->ops, (b->n + d->n_pending) * sizeof(*b->ops));
	memcpy(b->ops + b->n, d->pending, d->n_pending * sizeof(*b->ops));
	for (size_t i = 0; i < d->n_pending; i++)
		b->force_reload |= d->pending[i].kind == DAEMON_OP_RELOAD;
	b->n += d->n_pending;
	free(d->pending);
	d->pending = NULL;
	d->n_pending = 0;
}

/* Starts the step of the current batch: all its operations, or ops[i] alone. */
static void batch_step(struct daemon *d)
{
	struct batch *b = d->cur;
	struct op *ops = b->one_by_one ? &b->ops[b->i] : b->ops;
	size_t n = b->one_by_one ? 1 : b->n;
	bool force = b->one_by_one ? ops[0].kind == DAEMON_OP_RELOAD : b->force_reload;
	_cleanup_free_ char *err = NULL;
	struct strbuf cfg;
	int r;

	registry_done(&b->next);
	if (!ops_to_registry(&d->reg, ops, n, &b->next) && !force) {
		batch_result(d, 0, "");
		return;
	}
	/* A reload reads the snippet files again; everything else renders with those in force. */
	if (force && !b->has_snippets) {
		r = snippets_load(d->cfg->templates_path, &b->snippets, &err);
		if (r < 0) {
			batch_result(d, r, err ? err : strerror(-r));
			return;
		}
		b->has_snippets = true;
	}
	b->step_snippets = force;
	strbuf_init(&cfg);
	render_plan_done(&b->plan);
	r = render_registry(d, &b->next, force ? &b->snippets : &d->snippets, &cfg, &b->plan, &err);
	if (r < 0) {
		strbuf_done(&cfg);
		batch_result(d, r, err ? err : strerror(-r));
		return;
	}
	free(b->cfg);
	b->cfg = strbuf_steal(&cfg);
	if (!force && streq(b->cfg, d->current_cfg)) {
		/* Same bytes as what runs: nothing to reload. */
		batch_commit(d, b, false);
		batch_result(d, 0, "");
		return;
	}
	if (runtime_only(ops, n)) {
		/* Replicas changed: servers are re-pointed at run time, the file keeps up. */
		char **cmds = NULL;
		size_t n_cmds = 0;

		for (size_t i = 0; i < n; i++)
			for (size_t k = 0; k < ops[i].n_commands; k++) {
				cmds = xrealloc(cmds, (n_cmds + 1) * sizeof(*cmds));
				cmds[n_cmds++] = ops[i].commands[k];
			}
		b->reloads = false;
		d->runtime = slots_apply(d->loop, d->stats_socket, cmds, n_cmds,
					 DAEMON_RUNTIME_TIMEOUT_MS, on_runtime_applied, d);
		free(cmds);
		return;
	}
	batch_launch(d);
}

/*
 * The reload of the step rendered in b->cfg, once the old worker of the last reload is seen
 * idle (at most DAEMON_RELOAD_WAIT_MS). Operations that arrive meanwhile join it, and the step is
 * rendered again with them; otherwise the rendering is kept.
 */
static void batch_launch(struct daemon *d)
{
	struct batch *b = d->cur;
	int r;

	if (d->telemetry && telemetry_old_busy(d->telemetry) > 0) {
		long long now = now_usec();

		if (!b->wait_since) {
			/* Ask again now: the old worker is idle by this time, more often than not. */
			b->wait_since = now;
			telemetry_probe_old(d->telemetry);
		}
		if (now - b->wait_since < DAEMON_RELOAD_WAIT_MS * 1000LL) {
			/* Not sent yet: what arrives meanwhile can join this reload. */
			b->rerender |= !b->one_by_one && d->n_pending > 0;
			if (!b->one_by_one && d->n_pending)
				batch_absorb(d, b);
			loop_timer_after(d->step_timer, DAEMON_RELOAD_POLL_MS);
			return;
		}
	}
	b->wait_since = 0;
	b->reloads = true;
	r = haproxy_apply(d->haproxy, b->cfg, strlen(b->cfg), on_applied, d);
	if (r < 0)
		batch_result(d, r, strerror(-r));
}

void daemon_flush(struct daemon *d)
{
	struct batch *b;

	/* A batch in flight, or HAProxy starting: these wait for the next batch. */
	if (d->n_pending == 0 || d->cur || d->starting)
		return;
	b = xcalloc(1, sizeof(*b));
	b->ops = d->pending;
	b->n = d->n_pending;
	b->t0 = now_usec();
	registry_init(&b->next);
	d->pending = NULL;
	d->n_pending = 0;
	for (size_t i = 0; i < b->n; i++)
		b->force_reload |= b->ops[i].kind == DAEMON_OP_RELOAD;
	d->cur = b;
	if (d->started) {
		batch_step(d);
		return;
	}
	/* Before the start the registry only collects services: they go in the first config. */
	for (size_t i = 0; i < b->n; i++) {
		struct registry next;
		_cleanup_free_ char *err = NULL;
		struct strbuf cfg;

		ops_to_registry(&d->reg, &b->ops[i], 1, &next);
		strbuf_init(&cfg);
		int r = render_registry(d, &next, &d->snippets, &cfg, NULL, &err);
		strbuf_done(&cfg);
		if (r < 0) {
			registry_done(&next);
			_cleanup_free_ char *msg =
				xasprintf("service '%s' was not applied: %s", b->ops[i].name, err);
			op_finish(d, &b->ops[i], 400, msg);
			continue;
		}
		registry_done(&d->reg);
		d->reg = next;
		op_finish(d, &b->ops[i], 200, "");
	}
	batch_end(d);
}

static uint64_t now_ms(void)
{
	return (uint64_t)(now_usec() / 1000);
}

/*
 * DEBUG's line for one request, as DFP printed what its syslog sink received ("HAPRoxy: ..."),
 * on stdout. DEBUG_ERRORS_ONLY keeps what HAProxy's dontlog-normal would log: a 5xx, or a
 * termination state other than "--" (an abort, a timeout, a connection error).
 */
static void debug_print(const struct daemon *d, const struct telemetry_line *l)
{
	if (d->cfg->debug_errors_only && l->status < 500 && l->term[0] == '-' && l->term[1] == '-')
		return;
	printf("HAPRoxy: %.*s\n", (int)l->rest_len, l->rest);
	fflush(stdout);
}

static void on_telemetry_line(void *userdata, const struct telemetry_line *l)
{
	struct daemon *d = userdata;

	if (d->cfg->debug && l->rest)
		debug_print(d, l);
	metrics_record(d->metrics, l, now_ms());
}

static void on_stats(void *userdata, int r, struct stats_table *t, const char *err)
{
	struct daemon *d = userdata;

	d->stats_call = NULL;
	if (r < 0)
		log_debug("show stat: %s", err);
	else
		metrics_set_stats(d->metrics, t);
}

static void on_stats_timer(void *userdata)
{
	struct daemon *d = userdata;

	loop_timer_after(d->stats_timer, d->cfg->stats_interval * 1000);
	if (!d->stats_call)
		d->stats_call =
			stats_poll(d->loop, d->stats_socket, DAEMON_STATS_TIMEOUT_MS, on_stats, d);
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
	r = telemetry_new(d->loop, d->stats_socket, haproxy_master_socket(d->haproxy),
			  TELEMETRY_RING, on_telemetry_line, d, &d->telemetry);
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

bool daemon_validate(struct daemon *d, const char *cfg, size_t len, daemon_check_fn done,
		     void *userdata)
{
	if (!d->haproxy)
		return false;
	/* A NULL handle means it could not start; done still runs, from the loop. */
	haproxy_validate(d->haproxy, cfg, len, done, userdata);
	return true;
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

static void start_done(struct daemon *d, int r)
{
	d->starting = false;
	if (r >= 0) {
		_cleanup_free_ char *err = NULL;

		/* From now on /config shows what HAProxy runs. */
		free(d->current_cfg);
		d->current_cfg = TAKE_PTR(d->start_cfg);
		render_plan_done(&d->plan);
		d->plan = d->start_plan;
		d->start_plan = (struct render_plan){0};
		d->started = true;
		d->initialized = true;
		log_info("HAProxy runs with %zu service(s), worker pid %d", registry_count(&d->reg),
			 (int)haproxy_worker_pid(d->haproxy));
		if (d->cfg->telemetry && (r = start_telemetry(d, &err)) < 0)
			log_error("cannot start telemetry: %s", err ? err : strerror(-r));
	}
	if (d->started_cb)
		d->started_cb(d->started_userdata, r);
	/* Operations that arrived during the start. */
	if (d->n_pending && !loop_timer_armed(d->flush_timer))
		loop_timer_after(d->flush_timer, 0);
}

static void start_with_registry(struct daemon *d);
static void probe_next(struct daemon *d);

static void on_probed(void *userdata, int r, const char *err)
{
	struct daemon *d = userdata;
	const struct service *s = registry_at(&d->reg, d->probe_i);

	d->probe = NULL;
	if (r >= 0) {
		registry_put(&d->probe_good, service_dup(s), NULL, 0);
	} else {
		log_error("service '%s' skipped: %s", s->name, *err ? err : "rejected");
		daemon_set_rejected(d, s->name, *err ? err : "rejected");
	}
	d->probe_i++;
	probe_next(d);
}

/*
 * A service from the environment or the services file breaks the start-up configuration: find
 * it with haproxy -c (slow, but only on this path), one service at a time, then start with the
 * others.
 */
static void probe_next(struct daemon *d)
{
	if (d->probe_i < registry_count(&d->reg)) {
		struct registry one;
		struct strbuf cfg;
		_cleanup_free_ char *e = NULL;
		const struct service *s = registry_at(&d->reg, d->probe_i);

		registry_init(&one);
		registry_put(&one, service_dup(s), NULL, 0);
		strbuf_init(&cfg);
		int k = render_registry(d, &one, &d->snippets, &cfg, NULL, &e);
		registry_done(&one);
		if (k < 0) {
			strbuf_done(&cfg);
			on_probed(d, k, e ? e : "cannot render");
			return;
		}
		d->probe = haproxy_validate(d->haproxy, strbuf_str(&cfg), cfg.len, on_probed, d);
		strbuf_done(&cfg);
		return;
	}
	registry_done(&d->reg);
	d->reg = d->probe_good;
	registry_init(&d->probe_good);
	d->probed = true;
	start_with_registry(d);
}

static void on_started(void *userdata, int r, const char *err)
{
	struct daemon *d = userdata;

	if (r >= 0) {
		start_done(d, r);
		return;
	}
	if (r == -EINVAL && d->snippets.n && !d->snippets_dropped) {
		_cleanup_free_ char *msg = blamed(&d->start_plan, err);
		/* Users' files must not keep the services off the air: start without them. */
		log_error("HAProxy rejected the start-up configuration with the snippet files, "
			  "starting without them: %s",
			  msg);
		snippets_done(&d->snippets);
		d->snippets_dropped = true;
		start_with_registry(d);
		return;
	}
	if (r == -EINVAL && registry_count(&d->reg) > 0 && !d->probed) {
		log_error("HAProxy rejected the start-up configuration: %s", err);
		d->probe_i = 0;
		probe_next(d);
		return;
	}
	log_error("cannot start HAProxy: %s", err);
	start_done(d, r);
}

static void start_with_registry(struct daemon *d)
{
	_cleanup_free_ char *err = NULL;
	struct strbuf cfg;
	int r;

	strbuf_init(&cfg);
	render_plan_done(&d->start_plan);
	r = render_registry(d, &d->reg, &d->snippets, &cfg, &d->start_plan, &err);
	free(d->start_cfg);
	d->start_cfg = strbuf_steal(&cfg);
	if (r < 0) {
		log_error("cannot render the configuration: %s", err);
		start_done(d, r);
		return;
	}
	r = haproxy_start(d->haproxy, d->start_cfg, strlen(d->start_cfg), on_started, d);
	if (r < 0)
		start_done(d, r);
}

/*
 * An HAProxy time ("30s", "1m", "500ms", "2h", "1d"; a bare number is milliseconds,
 * configuration.txt §2.5) in ms, 0 when it is not one.
 */
static long haproxy_time_ms(const char *s)
{
	static const struct {
		const char *unit;
		long ms;
	} units[] = {{"", 1},	   {"us", 0},	   {"ms", 1},	   {"s", 1000},
		     {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
	char *end = NULL;
	long v;

	if (!str_set(s) || *s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (streq(end, units[i].unit))
			return units[i].ms && v <= 0x7fffffffL / units[i].ms ? v * units[i].ms : 0;
	return 0;
}

int daemon_start(struct daemon *d, daemon_started_fn cb, void *userdata, char **reterr)
{
	long hard_stop = haproxy_time_ms(d->cfg->hard_stop_after);
	struct haproxy_options o = {
		.binary = d->cfg->haproxy_bin,
		.config_path = NULL,
		.run_dir = d->cfg->run_dir,
		.timeout_ms = 10000,
		/* HAProxy ends its own drain at hard-stop-after: wait that long, and a little. */
		.stop_ms = hard_stop > 0 && hard_stop < 600000 ? (int)hard_stop + 1000 : 0,
		.terminate_on_reload = d->cfg->terminate_on_reload,
	};
	_cleanup_free_ char *path = xasprintf("%s/haproxy.cfg", d->cfg->configs_path);
	int r;

	if (d->started || d->starting)
		return errmsg_set(reterr, -EALREADY, "HAProxy is started already");
	o.config_path = path;
	if (mkdir(d->cfg->configs_path, 0755) < 0 && errno != EEXIST)
		return errmsg_set(reterr, -errno, "cannot create '%s': %m", d->cfg->configs_path);
	if (mkdir(d->cfg->run_dir, 0755) < 0 && errno != EEXIST)
		return errmsg_set(reterr, -errno, "cannot create '%s': %m", d->cfg->run_dir);
	r = haproxy_new(d->loop, &o, &d->haproxy, reterr);
	if (r < 0)
		return r;
	/* Services queued before the start (environment, services file) go in the first config. */
	daemon_flush(d);
	d->started_cb = cb;
	d->started_userdata = userdata;
	d->starting = true;
	start_with_registry(d);
	return 0;
}
