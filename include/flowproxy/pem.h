/* SPDX-License-Identifier: MIT */
/*
 * pem: the checks of a certificate before it is written or served: its file name, and that its
 * PEM text is what HAProxy loads as one certificate (structure only: whether the key matches
 * is HAProxy's check). Pure; labels (serviceCert), the API (PUT /cert) and certs use it.
 */
#pragma once

#include "flowproxy/util.h"

#include <stddef.h>

/* The most a certificate file may hold: a chain of several certificates and a key. */
#define PEM_MAX (64 * 1024)

/*
 * Whether name may be a certificate's file name (PUT /cert's certName, serviceCert's domain):
 * 1 to 255 printable ASCII bytes, no '/', '\\', spaces, '#' or quotes (it is a word of a crt-list
 * line), not starting with '.' (flowproxy's own temporary files), so never "." or "..". Returns
 * 0, or -EINVAL with a message naming what is wrong.
 */
int pem_name_check(const char *name, char **reterr);

/*
 * Whether pem[0..len) is what HAProxy loads as one certificate: PEM blocks only, at least one
 * CERTIFICATE and exactly one unencrypted private key (PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE
 * KEY), each with a base64 body. Refuses NUL bytes, an encrypted key (HAProxy would ask for a
 * passphrase), a block without its END line, and more than PEM_MAX bytes. Whether the key
 * matches the certificate is HAProxy's check (certload_put, certs.h). Returns 0 or -EINVAL with a message.
 */
int pem_check(const char *pem, size_t len, char **reterr);

/* serviceCert's value: literal "\n" (backslash, n) become newlines. Caller frees. */
char *pem_unescape(const char *v);
