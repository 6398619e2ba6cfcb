// SPDX-License-Identifier: MIT
/*
 * slots: plans replica changes of a task-level backend as HAProxy runtime commands on a fixed set
 * of server slots, and applies them through the worker's stats socket (see slots.h for the rules
 * and the rendering contract). The planner (slots_count_for, slots_plan) is pure: no I/O, no
 * logging. slots_apply is the edge and only talks to the stats socket through cli.h, on the loop.
 *
 * HAProxy 2.6.12 replies, verified on the stats socket (each reply ends with an empty line; with
 * commands chained by ';' the replies come back concatenated in order, and a failing command does
 * not stop the ones after it):
 *   set server be/s addr 127.0.0.2 port 19383 ->
 *     "IP changed from '127.0.0.1' to '127.0.0.2', port changed from '19382' to '19383' by 'stats
 *     socket command'"  (or "no need to change the addr, no need to change the port by ...")
 *   set server be/s state ready|maint        -> "" (also when nothing changes)
 *   set server be/nope state ready           -> "No such server."
 *   set server nope/s state ready            -> "No such backend."
 *   set server be/s addr 999.1.1.1 port 1    ->
 *     "Invalid addr '999.1.1.1' by 'stats socket command'"
 * A server rendered `disabled` carries admin flags CMAINT|FMAINT; `state ready` clears FMAINT and
 * the server takes traffic (op state RUNNING; `show servers state` then shows admin state 4).
 */
#include "flowproxy/slots.h"
#include "flowproxy/cli.h"
#include "flowproxy/loop.h"

#include <arpa/inet.h>
#include <netinet/in.h>

/* ---- pure planner ------------------------------------------------------------------------- */

struct slots_addr {
	int family; /* 0: empty slot */
	unsigned char b[16];
	int port;
};

static int addr_cmp(const struct slots_addr *a, const struct slots_addr *b)
{
	int c;

	if (a->family != b->family)
		return a->family == AF_INET ? -1 : 1;
	c = memcmp(a->b, b->b, a->family == AF_INET ? 4 : 16);
	return c ? c : (a->port > b->port) - (a->port < b->port);
}

static int addr_cmp_q(const void *a, const void *b)
{
	return addr_cmp(a, b);
}

/*
 * Parses an endpoint: an IPv4 or IPv6 literal alone (port default_port), or "<ipv4>:<port>",
 * or "[<ipv6>]:<port>". No zone, no names, no spaces.
 */
static int addr_parse(const char *s, int default_port, struct slots_addr *ret)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon, *h = s, *port = NULL;
	size_t hl;
	long v;

	memset(ret, 0, sizeof(*ret));
	ret->port = default_port;
	if (!s)
		return -EINVAL;
	hl = strlen(s);
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(close - h);
		port = close + 2;
	} else if ((colon = strchr(s, ':')) && !strchr(colon + 1, ':')) {
		hl = (size_t)(colon - s); /* one colon: IPv4 with a port */
		port = colon + 1;
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (port) {
		if (parse_long(port, 1, 65535, &v) < 0)
			return -EINVAL;
		ret->port = (int)v;
	}
	if (s[0] != '[' && inet_pton(AF_INET, host, ret->b) == 1) {
		ret->family = AF_INET;
		return 0;
	}
	if ((s[0] == '[' || !port) && inet_pton(AF_INET6, host, ret->b) == 1) {
		ret->family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

/* The bare address, inet_ntop form. */
static void addr_ntop(const struct slots_addr *a, char buf[static INET6_ADDRSTRLEN])
{
	if (!inet_ntop(a->family, a->b, buf, INET6_ADDRSTRLEN))
		abort(); /* cannot fail on a parsed address and a large enough buffer */
}

/* The canonical endpoint: the bare address when on default_port, else with its port. */
static char *addr_str(const struct slots_addr *a, int default_port)
{
	char buf[INET6_ADDRSTRLEN];

	addr_ntop(a, buf);
	if (a->port == default_port)
		return xstrdup(buf);
	return xasprintf(a->family == AF_INET6 ? "[%s]:%d" : "%s:%d", buf, a->port);
}

int slots_endpoint_parse(const char *s, int default_port, char ret_addr[static INET6_ADDRSTRLEN],
			 int *ret_port)
{
	struct slots_addr a;

	if (addr_parse(s, default_port, &a) < 0)
		return -EINVAL;
	addr_ntop(&a, ret_addr);
	*ret_port = a.port;
	return 0;
}

/* HAProxy's identifier charset for proxy and server names (cfgparse invalid_char). */
static bool name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > SLOTS_NAME_MAX)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.' || *p == ':'))
			return false;
	return true;
}

static size_t pow2_at_least(size_t n)
{
	size_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

size_t slots_count_for(size_t n_tasks)
{
	size_t n;

	if (n_tasks >= SLOTS_MAX)
		return SLOTS_MAX;
	n = pow2_at_least(2 * n_tasks);
	if (n < SLOTS_MIN)
		n = SLOTS_MIN;
	if (n > n_tasks + SLOTS_HEADROOM_MAX)
		n = n_tasks + SLOTS_HEADROOM_MAX;
	return n > SLOTS_MAX ? SLOTS_MAX : n;
}

char *slots_server_name(const char *prefix, size_t i)
{
	return xasprintf("%s_%zu", prefix, i + 1);
}

void slots_plan_done(struct slots_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; p->assign && i < p->n_slots; i++)
		free(p->assign[i]);
	free(p->assign);
	for (size_t i = 0; p->commands && i < p->n_commands; i++)
		free(p->commands[i]);
	free(p->commands);
	memset(p, 0, sizeof(*p));
}

/* True when a is among the n sorted addresses in set. */
static bool addr_in(const struct slots_addr *a, const struct slots_addr *set, size_t n)
{
	return a->family && n && bsearch(a, set, n, sizeof(*set), addr_cmp_q);
}

static int check_input(const struct slots_input *in, char **reterr)
{
	if (!name_ok(in->backend))
		return errmsg_set(reterr, -EINVAL, "slots: backend name '%.*s' is not a token",
				  SLOTS_NAME_MAX, in->backend ? in->backend : "");
	if (!name_ok(in->prefix))
		return errmsg_set(reterr, -EINVAL,
				  "slots: server prefix '%.*s' of %s is not a token",
				  SLOTS_NAME_MAX, in->prefix ? in->prefix : "", in->backend);
	if (in->port < 1 || in->port > 65535)
		return errmsg_set(reterr, -EINVAL, "slots: port %d of %s is not in 1..65535",
				  in->port, in->backend);
	if (in->n_slots > SLOTS_MAX || in->n_desired > SLOTS_MAX)
		return errmsg_set(reterr, -EMSGSIZE,
				  "slots: %s has %zu slots and %zu tasks, over the cap of %d",
				  in->backend, in->n_slots, in->n_desired, SLOTS_MAX);
	if ((in->n_slots && !in->current) || (in->n_desired && !in->desired))
		return errmsg_set(reterr, -EINVAL, "slots: %s: missing address array", in->backend);
	return 0;
}

int slots_plan(const struct slots_input *in, struct slots_plan *ret, char **reterr)
{
	struct slots_addr *cur = NULL, *want = NULL, *cur_sorted = NULL, *fresh = NULL;
	struct slots_plan p = {0};
	size_t n_fresh = 0, n_cmd_max, next;
	bool *gone = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!in)
		return errmsg_set(reterr, -EINVAL, "slots: no input");
	r = check_input(in, reterr);
	if (r < 0)
		return r;

	/* Parse, canonicalize, and reject duplicates on both sides. */
	cur = xcalloc(in->n_slots + 1, sizeof(*cur));
	cur_sorted = xcalloc(in->n_slots + 1, sizeof(*cur_sorted));
	want = xcalloc(in->n_desired + 1, sizeof(*want));
	fresh = xcalloc(in->n_desired + 1, sizeof(*fresh));
	gone = xcalloc(in->n_slots + 1, sizeof(*gone));
	size_t n_cur = 0;
	for (size_t i = 0; i < in->n_slots; i++) {
		if (!str_set(in->current[i]))
			continue;
		if (addr_parse(in->current[i], in->port, &cur[i]) < 0) {
			r = errmsg_set(reterr, -EINVAL,
				       "slots: %s slot %zu: '%.64s' is not an IPv4/IPv6 endpoint",
				       in->backend, i + 1, in->current[i]);
			goto out;
		}
		cur_sorted[n_cur++] = cur[i];
	}
	qsort(cur_sorted, n_cur, sizeof(*cur_sorted), addr_cmp_q);
	for (size_t i = 1; i < n_cur; i++)
		if (addr_cmp(&cur_sorted[i - 1], &cur_sorted[i]) == 0) {
			char *a = addr_str(&cur_sorted[i], in->port);

			r = errmsg_set(reterr, -EINVAL, "slots: %s: address %s is in two slots",
				       in->backend, a);
			free(a);
			goto out;
		}
	for (size_t i = 0; i < in->n_desired; i++)
		if (addr_parse(in->desired[i], in->port, &want[i]) < 0) {
			r = errmsg_set(
				reterr, -EINVAL,
				"slots: %s: task address '%.64s' is not an IPv4/IPv6 endpoint",
				in->backend, in->desired[i] ? in->desired[i] : "(null)");
			goto out;
		}
	qsort(want, in->n_desired, sizeof(*want), addr_cmp_q);
	for (size_t i = 1; i < in->n_desired; i++)
		if (addr_cmp(&want[i - 1], &want[i]) == 0) {
			char *a = addr_str(&want[i], in->port);

			r = errmsg_set(reterr, -EINVAL, "slots: %s: task address %s given twice",
				       in->backend, a);
			free(a);
			goto out;
		}

	/* New addresses, already in sorted order since want is sorted. */
	for (size_t i = 0; i < in->n_desired; i++)
		if (!addr_in(&want[i], cur_sorted, n_cur))
			fresh[n_fresh++] = want[i];

	p.reload = in->n_desired > in->n_slots;
	p.n_slots = p.reload ? slots_count_for(in->n_desired) : in->n_slots;
	p.assign = xcalloc(p.n_slots + 1, sizeof(*p.assign));
	n_cmd_max = 2 * n_fresh + in->n_slots;
	p.commands = xcalloc(n_cmd_max + 1, sizeof(*p.commands));

	/* Kept addresses stay where they are; the other occupied slots are freed. */
	for (size_t i = 0; i < in->n_slots; i++) {
		if (!cur[i].family)
			continue;
		if (addr_in(&cur[i], want, in->n_desired))
			p.assign[i] = addr_str(&cur[i], in->port);
		else
			gone[i] = true;
	}

	/*
	 * Fill: freed slots first (their server is up, so an `addr` is all the move needs and no
	 * `maint` is spent on them), then empty slots, then (reload only) the new slots.
	 */
	next = 0;
	for (int pass = 0; pass < 3 && next < n_fresh; pass++) {
		size_t end = pass < 2 ? in->n_slots : p.n_slots;

		for (size_t i = pass < 2 ? 0 : in->n_slots; i < end && next < n_fresh; i++) {
			bool take = pass == 0 ? gone[i] : pass == 1 ? !cur[i].family : true;

			if (!take)
				continue;
			char ip[INET6_ADDRSTRLEN];
			const struct slots_addr *a = &fresh[next++];

			p.assign[i] = addr_str(a, in->port);
			if (i < in->n_slots)
				gone[i] = false;
			if (!p.reload) {
				addr_ntop(a, ip);
				p.commands[p.n_commands++] =
					xasprintf("set server %s/%s_%zu addr %s port %d",
						  in->backend, in->prefix, i + 1, ip, a->port);
				p.commands[p.n_commands++] =
					xasprintf("set server %s/%s_%zu state ready", in->backend,
						  in->prefix, i + 1);
			}
		}
	}
	if (next != n_fresh)
		abort(); /* cannot happen: n_slots >= n_desired after the reload rule */
	for (size_t i = 0; i < in->n_slots && !p.reload; i++)
		if (gone[i])
			p.commands[p.n_commands++] = xasprintf("set server %s/%s_%zu state maint",
							       in->backend, in->prefix, i + 1);
	*ret = p;
	memset(&p, 0, sizeof(p));
	r = 0;
out:
	slots_plan_done(&p);
	free(cur);
	free(cur_sorted);
	free(want);
	free(fresh);
	free(gone);
	return r;
}

/* ---- edge: the stats socket --------------------------------------------------------------- */

/* Whether reply (one command's output, without its terminating empty line) means success. */
static bool reply_ok(const char *cmd, const char *reply, size_t len)
{
	static const char by[] = " by 'stats socket command'";

	if (strstr(cmd, " state "))
		return len == 0;
	if (strstr(cmd, " addr ")) {
		bool start = (len >= 15 && memcmp(reply, "IP changed from", 15) == 0) ||
			     (len >= 26 && memcmp(reply, "no need to change the addr", 26) == 0);
		return start && len >= sizeof(by) - 1 &&
		       memcmp(reply + len - (sizeof(by) - 1), by, sizeof(by) - 1) == 0;
	}
	return false;
}

/*
 * Splits a chained reply into the replies of commands[0..n): each is its lines up to an empty
 * line. Checks each; the first failure names its command.
 */
static int check_replies(char *const *commands, size_t n, const char *reply, char **reterr)
{
	const char *p = reply;

	for (size_t i = 0; i < n; i++) {
		const char *start = p, *end;

		/* A reply block ends at the first empty line ("\n" right at a line start). */
		while (*p && *p != '\n') {
			const char *nl = strchr(p, '\n');

			p = nl ? nl + 1 : p + strlen(p);
		}
		if (*p != '\n')
			return errmsg_set(reterr, -EBADMSG,
					  "slots: no reply to '%s' from HAProxy (got '%.200s')",
					  commands[i], start);
		end = p > start ? p - 1 : p; /* drop the last line's '\n' */
		p++;
		if (!reply_ok(commands[i], start, (size_t)(end - start)))
			return errmsg_set(reterr, -EBADMSG, "slots: HAProxy refused '%s': '%.*s'",
					  commands[i], (int)(end - start > 200 ? 200 : end - start),
					  start);
	}
	return 0;
}

struct slots_apply {
	struct loop *l;
	char *socket;
	char **commands;
	size_t n, first, last; /* the batch commands[first..last] is in flight */
	int timeout_ms;
	slots_done_fn cb;
	void *userdata;
	struct cli_call *call;
	struct loop_timer *timer; /* reports an error found before anything was sent */
	int r;
	char *err;
};

static void apply_free(struct slots_apply *a)
{
	cli_cancel(a->call);
	loop_timer_free(a->timer);
	for (size_t i = 0; i < a->n; i++)
		free(a->commands[i]);
	free(a->commands);
	free(a->socket);
	free(a->err);
	free(a);
}

static void apply_report(struct slots_apply *a)
{
	a->call = NULL;
	a->cb(a->userdata, a->r, a->err ? a->err : "");
	apply_free(a);
}

static void apply_batch(struct slots_apply *a);

static void on_batch(void *userdata, const struct cli_result *res)
{
	struct slots_apply *a = userdata;

	a->call = NULL;
	if (res->r < 0) {
		a->r = res->r;
		a->err = xstrdup(res->err);
	} else {
		a->r = check_replies(a->commands + a->first, a->last - a->first + 1, res->reply,
				     &a->err);
	}
	if (a->r < 0 || a->last + 1 >= a->n) {
		apply_report(a);
		return;
	}
	a->first = a->last + 1;
	apply_batch(a);
}

/*
 * One connection per batch: chaining with ';' makes a batch one round trip (management.txt
 * §9.3: "commands separated by semi-colons" in non-interactive mode), and the batch cap keeps
 * the line well under HAProxy's CLI buffer.
 */
static void apply_batch(struct slots_apply *a)
{
	struct strbuf line;

	strbuf_init(&line);
	a->last = a->first;
	strbuf_puts(&line, a->commands[a->first]);
	while (a->last + 1 < a->n &&
	       line.len + 1 + strlen(a->commands[a->last + 1]) < SLOTS_CLI_LINE_MAX) {
		strbuf_putc(&line, ';');
		strbuf_puts(&line, a->commands[++a->last]);
	}
	a->call = cli_call(a->l, a->socket, strbuf_str(&line), a->timeout_ms, on_batch, a);
	strbuf_done(&line);
}

static void on_early(void *userdata)
{
	apply_report(userdata);
}

struct slots_apply *slots_apply(struct loop *l, const char *stats_socket, char *const *commands,
				size_t n, int timeout_ms, slots_done_fn cb, void *userdata)
{
	struct slots_apply *a = xcalloc(1, sizeof(*a));

	a->l = l;
	a->socket = xstrdup(stats_socket ? stats_socket : "");
	a->commands = xcalloc(n ? n : 1, sizeof(char *));
	a->n = n;
	a->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
	a->cb = cb;
	a->userdata = userdata;
	a->timer = loop_timer_new(l, on_early, a);
	for (size_t i = 0; i < n; i++)
		a->commands[i] = xstrdup(commands && commands[i] ? commands[i] : "");
	for (size_t i = 0; i < n; i++)
		if (!commands || !commands[i] || !*commands[i] || strpbrk(commands[i], ";\n\r") ||
		    strlen(commands[i]) >= SLOTS_CLI_LINE_MAX) {
			a->r = errmsg_set(&a->err, -EINVAL, "slots_apply: bad command '%.200s'",
					  commands && commands[i] ? commands[i] : "(null)");
			break;
		}
	if (a->r < 0 || n == 0)
		loop_timer_after(a->timer, 0);
	else
		apply_batch(a);
	return a;
}

void slots_apply_cancel(struct slots_apply *a)
{
	if (a)
		apply_free(a);
}
