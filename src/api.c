// SPDX-License-Identifier: MIT
/*
 * api: the HTTP endpoints and their JSON shapes (reference docker-flow-proxy.md §2). Every answer
 * of the DFP endpoints has DFP's Response shape: Status, Message, ServiceName, then the fields of
 * the service (service_to_json).
 *
 * Where flowproxy differs from DFP, on purpose: a reconfigure whose configuration HAProxy rejects
 * answers 400 (the request is at fault) and changes nothing, where DFP answered 500 after removing
 * the service; JSON answers always carry Content-Type application/json; a trailing slash is
 * accepted as the same route instead of a 301.
 */
#include "flowproxy/api.h"
#include "flowproxy/haproxy.h"
#include "flowproxy/labels.h"
#include "flowproxy/log.h"
#include "flowproxy/loop.h"
#include "flowproxy/metrics.h"
#include "flowproxy/provider.h"
#include "flowproxy/query.h"
#include "flowproxy/telemetry.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <strings.h>

#define API_BODY_MAX (64 * 1024)

struct api {
	struct daemon *d;
	struct provider *provider; /* NULL without swarm mode */
	struct MHD_Daemon *mhd;
	struct loop_io *io;
	struct loop_timer *timer; /* MHD's own timeouts, and runs after a resume */
};

static void api_run(struct api *a);

enum req_state { REQ_NEW = 0, REQ_PENDING, REQ_DONE };

struct req {
	struct api *api;
	struct MHD_Connection *conn;
	char *query;	      /* the raw query string, as the client sent it */
	struct params params; /* its pairs (query.h), parsed when the request is routed */
	bool headers_seen;    /* MHD's first call for the request is over */
	enum req_state state;
	size_t body_len;
	bool too_big;
	/* Result of a suspended operation. */
	int status;
	char *body;
	const char *ctype;
};

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *ctype,
			       char *body)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* DFP's Response: {"Status","Message","ServiceName", <service fields>}. svc may be NULL. */
static char *dfp_response(const char *status, const char *message, const char *name,
			  const struct service *svc)
{
	static const struct service empty;
	cJSON *o = cJSON_CreateObject();
	cJSON *s = service_to_json(svc ? svc : &empty);

	cJSON_AddStringToObject(o, "Status", status);
	cJSON_AddStringToObject(o, "Message", message ? message : "");
	cJSON_AddStringToObject(o, "ServiceName", name ? name : "");
	/* The embedded service's fields follow; its own ServiceName is shadowed, as in Go. */
	while (s && s->child) {
		cJSON *item = cJSON_DetachItemViaPointer(s, s->child);
		if (item->string && streq(item->string, "ServiceName"))
			cJSON_Delete(item);
		else
			cJSON_AddItemToObject(o, item->string, item);
	}
	cJSON_Delete(s);
	char *out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return out;
}

static enum MHD_Result respond_dfp(struct MHD_Connection *c, unsigned status, const char *st,
				   const char *message, const char *name, const struct service *svc)
{
	return respond(c, status, "application/json", dfp_response(st, message, name, svc));
}

/* Called from the daemon's loop when the operation of a suspended request is done. */
static void op_done(void *userdata, int status, const char *message, bool found)
{
	struct req *q = userdata;

	q->status = status;
	q->state = REQ_DONE;
	/* MHD answers a resumed connection in its next run: make that run happen now. */
	loop_timer_after(q->api->timer, 0);
	if (!q->body)
		q->body = xstrdup(message);
	else if (status != 200) {
		/* The body prepared for success is replaced by the error. */
		free(q->body);
		q->body = dfp_response("NOK", message, "", NULL);
	}
	MHD_resume_connection(q->conn);
}

static enum MHD_Result handle_reconfigure(struct api *a, struct req *q, struct MHD_Connection *c)
{
	struct service *svc = NULL;
	_cleanup_free_ char *err = NULL;
	int status = 400;

	/* A removal (replicas=0) or a put; the answer waits until HAProxy serves it. */
	int r = daemon_submit_params(a->d, &q->params, "reconfigure", NULL, 0, op_done, q, &svc,
				     &status, &err);
	if (r < 0) {
		const char *name = params_get(&q->params, "serviceName");
		log_warn("reconfigure of service '%s' refused: %s", name ? name : "", err);
		return respond_dfp(c, (unsigned)status, "NOK", err, name, NULL);
	}
	q->body = dfp_response("OK", "", svc->name, svc);
	q->ctype = "application/json";
	q->state = REQ_PENDING;
	MHD_suspend_connection(c);
	service_free(svc);
	return MHD_YES;
}

static enum MHD_Result handle_remove(struct api *a, struct req *q, struct MHD_Connection *c)
{
	const char *name = params_get(&q->params, "serviceName");

	if (!str_set(name))
		return respond_dfp(c, 400, "NOK", "The serviceName query is mandatory", "", NULL);
	q->body = dfp_response("OK", "", name, NULL);
	q->ctype = "application/json";
	q->state = REQ_PENDING;
	MHD_suspend_connection(c);
	daemon_submit(a->d, DAEMON_OP_REMOVE, NULL, NULL, 0, name, op_done, q);
	return MHD_YES;
}

static enum MHD_Result handle_reload(struct api *a, struct req *q, struct MHD_Connection *c)
{
	q->body = dfp_response("OK", "", "", NULL);
	q->ctype = "application/json";
	q->state = REQ_PENDING;
	MHD_suspend_connection(c);
	daemon_submit(a->d, DAEMON_OP_RELOAD, NULL, NULL, 0, "", op_done, q);
	return MHD_YES;
}

static enum MHD_Result handle_config(struct api *a, struct req *q, struct MHD_Connection *c)
{
	const char *type = params_get(&q->params, "type");

	if (type && strcasecmp(type, "json") == 0) {
		const struct registry *reg = daemon_registry(a->d);
		cJSON *o = cJSON_CreateObject();
		for (size_t i = 0; i < registry_count(reg); i++) {
			const struct service *s = registry_at(reg, i);
			/* DFP's map values are the whole Service, ServiceName included. */
			cJSON_AddItemToObject(o, s->name, service_to_json_named(s));
		}
		char *out = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		return respond(c, 200, "application/json", out);
	}
	return respond(c, 200, "text/html", xstrdup(daemon_current_cfg(a->d)));
}

static void telemetry_json(cJSON *o, const struct telemetry *t)
{
	struct telemetry_stats ts = {0};
	cJSON *j = cJSON_AddObjectToObject(o, "telemetry");

	telemetry_get_stats(t, &ts);
	cJSON_AddBoolToObject(j, "connected", ts.connected);
	cJSON_AddNumberToObject(j, "lines", (double)ts.lines);
	cJSON_AddNumberToObject(j, "bad_lines", (double)ts.bad_lines);
	cJSON_AddNumberToObject(j, "dropped", (double)ts.dropped);
	cJSON_AddNumberToObject(j, "connects", (double)ts.connects);
	cJSON_AddNumberToObject(j, "disconnects", (double)ts.disconnects);
	cJSON_AddNumberToObject(j, "reloads", (double)ts.reloads);
}

/* GET /v1/flowproxy/stats[?window=<seconds>]: the per-service table of docs/telemetry.md. */
static enum MHD_Result handle_stats(struct api *a, struct req *q, struct MHD_Connection *c)
{
	struct metrics *m = daemon_metrics(a->d);
	const char *w = params_get(&q->params, "window");
	long window = 0;

	if (!m)
		return respond(c, 404, "application/json",
			       xstrdup("{\"Status\":\"NOK\",\"Message\":\"telemetry is off "
				       "(TELEMETRY=false)\"}"));
	if (w && parse_long(w, 1, 86400, &window) < 0)
		return respond(c, 400, "application/json",
			       xstrdup("{\"Status\":\"NOK\",\"Message\":\"window must be a "
				       "number of seconds (1-86400)\"}"));
	cJSON *o = metrics_json(m, daemon_now_ms(), (uint32_t)(window * 1000));
	telemetry_json(o, daemon_telemetry(a->d));
	char *out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return respond(c, 200, "application/json", out);
}

/* GET /v1/flowproxy/status: services, HAProxy's processes, rejected services, the swarm. */
static enum MHD_Result handle_status(struct api *a, struct MHD_Connection *c)
{
	const struct haproxy *h = daemon_haproxy(a->d);
	const struct params *rej = daemon_rejected(a->d);
	cJSON *o = cJSON_CreateObject();
	cJSON *hp = cJSON_AddObjectToObject(o, "haproxy");
	cJSON *arr = cJSON_AddArrayToObject(o, "rejected");

	cJSON_AddNumberToObject(o, "services", (double)registry_count(daemon_registry(a->d)));
	cJSON_AddNumberToObject(hp, "masterPid", h ? (double)haproxy_master_pid(h) : 0);
	cJSON_AddNumberToObject(hp, "workerPid", h ? (double)haproxy_worker_pid(h) : 0);
	cJSON_AddNumberToObject(hp, "reloads", h ? (double)haproxy_reload_count(h) : 0);
	cJSON_AddNumberToObject(hp, "reloadFailures", h ? (double)haproxy_reload_failures(h) : 0);
	for (size_t i = 0; i < rej->n; i++) {
		cJSON *r = cJSON_CreateObject();
		cJSON_AddStringToObject(r, "serviceName", rej->v[i].key);
		cJSON_AddStringToObject(r, "message", rej->v[i].value);
		cJSON_AddItemToArray(arr, r);
	}
	if (a->provider)
		provider_status_json(a->provider, o);
	char *out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return respond(c, 200, "application/json", out);
}

/* GET /metrics: Prometheus text exposition. */
static enum MHD_Result handle_metrics(struct api *a, struct MHD_Connection *c)
{
	struct metrics *m = daemon_metrics(a->d);
	struct strbuf b;

	strbuf_init(&b);
	if (m) {
		struct telemetry_stats ts = {0};
		metrics_prometheus(m, daemon_now_ms(), &b);
		telemetry_get_stats(daemon_telemetry(a->d), &ts);
		strbuf_printf(
			&b,
			"# HELP flowproxy_telemetry_lines_total Request lines read from HAProxy.\n"
			"# TYPE flowproxy_telemetry_lines_total counter\n"
			"flowproxy_telemetry_lines_total %llu\n"
			"# HELP flowproxy_telemetry_bad_lines_total Lines that did not parse.\n"
			"# TYPE flowproxy_telemetry_bad_lines_total counter\n"
			"flowproxy_telemetry_bad_lines_total %llu\n"
			"# HELP flowproxy_telemetry_dropped_total Lines HAProxy's ring lost.\n"
			"# TYPE flowproxy_telemetry_dropped_total counter\n"
			"flowproxy_telemetry_dropped_total %llu\n",
			(unsigned long long)ts.lines, (unsigned long long)ts.bad_lines,
			(unsigned long long)ts.dropped);
	}
	strbuf_printf(&b,
		      "# HELP flowproxy_services Services routed.\n"
		      "# TYPE flowproxy_services gauge\n"
		      "flowproxy_services %zu\n",
		      registry_count(daemon_registry(a->d)));
	return respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", strbuf_steal(&b));
}

static enum MHD_Result route(struct api *a, struct req *q, struct MHD_Connection *c,
			     const char *url)
{
	char path[256];
	size_t n = strlen(url);

	if (n >= sizeof(path))
		return respond(c, 404, "text/plain; charset=utf-8",
			       xstrdup("404 page not found\n"));
	memcpy(path, url, n + 1);
	while (n > 1 && path[n - 1] == '/')
		path[--n] = '\0';

	if (streq(path, "/v1/docker-flow-proxy/reconfigure"))
		return handle_reconfigure(a, q, c);
	if (streq(path, "/v1/docker-flow-proxy/remove"))
		return handle_remove(a, q, c);
	if (streq(path, "/v1/docker-flow-proxy/reload"))
		return handle_reload(a, q, c);
	if (streq(path, "/v1/docker-flow-proxy/config"))
		return handle_config(a, q, c);
	if (streq(path, "/v1/docker-flow-proxy/ping"))
		return respond_dfp(c, 200, "OK", "", "", NULL);
	if (streq(path, "/v1/docker-flow-proxy/successfulinitreload"))
		return respond(c, daemon_initialized(a->d) ? 200 : 500, "text/plain", xstrdup(""));
	if (str_startswith(path, "/v1/docker-flow-swarm-listener/") && a->provider) {
		const char *what = path + strlen("/v1/docker-flow-swarm-listener/");
		if (streq(what, "get-services"))
			return respond(c, 200, "application/json",
				       provider_services_json(a->provider));
		if (streq(what, "notify-services")) {
			provider_notify_all(a->provider);
			return respond(c, 200, "application/json", xstrdup("{\"Status\":\"OK\"}"));
		}
		if (streq(what, "ping"))
			return respond(c, 200, "application/json", xstrdup("{\"Status\":\"OK\"}"));
	}
	if (streq(path, "/v1/flowproxy/status"))
		return handle_status(a, c);
	if (streq(path, "/v1/flowproxy/stats"))
		return handle_stats(a, q, c);
	if (streq(path, "/metrics"))
		return handle_metrics(a, c);
	if (streq(path, "/v1/test"))
		return respond_dfp(c, 200, "OK", "Test v1", "", NULL);
	if (streq(path, "/v2/test"))
		return respond_dfp(c, 200, "OK", "Test v2", "", NULL);
	return respond(c, 404, "text/plain; charset=utf-8", xstrdup("404 page not found\n"));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct api *a = cls;
	struct req *q = *con_cls;

	/* The first call has the headers only: wait for the body (on_uri made q). */
	if (!q->headers_seen) {
		q->headers_seen = true;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		/* Bodies are not used by these endpoints; cap and discard them. */
		q->body_len += *upload_data_size;
		q->too_big |= q->body_len > API_BODY_MAX;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (q->state == REQ_DONE) {
		char *body = TAKE_PTR(q->body);
		return respond(c, (unsigned)q->status, q->ctype ? q->ctype : "application/json",
			       body ? body : xstrdup(""));
	}
	if (q->state == REQ_PENDING)
		return MHD_YES;
	if (q->too_big)
		return respond_dfp(c, 413, "NOK", "request body too large", "", NULL);
	_cleanup_free_ char *err = NULL;
	if (query_parse(q->query, strlen(q->query), &q->params, &err) < 0) {
		log_warn("API: %s %s refused: %s", method, url, err);
		return respond_dfp(c, 400, "NOK", err, "", NULL);
	}
	return route(a, q, c, url);
}

/*
 * Called by MHD with the request line's URI as the client sent it, before it decodes anything:
 * the request's state starts here, with the raw query, which query.h parses (MHD's own decoding
 * drops what it cannot read without a word).
 */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct req *q = xcalloc(1, sizeof(*q));
	const char *qm = uri ? strchr(uri, '?') : NULL;

	q->api = cls;
	q->conn = c;
	params_init(&q->params);
	q->query = xstrndup(qm ? qm + 1 : "", QUERY_LEN_MAX + 1);
	return q;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct req *q = *con_cls;

	if (!q)
		return;
	free(q->body);
	free(q->query);
	params_done(&q->params);
	free(q);
	*con_cls = NULL;
}

/* MHD's own messages; fmt is MHD's, a printf format by its contract. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap) PRINTF_LIKE(2, 0);
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_debug("http: %s", line);
}

static void api_run(struct api *a)
{
	MHD_UNSIGNED_LONG_LONG t;

	MHD_run(a->mhd);
	/* MHD's timeouts (idle connections) are served by a loop timer. */
	if (MHD_get_timeout(a->mhd, &t) == MHD_YES)
		loop_timer_after(a->timer, t > 60000 ? 60000 : (long long)t);
	else
		loop_timer_stop(a->timer);
}

static void on_mhd_fd(void *userdata, uint32_t events)
{
	api_run(userdata);
}

static void on_mhd_timer(void *userdata)
{
	api_run(userdata);
}

int api_new(struct loop *loop, struct daemon *d, struct provider *p, struct api **ret,
	    char **reterr)
{
	const struct config *cfg = daemon_config(d);
	struct api *a = xcalloc(1, sizeof(*a));
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port)};
	const union MHD_DaemonInfo *info;

	if (inet_pton(AF_INET, cfg->ip, &sin.sin_addr) != 1) {
		free(a);
		return errmsg_set(reterr, -EINVAL, "API address '%s' is not an IPv4 address",
				  cfg->ip);
	}
	a->d = d;
	a->provider = p;
	a->mhd = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, (uint16_t)cfg->port,
		NULL, NULL, on_request, a, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, a, MHD_OPTION_URI_LOG_CALLBACK, on_uri,
		a, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, a, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)(128 * 1024), MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_END);
	if (!a->mhd) {
		free(a);
		return errmsg_set(reterr, -EADDRINUSE, "cannot listen on %s:%ld", cfg->ip,
				  cfg->port);
	}
	/* MHD in epoll mode: its one epoll fd becomes readable when anything is to be done. */
	info = MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	a->timer = loop_timer_new(loop, on_mhd_timer, a);
	a->io = info ? loop_io_add(loop, info->epoll_fd, EPOLLIN, on_mhd_fd, a) : NULL;
	if (!a->io) {
		api_free(a);
		return errmsg_set(reterr, -EIO, "cannot watch the API's sockets");
	}
	*ret = a;
	return 0;
}

void api_free(struct api *a)
{
	if (!a)
		return;
	loop_io_free(a->io);
	loop_timer_free(a->timer);
	if (a->mhd)
		MHD_stop_daemon(a->mhd);
	free(a);
}
