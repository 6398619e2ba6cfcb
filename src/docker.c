// SPDX-License-Identifier: MIT
/*
 * docker: the Docker Engine API client (reference swarm-listener-monitor-docker-api.md §4).
 *
 * The first half is pure: reply bodies in, structs out, every size capped, anything malformed
 * rejected with -EBADMSG and a message naming the field. The second half is the edge: blocking
 * HTTP/1.1 calls through one libcurl easy handle (unix socket or plain TCP), and an events
 * follower driven by the curl multi interface behind one epoll fd (curl's sockets plus a timerfd
 * for curl's timeouts and one for the reconnect backoff), like telemetry.c. CURLcode never
 * leaves this file. The follower logs where it handles an error, once per failure streak.
 */
#include "flowproxy/docker.h"
#include "flowproxy/log.h"
#include "flowproxy/util.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>

/*
 * libcurl is loaded with dlopen by the first docker_new: it brings about twenty shared libraries
 * (TLS, LDAP, Kerberos, ...) whose pages would count in the daemon's memory even when it never
 * talks to Docker. The names below are the calls of this file, redirected to the loaded ones
 * (curl.h's type-checking macros are dropped for them).
 */
static struct {
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *);
	char *(*easy_escape)(CURL *, const char *, int);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	CURLcode (*easy_perform)(CURL *);
	void (*easy_reset)(CURL *);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	const char *(*easy_strerror)(CURLcode);
	void (*free_)(void *);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_cleanup)(CURLM *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
	CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
} curl_api;
static bool curl_api_ok;

#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_easy_init		 curl_api.easy_init
#define curl_easy_cleanup	 curl_api.easy_cleanup
#define curl_easy_escape	 curl_api.easy_escape
#define curl_easy_getinfo	 curl_api.easy_getinfo
#define curl_easy_perform	 curl_api.easy_perform
#define curl_easy_reset		 curl_api.easy_reset
#define curl_easy_setopt	 curl_api.easy_setopt
#define curl_easy_strerror	 curl_api.easy_strerror
#define curl_free		 curl_api.free_
#define curl_multi_add_handle	 curl_api.multi_add_handle
#define curl_multi_cleanup	 curl_api.multi_cleanup
#define curl_multi_info_read	 curl_api.multi_info_read
#define curl_multi_init		 curl_api.multi_init
#define curl_multi_remove_handle curl_api.multi_remove_handle
#define curl_multi_setopt	 curl_api.multi_setopt
#define curl_multi_socket_action curl_api.multi_socket_action

/* ---- pure parsers ------------------------------------------------------------------------ */

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
		int64_t v = 0;
		int digits = 0;

		p += sizeof(key) - 1;
		while (p < end && *p == ' ')
			p++;
		for (; p < end && *p >= '0' && *p <= '9' && digits < 19; p++, digits++)
			v = v * 10 + (*p - '0');
		if (digits > 0 && (p == end || *p < '0' || *p > '9') &&
		    (v > approx ? v - approx : approx - v) < 4096) {
			*ret = v;
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

/* ---- transport --------------------------------------------------------------------------- */

#define DOCKER_CONNECT_TIMEOUT_MS 5000L
#define DOCKER_CALL_TIMEOUT_MS	  30000L
#define DOCKER_ERRBODY_MAX	  4096

struct docker {
	char *base;	 /* "http://localhost" or "http://host:port" */
	char *unix_path; /* NULL for TCP */
	CURL *easy;	 /* the blocking calls' handle: keeps the connection between calls */
	int api;	 /* negotiated, 0 before docker_ping */
	int daemon_api;
	char api_str[16]; /* "1.41" */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static char curl_load_error[256];

/* dlopen libcurl and resolve every function this file uses (see the table at the top). */
static void curl_init_once(void)
{
	void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	const char *missing = NULL;

	if (!h) {
		snprintf(curl_load_error, sizeof(curl_load_error), "%s", dlerror());
		return;
	}
#define CURL_SYM(field, name)                               \
	do {                                                \
		*(void **)&curl_api.field = dlsym(h, name); \
		if (!curl_api.field && !missing)            \
			missing = name;                     \
	} while (0)
	CURL_SYM(global_init, "curl_global_init");
	CURL_SYM(easy_init, "curl_easy_init");
	CURL_SYM(easy_cleanup, "curl_easy_cleanup");
	CURL_SYM(easy_escape, "curl_easy_escape");
	CURL_SYM(easy_getinfo, "curl_easy_getinfo");
	CURL_SYM(easy_perform, "curl_easy_perform");
	CURL_SYM(easy_reset, "curl_easy_reset");
	CURL_SYM(easy_setopt, "curl_easy_setopt");
	CURL_SYM(easy_strerror, "curl_easy_strerror");
	CURL_SYM(free_, "curl_free");
	CURL_SYM(multi_add_handle, "curl_multi_add_handle");
	CURL_SYM(multi_cleanup, "curl_multi_cleanup");
	CURL_SYM(multi_info_read, "curl_multi_info_read");
	CURL_SYM(multi_init, "curl_multi_init");
	CURL_SYM(multi_remove_handle, "curl_multi_remove_handle");
	CURL_SYM(multi_setopt, "curl_multi_setopt");
	CURL_SYM(multi_socket_action, "curl_multi_socket_action");
#undef CURL_SYM
	if (missing) {
		snprintf(curl_load_error, sizeof(curl_load_error), "libcurl.so.4 lacks %s",
			 missing);
		return;
	}
	curl_api.global_init(CURL_GLOBAL_DEFAULT);
	curl_api_ok = true;
}

int docker_new(const char *host, struct docker **ret, char **reterr)
{
	struct docker *d;

	if (!ret)
		return -EINVAL;
	if (!host)
		host = str_set(getenv("DOCKER_HOST")) ? getenv("DOCKER_HOST") : DOCKER_HOST_DEFAULT;
	d = xcalloc(1, sizeof(*d));
	if (str_startswith(host, "unix://") || host[0] == '/') {
		const char *path = host[0] == '/' ? host : host + strlen("unix://");

		if (path[0] != '/' || strlen(path) >= 108) {
			free(d);
			return errmsg_set(reterr, -EINVAL, "docker host '%s': bad socket path",
					  host);
		}
		d->unix_path = xstrdup(path);
		d->base = xstrdup("http://localhost");
	} else if (str_startswith(host, "tcp://") || str_startswith(host, "http://")) {
		const char *hp = strstr(host, "//") + 2;

		if (!str_set(hp) || strpbrk(hp, "/?#@ \t\r\n")) {
			free(d);
			return errmsg_set(reterr, -EINVAL, "docker host '%s': want tcp://host:port",
					  host);
		}
		d->base = xasprintf("http://%s", hp);
	} else {
		free(d);
		return errmsg_set(reterr, -EINVAL,
				  "docker host '%s': want unix:///path or tcp://host:port", host);
	}
	pthread_once(&curl_once, curl_init_once);
	if (!curl_api_ok) {
		free(d->unix_path);
		free(d->base);
		free(d);
		return errmsg_set(reterr, -ENOENT, "docker: cannot load libcurl: %s",
				  curl_load_error);
	}
	d->easy = curl_easy_init();
	if (!d->easy) {
		docker_free(d);
		return errmsg_set(reterr, -ENOMEM, "docker: cannot create a curl handle");
	}
	*ret = d;
	return 0;
}

void docker_free(struct docker *d)
{
	if (!d)
		return;
	if (d->easy)
		curl_easy_cleanup(d->easy);
	free(d->base);
	free(d->unix_path);
	free(d);
}

const char *docker_api_version(const struct docker *d)
{
	return d ? d->api_str : "";
}

int docker_daemon_api_version(const struct docker *d)
{
	return d ? d->daemon_api : 0;
}

/* Options every handle shares: where to connect, HTTP only, no signals. */
static void setup_handle(const struct docker *d, CURL *h, const char *url)
{
	curl_easy_setopt(h, CURLOPT_URL, url);
	if (d->unix_path)
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, d->unix_path);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
#endif
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, DOCKER_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "flowproxy/" FLOWPROXY_VERSION);
}

struct body {
	struct strbuf b;
	size_t max;
	bool over;
};

static size_t body_write(char *ptr, size_t size, size_t n, void *userp)
{
	struct body *b = userp;

	n *= size;
	if (b->b.len + n > b->max) {
		b->over = true;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	strbuf_append(&b->b, ptr, n);
	return n;
}

static int status_errno(long status)
{
	switch (status) {
	case 400:
		return -EINVAL;
	case 404:
		return -ENOENT;
	case 409:
		return -EBUSY;
	case 500:
		return -EREMOTEIO;
	case 501:
		return -EOPNOTSUPP;
	case 503:
		return -ENOTCONN;
	default:
		return -EPROTO;
	}
}

/* Docker's ErrorResponse {"message": "..."} (§4.0), else the start of the body. Caller frees. */
static char *error_message(const char *body, size_t len)
{
	_cleanup_cjson_ cJSON *j = body ? cJSON_ParseWithLength(body, len) : NULL;
	const char *m = json_str(j, "message");
	size_t n = 0;

	if (m)
		return xstrndup(m, 512);
	while (body && n < len && n < 200 && body[n] != '\n' && body[n] != '\0')
		n++;
	return body && n ? xstrndup(body, n) : xstrdup("(no message)");
}

/*
 * GET path (with query) on the daemon, prefixed with the negotiated version when versioned.
 * Returns the body (NUL-terminated, caller frees) and its length on a 2xx answer.
 */
static int docker_get(struct docker *d, const char *path, bool versioned, size_t max,
		      char **ret_body, size_t *ret_len, char **reterr)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct body b = {.max = max};
	_cleanup_free_ char *url = NULL;
	long status = 0;
	CURLcode c;
	int r = 0;

	if (versioned && !d->api)
		return errmsg_set(reterr, -ENOTCONN, "docker: GET %s before docker_ping", path);
	url = versioned ? xasprintf("%s/v%s%s", d->base, d->api_str, path)
			: xasprintf("%s%s", d->base, path);
	strbuf_init(&b.b);
	curl_easy_reset(d->easy);
	setup_handle(d, d->easy, url);
	curl_easy_setopt(d->easy, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(d->easy, CURLOPT_TIMEOUT_MS, DOCKER_CALL_TIMEOUT_MS);
	curl_easy_setopt(d->easy, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(d->easy, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(d->easy, CURLOPT_ERRORBUFFER, errbuf);
	c = curl_easy_perform(d->easy);
	curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_setopt(d->easy, CURLOPT_ERRORBUFFER, NULL);
	if (c != CURLE_OK) {
		const char *why = errbuf[0] ? errbuf : curl_easy_strerror(c);

		if (b.over)
			r = errmsg_set(reterr, -EMSGSIZE, "docker: GET %s: reply over %zu bytes",
				       path, max);
		else if (c == CURLE_COULDNT_CONNECT || c == CURLE_COULDNT_RESOLVE_HOST)
			r = errmsg_set(reterr, -ECONNREFUSED, "docker: cannot connect to %s: %s",
				       d->unix_path ? d->unix_path : d->base, why);
		else if (c == CURLE_OPERATION_TIMEDOUT)
			r = errmsg_set(reterr, -ETIMEDOUT, "docker: GET %s: %s", path, why);
		else
			r = errmsg_set(reterr, -EIO, "docker: GET %s: %s", path, why);
	} else if (status < 200 || status > 299) {
		_cleanup_free_ char *m = error_message(b.b.s, b.b.len);

		r = errmsg_set(reterr, status_errno(status), "docker: GET %s: HTTP %ld: %s", path,
			       status, m);
	}
	if (r < 0) {
		strbuf_done(&b.b);
		return r;
	}
	if (ret_len)
		*ret_len = b.b.len;
	*ret_body = strbuf_steal(&b.b);
	return 0;
}

int docker_ping(struct docker *d, char **reterr)
{
	_cleanup_free_ char *body = NULL, *ver = NULL;
	size_t len = 0;
	int r, api, min;

	if (!d)
		return -EINVAL;
	r = docker_get(d, "/_ping", false, 1024, &body, &len, reterr);
	if (r < 0)
		return r;
	if (!streq(body, "OK"))
		return errmsg_set(reterr, -EBADMSG, "docker: /_ping answered '%.40s', not OK",
				  body);
	r = docker_get(d, "/version", false, 1 << 20, &ver, &len, reterr);
	if (r < 0)
		return r;
	r = docker_parse_version(ver, len, &api, &min, reterr);
	if (r < 0)
		return r;
	d->daemon_api = api;
	d->api = docker_negotiate_version(api, min);
	snprintf(d->api_str, sizeof(d->api_str), "%d.%d", d->api / 100, d->api % 100);
	return 0;
}

/* path + "?filters=" + the URL-encoded filters JSON + extra (e.g. "&status=true"). Caller frees. */
static char *filtered_path(struct docker *d, const char *path, const char *filters,
			   const char *extra)
{
	char *enc = curl_easy_escape(d->easy, filters, 0);
	char *p;

	if (!enc)
		abort(); /* out of memory, like xmalloc */
	p = xasprintf("%s?filters=%s%s", path, enc, extra ? extra : "");
	curl_free(enc);
	return p;
}

int docker_list_services(struct docker *d, struct docker_service_list *ret, char **reterr)
{
	_cleanup_free_ char *path = NULL, *body = NULL;
	size_t len = 0;
	int r;

	if (!d || !ret)
		return -EINVAL;
	path = filtered_path(d, "/services", "{\"label\":[\"com.df.notify=true\"]}",
			     "&status=true");
	r = docker_get(d, path, true, DOCKER_REPLY_MAX, &body, &len, reterr);
	if (r < 0)
		return r;
	return docker_parse_services(body, len, ret, reterr);
}

int docker_list_tasks(struct docker *d, const char *service, struct docker_task_list *ret,
		      char **reterr)
{
	_cleanup_free_ char *path = NULL, *body = NULL, *filters = NULL;
	_cleanup_cjson_ cJSON *f = cJSON_CreateObject();
	size_t len = 0;
	int r;

	if (!d || !ret || !f)
		return -EINVAL;
	/* cJSON escapes the name, so any service string makes a valid filter. */
	if (service)
		cJSON_AddItemToObject(f, "service", cJSON_CreateStringArray(&service, 1));
	cJSON_AddItemToObject(f, "desired-state",
			      cJSON_CreateStringArray((const char *[]){"running"}, 1));
	filters = cJSON_PrintUnformatted(f);
	if (!filters)
		abort();
	path = filtered_path(d, "/tasks", filters, NULL);
	r = docker_get(d, path, true, DOCKER_REPLY_MAX, &body, &len, reterr);
	if (r < 0)
		return r;
	return docker_parse_tasks(body, len, ret, reterr);
}

/* GET <prefix><id, URL-escaped><suffix> (versioned, capped at DOCKER_REPLY_MAX). */
static int get_object(struct docker *d, const char *prefix, const char *id, const char *suffix,
		      char **ret_body, size_t *ret_len, char **reterr)
{
	_cleanup_free_ char *path = NULL, *enc = NULL;

	enc = curl_easy_escape(d->easy, id, 0);
	if (!enc)
		abort();
	path = xasprintf("%s%s%s", prefix, enc, suffix);
	return docker_get(d, path, true, DOCKER_REPLY_MAX, ret_body, ret_len, reterr);
}

int docker_inspect_service(struct docker *d, const char *id, struct docker_service *ret,
			   char **ret_raw, char **reterr)
{
	_cleanup_free_ char *body = NULL;
	size_t len = 0;
	int r;

	if (!d || !str_set(id))
		return -EINVAL;
	r = get_object(d, "/services/", id, "?insertDefaults=false", &body, &len, reterr);
	if (r < 0)
		return r;
	if (ret) {
		r = docker_parse_service(body, len, ret, reterr);
		if (r < 0)
			return r;
	}
	if (ret_raw)
		*ret_raw = TAKE_PTR(body);
	return 0;
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

int docker_container_networks(struct docker *d, const char *id, struct strv *ret, char **reterr)
{
	_cleanup_free_ char *body = NULL;
	size_t len = 0;
	int r;

	if (!d || !str_set(id) || !ret)
		return -EINVAL;
	r = get_object(d, "/containers/", id, "/json", &body, &len, reterr);
	if (r < 0)
		return r;
	return docker_parse_container_networks(body, len, ret, reterr);
}

/* ---- events follower --------------------------------------------------------------------- */

#define EVENTS_BACKOFF_MIN_MS 250u
#define EVENTS_BACKOFF_MAX_MS 8000u

struct docker_events {
	struct docker *d; /* borrowed */
	char *filters;	  /* URL-encoded filters JSON */
	docker_event_fn cb;
	void *userdata;
	CURLM *multi;
	CURL *easy; /* the stream, NULL between connections */
	int epfd, curl_tfd, backoff_tfd;
	struct strbuf line;
	bool skipping; /* inside a line over DOCKER_EVENT_LINE_MAX: drop until '\n' */
	long status;   /* HTTP status of the current stream, 0 until known */
	struct strbuf errbody;
	int64_t start_since; /* seconds: the first since= */
	unsigned backoff_ms;
	bool failing; /* a failure was logged; log the recovery and not every retry */
	struct docker_event *pending; /* parsed during curl's callbacks, delivered after */
	size_t n_pending;
	struct docker_events_stats stats;
};

static void arm_timerfd(int fd, long ms)
{
	struct itimerspec its = {0};

	if (ms >= 0) {
		its.it_value.tv_sec = ms / 1000;
		its.it_value.tv_nsec = (ms % 1000) * 1000000L;
		if (ms == 0)
			its.it_value.tv_nsec = 1; /* all zero would disarm */
	}
	timerfd_settime(fd, 0, &its, NULL);
}

static int events_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct docker_events *e = userp;
	struct epoll_event ev = {.data.fd = s};

	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(e->epfd, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev.events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev.events |= EPOLLOUT;
	if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, s, &ev) < 0 && errno == ENOENT)
		epoll_ctl(e->epfd, EPOLL_CTL_ADD, s, &ev);
	return 0;
}

static int events_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct docker_events *e = userp;

	arm_timerfd(e->curl_tfd, timeout_ms);
	return 0;
}

static void events_line(struct docker_events *e, const char *s, size_t len)
{
	_cleanup_free_ char *err = NULL;
	struct docker_event ev;

	if (len && s[len - 1] == '\r')
		len--;
	if (len == 0)
		return;
	if (docker_parse_event(s, len, &ev, &err) < 0) {
		e->stats.bad_lines++;
		log_warn("docker events: dropped a line: %s", err);
		return;
	}
	/* A reconnect replays the whole second of since=: skip what was delivered. */
	if (ev.time_nano <= e->stats.last_time_nano) {
		docker_event_done(&ev);
		return;
	}
	e->stats.last_time_nano = ev.time_nano;
	e->pending = xrealloc(e->pending, (e->n_pending + 1) * sizeof(*e->pending));
	e->pending[e->n_pending++] = ev;
}

static size_t events_write(char *ptr, size_t size, size_t n, void *userp)
{
	struct docker_events *e = userp;
	size_t total = size * n;

	if (!e->status) {
		curl_easy_getinfo(e->easy, CURLINFO_RESPONSE_CODE, &e->status);
		if (e->status == 200) {
			e->stats.connects++;
			e->stats.connected = true;
			e->backoff_ms = EVENTS_BACKOFF_MIN_MS;
			if (e->failing)
				log_info("docker events: connected again");
			e->failing = false;
		}
	}
	if (e->status != 200) {
		if (e->errbody.len < DOCKER_ERRBODY_MAX)
			strbuf_append(&e->errbody, ptr, total);
		return total;
	}
	while (n > 0 && total > 0) {
		char *nl = memchr(ptr, '\n', total);
		size_t chunk = nl ? (size_t)(nl - ptr) : total;

		if (!e->skipping) {
			if (e->line.len + chunk > DOCKER_EVENT_LINE_MAX) {
				e->stats.bad_lines++;
				log_warn("docker events: dropped a line over %u bytes",
					 DOCKER_EVENT_LINE_MAX);
				strbuf_reset(&e->line);
				e->skipping = true;
			} else {
				strbuf_append(&e->line, ptr, chunk);
			}
		}
		if (!nl)
			break;
		if (!e->skipping)
			events_line(e, e->line.s ? e->line.s : "", e->line.len);
		strbuf_reset(&e->line);
		e->skipping = false;
		ptr = nl + 1;
		total -= chunk + 1;
	}
	return size * n;
}

static int events_start(struct docker_events *e)
{
	_cleanup_free_ char *url = NULL;
	int64_t since =
		e->stats.last_time_nano ? e->stats.last_time_nano / 1000000000 : e->start_since;

	url = xasprintf("%s/v%s/events?filters=%s&since=%" PRId64, e->d->base, e->d->api_str,
			e->filters, since);
	e->easy = curl_easy_init();
	if (!e->easy)
		return -ENOMEM;
	setup_handle(e->d, e->easy, url);
	curl_easy_setopt(e->easy, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(e->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e->easy, CURLOPT_WRITEFUNCTION, events_write);
	curl_easy_setopt(e->easy, CURLOPT_WRITEDATA, e);
	e->status = 0;
	e->skipping = false;
	strbuf_reset(&e->line);
	strbuf_reset(&e->errbody);
	if (curl_multi_add_handle(e->multi, e->easy) != CURLM_OK) {
		curl_easy_cleanup(e->easy);
		e->easy = NULL;
		return -ENOMEM;
	}
	return 0;
}

static void events_stop(struct docker_events *e)
{
	if (!e->easy)
		return;
	curl_multi_remove_handle(e->multi, e->easy);
	curl_easy_cleanup(e->easy);
	e->easy = NULL;
	e->stats.connected = false;
}

/* The stream ended (error, HTTP error, daemon restart): log once per streak, retry later. */
static void events_ended(struct docker_events *e, CURLcode c)
{
	_cleanup_free_ char *m = NULL;

	if (c != CURLE_OK)
		m = xstrdup(curl_easy_strerror(c));
	else if (e->status != 200) {
		_cleanup_free_ char *body = error_message(e->errbody.s, e->errbody.len);

		m = xasprintf("HTTP %ld: %s", e->status, body);
	} else
		m = xstrdup("stream closed by the daemon");
	e->stats.disconnects++;
	events_stop(e);
	if (!e->failing)
		log_warn("docker events: %s; reconnecting", m);
	else
		log_debug("docker events: %s; retrying in %u ms", m, e->backoff_ms);
	e->failing = true;
	arm_timerfd(e->backoff_tfd, e->backoff_ms);
	e->backoff_ms = e->backoff_ms * 2 > EVENTS_BACKOFF_MAX_MS ? EVENTS_BACKOFF_MAX_MS
								  : e->backoff_ms * 2;
}

int docker_events_new(struct docker *d, const char *const *types, int64_t since, docker_event_fn cb,
		      void *userdata, struct docker_events **ret, char **reterr)
{
	static const char *const default_types[] = {"service", "node", "container", NULL};
	/* Containers start and die as tasks do; exec_* (health checks) and the rest are noise. */
	static const char *const default_actions[] = {"create", "update", "remove", "start", "die"};
	struct epoll_event ev = {.events = EPOLLIN};
	_cleanup_free_ char *filters = NULL;
	cJSON *f, *arr;
	struct docker_events *e;
	size_t n = 0;

	if (!d || !cb || !ret)
		return -EINVAL;
	if (!d->api)
		return errmsg_set(reterr, -ENOTCONN, "docker events: docker_ping first");
	e = xcalloc(1, sizeof(*e));
	e->d = d;
	e->cb = cb;
	e->userdata = userdata;
	e->epfd = e->curl_tfd = e->backoff_tfd = -1;
	e->backoff_ms = EVENTS_BACKOFF_MIN_MS;
	e->start_since = since > 0 ? since : (int64_t)time(NULL);
	strbuf_init(&e->line);
	strbuf_init(&e->errbody);

	for (const char *const *t = types ? types : default_types; *t; t++)
		n++;
	f = cJSON_CreateObject();
	arr = cJSON_CreateStringArray(types ? types : default_types, (int)n);
	if (!f || !arr || !cJSON_AddItemToObject(f, "type", arr))
		abort();
	if (!types) {
		arr = cJSON_CreateStringArray(default_actions, (int)ARRAY_SIZE(default_actions));
		if (!arr || !cJSON_AddItemToObject(f, "event", arr))
			abort();
	}
	filters = cJSON_PrintUnformatted(f);
	cJSON_Delete(f);
	if (!filters)
		abort();
	e->filters = curl_easy_escape(d->easy, filters, 0);

	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	e->curl_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	e->backoff_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	e->multi = curl_multi_init();
	if (e->epfd < 0 || e->curl_tfd < 0 || e->backoff_tfd < 0 || !e->multi || !e->filters) {
		int r = errmsg_set(reterr, errno ? -errno : -ENOMEM,
				   "docker events: cannot set up: %m");

		docker_events_free(e);
		return r;
	}
	ev.data.fd = e->curl_tfd;
	epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->curl_tfd, &ev);
	ev.data.fd = e->backoff_tfd;
	epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->backoff_tfd, &ev);
	curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, events_socket_cb);
	curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
	curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, events_timer_cb);
	curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
	if (events_start(e) < 0) {
		docker_events_free(e);
		return errmsg_set(reterr, -ENOMEM, "docker events: cannot start a transfer");
	}
	*ret = e;
	return 0;
}

void docker_events_free(struct docker_events *e)
{
	if (!e)
		return;
	events_stop(e);
	if (e->multi)
		curl_multi_cleanup(e->multi);
	for (size_t i = 0; i < e->n_pending; i++)
		docker_event_done(&e->pending[i]);
	free(e->pending);
	if (e->epfd >= 0)
		close(e->epfd);
	if (e->curl_tfd >= 0)
		close(e->curl_tfd);
	if (e->backoff_tfd >= 0)
		close(e->backoff_tfd);
	curl_free(e->filters);
	strbuf_done(&e->line);
	strbuf_done(&e->errbody);
	free(e);
}

int docker_events_fd(const struct docker_events *e)
{
	return e ? e->epfd : -1;
}

void docker_events_process(struct docker_events *e)
{
	struct epoll_event evs[16];
	CURLMsg *msg;
	int n, running, left;

	if (!e)
		return;
	n = epoll_wait(e->epfd, evs, (int)ARRAY_SIZE(evs), 0);
	for (int k = 0; k < n; k++) {
		int fd = evs[k].data.fd;
		uint64_t exp;

		if (fd == e->curl_tfd || fd == e->backoff_tfd) {
			if (read(fd, &exp, sizeof(exp)) != sizeof(exp))
				continue; /* already drained */
			if (fd == e->curl_tfd)
				curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0,
							 &running);
			else if (!e->easy && events_start(e) < 0)
				arm_timerfd(e->backoff_tfd, e->backoff_ms);
			continue;
		}
		curl_multi_socket_action(
			e->multi, fd,
			((evs[k].events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
				((evs[k].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
				((evs[k].events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0),
			&running);
	}
	while ((msg = curl_multi_info_read(e->multi, &left)))
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == e->easy)
			events_ended(e, msg->data.result);

	/* Delivered outside curl's callbacks, so the callback may make blocking docker calls. */
	for (size_t i = 0; i < e->n_pending; i++) {
		e->stats.events++;
		e->cb(e->userdata, &e->pending[i]);
		docker_event_done(&e->pending[i]);
	}
	e->n_pending = 0;
}

void docker_events_get_stats(const struct docker_events *e, struct docker_events_stats *ret)
{
	*ret = e ? e->stats : (struct docker_events_stats){0};
}
