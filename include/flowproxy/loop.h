/* SPDX-License-Identifier: MIT */
/*
 * loop: the one event loop of the daemon (epoll). Everything that waits for something outside
 * waits here: file descriptors (sockets, pipes, pidfds), timers, signals, and work handed over
 * by another thread. Callbacks run on the loop's thread, one at a time, so the state they touch
 * needs no lock. A callback must not block: a call to an outside party is started, and its
 * result comes back as a later callback.
 *
 * Timers are one-shot and re-armable, kept in a heap and served from epoll_wait's timeout (one
 * millisecond resolution): a module that wants "in 50 ms" or "at this deadline" owns a timer;
 * none creates a timerfd of its own. A timer armed at or before now runs in the next iteration,
 * after the file descriptors, so arming a zero timer defers work to the end of this round.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop;
struct loop_io;
struct loop_timer;

/* events: the epoll events that fired (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP...). */
typedef void (*loop_io_fn)(void *userdata, uint32_t events);
typedef void (*loop_fn)(void *userdata);

/* Creates a loop. -errno on failure (epoll or eventfd could not be made). Free with loop_free. */
int loop_new(struct loop **ret);
/* Frees the loop. Every io and timer must have been freed by its owner before. NULL ok. */
void loop_free(struct loop *l);

/*
 * Watches fd for events (level-triggered). The fd stays the caller's (not closed here). Returns
 * NULL with errno set when epoll refuses it. cb runs on the loop with userdata.
 */
struct loop_io *loop_io_add(struct loop *l, int fd, uint32_t events, loop_io_fn cb, void *userdata);
/* Changes the events watched (0: none, the fd stays registered). */
int loop_io_set(struct loop_io *io, uint32_t events);
/* Stops watching and frees io; safe from any callback, even io's own. NULL ok. Call it before
 * closing the fd. */
void loop_io_free(struct loop_io *io);

/* A timer, not armed. cb runs once per arming. Free with loop_timer_free (safe in callbacks). */
struct loop_timer *loop_timer_new(struct loop *l, loop_fn cb, void *userdata);
void loop_timer_free(struct loop_timer *t);
/* Arms t for the monotonic time due_usec (now_usec's clock), replacing an earlier arming. */
void loop_timer_at(struct loop_timer *t, long long due_usec);
/* Arms t for ms milliseconds from now (0: the next iteration). */
void loop_timer_after(struct loop_timer *t, long long ms);
void loop_timer_stop(struct loop_timer *t);
bool loop_timer_armed(const struct loop_timer *t);
/* When t is due (now_usec's clock), 0 when not armed. */
long long loop_timer_due(const struct loop_timer *t);

/*
 * Runs cb on the loop whenever signal signo arrives (SIGTERM, SIGINT, SIGHUP, SIGCHLD...).
 * Several callbacks may share one signal. The handler only writes a byte to a pipe. -errno on
 * failure.
 */
int loop_signal(struct loop *l, int signo, loop_fn cb, void *userdata);

/*
 * From any thread: runs fn(userdata) on the loop's thread in its next iteration. The only call
 * of this module that other threads may make.
 */
void loop_post(struct loop *l, loop_fn fn, void *userdata);

/* Runs until loop_quit. Returns 0, or -errno when epoll_wait fails. */
int loop_run(struct loop *l);
/* Makes loop_run return after the current iteration. */
void loop_quit(struct loop *l);
/* One iteration: waits at most timeout_ms (-1: until something happens) and runs what is due.
 * For tests and start-up steps. */
int loop_iterate(struct loop *l, int timeout_ms);
