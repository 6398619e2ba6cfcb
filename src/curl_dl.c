// SPDX-License-Identifier: MIT
/*
 * curl_dl: the one place libcurl is loaded (curl_dl.h says why with dlopen). The table is filled
 * once under pthread_once, so the modules that use it may start in any order and on any thread.
 */
#include "flowproxy/curl_dl.h"
#include "flowproxy/util.h"

#include <dlfcn.h>
#include <pthread.h>

struct curl_dl_table curl_dl;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static bool curl_ok;
static char curl_load_error[256];

/* dlopen libcurl and resolve every function of the table. */
static void curl_init_once(void)
{
	void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	const char *missing = NULL;

	if (!h) {
		snprintf(curl_load_error, sizeof(curl_load_error), "%s", dlerror());
		return;
	}
#define CURL_SYM(field, name)                              \
	do {                                               \
		*(void **)&curl_dl.field = dlsym(h, name); \
		if (!curl_dl.field && !missing)            \
			missing = name;                    \
	} while (0)
	CURL_SYM(global_init, "curl_global_init");
	CURL_SYM(easy_init, "curl_easy_init");
	CURL_SYM(easy_cleanup, "curl_easy_cleanup");
	CURL_SYM(easy_escape, "curl_easy_escape");
	CURL_SYM(easy_getinfo, "curl_easy_getinfo");
	CURL_SYM(easy_setopt, "curl_easy_setopt");
	CURL_SYM(easy_strerror, "curl_easy_strerror");
	CURL_SYM(free_, "curl_free");
	CURL_SYM(multi_add_handle, "curl_multi_add_handle");
	CURL_SYM(multi_assign, "curl_multi_assign");
	CURL_SYM(multi_cleanup, "curl_multi_cleanup");
	CURL_SYM(multi_info_read, "curl_multi_info_read");
	CURL_SYM(multi_init, "curl_multi_init");
	CURL_SYM(multi_remove_handle, "curl_multi_remove_handle");
	CURL_SYM(multi_setopt, "curl_multi_setopt");
	CURL_SYM(multi_socket_action, "curl_multi_socket_action");
	CURL_SYM(slist_append, "curl_slist_append");
	CURL_SYM(slist_free_all, "curl_slist_free_all");
#undef CURL_SYM
	if (missing) {
		snprintf(curl_load_error, sizeof(curl_load_error), "libcurl.so.4 lacks %s",
			 missing);
		return;
	}
	curl_dl.global_init(CURL_GLOBAL_DEFAULT);
	curl_ok = true;
}

int curl_dl_load(char **reterr)
{
	pthread_once(&curl_once, curl_init_once);
	if (!curl_ok)
		return errmsg_set(reterr, -ENOENT, "cannot load libcurl: %s", curl_load_error);
	return 0;
}
