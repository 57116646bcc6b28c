/* SPDX-License-Identifier: MIT */
/*
 * The interval index against a brute-force oracle (the array of live
 * intervals), plus directed cases for the corners: empty index, single
 * node, the O(1) rejection paths, iteration order, duplicates, re-insert
 * after remove, node reservations, memory following the live count, and
 * umn_itree_check itself catching corruption.
 *
 * UMN_SEED replays a run; UMN_STRESS_SECONDS bounds the big random run.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "harness.h"
#include <umn/interval_tree.h>
#include <umn/debug.h>

static void quiet_warn(const char *func, const char *msg, void *arg)
{
	(void)func;
	(void)msg;
	(void)arg;
}

struct item {
	struct umn_itree_node it;	/* first: a node pointer is an item */
	bool live;
	unsigned long mark;		/* query generation that returned it */
};

static unsigned long query_gen;

static bool overlaps(unsigned long s1, unsigned long l1, unsigned long s2,
		     unsigned long l2)
{
	return s1 <= l2 && s2 <= l1;
}

static unsigned long sat_add(unsigned long a, unsigned long b)
{
	return a > ULONG_MAX - b ? ULONG_MAX : a + b;
}

/*
 * verify_query - iterate [s, l] through the tree and compare with the
 * oracle: every returned node is a live pool item that intersects, none is
 * returned twice, starts never decrease, and the count equals the number of
 * live intersecting items.  Returns the number of hits.
 */
static unsigned long verify_query(const struct umn_itree_root *root,
				  struct item *pool, size_t n, unsigned long s,
				  unsigned long l)
{
	unsigned long want = 0, got = 0, prev_start = 0;
	struct umn_itree_node *node;
	size_t i;

	for (i = 0; i < n; i++)
		if (pool[i].live &&
		    overlaps(pool[i].it.start, pool[i].it.last, s, l))
			want++;

	query_gen++;
	for (node = umn_itree_iter_first(root, s, l); node;
	     node = umn_itree_iter_next(node, s, l)) {
		struct item *item = (struct item *)node;

		CHECK(item >= pool && item < pool + n);
		CHECK(item->live);
		CHECK(umn_itree_node_linked(node));
		CHECK(overlaps(node->start, node->last, s, l));
		CHECK(item->mark != query_gen);
		item->mark = query_gen;
		CHECK(got == 0 || node->start >= prev_start);
		prev_start = node->start;
		got++;
		CHECK(got <= want);
	}
	if (got != want)
		fprintf(stderr, "query [%lu, %lu]: got %lu, want %lu\n", s, l,
			got, want);
	CHECK_EQ(got, want);
	return got;
}

/* ---- random values in a few shapes ---- */

enum keys { KEYS_TINY, KEYS_CLUSTER, KEYS_SPARSE, KEYS_EDGE, KEYS_MIXED,
	    KEYS_NR };

static const char *const keys_name[KEYS_NR] = {
	"tiny", "cluster", "sparse", "edge", "mixed",
};

static unsigned long gen_point(enum keys k, uint64_t *rng)
{
	static const unsigned long edge[] = {
		0, 1, 2, 3, 4095, 4096, LONG_MAX, (unsigned long)LONG_MAX + 1,
		ULONG_MAX - 4096, ULONG_MAX - 2, ULONG_MAX - 1, ULONG_MAX,
	};
	static const unsigned long center[] = {
		0, 1ul << 20, 1ul << 40, ULONG_MAX - 3000,
	};
	uint64_t r = t_rand(rng);

	if (k == KEYS_MIXED)
		k = (enum keys)(r % KEYS_MIXED);
	r >>= 8;
	switch (k) {
	case KEYS_TINY:
		return r % 16;
	case KEYS_CLUSTER:
		return sat_add(center[r % 4], (r >> 4) % 2000);
	case KEYS_SPARSE:
		return (unsigned long)t_rand(rng);
	default:
		return edge[r % (sizeof(edge) / sizeof(edge[0]))];
	}
}

static void gen_interval(enum keys k, uint64_t *rng, unsigned long *s,
			 unsigned long *l)
{
	unsigned long a = gen_point(k, rng), b;
	uint64_t r = t_rand(rng);

	switch (r % 10) {
	case 0:
	case 1:
		b = a;				/* single point */
		break;
	case 2:
	case 3:
	case 4:
		b = sat_add(a, (r >> 8) % 16);	/* short */
		break;
	case 5:
		b = sat_add(a, (r >> 8) % (1ul << 24));	/* medium */
		break;
	case 6:
		b = sat_add(a, (unsigned long)t_rand(rng));	/* huge */
		break;
	case 7:
		b = ULONG_MAX;			/* to the end */
		break;
	case 8:
		if ((r >> 8) % 8 == 0) {
			a = 0;			/* everything */
			b = ULONG_MAX;
			break;
		}
		/* fall through */
	default:
		b = gen_point(k, rng);		/* two points, any order */
		if (b < a) {
			unsigned long t = a;

			a = b;
			b = t;
		}
		break;
	}
	*s = a;
	*l = b;
}

/*
 * run_random - a random workload on a pool of n items.  The insert/remove
 * bias swings between growing and shrinking so the tree passes through
 * every size up to n.  Checks the invariants every check_every ops and runs
 * a verified query every query_every ops.  Returns the operations done.
 */
static unsigned long run_random(uint64_t *rng, struct item *pool, size_t n,
				enum keys k, unsigned long ops,
				unsigned long check_every,
				unsigned long query_every, double deadline)
{
	struct umn_itree_root root = UMN_ITREE_ROOT_INIT;
	unsigned long op, live = 0;
	size_t i;

	memset(pool, 0, n * sizeof(*pool));
	for (op = 0; op < ops; op++) {
		/* Grow for a while, then shrink, and so on. */
		unsigned grow = (op / (4 * n + 16)) % 2 ? 30 : 70;
		uint64_t r = t_rand(rng);
		unsigned long s, l;
		struct item *item = &pool[(r >> 16) % n];

		if ((r % 100) < grow) {
			if (!item->live) {
				gen_interval(k, rng, &s, &l);
				item->it.start = s;
				item->it.last = l;
				CHECK_EQ(umn_itree_insert(&item->it, &root), 0);
				CHECK(umn_itree_node_linked(&item->it));
				item->live = true;
				live++;
			}
		} else if (item->live) {
			umn_itree_remove(&item->it, &root);
			CHECK(!umn_itree_node_linked(&item->it));
			item->live = false;
			live--;
		}
		CHECK_EQ(root.count, live);

		if (op % check_every == 0)
			CHECK_EQ(umn_itree_check(&root), 0);
		if (op % query_every == 0) {
			gen_interval(k, rng, &s, &l);
			verify_query(&root, pool, n, s, l);
			/* A query at an existing node's own bounds. */
			item = &pool[(r >> 32) % n];
			if (item->live) {
				verify_query(&root, pool, n, item->it.start,
					     item->it.start);
				verify_query(&root, pool, n, item->it.last,
					     item->it.last);
			}
		}
		if (deadline > 0 && (op & 1023) == 0 && t_now() > deadline)
			break;
	}
	CHECK_EQ(umn_itree_check(&root), 0);
	verify_query(&root, pool, n, 0, ULONG_MAX);
	/* Drain, checking now and then, so removal down to empty is covered. */
	for (i = 0; i < n; i++) {
		if (!pool[i].live)
			continue;
		umn_itree_remove(&pool[i].it, &root);
		pool[i].live = false;
		if (i % 7 == 0 || n <= 64)
			CHECK_EQ(umn_itree_check(&root), 0);
	}
	CHECK(umn_itree_empty(&root));
	CHECK_EQ(root.count, 0);
	CHECK(root.top == NULL);
	CHECK_EQ(umn_itree_check(&root), 0);
	CHECK(umn_itree_iter_first(&root, 0, ULONG_MAX) == NULL);
	umn_itree_destroy(&root);
	return op;
}

static uint64_t seed;

/* ---- directed cases ---- */

static void test_empty(void)
{
	struct umn_itree_root root = UMN_ITREE_ROOT_INIT;

	CHECK(umn_itree_empty(&root));
	CHECK_EQ(umn_itree_check(&root), 0);
	CHECK(umn_itree_iter_first(&root, 0, ULONG_MAX) == NULL);
	CHECK(umn_itree_iter_first(&root, 0, 0) == NULL);
	CHECK(umn_itree_iter_first(&root, ULONG_MAX, ULONG_MAX) == NULL);

	/* init empties whatever was there (without touching nodes). */
	root.count = 5;
	root.top = &root;
	umn_itree_init(&root);
	CHECK(umn_itree_empty(&root));
	CHECK(root.top == NULL);
	CHECK_EQ(root.count, 0);
	CHECK_EQ(umn_itree_check(&root), 0);
	umn_itree_destroy(&root);	/* nothing allocated: a no-op */
	CHECK_EQ(umn_itree_check(&root), 0);
}

static void test_single(void)
{
	struct umn_itree_root root;
	struct umn_itree_node n;

	umn_itree_init(&root);
	memset(&n, 0, sizeof(n));
	CHECK(!umn_itree_node_linked(&n));
	n.start = 10;
	n.last = 20;
	CHECK_EQ(umn_itree_insert(&n, &root), 0);
	CHECK(umn_itree_node_linked(&n));
	CHECK(!umn_itree_empty(&root));
	CHECK_EQ(root.min_start, 10);
	CHECK_EQ(root.max_last, 20);
	CHECK_EQ(root.count, 1);
	CHECK_EQ(umn_itree_check(&root), 0);

	CHECK(umn_itree_iter_first(&root, 0, 9) == NULL);
	CHECK(umn_itree_iter_first(&root, 21, ULONG_MAX) == NULL);
	CHECK(umn_itree_iter_first(&root, 0, 10) == &n);	/* inclusive */
	CHECK(umn_itree_iter_first(&root, 20, 20) == &n);	/* inclusive */
	CHECK(umn_itree_iter_first(&root, 15, 15) == &n);
	CHECK(umn_itree_iter_first(&root, 0, ULONG_MAX) == &n);
	CHECK(umn_itree_iter_first(&root, 11, 19) == &n);
	CHECK(umn_itree_iter_next(&n, 0, ULONG_MAX) == NULL);

	umn_itree_remove(&n, &root);
	CHECK(!umn_itree_node_linked(&n));
	CHECK(umn_itree_empty(&root));
	CHECK(root.top == NULL);
	CHECK_EQ(root.count, 0);
	CHECK_EQ(umn_itree_check(&root), 0);
	CHECK(umn_itree_iter_first(&root, 0, ULONG_MAX) == NULL);
	umn_itree_destroy(&root);
}

/*
 * The rejection paths must answer from the cached min_start and max_last
 * alone.  To see that they do not descend, swap in the top node of another
 * index holding one node that covers everything: any descent returns it.
 */
static void test_rejection(void)
{
	struct umn_itree_root root = UMN_ITREE_ROOT_INIT;
	struct umn_itree_root other = UMN_ITREE_ROOT_INIT;
	struct umn_itree_node nodes[64], trap;
	void *saved;
	unsigned int saved_height;
	unsigned long i;

	memset(nodes, 0, sizeof(nodes));
	for (i = 0; i < 64; i++) {
		nodes[i].start = 1000 + i * 10;
		nodes[i].last = 1000 + i * 10 + 5;
		CHECK_EQ(umn_itree_insert(&nodes[i], &root), 0);
	}
	CHECK_EQ(umn_itree_check(&root), 0);
	CHECK_EQ(root.max_last, 1000 + 63 * 10 + 5);
	CHECK_EQ(root.min_start, 1000);
	CHECK(root.height >= 2);

	/* Honest answers first. */
	CHECK(umn_itree_iter_first(&root, 0, 999) == NULL);
	CHECK(umn_itree_iter_first(&root, 1636, ULONG_MAX) == NULL);
	CHECK(umn_itree_iter_first(&root, 0, 1000) == &nodes[0]);
	CHECK(umn_itree_iter_first(&root, 1635, ULONG_MAX) == &nodes[63]);
	/* Gaps between intervals: a real descent, finding nothing. */
	CHECK(umn_itree_iter_first(&root, 1006, 1009) == NULL);
	CHECK(umn_itree_iter_first(&root, 1506, 1509) == NULL);

	memset(&trap, 0, sizeof(trap));
	trap.start = 0;
	trap.last = ULONG_MAX;
	CHECK_EQ(umn_itree_insert(&trap, &other), 0);
	saved = root.top;
	saved_height = root.height;
	root.top = other.top;
	root.height = other.height;

	CHECK(umn_itree_iter_first(&root, 0, 999) == NULL);
	CHECK(umn_itree_iter_first(&root, 0, 0) == NULL);
	CHECK(umn_itree_iter_first(&root, 1636, ULONG_MAX) == NULL);
	CHECK(umn_itree_iter_first(&root, ULONG_MAX, ULONG_MAX) == NULL);
	/* And the trap does spring on a query that must descend. */
	CHECK(umn_itree_iter_first(&root, 0, ULONG_MAX) == &trap);

	root.top = saved;
	root.height = saved_height;
	CHECK_EQ(umn_itree_check(&root), 0);
	umn_itree_remove(&trap, &other);
	umn_itree_destroy(&other);
	umn_itree_destroy(&root);
}

/* Full iteration is sorted by start; equal starts keep insertion order. */
static void test_order(void)
{
	enum { N = 2000 };
	static struct item pool[N];
	struct umn_itree_root root = UMN_ITREE_ROOT_INIT;
	uint64_t rng = seed ^ 0x51;
	struct umn_itree_node *node, *prev = NULL;
	unsigned long i, seen = 0;

	memset(pool, 0, sizeof(pool));
	for (i = 0; i < N; i++) {
		pool[i].it.start = t_rand(&rng) % 97;
		pool[i].it.last = pool[i].it.start + t_rand(&rng) % 5;
		pool[i].live = true;
		CHECK_EQ(umn_itree_insert(&pool[i].it, &root), 0);
	}
	CHECK_EQ(umn_itree_check(&root), 0);
	for (node = umn_itree_iter_first(&root, 0, ULONG_MAX); node;
	     node = umn_itree_iter_next(node, 0, ULONG_MAX)) {
		if (prev) {
			CHECK(prev->start <= node->start);
			if (prev->start == node->start)
				CHECK(prev < node);	/* insertion order */
		}
		prev = node;
		seen++;
	}
	CHECK_EQ(seen, N);

	/* Every start value as a point, and every window of width 3. */
	for (i = 0; i < 105; i++) {
		verify_query(&root, pool, N, i, i);
		verify_query(&root, pool, N, i, i + 2);
	}
	umn_itree_destroy(&root);
}

/* Many copies of one interval, plus a few neighbours. */
static void test_duplicates(void)
{
	enum { N = 1000 };
	static struct item pool[N];
	struct umn_itree_root root = UMN_ITREE_ROOT_INIT;
	unsigned long i;

	memset(pool, 0, sizeof(pool));
	for (i = 0; i < N; i++) {
		pool[i].it.start = i % 10 == 0 ? 5 : 50;
		pool[i].it.last = i % 10 == 0 ? 60 : 100;
		pool[i].live = true;
		CHECK_EQ(umn_itree_insert(&pool[i].it, &root), 0);
	}
	CHECK_EQ(umn_itree_check(&root), 0);
	CHECK_EQ(verify_query(&root, pool, N, 0, ULONG_MAX), N);
	CHECK_EQ(verify_query(&root, pool, N, 50, 50), N);
	CHECK_EQ(verify_query(&root, pool, N, 61, 61), N - N / 10);
	CHECK_EQ(verify_query(&root, pool, N, 5, 5), N / 10);
	CHECK_EQ(verify_query(&root, pool, N, 101, ULONG_MAX), 0);
	CHECK_EQ(verify_query(&root, pool, N, 0, 4), 0);
	/* Remove every other copy: the rest still come out once each. */
	for (i = 0; i < N; i += 2) {
		umn_itree_remove(&pool[i].it, &root);
		pool[i].live = false;
	}
	CHECK_EQ(umn_itree_check(&root), 0);
	CHECK_EQ(verify_query(&root, pool, N, 0, ULONG_MAX), N / 2);
	CHECK_EQ(verify_query(&root, pool, N, 50, 60), N / 2);
	umn_itree_destroy(&root);
}

/* Intervals touching 0 and ULONG_MAX, queried at the very ends. */
static void test_extremes(void)
{
	struct item pool[4];
	struct umn_itree_root root = UMN_ITREE_ROOT_INIT;
	static const unsigned long iv[4][2] = {
		{ 0, 0 }, { ULONG_MAX, ULONG_MAX }, { 0, ULONG_MAX },
		{ 1, ULONG_MAX - 1 },
	};
	unsigned long i;

	memset(pool, 0, sizeof(pool));
	for (i = 0; i < 4; i++) {
		pool[i].it.start = iv[i][0];
		pool[i].it.last = iv[i][1];
		pool[i].live = true;
		CHECK_EQ(umn_itree_insert(&pool[i].it, &root), 0);
		CHECK_EQ(umn_itree_check(&root), 0);
	}
	CHECK_EQ(verify_query(&root, pool, 4, 0, 0), 2);
	CHECK_EQ(verify_query(&root, pool, 4, ULONG_MAX, ULONG_MAX), 2);
	CHECK_EQ(verify_query(&root, pool, 4, 0, ULONG_MAX), 4);
	CHECK_EQ(verify_query(&root, pool, 4, 1, 1), 2);
	CHECK_EQ(verify_query(&root, pool, 4, ULONG_MAX - 1, ULONG_MAX - 1), 2);
	umn_itree_remove(&pool[2].it, &root);
	pool[2].live = false;
	CHECK_EQ(umn_itree_check(&root), 0);
	CHECK_EQ(verify_query(&root, pool, 4, 0, 0), 1);
	CHECK_EQ(verify_query(&root, pool, 4, ULONG_MAX, ULONG_MAX), 1);
	CHECK(umn_itree_iter_first(&root, 0, 0) == &pool[0].it);
	CHECK(umn_itree_iter_next(&pool[0].it, 0, 0) == NULL);
	umn_itree_destroy(&root);
}

/*
 * Remove and re-insert the same nodes with new bounds; also keep removing
 * the first so the cached min_start has to follow.
 */
static void test_reinsert(void)
{
	enum { N = 300 };
	static struct item pool[N];
	struct umn_itree_root root = UMN_ITREE_ROOT_INIT;
	uint64_t rng = seed ^ 0x77;
	unsigned long i, round;

	memset(pool, 0, sizeof(pool));
	for (i = 0; i < N; i++) {
		pool[i].it.start = i * 3;
		pool[i].it.last = i * 3 + 1;
		pool[i].live = true;
		CHECK_EQ(umn_itree_insert(&pool[i].it, &root), 0);
	}
	for (round = 0; round < 3; round++) {
		for (i = 0; i < N; i++) {
			struct item *item = &pool[(i * 7 + round) % N];

			umn_itree_remove(&item->it, &root);
			CHECK(!umn_itree_node_linked(&item->it));
			item->live = false;
			CHECK_EQ(umn_itree_check(&root), 0);
			gen_interval(KEYS_MIXED, &rng, &item->it.start,
				     &item->it.last);
			CHECK_EQ(umn_itree_insert(&item->it, &root), 0);
			CHECK(umn_itree_node_linked(&item->it));
			item->live = true;
			CHECK_EQ(umn_itree_check(&root), 0);
			CHECK_EQ(root.count, N);
		}
		verify_query(&root, pool, N, 0, ULONG_MAX);
	}
	/* Pop the first until empty. */
	for (i = 0; i < N; i++) {
		struct item *first = (struct item *)umn_itree_iter_first(
			&root, 0, ULONG_MAX);
		unsigned long min = ULONG_MAX;

		CHECK(first != NULL);
		for (unsigned long j = 0; j < N; j++)
			if (pool[j].live && pool[j].it.start < min)
				min = pool[j].it.start;
		CHECK_EQ(first->it.start, min);
		CHECK_EQ(root.min_start, min);
		umn_itree_remove(&first->it, &root);
		first->live = false;
		CHECK_EQ(umn_itree_check(&root), 0);
	}
	CHECK(umn_itree_empty(&root));
	umn_itree_destroy(&root);
}

/*
 * White-box: the layout of an index node in src/interval_tree.c, so the
 * test can corrupt inner keys on purpose.
 */
struct itx_mirror {
	unsigned long lo[32];
	unsigned long hi[32];
	void *ptr[32];
	struct itx_mirror *parent;
	unsigned int count;
	unsigned int leaf;
} __attribute__((aligned(64)));

/*
 * umn_itree_check must see corruption, or the random runs prove nothing.
 * (It prints each violation to stderr; those lines are expected here.)
 */
/* Swap a leaf's first two entries (keys and pointers): breaks the order. */
static void swap_first_two(struct itx_mirror *leaf)
{
	void *p = leaf->ptr[0];
	unsigned long k;

	leaf->ptr[0] = leaf->ptr[1];
	leaf->ptr[1] = p;
	k = leaf->lo[0];
	leaf->lo[0] = leaf->lo[1];
	leaf->lo[1] = k;
	k = leaf->hi[0];
	leaf->hi[0] = leaf->hi[1];
	leaf->hi[1] = k;
}

static void test_check_catches(void)
{
	enum { N = 2000 };
	static struct item pool[N];
	struct umn_itree_root root = UMN_ITREE_ROOT_INIT;
	struct itx_mirror *top, *leaf;
	unsigned long i, saved;
	void *p;

	memset(pool, 0, sizeof(pool));
	for (i = 0; i < N; i++) {
		pool[i].it.start = i * 10;
		pool[i].it.last = i * 10 + (i % 3) * 100;
		CHECK_EQ(umn_itree_insert(&pool[i].it, &root), 0);
	}
	CHECK_EQ(umn_itree_check(&root), 0);
	CHECK(root.height >= 3);
	top = root.top;
	leaf = pool[N / 2].it.leaf;
	CHECK_EQ(leaf->leaf, 1);
	CHECK_EQ(top->leaf, 0);
	fprintf(stderr, "# expected umn_itree_check complaints follow\n");

	/* A stale max last in an inner node, too big and too small. */
	top->hi[0]++;
	CHECK_EQ(umn_itree_check(&root), -1);
	top->hi[0] -= 2;
	CHECK_EQ(umn_itree_check(&root), -1);
	top->hi[0]++;
	/* A stale min start in an inner node. */
	top->lo[1]--;
	CHECK_EQ(umn_itree_check(&root), -1);
	top->lo[1]++;
	/* A leaf key that differs from its node. */
	leaf->hi[0]++;
	CHECK_EQ(umn_itree_check(&root), -1);
	leaf->hi[0]--;
	pool[N / 2].it.start++;
	CHECK_EQ(umn_itree_check(&root), -1);
	pool[N / 2].it.start--;

	/* Order: swap two entries of a leaf. */
	swap_first_two(leaf);
	CHECK_EQ(umn_itree_check(&root), -1);
	swap_first_two(leaf);
	CHECK_EQ(umn_itree_check(&root), 0);

	/* count, cached bounds, height, back pointers, parents, fill. */
	root.count++;
	CHECK_EQ(umn_itree_check(&root), -1);
	root.count--;
	root.min_start++;
	CHECK_EQ(umn_itree_check(&root), -1);
	root.min_start--;
	root.max_last--;
	CHECK_EQ(umn_itree_check(&root), -1);
	root.max_last++;
	root.height++;
	CHECK_EQ(umn_itree_check(&root), -1);
	root.height--;
	p = pool[N / 2].it.leaf;
	pool[N / 2].it.leaf = top;
	CHECK_EQ(umn_itree_check(&root), -1);
	pool[N / 2].it.leaf = p;
	p = leaf->parent;
	leaf->parent = leaf;
	CHECK_EQ(umn_itree_check(&root), -1);
	leaf->parent = p;
	saved = leaf->count;
	leaf->count = 17;
	CHECK_EQ(umn_itree_check(&root), -1);
	leaf->count = (unsigned int)saved;

	/* The free list: its count, and enough for the promises. */
	root.nfree++;
	CHECK_EQ(umn_itree_check(&root), -1);
	root.nfree--;
	root.reserved += 1000;
	CHECK_EQ(umn_itree_check(&root), -1);
	root.reserved -= 1000;

	CHECK_EQ(umn_itree_check(&root), 0);
	fprintf(stderr, "# end of expected complaints\n");
	for (i = 0; i < N; i++)
		umn_itree_remove(&pool[i].it, &root);
	umn_itree_destroy(&root);
}

/*
 * Promises: after reserve, insert_reserved takes no new memory, however
 * many promises are outstanding and whatever the splits need; unreserve
 * gives a promise back.
 */
static void test_reserve(void)
{
	enum { N = 3000, R = 40 };
	static struct item pool[N];
	struct umn_itree_root root = UMN_ITREE_ROOT_INIT;
	uint64_t rng = seed ^ 0x4e5;
	unsigned long i, r, nalloc;

	memset(pool, 0, sizeof(pool));
	for (i = 0; i < N; i += R) {
		for (r = 0; r < R; r++)
			CHECK_EQ(umn_itree_reserve(&root), 0);
		CHECK_EQ(root.reserved, R);
		CHECK_EQ(umn_itree_check(&root), 0);
		nalloc = root.nalloc;
		/* Sorted keys split the same path again and again. */
		for (r = 0; r < R; r++) {
			pool[i + r].it.start = (i + r) * 4;
			pool[i + r].it.last = pool[i + r].it.start +
					      t_rand(&rng) % 8;
			umn_itree_insert_reserved(&pool[i + r].it, &root);
			CHECK_EQ(umn_itree_check(&root), 0);
		}
		CHECK_EQ(root.nalloc, nalloc);
		CHECK_EQ(root.reserved, 0);
	}
	CHECK_EQ(umn_itree_reserve(&root), 0);
	CHECK_EQ(umn_itree_reserve(&root), 0);
	umn_itree_unreserve(&root);
	CHECK_EQ(root.reserved, 1);
	umn_itree_unreserve(&root);
	CHECK_EQ(root.reserved, 0);
	umn_itree_unreserve(&root);	/* none left: stays 0 */
	CHECK_EQ(root.reserved, 0);
	CHECK_EQ(umn_itree_check(&root), 0);
	/* an insert without a promise is refused and reported, not done */
	{
		struct item extra = { .it = { .start = 5, .last = 6 } };
		unsigned long warns = umn_warn_count();
		unsigned long count = root.count;

		umn_set_warn_handler(quiet_warn, NULL);
		CHECK_EQ(umn_itree_insert_reserved(&extra.it, &root), -EINVAL);
		umn_set_warn_handler(NULL, NULL);
		CHECK_EQ(umn_warn_count(), warns + 1);
		CHECK_EQ(root.count, count);
		CHECK(!umn_itree_node_linked(&extra.it));
		CHECK_EQ(umn_itree_check(&root), 0);
	}
	for (i = 0; i < N; i++)
		umn_itree_remove(&pool[i].it, &root);
	umn_itree_destroy(&root);
}

/*
 * Memory follows the live count: after most nodes are removed, in an order
 * that thins every leaf, the index holds few nodes (merges and frees work),
 * and the used + free accounting stays exact (umn_itree_check).
 */
static void test_shrink(void)
{
	enum { N = 20000 };
	static struct item pool[N];
	struct umn_itree_root root = UMN_ITREE_ROOT_INIT;
	unsigned long i, used_full, used_thin;

	memset(pool, 0, sizeof(pool));
	for (i = 0; i < N; i++) {
		pool[i].it.start = i * 2;
		pool[i].it.last = i * 2 + 1;
		CHECK_EQ(umn_itree_insert(&pool[i].it, &root), 0);
	}
	CHECK_EQ(umn_itree_check(&root), 0);
	used_full = root.nalloc - root.nfree;
	/* Keep 1 in 16: every leaf loses most of its entries. */
	for (i = 0; i < N; i++)
		if (i % 16)
			umn_itree_remove(&pool[i].it, &root);
	CHECK_EQ(umn_itree_check(&root), 0);
	used_thin = root.nalloc - root.nfree;
	printf("# shrink: %lu index nodes for %d, %lu for %d\n", used_full,
	       N, used_thin, N / 16);
	/* At least 4 entries per node on average once thin (merges). */
	CHECK(used_thin * 4 <= N / 16 + 64);
	/* Ascending inserts fill their nodes (an entry after every other one
	 * of a level's last node starts a new node): N / 32 leaves and a few
	 * inner nodes, where half-full splits would need twice as many. */
	CHECK(used_full * 28 <= N);
	for (i = 0; i < N; i += 16)
		umn_itree_remove(&pool[i].it, &root);
	CHECK(umn_itree_empty(&root));
	CHECK_EQ(root.nfree, root.nalloc);
	CHECK_EQ(umn_itree_check(&root), 0);
	umn_itree_destroy(&root);
}

/*
 * Removes that skip the walk up (neither a leaf's first entry nor its max
 * last) must still merge a leaf that becomes thin: remove every entry that
 * is neither first nor last in its leaf; every leaf then holds two, and
 * merging must bring the index down to at least 4 entries per node.
 */
static void test_shrink_middle(void)
{
	enum { N = 20000 };
	static struct item pool[N];
	static bool middle[N];
	struct umn_itree_root root = UMN_ITREE_ROOT_INIT;
	unsigned long i, left = 0, used;

	memset(pool, 0, sizeof(pool));
	for (i = 0; i < N; i++) {
		pool[i].it.start = i * 2;
		pool[i].it.last = i * 2 + 1;
		CHECK_EQ(umn_itree_insert(&pool[i].it, &root), 0);
	}
	for (i = 0; i < N; i++)
		middle[i] = i > 0 && i + 1 < N &&
			    pool[i - 1].it.leaf == pool[i].it.leaf &&
			    pool[i + 1].it.leaf == pool[i].it.leaf;
	for (i = 0; i < N; i++) {
		if (middle[i])
			umn_itree_remove(&pool[i].it, &root);
		else
			left++;
	}
	CHECK_EQ(umn_itree_check(&root), 0);
	used = root.nalloc - root.nfree;
	printf("# shrink (middles): %lu index nodes for %lu\n", used, left);
	CHECK(used * 4 <= left + 64);
	for (i = 0; i < N; i++)
		if (!middle[i])
			umn_itree_remove(&pool[i].it, &root);
	CHECK(umn_itree_empty(&root));
	CHECK_EQ(umn_itree_check(&root), 0);
	umn_itree_destroy(&root);
}

/* ---- random runs ---- */

/* Small pools, invariants and a verified query after every operation. */
static void test_random_small(void)
{
	static struct item pool[256];
	static const size_t sizes[] = { 1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 64,
					100, 256 };
	uint64_t rng = seed ^ 0x5a11;
	unsigned long total = 0;
	size_t si;
	int k;

	for (k = 0; k < KEYS_NR; k++) {
		unsigned long per = 0;

		for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
			size_t n = sizes[si];
			unsigned long ops = n <= 16 ? 20000 : 400000 / n + 20000;

			per += run_random(&rng, pool, n, (enum keys)k, ops,
					  1, 1, 0);
		}
		printf("# small/%s: %lu ops\n", keys_name[k], per);
		total += per;
	}
	printf("# small: %lu ops\n", total);
}

/*
 * A larger pool, time-bounded: the tree reaches thousands of nodes and deep
 * rebalancing; invariants and queries are checked periodically.
 */
static void test_random_big(void)
{
	enum { N = 8192 };
	static struct item pool[N];
	uint64_t rng = seed ^ 0xb16;
	double secs = t_stress_seconds(2.0);
	double end = t_now() + secs;
	unsigned long total = 0, round = 0;

	while (t_now() < end) {
		enum keys k = (enum keys)(round++ % KEYS_NR);

		total += run_random(&rng, pool, N, k, 60000, 4096, 32, end);
	}
	printf("# big: %lu ops in %lu rounds (%.1f s)\n", total, round, secs);
}

int main(void)
{
	seed = t_seed("test_interval_tree");

	RUN(test_empty);
	RUN(test_single);
	RUN(test_rejection);
	RUN(test_order);
	RUN(test_duplicates);
	RUN(test_extremes);
	RUN(test_reinsert);
	RUN(test_check_catches);
	RUN(test_reserve);
	RUN(test_shrink);
	RUN(test_shrink_middle);
	RUN(test_random_small);
	RUN(test_random_big);
	return 0;
}
