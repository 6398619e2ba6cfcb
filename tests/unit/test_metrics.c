// SPDX-License-Identifier: MIT
/* Unit tests for metrics: backends by name, recording, JSON and Prometheus output, bounds. */
#include "flowproxy/metrics.h"
#include "tap.h"

#include <cjson/cJSON.h>

static struct telemetry_line line(const char *be, int status, int tr)
{
	struct telemetry_line l = {0};

	l.kind = TELEMETRY_REQUEST;
	/* The precision bounds the copy: gcc 12 at -O3 cannot see be's length through the inlined
	 * callers and fails a -Werror release build with -Wformat-truncation otherwise. */
	snprintf(l.backend, sizeof(l.backend), "%.*s", (int)sizeof(l.backend) - 1, be);
	snprintf(l.server, sizeof(l.server), "s1");
	l.status = status;
	l.tw = 0;
	l.tc = 0;
	l.tr = tr;
	l.ta = tr;
	return l;
}

static const cJSON *backend_json(const cJSON *root, const char *svc, const char *be)
{
	const cJSON *s, *b;

	cJSON_ArrayForEach(s, cJSON_GetObjectItem(root, "services"))
	{
		if (!streq(cJSON_GetObjectItem(s, "name")->valuestring, svc))
			continue;
		cJSON_ArrayForEach(b, cJSON_GetObjectItem(s, "backends"))
		{
			if (streq(cJSON_GetObjectItem(b, "name")->valuestring, be))
				return b;
		}
	}
	return NULL;
}

/*
 * Which timers make up the recorded response time (docs/telemetry.md "From lines to answers"):
 * Tw + Tc + Tr, the time from the end of the request to the response headers, queue included;
 * Ta when there were no response headers (Tr = -1: server timeout, refused connection, aborted
 * request), so that a failed request counts with the time it took; 0 when neither is known.
 */
static const struct {
	int32_t tw, tc, tr, ta;
	int status;
	uint32_t want;
	const char *what;
} timers[] = {
	{0, 0, 20, 25, 200, 20, "Tr alone: the server's time to the headers"},
	{0, 0, 20, 900, 200, 20, "not Ta: a long body transfer does not count"},
	{300, 0, 20, 330, 200, 320, "the queue wait Tw counts"},
	{0, 7, 20, 30, 200, 27, "the connect time Tc counts"},
	{300, 7, 450, 800, 200, 757, "Tw + Tc + Tr"},
	{-1, -1, -1, 1500, 504, 1500, "no Tr (server timeout): Ta"},
	{200, 3, -1, 1203, 504, 1203, "no Tr after a queue wait: Ta, which holds the wait"},
	{0, -1, -1, 1001, 503, 1001, "connection refused (Tc = -1, Tr = -1): Ta"},
	{-1, -1, -1, 0, 403, 0, "denied at once: 0"},
	{-1, -1, -1, -1, -1, 0, "no timer at all: 0"},
};

static void test_timers(void)
{
	struct metrics *m = NULL;
	char names[ARRAY_SIZE(timers)][24];
	const char *bes[ARRAY_SIZE(timers)], *svcs[ARRAY_SIZE(timers)];
	uint64_t now = 1000000;

	metrics_new(1000, 60, &m);
	for (size_t i = 0; i < ARRAY_SIZE(timers); i++) {
		snprintf(names[i], sizeof(names[i]), "t%zu-be80_0", i);
		bes[i] = names[i];
		svcs[i] = "t";
	}
	metrics_set_backends(m, bes, svcs, ARRAY_SIZE(timers), NULL, 0);
	for (size_t i = 0; i < ARRAY_SIZE(timers); i++) {
		struct telemetry_line l = line(names[i], timers[i].status, timers[i].tr);
		struct histogram *h;

		l.tw = timers[i].tw;
		l.tc = timers[i].tc;
		l.ta = timers[i].ta;
		metrics_record(m, &l, now);
		h = metrics_histogram(m, names[i]);
		tap_ok(h && histogram_count(h, now, 0) == 1, "%s: recorded", timers[i].what);
		tap_is_int(h ? (long long)histogram_sum(h, now, 0) : -1, timers[i].want,
			   timers[i].what);
	}
	metrics_free(m);
}

int main(void)
{
	struct metrics *m = NULL;
	const char *bes[] = {"web-be80_0", "api-be8080_0"};
	const char *svcs[] = {"web", "api"};
	uint32_t thr[] = {100, 30};
	uint64_t now = 1000000;

	test_timers();
	tap_is_int(metrics_new(1000, 60, &m), 0, "metrics_new");
	metrics_set_backends(m, bes, svcs, 2, thr, 2);
	for (int i = 0; i < 90; i++) {
		struct telemetry_line l = line("web-be80_0", 200, 20);
		metrics_record(m, &l, now);
	}
	for (int i = 0; i < 10; i++) {
		struct telemetry_line l = line("web-be80_0", 503, 200);
		metrics_record(m, &l, now);
	}
	struct telemetry_line u = line("nobody-be1_0", 200, 1);
	metrics_record(m, &u, now);
	tap_is_int((long long)metrics_unmatched(m), 1, "a line of an unknown backend is unmatched");
	struct telemetry_line other = {.kind = TELEMETRY_OTHER};
	metrics_record(m, &other, now);
	tap_is_int((long long)metrics_unmatched(m), 1, "non-request lines are not recorded");

	struct histogram *h = metrics_histogram(m, "web-be80_0");
	tap_ok(h != NULL, "backend histogram exists");
	tap_is_int((long long)histogram_count(h, now, 0), 100, "100 requests in the window");

	cJSON *j = metrics_json(m, now, 0);
	const cJSON *b = backend_json(j, "web", "web-be80_0");
	tap_ok(b != NULL, "JSON has web / web-be80_0");
	tap_is_int((long long)cJSON_GetObjectItem(b, "count")->valuedouble, 100, "JSON count");
	tap_is_int((long long)cJSON_GetObjectItem(b, "errors_5xx")->valuedouble, 10, "JSON 5xx");
	tap_is_int((long long)cJSON_GetObjectItem(b, "p50_ms")->valuedouble, 20, "JSON p50");
	const cJSON *fr = cJSON_GetObjectItem(b, "fractions");
	tap_is_int(cJSON_GetArraySize(fr), 2, "one fraction per threshold");
	const cJSON *f0 = cJSON_GetArrayItem(fr, 0);
	tap_ok(cJSON_GetObjectItem(f0, "le_s")->valuedouble == 0.1 &&
		       cJSON_GetObjectItem(f0, "fraction")->valuedouble == 0.9,
	       "90%% at or under 0.1 s");
	const cJSON *idle = backend_json(j, "api", "api-be8080_0");
	tap_ok(idle != NULL, "idle backend listed too");
	tap_ok(idle && cJSON_GetObjectItem(idle, "count")->valuedouble == 0 &&
		       cJSON_GetObjectItem(idle, "p99_ms")->valuedouble == 0,
	       "idle backend: zero count and quantiles");
	tap_ok(metrics_histogram(m, "api-be8080_0") == NULL, "no window allocated while idle");
	cJSON_Delete(j);

	struct strbuf p;
	strbuf_init(&p);
	metrics_prometheus(m, now, &p);
	const char *txt = strbuf_str(&p);
	tap_ok(strstr(txt, "# TYPE http_server_resp_time histogram") != NULL, "histogram type");
	tap_ok(strstr(txt, "http_server_resp_time_bucket{job=\"web\",backend=\"web-be80_0\","
			   "code=\"200\",le=\"0.025\"} 90") != NULL,
	       "bucket le=0.025 for code 200");
	tap_ok(strstr(txt, "http_server_resp_time_bucket{job=\"web\",backend=\"web-be80_0\","
			   "code=\"200\",le=\"0.03\"} 90") != NULL,
	       "a label threshold (30 ms) is an exported bucket");
	tap_ok(strstr(txt, "http_server_resp_time_bucket{job=\"web\",backend=\"web-be80_0\","
			   "code=\"503\",le=\"0.1\"} 0") != NULL,
	       "503s are over 0.1 s");
	tap_ok(strstr(txt, "http_server_resp_time_count{job=\"web\",backend=\"web-be80_0\","
			   "code=\"503\"} 10") != NULL,
	       "_count by code (Docker Flow Monitor's 5xx query)");
	tap_ok(strstr(txt, "http_server_resp_time_sum{job=\"web\",backend=\"web-be80_0\","
			   "code=\"200\"} 1.800") != NULL,
	       "_sum in seconds");
	strbuf_done(&p);

	/* A new threshold splits an interval: counts stay monotonic and ordered. */
	uint32_t thr2[] = {40};
	metrics_set_backends(m, bes, svcs, 2, thr2, 1);
	strbuf_init(&p);
	metrics_prometheus(m, now, &p);
	tap_ok(strstr(strbuf_str(&p), "code=\"200\",le=\"0.04\"} 90") != NULL,
	       "new bound starts at the count of the bound below");
	strbuf_done(&p);
	tap_is_int((long long)histogram_count(metrics_histogram(m, "web-be80_0"), now, 0), 100,
		   "redeclaring keeps a backend's data");

	const char *bes3[] = {"api-be8080_0"};
	const char *svcs3[] = {"api"};
	metrics_set_backends(m, bes3, svcs3, 1, NULL, 0);
	tap_ok(metrics_histogram(m, "web-be80_0") == NULL, "a backend no longer declared is gone");

	/* Many backends: the table grows. */
	char names[2000][24];
	const char *bv[2000], *sv[2000];
	for (int i = 0; i < 2000; i++) {
		snprintf(names[i], sizeof(names[i]), "s%d-be80_0", i);
		bv[i] = names[i];
		sv[i] = "s";
	}
	metrics_set_backends(m, bv, sv, 2000, NULL, 0);
	int found = 0;
	for (int i = 0; i < 2000; i++) {
		struct telemetry_line l = line(names[i], 200, i % 50);
		metrics_record(m, &l, now);
		found += metrics_histogram(m, names[i]) != NULL;
	}
	tap_is_int(found, 2000, "2000 backends all found");
	tap_is_int((long long)metrics_unmatched(m), 1, "and none unmatched");
	metrics_free(m);
	return tap_done();
}
