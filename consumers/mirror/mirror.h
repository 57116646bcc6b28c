/* SPDX-License-Identifier: MIT */
/*
 * umn_mirror: a secondary MMU mirroring a model address space (the kernel's
 * lib/test_hmm.c "dmirror" device, written for umn).
 *
 * A mirror is a fake device with its own page table (a hash from virtual
 * page to the primary's frame, guarded by one pthread mutex) and an interval
 * subscription per mirrored range.  Its operations are the dmirror ioctls:
 * read, write, migrate to the device and back, snapshot, exclusive access.
 * Each takes a struct umn_mirror_cmd like the ioctl argument and fills in
 * cpages (pages transferred) and faults (fault passes, counted exactly as
 * dmirror counts them, so tests can assert the kernel selftests' numbers).
 *
 * Lock order: mm mmap lock > mirror lock > model ptl.  The mirror never
 * holds its lock while taking the mmap lock or calling read_begin / remove;
 * its invalidate callback takes it (trylock for non-blockable ranges).
 *
 * Errors (negative errno): -EINVAL bad command, or a range no subscription
 * of this mirror covers, or migrating a hole / PROT_NONE page; -EFAULT no
 * mapping or PROT_NONE, or the address space is gone; -EPERM write to
 * read-only memory, or check_exclusive found exclusive entries left;
 * -ENOENT the device holds no entry where it needs one after the operation
 * (migrate: a page it could not take); -EBUSY the fault did not settle
 * within UMN_MIRROR_TIMEOUT_MS of colliding invalidations; -EIO the
 * verifier found an entry that differs from the primary (a bug); -ENOMEM.
 */
#ifndef UMN_MIRROR_H
#define UMN_MIRROR_H

#include <stdbool.h>
#include <stdint.h>
#include <umn/model.h>

#define UMN_MIRROR_TIMEOUT_MS 1000   /* dmirror: HMM_RANGE_DEFAULT_TIMEOUT */
#define UMN_MIRROR_FAULT_CHUNK 64    /* pages per walker call, as dmirror */
#define UMN_MIRROR_SNAPSHOT_CHUNK 16 /* pages per temporary subscription */

/* Snapshot bytes (one per page). */
#define UMN_MIRROR_PROT_ERROR      0xff /* no region or PROT_NONE */
#define UMN_MIRROR_PROT_NONE       0x00 /* nothing mapped */
#define UMN_MIRROR_PROT_READ       0x01
#define UMN_MIRROR_PROT_WRITE      0x02
#define UMN_MIRROR_PROT_HUGE       0x04 /* part of a 2 MiB entry */
#define UMN_MIRROR_PROT_ZERO       0x10 /* the zero frame */
#define UMN_MIRROR_PROT_DEV_LOCAL  0x20 /* this device's memory */
#define UMN_MIRROR_PROT_DEV_REMOTE 0x40 /* another device's memory */

struct umn_mirror;

/* The ioctl argument (kernel: struct hmm_dmirror_cmd). */
struct umn_mirror_cmd {
	unsigned long addr;   /* in: first page */
	void *ptr;            /* in: the caller's buffer (npages pages, or
			       * npages bytes for snapshot) */
	unsigned long npages; /* in */
	unsigned long cpages; /* out: pages done */
	unsigned long faults; /* out: fault passes */
};

struct umn_mirror_stats {
	unsigned long faults;        /* fault passes, all operations */
	unsigned long retries;       /* walker -EBUSY or read_retry true */
	unsigned long invalidations; /* callbacks that dropped entries */
	unsigned long ignored_own;   /* MIGRATE callbacks we caused */
	unsigned long refused;       /* non-blockable callbacks refused */
	unsigned long deferred;      /* deferred ranges applied */
	unsigned long entries;       /* entries held now */
	bool released;               /* saw the RELEASE invalidation */
};

/*
 * umn_mirror_new - a device mirroring mm (a model's address space).  device
 * is the owner its device frames carry (two mirrors given the same device
 * share device memory, as two opens of one dmirror node); NULL: the mirror
 * itself.  No range is mirrored until umn_mirror_add_range().
 * Returns NULL with errno (EINVAL, ENOMEM).
 */
struct umn_mirror *umn_mirror_new(struct umn_mm *mm, void *device);

/*
 * umn_mirror_add_range - mirror [start, start + length) with one interval
 * subscription.  Context: blockable, not holding the mirror lock.
 * Returns 0 or what umn_interval_notifier_insert() returns.
 */
int umn_mirror_add_range(struct umn_mirror *m, unsigned long start,
			 unsigned long length);

/*
 * umn_mirror_destroy - remove every subscription (after which no callback
 * runs) and free the mirror.  Safe after the address space was torn down.
 */
void umn_mirror_destroy(struct umn_mirror *m);

/* The device operations (see the kernel's HMM_DMIRROR_* ioctls). */
int umn_mirror_read(struct umn_mirror *m, struct umn_mirror_cmd *cmd);
int umn_mirror_write(struct umn_mirror *m, struct umn_mirror_cmd *cmd);
int umn_mirror_migrate_to_device(struct umn_mirror *m,
				 struct umn_mirror_cmd *cmd);
int umn_mirror_migrate_to_system(struct umn_mirror *m,
				 struct umn_mirror_cmd *cmd);
int umn_mirror_snapshot(struct umn_mirror *m, struct umn_mirror_cmd *cmd);
int umn_mirror_exclusive(struct umn_mirror *m, struct umn_mirror_cmd *cmd);
/* 0 if no exclusive entry is left in the range, -EPERM otherwise. */
int umn_mirror_check_exclusive(struct umn_mirror *m,
			       struct umn_mirror_cmd *cmd);

/* umn_mirror_device - the owner this mirror's device frames carry. */
void *umn_mirror_device(const struct umn_mirror *m);

/* umn_mirror_stats - a consistent copy of the counters (takes the lock). */
void umn_mirror_stats(struct umn_mirror *m, struct umn_mirror_stats *out);

/* umn_mirror_has_entry - does the mirror hold an entry for addr? */
bool umn_mirror_has_entry(struct umn_mirror *m, unsigned long addr);

/*
 * umn_mirror_verify - under the mirror lock, compare every entry with the
 * primary's page table now (same frame and page, write only if the primary
 * allows it).  Returns 0, -EIO (reported on stderr), or -EFAULT (the
 * address space is gone and entries are left).
 */
int umn_mirror_verify(struct umn_mirror *m);

/* umn_mirror_set_verify - check each page against the primary as it is
 * read or written (on by default: the acceptance property). */
void umn_mirror_set_verify(struct umn_mirror *m, bool on);

/*
 * umn_mirror_set_fault_delay - test hook: sleep up to max_us between the
 * walker and taking the lock, widening the collision window (like
 * liburcu's debug-yield).  0 turns it off.
 */
void umn_mirror_set_fault_delay(struct umn_mirror *m, unsigned int max_us);

/*
 * umn_mirror_run_locked - call fn(arg) with the mirror lock held, as a
 * device driver thread that holds it would (the non-blockable scenario:
 * an invalidation arriving meanwhile finds the lock taken).  fn must not
 * call other umn_mirror functions of m.  Returns what fn returns.
 */
int umn_mirror_run_locked(struct umn_mirror *m, int (*fn)(void *arg),
			  void *arg);

#endif /* UMN_MIRROR_H */
