/* SPDX-License-Identifier: MIT */
/*
 * The model address space: a reference primary MMU.
 *
 * A struct umn_model is a small, complete primary MMU written the way the
 * kernel's mm is: regions (VMAs) with protections, a two-level page table
 * from virtual pages to frames of a frame pool, copy-on-write, a shared
 * zero frame, young bits, device frames, and every operation bracketing its
 * change with umn_notifier_invalidate_range_start() ... _end() carrying the
 * kernel's event.  It is the template for anyone writing a primary MMU on
 * umn (a VMM's guest memory, an emulator's soft MMU, a DSM system), and the
 * address space the acceptance scenarios run on.  doc/model.md walks one
 * munmap through it.
 *
 * Addresses live in a fixed window [UMN_MODEL_VA_BASE, UMN_MODEL_VA_END).
 * Pages are 4 KiB; regions mapped with UMN_MODEL_MAP_HUGE use 2 MiB frames
 * (a page-middle-directory entry maps the whole frame).
 *
 * Lock order (outermost first):
 *
 *   mm mmap lock (umn_mmap_*)          regions; write for mmap/munmap/mremap/
 *                                      mprotect/fork/teardown, read for
 *                                      faults, madvise, migration, the walker
 *     secondary MMU locks              taken by invalidate callbacks, i.e.
 *                                      inside start/end, never around them
 *       model page-table lock (ptl)    every page-table entry; never held
 *                                      across invalidate_range_start/end,
 *                                      a callback, or a blocking call
 *         file lock                    a file's page cache
 *
 * A secondary MMU may take the ptl (through umn_model_lookup()) while it
 * holds its own lock; the model never takes a secondary lock while holding
 * the ptl.  A mm read holder may trigger invalidations (COW, migration back
 * from a device, revoking exclusive access) from a fault: callbacks must not
 * take the mmap lock.
 *
 * Errors, everywhere: -EINVAL bad arguments (unaligned, zero length, outside
 * the window, a huge region cut off its 2 MiB boundaries); -ENOMEM no
 * address space left, a hole where a mapping was required (mprotect,
 * mremap, as Linux), or the frame pool is exhausted; -EFAULT no region at an
 * address that is accessed; -EACCES the region's protection forbids the
 * access (CPU accessors); -EPERM a write to a read-only region (walker);
 * -EBUSY the walker saw an invalidation of its subscription.
 */
#ifndef UMN_MODEL_H
#define UMN_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <umn/config.h>
#include <umn/mm.h>
#include <umn/notifier.h>
#include <umn/interval.h>

UMN_EXTERN_C_BEGIN

#define UMN_MODEL_PAGE_SHIFT 12
#define UMN_MODEL_PAGE_SIZE  (1UL << UMN_MODEL_PAGE_SHIFT)
#define UMN_MODEL_HUGE_SHIFT 21
#define UMN_MODEL_HUGE_SIZE  (1UL << UMN_MODEL_HUGE_SHIFT)
#define UMN_MODEL_HUGE_PAGES (UMN_MODEL_HUGE_SIZE / UMN_MODEL_PAGE_SIZE)
#define UMN_MODEL_VA_BASE    0x100000000UL
#define UMN_MODEL_VA_SIZE    0x100000000UL /* 4 GiB of addresses */
#define UMN_MODEL_VA_END     (UMN_MODEL_VA_BASE + UMN_MODEL_VA_SIZE)

/* Default frame-pool size in 4 KiB frames (64 MiB); frames are allocated
 * lazily, so the pool costs only what is mapped. */
#define UMN_MODEL_DEFAULT_FRAMES 16384UL

/* Protections (umn_model_mmap, umn_model_mprotect). WRITE implies READ. */
#define UMN_MODEL_PROT_NONE  0x0
#define UMN_MODEL_PROT_READ  0x1
#define UMN_MODEL_PROT_WRITE 0x2

/* Mapping kinds (umn_model_mmap flags): exactly one of PRIVATE, SHARED. */
#define UMN_MODEL_MAP_PRIVATE 0x1 /* anonymous private (copy-on-write) */
#define UMN_MODEL_MAP_SHARED  0x2 /* anonymous shared, or a file's pages */
#define UMN_MODEL_MAP_HUGE    0x4 /* 2 MiB frames (private anonymous only) */
#define UMN_MODEL_MAP_FIXED   0x8 /* at addr exactly, replacing (UNMAP) */

/* umn_model_mremap flags */
#define UMN_MODEL_MREMAP_MAYMOVE 0x1

struct umn_model;
struct umn_model_file;
struct umn_model_frame; /* a physical frame: 4 KiB or 2 MiB, system or device */

/* ---- address space ------------------------------------------------------ */

/*
 * umn_model_new - a new, empty model address space with its own umn_mm
 * (users = 1) and a frame pool of max_frames 4 KiB frames (0: default).
 * Context: blockable.  Returns NULL with errno = ENOMEM.
 */
struct umn_model *umn_model_new(unsigned long max_frames);

/*
 * umn_model_destroy - drop the model's users reference on its mm.  The
 * last umn_mm_put() (this one, or a secondary MMU's that still holds a
 * users reference) runs umn_notifier_release() and then the model's
 * exit_mmap: UNMAP over the whole window, every frame freed, the model
 * freed.  After this call the caller must not use model; interval
 * subscriptions on the mm still need umn_interval_notifier_remove().
 * Context: blockable, not from a callback, no model lock held.
 */
void umn_model_destroy(struct umn_model *model);

/* umn_model_mm - the model's address space (valid while the model is). */
struct umn_mm *umn_model_mm(struct umn_model *model);

/*
 * umn_model_from_mm - the model owning mm, or NULL if mm is not a model's.
 * The result is usable only while the caller holds a users reference
 * (umn_mm_get_not_zero()): exit_mmap frees the model.
 */
struct umn_model *umn_model_from_mm(struct umn_mm *mm);

/* umn_model_frames_in_use - 4 KiB frames allocated from the pool (tests). */
unsigned long umn_model_frames_in_use(struct umn_model *model);

/* ---- files -------------------------------------------------------------- */

/*
 * umn_model_file_new - a file of size bytes (rounded up to pages), zero
 * filled, with its own page cache.  Reference counted: the creator holds
 * one, every mapping holds one.
 * Returns NULL with errno = EINVAL (size 0) or ENOMEM.
 */
struct umn_model_file *umn_model_file_new(size_t size);

/* umn_model_file_put - drop the creator's (or a) reference. */
void umn_model_file_put(struct umn_model_file *file);

/*
 * umn_model_file_read / _write - pread/pwrite on the file's page cache,
 * apart from any mapping (a mapping sees the same pages).
 * Context: any thread; takes the file lock.  Never triggers invalidations.
 * Returns bytes transferred (short at the end of the file), or -EINVAL.
 */
long umn_model_file_read(struct umn_model_file *file, size_t off, void *buf,
			 size_t len);
long umn_model_file_write(struct umn_model_file *file, size_t off,
			  const void *buf, size_t len);

/* ---- region operations (each takes the mmap lock itself) --------------- */

/*
 * umn_model_mmap - map len bytes (page multiple; 2 MiB multiple for HUGE)
 * with prot and flags.  file != NULL maps the file's pages from byte offset
 * off (page aligned; MAP_SHARED only); file == NULL && SHARED makes a new
 * anonymous shared object.  Without MAP_FIXED addr is a hint (0: anywhere).
 * With MAP_FIXED an existing mapping of the range is unmapped first (UNMAP).
 * Locks: mmap write lock, ptl.  Blockable.
 * Returns 0 and *out = the address; -EINVAL; -ENOMEM (no room).
 */
int umn_model_mmap(struct umn_model *model, unsigned long addr, size_t len,
		   int prot, int flags, struct umn_model_file *file,
		   size_t off, unsigned long *out);

/*
 * umn_model_munmap - unmap [addr, addr + len): one UNMAP invalidation over
 * the range, page-table entries cleared under the ptl, frames freed after
 * invalidate_range_end (kernel: mmu_gather).  Unmapping a hole is not an
 * error and sends nothing.
 * Locks: mmap write lock, ptl.  Blockable.  Returns 0 or -EINVAL.
 */
int umn_model_munmap(struct umn_model *model, unsigned long addr, size_t len);

/*
 * umn_model_mprotect - change the protection of [addr, addr + len):
 * PROTECTION_VMA invalidation; lost write permission is removed from the
 * entries; exclusive device access is revoked.
 * Locks: mmap write lock, ptl.  Returns 0, -EINVAL, -ENOMEM (a hole).
 */
int umn_model_mprotect(struct umn_model *model, unsigned long addr,
		       size_t len, int prot);

/*
 * umn_model_madvise_dontneed - discard the pages of [addr, addr + len)
 * (CLEAR): private pages read back as zero, shared ones from their object.
 * Locks: mmap read lock, ptl.  Returns 0, -EINVAL, -ENOMEM (a hole).
 */
int umn_model_madvise_dontneed(struct umn_model *model, unsigned long addr,
			       size_t len);

/*
 * umn_model_mremap - resize a mapping, which must be one region: shrink
 * (UNMAP of the tail), grow in place when the addresses after it are free,
 * or with UMN_MODEL_MREMAP_MAYMOVE move it (UNMAP of the old range, entries
 * moved to the new one, which no one can have mirrored yet).
 * Locks: mmap write lock, ptl.  Returns 0 and *out; -EINVAL; -ENOMEM.
 */
int umn_model_mremap(struct umn_model *model, unsigned long addr,
		     size_t old_len, size_t new_len, int flags,
		     unsigned long *out);

/*
 * umn_model_fork - a child model with a copy of the regions and a new
 * umn_mm: no subscription is inherited.  Private pages become shared
 * copy-on-write: the parent's writable entries are write-protected under a
 * PROTECTION_PAGE invalidation per private region (which also revokes
 * exclusive device access).  Shared regions share their object.
 * Locks: the parent's mmap write lock, its ptl.  Blockable.
 * Returns 0 and *child, or -ENOMEM.
 */
int umn_model_fork(struct umn_model *model, struct umn_model **child);

/*
 * umn_model_zap_nonblock - the OOM reaper's path: discard the private pages
 * of [addr, addr + len) from a context that must not block and cannot call
 * the change off (userspace: a free() or a signal handler, possibly on a
 * thread that holds a secondary MMU's lock).  Takes the mmap read lock only
 * by trylock; the CLEAR range is non-blockable and DEFERRABLE, so a
 * callback that cannot take its lock refuses and umn defers the work to it
 * (umn_interval_take_deferred()).
 * Returns 0; -EAGAIN if the mmap lock was contended (nothing done);
 * -EINVAL.
 */
int umn_model_zap_nonblock(struct umn_model *model, unsigned long addr,
			   size_t len);

/* ---- CPU access ---------------------------------------------------------- */

/*
 * umn_model_read / umn_model_write - CPU loads/stores of len bytes at addr,
 * faulting pages in as a CPU would (read fault of an untouched private page
 * maps the zero frame; write fault breaks COW with a CLEAR invalidation of
 * that page; access to a device frame migrates it back with MIGRATE; access
 * to an exclusive entry revokes it with EXCLUSIVE).
 * Locks: mmap read lock, ptl.  Blockable.
 * Returns 0 when all len bytes were transferred; -EFAULT if some page has no
 * region (SIGSEGV, SEGV_MAPERR); -EACCES if the protection forbids the
 * access (SEGV_ACCERR); -ENOMEM.  On error the bytes of the pages before
 * the failing one have been transferred.
 */
int umn_model_read(struct umn_model *model, unsigned long addr, void *buf,
		   size_t len);
int umn_model_write(struct umn_model *model, unsigned long addr,
		    const void *buf, size_t len);

/* ---- reclaim aging and same-page merging --------------------------------- */

/*
 * umn_model_clear_flush_young - reclaim aging of [addr, addr + len): for
 * every present page, young = its young bit OR
 * umn_notifier_clear_flush_young() of the page; both are cleared.
 * umn_model_clear_young does the same with umn_notifier_clear_young()
 * (no secondary TLB flush).  Returns the number of young pages.
 * umn_model_test_young - is the page at addr young (young bit, then
 * umn_notifier_test_young())?  Returns 1 or 0.
 * Locks: mmap read lock, ptl (not held across the notifier calls).
 */
long umn_model_clear_flush_young(struct umn_model *model, unsigned long addr,
				 size_t len);
long umn_model_clear_young(struct umn_model *model, unsigned long addr,
			   size_t len);
int umn_model_test_young(struct umn_model *model, unsigned long addr);

/*
 * umn_model_merge - same-page merging (KSM) of two private 4 KiB pages with
 * equal contents: the page at addr is made to map the frame of the page at
 * src, both read-only copy-on-write.  Inside one CLEAR invalidation of addr
 * the new entry is announced with umn_notifier_change_pte().
 * Locks: mmap read lock, ptl.
 * Returns 0 merged; -EAGAIN contents differ or a page is not present,
 * private and 4 KiB; -EFAULT no region.
 */
int umn_model_merge(struct umn_model *model, unsigned long addr,
		    unsigned long src);

/* ---- page-table entries as a secondary MMU sees them -------------------- */

/* struct umn_model_pfn.flags */
#define UMN_MODEL_PFN_VALID         0x01 /* frame/index are a mapped page */
#define UMN_MODEL_PFN_WRITE         0x02 /* the entry is writable */
#define UMN_MODEL_PFN_ERROR         0x04 /* no region, or PROT_NONE */
#define UMN_MODEL_PFN_ZERO          0x08 /* the shared zero frame */
#define UMN_MODEL_PFN_HUGE          0x10 /* part of a 2 MiB frame */
#define UMN_MODEL_PFN_DEVICE        0x20 /* device frame of dev_private_owner */
#define UMN_MODEL_PFN_DEVICE_REMOTE 0x40 /* device frame of someone else */
#define UMN_MODEL_PFN_EXCLUSIVE     0x80 /* exclusive device entry */
#define UMN_MODEL_PFN_MIGRATING     0x100 /* being migrated (lookup only) */

/* One 4 KiB page of the primary's page table. */
struct umn_model_pfn {
	struct umn_model_frame *frame; /* NULL unless VALID (or MIGRATING) */
	unsigned int index;            /* 4 KiB page inside a 2 MiB frame */
	unsigned int flags;            /* UMN_MODEL_PFN_* */
	unsigned long pfn;             /* frame number of this 4 KiB page */
	void *owner;                   /* device owner (DEVICE*, EXCLUSIVE) */
};

/*
 * umn_model_frame_data - address of the 4 KiB page index of frame.  The
 * frame stays allocated while the primary maps it; a secondary MMU may use
 * it only under its own lock while it holds a mirrored entry that the
 * collision-retry protocol let it publish.
 */
void *umn_model_frame_data(const struct umn_model_frame *frame,
			   unsigned int index);
/* umn_model_frame_owner - device owner of a device frame, NULL for system. */
void *umn_model_frame_owner(const struct umn_model_frame *frame);

/*
 * umn_model_lookup - the entry for the page at addr, as it is now, without
 * faulting (flags 0: nothing mapped; ERROR: no region).  For verification.
 * Context: a users reference on the mm; any lock except the ptl (takes it).
 * Returns 0.
 */
int umn_model_lookup(struct umn_model *model, unsigned long addr,
		     struct umn_model_pfn *out);

/* ---- the range walker (kernel: hmm_range_fault) ------------------------- */

/* struct umn_model_range.default_flags */
#define UMN_MODEL_REQ_FAULT 0x1 /* fault pages in (read) */
#define UMN_MODEL_REQ_WRITE 0x2 /* ... for write (implies FAULT) */

struct umn_model_range {
	struct umn_interval_notifier *notifier; /* the caller's subscription */
	unsigned long notifier_seq;  /* from umn_interval_read_begin() */
	unsigned long start;         /* page aligned */
	unsigned long end;           /* exclusive, page aligned */
	struct umn_model_pfn *pfns;  /* (end - start) / 4 KiB entries */
	unsigned int default_flags;  /* UMN_MODEL_REQ_* */
	void *dev_private_owner;     /* device frames of this owner are local */
};

/*
 * umn_model_range_fault - fill r->pfns for [start, end), faulting pages in
 * when r->default_flags asks (a device frame of another owner is migrated
 * back, an exclusive entry revoked, COW broken for write).  Without
 * REQ_FAULT it is a snapshot: holes and PROT_NONE give PFN_ERROR, absent
 * pages 0, other owners' device frames PFN_DEVICE_REMOTE.
 * Context: caller holds the mmap read lock (not the ptl, not a lock its
 * invalidate callback takes).  Blockable.
 * Returns 0; -EBUSY when umn_interval_check_retry(notifier, notifier_seq)
 * fired (restart from umn_interval_read_begin()); -EFAULT a page has no
 * region or is PROT_NONE; -EPERM write requested on a read-only region;
 * -EINVAL bad range; -ENOMEM.
 */
int umn_model_range_fault(struct umn_model *model, struct umn_model_range *r);

/* ---- migration to and from device frames (kernel: migrate_vma_*) -------- */

#define UMN_MODEL_MIGRATE_TO_DEVICE 0x1 /* system frames -> owner's frames */
#define UMN_MODEL_MIGRATE_TO_SYSTEM 0x2 /* owner's device frames -> system */
#define UMN_MODEL_MIGRATE_MAX_PAGES 64

/* src[i]/dst[i] flags */
#define UMN_MODEL_MIGRATE_COLLECTED 0x1 /* page i is being migrated */
#define UMN_MODEL_MIGRATE_WRITE     0x2 /* its entry was writable */
#define UMN_MODEL_MIGRATE_DONE      0x4 /* dst installed */

struct umn_model_migrate {
	unsigned long start, end;  /* at most MIGRATE_MAX_PAGES pages */
	void *owner;               /* the device; the range's owner */
	unsigned int direction;    /* UMN_MODEL_MIGRATE_TO_* */
	unsigned long cpages;      /* collected by setup */
	struct umn_model_frame *src[UMN_MODEL_MIGRATE_MAX_PAGES];
	struct umn_model_frame *dst[UMN_MODEL_MIGRATE_MAX_PAGES];
	unsigned int flags[UMN_MODEL_MIGRATE_MAX_PAGES];
	struct umn_notifier_range range; /* private */
};

/*
 * umn_model_migrate_setup - begin migrating [m->start, m->end): starts a
 * MIGRATE invalidation owned by m->owner (a device ignores what it caused),
 * collects the eligible pages (to device: present or absent private 4 KiB
 * system pages; to system: device frames of m->owner) and replaces their
 * entries by migration entries: CPU and walker accesses wait.  Every page
 * of the range must have a readable region.
 * umn_model_migrate_pages - allocate and copy the destination frames and
 * install them.  Between this and finalize the device updates its own
 * mapping (maps dst[], or drops its entries for src[]).
 * umn_model_migrate_finalize - release the source frames (they stayed
 * allocated until here), end the invalidation.
 * Context: all three under one mmap read lock hold; blockable.
 * setup returns 0 (then pages and finalize must follow) or -EINVAL (a
 * page without a readable region, bad range; nothing started).  pages
 * returns the number migrated.
 */
int umn_model_migrate_setup(struct umn_model *model,
			    struct umn_model_migrate *m);
long umn_model_migrate_pages(struct umn_model *model,
			     struct umn_model_migrate *m);
void umn_model_migrate_finalize(struct umn_model *model,
				struct umn_model_migrate *m);

/* ---- exclusive device access (kernel: make_device_exclusive) ------------ */

/*
 * umn_model_make_exclusive - fault [start, end) in for write and give owner
 * exclusive access: EXCLUSIVE invalidation owned by owner, entries marked
 * exclusive.  Any later CPU access, mprotect, fork, or another device's
 * fault revokes it (EXCLUSIVE invalidation, owner NULL).  pfns (may be
 * NULL) receives the entries.
 * Context: caller holds the mmap read lock.  Blockable.
 * Returns 0; -EFAULT; -EPERM (read-only); -EINVAL (huge/shared or bad).
 */
int umn_model_make_exclusive(struct umn_model *model, unsigned long start,
			     unsigned long end, void *owner,
			     struct umn_model_pfn *pfns);

UMN_EXTERN_C_END

#endif /* UMN_MODEL_H */
