/* SPDX-License-Identifier: MIT */
/*
 * Internal: reserving index nodes for an insert made under a lock that must
 * not allocate (the subscriptions lock).  Under the lock, ask for the
 * shortfall; if it is not zero, drop the lock, allocate a chunk, retake the
 * lock and add it; repeat until the shortfall is zero, then promise.
 */
#ifndef UMN_SRC_INTERVAL_TREE_INTERNAL_H
#define UMN_SRC_INTERVAL_TREE_INTERNAL_H

#include <stdbool.h>
#include <umn/interval_tree.h>

/* Index nodes missing before one more insert can be promised.  No alloc. */
unsigned long umnp_itree_shortfall(const struct umn_itree_root *root);

/*
 * A chunk of at least `nodes` index nodes, sized for an index that already
 * has `nalloc` of them; NULL with errno ENOMEM.  Touches no index.
 */
void *umnp_itree_chunk_new(unsigned long nodes, unsigned long nalloc);

/* Give a chunk from umnp_itree_chunk_new to root.  No allocation. */
void umnp_itree_chunk_add(struct umn_itree_root *root, void *chunk);

/* Promise one insert; the caller saw a zero shortfall under its lock. */
void umnp_itree_promise(struct umn_itree_root *root);

/*
 * Insert node now, without a promise, if the free index nodes cover it on
 * top of every promise made (the shortfall is zero): the one-lock insert of
 * an idle address space.  Returns false (nothing done) otherwise.  No
 * allocation.
 */
bool umnp_itree_insert_now(struct umn_itree_node *node,
			   struct umn_itree_root *root);

#endif /* UMN_SRC_INTERVAL_TREE_INTERNAL_H */
