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
#include "flowproxy/snippets.h"
#include "flowproxy/telemetry_parse.h"
#include "tap.h"

#include <sys/stat.h>
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

/*
 * The golden files name the error pages at a fixed path, so that they do not depend on where the
 * source tree is; haproxy -c reads them there. Written atomically: other test runs may read them.
 */
#define GOLDEN_ERRORFILES "/tmp/fp-golden/errorfiles"
static const char *const error_codes[] = {"400", "403", "405", "408", "429",
					  "500", "502", "503", "504"};

static void stage_errorfiles(void)
{
	mkdir("/tmp/fp-golden", 0755);
	mkdir(GOLDEN_ERRORFILES, 0755);
	for (size_t i = 0; i < ARRAY_SIZE(error_codes); i++) {
		char *from = xasprintf("%s/haproxy/errorfiles/%s.http", src_root(), error_codes[i]);
		char *to = xasprintf("%s/%s.http", GOLDEN_ERRORFILES, error_codes[i]);
		char *text = NULL;
		size_t len = 0;

		if (read_file(from, 1 << 16, &text, &len) == 0)
			write_file_atomic(to, text, len);
		free(text);
		free(from);
		free(to);
	}
}

/*
 * Each error page is an HTTP response HAProxy accepts as is: a status line with the page's code,
 * CRLF line ends, and a Content-Length equal to the body's length.
 */
static void test_errorfiles(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(error_codes); i++) {
		char *path = xasprintf("%s/haproxy/errorfiles/%s.http", src_root(), error_codes[i]);
		char *text = NULL, *status = xasprintf("HTTP/1.1 %s ", error_codes[i]);
		size_t len = 0;
		int k = read_file(path, 1 << 16, &text, &len);

		tap_ok(k == 0, "%s.http is readable", error_codes[i]);
		if (k == 0) {
			const char *end = strstr(text, "\r\n\r\n");
			const char *cl = strstr(text, "\r\nContent-Length: ");
			long n = -1;

			tap_ok(str_startswith(text, status), "%s.http: status line",
			       error_codes[i]);
			tap_ok(end && cl && cl < end, "%s.http: headers end with CRLF CRLF",
			       error_codes[i]);
			if (end && cl && cl < end) {
				char *v = xstrndup(cl + 18, strcspn(cl + 18, "\r"));
				parse_long(v, 0, 1 << 16, &n);
				free(v);
				tap_ok(n == (long)(len - (size_t)(end + 4 - text)),
				       "%s.http: Content-Length %ld is the body's length",
				       error_codes[i], n);
			}
			bool bare_lf = false;
			for (const char *q = text; end && q < end; q++)
				bare_lf |= *q == '\n' && (q == text || q[-1] != '\r');
			tap_ok(!bare_lf, "%s.http: header lines end with CRLF", error_codes[i]);
		}
		free(status);
		free(text);
		free(path);
	}
}

static int haproxy_check(const char *path)
{
	char *cmd = xasprintf("haproxy -c -q -f %s >/dev/null 2>&1", path);
	int st = system(cmd);

	free(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* s with each LF written as "\n", for a one-line TAP test name. Caller frees. */
static char *one_line(const char *s)
{
	struct strbuf b;

	strbuf_init(&b);
	for (; *s; s++) {
		if (*s == '\n')
			strbuf_puts(&b, "\\n");
		else
			strbuf_putc(&b, *s);
	}
	return strbuf_steal(&b);
}

struct golden_case {
	const char *name;
	const char *env[8];
	const char *services[12];
	const char *crt_list; /* render_set_certs: the certificates' crt-list, NULL for none */
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
	/* DFP's generation settings of §3 together, so that haproxy -c sees them. */
	{"settings",
	 {"COMPRESSION_ALGO=gzip", "COMPRESSION_TYPE=text/html text/plain",
	  "CAPTURE_REQUEST_HEADER=X-Trace:16,Referer:5", "DEBUG=true", "CHECK_RESOLVERS=true",
	  "STATS_USER=admin", "STATS_PASS=pw", NULL},
	 {"serviceName=web&servicePath=/web&port=8080", NULL}},
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
	char *env[16];
	size_t ne = 0;
	int k;

	/* The case's settings first: the first of two same-named variables counts. The defaults
	 * keep the output the same on every machine (RESOLVE_SERVERS=auto looks at /.dockerenv). */
	for (size_t i = 0; gc->env[i]; i++)
		env[ne++] = (char *)gc->env[i];
	env[ne++] = "FLOWPROXY_RUN_DIR=/tmp/fp-golden";
	env[ne++] = "DEFAULT_PORTS=8000,8443:ssl";
	env[ne++] = "RESOLVE_SERVERS=false";
	env[ne++] = "ERRORFILES_PATH=" GOLDEN_ERRORFILES;
	env[ne] = NULL;
	k = config_load(&cfg, 0, NULL, env, &err);
	tap_is_int(k, 0, "config loads");
	char *tdir = xasprintf("%s/templates", src_root());
	k = render_new(tdir, "haproxy.tmpl", &r, &err);
	tap_ok(k == 0, "%s: templates load%s%s", gc->name, err ? ": " : "", err ? err : "");
	free(tdir);
	if (r && gc->crt_list)
		render_set_certs(r, gc->crt_list, 0x1234);
	registry_init(&reg);
	struct labels_ctx ctx = {.separator = cfg.separator,
				 .domain_algo = cfg.service_domain_algo,
				 .https_only = cfg.https_only,
				 .users = cfg.users,
				 .users_pass_encrypted = cfg.users_pass_encrypted,
				 .ca_file = str_set(cfg.ca_file)};
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
	const char *crt_list; /* as golden_case's */
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
	{"header values are HAProxy words, conditions follow",
	 {NULL},
	 "serviceName=m&servicePath=/a&port=80&setResHeader=X-H \"a; b\" if { ssl_fc }&"
	 "addReqHeader=X-Q 'it''s \"x\"',X-W \"p q\" unless { hdr(x) -m str \"a b\" }",
	 {"\n    http-response set-header X-H \"a; b\" if { ssl_fc }\n",
	  "\n    http-request add-header X-Q \"its \\\"x\\\"\"\n",
	  "\n    http-request add-header X-W \"p q\" unless { hdr(x) -m str \"a b\" }\n", NULL},
	 {NULL}},
	{"allowedMethods and deniedMethods",
	 {NULL},
	 "serviceName=m&servicePath=/a&port=80&allowedMethods=GET,HEAD&deniedMethods=DELETE",
	 {"\n    acl valid_allowed_method method GET HEAD\n"
	  "    http-request deny unless valid_allowed_method\n",
	  "\n    acl valid_denied_method method DELETE\n"
	  "    http-request deny if valid_denied_method\n",
	  NULL},
	 {NULL}},
	{"serviceHeader numbered across destinations, userAgent",
	 {NULL},
	 "serviceName=h&servicePath.1=/a&serviceHeader.1=X-V:1,X-A:2&servicePath.2=/b&"
	 "serviceHeader.2=X-V:2&userAgent.2=curl,Mozilla/5.0&port=80",
	 {"\n    acl hdr_h80_0 hdr(X-A) 2\n    acl hdr_h80_1 hdr(X-V) 1\n",
	  "\n    acl hdr_h80_2 hdr(X-V) 2\n",
	  "\n    acl user_agent_h_curl_Mozilla_5_0_2 hdr_sub(User-Agent) -i curl Mozilla/5.0\n",
	  "\n    use_backend h-be80_1 if url_h80_1 hdr_h80_0 hdr_h80_1\n",
	  "\n    use_backend h-be80_2 if url_h80_2 hdr_h80_2 user_agent_h_curl_Mozilla_5_0_2",
	  NULL},
	 {NULL}},
	{"redirectFromDomain and redirectUnlessHttpsProto",
	 {NULL},
	 "serviceName=r&serviceDomain=new.test&redirectFromDomain=old.test,older.test&"
	 "redirectUnlessHttpsProto=true&httpsRedirectCode=308&port=80",
	 {"\n    http-request redirect code 301 prefix http://new.test if { hdr_beg(host) -i "
	  "old.test }\n",
	  "if { hdr_beg(host) -i older.test }\n",
	  "\n    acl is_r_https hdr(X-Forwarded-Proto) https\n"
	  "    http-request redirect scheme https code 308 if !is_r_https url_r80_0 "
	  "domain_r80_0\n",
	  NULL},
	 {NULL}},
	{"connectionMode, compression, sticky sessions, backendExtra, checkResolvers",
	 {NULL},
	 "serviceName=c&servicePath=/a&port=80&connectionMode=http-server-close&"
	 "compressionAlgo=gzip deflate&compressionType=text/html text/plain&"
	 "sessionType=sticky-server&checkResolvers=true&"
	 "backendExtra=http-response set-header X-Extra 1\n  retries 2",
	 {"\n    option http-server-close\n",
	  "\n    compression algo gzip deflate\n    compression type text/html text/plain\n",
	  "\n    cookie c insert indirect nocache\n",
	  "\n    server c c:80 check resolvers docker resolve-prefer ipv4 cookie c\n"
	  "    http-response set-header X-Extra 1\n    retries 2\n",
	  NULL},
	 {NULL}},
	{"RESOLVE_SERVERS=true: host names are re-resolved, addresses are not",
	 {"RESOLVE_SERVERS=true", NULL},
	 "serviceName=n&servicePath.1=/a&port.1=80&servicePath.2=/b&port.2=81&"
	 "outboundHostname.2=10.1.2.3",
	 {"\n    server n n:80 resolvers docker resolve-prefer ipv4\n",
	  "\n    server n 10.1.2.3:81\n", "\n    hold timeout 24d\n", NULL},
	 {NULL}},
	{"a path starting with '-' is not read as a flag",
	 {NULL},
	 "serviceName=m&servicePath=/a,-i&pathType=path_beg -i&port=80",
	 {"\n    acl url_m80_0 path_beg -i -- /a -i\n", NULL},
	 {NULL}},
	/* The telemetry log-format of defaults names HTTP-only fields: a tcp frontend needs its own. */
	{"DEFAULT_REQ_MODE=tcp: a tcp log-format in frontend services",
	 {"DEFAULT_REQ_MODE=tcp", NULL},
	 "serviceName=m&servicePath=/a&port=80",
	 {"\n    mode tcp\n    log-format \"" TELEMETRY_TCP_LOG_FORMAT "\"\n", NULL},
	 {"option  forwardfor", NULL}},
	{"COMPRESSION_ALGO and COMPRESSION_TYPE in defaults, before the dontlog options",
	 {"COMPRESSION_ALGO=gzip deflate", "COMPRESSION_TYPE=text/html text/plain", NULL},
	 "serviceName=m&servicePath=/a&port=80",
	 {"\n    balance roundrobin\n    compression algo gzip deflate\n    compression type "
	  "text/html text/plain\n    option  dontlognull\n",
	  NULL},
	 {NULL}},
	{"COMPRESSION_ALGO alone: no compression type",
	 {"COMPRESSION_ALGO=gzip", NULL},
	 "serviceName=m&servicePath=/a&port=80",
	 {"\n    compression algo gzip\n", NULL},
	 {"compression type", NULL}},
	{"CAPTURE_REQUEST_HEADER: one capture line per header, after BIND_PORTS",
	 {"CAPTURE_REQUEST_HEADER=X-Trace:16,Referer:5", "BIND_PORTS=8081", NULL},
	 "serviceName=m&servicePath=/a&port=80",
	 {"\n    bind *:8081\n    capture request header X-Trace len 16\n    capture request "
	  "header Referer len 5\n",
	  NULL},
	 {NULL}},
	{"DEBUG: the printed line (httplog) after the telemetry fields, no dontlog options",
	 {"DEBUG=true", NULL},
	 "serviceName=m&servicePath=/a&port=80",
	 {"\n    log-format \"" TELEMETRY_LOG_FORMAT " %ci:%cp [%tr] %ft %b/%s ", "%{+Q}r\"\n",
	  "\n    log global\n    server m m:80\n", NULL},
	 {"dontlognull", "dontlog-normal", NULL}},
	{"DEBUG_HTTP_FORMAT: quotes and $ escaped in the quoted log-format, backslashes kept",
	 {"DEBUG=true", "DEBUG_HTTP_FORMAT=a \"b\" $x c\\ d", NULL},
	 "serviceName=m&servicePath=/a&port=80",
	 {"\n    log-format \"" TELEMETRY_LOG_FORMAT " a \\\"b\\\" \\$x c\\ d\"\n", NULL},
	 {NULL}},
	{"DEBUG with DEFAULT_REQ_MODE=tcp: tcplog after the tcp telemetry fields",
	 {"DEBUG=true", "DEFAULT_REQ_MODE=tcp", NULL},
	 "serviceName=m&servicePath=/a&port=80",
	 {"\n    log-format \"" TELEMETRY_TCP_LOG_FORMAT " %ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt",
	  NULL},
	 {NULL}},
	{"CHECK_RESOLVERS=true: every server checked and resolved through resolvers docker",
	 {"CHECK_RESOLVERS=true", NULL},
	 "serviceName=m&servicePath=/a&port=80",
	 {"\n    server m m:80 check resolvers docker resolve-prefer ipv4\n", NULL},
	 {NULL}},
	{"checkResolvers=true: the service's servers only",
	 {NULL},
	 "serviceName=m&servicePath=/a&port=80&checkResolvers=true",
	 {"\n    server m m:80 check resolvers docker resolve-prefer ipv4\n", NULL},
	 {NULL}},
	{"neither: no checks",
	 {NULL},
	 "serviceName=m&servicePath=/a&port=80",
	 {"\n    server m m:80\n", NULL},
	 {"check resolvers", NULL}},
	/* TLS (docs/tls.md); the render tests' DEFAULT_PORTS is 8000,8443:ssl */
	{":ssl without any certificate: not bound",
	 {NULL},
	 "serviceName=m&servicePath=/a&port=80",
	 {"\n    bind *:8000\n", NULL},
	 {"8443", "crt-list", "# certificates", NULL}},
	{":ssl with certificates: crt-list, h2",
	 {NULL},
	 "serviceName=m&servicePath=/a&port=80",
	 {"\n    bind *:8000\n    bind *:8443 ssl crt-list /cfg/crt-list.txt alpn h2,http/1.1\n",
	  "\n# certificates 0000000000001234\n", NULL},
	 {NULL},
	 "/cfg/crt-list.txt"},
	{"ENABLE_H2=false, CA_FILE, BIND_PORTS with options",
	 {"ENABLE_H2=false", "CA_FILE=/ca.pem", "BIND_PORTS=9000,9443 accept-proxy:ssl", NULL},
	 "serviceName=m&servicePath=/a&port=80",
	 {"\n    bind *:8443 ssl crt-list /l alpn http/1.1 ca-file /ca.pem verify optional\n",
	  "\n    bind *:9000\n",
	  "\n    bind *:9443 accept-proxy ssl crt-list /l alpn http/1.1 ca-file /ca.pem verify "
	  "optional\n",
	  NULL},
	 {"h2", NULL},
	 "/l"},
	{"BIND_PORTS :ssl without certificates: not bound",
	 {"BIND_PORTS=9000,9443 accept-proxy:ssl", NULL},
	 "serviceName=m&servicePath=/a&port=80",
	 {"\n    bind *:9000", NULL},
	 {"9443", NULL}},
	{"denyHttp",
	 {NULL},
	 "serviceName=m&servicePath=/a&port=80&denyHttp=true",
	 {"\n    http-request deny if !{ ssl_fc }\n", NULL},
	 {NULL}},
	{"sslVerifyNone on task slots and on a host",
	 {NULL},
	 "serviceName=m&servicePath=/a&port=443&sslVerifyNone=true&outboundHostname=h.internal",
	 {"\n    server m h.internal:443 ssl verify none\n", NULL},
	 {NULL}},
	{"sslVerifyNone on DNS discovery",
	 {NULL},
	 "serviceName=m&servicePath=/a&port=443&sslVerifyNone=true&discoveryType=DNS",
	 {"resolve-prefer ipv4 ssl verify none\n", NULL},
	 {NULL}},
	{"verifyClientSsl",
	 {"CA_FILE=/ca.pem", NULL},
	 "serviceName=m&aclName=acl&servicePath=/a&port=80&verifyClientSsl=true",
	 {"\n    acl valid_client_cert_m80 ssl_c_used\n    http-request deny unless "
	  "valid_client_cert_m80 { ssl_c_verify 0 }\n",
	  NULL},
	 {NULL}},
	{"verifyClientSsl on an httpsPort-only destination",
	 {"CA_FILE=/ca.pem", NULL},
	 "serviceName=m&servicePath=/a&httpsPort=8443&verifyClientSsl=true",
	 {"\n    acl valid_client_cert_m8443 ssl_c_used\n", NULL},
	 {"(null)", NULL}},
	{"httpsPort: DFP's second backend and its ACLs",
	 {NULL},
	 "serviceName=m&servicePath=/a&serviceDomain=m.test&port=80&httpsPort=8443&httpsOnly=true&"
	 "denyHttp=true",
	 {"\n    acl url_m80_0 path_beg /a\n    acl domain_m80_0 hdr_beg(host) -i m.test\n"
	  "    acl srcPort_m80_0 dst_port 80\n"
	  "    acl url_https_m8443_0 path_beg /a\n    acl domain_https_m8443_0 hdr_beg(host) -i "
	  "m.test\n    acl srcHttpsPort_m443_0 dst_port 443\n",
	  "\n    use_backend m-be80_0 if url_m80_0 domain_m80_0 srcPort_m80_0\n"
	  "    use_backend https-m-be8443_0 if url_https_m8443_0 domain_https_m8443_0 "
	  "srcHttpsPort_m443_0\n",
	  "\nbackend https-m-be8443_0\n    mode http\n    http-request add-header "
	  "X-Forwarded-Proto https if { ssl_fc }\n",
	  "\n    server m m:8443\n", "\nbackend m-be80_0\n",
	  "\n    http-request redirect scheme https if !{ ssl_fc }\n", NULL},
	 {NULL}},
	{"httpsPort without port: only the https backend",
	 {NULL},
	 "serviceName=m&servicePath=/a&httpsPort=8443&srcHttpsPort=9443",
	 {"\nbackend https-m-be8443_0\n", "acl srcHttpsPort_m9443_0 dst_port 9443\n", NULL},
	 {"backend m-be", NULL}},
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
	{"tcp: DEBUG prints tcplog lines after the tcp telemetry fields",
	 {"DEBUG=true", NULL},
	 "serviceName=t&reqMode=tcp&srcPort=5000&port=6000",
	 {"\n    mode tcp\n    no option idle-close-on-response\n    log-format \"" TELEMETRY_TCP_LOG_FORMAT
	  " %ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt",
	  NULL},
	 {"option tcplog", NULL}},
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
	{"error pages: every code DFP's template names, from ERRORFILES_PATH",
	 {"ERRORFILES_PATH=/pages", NULL},
	 "serviceName=m&servicePath=/a&port=80",
	 {"\n    default-server init-addr last,libc,none\n    errorfile 400 /pages/400.http\n"
	  "    errorfile 403 /pages/403.http\n    errorfile 405 /pages/405.http\n"
	  "    errorfile 408 /pages/408.http\n    errorfile 429 /pages/429.http\n"
	  "    errorfile 500 /pages/500.http\n    errorfile 502 /pages/502.http\n"
	  "    errorfile 503 /pages/503.http\n    errorfile 504 /pages/504.http\n    maxconn 5000\n",
	  NULL},
	 {NULL}},
	{"error pages: ERRORFILES_PATH=none keeps HAProxy's own",
	 {"ERRORFILES_PATH=none", NULL},
	 "serviceName=m&servicePath=/a&port=80",
	 {"\n    default-server init-addr last,libc,none\n    maxconn 5000\n", NULL},
	 {"errorfile", NULL}},
};

/*
 * One service (query q; NULL: "web", /web, port 8080), its custom templates fe and be (NULL for
 * none) and its slots, rendered with base template base (a path) and snippets sn.
 */
static int render_svc(const char *q, const char *fe, const char *be, const char *base,
		      const struct snippets *sn, const char *const *slots, size_t n_slots,
		      struct strbuf *out, struct render_plan *plan, char **err)
{
	struct config cfg;
	struct render *r = NULL;
	struct registry reg;
	struct render_service *rs = NULL;
	char *env[] = {"FLOWPROXY_RUN_DIR=/tmp/fp-golden", "DEFAULT_PORTS=8000,8443:ssl",
		       "ERRORFILES_PATH=" GOLDEN_ERRORFILES, NULL};
	struct labels_ctx ctx = {",", "hdr_beg(host)", false, "", false};
	struct params p;
	struct service *svc = NULL;
	int k;

	config_load(&cfg, 0, NULL, env, err);
	char *tdir = xasprintf("%s/templates", src_root());
	k = render_new(tdir, base, &r, err);
	free(tdir);
	if (k < 0) {
		config_done(&cfg);
		return k;
	}
	parse_query(q ? q : "serviceName=web&servicePath=/web&port=8080", &p);
	k = labels_parse(&p, &ctx, &svc, NULL, err);
	params_done(&p);
	if (k < 0) {
		render_free(r);
		config_done(&cfg);
		return k;
	}
	svc->template_fe = fe ? xstrdup(fe) : NULL;
	svc->template_be = be ? xstrdup(be) : NULL;
	registry_init(&reg);
	registry_put(&reg, svc, slots, n_slots);
	registry_render_services(&reg, &rs);
	k = render_config_snippets(r, &cfg, rs, 1, sn, out, plan, err);
	free(rs);
	registry_done(&reg);
	render_free(r);
	config_done(&cfg);
	return k;
}

static int render_one(const char *base, const struct snippets *sn, const char *const *slots,
		      size_t n_slots, struct strbuf *out, struct render_plan *plan, char **err)
{
	return render_svc(NULL, NULL, NULL, base, sn, slots, n_slots, out, plan, err);
}

/*
 * templateFePath / templateBePath: executed against DFP's Service fields (as service_to_json
 * names them, formatted as DFP's FormatServiceForTemplates leaves them), in place of what is
 * generated for the service.
 */
static void test_service_templates(bool have_haproxy)
{
	const char *q = "serviceName=web&aclName=w&servicePath.1=/a&servicePath.2=/b,/c&port=8080&"
			"srcPort.2=8000&userDef.1=one&userDef=all&serviceDomain.2=x.test&"
			"templateFePath=fe.tmpl&templateBePath=/t/be.tmpl";
	const char *fe = "{{- range .ServiceDest}}\n"
			 "    acl url_{{$.AclName}}{{.Port}}_{{.Index}} {{.PathType}}"
			 "{{range .ServicePath}} {{.}}{{end}}\n"
			 "{{- if .SrcPort}}\n    {{.SrcPortAcl}}{{end}}\n"
			 "    use_backend {{$.AclName}}-be{{.Port}}_{{.Index}} if "
			 "url_{{$.AclName}}{{.Port}}_{{.Index}}{{.SrcPortAclName}}\n"
			 "{{- end}}\n";
	const char *be = "{{- $svc := .ServiceName}}{{range $i, $d := .ServiceDest}}\n"
			 "backend {{$.AclName}}-be{{$d.Port}}_{{$d.Index}}\n"
			 "    mode {{$d.ReqMode}}\n"
			 "    # {{$svc}} {{$i}} {{$d.UserDef}} {{len $d.ServiceDomain}} "
			 "{{$.TemplateBePath}} {{$.IsGlobal}}\n"
			 "{{- range $.Tasks}}\n    server t{{.}} {{.}}:{{$d.Port}}{{end}}\n"
			 "{{- end}}\n";
	const char *slots[] = {"10.0.0.7", "", "10.0.0.5:9000"};
	struct strbuf out;
	struct render_plan plan = {0};
	char *err = NULL;

	strbuf_init(&out);
	int k = render_svc(q, fe, be, "haproxy.tmpl", NULL, slots, 3, &out, &plan, &err);
	tap_ok(k == 0, "service templates: render%s%s", k ? ": " : "", k && err ? err : "");
	const char *o = strbuf_str(&out);
	static const char *const has[] = {
		"\n    acl url_w8080_1 path_beg /a\n    use_backend w-be8080_1 if url_w8080_1\n",
		"\n    acl url_w8080_2 path_beg /b /c\n    acl srcPort_w8000_2 dst_port 8000\n"
		"    use_backend w-be8080_2 if url_w8080_2 srcPort_w8000_2\n",
		"\nbackend w-be8080_1\n    mode http\n    # web 0 one 0 /t/be.tmpl true\n"
		"    server t10.0.0.5 10.0.0.5:8080\n    server t10.0.0.7 10.0.0.7:8080\n",
		"\nbackend w-be8080_2\n    mode http\n    # web 1 all 1 /t/be.tmpl true\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(has); i++) {
		_cleanup_free_ char *l = one_line(has[i]);
		tap_ok(strstr(o, has[i]) != NULL, "service templates: has '%s'", l);
	}
	tap_ok(strstr(o, "domain_w") == NULL && strstr(o, "server web_1") == NULL,
	       "service templates: nothing generated for the service is left");
	tap_ok(plan.n_backends == 2 && plan.backends[0].n_slots == 0,
	       "service templates: its backends have no task slots to re-point");
	/* The "mode http" line of destination 2's backend: line 3 of what be.tmpl wrote for it. */
	const char *m = strstr(o, "\nbackend w-be8080_2\n    mode http\n");
	size_t line = 2;
	for (const char *c = o; m && c <= m; c++)
		line += *c == '\n';
	char *msg = xasprintf("parsing [/cfg/haproxy.cfg:%zu] : bad", line);
	char *why = render_plan_blame(&plan, msg);
	tap_ok(why && strstr(why, "is line 8 of the output of") && strstr(why, "'/t/be.tmpl'"),
	       "service templates: an error in its backend names the file: %s",
	       why ? why : "(none)");
	free(why);
	free(msg);
	char *path = xasprintf("/tmp/fp-golden/service-templates-%d.cfg", (int)getpid());
	write_file_atomic(path, o, out.len);
	if (have_haproxy)
		tap_is_int(haproxy_check(path), 0,
			   "service templates: the result passes haproxy -c");
	unlink(path);
	free(path);
	render_plan_done(&plan);
	strbuf_reset(&out);
	free(err);
	err = NULL;
	k = render_svc(q, "{{index .ServiceDest 5}}", NULL, "haproxy.tmpl", NULL, slots, 3, &out,
		       NULL, &err);
	tap_is_int(k, -EINVAL, "service templates: a failing template fails the rendering");
	tap_ok(err && strstr(err, "service 'web': templateFePath: fe.tmpl:1:"),
	       "service templates: naming the service, the parameter and the file: %s",
	       err ? err : "");
	free(err);
	strbuf_done(&out);
}

static char *write_temp(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);

	write_file_atomic(path, text, strlen(text));
	return path;
}

/*
 * A base template in Docker Flow Proxy's dialect (tests/fixtures/templates/dfp-base.tmpl): every
 * field DFP's haproxy.tmpl reads, rendered as DFP would, and HAProxy takes the result.
 */
static void test_dfp_base(bool have_haproxy)
{
	char *fixture = xasprintf("%s/tests/fixtures/templates/dfp-base.tmpl", src_root());
	char *text = NULL, *err = NULL;
	struct strbuf t, out;

	strbuf_init(&t);
	strbuf_init(&out);
	tap_ok(read_file(fixture, 1 << 20, &text, NULL) == 0, "the DFP base template is there");
	/* Its error pages are at DFP's /errorfiles; the test's copies are elsewhere. */
	for (const char *q = text ? text : ""; *q;) {
		const char *e = strstr(q, "/errorfiles/");
		if (!e) {
			strbuf_puts(&t, q);
			break;
		}
		strbuf_append(&t, q, (size_t)(e - q));
		strbuf_puts(&t, GOLDEN_ERRORFILES "/");
		q = e + 12;
	}
	char *base = xasprintf("/tmp/fp-golden/dfp-base-%d.tmpl", (int)getpid());
	write_file_atomic(base, strbuf_str(&t), t.len);
	const char *slots[] = {"10.0.0.5"};
	int k = render_one(base, NULL, slots, 1, &out, NULL, &err);
	tap_ok(k == 0, "DFP base template renders%s%s", k ? ": " : "", k && err ? err : "");
	const char *o = strbuf_str(&out);
	static const char *const has[] = {
		"\n    tune.ssl.default-dh-param 2048\n    ssl-default-bind-options no-sslv3\n",
		"\nresolvers docker\n    nameserver dns 127.0.0.11:53\n    hold valid 10s\n",
		"\n    balance roundrobin\n\n    option  dontlognull\n    option  http-keep-alive\n",
		"\n    errorfile 503 " GOLDEN_ERRORFILES "/503.http\n",
		"\n    timeout client  20s\n    timeout server  20s\n    timeout queue   30s\n",
		"\n    timeout http-keep-alive 15s\n",
		"\nfrontend services\n    bind *:8000\n    mode http\n"
		"    option  forwardfor\n    http-response set-header X-Base-Template dfp\n",
		"\n    acl url_web8080_0 path_beg /web\n    use_backend web-be8080_0 if url_web8080_0\n",
		/* What flowproxy needs and the template lacks, in a global section of its own. */
		"\nglobal\n    stats socket /tmp/fp-golden/stats.sock mode 600 level admin\n"
		"    stats timeout 24d\n    hard-stop-after 30s\n",
		"\nbackend web-be8080_0\n",
		"\n    server web_1 10.0.0.5:8080\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(has); i++) {
		_cleanup_free_ char *l = one_line(has[i]);
		tap_ok(strstr(o, has[i]) != NULL, "DFP base template: has '%s'", l);
	}
	tap_ok(strstr(o, "{{") == NULL && strstr(o, "bind *:8443 ") == NULL,
	       "DFP base template: no action left, no CertsString without certificates");
	char *path = xasprintf("/tmp/fp-golden/dfp-base-%d.cfg", (int)getpid());
	write_file_atomic(path, o, out.len);
	if (have_haproxy)
		tap_is_int(haproxy_check(path), 0,
			   "DFP base template: the result passes haproxy -c");
	if (k != 0 || (have_haproxy && haproxy_check(path) != 0))
		tap_diag("got:\n%s", o);
	unlink(path);
	unlink(base);
	free(path);
	free(base);
	free(fixture);
	free(text);
	free(err);
	strbuf_done(&t);
	strbuf_done(&out);
}

/* Snippet files: read from a directory, joined as DFP joins them, replacing a service's part. */
static void test_snippets(bool have_haproxy)
{
	char dir[] = "/tmp/fp-snippets.XXXXXX";
	struct snippets sn;
	struct strbuf out;
	struct render_plan plan = {0};
	char *err = NULL;

	snippets_init(&sn);
	strbuf_init(&out);
	tap_ok(mkdtemp(dir) != NULL, "snippets: a directory");
	free(write_temp(dir, "web-be.cfg",
			"backend web-be8080_0\n    mode http\n"
			"    http-response set-header X-T {{.TimeoutServer}}\n"
			"    server own 127.0.0.1:9\n"));
	free(write_temp(dir, "zz-fe.cfg",
			"    acl url_zz path_beg /zz\n"
			"    use_backend zz-be if url_zz"));
	free(write_temp(dir, "aa-fe.cfg",
			"    acl url_aa path_beg /aa\n"
			"    use_backend zz-be if url_aa\n"));
	free(write_temp(dir, "zz-be.cfg", "backend zz-be\n    mode http\n"));
	free(write_temp(dir, "-fe.cfg", "not a snippet: no name\n"));
	free(write_temp(dir, "notes.cfg", "not a snippet: no suffix\n"));
	tap_is_int(snippets_load(dir, &sn, &err), 0, "snippets: load");
	tap_is_int((long long)sn.n, 4, "snippets: four files, the others ignored");
	tap_ok(sn.n == 4 && streq(sn.v[0].acl, "aa") && sn.v[0].kind == SNIPPET_FE &&
		       streq(sn.v[1].acl, "zz") && sn.v[1].kind == SNIPPET_FE &&
		       streq(sn.v[2].acl, "web") && sn.v[2].kind == SNIPPET_BE &&
		       streq(sn.v[3].acl, "zz") && sn.v[3].kind == SNIPPET_BE,
	       "snippets: -fe.cfg first, then -be.cfg, each in name order");

	const char *slots[] = {"10.0.0.5", ""};
	int k = render_one("haproxy.tmpl", &sn, slots, 2, &out, &plan, &err);
	tap_ok(k == 0, "snippets: render%s%s", k ? ": " : "", k && err ? err : "");
	const char *o = strbuf_str(&out);
	const char *fe =
		strstr(o, "\n    acl url_aa path_beg /aa\n    use_backend zz-be if url_aa\n"
			  "\n    acl url_zz path_beg /zz\n    use_backend zz-be if url_zz\n");
	const char *gen = strstr(o, "\n    acl url_web8080_0 path_beg /web\n");
	const char *web =
		strstr(o, "\nbackend web-be8080_0\n    mode http\n"
			  "    http-response set-header X-T 20\n    server own 127.0.0.1:9\n");
	const char *zz = strstr(o, "\nbackend zz-be\n");
	tap_ok(gen && fe && gen < fe, "snippets: -fe.cfg files follow the generated frontend");
	tap_ok(fe && web && zz && fe < web && web < zz, "snippets: then the -be.cfg files");
	tap_ok(strstr(o, "\nglobal\n") == NULL,
	       "snippets: the stock template has what flowproxy needs: no global of its own");
	tap_ok(strstr(o, "server web_1") == NULL && strstr(o, "retry-on") == NULL,
	       "snippets: web-be.cfg replaces the generated backend of web");
	tap_ok(plan.n_backends == 1 && plan.backends[0].n_slots == 0,
	       "snippets: a replaced backend has no task slots to re-point");
	tap_is_int((long long)plan.n_sources, 4, "snippets: where each file landed is known");
	/* The line "server own" of web-be.cfg (its line 4) in haproxy.cfg. */
	size_t line = 1;
	for (const char *q = o;
	     web && q < web + 1 +
				    strlen("backend web-be8080_0\n    mode http\n"
					   "    http-response set-header X-T 20\n");
	     q++)
		line += *q == '\n';
	char *msg = xasprintf("[ALERT] parsing [/cfg/haproxy.cfg:%zu] : unknown keyword", line);
	char *why = render_plan_blame(&plan, msg);
	char *want = xasprintf("line %zu of haproxy.cfg is line 4 of the output of '%s/web-be.cfg'",
			       line, dir);
	tap_is_str(why, want, "snippets: an error on a file's line names the file and line");
	free(why);
	free(msg);
	msg = xasprintf("parsing [/cfg/haproxy.cfg:3] : unknown keyword");
	why = render_plan_blame(&plan, msg);
	tap_ok(why == NULL, "snippets: an error elsewhere blames no file");
	free(why);
	free(msg);
	free(want);
	char *path = xasprintf("%s/haproxy.cfg", dir);
	write_file_atomic(path, o, out.len);
	if (have_haproxy)
		tap_is_int(haproxy_check(path), 0, "snippets: the result passes haproxy -c");
	unlink(path);
	free(path);
	render_plan_done(&plan);
	strbuf_reset(&out);

	/* <acl>-fe.cfg of a routed service replaces its generated frontend lines. */
	free(write_temp(dir, "web-fe.cfg", "    use_backend web-be8080_0 if { path_beg /own }\n"));
	snippets_done(&sn);
	tap_is_int(snippets_load(dir, &sn, &err), 0, "snippets: load again");
	k = render_one("haproxy.tmpl", &sn, slots, 2, &out, NULL, &err);
	o = strbuf_str(&out);
	tap_ok(k == 0 && strstr(o, "url_web8080_0") == NULL &&
		       strstr(o, "\n    use_backend web-be8080_0 if { path_beg /own }\n"),
	       "snippets: web-fe.cfg replaces web's generated frontend lines");

	/* A file that is no template is refused, named. */
	free(write_temp(dir, "bad-be.cfg", "backend x\n    {{.Oops\n"));
	snippets_done(&sn);
	k = snippets_load(dir, &sn, &err);
	tap_is_int(k, -EINVAL, "snippets: a file that does not parse is refused");
	tap_ok(err && strstr(err, "/bad-be.cfg:2:"), "snippets: the message names it: %s",
	       err ? err : "");
	tap_is_int((long long)sn.n, 0, "snippets: nothing is kept then");
	tap_is_int(snippets_load("/nonexistent/fp", &sn, &err), 0,
		   "snippets: a missing directory has none");
	char *rm = xasprintf("rm -rf %s", dir);
	tap_is_int(system(rm), 0, "snippets: clean up");
	free(rm);
	snippets_done(&sn);
	strbuf_done(&out);
	free(err);
}

static void test_fragments(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(fragments); i++) {
		const struct fragment_case *fc = &fragments[i];
		struct golden_case gc = {fc->name, {NULL}, {fc->query, NULL}, fc->crt_list};
		struct strbuf out;

		for (size_t j = 0; fc->env[j]; j++)
			gc.env[j] = fc->env[j];
		strbuf_init(&out);
		if (render_case(&gc, &out, NULL) == 0) {
			const char *o = strbuf_str(&out);
			for (size_t j = 0; fc->has[j]; j++) {
				_cleanup_free_ char *l = one_line(fc->has[j]);
				if (!tap_ok(strstr(o, fc->has[j]) != NULL, "%s: has '%s'", fc->name,
					    l))
					tap_diag("in:\n%s", o);
			}
			for (size_t j = 0; fc->lacks[j]; j++) {
				_cleanup_free_ char *l = one_line(fc->lacks[j]);
				tap_ok(strstr(o, fc->lacks[j]) == NULL, "%s: lacks '%s'", fc->name,
				       l);
			}
		}
		strbuf_done(&out);
	}
}

int main(void)
{
	bool update = getenv("FLOWPROXY_UPDATE_GOLDEN") != NULL;
	bool have_haproxy = system("haproxy -v >/dev/null 2>&1") == 0;

	stage_errorfiles();
	test_errorfiles();

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
		char *env[] = {"DEFAULT_PORTS=8000", "RESOLVE_SERVERS=false", NULL};
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
	strbuf_put_quoted(&q, "a \"b\" \\c $HOME");
	tap_is_str(strbuf_str(&q), "\"a \\\"b\\\" \\\\c \\$HOME\"",
		   "strbuf_put_quoted escapes \" \\ $");
	strbuf_done(&q);
	test_fragments();
	test_dfp_base(have_haproxy);
	test_snippets(have_haproxy);
	test_service_templates(have_haproxy);
	return tap_done();
}
