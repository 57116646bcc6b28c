/* SPDX-License-Identifier: MIT */
/*
 * Address spaces and the mmap lock: reference counts, teardown, lock
 * exclusion (readers vs writer), writer preference, downgrade, re-entrant
 * read holds, ownership assertions, the signal-safe flavour.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <umn/umn.h>
#include "harness.h"

static unsigned long warns;
static void count_warn(const char *f, const char *m, void *a)
{
	(void)f; (void)m; (void)a;
	__atomic_add_fetch(&warns, 1, __ATOMIC_RELAXED);
}

static int exits;
static void owner_exit(struct umn_mm *mm, void *owner)
{
	(void)mm;
	CHECK(owner == &exits);
	exits++;
}

static const struct umn_mm_owner_ops owner_ops = { .exit_mmap = owner_exit };

static void refcounts_and_teardown(void)
{
	struct umn_mm *mm = umn_mm_new();

	CHECK(mm != NULL);
	CHECK_EQ(umn_mm_users(mm), 1);
	CHECK_EQ(umn_mm_count(mm), 1);
	CHECK_EQ(umn_mm_set_owner(mm, &owner_ops, &exits), 0);
	CHECK(umn_mm_owner(mm) == &exits);
	CHECK_EQ(umn_mm_get(mm), 0);
	CHECK(umn_mm_get_not_zero(mm));
	CHECK_EQ(umn_mm_users(mm), 3);
	umn_mm_grab(mm);
	CHECK_EQ(umn_mm_put(mm), 0);
	CHECK_EQ(umn_mm_put(mm), 0);
	CHECK_EQ(exits, 0);
	CHECK_EQ(umn_mm_put(mm), 0);	/* last: teardown */
	CHECK_EQ(exits, 1);
	CHECK_EQ(umn_mm_users(mm), 0);
	CHECK_EQ(umn_mm_count(mm), 1);	/* our grab */
	CHECK(!umn_mm_get_not_zero(mm));
	CHECK_EQ(umn_mm_get(mm), -EINVAL);
	CHECK_EQ(umn_mm_put(mm), -EINVAL);
	CHECK_EQ(exits, 1);		/* teardown ran once */
	umn_mm_drop(mm);		/* frees (ASan checks the rest) */

	errno = 0;
	CHECK(umn_mm_new_flags(0x80) == NULL);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(umn_mm_set_owner(NULL, NULL, NULL), -EINVAL);
}

struct lock_arg {
	struct umn_mm *mm;
	int mode;		/* 1 read, 2 write */
	int got;
};

static void *take_lock(void *p)
{
	struct lock_arg *a = p;

	if (a->mode == 1)
		umn_mmap_read_lock(a->mm);
	else
		umn_mmap_write_lock(a->mm);
	__atomic_store_n(&a->got, 1, __ATOMIC_RELEASE);
	if (a->mode == 1)
		umn_mmap_read_unlock(a->mm);
	else
		umn_mmap_write_unlock(a->mm);
	return NULL;
}

static int got(struct lock_arg *a)
{
	return __atomic_load_n(&a->got, __ATOMIC_ACQUIRE);
}

static void lock_exclusion(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct lock_arg r = { mm, 1, 0 }, w = { mm, 2, 0 }, r2 = { mm, 1, 0 };
	pthread_t tr, tw, tr2;

	/* readers share */
	umn_mmap_read_lock(mm);
	CHECK_EQ(umn_mmap_held(mm), 1);
	pthread_create(&tr, NULL, take_lock, &r);
	pthread_join(tr, NULL);
	CHECK_EQ(got(&r), 1);
	/* a writer waits for the reader; later readers queue behind it.
	 * The second reader starts once the writer is seen queued (a fixed
	 * sleep was not enough on a loaded machine: the reader came first) */
	pthread_create(&tw, NULL, take_lock, &w);
	for (int i = 0; !__atomic_load_n(&mm->mmap_lock.writers_waiting,
					 __ATOMIC_SEQ_CST); i++) {
		CHECK_EQ(got(&w), 0);
		if (i == 10000)
			CHECK(!"the writer never queued in 10 s");
		usleep(1000);
	}
	CHECK_EQ(got(&w), 0);
	pthread_create(&tr2, NULL, take_lock, &r2);
	usleep(30000);
	CHECK_EQ(got(&r2), 0);		/* writer preference */
	/* this thread may still nest its own read hold (no deadlock) */
	umn_mmap_read_lock(mm);
	CHECK(umn_mmap_read_trylock(mm));
	umn_mmap_read_unlock(mm);
	umn_mmap_read_unlock(mm);
	CHECK_EQ(got(&w), 0);
	umn_mmap_read_unlock(mm);
	CHECK_EQ(umn_mmap_held(mm), 0);
	pthread_join(tw, NULL);
	pthread_join(tr2, NULL);
	CHECK_EQ(got(&w), 1);
	CHECK_EQ(got(&r2), 1);

	/* write excludes everyone; trylocks fail from other threads */
	umn_mmap_write_lock(mm);
	CHECK_EQ(umn_mmap_held(mm), 2);
	CHECK(!umn_mmap_write_trylock(mm));	/* already ours */
	r.got = 0;
	pthread_create(&tr, NULL, take_lock, &r);
	usleep(30000);
	CHECK_EQ(got(&r), 0);
	/* downgrade: the waiting reader gets in, a writer would not */
	umn_mmap_write_downgrade(mm);
	CHECK_EQ(umn_mmap_held(mm), 1);
	pthread_join(tr, NULL);
	CHECK_EQ(got(&r), 1);
	umn_mmap_read_unlock(mm);
	CHECK(umn_mmap_write_trylock(mm));
	umn_mmap_write_unlock(mm);
	umn_mm_put(mm);
}

static void lock_assertions(void)
{
	struct umn_mm *mm = umn_mm_new();
	unsigned long before = warns;

	umn_mmap_read_lock(mm);
	umn_mmap_assert_locked(mm);
	umn_mmap_read_unlock(mm);
	umn_mmap_write_lock(mm);
	umn_mmap_assert_write_locked(mm);
	umn_mmap_write_unlock(mm);
	CHECK_EQ(warns, before);
	/* misuse is reported and leaves the lock usable */
	umn_mmap_read_unlock(mm);		/* not held */
	umn_mmap_write_unlock(mm);		/* not held */
	umn_mmap_write_downgrade(mm);		/* not write-held */
	CHECK_EQ(warns, before + 3);
	if (umn_debug_enabled()) {
		umn_mmap_assert_locked(mm);
		umn_mmap_assert_write_locked(mm);
		CHECK_EQ(warns, before + 5);
	}
	umn_mmap_write_lock(mm);
	umn_mmap_write_unlock(mm);
	CHECK(umn_mmap_read_trylock(mm));
	umn_mmap_read_unlock(mm);
	umn_mm_put(mm);
}

/* The signal-safe flavour: a handler that takes the read side on a thread
 * holding it (or mid-way through an internal lock) does not deadlock. */
static struct umn_mm *sig_mm;
static volatile int handled;

static void handler(int sig)
{
	(void)sig;
	umn_mmap_read_lock(sig_mm);
	umn_mmap_read_unlock(sig_mm);
	handled++;
}

static void signal_safe_lock(void)
{
	struct sigaction sa = { .sa_handler = handler };
	double end = t_now() + 0.3;

	sig_mm = umn_mm_new_flags(UMN_MM_SIGNAL_SAFE);
	CHECK(sig_mm != NULL);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	umn_mmap_read_lock(sig_mm);
	raise(SIGUSR1);			/* nested read in the handler */
	umn_mmap_read_unlock(sig_mm);
	CHECK_EQ(handled, 1);
	while (t_now() < end) {		/* signals at random points */
		umn_mmap_write_lock(sig_mm);
		umn_mmap_write_unlock(sig_mm);
		umn_mmap_read_lock(sig_mm);
		raise(SIGUSR1);
		umn_mmap_read_unlock(sig_mm);
	}
	CHECK(handled > 1);
	signal(SIGUSR1, SIG_DFL);
	umn_mm_put(sig_mm);
}

int main(void)
{
	umn_set_warn_handler(count_warn, NULL);
	RUN(refcounts_and_teardown);
	RUN(lock_exclusion);
	RUN(lock_assertions);
	RUN(signal_safe_lock);
	return 0;
}
