/* SPDX-License-Identifier: MIT */
/*
 * The kernel's names for umn (as of Linux v5.8), so that a driver's
 * notifier code ports to userspace line by line:
 *
 *   #include <umn/compat/mmu_notifier.h>
 *
 *   static bool dmirror_interval_invalidate(struct mmu_interval_notifier *mni,
 *                                           const struct mmu_notifier_range *range,
 *                                           unsigned long cur_seq)
 *   { ... mmu_notifier_range_blockable(range) ... mmu_interval_set_seq(mni, cur_seq); ... }
 *
 * Everything here is a macro or a static inline wrapper over the umn_ API:
 * it adds no symbol to libumn, and both spellings can be mixed.
 *
 * Types: struct mm_struct is struct umn_mm, struct mmu_notifier is struct
 * umn_notifier, struct mmu_interval_notifier is struct
 * umn_interval_notifier, struct mmu_notifier_range is struct
 * umn_notifier_range (and their _ops), through macros on the tag names.
 * Fields keep their kernel names where the kernel had them (range->start,
 * ->end, ->event, ->flags, ->mm; sub->ops, sub->mm); range->vma does not
 * exist (a userspace primary has no VMA) and range->migrate_pgmap_owner is
 * range->owner (a macro renames that member name while this header is
 * included).
 *
 * Signatures are v5.8's, including the arguments umn has no use for: the
 * vma of mmu_notifier_range_init() and _init_migrate() is ignored (pass
 * NULL).  Functions that return void in the kernel drop umn's error code
 * here (misuse is still reported through umn_set_warn_handler()).
 *
 * Not here: hmm_range_fault and migrate_vma_* (the model address space has
 * its own, <umn/model.h>), mmu_notifier_range_init_owner (v5.10), the
 * MMU_NOTIFY_EXCLUSIVE event (v5.14; umn has it as UMN_NOTIFY_EXCLUSIVE),
 * and the later changes listed in doc/design.md ("Kernel versions").
 */
#ifndef UMN_COMPAT_MMU_NOTIFIER_H
#define UMN_COMPAT_MMU_NOTIFIER_H

#include <stdbool.h>
#include <umn/mm.h>
#include <umn/notifier.h>
#include <umn/interval.h>

UMN_EXTERN_C_BEGIN

/* ---- types ---------------------------------------------------------------- */

#define mm_struct                 umn_mm
#define mmu_notifier              umn_notifier
#define mmu_notifier_ops          umn_notifier_ops
#define mmu_interval_notifier     umn_interval_notifier
#define mmu_interval_notifier_ops umn_interval_notifier_ops
#define mmu_notifier_range        umn_notifier_range
#define mmu_notifier_event        umn_notifier_event
#define migrate_pgmap_owner       owner

#ifndef container_of
#define container_of(ptr, type, member) umn_container_of(ptr, type, member)
#endif

/* Never defined: the vma arguments are accepted and ignored. */
struct vm_area_struct;

/* A page-table entry as change_pte passes it (an integer in umn). */
typedef unsigned long pte_t;

#define MMU_NOTIFY_UNMAP           UMN_NOTIFY_UNMAP
#define MMU_NOTIFY_CLEAR           UMN_NOTIFY_CLEAR
#define MMU_NOTIFY_PROTECTION_VMA  UMN_NOTIFY_PROTECTION_VMA
#define MMU_NOTIFY_PROTECTION_PAGE UMN_NOTIFY_PROTECTION_PAGE
#define MMU_NOTIFY_SOFT_DIRTY      UMN_NOTIFY_SOFT_DIRTY
#define MMU_NOTIFY_RELEASE         UMN_NOTIFY_RELEASE
#define MMU_NOTIFY_MIGRATE         UMN_NOTIFY_MIGRATE

#define MMU_NOTIFIER_RANGE_BLOCKABLE UMN_NOTIFIER_RANGE_BLOCKABLE

/* ---- address-space references (kernel: <linux/sched/mm.h>) ------------- */

static inline void mmgrab(struct mm_struct *mm) { umn_mm_grab(mm); }
static inline void mmdrop(struct mm_struct *mm) { umn_mm_drop(mm); }
static inline void mmget(struct mm_struct *mm) { (void)umn_mm_get(mm); }
static inline bool mmget_not_zero(struct mm_struct *mm)
{
	return umn_mm_get_not_zero(mm);
}
static inline void mmput(struct mm_struct *mm) { (void)umn_mm_put(mm); }

/* ---- the mmap lock (kernel: <linux/mmap_lock.h>, v5.8) ------------------ */

static inline void mmap_write_lock(struct mm_struct *mm)
{
	umn_mmap_write_lock(mm);
}
/* Never interrupted in userspace: always 0. */
static inline int mmap_write_lock_killable(struct mm_struct *mm)
{
	umn_mmap_write_lock(mm);
	return 0;
}
static inline bool mmap_write_trylock(struct mm_struct *mm)
{
	return umn_mmap_write_trylock(mm);
}
static inline void mmap_write_unlock(struct mm_struct *mm)
{
	umn_mmap_write_unlock(mm);
}
static inline void mmap_write_downgrade(struct mm_struct *mm)
{
	umn_mmap_write_downgrade(mm);
}
static inline void mmap_read_lock(struct mm_struct *mm)
{
	umn_mmap_read_lock(mm);
}
static inline int mmap_read_lock_killable(struct mm_struct *mm)
{
	umn_mmap_read_lock(mm);
	return 0;
}
static inline bool mmap_read_trylock(struct mm_struct *mm)
{
	return umn_mmap_read_trylock(mm);
}
static inline void mmap_read_unlock(struct mm_struct *mm)
{
	umn_mmap_read_unlock(mm);
}
static inline void mmap_assert_locked(struct mm_struct *mm)
{
	umn_mmap_assert_locked(mm);
}
static inline void mmap_assert_write_locked(struct mm_struct *mm)
{
	umn_mmap_assert_write_locked(mm);
}

/* ---- interval subscriptions --------------------------------------------- */

static inline int
mmu_interval_notifier_insert(struct mmu_interval_notifier *interval_sub,
			     struct mm_struct *mm, unsigned long start,
			     unsigned long length,
			     const struct mmu_interval_notifier_ops *ops)
{
	return umn_interval_notifier_insert(interval_sub, mm, start, length,
					    ops);
}

static inline int
mmu_interval_notifier_insert_locked(struct mmu_interval_notifier *interval_sub,
				    struct mm_struct *mm, unsigned long start,
				    unsigned long length,
				    const struct mmu_interval_notifier_ops *ops)
{
	return umn_interval_notifier_insert_locked(interval_sub, mm, start,
						   length, ops);
}

static inline void
mmu_interval_notifier_remove(struct mmu_interval_notifier *interval_sub)
{
	(void)umn_interval_notifier_remove(interval_sub);
}

static inline unsigned long
mmu_interval_read_begin(struct mmu_interval_notifier *interval_sub)
{
	return umn_interval_read_begin(interval_sub);
}

static inline void
mmu_interval_set_seq(struct mmu_interval_notifier *interval_sub,
		     unsigned long cur_seq)
{
	umn_interval_set_seq(interval_sub, cur_seq);
}

static inline bool
mmu_interval_read_retry(struct mmu_interval_notifier *interval_sub,
			unsigned long seq)
{
	return umn_interval_read_retry(interval_sub, seq);
}

static inline bool
mmu_interval_check_retry(struct mmu_interval_notifier *interval_sub,
			 unsigned long seq)
{
	return umn_interval_check_retry(interval_sub, seq);
}

/* ---- classic subscriptions ---------------------------------------------- */

static inline int mmu_notifier_register(struct mmu_notifier *subscription,
					struct mm_struct *mm)
{
	return umn_notifier_register(subscription, mm);
}

static inline int __mmu_notifier_register(struct mmu_notifier *subscription,
					  struct mm_struct *mm)
{
	return umn_notifier_register_locked(subscription, mm);
}

static inline void mmu_notifier_unregister(struct mmu_notifier *subscription,
					   struct mm_struct *mm)
{
	(void)umn_notifier_unregister(subscription, mm);
}

/* Kernel: an ERR_PTR on failure; umn: NULL with errno set. */
static inline struct mmu_notifier *
mmu_notifier_get(const struct mmu_notifier_ops *ops, struct mm_struct *mm)
{
	return umn_notifier_get(ops, mm);
}

static inline struct mmu_notifier *
mmu_notifier_get_locked(const struct mmu_notifier_ops *ops,
			struct mm_struct *mm)
{
	return umn_notifier_get_locked(ops, mm);
}

static inline void mmu_notifier_put(struct mmu_notifier *subscription)
{
	(void)umn_notifier_put(subscription);
}

static inline void mmu_notifier_synchronize(void)
{
	umn_notifier_synchronize();
}

/* ---- the primary-MMU side ------------------------------------------------ */

static inline bool mm_has_notifiers(struct mm_struct *mm)
{
	return umn_mm_has_notifiers(mm);
}

static inline void mmu_notifier_range_init(struct mmu_notifier_range *range,
					   enum mmu_notifier_event event,
					   unsigned int flags,
					   struct vm_area_struct *vma,
					   struct mm_struct *mm,
					   unsigned long start,
					   unsigned long end)
{
	(void)vma;
	umn_notifier_range_init(range, event, flags, mm, start, end);
}

static inline void
mmu_notifier_range_init_migrate(struct mmu_notifier_range *range,
				unsigned int flags, struct vm_area_struct *vma,
				struct mm_struct *mm, unsigned long start,
				unsigned long end, void *pgmap)
{
	(void)vma;
	umn_notifier_range_init_owner(range, MMU_NOTIFY_MIGRATE, flags, mm,
				      start, end, pgmap);
}

static inline bool
mmu_notifier_range_blockable(const struct mmu_notifier_range *range)
{
	return umn_notifier_range_blockable(range);
}

static inline bool
mmu_notifier_range_update_to_read_only(const struct mmu_notifier_range *range)
{
	return umn_notifier_range_update_to_read_only(range);
}

static inline void
mmu_notifier_invalidate_range_start(struct mmu_notifier_range *range)
{
	umn_notifier_invalidate_range_start(range);
}

static inline int
mmu_notifier_invalidate_range_start_nonblock(struct mmu_notifier_range *range)
{
	return umn_notifier_invalidate_range_start_nonblock(range);
}

static inline void
mmu_notifier_invalidate_range_end(struct mmu_notifier_range *range)
{
	umn_notifier_invalidate_range_end(range);
}

static inline void
mmu_notifier_invalidate_range_only_end(struct mmu_notifier_range *range)
{
	umn_notifier_invalidate_range_only_end(range);
}

static inline void mmu_notifier_invalidate_range(struct mm_struct *mm,
						 unsigned long start,
						 unsigned long end)
{
	umn_notifier_invalidate_range(mm, start, end);
}

static inline void mmu_notifier_release(struct mm_struct *mm)
{
	umn_notifier_release(mm);
}

static inline int mmu_notifier_clear_flush_young(struct mm_struct *mm,
						 unsigned long start,
						 unsigned long end)
{
	return umn_notifier_clear_flush_young(mm, start, end);
}

static inline int mmu_notifier_clear_young(struct mm_struct *mm,
					   unsigned long start,
					   unsigned long end)
{
	return umn_notifier_clear_young(mm, start, end);
}

static inline int mmu_notifier_test_young(struct mm_struct *mm,
					  unsigned long address)
{
	return umn_notifier_test_young(mm, address);
}

static inline void mmu_notifier_change_pte(struct mm_struct *mm,
					   unsigned long address, pte_t pte)
{
	umn_notifier_change_pte(mm, address, pte);
}

UMN_EXTERN_C_END

#endif /* UMN_COMPAT_MMU_NOTIFIER_H */
