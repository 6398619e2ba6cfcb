// SPDX-License-Identifier: MIT
/*
 * Unit tests for labels (parameter map -> struct service) and service (params, dup, JSON):
 * every parameter into its field, indexing with fallback and the first-gap stop, DFP's
 * validation messages and statuses, the injection checks, bools, env services, and the JSON
 * shape of DFP's ping answer.
 */
#include "flowproxy/labels.h"
#include "tap.h"

#include <cjson/cJSON.h>

/* Splits "k=v&k2=v2" (no URL decoding) into p. */
static void query(struct params *p, const char *q)
{
	while (*q) {
		const char *e = strchr(q, '&');
		size_t n = e ? (size_t)(e - q) : strlen(q);
		char *kv = xstrndup(q, n);
		char *eq = strchr(kv, '=');
		if (eq)
			*eq = '\0';
		params_add(p, kv, eq ? eq + 1 : "");
		free(kv);
		q += n;
		if (*q)
			q++;
	}
}

/* q with control bytes escaped, for test names (TAP is line-based). */
static const char *esc(const char *q)
{
	static char buf[1024];
	size_t n = 0;

	for (; *q && n + 5 < sizeof(buf); q++) {
		unsigned char c = (unsigned char)*q;
		if (c < 0x20 || c == 0x7f)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\\x%02x", c);
		else
			buf[n++] = (char)c;
	}
	buf[n] = '\0';
	return buf;
}

static int parse(const char *q, const struct labels_ctx *ctx, struct service **ret, int *ret_status,
		 char **reterr)
{
	struct params p;
	int r;

	params_init(&p);
	query(&p, q);
	r = labels_parse(&p, ctx, ret, ret_status, reterr);
	params_done(&p);
	return r;
}

static void join_strv(struct strbuf *b, const struct strv *v)
{
	for (size_t i = 0; i < v->n; i++)
		strbuf_printf(b, "%s%s", i ? "|" : "", v->v[i]);
}

static void join_headers(struct strbuf *b, const struct service_header *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		strbuf_printf(b, "%s%s=%s%s%s", i ? "|" : "", h[i].name,
			      h[i].value ? h[i].value : "(nil)", h[i].cond ? " ?" : "",
			      h[i].cond ? h[i].cond : "");
}

/* A field of s as text: "name", "d1.port" (destination by position), ... */
static char *field(const struct service *s, const char *f)
{
	struct strbuf b;

	strbuf_init(&b);
	if (f[0] == 'd' && f[1] >= '0' && f[1] <= '9' && f[2] == '.') {
		size_t i = (size_t)(f[1] - '0');
		if (i >= s->n_dests)
			return xstrdup("(no dest)");
		const struct service_dest *d = &s->dests[i];
		f += 3;
		if (streq(f, "index"))
			strbuf_printf(&b, "%d", d->index);
		else if (streq(f, "port"))
			strbuf_puts(&b, d->port ? d->port : "(nil)");
		else if (streq(f, "src_port"))
			strbuf_printf(&b, "%ld", d->src_port);
		else if (streq(f, "paths"))
			join_strv(&b, &d->paths);
		else if (streq(f, "excludes"))
			join_strv(&b, &d->path_excludes);
		else if (streq(f, "path_type"))
			strbuf_puts(&b, d->path_type);
		else if (streq(f, "domains"))
			join_strv(&b, &d->domains);
		else if (streq(f, "req_mode"))
			strbuf_puts(&b, d->req_mode);
		else if (streq(f, "replace"))
			for (size_t j = 0; j < d->n_path_replace; j++)
				strbuf_printf(&b, "%s%s>%s", j ? "|" : "",
					      d->path_replace[j].search,
					      d->path_replace[j].replace);
		else if (streq(f, "outbound"))
			strbuf_puts(&b, d->outbound_hostname ? d->outbound_hostname : "(nil)");
		else if (streq(f, "https_only"))
			strbuf_printf(&b, "%d", d->https_only);
		else if (streq(f, "code"))
			strbuf_puts(&b, d->https_redirect_code ? d->https_redirect_code : "(nil)");
		else if (streq(f, "ts"))
			strbuf_printf(&b, "%ld", d->timeout_server);
		else if (streq(f, "tt"))
			strbuf_printf(&b, "%ld", d->timeout_tunnel);
		else if (streq(f, "ignore_auth"))
			strbuf_printf(&b, "%d", d->ignore_authorization);
		else if (streq(f, "tls"))
			strbuf_printf(&b,
				      "https_port=%ld src_https_port=%ld deny_http=%d "
				      "ssl_verify_none=%d verify_client_ssl=%d",
				      d->https_port, d->src_https_port, d->deny_http,
				      d->ssl_verify_none, d->verify_client_ssl);
		else if (streq(f, "tc"))
			strbuf_printf(&b, "%ld", d->timeout_client);
		else if (streq(f, "tcp_flags"))
			strbuf_printf(&b, "check=%d ka=%d", d->check_tcp, d->clitcpka);
		else if (streq(f, "group"))
			strbuf_printf(&b, "%s/%s", d->service_group ? d->service_group : "(nil)",
				      d->balance_group ? d->balance_group : "(nil)");
		else if (streq(f, "user_def"))
			strbuf_puts(&b, d->user_def ? d->user_def : "(nil)");
		else
			strbuf_puts(&b, "(bad field)");
		return strbuf_steal(&b);
	}
	if (streq(f, "name"))
		strbuf_puts(&b, s->name);
	else if (streq(f, "acl"))
		strbuf_puts(&b, s->acl_name);
	else if (streq(f, "algo"))
		strbuf_puts(&b, s->domain_algo);
	else if (streq(f, "redirect"))
		strbuf_printf(&b, "%d", s->redirect_when_http_proto);
	else if (streq(f, "default"))
		strbuf_printf(&b, "%d", s->is_default_backend);
	else if (streq(f, "add_req"))
		join_headers(&b, s->add_req_headers, s->n_add_req_headers);
	else if (streq(f, "set_req"))
		join_headers(&b, s->set_req_headers, s->n_set_req_headers);
	else if (streq(f, "del_req"))
		join_headers(&b, s->del_req_headers, s->n_del_req_headers);
	else if (streq(f, "add_res"))
		join_headers(&b, s->add_res_headers, s->n_add_res_headers);
	else if (streq(f, "set_res"))
		join_headers(&b, s->set_res_headers, s->n_set_res_headers);
	else if (streq(f, "del_res"))
		join_headers(&b, s->del_res_headers, s->n_del_res_headers);
	else if (streq(f, "users"))
		for (size_t i = 0; i < s->n_users; i++)
			strbuf_printf(&b, "%s%s:%s:%d", i ? "|" : "", s->users[i].name,
				      s->users[i].password, s->users[i].encrypted);
	else if (streq(f, "users_enc"))
		strbuf_printf(&b, "%d", s->users_pass_encrypted);
	else if (streq(f, "replicas"))
		strbuf_printf(&b, "%d:%ld", s->has_replicas, s->replicas);
	else if (streq(f, "tfe"))
		strbuf_puts(&b, s->template_fe_path ? s->template_fe_path : "(nil)");
	else if (streq(f, "tbe"))
		strbuf_puts(&b, s->template_be_path ? s->template_be_path : "(nil)");
	else if (streq(f, "discovery"))
		strbuf_puts(&b, s->discovery_type ? s->discovery_type : "(nil)");
	else if (streq(f, "n_dests"))
		strbuf_printf(&b, "%zu", s->n_dests);
	else
		strbuf_puts(&b, "(bad field)");
	return strbuf_steal(&b);
}

#define BASE "serviceName=svc&servicePath=/a&port=8080"
/* serviceCert's form: PEM with literal \n (structure only: HAProxy checks the rest). */
#define CERT_ESC                                                                                   \
	"-----BEGIN CERTIFICATE-----\\nMIIBszCC\\n-----END CERTIFICATE-----\\n-----BEGIN PRIVATE " \
	"KEY-----\\nMIGHAgEA\\n-----END PRIVATE KEY-----\\n"

static const struct {
	const char *q;
	const char *field;
	const char *want;
} fields[] = {
	{BASE, "name", "svc"},
	{BASE, "acl", "svc"},
	{BASE "&aclName=my-acl_1.x", "acl", "my-acl_1.x"},
	{BASE, "algo", "hdr_beg(host)"},
	{BASE "&serviceDomainAlgo=hdr(host)", "algo", "hdr(host)"},
	{BASE "&serviceDomainAlgo=req.ssl_sni", "algo", "req.ssl_sni"},
	{BASE "&serviceDomainMatchAll=true", "algo", "hdr_dom(host)"},
	{BASE "&serviceDomainAlgo=hdr(host)&serviceDomainMatchAll=TRUE", "algo", "hdr_dom(host)"},
	{BASE "&serviceDomainMatchAll=false", "algo", "hdr_beg(host)"},
	{BASE, "n_dests", "1"},
	{BASE, "d0.index", "0"},
	{BASE, "d0.port", "8080"},
	{BASE, "d0.paths", "/a"},
	{"serviceName=s&port=1&servicePath=/a,/b,,/c", "d0.paths", "/a|/b|/c"},
	{"serviceName=s&port=1&servicePath=/a, /b", "d0.paths", "/a|/b"},
	{BASE "&servicePathExclude=/a/x,/a/y", "d0.excludes", "/a/x|/a/y"},
	{BASE, "d0.path_type", "path_beg"},
	{BASE "&pathType=path_reg", "d0.path_type", "path_reg"},
	{BASE "&pathType=path_beg -i", "d0.path_type", "path_beg -i"},
	{BASE "&pathType=url_sub", "d0.path_type", "url_sub"},
	{BASE "&pathType=path", "d0.path_type", "path"},
	{BASE "&srcPort=8081", "d0.src_port", "8081"},
	{BASE, "d0.src_port", "0"},
	{BASE "&serviceDomain=a.com,*.b.com", "d0.domains", "a.com|*.b.com"},
	{"serviceName=s&port=1&serviceDomain=a.com", "d0.paths", "/"},
	{"serviceName=s&port=1&serviceDomain=a.com&servicePath=/x", "d0.paths", "/x"},
	{BASE, "d0.req_mode", "http"},
	{BASE "&reqMode=http", "d0.req_mode", "http"},
#define TCP "serviceName=t&reqMode=tcp&srcPort=5000&port=6000"
	{TCP, "d0.req_mode", "tcp"},
	{TCP, "d0.src_port", "5000"},
	{TCP, "d0.tc", "0"},
	{TCP "&timeoutClient=30", "d0.tc", "30"},
	{TCP, "d0.tcp_flags", "check=0 ka=0"},
	{TCP "&checkTcp=true&clitcpka=1", "d0.tcp_flags", "check=1 ka=1"},
	{TCP, "d0.group", "(nil)/(nil)"},
	{TCP "&serviceGroup=g-1&balanceGroup=leastconn", "d0.group", "g-1/leastconn"},
	{TCP "&serviceDomain=a.com", "d0.domains", "a.com"},
	{"serviceName=t&reqMode=sni&srcPort=8443&port=443&serviceDomain=a.test", "d0.req_mode",
	 "sni"},
	{"serviceName=t&reqMode=sni&srcPort=8443&port=443&servicePath=a.test&pathType=req_ssl_sni -i",
	 "d0.path_type", "req_ssl_sni -i"},
	{"serviceName=t&port=80&servicePath.1=/a&reqMode.2=tcp&srcPort.2=5000&port.2=6000",
	 "d1.req_mode", "tcp"},
#undef TCP
	{BASE "&reqPathSearchReplace=/a/,/", "d0.replace", "/a/>/"},
	/* groups, alternations, quantifiers and references: split outside them */
	{BASE "&reqPathSearchReplace=^/(a),/x", "d0.replace", "^/(a)>/x"},
	{BASE "&reqPathSearchReplace=^/a,/b,c", "d0.replace", "^/a>/b,c"},
	{BASE "&reqPathSearchReplace=^/v/(?:x|y)/(\\d{1,3})$,/n/\\1:^/o\\,p,/q", "d0.replace",
	 "^/v/(?:x|y)/(\\d{1,3})$>/n/\\1|^/o\\,p>/q"},
	{BASE "&reqPathSearchReplace=^/[,:]x,/y", "d0.replace", "^/[,:]x>/y"},
	{BASE "&reqPathSearchReplace=^/x,/y:/z,", "d0.replace", "^/x>/y|/z>"},
	{BASE "&reqPathSearchReplace=^/x,/y&reqPathSearch=^/old&reqPathReplace=/new", "d0.replace",
	 "^/old>/new|^/x>/y"},
	{BASE "&reqPathSearch=^/old", "d0.replace", "^/old>"},
	{BASE "&reqPathSearchReplace=\\.php$,.html", "d0.replace", "\\.php$>.html"},
	{BASE "&outboundHostname=other.example.com", "d0.outbound", "other.example.com"},
	{BASE "&outboundHostname=10.0.0.1", "d0.outbound", "10.0.0.1"},
	{BASE, "d0.outbound", "(nil)"},
	{BASE "&httpsOnly=true", "d0.https_only", "1"},
	/* TLS (docs/tls.md) */
	{BASE, "d0.tls",
	 "https_port=0 src_https_port=0 deny_http=0 ssl_verify_none=0 verify_client_ssl=0"},
	{BASE "&denyHttp=true&sslVerifyNone=1&verifyClientSsl=true", "d0.tls",
	 "https_port=0 src_https_port=0 deny_http=1 ssl_verify_none=1 verify_client_ssl=1"},
	{BASE "&httpsPort=8443", "d0.tls",
	 "https_port=8443 src_https_port=443 deny_http=0 ssl_verify_none=0 verify_client_ssl=0"},
	{BASE "&httpsPort=8443", "d0.src_port", "80"},
	{BASE "&httpsPort=8443&srcPort=8080&srcHttpsPort=9443", "d0.tls",
	 "https_port=8443 src_https_port=9443 deny_http=0 ssl_verify_none=0 verify_client_ssl=0"},
	{BASE "&httpsPort=8443&srcPort=8080&srcHttpsPort=9443", "d0.src_port", "8080"},
	{"serviceName=s&servicePath=/a&httpsPort=8443", "d0.port", "(nil)"},
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.2=/b&denyHttp.2=true&denyHttp=false",
	 "d1.tls",
	 "https_port=0 src_https_port=0 deny_http=1 ssl_verify_none=0 verify_client_ssl=0"},
	{"serviceName=s&port=80&servicePath.1=/a&httpsPort.2=9&servicePath.2=/b", "d1.tls",
	 "https_port=9 src_https_port=443 deny_http=0 ssl_verify_none=0 verify_client_ssl=0"},
	{BASE "&serviceCert=" CERT_ESC, "name", "svc"},
	{BASE, "d0.https_only", "0"},
	{BASE "&httpsRedirectCode=308", "d0.code", "308"},
	{BASE "&timeoutServer=60", "d0.ts", "60"},
	{BASE "&timeoutTunnel=3600", "d0.tt", "3600"},
	{BASE "&timeoutServer=2147483", "d0.ts", "2147483"},
	{BASE "&ignoreAuthorization=1", "d0.ignore_auth", "1"},
	{BASE "&redirectWhenHttpProto=true", "redirect", "1"},
	{BASE "&isDefaultBackend=true", "default", "1"},
	{BASE "&addReqHeader=X-A a,X-B b c", "add_req", "X-A=a|X-B=b c"},
	{BASE "&addHeader=X-Old 1", "add_req", "X-Old=1"},
	{BASE "&addHeader=X-Old 1&addReqHeader=X-New 2", "add_req", "X-New=2"},
	{BASE "&setReqHeader=X-S %[src]", "set_req", "X-S=%[src]"},
	{BASE "&setHeader=X-S2 v", "set_req", "X-S2=v"},
	{BASE "&delReqHeader=X-D,X-E", "del_req", "X-D=(nil)|X-E=(nil)"},
	/* HAProxy's word syntax: quotes group, conditions follow the value (DFP pastes words) */
	{BASE "&addResHeader=X-R \"q\"", "add_res", "X-R=q"},
	{BASE "&setResHeader=Strict-Transport-Security \"max-age=16000000; includeSubDomains; "
	      "preload;\"",
	 "set_res", "Strict-Transport-Security=max-age=16000000; includeSubDomains; preload;"},
	{BASE "&setReqHeader=X-Forwarded-Proto https if { ssl_fc }", "set_req",
	 "X-Forwarded-Proto=https ?if { ssl_fc }"},
	{BASE "&addResHeader=X-A 'a, b' unless { path_beg /x },X-B c", "add_res",
	 "X-A=a, b ?unless { path_beg /x }|X-B=c"},
	{BASE "&addReqHeader=X-A a\\ b\\\"c", "add_req", "X-A=a b\"c"},
	{BASE "&addReqHeader=X-A \"if\"", "add_req", "X-A=if"},
	{BASE "&addReqHeader=X-A v if { hdr(x) -m str \"a b\" }", "add_req",
	 "X-A=v ?if { hdr(x) -m str \"a b\" }"},
	{BASE "&delReqHeader=X-A if { ssl_fc }", "del_req", "X-A=(nil) ?if { ssl_fc }"},
	{BASE "&addReqHeader=X-A %[src] x", "add_req", "X-A=%[src] x"},
	{BASE "&setResHeader=Cache-Control no-cache", "set_res", "Cache-Control=no-cache"},
	{BASE "&delResHeader=Server", "del_res", "Server=(nil)"},
	{BASE "&users=u1:p1,u2:p2", "users", "u1:p1:0|u2:p2:0"},
	{BASE "&users= u1 : p1 ", "users", "u1:p1:0"},
	{BASE "&users=u1:$6$salt$hash&usersPassEncrypted=true", "users", "u1:$6$salt$hash:1"},
	{BASE "&usersPassEncrypted=true", "users_enc", "1"},
	{BASE "&users=alice,bob:b", "users", "alice:fromglobal:1|bob:b:0"},
	{BASE "&users=ALICE", "users", "ALICE:fromglobal:1"},
	{BASE, "users", ""},
	{BASE, "replicas", "0:0"},
	{BASE "&replicas=0", "replicas", "1:0"},
	{BASE "&replicas=3", "replicas", "1:3"},
	{BASE "&replicas=", "replicas", "0:0"},
	{BASE, "discovery", "(nil)"},
	{BASE "&discoveryType=dns", "discovery", "DNS"},
	{BASE "&discoveryType=Vip", "discovery", "VIP"},
	{BASE "&discoveryType=Overlay", "discovery", "(nil)"},
	/* unknown parameters are ignored; service-level names are not indexable */
	{BASE "&noSuchThing=x\r\n&nodeInfo=y", "name", "svc"},
	{BASE "&serviceName.1=other", "name", "svc"},
	/* gorilla/schema matches field names case-insensitively */
	{"SERVICENAME=svc&servicePath=/a&port=80", "name", "svc"},
	/* bools */
	{BASE "&isDefaultBackend=1", "default", "1"},
	{BASE "&isDefaultBackend=t", "default", "1"},
	{BASE "&isDefaultBackend=T", "default", "1"},
	{BASE "&isDefaultBackend=TRUE", "default", "1"},
	{BASE "&isDefaultBackend=True", "default", "1"},
	{BASE "&isDefaultBackend=on", "default", "1"},
	{BASE "&isDefaultBackend=0", "default", "0"},
	{BASE "&isDefaultBackend=f", "default", "0"},
	{BASE "&isDefaultBackend=False", "default", "0"},
	{BASE "&isDefaultBackend=yes", "default", "0"},
	{BASE "&isDefaultBackend=2", "default", "0"},
	{BASE "&httpsOnly=on", "d0.https_only", "1"},
	{BASE "&httpsOnly=nope", "d0.https_only", "0"},
	/* indexing */
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.2=/b", "n_dests", "2"},
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.2=/b", "d0.index", "1"},
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.2=/b", "d1.index", "2"},
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.2=/b", "d0.port", "80"},
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.2=/b", "d1.port", "80"},
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.2=/b", "d1.paths", "/b"},
	{"serviceName=s&port=80&servicePath.1=/a&port.2=81&servicePath=/z", "d1.paths", "/z"},
	{"serviceName=s&port=80&servicePath.1=/a&port.2=81", "d1.port", "81"},
	{"serviceName=s&servicePath=/u&port=80&servicePath.1=/a", "n_dests", "1"},
	{"serviceName=s&servicePath=/u&port=80&servicePath.1=/a", "d0.paths", "/a"},
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.3=/c", "n_dests", "1"},
	{"serviceName=s&port=80&servicePath=/x&servicePath.2=/b", "d0.paths", "/x"},
	{"serviceName=s&port=80&servicePath.1=/a&serviceDomain.2=b.com", "d1.paths", "/"},
	{"serviceName=s&port=80&servicePath.1=/a&serviceDomain.2=b.com", "n_dests", "2"},
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.2=/b&srcPort.2=81", "d0.src_port",
	 "0"},
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.2=/b&srcPort.2=81", "d1.src_port",
	 "81"},
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.2=/b&srcPort=79", "d0.src_port", "79"},
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.2=/b&pathType.2=path_end",
	 "d1.path_type", "path_end"},
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.2=/b&pathType.2=path_end",
	 "d0.path_type", "path_beg"},
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.2=/b&httpsOnly.2=true",
	 "d0.https_only", "0"},
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.2=/b&httpsOnly=true&httpsOnly.1=false",
	 "d0.https_only", "1"},
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.2=/b&timeoutServer.2=9&timeoutServer=5",
	 "d0.ts", "5"},
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.2=/b&timeoutServer.2=9&timeoutServer=5",
	 "d1.ts", "9"},
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.2=/b&reqPathSearchReplace.2=^/b,/",
	 "d1.replace", "^/b>/"},
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.2=/b&reqPathSearchReplace.2=^/b,/",
	 "d0.replace", ""},
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.2=/b&port.2=", "d1.port", "80"},
	{"serviceName=s&servicePath=/a&port=80&servicePath.11=/x", "d0.index", "0"},
	/* the separator */
	{"serviceName=s&port=80&servicePath=/a;/b", "d0.paths", "/a;/b"},
	/* custom templates: paths only (the daemon reads the files) */
	{BASE, "tfe", "(nil)"},
	{BASE "&templateFePath=fe.tmpl", "tfe", "fe.tmpl"},
	{BASE "&templateBePath=/etc/flowproxy/be.tmpl", "tbe", "/etc/flowproxy/be.tmpl"},
	{BASE "&templateBePath=my..be/x..tmpl", "tbe", "my..be/x..tmpl"},
	{BASE "&templatefepath=sub/./fe.tmpl", "tfe", "sub/./fe.tmpl"},
	/* userDef: free data, per destination with DFP's fallback */
	{BASE, "d0.user_def", "(nil)"},
	{BASE "&userDef=any text, even {{ this }}", "d0.user_def", "any text, even {{ this }}"},
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.2=/b&userDef=all&userDef.2=two",
	 "d0.user_def", "all"},
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.2=/b&userDef=all&userDef.2=two",
	 "d1.user_def", "two"},
};

static const struct {
	const char *q;
	const char *sep;
	const char *field;
	const char *want;
} sep_fields[] = {
	{"serviceName=s&port=80&servicePath=/a;/b,c", ";", "d0.paths", "/a|/b,c"},
	{"serviceName=s&port=80&servicePath=/a&addReqHeader=X-A 1;X-B 2", ";", "add_req",
	 "X-A=1|X-B=2"},
	{"serviceName=s&port=80&servicePath=/a::/b", "::", "d0.paths", "/a|/b"},
};

/*
 * Each rule of src/labels.c has at least one case here that no other rule refuses: without the
 * rule that case is accepted (checked by taking each rule out in turn).
 */
static const struct {
	const char *q;
	int status;
	const char *msg;
} errors[] = {
	/* DFP's validation, in DFP's order */
	{"", 400, "serviceName parameter is mandatory."},
	{"servicePath=/a&port=80", 400, "serviceName parameter is mandatory."},
	{"serviceName=&servicePath=/a&port=80", 400, "serviceName parameter is mandatory."},
	{"serviceName=s", 409,
	 "When using reqMode http, servicePath or serviceDomain are mandatory"},
	{"serviceName=s&port=80", 409,
	 "When using reqMode http, servicePath or serviceDomain are mandatory"},
	{"serviceName=s&reqMode=tcp&port=80", 400,
	 "When NOT using reqMode http (e.g. tcp), srcPort and port parameters are mandatory."},
	{"serviceName=s&reqMode=tcp&srcPort=80", 400,
	 "When NOT using reqMode http (e.g. tcp), srcPort and port parameters are mandatory."},
	{"serviceName=s&servicePath=/a", 400,
	 "When MODE is set to \"service\" or \"swarm\", the port query is mandatory"},
	{"serviceName=s&serviceDomain=a.com", 400,
	 "When MODE is set to \"service\" or \"swarm\", the port query is mandatory"},
	{"serviceName=s&servicePath.1=/a&port.2=80", 400,
	 "When MODE is set to \"service\" or \"swarm\", the port query is mandatory"},
	/* then each destination's reqMode and the ports tcp/sni need (ctx: DEFAULT_PORTS 80,443,
	 * BIND_PORTS 8081, API 8080, STATS_PORT 8404) */
	{"serviceName=s&reqMode=udp&srcPort=81&port=80", 400,
	 "reqMode 'udp' must be http, tcp or sni"},
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.2=/b&reqMode.2=tcp", 400,
	 "reqMode.2 needs srcPort.2 and port.2: with reqMode tcp they are mandatory"},
	{"serviceName=s&port=80&servicePath.1=/a&reqMode.2=tcp&srcPort.2=8081&port.2=5", 400,
	 "srcPort.2 '8081' is one of BIND_PORTS, where the HTTP frontend listens: choose another "
	 "srcPort for reqMode tcp or sni"},
	{"serviceName=s&reqMode=tcp&srcPort=80&port=80", 400,
	 "srcPort '80' is one of DEFAULT_PORTS, where the HTTP frontend listens: choose another "
	 "srcPort for reqMode tcp or sni, or remove it from DEFAULT_PORTS"},
	{"serviceName=s&reqMode=sni&srcPort=443&port=80&serviceDomain=a.com", 400,
	 "srcPort '443' is one of DEFAULT_PORTS, where the HTTP frontend listens: choose another "
	 "srcPort for reqMode tcp or sni, or remove it from DEFAULT_PORTS"},
	{"serviceName=s&reqMode=tcp&srcPort=8081&port=80", 400,
	 "srcPort '8081' is one of BIND_PORTS, where the HTTP frontend listens: choose another "
	 "srcPort for reqMode tcp or sni"},
	{"serviceName=s&reqMode=tcp&srcPort=8080&port=80", 400,
	 "srcPort '8080' is flowproxy's API port"},
	{"serviceName=s&reqMode=tcp&srcPort=8404&port=80", 400,
	 "srcPort '8404' is STATS_PORT, where HAProxy's stats listen"},
	{"serviceName=s&reqMode=sni&srcPort=8443&port=80", 400,
	 "reqMode sni needs servicePath or serviceDomain: the TLS server names it serves"},
	{"serviceName=s&reqMode=sni&srcPort=8443&port=80&servicePath=a.com&pathType=path_beg", 400,
	 "pathType 'path_beg' cannot match a TLS hello: use req_ssl_sni -i with reqMode sni"},
	{"serviceName=s&reqMode=tcp&srcPort=5000&port=80&pathType=path_reg", 400,
	 "pathType 'path_reg' has no meaning with reqMode tcp (serviceDomain selects among "
	 "services on one srcPort)"},
	{BASE "&timeoutClient=5", 400,
	 "timeoutClient '5' applies to reqMode tcp and sni only (HTTP: TIMEOUT_CLIENT and the "
	 "defaults)"},
	{BASE "&clitcpka=true", 400,
	 "clitcpka 'true' applies to reqMode tcp and sni only (HTTP: TIMEOUT_CLIENT and the "
	 "defaults)"},
	{"serviceName=s&reqMode=sni&srcPort=8443&port=80&serviceDomain=a&serviceGroup=g", 400,
	 "serviceGroup 'g' groups reqMode tcp destinations only"},
	{BASE "&balanceGroup=first", 400,
	 "balanceGroup 'first' groups reqMode tcp destinations only"},
	{BASE "&pathType=req_ssl_sni -i", 400,
	 "pathType 'req_ssl_sni -i' matches a TLS server name: it needs reqMode sni"},
	{"serviceName=s&reqMode=tcp&srcPort=5000&port=80&timeoutClient=-1", 400,
	 "timeoutClient '-1' must be a number of seconds (0-2147483)"},
	{"serviceName=s&reqMode=tcp&srcPort=5000&port=80&serviceGroup=a b", 400,
	 "serviceGroup 'a b' must be a name of letters, digits, '_', '-' and '.' (at most 64)"},
	{"serviceName=s&reqMode=tcp&srcPort=5000&port=80&balanceGroup=uri", 400,
	 "balanceGroup 'uri' must be one of roundrobin, static-rr, leastconn, first, source, "
	 "random"},
	/* injections: control bytes anywhere */
	{BASE "&aclName=a\nb", 400,
	 "aclName 'a\\x0ab' must not contain control characters (CR, LF, TAB...)"},
	{"serviceName=s\r\nbackend x&servicePath=/a&port=80", 400,
	 "serviceName 's\\x0d\\x0abackend x' must not contain control characters (CR, LF, TAB...)"},
	{"serviceName=s\tx&servicePath=/a&port=80", 400,
	 "serviceName 's\\x09x' must not contain control characters (CR, LF, TAB...)"},
	{"serviceName=s&servicePath=/a\tb&port=80", 400,
	 "servicePath '/a\\x09b' must not contain control characters (CR, LF, TAB...)"},
	{"serviceName=s&servicePath.2=/a\x01&port=80", 400,
	 "servicePath.2 '/a\\x01' must not contain control characters (CR, LF, TAB...)"},
	{BASE "&addReqHeader=X-A a\x7f", 400,
	 "addReqHeader 'X-A a\\x7f' must not contain control characters (CR, LF, TAB...)"},
	{BASE "&setResHeader=X-A a\r\n", 400,
	 "setResHeader 'X-A a\\x0d\\x0a' must not contain control characters (CR, LF, TAB...)"},
	{BASE "&users=u:p\nuser x insecure-password y", 400,
	 "users must not contain control characters (CR, LF, TAB...)"},
	{BASE "&reqPathSearchReplace=a,b\n", 400,
	 "reqPathSearchReplace 'a,b\\x0a' must not contain control characters (CR, LF, TAB...)"},
	{BASE "&timeoutServer=5\n", 400,
	 "timeoutServer '5\\x0a' must not contain control characters (CR, LF, TAB...)"},
	{BASE "&httpsOnly=true\n", 400,
	 "httpsOnly 'true\\x0a' must not contain control characters (CR, LF, TAB...)"},
	{BASE "&replicas=1\x1b", 400,
	 "replicas '1\\x1b' must not contain control characters (CR, LF, TAB...)"},
	{BASE "&outboundHostname=h\n", 400,
	 "outboundHostname 'h\\x0a' must not contain control characters (CR, LF, TAB...)"},
	{BASE "&pathType=path_beg\n", 400,
	 "pathType 'path_beg\\x0a' must not contain control characters (CR, LF, TAB...)"},
	{BASE "&usersPassEncrypted=\n", 400,
	 "usersPassEncrypted '\\x0a' must not contain control characters (CR, LF, TAB...)"},
	{BASE "&serviceDomainAlgo=hdr(host)\n", 400,
	 "serviceDomainAlgo 'hdr(host)\\x0a' must not contain control characters (CR, LF, TAB...)"},
	/* injections: words where HAProxy expects a word */
	{"serviceName=s&servicePath.1=/a&servicePath.2=a b&port=80", 400,
	 "servicePath.2 'a b' must not contain spaces"},
	{"serviceName=s&servicePath=/a#x&port=80", 400, "servicePath '/a#x' must not contain '#'"},
	{"serviceName=s&servicePath=/a\"&port=80", 400,
	 "servicePath '/a\"' must not contain quotes"},
	{"serviceName=s&servicePath=/a'&port=80", 400,
	 "servicePath '/a\\'' must not contain quotes"},
	{BASE "&servicePathExclude=/a b", 400, "servicePathExclude '/a b' must not contain spaces"},
	{"serviceName=s x&servicePath=/a&port=80", 400,
	 "serviceName 's x' must not contain spaces"},
	{"serviceName=s#&servicePath=/a&port=80", 400, "serviceName 's#' must not contain '#'"},
	{"serviceName=s\\&servicePath=/a&port=80", 400,
	 "serviceName 's\\\\' must not contain backslashes"},
	{BASE "&aclName=a/b", 400,
	 "aclName 'a/b' may only contain letters, digits, '_', '.' and '-'"},
	{BASE "&serviceDomain=a.com b.com", 400,
	 "serviceDomain 'a.com b.com' must not contain spaces"},
	{BASE "&serviceDomain=a.com\\", 400,
	 "serviceDomain 'a.com\\\\' must not contain backslashes"},
	{"serviceName=s&servicePath=/a&port=80 ", 400,
	 "port '80 ' must be a port number (1-65535)"},
	{"serviceName=s&servicePath=/a&port=0", 400, "port '0' must be a port number (1-65535)"},
	{"serviceName=s&servicePath=/a&port=65536", 400,
	 "port '65536' must be a port number (1-65535)"},
	{"serviceName=s&servicePath=/a&port=80x", 400,
	 "port '80x' must be a port number (1-65535)"},
	{"serviceName=s&servicePath=/a&port=-1", 400, "port '-1' must be a port number (1-65535)"},
	{"serviceName=s&servicePath.1=/a&port.1=8o", 400,
	 "port.1 '8o' must be a port number (1-65535)"},
	{BASE "&srcPort=70000", 400, "srcPort '70000' must be a port number (1-65535)"},
	{BASE "&srcPort=x", 400, "srcPort 'x' must be a port number (1-65535)"},
	{BASE "&pathType=path_beg;", 400,
	 "pathType 'path_beg;' is not a path match such as path_beg, path_reg or path_beg -i"},
	{BASE "&pathType=path_beg -i x", 400,
	 "pathType 'path_beg -i x' is not a path match such as path_beg, path_reg or path_beg -i"},
	{BASE "&pathType=hdr(host)", 400,
	 "pathType 'hdr(host)' is not a path match such as path_beg, path_reg or path_beg -i"},
	{BASE "&pathType=path_xyz", 400,
	 "pathType 'path_xyz' is not a path match such as path_beg, path_reg or path_beg -i"},
	{BASE "&serviceDomainAlgo=hdr(host) if", 400,
	 "serviceDomainAlgo 'hdr(host) if' is not a sample fetch such as hdr(host) or req.ssl_sni"},
	{BASE "&serviceDomainAlgo=hdr(host", 400,
	 "serviceDomainAlgo 'hdr(host' is not a sample fetch such as hdr(host) or req.ssl_sni"},
	{BASE "&serviceDomainAlgo=HDR(host)", 400,
	 "serviceDomainAlgo 'HDR(host)' is not a sample fetch such as hdr(host) or req.ssl_sni"},
	{BASE "&outboundHostname=a b", 400,
	 "outboundHostname 'a b' must be a host name or an IP address"},
	{BASE "&outboundHostname=a/b", 400,
	 "outboundHostname 'a/b' must be a host name or an IP address"},
	{BASE "&httpsRedirectCode=300", 400,
	 "httpsRedirectCode '300' must be one of 301, 302, 303, 307, 308"},
	{BASE "&timeoutServer=2147484", 400,
	 "timeoutServer '2147484' must be a number of seconds (0-2147483)"},
	{BASE "&timeoutTunnel=1h", 400,
	 "timeoutTunnel '1h' must be a number of seconds (0-2147483)"},
	{BASE "&timeoutTunnel=-5", 400,
	 "timeoutTunnel '-5' must be a number of seconds (0-2147483)"},
	{BASE "&addReqHeader=X-A", 400,
	 "addReqHeader 'X-A' must be 'Name value [if|unless condition]'"},
	{BASE "&addReqHeader=X(A) v", 400,
	 "addReqHeader 'X(A) v' has an invalid header name 'X(A)'"},
	{BASE "&setReqHeader=X#A v", 400,
	 "setReqHeader 'X#A v' must not contain '#' outside quotes (HAProxy would start a comment)"},
	{BASE "&setReqHeader=X-A v #x", 400,
	 "setReqHeader 'X-A v #x' must not contain '#' outside quotes (HAProxy would start a comment)"},
	{BASE "&setReqHeader=X-A \"v", 400, "setReqHeader 'X-A \"v' has an unbalanced quote"},
	{BASE "&setReqHeader=X-A 'v", 400, "setReqHeader 'X-A \\'v' has an unbalanced quote"},
	{BASE "&setReqHeader=X-A v\\", 400, "setReqHeader 'X-A v\\\\' ends with a lone backslash"},
	{BASE "&setReqHeader=X-A a\\r\\nX-B: b", 400,
	 "setReqHeader 'X-A a\\\\r\\\\nX-B: b' must not contain the escapes \\r \\n \\t \\x or "
	 "\\0 (control characters)"},
	{BASE "&setReqHeader=X-A \"$API_TOKEN\"", 400,
	 "setReqHeader 'X-A \"$API_TOKEN\"' must not contain '$' inside double quotes (HAProxy would "
	 "expand flowproxy's environment)"},
	{BASE "&setReqHeader=X-A v if", 400,
	 "setReqHeader 'X-A v if' has an empty condition after if/unless"},
	{BASE "&setReqHeader=X-A if { ssl_fc }", 400,
	 "setReqHeader 'X-A if { ssl_fc }' must be 'Name value [if|unless condition]'"},
	{BASE "&addHeader=X:A v", 400, "addHeader 'X:A v' has an invalid header name 'X:A'"},
	{BASE "&delReqHeader=X-A v", 400,
	 "delReqHeader 'X-A v' must be a header name only [if|unless condition]"},
	{BASE "&delResHeader=X\"A", 400, "delResHeader 'X\"A' has an unbalanced quote"},
	{BASE "&users=a b:pw", 400,
	 "users: user name 'a b' must not contain spaces, ',', ':', '#', quotes or backslashes"},
	{BASE "&users=ab:p w", 400,
	 "users: the password of 'ab' must not contain spaces, ',', '#', quotes or backslashes"},
	{BASE "&users=ab:p#w", 400,
	 "users: the password of 'ab' must not contain spaces, ',', '#', quotes or backslashes"},
	{BASE "&users=bad", 400,
	 "USERS: the password of 'bad' must not contain spaces, ',', '#', quotes or backslashes"},
	{BASE "&discoveryType=dns2", 400, "discoveryType 'dns2' must be DNS, VIP or Overlay"},
	{BASE "&reqMode=a b", 400, "reqMode 'a b' must be a mode name such as http"},
	{BASE "&replicas=x", 400, "replicas 'x' must be an integer, -1 or more"},
	{BASE "&replicas=-2", 400, "replicas '-2' must be an integer, -1 or more"},
	{BASE "&replicas=1.5", 400, "replicas '1.5' must be an integer, -1 or more"},
	/* regexes */
	{"serviceName=s&port=80&servicePath.2=/b", 409,
	 "When using reqMode http, servicePath or serviceDomain are mandatory"},
	{"serviceName=s&port=80&pathType=path_reg&servicePath=/ok,^/a(", 400,
	 "servicePath '^/a(' is not a valid regular expression: missing closing parenthesis"},
	{"serviceName=s&port=80&servicePath.1=/a&servicePath.2=[&pathType=url_reg", 400,
	 "servicePath.2 '[' is not a valid regular expression: missing terminating ] for "
	 "character class"},
	{BASE "&pathType=path_reg&servicePathExclude=*x", 400,
	 "servicePathExclude '*x' is not a valid regular expression: quantifier does not follow "
	 "a repeatable item"},
	{BASE "&reqPathSearchReplace=^/a(,/", 400,
	 "reqPathSearchReplace '^/a(,/' must be 'search,replace[:search2,replace2...]'"},
	{BASE "&reqPathSearchReplace=*a,/", 400,
	 "reqPathSearchReplace '*a' is not a valid regular expression: quantifier does not follow "
	 "a repeatable item"},
	{BASE "&reqPathSearchReplace=^/a\",/", 400,
	 "reqPathSearchReplace '^/a\"' must not contain quotes"},
	{BASE "&reqPathSearchReplace=^/a,/b\\", 400,
	 "reqPathSearchReplace '/b\\\\' must not end with a backslash"},
	{BASE "&reqPathSearchReplace=^/a,/b c", 400,
	 "reqPathSearchReplace '/b c' must not contain spaces"},
	{BASE "&reqPathSearchReplace=^/a#,/b", 400,
	 "reqPathSearchReplace '^/a#' must not contain '#'"},
	{BASE "&reqPathSearchReplace=^/a", 400,
	 "reqPathSearchReplace '^/a' must be 'search,replace[:search2,replace2...]'"},
	{BASE "&reqPathSearchReplace=,/b", 400,
	 "reqPathSearchReplace '' must not be an empty regular expression"},
	{BASE "&reqPathSearch=^/a)", 400,
	 "reqPathSearch '^/a)' is not a valid regular expression: unmatched closing parenthesis"},
	{BASE "&reqPathSearch=^/a&reqPathReplace=/x y", 400,
	 "reqPathReplace '/x y' must not contain spaces"},
	/* TLS */
	{BASE "&verifyClientSsl=true", 400,
	 "verifyClientSsl needs CA_FILE, the CA that client certificates are verified against: "
	 "set it on the proxy"},
	{BASE "&httpsPort=0", 400, "httpsPort '0' must be a port number (1-65535)"},
	{BASE "&httpsPort=x", 400, "httpsPort 'x' must be a port number (1-65535)"},
	{BASE "&srcHttpsPort=65536", 400, "srcHttpsPort '65536' must be a port number (1-65535)"},
	{BASE "&serviceCert=hello", 400,
	 "serviceCert: no PEM CERTIFICATE block (the body must hold the certificate, its chain and "
	 "its private key)"},
	{BASE "&serviceCert=-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----", 400,
	 "serviceCert: no PEM PRIVATE KEY block (the body must hold the certificate, its chain and "
	 "its private key)"},
	{BASE "&serviceCert=a\nb", 400,
	 "serviceCert must not contain control characters (CR, LF, "
	 "TAB...)"},
	{"serviceName=svc&serviceDomain=.hidden&port=80&serviceCert=" CERT_ESC, 400,
	 "serviceCert: '.hidden' cannot name its file: the certificate name must not start with "
	 "'.'"},
	/* a relative template path stays in the templates directory */
	{BASE "&templateFePath=../x.tmpl", 400,
	 "templateFePath '../x.tmpl' must not contain '..': a relative path is read from the "
	 "templates directory"},
	{BASE "&templateBePath=a/../../b", 400,
	 "templateBePath 'a/../../b' must not contain '..': a relative path is read from the "
	 "templates directory"},
	{BASE "&templateBePath=/abs/..", 400,
	 "templateBePath '/abs/..' must not contain '..': a relative path is read from the "
	 "templates directory"},
	{BASE "&templateFePath=dir/", 400,
	 "templateFePath 'dir/' must name a file, not a directory"},
};

static void test_fields(void)
{
	struct labels_ctx ctx = {
		.users = "alice:fromglobal,bad:p w", .users_pass_encrypted = true, .ca_file = true};

	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		struct service *s = NULL;
		char *err = NULL;
		int status = -1;
		int r = parse(fields[i].q, &ctx, &s, &status, &err);
		if (!tap_ok(r == 0 && s, "parse '%s'", esc(fields[i].q))) {
			tap_diag("error %d: %s", status, err ? err : "(null)");
			free(err);
			continue;
		}
		char *got = field(s, fields[i].field);
		char name[512];
		snprintf(name, sizeof(name), "  %s = '%s'", fields[i].field, fields[i].want);
		tap_is_str(got, fields[i].want, name);
		free(got);
		service_free(s);
	}
	for (size_t i = 0; i < ARRAY_SIZE(sep_fields); i++) {
		struct labels_ctx c = {.separator = sep_fields[i].sep};
		struct service *s = NULL;
		char *err = NULL;
		int r = parse(sep_fields[i].q, &c, &s, NULL, &err);
		if (!tap_ok(r == 0, "parse '%s' with SEPARATOR '%s'", sep_fields[i].q,
			    sep_fields[i].sep)) {
			tap_diag("%s", err ? err : "(null)");
			free(err);
			continue;
		}
		char *got = field(s, sep_fields[i].field);
		tap_is_str(got, sep_fields[i].want, sep_fields[i].field);
		free(got);
		service_free(s);
	}
}

static void test_errors(void)
{
	struct labels_ctx ctx = {.users = "alice:fromglobal,bad:p w",
				 .default_ports = "80,443:ssl",
				 .bind_ports = " 8081 accept-proxy",
				 .api_port = 8080,
				 .stats_port = "8404"};

	for (size_t i = 0; i < ARRAY_SIZE(errors); i++) {
		struct service *s = (struct service *)1;
		char *err = NULL;
		int status = -1;
		int r = parse(errors[i].q, &ctx, &s, &status, &err);
		tap_ok(r == -EINVAL && s == NULL, "reject '%s'", esc(errors[i].q));
		tap_is_int(status, errors[i].status, "  status");
		tap_is_str(err, errors[i].msg, "  message");
		free(err);
	}
}

/* A usersSecret reader over two fixed secrets, as the daemon reads dfp_users_<name> files. */
static int fake_secret(void *arg, const char *name, char **ret, char **reterr)
{
	(void)arg;
	if (streq(name, "team"))
		*ret = xstrdup("alice:fromsecret\nbob:bobpw,carol:cpw\n");
	else if (streq(name, "bad"))
		*ret = xstrdup("eve:p w");
	else
		return errmsg_set(reterr, -ENOENT, "usersSecret '%s': cannot read it", name);
	return 0;
}

static void test_users_secret(void)
{
	struct labels_ctx ctx = {.users = "alice:fromglobal,dave:dpw",
				 .read_users_secret = fake_secret};
	static const struct {
		const char *q;
		const char *want; /* name:password|..., or the error */
	} cases[] = {
		/* without users: every user of the secret */
		{"usersSecret=team", "alice:fromsecret|bob:bobpw|carol:cpw"},
		/* names without a password take the secret's, not USERS' */
		{"usersSecret=team&users=ALICE,bob:own", "ALICE:fromsecret|bob:own"},
		/* a name in neither is dropped; none left locks everyone out */
		{"usersSecret=team&users=dave", "dummyUser"},
		/* without usersSecret, USERS is the source */
		{"users=alice,dave", "alice:fromglobal|dave:dpw"},
		{"usersSecret=missing", "usersSecret 'missing': cannot read it"},
		{"usersSecret=bad",
		 "usersSecret 'bad': the password of 'eve' must not contain spaces, "
		 "',', '#', quotes or backslashes"},
		{"usersSecret=../x",
		 "usersSecret '../x' may only contain letters, digits, '_', '.' and "
		 "'-'"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *q =
			xasprintf("serviceName=s&servicePath=/a&port=80&%s", cases[i].q);
		struct service *s = NULL;
		char *err = NULL;
		struct strbuf b;

		strbuf_init(&b);
		if (parse(q, &ctx, &s, NULL, &err) == 0) {
			for (size_t j = 0; j < s->n_users; j++) {
				if (j)
					strbuf_putc(&b, '|');
				strbuf_puts(&b, s->users[j].name);
				if (!streq(s->users[j].name, "dummyUser"))
					strbuf_printf(&b, ":%s", s->users[j].password);
			}
		} else {
			strbuf_puts(&b, err);
		}
		tap_is_str(strbuf_str(&b), cases[i].want, cases[i].q);
		strbuf_done(&b);
		service_free(s);
		free(err);
	}
}

/* A refused service is echoed as far as it was read (DFP's refused answers carry it). */
static void test_echo(void)
{
	struct params p;
	struct service *s;

	params_init(&p);
	query(&p, "serviceName=e&servicePath=/a,/b&addReqHeader=X-A 1");
	s = labels_echo(&p, NULL);
	tap_ok(s && streq(s->name, "e") && streq(s->acl_name, "e") && s->n_dests == 1 &&
		       s->dests[0].paths.n == 2 && s->n_add_req_headers == 1 && s->raw.n == 3,
	       "echo of a service refused for its port: name, paths, headers, raw");
	service_free(s);
	params_done(&p);
	params_init(&p);
	query(&p, "servicePath=/a&port=80");
	s = labels_echo(&p, NULL);
	tap_ok(s && !s->name && s->n_dests == 1, "echo without serviceName");
	service_free(s);
	params_done(&p);
	params_init(&p);
	query(&p, "serviceName=ok&servicePath=/a&port=80");
	s = labels_echo(&p, NULL);
	tap_ok(s && s->n_dests == 1 && streq(s->dests[0].port, "80"), "echo of a valid service");
	service_free(s);
	params_done(&p);
}

static void test_globals(void)
{
	struct service *s = NULL;
	char *err = NULL;

	/* HTTPS_ONLY forces every destination. */
	struct labels_ctx c1 = {.https_only = true};
	tap_ok(parse("serviceName=s&port=80&servicePath.1=/a&servicePath.2=/b", &c1, &s, NULL,
		     &err) == 0 &&
		       s->dests[0].https_only && s->dests[1].https_only,
	       "HTTPS_ONLY sets httpsOnly on every destination");
	service_free(s);

	/* SERVICE_DOMAIN_ALGO is the default algorithm. */
	struct labels_ctx c2 = {.domain_algo = "hdr(host)"};
	tap_ok(parse(BASE, &c2, &s, NULL, &err) == 0 && streq(s->domain_algo, "hdr(host)"),
	       "SERVICE_DOMAIN_ALGO is the default serviceDomainAlgo");
	service_free(s);

	/* NULL ctx means the image defaults. */
	tap_ok(parse("serviceName=s&port=80&servicePath=/a,/b", NULL, &s, NULL, &err) == 0 &&
		       s->dests[0].paths.n == 2 && streq(s->domain_algo, "hdr_beg(host)"),
	       "NULL ctx: SEPARATOR ',' and hdr_beg(host)");
	service_free(s);

	/* users that resolve to nobody give DFP's locked dummyUser. */
	struct labels_ctx c3 = {.users = "alice:pw"};
	tap_ok(parse(BASE "&users=ghost", &c3, &s, NULL, &err) == 0 && s->n_users == 1 &&
		       streq(s->users[0].name, "dummyUser") && s->users[0].encrypted &&
		       strlen(s->users[0].password) == 32,
	       "unresolved users give a dummyUser with a random encrypted password");
	struct service *s2 = NULL;
	tap_ok(parse(BASE "&users=ghost", &c3, &s2, NULL, &err) == 0 &&
		       !streq(s->users[0].password, s2->users[0].password),
	       "dummyUser passwords differ between parses");
	service_free(s);
	service_free(s2);

	/* Raw parameters are kept for re-parsing. */
	tap_ok(parse(BASE "&unknown=1", NULL, &s, NULL, &err) == 0 && s->raw.n == 4 &&
		       streq(params_get(&s->raw, "unknown"), "1"),
	       "raw keeps every parameter, unknown ones too");
	service_free(s);

	/* replicas=0 parses; the caller removes the service. */
	tap_ok(parse(BASE "&replicas=0", NULL, &s, NULL, &err) == 0 && s->has_replicas &&
		       s->replicas == 0,
	       "replicas=0 parses with has_replicas");
	service_free(s);
	free(err);
}

static void test_caps(void)
{
	struct params p;
	struct service *s = NULL;
	char *err = NULL;
	int status = 0;
	char key[200], *big;

	params_init(&p);
	query(&p, BASE);
	for (int i = 0; i < 510; i++) {
		snprintf(key, sizeof(key), "x%d", i);
		params_add(&p, key, "1");
	}
	tap_is_int(labels_parse(&p, NULL, &s, &status, &err), -EINVAL, "513 parameters rejected");
	tap_is_int(status, 400, "  status 400");
	tap_is_str(err, "too many parameters: 513 (at most 512)", "  message");
	params_done(&p);

	params_init(&p);
	query(&p, BASE);
	for (int i = 0; i < 509; i++) {
		snprintf(key, sizeof(key), "x%d", i);
		params_add(&p, key, "1");
	}
	tap_is_int(labels_parse(&p, NULL, &s, &status, &err), 0, "512 parameters accepted");
	service_free(s);
	params_done(&p);

	params_init(&p);
	query(&p, BASE);
	memset(key, 'k', 129);
	key[129] = '\0';
	params_add(&p, key, "1");
	tap_is_int(labels_parse(&p, NULL, &s, &status, &err), -EINVAL, "129-byte key rejected");
	tap_ok(err && strstr(err, "is longer than 128 bytes"), "  message: %s", err);
	params_done(&p);

	params_init(&p);
	query(&p, BASE);
	big = xmalloc(8194);
	memset(big, 'a', 8193);
	big[8193] = '\0';
	params_add(&p, "nodeInfo", big);
	tap_is_int(labels_parse(&p, NULL, &s, &status, &err), -EINVAL, "8193-byte value rejected");
	tap_is_str(err, "parameter 'nodeInfo' is longer than 8192 bytes", "  message");
	tap_is_int(status, 400, "  status 400");
	big[8192] = '\0';
	params_set(&p, "nodeInfo", big);
	tap_is_int(labels_parse(&p, NULL, &s, &status, &err), 0, "8192-byte value accepted");
	service_free(s);
	free(big);
	params_done(&p);
	free(err);
}

/* DFP's ping body (reference §2) from "AclName" on: the API prepends Status/Message/ServiceName. */
static const char ping_json[] =
	"{\"AclName\":\"\",\"AddReqHeader\":null,\"AddResHeader\":null,\"BackendExtra\":\"\","
	"\"CheckResolvers\":false,\"CompressionAlgo\":\"\",\"CompressionType\":\"\","
	"\"ConnectionMode\":\"\",\"Debug\":false,\"DebugFormat\":\"\",\"DelReqHeader\":null,"
	"\"DelResHeader\":null,\"DiscoveryType\":\"\",\"Distribute\":false,"
	"\"IsDefaultBackend\":false,\"ProxyInstanceName\":\"\",\"RedirectWhenHttpProto\":false,"
	"\"RedirectUnlessHttpsProto\":false,\"Replicas\":0,\"ReqPathReplace\":\"\","
	"\"ReqPathSearch\":\"\",\"ServiceCert\":\"\",\"ServiceDomainAlgo\":\"\","
	"\"SessionType\":\"\",\"SetReqHeader\":null,\"SetResHeader\":null,\"TemplateBePath\":\"\","
	"\"TemplateFePath\":\"\",\"UseGlobalUsers\":false,\"Users\":null,\"ServicePort\":\"\","
	"\"AclCondition\":\"\",\"IsGlobal\":false,\"LookupRetry\":0,\"LookupRetryInterval\":0,"
	"\"ServiceDest\":null,\"Tasks\":null}";

static const char *const dest_keys[] = {
	"AllowedMethods",
	"BalanceGroup",
	"CheckTCP",
	"Clitcpka",
	"DeniedMethods",
	"DenyHttp",
	"HttpsOnly",
	"HttpsPort",
	"HttpsRedirectCode",
	"IgnoreAuthorization",
	"OutboundHostname",
	"PathType",
	"Port",
	"RedirectFromDomain",
	"ReqMode",
	"ReqModeFormatted",
	"ReqPathSearchReplace",
	"ServiceDomain",
	"ServiceGroup",
	"ServiceHeader",
	"ServicePath",
	"ServicePathExclude",
	"SrcPort",
	"SrcHttpsPort",
	"SrcPortAcl",
	"SrcPortAclName",
	"SrcHttpsPortAcl",
	"SrcHttpsPortAclName",
	"SslVerifyNone",
	"TimeoutServer",
	"TimeoutClient",
	"TimeoutTunnel",
	"VerifyClientSsl",
	"UserAgent",
	"UserDef",
	"Index",
	"ReqPathSearchReplaceFormatted",
	"IncludeSrcPortACL",
	"IncludeSrcHttpsPortACL",
};

static void test_json(void)
{
	struct service empty = {0};
	cJSON *j = service_to_json(&empty);
	char *txt = cJSON_PrintUnformatted(j);

	tap_is_str(txt, ping_json, "empty service JSON matches DFP's ping body from AclName on");
	free(txt);
	cJSON_Delete(j);

	struct service *s = NULL;
	char *err = NULL;
	tap_ok(parse("serviceName=go&port=8080&servicePath=/a,/b&serviceDomain=x.com"
		     "&reqPathSearchReplace=^/a,/:^/b,/c&timeoutServer=30&replicas=2"
		     "&addReqHeader=X-A 1&users=u:p&reqPathSearch=^/o&reqPathReplace=/n",
		     NULL, &s, NULL, &err) == 0,
	       "parse a full service for JSON");
	j = service_to_json(s);
	tap_ok(cJSON_GetObjectItemCaseSensitive(j, "ServiceName") == NULL,
	       "service_to_json leaves ServiceName to the API");
	tap_is_str(cJSON_GetObjectItemCaseSensitive(j, "AclName")->valuestring, "go", "AclName");
	tap_is_int((long long)cJSON_GetObjectItemCaseSensitive(j, "Replicas")->valuedouble, 2,
		   "Replicas");
	tap_ok(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "IsGlobal")), "IsGlobal false");
	tap_is_str(cJSON_GetObjectItemCaseSensitive(j, "ReqPathSearch")->valuestring, "^/o",
		   "ReqPathSearch");
	txt = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, "AddReqHeader"));
	tap_is_str(txt, "[\"X-A 1\"]", "AddReqHeader as DFP's raw strings");
	free(txt);
	txt = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, "Users"));
	tap_is_str(txt, "[{\"Username\":\"u\",\"Password\":\"p\",\"PassEncrypted\":false}]",
		   "Users");
	free(txt);
	cJSON *dests = cJSON_GetObjectItemCaseSensitive(j, "ServiceDest");
	tap_is_int(cJSON_GetArraySize(dests), 1, "one ServiceDest");
	cJSON *d = cJSON_GetArrayItem(dests, 0);
	size_t k = 0;
	bool order = true;
	for (cJSON *it = d ? d->child : NULL; it; it = it->next, k++)
		if (k >= ARRAY_SIZE(dest_keys) || !streq(it->string, dest_keys[k]))
			order = false;
	tap_ok(order && k == ARRAY_SIZE(dest_keys), "ServiceDest keys in DFP's order");
	txt = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(d, "ServicePath"));
	tap_is_str(txt, "[\"/a\",\"/b\"]", "ServicePath");
	free(txt);
	tap_is_str(cJSON_GetObjectItemCaseSensitive(d, "TimeoutServer")->valuestring, "30",
		   "TimeoutServer as a string");
	tap_is_str(cJSON_GetObjectItemCaseSensitive(d, "TimeoutTunnel")->valuestring, "",
		   "TimeoutTunnel empty when unset");
	tap_is_str(cJSON_GetObjectItemCaseSensitive(d, "ReqPathSearchReplace")->valuestring,
		   "^/a,/:^/b,/c", "ReqPathSearchReplace raw");
	txt = cJSON_PrintUnformatted(
		cJSON_GetObjectItemCaseSensitive(d, "ReqPathSearchReplaceFormatted"));
	tap_is_str(txt, "[\"^/o,/n\",\"^/a,/\",\"^/b,/c\"]", "ReqPathSearchReplaceFormatted");
	free(txt);
	txt = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(d, "ServicePathExclude"));
	tap_is_str(txt, "null", "empty list is null");
	free(txt);
	cJSON_Delete(j);

	j = service_to_json_named(s);
	cJSON *prev = NULL;
	for (cJSON *it = j->child; it; it = it->next) {
		if (streq(it->string, "ServiceName"))
			break;
		prev = it;
	}
	tap_ok(prev && streq(prev->string, "ServiceDomainAlgo") &&
		       streq(prev->next->valuestring, "go") &&
		       streq(prev->next->next->string, "SessionType"),
	       "service_to_json_named puts ServiceName between ServiceDomainAlgo and SessionType");
	cJSON_Delete(j);

	/* service_dup: an equal, independent copy. */
	struct service *c = service_dup(s);
	char *a = cJSON_PrintUnformatted(j = service_to_json_named(s));
	cJSON_Delete(j);
	char *b = cJSON_PrintUnformatted(j = service_to_json_named(c));
	cJSON_Delete(j);
	tap_is_str(b, a, "service_dup gives an equal service");
	tap_ok(c->name != s->name && c->dests != s->dests &&
		       c->dests[0].paths.v != s->dests[0].paths.v &&
		       c->dests[0].path_replace != s->dests[0].path_replace &&
		       c->users != s->users && c->raw.v != s->raw.v,
	       "service_dup copies deeply");
	tap_is_int((long long)c->raw.n, (long long)s->raw.n, "service_dup copies raw");
	free(a);
	free(b);
	service_free(s);
	service_free(c);
	tap_ok(service_dup(NULL) == NULL, "service_dup(NULL)");
	service_free(NULL);
	free(err);
}

static void test_params(void)
{
	struct params p, q;

	params_init(&p);
	params_add(&p, "a", "1");
	params_add(&p, "A", "2");
	params_add(&p, "a", "3");
	tap_is_str(params_get(&p, "a"), "1", "params_get: first exact match");
	tap_is_str(params_get(&p, "A"), "2", "params_get: exact before case-insensitive");
	params_add(&p, "Bee", "4");
	tap_is_str(params_get(&p, "bee"), "4", "params_get: case-insensitive fallback");
	tap_ok(params_get(&p, "c") == NULL, "params_get: NULL when absent");
	params_set(&p, "a", "5");
	tap_is_str(params_get(&p, "a"), "5", "params_set replaces");
	params_set(&p, "c", "6");
	tap_is_int((long long)p.n, 5, "params_set appends");
	params_init(&q);
	params_copy(&q, &p);
	tap_is_int((long long)q.n, 5, "params_copy");
	tap_ok(params_remove(&q, "a"), "params_remove: found");
	tap_is_str(params_get(&q, "a"), "3", "params_remove takes the first exact match only");
	tap_is_str(params_get(&q, "A"), "2", "params_remove: other keys kept");
	tap_ok(!params_remove(&q, "bee"), "params_remove: exact keys only");
	tap_is_int((long long)q.n, 4, "params_remove: one pair fewer");
	params_done(&q);
	params_done(&p);
	params_done(NULL);
}

static void test_env(void)
{
	char *env[] = {
		"PATH=/bin",
		"DFP_SERVICE_SERVICE_NAME=one",
		"DFP_SERVICE_PORT=8080",
		"DFP_SERVICE_SERVICE_PATH=/one",
		"DFP_SERVICE_ACL_NAME=acl1",
		"DFP_SERVICE_SERVICE_PATH_EXCLUDE=/one/x",
		"DFP_SERVICE_SERVICE_DOMAIN=one.com",
		"DFP_SERVICE_SERVICE_DOMAIN_ALGO=hdr(host)",
		"DFP_SERVICE_PATH_TYPE=path_end",
		"DFP_SERVICE_REQ_PATH_SEARCH_REPLACE=^/one,/",
		"DFP_SERVICE_OUTBOUND_HOSTNAME=h1",
		"DFP_SERVICE_HTTPS_ONLY=true",
		"DFP_SERVICE_HTTPS_REDIRECT_CODE=301",
		"DFP_SERVICE_REDIRECT_WHEN_HTTP_PROTO=true",
		"DFP_SERVICE_IS_DEFAULT_BACKEND=true",
		"DFP_SERVICE_TIMEOUT_SERVER=10",
		"DFP_SERVICE_TIMEOUT_TUNNEL=20",
		"DFP_SERVICE_ADD_REQ_HEADER=X-A a",
		"DFP_SERVICE_SET_REQ_HEADER=X-B b",
		"DFP_SERVICE_DEL_REQ_HEADER=X-C",
		"DFP_SERVICE_ADD_RES_HEADER=X-D d",
		"DFP_SERVICE_SET_RES_HEADER=X-E e",
		"DFP_SERVICE_DEL_RES_HEADER=X-F",
		"DFP_SERVICE_IGNORE_AUTHORIZATION=true",
		"DFP_SERVICE_REQ_MODE=http",
		"DFP_SERVICE_SRC_PORT=81",
		"DFP_SERVICE_USERS=u:p",
		"DFP_SERVICE_USERS_PASS_ENCRYPTED=true",
		"DFP_SERVICE_ALLOWED_METHODS=GET",
		"DFP_SERVICE_DENIED_METHODS=PUT",
		"DFP_SERVICE_REDIRECT_FROM_DOMAIN=old.com",
		"DFP_SERVICE_REDIRECT_UNLESS_HTTPS_PROTO=true",
		"DFP_SERVICE_CONNECTION_MODE=httpclose",
		"DFP_SERVICE_COMPRESSION_ALGO=gzip",
		"DFP_SERVICE_COMPRESSION_TYPE=text/plain",
		"DFP_SERVICE_BACKEND_EXTRA=retries 1",
		"DFP_SERVICE_SESSION_TYPE=sticky-server",
		"DFP_SERVICE_CHECK_RESOLVERS=true",
		"DFP_SERVICE_1_SERVICE_NAME=two",
		"DFP_SERVICE_1_SERVICE_PATH_1=/two",
		"DFP_SERVICE_1_PORT_1=81",
		"DFP_SERVICE_1_SERVICE_PATH_2=/two2",
		"DFP_SERVICE_1_PORT_2=82",
		"DFP_SERVICE_1_TIMEOUT_SERVER_2=5",
		"DFP_SERVICE_1_ALLOWED_METHODS_2=POST",
		"DFP_SERVICE_1_DENIED_METHODS_1=DELETE",
		"DFP_SERVICE_1_SERVICE_PATH_3=/three-no-port",
		"DFP_SERVICE_1_SRC_PORT_3=99",
		"DFP_SERVICE_2_SERVICE_NAME=three",
		"DFP_SERVICE_2_SERVICE_PATH=/3",
		"DFP_SERVICE_2_PORT=83",
		"DFP_SERVICE_4_SERVICE_NAME=after-gap",
		"DFP_SERVICE_UNKNOWN_THING=x",
		"NOEQUALS",
		NULL,
	};
	struct params *v = NULL;
	size_t n = 0;
	char *err = NULL;

	tap_is_int(labels_from_env(env, &v, &n, &err), 0, "labels_from_env");
	tap_is_int((long long)n, 3, "three services, stopping at the first missing number");
	if (n != 3)
		return;
	static const struct {
		size_t svc;
		const char *key, *want;
	} want[] = {
		{0, "serviceName", "one"},
		{0, "port", "8080"},
		{0, "servicePath", "/one"},
		{0, "aclName", "acl1"},
		{0, "servicePathExclude", "/one/x"},
		{0, "serviceDomain", "one.com"},
		{0, "serviceDomainAlgo", "hdr(host)"},
		{0, "pathType", "path_end"},
		{0, "reqPathSearchReplace", "^/one,/"},
		{0, "outboundHostname", "h1"},
		{0, "httpsOnly", "true"},
		{0, "httpsRedirectCode", "301"},
		{0, "redirectWhenHttpProto", "true"},
		{0, "isDefaultBackend", "true"},
		{0, "timeoutServer", "10"},
		{0, "timeoutTunnel", "20"},
		{0, "addReqHeader", "X-A a"},
		{0, "setReqHeader", "X-B b"},
		{0, "delReqHeader", "X-C"},
		{0, "addResHeader", "X-D d"},
		{0, "setResHeader", "X-E e"},
		{0, "delResHeader", "X-F"},
		{0, "ignoreAuthorization", "true"},
		{0, "reqMode", "http"},
		{0, "srcPort", "81"},
		{0, "users", NULL},
		{0, "usersPassEncrypted", NULL},
		{0, "replicas", "-1"},
		{0, "allowedMethods", "GET"},
		{0, "deniedMethods", "PUT"},
		{0, "redirectFromDomain", "old.com"},
		{0, "redirectUnlessHttpsProto", "true"},
		{0, "connectionMode", "httpclose"},
		{0, "compressionAlgo", "gzip"},
		{0, "compressionType", "text/plain"},
		{0, "backendExtra", "retries 1"},
		{0, "sessionType", "sticky-server"},
		{0, "checkResolvers", "true"},
		{1, "serviceName", "two"},
		{1, "servicePath.1", "/two"},
		{1, "port.1", "81"},
		{1, "servicePath.2", "/two2"},
		{1, "port.2", "82"},
		{1, "timeoutServer.2", "5"},
		{1, "allowedMethods.2", "POST"},
		{1, "deniedMethods.1", "DELETE"},
		{1, "servicePath.3", NULL},
		{1, "srcPort.3", NULL},
		{1, "servicePath", NULL},
		{2, "serviceName", "three"},
		{2, "port", "83"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		char name[128];
		snprintf(name, sizeof(name), "env service %zu: %s", want[i].svc, want[i].key);
		tap_is_str(params_get(&v[want[i].svc], want[i].key), want[i].want, name);
	}

	/* Env services parse like any other. */
	struct service *s = NULL;
	tap_ok(labels_parse(&v[0], NULL, &s, NULL, &err) == 0 && s->n_dests == 1 &&
		       s->dests[0].timeout_server == 10 && s->n_users == 0 && s->has_replicas &&
		       s->replicas == -1 && s->sticky && s->check_resolvers &&
		       s->redirect_unless_https_proto && streq(s->connection_mode, "httpclose") &&
		       s->dests[0].allowed_methods.n == 1 &&
		       s->dests[0].redirect_from_domains.n == 1,
	       "env service 0 parses, without users, Replicas -1 as DFP, with DFP's other parameters");
	service_free(s);
	tap_ok(labels_parse(&v[1], NULL, &s, NULL, &err) == 0 && s->n_dests == 2 &&
		       s->dests[1].timeout_server == 5 && streq(s->dests[1].port, "82") &&
		       s->dests[1].allowed_methods.n == 1 && s->dests[0].allowed_methods.n == 0 &&
		       s->dests[0].denied_methods.n == 1,
	       "env service 1 parses with two indexed destinations");
	service_free(s);

	for (size_t i = 0; i < n; i++)
		params_done(&v[i]);
	free(v);

	char *none[] = {"DFP_SERVICE_1_PORT=80", NULL};
	tap_ok(labels_from_env(none, &v, &n, &err) == 0 && n == 0 && v == NULL,
	       "no SERVICE_NAME, no env service");
	char *numbered[] = {"DFP_SERVICE_1_SERVICE_NAME=a", "DFP_SERVICE_1_SERVICE_PATH=/a", NULL};
	tap_ok(labels_from_env(numbered, &v, &n, &err) == 0 && n == 1 &&
		       streq(params_get(&v[0], "servicePath"), "/a"),
	       "DFP_SERVICE_1 without DFP_SERVICE");
	for (size_t i = 0; i < n; i++)
		params_done(&v[i]);
	free(v);
	free(err);
}

static void test_strip_prefix(void)
{
	struct params in, out;

	params_init(&in);
	params_init(&out);
	params_add(&in, "com.df.notify", "true");
	params_add(&in, "com.df.servicePath", "/a");
	params_add(&in, "com.docker.stack.namespace", "x");
	params_add(&in, "com.df.", "empty");
	params_add(&in, "other", "y");
	labels_strip_prefix(&in, &out);
	tap_is_int((long long)out.n, 2, "strip_prefix keeps com.df.* only");
	tap_is_str(out.v[0].key, "notify", "  first key");
	tap_is_str(params_get(&out, "servicePath"), "/a", "  servicePath");
	params_done(&in);
	params_done(&out);
}

/* The autoscaler's change detector: only alert* and scale* parameters count. */
static void test_policy_hash(void)
{
	struct params a, b;

	params_init(&a);
	params_init(&b);
	params_add(&a, "serviceName", "web");
	params_add(&a, "alertIf.1", "@resp_time_above:0.1,5m,0.99");
	params_add(&a, "scaleMax", "4");
	params_copy(&b, &a);
	uint64_t h = params_policy_hash(&a);
	tap_ok(h != 0 && h == params_policy_hash(&b), "policy hash: equal parameters, equal hash");
	params_set(&b, "servicePath", "/web");
	tap_ok(params_policy_hash(&b) == h, "policy hash: a routing parameter does not change it");
	params_set(&b, "scaleMax", "5");
	tap_ok(params_policy_hash(&b) != h, "policy hash: a scale parameter changes it");
	params_set(&b, "scaleMax", "4");
	params_set(&b, "alertFor.1", "30s");
	tap_ok(params_policy_hash(&b) != h, "policy hash: an alert parameter changes it");
	params_done(&b);
	params_init(&b);
	tap_ok(params_policy_hash(&b) != 0, "policy hash: never 0, even for no parameters");

	struct service *svc = NULL;
	_cleanup_free_ char *err = NULL;
	params_set(&a, "servicePath", "/web");
	params_set(&a, "port", "8080");
	if (labels_parse(&a, NULL, &svc, NULL, &err) == 0) {
		tap_ok(svc->policy_hash == params_policy_hash(&a), "a parsed service carries it");
		struct service *c = service_dup(svc);
		tap_ok(c->policy_hash == svc->policy_hash, "and so does its copy");
		service_free(c);
	} else
		tap_ok(false, "the service parses: %s", err);
	service_free(svc);
	params_done(&a);
	params_done(&b);
}

/*
 * Every parameter of Docker Flow Proxy's reference (§1.3, aliases included) is either honoured
 * or refused: none is accepted and dropped. A refused one answers 400 naming it, and a boolean
 * one only when it is true (false is what flowproxy does without it).
 */
static const char *const dfp_names[] = {
	"serviceName",
	"aclName",
	"servicePath",
	"servicePathExclude",
	"pathType",
	"port",
	"httpsPort",
	"srcPort",
	"srcHttpsPort",
	"serviceDomain",
	"serviceDomainAlgo",
	"serviceDomainMatchAll",
	"serviceHeader",
	"userAgent",
	"reqMode",
	"reqPathSearchReplace",
	"reqPathSearch",
	"reqPathReplace",
	"outboundHostname",
	"httpsOnly",
	"httpsRedirectCode",
	"redirectWhenHttpProto",
	"redirectUnlessHttpsProto",
	"redirectFromDomain",
	"denyHttp",
	"allowedMethods",
	"deniedMethods",
	"verifyClientSsl",
	"sslVerifyNone",
	"ignoreAuthorization",
	"timeoutServer",
	"timeoutTunnel",
	"timeoutClient",
	"checkTcp",
	"clitcpka",
	"serviceGroup",
	"balanceGroup",
	"userDef",
	"addReqHeader",
	"addHeader",
	"setReqHeader",
	"setHeader",
	"delReqHeader",
	"addResHeader",
	"setResHeader",
	"delResHeader",
	"backendExtra",
	"connectionMode",
	"checkResolvers",
	"compressionAlgo",
	"compressionType",
	"discoveryType",
	"sessionType",
	"isDefaultBackend",
	"users",
	"usersSecret",
	"usersPassEncrypted",
	"serviceCert",
	"templateFePath",
	"templateBePath",
	"distribute",
	"proxyInstanceName",
	"replicas",
};

static void test_dfp_names(void)
{
	size_t refused = 0;

	tap_is_int((long)ARRAY_SIZE(dfp_names), 63, "the reference lists 63 DFP parameters");
	for (size_t i = 0; i < ARRAY_SIZE(dfp_names); i++) {
		const char *n = dfp_names[i];
		enum labels_support k = labels_param_support(n);
		tap_ok(k != LABELS_UNKNOWN, "%s is known to the parser", n);
		if (k != LABELS_UNSUPPORTED)
			continue;
		refused++;
		struct params p;
		struct service *s = NULL;
		_cleanup_free_ char *err = NULL;
		_cleanup_free_ char *want = xasprintf("%s is not supported by flowproxy yet", n);
		int status = 0;

		params_init(&p);
		params_add(&p, "serviceName", "svc");
		params_add(&p, "servicePath", "/a");
		params_add(&p, "port", "8080");
		params_add(&p, n, "true");
		_cleanup_free_ char *name = xasprintf("%s=true refused", n);
		tap_is_int(labels_parse(&p, NULL, &s, &status, &err), -EINVAL, name);
		tap_is_int(status, 400, "  status 400");
		tap_ok(err && str_startswith(err, want), "  the message names %s: %s", n,
		       err ? err : "(none)");
		service_free(s);
		params_done(&p);
	}
	tap_ok(labels_param_support("nodeInfo") == LABELS_UNKNOWN,
	       "nodeInfo (sent by the Swarm Listener) is not a DFP parameter: ignored");
	tap_ok(labels_param_support("allowedMethods.3") == labels_param_support("allowedMethods"),
	       "an indexed name is classified as its base");
	tap_diag("%zu of %zu DFP parameters refused until implemented", refused,
		 ARRAY_SIZE(dfp_names));

	/* docs/parameters.md's status table says what the parser does, name by name. */
	const char *root = getenv("FLOWPROXY_SOURCE_ROOT");
	_cleanup_free_ char *path = xasprintf("%s/docs/parameters.md", root ? root : ".");
	_cleanup_free_ char *doc = NULL;
	size_t len = 0;
	tap_is_int(read_file(path, 1 << 20, &doc, &len), 0, "docs/parameters.md is read");
	const char *table = doc ? strstr(doc, "## Status of every parameter") : NULL;
	tap_ok(table != NULL, "docs/parameters.md has the status table");
	for (size_t i = 0; table && i < ARRAY_SIZE(dfp_names) + 1; i++) {
		const char *n = i < ARRAY_SIZE(dfp_names) ? dfp_names[i] : "aclCondition";
		_cleanup_free_ char *row = xasprintf("\n| `%s` | ", n);
		const char *r = strstr(table, row);
		enum labels_support k = labels_param_support(n);
		bool doc_refused = r && strncmp(r + strlen(row), "refused", 7) == 0;
		bool doc_implemented = r && strncmp(r + strlen(row), "implemented", 11) == 0;
		tap_ok(k == LABELS_UNSUPPORTED ? doc_refused : doc_implemented,
		       "docs/parameters.md: %s is %s", n,
		       k == LABELS_UNSUPPORTED ? "refused" : "implemented");
	}
}

int main(void)
{
	test_fields();
	test_policy_hash();
	test_errors();
	test_dfp_names();
	test_globals();
	test_echo();
	test_users_secret();
	test_caps();
	test_json();
	test_params();
	test_env();
	test_strip_prefix();
	return tap_done();
}
