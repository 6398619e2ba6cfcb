// SPDX-License-Identifier: MIT
/*
 * curl_loop: a libcurl multi handle on the loop (curl_loop.h). libcurl tells which sockets to
 * watch for what (CURLMOPT_SOCKETFUNCTION: one loop io per socket, kept in a list so that those
 * curl never released are freed with the handle) and when to call it back at the latest
 * (CURLMOPT_TIMERFUNCTION: one loop timer); both ends call curl_multi_socket_action, and the
 * transfers it finished are read from curl_multi_info_read afterwards, never inside it: a handle
 * may be removed "at any time during a transfer, just not from within any libcurl callback
 * function" (curl_multi_remove_handle(3); CURLM_RECURSIVE_API_CALL otherwise), and the owners
 * remove and add handles when they hear of a result.
 */
#include "flowproxy/curl_loop.h"
#include "flowproxy/loop.h"
#include "flowproxy/util.h"

struct sock {
	struct curl_loop *cl;
	curl_socket_t fd;
	struct loop_io *io;
	struct sock *prev, *next;
};

struct curl_loop {
	struct loop *loop;
	CURLM *multi;
	struct loop_timer *timer; /* curl's timeout */
	struct sock *socks;
	curl_loop_done_fn done;
	curl_loop_after_fn after;
	void *userdata;
	bool reporting; /* inside report(): curl_loop_free waits for it to end */
	bool dead;	/* curl_loop_free was called from a callback */
};

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp);
static int timer_cb(CURLM *multi, long timeout_ms, void *userp);
static void on_curl_timer(void *userdata);

int curl_loop_new(struct loop *loop, curl_loop_done_fn done, curl_loop_after_fn after,
		  void *userdata, struct curl_loop **ret, char **reterr)
{
	struct curl_loop *cl;
	int r;

	if (!loop || !done || !ret)
		return -EINVAL;
	/* libcurl is loaded by its first user (curl_dl.h says why). */
	if ((r = curl_dl_load(reterr)) < 0)
		return r;
	cl = xcalloc(1, sizeof(*cl));
	cl->loop = loop;
	cl->done = done;
	cl->after = after;
	cl->userdata = userdata;
	cl->multi = curl_multi_init();
	if (!cl->multi) {
		free(cl);
		return errmsg_set(reterr, -ENOMEM, "cannot create a curl multi handle");
	}
	cl->timer = loop_timer_new(loop, on_curl_timer, cl);
	curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
	curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);
	*ret = cl;
	return 0;
}

int curl_loop_add(struct curl_loop *cl, CURL *easy)
{
	return curl_multi_add_handle(cl->multi, easy) == CURLM_OK ? 0 : -ENOMEM;
}

void curl_loop_remove(struct curl_loop *cl, CURL *easy)
{
	/* This also drops a CURLMSG_DONE of easy not yet read (libcurl's lib/multi.c: "make sure
	 * there is no pending message in the queue sent from this easy handle"), so what report()
	 * reads next is never a handle the owner let go of. */
	if (easy)
		curl_multi_remove_handle(cl->multi, easy);
}

/* After curl did some work: each finished transfer to done, then after, unless freed. */
static void report(struct curl_loop *cl)
{
	CURLMsg *msg;
	int left;

	cl->reporting = true;
	while (!cl->dead && (msg = curl_multi_info_read(cl->multi, &left))) {
		/* msg is curl's until the next call on the handle: copied out first. */
		CURL *easy = msg->easy_handle;
		CURLcode result = msg->data.result;
		void *priv = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&priv);
		cl->done(cl->userdata, easy, priv, result);
	}
	if (!cl->dead && cl->after)
		cl->after(cl->userdata);
	cl->reporting = false;
	if (cl->dead)
		curl_loop_free(cl);
}

static void on_sock(void *userdata, uint32_t events)
{
	struct sock *s = userdata;
	struct curl_loop *cl = s->cl; /* s may be gone once curl returns */
	int running;

	curl_multi_socket_action(cl->multi, s->fd,
				 ((events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
					 ((events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
					 ((events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0),
				 &running);
	report(cl);
}

static void on_curl_timer(void *userdata)
{
	struct curl_loop *cl = userdata;
	int running;

	curl_multi_socket_action(cl->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	report(cl);
}

static void sock_free(struct sock *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		s->cl->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	loop_io_free(s->io);
	free(s);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct curl_loop *cl = userp;
	struct sock *s = socketp;
	uint32_t ev =
		((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);

	if (what == CURL_POLL_REMOVE) {
		if (s) {
			sock_free(s);
			curl_multi_assign(cl->multi, fd, NULL);
		}
		return 0;
	}
	if (!s) {
		s = xcalloc(1, sizeof(*s));
		s->cl = cl;
		s->fd = fd;
		s->io = loop_io_add(cl->loop, fd, ev, on_sock, s);
		if (!s->io) {
			free(s);
			return -1;
		}
		s->next = cl->socks;
		if (cl->socks)
			cl->socks->prev = s;
		cl->socks = s;
		curl_multi_assign(cl->multi, fd, s);
		return 0;
	}
	loop_io_set(s->io, ev);
	return 0;
}

/* curl must not be called from here (CURLMOPT_TIMERFUNCTION(3)): the loop timer does it. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct curl_loop *cl = userp;

	if (timeout_ms < 0)
		loop_timer_stop(cl->timer);
	else
		loop_timer_after(cl->timer, timeout_ms);
	return 0;
}

void curl_loop_free(struct curl_loop *cl)
{
	if (!cl)
		return;
	if (cl->reporting) {
		/* From a callback: report() stops and comes back here once it returns. */
		cl->dead = true;
		return;
	}
	/* Closes the connections curl kept; it may call socket_cb and timer_cb meanwhile, so the
	 * ios and the timer go after it. */
	if (cl->multi)
		curl_multi_cleanup(cl->multi);
	/* Sockets curl did not release on the way (older versions keep quiet on cleanup). */
	while (cl->socks)
		sock_free(cl->socks);
	loop_timer_free(cl->timer);
	free(cl);
}
