/* SPDX-License-Identifier: MIT */
/*
 * The model address space: regions and the operations that change them
 * (mmap, munmap, mprotect, madvise, mremap, fork, the OOM-reaper zap,
 * teardown).  Faults, the walker, migration and exclusive access are in
 * fault.c.
 *
 * Every operation here has the same shape, the one a primary MMU on umn
 * follows (kernel: mm/mmap.c, mm/mprotect.c, mm/madvise.c):
 *
 *	umn_mmap_write_lock(mm);                 regions cannot change under us
 *	... find and split the regions ...
 *	umn_notifier_range_init(&range, EVENT, 0, mm, start, end);
 *	umn_notifier_invalidate_range_start(&range);   secondary MMUs drop
 *	pthread_mutex_lock(&model->ptl);
 *	... change the page-table entries, collect frames to free ...
 *	pthread_mutex_unlock(&model->ptl);
 *	umn_notifier_invalidate_range_end(&range);
 *	... free the collected frames (after end, like mmu_gather) ...
 *	umn_mmap_write_unlock(mm);
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "model/internal.h"

#define PAGE_MASK_ (UMN_MODEL_PAGE_SIZE - 1)
#define HUGE_MASK_ (UMN_MODEL_HUGE_SIZE - 1)
#define UMNP_MODEL_MAGIC 0x6d6f646cu

static void model_exit_mmap(struct umn_mm *mm, void *owner);

static const struct umn_mm_owner_ops model_owner_ops = {
	.exit_mmap = model_exit_mmap,
};

/* ---- page table ---------------------------------------------------------- */

static struct umnp_pmd *pmd_of(struct umn_model *model, unsigned long addr)
{
	return &model->pmds[(addr - UMN_MODEL_VA_BASE) >> UMN_MODEL_HUGE_SHIFT];
}

/*
 * umnp_model_pte - the entry mapping addr in region (ptl held).  For a huge
 * region it is the 2 MiB entry and *index the 4 KiB page inside it.  With
 * alloc, a missing pte table is allocated.  NULL: no table (or no memory).
 */
struct umnp_pte *umnp_model_pte(struct umn_model *model,
				const struct umnp_region *region,
				unsigned long addr, bool alloc,
				unsigned int *index)
{
	struct umnp_pmd *pmd = pmd_of(model, addr);
	unsigned int i = (addr >> UMN_MODEL_PAGE_SHIFT) & (UMN_MODEL_HUGE_PAGES - 1);

	if (region->flags & UMN_MODEL_MAP_HUGE) {
		*index = i;
		return &pmd->huge;
	}
	*index = 0;
	if (!pmd->ptes) {
		if (!alloc)
			return NULL;
		pmd->ptes = umnp_calloc(UMN_MODEL_HUGE_PAGES, sizeof(*pmd->ptes));
		if (!pmd->ptes)
			return NULL;
	}
	return &pmd->ptes[i];
}

/*
 * umnp_model_zap_locked - clear the entries of region in [start, end)
 * (ptl held); their frame references go to gather, to be dropped after
 * invalidate_range_end.
 */
void umnp_model_zap_locked(struct umn_model *model,
			   const struct umnp_region *region,
			   unsigned long start, unsigned long end,
			   bool private_only, struct umnp_gather *gather)
{
	bool huge = region->flags & UMN_MODEL_MAP_HUGE;
	unsigned long step = huge ? UMN_MODEL_HUGE_SIZE : UMN_MODEL_PAGE_SIZE;
	unsigned long addr;

	if (private_only && !(region->flags & UMN_MODEL_MAP_PRIVATE))
		return;
	if (start < region->start)
		start = region->start;
	if (end > region->end)
		end = region->end;
	for (addr = start; addr < end; addr += step) {
		unsigned int index;
		struct umnp_pte *pte = umnp_model_pte(model, region, addr,
						      false, &index);

		if (!pte)
			continue;
		if (pte->frame)
			umnp_model_gather_add(gather, pte->frame);
		memset(pte, 0, sizeof(*pte));
	}
}

/* ---- regions (under the mmap lock) --------------------------------------- */

/* The region containing addr, or NULL. */
struct umnp_region *umnp_model_find_region(struct umn_model *model,
					   unsigned long addr)
{
	struct umnp_region *r;

	for (r = model->regions; r && r->start <= addr; r = r->next)
		if (addr < r->end)
			return r;
	return NULL;
}

static bool range_ok(unsigned long addr, size_t len)
{
	return len && !(addr & PAGE_MASK_) && !(len & PAGE_MASK_) &&
	       addr >= UMN_MODEL_VA_BASE && addr < UMN_MODEL_VA_END &&
	       len <= UMN_MODEL_VA_END - addr;
}

static void region_insert(struct umn_model *model, struct umnp_region *n)
{
	struct umnp_region **pp = &model->regions;

	while (*pp && (*pp)->start < n->start)
		pp = &(*pp)->next;
	n->next = *pp;
	*pp = n;
}

static void region_free(struct umnp_region *r)
{
	umn_model_file_put(r->file);
	umnp_free(r);
}

/* May a region boundary fall at addr?  Not inside a 2 MiB frame. */
static int check_split(struct umn_model *model, unsigned long addr)
{
	struct umnp_region *r = umnp_model_find_region(model, addr);

	if (r && r->start != addr && (r->flags & UMN_MODEL_MAP_HUGE) &&
	    (addr & HUGE_MASK_))
		return -EINVAL;
	return 0;
}

/* Make addr a region boundary (kernel: split_vma).  Entries stay put. */
static int split_at(struct umn_model *model, unsigned long addr)
{
	struct umnp_region *r = umnp_model_find_region(model, addr);
	struct umnp_region *n;

	if (!r || r->start == addr)
		return 0;
	n = umnp_malloc(sizeof(*n));
	if (!n)
		return -ENOMEM;
	*n = *r;
	n->start = addr;
	if (n->file) {
		umnp_model_file_get(n->file);
		n->pgoff += (addr - r->start) >> UMN_MODEL_PAGE_SHIFT;
	}
	r->end = addr;
	n->next = r->next;
	r->next = n;
	return 0;
}

static bool range_has_region(struct umn_model *model, unsigned long start,
			     unsigned long end)
{
	for (struct umnp_region *r = model->regions; r; r = r->next)
		if (r->start < end && start < r->end)
			return true;
	return false;
}

static bool range_covered(struct umn_model *model, unsigned long start,
			  unsigned long end)
{
	unsigned long addr = start;

	while (addr < end) {
		struct umnp_region *r = umnp_model_find_region(model, addr);

		if (!r)
			return false;
		addr = r->end;
	}
	return true;
}

/* A free range of len bytes aligned to align, at hint if possible. */
static unsigned long find_free(struct umn_model *model, unsigned long hint,
			       size_t len, unsigned long align)
{
	unsigned long addr = UMN_MODEL_VA_BASE;

	if (hint && range_ok(hint, len) && !(hint & (align - 1)) &&
	    !range_has_region(model, hint, hint + len))
		return hint;
	for (struct umnp_region *r = model->regions;; r = r->next) {
		unsigned long limit = r ? r->start : UMN_MODEL_VA_END;

		addr = (addr + align - 1) & ~(align - 1);
		if (addr < limit && limit - addr >= len)
			return addr;
		if (!r)
			return 0;
		if (r->end > addr)
			addr = r->end;
	}
}

/*
 * do_munmap - unmap [start, end) with the mmap write lock held.  This is
 * the template: split, one UNMAP range, start, zap under the ptl, end,
 * free the frames, drop the regions.
 */
static int do_munmap(struct umn_model *model, unsigned long start,
		     unsigned long end)
{
	struct umn_notifier_range range;
	struct umnp_gather gather = { 0 };
	struct umnp_region **pp, *r;
	int ret;

	umn_mmap_assert_write_locked(model->mm);
	if (!range_has_region(model, start, end))
		return 0;
	ret = check_split(model, start);
	if (!ret)
		ret = check_split(model, end);
	if (!ret)
		ret = split_at(model, start);
	if (!ret)
		ret = split_at(model, end);
	if (ret)
		return ret;

	/* 1. Tell the secondary MMUs: from here on they must not use it. */
	umn_notifier_range_init(&range, UMN_NOTIFY_UNMAP, 0, model->mm, start,
				end);
	umn_notifier_invalidate_range_start(&range);

	/* 2. Clear the entries; keep the frames until the end. */
	pthread_mutex_lock(&model->ptl);
	for (r = model->regions; r && r->start < end; r = r->next)
		if (r->end > start)
			umnp_model_zap_locked(model, r, start, end, false,
					      &gather);
	pthread_mutex_unlock(&model->ptl);

	/* 3. The change is complete. */
	umn_notifier_invalidate_range_end(&range);

	/* 4. Free the frames and the regions. */
	umnp_model_gather_free(&gather);
	pp = &model->regions;
	while ((r = *pp)) {
		if (r->start >= start && r->end <= end) {
			*pp = r->next;
			region_free(r);
		} else {
			pp = &r->next;
		}
	}
	return 0;
}

/* ---- life cycle ---------------------------------------------------------- */

static struct umn_model *model_alloc(struct umnp_model_pool *pool)
{
	struct umn_model *model = umnp_calloc(1, sizeof(*model));

	if (!model)
		return NULL;
	model->pmds = umnp_calloc(UMNP_NR_PMDS, sizeof(*model->pmds));
	model->mm = umn_mm_new();
	if (!model->pmds || !model->mm)
		goto fail;
	pthread_mutex_init(&model->ptl, NULL);
	model->pool = pool;
	model->magic = UMNP_MODEL_MAGIC;
	umn_mm_set_owner(model->mm, &model_owner_ops, model);
	return model;
fail:
	if (model->mm)
		umn_mm_put(model->mm);
	umnp_free(model->pmds);
	umnp_free(model);
	return NULL;
}

struct umn_model *umn_model_new(unsigned long max_frames)
{
	struct umnp_model_pool *pool = umnp_model_pool_new(max_frames);
	struct umn_model *model;

	if (!pool) {
		errno = ENOMEM;
		return NULL;
	}
	model = model_alloc(pool);
	if (!model) {
		umnp_model_pool_put(pool);
		errno = ENOMEM;
	}
	return model;
}

void umn_model_destroy(struct umn_model *model)
{
	if (model)
		umn_mm_put(model->mm);
}

/*
 * model_exit_mmap - called by the last umn_mm_put(), after
 * umn_notifier_release(): unmap everything (interval subscriptions still
 * get this UNMAP), free the page table and the model.
 */
static void model_exit_mmap(struct umn_mm *mm, void *owner)
{
	struct umn_model *model = owner;
	struct umnp_region *r;

	umn_mmap_write_lock(mm);
	if (model->regions)
		do_munmap(model, UMN_MODEL_VA_BASE, UMN_MODEL_VA_END);
	umn_mmap_write_unlock(mm);

	for (unsigned long i = 0; i < UMNP_NR_PMDS; i++)
		umnp_free(model->pmds[i].ptes);
	while ((r = model->regions)) {
		model->regions = r->next;
		region_free(r);
	}
	umnp_free(model->pmds);
	pthread_mutex_destroy(&model->ptl);
	umnp_model_pool_put(model->pool);
	model->magic = 0;
	umnp_free(model);
}

struct umn_mm *umn_model_mm(struct umn_model *model)
{
	return model->mm;
}

struct umn_model *umn_model_from_mm(struct umn_mm *mm)
{
	struct umn_model *model = mm ? umn_mm_owner(mm) : NULL;

	if (!model || model->magic != UMNP_MODEL_MAGIC)
		return NULL;
	return model;
}

unsigned long umn_model_frames_in_use(struct umn_model *model)
{
	return __atomic_load_n(&model->pool->in_use, __ATOMIC_RELAXED);
}

/* ---- operations ------------------------------------------------------------ */

int umn_model_mmap(struct umn_model *model, unsigned long addr, size_t len,
		   int prot, int flags, struct umn_model_file *file,
		   size_t off, unsigned long *out)
{
	bool huge = flags & UMN_MODEL_MAP_HUGE;
	unsigned long align = huge ? UMN_MODEL_HUGE_SIZE : UMN_MODEL_PAGE_SIZE;
	int kind = flags & (UMN_MODEL_MAP_PRIVATE | UMN_MODEL_MAP_SHARED);
	struct umnp_region *r;
	int ret = 0;

	if (!model || !out || !len || (len & (align - 1)) ||
	    (prot & ~(UMN_MODEL_PROT_READ | UMN_MODEL_PROT_WRITE)) ||
	    (kind != UMN_MODEL_MAP_PRIVATE && kind != UMN_MODEL_MAP_SHARED) ||
	    (huge && (kind != UMN_MODEL_MAP_PRIVATE || file)) ||
	    (file && (kind != UMN_MODEL_MAP_SHARED || (off & PAGE_MASK_))))
		return -EINVAL;
	if ((flags & UMN_MODEL_MAP_FIXED) &&
	    (!range_ok(addr, len) || (addr & (align - 1))))
		return -EINVAL;
	if (len > UMN_MODEL_VA_SIZE)
		return -ENOMEM;
	r = umnp_calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	if (kind == UMN_MODEL_MAP_SHARED && !file) {
		r->file = umn_model_file_new(len); /* the shared anon object */
		if (!r->file) {
			umnp_free(r);
			return -ENOMEM;
		}
		r->file->anon = true;
	} else if (file) {
		umnp_model_file_get(file);
		r->file = file;
		r->pgoff = off >> UMN_MODEL_PAGE_SHIFT;
	}
	r->prot = prot;
	r->flags = flags & ~UMN_MODEL_MAP_FIXED;

	umn_mmap_write_lock(model->mm);
	if (flags & UMN_MODEL_MAP_FIXED)
		ret = do_munmap(model, addr, addr + len);
	else if (!(addr = find_free(model, addr, len, align)))
		ret = -ENOMEM;
	if (!ret) {
		r->start = addr;
		r->end = addr + len;
		region_insert(model, r);
		*out = addr;
	}
	umn_mmap_write_unlock(model->mm);
	if (ret)
		region_free(r);
	return ret;
}

int umn_model_munmap(struct umn_model *model, unsigned long addr, size_t len)
{
	int ret;

	if (!model || !range_ok(addr, len))
		return -EINVAL;
	umn_mmap_write_lock(model->mm);
	ret = do_munmap(model, addr, addr + len);
	umn_mmap_write_unlock(model->mm);
	return ret;
}

int umn_model_mprotect(struct umn_model *model, unsigned long addr,
		       size_t len, int prot)
{
	unsigned long end = addr + len;
	struct umn_notifier_range range;
	struct umnp_region *r;
	int ret;

	if (!model || !range_ok(addr, len) ||
	    (prot & ~(UMN_MODEL_PROT_READ | UMN_MODEL_PROT_WRITE)))
		return -EINVAL;
	umn_mmap_write_lock(model->mm);
	ret = range_covered(model, addr, end) ? 0 : -ENOMEM;
	if (!ret)
		ret = check_split(model, addr);
	if (!ret)
		ret = check_split(model, end);
	if (!ret)
		ret = split_at(model, addr);
	if (!ret)
		ret = split_at(model, end);
	if (ret)
		goto out;

	umn_notifier_range_init(&range, UMN_NOTIFY_PROTECTION_VMA, 0,
				model->mm, addr, end);
	/* The protection after the change, in PROT_* bits (WRITE implies
	 * READ in the model): umn_notifier_range_update_to_read_only(). */
	range.new_prot = (prot & UMN_MODEL_PROT_WRITE) ? PROT_READ | PROT_WRITE :
			 (prot & UMN_MODEL_PROT_READ) ? PROT_READ : PROT_NONE;
	umn_notifier_invalidate_range_start(&range);
	pthread_mutex_lock(&model->ptl);
	for (r = model->regions; r && r->start < end; r = r->next) {
		bool huge = r->flags & UMN_MODEL_MAP_HUGE;
		unsigned long step = huge ? UMN_MODEL_HUGE_SIZE
					  : UMN_MODEL_PAGE_SIZE;

		if (r->end <= addr)
			continue;
		r->prot = prot;
		for (unsigned long a = r->start; a < r->end; a += step) {
			unsigned int index;
			struct umnp_pte *pte = umnp_model_pte(model, r, a,
							      false, &index);

			if (!pte)
				continue;
			/* Exclusive device access ends with the old rights. */
			pte->flags &= ~UMNP_PTE_EXCL;
			pte->excl_owner = NULL;
			if (!(prot & UMN_MODEL_PROT_WRITE))
				pte->flags &= ~UMNP_PTE_WRITE;
		}
	}
	pthread_mutex_unlock(&model->ptl);
	umn_notifier_invalidate_range_end(&range);
out:
	umn_mmap_write_unlock(model->mm);
	return ret;
}

/* Huge regions cannot be partly discarded (no splitting of 2 MiB frames). */
static int check_huge_whole(struct umn_model *model, unsigned long start,
			    unsigned long end)
{
	for (struct umnp_region *r = model->regions; r && r->start < end;
	     r = r->next)
		if (r->end > start && (r->flags & UMN_MODEL_MAP_HUGE) &&
		    ((start > r->start && (start & HUGE_MASK_)) ||
		     (end < r->end && (end & HUGE_MASK_))))
			return -EINVAL;
	return 0;
}

int umn_model_madvise_dontneed(struct umn_model *model, unsigned long addr,
			       size_t len)
{
	unsigned long end = addr + len;
	struct umn_notifier_range range;
	struct umnp_gather gather = { 0 };
	int ret;

	if (!model || !range_ok(addr, len))
		return -EINVAL;
	umn_mmap_read_lock(model->mm);
	ret = range_covered(model, addr, end) ? 0 : -ENOMEM;
	if (!ret)
		ret = check_huge_whole(model, addr, end);
	if (ret)
		goto out;

	umn_notifier_range_init(&range, UMN_NOTIFY_CLEAR, 0, model->mm, addr,
				end);
	umn_notifier_invalidate_range_start(&range);
	pthread_mutex_lock(&model->ptl);
	for (struct umnp_region *r = model->regions; r && r->start < end;
	     r = r->next)
		if (r->end > addr)
			umnp_model_zap_locked(model, r, addr, end, false,
					      &gather);
	pthread_mutex_unlock(&model->ptl);
	umn_notifier_invalidate_range_end(&range);
	umnp_model_gather_free(&gather);
out:
	umn_mmap_read_unlock(model->mm);
	return ret;
}

int umn_model_zap_nonblock(struct umn_model *model, unsigned long addr,
			   size_t len)
{
	unsigned long end = addr + len;
	struct umn_notifier_range range;
	struct umnp_gather gather = { 0 };

	if (!model || !range_ok(addr, len))
		return -EINVAL;
	if (!umn_mmap_read_trylock(model->mm))
		return -EAGAIN;
	if (check_huge_whole(model, addr, end)) {
		umn_mmap_read_unlock(model->mm);
		return -EINVAL;
	}
	umn_notifier_range_init(&range, UMN_NOTIFY_CLEAR,
				UMN_NOTIFIER_RANGE_DEFERRABLE, model->mm, addr,
				end);
	if (umn_notifier_invalidate_range_start_nonblock(&range)) {
		/* A classic subscriber refused: the change is called off. */
		umn_mmap_read_unlock(model->mm);
		return -EAGAIN;
	}
	pthread_mutex_lock(&model->ptl);
	for (struct umnp_region *r = model->regions; r && r->start < end;
	     r = r->next)
		if (r->end > addr)
			umnp_model_zap_locked(model, r, addr, end, true,
					      &gather);
	pthread_mutex_unlock(&model->ptl);
	umn_notifier_invalidate_range_end(&range);
	umnp_model_gather_free(&gather);
	umn_mmap_read_unlock(model->mm);
	return 0;
}

/* Move the entries of region r from its old place to new_start (ptl held,
 * tables of the destination preallocated). */
static void move_entries_locked(struct umn_model *model, struct umnp_region *r,
				unsigned long new_start)
{
	bool huge = r->flags & UMN_MODEL_MAP_HUGE;
	unsigned long step = huge ? UMN_MODEL_HUGE_SIZE : UMN_MODEL_PAGE_SIZE;
	struct umnp_region moved = *r;

	moved.start = new_start;
	for (unsigned long a = r->start; a < r->end; a += step) {
		unsigned int i1, i2;
		struct umnp_pte *from = umnp_model_pte(model, r, a, false, &i1);
		struct umnp_pte *to = umnp_model_pte(model, &moved,
						     new_start + (a - r->start),
						     false, &i2);

		if (!from || !from->frame || !to)
			continue;
		*to = *from;
		memset(from, 0, sizeof(*from));
	}
}

int umn_model_mremap(struct umn_model *model, unsigned long addr,
		     size_t old_len, size_t new_len, int flags,
		     unsigned long *out)
{
	unsigned long old_end = addr + old_len, new_addr;
	struct umn_notifier_range range;
	struct umnp_region *r, **pp;
	unsigned long align;
	int ret = 0;

	if (!model || !out || !range_ok(addr, old_len) || !new_len ||
	    (new_len & PAGE_MASK_) || new_len > UMN_MODEL_VA_SIZE ||
	    (flags & ~UMN_MODEL_MREMAP_MAYMOVE))
		return -EINVAL;
	umn_mmap_write_lock(model->mm);
	r = umnp_model_find_region(model, addr);
	if (!r || old_end > r->end) {
		ret = r ? -EINVAL : -ENOMEM; /* must be one mapping */
		goto out;
	}
	align = (r->flags & UMN_MODEL_MAP_HUGE) ? UMN_MODEL_HUGE_SIZE
						: UMN_MODEL_PAGE_SIZE;
	if ((old_len | new_len) & (align - 1)) {
		ret = -EINVAL;
		goto out;
	}
	if (new_len <= old_len) {               /* shrink: unmap the tail */
		ret = do_munmap(model, addr + new_len, old_end);
		*out = addr;
		goto out;
	}
	ret = split_at(model, addr);
	if (!ret)
		ret = split_at(model, old_end);
	if (ret)
		goto out;
	r = umnp_model_find_region(model, addr);
	if (new_len - old_len <= UMN_MODEL_VA_END - old_end &&
	    !range_has_region(model, old_end, addr + new_len)) {
		r->end = addr + new_len;        /* grow in place */
		*out = addr;
		goto out;
	}
	if (!(flags & UMN_MODEL_MREMAP_MAYMOVE) ||
	    !(new_addr = find_free(model, 0, new_len, align))) {
		ret = -ENOMEM;
		goto out;
	}
	/* Move: preallocate the destination tables, then UNMAP the old. */
	pthread_mutex_lock(&model->ptl);
	if (!(r->flags & UMN_MODEL_MAP_HUGE))
		for (unsigned long a = new_addr; a < new_addr + old_len;
		     a += UMN_MODEL_HUGE_SIZE) {
			unsigned int index;

			if (!umnp_model_pte(model, r, a, true, &index))
				ret = -ENOMEM;
		}
	pthread_mutex_unlock(&model->ptl);
	if (ret)
		goto out;
	umn_notifier_range_init(&range, UMN_NOTIFY_UNMAP, 0, model->mm, addr,
				old_end);
	umn_notifier_invalidate_range_start(&range);
	pthread_mutex_lock(&model->ptl);
	move_entries_locked(model, r, new_addr);
	pthread_mutex_unlock(&model->ptl);
	umn_notifier_invalidate_range_end(&range);
	for (pp = &model->regions; *pp != r; pp = &(*pp)->next)
		;
	*pp = r->next;
	r->start = new_addr;
	r->end = new_addr + new_len;
	region_insert(model, r);
	*out = new_addr;
out:
	umn_mmap_write_unlock(model->mm);
	return ret;
}

/* Copy region r's entries into the child, write-protecting both sides
 * (kernel: copy_page_range for a COW mapping).  Parent's ptl held. */
static int copy_private_locked(struct umn_model *parent,
			       struct umn_model *child, struct umnp_region *r)
{
	bool huge = r->flags & UMN_MODEL_MAP_HUGE;
	unsigned long step = huge ? UMN_MODEL_HUGE_SIZE : UMN_MODEL_PAGE_SIZE;

	for (unsigned long a = r->start; a < r->end; a += step) {
		unsigned int i1, i2;
		struct umnp_pte *src = umnp_model_pte(parent, r, a, false, &i1);
		struct umnp_pte *dst;

		if (!src || !src->frame)
			continue;
		dst = umnp_model_pte(child, r, a, true, &i2);
		if (!dst)
			return -ENOMEM;
		src->flags &= ~(UMNP_PTE_WRITE | UMNP_PTE_EXCL);
		src->excl_owner = NULL;
		umnp_model_frame_get(src->frame);
		dst->frame = src->frame;
		dst->flags = src->flags & ~UMNP_PTE_DIRTY;
	}
	return 0;
}

int umn_model_fork(struct umn_model *model, struct umn_model **childp)
{
	struct umn_model *child;
	int ret = 0;

	if (!model || !childp)
		return -EINVAL;
	umnp_model_pool_get(model->pool);
	child = model_alloc(model->pool);
	if (!child) {
		umnp_model_pool_put(model->pool);
		return -ENOMEM;
	}
	umn_mmap_write_lock(model->mm);
	for (struct umnp_region *r = model->regions; r && !ret; r = r->next) {
		struct umnp_region *c = umnp_malloc(sizeof(*c));
		struct umn_notifier_range range;

		if (!c) {
			ret = -ENOMEM;
			break;
		}
		*c = *r;
		if (c->file)
			umnp_model_file_get(c->file);
		region_insert(child, c);
		if (!(r->flags & UMN_MODEL_MAP_PRIVATE))
			continue; /* shared: the child faults from the object */

		umn_notifier_range_init(&range, UMN_NOTIFY_PROTECTION_PAGE, 0,
					model->mm, r->start, r->end);
		umn_notifier_invalidate_range_start(&range);
		pthread_mutex_lock(&model->ptl);
		ret = copy_private_locked(model, child, r);
		pthread_mutex_unlock(&model->ptl);
		umn_notifier_invalidate_range_end(&range);
	}
	umn_mmap_write_unlock(model->mm);
	if (ret) {
		umn_model_destroy(child);
		return ret;
	}
	*childp = child;
	return 0;
}
