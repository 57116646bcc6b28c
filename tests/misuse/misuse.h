/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the misuse tests: count reports through the warn
 * handler, and check that the state is intact after a misuse (a correct
 * insert / invalidate / callback / remove and register / unregister cycle
 * still works on the same address space).  Leaks show under ASan.
 */
#ifndef UMN_TESTS_MISUSE_H
#define UMN_TESTS_MISUSE_H

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <umn/umn.h>
#include "harness.h"

static unsigned long m_warns;
static char m_last[256];

static void m_handler(const char *func, const char *msg, void *arg)
{
	(void)arg;
	__atomic_add_fetch(&m_warns, 1, __ATOMIC_RELAXED);
	snprintf(m_last, sizeof(m_last), "%s: %s", func, msg);
}

static inline void m_init(void)
{
	umn_set_warn_handler(m_handler, NULL);
}

/* Run stmt; it must produce exactly n reports. */
#define EXPECT_WARNS(n, stmt)                                                \
	do {                                                                 \
		unsigned long _w = m_warns;                                  \
		stmt;                                                        \
		if (m_warns - _w != (unsigned long)(n)) {                    \
			fprintf(stderr, "%s:%d: %s: %lu reports, want %d "  \
				"(last: %s)\n", __FILE__, __LINE__, #stmt,   \
				m_warns - _w, (int)(n), m_last);             \
			exit(1);                                             \
		}                                                            \
		if (n)                                                       \
			printf("#   reported: %s\n", m_last);                \
	} while (0)

/* ---- a well-behaved subscriber, for the "state intact" checks ---- */
struct m_sub {
	struct umn_interval_notifier sub; /* first */
	int calls;
	unsigned long last_start, last_end;
};

static bool m_invalidate(struct umn_interval_notifier *sub,
			 const struct umn_notifier_range *range,
			 unsigned long cur_seq)
{
	struct m_sub *s = (struct m_sub *)sub;

	umn_interval_set_seq(sub, cur_seq);
	s->calls++;
	s->last_start = range->start;
	s->last_end = range->end;
	return true;
}

static const struct umn_interval_notifier_ops m_ops = {
	.invalidate = m_invalidate,
};

static int m_classic_ends;

static void m_classic_end(struct umn_notifier *n,
			  const struct umn_notifier_range *range)
{
	(void)n; (void)range;
	m_classic_ends++;
}

static const struct umn_notifier_ops m_classic_ops = {
	.invalidate_range_end = m_classic_end,
};

static inline void m_invalidate_range(struct umn_mm *mm, unsigned long start,
				      unsigned long end)
{
	struct umn_notifier_range r;

	umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP, 0, mm, start, end);
	umn_mmap_read_lock(mm);
	umn_notifier_invalidate_range_start(&r);
	umn_notifier_invalidate_range_end(&r);
	umn_mmap_read_unlock(mm);
}

/* For umn_notifier_get(): a classic subscription allocated on demand. */
static struct umn_notifier *m_get_alloc(struct umn_mm *mm)
{
	(void)mm;
	return calloc(1, sizeof(struct umn_notifier));
}

static void m_get_free(struct umn_notifier *n)
{
	free(n);
}

static const struct umn_notifier_ops m_get_ops = {
	.alloc_notifier = m_get_alloc,
	.free_notifier = m_get_free,
};

/*
 * The subscriptions of the from-a-callback tests, on mm: other (m_ops,
 * [0x50000, 0x51000), away from the invalidations), classic, and s with
 * ops on [start, start + 0x1000).
 */
static inline void m_subscribe_three(struct umn_mm *mm, struct m_sub *other,
				     struct umn_notifier *classic,
				     struct m_sub *s, unsigned long start,
				     const struct umn_interval_notifier_ops *ops)
{
	CHECK_EQ(umn_interval_notifier_insert(&other->sub, mm, 0x50000,
					      0x1000, &m_ops), 0);
	CHECK_EQ(umn_notifier_register(classic, mm), 0);
	CHECK_EQ(umn_interval_notifier_insert(&s->sub, mm, start, 0x1000,
					      ops), 0);
}

/*
 * Called from inside a callback of an invalidation of mm: each call that
 * waits for callbacks or takes the mmap write lock is reported once and
 * refused (-EDEADLK, or NULL with EDEADLK): remove of other (inserted on
 * mm, not intersecting), unregister of classic (registered on mm),
 * synchronize, register, get and insert.
 */
static inline void m_refused_in_callback(struct umn_mm *mm,
					 struct m_sub *other,
					 struct umn_notifier *classic)
{
	struct m_sub fresh = { 0 };
	struct umn_notifier reg = { .ops = &m_classic_ops };

	EXPECT_WARNS(1, CHECK_EQ(umn_interval_notifier_remove(&other->sub),
				 -EDEADLK));
	EXPECT_WARNS(1, CHECK_EQ(umn_notifier_unregister(classic, mm),
				 -EDEADLK));
	EXPECT_WARNS(1, umn_notifier_synchronize());
	EXPECT_WARNS(1, CHECK_EQ(umn_notifier_register(&reg, mm), -EDEADLK));
	errno = 0;
	EXPECT_WARNS(1, CHECK(umn_notifier_get(&m_get_ops, mm) == NULL));
	CHECK_EQ(errno, EDEADLK);
	EXPECT_WARNS(1, CHECK_EQ(umn_interval_notifier_insert(&fresh.sub, mm,
			0x100000, 0x1000, &m_ops), -EDEADLK));
	CHECK(umn_in_callback());
}

/*
 * The state is intact: on mm (users held), a fresh subscription inserts,
 * gets exactly one callback per intersecting invalidation, none for a
 * disjoint one, read_begin/read_retry behave, remove works; a classic
 * subscription registers, gets its end, unregisters.  No report.
 */
static inline void m_sane(struct umn_mm *mm)
{
	struct m_sub s = { 0 };
	struct umn_notifier c = { .ops = &m_classic_ops };
	unsigned long seq, w = m_warns;
	int ends = m_classic_ends;

	CHECK_EQ(umn_interval_notifier_insert(&s.sub, mm, 0x7000, 0x1000,
					      &m_ops), 0);
	CHECK_EQ(umn_notifier_register(&c, mm), 0);
	seq = umn_interval_read_begin(&s.sub);
	CHECK(!umn_interval_read_retry(&s.sub, seq));
	m_invalidate_range(mm, 0x7800, 0x9000);
	CHECK_EQ(s.calls, 1);
	CHECK_EQ(s.last_start, 0x7800);
	CHECK(umn_interval_read_retry(&s.sub, seq));
	m_invalidate_range(mm, 0x8000, 0x9000);
	CHECK_EQ(s.calls, 1);
	CHECK_EQ(m_classic_ends - ends, 2);
	seq = umn_interval_read_begin(&s.sub);
	CHECK(!umn_interval_read_retry(&s.sub, seq));
	CHECK_EQ(umn_notifier_unregister(&c, mm), 0);
	CHECK_EQ(umn_interval_notifier_remove(&s.sub), 0);
	CHECK_EQ(m_warns, w);
}

#endif /* UMN_TESTS_MISUSE_H */
