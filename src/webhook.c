// SPDX-License-Identifier: MIT
/*
 * webhook: the sender (webhook.h). Messages live in one of two lists: `queue` (waiting to start,
 * running, or waiting for a retry; in post order, which is also the order they start in and the
 * order a full queue drops them in) and `done` (over, their callbacks not yet run). Attempts
 * are easy handles on the sender's curl_loop (curl_loop.h); each one it reports finished
 * becomes a retry or an outcome moved to `done`, and free slots fill once the round's reports
 * are in. A zero loop timer then runs the callbacks, so no callback ever runs inside
 * webhook_post, inside curl_loop's report, or while the lists are being walked. Each retry
 * waits on a loop timer of its message.
 */
#include "flowproxy/webhook.h"
#include "flowproxy/curl_loop.h"
#include "flowproxy/log.h"
#include "flowproxy/loop.h"

#include <cjson/cJSON.h>
#include <strings.h>

/* Bytes of an answer kept for the failure message (Slack answers e.g. "invalid_payload"). */
#define WEBHOOK_REPLY_KEEP 256
#define WEBHOOK_SHOWN_MAX  200

enum call_state {
	CALL_READY = 0, /* waiting for a transfer slot */
	CALL_RUNNING,
	CALL_BACKOFF, /* waiting for its retry timer */
	CALL_DONE,    /* in w->done, its callback to run */
	CALL_REPORTING
};

struct call_list {
	struct webhook_call *head, *tail;
	size_t n;
};

struct webhook_call {
	struct webhook *w;
	enum call_state state;
	char *url;
	char *shown; /* webhook_url_redact(url) */
	char *body;  /* NULL: no body */
	struct curl_slist *headers;
	CURL *easy; /* while running */
	char errbuf[CURL_ERROR_SIZE];
	struct strbuf reply; /* the answer's first WEBHOOK_REPLY_KEEP bytes */
	unsigned attempts;
	long status;
	int r;	   /* the outcome, once done */
	char *err; /* its message, once done */
	struct loop_timer *backoff;
	webhook_done_fn cb;
	void *userdata;
	struct webhook_call *prev, *next; /* in queue or done */
};

struct webhook {
	struct loop *loop;
	struct webhook_options o;
	struct curl_loop *cl;
	struct loop_timer *report; /* runs the callbacks of w->done */
	struct call_list queue, done;
	size_t running;
	struct webhook_stats stats;
	unsigned long drop_streak; /* drops since the queue last had room; logged once */
	bool reporting;		   /* inside on_report */
	bool dead;		   /* webhook_free was called from a callback */
};

/* ---- URLs --------------------------------------------------------------------------------- */

/* The scheme's length when url starts with a scheme and "://", else 0. */
static size_t scheme_len(const char *url)
{
	size_t n = 0;

	while ((url[n] >= 'a' && url[n] <= 'z') || (url[n] >= 'A' && url[n] <= 'Z') ||
	       (n > 0 && ((url[n] >= '0' && url[n] <= '9') || url[n] == '+' || url[n] == '-' ||
			  url[n] == '.')))
		n++;
	return n > 0 && strncmp(url + n, "://", 3) == 0 ? n : 0;
}

char *webhook_url_redact(const char *url)
{
	struct strbuf b;
	const char *rest, *auth_end, *at, *path_end;
	size_t sl;

	if (!url)
		return xstrdup("");
	strbuf_init(&b);
	sl = scheme_len(url);
	rest = sl ? url + sl + 3 : url;
	if (sl)
		strbuf_append(&b, url, sl + 3);
	/* RFC 3986 §3.2: the authority ends at the first '/', '?' or '#'; user information is
	 * what comes before its last '@'. */
	auth_end = rest + strcspn(rest, "/?#");
	at = NULL;
	for (const char *p = rest; p < auth_end; p++)
		if (*p == '@')
			at = p;
	if (at)
		rest = at + 1;
	path_end = auth_end + strcspn(auth_end, "?#");
	strbuf_append(&b, rest, (size_t)(path_end - rest));
	if (b.len > WEBHOOK_SHOWN_MAX) {
		b.len = WEBHOOK_SHOWN_MAX - 3;
		strbuf_puts(&b, "...");
	}
	for (size_t i = 0; i < b.len; i++)
		if ((unsigned char)b.s[i] < 0x20 || b.s[i] == 0x7f)
			b.s[i] = '?';
	return strbuf_steal(&b);
}

int webhook_url_check(const char *url, char **reterr)
{
	_cleanup_free_ char *shown = NULL;
	size_t sl;

	if (!str_set(url))
		return errmsg_set(reterr, -EINVAL, "webhook URL is empty");
	shown = webhook_url_redact(url);
	if (strlen(url) > WEBHOOK_URL_MAX)
		return errmsg_set(reterr, -EMSGSIZE, "webhook URL '%s' is over %d bytes", shown,
				  WEBHOOK_URL_MAX);
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return errmsg_set(reterr, -EINVAL,
					  "webhook URL '%s' contains a space or a control byte",
					  shown);
	sl = scheme_len(url);
	if (!((sl == 4 && strncasecmp(url, "http", 4) == 0) ||
	      (sl == 5 && strncasecmp(url, "https", 5) == 0)))
		return errmsg_set(reterr, -EINVAL,
				  "webhook URL '%s': only http:// and https:// URLs are accepted",
				  shown);
	const char *host = url + sl + 3;
	size_t auth = strcspn(host, "/?#");
	const char *at = memrchr(host, '@', auth);
	if (at) {
		auth -= (size_t)(at + 1 - host);
		host = at + 1;
	}
	if (auth == 0 || host[0] == ':')
		return errmsg_set(reterr, -EINVAL, "webhook URL '%s' has no host", shown);
	return 0;
}

char *webhook_slack_body(const char *text)
{
	cJSON *o = cJSON_CreateObject();
	char *out;

	if (!o || !cJSON_AddStringToObject(o, "text", text ? text : ""))
		abort(); /* out of memory, like xmalloc */
	out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!out)
		abort();
	return out;
}

/* ---- the sender ---------------------------------------------------------------------------- */

static void list_append(struct call_list *l, struct webhook_call *c)
{
	c->prev = l->tail;
	c->next = NULL;
	if (l->tail)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
	l->n++;
}

static void list_remove(struct call_list *l, struct webhook_call *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->prev = c->next = NULL;
	l->n--;
}

static void on_report(void *userdata);
static void on_done(void *userdata, CURL *easy, void *priv, CURLcode result);
static void on_after(void *userdata);

int webhook_new(struct loop *loop, const struct webhook_options *o, struct webhook **ret,
		char **reterr)
{
	struct webhook_options opt = o ? *o : WEBHOOK_OPTIONS_DEFAULT;
	_cleanup_free_ char *err = NULL;
	struct webhook *w;
	int r;

	if (!loop || !ret)
		return -EINVAL;
	const struct {
		const char *name;
		long v, min, max;
	} ranges[] = {
		{"connect timeout (ms)", opt.connect_timeout_ms, 1, 600000},
		{"timeout (ms)", opt.timeout_ms, 1, 600000},
		{"retries", opt.retries, 0, WEBHOOK_RETRIES_MAX},
		{"retry delay (ms)", opt.retry_delay_ms, 1, WEBHOOK_DELAY_MAX_MS},
		{"queue size", opt.queue_max, 1, 1000000},
		{"parallel transfers", opt.parallel, 1, opt.queue_max},
	};
	for (size_t i = 0; i < ARRAY_SIZE(ranges); i++)
		if (ranges[i].v < ranges[i].min || ranges[i].v > ranges[i].max)
			return errmsg_set(reterr, -EINVAL, "webhook: %s %ld is not in %ld..%ld",
					  ranges[i].name, ranges[i].v, ranges[i].min,
					  ranges[i].max);
	w = xcalloc(1, sizeof(*w));
	w->loop = loop;
	w->o = opt;
	if ((r = curl_loop_new(loop, on_done, on_after, w, &w->cl, &err)) < 0) {
		free(w);
		return errmsg_set(reterr, r, "webhook: %s", err);
	}
	w->report = loop_timer_new(loop, on_report, w);
	*ret = w;
	return 0;
}

static void transfer_stop(struct webhook_call *c)
{
	if (!c->easy)
		return;
	curl_loop_remove(c->w->cl, c->easy);
	curl_easy_cleanup(c->easy);
	c->easy = NULL;
	c->w->running--;
}

static void call_free(struct webhook_call *c)
{
	transfer_stop(c);
	loop_timer_free(c->backoff);
	curl_slist_free_all(c->headers);
	strbuf_done(&c->reply);
	free(c->url);
	free(c->shown);
	free(c->body);
	free(c->err);
	free(c);
}

/* Moves c, out of the queue, to the callbacks to run, with its outcome (err: owned). */
static void call_finish(struct webhook_call *c, int r, char *err)
{
	struct webhook *w = c->w;

	transfer_stop(c);
	loop_timer_stop(c->backoff);
	list_remove(&w->queue, c);
	c->state = CALL_DONE;
	c->r = r;
	c->err = err ? err : xstrdup("");
	list_append(&w->done, c);
	loop_timer_after(w->report, 0);
}

static size_t reply_write(char *ptr, size_t size, size_t n, void *userp)
{
	struct webhook_call *c = userp;
	size_t total = size * n;

	/* The rest is read and thrown away: the total deadline bounds a peer that never stops. */
	if (c->reply.len < WEBHOOK_REPLY_KEEP)
		strbuf_append(&c->reply, ptr,
			      total < WEBHOOK_REPLY_KEEP - c->reply.len
				      ? total
				      : WEBHOOK_REPLY_KEEP - c->reply.len);
	return total;
}

/* Starts c's next attempt (c is READY and a slot is free). */
static void attempt_start(struct webhook_call *c)
{
	struct webhook *w = c->w;

	c->errbuf[0] = '\0';
	c->status = 0;
	strbuf_reset(&c->reply);
	c->easy = curl_easy_init();
	if (!c->easy)
		abort(); /* out of memory, like xmalloc */
	curl_easy_setopt(c->easy, CURLOPT_URL, c->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, w->o.connect_timeout_ms);
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, w->o.timeout_ms);
	/* A redirect is an answer, not followed: a moved webhook is a configuration to fix. */
	curl_easy_setopt(c->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c->easy, CURLOPT_USERAGENT, "flowproxy/" FLOWPROXY_VERSION);
	curl_easy_setopt(c->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body ? c->body : "");
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)(c->body ? strlen(c->body) : 0));
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, reply_write);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	if (c->attempts > 0)
		w->stats.retried++;
	c->attempts++;
	c->state = CALL_RUNNING;
	w->running++;
	/* curl arms its timer for "now": the transfer starts from the loop. */
	if (curl_loop_add(w->cl, c->easy) < 0)
		abort();
}

/* Starts waiting messages, oldest first, while slots are free. */
static void pump(struct webhook *w)
{
	for (struct webhook_call *c = w->queue.head; c && w->running < (size_t)w->o.parallel;
	     c = c->next)
		if (c->state == CALL_READY)
			attempt_start(c);
}

static void on_backoff(void *userdata)
{
	struct webhook_call *c = userdata;

	c->state = CALL_READY;
	pump(c->w);
}

/* The answer's first line, printable, for a message. Caller frees. */
static char *reply_text(const struct strbuf *b)
{
	size_t n = b->len ? strcspn(b->s, "\r\n") : 0;
	char *s = xstrndup(b->len ? b->s : "", n);

	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}

/* An attempt of c ended with curl's code cc: success, a retry later, or the end. */
static void attempt_done(struct webhook_call *c, CURLcode cc)
{
	struct webhook *w = c->w;
	_cleanup_free_ char *why = NULL;
	bool retry;
	int r;

	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status);
	transfer_stop(c);
	if (cc == CURLE_OK && c->status >= 200 && c->status <= 299) {
		w->stats.sent++;
		call_finish(c, 0, NULL);
		return;
	}
	if (cc == CURLE_OK) {
		_cleanup_free_ char *text = reply_text(&c->reply);

		r = -EREMOTEIO;
		why = xasprintf("HTTP %ld%s%s", c->status, *text ? ": " : "", text);
		/* RFC 9110 §15.5: a 4xx is the request's fault and is not worth repeating, except
		 * a timeout (408) and too many requests (429); a server error (5xx) may pass. */
		retry = c->status >= 500 || c->status == 408 || c->status == 429;
	} else {
		const char *e = c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc);

		switch (cc) {
		case CURLE_COULDNT_CONNECT:
			r = -ECONNREFUSED;
			break;
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
			r = -EHOSTUNREACH;
			break;
		case CURLE_OPERATION_TIMEDOUT:
			r = -ETIMEDOUT;
			break;
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_GOT_NOTHING:
		case CURLE_RECV_ERROR:
		case CURLE_SEND_ERROR:
		case CURLE_WEIRD_SERVER_REPLY:
			r = -EPROTO;
			break;
		default:
			r = -EIO;
			break;
		}
		/* libcurl's messages for a URL it cannot use name the URL: not repeated. */
		retry = cc != CURLE_UNSUPPORTED_PROTOCOL && cc != CURLE_URL_MALFORMAT;
		why = xstrdup(cc == CURLE_URL_MALFORMAT ? curl_easy_strerror(cc) : e);
	}
	if (retry && c->attempts <= (unsigned)w->o.retries) {
		long long delay = w->o.retry_delay_ms << (c->attempts - 1);

		c->state = CALL_BACKOFF;
		if (!c->backoff)
			c->backoff = loop_timer_new(w->loop, on_backoff, c);
		loop_timer_after(c->backoff, delay);
		return;
	}
	w->stats.failed++;
	call_finish(c, r,
		    xasprintf("webhook POST %s: %s (%u attempt%s)", c->shown, why, c->attempts,
			      c->attempts == 1 ? "" : "s"));
}

/* Runs the callbacks of finished messages, one at a time, each already out of every list. */
static void on_report(void *userdata)
{
	struct webhook *w = userdata;
	struct webhook_call *c;

	w->reporting = true;
	while (!w->dead && (c = w->done.head)) {
		struct webhook_result res = {.r = c->r,
					     .status = c->status,
					     .attempts = c->attempts,
					     .url = c->shown,
					     .err = c->err};

		list_remove(&w->done, c);
		c->state = CALL_REPORTING;
		if (c->cb)
			c->cb(c->userdata, &res);
		call_free(c);
	}
	w->reporting = false;
	if (w->dead)
		webhook_free(w);
}

/* Drops the oldest message that is not in flight to make room; false if all are. */
static bool drop_oldest(struct webhook *w)
{
	struct webhook_call *c = w->queue.head;

	while (c && c->state == CALL_RUNNING)
		c = c->next;
	if (!c)
		return false;
	w->stats.dropped++;
	if (w->drop_streak++ == 0)
		log_warn("webhook: %zu messages queued, the limit: the oldest waiting ones are "
			 "dropped until there is room",
			 w->queue.n);
	call_finish(c, -ENOBUFS,
		    xasprintf("webhook POST %s: dropped unsent, %zu messages were queued", c->shown,
			      w->queue.n));
	return true;
}

int webhook_post(struct webhook *w, const char *url, const char *content_type, const char *body,
		 webhook_done_fn cb, void *userdata, struct webhook_call **ret_call, char **reterr)
{
	_cleanup_free_ char *shown = NULL;
	struct webhook_call *c;
	int r;

	if (!w || w->dead)
		return -EINVAL;
	if ((r = webhook_url_check(url, reterr)) < 0)
		return r;
	shown = webhook_url_redact(url);
	if (content_type) {
		if (strlen(content_type) > WEBHOOK_CONTENT_TYPE_MAX)
			return errmsg_set(reterr, -EMSGSIZE,
					  "webhook POST %s: Content-Type over %d bytes", shown,
					  WEBHOOK_CONTENT_TYPE_MAX);
		for (const char *p = content_type; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return errmsg_set(reterr, -EINVAL,
						  "webhook POST %s: Content-Type contains a "
						  "control byte",
						  shown);
	}
	if (body && strlen(body) > WEBHOOK_BODY_MAX)
		return errmsg_set(reterr, -EMSGSIZE, "webhook POST %s: body over %u bytes", shown,
				  WEBHOOK_BODY_MAX);
	if (w->queue.n >= (size_t)w->o.queue_max) {
		if (!drop_oldest(w)) {
			w->stats.dropped++;
			return errmsg_set(
				reterr, -ENOBUFS,
				"webhook POST %s: the queue's %zu messages are all in flight",
				shown, w->queue.n);
		}
	} else if (w->drop_streak) {
		log_info("webhook: the queue has room again; %lu messages were dropped",
			 w->drop_streak);
		w->drop_streak = 0;
	}
	c = xcalloc(1, sizeof(*c));
	c->w = w;
	c->url = xstrdup(url);
	c->shown = TAKE_PTR(shown);
	c->body = body ? xstrdup(body) : NULL;
	c->cb = cb;
	c->userdata = userdata;
	strbuf_init(&c->reply);
	if (content_type) {
		_cleanup_free_ char *h = xasprintf("Content-Type: %s", content_type);

		c->headers = curl_slist_append(c->headers, h);
	} else {
		/* Without it libcurl would say application/x-www-form-urlencoded. */
		c->headers = curl_slist_append(c->headers, "Content-Type:");
	}
	/* No "Expect: 100-continue" round trip before a large body. */
	c->headers = curl_slist_append(c->headers, "Expect:");
	if (!c->headers)
		abort();
	c->state = CALL_READY;
	list_append(&w->queue, c);
	pump(w);
	if (ret_call)
		*ret_call = c;
	return 0;
}

void webhook_cancel(struct webhook_call *c)
{
	struct webhook *w;

	if (!c || c->state == CALL_REPORTING)
		return;
	w = c->w;
	list_remove(c->state == CALL_DONE ? &w->done : &w->queue, c);
	call_free(c);
	/* Its slot, if it had one, goes to the next waiting message. */
	if (!w->dead)
		pump(w);
}

/* webhook_notify's outcome: nobody else hears of it, so a failure is logged here. */
static void notify_done(void *userdata, const struct webhook_result *res)
{
	/* A drop is logged once per streak by drop_oldest. */
	if (res->r < 0 && res->r != -ENOBUFS)
		log_warn("notification not delivered: %s", res->err);
	else if (res->r == 0)
		log_debug("notification delivered to %s", res->url);
}

/* Splits urls (comma-separated, spaces around a URL ignored) into list, each checked. On
 * failure list holds what was split so far (*ret_n); the caller frees its strings. */
static int urls_split(const char *urls, char *list[static WEBHOOK_URLS_MAX], size_t *ret_n,
		      char **reterr)
{
	int r;

	*ret_n = 0;
	for (const char *p = urls ? urls : ""; *p;) {
		size_t len = strcspn(p, ",");
		const char *s = p;

		p += len + (p[len] == ',');
		while (len && *s == ' ') {
			s++;
			len--;
		}
		while (len && s[len - 1] == ' ')
			len--;
		if (!len)
			continue;
		if (*ret_n == WEBHOOK_URLS_MAX)
			return errmsg_set(reterr, -EMSGSIZE, "webhook: more than %d URLs in a list",
					  WEBHOOK_URLS_MAX);
		list[*ret_n] = xstrndup(s, len);
		if ((r = webhook_url_check(list[(*ret_n)++], reterr)) < 0)
			return r;
	}
	return 0;
}

int webhook_urls_check(const char *urls, char **reterr)
{
	char *list[WEBHOOK_URLS_MAX];
	size_t n = 0;
	int r = urls_split(urls, list, &n, reterr);

	for (size_t i = 0; i < n; i++)
		free(list[i]);
	return r < 0 ? r : (int)n;
}

int webhook_notify(struct webhook *w, const char *urls, const char *text, char **reterr)
{
	_cleanup_free_ char *body = NULL;
	char *list[WEBHOOK_URLS_MAX];
	size_t n = 0;
	int r;

	if ((r = urls_split(urls, list, &n, reterr)) < 0)
		goto out;
	body = webhook_slack_body(text);
	for (size_t i = 0; i < n; i++)
		if ((r = webhook_post(w, list[i], "application/json", body, notify_done, NULL, NULL,
				      reterr)) < 0)
			goto out;
	r = (int)n;
out:
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	return r;
}

void webhook_get_stats(const struct webhook *w, struct webhook_stats *ret)
{
	*ret = w ? w->stats : (struct webhook_stats){0};
	if (w) {
		ret->queued = w->queue.n;
		ret->in_flight = w->running;
	}
}

void webhook_prometheus(const struct webhook *w, const char *name, struct strbuf *out)
{
	static const struct {
		const char *what, *type, *help;
	} rows[] = {
		{"sent_total", "counter", "Webhook messages answered 2xx."},
		{"failed_total", "counter", "Webhook messages given up after their last attempt."},
		{"retried_total", "counter", "Webhook attempts after a message's first one."},
		{"dropped_total", "counter", "Webhook messages dropped unsent from a full queue."},
		{"queued", "gauge", "Webhook messages in flight or waiting."},
	};
	struct webhook_stats s;
	struct strbuf label;

	webhook_get_stats(w, &s);
	const unsigned long long v[] = {s.sent, s.failed, s.retried, s.dropped,
					(unsigned long long)s.queued};
	/* Prometheus text format: a label value escapes '\\', '"' and newlines. */
	strbuf_init(&label);
	for (const char *p = name ? name : ""; *p; p++) {
		if (*p == '\\' || *p == '"')
			strbuf_putc(&label, '\\');
		if (*p == '\n')
			strbuf_puts(&label, "\\n");
		else
			strbuf_putc(&label, *p);
	}
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		strbuf_printf(out,
			      "# HELP flowproxy_webhook_%s %s\n# TYPE flowproxy_webhook_%s %s\n"
			      "flowproxy_webhook_%s{sender=\"%s\"} %llu\n",
			      rows[i].what, rows[i].help, rows[i].what, rows[i].type, rows[i].what,
			      strbuf_str(&label), v[i]);
	strbuf_done(&label);
}

/* ---- curl_loop's reports ------------------------------------------------------------------ */

/* A finished attempt becomes a retry or an outcome. */
static void on_done(void *userdata, CURL *easy, void *priv, CURLcode result)
{
	if (priv)
		attempt_done(priv, result);
}

/* Once the round's attempts are in: their slots go to waiting messages. */
static void on_after(void *userdata)
{
	pump(userdata);
}

void webhook_free(struct webhook *w)
{
	if (!w)
		return;
	if (w->reporting) {
		/* From a callback: on_report stops and comes back here once it returns. */
		w->dead = true;
		return;
	}
	while (w->queue.head) {
		struct webhook_call *c = w->queue.head;

		list_remove(&w->queue, c);
		call_free(c);
	}
	while (w->done.head) {
		struct webhook_call *c = w->done.head;

		list_remove(&w->done, c);
		call_free(c);
	}
	/* Connections curl kept open are closed here; their ios go with them. */
	curl_loop_free(w->cl);
	loop_timer_free(w->report);
	free(w);
}
