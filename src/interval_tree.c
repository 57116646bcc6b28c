/* SPDX-License-Identifier: MIT */
/*
 * Augmented red-black interval tree (see <umn/interval_tree.h>).
 *
 * Nodes are ordered by start; equal starts are allowed and an inserted node
 * goes after every node with the same start (in-order), so iteration order is
 * stable: by start, then by insertion among equals (rotations preserve
 * in-order position).  Each node caches subtree_last, the largest `last` in
 * its subtree, which lets a query skip every subtree that ends before it.
 *
 * Colours: a freshly zeroed node is RED (0); nothing relies on that, insert
 * sets the colour explicitly.  A NULL child counts as black.
 *
 * No function here allocates, blocks or recurses (except umn_itree_check,
 * which is a debugging aid and recurses to the tree height, at most about
 * 2 * log2(n) frames).
 */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>

#include <umn/interval_tree.h>

#define ITREE_RED	0
#define ITREE_BLACK	1

#define itree_likely(x)		__builtin_expect(!!(x), 1)
#define itree_unlikely(x)	__builtin_expect(!!(x), 0)

static inline int is_red(const struct umn_itree_node *n)
{
	return n && n->color == ITREE_RED;
}

static inline int is_black(const struct umn_itree_node *n)
{
	return !n || n->color == ITREE_BLACK;
}

/*
 * node_subtree_last - what n->subtree_last must be, given correct values in
 * n's children.  Reads only n and its direct children.
 */
static inline unsigned long node_subtree_last(const struct umn_itree_node *n)
{
	unsigned long m = n->last;

	if (n->left && n->left->subtree_last > m)
		m = n->left->subtree_last;
	if (n->right && n->right->subtree_last > m)
		m = n->right->subtree_last;
	return m;
}

/*
 * replace_child - make @new take @old's place under @parent (or at the root
 * when @parent is NULL).  Does not touch @new->parent.
 */
static inline void replace_child(struct umn_itree_root *root,
				 struct umn_itree_node *parent,
				 struct umn_itree_node *old,
				 struct umn_itree_node *new)
{
	if (!parent)
		root->root = new;
	else if (parent->left == old)
		parent->left = new;
	else
		parent->right = new;
}

/*
 * rotate_left - lift x->right (y) above x.  The set of nodes under the top
 * position is unchanged, so y inherits x's subtree_last as is; only x, now
 * with a smaller subtree, needs recomputing.  x->right must exist.
 */
static void rotate_left(struct umn_itree_root *root, struct umn_itree_node *x)
{
	struct umn_itree_node *y = x->right;
	struct umn_itree_node *p = x->parent;

	x->right = y->left;
	if (y->left)
		y->left->parent = x;
	y->left = x;
	y->parent = p;
	x->parent = y;
	replace_child(root, p, x, y);

	y->subtree_last = x->subtree_last;
	x->subtree_last = node_subtree_last(x);
}

/* rotate_right - mirror of rotate_left: lift x->left above x. */
static void rotate_right(struct umn_itree_root *root, struct umn_itree_node *x)
{
	struct umn_itree_node *y = x->left;
	struct umn_itree_node *p = x->parent;

	x->left = y->right;
	if (y->right)
		y->right->parent = x;
	y->right = x;
	y->parent = p;
	x->parent = y;
	replace_child(root, p, x, y);

	y->subtree_last = x->subtree_last;
	x->subtree_last = node_subtree_last(x);
}

void umn_itree_init(struct umn_itree_root *root)
{
	root->root = NULL;
	root->leftmost = NULL;
	root->count = 0;
}

/*
 * insert_fixup - restore the red-black rules after linking red node n as a
 * leaf.  Only rotations touch subtree_last here, and they keep it exact, so
 * the values raised on the way down in umn_itree_insert stay correct.
 */
static void insert_fixup(struct umn_itree_root *root, struct umn_itree_node *n)
{
	struct umn_itree_node *p, *g, *u;

	while ((p = n->parent) && p->color == ITREE_RED) {
		/* A red node is never the root, so the grandparent exists. */
		g = p->parent;
		if (p == g->left) {
			u = g->right;
			if (is_red(u)) {
				/* Push the red up two levels and retry there. */
				p->color = ITREE_BLACK;
				u->color = ITREE_BLACK;
				g->color = ITREE_RED;
				n = g;
				continue;
			}
			if (n == p->right) {
				/* Turn the zig-zag into a straight line. */
				rotate_left(root, p);
				n = p;
				p = n->parent;
			}
			p->color = ITREE_BLACK;
			g->color = ITREE_RED;
			rotate_right(root, g);
			break;
		} else {
			u = g->left;
			if (is_red(u)) {
				p->color = ITREE_BLACK;
				u->color = ITREE_BLACK;
				g->color = ITREE_RED;
				n = g;
				continue;
			}
			if (n == p->left) {
				rotate_right(root, p);
				n = p;
				p = n->parent;
			}
			p->color = ITREE_BLACK;
			g->color = ITREE_RED;
			rotate_left(root, g);
			break;
		}
	}
	root->root->color = ITREE_BLACK;
}

/*
 * umn_itree_insert - link node into root.  The descent raises subtree_last of
 * every node it passes (they all gain node in their subtree), so no second
 * walk back up is needed.  O(log n), no allocation.
 */
void umn_itree_insert(struct umn_itree_node *node, struct umn_itree_root *root)
{
	struct umn_itree_node **link = &root->root;
	struct umn_itree_node *parent = NULL;
	unsigned long start = node->start, last = node->last;
	int leftmost = 1;

	while (*link) {
		parent = *link;
		if (parent->subtree_last < last)
			parent->subtree_last = last;
		/* Equal starts go right: new duplicates come last in order. */
		if (start < parent->start) {
			link = &parent->left;
		} else {
			link = &parent->right;
			leftmost = 0;
		}
	}

	node->parent = parent;
	node->left = NULL;
	node->right = NULL;
	node->subtree_last = last;
	node->color = ITREE_RED;
	node->linked = 1;
	*link = node;

	if (leftmost)
		root->leftmost = node;
	root->count++;

	insert_fixup(root, node);
}

/*
 * propagate_up - recompute subtree_last from n up towards the root after a
 * node disappeared below n.  A node whose value does not change shields its
 * ancestors, so the walk stops there - but not before it has passed @must,
 * whose cached value is known to be stale (NULL if there is no such node).
 */
static void propagate_up(struct umn_itree_node *n, struct umn_itree_node *must)
{
	int past = must == NULL;

	while (n) {
		unsigned long v = node_subtree_last(n);

		if (n == must)
			past = 1;
		if (past && v == n->subtree_last)
			break;
		n->subtree_last = v;
		n = n->parent;
	}
}

/*
 * erase_fixup - restore equal black height after a black node was unlinked.
 * x (possibly NULL) is the child that took its place and is one black short;
 * parent is x's parent (needed because x may be NULL).
 */
static void erase_fixup(struct umn_itree_root *root, struct umn_itree_node *x,
			struct umn_itree_node *parent)
{
	struct umn_itree_node *w;

	while (x != root->root && is_black(x)) {
		/*
		 * x's side is one black short, so its sibling w is never
		 * NULL; that also makes "x == parent->left" unambiguous
		 * when x is NULL.
		 */
		if (x == parent->left) {
			w = parent->right;
			if (w->color == ITREE_RED) {
				/* Make the sibling black, keeping heights. */
				w->color = ITREE_BLACK;
				parent->color = ITREE_RED;
				rotate_left(root, parent);
				w = parent->right;
			}
			if (is_black(w->left) && is_black(w->right)) {
				/* Shorten w's side too; the deficit moves up. */
				w->color = ITREE_RED;
				x = parent;
				parent = x->parent;
				continue;
			}
			if (is_black(w->right)) {
				w->left->color = ITREE_BLACK;
				w->color = ITREE_RED;
				rotate_right(root, w);
				w = parent->right;
			}
			/* w's red far child pays for the missing black. */
			w->color = parent->color;
			parent->color = ITREE_BLACK;
			w->right->color = ITREE_BLACK;
			rotate_left(root, parent);
			x = root->root;
			break;
		} else {
			w = parent->left;
			if (w->color == ITREE_RED) {
				w->color = ITREE_BLACK;
				parent->color = ITREE_RED;
				rotate_right(root, parent);
				w = parent->left;
			}
			if (is_black(w->left) && is_black(w->right)) {
				w->color = ITREE_RED;
				x = parent;
				parent = x->parent;
				continue;
			}
			if (is_black(w->left)) {
				w->right->color = ITREE_BLACK;
				w->color = ITREE_RED;
				rotate_left(root, w);
				w = parent->left;
			}
			w->color = parent->color;
			parent->color = ITREE_BLACK;
			w->left->color = ITREE_BLACK;
			rotate_right(root, parent);
			x = root->root;
			break;
		}
	}
	if (x)
		x->color = ITREE_BLACK;
}

/*
 * umn_itree_remove - unlink node from root.  O(log n), no allocation.  The
 * node's links are cleared so a stale pointer cannot walk into the tree.
 */
void umn_itree_remove(struct umn_itree_node *node, struct umn_itree_root *root)
{
	struct umn_itree_node *child, *parent, *succ, *stale = NULL;
	int removed_color;

	/*
	 * The leftmost node has no left child, so its in-order successor is
	 * the leftmost of its right subtree or else its parent.
	 */
	if (root->leftmost == node) {
		struct umn_itree_node *next = node->right;

		if (next) {
			while (next->left)
				next = next->left;
		} else {
			next = node->parent;
		}
		root->leftmost = next;
	}

	if (!node->left || !node->right) {
		/* At most one child: splice it into node's place. */
		child = node->left ? node->left : node->right;
		parent = node->parent;
		removed_color = node->color;
		if (child)
			child->parent = parent;
		replace_child(root, parent, node, child);
	} else {
		/*
		 * Two children: the in-order successor (which has no left
		 * child) leaves its own spot and takes node's place, colour
		 * included, so the black deficit is at the successor's old
		 * spot.
		 */
		succ = node->right;
		while (succ->left)
			succ = succ->left;
		child = succ->right;
		removed_color = succ->color;
		if (succ->parent == node) {
			parent = succ;
		} else {
			parent = succ->parent;
			parent->left = child;
			if (child)
				child->parent = parent;
			succ->right = node->right;
			succ->right->parent = succ;
		}
		succ->left = node->left;
		succ->left->parent = succ;
		succ->parent = node->parent;
		succ->color = node->color;
		replace_child(root, node->parent, node, succ);
		/*
		 * In node's place succ holds node's old subtree minus node;
		 * start from node's value (exact for the ancestors) and force
		 * the walk to recompute it.
		 */
		succ->subtree_last = node->subtree_last;
		stale = succ;
	}

	propagate_up(parent, stale);

	if (removed_color == ITREE_BLACK)
		erase_fixup(root, child, parent);

	node->parent = NULL;
	node->left = NULL;
	node->right = NULL;
	node->linked = 0;
	root->count--;
}

/*
 * subtree_search - the first node in n's subtree (in order) intersecting
 * [start, last], or NULL.  Precondition: n->subtree_last >= start.
 *
 * The left subtree is preferred whenever something in it ends at or after
 * start: if n itself starts at or before last, that left node starts no
 * later than n and so intersects too; if n starts after last, only the left
 * side can hold a match.  Either way the answer, if any, is on the left.
 */
static struct umn_itree_node *subtree_search(struct umn_itree_node *n,
					     unsigned long start,
					     unsigned long last)
{
	for (;;) {
		struct umn_itree_node *l = n->left;

		if (l && l->subtree_last >= start) {
			n = l;
			continue;
		}
		/* Nothing on the left ends late enough: try n, then right. */
		if (n->start > last)
			return NULL;
		if (n->last >= start)
			return n;
		n = n->right;
		if (!n || n->subtree_last < start)
			return NULL;
	}
}

/*
 * umn_itree_iter_first - see the header.  A query that ends before the
 * smallest start or begins after the largest last is answered from the two
 * cached values without touching the tree.
 */
struct umn_itree_node *umn_itree_iter_first(const struct umn_itree_root *root,
					    unsigned long start,
					    unsigned long last)
{
	struct umn_itree_node *top = root->root;

	if (!top || start > top->subtree_last ||
	    last < root->leftmost->start)
		return NULL;
	return subtree_search(top, start, last);
}

/*
 * umn_itree_iter_next - see the header.  Walks the in-order successors of
 * node using parent pointers only, skipping right subtrees that end before
 * start, and stops as soon as the next node in order starts after last
 * (every later node starts later still).  Needs only that the tree does not
 * change between calls.
 */
struct umn_itree_node *umn_itree_iter_next(const struct umn_itree_node *node,
					   unsigned long start,
					   unsigned long last)
{
	const struct umn_itree_node *n = node;

	for (;;) {
		const struct umn_itree_node *prev;
		struct umn_itree_node *r = n->right;

		/*
		 * Everything after n in its own subtree is in n->right.  If
		 * that holds a match, the first one is the answer; if it has
		 * a candidate by subtree_last but no match, every match
		 * there would start after last, and so would everything
		 * above, so there is none at all.
		 */
		if (r && r->subtree_last >= start)
			return subtree_search(r, start, last);

		/* Climb until we arrive from a left child: that is next. */
		do {
			prev = n;
			n = n->parent;
			if (!n)
				return NULL;
		} while (n->right == prev);

		if (n->start > last)
			return NULL;
		if (n->last >= start)
			return (struct umn_itree_node *)n;
		/* n does not match: continue with its right subtree. */
	}
}

/* ---- invariant checking (tests and fuzzers) ---- */

struct check_state {
	const struct umn_itree_node *prev;	/* previous node in order */
	unsigned long visited;
};

#define CHECK_FAIL(...)							\
	do {								\
		fprintf(stderr, "umn_itree_check: " __VA_ARGS__);	\
		fputc('\n', stderr);					\
		return -1;						\
	} while (0)

/*
 * check_subtree - verify n's subtree in order; sets *black_height to the
 * number of black nodes on every path from n down to a NULL (NULL counts 0).
 * Returns 0 or -1 after printing the first violation.
 */
static int check_subtree(const struct umn_itree_node *n,
			 const struct umn_itree_node *parent,
			 struct check_state *st, int *black_height)
{
	int lh, rh;
	unsigned long want;

	if (!n) {
		*black_height = 0;
		return 0;
	}
	if (n->parent != parent)
		CHECK_FAIL("node %p [%lu, %lu]: parent %p, expected %p",
			   (const void *)n, n->start, n->last,
			   (const void *)n->parent, (const void *)parent);
	if (n->linked != 1)
		CHECK_FAIL("node %p [%lu, %lu]: linked is %d in the tree",
			   (const void *)n, n->start, n->last, n->linked);
	if (n->color != ITREE_RED && n->color != ITREE_BLACK)
		CHECK_FAIL("node %p: bad colour %d", (const void *)n, n->color);
	if (n->start > n->last)
		CHECK_FAIL("node %p: start %lu > last %lu", (const void *)n,
			   n->start, n->last);
	if (n->color == ITREE_RED && parent && parent->color == ITREE_RED)
		CHECK_FAIL("node %p [%lu, %lu]: red child of a red node",
			   (const void *)n, n->start, n->last);

	if (check_subtree(n->left, n, st, &lh))
		return -1;

	/* In-order visit: starts must never decrease. */
	if (st->prev && st->prev->start > n->start)
		CHECK_FAIL("order: start %lu follows start %lu",
			   n->start, st->prev->start);
	st->prev = n;
	st->visited++;

	if (check_subtree(n->right, n, st, &rh))
		return -1;

	if (lh != rh)
		CHECK_FAIL("node %p [%lu, %lu]: black heights %d and %d",
			   (const void *)n, n->start, n->last, lh, rh);
	want = node_subtree_last(n);
	if (n->subtree_last != want)
		CHECK_FAIL("node %p [%lu, %lu]: subtree_last %lu, expected %lu",
			   (const void *)n, n->start, n->last,
			   n->subtree_last, want);
	*black_height = lh + (n->color == ITREE_BLACK);
	return 0;
}

/*
 * umn_itree_check - see the header.  Prints the first violation found to
 * stderr and returns -1; prints nothing and returns 0 for a valid tree.
 * O(n) time, recursion depth bounded by the tree height.
 */
int umn_itree_check(const struct umn_itree_root *root)
{
	struct check_state st = { NULL, 0 };
	const struct umn_itree_node *first;
	int bh;

	if (!root->root) {
		if (root->leftmost)
			CHECK_FAIL("empty tree with leftmost %p",
				   (const void *)root->leftmost);
		if (root->count)
			CHECK_FAIL("empty tree with count %lu", root->count);
		return 0;
	}
	if (root->root->color != ITREE_BLACK)
		CHECK_FAIL("root is not black");
	if (check_subtree(root->root, NULL, &st, &bh))
		return -1;
	if (st.visited != root->count)
		CHECK_FAIL("count %lu, but %lu nodes in the tree",
			   root->count, st.visited);

	first = root->root;
	while (first->left)
		first = first->left;
	if (root->leftmost != first)
		CHECK_FAIL("leftmost %p, expected %p",
			   (const void *)root->leftmost, (const void *)first);
	return 0;
}
