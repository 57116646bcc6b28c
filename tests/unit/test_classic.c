/* SPDX-License-Identifier: MIT */
/*
 * Classic subscriptions: start/end pairing (invariant 8), registration
 * against in-flight pairs (10), read-side sections and grace periods (11),
 * nothing after unregister/put+synchronize (12), teardown order (14),
 * get/put identity and exactly-once free (16), young/change_pte results.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <umn/umn.h>
#include "harness.h"

struct rec {
	struct umn_notifier n;
	int starts, ends, ranges, releases, young, changes;
	int start_ret;		/* what invalidate_range_start returns */
	int order;		/* position in a global call order */
	unsigned long pte;
};

static int call_order;

static struct rec *rec_of(struct umn_notifier *n)
{
	return (struct rec *)n;
}

static int rec_start(struct umn_notifier *n, const struct umn_notifier_range *r)
{
	struct rec *x = rec_of(n);

	(void)r;
	if (x->start_ret)
		return x->start_ret;
	__atomic_add_fetch(&x->starts, 1, __ATOMIC_RELAXED);
	return 0;
}

static void rec_end(struct umn_notifier *n, const struct umn_notifier_range *r)
{
	(void)r;
	__atomic_add_fetch(&rec_of(n)->ends, 1, __ATOMIC_RELAXED);
}

static void rec_range(struct umn_notifier *n, struct umn_mm *mm,
		      unsigned long s, unsigned long e)
{
	(void)mm; (void)s; (void)e;
	rec_of(n)->ranges++;
}

static void rec_release(struct umn_notifier *n, struct umn_mm *mm)
{
	(void)mm;
	rec_of(n)->releases++;
	rec_of(n)->order = ++call_order;
}

static int rec_clear_young(struct umn_notifier *n, struct umn_mm *mm,
			   unsigned long s, unsigned long e)
{
	(void)mm; (void)s; (void)e;
	return rec_of(n)->young;
}

static int rec_test_young(struct umn_notifier *n, struct umn_mm *mm,
			  unsigned long a)
{
	(void)mm; (void)a;
	rec_of(n)->changes += 100;	/* count calls */
	return rec_of(n)->young;
}

static void rec_change_pte(struct umn_notifier *n, struct umn_mm *mm,
			   unsigned long a, unsigned long pte)
{
	(void)mm; (void)a;
	rec_of(n)->changes++;
	rec_of(n)->pte = pte;
}

static const struct umn_notifier_ops rec_ops = {
	.release = rec_release,
	.clear_flush_young = rec_clear_young,
	.clear_young = rec_clear_young,
	.test_young = rec_test_young,
	.change_pte = rec_change_pte,
	.invalidate_range_start = rec_start,
	.invalidate_range_end = rec_end,
	.invalidate_range = rec_range,
};

static void rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
	r->n.ops = &rec_ops;
}

/* Invariant 8: one end per successful start; only_end skips the flush. */
static void inv8_pairing(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct rec a;
	struct umn_notifier_range r;

	rec_init(&a);
	CHECK_EQ(umn_notifier_register(&a.n, mm), 0);
	umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP, 0, mm, 0, 4096);
	umn_notifier_invalidate_range_start(&r);
	umn_notifier_invalidate_range_end(&r);
	CHECK_EQ(a.starts, 1);
	CHECK_EQ(a.ends, 1);
	CHECK_EQ(a.ranges, 1);
	umn_notifier_invalidate_range_start(&r);
	umn_notifier_invalidate_range(mm, 0, 4096);
	umn_notifier_invalidate_range_only_end(&r);
	CHECK_EQ(a.starts, 2);
	CHECK_EQ(a.ends, 2);
	CHECK_EQ(a.ranges, 2);
	CHECK_EQ(umn_notifier_unregister(&a.n, mm), 0);
	CHECK_EQ(a.releases, 1);	/* still live: release called */
	umn_mm_put(mm);
}

/* The 2021 fix: a refused non-blocking start ends everyone whose start
 * succeeded; the refusing one and the caller get no end. */
static void inv8_failed_nonblock_start(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct rec a, b, c;
	struct umn_notifier_range r;

	rec_init(&a);
	rec_init(&b);
	rec_init(&c);
	/* list order is most recent first: c, b, a */
	CHECK_EQ(umn_notifier_register(&a.n, mm), 0);
	CHECK_EQ(umn_notifier_register(&b.n, mm), 0);
	CHECK_EQ(umn_notifier_register(&c.n, mm), 0);
	b.start_ret = -EAGAIN;
	umn_notifier_range_init(&r, UMN_NOTIFY_CLEAR, 0, mm, 0, 4096);
	CHECK_EQ(umn_notifier_invalidate_range_start_nonblock(&r), -EAGAIN);
	CHECK_EQ(c.starts, 1);
	CHECK_EQ(c.ends, 1);	/* its start succeeded: it got its end */
	CHECK_EQ(b.starts, 0);
	CHECK_EQ(b.ends, 0);
	CHECK_EQ(a.starts + a.ends, 0);	/* never started */
	b.start_ret = 0;
	CHECK_EQ(umn_notifier_invalidate_range_start_nonblock(&r), 0);
	umn_notifier_invalidate_range_end(&r);
	CHECK_EQ(a.starts, 1);
	CHECK_EQ(a.ends, 1);
	CHECK_EQ(b.starts, 1);
	CHECK_EQ(b.ends, 1);
	CHECK_EQ(umn_notifier_unregister(&a.n, mm), 0);
	CHECK_EQ(umn_notifier_unregister(&b.n, mm), 0);
	CHECK_EQ(umn_notifier_unregister(&c.n, mm), 0);
	umn_mm_put(mm);
}

/* Invariant 10: a registration waits for the in-flight start/end pair. */
struct reg_arg {
	struct umn_mm *mm;
	struct rec *r;
	int done;
};

static void *register_thread(void *arg)
{
	struct reg_arg *a = arg;

	CHECK_EQ(umn_notifier_register(&a->r->n, a->mm), 0);
	__atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void inv10_register_excludes_pairs(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct rec a, b;
	struct umn_notifier_range r;
	struct reg_arg arg = { mm, &b, 0 };
	pthread_t t;

	rec_init(&a);
	rec_init(&b);
	CHECK_EQ(umn_notifier_register(&a.n, mm), 0);
	umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP, 0, mm, 0, 4096);
	umn_mmap_read_lock(mm);
	umn_notifier_invalidate_range_start(&r);
	pthread_create(&t, NULL, register_thread, &arg);
	usleep(50000);
	CHECK_EQ(__atomic_load_n(&arg.done, __ATOMIC_ACQUIRE), 0);
	umn_notifier_invalidate_range_end(&r);
	umn_mmap_read_unlock(mm);
	pthread_join(t, NULL);
	CHECK_EQ(b.starts, 0);
	CHECK_EQ(b.ends, 0);	/* never an end without its start */
	CHECK_EQ(umn_notifier_unregister(&a.n, mm), 0);
	CHECK_EQ(umn_notifier_unregister(&b.n, mm), 0);
	umn_mm_put(mm);
}

/* ---- get / put ---- */

struct gp {
	struct umn_notifier n;
	int magic;
	int *frees;
	bool *in_callback_when_freed;
};

static int gp_frees;
static int gp_allocs;
static volatile int callback_running;
static bool freed_during_callback;

static struct umn_notifier *gp_alloc(struct umn_mm *mm)
{
	struct gp *g = calloc(1, sizeof(*g));

	(void)mm;
	if (!g)
		return NULL;
	g->magic = 0x6770;
	gp_allocs++;
	return &g->n;
}

static void gp_free(struct umn_notifier *n)
{
	struct gp *g = (struct gp *)n;

	CHECK_EQ(g->magic, 0x6770);
	g->magic = 0;
	if (__atomic_load_n(&callback_running, __ATOMIC_ACQUIRE))
		freed_during_callback = true;
	__atomic_add_fetch(&gp_frees, 1, __ATOMIC_RELAXED);
	free(g);
}

static int gp_slow_start(struct umn_notifier *n,
			 const struct umn_notifier_range *r)
{
	struct gp *g = (struct gp *)n;

	(void)r;
	__atomic_store_n(&callback_running, 1, __ATOMIC_RELEASE);
	usleep(100000);
	CHECK_EQ(g->magic, 0x6770);	/* not freed under us */
	__atomic_store_n(&callback_running, 0, __ATOMIC_RELEASE);
	return 0;
}

static const struct umn_notifier_ops gp_ops = {
	.alloc_notifier = gp_alloc,
	.free_notifier = gp_free,
	.invalidate_range_start = gp_slow_start,
};
static const struct umn_notifier_ops gp_ops2 = {
	.alloc_notifier = gp_alloc,
	.free_notifier = gp_free,
};

/* Invariant 16: one per (ops, mm); free exactly once, after the last put. */
static void inv16_get_put_identity(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct umn_mm *mm2 = umn_mm_new();
	struct umn_notifier *a, *b, *c, *d;

	gp_frees = gp_allocs = 0;
	a = umn_notifier_get(&gp_ops, mm);
	b = umn_notifier_get(&gp_ops, mm);
	c = umn_notifier_get(&gp_ops2, mm);
	d = umn_notifier_get(&gp_ops, mm2);
	CHECK(a && b && c && d);
	CHECK(a == b);
	CHECK(a != c);
	CHECK(a != d);
	CHECK_EQ(gp_allocs, 3);
	CHECK_EQ(umn_notifier_put(a), 0);
	umn_notifier_synchronize();
	CHECK_EQ(gp_frees, 0);
	CHECK_EQ(umn_notifier_put(b), 0);
	CHECK_EQ(umn_notifier_put(c), 0);
	CHECK_EQ(umn_notifier_put(d), 0);
	umn_notifier_synchronize();
	CHECK_EQ(gp_frees, 3);
	/* a fresh get after the last put makes a new one */
	a = umn_notifier_get(&gp_ops2, mm);
	CHECK(a != NULL);
	CHECK_EQ(gp_allocs, 4);
	CHECK_EQ(umn_notifier_put(a), 0);
	umn_notifier_synchronize();
	CHECK_EQ(gp_frees, 4);
	/* ops without alloc/free are refused */
	errno = 0;
	CHECK(umn_notifier_get(&rec_ops, mm) == NULL);
	CHECK_EQ(errno, EINVAL);
	umn_mm_put(mm);
	umn_mm_put(mm2);
}

/* Invariant 11: the last put while a callback runs on another thread: the
 * free waits for the read-side section (grace period). */
struct inv_arg {
	struct umn_mm *mm;
};

static void *invalidate_thread(void *arg)
{
	struct inv_arg *a = arg;
	struct umn_notifier_range r;

	umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP, 0, a->mm, 0, 4096);
	umn_mmap_read_lock(a->mm);
	umn_notifier_invalidate_range_start(&r);
	umn_notifier_invalidate_range_end(&r);
	umn_mmap_read_unlock(a->mm);
	return NULL;
}

static void inv11_free_after_grace_period(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct umn_notifier *g;
	struct inv_arg arg = { mm };
	pthread_t t;

	gp_frees = 0;
	freed_during_callback = false;
	g = umn_notifier_get(&gp_ops, mm);
	CHECK(g != NULL);
	pthread_create(&t, NULL, invalidate_thread, &arg);
	while (!__atomic_load_n(&callback_running, __ATOMIC_ACQUIRE))
		usleep(1000);
	CHECK_EQ(umn_notifier_put(g), 0);
	umn_notifier_synchronize();	/* barrier: the free has run */
	CHECK_EQ(gp_frees, 1);
	CHECK(!freed_during_callback);
	pthread_join(t, NULL);
	umn_mm_put(mm);
}

/* Invariant 12 (classic): unregister waits for a running callback. */
struct slow {
	struct umn_notifier n;
	int running, finished;
};

static int slow_start(struct umn_notifier *n, const struct umn_notifier_range *r)
{
	struct slow *s = (struct slow *)n;

	(void)r;
	__atomic_store_n(&s->running, 1, __ATOMIC_RELEASE);
	usleep(100000);
	__atomic_store_n(&s->finished, 1, __ATOMIC_RELEASE);
	return 0;
}

static const struct umn_notifier_ops slow_ops = {
	.invalidate_range_start = slow_start,
};

static void inv12_unregister_waits(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct slow s = { .n.ops = &slow_ops };
	struct inv_arg arg = { mm };
	pthread_t t;

	CHECK_EQ(umn_notifier_register(&s.n, mm), 0);
	pthread_create(&t, NULL, invalidate_thread, &arg);
	while (!__atomic_load_n(&s.running, __ATOMIC_ACQUIRE))
		usleep(1000);
	CHECK_EQ(umn_notifier_unregister(&s.n, mm), 0);
	CHECK_EQ(__atomic_load_n(&s.finished, __ATOMIC_ACQUIRE), 1);
	pthread_join(t, NULL);
	umn_mm_put(mm);
}

/* Invariant 14: interval release before classic release; release exactly
 * once even if unregister follows the teardown. */
static int interval_release_order;
static bool isub_invalidate(struct umn_interval_notifier *sub,
			    const struct umn_notifier_range *range,
			    unsigned long cur_seq)
{
	umn_interval_set_seq(sub, cur_seq);
	if (range->event == UMN_NOTIFY_RELEASE)
		interval_release_order = ++call_order;
	return true;
}

static const struct umn_interval_notifier_ops isub_ops = {
	.invalidate = isub_invalidate,
};

static void inv14_teardown_order(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct umn_interval_notifier isub;
	struct rec a;

	call_order = 0;
	memset(&isub, 0, sizeof(isub));
	rec_init(&a);
	CHECK_EQ(umn_notifier_register(&a.n, mm), 0);
	CHECK_EQ(umn_interval_notifier_insert(&isub, mm, 0, 4096, &isub_ops), 0);
	umn_mm_grab(mm);
	CHECK_EQ(umn_mm_put(mm), 0);	/* teardown */
	CHECK_EQ(interval_release_order, 1);
	CHECK_EQ(a.order, 2);
	CHECK_EQ(a.releases, 1);
	CHECK_EQ(umn_notifier_unregister(&a.n, mm), 0);
	CHECK_EQ(a.releases, 1);	/* not again */
	CHECK_EQ(umn_interval_notifier_remove(&isub), 0);
	umn_mm_drop(mm);
}

/* Young results are ORed (clear) / first non-zero (test); change_pte. */
static void young_and_change_pte(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct rec a, b;
	struct umn_notifier_range r;

	rec_init(&a);
	rec_init(&b);
	CHECK_EQ(umn_notifier_clear_young(mm, 0, 4096), 0);	/* nobody */
	CHECK_EQ(umn_notifier_register(&a.n, mm), 0);
	CHECK_EQ(umn_notifier_register(&b.n, mm), 0);
	a.young = 1;
	CHECK_EQ(umn_notifier_clear_flush_young(mm, 0, 4096), 1);
	CHECK_EQ(umn_notifier_clear_young(mm, 0, 4096), 1);
	b.young = 2;
	CHECK_EQ(umn_notifier_clear_young(mm, 0, 4096), 3);
	a.changes = b.changes = 0;
	CHECK(umn_notifier_test_young(mm, 0) != 0);
	CHECK_EQ(a.changes + b.changes, 100);	/* stopped at the first */
	a.young = b.young = 0;
	CHECK_EQ(umn_notifier_test_young(mm, 0), 0);
	umn_notifier_range_init(&r, UMN_NOTIFY_CLEAR, 0, mm, 0, 4096);
	umn_notifier_invalidate_range_start(&r);
	umn_notifier_change_pte(mm, 0, 0xabc);
	umn_notifier_invalidate_range_end(&r);
	CHECK_EQ(a.pte, 0xabc);
	CHECK_EQ(b.pte, 0xabc);
	CHECK_EQ(umn_notifier_unregister(&a.n, mm), 0);
	CHECK_EQ(umn_notifier_unregister(&b.n, mm), 0);
	umn_mm_put(mm);
}

/* The fast path: nobody subscribed means no subscriptions object at all. */
static void no_subscribers_fast_path(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct umn_notifier_range r;

	CHECK(!umn_mm_has_notifiers(mm));
	umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP, 0, mm, 0, 4096);
	umn_notifier_invalidate_range_start(&r);
	CHECK(umn_notifier_range_blockable(&r));
	umn_notifier_invalidate_range_end(&r);
	CHECK_EQ(umn_notifier_invalidate_range_start_nonblock(&r), 0);
	CHECK(!umn_notifier_range_blockable(&r));
	umn_notifier_invalidate_range_end(&r);
	CHECK(!umn_mm_has_notifiers(mm));
	umn_mm_put(mm);
}

int main(void)
{
	RUN(no_subscribers_fast_path);
	RUN(inv8_pairing);
	RUN(inv8_failed_nonblock_start);
	RUN(inv10_register_excludes_pairs);
	RUN(inv16_get_put_identity);
	RUN(inv11_free_after_grace_period);
	RUN(inv12_unregister_waits);
	RUN(inv14_teardown_order);
	RUN(young_and_change_pte);
	return 0;
}
