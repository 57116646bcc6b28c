# SPDX-License-Identifier: MIT
# losses.sh UMN CLOSEFDS STATIC_PROG: nothing is lost silently.
#  - a program that closes its descriptors (close_range): the preload
#    reconnects, every record arrives, the summary says it happened;
#  - records that cannot be sent are counted and reported as LOST;
#  - a statically linked program (or one whose environment drops
#    LD_PRELOAD) exec'd by a traced program is reported NOT OBSERVED;
#    with --audit those make the exit status 3.
set -e
. "$(dirname "$0")/lib.sh"
closefds=$1 static_prog=$2
watchdog 120

run_trace close -- "$closefds" close
[ "$RC" = 0 ] || { cat "$ERR" "$OUT"; fail "close: exit $RC"; }
grep -Eq "^umn: +[0-9]+ +[0-9]+  unmap .* 28K  patch$" "$OUT" || fail "close: no unmap before close_range"
grep -Eq "^umn: +[0-9]+ +[0-9]+  unmap .* 36K  patch$" "$OUT" ||
	{ cat "$OUT"; fail "close: the unmap after close_range was lost"; }
grep -q "^umn: summary: 1 process closed the preload's connection to umn; it reconnected, no record lost" "$OUT" ||
	{ grep summary "$OUT"; fail "close: the summary does not say the connection was closed"; }
! grep -q INCOMPLETE "$OUT" || fail "close: reported incomplete"
echo "ok: close_range: reconnected, nothing lost"

run_trace lose -- "$closefds" lose
[ "$RC" = 0 ] || { cat "$ERR" "$OUT"; fail "lose: exit $RC"; }
grep -Eq "^umn: +[0-9]+ +[0-9]+  unmap .* 52K  patch$" "$OUT" || fail "lose: the unmap after the limit was restored is missing"
grep -q "^umn: summary: 1 process LOST records: umn trace could not be reached (1 record)" "$OUT" ||
	{ grep summary "$OUT"; fail "lose: the lost record is not reported"; }
grep -q "^umn: summary: this trace is INCOMPLETE" "$OUT" || fail "lose: not marked incomplete"
echo "ok: a record that could not be sent is reported LOST"
run_trace lose_audit --audit -- "$closefds" lose
[ "$RC" = 3 ] || { tail "$OUT"; fail "lose --audit: exit $RC, expected 3"; }
echo "ok: lost records with --audit: exit 3"

[ -x "$static_prog" ] || skip "no statically linked test program here"
run_trace static -- sh -c "$static_prog; true"
[ "$RC" = 0 ] || { cat "$ERR" "$OUT"; fail "static: exit $RC"; }
grep -q "^umn: summary: 1 process ran a statically linked program, NOT OBSERVED" "$OUT" ||
	{ grep summary "$OUT"; fail "static: the unobserved program is not reported"; }
grep -q "^umn: summary:   pid [0-9]*: $static_prog$" "$OUT" || fail "static: program not named"
grep -q "^umn: summary: this trace is INCOMPLETE" "$OUT" || fail "static: not marked incomplete"
echo "ok: static program exec'd by a traced one: reported"
run_trace static_audit --audit -- sh -c "$static_prog; true"
[ "$RC" = 3 ] || { tail "$OUT"; fail "static --audit: exit $RC, expected 3"; }
echo "ok: static program with --audit: exit 3"

run_trace noenv -- sh -c "env -u LD_PRELOAD true; true"
grep -q "^umn: summary: 1 process ran a program whose environment drops LD_PRELOAD, NOT OBSERVED" "$OUT" ||
	{ grep summary "$OUT"; fail "LD_PRELOAD dropped: not reported"; }
echo "ok: a program run without LD_PRELOAD: reported"

# and a plain run reports nothing
run_trace clean -- sh -c "true"
! grep -q "NOT OBSERVED\|LOST\|INCOMPLETE\|closed the preload" "$OUT" ||
	{ grep summary "$OUT"; fail "clean run: a loss reported"; }
echo "ok: no false report"
exit 0
