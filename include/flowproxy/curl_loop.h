/* SPDX-License-Identifier: MIT */
/*
 * curl_loop: one libcurl multi handle driven by the event loop, for the modules that speak HTTP
 * through libcurl (docker.c, webhook.c, httpc.c). curl's sockets are loop ios and its timeout
 * one loop timer (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION, curl_multi_socket_action);
 * the owner adds and removes its easy handles and hears of each finished one.
 *
 * Reports never come from inside libcurl: after each curl_multi_socket_action returns, every
 * finished transfer is handed to the done callback in turn, then the after callback runs once.
 * So a callback may add, remove and clean up any easy handle, its own included, and may free
 * the curl_loop. A handle removed before its report never reaches the done callback, even when
 * curl had already finished it in the same round.
 *
 * A private header, like curl_dl.h (which it includes): CURL and CURLcode stay within the
 * modules that use libcurl.
 */
#pragma once

#include "flowproxy/curl_dl.h"

struct loop;
struct curl_loop;

/*
 * A finished transfer: easy (still added: the callback removes it, with curl_loop_remove, and
 * cleans it up, or adds it again after a curl_loop_remove), its CURLOPT_PRIVATE pointer (NULL
 * when none was set) and curl's outcome.
 */
typedef void (*curl_loop_done_fn)(void *userdata, CURL *easy, void *priv, CURLcode result);
/* After each round of curl work, once its finished transfers were reported. */
typedef void (*curl_loop_after_fn)(void *userdata);

/*
 * Loads libcurl on first use and creates a multi handle on loop that reports to done (required)
 * and after (NULL: none), both with userdata. Returns 0, -ENOENT with a message when libcurl
 * cannot be loaded, -ENOMEM when curl refuses a multi handle. Free with curl_loop_free, before
 * the loop.
 */
int curl_loop_new(struct loop *loop, curl_loop_done_fn done, curl_loop_after_fn after,
		  void *userdata, struct curl_loop **ret, char **reterr);
/*
 * Closes curl's connections and frees the multi handle. Easy handles still added are detached,
 * not cleaned up: they stay the caller's (whose usual order is: remove and clean up its own
 * handles, then free the curl_loop). From a done or after callback it takes effect once that
 * callback returns, and no other callback runs. NULL ok.
 */
void curl_loop_free(struct curl_loop *cl);

/*
 * Starts easy (configured by the caller, which keeps owning it) on the multi handle; curl arms
 * its timer for "now", so the transfer starts from the loop, never inside this call. Returns 0,
 * or -ENOMEM when curl refuses it (easy stays the caller's, not added). Not from within one of
 * curl's own callbacks (a write function...).
 */
int curl_loop_add(struct curl_loop *cl, CURL *easy);
/*
 * Stops easy's transfer, if added (else nothing happens); its report, even one due in the round
 * being reported, never comes. easy stays the caller's to clean up or add again. Not from
 * within one of curl's own callbacks.
 */
void curl_loop_remove(struct curl_loop *cl, CURL *easy);
