// SPDX-License-Identifier: MIT
/* Unit tests for config: defaults (DFP image), environment, secrets, flags, errors. */
#include "flowproxy/config.h"
#include "tap.h"

#include <sys/stat.h>

int main(void)
{
	struct config c;
	char *err = NULL;
	char *env0[] = {NULL};

	tap_is_int(config_load(&c, 0, NULL, env0, &err), 0, "defaults load");
	tap_is_str(c.default_ports, "80,443:ssl", "DEFAULT_PORTS image default");
	tap_is_str(c.connection_mode, "http-keep-alive", "CONNECTION_MODE image default");
	tap_is_str(c.separator, ",", "SEPARATOR image default");
	tap_is_str(c.service_domain_algo, "hdr_beg(host)", "SERVICE_DOMAIN_ALGO image default");
	tap_is_int(c.port, 8080, "PORT default");
	tap_is_int(c.timeout_tunnel, 3600, "TIMEOUT_TUNNEL default");
	tap_is_int(c.api_conn_per_client, 64, "API_CONN_PER_CLIENT default");
	tap_is_int(c.api_conn_max, 4096, "API_CONN_MAX default");
	tap_is_int(c.api_request_timeout, 10, "API_REQUEST_TIMEOUT default");
	tap_is_str(c.api_token, "", "API_TOKEN default: none");
	config_done(&c);
	char *env_tok[] = {"API_TOKEN=from-env", NULL};
	tap_is_int(config_load(&c, 0, NULL, env_tok, &err), 0, "API_TOKEN loads");
	tap_is_str(c.api_token, "from-env", "API_TOKEN from the environment");
	config_done(&c);
	char *argv_tok[] = {"--api-token", "from-flag"};
	tap_is_int(config_load(&c, 2, argv_tok, env_tok, &err), 0, "--api-token loads");
	tap_is_str(c.api_token, "from-flag", "--api-token wins over the environment");
	config_done(&c);
	char *env_tok_bad[] = {"API_TOKEN=abc\x01"
			       "def",
			       NULL};
	tap_is_int(config_load(&c, 0, NULL, env_tok_bad, &err), -EINVAL,
		   "API_TOKEN with a control byte is refused");
	tap_ok(err && !strstr(err, "abc"), "and the message does not show it: %s", err);
	char *env_api[] = {"API_CONN_PER_CLIENT=0", "API_REQUEST_TIMEOUT=3", NULL};
	char *argv_api[] = {"--api-conn-max", "100"};
	tap_is_int(config_load(&c, 2, argv_api, env_api, &err), 0, "API limits load");
	tap_is_int(c.api_conn_per_client, 0, "API_CONN_PER_CLIENT=0: no per-client limit");
	tap_is_int(c.api_request_timeout, 3, "API_REQUEST_TIMEOUT from the environment");
	tap_is_int(c.api_conn_max, 100, "--api-conn-max");
	config_done(&c);
	char *env_api_bad[] = {"API_REQUEST_TIMEOUT=0", NULL};
	tap_is_int(config_load(&c, 0, NULL, env_api_bad, &err), -EINVAL,
		   "API_REQUEST_TIMEOUT=0 is refused (a request always has a deadline)");
	char *env_api_bad2[] = {"API_CONN_MAX=8", NULL};
	tap_is_int(config_load(&c, 0, NULL, env_api_bad2, &err), -EINVAL,
		   "API_CONN_MAX below 16 is refused");

	char dir[] = "/tmp/fp-config-XXXXXX";
	tap_ok(mkdtemp(dir) != NULL, "secrets dir");
	char *sec = xasprintf("%s/dfp_users", dir);
	write_file_atomic(sec, "admin:fromsecret\n", 17);
	char *sec_tok = xasprintf("%s/dfp_api_token", dir);
	write_file_atomic(sec_tok, "s3cret-from-file\n", 17);
	char *secdir = xasprintf("FLOWPROXY_SECRETS_DIR=%s", dir);
	char *env1[] = {"PORT=9000",
			"HTTPS_ONLY=true",
			"USERS=admin:fromenv",
			"TIMEOUT_SERVER=7",
			"API_TOKEN=fromenv",
			secdir,
			NULL};
	char *argv1[] = {"--port", "9100", "-c", "/tmp/x", "--bind-address=127.0.0.1"};
	tap_is_int(config_load(&c, 5, argv1, env1, &err), 0, "env + flags load");
	tap_is_int(c.port, 9100, "a flag wins over the environment");
	tap_ok(c.https_only, "HTTPS_ONLY=true parsed");
	tap_is_int(c.timeout_server, 7, "TIMEOUT_SERVER from the environment");
	tap_is_str(c.users, "admin:fromsecret", "a dfp_ secret wins over the environment");
	tap_is_str(c.api_token, "s3cret-from-file", "API_TOKEN from the secret dfp_api_token");
	tap_is_str(c.configs_path, "/tmp/x", "short flag -c");
	tap_is_str(c.bind_address, "127.0.0.1", "--name=value form");
	config_done(&c);

	char *env2[] = {"PORT=http", NULL};
	tap_is_int(config_load(&c, 0, NULL, env2, &err), -EINVAL, "a bad number is refused");
	tap_ok(err && strstr(err, "PORT") != NULL, "the message names the variable");
	char *argv3[] = {"--no-such-flag"};
	tap_is_int(config_load(&c, 1, argv3, env0, &err), -EINVAL, "an unknown flag is refused");
	char *argv4[] = {"--port"};
	tap_is_int(config_load(&c, 1, argv4, env0, &err), -EINVAL, "a flag without value");
	char *argv5[] = {"--help"};
	tap_is_int(config_load(&c, 1, argv5, env0, &err), 1, "--help returns 1");
	tap_ok(err && strstr(err, "DEFAULT_PORTS") != NULL, "help lists the variables");
	/* A boolean flag alone means true and does not eat the next word. */
	char *argv7[] = {"--swarm", "--docker-host", "tcp://127.0.0.1:1", "--telemetry=false"};
	char *env7[] = {"TELEMETRY=true", NULL};
	tap_is_int(config_load(&c, 4, argv7, env7, &err), 0, "--swarm --docker-host ... loads");
	tap_ok(c.swarm, "--swarm alone is true");
	tap_is_str(c.docker_host, "tcp://127.0.0.1:1", "the next flag keeps its value");
	tap_ok(!c.telemetry, "--telemetry=false still sets false");
	config_done(&c);
	char *argv8[] = {"--swarm", "yes-please"};
	tap_is_int(config_load(&c, 2, argv8, env0, &err), -EINVAL,
		   "a word after a boolean flag is not its value");
	char *argv9[] = {"--swarm=maybe"};
	tap_is_int(config_load(&c, 1, argv9, env0, &err), -EINVAL, "--swarm=maybe is refused");
	tap_ok(err && strstr(err, "not a boolean") != NULL, "the message says why");
	char *env6[] = {"EXTRA_FRONTEND=a\nb", NULL};
	tap_is_int(config_load(&c, 0, NULL, env6, &err), -EINVAL, "control bytes refused");

	/* Autoscaling: a word among three, durations with a unit or bare seconds, bounds. */
	tap_is_int(config_load(&c, 0, NULL, env0, &err), 0, "defaults again");
	tap_ok(streq(c.autoscale, "on") && c.autoscale_interval_ms == 1000 &&
		       c.autoscale_min_requests == 20 && !str_set(c.notify_webhook_url),
	       "AUTOSCALE on, every 1s, 20 requests, no notifications by default");
	config_done(&c);
	char *as1[] = {"AUTOSCALE=dry-run", "AUTOSCALE_INTERVAL=250ms", NULL};
	tap_is_int(config_load(&c, 0, NULL, as1, &err), 0, "AUTOSCALE=dry-run, 250ms");
	tap_ok(streq(c.autoscale, "dry-run") && c.autoscale_interval_ms == 250, "as given");
	config_done(&c);
	char *as5[] = {"--autoscale-interval", "2"};
	tap_is_int(config_load(&c, 2, as5, env0, &err), 0, "a bare number of seconds");
	tap_is_int(c.autoscale_interval_ms, 2000, "is 2000 ms");
	config_done(&c);
	char *as2[] = {"AUTOSCALE=sometimes", NULL};
	tap_is_int(config_load(&c, 0, NULL, as2, &err), -EINVAL, "AUTOSCALE=sometimes refused");
	tap_is_str(err, "AUTOSCALE: 'sometimes' is not one of on|dry-run|off", "naming the words");
	char *as3[] = {"AUTOSCALE_INTERVAL=5ms", NULL};
	tap_is_int(config_load(&c, 0, NULL, as3, &err), -EINVAL, "below 10 ms refused");
	char *as4[] = {"AUTOSCALE_INTERVAL=soon", NULL};
	tap_is_int(config_load(&c, 0, NULL, as4, &err), -EINVAL, "not a duration refused");
	tap_ok(err && strstr(err, "not a duration"), "the message says why");

	/* RESOLVE_SERVERS: auto follows RESOLVERS (and a container); true and false are as said. */
	char *rs1[] = {"RESOLVE_SERVERS=true", NULL};
	tap_is_int(config_load(&c, 0, NULL, rs1, &err), 0, "RESOLVE_SERVERS=true");
	tap_ok(c.runtime_resolve, "host names are re-resolved");
	config_done(&c);
	char *rs2[] = {"RESOLVE_SERVERS=false", "RESOLVERS=nameserver a 10.0.0.1:53", NULL};
	tap_is_int(config_load(&c, 0, NULL, rs2, &err), 0, "RESOLVE_SERVERS=false");
	tap_ok(!c.runtime_resolve, "false wins over RESOLVERS");
	config_done(&c);
	char *rs3[] = {"RESOLVERS=nameserver a 10.0.0.1:53", NULL};
	tap_is_int(config_load(&c, 0, NULL, rs3, &err), 0, "RESOLVE_SERVERS=auto with RESOLVERS");
	tap_ok(c.runtime_resolve, "auto: RESOLVERS set means re-resolve");
	config_done(&c);
	char *rs4[] = {"RESOLVE_SERVERS=maybe", NULL};
	tap_is_int(config_load(&c, 0, NULL, rs4, &err), -EINVAL, "RESOLVE_SERVERS=maybe refused");
	tap_is_str(err, "RESOLVE_SERVERS: 'maybe' is not one of auto|true|false",
		   "naming the words");

	free(err);
	unlink(sec);
	unlink(sec_tok);
	rmdir(dir);
	free(sec);
	free(sec_tok);
	free(secdir);
	return tap_done();
}
