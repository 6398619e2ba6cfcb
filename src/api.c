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
 *
 * A slow or idle client costs only its own connections (docs/api.md "Limits"): a client address
 * holds at most API_CONN_PER_CLIENT connections, all clients API_CONN_MAX, and a request must be
 * complete, headers and body, API_REQUEST_TIMEOUT seconds after its connection was accepted (or
 * after the previous request on it was answered). MHD's own timeout only measures inactivity, so
 * a client that sends a byte now and then would keep its connection for ever: the deadline is
 * ours, kept per connection (MHD's socket context) and enforced by a sweep once a second.
 */
#include "flowproxy/api.h"
#include "flowproxy/alertmanager.h"
#include "flowproxy/autoscaler.h"
#include "flowproxy/certload.h"
#include "flowproxy/certs.h"
#include "flowproxy/cli.h"
#include "flowproxy/distribute.h"
#include "flowproxy/haproxy.h"
#include "flowproxy/labels.h"
#include "flowproxy/listener.h"
#include "flowproxy/log.h"
#include "flowproxy/loop.h"
#include "flowproxy/lookup.h"
#include "flowproxy/metrics.h"
#include "flowproxy/provider.h"
#include "flowproxy/query.h"
#include "flowproxy/telemetry.h"
#include "flowproxy/webhook.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>

#define API_BODY_MAX (64 * 1024)
/*
 * MHD's memory pool per connection: the request line, headers and MHD's buffers (answers are
 * ours). The longest reconfigure query DFP users send is a few KB; at API_CONN_MAX connections
 * this bounds what a flood can make MHD reserve (pools are mapped lazily, touched as used).
 */
#define API_CONN_MEMORY (32 * 1024)
/* File descriptors kept for everything but API connections: HAProxy's pipes, pidfd and CLI
 * sockets, the telemetry and stats sockets, Docker, notifications, files being written. */
#define API_FD_RESERVE	256
#define API_CONN_MIN	16
#define API_SWEEP_MS	1000
#define API_IDLE_EXTRA	2    /* seconds MHD's inactivity timeout adds to the request deadline */
#define API_CLIENT_HASH 1024 /* buckets, a power of 2 */
/* A client's streak (of refused or cut connections) ends after this long without another: one
 * warning when it starts, one line when it ends, whatever it holds in between. Longer than any
 * request timeout's cycle, so a client that reconnects after each cut stays in one streak. */
#define API_STREAK_QUIET (60LL * 1000000)

/* Refused or cut connections of one client (or of all, for the overall limit), logged once. */
struct api_streak {
	unsigned long n;       /* in this streak; 0: none running */
	long long first, last; /* usec */
};

/*
 * One client address. It exists while it has connections or a streak runs, so the table holds
 * at most API_CONN_MAX entries with connections, plus the addresses that had one refused or cut
 * in the last minute. The API listens on IPv4 only (api_new), so the address is an IPv4 one.
 */
struct api_client {
	struct api_client *next; /* hash chain */
	uint32_t addr;		 /* network order */
	unsigned conns;
	struct api_streak refused, cut;
};

/* One accepted connection: MHD's socket context, from its STARTED to its CLOSED notification. */
struct api_conn {
	struct api_conn *prev, *next;
	struct api_client *client; /* NULL if the peer is not IPv4 (not expected) */
	int fd;
	/* usec by which the request being received must be complete; 0 once it is (it is being
	 * answered, or suspended until HAProxy serves it: flowproxy's time, not the client's). */
	long long deadline;
	bool cut;	     /* shut down by the sweep; MHD closes it in its next run */
	struct req *waiting; /* its request, while suspended until the daemon is done with it */
};

struct api {
	struct loop *loop;
	struct daemon *d;
	struct provider *provider; /* NULL without swarm mode */
	struct MHD_Daemon *mhd;
	struct loop_io *io;
	struct loop_timer *timer; /* MHD's own timeouts, and runs after a resume */
	struct loop_timer *sweep; /* deadlines and streaks, once a second while there are any */
	unsigned per_client;	  /* 0: no per-client limit */
	unsigned conn_max;
	long long request_usec;
	struct api_conn *conns;
	unsigned n_conns;
	struct api_client *clients[API_CLIENT_HASH];
	unsigned n_clients;
	struct api_streak full; /* the overall limit reached */
	bool rerun;		/* a connection closed during MHD_run: run MHD again */
	unsigned long refused, cut;
	const char *token;	  /* API_TOKEN (the config's, borrowed), NULL when none */
	struct api_streak unauth; /* requests refused for want of the token */
	unsigned long unauthorized;
	struct autoscaler *autoscaler; /* api_attach; NULL: the autoscale endpoints answer 404 */
	struct webhook *webhook;       /* api_attach; its counters go to /metrics */
	struct distribute *dist;       /* distribute=true; NULL when libcurl cannot be loaded */
	struct lookup *lk;	       /* SKIP_ADDRESS_VALIDATION=false's lookups */
	char *stats_socket;	       /* HAProxy's worker stats socket, for the CSV of /metrics */
	bool solo_logged;	       /* said once that tasks.<SERVICE_NAME> does not resolve */
	struct listener *listener;     /* api_attach_listener; NULL without LISTENER_ADDRESS */
};

static void api_run(struct api *a);

enum req_state { REQ_NEW = 0, REQ_PENDING, REQ_DONE };

/* What a request sent to every replica (distribute=true) is, for its answer. */
enum req_fanout { FANOUT_RECONFIGURE = 0, FANOUT_REMOVE, FANOUT_METRICS, FANOUT_CERT };

struct req {
	struct api *api;
	struct MHD_Connection *conn;
	char *query;	       /* the raw query string, as the client sent it */
	struct params params;  /* its pairs (query.h), parsed when the request is routed */
	bool headers_seen;     /* MHD's first call for the request is over */
	struct api_conn *sock; /* its connection's context; NULL if MHD had none */
	enum req_state state;
	size_t body_len;
	bool too_big;
	bool post;	    /* the method is POST */
	bool put;	    /* the method is PUT */
	bool keep_body;	    /* the route reads the body (in) */
	struct strbuf in;   /* the body, when kept */
	struct am_call *am; /* the Alertmanager receiver's actions in flight */
	/* SKIP_ADDRESS_VALIDATION=false: the names to check (borrowed from params), the next one,
	 * and the lookup in flight. */
	const char *addr_names[SERVICE_DEST_MAX + 1];
	size_t n_addr_names, addr_next;
	struct lookup_call *addr_call;
	/* Result of a suspended operation. */
	int status;
	char *body;
	const char *ctype;
	char method[16];	      /* as the client sent it, for distribute=true */
	const char *path;	      /* the route's path (api_routes), set by route */
	struct service *svc;	      /* the parsed service a reconfigure's answer echoes */
	bool always_ok;		      /* remove: 200 whatever happened, as DFP */
	enum req_fanout fanout;	      /* while dist runs */
	struct distribute_call *dist; /* distribute=true in flight */
	struct cli_call *cli;	      /* show stat in flight (/v1/docker-flow-proxy/metrics) */
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

/* DFP's Response as an object (caller deletes). svc may be NULL. */
static cJSON *dfp_response_json(const char *status, const char *message, const char *name,
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
	return o;
}

static char *json_print(cJSON *o)
{
	char *out = cJSON_PrintUnformatted(o);

	cJSON_Delete(o);
	return out;
}

/* DFP's Response: {"Status","Message","ServiceName", <service fields>}. svc may be NULL. */
static char *dfp_response(const char *status, const char *message, const char *name,
			  const struct service *svc)
{
	return json_print(dfp_response_json(status, message, name, svc));
}

static enum MHD_Result respond_dfp(struct MHD_Connection *c, unsigned status, const char *st,
				   const char *message, const char *name, const struct service *svc)
{
	return respond(c, status, "application/json", dfp_response(st, message, name, svc));
}

/*
 * The answer to a refused reconfigure: NOK with the message, and the service as far as it was
 * read, as DFP echoes the parsed service.
 */
static char *refused_response(struct api *a, const struct req *q, const char *err)
{
	struct labels_ctx ctx;
	struct service *echo;
	char *out;

	daemon_labels_ctx(a->d, &ctx);
	echo = labels_echo(&q->params, &ctx);
	out = dfp_response("NOK", err, params_get(&q->params, "serviceName"), echo);
	service_free(echo);
	return out;
}

/* Called from the daemon's loop when the operation of a suspended request is done. */
static void op_done(void *userdata, int status, const char *message, bool found)
{
	struct req *q = userdata;

	if (q->always_ok && status != 200) {
		/* DFP answers a remove with 200 whatever came of it; the message says it. */
		const char *name = params_get(&q->params, "serviceName");
		log_warn("remove of service '%s': %s", name ? name : "", message);
		free(q->body);
		q->body = dfp_response("OK", message, name, NULL);
		status = 200;
	}
	q->status = status;
	q->state = REQ_DONE;
	/* MHD answers a resumed connection in its next run: make that run happen now. */
	loop_timer_after(q->api->timer, 0);
	if (!q->body)
		q->body = xstrdup(message);
	else if (status != 200) {
		/* The body prepared for success is replaced by the error, which still names the
		 * service and echoes it, as DFP's answer does. */
		free(q->body);
		q->body = dfp_response("NOK", message, q->svc ? q->svc->name : "", q->svc);
	}
	if (q->sock)
		q->sock->waiting = NULL;
	MHD_resume_connection(q->conn);
}

/* The answer of a suspended request is ready (body taken over): resume it. */
static void req_finish(struct req *q, int status, char *body)
{
	q->status = status;
	q->state = REQ_DONE;
	free(q->body);
	q->body = body;
	q->ctype = "application/json";
	loop_timer_after(q->api->timer, 0);
	if (q->sock)
		q->sock->waiting = NULL;
	MHD_resume_connection(q->conn);
}

/* req_finish with a plain-text body (metrics CSV), as DFP's sniffed type. */
static void req_finish_text(struct req *q, int status, char *body)
{
	req_finish(q, status, body);
	q->ctype = "text/plain; charset=utf-8";
}

/* Parks the request until op_done; api_free resumes it if it is still parked then. */
static void suspend(struct req *q, struct MHD_Connection *c)
{
	q->state = REQ_PENDING;
	if (q->sock)
		q->sock->waiting = q;
	MHD_suspend_connection(c);
}

/*
 * Applies a reconfigure here: 0 once it is queued (op_done answers), or -EINVAL with the
 * refusal's status and message (logged) when the parameters are refused.
 */
static int submit_reconfigure(struct api *a, struct req *q, int *ret_status, char **reterr)
{
	struct service *svc = NULL;

	/* A removal (replicas=0) or a put; the answer waits until HAProxy serves it. */
	int r = daemon_submit_params(a->d, &q->params, "reconfigure", NULL, 0, op_done, q, &svc,
				     ret_status, reterr);
	if (r < 0) {
		const char *name = params_get(&q->params, "serviceName");
		log_warn("reconfigure of service '%s' refused: %s", name ? name : "", *reterr);
		return r;
	}
	service_free(q->svc);
	q->svc = svc;
	free(q->body);
	q->body = dfp_response("OK", "", svc->name, svc);
	q->ctype = "application/json";
	return 0;
}

/*
 * SKIP_ADDRESS_VALIDATION=false (§3): the hosts the servers will point at must resolve: every
 * outboundHostname given, else serviceName. A removal (replicas=0) checks nothing.
 */
static size_t address_names(const struct params *p, const char **ret, size_t max)
{
	size_t n = 0;
	const char *rep = params_get(p, "replicas");

	if (rep && streq(rep, "0"))
		return 0;
	for (size_t i = 0; i < p->n && n < max; i++) {
		const char *k = p->v[i].key;
		if ((streq(k, "outboundHostname") || str_startswith(k, "outboundHostname.")) &&
		    str_set(p->v[i].value))
			ret[n++] = p->v[i].value;
	}
	if (n == 0 && str_set(params_get(p, "serviceName")))
		ret[n++] = params_get(p, "serviceName");
	return n;
}

static void check_next_address(struct req *q);

static void on_address(void *userdata, int r, const char *const *addrs, size_t n, const char *why)
{
	struct req *q = userdata;
	const char *svc = params_get(&q->params, "serviceName");
	const char *name = q->addr_names[q->addr_next];

	q->addr_call = NULL;
	if (r < 0) {
		_cleanup_free_ char *msg =
			r == -ENXIO
				? xasprintf("Could not resolve the address '%s' of service '%s' "
					    "(SKIP_ADDRESS_VALIDATION=false): %s",
					    name, svc ? svc : "", why)
				: xasprintf("Could not check the addresses of service '%s': %s",
					    svc ? svc : "", why);
		log_warn("reconfigure of service '%s' refused: %s", svc ? svc : "", msg);
		req_finish(q, 500, dfp_response("NOK", msg, svc ? svc : "", NULL));
		return;
	}
	q->addr_next++;
	check_next_address(q);
}

/* Looks the next name up, or submits once every name resolved (the request stays suspended:
 * op_done answers once HAProxy serves it). */
static void check_next_address(struct req *q)
{
	const char *svc = params_get(&q->params, "serviceName");
	_cleanup_free_ char *err = NULL;
	int status = 400;

	if (q->addr_next < q->n_addr_names) {
		int r = lookup_start(q->api->lk, q->addr_names[q->addr_next], on_address, q,
				     &q->addr_call);
		if (r < 0)
			req_finish(q, 500,
				   dfp_response("NOK", "Could not start resolving the address",
						svc ? svc : "", NULL));
		return;
	}
	if (submit_reconfigure(q->api, q, &status, &err) < 0)
		req_finish(q, status, refused_response(q->api, q, err));
}

static void remove_local(struct api *a, struct req *q)
{
	const char *name = params_get(&q->params, "serviceName");

	free(q->body);
	q->body = dfp_response("OK", "", name, NULL);
	q->ctype = "application/json";
	q->always_ok = true;
	daemon_submit(a->d, DAEMON_OP_REMOVE, NULL, NULL, 0, name, op_done, q);
}

static void metrics_local(struct api *a, struct req *q);
static void cert_local(struct api *a, struct req *q);
static char *cert_response(const char *status, const char *message, cJSON *certs);

/* distribute=true: the request goes to every replica (distribute.h), this one included. */
static bool wants_fanout(const struct api *a, const struct req *q)
{
	return a->dist && params_bool(params_get(&q->params, "distribute"));
}

/*
 * The fan-out is over. tasks.<SERVICE_NAME> not resolving means this flowproxy is no swarm task
 * (or SERVICE_NAME is wrong): DFP answers 500, which would have the Swarm Listener retry for
 * minutes and nothing routed; flowproxy applies the request itself, and says so once.
 */
static void on_fanout(void *userdata, const struct distribute_result *res)
{
	struct req *q = userdata;
	struct api *a = q->api;
	const char *name = params_get(&q->params, "serviceName");

	q->dist = NULL;
	if (res->r == -ENXIO) {
		_cleanup_free_ char *err = NULL;
		int status = 400;

		if (!a->solo_logged)
			log_warn("distribute: %s; applied here only (docs/swarm.md \"Several "
				 "replicas\"); later requests are applied the same way",
				 res->message);
		a->solo_logged = true;
		switch (q->fanout) {
		case FANOUT_RECONFIGURE:
			if (submit_reconfigure(a, q, &status, &err) < 0)
				req_finish(q, status, refused_response(a, q, err));
			return;
		case FANOUT_REMOVE:
			remove_local(a, q);
			return;
		case FANOUT_METRICS:
			metrics_local(a, q);
			return;
		case FANOUT_CERT:
			cert_local(a, q);
			return;
		}
	}
	if (res->r < 0) {
		log_warn("distribute: %s %s of service '%s': %s", q->method, q->path,
			 name ? name : "", res->message);
		if (q->fanout == FANOUT_METRICS) {
			q->ctype = "text/plain; charset=utf-8";
			req_finish_text(q, 500, xasprintf("%s\n", res->message));
			return;
		}
		if (q->fanout == FANOUT_CERT) {
			/* DFP answers a failed certificate fan-out with 400 NOK. */
			req_finish(q, 400, cert_response("NOK", res->message, NULL));
			return;
		}
		req_finish(q, 500, dfp_response("NOK", res->message, name, q->svc));
		return;
	}
	log_info("distribute: %s %s of service '%s' sent to %zu replica(s)", q->method, q->path,
		 name ? name : "", res->n_addrs);
	if (q->fanout == FANOUT_METRICS) {
		/* DFP concatenates the replicas' CSV, each with its header line. */
		struct strbuf b;
		strbuf_init(&b);
		for (size_t i = 0; i < res->n_addrs; i++)
			strbuf_puts(&b, res->bodies[i]);
		req_finish_text(q, 200, strbuf_steal(&b));
		return;
	}
	if (q->fanout == FANOUT_CERT) {
		req_finish(q, 200, cert_response("OK", "Distributed to all instances", NULL));
		return;
	}
	cJSON *o = dfp_response_json("OK", "Distributed to all instances", name, q->svc);
	cJSON_ReplaceItemInObject(o, "Distribute", cJSON_CreateBool(1));
	req_finish(q, 200, json_print(o));
}

/*
 * Sends the request to every replica; the connection waits for on_fanout. The body goes too
 * when the route keeps it (q->keep_body): that is how `PUT /cert?distribute=true` sends the
 * certificate to each replica (400 NOK when one fails, as DFP).
 */
static enum MHD_Result fanout(struct api *a, struct req *q, struct MHD_Connection *c,
			      enum req_fanout kind)
{
	q->fanout = kind;
	q->dist = distribute_send(a->dist, q->method[0] ? q->method : "GET", q->path, &q->params,
				  q->keep_body ? strbuf_str(&q->in) : NULL,
				  q->keep_body ? q->in.len : 0, on_fanout, q);
	suspend(q, c);
	return MHD_YES;
}

static enum MHD_Result handle_reconfigure(struct api *a, struct req *q, struct MHD_Connection *c)
{
	_cleanup_free_ char *err = NULL;
	int status = 400;

	if (wants_fanout(a, q)) {
		/* Checked here first, as DFP does: a refused service is sent nowhere. */
		struct labels_ctx ctx;
		daemon_labels_ctx(a->d, &ctx);
		if (labels_parse(&q->params, &ctx, &q->svc, &status, &err) < 0) {
			const char *name = params_get(&q->params, "serviceName");
			log_warn("reconfigure of service '%s' refused: %s", name ? name : "", err);
			return respond(c, (unsigned)status, "application/json",
				       refused_response(a, q, err));
		}
		return fanout(a, q, c, FANOUT_RECONFIGURE);
	}
	q->n_addr_names =
		daemon_config(a->d)->skip_address_validation
			? 0
			: address_names(&q->params, q->addr_names, ARRAY_SIZE(q->addr_names));
	if (q->n_addr_names > 0) {
		suspend(q, c);
		check_next_address(q);
		return MHD_YES;
	}
	if (submit_reconfigure(a, q, &status, &err) < 0)
		return respond(c, (unsigned)status, "application/json",
			       refused_response(a, q, err));
	suspend(q, c);
	return MHD_YES;
}

static enum MHD_Result handle_remove(struct api *a, struct req *q, struct MHD_Connection *c)
{
	const char *name = params_get(&q->params, "serviceName");

	if (!str_set(name))
		return respond_dfp(c, 400, "NOK", "The serviceName query is mandatory", "", NULL);
	if (wants_fanout(a, q))
		return fanout(a, q, c, FANOUT_REMOVE);
	suspend(q, c);
	remove_local(a, q);
	return MHD_YES;
}

static void on_stat_csv(void *userdata, const struct cli_result *res)
{
	struct req *q = userdata;

	q->cli = NULL;
	if (res->r < 0) {
		log_warn("metrics: show stat: %s", res->err);
		req_finish_text(q, 500, xstrdup(""));
		return;
	}
	req_finish_text(q, 200, xstrndup(res->reply, res->len));
}

/* HAProxy's CSV from `show stat` on the worker's stats socket: the same columns as the stats
 * page's ;csv that DFP proxies, without needing STATS_USER and STATS_PASS. */
static void metrics_local(struct api *a, struct req *q)
{
	q->cli = cli_call(a->loop, a->stats_socket, "show stat", 5000, on_stat_csv, q);
}

/* GET /v1/docker-flow-proxy/metrics[?distribute=true] */
static enum MHD_Result handle_dfp_metrics(struct api *a, struct req *q, struct MHD_Connection *c)
{
	if (wants_fanout(a, q))
		return fanout(a, q, c, FANOUT_METRICS);
	suspend(q, c);
	metrics_local(a, q);
	return MHD_YES;
}

static void on_listener_notified(void *userdata, int r, const char *message)
{
	struct req *q = userdata;

	req_finish(q, r < 0 ? 500 : 200, dfp_response(r < 0 ? "NOK" : "OK", message, "", NULL));
}

static enum MHD_Result handle_reload(struct api *a, struct req *q, struct MHD_Connection *c)
{
	if (params_bool(params_get(&q->params, "fromListener"))) {
		/* DFP: each listener resends every service (reconfigures follow); no reload. */
		if (!a->listener)
			return respond_dfp(c, 200, "OK", "", "", NULL);
		suspend(q, c);
		listener_notify(a->listener, on_listener_notified, q);
		return MHD_YES;
	}
	q->body = dfp_response("OK", "", "", NULL);
	q->ctype = "application/json";
	suspend(q, c);
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
static enum MHD_Result handle_status(struct api *a, struct req *q, struct MHD_Connection *c)
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
	cJSON *ap = cJSON_AddObjectToObject(o, "api");
	cJSON_AddNumberToObject(ap, "connections", a->n_conns);
	cJSON_AddNumberToObject(ap, "connMax", a->conn_max);
	cJSON_AddNumberToObject(ap, "connPerClient", a->per_client);
	cJSON_AddNumberToObject(ap, "requestTimeout", (double)(a->request_usec / 1000000));
	cJSON_AddNumberToObject(ap, "refused", (double)a->refused);
	cJSON_AddNumberToObject(ap, "timedOut", (double)a->cut);
	cJSON_AddBoolToObject(ap, "token", a->token != NULL);
	cJSON_AddNumberToObject(ap, "unauthorized", (double)a->unauthorized);
	char *out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return respond(c, 200, "application/json", out);
}

/* GET /metrics: Prometheus text exposition. */
static enum MHD_Result handle_metrics(struct api *a, struct req *q, struct MHD_Connection *c)
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
	if (a->autoscaler)
		autoscaler_prometheus(a->autoscaler, &b);
	if (a->webhook)
		webhook_prometheus(a->webhook, "flowproxy", &b);
	strbuf_printf(&b,
		      "# HELP flowproxy_services Services routed.\n"
		      "# TYPE flowproxy_services gauge\n"
		      "flowproxy_services %zu\n",
		      registry_count(daemon_registry(a->d)));
	return respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", strbuf_steal(&b));
}

static enum MHD_Result handle_ping(struct api *a, struct req *q, struct MHD_Connection *c)
{
	return respond_dfp(c, 200, "OK", "", "", NULL);
}

static enum MHD_Result handle_initreload(struct api *a, struct req *q, struct MHD_Connection *c)
{
	/* With LISTENER_ADDRESS, the first services from the Swarm Listener must be in too. */
	bool ok = daemon_initialized(a->d) && (!a->listener || listener_initialized(a->listener));

	return respond(c, ok ? 200 : 500, "text/plain", xstrdup(""));
}

static enum MHD_Result handle_listener_services(struct api *a, struct req *q,
						struct MHD_Connection *c)
{
	return respond(c, 200, "application/json", provider_services_json(a->provider));
}

static enum MHD_Result handle_listener_notify(struct api *a, struct req *q,
					      struct MHD_Connection *c)
{
	provider_notify_all(a->provider);
	return respond(c, 200, "application/json", xstrdup("{\"Status\":\"OK\"}"));
}

static enum MHD_Result handle_listener_ping(struct api *a, struct req *q, struct MHD_Connection *c)
{
	return respond(c, 200, "application/json", xstrdup("{\"Status\":\"OK\"}"));
}

static enum MHD_Result handle_test_v1(struct api *a, struct req *q, struct MHD_Connection *c)
{
	return respond_dfp(c, 200, "OK", "Test v1", "", NULL);
}

static enum MHD_Result handle_test_v2(struct api *a, struct req *q, struct MHD_Connection *c)
{
	return respond_dfp(c, 200, "OK", "Test v2", "", NULL);
}

/* ---- autoscaling (docs/autoscaling.md "Endpoints") ---------------------------------------- */

static enum MHD_Result respond_status(struct MHD_Connection *c, unsigned status,
				      const char *message)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "status", status == 200 ? "OK" : "NOK");
	cJSON_AddStringToObject(o, "message", message);
	char *out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return respond(c, status, "application/json", out);
}

/* GET /v1/flowproxy/autoscale */
static enum MHD_Result handle_autoscale(struct api *a, struct req *q, struct MHD_Connection *c)
{
	if (!a->autoscaler)
		return respond_status(c, 404, "the autoscaler is not running");
	cJSON *o = autoscaler_json(a->autoscaler);
	char *out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return respond(c, 200, "application/json", out);
}

static void scale_done(void *userdata, int status, const char *message, long from, long to)
{
	struct req *q = userdata;
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "status", status == 200 ? "OK" : "NOK");
	cJSON_AddStringToObject(o, "message", message);
	cJSON_AddStringToObject(o, "service", params_get(&q->params, "service"));
	cJSON_AddNumberToObject(o, "from", (double)from);
	cJSON_AddNumberToObject(o, "to", (double)to);
	char *out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	req_finish(q, status, out);
}

/*
 * GET|POST /v1/flowproxy/scale?service=S&scale=±N: the Jenkins service-scale job's parameters.
 * Answered once the scaler is done.
 */
static enum MHD_Result handle_scale(struct api *a, struct req *q, struct MHD_Connection *c)
{
	const char *svc = params_get(&q->params, "service");
	const char *scale = params_get(&q->params, "scale");
	long delta = 0;

	if (!a->autoscaler)
		return respond_status(c, 404, "the autoscaler is not running");
	if (!str_set(svc))
		return respond_status(c, 400, "the service query is mandatory");
	if (!str_set(scale) ||
	    parse_long(scale[0] == '+' ? scale + 1 : scale, -1000, 1000, &delta) < 0 ||
	    delta == 0) {
		_cleanup_free_ char *msg = xasprintf(
			"scale must be a non-zero whole number of replicas within -1000..1000, "
			"such as 1 or -1 (got '%s')",
			scale ? scale : "");
		log_warn("API: scale of service '%s' refused: %s", svc, msg);
		return respond_status(c, 400, msg);
	}
	if (autoscaler_scale(a->autoscaler, svc, delta, "scale endpoint", scale_done, q) < 0)
		return respond_status(c, 400, "the scale could not be started");
	suspend(q, c);
	return MHD_YES;
}

/* One Alertmanager call: its actions, answered together once every one is done. */
struct am_call {
	struct req *q;
	cJSON *actions; /* one object per action, filled as they end */
	size_t pending;
	size_t ignored;
};

struct am_action {
	struct am_call *call;
	cJSON *o;
};

/* The answer of m (caller frees); m is freed. */
static char *am_answer(struct am_call *m)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "status", "OK");
	cJSON_AddItemToObject(o, "actions", m->actions);
	cJSON_AddNumberToObject(o, "ignored", (double)m->ignored);
	char *out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	m->q->am = NULL;
	free(m);
	return out;
}

static void am_finish(struct am_call *m)
{
	struct req *q = m->q;

	req_finish(q, 200, am_answer(m));
}

static void am_done(void *userdata, int status, const char *message, long from, long to)
{
	struct am_action *x = userdata;
	struct am_call *m = x->call;

	cJSON_AddNumberToObject(x->o, "status", status);
	cJSON_AddStringToObject(x->o, "message", message);
	cJSON_AddNumberToObject(x->o, "from", (double)from);
	cJSON_AddNumberToObject(x->o, "to", (double)to);
	free(x);
	if (--m->pending == 0)
		am_finish(m);
}

/*
 * POST /v1/flowproxy/alertmanager: an Alertmanager webhook receiver. Each firing alert with the
 * labels service and scale=up|down scales that service by its own step, limits applied. It
 * answers 200 with each action's outcome (an error answer would make Alertmanager resend).
 */
static enum MHD_Result handle_alertmanager(struct api *a, struct req *q, struct MHD_Connection *c)
{
	struct alertmanager_request r = {0};
	_cleanup_free_ char *err = NULL;

	if (!a->autoscaler)
		return respond_status(c, 404, "the autoscaler is not running");
	if (!q->post)
		return respond_status(c, 405, "the Alertmanager receiver takes a POST");
	if (alertmanager_parse(strbuf_str(&q->in), q->in.len, &r, &err) < 0) {
		log_warn("API: Alertmanager call refused: %s", err);
		return respond_status(c, 400, err);
	}
	struct am_call *m = xcalloc(1, sizeof(*m));
	m->q = q;
	m->actions = cJSON_CreateArray();
	m->ignored = r.ignored;
	m->pending = 1; /* held until every action is started */
	q->am = m;
	for (size_t i = 0; i < r.n; i++) {
		const struct alertmanager_action *ac = &r.v[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "service", ac->service);
		cJSON_AddStringToObject(o, "scale", ac->dir == AUTOSCALE_UP ? "up" : "down");
		cJSON_AddItemToArray(m->actions, o);
		long step = autoscaler_step_of(a->autoscaler, ac->service, ac->dir);
		if (step == 0) {
			cJSON_AddNumberToObject(o, "status", 404);
			_cleanup_free_ char *msg =
				xasprintf("service '%s' is not known or its limits do not parse",
					  ac->service);
			cJSON_AddStringToObject(o, "message", msg);
			log_warn("API: Alertmanager: %s", msg);
			continue;
		}
		struct am_action *x = xcalloc(1, sizeof(*x));
		x->call = m;
		x->o = o;
		m->pending++;
		if (autoscaler_scale(a->autoscaler, ac->service, step, "alertmanager", am_done, x) <
		    0) {
			m->pending--;
			free(x);
			cJSON_AddNumberToObject(o, "status", 400);
			cJSON_AddStringToObject(o, "message", "the scale could not be started");
		}
	}
	alertmanager_done(&r);
	/*
	 * Nothing started (every alert ignored or refused): answer now. MHD does not answer a
	 * connection suspended and resumed within its own handler call until other traffic
	 * wakes it: a lone call waited for its client's timeout.
	 */
	if (--m->pending == 0)
		return respond(c, 200, "application/json", am_answer(m));
	/* Every callback comes from the loop, later: the last one answers. */
	suspend(q, c);
	return MHD_YES;
}

/* ---- certificates (docs/tls.md) ---------------------------------------------------------- */

/* DFP's CertResponse: {"Status","Message","Certs"}; certs NULL gives "Certs":null. Taken. */
static char *cert_response(const char *status, const char *message, cJSON *certs)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "Status", status);
	cJSON_AddStringToObject(o, "Message", message);
	cJSON_AddItemToObject(o, "Certs", certs ? certs : cJSON_CreateNull());
	char *out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return out;
}

static void cert_done(void *userdata, int status, const char *message, bool found)
{
	struct req *q = userdata;

	req_finish(q, status, cert_response(status == 200 ? "OK" : "NOK", message, NULL));
}

/* The certificate applied here; the request is suspended, cert_done answers. */
static void cert_local(struct api *a, struct req *q)
{
	_cleanup_free_ char *err = NULL;
	int r = certload_put(a->d, params_get(&q->params, "certName"), strbuf_str(&q->in),
			     q->in.len, cert_done, q, &err);

	if (r < 0) {
		log_warn("API: PUT /cert refused: %s", err);
		req_finish(q, r == -EAGAIN ? 503 : 400, cert_response("NOK", err, NULL));
	}
}

/*
 * PUT /v1/docker-flow-proxy/cert?certName=x, the body the PEM: certificate, chain and key.
 * Answered once HAProxy serves it, or refused with nothing changed. distribute=true sends it to
 * every replica (each loads it as this one would), once its PEM structure is checked here.
 */
static enum MHD_Result handle_cert(struct api *a, struct req *q, struct MHD_Connection *c)
{
	const char *name = params_get(&q->params, "certName");
	_cleanup_free_ char *err = NULL;

	if (!q->put)
		return respond(c, 405, "application/json",
			       cert_response("NOK", "The cert endpoint takes a PUT", NULL));
	if (!str_set(name))
		return respond(c, 400, "application/json",
			       cert_response("NOK", "Query parameter certName is mandatory", NULL));
	if (q->in.len == 0)
		return respond(c, 400, "application/json",
			       cert_response("NOK", "Body is empty", NULL));
	if (wants_fanout(a, q)) {
		if (pem_check(strbuf_str(&q->in), q->in.len, &err) < 0)
			return respond(c, 400, "application/json", cert_response("NOK", err, NULL));
		return fanout(a, q, c, FANOUT_CERT);
	}
	int r = certload_put(a->d, name, strbuf_str(&q->in), q->in.len, cert_done, q, &err);
	if (r < 0) {
		log_warn("API: PUT /cert refused: %s", err);
		return respond(c, r == -EAGAIN ? 503 : 400, "application/json",
			       cert_response("NOK", err, NULL));
	}
	suspend(q, c);
	return MHD_YES;
}

/* GET /v1/docker-flow-proxy/certs: the certs directory's certificates (secrets are never
 * handed out), DFP's shape, for replicas that sync their certificates. */
static enum MHD_Result handle_certs(struct api *a, struct req *q, struct MHD_Connection *c)
{
	const struct config *cfg = daemon_config(a->d);
	struct certs_list l = {0};
	cJSON *arr = cJSON_CreateArray();

	certs_scan(cfg->certs_dir, NULL, cfg->preferred_certificate, &l, NULL, NULL);
	for (size_t i = 0; i < l.n; i++) {
		_cleanup_free_ char *pem = NULL;
		if (l.v[i].secret || read_file(l.v[i].path, CERTS_PEM_MAX, &pem, NULL) < 0)
			continue;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "ServicePort", "");
		cJSON_AddStringToObject(o, "ProxyServiceName", l.v[i].name);
		cJSON_AddStringToObject(o, "CertsDir", cfg->certs_dir);
		cJSON_AddStringToObject(o, "CertContent", pem);
		cJSON_AddItemToArray(arr, o);
	}
	certs_list_done(&l);
	return respond(c, 200, "application/json", cert_response("OK", "", arr));
}

typedef enum MHD_Result (*api_handler_fn)(struct api *a, struct req *q, struct MHD_Connection *c);

/* Route flags. */
enum {
	ROUTE_CHANGES = 1 << 0, /* changes state: needs API_TOKEN when one is set */
	ROUTE_SWARM = 1 << 1,	/* exists in swarm mode only (404 otherwise) */
	ROUTE_SECRET = 1 << 2,	/* hands out secrets (private keys): needs API_TOKEN too */
};

/*
 * Every route. An endpoint that changes something (the routing, HAProxy, notifications sent
 * out) says so here, once, and the token check follows from it; what only reads stays open, so
 * that health checks and scrapers need no secret.
 */
static const struct api_route {
	const char *path;
	unsigned flags;
	api_handler_fn handle;
} api_routes[] = {
	{"/v1/docker-flow-proxy/reconfigure", ROUTE_CHANGES, handle_reconfigure},
	{"/v1/docker-flow-proxy/remove", ROUTE_CHANGES, handle_remove},
	{"/v1/docker-flow-proxy/reload", ROUTE_CHANGES, handle_reload},
	{"/v1/docker-flow-proxy/cert", ROUTE_CHANGES, handle_cert},
	{"/v1/docker-flow-proxy/certs", ROUTE_SECRET, handle_certs},
	{"/v1/docker-flow-proxy/config", 0, handle_config},
	{"/v1/docker-flow-proxy/ping", 0, handle_ping},
	{"/v1/docker-flow-proxy/successfulinitreload", 0, handle_initreload},
	{"/v1/docker-flow-proxy/metrics", 0, handle_dfp_metrics},
	{"/v1/docker-flow-swarm-listener/get-services", ROUTE_SWARM, handle_listener_services},
	{"/v1/docker-flow-swarm-listener/notify-services", ROUTE_SWARM | ROUTE_CHANGES,
	 handle_listener_notify},
	{"/v1/docker-flow-swarm-listener/ping", ROUTE_SWARM, handle_listener_ping},
	{"/v1/flowproxy/status", 0, handle_status},
	{"/v1/flowproxy/autoscale", 0, handle_autoscale},
	{"/v1/flowproxy/scale", ROUTE_CHANGES, handle_scale},
	{"/v1/flowproxy/alertmanager", ROUTE_CHANGES, handle_alertmanager},
	{"/v1/flowproxy/stats", 0, handle_stats},
	{"/metrics", 0, handle_metrics},
	{"/v1/test", 0, handle_test_v1},
	{"/v2/test", 0, handle_test_v2},
};

/*
 * Takes the `token` pairs out of the query (any case, every one of them): the token is the
 * API's, not a service parameter, so it never reaches the parameter parser, an answer that
 * echoes parameters or a notification. Returns the first value (caller frees), NULL if none.
 */
static char *params_take_token(struct params *p)
{
	char *first = NULL;

	for (size_t i = 0; i < p->n;) {
		if (strcasecmp(p->v[i].key, "token") != 0) {
			i++;
			continue;
		}
		if (!first)
			first = TAKE_PTR(p->v[i].value);
		free(p->v[i].key);
		free(p->v[i].value);
		memmove(&p->v[i], &p->v[i + 1], (p->n - i - 1) * sizeof(p->v[0]));
		p->n--;
	}
	return first;
}

/* got == want, in a time that depends on want's length only, not on where they differ. */
static bool token_equal(const char *got, const char *want)
{
	size_t got_len = strlen(got), want_len = strlen(want);
	unsigned char d = got_len != want_len;

	for (size_t i = 0; i < want_len; i++)
		d |= (unsigned char)want[i] ^ (unsigned char)(i < got_len ? got[i] : 0);
	return d == 0;
}

/* The token of an "Authorization: Bearer <token>" header (RFC 6750 §2.1; the scheme in any
 * case), borrowed from h; NULL for another scheme or no header. */
static const char *bearer_token(const char *h, size_t *ret_len)
{
	size_t n;

	if (!h || strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
		return NULL;
	h += 6;
	while (*h == ' ' || *h == '\t')
		h++;
	n = strlen(h);
	while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
		n--;
	*ret_len = n;
	return h;
}

/*
 * Whether a request to a route that changes state may go on: no API_TOKEN is set, or the
 * request carries it as a Bearer token or as ?token= (query: its value, taken out of the query).
 * *ret_offered says whether it carried one at all. Both are compared, always.
 */
static bool authorized(const struct api *a, struct MHD_Connection *c, const char *query,
		       bool *ret_offered)
{
	const char *h =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	size_t n = 0;
	const char *bearer = bearer_token(h, &n);
	_cleanup_free_ char *b = bearer ? xstrndup(bearer, n) : NULL;
	bool ok = false;

	*ret_offered = b || query;
	if (!a->token)
		return true;
	if (b)
		ok |= token_equal(b, a->token);
	if (query)
		ok |= token_equal(query, a->token);
	return ok;
}

static const char *addr_text(uint32_t addr, char buf[static INET_ADDRSTRLEN]);
static bool streak_hit(struct api_streak *st, long long now);
static void sweep_arm(struct api *a);

/* 401 with a JSON message and the challenge of RFC 6750 §3; nothing else is done. */
static enum MHD_Result respond_unauthorized(struct api *a, struct req *q, struct MHD_Connection *c,
					    const char *path, bool offered)
{
	const char *msg = offered ? "The API token is wrong"
				  : "This endpoint needs the API token (API_TOKEN): send "
				    "'Authorization: Bearer <token>' or add 'token=<token>' to the "
				    "query";
	cJSON *o = cJSON_CreateObject();
	char *body, ip[INET_ADDRSTRLEN];
	struct MHD_Response *r;
	enum MHD_Result ret;

	a->unauthorized++;
	if (streak_hit(&a->unauth, now_usec()))
		log_warn("API: %s from %s refused (401): %s; later refusals are counted, not "
			 "logged",
			 path,
			 q->sock && q->sock->client ? addr_text(q->sock->client->addr, ip) : "?",
			 offered ? "a wrong API token" : "no API token");
	sweep_arm(a);
	cJSON_AddStringToObject(o, "Status", "NOK");
	cJSON_AddStringToObject(o, "Message", msg);
	body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				offered ? "Bearer realm=\"flowproxy\", error=\"invalid_token\""
					: "Bearer realm=\"flowproxy\"");
	ret = MHD_queue_response(c, MHD_HTTP_UNAUTHORIZED, r);
	MHD_destroy_response(r);
	return ret;
}

/* url names route (trailing slashes aside). */
static bool path_is(const char *url, const char *route)
{
	size_t n = strlen(route);

	if (strncmp(url, route, n) != 0)
		return false;
	while (url[n] == '/')
		n++;
	return url[n] == '\0';
}

static enum MHD_Result route(struct api *a, struct req *q, struct MHD_Connection *c,
			     const char *url)
{
	_cleanup_free_ char *token = params_take_token(&q->params);
	char path[256];
	size_t n = strlen(url);
	bool offered;

	if (n >= sizeof(path))
		return respond(c, 404, "text/plain; charset=utf-8",
			       xstrdup("404 page not found\n"));
	memcpy(path, url, n + 1);
	while (n > 1 && path[n - 1] == '/')
		path[--n] = '\0';

	for (size_t i = 0; i < ARRAY_SIZE(api_routes); i++) {
		const struct api_route *r = &api_routes[i];

		if (!streq(path, r->path) || ((r->flags & ROUTE_SWARM) && !a->provider))
			continue;
		if ((r->flags & (ROUTE_CHANGES | ROUTE_SECRET)) &&
		    !authorized(a, c, token, &offered))
			return respond_unauthorized(a, q, c, r->path, offered);
		q->path = r->path;
		return r->handle(a, q, c);
	}
	return respond(c, 404, "text/plain; charset=utf-8", xstrdup("404 page not found\n"));
}

/* ---- limits: per client, overall, and the request deadline -------------------------------- */

static const char *addr_text(uint32_t addr, char buf[static INET_ADDRSTRLEN])
{
	struct in_addr in = {.s_addr = addr};

	return inet_ntop(AF_INET, &in, buf, INET_ADDRSTRLEN) ? buf : "?";
}

static struct api_client **client_slot(struct api *a, uint32_t addr)
{
	/* Fibonacci hashing: addresses of one network differ in their last octet, which a
	 * network-order word keeps in its high byte on little-endian machines. */
	struct api_client **p = &a->clients[(addr * 2654435761u) >> 22 & (API_CLIENT_HASH - 1)];

	while (*p && (*p)->addr != addr)
		p = &(*p)->next;
	return p;
}

static struct api_client *client_get(struct api *a, uint32_t addr)
{
	struct api_client **p = client_slot(a, addr);

	if (!*p) {
		*p = xcalloc(1, sizeof(**p));
		(*p)->addr = addr;
		a->n_clients++;
	}
	return *p;
}

/* Frees cl once nothing refers to it: no connection, no streak to end. */
static void client_put(struct api *a, struct api_client *cl)
{
	struct api_client **p;

	if (cl->conns || cl->refused.n || cl->cut.n)
		return;
	p = client_slot(a, cl->addr);
	*p = cl->next;
	free(cl);
	a->n_clients--;
}

/* Counts one event of a streak; true when it starts one (the caller logs then, and only then). */
static bool streak_hit(struct api_streak *st, long long now)
{
	bool first = st->n == 0;

	if (first)
		st->first = now;
	st->n++;
	st->last = now;
	return first;
}

/* True when st ran and has been quiet long enough to end; the caller logs, then it resets. */
static bool streak_over(const struct api_streak *st, long long now)
{
	return st->n && now - st->last >= API_STREAK_QUIET;
}

static void sweep_arm(struct api *a)
{
	if (!loop_timer_armed(a->sweep) && (a->conns || a->n_clients || a->full.n || a->unauth.n))
		loop_timer_after(a->sweep, API_SWEEP_MS);
}

/*
 * MHD's accept policy, called for each accepted socket before MHD keeps it. The per-client limit
 * is enforced here rather than with MHD_OPTION_PER_IP_CONNECTION_LIMIT: MHD refuses over its own
 * limit before any callback sees the address, so a refusal could be neither logged nor counted.
 * Our count (STARTED to CLOSED notifications) is the one MHD would keep.
 */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *sa, socklen_t len)
{
	struct api *a = cls;
	struct sockaddr_in sin;
	struct api_client *cl;
	char ip[INET_ADDRSTRLEN];

	if (!a->per_client || sa->sa_family != AF_INET || len < sizeof(sin))
		return MHD_YES;
	memcpy(&sin, sa, sizeof(sin));
	cl = *client_slot(a, sin.sin_addr.s_addr);
	if (!cl || cl->conns < a->per_client)
		return MHD_YES;
	a->refused++;
	if (streak_hit(&cl->refused, now_usec()))
		log_warn("API: client %s holds %u connections, its limit (API_CONN_PER_CLIENT): "
			 "its new ones are closed until it has fewer",
			 addr_text(cl->addr, ip), cl->conns);
	sweep_arm(a);
	return MHD_NO;
}

static void conn_started(struct api *a, struct MHD_Connection *c, void **socket_context)
{
	const union MHD_ConnectionInfo *fd =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	const union MHD_ConnectionInfo *peer =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct api_conn *k = xcalloc(1, sizeof(*k));
	long long now = now_usec();

	k->fd = fd ? fd->connect_fd : -1;
	if (peer && peer->client_addr && peer->client_addr->sa_family == AF_INET) {
		struct sockaddr_in sin;
		memcpy(&sin, peer->client_addr, sizeof(sin));
		k->client = client_get(a, sin.sin_addr.s_addr);
		k->client->conns++;
	}
	k->deadline = now + a->request_usec;
	k->next = a->conns;
	if (a->conns)
		a->conns->prev = k;
	a->conns = k;
	*socket_context = k;
	/* MHD stops accepting at its limit: the others wait in the listen queue meanwhile. */
	if (++a->n_conns >= a->conn_max && streak_hit(&a->full, now))
		log_warn("API: %u connections, the limit (API_CONN_MAX): new ones wait until some "
			 "close",
			 a->n_conns);
	sweep_arm(a);
}

static void conn_closed(struct api *a, struct api_conn *k)
{
	if (k->prev)
		k->prev->next = k->next;
	else
		a->conns = k->next;
	if (k->next)
		k->next->prev = k->prev;
	a->n_conns--;
	a->rerun = true;
	if (k->client) {
		k->client->conns--;
		client_put(a, k->client);
	}
	free(k);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct api *a = cls;

	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		conn_started(a, c, socket_context);
	else if (*socket_context) {
		conn_closed(a, *socket_context);
		*socket_context = NULL;
	}
}

static struct api_conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *i =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return i ? i->socket_context : NULL;
}

/*
 * Once a second: connections past their deadline are shut down. MHD has no call to close one
 * connection; shutdown(SHUT_RDWR) makes its socket hang up, which MHD's epoll reports
 * (EPOLLHUP), so MHD's next run closes it like one the client dropped, and its CLOSED
 * notification frees k. Then the streaks that went quiet end, and idle clients go.
 */
static void on_sweep(void *userdata)
{
	struct api *a = userdata;
	long long now = now_usec();
	char ip[INET_ADDRSTRLEN];

	for (struct api_conn *k = a->conns; k; k = k->next) {
		if (k->cut || !k->deadline || k->deadline > now)
			continue;
		k->cut = true;
		a->cut++;
		if (k->fd >= 0)
			shutdown(k->fd, SHUT_RDWR);
		if (k->client && streak_hit(&k->client->cut, now))
			log_warn("API: client %s did not complete a request within %lld s "
				 "(API_REQUEST_TIMEOUT): its connection is closed, and so are the "
				 "next ones that do the same",
				 addr_text(k->client->addr, ip), a->request_usec / 1000000);
	}
	for (size_t i = 0; i < API_CLIENT_HASH; i++) {
		struct api_client *next;
		for (struct api_client *cl = a->clients[i]; cl; cl = next) {
			next = cl->next;
			if (streak_over(&cl->refused, now)) {
				log_info("API: client %s: %lu connections refused over its limit "
					 "in %lld s; none since %lld s",
					 addr_text(cl->addr, ip), cl->refused.n,
					 (cl->refused.last - cl->refused.first) / 1000000,
					 API_STREAK_QUIET / 1000000);
				cl->refused = (struct api_streak){0};
			}
			if (streak_over(&cl->cut, now)) {
				log_info("API: client %s: %lu connections closed at their deadline "
					 "in %lld s; none since %lld s",
					 addr_text(cl->addr, ip), cl->cut.n,
					 (cl->cut.last - cl->cut.first) / 1000000,
					 API_STREAK_QUIET / 1000000);
				cl->cut = (struct api_streak){0};
			}
			client_put(a, cl);
		}
	}
	if (streak_over(&a->full, now)) {
		log_info("API: no connection met the limit (API_CONN_MAX) for %lld s; %lu did in "
			 "%lld s",
			 API_STREAK_QUIET / 1000000, a->full.n,
			 (a->full.last - a->full.first) / 1000000);
		a->full = (struct api_streak){0};
	}
	if (streak_over(&a->unauth, now)) {
		log_info("API: %lu requests refused without the right API token in %lld s; none "
			 "since %lld s",
			 a->unauth.n, (a->unauth.last - a->unauth.first) / 1000000,
			 API_STREAK_QUIET / 1000000);
		a->unauth = (struct api_streak){0};
	}
	sweep_arm(a);
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
		q->post = streq(method, "POST");
		snprintf(q->method, sizeof(q->method), "%s", method);
		q->put = streq(method, "PUT");
		q->keep_body = path_is(url, "/v1/flowproxy/alertmanager") ||
			       path_is(url, "/v1/docker-flow-proxy/cert");
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		/* Only the Alertmanager receiver reads its body; the others are capped and
		 * discarded. */
		q->body_len += *upload_data_size;
		q->too_big |= q->body_len > (q->keep_body ? ALERTMANAGER_BODY_MAX > CERTS_PEM_MAX
								    ? ALERTMANAGER_BODY_MAX
								    : CERTS_PEM_MAX
							  : API_BODY_MAX);
		if (q->keep_body && !q->too_big)
			strbuf_append(&q->in, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	/* Headers and body are in: the deadline is met. A request is suspended only from here on
	 * (route), so a request waiting for HAProxy never has a deadline. */
	if (q->sock)
		q->sock->deadline = 0;
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
	q->sock = conn_of(c);
	params_init(&q->params);
	strbuf_init(&q->in);
	q->query = xstrndup(qm ? qm + 1 : "", QUERY_LEN_MAX + 1);
	return q;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct api *a = cls;
	struct api_conn *k = conn_of(c);
	struct req *q = *con_cls;

	/* The next request on a kept-alive connection has its own deadline from now. */
	if (k && !k->cut)
		k->deadline = now_usec() + a->request_usec;
	if (!q)
		return;
	lookup_cancel(q->addr_call);
	free(q->body);
	free(q->query);
	service_free(q->svc);
	distribute_cancel(q->dist);
	cli_cancel(q->cli);
	strbuf_done(&q->in);
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

	a->rerun = false;
	MHD_run(a->mhd);
	/* At its connection limit (or out of descriptors) MHD takes its listening socket out of
	 * its epoll set, and puts it back only at the start of a later run, once connections have
	 * closed: without that run, which nothing else may cause (no connection left, no timeout),
	 * the API would stop accepting for good. */
	if (a->rerun)
		loop_timer_after(a->timer, 0);
	/* MHD's timeouts (idle connections) are served by a loop timer. */
	else if (MHD_get_timeout(a->mhd, &t) == MHD_YES)
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

/* API_CONN_MAX, lowered so that the API's sockets and API_FD_RESERVE fit in RLIMIT_NOFILE. A
 * process out of descriptors fails its accepts, and MHD then stops listening for all. */
static unsigned conn_max_for(long want)
{
	struct rlimit rl;
	long room;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return (unsigned)want;
	room = rl.rlim_cur > API_FD_RESERVE + API_CONN_MIN ? (long)(rl.rlim_cur - API_FD_RESERVE)
							   : API_CONN_MIN;
	if (want <= room)
		return (unsigned)want;
	log_warn("API_CONN_MAX %ld lowered to %ld: the process may open %llu files "
		 "(RLIMIT_NOFILE), %d of them kept for HAProxy and the rest",
		 want, room, (unsigned long long)rl.rlim_cur, API_FD_RESERVE);
	return (unsigned)room;
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
	a->loop = loop;
	a->lk = lookup_new(loop);
	a->provider = p;
	a->stats_socket = xasprintf("%s/stats.sock", cfg->run_dir);
	{
		struct distribute_options o = {cfg->service_name, cfg->port, cfg->api_token};
		_cleanup_free_ char *e = NULL;
		if (distribute_new(loop, &o, &a->dist, &e) < 0)
			log_warn("distribute=true is answered as distribute=false: %s", e);
	}
	a->per_client = (unsigned)cfg->api_conn_per_client;
	a->conn_max = conn_max_for(cfg->api_conn_max);
	a->request_usec = cfg->api_request_timeout * 1000000LL;
	a->token = str_set(cfg->api_token) ? cfg->api_token : NULL;
	/* The sweep may run from the first accepted connection on, which MHD_start_daemon can
	 * not have yet; the timer exists before. */
	a->sweep = loop_timer_new(loop, on_sweep, a);
	/* MHD's timeout is one of inactivity; it bounds a client that stops reading an answer,
	 * where the request deadline no longer runs. It is a little longer than the deadline (and
	 * the sweep's second), so that a request a client does not complete is cut, and logged, by
	 * the deadline rather than silently by MHD. */
	a->mhd = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, (uint16_t)cfg->port,
		on_accept, a, on_request, a, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, a, MHD_OPTION_NOTIFY_CONNECTION,
		on_connection, a, MHD_OPTION_URI_LOG_CALLBACK, on_uri, a,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, a, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)API_CONN_MEMORY, MHD_OPTION_CONNECTION_LIMIT, a->conn_max,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->api_request_timeout + API_IDLE_EXTRA,
		MHD_OPTION_END);
	if (!a->mhd) {
		api_free(a);
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
	if (a->token)
		log_info("API: the endpoints that change state need the API token (API_TOKEN)");
	*ret = a;
	return 0;
}

void api_attach(struct api *a, struct autoscaler *as, struct webhook *w)
{
	a->autoscaler = as;
	a->webhook = w;
}

void api_attach_listener(struct api *a, struct listener *l)
{
	a->listener = l;
}

void api_free(struct api *a)
{
	if (!a)
		return;
	loop_io_free(a->io);
	loop_timer_free(a->timer);
	loop_timer_free(a->sweep);
	/* MHD_stop_daemon aborts the process (MHD_PANIC) while a connection is suspended: those
	 * still waiting for the daemon are resumed, and closed unanswered with the rest. The
	 * daemon, freed after us, drops their operations without calling back. */
	distribute_free(a->dist);
	a->dist = NULL;
	lookup_free(a->lk);
	a->lk = NULL;
	for (struct api_conn *k = a->conns; k; k = k->next)
		if (k->waiting) {
			k->waiting->dist = NULL; /* freed with a->dist */
			cli_cancel(k->waiting->cli);
			k->waiting->cli = NULL;
			MHD_resume_connection(k->waiting->conn);
			k->waiting = NULL;
		}
	/* Closes every connection: their CLOSED notifications free them and their clients. */
	if (a->mhd)
		MHD_stop_daemon(a->mhd);
	/* What is left are clients kept for a streak. */
	for (size_t i = 0; i < API_CLIENT_HASH; i++)
		while (a->clients[i]) {
			struct api_client *cl = a->clients[i];
			a->clients[i] = cl->next;
			free(cl);
		}
	free(a->stats_socket);
	free(a);
}
