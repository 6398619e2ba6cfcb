// SPDX-License-Identifier: MIT
/*
 * docker_parse: the Docker Engine API's replies (reference swarm-listener-monitor-docker-api.md
 * §4) into structs. Pure: reply bodies in, structs out, every size capped, anything malformed
 * rejected with -EBADMSG and a message naming the field. No I/O, no logging; fuzzed
 * (tests/fuzz/fuzz_docker.c). The replies are read with cJSON, except the service object a
 * scaling update is made from: a small scanner of its own checks it and finds the byte spans of
 * the few values that matter, so the spec goes back to the engine exactly as it came
 * (docker_spec_scale, fuzzed by tests/fuzz/fuzz_docker_spec.c).
 */
#include "flowproxy/docker_parse.h"
#include "flowproxy/util.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdarg.h>

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
	free(t->container_id);
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
	const cJSON *na, *att, *slot, *cid;
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
	/* A task has a container once the node created it (state "created" and later); before,
	 * ContainerStatus is absent or empty. */
	cid = cJSON_GetObjectItemCaseSensitive(json_obj(json_obj(it, "Status"), "ContainerStatus"),
					       "ContainerID");
	if (cid && !cJSON_IsNull(cid)) {
		if (!cJSON_IsString(cid))
			return errmsg_set(reterr, -EBADMSG,
					  "task '%s': ContainerID is not a string", id);
		if (str_set(cid->valuestring))
			t->container_id = xstrdup(cid->valuestring);
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

/* ---- the spec of a scaling update, byte for byte (§4.3) ---------------------------------- */

/* Where a value sits on the path docker_spec_scale follows; ROLE_OTHER is everywhere else. */
enum spec_role {
	ROLE_OTHER = 0,
	ROLE_ROOT,
	ROLE_VERSION,
	ROLE_INDEX,
	ROLE_SPEC,
	ROLE_NAME,
	ROLE_MODE,
	ROLE_REPLICATED,
	ROLE_GLOBAL,
	ROLE_REPLICATED_JOB,
	ROLE_GLOBAL_JOB,
	ROLE_REPLICAS,
	ROLE_COUNT,
};

/* The keys followed, as the engine prints them (types/swarm/service.go, §4.2). */
static const struct {
	enum spec_role parent;
	const char *key;
	enum spec_role role;
} spec_keys[] = {
	{ROLE_ROOT, "Version", ROLE_VERSION},
	{ROLE_ROOT, "Spec", ROLE_SPEC},
	{ROLE_VERSION, "Index", ROLE_INDEX},
	{ROLE_SPEC, "Name", ROLE_NAME},
	{ROLE_SPEC, "Mode", ROLE_MODE},
	{ROLE_MODE, "Replicated", ROLE_REPLICATED},
	{ROLE_MODE, "Global", ROLE_GLOBAL},
	{ROLE_MODE, "ReplicatedJob", ROLE_REPLICATED_JOB},
	{ROLE_MODE, "GlobalJob", ROLE_GLOBAL_JOB},
	{ROLE_REPLICATED, "Replicas", ROLE_REPLICAS},
};

#define SPEC_KEY_FOLD_MAX 16 /* longer than any key in spec_keys */

struct jscan {
	const char *body, *p, *end;
	const char *start[ROLE_COUNT], *stop[ROLE_COUNT]; /* each value's bytes; NULL: not seen */
	const char *replicated_in; /* just after the '{' of Spec.Mode.Replicated */
	bool replicated_empty;
	bool ambiguous; /* JSON, but a key followed is given twice or spelt unlike the engine */
	char why[192];
};

PRINTF_LIKE(2, 3) static int jscan_fail(struct jscan *j, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(j->why, sizeof(j->why), "byte %zu: ", (size_t)(j->p - j->body));
	va_start(ap, fmt);
	vsnprintf(j->why + n, sizeof(j->why) - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static void jscan_ws(struct jscan *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

/*
 * Go's encoding/json matches a key to a field by exact name, else without regard to case,
 * where case folding maps U+017F to S, U+212A to K and U+0130, U+0131 to I. What a key folds
 * to is kept (upper case ASCII) to catch such spellings of the keys followed; any other
 * character folds to '\1', which matches none.
 */
static void fold_put(char *fold, size_t *n, uint32_t cp)
{
	char c = '\1';

	if (cp < 0x80)
		c = cp >= 'a' && cp <= 'z' ? (char)(cp - 'a' + 'A') : (char)cp;
	else if (cp == 0x17f)
		c = 'S';
	else if (cp == 0x212a)
		c = 'K';
	else if (cp == 0x130 || cp == 0x131)
		c = 'I';
	if (*n < SPEC_KEY_FOLD_MAX)
		fold[*n] = c;
	(*n)++;
}

static int hex4(const char *p, const char *end, uint32_t *ret)
{
	uint32_t v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int h = hex_digit((unsigned char)p[i]);

		if (h < 0)
			return -1;
		v = v << 4 | (uint32_t)h;
	}
	*ret = v;
	return 0;
}

/* A string at j->p (its '"'): checked, and folded into fold (NULL: not kept). */
static int jscan_string(struct jscan *j, char *fold, size_t *fold_len)
{
	size_t n = 0;

	j->p++;
	for (;;) {
		unsigned char c;

		if (j->p >= j->end)
			return jscan_fail(j, "unterminated string");
		c = (unsigned char)*j->p;
		if (c == '"') {
			j->p++;
			break;
		}
		if (c < 0x20)
			return jscan_fail(j, "control character in a string");
		if (c == '\\') {
			uint32_t cp, lo;

			if (j->end - j->p < 2)
				return jscan_fail(j, "unterminated string");
			c = (unsigned char)j->p[1];
			if (c == 'u') {
				if (hex4(j->p + 2, j->end, &cp) < 0)
					return jscan_fail(j, "bad \\u escape");
				j->p += 6;
				/* A surrogate pair is one character; a lone one is U+FFFD to Go. */
				if (cp >= 0xd800 && cp < 0xdc00 && j->end - j->p >= 6 &&
				    j->p[0] == '\\' && j->p[1] == 'u' &&
				    hex4(j->p + 2, j->end, &lo) == 0 && lo >= 0xdc00 &&
				    lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					j->p += 6;
				}
			} else if (strchr("\"\\/bfnrt", c) && c) {
				cp = c == '"' || c == '\\' || c == '/' ? c : 1;
				j->p += 2;
			} else {
				return jscan_fail(j, "bad escape '\\%c'",
						  c >= 0x20 && c < 0x7f ? c : '?');
			}
			if (fold)
				fold_put(fold, &n, cp);
			continue;
		}
		if (c >= 0x80 && fold) {
			/* UTF-8 of the four runes that fold to ASCII letters; lead bytes are never
			 * continuation bytes, so reading byte by byte agrees with Go's decoder. */
			const unsigned char *u = (const unsigned char *)j->p;
			ptrdiff_t left = j->end - j->p;

			if (left >= 2 && u[0] == 0xc5 && u[1] == 0xbf) {
				fold_put(fold, &n, 0x17f);
				j->p += 2;
			} else if (left >= 2 && u[0] == 0xc4 && (u[1] == 0xb0 || u[1] == 0xb1)) {
				fold_put(fold, &n, 0x130);
				j->p += 2;
			} else if (left >= 3 && u[0] == 0xe2 && u[1] == 0x84 && u[2] == 0xaa) {
				fold_put(fold, &n, 0x212a);
				j->p += 3;
			} else {
				fold_put(fold, &n, 0xfffd);
				j->p++;
			}
			continue;
		}
		if (fold)
			fold_put(fold, &n, c);
		j->p++;
	}
	if (fold_len)
		*fold_len = n;
	return 0;
}

static int jscan_digits(struct jscan *j)
{
	const char *s = j->p;

	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s ? 0 : jscan_fail(j, "bad number");
}

/* RFC 8259 §6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int jscan_number(struct jscan *j)
{
	if (*j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (jscan_digits(j) < 0)
		return -1;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (jscan_digits(j) < 0)
			return -1;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (jscan_digits(j) < 0)
			return -1;
	}
	return 0;
}

static int jscan_value(struct jscan *j, enum spec_role role, int depth);

/* The role of the value of key (raw: its bytes with the quotes) inside a parent of role. */
static int jscan_key_role(struct jscan *j, enum spec_role parent, const char *raw, size_t raw_len,
			  const char *fold, size_t fold_len, enum spec_role *ret)
{
	*ret = ROLE_OTHER;
	for (size_t i = 0; i < ARRAY_SIZE(spec_keys); i++) {
		const char *k = spec_keys[i].key;
		size_t n = strlen(k);
		bool same = fold_len == n;

		if (spec_keys[i].parent != parent)
			continue;
		for (size_t c = 0; same && c < n; c++)
			same = fold[c] == (k[c] >= 'a' && k[c] <= 'z' ? k[c] - 'a' + 'A' : k[c]);
		if (!same)
			continue;
		j->ambiguous = true;
		if (raw_len != n + 2 || memcmp(raw + 1, k, n) != 0)
			return jscan_fail(
				j,
				"key %.*s reads as \"%s\" to the engine, which never prints it so",
				(int)(raw_len < 64 ? raw_len : 64), raw, k);
		if (j->start[spec_keys[i].role])
			return jscan_fail(j, "key \"%s\" given twice", k);
		j->ambiguous = false;
		*ret = spec_keys[i].role;
		return 0;
	}
	return 0;
}

static int jscan_object(struct jscan *j, enum spec_role role, int depth)
{
	bool follow = role != ROLE_OTHER;

	j->p++;
	if (role == ROLE_REPLICATED)
		j->replicated_in = j->p;
	jscan_ws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		if (role == ROLE_REPLICATED)
			j->replicated_empty = true;
		return 0;
	}
	for (;;) {
		char fold[SPEC_KEY_FOLD_MAX];
		size_t fold_len = 0;
		const char *key;
		enum spec_role child = ROLE_OTHER;

		jscan_ws(j);
		if (j->p >= j->end || *j->p != '"')
			return jscan_fail(j, "expected a key");
		key = j->p;
		if (jscan_string(j, follow ? fold : NULL, &fold_len) < 0)
			return -1;
		if (follow &&
		    jscan_key_role(j, role, key, (size_t)(j->p - key), fold, fold_len, &child) < 0)
			return -1;
		jscan_ws(j);
		if (j->p >= j->end || *j->p != ':')
			return jscan_fail(j, "expected ':'");
		j->p++;
		if (jscan_value(j, child, depth) < 0)
			return -1;
		jscan_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == '}') {
			j->p++;
			return 0;
		}
		return jscan_fail(j, "expected ',' or '}'");
	}
}

static int jscan_array(struct jscan *j, int depth)
{
	j->p++;
	jscan_ws(j);
	if (j->p < j->end && *j->p == ']') {
		j->p++;
		return 0;
	}
	for (;;) {
		if (jscan_value(j, ROLE_OTHER, depth) < 0)
			return -1;
		jscan_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == ']') {
			j->p++;
			return 0;
		}
		return jscan_fail(j, "expected ',' or ']'");
	}
}

static int jscan_value(struct jscan *j, enum spec_role role, int depth)
{
	const char *start;
	int r;

	jscan_ws(j);
	if (j->p >= j->end)
		return jscan_fail(j, "unexpected end");
	start = j->p;
	switch (*j->p) {
	case '{':
	case '[':
		if (depth >= DOCKER_JSON_DEPTH_MAX)
			return jscan_fail(j, "nested deeper than %d", DOCKER_JSON_DEPTH_MAX);
		r = *j->p == '{' ? jscan_object(j, role, depth + 1) : jscan_array(j, depth + 1);
		break;
	case '"':
		r = jscan_string(j, NULL, NULL);
		break;
	case 't':
	case 'f':
	case 'n': {
		const char *lit = *j->p == 't' ? "true" : *j->p == 'f' ? "false" : "null";
		size_t n = strlen(lit);

		if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
			return jscan_fail(j, "unexpected character");
		j->p += n;
		r = 0;
		break;
	}
	default:
		if (*j->p != '-' && (*j->p < '0' || *j->p > '9'))
			return jscan_fail(j, "unexpected character");
		r = jscan_number(j);
		break;
	}
	if (r < 0)
		return r;
	j->start[role] = start;
	j->stop[role] = j->p;
	return 0;
}

/* A value that is a plain whole number (digits only) up to max, as Go reads a uint64. */
static bool span_uint(const char *s, const char *e, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (!s || s == e)
		return false;
	for (const char *p = s; p < e; p++) {
		if (*p < '0' || *p > '9' || v > (max - (uint64_t)(*p - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*ret = v;
	return true;
}

static bool span_is(const struct jscan *j, enum spec_role role, char first)
{
	return j->start[role] && j->start[role][0] == first;
}

int docker_spec_scale(const char *body, size_t len, long replicas, char **ret_spec, size_t *ret_len,
		      long *ret_current, uint64_t *ret_version, char **reterr)
{
	static const struct {
		enum spec_role role;
		const char *key, *why;
	} unscalable[] = {
		{ROLE_GLOBAL, "Global", "is global (one task per node)"},
		{ROLE_REPLICATED_JOB, "ReplicatedJob", "is a replicated job (run to completion)"},
		{ROLE_GLOBAL_JOB, "GlobalJob", "is a global job (run to completion)"},
	};
	struct jscan j = {.body = body, .p = body, .end = body + len};
	const char *name = "(unnamed)", *spec, *at, *skip;
	int name_len = 9, kinds = 0;
	uint64_t current = 1, version;
	struct strbuf out;

	if (!body)
		return errmsg_set(reterr, -EINVAL, "service: no body");
	if (ret_spec && (replicas < 0 || replicas > DOCKER_REPLICAS_MAX))
		return errmsg_set(reterr, -EINVAL, "service: %ld replicas is not a count",
				  replicas);
	if (len > DOCKER_REPLY_MAX)
		return errmsg_set(reterr, -EMSGSIZE,
				  "service: reply of %zu bytes is over the %u cap", len,
				  DOCKER_REPLY_MAX);
	jscan_ws(&j);
	if (j.p >= j.end || *j.p != '{')
		return errmsg_set(reterr, -EBADMSG, "service: reply is not a JSON object");
	if (jscan_value(&j, ROLE_ROOT, 0) < 0)
		return errmsg_set(reterr, -EBADMSG, "service: reply is %s (%s)",
				  j.ambiguous ? "ambiguous" : "not JSON", j.why);
	jscan_ws(&j);
	if (j.p != j.end) {
		jscan_fail(&j, "more after the object");
		return errmsg_set(reterr, -EBADMSG, "service: reply is not JSON (%s)", j.why);
	}

	if (span_is(&j, ROLE_NAME, '"')) {
		name = j.start[ROLE_NAME] + 1;
		name_len = (int)(j.stop[ROLE_NAME] - name - 1);
		name_len = name_len > 128 ? 128 : name_len;
	}
	if (!span_is(&j, ROLE_SPEC, '{'))
		return errmsg_set(reterr, -EBADMSG, "service: no Spec object");
	if (!span_is(&j, ROLE_MODE, '{'))
		return errmsg_set(reterr, -EBADMSG, "service '%.*s' without Spec.Mode", name_len,
				  name);
	for (enum spec_role k = ROLE_REPLICATED; k <= ROLE_GLOBAL_JOB; k++) {
		/* null is Go's nil pointer: no such mode. */
		if (!j.start[k] || j.start[k][0] == 'n')
			continue;
		if (j.start[k][0] != '{')
			return errmsg_set(reterr, -EBADMSG,
					  "service '%.*s': a mode in Spec.Mode is not an object",
					  name_len, name);
		kinds++;
	}
	if (kinds != 1)
		return errmsg_set(reterr, -EBADMSG, "service '%.*s': %s in Spec.Mode", name_len,
				  name, kinds ? "more than one mode" : "no known mode");
	for (size_t i = 0; i < ARRAY_SIZE(unscalable); i++)
		if (span_is(&j, unscalable[i].role, '{'))
			return errmsg_set(reterr, -ENOTSUP,
					  "service '%.*s' %s: Spec.Mode.%s has no replica count "
					  "to scale",
					  name_len, name, unscalable[i].why, unscalable[i].key);
	if (span_is(&j, ROLE_REPLICAS, 'n') || !j.start[ROLE_REPLICAS])
		current = 1; /* the engine's default for a missing count */
	else if (!span_uint(j.start[ROLE_REPLICAS], j.stop[ROLE_REPLICAS],
			    (uint64_t)DOCKER_REPLICAS_MAX, &current))
		return errmsg_set(reterr, -EBADMSG,
				  "service '%.*s': Spec.Mode.Replicated.Replicas '%.*s' is not a "
				  "count up to %ld",
				  name_len, name,
				  (int)(j.stop[ROLE_REPLICAS] - j.start[ROLE_REPLICAS] > 32
						? 32
						: j.stop[ROLE_REPLICAS] - j.start[ROLE_REPLICAS]),
				  j.start[ROLE_REPLICAS], DOCKER_REPLICAS_MAX);
	if (!span_is(&j, ROLE_VERSION, '{') ||
	    !span_uint(j.start[ROLE_INDEX], j.stop[ROLE_INDEX], UINT64_MAX, &version))
		return errmsg_set(reterr, -EBADMSG, "service '%.*s' without a Version.Index",
				  name_len, name);

	if (ret_spec) {
		/* Spec's bytes, with the count's bytes (or nothing, when absent) swapped. */
		spec = j.start[ROLE_SPEC];
		strbuf_init(&out);
		if (j.start[ROLE_REPLICAS]) {
			at = j.start[ROLE_REPLICAS];
			skip = j.stop[ROLE_REPLICAS];
			strbuf_append(&out, spec, (size_t)(at - spec));
			strbuf_printf(&out, "%ld", replicas);
		} else {
			at = skip = j.replicated_in;
			strbuf_append(&out, spec, (size_t)(at - spec));
			strbuf_printf(&out, "\"Replicas\":%ld%s", replicas,
				      j.replicated_empty ? "" : ",");
		}
		strbuf_append(&out, skip, (size_t)(j.stop[ROLE_SPEC] - skip));
		*ret_len = out.len;
		*ret_spec = strbuf_steal(&out);
	}
	if (ret_current)
		*ret_current = (long)current;
	if (ret_version)
		*ret_version = version;
	return 0;
}

int docker_parse_update_reply(const char *body, size_t len, char **ret, char **reterr)
{
	_cleanup_cjson_ cJSON *root = NULL;
	const cJSON *w, *it;
	struct strbuf b;
	int r;

	r = parse_root(body, len, DOCKER_REPLY_MAX, "update", &root, reterr);
	if (r < 0)
		return r;
	if (!cJSON_IsObject(root))
		return errmsg_set(reterr, -EBADMSG, "update: reply is not an object");
	w = cJSON_GetObjectItemCaseSensitive(root, "Warnings");
	if (w && !cJSON_IsNull(w) && !cJSON_IsArray(w))
		return errmsg_set(reterr, -EBADMSG, "update: Warnings is not an array");
	cJSON_ArrayForEach(it, w) if (!cJSON_IsString(it)) return errmsg_set(
		reterr, -EBADMSG, "update: a warning is not a string");
	strbuf_init(&b);
	cJSON_ArrayForEach(it, w)
	{
		if (b.len)
			strbuf_puts(&b, "; ");
		strbuf_puts(&b, it->valuestring);
	}
	if (b.len > DOCKER_WARNINGS_MAX) {
		b.len = DOCKER_WARNINGS_MAX;
		while (b.len && ((unsigned char)b.s[b.len] & 0xc0) == 0x80)
			b.len--; /* not inside a UTF-8 sequence */
		b.s[b.len] = '\0';
	}
	*ret = b.len ? strbuf_steal(&b) : NULL;
	strbuf_done(&b);
	return 0;
}
