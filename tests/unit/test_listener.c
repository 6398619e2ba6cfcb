// SPDX-License-Identifier: MIT
/*
 * Unit tests for listener's pure parts: LISTENER_ADDRESS entries as base URLs (DFP's :8080
 * added, http:// optional, anything else refused) and get-services answers as parameter maps.
 */
#include "flowproxy/listener.h"
#include "tap.h"

static const struct {
	const char *in, *want, *name;
} urls[] = {
	{"swarm-listener", "http://swarm-listener:8080", "a host: http:// and :8080 added"},
	{"swarm-listener:9000", "http://swarm-listener:9000", "a port kept"},
	{"http://swarm-listener", "http://swarm-listener:8080", "http:// kept, :8080 added"},
	{"HTTP://10.0.0.2:8081/", "http://10.0.0.2:8081", "scheme in any case, trailing / dropped"},
	{"  dfsl  ", "http://dfsl:8080", "spaces around dropped"},
	{"[fd00::1]", "http://[fd00::1]:8080", "an IPv6 literal"},
	{"[fd00::1]:81", "http://[fd00::1]:81", "an IPv6 literal with a port"},
	{"https://dfsl", NULL, "https refused (plain HTTP on the cluster's network)"},
	{"dfsl/v1", NULL, "a path refused"},
	{"dfsl?x=1", NULL, "a query refused"},
	{"user@dfsl", NULL, "user information refused"},
	{"dfsl:0", NULL, "port 0 refused"},
	{"dfsl:65536", NULL, "a port over 65535 refused"},
	{"dfsl:x", NULL, "a port that is not a number refused"},
	{":8080", NULL, "no host refused"},
	{"df sl", NULL, "a space inside refused"},
	{"dfsl\r\n", NULL, "control bytes refused"},
};

static const struct {
	const char *json, *want, *name;
} answers[] = {
	{"[]", "", "no service"},
	{"[{\"serviceName\":\"monitor_monitor\",\"servicePath\":\"/monitor\",\"port\":\"9090\","
	 "\"distribute\":\"true\",\"replicas\":\"1\"}]",
	 "serviceName=monitor_monitor;servicePath=/monitor;port=9090;distribute=true;replicas=1;|",
	 "DFSL's map of strings (DFM issue #68)"},
	{"[{\"serviceName\":\"a\",\"port\":8080,\"distribute\":true,\"x\":[1],\"y\":null},"
	 "{\"serviceName\":\"b\"}]",
	 "serviceName=a;port=8080;distribute=true;|serviceName=b;|",
	 "numbers and booleans as text, other values skipped; two services"},
	{"{}", NULL, "an object refused"},
	{"[1]", NULL, "an element that is not an object refused"},
	{"[{\"a\":\"b\"}", NULL, "truncated JSON refused"},
	{"", NULL, "an empty answer refused"},
};

int main(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(urls); i++) {
		_cleanup_free_ char *got = NULL;
		_cleanup_free_ char *err = NULL;
		int r = listener_base_url(urls[i].in, &got, &err);
		if (urls[i].want)
			tap_is_str(r == 0 ? got : err, urls[i].want, urls[i].name);
		else
			tap_ok(r == -EINVAL && err && strstr(err, "listener address"), "%s: %s",
			       urls[i].name, err ? err : "(accepted)");
	}
	for (size_t i = 0; i < ARRAY_SIZE(answers); i++) {
		struct params *v = NULL;
		size_t n = 0;
		_cleanup_free_ char *err = NULL;
		int r = listener_parse_services(answers[i].json, strlen(answers[i].json), &v, &n,
						&err);
		if (!answers[i].want) {
			tap_ok(r == -EBADMSG && err && strstr(err, "get-services"), "%s: %s",
			       answers[i].name, err ? err : "(accepted)");
			continue;
		}
		struct strbuf b;
		strbuf_init(&b);
		for (size_t j = 0; j < n; j++) {
			for (size_t k = 0; k < v[j].n; k++)
				strbuf_printf(&b, "%s=%s;", v[j].v[k].key, v[j].v[k].value);
			strbuf_puts(&b, "|");
			params_done(&v[j]);
		}
		free(v);
		tap_ok(r == 0, "%s: parsed", answers[i].name);
		tap_is_str(strbuf_str(&b), answers[i].want, answers[i].name);
		strbuf_done(&b);
	}

	/* LISTENER_SERVICES_MAX bounds one answer. */
	struct strbuf big;
	strbuf_init(&big);
	strbuf_puts(&big, "[");
	for (int i = 0; i <= LISTENER_SERVICES_MAX; i++)
		strbuf_puts(&big, i ? ",{}" : "{}");
	strbuf_puts(&big, "]");
	struct params *v = NULL;
	size_t n = 0;
	_cleanup_free_ char *err = NULL;
	tap_is_int(listener_parse_services(big.s, big.len, &v, &n, &err), -EMSGSIZE,
		   "one service over LISTENER_SERVICES_MAX is refused");
	strbuf_done(&big);
	return tap_done();
}
