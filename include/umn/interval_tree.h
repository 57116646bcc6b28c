/* SPDX-License-Identifier: MIT */
/*
 * An augmented red-black interval tree over inclusive ranges
 * [start, last] of unsigned long.  Each node caches the largest `last` of its
 * subtree, so intersection queries cost O(log n + k); the root also caches
 * the leftmost node and the global maximum `last` so that a query entirely
 * left of every interval, or right of all of them, is rejected in O(1).
 *
 * The tree does no locking: the caller serialises every insert and remove
 * against each other and against iteration.  Iteration needs only that the
 * tree does not change while it runs (libumn freezes it by making the
 * sequence odd; see <umn/interval.h>).
 */
#ifndef UMN_INTERVAL_TREE_H
#define UMN_INTERVAL_TREE_H

#include <stdbool.h>
#include <umn/config.h>

UMN_EXTERN_C_BEGIN

struct umn_itree_node {
	struct umn_itree_node *parent;
	struct umn_itree_node *left;
	struct umn_itree_node *right;
	unsigned long start;        /* first address, inclusive */
	unsigned long last;         /* last address, inclusive */
	unsigned long subtree_last; /* max `last` in this subtree (private) */
	int color;                  /* private */
	int linked;                 /* 1 while in a tree (private) */
};

struct umn_itree_root {
	struct umn_itree_node *root;
	struct umn_itree_node *leftmost;
	unsigned long count;
};

#define UMN_ITREE_ROOT_INIT { 0, 0, 0 }

/* umn_itree_init - make an empty tree. */
void umn_itree_init(struct umn_itree_root *root);

/*
 * umn_itree_insert - insert node (start/last set by the caller, start <= last).
 * Duplicates (same start, even same interval) are allowed.
 * Context: caller serialises all tree access.  Never blocks, never allocates.
 */
void umn_itree_insert(struct umn_itree_node *node, struct umn_itree_root *root);

/*
 * umn_itree_remove - remove node, which must be in root.  Never blocks.
 */
void umn_itree_remove(struct umn_itree_node *node, struct umn_itree_root *root);

/*
 * umn_itree_iter_first - the first node (lowest start, then tree order) that
 * intersects [start, last], or NULL.  umn_itree_iter_next - the next one after
 * node.  Each node intersecting the query is returned exactly once.
 */
struct umn_itree_node *umn_itree_iter_first(const struct umn_itree_root *root,
					    unsigned long start,
					    unsigned long last);
struct umn_itree_node *umn_itree_iter_next(const struct umn_itree_node *node,
					   unsigned long start,
					   unsigned long last);

/* umn_itree_empty - true if the tree has no node. */
static inline bool umn_itree_empty(const struct umn_itree_root *root)
{
	return root->root == 0;
}

/* umn_itree_node_linked - true while node is in a tree. */
static inline bool umn_itree_node_linked(const struct umn_itree_node *node)
{
	return node->linked != 0;
}

/*
 * umn_itree_check - verify every structural invariant (red-black rules,
 * ordering, cached subtree_last, leftmost, count).  For tests and fuzzers.
 * Returns 0 if the tree is valid, -1 otherwise.
 */
int umn_itree_check(const struct umn_itree_root *root);

UMN_EXTERN_C_END

#endif /* UMN_INTERVAL_TREE_H */
