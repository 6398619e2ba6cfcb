// SPDX-License-Identifier: MIT
/*
 * httpc: the client (httpc.h). Each request is one easy handle on the client's curl_loop (its
 * multi handle on the loop, curl_loop.h), which reports a finished transfer once
 * curl_multi_socket_action returned. The request's callback runs from that report, the call
 * already out of the list and its handle removed, so a callback may start or cancel other
 * requests.
 */
#include "flowproxy/httpc.h"
#include "flowproxy/curl_loop.h"
#include "flowproxy/loop.h"
#include "flowproxy/util.h"

#include <strings.h>

struct httpc_call {
	struct httpc *h;
	char *method;
	char *url;
	char *body;
	size_t len;
	struct curl_slist *headers;
	CURL *easy;
	char errbuf[CURL_ERROR_SIZE];
	struct strbuf reply;
	size_t reply_max;
	bool too_big;
	httpc_done_fn cb;
	void *userdata;
	struct httpc_call *prev, *next;
};

struct httpc {
	struct loop *loop;
	struct curl_loop *cl;
	struct httpc_call *calls;
};

static void on_done(void *userdata, CURL *easy, void *priv, CURLcode result);

int httpc_new(struct loop *loop, struct httpc **ret, char **reterr)
{
	struct httpc *h = xcalloc(1, sizeof(*h));
	int r;

	h->loop = loop;
	if ((r = curl_loop_new(loop, on_done, NULL, h, &h->cl, reterr)) < 0) {
		free(h);
		return r;
	}
	*ret = h;
	return 0;
}

static void call_unlink(struct httpc_call *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		c->h->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

static void call_free(struct httpc_call *c)
{
	if (c->easy) {
		curl_loop_remove(c->h->cl, c->easy);
		curl_easy_cleanup(c->easy);
	}
	curl_slist_free_all(c->headers);
	strbuf_done(&c->reply);
	free(c->method);
	free(c->url);
	free(c->body);
	free(c);
}

static size_t reply_write(char *ptr, size_t size, size_t n, void *userp)
{
	struct httpc_call *c = userp;
	size_t total = size * n;

	if (c->reply.len + total > c->reply_max) {
		c->too_big = true;
		return 0; /* curl stops the transfer: CURLE_WRITE_ERROR */
	}
	strbuf_append(&c->reply, ptr, total);
	return total;
}

static bool method_ok(const char *m)
{
	size_t n = 0;

	for (; m[n]; n++)
		if (m[n] < 'A' || m[n] > 'Z')
			return false;
	return n > 0 && n < 16;
}

struct httpc_call *httpc_request(struct httpc *h, const char *method, const char *url,
				 const char *body, size_t len, const char *bearer, long timeout_ms,
				 size_t reply_max, httpc_done_fn cb, void *userdata)
{
	struct httpc_call *c;

	if (!method_ok(method) || strncasecmp(url, "http://", 7) != 0 ||
	    strlen(url) > HTTPC_URL_MAX || strpbrk(url, " \t\r\n"))
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->h = h;
	c->method = xstrdup(method);
	c->url = xstrdup(url);
	c->len = body ? len : 0;
	if (body) {
		c->body = xmalloc(len + 1);
		memcpy(c->body, body, len);
		c->body[len] = '\0';
	}
	c->reply_max = reply_max > HTTPC_REPLY_MAX ? HTTPC_REPLY_MAX : reply_max;
	c->cb = cb;
	c->userdata = userdata;
	strbuf_init(&c->reply);
	if (bearer && *bearer) {
		_cleanup_free_ char *a = xasprintf("Authorization: Bearer %s", bearer);
		c->headers = curl_slist_append(c->headers, a);
	}
	/* No "Expect: 100-continue" round trip for a body. */
	c->headers = curl_slist_append(c->headers, "Expect:");
	c->easy = curl_easy_init();
	if (!c->easy || !c->headers)
		abort(); /* out of memory, like xmalloc */
	curl_easy_setopt(c->easy, CURLOPT_URL, c->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http");
#else
	curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTP);
#endif
	curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 10000L);
	curl_easy_setopt(c->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c->easy, CURLOPT_USERAGENT, "flowproxy/" FLOWPROXY_VERSION);
	/* The peers are replicas and listeners on the cluster's own network, never a proxy. */
	curl_easy_setopt(c->easy, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, c->method);
	if (c->body) {
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)c->len);
	} else if (streq(method, "HEAD")) {
		curl_easy_setopt(c->easy, CURLOPT_NOBODY, 1L);
	}
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, reply_write);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	c->next = h->calls;
	if (h->calls)
		h->calls->prev = c;
	h->calls = c;
	/* curl arms its timer for "now": the transfer starts from the loop. */
	if (curl_loop_add(h->cl, c->easy) < 0)
		abort();
	return c;
}

void httpc_cancel(struct httpc_call *c)
{
	if (!c)
		return;
	call_unlink(c);
	call_free(c);
}

static int code_errno(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_WEIRD_SERVER_REPLY:
		return -EPROTO;
	default:
		return -EIO;
	}
}

static void call_done(struct httpc_call *c, CURLcode cc)
{
	struct httpc_result res = {0};
	_cleanup_free_ char *err = NULL;

	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &res.status);
	curl_loop_remove(c->h->cl, c->easy);
	curl_easy_cleanup(c->easy);
	c->easy = NULL;
	call_unlink(c);
	if (c->too_big) {
		res.r = -EMSGSIZE;
		err = xasprintf("%s %s: the answer is over %zu bytes", c->method, c->url,
				c->reply_max);
	} else if (cc != CURLE_OK) {
		res.r = code_errno(cc);
		err = xasprintf("%s %s: %s", c->method, c->url,
				c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
	}
	if (res.r < 0)
		res.status = 0;
	res.body = c->reply.len ? strbuf_str(&c->reply) : "";
	res.len = c->reply.len;
	res.err = err ? err : "";
	if (c->cb)
		c->cb(c->userdata, &res);
	call_free(c);
}

static void on_done(void *userdata, CURL *easy, void *priv, CURLcode result)
{
	if (priv)
		call_done(priv, result);
}

void httpc_free(struct httpc *h)
{
	if (!h)
		return;
	while (h->calls) {
		struct httpc_call *c = h->calls;
		call_unlink(c);
		call_free(c);
	}
	curl_loop_free(h->cl);
	free(h);
}
