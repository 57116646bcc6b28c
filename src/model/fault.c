/* SPDX-License-Identifier: MIT */
/*
 * The model address space: CPU faults and accessors, reclaim aging,
 * same-page merging, the range walker (hmm_range_fault), migration to and
 * from device frames, exclusive device access.
 *
 * Everything here runs under the mmap *read* lock.  A fault that replaces
 * a present entry (COW break, migration back from a device, revoking
 * exclusive access) follows the kernel's do_wp_page shape: look under the
 * ptl, drop it, start the invalidation, retake the ptl and check that the
 * entry is still the one we saw, change it, drop the ptl, end, free:
 *
 *	lock ptl; old = *pte; unlock ptl
 *	umn_notifier_range_init(&range, UMN_NOTIFY_CLEAR, 0, mm, a, a + 4K);
 *	umn_notifier_invalidate_range_start(&range);
 *	lock ptl; if (*pte != old) retry; *pte = new; unlock ptl
 *	umn_notifier_invalidate_range_end(&range);
 *	put(old frame)
 *
 * Filling an empty entry needs no invalidation: nobody can have mirrored
 * what was not there.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "model/internal.h"

#define PAGE_SIZE_ UMN_MODEL_PAGE_SIZE
#define PAGE_MASK_ (UMN_MODEL_PAGE_SIZE - 1)

static bool region_huge(const struct umnp_region *r)
{
	return r->flags & UMN_MODEL_MAP_HUGE;
}

/* [*s, *e): the extent of the entry that maps addr (4 KiB or 2 MiB). */
static void entry_extent(const struct umnp_region *r, unsigned long addr,
			 unsigned long *s, unsigned long *e)
{
	unsigned long size = region_huge(r) ? UMN_MODEL_HUGE_SIZE : PAGE_SIZE_;

	*s = addr & ~(size - 1);
	*e = *s + size;
}

/* Fill an empty entry (ptl held).  No invalidation. */
static int fault_none_locked(struct umn_model *model, struct umnp_region *r,
			     unsigned long addr, struct umnp_pte *pte,
			     bool write)
{
	unsigned int w = (r->prot & UMN_MODEL_PROT_WRITE) ? UMNP_PTE_WRITE : 0;
	struct umn_model_frame *f;

	if (r->file) {              /* shared: the object's page */
		unsigned long pgoff = r->pgoff +
				      ((addr - r->start) >> UMN_MODEL_PAGE_SHIFT);

		f = umnp_model_file_page(r->file, pgoff);
		if (!f)	/* beyond the end of the file, or out of memory */
			return pgoff >= r->file->npages ? -EFAULT : -ENOMEM;
	} else if (region_huge(r)) {
		f = umnp_model_frame_alloc(model->pool, UMN_MODEL_HUGE_SHIFT -
					   UMN_MODEL_PAGE_SHIFT, NULL, NULL);
	} else if (!write) {        /* read of untouched memory */
		f = &model->pool->zero;
		w = 0;
	} else {
		f = umnp_model_frame_alloc(model->pool, 0, NULL, NULL);
	}
	if (!f)
		return -ENOMEM;
	pte->frame = f;
	pte->flags = w | UMNP_PTE_YOUNG | (write ? UMNP_PTE_DIRTY : 0);
	pte->excl_owner = NULL;
	return 0;
}

/*
 * Replace the present entry at addr, which mapped old, by a new frame made
 * by make (a private copy, or system memory for a device frame), under an
 * invalidation of event.  Returns 0 (done, or the entry changed meanwhile:
 * the caller looks again) or -ENOMEM.
 */
static int replace_entry(struct umn_model *model, struct umnp_region *r,
			 unsigned long addr, struct umn_model_frame *old,
			 enum umn_notifier_event event, unsigned int new_flags)
{
	struct umn_notifier_range range;
	struct umn_model_frame *f = NULL;
	unsigned long s, e;
	unsigned int index;
	struct umnp_pte *pte;
	int ret = 0;

	entry_extent(r, addr, &s, &e);
	umn_notifier_range_init(&range, event, 0, model->mm, s, e);
	umn_notifier_invalidate_range_start(&range);
	pthread_mutex_lock(&model->ptl);
	pte = umnp_model_pte(model, r, addr, false, &index);
	if (pte && pte->frame == old &&
	    !(pte->flags & (UMNP_PTE_MIGRATING | UMNP_PTE_EXCL))) {
		f = umnp_model_frame_alloc(model->pool, old->order, NULL,
					   old->zero ? NULL : old->data);
		if (f) {
			pte->frame = f;
			pte->flags = new_flags | UMNP_PTE_YOUNG;
		} else {
			ret = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&model->ptl);
	umn_notifier_invalidate_range_end(&range);
	if (f)
		umnp_model_frame_put(old); /* the entry's reference */
	return ret;
}

/* CPU access to an exclusive entry: revoke it (EXCLUSIVE, owner NULL). */
static void revoke_exclusive(struct umn_model *model, struct umnp_region *r,
			     unsigned long addr)
{
	struct umn_notifier_range range;
	struct umnp_pte *pte;
	unsigned long s, e;
	unsigned int index;

	entry_extent(r, addr, &s, &e);
	umn_notifier_range_init_owner(&range, UMN_NOTIFY_EXCLUSIVE, 0,
				      model->mm, s, e, NULL);
	umn_notifier_invalidate_range_start(&range);
	pthread_mutex_lock(&model->ptl);
	pte = umnp_model_pte(model, r, addr, false, &index);
	if (pte) {
		pte->flags &= ~UMNP_PTE_EXCL;
		pte->excl_owner = NULL;
	}
	pthread_mutex_unlock(&model->ptl);
	umn_notifier_invalidate_range_end(&range);
}

/*
 * umnp_model_fault - a CPU fault at addr (mmap lock held, read or write;
 * ptl not held).  Returns 0 when the entry allows the access, -EFAULT (no
 * region), -EACCES (protection), -ENOMEM.
 */
int umnp_model_fault(struct umn_model *model, unsigned long addr, bool write)
{
	struct umnp_region *r;
	struct umn_model_frame *old;
	struct umnp_pte *pte;
	unsigned int index, flags;
	int ret;

	addr &= ~PAGE_MASK_;
again:
	r = umnp_model_find_region(model, addr);
	if (!r)
		return -EFAULT;
	if (!(r->prot & UMN_MODEL_PROT_READ) ||
	    (write && !(r->prot & UMN_MODEL_PROT_WRITE)))
		return -EACCES;

	pthread_mutex_lock(&model->ptl);
	pte = umnp_model_pte(model, r, addr, true, &index);
	if (!pte) {
		pthread_mutex_unlock(&model->ptl);
		return -ENOMEM;
	}
	if (pte->flags & UMNP_PTE_MIGRATING) {     /* wait for migration */
		pthread_mutex_unlock(&model->ptl);
		sched_yield();
		goto again;
	}
	if (pte->flags & UMNP_PTE_EXCL) {          /* revoke device access */
		pthread_mutex_unlock(&model->ptl);
		revoke_exclusive(model, r, addr);
		goto again;
	}
	if (!pte->frame) {                         /* fill */
		ret = fault_none_locked(model, r, addr, pte, write);
		pthread_mutex_unlock(&model->ptl);
		return ret;
	}
	old = pte->frame;
	flags = pte->flags;
	if (old->owner) {                          /* device frame: bring back */
		pthread_mutex_unlock(&model->ptl);
		ret = replace_entry(model, r, addr, old, UMN_NOTIFY_MIGRATE,
				    flags & UMNP_PTE_WRITE);
		if (ret)
			return ret;
		goto again;
	}
	if (write && !(flags & UMNP_PTE_WRITE)) {
		/* Shared memory, or the last user of a private frame:
		 * make the entry writable in place (kernel: wp_page_reuse). */
		if (r->file || (!old->zero && umnp_model_frame_refs(old) == 1)) {
			pte->flags |= UMNP_PTE_WRITE;
		} else {                           /* break COW */
			pthread_mutex_unlock(&model->ptl);
			ret = replace_entry(model, r, addr, old,
					    UMN_NOTIFY_CLEAR,
					    UMNP_PTE_WRITE | UMNP_PTE_DIRTY);
			if (ret)
				return ret;
			goto again;
		}
	}
	pte->flags |= UMNP_PTE_YOUNG | (write ? UMNP_PTE_DIRTY : 0);
	pthread_mutex_unlock(&model->ptl);
	return 0;
}

/* ---- CPU accessors -------------------------------------------------------- */

static int cpu_access(struct umn_model *model, unsigned long addr, void *buf,
		      size_t len, bool write)
{
	size_t done = 0;
	int ret = 0;

	if (!model || (!buf && len))
		return -EINVAL;
	umn_mmap_read_lock(model->mm);
	while (done < len) {
		unsigned long a = addr + done;
		size_t in = a & PAGE_MASK_, n = PAGE_SIZE_ - in;
		struct umnp_region *r;
		struct umnp_pte *pte;
		unsigned int index;

		if (n > len - done)
			n = len - done;
		ret = umnp_model_fault(model, a, write);
		if (ret)
			break;
		r = umnp_model_find_region(model, a);
		pthread_mutex_lock(&model->ptl);
		pte = umnp_model_pte(model, r, a, false, &index);
		if (!pte || !pte->frame || pte->frame->owner ||
		    (pte->flags & (UMNP_PTE_MIGRATING | UMNP_PTE_EXCL)) ||
		    (write && !(pte->flags & UMNP_PTE_WRITE))) {
			pthread_mutex_unlock(&model->ptl); /* raced: again */
			continue;
		}
		if (write)
			memcpy((char *)umn_model_frame_data(pte->frame, index) + in,
			       (char *)buf + done, n);
		else
			memcpy((char *)buf + done,
			       (char *)umn_model_frame_data(pte->frame, index) + in,
			       n);
		pthread_mutex_unlock(&model->ptl);
		done += n;
	}
	umn_mmap_read_unlock(model->mm);
	return ret;
}

int umn_model_read(struct umn_model *model, unsigned long addr, void *buf,
		   size_t len)
{
	return cpu_access(model, addr, buf, len, false);
}

int umn_model_write(struct umn_model *model, unsigned long addr,
		    const void *buf, size_t len)
{
	return cpu_access(model, addr, (void *)buf, len, true);
}

/* ---- reclaim aging ------------------------------------------------------- */

/* Clear the young bit of the page at addr (ptl taken here); -1: absent. */
static int take_young(struct umn_model *model, unsigned long addr, bool clear)
{
	struct umnp_region *r = umnp_model_find_region(model, addr);
	struct umnp_pte *pte;
	unsigned int index;
	int young = -1;

	if (!r)
		return -1;
	pthread_mutex_lock(&model->ptl);
	pte = umnp_model_pte(model, r, addr, false, &index);
	if (pte && pte->frame) {
		young = !!(pte->flags & UMNP_PTE_YOUNG);
		if (clear)
			pte->flags &= ~UMNP_PTE_YOUNG;
	}
	pthread_mutex_unlock(&model->ptl);
	return young;
}

static long age(struct umn_model *model, unsigned long addr, size_t len,
		bool flush)
{
	long nr = 0;

	if (!model || (addr & PAGE_MASK_))
		return -EINVAL;
	umn_mmap_read_lock(model->mm);
	for (unsigned long a = addr; a < addr + len; a += PAGE_SIZE_) {
		int young = take_young(model, a, true);

		if (young < 0)
			continue;
		/* The secondary MMUs' answer, outside the ptl (their
		 * callbacks may take locks that nest outside it). */
		if (flush)
			young |= umn_notifier_clear_flush_young(model->mm, a,
								a + PAGE_SIZE_);
		else
			young |= umn_notifier_clear_young(model->mm, a,
							  a + PAGE_SIZE_);
		nr += young != 0;
	}
	umn_mmap_read_unlock(model->mm);
	return nr;
}

long umn_model_clear_flush_young(struct umn_model *model, unsigned long addr,
				 size_t len)
{
	return age(model, addr, len, true);
}

long umn_model_clear_young(struct umn_model *model, unsigned long addr,
			   size_t len)
{
	return age(model, addr, len, false);
}

int umn_model_test_young(struct umn_model *model, unsigned long addr)
{
	int young;

	if (!model)
		return -EINVAL;
	addr &= ~PAGE_MASK_;
	umn_mmap_read_lock(model->mm);
	young = take_young(model, addr, false);
	if (young <= 0)
		young = umn_notifier_test_young(model->mm, addr) != 0;
	umn_mmap_read_unlock(model->mm);
	return young;
}

/* ---- same-page merging ----------------------------------------------------- */

/* The present private 4 KiB system frame at addr, or NULL (ptl held). */
static struct umn_model_frame *mergeable_locked(struct umn_model *model,
						struct umnp_region *r,
						unsigned long addr,
						struct umnp_pte **ptep)
{
	unsigned int index;
	struct umnp_pte *pte;

	if (!r || !(r->flags & UMN_MODEL_MAP_PRIVATE) || region_huge(r))
		return NULL;
	pte = umnp_model_pte(model, r, addr, false, &index);
	if (!pte || !pte->frame || pte->frame->owner || pte->frame->zero ||
	    (pte->flags & (UMNP_PTE_MIGRATING | UMNP_PTE_EXCL)))
		return NULL;
	*ptep = pte;
	return pte->frame;
}

int umn_model_merge(struct umn_model *model, unsigned long addr,
		    unsigned long src)
{
	struct umn_model_frame *fa, *fs, *old = NULL;
	struct umnp_region *ra, *rs;
	struct umn_notifier_range range;
	struct umnp_pte *pa, *ps;
	int ret = -EAGAIN;

	if (!model || (addr & PAGE_MASK_) || (src & PAGE_MASK_) || addr == src)
		return -EINVAL;
	umn_mmap_read_lock(model->mm);
	ra = umnp_model_find_region(model, addr);
	rs = umnp_model_find_region(model, src);
	if (!ra || !rs) {
		ret = -EFAULT;
		goto out;
	}

	/* 1. Write-protect the page we keep (kernel: write_protect_page). */
	umn_notifier_range_init(&range, UMN_NOTIFY_CLEAR, 0, model->mm, src,
				src + PAGE_SIZE_);
	umn_notifier_invalidate_range_start(&range);
	pthread_mutex_lock(&model->ptl);
	fs = mergeable_locked(model, rs, src, &ps);
	if (fs)
		ps->flags &= ~UMNP_PTE_WRITE;
	pthread_mutex_unlock(&model->ptl);
	umn_notifier_invalidate_range_end(&range);
	if (!fs)
		goto out;

	/* 2. Point addr at it, announcing the new entry with change_pte
	 * between start and end (kernel: replace_page). */
	umn_notifier_range_init(&range, UMN_NOTIFY_CLEAR, 0, model->mm, addr,
				addr + PAGE_SIZE_);
	umn_notifier_invalidate_range_start(&range);
	pthread_mutex_lock(&model->ptl);
	fa = mergeable_locked(model, ra, addr, &pa);
	if (fa && fa != fs && mergeable_locked(model, rs, src, &ps) == fs &&
	    !(ps->flags & UMNP_PTE_WRITE) &&
	    !memcmp(fa->data, fs->data, PAGE_SIZE_)) {
		old = fa;
		umnp_model_frame_get(fs);
		pa->frame = fs;
		pa->flags = UMNP_PTE_YOUNG;
		ret = 0;
	}
	pthread_mutex_unlock(&model->ptl);
	if (!ret)
		umn_notifier_change_pte(model->mm, addr, fs->pfn);
	umn_notifier_invalidate_range_end(&range);
	if (old)
		umnp_model_frame_put(old);
out:
	umn_mmap_read_unlock(model->mm);
	return ret;
}

/* ---- what a secondary MMU sees --------------------------------------------- */

/* Describe *pte for a walker whose local device is dev (ptl held). */
static void describe(const struct umnp_region *r, const struct umnp_pte *pte,
		     unsigned int index, void *dev, struct umn_model_pfn *out)
{
	struct umn_model_frame *f = pte->frame;

	memset(out, 0, sizeof(*out));
	if (pte->flags & UMNP_PTE_MIGRATING) {
		out->flags = UMN_MODEL_PFN_MIGRATING;
		out->frame = f;
		return;
	}
	if (!f)
		return;
	out->frame = f;
	out->index = index;
	out->pfn = f->pfn + index;
	if (f->owner && f->owner != dev) {
		out->flags = UMN_MODEL_PFN_DEVICE_REMOTE;
		out->owner = f->owner;
		return;
	}
	out->flags = UMN_MODEL_PFN_VALID;
	if (pte->flags & UMNP_PTE_WRITE)
		out->flags |= UMN_MODEL_PFN_WRITE;
	if (f->zero)
		out->flags |= UMN_MODEL_PFN_ZERO;
	if (r && region_huge(r))
		out->flags |= UMN_MODEL_PFN_HUGE;
	if (f->owner) {
		out->flags |= UMN_MODEL_PFN_DEVICE;
		out->owner = f->owner;
	}
	if (pte->flags & UMNP_PTE_EXCL) {
		out->flags |= UMN_MODEL_PFN_EXCLUSIVE;
		out->owner = pte->excl_owner;
	}
}

int umn_model_lookup(struct umn_model *model, unsigned long addr,
		     struct umn_model_pfn *out)
{
	struct umnp_pmd *pmd;
	struct umnp_pte *pte = NULL;
	unsigned int i;

	if (!model || !out || addr < UMN_MODEL_VA_BASE ||
	    addr >= UMN_MODEL_VA_END)
		return -EINVAL;
	/* No region lookup: the caller need not hold the mmap lock.  A huge
	 * entry, if any, lives in the pmd; else the pte table. */
	pmd = &model->pmds[(addr - UMN_MODEL_VA_BASE) >> UMN_MODEL_HUGE_SHIFT];
	i = (addr >> UMN_MODEL_PAGE_SHIFT) & (UMN_MODEL_HUGE_PAGES - 1);
	pthread_mutex_lock(&model->ptl);
	if (pmd->huge.frame || (pmd->huge.flags & UMNP_PTE_MIGRATING)) {
		struct umnp_region huge = { .flags = UMN_MODEL_MAP_HUGE };

		pte = &pmd->huge;
		describe(&huge, pte, i, pte->frame ? pte->frame->owner : NULL,
			 out);
	} else if (pmd->ptes) {
		pte = &pmd->ptes[i];
		/* As seen by the frame's own device: device frames VALID. */
		describe(NULL, pte, 0, pte->frame ? pte->frame->owner : NULL,
			 out);
	} else {
		memset(out, 0, sizeof(*out));
	}
	pthread_mutex_unlock(&model->ptl);
	return 0;
}

/*
 * umn_model_range_fault - the walker.  One page at a time: check the
 * caller's sequence (an invalidation of its subscription makes all it has
 * collected suspect: -EBUSY), look at the entry under the ptl, fault it in
 * when the request needs more than the entry gives, and look again.
 */
int umn_model_range_fault(struct umn_model *model, struct umn_model_range *rg)
{
	bool write = rg->default_flags & UMN_MODEL_REQ_WRITE;
	bool fault = write || (rg->default_flags & UMN_MODEL_REQ_FAULT);
	unsigned long addr = rg->start;

	if (!model || !rg->pfns || rg->start >= rg->end ||
	    ((rg->start | rg->end) & PAGE_MASK_) ||
	    rg->start < UMN_MODEL_VA_BASE || rg->end > UMN_MODEL_VA_END)
		return -EINVAL;
	umn_mmap_assert_locked(model->mm);

	while (addr < rg->end) {
		struct umn_model_pfn *out =
			&rg->pfns[(addr - rg->start) >> UMN_MODEL_PAGE_SHIFT];
		struct umnp_region *r;
		struct umnp_pte *pte;
		unsigned int index;
		bool need = false;
		int ret;

		if (rg->notifier &&
		    umn_interval_check_retry(rg->notifier, rg->notifier_seq))
			return -EBUSY;
		r = umnp_model_find_region(model, addr);
		if (!r || !(r->prot & UMN_MODEL_PROT_READ)) {
			if (fault)
				return -EFAULT;
			memset(out, 0, sizeof(*out));
			out->flags = UMN_MODEL_PFN_ERROR;
			addr += PAGE_SIZE_;
			continue;
		}
		if (write && !(r->prot & UMN_MODEL_PROT_WRITE))
			return -EPERM;

		pthread_mutex_lock(&model->ptl);
		pte = umnp_model_pte(model, r, addr, false, &index);
		if (pte) {
			describe(r, pte, index, rg->dev_private_owner, out);
		} else {
			memset(out, 0, sizeof(*out));
		}
		pthread_mutex_unlock(&model->ptl);

		if (out->flags & UMN_MODEL_PFN_MIGRATING) {
			sched_yield();  /* a migration is finishing: wait */
			continue;
		}
		if (fault) {
			if (!(out->flags & UMN_MODEL_PFN_VALID) ||
			    (out->flags & UMN_MODEL_PFN_EXCLUSIVE))
				need = true;   /* absent, remote, exclusive */
			else if (write && !(out->flags & UMN_MODEL_PFN_WRITE))
				need = !(out->flags & UMN_MODEL_PFN_DEVICE);
		}
		if (need) {
			ret = umnp_model_fault(model, addr, write);
			if (ret == -EACCES)
				return write ? -EPERM : -EFAULT;
			if (ret)
				return ret;
			continue;  /* look again (and re-check the sequence) */
		}
		addr += PAGE_SIZE_;
	}
	return 0;
}

/* ---- migration --------------------------------------------------------------- */

int umn_model_migrate_setup(struct umn_model *model,
			    struct umn_model_migrate *m)
{
	unsigned long npages, i;

	if (!model || !m || m->start >= m->end ||
	    ((m->start | m->end) & PAGE_MASK_) ||
	    m->start < UMN_MODEL_VA_BASE || m->end > UMN_MODEL_VA_END ||
	    (m->direction != UMN_MODEL_MIGRATE_TO_DEVICE &&
	     m->direction != UMN_MODEL_MIGRATE_TO_SYSTEM) || !m->owner)
		return -EINVAL;
	npages = (m->end - m->start) >> UMN_MODEL_PAGE_SHIFT;
	if (npages > UMN_MODEL_MIGRATE_MAX_PAGES)
		return -EINVAL;
	umn_mmap_assert_locked(model->mm);
	for (i = 0; i < npages; i++) {
		struct umnp_region *r = umnp_model_find_region(
			model, m->start + (i << UMN_MODEL_PAGE_SHIFT));

		if (!r || !(r->prot & UMN_MODEL_PROT_READ))
			return -EINVAL;
	}

	umn_notifier_range_init_owner(&m->range, UMN_NOTIFY_MIGRATE, 0,
				      model->mm, m->start, m->end, m->owner);
	umn_notifier_invalidate_range_start(&m->range);

	m->cpages = 0;
	pthread_mutex_lock(&model->ptl);
	for (i = 0; i < npages; i++) {
		unsigned long addr = m->start + (i << UMN_MODEL_PAGE_SHIFT);
		struct umnp_region *r = umnp_model_find_region(model, addr);
		struct umnp_pte *pte;
		unsigned int index;
		struct umn_model_frame *f;

		m->src[i] = m->dst[i] = NULL;
		m->flags[i] = 0;
		/* Only private 4 KiB memory moves (kernel: anonymous). */
		if (!(r->flags & UMN_MODEL_MAP_PRIVATE) || region_huge(r))
			continue;
		pte = umnp_model_pte(model, r, addr, true, &index);
		if (!pte || (pte->flags & (UMNP_PTE_MIGRATING | UMNP_PTE_EXCL)))
			continue;
		f = pte->frame;
		if (m->direction == UMN_MODEL_MIGRATE_TO_DEVICE) {
			if (f && f->owner)
				continue;       /* already device memory */
			if (f ? (pte->flags & UMNP_PTE_WRITE)
			      : (r->prot & UMN_MODEL_PROT_WRITE))
				m->flags[i] |= UMN_MODEL_MIGRATE_WRITE;
		} else {
			if (!f || f->owner != m->owner)
				continue;
			if (pte->flags & UMNP_PTE_WRITE)
				m->flags[i] |= UMN_MODEL_MIGRATE_WRITE;
		}
		if (f)
			umnp_model_frame_get(f); /* the migration's pin */
		m->src[i] = f;
		m->flags[i] |= UMN_MODEL_MIGRATE_COLLECTED;
		pte->flags |= UMNP_PTE_MIGRATING;
		m->cpages++;
	}
	pthread_mutex_unlock(&model->ptl);
	return 0;
}

long umn_model_migrate_pages(struct umn_model *model,
			     struct umn_model_migrate *m)
{
	unsigned long npages = (m->end - m->start) >> UMN_MODEL_PAGE_SHIFT;
	void *owner = m->direction == UMN_MODEL_MIGRATE_TO_DEVICE ? m->owner
								 : NULL;
	long done = 0;

	/* Copy outside the ptl: the sources are pinned and CPU access
	 * waits on the migration entries. */
	for (unsigned long i = 0; i < npages; i++) {
		struct umn_model_frame *s = m->src[i];

		if (!(m->flags[i] & UMN_MODEL_MIGRATE_COLLECTED))
			continue;
		m->dst[i] = umnp_model_frame_alloc(model->pool, 0, owner,
						   s && !s->zero ? s->data : NULL);
	}
	pthread_mutex_lock(&model->ptl);
	for (unsigned long i = 0; i < npages; i++) {
		unsigned long addr = m->start + (i << UMN_MODEL_PAGE_SHIFT);
		struct umnp_region *r;
		struct umnp_pte *pte = NULL;
		unsigned int index;

		if (!m->dst[i])
			continue;
		r = umnp_model_find_region(model, addr);
		if (r)
			pte = umnp_model_pte(model, r, addr, false, &index);
		if (!pte || !(pte->flags & UMNP_PTE_MIGRATING) ||
		    pte->frame != m->src[i]) {
			/* Zapped meanwhile (madvise): nothing to move. */
			umnp_model_frame_put(m->dst[i]);
			m->dst[i] = NULL;
			continue;
		}
		pte->frame = m->dst[i];  /* dst's reference moves to the entry */
		pte->flags = UMNP_PTE_YOUNG |
			((m->flags[i] & UMN_MODEL_MIGRATE_WRITE) ? UMNP_PTE_WRITE
								 : 0);
		m->flags[i] |= UMN_MODEL_MIGRATE_DONE;
		done++;
	}
	pthread_mutex_unlock(&model->ptl);
	return done;
}

void umn_model_migrate_finalize(struct umn_model *model,
				struct umn_model_migrate *m)
{
	unsigned long npages = (m->end - m->start) >> UMN_MODEL_PAGE_SHIFT;

	/* Restore what did not move. */
	pthread_mutex_lock(&model->ptl);
	for (unsigned long i = 0; i < npages; i++) {
		unsigned long addr = m->start + (i << UMN_MODEL_PAGE_SHIFT);
		struct umnp_region *r;
		struct umnp_pte *pte;
		unsigned int index;

		if ((m->flags[i] & (UMN_MODEL_MIGRATE_COLLECTED |
				    UMN_MODEL_MIGRATE_DONE)) !=
		    UMN_MODEL_MIGRATE_COLLECTED)
			continue;
		r = umnp_model_find_region(model, addr);
		pte = r ? umnp_model_pte(model, r, addr, false, &index) : NULL;
		if (pte && (pte->flags & UMNP_PTE_MIGRATING) &&
		    pte->frame == m->src[i])
			pte->flags &= ~UMNP_PTE_MIGRATING;
	}
	pthread_mutex_unlock(&model->ptl);

	umn_notifier_invalidate_range_end(&m->range);

	/* Free the sources only now: the device has remapped. */
	for (unsigned long i = 0; i < npages; i++) {
		if (!m->src[i])
			continue;
		if (m->flags[i] & UMN_MODEL_MIGRATE_DONE)
			umnp_model_frame_put(m->src[i]); /* the old entry's */
		umnp_model_frame_put(m->src[i]);         /* the pin */
		m->src[i] = NULL;
	}
}

/* ---- exclusive device access ----------------------------------------------- */

int umn_model_make_exclusive(struct umn_model *model, unsigned long start,
			     unsigned long end, void *owner,
			     struct umn_model_pfn *pfns)
{
	struct umn_notifier_range range;
	unsigned long addr;
	int ret;

	if (!model || !owner || start >= end || ((start | end) & PAGE_MASK_) ||
	    start < UMN_MODEL_VA_BASE || end > UMN_MODEL_VA_END)
		return -EINVAL;
	umn_mmap_assert_locked(model->mm);
	for (addr = start; addr < end; addr += PAGE_SIZE_) {
		struct umnp_region *r = umnp_model_find_region(model, addr);

		if (!r || !(r->prot & UMN_MODEL_PROT_READ))
			return -EFAULT;
		if (!(r->prot & UMN_MODEL_PROT_WRITE))
			return -EPERM;
		if (!(r->flags & UMN_MODEL_MAP_PRIVATE) || region_huge(r))
			return -EINVAL;
		ret = umnp_model_fault(model, addr, true);
		if (ret)
			return ret == -EACCES ? -EPERM : ret;
	}

	umn_notifier_range_init_owner(&range, UMN_NOTIFY_EXCLUSIVE, 0,
				      model->mm, start, end, owner);
	umn_notifier_invalidate_range_start(&range);
	pthread_mutex_lock(&model->ptl);
	for (addr = start; addr < end; addr += PAGE_SIZE_) {
		struct umnp_region *r = umnp_model_find_region(model, addr);
		struct umnp_pte *pte;
		unsigned int index;
		struct umn_model_pfn dummy, *out = pfns ?
			&pfns[(addr - start) >> UMN_MODEL_PAGE_SHIFT] : &dummy;

		pte = umnp_model_pte(model, r, addr, false, &index);
		memset(out, 0, sizeof(*out));
		/* Lost a race with another fault: leave it (reported as
		 * not exclusive in pfns). */
		if (!pte || !pte->frame || pte->frame->owner ||
		    !(pte->flags & UMNP_PTE_WRITE) ||
		    (pte->flags & UMNP_PTE_MIGRATING))
			continue;
		pte->flags |= UMNP_PTE_EXCL;
		pte->excl_owner = owner;
		describe(r, pte, index, owner, out);
	}
	pthread_mutex_unlock(&model->ptl);
	umn_notifier_invalidate_range_end(&range);
	return 0;
}
