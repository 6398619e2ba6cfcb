/* SPDX-License-Identifier: MIT */
/*
 * labels: the one parser from a parameter map to struct service, whatever the source. Pure: no
 * I/O, no logging. Implements Docker Flow Proxy's rules (reference docker-flow-proxy.md §1.2):
 * service- vs destination-level parameters, `.1`…`.10` indexing with fallback to the un-indexed
 * value, and DFP's validation order, messages and status codes. On top of DFP, every value is
 * checked against what its HAProxy position accepts, so that no value can inject configuration.
 */
#pragma once

#include "flowproxy/service.h"

#include <stdint.h>

/*
 * Parses p into a new service (*ret, caller frees with service_free). On failure returns
 * -EINVAL, sets *reterr to a message naming the parameter (DFP's text where DFP has one), and
 * *ret_status (if non-NULL) to the HTTP status DFP answers with: 400, or 409 for "When using
 * reqMode http, servicePath or serviceDomain are mandatory". A service with replicas=0 parses
 * fine: the caller treats it as a removal.
 */
int labels_parse(const struct params *p, const struct labels_ctx *ctx, struct service **ret,
		 int *ret_status, char **reterr);

/*
 * What labels_parse read of p before it accepted or refused it: a refused reconfigure echoes it,
 * as DFP's answer echoes the parsed service. Never NULL; caller frees with service_free.
 */
struct service *labels_echo(const struct params *p, const struct labels_ctx *ctx);

/*
 * Collects the static services of DFP_SERVICE_* / DFP_SERVICE_<n>_* environment variables
 * (§1.4) from envp (NULL-terminated "K=V" strings) into parameter maps with DFP's parameter
 * names (ACL_NAME -> aclName, SERVICE_PATH_2 -> servicePath.2, ...). Env services get
 * replicas=-1, as in DFP: not global, never removed by their count. *ret is an array of *ret_n params (caller frees each with params_done and the
 * array with free).
 */
int labels_from_env(char *const *envp, struct params **ret, size_t *ret_n, char **reterr);

/*
 * Strips the `com.df.` prefix from label keys: appends to out every label of in whose key starts
 * with `com.df.`, with the prefix removed. Other labels are skipped.
 */
void labels_strip_prefix(const struct params *in, struct params *out);

/*
 * The response-time thresholds a service's Docker Flow Monitor alerts mention
 * (`alertIf[.N]=@resp_time_above:0.1,5m,0.99`, `@resp_time_below:...`, also inside compound
 * `_and_`/`_or_`/`_unless_` alerts), in ms, into ret (at most max). Returns how many.
 */
size_t labels_resp_time_thresholds(const struct service *s, uint32_t *ret, size_t max);

enum labels_support {
	LABELS_UNKNOWN = 0, /* not a Docker Flow Proxy parameter: ignored, as DFP does */
	LABELS_IMPLEMENTED, /* read and honoured */
	LABELS_UNSUPPORTED, /* a DFP parameter flowproxy refuses (400) rather than drop */
};

/* What the parser does with the parameter name (with or without its `.N` suffix). */
enum labels_support labels_param_support(const char *name);
