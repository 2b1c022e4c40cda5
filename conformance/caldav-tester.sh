#!/usr/bin/env bash
#
# caldav-server-tester (python-caldav's CalDAV server checker, from PyPI)
# against a throw-away davit server.
#
# The checker and its dependencies (caldav, and vobject, which the checker
# needs but does not declare) are pinned in conformance/caldav-tester/
# requirements.txt and installed into the virtualenv
# target/conformance/venv-caldav (created or reused; pip runs only when that
# file changed).
#
# conformance/caldav-tester/check.py runs the checker's own CLI entry point
# in-process (equivalent to
#     caldav-server-tester --caldav-url URL --caldav-username U --caldav-password P
# with URL = $DAVIT_URL/dav/), prints its report, re-runs its CheckWellKnown
# with the host spelled 127.1 (it skips loopback host names), and then grades
# every feature the checker recorded against what davit advertises (DAV header
# and supported-report-set): "full" passes, anything else fails unless it is
# the checker's own default for that feature or the feature is on the
# commented allow-list NOT_ADVERTISED in check.py. The full HTTP trace is kept
# in target/conformance/caldav-tester/trace.log, tagged with the check that
# sent each request.
#
# The last line is `caldav-server-tester: N passed, M failed`; exits non-zero
# if a feature failed, the checker crashed, or the server did not stop cleanly.
#
# Environment: CALDAV_TESTER_TIMEOUT (seconds for the checker, default 300).
set -euo pipefail

# shellcheck source=conformance/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CSC_VERSION=1.7.0 # must match conformance/caldav-tester/requirements.txt

here="$DAVIT_ROOT/conformance/caldav-tester"
venv="$DAVIT_ROOT/target/conformance/venv-caldav"
work="$DAVIT_ROOT/target/conformance/caldav-tester"

setup_venv() {
	ensure_venv "$venv" "$here/requirements.txt" caldav-server-tester
	local version
	version="$("$venv/bin/caldav-server-tester" --version 2>&1)" ||
		die "caldav-server-tester --version failed: $version"
	[[ $version == "caldav-server-tester, version $CSC_VERSION" ]] ||
		die "expected caldav-server-tester $CSC_VERSION, got: $version"
	note "$version"
}

setup_venv
build_davit
start_davit

# An email-like user name: davit accepts it, and it lets the checker grade
# url.encode-at.literal.principal (an @ in the principal and calendar-home paths).
CSC_USER=csc@example.com
CSC_PASSWORD="$(random_password)"
export CSC_PASSWORD
add_user "$CSC_USER" "$CSC_PASSWORD"

rm -rf "$work"
mkdir -p "$work"
out="$work/output.txt"
trace="$work/trace.log"

note "python conformance/caldav-tester/check.py --url $DAVIT_URL/dav/ --user $CSC_USER (output: ${out#"$DAVIT_ROOT"/})"
rc=0
(
	# The checker writes nothing to the working directory, but keep it out of the tree.
	cd "$work"
	timeout --kill-after=10 "${CALDAV_TESTER_TIMEOUT:-300}" \
		"$venv/bin/python" "$here/check.py" --url "$DAVIT_URL/dav/" --user "$CSC_USER" --trace "$trace"
) </dev/null >"$out" 2>&1 || rc=$?
cat "$out"

passed="$(grep -c '^ok ' "$out" || true)"
failed="$(grep -c '^FAIL ' "$out" || true)"
if ((rc != 0)); then
	if ((rc == 124 || rc == 137)); then
		warn "caldav-server-tester timed out after ${CALDAV_TESTER_TIMEOUT:-300} s"
		failed=$((failed + 1))
	elif ((failed == 0)); then
		warn "check.py exited with status $rc without a FAIL line"
		failed=$((failed + 1))
	fi
fi

server_ok=1
stop_davit || server_ok=0
if ((server_ok == 0)); then
	warn "the server did not shut down cleanly (see above)"
	failed=$((failed + 1))
fi

if ((failed)); then
	echo
	echo "Failed:"
	grep '^FAIL ' "$out" | sed 's/^FAIL /  /' || true
	note "HTTP trace of every exchange: ${trace#"$DAVIT_ROOT"/}; davit's log: $DAVIT_LOG"
fi
status=0
((failed == 0)) || status=1
conformance_cleanup "$status" || status=1
echo "caldav-server-tester: $passed passed, $failed failed"
exit "$status"
