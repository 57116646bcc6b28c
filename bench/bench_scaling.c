/* SPDX-License-Identifier: MIT */
/*
 * 3. invalidate_range_start + _end of a range that intersects k = 1 of n
 *    interval subscriptions, n = 1e3, 1e4, 1e5, 1e6 (non-overlapping 4 KiB
 *    subscriptions).  The callback does the kernel pattern: lock, set_seq,
 *    unlock.  Target: cost(n = 1e6) <= 3x cost(n = 1e3).  The four address
 *    spaces live side by side and are measured in interleaved rounds, so the
 *    baseline (n = 1e3) is measured in the same run as the rest of the curve.
 *
 * Two access patterns:
 *   random  each invalidation hits a different, pseudo-random subscription
 *           (subscriber objects malloc'd one by one in random order, as a
 *           real cache would): at n = 1e6 the tree is ~100 MiB and every
 *           level of the walk is a cache miss.  The headline figure.
 *   hot     the same subscription every time: the algorithmic cost alone.
 * The mmap lock the primary would hold around start/end is not included
 * (it costs the same for every n).  Also reports the memory of the n = 1e6
 * tree (heap bytes in use before and after allocating and inserting: the
 * subscriber objects and the interval index's chunks), and (row 3f) the
 * floor under row 3c: the callback alone (lock, set_seq, unlock) on a
 * pseudo-random one of the n = 1e6 subscriber objects, no index at all,
 * measured in the same rounds.  Row 3g is the floor with the misses in a
 * chain: the pick of a pointer from an array of the 1e6 objects (8 MB on
 * 2 MiB pages: a miss, as an index's leaf would be) and the callback on the object, the
 * next pick depending on a word loaded from the object (so the two misses
 * of one visit and those of the next cannot overlap, as they cannot in
 * start+end, where the walk needs the object before the callback and the
 * next start waits for the last end).  Row 3f lets misses overlap (its next
 * pick depends on a word the callback stored, forwarded from the store
 * buffer): it is not a floor for row 3c.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <umn/umn.h>
#include "bench.h"

#define PAGE 4096ul
#define BASE 0x100000000ul
#define NSIZES 4

struct bsub {
	struct umn_interval_notifier sub;
	pthread_mutex_t *lock;
};

struct space {
	struct umn_mm *mm;
	unsigned long n;
	struct bsub **subs;
	pthread_mutex_t lock;
	unsigned long rng;
	bool hot;
	bool chained;	/* run_floor: row 3g's chain */
	size_t heap_bytes;
	unsigned long calls;
};

static bool inv(struct umn_interval_notifier *s,
		const struct umn_notifier_range *r, unsigned long cur_seq)
{
	struct bsub *b = (struct bsub *)s;

	(void)r;
	pthread_mutex_lock(b->lock);
	umn_interval_set_seq(s, cur_seq);
	pthread_mutex_unlock(b->lock);
	return true;
}

static const struct umn_interval_notifier_ops ops = { .invalidate = inv };

static unsigned long next_rand(unsigned long *s)
{
	/* xorshift64 */
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void run(void *arg, uint64_t iters)
{
	struct space *sp = arg;
	struct umn_notifier_range range;

	for (uint64_t i = 0; i < iters; i++) {
		unsigned long idx = sp->hot ? sp->n / 2 :
					      next_rand(&sp->rng) % sp->n;
		unsigned long a = BASE + idx * PAGE;

		umn_notifier_range_init(&range, UMN_NOTIFY_UNMAP, 0, sp->mm, a,
					a + PAGE);
		umn_notifier_invalidate_range_start(&range);
		bench_barrier();
		umn_notifier_invalidate_range_end(&range);
	}
	sp->calls += iters;
}

/* Always 0, but the compiler cannot know: makes a data dependency. */
static volatile unsigned long zero;

/*
 * The floors, on random subscribers of n = 1e6, no index: the callback
 * alone.  Row 3f: the next pick depends on the seq the callback just stored
 * (forwarded from the store buffer, so one visit's miss may overlap the
 * next).  Row 3g (chained): it depends on a word loaded from the object,
 * so the pointer array's miss and the object's miss of one visit and those
 * of the next form one chain, as in start+end.
 */
static void run_floor(void *arg, uint64_t iters)
{
	struct space *sp = arg;
	unsigned long z = zero;

	for (uint64_t i = 0; i < iters; i++) {
		struct bsub *b = sp->subs[next_rand(&sp->rng) % sp->n];
		unsigned long w;

		inv(&b->sub, NULL, 3);
		if (sp->chained)
			w = (unsigned long)__atomic_load_n(&b->lock,
							   __ATOMIC_RELAXED);
		else
			w = __atomic_load_n(&b->sub.invalidate_seq,
					    __ATOMIC_RELAXED);
		sp->rng += w & z;
		bench_barrier();
	}
	sp->calls += iters;
}

static int build(struct space *sp, unsigned long n)
{
	unsigned long *order;
	size_t before;

	sp->n = n;
	sp->rng = 0x9e3779b97f4a7c15ul ^ n;
	sp->chained = false;
	pthread_mutex_init(&sp->lock, NULL);
	sp->mm = umn_mm_new();
	sp->subs = calloc(n, sizeof(*sp->subs));
	order = malloc(n * sizeof(*order));
	if (!sp->mm || !sp->subs || !order)
		return -1;
	for (unsigned long i = 0; i < n; i++)
		order[i] = i;
	for (unsigned long i = n - 1; i > 0; i--) {	/* Fisher-Yates */
		unsigned long j = next_rand(&sp->rng) % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	before = bench_heap_in_use();
	for (unsigned long i = 0; i < n; i++) {
		unsigned long idx = order[i];
		struct bsub *b = calloc(1, sizeof(*b));
		int ret;

		if (!b)
			return -1;
		b->lock = &sp->lock;
		ret = umn_interval_notifier_insert(&b->sub, sp->mm,
						   BASE + idx * PAGE, PAGE, &ops);
		if (ret)
			return ret;
		sp->subs[idx] = b;
	}
	sp->heap_bytes = bench_heap_in_use() - before;
	free(order);
	return 0;
}

static void teardown(struct space *sp)
{
	for (unsigned long i = 0; i < sp->n; i++) {
		umn_interval_notifier_remove(&sp->subs[i]->sub);
		free(sp->subs[i]);
	}
	free(sp->subs);
	umn_mm_put(sp->mm);
}

static void report(const char *pattern, struct bench_case *c, bool headline)
{
	static const char *ids[2][NSIZES] = { { "3", "3a", "3b", "3c" },
					      { "3h", "3ha", "3hb", "3hc" } };
	static const char *names[2][NSIZES] = {
		{ "start+end k=1 of n=1e3 (random target)",
		  "start+end k=1 of n=1e4 (random target)",
		  "start+end k=1 of n=1e5 (random target)",
		  "start+end k=1 of n=1e6 (random target)" },
		{ "start+end k=1 of n=1e3 (hot target)",
		  "start+end k=1 of n=1e4 (hot target)",
		  "start+end k=1 of n=1e5 (hot target)",
		  "start+end k=1 of n=1e6 (hot target)" } };
	int h = headline ? 0 : 1;

	printf("  curve (%s target): n=1e3 %.1f ns, 1e4 %.1f ns, 1e5 %.1f ns, "
	       "1e6 %.1f ns -> 1e6/1e3 = %.2fx (same-round median %.2fx)\n",
	       pattern, c[0].median, c[1].median, c[2].median, c[3].median,
	       c[3].median / c[0].median, bench_round_ratio(&c[3], &c[0]));
	for (int i = 0; i < NSIZES; i++) {
		bool last = i == NSIZES - 1;

		bench_emit(&(struct bench_row){
			.id = ids[h][i], .name = names[h][i],
			.subject = c[i].label, .subject_val = c[i].median,
			.baseline = c[0].label, .baseline_val = c[0].median,
			.unit = "ns", .ratio = c[i].median / c[0].median,
			.target = last ? "<= 3x" : "",
			.target_max = last ? 3.0 : BENCH_NO_TARGET,
			.note = i ? "" : "the curve's baseline" });
	}
}

int main(int argc, char **argv)
{
	static const unsigned long sizes[NSIZES] = { 1000, 10000, 100000,
						     1000000 };
	static const char *labels[NSIZES] = { "n=1e3", "n=1e4", "n=1e5",
					      "n=1e6" };
	struct space sp[NSIZES], floor_sp, chase_sp;
	struct bench_case c[NSIZES + 2];
	char note[160];
	double per_sub;

	bench_init(argc, argv);
	bench_pin(0);
	printf("== 3. start + end, k = 1 of n subscriptions\n");
	for (int i = 0; i < NSIZES; i++) {
		uint64_t t0 = bench_now_ns();

		if (build(&sp[i], sizes[i])) {
			fprintf(stderr, "building n=%lu failed\n", sizes[i]);
			return 1;
		}
		printf("  built n=%-8lu in %6.1f ms, heap +%zu bytes\n",
		       sizes[i], (double)(bench_now_ns() - t0) / 1e6,
		       sp[i].heap_bytes);
	}
	floor_sp = sp[3];	/* same objects, a random stream of its own */
	floor_sp.rng ^= 0x5bd1e995ul;
	floor_sp.chained = false;
	chase_sp = sp[3];
	chase_sp.rng ^= 0x1b873593ul;
	chase_sp.chained = true;
	/* its array on 2 MiB pages, as the index's chunks are: the floor
	 * should not pay a page walk an index would not */
	{
		size_t bytes = (sp[3].n * sizeof(*sp[3].subs) + (2ul << 20) -
				1) & ~((2ul << 20) - 1);

		chase_sp.subs = aligned_alloc(2ul << 20, bytes);
		if (!chase_sp.subs)
			return 1;
		(void)madvise(chase_sp.subs, bytes, MADV_HUGEPAGE);
		memcpy(chase_sp.subs, sp[3].subs,
		       sp[3].n * sizeof(*sp[3].subs));
	}
	for (int pass = 0; pass < 2; pass++) {
		int ncases = pass ? NSIZES : NSIZES + 2;

		for (int i = 0; i < NSIZES; i++) {
			sp[i].hot = pass == 1;
			c[i] = (struct bench_case){ .label = labels[i],
						    .fn = run, .arg = &sp[i] };
		}
		c[NSIZES] = (struct bench_case){
			.label = "callback alone, random of 1e6",
			.fn = run_floor, .arg = &floor_sp };
		c[NSIZES + 1] = (struct bench_case){
			.label = "array + callback, chained, 1e6",
			.fn = run_floor, .arg = &chase_sp };
		bench_interleave(c, ncases, bench_rounds(), bench_quick() ? 10e6 : 30e6);
		bench_print_cases(stdout, c, ncases);
		report(pass ? "hot" : "random", c, pass == 0);
		if (pass)
			continue;
		printf("  floor: the callback alone on a random one of 1e6 "
		       "objects %.1f ns = %.2fx n=1e3's whole start+end\n",
		       c[NSIZES].median, c[NSIZES].median / c[0].median);
		bench_emit(&(struct bench_row){
			.id = "3f", .name = "floor of 3c: callback alone, 1e6",
			.subject = c[NSIZES].label,
			.subject_val = c[NSIZES].median,
			.baseline = c[0].label, .baseline_val = c[0].median,
			.unit = "ns", .ratio = c[NSIZES].median / c[0].median,
			.target_max = BENCH_NO_TARGET,
			.note = "lock, set_seq, unlock on a random subscriber: "
				"no index, no start/end" });
		printf("  floor, chained: a pointer from an 8 MB array (2 MiB pages), then the "
		       "callback on its object, the next pick loaded from it: "
		       "%.1f ns = %.2fx n=1e3; n=1e6 is %.2fx this\n",
		       c[NSIZES + 1].median, c[NSIZES + 1].median / c[0].median,
		       c[3].median / c[NSIZES + 1].median);
		bench_emit(&(struct bench_row){
			.id = "3g", .name = "floor of 3c: array + callback, chained",
			.subject = c[NSIZES + 1].label,
			.subject_val = c[NSIZES + 1].median,
			.baseline = c[0].label, .baseline_val = c[0].median,
			.unit = "ns",
			.ratio = c[NSIZES + 1].median / c[0].median,
			.target_max = BENCH_NO_TARGET,
			.note = "two dependent misses: any index's leaf, then "
				"the subscriber object; misses cannot overlap" });
	}

	per_sub = (double)sp[3].heap_bytes / (double)sp[3].n;
	snprintf(note, sizeof(note),
		 "%.1f B/subscription: sizeof(umn_interval_notifier) %zu in a "
		 "%zu-byte object, malloc'd, plus the index's chunks",
		 per_sub, sizeof(struct umn_interval_notifier),
		 sizeof(struct bsub));
	printf("  n=1e6 tree: %.1f MiB (%s)\n",
	       (double)sp[3].heap_bytes / (1 << 20), note);
	bench_emit(&(struct bench_row){
		.id = "3m", .name = "memory of the n=1e6 tree",
		.subject = "heap in use, 1e6 subscriber objects (MiB)",
		.subject_val = (double)sp[3].heap_bytes / (1 << 20),
		.baseline = "1e6 x sizeof(umn_interval_notifier) (MiB)",
		.baseline_val = 1e6 * sizeof(struct umn_interval_notifier) /
				(double)(1 << 20),
		.unit = "MiB",
		.ratio = (double)sp[3].heap_bytes /
			 (1e6 * sizeof(struct umn_interval_notifier)),
		.target_max = BENCH_NO_TARGET, .note = note });
	free(chase_sp.subs);
	for (int i = 0; i < NSIZES; i++)
		teardown(&sp[i]);
	return 0;
}
