#!/usr/bin/env bash
#
# litmus (WebDAV RFC 4918 conformance suite, Debian package `litmus`, 0.13)
# against a throw-away davit server, inside a user's calendar home.
#
# Runs the suites basic, copymove, props and http. The `locks` suite is not
# run: davit advertises DAV class 1 only (no LOCK/UNLOCK).
#
# Invocation (verified against litmus 0.13 in bookworm: /usr/bin/litmus is a
# sh wrapper running /usr/libexec/litmus/<suite> for each suite in $TESTS;
# -k/--keep-going must be the first argument):
#
#     TESTS="basic copymove props http" litmus -k URL USER PASSWORD
#
# The suites write debug.log / child.log (full HTTP traces) into the current
# directory; they are run in target/conformance/litmus/, where they are kept
# together with output.txt (litmus' raw output).
#
# Exits non-zero if a test failed, a suite did not run, or a suite's summary
# is missing. The last line is `litmus: N passed, M failed`.
#
# Environment: LITMUS_TIMEOUT (seconds for the whole run, default 900).
set -euo pipefail

# shellcheck source=conformance/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SUITES=(basic copymove props http)

ensure_apt_package litmus
command -v litmus >/dev/null || die "litmus is not on PATH after installing it"

build_davit
start_davit

LITMUS_USER=litmus
LITMUS_PASSWORD="$(random_password)"
add_user "$LITMUS_USER" "$LITMUS_PASSWORD"
url="$DAVIT_URL/dav/calendars/$LITMUS_USER/"

workdir="$DAVIT_ROOT/target/conformance/litmus"
rm -rf "$workdir"
mkdir -p "$workdir"
out="$workdir/output.txt"

note "litmus suite 'locks' skipped: davit does not advertise DAV class 2 (no locking)"
note "running in $workdir:"
note "  TESTS=\"${SUITES[*]}\" litmus -k $url $LITMUS_USER <password>"

rc=0
(
	cd "$workdir"
	unset TEST_QUIET # quiet mode would change the summary format parsed below
	TESTS="${SUITES[*]}" timeout --kill-after=10 "${LITMUS_TIMEOUT:-900}" \
		litmus -k "$url" "$LITMUS_USER" "$LITMUS_PASSWORD"
) </dev/null >"$out" 2>&1 || rc=$?

# Each test line is "\r N. name.... \r N. name.... result"; keep the last part.
clean="$workdir/output.clean.txt"
sed 's/.*\r//' "$out" >"$clean"

echo
echo "---------------------------- litmus output ----------------------------"
cat "$clean"
echo "-----------------------------------------------------------------------"
echo

server_ok=1
stop_davit || server_ok=0

failed_overall=0
if ((rc != 0)); then
	if ((rc == 124 || rc == 137)); then
		warn "litmus timed out after ${LITMUS_TIMEOUT:-900} s"
	else
		warn "litmus exited with status $rc"
	fi
	failed_overall=1
fi
if ((server_ok == 0)); then
	warn "the server did not shut down cleanly (see above)"
	failed_overall=1
fi

# Per-suite parse: "-> running `S':", optional "-> K tests were skipped.",
# "<- summary for `S': of N tests run: P passed, F failed. X%",
# or "<- all tests skipped for `S'.", optional "-> W warnings were issued."
parse_suite() {
	awk -v suite="$1" '
		BEGIN { q = sprintf("%c", 39); bq = "`" }
		$0 == "-> running " bq suite q ":" { ran = 1; cur = 1; next }
		/^-> running `/ { cur = 0; next }
		!cur { next }
		/^-> [0-9]+ tests? (was|were) skipped\.$/ { skipped = $2; next }
		index($0, "<- all tests skipped for " bq suite q) == 1 { allskipped = 1; next }
		index($0, "<- summary for " bq suite q ": of ") == 1 {
			n = split($0, w, " ")
			for (i = 1; i <= n; i++) {
				if (w[i] == "tests" && w[i + 1] == "run:") run = w[i - 1]
				if (w[i] ~ /^passed,?$/) passed = w[i - 1]
				if (w[i] ~ /^failed[.,]?$/) failed = w[i - 1]
			}
			summary = 1; next
		}
		/^-> [0-9]+ warnings? (was|were) issued\.$/ { warnings = $2; next }
		END {
			printf "%d %d %d %d %d %d %d %d\n", ran, summary, allskipped,
				run + 0, passed + 0, failed + 0, skipped + 0, warnings + 0
		}' "$clean"
}

total_passed=0
total_failed=0
echo "litmus summary (suite 'locks' skipped: no DAV class 2):"
for s in "${SUITES[@]}"; do
	read -r ran summary allskipped run passed failed skipped warnings < <(parse_suite "$s")
	if ((!ran)); then
		printf '  %-9s DID NOT RUN\n' "$s"
		failed_overall=1
		continue
	fi
	if ((allskipped)); then
		printf '  %-9s ALL %d TESTS SKIPPED\n' "$s" "$skipped"
		failed_overall=1
		continue
	fi
	if ((!summary)); then
		printf '  %-9s NO SUMMARY (suite crashed or was cut short?)\n' "$s"
		failed_overall=1
		continue
	fi
	total_passed=$((total_passed + passed))
	total_failed=$((total_failed + failed))
	verdict=ok
	((failed == 0)) || verdict=FAILED
	if ((passed + failed != run)); then
		verdict="FAILED (counts do not add up)"
		failed_overall=1
	fi
	printf '  %-9s of %2d run: %2d passed / %2d failed; %d skipped, %d warnings  %s\n' \
		"$s" "$run" "$passed" "$failed" "$skipped" "$warnings" "$verdict"
done
((total_failed == 0)) || failed_overall=1
if ((failed_overall)); then
	note "litmus traces: $workdir/debug.log (raw output: $out)"
fi
conformance_cleanup "$failed_overall" || failed_overall=1
echo "litmus: $total_passed passed, $total_failed failed"
exit "$failed_overall"
