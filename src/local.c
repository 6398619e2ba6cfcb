// SPDX-License-Identifier: MIT
/*
 * local: the services file and the backend processes of local mode. The processes are children
 * of flowproxy; SIGCHLD reaches the loop (loop_signal), and only this module's own pids are
 * reaped (waitpid on each), so that HAProxy's supervision is not disturbed. A backend dies with
 * flowproxy, even a SIGKILLed one (PR_SET_PDEATHSIG): the next flowproxy starts its own on the
 * same ports. A backend that exits is started again after a growing delay (100 ms doubling to
 * 5 s), at most LOCAL_RESTARTS_MAX times a minute.
 */
#include "flowproxy/local.h"
#include "flowproxy/log.h"
#include "flowproxy/loop.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <poll.h>
#include <strings.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#define LOCAL_ENTRIES_MAX    10000
#define LOCAL_RESTARTS_MAX   5
#define LOCAL_RESTART_MIN_MS 100
#define LOCAL_RESTART_MAX_MS 5000
#define LOCAL_STOP_GRACE_MS  2000

void local_file_done(struct local_file *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		params_done(&f->v[i].params);
		for (char **a = f->v[i].argv; a && *a; a++)
			free(*a);
		free(f->v[i].argv);
	}
	free(f->v);
	f->v = NULL;
	f->n = 0;
}

/* A key of the file made safe to quote in a message (it is logged): control bytes as \xNN, at
 * most 64 bytes. Caller frees. */
static char *key_shown(const char *k)
{
	struct strbuf b;

	strbuf_init(&b);
	for (size_t n = 0; *k; k++, n++) {
		unsigned char c = (unsigned char)*k;
		if (n == 64) {
			strbuf_puts(&b, "...");
			break;
		}
		if (c < 0x20 || c == 0x7f)
			strbuf_printf(&b, "\\x%02x", c);
		else
			strbuf_putc(&b, (char)c);
	}
	return strbuf_steal(&b);
}

/*
 * Decides whether entry e runs copies: an "exec" with "replicas" (0..LOCAL_REPLICAS_MAX), or
 * with {port} in an argument (1 copy). The count is then local's, not a routing parameter:
 * "replicas" leaves the parameters (DFP reads replicas=0 as "remove the service"). Without
 * "exec", "replicas" stays what it is in DFP.
 */
static int entry_replicas(struct local_entry *e, size_t idx, char **reterr)
{
	const char *v = params_get(&e->params, "replicas");
	const char *name = params_get(&e->params, "serviceName");
	bool token = false;
	long n = 1;

	if (!e->argv)
		return 0;
	for (char **a = e->argv; *a; a++)
		token |= strstr(*a, LOCAL_PORT_TOKEN) != NULL;
	if (!v && !token)
		return 0;
	if (!str_set(name))
		return errmsg_set(reterr, -EINVAL,
				  "services file: entry %zu: copies of \"exec\" need a serviceName",
				  idx);
	if (v && parse_long(v, 0, LOCAL_REPLICAS_MAX, &n) < 0) {
		_cleanup_free_ char *shown = key_shown(name);
		_cleanup_free_ char *vs = key_shown(v);
		return errmsg_set(
			reterr, -EINVAL,
			"services file: entry %zu ('%s'): \"replicas\" must be an integer "
			"from 0 to %d, not '%s'",
			idx, shown, LOCAL_REPLICAS_MAX, vs);
	}
	/* Labels are matched without regard to case: every spelling goes. */
	for (size_t i = 0; i < e->params.n;) {
		if (strcasecmp(e->params.v[i].key, "replicas") == 0)
			params_remove(&e->params, e->params.v[i].key);
		else
			i++;
	}
	e->replicated = true;
	e->replicas = n;
	return 0;
}

static int parse_entry(const cJSON *o, size_t idx, struct local_entry *e, char **reterr)
{
	const cJSON *it;

	params_init(&e->params);
	e->argv = NULL;
	if (!cJSON_IsObject(o))
		return errmsg_set(reterr, -EINVAL, "services file: entry %zu is not an object",
				  idx);
	cJSON_ArrayForEach(it, o)
	{
		if (streq(it->string, "exec")) {
			int n = cJSON_GetArraySize(it);
			if (!cJSON_IsArray(it) || n == 0)
				return errmsg_set(reterr, -EINVAL,
						  "services file: entry %zu: \"exec\" must be a "
						  "non-empty array of strings",
						  idx);
			/* A second "exec" replaces the first, as for duplicate JSON keys. */
			for (char **a = e->argv; a && *a; a++)
				free(*a);
			free(e->argv);
			e->argv = xcalloc((size_t)n + 1, sizeof(char *));
			for (int i = 0; i < n; i++) {
				const cJSON *s = cJSON_GetArrayItem(it, i);
				if (!cJSON_IsString(s))
					return errmsg_set(reterr, -EINVAL,
							  "services file: entry %zu: \"exec\" must "
							  "be an array of strings",
							  idx);
				e->argv[i] = xstrdup(s->valuestring);
			}
		} else if (cJSON_IsString(it)) {
			params_add(&e->params, it->string, it->valuestring);
		} else if (cJSON_IsBool(it)) {
			params_add(&e->params, it->string, cJSON_IsTrue(it) ? "true" : "false");
		} else if (cJSON_IsNumber(it)) {
			char num[64];
			double v = it->valuedouble;
			/* In range first: casting a larger double is undefined (found by fuzzing). */
			if (!(v > -9e18 && v < 9e18) || v != (double)(long long)v) {
				_cleanup_free_ char *k = key_shown(it->string);
				return errmsg_set(
					reterr, -EINVAL,
					"services file: entry %zu: '%s' must be an integer", idx,
					k);
			}
			snprintf(num, sizeof(num), "%lld", (long long)v);
			params_add(&e->params, it->string, num);
		} else {
			_cleanup_free_ char *k = key_shown(it->string);
			return errmsg_set(
				reterr, -EINVAL,
				"services file: entry %zu: '%s' must be a string, number or "
				"boolean",
				idx, k);
		}
	}
	return entry_replicas(e, idx, reterr);
}

/* Two entries running copies of one service would fight over its slots: the second is refused. */
static int check_unique(const struct local_file *f, size_t i, char **reterr)
{
	const struct local_entry *e = &f->v[i];
	const char *name = e->replicated ? params_get(&e->params, "serviceName") : NULL;

	for (size_t k = 0; name && k < i; k++) {
		const char *other = params_get(&f->v[k].params, "serviceName");
		if (f->v[k].replicated && streq(other, name)) {
			_cleanup_free_ char *shown = key_shown(name);
			return errmsg_set(reterr, -EINVAL,
					  "services file: entry %zu ('%s'): entry %zu runs copies "
					  "of this service already",
					  i, shown, k);
		}
	}
	return 0;
}

char **local_argv_expand(char *const *argv, int port)
{
	size_t argc = 0;
	char num[16], **v;

	snprintf(num, sizeof(num), "%d", port);
	while (argv[argc])
		argc++;
	v = xcalloc(argc + 1, sizeof(char *));
	for (size_t i = 0; i < argc; i++) {
		struct strbuf b;
		const char *a = argv[i], *t;

		strbuf_init(&b);
		strbuf_puts(&b, "");
		while ((t = strstr(a, LOCAL_PORT_TOKEN))) {
			strbuf_append(&b, a, (size_t)(t - a));
			strbuf_puts(&b, num);
			a = t + strlen(LOCAL_PORT_TOKEN);
		}
		strbuf_puts(&b, a);
		v[i] = strbuf_steal(&b);
	}
	return v;
}

void local_argv_free(char **argv)
{
	for (char **a = argv; a && *a; a++)
		free(*a);
	free(argv);
}

int local_parse(const char *json, size_t len, struct local_file *ret, char **reterr)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	const cJSON *list;
	int r = 0;

	ret->v = NULL;
	ret->n = 0;
	if (!root)
		return errmsg_set(reterr, -EINVAL, "services file: not valid JSON near byte %zu",
				  (size_t)(cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - json : 0));
	list = cJSON_IsArray(root) ? root : cJSON_GetObjectItemCaseSensitive(root, "services");
	if (!cJSON_IsArray(list)) {
		cJSON_Delete(root);
		return errmsg_set(reterr, -EINVAL,
				  "services file: expected an array or {\"services\": [...]}");
	}
	size_t n = (size_t)cJSON_GetArraySize(list);
	if (n > LOCAL_ENTRIES_MAX) {
		cJSON_Delete(root);
		return errmsg_set(reterr, -EMSGSIZE, "services file: more than %d entries",
				  LOCAL_ENTRIES_MAX);
	}
	ret->v = xcalloc(n ? n : 1, sizeof(*ret->v));
	for (size_t i = 0; i < n; i++) {
		ret->n = i + 1;
		r = parse_entry(cJSON_GetArrayItem(list, (int)i), i, &ret->v[i], reterr);
		if (r < 0)
			break;
		r = check_unique(ret, i, reterr);
		if (r < 0)
			break;
	}
	cJSON_Delete(root);
	if (r < 0)
		local_file_done(ret);
	return r;
}

struct proc {
	char **argv; /* a copy owned here */
	char *name;
	pid_t pid;
	time_t window_start;
	int restarts;
	struct loop_timer *restart; /* armed while waiting to start it again */
};

struct local {
	struct proc *v;
	size_t n;
};

/*
 * Starts p's command as our child. The child asks for SIGTERM when flowproxy dies and gets the
 * default disposition of SIGPIPE back (flowproxy ignores it; exec would keep that). An exec
 * failure comes back through a close-on-exec pipe, so that it is reported here, at once.
 */
static int spawn(struct proc *p)
{
	pid_t parent = getpid(), pid;
	int fds[2], err = 0;
	ssize_t n;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		err = errno;
		close(fds[0]);
		close(fds[1]);
		log_error("service '%s': cannot start '%s': %s", p->name, p->argv[0],
			  strerror(err));
		return -err;
	}
	if (pid == 0) {
		sigset_t none;

		close(fds[0]);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127); /* flowproxy is already gone */
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execvp(p->argv[0], p->argv);
		err = errno;
		if (write(fds[1], &err, sizeof(err)) < 0)
			_exit(126);
		_exit(127);
	}
	close(fds[1]);
	while ((n = read(fds[0], &err, sizeof(err))) < 0 && errno == EINTR)
		;
	close(fds[0]);
	if (n == sizeof(err)) {
		waitpid(pid, NULL, 0);
		log_error("service '%s': cannot start '%s': %s", p->name, p->argv[0],
			  strerror(err));
		return -err;
	}
	p->pid = pid;
	log_info("service '%s': started backend '%s' (pid %d)", p->name, p->argv[0], (int)pid);
	return 0;
}

static void on_restart(void *userdata)
{
	spawn(userdata);
}

static void on_children(void *userdata)
{
	struct local *l = userdata;

	for (size_t i = 0; i < l->n; i++) {
		struct proc *p = &l->v[i];
		int st;
		if (p->pid <= 0 || waitpid(p->pid, &st, WNOHANG) != p->pid)
			continue;
		p->pid = 0;
		time_t now = time(NULL);
		if (now - p->window_start > 60) {
			p->window_start = now;
			p->restarts = 0;
		}
		if (++p->restarts > LOCAL_RESTARTS_MAX) {
			log_error(
				"service '%s': backend exited (status %d) too often, not restarted",
				p->name, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
			continue;
		}
		long long delay = LOCAL_RESTART_MIN_MS << (p->restarts - 1);
		if (delay > LOCAL_RESTART_MAX_MS)
			delay = LOCAL_RESTART_MAX_MS;
		log_warn("service '%s': backend exited (status %d), restarting in %lld ms", p->name,
			 WIFEXITED(st) ? WEXITSTATUS(st) : -1, delay);
		if (p->restart)
			loop_timer_after(p->restart, delay);
	}
}

int local_start(struct loop *loop, const struct local_file *f, struct local **ret, char **reterr)
{
	struct local *l = xcalloc(1, sizeof(*l));
	int r = loop ? loop_signal(loop, SIGCHLD, on_children, l) : 0;

	if (r < 0) {
		free(l);
		return errmsg_set(reterr, r, "SIGCHLD: %s", strerror(-r));
	}
	l->v = xcalloc(f->n ? f->n : 1, sizeof(*l->v));
	for (size_t i = 0; i < f->n; i++) {
		if (!f->v[i].argv)
			continue;
		struct proc *p = &l->v[l->n++];
		size_t argc = 0;
		while (f->v[i].argv[argc])
			argc++;
		p->argv = xcalloc(argc + 1, sizeof(char *));
		for (size_t k = 0; k < argc; k++)
			p->argv[k] = xstrdup(f->v[i].argv[k]);
		const char *name = params_get(&f->v[i].params, "serviceName");
		p->name = xstrdup(name ? name : "?");
		p->window_start = time(NULL);
		p->restart = loop ? loop_timer_new(loop, on_restart, p) : NULL;
		spawn(p);
	}
	*ret = l;
	return 0;
}

void local_free(struct local *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		loop_timer_free(l->v[i].restart);
		if (l->v[i].pid > 0)
			kill(l->v[i].pid, SIGTERM);
	}
	long long deadline = now_usec() + LOCAL_STOP_GRACE_MS * 1000LL;
	for (size_t i = 0; i < l->n; i++) {
		struct proc *p = &l->v[i];
		while (p->pid > 0) {
			pid_t w = waitpid(p->pid, NULL, WNOHANG);
			if (w == p->pid || (w < 0 && errno == ECHILD)) {
				p->pid = 0;
				break;
			}
			if (now_usec() > deadline) {
				kill(p->pid, SIGKILL);
				waitpid(p->pid, NULL, 0);
				p->pid = 0;
				break;
			}
			poll(NULL, 0, 10);
		}
	}
	for (size_t i = 0; i < l->n; i++) {
		for (char **a = l->v[i].argv; a && *a; a++)
			free(*a);
		free(l->v[i].argv);
		free(l->v[i].name);
	}
	free(l->v);
	free(l);
}
