// SPDX-License-Identifier: MIT
/*
 * Unit tests of acting (src/acting.c): a table of task lists and hostnames with the decision and
 * the acting task's name expected (lowest running slot, ties, states ignored, takeover, no match,
 * a replica on its way out); the captured GET /tasks reply (tests/fixtures/docker/tasks.json).
 */
#include "flowproxy/acting.h"

#include "tap.h"
#include "testlib.h"

#define MAXT 6

/* One task: ID, ServiceID, slot, state, desired state, container ID. */
struct task_row {
	const char *id, *service;
	long slot;
	const char *state, *desired, *container;
};

struct acting_case {
	const char *name;
	struct task_row tasks[MAXT]; /* up to the first without an ID */
	const char *service_id;	     /* NULL: all tasks are the service's */
	const char *self;
	bool was_task;
	int rc;
	bool acting;
	const char *who; /* NULL: none */
};

#define C1  "aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111"
#define C2  "bbbbbbbbbbbb2222222222222222222222222222222222222222222222222222"
#define C3  "cccccccccccc3333333333333333333333333333333333333333333333333333"
#define RUN "running", "running"
#define T1                                 \
	{                                  \
		"task1", "svc", 1, RUN, C1 \
	}
#define T2                                 \
	{                                  \
		"task2", "svc", 2, RUN, C2 \
	}
#define T3                                 \
	{                                  \
		"task3", "svc", 3, RUN, C3 \
	}

static const struct acting_case cases[] = {
	{"lowest slot acts", {T3, T1, T2}, NULL, "aaaaaaaaaaaa", false, 1, true, NULL},
	{"slot 2 does not act",
	 {T3, T1, T2},
	 NULL,
	 "bbbbbbbbbbbb",
	 false,
	 1,
	 false,
	 "proxy.1.task1"},
	{"slot 3 does not act",
	 {T1, T2, T3},
	 NULL,
	 "cccccccccccc",
	 false,
	 1,
	 false,
	 "proxy.1.task1"},
	{"the whole container ID matches", {T1, T2}, NULL, C2, false, 1, false, "proxy.1.task1"},
	{"the task ID matches", {T1, T2}, NULL, "task1", false, 1, true, NULL},
	{"the task name matches",
	 {T1, T2},
	 NULL,
	 "proxy.2.task2",
	 false,
	 1,
	 false,
	 "proxy.1.task1"},
	{"a short prefix is no match", {T1, T2}, NULL, "bbbb", false, 0, true, NULL},
	{"takeover: slot 1 gone", {T3, T2}, NULL, "bbbbbbbbbbbb", false, 1, true, NULL},
	{"takeover: slot 1 shut down",
	 {{"task1", "svc", 1, "shutdown", "shutdown", C1}, T2, T3},
	 NULL,
	 "bbbbbbbbbbbb",
	 true,
	 1,
	 true,
	 NULL},
	{"a starting slot 1 does not act yet",
	 {{"task1", "svc", 1, "starting", "running", C1}, T2},
	 NULL,
	 "aaaaaaaaaaaa",
	 false,
	 1,
	 false,
	 "proxy.2.task2"},
	{"the others ignore a starting slot 1",
	 {{"task1", "svc", 1, "starting", "running", C1}, T2},
	 NULL,
	 "bbbbbbbbbbbb",
	 false,
	 1,
	 true,
	 NULL},
	{"failed and preparing tasks ignored",
	 {{"task1", "svc", 1, "failed", "running", C1},
	  {"task0", "svc", 0, "preparing", "running", NULL},
	  T3,
	  T2},
	 NULL,
	 "cccccccccccc",
	 false,
	 1,
	 false,
	 "proxy.2.task2"},
	{"running but desired shutdown is not a candidate",
	 {{"task1", "svc", 1, "running", "shutdown", C1}, T2},
	 NULL,
	 "bbbbbbbbbbbb",
	 false,
	 1,
	 true,
	 NULL},
	{"the one going does not act",
	 {{"task1", "svc", 1, "running", "shutdown", C1}, T2},
	 NULL,
	 "aaaaaaaaaaaa",
	 false,
	 1,
	 false,
	 "proxy.2.task2"},
	{"self a task, none running: acts",
	 {{"task2", "svc", 2, "starting", "running", C2}},
	 NULL,
	 "bbbbbbbbbbbb",
	 false,
	 1,
	 true,
	 NULL},
	{"slot tie: lowest task ID",
	 {{"taskB", "svc", 1, RUN, C2}, {"taskA", "svc", 1, RUN, C1}},
	 NULL,
	 "bbbbbbbbbbbb",
	 false,
	 1,
	 false,
	 "proxy.1.taskA"},
	{"no match: acts alone", {T1, T2, T3}, NULL, "myhost", false, 0, true, NULL},
	{"no hostname: acts alone", {T1, T2}, NULL, NULL, false, 0, true, NULL},
	{"empty list: acts alone", {{NULL}}, NULL, "aaaaaaaaaaaa", false, 0, true, NULL},
	{"dropped from the list after being a task: going, does not act",
	 {T2, T3},
	 NULL,
	 "aaaaaaaaaaaa",
	 true,
	 0,
	 false,
	 "proxy.2.task2"},
	{"dropped, nothing left", {{NULL}}, NULL, "aaaaaaaaaaaa", true, 0, false, NULL},
	{"other services' tasks are not counted",
	 {{"other1", "web", 1, RUN, C1}, T2, T3},
	 "svc",
	 "bbbbbbbbbbbb",
	 false,
	 1,
	 true,
	 NULL},
	{"a task of another service is not self",
	 {{"other1", "web", 1, RUN, C1}, T2, T3},
	 "svc",
	 "aaaaaaaaaaaa",
	 false,
	 0,
	 true,
	 NULL},
};

static void run_case(const struct acting_case *c)
{
	struct docker_task tasks[MAXT] = {0};
	size_t n = 0;
	bool acting = !c->acting;
	_cleanup_free_ char *who = NULL;
	int r;

	for (; n < MAXT && c->tasks[n].id; n++) {
		tasks[n].id = (char *)c->tasks[n].id;
		tasks[n].service_id = (char *)c->tasks[n].service;
		tasks[n].slot = c->tasks[n].slot;
		tasks[n].state = (char *)c->tasks[n].state;
		tasks[n].desired_state = (char *)c->tasks[n].desired;
		tasks[n].container_id = (char *)c->tasks[n].container;
	}
	r = acting_choose(tasks, n, c->service_id, "proxy", c->self, c->was_task, &acting, &who);
	tap_ok(r == c->rc && acting == c->acting &&
		       (c->who ? who && streq(who, c->who) : who == NULL),
	       "%s: rc %d acting %d who '%s'", c->name, r, acting, who ? who : "(none)");
}

static void test_global_name(void)
{
	struct docker_task t = {.id = "t9", .node_id = "node7", .slot = 0};
	_cleanup_free_ char *name = acting_task_name(&t, "proxy");
	bool acting;

	tap_is_str(name, "proxy.node7.t9", "a global task's name has its node ID");
	tap_is_int(acting_choose(NULL, 0, NULL, NULL, "x", false, &acting, NULL), -EINVAL,
		   "no service name: -EINVAL");
	tap_is_int(acting_choose(NULL, 0, NULL, "proxy", "x", false, NULL, NULL), -EINVAL,
		   "no ret_acting: -EINVAL");
}

/* The captured reply: slots 1..3 running, listed 1, 3, 2. */
static void test_fixture(void)
{
	struct docker_task_list l = {0};
	_cleanup_free_ char *err = NULL;
	size_t len;
	_cleanup_free_ char *body = read_fixture("docker/tasks.json", &len);
	bool acting;
	char *who = NULL;

	if (!tap_is_int(docker_parse_tasks(body, len, &l, &err), 0, "tasks.json parses"))
		return;
	tap_is_int(acting_choose(l.v, l.n, "rjz8b95j0tagp2q53mo8qul5l", "fp-fixture-web",
				 "cef3b2d99d5d", false, &acting, &who),
		   1, "fixture: slot 1's hostname is a task");
	tap_ok(acting && !who, "fixture: slot 1 acts");
	tap_is_int(acting_choose(l.v, l.n, NULL, "fp-fixture-web", "62a22977fd03", false, &acting,
				 &who),
		   1, "fixture: slot 3's hostname is a task");
	tap_ok(!acting, "fixture: slot 3 does not act");
	tap_is_str(who, "fp-fixture-web.1.eps4e3kr2jkkstdu7x9eupand",
		   "fixture: slot 3 reports slot 1's container name");
	free(who);
	docker_task_list_done(&l);
}

int main(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		run_case(&cases[i]);
	test_global_name();
	test_fixture();
	return tap_done();
}
