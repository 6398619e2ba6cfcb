/* SPDX-License-Identifier: MIT */
/*
 * config: one table of options (flag, environment variable, default, validator) fills an
 * immutable struct config. Docker Flow Proxy's flags and environment variables are entries of that
 * table, with the defaults of DFP's image (reference docker-flow-proxy.md §0, §3). For variables
 * DFP reads as secrets, /run/secrets/dfp_<lowercase name> wins over the environment.
 */
#pragma once

#include "flowproxy/util.h"

/* Docker's embedded DNS, as in DFP's image. */
#define RESOLVERS_DEFAULT "nameserver dns 127.0.0.11:53"

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

	/* FILTER_PROXY_INSTANCE_NAME: only services whose proxyInstanceName is ours */
	bool filter_proxy_instance_name;
	/* Start-up from the Swarm Listener (LISTENER_ADDRESS, docs/swarm.md) */
	long reload_interval; /* RELOAD_INTERVAL, ms */
	bool repeat_reload;   /* REPEAT_RELOAD */
	long reload_attempts; /* RELOAD_ATTEMPTS, per address when there are several */
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
	/* TLS (docs/tls.md) */
	char *certs_dir;	     /* CERTS_DIR, --certs-dir: DFP's /certs */
	char *crt_list_path;	     /* CRT_LIST_PATH: the user's own crt-list, "" for ours */
	char *preferred_certificate; /* PREFERRED_CERTIFICATE: globs, comma-separated */
	char *ca_file;		     /* CA_FILE: client certificates' CA, "" for none */
	bool enable_h2;		     /* ENABLE_H2: alpn h2,http/1.1 (DFP's image: true) */
	bool check_resolvers;
	bool do_not_resolve_addr;
	char *resolvers;
	char *resolve_servers; /* RESOLVE_SERVERS: auto|true|false */
	bool runtime_resolve;  /* its outcome: host-name servers get `resolvers docker` */
	char *stats_user;
	char *stats_pass;
	char *stats_uri;
	char *stats_port;
	/* STATS_USER_ENV, STATS_PASS_ENV, STATS_URI_ENV: the names of the variables (and secrets
	 * dfp_<lowercase name>) the three above are read from; config_load has applied them. */
	char *stats_user_env, *stats_pass_env, *stats_uri_env;
	bool debug;
	bool debug_errors_only;	 /* DEBUG_ERRORS_ONLY: print only failed requests */
	char *debug_http_format; /* DEBUG_HTTP_FORMAT: HAProxy log-format of the printed line */
	char *debug_tcp_format;	 /* DEBUG_TCP_FORMAT: the same for tcp-mode frontends */
	char *default_protocol;	 /* DEFAULT_PROTOCOL: reqMode of DFP_SERVICE_* without one */
	char *capture_request_header; /* CAPTURE_REQUEST_HEADER: "Name:len,..." */
	char *compression_algo;	      /* COMPRESSION_ALGO: "gzip deflate", "" for none */
	char *compression_type;	      /* COMPRESSION_TYPE: MIME types, with COMPRESSION_ALGO */
	bool terminate_on_reload;     /* TERMINATE_ON_RELOAD: old workers stopped at once */
	bool display_config_on_error; /* DISPLAY_CONFIG_ON_ERROR: log a rejected haproxy.cfg */
	bool skip_address_validation; /* SKIP_ADDRESS_VALIDATION: false checks names */
	bool healthcheck;	      /* HEALTHCHECK: read by DFP's check.sh only */
	long reconfigure_attempts;    /* RECONFIGURE_ATTEMPTS: accepted, see docs/settings.md */
	long dns_lookup_pause_ms; /* DNS_LOOKUP_PAUSE_MS: before the certificate sync (certsync.h) */
	char *hard_stop_after;	  /* flowproxy: old workers' upper bound, default "30s" */
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
