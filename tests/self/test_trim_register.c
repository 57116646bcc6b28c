/* SPDX-License-Identifier: MIT */
/*
 * Deadlock hunt: heap trims (free() shrinking the heap with brk while
 * holding glibc's arena lock, so the brk hook runs under that lock) race
 * with a thread that registers and unregisters classic and interval
 * subscriptions (the mmap write lock) and allocates.  One arena for the
 * whole process, so both threads need the same arena lock.  alarm() turns
 * a deadlock into a failure.  Runs for about a second (UMN_STRESS_SECONDS
 * caps it at that many seconds).
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <umn/interval.h>
#include <umn/self.h>
#include "harness.h"
#include "self_common.h"

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

static bool inv(struct umn_interval_notifier *s,
		const struct umn_notifier_range *r, unsigned long seq)
{
	(void)r;
	umn_interval_set_seq(s, seq);
	return true;
}

static const struct umn_interval_notifier_ops iops = { .invalidate = inv };

static void *registrar(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		struct umn_notifier sub = { .ops = &ops };
		struct umn_interval_notifier is = { 0 };
		void *p = malloc(100000); /* same arena as the trimmer */

		CHECK_EQ(umn_notifier_register(&sub, umn_mm_self()), 0);
		CHECK_EQ(umn_interval_notifier_insert(&is, umn_mm_self(),
						      (unsigned long)p, 4096,
						      &iops), 0);
		free(p);
		CHECK_EQ(umn_interval_notifier_remove(&is), 0);
		CHECK_EQ(umn_notifier_unregister(&sub, umn_mm_self()), 0);
	}
	return NULL;
}

int main(void)
{
	struct umn_notifier sub = { .ops = &ops };
	double end = t_now() + t_stress_seconds(1.0);
	pthread_t t;
	long rounds = 0;

	if (end > t_now() + 1.0)
		end = t_now() + 1.0;
	mallopt(M_ARENA_MAX, 1);
	mallopt(M_TRIM_THRESHOLD, 4096);
	CHECK(umn_mm_self() != NULL);
	if (!(umn_self_sources() & UMN_SELF_PATCH) || !self_malloc_is_glibc()) {
		printf("# skip: needs the patch source and glibc's malloc\n");
		return T_SKIP;
	}
	CHECK_EQ(umn_notifier_register(&sub, umn_mm_self()), 0);
	CHECK_EQ(pthread_create(&t, NULL, registrar, NULL), 0);
	alarm(30);
	while (t_now() < end) {
		void *p[8];

		for (int k = 0; k < 8; k++)
			CHECK((p[k] = malloc(70000)) != NULL);
		for (int k = 7; k >= 0; k--)
			free(p[k]); /* consolidates into top: trim, brk shrink */
		rounds++;
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	CHECK_EQ(pthread_join(t, NULL), 0);
	alarm(0);
	CHECK(__atomic_load_n(&events, __ATOMIC_RELAXED) > 0);
	CHECK_EQ(umn_notifier_unregister(&sub, umn_mm_self()), 0);
	printf("# %ld rounds, %lu invalidations, no deadlock\n", rounds, events);
	return 0;
}
