/* SPDX-License-Identifier: MIT */
/*
 * curl_dl: libcurl, loaded with dlopen on first use, for the modules that speak HTTP through it
 * (curl_loop.c, docker.c, webhook.c, httpc.c). A private header: only those files include it,
 * directly or through curl_loop.h.
 *
 * Why dlopen: libcurl brings about twenty shared libraries (TLS, LDAP, Kerberos, ...) whose
 * pages would count in the daemon's memory even when it never talks to Docker or to a webhook.
 * The curl_* names below are redirected to the loaded functions (curl.h's type-checking macros
 * are dropped for them), so a file that includes this header calls libcurl as usual once
 * curl_dl_load succeeded.
 */
#pragma once

#include <curl/curl.h>

/* The libcurl functions flowproxy calls; filled by curl_dl_load. */
struct curl_dl_table {
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *);
	char *(*easy_escape)(CURL *, const char *, int);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	const char *(*easy_strerror)(CURLcode);
	void (*free_)(void *);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_assign)(CURLM *, curl_socket_t, void *);
	CURLMcode (*multi_cleanup)(CURLM *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
	CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
};

/* Valid (every pointer set) once curl_dl_load returned 0; never changed after. */
extern struct curl_dl_table curl_dl;

/*
 * Loads libcurl.so.4, resolves every function of the table and runs curl_global_init, once per
 * process (later calls return the first outcome; safe from any thread). Returns 0, or -ENOENT
 * with a message (the library or one of its functions is missing) that the caller frees.
 */
int curl_dl_load(char **reterr);

#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_easy_init		 curl_dl.easy_init
#define curl_easy_cleanup	 curl_dl.easy_cleanup
#define curl_easy_escape	 curl_dl.easy_escape
#define curl_easy_getinfo	 curl_dl.easy_getinfo
#define curl_easy_setopt	 curl_dl.easy_setopt
#define curl_easy_strerror	 curl_dl.easy_strerror
#define curl_free		 curl_dl.free_
#define curl_multi_add_handle	 curl_dl.multi_add_handle
#define curl_multi_assign	 curl_dl.multi_assign
#define curl_multi_cleanup	 curl_dl.multi_cleanup
#define curl_multi_info_read	 curl_dl.multi_info_read
#define curl_multi_init		 curl_dl.multi_init
#define curl_multi_remove_handle curl_dl.multi_remove_handle
#define curl_multi_setopt	 curl_dl.multi_setopt
#define curl_multi_socket_action curl_dl.multi_socket_action
#define curl_slist_append	 curl_dl.slist_append
#define curl_slist_free_all	 curl_dl.slist_free_all
