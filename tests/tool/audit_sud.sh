# SPDX-License-Identifier: MIT
# audit_rawclone.sh UMN RAWCLONE: threads made by an inline-asm raw clone
# and clone3 (tests/self/test_sud_clone.c built without umn) make munmap
# and madvise(DONTNEED) with the number in a register.  With the safety
# net on (UMN_SELF_SUD=1) `umn trace --audit` must report 0 missed: the
# threads start armed.  Skips (77) without Syscall User Dispatch.
set -e
. "$(dirname "$0")/lib.sh"
prog=$1
watchdog 120
export UMN_SELF_SUD=1
run_trace rawclone --audit -- "$prog"
if grep -q "^SKIP" "$TMP/rawclone.stdout"; then
	skip "$(grep "^SKIP" "$TMP/rawclone.stdout")"
fi
grep -q "^ok - sud_clone" "$TMP/rawclone.stdout" ||
	{ cat "$TMP/rawclone.stdout" "$ERR"; fail "the program failed (exit $RC)"; }
check_audit
expect_event unmap
expect_event clear
exit 0
