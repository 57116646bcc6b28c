# SPDX-License-Identifier: MIT
# errors.sh UMN STATIC_PROG: every error case gives a message on stderr, a
# documented exit status, no crash, and leaves no file and no process behind.
set -e
. "$(dirname "$0")/lib.sh"
static_prog=$1

cd "$TMP"
mkdir work
cd work

# expect STATUS PATTERN CMD...: exit status and a message matching PATTERN
expect() {
	local want=$1 pat=$2 rc
	shift 2
	set +e
	"$@" >"$TMP/e.out" 2>"$TMP/e.err"
	rc=$?
	set -e
	if [ "$rc" != "$want" ]; then
		cat "$TMP/e.out" "$TMP/e.err"
		fail "'$*': exit $rc, expected $want"
	fi
	if ! grep -Eq "$pat" "$TMP/e.err" "$TMP/e.out"; then
		cat "$TMP/e.err"
		fail "'$*': no message matching '$pat'"
	fi
	if [ -n "$(ls -A .)" ]; then
		ls -la
		fail "'$*' left files behind"
	fi
	echo "ok: $* -> $rc"
}

expect 0 "usage: umn trace" "$UMN" --help
expect 0 "usage: umn trace" "$UMN" trace --help
expect 0 "usage: umn selftest" "$UMN" selftest --help
# bare umn says why it prints the usage
expect 125 "missing subcommand: 'trace' or 'selftest'" "$UMN"
grep -q "^usage: umn trace" "$TMP/e.err" || fail "bare umn: no usage"
expect 125 "unknown command 'frobnicate'" "$UMN" frobnicate
# a bad option: one line saying what is wrong, one saying where to look
# (like strace and perf), not the whole help
short_error() {
	expect 125 "$@"
	[ "$(wc -l <"$TMP/e.err")" = 2 ] || { cat "$TMP/e.err"; fail "'$*': not two lines"; }
	grep -q "^Try 'umn[a-z ]* --help' for more information.$" "$TMP/e.err" ||
		fail "'$*': no 'Try ... --help' line"
}
short_error "unknown option '--bogus'" "$UMN" --bogus
short_error "unknown option '--bogus'" "$UMN" trace --bogus -- true
short_error "unknown option '-Z'" "$UMN" trace -Z -- true
short_error "option '-o' needs an argument" "$UMN" trace -o
short_error "missing command to run" "$UMN" trace
short_error "missing command to run" "$UMN" trace --audit --
expect 127 "no-such-command-xyz: command not found" "$UMN" trace -- no-such-command-xyz
# a path that does not exist: the error of the system, like strace
expect 127 "cannot run './missing-prog': No such file or directory" "$UMN" trace -o out.txt -- ./missing-prog
expect 127 "cannot run '/no/such/prog': No such file or directory" "$UMN" trace -- /no/such/prog
# a file of /proc takes no trace: said before CMD runs
expect 125 "o /proc/version: a kernel interface file of /proc or /sys cannot hold the trace" \
	"$UMN" trace -o /proc/version -- sh -c 'echo ran-anyway'
! grep -q ran-anyway "$TMP/e.out" || fail "-o /proc/version: CMD ran"
touch not-exec && chmod 644 not-exec
set +e; "$UMN" trace -- ./not-exec >"$TMP/e.out" 2>"$TMP/e.err"; rc=$?; set -e
rm -f not-exec
[ "$rc" = 126 ] || fail "not executable: exit $rc"
grep -q "not executable" "$TMP/e.err" || fail "not executable: no message"
echo "ok: not executable -> 126"
expect 126 "is a directory" "$UMN" trace -- /tmp
expect 125 "statically linked.*cannot cover it" "$UMN" trace -- "$static_prog"
mkdir ro && chmod 555 ro
if [ "$(id -u)" = 0 ]; then
	# root writes anywhere: use a path whose parent does not exist
	bad=ro/no/such/dir/out.txt
else
	bad=ro/out.txt
fi
set +e; "$UMN" trace -o "$bad" -- true >"$TMP/e.out" 2>"$TMP/e.err"; rc=$?; set -e
rmdir ro
[ "$rc" = 125 ] || fail "-o unwritable: exit $rc"
grep -q -- "-o $bad" "$TMP/e.err" || fail "-o unwritable: no message"
[ -z "$(ls -A .)" ] || fail "-o unwritable left files"
echo "ok: -o unwritable -> 125"

# a static binary under --audit: audit-only, every call reported missed
set +e
"$UMN" trace --audit -o audit.out -- "$static_prog" >"$TMP/e.out" 2>"$TMP/e.err"
rc=$?
set -e
skip_if_unavailable "$TMP/e.err"
grep -q "audit-only mode" "$TMP/e.err" || fail "static --audit: no audit-only notice"
last=$(tail -n 1 audit.out)
[[ $last =~ ^audit:\ ([0-9]+)\ calls,\ ([0-9]+)\ missed$ ]] || fail "static --audit: '$last'"
[ "${BASH_REMATCH[1]}" -gt 0 ] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] ||
	fail "static --audit: expected every call missed: '$last'"
[ "$rc" = 3 ] || fail "static --audit: exit $rc, expected 3"
grep -q "never loaded umn" audit.out || fail "static --audit: no explanation"
rm -f audit.out
echo "ok: static --audit -> $last, exit 3"

# exit status and signals of CMD pass through; no zombie is left
expect 7 "" "$UMN" trace -q -- sh -c 'exit 7'
expect 137 "killed by signal 9" "$UMN" trace -q -- sh -c 'kill -9 $$'
# an orphaned grandchild is waited for and reaped (the tool is a subreaper)
set +e
"$UMN" trace -q -- sh -c '(sleep 0.3; echo grandchild-done) & exit 0' >"$TMP/e.out" 2>"$TMP/e.err"
rc=$?
set -e
[ "$rc" = 0 ] || fail "orphan: exit $rc"
grep -q grandchild-done "$TMP/e.out" || fail "the tool did not wait for the orphan"
echo "ok: orphans waited for"
exit 0
