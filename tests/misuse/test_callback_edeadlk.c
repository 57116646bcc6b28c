/* SPDX-License-Identifier: MIT */
/*
 * Calls that wait for callbacks or take the mmap write lock, made from
 * inside a callback, are reported and refused with -EDEADLK in EVERY build
 * (release included: they used to wait forever there):
 *   remove, insert, register, unregister, get -> -EDEADLK / EDEADLK;
 *   read_begin on the subscription being invalidated -> a value that
 *   read_retry always rejects; synchronize -> returns.
 * Both on a model address space (a primary's blockable invalidation) and on
 * umn_mm_self() (a hooked munmap: non-blockable, in a hook).  A watchdog
 * thread fails the test if anything hangs (a hook may block SIGALRM).
 * Then the state is intact.
 */
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <umn/self.h>
#include "misuse.h"

static struct umn_mm *g_mm;
static struct m_sub other;          /* inserted, not intersecting */
static struct umn_notifier classic = { .ops = &m_classic_ops };
/* volatile: written in callbacks run inside munmap (a glibc leaf call) */
static volatile int in_cb_runs;

static void *watchdog(void *arg)
{
	(void)arg;
	sleep(20);
	fprintf(stderr, "watchdog: a call from a callback hung (%d callbacks "
		"done)\n", in_cb_runs);
	_exit(3);
	return NULL;
}

/* Everything that must refuse, called from a callback of self (cur_seq
 * already recorded, so read_begin on self collides). */
static void forbidden_calls(struct umn_interval_notifier *self)
{
	unsigned long seq;

	EXPECT_WARNS(1, CHECK_EQ(umn_interval_notifier_remove(self),
				 -EDEADLK));
	EXPECT_WARNS(1, seq = umn_interval_read_begin(self));
	CHECK(umn_interval_read_retry(self, seq));
	m_refused_in_callback(g_mm, &other, &classic);
}

static bool cb_forbidden(struct umn_interval_notifier *sub,
			 const struct umn_notifier_range *range,
			 unsigned long cur_seq)
{
	bool ok = m_invalidate(sub, range, cur_seq);

	forbidden_calls(sub);
	in_cb_runs++;
	return ok;
}

static const struct umn_interval_notifier_ops forbidden_ops = {
	.invalidate = cb_forbidden,
};

static void check_intact(struct m_sub *s)
{
	CHECK(!umn_in_callback());
	CHECK_EQ(umn_notifier_unregister(&classic, g_mm), 0);
	CHECK_EQ(umn_interval_notifier_remove(&other.sub), 0);
	CHECK_EQ(umn_interval_notifier_remove(&s->sub), 0);
	m_sane(g_mm);
}

/* A primary's (blockable) invalidation of a model address space. */
static void model_mm(void)
{
	struct m_sub s = { 0 };

	g_mm = umn_mm_new();
	CHECK(g_mm);
	m_subscribe_three(g_mm, &other, &classic, &s, 0x1000,
			  &forbidden_ops);
	in_cb_runs = 0;
	m_invalidate_range(g_mm, 0x1000, 0x2000);
	CHECK_EQ(in_cb_runs, 1);
	CHECK_EQ(s.calls, 1);
	check_intact(&s);
	CHECK_EQ(umn_mm_put(g_mm), 0);
}

/* A hooked munmap of the real process: the callback runs inside the hook. */
static void self_mm(void)
{
	struct m_sub s = { 0 };
	char *p;

	g_mm = umn_mm_self();
	if (!g_mm || !umn_self_sources()) {
		printf("# no event source here: self part skipped\n");
		return;
	}
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	m_subscribe_three(g_mm, &other, &classic, &s, (unsigned long)p,
			  &forbidden_ops);
	in_cb_runs = 0;
	CHECK_EQ(munmap(p, 4096), 0);
	CHECK_EQ(in_cb_runs, 1);
	CHECK_EQ(__atomic_load_n(&s.calls, __ATOMIC_RELAXED), 1);
	check_intact(&s);
}

int main(void)
{
	pthread_t wd;

	m_init();
	CHECK_EQ(pthread_create(&wd, NULL, watchdog, NULL), 0);
	pthread_detach(wd);
	printf("# debug checks: %s\n", umn_debug_enabled() ? "on" : "off");
	RUN(model_mm);
	RUN(self_mm);
	printf("misuse callback_edeadlk: 2 passed, 0 failed\n");
	return 0;
}
