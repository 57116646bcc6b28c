/* SPDX-License-Identifier: MIT */
/*
 * An interval index over inclusive ranges [start, last] of unsigned long:
 * a B+tree whose nodes hold the keys inline.  A leaf holds up to 32
 * (start, last, node pointer) entries; an inner node holds, per child, the
 * smallest start and the largest last below it.  Nodes are 832 bytes (13
 * cache lines), carved from chunks the index allocates itself (each about
 * the size of the index so far, up to 8 MiB; from 1 MiB on sized to whole
 * 2 MiB pages and huge-page advised), so a query reads a few lines per
 * level of a compact structure and touches a caller's node only when it
 * intersects.  Intersection queries cost O(log n + k); a query entirely
 * left of every interval, or right of all of them, is rejected in O(1) from
 * two cached values.
 *
 * The index does no locking: the caller serialises every insert, remove and
 * reservation against each other and against iteration.  Iteration needs
 * only that the index does not change while it runs (libumn freezes it by
 * making the sequence odd; see <umn/interval.h>).
 *
 * Memory: inserts need index nodes.  umn_itree_reserve() allocates what one
 * later insert can need at most; umn_itree_insert_reserved() consumes that
 * promise and never allocates, so an insert can be prepared where -ENOMEM
 * can be returned and performed where it cannot.  Removes never allocate.
 */
#ifndef UMN_INTERVAL_TREE_H
#define UMN_INTERVAL_TREE_H

#include <stdbool.h>
#include <umn/config.h>

UMN_EXTERN_C_BEGIN

/* Embedded in the caller's object: 24 bytes. */
struct umn_itree_node {
	unsigned long start;        /* first address, inclusive */
	unsigned long last;         /* last address, inclusive */
	void *leaf;                 /* index leaf holding it (private) */
};

/* All fields private. */
struct umn_itree_root {
	void *top;                  /* root index node, NULL when empty */
	unsigned long count;        /* caller nodes in the index */
	unsigned long min_start;    /* smallest start (count > 0) */
	unsigned long max_last;     /* largest last (count > 0) */
	unsigned int height;        /* levels, 0 when empty */
	unsigned int reserved;      /* inserts promised by reserve */
	void *free;                 /* free index nodes */
	unsigned long nfree;
	unsigned long nalloc;       /* index nodes in every chunk */
	void *chunks;               /* every chunk, for destroy */
};

#define UMN_ITREE_ROOT_INIT { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }

/* umn_itree_init - make an empty index.  Allocates nothing. */
void umn_itree_init(struct umn_itree_root *root);

/*
 * umn_itree_destroy - free every chunk of the index and make it empty.  Call
 * it once no node is in the index any more (a node still in it keeps a
 * stale private pointer and must not be removed afterwards).
 */
void umn_itree_destroy(struct umn_itree_root *root);

/*
 * umn_itree_reserve - promise one later insert: allocate, if needed, every
 * index node that insert (and every insert already promised) can take.
 * Context: caller serialises all index access; may allocate (malloc, mmap).
 * Returns 0 or -ENOMEM (nothing promised then).
 */
int umn_itree_reserve(struct umn_itree_root *root);

/* umn_itree_unreserve - give back one promise that will not be used. */
void umn_itree_unreserve(struct umn_itree_root *root);

/*
 * umn_itree_insert_reserved - insert node (start/last set by the caller,
 * start <= last), using one promise from umn_itree_reserve.  Duplicates
 * (same start, even same interval) are allowed; among equal starts a new
 * node comes last.  Never blocks, never allocates.
 * Returns 0, or -EINVAL (reported, node not inserted) if no promise is
 * left.
 */
int umn_itree_insert_reserved(struct umn_itree_node *node,
			      struct umn_itree_root *root);

/*
 * umn_itree_insert - umn_itree_reserve + umn_itree_insert_reserved.
 * Returns 0, or -ENOMEM with node not inserted.
 */
int umn_itree_insert(struct umn_itree_node *node, struct umn_itree_root *root);

/*
 * umn_itree_remove - remove node, which must be in root.  Never blocks,
 * never allocates (emptied index nodes go back to the index's free list).
 */
void umn_itree_remove(struct umn_itree_node *node, struct umn_itree_root *root);

/*
 * umn_itree_iter_first - the first node (lowest start, then insertion order
 * among equal starts) that intersects [start, last], or NULL.
 * umn_itree_iter_next - the next one after node.  Each node intersecting the
 * query is returned exactly once.
 */
struct umn_itree_node *umn_itree_iter_first(const struct umn_itree_root *root,
					    unsigned long start,
					    unsigned long last);
struct umn_itree_node *umn_itree_iter_next(const struct umn_itree_node *node,
					   unsigned long start,
					   unsigned long last);

/* umn_itree_empty - true if the index has no node. */
static inline bool umn_itree_empty(const struct umn_itree_root *root)
{
	return root->count == 0;
}

/* umn_itree_node_linked - true while node is in an index. */
static inline bool umn_itree_node_linked(const struct umn_itree_node *node)
{
	return node->leaf != 0;
}

/*
 * umn_itree_check - verify every structural invariant (equal leaf depth,
 * fill, ordering, cached per-child keys, back pointers, count, the cached
 * minimum and maximum, enough free nodes for the promises).  For tests and
 * fuzzers.  Returns 0 if the index is valid, -1 otherwise.
 */
int umn_itree_check(const struct umn_itree_root *root);

UMN_EXTERN_C_END

#endif /* UMN_INTERVAL_TREE_H */
