// SPDX-License-Identifier: MIT
/*
 * httpc: the client (httpc.h). Each request is one easy handle on the sender's multi handle;
 * curl's sockets are loop ios and its timeout one loop timer, as in webhook.c and docker.c.
 * Finished transfers are collected after each curl_multi_socket_action and their callbacks run
 * there, each call already out of the list and its handle removed, so a callback may start or
 * cancel other requests.
 */
#include "flowproxy/httpc.h"
#include "flowproxy/curl_dl.h"
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

struct sock {
	struct httpc *h;
	curl_socket_t fd;
	struct loop_io *io;
	struct sock *prev, *next;
};

struct httpc {
	struct loop *loop;
	CURLM *multi;
	struct loop_timer *timer;
	struct httpc_call *calls;
	struct sock *socks;
};

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp);
static int timer_cb(CURLM *multi, long timeout_ms, void *userp);
static void on_curl_timer(void *userdata);

int httpc_new(struct loop *loop, struct httpc **ret, char **reterr)
{
	_cleanup_free_ char *err = NULL;
	struct httpc *h;
	int r;

	if ((r = curl_dl_load(&err)) < 0)
		return errmsg_set(reterr, r, "%s", err);
	h = xcalloc(1, sizeof(*h));
	h->loop = loop;
	h->multi = curl_multi_init();
	if (!h->multi) {
		free(h);
		return errmsg_set(reterr, -ENOMEM, "cannot create a curl multi handle");
	}
	h->timer = loop_timer_new(loop, on_curl_timer, h);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
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
		curl_multi_remove_handle(c->h->multi, c->easy);
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
	if (curl_multi_add_handle(h->multi, c->easy) != CURLM_OK)
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
	curl_multi_remove_handle(c->h->multi, c->easy);
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

static void collect(struct httpc *h)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left))) {
		struct httpc_call *c = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
		if (c)
			call_done(c, msg->data.result);
	}
}

static void on_sock(void *userdata, uint32_t events)
{
	struct sock *s = userdata;
	struct httpc *h = s->h;
	int running;

	curl_multi_socket_action(h->multi, s->fd,
				 ((events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
					 ((events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
					 ((events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0),
				 &running);
	collect(h);
}

static void on_curl_timer(void *userdata)
{
	struct httpc *h = userdata;
	int running;

	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	collect(h);
}

static void sock_free(struct sock *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		s->h->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	loop_io_free(s->io);
	free(s);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct httpc *h = userp;
	struct sock *s = socketp;
	uint32_t ev =
		((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);

	if (what == CURL_POLL_REMOVE) {
		if (s) {
			sock_free(s);
			curl_multi_assign(h->multi, fd, NULL);
		}
		return 0;
	}
	if (!s) {
		s = xcalloc(1, sizeof(*s));
		s->h = h;
		s->fd = fd;
		s->io = loop_io_add(h->loop, fd, ev, on_sock, s);
		if (!s->io) {
			free(s);
			return -1;
		}
		s->next = h->socks;
		if (h->socks)
			h->socks->prev = s;
		h->socks = s;
		curl_multi_assign(h->multi, fd, s);
		return 0;
	}
	loop_io_set(s->io, ev);
	return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct httpc *h = userp;

	if (timeout_ms < 0)
		loop_timer_stop(h->timer);
	else
		loop_timer_after(h->timer, timeout_ms);
	return 0;
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
	if (h->multi)
		curl_multi_cleanup(h->multi);
	while (h->socks)
		sock_free(h->socks);
	loop_timer_free(h->timer);
	free(h);
}
