// SPDX-License-Identifier: MIT
/*
 * docker_parse: the Docker Engine API's replies (reference swarm-listener-monitor-docker-api.md
 * §4) into structs. Pure: reply bodies in, structs out, every size capped, anything malformed
 * rejected with -EBADMSG and a message naming the field. No I/O, no logging; fuzzed
 * (tests/fuzz/fuzz_docker.c).
 */
#include "flowproxy/docker_parse.h"
#include "flowproxy/util.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <inttypes.h>

static void cjson_deletep(cJSON **j)
{
	cJSON_Delete(*j);
}
#define _cleanup_cjson_ _cleanup_(cjson_deletep)

/* The string value of key in obj, NULL when absent or not a string. Borrowed from obj. */
static const char *json_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *json_obj(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsObject(v) ? v : NULL;
}

/* A JSON number that is a whole number in [0, max]. Doubles are exact up to 2^53. */
static bool json_uint(const cJSON *v, double max, uint64_t *ret)
{
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > max ||
	    v->valuedouble != (double)(uint64_t)v->valuedouble)
		return false;
	*ret = (uint64_t)v->valuedouble;
	return true;
}

static int parse_root(const char *body, size_t len, size_t max, const char *what, cJSON **ret,
		      char **reterr)
{
	cJSON *j;

	if (!body)
		return errmsg_set(reterr, -EINVAL, "%s: no body", what);
	if (len > max)
		return errmsg_set(reterr, -EMSGSIZE, "%s: reply of %zu bytes is over the %zu cap",
				  what, len, max);
	j = cJSON_ParseWithLength(body, len);
	if (!j)
		return errmsg_set(reterr, -EBADMSG, "%s: reply is not JSON", what);
	*ret = j;
	return 0;
}

/* A string -> string object (Spec.Labels, Actor.Attributes) into p; absent or null is empty. */
static int parse_string_map(const cJSON *obj, struct params *p, const char *what, const char *id,
			    char **reterr)
{
	const cJSON *c;
	size_t n = 0;

	if (!obj || cJSON_IsNull(obj))
		return 0;
	if (!cJSON_IsObject(obj))
		return errmsg_set(reterr, -EBADMSG, "%s of '%s' is not an object", what, id);
	cJSON_ArrayForEach(c, obj)
	{
		if (++n > DOCKER_LABELS_MAX)
			return errmsg_set(reterr, -EMSGSIZE, "'%s' has more than %d %s", id,
					  DOCKER_LABELS_MAX, what);
		if (!c->string || !cJSON_IsString(c))
			return errmsg_set(reterr, -EBADMSG, "%s '%s' of '%s' is not a string", what,
					  c->string ? c->string : "", id);
	}
	cJSON_ArrayForEach(c, obj) params_add(p, c->string, c->valuestring);
	return 0;
}

void docker_service_done(struct docker_service *s)
{
	if (!s)
		return;
	free(s->id);
	free(s->name);
	params_done(&s->labels);
	free(s->updated_at);
	*s = (struct docker_service){0};
}

void docker_service_list_done(struct docker_service_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		docker_service_done(&l->v[i]);
	free(l->v);
	*l = (struct docker_service_list){0};
}

/* One Service object (§4.1/§4.2) into *s, which the caller zeroed and frees on failure too. */
static int parse_service_obj(const cJSON *it, struct docker_service *s, char **reterr)
{
	const cJSON *spec, *mode, *ver, *st;
	const char *id, *name;
	uint64_t u;
	int r;

	if (!cJSON_IsObject(it))
		return errmsg_set(reterr, -EBADMSG, "service entry is not an object");
	id = json_str(it, "ID");
	if (!str_set(id))
		return errmsg_set(reterr, -EBADMSG, "service entry without ID");
	s->id = xstrdup(id);
	spec = json_obj(it, "Spec");
	name = spec ? json_str(spec, "Name") : NULL;
	if (!str_set(name))
		return errmsg_set(reterr, -EBADMSG, "service '%s' without Spec.Name", id);
	s->name = xstrdup(name);
	r = parse_string_map(cJSON_GetObjectItemCaseSensitive(spec, "Labels"), &s->labels, "labels",
			     name, reterr);
	if (r < 0)
		return r;

	mode = json_obj(spec, "Mode");
	if (!mode)
		return errmsg_set(reterr, -EBADMSG, "service '%s' without Spec.Mode", name);
	if (json_obj(mode, "Replicated")) {
		s->mode = DOCKER_MODE_REPLICATED;
		if (!json_uint(cJSON_GetObjectItemCaseSensitive(json_obj(mode, "Replicated"),
								"Replicas"),
			       INT32_MAX, &u))
			return errmsg_set(reterr, -EBADMSG,
					  "service '%s': Spec.Mode.Replicated.Replicas is not a "
					  "count",
					  name);
		s->replicas = (long)u;
	} else if (json_obj(mode, "Global")) {
		s->mode = DOCKER_MODE_GLOBAL;
	} else if (json_obj(mode, "ReplicatedJob")) {
		s->mode = DOCKER_MODE_REPLICATED_JOB;
	} else if (json_obj(mode, "GlobalJob")) {
		s->mode = DOCKER_MODE_GLOBAL_JOB;
	} else {
		return errmsg_set(reterr, -EBADMSG, "service '%s': unknown Spec.Mode", name);
	}

	ver = json_obj(it, "Version");
	if (!ver || !json_uint(cJSON_GetObjectItemCaseSensitive(ver, "Index"), 9007199254740992.0,
			       &s->version))
		return errmsg_set(reterr, -EBADMSG, "service '%s' without Version.Index", name);

	st = cJSON_GetObjectItemCaseSensitive(it, "ServiceStatus");
	if (st && !cJSON_IsNull(st)) {
		uint64_t run, want;

		if (!json_uint(cJSON_GetObjectItemCaseSensitive(st, "RunningTasks"), INT32_MAX,
			       &run) ||
		    !json_uint(cJSON_GetObjectItemCaseSensitive(st, "DesiredTasks"), INT32_MAX,
			       &want))
			return errmsg_set(reterr, -EBADMSG,
					  "service '%s': ServiceStatus without task counts", name);
		s->has_status = true;
		s->running_tasks = (long)run;
		s->desired_tasks = (long)want;
	}
	if (json_str(it, "UpdatedAt"))
		s->updated_at = xstrdup(json_str(it, "UpdatedAt"));
	return 0;
}

int docker_parse_service(const char *body, size_t len, struct docker_service *ret, char **reterr)
{
	_cleanup_cjson_ cJSON *root = NULL;
	struct docker_service s = {0};
	int r;

	r = parse_root(body, len, DOCKER_REPLY_MAX, "service", &root, reterr);
	if (r < 0)
		return r;
	r = parse_service_obj(root, &s, reterr);
	if (r < 0) {
		docker_service_done(&s);
		return r;
	}
	*ret = s;
	return 0;
}

int docker_parse_services(const char *body, size_t len, struct docker_service_list *ret,
			  char **reterr)
{
	_cleanup_cjson_ cJSON *root = NULL;
	struct docker_service_list l = {0};
	const cJSON *it;
	int r;

	r = parse_root(body, len, DOCKER_REPLY_MAX, "services", &root, reterr);
	if (r < 0)
		return r;
	if (!cJSON_IsArray(root))
		return errmsg_set(reterr, -EBADMSG, "services: reply is not an array");
	l.v = xcalloc((size_t)cJSON_GetArraySize(root) + 1, sizeof(*l.v));
	cJSON_ArrayForEach(it, root)
	{
		r = parse_service_obj(it, &l.v[l.n++], reterr);
		if (r < 0) {
			docker_service_list_done(&l);
			return r;
		}
	}
	*ret = l;
	return 0;
}

void docker_task_done(struct docker_task *t)
{
	if (!t)
		return;
	free(t->id);
	free(t->service_id);
	free(t->node_id);
	free(t->state);
	free(t->desired_state);
	for (size_t i = 0; i < t->n_addrs; i++) {
		free(t->addrs[i].network);
		free(t->addrs[i].addr);
	}
	free(t->addrs);
	*t = (struct docker_task){0};
}

void docker_task_list_done(struct docker_task_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		docker_task_done(&l->v[i]);
	free(l->v);
	*l = (struct docker_task_list){0};
}

/* "10.0.1.5/24" -> "10.0.1.5" (caller frees), or NULL when that is not an address with a mask. */
static char *cidr_addr(const char *cidr)
{
	const char *slash = strchr(cidr, '/');
	char buf[INET6_ADDRSTRLEN];
	unsigned char bin[sizeof(struct in6_addr)];
	long prefix;
	size_t n;

	if (!slash || (n = (size_t)(slash - cidr)) == 0 || n >= sizeof(buf))
		return NULL;
	memcpy(buf, cidr, n);
	buf[n] = '\0';
	if (parse_long(slash + 1, 0, 128, &prefix) < 0)
		return NULL;
	if (inet_pton(AF_INET, buf, bin) == 1 ? prefix > 32 : inet_pton(AF_INET6, buf, bin) != 1)
		return NULL;
	return xstrdup(buf);
}

static int parse_task_obj(const cJSON *it, struct docker_task *t, char **reterr)
{
	const cJSON *na, *att, *slot;
	const char *id, *sid, *state, *desired;
	uint64_t u;

	if (!cJSON_IsObject(it))
		return errmsg_set(reterr, -EBADMSG, "task entry is not an object");
	id = json_str(it, "ID");
	if (!str_set(id))
		return errmsg_set(reterr, -EBADMSG, "task entry without ID");
	t->id = xstrdup(id);
	sid = json_str(it, "ServiceID");
	state = json_str(json_obj(it, "Status"), "State");
	desired = json_str(it, "DesiredState");
	if (!str_set(sid) || !str_set(state) || !str_set(desired))
		return errmsg_set(reterr, -EBADMSG,
				  "task '%s' without ServiceID, Status.State or DesiredState", id);
	t->service_id = xstrdup(sid);
	t->state = xstrdup(state);
	t->desired_state = xstrdup(desired);
	if (json_str(it, "NodeID"))
		t->node_id = xstrdup(json_str(it, "NodeID"));
	slot = cJSON_GetObjectItemCaseSensitive(it, "Slot");
	if (slot) {
		if (!json_uint(slot, INT32_MAX, &u))
			return errmsg_set(reterr, -EBADMSG, "task '%s': Slot is not a count", id);
		t->slot = (long)u;
	}

	na = cJSON_GetObjectItemCaseSensitive(it, "NetworksAttachments");
	if (!na || cJSON_IsNull(na))
		return 0;
	if (!cJSON_IsArray(na))
		return errmsg_set(reterr, -EBADMSG,
				  "task '%s': NetworksAttachments is not an array", id);
	cJSON_ArrayForEach(att, na)
	{
		const char *net = json_str(json_obj(json_obj(att, "Network"), "Spec"), "Name");
		const cJSON *addrs = cJSON_GetObjectItemCaseSensitive(att, "Addresses"), *a;

		if (!str_set(net))
			return errmsg_set(reterr, -EBADMSG,
					  "task '%s': network attachment without Network.Spec.Name",
					  id);
		if (!addrs || cJSON_IsNull(addrs))
			continue;
		if (!cJSON_IsArray(addrs))
			return errmsg_set(reterr, -EBADMSG,
					  "task '%s': Addresses on '%s' is not an array", id, net);
		cJSON_ArrayForEach(a, addrs)
		{
			char *ip = cJSON_IsString(a) ? cidr_addr(a->valuestring) : NULL;

			if (!ip)
				return errmsg_set(reterr, -EBADMSG,
						  "task '%s': bad address on '%s' (want ip/prefix)",
						  id, net);
			if (t->n_addrs >= DOCKER_ADDRS_MAX) {
				free(ip);
				return errmsg_set(reterr, -EMSGSIZE,
						  "task '%s' has more than %d addresses", id,
						  DOCKER_ADDRS_MAX);
			}
			t->addrs = xrealloc(t->addrs, (t->n_addrs + 1) * sizeof(*t->addrs));
			t->addrs[t->n_addrs].network = xstrdup(net);
			t->addrs[t->n_addrs].addr = ip;
			t->n_addrs++;
		}
	}
	return 0;
}

int docker_parse_tasks(const char *body, size_t len, struct docker_task_list *ret, char **reterr)
{
	_cleanup_cjson_ cJSON *root = NULL;
	struct docker_task_list l = {0};
	const cJSON *it;
	int r;

	r = parse_root(body, len, DOCKER_REPLY_MAX, "tasks", &root, reterr);
	if (r < 0)
		return r;
	if (!cJSON_IsArray(root))
		return errmsg_set(reterr, -EBADMSG, "tasks: reply is not an array");
	l.v = xcalloc((size_t)cJSON_GetArraySize(root) + 1, sizeof(*l.v));
	cJSON_ArrayForEach(it, root)
	{
		r = parse_task_obj(it, &l.v[l.n++], reterr);
		if (r < 0) {
			docker_task_list_done(&l);
			return r;
		}
	}
	*ret = l;
	return 0;
}

void docker_event_done(struct docker_event *e)
{
	if (!e)
		return;
	free(e->type);
	free(e->action);
	free(e->actor_id);
	free(e->name);
	params_done(&e->attributes);
	*e = (struct docker_event){0};
}

/*
 * timeNano (~1.8e18) does not fit a double exactly, so read it from the text: the top-level
 * "timeNano" key whose digits agree with cJSON's approximation. A quote inside a JSON string is
 * escaped, so the unescaped pattern only matches keys.
 */
static bool scan_time_nano(const char *line, size_t len, int64_t approx, int64_t *ret)
{
	static const char key[] = "\"timeNano\":";
	const char *p = line, *end = line + len;

	while ((p = memmem(p, (size_t)(end - p), key, sizeof(key) - 1))) {
		uint64_t v = 0; /* 19 digits fit a uint64, not always an int64: found by fuzzing */
		int digits = 0;

		p += sizeof(key) - 1;
		while (p < end && *p == ' ')
			p++;
		for (; p < end && *p >= '0' && *p <= '9' && digits < 19; p++, digits++)
			v = v * 10 + (uint64_t)(*p - '0');
		if (digits > 0 && (p == end || *p < '0' || *p > '9') && v <= INT64_MAX &&
		    approx >= 0 &&
		    ((int64_t)v > approx ? (int64_t)v - approx : approx - (int64_t)v) < 4096) {
			*ret = (int64_t)v;
			return true;
		}
	}
	return false;
}

static enum docker_action action_kind(const char *a)
{
	if (streq(a, "create"))
		return DOCKER_ACTION_CREATE;
	if (streq(a, "update"))
		return DOCKER_ACTION_UPDATE;
	if (streq(a, "remove"))
		return DOCKER_ACTION_REMOVE;
	return DOCKER_ACTION_OTHER;
}

int docker_parse_event(const char *line, size_t len, struct docker_event *ret, char **reterr)
{
	_cleanup_cjson_ cJSON *root = NULL;
	struct docker_event e = {0};
	const cJSON *actor, *tm, *tn;
	const char *type, *action, *id;
	uint64_t u;
	int r;

	r = parse_root(line, len, DOCKER_EVENT_LINE_MAX, "event", &root, reterr);
	if (r < 0)
		return r;
	type = json_str(root, "Type");
	action = json_str(root, "Action");
	actor = json_obj(root, "Actor");
	id = json_str(actor, "ID");
	if (!str_set(type) || !str_set(action) || !id)
		return errmsg_set(reterr, -EBADMSG, "event without Type, Action or Actor.ID");
	tm = cJSON_GetObjectItemCaseSensitive(root, "time");
	tn = cJSON_GetObjectItemCaseSensitive(root, "timeNano");
	if (!tm && !tn)
		return errmsg_set(reterr, -EBADMSG, "event without time");
	e.type = xstrdup(type);
	e.action = xstrdup(action);
	e.kind = action_kind(action);
	e.actor_id = xstrdup(id);
	r = parse_string_map(cJSON_GetObjectItemCaseSensitive(actor, "Attributes"), &e.attributes,
			     "attributes", id, reterr);
	if (r < 0)
		goto fail;
	if (json_str(json_obj(actor, "Attributes"), "name"))
		e.name = xstrdup(json_str(json_obj(actor, "Attributes"), "name"));
	if (tm) {
		if (!json_uint(tm, 9.2e9, &u)) {
			r = errmsg_set(reterr, -EBADMSG, "event: time is not a timestamp");
			goto fail;
		}
		e.time = (int64_t)u;
	}
	if (tn) {
		if (!cJSON_IsNumber(tn) || tn->valuedouble < 0 || tn->valuedouble > 9.2e18) {
			r = errmsg_set(reterr, -EBADMSG, "event: timeNano is not a timestamp");
			goto fail;
		}
		if (!scan_time_nano(line, len, (int64_t)tn->valuedouble, &e.time_nano))
			e.time_nano = (int64_t)tn->valuedouble;
		if (!tm)
			e.time = e.time_nano / 1000000000;
	} else {
		e.time_nano = e.time * 1000000000;
	}
	*ret = e;
	return 0;
fail:
	docker_event_done(&e);
	return r;
}

int docker_parse_api_version(const char *s, int *ret)
{
	long major, minor;
	const char *dot = s ? strchr(s, '.') : NULL;
	char buf[8];

	if (!dot || (size_t)(dot - s) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, (size_t)(dot - s));
	buf[dot - s] = '\0';
	if (parse_long(buf, 1, 99, &major) < 0 || parse_long(dot + 1, 0, 99, &minor) < 0)
		return -EINVAL;
	*ret = (int)(major * 100 + minor);
	return 0;
}

int docker_parse_version(const char *body, size_t len, int *ret_api, int *ret_min, char **reterr)
{
	_cleanup_cjson_ cJSON *root = NULL;
	const char *api, *min;
	int r, a, m = 0;

	r = parse_root(body, len, 1 << 20, "version", &root, reterr);
	if (r < 0)
		return r;
	api = json_str(root, "ApiVersion");
	if (!api || docker_parse_api_version(api, &a) < 0)
		return errmsg_set(reterr, -EBADMSG, "version: no valid ApiVersion");
	min = json_str(root, "MinAPIVersion");
	if (min && docker_parse_api_version(min, &m) < 0)
		return errmsg_set(reterr, -EBADMSG, "version: bad MinAPIVersion '%s'", min);
	*ret_api = a;
	*ret_min = m;
	return 0;
}

int docker_negotiate_version(int daemon_api, int daemon_min)
{
	int v = daemon_api < DOCKER_API_MAX ? daemon_api : DOCKER_API_MAX;

	return v < daemon_min ? daemon_min : v;
}

int docker_parse_container_networks(const char *body, size_t len, struct strv *ret, char **reterr)
{
	_cleanup_cjson_ cJSON *root = NULL;
	const cJSON *nets, *n;
	struct strv v = {0};
	int r;

	r = parse_root(body, len, DOCKER_REPLY_MAX, "container", &root, reterr);
	if (r < 0)
		return r;
	nets = json_obj(json_obj(root, "NetworkSettings"), "Networks");
	if (!cJSON_IsObject(nets))
		return errmsg_set(reterr, -EBADMSG,
				  "container: no NetworkSettings.Networks object");
	cJSON_ArrayForEach(n, nets)
	{
		if (!str_set(n->string))
			continue;
		if (v.n >= DOCKER_ADDRS_MAX) {
			strv_done(&v);
			return errmsg_set(reterr, -EMSGSIZE, "container: more than %d networks",
					  DOCKER_ADDRS_MAX);
		}
		strv_add(&v, n->string);
	}
	*ret = v;
	return 0;
}
