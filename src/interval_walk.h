/* SPDX-License-Identifier: MIT */
/*
 * A walk over an address space's interval subscriptions, for users inside
 * libumn that index their own subscriptions by address without a tree of
 * their own (the registration cache).
 */
#ifndef UMN_INTERVAL_WALK_H
#define UMN_INTERVAL_WALK_H

#include <stdbool.h>
#include <umn/interval.h>

/*
 * umnp_interval_walk - call fn(arg, sub) for each subscription of mm whose
 * ops are `ops` and whose interval intersects [start, last], lowest start
 * first, until fn returns false.  An insert queued during full exclusion is
 * not in the tree yet and is not seen (its read_begin has not returned
 * either); a subscription whose removal is queued still is.
 * Context: blockable, not from a callback.  Takes mm's subscriptions lock
 * (signals blocked on a signal-safe address space) around the whole walk:
 * fn must not block, call the interval API or wait for a callback.  Nothing
 * if mm has no interval subscriptions.
 */
void umnp_interval_walk(struct umn_mm *mm, unsigned long start,
			unsigned long last,
			const struct umn_interval_notifier_ops *ops,
			bool (*fn)(void *arg, struct umn_interval_notifier *sub),
			void *arg);

#endif /* UMN_INTERVAL_WALK_H */
