// SPDX-License-Identifier: MIT
/* Unit tests for top_format: the table from a stats reply, and malformed replies. */
#include "flowproxy/top.h"
#include "tap.h"

#include <cjson/cJSON.h>

int main(void)
{
	const char *ok =
		"{\"window_s\":300,\"services\":[{\"name\":\"web\",\"backends\":[{\"name\":"
		"\"web-be80_0\",\"count\":1234,\"rate\":4.1,\"p50_ms\":12,\"p90_ms\":40,"
		"\"p99_ms\":95.5,\"errors_5xx\":3,\"servers_up\":2,\"servers_down\":1,"
		"\"fractions\":[{\"le_s\":0.1,\"fraction\":0.995}]}]}],"
		"\"telemetry\":{\"connected\":true,\"lines\":1234,\"dropped\":0}}";
	cJSON *j = cJSON_Parse(ok);
	struct strbuf out;
	char *err = NULL;

	strbuf_init(&out);
	tap_is_int(top_format(j, &out, &err), 0, "formats a stats reply");
	const char *t = strbuf_str(&out);
	tap_ok(strstr(t, "SERVICE") && strstr(t, "P99ms"), "header row");
	tap_ok(strstr(t, "web-be80_0") != NULL, "backend row");
	tap_ok(strstr(t, "1234") != NULL, "count shown");
	tap_ok(strstr(t, "95.5") != NULL, "p99 shown");
	tap_ok(strstr(t, "2/1") != NULL, "servers up/down shown");
	tap_ok(strstr(t, "0.1s:99.5%") != NULL, "threshold fraction shown");
	tap_ok(strstr(t, "stream connected") != NULL, "stream state shown");
	cJSON_Delete(j);
	strbuf_done(&out);

	const char *bad[] = {"{}", "{\"services\":{}}", "{\"services\":[{\"name\":1}]}"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		j = cJSON_Parse(bad[i]);
		strbuf_init(&out);
		tap_is_int(top_format(j, &out, &err), -EBADMSG, bad[i]);
		cJSON_Delete(j);
		strbuf_done(&out);
	}
	free(err);
	err = NULL;
	/* The autoscaler's table. */
	static const char as[] =
		"{\"mode\":\"dry-run\",\"interval\":1,\"acting\":true,\"services\":[{\"service\":"
		"\"demo\",\"scaler\":\"local\",\"replicas\":{\"wanted\":3,\"running\":2},\"scaling\":"
		"true,\"limits\":{\"scaleMin\":2,\"scaleMax\":4},\"policies\":[{\"key\":\"alertIf.2\","
		"\"direction\":\"up\",\"state\":\"pending\",\"holdingFor\":4,\"terms\":[{\"shortcut\":"
		"\"resp_time_above\",\"window\":30,\"seconds\":0.1,\"fraction\":0.99,\"value\":0.93,"
		"\"requests\":1204}]},{\"key\":\"alertIf.3\",\"direction\":\"down\",\"state\":\"no "
		"data\",\"terms\":[{\"shortcut\":\"resp_time_below\",\"window\":30,\"seconds\":0.025,"
		"\"fraction\":0.75,\"value\":null,\"requests\":3},{\"op\":\"unless\",\"shortcut\":"
		"\"resp_time_quantile_above\",\"window\":30,\"seconds\":0.1,\"quantile\":0.9,"
		"\"value\":null,\"requests\":3}]}],\"decisions\":[{\"at\":\"2026-12-01T10:00:00Z\","
		"\"action\":\"up\",\"from\":2,\"to\":3,\"reason\":\"alertIf.2: slow\",\"result\":"
		"\"dry run\"}]}]}";
	cJSON *aj = cJSON_Parse(as);
	strbuf_reset(&out);
	tap_is_int(top_format_autoscale(aj, &out, &err), 0, "formats an autoscale reply");
	t = strbuf_str(&out);
	tap_ok(strstr(t, "autoscale dry-run, every 1s") != NULL, "autoscale: the mode");
	tap_ok(strstr(t, "2/3*") != NULL, "autoscale: running/wanted, scaling");
	tap_ok(strstr(t, "2..4") != NULL, "autoscale: the limits");
	tap_ok(strstr(t, "pending 4s") != NULL, "autoscale: a policy's state and since");
	tap_ok(strstr(t, "0.93 (1204)") != NULL, "autoscale: the value and its requests");
	tap_ok(strstr(t, "< 0.99 within 0.1s over 30s") != NULL, "autoscale: the threshold");
	tap_ok(strstr(t, "> 0.75 within 0.025s over 30s unless p90 > 0.1s over 30s") != NULL,
	       "autoscale: a compound policy");
	tap_ok(strstr(t, "last: 2026-12-01T10:00:00Z up 2 -> 3, dry run: alertIf.2: slow") != NULL,
	       "autoscale: the last decision");
	if (tap_failed)
		tap_diag("%s", t);
	cJSON_Delete(aj);
	aj = cJSON_Parse("{\"services\":5}");
	tap_is_int(top_format_autoscale(aj, &out, &err), -EBADMSG, "autoscale: a wrong shape");
	cJSON_Delete(aj);
	free(err);
	strbuf_done(&out);
	return tap_done();
}
