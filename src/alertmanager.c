// SPDX-License-Identifier: MIT
/*
 * alertmanager: Alertmanager's webhook_config body (its documentation, "webhook_config": version
 * "4", status, receiver, groupLabels, commonLabels, alerts[] with status and labels), read for
 * the two labels the tutorial's routes used.
 */
#include "flowproxy/alertmanager.h"

#include <cjson/cJSON.h>
#include <errno.h>

void alertmanager_done(struct alertmanager_request *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].service);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* labels[key] as a string; NULL when absent; -EINVAL in *bad when present and not a string. */
static const char *label(const cJSON *labels, const char *key, bool *bad)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(labels, key);

	if (!v)
		return NULL;
	if (!cJSON_IsString(v)) {
		*bad = true;
		return NULL;
	}
	return v->valuestring;
}

static void add(struct alertmanager_request *r, const char *service, enum autoscale_dir dir)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].dir == dir && !strcmp(r->v[i].service, service))
			return;
	r->v = xrealloc(r->v, (r->n + 1) * sizeof(*r->v));
	r->v[r->n].service = xstrdup(service);
	r->v[r->n].dir = dir;
	r->n++;
}

int alertmanager_parse(const char *body, size_t len, struct alertmanager_request *ret,
		       char **reterr)
{
	struct alertmanager_request r = {0};
	cJSON *root;
	int code = 0;

	if (len > ALERTMANAGER_BODY_MAX)
		return errmsg_set(reterr, -EMSGSIZE, "the body is over %u bytes",
				  ALERTMANAGER_BODY_MAX);
	root = cJSON_ParseWithLength(body, len);
	if (!root || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return errmsg_set(reterr, -EINVAL, "the body is not a JSON object");
	}
	const cJSON *alerts = cJSON_GetObjectItemCaseSensitive(root, "alerts");
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(root, "status");
	const cJSON *common = cJSON_GetObjectItemCaseSensitive(root, "commonLabels");
	const char *group_status = cJSON_IsString(status) ? status->valuestring : "firing";
	if (!cJSON_IsArray(alerts)) {
		code = errmsg_set(reterr, -EINVAL,
				  "the body has no 'alerts' array (an Alertmanager webhook body "
				  "was expected)");
		goto out;
	}
	if (cJSON_GetArraySize(alerts) > ALERTMANAGER_ALERTS_MAX) {
		code = errmsg_set(reterr, -EMSGSIZE, "more than %d alerts",
				  ALERTMANAGER_ALERTS_MAX);
		goto out;
	}
	const cJSON *al;
	cJSON_ArrayForEach(al, alerts)
	{
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(al, "status");
		const cJSON *labels = cJSON_GetObjectItemCaseSensitive(al, "labels");
		const char *astatus = cJSON_IsString(st) ? st->valuestring : group_status;
		bool bad = false;
		const char *service = label(labels, "service", &bad);
		const char *scale = label(labels, "scale", &bad);
		if (!service)
			service = label(common, "service", &bad);
		if (!scale)
			scale = label(common, "scale", &bad);
		if (bad) {
			code = errmsg_set(reterr, -EINVAL,
					  "a label 'service' or 'scale' is not a "
					  "string");
			goto out;
		}
		enum autoscale_dir dir = AUTOSCALE_NONE;
		if (scale && !strcmp(scale, "up"))
			dir = AUTOSCALE_UP;
		else if (scale && !strcmp(scale, "down"))
			dir = AUTOSCALE_DOWN;
		if (strcmp(astatus, "firing") != 0 || !service || !*service ||
		    dir == AUTOSCALE_NONE) {
			r.ignored++;
			continue;
		}
		add(&r, service, dir);
	}
	*ret = r;
	memset(&r, 0, sizeof(r));
out:
	alertmanager_done(&r);
	cJSON_Delete(root);
	return code;
}
