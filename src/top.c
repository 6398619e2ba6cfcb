// SPDX-License-Identifier: MIT
/*
 * top: polls the stats API and prints one row per backend: requests in the window, rate,
 * p50/p90/p99 (ms), 5xx, the fractions at the thresholds the labels mention, servers up/down.
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
