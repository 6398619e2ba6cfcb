// SPDX-License-Identifier: MIT
/*
 * daemon: the event loop, the batch of pending operations, and the apply pipeline
 * (registry copy -> render -> haproxy_apply -> keep or drop). Single-threaded: the HTTP API runs
 * inside this loop (api.c), so nothing here needs a lock.
 */
#include "flowproxy/daemon.h"
#include "flowproxy/api.h"
#include "flowproxy/haproxy.h"
#include "flowproxy/labels.h"
#include "flowproxy/log.h"
#include "flowproxy/metrics.h"
#include "flowproxy/render.h"
#include "flowproxy/slots.h"
#include "flowproxy/stats.h"
#include "flowproxy/telemetry.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>

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

struct watch {
	int fd;
	daemon_fd_fn cb;
	void *userdata;
};

struct daemon {
	const struct config *cfg;
	struct render *render;
	struct haproxy *haproxy;
	struct api *api;
	struct registry reg;
	char *current_cfg;
	bool initialized;
	bool started;
	bool stop;
	int epfd;
	struct op *pending;
	size_t n_pending;
	struct watch *watches;
	size_t n_watches;
	struct metrics *metrics;     /* NULL when telemetry is off */
	struct telemetry *telemetry; /* NULL when telemetry is off */
	int stats_timer;
	char *stats_socket;
	struct provider *provider;
	struct params rejected; /* service name -> why it is not applied (nobody else was told) */
};

static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (write(signal_pipe[1], &c, 1) < 0) {
		/* Full pipe: a signal is already pending, nothing to add. */
	}
	errno = saved;
}

int daemon_new(const struct config *cfg, struct daemon **ret, char **reterr)
{
	struct daemon *d = xcalloc(1, sizeof(*d));
	int r;

	d->cfg = cfg;
	d->stats_timer = -1;
	d->stats_socket = xasprintf("%s/stats.sock", cfg->run_dir);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0) {
		free(d);
		return errmsg_set(reterr, -errno, "epoll_create1: %m");
	}
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
	api_free(d->api);
	telemetry_free(d->telemetry);
	metrics_free(d->metrics);
	if (d->stats_timer >= 0)
		close(d->stats_timer);
	free(d->stats_socket);
	haproxy_free(d->haproxy);
	for (size_t i = 0; i < d->n_pending; i++)
		op_done(&d->pending[i]);
	free(d->pending);
	free(d->watches);
	registry_done(&d->reg);
	params_done(&d->rejected);
	render_free(d->render);
	free(d->current_cfg);
	if (d->epfd >= 0)
		close(d->epfd);
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

void daemon_stop(struct daemon *d)
{
	d->stop = true;
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

int daemon_watch_fd(struct daemon *d, int fd, daemon_fd_fn cb, void *userdata)
{
	struct epoll_event ev = {.events = EPOLLIN};

	d->watches = xrealloc(d->watches, (d->n_watches + 1) * sizeof(*d->watches));
	d->watches[d->n_watches] = (struct watch){fd, cb, userdata};
	ev.data.u64 = d->n_watches++;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	return 0;
}

static void on_haproxy(void *userdata)
{
	struct daemon *d = userdata;

	haproxy_process_events(d->haproxy);
}

static void on_api(void *userdata)
{
	struct daemon *d = userdata;

	api_run(d->api);
}

static void on_signal_pipe(void *userdata)
{
	struct daemon *d = userdata;
	char buf[64];
	ssize_t n = read(signal_pipe[0], buf, sizeof(buf));

	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == SIGTERM || buf[i] == SIGINT) {
			log_info("signal %d: stopping", buf[i]);
			d->stop = true;
		} else if (buf[i] == SIGHUP) {
			daemon_submit(d, DAEMON_OP_RELOAD, NULL, NULL, 0, "", NULL, NULL);
		}
	}
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

static void on_telemetry(void *userdata)
{
	struct daemon *d = userdata;

	telemetry_process_events(d->telemetry);
}

static void on_stats_timer(void *userdata)
{
	struct daemon *d = userdata;
	struct stats_table t = {0};
	_cleanup_free_ char *err = NULL;
	uint64_t ticks;

	if (read(d->stats_timer, &ticks, sizeof(ticks)) < 0)
		return;
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
	r = telemetry_new(d->stats_socket, TELEMETRY_RING, on_telemetry_line, d, &d->telemetry);
	if (r < 0)
		return errmsg_set(reterr, r, "telemetry: %s", strerror(-r));
	telemetry_connect(d->telemetry);
	daemon_watch_fd(d, telemetry_event_fd(d->telemetry), on_telemetry, d);
	if (c->stats_interval > 0) {
		struct itimerspec its = {.it_interval = {c->stats_interval, 0},
					 .it_value = {0, 100 * 1000 * 1000}};
		d->stats_timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (d->stats_timer < 0 || timerfd_settime(d->stats_timer, 0, &its, NULL) < 0)
			return errmsg_set(reterr, -errno, "timerfd: %m");
		daemon_watch_fd(d, d->stats_timer, on_stats_timer, d);
	}
	return 0;
}

void daemon_set_provider(struct daemon *d, struct provider *p)
{
	d->provider = p;
}

struct provider *daemon_provider(const struct daemon *d)
{
	return d->provider;
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

int daemon_run(struct daemon *d)
{
	_cleanup_free_ char *err = NULL;
	struct sigaction sa = {.sa_handler = on_signal};
	int r;

	if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

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

	r = api_new(d, &d->api, &err);
	if (r < 0) {
		log_error("cannot start the API: %s", err ? err : strerror(-r));
		return r;
	}
	log_info("API listening on %s:%ld", d->cfg->ip, d->cfg->port);
	if (haproxy_event_fd(d->haproxy) >= 0)
		daemon_watch_fd(d, haproxy_event_fd(d->haproxy), on_haproxy, d);
	daemon_watch_fd(d, api_fd(d->api), on_api, d);
	daemon_watch_fd(d, signal_pipe[0], on_signal_pipe, d);

	while (!d->stop) {
		struct epoll_event evs[16];
		int timeout = api_timeout_ms(d->api);

		if (d->n_pending)
			timeout = 0;
		int n = epoll_wait(d->epfd, evs, ARRAY_SIZE(evs), timeout);
		if (n < 0 && errno != EINTR) {
			log_error("epoll_wait: %m");
			break;
		}
		for (int i = 0; i < n; i++) {
			struct watch *w = &d->watches[evs[i].data.u64];
			w->cb(w->userdata);
		}
		/* Let the API finish what it read (timeouts, resumed connections). */
		api_run(d->api);
		if (d->n_pending) {
			daemon_flush(d);
			api_run(d->api);
		}
	}
	return 0;
}
