/* SPDX-License-Identifier: MIT */
/*
 * Nested invalidations: an unmap, remap, discard or protection change made
 * inside a notifier callback is reported like any other, to every other
 * subscriber before the call returns, and to the callback's own
 * subscription as a non-blockable deferrable range.  Never deadlocks (a
 * watchdog thread fails the test after 20 s).
 *
 *  - cache_free_in_callback: a minimal registration cache (one interval
 *    subscription per registered block, a mutex) whose invalidate callback,
 *    holding the cache lock, frees a companion 256 KiB block the cache also
 *    registered.  The free's munmap finds the lock held (trylock), so the
 *    range is deferred; the next lookup at that address must miss, also
 *    after a new allocation lands there.
 *  - munmap_reaches_second: a classic subscriber's callback unmaps, discards,
 *    re-protects and moves memory another subscriber mirrors; each reaches
 *    that subscriber before the call returns, and the first subscriber sees
 *    its own nested range (non-blockable, deferrable).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <umn/interval.h>
#include <umn/self.h>
#include "harness.h"
#include "self_common.h"

#define BLOCK (256 * 1024)

static void *watchdog(void *arg)
{
	(void)arg;
	sleep(20);
	fprintf(stderr, "watchdog: a nested invalidation hung\n");
	_exit(3);
	return NULL;
}

/* ---- a minimal registration cache ---------------------------------------- */

struct entry {
	struct umn_interval_notifier sub; /* first */
	void *addr;
	size_t len;
	bool valid;
	void *companion;                  /* freed when this entry is dropped */
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry entries[2];
/* volatile: written in callbacks that run inside free() (a leaf call) */
static volatile int deferred_refusals, drops;

static bool cache_invalidate(struct umn_interval_notifier *sub,
			     const struct umn_notifier_range *range,
			     unsigned long cur_seq)
{
	struct entry *e = (struct entry *)sub;
	void *companion;

	if (umn_notifier_range_blockable(range))
		pthread_mutex_lock(&cache_lock);
	else if (pthread_mutex_trylock(&cache_lock)) {
		deferred_refusals++;
		return false;	/* deferred: the next lookup drops it */
	}
	umn_interval_set_seq(sub, cur_seq);
	e->valid = false;
	drops++;
	companion = e->companion;
	e->companion = NULL;
	/* Still holding the cache lock: the free's munmap is nested. */
	free(companion);
	pthread_mutex_unlock(&cache_lock);
	return true;
}

static const struct umn_interval_notifier_ops cache_ops = {
	.invalidate = cache_invalidate,
};

static void cache_register(struct entry *e, void *addr, size_t len)
{
	unsigned long seq;

	e->addr = addr;
	e->len = len;
	CHECK_EQ(umn_interval_notifier_insert(&e->sub, umn_mm_self(),
					      (unsigned long)addr, len,
					      &cache_ops), 0);
	for (;;) {
		seq = umn_interval_read_begin(&e->sub);
		/* (a real cache registers the memory with a device here) */
		pthread_mutex_lock(&cache_lock);
		if (!umn_interval_read_retry(&e->sub, seq))
			break;
		pthread_mutex_unlock(&cache_lock);
	}
	e->valid = true;
	pthread_mutex_unlock(&cache_lock);
}

/* Under the cache lock: drop what refused invalidations left behind. */
static void cache_drain_locked(void)
{
	for (int i = 0; i < 2; i++) {
		unsigned long s, l;

		if (entries[i].addr &&
		    umn_interval_deferred_pending(&entries[i].sub) &&
		    umn_interval_take_deferred(&entries[i].sub, &s, &l) == 1)
			entries[i].valid = false;
	}
}

static bool cache_lookup(void *addr)
{
	bool hit = false;

	pthread_mutex_lock(&cache_lock);
	cache_drain_locked();
	for (int i = 0; i < 2; i++)
		if (entries[i].addr == addr && entries[i].valid)
			hit = true;
	pthread_mutex_unlock(&cache_lock);
	return hit;
}

/* The address as a number the compiler does not track across free(). */
static uintptr_t launder(void *p)
{
	uintptr_t v;

	__asm__("" : "=r"(v) : "0"(p));
	return v;
}

static void cache_free_in_callback(void)
{
	void *a = malloc(BLOCK), *b = malloc(BLOCK), *again;
	uintptr_t a_addr = launder(a), b_addr = launder(b);
	bool reused;

	CHECK(a && b);
	memset(a, 1, BLOCK);
	memset(b, 2, BLOCK);
	cache_register(&entries[0], a, BLOCK);
	cache_register(&entries[1], b, BLOCK);
	entries[0].companion = b;	/* dropping a frees b */
	CHECK(cache_lookup((void *)a_addr));
	CHECK(cache_lookup((void *)b_addr));

	free(a);	/* munmap(a) -> a's callback -> free(b) -> munmap(b) */
	CHECK_EQ(drops, 1);
	/* b's callback found the cache lock held by a's: deferred, and
	 * recorded before free(b) returned. */
	CHECK_EQ(deferred_refusals, 1);
	CHECK(umn_interval_deferred_pending(&entries[1].sub));
	CHECK(!cache_lookup((void *)a_addr));
	CHECK(!cache_lookup((void *)b_addr));

	/* The next allocation at b's address still misses. */
	again = malloc(BLOCK);
	CHECK(again);
	reused = (uintptr_t)again == b_addr;
	printf("# the next 256 KiB allocation %s b's address%s\n",
	       reused ? "reuses" : "does not reuse",
	       reused ? "" : ": mapping fresh memory there instead");
	CHECK(!cache_lookup(again));
	free(again);
	if (!reused) {
		uintptr_t page = b_addr & ~(uintptr_t)4095;
		void *m = mmap((void *)page, BLOCK + 4096,
			       PROT_READ | PROT_WRITE, MAP_PRIVATE |
			       MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

		CHECK(m == (void *)page);
		memset(m, 3, BLOCK);
		CHECK(!cache_lookup((void *)b_addr));
		CHECK_EQ(munmap(m, BLOCK + 4096), 0);
	}

	for (int i = 0; i < 2; i++)
		CHECK_EQ(umn_interval_notifier_remove(&entries[i].sub), 0);
	memset(entries, 0, sizeof(entries));
}

/* ---- a callback's changes reach a second subscriber ------------------------ */

static char *trigger, *victim;
static volatile int op;          /* what the callback does to victim */
static volatile int second_calls, second_calls_seen_inside;
static volatile int own_nested, own_nested_flags_ok;
static volatile int depth;
static volatile unsigned long second_start, second_end;
static volatile int second_event;

static bool second_invalidate(struct umn_interval_notifier *sub,
			      const struct umn_notifier_range *range,
			      unsigned long cur_seq)
{
	umn_interval_set_seq(sub, cur_seq);
	second_start = range->start;
	second_end = range->end;
	second_event = range->event;
	second_calls++;
	return true;
}

static const struct umn_interval_notifier_ops second_ops = {
	.invalidate = second_invalidate,
};

static int first_start(struct umn_notifier *sub,
		       const struct umn_notifier_range *r)
{
	unsigned long v = (unsigned long)victim;
	int before;

	(void)sub;
	if (depth > 0) {
		/* Our own nested range: non-blockable and deferrable. */
		if (r->start <= v && r->end > v) {
			own_nested++;
			own_nested_flags_ok =
				!umn_notifier_range_blockable(r) &&
				(r->flags & UMN_NOTIFIER_RANGE_DEFERRABLE) &&
				(r->origin == UMN_ORIGIN_PATCH ||
				 r->origin == UMN_ORIGIN_INTERPOSE);
		}
		return 0;
	}
	if (!(r->start <= (unsigned long)trigger &&
	      r->end > (unsigned long)trigger) || !op)
		return 0;
	depth++;
	before = second_calls;
	switch (op) {
	case 1:
		CHECK_EQ(munmap(victim, 8192), 0);
		break;
	case 2:
		CHECK_EQ(madvise(victim, 8192, MADV_DONTNEED), 0);
		break;
	case 3:
		CHECK_EQ(mprotect(victim, 8192, PROT_READ), 0);
		break;
	case 4: {
		void *to = mremap(victim, 8192, 8192, MREMAP_MAYMOVE);

		CHECK(to != MAP_FAILED);
		victim = to;
		break;
	}
	}
	second_calls_seen_inside = second_calls - before;
	depth--;
	return 0;
}

static const struct umn_notifier_ops first_ops = {
	.invalidate_range_start = first_start,
};

static void munmap_reaches_second(void)
{
	static const char *const names[] = { "", "munmap", "madvise(DONTNEED)",
					     "mprotect", "mremap" };
	struct umn_notifier first = { .ops = &first_ops };
	struct umn_interval_notifier second = { 0 };

	CHECK_EQ(umn_notifier_register(&first, umn_mm_self()), 0);
	for (int o = 1; o <= 4; o++) {
		char *v = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		CHECK(v != MAP_FAILED);
		v[0] = 1;
		victim = v;
		trigger = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(trigger != MAP_FAILED);
		CHECK_EQ(umn_interval_notifier_insert(&second, umn_mm_self(),
						      (unsigned long)v, 8192,
						      &second_ops), 0);
		second_calls = 0;
		second_calls_seen_inside = 0;
		own_nested = 0;
		own_nested_flags_ok = 0;
		op = o;
		CHECK_EQ(munmap(trigger, 4096), 0);
		op = 0;
		printf("# %s in a callback: second subscriber saw %d before "
		       "the call returned; own nested range %d (flags %s)\n",
		       names[o], second_calls_seen_inside, own_nested,
		       own_nested_flags_ok ? "ok" : "WRONG");
		CHECK_EQ(second_calls_seen_inside, 1);
		CHECK_EQ(second_start, (unsigned long)v);
		CHECK_EQ(second_end, (unsigned long)v + 8192);
		CHECK_EQ(own_nested, 1);
		CHECK(own_nested_flags_ok);
		CHECK_EQ(umn_interval_notifier_remove(&second), 0);
		memset(&second, 0, sizeof(second));
		if (o != 1)
			CHECK_EQ(munmap(victim, 8192), 0);
	}
	CHECK_EQ(umn_notifier_unregister(&first, umn_mm_self()), 0);
}

int main(void)
{
	pthread_t wd;

	CHECK(umn_mm_self() != NULL);
	if (!umn_self_sources()) {
		printf("# skip: no event source\n");
		return T_SKIP;
	}
	CHECK_EQ(pthread_create(&wd, NULL, watchdog, NULL), 0);
	pthread_detach(wd);
	if ((umn_self_sources() & UMN_SELF_PATCH) && self_malloc_is_glibc())
		RUN(cache_free_in_callback);
	else
		printf("# skip cache_free_in_callback: needs patch + glibc "
		       "malloc (free's munmap)\n");
	RUN(munmap_reaches_second);
	printf("self nested: passed\n");
	return 0;
}
