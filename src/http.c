// SPDX-License-Identifier: MIT
/* http: the HTTP/1.0 client of http.h. One connection per request, closed by the server. */
#include "flowproxy/http.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>

int http_request(const char *method, const char *url, int timeout_ms, int *ret_status,
		 struct strbuf *body, char **reterr)
{
	char host[256], port[16] = "80";
	const char *p, *path;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
	_cleanup_close_ int fd = -1;
	char buf[16384];

	strbuf_reset(body);
	if (!str_startswith(url, "http://"))
		return errmsg_set(reterr, -EINVAL, "%s: only http:// URLs", url);
	p = url + 7;
	path = strchr(p, '/');
	if (!path)
		path = "/";
	size_t hl = strcspn(p, ":/");
	if (hl == 0 || hl >= sizeof(host))
		return errmsg_set(reterr, -EINVAL, "%s: bad host", url);
	memcpy(host, p, hl);
	host[hl] = '\0';
	if (p[hl] == ':') {
		size_t pl = strcspn(p + hl + 1, "/");
		if (pl == 0 || pl >= sizeof(port))
			return errmsg_set(reterr, -EINVAL, "%s: bad port", url);
		memcpy(port, p + hl + 1, pl);
		port[pl] = '\0';
	}
	int r = getaddrinfo(host, port, &hints, &ai);
	if (r != 0)
		return errmsg_set(reterr, -EHOSTUNREACH, "%s: %s", url, gai_strerror(r));
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		freeaddrinfo(ai);
		return errmsg_set(reterr, -errno, "%s: %m", url);
	}
	freeaddrinfo(ai);
	int n = snprintf(buf, sizeof(buf),
			 "%s %s HTTP/1.0\r\nHost: %s\r\nContent-Length: 0\r\n\r\n", method, path,
			 host);
	if (n < 0 || (size_t)n >= sizeof(buf) || write(fd, buf, (size_t)n) != n)
		return errmsg_set(reterr, -EIO, "%s: cannot send the request", url);
	struct strbuf all;
	strbuf_init(&all);
	for (;;) {
		ssize_t k = read(fd, buf, sizeof(buf));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			strbuf_done(&all);
			return errmsg_set(reterr, -errno, "%s: %m", url);
		}
		if (k == 0)
			break;
		if (all.len + (size_t)k > HTTP_REPLY_MAX) {
			strbuf_done(&all);
			return errmsg_set(reterr, -EMSGSIZE, "%s: reply too large", url);
		}
		strbuf_append(&all, buf, (size_t)k);
	}
	const char *text = strbuf_str(&all);
	const char *sep = strstr(text, "\r\n\r\n");
	int code = 0;
	if (!sep || sscanf(text, "HTTP/%*d.%*d %d", &code) != 1) {
		strbuf_done(&all);
		return errmsg_set(reterr, -EBADMSG, "%s: not an HTTP reply", url);
	}
	strbuf_puts(body, sep + 4);
	strbuf_done(&all);
	*ret_status = code;
	return 0;
}
