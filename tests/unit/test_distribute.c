// SPDX-License-Identifier: MIT
/*
 * Unit tests for distribute's pure parts: the query sent to the replicas (distribute=false
 * forced, every byte that is not unreserved escaped, and read back as it was by the replicas'
 * query parser), their URLs and DFP's messages.
 */
#include "flowproxy/distribute.h"
#include "flowproxy/query.h"
#include "tap.h"

#include <strings.h>

static const struct {
	const char *in, *want, *name;
} cases[] = {
	{"", "distribute=false", "no query: distribute=false alone"},
	{"serviceName=a&distribute=true", "serviceName=a&distribute=false", "true becomes false"},
	{"distribute=true&serviceName=a", "distribute=false&serviceName=a", "in the first place"},
	{"serviceName=a&servicePath=/x", "serviceName=a&servicePath=%2Fx&distribute=false",
	 "appended when absent"},
	{"Distribute=TRUE&serviceName=a&distribute=1", "distribute=false&serviceName=a",
	 "every distribute pair, any case, makes one"},
	{"serviceDomain=a.com,b.com&addReqHeader=X-A%201",
	 "serviceDomain=a.com%2Cb.com&addReqHeader=X-A%201&distribute=false",
	 "commas and spaces escaped"},
	{"reqPathSearchReplace=%5E/a(.*)%2C/b%5C1&x=%26%3D%25",
	 "reqPathSearchReplace=%5E%2Fa%28.%2A%29%2C%2Fb%5C1&x=%26%3D%25&distribute=false",
	 "regex bytes, & = and % escaped"},
	{"a=%C3%A9~_-.", "a=%C3%A9~_-.&distribute=false", "UTF-8 escaped, unreserved kept"},
	{"empty=", "empty=&distribute=false", "an empty value"},
};

static struct params parse(const char *q)
{
	struct params p;
	_cleanup_free_ char *err = NULL;

	params_init(&p);
	if (query_parse(q, strlen(q), &p, &err) < 0)
		tap_diag("cannot parse '%s': %s", q, err);
	return p;
}

int main(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct params p = parse(cases[i].in);
		_cleanup_free_ char *got = distribute_query(&p);
		tap_is_str(got, cases[i].want, cases[i].name);

		/* What the replica reads is what was sent, distribute aside. */
		struct params back = parse(got);
		bool same = true;
		size_t k = 0;
		for (size_t j = 0; j < p.n; j++) {
			if (strcasecmp(p.v[j].key, "distribute") == 0)
				continue;
			while (k < back.n && streq(back.v[k].key, "distribute"))
				k++;
			same &= k < back.n && streq(back.v[k].key, p.v[j].key) &&
				streq(back.v[k].value, p.v[j].value);
			k++;
		}
		tap_ok(same, "  read back as sent: %s", cases[i].name);
		tap_is_str(params_get(&back, "distribute"), "false", "  with distribute=false");
		params_done(&back);
		params_done(&p);
	}

	struct params p = parse("serviceName=a&distribute=true");
	_cleanup_free_ char *url =
		distribute_url("10.0.0.7", 8080, "/v1/docker-flow-proxy/remove", &p);
	tap_is_str(
		url,
		"http://10.0.0.7:8080/v1/docker-flow-proxy/remove?serviceName=a&distribute=false",
		"the URL of one replica");
	params_done(&p);

	_cleanup_free_ char *name = distribute_lookup_name("proxy");
	tap_is_str(name, "tasks.proxy", "the name looked up");
	_cleanup_free_ char *m1 = distribute_lookup_message("edge");
	tap_is_str(
		m1,
		"Could not perform DNS lookup for tasks.edge. If the proxy is not called 'proxy', "
		"you must set SERVICE_NAME=<name-of-the-proxy> on the proxy service.",
		"DFP's lookup message");
	const char *ips[] = {"10.0.0.3", "10.0.0.9"};
	_cleanup_free_ char *m2 = distribute_failed_message(ips, 2);
	tap_is_str(m2,
		   "Could not send distribute request to the following addresses: [10.0.0.3 "
		   "10.0.0.9]",
		   "DFP's failure message, Go's []string formatting");
	_cleanup_free_ char *m3 = distribute_failed_message(ips, 1);
	tap_is_str(m3, "Could not send distribute request to the following addresses: [10.0.0.3]",
		   "one address");
	return tap_done();
}
