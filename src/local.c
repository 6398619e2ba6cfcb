// SPDX-License-Identifier: MIT
/*
 * local: the services file and the backend processes of local mode. The processes are children
 * of flowproxy; SIGCHLD reaches the loop through a self-pipe, and only this module's own pids are
 * reaped (waitpid on each), so that HAProxy's supervision is not disturbed.
 */
#include "flowproxy/local.h"
#include "flowproxy/log.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

#define LOCAL_ENTRIES_MAX 10000

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
			if (it->valuedouble != (double)(long long)it->valuedouble) {
				_cleanup_free_ char *k = key_shown(it->string);
				return errmsg_set(
					reterr, -EINVAL,
					"services file: entry %zu: '%s' must be an integer", idx,
					k);
			}
			snprintf(num, sizeof(num), "%lld", (long long)it->valuedouble);
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
	return 0;
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
	}
	cJSON_Delete(root);
	if (r < 0)
		local_file_done(ret);
	return r;
}

struct proc {
	char **argv; /* borrowed copy owned here */
	char *name;
	pid_t pid;
	time_t window_start;
	int restarts;
};

struct local {
	struct proc *v;
	size_t n;
	int pipe[2];
};

static int sigchld_pipe[2] = {-1, -1};

static void on_sigchld(int sig)
{
	int saved = errno;
	char c = 0;

	if (write(sigchld_pipe[1], &c, 1) < 0) {
		/* Full: a wake-up is already pending. */
	}
	errno = saved;
}

static int spawn(struct proc *p)
{
	pid_t pid;
	int r = posix_spawnp(&pid, p->argv[0], NULL, NULL, p->argv, environ);

	if (r != 0) {
		log_error("service '%s': cannot start '%s': %s", p->name, p->argv[0], strerror(r));
		return -r;
	}
	p->pid = pid;
	log_info("service '%s': started backend '%s' (pid %d)", p->name, p->argv[0], (int)pid);
	return 0;
}

static void on_children(void *userdata)
{
	struct local *l = userdata;
	char buf[64];

	while (read(sigchld_pipe[0], buf, sizeof(buf)) > 0)
		;
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
		if (++p->restarts > 5) {
			log_error(
				"service '%s': backend exited (status %d) too often, not restarted",
				p->name, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
			continue;
		}
		log_warn("service '%s': backend exited (status %d), restarting", p->name,
			 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		spawn(p);
	}
}

int local_start(struct daemon *d, const struct local_file *f, struct local **ret, char **reterr)
{
	struct local *l = xcalloc(1, sizeof(*l));
	struct sigaction sa = {.sa_handler = on_sigchld, .sa_flags = SA_RESTART | SA_NOCLDSTOP};

	if (sigchld_pipe[0] < 0 && pipe2(sigchld_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		free(l);
		return errmsg_set(reterr, -errno, "pipe: %m");
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
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
		spawn(p);
	}
	if (d)
		daemon_watch_fd(d, sigchld_pipe[0], on_children, l);
	*ret = l;
	return 0;
}

void local_free(struct local *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].pid > 0)
			kill(l->v[i].pid, SIGTERM);
	long long deadline = now_usec() + 2000000;
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
			usleep(10000);
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
