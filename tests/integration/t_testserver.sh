#!/usr/bin/env bash
# The test server itself, where tests rely on more than its answer: --record keeps every request
# body as one line of a file, written before the answer is sent (a notification receiver).
set -u
. "$(dirname "$0")/lib.sh"

backend rec --record "$T/recorded"
ts() { # <curl args...> -> the status of a request to the test server
	curl -s -m 10 -o /dev/null -w '%{http_code}' "$@" "http://127.0.0.1:$BACKEND_PORT/hook"
}
is "$(ts -d '{"text": "one"}' -H 'Content-Type: application/json')" 200 "a POST is answered 200"
is "$(cat "$T/recorded" 2>&1)" '{"text": "one"}' "its body is recorded, once the answer came"
is "$(ts)" 200 "a GET is answered 200"
is "$(wc -l <"$T/recorded")" 1 "a request without a body records nothing"
is "$(ts --data-binary $'two\r\nlines')" 200 "a body with a line break is answered 200"
is "$(tail -1 "$T/recorded")" 'two  lines' "it is recorded on one line (CR and LF as spaces)"
head -c 100000 /dev/zero | tr '\0' x >"$T/big"
is "$(ts --data-binary "@$T/big")" 200 "a 100000-byte body is answered 200"
is "$(tail -1 "$T/recorded" | wc -c)" $((64 * 1024 + 1)) "its first 64 KiB are recorded"
is "$(wc -l <"$T/recorded")" 3 "one line per request with a body"
"$TESTSERVER" --name x --port 0 --record /nonexistent/dir/file >/dev/null 2>"$T/err"
is "$?" 1 "an unwritable --record file is refused at start"
like "$(cat "$T/err")" "/nonexistent/dir/file: No such file" "with the file and the reason"

done_testing
