# SPDX-License-Identifier: MIT
# selftest.sh UMN: `umn selftest` prints its table and every call is covered.
set -e
. "$(dirname "$0")/lib.sh"
set +e
"$UMN" selftest >"$TMP/out" 2>"$TMP/err"
RC=$?
set -e
cat "$TMP/out" "$TMP/err"
if grep -q "has no event sources" "$TMP/err"; then
	skip "this build has no event sources"
fi
grep -Eq "^CALL +SOURCE +COVERED$" "$TMP/out" || fail "no table header"
grep -Eq "^munmap +patch +yes$" "$TMP/out" || fail "munmap not covered by patch"
grep -Eq "^[0-9]+ calls, [0-9]+ covered, 0 not covered, [0-9]+ skipped$" "$TMP/out" ||
	fail "some calls are not covered"
# the per-object report of site discovery (standard error)
grep -Eq "^umn: sites libc\.so\.6: [0-9]+ patched; not patched: " "$TMP/err" ||
	fail "no site discovery report for libc"
[ "$RC" = 0 ] || fail "exit $RC"
exit 0
