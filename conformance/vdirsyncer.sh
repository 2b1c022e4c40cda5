#!/usr/bin/env bash
#
# vdirsyncer (CalDAV/CardDAV sync client, from PyPI) against a throw-away davit
# server: two-way sync of one calendar and one address book with local
# `filesystem` vdirs.
#
# vdirsyncer and its dependencies are pinned in conformance/vdirsyncer/
# requirements.txt and installed into the virtualenv target/conformance/venv
# (created or reused; pip runs only when that file changed). The run's files
# are in target/conformance/vdirsyncer/ (recreated each run, kept afterwards):
# config, status/, local/ (the vdirs), seed/, logs/ (vdirsyncer's DEBUG logs,
# which hold every HTTP request and response), snapshots.
#
# The configuration (conformance/vdirsyncer/config.in) points both remote
# storages at the server root, so collections are discovered, and sets no
# `item_types` / `start_date`: vdirsyncer then lists a calendar with PROPFIND
# Depth 1 and never sends calendar-query (which davit does not implement yet);
# a check below fails loudly if it ever does.
#
# Steps and checks:
#   1. seed the server with 3 events (weekly with EXDATE and VTIMEZONE,
#      all-day, non-ASCII SUMMARY with a folded line) and 3 vCards (3.0, 4.0,
#      non-ASCII 3.0) by curl PUT (If-None-Match: *), and the local vdirs with
#      2 events and 2 vCards written as files (all CRLF);
#   2. vdirsyncer discover, vdirsyncer sync;
#   3. both sides hold the same 5 UIDs per collection, no duplicates, and every
#      item's server GET body is byte-identical to its local file (exact bytes,
#      CRLF included, no normalisation), in both directions;
#   4. on each side edit one item (server: curl PUT with If-Match and the
#      server's ETag; local: rewrite the file) and delete one (server: curl
#      DELETE with If-Match; local: rm), per collection; sync; the edits
#      (SUMMARY / FN) and deletions propagated, 3 items per collection, no
#      duplicates, bodies byte-identical;
#   5. sync again with no changes: no sync action reported, no PUT/DELETE
#      sent, server ETags and sync-tokens and local files unchanged.
#
# The last line is `vdirsyncer: N passed, M failed`; exits non-zero if a check
# failed.
#
# Environment: VDIRSYNCER_TIMEOUT (seconds per vdirsyncer run, default 120).
set -euo pipefail

# shellcheck source=conformance/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

VDIRSYNCER_VERSION=0.21.0 # must match conformance/vdirsyncer/requirements.txt

here="$DAVIT_ROOT/conformance/vdirsyncer"
venv="$DAVIT_ROOT/target/conformance/venv"
work="$DAVIT_ROOT/target/conformance/vdirsyncer"

# ------------------------------------------------------------------ checks


# vdcheck ARGS... -- run the python driver; count its ok/FAIL lines.
vdcheck() {
	local out rc=0 n_ok n_fail line
	out="$(mktemp "$work/vdcheck.XXXXXX")"
	"$venv/bin/python" "$here/vdcheck.py" "$@" >"$out" 2>&1 || rc=$?
	cat "$out"
	n_ok="$(grep -c '^ok ' "$out" || true)"
	n_fail="$(grep -c '^FAIL ' "$out" || true)"
	passed=$((passed + n_ok))
	failed=$((failed + n_fail))
	while IFS= read -r line; do
		failures+=("${line#FAIL }")
	done < <(grep '^FAIL ' "$out" || true)
	if ((rc != 0 && n_fail == 0)); then
		check_fail "vdcheck.py $* crashed (exit $rc)"
	fi
	rm -f "$out"
}

# helper ARGS... -- run a vdcheck.py helper (snapshot, href, local-file,
# setprop), print its output; on failure count a failed check and return 1.
helper() {
	local rc=0
	"$venv/bin/python" "$here/vdcheck.py" "$@" || rc=$?
	((rc == 0)) || check_fail "vdcheck.py $* failed (exit $rc; its error is above)"
	return "$rc"
}

# lookup href|local-file KIND UID -- print the server URL / local file of the
# item with UID (for use in $(...): counts nothing, the caller does).
lookup() {
	"$venv/bin/python" "$here/vdcheck.py" "$@"
}

# ------------------------------------------------------------ vdirsyncer

setup_venv() {
	ensure_venv "$venv" "$here/requirements.txt" vdirsyncer
	local version
	version="$("$venv/bin/vdirsyncer" --version 2>&1)" || die "vdirsyncer --version failed: $version"
	[[ $version == "vdirsyncer, version $VDIRSYNCER_VERSION" ]] ||
		die "expected vdirsyncer $VDIRSYNCER_VERSION, got: $version"
	note "$version"
}

# vds NAME ARGS... -- run vdirsyncer ARGS with the DEBUG log in logs/NAME.log;
# show its non-debug lines; sets vds_rc and vds_log. (vdirsyncer 0.21.0 logs
# "warning: Deleting an item with no etag." when it DOES send If-Match: the
# condition in its DAVStorage.delete is inverted. It is harmless.)
vds_run=0
vds() {
	local name="$1"
	shift
	vds_run=$((vds_run + 1))
	vds_log="$work/logs/$vds_run-$name.log"
	note "vdirsyncer -c $work/config -v DEBUG $* </dev/null  (log: ${vds_log#"$DAVIT_ROOT"/})"
	vds_rc=0
	timeout --kill-after=10 "${VDIRSYNCER_TIMEOUT:-120}" \
		"$venv/bin/vdirsyncer" -c "$work/config" -v DEBUG "$@" </dev/null >"$vds_log" 2>&1 || vds_rc=$?
	grep -v '^debug: ' "$vds_log" | sed 's/^/    | /' || true
}

# count_lines PATTERN FILE -- lines of FILE matching the extended regex.
count_lines() { grep -cE "$1" "$2" || true; }

# expect_actions WHAT UPLOADS UPDATES DELETES -- check the sync actions that
# vdirsyncer reported in the last run.
expect_actions() {
	local what="$1" up down del conflicts
	# click-log prefixes every line but INFO ones with "LEVEL: ".
	up="$(count_lines '^Copying \(uploading\) item ' "$vds_log")"
	down="$(count_lines '^Copying \(updating\) item ' "$vds_log")"
	del="$(count_lines '^Deleting item ' "$vds_log")"
	conflicts="$(grep -v '^debug: ' "$vds_log" | grep -ci 'conflict' || true)"
	if [[ "$up $down $del $conflicts" == "$2 $3 $4 0" ]]; then
		check_pass "$what: vdirsyncer reported $2 uploads, $3 updates, $4 deletions, no conflict"
	else
		check_fail "$what: vdirsyncer reported $up uploads, $down updates, $del deletions, $conflicts conflict lines (expected $2, $3, $4, 0)" \
			"see ${vds_log#"$DAVIT_ROOT"/}"
	fi
}

expect_vds_ok() {
	if ((vds_rc == 0)); then
		check_pass "$1: exit status 0"
	else
		check_fail "$1: exit status $vds_rc" "see ${vds_log#"$DAVIT_ROOT"/}"
	fi
}

# --------------------------------------------------------------------- HTTP

CURL=(curl -sS --max-time 20)

# http_status METHOD URL [curl args...] -- print the status code (000 on error).
http_status() {
	local method="$1" url="$2"
	shift 2
	"${CURL[@]}" -u "$VDS_USER:$VDS_PASSWORD" -X "$method" -o "$work/last-response.txt" \
		-w '%{http_code}' "$@" "$url" 2>"$work/last-curl-error.txt" || true
}

# server_etag URL -- the ETag header of a GET of URL (saves the body to URL's
# basename in $work/edit/).
server_etag() {
	local url="$1" out
	out="$work/edit/$(basename "$url")"
	"${CURL[@]}" -u "$VDS_USER:$VDS_PASSWORD" -D "$out.headers" -o "$out" "$url" ||
		die "GET $url failed"
	tr -d '\r' <"$out.headers" | awk 'tolower($1) == "etag:" { print $2 }'
}

# expect_status WHAT WANT GOT METHOD URL [REQUEST_HEADERS...]
expect_status() {
	local what="$1" want="$2" got="$3" method="$4" url="$5"
	shift 5
	if [[ " $want " == *" $got "* ]]; then
		check_pass "$what: $method → $got"
	else
		local body
		body="$(head -c 400 "$work/last-response.txt" 2>/dev/null | tr '\r\n' '  ')"
		check_fail "$what: $method → $got, expected ${want// / or }" \
			"request: $method $url $*" \
			"response body: ${body:-<empty>} $(cat "$work/last-curl-error.txt" 2>/dev/null)"
	fi
}

uid_of() { tr -d '\r' <"$1" | sed -n 's/^UID://p' | head -n1; }

join_by_comma() {
	local IFS=,
	echo "$*"
}

# ------------------------------------------------------------------- set-up

setup_venv
build_davit
start_davit

VDS_USER=vds
VDS_PASSWORD="$(random_password)"
add_user "$VDS_USER" "$VDS_PASSWORD"
VDS_URL="$DAVIT_URL"
VDS_WORK="$work"
export VDS_URL VDS_USER VDS_PASSWORD VDS_WORK

cal_url="$DAVIT_URL/dav/calendars/$VDS_USER/calendar"
card_url="$DAVIT_URL/dav/addressbooks/$VDS_USER/contacts"

rm -rf "$work"
mkdir -p "$work"/{status,logs,edit} "$work"/seed/{server,local} \
	"$work/local/calendars/calendar" "$work/local/addressbooks/contacts"
(
	umask 077
	sed -e "s|@WORK@|$work|g" -e "s|@URL@|$DAVIT_URL|g" \
		-e "s|@USER@|$VDS_USER|g" -e "s|@PASSWORD@|$VDS_PASSWORD|g" \
		"$here/config.in" >"$work/config"
)

# The seed files are kept with LF endings in git; items are sent and written
# with CRLF, as RFC 5545 / RFC 6350 require.
crlf() { sed -e 's/\r$//' -e 's/$/\r/' "$1"; }

echo
note "step 1: seed the server (curl PUT) and the local vdirs (files)"
declare -A uid_by_name=()
server_cal_uids=()
server_card_uids=()
local_cal_uids=()
local_card_uids=()
for f in "$here"/seed/server/calendar/*.ics "$here"/seed/server/contacts/*.vcf; do
	name="$(basename "$f")"
	crlf "$f" >"$work/seed/server/$name"
	uid="$(uid_of "$work/seed/server/$name")"
	uid_by_name[$name]="$uid"
	if [[ $name == *.ics ]]; then
		url="$cal_url/$name" ctype="text/calendar; charset=utf-8"
		server_cal_uids+=("$uid")
	else
		url="$card_url/$name" ctype="text/vcard; charset=utf-8"
		server_card_uids+=("$uid")
	fi
	got="$(http_status PUT "$url" -H "Content-Type: $ctype" -H 'If-None-Match: *' \
		--data-binary "@$work/seed/server/$name")"
	expect_status "seed server $name (UID $uid)" 201 "$got" PUT "$url" "If-None-Match: *"
done
for f in "$here"/seed/local/calendar/*.ics "$here"/seed/local/contacts/*.vcf; do
	name="$(basename "$f")"
	if [[ $name == *.ics ]]; then
		dest="$work/local/calendars/calendar/$name"
		local_cal_uids+=("$(uid_of "$f")")
	else
		dest="$work/local/addressbooks/contacts/$name"
		local_card_uids+=("$(uid_of "$f")")
	fi
	crlf "$f" >"$dest"
	note "seeded local ${dest#"$work"/}"
done
all_cal="$(join_by_comma "${server_cal_uids[@]}" "${local_cal_uids[@]}")"
all_card="$(join_by_comma "${server_card_uids[@]}" "${local_card_uids[@]}")"

echo
note "step 2: vdirsyncer discover, vdirsyncer sync"
vds discover discover
expect_vds_ok "vdirsyncer discover"
vds sync1 sync
expect_vds_ok "vdirsyncer sync (first)"
expect_actions "first sync" 10 0 0

echo
note "step 3: both sides hold the same 5 events and 5 cards"
vdcheck verify cal --uids "$all_cal" --server-origin "$(join_by_comma "${server_cal_uids[@]}")"
vdcheck verify card --uids "$all_card" --server-origin "$(join_by_comma "${server_card_uids[@]}")"

echo
note "step 4: edit and delete one item on each side, per collection"
# name of the seeded server item to edit there, its property and new value;
# UID of a locally seeded item to delete on the server (DELETE If-Match);
# UID of a server-seeded item to edit locally, and its new value;
# UID of a locally seeded item to delete locally.
srv_edit_cal=offsite-all-day.ics
srv_edit_cal_value="Team offsite (moved; edited on the server)"
srv_del_cal_uid=vds-local-lunch
loc_edit_cal_uid="${uid_by_name[unicode-meeting.ics]}"
loc_edit_cal_value="Café-Besprechung – verschoben ✓ (lokal bearbeitet)"
loc_del_cal_uid=vds-local-dentist

srv_edit_card=bob.vcf
srv_edit_card_value="Bob Example (edited on the server)"
srv_del_card_uid=vds-local-dave
loc_edit_card_uid="${uid_by_name[zoe.vcf]}"
loc_edit_card_value="Zoë Ångström-Müller (modifiée localement)"
loc_del_card_uid=vds-local-carol

# server_edit URL PROP VALUE -- GET (for the ETag), rewrite PROP, PUT If-Match.
server_edit() {
	local url="$1" prop="$2" value="$3" etag body got
	etag="$(server_etag "$url")" || etag=""
	[[ -n $etag ]] || {
		check_fail "server edit: GET $url returned no ETag"
		return 0
	}
	body="$work/edit/$(basename "$url")"
	helper setprop "$body" "$prop" "$value" || return 0
	got="$(http_status PUT "$url" -H "If-Match: $etag" -H "Content-Type: $4" --data-binary "@$body")"
	expect_status "server edit of $(basename "$url") ($prop), If-Match: $etag" "200 204" "$got" PUT "$url" "If-Match: $etag"
}
# server_delete KIND UID
server_delete() {
	local url etag got
	url="$(lookup href "$1" "$2")" || {
		check_fail "server delete: no single server item with UID $2 (error above)"
		return 0
	}
	etag="$(server_etag "$url")" || etag=""
	[[ -n $etag ]] || {
		check_fail "server delete: GET $url returned no ETag"
		return 0
	}
	got="$(http_status DELETE "$url" -H "If-Match: $etag")"
	expect_status "server delete of $2 ($(basename "$url")), If-Match: $etag" "200 204" "$got" DELETE "$url" "If-Match: $etag"
}
# local_edit KIND UID PROP VALUE / local_delete KIND UID
local_edit() {
	local file
	file="$(lookup local-file "$1" "$2")" || {
		check_fail "local ${FUNCNAME[0]#local_}: no single local file with UID $2 (error above)"
		return 0
	}
	helper setprop "$file" "$3" "$4" || return 0
	note "local edit: $3 of $2 in ${file#"$work"/}"
}
local_delete() {
	local file
	file="$(lookup local-file "$1" "$2")" || {
		check_fail "local ${FUNCNAME[0]#local_}: no single local file with UID $2 (error above)"
		return 0
	}
	rm -- "$file"
	note "local delete: $2 (${file#"$work"/})"
}

server_edit "$cal_url/$srv_edit_cal" SUMMARY "$srv_edit_cal_value" "text/calendar; charset=utf-8"
server_delete cal "$srv_del_cal_uid"
local_edit cal "$loc_edit_cal_uid" SUMMARY "$loc_edit_cal_value"
local_delete cal "$loc_del_cal_uid"
server_edit "$card_url/$srv_edit_card" FN "$srv_edit_card_value" "text/vcard; charset=utf-8"
server_delete card "$srv_del_card_uid"
local_edit card "$loc_edit_card_uid" FN "$loc_edit_card_value"
local_delete card "$loc_del_card_uid"

vds sync2 sync
expect_vds_ok "vdirsyncer sync (after edits)"
expect_actions "second sync" 0 4 4

left_cal=()
for u in "${server_cal_uids[@]}"; do [[ $u == "$srv_del_cal_uid" || $u == "$loc_del_cal_uid" ]] || left_cal+=("$u"); done
left_card=()
for u in "${server_card_uids[@]}"; do [[ $u == "$srv_del_card_uid" || $u == "$loc_del_card_uid" ]] || left_card+=("$u"); done
vdcheck text cal "${uid_by_name[$srv_edit_cal]}" "$srv_edit_cal_value"
vdcheck text cal "$loc_edit_cal_uid" "$loc_edit_cal_value"
vdcheck gone cal "$srv_del_cal_uid"
vdcheck gone cal "$loc_del_cal_uid"
vdcheck verify cal --uids "$(join_by_comma "${left_cal[@]}")" --server-origin "$(join_by_comma "${left_cal[@]}")"
vdcheck text card "${uid_by_name[$srv_edit_card]}" "$srv_edit_card_value"
vdcheck text card "$loc_edit_card_uid" "$loc_edit_card_value"
vdcheck gone card "$srv_del_card_uid"
vdcheck gone card "$loc_del_card_uid"
vdcheck verify card --uids "$(join_by_comma "${left_card[@]}")" --server-origin "$(join_by_comma "${left_card[@]}")"

echo
note "step 5: sync with nothing to do"
helper snapshot "$work/snapshot-before-sync3.json" || true
vds sync3 sync
expect_vds_ok "vdirsyncer sync (no changes)"
expect_actions "third sync" 0 0 0
other="$(grep -v -e '^debug: ' -e '^Syncing ' "$vds_log" || true)"
if [[ -z $other ]]; then
	check_pass "third sync: output is only the 'Syncing PAIR/COLLECTION' lines (nothing to do)"
else
	check_fail "third sync: unexpected output" "$other"
fi
writes="$(grep -E '^debug: (PUT|DELETE|MKCOL|PROPPATCH|MOVE|COPY) ' "$vds_log" || true)"
if [[ -z $writes ]]; then
	check_pass "third sync: no PUT/DELETE/MKCOL/PROPPATCH/MOVE/COPY request sent"
else
	check_fail "third sync: vdirsyncer sent write requests" "$writes"
fi
helper snapshot "$work/snapshot-after-sync3.json" || true
vdcheck unchanged "$work/snapshot-before-sync3.json" "$work/snapshot-after-sync3.json"

# davit has no calendar-query yet; vdirsyncer must list with PROPFIND.
cq="$(grep -l 'calendar-query' "$work"/logs/*.log || true)"
if [[ -z $cq ]]; then
	check_pass "no calendar-query REPORT was sent (calendars listed with PROPFIND Depth 1)"
else
	check_fail "vdirsyncer sent a calendar-query REPORT, which davit does not implement yet" "$cq"
fi

# ------------------------------------------------------------------ summary

server_ok=1
stop_davit || server_ok=0
if ((server_ok)); then
	check_pass "davit shut down cleanly"
else
	check_fail "davit did not shut down cleanly (see above)"
fi

echo
echo "vdirsyncer $VDIRSYNCER_VERSION against davit: $passed checks passed, $failed failed"
if ((failed)); then
	for f in "${failures[@]}"; do
		echo "  FAILED: $f"
	done
	note "vdirsyncer DEBUG logs (every HTTP exchange): ${work#"$DAVIT_ROOT"/}/logs/"
fi
rc=0
((failed == 0)) || rc=1
conformance_cleanup "$rc" || rc=1
echo "vdirsyncer: $passed passed, $failed failed"
exit "$rc"
