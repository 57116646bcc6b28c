/* SPDX-License-Identifier: MIT */
/*
 * fork: the child starts with no subscriptions on umn_mm_self(), and does
 * not hang even when another parent thread was inside a hook or a
 * callback (holding the self address space's locks) at the moment of the
 * fork.  Every child runs under alarm() so a hang fails the test.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <umn/interval.h>
#include <umn/self.h>
#include "harness.h"
#include "self_common.h"

#define FORKS 20

static volatile int stop;
static int in_callback;

static int slow_start(struct umn_notifier *sub,
		      const struct umn_notifier_range *r)
{
	(void)sub;
	(void)r;
	/* widen the window in which a fork finds us inside the hook */
	__atomic_store_n(&in_callback, 1, __ATOMIC_RELEASE);
	for (volatile int i = 0; i < 20000; i++)
		;
	__atomic_store_n(&in_callback, 0, __ATOMIC_RELEASE);
	return 0;
}

static const struct umn_notifier_ops slow_ops = {
	.invalidate_range_start = slow_start,
};

static void *unmapper(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		CHECK(p != MAP_FAILED);
		CHECK_EQ(munmap(p, 4096), 0);
	}
	return NULL;
}

static int child_events;

static int child_start(struct umn_notifier *sub,
		       const struct umn_notifier_range *r)
{
	(void)sub;
	(void)r;
	child_events++;
	return 0;
}

static const struct umn_notifier_ops child_ops = {
	.invalidate_range_start = child_start,
};

/* In the child: fresh address space, hooks still work, no hang. */
static int child(struct umn_mm *parent_mm)
{
	struct umn_mm *mm;
	struct umn_notifier sub = { .ops = &child_ops };
	void *p;

	alarm(10);
	mm = umn_mm_self();
	if (!mm || mm == parent_mm)
		return 2;
	if (umn_mm_has_notifiers(mm))
		return 3; /* inherited subscriptions */
	p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || munmap(p, 4096))
		return 4;
	if (umn_notifier_register(&sub, mm))
		return 5;
	p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || munmap(p, 4096))
		return 6;
	if (child_events < 1)
		return 7; /* the child's own subscription hears the child */
	if (umn_notifier_unregister(&sub, mm))
		return 8;
	return 0;
}

static void test_fork_during_hooks(void)
{
	struct umn_notifier sub = { .ops = &slow_ops };
	struct umn_mm *mm = umn_mm_self();
	pthread_t t[2];
	int inside = 0;

	CHECK_EQ(umn_notifier_register(&sub, mm), 0);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, unmapper, NULL), 0);
	for (int i = 0; i < FORKS; i++) {
		pid_t pid;
		int status;

		while (!__atomic_load_n(&in_callback, __ATOMIC_ACQUIRE))
			;
		inside++;
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0)
			_exit(child(mm));
		CHECK_EQ(waitpid(pid, &status, 0), pid);
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "child %d: %s %d\n", i,
				WIFEXITED(status) ? "exit" : "signal",
				WIFEXITED(status) ? WEXITSTATUS(status)
						  : WTERMSIG(status));
		}
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	CHECK_EQ(umn_notifier_unregister(&sub, mm), 0);
	printf("# %d forks while another thread was inside a callback\n",
	       inside);
}

/* The parent's subscriptions still work after forking. */
static void test_parent_after_fork(void)
{
	struct umn_notifier sub = { .ops = &child_ops };
	struct umn_mm *mm = umn_mm_self();
	pid_t pid;
	int status;
	void *p;

	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(0);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	child_events = 0;
	CHECK_EQ(umn_notifier_register(&sub, mm), 0);
	p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	CHECK_EQ(munmap(p, 4096), 0);
	CHECK(child_events >= 1);
	CHECK_EQ(umn_notifier_unregister(&sub, mm), 0);
	CHECK(umn_mm_self() == mm);
}

int main(void)
{
	CHECK(umn_mm_self() != NULL);
	if (!umn_self_sources()) {
		printf("# skip: no event source\n");
		return T_SKIP;
	}
	RUN(test_fork_during_hooks);
	RUN(test_parent_after_fork);
	return 0;
}
