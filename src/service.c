// SPDX-License-Identifier: MIT
/*
 * service: parameter maps (struct params), string vectors, and the lifetime and JSON form of
 * struct service. Pure: no I/O. labels.c fills a struct service from a parameter map; this file
 * only frees, copies and serialises it. The JSON form is Docker Flow Proxy's: Go's
 * encoding/json of proxy.Service, whose struct has no json tags, so the Go field names are the
 * keys, in declaration order, with `null` for nil slices (reference docker-flow-proxy.md §2).
 */
#include "flowproxy/service.h"

#include <ctype.h>

#include <cjson/cJSON.h>
#include <strings.h>

bool params_bool(const char *v)
{
	static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True", "on"};

	if (!v)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
		if (streq(v, yes[i]))
			return true;
	return strcasecmp(v, "true") == 0;
}

void params_init(struct params *p)
{
	p->v = NULL;
	p->n = 0;
}

void params_done(struct params *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].key);
		free(p->v[i].value);
	}
	free(p->v);
	params_init(p);
}

void params_add(struct params *p, const char *key, const char *value)
{
	p->v = xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
	p->v[p->n].key = xstrdup(key);
	p->v[p->n].value = xstrdup(value);
	p->n++;
}

void params_set(struct params *p, const char *key, const char *value)
{
	for (size_t i = 0; i < p->n; i++) {
		if (streq(p->v[i].key, key)) {
			free(p->v[i].value);
			p->v[i].value = xstrdup(value);
			return;
		}
	}
	params_add(p, key, value);
}

bool params_remove(struct params *p, const char *key)
{
	for (size_t i = 0; i < p->n; i++) {
		if (!streq(p->v[i].key, key))
			continue;
		free(p->v[i].key);
		free(p->v[i].value);
		memmove(&p->v[i], &p->v[i + 1], (p->n - i - 1) * sizeof(p->v[0]));
		p->n--;
		return true;
	}
	return false;
}

const char *params_get(const struct params *p, const char *key)
{
	if (!p)
		return NULL;
	for (size_t i = 0; i < p->n; i++)
		if (streq(p->v[i].key, key))
			return p->v[i].value;
	/* gorilla/schema and mapstructure match Go field names case-insensitively (§1.1). */
	for (size_t i = 0; i < p->n; i++)
		if (strcasecmp(p->v[i].key, key) == 0)
			return p->v[i].value;
	return NULL;
}

void params_copy(struct params *dst, const struct params *src)
{
	for (size_t i = 0; i < src->n; i++)
		params_add(dst, src->v[i].key, src->v[i].value);
}

void strv_done(struct strv *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

void strv_add(struct strv *s, const char *v)
{
	s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
	s->v[s->n++] = xstrdup(v);
}

static void strv_copy(struct strv *dst, const struct strv *src)
{
	dst->v = NULL;
	dst->n = 0;
	for (size_t i = 0; i < src->n; i++)
		strv_add(dst, src->v[i]);
}

static char *strdup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void service_headers_free(struct service_header *h, size_t n)
{
	for (size_t i = 0; h && i < n; i++) {
		free(h[i].name);
		free(h[i].value);
		free(h[i].cond);
	}
	free(h);
}

static struct service_header *headers_dup(const struct service_header *h, size_t n)
{
	struct service_header *r;

	if (!h || n == 0)
		return NULL;
	r = xcalloc(n, sizeof(*r));
	for (size_t i = 0; i < n; i++) {
		r[i].name = strdup_or_null(h[i].name);
		r[i].value = strdup_or_null(h[i].value);
		r[i].cond = strdup_or_null(h[i].cond);
	}
	return r;
}

static void dest_done(struct service_dest *d)
{
	free(d->port);
	strv_done(&d->paths);
	strv_done(&d->path_excludes);
	free(d->path_type);
	strv_done(&d->domains);
	free(d->req_mode);
	for (size_t i = 0; d->path_replace && i < d->n_path_replace; i++) {
		free(d->path_replace[i].search);
		free(d->path_replace[i].replace);
	}
	free(d->path_replace);
	free(d->outbound_hostname);
	free(d->https_redirect_code);
	strv_done(&d->allowed_methods);
	strv_done(&d->denied_methods);
	strv_done(&d->user_agents);
	strv_done(&d->redirect_from_domains);
	service_headers_free(d->service_headers, d->n_service_headers);
	free(d->service_group);
	free(d->balance_group);
	free(d->user_def);
}

static void dest_copy(struct service_dest *dst, const struct service_dest *src)
{
	*dst = *src;
	dst->port = strdup_or_null(src->port);
	strv_copy(&dst->paths, &src->paths);
	strv_copy(&dst->path_excludes, &src->path_excludes);
	dst->path_type = strdup_or_null(src->path_type);
	strv_copy(&dst->domains, &src->domains);
	dst->req_mode = strdup_or_null(src->req_mode);
	dst->path_replace = NULL;
	if (src->n_path_replace) {
		dst->path_replace = xcalloc(src->n_path_replace, sizeof(*dst->path_replace));
		for (size_t i = 0; i < src->n_path_replace; i++) {
			dst->path_replace[i].search = strdup_or_null(src->path_replace[i].search);
			dst->path_replace[i].replace = strdup_or_null(src->path_replace[i].replace);
		}
	}
	dst->outbound_hostname = strdup_or_null(src->outbound_hostname);
	dst->https_redirect_code = strdup_or_null(src->https_redirect_code);
	strv_copy(&dst->allowed_methods, &src->allowed_methods);
	strv_copy(&dst->denied_methods, &src->denied_methods);
	strv_copy(&dst->user_agents, &src->user_agents);
	strv_copy(&dst->redirect_from_domains, &src->redirect_from_domains);
	dst->service_headers = headers_dup(src->service_headers, src->n_service_headers);
	dst->service_group = strdup_or_null(src->service_group);
	dst->balance_group = strdup_or_null(src->balance_group);
	dst->user_def = strdup_or_null(src->user_def);
}

/* Accepts NULL and half-built services (any pointer may be NULL, counts may be 0). */
uint64_t params_policy_hash(const struct params *p)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < p->n; i++) {
		const char *k = p->v[i].key;
		if (strncasecmp(k, "alert", 5) != 0 && strncasecmp(k, "scale", 5) != 0)
			continue;
		for (const char *c = k; *c; c++)
			h = (h ^ (unsigned char)*c) * 1099511628211ull;
		h = (h ^ '=') * 1099511628211ull;
		for (const char *c = p->v[i].value; *c; c++)
			h = (h ^ (unsigned char)*c) * 1099511628211ull;
		h = (h ^ '\n') * 1099511628211ull;
	}
	return h ? h : 1;
}

void service_free(struct service *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->acl_name);
	free(s->domain_algo);
	free(s->discovery_type);
	free(s->connection_mode);
	free(s->compression_algo);
	free(s->compression_type);
	free(s->backend_extra);
	service_headers_free(s->add_req_headers, s->n_add_req_headers);
	service_headers_free(s->set_req_headers, s->n_set_req_headers);
	service_headers_free(s->del_req_headers, s->n_del_req_headers);
	service_headers_free(s->add_res_headers, s->n_add_res_headers);
	service_headers_free(s->set_res_headers, s->n_set_res_headers);
	service_headers_free(s->del_res_headers, s->n_del_res_headers);
	for (size_t i = 0; s->users && i < s->n_users; i++) {
		free(s->users[i].name);
		free(s->users[i].password);
	}
	free(s->users);
	for (size_t i = 0; s->dests && i < s->n_dests; i++)
		dest_done(&s->dests[i]);
	free(s->dests);
	free(s->template_fe_path);
	free(s->template_be_path);
	free(s->template_fe);
	free(s->template_be);
	params_done(&s->raw);
	free(s);
}

/* A deep copy; the caller frees it with service_free. NULL in, NULL out. */
struct service *service_dup(const struct service *s)
{
	struct service *r;

	if (!s)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	*r = *s;
	r->name = strdup_or_null(s->name);
	r->acl_name = strdup_or_null(s->acl_name);
	r->domain_algo = strdup_or_null(s->domain_algo);
	r->discovery_type = strdup_or_null(s->discovery_type);
	r->connection_mode = strdup_or_null(s->connection_mode);
	r->compression_algo = strdup_or_null(s->compression_algo);
	r->compression_type = strdup_or_null(s->compression_type);
	r->backend_extra = strdup_or_null(s->backend_extra);
	r->add_req_headers = headers_dup(s->add_req_headers, s->n_add_req_headers);
	r->set_req_headers = headers_dup(s->set_req_headers, s->n_set_req_headers);
	r->del_req_headers = headers_dup(s->del_req_headers, s->n_del_req_headers);
	r->add_res_headers = headers_dup(s->add_res_headers, s->n_add_res_headers);
	r->set_res_headers = headers_dup(s->set_res_headers, s->n_set_res_headers);
	r->del_res_headers = headers_dup(s->del_res_headers, s->n_del_res_headers);
	r->users = NULL;
	if (s->n_users) {
		r->users = xcalloc(s->n_users, sizeof(*r->users));
		for (size_t i = 0; i < s->n_users; i++) {
			r->users[i].name = strdup_or_null(s->users[i].name);
			r->users[i].password = strdup_or_null(s->users[i].password);
			r->users[i].encrypted = s->users[i].encrypted;
		}
	}
	r->dests = NULL;
	if (s->n_dests) {
		r->dests = xcalloc(s->n_dests, sizeof(*r->dests));
		for (size_t i = 0; i < s->n_dests; i++)
			dest_copy(&r->dests[i], &s->dests[i]);
	}
	r->template_fe_path = strdup_or_null(s->template_fe_path);
	r->template_be_path = strdup_or_null(s->template_be_path);
	r->template_fe = strdup_or_null(s->template_fe);
	r->template_be = strdup_or_null(s->template_be);
	params_init(&r->raw);
	params_copy(&r->raw, &s->raw);
	return r;
}

static void json_str(cJSON *o, const char *key, const char *v)
{
	cJSON_AddItemToObject(o, key, cJSON_CreateString(v ? v : ""));
}

static void json_bool(cJSON *o, const char *key, bool v)
{
	cJSON_AddItemToObject(o, key, cJSON_CreateBool(v));
}

static void json_int(cJSON *o, const char *key, long v)
{
	cJSON_AddItemToObject(o, key, cJSON_CreateNumber((double)v));
}

/* Go marshals a nil slice as null: flowproxy's "nothing given" is nil. */
static void json_strv(cJSON *o, const char *key, const struct strv *v)
{
	cJSON *a;

	if (!v || v->n == 0) {
		cJSON_AddItemToObject(o, key, cJSON_CreateNull());
		return;
	}
	a = cJSON_CreateArray();
	for (size_t i = 0; i < v->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v->v[i]));
	cJSON_AddItemToObject(o, key, a);
}

/* DFP keeps header rules as the raw "Name value" strings. */
static void json_headers(cJSON *o, const char *key, const struct service_header *h, size_t n)
{
	cJSON *a;

	if (!h || n == 0) {
		cJSON_AddItemToObject(o, key, cJSON_CreateNull());
		return;
	}
	a = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++) {
		struct strbuf b;
		strbuf_init(&b);
		strbuf_puts(&b, h[i].name);
		if (h[i].value) {
			strbuf_putc(&b, ' ');
			strbuf_puts(&b, h[i].value);
		}
		if (h[i].cond) {
			strbuf_putc(&b, ' ');
			strbuf_puts(&b, h[i].cond);
		}
		_cleanup_free_ char *s = strbuf_steal(&b);
		cJSON_AddItemToArray(a, cJSON_CreateString(s));
	}
	cJSON_AddItemToObject(o, key, a);
}

/* The value of a destination-level parameter the way DFP reads it: `key.i`, else `key`. */
static const char *raw_dest_get(const struct service *s, const char *key, int index)
{
	const char *v = NULL;

	if (index > 0) {
		_cleanup_free_ char *k = xasprintf("%s.%d", key, index);
		for (size_t i = 0; i < s->raw.n && !v; i++)
			if (streq(s->raw.v[i].key, k))
				v = s->raw.v[i].value;
	}
	if (!str_set(v))
		v = params_get(&s->raw, key);
	return v ? v : "";
}

char *service_user_agent_acl(const struct strv *ua)
{
	struct strbuf b;

	strbuf_init(&b);
	for (size_t i = 0; i < ua->n; i++) {
		if (i)
			strbuf_putc(&b, '_');
		for (const char *c = ua->v[i]; *c; c++)
			strbuf_putc(&b, isalnum((unsigned char)*c) ? *c : '_');
	}
	return strbuf_steal(&b);
}

static cJSON *dest_to_json(const struct service *s, const struct service_dest *d)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *ua;
	char buf[32];

	json_strv(o, "AllowedMethods", &d->allowed_methods);
	json_str(o, "BalanceGroup", d->balance_group);
	json_bool(o, "CheckTCP", d->check_tcp);
	json_bool(o, "Clitcpka", d->clitcpka);
	json_strv(o, "DeniedMethods", &d->denied_methods);
	json_bool(o, "DenyHttp", d->deny_http);
	json_bool(o, "HttpsOnly", d->https_only);
	json_int(o, "HttpsPort", d->https_port);
	json_str(o, "HttpsRedirectCode", d->https_redirect_code);
	json_bool(o, "IgnoreAuthorization", d->ignore_authorization);
	json_str(o, "OutboundHostname", d->outbound_hostname);
	json_str(o, "PathType", d->path_type);
	json_str(o, "Port", d->port);
	json_strv(o, "RedirectFromDomain", &d->redirect_from_domains);
	json_str(o, "ReqMode", d->req_mode);
	json_str(o, "ReqModeFormatted", d->req_mode);
	json_str(o, "ReqPathSearchReplace", raw_dest_get(s, "reqPathSearchReplace", d->index));
	json_strv(o, "ServiceDomain", &d->domains);
	json_str(o, "ServiceGroup", d->service_group);
	if (d->n_service_headers) {
		cJSON *h = cJSON_CreateObject();
		for (size_t i = 0; i < d->n_service_headers; i++)
			json_str(h, d->service_headers[i].name, d->service_headers[i].value);
		cJSON_AddItemToObject(o, "ServiceHeader", h);
	} else {
		cJSON_AddItemToObject(o, "ServiceHeader", cJSON_CreateNull());
	}
	json_strv(o, "ServicePath", &d->paths);
	json_strv(o, "ServicePathExclude", &d->path_excludes);
	json_int(o, "SrcPort", d->src_port);
	json_int(o, "SrcHttpsPort", d->src_https_port);
	json_str(o, "SrcPortAcl", "");
	json_str(o, "SrcPortAclName", "");
	json_str(o, "SrcHttpsPortAcl", "");
	json_str(o, "SrcHttpsPortAclName", "");
	json_bool(o, "SslVerifyNone", d->ssl_verify_none);
	/* DFP keeps timeouts as strings: "" when unset. */
	snprintf(buf, sizeof(buf), "%ld", d->timeout_server);
	json_str(o, "TimeoutServer", d->timeout_server ? buf : "");
	snprintf(buf, sizeof(buf), "%ld", d->timeout_client);
	json_str(o, "TimeoutClient", d->timeout_client ? buf : "");
	snprintf(buf, sizeof(buf), "%ld", d->timeout_tunnel);
	json_str(o, "TimeoutTunnel", d->timeout_tunnel ? buf : "");
	json_bool(o, "VerifyClientSsl", d->verify_client_ssl);
	ua = cJSON_CreateObject();
	json_strv(ua, "Value", &d->user_agents);
	_cleanup_free_ char *ua_acl = service_user_agent_acl(&d->user_agents);
	json_str(ua, "AclName", ua_acl);
	cJSON_AddItemToObject(o, "UserAgent", ua);
	json_str(o, "UserDef", d->user_def);
	json_int(o, "Index", d->index);
	if (d->n_path_replace) {
		cJSON *a = cJSON_CreateArray();
		for (size_t i = 0; i < d->n_path_replace; i++) {
			_cleanup_free_ char *pr = xasprintf("%s,%s", d->path_replace[i].search,
							    d->path_replace[i].replace);
			cJSON_AddItemToArray(a, cJSON_CreateString(pr));
		}
		cJSON_AddItemToObject(o, "ReqPathSearchReplaceFormatted", a);
	} else {
		cJSON_AddItemToObject(o, "ReqPathSearchReplaceFormatted", cJSON_CreateNull());
	}
	json_bool(o, "IncludeSrcPortACL", d->src_port > 0);
	json_bool(o, "IncludeSrcHttpsPortACL", d->src_https_port > 0);
	return o;
}

/*
 * The fields of proxy.Service in Go declaration order. with_name adds ServiceName at its place
 * (between ServiceDomainAlgo and SessionType), for config?type=json where the Service is
 * marshalled on its own. Without it, the object starts at "AclName": the reconfigure, remove and
 * ping answers embed the Service in server.Response, whose own Status, Message and ServiceName
 * come first and shadow the embedded ServiceName, so the API prepends those three.
 * Parameters flowproxy does not implement yet are marshalled as Go's zero values.
 */
static cJSON *service_json(const struct service *s, bool with_name)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *a;

	if (!o)
		abort();
	json_str(o, "AclName", s->acl_name);
	json_headers(o, "AddReqHeader", s->add_req_headers, s->n_add_req_headers);
	json_headers(o, "AddResHeader", s->add_res_headers, s->n_add_res_headers);
	json_str(o, "BackendExtra", s->backend_extra ? s->backend_extra : "");
	json_bool(o, "CheckResolvers", s->check_resolvers);
	json_str(o, "CompressionAlgo", s->compression_algo ? s->compression_algo : "");
	json_str(o, "CompressionType", s->compression_type ? s->compression_type : "");
	json_str(o, "ConnectionMode", s->connection_mode ? s->connection_mode : "");
	json_bool(o, "Debug", false);
	json_str(o, "DebugFormat", "");
	json_headers(o, "DelReqHeader", s->del_req_headers, s->n_del_req_headers);
	json_headers(o, "DelResHeader", s->del_res_headers, s->n_del_res_headers);
	json_str(o, "DiscoveryType", s->discovery_type ? s->discovery_type : "");
	json_bool(o, "Distribute", params_bool(params_get(&s->raw, "distribute")));
	json_bool(o, "IsDefaultBackend", s->is_default_backend);
	json_str(o, "ProxyInstanceName", params_get(&s->raw, "proxyInstanceName"));
	json_bool(o, "RedirectWhenHttpProto", s->redirect_when_http_proto);
	json_bool(o, "RedirectUnlessHttpsProto", s->redirect_unless_https_proto);
	json_int(o, "Replicas", s->has_replicas ? s->replicas : 0);
	json_str(o, "ReqPathReplace", params_get(&s->raw, "reqPathReplace"));
	json_str(o, "ReqPathSearch", params_get(&s->raw, "reqPathSearch"));
	/* Never echoed: it holds a private key. */
	json_str(o, "ServiceCert", "");
	json_str(o, "ServiceDomainAlgo", s->domain_algo);
	if (with_name)
		json_str(o, "ServiceName", s->name);
	json_str(o, "SessionType", s->sticky ? "sticky-server" : "");
	json_headers(o, "SetReqHeader", s->set_req_headers, s->n_set_req_headers);
	json_headers(o, "SetResHeader", s->set_res_headers, s->n_set_res_headers);
	json_str(o, "TemplateBePath", s->template_be_path);
	json_str(o, "TemplateFePath", s->template_fe_path);
	json_bool(o, "UseGlobalUsers", false);
	if (s->n_users) {
		a = cJSON_CreateArray();
		for (size_t i = 0; i < s->n_users; i++) {
			cJSON *u = cJSON_CreateObject();
			json_str(u, "Username", s->users[i].name);
			json_str(u, "Password", s->users[i].password);
			json_bool(u, "PassEncrypted", s->users[i].encrypted);
			cJSON_AddItemToArray(a, u);
		}
		cJSON_AddItemToObject(o, "Users", a);
	} else {
		cJSON_AddItemToObject(o, "Users", cJSON_CreateNull());
	}
	json_str(o, "ServicePort", "");
	json_str(o, "AclCondition", "");
	json_bool(o, "IsGlobal", s->name && !s->has_replicas);
	json_int(o, "LookupRetry", 0);
	json_int(o, "LookupRetryInterval", 0);
	if (s->n_dests) {
		a = cJSON_CreateArray();
		for (size_t i = 0; i < s->n_dests; i++)
			cJSON_AddItemToArray(a, dest_to_json(s, &s->dests[i]));
		cJSON_AddItemToObject(o, "ServiceDest", a);
	} else {
		cJSON_AddItemToObject(o, "ServiceDest", cJSON_CreateNull());
	}
	cJSON_AddItemToObject(o, "Tasks", cJSON_CreateNull());
	return o;
}

struct cJSON *service_to_json(const struct service *s)
{
	return service_json(s, false);
}

struct cJSON *service_to_json_named(const struct service *s)
{
	return service_json(s, true);
}
