/* SPDX-License-Identifier: MIT */
/*
 * Internal: white-box scheduling points for the tests (CMake
 * -DUMN_TEST_HOOKS=ON, the default of Debug builds; Release builds compile
 * them to nothing).  A test stores a function in umn__test_hook; the core
 * calls it at the named points below with the point and an argument, so a
 * test can run another thread's step, or wait for one, at exactly that
 * moment and force an interleaving deterministically.  With no hook set a
 * point costs one relaxed load and a branch.
 */
#ifndef UMN_SRC_TEST_HOOK_H
#define UMN_SRC_TEST_HOOK_H

#ifndef UMN_TEST_HOOKS
#define UMN_TEST_HOOKS 0
#endif

enum umnp_hook_point {
	/* umn__interval_read_begin: the subscription's seq is loaded, the
	 * address space's is not yet (arg: the subscription) */
	UMNP_HOOK_READ_BEGIN_LOADS = 1,
	/* umnp_itree_inv_end, subscriptions lock held: seq was just made even
	 * and the deferred list is not applied yet (arg: the subscriptions) */
	UMNP_HOOK_END_BEFORE_APPLY,
	/* umn_interval_notifier_remove: the removal is queued or done, the
	 * wait for the running invalidation is next (arg: the subscription) */
	UMNP_HOOK_REMOVE_BEFORE_WAIT,
	/* patch.c write_code, a site at block offset 15: its first byte is
	 * int3 (every thread serialised), the rest not written yet (arg: the
	 * site) */
	UMNP_HOOK_PATCH_INT3,
	/* umn_regcache_get, a hit: its slot counter is incremented, the
	 * region's state is not loaded yet (arg: the region) */
	UMNP_HOOK_RC_HIT_COUNTED,
	/* umn_regcache_get, a hit on a slot the thread owns (plain stores):
	 * its counter is loaded, the incremented value not stored yet (arg:
	 * the region) */
	UMNP_HOOK_RC_HIT_LOADED,
	/* umn_regcache_invalidate, cache lock held: the callbacks' stack is
	 * drained, the walk over the range is next (arg: the cache) */
	UMNP_HOOK_RC_INVALIDATE_DRAINED,
	/* regcache pool_take and pool_give, the chunk pool's lock held (arg:
	 * the chunk given, NULL in pool_take) */
	UMNP_HOOK_RC_POOL_LOCKED,
	/* umn_regcache_destroy, the list of caches locked: the cache is
	 * taken off it next (arg: the cache) */
	UMNP_HOOK_RC_CACHES_LOCKED,
	/* regcache group_node_locked, cache lock held: a new node is pushed
	 * on its group's list, its range not set yet (arg: the region) */
	UMNP_HOOK_RC_GROUP_PUSHED,
	/* regcache group callback: the group's seq is set, its list's head
	 * loaded, the walk is next (arg: the group) */
	UMNP_HOOK_RC_GROUP_WALK,
	/* regcache groups_teardown, no lock held: the group (out of the
	 * cache's lookup) has its subscription removed next (arg: it) */
	UMNP_HOOK_RC_GROUP_TEARDOWN,
	/* regcache miss: ops->reg returned, the cache lock and read_retry
	 * are next (arg: the region) */
	UMNP_HOOK_RC_MISS_REGISTERED,
	/* umn_regcache_get, a hit: the hash's size (shift) is loaded, its
	 * bucket not yet (arg: the cache) */
	UMNP_HOOK_RC_HIT_SIZED,
	/* regcache hash_grow_locked, cache lock held: the buckets about to
	 * be used are not usable yet, none is split (arg: the cache) */
	UMNP_HOOK_RC_HASH_GROW,
	/* umn_regcache_create: the hash's reservation is about to be made
	 * (arg: unsigned int *, log2 of the most buckets it may reach, which
	 * the hook may lower) */
	UMNP_HOOK_RC_HASH_RESERVE,
};

#if UMN_TEST_HOOKS
typedef void (*umn__test_hook_fn)(int point, void *arg);
/* Exported (umn_* in libumn.map) in hook builds only. */
extern umn__test_hook_fn umn__test_hook;
#define UMNP_HOOK(point, arg)                                                \
	do {                                                                 \
		umn__test_hook_fn hook_ = __atomic_load_n(&umn__test_hook,   \
							  __ATOMIC_ACQUIRE); \
		if (hook_)                                                   \
			hook_((point), (arg));                               \
	} while (0)
#else
#define UMNP_HOOK(point, arg) do { (void)(arg); } while (0)
#endif

#endif /* UMN_SRC_TEST_HOOK_H */
