/* SPDX-License-Identifier: MIT */
/*
 * The collision guarantee (contract invariant 6), under real concurrency.
 *
 * A primary MMU of NPAGES page "versions"; INVALIDATORS threads change
 * random overlapping ranges, bracketing each change with start/end (a mix of
 * blockable, non-blocking and non-blocking deferrable ranges).  READERS
 * threads each run a secondary MMU (its own lock, interval subscription over
 * a random span, and a cache of page versions) with the collision-retry
 * loop: read_begin, read the version without the lock, lock, read_retry,
 * publish.
 *
 * Checked, at the moment it matters:
 *  - by each invalidator, after its start returned and before it changes
 *    anything: no mirror holds an entry for a page of the range (the entry
 *    would be of a range whose invalidation had started);
 *  - by each reader, on every lookup under its lock: a cached entry equals
 *    the primary's current version (no stale copy is ever handed out),
 *    unless a deferred refusal is pending for it (then the lookup is
 *    linearised before that invalidation and the entry is dropped next).
 *
 * Runs ROUNDS rounds with seeds derived from one printed seed; total time
 * from UMN_STRESS_SECONDS (default 3).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <umn/umn.h>
#include "harness.h"

#define PAGE 4096ul
#define NPAGES 64
#define BASE 0x10000000ul
#define READERS 3
#define INVALIDATORS 2
#define ROUNDS 3

static unsigned long version[NPAGES];
static struct umn_mm *mm;
static volatile int stop;

struct mirror {
	struct umn_interval_notifier sub;	/* first: cast from sub */
	pthread_mutex_t lock;
	long cached[NPAGES];			/* -1: absent */
	unsigned long first, last;		/* pages covered */
	uint64_t rng;
	unsigned long publishes, retries, hits, callbacks, refusals;
};

static struct mirror mirrors[READERS];

static unsigned long addr_page(unsigned long addr)
{
	return (addr - BASE) / PAGE;
}

/* Drop [first, last] pages of the mirror (lock held). */
static void mirror_drop(struct mirror *m, unsigned long start,
			unsigned long last)
{
	unsigned long a = start < BASE ? 0 : addr_page(start);
	unsigned long b = addr_page(last);

	if (b >= NPAGES)
		b = NPAGES - 1;
	for (unsigned long p = a; p <= b; p++)
		m->cached[p] = -1;
}

/* Process refusals of deferrable ranges (lock held). */
static void mirror_take_deferred(struct mirror *m)
{
	unsigned long s, l;

	if (umn_interval_deferred_pending(&m->sub) &&
	    umn_interval_take_deferred(&m->sub, &s, &l) == 1)
		mirror_drop(m, s, l);
}

static bool mirror_invalidate(struct umn_interval_notifier *sub,
			      const struct umn_notifier_range *range,
			      unsigned long cur_seq)
{
	struct mirror *m = (struct mirror *)sub;

	if (umn_notifier_range_blockable(range)) {
		pthread_mutex_lock(&m->lock);
	} else if (pthread_mutex_trylock(&m->lock)) {
		__atomic_add_fetch(&m->refusals, 1, __ATOMIC_RELAXED);
		return false;
	}
	umn_interval_set_seq(sub, cur_seq);
	mirror_drop(m, range->start, range->end - 1);
	m->callbacks++;
	pthread_mutex_unlock(&m->lock);
	return true;
}

static const struct umn_interval_notifier_ops mirror_ops = {
	.invalidate = mirror_invalidate,
};

static void *reader(void *arg)
{
	struct mirror *m = arg;

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		unsigned long p = m->first +
				  t_rand(&m->rng) % (m->last - m->first + 1);
		unsigned long seq, v;

		/* lookup */
		pthread_mutex_lock(&m->lock);
		mirror_take_deferred(m);
		if (m->cached[p] >= 0) {
			v = __atomic_load_n(&version[p], __ATOMIC_ACQUIRE);
			if (!umn_interval_deferred_pending(&m->sub) &&
			    (long)v != m->cached[p]) {
				fprintf(stderr, "stale entry handed out: page "
					"%lu cached %ld primary %lu\n", p,
					m->cached[p], v);
				abort();
			}
			m->hits++;
			pthread_mutex_unlock(&m->lock);
			if (m->hits % 4 == 0)
				sched_yield();
			continue;
		}
		pthread_mutex_unlock(&m->lock);

		/* fault it in: the collision-retry loop */
		for (;;) {
			seq = umn_interval_read_begin(&m->sub);
			v = __atomic_load_n(&version[p], __ATOMIC_ACQUIRE);
			if (t_rand(&m->rng) % 8 == 0)
				sched_yield();	/* widen the window */
			pthread_mutex_lock(&m->lock);
			if (umn_interval_read_retry(&m->sub, seq)) {
				pthread_mutex_unlock(&m->lock);
				m->retries++;
				continue;
			}
			m->cached[p] = (long)v;		/* publish */
			m->publishes++;
			pthread_mutex_unlock(&m->lock);
			break;
		}
	}
	return NULL;
}

struct inv_stats {
	uint64_t rng;
	unsigned long blockable, nonblock, deferrable, eagain;
};

static void check_no_entries(unsigned long a, unsigned long b)
{
	for (int i = 0; i < READERS; i++) {
		struct mirror *m = &mirrors[i];

		pthread_mutex_lock(&m->lock);
		mirror_take_deferred(m);
		for (unsigned long p = a; p <= b; p++) {
			if (p < m->first || p > m->last)
				continue;
			if (m->cached[p] >= 0) {
				fprintf(stderr, "mirror %d holds page %lu "
					"after the invalidation of [%lu, %lu] "
					"started\n", i, p, a, b);
				abort();
			}
		}
		pthread_mutex_unlock(&m->lock);
	}
}

static void *invalidator(void *arg)
{
	struct inv_stats *st = arg;

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		unsigned long a = t_rand(&st->rng) % NPAGES;
		unsigned long b = a + t_rand(&st->rng) % 8;
		unsigned int mode = t_rand(&st->rng) % 10;
		struct umn_notifier_range r;

		if (b >= NPAGES)
			b = NPAGES - 1;
		umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP,
					mode >= 8 ? UMN_NOTIFIER_RANGE_DEFERRABLE
						  : 0,
					mm, BASE + a * PAGE,
					BASE + (b + 1) * PAGE);
		umn_mmap_read_lock(mm);
		if (mode < 6) {
			umn_notifier_invalidate_range_start(&r);
			st->blockable++;
		} else {
			if (umn_notifier_invalidate_range_start_nonblock(&r)) {
				st->eagain++;	/* refused: no change */
				umn_mmap_read_unlock(mm);
				continue;
			}
			if (mode >= 8)
				st->deferrable++;
			else
				st->nonblock++;
		}
		check_no_entries(a, b);
		for (unsigned long p = a; p <= b; p++)
			__atomic_add_fetch(&version[p], 1, __ATOMIC_RELEASE);
		if (t_rand(&st->rng) % 4 == 0)
			sched_yield();
		umn_notifier_invalidate_range_end(&r);
		umn_mmap_read_unlock(mm);
		/* leave the readers time to fault and publish (2 cores) */
		sched_yield();
	}
	return NULL;
}

static void run_round(uint64_t seed, double seconds)
{
	pthread_t rt[READERS], it[INVALIDATORS];
	struct inv_stats st[INVALIDATORS];
	unsigned long pub = 0, ret = 0, hits = 0, cbs = 0, refs = 0;
	unsigned long blk = 0, nb = 0, def = 0, eagain = 0;
	uint64_t rng = seed;
	double end;

	mm = umn_mm_new();
	CHECK(mm != NULL);
	memset(version, 0, sizeof(version));
	for (int i = 0; i < READERS; i++) {
		struct mirror *m = &mirrors[i];
		unsigned long a = t_rand(&rng) % (NPAGES - 8);
		unsigned long b = a + 8 + t_rand(&rng) % (NPAGES - a - 8);

		memset(m, 0, sizeof(*m));
		pthread_mutex_init(&m->lock, NULL);
		for (int p = 0; p < NPAGES; p++)
			m->cached[p] = -1;
		m->first = a;
		m->last = b - 1;
		m->rng = t_rand(&rng);
		CHECK_EQ(umn_interval_notifier_insert(&m->sub, mm,
				BASE + a * PAGE, (b - a) * PAGE, &mirror_ops), 0);
	}
	stop = 0;
	for (int i = 0; i < INVALIDATORS; i++) {
		memset(&st[i], 0, sizeof(st[i]));
		st[i].rng = t_rand(&rng);
		pthread_create(&it[i], NULL, invalidator, &st[i]);
	}
	for (int i = 0; i < READERS; i++)
		pthread_create(&rt[i], NULL, reader, &mirrors[i]);
	end = t_now() + seconds;
	while (t_now() < end)
		usleep(10000);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < INVALIDATORS; i++) {
		pthread_join(it[i], NULL);
		blk += st[i].blockable;
		nb += st[i].nonblock;
		def += st[i].deferrable;
		eagain += st[i].eagain;
	}
	for (int i = 0; i < READERS; i++) {
		pthread_join(rt[i], NULL);
		pub += mirrors[i].publishes;
		ret += mirrors[i].retries;
		hits += mirrors[i].hits;
		cbs += mirrors[i].callbacks;
		refs += mirrors[i].refusals;
		CHECK_EQ(umn_interval_notifier_remove(&mirrors[i].sub), 0);
	}
	CHECK_EQ(umn_mm_put(mm), 0);
	printf("# round seed=%llu: invalidations blockable=%lu nonblock=%lu "
	       "deferrable=%lu eagain=%lu; callbacks=%lu refusals=%lu; "
	       "publishes=%lu retries=%lu hits=%lu\n",
	       (unsigned long long)seed, blk, nb, def, eagain, cbs, refs, pub,
	       ret, hits);
	/* the test must have exercised the collision path */
	CHECK(pub > 0 && cbs > 0 && blk > 0);
}

int main(void)
{
	uint64_t seed = t_seed("collision");
	double seconds = t_stress_seconds(3.0);

	for (int r = 0; r < ROUNDS; r++) {
		uint64_t s = seed + (uint64_t)r * 0x9e3779b97f4a7c15ull;

		run_round(s ? s : 1, seconds / ROUNDS);
	}
	printf("ok - collision guarantee held over %d rounds\n", ROUNDS);
	return 0;
}
