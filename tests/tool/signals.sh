# SPDX-License-Identifier: MIT
# signals.sh UMN PTY_RUN SIGCOUNT: signals as a user sends them.
#  - Ctrl-C on a terminal reaches the program once, as without umn (the
#    terminal signals the whole foreground group; the tool must not forward
#    its own copy);
#  - a program reading the terminal under umn reads it;
#  - kill -INT / -TERM aimed at the tool is forwarded, once;
#  - once CMD has exited, SIGINT or SIGTERM stops the tool within a second
#    even though a background child it left is still running.
set -e
. "$(dirname "$0")/lib.sh"
pty_run=$1 sigcount=$2

watchdog 100 # nothing here may take long

expect_count() { # NAME FILE
	grep -aq "sigint: 1" "$2" || { cat "$2"; fail "$1: expected exactly 1 SIGINT"; }
	echo "ok: $1: $(grep -ao 'sigint: [0-9]*' "$2")"
}

set +e
"$pty_run" "$sigcount" >"$TMP/bare.txt" 2>&1
rc=$?
set -e
[ "$rc" = 77 ] && skip "no pseudo-terminal here"
[ "$rc" = 0 ] || { cat "$TMP/bare.txt"; fail "bare: exit $rc"; }
expect_count "Ctrl-C, bare" "$TMP/bare.txt"

set +e
"$pty_run" "$UMN" trace -q -o "$TMP/pty.trace" -- "$sigcount" >"$TMP/umn.txt" 2>&1
rc=$?
set -e
skip_if_unavailable "$TMP/umn.txt"
[ "$rc" = 0 ] || { cat "$TMP/umn.txt"; fail "under umn: exit $rc"; }
expect_count "Ctrl-C under umn trace" "$TMP/umn.txt"
# (two SIGINTs close together may merge into one pending signal: the count
# alone cannot prove the tool did not send its own; its trace says)
grep -q "^umn: INT from the terminal (CMD has it too: not forwarded)" "$TMP/pty.trace" ||
	{ cat "$TMP/pty.trace"; fail "Ctrl-C: the tool did not recognise the terminal's signal"; }
! grep -q "forwarded to CMD" "$TMP/pty.trace" || fail "Ctrl-C: forwarded a second copy"
grep -q "^umn: summary:" "$TMP/pty.trace" || fail "Ctrl-C: no summary"

# the program reads the terminal (it is in the foreground group), then ^C
set +e
"$pty_run" -i hello "$UMN" trace -q -o /dev/null -- "$sigcount" read >"$TMP/read.txt" 2>&1
rc=$?
set -e
[ "$rc" = 0 ] || { cat "$TMP/read.txt"; fail "reading the terminal: exit $rc"; }
grep -aq "^read: hello" "$TMP/read.txt" || { cat "$TMP/read.txt"; fail "no line read"; }
expect_count "read the terminal, then Ctrl-C" "$TMP/read.txt"

# kill(2) aimed at the tool: forwarded once
"$UMN" trace -q -o "$TMP/kill.trace" -- "$sigcount" >"$TMP/kill.txt" 2>&1 &
umn=$!
for i in $(seq 100); do grep -q ready "$TMP/kill.txt" 2>/dev/null && break; sleep 0.05; done
kill -INT $umn
set +e; wait $umn; rc=$?; set -e
[ "$rc" = 0 ] || { cat "$TMP/kill.txt"; fail "kill -INT: exit $rc"; }
expect_count "kill -INT to the tool" "$TMP/kill.txt"
grep -q "^umn: INT from pid $$ forwarded to CMD" "$TMP/kill.trace" ||
	{ cat "$TMP/kill.trace"; fail "kill -INT: not forwarded"; }

# CMD exits leaving a background child; then SIGINT (and SIGTERM) stops the
# tool within a second; the child is left running, and the trace says so.
set -m # background jobs keep SIGINT (a non-interactive shell ignores it)
for sig in INT TERM; do
	rm -f "$TMP/bg.pid"
	"$UMN" trace -q -o "$TMP/bg.out" -- bash -c \
		"sleep 10 >/dev/null 2>&1 & echo \$! >$TMP/bg.pid" &
	umn=$!
	for i in $(seq 100); do [ -s "$TMP/bg.pid" ] && break; sleep 0.05; done
	bg=$(cat "$TMP/bg.pid")
	sleep 0.3 # CMD itself exits now: the tool waits for the orphan only
	t0=$(date +%s%N)
	kill -$sig $umn
	set +e; wait $umn; rc=$?; set -e
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	alive=no; kill -0 "$bg" 2>/dev/null && alive=yes
	kill "$bg" 2>/dev/null || true
	[ "$ms" -lt 1000 ] || fail "SIG$sig after CMD exited: the tool took $ms ms"
	[ "$rc" = 0 ] || { cat "$TMP/bg.out"; fail "SIG$sig: exit $rc (CMD exited 0)"; }
	[ "$alive" = yes ] || fail "SIG$sig: the background child was killed"
	grep -q "^umn: stopped by .* after CMD exited: 1 process it left behind still running (pid $bg)" \
		"$TMP/bg.out" || { cat "$TMP/bg.out"; fail "SIG$sig: no note of the child left running"; }
	grep -q "^umn: summary:" "$TMP/bg.out" || fail "SIG$sig: no summary"
	echo "ok: SIG$sig with a background child left: returned in $ms ms"
done
exit 0
