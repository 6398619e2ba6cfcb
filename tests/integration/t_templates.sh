#!/usr/bin/env bash
# Templates through a real HAProxy: flowproxy's error pages, snippet files of the templates
# directory (<acl>-fe.cfg / <acl>-be.cfg), a broken snippet that HAProxy refuses while the last
# good configuration keeps serving, and a base template in Docker Flow Proxy's dialect
# (CFG_TEMPLATE_PATH), and services with their own templateFePath / templateBePath.
set -u
. "$(dirname "$0")/lib.sh"

backend a; PA=$BACKEND_PORT
backend b; PB=$BACKEND_PORT
TM=$T/tmpl
mkdir -p "$TM"
cp "$SRC"/templates/*.tmpl "$TM/"

recon() { api "/v1/docker-flow-proxy/reconfigure?$1"; }
stop_fp() {
	kill -TERM "$FP_PID" 2>/dev/null
	wait "$FP_PID" 2>/dev/null
	FP_PID=
	mv "$T/flowproxy.log" "$T/flowproxy-$1.log"
	PPORT='' APORT=''
}

fp_start --templates-path "$TM" || { ok 1 "flowproxy starts"; done_testing; }
ok 0 "flowproxy starts with the stock templates"

# --- error pages (haproxy/errorfiles, ERRORFILES_PATH defaults to them) ---
body=$(get /nothing-here -D "$T/h503")
is "$(hstatus)" 503 "an unrouted path answers 503"
like "$(printf '%s' "$body" | tr '\n' ' ')" 'No service is available to handle this request right now.*<small>flowproxy</small>' "with flowproxy's 503 page (not HAProxy's own)"
like "$(cat "$T/h503")" 'Content-Type: text/html; charset=utf-8' "the page's own headers"
want=$(sed -n 's/^Content-Length: \([0-9]*\).*/\1/p' "$SRC/haproxy/errorfiles/503.http")
is "$(printf '%s' "$body" | wc -c)" "$((want - 1))" "the whole body arrives (Content-Length, less \$() trimming its last newline)"

# --- <acl>-be.cfg replaces the service's generated backend ---
recon "serviceName=web&servicePath=/web&port=$PA&outboundHostname=127.0.0.1" >/dev/null
is "$(astatus)" 200 "service web routed"
like "$(get /web/x)" '^name=a path=/web/x' "web reaches backend a"
cat >"$TM/web-be.cfg" <<EOF
backend web-be${PA}_0
    mode http
    http-response set-header X-Snippet from-web-be-cfg
    http-response set-header X-Timeout-Server "{{.TimeoutServer}}"
    server own 127.0.0.1:$PB
EOF
# A file no service is named after is added as it is, its frontend lines into frontend services.
printf '    acl url_static path_beg /static\n    use_backend static-be if url_static\n' \
	>"$TM/static-fe.cfg"
printf 'backend static-be\n    mode http\n    server s1 127.0.0.1:%s\n' "$PA" >"$TM/static-be.cfg"
w1=$(worker_pid)
api /v1/docker-flow-proxy/reload >/dev/null
is "$(astatus)" 200 "reload reads the snippet files"
[ -n "$w1" ] && [ "$(worker_pid)" != "$w1" ]; ok $? "a new worker runs them"
body=$(get /web/y -D "$T/hweb")
like "$body" '^name=b path=/web/y' "web-be.cfg's server answers for web (the file replaced the backend)"
like "$(cat "$T/hweb")" 'X-Snippet: from-web-be-cfg' "web-be.cfg's response header is set"
like "$(cat "$T/hweb")" 'X-Timeout-Server: 20' "snippets are templates with the base template's fields"
like "$(get /static/z)" '^name=a path=/static/z' "static-fe.cfg and static-be.cfg route /static"
cfg=$(api "/v1/docker-flow-proxy/config")
unlike "$cfg" "server web_1|server web 127.0.0.1:$PA" "no generated server for web is left"

# --- a broken snippet: refused, HAProxy keeps the last good configuration ---
w2=$(worker_pid)
printf 'backend broken-be\n    no-such-keyword at all\n' >"$TM/broken-be.cfg"
out=$(api /v1/docker-flow-proxy/reload)
is "$(astatus)" 400 "reload with a broken snippet is refused"
like "$out" "line [0-9]+ of haproxy.cfg is line 2 of the output of '$TM/broken-be.cfg'" "the error names the file and its line"
like "$out" "no-such-keyword" "and says what HAProxy did not take"
is "$(worker_pid)" "$w2" "the worker is unchanged"
like "$(get /web/z)" '^name=b path=/web/z' "the last good configuration keeps serving"
# Services keep being applied, with the snippet files in force.
recon "serviceName=other&servicePath=/other&port=$PA&outboundHostname=127.0.0.1" >/dev/null
is "$(astatus)" 200 "another service is applied meanwhile"
like "$(get /other)" '^name=a path=/other' "and routed"
like "$(get /static/q)" '^name=a path=/static/q' "with the good snippets still in force"
rm "$TM/broken-be.cfg"
api /v1/docker-flow-proxy/reload >/dev/null
is "$(astatus)" 200 "reload after the file is removed"
# --- templateFePath / templateBePath: rendered against the service with DFP's field names ---
cat >"$TM/custom-fe.tmpl" <<'EOF'
{{- range .ServiceDest}}
    acl url_{{$.AclName}}{{.Port}}_{{.Index}} {{.PathType}}{{range .ServicePath}} {{.}}{{end}}
    use_backend {{$.AclName}}-be{{.Port}}_{{.Index}} if url_{{$.AclName}}{{.Port}}_{{.Index}}
{{- end}}
EOF
mkdir -p "$T/elsewhere"
cat >"$T/elsewhere/custom-be.tmpl" <<'EOF'
{{- range $i, $d := .ServiceDest}}
backend {{$.AclName}}-be{{$d.Port}}_{{$d.Index}}
    mode http
    http-response set-header X-Custom-Be "{{$.ServiceName}} {{$d.UserDef}} {{len $.ServiceDest}} {{index $d.ServicePath 0}}"
    server {{$.ServiceName}} {{$d.OutboundHostname}}:{{$d.Port}}
{{- end}}
EOF
out=$(recon "serviceName=cust&aclName=custom&servicePath.1=/c1&servicePath.2=/c2&port=$PA&outboundHostname=127.0.0.1&userDef.1=first&userDef.2=second&templateFePath=custom-fe.tmpl&templateBePath=$T/elsewhere/custom-be.tmpl")
is "$(astatus)" 200 "a service with templateFePath (relative) and templateBePath (absolute) is applied"
body=$(get /c1/x -D "$T/hc1")
like "$body" '^name=a path=/c1/x' "the custom frontend routes destination 1"
like "$(cat "$T/hc1")" 'X-Custom-Be: cust first 2 /c1' "the custom backend has the service's fields (.ServiceName, .UserDef, .ServicePath)"
get /c2/y -D "$T/hc2" >/dev/null
like "$(cat "$T/hc2")" 'X-Custom-Be: cust second 2 /c2' "and destination 2's"
json=$(api "/v1/docker-flow-proxy/config?type=json")
like "$json" '"cust":\{[^}]*"TemplateFePath":"custom-fe.tmpl"' "the service is stored (unlike DFP) with its template paths"
like "$json" '"UserDef":"first"' "userDef is in its JSON"
out=$(recon "serviceName=esc&servicePath=/e&port=$PA&templateBePath=../../etc/passwd")
is "$(astatus)" 400 "a templateBePath with '..' is refused"
like "$out" "templateBePath '../../etc/passwd' must not contain '..'" "saying why"
out=$(recon "serviceName=miss&servicePath=/m&port=$PA&templateFePath=missing.tmpl")
is "$(astatus)" 400 "an unreadable templateFePath is refused"
like "$out" "templateFePath 'missing.tmpl': cannot read '$TM/missing.tmpl'" "naming the file"
printf '{{if .ServiceName}}\n' >"$TM/bad.tmpl"
out=$(recon "serviceName=bad&servicePath=/b&port=$PA&templateBePath=bad.tmpl")
is "$(astatus)" 400 "a templateBePath that does not parse is refused"
like "$out" "bad.tmpl:1" "with the file and line"
get /m >/dev/null
is "$(hstatus)" 503 "the refused services are not routed"
like "$(get /c1/z)" '^name=a path=/c1/z' "the others still are"
stop_fp stock

# --- a base template in DFP's dialect (CFG_TEMPLATE_PATH) ---
sed "s#/errorfiles/#$SRC/haproxy/errorfiles/#" "$SRC/tests/fixtures/templates/dfp-base.tmpl" \
	>"$TM/dfp.tmpl"
rm -f "$TM"/*-fe.cfg "$TM"/*-be.cfg
# A snippet HAProxy refuses at the start does not keep HAProxy from serving.
printf 'backend startbad-be\n    bogus-keyword\n' >"$TM/startbad-be.cfg"
CFG_TEMPLATE_PATH=dfp.tmpl fp_start --templates-path "$TM" ||
	{ ok 1 "flowproxy starts with a DFP base template"; done_testing; }
ok 0 "flowproxy starts with a DFP base template"
like "$(sed -n '/starting without them/,$p' "$T/flowproxy.log" | tr '\n' ' ')" "starting without them: .*is line 2 of the output of '$TM/startbad-be.cfg'" \
	"a broken snippet at the start: started without the snippets, the file named"
rm "$TM/startbad-be.cfg"
recon "serviceName=web&servicePath=/web&port=$PA&outboundHostname=127.0.0.1" >/dev/null
is "$(astatus)" 200 "service web applied with the DFP template"
body=$(get /web/dfp -D "$T/hdfp")
like "$body" '^name=a path=/web/dfp' "routed through the DFP base template"
like "$(cat "$T/hdfp")" 'X-Base-Template: dfp' "the template's own lines are there"
body=$(get /nowhere)
is "$(hstatus)" 503 "unrouted: 503"
like "$(printf '%s' "$body" | tr '\n' ' ')" 'No service is available to handle this request right now.*<small>flowproxy</small>' "the template's errorfile lines serve the page"
cfg=$(api "/v1/docker-flow-proxy/config")
like "$cfg" "stats socket $T/run/stats.sock" "flowproxy adds its stats socket the template lacks"
stop_fp dfp

done_testing
