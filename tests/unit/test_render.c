// SPDX-License-Identifier: MIT
/*
 * Unit tests for render: whole configurations compared with golden files
 * (tests/fixtures/golden/<case>.cfg; FLOWPROXY_UPDATE_GOLDEN=1 rewrites them), each of which
 * must also pass `haproxy -c`. Determinism and escaping are checked directly.
 */
#include "flowproxy/config.h"
#include "flowproxy/labels.h"
#include "flowproxy/registry.h"
#include "flowproxy/render.h"
#include "tap.h"

#include <sys/wait.h>

static const char *src_root(void)
{
	const char *s = getenv("FLOWPROXY_SOURCE_ROOT");
	return s ? s : ".";
}

/* "k=v&k2=v2" (no escaping) -> params */
static void parse_query(const char *q, struct params *p)
{
	char *dup = xstrdup(q), *save = NULL;

	params_init(p);
	for (char *kv = strtok_r(dup, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq)
			continue;
		*eq = '\0';
		params_add(p, kv, eq + 1);
	}
	free(dup);
}

static int haproxy_check(const char *path)
{
	char *cmd = xasprintf("haproxy -c -q -f %s >/dev/null 2>&1", path);
	int st = system(cmd);

	free(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

struct golden_case {
	const char *name;
	const char *env[8];
	const char *services[12];
};

static const struct golden_case cases[] = {
	{"empty", {NULL}, {NULL}},
	{"path", {NULL}, {"serviceName=web&servicePath=/web&port=8080", NULL}},
	{"no-telemetry",
	 {"TELEMETRY=false", NULL},
	 {"serviceName=web&servicePath=/web&port=8080", NULL}},
	{"families",
	 {"USERS=ops:opspass", NULL},
	 {
		 "serviceName=api&servicePath=/api/v1,/api/v2&servicePathExclude=/api/v1/internal&"
		 "port=8080&reqPathSearchReplace=/api/v1,/:/api/v2,/v2&"
		 "addReqHeader=X-Added hello world,X-Two 2&setReqHeader=X-Set \"quoted\"&"
		 "delReqHeader=X-Drop&addResHeader=X-Res 1&setResHeader=X-Cache miss&"
		 "delResHeader=Server&timeoutServer=30&timeoutTunnel=120",
		 "serviceName=shop&serviceDomain=shop.example.com,*.shop.test&port=80&"
		 "isDefaultBackend=true&ignoreAuthorization=true",
		 "serviceName=secure&servicePath=/secure&port=443&users=alice:wonder,bob&"
		 "httpsOnly=true&httpsRedirectCode=301",
		 "serviceName=legacy&aclName=00-legacy&servicePath.1=/old&port.1=81&"
		 "servicePath.2=/older&port.2=82&srcPort.2=8081&redirectWhenHttpProto=true&"
		 "outboundHostname=legacy.internal",
		 "serviceName=acme&servicePath=/.well-known/acme-challenge&port=80",
		 "serviceName=dnssvc&servicePath=/dns&port=8080&discoveryType=DNS&replicas=3",
		 "serviceName=regex&servicePath=^/item/[0-9]+$&pathType=path_reg&port=9000&"
		 "reqPathSearchReplace=^/item/,/items/",
		 NULL,
	 }},
	/* reqMode tcp and sni (docs/tcp.md): frontends by srcPort, listen groups, mode tcp
	 * backends, beside an HTTP service; several services on one port in aclName order. */
	{"tcp",
	 {NULL},
	 {
		 "serviceName=web&servicePath=/web&port=8080",
		 "serviceName=redis&reqMode=tcp&srcPort=6379&port=6379&timeoutClient=30&"
		 "clitcpka=true&checkTcp=true&timeoutServer=40",
		 "serviceName=pg-b&reqMode=tcp&srcPort=5432&port=5432&serviceDomain=b.db,*.b.test&"
		 "serviceDomainAlgo=req.ssl_sni",
		 "serviceName=pg-a&reqMode=tcp&srcPort=5432&port=5433",
		 "serviceName=tls-a&reqMode=sni&srcPort=9443&port=443&serviceDomain=a.test",
		 "serviceName=tls-b&aclName=bee&reqMode=sni&srcPort=9443&port=8443&"
		 "servicePath=b.test,c.test&timeoutClient=7",
		 "serviceName=mq1&reqMode=tcp&srcPort=5672&port=5672&serviceGroup=mq&"
		 "balanceGroup=leastconn&checkTcp=true",
		 "serviceName=mq2&reqMode=tcp&srcPort=5672&port=5673&serviceGroup=mq&"
		 "outboundHostname=10.0.0.9",
		 "serviceName=mixed&servicePath.1=/mixed&port.1=80&reqMode.2=tcp&srcPort.2=7000&"
		 "port.2=7001",
		 NULL,
	 }},
};

static int render_case(const struct golden_case *gc, struct strbuf *out, struct render_plan *plan)
{
	struct config cfg;
	struct render *r = NULL;
	struct registry reg;
	struct render_service *rs = NULL;
	char *err = NULL;
	char *env[10] = {"FLOWPROXY_RUN_DIR=/tmp/fp-golden", "DEFAULT_PORTS=8000,8443:ssl"};
	size_t ne = 2;
	int k;

	for (size_t i = 0; gc->env[i]; i++)
		env[ne++] = (char *)gc->env[i];
	env[ne] = NULL;
	k = config_load(&cfg, 0, NULL, env, &err);
	tap_is_int(k, 0, "config loads");
	char *tdir = xasprintf("%s/templates", src_root());
	k = render_new(tdir, "haproxy.tmpl", &r, &err);
	tap_ok(k == 0, "%s: templates load%s%s", gc->name, err ? ": " : "", err ? err : "");
	free(tdir);
	registry_init(&reg);
	struct labels_ctx ctx = {cfg.separator, cfg.service_domain_algo, cfg.https_only, cfg.users,
				 cfg.users_pass_encrypted};
	for (size_t i = 0; gc->services[i]; i++) {
		struct params p;
		struct service *svc = NULL;
		parse_query(gc->services[i], &p);
		k = labels_parse(&p, &ctx, &svc, NULL, &err);
		tap_ok(k == 0, "%s: service %zu parses%s%s", gc->name, i, k ? ": " : "",
		       k ? err : "");
		if (k == 0)
			registry_put(&reg, svc, NULL, 0);
		params_done(&p);
	}
	registry_render_services(&reg, &rs);
	k = r ? render_config(r, &cfg, rs, registry_count(&reg), out, plan, &err) : -1;
	tap_ok(k == 0, "%s: renders%s%s", gc->name, k ? ": " : "", k && err ? err : "");
	free(rs);
	registry_done(&reg);
	render_free(r);
	config_done(&cfg);
	free(err);
	return k;
}

/*
 * Fragments: one service rendered alone; the configuration must contain every `has` line and
 * none of the `lacks` ones. Each parameter's rendering has a row here, and an integration test
 * that proves the behaviour through HAProxy.
 */
struct fragment_case {
	const char *name;
	const char *env[6];
	const char *query;
	const char *has[8];
	const char *lacks[4];
};

static const struct fragment_case fragments[] = {
	{"several paths: the match method once",
	 {NULL},
	 "serviceName=m&servicePath=/a,/b&port=80",
	 {"\n    acl url_m80_0 path_beg /a /b\n", NULL},
	 {"path_beg /a path_beg", NULL}},
	{"several regex paths: path_reg once",
	 {NULL},
	 "serviceName=m&servicePath=^/api/v1,^/api/v2&pathType=path_reg&port=80",
	 {"\n    acl url_m80_0 path_reg ^/api/v1 ^/api/v2\n", NULL},
	 {NULL}},
	{"a path starting with '-' is not read as a flag",
	 {NULL},
	 "serviceName=m&servicePath=/a,-i&pathType=path_beg -i&port=80",
	 {"\n    acl url_m80_0 path_beg -i -- /a -i\n", NULL},
	 {NULL}},
	/* reqMode tcp and sni (docs/tcp.md) */
	{"tcp: a frontend per srcPort, a mode tcp backend, no HTTP binds when every service is tcp",
	 {NULL},
	 "serviceName=t&reqMode=tcp&srcPort=5000&port=6000",
	 {"\n\nfrontend tcpFE_5000\n    bind *:5000\n    mode tcp\n",
	  "\n    default_backend t-be6000_0\n",
	  "\nbackend t-be6000_0\n    mode tcp\n    server t t:6000\n",
	  "\n    log-format \"fp1 %b %s -1 %Tw %Tc -1 %Tt %bc %bq %tsc\"\n", NULL},
	 {"bind *:8000", "option tcp-check", "timeout tunnel 0", NULL}},
	{"tcp: timeoutClient on the frontend, and as the backend's tunnel timeout",
	 {NULL},
	 "serviceName=t&reqMode=tcp&srcPort=5000&port=6000&timeoutClient=9&clitcpka=true",
	 {"\n    timeout client 9s\n    option clitcpka\n", "\n    timeout tunnel 9s\n", NULL},
	 {NULL}},
	{"tcp: timeoutTunnel wins over timeoutClient in the backend",
	 {NULL},
	 "serviceName=t&reqMode=tcp&srcPort=5000&port=6000&timeoutClient=9&timeoutTunnel=60",
	 {"\n    timeout client 9s\n", "\n    timeout tunnel 60s\n", NULL},
	 {"timeout tunnel 9s", NULL}},
	{"tcp: checkTcp",
	 {NULL},
	 "serviceName=t&reqMode=tcp&srcPort=5000&port=6000&checkTcp=true",
	 {"\n    mode tcp\n    option tcp-check\n", "\n    server t t:6000 check\n", NULL},
	 {NULL}},
	{"tcp: serviceDomain waits for the client's bytes, then selects",
	 {NULL},
	 "serviceName=t&reqMode=tcp&srcPort=5000&port=6000&serviceDomain=a.com",
	 {"\n    acl domain_t6000_0 hdr_beg(host) -i a.com\n    tcp-request inspect-delay 5s\n"
	  "    tcp-request content accept if domain_t6000_0\n    use_backend t-be6000_0 if "
	  "domain_t6000_0\n",
	  NULL},
	 {"default_backend", NULL}},
	{"tcp: DEBUG without telemetry logs with tcplog",
	 {"TELEMETRY=false", "DEBUG=true", NULL},
	 "serviceName=t&reqMode=tcp&srcPort=5000&port=6000",
	 {"\n    mode tcp\n    no option idle-close-on-response\n    option tcplog\n    log global\n",
	  NULL},
	 {"fp1 %b %s -1", NULL}},
	{"tcp: DNS discovery",
	 {NULL},
	 "serviceName=t&reqMode=tcp&srcPort=5000&port=6000&discoveryType=DNS",
	 {"\n    server-template t 4 tasks.t:6000 check resolvers docker", NULL},
	 {"server t t:6000", NULL}},
	{"tcp: serviceGroup makes a listen, and no backend",
	 {NULL},
	 "serviceName=t&reqMode=tcp&srcPort=5000&port=6000&serviceGroup=g&balanceGroup=first&"
	 "checkTcp=true",
	 {"\n\nlisten tcpListen_g_5000\n    bind *:5000\n    mode tcp\n",
	  "\n    balance first\n    option tcp-check\n    server g-t6000_1 t:6000 check\n", NULL},
	 {"backend t-be6000_0", "tcpFE_", NULL}},
	{"sni: TLS hello inspection, the domain as the server name",
	 {NULL},
	 "serviceName=s&reqMode=sni&srcPort=9443&port=443&serviceDomain=a.test,*.w.test",
	 {"\n\nfrontend service_9443\n    bind *:9443\n    mode tcp\n",
	  "\n    tcp-request inspect-delay 5s\n    tcp-request content accept if { "
	  "req_ssl_hello_type 1 }\n",
	  "\n    acl sni_s443-1 req_ssl_sni -i a.test\n    acl sni_s443-1 req_ssl_sni -m end -i "
	  ".w.test\n    use_backend s-be443_0 if sni_s443-1\n",
	  "\nbackend s-be443_0\n    mode tcp\n", NULL},
	 {"path_beg", NULL}},
	{"sni: servicePath values with pathType, numbered by position, the backend's own name",
	 {NULL},
	 "serviceName=s&aclName=x&reqMode=sni&srcPort=9443&servicePath.1=a.test&port.1=443&"
	 "servicePath.2=b.test&port.2=8443&pathType=req_ssl_sni",
	 {"\n    acl sni_x443-1 req_ssl_sni a.test\n    use_backend x-be443_1 if sni_x443-1\n",
	  "\n    acl sni_x8443-2 req_ssl_sni b.test\n    use_backend x-be8443_2 if sni_x8443-2\n",
	  NULL},
	 {"use_backend s-be", NULL}},
	{"sni: servicePath with the default pathType means req_ssl_sni -i",
	 {NULL},
	 "serviceName=s&reqMode=sni&srcPort=9443&servicePath=a.test&port=443",
	 {"\n    acl sni_s443-1 req_ssl_sni -i a.test\n", NULL},
	 {"path_beg", NULL}},
};

static void test_fragments(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(fragments); i++) {
		const struct fragment_case *fc = &fragments[i];
		struct golden_case gc = {fc->name, {NULL}, {fc->query, NULL}};
		struct strbuf out;

		for (size_t j = 0; fc->env[j]; j++)
			gc.env[j] = fc->env[j];
		strbuf_init(&out);
		if (render_case(&gc, &out, NULL) == 0) {
			const char *o = strbuf_str(&out);
			for (size_t j = 0; fc->has[j]; j++)
				tap_ok(strstr(o, fc->has[j]) != NULL, "%s: has '%s'", fc->name,
				       fc->has[j]);
			for (size_t j = 0; fc->lacks[j]; j++)
				tap_ok(strstr(o, fc->lacks[j]) == NULL, "%s: lacks '%s'", fc->name,
				       fc->lacks[j]);
		}
		strbuf_done(&out);
	}
}

int main(void)
{
	bool update = getenv("FLOWPROXY_UPDATE_GOLDEN") != NULL;
	bool have_haproxy = system("haproxy -v >/dev/null 2>&1") == 0;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct strbuf a, b;
		strbuf_init(&a);
		strbuf_init(&b);
		struct render_plan plan = {0};
		render_case(&cases[i], &a, &plan);
		render_case(&cases[i], &b, NULL);
		/* The plan lists exactly the backends rendered, in their order. */
		{
			size_t n = 0, k = 0;
			bool same = true;
			for (const char *q = strbuf_str(&a); (q = strstr(q, "\nbackend ")); q++) {
				size_t l = strcspn(q + 9, "\n");
				/* tcp listen groups come after their service's backends */
				while (k < plan.n_backends &&
				       str_startswith(plan.backends[k].name, "tcpListen_"))
					k++;
				same &= k < plan.n_backends && strlen(plan.backends[k].name) == l &&
					memcmp(plan.backends[k].name, q + 9, l) == 0;
				n++;
				k++;
			}
			for (const char *q = strbuf_str(&a); (q = strstr(q, "\nlisten ")); q++) {
				size_t l = strcspn(q + 8, "\n");
				bool found = false;
				for (size_t j = 0; j < plan.n_backends; j++)
					found |= strlen(plan.backends[j].name) == l &&
						 memcmp(plan.backends[j].name, q + 8, l) == 0;
				same &= found;
				n++;
			}
			tap_ok(same && n == plan.n_backends,
			       "%s: the plan lists the %zu backends rendered", cases[i].name, n);
			size_t n_http = 0;
			for (size_t j = 0; j < plan.n_backends; j++)
				n_http += plan.backends[j].mode == RENDER_HTTP;
			tap_ok(plan.n_rules == n_http, "%s: a rule for each HTTP backend",
			       cases[i].name);
		}
		render_plan_done(&plan);
		tap_ok(a.len > 0 && streq(strbuf_str(&a), strbuf_str(&b)),
		       "%s: output is deterministic", cases[i].name);

		char *path =
			xasprintf("%s/tests/fixtures/golden/%s.cfg", src_root(), cases[i].name);
		if (update)
			write_file_atomic(path, strbuf_str(&a), a.len);
		char *want = NULL;
		int k = read_file(path, 1 << 20, &want, NULL);
		tap_ok(k == 0 && streq(want, strbuf_str(&a)), "%s: matches %s", cases[i].name,
		       path);
		if (k == 0 && !streq(want, strbuf_str(&a)))
			tap_diag("got:\n%s", strbuf_str(&a));
		if (have_haproxy)
			tap_is_int(haproxy_check(path), 0, "golden file passes haproxy -c");
		else
			tap_ok(0, "haproxy is installed for haproxy -c");
		free(want);
		free(path);
		strbuf_done(&a);
		strbuf_done(&b);
	}

	/* Task slots: an empty slot is rendered disabled on loopback, ports carried over. */
	{
		struct config cfg;
		struct render *r = NULL;
		struct registry reg;
		struct render_service *rs = NULL;
		char *err = NULL;
		char *env[] = {"DEFAULT_PORTS=8000", NULL};
		const char *slots[] = {"10.0.0.5", "", "10.0.0.7:9000", "fd00::1"};
		struct params p;
		struct service *svc = NULL;
		struct strbuf out;

		config_load(&cfg, 0, NULL, env, &err);
		char *tdir = xasprintf("%s/templates", src_root());
		render_new(tdir, "haproxy.tmpl", &r, &err);
		free(tdir);
		struct labels_ctx ctx = {",", "hdr_beg(host)", false, "", false};
		parse_query("serviceName=web&servicePath=/web&port=8080", &p);
		labels_parse(&p, &ctx, &svc, NULL, &err);
		params_done(&p);
		registry_init(&reg);
		registry_put(&reg, svc, slots, 4);
		registry_render_services(&reg, &rs);
		strbuf_init(&out);
		struct render_plan plan = {0};
		tap_is_int(render_config(r, &cfg, rs, 1, &out, &plan, &err), 0, "slots: renders");
		/* The plan names the backend once, with what the slots and the metrics need. */
		tap_is_int((long long)plan.n_backends, 1, "plan: one backend");
		if (plan.n_backends == 1) {
			tap_is_str(plan.backends[0].name, "web-be8080_0",
				   "plan: DFP's backend name");
			tap_ok(strstr(strbuf_str(&out), "backend web-be8080_0\n") != NULL,
			       "plan: the name is the one rendered");
			tap_is_str(plan.backends[0].service, "web", "plan: its service");
			tap_is_int(plan.backends[0].port, 8080, "plan: its port");
			tap_is_int(plan.backends[0].dest, 0, "plan: destination 0");
			tap_is_int((long long)plan.backends[0].n_slots, 4, "plan: four task slots");
		}
		tap_is_int((long long)plan.n_rules, 1, "plan: one routing rule");
		if (plan.n_rules == 1) {
			tap_ok(plan.rules[0].backend == 0 && plan.rules[0].paths.n == 1 &&
				       streq(plan.rules[0].paths.v[0], "/web") &&
				       streq(plan.rules[0].path_type, "path_beg"),
			       "plan: rule path_beg /web -> web-be8080_0");
		}
		size_t first = 9;
		tap_ok(render_plan_service(&plan, "web", &first) == 1 && first == 0,
		       "plan: the service's backends are found");
		tap_is_int((long long)render_plan_service(&plan, "nope", NULL), 0,
			   "plan: an unknown service has none");
		render_plan_done(&plan);
		const char *o = strbuf_str(&out);
		tap_ok(strstr(o, "    server web_1 10.0.0.5:8080\n") != NULL,
		       "slots: task address");
		tap_ok(strstr(o, "    server web_2 127.0.0.1:8080 disabled\n") != NULL,
		       "slots: an empty slot is disabled on loopback");
		tap_ok(strstr(o, "    server web_3 10.0.0.7:9000\n") != NULL,
		       "slots: own port kept");
		tap_ok(strstr(o, "    server web_4 fd00::1:8080\n") != NULL, "slots: IPv6 address");
		strbuf_reset(&out);
		parse_query("serviceName=web&servicePath=/web&port=8080&discoveryType=vip", &p);
		svc = NULL;
		tap_is_int(labels_parse(&p, &ctx, &svc, NULL, &err), 0, "discoveryType=vip parses");
		tap_is_str(svc ? svc->discovery_type : NULL, "VIP", "discoveryType normalised");
		params_done(&p);
		registry_put(&reg, svc, slots, 4);
		free(rs);
		registry_render_services(&reg, &rs);
		render_config(r, &cfg, rs, 1, &out, &plan, &err);
		o = strbuf_str(&out);
		tap_ok(plan.n_backends == 1 && plan.backends[0].n_slots == 0,
		       "plan: a VIP backend has no task slots");
		render_plan_done(&plan);
		tap_ok(strstr(o, "    server web web:8080\n") != NULL && !strstr(o, "web_1"),
		       "VIP: one server at the service's name, task slots ignored");
		parse_query("serviceName=web&servicePath=/web&port=8080&discoveryType=bogus", &p);
		svc = NULL;
		tap_is_int(labels_parse(&p, &ctx, &svc, NULL, &err), -EINVAL,
			   "an unknown discoveryType is refused");
		tap_ok(err && strstr(err, "discoveryType 'bogus' must be DNS, VIP or Overlay"),
		       "with a message naming the parameter");
		params_done(&p);
		strbuf_done(&out);
		free(rs);
		registry_done(&reg);
		render_free(r);
		config_done(&cfg);
		free(err);
	}

	struct strbuf q;
	strbuf_init(&q);
	render_quote(&q, "a \"b\" \\c $HOME");
	tap_is_str(strbuf_str(&q), "\"a \\\"b\\\" \\\\c \\$HOME\"", "render_quote escapes \" \\ $");
	strbuf_done(&q);
	test_fragments();
	return tap_done();
}
