/* SPDX-License-Identifier: MIT */
/*
 * Torture test, in the manner of liburcu's rcutorture: age and poison
 * objects, let readers assert on them at the moment of use.
 *
 * The primary MMU is a page table of NPAGES slots, each pointing to a
 * malloc'd `struct page` with a unique generation.  Invalidator threads pick
 * random (overlapping, sometimes empty, sometimes [0, ULONG_MAX)) ranges and
 * run start / replace the pages / end, blockable, non-blocking (callbacks may
 * refuse: -EAGAIN, nothing changes) or non-blocking + DEFERRABLE (refusals
 * are deferred to the subscriber).  Between start and end the old pages are
 * poisoned and freed at once (blockable and plain non-blocking ranges: no
 * secondary may still hold them, so under ASan any later use is a
 * use-after-free), or, for deferrable ranges, freed after every reader has
 * passed a quiescent state (a refusing subscriber may legitimately hand out
 * an entry that linearises before the invalidation).
 *
 * Reader threads are secondary MMUs: each owns SLOTS_PER_READER interval
 * subscriptions over random overlapping ranges, a user lock and a mirror
 * (page -> token {page pointer, generation}) per subscription.  They fault
 * pages in with read_begin / build (page table lock only) / user lock /
 * read_retry / publish, and look entries up under the user lock after
 * draining umn_interval_take_deferred().  Every token handed out (published
 * or looked up) is checked: live, not poisoned, same generation.  The only
 * tolerated stale token is one whose subscription has a deferred refusal
 * pending (the invalidation linearised after the lookup's drain).
 *
 * Callback accounting (invariant 7 and 12): each invalidation has an id;
 * each subscription object records, per invalidator thread, the last id it
 * was called for.  A second call for the same id, or a call for an older id,
 * fails.  Before start the invalidator records every subscription that is in
 * the tree and intersects its range; after a successful start, each one that
 * has not begun removal meanwhile must have been called for this id.
 * Subscription objects are freed right after remove returns (ASan catches a
 * late callback; without ASan a magic does, most of the time).
 *
 * A churn thread re-inserts interval subscriptions (insert, insert_locked,
 * insert-then-remove at once), registers and unregisters a classic
 * subscription (whose start/end pairs are checked per invalidation id), and
 * gets / puts / synchronizes a shared one (free_notifier exactly once).
 *
 *   UMN_STRESS_SECONDS=300 UMN_SEED=<seed> ./stress_test_torture
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>
#include <umn/umn.h>
#include "harness.h"
#include "notifier_internal.h" /* UMNP_ISUB_IN_TREE: is a sub in the tree */

#define NPAGES           64
#define PAGE             4096ul
#define BASE             0x10000000ul
#define NREADERS         4
#define SLOTS_PER_READER 3
#define NCHURN_SLOTS     4
#define NSLOTS           (NREADERS * SLOTS_PER_READER + NCHURN_SLOTS)
#define NINV             3
#define NTHR             (NINV + 1) /* invalidator ids, + the churn thread */
#define STALL_SECONDS    20

#define PAGE_LIVE 0x50414745u /* "PAGE" */
#define PAGE_DEAD 0xdeadbeefu
#define TSUB_LIVE 0x54535542u /* "TSUB" */
#define TSUB_DEAD 0xdeadd00du

#define FAIL(...)                                                            \
	do {                                                                 \
		fprintf(stderr, "torture: FAIL: " __VA_ARGS__);              \
		fprintf(stderr, " (replay: UMN_SEED=%llu)\n",                \
			(unsigned long long)g_seed);                         \
		fflush(stderr);                                              \
		abort();                                                     \
	} while (0)

static uint64_t g_seed;
static int g_stop;
static struct umn_mm *g_mm;

#define LOAD(p)      __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define INC(p)       __atomic_add_fetch((p), 1, __ATOMIC_RELAXED)

/* ---- statistics ---- */
static struct {
	unsigned long inv[3], eagain, empty, whole, callbacks, refusals;
	unsigned long faults, retries, publishes, lookups, hits, tolerated;
	unsigned long drained, churn_isub, churn_classic, churn_get;
	unsigned long classic_pairs, expected_checked;
} st;

/* ---- per-thread randomness and delays ---- */
static __thread uint64_t tls_rng;

static uint64_t rnd(void)
{
	return t_rand(&tls_rng);
}

static void t_delay(void)
{
	uint64_t r = rnd() % 64;

	if (r == 0) {
		struct timespec ts = { 0, (long)(1000 + rnd() % 50000) };
		nanosleep(&ts, NULL);
	} else if (r < 6) {
		sched_yield();
	}
}

/* ---- the primary MMU: pages and the page table ---- */
struct page {
	unsigned int magic;
	unsigned int poison;
	unsigned long gen;
	unsigned long idx;
};

static struct page *pt[NPAGES];          /* under ptl */
static pthread_mutex_t ptl = PTHREAD_MUTEX_INITIALIZER;
static unsigned long g_page_gen;

static struct page *page_new(unsigned long idx)
{
	struct page *p = malloc(sizeof(*p));

	CHECK(p);
	p->idx = idx;
	p->poison = 0;
	p->gen = __atomic_add_fetch(&g_page_gen, 1, __ATOMIC_RELAXED);
	STORE(&p->magic, PAGE_LIVE);
	return p;
}

/* Without ASan, keep freed pages poisoned a while so stale uses see it. */
#if !T_ASAN
#define QUARANTINE 16384
static struct page *quarantine[QUARANTINE];
static unsigned long quarantine_pos;
static pthread_mutex_t quarantine_lock = PTHREAD_MUTEX_INITIALIZER;
#endif

static void page_free(struct page *p)
{
	STORE(&p->magic, PAGE_DEAD);
#if T_ASAN
	free(p);
#else
	pthread_mutex_lock(&quarantine_lock);
	free(quarantine[quarantine_pos % QUARANTINE]);
	quarantine[quarantine_pos++ % QUARANTINE] = p;
	pthread_mutex_unlock(&quarantine_lock);
#endif
}

/* Pages [*first, *last] touched by bytes [start, end); false if none. */
static bool range_pages(unsigned long start, unsigned long end,
			unsigned long *first, unsigned long *last)
{
	if (start >= end || end <= BASE || start >= BASE + NPAGES * PAGE)
		return false;
	*first = start < BASE ? 0 : (start - BASE) / PAGE;
	*last = end - 1 >= BASE + NPAGES * PAGE ? NPAGES - 1
						: (end - 1 - BASE) / PAGE;
	return true;
}

/* ---- quiescent states for deferred-range frees (a tiny QSBR) ---- */
static unsigned long qs[NREADERS];       /* also the readers' heartbeat */

struct zombie {
	struct page *p;
	unsigned long snap[NREADERS];
	struct zombie *next;
};

static void zombie_queue(struct zombie **list, struct page *p)
{
	struct zombie *z = malloc(sizeof(*z));

	CHECK(z);
	z->p = p;
	/* An RMW: a reader's later increment reads from it, so the reader's
	 * next section sees the deferred refusal recorded before this. */
	for (int r = 0; r < NREADERS; r++)
		z->snap[r] = __atomic_fetch_add(&qs[r], 0, __ATOMIC_ACQ_REL);
	z->next = *list;
	*list = z;
}

static void zombie_reclaim(struct zombie **list, bool all)
{
	struct zombie **pp = list, *z;

	while ((z = *pp)) {
		bool ok = true;

		for (int r = 0; r < NREADERS && !all; r++)
			if (LOAD(&qs[r]) == z->snap[r])
				ok = false;
		if (!ok) {
			pp = &z->next;
			continue;
		}
		*pp = z->next;
		page_free(z->p);
		free(z);
	}
}

/* ---- secondary MMUs ---- */
struct owner {
	pthread_mutex_t lock; /* the user lock: mirror entries, callbacks */
};

struct token {
	struct page *p;
	unsigned long gen;
};

struct tslot;

struct tsub {
	struct umn_interval_notifier sub; /* first */
	unsigned int magic;
	struct owner *own;
	unsigned long first, last;        /* pages covered */
	unsigned long seen[NTHR];         /* last invalidation id, per thread */
	struct token e[NPAGES];           /* under own->lock */
};

struct tslot {
	pthread_mutex_t mtx;
	struct tsub *cur;                 /* under mtx (owner reads freely) */
	unsigned long gen;                /* bumped under mtx before remove */
	struct owner *own;
};

static struct tslot slots[NSLOTS];

/* An invalidation: the range the callbacks see, plus who and which. */
struct tinv {
	struct umn_notifier_range range;
	unsigned long id;
	int thr;
};

static bool tsub_intersects(const struct tsub *ts, unsigned long start,
			    unsigned long end)
{
	return start < end && start <= umn_interval_last(&ts->sub) &&
	       end - 1 >= umn_interval_start(&ts->sub);
}

static void record_call(unsigned long *seen, const struct tinv *inv,
			const char *what)
{
	unsigned long prev = LOAD(&seen[inv->thr]);

	if (prev == inv->id)
		FAIL("%s called twice for invalidation %lu", what, inv->id);
	if (prev > inv->id)
		FAIL("%s called for invalidation %lu after %lu (its start had "
		     "returned)", what, inv->id, prev);
	STORE(&seen[inv->thr], inv->id);
}

static void drop_entries(struct tsub *ts, unsigned long first,
			 unsigned long last)
{
	if (first < ts->first)
		first = ts->first;
	if (last > ts->last)
		last = ts->last;
	for (unsigned long i = first; i <= last && first <= last; i++)
		ts->e[i].p = NULL;
}

static bool tsub_invalidate(struct umn_interval_notifier *isub,
			    const struct umn_notifier_range *range,
			    unsigned long cur_seq)
{
	struct tsub *ts = (struct tsub *)isub;
	bool blockable = umn_notifier_range_blockable(range);
	unsigned long first, last;

	if (LOAD(&ts->magic) != TSUB_LIVE)
		FAIL("interval callback on a removed subscription");
	if (!(cur_seq & 1))
		FAIL("invalidate() with an even cur_seq %lu", cur_seq);
	if (!tsub_intersects(ts, range->start, range->end))
		FAIL("invalidate() for [%#lx, %#lx) on [%#lx, %#lx]",
		     range->start, range->end, umn_interval_start(isub),
		     umn_interval_last(isub));
	if (range->event != UMN_NOTIFY_RELEASE)
		record_call(ts->seen,
			    (const struct tinv *)(const void *)range,
			    "interval invalidate()");
	INC(&st.callbacks);
	t_delay();
	if (blockable) {
		pthread_mutex_lock(&ts->own->lock);
	} else if (pthread_mutex_trylock(&ts->own->lock)) {
		INC(&st.refusals);
		return false;
	} else if (rnd() % 16 == 0) {
		/* Refuse anyway now and then: a non-blockable range may. */
		pthread_mutex_unlock(&ts->own->lock);
		INC(&st.refusals);
		return false;
	}
	umn_interval_set_seq(isub, cur_seq);
	if (range_pages(range->start, range->end, &first, &last))
		drop_entries(ts, first, last);
	if (blockable)
		t_delay();
	pthread_mutex_unlock(&ts->own->lock);
	return true;
}

static const struct umn_interval_notifier_ops tsub_ops = {
	.invalidate = tsub_invalidate,
};

/* Insert a fresh subscription object into slot s (owner's thread only). */
static void slot_insert(struct tslot *s)
{
	struct tsub *ts = calloc(1, sizeof(*ts));
	unsigned long first = rnd() % NPAGES;
	unsigned long n = 1 + rnd() % 16;
	int ret;

	CHECK(ts);
	if (first + n > NPAGES)
		n = NPAGES - first;
	ts->own = s->own;
	ts->first = first;
	ts->last = first + n - 1;
	ts->magic = TSUB_LIVE;
	if (rnd() % 8 == 0) {
		umn_mmap_write_lock(g_mm);
		ret = umn_interval_notifier_insert_locked(
			&ts->sub, g_mm, BASE + first * PAGE, n * PAGE,
			&tsub_ops);
		umn_mmap_write_unlock(g_mm);
	} else {
		ret = umn_interval_notifier_insert(&ts->sub, g_mm,
						   BASE + first * PAGE,
						   n * PAGE, &tsub_ops);
	}
	if (ret)
		FAIL("insert returned %d", ret);
	pthread_mutex_lock(&s->mtx);
	s->cur = ts;
	pthread_mutex_unlock(&s->mtx);
}

/* Remove and free slot s's subscription (owner's thread only). */
static void slot_remove(struct tslot *s)
{
	struct tsub *ts;
	int ret;

	pthread_mutex_lock(&s->mtx);
	ts = s->cur;
	s->cur = NULL;
	s->gen++;
	pthread_mutex_unlock(&s->mtx);
	if (!ts)
		return;
	ret = umn_interval_notifier_remove(&ts->sub);
	if (ret)
		FAIL("remove returned %d", ret);
	/* No callback may run from now on. */
	STORE(&ts->magic, TSUB_DEAD);
	t_delay();
	free(ts);
}

/* ---- the reader (secondary MMU) threads ---- */
struct reader {
	int id;
	pthread_t thread;
	struct owner own;
	struct tslot *slot[SLOTS_PER_READER];
	int done;
};

static struct reader readers[NREADERS];

/* A token is about to be handed out: it must refer to a live page. */
static void token_check(struct tsub *ts, const struct token *t,
			const char *what)
{
	struct page *p = t->p;
	unsigned int magic = LOAD(&p->magic);
	unsigned int poison = LOAD(&p->poison);
	unsigned long gen = LOAD(&p->gen);

	if (magic == PAGE_LIVE && !poison && gen == t->gen)
		return;
	/* A deferrable invalidation refused by this subscription after our
	 * drain: the hand-out linearises before it. */
	if (umn_interval_deferred_pending(&ts->sub)) {
		INC(&st.tolerated);
		return;
	}
	FAIL("%s handed out a stale token: page %lu token gen %lu, page gen "
	     "%lu poison %u magic %#x", what, t->p ? (unsigned long)
	     (LOAD(&p->idx)) : 0ul, t->gen, gen, poison, magic);
}

/* Under the user lock: drop what deferrable invalidations left to us. */
static void drain_deferred(struct tsub *ts)
{
	unsigned long start, last, first, lastp;
	int ret;

	if (!umn_interval_deferred_pending(&ts->sub))
		return;
	ret = umn_interval_take_deferred(&ts->sub, &start, &last);
	if (ret < 0)
		FAIL("take_deferred returned %d", ret);
	if (ret == 1) {
		INC(&st.drained);
		if (start < umn_interval_start(&ts->sub) ||
		    last > umn_interval_last(&ts->sub) || start > last)
			FAIL("take_deferred gave [%#lx, %#lx] outside the "
			     "subscription", start, last);
		if (range_pages(start, last + 1, &first, &lastp))
			drop_entries(ts, first, lastp);
	}
}

static void reader_lookup(struct reader *r, struct tsub *ts,
			  unsigned long page)
{
	pthread_mutex_lock(&r->own.lock);
	drain_deferred(ts);
	if (ts->e[page].p) {
		token_check(ts, &ts->e[page], "lookup");
		INC(&st.hits);
	}
	pthread_mutex_unlock(&r->own.lock);
	INC(&st.lookups);
}

static void reader_fault(struct reader *r, struct tsub *ts,
			 unsigned long page)
{
	struct token t;
	unsigned long seq;

	INC(&st.faults);
again:
	seq = umn_interval_read_begin(&ts->sub);
	if (!(seq & 1))
		FAIL("read_begin returned an even sequence %lu", seq);
	t_delay();
	pthread_mutex_lock(&ptl);
	t.p = pt[page];
	t.gen = LOAD(&t.p->gen);
	pthread_mutex_unlock(&ptl);
	t_delay();
	pthread_mutex_lock(&r->own.lock);
	drain_deferred(ts);
	if (umn_interval_read_retry(&ts->sub, seq)) {
		pthread_mutex_unlock(&r->own.lock);
		INC(&st.retries);
		if (LOAD(&g_stop))
			return;
		goto again;
	}
	token_check(ts, &t, "publish");
	ts->e[page] = t;
	pthread_mutex_unlock(&r->own.lock);
	INC(&st.publishes);
}

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	tls_rng = g_seed ^ (0x100u + (unsigned)r->id) * 0x9e3779b97f4a7c15ull;
	while (!LOAD(&g_stop)) {
		struct tslot *s = r->slot[rnd() % SLOTS_PER_READER];
		struct tsub *ts = s->cur;
		unsigned long page;
		uint64_t op = rnd() % 100;

		if (op < 2 || !ts) {
			slot_remove(s);
			slot_insert(s);
		} else {
			page = ts->first + rnd() % (ts->last - ts->first + 1);
			if (op < 50)
				reader_lookup(r, ts, page);
			else
				reader_fault(r, ts, page);
		}
		/* Quiescent state: no token of ours is in use here. */
		__atomic_fetch_add(&qs[r->id], 1, __ATOMIC_ACQ_REL);
		t_delay();
	}
	STORE(&r->done, 1);
	return NULL;
}

/* ---- classic subscriptions (churn thread) ---- */
struct tclassic {
	struct umn_notifier n; /* first */
	unsigned int magic;
	unsigned long started[NTHR]; /* id of the open start, 0 if none */
};

static int classic_start(struct umn_notifier *n,
			 const struct umn_notifier_range *range)
{
	struct tclassic *c = (struct tclassic *)n;
	const struct tinv *inv = (const struct tinv *)(const void *)range;

	if (LOAD(&c->magic) != TSUB_LIVE)
		FAIL("classic start on an unregistered subscription");
	if (LOAD(&c->started[inv->thr]))
		FAIL("classic start %lu while %lu of the same thread is open",
		     inv->id, c->started[inv->thr]);
	t_delay();
	if (!umn_notifier_range_blockable(range) &&
	    !(range->flags & UMN_NOTIFIER_RANGE_DEFERRABLE) && rnd() % 8 == 0)
		return -EAGAIN; /* no end may follow */
	STORE(&c->started[inv->thr], inv->id);
	return 0;
}

static void classic_end(struct umn_notifier *n,
			const struct umn_notifier_range *range)
{
	struct tclassic *c = (struct tclassic *)n;
	const struct tinv *inv = (const struct tinv *)(const void *)range;

	if (LOAD(&c->magic) != TSUB_LIVE)
		FAIL("classic end on an unregistered subscription");
	if (LOAD(&c->started[inv->thr]) != inv->id)
		FAIL("classic end %lu without its start (open: %lu)", inv->id,
		     c->started[inv->thr]);
	STORE(&c->started[inv->thr], 0);
	INC(&st.classic_pairs);
}

static unsigned long classic_released;

static void classic_release(struct umn_notifier *n, struct umn_mm *mm)
{
	(void)mm;
	if (LOAD(&((struct tclassic *)n)->magic) != TSUB_LIVE)
		FAIL("release on an unregistered subscription");
	INC(&classic_released);
}

static const struct umn_notifier_ops classic_ops = {
	.release = classic_release,
	.invalidate_range_start = classic_start,
	.invalidate_range_end = classic_end,
};

static unsigned long get_allocs, get_frees;

static struct umn_notifier *get_alloc(struct umn_mm *mm)
{
	struct tclassic *c = calloc(1, sizeof(*c));

	(void)mm;
	if (!c)
		return NULL;
	c->magic = TSUB_LIVE;
	INC(&get_allocs);
	return &c->n;
}

static void get_free(struct umn_notifier *n)
{
	struct tclassic *c = (struct tclassic *)n;

	if (LOAD(&c->magic) != TSUB_LIVE)
		FAIL("free_notifier called twice");
	STORE(&c->magic, TSUB_DEAD);
	INC(&get_frees);
	free(c);
}

static const struct umn_notifier_ops get_ops = {
	.invalidate_range_start = classic_start,
	.invalidate_range_end = classic_end,
	.alloc_notifier = get_alloc,
	.free_notifier = get_free,
};

static void *churn_main(void *arg)
{
	struct tslot *mine = &slots[NREADERS * SLOTS_PER_READER];

	(void)arg;
	tls_rng = g_seed ^ 0xc4c4c4c4c4c4c4c4ull;
	while (!LOAD(&g_stop)) {
		uint64_t op = rnd() % 8;

		if (op < 4) {
			struct tslot *s = &mine[rnd() % NCHURN_SLOTS];

			slot_remove(s);
			slot_insert(s);
			if (op == 0) /* remove at once: maybe still deferred */
				slot_remove(s);
			INC(&st.churn_isub);
		} else if (op < 6) {
			struct tclassic *c = calloc(1, sizeof(*c));
			unsigned long rel = LOAD(&classic_released);

			CHECK(c);
			c->n.ops = &classic_ops;
			c->magic = TSUB_LIVE;
			CHECK_EQ(umn_notifier_register(&c->n, g_mm), 0);
			t_delay();
			CHECK_EQ(umn_notifier_unregister(&c->n, g_mm), 0);
			if (LOAD(&classic_released) != rel + 1)
				FAIL("unregister of a live subscription did "
				     "not call release exactly once");
			STORE(&c->magic, TSUB_DEAD);
			free(c);
			INC(&st.churn_classic);
		} else {
			struct umn_notifier *a = umn_notifier_get(&get_ops, g_mm);
			struct umn_notifier *b;

			CHECK(a);
			b = umn_notifier_get(&get_ops, g_mm);
			CHECK(a == b);
			t_delay();
			CHECK_EQ(umn_notifier_put(b), 0);
			CHECK_EQ(umn_notifier_put(a), 0);
			if (op == 7)
				umn_notifier_synchronize();
			INC(&st.churn_get);
		}
		t_delay();
	}
	return NULL;
}

/* ---- the invalidator (primary MMU) threads ---- */
enum { INV_BLOCK, INV_NONBLOCK, INV_DEFER };

static unsigned long g_inv_id;

struct expect {
	struct tslot *s;
	unsigned long gen;
};

static void choose_range(unsigned long *start, unsigned long *end)
{
	uint64_t r = rnd() % 100;
	unsigned long a, n;

	if (r < 3) {          /* everything */
		*start = 0;
		*end = ULONG_MAX;
		INC(&st.whole);
		return;
	}
	if (r < 6) {          /* empty */
		*start = *end = BASE + (rnd() % NPAGES) * PAGE;
		INC(&st.empty);
		return;
	}
	a = rnd() % NPAGES;
	n = 1 + rnd() % 12;
	if (a + n > NPAGES)
		n = NPAGES - a;
	*start = BASE + a * PAGE;
	*end = BASE + (a + n) * PAGE;
	if (r < 30) {         /* unaligned: partial first/last pages */
		*start += rnd() % PAGE;
		*end -= rnd() % PAGE;
		if (*end <= *start)
			*end = *start + 1;
	}
}

static void *invalidator_main(void *arg)
{
	int thr = (int)(intptr_t)arg;
	struct expect exp[NSLOTS];
	struct page *old[NPAGES];
	struct zombie *zombies = NULL;
	static const enum umn_notifier_event events[] = {
		UMN_NOTIFY_UNMAP, UMN_NOTIFY_CLEAR, UMN_NOTIFY_PROTECTION_VMA,
		UMN_NOTIFY_MIGRATE,
	};

	tls_rng = g_seed ^ (0x200u + (unsigned)thr) * 0x9e3779b97f4a7c15ull;
	while (!LOAD(&g_stop)) {
		struct tinv inv;
		unsigned long start, end, first = 0, last = 0;
		int mode = (int)(rnd() % 3), nexp = 0, ret = 0;
		bool write = rnd() % 16 == 0, pages;

		choose_range(&start, &end);
		pages = range_pages(start, end, &first, &last);
		inv.id = __atomic_add_fetch(&g_inv_id, 1, __ATOMIC_RELAXED);
		inv.thr = thr;
		umn_notifier_range_init(&inv.range, events[rnd() % 4],
					mode == INV_DEFER ?
					UMN_NOTIFIER_RANGE_DEFERRABLE : 0,
					g_mm, start, end);

		/* Who must be called: in the tree now and not removed before
		 * our start returns. */
		for (int i = 0; i < NSLOTS; i++) {
			struct tslot *s = &slots[i];

			pthread_mutex_lock(&s->mtx);
			if (s->cur && tsub_intersects(s->cur, start, end) &&
			    LOAD(&s->cur->sub.state) == UMNP_ISUB_IN_TREE) {
				exp[nexp].s = s;
				exp[nexp++].gen = s->gen;
			}
			pthread_mutex_unlock(&s->mtx);
		}

		if (write)
			umn_mmap_write_lock(g_mm);
		else
			umn_mmap_read_lock(g_mm);
		if (mode == INV_BLOCK)
			umn_notifier_invalidate_range_start(&inv.range);
		else
			ret = umn_notifier_invalidate_range_start_nonblock(
				&inv.range);
		INC(&st.inv[mode]);
		if (ret) {
			if (mode != INV_NONBLOCK || ret != -EAGAIN)
				FAIL("start (mode %d) returned %d", mode, ret);
			INC(&st.eagain);
			goto unlock;
		}
		for (int i = 0; i < nexp; i++) {
			struct tslot *s = exp[i].s;

			pthread_mutex_lock(&s->mtx);
			if (s->gen == exp[i].gen &&
			    LOAD(&s->cur->seen[thr]) != inv.id)
				FAIL("invalidation %lu [%#lx, %#lx) did not "
				     "call subscription [%#lx, %#lx] (slot %d)",
				     inv.id, start, end,
				     umn_interval_start(&s->cur->sub),
				     umn_interval_last(&s->cur->sub),
				     (int)(s - slots));
			pthread_mutex_unlock(&s->mtx);
			INC(&st.expected_checked);
		}
		t_delay();
		/* The change: new pages; the old ones poisoned and freed. */
		if (pages) {
			pthread_mutex_lock(&ptl);
			for (unsigned long i = first; i <= last; i++) {
				old[i] = pt[i];
				pt[i] = page_new(i);
			}
			pthread_mutex_unlock(&ptl);
			for (unsigned long i = first; i <= last; i++) {
				STORE(&old[i]->poison, 1);
				if (mode == INV_DEFER)
					zombie_queue(&zombies, old[i]);
				else
					page_free(old[i]);
			}
		}
		t_delay();
		if (rnd() % 4 == 0) {
			umn_notifier_invalidate_range(g_mm, start, end);
			umn_notifier_invalidate_range_only_end(&inv.range);
		} else {
			umn_notifier_invalidate_range_end(&inv.range);
		}
unlock:
		if (write)
			umn_mmap_write_unlock(g_mm);
		else
			umn_mmap_read_unlock(g_mm);
		zombie_reclaim(&zombies, false);
		t_delay();
	}
	/* Readers may still be running: only what they have passed. */
	while (zombies) {
		zombie_reclaim(&zombies, false);
		if (zombies && LOAD(&g_stop) > 1)
			zombie_reclaim(&zombies, true);
		sched_yield();
	}
	return NULL;
}

/* ---- reports: a torture run must not trigger any ---- */
static void warn_handler(const char *func, const char *msg, void *arg)
{
	(void)arg;
	FAIL("unexpected report: %s: %s", func, msg);
}

int main(void)
{
	double secs = t_stress_seconds(3);
	pthread_t inv[NINV], churn;
	double t0, t1;

	g_seed = t_seed("torture");
	tls_rng = g_seed;
	umn_set_warn_handler(warn_handler, NULL);
	printf("# torture: %.1f s, %d readers x %d subscriptions, %d "
	       "invalidators, 1 churn thread, %s\n", secs, NREADERS,
	       SLOTS_PER_READER, NINV, T_ASAN ? "ASan: real frees" :
	       "quarantined frees");
	g_mm = umn_mm_new();
	CHECK(g_mm);
	for (unsigned long i = 0; i < NPAGES; i++)
		pt[i] = page_new(i);
	for (int i = 0; i < NSLOTS; i++)
		pthread_mutex_init(&slots[i].mtx, NULL);
	for (int r = 0; r < NREADERS; r++) {
		readers[r].id = r;
		pthread_mutex_init(&readers[r].own.lock, NULL);
		for (int k = 0; k < SLOTS_PER_READER; k++) {
			struct tslot *s = &slots[r * SLOTS_PER_READER + k];

			s->own = &readers[r].own;
			readers[r].slot[k] = s;
			slot_insert(s);
		}
	}
	static struct owner churn_owner;
	pthread_mutex_init(&churn_owner.lock, NULL);
	for (int i = NREADERS * SLOTS_PER_READER; i < NSLOTS; i++) {
		slots[i].own = &churn_owner;
		slot_insert(&slots[i]);
	}

	t0 = t_now();
	for (int r = 0; r < NREADERS; r++)
		CHECK(!pthread_create(&readers[r].thread, NULL, reader_main,
				      &readers[r]));
	for (int i = 0; i < NINV; i++)
		CHECK(!pthread_create(&inv[i], NULL, invalidator_main,
				      (void *)(intptr_t)i));
	CHECK(!pthread_create(&churn, NULL, churn_main, NULL));

	/* Stall detector: every reader must make progress (a lost wake-up
	 * leaves one in read_begin or remove for ever). */
	unsigned long beat[NREADERS] = { 0 };
	double last_beat[NREADERS];
	for (int r = 0; r < NREADERS; r++)
		last_beat[r] = t0;
	for (double now = t0;; now = t_now()) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };

		if (now - t0 >= secs && !LOAD(&g_stop))
			STORE(&g_stop, 1);
		for (int r = 0; r < NREADERS; r++) {
			unsigned long b = LOAD(&qs[r]);

			if (b != beat[r] || LOAD(&readers[r].done)) {
				beat[r] = b;
				last_beat[r] = now;
			} else if (now - last_beat[r] > STALL_SECONDS) {
				FAIL("stall: reader %d made no progress for "
				     "%d s", r, STALL_SECONDS);
			}
		}
		int done = 0;
		for (int r = 0; r < NREADERS; r++)
			done += LOAD(&readers[r].done);
		if (done == NREADERS)
			break;
		nanosleep(&ts, NULL);
	}
	for (int r = 0; r < NREADERS; r++)
		CHECK(!pthread_join(readers[r].thread, NULL));
	STORE(&g_stop, 2); /* readers gone: zombies may all go */
	for (int i = 0; i < NINV; i++)
		CHECK(!pthread_join(inv[i], NULL));
	CHECK(!pthread_join(churn, NULL));
	t1 = t_now();

	/* Teardown: every subscription removed, every shared one freed. */
	for (int i = 0; i < NSLOTS; i++)
		slot_remove(&slots[i]);
	umn_notifier_synchronize();
	CHECK_EQ(LOAD(&get_allocs), LOAD(&get_frees));
	CHECK_EQ(umn_mm_put(g_mm), 0);
	for (unsigned long i = 0; i < NPAGES; i++)
		page_free(pt[i]);
#if !T_ASAN
	for (unsigned long i = 0; i < QUARANTINE; i++)
		free(quarantine[i]);
#endif

	printf("# torture: %.2f s: invalidations %lu blockable, %lu nonblock "
	       "(%lu -EAGAIN), %lu deferrable; %lu empty, %lu whole\n",
	       t1 - t0, st.inv[0], st.inv[1], st.eagain, st.inv[2], st.empty,
	       st.whole);
	printf("# torture: callbacks %lu (%lu refused, %lu expected calls "
	       "checked), classic pairs %lu\n", st.callbacks, st.refusals,
	       st.expected_checked, st.classic_pairs);
	printf("# torture: faults %lu, retries %lu, publishes %lu, lookups %lu "
	       "(%lu hits), deferred drains %lu, tolerated %lu\n", st.faults,
	       st.retries, st.publishes, st.lookups, st.hits, st.drained,
	       st.tolerated);
	printf("# torture: churn: %lu interval, %lu classic, %lu get/put; "
	       "shared subscriptions %lu allocated, %lu freed\n",
	       st.churn_isub, st.churn_classic, st.churn_get, get_allocs,
	       get_frees);
	/* The run must have exercised what it claims to. */
	CHECK(st.publishes > 0 && st.hits > 0 && st.callbacks > 0);
	CHECK(st.inv[INV_BLOCK] > 0 && st.inv[INV_NONBLOCK] > 0 &&
	      st.inv[INV_DEFER] > 0);
	CHECK(st.churn_isub > 0 && st.churn_classic > 0 && st.churn_get > 0);
	printf("torture: 1 passed, 0 failed\n");
	return 0;
}
