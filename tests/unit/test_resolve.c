// SPDX-License-Identifier: MIT
/* Unit tests for resolve: names from /etc/hosts and numeric ones resolve, a name the resolver
 * refuses locally (a label over 63 bytes: no DNS server is asked) fails naming it, a cancelled
 * resolution never calls back. */
#include "flowproxy/loop.h"
#include "flowproxy/resolve.h"
#include "flowproxy/util.h"
#include "tap.h"

struct result {
	bool done;
	int r;
	char name[128];
};

static void on_done(void *userdata, int r, const char *name, const char *why)
{
	struct result *res = userdata;

	res->done = true;
	res->r = r;
	snprintf(res->name, sizeof(res->name), "%s", name);
}

static void wait_done(struct loop *l, const struct result *res, int ms)
{
	long long end = now_usec() + ms * 1000LL;

	while (!res->done && now_usec() < end)
		loop_iterate(l, 10);
}

int main(void)
{
	struct loop *l = NULL;
	char bad[80];
	int r;

	tap_is_int(loop_new(&l), 0, "loop");
	memset(bad, 'x', 70);
	memcpy(bad + 70, ".test", 6);

	struct result a = {0};
	const char *good[] = {"localhost", "127.0.0.1", "::1"};
	tap_ok(resolve_start(l, good, ARRAY_SIZE(good), on_done, &a, &r) != NULL && r == 0,
	       "a resolution starts");
	tap_ok(!a.done, "its callback never runs inside the call");
	wait_done(l, &a, 5000);
	tap_ok(a.done && a.r == 0, "localhost, 127.0.0.1 and ::1 resolve (r=%d)", a.r);

	struct result b = {0};
	const char *mixed[] = {"localhost", bad, "127.0.0.1"};
	tap_ok(resolve_start(l, mixed, ARRAY_SIZE(mixed), on_done, &b, &r) != NULL, "another");
	wait_done(l, &b, 5000);
	tap_is_int(b.r, -ENXIO, "a name that does not resolve fails the resolution");
	tap_is_str(b.name, bad, "and is named");

	struct result c = {0};
	struct resolve *rc = resolve_start(l, good, 1, on_done, &c, &r);
	tap_ok(rc != NULL, "a third");
	resolve_cancel(rc);
	resolve_cancel(NULL);
	for (int i = 0; i < 20; i++)
		loop_iterate(l, 10);
	tap_ok(!c.done, "a cancelled resolution does not call back");

	loop_free(l);
	return tap_done();
}
