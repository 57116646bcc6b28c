/* SPDX-License-Identifier: MIT */
/*
 * Misuse of classic subscriptions, of the primary side and of address-space
 * references and locks: unregister of a never-registered / already
 * unregistered / get-put subscription, unbalanced and foreign puts, get
 * reference overflow, end without start, unbalanced umn_mm_put, mmap lock
 * unlock-not-held and downgrade-without-write.  Each: errno, report, state
 * intact.
 */
#include "misuse.h"

static int frees;

static struct umn_notifier *g_alloc(struct umn_mm *mm)
{
	(void)mm;
	return calloc(1, sizeof(struct umn_notifier));
}

/* Keeps the memory (freed by the test) so a later bad put is no UAF. */
static void g_free(struct umn_notifier *n)
{
	(void)n;
	__atomic_add_fetch(&frees, 1, __ATOMIC_RELAXED);
}

static const struct umn_notifier_ops g_ops = {
	.alloc_notifier = g_alloc,
	.free_notifier = g_free,
};

static int releases;

static void c_release(struct umn_notifier *n, struct umn_mm *mm)
{
	(void)n; (void)mm;
	releases++;
}

static const struct umn_notifier_ops c_ops = {
	.release = c_release,
};

static void bad_unregister(void)
{
	struct umn_mm *mm = umn_mm_new(), *mm2 = umn_mm_new();
	struct umn_notifier c = { .ops = &c_ops }, *g;

	CHECK(mm && mm2);
	EXPECT_WARNS(1, CHECK_EQ(umn_notifier_unregister(&c, mm), -EINVAL));
	CHECK_EQ(umn_notifier_register(&c, mm), 0);
	EXPECT_WARNS(1, CHECK_EQ(umn_notifier_register(&c, mm), -EBUSY));
	EXPECT_WARNS(1, CHECK_EQ(umn_notifier_register(&c, mm2), -EBUSY));
	EXPECT_WARNS(1, CHECK_EQ(umn_notifier_unregister(&c, mm2), -EINVAL));
	CHECK_EQ(umn_notifier_unregister(&c, mm), 0);
	CHECK_EQ(releases, 1);
	EXPECT_WARNS(1, CHECK_EQ(umn_notifier_unregister(&c, mm), -EINVAL));
	CHECK_EQ(releases, 1);
	/* A get/put subscription cannot be unregistered... */
	g = umn_notifier_get(&g_ops, mm);
	CHECK(g);
	EXPECT_WARNS(1, CHECK_EQ(umn_notifier_unregister(g, mm), -EINVAL));
	/* ...and a registered one cannot be put. */
	CHECK_EQ(umn_notifier_register(&c, mm), 0);
	EXPECT_WARNS(1, CHECK_EQ(umn_notifier_put(&c), -EINVAL));
	CHECK_EQ(umn_notifier_unregister(&c, mm), 0);
	CHECK_EQ(umn_notifier_put(g), 0);
	umn_notifier_synchronize();
	CHECK_EQ(frees, 1);
	free(g);
	/* NULL arguments: errno only. */
	CHECK_EQ(umn_notifier_register(NULL, mm), -EINVAL);
	CHECK_EQ(umn_notifier_register(&c, NULL), -EINVAL);
	CHECK_EQ(umn_notifier_unregister(NULL, mm), -EINVAL);
	CHECK_EQ(umn_notifier_put(NULL), -EINVAL);
	errno = 0;
	CHECK(umn_notifier_get(NULL, mm) == NULL && errno == EINVAL);
	errno = 0;
	CHECK(umn_notifier_get(&c_ops, mm) == NULL && errno == EINVAL);
	{
		struct umn_notifier noops = { 0 };

		CHECK_EQ(umn_notifier_register(&noops, mm), -EINVAL);
	}
	m_sane(mm);
	m_sane(mm2);
	CHECK_EQ(umn_mm_put(mm), 0);
	CHECK_EQ(umn_mm_put(mm2), 0);
}

static void bad_put_and_overflow(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct umn_notifier *g, *g2;
	unsigned int users;

	CHECK(mm);
	frees = 0;
	g = umn_notifier_get(&g_ops, mm);
	CHECK(g);
	/* Saturated reference count: EOVERFLOW, reported, count unchanged. */
	users = g->users;
	g->users = UINT_MAX;
	errno = 0;
	EXPECT_WARNS(1, CHECK(umn_notifier_get(&g_ops, mm) == NULL));
	CHECK_EQ(errno, EOVERFLOW);
	CHECK_EQ(g->users, UINT_MAX);
	g->users = users;
	g2 = umn_notifier_get(&g_ops, mm);
	CHECK(g2 == g);
	CHECK_EQ(umn_notifier_put(g2), 0);
	CHECK_EQ(umn_notifier_put(g), 0);
	/* Unbalanced: the last put is done (free queued or run). */
	EXPECT_WARNS(1, CHECK_EQ(umn_notifier_put(g), -EINVAL));
	umn_notifier_synchronize();
	CHECK_EQ(frees, 1);
	EXPECT_WARNS(1, CHECK_EQ(umn_notifier_put(g), -EINVAL));
	CHECK_EQ(frees, 1);
	free(g);
	/* A fresh get makes a new one. */
	g = umn_notifier_get(&g_ops, mm);
	CHECK(g);
	CHECK_EQ(umn_notifier_put(g), 0);
	umn_notifier_synchronize();
	CHECK_EQ(frees, 2);
	free(g);
	m_sane(mm);
	CHECK_EQ(umn_mm_put(mm), 0);
}

static void mm_refs(void)
{
	struct umn_mm *mm = umn_mm_new();

	CHECK(mm);
	CHECK_EQ(umn_mm_get(mm), 0);
	CHECK_EQ(umn_mm_put(mm), 0);
	m_sane(mm);
	umn_mm_grab(mm); /* keep the object: the last put tears down only */
	CHECK_EQ(umn_mm_put(mm), 0);
	CHECK_EQ(umn_mm_users(mm), 0);
	EXPECT_WARNS(1, CHECK_EQ(umn_mm_put(mm), -EINVAL));
	CHECK_EQ(umn_mm_users(mm), 0);
	EXPECT_WARNS(1, CHECK_EQ(umn_mm_get(mm), -EINVAL));
	CHECK(!umn_mm_get_not_zero(mm));
	CHECK_EQ(umn_mm_count(mm), 1);
	/* An unbalanced umn_mm_drop cannot be tested: the drop that brings
	 * count to 0 frees the object, so a further one is a use-after-free
	 * (as in the kernel). */
	umn_mm_drop(mm);
}

static void mmap_lock_misuse(void)
{
	struct umn_mm *mm = umn_mm_new();

	CHECK(mm);
	EXPECT_WARNS(1, umn_mmap_read_unlock(mm));
	EXPECT_WARNS(1, umn_mmap_write_unlock(mm));
	EXPECT_WARNS(1, umn_mmap_write_downgrade(mm));
	umn_mmap_read_lock(mm);
	EXPECT_WARNS(1, umn_mmap_write_unlock(mm));
	EXPECT_WARNS(1, umn_mmap_write_downgrade(mm));
	CHECK_EQ(umn_mmap_held(mm), 1);
	umn_mmap_read_unlock(mm);
	CHECK_EQ(umn_mmap_held(mm), 0);
	if (umn_debug_enabled()) {
		EXPECT_WARNS(1, umn_mmap_assert_locked(mm));
		EXPECT_WARNS(1, umn_mmap_assert_write_locked(mm));
		umn_mmap_read_lock(mm);
		EXPECT_WARNS(1, umn_mmap_assert_write_locked(mm));
		EXPECT_WARNS(0, umn_mmap_assert_locked(mm));
		umn_mmap_read_unlock(mm);
	}
	/* The lock still works: write, downgrade, and a writer elsewhere. */
	umn_mmap_write_lock(mm);
	CHECK_EQ(umn_mmap_held(mm), 2);
	umn_mmap_write_downgrade(mm);
	CHECK_EQ(umn_mmap_held(mm), 1);
	umn_mmap_read_unlock(mm);
	CHECK(umn_mmap_write_trylock(mm));
	umn_mmap_write_unlock(mm);
	m_sane(mm);
	CHECK_EQ(umn_mm_put(mm), 0);
}

int main(void)
{
	m_init();
	RUN(bad_unregister);
	RUN(bad_put_and_overflow);
	RUN(mm_refs);
	RUN(mmap_lock_misuse);
	printf("misuse classic: 4 passed, 0 failed\n");
	return 0;
}
