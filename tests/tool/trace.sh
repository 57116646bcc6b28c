# SPDX-License-Identifier: MIT
# trace.sh UMN TRACE_DEMO FORKS CALLS: plain `umn trace` (no audit): the
# trace, the summary, every process aggregated, the standalone preload.
set -e
. "$(dirname "$0")/lib.sh"
demo=$1 forks=$2 calls=$3

run_trace demo -- "$demo"
[ "$RC" = 0 ] || { cat "$ERR"; fail "trace_demo: exit $RC"; }
grep -q "trace_demo: done" "$TMP/demo.stdout" || fail "trace_demo did not run"
grep -Eq "^umn: +PID +TID +EVENT +START +END +SIZE +SOURCE$" "$OUT" || fail "no header"
grep -q "^umn: process [0-9]* (parent [0-9]*) traced: .*trace_demo" "$OUT" ||
	fail "no 'traced' line"
expect_event unmap
# one process, its main thread and the 3 it creates
grep -q "^umn: summary: [1-9][0-9]* invalidations in 1 process, 4 threads$" "$OUT" ||
	{ grep summary "$OUT"; fail "no summary, or wrong counts (1 process, 4 threads)"; }
grep -Eq "^umn: +unmap +[1-9]" "$OUT" || fail "no unmap row in the summary"
grep -Eq "^umn: +patch +[1-9]" "$OUT" || fail "no patch row in the summary"
echo "ok: trace_demo"

# to standard error by default
set +e
"$UMN" trace -- "$demo" >/dev/null 2>"$TMP/stderr.txt"
RC=$?
set -e
[ "$RC" = 0 ] && grep -q "^umn: summary:" "$TMP/stderr.txt" ||
	fail "default output is not standard error"
echo "ok: standard error"

# forks and execs: every process reports, one summary
run_trace forks -- "$forks" "$calls" 1 1
[ "$RC" = 0 ] || { cat "$ERR"; fail "forks: exit $RC"; }
n=$(grep -c "^umn: process [0-9]* (parent" "$OUT")
[ "$n" = 5 ] || fail "forks: $n images traced, expected 5 (parent, 3 children, 1 exec)"
# 4 processes (an exec is the same process), 5 programs; threads: 4 main
# threads and the one the exec'd 'calls 1 1' creates
grep -q "^umn: summary: [1-9][0-9]* invalidations in 4 processes (5 programs run), 5 threads$" "$OUT" ||
	{ grep summary "$OUT"; fail "forks: wrong process/thread counts"; }
echo "ok: forks ($n images, 4 processes)"

# -q: summary only
run_trace quiet -q -- "$demo"
[ "$RC" = 0 ] || fail "quiet: exit $RC"
! grep -Eq "^umn: +[0-9]+ +[0-9]+  unmap" "$OUT" || fail "-q printed events"
grep -q "^umn: summary:" "$OUT" || fail "-q: no summary"
echo "ok: -q"

# the preload by hand, without the tool: readable lines on stderr
lib=$(dirname "$UMN")/libumn-trace.so
if [ -f "$lib" ]; then
	LD_PRELOAD=$lib "$demo" >/dev/null 2>"$TMP/standalone.txt"
	grep -Eq "^umn-trace: [0-9]+/[0-9]+ unmap 0x[0-9a-f]+-0x[0-9a-f]+ [0-9]+ bytes patch$" \
		"$TMP/standalone.txt" || fail "standalone preload: no line"
	echo "ok: standalone preload"
fi
exit 0
