/* SPDX-License-Identifier: MIT */
/*
 * A signal whose handler unmaps a subscribed range arrives while a hook
 * holds the subscriptions lock (forced: a white-box test point sends it
 * with tgkill right after the lock is taken).  The handler must not run
 * there (its munmap would take the same lock: deadlock); it runs once the
 * lock is dropped, before the hooked call returns, and its munmap is
 * reported.  A watchdog thread fails the test if anything hangs.
 *
 * Runs with the default sources (handlers wrapped: the signal is deferred
 * by umn's wrapper) and with UMN_SELF_SIGMASK=1 (the hook blocks signals).
 * With UMN_TEST_HANDLER_FIRST=1 the handler is installed before umn
 * starts: umn's start must find it (SigCgt in /proc/self/status) and wrap
 * it, or the handler's munmap deadlocks in the hook.
 * Not with UMN_SELF_NOSIGMASK=1, which promises handlers never unmap.
 * (ThreadSanitizer builds mask signals in hooks: see src/self/signals.c.)
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <umn/interval.h>
#include <umn/self.h>
#include "harness.h"

static char *target, *outer;
/* volatile: written in callbacks and handlers run inside munmap */
static volatile int handled, target_events, handled_at_outer_end;

static void *watchdog(void *arg)
{
	(void)arg;
	sleep(20);
	fprintf(stderr, "watchdog: a handler's munmap deadlocked in a hook "
		"(handled %d, target events %d)\n", handled, target_events);
	_exit(3);
	return NULL;
}

static void on_usr1(int sig)
{
	(void)sig;
	CHECK_EQ(munmap(target, 4096), 0);
	handled++;
}

static int start(struct umn_notifier *sub, const struct umn_notifier_range *r)
{
	(void)sub;
	if (r->start <= (unsigned long)target && r->end > (unsigned long)target)
		target_events++;
	return 0;
}

static void end(struct umn_notifier *sub, const struct umn_notifier_range *r)
{
	(void)sub;
	if (r->start <= (unsigned long)outer && r->end > (unsigned long)outer)
		handled_at_outer_end = handled;
}

static const struct umn_notifier_ops ops = {
	.invalidate_range_start = start,
	.invalidate_range_end = end,
};

static bool iv_invalidate(struct umn_interval_notifier *sub,
			  const struct umn_notifier_range *range,
			  unsigned long cur_seq)
{
	(void)range;
	umn_interval_set_seq(sub, cur_seq);
	return true;
}

static const struct umn_interval_notifier_ops iv_ops = {
	.invalidate = iv_invalidate,
};

int main(void)
{
	struct umn_notifier sub = { .ops = &ops };
	struct umn_interval_notifier iv = { 0 };
	struct sigaction sa = { .sa_handler = on_usr1 };
	const char *nm = getenv("UMN_SELF_NOSIGMASK");
	const char *first = getenv("UMN_TEST_HANDLER_FIRST");
	pthread_t wd;

	if (nm && !strcmp(nm, "1")) {
		printf("# skip: UMN_SELF_NOSIGMASK=1 promises no unmap in "
		       "handlers\n");
		return T_SKIP;
	}
	sigemptyset(&sa.sa_mask);
	if (first && !strcmp(first, "1"))
		CHECK_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
	CHECK(umn_mm_self() != NULL);
	if (!umn_self_sources()) {
		printf("# skip: no event source\n");
		return T_SKIP;
	}
	CHECK_EQ(pthread_create(&wd, NULL, watchdog, NULL), 0);
	pthread_detach(wd);
	if (!first || strcmp(first, "1"))
		CHECK_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
	CHECK_EQ(umn_notifier_register(&sub, umn_mm_self()), 0);
	/* An interval subscription: starts take the subscriptions lock. */
	CHECK_EQ(umn_interval_notifier_insert(&iv, umn_mm_self(), 0x10000,
					      0x1000, &iv_ops), 0);
	for (int round = 0; round < 20; round++) {
		target = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		outer = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(target != MAP_FAILED && outer != MAP_FAILED);
		handled = 0;
		target_events = 0;
		umn__test_signal_in_lock(SIGUSR1);
		CHECK_EQ(munmap(outer, 4096), 0);
		/* Ran before the hooked call returned, and was reported. */
		CHECK_EQ(handled, 1);
		CHECK_EQ(target_events, 1);
		if (round == 0)
			printf("# handler ran %s the outer invalidation's end\n",
			       handled_at_outer_end ? "before" : "after");
	}
	CHECK_EQ(umn_interval_notifier_remove(&iv), 0);
	CHECK_EQ(umn_notifier_unregister(&sub, umn_mm_self()), 0);
	printf("ok - signal in lock: 20 rounds\n");
	return 0;
}
