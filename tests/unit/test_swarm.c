// SPDX-License-Identifier: MIT
/*
 * Unit tests for swarm: DFSL's parameter map from the captured services (tests/fixtures/docker/)
 * and from hand-built services, task address selection, and snapshot diff classification.
 */
#include "flowproxy/swarm.h"

#include "tap.h"
#include "testlib.h"

/* A reply captured from the real Docker Engine (tests/fixtures/docker/). */
static char *fixture(const char *name, size_t *len)
{
	_cleanup_free_ char *rel = xasprintf("docker/%s", name);

	return read_fixture(rel, len);
}

/* "k=v&k=v" of a params map, in its order; caller frees. */
static char *params_str(const struct params *p)
{
	struct strbuf b;

	strbuf_init(&b);
	for (size_t i = 0; i < p->n; i++)
		strbuf_printf(&b, "%s%s=%s", i ? "&" : "", p->v[i].key, p->v[i].value);
	return strbuf_steal(&b);
}

static char *addrs_str(char **v, size_t n)
{
	struct strbuf b;

	strbuf_init(&b);
	for (size_t i = 0; i < n; i++)
		strbuf_printf(&b, "%s%s", i ? "," : "", v[i]);
	return strbuf_steal(&b);
}

static void test_fixture_services(void)
{
	struct docker_service_list l = {0};
	_cleanup_free_ char *err = NULL;
	size_t len;
	_cleanup_free_ char *body = fixture("services.json", &len);

	tap_is_int(docker_parse_services(body, len, &l, &err), 0, "services.json parses");
	for (size_t i = 0; i < l.n; i++) {
		struct params p;
		_cleanup_free_ char *got = NULL;
		const char *want;

		if (streq(l.v[i].name, "fp-fixture-web"))
			want = "distribute=true&port=80&replicas=3&serviceName=fp-fixture-web&"
			       "servicePath=/web";
		else
			want = "distribute=true&port=80&serviceName=fp-fixture-global&servicePath=/g";
		tap_is_int(swarm_service_params(&l.v[i], &p, NULL), 0, l.v[i].name);
		got = params_str(&p);
		tap_is_str(got, want, "fixture params (replicas only when replicated)");
		params_done(&p);
	}
	docker_service_list_done(&l);
}

struct params_case {
	const char *name;
	const char *svc_name;
	enum docker_mode mode;
	long replicas;
	const char *labels[12]; /* key, value, ..., NULL */
	int ret;
	const char *want;
};

static const struct params_case params_cases[] = {
	{"prefix stripped, other labels skipped, notify not forwarded",
	 "web",
	 DOCKER_MODE_REPLICATED,
	 2,
	 {"com.df.notify", "true", "com.df.servicePath", "/x", "com.df.alertIf.1", "@a:1",
	  "com.docker.stack.namespace", "st", "other", "y", NULL},
	 0,
	 "alertIf.1=@a:1&distribute=true&replicas=2&serviceName=web&servicePath=/x"},
	{"notify TRUE case-insensitive",
	 "web",
	 DOCKER_MODE_REPLICATED,
	 1,
	 {"com.df.notify", "TRUE", NULL},
	 0,
	 "distribute=true&replicas=1&serviceName=web"},
	{"notify missing",
	 "web",
	 DOCKER_MODE_REPLICATED,
	 1,
	 {"com.df.port", "80", NULL},
	 -ENOENT,
	 NULL},
	{"notify false",
	 "web",
	 DOCKER_MODE_REPLICATED,
	 1,
	 {"com.df.notify", "false", NULL},
	 -ENOENT,
	 NULL},
	{"shortName trims stack prefix",
	 "st_web",
	 DOCKER_MODE_REPLICATED,
	 1,
	 {"com.df.notify", "true", "com.df.shortName", "True", "com.docker.stack.namespace", "st",
	  NULL},
	 0,
	 "distribute=true&replicas=1&serviceName=web&shortName=True"},
	{"shortName without stack keeps name",
	 "st_web",
	 DOCKER_MODE_REPLICATED,
	 1,
	 {"com.df.notify", "true", "com.df.shortName", "true", NULL},
	 0,
	 "distribute=true&replicas=1&serviceName=st_web&shortName=true"},
	{"shortName=false keeps name",
	 "st_web",
	 DOCKER_MODE_REPLICATED,
	 1,
	 {"com.df.notify", "true", "com.df.shortName", "false", "com.docker.stack.namespace", "st",
	  NULL},
	 0,
	 "distribute=true&replicas=1&serviceName=st_web&shortName=false"},
	{"shortName, name not under stack",
	 "other_web",
	 DOCKER_MODE_REPLICATED,
	 1,
	 {"com.df.notify", "true", "com.df.shortName", "true", "com.docker.stack.namespace", "st",
	  NULL},
	 0,
	 "distribute=true&replicas=1&serviceName=other_web&shortName=true"},
	{"serviceName label overwritten",
	 "web",
	 DOCKER_MODE_REPLICATED,
	 1,
	 {"com.df.notify", "true", "com.df.serviceName", "evil", NULL},
	 0,
	 "distribute=true&replicas=1&serviceName=web"},
	{"distribute label kept",
	 "web",
	 DOCKER_MODE_REPLICATED,
	 1,
	 {"com.df.notify", "true", "com.df.distribute", "false", NULL},
	 0,
	 "distribute=false&replicas=1&serviceName=web"},
	{"global: no replicas",
	 "g",
	 DOCKER_MODE_GLOBAL,
	 0,
	 {"com.df.notify", "true", NULL},
	 0,
	 "distribute=true&serviceName=g"},
	{"replicated 0 replicas",
	 "z",
	 DOCKER_MODE_REPLICATED,
	 0,
	 {"com.df.notify", "true", NULL},
	 0,
	 "distribute=true&replicas=0&serviceName=z"},
	{"replicated job: no replicas",
	 "j",
	 DOCKER_MODE_REPLICATED_JOB,
	 0,
	 {"com.df.notify", "true", NULL},
	 0,
	 "distribute=true&serviceName=j"},
	{"empty stripped key dropped",
	 "web",
	 DOCKER_MODE_REPLICATED,
	 1,
	 {"com.df.notify", "true", "com.df.", "x", NULL},
	 0,
	 "distribute=true&replicas=1&serviceName=web"},
	{"no name", "", DOCKER_MODE_REPLICATED, 1, {"com.df.notify", "true", NULL}, -EINVAL, NULL},
};

static void test_params_table(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(params_cases); i++) {
		const struct params_case *c = &params_cases[i];
		struct docker_service s = {0};
		struct params p;
		_cleanup_free_ char *err = NULL;
		int r;

		s.id = xstrdup("id1");
		s.name = xstrdup(c->svc_name);
		s.mode = c->mode;
		s.replicas = c->replicas;
		params_init(&s.labels);
		for (size_t j = 0; c->labels[j]; j += 2)
			params_add(&s.labels, c->labels[j], c->labels[j + 1]);
		r = swarm_service_params(&s, &p, &err);
		tap_is_int(r, c->ret, c->name);
		if (r == 0) {
			_cleanup_free_ char *got = params_str(&p);

			tap_is_str(got, c->want, c->name);
			params_done(&p);
		} else {
			tap_ok(err != NULL, "%s: message", c->name);
		}
		docker_service_done(&s);
	}
}

static void test_fixture_tasks(void)
{
	struct docker_task_list l = {0}, g = {0};
	_cleanup_free_ char *err = NULL;
	size_t len;
	_cleanup_free_ char *body = fixture("tasks.json", &len);
	_cleanup_free_ char *gbody = NULL;
	const char *net[] = {"fp-fixture-net"}, *other[] = {"nope"};
	char **v;
	size_t n;

	tap_is_int(docker_parse_tasks(body, len, &l, &err), 0, "tasks.json parses");
	swarm_task_addrs(l.v, l.n, "rjz8b95j0tagp2q53mo8qul5l", NULL, 0, &v, &n);
	{
		_cleanup_free_ char *got = addrs_str(v, n);

		tap_is_str(got, "10.0.1.3,10.0.1.4,10.0.1.6", "fixture: any network, sorted");
	}
	swarm_addrs_free(v, n);
	swarm_task_addrs(l.v, l.n, "rjz8b95j0tagp2q53mo8qul5l", net, 1, &v, &n);
	tap_is_int((long long)n, 3, "fixture: named network");
	swarm_addrs_free(v, n);
	swarm_task_addrs(l.v, l.n, "rjz8b95j0tagp2q53mo8qul5l", other, 1, &v, &n);
	tap_ok(n == 0 && v == NULL, "fixture: unattached network gives none");
	swarm_task_addrs(l.v, l.n, "other-service", NULL, 0, &v, &n);
	tap_ok(n == 0 && v == NULL, "fixture: other service gives none");
	docker_task_list_done(&l);

	gbody = fixture("tasks-global.json", &len);
	tap_is_int(docker_parse_tasks(gbody, len, &g, &err), 0, "tasks-global.json parses");
	swarm_task_addrs(g.v, g.n, "ic3ogszjv3l9bo1rz1db9iidz", NULL, 0, &v, &n);
	tap_ok(n == 0 && v == NULL, "fixture: global task without attachments has no address");
	docker_task_list_done(&g);
}

struct task_def {
	const char *service, *state, *desired;
	const char *nets[6]; /* network, addr, ..., NULL */
};

static const struct task_def task_defs[] = {
	{"s1", "running", "running", {"ingress", "10.255.0.5", "front", "10.0.1.10", NULL}},
	{"s1", "running", "running", {"back", "10.0.2.3", "front", "10.0.1.2", NULL}},
	{"s1", "starting", "running", {"front", "10.0.1.7", NULL}},
	{"s1", "running", "shutdown", {"front", "10.0.1.8", NULL}},
	{"s1", "failed", "shutdown", {"front", "10.0.1.9", NULL}},
	{"s1", "running", "running", {"ingress", "10.255.0.6", NULL}},
	{"s1", "running", "running", {"front", "fd00::1", NULL}},
	{"s1", "running", "running", {"front", "10.0.1.2", NULL}}, /* duplicate */
	{"s2", "running", "running", {"front", "10.0.1.99", NULL}},
};

struct addrs_case {
	const char *name;
	const char *networks[3];
	size_t n_networks;
	const char *want;
};

static const struct addrs_case addrs_cases[] = {
	{"any network: first non-ingress, running only, unique, v4 before v6",
	 {NULL},
	 0,
	 "10.0.1.2,10.0.1.10,10.0.2.3,fd00::1"},
	{"front", {"front"}, 1, "10.0.1.2,10.0.1.10,fd00::1"},
	{"back preferred over front", {"back", "front"}, 2, "10.0.1.2,10.0.1.10,10.0.2.3,fd00::1"},
	{"ingress only when asked", {"ingress"}, 1, "10.255.0.5,10.255.0.6"},
	{"unknown network", {"zzz"}, 1, ""},
};

static void test_addrs_table(void)
{
	struct docker_task t[ARRAY_SIZE(task_defs)];
	struct docker_task_addr a[ARRAY_SIZE(task_defs)][3];

	memset(t, 0, sizeof(t));
	for (size_t i = 0; i < ARRAY_SIZE(task_defs); i++) {
		t[i].service_id = (char *)task_defs[i].service;
		t[i].state = (char *)task_defs[i].state;
		t[i].desired_state = (char *)task_defs[i].desired;
		t[i].addrs = a[i];
		for (size_t j = 0; task_defs[i].nets[j]; j += 2) {
			a[i][j / 2].network = (char *)task_defs[i].nets[j];
			a[i][j / 2].addr = (char *)task_defs[i].nets[j + 1];
			t[i].n_addrs++;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(addrs_cases); i++) {
		const struct addrs_case *c = &addrs_cases[i];
		char **v;
		size_t n;
		_cleanup_free_ char *got = NULL;

		tap_is_int(swarm_task_addrs(t, ARRAY_SIZE(t), "s1", c->networks, c->n_networks, &v,
					    &n),
			   0, c->name);
		got = addrs_str(v, n);
		tap_is_str(got, c->want, c->name);
		swarm_addrs_free(v, n);
	}
}

/* One service of a snapshot: "k=v&k=v" parameters and "a,b" addresses (NULL: not present). */
struct snap_def {
	const char *name, *params, *addrs;
};

static void snap_fill(struct swarm_snapshot *s, const struct snap_def *defs, size_t n)
{
	for (size_t i = 0; i < n && defs[i].name; i++) {
		struct params p;
		const char *addrs[8];
		size_t n_addrs = 0;
		_cleanup_free_ char *pcopy = xstrdup(defs[i].params);
		_cleanup_free_ char *acopy = xstrdup(defs[i].addrs);
		char *save = NULL, *tok;

		params_init(&p);
		for (tok = strtok_r(pcopy, "&", &save); tok; tok = strtok_r(NULL, "&", &save)) {
			char *eq = strchr(tok, '=');

			*eq = '\0';
			params_add(&p, tok, eq + 1);
		}
		for (tok = strtok_r(acopy, ",", &save); tok && n_addrs < ARRAY_SIZE(addrs);
		     tok = strtok_r(NULL, ",", &save))
			addrs[n_addrs++] = tok;
		tap_is_int(swarm_snapshot_put(s, defs[i].name, &p, addrs, n_addrs), 0,
			   defs[i].name);
		params_done(&p);
	}
}

static void test_diff(void)
{
	static const struct snap_def old_defs[] = {
		{"a-same", "serviceName=a&port=80", "10.0.0.1,10.0.0.2"},
		{"b-gone", "serviceName=b", ""},
		{"c-conf", "serviceName=c&port=80", "10.0.0.3"},
		{"d-addrs", "serviceName=d&port=80", "10.0.0.4"},
		{"e-reorder", "serviceName=e&port=80", "10.0.0.6,10.0.0.5"},
		{"f-both", "serviceName=f&replicas=1", "10.0.0.7"},
	};
	static const struct snap_def cur_defs[] = {
		{"f-both", "serviceName=f&replicas=2", "10.0.0.7,10.0.0.8"},
		{"e-reorder", "port=80&serviceName=e", "10.0.0.5,10.0.0.6,10.0.0.5"},
		{"d-addrs", "serviceName=d&port=80", "10.0.0.9"},
		{"c-conf", "serviceName=c&port=81", "10.0.0.3"},
		{"a-same", "port=80&serviceName=a", "10.0.0.2,10.0.0.1"},
		{"0-new", "serviceName=0", "10.0.0.10"},
	};
	static const struct {
		const char *name;
		enum swarm_change change;
	} want[] = {
		{"0-new", SWARM_ADDED},		  {"a-same", SWARM_UNCHANGED},
		{"b-gone", SWARM_REMOVED},	  {"c-conf", SWARM_CONFIG_CHANGED},
		{"d-addrs", SWARM_ADDRS_CHANGED}, {"e-reorder", SWARM_UNCHANGED},
		{"f-both", SWARM_CONFIG_CHANGED},
	};
	struct swarm_snapshot old, cur, empty;
	struct swarm_diff_entry *d;
	const struct swarm_entry *e;
	size_t n;

	swarm_snapshot_init(&old);
	swarm_snapshot_init(&cur);
	swarm_snapshot_init(&empty);
	snap_fill(&old, old_defs, ARRAY_SIZE(old_defs));
	snap_fill(&cur, cur_defs, ARRAY_SIZE(cur_defs));

	tap_is_int(swarm_diff(&old, &cur, &d, &n), 0, "diff");
	if (tap_is_int((long long)n, ARRAY_SIZE(want), "diff: one entry per service")) {
		for (size_t i = 0; i < n; i++) {
			tap_is_str(d[i].name, want[i].name, "diff: name order");
			tap_is_str(swarm_change_name(d[i].change),
				   swarm_change_name(want[i].change), want[i].name);
			tap_ok((d[i].old != NULL) == (want[i].change != SWARM_ADDED) &&
				       (d[i].cur != NULL) == (want[i].change != SWARM_REMOVED),
			       "%s: old/cur pointers", want[i].name);
		}
	}
	free(d);

	tap_is_int(swarm_diff(&empty, &empty, &d, &n), 0, "diff of empty snapshots");
	tap_ok(n == 0 && d == NULL, "empty diff has no entries");
	tap_is_int(swarm_diff(&empty, &cur, &d, &n), 0, "diff from empty");
	tap_ok(n == cur.n && d[0].change == SWARM_ADDED && d[n - 1].change == SWARM_ADDED,
	       "all added");
	free(d);
	tap_is_int(swarm_diff(&cur, &empty, &d, &n), 0, "diff to empty");
	tap_ok(n == cur.n && d[0].change == SWARM_REMOVED && d[n - 1].change == SWARM_REMOVED,
	       "all removed");
	free(d);

	/* put replaces; get finds; normalisation. */
	e = swarm_snapshot_get(&cur, "e-reorder");
	if (tap_ok(e != NULL, "get e-reorder")) {
		_cleanup_free_ char *a = addrs_str(e->addrs, e->n_addrs);
		_cleanup_free_ char *p = params_str(&e->params);

		tap_is_str(a, "10.0.0.5,10.0.0.6", "put sorts and dedups addresses");
		tap_is_str(p, "port=80&serviceName=e", "put sorts params");
	}
	tap_ok(swarm_snapshot_get(&cur, "b-gone") == NULL, "get absent");
	tap_is_int(swarm_snapshot_put(&cur, "a-same", NULL, NULL, 0), 0, "put replaces");
	tap_is_int((long long)cur.n, ARRAY_SIZE(cur_defs), "replace keeps count");
	e = swarm_snapshot_get(&cur, "a-same");
	tap_ok(e && e->params.n == 0 && e->n_addrs == 0, "replaced entry");
	tap_is_int(swarm_snapshot_put(&cur, "", NULL, NULL, 0), -EINVAL, "put: empty name");

	swarm_snapshot_done(&old);
	swarm_snapshot_done(&cur);
	swarm_snapshot_done(&empty);
	swarm_snapshot_done(NULL);
}

int main(void)
{
	test_fixture_services();
	test_params_table();
	test_fixture_tasks();
	test_addrs_table();
	test_diff();
	return tap_done();
}
