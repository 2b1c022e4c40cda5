#!/usr/bin/env bash
# Runs every coverage-guided fuzz target (fuzz/, cargo-fuzz on the nightly toolchain) for a
# bounded time, one after the other, and prints per target the executions and whether it found
# a crash, timeout or out-of-memory input. Exits 1 if any target did.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]        # default 60
#
# FUZZ_TARGETS="xml_request vcard"  runs only those targets.
# FUZZ_SANITIZER=address            builds with AddressSanitizer (default none: uninstrumented
#                                   runs are several times faster, and davit is safe Rust but
#                                   for the SSE2 text escaper in src/dav/xml.rs, which
#                                   xml_request exercises: run that target with it after
#                                   changing the escaper).
#
# Inputs: fuzz/seeds/<target> and the matching fixtures/ as seeds, fuzz/corpus/<target> (kept
# between runs, not committed) as the growing corpus. A failing input is written to
# fuzz/artifacts/<target>/; reproduce it with `cargo +nightly fuzz run <target> <file>`, fix the
# code, and copy the file to fuzz/regressions/<target>/ so that `cargo test` replays it.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
sanitizer=${FUZZ_SANITIZER:-none}
targets=${FUZZ_TARGETS:-xml_request icalendar vcard url_path auth_header csv_import}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "the nightly toolchain is missing: rustup toolchain install nightly" >&2
    exit 2
fi

# The same flags for build and run, so that run does not rebuild. Debug assertions make an
# integer overflow a finding instead of a silently wrong result.
flags=(--sanitizer "$sanitizer" --debug-assertions)
cargo +nightly fuzz build "${flags[@]}"

# Per target: the longest input tried, the seed directories, the dictionary.
max_len() {
    case $1 in
        url_path) echo 1024 ;;
        auth_header) echo 8192 ;;
        *) echo 32768 ;;
    esac
}
seeds() {
    case $1 in
        xml_request) echo fuzz/seeds/xml_request fixtures/hostile ;;
        icalendar) echo fuzz/seeds/icalendar fixtures/ical ;;
        vcard) echo fuzz/seeds/vcard fixtures/vcard ;;
        csv_import) echo fuzz/seeds/csv_import fixtures/csv ;;
        *) echo "fuzz/seeds/$1" ;;
    esac
}
dictionary() {
    case $1 in
        xml_request) echo fuzz/dictionaries/xml.dict ;;
        icalendar) echo fuzz/dictionaries/icalendar.dict ;;
        vcard) echo fuzz/dictionaries/vcard.dict ;;
        csv_import) echo fuzz/dictionaries/csv.dict ;;
        *) echo fuzz/dictionaries/http.dict ;;
    esac
}

failed=0
summary=()
for target in $targets; do
    corpus=fuzz/corpus/$target
    artifacts=fuzz/artifacts/$target
    mkdir -p "$corpus" "$artifacts"
    log=$artifacts/last-run.log
    before=$(find "$artifacts" -type f ! -name '*.log' | wc -l)
    echo "== $target: ${seconds}s" >&2
    # shellcheck disable=SC2046 # seeds() is a list of directories without spaces
    set +e
    cargo +nightly fuzz run "${flags[@]}" "$target" "$corpus" $(seeds "$target") -- \
        -max_total_time="$seconds" -max_len="$(max_len "$target")" -rss_limit_mb=512 \
        -malloc_limit_mb=512 -timeout=10 -dict="$(dictionary "$target")" -print_final_stats=1 \
        >"$log" 2>&1
    status=$?
    set -e
    # Executions: the final statistics, or the last status line when the run stopped early.
    execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -1)
    if [ -z "$execs" ]; then
        execs=$(grep -oE '^#[0-9]+' "$log" | tr -d '#' | sort -n | tail -1)
    fi
    after=$(find "$artifacts" -type f ! -name '*.log' | wc -l)
    if [ "$status" -eq 0 ] && [ "$after" -eq "$before" ]; then
        verdict="no crash"
    else
        failed=1
        kind=$(grep -oE 'ERROR: libFuzzer: [a-z-]+|panicked at [^ ]+' "$log" | head -1)
        input=$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -1 | sed 's/Test unit written to //')
        verdict="FAILED (${kind:-exit $status}) ${input:-see $log}"
    fi
    summary+=("$(printf '%-12s %12s executions  %s' "$target" "${execs:-?}" "$verdict")")
    echo "${summary[-1]}" >&2
done

echo
echo "fuzzing, ${seconds}s per target (sanitizer: $sanitizer):"
printf '%s\n' "${summary[@]}"
exit "$failed"
