// SPDX-License-Identifier: MIT
/*
 * The docker module against the real dockerd in swarm mode: version negotiation, a labelled
 * service from flowproxy-testserver:local (scripts/build-test-image) seen by docker_list_services,
 * its running tasks and addresses, inspect with the raw JSON, and the events follower delivering
 * create, update (scale) and remove. Then docker_scale_service: up and down by one, the spec
 * after each byte for byte what it was but for the count, Version.Index moved, the running
 * tasks at the new count and none of the earlier ones restarted; at its limit nothing is sent;
 * two scales at once and a label added by the docker CLI all land, a version conflict among
 * them retried. Only the API is read: no traffic goes to the containers.
 * Prints "1..0 # SKIP" when there is no /var/run/docker.sock (scripts/run-tests counts that as a
 * failure); a socket that does not answer is a failure. The parts that need no engine (bad
 * hosts, the events follower against a fake daemon) are the unit test test_docker_fake.c.
 */
#include "flowproxy/acting.h"
#include "flowproxy/docker.h"
#include "flowproxy/loop.h"

#include "tap.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

static char svc_name[64], net_name[64];
static struct loop *L;

/* The client's calls report on the loop: these run it until the report (tests only). */
struct call {
	bool done;
	int r;
	char *err;
	struct docker_service_list services;
	struct docker_task_list tasks;
	struct docker_service service;
	char *raw;
};

static void on_call(void *userdata, const struct docker_result *res)
{
	struct call *c = userdata;

	c->done = true;
	c->r = res->r;
	c->err = xstrdup(res->err);
	if (res->services) {
		c->services = *res->services;
		*res->services = (struct docker_service_list){0};
	}
	if (res->tasks) {
		c->tasks = *res->tasks;
		*res->tasks = (struct docker_task_list){0};
	}
	if (res->service) {
		c->service = *res->service;
		*res->service = (struct docker_service){0};
		c->raw = xstrndup(res->body, res->len);
	}
}

static int call_wait(struct call *c, char **err)
{
	long long end = now_usec() + 30000000;

	while (!c->done && now_usec() < end)
		loop_iterate(L, 100);
	free(*err);
	*err = c->done ? c->err : xstrdup("no answer in 30 s");
	return c->done ? c->r : -ETIMEDOUT;
}

static int sync_ping(struct docker *d, char **err)
{
	struct call c = {0};

	docker_ping(d, on_call, &c);
	return call_wait(&c, err);
}

static int sync_list_services(struct docker *d, struct docker_service_list *ret, char **err)
{
	struct call c = {0};
	int r;

	docker_list_services(d, on_call, &c);
	r = call_wait(&c, err);
	*ret = c.services;
	return r;
}

static int sync_list_tasks(struct docker *d, const char *svc, struct docker_task_list *ret,
			   char **err)
{
	struct call c = {0};
	int r;

	docker_list_tasks(d, svc, on_call, &c);
	r = call_wait(&c, err);
	*ret = c.tasks;
	return r;
}

static int sync_inspect(struct docker *d, const char *id, struct docker_service *ret, char **raw,
			char **err)
{
	struct call c = {0};
	int r;

	docker_inspect_service(d, id, on_call, &c);
	r = call_wait(&c, err);
	if (ret)
		*ret = c.service;
	else
		docker_service_done(&c.service);
	if (raw)
		*raw = c.raw;
	else
		free(c.raw);
	return r;
}
static bool svc_created, net_created;

static void cleanup(void)
{
	char cmd[256];

	if (svc_created) {
		snprintf(cmd, sizeof(cmd), "docker service rm %s >/dev/null 2>&1", svc_name);
		if (system(cmd) != 0)
			tap_diag("cleanup: %s failed", cmd);
		svc_created = false;
	}
	if (net_created) {
		/* The network is busy until the tasks are gone. */
		for (int i = 0; i < 30; i++) {
			snprintf(cmd, sizeof(cmd), "docker network rm %s >/dev/null 2>&1",
				 net_name);
			if (system(cmd) == 0)
				break;
			sleep(1);
		}
		net_created = false;
	}
}

/* Runs cmd and returns its first output line (caller frees), NULL on failure. */
static char *run(const char *cmd)
{
	char line[256] = "";
	FILE *f = popen(cmd, "r");
	size_t n;

	if (!f)
		return NULL;
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	if (pclose(f) != 0)
		return NULL;
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	return xstrdup(line);
}

struct seen {
	const char *id;
	bool create, update_scale, remove;
	unsigned other;
};

static void on_event(void *userdata, const struct docker_event *ev)
{
	struct seen *s = userdata;

	if (!s->id || !streq(ev->actor_id, s->id)) {
		s->other++;
		return;
	}
	tap_diag("event %s %s %s %s", ev->type, ev->action, ev->name ? ev->name : "",
		 params_get(&ev->attributes, "replicas.new") ?: "");
	if (ev->kind == DOCKER_ACTION_CREATE)
		s->create = true;
	if (ev->kind == DOCKER_ACTION_UPDATE &&
	    str_set(params_get(&ev->attributes, "replicas.new")) &&
	    streq(params_get(&ev->attributes, "replicas.new"), "2"))
		s->update_scale = true;
	if (ev->kind == DOCKER_ACTION_REMOVE)
		s->remove = true;
}

/* Runs the follower until *flag is set or ms pass. */
static bool pump_until(struct docker_events *ev, const bool *flag, int ms)
{
	long long deadline = now_usec() + (long long)ms * 1000;

	while (!*flag && now_usec() < deadline)
		loop_iterate(L, 100);
	return *flag;
}

/* Polls docker_list_services until the service has `want` running tasks; copies it to *ret. */
static bool wait_service(struct docker *d, struct docker_events *ev, const char *name, long want,
			 struct docker_service *ret)
{
	for (int i = 0; i < 120; i++) {
		struct docker_service_list l = {0};
		_cleanup_free_ char *err = NULL;
		bool done = false;

		if (sync_list_services(d, &l, &err) < 0) {
			tap_diag("list services: %s", err);
			return false;
		}
		for (size_t k = 0; k < l.n; k++) {
			if (!streq(l.v[k].name, name) || l.v[k].running_tasks != want)
				continue;
			*ret = l.v[k];
			l.v[k] = (struct docker_service){0};
			done = true;
		}
		docker_service_list_done(&l);
		if (done)
			return true;
		for (long long end = now_usec() + 500000; now_usec() < end;)
			loop_iterate(L, 100);
	}
	return false;
}

/*
 * The task list of a service with two running replicas: each task's container ID is the one
 * whose hostname and name the engine set (Config.Hostname: its first 12 digits; Name:
 * "<service>.<slot>.<task ID>"), and acting_choose, run for each task's hostname, lets exactly
 * the lowest slot act while the other names that one's container.
 */
static void check_acting(const struct docker_task_list *l, const char *service)
{
	const struct docker_task *low = NULL;
	_cleanup_free_ char *low_name = NULL;
	size_t running = 0, acting_n = 0;

	for (size_t i = 0; i < l->n; i++)
		if (streq(l->v[i].state, "running") && (!low || l->v[i].slot < low->slot))
			low = &l->v[i];
	if (!tap_ok(low != NULL, "acting: a running task"))
		return;
	low_name = acting_task_name(low, service);
	for (size_t i = 0; i < l->n; i++) {
		const struct docker_task *t = &l->v[i];
		_cleanup_free_ char *cmd = NULL, *got = NULL, *who = NULL, *name = NULL;
		char host[ACTING_HOSTNAME_MIN + 1] = "";
		bool acting = false;

		if (!streq(t->state, "running"))
			continue;
		running++;
		if (!tap_ok(t->container_id && strlen(t->container_id) == 64,
			    "task slot %ld: container ID %s", t->slot,
			    t->container_id ? t->container_id : "(none)"))
			continue;
		memcpy(host, t->container_id, ACTING_HOSTNAME_MIN);
		cmd = xasprintf("docker container inspect -f '{{.Config.Hostname}} {{.Name}}' %s",
				t->container_id);
		got = run(cmd);
		free(cmd);
		name = acting_task_name(t, service);
		cmd = xasprintf("%s /%s", host, name);
		tap_is_str(got, cmd, "  its container's hostname and name");
		free(cmd);
		cmd = NULL;
		tap_is_int(acting_choose(l->v, l->n, NULL, service, host, false, &acting, &who), 1,
			   "  acting_choose finds the task by its hostname");
		acting_n += acting;
		if (t == low)
			tap_ok(acting && !who, "  slot %ld (the lowest) acts", t->slot);
		else
			tap_ok(!acting && who && streq(who, low_name), "  slot %ld defers to %s",
			       t->slot, who ? who : "(none)");
	}
	tap_ok(running == 2 && acting_n == 1, "acting: %zu of %zu running tasks act", acting_n,
	       running);
}

static size_t count_running(const struct docker_task_list *l, const char *net)
{
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++) {
		bool has_addr = false;

		for (size_t k = 0; k < l->v[i].n_addrs; k++)
			if (streq(l->v[i].addrs[k].network, net) && str_set(l->v[i].addrs[k].addr))
				has_addr = true;
		if (streq(l->v[i].state, "running") && has_addr)
			n++;
	}
	return n;
}

/* A scale's report, copied. */
struct scaled {
	bool done;
	int r;
	char *err;
	struct docker_scale sc; /* warnings owned here */
};

static void on_scaled(void *userdata, const struct docker_result *res)
{
	struct scaled *c = userdata;

	c->done = true;
	c->r = res->r;
	c->err = xstrdup(res->err);
	if (res->scale) {
		c->sc = *res->scale;
		res->scale->warnings = NULL;
	}
}

static void scaled_done(struct scaled *c)
{
	free(c->err);
	free(c->sc.warnings);
	*c = (struct scaled){0};
}

static int sync_scale(struct docker *d, const char *id, long delta, long min, long max,
		      struct scaled *c)
{
	long long end = now_usec() + 40000000;

	*c = (struct scaled){0};
	docker_scale_service(d, id, delta, min, max, on_scaled, c);
	while (!c->done && now_usec() < end)
		loop_iterate(L, 100);
	if (c->done && c->r < 0)
		tap_diag("scale: %s", c->err);
	return c->done ? c->r : -ETIMEDOUT;
}

/* The Spec of an inspect reply without Spec.Mode.Replicated.Replicas, as cJSON prints it. */
static char *spec_but_count(const char *raw)
{
	cJSON *root = raw ? cJSON_Parse(raw) : NULL;
	cJSON *spec = cJSON_GetObjectItemCaseSensitive(root, "Spec");
	cJSON *rep = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(spec, "Mode"), "Replicated");
	char *out;

	if (!rep || !cJSON_GetObjectItemCaseSensitive(rep, "Replicas")) {
		cJSON_Delete(root);
		return NULL;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(rep, "Replicas");
	out = cJSON_PrintUnformatted(spec);
	cJSON_Delete(root);
	return out;
}

/* The Spec's own bytes with the count set to n (docker_spec_scale used to cut them out). */
static char *spec_bytes(const char *raw, long n)
{
	char *out = NULL;
	size_t len;

	if (!raw || docker_spec_scale(raw, strlen(raw), n, &out, &len, NULL, NULL, NULL) < 0)
		return NULL;
	return out;
}

/* The IDs of the service's running tasks. */
static void running_ids(struct docker *d, const char *svc, struct strv *ret)
{
	struct docker_task_list tl = {0};
	_cleanup_free_ char *err = NULL;

	if (sync_list_tasks(d, svc, &tl, &err) < 0)
		tap_diag("tasks: %s", err);
	for (size_t i = 0; i < tl.n; i++)
		if (streq(tl.v[i].state, "running"))
			strv_add(ret, tl.v[i].id);
	docker_task_list_done(&tl);
}

static bool strv_has(const struct strv *v, const char *s)
{
	for (size_t i = 0; i < v->n; i++)
		if (streq(v->v[i], s))
			return true;
	return false;
}

/* Every task of before still runs, under its own ID, and n run in all. */
static bool tasks_kept(const struct strv *before, const struct strv *after, size_t n)
{
	size_t kept = 0;

	for (size_t i = 0; i < before->n; i++)
		if (strv_has(after, before->v[i]))
			kept++;
	if (kept != before->n || after->n != n)
		tap_diag("tasks: %zu of %zu kept, %zu running, want %zu", kept, before->n, after->n,
			 n);
	return kept == before->n && after->n == n;
}

/*
 * One scale by delta from `from`, checked against the engine: the result, the spec after it
 * (cJSON's view and the raw bytes) what it was but for the count, Version.Index moved, the tasks
 * reaching the count with the ones that were running kept (up) or a subset of them (down).
 */
static void check_scale(struct docker *d, struct docker_events *ev, const char *id, long from,
			long delta)
{
	long to = from + delta;
	struct docker_service before = {0}, after = {0}, listed = {0};
	struct strv t0 = {0}, t1 = {0};
	struct scaled c;
	_cleanup_free_ char *err = NULL, *raw0 = NULL, *raw1 = NULL, *a = NULL, *b = NULL,
			    *x = NULL, *y = NULL;

	running_ids(d, id, &t0);
	sync_inspect(d, id, &before, &raw0, &err);
	tap_is_int(sync_scale(d, id, delta, 1, 10, &c), 0, delta > 0 ? "scale +1" : "scale -1");
	tap_ok(c.sc.old_replicas == from && c.sc.new_replicas == to && c.sc.attempts >= 1,
	       "  %ld -> %ld in %d update(s)", c.sc.old_replicas, c.sc.new_replicas, c.sc.attempts);
	tap_is_int((long long)c.sc.version, (long long)before.version,
		   "  updated at the version read");
	sync_inspect(d, id, &after, &raw1, &err);
	tap_is_int(after.replicas, to, "  inspect: the new count");
	tap_ok(after.version > before.version, "  Version.Index moved (%" PRIu64 " -> %" PRIu64 ")",
	       before.version, after.version);
	a = spec_but_count(raw0);
	b = spec_but_count(raw1);
	tap_ok(a && b && streq(a, b), "  the spec is what it was but for the count (cJSON)");
	x = spec_bytes(raw0, to);
	y = spec_bytes(raw1, to);
	if (!tap_ok(x && y && streq(x, y), "  the spec's bytes as printed are too"))
		tap_diag("before: %s\nafter:  %s", x ? x : "", y ? y : "");
	if (tap_ok(wait_service(d, ev, svc_name, to, &listed), "  %ld tasks running", to)) {
		running_ids(d, id, &t1);
		/* Up: the earlier tasks among the new; down: the remaining among the earlier. */
		tap_ok(delta > 0 ? tasks_kept(&t0, &t1, (size_t)to)
				 : tasks_kept(&t1, &t0, t0.n) && t1.n == (size_t)to,
		       "  no task that was running was restarted");
	}
	docker_service_done(&listed);
	docker_service_done(&before);
	docker_service_done(&after);
	strv_done(&t0);
	strv_done(&t1);
	scaled_done(&c);
}

/*
 * Two scales by +1 started together, and the docker CLI adding a label at the same time (it
 * retries on its own conflicts): both scales land, so one of them met "update out of sequence"
 * and applied its delta to the count the other wrote; the label is there; the tasks that ran
 * before still run.
 */
static void check_concurrent(struct docker *d, struct docker_events *ev, const char *id, long from)
{
	struct scaled c1 = {0}, c2 = {0};
	struct docker_service after = {0}, listed = {0};
	struct strv t0 = {0}, t1 = {0};
	_cleanup_free_ char *err = NULL, *script = NULL;
	char *argv[] = {"sh", "-c", NULL, NULL};
	long long end = now_usec() + 60000000;
	int status = -1;
	pid_t pid = -1;

	running_ids(d, id, &t0);
	script = xasprintf("for i in 1 2 3 4 5 6 7 8 9 10; do docker service update -d -q "
			   "--label-add fp.test.concurrent=y %s >/dev/null 2>&1 && exit 0; "
			   "sleep 0.2; done; exit 1",
			   svc_name);
	argv[2] = script;
	if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) != 0)
		pid = -1;
	docker_scale_service(d, id, 1, 1, 10, on_scaled, &c1);
	docker_scale_service(d, id, 1, 1, 10, on_scaled, &c2);
	while ((!c1.done || !c2.done || pid > 0) && now_usec() < end) {
		loop_iterate(L, 50);
		if (pid > 0 && waitpid(pid, &status, WNOHANG) == pid)
			pid = 0;
	}
	tap_ok(pid == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "concurrent: docker service update --label-add succeeded");
	tap_ok(c1.done && c2.done && c1.r == 0 && c2.r == 0, "concurrent: both scales succeeded");
	if (c1.r < 0 || c2.r < 0)
		tap_diag("%s / %s", c1.err ? c1.err : "", c2.err ? c2.err : "");
	/* The engine may also serialize the two (each read after the other's write): then no
	 * conflict happens. The retry itself is proven against a fake engine that answers "out of
	 * sequence" on purpose (test_docker_fake); here both deltas must land either way. */
	tap_ok(c1.sc.attempts >= 1 && c2.sc.attempts >= 1,
	       "concurrent: both scales updated (%d + %d updates; more than 2: a conflict was retried)",
	       c1.sc.attempts, c2.sc.attempts);
	tap_ok((c1.sc.new_replicas == from + 1 && c2.sc.new_replicas == from + 2) ||
		       (c2.sc.new_replicas == from + 1 && c1.sc.new_replicas == from + 2),
	       "concurrent: one wrote %ld, the other %ld on top of it (%ld, %ld)", from + 1,
	       from + 2, c1.sc.new_replicas, c2.sc.new_replicas);
	sync_inspect(d, id, &after, NULL, &err);
	tap_is_int(after.replicas, from + 2, "concurrent: inspect: both deltas applied");
	tap_is_str(params_get(&after.labels, "fp.test.concurrent"), "y",
		   "concurrent: and the CLI's label is there");
	tap_is_str(params_get(&after.labels, "com.df.servicePath"), "/x",
		   "concurrent: the other labels too");
	if (tap_ok(wait_service(d, ev, svc_name, from + 2, &listed), "concurrent: %ld running",
		   from + 2)) {
		running_ids(d, id, &t1);
		tap_ok(tasks_kept(&t0, &t1, (size_t)(from + 2)),
		       "concurrent: no task that was running was restarted");
	}
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	docker_service_done(&listed);
	docker_service_done(&after);
	strv_done(&t0);
	strv_done(&t1);
	scaled_done(&c1);
	scaled_done(&c2);
}

int main(void)
{
	const char *src = getenv("FLOWPROXY_SOURCE_ROOT"), *bld = getenv("FLOWPROXY_BUILD_ROOT");
	struct docker *d = NULL;
	struct docker_events *ev = NULL;
	struct docker_service s = {0}, ins = {0};
	struct docker_task_list tl = {0};
	struct docker_events_stats st;
	struct seen seen = {0};
	_cleanup_free_ char *err = NULL, *cmd = NULL, *id = NULL, *raw = NULL;
	int r;

	if (access("/var/run/docker.sock", F_OK) != 0)
		return tap_skip_all(
			"no /var/run/docker.sock (scripts/start-docker starts an engine)");
	if (loop_new(&L) < 0)
		abort();
	tap_is_int(docker_new(L, "unix:///var/run/docker.sock", &d, &err), 0, "docker_new");
	r = sync_ping(d, &err);
	if (!tap_is_int(r, 0, "docker_ping")) {
		tap_diag("%s", err ? err : "");
		docker_free(d);
		printf("Bail out! /var/run/docker.sock does not answer\n");
		return 1;
	}
	tap_ok(docker_daemon_api_version(d) >= 100, "daemon API version %d",
	       docker_daemon_api_version(d));
	tap_ok(docker_parse_api_version(docker_api_version(d), &r) == 0 && r <= DOCKER_API_MAX,
	       "negotiated /v%s", docker_api_version(d));

	{
		struct docker_service_list l = {0};

		r = sync_list_services(d, &l, &err);
		docker_service_list_done(&l);
	}
	if (r == -ENOTCONN) {
		tap_diag("%s", err);
		docker_free(d);
		printf("Bail out! dockerd is not a swarm manager (docker swarm init)\n");
		return 1;
	}

	cmd = xasprintf("%s/scripts/build-test-image %s >/dev/null", src ? src : ".",
			bld ? bld : "build");
	if (!tap_ok(system(cmd) == 0, "scripts/build-test-image")) {
		docker_free(d);
		return tap_done();
	}
	atexit(cleanup);
	snprintf(svc_name, sizeof(svc_name), "fp-test-%d", (int)getpid());
	snprintf(net_name, sizeof(net_name), "fp-test-%d-net", (int)getpid());

	r = docker_events_new(d, NULL, 0, on_event, &seen, &ev, &err);
	tap_is_int(r, 0, "docker_events_new");
	if (r < 0) {
		docker_free(d);
		return tap_done();
	}

	free(cmd);
	cmd = xasprintf("docker network create -d overlay %s >/dev/null", net_name);
	net_created = tap_ok(system(cmd) == 0, "overlay network %s", net_name);
	free(cmd);
	cmd = xasprintf("docker service create -d -q --name %s --network %s --replicas 1 "
			"--label com.df.notify=true --label com.df.servicePath=/x "
			"--label com.df.port=80 flowproxy-testserver:local 2>/dev/null",
			svc_name, net_name);
	id = run(cmd);
	svc_created = id != NULL;
	if (!tap_ok(str_set(id), "service %s created (%s)", svc_name, id ? id : "")) {
		docker_events_free(ev);
		docker_free(d);
		return tap_done();
	}
	seen.id = id;

	/* List: labels, mode, counts. */
	if (tap_ok(wait_service(d, ev, svc_name, 1, &s), "docker_list_services: 1/1 running")) {
		tap_is_str(s.id, id, "list: ID");
		tap_is_str(params_get(&s.labels, "com.df.notify"), "true", "list: notify label");
		tap_is_str(params_get(&s.labels, "com.df.servicePath"), "/x", "list: servicePath");
		tap_is_str(params_get(&s.labels, "com.df.port"), "80", "list: port");
		tap_is_int(s.mode, DOCKER_MODE_REPLICATED, "list: replicated");
		tap_is_int(s.replicas, 1, "list: replicas 1");
		tap_is_int(s.desired_tasks, 1, "list: desired 1");
		tap_ok(s.version > 0 && str_set(s.updated_at), "list: version %" PRIu64, s.version);
	}
	docker_service_done(&s);

	/* Tasks, by name and all. */
	r = sync_list_tasks(d, svc_name, &tl, &err);
	tap_is_int(r, 0, "docker_list_tasks(name)");
	tap_is_int((long long)count_running(&tl, net_name), 1, "one running task with an address");
	for (size_t i = 0; i < tl.n; i++)
		for (size_t k = 0; k < tl.v[i].n_addrs; k++)
			tap_diag("task %s slot %ld %s %s on %s", tl.v[i].id, tl.v[i].slot,
				 tl.v[i].state, tl.v[i].addrs[k].addr, tl.v[i].addrs[k].network);
	docker_task_list_done(&tl);
	r = sync_list_tasks(d, NULL, &tl, &err);
	tap_ok(r == 0 && tl.n >= 1, "docker_list_tasks(NULL): %zu tasks", tl.n);
	docker_task_list_done(&tl);
	tap_is_int(sync_list_tasks(d, "fp-no-such-service", &tl, &err), -ENOENT,
		   "tasks of an unknown service: -ENOENT");

	/* Inspect, parsed and raw. */
	r = sync_inspect(d, id, &ins, &raw, &err);
	tap_is_int(r, 0, "docker_inspect_service");
	tap_ok(r == 0 && streq(ins.name, svc_name) && !ins.has_status, "inspect: name");
	tap_ok(raw && strstr(raw, "\"Spec\"") && strstr(raw, svc_name), "inspect: raw JSON");
	docker_service_done(&ins);
	tap_is_int(sync_inspect(d, "fp-no-such-service", NULL, NULL, &err), -ENOENT,
		   "inspect unknown: -ENOENT");
	tap_ok(err && strstr(err, "not found"), "message from Docker: %s", err ? err : "");

	/* Events: create, then scale to 2 (update with replicas.new=2). */
	tap_ok(pump_until(ev, &seen.create, 20000), "event: create");
	free(cmd);
	cmd = xasprintf("docker service scale -d %s=2 >/dev/null 2>&1", svc_name);
	tap_ok(system(cmd) == 0, "docker service scale %s=2", svc_name);
	tap_ok(pump_until(ev, &seen.update_scale, 20000), "event: update replicas.new=2");
	if (tap_ok(wait_service(d, ev, svc_name, 2, &s), "list: 2/2 running after scale"))
		tap_is_int(s.replicas, 2, "list: replicas 2");
	docker_service_done(&s);
	r = sync_list_tasks(d, id, &tl, &err);
	tap_is_int((long long)count_running(&tl, net_name), 2, "two running tasks by ID");
	docker_task_list_done(&tl);
	r = sync_list_tasks(d, svc_name, &tl, &err);
	if (tap_is_int(r, 0, "docker_list_tasks(name) at 2 replicas"))
		check_acting(&tl, svc_name);
	docker_task_list_done(&tl);

	/* docker_scale_service: up, down, at the limit, and under concurrent writers. */
	check_scale(d, ev, id, 2, 1);
	check_scale(d, ev, id, 3, -1);
	{
		struct scaled c;

		tap_is_int(sync_scale(d, svc_name, 1, 1, 2, &c), -ERANGE,
			   "scale at the maximum (by name): -ERANGE");
		tap_ok(c.sc.attempts == 0 && c.sc.old_replicas == 2 && c.err &&
			       strstr(c.err, "already at its maximum of 2 replicas"),
		       "  no update sent: %s", c.err ? c.err : "");
		scaled_done(&c);
		tap_is_int(sync_scale(d, "fp-no-such-service", 1, 1, 2, &c), -ENOENT,
			   "scale an unknown service: -ENOENT");
		scaled_done(&c);
	}
	check_concurrent(d, ev, id, 2);

	free(cmd);
	cmd = xasprintf("docker service rm %s >/dev/null 2>&1", svc_name);
	svc_created = !tap_ok(system(cmd) == 0, "docker service rm");
	tap_ok(pump_until(ev, &seen.remove, 20000), "event: remove");

	docker_events_get_stats(ev, &st);
	tap_ok(st.connected && st.connects == 1 && st.disconnects == 0, "one stream, still up");
	tap_ok(st.events >= 3 && st.bad_lines == 0, "%" PRIu64 " events, no bad lines", st.events);
	docker_events_free(ev);
	cleanup();
	docker_free(d);
	loop_free(L);
	return tap_done();
}
