/* SPDX-License-Identifier: MIT */
/*
 * Patching while other threads run the code being patched (ucx 5855):
 * threads hammer munmap, mmap, madvise, mprotect and syscall() while the
 * patch source installs.  No thread may crash or get a wrong result, and
 * once installed every call is reported.  Each round runs in a fresh
 * child process (a process is patched once).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <umn/notifier.h>
#include <umn/self.h>
#include "harness.h"
#include "self_common.h"

#define ROUNDS 12
#define THREADS 3

static volatile int stop;
static unsigned long events;

static int count(struct umn_notifier *s, const struct umn_notifier_range *r)
{
	(void)s;
	(void)r;
	__atomic_fetch_add(&events, 1, __ATOMIC_RELAXED);
	return 0;
}

static const struct umn_notifier_ops ops = { .invalidate_range_start = count };

static void *hammer(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			_exit(10);
		p[0] = 1;
		if (madvise(p, 8192, MADV_DONTNEED) || p[0] != 0)
			_exit(11);
		if (mprotect(p, 8192, PROT_READ))
			_exit(12);
		if (syscall(SYS_getpid) != getpid())
			_exit(13);
		if (munmap(p, 8192))
			_exit(14);
	}
	return NULL;
}

static int round_child(void)
{
	struct umn_notifier sub = { .ops = &ops };
	pthread_t t[THREADS];
	struct timespec ts = { 0, 2000000 };
	unsigned long before;

	alarm(20);
	for (int i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, hammer, NULL))
			return 2;
	nanosleep(&ts, NULL);
	if (umn_self_init(UMN_SELF_PATCH))
		return 77;
	if (umn_notifier_register(&sub, umn_mm_self()))
		return 3;
	before = __atomic_load_n(&events, __ATOMIC_RELAXED);
	ts.tv_nsec = 20000000;
	nanosleep(&ts, NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	if (__atomic_load_n(&events, __ATOMIC_RELAXED) <= before)
		return 4; /* installed, yet nothing reported */
	umn_notifier_unregister(&sub, umn_mm_self());
	return 0;
}

int main(void)
{
	int skipped = 0;

	if (umn_self_sources()) {
		printf("# skip: umn was initialised before main\n");
		return T_SKIP;
	}
	for (int r = 0; r < ROUNDS; r++) {
		int status;
		pid_t pid = fork();

		CHECK(pid >= 0);
		if (pid == 0)
			_exit(round_child());
		CHECK_EQ(waitpid(pid, &status, 0), pid);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
			skipped++;
			continue;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "round %d: %s %d\n", r,
				WIFEXITED(status) ? "exit" : "signal",
				WIFEXITED(status) ? WEXITSTATUS(status)
						  : WTERMSIG(status));
		}
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	if (skipped == ROUNDS)
		return T_SKIP;
	printf("ok - %d rounds of patching under fire\n", ROUNDS - skipped);
	return 0;
}
