/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the interval index.  The input is a program over a
 * pool of 1024 nodes (enough for a B+tree of 32-wide nodes to reach three
 * levels and merge at every level); each step is one opcode byte (low 3
 * bits: operation, high 5 bits and, where a node is named, one more byte:
 * node index) followed by its operands:
 *
 *   0-2  toggle node: insert it (operands: two values) if it is out of the
 *        tree, else remove it
 *   3    bulk insert: a count byte, a base value and a stride byte; inserts
 *        up to count nodes that are out of the tree at base, base + stride,
 *        ... (intervals of the stride's width, so equal starts when it is
 *        0).  Odd high bits: reserve them all first, then insert them with
 *        umn_itree_insert_reserved, which must not allocate.
 *   4-5  query [a, b] (two values) and compare with the oracle
 *   6    query the node's own start and last as points
 *   7    even high bits: remove the first node; odd: thin, removing every
 *        second node in index order from the first intersecting [a, b]
 *
 * A value is one byte: below 0xe0 it is itself (small values overlap a lot
 * and repeat), otherwise it picks an edge value near 0, LONG_MAX or
 * ULONG_MAX, or (0xff) takes the next 8 bytes raw.  Two values are ordered
 * to make an interval.  After every mutation umn_itree_check must pass and
 * a full-range query must match the oracle; any mismatch aborts.
 */
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <umn/interval_tree.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define POOL 1024

struct item {
	struct umn_itree_node it;
	bool live;
	unsigned long mark;
};

static struct item pool[POOL];
static unsigned long query_gen;
static unsigned long ops_done;	/* inserts, removes and queries, all runs */

/* How much the run exercised: printed when libFuzzer exits. */
__attribute__((destructor)) static void report_ops(void)
{
	fprintf(stderr, "fuzz_interval_tree: %lu operations (inserts, removes, "
		"verified queries)\n", ops_done);
}

struct input {
	const uint8_t *p;
	size_t left;
};

static uint8_t next_byte(struct input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static unsigned long next_value(struct input *in)
{
	static const unsigned long special[31] = {
		0, 1, 2, 255, 256, 4095, 4096, 65535, 65536,
		0xffffffffUL, 0x100000000UL,
		LONG_MAX - 1, LONG_MAX, (unsigned long)LONG_MAX + 1,
		(unsigned long)LONG_MAX + 2,
		ULONG_MAX - 65536, ULONG_MAX - 4096, ULONG_MAX - 256,
		ULONG_MAX - 16, ULONG_MAX - 3, ULONG_MAX - 2, ULONG_MAX - 1,
		ULONG_MAX, ULONG_MAX, ULONG_MAX,
		1000, 1001, 1002, 100000, 1UL << 40, (1UL << 40) + 1,
	};
	uint8_t b = next_byte(in);
	unsigned long v = 0;
	int i;

	if (b < 0xe0)
		return b;
	if (b < 0xff)
		return special[b - 0xe0];
	for (i = 0; i < 8; i++)
		v = (v << 8) | next_byte(in);
	return v;
}

static void next_interval(struct input *in, unsigned long *s,
			  unsigned long *l)
{
	unsigned long a = next_value(in), b = next_value(in);

	*s = a < b ? a : b;
	*l = a < b ? b : a;
}

static void fail(const char *what, unsigned long s, unsigned long l)
{
	fprintf(stderr, "fuzz_interval_tree: %s (query [%lu, %lu])\n", what,
		s, l);
	abort();
}

/* Query [s, l] and compare with a brute-force scan of the pool. */
static void verify_query(const struct umn_itree_root *root, unsigned long s,
			 unsigned long l)
{
	unsigned long want = 0, got = 0, prev_start = 0;
	struct umn_itree_node *node;
	int i;

	for (i = 0; i < POOL; i++)
		if (pool[i].live && pool[i].it.start <= l &&
		    s <= pool[i].it.last)
			want++;

	query_gen++;
	ops_done++;
	for (node = umn_itree_iter_first(root, s, l); node;
	     node = umn_itree_iter_next(node, s, l)) {
		struct item *item = (struct item *)node;

		if (item < pool || item >= pool + POOL || !item->live)
			fail("returned a node not in the tree", s, l);
		if (node->start > l || node->last < s)
			fail("returned a node that does not intersect", s, l);
		if (item->mark == query_gen)
			fail("returned a node twice", s, l);
		if (got && node->start < prev_start)
			fail("out of order", s, l);
		item->mark = query_gen;
		prev_start = node->start;
		if (++got > want)
			fail("too many nodes", s, l);
	}
	if (got != want)
		fail("missed nodes", s, l);
}

static void check(const struct umn_itree_root *root, unsigned long live)
{
	if (umn_itree_check(root) != 0)
		fail("umn_itree_check failed", 0, 0);
	if (root->count != live)
		fail("count differs from the oracle", 0, 0);
	if (umn_itree_empty(root) != (live == 0))
		fail("umn_itree_empty differs from the oracle", 0, 0);
	verify_query(root, 0, ULONG_MAX);
}

/* Remove a live item; the oracle follows. */
static void remove_item(struct umn_itree_root *root, struct item *item,
			unsigned long *live)
{
	umn_itree_remove(&item->it, root);
	ops_done++;
	if (umn_itree_node_linked(&item->it))
		fail("linked after remove", 0, 0);
	item->live = false;
	(*live)--;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct umn_itree_root root = UMN_ITREE_ROOT_INIT;
	struct input in = { data, size };
	unsigned long live = 0, s, l, n, base, stride, nalloc;
	struct umn_itree_node *node, *next;
	int i, k;

	memset(pool, 0, sizeof(pool));
	while (in.left) {
		uint8_t op = next_byte(&in);
		struct item *item;

		switch (op & 7) {
		case 0: case 1: case 2:
			item = &pool[((op >> 3) | (next_byte(&in) << 5)) %
				     POOL];
			if (item->live) {
				remove_item(&root, item, &live);
			} else {
				next_interval(&in, &s, &l);
				item->it.start = s;
				item->it.last = l;
				if (umn_itree_insert(&item->it, &root))
					fail("insert failed", s, l);
				ops_done++;
				if (!umn_itree_node_linked(&item->it))
					fail("not linked after insert", s, l);
				item->live = true;
				live++;
			}
			check(&root, live);
			break;
		case 3:
			n = next_byte(&in);
			base = next_value(&in);
			stride = next_byte(&in);
			k = 0;
			if ((op >> 3) & 1) {
				for (i = 0; i < POOL && k < (int)n; i++)
					if (!pool[i].live) {
						if (umn_itree_reserve(&root))
							fail("reserve failed",
							     0, 0);
						k++;
					}
			}
			nalloc = root.nalloc;
			for (i = 0; i < POOL && n; i++) {
				if (pool[i].live)
					continue;
				pool[i].it.start = base;
				pool[i].it.last = base > ULONG_MAX - stride ?
						  ULONG_MAX : base + stride;
				if (k)
					umn_itree_insert_reserved(&pool[i].it,
								  &root);
				else if (umn_itree_insert(&pool[i].it, &root))
					fail("insert failed", base, base);
				ops_done++;
				pool[i].live = true;
				live++;
				n--;
				base = pool[i].it.last;
			}
			if (k && root.nalloc != nalloc)
				fail("insert_reserved allocated", 0, 0);
			if (root.reserved)
				fail("promises left over", 0, 0);
			check(&root, live);
			break;
		case 4: case 5:
			next_interval(&in, &s, &l);
			verify_query(&root, s, l);
			break;
		case 6:
			item = &pool[((op >> 3) | (next_byte(&in) << 5)) %
				     POOL];
			if (item->live) {
				verify_query(&root, item->it.start,
					     item->it.start);
				verify_query(&root, item->it.last,
					     item->it.last);
			}
			break;
		case 7:
			if ((op >> 3) & 1) {
				next_interval(&in, &s, &l);
				k = 0;
				for (node = umn_itree_iter_first(&root, s, l);
				     node; node = next) {
					next = umn_itree_iter_next(node, s, l);
					if (k++ % 2)
						continue;
					remove_item(&root, (struct item *)node,
						    &live);
				}
				check(&root, live);
				break;
			}
			if (!umn_itree_empty(&root)) {
				item = (struct item *)umn_itree_iter_first(
					&root, 0, ULONG_MAX);
				if (item->it.start != root.min_start)
					fail("first is not the smallest start",
					     0, 0);
				for (i = 0; i < POOL; i++)
					if (pool[i].live &&
					    pool[i].it.start < item->it.start)
						fail("first is not first",
						     0, 0);
				remove_item(&root, item, &live);
				check(&root, live);
			}
			break;
		}
	}

	/* Drain: removal down to the empty tree must stay valid.  A full
	 * check is linear in the tree, so checking after each of up to 1024
	 * removals made one input take seconds under the sanitizers: check
	 * every eighth removal, every one of the last 64 (where the levels
	 * merge away), and whenever the height changes. */
	k = 0;
	for (i = 0; i < POOL; i++) {
		unsigned int height = root.height;

		if (!pool[i].live)
			continue;
		umn_itree_remove(&pool[i].it, &root);
		pool[i].live = false;
		live--;
		if (live < 64 || ++k % 8 == 0 || root.height != height)
			check(&root, live);
	}
	if (root.top || root.count || root.nfree != root.nalloc)
		fail("not empty after draining", 0, 0);
	umn_itree_destroy(&root);
	return 0;
}
