// SPDX-License-Identifier: MIT
/*
 * main: the command line. `flowproxy [server] [options]` runs the daemon; started as
 * `docker-flow-proxy server` (by argv[0], or as the subcommand `flowproxy docker-flow-proxy
 * server`) it takes Docker Flow Proxy's flags and environment and behaves as DFP.
 */
#include "flowproxy/api.h"
#include "flowproxy/autoscaler.h"
#include "flowproxy/config.h"
#include "flowproxy/daemon.h"
#include "flowproxy/demoload.h"
#include "flowproxy/labels.h"
#include "flowproxy/certload.h"
#include "flowproxy/certsync.h"
#include "flowproxy/listener.h"
#include "flowproxy/local.h"
#include "flowproxy/log.h"
#include "flowproxy/loop.h"
#include "flowproxy/provider.h"
#include "flowproxy/scalers.h"
#include "flowproxy/top.h"
#include "flowproxy/webhook.h"

#include <libgen.h>
#include <signal.h>
#include <sys/resource.h>

extern char **environ;

static void submit_params(struct daemon *d, const struct params *p, const char *source)
{
	daemon_submit_params(d, p, source, NULL, 0, NULL, NULL, NULL, NULL, NULL);
}

static void print_urls(const struct daemon *d)
{
	const struct registry *reg = daemon_registry(d);
	const struct config *cfg = daemon_config(d);
	char port[16] = "80";

	sscanf(cfg->default_ports, "%15[0-9]", port);
	for (size_t i = 0; i < registry_count(reg); i++) {
		const struct service *s = registry_at(reg, i);
		for (size_t j = 0; j < s->n_dests; j++) {
			const struct service_dest *dst = &s->dests[j];
			const char *path = dst->paths.n ? dst->paths.v[0] : "/";
			if (dst->domains.n)
				printf("  %-16s curl -H 'Host: %s' http://127.0.0.1:%s%s\n",
				       s->name,
				       dst->domains.v[0][0] == '*' ? dst->domains.v[0] + 2
								   : dst->domains.v[0],
				       port, path);
			else
				printf("  %-16s curl http://127.0.0.1:%s%s%s\n", s->name, port,
				       path,
				       s->n_users ? "   (basic auth: curl -u <user>:<password>)"
						  : "");
		}
	}
	printf("  %-16s curl 'http://127.0.0.1:%ld/v1/docker-flow-proxy/config'\n", "(config)",
	       cfg->port);
	fflush(stdout);
}

/*
 * The API alone may hold API_CONN_MAX sockets (4096 by default), past the soft limit of 1024
 * that most systems start a process with: the soft limit goes up to the hard one. Every fd is
 * watched with epoll, never select, so descriptors above 1024 are fine here. HAProxy sets its
 * own from its maxconn; a local-mode backend inherits the higher soft limit.
 */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("cannot raise the open files limit to %llu: %s",
			 (unsigned long long)rl.rlim_max, strerror(errno));
}

static void on_sigterm(void *userdata)
{
	log_info("signal %d: stopping", SIGTERM);
	loop_quit(userdata);
}

static void on_sigint(void *userdata)
{
	log_info("signal %d: stopping", SIGINT);
	loop_quit(userdata);
}

struct start_state {
	struct loop *loop;
	struct daemon *d;
	bool failed;
};

static void start_failed(struct start_state *st)
{
	st->failed = true;
	loop_quit(st->loop);
}

/* HAProxy could not be started at all: nothing to serve, flowproxy exits with an error. */
static void on_started(void *userdata, int r)
{
	if (r < 0)
		start_failed(userdata);
}

static void start_haproxy(struct start_state *st)
{
	_cleanup_free_ char *err = NULL;

	if (daemon_start(st->d, on_started, st, &err) < 0) {
		log_error("cannot start HAProxy: %s", err);
		start_failed(st);
	}
}

/* The swarm's services are in (or the engine cannot be reached): HAProxy starts with them. */
static void on_provider_ready(void *userdata, int r, const char *err)
{
	struct start_state *st = userdata;

	if (r < 0) {
		log_error("swarm: %s", err);
		start_failed(st);
		return;
	}
	start_haproxy(st);
}

/* The autoscaler's notifications go to NOTIFY_WEBHOOK_URL. */
struct notify_sink {
	struct webhook *w;
	const char *urls;
};

static void on_notify(void *userdata, const char *text)
{
	struct notify_sink *n = userdata;
	_cleanup_free_ char *err = NULL;

	if (webhook_notify(n->w, n->urls, text, &err) < 0)
		log_warn("NOTIFY_WEBHOOK_URL: %s", err);
}

/* The first port of DEFAULT_PORTS: where the demo load sends its requests. */
static int first_port(const char *ports)
{
	long p = strtol(ports, NULL, 10);

	return p > 0 && p < 65536 ? (int)p : 80;
}

static void on_hup(void *userdata)
{
	daemon_submit(userdata, DAEMON_OP_RELOAD, NULL, NULL, 0, "", NULL, NULL);
}

/* Autoscaling's parts, made after the API and freed around it (autoscaling_stop). */
struct autoscaling {
	struct webhook *webhook; /* notifications and the scale webhook */
	struct scalers *scalers;
	struct autoscaler *autoscaler;
	struct demoload *demo;
	struct notify_sink sink;
	struct provider *provider; /* tells which flowproxy replica acts */
};

static void on_acting(void *userdata, bool acting, const char *who)
{
	autoscaler_set_acting(userdata, acting, who);
}

/* The scalers (local, webhook, docker), the notifications, the autoscaler and the demo load. */
static int autoscaling_start(struct autoscaling *as, struct loop *loop, struct daemon *d,
			     struct local *local, struct provider *provider, struct api *api,
			     char **reterr)
{
	const struct config *cfg = daemon_config(d);
	enum autoscaler_mode mode = AUTOSCALER_ON;
	int r;

	autoscaler_parse_mode(cfg->autoscale, &mode); /* config_load checked the word */
	/* Checked now, so that a bad URL stops flowproxy at start, not each notification. */
	if (str_set(cfg->notify_webhook_url)) {
		_cleanup_free_ char *err = NULL;
		if ((r = webhook_urls_check(cfg->notify_webhook_url, &err)) < 0)
			return errmsg_set(reterr, r, "NOTIFY_WEBHOOK_URL: %s", err);
	}
	if ((r = webhook_new(loop, NULL, &as->webhook, reterr)) < 0)
		return r;
	struct scalers_options so = {local, d, as->webhook, cfg->scale_webhook_url, provider};
	if ((r = scalers_new(loop, &so, &as->scalers, reterr)) < 0)
		return r;
	as->sink = (struct notify_sink){as->webhook, cfg->notify_webhook_url};
	struct autoscaler_options ao = {
		mode, cfg->autoscale_interval_ms, (uint64_t)cfg->autoscale_min_requests,
		str_set(cfg->notify_webhook_url) ? on_notify : NULL, &as->sink};
	if ((r = autoscaler_new(loop, d, scalers_set(as->scalers), &ao, &as->autoscaler, reterr)) <
	    0)
		return r;
	api_attach(api, as->autoscaler, as->webhook);
	if (provider) {
		as->provider = provider;
		provider_set_acting_cb(provider, on_acting, as->autoscaler);
	}
	log_info("autoscale: %s, every %ld ms, at least %ld requests per window%s%s",
		 autoscaler_mode_name(mode), cfg->autoscale_interval_ms,
		 cfg->autoscale_min_requests,
		 str_set(cfg->notify_webhook_url) ? ", notifications on" : "",
		 str_set(cfg->scale_webhook_url) ? ", scale webhook on" : "");
	if (str_set(cfg->demo_load)) {
		struct demoload_options dl = {
			.addr = "127.0.0.1",
			.port = first_port(cfg->default_ports),
			.path = cfg->demo_load,
			.rate = cfg->demo_load_rate,
			.concurrency = 64,
			.phase_s = cfg->demo_load_phase,
			.fast_ms = 5,
			.slow_ms = 150,
			.duration_s = cfg->demo_load_duration,
		};
		if ((r = demoload_new(loop, &dl, &as->demo, reterr)) < 0)
			return r;
	}
	return 0;
}

/* Before the API: the autoscaler answers its pending scales (503) while the API can send them. */
static void autoscaling_stop(struct autoscaling *as)
{
	demoload_free(as->demo);
	as->demo = NULL;
	if (as->provider)
		provider_set_acting_cb(as->provider, NULL, NULL);
	autoscaler_free(as->autoscaler);
	as->autoscaler = NULL;
}

/* After the API, before the provider and local mode the scalers use. */
static void autoscaling_free(struct autoscaling *as)
{
	scalers_free(as->scalers);
	webhook_free(as->webhook);
}

/*
 * Wires the modules: the loop, the daemon (registry + HAProxy), the static sources, local mode,
 * the swarm provider and the API. Each gets the loop and what it uses; nothing below main knows
 * the modules above it.
 */
static int run_server(int argc, char **argv)
{
	struct config cfg;
	struct loop *loop = NULL;
	struct start_state st = {0};
	struct api *api = NULL;
	struct daemon *d = NULL;
	struct local *local = NULL;
	struct provider *provider = NULL;
	struct listener *listener = NULL;
	struct certsync *certsync = NULL;
	struct local_file file = {0};
	struct autoscaling as = {0};
	_cleanup_free_ char *err = NULL;
	int r;

	r = config_load(&cfg, argc, argv, environ, &err);
	if (r == 1) {
		fputs(err, stdout);
		return 0;
	}
	if (r < 0) {
		fprintf(stderr, "flowproxy: %s\n", err);
		return 2;
	}
	log_set_level((enum log_level)cfg.log_level);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	r = loop_new(&loop);
	if (r < 0) {
		log_error("cannot create the event loop: %s", strerror(-r));
		config_done(&cfg);
		return 1;
	}
	st.loop = loop;
	r = daemon_new(loop, &cfg, &d, &err);
	if (r < 0) {
		log_error("%s", err);
		loop_free(loop);
		config_done(&cfg);
		return 1;
	}
	/* A serviceCert is loaded by HAProxy and written before its service is queued. */
	daemon_set_put(d, certload_service);

	/* Static services: DFP_SERVICE_* first, then the services file. */
	struct params *envs = NULL;
	size_t n_envs = 0;
	if (labels_from_env(environ, &envs, &n_envs, &err) < 0)
		log_error("environment: %s", err);
	for (size_t i = 0; i < n_envs; i++) {
		/* DEFAULT_PROTOCOL: the reqMode of an environment service that sets none (§3). */
		if (!params_get(&envs[i], "reqMode") && !streq(cfg.default_protocol, "http"))
			params_add(&envs[i], "reqMode", cfg.default_protocol);
		submit_params(d, &envs[i], "DFP_SERVICE");
		params_done(&envs[i]);
	}
	free(envs);

	if (str_set(cfg.services_file)) {
		_cleanup_free_ char *json = NULL;
		size_t len = 0;
		r = read_file(cfg.services_file, 16 << 20, &json, &len);
		if (r < 0) {
			log_error("cannot read services file '%s': %s", cfg.services_file,
				  strerror(-r));
			goto out;
		}
		r = local_parse(json, len, &file, &err);
		if (r < 0) {
			log_error("%s: %s", cfg.services_file, err);
			goto out;
		}
		/* A replicated entry is local_start's to submit: with slots for its copies. */
		for (size_t i = 0; i < file.n; i++)
			if (!file.v[i].replicated)
				submit_params(d, &file.v[i].params, cfg.services_file);
		r = local_start(loop, d, &file, cfg.services_file, &local, &err);
		if (r < 0) {
			log_error("%s", err);
			goto out;
		}
	}
	st.d = d;
	if (str_set(cfg.listener_address)) {
		struct listener_options lo = {cfg.listener_address, cfg.reload_interval,
					      cfg.repeat_reload, cfg.reload_attempts};
		r = listener_new(loop, d, &lo, &listener, &err);
		if (r < 0) {
			log_error("%s", err);
			goto out;
		}
	}
	if (cfg.swarm) {
		r = provider_new(loop, d, on_provider_ready, &st, &provider, &err);
		if (r < 0) {
			log_error("swarm: %s", err ? err : strerror(-r));
			goto out;
		}
	}
	daemon_flush(d);
	if (str_set(cfg.services_file)) {
		printf("flowproxy: routing %zu service(s); try:\n",
		       registry_count(daemon_registry(d)));
		print_urls(d);
	}
	/* In swarm mode HAProxy starts once the swarm's services are known (on_provider_ready),
	 * so that its first configuration already routes them. The API answers meanwhile. */
	if (!cfg.swarm)
		start_haproxy(&st);
	r = api_new(loop, d, provider, &api, &err);
	if (r < 0) {
		log_error("cannot start the API: %s", err ? err : strerror(-r));
		goto out;
	}
	log_info("API listening on %s:%ld", cfg.ip, cfg.port);
	api_attach_listener(api, listener);
	/* A new replica takes its peers' certificates once HAProxy runs (DFP's cert.Init). */
	if (certsync_start(loop, d, &certsync, &err) < 0) {
		log_warn("certificates: no sync with the peers: %s", err);
		free(err);
		err = NULL;
	}

	r = autoscaling_start(&as, loop, d, local, provider, api, &err);
	if (r < 0) {
		log_error("%s", err);
		goto out;
	}
	if ((r = loop_signal(loop, SIGTERM, on_sigterm, loop)) < 0 ||
	    (r = loop_signal(loop, SIGINT, on_sigint, loop)) < 0 ||
	    (r = loop_signal(loop, SIGHUP, on_hup, d)) < 0) {
		log_error("cannot handle signals: %s", strerror(-r));
		goto out;
	}
	r = loop_run(loop);
	if (r >= 0 && st.failed)
		r = -EIO;
out:
	/* The autoscaler answers its pending scales (503) while the API is there to send them;
	 * HAProxy drains (daemon_free) before the backends it sends to go (local_free). */
	autoscaling_stop(&as);
	api_free(api);
	autoscaling_free(&as);
	listener_free(listener);
	certsync_free(certsync);
	provider_free(provider);
	daemon_free(d);
	local_free(local);
	local_file_done(&file);
	loop_free(loop);
	config_done(&cfg);
	return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	_cleanup_free_ char *self = xstrdup(argv[0]);
	const char *prog = basename(self);
	int i = 1;

	/* docker-flow-proxy compatibility: "docker-flow-proxy server" or "flowproxy
	 * docker-flow-proxy server". */
	if (i < argc && streq(argv[i], "docker-flow-proxy"))
		i++;
	if (i < argc && streq(argv[i], "server"))
		i++;
	else if (i < argc && streq(argv[i], "top"))
		return top_main(argc - i - 1, argv + i + 1);
	else if (i < argc && (streq(argv[i], "version") || streq(argv[i], "--version"))) {
		printf("flowproxy %s\n", FLOWPROXY_VERSION);
		return 0;
	} else if (streq(prog, "docker-flow-proxy") && i < argc && argv[i][0] != '-') {
		fprintf(stderr, "docker-flow-proxy: unknown command '%s' (only 'server')\n",
			argv[i]);
		return 2;
	}
	return run_server(argc - i, argv + i);
}
