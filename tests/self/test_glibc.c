/* SPDX-License-Identifier: MIT */
/*
 * glibc's internal paths, which symbol interposition cannot see: free() of
 * a large (mmapped) block, realloc (mremap), malloc_trim (madvise
 * DONTNEED), a thread's stack being discarded at exit (madvise), from
 * several threads.  The invalidation must arrive before the call returns,
 * with the range still mapped, reported by the patch source.
 * Skipped when the patch source is not active or malloc is not glibc's.
 */
#define SELF_LOG
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <umn/self.h>
#include "harness.h"
#include "self_common.h"

#define LARGE (33ul << 20) /* always mmapped by glibc */
#define THREADS 3
#define ITERS 8

/* Any start intersecting [lo, hi) on any thread (thread exit). */
static unsigned long win_lo, win_hi;
static int win_hits;

static int win_start(struct umn_notifier *sub,
		     const struct umn_notifier_range *r)
{
	(void)sub;
	if (r->start < __atomic_load_n(&win_hi, __ATOMIC_ACQUIRE) &&
	    r->end > __atomic_load_n(&win_lo, __ATOMIC_ACQUIRE) &&
	    r->origin == UMN_ORIGIN_PATCH)
		__atomic_fetch_add(&win_hits, 1, __ATOMIC_ACQ_REL);
	return 0;
}

static const struct umn_notifier_ops win_ops = {
	.invalidate_range_start = win_start,
};

static const struct log_ev *find_covering(unsigned long s, unsigned long e)
{
	for (int i = 0; i < tlog_n; i++)
		if (!tlog[i].phase && tlog[i].start <= s && tlog[i].end >= e)
			return &tlog[i];
	return NULL;
}

static const struct log_ev *find_touching(unsigned long s, unsigned long e)
{
	for (int i = 0; i < tlog_n; i++)
		if (!tlog[i].phase && tlog[i].start < e && tlog[i].end > s)
			return &tlog[i];
	return NULL;
}

static void *worker(void *arg)
{
	(void)arg;
	for (int it = 0; it < ITERS; it++) {
		const struct log_ev *l;
		char *p = malloc(LARGE), *q;

		unsigned long pa;

		CHECK(p != NULL);
		p[0] = p[LARGE - 1] = 1;
		pa = (unsigned long)p; /* the address, not the pointer, after free */
		log_reset();
		free(p);
		l = find_covering(pa, pa + LARGE);
		CHECK(l != NULL);
		CHECK_EQ(l->event, UMN_NOTIFY_UNMAP);
		CHECK_EQ(l->origin, UMN_ORIGIN_PATCH);
		CHECK(l->mapped);
		CHECK(log_find(UMN_NOTIFY_UNMAP, l->start, l->end) != NULL);

		p = malloc(LARGE);
		CHECK(p != NULL);
		p[0] = 1;
		pa = (unsigned long)p;
		log_reset();
		q = realloc(p, 2 * LARGE);
		CHECK(q != NULL);
		l = find_covering(pa, pa + LARGE);
		CHECK(l != NULL);
		CHECK_EQ(l->event, UMN_NOTIFY_UNMAP);
		CHECK_EQ(l->origin, UMN_ORIGIN_PATCH);
		CHECK(l->mapped);
		free(q);
	}
	return NULL;
}

static void test_free_realloc_threads(void)
{
	pthread_t t[THREADS];

	for (int i = 0; i < THREADS; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, worker, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
}

static void test_malloc_trim(void)
{
	enum { N = 32, SZ = 64 * 1024 };
	char *blk[N], *guard;
	unsigned long lo = ~0ul, hi = 0;
	const struct log_ev *l;

	for (int i = 0; i < N; i++) {
		blk[i] = malloc(SZ);
		CHECK(blk[i] != NULL);
		memset(blk[i], 3, SZ);
	}
	guard = malloc(64);
	for (int i = 0; i < N; i++) {
		unsigned long a = (unsigned long)blk[i];

		lo = a < lo ? a : lo;
		hi = a + SZ > hi ? a + SZ : hi;
		free(blk[i]);
	}
	log_reset();
	malloc_trim(0);
	l = find_touching(lo, hi);
	CHECK(l != NULL);
	CHECK(l->event == UMN_NOTIFY_CLEAR || l->event == UMN_NOTIFY_UNMAP);
	CHECK_EQ(l->origin, UMN_ORIGIN_PATCH);
	free(guard);
}

static void *stack_thread(void *arg)
{
	pthread_attr_t a;
	void *addr;
	size_t size;
	char big[64 * 1024];

	/* use some stack so glibc has something to discard at exit */
	memset(big, 1, sizeof(big));
	__asm__ volatile("" : : "r"(big) : "memory");
	CHECK_EQ(pthread_getattr_np(pthread_self(), &a), 0);
	CHECK_EQ(pthread_attr_getstack(&a, &addr, &size), 0);
	pthread_attr_destroy(&a);
	__atomic_store_n(&win_lo, (unsigned long)addr, __ATOMIC_RELEASE);
	__atomic_store_n(&win_hi, (unsigned long)addr + size, __ATOMIC_RELEASE);
	(void)arg;
	return NULL;
}

static void test_thread_stack(void)
{
	pthread_t t;

	__atomic_store_n(&win_hits, 0, __ATOMIC_RELEASE);
	CHECK_EQ(pthread_create(&t, NULL, stack_thread, NULL), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	/* glibc's exiting thread madvises the unused part of its stack */
	CHECK(__atomic_load_n(&win_hits, __ATOMIC_ACQUIRE) > 0);
	__atomic_store_n(&win_hi, 0, __ATOMIC_RELEASE);
}

int main(void)
{
	struct umn_notifier sub = { .ops = &log_ops };
	struct umn_notifier win = { .ops = &win_ops };
	struct umn_mm *mm = umn_mm_self();

	CHECK(mm != NULL);
	if (!(umn_self_sources() & UMN_SELF_PATCH) || !self_malloc_is_glibc()) {
		printf("# skip: needs the patch source and glibc's malloc\n");
		return T_SKIP;
	}
	CHECK_EQ(umn_notifier_register(&sub, mm), 0);
	CHECK_EQ(umn_notifier_register(&win, mm), 0);
	RUN(test_free_realloc_threads);
	RUN(test_malloc_trim);
	RUN(test_thread_stack);
	CHECK_EQ(umn_notifier_unregister(&win, mm), 0);
	CHECK_EQ(umn_notifier_unregister(&sub, mm), 0);
	return 0;
}
