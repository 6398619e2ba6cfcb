#!/usr/bin/env bash
# API_TOKEN through a real HAProxy: with a token (read from the dfp_api_token secret) the
# endpoints that change state answer 401 and change nothing unless the request carries it, as
# "Authorization: Bearer" or ?token=; the read-only ones stay open; the token is never echoed
# or logged. Without API_TOKEN everything is open, as before.
set -u
. "$(dirname "$0")/lib.sh"

TOKEN="t0k-$RANDOM$RANDOM-secret"

call() { # <path?query> [curl args...] -> body; status: $(astatus); headers in $T/.hdr
	local path=$1 out
	shift
	out=$(curl -gs -m 60 -D "$T/.hdr" -w '\n%{http_code}' "$@" "http://127.0.0.1:$APORT$path")
	printf '%s' "${out##*$'\n'}" >"$T/.astatus"
	printf '%s' "${out%$'\n'*}"
}
hdr() { tr -d '\r' <"$T/.hdr" | grep -i "^$1:" | head -1; } # <name> -> "Name: value"
routed() { # <path> -> HAProxy's status for it (a number: HAProxy answered)
	get "$1" >/dev/null
	hstatus
}

backend a; PA=$BACKEND_PORT
mkdir -p "$T/secrets"
printf '%s\n' "$TOKEN" >"$T/secrets/dfp_api_token"
fp_start || { ok 1 "flowproxy starts with a token"; done_testing; }
reconf="/v1/docker-flow-proxy/reconfigure?serviceName=svca&servicePath=/a&port=$PA&outboundHostname=127.0.0.1"

# No token: 401 with a JSON message and the challenge, and nothing routed.
out=$(call "$reconf")
is "$(astatus)" 401 "reconfigure without the token: 401"
like "$out" '^\{"Status":"NOK","Message":"[^"]*API_TOKEN' "401: a JSON message naming API_TOKEN"
like "$(hdr WWW-Authenticate)" '^WWW-Authenticate: Bearer' "401: WWW-Authenticate: Bearer"
like "$(hdr Content-Type)" 'application/json' "401: application/json"
st=$(routed /a)
is_num "$st" "HAProxy answers for /a"
[ "$st" != 200 ]; ok $? "the refused service is not routed (HAProxy: $st)"
unlike "$(call /v1/docker-flow-proxy/config)" 'svca' "the refused service is not in the config"

# Wrong tokens.
call "$reconf" -H "Authorization: Bearer wrong-$TOKEN" >/dev/null
is "$(astatus)" 401 "a wrong Bearer token: 401"
like "$(hdr WWW-Authenticate)" 'error="invalid_token"' "a wrong token: invalid_token"
call "$reconf&token=wrong" >/dev/null
is "$(astatus)" 401 "a wrong ?token=: 401"
call "$reconf" -H "Authorization: Basic $(printf 'u:%s' "$TOKEN" | base64)" >/dev/null
is "$(astatus)" 401 "the token in another scheme (Basic): 401"
call "$reconf" -H "Authorization: Bearer ${TOKEN%?}" >/dev/null
is "$(astatus)" 401 "the token less its last byte: 401"
is "$(routed /a)" "$st" "still not routed after the wrong tokens"

# The right token as a Bearer header: routed.
out=$(call "$reconf" -H "Authorization: Bearer $TOKEN")
is "$(astatus)" 200 "reconfigure with Authorization: Bearer: 200"
like "$out" '"Status":"OK","Message":"","ServiceName":"svca"' "the DFP answer as without a token"
is "$(routed /a)" 200 "the service is routed through HAProxy"

# The right token as ?token= (as a Jenkins trigger is called), with the scheme in any case.
out=$(call "/v1/docker-flow-proxy/reconfigure?serviceName=svcb&servicePath=/b&port=$PA&outboundHostname=127.0.0.1&token=$TOKEN")
is "$(astatus)" 200 "reconfigure with ?token=: 200"
unlike "$out" "$TOKEN" "the answer does not echo the token"
is "$(routed /b)" 200 "that service is routed too"
call "/v1/docker-flow-proxy/reconfigure?serviceName=svcc&servicePath=/c&port=$PA&outboundHostname=127.0.0.1" \
	-H "authorization: bearer $TOKEN" >/dev/null
is "$(astatus)" 200 "lower-case header and scheme: 200"
js=$(call "/v1/docker-flow-proxy/config?type=json")
like "$js" '"svcb"' "config?type=json lists the service"
unlike "$js" "$TOKEN|\"[Tt]oken\"" "the token is not a service parameter"

# remove and reload: the same rule.
w1=$(worker_pid)
is_set "$w1" "the worker is known"
call /v1/docker-flow-proxy/reload >/dev/null
is "$(astatus)" 401 "reload without the token: 401"
is "$(worker_pid)" "$w1" "and HAProxy was not reloaded"
call "/v1/docker-flow-proxy/remove?serviceName=svca" >/dev/null
is "$(astatus)" 401 "remove without the token: 401"
is "$(routed /a)" 200 "and the service is still routed"
call "/v1/docker-flow-proxy/remove?serviceName=svca&token=$TOKEN" >/dev/null
is "$(astatus)" 200 "remove with ?token=: 200"
st=$(routed /a)
is_num "$st" "HAProxy answers for /a after the remove"
[ "$st" != 200 ]; ok $? "the removed service is no longer routed (HAProxy: $st)"
call /v1/docker-flow-proxy/reload -H "Authorization: Bearer $TOKEN" >/dev/null
is "$(astatus)" 200 "reload with the token: 200"
# Certificates: PUT /cert changes the routing, GET /certs hands out private keys.
call "/v1/docker-flow-proxy/cert?certName=x.pem" -X PUT --data-binary 'x' >/dev/null
is "$(astatus)" 401 "PUT /cert without the token: 401"
call "/v1/docker-flow-proxy/cert?certName=x.pem&token=$TOKEN" -X PUT --data-binary 'x' >/dev/null
is "$(astatus)" 400 "PUT /cert with the token gets to the certificate check (400: not PEM)"
call /v1/docker-flow-proxy/certs >/dev/null
is "$(astatus)" 401 "GET /certs without the token: 401 (it holds private keys)"
call /v1/docker-flow-proxy/certs -H "Authorization: Bearer $TOKEN" >/dev/null
is "$(astatus)" 200 "GET /certs with the token: 200"

# Read-only endpoints need no token.
for p in /v1/docker-flow-proxy/ping /v1/docker-flow-proxy/successfulinitreload \
	/v1/docker-flow-proxy/config "/v1/docker-flow-proxy/config?type=json" /v1/flowproxy/status \
	/v1/flowproxy/stats /metrics /v1/test /v2/test; do
	call "$p" >/dev/null
	is "$(astatus)" 200 "$p is open"
done
call /v1/nothing >/dev/null
is "$(astatus)" 404 "an unknown path is still 404"
status=$(call /v1/flowproxy/status)
like "$status" '"token":true' "status says a token is required"
like "$status" '"unauthorized":[1-9][0-9]*' "and counts the refusals"
unlike "$(cat "$T/flowproxy.log")" "$TOKEN" "the token is never logged"
is "$(grep -c 'refused (401)' "$T/flowproxy.log")" 1 "refusals are logged once per streak"

# Without API_TOKEN: everything open, as before; a token parameter is ignored, not echoed.
kill -TERM "$FP_PID"; wait "$FP_PID"; FP_PID=
rm -f "$T/secrets/dfp_api_token"
fp_start || { ok 1 "flowproxy starts without a token"; done_testing; }
out=$(call "$reconf")
is "$(astatus)" 200 "no API_TOKEN: reconfigure without a token: 200"
is "$(routed /a)" 200 "and routed"
out=$(call "/v1/docker-flow-proxy/reconfigure?serviceName=svcd&servicePath=/d&port=$PA&outboundHostname=127.0.0.1&token=$TOKEN")
is "$(astatus)" 200 "no API_TOKEN: a token parameter does no harm"
unlike "$out" "$TOKEN" "and is not echoed"
call "/v1/docker-flow-proxy/remove?serviceName=svcd" >/dev/null
is "$(astatus)" 200 "no API_TOKEN: remove: 200"
call /v1/docker-flow-proxy/reload >/dev/null
is "$(astatus)" 200 "no API_TOKEN: reload: 200"
like "$(call /v1/flowproxy/status)" '"token":false' "status says no token is required"

done_testing
