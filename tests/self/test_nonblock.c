/* SPDX-License-Identifier: MIT */
/*
 * Non-blockable contexts.  A registration cache (the secondary MMU) guards
 * its entries with its own lock and mirrors a large malloc'ed block.
 * While holding that lock it calls free() on the block: glibc munmaps it,
 * the patch source delivers the invalidation on this very thread, the
 * interval callback cannot take the lock (trylock) and refuses.  That must
 * not deadlock; the sequence must still move (a read begun before cannot
 * commit); and the next lookup, which drains the deferred range first,
 * must not hand out the stale entry.
 * Also: a signal handler that unmaps memory, both when it interrupts
 * ordinary code and when it arrives while a hook is delivering.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <umn/interval.h>
#include <umn/self.h>
#include "harness.h"
#include "self_common.h"

#define LARGE (33ul << 20)

struct cache {
	struct umn_interval_notifier sub;
	pthread_mutex_t lock;
	unsigned long key;  /* the one mirrored address (0: empty) */
	int refused;
	int dropped;
};

static bool cache_invalidate(struct umn_interval_notifier *sub,
			     const struct umn_notifier_range *r,
			     unsigned long cur_seq)
{
	struct cache *c = (struct cache *)sub;

	if (umn_notifier_range_blockable(r))
		pthread_mutex_lock(&c->lock);
	else if (pthread_mutex_trylock(&c->lock)) {
		c->refused++; /* racy counter, single-threaded test */
		return false;
	}
	umn_interval_set_seq(sub, cur_seq);
	if (c->key >= r->start && c->key < r->end) {
		c->key = 0;
		c->dropped++;
	}
	pthread_mutex_unlock(&c->lock);
	return true;
}

static const struct umn_interval_notifier_ops cache_ops = {
	.invalidate = cache_invalidate,
};

/* The lookup path: drain refused invalidations before handing out. */
static unsigned long cache_lookup_locked(struct cache *c)
{
	unsigned long s, l;

	if (umn_interval_deferred_pending(&c->sub) &&
	    umn_interval_take_deferred(&c->sub, &s, &l) == 1 &&
	    c->key >= s && c->key <= l) {
		c->key = 0;
		c->dropped++;
	}
	return c->key;
}

static void test_free_under_own_lock(void)
{
	struct cache c = { .lock = PTHREAD_MUTEX_INITIALIZER };
	char *p = malloc(LARGE);
	unsigned long seq;

	CHECK(p != NULL);
	p[0] = 1;
	CHECK_EQ(umn_interval_notifier_insert(&c.sub, umn_mm_self(),
					      (unsigned long)p, LARGE,
					      &cache_ops), 0);
	seq = umn_interval_read_begin(&c.sub);
	pthread_mutex_lock(&c.lock);
	CHECK(!umn_interval_read_retry(&c.sub, seq));
	c.key = (unsigned long)p; /* published: a registration of p */
	alarm(10);                /* a deadlock fails instead of hanging */
	free(p);                  /* munmap inside, our lock held */
	alarm(0);
	CHECK_EQ(c.refused, 1);
	CHECK_EQ(c.dropped, 0);
	/* a read begun before the free cannot commit */
	CHECK(umn_interval_read_retry(&c.sub, seq));
	/* the next lookup does not return the stale mapping */
	CHECK(umn_interval_deferred_pending(&c.sub));
	CHECK_EQ(cache_lookup_locked(&c), 0);
	CHECK_EQ(c.dropped, 1);
	CHECK(!umn_interval_deferred_pending(&c.sub));
	pthread_mutex_unlock(&c.lock);
	CHECK_EQ(umn_interval_notifier_remove(&c.sub), 0);
}

/* ---- signal handlers ---------------------------------------------------- */

static char *sig_target;
static volatile sig_atomic_t sig_unmapped;
static unsigned long sig_lo, sig_hi;
static int sig_events;
static int raise_once;

static void on_usr1(int sig)
{
	(void)sig;
	CHECK_EQ(munmap(sig_target, 4096), 0);
	sig_unmapped = 1;
}

static int sig_start(struct umn_notifier *sub,
		     const struct umn_notifier_range *r)
{
	(void)sub;
	if (r->start < sig_hi && r->end > sig_lo && r->origin != UMN_ORIGIN_EXPLICIT)
		__atomic_fetch_add(&sig_events, 1, __ATOMIC_ACQ_REL);
	/*
	 * A signal arriving while a hook delivers: with umn's handler
	 * wrappers (the default with patching) the handler runs at once, in
	 * the callback, and its munmap is a nested invalidation; with signals
	 * masked (UMN_SELF_SIGMASK=1, interposition) it waits for the hook.
	 * Reported either way before the outer call returns.
	 */
	if (__atomic_exchange_n(&raise_once, 0, __ATOMIC_ACQ_REL))
		raise(SIGUSR1);
	return 0;
}

static const struct umn_notifier_ops sig_ops = {
	.invalidate_range_start = sig_start,
};

static void arm_target(void)
{
	sig_target = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(sig_target != MAP_FAILED);
	sig_lo = (unsigned long)sig_target;
	sig_hi = sig_lo + 4096;
	sig_events = 0;
	sig_unmapped = 0;
}

static void test_signal_handler(void)
{
	struct umn_notifier sub = { .ops = &sig_ops };
	struct sigaction sa = { .sa_handler = on_usr1 };
	char *other;

	sigemptyset(&sa.sa_mask);
	CHECK_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
	CHECK_EQ(umn_notifier_register(&sub, umn_mm_self()), 0);

	/* The handler interrupts ordinary code. */
	arm_target();
	raise(SIGUSR1);
	CHECK(sig_unmapped);
	CHECK_EQ(sig_events, 1);

	/* The signal is raised while a hook is delivering another call's
	 * invalidation: the handler's munmap is seen. */
	arm_target();
	other = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(other != MAP_FAILED);
	__atomic_store_n(&raise_once, 1, __ATOMIC_RELEASE);
	CHECK_EQ(munmap(other, 4096), 0);
	CHECK(sig_unmapped);
	CHECK_EQ(sig_events, 1);

	CHECK_EQ(umn_notifier_unregister(&sub, umn_mm_self()), 0);
	signal(SIGUSR1, SIG_DFL);
}

int main(void)
{
	CHECK(umn_mm_self() != NULL);
	if (!umn_self_sources()) {
		printf("# skip: no event source\n");
		return T_SKIP;
	}
	if ((umn_self_sources() & UMN_SELF_PATCH) && self_malloc_is_glibc())
		RUN(test_free_under_own_lock);
	else
		printf("# skip test_free_under_own_lock: needs patch + glibc malloc\n");
	RUN(test_signal_handler);
	return 0;
}
