// SPDX-License-Identifier: MIT
/*
 * top: polls the stats API and prints one row per backend: requests in the window, rate,
 * p50/p90/p99 (ms), 5xx, the fractions at the thresholds the labels mention, servers up/down;
 * then, from the autoscale endpoint, one row per policy: replicas, limits, state, value.
 */
#include "flowproxy/top.h"
#include "flowproxy/http.h"

#include <cjson/cJSON.h>
#include <time.h>

static double num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

int top_format(const cJSON *stats, struct strbuf *out, char **reterr)
{
	const cJSON *services = cJSON_GetObjectItemCaseSensitive(stats, "services");
	const cJSON *svc, *be, *tel = cJSON_GetObjectItemCaseSensitive(stats, "telemetry");

	if (!cJSON_IsArray(services))
		return errmsg_set(reterr, -EBADMSG, "stats reply has no \"services\" array");
	strbuf_printf(out, "window %gs   lines %.0f   dropped %.0f   bad %.0f   %s\n\n",
		      num(stats, "window_s"), num(tel, "lines"), num(tel, "dropped"),
		      num(tel, "bad_lines"),
		      cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tel, "connected"))
			      ? "stream connected"
			      : "stream NOT connected");
	strbuf_printf(out, "%-20s %-26s %9s %8s %8s %8s %8s %6s %7s  %s\n", "SERVICE", "BACKEND",
		      "REQUESTS", "REQ/S", "P50ms", "P90ms", "P99ms", "5XX", "UP/DOWN", "<=T");
	cJSON_ArrayForEach(svc, services)
	{
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(svc, "name");
		const cJSON *backends = cJSON_GetObjectItemCaseSensitive(svc, "backends");
		if (!cJSON_IsString(name) || !cJSON_IsArray(backends))
			return errmsg_set(reterr, -EBADMSG, "stats reply: malformed service");
		cJSON_ArrayForEach(be, backends)
		{
			const cJSON *bn = cJSON_GetObjectItemCaseSensitive(be, "name");
			const cJSON *fr = cJSON_GetObjectItemCaseSensitive(be, "fractions"), *f;
			char updown[32];

			snprintf(updown, sizeof(updown), "%.0f/%.0f", num(be, "servers_up"),
				 num(be, "servers_down"));
			strbuf_printf(out,
				      "%-20.20s %-26.26s %9.0f %8.1f %8.1f %8.1f %8.1f %6.0f %7s ",
				      name->valuestring, cJSON_IsString(bn) ? bn->valuestring : "?",
				      num(be, "count"), num(be, "rate"), num(be, "p50_ms"),
				      num(be, "p90_ms"), num(be, "p99_ms"), num(be, "errors_5xx"),
				      updown);
			cJSON_ArrayForEach(f, fr)
			{
				strbuf_printf(out, " %gs:%.1f%%", num(f, "le_s"),
					      num(f, "fraction") * 100.0);
			}
			strbuf_putc(out, '\n');
		}
	}
	return 0;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : "";
}

/* "< 0.99 within 0.1s over 30s" for a term of the autoscale endpoint. */
static void term_threshold(const cJSON *t, char *buf, size_t size)
{
	const char *sc = str(t, "shortcut");
	bool quantile = cJSON_GetObjectItemCaseSensitive(t, "quantile") != NULL;

	if (quantile)
		snprintf(buf, size, "p%g %s %gs over %gs", num(t, "quantile") * 100,
			 strstr(sc, "above") ? ">" : "<", num(t, "seconds"), num(t, "window"));
	else if (!strcmp(sc, "resp_time_server_error"))
		snprintf(buf, size, "5xx > %g over %gs", num(t, "fraction"), num(t, "window"));
	else
		snprintf(buf, size, "%s %g within %gs over %gs", strstr(sc, "above") ? "<" : ">",
			 num(t, "fraction"), num(t, "seconds"), num(t, "window"));
}

int top_format_autoscale(const cJSON *as, struct strbuf *out, char **reterr)
{
	const cJSON *services = cJSON_GetObjectItemCaseSensitive(as, "services"), *svc;

	if (!cJSON_IsArray(services))
		return errmsg_set(reterr, -EBADMSG, "autoscale reply has no \"services\" array");
	strbuf_printf(out, "\nautoscale %s, every %gs%s%s\n", str(as, "mode"), num(as, "interval"),
		      cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(as, "acting"))
			      ? ", standby: acting is "
			      : "",
		      cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(as, "acting"))
			      ? str(as, "actingReplica")
			      : "");
	strbuf_printf(out, "%-20s %-7s %-9s %-8s %-11s %-4s %-14s %-16s %s\n", "SERVICE", "SCALER",
		      "REPLICAS", "LIMITS", "POLICY", "DIR", "STATE", "VALUE", "FIRES WHEN");
	cJSON_ArrayForEach(svc, services)
	{
		const cJSON *rep = cJSON_GetObjectItemCaseSensitive(svc, "replicas");
		const cJSON *lim = cJSON_GetObjectItemCaseSensitive(svc, "limits");
		const cJSON *pols = cJSON_GetObjectItemCaseSensitive(svc, "policies"), *pol;
		const cJSON *dec = cJSON_GetObjectItemCaseSensitive(svc, "decisions");
		char replicas[32], limits[32];
		bool first = true;

		if (!cJSON_IsArray(pols))
			return errmsg_set(reterr, -EBADMSG, "autoscale reply: malformed service");
		snprintf(replicas, sizeof(replicas), "%.0f/%.0f%s", num(rep, "running"),
			 num(rep, "wanted"),
			 cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(svc, "scaling")) ? "*" : "");
		snprintf(limits, sizeof(limits), "%.0f..%.0f", num(lim, "scaleMin"),
			 num(lim, "scaleMax"));
		if (cJSON_GetArraySize(pols) == 0)
			strbuf_printf(out, "%-20.20s %-7s %-9s %-8s\n", str(svc, "service"),
				      str(svc, "scaler"), replicas, limits);
		cJSON_ArrayForEach(pol, pols)
		{
			const cJSON *terms = cJSON_GetObjectItemCaseSensitive(pol, "terms"), *t;
			char state[32], value[32], when[256] = "";
			const cJSON *t0 = cJSON_GetArrayItem(terms, 0);
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(t0, "value");
			size_t off = 0;

			if (cJSON_GetObjectItemCaseSensitive(pol, "holdingFor"))
				snprintf(state, sizeof(state), "%s %.0fs", str(pol, "state"),
					 num(pol, "holdingFor"));
			else
				snprintf(state, sizeof(state), "%s", str(pol, "state"));
			if (cJSON_IsNumber(v))
				snprintf(value, sizeof(value), "%.4g (%.0f)", v->valuedouble,
					 num(t0, "requests"));
			else
				snprintf(value, sizeof(value), "- (%.0f)", num(t0, "requests"));
			cJSON_ArrayForEach(t, terms)
			{
				char th[96];
				term_threshold(t, th, sizeof(th));
				off += (size_t)snprintf(when + off, sizeof(when) - off, "%s%s%s",
							off ? " " : "", str(t, "op"),
							off ? " " : "");
				if (off < sizeof(when))
					off += (size_t)snprintf(when + off, sizeof(when) - off,
								"%s", th);
				if (off >= sizeof(when))
					break;
			}
			strbuf_printf(out, "%-20.20s %-7s %-9s %-8s %-11.11s %-4s %-14s %-16s %s\n",
				      first ? str(svc, "service") : "",
				      first ? str(svc, "scaler") : "", first ? replicas : "",
				      first ? limits : "", str(pol, "key"), str(pol, "direction"),
				      state, value, when);
			first = false;
		}
		const cJSON *last = cJSON_GetArrayItem(dec, 0);
		if (last)
			strbuf_printf(out, "%-20s last: %s %s %.0f -> %.0f, %s: %s\n", "",
				      str(last, "at"), str(last, "action"), num(last, "from"),
				      num(last, "to"), str(last, "result"), str(last, "reason"));
	}
	return 0;
}

static int fetch(const char *url, struct strbuf *body, char **reterr)
{
	int status = 0;
	int r = http_request("GET", url, 5000, &status, body, reterr);

	if (r < 0)
		return r;
	if (status != 200)
		return errmsg_set(reterr, -EIO, "%s: HTTP %d: %s", url, status, strbuf_str(body));
	return 0;
}

struct top_args {
	const char *api;
	long interval, window;
	bool once;
};

static int parse_args(int argc, char **argv, struct top_args *a)
{
	a->api = "http://127.0.0.1:8080";
	a->interval = 1;
	a->window = 0;
	a->once = false;
	for (int i = 0; i < argc; i++) {
		if (streq(argv[i], "--once"))
			a->once = true;
		else if (streq(argv[i], "--api") && i + 1 < argc)
			a->api = argv[++i];
		else if (streq(argv[i], "--interval") && i + 1 < argc &&
			 parse_long(argv[i + 1], 1, 3600, &a->interval) == 0)
			i++;
		else if (streq(argv[i], "--window") && i + 1 < argc &&
			 parse_long(argv[i + 1], 1, 86400, &a->window) == 0)
			i++;
		else
			return -EINVAL;
	}
	return 0;
}

int top_main(int argc, char **argv)
{
	struct top_args a;
	_cleanup_free_ char *err = NULL;
	struct strbuf body, table;
	int r = 0;

	if (parse_args(argc, argv, &a) < 0) {
		fprintf(stderr,
			"usage: flowproxy top [--api URL] [--interval S] [--window S] [--once]\n");
		return 2;
	}
	_cleanup_free_ char *url =
		a.window ? xasprintf("%s/v1/flowproxy/stats?window=%ld", a.api, a.window)
			 : xasprintf("%s/v1/flowproxy/stats", a.api);
	_cleanup_free_ char *as_url = xasprintf("%s/v1/flowproxy/autoscale", a.api);
	strbuf_init(&body);
	strbuf_init(&table);
	for (;;) {
		strbuf_reset(&table);
		r = fetch(url, &body, &err);
		if (r >= 0) {
			cJSON *j = cJSON_ParseWithLength(body.s ? body.s : "", body.len);
			r = j ? top_format(j, &table, &err)
			      : errmsg_set(&err, -EBADMSG, "%s: not JSON", url);
			cJSON_Delete(j);
		}
		if (r >= 0) {
			/* The autoscaler's table, when the flowproxy has one. */
			_cleanup_free_ char *err2 = NULL;
			if (fetch(as_url, &body, &err2) >= 0) {
				cJSON *j = cJSON_ParseWithLength(body.s ? body.s : "", body.len);
				if (j)
					top_format_autoscale(j, &table, &err2);
				cJSON_Delete(j);
			}
		}
		if (!a.once)
			fputs("\033[H\033[2J", stdout); /* home, clear */
		if (r < 0)
			fprintf(a.once ? stderr : stdout, "flowproxy top: %s\n", err);
		else
			fputs(strbuf_str(&table), stdout);
		fflush(stdout);
		if (a.once)
			break;
		struct timespec ts = {a.interval, 0};
		nanosleep(&ts, NULL);
	}
	strbuf_done(&body);
	strbuf_done(&table);
	return r < 0 ? 1 : 0;
}
