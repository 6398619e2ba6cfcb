// SPDX-License-Identifier: MIT
/*
 * main: the command line. `flowproxy [server] [options]` runs the daemon; started as
 * `docker-flow-proxy server` (by argv[0], or as the subcommand `flowproxy docker-flow-proxy
 * server`) it takes Docker Flow Proxy's flags and environment and behaves as DFP.
 */
#include "flowproxy/api.h"
#include "flowproxy/config.h"
#include "flowproxy/daemon.h"
#include "flowproxy/labels.h"
#include "flowproxy/local.h"
#include "flowproxy/log.h"
#include "flowproxy/loop.h"
#include "flowproxy/provider.h"
#include "flowproxy/top.h"

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

static void on_hup(void *userdata)
{
	daemon_submit(userdata, DAEMON_OP_RELOAD, NULL, NULL, 0, "", NULL, NULL);
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
	struct local_file file = {0};
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

	/* Static services: DFP_SERVICE_* first, then the services file. */
	struct params *envs = NULL;
	size_t n_envs = 0;
	if (labels_from_env(environ, &envs, &n_envs, &err) < 0)
		log_error("environment: %s", err);
	for (size_t i = 0; i < n_envs; i++) {
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
	/* HAProxy drains (daemon_free) before the backends it sends to go (local_free). */
	api_free(api);
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
