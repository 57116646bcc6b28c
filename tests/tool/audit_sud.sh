# SPDX-License-Identifier: MIT
# audit_sud.sh UMN NAME PROG: a safety-net program of tests/self built
# without umn (NAME sud_clone: test_sud_clone.c, threads made by an
# inline-asm raw clone and clone3; NAME sud_thread: test_sud_thread.c, a
# thread made by pthread_create and one by libc's clone(); NAME
# sud_running: test_sud_running.c, threads started before umn_mm_self(),
# under the preload armed before main) makes munmap and madvise(DONTNEED)
# with the number in a register, in a task the kernel starts with Syscall
# User Dispatch cleared.  With the safety net on (UMN_SELF_SUD=1) `umn trace
# --audit` must report 0 missed: the tasks start armed.  PROG must print
# "ok - NAME".  Skips (77) without Syscall User Dispatch.
set -e
. "$(dirname "$0")/lib.sh"
name=$1
prog=$2
watchdog 120
export UMN_SELF_SUD=1
run_trace "$name" --audit -- "$prog"
if grep -q "^SKIP" "$TMP/$name.stdout"; then
	skip "$(grep "^SKIP" "$TMP/$name.stdout")"
fi
grep -q "^ok - $name\$" "$TMP/$name.stdout" ||
	{ cat "$TMP/$name.stdout" "$ERR"; fail "the program failed (exit $RC)"; }
check_audit
expect_event unmap
expect_event clear
exit 0
