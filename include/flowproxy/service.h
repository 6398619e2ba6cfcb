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

/* A header rule: name plus value (value NULL for del*Header). */
struct service_header {
	char *name;
	char *value;
};

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
	char *user_def; /* userDef: free data for custom templates, NULL when unset */
};

struct service {
	char *name;	      /* serviceName, required */
	char *acl_name;	      /* aclName, defaults to name */
	char *domain_algo;    /* serviceDomainAlgo, defaults to the global SERVICE_DOMAIN_ALGO */
	char *discovery_type; /* discoveryType: NULL (task slots or the service's own host), "DNS"
			       * (server-template resolved through Docker's DNS) or "VIP" */
	bool redirect_when_http_proto;
	bool is_default_backend;
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
};

void service_free(struct service *s);
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
