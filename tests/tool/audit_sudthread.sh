# SPDX-License-Identifier: MIT
# audit_sudthread.sh UMN SUDTHREAD: a thread made by pthread_create
# (tests/self/test_sud_thread.c built without umn) makes, before any other
# call, munmap and madvise(DONTNEED) with the number in a register.  With
# the safety net on (UMN_SELF_SUD=1) `umn trace --audit` must report 0
# missed: the preload's pthread_create starts the thread armed.  Skips (77)
# without Syscall User Dispatch.
set -e
. "$(dirname "$0")/lib.sh"
prog=$1
watchdog 120
export UMN_SELF_SUD=1
run_trace sudthread --audit -- "$prog"
if grep -q "^SKIP" "$TMP/sudthread.stdout"; then
	skip "$(grep "^SKIP" "$TMP/sudthread.stdout")"
fi
grep -q "^ok - sud_thread" "$TMP/sudthread.stdout" ||
	{ cat "$TMP/sudthread.stdout" "$ERR"; fail "the program failed (exit $RC)"; }
check_audit
expect_event unmap
expect_event clear
exit 0
