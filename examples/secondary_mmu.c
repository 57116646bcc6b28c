/* SPDX-License-Identifier: MIT */
/*
 * A minimal secondary MMU on a managed address space.
 *
 * The "primary MMU" here is a toy page table (an array of page versions)
 * that brackets each change with invalidate_range_start/end.  The secondary
 * MMU caches copies of pages through an interval subscription, following
 * the collision-retry protocol: read_begin, build without the lock, lock,
 * read_retry, publish.  Its invalidate callback drops cached pages.
 *
 *   ./secondary_mmu            prints each step
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <umn/umn.h>

#define PAGE 4096ul
#define NPAGES 8
#define BASE 0x100000ul

/* ---- the primary MMU: a page table of versions ---- */
static unsigned long primary[NPAGES];

static void primary_remap(struct umn_mm *mm, unsigned long first,
			  unsigned long n)
{
	struct umn_notifier_range range;

	umn_notifier_range_init(&range, UMN_NOTIFY_UNMAP, 0, mm,
				BASE + first * PAGE, BASE + (first + n) * PAGE);
	umn_mmap_read_lock(mm);
	printf("primary: start  UNMAP [%#lx, %#lx)\n", range.start, range.end);
	umn_notifier_invalidate_range_start(&range);
	for (unsigned long i = first; i < first + n; i++)
		primary[i]++;	/* the change: new contents */
	umn_notifier_invalidate_range_end(&range);
	printf("primary: end    UNMAP [%#lx, %#lx)\n", range.start, range.end);
	umn_mmap_read_unlock(mm);
}

/* ---- the secondary MMU: a cache of page versions ---- */
struct mirror {
	struct umn_interval_notifier sub;
	pthread_mutex_t lock;
	long cached[NPAGES];	/* -1: not cached */
};

static bool mirror_invalidate(struct umn_interval_notifier *sub,
			      const struct umn_notifier_range *range,
			      unsigned long cur_seq)
{
	struct mirror *m = (struct mirror *)sub;	/* sub is the first member */
	unsigned long first = (range->start - BASE) / PAGE;
	unsigned long last = (range->end - 1 - BASE) / PAGE;

	if (range->start < BASE)
		first = 0;
	if (last >= NPAGES)
		last = NPAGES - 1;
	if (umn_notifier_range_blockable(range))
		pthread_mutex_lock(&m->lock);
	else if (pthread_mutex_trylock(&m->lock))
		return false;
	umn_interval_set_seq(sub, cur_seq);
	for (unsigned long i = first; i <= last; i++)
		m->cached[i] = -1;
	pthread_mutex_unlock(&m->lock);
	printf("mirror:  invalidate pages %lu..%lu (seq %lu)\n", first, last,
	       cur_seq);
	return true;
}

static const struct umn_interval_notifier_ops mirror_ops = {
	.invalidate = mirror_invalidate,
};

static long mirror_read(struct mirror *m, unsigned long page)
{
	unsigned long seq;
	long value;
	int tries = 0;

again:
	tries++;
	seq = umn_interval_read_begin(&m->sub);
	value = (long)__atomic_load_n(&primary[page], __ATOMIC_ACQUIRE);
	pthread_mutex_lock(&m->lock);
	if (umn_interval_read_retry(&m->sub, seq)) {
		pthread_mutex_unlock(&m->lock);
		goto again;
	}
	m->cached[page] = value;	/* publish */
	pthread_mutex_unlock(&m->lock);
	printf("mirror:  fault page %lu -> version %ld (%d pass%s)\n", page,
	       value, tries, tries > 1 ? "es" : "");
	return value;
}

int main(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct mirror m = { .lock = PTHREAD_MUTEX_INITIALIZER };
	int ret;

	if (!mm) {
		perror("umn_mm_new");
		return 1;
	}
	for (int i = 0; i < NPAGES; i++)
		m.cached[i] = -1;
	ret = umn_interval_notifier_insert(&m.sub, mm, BASE, NPAGES * PAGE,
					   &mirror_ops);
	if (ret) {
		fprintf(stderr, "insert: %s\n", strerror(-ret));
		return 1;
	}
	printf("mirror:  subscribed to [%#lx, %#lx]\n",
	       umn_interval_start(&m.sub), umn_interval_last(&m.sub));

	mirror_read(&m, 1);
	mirror_read(&m, 2);
	primary_remap(mm, 2, 2);	/* pages 2..3 change */
	printf("mirror:  page 1 cached=%ld, page 2 cached=%ld\n", m.cached[1],
	       m.cached[2]);
	mirror_read(&m, 2);		/* faults the new version */

	umn_interval_notifier_remove(&m.sub);
	printf("mirror:  removed; tearing down the address space\n");
	umn_mm_put(mm);
	return m.cached[2] == (long)primary[2] ? 0 : 1;
}
