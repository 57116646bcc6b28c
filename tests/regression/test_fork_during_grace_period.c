/* SPDX-License-Identifier: MIT */
/*
 * Regression: fork while another thread is inside a grace period.
 *
 * Thread A runs a slow classic callback (inside a read-side section); thread
 * B unregisters, so it waits in synchronize_rcu holding liburcu's
 * grace-period lock; the main thread forks meanwhile.  The child then needs
 * a grace period of its own (register + unregister).  Before umn registered
 * liburcu's fork hooks at load time, the child inherited the held lock and
 * hung (the alarm turns a hang into a failure).
 */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <umn/umn.h>
#include "harness.h"

static volatile int in_callback;

static int slow_start(struct umn_notifier *n, const struct umn_notifier_range *r)
{
	(void)n; (void)r;
	__atomic_store_n(&in_callback, 1, __ATOMIC_RELEASE);
	usleep(300000);
	return 0;
}

static const struct umn_notifier_ops slow_ops = {
	.invalidate_range_start = slow_start,
};
static const struct umn_notifier_ops plain_ops = { 0 };

static struct umn_mm *mm;
static struct umn_notifier sub = { .ops = &slow_ops };

static void *invalidate(void *arg)
{
	struct umn_notifier_range r;

	(void)arg;
	umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP, 0, mm, 0, 4096);
	umn_mmap_read_lock(mm);
	umn_notifier_invalidate_range_start(&r);
	umn_notifier_invalidate_range_end(&r);
	umn_mmap_read_unlock(mm);
	return NULL;
}

static void *unregister(void *arg)
{
	(void)arg;
	CHECK_EQ(umn_notifier_unregister(&sub, mm), 0);
	return NULL;
}

int main(void)
{
	pthread_t a, b;
	pid_t pid;
	int status;

	alarm(30);		/* a hang anywhere fails the test */
	mm = umn_mm_new();
	CHECK_EQ(umn_notifier_register(&sub, mm), 0);
	pthread_create(&a, NULL, invalidate, NULL);
	while (!__atomic_load_n(&in_callback, __ATOMIC_ACQUIRE))
		usleep(1000);
	pthread_create(&b, NULL, unregister, NULL);
	usleep(50000);		/* B is now waiting for the grace period */
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct umn_mm *cmm;
		struct umn_notifier csub = { .ops = &plain_ops };

		alarm(10);
		cmm = umn_mm_new();
		if (!cmm || umn_notifier_register(&csub, cmm) ||
		    umn_notifier_unregister(&csub, cmm))
			_exit(2);
		umn_notifier_synchronize();
		umn_mm_put(cmm);
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	if (WIFSIGNALED(status))
		fprintf(stderr, "child killed by signal %d (hang)\n",
			WTERMSIG(status));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	umn_mm_put(mm);
	printf("ok - child used RCU after forking during a grace period\n");
	return 0;
}
