/* SPDX-License-Identifier: MIT */
/*
 * The interval-subscription state machine, one contract invariant per case
 * (contract section 5; numbers in the case names).  The test looks at the
 * private subscriptions object (src/notifier_internal.h) to observe seq, the
 * active count and the deferred list directly.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <unistd.h>
#include <umn/umn.h>
#include "harness.h"
#include "notifier_internal.h"

struct rec_sub {
	struct umn_interval_notifier sub;
	pthread_mutex_t lock;
	int calls;
	unsigned long last_seq;
	unsigned long last_start, last_end;
	enum umn_notifier_event last_event;
	bool refuse;		/* refuse non-blockable ranges */
};

static bool rec_invalidate(struct umn_interval_notifier *sub,
			   const struct umn_notifier_range *range,
			   unsigned long cur_seq)
{
	struct rec_sub *r = (struct rec_sub *)sub;

	if (!umn_notifier_range_blockable(range) && r->refuse)
		return false;
	pthread_mutex_lock(&r->lock);
	umn_interval_set_seq(sub, cur_seq);
	r->calls++;
	r->last_seq = cur_seq;
	r->last_start = range->start;
	r->last_end = range->end;
	r->last_event = range->event;
	pthread_mutex_unlock(&r->lock);
	return true;
}

static const struct umn_interval_notifier_ops rec_ops = {
	.invalidate = rec_invalidate,
};

static void rec_init(struct rec_sub *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
}

static struct umn_subscriptions *subs_of(struct umn_mm *mm)
{
	return umnp_subs(mm);
}

static unsigned long seq_of(struct umn_mm *mm)
{
	return __atomic_load_n(subs_of(mm)->seq, __ATOMIC_ACQUIRE);
}

static unsigned long active_of(struct umn_mm *mm)
{
	struct umn_subscriptions *s = subs_of(mm);
	unsigned long a;

	pthread_mutex_lock(&s->lock);
	a = s->active_invalidate_ranges;
	pthread_mutex_unlock(&s->lock);
	return a;
}

static bool deferred_empty(struct umn_mm *mm)
{
	struct umn_subscriptions *s = subs_of(mm);
	bool e;

	pthread_mutex_lock(&s->lock);
	e = s->deferred_list == NULL;
	pthread_mutex_unlock(&s->lock);
	return e;
}

static unsigned long tree_count(struct umn_mm *mm)
{
	struct umn_subscriptions *s = subs_of(mm);
	unsigned long n;

	pthread_mutex_lock(&s->lock);
	n = s->itree.count;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static void range_start(struct umn_notifier_range *r, struct umn_mm *mm,
			unsigned long start, unsigned long end)
{
	umn_notifier_range_init(r, UMN_NOTIFY_UNMAP, 0, mm, start, end);
	umn_notifier_invalidate_range_start(r);
}

/* Invariants 1 and 5: idle means even seq, empty deferred list; every
 * subscription's own seq is odd, in every state. */
static void inv1_inv5_idle_even_sub_odd(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct rec_sub a, b;
	struct umn_notifier_range r;

	rec_init(&a);
	rec_init(&b);
	CHECK_EQ(umn_interval_notifier_insert(&a.sub, mm, 0x1000, 0x1000,
					      &rec_ops), 0);
	CHECK(umn_mm_has_notifiers(mm));
	CHECK_EQ(seq_of(mm) & 1, 0);
	CHECK(deferred_empty(mm));
	CHECK_EQ(a.sub.invalidate_seq & 1, 1);

	range_start(&r, mm, 0x1000, 0x2000);
	CHECK_EQ(seq_of(mm) & 1, 1);	/* full exclusion */
	CHECK_EQ(a.sub.invalidate_seq & 1, 1);
	/* insert during full exclusion: deferred, own seq odd */
	CHECK_EQ(umn_interval_notifier_insert(&b.sub, mm, 0x5000, 0x1000,
					      &rec_ops), 0);
	CHECK(!deferred_empty(mm));
	CHECK_EQ(b.sub.invalidate_seq & 1, 1);
	umn_notifier_invalidate_range_end(&r);

	CHECK_EQ(active_of(mm), 0);
	CHECK_EQ(seq_of(mm) & 1, 0);
	CHECK(deferred_empty(mm));
	CHECK_EQ(a.sub.invalidate_seq & 1, 1);
	CHECK_EQ(b.sub.invalidate_seq & 1, 1);
	CHECK_EQ(umn_interval_notifier_remove(&a.sub), 0);
	CHECK_EQ(umn_interval_notifier_remove(&b.sub), 0);
	CHECK_EQ(umn_mm_put(mm), 0);
}

/* Invariant 2: seq only becomes odd, or +1 to even; monotonic. */
static void inv2_seq_transitions(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct rec_sub a;
	struct umn_notifier_range r1, r2, r3;
	unsigned long s0, s1;

	rec_init(&a);
	CHECK_EQ(umn_interval_notifier_insert(&a.sub, mm, 0x1000, 0x1000,
					      &rec_ops), 0);
	s0 = seq_of(mm);
	/* a start that touches no interval leaves seq alone */
	range_start(&r1, mm, 0x8000, 0x9000);
	CHECK_EQ(seq_of(mm), s0);
	CHECK_EQ(active_of(mm), 1);
	/* one that touches makes it odd: s0 | 1 */
	range_start(&r2, mm, 0x1000, 0x1001);
	CHECK_EQ(seq_of(mm), s0 | 1);
	/* a second touching one keeps it */
	range_start(&r3, mm, 0x1800, 0x1900);
	CHECK_EQ(seq_of(mm), s0 | 1);
	CHECK_EQ(a.calls, 2);
	CHECK_EQ(a.last_seq, s0 | 1);
	umn_notifier_invalidate_range_end(&r1);
	CHECK_EQ(seq_of(mm), s0 | 1);
	umn_notifier_invalidate_range_end(&r3);
	CHECK_EQ(seq_of(mm), s0 | 1);
	umn_notifier_invalidate_range_end(&r2);
	s1 = seq_of(mm);
	CHECK_EQ(s1, (s0 | 1) + 1);
	CHECK(s1 > s0);
	CHECK_EQ(umn_interval_notifier_remove(&a.sub), 0);
	umn_mm_put(mm);
}

/* Invariants 3 and 4: seq turns even only at the last end, and the deferred
 * inserts/removes are applied there; the tree never changes while odd. */
static void inv3_inv4_deferred_applied_at_last_end(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct rec_sub a, b;
	struct umn_notifier_range r1, r2;

	rec_init(&a);
	rec_init(&b);
	CHECK_EQ(umn_interval_notifier_insert(&a.sub, mm, 0x1000, 0x1000,
					      &rec_ops), 0);
	range_start(&r1, mm, 0x1000, 0x2000);
	range_start(&r2, mm, 0x0, 0x10000);
	CHECK_EQ(tree_count(mm), 1);
	CHECK_EQ(umn_interval_notifier_insert(&b.sub, mm, 0x3000, 0x1000,
					      &rec_ops), 0);
	CHECK_EQ(tree_count(mm), 1);		/* frozen */
	umn_notifier_invalidate_range_end(&r1);
	CHECK_EQ(seq_of(mm) & 1, 1);		/* r2 still active */
	CHECK_EQ(tree_count(mm), 1);
	CHECK(!deferred_empty(mm));
	umn_notifier_invalidate_range_end(&r2);
	CHECK_EQ(seq_of(mm) & 1, 0);
	CHECK_EQ(tree_count(mm), 2);		/* applied in the same section */
	CHECK(deferred_empty(mm));

	/* b, inserted during exclusion, now gets invalidations */
	range_start(&r1, mm, 0x3000, 0x3001);
	CHECK_EQ(b.calls, 1);
	umn_notifier_invalidate_range_end(&r1);
	CHECK_EQ(umn_interval_notifier_remove(&a.sub), 0);
	CHECK_EQ(umn_interval_notifier_remove(&b.sub), 0);
	CHECK_EQ(tree_count(mm), 0);
	umn_mm_put(mm);
}

/* Insert during partial exclusion: goes into the tree, but makes seq odd, so
 * the newcomer collides until every running invalidation ends. */
static void insert_partial_exclusion_collides(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct rec_sub a, b;
	struct umn_notifier_range r;
	unsigned long seq;

	rec_init(&a);
	rec_init(&b);
	CHECK_EQ(umn_interval_notifier_insert(&a.sub, mm, 0x1000, 0x1000,
					      &rec_ops), 0);
	range_start(&r, mm, 0x9000, 0xa000);	/* touches nothing */
	CHECK_EQ(seq_of(mm) & 1, 0);
	CHECK_EQ(umn_interval_notifier_insert(&b.sub, mm, 0x9000, 0x1000,
					      &rec_ops), 0);
	CHECK_EQ(seq_of(mm) & 1, 1);
	CHECK_EQ(tree_count(mm), 2);
	/* b's seq equals the running seq: read_begin would wait */
	CHECK_EQ(b.sub.invalidate_seq, seq_of(mm));
	umn_notifier_invalidate_range_end(&r);
	CHECK_EQ(seq_of(mm) & 1, 0);
	seq = umn_interval_read_begin(&b.sub);	/* does not wait now */
	CHECK(!umn_interval_read_retry(&b.sub, seq));
	CHECK_EQ(umn_interval_notifier_remove(&a.sub), 0);
	CHECK_EQ(umn_interval_notifier_remove(&b.sub), 0);
	umn_mm_put(mm);
}

/* Invariant 7: exactly once per intersecting invalidation; intervals are
 * inclusive [start, last], ranges half-open [start, end). */
static void inv7_exactly_once_and_bounds(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct rec_sub a;
	struct umn_notifier_range r;

	rec_init(&a);
	/* [0x1000, 0x1fff] */
	CHECK_EQ(umn_interval_notifier_insert(&a.sub, mm, 0x1000, 0x1000,
					      &rec_ops), 0);
	range_start(&r, mm, 0x0, 0x1000);	/* ends just before */
	umn_notifier_invalidate_range_end(&r);
	CHECK_EQ(a.calls, 0);
	range_start(&r, mm, 0x2000, 0x3000);	/* starts just after */
	umn_notifier_invalidate_range_end(&r);
	CHECK_EQ(a.calls, 0);
	range_start(&r, mm, 0x0, 0x1001);	/* first byte */
	umn_notifier_invalidate_range_end(&r);
	CHECK_EQ(a.calls, 1);
	range_start(&r, mm, 0x1fff, 0x2000);	/* last byte */
	umn_notifier_invalidate_range_end(&r);
	CHECK_EQ(a.calls, 2);
	CHECK_EQ(a.last_start, 0x1fff);
	CHECK_EQ(a.last_end, 0x2000);
	range_start(&r, mm, 0x0, ULONG_MAX);	/* everything: once */
	umn_notifier_invalidate_range_end(&r);
	CHECK_EQ(a.calls, 3);
	range_start(&r, mm, 0x1800, 0x1800);	/* empty range: nothing */
	umn_notifier_invalidate_range_end(&r);
	CHECK_EQ(a.calls, 3);
	CHECK_EQ(umn_interval_notifier_remove(&a.sub), 0);

	/* a subscription reaching ULONG_MAX */
	rec_init(&a);
	CHECK_EQ(umn_interval_notifier_insert(&a.sub, mm, ULONG_MAX - 0xfff,
					      0x1000, &rec_ops), 0);
	range_start(&r, mm, ULONG_MAX - 1, ULONG_MAX);
	umn_notifier_invalidate_range_end(&r);
	CHECK_EQ(a.calls, 1);
	CHECK_EQ(umn_interval_notifier_remove(&a.sub), 0);
	CHECK_EQ(umn_interval_notifier_insert(&a.sub, mm, 1, ULONG_MAX,
					      &rec_ops), 0);	/* [1, MAX] */
	CHECK_EQ(umn_interval_notifier_remove(&a.sub), 0);
	CHECK_EQ(umn_interval_notifier_insert(&a.sub, mm, 2, ULONG_MAX,
					      &rec_ops), -EOVERFLOW);
	umn_mm_put(mm);
}

/* Invariant 9 and the non-blocking start: a refusal fails the start with
 * -EAGAIN and ends the interval half itself (no leaked active count); a
 * blockable range never fails. */
static void inv9_nonblock_refusal(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct rec_sub a;
	struct umn_notifier_range r;

	rec_init(&a);
	a.refuse = true;
	CHECK_EQ(umn_interval_notifier_insert(&a.sub, mm, 0x1000, 0x1000,
					      &rec_ops), 0);
	umn_notifier_range_init(&r, UMN_NOTIFY_CLEAR, 0, mm, 0x1000, 0x2000);
	CHECK_EQ(umn_notifier_invalidate_range_start_nonblock(&r), -EAGAIN);
	CHECK_EQ(active_of(mm), 0);
	CHECK_EQ(seq_of(mm) & 1, 0);
	/* blockable: the same subscriber takes it */
	range_start(&r, mm, 0x1000, 0x2000);
	CHECK_EQ(a.calls, 1);
	umn_notifier_invalidate_range_end(&r);
	CHECK_EQ(umn_interval_notifier_remove(&a.sub), 0);
	umn_mm_put(mm);
}

/* Deferrable ranges: the refusal is recorded, the subscription's seq is
 * bumped (readers retry), start succeeds, the owner takes the range later. */
static void deferrable_refusal_is_deferred(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct rec_sub a;
	struct umn_notifier_range r;
	unsigned long seq, s, l;

	rec_init(&a);
	a.refuse = true;
	CHECK_EQ(umn_interval_notifier_insert(&a.sub, mm, 0x1000, 0x4000,
					      &rec_ops), 0);
	seq = umn_interval_read_begin(&a.sub);
	CHECK(!umn_interval_deferred_pending(&a.sub));
	umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP,
				UMN_NOTIFIER_RANGE_DEFERRABLE, mm, 0x2000,
				0x3000);
	CHECK_EQ(umn_notifier_invalidate_range_start_nonblock(&r), 0);
	CHECK(umn_interval_read_retry(&a.sub, seq));
	CHECK(umn_interval_deferred_pending(&a.sub));
	umn_notifier_invalidate_range_end(&r);
	/* a second refusal merges; clipped to the subscription */
	umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP,
				UMN_NOTIFIER_RANGE_DEFERRABLE, mm, 0x0, 0x1800);
	CHECK_EQ(umn_notifier_invalidate_range_start_nonblock(&r), 0);
	umn_notifier_invalidate_range_end(&r);
	CHECK_EQ(umn_interval_take_deferred(&a.sub, &s, &l), 1);
	CHECK_EQ(s, 0x1000);
	CHECK_EQ(l, 0x2fff);
	CHECK(!umn_interval_deferred_pending(&a.sub));
	CHECK_EQ(umn_interval_take_deferred(&a.sub, &s, &l), 0);
	CHECK_EQ(a.calls, 0);
	CHECK_EQ(active_of(mm), 0);
	CHECK_EQ(umn_interval_notifier_remove(&a.sub), 0);
	umn_mm_put(mm);
}

/* Refuse [start + 0x1000, start + 0x2000) of sub, deferrably. */
static void refuse_page(struct umn_mm *mm, struct rec_sub *r)
{
	struct umn_notifier_range range;
	unsigned long start = umn_interval_start(&r->sub) + 0x1000;

	umn_notifier_range_init(&range, UMN_NOTIFY_UNMAP,
				UMN_NOTIFIER_RANGE_DEFERRABLE, mm, start,
				start + 0x1000);
	CHECK_EQ(umn_notifier_invalidate_range_start_nonblock(&range), 0);
	umn_notifier_invalidate_range_end(&range);
	CHECK(umn_interval_deferred_pending(&r->sub));
}

/* The address space keeps the refused ranges of UMNP_DEFERRED_RANGES
 * subscriptions; a refusal beyond that is still delivered, as the whole
 * subscription, and a taken or removed subscription frees its entry. */
static void deferred_table_full_gives_whole_range(void)
{
	enum { N = UMNP_DEFERRED_RANGES + 2 };
	struct umn_mm *mm = umn_mm_new();
	static struct rec_sub subs[N];
	unsigned long s, l, start;

	for (int i = 0; i < N; i++) {
		rec_init(&subs[i]);
		subs[i].refuse = true;
		CHECK_EQ(umn_interval_notifier_insert(&subs[i].sub, mm,
						      0x100000 + i * 0x10000ul,
						      0x4000, &rec_ops), 0);
		refuse_page(mm, &subs[i]);
	}
	/* a second refusal of a subscription in the table merges there */
	refuse_page(mm, &subs[0]);
	for (int i = 0; i < N; i++) {
		start = 0x100000 + i * 0x10000ul;
		CHECK_EQ(umn_interval_take_deferred(&subs[i].sub, &s, &l), 1);
		if (i < UMNP_DEFERRED_RANGES) {
			CHECK_EQ(s, start + 0x1000);
			CHECK_EQ(l, start + 0x1fff);
		} else {		/* the table was full */
			CHECK_EQ(s, start);
			CHECK_EQ(l, start + 0x3fff);
		}
		CHECK(!umn_interval_deferred_pending(&subs[i].sub));
		CHECK_EQ(umn_interval_take_deferred(&subs[i].sub, &s, &l), 0);
	}
	/* taking freed every entry: the last one is exact again */
	refuse_page(mm, &subs[N - 1]);
	CHECK_EQ(umn_interval_take_deferred(&subs[N - 1].sub, &s, &l), 1);
	CHECK_EQ(s, 0x100000 + (N - 1) * 0x10000ul + 0x1000);
	CHECK_EQ(l, 0x100000 + (N - 1) * 0x10000ul + 0x1fff);
	/* fill the table again; removing a pending subscription frees its
	 * entry, reinserting it clears its mark */
	for (int i = 0; i < UMNP_DEFERRED_RANGES; i++)
		refuse_page(mm, &subs[i]);
	refuse_page(mm, &subs[N - 1]);		/* full: whole */
	CHECK_EQ(umn_interval_notifier_remove(&subs[0].sub), 0);
	CHECK_EQ(umn_interval_notifier_insert(&subs[0].sub, mm, 0x100000,
					      0x4000, &rec_ops), 0);
	CHECK(!umn_interval_deferred_pending(&subs[0].sub));
	refuse_page(mm, &subs[N - 2]);		/* the freed entry */
	CHECK_EQ(umn_interval_take_deferred(&subs[N - 2].sub, &s, &l), 1);
	CHECK_EQ(s, 0x100000 + (N - 2) * 0x10000ul + 0x1000);
	CHECK_EQ(umn_interval_take_deferred(&subs[N - 1].sub, &s, &l), 1);
	CHECK_EQ(s, 0x100000 + (N - 1) * 0x10000ul);
	CHECK_EQ(l, 0x100000 + (N - 1) * 0x10000ul + 0x3fff);
	for (int i = 0; i < N; i++)
		CHECK_EQ(umn_interval_notifier_remove(&subs[i].sub), 0);
	for (int i = 0; i < UMNP_DEFERRED_RANGES; i++)
		CHECK(!subs_of(mm)->deferred_ranges[i].sub);
	umn_mm_put(mm);
}

/* ---- blocking behaviour: read_begin and remove wait for the end ---- */

struct waiter {
	struct umn_interval_notifier *sub;
	int done;
	unsigned long seq;
};

static void *read_begin_thread(void *arg)
{
	struct waiter *w = arg;

	w->seq = umn_interval_read_begin(w->sub);
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *remove_thread(void *arg)
{
	struct waiter *w = arg;

	CHECK_EQ(umn_interval_notifier_remove(w->sub), 0);
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void read_begin_waits_for_end(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct rec_sub a;
	struct umn_notifier_range r;
	struct waiter w = { &a.sub, 0, 0 };
	pthread_t t;

	rec_init(&a);
	w.sub = &a.sub;
	CHECK_EQ(umn_interval_notifier_insert(&a.sub, mm, 0x1000, 0x1000,
					      &rec_ops), 0);
	range_start(&r, mm, 0x1000, 0x2000);
	pthread_create(&t, NULL, read_begin_thread, &w);
	usleep(50000);
	CHECK_EQ(__atomic_load_n(&w.done, __ATOMIC_ACQUIRE), 0);
	umn_notifier_invalidate_range_end(&r);
	pthread_join(t, NULL);
	CHECK_EQ(w.done, 1);
	CHECK_EQ(w.seq, a.last_seq);	/* the invalidation's seq */
	CHECK(!umn_interval_read_retry(&a.sub, w.seq));
	CHECK_EQ(umn_interval_notifier_remove(&a.sub), 0);
	umn_mm_put(mm);
}

/* Invariant 12 for intervals: remove during full exclusion queues the
 * removal and returns only after the end applied it. */
static void remove_waits_for_end(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct rec_sub a, b;
	struct umn_notifier_range r;
	struct waiter w;
	pthread_t t;

	rec_init(&a);
	rec_init(&b);
	CHECK_EQ(umn_interval_notifier_insert(&a.sub, mm, 0x1000, 0x1000,
					      &rec_ops), 0);
	CHECK_EQ(umn_interval_notifier_insert(&b.sub, mm, 0x1000, 0x1000,
					      &rec_ops), 0);
	range_start(&r, mm, 0x1000, 0x2000);
	w.sub = &a.sub;
	w.done = 0;
	pthread_create(&t, NULL, remove_thread, &w);
	usleep(50000);
	CHECK_EQ(__atomic_load_n(&w.done, __ATOMIC_ACQUIRE), 0);
	CHECK_EQ(tree_count(mm), 2);
	umn_notifier_invalidate_range_end(&r);
	pthread_join(t, NULL);
	CHECK_EQ(tree_count(mm), 1);
	/* a deferred insert removed within the same exclusion: no wait */
	range_start(&r, mm, 0x1000, 0x2000);
	rec_init(&a);
	CHECK_EQ(umn_interval_notifier_insert(&a.sub, mm, 0x1000, 0x1000,
					      &rec_ops), 0);
	CHECK_EQ(umn_interval_notifier_remove(&a.sub), 0);
	umn_notifier_invalidate_range_end(&r);
	CHECK_EQ(tree_count(mm), 1);
	CHECK(deferred_empty(mm));
	CHECK_EQ(umn_interval_notifier_remove(&b.sub), 0);
	umn_mm_put(mm);
}

/* Invariant 14 (interval half): RELEASE over everything, blockable; the
 * subscription stays in the tree and still gets later UNMAPs. */
static bool exit_unmap_seen;
static void exit_mmap_unmaps(struct umn_mm *mm, void *owner)
{
	struct umn_notifier_range r;
	struct rec_sub *a = owner;
	int before = a->calls;

	umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP, 0, mm, 0, ULONG_MAX);
	umn_mmap_read_lock(mm);
	umn_notifier_invalidate_range_start(&r);
	umn_notifier_invalidate_range_end(&r);
	umn_mmap_read_unlock(mm);
	exit_unmap_seen = a->calls == before + 1 &&
			  a->last_event == UMN_NOTIFY_UNMAP;
}

static const struct umn_mm_owner_ops exit_ops = { .exit_mmap = exit_mmap_unmaps };

static void inv14_release_then_unmap(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct rec_sub a;

	rec_init(&a);
	umn_mm_set_owner(mm, &exit_ops, &a);
	CHECK_EQ(umn_interval_notifier_insert(&a.sub, mm, 0x1000, 0x1000,
					      &rec_ops), 0);
	umn_mm_grab(mm);	/* keep the object to inspect it */
	CHECK_EQ(umn_mm_put(mm), 0);
	CHECK(exit_unmap_seen);
	CHECK_EQ(a.calls, 2);	/* RELEASE, then UNMAP */
	CHECK_EQ(umn_mm_users(mm), 0);
	/* torn down: inserts are refused; the old subscription still removes */
	{
		struct rec_sub b;

		rec_init(&b);
		CHECK_EQ(umn_interval_notifier_insert(&b.sub, mm, 0, 4096,
						      &rec_ops), -EINVAL);
	}
	CHECK_EQ(umn_interval_notifier_remove(&a.sub), 0);
	umn_mm_drop(mm);
}

static unsigned long warns_seen;
static void count_warn(const char *f, const char *m, void *arg)
{
	(void)f; (void)m; (void)arg;
	warns_seen++;
}

int main(void)
{
	umn_set_warn_handler(count_warn, NULL);
	RUN(inv1_inv5_idle_even_sub_odd);
	RUN(inv2_seq_transitions);
	RUN(inv3_inv4_deferred_applied_at_last_end);
	RUN(insert_partial_exclusion_collides);
	RUN(inv7_exactly_once_and_bounds);
	RUN(inv9_nonblock_refusal);
	RUN(deferrable_refusal_is_deferred);
	RUN(deferred_table_full_gives_whole_range);
	RUN(read_begin_waits_for_end);
	RUN(remove_waits_for_end);
	RUN(inv14_release_then_unmap);
	/* only the deliberate torn-down insert was reported */
	CHECK_EQ(warns_seen, 1);
	return 0;
}
