/* SPDX-License-Identifier: MIT */
/*
 * config: one table of options (flag, environment variable, default, validator) fills an
 * immutable struct config. Docker Flow Proxy's flags and environment variables are entries of that
 * table, with the defaults of DFP's image (reference docker-flow-proxy.md §0, §3). For variables
 * DFP reads as secrets, /run/secrets/dfp_<lowercase name> wins over the environment.
 */
#pragma once

#include "flowproxy/util.h"

struct config {
	/* API (DFP: -i/--ip, -p/--port) */
	char *ip;
	long port;
	/* API limits (docs/api.md "Limits"): per client address, in all, and the deadline of a
	 * request's headers and body in seconds (also MHD's inactivity timeout). */
	long api_conn_per_client; /* 0: no per-client limit */
	long api_conn_max;
	long api_request_timeout;
	/* API_TOKEN (--api-token, secret dfp_api_token): what the endpoints that change state
	 * require, as a Bearer token or ?token= (docs/api.md "Token"); "" for none. */
	char *api_token;
	/* Paths */
	char *configs_path;	 /* -c/--configs-path: haproxy.cfg is written here */
	char *templates_path;	 /* -t/--templates-path: base template and fragments */
	char *cfg_template_path; /* CFG_TEMPLATE_PATH: base template, absolute or in templates_path */
	char *errorfiles_path;	 /* ERRORFILES_PATH: <code>.http pages, or none */
	char *run_dir;		 /* --run-dir: master.sock, stats.sock */
	char *services_file;	 /* --services-file: local mode services (JSON) */
	char *haproxy_bin;	 /* --haproxy */
	char *secrets_dir;	 /* --secrets-dir, default /run/secrets */
	/* DFP identity */
	char *service_name;	   /* -n/--service-name, SERVICE_NAME */
	char *listener_address;	   /* -l/--listener-address, LISTENER_ADDRESS */
	char *proxy_instance_name; /* PROXY_INSTANCE_NAME */
	/* DFP generation settings (§3) */
	char *separator;
	char *default_ports;
	char *bind_ports;
	char *bind_address; /* flowproxy: address of the frontend binds, default "*" */
	char *default_req_mode;
	char *connection_mode;
	long timeout_connect, timeout_client, timeout_server, timeout_queue, timeout_tunnel,
		timeout_http_request, timeout_http_keep_alive;
	char *service_domain_algo;
	bool https_only;
	char *users;
	bool users_pass_encrypted;
	char *extra_global;
	char *extra_frontend;
	char *ssl_bind_options;
	char *ssl_bind_ciphers;
	bool check_resolvers;
	bool do_not_resolve_addr;
	char *resolvers;
	char *stats_user;
	char *stats_pass;
	char *stats_uri;
	char *stats_port;
	bool debug;
	char *hard_stop_after; /* flowproxy: old workers' upper bound, default "30s" */
	bool allow_backend_extra;
	/* Telemetry (docs/telemetry.md) */
	bool telemetry;
	long telemetry_window;	  /* seconds of the sliding window */
	long telemetry_slice_ms;  /* width of one slice */
	long telemetry_ring_size; /* bytes of HAProxy's ring */
	long telemetry_grace_ms;  /* how long the old worker's stream is read after a reload */
	long stats_interval;	  /* seconds between `show stat` polls, 0: never */
	/* Autoscaler (docs/autoscaling.md) */
	char *autoscale; /* "on", "dry-run", "off" */
	long autoscale_interval_ms;
	long autoscale_min_requests;
	char *notify_webhook_url; /* comma-separated, "" for none */
	char *scale_webhook_url;  /* the webhook scaler, "" for none */
	/* The local demo's load (DEMO_LOAD: a path, "" for none) */
	char *demo_load;
	long demo_load_rate, demo_load_phase, demo_load_duration;
	/* Swarm provider */
	bool swarm;
	char *docker_host;
	char *swarm_networks;
	long resync_interval;
	/* Swarm Listener notifications (DF_NOTIFY_*, DF_RETRY*) */
	char *notify_create_urls;
	char *notify_remove_urls;
	char *notify_create_methods;
	char *notify_remove_methods;
	long df_retry;
	long df_retry_interval;
	long log_level;
};

/*
 * Fills *ret from argv (after the subcommand) and envp. Unknown flags, bad values and missing
 * arguments fail with -EINVAL and a message; `--help` returns 1 with the help text in *reterr.
 * Caller frees with config_done.
 */
int config_load(struct config *ret, int argc, char *const *argv, char *const *envp, char **reterr);
void config_done(struct config *c);
/* The help text for the option table (caller frees). */
char *config_help(const char *prog);
