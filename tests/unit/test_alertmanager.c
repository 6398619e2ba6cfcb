// SPDX-License-Identifier: MIT
/* Unit tests for alertmanager: which services an Alertmanager webhook body asks to scale. */
#include "flowproxy/alertmanager.h"
#include "tap.h"

/* The actions as "service:up;" (then "ignored=N"), or "ERR <code> <message>". */
static char *show(const char *body)
{
	struct alertmanager_request r = {0};
	struct strbuf b;
	char *err = NULL;
	int code;

	strbuf_init(&b);
	code = alertmanager_parse(body, strlen(body), &r, &err);
	if (code < 0)
		strbuf_printf(&b, "ERR %d %s", code, err);
	else {
		for (size_t i = 0; i < r.n; i++)
			strbuf_printf(&b, "%s:%s;", r.v[i].service, autoscale_dir_name(r.v[i].dir));
		strbuf_printf(&b, "ignored=%zu", r.ignored);
	}
	alertmanager_done(&r);
	free(err);
	return strbuf_steal(&b);
}

/* The body Alertmanager 0.2x sends for the tutorial's go-demo_main route. */
static const char tutorial[] =
	"{\"version\":\"4\",\"groupKey\":\"{}/{service=\\\"go-demo_main\\\",scale=\\\"up\\\"}:{}\","
	"\"truncatedAlerts\":0,\"status\":\"firing\",\"receiver\":\"jenkins-go-demo_main-up\","
	"\"groupLabels\":{\"scale\":\"up\",\"service\":\"go-demo_main\"},\"commonLabels\":{"
	"\"alertname\":\"godemo_main_resptimeabove\",\"receiver\":\"system\",\"scale\":\"up\","
	"\"service\":\"go-demo_main\",\"type\":\"service\"},\"commonAnnotations\":{\"summary\":"
	"\"Response time of the service go-demo_main is above 0.1\"},\"externalURL\":"
	"\"http://alertmanager:9093\",\"alerts\":[{\"status\":\"firing\",\"labels\":{"
	"\"alertname\":\"godemo_main_resptimeabove\",\"receiver\":\"system\",\"scale\":\"up\","
	"\"service\":\"go-demo_main\",\"type\":\"service\"},\"annotations\":{\"summary\":\"...\"},"
	"\"startsAt\":\"2026-12-01T10:00:00Z\",\"endsAt\":\"0001-01-01T00:00:00Z\","
	"\"generatorURL\":\"http://prometheus:9090/graph\",\"fingerprint\":\"a1b2c3\"}]}";

static const struct {
	const char *body, *want, *name;
} cases[] = {
	{tutorial, "go-demo_main:up;ignored=0", "the tutorial's body"},
	{"{\"status\":\"firing\",\"alerts\":[{\"labels\":{\"service\":\"a\",\"scale\":\"down\"}},"
	 "{\"labels\":{\"service\":\"a\",\"scale\":\"down\"}},{\"labels\":{\"service\":\"b\","
	 "\"scale\":\"up\"}}]}",
	 "a:down;b:up;ignored=0", "one action per service and direction, in order"},
	{"{\"status\":\"resolved\",\"alerts\":[{\"status\":\"resolved\",\"labels\":{\"service\":"
	 "\"a\",\"scale\":\"up\"}}]}",
	 "ignored=1", "resolved alerts do nothing"},
	{"{\"status\":\"resolved\",\"alerts\":[{\"status\":\"firing\",\"labels\":{\"service\":"
	 "\"a\",\"scale\":\"up\"}}]}",
	 "a:up;ignored=0", "an alert's own status wins over the group's"},
	{"{\"alerts\":[{\"labels\":{\"service\":\"a\",\"type\":\"errors\"}},{\"labels\":{"
	 "\"scale\":\"up\"}},{\"labels\":{\"service\":\"a\",\"scale\":\"sideways\"}}]}",
	 "ignored=3", "without service, or without scale=up|down: ignored"},
	{"{\"commonLabels\":{\"service\":\"a\",\"scale\":\"up\"},\"alerts\":[{\"labels\":{}}]}",
	 "a:up;ignored=0", "the common labels fill in"},
	{"{\"alerts\":[]}", "ignored=0", "no alerts"},
	{"not json", "ERR -22 the body is not a JSON object", "not JSON"},
	{"[1]", "ERR -22 the body is not a JSON object", "not an object"},
	{"{\"status\":\"firing\"}",
	 "ERR -22 the body has no 'alerts' array (an Alertmanager webhook body was expected)",
	 "no alerts array"},
	{"{\"alerts\":[{\"labels\":{\"service\":5,\"scale\":\"up\"}}]}",
	 "ERR -22 a label 'service' or 'scale' is not a string", "a label that is not a string"},
};

int main(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *got = show(cases[i].body);
		tap_is_str(got, cases[i].want, cases[i].name);
		free(got);
	}
	/* Over the caps. */
	struct strbuf b;
	strbuf_init(&b);
	strbuf_puts(&b, "{\"alerts\":[");
	for (int i = 0; i <= ALERTMANAGER_ALERTS_MAX; i++)
		strbuf_printf(&b, "%s{}", i ? "," : "");
	strbuf_puts(&b, "]}");
	char *got = show(strbuf_str(&b));
	tap_is_str(got, "ERR -90 more than 1000 alerts", "more alerts than the cap");
	free(got);
	strbuf_done(&b);
	struct alertmanager_request r = {0};
	char *err = NULL;
	tap_is_int(alertmanager_parse("{}", ALERTMANAGER_BODY_MAX + 1, &r, &err), -EMSGSIZE,
		   "a body over the cap is not even parsed");
	free(err);
	return tap_done();
}
