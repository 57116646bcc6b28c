/* SPDX-License-Identifier: MIT */
/*
 * The safety net (UMN_SELF_SUD=1) arming the threads already running when
 * its thread table cannot grow (src/self/sud_threads.c).  Four threads
 * wait on a barrier; the table is cut to 2 slots per block
 * (umn__test_sud_arm_slots) and, from the arming's start, every raw mmap
 * after the first fails (umn__fault_syscall_fail: fault-injection builds
 * only, else SKIP).  The two requests sent before the failure must still
 * be awaited and their threads counted as armed; the two threads with no
 * slot are counted as not armed, not hidden behind an error that ends the
 * arming early (the hook's fn(3) says the answers were awaited: without
 * it the count would race with the answers).  Then each thread makes munmap with the number in a
 * register: two trap (armed by the request), the other two are not armed.
 * Skips (77) where the kernel lacks Syscall User Dispatch.  Watchdog:
 * alarm(30).
 */
#include <dlfcn.h>
#include <pthread.h>
#include "sud_common.h"

#define N 4

static pthread_barrier_t go, done;
static char *pg[N];
static volatile long ret[N];
static void (*fail_syscall)(long nr, int err, unsigned long skip);

static void *waiter(void *arg)
{
	long i = (long)arg;

	pthread_barrier_wait(&go); /* all exist */
	pthread_barrier_wait(&done); /* the arming is over */
	ret[i] = sud_reg_syscall(SYS_munmap, (long)pg[i], sud_page, 0);
	return NULL;
}

static int awaits; /* passes whose answers were awaited */

static void arm_hook(int where)
{
	if (where == 3)
		awaits++;
	else if (where == 0) /* the first block's mmap only */
		fail_syscall(SYS_mmap, ENOMEM, 1);
	else if (where == 1)
		fail_syscall(-1, 0, 0);
}

int main(void)
{
	struct umn_notifier sub = { .ops = &sud_ev_ops };
	unsigned int armed, not_armed;
	pthread_t t[N];
	int trapped = 0;

	sud_start();
	*(void **)&fail_syscall = dlsym(RTLD_DEFAULT,
					"umn__fault_syscall_fail");
	if (!fail_syscall) {
		printf("SKIP: not a fault-injection build "
		       "(-DUMN_FAULT_INJECT=ON)\n");
		return 77;
	}
	for (int i = 0; i < N; i++) {
		pg[i] = mmap(NULL, (size_t)sud_page, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		EXPECT(pg[i] != MAP_FAILED);
		ret[i] = -1;
	}
	EXPECT(pthread_barrier_init(&go, NULL, N + 1) == 0);
	EXPECT(pthread_barrier_init(&done, NULL, N + 1) == 0);
	for (long i = 0; i < N; i++)
		EXPECT(pthread_create(&t[i], NULL, waiter, (void *)i) == 0);
	pthread_barrier_wait(&go);

	umn__test_sud_arm_slots(2);
	umn__test_sud_arm_hook(arm_hook);
	sud_subscribe(&sub); /* umn_mm_self(): the net is armed */
	umn__test_sud_arm_hook(NULL);
	umn__test_sud_running(&armed, &not_armed);
	printf("# no memory for half the table: %u sent, %u armed, %u not "
	       "armed\n", umn__test_sud_sent(), armed, not_armed);
	EXPECT(umn__test_sud_sent() == 2);
	if (!awaits)
		FAIL("the two requests sent before the failure were not "
		     "awaited");
	EXPECT(armed == 2);
	EXPECT(not_armed == 2);

	{
		unsigned long before = umn__test_sud_traps(sud_reg_insn);

		pthread_barrier_wait(&done);
		for (int i = 0; i < N; i++)
			EXPECT(pthread_join(t[i], NULL) == 0);
		trapped = (int)(umn__test_sud_traps(sud_reg_insn) - before);
	}
	for (int i = 0; i < N; i++)
		EXPECT(ret[i] == 0);
	/* the two armed by the request trap; the others are not armed */
	EXPECT(trapped == 2);
	printf("ok - sud_running_nomem\n");
	return 0;
}
