#!/usr/bin/env bash
#
# Public calendar feeds against a throw-away davit server, read back by an
# independent parser: the `icalendar` package from PyPI (pinned with its
# dependencies in conformance/feeds/requirements.txt, installed into the
# virtualenv target/conformance/venv-feeds; pip runs only when that file
# changed). The run's files are in target/conformance/feeds/ (recreated each
# run, kept afterwards): the objects PUT, the feeds fetched, headers.
#
# Steps and checks:
#   1. PUT every fixture calendar of fixtures/ical/ (not bad/) into one user's
#      calendar (If-None-Match: *); those the server refuses (tasks, journals:
#      the calendar takes VEVENTs) are left out of the count. Add one
#      CLASS:PRIVATE and one CLASS:CONFIDENTIAL event with attendees.
#   2. `davit feed enable USER/calendar` (the URL is its last output line).
#   3. GET the feed with curl and no Accept header (as Google sends it): 200,
#      text/calendar; charset=utf-8, a strong ETag, Last-Modified. Parse it
#      with icalendar: one VCALENDAR, X-WR-CALNAME, REFRESH-INTERVAL; the
#      number of objects (distinct UIDs) equals the VEVENT-bearing objects PUT
#      minus the PRIVATE ones, the number of VEVENTs their VEVENT total; the
#      PRIVATE event absent, the CONFIDENTIAL one busy without details; no
#      attendee addresses; each VTIMEZONE once, every TZID used defined.
#   4. If-None-Match → 304; gzip → the same bytes; HEAD → 200 without body;
#      PUT → 405 with Allow.
#   5. `davit feed regenerate`: the old URL 404, the new 200; `davit feed
#      disable`: 404 at once, the same 404 as a made-up token.
#
# The last line is `feeds: N passed, M failed`; exits non-zero if a check failed.
set -euo pipefail

# shellcheck source=conformance/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

here="$DAVIT_ROOT/conformance/feeds"
venv="$DAVIT_ROOT/target/conformance/venv-feeds"
work="$DAVIT_ROOT/target/conformance/feeds"

# check WHAT CONDITION-COMMAND... -- pass if the command succeeds.
check() {
	local what="$1"
	shift
	if "$@"; then check_pass "$what"; else check_fail "$what"; fi
}

setup_venv() {
	# icalendar installs no executable: the stamp (written after a complete install) decides.
	ensure_venv "$venv" "$here/requirements.txt" python
	note "icalendar $("$venv/bin/python" -c 'import icalendar; print(icalendar.__version__)')"
}

# feedcheck ARGS... -- run the Python checker; count its ok/FAIL lines.
feedcheck() {
	local out rc=0 n_ok n_fail line
	out="$(mktemp "$work/feedcheck.XXXXXX")"
	"$venv/bin/python" "$here/feedcheck.py" "$@" >"$out" 2>&1 || rc=$?
	cat "$out"
	n_ok="$(grep -c '^ok ' "$out" || true)"
	n_fail="$(grep -c '^FAIL ' "$out" || true)"
	passed=$((passed + n_ok))
	failed=$((failed + n_fail))
	while IFS= read -r line; do
		failures+=("${line#FAIL }")
	done < <(grep '^FAIL ' "$out" || true)
	if ((rc != 0 || n_ok + n_fail == 0)); then
		check_fail "feedcheck.py $1 crashed (exit $rc)"
	fi
	rm -f "$out"
}

# fetch NAME URL [curl args...] -- GET without an Accept header; body in
# $work/NAME, headers in $work/NAME.headers; prints the status code.
fetch() {
	local name="$1" url="$2"
	shift 2
	curl -sS --max-time 60 -H 'Accept:' -H 'User-Agent: Google-Calendar-Importer' \
		-D "$work/$name.headers" -o "$work/$name" -w '%{http_code}' "$@" "$url" || echo 000
}

# header NAME FIELD -- the value of FIELD in $work/NAME.headers.
header() {
	tr -d '\r' <"$work/$1.headers" | awk -v f="$(echo "$2" | tr 'A-Z' 'a-z')" \
		'{ n = tolower($1) } n == f ":" { sub(/^[^:]*: */, ""); print; exit }'
}

# feed_url OUTPUT_FILE -- the URL on the last line of `davit feed` output.
feed_url() { tail -n1 "$1"; }

davit_feed() {
	DAVIT_PUBLIC_URL="$DAVIT_URL" "$DAVIT_BIN" feed "$@" --data-dir "$DAVIT_DATA" </dev/null
}

# ------------------------------------------------------------------- set-up

setup_venv
build_davit
start_davit

FEED_USER=feeds
FEED_PASSWORD="$(random_password)"
add_user "$FEED_USER" "$FEED_PASSWORD"
cal_url="$DAVIT_URL/dav/calendars/$FEED_USER/calendar"

rm -rf "$work"
mkdir -p "$work/put"

# put FILE NAME -- PUT FILE as NAME; prints the status code.
put() {
	curl -sS --max-time 20 -u "$FEED_USER:$FEED_PASSWORD" -X PUT -H 'If-None-Match: *' \
		-H 'Content-Type: text/calendar; charset=utf-8' --data-binary "@$1" \
		-o "$work/put/$2.response" -w '%{http_code}' "$cal_url/$2" || echo 000
}

echo
note "step 1: PUT the fixture calendars and two classified events"
objects=0
events=0
private_uids=()
n=0
while IFS= read -r f; do
	n=$((n + 1))
	name="fixture-$n.ics"
	status="$(put "$f" "$name")"
	rel="${f#"$DAVIT_ROOT"/}"
	if [[ $status != 201 ]]; then
		note "$rel: $status (not stored: $(head -c 160 "$work/put/$name.response" | tr '\r\n' '  '))"
		continue
	fi
	read -r count private uid < <("$venv/bin/python" "$here/feedcheck.py" source "$f")
	note "$rel: 201, $count VEVENT(s), private=$private"
	((count > 0)) || continue
	if ((private)); then
		private_uids+=("$uid")
	else
		objects=$((objects + 1))
		events=$((events + count))
	fi
done < <(find "$DAVIT_ROOT/fixtures/ical" -name '*.ics' -not -path '*/bad/*' | sort)
enough_fixtures() { ((objects >= 9)); }
check "$objects fixture calendars with VEVENTs stored (at least 9)" enough_fixtures

classified() {
	printf 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davit conformance//EN\r\nBEGIN:VEVENT\r\n'
	printf 'UID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260301T090000Z\r\nDTEND:20260301T100000Z\r\n' "$1"
	printf 'CLASS:%s\r\nSUMMARY:Secret %s\r\nDESCRIPTION:Do not publish\r\nLOCATION:Room 7\r\n' "$2" "$1"
	printf 'ORGANIZER:mailto:boss@example.org\r\nATTENDEE;CN=Ann:mailto:ann@example.org\r\n'
	printf 'BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Soon\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\n'
	printf 'END:VEVENT\r\nEND:VCALENDAR\r\n'
}
classified conformance-private PRIVATE >"$work/put/private.ics"
classified conformance-confidential CONFIDENTIAL >"$work/put/confidential.ics"
status="$(put "$work/put/private.ics" private.ics)"
expect_201() { [[ $status == 201 ]]; }
check "PUT a CLASS:PRIVATE event: 201" expect_201
private_uids+=(conformance-private)
status="$(put "$work/put/confidential.ics" confidential.ics)"
check "PUT a CLASS:CONFIDENTIAL event: 201" expect_201
objects=$((objects + 1))
events=$((events + 1))
note "expecting $objects objects with $events VEVENTs; private: ${private_uids[*]}"

echo
note "step 2: davit feed enable $FEED_USER/calendar"
davit_feed enable "$FEED_USER/calendar" | tee "$work/enable.out"
url="$(feed_url "$work/enable.out")"
is_feed_url() { [[ $url =~ ^$DAVIT_URL/feeds/[A-Za-z0-9_-]{43}\.ics$ ]]; }
check "enable printed the feed URL alone on its last line ($url)" is_feed_url
has_webcal() { grep -q "webcal://${DAVIT_URL#http://}/feeds/" "$work/enable.out"; }
check "enable printed the webcal:// URL" has_webcal

echo
note "step 3: GET the feed without Accept, parse it with icalendar"
status="$(fetch feed.ics "$url")"
expect_200() { [[ $status == 200 ]]; }
check "GET (no Accept, no credentials): 200" expect_200
ctype="$(header feed.ics content-type)"
is_calendar() { [[ $ctype == "text/calendar; charset=utf-8" ]]; }
check "Content-Type: $ctype" is_calendar
etag="$(header feed.ics etag)"
strong_etag() { [[ $etag == \"*\" ]]; }
check "strong ETag ($etag)" strong_etag
has_last_modified() { [[ -n $(header feed.ics last-modified) ]]; }
check "Last-Modified: $(header feed.ics last-modified)" has_last_modified
feedcheck feed "$work/feed.ics" --objects "$objects" --events "$events" \
	--private "$(
		IFS=,
		echo "${private_uids[*]}"
	)" --confidential conformance-confidential

echo
note "step 4: conditional GET, gzip, HEAD, PUT"
status="$(fetch feed-304 "$url" -H "If-None-Match: $etag")"
expect_304() { [[ $status == 304 ]]; }
check "If-None-Match: $etag → 304" expect_304
status="$(fetch feed-ims "$url" -H "If-Modified-Since: $(header feed.ics last-modified)")"
check "If-Modified-Since → 304" expect_304
status="$(fetch feed.ics.gz "$url" -H 'Accept-Encoding: gzip')"
gzip_same() {
	[[ $status == 200 && $(header feed.ics.gz content-encoding) == gzip ]] &&
		gzip -dc "$work/feed.ics.gz" | cmp -s - "$work/feed.ics"
}
check "Accept-Encoding: gzip → gzip of the same bytes" gzip_same
status="$(fetch feed-head "$url" -I)"
head_ok() { [[ $status == 200 && $(header feed-head etag) == "$etag" ]]; }
check "HEAD → 200 with the same ETag" head_ok
status="$(fetch feed-put "$url" -X PUT --data-binary "@$work/put/private.ics")"
put_refused() { [[ $status == 405 && $(header feed-put allow) == "GET, HEAD, OPTIONS" ]]; }
check "PUT → 405 with Allow: GET, HEAD, OPTIONS" put_refused

echo
note "step 5: regenerate, disable"
davit_feed regenerate "$FEED_USER/calendar" | tee "$work/regenerate.out"
new_url="$(feed_url "$work/regenerate.out")"
status="$(fetch old "$url")"
expect_404() { [[ $status == 404 ]]; }
check "after regenerate: the old URL → 404" expect_404
status="$(fetch new "$new_url")"
same_feed() { [[ $status == 200 ]] && cmp -s "$work/new" "$work/feed.ics"; }
check "after regenerate: the new URL → 200, the same feed" same_feed
davit_feed disable "$FEED_USER/calendar" | tee "$work/disable.out"
status="$(fetch disabled "$new_url")"
check "after disable: 404 at once" expect_404
status="$(fetch made-up "$DAVIT_URL/feeds/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.ics")"
same_404() { [[ $status == 404 ]] && cmp -s "$work/made-up" "$work/disabled"; }
check "a made-up token gets the same 404" same_404
token_not_logged() { ! grep -qF "${new_url##*/feeds/}" "$DAVIT_LOG"; }
check "the token is not in the server log" token_not_logged

# ------------------------------------------------------------------ summary

server_ok=1
stop_davit || server_ok=0
if ((server_ok)); then
	check_pass "davit shut down cleanly"
else
	check_fail "davit did not shut down cleanly (see above)"
fi

echo
if ((failed)); then
	for f in "${failures[@]}"; do
		echo "  FAILED: $f"
	done
	note "fetched feeds and headers: ${work#"$DAVIT_ROOT"/}/"
fi
rc=0
((failed == 0)) || rc=1
conformance_cleanup "$rc" || rc=1
echo "feeds: $passed passed, $failed failed"
exit "$rc"
