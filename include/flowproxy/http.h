/* SPDX-License-Identifier: MIT */
/*
 * http: a small blocking HTTP/1.0 client over plain sockets, for flowproxy's own peers (its API
 * for `flowproxy top`, notification URLs). http:// only; the reply is capped.
 */
#pragma once

#include "flowproxy/util.h"

#define HTTP_REPLY_MAX (16u << 20)

/*
 * Sends method (GET, POST, ...) to url (http://host[:port][/path[?query]]) with no body, waits
 * up to timeout_ms for each step, and returns the status in *ret_status and the body in body
 * (reset first). Fails with -EINVAL (bad URL), -EHOSTUNREACH, -errno, -EBADMSG (not HTTP) or
 * -EMSGSIZE, with a message naming the URL.
 */
int http_request(const char *method, const char *url, int timeout_ms, int *ret_status,
		 struct strbuf *body, char **reterr);
