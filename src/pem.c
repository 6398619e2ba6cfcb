// SPDX-License-Identifier: MIT
/*
 * pem: what a certificate file may be called and hold, checked before anything is written
 * (pem.h). Pure: no I/O.
 */
#include "flowproxy/pem.h"

#include <ctype.h>
#include <strings.h>

int pem_name_check(const char *name, char **reterr)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0)
		return errmsg_set(reterr, -EINVAL, "the certificate name is empty");
	if (n > 255)
		return errmsg_set(reterr, -EINVAL, "the certificate name is longer than 255 bytes");
	if (name[0] == '.')
		return errmsg_set(reterr, -EINVAL, "the certificate name must not start with '.'");
	for (const char *p = name; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c >= 0x7f)
			return errmsg_set(reterr, -EINVAL,
					  "the certificate name must not contain spaces, control "
					  "or non-ASCII bytes");
		if (strchr("/\\#\"'", c))
			return errmsg_set(reterr, -EINVAL,
					  "the certificate name must not contain '%c'", c);
	}
	return 0;
}

static bool is_base64_line_byte(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/' || c == '=' || c == '\r' || c == '\n' || c == ' ' || c == '\t';
}

/* The label of the "-----BEGIN <label>-----" line at p (a copy, caller frees), or NULL. */
static char *pem_label(const char *p, const char *end, const char *what, const char **ret_after)
{
	size_t wl = strlen(what);

	if ((size_t)(end - p) < wl + 5 || memcmp(p, what, wl) != 0)
		return NULL;
	const char *l = p + wl;
	const char *e = l;
	while (e < end && *e != '\n' && *e != '-')
		e++;
	if ((size_t)(end - e) < 5 || memcmp(e, "-----", 5) != 0 || e == l)
		return NULL;
	*ret_after = e + 5;
	return xstrndup(l, (size_t)(e - l));
}

int pem_check(const char *pem, size_t len, char **reterr)
{
	const char *p = pem, *end = pem + len;
	unsigned certs = 0, keys = 0;

	if (len == 0)
		return errmsg_set(reterr, -EINVAL, "the certificate is empty");
	if (len > PEM_MAX)
		return errmsg_set(reterr, -EINVAL, "the certificate is longer than %d bytes",
				  PEM_MAX);
	if (memchr(pem, '\0', len))
		return errmsg_set(reterr, -EINVAL, "the certificate contains a NUL byte");
	while (p < end) {
		const char *after = NULL;
		_cleanup_free_ char *label = NULL;

		/* Text between blocks (openssl's "Bag Attributes", comments) is ignored, as by
		 * OpenSSL's PEM reader. */
		const char *b = memmem(p, (size_t)(end - p), "-----BEGIN ", 11);
		if (!b)
			break;
		label = pem_label(b, end, "-----BEGIN ", &after);
		if (!label)
			return errmsg_set(reterr, -EINVAL, "a PEM BEGIN line is malformed");
		_cleanup_free_ char *endline = xasprintf("-----END %s-----", label);
		const char *e = memmem(after, (size_t)(end - after), endline, strlen(endline));
		if (!e)
			return errmsg_set(reterr, -EINVAL, "the PEM block '%s' has no END line",
					  label);
		size_t body = 0;
		for (const char *q = after; q < e; q++) {
			if (!is_base64_line_byte(*q))
				return errmsg_set(reterr, -EINVAL,
						  "the PEM block '%s' is not base64", label);
			if (*q != '\r' && *q != '\n' && *q != ' ' && *q != '\t')
				body++;
		}
		if (body < 4)
			return errmsg_set(reterr, -EINVAL, "the PEM block '%s' is empty", label);
		if (streq(label, "CERTIFICATE") || streq(label, "TRUSTED CERTIFICATE"))
			certs++;
		else if (streq(label, "ENCRYPTED PRIVATE KEY"))
			return errmsg_set(reterr, -EINVAL,
					  "the private key is encrypted: HAProxy needs it without "
					  "a passphrase");
		else if (streq(label, "PRIVATE KEY") || streq(label, "RSA PRIVATE KEY") ||
			 streq(label, "EC PRIVATE KEY"))
			keys++;
		p = e + strlen(endline);
	}
	if (certs == 0)
		return errmsg_set(reterr, -EINVAL,
				  "no PEM CERTIFICATE block (the body must hold the certificate, "
				  "its chain and its private key)");
	if (keys == 0)
		return errmsg_set(reterr, -EINVAL,
				  "no PEM PRIVATE KEY block (the body must hold the certificate, "
				  "its chain and its private key)");
	if (keys > 1)
		return errmsg_set(reterr, -EINVAL, "more than one private key");
	return 0;
}

char *pem_unescape(const char *v)
{
	struct strbuf b;

	strbuf_init(&b);
	for (; *v; v++) {
		if (v[0] == '\\' && v[1] == 'n') {
			strbuf_putc(&b, '\n');
			v++;
		} else {
			strbuf_putc(&b, *v);
		}
	}
	return strbuf_steal(&b);
}
