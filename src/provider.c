// SPDX-License-Identifier: MIT
/*
 * provider: the swarm as a source of services (see provider.h). Each resync takes a snapshot
 * (swarm.h: parameters as the Swarm Listener would send them, and task addresses), diffs it with
 * the previous one, and submits the operations. Docker's events only trigger resyncs: a service
 * event, or a task container starting or dying, causes one at once, and a burst of events one
 * per PROVIDER_TICK_MS. Tasks reach "running" in the manager's view after the events that caused
 * them (the manager takes the nodes' task states in batches, about every 100 ms), so the swarm
 * is then polled: every PROVIDER_FAST_MS for PROVIDER_FAST_WINDOW_MS after a task container
 * started or died, every PROVIDER_POLL_MS for PROVIDER_SETTLE_MS after any event, and for as
 * long as a labelled service runs fewer or more tasks than it wants (up to PROVIDER_CONVERGE_MS
 * after the last event). The timer is one-shot, set to the next of these times: idle, flowproxy
 * wakes up only for the periodic resync.
 *
 * Each resync ends with one more call, GET /tasks of flowproxy's own service (SERVICE_NAME), to
 * decide whether this replica acts (acting.h). Its failure fails no resync: the last decision
 * stands until a later resync can list them again.
 */
#include "flowproxy/provider.h"
#include "flowproxy/acting.h"
#include "flowproxy/docker.h"
#include "flowproxy/labels.h"
#include "flowproxy/log.h"
#include "flowproxy/loop.h"
#include "flowproxy/notify.h"
#include "flowproxy/swarm.h"

#include <cjson/cJSON.h>
#include <time.h>

#define PROVIDER_TICK_MS	50
#define PROVIDER_FAST_MS	50
#define PROVIDER_FAST_WINDOW_MS 2000
#define PROVIDER_POLL_MS	250
#define PROVIDER_SETTLE_MS	15000
#define PROVIDER_CONVERGE_MS	60000

struct provider {
	struct daemon *d;
	struct loop *loop;
	provider_ready_fn ready_cb; /* once: the first resync's outcome */
	void *ready_userdata;
	bool ready;
	struct docker *docker;
	struct docker_req *req; /* the Docker call in flight: ping, networks, services, tasks, or
				 * the own service's tasks */
	struct docker_service_list services; /* a resync's first half, waiting for the tasks */
	struct docker_events *events;
	struct swarm_snapshot snap; /* routing: parameters without replicas, and addresses */
	struct swarm_snapshot full; /* what the Listener sends: parameters with replicas */
	struct notify *notify;
	struct loop_timer *timer;
	bool dirty;	       /* an event came since the last resync */
	long long last_event;  /* usec */
	long long last_resync; /* usec: the last resync attempt */
	long long poll_until;  /* usec: poll until then after an event */
	long long fast_until;  /* usec: poll fast until then after a task container event */
	time_t last_ok;	       /* wall clock of the last successful resync */
	uint64_t resync_failures;
	bool failing;	       /* the last resync failed: log the recovery, not every failure */
	long long next_resync; /* usec: the next full resync */
	char **networks;
	size_t n_networks;
	struct provider_count *counts; /* the last resync's replica counts, sorted by name */
	size_t n_counts;
	char hostname[256]; /* a task container's: its container ID's first 12 digits */
	provider_acting_fn acting_cb;
	void *acting_userdata;
	bool acting_known;   /* a decision was made: acting and acting_who hold it */
	bool acting;	     /* this replica acts */
	char *acting_who;    /* the task that acts instead, NULL when none or this one */
	bool was_task;	     /* a decision found this replica among its service's tasks */
	bool acting_failing; /* the last listing of the own tasks failed: log once per streak */
};

struct provider_count {
	char *name;
	long wanted, running;
};

static int count_cmp(const void *a, const void *b)
{
	return strcmp(((const struct provider_count *)a)->name,
		      ((const struct provider_count *)b)->name);
}

static void counts_free(struct provider_count *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

/* A global service or a job is listed too, with its task counts: scaling it is refused by
 * docker_scale_service with a message that says why. */
static void counts_update(struct provider *p, const struct docker_service_list *services)
{
	struct provider_count *v = xcalloc(services->n + 1, sizeof(*v));
	size_t n = 0;

	for (size_t i = 0; i < services->n; i++) {
		const struct docker_service *s = &services->v[i];
		bool replicated = s->mode == DOCKER_MODE_REPLICATED;
		v[n].name = xstrdup(s->name);
		v[n].wanted = replicated ? s->replicas : s->desired_tasks;
		v[n].running = s->has_status ? s->running_tasks : v[n].wanted;
		n++;
	}
	qsort(v, n, sizeof(*v), count_cmp);
	counts_free(p->counts, p->n_counts);
	p->counts = v;
	p->n_counts = n;
}

int provider_replicas(const struct provider *p, const char *service, long *ret_wanted,
		      long *ret_running)
{
	struct provider_count key = {.name = (char *)service};
	const struct provider_count *c =
		p->n_counts ? bsearch(&key, p->counts, p->n_counts, sizeof(key), count_cmp) : NULL;

	if (!c)
		return -ENOENT;
	if (ret_wanted)
		*ret_wanted = c->wanted;
	if (ret_running)
		*ret_running = c->running;
	return 0;
}

struct docker *provider_docker(const struct provider *p)
{
	return p->docker;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void submit_put(struct provider *p, const struct swarm_entry *e)
{
	daemon_submit_service(p->d, &e->params, "swarm", (const char *const *)e->addrs, e->n_addrs,
			      0);
}

/* Only the tasks changed: re-point the slots at run time, or re-render when they do not fit. */
static void submit_addrs(struct provider *p, const struct swarm_entry *e)
{
	daemon_submit_addrs(p->d, &e->params, "swarm", (const char *const *)e->addrs, e->n_addrs,
			    0);
}

/* The Listener's notifications: create when a service or its parameters (replicas included)
 * changed, remove when it is gone. */
static void notify_changes(struct provider *p, const struct swarm_snapshot *full)
{
	struct swarm_diff_entry *diff = NULL;
	size_t n = 0;

	if (!p->notify || swarm_diff(&p->full, full, &diff, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct swarm_diff_entry *e = &diff[i];
		if (e->change == SWARM_ADDED || e->change == SWARM_CONFIG_CHANGED)
			notify_service(p->notify, true, e->name, &e->cur->params);
		else if (e->change == SWARM_REMOVED) {
			struct params rm;
			params_init(&rm);
			for (size_t k = 0; k < e->old->params.n; k++)
				if (strcmp(e->old->params.v[k].key, "replicas") != 0)
					params_add(&rm, e->old->params.v[k].key,
						   e->old->params.v[k].value);
			notify_service(p->notify, false, e->name, &rm);
			params_done(&rm);
		}
	}
	free(diff);
}

char *provider_services_json(const struct provider *p)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; i < p->full.n; i++) {
		cJSON *o = cJSON_CreateObject();
		const struct params *ps = &p->full.v[i].params;
		for (size_t k = 0; k < ps->n; k++)
			cJSON_AddStringToObject(o, ps->v[k].key, ps->v[k].value);
		cJSON_AddItemToArray(a, o);
	}
	char *out = cJSON_PrintUnformatted(a);
	cJSON_Delete(a);
	return out;
}

void provider_status_json(const struct provider *p, cJSON *o)
{
	struct docker_events_stats es;
	cJSON *sw = cJSON_AddObjectToObject(o, "swarm");
	cJSON *ev;
	size_t tasks = 0;

	for (size_t i = 0; i < p->snap.n; i++)
		tasks += p->snap.v[i].n_addrs;
	docker_events_get_stats(p->events, &es);
	cJSON_AddStringToObject(sw, "dockerApi", docker_api_version(p->docker));
	cJSON_AddNumberToObject(sw, "services", (double)p->snap.n);
	cJSON_AddNumberToObject(sw, "tasks", (double)tasks);
	cJSON_AddNumberToObject(sw, "lastResync", (double)p->last_ok);
	cJSON_AddNumberToObject(sw, "resyncFailures", (double)p->resync_failures);
	ev = cJSON_AddObjectToObject(sw, "events");
	cJSON_AddBoolToObject(ev, "connected", es.connected);
	cJSON_AddNumberToObject(ev, "received", (double)es.events);
	cJSON_AddNumberToObject(ev, "reconnects", (double)es.disconnects);
	cJSON_AddNumberToObject(ev, "badLines", (double)es.bad_lines);
}

void provider_notify_all(struct provider *p)
{
	for (size_t i = 0; i < p->full.n; i++)
		notify_service(p->notify, true, p->full.v[i].name, &p->full.v[i].params);
}

static void schedule(struct provider *p);

/* The first resync (or the start-up before it) is over: tell main once. */
static void ready(struct provider *p, int r, const char *err)
{
	if (p->ready)
		return;
	p->ready = true;
	if (p->ready_cb)
		p->ready_cb(p->ready_userdata, r, err);
}

static void resync_failed(struct provider *p, const struct docker_result *res)
{
	docker_service_list_done(&p->services);
	/* Once per streak: a stalled engine fails a resync every 10 s. */
	if (!p->failing)
		log_warn("swarm: resync failed: %s; retrying", res->err);
	else
		log_debug("swarm: resync failed again: %s", res->err);
	p->failing = true;
	p->resync_failures++;
	ready(p, res->r, res->err);
	schedule(p);
}

/* Both halves are in: the snapshot, its diff with the last one, the operations. */
static void resync_apply(struct provider *p, const struct docker_task_list *tasks_in)
{
	struct docker_service_list services = p->services;
	struct docker_task_list tasks = *tasks_in;
	struct swarm_snapshot cur;
	struct swarm_diff_entry *diff = NULL;
	size_t n_diff = 0;

	p->services = (struct docker_service_list){0};
	counts_update(p, &services);
	struct swarm_snapshot full;
	bool converging = false;
	swarm_snapshot_init(&cur);
	swarm_snapshot_init(&full);
	for (size_t i = 0; i < services.n; i++) {
		const struct docker_service *s = &services.v[i];
		struct params params;
		struct params kept;
		char **addrs = NULL;
		size_t n_addrs = 0;
		_cleanup_free_ char *e2 = NULL;

		if (swarm_service_params(s, &params, &e2) < 0)
			continue;
		if (s->has_status && s->running_tasks != s->desired_tasks)
			converging = true;
		swarm_snapshot_put(&full, s->name, &params, NULL, 0);
		/* Replicas are the tasks' business: scaling must not look like a new config. */
		params_init(&kept);
		for (size_t k = 0; k < params.n; k++)
			if (strcmp(params.v[k].key, "replicas") != 0)
				params_add(&kept, params.v[k].key, params.v[k].value);
		swarm_task_addrs(tasks.v, tasks.n, s->id, (const char *const *)p->networks,
				 p->n_networks, &addrs, &n_addrs);
		swarm_snapshot_put(&cur, s->name, &kept, (const char *const *)addrs, n_addrs);
		swarm_addrs_free(addrs, n_addrs);
		params_done(&kept);
		params_done(&params);
	}
	if (swarm_diff(&p->snap, &cur, &diff, &n_diff) >= 0) {
		for (size_t i = 0; i < n_diff; i++) {
			const struct swarm_diff_entry *e = &diff[i];
			if (e->change != SWARM_UNCHANGED)
				log_info("swarm: service '%s' %s", e->name,
					 swarm_change_name(e->change));
			switch (e->change) {
			case SWARM_ADDED:
			case SWARM_CONFIG_CHANGED:
				submit_put(p, e->cur);
				break;
			case SWARM_REMOVED:
				daemon_submit(p->d, DAEMON_OP_REMOVE, NULL, NULL, 0, e->name, NULL,
					      NULL);
				break;
			case SWARM_ADDRS_CHANGED:
				submit_addrs(p, e->cur);
				break;
			case SWARM_UNCHANGED:
				break;
			}
		}
		free(diff);
	}
	swarm_snapshot_done(&p->snap);
	p->snap = cur;
	p->last_ok = time(NULL);
	if (converging) {
		long long until = now_usec() + PROVIDER_POLL_MS * 2000LL;
		long long cap = p->last_event + PROVIDER_CONVERGE_MS * 1000LL;
		if (until > cap)
			until = cap;
		if (until > p->poll_until)
			p->poll_until = until;
	}
	notify_changes(p, &full);
	swarm_snapshot_done(&p->full);
	p->full = full;
	docker_service_list_done(&services);
}

void provider_set_acting_cb(struct provider *p, provider_acting_fn cb, void *userdata)
{
	p->acting_cb = cb;
	p->acting_userdata = userdata;
	if (cb && p->acting_known)
		cb(userdata, p->acting, p->acting_who);
}

static bool str_eq_null(const char *a, const char *b)
{
	return a && b ? streq(a, b) : a == b;
}

/* A new decision from the own service's tasks (none when it has none): logged and reported when
 * it differs from the last one. */
static void acting_update(struct provider *p, const struct docker_task *tasks, size_t n)
{
	const char *name = daemon_config(p->d)->service_name;
	_cleanup_free_ char *who = NULL;
	bool acting;
	int r;

	r = acting_choose(tasks, n, NULL, name, p->hostname, p->was_task, &acting, &who);
	if (r < 0)
		return;
	p->was_task |= r > 0;
	if (p->acting_known && acting == p->acting && str_eq_null(who, p->acting_who))
		return;
	if (acting && r > 0)
		log_info("swarm: this replica acts: the running task of '%s' with the lowest slot",
			 name);
	else if (acting)
		log_info("swarm: not a task of '%s' (hostname '%s'): acting alone", name,
			 p->hostname);
	else if (who)
		log_info("swarm: '%s' acts; this replica evaluates and reports", who);
	else
		log_info("swarm: this replica is leaving '%s': it no longer acts", name);
	p->acting_known = true;
	p->acting = acting;
	free(p->acting_who);
	p->acting_who = TAKE_PTR(who);
	if (p->acting_cb)
		p->acting_cb(p->acting_userdata, p->acting, p->acting_who);
}

/* The resync's last step: whether this replica acts. */
static void on_own_tasks(void *userdata, const struct docker_result *res)
{
	struct provider *p = userdata;
	const char *name = daemon_config(p->d)->service_name;

	p->req = NULL;
	if (res->r >= 0 || res->r == -ENOENT) {
		/* -ENOENT: no service of that name (the engine resolves the filter's name, 404). */
		if (p->acting_failing)
			log_info("swarm: the tasks of '%s' are listed again", name);
		p->acting_failing = false;
		acting_update(p, res->r >= 0 ? res->tasks->v : NULL,
			      res->r >= 0 ? res->tasks->n : 0);
	} else if (!p->acting_failing) {
		p->acting_failing = true;
		log_warn("swarm: cannot list the tasks of '%s' (%s): %s", name, res->err,
			 p->acting_known ? "keeping the last decision on acting"
					 : "no decision on acting yet");
	} else {
		log_debug("swarm: listing the tasks of '%s' failed again: %s", name, res->err);
	}
	ready(p, 0, "");
	schedule(p);
}

static void on_tasks(void *userdata, const struct docker_result *res)
{
	struct provider *p = userdata;
	const char *name = daemon_config(p->d)->service_name;

	p->req = NULL;
	if (res->r < 0) {
		resync_failed(p, res);
		return;
	}
	resync_apply(p, res->tasks);
	if (p->failing)
		log_info("swarm: resync succeeded again");
	p->failing = false;
	if (str_set(name)) {
		p->req = docker_list_tasks(p->docker, name, on_own_tasks, p);
		return;
	}
	acting_update(p, NULL, 0);
	ready(p, 0, "");
	schedule(p);
}

static void on_services(void *userdata, const struct docker_result *res)
{
	struct provider *p = userdata;

	p->req = NULL;
	if (res->r < 0) {
		resync_failed(p, res);
		return;
	}
	docker_service_list_done(&p->services);
	p->services = *res->services;
	*res->services = (struct docker_service_list){0};
	p->req = docker_list_tasks(p->docker, NULL, on_tasks, p);
}

/* Starts a resync unless one is in flight (then an event marks the provider dirty, and the
 * next one follows once this ends). */
static void resync_start(struct provider *p)
{
	if (p->req)
		return;
	p->dirty = false;
	p->last_resync = now_usec();
	p->req = docker_list_services(p->docker, on_services, p);
}

/* When the next resync is due (CLOCK_MONOTONIC usec, as now_usec). */
static long long next_due(const struct provider *p, long long now)
{
	long long due = p->next_resync;
	long long step = 0;

	if (p->dirty)
		step = PROVIDER_TICK_MS;
	else if (now < p->fast_until)
		step = PROVIDER_FAST_MS;
	else if (now < p->poll_until)
		step = PROVIDER_POLL_MS;
	if (step && p->last_resync + step * 1000LL < due)
		due = p->last_resync + step * 1000LL;
	return due;
}

static void schedule(struct provider *p)
{
	/* A resync in flight reschedules when it ends. */
	if (p->timer && !p->req)
		loop_timer_at(p->timer, next_due(p, now_usec()));
}

static void on_event(void *userdata, const struct docker_event *ev)
{
	struct provider *p = userdata;

	bool container = ev->type && streq(ev->type, "container");

	/* Containers matter only as swarm tasks. */
	if (container && !params_get(&ev->attributes, "com.docker.swarm.service.name"))
		return;
	log_debug("swarm: event %s %s '%s'", ev->type, ev->action, ev->name ? ev->name : "");
	p->dirty = true;
	p->last_event = now_usec();
	p->poll_until = p->last_event + PROVIDER_SETTLE_MS * 1000LL;
	if (container)
		p->fast_until = p->last_event + PROVIDER_FAST_WINDOW_MS * 1000LL;
	schedule(p);
}

static void on_timer(void *userdata)
{
	struct provider *p = userdata;
	long long now = now_usec();

	if (!p->req && now >= next_due(p, now)) {
		if (now >= p->next_resync)
			p->next_resync = now + daemon_config(p->d)->resync_interval * 1000000LL;
		resync_start(p);
		return;
	}
	schedule(p);
}

static void start_following(struct provider *p)
{
	_cleanup_free_ char *err = NULL;
	int r = docker_events_new(p->docker, NULL, 0, on_event, p, &p->events, &err);

	if (r < 0) {
		ready(p, r, err);
		return;
	}
	p->last_event = now_usec();
	p->next_resync = now_usec() + daemon_config(p->d)->resync_interval * 1000000LL;
	resync_start(p);
}

/*
 * Without SWARM_NETWORKS, a flowproxy that runs in a container routes to the tasks' addresses on
 * the networks it shares with them: its own container (the host name) is asked for its networks.
 * Not in a container (no such container), it keeps "any network but ingress".
 */
static void on_networks(void *userdata, const struct docker_result *res)
{
	static const char *const skip[] = {"ingress", "bridge", "host", "none", "docker_gwbridge"};
	struct provider *p = userdata;
	struct strbuf names;

	p->req = NULL;
	if (res->r == -ENOENT) {
		log_debug("swarm: not in a container: tasks on any network but ingress");
	} else if (res->r < 0) {
		log_warn("swarm: cannot read this container's networks (%s): tasks on any network "
			 "but ingress; set SWARM_NETWORKS",
			 res->err);
	} else {
		strbuf_init(&names);
		for (size_t i = 0; i < res->networks->n; i++) {
			const char *net = res->networks->v[i];
			bool keep = true;

			for (size_t k = 0; k < ARRAY_SIZE(skip); k++)
				keep &= !streq(net, skip[k]);
			if (!keep)
				continue;
			p->networks = xrealloc(p->networks, (p->n_networks + 1) * sizeof(char *));
			p->networks[p->n_networks++] = xstrdup(net);
			strbuf_printf(&names, "%s%s", names.len ? ", " : "", net);
		}
		if (p->n_networks)
			log_info("swarm: routing to tasks on this container's networks: %s",
				 strbuf_str(&names));
		strbuf_done(&names);
	}
	start_following(p);
}

static void on_ping(void *userdata, const struct docker_result *res)
{
	struct provider *p = userdata;

	p->req = NULL;
	if (res->r < 0) {
		ready(p, res->r, res->err);
		return;
	}
	if (p->n_networks == 0 && p->hostname[0]) {
		p->req = docker_container_networks(p->docker, p->hostname, on_networks, p);
		return;
	}
	start_following(p);
}

int provider_new(struct loop *loop, struct daemon *d, provider_ready_fn ready_cb, void *userdata,
		 struct provider **ret, char **reterr)
{
	const struct config *c = daemon_config(d);
	struct provider *p = xcalloc(1, sizeof(*p));
	int r;

	p->d = d;
	p->loop = loop;
	p->ready_cb = ready_cb;
	p->ready_userdata = userdata;
	swarm_snapshot_init(&p->snap);
	swarm_snapshot_init(&p->full);
	struct notify_options no = {
		c->notify_create_urls,	  c->notify_remove_urls, c->notify_create_methods,
		c->notify_remove_methods, c->df_retry,		 c->df_retry_interval};
	r = notify_new(&no, &p->notify, reterr);
	if (r < 0) {
		provider_free(p);
		return r;
	}
	const char *net = c->swarm_networks;
	while (net && *net) {
		size_t n = strcspn(net, ",");
		if (n) {
			p->networks = xrealloc(p->networks, (p->n_networks + 1) * sizeof(char *));
			p->networks[p->n_networks++] = xstrndup(net, n);
		}
		net += n + (net[n] == ',');
	}
	r = docker_new(loop, str_set(c->docker_host) ? c->docker_host : NULL, &p->docker, reterr);
	if (r < 0) {
		provider_free(p);
		return r;
	}
	if (gethostname(p->hostname, sizeof(p->hostname) - 1) < 0)
		p->hostname[0] = '\0';
	p->timer = loop_timer_new(loop, on_timer, p);
	p->last_event = p->last_resync = now_usec();
	p->req = docker_ping(p->docker, on_ping, p);
	*ret = p;
	return 0;
}

void provider_free(struct provider *p)
{
	if (!p)
		return;
	docker_cancel(p->req);
	docker_events_free(p->events);
	docker_service_list_done(&p->services);
	docker_free(p->docker);
	notify_free(p->notify);
	swarm_snapshot_done(&p->snap);
	swarm_snapshot_done(&p->full);
	free_strv(p->networks, p->n_networks);
	counts_free(p->counts, p->n_counts);
	free(p->acting_who);
	loop_timer_free(p->timer);
	free(p);
}
