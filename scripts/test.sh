#!/usr/bin/env bash
#
# The project's one test command:  scripts/test.sh   (CI: .ci/run runs it)
#
#   [1] cargo fmt --all -- --check
#   [2] cargo clippy --all-targets -- -D warnings
#   [3] cargo test                  (unit tests and the dav-tests target)
#   [4] conformance/*.sh             (litmus from Debian; vdirsyncer round trip from PyPI)
#
# Every step runs even if an earlier one failed; a summary follows, and the
# exit status is non-zero if any step failed.
#
# Environment:
#   DAVIT_SKIP_CONFORMANCE=1  skip the conformance steps (they install Debian
#                             packages with apt-get and Python packages with pip
#                             into target/conformance/venv, so need root and the
#                             Debian and PyPI registries, and start servers on
#                             127.0.0.1).
#
# A conformance suite is added by appending its script to CONFORMANCE below.
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

CONFORMANCE=(
	conformance/litmus.sh
	conformance/vdirsyncer.sh
	conformance/caldav-tester.sh
	conformance/feeds.sh
)

names=()
cmds=()
add_step() {
	names+=("$1")
	cmds+=("$2")
}
add_step "cargo fmt --all -- --check" "cargo fmt --all -- --check"
add_step "cargo clippy --all-targets -- -D warnings" "cargo clippy --all-targets -- -D warnings"
add_step "cargo test" "cargo test"
if [[ ${DAVIT_SKIP_CONFORMANCE:-} == 1 ]]; then
	skipped_conformance=1
else
	skipped_conformance=0
	for script in "${CONFORMANCE[@]}"; do
		add_step "conformance: $script" "bash $script"
	done
fi

total=${#names[@]}
((skipped_conformance)) && total=$((total + 1))
results=()
failed=0
for i in "${!names[@]}"; do
	echo
	echo "==> [$((i + 1))/$total] ${names[$i]}"
	start=$SECONDS
	status=0
	# Each step's command is a single command, so errexit never bites inside.
	${cmds[$i]} </dev/null || status=$?
	took=$((SECONDS - start))
	if ((status == 0)); then
		results+=("ok      [$((i + 1))/$total] ${names[$i]} (${took}s)")
	else
		results+=("FAILED  [$((i + 1))/$total] ${names[$i]} (exit $status, ${took}s)")
		failed=1
	fi
done
if ((skipped_conformance)); then
	echo
	echo "==> [$total/$total] conformance: skipped (DAVIT_SKIP_CONFORMANCE=1)"
	results+=("skipped [$total/$total] conformance (DAVIT_SKIP_CONFORMANCE=1)")
fi

echo
echo "==> summary"
for r in "${results[@]}"; do
	echo "    $r"
done
if ((failed)); then
	echo "==> FAILED"
	exit 1
fi
echo "==> all steps passed"
