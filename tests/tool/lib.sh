# SPDX-License-Identifier: MIT
# Helpers for the tool tests: sourced with the umn binary as $1.
set -u
UMN=$1
shift
TMP=$(mktemp -d "${TMPDIR:-/tmp}/umn-tool-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# watchdog SECONDS: kill this test (with a message) if it runs longer.
# Stopped, sleep included, when the test exits.
watchdog() {
	local secs=$1 me=$$
	(
		trap 'kill $sp 2>/dev/null; exit 0' TERM
		sleep "$secs" &
		sp=$!
		wait $sp
		echo "FAIL: watchdog: $(basename "$0") still running after $secs s" >&2
		kill -KILL $me
	) &
	WATCHDOG=$!
	trap 'kill $WATCHDOG 2>/dev/null; rm -rf "$TMP"' EXIT
}

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

# Skip (77) when what the test needs is missing here, after a run whose
# standard error is in $1.
skip_if_unavailable() {
	if grep -q "seccomp user notification is not available" "$1"; then
		skip "the kernel refuses seccomp user notification here: $(grep seccomp "$1")"
	fi
	if grep -q "cannot find libumn-trace.so" "$1"; then
		skip "libumn-trace.so is not built (no event sources in this build)"
	fi
}

# run_trace NAME [umn trace options] -- CMD...: trace into $TMP/NAME.out,
# exit status in $RC.
run_trace() {
	local name=$1
	shift
	OUT=$TMP/$name.out
	ERR=$TMP/$name.err
	set +e
	"$UMN" trace -o "$OUT" "$@" >"$TMP/$name.stdout" 2>"$ERR"
	RC=$?
	set -e
	skip_if_unavailable "$ERR"
}

# check_audit: the last line is 'audit: N calls, 0 missed' with N > 0 and
# the command succeeded.
check_audit() {
	local last
	last=$(tail -n 1 "$OUT")
	if ! [[ $last =~ ^audit:\ ([0-9]+)\ calls,\ ([0-9]+)\ missed$ ]]; then
		cat "$ERR"; tail -n 30 "$OUT"
		fail "no audit line (exit $RC): '$last'"
	fi
	AUDIT_N=${BASH_REMATCH[1]}
	AUDIT_M=${BASH_REMATCH[2]}
	if [ "$AUDIT_M" != 0 ]; then
		grep "audit:" "$OUT" | head -n 60
		fail "$AUDIT_M of $AUDIT_N calls missed"
	fi
	[ "$AUDIT_N" -gt 0 ] || fail "the audit saw no call that must have an event"
	if [ "$RC" != 0 ]; then
		cat "$ERR"; tail -n 20 "$OUT"
		fail "exit status $RC"
	fi
	echo "ok: $last"
}

# expect_event EVENT [SOURCE]: the trace has a line for it.
expect_event() {
	local src=${2:-patch}
	grep -Eq "^umn: +[0-9]+ +[0-9]+  $1 .* $src\$" "$OUT" ||
		fail "no '$1' event from source '$src' in the trace"
}
