# SPDX-License-Identifier: MIT
# audit_gap.sh UMN GAP PATTERN -- CMD...: CMD makes calls umn's sources are
# known not to see (doc/umn.1.md, "Known gaps"); assert that the audit runs
# to the end, that it audited calls, and that every call it reports missed
# matches PATTERN (grep -E on the "missed" line): nothing else may be
# missed.  Passes with 0 missed once the gap is closed.
#   dlopen   the dynamic loader's own mmap/mprotect/munmap (dlopen/dlclose)
#   pageout  madvise/process_madvise(MADV_PAGEOUT), which drops pages
set -e
. "$(dirname "$0")/lib.sh"
gap=$1 pattern=$2
shift 3 # GAP PATTERN --
run_trace "$gap" -q --audit -- "$@"
last=$(tail -n 1 "$OUT")
[[ $last =~ ^audit:\ ([0-9]+)\ calls,\ ([0-9]+)\ missed$ ]] || {
	cat "$ERR"; fail "no audit line: '$last'"; }
n=${BASH_REMATCH[1]} m=${BASH_REMATCH[2]}
[ "$n" -gt 0 ] || fail "no call audited"
others=$(grep "^umn: audit: missed" "$OUT" | grep -Evc -- "$pattern" || true)
if [ "$others" != 0 ]; then
	grep "^umn: audit: missed" "$OUT" | grep -Ev -- "$pattern"
	fail "$others missed calls outside the known gap '$gap'"
fi
if [ "$m" = 0 ]; then
	[ "$RC" = 0 ] || fail "exit $RC"
	echo "ok: $last (the '$gap' gap is closed)"
else
	[ "$RC" = 3 ] || fail "exit $RC with missed calls, expected 3"
	grep "^umn: audit: missed" "$OUT"
	echo "ok: $last, all in the known gap '$gap'"
fi
exit 0
