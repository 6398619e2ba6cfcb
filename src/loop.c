// SPDX-License-Identifier: MIT
/*
 * loop: epoll for file descriptors, a binary heap of timers served through epoll_wait's
 * timeout, a self-pipe for signals, and an eventfd for work posted by other threads (loop.h).
 *
 * An io or timer freed during an iteration is only marked dead and unlinked; its memory goes at
 * the end of the iteration, so that an epoll event already returned for it is skipped rather
 * than dispatched to freed memory.
 */
#include "flowproxy/loop.h"
#include "flowproxy/util.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>

#define LOOP_EVENTS_MAX	 64
#define LOOP_SIGNALS_MAX 16

struct loop_io {
	struct loop *l;
	int fd;
	loop_io_fn cb;
	void *userdata;
	bool dead;
	struct loop_io *next_dead;
};

struct loop_timer {
	struct loop *l;
	loop_fn cb;
	void *userdata;
	long long due;	/* usec, valid while armed */
	uint64_t seq;	/* arming order: equal due times run first armed, first run */
	size_t heap_ix; /* position in l->heap while armed */
	bool armed;
	bool dead;
	struct loop_timer *next_dead;
};

struct loop_posted {
	loop_fn fn;
	void *userdata;
};

struct loop_sig {
	int signo;
	loop_fn cb;
	void *userdata;
};

struct loop {
	int epfd;
	int efd; /* eventfd: posted work */
	struct loop_io *efd_io;
	struct loop_io *sig_io;
	struct loop_timer **heap;
	size_t n_heap, cap_heap;
	uint64_t seq;
	struct loop_io *dead_ios;
	struct loop_timer *dead_timers;
	pthread_mutex_t lock; /* posted */
	struct loop_posted *posted;
	size_t n_posted;
	struct loop_sig sigs[LOOP_SIGNALS_MAX];
	size_t n_sigs;
	bool quit;
};

/* One self-pipe per process: signal handlers cannot find a loop any other way. */
static int sig_pipe[2] = {-1, -1};

/* ---- timers ------------------------------------------------------------------------------ */

static bool timer_before(const struct loop_timer *a, const struct loop_timer *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_swap(struct loop *l, size_t i, size_t j)
{
	struct loop_timer *t = l->heap[i];

	l->heap[i] = l->heap[j];
	l->heap[j] = t;
	l->heap[i]->heap_ix = i;
	l->heap[j]->heap_ix = j;
}

static void heap_up(struct loop *l, size_t i)
{
	while (i > 0 && timer_before(l->heap[i], l->heap[(i - 1) / 2])) {
		heap_swap(l, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct loop *l, size_t i)
{
	for (;;) {
		size_t a = 2 * i + 1, b = a + 1, m = i;

		if (a < l->n_heap && timer_before(l->heap[a], l->heap[m]))
			m = a;
		if (b < l->n_heap && timer_before(l->heap[b], l->heap[m]))
			m = b;
		if (m == i)
			return;
		heap_swap(l, i, m);
		i = m;
	}
}

static void heap_remove(struct loop *l, struct loop_timer *t)
{
	size_t i = t->heap_ix;

	l->n_heap--;
	if (i != l->n_heap) {
		l->heap[i] = l->heap[l->n_heap];
		l->heap[i]->heap_ix = i;
		heap_down(l, i);
		heap_up(l, i);
	}
	t->armed = false;
}

struct loop_timer *loop_timer_new(struct loop *l, loop_fn cb, void *userdata)
{
	struct loop_timer *t = xcalloc(1, sizeof(*t));

	t->l = l;
	t->cb = cb;
	t->userdata = userdata;
	return t;
}

void loop_timer_at(struct loop_timer *t, long long due_usec)
{
	struct loop *l = t->l;

	if (t->dead)
		return;
	if (t->armed)
		heap_remove(l, t);
	if (l->n_heap == l->cap_heap) {
		l->cap_heap = l->cap_heap ? 2 * l->cap_heap : 16;
		l->heap = xrealloc(l->heap, l->cap_heap * sizeof(*l->heap));
	}
	t->due = due_usec;
	t->seq = l->seq++;
	t->armed = true;
	t->heap_ix = l->n_heap;
	l->heap[l->n_heap++] = t;
	heap_up(l, t->heap_ix);
}

void loop_timer_after(struct loop_timer *t, long long ms)
{
	loop_timer_at(t, now_usec() + (ms > 0 ? ms : 0) * 1000);
}

void loop_timer_stop(struct loop_timer *t)
{
	if (t && t->armed)
		heap_remove(t->l, t);
}

bool loop_timer_armed(const struct loop_timer *t)
{
	return t && t->armed;
}

long long loop_timer_due(const struct loop_timer *t)
{
	return t && t->armed ? t->due : 0;
}

void loop_timer_free(struct loop_timer *t)
{
	if (!t || t->dead)
		return;
	loop_timer_stop(t);
	t->dead = true;
	t->next_dead = t->l->dead_timers;
	t->l->dead_timers = t;
}

/* Runs the timers due now; one armed meanwhile for "now" waits for the next iteration. */
static void run_timers(struct loop *l)
{
	long long now = now_usec();
	uint64_t seq_limit = l->seq;

	while (l->n_heap > 0 && l->heap[0]->due <= now && l->heap[0]->seq < seq_limit) {
		struct loop_timer *t = l->heap[0];

		heap_remove(l, t);
		t->cb(t->userdata);
	}
}

/* Milliseconds epoll_wait may sleep: until the first timer (rounded up), -1 without one. */
static int wait_ms(const struct loop *l, int cap)
{
	long long d;

	if (l->n_heap == 0)
		return cap;
	d = l->heap[0]->due - now_usec();
	if (d <= 0)
		return 0;
	d = (d + 999) / 1000;
	if (cap >= 0 && d > cap)
		return cap;
	return d > 0x7fffffff ? 0x7fffffff : (int)d;
}

/* ---- file descriptors -------------------------------------------------------------------- */

struct loop_io *loop_io_add(struct loop *l, int fd, uint32_t events, loop_io_fn cb, void *userdata)
{
	struct loop_io *io = xcalloc(1, sizeof(*io));
	struct epoll_event ev = {.events = events, .data.ptr = io};

	io->l = l;
	io->fd = fd;
	io->cb = cb;
	io->userdata = userdata;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;

		free(io);
		errno = e;
		return NULL;
	}
	return io;
}

int loop_io_set(struct loop_io *io, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};

	if (io->dead)
		return -EINVAL;
	return epoll_ctl(io->l->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0 ? -errno : 0;
}

void loop_io_free(struct loop_io *io)
{
	if (!io || io->dead)
		return;
	/* The fd may already be closed (ENOENT/EBADF): the kernel dropped it from epoll then. */
	epoll_ctl(io->l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->dead = true;
	io->next_dead = io->l->dead_ios;
	io->l->dead_ios = io;
}

static void reap_dead(struct loop *l)
{
	while (l->dead_ios) {
		struct loop_io *io = l->dead_ios;

		l->dead_ios = io->next_dead;
		free(io);
	}
	while (l->dead_timers) {
		struct loop_timer *t = l->dead_timers;

		l->dead_timers = t->next_dead;
		free(t);
	}
}

/* ---- signals and posted work ------------------------------------------------------------- */

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char c = (unsigned char)sig;

	if (write(sig_pipe[1], &c, 1) < 0) {
		/* Full pipe: wake-ups are pending already; a lost duplicate signal is harmless. */
	}
	errno = saved;
}

static void on_sig_pipe(void *userdata, uint32_t events)
{
	struct loop *l = userdata;
	unsigned char buf[64];
	ssize_t n;

	while ((n = read(sig_pipe[0], buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			for (size_t k = 0; k < l->n_sigs; k++)
				if (l->sigs[k].signo == buf[i])
					l->sigs[k].cb(l->sigs[k].userdata);
}

int loop_signal(struct loop *l, int signo, loop_fn cb, void *userdata)
{
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};

	if (l->n_sigs >= LOOP_SIGNALS_MAX || signo <= 0 || signo > 255)
		return -EINVAL;
	if (sig_pipe[0] < 0 && pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	if (!l->sig_io) {
		l->sig_io = loop_io_add(l, sig_pipe[0], EPOLLIN, on_sig_pipe, l);
		if (!l->sig_io)
			return -errno;
	}
	if (signo == SIGCHLD)
		sa.sa_flags |= SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	if (sigaction(signo, &sa, NULL) < 0)
		return -errno;
	l->sigs[l->n_sigs++] = (struct loop_sig){signo, cb, userdata};
	return 0;
}

void loop_post(struct loop *l, loop_fn fn, void *userdata)
{
	uint64_t one = 1;

	pthread_mutex_lock(&l->lock);
	l->posted = xrealloc(l->posted, (l->n_posted + 1) * sizeof(*l->posted));
	l->posted[l->n_posted++] = (struct loop_posted){fn, userdata};
	pthread_mutex_unlock(&l->lock);
	if (write(l->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, so the loop is awake anyway. */
	}
}

static void on_posted(void *userdata, uint32_t events)
{
	struct loop *l = userdata;
	struct loop_posted *v;
	uint64_t cnt;
	size_t n;

	if (read(l->efd, &cnt, sizeof(cnt)) < 0) {
		/* EAGAIN: drained by an earlier wake-up; the queue is checked anyway. */
	}
	pthread_mutex_lock(&l->lock);
	v = l->posted;
	n = l->n_posted;
	l->posted = NULL;
	l->n_posted = 0;
	pthread_mutex_unlock(&l->lock);
	for (size_t i = 0; i < n; i++)
		v[i].fn(v[i].userdata);
	free(v);
}

/* ---- the loop ---------------------------------------------------------------------------- */

int loop_new(struct loop **ret)
{
	struct loop *l = xcalloc(1, sizeof(*l));

	pthread_mutex_init(&l->lock, NULL);
	l->efd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd >= 0)
		l->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->epfd < 0 || l->efd < 0 ||
	    !(l->efd_io = loop_io_add(l, l->efd, EPOLLIN, on_posted, l))) {
		int r = -errno;

		loop_free(l);
		return r;
	}
	*ret = l;
	return 0;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	loop_io_free(l->efd_io);
	loop_io_free(l->sig_io);
	reap_dead(l);
	free(l->heap);
	free(l->posted);
	if (l->efd >= 0)
		close(l->efd);
	if (l->epfd >= 0)
		close(l->epfd);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

int loop_iterate(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[LOOP_EVENTS_MAX];
	int n = epoll_wait(l->epfd, evs, LOOP_EVENTS_MAX, wait_ms(l, timeout_ms));

	if (n < 0 && errno != EINTR)
		return -errno;
	for (int i = 0; i < n; i++) {
		struct loop_io *io = evs[i].data.ptr;

		if (!io->dead)
			io->cb(io->userdata, evs[i].events);
	}
	run_timers(l);
	reap_dead(l);
	return 0;
}

int loop_run(struct loop *l)
{
	l->quit = false;
	while (!l->quit) {
		int r = loop_iterate(l, -1);

		if (r < 0)
			return r;
	}
	return 0;
}

void loop_quit(struct loop *l)
{
	l->quit = true;
}
