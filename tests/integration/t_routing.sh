#!/usr/bin/env bash
# HTTP routing through a real HAProxy: each family of parameters is set through the reconfigure
# API and proven by requests sent through HAProxy to test backends that echo what they saw.
set -u
. "$(dirname "$0")/lib.sh"

backend a; PA=$BACKEND_PORT
backend b; PB=$BACKEND_PORT
backend c; PC=$BACKEND_PORT
backend d; PD=$BACKEND_PORT
fp_start || { ok 1 "flowproxy starts"; done_testing; }
ok 0 "flowproxy starts with HAProxy"

body=$(get /a/x)
is "$(hstatus)" 503 "no service routed yet: 503"

recon() { api "/v1/docker-flow-proxy/reconfigure?$1"; }
urlenc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

# --- path ---
out=$(recon "serviceName=svca&servicePath=/a&port=$PA&outboundHostname=127.0.0.1")
is "$(astatus)" 200 "reconfigure by path answers 200"
like "$out" '"Status":"OK"' "reconfigure answers Status OK"
body=$(get /a/x?q=1)
is "$(hstatus)" 200 "path /a routed"
like "$body" '^name=a path=/a/x\?q=1' "path /a reaches backend a with the path intact"
get /other >/dev/null
is "$(hstatus)" 503 "an unrouted path is not sent to a"

# --- several paths, indexed destinations ---
recon "serviceName=svcb&servicePath.1=/b1&servicePath.2=/b2,/b3&port=$PB&outboundHostname=127.0.0.1" >/dev/null
is "$(astatus)" 200 "indexed destinations accepted"
like "$(get /b1)" '^name=b path=/b1' "indexed destination 1 routed"
like "$(get /b3/z)" '^name=b path=/b3/z' "indexed destination 2, second path routed"

# Several paths render the match method once: a repeated method would be one more pattern, and
# /zzpath_reg (or anything starting with path_beg) would reach the service.
recon "serviceName=svcmulti&servicePath=^/m1/x,^/m2/y&pathType=path_reg&port=$PC&outboundHostname=127.0.0.1" >/dev/null
is "$(astatus)" 200 "two path_reg paths accepted"
like "$(get /m1/x)" '^name=c path=/m1/x' "first regex path routed"
like "$(get /m2/y)" '^name=c path=/m2/y' "second regex path routed"
get /zzpath_reg >/dev/null
is "$(hstatus)" 503 "/zzpath_reg is not routed (the method is not a pattern)"
recon "serviceName=svcmb&servicePath=/mb1,/mb2&port=$PC&outboundHostname=127.0.0.1" >/dev/null
get /path_beg_anything >/dev/null
is "$(hstatus)" 503 "/path_beg_anything is not routed (two path_beg paths)"
like "$(get /mb2/q)" '^name=c path=/mb2/q' "second path_beg path routed"

# --- excluded path ---
recon "serviceName=svcc&servicePath=/c&servicePathExclude=/c/private&port=$PC&outboundHostname=127.0.0.1" >/dev/null
like "$(get /c/public)" '^name=c' "path /c routed"
get /c/private >/dev/null
is "$(hstatus)" 503 "excluded path /c/private not routed to c"

# --- path_reg ---
recon "serviceName=svcreg&servicePath=^/reg/[0-9]%2B$&pathType=path_reg&port=$PD&outboundHostname=127.0.0.1" >/dev/null
is "$(astatus)" 200 "path_reg accepted"
like "$(get /reg/42)" '^name=d path=/reg/42' "regex path matched"
get /reg/abc >/dev/null
is "$(hstatus)" 503 "regex path not matched"

# --- domain, wildcard domain ---
recon "serviceName=dom&serviceDomain=shop.example.com&port=$PB&outboundHostname=127.0.0.1" >/dev/null
like "$(get /zzz -H 'Host: shop.example.com')" '^name=b path=/zzz' "domain routed (implied path /)"
recon "serviceName=wild&serviceDomain=*.wild.test&serviceDomainAlgo=hdr(host)&port=$PC&outboundHostname=127.0.0.1" >/dev/null
like "$(get /w -H 'Host: x.wild.test')" '^name=c path=/w' "wildcard domain routed"
get /w -H 'Host: wild.other' >/dev/null
is "$(hstatus)" 503 "other domain not routed"

# --- rewritten path ---
recon "serviceName=rw&servicePath=/api/v1&reqPathSearchReplace=/api/v1,/internal&port=$PD&outboundHostname=127.0.0.1" >/dev/null
like "$(get /api/v1/users)" '^name=d path=/internal/users' "path rewritten by reqPathSearchReplace"
# Capture groups, an alternation, a quantifier with a comma, and a literal '.' escaped.
rp=$(urlenc '^/grp/(?:a|b)/(\d{1,3})/(.*)$,/\2/n\1:\.php/,.html/')
recon "serviceName=rwg&servicePath=/grp&reqPathSearchReplace=$rp&port=$PD&outboundHostname=127.0.0.1" >/dev/null
is "$(astatus)" 200 "a rewrite with groups and references accepted"
like "$(get /grp/b/42/x.php)" '^name=d path=/x.html/n42' "groups referenced as \\2 and \\1, then \\.php replaced"
like "$(get /grp/c/42/y)" '^name=d path=/grp/c/42/y' "the alternation does not match c: the path is kept"
like "$(get /grp/a/4242/z)" '^name=d path=/grp/a/4242/z' "{1,3} does not match four digits"

# --- headers ---
recon "serviceName=hdr&servicePath=/hdr&port=$PA&outboundHostname=127.0.0.1&addReqHeader=X-Added%20hello%20world&setReqHeader=X-Set%20one&delReqHeader=X-Remove-Me&addResHeader=X-Res-Added%20yes&setResHeader=X-Res-Set%20v&delResHeader=X-Drop" >/dev/null
is "$(astatus)" 200 "header parameters accepted"
body=$(get /hdr -H 'X-Remove-Me: secret' -H 'X-Set: zero')
is "$(hstatus)" 200 "headers: backend a answers (the checks below read its echo)"
like "$body" '^name=a path=/hdr' "headers: the echo is backend a's"
like "$body" 'X-Added: hello world' "request header added"
like "$body" 'X-Set: one' "request header set (replaces the client's)"
unlike "$body" 'X-Set: zero' "the client's value of a set header is gone"
unlike "$body" 'X-Remove-Me' "request header removed"
hdrs=$(curl -s -D - -o /dev/null "http://127.0.0.1:$PPORT/hdr")
like "$hdrs" 'X-Res-Added: yes' "response header added"
like "$hdrs" 'X-Res-Set: v' "response header set"

# Header values in HAProxy's word syntax, as Docker Flow Proxy users write them: quotes group
# (and are not sent), if/unless conditions apply, and a separator inside quotes stays.
sts=$(urlenc 'Strict-Transport-Security "max-age=16000000; includeSubDomains; preload;"')
xfp=$(urlenc 'X-Proto-Tls yes if { ssl_fc },X-Proto-Plain yes unless { ssl_fc },X-List "a, b"')
recon "serviceName=words&servicePath=/words&port=$PA&outboundHostname=127.0.0.1&setResHeader=$sts&setReqHeader=$xfp" >/dev/null
is "$(astatus)" 200 "header values in HAProxy word syntax accepted"
hdrs=$(curl -s -D - -o "$T/words.body" "http://127.0.0.1:$PPORT/words")
like "$hdrs" $'Strict-Transport-Security: max-age=16000000; includeSubDomains; preload;\r' "quoted value sent without the quotes"
body=$(cat "$T/words.body")
like "$body" 'X-Proto-Plain: yes' "unless { ssl_fc } applies on plain HTTP"
unlike "$body" 'X-Proto-Tls' "if { ssl_fc } does not apply on plain HTTP"
like "$body" 'X-List: a, b' "a comma inside quotes belongs to the value"
out=$(recon "serviceName=words2&servicePath=/words2&port=$PA&outboundHostname=127.0.0.1&setReqHeader=$(urlenc 'X-A "$API_TOKEN"')")
is "$(astatus)" 400 "a header value expanding the environment is refused"
out=$(recon "serviceName=words2&servicePath=/words2&port=$PA&outboundHostname=127.0.0.1&setReqHeader=$(urlenc 'X-A v\r\nX-Evil: 1')")
is "$(astatus)" 400 "a header value with \\r\\n escapes is refused"

# --- auth ---
recon "serviceName=auth&servicePath=/auth&users=alice:wonder,bob:builder&port=$PA&outboundHostname=127.0.0.1" >/dev/null
get /auth >/dev/null
is "$(hstatus)" 401 "auth: challenge without credentials"
hdrs=$(curl -s -D - -o /dev/null "http://127.0.0.1:$PPORT/auth")
like "$hdrs" 'WWW-Authenticate: Basic realm="authRealm"' "auth: realm named after the service"
get /auth -u alice:wrong >/dev/null
is "$(hstatus)" 401 "auth: wrong password refused"
body=$(get /auth -u bob:builder)
is "$(hstatus)" 200 "auth: right password passes"
like "$body" '^name=a path=/auth' "auth: the echo is backend a's"
unlike "$body" 'Authorization' "auth: Authorization header not passed to the backend"

# --- redirects ---
recon "serviceName=red&servicePath=/red&redirectWhenHttpProto=true&httpsRedirectCode=301&port=$PA&outboundHostname=127.0.0.1" >/dev/null
hdrs=$(curl -s -D - -o /dev/null -H 'X-Forwarded-Proto: http' "http://127.0.0.1:$PPORT/red")
like "$hdrs" '^HTTP/1.1 301' "redirectWhenHttpProto: 301 when X-Forwarded-Proto is http"
like "$hdrs" 'location: https://' "redirectWhenHttpProto: to https"
like "$(get /red -H 'X-Forwarded-Proto: https')" '^name=a' "redirectWhenHttpProto: served when https"
recon "serviceName=hso&servicePath=/hso&httpsOnly=true&port=$PA&outboundHostname=127.0.0.1" >/dev/null
hdrs=$(curl -s -D - -o /dev/null "http://127.0.0.1:$PPORT/hso")
like "$hdrs" '^HTTP/1.1 302' "httpsOnly: plain HTTP redirected"

# --- timeouts ---
recon "serviceName=slow&servicePath=/slow&timeoutServer=1&port=$PB&outboundHostname=127.0.0.1" >/dev/null
get "/slow?delay=1500" >/dev/null
is "$(hstatus)" 504 "timeoutServer=1: a 1.5 s answer times out"
get "/slow?delay=10" >/dev/null
is "$(hstatus)" 200 "timeoutServer=1: a fast answer passes"
like "$(api /v1/docker-flow-proxy/config)" 'timeout server 1s' "timeoutServer rendered"

# --- default backend ---
recon "serviceName=fallback&servicePath=/fallback&isDefaultBackend=true&port=$PC&outboundHostname=127.0.0.1" >/dev/null
like "$(get /nothing/matches/this)" '^name=c path=/nothing' "isDefaultBackend catches unrouted requests"

# --- removal ---
api "/v1/docker-flow-proxy/remove?serviceName=fallback" >/dev/null
is "$(astatus)" 200 "remove answers 200"
get /nothing/else >/dev/null
is "$(hstatus)" 503 "removed default backend no longer catches"
recon "serviceName=svcc&servicePath=/c&port=$PC&outboundHostname=127.0.0.1&replicas=0" >/dev/null
is "$(astatus)" 200 "replicas=0 answers 200"
get /c/public >/dev/null
is "$(hstatus)" 503 "replicas=0 removes the service"

# --- bad input changes nothing ---
# One case per rule of src/labels.c, each valid but for what that rule alone refuses, so that
# without the rule the case would be accepted (or be refused by HAProxy, with another message):
# the status and flowproxy's own message are both checked.
before=$(api /v1/docker-flow-proxy/config)
is "$(astatus)" 200 "bad input: the configuration before"
like "$before" "use_backend svca-be" "bad input: the configuration before has the routes"
wpid=$(worker_pid)
is_set "$wpid" "bad input: the worker before is known"
refused=(
	"servicePath=/e%0abind|servicePath '/e..x0abind' must not contain control characters|a value with LF (no space)"
	"servicePath=/e%09x|servicePath '/e..x09x' must not contain control characters|a value with TAB"
	"servicePath=/e%20x|servicePath '/e x' must not contain spaces|a path with a space"
	"servicePath=/e%23x|servicePath '/e#x' must not contain '#'|a path with '#'"
	"servicePath=/e%22x|servicePath '/e..x' must not contain quotes|a path with a quote"
	"servicePath=/e&aclName=a/b|aclName 'a/b' may only contain letters|an aclName that is not an identifier"
	"servicePath=/e&addReqHeader=X(A)%20v|addReqHeader 'X\(A\) v' has an invalid header name|a header name that is not a token"
	"servicePath=/e&port=80x|port '80x' must be a port number|a port that is not a number"
	"servicePath=/e&port=65536|port '65536' must be a port number|a port over 65535"
	"servicePath=/x(&pathType=path_reg|servicePath '/x\(' is not a valid regular expression|a regex PCRE2 rejects"
	"servicePath=/e&reqPathSearchReplace=*e,/f|reqPathSearchReplace '\*e' is not a valid regular expression|a reqPathSearchReplace regex PCRE2 rejects"
	"servicePath=/e&timeoutServer=1h|timeoutServer '1h' must be a number of seconds|a timeout that is not a number"
	"servicePath=/e&outboundHostname=a/b|outboundHostname 'a/b' must be a host name|an outboundHostname that is not a host"
)
# A Docker Flow Proxy parameter flowproxy does not implement is refused, never dropped.
for p in aclCondition=x; do
	refused+=("servicePath=/e&$p|${p%%=*} is not supported by flowproxy yet|unimplemented ${p%%=*}")
done
for row in "${refused[@]}"; do
	IFS='|' read -r q msg name <<<"$row"
	# The case's parameters come first: for a key given twice the first value counts.
	out=$(recon "serviceName=evil&$q&port=$PA&outboundHostname=127.0.0.1")
	is "$(astatus)" 400 "$name is refused with 400"
	like "$out" "\"Message\":\"$msg" "$name: flowproxy's message"
done
is "$(api /v1/docker-flow-proxy/config)" "$before" "refused requests leave the configuration unchanged"
is "$(worker_pid)" "$wpid" "refused requests cause no reload"

# --- a configuration HAProxy rejects: duplicate backend name via aclName ---
out=$(recon "serviceName=clash&aclName=svca&servicePath=/clash&port=$PA&outboundHostname=127.0.0.1")
is "$(astatus)" 400 "a service HAProxy rejects gets 400"
like "$out" "clash" "the error names the service"
like "$out" "svca-be${PA}_0" "the error quotes HAProxy's message"
is "$(api /v1/docker-flow-proxy/config)" "$before" "rejected config is not kept"
like "$(get /a/still)" '^name=a' "routing to the other services is untouched"
get /clash >/dev/null
is "$(hstatus)" 503 "the rejected service is not routed"
like "$(cat "$T/cfg/haproxy.cfg")" "use_backend svca-be" "the file on disk is the last good one"
unlike "$(cat "$T/cfg/haproxy.cfg")" "clash" "the rejected service is not in the file"

done_testing
