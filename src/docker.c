// SPDX-License-Identifier: MIT
/*
 * docker: the Docker Engine API client's I/O (docker.h). One curl_loop per client (a libcurl
 * multi handle on the loop, curl_loop.h) carries every transfer, the events stream included.
 * It hands over finished transfers once curl_multi_socket_action returned, and each is reported
 * to its caller from there, outside curl's own callbacks, so a callback may start or cancel
 * other calls; events parsed meanwhile are delivered after that round's reports. CURLcode never
 * leaves this file. The follower logs where it handles an error, once per failure streak.
 * A scale is one call of several transfers (GET, POST, and again after a version conflict) on
 * the same handle, under one deadline.
 */
#include "flowproxy/docker.h"
#include "flowproxy/curl_loop.h"
#include "flowproxy/log.h"
#include "flowproxy/loop.h"
#include "flowproxy/util.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <time.h>

/* ---- transport --------------------------------------------------------------------------- */

#define DOCKER_ERRBODY_MAX 4096

/* What a transfer belongs to (CURLOPT_PRIVATE points at one of these as first member). */
enum xfer_kind { XFER_REQ = 0, XFER_EVENTS };

struct docker {
	struct loop *loop;
	char *base;	 /* "http://localhost" or "http://host:port" */
	char *unix_path; /* NULL for TCP */
	int api;	 /* negotiated, 0 before docker_ping */
	int daemon_api;
	char api_str[16]; /* "1.41" */
	struct curl_loop *cl;
	struct docker_req *reqs; /* calls in flight */
	struct docker_events *followers;
};

static void on_done(void *userdata, CURL *easy, void *priv, CURLcode result);
static void on_after(void *userdata);

int docker_new(struct loop *loop, const char *host, struct docker **ret, char **reterr)
{
	_cleanup_free_ char *err = NULL;
	struct docker *d;
	int r;

	if (!ret || !loop)
		return -EINVAL;
	if (!host)
		host = str_set(getenv("DOCKER_HOST")) ? getenv("DOCKER_HOST") : DOCKER_HOST_DEFAULT;
	d = xcalloc(1, sizeof(*d));
	d->loop = loop;
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
	/* curl_loop loads libcurl for the first client (curl_dl.h says why). */
	if ((r = curl_loop_new(loop, on_done, on_after, d, &d->cl, &err)) < 0) {
		docker_free(d);
		return errmsg_set(reterr, r, "docker: %s", err);
	}
	*ret = d;
	return 0;
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
static void setup_handle(const struct docker *d, CURL *h, const char *url, void *owner)
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
	curl_easy_setopt(h, CURLOPT_PRIVATE, owner);
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
	cJSON *j = body ? cJSON_ParseWithLength(body, len) : NULL;
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
	size_t n = 0;

	if (cJSON_IsString(m)) {
		char *out = xstrndup(m->valuestring, 512);

		cJSON_Delete(j);
		return out;
	}
	cJSON_Delete(j);
	while (body && n < len && n < 200 && body[n] != '\n' && body[n] != '\0')
		n++;
	return body && n ? xstrndup(body, n) : xstrdup("(no message)");
}

/* ---- calls ------------------------------------------------------------------------------ */

enum req_kind {
	REQ_RAW = 0,
	REQ_PING,
	REQ_VERSION,
	REQ_SERVICES,
	REQ_TASKS,
	REQ_SERVICE,
	REQ_NETWORKS,
	REQ_SCALE_GET,
	REQ_SCALE_POST,
};

/* The state of a docker_scale_service across its transfers. */
struct scale_op {
	char *id;
	long delta, min, max;
	long long deadline; /* now_usec() at which the whole call ends */
	long want;	    /* the count the update in flight asks for */
	char *spec;	    /* the body of the update in flight (CURLOPT_POSTFIELDS) */
	bool read;	    /* a GET was read: res is worth reporting */
	struct docker_scale res;
};

struct docker_req {
	enum xfer_kind xfer; /* first: CURLOPT_PRIVATE */
	struct docker *d;
	enum req_kind kind;
	CURL *easy;
	const char *method; /* "GET" or "POST", for messages */
	char *path;	    /* for messages */
	struct scale_op *scale;
	struct body b;
	char errbuf[CURL_ERROR_SIZE];
	docker_done_fn cb;
	void *userdata;
	struct loop_timer *early; /* reports a call that failed before it started */
	int early_r;
	char *early_err;
	struct docker_req *prev, *next;
};

static void req_unlink(struct docker_req *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else if (q->d->reqs == q)
		q->d->reqs = q->next;
	if (q->next)
		q->next->prev = q->prev;
	q->prev = q->next = NULL;
}

static void req_free(struct docker_req *q)
{
	req_unlink(q);
	if (q->easy) {
		curl_loop_remove(q->d->cl, q->easy);
		curl_easy_cleanup(q->easy);
	}
	loop_timer_free(q->early);
	strbuf_done(&q->b.b);
	free(q->path);
	free(q->early_err);
	if (q->scale) {
		free(q->scale->id);
		free(q->scale->spec);
		free(q->scale->res.warnings);
		free(q->scale);
	}
	free(q);
}

void docker_cancel(struct docker_req *q)
{
	if (q)
		req_free(q);
}

static void report(struct docker_req *q, struct docker_result *res)
{
	q->cb(q->userdata, res);
	req_free(q);
}

static void report_error(struct docker_req *q, int r, const char *err)
{
	struct docker_result res = {.r = r, .err = err, .body = ""};

	report(q, &res);
}

static void on_early(void *userdata)
{
	struct docker_req *q = userdata;

	report_error(q, q->early_r, q->early_err ? q->early_err : strerror(-q->early_r));
}

static struct docker_req *req_new(struct docker *d, enum req_kind kind, docker_done_fn cb,
				  void *userdata)
{
	struct docker_req *q = xcalloc(1, sizeof(*q));

	q->xfer = XFER_REQ;
	q->d = d;
	q->kind = kind;
	q->cb = cb;
	q->userdata = userdata;
	strbuf_init(&q->b.b);
	q->next = d->reqs;
	if (d->reqs)
		d->reqs->prev = q;
	d->reqs = q;
	return q;
}

/* A call that cannot start reports from the loop, like every other outcome. */
static struct docker_req *req_fail_later(struct docker_req *q, int r, char *err)
{
	q->early_r = r;
	q->early_err = err;
	q->early = loop_timer_new(q->d->loop, on_early, q);
	loop_timer_after(q->early, 0);
	return q;
}

/*
 * The headers of a request with a JSON body; "Expect:" keeps curl from waiting for a
 * "100 Continue" before sending a large one. curl only reads the list (CURLOPT_HTTPHEADER), so
 * it is built here rather than with curl_slist_append.
 */
static char hdr_json[] = "Content-Type: application/json", hdr_expect[] = "Expect:";
static struct curl_slist json_headers[] = {{hdr_json, &json_headers[1]}, {hdr_expect, NULL}};

/*
 * Starts method path (with query) on the daemon, under /v<version> unless version is NULL, with
 * body (len bytes, borrowed until the transfer ends; NULL for none) as application/json, ending
 * after timeout_ms.
 */
static struct docker_req *req_start_http(struct docker_req *q, const char *method,
					 const char *version, const char *path, const char *body,
					 size_t len, size_t max, long timeout_ms)
{
	struct docker *d = q->d;
	_cleanup_free_ char *url = NULL;

	free(q->path);
	q->path = xstrdup(path);
	q->method = method;
	url = version ? xasprintf("%s/v%s%s", d->base, version, path)
		      : xasprintf("%s%s", d->base, path);
	strbuf_reset(&q->b.b);
	q->b.max = max;
	q->b.over = false;
	q->errbuf[0] = '\0';
	q->easy = curl_easy_init();
	if (!q->easy)
		abort(); /* out of memory, like xmalloc */
	setup_handle(d, q->easy, url, q);
	if (body) {
		curl_easy_setopt(q->easy, CURLOPT_POST, 1L);
		curl_easy_setopt(q->easy, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(q->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		curl_easy_setopt(q->easy, CURLOPT_HTTPHEADER, json_headers);
	} else {
		curl_easy_setopt(q->easy, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(q->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(q->easy, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(q->easy, CURLOPT_WRITEDATA, &q->b);
	curl_easy_setopt(q->easy, CURLOPT_ERRORBUFFER, q->errbuf);
	/* curl arms its timer for "now" when a handle is added: the transfer starts from the
	 * loop, and so does every report. */
	if (curl_loop_add(d->cl, q->easy) < 0)
		abort();
	return q;
}

/* Starts GET path (with query) on the daemon, prefixed with the negotiated version when
 * versioned. */
static struct docker_req *req_start(struct docker_req *q, const char *path, bool versioned,
				    size_t max)
{
	if (versioned && !q->d->api)
		return req_fail_later(q, -ENOTCONN,
				      xasprintf("docker: GET %s before docker_ping", path));
	return req_start_http(q, "GET", versioned ? q->d->api_str : NULL, path, NULL, 0, max,
			      DOCKER_CALL_TIMEOUT_MS);
}

/* path + "?filters=" + the URL-encoded filters JSON + extra (e.g. "&status=true"). Caller frees. */
static char *filtered_path(const char *path, const char *filters, const char *extra)
{
	char *enc = curl_easy_escape(NULL, filters, 0);
	char *p;

	if (!enc)
		abort(); /* out of memory, like xmalloc */
	p = xasprintf("%s?filters=%s%s", path, enc, extra ? extra : "");
	curl_free(enc);
	return p;
}

/* <prefix><id, URL-escaped><suffix>. Caller frees. */
static char *object_path(const char *prefix, const char *id, const char *suffix)
{
	char *enc = curl_easy_escape(NULL, id, 0);
	char *p;

	if (!enc)
		abort();
	p = xasprintf("%s%s%s", prefix, enc, suffix);
	curl_free(enc);
	return p;
}

/* A finished transfer of q: the HTTP outcome, then the parse its kind calls for. */
static void scale_done(struct docker_req *q, int r, const char *err, long status);

static void req_done(struct docker_req *q, CURLcode c)
{
	struct docker *d = q->d;
	struct docker_result res = {.err = ""};
	_cleanup_free_ char *err = NULL;
	long status = 0;
	int r = 0;

	curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_loop_remove(d->cl, q->easy);
	curl_easy_cleanup(q->easy);
	q->easy = NULL;
	if (c != CURLE_OK) {
		const char *why = q->errbuf[0] ? q->errbuf : curl_easy_strerror(c);

		if (q->b.over)
			r = errmsg_set(&err, -EMSGSIZE, "docker: %s %s: reply over %zu bytes",
				       q->method, q->path, q->b.max);
		else if (c == CURLE_COULDNT_CONNECT || c == CURLE_COULDNT_RESOLVE_HOST)
			r = errmsg_set(&err, -ECONNREFUSED, "docker: cannot connect to %s: %s",
				       d->unix_path ? d->unix_path : d->base, why);
		else if (c == CURLE_OPERATION_TIMEDOUT)
			r = errmsg_set(&err, -ETIMEDOUT, "docker: %s %s: %s", q->method, q->path,
				       why);
		else
			r = errmsg_set(&err, -EIO, "docker: %s %s: %s", q->method, q->path, why);
	} else if (status < 200 || status > 299) {
		_cleanup_free_ char *m = error_message(q->b.b.s, q->b.b.len);

		r = errmsg_set(&err, status_errno(status), "docker: %s %s: HTTP %ld: %s", q->method,
			       q->path, status, m);
	}
	if (q->kind == REQ_SCALE_GET || q->kind == REQ_SCALE_POST) {
		scale_done(q, r, err, status);
		return;
	}
	if (r < 0) {
		report_error(q, r, err);
		return;
	}
	res.body = strbuf_str(&q->b.b);
	res.len = q->b.b.len;

	struct docker_service_list services = {0};
	struct docker_task_list tasks = {0};
	struct docker_service service = {0};
	struct strv networks = {0};
	int api, min;

	switch (q->kind) {
	case REQ_PING:
		if (!streq(res.body, "OK")) {
			r = errmsg_set(&err, -EBADMSG, "docker: /_ping answered '%.40s', not OK",
				       res.body);
			break;
		}
		/* Same call, second half: the daemon's version. */
		q->kind = REQ_VERSION;
		req_start(q, "/version", false, 1 << 20);
		return;
	case REQ_VERSION:
		r = docker_parse_version(res.body, res.len, &api, &min, &err);
		if (r >= 0) {
			d->daemon_api = api;
			d->api = docker_negotiate_version(api, min);
			snprintf(d->api_str, sizeof(d->api_str), "%d.%d", d->api / 100,
				 d->api % 100);
		}
		break;
	case REQ_SERVICES:
		r = docker_parse_services(res.body, res.len, &services, &err);
		res.services = &services;
		break;
	case REQ_TASKS:
		r = docker_parse_tasks(res.body, res.len, &tasks, &err);
		res.tasks = &tasks;
		break;
	case REQ_SERVICE:
		r = docker_parse_service(res.body, res.len, &service, &err);
		res.service = &service;
		break;
	case REQ_NETWORKS:
		r = docker_parse_container_networks(res.body, res.len, &networks, &err);
		res.networks = &networks;
		break;
	case REQ_RAW:
	case REQ_SCALE_GET:
	case REQ_SCALE_POST:
		break;
	}
	if (r < 0) {
		docker_service_list_done(&services);
		docker_task_list_done(&tasks);
		docker_service_done(&service);
		strv_done(&networks);
		report_error(q, r, err);
		return;
	}
	report(q, &res);
	docker_service_list_done(&services);
	docker_task_list_done(&tasks);
	docker_service_done(&service);
	strv_done(&networks);
}

struct docker_req *docker_ping(struct docker *d, docker_done_fn cb, void *userdata)
{
	return req_start(req_new(d, REQ_PING, cb, userdata), "/_ping", false, 1024);
}

struct docker_req *docker_list_services(struct docker *d, docker_done_fn cb, void *userdata)
{
	_cleanup_free_ char *path =
		filtered_path("/services", "{\"label\":[\"com.df.notify=true\"]}", "&status=true");

	return req_start(req_new(d, REQ_SERVICES, cb, userdata), path, true, DOCKER_REPLY_MAX);
}

struct docker_req *docker_list_tasks(struct docker *d, const char *service, docker_done_fn cb,
				     void *userdata)
{
	_cleanup_free_ char *path = NULL, *filters = NULL;
	cJSON *f = cJSON_CreateObject();

	if (!f)
		abort();
	/* cJSON escapes the name, so any service string makes a valid filter. */
	if (service)
		cJSON_AddItemToObject(f, "service", cJSON_CreateStringArray(&service, 1));
	cJSON_AddItemToObject(f, "desired-state",
			      cJSON_CreateStringArray((const char *[]){"running"}, 1));
	filters = cJSON_PrintUnformatted(f);
	cJSON_Delete(f);
	if (!filters)
		abort();
	path = filtered_path("/tasks", filters, NULL);
	return req_start(req_new(d, REQ_TASKS, cb, userdata), path, true, DOCKER_REPLY_MAX);
}

struct docker_req *docker_inspect_service(struct docker *d, const char *id, docker_done_fn cb,
					  void *userdata)
{
	struct docker_req *q = req_new(d, REQ_SERVICE, cb, userdata);
	_cleanup_free_ char *path = NULL;

	if (!str_set(id))
		return req_fail_later(q, -EINVAL, xstrdup("docker: inspect without a service"));
	path = object_path("/services/", id, "?insertDefaults=false");
	return req_start(q, path, true, DOCKER_REPLY_MAX);
}

struct docker_req *docker_container_networks(struct docker *d, const char *id, docker_done_fn cb,
					     void *userdata)
{
	struct docker_req *q = req_new(d, REQ_NETWORKS, cb, userdata);
	_cleanup_free_ char *path = NULL;

	if (!str_set(id))
		return req_fail_later(q, -EINVAL, xstrdup("docker: inspect without a container"));
	path = object_path("/containers/", id, "/json");
	return req_start(q, path, true, DOCKER_REPLY_MAX);
}

/* ---- scaling ------------------------------------------------------------------------------ */

static void scale_report(struct docker_req *q, int r, const char *err)
{
	struct docker_result res = {.r = r, .err = err ? err : "", .body = ""};

	if (r >= 0) {
		res.body = strbuf_str(&q->b.b);
		res.len = q->b.b.len;
	}
	res.scale = q->scale->read ? &q->scale->res : NULL;
	report(q, &res);
}

/* The next transfer of a scale, within what is left of its deadline. */
static void scale_start(struct docker_req *q, const char *method, const char *path,
			const char *body, size_t len)
{
	struct scale_op *op = q->scale;
	long long left_ms = (op->deadline - now_usec()) / 1000;
	char version[16];

	if (left_ms <= 0) {
		_cleanup_free_ char *err =
			xasprintf("docker: service '%s': not scaled within %ld ms", op->id,
				  DOCKER_SCALE_TIMEOUT_MS);

		scale_report(q, -ETIMEDOUT, err);
		return;
	}
	/* The daemon's own version: an older one would drop the newer fields of the spec on the
	 * update (§4.0), and reading at the same version sees all of them. */
	snprintf(version, sizeof(version), "%d.%d", q->d->daemon_api / 100, q->d->daemon_api % 100);
	req_start_http(q, method, version, path, body, len, DOCKER_REPLY_MAX,
		       left_ms < DOCKER_CALL_TIMEOUT_MS ? (long)left_ms : DOCKER_CALL_TIMEOUT_MS);
}

static void scale_get(struct docker_req *q)
{
	_cleanup_free_ char *path =
		object_path("/services/", q->scale->id, "?insertDefaults=false");

	q->kind = REQ_SCALE_GET;
	scale_start(q, "GET", path, NULL, 0);
}

static long clamp(long v, long lo, long hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* The service was read: at a limit, report; else send the update. */
static void scale_got(struct docker_req *q)
{
	struct scale_op *op = q->scale;
	_cleanup_free_ char *err = NULL, *path = NULL, *m = NULL, *query = NULL;
	long cur;
	uint64_t ver;
	size_t len = 0;
	int r;

	r = docker_spec_scale(q->b.b.s, q->b.b.len, 0, NULL, NULL, &cur, &ver, &err);
	if (r < 0) {
		m = xasprintf("docker: cannot scale '%s': %s", op->id, err);
		scale_report(q, r, m);
		return;
	}
	op->read = true;
	op->res.old_replicas = op->res.new_replicas = cur;
	op->res.version = ver;
	op->want = clamp(cur + op->delta, op->min, op->max);
	if (op->want == cur) {
		if (op->delta > 0)
			m = xasprintf(
				"docker: service '%s' is already at its maximum of %ld replicas",
				op->id, op->max);
		else if (op->delta < 0)
			m = xasprintf(
				"docker: service '%s' is already at its minimum of %ld replicas",
				op->id, op->min);
		else
			m = xasprintf(
				"docker: service '%s' already has %ld replicas, within %ld-%ld",
				op->id, cur, op->min, op->max);
		scale_report(q, -ERANGE, m);
		return;
	}
	free(op->spec);
	op->spec = NULL;
	r = docker_spec_scale(q->b.b.s, q->b.b.len, op->want, &op->spec, &len, NULL, NULL, &err);
	if (r < 0) { /* read once already: not expected */
		m = xasprintf("docker: cannot scale '%s': %s", op->id, err);
		scale_report(q, r, m);
		return;
	}
	query = xasprintf("/update?version=%" PRIu64, ver);
	path = object_path("/services/", op->id, query);
	op->res.attempts++;
	q->kind = REQ_SCALE_POST;
	scale_start(q, "POST", path, op->spec, len);
}

/* A transfer of a scale ended: r and err as req_done made them. */
static void scale_done(struct docker_req *q, int r, const char *err, long status)
{
	struct scale_op *op = q->scale;
	_cleanup_free_ char *m = NULL, *perr = NULL;

	if (r < 0 && q->kind == REQ_SCALE_POST && status == 500) {
		_cleanup_free_ char *why = error_message(q->b.b.s, q->b.b.len);

		/* swarmkit's ErrSequenceConflict, unwrapped, so a 500 (§4.3). */
		if (strstr(why, "update out of sequence")) {
			if (op->res.attempts >= DOCKER_SCALE_ATTEMPTS) {
				m = xasprintf("docker: service '%s' not scaled: update out of "
					      "sequence %d times in a row (another writer keeps "
					      "changing it)",
					      op->id, op->res.attempts);
				scale_report(q, -EBUSY, m);
				return;
			}
			log_debug("docker: service '%s': update out of sequence, reading it again "
				  "(%d of %d)",
				  op->id, op->res.attempts, DOCKER_SCALE_ATTEMPTS);
			scale_get(q);
			return;
		}
	}
	if (r < 0) {
		if (q->kind == REQ_SCALE_POST && (r == -ETIMEDOUT || r == -EIO))
			m = xasprintf("%s (the update may or may not have been applied)", err);
		scale_report(q, r, m ? m : err);
		return;
	}
	if (q->kind == REQ_SCALE_GET) {
		scale_got(q);
		return;
	}
	if (docker_parse_update_reply(q->b.b.s, q->b.b.len, &op->res.warnings, &perr) < 0)
		op->res.warnings = xasprintf("the reply to the update did not parse: %s", perr);
	op->res.new_replicas = op->want;
	scale_report(q, 0, NULL);
}

struct docker_req *docker_scale_service(struct docker *d, const char *id, long delta, long min,
					long max, docker_done_fn cb, void *userdata)
{
	struct docker_req *q = req_new(d, REQ_SCALE_GET, cb, userdata);

	q->scale = xcalloc(1, sizeof(*q->scale));
	q->scale->id = xstrdup(id ? id : "");
	q->scale->delta = delta;
	q->scale->min = min;
	q->scale->max = max;
	q->scale->deadline = now_usec() + DOCKER_SCALE_TIMEOUT_MS * 1000;
	if (!str_set(id))
		return req_fail_later(q, -EINVAL, xstrdup("docker: scale without a service"));
	if (min < 0 || max > DOCKER_REPLICAS_MAX || min > max)
		return req_fail_later(
			q, -EINVAL,
			xasprintf("docker: scale '%s': bounds [%ld, %ld] are not within "
				  "0 <= min <= max <= %ld",
				  id, min, max, DOCKER_REPLICAS_MAX));
	if (delta < -DOCKER_REPLICAS_MAX || delta > DOCKER_REPLICAS_MAX)
		return req_fail_later(q, -EINVAL,
				      xasprintf("docker: scale '%s' by %ld: too far", id, delta));
	if (!d->daemon_api)
		return req_fail_later(q, -ENOTCONN,
				      xasprintf("docker: scale '%s' before docker_ping", id));
	scale_get(q);
	return q;
}

/* ---- events follower --------------------------------------------------------------------- */

#define EVENTS_BACKOFF_MIN_MS 250u
#define EVENTS_BACKOFF_MAX_MS 8000u

struct docker_events {
	enum xfer_kind xfer; /* first: CURLOPT_PRIVATE */
	struct docker *d;    /* borrowed */
	char *filters;	     /* URL-encoded filters JSON */
	docker_event_fn cb;
	void *userdata;
	CURL *easy; /* the stream, NULL between connections */
	struct loop_timer *backoff;
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
	struct docker_events *next; /* the client's followers */
};

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
	setup_handle(e->d, e->easy, url, e);
	curl_easy_setopt(e->easy, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(e->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e->easy, CURLOPT_WRITEFUNCTION, events_write);
	curl_easy_setopt(e->easy, CURLOPT_WRITEDATA, e);
	e->status = 0;
	e->skipping = false;
	strbuf_reset(&e->line);
	strbuf_reset(&e->errbody);
	if (curl_loop_add(e->d->cl, e->easy) < 0) {
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
	curl_loop_remove(e->d->cl, e->easy);
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
	loop_timer_after(e->backoff, e->backoff_ms);
	e->backoff_ms = e->backoff_ms * 2 > EVENTS_BACKOFF_MAX_MS ? EVENTS_BACKOFF_MAX_MS
								  : e->backoff_ms * 2;
}

static void on_backoff(void *userdata)
{
	struct docker_events *e = userdata;

	if (!e->easy && events_start(e) < 0)
		loop_timer_after(e->backoff, e->backoff_ms);
}

/* Delivered outside curl's callbacks, so the callback may start or cancel calls. */
static void events_deliver(struct docker_events *e)
{
	for (size_t i = 0; i < e->n_pending; i++) {
		e->stats.events++;
		e->cb(e->userdata, &e->pending[i]);
		docker_event_done(&e->pending[i]);
	}
	e->n_pending = 0;
}

int docker_events_new(struct docker *d, const char *const *types, int64_t since, docker_event_fn cb,
		      void *userdata, struct docker_events **ret, char **reterr)
{
	static const char *const default_types[] = {"service", "node", "container", NULL};
	/* Containers start and die as tasks do; exec_* (health checks) and the rest are noise. */
	static const char *const default_actions[] = {"create", "update", "remove", "start", "die"};
	_cleanup_free_ char *filters = NULL;
	cJSON *f, *arr;
	struct docker_events *e;
	size_t n = 0;

	if (!d || !cb || !ret)
		return -EINVAL;
	if (!d->api)
		return errmsg_set(reterr, -ENOTCONN, "docker events: docker_ping first");
	e = xcalloc(1, sizeof(*e));
	e->xfer = XFER_EVENTS;
	e->d = d;
	e->cb = cb;
	e->userdata = userdata;
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
	e->filters = curl_easy_escape(NULL, filters, 0);
	if (!e->filters)
		abort();
	e->backoff = loop_timer_new(d->loop, on_backoff, e);
	e->next = d->followers;
	d->followers = e;
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
	for (struct docker_events **p = &e->d->followers; *p; p = &(*p)->next)
		if (*p == e) {
			*p = e->next;
			break;
		}
	events_stop(e);
	loop_timer_free(e->backoff);
	for (size_t i = 0; i < e->n_pending; i++)
		docker_event_done(&e->pending[i]);
	free(e->pending);
	curl_free(e->filters);
	strbuf_done(&e->line);
	strbuf_done(&e->errbody);
	free(e);
}

void docker_events_get_stats(const struct docker_events *e, struct docker_events_stats *ret)
{
	*ret = e ? e->stats : (struct docker_events_stats){0};
}

/* ---- curl_loop's reports ------------------------------------------------------------------ */

/* A finished transfer: a call's, or the end of an events stream. */
static void on_done(void *userdata, CURL *easy, void *priv, CURLcode result)
{
	enum xfer_kind *owner = priv;

	if (!owner)
		return;
	if (*owner == XFER_REQ)
		req_done((struct docker_req *)owner, result);
	else
		events_ended((struct docker_events *)owner, result);
}

/* After curl did some work and its finished transfers were reported: deliver parsed events. */
static void on_after(void *userdata)
{
	struct docker *d = userdata;

	for (struct docker_events *e = d->followers, *next; e; e = next) {
		next = e->next;
		events_deliver(e);
	}
}

void docker_free(struct docker *d)
{
	if (!d)
		return;
	while (d->followers)
		docker_events_free(d->followers);
	while (d->reqs)
		req_free(d->reqs);
	curl_loop_free(d->cl);
	free(d->base);
	free(d->unix_path);
	free(d);
}
