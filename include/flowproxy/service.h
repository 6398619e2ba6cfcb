/* SPDX-License-Identifier: MIT */
/*
 * service: the parameters of one routed service, as Docker Flow Proxy defines them
 * (reference: docker-flow-proxy.md §1), and the parameter map every source fills: the reconfigure
 * query string, `com.df.*` labels (prefix stripped), DFP_SERVICE_* environment variables and the
 * local services file. labels.c turns a parameter map into a struct service; render.c turns a set
 * of services into haproxy.cfg.
 */
#pragma once

#include "flowproxy/util.h"

#include <stdint.h>

struct cJSON;

/* A list of key=value pairs in arrival order. Keys and values are owned copies. */
struct param {
	char *key;
	char *value;
};

struct params {
	struct param *v;
	size_t n;
};

/*
 * A parameter's boolean as DFP reads it: Go's strconv.ParseBool (1, t, T, TRUE, true, True),
 * gorilla/schema's "on", and the Swarm Listener's case-insensitive "true". Anything else, and
 * NULL, is false.
 */
bool params_bool(const char *v);

void params_init(struct params *p);
void params_done(struct params *p);
/* Appends a copy of key and value. Later duplicates of a key are kept but params_get sees the first. */
void params_add(struct params *p, const char *key, const char *value);
/* Sets key, replacing the first value with that key or appending. */
void params_set(struct params *p, const char *key, const char *value);
/* Removes the first pair with exactly that key; false when there is none. */
bool params_remove(struct params *p, const char *key);
/* Exact key match first, then case-insensitive. NULL when absent. Borrowed. */
const char *params_get(const struct params *p, const char *key);
void params_copy(struct params *dst, const struct params *src);
/* A hash (FNV-1a, never 0) of p's autoscaling parameters (alert*, scale*), keys and values in
 * order: the autoscaler re-reads a service's policies only when it changes. */
uint64_t params_policy_hash(const struct params *p);

/* A NULL-terminated-free vector of owned strings. */
struct strv {
	char **v;
	size_t n;
};

void strv_done(struct strv *s);
void strv_add(struct strv *s, const char *v);

struct service_user {
	char *name;
	char *password; /* insecure-password, or a crypt hash when encrypted */
	bool encrypted;
};

/* One reqPathSearchReplace pair: `http-request set-path %[path,regsub(<search>,<replace>)]`. */
struct service_path_replace {
	char *search;
	char *replace;
};

/* A header rule: name plus value (value NULL for del*Header), and an optional condition. */
struct service_header {
	char *name;
	char *value; /* the literal value, unquoted; the renderer quotes it */
	char *cond;  /* "if ..." / "unless ..." in HAProxy words, ready to render; NULL when none */
};

void service_headers_free(struct service_header *h, size_t n);

#define SERVICE_DEST_MAX 10

/* A destination (DFP's ServiceDest): the indexable part of a service. */
struct service_dest {
	int index;     /* 0 for the un-indexed destination, else 1..10 */
	char *port;    /* digits; NULL when unset */
	long src_port; /* 0 when unset */
	struct strv paths;
	struct strv path_excludes;
	char *path_type;     /* default "path_beg" */
	struct strv domains; /* as given, "*.example.com" wildcards kept */
	char *req_mode;	     /* default "http" */
	struct service_path_replace *path_replace;
	size_t n_path_replace;
	char *outbound_hostname; /* NULL when unset */
	bool https_only;
	char *https_redirect_code; /* NULL when unset */
	long timeout_server;	   /* seconds, 0 when unset */
	long timeout_tunnel;	   /* seconds, 0 when unset */
	bool ignore_authorization;
	struct strv allowed_methods; /* allowedMethods: anything else is denied (403) */
	struct strv denied_methods;  /* deniedMethods: denied (403) */
	struct strv user_agents;     /* userAgent: hdr_sub(User-Agent) -i, ANDed into the route */
	struct strv redirect_from_domains;	/* redirectFromDomain: 301 to serviceDomain[0] */
	struct service_header *service_headers; /* serviceHeader K:V pairs, sorted by name */
	size_t n_service_headers;
	/* TLS (docs/tls.md) */
	long https_port;      /* httpsPort: a second backend https-<acl>-be<p>_<i>, 0 when unset */
	long src_https_port;  /* srcHttpsPort: its entry port, 443 when httpsPort is set */
	bool deny_http;	      /* denyHttp: http-request deny if !{ ssl_fc } */
	bool ssl_verify_none; /* sslVerifyNone: servers are HTTPS, not verified */
	bool verify_client_ssl; /* verifyClientSsl: a client certificate CA_FILE verifies */
	/* reqMode tcp and sni (docs/tcp.md) */
	long timeout_client; /* seconds, 0 when unset: the tcp/sni frontend or listen group */
	bool check_tcp;	     /* option tcp-check, and check on the servers */
	bool clitcpka;	     /* option clitcpka on the frontend or listen group */
	char *service_group; /* serviceGroup: listen tcpListen_<group>_<srcPort>; NULL when unset */
	char *balance_group; /* balanceGroup: that listen's balance algorithm; NULL when unset */
	bool paths_given;    /* servicePath was given (not implied by serviceDomain) */
	char *user_def;	     /* userDef: free data for custom templates, NULL when unset */
};

struct service {
	char *name;	      /* serviceName, required */
	char *acl_name;	      /* aclName, defaults to name */
	char *domain_algo;    /* serviceDomainAlgo, defaults to the global SERVICE_DOMAIN_ALGO */
	char *discovery_type; /* discoveryType: NULL (task slots or the service's own host), "DNS"
			       * (server-template resolved through Docker's DNS) or "VIP" */
	bool redirect_when_http_proto;
	bool redirect_unless_https_proto;
	bool is_default_backend;
	bool sticky;		/* sessionType=sticky-server: a cookie per server */
	bool check_resolvers;	/* checkResolvers: `check resolvers docker` on server lines */
	char *connection_mode;	/* connectionMode: `option <mode>` in its backends; NULL unset */
	char *compression_algo; /* compressionAlgo: `compression algo ...` in its backends */
	char *compression_type; /* compressionType: `compression type ...` */
	char *backend_extra;	/* backendExtra: raw lines at the end of each backend */
	struct service_header *add_req_headers, *set_req_headers, *del_req_headers;
	struct service_header *add_res_headers, *set_res_headers, *del_res_headers;
	size_t n_add_req_headers, n_set_req_headers, n_del_req_headers;
	size_t n_add_res_headers, n_set_res_headers, n_del_res_headers;
	struct service_user *users;
	size_t n_users;
	bool users_pass_encrypted;
	bool has_replicas; /* false means a global service (DFP's IsGlobal) */
	long replicas;
	struct service_dest *dests;
	size_t n_dests;
	/* templateFePath / templateBePath as given (NULL when unset), and the files' text, read by
	 * the edge when the service is submitted (snippets_service_templates), NULL before. */
	char *template_fe_path, *template_be_path;
	char *template_fe, *template_be;
	struct params raw; /* the parameters it was parsed from, for re-parsing and get-services */
	uint64_t policy_hash; /* params_policy_hash(&raw), 0 when not computed */
};

/* Settings from DFP's environment variables that the parser needs (§3). Borrowed strings. */
struct labels_ctx {
	const char *separator;	   /* SEPARATOR, default "," */
	const char *domain_algo;   /* SERVICE_DOMAIN_ALGO, default "hdr_beg(host)" */
	bool https_only;	   /* HTTPS_ONLY */
	const char *users;	   /* USERS: "u:p,u2:p2", password source for `users=name` */
	bool users_pass_encrypted; /* USERS_PASS_ENCRYPTED */
	bool deny_backend_extra;   /* ALLOW_BACKEND_EXTRA=false: backendExtra is refused */
	/* Reads the usersSecret file dfp_users_<name> into *ret (caller frees); NULL: refused. */
	int (*read_users_secret)(void *arg, const char *name, char **ret, char **reterr);
	void *secret_arg;
	bool ca_file; /* CA_FILE is set: verifyClientSsl can be honoured */
	/* Ports a reqMode tcp/sni srcPort must not take, because something else binds them
	 * (docs/tcp.md): DEFAULT_PORTS and BIND_PORTS lists, the API port (0: none) and the stats
	 * frontend's STATS_PORT (NULL or "": none). */
	const char *default_ports;
	const char *bind_ports;
	long api_port;
	const char *stats_port;
};

void service_free(struct service *s);
/* DFP's userAgent ACL name part: the values joined with '_', other than letters and digits
 * replaced by '_' ("Mozilla/5.0,curl" -> "Mozilla_5_0_curl"). Caller frees. */
char *service_user_agent_acl(const struct strv *ua);
struct service *service_dup(const struct service *s);

/*
 * DFP's JSON shape of a service (Go field names as keys, §2). Caller frees with cJSON_Delete.
 * The object starts at "AclName": in DFP's answers the Service is embedded in server.Response,
 * whose Status, Message and ServiceName come first (ServiceName shadows the Service's own), so
 * the API prepends those three.
 */
struct cJSON *service_to_json(const struct service *s);
/* The same with "ServiceName" at its Go position, for a Service marshalled on its own
 * (config?type=json values). */
struct cJSON *service_to_json_named(const struct service *s);
