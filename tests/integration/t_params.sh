#!/usr/bin/env bash
# Docker Flow Proxy's access and routing parameters beyond paths and domains, each proven by
# requests through a real HAProxy: methods allowed and denied, routing on request headers and
# User-Agent, domain and X-Forwarded-Proto redirects, connection mode, compression, sticky
# cookies, backendExtra (and ALLOW_BACKEND_EXTRA), checkResolvers.
set -u
. "$(dirname "$0")/lib.sh"

backend a; PA=$BACKEND_PORT
backend b; PB=$BACKEND_PORT
fp_start || { ok 1 "flowproxy starts"; done_testing; }
ok 0 "flowproxy starts with HAProxy"

recon() { api "/v1/docker-flow-proxy/reconfigure?serviceName=$1&port=$PA&outboundHostname=127.0.0.1&$2"; }
urlenc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

# --- allowedMethods, deniedMethods ---
recon meth "servicePath=/meth&allowedMethods=GET,POST" >/dev/null
is "$(astatus)" 200 "allowedMethods accepted"
like "$(get /meth)" '^name=a path=/meth' "allowedMethods: GET passes"
get /meth -X POST -d x >/dev/null
is "$(hstatus)" 200 "allowedMethods: POST passes"
get /meth -X DELETE >/dev/null
is "$(hstatus)" 403 "allowedMethods: DELETE is denied"
recon den "servicePath=/den&deniedMethods=DELETE,PUT" >/dev/null
get /den -X DELETE >/dev/null
is "$(hstatus)" 403 "deniedMethods: DELETE is denied"
get /den -X PATCH >/dev/null
is "$(hstatus)" 200 "deniedMethods: PATCH passes"
recon den2 "servicePath=/den2&deniedMethods=GET%20X" >/dev/null
is "$(astatus)" 400 "a method with a space is refused"

# --- serviceHeader, userAgent ---
api "/v1/docker-flow-proxy/reconfigure?serviceName=hv1&servicePath=/hv&serviceHeader=X-Version:1&port=$PA&outboundHostname=127.0.0.1" >/dev/null
api "/v1/docker-flow-proxy/reconfigure?serviceName=hv2&servicePath=/hv&serviceHeader=X-Version:2,X-Team:blue&port=$PB&outboundHostname=127.0.0.1" >/dev/null
is "$(astatus)" 200 "serviceHeader accepted"
like "$(get /hv -H 'X-Version: 1')" '^name=a' "serviceHeader X-Version:1 routes to a"
like "$(get /hv -H 'X-Version: 2' -H 'X-Team: blue')" '^name=b' "both headers route to b"
get /hv -H 'X-Version: 2' >/dev/null
is "$(hstatus)" 503 "one of two headers is not enough"
get /hv >/dev/null
is "$(hstatus)" 503 "no header, no route"
recon uag "servicePath=/ua&userAgent=curl,Wget" >/dev/null
is "$(astatus)" 200 "userAgent accepted"
get /ua -A 'curl/8.0' >/dev/null
is "$(hstatus)" 200 "userAgent: curl routed"
get /ua -A 'Mozilla/5.0' >/dev/null
is "$(hstatus)" 503 "userAgent: another agent not routed"

# --- redirectFromDomain, redirectUnlessHttpsProto ---
recon rfd "serviceDomain=new.test&redirectFromDomain=old.test" >/dev/null
is "$(astatus)" 200 "redirectFromDomain accepted"
hdrs=$(curl -s -D - -o /dev/null -H 'Host: old.test' "http://127.0.0.1:$PPORT/some/page")
like "$hdrs" '^HTTP/1.1 301' "redirectFromDomain answers 301"
like "$hdrs" 'location: http://new.test/some/page' "to the service's domain, path kept"
out=$(recon rfd2 "servicePath=/rfd2&redirectFromDomain=old2.test")
is "$(astatus)" 400 "redirectFromDomain without serviceDomain is refused"
like "$out" 'redirectFromDomain needs a serviceDomain' "with a message naming it"
recon rup "servicePath=/rup&redirectUnlessHttpsProto=true&httpsRedirectCode=307" >/dev/null
hdrs=$(curl -s -D - -o /dev/null "http://127.0.0.1:$PPORT/rup")
like "$hdrs" '^HTTP/1.1 307' "redirectUnlessHttpsProto: no X-Forwarded-Proto is redirected (307)"
like "$hdrs" 'location: https://' "to https"
like "$(get /rup -H 'X-Forwarded-Proto: https')" '^name=a path=/rup' "X-Forwarded-Proto https passes"

# --- connectionMode ---
recon cm "servicePath=/cm&connectionMode=httpclose" >/dev/null
# In a backend the mode is the server side's: HAProxy asks the server to close.
like "$(get /cm)" 'Connection: close' "connectionMode=httpclose: the server is asked to close"
unlike "$(get /meth)" 'Connection: close' "default keep-alive: another service's server is not"
recon cm2 "servicePath=/cm2&connectionMode=tunnel" >/dev/null
is "$(astatus)" 400 "an unknown connectionMode is refused"

# --- compression ---
recon gz "servicePath=/gz&compressionAlgo=gzip&compressionType=text/plain" >/dev/null
is "$(astatus)" 200 "compression accepted"
hdrs=$(curl -s -D - -o "$T/gz.body" -H 'Accept-Encoding: gzip' "http://127.0.0.1:$PPORT/gz")
like "$hdrs" 'content-encoding: gzip' "compressionAlgo=gzip: the answer is gzipped"
like "$(gzip -dc <"$T/gz.body")" '^name=a path=/gz' "and decompresses to the backend's answer"
hdrs=$(curl -s -D - -o /dev/null -H 'Accept-Encoding: gzip' "http://127.0.0.1:$PPORT/meth")
unlike "$hdrs" 'content-encoding' "another service is not compressed"

# --- sessionType=sticky-server ---
recon st "servicePath=/st&sessionType=sticky-server" >/dev/null
is "$(astatus)" 200 "sessionType=sticky-server accepted"
hdrs=$(curl -s -D - -o /dev/null "http://127.0.0.1:$PPORT/st")
like "$hdrs" 'set-cookie: st=st' "a sticky cookie named after the service is set"
like "$(get /st -b 'st=st')" '^name=a path=/st' "a request with the cookie is routed"
recon st2 "servicePath=/st2&sessionType=round-robin" >/dev/null
is "$(astatus)" 400 "another sessionType is refused"

# --- backendExtra ---
recon bx "servicePath=/bx&backendExtra=$(urlenc 'http-response set-header X-Extra yes')" >/dev/null
is "$(astatus)" 200 "backendExtra accepted"
hdrs=$(curl -s -D - -o /dev/null "http://127.0.0.1:$PPORT/bx")
like "$hdrs" 'x-extra: yes' "backendExtra's line applies"
out=$(recon bx2 "servicePath=/bx2&backendExtra=$(urlenc $'retries 1\nfrontend evil')")
is "$(astatus)" 400 "backendExtra opening a section is refused"
like "$out" 'must not open a section' "with a message"

# --- checkResolvers ---
recon cr "servicePath=/cr&checkResolvers=true" >/dev/null
is "$(astatus)" 200 "checkResolvers accepted"
like "$(api /v1/docker-flow-proxy/config)" 'server cr 127.0.0.1:[0-9]+ check resolvers docker' "checkResolvers: the server checks and resolves through docker"
like "$(get /cr)" '^name=a path=/cr' "and is routed"

# --- usersSecret: users from the secret dfp_users_<name> ---
mkdir -p "$T/secrets"
printf 'ann:annpw\nben:benpw\n' >"$T/secrets/dfp_users_team"
recon us "servicePath=/usone&usersSecret=team" >/dev/null
is "$(astatus)" 200 "usersSecret accepted"
get /usone >/dev/null
is "$(hstatus)" 401 "usersSecret: no credentials, 401"
like "$(get /usone -u ben:benpw)" '^name=a path=/usone' "usersSecret: a user of the secret passes"
get /usone -u ben:wrong >/dev/null
is "$(hstatus)" 401 "usersSecret: a wrong password does not"
recon us2 "servicePath=/ustwo&usersSecret=team&users=ann" >/dev/null
like "$(get /ustwo -u ann:annpw)" '^name=a path=/ustwo' "users=ann takes ann's password from the secret"
get /ustwo -u ben:benpw >/dev/null
is "$(hstatus)" 401 "with users=ann, ben of the same secret is not let in"
before=$(api /v1/docker-flow-proxy/config)
out=$(recon us3 "servicePath=/usthree&usersSecret=nosuch")
is "$(astatus)" 400 "a usersSecret that cannot be read is refused"
like "$out" "usersSecret 'nosuch': cannot read .*dfp_users_nosuch" "naming the file"
is "$(api /v1/docker-flow-proxy/config)" "$before" "the configuration is unchanged"

# --- the remaining parameters of routing: deprecated forms, auth, tunnels ---
recon dma "serviceDomain=dmatch.test&serviceDomainMatchAll=true" >/dev/null
is "$(astatus)" 200 "serviceDomainMatchAll accepted"
like "$(get /x -H 'Host: www.dmatch.test')" '^name=a path=/x' "serviceDomainMatchAll: a subdomain matches (hdr_dom)"
get /x -H 'Host: notdmatch.test' >/dev/null
is "$(hstatus)" 503 "serviceDomainMatchAll: a name that only ends alike does not"
recon rps "servicePath=/oldp&reqPathSearch=^/oldp&reqPathReplace=/newp" >/dev/null
like "$(get /oldp/x)" '^name=a path=/newp/x' "reqPathSearch/reqPathReplace (deprecated) rewrite the path"
recon dep "servicePath=/dep&addHeader=X-Old-Add%20one&setHeader=X-Old-Set%20two" >/dev/null
body=$(get /dep)
like "$body" 'X-Old-Add: one' "addHeader (deprecated) adds a request header"
like "$body" 'X-Old-Set: two' "setHeader (deprecated) sets one"
recon ia "servicePath.1=/iaone&servicePath.2=/iatwo&ignoreAuthorization.2=true&users=u:pw" >/dev/null
get /iaone >/dev/null
is "$(hstatus)" 401 "users: the first destination asks for credentials"
like "$(get /iatwo)" '^name=a path=/iatwo' "ignoreAuthorization.2: the second does not"
hash=$(openssl passwd -6 -salt fptest secretpw)
recon enc "servicePath=/enc&users=$(urlenc "eve:$hash")&usersPassEncrypted=true" >/dev/null
is "$(astatus)" 200 "usersPassEncrypted accepted"
like "$(get /enc -u eve:secretpw)" '^name=a path=/enc' "usersPassEncrypted: the password of the crypt hash passes"
get /enc -u "eve:$hash" >/dev/null
is "$(hstatus)" 401 "usersPassEncrypted: the hash itself is no password"
TUNPORT=$(free_port)
python3 "$(dirname "$0")/tunnel.py" serve "$TUNPORT" >"$T/tunnel.log" 2>&1 &
pids+=($!)
wait_for 5 grep -q listening "$T/tunnel.log"
api "/v1/docker-flow-proxy/reconfigure?serviceName=tun&servicePath=/tun&port=$TUNPORT&outboundHostname=127.0.0.1&timeoutTunnel=1" >/dev/null
api "/v1/docker-flow-proxy/reconfigure?serviceName=tunl&servicePath=/lasting&port=$TUNPORT&outboundHostname=127.0.0.1" >/dev/null
t=$(python3 "$(dirname "$0")/tunnel.py" probe "$PPORT" /tun 5)
like "$t" '^(0\.[89]|1\.[0-9]|2\.[0-4])$' "timeoutTunnel=1: an idle upgraded connection is closed after about 1 s"
is "$(python3 "$(dirname "$0")/tunnel.py" probe "$PPORT" /lasting 3)" open "without it, the defaults' hour keeps it open"

# --- second start: ALLOW_BACKEND_EXTRA=false, and RESOLVERS on a DNS server of this test ---
kill -TERM "$FP_PID"; wait "$FP_PID" 2>/dev/null; FP_PID=
DNSPORT=$(free_port)
: >"$T/zone"
python3 "$(dirname "$0")/dnsserver.py" "$DNSPORT" "$T/zone" >"$T/dns.log" 2>&1 &
pids+=($!)
wait_for 5 grep -q listening "$T/dns.log"
PPORT=$(free_port)
APORT=$(free_port)
export ALLOW_BACKEND_EXTRA=false RESOLVERS="nameserver t 127.0.0.1:$DNSPORT"
fp_start || ok 1 "flowproxy restarts"
out=$(recon bx "servicePath=/bx&backendExtra=retries%201")
is "$(astatus)" 400 "ALLOW_BACKEND_EXTRA=false refuses backendExtra"
like "$out" 'ALLOW_BACKEND_EXTRA is false' "with a message naming the setting"

# A server whose name does not resolve yet starts getting traffic once it does, with no
# reconfigure and no reload.
api "/v1/docker-flow-proxy/reconfigure?serviceName=late&servicePath=/late&port=$PA&outboundHostname=late.fp-test" >/dev/null
is "$(astatus)" 200 "a service whose host does not resolve yet is accepted"
get /late >/dev/null
is "$(hstatus)" 503 "while its name does not resolve: 503"
wpid=$(worker_pid)
echo "late.fp-test 127.0.0.1" >>"$T/zone"
routed() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PPORT/late")" = 200 ]; }
wait_for 20 routed
like "$(get /late)" '^name=a path=/late' "once the name resolves, it is routed"
is "$(worker_pid)" "$wpid" "without a reload"

# discoveryType=DNS: a server-template filled from the resolvers (Docker's DNS in a swarm).
echo "tasks.dnsd 127.0.0.1" >>"$T/zone"
api "/v1/docker-flow-proxy/reconfigure?serviceName=dnsd&servicePath=/dnsd&port=$PB&discoveryType=DNS" >/dev/null
is "$(astatus)" 200 "discoveryType=DNS accepted"
like "$(api /v1/docker-flow-proxy/config)" "server-template dnsd [0-9]+ tasks.dnsd:$PB" "discoveryType=DNS: a server-template on tasks.<service>"
dnsd() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PPORT/dnsd")" = 200 ]; }
wait_for 20 dnsd
like "$(get /dnsd)" '^name=b path=/dnsd' "discoveryType=DNS: routed to the address tasks.dnsd resolves to"

# --- third start: DFP's routing settings, each proven through HAProxy ---
kill -TERM "$FP_PID"; wait "$FP_PID" 2>/dev/null; FP_PID=
unset ALLOW_BACKEND_EXTRA RESOLVERS
PPORT=$(free_port)
APORT=$(free_port)
uhash=$(openssl passwd -6 -salt fpusers adminpw)
export SEPARATOR=';' SERVICE_DOMAIN_ALGO='hdr(host)' USERS="admin:$uhash" USERS_PASS_ENCRYPTED=true \
	CONNECTION_MODE=http-server-close TIMEOUT_HTTP_KEEP_ALIVE=1 TIMEOUT_TUNNEL=1
fp_start || ok 1 "flowproxy starts with DFP's routing settings"
recon sep "servicePath=/sepa%3B/sepb&ignoreAuthorization=true" >/dev/null
is "$(astatus)" 200 "SEPARATOR=';': a list split on ';'"
like "$(get /sepb)" '^name=a path=/sepb' "SEPARATOR=';': the second path routes"
recon algo "serviceDomain=exact.test&ignoreAuthorization=true" >/dev/null
like "$(get /y -H 'Host: exact.test')" '^name=a path=/y' "SERVICE_DOMAIN_ALGO=hdr(host): the exact host routes"
get /y -H 'Host: exact.test.other' >/dev/null
is "$(hstatus)" 503 "SERVICE_DOMAIN_ALGO=hdr(host): a host that only begins alike does not (hdr_beg would)"
recon glob "servicePath=/glob" >/dev/null
get /glob >/dev/null
is "$(hstatus)" 401 "USERS: every service without users of its own asks for credentials"
like "$(get /glob -u admin:adminpw)" '^name=a path=/glob' "USERS with USERS_PASS_ENCRYPTED: the crypt hash's password passes"
like "$(get /sepa)" 'Connection: close' "CONNECTION_MODE=http-server-close: the server is asked to close"
like "$(python3 "$(dirname "$0")/tunnel.py" idle "$PPORT" /sepa 4)" '^(0\.[5-9]|1\.[0-9])$' "TIMEOUT_HTTP_KEEP_ALIVE=1: an idle keep-alive client is closed after about 1 s"
api "/v1/docker-flow-proxy/reconfigure?serviceName=tunl&servicePath=/lasting&port=$TUNPORT&outboundHostname=127.0.0.1&ignoreAuthorization=true" >/dev/null
like "$(python3 "$(dirname "$0")/tunnel.py" probe "$PPORT" /lasting 4)" '^(0\.[8-9]|1\.[0-9]|2\.[0-4])$' \
	"TIMEOUT_TUNNEL=1: an idle upgraded connection is closed after about 1 s"

# --- fourth start: HTTPS_ONLY ---
kill -TERM "$FP_PID"; wait "$FP_PID" 2>/dev/null; FP_PID=
unset SEPARATOR SERVICE_DOMAIN_ALGO USERS USERS_PASS_ENCRYPTED CONNECTION_MODE TIMEOUT_HTTP_KEEP_ALIVE TIMEOUT_TUNNEL
PPORT=$(free_port)
APORT=$(free_port)
export HTTPS_ONLY=true
fp_start || ok 1 "flowproxy starts with HTTPS_ONLY"
recon ho "servicePath=/ho" >/dev/null
hdrs=$(curl -s -D - -o /dev/null "http://127.0.0.1:$PPORT/ho")
like "$hdrs" '^HTTP/1.1 302' "HTTPS_ONLY=true: plain HTTP is redirected"
like "$hdrs" 'location: https://' "to https, for a service that did not ask"

done_testing
