// SPDX-License-Identifier: MIT
/* Unit tests for loop: timer order and cancellation, re-arming, ios freed from callbacks, work
 * posted from another thread, signals. */
#include "flowproxy/loop.h"
#include "flowproxy/util.h"
#include "tap.h"

#include <pthread.h>
#include <signal.h>

struct rec {
	char order[64];
	size_t n;
};

struct tick {
	struct rec *rec;
	char tag;
	struct loop_timer *t;
	int rearm; /* times to re-arm itself for "now" */
};

static void on_tick(void *userdata)
{
	struct tick *k = userdata;

	if (k->rec->n + 1 < sizeof(k->rec->order))
		k->rec->order[k->rec->n++] = k->tag;
	if (k->rearm > 0) {
		k->rearm--;
		loop_timer_after(k->t, 0);
	}
}

/* Runs the loop until pred(userdata) or about ms elapsed. */
static void run_for(struct loop *l, int ms)
{
	long long end = now_usec() + ms * 1000LL;

	while (now_usec() < end)
		loop_iterate(l, (int)((end - now_usec()) / 1000) + 1);
}

static void test_timer_order(struct loop *l)
{
	struct rec rec = {0};
	struct tick k[4] = {{&rec, 'a'}, {&rec, 'b'}, {&rec, 'c'}, {&rec, 'd'}};

	for (int i = 0; i < 4; i++)
		k[i].t = loop_timer_new(l, on_tick, &k[i]);
	loop_timer_after(k[0].t, 30);
	loop_timer_after(k[1].t, 10);
	loop_timer_after(k[2].t, 20);
	loop_timer_after(k[3].t, 20); /* same due time as c, armed later: runs after c */
	loop_timer_at(k[3].t, loop_timer_due(k[2].t));
	tap_ok(loop_timer_armed(k[0].t), "an armed timer says so");
	run_for(l, 60);
	tap_is_str(rec.order, "bcda", "timers run in due order, ties in arming order");
	tap_ok(!loop_timer_armed(k[0].t), "a timer that ran is not armed");

	memset(&rec, 0, sizeof(rec));
	loop_timer_after(k[0].t, 10);
	loop_timer_after(k[1].t, 10);
	loop_timer_stop(k[0].t);
	loop_timer_after(k[2].t, 50);
	loop_timer_after(k[2].t, 5); /* re-arming replaces the earlier due time */
	run_for(l, 80);
	tap_is_str(rec.order, "cb", "a stopped timer does not run; re-arming moves it");

	/* A timer re-armed for "now" from its callback runs once per iteration, not in a spin. */
	memset(&rec, 0, sizeof(rec));
	k[0].rearm = 3;
	loop_timer_after(k[0].t, 0);
	loop_iterate(l, 0);
	tap_is_str(rec.order, "a",
		   "a zero timer re-armed in its callback waits for the next round");
	run_for(l, 10);
	tap_is_str(rec.order, "aaaa", "and runs again in the next rounds");

	/* Freeing a due timer before it runs: it never runs. */
	memset(&rec, 0, sizeof(rec));
	loop_timer_after(k[1].t, 0);
	loop_timer_free(k[1].t);
	run_for(l, 5);
	tap_is_str(rec.order, "", "a freed timer never runs");
	loop_timer_free(k[0].t);
	loop_timer_free(k[2].t);
	loop_timer_free(k[3].t);
}

struct pipes {
	int a[2], b[2];
	struct loop_io *ia, *ib;
	int calls_a, calls_b;
};

static void on_a(void *userdata, uint32_t events)
{
	struct pipes *p = userdata;
	char c;

	p->calls_a++;
	if (read(p->a[0], &c, 1) < 0)
		return;
	/* Freeing the other io while its event may be in the same batch must be safe. */
	loop_io_free(p->ib);
	p->ib = NULL;
}

static void on_b(void *userdata, uint32_t events)
{
	struct pipes *p = userdata;
	char c;

	p->calls_b++;
	if (read(p->b[0], &c, 1) < 0)
		return;
	loop_io_free(p->ia);
	p->ia = NULL;
}

static void test_io(struct loop *l)
{
	struct pipes p = {0};

	tap_ok(pipe(p.a) == 0 && pipe(p.b) == 0, "pipes");
	p.ia = loop_io_add(l, p.a[0], EPOLLIN, on_a, &p);
	p.ib = loop_io_add(l, p.b[0], EPOLLIN, on_b, &p);
	tap_ok(p.ia && p.ib, "ios added");
	tap_ok(loop_io_add(l, -1, EPOLLIN, on_a, &p) == NULL, "a bad fd is refused");
	/* Both readable at once: whichever runs first frees the other, which must not run. */
	tap_ok(write(p.a[1], "x", 1) == 1 && write(p.b[1], "y", 1) == 1, "both readable");
	loop_iterate(l, 100);
	tap_is_int(p.calls_a + p.calls_b, 1, "an io freed during the batch is not dispatched");
	loop_io_free(p.ia);
	loop_io_free(p.ib);
	for (int i = 0; i < 2; i++) {
		close(p.a[i]);
		close(p.b[i]);
	}

	/* loop_io_set: 0 events silences an fd, EPOLLIN brings it back. */
	int q[2];
	struct pipes p2 = {0};
	tap_ok(pipe(q) == 0, "pipe");
	p2.a[0] = q[0];
	p2.ia = loop_io_add(l, q[0], EPOLLIN, on_a, &p2);
	p2.ib = NULL;
	tap_ok(write(q[1], "xy", 2) == 2, "written");
	loop_io_set(p2.ia, 0);
	loop_iterate(l, 20);
	tap_is_int(p2.calls_a, 0, "an io set to no events is not dispatched");
	loop_io_set(p2.ia, EPOLLIN);
	loop_iterate(l, 20);
	tap_is_int(p2.calls_a, 1, "set back to EPOLLIN it is");
	loop_io_free(p2.ia);
	close(q[0]);
	close(q[1]);
}

struct posted {
	struct loop *l;
	int count;
	pthread_t self;
	bool on_loop_thread;
};

static void on_posted(void *userdata)
{
	struct posted *p = userdata;

	p->count++;
	p->on_loop_thread = pthread_equal(pthread_self(), p->self);
}

static void *poster(void *arg)
{
	struct posted *p = arg;

	for (int i = 0; i < 100; i++)
		loop_post(p->l, on_posted, p);
	return NULL;
}

static void test_post(struct loop *l)
{
	struct posted p = {.l = l, .self = pthread_self()};
	pthread_t th;

	pthread_create(&th, NULL, poster, &p);
	pthread_join(th, NULL);
	long long end = now_usec() + 1000000;
	while (p.count < 100 && now_usec() < end)
		loop_iterate(l, 100);
	tap_is_int(p.count, 100, "work posted from another thread runs on the loop, every item");
	tap_ok(p.on_loop_thread, "on the loop's thread");
}

static void on_sig(void *userdata)
{
	(*(int *)userdata)++;
}

static void test_signal(struct loop *l)
{
	int got = 0, got2 = 0;

	tap_is_int(loop_signal(l, SIGUSR1, on_sig, &got), 0, "signal handler registered");
	tap_is_int(loop_signal(l, SIGUSR1, on_sig, &got2), 0, "a second one for the same signal");
	raise(SIGUSR1);
	loop_iterate(l, 100);
	tap_is_int(got, 1, "the signal reached the loop");
	tap_is_int(got2, 1, "both of its callbacks");
}

static void on_quit(void *userdata)
{
	loop_quit(userdata);
}

int main(void)
{
	struct loop *l = NULL;

	tap_is_int(loop_new(&l), 0, "loop_new");
	test_timer_order(l);
	test_io(l);
	test_post(l);
	test_signal(l);

	struct loop_timer *q = loop_timer_new(l, on_quit, l);
	loop_timer_after(q, 10);
	long long t0 = now_usec();
	tap_is_int(loop_run(l), 0, "loop_run returns after loop_quit");
	tap_ok(now_usec() - t0 >= 9000, "not before the timer that quits it");
	loop_timer_free(q);
	loop_free(l);
	return tap_done();
}
