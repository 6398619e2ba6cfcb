// SPDX-License-Identifier: MIT
/*
 * config: the option table. Each row names a flag, an environment variable, a default and a
 * type; config_load walks it once for the environment (and secrets) and once for the flags, so
 * that flags win over the environment and the environment over defaults.
 */
#include "flowproxy/config.h"
#include "flowproxy/autoscale.h"

#include <limits.h>
#include <unistd.h>
#include <stddef.h>
#include <strings.h>

/* OPT_MS: a duration (500ms, 1s, 2m; a bare number is seconds) stored as ms in a long. OPT_CHOICE:
 * a string that must be one of the words of help's leading "a|b|c:". */
enum opt_type { OPT_STR = 0, OPT_LONG, OPT_BOOL, OPT_MS, OPT_CHOICE };

struct opt {
	const char *flag; /* long flag without "--", NULL if none */
	char short_flag;  /* 0 if none */
	const char *env;  /* environment variable, NULL if none */
	const char *def;  /* default as text */
	enum opt_type type;
	size_t offset;
	long min, max; /* OPT_LONG bounds */
	bool secret;   /* DFP reads it with getSecretOrEnvVar (§3) */
	const char *help;
};

#define S(f)	      OPT_STR, offsetof(struct config, f), 0, 0
#define L(f, lo, hi)  OPT_LONG, offsetof(struct config, f), lo, hi
#define B(f)	      OPT_BOOL, offsetof(struct config, f), 0, 0
#define MS(f, lo, hi) OPT_MS, offsetof(struct config, f), lo, hi
#define C(f)	      OPT_CHOICE, offsetof(struct config, f), 0, 0

/* Defaults are those of Docker Flow Proxy's image where DFP has the variable. */
static const struct opt opts[] = {
	{"ip", 'i', "IP", "0.0.0.0", S(ip), false, "address the API listens on"},
	{"port", 'p', "PORT", "8080", L(port, 1, 65535), false, "port the API listens on"},
	{"api-conn-per-client", 0, "API_CONN_PER_CLIENT", "64", L(api_conn_per_client, 0, 1000000),
	 false, "API connections one client address may hold (0: no limit)"},
	{"api-conn-max", 0, "API_CONN_MAX", "4096", L(api_conn_max, 16, 1000000), false,
	 "API connections in all (lowered to what the open-files limit allows)"},
	{"api-request-timeout", 0, "API_REQUEST_TIMEOUT", "10", L(api_request_timeout, 1, 3600),
	 false, "seconds a client has to send a whole request, headers and body"},
	{"api-token", 0, "API_TOKEN", "", S(api_token), true,
	 "token the endpoints that change state require (Bearer or ?token=; empty: none)"},
	{"configs-path", 'c', "CONFIGS_PATH", "/cfg", S(configs_path), false,
	 "directory of the generated haproxy.cfg"},
	{"templates-path", 't', "TEMPLATES_PATH", FLOWPROXY_TEMPLATES_DIR, S(templates_path), false,
	 "directory of the base template and fragments"},
	{"cfg-template-path", 0, "CFG_TEMPLATE_PATH", "haproxy.tmpl", S(cfg_template_path), false,
	 "base template (absolute, or relative to the templates path)"},
	{"errorfiles-path", 0, "ERRORFILES_PATH", FLOWPROXY_ERRORFILES_DIR, S(errorfiles_path),
	 false, "directory of the HTTP error pages 400.http ... 504.http (none: HAProxy's own)"},
	{"run-dir", 0, "FLOWPROXY_RUN_DIR", "/var/run/flowproxy", S(run_dir), false,
	 "directory of HAProxy's master and stats sockets"},
	{"services-file", 'f', "SERVICES_FILE", "", S(services_file), false,
	 "local mode: JSON file of services to route (docs/local-mode.md)"},
	{"haproxy", 0, "HAPROXY_BIN", "haproxy", S(haproxy_bin), false, "HAProxy binary"},
	{"secrets-dir", 0, "FLOWPROXY_SECRETS_DIR", "/run/secrets", S(secrets_dir), false,
	 "where dfp_<name> secrets are read from"},
	{"service-name", 'n', "SERVICE_NAME", "proxy", S(service_name), false,
	 "the proxy's own service name"},
	{"listener-address", 'l', "LISTENER_ADDRESS", "", S(listener_address), false,
	 "Swarm Listener address(es), comma-separated"},
	{"proxy-instance-name", 0, "PROXY_INSTANCE_NAME", "docker-flow", S(proxy_instance_name),
	 false, "compared with a service's proxyInstanceName"},
	{NULL, 0, "FILTER_PROXY_INSTANCE_NAME", "false", B(filter_proxy_instance_name), false,
	 "ignore services whose proxyInstanceName is not PROXY_INSTANCE_NAME (any case)"},
	{NULL, 0, "RELOAD_INTERVAL", "5000", L(reload_interval, 0, 86400000), false,
	 "ms between fetches from the Swarm Listener (0: one fetch only)"},
	{NULL, 0, "REPEAT_RELOAD", "false", B(repeat_reload), false,
	 "keep fetching from the Swarm Listener every RELOAD_INTERVAL"},
	{NULL, 0, "RELOAD_ATTEMPTS", "5", L(reload_attempts, 1, 1000000), false,
	 "fetches tried per Swarm Listener when LISTENER_ADDRESS has several"},
	{NULL, 0, "SEPARATOR", ",", S(separator), false, "list separator of parameters"},
	{NULL, 0, "DEFAULT_PORTS", "80,443:ssl", S(default_ports), true,
	 "bind ports of frontend services"},
	{NULL, 0, "BIND_PORTS", "", S(bind_ports), true, "extra bind ports"},
	{"bind-address", 0, "BIND_ADDRESS", "*", S(bind_address), false,
	 "address of the frontend binds"},
	{NULL, 0, "DEFAULT_REQ_MODE", "http", C(default_req_mode), true,
	 "http|tcp: mode of frontend services"},
	{NULL, 0, "DEFAULT_PROTOCOL", "http", C(default_protocol), true,
	 "http|tcp|sni: reqMode of a DFP_SERVICE_* service that sets none"},
	{NULL, 0, "CONNECTION_MODE", "http-keep-alive", S(connection_mode), true,
	 "option in defaults"},
	{NULL, 0, "TIMEOUT_CONNECT", "5", L(timeout_connect, 0, 2147483), true, "seconds"},
	{NULL, 0, "TIMEOUT_CLIENT", "20", L(timeout_client, 0, 2147483), true, "seconds"},
	{NULL, 0, "TIMEOUT_SERVER", "20", L(timeout_server, 0, 2147483), true, "seconds"},
	{NULL, 0, "TIMEOUT_QUEUE", "30", L(timeout_queue, 0, 2147483), true, "seconds"},
	{NULL, 0, "TIMEOUT_TUNNEL", "3600", L(timeout_tunnel, 0, 2147483), true, "seconds"},
	{NULL, 0, "TIMEOUT_HTTP_REQUEST", "5", L(timeout_http_request, 0, 2147483), true,
	 "seconds"},
	{NULL, 0, "TIMEOUT_HTTP_KEEP_ALIVE", "15", L(timeout_http_keep_alive, 0, 2147483), true,
	 "seconds"},
	{NULL, 0, "SERVICE_DOMAIN_ALGO", "hdr_beg(host)", S(service_domain_algo), false,
	 "default domain ACL fetch"},
	{NULL, 0, "HTTPS_ONLY", "false", B(https_only), false, "force httpsOnly everywhere"},
	{NULL, 0, "USERS", "", S(users), true, "global basic auth users u:p,u2:p2"},
	{NULL, 0, "USERS_PASS_ENCRYPTED", "false", B(users_pass_encrypted), true,
	 "USERS passwords are crypt hashes"},
	{NULL, 0, "EXTRA_GLOBAL", "", S(extra_global), true, "extra global lines, comma-separated"},
	{NULL, 0, "EXTRA_FRONTEND", "", S(extra_frontend), true,
	 "extra frontend lines, comma-separated"},
	{NULL, 0, "SSL_BIND_OPTIONS", "no-sslv3", S(ssl_bind_options), true,
	 "ssl-default-*-options"},
	{NULL, 0, "SSL_BIND_CIPHERS",
	 "ECDH+AESGCM:ECDH+CHACHA20:DH+AESGCM:ECDH+AES256:DH+AES256:ECDH+AES128:DH+AES:RSA+AESGCM:"
	 "RSA+AES:!aNULL:!MD5:!DSS",
	 S(ssl_bind_ciphers), true, "ssl-default-*-ciphers"},
	{"certs-dir", 0, "CERTS_DIR", "/certs", S(certs_dir), false,
	 "certificates (PEM: certificate chain and private key) served on the :ssl ports, and "
	 "where PUT /cert and serviceCert write (docs/tls.md)"},
	{NULL, 0, "CRT_LIST_PATH", "", S(crt_list_path), false,
	 "your own crt-list for the :ssl ports (empty: flowproxy writes <configs-path>/"
	 "crt-list.txt from the certificates found)"},
	{NULL, 0, "PREFERRED_CERTIFICATE", "", S(preferred_certificate), false,
	 "globs (comma-separated, '*' only) of certificate file names listed first; the very "
	 "first is the default for clients without SNI"},
	{NULL, 0, "CA_FILE", "", S(ca_file), false,
	 "CA bundle that client certificates are verified against (verifyClientSsl)"},
	{NULL, 0, "ENABLE_H2", "true", B(enable_h2), false,
	 "offer HTTP/2 on the :ssl ports (alpn h2,http/1.1; false: http/1.1 only)"},
	{NULL, 0, "CHECK_RESOLVERS", "false", B(check_resolvers), false,
	 "every server gets check resolvers docker (health checks, names re-resolved)"},
	{"resolve-servers", 0, "RESOLVE_SERVERS", "auto", C(resolve_servers), false,
	 "auto|true|false: servers named by host name are re-resolved at run time through the "
	 "resolvers section, so a name that does not resolve yet gets traffic once it does (auto: "
	 "when running in a container, or when RESOLVERS is set)"},
	{NULL, 0, "DO_NOT_RESOLVE_ADDR", "false", B(do_not_resolve_addr), false,
	 "accepted for compatibility: servers never need to resolve at start"},
	{NULL, 0, "RESOLVERS", RESOLVERS_DEFAULT, S(resolvers), true,
	 "lines of resolvers docker, comma-separated"},
	{NULL, 0, "STATS_USER", "", S(stats_user), true, "stats page user (with STATS_PASS)"},
	{NULL, 0, "STATS_PASS", "", S(stats_pass), true, "stats page password"},
	{NULL, 0, "STATS_URI", "/admin?stats", S(stats_uri), true, "stats page URI"},
	{NULL, 0, "STATS_USER_ENV", "STATS_USER", S(stats_user_env), false,
	 "variable (and secret dfp_<lowercase>) holding the stats user"},
	{NULL, 0, "STATS_PASS_ENV", "STATS_PASS", S(stats_pass_env), false,
	 "variable (and secret) holding the stats password"},
	{NULL, 0, "STATS_URI_ENV", "STATS_URI", S(stats_uri_env), false,
	 "variable (and secret) holding the stats URI"},
	{NULL, 0, "STATS_PORT", "", S(stats_port), true, "separate stats port"},
	{"debug", 0, "DEBUG", "false", B(debug), true,
	 "print one line per request on stdout (HAPRoxy: ...)"},
	{NULL, 0, "DEBUG_ERRORS_ONLY", "false", B(debug_errors_only), true,
	 "with DEBUG, print only failed requests (5xx, aborts, timeouts)"},
	{NULL, 0, "DEBUG_HTTP_FORMAT", "", S(debug_http_format), true,
	 "HAProxy log-format of DEBUG's lines (empty: HAProxy's httplog)"},
	{NULL, 0, "DEBUG_TCP_FORMAT", "", S(debug_tcp_format), true,
	 "the same for tcp-mode frontends (empty: HAProxy's tcplog)"},
	{NULL, 0, "CAPTURE_REQUEST_HEADER", "", S(capture_request_header), false,
	 "request headers captured in frontend services, Name:length,..."},
	{NULL, 0, "COMPRESSION_ALGO", "", S(compression_algo), false,
	 "compression algo in defaults (identity gzip deflate raw-deflate)"},
	{NULL, 0, "COMPRESSION_TYPE", "", S(compression_type), false,
	 "compression type in defaults: MIME types, with COMPRESSION_ALGO"},
	{NULL, 0, "TERMINATE_ON_RELOAD", "false", B(terminate_on_reload), false,
	 "stop old HAProxy workers at once after a reload instead of letting them finish"},
	{NULL, 0, "DISPLAY_CONFIG_ON_ERROR", "false", B(display_config_on_error), false,
	 "log the configuration HAProxy rejected"},
	{NULL, 0, "SKIP_ADDRESS_VALIDATION", "true", B(skip_address_validation), false,
	 "false: a reconfigure fails when serviceName or outboundHostname does not resolve"},
	{NULL, 0, "HEALTHCHECK", "true", B(healthcheck), false,
	 "accepted for compatibility (DFP's image health check script)"},
	{NULL, 0, "RECONFIGURE_ATTEMPTS", "20", L(reconfigure_attempts, 1, 1000), false,
	 "accepted for compatibility: a reload is confirmed once, never retried"},
	{NULL, 0, "DNS_LOOKUP_PAUSE_MS", "0", L(dns_lookup_pause_ms, 0, 3600000), false,
	 "ms a new replica waits, once HAProxy runs, before it takes its peers' certificates"},
	{"hard-stop-after", 0, "HARD_STOP_AFTER", "30s", S(hard_stop_after), false,
	 "upper bound on an old HAProxy worker's life after a reload"},
	{"allow-backend-extra", 0, "ALLOW_BACKEND_EXTRA", "true", B(allow_backend_extra), false,
	 "accept raw backendExtra lines"},
	{"telemetry", 0, "TELEMETRY", "true", B(telemetry), false,
	 "stream every request's timings from HAProxy"},
	{"telemetry-window", 0, "TELEMETRY_WINDOW", "300", L(telemetry_window, 1, 86400), false,
	 "seconds of the response-time window"},
	{"telemetry-slice-ms", 0, "TELEMETRY_SLICE_MS", "1000", L(telemetry_slice_ms, 10, 3600000),
	 false, "width of one window slice in ms"},
	{"telemetry-ring-size", 0, "TELEMETRY_RING_SIZE", "1048576",
	 L(telemetry_ring_size, 65536, 1073741824), false, "bytes of HAProxy's request ring"},
	{"telemetry-grace-ms", 0, "TELEMETRY_GRACE_MS", "30000", L(telemetry_grace_ms, 0, 600000),
	 false, "longest an old worker is followed after a reload (it is let go once idle)"},
	{"stats-interval", 0, "STATS_INTERVAL", "2", L(stats_interval, 0, 3600), false,
	 "seconds between show stat polls (0: never)"},
	{"autoscale", 0, "AUTOSCALE", "on", C(autoscale), false,
	 "on|dry-run|off: scale services from their alertIf policies; dry-run decides, reports "
	 "and notifies but scales nothing (docs/autoscaling.md)"},
	{"autoscale-interval", 0, "AUTOSCALE_INTERVAL", "1s",
	 MS(autoscale_interval_ms, 10, 3600000), false,
	 "how often every policy is evaluated (500ms, 1s, 1m)"},
	{"autoscale-min-requests", 0, "AUTOSCALE_MIN_REQUESTS", "20",
	 L(autoscale_min_requests, 1, 1000000000), false,
	 "requests a policy's window needs before it decides anything"},
	{"notify-webhook-url", 0, "NOTIFY_WEBHOOK_URL", "", S(notify_webhook_url), true,
	 "URLs (comma-separated) that get a Slack-style POST for every scale, limit, failure and "
	 "alert"},
	{"scale-webhook-url", 0, "SCALE_WEBHOOK_URL", "", S(scale_webhook_url), true,
	 "URL called with service=<name>&scale=<+-N> to scale a service with a replicas "
	 "parameter"},
	{"demo-load", 0, "DEMO_LOAD", "", S(demo_load), false,
	 "local demo: path on the first DEFAULT_PORTS port that gets a load of fast, then slow, "
	 "then fast responses on 127.0.0.1 (empty: none)"},
	{"demo-load-rate", 0, "DEMO_LOAD_RATE", "25", L(demo_load_rate, 1, 1000), false,
	 "requests per second of the demo load"},
	{"demo-load-phase", 0, "DEMO_LOAD_PHASE", "40", L(demo_load_phase, 1, 3600), false,
	 "seconds of each fast or slow phase of the demo load"},
	{"demo-load-duration", 0, "DEMO_LOAD_DURATION", "600", L(demo_load_duration, 1, 86400),
	 false, "seconds after which the demo load stops"},
	{"swarm", 0, "SWARM", "false", B(swarm), false,
	 "route the swarm's services labelled com.df.notify=true"},
	{"docker-host", 0, "DOCKER_HOST", "", S(docker_host), false,
	 "Docker Engine (unix:///var/run/docker.sock when empty)"},
	{"swarm-networks", 0, "SWARM_NETWORKS", "", S(swarm_networks), false,
	 "networks whose task addresses are used, comma-separated (empty: this container's "
	 "networks, else any but ingress)"},
	{"resync-interval", 0, "RESYNC_INTERVAL", "30", L(resync_interval, 1, 86400), false,
	 "seconds between full resyncs with the swarm"},
	{NULL, 0, "DF_NOTIFY_CREATE_SERVICE_URL", "", S(notify_create_urls), false,
	 "swarm mode: URLs told about new or changed services, comma-separated"},
	{NULL, 0, "DF_NOTIFY_REMOVE_SERVICE_URL", "", S(notify_remove_urls), false,
	 "swarm mode: URLs told about removed services, comma-separated"},
	{NULL, 0, "DF_NOTIFY_CREATE_SERVICE_METHOD", "GET", S(notify_create_methods), false,
	 "methods of the create URLs, comma-separated"},
	{NULL, 0, "DF_NOTIFY_REMOVE_SERVICE_METHOD", "GET", S(notify_remove_methods), false,
	 "methods of the remove URLs, comma-separated"},
	{NULL, 0, "DF_RETRY", "50", L(df_retry, 0, 100000), false,
	 "retries of a failed notification"},
	{NULL, 0, "DF_RETRY_INTERVAL", "5", L(df_retry_interval, 0, 3600), false,
	 "seconds between notification retries (0: no retry)"},
	{"log-level", 'v', "LOG_LEVEL", "2", L(log_level, 0, 3), false,
	 "0 error, 1 warn, 2 info, 3 debug"},
};

static int parse_bool_text(const char *v, bool *ret)
{
	static const char *yes[] = {"1", "t", "T", "TRUE", "true", "True", "on", "yes"};
	static const char *no[] = {"0", "f", "F", "FALSE", "false", "False", "off", "no", ""};

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
		if (streq(v, yes[i])) {
			*ret = true;
			return 0;
		}
	for (size_t i = 0; i < ARRAY_SIZE(no); i++)
		if (streq(v, no[i])) {
			*ret = false;
			return 0;
		}
	return -EINVAL;
}

static int opt_set(struct config *c, const struct opt *o, const char *v, const char *source,
		   char **reterr)
{
	void *field = (char *)c + o->offset;

	for (const char *p = v; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return errmsg_set(reterr, -EINVAL,
					  "%s: value must not contain control bytes", source);
	switch (o->type) {
	case OPT_STR: {
		char **s = field;
		free(*s);
		*s = xstrdup(v);
		return 0;
	}
	case OPT_LONG: {
		long n;
		if (parse_long(v, o->min, o->max, &n) < 0)
			return errmsg_set(reterr, -EINVAL, "%s: '%s' is not a number in %ld..%ld",
					  source, v, o->min, o->max);
		*(long *)field = n;
		return 0;
	}
	case OPT_BOOL:
		if (parse_bool_text(v, field) < 0)
			return errmsg_set(reterr, -EINVAL, "%s: '%s' is not a boolean", source, v);
		return 0;
	case OPT_MS: {
		long n;
		uint32_t ms = 0;
		if (parse_long(v, 0, LONG_MAX / 1000, &n) == 0 && n <= UINT32_MAX / 1000)
			ms = (uint32_t)n * 1000;
		else if (autoscale_parse_duration(v, &ms) < 0)
			return errmsg_set(reterr, -EINVAL,
					  "%s: '%s' is not a duration (500ms, 1s, 2m)", source, v);
		if ((long)ms < o->min || (long)ms > o->max)
			return errmsg_set(reterr, -EINVAL, "%s: '%s' is not between %ldms and %lds",
					  source, v, o->min, o->max / 1000);
		*(long *)field = (long)ms;
		return 0;
	}
	case OPT_CHOICE: {
		size_t words = strcspn(o->help, ":");
		size_t n = strlen(v);
		for (const char *w = o->help; w < o->help + words;) {
			size_t k = strcspn(w, "|:");
			if (k == n && strncmp(w, v, n) == 0) {
				char **s = field;
				free(*s);
				*s = xstrdup(v);
				return 0;
			}
			w += k + 1;
		}
		return errmsg_set(reterr, -EINVAL, "%s: '%s' is not one of %.*s", source, v,
				  (int)words, o->help);
	}
	}
	return -EINVAL;
}

static const char *env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp && *envp; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/* Reads /run/secrets/dfp_<lowercase name>, trailing newlines trimmed; NULL if absent. */
static char *secret_get(const char *dir, const char *name)
{
	_cleanup_free_ char *lower = xstrdup(name);
	char *data = NULL;

	for (char *p = lower; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	_cleanup_free_ char *path = xasprintf("%s/dfp_%s", dir, lower);
	if (read_file(path, 65536, &data, NULL) < 0)
		return NULL;
	size_t l = strlen(data);
	while (l > 0 && (data[l - 1] == '\n' || data[l - 1] == '\r'))
		data[--l] = '\0';
	return data;
}

void config_done(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
		if (opts[i].type == OPT_STR || opts[i].type == OPT_CHOICE) {
			char **s = (char **)((char *)c + opts[i].offset);
			free(*s);
			*s = NULL;
		}
}

char *config_help(const char *prog)
{
	struct strbuf b;

	strbuf_init(&b);
	strbuf_printf(
		&b,
		"Usage: %s [server|version] [options]\n"
		"       %s top [--api URL] [--interval S] [--window S] [--once]\n"
		"       docker-flow-proxy server [options]   (Docker Flow Proxy's entry point)\n"
		"Keeps HAProxy's configuration in step with services described by com.df.* "
		"parameters.\n\nOptions (flag, environment variable, default):\n",
		prog, prog);
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
		const struct opt *o = &opts[i];
		char flag[64] = "";

		if (o->flag && o->short_flag)
			snprintf(flag, sizeof(flag), "-%c, --%s", o->short_flag, o->flag);
		else if (o->flag)
			snprintf(flag, sizeof(flag), "    --%s", o->flag);
		strbuf_printf(&b, "  %-28s %-24s %s", flag, o->env ? o->env : "",
			      o->help ? o->help : "");
		if (o->def && *o->def && strlen(o->def) < 40)
			strbuf_printf(&b, " [%s]", o->def);
		strbuf_putc(&b, '\n');
	}
	strbuf_puts(&b, "  -h, --help                   this text\n");
	return strbuf_steal(&b);
}

static bool is_env_name(const char *s)
{
	if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
		return false;
	for (; *s; s++)
		if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

/* RFC 7230 token characters: header names, and the halves of a MIME type. */
static bool is_token(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') || strchr("!#$%&'*+-.^_`|~", s[i])))
			return false;
	return true;
}

/*
 * STATS_USER_ENV, STATS_PASS_ENV, STATS_URI_ENV (§3): DFP reads the stats settings from the
 * variables, or dfp_<lowercase name> secrets, these name. A name other than the default replaces
 * the value read under the default name: an unset variable means the default (stats off).
 */
static int apply_stats_env(struct config *c, char *const *envp, char **reterr)
{
	static const struct {
		const char *var, *def_name, *def_value;
		size_t name_off, value_off;
	} ind[] = {
		{"STATS_USER_ENV", "STATS_USER", "", offsetof(struct config, stats_user_env),
		 offsetof(struct config, stats_user)},
		{"STATS_PASS_ENV", "STATS_PASS", "", offsetof(struct config, stats_pass_env),
		 offsetof(struct config, stats_pass)},
		{"STATS_URI_ENV", "STATS_URI", "/admin?stats",
		 offsetof(struct config, stats_uri_env), offsetof(struct config, stats_uri)},
	};

	for (size_t i = 0; i < ARRAY_SIZE(ind); i++) {
		const char *name = *(char **)((char *)c + ind[i].name_off);
		char **value = (char **)((char *)c + ind[i].value_off);

		if (!is_env_name(name))
			return errmsg_set(reterr, -EINVAL,
					  "%s: '%s' is not the name of an environment variable",
					  ind[i].var, name);
		if (streq(name, ind[i].def_name))
			continue;
		char *v = secret_get(c->secrets_dir, name);
		if (!v) {
			const char *e = env_get(envp, name);
			v = xstrdup(e && *e ? e : ind[i].def_value);
		}
		for (const char *p = v; *p; p++)
			if ((unsigned char)*p < 0x20) {
				free(v);
				return errmsg_set(
					reterr, -EINVAL,
					"%s (named by %s): value must not contain control "
					"bytes",
					name, ind[i].var);
			}
		free(*value);
		*value = v;
	}
	return 0;
}

/* Checks of a value against the HAProxy position it is written to, and of combinations. */
static int config_check(const struct config *c, char **reterr)
{
	if (strpbrk(c->stats_user, " \t#\"'\\") || strchr(c->stats_user, ':'))
		return errmsg_set(reterr, -EINVAL,
				  "STATS_USER: the user must not contain spaces, quotes, '#', '\\' "
				  "or ':'");
	if (strpbrk(c->stats_pass, " \t#\"'\\"))
		return errmsg_set(
			reterr, -EINVAL,
			"STATS_PASS: the password must not contain spaces, quotes, '#' or "
			"'\\'");
	if (c->stats_uri[0] != '/' || strpbrk(c->stats_uri, " \t#\"'\\"))
		return errmsg_set(
			reterr, -EINVAL,
			"STATS_URI: '%s' must start with '/' and contain no spaces, quotes, "
			"'#' or '\\'",
			c->stats_uri);
	long n;
	if (str_set(c->stats_port) && parse_long(c->stats_port, 1, 65535, &n) < 0)
		return errmsg_set(reterr, -EINVAL, "STATS_PORT: '%s' is not a port number",
				  c->stats_port);

	/* compression algo <word>...: HAProxy 2.6's algorithms (configuration.txt 4.2). */
	static const char *const algos[] = {"identity", "gzip", "deflate", "raw-deflate"};
	for (const char *p = c->compression_algo; *p;) {
		size_t k = strcspn(p, " ");
		bool known = k == 0;
		for (size_t i = 0; i < ARRAY_SIZE(algos) && !known; i++)
			known = strlen(algos[i]) == k && strncmp(algos[i], p, k) == 0;
		if (!known)
			return errmsg_set(reterr, -EINVAL,
					  "COMPRESSION_ALGO: '%.*s' is not one of identity, gzip, "
					  "deflate, raw-deflate",
					  (int)k, p);
		p += k + (p[k] == ' ');
	}
	for (const char *p = c->compression_type; *p;) {
		size_t k = strcspn(p, " ");
		const char *slash = memchr(p, '/', k);
		if (k && (!slash || !is_token(p, (size_t)(slash - p)) ||
			  !is_token(slash + 1, k - (size_t)(slash - p) - 1)))
			return errmsg_set(reterr, -EINVAL,
					  "COMPRESSION_TYPE: '%.*s' is not a MIME type (text/html)",
					  (int)k, p);
		p += k + (p[k] == ' ');
	}
	if (str_set(c->compression_type) && !str_set(c->compression_algo))
		return errmsg_set(
			reterr, -EINVAL,
			"COMPRESSION_TYPE needs COMPRESSION_ALGO (DFP ignored it without)");

	/* capture request header <name> len <length> (configuration.txt 4.2). */
	for (const char *p = c->capture_request_header; *p;) {
		size_t k = strcspn(p, ",");
		const char *colon = memchr(p, ':', k);
		_cleanup_free_ char *len =
			colon ? xstrndup(colon + 1, k - (size_t)(colon - p) - 1) : NULL;
		if (k && (!colon || !is_token(p, (size_t)(colon - p)) ||
			  parse_long(len, 1, 65535, &n) < 0))
			return errmsg_set(
				reterr, -EINVAL,
				"CAPTURE_REQUEST_HEADER: '%.*s' is not Name:length (a header "
				"name, a length in 1..65535)",
				(int)k, p);
		p += k + (p[k] == ',');
	}
	/* hard-stop-after <time>: digits and one of HAProxy's time units (configuration.txt 2.5). */
	size_t digits = strspn(c->hard_stop_after, "0123456789");
	static const char *const units[] = {"", "us", "ms", "s", "m", "h", "d"};
	bool unit_ok = false;
	for (size_t i = 0; i < ARRAY_SIZE(units) && digits; i++)
		unit_ok |= streq(c->hard_stop_after + digits, units[i]);
	if (!unit_ok)
		return errmsg_set(reterr, -EINVAL,
				  "HARD_STOP_AFTER: '%s' is not a time (30s, 500ms, 2m)",
				  c->hard_stop_after);
	if (c->debug && !c->telemetry)
		return errmsg_set(
			reterr, -EINVAL,
			"DEBUG=true needs TELEMETRY=true: the request lines are read from "
			"HAProxy's request ring");
	return 0;
}

int config_load(struct config *c, int argc, char *const *argv, char *const *envp, char **reterr)
{
	int r;

	memset(c, 0, sizeof(*c));
	/* Pass 1: defaults, then the environment, then secrets. */
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
		const struct opt *o = &opts[i];
		if ((r = opt_set(c, o, o->def, o->env ? o->env : o->flag, reterr)) < 0)
			goto fail;
		const char *v = o->env ? env_get(envp, o->env) : NULL;
		if (v && *v && (r = opt_set(c, o, v, o->env, reterr)) < 0)
			goto fail;
	}
	/* The secrets directory itself may come from the flags. */
	for (int i = 0; i < argc; i++)
		if (str_startswith(argv[i], "--secrets-dir=")) {
			free(c->secrets_dir);
			c->secrets_dir = xstrdup(argv[i] + strlen("--secrets-dir="));
		}
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
		const struct opt *o = &opts[i];
		if (!o->secret || !o->env)
			continue;
		_cleanup_free_ char *v = secret_get(c->secrets_dir, o->env);
		if (v && (r = opt_set(c, o, v, o->env, reterr)) < 0)
			goto fail;
	}
	/* Pass 2: flags, "--name value", "--name=value", "-x value". */
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const struct opt *o = NULL;
		const char *v = NULL;

		if (streq(a, "-h") || streq(a, "--help")) {
			errmsg_set(reterr, 1, "%s", "");
			free(*reterr);
			*reterr = config_help("flowproxy");
			config_done(c);
			return 1;
		}
		if (str_startswith(a, "--")) {
			const char *name = a + 2;
			const char *eq = strchr(name, '=');
			size_t n = eq ? (size_t)(eq - name) : strlen(name);
			for (size_t j = 0; j < ARRAY_SIZE(opts); j++)
				if (opts[j].flag && strlen(opts[j].flag) == n &&
				    strncmp(opts[j].flag, name, n) == 0)
					o = &opts[j];
			if (eq)
				v = eq + 1;
		} else if (a[0] == '-' && a[1] && !a[2]) {
			for (size_t j = 0; j < ARRAY_SIZE(opts); j++)
				if (opts[j].short_flag == a[1])
					o = &opts[j];
		}
		if (!o) {
			r = errmsg_set(reterr, -EINVAL, "unknown option '%s' (see --help)", a);
			goto fail;
		}
		/* A boolean flag alone means true (--swarm); it never takes the next word. */
		if (!v && o->type == OPT_BOOL)
			v = "true";
		if (!v) {
			if (i + 1 >= argc) {
				r = errmsg_set(reterr, -EINVAL, "option '%s' needs a value", a);
				goto fail;
			}
			v = argv[++i];
		}
		if ((r = opt_set(c, o, v, a, reterr)) < 0)
			goto fail;
	}
	if ((r = apply_stats_env(c, envp, reterr)) < 0 || (r = config_check(c, reterr)) < 0)
		goto fail;
	/* Docker's DNS answers only inside a container; elsewhere the default nameserver would
	 * time out and take libc-resolved servers down. */
	c->runtime_resolve =
		streq(c->resolve_servers, "true") ||
		(streq(c->resolve_servers, "auto") &&
		 (!streq(c->resolvers, RESOLVERS_DEFAULT) || access("/.dockerenv", F_OK) == 0));
	return 0;
fail:
	config_done(c);
	return r;
}
