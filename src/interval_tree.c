/* SPDX-License-Identifier: MIT */
/*
 * The interval index (see <umn/interval_tree.h>): a B+tree with the keys
 * inline.
 *
 * Every index node has up to ITX_B entries (lo, hi, ptr), sorted by lo:
 *   leaf   lo = start, hi = last of a caller's node, ptr = that node
 *   inner  lo = smallest start, hi = largest last below child ptr
 * Each caller's node points back at its leaf (`leaf`), so iteration can go
 * on from a node without a search; the slot is found by scanning the leaf.
 * Index nodes point at their parent.  All leaves are at the same depth.
 *
 * Order: by start; among equal starts a new entry goes after the old ones
 * (the descent takes the last child whose lo is <= start, the leaf the slot
 * after every entry <= start), and splits and merges keep the order, so
 * iteration order is stable.
 *
 * The query descends into the first child whose hi reaches the query's
 * start: if that child's lo is past the query's last, nothing intersects
 * (every later child starts later still); otherwise the first match, if
 * any, is in that child - something in it ends at or after the query's
 * start, and if that something starts after the query's last, so does
 * everything after it.  So a query reads one node per level and never
 * backtracks.
 *
 * Fill: a split leaves two nodes of 16 and 17 (but an entry put after
 * every other one of the last node of a level starts a new node, so
 * ascending inserts fill nodes: see insert_entry); a node that falls below
 * ITX_MIN entries merges with a sibling when the two fit in ITX_MERGE
 * entries, and an emptied node is freed, so memory follows the live count.
 *
 * Memory: index nodes come from chunks the index allocates; the free ones
 * are on a list.  An insert takes at most height + 1 nodes (one split per
 * level and a new root) and raises the height by at most one, so r promised
 * inserts need at most r * (height + 1) + r * (r - 1) / 2 free nodes,
 * whatever order they and any removes run in.  reserve keeps that many free.
 *
 * Nothing here blocks; only the reserve and chunk functions allocate.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <umn/interval_tree.h>
#include "alloc.h"
#include "debug.h"
#include "interval_tree_internal.h"

#define ITX_B		32
#define ITX_HALF	(ITX_B / 2)
#define ITX_MIN		(ITX_B / 4)
#define ITX_MERGE	(ITX_B * 3 / 4)
#define CHUNK_MAX	(8ul << 20)	/* the largest chunk */
#define HUGE_PAGE	(2ul << 20)
#define CHUNK_MIN_NODES	8

struct itx_node {
	unsigned long lo[ITX_B];	/* four lines */
	unsigned long hi[ITX_B];	/* four lines */
	void *ptr[ITX_B];		/* four lines */
	struct itx_node *parent;	/* NULL at the top; next when free */
	unsigned int count;
	unsigned int leaf;
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct itx_node) == 832, "index node is 13 lines");

/* The lines a query reads: lo[], hi[] and ptr[], not the header. */
#define ITX_KEY_LINES	(3 * ITX_B * sizeof(unsigned long) / 64)

/* Lives in a chunk's first node slot. */
struct itx_chunk {
	struct itx_chunk *next;
	unsigned long nodes;		/* usable nodes after this header */
	void *mem;			/* what to free */
};

#define itx_likely(x)		__builtin_expect(!!(x), 1)
#define itx_unlikely(x)		__builtin_expect(!!(x), 0)

/* ---- node storage ---- */

static unsigned long promised(unsigned long r, unsigned int height)
{
	return r * (height + 1ul) + r * (r - (r > 0)) / 2;
}

unsigned long umnp_itree_shortfall(const struct umn_itree_root *root)
{
	unsigned long need = promised(root->reserved + 1ul, root->height);

	return need > root->nfree ? need - root->nfree : 0;
}

/*
 * Chunks double the index each time, up to 8 MiB, malloc'd without an
 * alignment request (which would cost glibc a second mapping of the
 * alignment's size).  A chunk of 1 MiB or more is sized so that glibc's
 * mapping (the block plus its 16-byte header, rounded up to pages) is a
 * whole number of 2 MiB pages: Linux (6.7 and later) places such an
 * anonymous mapping on a 2 MiB boundary, so the block covers its huge pages
 * but for the allocator's header and tail, and the whole of it is
 * huge-page advised.  Elsewhere (an older kernel, a block from the heap
 * proper) the whole 2 MiB pages inside are.  The first 2 MiB page stays
 * small: malloc wrote its header there before the advice.  MADV_COLLAPSE
 * would fix that, but umn_mm_self reports a collapse as an invalidation
 * (pages replaced), which takes the mmap lock that an insert_locked caller
 * holds.  The index never calls munmap itself.
 */
void *umnp_itree_chunk_new(unsigned long nodes, unsigned long nalloc)
{
	const size_t slack = 64;	/* header and tail of a malloc'd block */
	unsigned long want = nalloc > CHUNK_MIN_NODES ? nalloc : CHUNK_MIN_NODES;
	unsigned long most = CHUNK_MAX / sizeof(struct itx_node) - 1;
	size_t bytes, need;
	uintptr_t a, hs, he;
	struct itx_chunk *c;
	void *mem;

	if (want > most)
		want = most;
	if (want < nodes)
		want = nodes;
	/* (a - mem) <= 63, so `need` bytes hold the header and `nodes`. */
	need = (nodes + 1) * sizeof(struct itx_node) + 63;
	bytes = (want + 1) * sizeof(struct itx_node) + 63;
	if (bytes >= HUGE_PAGE / 2) {
		/* Whole 2 MiB pages: up, unless that passes CHUNK_MAX. */
		bytes = ((bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1)) - slack;
		if (bytes > CHUNK_MAX && bytes - HUGE_PAGE >= need)
			bytes -= HUGE_PAGE;
	}
	mem = umnp_malloc(bytes);
	if (!mem)
		return NULL;
	a = ((uintptr_t)mem + 63) & ~(uintptr_t)63;
#ifdef MADV_HUGEPAGE
	/* Within `slack` of a boundary: only the allocator's own bytes. */
	hs = (uintptr_t)mem & ~(uintptr_t)(HUGE_PAGE - 1);
	if ((uintptr_t)mem - hs >= slack)
		hs += HUGE_PAGE;
	he = ((uintptr_t)mem + bytes + HUGE_PAGE - 1) &
	     ~(uintptr_t)(HUGE_PAGE - 1);
	if (he - ((uintptr_t)mem + bytes) >= slack)
		he -= HUGE_PAGE;
	if (he > hs)
		(void)madvise((void *)hs, he - hs, MADV_HUGEPAGE);
#else
	(void)hs;
	(void)he;
#endif
	c = (struct itx_chunk *)a;
	c->next = NULL;
	c->mem = mem;
	c->nodes = (bytes - (a - (uintptr_t)mem)) / sizeof(struct itx_node) - 1;
	return c;
}

void umnp_itree_chunk_add(struct umn_itree_root *root, void *chunk)
{
	struct itx_chunk *c = chunk;
	struct itx_node *n = (struct itx_node *)(void *)c + 1;

	c->next = root->chunks;
	root->chunks = c;
	for (unsigned long i = 0; i < c->nodes; i++) {
		n[i].parent = root->free;
		root->free = &n[i];
	}
	root->nfree += c->nodes;
	root->nalloc += c->nodes;
}

void umnp_itree_promise(struct umn_itree_root *root)
{
	root->reserved++;
}

static struct itx_node *node_get(struct umn_itree_root *root, bool leaf)
{
	struct itx_node *n = root->free;

	/* Cannot be NULL: every insert was promised (see the top). */
	root->free = n->parent;
	root->nfree--;
	n->parent = NULL;
	n->count = 0;
	n->leaf = leaf;
	return n;
}

static void node_put(struct umn_itree_root *root, struct itx_node *n)
{
	n->count = 0;
	n->parent = root->free;
	root->free = n;
	root->nfree++;
}

void umn_itree_init(struct umn_itree_root *root)
{
	memset(root, 0, sizeof(*root));
}

void umn_itree_destroy(struct umn_itree_root *root)
{
	struct itx_chunk *c = root->chunks, *next;

	for (; c; c = next) {
		next = c->next;
		umnp_free(c->mem);
	}
	memset(root, 0, sizeof(*root));
}

int umn_itree_reserve(struct umn_itree_root *root)
{
	unsigned long short_by;

	while ((short_by = umnp_itree_shortfall(root)) != 0) {
		void *c = umnp_itree_chunk_new(short_by, root->nalloc);

		if (!c)
			return -ENOMEM;
		umnp_itree_chunk_add(root, c);
	}
	root->reserved++;
	return 0;
}

void umn_itree_unreserve(struct umn_itree_root *root)
{
	if (root->reserved)
		root->reserved--;
}

/* ---- entries ---- */

static inline unsigned long node_max(const struct itx_node *n)
{
	unsigned long m = n->hi[0];

	for (unsigned int i = 1; i < n->count; i++)
		if (n->hi[i] > m)
			m = n->hi[i];
	return m;
}

static inline unsigned int child_slot(const struct itx_node *p,
				      const void *child)
{
	unsigned int i = 0;

	while (p->ptr[i] != child)
		i++;
	return i;
}

/* Make entry i of n point back at n. */
static inline void adopt(struct itx_node *n, unsigned int i)
{
	if (n->leaf)
		((struct umn_itree_node *)n->ptr[i])->leaf = n;
	else
		((struct itx_node *)n->ptr[i])->parent = n;
}

static void put_at(struct itx_node *n, unsigned int i, unsigned long lo,
		   unsigned long hi, void *ptr)
{
	/* an open-coded shift: most inserts append (move 0) or move a few
	 * entries, where three memmove calls cost more than the moves */
	for (unsigned int j = n->count; j > i; j--) {
		n->lo[j] = n->lo[j - 1];
		n->hi[j] = n->hi[j - 1];
		n->ptr[j] = n->ptr[j - 1];
	}
	n->lo[i] = lo;
	n->hi[i] = hi;
	n->ptr[i] = ptr;
	n->count++;
	adopt(n, i);
}

static void drop_at(struct itx_node *n, unsigned int i)
{
	unsigned int move = n->count - i - 1;

	memmove(&n->lo[i], &n->lo[i + 1], move * sizeof(n->lo[0]));
	memmove(&n->hi[i], &n->hi[i + 1], move * sizeof(n->hi[0]));
	memmove(&n->ptr[i], &n->ptr[i + 1], move * sizeof(n->ptr[0]));
	n->count--;
}

/* Move n's entries [from, count) to the end of dst. */
static void move_tail(struct itx_node *dst, struct itx_node *n,
		      unsigned int from)
{
	unsigned int k = n->count - from, d = dst->count;

	memcpy(&dst->lo[d], &n->lo[from], k * sizeof(n->lo[0]));
	memcpy(&dst->hi[d], &n->hi[from], k * sizeof(n->hi[0]));
	memcpy(&dst->ptr[d], &n->ptr[from], k * sizeof(n->ptr[0]));
	dst->count = d + k;
	n->count = from;
	for (unsigned int i = d; i < dst->count; i++)
		adopt(dst, i);
}

/* Recompute n's entry in its parent, and upwards while anything changes. */
static void refresh_up(struct itx_node *n)
{
	struct itx_node *p;

	while ((p = n->parent)) {
		unsigned int i = child_slot(p, n);
		unsigned long lo = n->lo[0], hi = node_max(n);

		if (p->lo[i] == lo && p->hi[i] == hi)
			return;
		p->lo[i] = lo;
		p->hi[i] = hi;
		n = p;
	}
}

static void summarise(struct umn_itree_root *root)
{
	struct itx_node *t = root->top;

	if (t) {
		root->min_start = t->lo[0];
		root->max_last = node_max(t);
	} else {
		root->min_start = 0;
		root->max_last = 0;
	}
}

/* ---- insert ---- */

/*
 * Put (lo, hi, ptr) at slot pos of n, splitting full nodes upwards.  Every
 * ancestor's entry already covers the new entry (raised on the descent), so
 * only the nodes that split need their entries recomputed.
 *
 * last: n is the last node of its level (the descent took the last child
 * at every level).  An entry put after every other one of such a full node
 * goes alone into the new node instead of taking half: inserts in
 * ascending order (addresses handed out upwards, as a registration cache
 * sees them) then leave full nodes behind, not half-full ones.  The parent
 * gets its new child after its last one, so the same holds one level up.
 */
static void insert_entry(struct umn_itree_root *root, struct itx_node *n,
			 unsigned int pos, unsigned long lo, unsigned long hi,
			 void *ptr, bool last)
{
	for (;;) {
		struct itx_node *m, *p, *top;
		unsigned int i;

		if (n->count < ITX_B) {
			put_at(n, pos, lo, hi, ptr);
			return;
		}
		m = node_get(root, n->leaf);
		if (last && pos == ITX_B) {
			put_at(m, 0, lo, hi, ptr);
		} else {
			move_tail(m, n, ITX_HALF);
			if (pos <= ITX_HALF)
				put_at(n, pos, lo, hi, ptr);
			else
				put_at(m, pos - ITX_HALF, lo, hi, ptr);
		}

		p = n->parent;
		if (!p) {
			top = node_get(root, false);
			top->lo[0] = n->lo[0];
			top->hi[0] = node_max(n);
			top->ptr[0] = n;
			top->lo[1] = m->lo[0];
			top->hi[1] = node_max(m);
			top->ptr[1] = m;
			top->count = 2;
			n->parent = top;
			m->parent = top;
			root->top = top;
			root->height++;
			return;
		}
		i = child_slot(p, n);
		p->lo[i] = n->lo[0];
		p->hi[i] = node_max(n);
		n = p;
		pos = i + 1;
		lo = m->lo[0];
		hi = node_max(m);
		ptr = m;
	}
}

/* Insert node; the free nodes cover it (a promise, or insert_now). */
static void insert_node(struct umn_itree_node *node,
			struct umn_itree_root *root)
{
	unsigned long s = node->start, l = node->last;
	struct itx_node *n = root->top;
	unsigned int pos;
	bool last = true;

	if (!n) {
		n = node_get(root, true);
		root->top = n;
		root->height = 1;
	}
	while (!n->leaf) {
		unsigned int i = n->count - 1;

		while (i > 0 && n->lo[i] > s)
			i--;
		last = last && i == n->count - 1u;
		if (n->hi[i] < l)
			n->hi[i] = l;
		if (n->lo[i] > s)
			n->lo[i] = s;	/* only ever child 0 */
		n = n->ptr[i];
	}
	pos = n->count;
	while (pos > 0 && n->lo[pos - 1] > s)
		pos--;
	insert_entry(root, n, pos, s, l, node, last);
	if (!root->count++ || s < root->min_start)
		root->min_start = s;
	if (root->count == 1 || l > root->max_last)
		root->max_last = l;
}

int umn_itree_insert_reserved(struct umn_itree_node *node,
			      struct umn_itree_root *root)
{
	if (__builtin_expect(!root->reserved, 0)) {
		umnp_warn(__func__, "no promise left: call umn_itree_reserve() "
			  "first; node %#lx-%#lx not inserted", node->start,
			  node->last);
		return -EINVAL;
	}
	root->reserved--;
	insert_node(node, root);
	return 0;
}

bool umnp_itree_insert_now(struct umn_itree_node *node,
			   struct umn_itree_root *root)
{
	/* umnp_itree_shortfall() == 0, inline */
	if (promised(root->reserved + 1ul, root->height) > root->nfree)
		return false;
	insert_node(node, root);
	return true;
}

int umn_itree_insert(struct umn_itree_node *node, struct umn_itree_root *root)
{
	int ret = umn_itree_reserve(root);

	if (ret)
		return ret;
	return umn_itree_insert_reserved(node, root);
}

/* ---- remove ---- */

/*
 * n has just lost an entry: free it if empty, merge it with a sibling if it
 * is thin and they fit together, and recompute the entries above.
 */
static void rebalance(struct umn_itree_root *root, struct itx_node *n)
{
	for (;;) {
		struct itx_node *p = n->parent, *l, *r;
		unsigned int i;

		if (!p) {
			if (n->count == 0) {
				node_put(root, n);
				root->top = NULL;
				root->height = 0;
				return;
			}
			while (!n->leaf && n->count == 1) {
				struct itx_node *c = n->ptr[0];

				c->parent = NULL;
				node_put(root, n);
				root->top = c;
				root->height--;
				n = c;
			}
			return;
		}
		i = child_slot(p, n);
		if (n->count == 0) {
			drop_at(p, i);
			node_put(root, n);
			n = p;
			continue;
		}
		/* Thin: merge into the left sibling, or take the right one. */
		l = r = NULL;
		if (n->count < ITX_MIN) {
			struct itx_node *ls = i ? p->ptr[i - 1] : NULL;
			struct itx_node *rs = i + 1 < p->count ?
					      p->ptr[i + 1] : NULL;

			if (ls && ls->count + n->count <= ITX_MERGE) {
				l = ls;
				r = n;
				i--;
			} else if (rs && rs->count + n->count <= ITX_MERGE) {
				l = n;
				r = rs;
			}
		}
		if (l) {
			move_tail(l, r, 0);
			p->lo[i] = l->lo[0];
			p->hi[i] = node_max(l);
			drop_at(p, i + 1);
			node_put(root, r);
			n = p;
			continue;
		}
		refresh_up(n);
		return;
	}
}

/*
 * The common remove changes nothing above its leaf: not the leaf's first
 * entry (its min start stays), not the only one holding the leaf's max last
 * (the parent's key for the leaf is larger), and no merge.  Then neither
 * the inner keys nor the cached minimum and maximum move, and the walk up
 * (a child_slot and a node_max per level) is skipped.
 */
void umn_itree_remove(struct umn_itree_node *node, struct umn_itree_root *root)
{
	struct itx_node *n = node->leaf, *p = n->parent;
	unsigned int slot = child_slot(n, node);

	drop_at(n, slot);
	node->leaf = NULL;
	root->count--;
	if (p && slot > 0 && n->count >= ITX_MIN &&
	    node->last < p->hi[child_slot(p, n)])
		return;
	rebalance(root, n);
	summarise(root);
}

/* ---- queries ---- */

static inline void prefetch_node(const struct itx_node *n)
{
	const char *p = (const char *)n;

	for (unsigned int i = 0; i < ITX_KEY_LINES; i++)
		__builtin_prefetch(p + 64 * i);
}

/*
 * descend - the first intersecting entry under n, which is `level` levels
 * above the leaves (1: n is a leaf), or NULL.  Precondition: something under
 * n ends at or after start.  Counting levels instead of reading n->leaf
 * keeps the header line out of the query: 12 lines per node, prefetched.
 */
static struct umn_itree_node *descend(const struct itx_node *n,
				      unsigned int level, unsigned long start,
				      unsigned long last)
{
	for (;;) {
		unsigned int i = 0;

		while (n->hi[i] < start)
			i++;	/* stops: some hi reaches start */
		if (n->lo[i] > last)
			return NULL;
		if (level == 1)
			return n->ptr[i];
		n = n->ptr[i];
		level--;
		prefetch_node(n);
	}
}

struct umn_itree_node *umn_itree_iter_first(const struct umn_itree_root *root,
					    unsigned long start,
					    unsigned long last)
{
	if (!root->count || start > root->max_last || last < root->min_start)
		return NULL;
	prefetch_node(root->top);
	return descend(root->top, root->height, start, last);
}

/*
 * umn_itree_iter_next - the entries after node's slot in its leaf, then
 * the later children of each ancestor, climbing; the first entry that can
 * intersect decides, as in descend.
 */
struct umn_itree_node *umn_itree_iter_next(const struct umn_itree_node *node,
					   unsigned long start,
					   unsigned long last)
{
	const struct itx_node *n = node->leaf;
	unsigned int i = child_slot(n, node), level = 1;

	for (;;) {
		for (i++; i < n->count; i++) {
			if (n->lo[i] > last)
				return NULL;
			if (n->hi[i] >= start)
				return level == 1 ? n->ptr[i] :
				       descend(n->ptr[i], level - 1, start,
					       last);
		}
		if (!n->parent)
			return NULL;
		i = child_slot(n->parent, n);
		n = n->parent;
		level++;
	}
}

/* ---- invariant checking (tests and fuzzers) ---- */

struct check_state {
	const struct umn_itree_root *root;
	unsigned long visited;
	unsigned long prev_start;
	unsigned long nodes;
};

#define CHECK_FAIL(...)							\
	do {								\
		fprintf(stderr, "umn_itree_check: " __VA_ARGS__);	\
		fputc('\n', stderr);					\
		return -1;						\
	} while (0)

static int check_node(const struct itx_node *n, const struct itx_node *parent,
		      unsigned int depth, struct check_state *st)
{
	unsigned int h = st->root->height;

	st->nodes++;
	if (n->parent != parent)
		CHECK_FAIL("node %p: parent %p, expected %p", (const void *)n,
			   (const void *)n->parent, (const void *)parent);
	if (n->count < 1 || n->count > ITX_B)
		CHECK_FAIL("node %p: %u entries", (const void *)n, n->count);
	if (!parent && !n->leaf && n->count < 2)
		CHECK_FAIL("inner top with one child");
	if (!!n->leaf != (depth == h))
		CHECK_FAIL("node %p at depth %u of %u: leaf %u",
			   (const void *)n, depth, h, n->leaf);
	for (unsigned int i = 0; i < n->count; i++) {
		if (i && n->lo[i] < n->lo[i - 1])
			CHECK_FAIL("node %p: lo[%u] %lu < lo[%u] %lu",
				   (const void *)n, i, n->lo[i], i - 1,
				   n->lo[i - 1]);
		if (n->leaf) {
			const struct umn_itree_node *e = n->ptr[i];

			if (e->leaf != n)
				CHECK_FAIL("entry [%lu, %lu]: leaf %p, in %p",
					   e->start, e->last, e->leaf,
					   (const void *)n);
			if (e->start != n->lo[i] || e->last != n->hi[i])
				CHECK_FAIL("entry [%lu, %lu] cached as "
					   "[%lu, %lu]", e->start, e->last,
					   n->lo[i], n->hi[i]);
			if (e->start > e->last)
				CHECK_FAIL("entry: start %lu > last %lu",
					   e->start, e->last);
			if (st->visited && e->start < st->prev_start)
				CHECK_FAIL("order: start %lu after %lu",
					   e->start, st->prev_start);
			st->prev_start = e->start;
			st->visited++;
		} else {
			const struct itx_node *c = n->ptr[i];

			if (check_node(c, n, depth + 1, st))
				return -1;
			if (n->lo[i] != c->lo[0] || n->hi[i] != node_max(c))
				CHECK_FAIL("node %p child %u: keys [%lu, %lu], "
					   "expected [%lu, %lu]",
					   (const void *)n, i, n->lo[i],
					   n->hi[i], c->lo[0], node_max(c));
		}
	}
	return 0;
}

int umn_itree_check(const struct umn_itree_root *root)
{
	struct check_state st = { root, 0, 0, 0 };
	const struct itx_node *t = root->top;
	unsigned long nfree = 0;

	for (const struct itx_node *f = root->free; f; f = f->parent)
		nfree++;
	if (nfree != root->nfree)
		CHECK_FAIL("nfree %lu, %lu on the free list", root->nfree,
			   nfree);
	if (root->nfree < promised(root->reserved, root->height))
		CHECK_FAIL("%lu free nodes for %u promised inserts at height "
			   "%u", root->nfree, root->reserved, root->height);
	if (!t) {
		if (root->count || root->height)
			CHECK_FAIL("empty index with count %lu, height %u",
				   root->count, root->height);
		if (root->nfree != root->nalloc)
			CHECK_FAIL("empty index: %lu of %lu nodes free",
				   root->nfree, root->nalloc);
		return 0;
	}
	if (check_node(t, NULL, 1, &st))
		return -1;
	if (st.visited != root->count)
		CHECK_FAIL("count %lu, but %lu entries", root->count,
			   st.visited);
	if (st.nodes + root->nfree != root->nalloc)
		CHECK_FAIL("%lu nodes used + %lu free != %lu allocated",
			   st.nodes, root->nfree, root->nalloc);
	if (root->min_start != t->lo[0] || root->max_last != node_max(t))
		CHECK_FAIL("cached [%lu, %lu], expected [%lu, %lu]",
			   root->min_start, root->max_last, t->lo[0],
			   node_max(t));
	return 0;
}
