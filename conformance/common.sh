# shellcheck shell=bash
#
# Helpers for the conformance step scripts (conformance/*.sh). Source it:
#
#     source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
#
# It provides:
#   ensure_apt_package PKG...  install missing Debian packages (idempotent)
#   build_davit                `cargo build --bin davit` once; sets DAVIT_BIN
#   start_davit                start a throw-away server on a free loopback
#                              port with an empty temp data dir; exports
#                              DAVIT_URL, DAVIT_DATA, DAVIT_PID, DAVIT_LOG
#   add_user NAME PASSWORD     `davit user add NAME --password-stdin`
#   stop_davit                 SIGTERM, wait up to 10 s, then SIGKILL
#   random_password            print a fresh random password
#   add_cleanup 'CMD'          run CMD (via eval) when the script exits
#   conformance_cleanup RC     all of the exit-time cleanup, callable early
#
# Sourcing it installs an EXIT trap that stops the server (so a failing or
# interrupted script never leaves one behind) and removes the temp dir, unless
# the script failed or DAVIT_KEEP_DATA=1, in which case its path is printed.
#
# Environment: CARGO_TARGET_DIR is honoured when locating the binary.

DAVIT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DAVIT_ROOT

DAVIT_PID="" # only ever a child of this shell
_DAVIT_TMP=""
_DAVIT_BUILT=""
_DAVIT_APT_UPDATED=""
_DAVIT_CLEANUPS=()

note() { printf -- '--> %s\n' "$*"; }
warn() { printf -- '!!! %s\n' "$*" >&2; }
die() {
	warn "$*"
	exit 1
}

_as_root() {
	if [[ ${EUID:-$(id -u)} -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root (or sudo) to run: $*"
	fi
}

_apt_installed() {
	dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

# ensure_apt_package PKG... -- install whichever of PKG... is not installed.
# `apt-get update` runs only when something is missing (and at most once).
ensure_apt_package() {
	local pkg missing=()
	for pkg in "$@"; do
		_apt_installed "$pkg" || missing+=("$pkg")
	done
	((${#missing[@]} == 0)) && return 0
	note "installing Debian package(s): ${missing[*]}"
	if [[ -z $_DAVIT_APT_UPDATED ]]; then
		_as_root apt-get update -q </dev/null || die "apt-get update failed"
		_DAVIT_APT_UPDATED=1
	fi
	_as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null ||
		die "apt-get install ${missing[*]} failed"
	for pkg in "${missing[@]}"; do
		_apt_installed "$pkg" || die "package $pkg is still not installed"
	done
}

# build_davit -- build the server binary once per script; sets DAVIT_BIN.
build_davit() {
	[[ -n $_DAVIT_BUILT ]] && return 0
	note "cargo build --bin davit"
	(cd "$DAVIT_ROOT" && cargo build --bin davit) || die "cargo build --bin davit failed"
	local target_dir="${CARGO_TARGET_DIR:-target}"
	[[ $target_dir == /* ]] || target_dir="$DAVIT_ROOT/$target_dir"
	DAVIT_BIN="$target_dir/debug/davit"
	[[ -x $DAVIT_BIN ]] || die "built, but $DAVIT_BIN is missing"
	export DAVIT_BIN
	_DAVIT_BUILT=1
}

_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

_print_log_tail() {
	if [[ -n ${DAVIT_LOG:-} && -f $DAVIT_LOG ]]; then
		warn "last 40 lines of the server log ($DAVIT_LOG):"
		tail -n 40 "$DAVIT_LOG" | sed 's/^/    | /' >&2
	fi
}

_pid_alive() {
	# A reaped child fails kill -0; an unreaped zombie would pass it, so check.
	kill -0 "$1" 2>/dev/null || return 1
	local stat
	stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
	stat="${stat##*) }" # drop "pid (comm) "; the state letter comes next
	[[ ${stat:0:1} != Z ]]
}

# start_davit -- start a fresh server and wait (up to 30 s) for /health.
start_davit() {
	[[ -n ${DAVIT_PID:-} ]] && die "start_davit: a server is already running (pid $DAVIT_PID)"
	build_davit
	ensure_apt_package curl
	local port
	port="$(_free_port)" || die "could not pick a free port"
	# The data dir itself stays empty (first-start bootstrap); the log is beside it.
	_DAVIT_TMP="$(mktemp -d "${TMPDIR:-/tmp}/davit-conformance.XXXXXX")"
	DAVIT_DATA="$_DAVIT_TMP/data"
	DAVIT_LOG="$_DAVIT_TMP/davit.log"
	DAVIT_URL="http://127.0.0.1:$port"
	mkdir "$DAVIT_DATA"
	export DAVIT_URL DAVIT_DATA DAVIT_LOG
	note "starting davit on $DAVIT_URL (data dir $DAVIT_DATA, log $DAVIT_LOG)"
	# NO_COLOR: plain log lines in the file (tracing-subscriber honours it).
	NO_COLOR=1 "$DAVIT_BIN" serve --listen "127.0.0.1:$port" --data-dir "$DAVIT_DATA" \
		</dev/null >"$DAVIT_LOG" 2>&1 &
	DAVIT_PID=$!
	export DAVIT_PID
	local deadline=$((SECONDS + 30))
	while ((SECONDS < deadline)); do
		if ! _pid_alive "$DAVIT_PID"; then
			local status=0
			wait "$DAVIT_PID" 2>/dev/null || status=$?
			DAVIT_PID=""
			warn "davit exited during start-up (exit status $status)"
			_print_log_tail
			return 1
		fi
		if curl -fsS -o /dev/null --max-time 2 "$DAVIT_URL/health" 2>/dev/null; then
			note "davit is ready (pid $DAVIT_PID)"
			return 0
		fi
		sleep 0.2
	done
	warn "davit did not answer 200 on $DAVIT_URL/health within 30 s"
	_print_log_tail
	stop_davit || true
	return 1
}

# add_user NAME PASSWORD -- create a user in the running server's data dir.
add_user() {
	local name="$1" password="$2"
	[[ -n ${DAVIT_DATA:-} ]] || die "add_user: no server started (DAVIT_DATA unset)"
	note "davit user add $name --password-stdin --data-dir $DAVIT_DATA"
	printf '%s\n' "$password" |
		"$DAVIT_BIN" user add "$name" --password-stdin --data-dir "$DAVIT_DATA" ||
		die "davit user add $name failed"
}

# stop_davit -- stop the server started by start_davit. Returns non-zero if it
# had already died (and prints its log tail) or needed SIGKILL.
stop_davit() {
	local pid="${DAVIT_PID:-}" status=0
	[[ -n $pid ]] || return 0
	DAVIT_PID=""
	if ! _pid_alive "$pid"; then
		wait "$pid" 2>/dev/null || status=$?
		warn "davit (pid $pid) died early, exit status $status"
		_print_log_tail
		return 1
	fi
	kill -TERM "$pid" 2>/dev/null || true
	local i
	for ((i = 0; i < 100; i++)); do
		_pid_alive "$pid" || break
		sleep 0.1
	done
	if _pid_alive "$pid"; then
		warn "davit (pid $pid) still running 10 s after SIGTERM; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		_print_log_tail
		return 1
	fi
	wait "$pid" 2>/dev/null || status=$?
	if ((status != 0)); then
		warn "davit (pid $pid) exited with status $status after SIGTERM"
		_print_log_tail
		return 1
	fi
	note "davit stopped"
}

# ensure_venv VENV REQUIREMENTS EXECUTABLE -- a virtualenv with exactly REQUIREMENTS installed,
# reused while the requirements file is unchanged (a stamp holds its hash). EXECUTABLE (a file
# under VENV/bin the install provides) is checked, so a half-finished install is redone.
ensure_venv() {
	local venv=$1 req=$2 exe=$3 stamp want
	stamp="$venv/.davit-requirements.sha256"
	want="$(sha256sum "$req" | cut -d' ' -f1)"
	if [[ -x $venv/bin/python ]] && ! "$venv/bin/python" -c '' 2>/dev/null; then
		note "virtualenv $venv is broken (its python moved?); recreating it"
		rm -rf "$venv"
	fi
	if [[ ! -x $venv/bin/python ]]; then
		note "creating virtualenv $venv"
		mkdir -p "$(dirname "$venv")"
		if ! python3 -m venv "$venv"; then
			rm -rf "$venv"
			ensure_apt_package python3-venv
			/usr/bin/python3 -m venv "$venv" || die "python3 -m venv $venv failed"
		fi
	fi
	if [[ -x $venv/bin/$exe && -f $stamp && $(cat "$stamp") == "$want" ]]; then
		note "reusing virtualenv $venv (requirements unchanged)"
	else
		note "pip install -r ${req#"$DAVIT_ROOT"/} into $venv"
		rm -f "$stamp"
		"$venv/bin/pip" install --disable-pip-version-check -q -r "$req" </dev/null ||
			die "pip install -r $req into $venv failed"
		echo "$want" >"$stamp"
	fi
}

# Check counters for suites that grade their own checks: check_pass WHAT, check_fail WHAT
# [DETAIL...]; the suite prints "NAME: $passed passed, $failed failed" at the end.
passed=0
failed=0
failures=()
check_pass() {
	passed=$((passed + 1))
	printf 'ok   %s\n' "$1"
}
check_fail() {
	failed=$((failed + 1))
	failures+=("$1")
	printf 'FAIL %s\n' "$1"
	shift
	local d
	for d in "$@"; do
		printf '       %s\n' "$d"
	done
}

random_password() {
	od -An -tx1 -N16 /dev/urandom | tr -d ' \n'
	echo
}

add_cleanup() { _DAVIT_CLEANUPS+=("$1"); }

# conformance_cleanup RC -- stop the server, run add_cleanup commands, and
# remove the temp dir (kept if RC != 0 or DAVIT_KEEP_DATA=1). Idempotent; the
# EXIT trap calls it, and a script may call it itself before its last line.
# Returns RC, or 1 if the server had died or would not stop.
conformance_cleanup() {
	local rc="${1:-0}" c
	stop_davit || { ((rc != 0)) || rc=1; }
	for c in "${_DAVIT_CLEANUPS[@]}"; do
		eval "$c" || true
	done
	_DAVIT_CLEANUPS=()
	if [[ -n $_DAVIT_TMP && -d $_DAVIT_TMP ]]; then
		if ((rc != 0)) || [[ ${DAVIT_KEEP_DATA:-} == 1 ]]; then
			note "kept server data and log in $_DAVIT_TMP"
		else
			rm -rf "$_DAVIT_TMP"
		fi
	fi
	_DAVIT_TMP=""
	return "$rc"
}

_davit_on_exit() {
	local rc=$?
	trap - EXIT
	conformance_cleanup "$rc" || rc=$?
	exit "$rc"
}

trap _davit_on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
