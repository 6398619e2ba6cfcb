// SPDX-License-Identifier: MIT
/*
 * Unit tests for certsync_pick: of the peers' GET /certs answers, the one with the most
 * acceptable certificates, and only those (names and PEM checked as PUT /cert checks them).
 */
#include "flowproxy/certsync.h"
#include "flowproxy/util.h"
#include "tap.h"

/* Not a real certificate: the check is about PEM structure; HAProxy checks the rest. */
#define PEM                                                                                 \
	"-----BEGIN CERTIFICATE-----\\nMIIBszCCAVmgAwIBAgIU\\nAbCd+/==\\n-----END "         \
	"CERTIFICATE-----\\n-----BEGIN PRIVATE KEY-----\\nMIGHAgEAMBMGByqGSM49\\n-----END " \
	"PRIVATE KEY-----\\n"
#define ENTRY(name, pem)                                                                   \
	"{\"ServicePort\":\"\",\"ProxyServiceName\":\"" name "\",\"CertsDir\":\"/certs\"," \
	"\"CertContent\":\"" pem "\"}"

int main(void)
{
	const char *bodies[] = {
		"{\"Status\":\"OK\",\"Message\":\"\",\"Certs\":[" ENTRY("a.pem", PEM) "]}",
		"", /* a replica that did not answer */
		"{\"Status\":\"OK\",\"Message\":\"\",\"Certs\":[" ENTRY("a.pem", PEM) "," ENTRY(
			"b.pem", PEM) "," ENTRY("../evil", PEM) "," ENTRY("c.pem",
									  "not a pem") "]}",
		"not json",
		"{\"Status\":\"OK\",\"Message\":\"\",\"Certs\":[]}",
	};
	struct certsync_cert *v = NULL;
	size_t n = certsync_pick(bodies, ARRAY_SIZE(bodies), &v);

	tap_is_int((long long)n, 2, "the answer with the most acceptable certificates: two");
	if (n == 2) {
		tap_is_str(v[0].name, "a.pem", "its first certificate");
		tap_is_str(v[1].name, "b.pem", "its second; '../evil' and a non-PEM are left out");
		tap_ok(strstr(v[1].pem, "-----BEGIN PRIVATE KEY-----\n") != NULL,
		       "the content is the PEM, JSON escapes undone");
	}
	certsync_certs_free(v, n);

	const char *none[] = {"", "{\"Certs\":null}", "{\"Certs\":[" ENTRY(".hidden", PEM) "]}"};
	v = (struct certsync_cert *)1;
	n = certsync_pick(none, ARRAY_SIZE(none), &v);
	tap_ok(n == 0 && v == NULL, "no acceptable certificate anywhere: none");
	n = certsync_pick(NULL, 0, &v);
	tap_ok(n == 0 && v == NULL, "no peers: none");
	return tap_done();
}
