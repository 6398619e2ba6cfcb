/* SPDX-License-Identifier: MIT */
/*
 * fuzz_check: the invariants of an accepted service, for the fuzz targets (fuzz_labels,
 * fuzz_local). Each failed invariant aborts with __builtin_trap, so libFuzzer keeps the input:
 *   - no field holds a control byte (the renderer pastes them into haproxy.cfg lines);
 *   - names are words HAProxy reads as one (no space, '#', quote or backslash), header names
 *     RFC 7230 tokens, ports and codes in range, reqMode http/tcp/sni (tcp and sni with a
 *     srcPort and a port), serviceGroup a word, discoveryType DNS/VIP/none;
 *   - the service is its own raw parameters: parsing s->raw again gives the same service, and
 *     service_dup an equal one (compared as JSON, the random dummyUser password aside);
 *   - a refused parse says why, with a 400 or 409 and a message without control bytes.
 */
#pragma once

#include "flowproxy/labels.h"

#include <cjson/cJSON.h>
#include <ctype.h>

#define FUZZ_CHECK(cond)                  \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

static bool fuzz_clean(const char *v)
{
	for (; v && *v; v++)
		if ((unsigned char)*v < 0x20 || (unsigned char)*v == 0x7f)
			return false;
	return true;
}

/* Set, clean, and one word of a configuration line. */
static bool fuzz_word(const char *v)
{
	return v && *v && fuzz_clean(v) && !strpbrk(v, " #\"'\\");
}

static bool fuzz_header_name(const char *v)
{
	if (!v || !*v)
		return false;
	for (; *v; v++)
		if (!isalnum((unsigned char)*v) && !strchr("!$%&*+-.^_`|~", *v))
			return false;
	return true;
}

static bool fuzz_number(const char *v, long lo, long hi)
{
	long n = 0;

	if (!v || !*v || strlen(v) > 9)
		return false;
	for (const char *p = v; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return false;
		n = n * 10 + (*p - '0');
	}
	return n >= lo && n <= hi;
}

static void fuzz_check_headers(const struct service_header *h, size_t n, bool with_value)
{
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(fuzz_header_name(h[i].name));
		if (with_value)
			FUZZ_CHECK(h[i].value && fuzz_clean(h[i].value));
		else
			FUZZ_CHECK(h[i].value == NULL);
		/* A condition starts with if or unless and is clean (its words are re-quoted). */
		FUZZ_CHECK(!h[i].cond ||
			   ((!strncmp(h[i].cond, "if ", 3) || !strncmp(h[i].cond, "unless ", 7)) &&
			    fuzz_clean(h[i].cond)));
	}
}

static void fuzz_check_words(const struct strv *v)
{
	for (size_t i = 0; i < v->n; i++)
		FUZZ_CHECK(fuzz_clean(v->v[i]) && *v->v[i] && !strpbrk(v->v[i], " #\"'"));
}

/* The service as JSON text with dummyUser's random password blanked (caller frees). */
static char *fuzz_json(const struct service *s)
{
	cJSON *j = service_to_json_named(s);
	cJSON *u;
	char *txt;

	FUZZ_CHECK(j != NULL);
	cJSON_ArrayForEach(u, cJSON_GetObjectItemCaseSensitive(j, "Users"))
	{
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(u, "Username");

		if (cJSON_IsString(name) && streq(name->valuestring, "dummyUser"))
			cJSON_ReplaceItemInObjectCaseSensitive(u, "Password",
							       cJSON_CreateString(""));
	}
	txt = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	FUZZ_CHECK(txt != NULL);
	return txt;
}

static void fuzz_check_service(const struct service *s, const struct labels_ctx *ctx)
{
	static const char *const codes[] = {"301", "302", "303", "307", "308"};

	FUZZ_CHECK(fuzz_word(s->name));
	FUZZ_CHECK(fuzz_word(s->acl_name));
	FUZZ_CHECK(fuzz_word(s->domain_algo));
	FUZZ_CHECK(!s->discovery_type || streq(s->discovery_type, "DNS") ||
		   streq(s->discovery_type, "VIP"));
	fuzz_check_headers(s->add_req_headers, s->n_add_req_headers, true);
	fuzz_check_headers(s->set_req_headers, s->n_set_req_headers, true);
	fuzz_check_headers(s->del_req_headers, s->n_del_req_headers, false);
	fuzz_check_headers(s->add_res_headers, s->n_add_res_headers, true);
	fuzz_check_headers(s->set_res_headers, s->n_set_res_headers, true);
	fuzz_check_headers(s->del_res_headers, s->n_del_res_headers, false);
	for (size_t i = 0; i < s->n_users; i++) {
		FUZZ_CHECK(fuzz_word(s->users[i].name) && !strpbrk(s->users[i].name, ",:"));
		FUZZ_CHECK(fuzz_word(s->users[i].password) && !strchr(s->users[i].password, ','));
	}
	FUZZ_CHECK(s->replicas >= -1);
	FUZZ_CHECK(s->n_dests >= 1 && s->n_dests <= SERVICE_DEST_MAX);
	for (size_t i = 0; i < s->n_dests; i++) {
		const struct service_dest *d = &s->dests[i];
		bool code_ok = !d->https_redirect_code;

		FUZZ_CHECK(d->index >= 0 && d->index <= SERVICE_DEST_MAX);
		FUZZ_CHECK(!d->port || fuzz_number(d->port, 1, 65535));
		FUZZ_CHECK(d->src_port >= 0 && d->src_port <= 65535);
		fuzz_check_words(&d->paths);
		fuzz_check_words(&d->path_excludes);
		fuzz_check_words(&d->domains);
		bool http = d->req_mode && streq(d->req_mode, "http");

		/* DFP's validation: the first http destination has a path (a domain implies "/"). */
		FUZZ_CHECK(i > 0 || !http || d->paths.n > 0);
		FUZZ_CHECK(fuzz_clean(d->path_type) && d->path_type && *d->path_type);
		FUZZ_CHECK(http || (d->req_mode &&
				    (streq(d->req_mode, "tcp") || streq(d->req_mode, "sni"))));
		FUZZ_CHECK(http || (d->src_port > 0 && d->port));
		FUZZ_CHECK(!d->service_group || fuzz_word(d->service_group));
		FUZZ_CHECK(d->timeout_client >= 0 && d->timeout_client <= 2147483);
		for (size_t k = 0; k < d->n_path_replace; k++) {
			const struct service_path_replace *r = &d->path_replace[k];

			FUZZ_CHECK(*r->search && fuzz_clean(r->search) && fuzz_clean(r->replace));
			/* Rendered inside '...' and "...": no quote, space or '#'. */
			FUZZ_CHECK(!strpbrk(r->search, " #\"'") && !strpbrk(r->replace, " #\"'"));
		}
		FUZZ_CHECK(!d->outbound_hostname || fuzz_word(d->outbound_hostname));
		for (size_t k = 0; k < ARRAY_SIZE(codes); k++)
			code_ok |=
				d->https_redirect_code && streq(d->https_redirect_code, codes[k]);
		FUZZ_CHECK(code_ok);
		FUZZ_CHECK(d->timeout_server >= 0 && d->timeout_server <= 2147483);
		FUZZ_CHECK(d->timeout_tunnel >= 0 && d->timeout_tunnel <= 2147483);
		fuzz_check_words(&d->user_agents);
		fuzz_check_words(&d->redirect_from_domains);
		FUZZ_CHECK(!d->redirect_from_domains.n || d->domains.n);
		for (size_t k = 0; k < d->allowed_methods.n; k++)
			FUZZ_CHECK(fuzz_header_name(d->allowed_methods.v[k]));
		for (size_t k = 0; k < d->denied_methods.n; k++)
			FUZZ_CHECK(fuzz_header_name(d->denied_methods.v[k]));
		for (size_t k = 0; k < d->n_service_headers; k++)
			FUZZ_CHECK(fuzz_header_name(d->service_headers[k].name) &&
				   fuzz_word(d->service_headers[k].value));
		FUZZ_CHECK(!d->user_def || fuzz_clean(d->user_def));
	}
	/* backendExtra is the one multi-line value: LF only, no other control byte. */
	for (const char *c = s->backend_extra; c && *c; c++)
		FUZZ_CHECK(*c == '\n' || ((unsigned char)*c >= 0x20 && (unsigned char)*c != 0x7f));
	FUZZ_CHECK(!s->connection_mode || fuzz_word(s->connection_mode));
	FUZZ_CHECK(!s->compression_algo || fuzz_clean(s->compression_algo));
	FUZZ_CHECK(!s->compression_type || fuzz_clean(s->compression_type));
	/* A template path has no ".." component: a relative one stays in the templates dir. */
	const char *tp[] = {s->template_fe_path, s->template_be_path};
	for (size_t i = 0; i < ARRAY_SIZE(tp); i++) {
		if (!tp[i])
			continue;
		FUZZ_CHECK(*tp[i] && fuzz_clean(tp[i]) && !str_endswith(tp[i], "/"));
		for (const char *c = tp[i]; *c;) {
			size_t n = strcspn(c, "/");
			FUZZ_CHECK(!(n == 2 && c[0] == '.' && c[1] == '.'));
			c += n;
			c += *c == '/';
		}
	}
	FUZZ_CHECK(!s->template_fe && !s->template_be); /* only the edge reads the files */

	/* Its raw parameters give the same service; a copy is equal. */
	struct service *again = NULL, *copy = service_dup(s);
	char *err = NULL;
	int status = -1;

	FUZZ_CHECK(labels_parse(&s->raw, ctx, &again, &status, &err) == 0 && status == 0);
	char *a = fuzz_json(s), *b = fuzz_json(again), *c = fuzz_json(copy);

	FUZZ_CHECK(streq(a, b) && streq(a, c));
	FUZZ_CHECK(again->raw.n == s->raw.n && copy->raw.n == s->raw.n);
	free(a);
	free(b);
	free(c);
	free(err);
	service_free(again);
	service_free(copy);
}

/* labels_parse of p: an accepted service keeps the invariants, a refusal says why. */
static void fuzz_parse_checked(const struct params *p, const struct labels_ctx *ctx)
{
	struct service *s = (struct service *)1;
	char *err = NULL;
	int status = -1;

	if (labels_parse(p, ctx, &s, &status, &err) == 0) {
		FUZZ_CHECK(s && status == 0);
		fuzz_check_service(s, ctx);
		service_free(s);
	} else {
		FUZZ_CHECK(s == NULL && err && *err && fuzz_clean(err));
		FUZZ_CHECK(status == 400 || status == 409);
	}
	free(err);
}
