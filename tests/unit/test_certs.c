// SPDX-License-Identifier: MIT
/*
 * Unit tests for certs: certificate names, the PEM check, PREFERRED_CERTIFICATE globs and
 * ordering, the crt-list text, serviceCert's unescaping, and the scan of a certs directory and
 * a secrets directory (temporary ones).
 */
#include "flowproxy/certs.h"
#include "flowproxy/render.h"
#include "tap.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Not a real certificate: the check is about PEM structure; HAProxy checks the rest. */
#define CERT \
	"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\nAbCd+/==\n-----END CERTIFICATE-----\n"
#define KEY "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n"

static void test_names(void)
{
	static const struct {
		const char *name;
		bool ok;
	} cases[] = {
		{"example.com.pem", true},
		{"*.example.com", true},
		{"cert_a-b+c@d", true},
		{"", false},
		{".", false},
		{"..", false},
		{".hidden", false},
		{"a/b", false},
		{"../etc/passwd", false},
		{"a\\b", false},
		{"a b", false},
		{"a\nb", false},
		{"a\tb", false},
		{"a#b", false},
		{"a\"b", false},
		{"caf\xc3\xa9", false},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *err = NULL;
		int r = pem_name_check(cases[i].name, &err);
		/* Control bytes would break the TAP line: shown as '?'. */
		char shown[64];
		snprintf(shown, sizeof(shown), "%s", cases[i].name);
		for (char *c = shown; *c; c++)
			if ((unsigned char)*c < 0x20)
				*c = '?';
		tap_ok((r == 0) == cases[i].ok, "certName '%s' %s%s%s", shown,
		       cases[i].ok ? "accepted" : "refused", err ? ": " : "", err ? err : "");
		free(err);
	}
	char *err = NULL;
	char long_name[300];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	tap_ok(pem_name_check(long_name, &err) < 0, "a 299-byte certName is refused");
	free(err);
}

static void test_pem(void)
{
	static const struct {
		const char *name;
		const char *pem;
		const char *err; /* NULL: accepted; else a part of the message */
	} cases[] = {
		{"certificate then key", CERT KEY, NULL},
		{"key then certificate", KEY CERT, NULL},
		{"chain and RSA key",
		 CERT CERT
		 "-----BEGIN RSA PRIVATE KEY-----\nMIIEow==\n-----END RSA PRIVATE KEY-----\n",
		 NULL},
		{"EC key with parameters",
		 "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END "
		 "EC PARAMETERS-----\n" CERT
		 "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC "
		 "PRIVATE KEY-----\n",
		 NULL},
		{"CRLF line ends",
		 "-----BEGIN CERTIFICATE-----\r\nMIIBszCC\r\n-----END "
		 "CERTIFICATE-----\r\n-----BEGIN PRIVATE KEY-----\r\nMIGHAgEA\r\n"
		 "-----END PRIVATE KEY-----\r\n",
		 NULL},
		{"text between blocks", "Bag Attributes\n" CERT "subject=/CN=x\n" KEY, NULL},
		{"empty", "", "empty"},
		{"not PEM", "hello world", "no PEM CERTIFICATE"},
		{"certificate only", CERT, "no PEM PRIVATE KEY"},
		{"key only", KEY, "no PEM CERTIFICATE"},
		{"two keys", CERT KEY KEY, "more than one private key"},
		{"encrypted key",
		 CERT "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHzBJ\n-----END ENCRYPTED PRIVATE "
		      "KEY-----\n",
		 "encrypted"},
		{"no END line", CERT "-----BEGIN PRIVATE KEY-----\nMIGHAgEA\n", "no END line"},
		{"END of another block",
		 "-----BEGIN CERTIFICATE-----\nMIIB\n-----END PRIVATE KEY-----\n" KEY,
		 "no END line"},
		{"not base64",
		 "-----BEGIN CERTIFICATE-----\nMII$%^\n-----END CERTIFICATE-----\n" KEY,
		 "not base64"},
		{"empty body", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n" KEY,
		 "empty"},
		{"malformed BEGIN", "-----BEGIN CERTIFICATE\nMIIB\n" KEY, "malformed"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *err = NULL;
		int r = pem_check(cases[i].pem, strlen(cases[i].pem), &err);
		if (!cases[i].err)
			tap_ok(r == 0, "PEM %s accepted%s%s", cases[i].name, err ? ": " : "",
			       err ? err : "");
		else
			tap_ok(r == -EINVAL && err && strstr(err, cases[i].err),
			       "PEM %s refused: %s", cases[i].name, err ? err : "(no message)");
		free(err);
	}
	char *err = NULL;
	const char nul[] = CERT "\0" KEY;
	tap_ok(pem_check(nul, sizeof(nul) - 1, &err) < 0 && strstr(err, "NUL"),
	       "PEM with a NUL byte refused");
	free(err);
	err = NULL;
	size_t big = CERTS_PEM_MAX + 1;
	char *b = xcalloc(1, big + 1);
	memset(b, 'A', big);
	tap_ok(pem_check(b, big, &err) < 0 && strstr(err, "longer"),
	       "PEM over CERTS_PEM_MAX refused");
	free(b);
	free(err);
}

static void test_glob_order(void)
{
	static const struct {
		const char *glob, *name;
		bool match;
	} globs[] = {
		{"*", "anything", true},
		{"a.pem", "a.pem", true},
		{"a.pem", "b.pem", false},
		{"*.example.com*", "www.example.com.pem", true},
		{"*.example.com", "example.com", false},
		{"cert-*", "cert-x", true},
		{"cert-*", "xcert-x", false},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
		{"**", "", true},
	};

	for (size_t i = 0; i < ARRAY_SIZE(globs); i++)
		tap_ok(certs_glob_match(globs[i].glob, globs[i].name) == globs[i].match,
		       "glob '%s' %s '%s'", globs[i].glob, globs[i].match ? "matches" : "misses",
		       globs[i].name);

	static const struct {
		const char *preferred;
		const char *want;
	} orders[] = {
		{"", "/c/a.pem\n/c/b.pem\n/c/www.test\n/s/cert-z\n"},
		{"www.*", "/c/www.test\n/c/a.pem\n/c/b.pem\n/s/cert-z\n"},
		{" cert-* , b.pem", "/s/cert-z\n/c/b.pem\n/c/a.pem\n/c/www.test\n"},
		{"nomatch", "/c/a.pem\n/c/b.pem\n/c/www.test\n/s/cert-z\n"},
		{"*.pem", "/c/a.pem\n/c/b.pem\n/c/www.test\n/s/cert-z\n"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(orders); i++) {
		struct certs_list l = {0};
		certs_list_add(&l, "/c/a.pem", "a.pem", false);
		certs_list_add(&l, "/c/b.pem", "b.pem", false);
		certs_list_add(&l, "/c/www.test", "www.test", false);
		certs_list_add(&l, "/s/cert-z", "cert-z", true);
		certs_order(&l, orders[i].preferred);
		char *text = certs_crt_list(&l);
		tap_is_str(text, orders[i].want, orders[i].preferred);
		free(text);
		certs_list_done(&l);
	}
	struct certs_list none = {0};
	char *text = certs_crt_list(&none);
	tap_is_str(text, "", "no certificate: an empty crt-list");
	free(text);
}

static void test_unescape(void)
{
	char *u = pem_unescape("-----BEGIN X-----\\nQUJD\\n-----END X-----\\n");
	tap_is_str(u, "-----BEGIN X-----\nQUJD\n-----END X-----\n",
		   "serviceCert's \\n become newlines");
	free(u);
	u = pem_unescape("a\\tb\\");
	tap_is_str(u, "a\\tb\\", "other backslashes are kept");
	free(u);
}

static void put(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	tap_ok(write_file_atomic(path, text, strlen(text)) == 0, "fixture %s written", name);
	free(path);
}

static void test_scan(void)
{
	char tmpl[] = "/tmp/fp-certs.XXXXXX";
	char *root = mkdtemp(tmpl);
	char *certs = xasprintf("%s/certs", root);
	char *secrets = xasprintf("%s/secrets", root);
	char *sub = xasprintf("%s/certs/subdir", root);
	struct certs_list l = {0};
	struct strv skipped = {0};
	uint64_t h1 = 0, h2 = 0, h3 = 0;

	mkdir(certs, 0700);
	mkdir(secrets, 0700);
	mkdir(sub, 0700);
	put(certs, "b.test", CERT KEY);
	put(certs, "a.test", CERT KEY);
	put(certs, ".a.test.new", CERT KEY);
	put(certs, "broken", "not a certificate");
	put(secrets, "CERT_one", CERT KEY);
	put(secrets, "cert-two", CERT KEY);
	put(secrets, "dfp_users", CERT KEY);
	put(secrets, "certificate", CERT KEY);

	certs_scan(certs, secrets, "", &l, &skipped, &h1);
	char *text = certs_crt_list(&l);
	char *want = xasprintf("%s/a.test\n%s/b.test\n%s/CERT_one\n%s/cert-two\n", certs, certs,
			       secrets, secrets);
	tap_is_str(text, want,
		   "scan: certs dir by name, then cert-*/cert_* secrets; dot files, other secrets, "
		   "directories and non-certificates left out");
	tap_ok(l.n == 4 && !l.v[0].secret && l.v[2].secret, "scan: secrets are marked");
	tap_ok(skipped.n == 1 && strstr(skipped.v[0], "broken") &&
		       strstr(skipped.v[0], "no PEM CERTIFICATE"),
	       "scan: the broken file is skipped with why (%s)", skipped.n ? skipped.v[0] : "");
	free(text);
	free(want);
	certs_list_done(&l);
	strv_done(&skipped);

	certs_scan(certs, secrets, "cert-*", &l, NULL, &h2);
	tap_ok(l.n == 4 && streq(l.v[0].name, "cert-two") && streq(l.v[1].name, "a.test"),
	       "scan: PREFERRED_CERTIFICATE puts cert-two first");
	tap_ok(h1 == h2, "scan: the hash does not depend on the order");
	certs_list_done(&l);

	put(certs, "a.test", KEY CERT);
	certs_scan(certs, secrets, "", &l, NULL, &h3);
	tap_ok(h3 != h1, "scan: a changed certificate changes the hash");
	certs_list_done(&l);

	char *err = NULL;
	tap_is_int(certs_write(certs, "c.test", CERT KEY, strlen(CERT KEY), &err), 1,
		   "certs_write writes a new file");
	tap_is_int(certs_write(certs, "c.test", CERT KEY, strlen(CERT KEY), &err), 0,
		   "certs_write leaves the same content alone");
	char *cpath = xasprintf("%s/c.test", certs);
	struct stat st;
	tap_ok(stat(cpath, &st) == 0 && (st.st_mode & 0777) == 0600,
	       "certs_write: the key is readable by its owner only");
	free(cpath);
	char *nodir = xasprintf("%s/new", root);
	tap_is_int(certs_write(nodir, "d.test", CERT KEY, strlen(CERT KEY), &err), 1,
		   "certs_write creates the certs directory");
	free(nodir);
	free(err);

	certs_scan("/nonexistent/certs", "/nonexistent/secrets", "", &l, NULL, NULL);
	tap_is_int((long long)l.n, 0, "scan: missing directories list nothing");
	certs_list_done(&l);

	char *cmd = xasprintf("rm -rf %s", root);
	tap_ok(system(cmd) == 0, "cleanup");
	free(cmd);
	free(certs);
	free(secrets);
	free(sub);
}

/* certs_refresh + render: what the :ssl bind gets in each case, and the crt-list it writes. */
static char *render_with(struct certs_state *st, char **env)
{
	struct config cfg;
	struct render *r = NULL;
	char *err = NULL;
	struct strbuf out;
	const char *src = getenv("FLOWPROXY_SOURCE_ROOT");
	char *tdir = xasprintf("%s/templates", src ? src : ".");

	strbuf_init(&out);
	if (config_load(&cfg, 0, NULL, env, &err) < 0 ||
	    render_new(tdir, "haproxy.tmpl", &r, &err) < 0) {
		tap_ok(false, "config and templates load: %s", err);
	} else {
		certs_refresh(st, &cfg, r);
		render_config(r, &cfg, NULL, 0, &out, NULL, &err);
	}
	render_free(r);
	config_done(&cfg);
	free(tdir);
	free(err);
	return strbuf_steal(&out);
}

static void test_refresh(void)
{
	char tmpl[] = "/tmp/fp-refresh.XXXXXX";
	char *root = mkdtemp(tmpl);
	char *certs = xasprintf("%s/certs", root), *cfgdir = xasprintf("%s/cfg", root);
	char *e_certs = xasprintf("CERTS_DIR=%s", certs);
	char *e_cfg = xasprintf("CONFIGS_PATH=%s", cfgdir);
	char *e_sec = xasprintf("FLOWPROXY_SECRETS_DIR=%s/none", root);
	char *list = xasprintf("%s/crt-list.txt", cfgdir);
	char *env[8] = {"DEFAULT_PORTS=8000,8443:ssl", e_certs, e_cfg, e_sec,
			"PREFERRED_CERTIFICATE=b*",    NULL};
	struct certs_state st = {.unbound = -1};
	char *text = NULL, *out;

	mkdir(certs, 0700);
	out = render_with(&st, env);
	tap_ok(strstr(out, "bind *:8000\n") && !strstr(out, "8443"),
	       "refresh: no certificate, the :ssl port is not bound");
	tap_is_int(st.unbound, 1, "refresh: the unbound ports are noted (logged once)");
	free(out);

	put(certs, "a.test", CERT KEY);
	put(certs, "b.test", CERT KEY);
	out = render_with(&st, env);
	char *bind = xasprintf("bind *:8443 ssl crt-list %s alpn h2,http/1.1\n", list);
	tap_ok(strstr(out, bind) != NULL, "refresh: the :ssl bind loads flowproxy's crt-list");
	tap_ok(strstr(out, "\n# certificates ") != NULL,
	       "refresh: the certificates' hash is in the file");
	tap_is_int(st.unbound, 0, "refresh: the port is bound now");
	tap_ok(read_file(list, 4096, &text, NULL) == 0, "refresh: the crt-list is written");
	char *want = xasprintf("%s/b.test\n%s/a.test\n", certs, certs);
	tap_is_str(text, want, "refresh: the crt-list has the preferred certificate first");
	free(want);
	free(text);
	free(bind);

	/* A changed certificate changes the file HAProxy gets, so that it reloads. */
	const char *h1 = strstr(out, "# certificates ");
	char *before = xstrdup(h1 ? h1 : "");
	free(out);
	put(certs, "a.test", KEY CERT);
	out = render_with(&st, env);
	const char *h2 = strstr(out, "# certificates ");
	tap_ok(h2 && !streq(h2, before), "refresh: a changed certificate changes the hash line");
	free(before);
	free(out);

	/* CRT_LIST_PATH: the user's list, as it is; flowproxy writes none. */
	char *ulist = xasprintf("%s/mine.txt", root);
	char *uline = xasprintf("%s/a.test [alpn h2]\n# a comment\n", certs);
	tap_ok(write_file_atomic(ulist, uline, strlen(uline)) == 0, "a user crt-list");
	char *e_list = xasprintf("CRT_LIST_PATH=%s", ulist);
	char *env2[8] = {"DEFAULT_PORTS=8000,8443:ssl",
			 e_certs,
			 e_cfg,
			 e_sec,
			 e_list,
			 "ENABLE_H2=false",
			 NULL};
	struct certs_state st2 = {.unbound = -1};
	unlink(list);
	out = render_with(&st2, env2);
	bind = xasprintf("bind *:8443 ssl crt-list %s alpn http/1.1\n", ulist);
	tap_ok(strstr(out, bind) != NULL, "refresh: CRT_LIST_PATH is the :ssl bind's list");
	tap_ok(access(list, F_OK) != 0, "refresh: with CRT_LIST_PATH flowproxy writes no list");
	h1 = strstr(out, "# certificates ");
	before = xstrdup(h1 ? h1 : "");
	free(out);
	put(certs, "a.test", CERT KEY);
	out = render_with(&st2, env2);
	h2 = strstr(out, "# certificates ");
	tap_ok(h2 && !streq(h2, before),
	       "refresh: a changed certificate the user's list names changes the hash line");
	free(before);
	free(out);
	free(bind);
	certs_state_done(&st);
	certs_state_done(&st2);

	char *cmd = xasprintf("rm -rf %s", root);
	tap_ok(system(cmd) == 0, "cleanup");
	free(cmd);
	free(certs);
	free(cfgdir);
	free(e_certs);
	free(e_cfg);
	free(e_sec);
	free(e_list);
	free(list);
	free(ulist);
	free(uline);
}

int main(void)
{
	test_names();
	test_pem();
	test_glob_order();
	test_unescape();
	test_scan();
	test_refresh();
	return tap_done();
}
