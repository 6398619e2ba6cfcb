// SPDX-License-Identifier: MIT
/*
 * Unit tests of the slots planner (src/slots.c): a table of slot states, desired task sets and
 * the exact assignment and commands expected; determinism under reordered input; the slot count
 * rule; invalid input.
 */
#include "flowproxy/slots.h"
#include "tap.h"

#define MAXA 16

struct plan_case {
	const char *name;
	size_t n_slots;
	const char *current[MAXA]; /* n_slots entries; NULL = empty */
	const char *desired[MAXA]; /* NULL-terminated */
	int rc;
	bool reload;
	size_t want_slots;
	const char *assign;   /* slots joined by ',', '-' for empty */
	const char *commands; /* joined by '\n' */
};

#define A "10.0.0.1"
#define B "10.0.0.2"
#define C "10.0.0.3"
#define D "10.0.0.4"
#define E "10.0.0.5"
#define CMD(srv, ip)                                                  \
	"set server web-be8080_0/web_" srv " addr " ip " port 8080\n" \
	"set server web-be8080_0/web_" srv " state ready\n"
#define MAINT(srv) "set server web-be8080_0/web_" srv " state maint\n"

static const struct plan_case cases[] = {
	{"no-op", 4, {A, B, NULL, NULL}, {B, A}, 0, false, 4, A "," B ",-,-", ""},
	{"scale up 2->3 within slots",
	 4,
	 {A, B, NULL, NULL},
	 {A, B, C},
	 0,
	 false,
	 4,
	 A "," B "," C ",-",
	 CMD("3", C)},
	{"scale up 2->4 fills every slot, sorted",
	 4,
	 {A, B, NULL, NULL},
	 {D, C, B, A},
	 0,
	 false,
	 4,
	 A "," B "," C "," D,
	 CMD("3", C) CMD("4", D)},
	{"scale up into a hole",
	 4,
	 {A, NULL, C, NULL},
	 {A, C, D},
	 0,
	 false,
	 4,
	 A "," D "," C ",-",
	 CMD("2", D)},
	{"scale down 3->1",
	 4,
	 {A, B, C, NULL},
	 {B},
	 0,
	 false,
	 4,
	 "-," B ",-,-",
	 MAINT("1") MAINT("3")},
	{"replace a task (new IP) reuses its slot",
	 4,
	 {A, B, C, NULL},
	 {A, D, C},
	 0,
	 false,
	 4,
	 A "," D "," C ",-",
	 CMD("2", D)},
	{"replace two, scale down by one",
	 4,
	 {A, B, C, NULL},
	 {E, D},
	 0,
	 false,
	 4,
	 D "," E ",-,-",
	 CMD("1", D) CMD("2", E) MAINT("3")},
	{"replace and grow: freed slots before empty ones",
	 4,
	 {NULL, A, NULL, B},
	 {A, C, D},
	 0,
	 false,
	 4,
	 D "," A ",-," C,
	 CMD("4", C) CMD("1", D)},
	{"all gone",
	 4,
	 {A, B, C, D},
	 {NULL},
	 0,
	 false,
	 4,
	 "-,-,-,-",
	 MAINT("1") MAINT("2") MAINT("3") MAINT("4")},
	{"from nothing",
	 4,
	 {NULL, NULL, NULL, NULL},
	 {B, A},
	 0,
	 false,
	 4,
	 A "," B ",-,-",
	 CMD("1", A) CMD("2", B)},
	{"exactly full", 2, {A, NULL}, {A, B}, 0, false, 2, A "," B, CMD("2", B)},
	{"exceeding slots needs a reload",
	 4,
	 {A, B, C, D},
	 {A, B, C, D, E},
	 0,
	 true,
	 16,
	 A "," B "," C "," D "," E ",-,-,-,-,-,-,-,-,-,-,-",
	 ""},
	{"reload keeps kept slots and drops gone ones",
	 2,
	 {A, B},
	 {B, C, D},
	 0,
	 true,
	 8,
	 C "," B "," D ",-,-,-,-,-",
	 ""},
	{"zero slots, zero tasks", 0, {NULL}, {NULL}, 0, false, 0, "", ""},
	{"zero slots, one task", 0, {NULL}, {A}, 0, true, 4, A ",-,-,-", ""},
	{"IPv6 canonicalized, sorted after IPv4",
	 4,
	 {"0:0::1", NULL, NULL, NULL},
	 {"2001:DB8::0:1", "::1", A},
	 0,
	 false,
	 4,
	 "::1," A ",2001:db8::1,-",
	 "set server web-be8080_0/web_2 addr 10.0.0.1 port 8080\n"
	 "set server web-be8080_0/web_2 state ready\n"
	 "set server web-be8080_0/web_3 addr 2001:db8::1 port 8080\n"
	 "set server web-be8080_0/web_3 state ready\n"},
	{"bad desired address", 4, {A, NULL, NULL, NULL}, {A, "10.0.0.256"}, -EINVAL},
	{"hostname is not an address", 4, {A, NULL, NULL, NULL}, {"web.1"}, -EINVAL},
	{"address with a space", 4, {A, NULL, NULL, NULL}, {"10.0.0.9 "}, -EINVAL},
	{"IPv6 with zone", 4, {NULL, NULL, NULL, NULL}, {"fe80::1%eth0"}, -EINVAL},
	{"injection in an address", 4, {NULL, NULL, NULL, NULL}, {"10.0.0.1;shutdown"}, -EINVAL},
	{"bad current address", 4, {"nope", NULL, NULL, NULL}, {A}, -EINVAL},
	{"duplicate desired", 4, {NULL, NULL, NULL, NULL}, {A, B, A}, -EINVAL},
	{"endpoints with ports (local mode)",
	 4,
	 {"127.0.0.1:9001", "127.0.0.1:9002", NULL, NULL},
	 {"127.0.0.1:9003", "127.0.0.1:9001", "[::1]:9004", "127.0.0.1:8080"},
	 0,
	 false,
	 4,
	 "127.0.0.1:9001,127.0.0.1,127.0.0.1:9003,[::1]:9004",
	 "set server web-be8080_0/web_2 addr 127.0.0.1 port 8080\n"
	 "set server web-be8080_0/web_2 state ready\n"
	 "set server web-be8080_0/web_3 addr 127.0.0.1 port 9003\n"
	 "set server web-be8080_0/web_3 state ready\n"
	 "set server web-be8080_0/web_4 addr ::1 port 9004\n"
	 "set server web-be8080_0/web_4 state ready\n"},
	{"default port spelled out is the same endpoint",
	 4,
	 {A, NULL, NULL, NULL},
	 {A ":8080"},
	 0,
	 false,
	 4,
	 A ",-,-,-",
	 ""},
	{"bad port", 4, {NULL, NULL, NULL, NULL}, {A ":0"}, -EINVAL},
	{"port out of range", 4, {NULL, NULL, NULL, NULL}, {A ":65536"}, -EINVAL},
	{"empty port", 4, {NULL, NULL, NULL, NULL}, {A ":"}, -EINVAL},
	{"IPv6 with a port needs brackets", 4, {NULL, NULL, NULL, NULL}, {"[::1]"}, -EINVAL},
	{"IPv4 in brackets", 4, {NULL, NULL, NULL, NULL}, {"[10.0.0.1]:80"}, -EINVAL},
	{"empty task address", 4, {NULL, NULL, NULL, NULL}, {""}, -EINVAL},
	{"duplicate current (same address spelled twice)",
	 4,
	 {"::1", "0::1", NULL, NULL},
	 {A},
	 -EINVAL},
};

static char *join_assign(const struct slots_plan *p)
{
	struct strbuf b;

	strbuf_init(&b);
	for (size_t i = 0; i < p->n_slots; i++) {
		if (i)
			strbuf_putc(&b, ',');
		strbuf_puts(&b, p->assign[i] ? p->assign[i] : "-");
	}
	return strbuf_steal(&b);
}

static char *join_commands(const struct slots_plan *p)
{
	struct strbuf b;

	strbuf_init(&b);
	for (size_t i = 0; i < p->n_commands; i++) {
		strbuf_puts(&b, p->commands[i]);
		strbuf_putc(&b, '\n');
	}
	return strbuf_steal(&b);
}

static size_t count(const char *const *v)
{
	size_t n = 0;

	while (n < MAXA && v[n])
		n++;
	return n;
}

static void run_case(const struct plan_case *c)
{
	struct slots_input in = {.backend = "web-be8080_0",
				 .prefix = "web",
				 .port = 8080,
				 .n_slots = c->n_slots,
				 .current = c->current,
				 .desired = c->desired,
				 .n_desired = count(c->desired)};
	struct slots_plan p;
	char *err = NULL;
	int r = slots_plan(&in, &p, &err);

	if (!tap_is_int(r, c->rc, c->name))
		tap_diag("error: %s", err ? err : "");
	if (r < 0) {
		tap_ok(err && strstr(err, "web-be8080_0") && p.n_slots == 0 && !p.assign &&
			       !p.commands,
		       "%s: message names the backend, plan empty ('%s')", c->name, err ? err : "");
	} else {
		char *a = join_assign(&p), *cmds = join_commands(&p);
		char name[160];

		snprintf(name, sizeof(name), "%s: reload flag", c->name);
		tap_is_int(p.reload, c->reload, name);
		snprintf(name, sizeof(name), "%s: slots", c->name);
		tap_is_int((long long)p.n_slots, (long long)c->want_slots, name);
		snprintf(name, sizeof(name), "%s: assignment", c->name);
		tap_is_str(a, c->assign, name);
		snprintf(name, sizeof(name), "%s: commands", c->name);
		tap_is_str(cmds, c->commands, name);
		free(a);
		free(cmds);
	}
	slots_plan_done(&p);
	free(err);
}

/* Same plan whatever the order of the desired addresses. */
static void test_determinism(void)
{
	const char *cur[8] = {A, B, NULL, "10.0.0.9", NULL, NULL, NULL, NULL};
	const char *d1[] = {E, A, C, D, "10.0.0.7"}, *d2[] = {"10.0.0.7", D, C, A, E};
	struct slots_input in = {.backend = "be",
				 .prefix = "s",
				 .port = 80,
				 .n_slots = 8,
				 .current = cur,
				 .desired = d1,
				 .n_desired = 5};
	struct slots_plan p1, p2;
	char *c1, *c2, *a1, *a2;

	slots_plan(&in, &p1, NULL);
	in.desired = d2;
	slots_plan(&in, &p2, NULL);
	c1 = join_commands(&p1);
	c2 = join_commands(&p2);
	a1 = join_assign(&p1);
	a2 = join_assign(&p2);
	tap_ok(streq(c1, c2) && streq(a1, a2) && p1.n_commands == 8,
	       "same commands and assignment for reordered input");
	tap_is_str(a1, A ",10.0.0.3,10.0.0.5,10.0.0.4,10.0.0.7,-,-,-", "assignment (determinism)");
	free(c1);
	free(c2);
	free(a1);
	free(a2);
	slots_plan_done(&p1);
	slots_plan_done(&p2);
}

static void test_bad_names(void)
{
	static const struct {
		const char *backend, *prefix;
		int port;
		size_t n_slots, n_desired;
		int rc;
	} t[] = {
		{"be", "s", 80, 0, 0, 0},
		{"", "s", 80, 0, 0, -EINVAL},
		{NULL, "s", 80, 0, 0, -EINVAL},
		{"be x", "s", 80, 0, 0, -EINVAL},
		{"be/x", "s", 80, 0, 0, -EINVAL},
		{"be", "s/1", 80, 0, 0, -EINVAL},
		{"be", "s;shutdown", 80, 0, 0, -EINVAL},
		{"be", "s\n", 80, 0, 0, -EINVAL},
		{"be", "", 80, 0, 0, -EINVAL},
		{"be", "s", 0, 0, 0, -EINVAL},
		{"be", "s", 65536, 0, 0, -EINVAL},
		{"be", "s", 80, SLOTS_MAX + 1, 0, -EMSGSIZE},
		{"be", "s", 80, 0, SLOTS_MAX + 1, -EMSGSIZE},
		{"be", "s", 80, 3, 0, -EINVAL}, /* current missing */
		{"be", "s", 80, 0, 3, -EINVAL}, /* desired missing */
	};
	char long_name[SLOTS_NAME_MAX + 2];

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct slots_input in = {.backend = t[i].backend,
					 .prefix = t[i].prefix,
					 .port = t[i].port,
					 .n_slots = t[i].n_slots,
					 .n_desired = t[i].n_desired};
		struct slots_plan p;
		char *err = NULL;
		int r = slots_plan(&in, &p, &err);

		tap_ok(r == t[i].rc && (r == 0 || err), "bad input %zu: %d, want %d", i, r,
		       t[i].rc);
		if (err)
			tap_diag("%zu: %s", i,
				 strchr(err, '\n') ? "(message with a newline)" : err);
		slots_plan_done(&p);
		free(err);
	}
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	{
		struct slots_input in = {.backend = long_name, .prefix = "s", .port = 80};
		struct slots_plan p;

		tap_is_int(slots_plan(&in, &p, NULL), -EINVAL, "backend name over the cap");
		tap_is_int(slots_plan(NULL, &p, NULL), -EINVAL, "no input");
	}
}

static void test_count_rule(void)
{
	static const size_t t[][2] = {
		{0, 4},	   {1, 4},     {2, 4},	    {3, 8},	  {4, 8},	{5, 16},
		{8, 16},   {9, 32},    {16, 32},    {17, 64},	  {32, 64},	{33, 97},
		{40, 104}, {100, 164}, {960, 1024}, {1000, 1024}, {1024, 1024}, {5000, 1024},
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		char name[64];

		snprintf(name, sizeof(name), "slots_count_for(%zu)", t[i][0]);
		tap_is_int((long long)slots_count_for(t[i][0]), (long long)t[i][1], name);
	}
	for (size_t n = 0; n <= SLOTS_MAX; n++)
		if (slots_count_for(n) < n || slots_count_for(n) < SLOTS_MIN ||
		    slots_count_for(n) > SLOTS_MAX) {
			tap_ok(0, "slots_count_for(%zu) = %zu out of bounds", n,
			       slots_count_for(n));
			return;
		}
	tap_ok(1, "slots_count_for(n) in [max(n, SLOTS_MIN), SLOTS_MAX] for n <= SLOTS_MAX");
}

/* Applying a plan's assignment as the next current gives a no-op plan. */
static void test_fixed_point(void)
{
	const char *cur[4] = {A, NULL, C, NULL};
	const char *want[] = {E, C, B};
	struct slots_input in = {.backend = "be",
				 .prefix = "s",
				 .port = 80,
				 .n_slots = 4,
				 .current = cur,
				 .desired = want,
				 .n_desired = 3};
	struct slots_plan p1, p2;

	tap_is_int(slots_plan(&in, &p1, NULL), 0, "plan");
	in.current = (const char *const *)p1.assign;
	tap_is_int(slots_plan(&in, &p2, NULL), 0, "plan from the new assignment");
	tap_is_int((long long)p2.n_commands, 0, "second plan is a no-op");
	slots_plan_done(&p1);
	slots_plan_done(&p2);
	slots_plan_done(NULL);
}

static void test_endpoint_parse(void)
{
	char a[INET6_ADDRSTRLEN];
	int port = 0;

	tap_ok(slots_endpoint_parse("[0::1]:81", 80, a, &port) == 0 && streq(a, "::1") &&
		       port == 81,
	       "slots_endpoint_parse([0::1]:81)");
	tap_ok(slots_endpoint_parse("10.1.2.3", 80, a, &port) == 0 && streq(a, "10.1.2.3") &&
		       port == 80,
	       "slots_endpoint_parse(10.1.2.3)");
	tap_is_int(slots_endpoint_parse("x:1", 80, a, &port), -EINVAL, "slots_endpoint_parse(x:1)");
}

static void test_server_name(void)
{
	char *s = slots_server_name("web", 0);

	tap_is_str(s, "web_1", "slots_server_name(web, 0)");
	free(s);
}

int main(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		run_case(&cases[i]);
	test_determinism();
	test_bad_names();
	test_count_rule();
	test_fixed_point();
	test_server_name();
	test_endpoint_parse();
	return tap_done();
}
