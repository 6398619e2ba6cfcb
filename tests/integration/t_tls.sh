#!/usr/bin/env bash
# TLS through a real HAProxy, one flowproxy start: the :ssl port of DEFAULT_PORTS unbound while
# there is no certificate, then certificates from the certs directory and a cert_* secret chosen
# by SNI, PREFERRED_CERTIFICATE as the default without SNI, PUT /cert (refusals, then a new
# certificate served without dropping a request in flight), GET /certs, and the per-service TLS
# parameters. The CA, server and client certificates are made here with the openssl CLI.
set -u
. "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || { echo "Bail out! openssl is not installed (scripts/setup-deps)"; exit 1; }

P=$T/pki
mkdir -p "$P" "$T/certs" "$T/secrets"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$P/ca.key" -out "$P/ca.pem" -days 2 \
	-subj /CN=fp-test-ca 2>/dev/null
# leaf <name> <CN>: a P-256 key and a certificate for CN signed by the CA, in $P/<name>.pem.
leaf() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/$1.key" \
		-out "$P/$1.crt" -days 2 -subj "/CN=$2" -addext "subjectAltName=DNS:$2" \
		-CA "$P/ca.pem" -CAkey "$P/ca.key" 2>/dev/null
	cat "$P/$1.crt" "$P/$1.key" >"$P/$1.pem"
}
for n in a b c d e; do leaf "$n" "$n.test"; done
leaf client client.test
is_set "$(openssl x509 -in "$P/d.pem" -noout -subject 2>/dev/null)" "test certificates made"

backend web; PW=$BACKEND_PORT
PPORT=$(free_port)
SPORT=$(free_port)
DEFAULT_PORTS="$PPORT,$SPORT:ssl" CERTS_DIR=$T/certs PREFERRED_CERTIFICATE='b.*' \
	CA_FILE=$P/ca.pem fp_start || { ok 1 "flowproxy starts"; done_testing; }
ok 0 "flowproxy starts with HAProxy"

# subject <servername|-> [port]: the subject of the certificate HAProxy presents ('-': no SNI).
subject() {
	local sni=(-servername "$1")
	[ "$1" = - ] && sni=(-noservername)
	openssl s_client -connect "127.0.0.1:${2:-$SPORT}" "${sni[@]}" </dev/null 2>/dev/null |
		openssl x509 -noout -subject 2>/dev/null | sed 's/^subject=//; s/ //g'
}
# sget <host> <path> [curl args]: through the :ssl port, the CA trusted; status: $(hstatus)
sget() {
	local host=$1 path=$2 out
	shift 2
	out=$(curl -gs -m 20 -w '\n%{http_code}' --cacert "$P/ca.pem" \
		--resolve "$host:$SPORT:127.0.0.1" "$@" "https://$host:$SPORT$path")
	printf '%s' "${out##*$'\n'}" >"$T/.hstatus"
	printf '%s' "${out%$'\n'*}"
}
recon() { api "/v1/docker-flow-proxy/reconfigure?$1"; }

# --- no certificate: the :ssl port is not bound, and says so once ---
get / >/dev/null
is "$(hstatus)" 503 "the plain port serves (nothing routed yet)"
ss -Htln "sport = :$SPORT" | grep -q . && bound=yes || bound=no
is "$bound" no "without a certificate the :ssl port is not bound (never plain HTTP)"
like "$(cat "$T/flowproxy.log")" "no certificate .*'$SPORT' are not bound" \
	"the log names the :ssl port that waits for a certificate"
unlike "$(cat "$T/cfg/haproxy.cfg")" "bind 127.0.0.1:$SPORT" "haproxy.cfg has no bind for it"

# --- certificates from the certs directory and a cert_* secret ---
cp "$P/a.pem" "$T/certs/a.pem"
cp "$P/b.pem" "$T/certs/b.pem"
cp "$P/c.pem" "$T/secrets/CERT_c"
echo "not a certificate" >"$T/certs/junk.pem"
recon "serviceName=web&servicePath=/&port=$PW&outboundHostname=127.0.0.1" >/dev/null
is "$(astatus)" 200 "a service is routed (and the certificates are found)"
like "$(cat "$T/cfg/haproxy.cfg")" "bind 127.0.0.1:$SPORT ssl crt-list $T/cfg/crt-list.txt alpn h2,http/1.1 ca-file $P/ca.pem verify optional" \
	"the :ssl bind loads the crt-list, h2 offered, client certificates verified against CA_FILE"
like "$(head -1 "$T/cfg/crt-list.txt")" "/b.pem$" "PREFERRED_CERTIFICATE puts b first in the crt-list"
unlike "$(cat "$T/cfg/crt-list.txt")" "junk" "a file that is no certificate is left out"
like "$(cat "$T/flowproxy.log")" "junk.pem: no PEM CERTIFICATE" "and the log says why"
body=$(sget a.test /hello)
is "$(hstatus)" 200 "HTTPS served on the :ssl port"
like "$body" '^name=web path=/hello' "HTTPS request reaches the backend"
like "$body" 'X-Forwarded-Proto: https' "the backend is told the request came over TLS"
is "$(subject a.test)" CN=a.test "SNI a.test gets a.test's certificate"
is "$(subject b.test)" CN=b.test "SNI b.test gets b.test's certificate"
is "$(subject c.test)" CN=c.test "SNI c.test gets the cert_* secret's certificate"
is "$(subject -)" CN=b.test "without SNI the preferred certificate (b) is the default"
is "$(curl -s -m 10 -o /dev/null -w '%{http_version}' --http2 --cacert "$P/ca.pem" \
	--resolve "a.test:$SPORT:127.0.0.1" "https://a.test:$SPORT/")" 2 "HTTP/2 negotiated (ENABLE_H2)"
plain=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SPORT/")
unlike "$plain" '^[1-5][0-9][0-9]$' "plain HTTP on the :ssl port gets no HTTP answer (got '$plain')"

# --- PUT /cert: refusals change nothing ---
cput() { # <query> <file|-> -> body; status: $(astatus)
	local out data=()
	[ "$2" != - ] && data=(--data-binary "@$2")
	out=$(curl -gs -m 30 -X PUT -w '\n%{http_code}' "${data[@]}" "http://127.0.0.1:$APORT/v1/docker-flow-proxy/cert$1")
	printf '%s' "${out##*$'\n'}" >"$T/.astatus"
	printf '%s' "${out%$'\n'*}"
}
reloads0=$(master_reloads)
is_num "$reloads0" "the master's reload counter is read"
out=$(cput "" "$P/d.pem")
is "$(astatus)" 400 "PUT /cert without certName: 400"
is "$out" '{"Status":"NOK","Message":"Query parameter certName is mandatory","Certs":null}' \
	"PUT /cert without certName: DFP's answer"
out=$(cput "?certName=d.pem" -)
is "$out" '{"Status":"NOK","Message":"Body is empty","Certs":null}' "PUT /cert without a body: DFP's answer"
for bad in ../d.pem .d.pem 'a%2Fb' 'a%0Ab'; do
	cput "?certName=$bad" "$P/d.pem" >/dev/null
	is "$(astatus)" 400 "certName '$bad' refused"
done
out=$(cput "?certName=d.pem" "$P/d.crt")
is "$(astatus)" 400 "a certificate without its key is refused"
like "$out" "no PEM PRIVATE KEY" "and the answer says what is missing"
cat "$P/d.crt" "$P/e.key" >"$P/mismatch.pem"
out=$(cput "?certName=d.pem" "$P/mismatch.pem")
is "$(astatus)" 400 "a key that does not match its certificate is refused (HAProxy loads it first)"
like "$out" "inconsistencies between private key and certificate" "with HAProxy's own message"
ls "$T/certs" | grep -q '^d.pem$' && written=yes || written=no
is "$written" no "nothing refused was written to the certs directory"
is "$(master_reloads)" "$reloads0" "no refusal reloaded HAProxy"
is "$(subject d.test)" CN=b.test "before PUT, SNI d.test gets the default certificate"

# --- PUT /cert: served at once, without dropping a request in flight ---
curl -s -m 20 -o "$T/slow.out" -w '%{http_code}' --cacert "$P/ca.pem" \
	--resolve "a.test:$SPORT:127.0.0.1" "https://a.test:$SPORT/slow?delay=1500" >"$T/slow.code" &
slow=$!
sleep 0.3
out=$(cput "?certName=d.pem&distribute=true" "$P/d.pem")
is "$(astatus)" 200 "PUT /cert answers 200"
is "$out" '{"Status":"OK","Message":"","Certs":null}' "PUT /cert: DFP's answer"
is "$(subject d.test)" CN=d.test "the new certificate is served as soon as PUT answers"
wait "$slow"
is "$(cat "$T/slow.code")" 200 "the HTTPS request in flight during the reload completed"
like "$(cat "$T/slow.out")" '^name=web path=/slow' "with the backend's answer"
is "$(stat -c %a "$T/certs/d.pem")" 600 "the certificate's file is readable by its owner only"
ls -a "$T/certs" | grep -q '^\.' && staged=$(ls -a "$T/certs" | grep -v '^\.\.\?$' | grep '^\.') || staged=
is "${staged:-none}" none "no staged file is left behind"

out=$(api /v1/docker-flow-proxy/certs)
is "$(astatus)" 200 "GET /certs answers 200"
is "$(printf '%s' "$out" | jq -r '[.Status, (.Certs | map(.ProxyServiceName) | join(","))] | join(" ")')" \
	"OK b.pem,a.pem,d.pem" "GET /certs lists the certs directory, preferred first, without secrets"
is "$(printf '%s' "$out" | jq -r '.Certs[] | select(.ProxyServiceName == "d.pem") | .CertContent' | openssl x509 -noout -subject | sed 's/^subject=//; s/ //g')" \
	CN=d.test "GET /certs hands out the PEM (DFP's replica sync)"
is "$(printf '%s' "$out" | jq -r '.Certs[0] | keys_unsorted | join(",")')" \
	"ServicePort,ProxyServiceName,CertsDir,CertContent" "GET /certs: DFP's fields"

# --- httpsOnly and httpsRedirectCode ---
recon "serviceName=sec&servicePath=/sec&port=$PW&outboundHostname=127.0.0.1&httpsOnly=true&httpsRedirectCode=308" >/dev/null
is "$(astatus)" 200 "httpsOnly service accepted"
loc=$(curl -s -m 10 -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: a.test' "http://127.0.0.1:$PPORT/sec/x")
is "$loc" "308 https://a.test/sec/x" "httpsOnly: plain HTTP is redirected to https with httpsRedirectCode"
like "$(sget a.test /sec/x)" '^name=web path=/sec/x' "httpsOnly: HTTPS is served"


# --- denyHttp ---
recon "serviceName=dh&servicePath=/dh&port=$PW&outboundHostname=127.0.0.1&denyHttp=true" >/dev/null
is "$(astatus)" 200 "denyHttp service accepted"
get /dh -H 'Host: a.test' >/dev/null
is "$(hstatus)" 403 "denyHttp: plain HTTP is denied"
like "$(sget a.test /dh)" '^name=web path=/dh' "denyHttp: HTTPS is served"

# --- verifyClientSsl: client certificates verified against CA_FILE ---
recon "serviceName=mtls&servicePath=/mtls&port=$PW&outboundHostname=127.0.0.1&verifyClientSsl=true" >/dev/null
is "$(astatus)" 200 "verifyClientSsl service accepted (CA_FILE is set)"
sget a.test /mtls >/dev/null
is "$(hstatus)" 403 "verifyClientSsl: a request without a client certificate is denied"
like "$(sget a.test /mtls --cert "$P/client.crt" --key "$P/client.key")" '^name=web path=/mtls' \
	"verifyClientSsl: a request with a certificate the CA signed is served"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/rogue.key" \
	-out "$P/rogue.crt" -days 2 -subj /CN=rogue 2>/dev/null
rogue=$(sget a.test /mtls --cert "$P/rogue.crt" --key "$P/rogue.key")
unlike "${rogue:-refused}" '^name=web' "verifyClientSsl: a self-signed client certificate is not served"
like "$(sget a.test /hello)" '^name=web path=/hello' "other services need no client certificate"

# --- sslVerifyNone: an HTTPS backend ---
TB=$(free_port)
openssl s_server -www -quiet -accept "127.0.0.1:$TB" -cert "$P/e.crt" -key "$P/e.key" \
	>"$T/s_server.log" 2>&1 &
pids+=($!)
wait_for 5 sh -c "ss -Htln 'sport = :$TB' | grep -q ." || diag "s_server did not listen"
recon "serviceName=tlsbe&servicePath=/tlsbe&port=$TB&outboundHostname=127.0.0.1" >/dev/null
get /tlsbe >/dev/null
is "$(hstatus)" 502 "without sslVerifyNone, plain HTTP to the TLS backend fails (502)"
recon "serviceName=tlsbe&servicePath=/tlsbe&port=$TB&outboundHostname=127.0.0.1&sslVerifyNone=true" >/dev/null
is "$(astatus)" 200 "sslVerifyNone service accepted"
like "$(get /tlsbe)" 's_server -www' "sslVerifyNone: HAProxy speaks TLS to the backend"

# --- httpsPort / srcHttpsPort: DFP's second backend for what arrives on the TLS port ---
backend web2; PW2=$BACKEND_PORT
recon "serviceName=hp&servicePath=/hp&port=$PW&httpsPort=$PW2&srcPort=$PPORT&srcHttpsPort=$SPORT&outboundHostname=127.0.0.1" >/dev/null
is "$(astatus)" 200 "httpsPort service accepted"
like "$(get /hp/x)" '^name=web path=/hp/x' "httpsPort: plain HTTP (srcPort) goes to port's backend"
like "$(sget a.test /hp/x)" '^name=web2 path=/hp/x' "httpsPort: HTTPS (srcHttpsPort) goes to httpsPort's backend"

# --- serviceCert: the certificate of the service's first domain ---
esc() { awk '{printf "%s\\n", $0}' "$1" | jq -sRr @uri; }
recon "serviceName=sc&serviceDomain=e.test&port=$PW2&outboundHostname=127.0.0.1&serviceCert=$(esc "$P/mismatch.pem")" >/dev/null
is "$(astatus)" 400 "serviceCert whose key does not match is refused (HAProxy loads it first)"
[ -e "$T/certs/e.test" ] && written=yes || written=no
is "$written" no "and nothing is written"
like "$(get / -H 'Host: e.test')" '^name=web path=/$' "the refused service is not routed (the / service answers)"
out=$(recon "serviceName=sc&serviceDomain=e.test&port=$PW2&outboundHostname=127.0.0.1&serviceCert=$(esc "$P/e.pem")")
is "$(astatus)" 200 "serviceCert accepted"
unlike "$out" 'PRIVATE KEY' "the answer does not echo the private key"
is "$(openssl x509 -in "$T/certs/e.test" -noout -subject 2>/dev/null | sed 's/^subject=//; s/ //g')" \
	CN=e.test "serviceCert is written to <certs dir>/<first serviceDomain>"
is "$(subject e.test)" CN=e.test "serviceCert is served for its domain"
like "$(sget e.test /sc)" '^name=web2 path=/sc' "and the service is routed over HTTPS"

grep -q 'ERROR: AddressSanitizer\|runtime error:' "$T/flowproxy.log" && clean=no || clean=yes
is "$clean" yes "flowproxy reported no sanitizer error"

# --- second start: the user's own crt-list (CRT_LIST_PATH), and SSL_BIND_OPTIONS ---
kill -TERM "$FP_PID"; wait "$FP_PID" 2>/dev/null; FP_PID=
mkdir -p "$T/own"
cp "$P/c.pem" "$P/d.pem" "$T/own/"
# The list's order makes d the default; its per-certificate option pins c to TLS 1.2 and up.
printf '%s\n%s [ssl-min-ver TLSv1.2]\n' "$T/own/d.pem" "$T/own/c.pem" >"$T/own/list.txt"
PPORT=$(free_port)
SPORT=$(free_port)
APORT=$(free_port)
DEFAULT_PORTS="$PPORT,$SPORT:ssl" CERTS_DIR=$T/empty-certs CRT_LIST_PATH=$T/own/list.txt \
	SSL_BIND_OPTIONS='ssl-min-ver TLSv1.3' fp_start || ok 1 "flowproxy starts with CRT_LIST_PATH"
is "$(subject -)" CN=d.test "CRT_LIST_PATH: the list's first certificate is the default"
is "$(subject c.test)" CN=c.test "CRT_LIST_PATH: a certificate of the list is chosen by SNI"
like "$(cat "$T/cfg/haproxy.cfg")" "ssl crt-list $T/own/list.txt" "haproxy.cfg names the user's list"
v12() { openssl s_client -connect "127.0.0.1:$SPORT" -servername "$1" -tls1_2 </dev/null 2>/dev/null | grep -c 'BEGIN CERTIFICATE'; }
is "$(v12 d.test)" 0 "SSL_BIND_OPTIONS='ssl-min-ver TLSv1.3': TLS 1.2 is refused"
is "$(v12 c.test)" 1 "the list's own [ssl-min-ver TLSv1.2] lets TLS 1.2 reach c.test"

done_testing
