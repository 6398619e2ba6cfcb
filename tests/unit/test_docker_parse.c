// SPDX-License-Identifier: MIT
/*
 * Unit tests for docker's pure parsers: replies captured from a real dockerd 20.10 in swarm mode
 * (tests/fixtures/docker/), then tables of malformed input that must fail cleanly. The spec of a
 * scaling update is checked byte for byte against the captured services (a spec with "Replicas"
 * in labels, env and container labels, escapes and non-ASCII text; a PreviousSpec; 0 replicas;
 * global services and jobs) and a table of hand-made objects.
 */
#include "flowproxy/docker.h"

#include "tap.h"
#include "testlib.h"

#include <cjson/cJSON.h>
#include <inttypes.h>

/* A reply captured from the real Docker Engine (tests/fixtures/docker/). */
static char *fixture(const char *name, size_t *len)
{
	_cleanup_free_ char *rel = xasprintf("docker/%s", name);

	return read_fixture(rel, len);
}

static const struct docker_service *find_service(const struct docker_service_list *l,
						 const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (streq(l->v[i].name, name))
			return &l->v[i];
	return NULL;
}

static void test_fixture_services(void)
{
	struct docker_service_list l = {0};
	const struct docker_service *s;
	_cleanup_free_ char *err = NULL;
	size_t len;
	_cleanup_free_ char *body = fixture("services.json", &len);

	tap_is_int(docker_parse_services(body, len, &l, &err), 0, "services.json parses");
	tap_is_int((long long)l.n, 2, "two labelled services");
	s = find_service(&l, "fp-fixture-web");
	if (tap_ok(s != NULL, "fp-fixture-web listed")) {
		tap_is_str(s->id, "rjz8b95j0tagp2q53mo8qul5l", "web: ID");
		tap_is_int(s->mode, DOCKER_MODE_REPLICATED, "web: replicated");
		tap_is_int(s->replicas, 3, "web: replicas");
		tap_ok(s->has_status, "web: ServiceStatus present");
		tap_is_int(s->running_tasks, 3, "web: running tasks");
		tap_is_int(s->desired_tasks, 3, "web: desired tasks");
		tap_is_int((long long)s->version, 32, "web: Version.Index");
		tap_is_str(s->updated_at, "2026-11-25T15:24:26.102254964Z", "web: UpdatedAt");
		tap_is_int((long long)s->labels.n, 4, "web: four labels");
		tap_is_str(params_get(&s->labels, "com.df.servicePath"), "/web",
			   "web: servicePath");
		tap_is_str(params_get(&s->labels, "com.df.port"), "80", "web: port");
		tap_is_str(params_get(&s->labels, "com.df.notify"), "true", "web: notify");
	}
	s = find_service(&l, "fp-fixture-global");
	if (tap_ok(s != NULL, "fp-fixture-global listed")) {
		tap_is_int(s->mode, DOCKER_MODE_GLOBAL, "global: mode");
		tap_is_int(s->replicas, 0, "global: no replica count");
		tap_is_int(s->desired_tasks, 1, "global: desired tasks");
	}
	docker_service_list_done(&l);
}

static void test_fixture_inspect(void)
{
	struct docker_service s = {0};
	_cleanup_free_ char *err = NULL;
	size_t len;
	_cleanup_free_ char *body = fixture("service-inspect.json", &len);

	tap_is_int(docker_parse_service(body, len, &s, &err), 0, "service-inspect.json parses");
	tap_is_str(s.name, "fp-fixture-web", "inspect: name");
	tap_ok(!s.has_status, "inspect: no ServiceStatus (list only, §4.1)");
	tap_is_int(s.replicas, 3, "inspect: replicas");
	docker_service_done(&s);
}

static void test_container_networks(void)
{
	static const struct {
		const char *what, *body;
		int want;
		size_t n;
	} cases[] = {
		{"no networks", "{\"NetworkSettings\":{\"Networks\":{}}}", 0, 0},
		{"two", "{\"NetworkSettings\":{\"Networks\":{\"a\":{},\"b\":null}}}", 0, 2},
		{"Networks null", "{\"NetworkSettings\":{\"Networks\":null}}", -EBADMSG, 0},
		{"Networks an array", "{\"NetworkSettings\":{\"Networks\":[\"a\"]}}", -EBADMSG, 0},
		{"no NetworkSettings", "{\"Id\":\"x\"}", -EBADMSG, 0},
		{"not an object", "[1]", -EBADMSG, 0},
		{"not JSON", "{\"NetworkSettings\":", -EBADMSG, 0},
	};
	struct strv v = {0};
	_cleanup_free_ char *err = NULL;
	size_t len;
	_cleanup_free_ char *body = fixture("container-inspect.json", &len);

	tap_is_int(docker_parse_container_networks(body, len, &v, &err), 0,
		   "container-inspect.json parses");
	tap_is_int((long)v.n, 2, "a task container on two overlay networks");
	tap_is_str(v.n > 0 ? v.v[0] : NULL, "fxnet-a", "first network");
	tap_is_str(v.n > 1 ? v.v[1] : NULL, "fxnet-b", "second network");
	strv_done(&v);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct strv w = {0};
		_cleanup_free_ char *e = NULL;
		int r = docker_parse_container_networks(cases[i].body, strlen(cases[i].body), &w,
							&e);

		tap_ok(r == cases[i].want && w.n == cases[i].n && (r == 0 || e),
		       "container networks: %s", cases[i].what);
		strv_done(&w);
	}

	struct strbuf many;
	strbuf_init(&many);
	strbuf_puts(&many, "{\"NetworkSettings\":{\"Networks\":{");
	for (int i = 0; i <= DOCKER_ADDRS_MAX; i++)
		strbuf_printf(&many, "%s\"n%d\":{}", i ? "," : "", i);
	strbuf_puts(&many, "}}}");
	tap_is_int(docker_parse_container_networks(many.s, many.len, &v, &err), -EMSGSIZE,
		   "more than DOCKER_ADDRS_MAX networks rejected");
	strbuf_done(&many);
}

static void test_fixture_tasks(void)
{
	struct docker_task_list l = {0};
	_cleanup_free_ char *err = NULL;
	size_t len;
	_cleanup_free_ char *body = fixture("tasks.json", &len);
	_cleanup_free_ char *gbody = NULL;
	bool slots[4] = {false};

	tap_is_int(docker_parse_tasks(body, len, &l, &err), 0, "tasks.json parses");
	tap_is_int((long long)l.n, 3, "three tasks");
	for (size_t i = 0; i < l.n; i++) {
		const struct docker_task *t = &l.v[i];

		tap_is_str(t->service_id, "rjz8b95j0tagp2q53mo8qul5l", "task: ServiceID");
		tap_is_str(t->state, "running", "task: state");
		tap_is_str(t->desired_state, "running", "task: desired state");
		tap_ok(t->slot >= 1 && t->slot <= 3, "task: slot %ld", t->slot);
		if (t->slot >= 1 && t->slot <= 3)
			slots[t->slot] = true;
		if (tap_is_int((long long)t->n_addrs, 1, "task: one address")) {
			tap_is_str(t->addrs[0].network, "fp-fixture-net", "task: network name");
			tap_ok(str_startswith(t->addrs[0].addr, "10.0.1.") &&
				       !strchr(t->addrs[0].addr, '/'),
			       "task: address without mask (%s)", t->addrs[0].addr);
		}
		if (t->slot == 1) {
			tap_is_str(t->addrs[0].addr, "10.0.1.3",
				   "task slot 1: 10.0.1.3/24 stripped");
			tap_is_str(
				t->container_id,
				"cef3b2d99d5d7f1cdf0a2a9f8f105ca87761c8115e69cd2fd59109b7bcba1161",
				"task slot 1: Status.ContainerStatus.ContainerID");
		}
		tap_ok(t->container_id && strlen(t->container_id) == 64,
		       "task slot %ld: a 64-digit container ID", t->slot);
	}
	tap_ok(slots[1] && slots[2] && slots[3], "slots 1..3 present");
	docker_task_list_done(&l);

	gbody = fixture("tasks-global.json", &len);
	tap_is_int(docker_parse_tasks(gbody, len, &l, &err), 0, "tasks-global.json parses");
	tap_ok(l.n == 1 && l.v[0].n_addrs == 0 && l.v[0].slot == 0,
	       "global task: no slot, no attachments");
	tap_is_str(l.n ? l.v[0].container_id : NULL,
		   "8eb48c5203c8e56c97827b855ede35359a60b926ddbffc033faf647668e7e6a8",
		   "global task: its container ID");
	docker_task_list_done(&l);
}

/* A task the scheduler has not yet handed to a node has no container, or an empty
 * ContainerStatus: container_id stays NULL. */
static void test_task_container_id(void)
{
	static const struct {
		const char *what, *body, *want;
	} cases[] = {
		{"no ContainerStatus",
		 "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"Status\":{\"State\":\"pending\"},"
		 "\"DesiredState\":\"running\"}]",
		 NULL},
		{"empty ContainerStatus",
		 "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"Status\":{\"State\":\"assigned\","
		 "\"ContainerStatus\":{}},\"DesiredState\":\"running\"}]",
		 NULL},
		{"empty ContainerID",
		 "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"Status\":{\"State\":\"assigned\","
		 "\"ContainerStatus\":{\"ContainerID\":\"\"}},\"DesiredState\":\"running\"}]",
		 NULL},
		{"null ContainerID",
		 "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"Status\":{\"State\":\"assigned\","
		 "\"ContainerStatus\":{\"ContainerID\":null}},\"DesiredState\":\"running\"}]",
		 NULL},
		{"a ContainerID",
		 "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"Status\":{\"State\":\"running\","
		 "\"ContainerStatus\":{\"ContainerID\":\"abc123\"}},\"DesiredState\":\"running\"}]",
		 "abc123"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct docker_task_list l = {0};
		_cleanup_free_ char *err = NULL;

		if (tap_is_int(docker_parse_tasks(cases[i].body, strlen(cases[i].body), &l, &err),
			       0, cases[i].what) &&
		    l.n == 1) {
			if (cases[i].want)
				tap_is_str(l.v[0].container_id, cases[i].want, cases[i].what);
			else
				tap_ok(l.v[0].container_id == NULL, "%s: no container ID",
				       cases[i].what);
		}
		docker_task_list_done(&l);
	}
}

static void test_fixture_events(void)
{
	static const struct {
		const char *type, *action, *name;
		enum docker_action kind;
	} want[] = {
		{"service", "create", "fp-fixture-web", DOCKER_ACTION_CREATE},
		{"service", "update", "fp-fixture-web", DOCKER_ACTION_UPDATE},
		{"service", "create", "fp-fixture-global", DOCKER_ACTION_CREATE},
		{"service", "create", "fp-fixture-plain", DOCKER_ACTION_CREATE},
		{"node", "update", "vm", DOCKER_ACTION_UPDATE},
		{"service", "update", "fp-fixture-web", DOCKER_ACTION_UPDATE},
		{"service", "remove", "fp-fixture-plain", DOCKER_ACTION_REMOVE},
	};
	size_t len, i = 0;
	_cleanup_free_ char *body = fixture("events.jsonl", &len);
	char *p = body, *end = body + len;

	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct docker_event ev;
		_cleanup_free_ char *err = NULL;

		if (n == 0)
			break;
		if (!tap_is_int(docker_parse_event(p, n, &ev, &err), 0, "event line parses"))
			tap_diag("%s", err);
		else if (i < ARRAY_SIZE(want)) {
			tap_is_str(ev.type, want[i].type, "event: Type");
			tap_is_str(ev.action, want[i].action, "event: Action");
			tap_is_int(ev.kind, want[i].kind, "event: kind");
			tap_is_str(ev.name, want[i].name, "event: Actor.Attributes.name");
			tap_ok(ev.time_nano / 1000000000 == ev.time,
			       "event: timeNano matches time");
			if (i == 0)
				tap_is_int(ev.time_nano, 1795620260040694336LL,
					   "event: timeNano exact (not rounded by a double)");
			if (i == 5) {
				tap_is_str(params_get(&ev.attributes, "replicas.new"), "3",
					   "scale event: replicas.new");
				tap_is_str(params_get(&ev.attributes, "replicas.old"), "2",
					   "scale event: replicas.old");
			}
			docker_event_done(&ev);
		}
		i++;
		p += n + 1;
	}
	tap_is_int((long long)i, (long long)ARRAY_SIZE(want), "every captured event line");
}

static void test_version(void)
{
	static const struct {
		int api, min, want;
	} neg[] = {
		{141, 112, 141}, /* this machine: 20.10 */
		{143, 124, 141}, /* newer daemon: cap at 1.41 */
		{140, 112, 140}, /* older daemon: its own */
		{152, 144, 144}, /* Docker 29 refuses below 1.44 (§4.0) */
	};
	static const struct {
		const char *s;
		int ret, v;
	} pv[] = {
		{"1.41", 0, 141},   {"1.9", 0, 109},	  {"2.0", 0, 200},
		{"1.", -EINVAL, 0}, {"141", -EINVAL, 0},  {"1.41.2", -EINVAL, 0},
		{"", -EINVAL, 0},   {"-1.4", -EINVAL, 0}, {"1.100", -EINVAL, 0},
	};
	_cleanup_free_ char *err = NULL;
	size_t len;
	_cleanup_free_ char *body = fixture("version.json", &len);
	int api = 0, min = 0;

	tap_is_int(docker_parse_version(body, len, &api, &min, &err), 0, "version.json parses");
	tap_is_int(api, 141, "ApiVersion 1.41");
	tap_is_int(min, 112, "MinAPIVersion 1.12");
	for (size_t i = 0; i < ARRAY_SIZE(neg); i++)
		tap_is_int(docker_negotiate_version(neg[i].api, neg[i].min), neg[i].want,
			   "negotiate");
	for (size_t i = 0; i < ARRAY_SIZE(pv); i++) {
		int v = 0;
		int r = docker_parse_api_version(pv[i].s, &v);

		tap_ok(r == pv[i].ret && (r < 0 || v == pv[i].v), "api version '%s'", pv[i].s);
	}
	tap_is_int(docker_parse_version("{\"ApiVersion\":1.41}", 19, &api, &min, &err), -EBADMSG,
		   "ApiVersion as a number rejected");
}

#define SVC(extra) \
	"[{\"ID\":\"a\",\"Version\":{\"Index\":1},\"Spec\":{\"Name\":\"s\",\"Mode\":{" extra "}}}]"

static void test_garbage(void)
{
	static const struct {
		const char *what, *body;
		int want;
	} svc[] = {
		{"empty array", "[]", 0},
		{"minimal replicated", SVC("\"Replicated\":{\"Replicas\":0}"), 0},
		{"replicated job", SVC("\"ReplicatedJob\":{}"), 0},
		{"not JSON", "<html>", -EBADMSG},
		{"empty body", "", -EBADMSG},
		{"truncated", "[{\"ID\":\"a\",\"Spec\":{\"Na", -EBADMSG},
		{"object not array", "{\"message\":\"x\"}", -EBADMSG},
		{"item not object", "[1]", -EBADMSG},
		{"null item", "[null]", -EBADMSG},
		{"no ID", "[{\"Spec\":{\"Name\":\"s\"}}]", -EBADMSG},
		{"ID number", "[{\"ID\":5}]", -EBADMSG},
		{"no Spec", "[{\"ID\":\"a\",\"Version\":{\"Index\":1}}]", -EBADMSG},
		{"Spec.Name empty",
		 "[{\"ID\":\"a\",\"Spec\":{\"Name\":\"\",\"Mode\":{\"Global\":{}}}}]", -EBADMSG},
		{"no Mode", SVC(""), -EBADMSG},
		{"unknown Mode", SVC("\"Weird\":{}"), -EBADMSG},
		{"Replicas string", SVC("\"Replicated\":{\"Replicas\":\"3\"}"), -EBADMSG},
		{"Replicas negative", SVC("\"Replicated\":{\"Replicas\":-1}"), -EBADMSG},
		{"Replicas fraction", SVC("\"Replicated\":{\"Replicas\":1.5}"), -EBADMSG},
		{"Replicas huge", SVC("\"Replicated\":{\"Replicas\":1e300}"), -EBADMSG},
		{"Replicas missing", SVC("\"Replicated\":{}"), -EBADMSG},
		{"no Version",
		 "[{\"ID\":\"a\",\"Spec\":{\"Name\":\"s\",\"Mode\":{\"Global\":{}}}}]", -EBADMSG},
		{"labels array",
		 "[{\"ID\":\"a\",\"Version\":{\"Index\":1},\"Spec\":{\"Name\":\"s\",\"Labels\":[],"
		 "\"Mode\":{\"Global\":{}}}}]",
		 -EBADMSG},
		{"label value number",
		 "[{\"ID\":\"a\",\"Version\":{\"Index\":1},\"Spec\":{\"Name\":\"s\",\"Labels\":{"
		 "\"com.df.port\":80},\"Mode\":{\"Global\":{}}}}]",
		 -EBADMSG},
		{"labels null",
		 "[{\"ID\":\"a\",\"Version\":{\"Index\":1},\"Spec\":{\"Name\":\"s\",\"Labels\":null,"
		 "\"Mode\":{\"Global\":{}}}}]",
		 0},
		{"status without counts",
		 "[{\"ID\":\"a\",\"Version\":{\"Index\":1},\"ServiceStatus\":{},\"Spec\":{\"Name\":"
		 "\"s\",\"Mode\":{\"Global\":{}}}}]",
		 -EBADMSG},
		{"second item bad",
		 "[{\"ID\":\"a\",\"Version\":{\"Index\":1},\"Spec\":{\"Name\":\"s\",\"Mode\":{"
		 "\"Global\":{}}}},{\"ID\":\"b\"}]",
		 -EBADMSG},
		{"deep nesting", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
		 -EBADMSG},
	};
	static const struct {
		const char *what, *body;
		int want;
	} tasks[] = {
		{"empty", "[]", 0},
		{"minimal",
		 "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"Status\":{\"State\":\"running\"},"
		 "\"DesiredState\":\"running\"}]",
		 0},
		{"ipv6 address",
		 "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"Status\":{\"State\":\"running\"},"
		 "\"DesiredState\":\"running\",\"NetworksAttachments\":[{\"Network\":{\"Spec\":{"
		 "\"Name\":\"n\"}},\"Addresses\":[\"fd00::5/64\"]}]}]",
		 0},
		{"not JSON", "nope", -EBADMSG},
		{"object", "{}", -EBADMSG},
		{"no Status", "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"DesiredState\":\"running\"}]",
		 -EBADMSG},
		{"State number",
		 "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"Status\":{\"State\":1},\"DesiredState\":\"r\"}]",
		 -EBADMSG},
		{"Slot string",
		 "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"Slot\":\"1\",\"Status\":{\"State\":\"r\"},"
		 "\"DesiredState\":\"r\"}]",
		 -EBADMSG},
		{"attachments object",
		 "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"Status\":{\"State\":\"r\"},\"DesiredState\":"
		 "\"r\",\"NetworksAttachments\":{}}]",
		 -EBADMSG},
		{"address without mask",
		 "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"Status\":{\"State\":\"r\"},\"DesiredState\":"
		 "\"r\",\"NetworksAttachments\":[{\"Network\":{\"Spec\":{\"Name\":\"n\"}},"
		 "\"Addresses\":[\"10.0.0.1\"]}]}]",
		 -EBADMSG},
		{"address not an IP",
		 "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"Status\":{\"State\":\"r\"},\"DesiredState\":"
		 "\"r\",\"NetworksAttachments\":[{\"Network\":{\"Spec\":{\"Name\":\"n\"}},"
		 "\"Addresses\":[\"evil;host/24\"]}]}]",
		 -EBADMSG},
		{"ipv4 mask 33",
		 "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"Status\":{\"State\":\"r\"},\"DesiredState\":"
		 "\"r\",\"NetworksAttachments\":[{\"Network\":{\"Spec\":{\"Name\":\"n\"}},"
		 "\"Addresses\":[\"10.0.0.1/33\"]}]}]",
		 -EBADMSG},
		{"ContainerID number",
		 "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"Status\":{\"State\":\"r\","
		 "\"ContainerStatus\":{\"ContainerID\":5}},\"DesiredState\":\"r\"}]",
		 -EBADMSG},
		{"network without name",
		 "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"Status\":{\"State\":\"r\"},\"DesiredState\":"
		 "\"r\",\"NetworksAttachments\":[{\"Network\":{},\"Addresses\":[\"10.0.0.1/24\"]}]}]",
		 -EBADMSG},
	};
	static const struct {
		const char *what, *line;
		int want;
	} events[] = {
		{"minimal",
		 "{\"Type\":\"service\",\"Action\":\"create\",\"Actor\":{\"ID\":\"x\"},"
		 "\"time\":1}",
		 0},
		{"not JSON", "garbage", -EBADMSG},
		{"array", "[]", -EBADMSG},
		{"no Actor", "{\"Type\":\"service\",\"Action\":\"create\",\"time\":1}", -EBADMSG},
		{"no time", "{\"Type\":\"service\",\"Action\":\"create\",\"Actor\":{\"ID\":\"x\"}}",
		 -EBADMSG},
		{"time string",
		 "{\"Type\":\"service\",\"Action\":\"create\",\"Actor\":{\"ID\":\"x\"},\"time\":\"1\"}",
		 -EBADMSG},
		{"timeNano negative",
		 "{\"Type\":\"s\",\"Action\":\"c\",\"Actor\":{\"ID\":\"x\"},\"timeNano\":-5}",
		 -EBADMSG},
		{"attribute number",
		 "{\"Type\":\"s\",\"Action\":\"c\",\"Actor\":{\"ID\":\"x\",\"Attributes\":{\"a\":1}},"
		 "\"time\":1}",
		 -EBADMSG},
		{"truncated", "{\"Type\":\"service\",\"Action\":\"cre", -EBADMSG},
	};
	_cleanup_free_ char *err = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(svc); i++) {
		struct docker_service_list l = {0};
		int r = docker_parse_services(svc[i].body, strlen(svc[i].body), &l, &err);

		tap_is_int(r, svc[i].want, svc[i].what);
		tap_ok(r < 0 ? (err && *err && l.v == NULL) : true, "services %s: message '%s'",
		       svc[i].what, r < 0 && err ? err : "");
		docker_service_list_done(&l);
	}
	for (size_t i = 0; i < ARRAY_SIZE(tasks); i++) {
		struct docker_task_list l = {0};

		tap_is_int(docker_parse_tasks(tasks[i].body, strlen(tasks[i].body), &l, &err),
			   tasks[i].want, tasks[i].what);
		docker_task_list_done(&l);
	}
	for (size_t i = 0; i < ARRAY_SIZE(events); i++) {
		struct docker_event ev = {0};

		tap_is_int(docker_parse_event(events[i].line, strlen(events[i].line), &ev, &err),
			   events[i].want, events[i].what);
		docker_event_done(&ev);
	}
}

/* Caps: label count, address count, body size, line size. */
static void test_caps(void)
{
	struct docker_service_list l = {0};
	struct docker_task_list tl = {0};
	struct docker_event ev = {0};
	_cleanup_free_ char *err = NULL;
	struct strbuf b;
	int r;

	for (int n = DOCKER_LABELS_MAX; n <= DOCKER_LABELS_MAX + 1; n++) {
		strbuf_init(&b);
		strbuf_puts(&b, "[{\"ID\":\"a\",\"Version\":{\"Index\":1},\"Spec\":{\"Name\":\"s\","
				"\"Mode\":{\"Global\":{}},\"Labels\":{");
		for (int i = 0; i < n; i++)
			strbuf_printf(&b, "%s\"com.df.l%d\":\"v\"", i ? "," : "", i);
		strbuf_puts(&b, "}}}]");
		r = docker_parse_services(b.s, b.len, &l, &err);
		if (n == DOCKER_LABELS_MAX)
			tap_ok(r == 0 && l.n == 1 && l.v[0].labels.n == DOCKER_LABELS_MAX,
			       "%d labels accepted", n);
		else
			tap_is_int(r, -EMSGSIZE, "labels over the cap rejected");
		docker_service_list_done(&l);
		strbuf_done(&b);
	}

	strbuf_init(&b);
	strbuf_puts(&b, "[{\"ID\":\"t\",\"ServiceID\":\"s\",\"Status\":{\"State\":\"r\"},"
			"\"DesiredState\":\"r\",\"NetworksAttachments\":[{\"Network\":{\"Spec\":{"
			"\"Name\":\"n\"}},\"Addresses\":[");
	for (int i = 0; i <= DOCKER_ADDRS_MAX; i++)
		strbuf_printf(&b, "%s\"10.0.%d.1/24\"", i ? "," : "", i);
	strbuf_puts(&b, "]}]}]");
	tap_is_int(docker_parse_tasks(b.s, b.len, &tl, &err), -EMSGSIZE, "addresses over the cap");
	strbuf_done(&b);

	tap_is_int(docker_parse_services("[]", DOCKER_REPLY_MAX + 1, &l, &err), -EMSGSIZE,
		   "body over 32 MiB rejected before parsing");
	tap_is_int(docker_parse_event("{}", DOCKER_EVENT_LINE_MAX + 1, &ev, &err), -EMSGSIZE,
		   "event line over 64 KiB rejected");
	tap_is_int(docker_parse_services(NULL, 0, &l, &err), -EINVAL, "NULL body");

	/* 19 digits after a "timeNano": key do not fit an int64 (found by fuzzing: an overflow). */
	{
		static const char line[] =
			"{\"Type\":\"s\",\"Action\":\"c\",\"Actor\":{\"ID\":\"x\"},\"x\":"
			"{\"timeNano\":9999999999999999999},\"time\":1,\"timeNano\":1000000001}";
		tap_is_int(docker_parse_event(line, strlen(line), &ev, &err), 0,
			   "an event with a 19-digit nested timeNano parses");
		tap_is_int(ev.time_nano, 1000000001, "and its own timeNano is the one read");
		docker_event_done(&ev);
	}
}

/*
 * What docker_spec_scale must send for a compact engine reply, worked out from the text alone:
 * the engine prints ID, Version, CreatedAt, UpdatedAt, then "Spec":{...}, followed by
 * PreviousSpec or Endpoint; inside it, Mode is {"Replicated":{"Replicas":N}} once. Caller frees.
 * Not inlined: gcc 12 at -O3 then takes body for read_fixture's local and fails a -Werror
 * release build with a false -Wdangling-pointer.
 */
__attribute__((noinline)) static char *expected_spec(const char *body, long from, long to)
{
	const char *s = strstr(body, "\"Spec\":"), *e;
	_cleanup_free_ char *mode = xasprintf("\"Mode\":{\"Replicated\":{\"Replicas\":%ld}}", from);
	_cleanup_free_ char *spec = NULL;
	struct strbuf b;
	const char *m;

	if (!s)
		return NULL;
	s += strlen("\"Spec\":");
	e = strstr(s, ",\"PreviousSpec\":");
	if (!e)
		e = strstr(s, ",\"Endpoint\":");
	if (!e)
		return NULL;
	spec = xstrndup(s, (size_t)(e - s));
	m = strstr(spec, mode);
	if (!m || strstr(m + 1, mode))
		return NULL;
	strbuf_init(&b);
	strbuf_append(&b, spec, (size_t)(m - spec));
	strbuf_printf(&b, "\"Mode\":{\"Replicated\":{\"Replicas\":%ld}}", to);
	strbuf_puts(&b, m + strlen(mode));
	return strbuf_steal(&b);
}

/* The Spec of body with Replicas set to n, as cJSON prints it (a second opinion). */
static char *cjson_spec(const char *body, size_t len, long n, bool whole_is_spec)
{
	cJSON *root = cJSON_ParseWithLength(body, len);
	cJSON *spec = whole_is_spec ? root : cJSON_GetObjectItemCaseSensitive(root, "Spec");
	cJSON *rep = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(spec, "Mode"),
						 "Replicated"),
		"Replicas");
	char *out = NULL;

	if (rep && n >= 0)
		cJSON_SetNumberValue(rep, (double)n);
	if (spec)
		out = cJSON_PrintUnformatted(spec);
	cJSON_Delete(root);
	return out;
}

static void test_spec_fixtures(void)
{
	static const struct {
		const char *file;
		long replicas;
		uint64_t version;
	} cases[] = {
		{"service-inspect.json", 3, 32},
		{"service-inspect-zero.json", 0, 7524},
		{"service-inspect-rich.json", 0, 7554},
	};
	static const struct {
		const char *file, *says;
	} refused[] = {
		{"service-inspect-global.json", "is global"},
		{"service-inspect-job.json", "is a replicated job"},
		{"service-inspect-global-job.json", "is a global job"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t len, out_len = 0;
		_cleanup_free_ char *body = fixture(cases[i].file, &len);
		_cleanup_free_ char *err = NULL, *out = NULL, *want = NULL, *a = NULL, *b = NULL;
		long cur = -1;
		uint64_t ver = 0;
		int r;

		r = docker_spec_scale(body, len, 0, NULL, NULL, &cur, &ver, &err);
		tap_is_int(r, 0, cases[i].file);
		tap_is_int(cur, cases[i].replicas, "  current count read");
		tap_is_int((long long)ver, (long long)cases[i].version, "  Version.Index read");
		r = docker_spec_scale(body, len, 5, &out, &out_len, &cur, &ver, &err);
		want = expected_spec(body, cases[i].replicas, 5);
		tap_ok(r == 0 && want, "  scaled to 5 (%s)", err ? err : "");
		tap_is_str(out, want, "  the Spec's bytes, only the count changed");
		tap_is_int((long long)out_len, out ? (long long)strlen(out) : -1, "  length");
		a = cjson_spec(body, len, 5, false);
		b = out ? cjson_spec(out, out_len, -1, true) : NULL;
		tap_ok(a && b && streq(a, b), "  cJSON reads the same spec with 5 replicas");
	}
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		size_t len;
		_cleanup_free_ char *body = fixture(refused[i].file, &len);
		_cleanup_free_ char *err = NULL, *out = NULL;
		size_t out_len = 0;

		tap_is_int(docker_spec_scale(body, len, 2, &out, &out_len, NULL, NULL, &err),
			   -ENOTSUP, refused[i].file);
		tap_ok(!out && err && strstr(err, refused[i].says) &&
			       strstr(err, "no replica count"),
		       "  refused with a message: %s", err ? err : "");
	}
}

#define SCALE_SVC(ver, spec) "{\"ID\":\"x\",\"Version\":{\"Index\":" #ver "},\"Spec\":" spec "}"
#define REP(n)		     "{\"Mode\":{\"Replicated\":{\"Replicas\":" #n "}}}"

static void test_spec_table(void)
{
	static const struct {
		const char *what, *body;
		long replicas;
		int want;
		const char *spec; /* the expected update body */
		long current;
		uint64_t version;
	} cases[] = {
		{"minimal", SCALE_SVC(7, REP(2)), 5, 0, REP(5), 2, 7},
		{"zero to one", SCALE_SVC(7, REP(0)), 1, 0, REP(1), 0, 7},
		{"down to zero", SCALE_SVC(7, REP(3)), 0, 0, REP(0), 3, 7},
		{"largest count", SCALE_SVC(7, REP(2147483647)), 2147483647, 0, REP(2147483647),
		 2147483647, 7},
		{"largest Version.Index", SCALE_SVC(18446744073709551615, REP(1)), 2, 0, REP(2), 1,
		 UINT64_MAX},
		{"Version after Spec", "{\"Spec\":" REP(4) ",\"Version\":{\"Index\":9}}", 3, 0,
		 REP(3), 4, 9},
		{"whitespace everywhere",
		 " {\n\t\"Version\" : { \"Index\" : 7 } ,\r\n \"Spec\" : { \"Name\" : \"w\" , \"Mode\" "
		 ": { \"Replicated\" : { \"Replicas\" : 2 } } } } \n",
		 10, 0,
		 "{ \"Name\" : \"w\" , \"Mode\" : { \"Replicated\" : { \"Replicas\" : 10 } } }", 2,
		 7},
		{"Replicas elsewhere",
		 "{\"Replicas\":1,\"Version\":{\"Index\":3,\"Replicas\":2},\"Spec\":{\"Replicas\":4,"
		 "\"Labels\":{\"Replicas\":\"9\"},\"TaskTemplate\":{\"Mode\":{\"Replicated\":{"
		 "\"Replicas\":8}}},\"Mode\":{\"Replicated\":{\"Replicas\":6,\"X\":{\"Replicas\":7}}}"
		 ",\"After\":{\"Replicas\":5}},\"PreviousSpec\":{\"Mode\":{\"Replicated\":{"
		 "\"Replicas\":5}}}}",
		 1, 0,
		 "{\"Replicas\":4,\"Labels\":{\"Replicas\":\"9\"},\"TaskTemplate\":{\"Mode\":{"
		 "\"Replicated\":{\"Replicas\":8}}},\"Mode\":{\"Replicated\":{\"Replicas\":1,\"X\":{"
		 "\"Replicas\":7}}},\"After\":{\"Replicas\":5}}",
		 6, 3},
		{"strings with escapes and quotes",
		 SCALE_SVC(
			 4,
			 "{\"Name\":\"a\\\"Replicas\\\":3,\\\\\",\"Env\":[\"\\u0041\\n\\\"}\",\"\\ud83d"
			 "\\ude00 é\"],\"Mode\":{\"Replicated\":{\"Replicas\":2}}}"),
		 3, 0,
		 "{\"Name\":\"a\\\"Replicas\\\":3,\\\\\",\"Env\":[\"\\u0041\\n\\\"}\",\"\\ud83d"
		 "\\ude00 é\"],\"Mode\":{\"Replicated\":{\"Replicas\":3}}}",
		 2, 4},
		{"numbers and literals passed through",
		 SCALE_SVC(
			 4,
			 "{\"A\":[-0,1.5e+3,2E-2,0.25,true,false,null,{},[]],\"Mode\":{\"Replicated\":{"
			 "\"Replicas\":1}}}"),
		 2, 0,
		 "{\"A\":[-0,1.5e+3,2E-2,0.25,true,false,null,{},[]],\"Mode\":{\"Replicated\":{"
		 "\"Replicas\":2}}}",
		 1, 4},
		{"Replicas absent: 1, inserted", SCALE_SVC(4, "{\"Mode\":{\"Replicated\":{}}}"), 3,
		 0, REP(3), 1, 4},
		{"Replicas absent, spaces", SCALE_SVC(4, "{\"Mode\":{\"Replicated\":{ }}}"), 3, 0,
		 "{\"Mode\":{\"Replicated\":{\"Replicas\":3 }}}", 1, 4},
		{"Replicas absent, other keys",
		 SCALE_SVC(4, "{\"Mode\":{\"Replicated\":{\"Y\":1}}}"), 3, 0,
		 "{\"Mode\":{\"Replicated\":{\"Replicas\":3,\"Y\":1}}}", 1, 4},
		{"Replicas null: 1, replaced",
		 SCALE_SVC(4, "{\"Mode\":{\"Replicated\":{\"Replicas\":null}}}"), 0, 0, REP(0), 1,
		 4},
		{"a null mode is no mode",
		 SCALE_SVC(4, "{\"Mode\":{\"Global\":null,\"Replicated\":{\"Replicas\":2}}}"), 1, 0,
		 "{\"Mode\":{\"Global\":null,\"Replicated\":{\"Replicas\":1}}}", 2, 4},
		{"keys not followed may repeat",
		 "{\"Version\":{\"Index\":1},\"PreviousSpec\":{\"Mode\":1,\"Mode\":2},\"Spec\":{\"L\":"
		 "{\"a\":1,\"a\":2},\"Mode\":{\"Replicated\":{\"Replicas\":1}}}}",
		 2, 0, "{\"L\":{\"a\":1,\"a\":2},\"Mode\":{\"Replicated\":{\"Replicas\":2}}}", 1,
		 1},
		{"mode and Mode (Go reads both as Mode)",
		 SCALE_SVC(4, "{\"mode\":{\"x\":1},\"Mode\":{\"Replicated\":{\"Replicas\":2}}}"), 1,
		 -EBADMSG, NULL, 0, 0},

		{"global", SCALE_SVC(4, "{\"Mode\":{\"Global\":{}}}"), 1, -ENOTSUP, NULL, 0, 0},
		{"replicated job",
		 SCALE_SVC(
			 4,
			 "{\"Mode\":{\"ReplicatedJob\":{\"MaxConcurrent\":1,\"TotalCompletions\":2}}}"),
		 1, -ENOTSUP, NULL, 0, 0},
		{"global job", SCALE_SVC(4, "{\"Mode\":{\"GlobalJob\":{}}}"), 1, -ENOTSUP, NULL, 0,
		 0},
		{"two modes",
		 SCALE_SVC(4, "{\"Mode\":{\"Global\":{},\"Replicated\":{\"Replicas\":1}}}"), 1,
		 -EBADMSG, NULL, 0, 0},
		{"no mode", SCALE_SVC(4, "{\"Mode\":{}}"), 1, -EBADMSG, NULL, 0, 0},
		{"an unknown mode only", SCALE_SVC(4, "{\"Mode\":{\"Other\":{}}}"), 1, -EBADMSG,
		 NULL, 0, 0},
		{"Mode null", SCALE_SVC(4, "{\"Mode\":null}"), 1, -EBADMSG, NULL, 0, 0},
		{"no Mode", SCALE_SVC(4, "{\"Name\":\"x\"}"), 1, -EBADMSG, NULL, 0, 0},
		{"Replicated an array", SCALE_SVC(4, "{\"Mode\":{\"Replicated\":[1]}}"), 1,
		 -EBADMSG, NULL, 0, 0},
		{"Replicas negative", SCALE_SVC(4, REP(-1)), 1, -EBADMSG, NULL, 0, 0},
		{"Replicas a fraction", SCALE_SVC(4, REP(3.0)), 1, -EBADMSG, NULL, 0, 0},
		{"Replicas an exponent", SCALE_SVC(4, REP(1e2)), 1, -EBADMSG, NULL, 0, 0},
		{"Replicas a string", SCALE_SVC(4, REP("3")), 1, -EBADMSG, NULL, 0, 0},
		{"Replicas true", SCALE_SVC(4, REP(true)), 1, -EBADMSG, NULL, 0, 0},
		{"Replicas over the cap", SCALE_SVC(4, REP(2147483648)), 1, -EBADMSG, NULL, 0, 0},
		{"Replicas twice",
		 SCALE_SVC(4, "{\"Mode\":{\"Replicated\":{\"Replicas\":1,\"Replicas\":2}}}"), 1,
		 -EBADMSG, NULL, 0, 0},
		{"Replicas and replicas",
		 SCALE_SVC(4, "{\"Mode\":{\"Replicated\":{\"Replicas\":1,\"replicas\":2}}}"), 1,
		 -EBADMSG, NULL, 0, 0},
		{"replicas in lower case",
		 SCALE_SVC(4, "{\"Mode\":{\"Replicated\":{\"replicas\":2}}}"), 1, -EBADMSG, NULL, 0,
		 0},
		{"Replicas with an escape",
		 SCALE_SVC(4, "{\"Mode\":{\"Replicated\":{\"Repl\\u0069cas\":2}}}"), 1, -EBADMSG,
		 NULL, 0, 0},
		{"Replicas with a long s (folds to S in Go)",
		 SCALE_SVC(4, "{\"Mode\":{\"Replicated\":{\"Replica\xc5\xbf\":2}}}"), 1, -EBADMSG,
		 NULL, 0, 0},
		{"MODE in upper case", SCALE_SVC(4, "{\"MODE\":{\"Replicated\":{\"Replicas\":2}}}"),
		 1, -EBADMSG, NULL, 0, 0},
		{"Mode twice", SCALE_SVC(4, "{\"Mode\":{\"Global\":{}},\"Mode\":" REP(1) "}"), 1,
		 -EBADMSG, NULL, 0, 0},
		{"Spec twice",
		 "{\"Version\":{\"Index\":1},\"Spec\":" REP(1) ",\"Spec\":" REP(2) "}", 1, -EBADMSG,
		 NULL, 0, 0},
		{"no Spec", "{\"Version\":{\"Index\":1}}", 1, -EBADMSG, NULL, 0, 0},
		{"Spec null", "{\"Version\":{\"Index\":1},\"Spec\":null}", 1, -EBADMSG, NULL, 0, 0},
		{"Spec an array", "{\"Version\":{\"Index\":1},\"Spec\":[]}", 1, -EBADMSG, NULL, 0,
		 0},
		{"no Version", "{\"Spec\":" REP(1) "}", 1, -EBADMSG, NULL, 0, 0},
		{"Index over 64 bits", SCALE_SVC(18446744073709551616, REP(1)), 1, -EBADMSG, NULL,
		 0, 0},
		{"Index negative", SCALE_SVC(-1, REP(1)), 1, -EBADMSG, NULL, 0, 0},
		{"Index a string", SCALE_SVC("1", REP(1)), 1, -EBADMSG, NULL, 0, 0},

		{"empty", "", 1, -EBADMSG, NULL, 0, 0},
		{"blank", " \n", 1, -EBADMSG, NULL, 0, 0},
		{"an array", "[" SCALE_SVC(1, REP(1)) "]", 1, -EBADMSG, NULL, 0, 0},
		{"a byte order mark", "\xef\xbb\xbf" SCALE_SVC(1, REP(1)), 1, -EBADMSG, NULL, 0, 0},
		{"cut short", "{\"Version\":{\"Index\":1},\"Spec\":{\"Mode\":{\"Replicated\":{", 1,
		 -EBADMSG, NULL, 0, 0},
		{"more after the object", SCALE_SVC(1, REP(1)) "x", 1, -EBADMSG, NULL, 0, 0},
		{"two objects", SCALE_SVC(1, REP(1)) SCALE_SVC(1, REP(1)), 1, -EBADMSG, NULL, 0, 0},
		{"trailing comma", SCALE_SVC(1, "{\"Mode\":{\"Replicated\":{\"Replicas\":1}},}"), 1,
		 -EBADMSG, NULL, 0, 0},
		{"missing colon", SCALE_SVC(1, "{\"Mode\"{\"Replicated\":{\"Replicas\":1}}}"), 1,
		 -EBADMSG, NULL, 0, 0},
		{"single quotes", SCALE_SVC(1, "{'Mode':1}"), 1, -EBADMSG, NULL, 0, 0},
		{"unterminated string", SCALE_SVC(1, "{\"Name\":\"abc}"), 1, -EBADMSG, NULL, 0, 0},
		{"a raw newline in a string", SCALE_SVC(1, "{\"Name\":\"a\nb\"," REP(1) "}"), 1,
		 -EBADMSG, NULL, 0, 0},
		{"a bad escape", SCALE_SVC(1, "{\"Name\":\"a\\xb\"}"), 1, -EBADMSG, NULL, 0, 0},
		{"a short \\u escape", SCALE_SVC(1, "{\"Name\":\"a\\u12\"}"), 1, -EBADMSG, NULL, 0,
		 0},
		{"a leading zero",
		 SCALE_SVC(1, "{\"N\":01,\"Mode\":{\"Replicated\":{\"Replicas\":1}}}"), 1, -EBADMSG,
		 NULL, 0, 0},
		{"a bare dot",
		 SCALE_SVC(1, "{\"N\":1.,\"Mode\":{\"Replicated\":{\"Replicas\":1}}}"), 1, -EBADMSG,
		 NULL, 0, 0},
		{"a plus sign",
		 SCALE_SVC(1, "{\"N\":+1,\"Mode\":{\"Replicated\":{\"Replicas\":1}}}"), 1, -EBADMSG,
		 NULL, 0, 0},
		{"a bare minus",
		 SCALE_SVC(1, "{\"N\":-,\"Mode\":{\"Replicated\":{\"Replicas\":1}}}"), 1, -EBADMSG,
		 NULL, 0, 0},
		{"NaN", SCALE_SVC(1, "{\"N\":NaN,\"Mode\":{\"Replicated\":{\"Replicas\":1}}}"), 1,
		 -EBADMSG, NULL, 0, 0},
		{"tru", SCALE_SVC(1, "{\"N\":tru,\"Mode\":{\"Replicated\":{\"Replicas\":1}}}"), 1,
		 -EBADMSG, NULL, 0, 0},

		{"a negative count asked", SCALE_SVC(1, REP(1)), -1, -EINVAL, NULL, 0, 0},
		{"a count over the cap asked", SCALE_SVC(1, REP(1)), DOCKER_REPLICAS_MAX + 1,
		 -EINVAL, NULL, 0, 0},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t len = strlen(cases[i].body), out_len = 0;
		/* Exactly len bytes, no NUL after them: a read past the end is an ASan error. */
		_cleanup_free_ char *body = xmalloc(len ? len : 1);
		_cleanup_free_ char *err = NULL, *out = NULL;
		long cur = -7;
		uint64_t ver = 0;
		int r;

		memcpy(body, cases[i].body, len);
		r = docker_spec_scale(body, len, cases[i].replicas, &out, &out_len, &cur, &ver,
				      &err);
		if (!tap_is_int(r, cases[i].want, cases[i].what))
			tap_diag("message: %s", err ? err : "(none)");
		if (cases[i].want < 0) {
			tap_ok(!out && cur == -7 && str_set(err), "  refused with a message: %s",
			       err ? err : "(none)");
			continue;
		}
		tap_is_str(out, cases[i].spec, "  the update body");
		tap_ok(cur == cases[i].current && ver == cases[i].version,
		       "  current %ld, version %" PRIu64, cur, ver);
		tap_is_int((long long)out_len, out ? (long long)strlen(out) : -1, "  length");
	}
}

static void test_spec_limits(void)
{
	struct strbuf b;
	_cleanup_free_ char *err = NULL, *out = NULL;
	size_t out_len;
	long cur = -1;
	static const char body[] = SCALE_SVC(5, REP(2));

	/* Nesting: DOCKER_JSON_DEPTH_MAX levels in all pass, one more does not. */
	for (int extra = 0; extra < 2; extra++) {
		int levels = DOCKER_JSON_DEPTH_MAX - 2 + extra; /* root and Spec: 2 levels */

		strbuf_init(&b);
		strbuf_puts(&b, "{\"Version\":{\"Index\":1},\"Spec\":{\"L\":");
		for (int i = 0; i < levels; i++)
			strbuf_puts(&b, "[");
		for (int i = 0; i < levels; i++)
			strbuf_puts(&b, "]");
		strbuf_puts(&b, ",\"Mode\":{\"Replicated\":{\"Replicas\":1}}}}");
		tap_is_int(docker_spec_scale(b.s, b.len, 2, &out, &out_len, NULL, NULL, &err),
			   extra ? -EBADMSG : 0,
			   extra ? "one level deeper than DOCKER_JSON_DEPTH_MAX refused"
				 : "DOCKER_JSON_DEPTH_MAX levels accepted");
		free(TAKE_PTR(out));
		strbuf_done(&b);
	}
	tap_ok(err && strstr(err, "nested deeper"), "message: %s", err ? err : "");
	tap_is_int(
		docker_spec_scale(body, DOCKER_REPLY_MAX + 1, 2, &out, &out_len, NULL, NULL, &err),
		-EMSGSIZE, "a body over DOCKER_REPLY_MAX refused before reading");
	tap_is_int(docker_spec_scale(NULL, 0, 2, &out, &out_len, NULL, NULL, &err), -EINVAL,
		   "NULL body");
	tap_is_int(docker_spec_scale(body, strlen(body), -1, NULL, NULL, &cur, NULL, &err), 0,
		   "reading only: the count asked is not used");
	tap_is_int(cur, 2, "  current 2");
	tap_is_int(docker_spec_scale(body, strlen(body) - 1, 2, &out, &out_len, NULL, NULL, &err),
		   -EBADMSG, "the last byte missing");
	tap_ok(err && strstr(err, "not JSON") && strstr(err, "byte"),
	       "  the message says where: %s", err ? err : "");
}

static void test_update_reply(void)
{
	static const struct {
		const char *what, *body;
		int want;
		const char *warnings;
	} cases[] = {
		{"no warnings, null", "{\"Warnings\":null}\n", 0, NULL},
		{"no Warnings key", "{}", 0, NULL},
		{"empty list", "{\"Warnings\":[]}", 0, NULL},
		{"two", "{\"Warnings\":[\"image has no digest\",\"b\"]}", 0,
		 "image has no digest; b"},
		{"Warnings a string", "{\"Warnings\":\"x\"}", -EBADMSG, NULL},
		{"a warning a number", "{\"Warnings\":[1]}", -EBADMSG, NULL},
		{"an array", "[]", -EBADMSG, NULL},
		{"not JSON", "<html>", -EBADMSG, NULL},
	};
	size_t len;
	_cleanup_free_ char *ok = fixture("update-ok.json", &len);
	_cleanup_free_ char *w = NULL, *err = NULL;
	struct strbuf big;

	tap_is_int(docker_parse_update_reply(ok, len, &w, &err), 0, "update-ok.json parses");
	tap_ok(w == NULL, "  no warnings");
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *got = NULL, *e = NULL;
		int r = docker_parse_update_reply(cases[i].body, strlen(cases[i].body), &got, &e);

		tap_ok(r == cases[i].want && (r < 0 ? e != NULL : true), "update reply: %s",
		       cases[i].what);
		if (r == 0)
			tap_is_str(got, cases[i].warnings, "  warnings");
	}
	strbuf_init(&big);
	strbuf_puts(&big, "{\"Warnings\":[");
	for (int i = 0; i < 2000; i++)
		strbuf_printf(&big, "%s\"w\\u00e9%d\"", i ? "," : "", i);
	strbuf_puts(&big, "]}");
	tap_is_int(docker_parse_update_reply(big.s, big.len, &w, &err), 0, "2000 warnings");
	tap_ok(w && strlen(w) <= DOCKER_WARNINGS_MAX && strlen(w) > DOCKER_WARNINGS_MAX - 16 &&
		       ((unsigned char)w[strlen(w) - 1] & 0xc0) != 0xc0,
	       "  cut at DOCKER_WARNINGS_MAX, not inside a character (%zu bytes)",
	       w ? strlen(w) : 0);
	strbuf_done(&big);
}

int main(void)
{
	test_fixture_services();
	test_fixture_inspect();
	test_fixture_tasks();
	test_task_container_id();
	test_container_networks();
	test_fixture_events();
	test_version();
	test_garbage();
	test_caps();
	test_spec_fixtures();
	test_spec_table();
	test_spec_limits();
	test_update_reply();
	return tap_done();
}
