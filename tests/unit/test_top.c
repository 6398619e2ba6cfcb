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
	return tap_done();
}
