/* SPDX-License-Identifier: MIT */
/*
 * Address-space objects and their two reference counts (kernel: mm_struct,
 * mmget/mmput, mmgrab/mmdrop).  See <umn/mm.h>.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <umn/mm.h>
#include <umn/notifier.h>
#include "debug.h"
#include "alloc.h"
#include "notifier_internal.h"

__thread int umnp_signals_blocked __attribute__((tls_model("initial-exec")));

int umnp_mmap_lock_init(struct umn_mm *mm);
void umnp_mmap_lock_destroy(struct umn_mm *mm);

struct umn_mm *umn_mm_new_flags(unsigned int flags)
{
	struct umn_mm *mm;

	if (flags & ~UMN_MM_SIGNAL_SAFE) {
		errno = EINVAL;
		return NULL;
	}
	/* aligned: the lock word has a cache line of its own */
	if (umnp_posix_memalign((void **)&mm, _Alignof(struct umn_mm), sizeof(*mm)))
		mm = NULL;
	if (mm)
		memset(mm, 0, sizeof(*mm));
	if (!mm) {
		errno = ENOMEM;
		return NULL;
	}
	if (umnp_mmap_lock_init(mm)) {
		umnp_free(mm);
		errno = ENOMEM;
		return NULL;
	}
	mm->users = 1;
	mm->count = 1;	/* held on behalf of all users */
	/* Even; starting at 2 keeps "seq - 1" of a new interval odd and far
	 * from any value seq will take soon. */
	mm->interval_seq = 2;
	mm->flags = flags;
	return mm;
}

struct umn_mm *umn_mm_new(void)
{
	return umn_mm_new_flags(0);
}

int umn_mm_set_owner(struct umn_mm *mm, const struct umn_mm_owner_ops *ops,
		     void *owner)
{
	if (!mm)
		return -EINVAL;
	mm->owner_ops = ops;
	mm->owner = owner;
	return 0;
}

void *umn_mm_owner(const struct umn_mm *mm)
{
	return mm ? mm->owner : NULL;
}

bool umn_mm_get_not_zero(struct umn_mm *mm)
{
	int users = __atomic_load_n(&mm->users, __ATOMIC_RELAXED);

	do {
		if (users <= 0)
			return false;
	} while (!__atomic_compare_exchange_n(&mm->users, &users, users + 1,
					      true, __ATOMIC_ACQUIRE,
					      __ATOMIC_RELAXED));
	return true;
}

int umn_mm_get(struct umn_mm *mm)
{
	if (!mm)
		return -EINVAL;
	if (!umn_mm_get_not_zero(mm)) {
		umnp_warn(__func__, "address space already torn down");
		return -EINVAL;
	}
	return 0;
}

bool umnp_mm_torn_down(const struct umn_mm *mm)
{
	return __atomic_load_n(&mm->users, __ATOMIC_ACQUIRE) <= 0;
}

/* The exit_mmap analogue: release notifications, then the owner's unmap. */
static void mm_teardown(struct umn_mm *mm)
{
	__atomic_or_fetch(&mm->flags, UMN_MM_TORN_DOWN, __ATOMIC_RELEASE);
	umn_notifier_release(mm);
	if (mm->owner_ops && mm->owner_ops->exit_mmap)
		mm->owner_ops->exit_mmap(mm, mm->owner);
	umn_mm_drop(mm);
}

int umn_mm_put(struct umn_mm *mm)
{
	int users;

	if (!mm)
		return -EINVAL;
	users = __atomic_load_n(&mm->users, __ATOMIC_RELAXED);
	do {
		if (users <= 0) {
			umnp_warn(__func__, "unbalanced put (users is 0)");
			return -EINVAL;
		}
	} while (!__atomic_compare_exchange_n(&mm->users, &users, users - 1,
					      true, __ATOMIC_ACQ_REL,
					      __ATOMIC_RELAXED));
	if (users == 1) {
		umnp_yield();
		umnp_dbg_in_callback(__func__);
		umnp_dbg_might_sleep(__func__);
		mm_teardown(mm);
	}
	return 0;
}

void umn_mm_grab(struct umn_mm *mm)
{
	__atomic_add_fetch(&mm->count, 1, __ATOMIC_RELAXED);
}

void umn_mm_drop(struct umn_mm *mm)
{
	int count = __atomic_load_n(&mm->count, __ATOMIC_RELAXED);
	struct umn_subscriptions *subs;

	do {
		if (count <= 0) {
			umnp_warn(__func__, "unbalanced drop (count is 0)");
			return;
		}
	} while (!__atomic_compare_exchange_n(&mm->count, &count, count - 1,
					      true, __ATOMIC_ACQ_REL,
					      __ATOMIC_RELAXED));
	if (count != 1)
		return;
	subs = umnp_subs(mm);
	if (subs)
		umnp_subscriptions_destroy(subs);
	umnp_mmap_lock_destroy(mm);
	umnp_free(mm);
}

int umn_mm_users(const struct umn_mm *mm)
{
	return __atomic_load_n(&mm->users, __ATOMIC_RELAXED);
}

int umn_mm_count(const struct umn_mm *mm)
{
	return __atomic_load_n(&mm->count, __ATOMIC_RELAXED);
}
